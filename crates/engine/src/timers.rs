//! The sender-side timers (spec §3.11, §4.4): per (identificativo, certified recipient), a
//! 12-hour preavviso when neither a presa in carico nor a consegna has arrived, and a final
//! notice between the 22nd and the 24th hour when no consegna has arrived; then tracking
//! ends. Both are avvisi di mancata consegna per superamento dei tempi massimi
//! (`preavviso-errore-consegna`), told apart by their NOTA 12 code (4.4.7 / 5.4.7).
//!
//! The timers are a sweep over the open tracker rows, driven by the injected clock: whoever
//! calls [`Engine::tick_timers`] (the provider every minute, a test after moving its clock)
//! gets every notice that is due, exactly once — each is keyed by identificativo, recipient
//! and kind, so a sweep repeated after a crash issues nothing twice. A sweep that runs late
//! sends what is overdue, both notices if need be (spec case 3).

use pec::{Daticert, MancataConsegna, Scadenza, Transazione, build};
use store::{Batch, StoreError, TrackerEntry, TrackerEvent, TrackerUpdate};

use crate::{Engine, EngineError};

/// Seconds after dispatch before the preavviso.
pub const PREAVVISO: i64 = 12 * 3600;
/// Seconds after dispatch from which the final notice may go (it must go by the 24th hour).
pub const SCADENZA: i64 = 22 * 3600;

impl Engine {
    /// Issues every timeout notice due now; returns how many were issued.
    pub async fn tick_timers(&self) -> Result<usize, EngineError> {
        let now = self.clock.now();
        let at = now.timestamp().as_second();
        let mut issued = 0;
        for entry in self.store.open_entries().await? {
            let elapsed = at - entry.sent_at;
            let heard = |e| entry.at(e).is_some();
            let preavviso = elapsed >= PREAVVISO
                && !heard(TrackerEvent::PresaInCarico)
                && !heard(TrackerEvent::Preavviso);
            let scaduto = elapsed >= SCADENZA;
            if !preavviso && !scaduto {
                continue;
            }
            let Some(t) = self.transazione_of(&entry).await? else {
                tracing::warn!(identificativo = %entry.identificativo, "tracked message without an accettazione in the log");
                continue;
            };
            let mut batch = Batch::default();
            for (due, scadenza, event) in [
                (preavviso, Scadenza::Ore12, TrackerEvent::Preavviso),
                (scaduto, Scadenza::Ore24, TrackerEvent::Scaduto),
            ] {
                if !due {
                    continue;
                }
                let causa = MancataConsegna::TempoMassimo(scadenza);
                let notice = build::mancata_consegna(
                    &t,
                    &self.settings.gestore,
                    &now,
                    &entry.recipient,
                    &causa,
                );
                self.notify_sender(&mut batch, &t, &notice, &now, &entry.recipient, None)
                    .await?;
                batch.tracker_events.push(TrackerUpdate {
                    identificativo: entry.identificativo.clone(),
                    recipient: entry.recipient.clone(),
                    event,
                    at,
                });
                issued += 1;
            }
            match self.commit(batch).await {
                // Issued by an earlier sweep that crashed before its tracker update: fine.
                Err(EngineError::Store(StoreError::Duplicate(_))) => {}
                other => other?,
            }
        }
        Ok(issued)
    }

    /// The certified facts of a tracked message, from its accettazione in the legal log.
    async fn transazione_of(
        &self,
        entry: &TrackerEntry,
    ) -> Result<Option<Transazione>, EngineError> {
        let events = self.store.events(&entry.identificativo).await?;
        Ok(events
            .iter()
            .filter(|e| e.event.kind == "accettazione")
            .find_map(|e| e.event.daticert.as_deref())
            .and_then(|xml| Daticert::from_xml(xml.as_bytes()).ok())
            .map(|d| Transazione::from_daticert(&d)))
    }
}
