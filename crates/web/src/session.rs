//! Server-side sessions and the CSRF token of every form.
//!
//! A session is a random 256-bit id (hex) in the cookie `pecora_sessione` (`Secure;
//! HttpOnly; SameSite=Strict; Path=/`) naming who logged in and the session's CSRF token.
//! Sessions live in memory, in this process: a restart logs everybody out, and two
//! processes serving one provider would not share them. That is enough for one `pecora
//! serve`; a shared backend can replace [`Sessions`] behind the same methods. A session
//! unused for [`IDLE_TIMEOUT`] is gone.
//!
//! Handlers that need someone logged in take a [`Holder`]; a request without a live session
//! is sent to the login page. Every POST handler checks the form's `csrf` field with
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

use crate::WebState;
use crate::error::WebError;

/// The session cookie.
pub const SESSION_COOKIE: &str = "pecora_sessione";

/// A session unused this long is closed (the default of [`Sessions`]).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// One logged-in browser.
#[derive(Debug, Clone)]
struct Session {
    principal: Principal,
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

    /// Opens a session for `principal`; returns its id and its CSRF token.
    pub fn open(&self, principal: Principal) -> (String, String) {
        let id = random_token();
        let csrf = random_token();
        let session = Session {
            principal,
            csrf: csrf.clone(),
            last_seen: Instant::now(),
        };
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, s| now.duration_since(s.last_seen) < self.idle_timeout);
        map.insert(id.clone(), session);
        (id, csrf)
    }

    /// The principal and CSRF token of a live session, marking it used now.
    fn touch(&self, id: &str) -> Option<(Principal, String)> {
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
        Some((s.principal.clone(), s.csrf.clone()))
    }

    /// Ends a session (logout).
    pub fn close(&self, id: &str) {
        self.lock().remove(id);
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
        if constant_time_eq(token.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }
}

/// Where a request without a live session goes.
pub struct LoginRequired;

impl IntoResponse for LoginRequired {
    fn into_response(self) -> Response {
        Redirect::to("/login").into_response()
    }
}

impl FromRequestParts<WebState> for Holder {
    type Rejection = LoginRequired;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Holder, LoginRequired> {
        let id = cookie(&parts.headers, SESSION_COOKIE).ok_or(LoginRequired)?;
        let (principal, csrf) = state.sessions.touch(&id).ok_or(LoginRequired)?;
        Ok(Holder {
            principal,
            csrf,
            session_id: id,
        })
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

    fn principal() -> Principal {
        Principal {
            mailbox: "mario@pec.test".into(),
            login: "mario@pec.test".into(),
            role: None,
        }
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
