//! Server-side sessions and the CSRF token of every form.
//!
//! A session is a random 256-bit id (hex) in the cookie `pecora_sessione` (`Secure;
//! HttpOnly; SameSite=Strict; Path=/`) naming who logged in and the session's CSRF token.
//! Sessions live in memory, in this process: a restart logs everybody out, and two
//! processes serving one provider would not share them. That is enough for one `pecora
//! serve`; a shared backend can replace [`Sessions`] behind the same methods. A session
//! unused for [`IDLE_TIMEOUT`] is gone.
//!
//! A session belongs to one of three kinds of visitor ([`Who`]): someone with access to a
//! box (the holder or a delegate), a holder at first login whose box awaits activation, or
//! an administrator of the panel. Handlers take the extractor of the kind they serve —
//! [`Holder`], [`Activating`], [`AdminUser`] — and a request without a live session of
//! that kind is sent to the matching login page. Every POST handler checks the form's `csrf` field with
//! [`Holder::check_csrf`] (the login form, before any session exists, with the
//! double-submit cookie of [`crate::auth`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use engine::mailbox::Principal;
use engine::settings::PendingActivation;
use store::Admin;

use crate::WebState;
use crate::error::WebError;

/// The session cookie.
pub const SESSION_COOKIE: &str = "pecora_sessione";

/// A session unused this long is closed (the default of [`Sessions`]).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// The holder of a box, or one of its delegates.
    Casella(Principal),
    /// A holder at first login: all they can do is activate the box (seed 003).
    Attivazione(PendingActivation),
    /// An account of the administration panel.
    Amministratore(Admin),
}

/// One logged-in browser.
#[derive(Debug, Clone)]
struct Session {
    who: Who,
    csrf: String,
    last_seen: Instant,
}

/// Every live session, by id.
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
    idle_timeout: Duration,
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions::new(IDLE_TIMEOUT)
    }
}

impl Sessions {
    /// No sessions yet; each will close after `idle_timeout` unused.
    pub fn new(idle_timeout: Duration) -> Sessions {
        Sessions {
            by_id: Mutex::new(HashMap::new()),
            idle_timeout,
        }
    }

    /// Opens a session for `who`; returns its id and its CSRF token.
    pub fn open(&self, who: Who) -> (String, String) {
        let id = random_token();
        let csrf = random_token();
        let session = Session {
            who,
            csrf: csrf.clone(),
            last_seen: Instant::now(),
        };
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, s| now.duration_since(s.last_seen) < self.idle_timeout);
        map.insert(id.clone(), session);
        (id, csrf)
    }

    /// Who a live session belongs to and its CSRF token, marking it used now.
    fn touch(&self, id: &str) -> Option<(Who, String)> {
        let mut map = self.lock();
        let now = Instant::now();
        let live = map
            .get(id)
            .is_some_and(|s| now.duration_since(s.last_seen) < self.idle_timeout);
        if !live {
            map.remove(id);
            return None;
        }
        let s = map.get_mut(id)?;
        s.last_seen = now;
        Some((s.who.clone(), s.csrf.clone()))
    }

    /// Ends every session that reaches box `mailbox` (its holder's, its delegates' and an
    /// activation's): after a password reset, a suspension or a deletion.
    pub fn close_mailbox(&self, mailbox: &str) {
        self.lock().retain(|_, s| match &s.who {
            Who::Casella(p) => !p.mailbox.eq_ignore_ascii_case(mailbox),
            Who::Attivazione(p) => !p.mailbox.eq_ignore_ascii_case(mailbox),
            Who::Amministratore(_) => true,
        });
    }

    /// Ends every session of the delegate `login` (removed, or its password reset).
    pub fn close_login(&self, login: &str) {
        self.lock().retain(|_, s| match &s.who {
            Who::Casella(p) => !p.login.eq_ignore_ascii_case(login),
            _ => true,
        });
    }

    /// Ends a session (logout).
    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Ends session `id` if `csrf` is its token (a logout form); an unknown session is
    /// already ended.
    pub fn close_checked(&self, id: &str, csrf: &str) -> Result<(), WebError> {
        let mut map = self.lock();
        if let Some(s) = map.get(id) {
            check_csrf(&s.csrf, csrf)?;
            map.remove(id);
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.by_id.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Someone logged in, as the handlers see them.
#[derive(Debug, Clone)]
pub struct Holder {
    pub principal: Principal,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
    pub session_id: String,
}

impl Holder {
    /// Refuses (403) a form whose `csrf` field is not this session's token.
    pub fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        check_csrf(&self.csrf, token)
    }
}

fn check_csrf(expected: &str, token: &str) -> Result<(), WebError> {
    if constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(WebError::Csrf)
    }
}

/// Where a request without a live session of the kind a handler wants goes: the page
/// where that kind logs in.
pub struct LoginRequired(&'static str);

impl IntoResponse for LoginRequired {
    fn into_response(self) -> Response {
        Redirect::to(self.0).into_response()
    }
}

/// The live session of a request, if any: its id, who it is, its CSRF token.
fn live_session(parts: &Parts, state: &WebState) -> Option<(String, Who, String)> {
    let id = cookie(&parts.headers, SESSION_COOKIE)?;
    let (who, csrf) = state.sessions.touch(&id)?;
    Some((id, who, csrf))
}

impl FromRequestParts<WebState> for Holder {
    type Rejection = LoginRequired;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Holder, LoginRequired> {
        match live_session(parts, state) {
            Some((session_id, Who::Casella(principal), csrf)) => {
                // The box blocked or the password changed elsewhere (another node, the CLI,
                // IMAP): this session ends too (`Engine::rinnova`).
                match state.engine.rinnova(&principal).await {
                    Ok(Some(principal)) => Ok(Holder {
                        principal,
                        csrf,
                        session_id,
                    }),
                    Ok(None) => {
                        state.sessions.close(&session_id);
                        Err(LoginRequired("/login"))
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot check a session against the store");
                        Err(LoginRequired("/login"))
                    }
                }
            }
            // A holder who has yet to activate the box can only go on activating it.
            Some((_, Who::Attivazione(_), _)) => Err(LoginRequired(ACTIVATION_PAGE)),
            _ => Err(LoginRequired("/login")),
        }
    }
}

/// Where a holder whose box awaits activation is sent after logging in.
pub const ACTIVATION_PAGE: &str = "/attivazione";

/// Where the administration panel's accounts log in.
pub const ADMIN_LOGIN_PAGE: &str = "/amministrazione/accesso";

/// A holder at first login, whose box awaits activation (seed 003).
#[derive(Debug, Clone)]
pub struct Activating {
    pub pending: PendingActivation,
    pub csrf: String,
    pub session_id: String,
}

impl Activating {
    /// Refuses (403) a form whose `csrf` field is not this session's token.
    pub fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        check_csrf(&self.csrf, token)
    }
}

impl FromRequestParts<WebState> for Activating {
    type Rejection = LoginRequired;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Activating, LoginRequired> {
        match live_session(parts, state) {
            Some((session_id, Who::Attivazione(pending), csrf)) => Ok(Activating {
                pending,
                csrf,
                session_id,
            }),
            _ => Err(LoginRequired("/login")),
        }
    }
}

/// An administrator of the panel: a provider admin or a domain's postmaster
/// ([`store::AdminScope`]).
#[derive(Debug, Clone)]
pub struct AdminUser {
    pub admin: Admin,
    pub csrf: String,
    pub session_id: String,
}

impl AdminUser {
    /// Refuses (403) a form whose `csrf` field is not this session's token.
    pub fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        check_csrf(&self.csrf, token)
    }
}

impl FromRequestParts<WebState> for AdminUser {
    type Rejection = LoginRequired;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<AdminUser, LoginRequired> {
        match live_session(parts, state) {
            Some((session_id, Who::Amministratore(admin), csrf)) => Ok(AdminUser {
                admin,
                csrf,
                session_id,
            }),
            _ => Err(LoginRequired(ADMIN_LOGIN_PAGE)),
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

/// A `Set-Cookie` value with the attributes every cookie of the door has; `max_age`
/// `Some(0)` deletes the cookie, `None` makes it last the browser session.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> String {
    let mut c = format!("{name}={value}; Secure; HttpOnly; SameSite=Strict; Path=/");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

/// 256 random bits, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // Only a broken system RNG fails here, and then no session may be opened at all.
    openssl::rand::rand_bytes(&mut bytes).expect("the system random generator works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two tokens in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Who {
        Who::Casella(Principal {
            mailbox: "mario@pec.test".into(),
            login: "mario@pec.test".into(),
            role: None,
            credenziale: None,
        })
    }

    #[test]
    fn a_session_lives_until_closed() {
        let sessions = Sessions::default();
        let (id, csrf) = sessions.open(principal());
        assert_eq!(id.len(), 64);
        assert_ne!(id, csrf);
        assert_eq!(sessions.touch(&id), Some((principal(), csrf)));
        sessions.close(&id);
        assert_eq!(sessions.touch(&id), None);
        assert_eq!(sessions.touch("nope"), None);
    }

    #[test]
    fn a_box_s_sessions_end_together() {
        let sessions = Sessions::default();
        let (holder, _) = sessions.open(principal());
        let (other, _) = sessions.open(Who::Casella(Principal {
            mailbox: "anna@pec.test".into(),
            login: "anna@pec.test".into(),
            role: None,
            credenziale: None,
        }));
        sessions.close_mailbox("MARIO@pec.test");
        assert_eq!(sessions.touch(&holder), None);
        assert!(sessions.touch(&other).is_some());
        sessions.close_login("anna@pec.test");
        assert_eq!(sessions.touch(&other), None);
    }

    #[test]
    fn an_idle_session_expires() {
        let sessions = Sessions::new(Duration::from_millis(20));
        let (id, _) = sessions.open(principal());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(sessions.touch(&id), None);
    }

    #[test]
    fn cookies_are_read_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; pecora_sessione=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
    }
}
