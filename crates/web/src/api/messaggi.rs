//! Reading a box through the API: the messages of a folder, paged by UID so that a protocol
//! system can poll "what is new since the last UID I saw", a message's facts, and its bytes
//! as stored. Reading through the API changes nothing (no `\Seen`, no move out of INBOX in
//! protocol-system mode): GETs are safe, and the system says what it filed by other means.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use store::StoredMessage;
use utoipa::{IntoParams, ToSchema};

use super::chiave::Chiave;
use super::errore::{ApiError, Domanda, Errore, Percorso};
use crate::WebState;
use crate::webmail::contenuto::intestazione;
use axum::extract::State;

/// Messages per page when the client does not say.
const PAGINA: usize = 100;
/// The most messages one page gives.
const PAGINA_MAX: usize = 1000;

/// One message of a box.
#[derive(Debug, Serialize, ToSchema)]
pub struct Messaggio {
    pub folder: String,
    pub uid: u32,
    /// PEC kind (`posta-certificata`, `accettazione`, `avvenuta-consegna`...); `inviata`
    /// for the copy of a sent message, `ordinaria` for mail that is not PEC.
    pub kind: String,
    pub identificativo: Option<String>,
    /// When the box received it (RFC 3339, UTC).
    pub date: String,
    pub from: String,
    pub subject: String,
    pub flags: Vec<String>,
    pub size: u64,
}

impl Messaggio {
    async fn of(state: &WebState, m: &StoredMessage) -> Result<Messaggio, ApiError> {
        let raw = state.engine.store().get(&m.blob).await?;
        let (from, subject) = intestazione(&raw);
        let kind = match (&m.kind, &m.identificativo) {
            (Some(k), _) => k.clone(),
            (None, Some(_)) => "inviata".to_string(),
            (None, None) => "ordinaria".to_string(),
        };
        Ok(Messaggio {
            folder: m.folder.clone(),
            uid: m.uid,
            kind,
            identificativo: m.identificativo.clone(),
            date: rfc3339(m.received_at),
            from,
            subject,
            flags: m.flags.clone(),
            size: m.size,
        })
    }
}

/// An instant as RFC 3339 UTC.
pub fn rfc3339(at: i64) -> String {
    jiff::Timestamp::from_second(at)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Elenco {
    /// The folder (default `INBOX`).
    pub folder: Option<String>,
    /// Only messages with a greater UID (default 0: from the first).
    pub since_uid: Option<u32>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// A page of a folder's messages, by increasing UID.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pagina {
    pub folder: String,
    pub messages: Vec<Messaggio>,
    /// Pass it as `since_uid` for the next page; absent on the last page.
    pub next_since_uid: Option<u32>,
}

/// The messages of folder `name` in the key's box, or 404.
async fn cartella(
    state: &WebState,
    who: &Chiave,
    name: &str,
) -> Result<Vec<StoredMessage>, ApiError> {
    let store = state.engine.store();
    let mailbox = &who.principal.mailbox;
    if store.folder(mailbox, name).await?.is_none() {
        return Err(ApiError::not_found("folder"));
    }
    Ok(store.messages(mailbox, name).await?)
}

/// Message `uid` of `folder` in the key's box, or 404.
pub async fn trova(
    state: &WebState,
    who: &Chiave,
    folder: &str,
    uid: u32,
) -> Result<StoredMessage, ApiError> {
    cartella(state, who, folder)
        .await?
        .into_iter()
        .find(|m| m.uid == uid)
        .ok_or_else(|| ApiError::not_found("message"))
}

/// The messages of a folder.
#[utoipa::path(get, path = "/api/v1/messages", operation_id = "listMessages", tag = "messages", params(Elenco),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Pagina),
        (status = 400, body = Errore), (status = 401, body = Errore),
        (status = 404, description = "No such folder", body = Errore),
    ))]
pub async fn elenco(
    State(state): State<WebState>,
    who: Chiave,
    Domanda(q): Domanda<Elenco>,
) -> Result<axum::Json<Pagina>, ApiError> {
    let folder = q.folder.unwrap_or_else(|| store::INBOX.to_string());
    let since = q.since_uid.unwrap_or(0);
    let limit = q.limit.unwrap_or(PAGINA).clamp(1, PAGINA_MAX);
    let nuovi: Vec<StoredMessage> = cartella(&state, &who, &folder)
        .await?
        .into_iter()
        .filter(|m| m.uid > since)
        .collect();
    let mut messages = Vec::new();
    for m in nuovi.iter().take(limit) {
        messages.push(Messaggio::of(&state, m).await?);
    }
    let next_since_uid = (nuovi.len() > limit)
        .then(|| messages.last().map(|m| m.uid))
        .flatten();
    Ok(axum::Json(Pagina {
        folder,
        messages,
        next_since_uid,
    }))
}

/// A message's facts.
#[utoipa::path(get, path = "/api/v1/messages/{folder}/{uid}", operation_id = "getMessage", tag = "messages",
    params(("folder" = String, Path), ("uid" = u32, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Messaggio),
        (status = 400, description = "The UID is not a number", body = Errore),
        (status = 401, body = Errore), (status = 404, body = Errore),
    ))]
pub async fn scheda(
    State(state): State<WebState>,
    who: Chiave,
    Percorso((folder, uid)): Percorso<(String, u32)>,
) -> Result<axum::Json<Messaggio>, ApiError> {
    let m = trova(&state, &who, &folder, uid).await?;
    Ok(axum::Json(Messaggio::of(&state, &m).await?))
}

/// A message's bytes, as stored.
#[utoipa::path(get, path = "/api/v1/messages/{folder}/{uid}/raw", operation_id = "getMessageRaw", tag = "messages",
    params(("folder" = String, Path), ("uid" = u32, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, content_type = "message/rfc822", body = Vec<u8>),
        (status = 400, description = "The UID is not a number", body = Errore),
        (status = 401, body = Errore), (status = 404, body = Errore),
    ))]
pub async fn grezzo(
    State(state): State<WebState>,
    who: Chiave,
    Percorso((folder, uid)): Percorso<(String, u32)>,
) -> Result<Response, ApiError> {
    let m = trova(&state, &who, &folder, uid).await?;
    let raw = state.engine.store().get(&m.blob).await?;
    Ok(eml(raw))
}

/// A message's bytes as a `message/rfc822` answer.
pub fn eml(raw: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "message/rfc822")], raw).into_response()
}
