//! Plain-text messages the gestore writes itself, outside PEC: the quota warning, the
//! notices of new PEC, the daily report, the password-recovery link. They share one shape —
//! from the gestore's service address, `Auto-Submitted: auto-generated` (RFC 3834, so that
//! no autoresponder answers them), a Message-ID naming what they are — built here once; and
//! those bound for ordinary Internet addresses leave through the relay queue
//! ([`Engine::queue_ordinary`]).

use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use store::Batch;

use crate::{Engine, EngineError, build_error};

/// One service message to build.
pub(crate) struct ServiceMail<'a> {
    /// What it is: names it in errors and opens its Message-ID (`avviso-quota`...).
    pub what: &'static str,
    pub to: &'a str,
    pub subject: String,
    pub text: String,
    /// Unique among the messages of `what`; with `what` and the gestore's domain, the
    /// Message-ID. Equal keys and dates give equal bytes.
    pub key: String,
    /// The Date: field, Unix seconds.
    pub date: i64,
}

impl Engine {
    /// The bytes of a service message (see the module doc).
    pub(crate) fn service_mail(&self, m: ServiceMail<'_>) -> Result<Vec<u8>, EngineError> {
        let g = &self.settings.gestore;
        let local: String = m
            .key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '.'
                }
            })
            .collect();
        MessageBuilder::new()
            .from((g.nome.as_str(), g.indirizzo().as_str()))
            .to(m.to)
            .subject(m.subject)
            .date(m.date)
            .message_id(format!("{}.{local}@{}", m.what, g.dominio))
            .header("Auto-Submitted", Raw::new("auto-generated"))
            .text_body(m.text)
            .write_to_vec()
            .map_err(|e| build_error(m.what, e))
    }

    /// Adds to `batch` the relay of `bytes` to ordinary addresses `to`, from the service
    /// address, due at `at`: the bytes are stored now, the jobs go with the batch.
    pub(crate) async fn queue_ordinary(
        &self,
        batch: &mut Batch,
        bytes: &[u8],
        to: &[String],
        at: i64,
    ) -> Result<(), EngineError> {
        let blob = self.store.put(bytes).await?;
        let service = self.service_address();
        batch
            .enqueue
            .extend(self.relay_jobs(&blob, &service, to, at, None));
        Ok(())
    }
}

/// A service message (no PEC kind, no identificativo) to store in `mailbox`'s INBOX.
pub(crate) fn into_inbox(mailbox: &str, blob: store::BlobId, bytes: &[u8]) -> store::NewMessage {
    store::NewMessage {
        mailbox: mailbox.to_string(),
        folder: store::INBOX.into(),
        blob,
        size: bytes.len() as u64,
        flags: Vec::new(),
        kind: None,
        identificativo: None,
    }
}
