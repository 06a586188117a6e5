//! The SQLite backend's group commit: batches that wait for the writer together are
//! committed in one transaction, and each still succeeds or fails on its own.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{ConnectOptions, Connection, Executor};
use store::sqlite::{DB_FILE, SqliteStore};
use store::{
    Accounts, Batch, Blobs, ChainReport, LegalLog, MailboxKind, MailboxState, Mailboxes,
    NewLogEvent, NewMailbox, NewMessage, OrdinaryMail, Store, StoreError,
};

const NOW: i64 = 1_700_000_000;
const BOX: &str = "mario.rossi@pec.example.it";

fn delivery(n: usize, key: &str, blob: &str) -> Batch {
    Batch {
        once: vec![key.to_owned()],
        deliveries: vec![NewMessage {
            mailbox: BOX.to_owned(),
            folder: "INBOX".to_owned(),
            blob: blob.to_owned(),
            size: 10,
            flags: Vec::new(),
            kind: Some("accettazione".to_owned()),
            identificativo: Some(format!("id-{n}")),
        }],
        log: vec![NewLogEvent {
            at: NOW,
            kind: "accettazione".to_owned(),
            identificativo: Some(format!("id-{n}")),
            msgid: None,
            sender: BOX.to_owned(),
            recipients: vec!["a@pec.example.it".to_owned()],
            subject: format!("message {n}"),
            related: Vec::new(),
            provider: "Pecora".to_owned(),
            detail: None,
            daticert: None,
            actor: None,
        }],
        ..Batch::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_commit_together_and_fail_alone() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(SqliteStore::open(dir.path()).await.expect("store"));
    store
        .create_domain("pec.example.it", NOW)
        .await
        .expect("domain");
    store
        .create_mailbox(
            &NewMailbox {
                address: BOX.to_owned(),
                kind: MailboxKind::Standard,
                state: MailboxState::Attiva,
                quota: 0,
                ordinary_mail: OrdinaryMail::Rifiuta,
                password_hash: "x".to_owned(),
            },
            NOW,
        )
        .await
        .expect("mailbox");
    let blob = store.put(b"0123456789").await.expect("blob");

    // Another connection holds the write lock while 64 batches arrive, so that they queue
    // up behind the writer and go in together; the last two claim the same key.
    let mut intruder = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join(DB_FILE))
        .connect()
        .await
        .expect("second connection");
    intruder.execute("BEGIN IMMEDIATE").await.expect("lock");
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..64 {
        let key = format!("key-{}", n.min(62));
        let (store, batch) = (store.clone(), delivery(n, &key, &blob));
        tasks.spawn(async move { store.commit(batch).await });
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    intruder.execute("ROLLBACK").await.expect("unlock");
    intruder.close().await.expect("close");
    let (mut committed, mut duplicates) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(()) => committed += 1,
            Err(StoreError::Duplicate(key)) => {
                assert_eq!(key, "key-62");
                duplicates += 1;
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((committed, duplicates), (63, 1));

    // Only the committed batches are there, with dense UIDs and one unbroken log chain.
    let messages = store.messages(BOX, "INBOX").await.expect("messages");
    let uids: Vec<u32> = messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids, (1..=63).collect::<Vec<u32>>());
    assert_eq!(
        store
            .mailbox(BOX)
            .await
            .expect("mailbox")
            .expect("exists")
            .used,
        630
    );
    assert_eq!(
        store.verify_chain().await.expect("verify"),
        ChainReport::Intact { events: 63 }
    );
}
