//! The SQLite backend's REST API state: keys (by hash), the idempotency keys of sends
//! (recorded by the batch of the send, see [`record_api_send`]), and webhooks.

use async_trait::async_trait;
use sqlx::sqlite::SqliteConnection;

use super::accounts::is_mailbox;
use super::{SqliteStore, db, db_err, expect_row};
use crate::{Api, ApiKey, ApiSend, Result, StoreError, Webhook};

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
        "INSERT INTO api_sends (mailbox, key, identificativo) VALUES (?1, ?2, ?3) \
         ON CONFLICT (mailbox, key) DO NOTHING",
    )
    .bind(&mailbox)
    .bind(&s.key)
    .bind(&s.identificativo)
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

    async fn api_send(&self, mailbox: &str, key: &str) -> Result<Option<String>> {
        let mailbox = mailbox.to_ascii_lowercase();
        sqlx::query_scalar("SELECT identificativo FROM api_sends WHERE mailbox = ?1 AND key = ?2")
            .bind(&mailbox)
            .bind(key)
            .fetch_optional(&self.readers)
            .await
            .map_err(|e| db_err(e, format_args!("looking up API send {key:?} of {mailbox}")))
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
}
