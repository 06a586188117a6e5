//! Message identification (spec §7): the PEC msgid (`identificativo`) that binds a busta to
//! all its receipts, the Message-ID of each receipt, and the one change the access point makes
//! to the original: its Message-ID replaced by the identificativo, the client's kept in
//! `X-Riferimento-Message-ID`.

use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Zoned;
use sha2::{Digest, Sha256};

use crate::kind::Kind;
use crate::mime;

/// Hands out identificativi of the form `pecora.<yyyymmddhhmmss>.<node>.<n>@<dominio>`.
///
/// Unique as long as no two running generators share a `node` value: the caller draws it at
/// random at start-up (or configures one per node), the counter separates messages within
/// the same second.
#[derive(Debug)]
pub struct Identificativi {
    dominio: String,
    node: String,
    counter: AtomicU64,
}

impl Identificativi {
    pub fn new(dominio: &str, node: u64) -> Identificativi {
        Identificativi {
            dominio: dominio.to_ascii_lowercase(),
            node: format!("{node:016x}"),
            counter: AtomicU64::new(1),
        }
    }

    /// A new identificativo, without angle brackets.
    pub fn next(&self, at: &Zoned) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!(
            "pecora.{}.{}.{n}@{}",
            at.strftime("%Y%m%d%H%M%S"),
            self.node,
            self.dominio
        )
    }
}

/// The Message-ID (without brackets) of a generated message other than the busta (whose
/// Message-ID is the identificativo itself). Derived, not drawn: the same receipt for the
/// same transaction and recipient always gets the same Message-ID, so a receipt issued again
/// after a crash is recognisably the same message.
pub fn message_id(identificativo: &str, kind: Kind, destinatario: Option<&str>) -> String {
    if kind == Kind::PostaCertificata {
        return identificativo.to_string();
    }
    let (local, domain) = identificativo
        .rsplit_once('@')
        .unwrap_or((identificativo, "pecora.invalid"));
    let who = destinatario
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let digest = Sha256::digest(who.as_bytes());
    let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{local}.{}.{tag}@{domain}", kind.slug())
}

/// The original as it travels inside the busta (`postacert.eml`): CRLF line ends, its
/// Message-ID replaced by `<identificativo>`, and `X-Riferimento-Message-ID` carrying the
/// client's Message-ID when there was one. Returns the rewritten message and the client's
/// Message-ID (with brackets). Nothing else changes.
pub fn rewrite_original(raw: &[u8], identificativo: &str) -> (Vec<u8>, Option<String>) {
    let raw = mime::to_crlf(raw);
    let fields = mime::fields(&raw);
    let msgid_field = fields.iter().find(|f| f.is("Message-ID"));
    let client_msgid = msgid_field.map(|f| f.value()).filter(|v| !v.is_empty());
    let mut replacement = format!("Message-ID: <{identificativo}>\r\n");
    if let Some(m) = &client_msgid {
        replacement.push_str(&format!("X-Riferimento-Message-ID: {m}\r\n"));
    }
    let mut out = Vec::with_capacity(raw.len() + replacement.len());
    match msgid_field {
        Some(f) => {
            let start = f.raw.as_ptr() as usize - raw.as_ptr() as usize;
            out.extend_from_slice(&raw[..start]);
            out.extend_from_slice(replacement.as_bytes());
            out.extend_from_slice(&raw[start + f.raw.len()..]);
        }
        None => {
            // No Message-ID: add ours at the end of the header block.
            let end = fields
                .last()
                .map(|f| f.raw.as_ptr() as usize - raw.as_ptr() as usize + f.raw.len())
                .unwrap_or(0);
            out.extend_from_slice(&raw[..end]);
            if !out.is_empty() && !out.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(replacement.as_bytes());
            out.extend_from_slice(&raw[end..]);
        }
    }
    (out, client_msgid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daticert::TipoRicevuta;

    fn at() -> Zoned {
        "2025-05-10T11:01:54+02:00[Europe/Rome]".parse().unwrap()
    }

    #[test]
    fn identificativi_are_unique_and_scoped() {
        let g = Identificativi::new("PEC.Example.it", 0xabc);
        let a = g.next(&at());
        let b = g.next(&at());
        assert_ne!(a, b);
        assert!(a.starts_with("pecora.20250510110154.0000000000000abc."));
        assert!(a.ends_with("@pec.example.it"));
    }

    #[test]
    fn receipt_ids_are_stable_per_recipient_and_kind() {
        let id = "pecora.1.2.3@pec.example.it";
        let k = Kind::AvvenutaConsegna(TipoRicevuta::Completa);
        let a = message_id(id, k, Some("a@x.it"));
        assert_eq!(a, message_id(id, k, Some("A@X.IT")));
        assert_ne!(a, message_id(id, k, Some("b@x.it")));
        assert_ne!(a, message_id(id, Kind::ErroreConsegna, Some("a@x.it")));
        assert_eq!(message_id(id, Kind::PostaCertificata, None), id);
        assert!(a.ends_with("@pec.example.it"));
    }

    #[test]
    fn rewrite_replaces_message_id_only() {
        let raw = b"From: a@x.it\nMessage-ID:\n <c1@client>\nSubject: s\n\nbody\n";
        let (out, m) = rewrite_original(raw, "id1@pec.x.it");
        assert_eq!(m.as_deref(), Some("<c1@client>"));
        assert_eq!(
            out,
            b"From: a@x.it\r\nMessage-ID: <id1@pec.x.it>\r\nX-Riferimento-Message-ID: <c1@client>\r\nSubject: s\r\n\r\nbody\r\n"
        );
        let (out, m) = rewrite_original(b"From: a@x.it\r\n\r\nb", "id2@p");
        assert_eq!(m, None);
        assert_eq!(out, b"From: a@x.it\r\nMessage-ID: <id2@p>\r\n\r\nb");
    }
}
