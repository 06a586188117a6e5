//! The SQLite backend's mailboxes: folders with their UIDVALIDITY and MODSEQ counters,
//! messages with their flags, and each box's byte count, which quotas are checked against.
//! The engine's messages arrive through the batch ([`deliver`]); the mail-access servers
//! work on them through [`Mailboxes`], every change one write transaction on the single
//! writer, so UIDs and MODSEQs are handed out one at a time.
//!
//! Decisions the contract leaves to the backend:
//! - every message changed gets a MODSEQ of its own (a STORE of ten messages raises the
//!   folder's counter by ten), and an expunge raises the counter once;
//! - flags are stored normalized (see [`normalize_flags`]), whichever method wrote them;
//! - a folder renamed takes its inferiors (`from/...`) along, and the box's receipts folder
//!   follows it; a folder deleted leaves its inferiors alone.

use std::collections::BTreeSet;

use async_trait::async_trait;
use sqlx::sqlite::SqliteConnection;

use super::{SqliteStore, db, db_err, expect_row, to_i64, to_u32, to_u64};
use crate::mail_rules::{
    DELETED, SEEN, below_warning, canonical_folder, changed_flags, check_room, folder_name,
    has_flag, next_uidvalidity, normalize_flags, outside_archive, renamed, same_flags,
};
use crate::{
    Appended, FlagChange, FlagsStored, Folder, INBOX, Mailboxes, NewMessage, Result, StoreError,
    StoredMessage, is_archive,
};

/// One folder with its counters; `?1` is the mailbox, `?2` the `\Seen` flag. Callers add a
/// condition on `f.name` and the ordering.
const FOLDER_COUNTERS: &str = "SELECT f.name, f.uidvalidity, f.uid_next, f.highest_modseq, \
     count(m.uid) AS messages, \
     coalesce(sum(m.uid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM message_flags g \
         WHERE g.mailbox = m.mailbox AND g.folder = m.folder AND g.uid = m.uid \
         AND g.flag = ?2 COLLATE NOCASE)), 0) AS unseen, \
     coalesce(sum(m.size), 0) AS size \
     FROM folders f LEFT JOIN messages m ON m.mailbox = f.mailbox AND m.folder = f.name \
     WHERE f.mailbox = ?1";

#[derive(sqlx::FromRow)]
struct FolderRow {
    name: String,
    uidvalidity: i64,
    uid_next: i64,
    highest_modseq: i64,
    messages: i64,
    unseen: i64,
    size: i64,
}

impl FolderRow {
    fn into_folder(self) -> Result<Folder> {
        Ok(Folder {
            uidvalidity: to_u32(self.uidvalidity, "UIDVALIDITY")?,
            uid_next: to_u32(self.uid_next, "next UID")?,
            highest_modseq: to_u64(self.highest_modseq, "HIGHESTMODSEQ")?,
            messages: to_u32(self.messages, "message count")?,
            unseen: to_u32(self.unseen, "unseen count")?,
            size: to_u64(self.size, "folder size")?,
            name: self.name,
        })
    }
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    mailbox: String,
    folder: String,
    uid: i64,
    blob: String,
    size: i64,
    received_at: i64,
    kind: Option<String>,
    identificativo: Option<String>,
    modseq: i64,
}

impl MessageRow {
    /// The message, its flags still to be read.
    fn into_message(self) -> Result<StoredMessage> {
        Ok(StoredMessage {
            uid: to_u32(self.uid, "UID")?,
            size: to_u64(self.size, "message size")?,
            mailbox: self.mailbox,
            folder: self.folder,
            blob: self.blob,
            flags: Vec::new(),
            received_at: self.received_at,
            kind: self.kind,
            identificativo: self.identificativo,
            modseq: to_u64(self.modseq, "MODSEQ")?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct FlagRow {
    uid: i64,
    flag: String,
}

/// The columns of a [`MessageRow`].
const MESSAGE_COLUMNS: &str = "SELECT mailbox, folder, uid, blob, size, received_at, kind, \
     identificativo, modseq FROM messages";

/// A message to store in a folder, whichever way it came.
struct Incoming<'a> {
    blob: &'a str,
    size: u64,
    flags: &'a [String],
    received_at: i64,
    kind: Option<&'a str>,
    identificativo: Option<&'a str>,
}

#[async_trait]
impl Mailboxes for SqliteStore {
    async fn messages(&self, mailbox: &str, folder: &str) -> Result<Vec<StoredMessage>> {
        let mailbox = mailbox.to_ascii_lowercase();
        let folder = canonical_folder(folder);
        let mut tx = self.read("messages").await?;
        let rows: Vec<MessageRow> = sqlx::query_as(&format!(
            "{MESSAGE_COLUMNS} WHERE mailbox = ?1 AND folder = ?2 ORDER BY uid"
        ))
        .bind(&mailbox)
        .bind(folder)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| db_err(e, format_args!("listing messages of {mailbox}/{folder}")))?;
        let flags: Vec<FlagRow> = sqlx::query_as(
            "SELECT uid, flag FROM message_flags WHERE mailbox = ?1 AND folder = ?2 \
             ORDER BY uid, pos",
        )
        .bind(&mailbox)
        .bind(folder)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| db_err(e, format_args!("reading flags of {mailbox}/{folder}")))?;
        tx.commit().await.map_err(db("ending a read"))?;

        let mut messages = rows
            .into_iter()
            .map(MessageRow::into_message)
            .collect::<Result<Vec<_>>>()?;
        for f in flags {
            let uid = to_u32(f.uid, "UID")?;
            if let Ok(i) = messages.binary_search_by_key(&uid, |m| m.uid) {
                messages[i].flags.push(f.flag);
            }
        }
        Ok(messages)
    }

    async fn message(
        &self,
        mailbox: &str,
        folder: &str,
        uid: u32,
    ) -> Result<Option<StoredMessage>> {
        let mailbox = mailbox.to_ascii_lowercase();
        let folder = canonical_folder(folder);
        let mut tx = self.read("message").await?;
        let row: Option<MessageRow> = sqlx::query_as(&format!(
            "{MESSAGE_COLUMNS} WHERE mailbox = ?1 AND folder = ?2 AND uid = ?3"
        ))
        .bind(&mailbox)
        .bind(folder)
        .bind(i64::from(uid))
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| db_err(e, format_args!("reading message {mailbox}/{folder}/{uid}")))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut m = row.into_message()?;
        m.flags = load_flags(&mut tx, &mailbox, folder, uid).await?;
        tx.commit().await.map_err(db("ending a read"))?;
        Ok(Some(m))
    }

    async fn by_identificativo(
        &self,
        mailbox: &str,
        identificativo: &str,
    ) -> Result<Vec<StoredMessage>> {
        let mailbox = mailbox.to_ascii_lowercase();
        let mut tx = self.read("by_identificativo").await?;
        let rows: Vec<MessageRow> = sqlx::query_as(&format!(
            "{MESSAGE_COLUMNS} WHERE identificativo = ?2 AND mailbox = ?1 ORDER BY folder, uid"
        ))
        .bind(&mailbox)
        .bind(identificativo)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| db_err(e, format_args!("finding {identificativo} in {mailbox}")))?;
        let mut messages = Vec::with_capacity(rows.len());
        for row in rows {
            let mut m = row.into_message()?;
            m.flags = load_flags(&mut tx, &mailbox, &m.folder, m.uid).await?;
            messages.push(m);
        }
        tx.commit().await.map_err(db("ending a read"))?;
        Ok(messages)
    }

    async fn folders(&self, mailbox: &str) -> Result<Vec<String>> {
        let mailbox = mailbox.to_ascii_lowercase();
        sqlx::query_scalar("SELECT name FROM folders WHERE mailbox = ?1 ORDER BY name")
            .bind(&mailbox)
            .fetch_all(&self.readers)
            .await
            .map_err(|e| db_err(e, format_args!("listing folders of {mailbox}")))
    }

    async fn folder(&self, mailbox: &str, name: &str) -> Result<Option<Folder>> {
        let mailbox = mailbox.to_ascii_lowercase();
        let name = canonical_folder(name);
        let row: Option<FolderRow> = sqlx::query_as(&format!(
            "{FOLDER_COUNTERS} AND f.name = ?3 GROUP BY f.name"
        ))
        .bind(&mailbox)
        .bind(SEEN)
        .bind(name)
        .fetch_optional(&self.readers)
        .await
        .map_err(|e| db_err(e, format_args!("reading folder {mailbox}/{name}")))?;
        row.map(FolderRow::into_folder).transpose()
    }

    async fn folder_list(&self, mailbox: &str) -> Result<Vec<Folder>> {
        let mailbox = mailbox.to_ascii_lowercase();
        let rows: Vec<FolderRow> = sqlx::query_as(&format!(
            "{FOLDER_COUNTERS} GROUP BY f.name ORDER BY f.name"
        ))
        .bind(&mailbox)
        .bind(SEEN)
        .fetch_all(&self.readers)
        .await
        .map_err(|e| db_err(e, format_args!("listing folders of {mailbox}")))?;
        rows.into_iter().map(FolderRow::into_folder).collect()
    }

    async fn create_folder(&self, mailbox: &str, name: &str, at: i64) -> Result<Folder> {
        let mailbox = mailbox.to_ascii_lowercase();
        let name = folder_name(name)?;
        outside_archive(name, "creating folder")?;
        let mut tx = self.write("create_folder").await?;
        if uidvalidity(&mut tx, &mailbox, name).await?.is_some() {
            return Err(StoreError::AlreadyExists(format!(
                "folder {mailbox}/{name}"
            )));
        }
        let uidvalidity = new_folder(&mut tx, &mailbox, name, at).await?;
        tx.commit().await.map_err(db("committing a new folder"))?;
        Ok(Folder {
            name: name.to_owned(),
            uidvalidity,
            uid_next: 1,
            highest_modseq: 1,
            messages: 0,
            unseen: 0,
            size: 0,
        })
    }

    async fn delete_folder(&self, mailbox: &str, name: &str) -> Result<()> {
        let mailbox = mailbox.to_ascii_lowercase();
        let name = canonical_folder(name);
        keep_inbox(name, "deleting")?;
        outside_archive(name, "deleting folder")?;
        let mut tx = self.write("delete_folder").await?;
        existing(&mut tx, &mailbox, name).await?;
        let size: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox = ?1 AND folder = ?2",
        )
        .bind(&mailbox)
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_err(e, format_args!("sizing folder {mailbox}/{name}")))?;
        for sql in [
            "DELETE FROM messages WHERE mailbox = ?1 AND folder = ?2",
            "DELETE FROM folders WHERE mailbox = ?1 AND name = ?2",
        ] {
            sqlx::query(sql)
                .bind(&mailbox)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_err(e, format_args!("deleting folder {mailbox}/{name}")))?;
        }
        change_used(&mut tx, &mailbox, -size).await?;
        tx.commit()
            .await
            .map_err(db("committing a folder deletion"))
    }

    async fn rename_folder(&self, mailbox: &str, from: &str, to: &str) -> Result<()> {
        let mailbox = mailbox.to_ascii_lowercase();
        let from = canonical_folder(from);
        let to = folder_name(to)?;
        keep_inbox(from, "renaming")?;
        outside_archive(from, "renaming folder")?;
        outside_archive(to, "renaming a folder to")?;
        let mut tx = self.write("rename_folder").await?;
        existing(&mut tx, &mailbox, from).await?;
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM folders WHERE mailbox = ?1")
            .bind(&mailbox)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| db_err(e, format_args!("listing folders of {mailbox}")))?;
        let moves: Vec<(&str, String)> = names
            .iter()
            .filter_map(|name| Some((name.as_str(), renamed(name, from, to)?)))
            .collect();
        if let Some((_, taken)) = moves.iter().find(|(_, new)| names.contains(new)) {
            return Err(StoreError::AlreadyExists(format!(
                "folder {mailbox}/{taken}"
            )));
        }
        for (old, new) in &moves {
            move_folder(&mut tx, &mailbox, old, new).await?;
        }
        for setting in FOLDER_SETTINGS {
            follow_rename(&mut tx, &mailbox, setting, (from, to)).await?;
        }
        tx.commit().await.map_err(db("committing a folder rename"))
    }

    async fn set_flags(
        &self,
        mailbox: &str,
        folder: &str,
        uid: u32,
        flags: &[String],
    ) -> Result<()> {
        let mailbox = mailbox.to_ascii_lowercase();
        let folder = canonical_folder(folder);
        let mut tx = self.write("set_flags").await?;
        if message_modseq(&mut tx, &mailbox, folder, uid)
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound(format!(
                "message {mailbox}/{folder}/{uid}"
            )));
        }
        change_flags(
            &mut tx,
            &mailbox,
            folder,
            &[uid],
            FlagChange::Replace,
            flags,
            None,
        )
        .await?;
        tx.commit().await.map_err(db("committing new flags"))
    }

    async fn store_flags(
        &self,
        mailbox: &str,
        folder: &str,
        uids: &[u32],
        change: FlagChange,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<FlagsStored> {
        let mailbox = mailbox.to_ascii_lowercase();
        let folder = canonical_folder(folder);
        let mut tx = self.write("store_flags").await?;
        existing(&mut tx, &mailbox, folder).await?;
        let stored = change_flags(
            &mut tx,
            &mailbox,
            folder,
            uids,
            change,
            flags,
            unchanged_since,
        )
        .await?;
        tx.commit().await.map_err(db("committing new flags"))?;
        Ok(stored)
    }

    async fn expunge(&self, mailbox: &str, folder: &str, uids: &[u32]) -> Result<Vec<u32>> {
        let mailbox = mailbox.to_ascii_lowercase();
        let folder = canonical_folder(folder);
        outside_archive(folder, "expunging from")?;
        let mut tx = self.write("expunge").await?;
        existing(&mut tx, &mailbox, folder).await?;
        let (removed, size) = remove_messages(&mut tx, &mailbox, folder, uids).await?;
        change_used(&mut tx, &mailbox, -size).await?;
        tx.commit().await.map_err(db("committing an expunge"))?;
        Ok(removed)
    }

    async fn copy(
        &self,
        mailbox: &str,
        from: &str,
        uids: &[u32],
        to: &str,
    ) -> Result<Vec<(u32, u32)>> {
        let mailbox = mailbox.to_ascii_lowercase();
        let (from, to) = (canonical_folder(from), canonical_folder(to));
        outside_archive(to, "copying into")?;
        let mut tx = self.write("copy").await?;
        existing(&mut tx, &mailbox, from).await?;
        existing(&mut tx, &mailbox, to).await?;
        let (pairs, size) = copy_messages(&mut tx, &mailbox, from, uids, to).await?;
        let (used, quota) = change_used(&mut tx, &mailbox, size).await?;
        check_room(&mailbox, used, quota, to_u64(size, "copied bytes")?)?;
        tx.commit().await.map_err(db("committing a copy"))?;
        Ok(pairs)
    }

    async fn move_messages(
        &self,
        mailbox: &str,
        from: &str,
        uids: &[u32],
        to: &str,
    ) -> Result<Vec<(u32, u32)>> {
        let mailbox = mailbox.to_ascii_lowercase();
        let (from, to) = (canonical_folder(from), canonical_folder(to));
        outside_archive(from, "moving out of")?;
        outside_archive(to, "moving into")?;
        let mut tx = self.write("move_messages").await?;
        existing(&mut tx, &mailbox, from).await?;
        existing(&mut tx, &mailbox, to).await?;
        // Both folders count towards the quota: the box's bytes stay as they were.
        let (pairs, _) = copy_messages(&mut tx, &mailbox, from, uids, to).await?;
        let moved: Vec<u32> = pairs.iter().map(|&(uid, _)| uid).collect();
        remove_messages(&mut tx, &mailbox, from, &moved).await?;
        tx.commit().await.map_err(db("committing a move"))?;
        Ok(pairs)
    }

    async fn append(&self, mailbox: &str, folder: &str, m: &Appended) -> Result<(u32, u32)> {
        let mailbox = mailbox.to_ascii_lowercase();
        let folder = canonical_folder(folder);
        outside_archive(folder, "appending to")?;
        let mut tx = self.write("append").await?;
        let uidvalidity = existing(&mut tx, &mailbox, folder).await?;
        let flags = normalize_flags(&m.flags);
        let incoming = Incoming {
            blob: &m.blob,
            size: m.size,
            flags: &flags,
            received_at: m.received_at,
            kind: None,
            identificativo: None,
        };
        let uid = store_message(&mut tx, &mailbox, folder, &incoming).await?;
        let (used, quota) = change_used(&mut tx, &mailbox, to_i64(m.size, "message size")?).await?;
        check_room(&mailbox, used, quota, m.size)?;
        tx.commit().await.map_err(db("committing an append"))?;
        Ok((uidvalidity, uid))
    }
}

/// Stores one message of a batch under the next UID of its folder (created if missing, at
/// the batch's instant) and counts its size unless it went to the archive. No quota check:
/// the engine decides what to deliver. Returns the message's UID.
pub(super) async fn deliver(
    conn: &mut SqliteConnection,
    m: &NewMessage,
    received_at: i64,
) -> Result<u32> {
    let mailbox = m.mailbox.to_ascii_lowercase();
    let folder = folder_name(&m.folder)?;
    if uidvalidity(conn, &mailbox, folder).await?.is_none() {
        new_folder(conn, &mailbox, folder, received_at).await?;
    }
    let flags = normalize_flags(&m.flags);
    let incoming = Incoming {
        blob: &m.blob,
        size: m.size,
        flags: &flags,
        received_at,
        kind: m.kind.as_deref(),
        identificativo: m.identificativo.as_deref(),
    };
    let uid = store_message(conn, &mailbox, folder, &incoming).await?;
    if !is_archive(folder) {
        change_used(conn, &mailbox, to_i64(m.size, "message size")?).await?;
    }
    Ok(uid)
}

/// Records that the box's 90 % quota warning was delivered (part of a batch).
pub(super) async fn quota_warned(conn: &mut SqliteConnection, mailbox: &str) -> Result<()> {
    let mailbox = mailbox.to_ascii_lowercase();
    let done = sqlx::query("UPDATE mailboxes SET quota_warned = 1 WHERE address = ?1")
        .bind(&mailbox)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("recording the quota warning of {mailbox}")))?;
    expect_row(done, || format!("mailbox {mailbox}"))
}

/// Creates an empty folder with a UIDVALIDITY no folder of the box ever had (see
/// [`next_uidvalidity`]), and returns it; `NotFound` for an unknown mailbox.
pub(super) async fn new_folder(
    conn: &mut SqliteConnection,
    mailbox: &str,
    name: &str,
    at: i64,
) -> Result<u32> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT last_uidvalidity FROM mailboxes WHERE address = ?1")
            .bind(mailbox)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| db_err(e, format_args!("looking up mailbox {mailbox}")))?;
    let Some(last) = last else {
        return Err(StoreError::NotFound(format!("mailbox {mailbox}")));
    };
    let uidvalidity = next_uidvalidity(to_u32(last, "last UIDVALIDITY")?, at).ok_or_else(|| {
        StoreError::Backend(format!(
            "mailbox {mailbox} has used up its UIDVALIDITY values"
        ))
    })?;
    sqlx::query("UPDATE mailboxes SET last_uidvalidity = ?1 WHERE address = ?2")
        .bind(i64::from(uidvalidity))
        .bind(mailbox)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("recording a UIDVALIDITY of {mailbox}")))?;
    sqlx::query(
        "INSERT INTO folders (mailbox, name, uid_next, uidvalidity, highest_modseq) \
         VALUES (?1, ?2, 1, ?3, 1)",
    )
    .bind(mailbox)
    .bind(name)
    .bind(i64::from(uidvalidity))
    .execute(&mut *conn)
    .await
    .map_err(|e| db_err(e, format_args!("creating folder {mailbox}/{name}")))?;
    Ok(uidvalidity)
}

/// `Immutable` for INBOX, which every box keeps as it is.
fn keep_inbox(folder: &str, what: &str) -> Result<()> {
    if folder == INBOX {
        return Err(StoreError::Immutable(format!("{what} {INBOX}")));
    }
    Ok(())
}

/// The UIDVALIDITY of a folder, `None` if the box has no such folder.
async fn uidvalidity(
    conn: &mut SqliteConnection,
    mailbox: &str,
    folder: &str,
) -> Result<Option<u32>> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT uidvalidity FROM folders WHERE mailbox = ?1 AND name = ?2")
            .bind(mailbox)
            .bind(folder)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| db_err(e, format_args!("looking up folder {mailbox}/{folder}")))?;
    found.map(|v| to_u32(v, "UIDVALIDITY")).transpose()
}

/// The UIDVALIDITY of a folder that must exist (`NotFound` otherwise).
async fn existing(conn: &mut SqliteConnection, mailbox: &str, folder: &str) -> Result<u32> {
    uidvalidity(conn, mailbox, folder)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("folder {mailbox}/{folder}")))
}

/// Raises the folder's MODSEQ counter and returns the new value.
async fn next_modseq(conn: &mut SqliteConnection, mailbox: &str, folder: &str) -> Result<i64> {
    sqlx::query_scalar(
        "UPDATE folders SET highest_modseq = highest_modseq + 1 \
         WHERE mailbox = ?1 AND name = ?2 RETURNING highest_modseq",
    )
    .bind(mailbox)
    .bind(folder)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| db_err(e, format_args!("raising the MODSEQ of {mailbox}/{folder}")))
}

/// The MODSEQ of a message, `None` if there is no such message.
async fn message_modseq(
    conn: &mut SqliteConnection,
    mailbox: &str,
    folder: &str,
    uid: u32,
) -> Result<Option<u64>> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT modseq FROM messages WHERE mailbox = ?1 AND folder = ?2 AND uid = ?3",
    )
    .bind(mailbox)
    .bind(folder)
    .bind(i64::from(uid))
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| {
        db_err(
            e,
            format_args!("looking up message {mailbox}/{folder}/{uid}"),
        )
    })?;
    found.map(|v| to_u64(v, "MODSEQ")).transpose()
}

/// Stores a message in an existing folder under its next UID and a new MODSEQ; returns the
/// UID.
async fn store_message(
    conn: &mut SqliteConnection,
    mailbox: &str,
    folder: &str,
    m: &Incoming<'_>,
) -> Result<u32> {
    let (uid, modseq): (i64, i64) = sqlx::query_as(
        "UPDATE folders SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1 \
         WHERE mailbox = ?1 AND name = ?2 RETURNING uid_next - 1, highest_modseq",
    )
    .bind(mailbox)
    .bind(folder)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| db_err(e, format_args!("taking the next UID of {mailbox}/{folder}")))?;
    // The last UID stays unused, so that `uid_next` still fits a u32.
    let uid = u32::try_from(uid)
        .ok()
        .filter(|&uid| uid < u32::MAX)
        .ok_or_else(|| {
            StoreError::Backend(format!("folder {mailbox}/{folder} has used up its UIDs"))
        })?;
    sqlx::query(
        "INSERT INTO messages (mailbox, folder, uid, blob, size, received_at, kind, \
         identificativo, modseq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(mailbox)
    .bind(folder)
    .bind(i64::from(uid))
    .bind(m.blob)
    .bind(to_i64(m.size, "message size")?)
    .bind(m.received_at)
    .bind(m.kind)
    .bind(m.identificativo)
    .bind(modseq)
    .execute(&mut *conn)
    .await
    .map_err(|e| db_err(e, format_args!("storing message {mailbox}/{folder}/{uid}")))?;
    insert_flags(conn, mailbox, folder, uid, m.flags).await?;
    Ok(uid)
}

async fn insert_flags(
    conn: &mut SqliteConnection,
    mailbox: &str,
    folder: &str,
    uid: u32,
    flags: &[String],
) -> Result<()> {
    for (pos, flag) in (0_i64..).zip(flags) {
        sqlx::query(
            "INSERT INTO message_flags (mailbox, folder, uid, pos, flag) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(mailbox)
        .bind(folder)
        .bind(i64::from(uid))
        .bind(pos)
        .bind(flag)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("storing flags of {mailbox}/{folder}/{uid}")))?;
    }
    Ok(())
}

/// The flags of one message, in order.
async fn load_flags(
    conn: &mut SqliteConnection,
    mailbox: &str,
    folder: &str,
    uid: u32,
) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT flag FROM message_flags WHERE mailbox = ?1 AND folder = ?2 AND uid = ?3 \
         ORDER BY pos",
    )
    .bind(mailbox)
    .bind(folder)
    .bind(i64::from(uid))
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db_err(e, format_args!("reading flags of {mailbox}/{folder}/{uid}")))
}

/// The UIDs asked for, ascending and once each.
fn ascending(uids: &[u32]) -> BTreeSet<u32> {
    uids.iter().copied().collect()
}

/// Changes the flags of messages `uids` of an existing folder (see
/// [`Mailboxes::store_flags`]): each message whose flags change gets a new MODSEQ.
async fn change_flags(
    conn: &mut SqliteConnection,
    mailbox: &str,
    folder: &str,
    uids: &[u32],
    change: FlagChange,
    flags: &[String],
    unchanged_since: Option<u64>,
) -> Result<FlagsStored> {
    let requested = normalize_flags(flags);
    if change != FlagChange::Remove && has_flag(&requested, DELETED) {
        outside_archive(folder, "marking \\Deleted in")?;
    }
    let mut stored = FlagsStored::default();
    for uid in ascending(uids) {
        let Some(modseq) = message_modseq(conn, mailbox, folder, uid).await? else {
            continue;
        };
        if unchanged_since.is_some_and(|since| modseq > since) {
            stored.modified.push(uid);
            continue;
        }
        let current = load_flags(conn, mailbox, folder, uid).await?;
        let new = changed_flags(&current, change, &requested);
        if same_flags(&current, &new) {
            continue;
        }
        sqlx::query("DELETE FROM message_flags WHERE mailbox = ?1 AND folder = ?2 AND uid = ?3")
            .bind(mailbox)
            .bind(folder)
            .bind(i64::from(uid))
            .execute(&mut *conn)
            .await
            .map_err(|e| {
                db_err(
                    e,
                    format_args!("clearing flags of {mailbox}/{folder}/{uid}"),
                )
            })?;
        insert_flags(conn, mailbox, folder, uid, &new).await?;
        let modseq = next_modseq(conn, mailbox, folder).await?;
        sqlx::query(
            "UPDATE messages SET modseq = ?1 WHERE mailbox = ?2 AND folder = ?3 AND uid = ?4",
        )
        .bind(modseq)
        .bind(mailbox)
        .bind(folder)
        .bind(i64::from(uid))
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            db_err(
                e,
                format_args!("dating the flags of {mailbox}/{folder}/{uid}"),
            )
        })?;
        stored.changed.push((uid, new, to_u64(modseq, "MODSEQ")?));
    }
    Ok(stored)
}

/// Removes messages `uids` of a folder, raising its MODSEQ if any went; returns the UIDs
/// removed (ascending) and their bytes. The box's byte count is the caller's.
async fn remove_messages(
    conn: &mut SqliteConnection,
    mailbox: &str,
    folder: &str,
    uids: &[u32],
) -> Result<(Vec<u32>, i64)> {
    let mut removed = Vec::new();
    let mut size = 0_i64;
    for uid in ascending(uids) {
        let gone: Option<i64> = sqlx::query_scalar(
            "DELETE FROM messages WHERE mailbox = ?1 AND folder = ?2 AND uid = ?3 RETURNING size",
        )
        .bind(mailbox)
        .bind(folder)
        .bind(i64::from(uid))
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| {
            db_err(
                e,
                format_args!("expunging message {mailbox}/{folder}/{uid}"),
            )
        })?;
        if let Some(bytes) = gone {
            removed.push(uid);
            size = size.saturating_add(bytes);
        }
    }
    if !removed.is_empty() {
        next_modseq(conn, mailbox, folder).await?;
    }
    Ok((removed, size))
}

/// Copies messages `uids` of `from` into `to` (both existing), each under a new UID and
/// MODSEQ, with its flags and internal date; returns (source UID, new UID) pairs by source
/// UID, and the bytes copied. The box's byte count is the caller's.
async fn copy_messages(
    conn: &mut SqliteConnection,
    mailbox: &str,
    from: &str,
    uids: &[u32],
    to: &str,
) -> Result<(Vec<(u32, u32)>, i64)> {
    let mut pairs = Vec::new();
    let mut size = 0_i64;
    for uid in ascending(uids) {
        let row: Option<MessageRow> = sqlx::query_as(&format!(
            "{MESSAGE_COLUMNS} WHERE mailbox = ?1 AND folder = ?2 AND uid = ?3"
        ))
        .bind(mailbox)
        .bind(from)
        .bind(i64::from(uid))
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("reading message {mailbox}/{from}/{uid}")))?;
        let Some(row) = row else { continue };
        let flags = load_flags(conn, mailbox, from, uid).await?;
        let copy = Incoming {
            blob: &row.blob,
            size: to_u64(row.size, "message size")?,
            flags: &flags,
            received_at: row.received_at,
            kind: row.kind.as_deref(),
            identificativo: row.identificativo.as_deref(),
        };
        let new_uid = store_message(conn, mailbox, to, &copy).await?;
        pairs.push((uid, new_uid));
        size = size.saturating_add(row.size);
    }
    Ok((pairs, size))
}

/// Gives folder `old` (existing) the name `new` (free), with its counters, messages and
/// flags. Rows are copied, re-pointed and then deleted, in the order the foreign keys allow.
async fn move_folder(
    conn: &mut SqliteConnection,
    mailbox: &str,
    old: &str,
    new: &str,
) -> Result<()> {
    for sql in [
        "INSERT INTO folders (mailbox, name, uid_next, uidvalidity, highest_modseq) \
         SELECT mailbox, ?3, uid_next, uidvalidity, highest_modseq FROM folders \
         WHERE mailbox = ?1 AND name = ?2",
        "INSERT INTO messages (mailbox, folder, uid, blob, size, received_at, kind, \
         identificativo, modseq) SELECT mailbox, ?3, uid, blob, size, received_at, kind, \
         identificativo, modseq FROM messages WHERE mailbox = ?1 AND folder = ?2",
        "UPDATE message_flags SET folder = ?3 WHERE mailbox = ?1 AND folder = ?2",
        "DELETE FROM messages WHERE mailbox = ?1 AND folder = ?2",
        "DELETE FROM folders WHERE mailbox = ?1 AND name = ?2",
    ] {
        sqlx::query(sql)
            .bind(mailbox)
            .bind(old)
            .bind(new)
            .execute(&mut *conn)
            .await
            .map_err(|e| db_err(e, format_args!("renaming folder {mailbox}/{old} to {new}")))?;
    }
    Ok(())
}

/// Adds `delta` bytes to the box's count (removes them when negative), clears its quota
/// warning if usage is now below 90 % of its quota, and returns (used, quota).
async fn change_used(conn: &mut SqliteConnection, mailbox: &str, delta: i64) -> Result<(u64, u64)> {
    let row: Option<(i64, i64, i64)> = sqlx::query_as(
        "UPDATE mailboxes SET used = used + ?1 WHERE address = ?2 \
         RETURNING used, quota, quota_warned",
    )
    .bind(delta)
    .bind(mailbox)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| db_err(e, format_args!("counting the bytes of {mailbox}")))?;
    let Some((used, quota, warned)) = row else {
        return Err(StoreError::NotFound(format!("mailbox {mailbox}")));
    };
    let (used, quota) = (to_u64(used, "used bytes")?, to_u64(quota, "quota")?);
    if warned != 0 && below_warning(used, quota) {
        sqlx::query("UPDATE mailboxes SET quota_warned = 0 WHERE address = ?1")
            .bind(mailbox)
            .execute(&mut *conn)
            .await
            .map_err(|e| db_err(e, format_args!("clearing the quota warning of {mailbox}")))?;
    }
    Ok((used, quota))
}

/// A box's settings that name a folder, and follow it when it is renamed: (the column, a
/// condition on the box for the column to name a folder).
const FOLDER_SETTINGS: [(&str, &str); 2] = [
    ("receipts_folder", "1"),
    ("ordinary_mail_target", "ordinary_mail = 'cartella'"),
];

/// Moves one folder setting of `mailbox` (see [`FOLDER_SETTINGS`]) along with the rename
/// `from` → `to`, if it names the folder or one of its inferiors.
async fn follow_rename(
    conn: &mut SqliteConnection,
    mailbox: &str,
    (column, applies): (&str, &str),
    (from, to): (&str, &str),
) -> Result<()> {
    let current: Option<Option<String>> = sqlx::query_scalar(&format!(
        "SELECT {column} FROM mailboxes WHERE address = ?1 AND {applies}"
    ))
    .bind(mailbox)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| db_err(e, format_args!("reading the {column} of {mailbox}")))?;
    if let Some(followed) = current.flatten().and_then(|r| renamed(&r, from, to)) {
        sqlx::query(&format!(
            "UPDATE mailboxes SET {column} = ?1 WHERE address = ?2"
        ))
        .bind(&followed)
        .bind(mailbox)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("moving the {column} of {mailbox}")))?;
    }
    Ok(())
}
