//! The legal log (spec §8.3): one event per operation, with the facts the spec lists, and the
//! daticert of every receipt we generate — enough to re-issue a signed copy when a holder has
//! lost theirs.

use jiff::Zoned;
use pec::build;
use pec::{Daticert, Kind, Transazione};
use store::{LogEvent, NewLogEvent};

use crate::{Engine, EngineError};

/// Builds the event for an operation on a transaction.
pub(crate) fn event(
    kind: &str,
    t: &Transazione,
    at: &Zoned,
    provider: &str,
    related: Vec<String>,
) -> NewLogEvent {
    NewLogEvent {
        at: at.timestamp().as_second(),
        kind: kind.to_string(),
        identificativo: (!t.identificativo.is_empty()).then(|| t.identificativo.clone()),
        msgid: t.msgid.clone(),
        sender: t.mittente.clone(),
        recipients: t.destinatari.iter().map(|d| d.indirizzo.clone()).collect(),
        subject: t.oggetto.clone(),
        related,
        provider: provider.to_string(),
        detail: None,
        daticert: None,
        actor: None,
    }
}

/// The log event kind for a PEC message kind, as the spec names the messages.
pub fn event_kind(kind: Kind) -> &'static str {
    match kind {
        Kind::AvvenutaConsegna(_) => "avvenuta-consegna",
        Kind::NonAccettazioneVirus => "non-accettazione",
        Kind::ErroreConsegnaVirus => "errore-consegna",
        Kind::PreavvisoErroreConsegna(_) => "preavviso-errore-consegna",
        other => other.slug(),
    }
}

impl Engine {
    /// Re-issues, signed now with the current key, every receipt the log recorded for a
    /// message (spec §8.3: the log lets lost receipts be reconstructed). Returns
    /// (file name, message) pairs.
    pub async fn reissue_receipts(
        &self,
        identificativo: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, EngineError> {
        let events: Vec<LogEvent> = self.store.events(identificativo).await?;
        let mut out = Vec::new();
        for (n, e) in events.iter().enumerate() {
            let Some(xml) = &e.event.daticert else {
                continue;
            };
            let d = Daticert::from_xml(xml.as_bytes()).map_err(|err| EngineError::Build {
                what: "receipt from the log",
                reason: err.to_string(),
            })?;
            let Some(draft) = build::ricevuta_da_daticert(&d, &self.settings.gestore) else {
                continue;
            };
            let sealed = self.signer.seal(draft.headers(), draft.entity())?;
            out.push((format!("{:02}-{}.eml", n + 1, draft.kind().slug()), sealed));
        }
        Ok(out)
    }
}
