//! Where a delivered message lands in a box (seed 000). The engine's operations deliver into
//! INBOX (and the punto di accesso into Sent); just before their batch is committed, the box's
//! own choices apply: receipts go to the holder's receipts folder when they chose one, and a PRO
//! box gets a copy of everything sent and received, receipts included, in
//! `Archivio/<yyyy>/<mm>` (month of the delivery, Italian time), where it cannot be deleted.

use std::collections::HashMap;

use jiff::Timestamp;
use store::{ARCHIVE_ROOT, Batch, INBOX, Mailbox, MailboxKind, NewMessage, is_archive};

use crate::clock::rome;
use crate::{Engine, EngineError};

/// Whether a PEC kind slug names a ricevuta or an avviso (everything but a busta di
/// trasporto and a busta di anomalia).
fn is_receipt(kind: Option<&str>) -> bool {
    kind.is_some_and(|k| !matches!(k, "posta-certificata" | "anomalia"))
}

/// The archive folder for a delivery at `at` (Unix seconds): `Archivio/2026/11`.
pub fn archive_folder(at: i64) -> String {
    let when = Timestamp::from_second(at)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(rome());
    format!("{ARCHIVE_ROOT}/{:04}/{:02}", when.year(), when.month())
}

/// Where `m` goes in `box_`, and whether an archive copy goes with it.
fn place(m: &NewMessage, box_: &Mailbox, at: i64) -> Vec<NewMessage> {
    let mut placed = m.clone();
    if placed.folder == INBOX
        && is_receipt(m.kind.as_deref())
        && let Some(folder) = &box_.receipts_folder
    {
        placed.folder = folder.clone();
    }
    let mut out = vec![placed];
    if box_.kind == MailboxKind::Pro && !is_archive(&m.folder) {
        out.push(NewMessage {
            folder: archive_folder(at),
            ..m.clone()
        });
    }
    out
}

impl Engine {
    /// Applies the boxes' filing choices to the deliveries of `batch` (see the module doc).
    /// Deliveries to an unknown mailbox are left as they are (the commit will refuse them).
    /// Returns the boxes delivered to, as they were before the batch.
    pub(crate) async fn file(&self, batch: &mut Batch) -> Result<Vec<Mailbox>, EngineError> {
        if batch.deliveries.is_empty() {
            return Ok(Vec::new());
        }
        let at = batch
            .log
            .first()
            .map(|e| e.at)
            .unwrap_or_else(|| self.clock.now().timestamp().as_second());
        let mut boxes: HashMap<String, Option<Mailbox>> = HashMap::new();
        let mut filed = Vec::with_capacity(batch.deliveries.len());
        for m in std::mem::take(&mut batch.deliveries) {
            let address = m.mailbox.to_ascii_lowercase();
            if !boxes.contains_key(&address) {
                let found = self.store.mailbox(&address).await?;
                boxes.insert(address.clone(), found);
            }
            match &boxes[&address] {
                Some(box_) => filed.extend(place(&m, box_, at)),
                None => filed.push(m),
            }
        }
        batch.deliveries = filed;
        Ok(boxes.into_values().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(kind: MailboxKind, receipts_folder: Option<&str>) -> Mailbox {
        Mailbox {
            receipts_folder: receipts_folder.map(str::to_string),
            ..crate::test_mailbox(kind, 0, 0)
        }
    }

    fn delivery(folder: &str, kind: Option<&str>) -> NewMessage {
        NewMessage {
            mailbox: "box@pec.test".into(),
            folder: folder.into(),
            blob: "b".into(),
            size: 10,
            flags: vec![],
            kind: kind.map(str::to_string),
            identificativo: None,
        }
    }

    fn folders(out: &[NewMessage]) -> Vec<&str> {
        out.iter().map(|m| m.folder.as_str()).collect()
    }

    // 2026-11-30T23:30:00Z is already December in Rome.
    const LATE_NOVEMBER_UTC: i64 = 1_796_081_400;

    #[test]
    fn archive_month_is_italian_time() {
        assert_eq!(archive_folder(LATE_NOVEMBER_UTC), "Archivio/2026/12");
        assert_eq!(archive_folder(LATE_NOVEMBER_UTC - 3600), "Archivio/2026/11");
    }

    #[test]
    fn standard_box_keeps_inbox() {
        let b = mailbox(MailboxKind::Standard, None);
        let out = place(&delivery(INBOX, Some("accettazione")), &b, 0);
        assert_eq!(folders(&out), [INBOX]);
    }

    #[test]
    fn receipts_folder_takes_receipts_only() {
        let b = mailbox(MailboxKind::Standard, Some("Ricevute"));
        let receipt = place(&delivery(INBOX, Some("avvenuta-consegna-completa")), &b, 0);
        assert_eq!(folders(&receipt), ["Ricevute"]);
        let busta = place(&delivery(INBOX, Some("posta-certificata")), &b, 0);
        assert_eq!(folders(&busta), [INBOX]);
        let ordinary = place(&delivery(INBOX, None), &b, 0);
        assert_eq!(folders(&ordinary), [INBOX]);
        let sent = place(&delivery(store::SENT, None), &b, 0);
        assert_eq!(folders(&sent), [store::SENT]);
    }

    #[test]
    fn pro_box_archives_everything() {
        let b = mailbox(MailboxKind::Pro, Some("Ricevute"));
        let at = LATE_NOVEMBER_UTC - 3600;
        let receipt = place(&delivery(INBOX, Some("accettazione")), &b, at);
        assert_eq!(folders(&receipt), ["Ricevute", "Archivio/2026/11"]);
        let sent = place(&delivery(store::SENT, None), &b, at);
        assert_eq!(folders(&sent), [store::SENT, "Archivio/2026/11"]);
        let archived = place(&delivery("Archivio/2026/11", None), &b, at);
        assert_eq!(folders(&archived), ["Archivio/2026/11"]);
    }
}
