//! The daily summary a holder can ask for (issue 6, `HolderSettings::daily_report`): once per
//! calendar day, Italian time, an ordinary message in the box's INBOX counting what happened
//! in the box the day before.
//!
//! The counts come from the box's own messages, by `received_at` and PEC kind, because that
//! is what the holder can check against the box: PEC received are the buste di trasporto
//! delivered, PEC sent are the ricevute di accettazione (one per message the punto di accesso
//! took), every other ricevuta or avviso is counted by kind, and the delivery errors are the
//! avvisi di mancata consegna (for any cause, timeouts included). A PRO box is counted on its
//! archive, which holds everything and cannot be deleted; any other box on its folders as
//! they are now, so what the holder deleted before the report is not counted.
//!
//! Exactly once per day: the report's batch holds the idempotency key
//! `rapporto-giornaliero|<box>|<day>`, so a sweep repeated every minute, or by a restarted
//! process, delivers nothing twice; and the report of one day has the same bytes whenever it
//! is built, so a repeated sweep stores no new blob either.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use store::{Batch, MailboxKind, MailboxState, StoreError, StoredMessage, is_archive};

use crate::clock::rome;
use crate::service_mail::ServiceMail;
use crate::{Engine, EngineError, build_error};

/// What happened in a box in one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaySummary {
    /// Buste di trasporto delivered.
    pub received: usize,
    /// Ricevute di accettazione: messages the holder sent that the gestore accepted.
    pub sent: usize,
    /// Every ricevuta and avviso (accettazione included), by PEC kind slug.
    pub receipts: BTreeMap<String, usize>,
    /// Avvisi di mancata consegna, whatever the cause.
    pub delivery_errors: usize,
    /// Buste di anomalia (ordinary or malformed mail).
    pub anomalies: usize,
}

impl DaySummary {
    /// Counts the messages of `messages` received in `[start, end)`.
    pub fn of<'a>(
        messages: impl IntoIterator<Item = &'a StoredMessage>,
        start: i64,
        end: i64,
    ) -> DaySummary {
        let mut s = DaySummary::default();
        for m in messages {
            let Some(kind) = m.kind.as_deref() else {
                continue;
            };
            if m.received_at < start || m.received_at >= end {
                continue;
            }
            match kind {
                "posta-certificata" => s.received += 1,
                "anomalia" => s.anomalies += 1,
                _ => {
                    *s.receipts.entry(kind.to_string()).or_default() += 1;
                    if kind == "accettazione" {
                        s.sent += 1;
                    }
                    if kind.starts_with("errore-consegna")
                        || kind.starts_with("preavviso-errore-consegna")
                    {
                        s.delivery_errors += 1;
                    }
                }
            }
        }
        s
    }

    /// The report's text, in Italian.
    fn text(&self, mailbox: &str, day: Date, gestore: &str) -> String {
        let mut receipts = String::new();
        for (kind, n) in &self.receipts {
            receipts.push_str(&format!("  {kind}: {n}\r\n"));
        }
        if receipts.is_empty() {
            receipts.push_str("  nessuna\r\n");
        }
        format!(
            "Riepilogo della casella di posta certificata {mailbox} per il giorno {day}.\r\n\r\n\
             PEC ricevute: {received}\r\n\
             PEC inviate (accettate): {sent}\r\n\
             Errori di consegna: {errors}\r\n\
             Messaggi di anomalia: {anomalies}\r\n\r\n\
             Ricevute e avvisi per tipo:\r\n{receipts}\r\n\
             {gestore}\r\n",
            day = day.strftime("%d/%m/%Y"),
            received = self.received,
            sent = self.sent,
            errors = self.delivery_errors,
            anomalies = self.anomalies,
        )
    }
}

impl Engine {
    /// Delivers the report of the day before `now` (Unix seconds; the day is Italian time) to
    /// every active box that asked for one and did not get it yet; returns how many were
    /// delivered. A box whose report cannot be stored (a full box) is skipped with a
    /// warning, and tried again at the next sweep.
    pub async fn send_daily_reports(&self, now: i64) -> Result<usize, EngineError> {
        let today = Timestamp::from_second(now)
            .map_err(|e| build_error("rapporto giornaliero", e))?
            .to_zoned(rome())
            .date();
        let day = today
            .yesterday()
            .map_err(|e| build_error("rapporto giornaliero", e))?;
        let start = day_start(day)?;
        let end = day_start(today)?;
        let mut delivered = 0;
        for m in self.store.mailboxes(None).await? {
            if m.state != MailboxState::Attiva {
                continue;
            }
            let wants = self.store.holder_settings(&m.address).await?;
            if !wants.is_some_and(|s| s.daily_report) {
                continue;
            }
            let mut messages = Vec::new();
            for folder in self.store.folders(&m.address).await? {
                if is_archive(&folder) == (m.kind == MailboxKind::Pro) {
                    messages.extend(self.store.messages(&m.address, &folder).await?);
                }
            }
            let summary = DaySummary::of(&messages, start, end);
            let bytes = self.service_mail(ServiceMail {
                what: "rapporto-giornaliero",
                to: &m.address,
                subject: format!(
                    "Riepilogo giornaliero della casella {} ({})",
                    m.address,
                    day.strftime("%d/%m/%Y")
                ),
                text: summary.text(&m.address, day, &self.settings.gestore.nome),
                key: format!("{day}.{}", m.address),
                date: end,
            })?;
            let blob = self.store.put(&bytes).await?;
            let batch = Batch {
                once: vec![format!("rapporto-giornaliero|{}|{day}", m.address)],
                deliveries: vec![crate::service_mail::into_inbox(&m.address, blob, &bytes)],
                ..Batch::default()
            };
            match self.commit(batch).await {
                Ok(()) => delivered += 1,
                Err(EngineError::Store(StoreError::Duplicate(_))) => {}
                Err(EngineError::Store(e)) => {
                    tracing::warn!(mailbox = %m.address, %day, error = %e, "rapporto giornaliero non consegnato");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(delivered)
    }
}

/// Unix seconds at the start of `day`, Italian time.
fn day_start(day: Date) -> Result<i64, EngineError> {
    day.to_zoned(rome())
        .map(|z| z.timestamp().as_second())
        .map_err(|e| build_error("rapporto giornaliero", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: Option<&str>, received_at: i64) -> StoredMessage {
        StoredMessage {
            mailbox: "box@pec.test".into(),
            folder: store::INBOX.into(),
            uid: 1,
            blob: "b".into(),
            size: 1,
            flags: Vec::new(),
            received_at,
            kind: kind.map(str::to_string),
            identificativo: None,
            modseq: 1,
        }
    }

    #[test]
    fn counts_the_day_by_kind() {
        let day = [
            message(Some("posta-certificata"), 10),
            message(Some("posta-certificata"), 11),
            message(Some("accettazione"), 12),
            message(Some("avvenuta-consegna-completa"), 13),
            message(Some("errore-consegna"), 14),
            message(Some("preavviso-errore-consegna-24h"), 15),
            message(Some("anomalia"), 16),
            message(None, 17),
            message(Some("posta-certificata"), 9),
            message(Some("posta-certificata"), 20),
        ];
        let s = DaySummary::of(&day, 10, 20);
        assert_eq!(s.received, 2);
        assert_eq!(s.sent, 1);
        assert_eq!(s.delivery_errors, 2);
        assert_eq!(s.anomalies, 1);
        assert_eq!(s.receipts.values().sum::<usize>(), 4);
        assert_eq!(s.receipts["errore-consegna"], 1);
    }

    #[test]
    fn the_italian_day_starts_at_italian_midnight() {
        // 2026-03-01T23:00:00Z.
        assert_eq!(
            day_start(jiff::civil::date(2026, 3, 2)).ok(),
            Some(1_772_406_000)
        );
    }
}
