//! The conformance suite every backend must pass.
//!
//! The engine, the protocol servers and the tools are written against the traits of this
//! crate, not against a backend; this suite is what makes "interchangeable" true. Each check
//! is an async function that drives a store through the public traits only and panics (with
//! what it expected and what it got) at the first divergence, so a backend's test file is a
//! few lines per check — see `crates/store/tests/sqlite.rs`.
//!
//! Every check makes its own fresh names (domains, mailboxes, identificativi, idempotency
//! keys) and looks only at what it wrote, so the checks run in any order on one store, next
//! to each other's data, and again on a store that already holds an earlier run. The one
//! exception is [`legal_log_prune`], which prunes the whole log: [`run_all`] runs it last.
//!
//! The checks of the mail-access contract (folders, flags, the archive, quotas, delegates)
//! live in the `mail_access` submodule, those of the web's (holder settings, activation,
//! passwords, admins, the REST API) in `web`, those of the webhooks' outbox in `webhook`;
//! all are re-exported here.

mod mail_access;
mod web;
mod webhook;

pub use mail_access::{
    append, archive_is_immutable, copy_and_move, delegates, flag_changes, folder_lifecycle,
    folder_names, folders_and_counters, legal_log_actor, mailbox_settings, modseq, quota,
    quota_warning, uids_never_reused, uidvalidity_never_repeats,
};
pub use web::{
    activation, admins, api_keys, api_sends, holder_settings, ordinary_mail_policy,
    password_history, recovery_tokens, webhooks,
};
pub use web::{legal_log_counts, mailbox_deletion};
pub use webhook::{webhook_events, webhook_events_need_a_commit};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::{
    Batch, ChainReport, LogEvent, Mailbox, MailboxKind, MailboxState, NewLogEvent, NewMailbox,
    NewMessage, NewQueueEntry, NewTracker, NewVirusRecord, OrdinaryMail, QueueEntry, QueueRetry,
    Result, Store, StoreError, TrackerEntry, TrackerEvent, TrackerUpdate, VirusPoint, chain_hash,
};

/// An instant in the suite's present (14 November 2023); checks add offsets to it.
const NOW: i64 = 1_700_000_000;

/// Runs every check on one store, in an order that leaves [`legal_log_prune`] last.
pub async fn run_all(store: Arc<dyn Store>) {
    accounts(&*store).await;
    mailboxes_and_uids(&*store).await;
    message_lookup(&*store).await;
    blobs(&*store).await;
    queue(&*store).await;
    tracker(&*store).await;
    legal_log(&*store).await;
    batch_atomicity(&*store).await;
    idempotency(&*store).await;
    concurrent_commits(Arc::clone(&store)).await;
    folders_and_counters(&*store).await;
    folder_lifecycle(&*store).await;
    folder_names(&*store).await;
    uidvalidity_never_repeats(&*store).await;
    uids_never_reused(&*store).await;
    modseq(&*store).await;
    flag_changes(&*store).await;
    archive_is_immutable(&*store).await;
    quota(&*store).await;
    quota_warning(&*store).await;
    copy_and_move(&*store).await;
    append(&*store).await;
    delegates(&*store).await;
    mailbox_settings(&*store).await;
    legal_log_actor(&*store).await;
    holder_settings(&*store).await;
    ordinary_mail_policy(&*store).await;
    password_history(&*store).await;
    activation(&*store).await;
    recovery_tokens(&*store).await;
    admins(&*store).await;
    api_keys(&*store).await;
    api_sends(&*store).await;
    webhooks(&*store).await;
    webhook_events(&*store).await;
    webhook_events_need_a_commit(&*store).await;
    mailbox_deletion(&*store).await;
    legal_log_counts(&*store).await;
    legal_log_prune(&*store).await;
    virus_archive(&*store).await;
}

// ---------------------------------------------------------------------------------------
// Helpers

/// A name no other check, and no earlier run, has used: `what`, then the clock in
/// nanoseconds and a counter, all lowercase.
fn fresh(what: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{what}-{nanos:x}-{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh domain name, e.g. `dom-17a…-3.example`.
fn fresh_domain() -> String {
    format!("{}.example", fresh("dom"))
}

/// The value of `r`, or a panic that says what was being done.
#[track_caller]
fn ok<T>(r: Result<T>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e}"),
    }
}

/// Panics unless `r` failed with `NotFound`.
#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(r: Result<T>, what: &str) {
    match r {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Panics unless `r` failed with `AlreadyExists`.
#[track_caller]
fn assert_already_exists<T: std::fmt::Debug>(r: Result<T>, what: &str) {
    match r {
        Err(StoreError::AlreadyExists(_)) => {}
        other => panic!("{what}: expected AlreadyExists, got {other:?}"),
    }
}

/// Panics unless `r` failed with `Duplicate(key)`.
#[track_caller]
fn assert_duplicate<T: std::fmt::Debug>(r: Result<T>, key: &str, what: &str) {
    match r {
        Err(StoreError::Duplicate(k)) if k == key => {}
        other => panic!("{what}: expected Duplicate({key:?}), got {other:?}"),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn is_lower_hex_64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Creates a fresh domain with one active mailbox in it and returns the address.
async fn fresh_mailbox(store: &dyn Store, quota: u64) -> String {
    let domain = fresh_domain();
    ok(store.create_domain(&domain, NOW).await, "creating a domain");
    let address = format!("casella@{domain}");
    let m = NewMailbox {
        address: address.clone(),
        kind: MailboxKind::Standard,
        state: MailboxState::Attiva,
        quota,
        ordinary_mail: OrdinaryMail::Rifiuta,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
    };
    ok(store.create_mailbox(&m, NOW).await, "creating a mailbox");
    address
}

/// A plain log event about `identificativo`.
fn event(at: i64, kind: &str, identificativo: &str) -> NewLogEvent {
    NewLogEvent {
        at,
        kind: kind.into(),
        identificativo: Some(identificativo.into()),
        msgid: Some(format!("<{identificativo}@client.example>")),
        sender: "mittente@pec.example".into(),
        recipients: vec!["destinatario@pec.example".into()],
        subject: "Fattura n. 1".into(),
        related: vec![format!("{identificativo}-rel@pec.example")],
        provider: "Gestore di prova".into(),
        detail: None,
        daticert: None,
        actor: None,
    }
}

fn message(mailbox: &str, folder: &str, size: u64, identificativo: &str) -> NewMessage {
    NewMessage {
        mailbox: mailbox.into(),
        folder: folder.into(),
        blob: sha256_hex(identificativo.as_bytes()),
        size,
        flags: Vec::new(),
        kind: Some("posta-certificata".into()),
        identificativo: Some(identificativo.into()),
    }
}

fn queue_entry(domain: &str, next_attempt: i64, identificativo: &str) -> NewQueueEntry {
    NewQueueEntry {
        blob: sha256_hex(identificativo.as_bytes()),
        mail_from: "posta-certificata@pec.example".into(),
        rcpt_to: vec![format!("b@{domain}"), format!("a@{domain}")],
        domain: domain.into(),
        next_attempt,
        identificativo: Some(identificativo.into()),
    }
}

fn uids(messages: &[crate::StoredMessage]) -> Vec<u32> {
    messages.iter().map(|m| m.uid).collect()
}

async fn queued_to(store: &dyn Store, domain: &str) -> Vec<QueueEntry> {
    let all = ok(store.queued().await, "listing the queue");
    all.into_iter().filter(|e| e.domain == domain).collect()
}

async fn open_of(store: &dyn Store, identificativo: &str) -> Vec<TrackerEntry> {
    let all = ok(store.open_entries().await, "listing open tracker entries");
    all.into_iter()
        .filter(|e| e.identificativo == identificativo)
        .collect()
}

async fn intact_events(store: &dyn Store, what: &str) -> u64 {
    match ok(store.verify_chain().await, what) {
        ChainReport::Intact { events } => events,
        broken => panic!("{what}: chain not intact: {broken:?}"),
    }
}

/// Checks that `events` are linked to each other where their seqs are consecutive and that
/// each hash is [`chain_hash`] of its content.
#[track_caller]
fn assert_hashes(events: &[LogEvent]) {
    for e in events {
        assert!(
            is_lower_hex_64(&e.hash),
            "hash of event {} is not lowercase hex: {}",
            e.seq,
            e.hash
        );
        assert_eq!(
            e.hash,
            chain_hash(&e.prev_hash, e.seq, &e.event),
            "hash of event {}",
            e.seq
        );
    }
    for pair in events.windows(2) {
        assert!(
            pair[0].seq < pair[1].seq,
            "events out of order: {} then {}",
            pair[0].seq,
            pair[1].seq
        );
        if pair[1].seq == pair[0].seq + 1 {
            assert_eq!(
                pair[1].prev_hash, pair[0].hash,
                "link from event {} to {}",
                pair[0].seq, pair[1].seq
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Checks

/// Domains and mailboxes: creation, case-insensitive names, listing order, the setters and
/// their errors.
pub async fn accounts(store: &dyn Store) {
    let domain = fresh_domain();
    let upper = domain.to_ascii_uppercase();
    ok(store.create_domain(&upper, NOW).await, "creating a domain");
    let domains = ok(store.domains().await, "listing domains");
    assert!(
        domains.contains(&domain),
        "domain stored lowercase: {domains:?}"
    );
    assert!(
        !domains.contains(&upper),
        "domain stored lowercase: {domains:?}"
    );
    assert!(
        domains.windows(2).all(|w| w[0] < w[1]),
        "domains sorted and unique: {domains:?}"
    );
    assert_already_exists(
        store.create_domain(&domain, NOW).await,
        "creating a domain twice",
    );

    let new = NewMailbox {
        address: format!("Mario.Rossi@{upper}"),
        kind: MailboxKind::Pro,
        state: MailboxState::Sospesa,
        quota: 1_000_000,
        ordinary_mail: OrdinaryMail::Anomalia,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
    };
    ok(
        store.create_mailbox(&new, NOW + 1).await,
        "creating a mailbox",
    );
    let address = format!("mario.rossi@{domain}");
    let expected = Mailbox {
        address: address.clone(),
        domain: domain.clone(),
        kind: MailboxKind::Pro,
        state: MailboxState::Sospesa,
        quota: 1_000_000,
        used: 0,
        ordinary_mail: OrdinaryMail::Anomalia,
        password_hash: new.password_hash.clone(),
        created_at: NOW + 1,
        receipts_folder: None,
        protocol_account: None,
        quota_warned: false,
    };
    let got = ok(store.mailbox(&address).await, "reading a mailbox");
    assert_eq!(got.as_ref(), Some(&expected), "mailbox as created");
    let got = ok(
        store.mailbox(&address.to_ascii_uppercase()).await,
        "reading a mailbox",
    );
    assert_eq!(got.as_ref(), Some(&expected), "mailbox lookup ignores case");

    let again = NewMailbox {
        address: address.to_ascii_uppercase(),
        ..new.clone()
    };
    assert_already_exists(
        store.create_mailbox(&again, NOW).await,
        "creating a mailbox twice",
    );
    let elsewhere = NewMailbox {
        address: format!("mario@{}", fresh_domain()),
        ..new.clone()
    };
    assert_not_found(
        store.create_mailbox(&elsewhere, NOW).await,
        "creating a mailbox in an unknown domain",
    );
    let no_domain = NewMailbox {
        address: "senza-dominio".into(),
        ..new.clone()
    };
    assert_not_found(
        store.create_mailbox(&no_domain, NOW).await,
        "creating a mailbox without a domain",
    );

    let anna = NewMailbox {
        address: format!("anna@{domain}"),
        kind: MailboxKind::Multiutenza,
        state: MailboxState::Attiva,
        quota: 0,
        ordinary_mail: OrdinaryMail::Rifiuta,
        password_hash: String::new(),
    };
    ok(
        store.create_mailbox(&anna, NOW + 2).await,
        "creating a second mailbox",
    );
    let of_domain = ok(
        store.mailboxes(Some(&upper)).await,
        "listing a domain's mailboxes",
    );
    let names: Vec<&str> = of_domain.iter().map(|m| m.address.as_str()).collect();
    assert_eq!(
        names,
        [anna.address.as_str(), address.as_str()],
        "a domain's mailboxes by address"
    );
    let all = ok(store.mailboxes(None).await, "listing all mailboxes");
    assert!(
        all.windows(2).all(|w| w[0].address < w[1].address),
        "all mailboxes by address"
    );
    assert!(
        all.iter().any(|m| m.address == address),
        "all mailboxes include {address}"
    );
    let none = ok(
        store.mailboxes(Some(&fresh_domain())).await,
        "listing an unknown domain",
    );
    assert!(
        none.is_empty(),
        "an unknown domain has no mailboxes: {none:?}"
    );
    let missing = ok(
        store.mailbox(&format!("nessuno@{domain}")).await,
        "reading a missing mailbox",
    );
    assert_eq!(missing, None, "a missing mailbox");

    let shout = address.to_ascii_uppercase();
    ok(
        store.set_password_hash(&shout, "$argon2id$nuovo").await,
        "setting a password hash",
    );
    ok(
        store.set_state(&shout, MailboxState::Attiva).await,
        "setting the state",
    );
    let big = u64::try_from(i64::MAX).unwrap_or(u64::MAX);
    ok(store.set_quota(&shout, big).await, "setting the quota");
    ok(
        store.set_ordinary_mail(&shout, OrdinaryMail::Rifiuta).await,
        "setting the policy",
    );
    ok(
        store.set_kind(&shout, MailboxKind::Multiutenza).await,
        "setting the kind",
    );
    let got = ok(store.mailbox(&address).await, "reading a mailbox");
    let changed = Mailbox {
        kind: MailboxKind::Multiutenza,
        state: MailboxState::Attiva,
        quota: big,
        ordinary_mail: OrdinaryMail::Rifiuta,
        password_hash: "$argon2id$nuovo".into(),
        ..expected
    };
    assert_eq!(got, Some(changed), "mailbox after the setters");

    let ghost = format!("fantasma@{domain}");
    assert_not_found(
        store.set_password_hash(&ghost, "x").await,
        "set_password_hash of nobody",
    );
    assert_not_found(
        store.set_state(&ghost, MailboxState::Bloccata).await,
        "set_state of nobody",
    );
    assert_not_found(store.set_quota(&ghost, 1).await, "set_quota of nobody");
    assert_not_found(
        store.set_kind(&ghost, MailboxKind::Pro).await,
        "set_kind of nobody",
    );
    assert_not_found(
        store
            .set_ordinary_mail(&ghost, OrdinaryMail::Anomalia)
            .await,
        "set_ordinary_mail of nobody",
    );
}

/// Deliveries: UIDs from 1 per (mailbox, folder), dense across batches, the `used` count,
/// `received_at` from the batch's first log event, folders, flags.
pub async fn mailboxes_and_uids(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let other = fresh_mailbox(store, 0).await;
    let id = fresh("uid");
    let mut first = message(&mailbox.to_ascii_uppercase(), "INBOX", 10, &id);
    first.kind = None;
    first.identificativo = None;
    let mut second = message(&mailbox, "INBOX", 20, &id);
    second.flags = vec!["\\Seen".into()];
    let mut third = message(&mailbox, "INBOX", 30, &id);
    third.flags = vec!["\\Seen".into(), "$Etichetta".into()];
    let batch = Batch {
        deliveries: vec![
            first.clone(),
            second.clone(),
            third.clone(),
            message(&other, "INBOX", 5, &id),
        ],
        log: vec![event(NOW + 100, "consegna-mailbox", &id)],
        ..Batch::default()
    };
    ok(store.commit(batch).await, "delivering three messages");
    let got = ok(store.messages(&mailbox, "INBOX").await, "listing INBOX");
    assert_eq!(uids(&got), [1, 2, 3], "UIDs of the first batch");
    for (m, sent) in got.iter().zip([&first, &second, &third]) {
        assert_eq!(m.mailbox, mailbox, "mailbox stored lowercase");
        assert_eq!(m.folder, "INBOX");
        assert_eq!(m.blob, sent.blob);
        assert_eq!(m.size, sent.size);
        assert_eq!(m.flags, sent.flags, "flags of UID {}", m.uid);
        assert_eq!(m.kind, sent.kind);
        assert_eq!(m.identificativo, sent.identificativo);
        assert_eq!(
            m.received_at,
            NOW + 100,
            "received_at is the batch's first log event"
        );
    }
    let in_other = ok(
        store.messages(&other, "INBOX").await,
        "listing another INBOX",
    );
    assert_eq!(uids(&in_other), [1], "each mailbox counts its own UIDs");

    let batch = Batch {
        deliveries: vec![
            message(&mailbox, "INBOX", 40, &id),
            message(&mailbox, "Archivio", 50, &id),
        ],
        log: vec![
            event(NOW + 200, "consegna-mailbox", &id),
            event(NOW + 300, "relay", &id),
        ],
        ..Batch::default()
    };
    ok(store.commit(batch).await, "delivering to two folders");
    let inbox = ok(
        store.messages(&mailbox.to_ascii_uppercase(), "INBOX").await,
        "listing INBOX",
    );
    assert_eq!(uids(&inbox), [1, 2, 3, 4], "UIDs continue across batches");
    assert_eq!(
        inbox[3].received_at,
        NOW + 200,
        "received_at is the batch's first log event"
    );
    let archive = ok(
        store.messages(&mailbox, "Archivio").await,
        "listing Archivio",
    );
    assert_eq!(uids(&archive), [1], "each folder counts its own UIDs");
    let folders = ok(
        store.folders(&mailbox.to_ascii_uppercase()).await,
        "listing folders",
    );
    assert_eq!(folders, ["Archivio", "INBOX"], "folders, sorted");
    let used = ok(store.mailbox(&mailbox).await, "reading a mailbox").map(|m| m.used);
    assert_eq!(
        used,
        Some(100),
        "used counts every byte delivered outside the archive"
    );

    let flags = vec!["\\Answered".to_string(), "\\Seen".to_string()];
    ok(
        store
            .set_flags(&mailbox.to_ascii_uppercase(), "INBOX", 2, &flags)
            .await,
        "setting flags",
    );
    let inbox = ok(store.messages(&mailbox, "INBOX").await, "listing INBOX");
    assert_eq!(inbox[1].flags, flags, "flags replaced");
    assert_eq!(
        inbox[2].flags, third.flags,
        "other messages keep their flags"
    );
    ok(
        store.set_flags(&mailbox, "INBOX", 2, &[]).await,
        "clearing flags",
    );
    let inbox = ok(store.messages(&mailbox, "INBOX").await, "listing INBOX");
    assert!(
        inbox[1].flags.is_empty(),
        "flags cleared: {:?}",
        inbox[1].flags
    );
    assert_not_found(
        store.set_flags(&mailbox, "INBOX", 99, &flags).await,
        "flags of a missing UID",
    );
    assert_not_found(
        store.set_flags(&mailbox, "Nessuna", 1, &flags).await,
        "flags in a missing folder",
    );

    let nobody = format!("nessuno@{}", fresh_domain());
    assert!(ok(store.messages(&nobody, "INBOX").await, "messages of nobody").is_empty());
    assert!(ok(store.folders(&nobody).await, "folders of nobody").is_empty());
    assert!(ok(store.messages(&mailbox, "Nessuna").await, "an empty folder").is_empty());
}

/// One message by UID, and every message of a transaction across folders: only the box's
/// own, by folder then UID, with their flags; nothing for unknown names.
pub async fn message_lookup(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let other = fresh_mailbox(store, 0).await;
    let id = fresh("lookup");
    let unrelated = fresh("lookup-other");
    let mut sent = message(&mailbox, "Sent", 10, &id);
    sent.kind = None;
    sent.flags = vec!["\\Seen".into()];
    let mut receipt = message(&mailbox, "INBOX", 20, &id);
    receipt.kind = Some("accettazione".into());
    let batch = Batch {
        deliveries: vec![
            sent.clone(),
            message(&mailbox, "INBOX", 5, &unrelated),
            receipt.clone(),
            message(&other, "INBOX", 7, &id),
        ],
        log: vec![event(NOW + 10, "accettazione", &id)],
        ..Batch::default()
    };
    ok(store.commit(batch).await, "delivering a transaction");

    let got = ok(
        store
            .message(&mailbox.to_ascii_uppercase(), "INBOX", 2)
            .await,
        "reading one message",
    )
    .expect("INBOX UID 2 exists");
    assert_eq!(
        (got.uid, got.kind.as_deref(), got.size),
        (2, Some("accettazione"), 20)
    );
    let got =
        ok(store.message(&mailbox, "Sent", 1).await, "reading Sent").expect("Sent UID 1 exists");
    assert_eq!(got.flags, sent.flags, "flags come along");
    assert_eq!(got.received_at, NOW + 10);
    for (folder, uid) in [("INBOX", 3), ("Nessuna", 1)] {
        assert!(
            ok(
                store.message(&mailbox, folder, uid).await,
                "a missing message"
            )
            .is_none(),
            "{folder}/{uid} does not exist"
        );
    }

    let all = ok(
        store.by_identificativo(&mailbox, &id).await,
        "finding a transaction",
    );
    let found: Vec<_> = all.iter().map(|m| (m.folder.as_str(), m.uid)).collect();
    assert_eq!(
        found,
        [("INBOX", 2), ("Sent", 1)],
        "by folder then UID, only this box's"
    );
    assert_eq!(all[1].flags, sent.flags);
    assert!(
        ok(
            store.by_identificativo(&mailbox, "nessuno").await,
            "unknown"
        )
        .is_empty(),
        "an unknown identificativo has nothing"
    );
}

/// Blobs: content addresses, idempotent puts, the empty blob, a large one, missing and
/// malformed ids.
pub async fn blobs(store: &dyn Store) {
    let bytes = format!(
        "Subject: prova {}\r\n\r\nCorpo \u{e8} UTF-8\r\n",
        fresh("blob")
    )
    .into_bytes();
    let id = ok(store.put(&bytes).await, "putting a blob");
    assert!(
        is_lower_hex_64(&id),
        "blob id is lowercase hex SHA-256: {id}"
    );
    assert_eq!(
        id,
        sha256_hex(&bytes),
        "blob id is the SHA-256 of the bytes"
    );
    assert_eq!(ok(store.get(&id).await, "getting a blob"), bytes);
    assert_eq!(
        ok(store.put(&bytes).await, "putting a blob again"),
        id,
        "put is idempotent"
    );
    assert_eq!(ok(store.get(&id).await, "getting a blob again"), bytes);

    let empty = ok(store.put(b"").await, "putting the empty blob");
    assert_eq!(empty, sha256_hex(b""));
    assert!(ok(store.get(&empty).await, "getting the empty blob").is_empty());

    let mut large = fresh("large").into_bytes();
    large.extend((0..2_000_000_u32).map(|i| (i % 251) as u8));
    let large_id = ok(store.put(&large).await, "putting a large blob");
    assert_eq!(
        ok(store.get(&large_id).await, "getting a large blob"),
        large
    );

    let never = sha256_hex(fresh("never stored").as_bytes());
    assert_not_found(store.get(&never).await, "getting a blob never stored");
    assert_not_found(
        store.get("../../etc/passwd").await,
        "getting a malformed blob id",
    );
    assert_not_found(store.get("").await, "getting the empty id");
}

/// The relay queue: enqueue through a batch, `due` order and limit, `retry_later`,
/// dequeue, ids never reused.
pub async fn queue(store: &dyn Store) {
    let domain = fresh_domain();
    let id = fresh("queue");
    let batch = Batch {
        enqueue: vec![
            NewQueueEntry {
                domain: domain.to_ascii_uppercase(),
                ..queue_entry(&domain, 100, &id)
            },
            queue_entry(&domain, 50, &id),
            queue_entry(&domain, 200, &id),
        ],
        log: vec![event(NOW, "posta-certificata", &id)],
        ..Batch::default()
    };
    ok(store.commit(batch).await, "queueing three jobs");
    let queued = queued_to(store, &domain).await;
    assert_eq!(queued.len(), 3, "three jobs queued: {queued:?}");
    assert!(queued.windows(2).all(|w| w[0].id < w[1].id), "queued by id");
    let wanted = queue_entry(&domain, 0, &id);
    for (e, next) in queued.iter().zip([100, 50, 200]) {
        assert_eq!(e.domain, domain, "domain stored lowercase");
        assert_eq!(e.next_attempt, next);
        assert_eq!(e.attempts, 0);
        assert_eq!(e.last_error, None);
        assert_eq!(
            e.created_at, NOW,
            "created_at is the batch's first log event"
        );
        assert_eq!(e.rcpt_to, wanted.rcpt_to, "recipients in order");
        assert_eq!(e.mail_from, wanted.mail_from);
        assert_eq!(e.blob, wanted.blob);
        assert_eq!(e.identificativo, wanted.identificativo);
    }
    let (id100, id50, id200) = (queued[0].id, queued[1].id, queued[2].id);

    let due: Vec<QueueEntry> = ok(store.due(150, 1000).await, "listing due jobs")
        .into_iter()
        .filter(|e| e.domain == domain)
        .collect();
    let order: Vec<i64> = due.iter().map(|e| e.id).collect();
    assert_eq!(
        order,
        [id50, id100],
        "due: next_attempt <= now, oldest first"
    );
    assert_eq!(
        due[0].rcpt_to, wanted.rcpt_to,
        "due entries carry their recipients"
    );
    assert_eq!(
        ok(store.due(150, 1).await, "listing one due job").len(),
        1,
        "due honours the limit"
    );

    ok(
        store.retry_later(id50, 300, "451 4.3.0 riprovare").await,
        "recording a failure",
    );
    ok(
        store.retry_later(id50, 400, "421 4.4.2 timeout").await,
        "recording a failure",
    );
    let queued = queued_to(store, &domain).await;
    let retried = queued.iter().find(|e| e.id == id50);
    assert_eq!(
        retried.map(|e| (e.attempts, e.next_attempt, e.last_error.as_deref())),
        Some((2, 400, Some("421 4.4.2 timeout"))),
        "retry_later counts attempts and keeps the last error"
    );
    let due: Vec<i64> = ok(store.due(150, 1000).await, "listing due jobs")
        .into_iter()
        .filter(|e| e.domain == domain)
        .map(|e| e.id)
        .collect();
    assert_eq!(due, [id100], "a retried job waits for its new next_attempt");
    assert_not_found(
        store.retry_later(i64::MAX, 1, "x").await,
        "retry_later of a missing job",
    );

    // A job that reached one recipient keeps the other, its id, age and attempts.
    let keep = vec![format!("a@{domain}")];
    let narrow = |id: i64| Batch {
        retry: vec![QueueRetry {
            id,
            rcpt_to: keep.clone(),
            next_attempt: 500,
            error: "a: 452 4.2.2 casella piena".into(),
        }],
        log: vec![event(NOW + 10, "relay", &id.to_string())],
        ..Batch::default()
    };
    assert_not_found(
        store.commit(narrow(i64::MAX)).await,
        "narrowing a missing job",
    );
    ok(store.commit(narrow(id50)).await, "narrowing a job");
    let narrowed = queued_to(store, &domain)
        .await
        .into_iter()
        .find(|e| e.id == id50)
        .expect("the narrowed job keeps its id");
    assert_eq!(narrowed.rcpt_to, keep, "only the recipients left");
    assert_eq!(
        (
            narrowed.attempts,
            narrowed.next_attempt,
            narrowed.created_at
        ),
        (3, 500, NOW),
        "one more attempt, the new next attempt, the same age"
    );
    assert_eq!(
        narrowed.last_error.as_deref(),
        Some("a: 452 4.2.2 casella piena")
    );

    let batch = Batch {
        dequeue: vec![id100, i64::MAX],
        ..Batch::default()
    };
    ok(
        store.commit(batch).await,
        "dequeueing a job and a missing one",
    );
    let left: Vec<i64> = queued_to(store, &domain)
        .await
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, [id50, id200], "dequeued job gone");

    let batch = Batch {
        dequeue: vec![id50, id200],
        enqueue: vec![queue_entry(&domain, 10, &id)],
        ..Batch::default()
    };
    ok(
        store.commit(batch).await,
        "dequeueing the rest and queueing anew",
    );
    let left = queued_to(store, &domain).await;
    assert_eq!(left.len(), 1, "only the new job is left: {left:?}");
    assert!(
        left[0].id > id200,
        "a new job gets a new id, never a reused one"
    );
    assert_eq!(
        left[0].created_at, 10,
        "without log events created_at is next_attempt"
    );
    let batch = Batch {
        dequeue: vec![left[0].id],
        ..Batch::default()
    };
    ok(store.commit(batch).await, "dequeueing the last job");
    assert!(
        queued_to(store, &domain).await.is_empty(),
        "queue of {domain} empty"
    );
}

/// The tracker: entries, lowercase recipients, first-instant events, open entries, and a
/// batch that fails on an event for an untracked recipient.
pub async fn tracker(store: &dyn Store) {
    let id = fresh("tracker");
    let (uno, due) = ("uno@pec.example", "due@pec.example");
    let batch = Batch {
        track: vec![
            NewTracker {
                identificativo: id.clone(),
                recipient: uno.to_ascii_uppercase(),
                mittente: "mittente@pec.example".into(),
                sent_at: NOW,
            },
            NewTracker {
                identificativo: id.clone(),
                recipient: due.into(),
                mittente: "mittente@pec.example".into(),
                sent_at: NOW,
            },
        ],
        log: vec![event(NOW, "posta-certificata", &id)],
        ..Batch::default()
    };
    ok(store.commit(batch).await, "tracking two recipients");
    let entries = ok(store.tracked(&id).await, "reading the tracker");
    let recipients: Vec<&str> = entries.iter().map(|e| e.recipient.as_str()).collect();
    assert_eq!(
        recipients,
        [due, uno],
        "tracked recipients, lowercase, by recipient"
    );
    assert!(
        entries
            .iter()
            .all(|e| e.events.is_empty() && e.sent_at == NOW)
    );
    assert!(entries.iter().all(|e| e.mittente == "mittente@pec.example"));

    let again = Batch {
        track: vec![NewTracker {
            identificativo: id.clone(),
            recipient: uno.into(),
            mittente: "altro@pec.example".into(),
            sent_at: NOW + 1,
        }],
        ..Batch::default()
    };
    ok(store.commit(again).await, "tracking a recipient again");
    assert_eq!(
        ok(store.tracked(&id).await, "reading the tracker"),
        entries,
        "tracking again changes nothing"
    );

    let update = |recipient: &str, event: TrackerEvent, at: i64| TrackerUpdate {
        identificativo: id.clone(),
        recipient: recipient.into(),
        event,
        at,
    };
    let commit_events = |updates: Vec<TrackerUpdate>| Batch {
        tracker_events: updates,
        ..Batch::default()
    };
    ok(
        store
            .commit(commit_events(vec![update(
                uno,
                TrackerEvent::PresaInCarico,
                NOW + 10,
            )]))
            .await,
        "recording a presa in carico",
    );
    ok(
        store
            .commit(commit_events(vec![update(
                uno,
                TrackerEvent::PresaInCarico,
                NOW + 20,
            )]))
            .await,
        "recording a later duplicate",
    );
    let at = |entries: &[TrackerEntry], who: &str, event: TrackerEvent| {
        entries
            .iter()
            .find(|e| e.recipient == who)
            .and_then(|e| e.at(event))
    };
    let entries = ok(store.tracked(&id).await, "reading the tracker");
    assert_eq!(
        at(&entries, uno, TrackerEvent::PresaInCarico),
        Some(NOW + 10),
        "a later duplicate is ignored"
    );
    ok(
        store
            .commit(commit_events(vec![update(
                uno,
                TrackerEvent::PresaInCarico,
                NOW + 5,
            )]))
            .await,
        "recording an earlier duplicate",
    );
    let entries = ok(store.tracked(&id).await, "reading the tracker");
    assert_eq!(
        at(&entries, uno, TrackerEvent::PresaInCarico),
        Some(NOW + 5),
        "the earliest instant counts"
    );

    ok(
        store
            .commit(commit_events(vec![update(
                due,
                TrackerEvent::Preavviso,
                NOW + 43_200,
            )]))
            .await,
        "recording a preavviso",
    );
    let open: Vec<String> = open_of(store, &id)
        .await
        .into_iter()
        .map(|e| e.recipient)
        .collect();
    assert_eq!(
        open.len(),
        2,
        "presa in carico and preavviso leave entries open: {open:?}"
    );

    ok(
        store
            .commit(commit_events(vec![update(
                &uno.to_ascii_uppercase(),
                TrackerEvent::Consegna,
                NOW + 30,
            )]))
            .await,
        "recording a consegna",
    );
    let open: Vec<String> = open_of(store, &id)
        .await
        .into_iter()
        .map(|e| e.recipient)
        .collect();
    assert_eq!(open, [due], "a consegna closes the entry");

    // A batch with one good and one unknown event fails whole.
    let bad = commit_events(vec![
        update(due, TrackerEvent::ErroreConsegna, NOW + 40),
        update("nessuno@pec.example", TrackerEvent::Consegna, NOW + 40),
    ]);
    assert_not_found(
        store.commit(bad).await,
        "an event for an untracked recipient",
    );
    let entries = ok(store.tracked(&id).await, "reading the tracker");
    assert_eq!(
        at(&entries, due, TrackerEvent::ErroreConsegna),
        None,
        "the failed batch left nothing"
    );

    ok(
        store
            .commit(commit_events(vec![update(
                due,
                TrackerEvent::Scaduto,
                NOW + 86_400,
            )]))
            .await,
        "recording the 24-hour notice",
    );
    assert!(
        open_of(store, &id).await.is_empty(),
        "scaduto closes the entry"
    );
    let entries = ok(store.tracked(&id).await, "reading the tracker");
    assert_eq!(at(&entries, uno, TrackerEvent::Consegna), Some(NOW + 30));
    assert_eq!(
        at(&entries, due, TrackerEvent::Preavviso),
        Some(NOW + 43_200)
    );
    assert_eq!(at(&entries, due, TrackerEvent::Scaduto), Some(NOW + 86_400));
    assert_eq!(
        entries.iter().map(|e| e.events.len()).sum::<usize>(),
        4,
        "events: {entries:?}"
    );

    // Tracking and an event in one batch; errore-consegna and rilevazione-virus close too.
    let late = fresh("tracker");
    let early = fresh("tracker");
    let entry = |identificativo: &str, recipient: &str, sent_at: i64| NewTracker {
        identificativo: identificativo.into(),
        recipient: recipient.into(),
        mittente: "mittente@pec.example".into(),
        sent_at,
    };
    let batch = Batch {
        track: vec![
            entry(&late, uno, NOW + 500),
            entry(&late, due, NOW + 500),
            entry(&early, uno, NOW - 500),
        ],
        tracker_events: vec![
            TrackerUpdate {
                identificativo: late.clone(),
                recipient: uno.into(),
                event: TrackerEvent::ErroreConsegna,
                at: NOW + 501,
            },
            TrackerUpdate {
                identificativo: late.clone(),
                recipient: due.into(),
                event: TrackerEvent::RilevazioneVirus,
                at: NOW + 502,
            },
        ],
        ..Batch::default()
    };
    ok(
        store.commit(batch).await,
        "tracking and recording in one batch",
    );
    assert!(
        open_of(store, &late).await.is_empty(),
        "errore-consegna and rilevazione-virus close entries"
    );
    let open = ok(store.open_entries().await, "listing open tracker entries");
    assert!(
        open.windows(2).all(|w| w[0].sent_at <= w[1].sent_at),
        "open entries by sent_at"
    );
    assert!(
        open.iter().any(|e| e.identificativo == early),
        "an untouched entry is open"
    );
    assert!(ok(store.tracked(&fresh("tracker")).await, "an unknown message").is_empty());
}

/// The legal log: events come back exactly as written (lists, optional fields, any text),
/// linked and hashed with [`chain_hash`], and the chain verifies.
pub async fn legal_log(store: &dyn Store) {
    let id = fresh("log");
    let full = NewLogEvent {
        at: NOW,
        kind: "accettazione".into(),
        identificativo: Some(id.clone()),
        msgid: Some("<abc@client.example>".into()),
        sender: "Mario.Rossi@pec.example".into(),
        recipients: vec![
            "a@pec.example".into(),
            "b, \"c\"\n@strano.example".into(),
            "a@pec.example".into(),
        ],
        subject:
            "Oggetto: \u{e0}\u{e8}\u{ec}\u{f2}\u{f9} \u{20ac}\r\nriga due\t\u{1f600} | ; \\ \0"
                .into(),
        related: vec!["<r1@pec.example>".into(), "<r2@pec.example>".into()],
        provider: "Gestore di prova S.p.A.".into(),
        detail: Some("250 2.0.0 Ok: queued as 1234\nsecond line".into()),
        daticert: Some(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<postacert tipo=\"accettazione\"/>".into(),
        ),
        actor: Some("segreteria.rossi".into()),
    };
    let bare = NewLogEvent {
        at: NOW + 1,
        kind: "relay".into(),
        identificativo: Some(id.clone()),
        msgid: None,
        sender: String::new(),
        recipients: Vec::new(),
        subject: String::new(),
        related: Vec::new(),
        provider: String::new(),
        detail: Some(String::new()),
        daticert: None,
        actor: None,
    };
    let third = event(NOW + 2, "avvenuta-consegna", &id);
    let other = event(NOW + 2, "avvenuta-consegna", &fresh("log"));
    let batch = Batch {
        log: vec![full.clone(), bare.clone()],
        ..Batch::default()
    };
    ok(store.commit(batch).await, "logging two events");
    let batch = Batch {
        log: vec![other, third.clone()],
        ..Batch::default()
    };
    ok(store.commit(batch).await, "logging two more");

    let events = ok(store.events(&id).await, "reading events");
    let written: Vec<&NewLogEvent> = events.iter().map(|e| &e.event).collect();
    assert_eq!(
        written,
        [&full, &bare, &third],
        "events as written, in order"
    );
    assert_eq!(
        events[1].seq,
        events[0].seq + 1,
        "a batch's events are consecutive"
    );
    assert_eq!(
        events[2].seq,
        events[1].seq + 2,
        "the other event sits in between"
    );
    assert_hashes(&events);
    assert_ne!(events[0].hash, events[1].hash);
    assert!(ok(store.events(&fresh("log")).await, "events of nothing").is_empty());
    let total = intact_events(store, "verifying the chain").await;
    assert!(
        total >= 4,
        "the chain holds at least our 4 events, got {total}"
    );
}

/// A batch that fails part-way leaves nothing behind: no message, no `used` bytes, no queue
/// row, no tracker row, no log event, no idempotency key, no UID consumed.
pub async fn batch_atomicity(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let domain = fresh_domain();
    let id = fresh("atomic");
    let key = format!("{id}|{mailbox}|consegna");
    let good = Batch {
        once: vec![key.clone()],
        deliveries: vec![message(&mailbox, "INBOX", 100, &id)],
        enqueue: vec![queue_entry(&domain, NOW, &id)],
        track: vec![NewTracker {
            identificativo: id.clone(),
            recipient: "dest@pec.example".into(),
            mittente: mailbox.clone(),
            sent_at: NOW,
        }],
        log: vec![event(NOW, "accettazione", &id)],
        ..Batch::default()
    };
    let mut bad = good.clone();
    bad.deliveries
        .push(message(&format!("nessuno@{domain}"), "INBOX", 1, &id));
    assert_not_found(store.commit(bad).await, "delivering to a missing mailbox");

    let nothing_of = |what: &str| format!("the failed batch left no {what}");
    assert!(
        ok(store.messages(&mailbox, "INBOX").await, "listing INBOX").is_empty(),
        "{}",
        nothing_of("message")
    );
    let used = ok(store.mailbox(&mailbox).await, "reading a mailbox").map(|m| m.used);
    assert_eq!(used, Some(0), "{}", nothing_of("used bytes"));
    assert!(
        queued_to(store, &domain).await.is_empty(),
        "{}",
        nothing_of("queue row")
    );
    assert!(
        ok(store.tracked(&id).await, "reading the tracker").is_empty(),
        "{}",
        nothing_of("tracker row")
    );
    assert!(
        ok(store.events(&id).await, "reading events").is_empty(),
        "{}",
        nothing_of("log event")
    );
    intact_events(store, "verifying after a failed batch").await;

    ok(
        store.commit(good).await,
        "committing the batch without the bad delivery",
    );
    let got = ok(store.messages(&mailbox, "INBOX").await, "listing INBOX");
    assert_eq!(uids(&got), [1], "the failed batch consumed no UID");
    assert_eq!(queued_to(store, &domain).await.len(), 1);
    assert_eq!(ok(store.tracked(&id).await, "reading the tracker").len(), 1);
    assert_eq!(ok(store.events(&id).await, "reading events").len(), 1);

    // A late failure (an event for an untracked recipient) undoes the earlier parts too.
    let late = Batch {
        once: vec![fresh("key")],
        deliveries: vec![message(&mailbox, "INBOX", 100, &id)],
        tracker_events: vec![TrackerUpdate {
            identificativo: id.clone(),
            recipient: "sconosciuto@pec.example".into(),
            event: TrackerEvent::Consegna,
            at: NOW + 1,
        }],
        log: vec![event(NOW + 1, "avvenuta-consegna", &id)],
        ..Batch::default()
    };
    assert_not_found(
        store.commit(late).await,
        "an event for an untracked recipient",
    );
    let ok_batch = Batch {
        deliveries: vec![message(&mailbox, "INBOX", 100, &id)],
        log: vec![event(NOW + 2, "consegna-mailbox", &id)],
        ..Batch::default()
    };
    ok(
        store.commit(ok_batch).await,
        "delivering after a failed batch",
    );
    let got = ok(store.messages(&mailbox, "INBOX").await, "listing INBOX");
    assert_eq!(uids(&got), [1, 2], "UIDs stay dense across failed batches");
    let used = ok(store.mailbox(&mailbox).await, "reading a mailbox").map(|m| m.used);
    assert_eq!(used, Some(200));
    assert_eq!(ok(store.events(&id).await, "reading events").len(), 2);
}

/// Idempotency keys: a batch with a key already committed is refused whole with
/// `Duplicate(key)`, its other keys stay free, a key repeated inside a batch counts once.
pub async fn idempotency(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let id = fresh("once");
    let (k1, k2, k3, k4) = (fresh("k1"), fresh("k2"), fresh("k3"), fresh("k4"));
    let first = Batch {
        once: vec![k1.clone(), k2.clone()],
        log: vec![event(NOW, "ricezione", &id)],
        ..Batch::default()
    };
    ok(store.commit(first).await, "a batch with two keys");
    let replay = Batch {
        once: vec![k3.clone(), k2.clone()],
        deliveries: vec![message(&mailbox, "INBOX", 10, &id)],
        log: vec![event(NOW + 1, "ricezione", &id)],
        ..Batch::default()
    };
    assert_duplicate(
        store.commit(replay).await,
        &k2,
        "a batch with a key already committed",
    );
    assert!(
        ok(store.messages(&mailbox, "INBOX").await, "listing INBOX").is_empty(),
        "a duplicate batch delivers nothing"
    );
    assert_eq!(
        ok(store.events(&id).await, "reading events").len(),
        1,
        "a duplicate batch logs nothing"
    );

    let free = Batch {
        once: vec![k3.clone()],
        ..Batch::default()
    };
    ok(
        store.commit(free).await,
        "the refused batch's other key is still free",
    );
    let twice = Batch {
        once: vec![k4.clone(), k4.clone()],
        ..Batch::default()
    };
    ok(store.commit(twice).await, "a key repeated inside one batch");
    let again = Batch {
        once: vec![k4.clone()],
        ..Batch::default()
    };
    assert_duplicate(store.commit(again).await, &k4, "a key committed once");
    assert_duplicate(
        store
            .commit(Batch {
                once: vec![k1.clone()],
                ..Batch::default()
            })
            .await,
        &k1,
        "the first key of the first batch",
    );
    ok(store.commit(Batch::default()).await, "an empty batch");
}

/// Many tasks commit at once: UIDs unique and dense, `used` exact, exactly one winner among
/// batches racing for one key, and the chain intact — also as seen by readers during the
/// storm.
pub async fn concurrent_commits(store: Arc<dyn Store>) {
    const WRITERS: u32 = 20;
    const RACERS: u32 = 10;
    const READERS: u32 = 5;
    let mailbox = fresh_mailbox(&*store, 0).await;
    let id = fresh("storm");
    let race_id = fresh("race");
    let race_key = fresh("race-key");

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..WRITERS {
        let (store, mailbox, id) = (Arc::clone(&store), mailbox.clone(), id.clone());
        tasks.spawn(async move {
            let batch = Batch {
                once: vec![format!("{id}|{i}")],
                deliveries: vec![message(&mailbox, "INBOX", u64::from(i) + 1, &id)],
                log: vec![event(NOW + i64::from(i), "consegna-mailbox", &id)],
                ..Batch::default()
            };
            (
                format!("writer {i}"),
                store.commit(batch).await.map(|()| None),
            )
        });
    }
    for i in 0..RACERS {
        let (store, race_id, race_key) = (Arc::clone(&store), race_id.clone(), race_key.clone());
        tasks.spawn(async move {
            let batch = Batch {
                once: vec![race_key],
                log: vec![event(NOW, "ricezione", &race_id)],
                ..Batch::default()
            };
            (
                format!("racer {i}"),
                store.commit(batch).await.map(|()| None),
            )
        });
    }
    for i in 0..READERS {
        let store = Arc::clone(&store);
        tasks.spawn(async move { (format!("reader {i}"), store.verify_chain().await.map(Some)) });
    }

    let mut racers_won = 0;
    let mut racers_lost = 0;
    while let Some(joined) = tasks.join_next().await {
        let (who, result) = match joined {
            Ok(done) => done,
            Err(e) => panic!("a concurrent task failed: {e}"),
        };
        match result {
            Ok(Some(ChainReport::Intact { .. })) => {}
            Ok(Some(broken)) => panic!("{who}: chain seen broken during commits: {broken:?}"),
            Ok(None) if who.starts_with("racer") => racers_won += 1,
            Ok(None) => {}
            Err(StoreError::Duplicate(k)) if who.starts_with("racer") && k == race_key => {
                racers_lost += 1
            }
            Err(e) => panic!("{who}: unexpected error: {e}"),
        }
    }
    assert_eq!(
        (racers_won, racers_lost),
        (1, RACERS - 1),
        "exactly one racer wins the key"
    );

    let got = ok(store.messages(&mailbox, "INBOX").await, "listing INBOX");
    let expected: Vec<u32> = (1..=WRITERS).collect();
    assert_eq!(uids(&got), expected, "UIDs unique and dense");
    let mut sizes: Vec<u64> = got.iter().map(|m| m.size).collect();
    sizes.sort_unstable();
    let expected_sizes: Vec<u64> = (1..=u64::from(WRITERS)).collect();
    assert_eq!(sizes, expected_sizes, "every writer's message stored once");
    let used = ok(store.mailbox(&mailbox).await, "reading a mailbox").map(|m| m.used);
    assert_eq!(
        used,
        Some(expected_sizes.iter().sum()),
        "used counts every delivery once"
    );

    let events = ok(store.events(&id).await, "reading events");
    assert_eq!(events.len(), WRITERS as usize, "one event per writer");
    assert_hashes(&events);
    assert_eq!(
        ok(store.events(&race_id).await, "reading events").len(),
        1,
        "only the winner logged"
    );
    intact_events(&*store, "verifying after concurrent commits").await;
}

/// Retention: [`crate::LegalLog::prune`] removes the prefix of events older than the cut —
/// stopping at the first newer one even if older ones follow — moves the anchor, and `seq`
/// keeps counting after everything was pruned.
///
/// Destructive: it prunes everything any other check logged (its own events are dated in
/// 2096, later than all of theirs), so it must run after them on a shared store; it leaves
/// the log empty.
pub async fn legal_log_prune(store: &dyn Store) {
    const FUTURE: i64 = 4_000_000_000;
    let id = fresh("prune");
    for at in [FUTURE, FUTURE + 10, FUTURE + 20, FUTURE + 30, FUTURE + 25] {
        let batch = Batch {
            log: vec![event(at, "accettazione", &id)],
            ..Batch::default()
        };
        ok(store.commit(batch).await, "logging an event");
    }
    let before = ok(store.events(&id).await, "reading events");
    assert_eq!(before.len(), 5);
    let total = intact_events(store, "verifying before pruning").await;

    let removed = ok(store.prune(FUTURE + 10).await, "pruning");
    assert_eq!(
        removed,
        total - 4,
        "everything older than the cut is pruned"
    );
    assert_eq!(intact_events(store, "verifying after pruning").await, 4);
    let kept = ok(store.events(&id).await, "reading events");
    assert_eq!(kept, before[1..], "the newer events are untouched");
    assert_eq!(
        kept[0].prev_hash, before[0].hash,
        "the first retained event links to the pruned one"
    );

    let removed = ok(
        store.prune(FUTURE + 28).await,
        "pruning up to a late-dated event",
    );
    assert_eq!(
        removed, 2,
        "pruning stops at the first event at or after the cut"
    );
    let kept = ok(store.events(&id).await, "reading events");
    assert_eq!(
        kept,
        before[3..],
        "an older event after a newer one is kept"
    );
    assert_eq!(intact_events(store, "verifying after pruning").await, 2);
    assert_eq!(
        ok(store.prune(FUTURE + 10).await, "pruning again"),
        0,
        "nothing more to prune"
    );

    assert_eq!(
        ok(store.prune(FUTURE + 1000).await, "pruning everything"),
        2
    );
    assert_eq!(intact_events(store, "verifying an empty log").await, 0);
    assert!(ok(store.events(&id).await, "reading events").is_empty());

    let batch = Batch {
        log: vec![event(FUTURE + 2000, "accettazione", &id)],
        ..Batch::default()
    };
    ok(
        store.commit(batch).await,
        "logging after pruning everything",
    );
    let after = ok(store.events(&id).await, "reading events");
    assert_eq!(after.len(), 1);
    assert_eq!(
        after[0].seq,
        before[4].seq + 1,
        "seq keeps counting after a full prune"
    );
    assert_eq!(
        after[0].prev_hash, before[4].hash,
        "the chain continues from the last event"
    );
    assert_hashes(&after);
    assert_eq!(
        intact_events(store, "verifying after logging again").await,
        1
    );

    // Leave the log empty, so that a later run of the suite on this store starts clean.
    assert_eq!(ok(store.prune(i64::MAX).await, "pruning the last event"), 1);
    assert_eq!(intact_events(store, "verifying an empty log").await, 0);
}

/// The virus archive: records arrive with their batch (and not when the batch is refused),
/// are listed by time range and read by id with their recipients in order, and retention
/// removes only the old ones.
pub async fn virus_archive(store: &dyn Store) {
    // Far from every other check's instants, so the ranges below see only these records.
    const AT: i64 = 3_000_000_000;
    let sender = fresh("untore");
    let record = |at: i64, point: VirusPoint| NewVirusRecord {
        at,
        point,
        virus: "Eicar-Test-Signature".into(),
        blob: sha256_hex(sender.as_bytes()),
        size: 68,
        identificativo: Some(fresh("virus")),
        sender: sender.clone(),
        recipients: vec!["b@pec.example".into(), "a@pec.example".into()],
        subject: "fattura".into(),
        gestore: "Gestore Uno".into(),
    };
    let (old, new) = (
        record(AT, VirusPoint::Accesso),
        record(AT + 100, VirusPoint::Ricezione),
    );
    let key = fresh("once");
    let batch = |v: &NewVirusRecord| Batch {
        once: vec![key.clone()],
        log: vec![event(v.at, "non-accettazione", &key)],
        virus_archive: vec![v.clone()],
        ..Batch::default()
    };
    ok(store.commit(batch(&old)).await, "archiving a virus");
    assert_duplicate(store.commit(batch(&new)).await, &key, "a refused batch");
    assert!(
        ok(store.virus_records(AT + 100, AT + 101).await, "listing")
            .iter()
            .all(|r| r.record.sender != sender),
        "a refused batch archives nothing"
    );
    ok(
        store
            .commit(Batch {
                virus_archive: vec![new.clone()],
                ..Batch::default()
            })
            .await,
        "archiving another",
    );

    // Only this run's records (the suite may run twice on one store).
    let mine = |mut v: Vec<crate::VirusRecord>| {
        v.retain(|r| r.record.sender == sender);
        v
    };
    let all = mine(ok(
        store.virus_records(AT, AT + 101).await,
        "listing the range",
    ));
    let got: Vec<&NewVirusRecord> = all.iter().map(|r| &r.record).collect();
    assert_eq!(got, [&old, &new], "both records, by id, as given");
    assert!(all[0].id < all[1].id, "ids increase");
    let only_new = mine(ok(store.virus_records(AT + 1, AT + 101).await, "listing"));
    assert_eq!(
        only_new,
        all[1..],
        "since is inclusive, the older one is out"
    );
    let until = mine(ok(store.virus_records(AT, AT + 100).await, "listing"));
    assert_eq!(until, all[..1], "until is exclusive");
    assert_eq!(ok(store.virus_record(all[1].id).await, "reading"), all[1]);
    assert_not_found(store.virus_record(-1).await, "an unknown record");

    let removed = ok(store.prune_virus_archive(AT + 1).await, "pruning");
    assert!(removed >= 1, "the old record goes");
    assert_not_found(store.virus_record(all[0].id).await, "a pruned record");
    assert_eq!(
        ok(store.virus_record(all[1].id).await, "reading"),
        all[1],
        "a newer record stays whole"
    );
}
