//! The SQLite backend's accounts: domains, mailboxes with their settings, and the delegates
//! of multi-user boxes. Holders and delegates log in through one name space, so a
//! delegate's login and a mailbox address are kept from ever colliding, both ways.

use async_trait::async_trait;
use sqlx::sqlite::SqliteConnection;

use super::holders::{PasswordOwner, forget_passwords, replace_password};
use super::{SqliteStore, db, db_err, expect_row, parse, to_i64, to_u64};
use crate::holder_rules::ordinary_mail_target;
use crate::mail_rules::{folder_name, outside_archive};
use crate::{
    Accounts, Delegate, INBOX, Mailbox, MailboxState, NewDelegate, NewMailbox, OrdinaryMail,
    Result, StoreError,
};

/// The columns of a [`MailboxRow`].
const MAILBOX_COLUMNS: &str = "SELECT address, domain, kind, state, quota, used, ordinary_mail, \
     password_hash, created_at, receipts_folder, protocol_account, quota_warned FROM mailboxes";

/// The columns of a [`DelegateRow`].
const DELEGATE_COLUMNS: &str =
    "SELECT login, mailbox, role, password_hash, created_at FROM delegates";

#[derive(sqlx::FromRow)]
struct MailboxRow {
    address: String,
    domain: String,
    kind: String,
    state: String,
    quota: i64,
    used: i64,
    ordinary_mail: String,
    password_hash: String,
    created_at: i64,
    receipts_folder: Option<String>,
    protocol_account: Option<String>,
    quota_warned: i64,
}

impl MailboxRow {
    fn into_mailbox(self) -> Result<Mailbox> {
        Ok(Mailbox {
            kind: parse(&self.kind)?,
            state: parse(&self.state)?,
            quota: to_u64(self.quota, "quota")?,
            used: to_u64(self.used, "used bytes")?,
            ordinary_mail: parse(&self.ordinary_mail)?,
            address: self.address,
            domain: self.domain,
            password_hash: self.password_hash,
            created_at: self.created_at,
            receipts_folder: self.receipts_folder,
            protocol_account: self.protocol_account,
            quota_warned: self.quota_warned != 0,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DelegateRow {
    login: String,
    mailbox: String,
    role: String,
    password_hash: String,
    created_at: i64,
}

impl DelegateRow {
    fn into_delegate(self) -> Result<Delegate> {
        Ok(Delegate {
            role: parse(&self.role)?,
            login: self.login,
            mailbox: self.mailbox,
            password_hash: self.password_hash,
            created_at: self.created_at,
        })
    }
}

#[async_trait]
impl Accounts for SqliteStore {
    async fn create_domain(&self, domain: &str, at: i64) -> Result<()> {
        let domain = domain.to_ascii_lowercase();
        let mut tx = self.write("create_domain").await?;
        let done = sqlx::query(
            "INSERT INTO domains (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&domain)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_err(e, format_args!("creating domain {domain}")))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::AlreadyExists(format!("domain {domain}")));
        }
        tx.commit().await.map_err(db("committing a new domain"))
    }

    async fn domains(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT name FROM domains ORDER BY name")
            .fetch_all(&self.readers)
            .await
            .map_err(db("listing domains"))
    }

    async fn create_mailbox(&self, m: &NewMailbox, at: i64) -> Result<()> {
        let address = m.address.to_ascii_lowercase();
        let domain = match address.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => domain,
            _ => {
                return Err(StoreError::NotFound(format!(
                    "domain of mailbox address {address:?} (no local@domain)"
                )));
            }
        };
        let quota = to_i64(m.quota, "quota")?;
        ordinary_mail_target(m.ordinary_mail, None)?;
        let mut tx = self.write("create_mailbox").await?;
        let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM domains WHERE name = ?1")
            .bind(domain)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_err(e, format_args!("looking up domain {domain}")))?;
        if known.is_none() {
            return Err(StoreError::NotFound(format!("domain {domain}")));
        }
        if is_delegate(&mut tx, &address).await? {
            return Err(StoreError::AlreadyExists(format!(
                "{address} is the login of a delegate"
            )));
        }
        let done = sqlx::query(
            "INSERT INTO mailboxes (address, domain, kind, state, quota, used, ordinary_mail, \
             password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8) \
             ON CONFLICT (address) DO NOTHING",
        )
        .bind(&address)
        .bind(domain)
        .bind(m.kind.as_str())
        .bind(m.state.as_str())
        .bind(quota)
        .bind(m.ordinary_mail.as_str())
        .bind(&m.password_hash)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_err(e, format_args!("creating mailbox {address}")))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::AlreadyExists(format!("mailbox {address}")));
        }
        super::mail::new_folder(&mut tx, &address, INBOX, at).await?;
        tx.commit().await.map_err(db("committing a new mailbox"))
    }

    async fn mailbox(&self, address: &str) -> Result<Option<Mailbox>> {
        let address = address.to_ascii_lowercase();
        let row: Option<MailboxRow> =
            sqlx::query_as(&format!("{MAILBOX_COLUMNS} WHERE address = ?1"))
                .bind(&address)
                .fetch_optional(&self.readers)
                .await
                .map_err(|e| db_err(e, format_args!("reading mailbox {address}")))?;
        row.map(MailboxRow::into_mailbox).transpose()
    }

    async fn mailboxes(&self, domain: Option<&str>) -> Result<Vec<Mailbox>> {
        let rows: Vec<MailboxRow> = match domain {
            Some(domain) => {
                sqlx::query_as(&format!(
                    "{MAILBOX_COLUMNS} WHERE domain = ?1 ORDER BY address"
                ))
                .bind(domain.to_ascii_lowercase())
                .fetch_all(&self.readers)
                .await
            }
            None => {
                sqlx::query_as(&format!("{MAILBOX_COLUMNS} ORDER BY address"))
                    .fetch_all(&self.readers)
                    .await
            }
        }
        .map_err(db("listing mailboxes"))?;
        rows.into_iter().map(MailboxRow::into_mailbox).collect()
    }

    async fn set_password_hash(&self, address: &str, hash: &str) -> Result<()> {
        let address = address.to_ascii_lowercase();
        let mut tx = self.write("set_password_hash").await?;
        replace_password(&mut tx, PasswordOwner::Mailbox, &address, hash).await?;
        tx.commit().await.map_err(db("committing a new password"))
    }

    async fn set_state(&self, address: &str, state: MailboxState) -> Result<()> {
        self.update_mailbox(address, "state", state.as_str().to_string(), "state")
            .await
    }

    async fn set_kind(&self, address: &str, kind: crate::MailboxKind) -> Result<()> {
        self.update_mailbox(address, "kind", kind.as_str().to_string(), "kind")
            .await
    }

    async fn set_quota(&self, address: &str, quota: u64) -> Result<()> {
        let address = address.to_ascii_lowercase();
        let quota = to_i64(quota, "quota")?;
        // A new quota makes the warning of the old one moot (right-hand sides see the row as
        // it was).
        let done = sqlx::query(
            "UPDATE mailboxes SET quota = ?1, \
             quota_warned = CASE WHEN quota = ?1 THEN quota_warned ELSE 0 END \
             WHERE address = ?2",
        )
        .bind(quota)
        .bind(&address)
        .execute(&self.writer)
        .await
        .map_err(|e| db_err(e, format_args!("setting the quota of {address}")))?;
        expect_row(done, || format!("mailbox {address}"))
    }

    async fn set_ordinary_mail(&self, address: &str, policy: OrdinaryMail) -> Result<()> {
        let target = ordinary_mail_target(policy, None)?;
        self.store_ordinary_mail(address, policy, target).await
    }

    async fn set_receipts_folder(&self, address: &str, folder: Option<&str>) -> Result<()> {
        let folder = match folder {
            Some(name) => {
                let name = folder_name(name)?;
                outside_archive(name, "filing receipts in")?;
                Some(name.to_owned())
            }
            None => None,
        };
        self.update_mailbox(address, "receipts_folder", folder, "receipts folder")
            .await
    }

    async fn set_protocol_account(&self, address: &str, login: Option<&str>) -> Result<()> {
        let login = login.map(str::to_ascii_lowercase);
        self.update_mailbox(address, "protocol_account", login, "protocol account")
            .await
    }

    async fn create_delegate(&self, d: &NewDelegate, at: i64) -> Result<()> {
        let login = d.login.to_ascii_lowercase();
        let mailbox = d.mailbox.to_ascii_lowercase();
        let mut tx = self.write("create_delegate").await?;
        if !is_mailbox(&mut tx, &mailbox).await? {
            return Err(StoreError::NotFound(format!("mailbox {mailbox}")));
        }
        if is_mailbox(&mut tx, &login).await? {
            return Err(StoreError::AlreadyExists(format!(
                "{login} is a mailbox address"
            )));
        }
        let done = sqlx::query(
            "INSERT INTO delegates (login, mailbox, role, password_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (login) DO NOTHING",
        )
        .bind(&login)
        .bind(&mailbox)
        .bind(d.role.as_str())
        .bind(&d.password_hash)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_err(e, format_args!("creating delegate {login} of {mailbox}")))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::AlreadyExists(format!("delegate {login}")));
        }
        tx.commit().await.map_err(db("committing a new delegate"))
    }

    async fn delegate(&self, login: &str) -> Result<Option<Delegate>> {
        let login = login.to_ascii_lowercase();
        let row: Option<DelegateRow> =
            sqlx::query_as(&format!("{DELEGATE_COLUMNS} WHERE login = ?1"))
                .bind(&login)
                .fetch_optional(&self.readers)
                .await
                .map_err(|e| db_err(e, format_args!("reading delegate {login}")))?;
        row.map(DelegateRow::into_delegate).transpose()
    }

    async fn delegates(&self, mailbox: &str) -> Result<Vec<Delegate>> {
        let mailbox = mailbox.to_ascii_lowercase();
        let rows: Vec<DelegateRow> = sqlx::query_as(&format!(
            "{DELEGATE_COLUMNS} WHERE mailbox = ?1 ORDER BY login"
        ))
        .bind(&mailbox)
        .fetch_all(&self.readers)
        .await
        .map_err(|e| db_err(e, format_args!("listing the delegates of {mailbox}")))?;
        rows.into_iter().map(DelegateRow::into_delegate).collect()
    }

    async fn remove_delegate(&self, login: &str) -> Result<()> {
        let login = login.to_ascii_lowercase();
        let mut tx = self.write("remove_delegate").await?;
        let done = sqlx::query("DELETE FROM delegates WHERE login = ?1")
            .bind(&login)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_err(e, format_args!("removing delegate {login}")))?;
        expect_row(done, || format!("delegate {login}"))?;
        forget_passwords(&mut tx, &login).await?;
        tx.commit()
            .await
            .map_err(db("committing a removed delegate"))
    }

    async fn set_delegate_password_hash(&self, login: &str, hash: &str) -> Result<()> {
        let login = login.to_ascii_lowercase();
        let mut tx = self.write("set_delegate_password_hash").await?;
        replace_password(&mut tx, PasswordOwner::Delegate, &login, hash).await?;
        tx.commit().await.map_err(db("committing a new password"))
    }

    async fn delete_mailbox(&self, address: &str) -> Result<()> {
        let address = address.to_ascii_lowercase();
        let mut tx = self.write("delete_mailbox").await?;
        if !is_mailbox(&mut tx, &address).await? {
            return Err(StoreError::NotFound(format!("mailbox {address}")));
        }
        let delegates: Vec<String> =
            sqlx::query_scalar("SELECT login FROM delegates WHERE mailbox = ?1")
                .bind(&address)
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| db_err(e, format_args!("listing the delegates of {address}")))?;
        for login in delegates.iter().chain([&address]) {
            forget_passwords(&mut tx, login).await?;
        }
        // Children first: every table that names the box, then the box itself.
        for table in [
            "message_flags",
            "messages",
            "folders",
            "delegates",
            "new_pec_notices",
            "recovery_tokens",
            "api_sends",
            "api_keys",
            "webhooks",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE mailbox = ?1"))
                .bind(&address)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_err(e, format_args!("deleting the {table} of {address}")))?;
        }
        sqlx::query("DELETE FROM mailboxes WHERE address = ?1")
            .bind(&address)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_err(e, format_args!("deleting mailbox {address}")))?;
        tx.commit()
            .await
            .map_err(db("committing a deleted mailbox"))
    }
}

/// Whether `address` (lowercase) is a mailbox's address.
pub(super) async fn is_mailbox(conn: &mut SqliteConnection, address: &str) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM mailboxes WHERE address = ?1")
        .bind(address)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("looking up mailbox {address}")))?;
    Ok(found.is_some())
}

/// Whether `login` (lowercase) is a delegate's login.
async fn is_delegate(conn: &mut SqliteConnection, login: &str) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM delegates WHERE login = ?1")
        .bind(login)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("looking up delegate {login}")))?;
    Ok(found.is_some())
}

impl SqliteStore {
    /// Sets one column of one mailbox; `NotFound` if there is no such mailbox.
    pub(super) async fn update_mailbox<T>(
        &self,
        address: &str,
        column: &'static str,
        value: T,
        what: &str,
    ) -> Result<()>
    where
        T: 'static + Send + for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        let address = address.to_ascii_lowercase();
        let sql = format!("UPDATE mailboxes SET {column} = ?1 WHERE address = ?2");
        let done = sqlx::query(&sql)
            .bind(value)
            .bind(&address)
            .execute(&self.writer)
            .await
            .map_err(|e| db_err(e, format_args!("setting the {what} of {address}")))?;
        expect_row(done, || format!("mailbox {address}"))
    }
}
