//! Where a gestore keeps its state: accounts, mailboxes, message blobs, the relay queue, the
//! sender-side tracker, the legal log and the virus archive, and what the web keeps (holder
//! settings, activation, password history and recovery, the panel's admins, the REST API's
//! keys and webhooks) — behind traits, so that the SQLite + files backend
//! of a single machine and a PostgreSQL + object-store backend of a cluster are
//! interchangeable, and one conformance suite ([`conformance`]) checks any of them.
//!
//! Every state change of one PEC operation goes through [`Store::commit`] as one [`Batch`]:
//! one transaction that holds the mailbox deliveries, queue rows, tracker rows and legal-log
//! events together, so a crash leaves either all of them or none. Blobs are written (and made
//! durable) before the batch that references them; an orphan blob after a crash is harmless.
//! All instants are Unix seconds (UTC), taken from the engine's injected clock.
//!
//! Names (addresses, domains) are compared ASCII-case-insensitively: backends store them
//! lowercased with [`str::to_ascii_lowercase`] and lowercase every lookup the same way.
//! Legal-log events are stored exactly as given, since their hash covers every byte.

pub mod conformance;
mod holder_rules;
mod mail_rules;
pub mod sqlite;

use async_trait::async_trait;

/// Content address of a blob: lowercase hex SHA-256 of its bytes.
pub type BlobId = String;

/// The `prev_hash` of the first event ever written to a legal log: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Result of every store operation.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Why a store operation failed; the text says what was being done and to what.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A domain, mailbox, message, queue entry or tracker entry the operation needs is missing.
    #[error("not found: {0}")]
    NotFound(String),
    /// A domain or mailbox to create is already there.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// An idempotency key of a batch was already committed: the operation already happened.
    #[error("already done: {0}")]
    Duplicate(String),
    /// The file system failed (blob files, the data directory).
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The database failed, or holds data this version cannot read.
    #[error("storage backend: {0}")]
    Backend(String),
    /// The operation would change the PRO archive (`Archivio/...`), whose content is
    /// immutable, or would delete or rename a folder that must stay (INBOX, the archive).
    #[error("not allowed: {0}")]
    Immutable(String),
    /// The mailbox has no room for what the operation would add (see [`Mailbox::quota`]).
    #[error("over quota: {0}")]
    OverQuota(String),
    /// A folder name the store cannot hold (empty, a `/` at either end, `//`, or a
    /// control character).
    #[error("invalid folder name: {0}")]
    InvalidName(String),
    /// A holder setting the store refuses to keep: an address that is not `local@domain`,
    /// more addresses than the setting allows, or a target missing or given where the
    /// ordinary-mail policy wants the other (see [`OrdinaryMail::needs_target`]).
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
}

/// The root of a PRO box's archive: `Archivio/<yyyy>/<mm>` folders hold a copy of every
/// message sent and received. Their content is immutable (no expunge, no move out, no
/// `\Deleted` flag, no delete or rename of the folders), nothing can be appended or copied
/// into them (the engine files the copies through [`Store::commit`]), and what they hold does
/// not count towards the box's quota.
pub const ARCHIVE_ROOT: &str = "Archivio";

/// The folder every box has from the start and that can never be deleted or renamed.
pub const INBOX: &str = "INBOX";

/// Where the punto di accesso files a copy of every message a holder submits (IMAP
/// special-use `\Sent`). Like [`DRAFTS`] and [`TRASH`], an ordinary folder the access
/// servers create when missing.
pub const SENT: &str = "Sent";

/// Drafts kept by mail clients (IMAP special-use `\Drafts`).
pub const DRAFTS: &str = "Drafts";

/// Deleted messages kept by mail clients (IMAP special-use `\Trash`).
pub const TRASH: &str = "Trash";

/// Whether `folder` lies in the PRO archive ([`ARCHIVE_ROOT`] or below it).
pub fn is_archive(folder: &str) -> bool {
    folder == ARCHIVE_ROOT
        || folder
            .strip_prefix(ARCHIVE_ROOT)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A name that is not one of an enum's wire names (see `as_str` on [`MailboxKind`],
/// [`MailboxState`], [`OrdinaryMail`], [`TrackerEvent`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?}")]
pub struct UnknownName {
    /// What was being parsed, e.g. `mailbox kind`.
    pub what: &'static str,
    /// The text that matched no name.
    pub name: String,
}

/// Gives an enum its lowercase Italian wire names — the names the database, the
/// configuration and the API use: `as_str`, [`std::fmt::Display`] and [`std::str::FromStr`]
/// (which ignores ASCII case).
macro_rules! wire_names {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The lowercase Italian name used in storage, configuration and the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = UnknownName;

            fn from_str(s: &str) -> std::result::Result<Self, UnknownName> {
                $(if s.eq_ignore_ascii_case($name) {
                    return Ok(Self::$variant);
                })+
                Err(UnknownName { what: $what, name: s.to_owned() })
            }
        }
    };
}

/// The kind of box a holder bought (seeds: standard, PRO with archive, multiutenza).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MailboxKind {
    #[default]
    Standard,
    Pro,
    Multiutenza,
}

/// Lifecycle of a box: created suspended until the holder activates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MailboxState {
    #[default]
    Sospesa,
    Attiva,
    Bloccata,
    Revocata,
}

/// What the reception point does with ordinary (non-PEC) mail for this box (spec §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OrdinaryMail {
    /// Refuse at SMTP (the seeds' default: PEC boxes accept only PEC).
    #[default]
    Rifiuta,
    /// Wrap it in a busta di anomalia and deliver.
    Anomalia,
    /// Refuse it into the box, and forward it to an ordinary address (the target).
    Inoltra,
    /// Accept it into a folder of the box (the target) instead of INBOX.
    Cartella,
}

impl OrdinaryMail {
    /// Whether the policy needs a target ([`HolderSettings::ordinary_mail_target`]): an
    /// address for [`OrdinaryMail::Inoltra`], a folder for [`OrdinaryMail::Cartella`]. The
    /// store keeps a target exactly when the policy needs one.
    pub fn needs_target(self) -> bool {
        matches!(self, Self::Inoltra | Self::Cartella)
    }
}

wire_names!(MailboxKind, "mailbox kind", {
    Standard => "standard",
    Pro => "pro",
    Multiutenza => "multiutenza",
});

wire_names!(MailboxState, "mailbox state", {
    Sospesa => "sospesa",
    Attiva => "attiva",
    Bloccata => "bloccata",
    Revocata => "revocata",
});

wire_names!(OrdinaryMail, "ordinary-mail policy", {
    Rifiuta => "rifiuta",
    Anomalia => "anomalia",
    Inoltra => "inoltra",
    Cartella => "cartella",
});

/// Where a gestore found a virus: its punto di accesso (a holder's submission, spec §3.3) or
/// its punto di ricezione (a busta from another gestore, spec §3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VirusPoint {
    Accesso,
    Ricezione,
}

wire_names!(VirusPoint, "virus point", {
    Accesso => "accesso",
    Ricezione => "ricezione",
});

/// A holder's PEC box, as the accounts store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// Lowercase `local@domain`.
    pub address: String,
    /// The part after the last `@`, lowercase; a domain created with
    /// [`Accounts::create_domain`].
    pub domain: String,
    pub kind: MailboxKind,
    pub state: MailboxState,
    /// Bytes the box may hold; 0 = unlimited.
    pub quota: u64,
    /// Bytes currently stored outside the PRO archive (sum of the sizes of the messages of
    /// every other folder): what the quota is checked against.
    pub used: u64,
    /// What the punto di ricezione does with ordinary mail for the box; the target of
    /// [`OrdinaryMail::Inoltra`] (an address) and [`OrdinaryMail::Cartella`] (a folder) is
    /// [`HolderSettings::ordinary_mail_target`].
    pub ordinary_mail: OrdinaryMail,
    /// PHC string (argon2); hashing is the caller's job.
    pub password_hash: String,
    /// The `at` given to [`Accounts::create_mailbox`].
    pub created_at: i64,
    /// Where receipts (ricevute and avvisi) go instead of INBOX, if the holder asked for a
    /// dedicated folder.
    pub receipts_folder: Option<String>,
    /// Protocol-system mode (seed 000, Titulus): the login of the integration account.
    /// Messages it reads leave INBOX; on a PRO box they stay in the archive.
    pub protocol_account: Option<String>,
    /// The 90 % quota warning was sent and usage has not fallen below 90 % since; set through
    /// [`Batch::quota_warned`], cleared by the store when usage falls below 90 % of a nonzero
    /// quota (after an expunge, a folder deletion...) or the quota changes.
    pub quota_warned: bool,
}

/// What a delegate of a multi-user box may do (seed 000: multiutenza).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DelegateRole {
    /// Read the box.
    Lettura,
    /// Read the box and send as its address.
    Invio,
    /// Read, send, and manage folders and settings of the box.
    Gestione,
}

wire_names!(DelegateRole, "delegate role", {
    Lettura => "lettura",
    Invio => "invio",
    Gestione => "gestione",
});

/// Someone with their own credentials working on a holder's box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegate {
    /// Lowercase login name; never equal to a mailbox address.
    pub login: String,
    /// The box the delegate works on (lowercase address).
    pub mailbox: String,
    pub role: DelegateRole,
    /// PHC string (argon2).
    pub password_hash: String,
    pub created_at: i64,
}

/// A delegate to create with [`Accounts::create_delegate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelegate {
    pub login: String,
    pub mailbox: String,
    pub role: DelegateRole,
    pub password_hash: String,
}

/// One folder of a mailbox, with what IMAP's SELECT and STATUS report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub name: String,
    /// Chosen when the folder is created, never reused for another folder of the same
    /// mailbox (a folder deleted and created again gets a new one); nonzero.
    pub uidvalidity: u32,
    /// The UID the next message will get; only grows.
    pub uid_next: u32,
    /// The highest MODSEQ of the folder (RFC 7162): grows with every message stored, every
    /// flag change and every expunge; at least 1.
    pub highest_modseq: u64,
    pub messages: u32,
    /// Messages without `\Seen`.
    pub unseen: u32,
    /// Sum of the message sizes.
    pub size: u64,
}

/// How [`Mailboxes::store_flags`] changes the flags of each message (IMAP STORE's `FLAGS`,
/// `+FLAGS`, `-FLAGS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagChange {
    Replace,
    Add,
    Remove,
}

/// What [`Mailboxes::store_flags`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagsStored {
    /// Messages whose flags changed: (uid, flags now, new modseq), by UID. Messages whose
    /// flags were already as asked are not listed and keep their modseq.
    pub changed: Vec<(u32, Vec<String>, u64)>,
    /// Messages left alone because their modseq was above `unchanged_since`, by UID.
    pub modified: Vec<u32>,
}

/// A message to add to a folder directly (IMAP APPEND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub blob: BlobId,
    pub size: u64,
    pub flags: Vec<String>,
    /// The IMAP internal date.
    pub received_at: i64,
}

/// A message stored in a mailbox folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub mailbox: String,
    pub folder: String,
    /// Per (mailbox, folder), strictly increasing from 1, never reused.
    pub uid: u32,
    pub blob: BlobId,
    pub size: u64,
    pub flags: Vec<String>,
    /// The instant of the batch that delivered it: the `at` of the batch's first log event
    /// (every engine batch logs); a batch without log events uses the backend's wall clock.
    pub received_at: i64,
    /// PEC kind slug (`posta-certificata`, `accettazione`...), `None` for ordinary mail.
    pub kind: Option<String>,
    pub identificativo: Option<String>,
    /// Set when the message was stored and at every change of its flags (RFC 7162).
    pub modseq: u64,
}

/// A message to store in a mailbox (part of a [`Batch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub mailbox: String,
    pub folder: String,
    pub blob: BlobId,
    pub size: u64,
    pub flags: Vec<String>,
    pub kind: Option<String>,
    pub identificativo: Option<String>,
}

/// A relay job: one SMTP transaction to one destination domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub id: i64,
    pub blob: BlobId,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// Lowercase destination domain (the routing key).
    pub domain: String,
    /// Failed attempts so far (see [`Queue::retry_later`]).
    pub attempts: u32,
    pub next_attempt: i64,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// The instant of the batch that queued it: the `at` of the batch's first log event, or
    /// the entry's own `next_attempt` when the batch has no log event.
    pub created_at: i64,
    pub identificativo: Option<String>,
}

/// A relay job to queue (part of a [`Batch`]); it starts with no attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQueueEntry {
    pub blob: BlobId,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub domain: String,
    pub next_attempt: i64,
    pub identificativo: Option<String>,
}

/// A relay job that reached some of its recipients and must try the others again (part of a
/// [`Batch`]). It keeps its id and its age; its attempts grow by one, as with
/// [`Queue::retry_later`]. `NotFound` fails the batch if the job is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRetry {
    pub id: i64,
    /// The recipients still to try (replacing the job's list).
    pub rcpt_to: Vec<String>,
    pub next_attempt: i64,
    pub error: String,
}

/// What the sender side has heard about one (identificativo, certified recipient).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackerEvent {
    PresaInCarico,
    Consegna,
    ErroreConsegna,
    RilevazioneVirus,
    /// The 12-hour preavviso was sent.
    Preavviso,
    /// The 24-hour notice was sent; tracking ends.
    Scaduto,
}

wire_names!(TrackerEvent, "tracker event", {
    PresaInCarico => "presa-in-carico",
    Consegna => "consegna",
    ErroreConsegna => "errore-consegna",
    RilevazioneVirus => "rilevazione-virus",
    Preavviso => "preavviso",
    Scaduto => "scaduto",
});

impl TrackerEvent {
    /// Whether this event ends the tracking of a recipient (see [`Tracker::open_entries`]):
    /// a consegna, an errore di consegna, a virus, or the 24-hour notice.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TrackerEvent::Consegna
                | TrackerEvent::ErroreConsegna
                | TrackerEvent::RilevazioneVirus
                | TrackerEvent::Scaduto
        )
    }
}

/// One (identificativo, certified recipient) the sender side waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerEntry {
    pub identificativo: String,
    /// Lowercase recipient address.
    pub recipient: String,
    pub mittente: String,
    /// When the busta was dispatched (timers count from here).
    pub sent_at: i64,
    /// Instant of each event heard so far (the first one of each kind counts).
    pub events: Vec<(TrackerEvent, i64)>,
}

impl TrackerEntry {
    /// When `event` was first heard, if it was.
    pub fn at(&self, event: TrackerEvent) -> Option<i64> {
        self.events
            .iter()
            .find(|(e, _)| *e == event)
            .map(|(_, t)| *t)
    }
}

/// Starts tracking one recipient (part of a [`Batch`]); an entry already tracked for the
/// same (identificativo, recipient) is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTracker {
    pub identificativo: String,
    pub recipient: String,
    pub mittente: String,
    pub sent_at: i64,
}

/// Records an event for a tracked recipient (part of a [`Batch`]). The entry must exist
/// (the batch fails with [`StoreError::NotFound`] otherwise); when it already has this
/// event, the earlier of the two instants is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerUpdate {
    pub identificativo: String,
    pub recipient: String,
    pub event: TrackerEvent,
    pub at: i64,
}

/// One legal-log event (spec §8.3). `kind` names the operation as the spec names the
/// messages: `accettazione`, `non-accettazione`, `posta-certificata`, `presa-in-carico`,
/// `avvenuta-consegna`, `errore-consegna`, `anomalia`, `consegna-mailbox`, `relay`, ...
///
/// Administrative actions (issue 6: the postmaster panel, the provider's admins, the REST
/// API's key management) use the same events, by convention: `kind` is `admin-<action>`
/// (e.g. `admin-crea-casella`, `admin-stato`, `admin-password`, `admin-chiave-api`),
/// `identificativo` and `msgid` are `None`, `sender` is the box (or domain) acted on,
/// `recipients` and `related` are empty, `subject` is empty, `provider` is the gestore,
/// `detail` says what changed (never a password, a hash, a key or a token), and `actor` is
/// the admin's login (`None` for the provider's own sweeps, such as the blocking of boxes not
/// activated in time). No schema of its own: the chain covers them like every other event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogEvent {
    pub at: i64,
    pub kind: String,
    pub identificativo: Option<String>,
    /// The client's Message-ID, with brackets.
    pub msgid: Option<String>,
    pub sender: String,
    pub recipients: Vec<String>,
    pub subject: String,
    /// Message-IDs of the messages this operation generated or received.
    pub related: Vec<String>,
    /// The gestore that did it (`gestore-emittente`).
    pub provider: String,
    /// Free detail (an error text, a remote reply).
    pub detail: Option<String>,
    /// The `daticert.xml` of a generated receipt: enough to re-issue it.
    pub daticert: Option<String>,
    /// Who acted on the holder's behalf, when it was not the holder: a delegate's login, or
    /// an admin's for an `admin-…` event.
    pub actor: Option<String>,
}

/// A logged event with its place in the hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub seq: u64,
    pub event: NewLogEvent,
    /// Hash of the previous event (64 zeros for the first event ever written).
    pub prev_hash: String,
    /// Lowercase hex SHA-256 over `prev_hash` and the canonical encoding of `event` (see
    /// [`chain_hash`]).
    pub hash: String,
}

/// Result of checking the whole legal log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainReport {
    Intact { events: u64 },
    Broken { seq: u64, reason: String },
}

/// The hash that links a log event to the previous one. Canonical: every field in a fixed
/// order, each length-prefixed, so no two different events encode alike. Backends must use
/// this function, so a chain written by one backend verifies on any other.
pub fn chain_hash(prev_hash: &str, seq: u64, e: &NewLogEvent) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    // An optional field: a presence marker, then the value (so None ≠ any Some).
    let opt = |field: &mut dyn FnMut(&[u8]), v: Option<&str>| match v {
        None => field(b"-"),
        Some(v) => {
            field(b"+");
            field(v.as_bytes());
        }
    };
    field(prev_hash.as_bytes());
    field(&seq.to_be_bytes());
    field(&e.at.to_be_bytes());
    field(e.kind.as_bytes());
    opt(&mut field, e.identificativo.as_deref());
    opt(&mut field, e.msgid.as_deref());
    field(e.sender.as_bytes());
    field(&(e.recipients.len() as u64).to_be_bytes());
    for r in &e.recipients {
        field(r.as_bytes());
    }
    field(e.subject.as_bytes());
    field(&(e.related.len() as u64).to_be_bytes());
    for r in &e.related {
        field(r.as_bytes());
    }
    field(e.provider.as_bytes());
    opt(&mut field, e.detail.as_deref());
    opt(&mut field, e.daticert.as_deref());
    // Added after the first chains were written: hashed only when present, so events
    // without an actor hash as they always did (the encoding stays unambiguous, since
    // the actor is the last field).
    if let Some(actor) = &e.actor {
        field(b"actor");
        field(actor.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A message blocked for a virus, to keep in the archivio dei virus (part of a [`Batch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVirusRecord {
    pub at: i64,
    pub point: VirusPoint,
    /// What the antivirus found (its signature name).
    pub virus: String,
    /// The message as it reached us: the submission, or the whole busta di trasporto.
    pub blob: BlobId,
    pub size: u64,
    /// The transaction's identificativo (ours at the access point, the sender gestore's at
    /// reception).
    pub identificativo: Option<String>,
    pub sender: String,
    pub recipients: Vec<String>,
    pub subject: String,
    /// The gestore the message came from: our own name at the access point.
    pub gestore: String,
}

/// A record of the virus archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirusRecord {
    /// Strictly increasing, never reused.
    pub id: i64,
    pub record: NewVirusRecord,
}

/// How many earlier password hashes the store keeps per login (see
/// [`Holders::password_history`]): the most a password policy can refuse to see again.
pub const PASSWORD_HISTORY: usize = 10;

/// How many ordinary addresses [`NewPecNotice::to`] and [`NewPecNotice::only_from`] may
/// each hold (seed 002: "fino a due indirizzi", "mittenti specifici (massimo 2)").
pub const NOTICE_ADDRESSES: usize = 2;

/// Who holds a box, as the holder confirmed it at activation (seed 003).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderProfile {
    pub nome: String,
    pub cognome: String,
    /// The holder's ordinary e-mail address; lowercase.
    pub email: String,
}

/// Notices of new PEC sent to ordinary addresses (seed 002, "servizio di notifica via
/// email"): a short message naming sender, recipient and subject, never the message itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPecNotice {
    /// Where notices go, at most [`NOTICE_ADDRESSES`]; empty: no notices.
    pub to: Vec<String>,
    /// When not empty, only messages from these senders (at most [`NOTICE_ADDRESSES`]) are
    /// announced.
    pub only_from: Vec<String>,
}

/// A box's settings for the web (issue 6) beyond those of [`Mailbox`]. Addresses are kept
/// lowercase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolderSettings {
    /// The address ([`OrdinaryMail::Inoltra`]) or folder ([`OrdinaryMail::Cartella`]) of the
    /// box's ordinary-mail policy; `None` for the other policies.
    pub ordinary_mail_target: Option<String>,
    pub profile: Option<HolderProfile>,
    /// Where password-recovery links go.
    pub recovery_address: Option<String>,
    /// The holder must change the initial password before using the box (seed 003).
    pub must_change_password: bool,
    /// A box not activated by then is blocked ([`Holders::block_expired_activations`]).
    pub activation_deadline: Option<i64>,
    pub notice: NewPecNotice,
    /// An ordinary address receiving a copy of every PEC (without legal value).
    pub forward_copy: Option<String>,
    /// A daily summary of the box's previous day is delivered into its INBOX.
    pub daily_report: bool,
}

/// Where an administrator's powers reach (seeds 002/004).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminScope {
    /// Domains, postmasters and every box.
    Provider,
    /// The boxes of one domain (lowercase): `postmaster@<domain>`.
    Domain(String),
}

impl AdminScope {
    /// Whether an admin of this scope manages the boxes of `domain` (ignoring ASCII case):
    /// a provider admin every domain, a postmaster its own only.
    pub fn covers(&self, domain: &str) -> bool {
        match self {
            Self::Provider => true,
            Self::Domain(own) => own.eq_ignore_ascii_case(domain),
        }
    }
}

/// An account of the administration panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// Lowercase.
    pub login: String,
    /// PHC string (argon2).
    pub password_hash: String,
    pub scope: AdminScope,
    pub created_at: i64,
}

/// A REST API key of a box; the key itself is shown once, only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Strictly increasing, never reused.
    pub id: i64,
    pub mailbox: String,
    pub label: String,
    /// Lowercase hex SHA-256 of the key.
    pub key_hash: String,
    pub created_at: i64,
    /// Set once the key is revoked; a revoked key authenticates nothing.
    pub revoked_at: Option<i64>,
}

/// A URL a box's events are posted to, signed with its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Strictly increasing, never reused.
    pub id: i64,
    pub mailbox: String,
    pub url: String,
    pub secret: String,
    pub created_at: i64,
}

/// A pending announcement of one PEC message to one webhook (the outbox). The batch that
/// delivers a message with a kind into a box with webhooks adds one per webhook, in the same
/// transaction; it goes away when delivered, given up, or with its webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// Strictly increasing, never reused.
    pub id: i64,
    /// Where to post it, and with what secret; its mailbox is the message's.
    pub webhook: Webhook,
    /// Where the message landed (as delivered; a later move does not change it).
    pub folder: String,
    pub uid: u32,
    /// The message's PEC kind (`NewMessage::kind`).
    pub kind: String,
    pub identificativo: Option<String>,
    /// The instant of the delivering batch.
    pub received_at: i64,
    /// Failed posts so far.
    pub attempts: u32,
}

/// The idempotency key of a REST API send, recorded by the batch of the send (part of a
/// [`Batch`]): the send happens, and is remembered, together or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSend {
    pub mailbox: String,
    /// Chosen by the client; compared exactly.
    pub key: String,
    /// What the send produced, returned to a client that sends again with the same key.
    pub identificativo: String,
    /// A digest of what the send asked for (the engine's choice: lowercase hex SHA-256 of
    /// the draft), so that the key coming back with another message can be told apart from
    /// a repeat. `None` for sends recorded before the store kept it (schema 6).
    pub request_hash: Option<String>,
}

/// Everything one operation changes, committed atomically by [`Store::commit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Idempotency keys (e.g. `identificativo|recipient|kind`): if any was committed before,
    /// nothing of the batch is applied and `commit` returns [`StoreError::Duplicate`].
    pub once: Vec<String>,
    pub deliveries: Vec<NewMessage>,
    pub enqueue: Vec<NewQueueEntry>,
    /// Queue entries finished (delivered or given up).
    pub dequeue: Vec<i64>,
    /// Queue entries with recipients left to try.
    pub retry: Vec<QueueRetry>,
    pub track: Vec<NewTracker>,
    pub tracker_events: Vec<TrackerUpdate>,
    pub log: Vec<NewLogEvent>,
    /// Messages blocked for a virus, kept with the notice that reports them.
    pub virus_archive: Vec<NewVirusRecord>,
    /// Mailboxes whose 90 % quota warning this batch delivers (sets
    /// [`Mailbox::quota_warned`]); `NotFound` fails the batch for an unknown mailbox.
    pub quota_warned: Vec<String>,
    /// Idempotency keys of REST API sends; a key the box already used fails the batch with
    /// [`StoreError::Duplicate`] (and [`Api::api_send`] gives what the first send produced).
    pub api_sends: Vec<ApiSend>,
}

/// A mailbox to create with [`Accounts::create_mailbox`]; it starts empty (`used` 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMailbox {
    pub address: String,
    pub kind: MailboxKind,
    pub state: MailboxState,
    pub quota: u64,
    pub ordinary_mail: OrdinaryMail,
    pub password_hash: String,
}

/// Domains and mailboxes: who may log in, and where mail for an address goes.
#[async_trait]
pub trait Accounts: Send + Sync {
    /// Errors with `AlreadyExists` if present. Names are stored lowercase.
    async fn create_domain(&self, domain: &str, at: i64) -> Result<()>;
    async fn domains(&self) -> Result<Vec<String>>;
    /// The domain must exist (`NotFound` otherwise); the address must be new and not a
    /// delegate's login (`AlreadyExists`). The box starts with an empty INBOX and the default
    /// [`HolderSettings`]; an ordinary-mail policy that needs a target is `InvalidSetting`
    /// (set it afterwards with [`Holders::set_ordinary_mail_policy`]).
    async fn create_mailbox(&self, m: &NewMailbox, at: i64) -> Result<()>;
    /// Case-insensitive lookup.
    async fn mailbox(&self, address: &str) -> Result<Option<Mailbox>>;
    /// All boxes, or those of one domain, ordered by address.
    async fn mailboxes(&self, domain: Option<&str>) -> Result<Vec<Mailbox>>;
    /// The setters below fail with `NotFound` for an unknown address.
    ///
    /// The hash replaced goes to the box's [`Holders::password_history`] (unless it is the
    /// same string), so a policy can refuse a password used before; the box's recovery
    /// tokens go, so no link sent before outlives the password it was meant to replace.
    async fn set_password_hash(&self, address: &str, hash: &str) -> Result<()>;
    async fn set_state(&self, address: &str, state: MailboxState) -> Result<()>;
    /// Changes the box's type (seed 000: "cambio della tipologia da Standard a PRO"). Its
    /// quota is left as it is; messages already stored are not archived retroactively.
    async fn set_kind(&self, address: &str, kind: MailboxKind) -> Result<()>;
    /// A quota different from the current one clears [`Mailbox::quota_warned`].
    async fn set_quota(&self, address: &str, quota: u64) -> Result<()>;
    /// For the policies without a target (and clears the target of the previous one);
    /// `InvalidSetting` for one that needs a target: use [`Holders::set_ordinary_mail_policy`].
    async fn set_ordinary_mail(&self, address: &str, policy: OrdinaryMail) -> Result<()>;
    /// The folder need not exist (the first receipt delivered creates it); INBOX is matched
    /// in any case. `InvalidName` for a name the store cannot hold, `Immutable` for a folder
    /// in the archive.
    async fn set_receipts_folder(&self, address: &str, folder: Option<&str>) -> Result<()>;
    /// Stored lowercase, as logins are; not checked against the box's delegates.
    async fn set_protocol_account(&self, address: &str, login: Option<&str>) -> Result<()>;

    /// The mailbox must exist (`NotFound`); the login must be neither a mailbox address nor
    /// another delegate's login (`AlreadyExists`). Stored lowercase.
    async fn create_delegate(&self, d: &NewDelegate, at: i64) -> Result<()>;
    /// Case-insensitive lookup by login.
    async fn delegate(&self, login: &str) -> Result<Option<Delegate>>;
    /// The delegates of one box, by login.
    async fn delegates(&self, mailbox: &str) -> Result<Vec<Delegate>>;
    /// `NotFound` for an unknown login. The delegate's password history goes too.
    async fn remove_delegate(&self, login: &str) -> Result<()>;
    /// `NotFound` for an unknown login. Keeps the hash replaced, as
    /// [`Accounts::set_password_hash`] does.
    async fn set_delegate_password_hash(&self, login: &str, hash: &str) -> Result<()>;
    /// Deletes a box and everything that is only its: folders and messages (their blobs
    /// stay, shared by content address), delegates, settings, password history, recovery
    /// tokens, API keys, sends and webhooks. What the provider must keep stays: the legal
    /// log, the relay queue, the tracker and the virus archive name addresses, not boxes.
    /// `NotFound` for an unknown box. Whether a box may go (not while active) is the
    /// caller's decision.
    async fn delete_mailbox(&self, address: &str) -> Result<()>;
}

/// The messages of each mailbox, by folder. The engine's messages arrive through
/// [`Store::commit`] (which creates a missing folder); the mail-access servers (IMAP, POP3,
/// web) work on them with the other methods here.
///
/// Every mailbox implicitly has an INBOX: [`Mailboxes::folder`] and
/// [`Mailboxes::folder_list`] report it (empty) even before anything was delivered, and it
/// cannot be deleted or renamed. Folder names are case-sensitive except `INBOX`, which is
/// matched in any case (and always stored and reported as `INBOX`); the hierarchy separator
/// is `/`. A delivery of [`Store::commit`] to a name the store cannot hold fails the batch
/// with [`StoreError::InvalidName`].
///
/// Every change to a message's flags or to a folder's content raises the folder's modseq.
/// Flags compare ignoring ASCII case and are stored once each, system flags in their usual
/// spelling (`\seen` is stored as `\Seen`), whichever method writes them (commit included).
///
/// The archive rules of [`ARCHIVE_ROOT`] hold for every method: a violation fails with
/// [`StoreError::Immutable`] and changes nothing. A method that adds bytes outside the
/// archive fails with [`StoreError::OverQuota`] (changing nothing) when the box's quota
/// (nonzero) would be exceeded; [`Mailbox::used`] counts only what lies outside the archive.
///
/// The methods that work on a folder (`store_flags`, `expunge`, `copy`, `move_messages`,
/// `append`, `delete_folder`, `rename_folder`) fail with [`StoreError::NotFound`] when the
/// mailbox has no such folder; within a folder, UIDs with no message are skipped.
#[async_trait]
pub trait Mailboxes: Send + Sync {
    /// Messages of one folder, by UID (empty for an unknown mailbox or folder).
    async fn messages(&self, mailbox: &str, folder: &str) -> Result<Vec<StoredMessage>>;
    /// One message of a folder; `None` for an unknown mailbox, folder or UID.
    async fn message(&self, mailbox: &str, folder: &str, uid: u32)
    -> Result<Option<StoredMessage>>;
    /// Every message of the mailbox, in any folder, that carries `identificativo` (the
    /// copy in Sent, the receipts, a busta), by folder name then UID.
    async fn by_identificativo(
        &self,
        mailbox: &str,
        identificativo: &str,
    ) -> Result<Vec<StoredMessage>>;
    /// Every folder of the mailbox, INBOX included, sorted by name (empty for an unknown
    /// mailbox).
    async fn folders(&self, mailbox: &str) -> Result<Vec<String>>;
    /// One folder's counters; `None` if the mailbox or folder does not exist.
    async fn folder(&self, mailbox: &str, name: &str) -> Result<Option<Folder>>;
    /// Every folder with its counters, sorted by name.
    async fn folder_list(&self, mailbox: &str) -> Result<Vec<Folder>>;
    /// Creates an empty folder (parents are not created implicitly: a name is just a name).
    /// `AlreadyExists` if present, `NotFound` for an unknown mailbox, `Immutable` inside the
    /// archive, `InvalidName` for a name the store cannot hold.
    async fn create_folder(&self, mailbox: &str, name: &str, at: i64) -> Result<Folder>;
    /// Deletes a folder and its messages (their bytes leave [`Mailbox::used`]); its inferiors
    /// (`name/...`) stay. `Immutable` for INBOX and the archive.
    async fn delete_folder(&self, mailbox: &str, name: &str) -> Result<()>;
    /// Renames a folder, keeping its messages and UIDs (and its UIDVALIDITY). Its inferiors
    /// move along in the same transaction (`from/x` becomes `to/x`, as IMAP RENAME wants), and
    /// so does the box's [`Mailbox::receipts_folder`] if it named one of them. `Immutable` for
    /// INBOX and for anything inside the archive, either side; `AlreadyExists` if `to` (or the
    /// new name of an inferior) exists; `InvalidName` for a `to` the store cannot hold.
    async fn rename_folder(&self, mailbox: &str, from: &str, to: &str) -> Result<()>;
    /// Replaces the flags of one message; `NotFound` if there is no such message.
    async fn set_flags(
        &self,
        mailbox: &str,
        folder: &str,
        uid: u32,
        flags: &[String],
    ) -> Result<()>;
    /// Changes the flags of the messages with the given UIDs (UIDs with no message are
    /// skipped); each message whose flags change gets a modseq of its own. With
    /// `unchanged_since` (CONDSTORE), a message whose modseq is above it is left alone and
    /// listed in [`FlagsStored::modified`]. Adding `\Deleted` in the archive (with `Add` or
    /// `Replace`) is `Immutable` (other flags may change there).
    async fn store_flags(
        &self,
        mailbox: &str,
        folder: &str,
        uids: &[u32],
        change: FlagChange,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<FlagsStored>;
    /// Removes the messages with the given UIDs (whatever their flags: choosing them is the
    /// caller's job); returns the UIDs removed, ascending. Their bytes leave
    /// [`Mailbox::used`]. `Immutable` in the archive.
    async fn expunge(&self, mailbox: &str, folder: &str, uids: &[u32]) -> Result<Vec<u32>>;
    /// Copies messages into another existing folder (`NotFound` otherwise), each under a
    /// new UID, keeping flags and internal date; returns (source UID, new UID) pairs by
    /// source UID. `Immutable` when `to` is in the archive.
    async fn copy(
        &self,
        mailbox: &str,
        from: &str,
        uids: &[u32],
        to: &str,
    ) -> Result<Vec<(u32, u32)>>;
    /// [`Mailboxes::copy`] then [`Mailboxes::expunge`] of the source, in one transaction.
    /// `Immutable` when either folder is in the archive. Never `OverQuota`: both folders
    /// count, so the box's bytes stay as they were.
    async fn move_messages(
        &self,
        mailbox: &str,
        from: &str,
        uids: &[u32],
        to: &str,
    ) -> Result<Vec<(u32, u32)>>;
    /// Adds one message to an existing folder (no PEC kind, no identificativo); returns
    /// (UIDVALIDITY, UID). `Immutable` in the archive.
    async fn append(&self, mailbox: &str, folder: &str, m: &Appended) -> Result<(u32, u32)>;
}

/// Message bytes, stored once by content address.
#[async_trait]
pub trait Blobs: Send + Sync {
    /// Stores `bytes` durably (on disk and synced) and returns its content address.
    /// Idempotent: the same bytes give the same id.
    async fn put(&self, bytes: &[u8]) -> Result<BlobId>;
    /// The bytes of a blob; `NotFound` for an id that was never stored.
    async fn get(&self, id: &str) -> Result<Vec<u8>>;
}

/// The relay queue (jobs arrive and leave through [`Store::commit`]).
#[async_trait]
pub trait Queue: Send + Sync {
    /// Entries whose `next_attempt <= now`, oldest first (by `next_attempt`, then id).
    async fn due(&self, now: i64, limit: usize) -> Result<Vec<QueueEntry>>;
    /// Every queued entry, by id.
    async fn queued(&self) -> Result<Vec<QueueEntry>>;
    /// Records a failed attempt: `attempts += 1`, new `next_attempt` and error.
    async fn retry_later(&self, id: i64, next_attempt: i64, error: &str) -> Result<()>;
}

/// The sender side's view of every (identificativo, certified recipient) it dispatched
/// (entries and events arrive through [`Store::commit`]).
#[async_trait]
pub trait Tracker: Send + Sync {
    /// Every tracked recipient of a message (empty if we never sent it), by recipient.
    async fn tracked(&self, identificativo: &str) -> Result<Vec<TrackerEntry>>;
    /// Entries with no Consegna, ErroreConsegna, RilevazioneVirus or Scaduto yet, by
    /// `sent_at`.
    async fn open_entries(&self) -> Result<Vec<TrackerEntry>>;
}

/// The hash-chained log of every legally relevant operation (spec §8.3); events arrive
/// through [`Store::commit`].
#[async_trait]
pub trait LegalLog: Send + Sync {
    /// Events about one identificativo, in order.
    async fn events(&self, identificativo: &str) -> Result<Vec<LogEvent>>;
    /// Recomputes every hash from the first retained event on.
    async fn verify_chain(&self) -> Result<ChainReport>;
    /// Deletes events older than `before` (retention), keeping the chain verifiable from the
    /// first retained event (its `prev_hash` becomes the anchor). Returns how many were removed.
    ///
    /// Only a prefix of the chain can go: when instants are not monotonic in `seq` (two
    /// batches that read the clock in one order and committed in the other), deletion stops
    /// at the first event with `at >= before`, so a few older events may outlive the cut.
    async fn prune(&self, before: i64) -> Result<u64>;
    /// How many events of each kind have `at` in `[since, until)`, per hour: (the hour's
    /// first second, kind, count), by hour then kind. For the panel's traffic charts.
    async fn counts(&self, since: i64, until: i64) -> Result<Vec<(i64, String, u64)>>;
    /// Events with `at` in `[since, until)`, by seq: the panel's recent admin actions.
    async fn events_between(&self, since: i64, until: i64) -> Result<Vec<LogEvent>>;
}

/// The archivio dei virus (spec §8.4): messages blocked for a virus, kept for the retention
/// the law sets (30 months); records arrive through [`Store::commit`].
#[async_trait]
pub trait VirusArchive: Send + Sync {
    /// Records with `at` in `[since, until)`, by id.
    async fn virus_records(&self, since: i64, until: i64) -> Result<Vec<VirusRecord>>;
    /// One record; `NotFound` for an unknown id.
    async fn virus_record(&self, id: i64) -> Result<VirusRecord>;
    /// Deletes records older than `before` (retention); returns how many went. Their blobs
    /// stay (blobs are shared by content address).
    async fn prune_virus_archive(&self, before: i64) -> Result<u64>;
}

/// A box's settings for the web, its activation, and its passwords (issue 6). Every method
/// fails with `NotFound` for an unknown box; addresses are matched and stored lowercase and
/// must be `local@domain` (`InvalidSetting` otherwise).
#[async_trait]
pub trait Holders: Send + Sync {
    /// The settings of a box; `None` for an unknown box.
    async fn holder_settings(&self, address: &str) -> Result<Option<HolderSettings>>;
    /// Sets the ordinary-mail policy with its target in one step. `InvalidSetting` when the
    /// target is missing for a policy that needs one or given for one that does not; for
    /// [`OrdinaryMail::Cartella`], `InvalidName` for a folder the store cannot hold and
    /// `Immutable` for one in the archive (INBOX is matched in any case; the folder need not
    /// exist yet, and follows a rename as [`Mailbox::receipts_folder`] does).
    async fn set_ordinary_mail_policy(
        &self,
        address: &str,
        policy: OrdinaryMail,
        target: Option<&str>,
    ) -> Result<()>;
    /// `InvalidSetting` for a blank `nome` or `cognome` or an `email` that is not an address
    /// (the same for [`Holders::activate`]).
    async fn set_holder_profile(&self, address: &str, profile: &HolderProfile) -> Result<()>;
    /// A different address (or none) takes the box's recovery tokens with it: a link sent
    /// to the address the holder replaced must not work.
    async fn set_recovery_address(&self, address: &str, recovery: Option<&str>) -> Result<()>;
    /// `InvalidSetting` for more than [`NOTICE_ADDRESSES`] addresses in either list.
    async fn set_new_pec_notice(&self, address: &str, notice: &NewPecNotice) -> Result<()>;
    async fn set_forward_copy(&self, address: &str, to: Option<&str>) -> Result<()>;
    async fn set_daily_report(&self, address: &str, on: bool) -> Result<()>;

    /// The hashes a login (a box's address or a delegate's login) had before the current
    /// one, newest first, at most [`PASSWORD_HISTORY`]: [`Accounts::set_password_hash`],
    /// [`Accounts::set_delegate_password_hash`] and [`Holders::activate`] keep the hash they
    /// replace. Empty for an unknown login.
    async fn password_history(&self, login: &str) -> Result<Vec<String>>;

    /// Marks a box created in bulk as awaiting activation: the holder must change the
    /// initial password and confirm their data by `deadline` (seed 003).
    async fn require_activation(&self, address: &str, deadline: i64) -> Result<()>;
    /// Activates a box awaiting it, in one step: the new password hash (the initial one goes
    /// to the history), the confirmed profile, the flag and deadline cleared, state
    /// [`MailboxState::Attiva`]; its recovery tokens go, as with
    /// [`Accounts::set_password_hash`]. `NotFound` unless the box is
    /// [`MailboxState::Sospesa`] and awaiting activation.
    async fn activate(&self, address: &str, hash: &str, profile: &HolderProfile) -> Result<()>;
    /// Blocks ([`MailboxState::Bloccata`]) every box still `Sospesa` and awaiting activation
    /// whose deadline is before `now`, in one step (so an activation racing the sweep either
    /// wins or is refused); returns their addresses, sorted.
    async fn block_expired_activations(&self, now: i64) -> Result<Vec<String>>;

    /// Records a password-recovery token for the box (`token_hash`: lowercase hex SHA-256
    /// of a random 256-bit token). `AlreadyExists` for a hash already recorded.
    async fn create_recovery_token(
        &self,
        address: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<()>;
    /// The box an unexpired token (`expires_at` > `now`) was created for, without using the
    /// token up: so that what the holder asks for (a new password) can be checked before
    /// [`Holders::consume_recovery_token`] spends it.
    async fn recovery_token(&self, token_hash: &str, now: i64) -> Result<Option<String>>;
    /// The box a token was created for, if it was and is not expired (`expires_at` >
    /// `now`); the token is gone afterwards either way, so it works once. A token that
    /// works takes every other token of its box with it; expired tokens of every box are
    /// removed too.
    async fn consume_recovery_token(&self, token_hash: &str, now: i64) -> Result<Option<String>>;
}

/// The accounts of the administration panel (seeds 002/004): provider admins and the
/// postmasters of single domains. Logins are matched and stored lowercase, in a name space of
/// their own (the panel's, not mail access's).
#[async_trait]
pub trait Admins: Send + Sync {
    /// `AlreadyExists` for a login taken; `NotFound` for a [`AdminScope::Domain`] whose
    /// domain does not exist.
    async fn create_admin(
        &self,
        login: &str,
        hash: &str,
        scope: &AdminScope,
        at: i64,
    ) -> Result<()>;
    async fn admin(&self, login: &str) -> Result<Option<Admin>>;
    /// Every admin, by login.
    async fn admins(&self) -> Result<Vec<Admin>>;
    /// `NotFound` for an unknown login.
    async fn remove_admin(&self, login: &str) -> Result<()>;
    /// `NotFound` for an unknown login.
    async fn set_admin_password_hash(&self, login: &str, hash: &str) -> Result<()>;
}

/// What the REST API keeps per box (issue 6 §5): keys, sends already made, webhooks.
/// `NotFound` for an unknown box where a box is named.
#[async_trait]
pub trait Api: Send + Sync {
    /// Records a key (by its hash) and returns its id. `AlreadyExists` for a hash already
    /// recorded, revoked or not.
    async fn create_api_key(
        &self,
        mailbox: &str,
        label: &str,
        key_hash: &str,
        at: i64,
    ) -> Result<i64>;
    /// The unrevoked key with this hash, if any.
    async fn api_key(&self, key_hash: &str) -> Result<Option<ApiKey>>;
    /// Every key of a box, revoked ones included, by id.
    async fn api_keys(&self, mailbox: &str) -> Result<Vec<ApiKey>>;
    /// Revokes a key of the box; revoking again keeps the first instant. `NotFound` for an
    /// id that is not one of the box's keys.
    async fn revoke_api_key(&self, mailbox: &str, id: i64, at: i64) -> Result<()>;
    /// The send the box made with this idempotency key (recorded by [`Batch::api_sends`]),
    /// if any, as recorded (the mailbox lowercase).
    async fn api_send(&self, mailbox: &str, key: &str) -> Result<Option<ApiSend>>;
    /// Returns the webhook's id.
    async fn create_webhook(&self, mailbox: &str, url: &str, secret: &str, at: i64) -> Result<i64>;
    /// The webhooks of a box, by id.
    async fn webhooks(&self, mailbox: &str) -> Result<Vec<Webhook>>;
    /// `NotFound` for an id that is not one of the box's webhooks. Its pending events go too.
    async fn delete_webhook(&self, mailbox: &str, id: i64) -> Result<()>;
    /// Takes up to `limit` webhook events due at `now` (`next_attempt <= now`), oldest due
    /// first, and pushes their `next_attempt` to `until` in the same write, so that a second
    /// caller does not take them while the first posts them; an event neither delivered nor
    /// failed by `until` (its taker died) is due again then.
    async fn claim_webhook_events(
        &self,
        now: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<WebhookEvent>>;
    /// The event was posted: it is deleted. Ok if it is gone already (its webhook was
    /// deleted meanwhile).
    async fn webhook_event_delivered(&self, id: i64) -> Result<()>;
    /// A post failed with `error`: one more attempt is counted and the event is due again at
    /// `next_attempt`, or, with `None` (the caller gives up), deleted. Ok if it is gone
    /// already.
    async fn webhook_event_failed(
        &self,
        id: i64,
        next_attempt: Option<i64>,
        error: &str,
    ) -> Result<()>;
}

/// A complete backend.
#[async_trait]
pub trait Store:
    Accounts + Mailboxes + Blobs + Queue + Tracker + LegalLog + VirusArchive + Holders + Admins + Api
{
    /// Applies a batch atomically and durably (see [`Batch`]).
    async fn commit(&self, batch: Batch) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event as the engine logs it, with a `daticert` and without an actor.
    fn accettazione() -> NewLogEvent {
        NewLogEvent {
            at: 1_700_000_000,
            kind: "accettazione".into(),
            identificativo: Some("opec-1@pec.example".into()),
            msgid: Some("<m@client.example>".into()),
            sender: "mittente@pec.example".into(),
            recipients: vec!["a@pec.example".into(), "b@pec.example".into()],
            subject: "Oggetto".into(),
            related: vec!["<r@pec.example>".into()],
            provider: "Gestore di prova".into(),
            detail: None,
            daticert: Some("<postacert/>".into()),
            actor: None,
        }
    }

    #[test]
    fn a_postmaster_manages_its_own_domain_only() {
        let postmaster = AdminScope::Domain("pec.comune.it".into());
        assert!(postmaster.covers("PEC.Comune.it"));
        assert!(!postmaster.covers("pec.altro.it"));
        assert!(!postmaster.covers("comune.it"));
        assert!(AdminScope::Provider.covers("pec.altro.it"));
    }

    /// Chains already written must keep verifying: the encoding is pinned, and the value
    /// without an actor is the one computed before the actor existed.
    #[test]
    fn the_chain_hash_encoding_does_not_change() {
        let e = accettazione();
        assert_eq!(
            chain_hash(GENESIS_HASH, 1, &e),
            "02aa9d8826fe95a422431746a012cb0165099a0801ba570bae622c34d6faa802"
        );
        let by_delegate = NewLogEvent {
            actor: Some("segreteria".into()),
            ..e
        };
        assert_eq!(
            chain_hash(GENESIS_HASH, 1, &by_delegate),
            "0a9e4895497fd42dc8747a067e0c7984d9030d5de6115df7a26fdcd43efadf85"
        );
    }
}
