//! API keys: how a protocol system proves which box it works for. A key is 256 random bits
//! (`pk_` + hex) shown once at creation; the store keeps only its SHA-256, so a stolen
//! database opens no box. Every request names its key in `Authorization: Bearer <key>`; no
//! cookie, no CSRF token (a browser never sends the header by itself). A key acts as the
//! box's holder. Creating and revoking keys — from the holder's settings page or from
//! `pecora admin` — is logged to the legal log (`admin-api-key-create` /
//! `admin-api-key-revoke`), with who did it and never the key.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use engine::Engine;
use engine::mailbox::Principal;
use engine::riga::Riga;
use store::{Batch, MailboxState, NewLogEvent, StoreError};

use super::errore::ApiError;
use crate::WebState;
use crate::session::random_token;

/// The prefix of every key: says what the string is when it turns up in a log or a paste.
const PREFISSO: &str = "pk_";

/// Lowercase hex SHA-256 of a key: what the store keeps.
pub fn impronta(key: &str) -> String {
    openssl::sha::sha256(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The box a request's key works for, as its holder.
#[derive(Debug, Clone)]
pub struct Chiave {
    pub principal: Principal,
}

impl FromRequestParts<WebState> for Chiave {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Chiave, ApiError> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| k.starts_with(PREFISSO))
            .ok_or_else(ApiError::unauthorized)?;
        let store = state.engine.store();
        let found = store
            .api_key(&impronta(key))
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        // A suspended or blocked box works for nobody, by key or by password.
        match store.mailbox(&found.mailbox).await? {
            Some(m) if m.state == MailboxState::Attiva => Ok(Chiave {
                principal: Principal {
                    login: m.address.clone(),
                    mailbox: m.address,
                    role: None,
                    credenziale: None,
                },
            }),
            _ => Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "mailbox_not_active",
                "the key's mailbox is not active",
            )),
        }
    }
}

/// A key just created: its id, and the key itself, to show once.
#[derive(Debug, Clone)]
pub struct NuovaChiave {
    pub id: i64,
    pub key: String,
}

/// Creates a key for `mailbox` labelled `label`, by `actor` (a delegate's or an admin's
/// login; `None` for the holder), and logs it. `NotFound` for an unknown box.
pub async fn crea(
    engine: &Engine,
    mailbox: &str,
    label: &str,
    actor: Option<&str>,
) -> Result<NuovaChiave, StoreError> {
    let key = format!("{PREFISSO}{}", random_token());
    let at = engine.clock().now().timestamp().as_second();
    let mailbox = mailbox.to_ascii_lowercase();
    let id = engine
        .store()
        .create_api_key(&mailbox, label, &impronta(&key), at)
        .await?;
    registra(
        engine,
        "admin-api-key-create",
        &mailbox,
        format!("key {id} ({}) created", Riga(label)),
        actor,
        at,
    )
    .await?;
    Ok(NuovaChiave { id, key })
}

/// Revokes key `id` of `mailbox`, by `actor`, and logs it. `NotFound` for a key that is not
/// the box's.
pub async fn revoca(
    engine: &Engine,
    mailbox: &str,
    id: i64,
    actor: Option<&str>,
) -> Result<(), StoreError> {
    let at = engine.clock().now().timestamp().as_second();
    let mailbox = mailbox.to_ascii_lowercase();
    engine.store().revoke_api_key(&mailbox, id, at).await?;
    registra(
        engine,
        "admin-api-key-revoke",
        &mailbox,
        format!("key {id} revoked"),
        actor,
        at,
    )
    .await
}

/// One administrative event in the legal log (see [`NewLogEvent`]'s conventions).
async fn registra(
    engine: &Engine,
    kind: &str,
    mailbox: &str,
    detail: String,
    actor: Option<&str>,
    at: i64,
) -> Result<(), StoreError> {
    let event = NewLogEvent {
        at,
        kind: kind.to_string(),
        identificativo: None,
        msgid: None,
        sender: mailbox.to_string(),
        recipients: Vec::new(),
        subject: String::new(),
        related: Vec::new(),
        provider: engine.settings().gestore.nome.clone(),
        detail: Some(detail),
        daticert: None,
        actor: actor.map(str::to_ascii_lowercase),
    };
    engine
        .store()
        .commit(Batch {
            log: vec![event],
            ..Batch::default()
        })
        .await
}
