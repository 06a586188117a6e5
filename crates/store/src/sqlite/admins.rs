//! The SQLite backend's administration accounts: provider admins (no domain) and the
//! postmasters of one domain each.

use async_trait::async_trait;

use super::{SqliteStore, db, db_err, expect_row};
use crate::{Admin, AdminScope, Admins, Result, StoreError};

/// The columns of an [`AdminRow`].
const ADMIN_COLUMNS: &str = "SELECT login, password_hash, domain, created_at FROM admins";

#[derive(sqlx::FromRow)]
struct AdminRow {
    login: String,
    password_hash: String,
    domain: Option<String>,
    created_at: i64,
}

impl AdminRow {
    fn into_admin(self) -> Admin {
        Admin {
            login: self.login,
            password_hash: self.password_hash,
            scope: self.domain.map_or(AdminScope::Provider, AdminScope::Domain),
            created_at: self.created_at,
        }
    }
}

#[async_trait]
impl Admins for SqliteStore {
    async fn create_admin(
        &self,
        login: &str,
        hash: &str,
        scope: &AdminScope,
        at: i64,
    ) -> Result<()> {
        let login = login.to_ascii_lowercase();
        let domain = match scope {
            AdminScope::Provider => None,
            AdminScope::Domain(d) => Some(d.to_ascii_lowercase()),
        };
        let mut tx = self.write("create_admin").await?;
        if let Some(domain) = &domain {
            let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM domains WHERE name = ?1")
                .bind(domain)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| db_err(e, format_args!("looking up domain {domain}")))?;
            if known.is_none() {
                return Err(StoreError::NotFound(format!("domain {domain}")));
            }
        }
        let done = sqlx::query(
            "INSERT INTO admins (login, password_hash, domain, created_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (login) DO NOTHING",
        )
        .bind(&login)
        .bind(hash)
        .bind(&domain)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_err(e, format_args!("creating admin {login}")))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::AlreadyExists(format!("admin {login}")));
        }
        tx.commit().await.map_err(db("committing a new admin"))
    }

    async fn admin(&self, login: &str) -> Result<Option<Admin>> {
        let login = login.to_ascii_lowercase();
        let row: Option<AdminRow> = sqlx::query_as(&format!("{ADMIN_COLUMNS} WHERE login = ?1"))
            .bind(&login)
            .fetch_optional(&self.readers)
            .await
            .map_err(|e| db_err(e, format_args!("reading admin {login}")))?;
        Ok(row.map(AdminRow::into_admin))
    }

    async fn admins(&self) -> Result<Vec<Admin>> {
        let rows: Vec<AdminRow> = sqlx::query_as(&format!("{ADMIN_COLUMNS} ORDER BY login"))
            .fetch_all(&self.readers)
            .await
            .map_err(db("listing admins"))?;
        Ok(rows.into_iter().map(AdminRow::into_admin).collect())
    }

    async fn remove_admin(&self, login: &str) -> Result<()> {
        let login = login.to_ascii_lowercase();
        let done = sqlx::query("DELETE FROM admins WHERE login = ?1")
            .bind(&login)
            .execute(&self.writer)
            .await
            .map_err(|e| db_err(e, format_args!("removing admin {login}")))?;
        expect_row(done, || format!("admin {login}"))
    }

    async fn set_admin_password_hash(&self, login: &str, hash: &str) -> Result<()> {
        let login = login.to_ascii_lowercase();
        let done = sqlx::query("UPDATE admins SET password_hash = ?1 WHERE login = ?2")
            .bind(hash)
            .bind(&login)
            .execute(&self.writer)
            .await
            .map_err(|e| db_err(e, format_args!("setting the password of admin {login}")))?;
        expect_row(done, || format!("admin {login}"))
    }
}
