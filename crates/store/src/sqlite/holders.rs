//! The SQLite backend's holder settings (columns of `mailboxes`, notice lists in
//! `new_pec_notices`), activation, password history and recovery tokens.

use async_trait::async_trait;
use sqlx::sqlite::SqliteConnection;

use super::{SqliteStore, db, db_err, expect_row};
use crate::holder_rules::{
    holder_profile, notice_addresses, optional_address, ordinary_mail_target,
};
use crate::{
    HolderProfile, HolderSettings, Holders, MailboxState, NewPecNotice, OrdinaryMail,
    PASSWORD_HISTORY, Result, StoreError,
};

/// The columns of a [`SettingsRow`].
const SETTINGS_COLUMNS: &str = "SELECT ordinary_mail_target, holder_nome, holder_cognome, \
     holder_email, recovery_address, must_change_password, activation_deadline, forward_copy, \
     daily_report FROM mailboxes";

/// Whose password a [`replace_password`] changes: the table and its key column.
#[derive(Debug, Clone, Copy)]
pub(super) enum PasswordOwner {
    Mailbox,
    Delegate,
}

impl PasswordOwner {
    fn update(self) -> &'static str {
        match self {
            Self::Mailbox => "UPDATE mailboxes SET password_hash = ?1 WHERE address = ?2",
            Self::Delegate => "UPDATE delegates SET password_hash = ?1 WHERE login = ?2",
        }
    }

    fn current(self) -> &'static str {
        match self {
            Self::Mailbox => "SELECT password_hash FROM mailboxes WHERE address = ?1",
            Self::Delegate => "SELECT password_hash FROM delegates WHERE login = ?1",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Mailbox => "mailbox",
            Self::Delegate => "delegate",
        }
    }
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    ordinary_mail_target: Option<String>,
    holder_nome: Option<String>,
    holder_cognome: Option<String>,
    holder_email: Option<String>,
    recovery_address: Option<String>,
    must_change_password: i64,
    activation_deadline: Option<i64>,
    forward_copy: Option<String>,
    daily_report: i64,
}

impl SettingsRow {
    fn into_settings(self, notice: NewPecNotice) -> HolderSettings {
        let profile = match (self.holder_nome, self.holder_cognome, self.holder_email) {
            (Some(nome), Some(cognome), Some(email)) => Some(HolderProfile {
                nome,
                cognome,
                email,
            }),
            _ => None,
        };
        HolderSettings {
            ordinary_mail_target: self.ordinary_mail_target,
            profile,
            recovery_address: self.recovery_address,
            must_change_password: self.must_change_password != 0,
            activation_deadline: self.activation_deadline,
            notice,
            forward_copy: self.forward_copy,
            daily_report: self.daily_report != 0,
        }
    }
}

/// Sets the password hash of a box or a delegate (`login` lowercase) inside `conn`'s
/// transaction, keeping the hash it replaces in the history (the newest
/// [`PASSWORD_HISTORY`] only); a box's recovery tokens go, whoever changed the password.
/// `NotFound` for an unknown login.
pub(super) async fn replace_password(
    conn: &mut SqliteConnection,
    owner: PasswordOwner,
    login: &str,
    hash: &str,
) -> Result<()> {
    let what = || format!("{} {login}", owner.noun());
    let current: Option<String> = sqlx::query_scalar(owner.current())
        .bind(login)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("reading the password of {}", what())))?;
    let current = current.ok_or_else(|| StoreError::NotFound(what()))?;
    if current == hash {
        return Ok(());
    }
    remember_password(conn, login, &current).await?;
    sqlx::query(owner.update())
        .bind(hash)
        .bind(login)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("setting the password of {}", what())))?;
    if let PasswordOwner::Mailbox = owner {
        forget_recovery_tokens(conn, login).await?;
    }
    Ok(())
}

/// Removes every recovery token of box `address` (lowercase) inside `conn`'s transaction: a
/// link must not outlive the password it was sent to replace, nor the use of another link.
async fn forget_recovery_tokens(conn: &mut SqliteConnection, address: &str) -> Result<()> {
    sqlx::query("DELETE FROM recovery_tokens WHERE mailbox = ?1")
        .bind(address)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("removing the recovery tokens of {address}")))?;
    Ok(())
}

/// Appends `hash` to `login`'s history and forgets all but the newest [`PASSWORD_HISTORY`].
async fn remember_password(conn: &mut SqliteConnection, login: &str, hash: &str) -> Result<()> {
    let kept = i64::try_from(PASSWORD_HISTORY).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO password_history (login, seq, hash) VALUES (?1, \
         (SELECT coalesce(max(seq), 0) + 1 FROM password_history WHERE login = ?1), ?2)",
    )
    .bind(login)
    .bind(hash)
    .execute(&mut *conn)
    .await
    .map_err(|e| db_err(e, format_args!("keeping the old password of {login}")))?;
    sqlx::query(
        "DELETE FROM password_history WHERE login = ?1 AND seq <= \
         (SELECT max(seq) FROM password_history WHERE login = ?1) - ?2",
    )
    .bind(login)
    .bind(kept)
    .execute(&mut *conn)
    .await
    .map_err(|e| db_err(e, format_args!("trimming the password history of {login}")))?;
    Ok(())
}

/// Forgets the password history of `login` (a delegate removed: its login may come back for
/// someone else).
pub(super) async fn forget_passwords(conn: &mut SqliteConnection, login: &str) -> Result<()> {
    sqlx::query("DELETE FROM password_history WHERE login = ?1")
        .bind(login)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("forgetting the passwords of {login}")))?;
    Ok(())
}

/// The wire name of a list of [`NewPecNotice`] in `new_pec_notices`.
const NOTICE_TO: &str = "to";
const NOTICE_FROM: &str = "from";

/// The notice lists of `address` (lowercase).
async fn read_notice(conn: &mut SqliteConnection, address: &str) -> Result<NewPecNotice> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT list, address FROM new_pec_notices WHERE mailbox = ?1 ORDER BY list, pos",
    )
    .bind(address)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db_err(e, format_args!("reading the notices of {address}")))?;
    let mut notice = NewPecNotice::default();
    for (list, to) in rows {
        match list.as_str() {
            NOTICE_TO => notice.to.push(to),
            _ => notice.only_from.push(to),
        }
    }
    Ok(notice)
}

/// Stores one list of a notice, replacing what was there.
async fn write_notice_list(
    conn: &mut SqliteConnection,
    address: &str,
    list: &'static str,
    addresses: &[String],
) -> Result<()> {
    for (pos, to) in (0_i64..).zip(addresses) {
        sqlx::query(
            "INSERT INTO new_pec_notices (mailbox, list, pos, address) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(address)
        .bind(list)
        .bind(pos)
        .bind(to)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_err(e, format_args!("storing the notices of {address}")))?;
    }
    Ok(())
}

#[async_trait]
impl Holders for SqliteStore {
    async fn holder_settings(&self, address: &str) -> Result<Option<HolderSettings>> {
        let address = address.to_ascii_lowercase();
        let mut tx = self.read("holder settings").await?;
        let row: Option<SettingsRow> =
            sqlx::query_as(&format!("{SETTINGS_COLUMNS} WHERE address = ?1"))
                .bind(&address)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| db_err(e, format_args!("reading the settings of {address}")))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let notice = read_notice(&mut tx, &address).await?;
        tx.commit().await.map_err(db("ending a read"))?;
        Ok(Some(row.into_settings(notice)))
    }

    async fn set_ordinary_mail_policy(
        &self,
        address: &str,
        policy: OrdinaryMail,
        target: Option<&str>,
    ) -> Result<()> {
        let target = ordinary_mail_target(policy, target)?;
        self.store_ordinary_mail(address, policy, target).await
    }

    async fn set_holder_profile(&self, address: &str, profile: &HolderProfile) -> Result<()> {
        let address = address.to_ascii_lowercase();
        let profile = holder_profile(profile)?;
        let done = sqlx::query(
            "UPDATE mailboxes SET holder_nome = ?1, holder_cognome = ?2, holder_email = ?3 \
             WHERE address = ?4",
        )
        .bind(&profile.nome)
        .bind(&profile.cognome)
        .bind(&profile.email)
        .bind(&address)
        .execute(&self.writer)
        .await
        .map_err(|e| db_err(e, format_args!("setting the holder of {address}")))?;
        expect_row(done, || format!("mailbox {address}"))
    }

    async fn set_recovery_address(&self, address: &str, recovery: Option<&str>) -> Result<()> {
        let recovery = optional_address(recovery)?;
        let address = address.to_ascii_lowercase();
        let mut tx = self.write("set_recovery_address").await?;
        let current: Option<Option<String>> =
            sqlx::query_scalar("SELECT recovery_address FROM mailboxes WHERE address = ?1")
                .bind(&address)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| {
                    db_err(e, format_args!("reading the recovery address of {address}"))
                })?;
        let current = current.ok_or_else(|| StoreError::NotFound(format!("mailbox {address}")))?;
        if current == recovery {
            return Ok(());
        }
        sqlx::query("UPDATE mailboxes SET recovery_address = ?1 WHERE address = ?2")
            .bind(&recovery)
            .bind(&address)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_err(e, format_args!("setting the recovery address of {address}")))?;
        forget_recovery_tokens(&mut tx, &address).await?;
        tx.commit()
            .await
            .map_err(db("committing a recovery address"))
    }

    async fn set_new_pec_notice(&self, address: &str, notice: &NewPecNotice) -> Result<()> {
        let address = address.to_ascii_lowercase();
        let to = notice_addresses(&notice.to, "notice recipients")?;
        let only_from = notice_addresses(&notice.only_from, "notice senders")?;
        let mut tx = self.write("set_new_pec_notice").await?;
        if !super::accounts::is_mailbox(&mut tx, &address).await? {
            return Err(StoreError::NotFound(format!("mailbox {address}")));
        }
        sqlx::query("DELETE FROM new_pec_notices WHERE mailbox = ?1")
            .bind(&address)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_err(e, format_args!("clearing the notices of {address}")))?;
        write_notice_list(&mut tx, &address, NOTICE_TO, &to).await?;
        write_notice_list(&mut tx, &address, NOTICE_FROM, &only_from).await?;
        tx.commit().await.map_err(db("committing the notices"))
    }

    async fn set_forward_copy(&self, address: &str, to: Option<&str>) -> Result<()> {
        let to = optional_address(to)?;
        self.update_mailbox(address, "forward_copy", to, "forwarding address")
            .await
    }

    async fn set_daily_report(&self, address: &str, on: bool) -> Result<()> {
        self.update_mailbox(address, "daily_report", i64::from(on), "daily report")
            .await
    }

    async fn password_history(&self, login: &str) -> Result<Vec<String>> {
        let login = login.to_ascii_lowercase();
        sqlx::query_scalar("SELECT hash FROM password_history WHERE login = ?1 ORDER BY seq DESC")
            .bind(&login)
            .fetch_all(&self.readers)
            .await
            .map_err(|e| db_err(e, format_args!("reading the password history of {login}")))
    }

    async fn require_activation(&self, address: &str, deadline: i64) -> Result<()> {
        let address = address.to_ascii_lowercase();
        let done = sqlx::query(
            "UPDATE mailboxes SET must_change_password = 1, activation_deadline = ?1 \
             WHERE address = ?2",
        )
        .bind(deadline)
        .bind(&address)
        .execute(&self.writer)
        .await
        .map_err(|e| db_err(e, format_args!("requiring the activation of {address}")))?;
        expect_row(done, || format!("mailbox {address}"))
    }

    async fn activate(&self, address: &str, hash: &str, profile: &HolderProfile) -> Result<()> {
        let address = address.to_ascii_lowercase();
        let profile = holder_profile(profile)?;
        let mut tx = self.write("activate").await?;
        let done = sqlx::query(
            "UPDATE mailboxes SET state = ?1, must_change_password = 0, \
             activation_deadline = NULL, holder_nome = ?2, holder_cognome = ?3, \
             holder_email = ?4 WHERE address = ?5 AND state = ?6 AND must_change_password = 1",
        )
        .bind(MailboxState::Attiva.as_str())
        .bind(&profile.nome)
        .bind(&profile.cognome)
        .bind(&profile.email)
        .bind(&address)
        .bind(MailboxState::Sospesa.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| db_err(e, format_args!("activating {address}")))?;
        expect_row(done, || format!("mailbox {address} awaiting activation"))?;
        replace_password(&mut tx, PasswordOwner::Mailbox, &address, hash).await?;
        tx.commit().await.map_err(db("committing an activation"))
    }

    async fn block_expired_activations(&self, now: i64) -> Result<Vec<String>> {
        let mut blocked: Vec<String> = sqlx::query_scalar(
            "UPDATE mailboxes SET state = ?1 WHERE state = ?2 AND must_change_password = 1 \
             AND activation_deadline < ?3 RETURNING address",
        )
        .bind(MailboxState::Bloccata.as_str())
        .bind(MailboxState::Sospesa.as_str())
        .bind(now)
        .fetch_all(&self.writer)
        .await
        .map_err(db("blocking the boxes not activated in time"))?;
        blocked.sort();
        Ok(blocked)
    }

    async fn create_recovery_token(
        &self,
        address: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<()> {
        let address = address.to_ascii_lowercase();
        let mut tx = self.write("create_recovery_token").await?;
        if !super::accounts::is_mailbox(&mut tx, &address).await? {
            return Err(StoreError::NotFound(format!("mailbox {address}")));
        }
        let done = sqlx::query(
            "INSERT INTO recovery_tokens (token_hash, mailbox, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(token_hash)
        .bind(&address)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_err(e, format_args!("recording a recovery token of {address}")))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::AlreadyExists("recovery token".into()));
        }
        tx.commit().await.map_err(db("committing a recovery token"))
    }

    async fn recovery_token(&self, token_hash: &str, now: i64) -> Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT mailbox FROM recovery_tokens WHERE token_hash = ?1 AND expires_at > ?2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.readers)
        .await
        .map_err(db("looking up a recovery token"))
    }

    async fn consume_recovery_token(&self, token_hash: &str, now: i64) -> Result<Option<String>> {
        let mut tx = self.write("consume_recovery_token").await?;
        let found: Option<(String, i64)> = sqlx::query_as(
            "DELETE FROM recovery_tokens WHERE token_hash = ?1 RETURNING mailbox, expires_at",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("consuming a recovery token"))?;
        sqlx::query("DELETE FROM recovery_tokens WHERE expires_at <= ?1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db("removing expired recovery tokens"))?;
        let valid = found.and_then(|(mailbox, expires_at)| (expires_at > now).then_some(mailbox));
        if let Some(mailbox) = &valid {
            forget_recovery_tokens(&mut tx, mailbox).await?;
        }
        tx.commit().await.map_err(db("committing a recovery"))?;
        Ok(valid)
    }
}

impl SqliteStore {
    /// Sets the ordinary-mail policy and its (already checked) target together.
    pub(super) async fn store_ordinary_mail(
        &self,
        address: &str,
        policy: OrdinaryMail,
        target: Option<String>,
    ) -> Result<()> {
        let address = address.to_ascii_lowercase();
        let done = sqlx::query(
            "UPDATE mailboxes SET ordinary_mail = ?1, ordinary_mail_target = ?2 \
             WHERE address = ?3",
        )
        .bind(policy.as_str())
        .bind(target)
        .bind(&address)
        .execute(&self.writer)
        .await
        .map_err(|e| {
            db_err(
                e,
                format_args!("setting the ordinary-mail policy of {address}"),
            )
        })?;
        expect_row(done, || format!("mailbox {address}"))
    }
}
