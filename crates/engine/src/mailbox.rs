//! Who works on a box, and what the box does when they read it: the holder or one of the
//! delegates of a multi-user box (seed 000: multiutenza) logs in with their own credentials
//! and gets a [`Principal`]; the mail-access servers (IMAP, POP3, web) and the punto di
//! accesso ask it what it may do. In protocol-system mode (seed 000: Titulus), what the
//! integration account reads leaves INBOX ([`Engine::mark_read`]).

use store::{DelegateRole, MailboxState};

use crate::accounts::{DUMMY_HASH, LoginError, verify_password};
use crate::{Engine, EngineError, INBOX};

/// Someone logged in to a box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The box's address (lowercase): what they read, and the sender of what they send.
    pub mailbox: String,
    /// The name they logged in with (lowercase): the box's address for the holder.
    pub login: String,
    /// `None` for the holder, the delegate's role otherwise.
    pub role: Option<DelegateRole>,
    /// A fingerprint of the password they logged in with, as stored then
    /// ([`impronta`]): a session holds only while it is unchanged ([`Engine::rinnova`]).
    /// `None` for a principal that no password made (an API key, checked on every request).
    pub credenziale: Option<String>,
}

impl Principal {
    /// Whether they may submit messages as the box's address.
    pub fn may_send(&self) -> bool {
        self.role.is_none_or(|r| r >= DelegateRole::Invio)
    }

    /// Whether they may manage the box's folders and settings.
    pub fn may_manage(&self) -> bool {
        self.role.is_none_or(|r| r == DelegateRole::Gestione)
    }

    /// For the legal log: the delegate who acted, `None` when it was the holder.
    pub fn actor(&self) -> Option<&str> {
        self.role.map(|_| self.login.as_str())
    }
}

impl Engine {
    /// Checks the credentials of a holder (login = the box's address) or of a delegate
    /// (its own login): Ok(who) when the password matches and the box is active. An unknown
    /// login and a wrong password are indistinguishable to the caller.
    pub async fn login(
        &self,
        login: &str,
        password: &str,
    ) -> Result<Result<Principal, LoginError>, EngineError> {
        let login = login.to_ascii_lowercase();
        let (hash, mailbox, role) = if let Some(m) = self.store.mailbox(&login).await? {
            (m.password_hash, m.address, None)
        } else if let Some(d) = self.store.delegate(&login).await? {
            (d.password_hash, d.mailbox, Some(d.role))
        } else {
            // Spend the same effort as a real check, so timing does not reveal the login.
            let _ = verify_password(password, DUMMY_HASH).await;
            return Ok(Err(LoginError::BadCredentials));
        };
        if !verify_password(password, &hash).await {
            return Ok(Err(LoginError::BadCredentials));
        }
        match self.store.mailbox(&mailbox).await? {
            Some(m) if m.state == MailboxState::Attiva => Ok(Ok(Principal {
                mailbox,
                login,
                role,
                credenziale: Some(impronta(&hash)),
            })),
            _ => Ok(Err(LoginError::NotActive(mailbox))),
        }
    }

    /// `who` as things stand now, or `None` when their session must end: the login is gone,
    /// moved to another box, its password changed (by anyone, anywhere: the stored hash no
    /// longer matches [`Principal::credenziale`]) or the box is no longer active (blocked,
    /// suspended, revoked). Every door asks before each command or transaction, so a change
    /// made on any door or node ends the other sessions at their next step; a delegate's new
    /// role applies from then on.
    pub async fn rinnova(&self, who: &Principal) -> Result<Option<Principal>, EngineError> {
        let (hash, mailbox, role) = if who.login.eq_ignore_ascii_case(&who.mailbox) {
            match self.store.mailbox(&who.login).await? {
                Some(m) => (m.password_hash, m.address, None),
                None => return Ok(None),
            }
        } else {
            match self.store.delegate(&who.login).await? {
                Some(d) => (d.password_hash, d.mailbox, Some(d.role)),
                None => return Ok(None),
            }
        };
        let same_password = who
            .credenziale
            .as_ref()
            .is_none_or(|c| *c == impronta(&hash));
        if !mailbox.eq_ignore_ascii_case(&who.mailbox) || !same_password {
            return Ok(None);
        }
        Ok(match self.store.mailbox(&mailbox).await? {
            Some(m) if m.state == MailboxState::Attiva => Some(Principal {
                role,
                ..who.clone()
            }),
            _ => None,
        })
    }

    /// Creates Sent, Drafts and Trash in a box that lacks them: mail clients look for them
    /// (IMAP special use) and the webmail lists them, so the access servers call this at
    /// login. A failure is logged, not returned: the box works without them.
    pub async fn ensure_standard_folders(&self, mailbox: &str) {
        let at = self.clock.now().timestamp().as_second();
        for folder in [store::SENT, store::DRAFTS, store::TRASH] {
            match self.store.create_folder(mailbox, folder, at).await {
                Ok(_) | Err(store::StoreError::AlreadyExists(_)) => {}
                Err(e) => {
                    tracing::warn!(mailbox, folder, error = %e, "could not create a standard folder")
                }
            }
        }
    }

    /// Tells the box that `who` has read the messages `uids` of `folder` (IMAP `\Seen`, a
    /// POP3 RETR). In protocol-system mode, when `who` is the integration account and the
    /// folder is INBOX, the messages leave INBOX (a PRO box keeps them in its archive).
    /// Returns the UIDs removed from `folder`.
    pub async fn mark_read(
        &self,
        who: &Principal,
        folder: &str,
        uids: &[u32],
    ) -> Result<Vec<u32>, EngineError> {
        if uids.is_empty() || !folder.eq_ignore_ascii_case(INBOX) {
            return Ok(Vec::new());
        }
        let Some(m) = self.store.mailbox(&who.mailbox).await? else {
            return Ok(Vec::new());
        };
        if m.protocol_account.as_deref() != Some(who.login.as_str()) {
            return Ok(Vec::new());
        }
        let removed = self.store.expunge(&who.mailbox, INBOX, uids).await?;
        if !removed.is_empty() {
            self.mailbox_changed(&who.mailbox);
            tracing::info!(mailbox = %who.mailbox, count = removed.len(), "letti dal protocollo: fuori da INBOX");
        }
        Ok(removed)
    }
}

/// A fingerprint of a stored password hash (SHA-256, hex): what a session remembers of the
/// password it was opened with, so that the hash itself stays in the store.
pub fn impronta(password_hash: &str) -> String {
    openssl::sha::sha256(password_hash.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Option<DelegateRole>) -> Principal {
        Principal {
            mailbox: "box@pec.test".into(),
            login: "login".into(),
            role,
            credenziale: None,
        }
    }

    #[test]
    fn roles_grant_what_they_say() {
        assert!(who(None).may_send() && who(None).may_manage());
        assert_eq!(who(None).actor(), None);
        let lettura = who(Some(DelegateRole::Lettura));
        assert!(!lettura.may_send() && !lettura.may_manage());
        let invio = who(Some(DelegateRole::Invio));
        assert!(invio.may_send() && !invio.may_manage());
        let gestione = who(Some(DelegateRole::Gestione));
        assert!(gestione.may_send() && gestione.may_manage());
        assert_eq!(gestione.actor(), Some("login"));
    }
}
