//! The gestore itself: the three points of spec §1.3 (accesso, ricezione, consegna), the
//! relay queue worker, the sender-side tracker and the legal log.
//!
//! The engine speaks no protocol. The SMTP doors call [`Engine::submit`] (punto di accesso)
//! and [`Engine::receive`] (punto di ricezione, which hands over to the punto di consegna);
//! the relay worker sends through a [`relay::Transport`] port; antivirus and the clock are
//! ports too. Every operation ends in one [`store::Store::commit`]: the messages it stored,
//! the relay jobs it queued, the tracker rows it touched and its legal-log events, together.

pub mod access;
pub mod accounts;
pub mod amministrazione;
pub mod antivirus;
pub mod clock;
pub mod compose;
pub mod cronologia;
pub mod daily_report;
pub mod filing;
pub mod legal;
pub mod mailbox;
pub mod notices;
pub mod quota;
pub mod reception;
pub mod recovery_mail;
pub mod relay;
pub mod rewrite;
pub mod riga;
pub(crate) mod service_mail;
pub mod settings;
pub mod timers;

use std::sync::Arc;

use index::SharedIndex;
use jiff::Zoned;
use pec::Transazione;
use pec::checks::Limiti;
use pec::identificativo::Identificativi;
use pec::{Draft, Gestore, HashAlg};
use store::{Batch, BlobId, NewMessage, NewQueueEntry, Store, StoreError};

use crate::antivirus::Antivirus;
use crate::clock::Clock;

pub use store::INBOX;

/// What a provider is: its identity and its policies.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `gestore-emittente` and the mail domain of the signing certificate.
    pub gestore: Gestore,
    pub limiti: Limiti,
    /// Digest for the breve receipts' `.hash` parts.
    pub hash: HashAlg,
    /// Distinguishes this node's identificativi from every other node's.
    pub node: u64,
}

/// Everything that can stop an operation short of a PEC answer.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("signing: {0}")]
    Sign(#[from] smime::SmimeError),
    #[error("building {what}: {reason}")]
    Build { what: &'static str, reason: String },
    #[error("antivirus: {0}")]
    Antivirus(#[from] antivirus::ScanError),
}

pub struct Engine {
    pub(crate) settings: Settings,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) index: SharedIndex,
    pub(crate) signer: smime::Signer,
    pub(crate) trust: smime::TrustStore,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) antivirus: Arc<dyn Antivirus>,
    pub(crate) ids: Identificativi,
    /// Told when a commit queued relay jobs, and when a job ends: the relay worker starts
    /// what is due at once instead of at its next look at the queue.
    pub(crate) relay_wake: tokio::sync::Notify,
    /// Told the address of every mailbox a commit stored messages in, and of every mailbox
    /// an access server changed ([`Engine::mailbox_changed`]): IMAP IDLE listens here.
    pub(crate) changes: tokio::sync::broadcast::Sender<String>,
    /// Held while deciding whether a box needs its quota warning (quota.rs).
    pub(crate) quota_check: tokio::sync::Mutex<()>,
}

impl Engine {
    pub fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        index: SharedIndex,
        signer: smime::Signer,
        trust: smime::TrustStore,
        clock: Arc<dyn Clock>,
        antivirus: Arc<dyn Antivirus>,
    ) -> Engine {
        let ids = Identificativi::new(&settings.gestore.dominio, settings.node);
        Engine {
            settings,
            store,
            index,
            signer,
            trust,
            clock,
            antivirus,
            ids,
            relay_wake: tokio::sync::Notify::new(),
            changes: tokio::sync::broadcast::channel(1024).0,
            quota_check: tokio::sync::Mutex::new(()),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The CAs gestori's signatures are checked against (`[trust]`), for readers that show
    /// whether a stored message's signature holds (the webmail's certification banner).
    pub fn trust(&self) -> &smime::TrustStore {
        &self.trust
    }

    /// The provider index as loaded now: who signed a message, by certificate hash.
    pub fn index(&self) -> Arc<index::Index> {
        self.index.current()
    }

    /// The envelope sender of everything the gestore generates.
    pub fn service_address(&self) -> String {
        self.settings.gestore.indirizzo()
    }

    /// Whether `domain` is one this provider hosts mailboxes for.
    pub async fn hosts(&self, domain: &str) -> Result<bool, EngineError> {
        let domain = domain.to_ascii_lowercase();
        Ok(self.store.domains().await?.contains(&domain))
    }

    /// Commits an operation: wakes the relay worker for the jobs it queued, and tells the
    /// listeners of [`Engine::changes`] which mailboxes received messages.
    pub(crate) async fn commit(&self, mut batch: Batch) -> Result<(), EngineError> {
        let touched = self.file(&mut batch).await?;
        let queued = !batch.enqueue.is_empty();
        self.store.commit(batch).await?;
        if queued {
            self.relay_wake.notify_one();
        }
        for m in touched {
            self.mailbox_changed(&m.address);
            // Only a box with a quota, not yet warned, can need the warning now.
            if m.quota > 0 && !m.quota_warned {
                self.warn_quota(&m.address).await?;
            }
        }
        Ok(())
    }

    /// Mailbox addresses (lowercase) as their content changes: messages stored by the
    /// engine, or changes an access server announced with [`Engine::mailbox_changed`]. A
    /// receiver that lags behind gets `RecvError::Lagged` and should re-check everything.
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.changes.subscribe()
    }

    /// Announces that a mailbox's content or flags changed (an IMAP or POP3 session stored
    /// flags, expunged, copied...), so that other sessions on it (IDLE) look again.
    pub fn mailbox_changed(&self, mailbox: &str) {
        // No receiver is fine: nobody is idling.
        let _ = self.changes.send(mailbox.to_ascii_lowercase());
    }

    /// Signs a draft and stores the result as a blob.
    pub(crate) async fn seal(&self, draft: &Draft) -> Result<(Vec<u8>, BlobId), EngineError> {
        let sealed = self.signer.seal(draft.headers(), draft.entity())?;
        let blob = self.store.put(&sealed).await?;
        Ok((sealed, blob))
    }

    /// A notice for the sender of `t`, one of our holders: signed, stored in their INBOX and
    /// logged with its daticert, all as part of `batch`. `about` is the recipient the notice
    /// concerns (with the kind, the idempotency key).
    pub(crate) async fn notify_sender(
        &self,
        batch: &mut Batch,
        t: &Transazione,
        draft: &Draft,
        at: &Zoned,
        about: &str,
        detail: Option<String>,
    ) -> Result<(), EngineError> {
        let (bytes, blob) = self.seal(draft).await?;
        let kind = draft.kind();
        batch
            .once
            .push(once_key(&t.identificativo, about, kind.slug()));
        batch.deliveries.push(inbox(
            &t.mittente,
            blob,
            bytes.len(),
            kind,
            Some(&t.identificativo),
        ));
        let mut e = legal::event(
            legal::event_kind(kind),
            t,
            at,
            &self.settings.gestore.nome,
            vec![draft.message_id().into()],
        );
        e.detail = detail;
        e.daticert = draft.daticert().map(|d| d.to_xml());
        batch.log.push(e);
        Ok(())
    }

    /// Relay jobs for one message: one per destination domain.
    pub(crate) fn relay_jobs(
        &self,
        blob: &BlobId,
        mail_from: &str,
        rcpt_to: &[String],
        at: i64,
        identificativo: Option<&str>,
    ) -> Vec<NewQueueEntry> {
        let mut jobs: Vec<NewQueueEntry> = Vec::new();
        for rcpt in rcpt_to {
            let domain = domain_of(rcpt);
            match jobs.iter_mut().find(|j| j.domain == domain) {
                Some(j) => j.rcpt_to.push(rcpt.clone()),
                None => jobs.push(NewQueueEntry {
                    blob: blob.clone(),
                    mail_from: mail_from.to_string(),
                    rcpt_to: vec![rcpt.clone()],
                    domain,
                    next_attempt: at,
                    identificativo: identificativo.map(str::to_string),
                }),
            }
        }
        jobs
    }
}

/// An [`EngineError::Build`] for `what`.
pub(crate) fn build_error(what: &'static str, reason: impl ToString) -> EngineError {
    EngineError::Build {
        what,
        reason: reason.to_string(),
    }
}

/// A mailbox with every optional feature off, for unit tests.
#[cfg(test)]
pub(crate) fn test_mailbox(kind: store::MailboxKind, quota: u64, used: u64) -> store::Mailbox {
    store::Mailbox {
        address: "box@pec.test".into(),
        domain: "pec.test".into(),
        kind,
        state: store::MailboxState::Attiva,
        quota,
        used,
        ordinary_mail: store::OrdinaryMail::Rifiuta,
        password_hash: String::new(),
        created_at: 0,
        receipts_folder: None,
        protocol_account: None,
        quota_warned: false,
    }
}

/// `s` made safe as one file name wherever a name taken from a message ends up: an entry of
/// the evidence bundle, a file written by the CLI, a `Content-Disposition` header. Letters,
/// digits and `-_.@+` stay; anything else (path separators, quotes, spaces, control and
/// non-ASCII characters) becomes `_`; leading dots go, so neither `..` nor a hidden file can
/// come out; at most 120 characters; never empty.
pub fn nome_file(s: &str) -> String {
    let safe: String = s
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || "-_.@+".contains(c) => c,
            _ => '_',
        })
        .take(120)
        .collect();
    match safe.trim_start_matches('.') {
        "" => "_".into(),
        rest => rest.into(),
    }
}

/// The lowercase domain of an address (empty if it has none).
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').to_ascii_lowercase())
        .unwrap_or_default()
}

/// A message to store in `mailbox`'s INBOX.
pub(crate) fn inbox(
    mailbox: &str,
    blob: BlobId,
    size: usize,
    kind: pec::Kind,
    identificativo: Option<&str>,
) -> NewMessage {
    NewMessage {
        mailbox: mailbox.to_ascii_lowercase(),
        folder: INBOX.into(),
        blob,
        size: size as u64,
        flags: Vec::new(),
        kind: Some(kind.slug().into()),
        identificativo: identificativo.map(str::to_string),
    }
}

/// Idempotency key of one generated message: identificativo + recipient + kind.
/// A record for the archivio dei virus (spec §8.4) of a message of transaction `t` blocked at
/// `point` for `virus`: the bytes as they reached us (`blob`, `size`), and who sent them to whom.
pub(crate) fn virus_record(
    point: store::VirusPoint,
    virus: &str,
    (blob, size): (BlobId, usize),
    t: &Transazione,
    recipients: &[String],
    gestore: &str,
    at: i64,
) -> store::NewVirusRecord {
    store::NewVirusRecord {
        at,
        point,
        virus: virus.to_string(),
        blob,
        size: size as u64,
        identificativo: Some(t.identificativo.clone()),
        sender: t.mittente.clone(),
        recipients: recipients.to_vec(),
        subject: t.oggetto.clone(),
        gestore: gestore.to_string(),
    }
}

pub(crate) fn once_key(identificativo: &str, recipient: &str, kind: &str) -> String {
    format!("{identificativo}|{}|{kind}", recipient.to_ascii_lowercase())
}
