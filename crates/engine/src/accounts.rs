//! Credentials: argon2 password hashes, and why a login is refused. Who may log in (only to
//! an active box with the right password — spec §4.1, RFC 6109 §5.2) is decided by
//! [`crate::Engine::login`].

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

/// Whether `password` matches a stored PHC string (a malformed hash never matches).
pub fn verify_password(password: &str, phc: &str) -> bool {
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
        let ok = verify_password(password, hash);
        Ok(admin.filter(|_| ok))
    }
}

/// An argon2id hash of a random password nobody knows.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vb0ZsNVwYbiRTMuCMlaGq5WRRPmUwoN4Mti8lLdCn5A";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify() {
        let h = hash_password("Segreta123").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("Segreta123", &h));
        assert!(!verify_password("segreta123", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(!verify_password("x", DUMMY_HASH));
    }
}
