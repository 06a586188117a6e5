//! The REST API for protocol systems (issue 6 §5) under `/api/v1`, described by the OpenAPI
//! 3 document at `/api/openapi.json` (generated from the handlers by utoipa, so that the
//! document and the code cannot drift apart).
//!
//! A document-protocol system works on one box with an API key ([`chiave`]): it sends PEC
//! ([`invio`]), follows them ([`inviati`]), reads the box ([`messaggi`]) and hears of new receipts and buste through signed webhooks
//! ([`webhook`], posted only where the operator's rule of [`destinazioni`] allows). Every
//! error is `{code, message}` JSON ([`errore`]), axum's own rejections included. The holder
//! manages the box's keys on the settings page of [`chiavi`].

pub mod chiave;
pub mod chiavi;
pub mod destinazioni;
pub mod errore;
pub mod inviati;
pub mod invio;
pub mod messaggi;
pub mod testi;
pub mod webhook;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::WebState;

/// The largest request body: a message with its attachments, base64-encoded in JSON. The
/// engine's own size limit decides what is accepted; this only stops the absurd.
pub const CORPO_MAX: usize = 150 << 20;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pecora REST API",
        description = "The API of a pecora PEC provider for document-protocol systems: read a box, follow what it sent, hear of receipts through signed webhooks. Authenticate with `Authorization: Bearer <key>` (a key of the box, created by its holder or by the operator). Every error is `{code, message}` JSON."
    ),
    paths(
        messaggi::elenco,
        invio::invia,
        messaggi::scheda,
        messaggi::grezzo,
        inviati::stato,
        inviati::ricevuta,
        inviati::fascicolo,
        webhook::crea,
        webhook::elenco,
        webhook::elimina,
    ),
    components(schemas(errore::Errore, webhook::Evento)),
    modifiers(&Bearer),
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the paths name.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

pub fn router() -> Router<WebState> {
    let v1 = Router::new()
        .route("/messages", get(messaggi::elenco).post(invio::invia))
        .route("/messages/{folder}/{uid}", get(messaggi::scheda))
        .route("/messages/{folder}/{uid}/raw", get(messaggi::grezzo))
        .route("/sent/{identificativo}", get(inviati::stato))
        .route(
            "/sent/{identificativo}/receipts/{n}",
            get(inviati::ricevuta),
        )
        .route("/sent/{identificativo}/bundle", get(inviati::fascicolo))
        .route("/webhooks", get(webhook::elenco).post(webhook::crea))
        .route("/webhooks/{id}", delete(webhook::elimina))
        .fallback(errore::nessuna_rotta)
        .method_not_allowed_fallback(errore::metodo_non_ammesso)
        .layer(DefaultBodyLimit::max(CORPO_MAX));
    Router::new()
        .nest("/api/v1", v1)
        .route(
            "/api/openapi.json",
            get(|| async { axum::Json(ApiDoc::openapi()) }),
        )
        .merge(chiavi::router())
}
