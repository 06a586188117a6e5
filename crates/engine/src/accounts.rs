//! Credentials: argon2 password hashes, and why a login is refused. Who may log in (only to
//! an active box with the right password — spec §4.1, RFC 6109 §5.2) is decided by
//! [`crate::Engine::login`].
//!
//! A password check costs argon2's 19 MiB and tens of milliseconds of one core, and anyone
//! who can open a connection can ask for one. So checks run off the async workers (a flood of
//! logins must not stall the doors) and at most one per core at a time ([`CHECKS`]): the
//! rest wait their turn, and the memory a flood can claim stays bounded by the cores.

use std::sync::LazyLock;

use tokio::sync::Semaphore;

use crate::{Engine, EngineError};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The PHC string of `password` (argon2id, random salt).
pub fn hash_password(password: &str) -> Result<String, EngineError> {
    let mut bytes = [0u8; 16];
    let salt = openssl::rand::rand_bytes(&mut bytes)
        .map_err(|e| e.to_string())
        .and_then(|_| SaltString::encode_b64(&bytes).map_err(|e| e.to_string()))
        .map_err(|reason| EngineError::Build {
            what: "password salt",
            reason,
        })?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| EngineError::Build {
            what: "password hash",
            reason: e.to_string(),
        })
}

/// Password checks allowed to run at once: one per core.
static CHECKS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

/// Whether `password` matches a stored PHC string (a malformed hash never matches), checked
/// on a blocking thread once one of the [`CHECKS`] permits is free.
pub async fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(_permit) = CHECKS.acquire().await else {
        return false;
    };
    let (password, phc) = (password.to_owned(), phc.to_owned());
    tokio::task::spawn_blocking(move || verify_now(&password, &phc))
        .await
        .unwrap_or(false)
}

/// [`verify_password`] on the calling thread.
fn verify_now(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("wrong mailbox or password")]
    BadCredentials,
    #[error("mailbox {0} is not active")]
    NotActive(String),
}

impl Engine {
    /// The administration panel's account `login` if `password` is its password; an
    /// unknown login costs the same time as a wrong password.
    pub async fn admin_login(
        &self,
        login: &str,
        password: &str,
    ) -> Result<Option<store::Admin>, EngineError> {
        let admin = self.store.admin(login).await?;
        let hash = admin.as_ref().map_or(DUMMY_HASH, |a| &a.password_hash);
        let ok = verify_password(password, hash).await;
        Ok(admin.filter(|_| ok))
    }
}

/// An argon2id hash of a random password nobody knows.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vb0ZsNVwYbiRTMuCMlaGq5WRRPmUwoN4Mti8lLdCn5A";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify() {
        let h = hash_password("Segreta123").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("Segreta123", &h).await);
        assert!(!verify_password("segreta123", &h).await);
        assert!(!verify_password("x", "not a hash").await);
        assert!(!verify_password("x", DUMMY_HASH).await);
    }

    /// A flood of checks leaves the async worker free: on a single-threaded runtime, a task
    /// queued behind twenty checks still runs while they wait for their turn.
    #[tokio::test(flavor = "current_thread")]
    async fn a_flood_of_checks_does_not_hold_the_runtime() {
        let h = hash_password("Segreta123").unwrap();
        let flood: Vec<_> = (0..20)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { verify_password("sbagliata", &h).await })
            })
            .collect();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let _ = tx.send(CHECKS.available_permits());
        });
        // Runs before the twenty finish (had a check run on the worker, the ping would wait
        // for all of them), while one check per core holds a permit and the rest wait.
        assert_eq!(rx.await.unwrap(), 0, "every permit is in use");
        let pending = flood.iter().filter(|t| !t.is_finished()).count();
        assert!(pending > 0, "the ping ran only after every check");
        for t in flood {
            assert!(!t.await.unwrap());
        }
    }
}
