//! What a holder asked to hear of each PEC delivered to the box (seed 002, issue 6): a short
//! notice to up to two ordinary addresses — sender, recipient and subject, never the message
//! — optionally only for some senders; and a copy of the whole busta to an ordinary address,
//! marked as having no legal value. Both are ordinary mail from the service address, queued
//! in the very batch that delivers the busta: the batch's idempotency key for that delivery
//! makes them happen with it, once, or not at all (a busta sent again is not announced
//! again).

use pec::Transazione;
use store::{Batch, HolderSettings, NewPecNotice};

use crate::rewrite::{prefix_subject, prepend_header};
use crate::service_mail::ServiceMail;
use crate::{Engine, EngineError};

/// The subject prefix of a copy without legal value.
pub const COPY_SUBJECT_PREFIX: &str = "[COPIA SENZA VALORE LEGALE]";
/// The header that marks a copy without legal value.
pub const COPY_HEADER: &str = "X-Pecora-Copia";

/// Whether a busta from the certified sender `mittente` is announced under `notice`.
pub fn announces(notice: &NewPecNotice, mittente: &str) -> bool {
    !notice.to.is_empty()
        && (notice.only_from.is_empty()
            || notice
                .only_from
                .iter()
                .any(|a| bare(a).eq_ignore_ascii_case(bare(mittente))))
}

/// An address without blanks and angle brackets around it.
fn bare(address: &str) -> &str {
    address.trim().trim_matches(['<', '>'])
}

impl Engine {
    /// Adds to `batch` the notices and the copy that `mailbox`'s settings ask for the busta
    /// `raw` of transaction `t`, delivered by that batch at `at`.
    pub(crate) async fn announce_delivery(
        &self,
        batch: &mut Batch,
        mailbox: &str,
        t: &Transazione,
        raw: &[u8],
        at: i64,
    ) -> Result<(), EngineError> {
        let Some(settings) = self.store.holder_settings(mailbox).await? else {
            return Ok(());
        };
        let HolderSettings {
            notice,
            forward_copy,
            ..
        } = settings;
        if announces(&notice, &t.mittente) {
            for to in &notice.to {
                let bytes = self.new_pec_notice(to, mailbox, t, at)?;
                self.queue_ordinary(batch, &bytes, std::slice::from_ref(to), at)
                    .await?;
            }
        }
        if let Some(to) = forward_copy {
            let copy = prepend_header(
                &prefix_subject(raw, COPY_SUBJECT_PREFIX),
                COPY_HEADER,
                "senza valore legale",
            );
            self.queue_ordinary(batch, &copy, &[to], at).await?;
        }
        Ok(())
    }

    /// The notice of a new PEC in `mailbox`, for the ordinary address `to`.
    fn new_pec_notice(
        &self,
        to: &str,
        mailbox: &str,
        t: &Transazione,
        at: i64,
    ) -> Result<Vec<u8>, EngineError> {
        let text = format!(
            "Nella casella di posta certificata {mailbox} e' arrivato un nuovo messaggio.\r\n\r\n\
             Mittente: {mittente}\r\n\
             Destinatario: {mailbox}\r\n\
             Oggetto: {oggetto}\r\n\r\n\
             Il messaggio si legge solo nella casella PEC: questo avviso non ha valore legale \
             e non ne riporta il contenuto.\r\n\r\n\
             {gestore}\r\n",
            mittente = t.mittente,
            oggetto = t.oggetto,
            gestore = self.settings.gestore.nome,
        );
        self.service_mail(ServiceMail {
            what: "avviso-nuova-pec",
            to,
            subject: format!("Nuova PEC da {} nella casella {mailbox}", t.mittente),
            text,
            key: format!("{}.{mailbox}.{to}", t.identificativo),
            date: at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(to: &[&str], only_from: &[&str]) -> NewPecNotice {
        NewPecNotice {
            to: to.iter().map(|s| s.to_string()).collect(),
            only_from: only_from.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_sender_filter_decides() {
        assert!(
            !announces(&notice(&[], &[]), "a@pec.test"),
            "nobody to tell"
        );
        assert!(announces(&notice(&["x@mail.test"], &[]), "a@pec.test"));
        let only = notice(&["x@mail.test"], &["a@pec.test"]);
        assert!(announces(&only, "A@PEC.test"));
        assert!(!announces(&only, "b@pec.test"));
    }
}
