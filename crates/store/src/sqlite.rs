//! The SQLite + files backend: everything a gestore running on one machine keeps, in one
//! directory, with nothing else to install or run.
//!
//! # Layout
//!
//! - `pecora.db` — the SQLite database: accounts, mailbox indexes, the relay queue, the
//!   tracker, the idempotency keys of committed batches and the legal log. WAL journal with
//!   `synchronous=FULL`, so a commit that returned is on disk; foreign keys on. The schema is
//!   `crates/store/migrations/*.sql`, embedded and applied by [`SqliteStore::open`]
//!   (`PRAGMA user_version` counts the scripts applied; a newer database is refused).
//! - `blobs/<first 2 hex>/<other 62 hex>` — message bytes, one file per SHA-256. A blob is
//!   written to a temporary file in its final directory, synced, renamed into place, and the
//!   directory synced, so a blob id handed out always names complete, durable bytes.
//!
//! # Concurrency
//!
//! Every write goes through a pool of exactly one connection and starts with
//! `BEGIN IMMEDIATE` (the write lock from the first statement, never a lock upgrade that can
//! fail half-way). Batches therefore apply one after another: UIDs stay dense and the log
//! stays one chain however many tasks commit at once. The batches that arrive while the
//! writer is busy are committed together (group commit): the next task to get the
//! connection applies all of them in arrival order, each under a savepoint of its own (a
//! batch that fails, a `Duplicate` say, is rolled back alone), in one transaction, so one
//! `COMMIT`, and one WAL sync, makes the lot durable before any of them is answered. Reads go through a separate small pool; in WAL mode they neither wait for the
//! writer nor block it, and a read made of several queries runs in one transaction, so it
//! sees one snapshot (`verify_chain` never sees half a batch).
//!
//! # Decisions the contract leaves to the backend
//!
//! - *The instant of a batch* (a [`Batch`] carries none): the `at` of its first log event.
//!   Queue entries use it as `created_at` (their own `next_attempt` when the batch has no log
//!   event); messages use it as `received_at` (the wall clock when the batch has no log
//!   event — the engine always logs, so only tools and tests get there).
//! - *A tracker event for an entry that is not tracked* fails the batch with
//!   [`StoreError::NotFound`]: the engine checks [`Tracker::tracked`] first, so this is a
//!   bug worth hearing about, not a receipt to drop silently. A repeated event keeps the
//!   earlier instant.
//! - *Lists* (recipients, flags, related Message-IDs) live in child tables with a position
//!   column, so no free text is ever joined or split.
//! - *Names* are ASCII-lowercased on the way in and on every lookup. Log events are stored
//!   exactly as given: their hash covers every byte.
//! - *The ends of the log* are kept in a one-row table apart from the events: the anchor
//!   (the event just before the first retained one) and the head (the last appended). So a
//!   deleted first or last event is noticed too, and `seq` keeps counting after a prune that
//!   removed everything. Pruning removes a prefix of the chain only (see [`LegalLog::prune`]).
//! - *Reading a blob* re-hashes it: a damaged file is an error, never silently wrong bytes.
//! - *Queue ids* are never reused (`AUTOINCREMENT`), so a stale id cannot dequeue a new job.
//! - *UIDVALIDITY* is the second the folder was created, or one more than the highest the
//!   box ever handed out when that is not higher (the highest is kept with the box, so a
//!   deleted folder is not forgotten). A delivery that creates its folder uses the batch's
//!   instant. *MODSEQ* is a counter per folder; see the `mail` submodule for how it moves.
//!
//! - *Holder settings* are columns of `mailboxes` (lists in `new_pec_notices`); the
//!   ordinary-mail policy and its target are kept consistent by a CHECK as well as by the
//!   setters. *Password history* is one table keyed by login (boxes and delegates share a
//!   name space), trimmed to [`crate::PASSWORD_HISTORY`] on every change. *Blocking expired
//!   activations* is one `UPDATE … RETURNING`, so it cannot race an activation.
//! - *API sends* are recorded by the batch of the send, right after its idempotency keys, so
//!   a send and its key land together; their keys are a name space apart from `once` keys.
//! - *Webhook events* are queued by the batch of the delivery, right after each message is
//!   stored, one per webhook of the box for a message with a kind; they keep what they
//!   announce (folder, UID, kind), not a reference to the message, and go with their webhook
//!   (`ON DELETE CASCADE`).
//!
//! Accounts live in `accounts`, holder settings, activation, password history and recovery
//! in `holders`, the panel's accounts in `admins`, the REST API's state in `api`, folders and
//! messages in `mail`; this module holds the connections, the schema, blobs, the queue, the
//! tracker, the legal log, the virus archive and the batch.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::Connection as _;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteQueryResult, SqliteSynchronous,
};
use tokio::sync::oneshot;

use crate::{
    Batch, BlobId, Blobs, ChainReport, LegalLog, LogEvent, NewLogEvent, NewQueueEntry, NewTracker,
    NewVirusRecord, Queue, QueueEntry, QueueRetry, Result, Store, StoreError, Tracker,
    TrackerEntry, TrackerUpdate, VirusArchive, VirusRecord, chain_hash,
};

mod accounts;
mod admins;
mod api;
mod holders;
mod mail;

/// The database file inside the data directory.
pub const DB_FILE: &str = "pecora.db";
/// The blob directory inside the data directory.
pub const BLOB_DIR: &str = "blobs";

/// The schema scripts, in order; script `i` takes the database to `user_version = i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_schema.sql"),
    include_str!("../migrations/0002_virus_archive.sql"),
    include_str!("../migrations/0003_mail_access.sql"),
    include_str!("../migrations/0004_web.sql"),
    include_str!("../migrations/0005_webhook_outbox.sql"),
    include_str!("../migrations/0006_api_send_digest.sql"),
];
/// How long a statement waits for a lock held by another process, and a caller for the
/// writer connection, before giving up.
const WAIT: Duration = Duration::from_secs(30);
/// Connections for reads.
const READERS: u32 = 4;
/// Starts a write transaction holding the write lock from the start.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// Events read at a time by `verify_chain`, so a log of any length fits in memory.
const VERIFY_PAGE: i64 = 1000;

/// The SQLite + files backend (see the [module documentation](self)).
///
/// Cloning is cheap and shares the connections.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The only connection that writes.
    writer: SqlitePool,
    readers: SqlitePool,
    /// `<dir>/blobs`.
    blobs: PathBuf,
    /// Batches waiting for the writer, with where to send each one's result.
    pending: Arc<Mutex<Vec<Pending>>>,
}

/// A batch waiting to be committed, and its committer's answer channel.
type Pending = (Batch, oneshot::Sender<Result<()>>);

impl SqliteStore {
    /// Opens (creating it if needed) the store in `dir`: the directory, the database with
    /// its schema brought up to date, and the blob directory.
    pub async fn open(dir: &Path) -> Result<SqliteStore> {
        let blobs = dir.join(BLOB_DIR);
        let (data_dir, blob_dir) = (dir.to_path_buf(), blobs.clone());
        blocking(move || {
            std::fs::create_dir_all(&data_dir).map_err(|e| {
                io_err(
                    e,
                    format_args!("creating data directory {}", data_dir.display()),
                )
            })?;
            ensure_dir(&blob_dir)
        })
        .await?;

        let path = dir.join(DB_FILE);
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Statement and savepoint journals in memory, not in a file created and deleted
            // per statement: they only serve to roll back within a transaction.
            .pragma("temp_store", "memory")
            .busy_timeout(WAIT);
        // A local file has no connection to lose: no round trip to test it before each use.
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(WAIT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(|e| db_err(e, format_args!("opening database {}", path.display())))?;
        migrate(&writer, &path).await?;
        let readers = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(READERS)
            .acquire_timeout(WAIT)
            .connect_with(options)
            .await
            .map_err(|e| db_err(e, format_args!("opening database {}", path.display())))?;
        Ok(SqliteStore {
            writer,
            readers,
            blobs,
            pending: Arc::default(),
        })
    }

    /// Closes every connection, waiting for those in use (a clean shutdown: SQLite
    /// checkpoints the WAL when the last connection closes). Dropping the store is safe too:
    /// every committed batch is already durable.
    pub async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }

    /// The file of blob `id`, or `None` if `id` is not a lowercase hex SHA-256 (which also
    /// keeps ids like `../x` away from the file system).
    fn blob_path(&self, id: &str) -> Option<PathBuf> {
        let valid = id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| self.blobs.join(&id[..2]).join(&id[2..]))
    }

    /// A write transaction holding the write lock.
    async fn write(&self, what: &str) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.writer
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(|e| db_err(e, format_args!("starting to write ({what})")))
    }

    /// A read transaction: every query in it sees the same snapshot.
    async fn read(&self, what: &str) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.readers
            .begin()
            .await
            .map_err(|e| db_err(e, format_args!("starting to read ({what})")))
    }
}

/// Applies the schema scripts the database has not seen yet, in one transaction.
///
/// Foreign keys are off while the scripts run, as SQLite's table rebuild (a new table, a
/// copy, a drop, a rename: the only way to change a CHECK) requires; every reference is
/// checked before the transaction commits, so a script cannot leave a dangling one. They
/// are on again however the update ends.
async fn migrate(pool: &SqlitePool, path: &Path) -> Result<()> {
    let mut conn = pool.acquire().await.map_err(db("waiting for the writer"))?;
    set_foreign_keys(&mut conn, false).await?;
    let updated = apply_migrations(&mut conn, path).await;
    let restored = set_foreign_keys(&mut conn, true).await;
    updated.and(restored)
}

/// `PRAGMA foreign_keys` (a no-op inside a transaction, so only between them).
async fn set_foreign_keys(conn: &mut SqliteConnection, on: bool) -> Result<()> {
    let sql = if on {
        "PRAGMA foreign_keys = ON"
    } else {
        "PRAGMA foreign_keys = OFF"
    };
    sqlx::raw_sql(sql)
        .execute(&mut *conn)
        .await
        .map_err(db("switching foreign keys for the schema update"))?;
    Ok(())
}

/// The transaction of [`migrate`].
async fn apply_migrations(conn: &mut SqliteConnection, path: &Path) -> Result<()> {
    let mut tx = conn
        .begin_with(BEGIN_WRITE)
        .await
        .map_err(db("starting the schema update"))?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await
        .map_err(db("reading the schema version"))?;
    let known = MIGRATIONS.len();
    let applied = usize::try_from(version).unwrap_or(usize::MAX);
    if applied > known {
        return Err(StoreError::Backend(format!(
            "database {} has schema version {version}, newer than this pecora's {known}; \
             refusing to open it",
            path.display()
        )));
    }
    if applied == known {
        return Ok(());
    }
    for (i, script) in MIGRATIONS.iter().enumerate().skip(applied) {
        sqlx::raw_sql(script)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_err(e, format_args!("applying schema script {}", i + 1)))?;
    }
    let dangling: Option<String> =
        sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_check")
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("checking references after the schema update"))?;
    if let Some(table) = dangling {
        return Err(StoreError::Backend(format!(
            "the schema update left a dangling reference in table {table}"
        )));
    }
    sqlx::raw_sql(&format!("PRAGMA user_version = {known}"))
        .execute(&mut *tx)
        .await
        .map_err(db("recording the schema version"))?;
    tx.commit()
        .await
        .map_err(db("committing the schema update"))
}

// ---------------------------------------------------------------------------------------
// Errors and conversions

fn db_err(e: sqlx::Error, context: impl Display) -> StoreError {
    StoreError::Backend(format!("{context}: {e}"))
}

fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| db_err(e, context)
}

/// Keeps the kind of an I/O error and prefixes what was being done.
fn io_err(e: std::io::Error, context: impl Display) -> StoreError {
    StoreError::Io(std::io::Error::new(e.kind(), format!("{context}: {e}")))
}

fn to_i64(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value)
        .map_err(|_| StoreError::Backend(format!("{what} {value} is too large to store")))
}

fn to_u64(value: i64, what: &str) -> Result<u64> {
    u64::try_from(value)
        .map_err(|_| StoreError::Backend(format!("stored {what} {value} is negative")))
}

fn to_u32(value: i64, what: &str) -> Result<u32> {
    u32::try_from(value)
        .map_err(|_| StoreError::Backend(format!("stored {what} {value} is out of range")))
}

/// Parses a stored enum name; an unknown one means the database was edited by hand or by a
/// newer version.
fn parse<T>(value: &str) -> Result<T>
where
    T: FromStr,
    T::Err: Display,
{
    value
        .parse()
        .map_err(|e| StoreError::Backend(format!("stored value is not valid: {e}")))
}

/// `NotFound(what)` unless the statement touched a row.
fn expect_row(result: SqliteQueryResult, what: impl FnOnce() -> String) -> Result<()> {
    if result.rows_affected() == 0 {
        Err(StoreError::NotFound(what()))
    } else {
        Ok(())
    }
}

/// Unix seconds now; only for a batch that brings no instant of its own.
fn wall_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Blob files

/// Runs file-system work off the async threads.
async fn blocking<T, F>(work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Backend(format!("blob file task failed: {e}")))?
}

/// Creates `dir` if missing and, when it did, syncs its parent so the new entry survives a
/// crash.
fn ensure_dir(dir: &Path) -> Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => match dir.parent() {
            Some(parent) => sync_dir(parent),
            None => Ok(()),
        },
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err(
            e,
            format_args!("creating directory {}", dir.display()),
        )),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(e, format_args!("syncing directory {}", dir.display())))
}

/// Distinguishes the temporary files of concurrent writers in this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` as `shard/name` unless it is already there (see the module docs).
fn write_blob(shard: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    ensure_dir(shard)?;
    let target = shard.join(name);
    let present = target
        .try_exists()
        .map_err(|e| io_err(e, format_args!("looking for blob {}", target.display())))?;
    if present {
        return Ok(());
    }
    let temp = shard.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = File::options()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, &target));
    if let Err(e) = written {
        // Best effort: the temporary file is garbage either way, and the error that matters
        // is the one being returned.
        let _ = std::fs::remove_file(&temp);
        return Err(io_err(e, format_args!("writing blob {}", target.display())));
    }
    sync_dir(shard)
}

#[async_trait]
impl Blobs for SqliteStore {
    async fn put(&self, bytes: &[u8]) -> Result<BlobId> {
        let id = hex_sha256(bytes);
        let shard = self.blobs.join(&id[..2]);
        let name = id[2..].to_owned();
        let bytes = bytes.to_vec();
        blocking(move || write_blob(&shard, &name, &bytes)).await?;
        Ok(id)
    }

    async fn get(&self, id: &str) -> Result<Vec<u8>> {
        let Some(path) = self.blob_path(id) else {
            return Err(StoreError::NotFound(format!("blob {id:?}")));
        };
        let id = id.to_owned();
        blocking(move || {
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Err(StoreError::NotFound(format!("blob {id}")));
                }
                Err(e) => return Err(io_err(e, format_args!("reading blob {}", path.display()))),
            };
            let actual = hex_sha256(&bytes);
            if actual != id {
                return Err(StoreError::Io(std::io::Error::new(
                    ErrorKind::InvalidData,
                    format!(
                        "blob file {} is damaged: its bytes hash to {actual}",
                        path.display()
                    ),
                )));
            }
            Ok(bytes)
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------
// Queue

#[derive(sqlx::FromRow)]
struct QueueRow {
    id: i64,
    blob: String,
    mail_from: String,
    domain: String,
    attempts: i64,
    next_attempt: i64,
    last_error: Option<String>,
    created_at: i64,
    identificativo: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RcptRow {
    queue_id: i64,
    address: String,
}

/// Appends each child value, in order, to the list of the owner with its id (children of
/// unknown owners are ignored).
fn attach<T>(
    owners: &mut [T],
    id: impl Fn(&T) -> i64,
    list: impl Fn(&mut T) -> &mut Vec<String>,
    children: impl IntoIterator<Item = (i64, String)>,
) {
    let index: HashMap<i64, usize> = owners.iter().enumerate().map(|(i, o)| (id(o), i)).collect();
    for (owner, value) in children {
        if let Some(&i) = index.get(&owner) {
            list(&mut owners[i]).push(value);
        }
    }
}

/// Builds queue entries from their rows (in the wanted order) and all their recipients.
fn assemble_queue(rows: Vec<QueueRow>, rcpts: Vec<RcptRow>) -> Result<Vec<QueueEntry>> {
    let mut entries = rows
        .into_iter()
        .map(|r| {
            Ok(QueueEntry {
                id: r.id,
                blob: r.blob,
                mail_from: r.mail_from,
                rcpt_to: Vec::new(),
                domain: r.domain,
                attempts: to_u32(r.attempts, "attempt count")?,
                next_attempt: r.next_attempt,
                last_error: r.last_error,
                created_at: r.created_at,
                identificativo: r.identificativo,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    attach(
        &mut entries,
        |e| e.id,
        |e| &mut e.rcpt_to,
        rcpts.into_iter().map(|r| (r.queue_id, r.address)),
    );
    Ok(entries)
}

#[async_trait]
impl Queue for SqliteStore {
    async fn due(&self, now: i64, limit: usize) -> Result<Vec<QueueEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut tx = self.read("due").await?;
        let rows: Vec<QueueRow> = sqlx::query_as(
            "SELECT id, blob, mail_from, domain, attempts, next_attempt, last_error, created_at, \
             identificativo FROM queue WHERE next_attempt <= ?1 \
             ORDER BY next_attempt, id LIMIT ?2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("listing due queue entries"))?;
        let rcpts: Vec<RcptRow> = sqlx::query_as(
            "SELECT queue_id, address FROM queue_rcpt WHERE queue_id IN \
             (SELECT id FROM queue WHERE next_attempt <= ?1 ORDER BY next_attempt, id LIMIT ?2) \
             ORDER BY queue_id, pos",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading recipients of due queue entries"))?;
        tx.commit().await.map_err(db("ending a read"))?;
        assemble_queue(rows, rcpts)
    }

    async fn queued(&self) -> Result<Vec<QueueEntry>> {
        let mut tx = self.read("queued").await?;
        let rows: Vec<QueueRow> = sqlx::query_as(
            "SELECT id, blob, mail_from, domain, attempts, next_attempt, last_error, created_at, \
             identificativo FROM queue ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db("listing the queue"))?;
        let rcpts: Vec<RcptRow> =
            sqlx::query_as("SELECT queue_id, address FROM queue_rcpt ORDER BY queue_id, pos")
                .fetch_all(&mut *tx)
                .await
                .map_err(db("reading queue recipients"))?;
        tx.commit().await.map_err(db("ending a read"))?;
        assemble_queue(rows, rcpts)
    }

    async fn retry_later(&self, id: i64, next_attempt: i64, error: &str) -> Result<()> {
        let mut conn = self
            .writer
            .acquire()
            .await
            .map_err(db("waiting for the writer"))?;
        failed_attempt(&mut conn, id, next_attempt, error).await
    }
}

/// Counts a failed attempt of queue entry `id`: `attempts + 1`, its next attempt and error.
async fn failed_attempt(
    conn: &mut SqliteConnection,
    id: i64,
    next_attempt: i64,
    error: &str,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE queue SET attempts = attempts + 1, next_attempt = ?1, last_error = ?2 \
         WHERE id = ?3",
    )
    .bind(next_attempt)
    .bind(error)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        db_err(
            e,
            format_args!("recording a failed attempt of queue entry {id}"),
        )
    })?;
    expect_row(done, || format!("queue entry {id}"))
}

/// A job keeps only the recipients still to try, and counts the attempt as failed.
async fn retry(conn: &mut SqliteConnection, r: &QueueRetry) -> Result<()> {
    failed_attempt(conn, r.id, r.next_attempt, &r.error).await?;
    sqlx::query("DELETE FROM queue_rcpt WHERE queue_id = ?1")
        .bind(r.id)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("narrowing queue entry {}", r.id)))?;
    insert_list(
        conn,
        "INSERT INTO queue_rcpt (queue_id, pos, address) VALUES (?1, ?2, ?3)",
        r.id,
        &r.rcpt_to,
        &format!("the recipients of queue entry {}", r.id),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Tracker

#[derive(sqlx::FromRow)]
struct TrackerRow {
    id: i64,
    identificativo: String,
    recipient: String,
    mittente: String,
    sent_at: i64,
}

#[derive(sqlx::FromRow)]
struct TrackerEventRow {
    tracker_id: i64,
    event: String,
    at: i64,
}

/// Builds tracker entries from their rows (in the wanted order) and all their events.
fn assemble_tracker(
    rows: Vec<TrackerRow>,
    events: Vec<TrackerEventRow>,
) -> Result<Vec<TrackerEntry>> {
    let index: HashMap<i64, usize> = rows.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    let mut entries: Vec<TrackerEntry> = rows
        .into_iter()
        .map(|r| TrackerEntry {
            identificativo: r.identificativo,
            recipient: r.recipient,
            mittente: r.mittente,
            sent_at: r.sent_at,
            events: Vec::new(),
        })
        .collect();
    for e in events {
        if let Some(&i) = index.get(&e.tracker_id) {
            entries[i].events.push((parse(&e.event)?, e.at));
        }
    }
    Ok(entries)
}

#[async_trait]
impl Tracker for SqliteStore {
    async fn tracked(&self, identificativo: &str) -> Result<Vec<TrackerEntry>> {
        let mut tx = self.read("tracked").await?;
        let rows: Vec<TrackerRow> = sqlx::query_as(
            "SELECT id, identificativo, recipient, mittente, sent_at FROM tracker \
             WHERE identificativo = ?1 ORDER BY recipient",
        )
        .bind(identificativo)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| db_err(e, format_args!("reading the tracker of {identificativo}")))?;
        let events: Vec<TrackerEventRow> = sqlx::query_as(
            "SELECT e.tracker_id, e.event, e.at FROM tracker_events e \
             JOIN tracker t ON t.id = e.tracker_id WHERE t.identificativo = ?1 \
             ORDER BY e.at, e.event",
        )
        .bind(identificativo)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| {
            db_err(
                e,
                format_args!("reading the tracker events of {identificativo}"),
            )
        })?;
        tx.commit().await.map_err(db("ending a read"))?;
        assemble_tracker(rows, events)
    }

    async fn open_entries(&self) -> Result<Vec<TrackerEntry>> {
        let mut tx = self.read("open_entries").await?;
        let rows: Vec<TrackerRow> = sqlx::query_as(
            "SELECT id, identificativo, recipient, mittente, sent_at FROM tracker \
             WHERE closed_at IS NULL ORDER BY sent_at, id",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db("listing open tracker entries"))?;
        let events: Vec<TrackerEventRow> = sqlx::query_as(
            "SELECT e.tracker_id, e.event, e.at FROM tracker_events e \
             JOIN tracker t ON t.id = e.tracker_id WHERE t.closed_at IS NULL \
             ORDER BY e.at, e.event",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading events of open tracker entries"))?;
        tx.commit().await.map_err(db("ending a read"))?;
        assemble_tracker(rows, events)
    }
}

// ---------------------------------------------------------------------------------------
// Legal log

#[derive(sqlx::FromRow)]
struct LogRow {
    seq: i64,
    at: i64,
    kind: String,
    identificativo: Option<String>,
    msgid: Option<String>,
    sender: String,
    subject: String,
    provider: String,
    detail: Option<String>,
    daticert: Option<String>,
    actor: Option<String>,
    prev_hash: String,
    hash: String,
}

/// One element of a list column of the log (a recipient or a related Message-ID).
#[derive(sqlx::FromRow)]
struct LogItemRow {
    seq: i64,
    value: String,
}

#[derive(sqlx::FromRow)]
struct ChainEnds {
    anchor_seq: i64,
    anchor_hash: String,
    head_seq: i64,
    head_hash: String,
}

/// Builds log events from their rows (by seq) and their list items (by seq, position).
fn assemble_log(
    rows: Vec<LogRow>,
    recipients: Vec<LogItemRow>,
    related: Vec<LogItemRow>,
) -> Result<Vec<LogEvent>> {
    let mut events = rows
        .into_iter()
        .map(|r| {
            Ok(LogEvent {
                seq: to_u64(r.seq, "log seq")?,
                event: NewLogEvent {
                    at: r.at,
                    kind: r.kind,
                    identificativo: r.identificativo,
                    msgid: r.msgid,
                    sender: r.sender,
                    recipients: Vec::new(),
                    subject: r.subject,
                    related: Vec::new(),
                    provider: r.provider,
                    detail: r.detail,
                    daticert: r.daticert,
                    actor: r.actor,
                },
                prev_hash: r.prev_hash,
                hash: r.hash,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    for item in recipients {
        let seq = to_u64(item.seq, "log seq")?;
        if let Ok(i) = events.binary_search_by_key(&seq, |e| e.seq) {
            events[i].event.recipients.push(item.value);
        }
    }
    for item in related {
        let seq = to_u64(item.seq, "log seq")?;
        if let Ok(i) = events.binary_search_by_key(&seq, |e| e.seq) {
            events[i].event.related.push(item.value);
        }
    }
    Ok(events)
}

/// Which legal-log events to load.
enum LogFilter<'a> {
    /// The events with `after < seq`, at most `limit` of them.
    Page { after: i64, limit: i64 },
    /// The events about one message.
    Identificativo(&'a str),
    /// The events with `since <= at < until`.
    Between { since: i64, until: i64 },
}

impl<'a> LogFilter<'a> {
    /// A subquery selecting the wanted `seq`s, and its parameters bound to `q`.
    fn subquery(&self) -> &'static str {
        match self {
            LogFilter::Page { .. } => "SELECT seq FROM log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            LogFilter::Identificativo(_) => "SELECT seq FROM log WHERE identificativo = ?1",
            LogFilter::Between { .. } => "SELECT seq FROM log WHERE at >= ?1 AND at < ?2",
        }
    }

    fn bind<O>(
        &self,
        q: sqlx::query::QueryAs<'a, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments<'a>>,
    ) -> sqlx::query::QueryAs<'a, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments<'a>> {
        match self {
            LogFilter::Page { after, limit } => q.bind(*after).bind(*limit),
            LogFilter::Identificativo(id) => q.bind(*id),
            LogFilter::Between { since, until } => q.bind(*since).bind(*until),
        }
    }
}

/// Loads the events `filter` selects, with their recipients and related messages, by seq.
async fn load_log(conn: &mut SqliteConnection, filter: LogFilter<'_>) -> Result<Vec<LogEvent>> {
    let sub = filter.subquery();
    let rows_sql = format!(
        "SELECT seq, at, kind, identificativo, msgid, sender, subject, provider, detail, \
         daticert, actor, prev_hash, hash FROM log WHERE seq IN ({sub}) ORDER BY seq"
    );
    let rows: Vec<LogRow> = filter
        .bind(sqlx::query_as(&rows_sql))
        .fetch_all(&mut *conn)
        .await
        .map_err(db("reading the legal log"))?;
    let mut items = Vec::new();
    for (table, column) in [("log_recipients", "address"), ("log_related", "msgid")] {
        let sql = format!(
            "SELECT seq, {column} AS value FROM {table} WHERE seq IN ({sub}) ORDER BY seq, pos"
        );
        let found: Vec<LogItemRow> = filter
            .bind(sqlx::query_as(&sql))
            .fetch_all(&mut *conn)
            .await
            .map_err(db("reading the legal log's lists"))?;
        items.push(found);
    }
    let related = items.pop().unwrap_or_default();
    let recipients = items.pop().unwrap_or_default();
    assemble_log(rows, recipients, related)
}

async fn chain_ends(conn: &mut SqliteConnection) -> Result<ChainEnds> {
    sqlx::query_as(
        "SELECT anchor_seq, anchor_hash, head_seq, head_hash FROM log_chain WHERE id = 1",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db("reading the ends of the legal-log chain"))
}

/// Checks the events against the recorded ends of the chain, page by page.
async fn verify(conn: &mut SqliteConnection) -> Result<ChainReport> {
    let ends = chain_ends(conn).await?;
    let anchor = to_u64(ends.anchor_seq, "log anchor seq")?;
    let head = to_u64(ends.head_seq, "log head seq")?;
    let mut expected = anchor + 1;
    let mut prev = ends.anchor_hash;
    let mut count = 0_u64;
    // From the very start, not from the anchor: an event left before it is a fault too.
    let mut after = i64::MIN;
    loop {
        let page = load_log(
            conn,
            LogFilter::Page {
                after,
                limit: VERIFY_PAGE,
            },
        )
        .await?;
        let Some(last) = page.last() else { break };
        after = to_i64(last.seq, "log seq")?;
        for e in page {
            if e.seq < expected {
                return Ok(ChainReport::Broken {
                    seq: e.seq,
                    reason: format!(
                        "event {} lies before the first retained event {expected}",
                        e.seq
                    ),
                });
            }
            if e.seq > expected {
                let reason = if e.seq == expected + 1 {
                    format!("event {expected} is missing")
                } else {
                    format!("events {expected} to {} are missing", e.seq - 1)
                };
                return Ok(ChainReport::Broken {
                    seq: expected,
                    reason,
                });
            }
            if e.prev_hash != prev {
                let reason = if count == 0 {
                    format!(
                        "prev_hash {} is not the retention anchor {prev}",
                        e.prev_hash
                    )
                } else {
                    format!(
                        "prev_hash {} is not the hash {prev} of event {}",
                        e.prev_hash,
                        e.seq - 1
                    )
                };
                return Ok(ChainReport::Broken { seq: e.seq, reason });
            }
            let computed = chain_hash(&e.prev_hash, e.seq, &e.event);
            if computed != e.hash {
                return Ok(ChainReport::Broken {
                    seq: e.seq,
                    reason: format!(
                        "content hashes to {computed}, the stored hash is {}",
                        e.hash
                    ),
                });
            }
            prev = e.hash;
            expected += 1;
            count += 1;
        }
    }
    let last = expected - 1;
    if last < head {
        let reason = if last + 1 == head {
            format!("event {head}, the last one appended, is missing")
        } else {
            format!(
                "events {} to {head}, the last ones appended, are missing",
                last + 1
            )
        };
        return Ok(ChainReport::Broken {
            seq: last + 1,
            reason,
        });
    }
    if last > head {
        return Ok(ChainReport::Broken {
            seq: head + 1,
            reason: format!("events after {head}, the last one appended, were added"),
        });
    }
    if prev != ends.head_hash {
        return Ok(ChainReport::Broken {
            seq: head,
            reason: format!(
                "hash {prev} differs from the recorded head {}",
                ends.head_hash
            ),
        });
    }
    Ok(ChainReport::Intact { events: count })
}

#[async_trait]
impl LegalLog for SqliteStore {
    async fn events_between(&self, since: i64, until: i64) -> Result<Vec<LogEvent>> {
        let mut tx = self.read("events_between").await?;
        let events = load_log(&mut tx, LogFilter::Between { since, until }).await?;
        tx.commit().await.map_err(db("ending a read"))?;
        Ok(events)
    }

    async fn counts(&self, since: i64, until: i64) -> Result<Vec<(i64, String, u64)>> {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT at - (at % 3600) AS hour, kind, count(*) FROM log \
             WHERE at >= ?1 AND at < ?2 GROUP BY hour, kind ORDER BY hour, kind",
        )
        .bind(since)
        .bind(until)
        .fetch_all(&self.readers)
        .await
        .map_err(db("counting legal-log events per hour"))?;
        rows.into_iter()
            .map(|(hour, kind, n)| Ok((hour, kind, to_u64(n, "event count")?)))
            .collect()
    }

    async fn events(&self, identificativo: &str) -> Result<Vec<LogEvent>> {
        let mut tx = self.read("events").await?;
        let events = load_log(&mut tx, LogFilter::Identificativo(identificativo)).await?;
        tx.commit().await.map_err(db("ending a read"))?;
        Ok(events)
    }

    async fn verify_chain(&self) -> Result<ChainReport> {
        let mut tx = self.read("verify_chain").await?;
        let report = verify(&mut tx).await?;
        tx.commit().await.map_err(db("ending a read"))?;
        Ok(report)
    }

    async fn prune(&self, before: i64) -> Result<u64> {
        let mut tx = self.write("prune").await?;
        let ends = chain_ends(&mut tx).await?;
        let keep_from: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM log WHERE at >= ?1 ORDER BY seq LIMIT 1")
                .bind(before)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("finding the first event to keep"))?;
        let cut = keep_from.unwrap_or(ends.head_seq.saturating_add(1));
        let last_pruned: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM log WHERE seq < ?1 ORDER BY seq DESC LIMIT 1")
                .bind(cut)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("finding the last event to prune"))?;
        let Some((anchor_seq, anchor_hash)) = last_pruned else {
            return Ok(0);
        };
        for sql in [
            "DELETE FROM log_recipients WHERE seq < ?1",
            "DELETE FROM log_related WHERE seq < ?1",
        ] {
            sqlx::query(sql)
                .bind(cut)
                .execute(&mut *tx)
                .await
                .map_err(db("pruning legal-log lists"))?;
        }
        let removed = sqlx::query("DELETE FROM log WHERE seq < ?1")
            .bind(cut)
            .execute(&mut *tx)
            .await
            .map_err(db("pruning legal-log events"))?
            .rows_affected();
        sqlx::query("UPDATE log_chain SET anchor_seq = ?1, anchor_hash = ?2 WHERE id = 1")
            .bind(anchor_seq)
            .bind(&anchor_hash)
            .execute(&mut *tx)
            .await
            .map_err(db("moving the legal-log anchor"))?;
        tx.commit().await.map_err(db("committing a prune"))?;
        Ok(removed)
    }
}

// ---------------------------------------------------------------------------------------
// Virus archive

#[derive(sqlx::FromRow)]
struct VirusRow {
    id: i64,
    at: i64,
    point: String,
    virus: String,
    blob: String,
    size: i64,
    identificativo: Option<String>,
    sender: String,
    subject: String,
    gestore: String,
}

#[derive(sqlx::FromRow)]
struct VirusRcptRow {
    record: i64,
    address: String,
}

const VIRUS_COLUMNS: &str = "SELECT id, at, point, virus, blob, size, identificativo, sender, subject, gestore \
     FROM virus_archive";

/// Builds records from their rows (in the wanted order) and all their recipients.
fn assemble_viruses(rows: Vec<VirusRow>, rcpts: Vec<VirusRcptRow>) -> Result<Vec<VirusRecord>> {
    let mut records = rows
        .into_iter()
        .map(|r| {
            Ok(VirusRecord {
                id: r.id,
                record: NewVirusRecord {
                    at: r.at,
                    point: parse(&r.point)?,
                    virus: r.virus,
                    blob: r.blob,
                    size: to_u64(r.size, "virus archive size")?,
                    identificativo: r.identificativo,
                    sender: r.sender,
                    recipients: Vec::new(),
                    subject: r.subject,
                    gestore: r.gestore,
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    attach(
        &mut records,
        |r| r.id,
        |r| &mut r.record.recipients,
        rcpts.into_iter().map(|r| (r.record, r.address)),
    );
    Ok(records)
}

#[async_trait]
impl VirusArchive for SqliteStore {
    async fn virus_records(&self, since: i64, until: i64) -> Result<Vec<VirusRecord>> {
        let mut tx = self.read("virus records").await?;
        let rows: Vec<VirusRow> = sqlx::query_as(&format!(
            "{VIRUS_COLUMNS} WHERE at >= ?1 AND at < ?2 ORDER BY id"
        ))
        .bind(since)
        .bind(until)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("listing the virus archive"))?;
        let rcpts: Vec<VirusRcptRow> = sqlx::query_as(
            "SELECT record, address FROM virus_archive_rcpt WHERE record IN \
             (SELECT id FROM virus_archive WHERE at >= ?1 AND at < ?2) ORDER BY record, pos",
        )
        .bind(since)
        .bind(until)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading the recipients of the virus archive"))?;
        tx.commit().await.map_err(db("ending a read"))?;
        assemble_viruses(rows, rcpts)
    }

    async fn virus_record(&self, id: i64) -> Result<VirusRecord> {
        let mut tx = self.read("virus record").await?;
        let rows: Vec<VirusRow> = sqlx::query_as(&format!("{VIRUS_COLUMNS} WHERE id = ?1"))
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| db_err(e, format_args!("reading virus record {id}")))?;
        let rcpts: Vec<VirusRcptRow> = sqlx::query_as(
            "SELECT record, address FROM virus_archive_rcpt WHERE record = ?1 ORDER BY pos",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| {
            db_err(
                e,
                format_args!("reading the recipients of virus record {id}"),
            )
        })?;
        tx.commit().await.map_err(db("ending a read"))?;
        assemble_viruses(rows, rcpts)?
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("virus record {id}")))
    }

    async fn prune_virus_archive(&self, before: i64) -> Result<u64> {
        let mut tx = self.write("prune virus archive").await?;
        let removed = sqlx::query("DELETE FROM virus_archive WHERE at < ?1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(db("pruning the virus archive"))?
            .rows_affected();
        tx.commit()
            .await
            .map_err(db("committing a virus-archive prune"))?;
        Ok(removed)
    }
}

async fn archive_virus(conn: &mut SqliteConnection, v: &NewVirusRecord) -> Result<()> {
    let id = sqlx::query(
        "INSERT INTO virus_archive (at, point, virus, blob, size, identificativo, sender, \
         subject, gestore) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(v.at)
    .bind(v.point.as_str())
    .bind(&v.virus)
    .bind(&v.blob)
    .bind(to_i64(v.size, "message size")?)
    .bind(&v.identificativo)
    .bind(&v.sender)
    .bind(&v.subject)
    .bind(&v.gestore)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        db_err(
            e,
            format_args!("archiving a message blocked for {}", v.virus),
        )
    })?
    .last_insert_rowid();
    insert_list(
        conn,
        "INSERT INTO virus_archive_rcpt (record, pos, address) VALUES (?1, ?2, ?3)",
        id,
        &v.recipients,
        &format!("the recipients of virus record {id}"),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// The batch

/// Stores `values` in order as the list of row `owner` in a child table; `insert` takes the
/// owner's id, the position and the value, in that order.
async fn insert_list(
    conn: &mut SqliteConnection,
    insert: &'static str,
    owner: i64,
    values: &[String],
    what: &str,
) -> Result<()> {
    for (pos, value) in (0_i64..).zip(values) {
        sqlx::query(insert)
            .bind(owner)
            .bind(pos)
            .bind(value)
            .execute(&mut *conn)
            .await
            .map_err(|e| db_err(e, format_args!("storing {what}")))?;
    }
    Ok(())
}

/// Records the batch's idempotency keys; `Duplicate` for the first one already there. A
/// key repeated inside the batch counts once.
async fn claim_once_keys(conn: &mut SqliteConnection, keys: &[String]) -> Result<()> {
    let mut seen = HashSet::new();
    for key in keys {
        if !seen.insert(key.as_str()) {
            continue;
        }
        let done =
            sqlx::query("INSERT INTO once_keys (key) VALUES (?1) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .execute(&mut *conn)
                .await
                .map_err(|e| db_err(e, format_args!("recording idempotency key {key:?}")))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Duplicate(key.clone()));
        }
    }
    Ok(())
}

async fn enqueue(conn: &mut SqliteConnection, q: &NewQueueEntry, created_at: i64) -> Result<()> {
    let domain = q.domain.to_ascii_lowercase();
    let id = sqlx::query(
        "INSERT INTO queue (blob, mail_from, domain, attempts, next_attempt, last_error, \
         created_at, identificativo) VALUES (?1, ?2, ?3, 0, ?4, NULL, ?5, ?6)",
    )
    .bind(&q.blob)
    .bind(&q.mail_from)
    .bind(&domain)
    .bind(q.next_attempt)
    .bind(created_at)
    .bind(&q.identificativo)
    .execute(&mut *conn)
    .await
    .map_err(|e| db_err(e, format_args!("queueing a relay job to {domain}")))?
    .last_insert_rowid();
    insert_list(
        conn,
        "INSERT INTO queue_rcpt (queue_id, pos, address) VALUES (?1, ?2, ?3)",
        id,
        &q.rcpt_to,
        &format!("the recipients of queue entry {id}"),
    )
    .await
}

async fn dequeue(conn: &mut SqliteConnection, id: i64) -> Result<()> {
    sqlx::query("DELETE FROM queue WHERE id = ?1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("removing queue entry {id}")))?;
    Ok(())
}

async fn track(conn: &mut SqliteConnection, t: &NewTracker) -> Result<()> {
    let recipient = t.recipient.to_ascii_lowercase();
    sqlx::query(
        "INSERT INTO tracker (identificativo, recipient, mittente, sent_at) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (identificativo, recipient) DO NOTHING",
    )
    .bind(&t.identificativo)
    .bind(&recipient)
    .bind(&t.mittente)
    .bind(t.sent_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        db_err(
            e,
            format_args!("tracking {} to {recipient}", t.identificativo),
        )
    })?;
    Ok(())
}

/// Records an event (keeping the earlier instant of a repeated one) and closes the entry on
/// a final event.
async fn tracker_event(conn: &mut SqliteConnection, u: &TrackerUpdate) -> Result<()> {
    let recipient = u.recipient.to_ascii_lowercase();
    let entry = || format!("tracker entry of {} to {recipient}", u.identificativo);
    let id: Option<i64> =
        sqlx::query_scalar("SELECT id FROM tracker WHERE identificativo = ?1 AND recipient = ?2")
            .bind(&u.identificativo)
            .bind(&recipient)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| db_err(e, format_args!("looking up the {}", entry())))?;
    let Some(id) = id else {
        return Err(StoreError::NotFound(entry()));
    };
    sqlx::query(
        "INSERT INTO tracker_events (tracker_id, event, at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (tracker_id, event) DO UPDATE SET at = min(at, excluded.at)",
    )
    .bind(id)
    .bind(u.event.as_str())
    .bind(u.at)
    .execute(&mut *conn)
    .await
    .map_err(|e| db_err(e, format_args!("recording {} in the {}", u.event, entry())))?;
    if u.event.is_final() {
        sqlx::query(
            "UPDATE tracker SET closed_at = coalesce(min(closed_at, ?2), ?2) WHERE id = ?1",
        )
        .bind(id)
        .bind(u.at)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("closing the {}", entry())))?;
    }
    Ok(())
}

/// Appends events to the chain after the recorded head, and moves the head.
async fn append_log(conn: &mut SqliteConnection, events: &[NewLogEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let ends = chain_ends(conn).await?;
    let mut seq = to_u64(ends.head_seq, "log head seq")?;
    let mut prev = ends.head_hash;
    for e in events {
        seq += 1;
        let hash = chain_hash(&prev, seq, e);
        let row = to_i64(seq, "log seq")?;
        sqlx::query(
            "INSERT INTO log (seq, at, kind, identificativo, msgid, sender, subject, provider, \
             detail, daticert, actor, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )
        .bind(row)
        .bind(e.at)
        .bind(&e.kind)
        .bind(&e.identificativo)
        .bind(&e.msgid)
        .bind(&e.sender)
        .bind(&e.subject)
        .bind(&e.provider)
        .bind(&e.detail)
        .bind(&e.daticert)
        .bind(&e.actor)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("appending legal-log event {seq}")))?;
        insert_list(
            conn,
            "INSERT INTO log_recipients (seq, pos, address) VALUES (?1, ?2, ?3)",
            row,
            &e.recipients,
            &format!("recipients of log event {seq}"),
        )
        .await?;
        insert_list(
            conn,
            "INSERT INTO log_related (seq, pos, msgid) VALUES (?1, ?2, ?3)",
            row,
            &e.related,
            &format!("related messages of log event {seq}"),
        )
        .await?;
        prev = hash;
    }
    sqlx::query("UPDATE log_chain SET head_seq = ?1, head_hash = ?2 WHERE id = 1")
        .bind(to_i64(seq, "log seq")?)
        .bind(&prev)
        .execute(&mut *conn)
        .await
        .map_err(db("moving the legal-log head"))?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn commit(&self, batch: Batch) -> Result<()> {
        let (done, mut result) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((batch, done));
        let abandoned = |_| StoreError::Backend("the group commit was abandoned".into());
        // Our batch is committed either by a task that got the writer first, or by us.
        let writer = tokio::select! {
            biased;
            r = &mut result => return r.map_err(abandoned)?,
            w = self.writer.acquire() => w.map_err(db("waiting for the writer"))?,
        };
        let group = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if !group.is_empty() {
            // A task of its own: the group commits even if this caller goes away.
            let _ = tokio::spawn(commit_group(writer, group)).await;
        }
        result.await.map_err(abandoned)?
    }
}

/// Commits `group` in one transaction and answers each batch. With several batches each one
/// runs under a savepoint, so that one failing leaves the others alone.
async fn commit_group(mut writer: PoolConnection<Sqlite>, group: Vec<Pending>) {
    let (batches, answers): (Vec<Batch>, Vec<_>) = group.into_iter().unzip();
    let isolate = batches.len() > 1;
    let mut results = Vec::with_capacity(batches.len());
    let committed = async {
        let mut tx = writer
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(db("starting to write (commit)"))?;
        for batch in &batches {
            if isolate {
                sqlx::query("SAVEPOINT batch")
                    .execute(&mut *tx)
                    .await
                    .map_err(db("starting a batch"))?;
            }
            let result = apply(&mut tx, batch).await;
            let failed = result.is_err();
            results.push(result);
            if !isolate {
                return if failed {
                    tx.rollback().await.map_err(db("rolling back a batch"))
                } else {
                    tx.commit().await.map_err(db("committing a batch"))
                };
            }
            if failed {
                sqlx::query("ROLLBACK TO batch")
                    .execute(&mut *tx)
                    .await
                    .map_err(db("rolling back a failed batch"))?;
            }
            sqlx::query("RELEASE batch")
                .execute(&mut *tx)
                .await
                .map_err(db("ending a batch"))?;
        }
        tx.commit().await.map_err(db("committing a batch"))
    }
    .await;
    let mut results = results.into_iter();
    for answer in answers {
        let result = match &committed {
            Ok(()) => results
                .next()
                .unwrap_or_else(|| Err(StoreError::Backend("batch not applied".into()))),
            Err(e) => Err(StoreError::Backend(e.to_string())),
        };
        let _ = answer.send(result);
    }
}

/// Applies one batch inside the writer's transaction.
async fn apply(tx: &mut SqliteConnection, batch: &Batch) -> Result<()> {
    let at = batch.log.first().map(|e| e.at);
    claim_once_keys(&mut *tx, &batch.once).await?;
    for s in &batch.api_sends {
        api::record_api_send(&mut *tx, s).await?;
    }
    if !batch.deliveries.is_empty() {
        let received_at = at.unwrap_or_else(wall_clock);
        for m in &batch.deliveries {
            let uid = mail::deliver(&mut *tx, m, received_at).await?;
            api::queue_webhook_events(&mut *tx, m, uid, received_at).await?;
        }
    }
    for address in &batch.quota_warned {
        mail::quota_warned(&mut *tx, address).await?;
    }
    for q in &batch.enqueue {
        enqueue(&mut *tx, q, at.unwrap_or(q.next_attempt)).await?;
    }
    for &id in &batch.dequeue {
        dequeue(&mut *tx, id).await?;
    }
    for r in &batch.retry {
        retry(&mut *tx, r).await?;
    }
    for t in &batch.track {
        track(&mut *tx, t).await?;
    }
    for u in &batch.tracker_events {
        tracker_event(&mut *tx, u).await?;
    }
    for v in &batch.virus_archive {
        archive_virus(&mut *tx, v).await?;
    }
    append_log(&mut *tx, &batch.log).await
}
