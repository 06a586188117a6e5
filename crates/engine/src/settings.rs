//! The rules the web applies to a holder's own account that are pure policy: which
//! passwords a provider accepts (seed 004: 8 to 20 characters, letters and digits, never one
//! used before), changing a password, and the activation of boxes created in bulk (seed 003:
//! created suspended with initial credentials; at the first login the holder changes the
//! password and confirms their data, which activates the box; boxes not activated by a
//! deadline are blocked), and password recovery through the holder's registered ordinary
//! address (seed 000: "ad ogni PEC è associato l'indirizzo email del titolare per il
//! recupero della password").
//!
//! [`crate::Engine::login`] admits only active boxes. A box awaiting activation is let in by
//! [`crate::Engine::login_for_activation`] instead, which hands out a [`PendingActivation`]
//! (never a [`Principal`]): all the web can do with it is show the activation page and call
//! [`crate::Engine::activate`].

use store::{HolderProfile, MailboxState, StoreError};

use crate::accounts::{DUMMY_HASH, LoginError, hash_password, verify_password};
use crate::mailbox::Principal;
use crate::{Engine, EngineError, build_error};

/// What a provider asks of a new password. Lengths count characters, not bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_len: usize,
    pub max_len: usize,
    pub require_letter: bool,
    pub require_digit: bool,
    /// How many earlier passwords, besides the current one (always refused), may not come
    /// back; at most [`store::PASSWORD_HISTORY`] are remembered.
    pub history: usize,
}

impl Default for PasswordPolicy {
    /// Seed 004's: 8 to 20 characters with letters and digits, the last 5 never again.
    fn default() -> PasswordPolicy {
        PasswordPolicy {
            min_len: 8,
            max_len: 20,
            require_letter: true,
            require_digit: true,
            history: 5,
        }
    }
}

/// One rule a new password breaks, for the web to explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("shorter than {0} characters")]
    TooShort(usize),
    #[error("longer than {0} characters")]
    TooLong(usize),
    #[error("no letter")]
    NoLetter,
    #[error("no digit")]
    NoDigit,
    /// The current password, or one of the earlier ones the policy remembers.
    #[error("used before")]
    Reused,
}

impl PasswordPolicy {
    /// Every rule `password` breaks by itself (all but reuse), in the order of
    /// [`PolicyViolation`]; empty when it is acceptable.
    pub fn violations(&self, password: &str) -> Vec<PolicyViolation> {
        let len = password.chars().count();
        let rules = [
            (len < self.min_len, PolicyViolation::TooShort(self.min_len)),
            (len > self.max_len, PolicyViolation::TooLong(self.max_len)),
            (
                self.require_letter && !password.chars().any(char::is_alphabetic),
                PolicyViolation::NoLetter,
            ),
            (
                self.require_digit && !password.chars().any(|c| c.is_ascii_digit()),
                PolicyViolation::NoDigit,
            ),
        ];
        rules
            .into_iter()
            .filter_map(|(broken, violation)| broken.then_some(violation))
            .collect()
    }

    /// [`PasswordPolicy::violations`] plus [`PolicyViolation::Reused`] when `password`
    /// matches the current hash or one of the newest `history` earlier ones (newest first,
    /// as [`store::Holders::password_history`] gives them).
    pub async fn check(
        &self,
        password: &str,
        current: &str,
        earlier: &[String],
    ) -> Vec<PolicyViolation> {
        let mut found = self.violations(password);
        let used =
            std::iter::once(current).chain(earlier.iter().take(self.history).map(String::as_str));
        for hash in used {
            if verify_password(password, hash).await {
                found.push(PolicyViolation::Reused);
                break;
            }
        }
        found
    }
}

/// Why a password change or an activation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The current password given is wrong (or the account is gone).
    #[error("wrong password")]
    BadCredentials,
    /// The new password breaks these rules, all of them listed.
    #[error("the new password is not acceptable: {}", list(.0))]
    Policy(Vec<PolicyViolation>),
    /// The box is not suspended awaiting activation (already active, blocked, revoked, or
    /// unknown).
    #[error("mailbox {0} does not await activation")]
    NotAwaitingActivation(String),
    /// The box awaited activation, but its deadline passed.
    #[error("the activation deadline of {0} has passed")]
    ActivationExpired(String),
    /// The recovery link is unknown, already used, or expired.
    #[error("the recovery link is not valid")]
    InvalidToken,
    /// A value the store refuses (e.g. the profile's e-mail is not an address).
    #[error("{0}")]
    InvalidSetting(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<StoreError> for SettingsError {
    fn from(e: StoreError) -> SettingsError {
        match e {
            StoreError::InvalidSetting(reason) => SettingsError::InvalidSetting(reason),
            other => SettingsError::Engine(other.into()),
        }
    }
}

/// The violations as one line, for [`SettingsError::Policy`]'s message.
fn list(violations: &[PolicyViolation]) -> String {
    let texts: Vec<String> = violations.iter().map(ToString::to_string).collect();
    texts.join(", ")
}

/// A holder who logged in with the initial credentials of a box awaiting activation: all
/// they may do is activate it ([`Engine::activate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingActivation {
    /// The box's address (lowercase).
    pub mailbox: String,
    /// The data the provider registered, for the holder to confirm or correct.
    pub profile: Option<HolderProfile>,
    /// Unix seconds after which the box is blocked.
    pub deadline: Option<i64>,
}

/// A password-recovery link to send (the sending is the caller's: an ordinary message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryLink {
    /// The box whose password can be reset (lowercase).
    pub mailbox: String,
    /// The holder's registered recovery address.
    pub send_to: String,
    /// 64 lowercase hex digits (256 random bits) for the link; only its SHA-256 is stored.
    pub token: String,
    /// Unix seconds after which the link no longer works.
    pub expires_at: i64,
}

/// The random bytes of a recovery token.
const TOKEN_BYTES: usize = 32;

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the store keeps of a recovery token: the hex SHA-256 of its text.
fn token_hash(token: &str) -> String {
    hex(&openssl::sha::sha256(token.as_bytes()))
}

/// Where a box stands with activation at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activation {
    /// Suspended with the flag set, deadline not passed: the holder may activate it.
    Awaited,
    /// Suspended with the flag set, but the deadline passed: the sweep will block it.
    Expired,
    /// Any other box.
    NotAwaited,
}

impl Activation {
    /// Where a box in `state`, with these settings, stands at `now` (Unix seconds).
    fn of(state: MailboxState, s: &store::HolderSettings, now: i64) -> Activation {
        if state != MailboxState::Sospesa || !s.must_change_password {
            return Activation::NotAwaited;
        }
        match s.activation_deadline {
            Some(deadline) if deadline < now => Activation::Expired,
            _ => Activation::Awaited,
        }
    }
}

impl Engine {
    /// Changes the password of whoever `who` is (the holder, or a delegate: each has their
    /// own) after checking the current one and the policy against the current and earlier
    /// passwords.
    pub async fn change_password(
        &self,
        who: &Principal,
        current: &str,
        new: &str,
        policy: &PasswordPolicy,
    ) -> Result<(), SettingsError> {
        let hash = self.password_hash_of(who).await?;
        let Some(hash) = hash else {
            return Err(SettingsError::BadCredentials);
        };
        if !verify_password(current, &hash).await {
            return Err(SettingsError::BadCredentials);
        }
        let earlier = self.store.password_history(&who.login).await?;
        let violations = policy.check(new, &hash, &earlier).await;
        if !violations.is_empty() {
            return Err(SettingsError::Policy(violations));
        }
        let new_hash = hash_password(new)?;
        match who.role {
            None => {
                self.store
                    .set_password_hash(&who.mailbox, &new_hash)
                    .await?
            }
            Some(_) => {
                self.store
                    .set_delegate_password_hash(&who.login, &new_hash)
                    .await?
            }
        }
        Ok(())
    }

    /// The current password hash of the holder or delegate `who`, if the account still exists.
    async fn password_hash_of(&self, who: &Principal) -> Result<Option<String>, EngineError> {
        Ok(match who.role {
            None => self
                .store
                .mailbox(&who.mailbox)
                .await?
                .map(|m| m.password_hash),
            Some(_) => self
                .store
                .delegate(&who.login)
                .await?
                .map(|d| d.password_hash),
        })
    }

    /// The login of a holder whose box awaits activation (the web's first-login page): the
    /// box's address and its initial password. `Err(BadCredentials)` as
    /// [`Engine::login`] gives it; `Err(NotActive)` when the password is right but the box
    /// does not await activation (or its deadline passed) — then [`Engine::login`] decides.
    /// Delegates never activate a box.
    pub async fn login_for_activation(
        &self,
        login: &str,
        password: &str,
    ) -> Result<Result<PendingActivation, LoginError>, EngineError> {
        let Some(m) = self.store.mailbox(login).await? else {
            // Spend the same effort as a real check, so timing does not reveal the login.
            let _ = verify_password(password, DUMMY_HASH).await;
            return Ok(Err(LoginError::BadCredentials));
        };
        if !verify_password(password, &m.password_hash).await {
            return Ok(Err(LoginError::BadCredentials));
        }
        let settings = self
            .store
            .holder_settings(&m.address)
            .await?
            .unwrap_or_default();
        let now = self.clock.now().timestamp().as_second();
        if Activation::of(m.state, &settings, now) != Activation::Awaited {
            return Ok(Err(LoginError::NotActive(m.address)));
        }
        Ok(Ok(PendingActivation {
            mailbox: m.address,
            profile: settings.profile,
            deadline: settings.activation_deadline,
        }))
    }

    /// Activates a box awaiting activation: checks `new_password` against the policy (the
    /// initial password counts as used), then sets it, the confirmed `profile` and state
    /// [`MailboxState::Attiva`] in one store step. Call it only for a holder who got a
    /// [`PendingActivation`]; `now` (Unix seconds) is checked against the deadline.
    pub async fn activate(
        &self,
        address: &str,
        new_password: &str,
        profile: &HolderProfile,
        policy: &PasswordPolicy,
        now: i64,
    ) -> Result<(), SettingsError> {
        let not_awaiting = || SettingsError::NotAwaitingActivation(address.to_ascii_lowercase());
        let m = self
            .store
            .mailbox(address)
            .await?
            .ok_or_else(not_awaiting)?;
        let settings = self
            .store
            .holder_settings(&m.address)
            .await?
            .unwrap_or_default();
        match Activation::of(m.state, &settings, now) {
            Activation::Awaited => {}
            Activation::NotAwaited => return Err(not_awaiting()),
            Activation::Expired => return Err(SettingsError::ActivationExpired(m.address)),
        }
        let earlier = self.store.password_history(&m.address).await?;
        let violations = policy.check(new_password, &m.password_hash, &earlier).await;
        if !violations.is_empty() {
            return Err(SettingsError::Policy(violations));
        }
        let hash = hash_password(new_password)?;
        match self.store.activate(&m.address, &hash, profile).await {
            // The sweep blocked it in the meantime.
            Err(StoreError::NotFound(_)) => Err(not_awaiting()),
            other => Ok(other?),
        }
    }

    /// Starts a password recovery for an active box with a registered recovery address:
    /// records a fresh token, valid for `valid_for` seconds, and returns the link to send.
    /// `None` otherwise, which the web must not tell apart from a link sent (or it would
    /// reveal which boxes exist).
    pub async fn start_recovery(
        &self,
        address: &str,
        valid_for: i64,
    ) -> Result<Option<RecoveryLink>, EngineError> {
        let Some(m) = self.store.mailbox(address).await? else {
            return Ok(None);
        };
        let settings = self.store.holder_settings(&m.address).await?;
        let send_to = settings.and_then(|s| s.recovery_address);
        let Some(send_to) = send_to.filter(|_| m.state == MailboxState::Attiva) else {
            return Ok(None);
        };
        let mut bytes = [0u8; TOKEN_BYTES];
        openssl::rand::rand_bytes(&mut bytes).map_err(|e| build_error("recovery token", e))?;
        let token = hex(&bytes);
        let expires_at = self.clock.now().timestamp().as_second() + valid_for;
        self.store
            .create_recovery_token(&m.address, &token_hash(&token), expires_at)
            .await?;
        Ok(Some(RecoveryLink {
            mailbox: m.address,
            send_to,
            token,
            expires_at,
        }))
    }

    /// Sets a new password through a recovery link: the token must be known and unexpired,
    /// the box still active, the password must pass the policy (checked before the token is
    /// spent, so a refused password leaves the link usable), then the token is used up and
    /// the password set.
    /// Returns the box's address.
    pub async fn finish_recovery(
        &self,
        token: &str,
        new_password: &str,
        policy: &PasswordPolicy,
    ) -> Result<String, SettingsError> {
        let hash = token_hash(token);
        let now = self.clock.now().timestamp().as_second();
        let Some(address) = self.store.recovery_token(&hash, now).await? else {
            return Err(SettingsError::InvalidToken);
        };
        // A box blocked or revoked since the link was sent stays as it is.
        let m = self.store.mailbox(&address).await?;
        let m = m
            .filter(|m| m.state == MailboxState::Attiva)
            .ok_or(SettingsError::InvalidToken)?;
        let earlier = self.store.password_history(&m.address).await?;
        let violations = policy.check(new_password, &m.password_hash, &earlier).await;
        if !violations.is_empty() {
            return Err(SettingsError::Policy(violations));
        }
        let new_hash = hash_password(new_password)?;
        // Used by a concurrent request in the meantime: that one wins.
        if self.store.consume_recovery_token(&hash, now).await? != Some(m.address.clone()) {
            return Err(SettingsError::InvalidToken);
        }
        self.store.set_password_hash(&m.address, &new_hash).await?;
        Ok(m.address)
    }

    /// Blocks every box still awaiting activation whose deadline is before `now` (the sweep
    /// `serve` runs); returns how many were blocked.
    pub async fn block_expired_activations(&self, now: i64) -> Result<usize, EngineError> {
        let blocked = self.store.block_expired_activations(now).await?;
        for mailbox in &blocked {
            tracing::info!(%mailbox, "casella non attivata entro la scadenza: bloccata");
        }
        Ok(blocked.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PolicyViolation::*;

    #[test]
    fn the_default_policy_is_the_seeds() {
        let p = PasswordPolicy::default();
        assert_eq!(p.violations("Segreta12"), []);
        assert_eq!(p.violations("abc12345"), []);
        assert_eq!(p.violations("Seg12"), [TooShort(8)]);
        assert_eq!(p.violations("a1234567890123456789x"), [TooLong(20)]);
        assert_eq!(p.violations("soloparole"), [NoDigit]);
        assert_eq!(p.violations("12345678"), [NoLetter]);
        assert_eq!(p.violations(""), [TooShort(8), NoLetter, NoDigit]);
    }

    #[test]
    fn lengths_count_characters() {
        let p = PasswordPolicy::default();
        // Eight characters, sixteen bytes.
        assert_eq!(p.violations("èèèèèèè1"), []);
        assert_eq!(p.violations("è1è1è1è"), [TooShort(8)]);
    }

    #[test]
    fn a_provider_may_relax_the_rules() {
        let p = PasswordPolicy {
            min_len: 4,
            max_len: 64,
            require_letter: false,
            require_digit: false,
            history: 0,
        };
        assert_eq!(p.violations("1234"), []);
        assert_eq!(p.violations("abc"), [TooShort(4)]);
    }

    #[tokio::test]
    async fn reuse_is_found_in_the_current_and_the_remembered_passwords() {
        let hash = |p: &str| hash_password(p).unwrap();
        let current = hash("Attuale1");
        let earlier = [hash("Vecchia1"), hash("Vecchia2")];
        let p = PasswordPolicy {
            history: 1,
            ..PasswordPolicy::default()
        };
        assert_eq!(p.check("Attuale1", &current, &earlier).await, [Reused]);
        assert_eq!(p.check("Vecchia1", &current, &earlier).await, [Reused]);
        assert_eq!(
            p.check("Vecchia2", &current, &earlier).await,
            [],
            "beyond the history"
        );
        assert_eq!(p.check("Nuova123", &current, &earlier).await, []);
        assert_eq!(p.check("attualex", &current, &earlier).await, [NoDigit]);
    }

    #[test]
    fn tokens_are_kept_as_their_sha256() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn every_violation_is_in_the_message() {
        let e = SettingsError::Policy(vec![TooShort(8), NoDigit]);
        assert_eq!(
            e.to_string(),
            "the new password is not acceptable: shorter than 8 characters, no digit"
        );
    }
}
