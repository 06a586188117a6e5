//! The gestore's HTTPS door (issue 6): a webmail that understands PEC, served by `pecora
//! serve` and `pecora demo` next to SMTP, IMAP and POP3, on the same TLS certificate.
//!
//! The door is one axum [`Router`] made of one router per area: login and language in
//! [`auth`], mail in [`webmail`], the holder's own settings and the activation of a new box
//! in [`impostazioni`], the postmaster's and the provider's panel in [`amministrazione`],
//! and the REST API for protocol systems in [`api`]. The pages share a layout
//! (`templates/layout.html`) and the two UI catalogs of [`i18n`] (each area keeps the
//! strings of its own pages beside them); the extractors of [`session`] give each handler
//! the logged-in visitor and check the CSRF token of every form. Every
//! response carries the security headers of [`security`]; CSS and JS come from the binary
//! ([`assets`]), never inline.

pub mod amministrazione;
pub mod api;
pub mod assets;
pub mod auth;
pub mod error;
pub mod https;
pub mod i18n;
pub mod impostazioni;
pub mod layout;
pub mod security;
pub mod session;
pub mod throttle;
pub mod webmail;

use std::sync::Arc;

use axum::Router;
use engine::Engine;
use engine::settings::PasswordPolicy;
use store::MailboxKind;

pub use https::serve;

/// What the provider's configuration tells the door.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// What a new password must be.
    pub policy: PasswordPolicy,
    /// The door's address as holders reach it (`https://host[:port]`, no trailing slash),
    /// for links sent by e-mail.
    pub public_url: String,
    /// How long a password-recovery link works, in seconds.
    pub recovery_valid_for: i64,
    /// The quota a new box of each type gets (0: unlimited).
    pub quotas: [(MailboxKind, u64); 3],
    /// The provider's own host names (`[provider] hostname`): where a hosted domain's MX
    /// should point, for the panel's DNS check.
    pub provider_hosts: Vec<String>,
    /// Where webhooks may be posted (`[webhooks]`): checked when one is created; the
    /// dispatcher ([`api::webhook::avvia`]) is given the same rule for every delivery.
    pub webhook: api::destinazioni::Destinazioni,
}

impl WebConfig {
    /// The defaults of a provider reached at `public_url`: seed 004's password policy, an
    /// hour for recovery links, 1 GiB boxes (2 GiB PRO and multiutenza), webhooks to the
    /// public Internet only.
    pub fn new(public_url: &str) -> WebConfig {
        const GIB: u64 = 1 << 30;
        WebConfig {
            policy: PasswordPolicy::default(),
            public_url: public_url.trim_end_matches('/').to_string(),
            recovery_valid_for: 3600,
            quotas: [
                (MailboxKind::Standard, GIB),
                (MailboxKind::Pro, 2 * GIB),
                (MailboxKind::Multiutenza, 2 * GIB),
            ],
            provider_hosts: Vec::new(),
            webhook: api::destinazioni::Destinazioni::default(),
        }
    }

    /// The quota a new box of `kind` gets.
    pub fn quota_of(&self, kind: MailboxKind) -> u64 {
        self.quotas
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, q)| *q)
    }
}

/// What every handler shares: the engine (login, the store, the trust anchors), the
/// provider's settings for the door, the sessions and the two throttles.
#[derive(Clone)]
pub struct WebState {
    pub engine: Arc<Engine>,
    pub config: Arc<WebConfig>,
    pub sessions: Arc<session::Sessions>,
    /// Failed logins (and wrong current passwords on the settings page).
    pub throttle: Arc<throttle::Throttle>,
    /// Password-recovery requests: counted apart, so that asking for links never locks
    /// anyone's login.
    pub recuperi: Arc<throttle::Throttle>,
    /// The resolver of the panel's DNS check; `None` when the provider does not use DNS.
    pub mx: Option<Arc<dyn MxLookup>>,
    /// The panel's bulk imports running or done.
    pub imports: Arc<amministrazione::importazione::Importazioni>,
}

/// How the panel's DNS check finds where a domain's mail goes (implemented by `pecora`
/// with the relay's resolver settings).
#[async_trait::async_trait]
pub trait MxLookup: Send + Sync {
    /// The host names of the domain's mail exchangers (lowercase, no trailing dot), most
    /// preferred first; `Err` with the resolver's reason when the lookup fails.
    async fn mx(&self, domain: &str) -> Result<Vec<String>, String>;
}

impl WebState {
    /// A fresh state: no sessions, no failed logins.
    pub fn new(engine: Arc<Engine>, config: WebConfig) -> WebState {
        WebState {
            engine,
            config: Arc::new(config),
            sessions: Arc::new(session::Sessions::default()),
            throttle: Arc::new(throttle::Throttle::default()),
            recuperi: Arc::new(throttle::Throttle::default()),
            mx: None,
            imports: Arc::default(),
        }
    }
}

/// Every route of the door, with the security headers on every response.
pub fn router(state: WebState) -> Router {
    Router::new()
        .merge(auth::router())
        .merge(webmail::router())
        .merge(impostazioni::router())
        .merge(amministrazione::router())
        .merge(api::router())
        .merge(assets::router())
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(state)
}
