//! The SQLite backend's REST API state: keys (by hash), the idempotency keys of sends
//! (recorded by the batch of the send, see [`record_api_send`]), webhooks, and their outbox
//! of events (filled by the batch of the delivery, see [`queue_webhook_events`]).

use async_trait::async_trait;
use sqlx::sqlite::SqliteConnection;

use super::accounts::is_mailbox;
use super::to_u32;
use super::{SqliteStore, db, db_err, expect_row};
use crate::mail_rules::folder_name;
use crate::{Api, ApiKey, ApiSend, NewMessage, Result, StoreError, Webhook, WebhookEvent};

/// The columns of an [`ApiKeyRow`].
const KEY_COLUMNS: &str =
    "SELECT id, mailbox, label, key_hash, created_at, revoked_at FROM api_keys";

/// The columns of a [`WebhookRow`].
const WEBHOOK_COLUMNS: &str = "SELECT id, mailbox, url, secret, created_at FROM webhooks";

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: i64,
    mailbox: String,
    label: String,
    key_hash: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(r: ApiKeyRow) -> ApiKey {
        ApiKey {
            id: r.id,
            mailbox: r.mailbox,
            label: r.label,
            key_hash: r.key_hash,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: i64,
    mailbox: String,
    url: String,
    secret: String,
    created_at: i64,
}

impl From<WebhookRow> for Webhook {
    fn from(r: WebhookRow) -> Webhook {
        Webhook {
            id: r.id,
            mailbox: r.mailbox,
            url: r.url,
            secret: r.secret,
            created_at: r.created_at,
        }
    }
}

/// The columns of a [`WebhookEventRow`], joined with its webhook.
const EVENT_COLUMNS: &str = "SELECT e.id, e.folder, e.uid, e.kind, e.identificativo, \
     e.received_at, e.attempts, w.id AS webhook_id, w.mailbox, w.url, w.secret, w.created_at \
     FROM webhook_events e JOIN webhooks w ON w.id = e.webhook";

#[derive(sqlx::FromRow)]
struct WebhookEventRow {
    id: i64,
    folder: String,
    uid: i64,
    kind: String,
    identificativo: Option<String>,
    received_at: i64,
    attempts: i64,
    webhook_id: i64,
    mailbox: String,
    url: String,
    secret: String,
    created_at: i64,
}

impl TryFrom<WebhookEventRow> for WebhookEvent {
    type Error = StoreError;

    fn try_from(r: WebhookEventRow) -> Result<WebhookEvent> {
        Ok(WebhookEvent {
            id: r.id,
            webhook: Webhook {
                id: r.webhook_id,
                mailbox: r.mailbox,
                url: r.url,
                secret: r.secret,
                created_at: r.created_at,
            },
            folder: r.folder,
            uid: to_u32(r.uid, "webhook event UID")?,
            kind: r.kind,
            identificativo: r.identificativo,
            received_at: r.received_at,
            attempts: to_u32(r.attempts, "webhook event attempts")?,
        })
    }
}

/// `NotFound` unless `mailbox` (lowercase) exists.
async fn known_mailbox(conn: &mut SqliteConnection, mailbox: &str) -> Result<()> {
    if is_mailbox(conn, mailbox).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("mailbox {mailbox}")))
    }
}

/// Records the idempotency key of an API send inside a batch; `Duplicate` if the box used the
/// key before, `NotFound` for an unknown box.
pub(super) async fn record_api_send(conn: &mut SqliteConnection, s: &ApiSend) -> Result<()> {
    let mailbox = s.mailbox.to_ascii_lowercase();
    known_mailbox(conn, &mailbox).await?;
    let done = sqlx::query(
        "INSERT INTO api_sends (mailbox, key, identificativo, request_hash) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (mailbox, key) DO NOTHING",
    )
    .bind(&mailbox)
    .bind(&s.key)
    .bind(&s.identificativo)
    .bind(&s.request_hash)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        db_err(
            e,
            format_args!("recording API send {:?} of {mailbox}", s.key),
        )
    })?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Duplicate(format!(
            "API send {:?} of {mailbox}",
            s.key
        )));
    }
    Ok(())
}

/// Adds, inside the batch that delivered `m` under `uid`, one event per webhook of its box
/// when `m` is a PEC message (has a kind); due at once (`received_at`).
pub(super) async fn queue_webhook_events(
    conn: &mut SqliteConnection,
    m: &NewMessage,
    uid: u32,
    received_at: i64,
) -> Result<()> {
    let Some(kind) = &m.kind else {
        return Ok(());
    };
    let mailbox = m.mailbox.to_ascii_lowercase();
    let folder = folder_name(&m.folder)?;
    sqlx::query(
        "INSERT INTO webhook_events (webhook, folder, uid, kind, identificativo, received_at, \
         attempts, next_attempt) \
         SELECT id, ?2, ?3, ?4, ?5, ?6, 0, ?6 FROM webhooks WHERE mailbox = ?1 ORDER BY id",
    )
    .bind(&mailbox)
    .bind(folder)
    .bind(i64::from(uid))
    .bind(kind)
    .bind(&m.identificativo)
    .bind(received_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        db_err(
            e,
            format_args!("queueing the webhook events of {mailbox}/{folder}/{uid}"),
        )
    })?;
    Ok(())
}

#[async_trait]
impl Api for SqliteStore {
    async fn create_api_key(
        &self,
        mailbox: &str,
        label: &str,
        key_hash: &str,
        at: i64,
    ) -> Result<i64> {
        let mailbox = mailbox.to_ascii_lowercase();
        let mut tx = self.write("create_api_key").await?;
        known_mailbox(&mut tx, &mailbox).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO api_keys (mailbox, label, key_hash, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (key_hash) DO NOTHING RETURNING id",
        )
        .bind(&mailbox)
        .bind(label)
        .bind(key_hash)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| db_err(e, format_args!("creating an API key of {mailbox}")))?;
        let id = id.ok_or_else(|| StoreError::AlreadyExists("API key".into()))?;
        tx.commit().await.map_err(db("committing an API key"))?;
        Ok(id)
    }

    async fn api_key(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(&format!(
            "{KEY_COLUMNS} WHERE key_hash = ?1 AND revoked_at IS NULL"
        ))
        .bind(key_hash)
        .fetch_optional(&self.readers)
        .await
        .map_err(db("looking up an API key"))?;
        Ok(row.map(ApiKey::from))
    }

    async fn api_keys(&self, mailbox: &str) -> Result<Vec<ApiKey>> {
        let mailbox = mailbox.to_ascii_lowercase();
        let rows: Vec<ApiKeyRow> =
            sqlx::query_as(&format!("{KEY_COLUMNS} WHERE mailbox = ?1 ORDER BY id"))
                .bind(&mailbox)
                .fetch_all(&self.readers)
                .await
                .map_err(|e| db_err(e, format_args!("listing the API keys of {mailbox}")))?;
        Ok(rows.into_iter().map(ApiKey::from).collect())
    }

    async fn revoke_api_key(&self, mailbox: &str, id: i64, at: i64) -> Result<()> {
        let mailbox = mailbox.to_ascii_lowercase();
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?1) \
             WHERE id = ?2 AND mailbox = ?3",
        )
        .bind(at)
        .bind(id)
        .bind(&mailbox)
        .execute(&self.writer)
        .await
        .map_err(|e| db_err(e, format_args!("revoking API key {id} of {mailbox}")))?;
        expect_row(done, || format!("API key {id} of {mailbox}"))
    }

    async fn api_send(&self, mailbox: &str, key: &str) -> Result<Option<ApiSend>> {
        let mailbox = mailbox.to_ascii_lowercase();
        let found: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT identificativo, request_hash FROM api_sends WHERE mailbox = ?1 AND key = ?2",
        )
        .bind(&mailbox)
        .bind(key)
        .fetch_optional(&self.readers)
        .await
        .map_err(|e| db_err(e, format_args!("looking up API send {key:?} of {mailbox}")))?;
        Ok(found.map(|(identificativo, request_hash)| ApiSend {
            key: key.to_string(),
            mailbox,
            identificativo,
            request_hash,
        }))
    }

    async fn create_webhook(&self, mailbox: &str, url: &str, secret: &str, at: i64) -> Result<i64> {
        let mailbox = mailbox.to_ascii_lowercase();
        let mut tx = self.write("create_webhook").await?;
        known_mailbox(&mut tx, &mailbox).await?;
        let id = sqlx::query(
            "INSERT INTO webhooks (mailbox, url, secret, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&mailbox)
        .bind(url)
        .bind(secret)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_err(e, format_args!("creating a webhook of {mailbox}")))?
        .last_insert_rowid();
        tx.commit().await.map_err(db("committing a webhook"))?;
        Ok(id)
    }

    async fn webhooks(&self, mailbox: &str) -> Result<Vec<Webhook>> {
        let mailbox = mailbox.to_ascii_lowercase();
        let rows: Vec<WebhookRow> =
            sqlx::query_as(&format!("{WEBHOOK_COLUMNS} WHERE mailbox = ?1 ORDER BY id"))
                .bind(&mailbox)
                .fetch_all(&self.readers)
                .await
                .map_err(|e| db_err(e, format_args!("listing the webhooks of {mailbox}")))?;
        Ok(rows.into_iter().map(Webhook::from).collect())
    }

    async fn delete_webhook(&self, mailbox: &str, id: i64) -> Result<()> {
        let mailbox = mailbox.to_ascii_lowercase();
        let done = sqlx::query("DELETE FROM webhooks WHERE id = ?1 AND mailbox = ?2")
            .bind(id)
            .bind(&mailbox)
            .execute(&self.writer)
            .await
            .map_err(|e| db_err(e, format_args!("deleting webhook {id} of {mailbox}")))?;
        expect_row(done, || format!("webhook {id} of {mailbox}"))
    }

    async fn claim_webhook_events(
        &self,
        now: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<WebhookEvent>> {
        // The dispatcher asks on every change of any box and every few seconds: look with a
        // reader first, so that, with nothing due (most of the time, and always without
        // webhooks), the writer that deliveries need is never taken.
        let due: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM webhook_events WHERE next_attempt <= ?1)",
        )
        .bind(now)
        .fetch_one(&self.readers)
        .await
        .map_err(db("looking for due webhook events"))?;
        if !due {
            return Ok(Vec::new());
        }
        let mut tx = self.write("claim_webhook_events").await?;
        let rows: Vec<WebhookEventRow> = sqlx::query_as(&format!(
            "{EVENT_COLUMNS} WHERE e.next_attempt <= ?1 ORDER BY e.next_attempt, e.id LIMIT ?2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading the due webhook events"))?;
        for row in &rows {
            sqlx::query("UPDATE webhook_events SET next_attempt = ?1 WHERE id = ?2")
                .bind(until)
                .bind(row.id)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_err(e, format_args!("claiming webhook event {}", row.id)))?;
        }
        tx.commit()
            .await
            .map_err(db("committing a claim of webhook events"))?;
        rows.into_iter().map(WebhookEvent::try_from).collect()
    }

    async fn webhook_event_delivered(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM webhook_events WHERE id = ?1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(|e| db_err(e, format_args!("deleting delivered webhook event {id}")))?;
        Ok(())
    }

    async fn webhook_event_failed(
        &self,
        id: i64,
        next_attempt: Option<i64>,
        error: &str,
    ) -> Result<()> {
        let query = match next_attempt {
            Some(at) => sqlx::query(
                "UPDATE webhook_events SET attempts = attempts + 1, next_attempt = ?2, \
                 last_error = ?3 WHERE id = ?1",
            )
            .bind(id)
            .bind(at)
            .bind(error),
            None => sqlx::query("DELETE FROM webhook_events WHERE id = ?1").bind(id),
        };
        query
            .execute(&self.writer)
            .await
            .map_err(|e| db_err(e, format_args!("recording a failure of webhook event {id}")))?;
        Ok(())
    }
}
