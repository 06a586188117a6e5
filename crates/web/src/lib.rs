//! The gestore's HTTPS door (issue 6): a webmail that understands PEC, served by `pecora
//! serve` and `pecora demo` next to SMTP, IMAP and POP3, on the same TLS certificate.
//!
//! The door is one axum [`Router`] made of one router per area (login and language in
//! [`auth`], reading mail in [`webmail`]; settings, the postmaster panel and the REST API
//! are to be added beside them), a shared page layout (`templates/layout.html`), the two
//! UI catalogs of [`i18n`], and the extractors of [`session`] that give each handler the
//! logged-in [`engine::mailbox::Principal`] and check the CSRF token of every form. Every
//! response carries the security headers of [`security`]; CSS and JS come from the binary
//! ([`assets`]), never inline.

pub mod assets;
pub mod auth;
pub mod error;
pub mod https;
pub mod i18n;
pub mod layout;
pub mod security;
pub mod session;
pub mod throttle;
pub mod webmail;

use std::sync::Arc;

use axum::Router;
use engine::Engine;

pub use https::serve;

/// What every handler shares: the engine (login, the store, the trust anchors), the
/// sessions and the login throttle.
#[derive(Clone)]
pub struct WebState {
    pub engine: Arc<Engine>,
    pub sessions: Arc<session::Sessions>,
    pub throttle: Arc<throttle::Throttle>,
}

impl WebState {
    /// A fresh state: no sessions, no failed logins.
    pub fn new(engine: Arc<Engine>) -> WebState {
        WebState {
            engine,
            sessions: Arc::new(session::Sessions::default()),
            throttle: Arc::new(throttle::Throttle::default()),
        }
    }
}

/// Every route of the door, with the security headers on every response.
pub fn router(state: WebState) -> Router {
    Router::new()
        .merge(auth::router())
        .merge(webmail::router())
        .merge(assets::router())
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(state)
}
