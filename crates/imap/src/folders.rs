//! The folders of a box as IMAP names and lists them: modified UTF-7 on the wire, `/` as the
//! hierarchy delimiter, intermediate levels that exist only as prefixes (the archive's
//! `Archivio` and `Archivio/2026` above its `Archivio/2026/11` leaves) shown as `\Noselect`,
//! special-use attributes (RFC 6154), and the commands that work on folders: LIST, LSUB,
//! CREATE, DELETE, RENAME, SUBSCRIBE, STATUS, and QUOTA's GETQUOTA/GETQUOTAROOT (RFC 9208).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::num::NonZeroU32;

use imap_codec::imap_types::core::{AString, Atom, IString, Quoted, QuotedChar, Vec1};
use imap_codec::imap_types::extensions::quota::{QuotaGet, Resource};
use imap_codec::imap_types::flag::FlagNameAttribute;
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::response::{Code, Data, Response};
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};
use store::{ARCHIVE_ROOT, DRAFTS, INBOX, SENT, TRASH, is_archive};
use tracing::warn;

use crate::io::Io;
use crate::reply::{Failure, Outcome};
use crate::selected::{has_flag, no_permission};
use crate::session::Session;
use crate::utf7;

/// The hierarchy delimiter.
const DELIMITER: char = '/';

/// The store's name of a folder named on the wire.
pub(crate) fn folder_name(mailbox: &Mailbox<'_>) -> Outcome<String> {
    match mailbox {
        Mailbox::Inbox => Ok(INBOX.to_owned()),
        Mailbox::Other(other) => decode_name(other.as_ref()),
    }
}

/// Decodes a wire name (modified UTF-7).
fn decode_name(wire: &[u8]) -> Outcome<String> {
    let invalid = || {
        Failure::bad(format!(
            "Nome di cartella non valido: {:?} non è in UTF-7 modificato (RFC 3501 5.1.3) (invalid mailbox name)",
            String::from_utf8_lossy(wire)
        ))
    };
    let wire = std::str::from_utf8(wire).map_err(|_| invalid())?;
    let name = utf7::decode(wire).map_err(|_| invalid())?;
    Ok(if name.eq_ignore_ascii_case(INBOX) {
        INBOX.to_owned()
    } else {
        name
    })
}

/// The wire name of a folder; `None` for a name IMAP cannot carry (the store forbids them).
pub(crate) fn wire_name(name: &str) -> Option<Mailbox<'static>> {
    Mailbox::try_from(utf7::encode(name)).ok()
}

/// A folder attribute such as `\HasChildren`.
fn attribute(name: &'static str) -> Option<FlagNameAttribute<'static>> {
    Atom::try_from(name).ok().map(FlagNameAttribute::from)
}

/// The special use of a folder (RFC 6154), by its store name.
fn special_use(name: &str) -> Option<&'static str> {
    match name {
        SENT => Some("Sent"),
        DRAFTS => Some("Drafts"),
        TRASH => Some("Trash"),
        ARCHIVE_ROOT => Some("Archive"),
        _ => None,
    }
}

/// Whether `name` matches a LIST pattern: `*` matches anything, `%` anything but the
/// delimiter. INBOX (and what is below it) matches in any case. Dynamic programming over
/// (pattern, name) prefixes: linear in each, whatever wildcards the client sends.
fn matches(pattern: &str, name: &str) -> bool {
    let fold = name == INBOX || name.starts_with("INBOX/");
    let name: Vec<char> = name.chars().collect();
    // row[j]: the pattern so far matches the first j characters of the name.
    let mut row = vec![false; name.len() + 1];
    row[0] = true;
    for p in pattern.chars() {
        let mut next = vec![false; name.len() + 1];
        for j in 0..=name.len() {
            next[j] = match p {
                '*' => row[j] || (j > 0 && next[j - 1]),
                '%' => row[j] || (j > 0 && next[j - 1] && name[j - 1] != DELIMITER),
                c => {
                    j > 0
                        && row[j - 1]
                        && (c == name[j - 1] || (fold && c.eq_ignore_ascii_case(&name[j - 1])))
                }
            };
        }
        row = next;
    }
    row[name.len()]
}

/// Every name in a box's hierarchy: `true` for folders, `false` for levels that exist only
/// as a prefix of folders (`\Noselect`).
fn hierarchy(folders: Vec<String>) -> BTreeMap<String, bool> {
    let mut names = BTreeMap::new();
    for folder in folders {
        let mut end = 0;
        while let Some(slash) = folder[end..].find(DELIMITER) {
            let parent = &folder[..end + slash];
            names.entry(parent.to_owned()).or_insert(false);
            end += slash + 1;
        }
        names.insert(folder, true);
    }
    names
}

impl Session {
    /// Fails unless the user may manage the box's folders.
    fn must_manage(&self, what: &str) -> Outcome {
        match self.user()?.may_manage() {
            true => Ok(()),
            false => Err(no_permission(what)),
        }
    }

    async fn folders(&self) -> Outcome<BTreeMap<String, bool>> {
        let user = self.user()?;
        let folders = self
            .engine
            .store()
            .folders(&user.mailbox)
            .await
            .map_err(|e| Failure::store(e, "listing folders"))?;
        let mut names = hierarchy(folders);
        names.insert(INBOX.to_owned(), true);
        Ok(names)
    }

    /// LIST and LSUB (every folder counts as subscribed).
    pub(crate) async fn list(
        &self,
        io: &mut Io,
        reference: &Mailbox<'_>,
        pattern: &ListMailbox<'_>,
        lsub: bool,
    ) -> Outcome<Option<Code<'static>>> {
        let reference = match reference {
            Mailbox::Inbox => INBOX.to_owned(),
            Mailbox::Other(other) => decode_name(other.as_ref())?,
        };
        let pattern = match pattern {
            ListMailbox::Token(token) => decode_name(token.as_ref())?,
            ListMailbox::String(string) => decode_name(string.as_ref())?,
        };
        let delimiter = Some(QuotedChar::unvalidated(DELIMITER));
        let respond = |items, mailbox| match lsub {
            true => Data::Lsub {
                items,
                delimiter,
                mailbox,
            },
            false => Data::List {
                items,
                delimiter,
                mailbox,
            },
        };
        if pattern.is_empty() {
            // RFC 3501 §6.3.8: the delimiter and the root of the reference.
            let root = reference.split(DELIMITER).next().unwrap_or_default();
            let root = match reference.contains(DELIMITER) {
                true => format!("{root}{DELIMITER}"),
                false => String::new(),
            };
            if let (Some(mailbox), Some(noselect)) = (wire_name(&root), attribute("Noselect")) {
                io.send(&Response::Data(respond(vec![noselect], mailbox)));
            }
            return Ok(None);
        }
        let pattern = format!("{reference}{pattern}");
        let names = self.folders().await?;
        for (name, &selectable) in &names {
            if !matches(&pattern, name) {
                continue;
            }
            let prefix = format!("{name}{DELIMITER}");
            let children = names
                .range(prefix.clone()..)
                .next()
                .is_some_and(|(n, _)| n.starts_with(&prefix));
            let mut items: Vec<&'static str> = Vec::new();
            if !selectable {
                items.push("Noselect");
            }
            items.push(if children {
                "HasChildren"
            } else {
                "HasNoChildren"
            });
            items.extend(special_use(name));
            let items = items.into_iter().filter_map(attribute).collect();
            match wire_name(name) {
                Some(mailbox) => io.send(&Response::Data(respond(items, mailbox))),
                None => warn!(folder = %name, "folder name IMAP cannot carry"),
            }
        }
        Ok(None)
    }

    /// CREATE (a trailing delimiter only says the folder will have children).
    pub(crate) async fn create(&self, mailbox: &Mailbox<'_>) -> Outcome<Option<Code<'static>>> {
        self.must_manage("solo il titolare o un delegato alla gestione crea cartelle")?;
        let name = folder_name(mailbox)?;
        let name = name.trim_end_matches(DELIMITER);
        if name == INBOX {
            return Err(Failure::no(
                "ALREADYEXISTS",
                "INBOX esiste sempre (INBOX always exists)",
            ));
        }
        let user = self.user()?;
        let at = self.engine.clock().now().timestamp().as_second();
        self.engine
            .store()
            .create_folder(&user.mailbox, name, at)
            .await
            .map_err(|e| Failure::store(e, "creating a folder"))?;
        self.engine.mailbox_changed(&user.mailbox);
        Ok(None)
    }

    /// DELETE. INBOX and the archive stay.
    pub(crate) async fn delete(&self, mailbox: &Mailbox<'_>) -> Outcome<Option<Code<'static>>> {
        self.must_manage("solo il titolare o un delegato alla gestione elimina cartelle")?;
        let name = folder_name(mailbox)?;
        refuse_fixed(&name, "eliminare")?;
        let user = self.user()?;
        let store = self.engine.store();
        if store
            .folder(&user.mailbox, &name)
            .await
            .map_err(|e| Failure::store(e, "looking up a folder"))?
            .is_none()
        {
            return Err(nonexistent(&name));
        }
        store
            .delete_folder(&user.mailbox, &name)
            .await
            .map_err(|e| Failure::store(e, "deleting a folder"))?;
        self.engine.mailbox_changed(&user.mailbox);
        Ok(None)
    }

    /// RENAME, with the folders below the renamed one (RFC 3501 §6.3.5). A level that exists
    /// only as a prefix (`\Noselect`) is no folder to rename.
    pub(crate) async fn rename(
        &self,
        from: &Mailbox<'_>,
        to: &Mailbox<'_>,
    ) -> Outcome<Option<Code<'static>>> {
        self.must_manage("solo il titolare o un delegato alla gestione rinomina cartelle")?;
        let from = folder_name(from)?;
        let to = folder_name(to)?;
        let to = to.trim_end_matches(DELIMITER);
        refuse_fixed(&from, "rinominare")?;
        if is_archive(to) {
            return Err(Failure::store(
                store::StoreError::Immutable(to.to_owned()),
                "renaming",
            ));
        }
        if to == INBOX {
            return Err(Failure::no(
                "ALREADYEXISTS",
                "INBOX esiste sempre (INBOX always exists)",
            ));
        }
        let names = self.folders().await?;
        if names.contains_key(to) {
            return Err(Failure::no(
                "ALREADYEXISTS",
                format!("La cartella {to} esiste già (mailbox exists)"),
            ));
        }
        if names.get(&from) != Some(&true) {
            return Err(nonexistent(&from));
        }
        let user = self.user()?;
        // The store renames the folders below `from` with it.
        self.engine
            .store()
            .rename_folder(&user.mailbox, &from, to)
            .await
            .map_err(|e| Failure::store(e, "renaming a folder"))?;
        self.engine.mailbox_changed(&user.mailbox);
        Ok(None)
    }

    /// SUBSCRIBE and UNSUBSCRIBE: every folder is always subscribed, so there is nothing to
    /// record; the name is still checked.
    pub(crate) async fn subscribe(&self, mailbox: &Mailbox<'_>) -> Outcome<Option<Code<'static>>> {
        folder_name(mailbox)?;
        Ok(None)
    }

    /// STATUS.
    pub(crate) async fn status(
        &self,
        io: &mut Io,
        mailbox: &Mailbox<'_>,
        names: &[StatusDataItemName],
    ) -> Outcome<Option<Code<'static>>> {
        let name = folder_name(mailbox)?;
        let user = self.user()?;
        let store = self.engine.store();
        let folder = store
            .folder(&user.mailbox, &name)
            .await
            .map_err(|e| Failure::store(e, "reading a folder's status"))?
            .ok_or_else(|| nonexistent(&name))?;
        let needs_messages = names.iter().any(|n| {
            matches!(
                n,
                StatusDataItemName::Deleted | StatusDataItemName::DeletedStorage
            )
        });
        let deleted: Vec<u64> = match needs_messages {
            true => store
                .messages(&user.mailbox, &name)
                .await
                .map_err(|e| Failure::store(e, "reading a folder's status"))?
                .into_iter()
                .filter(|m| has_flag(&m.flags, "\\Deleted"))
                .map(|m| m.size)
                .collect(),
            false => Vec::new(),
        };
        let nonzero = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        let items: Vec<StatusDataItem> = names
            .iter()
            .map(|n| match n {
                StatusDataItemName::Messages => StatusDataItem::Messages(folder.messages),
                StatusDataItemName::Recent => StatusDataItem::Recent(0),
                StatusDataItemName::UidNext => StatusDataItem::UidNext(nonzero(folder.uid_next)),
                StatusDataItemName::UidValidity => {
                    StatusDataItem::UidValidity(nonzero(folder.uidvalidity))
                }
                StatusDataItemName::Unseen => StatusDataItem::Unseen(folder.unseen),
                StatusDataItemName::Deleted => {
                    StatusDataItem::Deleted(u32::try_from(deleted.len()).unwrap_or(u32::MAX))
                }
                StatusDataItemName::DeletedStorage => {
                    StatusDataItem::DeletedStorage(deleted.iter().sum())
                }
                StatusDataItemName::Size => StatusDataItem::Size(folder.size),
                StatusDataItemName::HighestModSeq => {
                    StatusDataItem::HighestModSeq(folder.highest_modseq)
                }
            })
            .collect();
        let Some(mailbox) = wire_name(&folder.name) else {
            return Err(nonexistent(&name));
        };
        io.send(&Response::Data(Data::Status {
            mailbox,
            items: Cow::Owned(items),
        }));
        Ok(None)
    }

    /// GETQUOTAROOT: one root, `""`, for the whole box (none when the box has no quota).
    pub(crate) async fn get_quota_root(
        &self,
        io: &mut Io,
        mailbox: &Mailbox<'_>,
    ) -> Outcome<Option<Code<'static>>> {
        let name = folder_name(mailbox)?;
        let user = self.user()?;
        self.engine
            .store()
            .folder(&user.mailbox, &name)
            .await
            .map_err(|e| Failure::store(e, "looking up a folder"))?
            .ok_or_else(|| nonexistent(&name))?;
        let quota = self.quota().await?;
        let roots = match quota {
            Some(_) => vec![quota_root()],
            None => Vec::new(),
        };
        let Some(mailbox) = wire_name(&name) else {
            return Err(nonexistent(&name));
        };
        io.send(&Response::Data(Data::QuotaRoot { mailbox, roots }));
        if let Some(quota) = quota {
            io.send(&Response::Data(quota));
        }
        Ok(None)
    }

    /// GETQUOTA of the root `""`.
    pub(crate) async fn get_quota(
        &self,
        io: &mut Io,
        root: &[u8],
    ) -> Outcome<Option<Code<'static>>> {
        if !root.is_empty() {
            return Err(Failure::no(
                "NONEXISTENT",
                "Radice di quota inesistente: l'unica è \"\" (no such quota root)",
            ));
        }
        let quota = self.quota().await?.ok_or_else(|| {
            Failure::no(
                "NONEXISTENT",
                "Questa casella non ha limiti di spazio (no quota)",
            )
        })?;
        io.send(&Response::Data(quota));
        Ok(None)
    }

    /// The QUOTA response of the box (sizes in KiB), `None` for a box without a limit.
    async fn quota(&self) -> Outcome<Option<Data<'static>>> {
        let user = self.user()?;
        let mailbox = self
            .engine
            .store()
            .mailbox(&user.mailbox)
            .await
            .map_err(|e| Failure::store(e, "reading the quota"))?
            .ok_or_else(|| {
                Failure::store(
                    store::StoreError::NotFound(user.mailbox.clone()),
                    "reading the quota",
                )
            })?;
        if mailbox.quota == 0 {
            return Ok(None);
        }
        let usage = QuotaGet::new(
            Resource::Storage,
            mailbox.used.div_ceil(1024),
            mailbox.quota / 1024,
        );
        Ok(Some(Data::Quota {
            root: quota_root(),
            quotas: Vec1::from(usage),
        }))
    }
}

/// The one quota root, `""`.
fn quota_root() -> AString<'static> {
    AString::String(IString::Quoted(Quoted::unvalidated("")))
}

fn nonexistent(name: &str) -> Failure {
    Failure::no(
        "NONEXISTENT",
        format!("La cartella {name} non esiste (no such mailbox)"),
    )
}

/// INBOX and the archive cannot be deleted or renamed.
fn refuse_fixed(name: &str, action: &str) -> Outcome {
    if name == INBOX {
        return Err(Failure::no(
            "CANNOT",
            format!("INBOX non si può {action} (INBOX is fixed)"),
        ));
    }
    if is_archive(name) {
        return Err(Failure::no(
            "CANNOT",
            format!(
                "Archivio: le cartelle dell'archivio non si possono {action} (the archive is immutable)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_rfc_3501() {
        assert!(matches("*", "Archivio/2026/11"));
        assert!(matches("%", "Sent"));
        assert!(!matches("%", "Archivio/2026"));
        assert!(matches("Archivio/%", "Archivio/2026"));
        assert!(!matches("Archivio/%", "Archivio/2026/11"));
        assert!(matches("Archivio/*", "Archivio/2026/11"));
        assert!(matches("inbox", "INBOX"));
        assert!(!matches("sent", "Sent"));
        assert!(matches("%/%/1%", "Archivio/2026/11"));
        let long = "*a".repeat(4000) + "b";
        assert!(!matches(&long, &"a".repeat(4000)), "wildcards stay fast");
    }

    #[test]
    fn the_archive_levels_are_implied() {
        let names = hierarchy(vec![
            "Archivio/2026/11".into(),
            "Archivio/2026/12".into(),
            "INBOX".into(),
        ]);
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            vec![
                ("Archivio".to_string(), false),
                ("Archivio/2026".to_string(), false),
                ("Archivio/2026/11".to_string(), true),
                ("Archivio/2026/12".to_string(), true),
                ("INBOX".to_string(), true),
            ]
        );
    }

    #[test]
    fn wire_names_are_utf7() {
        let name = decode_name(b"Pratiche &AOg- urgenti").unwrap();
        assert_eq!(name, "Pratiche è urgenti");
        assert!(decode_name("Pratiche è".as_bytes()).is_err());
        assert_eq!(decode_name(b"inbox").unwrap(), "INBOX");
    }
}
