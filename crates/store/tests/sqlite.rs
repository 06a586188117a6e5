//! The SQLite + files backend: the conformance suite, then what only this backend can show —
//! its files, its durability across a reopen, and a legal log tampered with behind its back.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use store::sqlite::{BLOB_DIR, DB_FILE, SqliteStore};
use store::{
    Accounts, Api, ApiSend, Batch, Blobs, ChainReport, GENESIS_HASH, HolderSettings, Holders,
    LegalLog, MailboxKind, MailboxState, Mailboxes, NewLogEvent, NewMailbox, NewMessage,
    NewQueueEntry, NewTracker, NewVirusRecord, OrdinaryMail, Queue, Store, StoreError, Tracker,
    TrackerEvent, TrackerUpdate, VirusArchive, VirusPoint, chain_hash, conformance,
};
use tempfile::TempDir;

const NOW: i64 = 1_700_000_000;

async fn open_in(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir).await.expect("opening the store")
}

async fn fresh_store() -> (TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = open_in(dir.path()).await;
    (dir, Arc::new(store))
}

/// A connection to the store's database that goes around the store, as an intruder would.
async fn raw(dir: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(dir.join(DB_FILE))
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("opening the database directly")
}

async fn exec(dir: &Path, sql: &str) {
    let mut conn = raw(dir).await;
    sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
    conn.close().await.expect("closing the direct connection");
}

fn event(at: i64, kind: &str, identificativo: &str) -> NewLogEvent {
    NewLogEvent {
        at,
        kind: kind.into(),
        identificativo: Some(identificativo.into()),
        msgid: Some("<m@client.example>".into()),
        sender: "mittente@pec.example".into(),
        recipients: vec!["a@pec.example".into(), "b@pec.example".into()],
        subject: "Oggetto".into(),
        related: vec!["<r@pec.example>".into()],
        provider: "Gestore di prova".into(),
        detail: None,
        daticert: None,
        actor: None,
    }
}

fn log_batch(events: Vec<NewLogEvent>) -> Batch {
    Batch {
        log: events,
        ..Batch::default()
    }
}

async fn mailbox(store: &SqliteStore, address: &str) {
    let domain = address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .expect("an address");
    match store.create_domain(domain, NOW).await {
        Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
        Err(e) => panic!("creating domain {domain}: {e}"),
    }
    let m = NewMailbox {
        address: address.into(),
        kind: MailboxKind::Standard,
        state: MailboxState::Attiva,
        quota: 0,
        ordinary_mail: OrdinaryMail::Rifiuta,
        password_hash: "$argon2id$x".into(),
    };
    store
        .create_mailbox(&m, NOW)
        .await
        .expect("creating a mailbox");
}

fn delivery(mailbox: &str, blob: &str, size: u64) -> NewMessage {
    NewMessage {
        mailbox: mailbox.into(),
        folder: "INBOX".into(),
        blob: blob.into(),
        size,
        flags: vec!["\\Recent".into()],
        kind: Some("posta-certificata".into()),
        identificativo: Some("id-1".into()),
    }
}

async fn broken_at(store: &SqliteStore) -> u64 {
    match store.verify_chain().await.expect("verifying the chain") {
        ChainReport::Broken { seq, reason } => {
            assert!(!reason.is_empty());
            seq
        }
        intact => panic!("tampering went unnoticed: {intact:?}"),
    }
}

/// A fresh store whose log holds events 1 to 4, one batch each.
async fn store_with_log() -> (TempDir, Arc<SqliteStore>) {
    let (dir, store) = fresh_store().await;
    for i in 0..4 {
        store
            .commit(log_batch(vec![event(NOW + i, "accettazione", "id-log")]))
            .await
            .expect("logging");
    }
    assert_eq!(
        store.verify_chain().await.expect("verifying"),
        ChainReport::Intact { events: 4 }
    );
    (dir, store)
}

// ---------------------------------------------------------------------------------------
// The conformance suite

macro_rules! conformance_check {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let (_dir, store) = fresh_store().await;
            conformance::$name(&*store).await;
        }
    };
}

conformance_check!(accounts);
conformance_check!(mailboxes_and_uids);
conformance_check!(message_lookup);
conformance_check!(blobs);
conformance_check!(queue);
conformance_check!(tracker);
conformance_check!(legal_log);
conformance_check!(batch_atomicity);
conformance_check!(idempotency);
conformance_check!(legal_log_prune);
conformance_check!(virus_archive);
conformance_check!(folders_and_counters);
conformance_check!(folder_lifecycle);
conformance_check!(folder_names);
conformance_check!(uidvalidity_never_repeats);
conformance_check!(uids_never_reused);
conformance_check!(modseq);
conformance_check!(flag_changes);
conformance_check!(archive_is_immutable);
conformance_check!(quota);
conformance_check!(quota_warning);
conformance_check!(copy_and_move);
conformance_check!(append);
conformance_check!(delegates);
conformance_check!(mailbox_settings);
conformance_check!(legal_log_actor);
conformance_check!(holder_settings);
conformance_check!(ordinary_mail_policy);
conformance_check!(password_history);
conformance_check!(activation);
conformance_check!(recovery_tokens);
conformance_check!(admins);
conformance_check!(api_keys);
conformance_check!(api_sends);
conformance_check!(webhooks);
conformance_check!(webhook_events);
conformance_check!(webhook_events_need_a_commit);
conformance_check!(mailbox_deletion);
conformance_check!(legal_log_counts);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits() {
    let (_dir, store) = fresh_store().await;
    conformance::concurrent_commits(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_twice_on_one_store() {
    let (_dir, store) = fresh_store().await;
    conformance::run_all(store.clone()).await;
    conformance::run_all(store).await;
}

// ---------------------------------------------------------------------------------------
// Files and durability

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_creates_the_layout() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("a").join("b");
    let store = open_in(&data).await;
    assert!(data.join(DB_FILE).is_file());
    assert!(data.join(BLOB_DIR).is_dir());
    let mut conn = raw(&data).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("journal mode");
    assert_eq!(mode, "wal");
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut conn)
        .await
        .expect("version");
    assert_eq!(version, 6);
    store.close().await;
    // Opening again applies nothing twice.
    open_in(&data).await.close().await;
}

/// The schema scripts of the versions before this one, as `SqliteStore::open` applies them.
const OLD_SCRIPTS: [&str; 5] = [
    include_str!("../migrations/0001_schema.sql"),
    include_str!("../migrations/0002_virus_archive.sql"),
    include_str!("../migrations/0003_mail_access.sql"),
    include_str!("../migrations/0004_web.sql"),
    include_str!("../migrations/0005_webhook_outbox.sql"),
];

/// Creates the database a pecora of schema `version` would have left in `dir`: its scripts,
/// then `data` written as that pecora wrote it.
async fn old_database(dir: &Path, version: usize, data: &str) {
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.join(DB_FILE))
        .create_if_missing(true)
        .foreign_keys(true)
        .connect()
        .await
        .expect("creating an old database");
    for script in &OLD_SCRIPTS[..version] {
        sqlx::raw_sql(script)
            .execute(&mut conn)
            .await
            .expect("an old schema script");
    }
    sqlx::raw_sql(data)
        .execute(&mut conn)
        .await
        .expect("writing old data");
    sqlx::raw_sql(&format!("PRAGMA user_version = {version}"))
        .execute(&mut conn)
        .await
        .expect("setting the old version");
    conn.close().await.expect("closing the old database");
}

/// A domain and a mailbox as schema 1 stored them.
const V1_MAILBOX: &str = "
    INSERT INTO domains (name, created_at) VALUES ('pec.example', 1700000000);
    INSERT INTO mailboxes (address, domain, kind, state, quota, used, ordinary_mail,
        password_hash, created_at)
    VALUES ('casella@pec.example', 'pec.example', 'standard', 'attiva', 0, 0, 'rifiuta',
        '$argon2id$x', 1700000000);";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_database_is_brought_up_to_date() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let address = "casella@pec.example";
    old_database(dir.path(), 1, V1_MAILBOX).await;
    let store = open_in(dir.path()).await;
    assert!(store.mailbox(address).await.unwrap().is_some(), "data kept");
    assert_eq!(
        store.virus_records(0, i64::MAX).await.unwrap(),
        [],
        "the archive exists, empty"
    );
    assert_eq!(store.folders(address).await.unwrap(), ["INBOX"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_database_gains_mail_access() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (mario, anna) = ("mario@pec.example", "anna@pec.example");
    let logged = event(NOW, "accettazione", "id-1");
    let hash = chain_hash(GENESIS_HASH, 1, &logged);
    // Mario has INBOX, a folder and an archive folder (whose bytes schema 2 counted); Anna
    // never received anything, so schema 2 gave her no folder at all.
    let data = format!(
        r"
        INSERT INTO domains (name, created_at) VALUES ('pec.example', {NOW});
        INSERT INTO mailboxes (address, domain, kind, state, quota, used, ordinary_mail,
            password_hash, created_at)
        VALUES ('{mario}', 'pec.example', 'pro', 'attiva', 1000, 350, 'rifiuta', 'h', {NOW}),
               ('{anna}', 'pec.example', 'standard', 'attiva', 0, 0, 'rifiuta', 'h', {NOW});
        INSERT INTO folders (mailbox, name, uid_next) VALUES
            ('{mario}', 'INBOX', 3), ('{mario}', 'Archivio/2023/11', 2), ('{mario}', 'Lavoro', 2);
        INSERT INTO messages (mailbox, folder, uid, blob, size, received_at, kind,
            identificativo)
        VALUES ('{mario}', 'INBOX', 1, 'b1', 10, {NOW}, 'posta-certificata', 'id-1'),
               ('{mario}', 'INBOX', 2, 'b2', 20, {NOW}, NULL, NULL),
               ('{mario}', 'Archivio/2023/11', 1, 'b1', 300, {NOW}, 'posta-certificata', 'id-1'),
               ('{mario}', 'Lavoro', 1, 'b3', 20, {NOW}, NULL, NULL);
        INSERT INTO message_flags (mailbox, folder, uid, pos, flag)
            VALUES ('{mario}', 'INBOX', 1, 0, '\Seen');
        INSERT INTO log (seq, at, kind, identificativo, msgid, sender, subject, provider,
            detail, daticert, prev_hash, hash)
        VALUES (1, {NOW}, 'accettazione', 'id-1', '<m@client.example>', 'mittente@pec.example',
            'Oggetto', 'Gestore di prova', NULL, NULL, '{GENESIS_HASH}', '{hash}');
        INSERT INTO log_recipients (seq, pos, address)
            VALUES (1, 0, 'a@pec.example'), (1, 1, 'b@pec.example');
        INSERT INTO log_related (seq, pos, msgid) VALUES (1, 0, '<r@pec.example>');
        UPDATE log_chain SET head_seq = 1, head_hash = '{hash}';"
    );
    old_database(dir.path(), 2, &data).await;
    let store = open_in(dir.path()).await;

    // The log verifies as it did: an event without an actor hashes as before.
    let events = store.events("id-1").await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!((&events[0].event, &events[0].hash), (&logged, &hash));
    assert_eq!(
        store.verify_chain().await.expect("verify"),
        ChainReport::Intact { events: 1 }
    );

    // Every box has its INBOX; every folder a distinct UIDVALIDITY; messages a MODSEQ.
    assert_eq!(store.folders(anna).await.unwrap(), ["INBOX"]);
    let folders = store.folder_list(mario).await.expect("folders");
    let names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["Archivio/2023/11", "INBOX", "Lavoro"]);
    let anna_inbox = store
        .folder(anna, "INBOX")
        .await
        .unwrap()
        .expect("anna's INBOX");
    assert_ne!(anna_inbox.uidvalidity, 0);
    // Unique within a box (different boxes may share values).
    let mut validities: Vec<u32> = folders.iter().map(|f| f.uidvalidity).collect();
    assert!(validities.iter().all(|&v| v != 0), "{validities:?}");
    let inbox = &folders[1];
    assert_eq!(
        (inbox.uid_next, inbox.messages, inbox.unseen, inbox.size),
        (3, 2, 1, 30)
    );
    assert_eq!(inbox.highest_modseq, 1);
    let messages = store.messages(mario, "INBOX").await.expect("messages");
    assert_eq!(
        messages
            .iter()
            .map(|m| (m.uid, m.modseq))
            .collect::<Vec<_>>(),
        [(1, 1), (2, 1)]
    );
    assert_eq!(messages[0].flags, ["\\Seen"]);

    // The archive no longer counts; the new settings start empty.
    let m = store.mailbox(mario).await.unwrap().expect("mario");
    assert_eq!(m.used, 50, "used recounted without the archive");
    assert_eq!(
        (m.receipts_folder, m.protocol_account, m.quota_warned),
        (None, None, false)
    );

    // UIDVALIDITY, UIDs and MODSEQs go on from where they were.
    let lavoro = folders[2].uidvalidity;
    store.delete_folder(mario, "Lavoro").await.expect("delete");
    let again = store
        .create_folder(mario, "Lavoro", NOW)
        .await
        .expect("create");
    validities.push(again.uidvalidity);
    let mut distinct = validities.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), validities.len(), "{validities:?}");
    assert_ne!(again.uidvalidity, lavoro);
    store
        .commit(Batch {
            deliveries: vec![delivery(mario, "b4", 5)],
            log: vec![NewLogEvent {
                actor: Some("segreteria".into()),
                ..event(NOW + 1, "consegna-mailbox", "id-2")
            }],
            ..Batch::default()
        })
        .await
        .expect("a delivery after the upgrade");
    let messages = store.messages(mario, "INBOX").await.expect("messages");
    assert_eq!((messages[2].uid, messages[2].modseq), (3, 2));
    assert_eq!(
        store.verify_chain().await.expect("verify"),
        ChainReport::Intact { events: 2 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_database_gains_the_web_settings() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mario = "mario@pec.example";
    // A box with settings, a folder, a message and a delegate: everything that refers to the
    // mailboxes table the upgrade rebuilds.
    let data = format!(
        r"
        INSERT INTO domains (name, created_at) VALUES ('pec.example', {NOW});
        INSERT INTO mailboxes (address, domain, kind, state, quota, used, ordinary_mail,
            password_hash, created_at, receipts_folder, protocol_account, quota_warned,
            last_uidvalidity)
        VALUES ('{mario}', 'pec.example', 'pro', 'attiva', 1000, 10, 'anomalia', '$h1', {NOW},
            'Ricevute', 'titulus', 1, 7);
        INSERT INTO folders (mailbox, name, uid_next, uidvalidity, highest_modseq)
            VALUES ('{mario}', 'INBOX', 2, 7, 3);
        INSERT INTO messages (mailbox, folder, uid, blob, size, received_at, kind,
            identificativo, modseq)
        VALUES ('{mario}', 'INBOX', 1, 'b1', 10, {NOW}, 'posta-certificata', 'id-1', 3);
        INSERT INTO delegates (login, mailbox, role, password_hash, created_at)
            VALUES ('segreteria', '{mario}', 'invio', '$d1', {NOW});"
    );
    old_database(dir.path(), 3, &data).await;
    let store = open_in(dir.path()).await;

    let m = store.mailbox(mario).await.unwrap().expect("mario");
    assert_eq!(
        (m.kind, m.used, m.ordinary_mail, m.password_hash.as_str()),
        (MailboxKind::Pro, 10, OrdinaryMail::Anomalia, "$h1")
    );
    assert_eq!(
        (
            m.receipts_folder.as_deref(),
            m.protocol_account.as_deref(),
            m.quota_warned
        ),
        (Some("Ricevute"), Some("titulus"), true)
    );
    assert_eq!(
        store.holder_settings(mario).await.unwrap(),
        Some(HolderSettings::default()),
        "the new settings start empty"
    );
    let inbox = store.folder(mario, "INBOX").await.unwrap().expect("INBOX");
    assert_eq!(
        (inbox.uidvalidity, inbox.highest_modseq, inbox.messages),
        (7, 3, 1)
    );
    let delegate = store
        .delegate("segreteria")
        .await
        .unwrap()
        .expect("delegate");
    assert_eq!(delegate.mailbox, mario);

    // The rebuilt table still takes part in every reference, and the new values fit.
    let lavoro = store
        .create_folder(mario, "Lavoro", NOW)
        .await
        .expect("folder");
    assert!(
        lavoro.uidvalidity > 7,
        "the box's UIDVALIDITY memory survived"
    );
    store
        .set_ordinary_mail_policy(mario, OrdinaryMail::Cartella, Some("Lavoro"))
        .await
        .expect("the new policies");
    store
        .set_password_hash(mario, "$h2")
        .await
        .expect("password");
    assert_eq!(store.password_history(mario).await.unwrap(), ["$h1"]);
    let mut conn = raw(dir.path()).await;
    let dangling: Vec<String> =
        sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_check")
            .fetch_all(&mut conn)
            .await
            .expect("checking references");
    assert!(dangling.is_empty(), "dangling references: {dangling:?}");
    conn.close().await.expect("closing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_4_database_gains_the_webhook_outbox() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mario = "mario@pec.example";
    // A box with a webhook and a receipt already delivered: the upgrade announces nothing
    // of the past, and the next delivery is queued for the webhook.
    let data = format!(
        r"
        INSERT INTO domains (name, created_at) VALUES ('pec.example', {NOW});
        INSERT INTO mailboxes (address, domain, kind, state, quota, used, ordinary_mail,
            password_hash, created_at, last_uidvalidity)
        VALUES ('{mario}', 'pec.example', 'standard', 'attiva', 0, 10, 'rifiuta', '$h', {NOW}, 7);
        INSERT INTO folders (mailbox, name, uid_next, uidvalidity, highest_modseq)
            VALUES ('{mario}', 'INBOX', 2, 7, 2);
        INSERT INTO messages (mailbox, folder, uid, blob, size, received_at, kind,
            identificativo, modseq)
        VALUES ('{mario}', 'INBOX', 1, 'b1', 10, {NOW}, 'accettazione', 'id-0', 2);
        INSERT INTO webhooks (mailbox, url, secret, created_at)
            VALUES ('{mario}', 'https://gestionale.example/pec', 's', {NOW});"
    );
    old_database(dir.path(), 4, &data).await;
    let store = open_in(dir.path()).await;
    assert_eq!(
        store
            .claim_webhook_events(i64::MAX, i64::MAX, 10)
            .await
            .unwrap(),
        [],
        "nothing of the past is announced"
    );
    let batch = Batch {
        deliveries: vec![delivery(mario, "b2", 20)],
        log: vec![event(NOW + 5, "consegna", "id-1")],
        ..Batch::default()
    };
    store
        .commit(batch)
        .await
        .expect("a delivery after the upgrade");
    let events = store
        .claim_webhook_events(NOW + 5, NOW + 60, 10)
        .await
        .unwrap();
    let got: Vec<(&str, &str, u32, &str)> = events
        .iter()
        .map(|e| {
            (
                e.webhook.mailbox.as_str(),
                e.folder.as_str(),
                e.uid,
                e.kind.as_str(),
            )
        })
        .collect();
    assert_eq!(got, [(mario, "INBOX", 2, "posta-certificata")]);
    // Deleting the webhook deletes its pending events.
    let id = events[0].webhook.id;
    store
        .delete_webhook(mario, id)
        .await
        .expect("deleting the webhook");
    assert_eq!(
        store
            .claim_webhook_events(i64::MAX, i64::MAX, 10)
            .await
            .unwrap(),
        []
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_5_database_keeps_its_api_sends_without_a_digest() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mario = "mario@pec.example";
    let data = format!(
        r"
        INSERT INTO domains (name, created_at) VALUES ('pec.example', {NOW});
        INSERT INTO mailboxes (address, domain, kind, state, quota, used, ordinary_mail,
            password_hash, created_at)
        VALUES ('{mario}', 'pec.example', 'standard', 'attiva', 0, 0, 'rifiuta', '$h', {NOW});
        INSERT INTO api_sends (mailbox, key, identificativo)
            VALUES ('{mario}', 'prot-1', 'id-1');"
    );
    old_database(dir.path(), 5, &data).await;
    let store = open_in(dir.path()).await;
    assert_eq!(
        store.api_send(mario, "prot-1").await.unwrap(),
        Some(ApiSend {
            mailbox: mario.into(),
            key: "prot-1".into(),
            identificativo: "id-1".into(),
            request_hash: None,
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    open_in(dir.path()).await.close().await;
    exec(dir.path(), "PRAGMA user_version = 99").await;
    match SqliteStore::open(dir.path()).await {
        Err(StoreError::Backend(msg)) => assert!(msg.contains("newer"), "{msg}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let address = "mario@pec.example";
    let (blob, hashes) = {
        let store = open_in(dir.path()).await;
        mailbox(&store, address).await;
        let blob = store
            .put(b"Subject: prova\r\n\r\nciao\r\n")
            .await
            .expect("put");
        let batch = Batch {
            once: vec!["id-1|mario@pec.example|consegna".into()],
            deliveries: vec![delivery(address, &blob, 25), delivery(address, &blob, 25)],
            enqueue: vec![NewQueueEntry {
                blob: blob.clone(),
                mail_from: "posta-certificata@pec.example".into(),
                rcpt_to: vec!["x@altro.example".into()],
                domain: "altro.example".into(),
                next_attempt: NOW,
                identificativo: Some("id-1".into()),
            }],
            track: vec![NewTracker {
                identificativo: "id-1".into(),
                recipient: "x@altro.example".into(),
                mittente: address.into(),
                sent_at: NOW,
            }],
            tracker_events: vec![TrackerUpdate {
                identificativo: "id-1".into(),
                recipient: "x@altro.example".into(),
                event: TrackerEvent::PresaInCarico,
                at: NOW + 1,
            }],
            log: vec![
                event(NOW, "accettazione", "id-1"),
                event(NOW, "posta-certificata", "id-1"),
            ],
            ..Batch::default()
        };
        store.commit(batch).await.expect("commit");
        let hashes: Vec<String> = store
            .events("id-1")
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.hash)
            .collect();
        // Dropped, not closed: a commit that returned must not depend on a clean shutdown.
        (blob, hashes)
    };

    let store = open_in(dir.path()).await;
    let m = store
        .mailbox(address)
        .await
        .expect("mailbox")
        .expect("mailbox still there");
    assert_eq!(m.used, 50);
    let messages = store.messages(address, "INBOX").await.expect("messages");
    assert_eq!(messages.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(messages[0].flags, ["\\Recent"]);
    assert_eq!(
        store.get(&blob).await.expect("blob"),
        b"Subject: prova\r\n\r\nciao\r\n"
    );
    let queued = store.queued().await.expect("queue");
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].rcpt_to, ["x@altro.example"]);
    let tracked = store.tracked("id-1").await.expect("tracker");
    assert_eq!(tracked[0].at(TrackerEvent::PresaInCarico), Some(NOW + 1));
    assert_eq!(
        store.verify_chain().await.expect("verify"),
        ChainReport::Intact { events: 2 }
    );
    let again = Batch {
        once: vec!["id-1|mario@pec.example|consegna".into()],
        ..Batch::default()
    };
    assert!(
        matches!(store.commit(again).await, Err(StoreError::Duplicate(_))),
        "keys survive"
    );

    let batch = Batch {
        deliveries: vec![delivery(address, &blob, 25)],
        log: vec![event(NOW + 2, "consegna-mailbox", "id-1")],
        ..Batch::default()
    };
    store.commit(batch).await.expect("commit after reopen");
    let messages = store.messages(address, "INBOX").await.expect("messages");
    assert_eq!(messages.last().map(|m| m.uid), Some(3), "UIDs continue");
    let events = store.events("id-1").await.expect("events");
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3],
        "seq continues"
    );
    assert_eq!(events[2].prev_hash, hashes[1], "the chain continues");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_files_are_named_by_their_hash() {
    let (dir, store) = fresh_store().await;
    let bytes = b"Message-ID: <1@x>\r\n\r\nbody\r\n";
    let id = store.put(bytes).await.expect("put");
    let shard = dir.path().join(BLOB_DIR).join(&id[..2]);
    let file = shard.join(&id[2..]);
    assert_eq!(std::fs::read(&file).expect("blob file"), bytes);
    let names: Vec<String> = std::fs::read_dir(&shard)
        .expect("shard")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [id[2..].to_string()],
        "no temporary file left behind"
    );
    assert_eq!(store.put(bytes).await.expect("put again"), id);

    std::fs::write(&file, b"something else").expect("damaging the blob");
    match store.get(&id).await {
        Err(StoreError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}"),
        other => panic!("a damaged blob must not be returned: {other:?}"),
    }
    std::fs::remove_file(&file).expect("removing the blob");
    assert!(matches!(store.get(&id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(
        store.get(&id.to_ascii_uppercase()).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uids_are_not_reused_after_a_message_is_removed() {
    let (dir, store) = fresh_store().await;
    let address = "anna@pec.example";
    mailbox(&store, address).await;
    let batch = Batch {
        deliveries: vec![
            delivery(address, "b", 1),
            delivery(address, "b", 1),
            delivery(address, "b", 1),
        ],
        log: vec![event(NOW, "consegna-mailbox", "id-1")],
        ..Batch::default()
    };
    store.commit(batch.clone()).await.expect("commit");
    exec(dir.path(), "DELETE FROM messages WHERE uid = 3").await;
    let batch = Batch {
        deliveries: vec![delivery(address, "b", 1)],
        ..batch
    };
    store.commit(batch).await.expect("commit");
    let uids: Vec<u32> = store
        .messages(address, "INBOX")
        .await
        .expect("messages")
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(uids, [1, 2, 4]);
}

// ---------------------------------------------------------------------------------------
// Atomicity, seen from the tables

const TABLES: &[&str] = &[
    "folders",
    "messages",
    "message_flags",
    "queue",
    "queue_rcpt",
    "once_keys",
    "tracker",
    "tracker_events",
    "log",
    "log_recipients",
    "log_related",
    "virus_archive",
    "virus_archive_rcpt",
    "api_sends",
];

/// Row counts of every table, the mailboxes' `used` and the ends of the log chain.
async fn snapshot(dir: &Path) -> Vec<String> {
    let mut conn = raw(dir).await;
    let mut out = Vec::new();
    for table in TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .expect("counting rows");
        out.push(format!("{table}: {n}"));
    }
    let used: i64 = sqlx::query_scalar("SELECT coalesce(sum(used), 0) FROM mailboxes")
        .fetch_one(&mut conn)
        .await
        .expect("summing used");
    out.push(format!("used: {used}"));
    let (head, hash): (i64, String) = sqlx::query_as("SELECT head_seq, head_hash FROM log_chain")
        .fetch_one(&mut conn)
        .await
        .expect("reading the chain ends");
    out.push(format!("head: {head} {hash}"));
    conn.close().await.expect("closing");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_batch_leaves_no_row_behind() {
    let (dir, store) = fresh_store().await;
    let address = "mario@pec.example";
    mailbox(&store, address).await;
    store
        .commit(Batch {
            track: vec![NewTracker {
                identificativo: "id-0".into(),
                recipient: "x@altro.example".into(),
                mittente: address.into(),
                sent_at: NOW,
            }],
            log: vec![event(NOW, "accettazione", "id-0")],
            ..Batch::default()
        })
        .await
        .expect("a first batch");
    let before = snapshot(dir.path()).await;

    let full = Batch {
        once: vec!["key-1".into()],
        deliveries: vec![
            delivery(address, "b", 10),
            NewMessage {
                folder: "Nuova".into(),
                ..delivery(address, "b", 10)
            },
        ],
        enqueue: vec![NewQueueEntry {
            blob: "b".into(),
            mail_from: address.into(),
            rcpt_to: vec!["x@altro.example".into()],
            domain: "altro.example".into(),
            next_attempt: NOW,
            identificativo: Some("id-1".into()),
        }],
        dequeue: vec![],
        retry: vec![],
        track: vec![NewTracker {
            identificativo: "id-1".into(),
            recipient: "x@altro.example".into(),
            mittente: address.into(),
            sent_at: NOW,
        }],
        tracker_events: vec![TrackerUpdate {
            identificativo: "id-0".into(),
            recipient: "x@altro.example".into(),
            event: TrackerEvent::Consegna,
            at: NOW,
        }],
        log: vec![event(NOW, "accettazione", "id-1")],
        virus_archive: vec![NewVirusRecord {
            at: NOW,
            point: VirusPoint::Ricezione,
            virus: "Eicar-Test-Signature".into(),
            blob: "b".into(),
            size: 10,
            identificativo: Some("id-1".into()),
            sender: address.into(),
            recipients: vec!["x@altro.example".into()],
            subject: "virus".into(),
            gestore: "Altro".into(),
        }],
        quota_warned: vec![address.into()],
        api_sends: vec![ApiSend {
            mailbox: address.into(),
            key: "invio-1".into(),
            identificativo: "id-1".into(),
            request_hash: Some("00".repeat(32)),
        }],
    };

    // Fails at the second delivery, after the first one took a UID and bytes.
    let mut bad = full.clone();
    bad.deliveries.push(delivery("nessuno@pec.example", "b", 1));
    assert!(matches!(
        store.commit(bad).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        snapshot(dir.path()).await,
        before,
        "a failed delivery left rows behind"
    );

    // Fails at the last tracker event, after deliveries, queue and tracker rows were written.
    let mut bad = full.clone();
    bad.tracker_events.push(TrackerUpdate {
        identificativo: "id-0".into(),
        recipient: "nessuno@altro.example".into(),
        event: TrackerEvent::Consegna,
        at: NOW,
    });
    assert!(matches!(
        store.commit(bad).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        snapshot(dir.path()).await,
        before,
        "a failed tracker event left rows behind"
    );

    // Refused for its key, with everything else valid.
    store
        .commit(Batch {
            once: vec!["key-1".into()],
            ..Batch::default()
        })
        .await
        .expect("taking the key");
    let before = snapshot(dir.path()).await;
    assert!(matches!(
        store.commit(full.clone()).await,
        Err(StoreError::Duplicate(_))
    ));
    assert_eq!(
        snapshot(dir.path()).await,
        before,
        "a duplicate batch left rows behind"
    );
    assert_eq!(
        store.verify_chain().await.expect("verify"),
        ChainReport::Intact { events: 1 }
    );
}

// ---------------------------------------------------------------------------------------
// The legal log, tampered with

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_event_links_to_genesis() {
    let (_dir, store) = store_with_log().await;
    let events = store.events("id-log").await.expect("events");
    assert_eq!(events[0].seq, 1);
    assert_eq!(events[0].prev_hash, GENESIS_HASH);
    assert_eq!(
        events[0].hash,
        chain_hash(GENESIS_HASH, 1, &events[0].event)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_subject_breaks_the_chain_at_that_event() {
    let (dir, store) = store_with_log().await;
    exec(
        dir.path(),
        "UPDATE log SET subject = 'Oggetto modificato' WHERE seq = 2",
    )
    .await;
    assert_eq!(broken_at(&store).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_recipient_breaks_the_chain_at_that_event() {
    let (dir, store) = store_with_log().await;
    exec(
        dir.path(),
        "INSERT INTO log_recipients (seq, pos, address) VALUES (3, 9, 'c@pec.example')",
    )
    .await;
    assert_eq!(broken_at(&store).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
    let (dir, store) = store_with_log().await;
    let mut e = store.events("id-log").await.expect("events").remove(1);
    e.event.subject = "Oggetto modificato".into();
    let forged = chain_hash(&e.prev_hash, e.seq, &e.event);
    exec(
        dir.path(),
        &format!("UPDATE log SET subject = 'Oggetto modificato', hash = '{forged}' WHERE seq = 2"),
    )
    .await;
    assert_eq!(broken_at(&store).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_actor_breaks_the_chain_at_that_event() {
    let (dir, store) = store_with_log().await;
    exec(dir.path(), "UPDATE log SET actor = 'intruso' WHERE seq = 2").await;
    assert_eq!(broken_at(&store).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_event_breaks_the_chain() {
    let (dir, store) = store_with_log().await;
    exec(dir.path(), "DELETE FROM log WHERE seq = 2").await;
    assert_eq!(broken_at(&store).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_first_event_breaks_the_chain() {
    let (dir, store) = store_with_log().await;
    exec(dir.path(), "DELETE FROM log WHERE seq = 1").await;
    assert_eq!(broken_at(&store).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_last_event_breaks_the_chain() {
    let (dir, store) = store_with_log().await;
    exec(dir.path(), "DELETE FROM log WHERE seq = 4").await;
    assert_eq!(broken_at(&store).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_chain_is_checked_from_its_anchor() {
    let (dir, store) = store_with_log().await;
    assert_eq!(store.prune(NOW + 2).await.expect("prune"), 2);
    assert_eq!(
        store.verify_chain().await.expect("verify"),
        ChainReport::Intact { events: 2 }
    );
    exec(
        dir.path(),
        &format!("UPDATE log SET prev_hash = '{GENESIS_HASH}' WHERE seq = 3"),
    )
    .await;
    assert_eq!(broken_at(&store).await, 3);
}

// ---------------------------------------------------------------------------------------
// Two stores on one directory (two processes, in effect)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_directory_serialize_their_commits() {
    let (dir, first) = fresh_store().await;
    let second = Arc::new(open_in(dir.path()).await);
    let address = "condivisa@pec.example";
    mailbox(&first, address).await;
    let mut tasks = tokio::task::JoinSet::new();
    // Deliveries write first; log-only batches read the chain head first, so they need the
    // write lock from their first statement (BEGIN IMMEDIATE) not to fail on a lock upgrade.
    for i in 0..40_i64 {
        let store = if i % 2 == 0 {
            Arc::clone(&first)
        } else {
            Arc::clone(&second)
        };
        tasks.spawn(async move {
            let deliveries = if i % 4 < 2 {
                vec![delivery(address, "b", 1)]
            } else {
                Vec::new()
            };
            let batch = Batch {
                deliveries,
                log: vec![event(NOW + i, "consegna-mailbox", "id-shared")],
                ..Batch::default()
            };
            store.commit(batch).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("commit");
    }
    let uids: Vec<u32> = first
        .messages(address, "INBOX")
        .await
        .expect("messages")
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(uids, (1..=20).collect::<Vec<u32>>());
    assert_eq!(
        second.verify_chain().await.expect("verify"),
        ChainReport::Intact { events: 40 }
    );
}
