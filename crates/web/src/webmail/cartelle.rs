//! The folder list beside every mailbox page: INBOX, Sent, Drafts and Trash first (by their
//! names in the UI language), then the holder's folders and the PRO archive
//! (`Archivio/<yyyy>/<mm>`) as a tree. A level that exists only as part of deeper names
//! (`Archivio`, `Archivio/2026`) is shown as a heading, not as a folder to open.

use std::collections::HashSet;

use store::{ARCHIVE_ROOT, DRAFTS, Folder, INBOX, SENT, TRASH};

use crate::i18n::Catalog;
use crate::layout::query_escape;

/// One line of the tree.
pub struct Voce {
    /// The folder's full name; empty for a heading.
    pub nome: String,
    pub etichetta: String,
    /// Depth in the tree (0 for top level), for indentation.
    pub livello: usize,
    /// The link that opens it; `None` for a heading.
    pub link: Option<String>,
    pub messaggi: u32,
    pub non_letti: u32,
    /// It is the folder being shown.
    pub corrente: bool,
}

/// The folder tree of a box, `corrente` marked.
pub fn albero(t: &Catalog, folders: &[Folder], corrente: &str) -> Vec<Voce> {
    let special = [INBOX, SENT, DRAFTS, TRASH];
    let mut ordered: Vec<&Folder> = special
        .iter()
        .filter_map(|s| folders.iter().find(|f| f.name == *s))
        .collect();
    let mut rest: Vec<&Folder> = folders
        .iter()
        .filter(|f| !special.contains(&f.name.as_str()))
        .collect();
    rest.sort_by(|a, b| a.name.cmp(&b.name));
    ordered.extend(rest);

    let mut voci: Vec<Voce> = Vec::new();
    let mut emessi: HashSet<String> = HashSet::new();
    for f in ordered {
        let parts: Vec<&str> = f.name.split('/').collect();
        let (foglia, antenati) = parts.split_last().unwrap_or((&"", &[]));
        for depth in 0..antenati.len() {
            let prefix = parts[..=depth].join("/");
            if emessi.insert(prefix.clone()) {
                voci.push(Voce {
                    nome: String::new(),
                    etichetta: etichetta(t, &prefix, parts[depth]),
                    livello: depth,
                    link: None,
                    messaggi: 0,
                    non_letti: 0,
                    corrente: false,
                });
            }
        }
        emessi.insert(f.name.clone());
        voci.push(Voce {
            nome: f.name.clone(),
            etichetta: etichetta(t, &f.name, foglia),
            livello: antenati.len(),
            link: Some(format!("/posta/cartella?nome={}", query_escape(&f.name))),
            messaggi: f.messages,
            non_letti: f.unseen,
            corrente: f.name == corrente,
        });
    }
    voci
}

/// The name a folder shows: the special folders and the archive root in the UI language,
/// any other by its last component.
fn etichetta(t: &Catalog, nome: &str, foglia: &str) -> String {
    match nome {
        INBOX => t.inbox,
        SENT => t.sent,
        DRAFTS => t.drafts,
        TRASH => t.trash,
        ARCHIVE_ROOT => t.archive,
        _ => foglia,
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::IT;

    fn folder(name: &str, messages: u32) -> Folder {
        Folder {
            name: name.into(),
            uidvalidity: 1,
            uid_next: messages + 1,
            highest_modseq: 1,
            messages,
            unseen: 0,
            size: 0,
        }
    }

    #[test]
    fn special_folders_first_then_a_tree_with_headings() {
        let folders: Vec<Folder> = [
            "Archivio/2026/03",
            "Archivio/2026/02",
            "Clienti",
            "INBOX",
            "Sent",
        ]
        .iter()
        .map(|n| folder(n, 2))
        .collect();
        let voci = albero(&IT, &folders, "Clienti");
        let righe: Vec<(String, usize, bool, bool)> = voci
            .iter()
            .map(|v| (v.etichetta.clone(), v.livello, v.link.is_some(), v.corrente))
            .collect();
        let attese = [
            ("Posta in arrivo", 0, true, false),
            ("Posta inviata", 0, true, false),
            ("Archivio", 0, false, false),
            ("2026", 1, false, false),
            ("02", 2, true, false),
            ("03", 2, true, false),
            ("Clienti", 0, true, true),
        ];
        let attese: Vec<(String, usize, bool, bool)> = attese
            .iter()
            .map(|(e, l, k, c)| (e.to_string(), *l, *k, *c))
            .collect();
        assert_eq!(righe, attese);
        assert_eq!(
            voci[4].link.as_deref(),
            Some("/posta/cartella?nome=Archivio%2F2026%2F02")
        );
    }
}
