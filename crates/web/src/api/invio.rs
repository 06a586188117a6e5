//! Sending a PEC through the API: `POST /api/v1/messages` as JSON (attachments in base64)
//! or as `multipart/form-data` (fields and file parts), both made into the engine's
//! [`Bozza`] and sent by [`engine::Engine::send_bozza`] — the same path as the webmail's
//! form. An `Idempotency-Key` header makes a retry safe: the engine records the key with
//! the send and a digest of its message, and a repeat gets the first send's outcome (200)
//! with nothing sent again; the key coming back with another message is refused (422
//! `idempotency_key_reused`, said in the client's `Accept-Language`), never mistaken for a
//! repeat.
//!
//! Answers: 201 when the gestore accepted the message (an accettazione is in the box), 202
//! when it refused it (an avviso di non accettazione is in the box, `reason` says why),
//! 422 when the request cannot become a PEC at all (nothing is sent, nothing is logged).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::access::Submitted;
use engine::compose::{Allegato, Bozza, ComposeError};
use pec::daticert::TipoRicevuta;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::chiave::Chiave;
use super::errore::{ApiError, Corpo, Errore};
use super::testi::Testi;
use crate::WebState;
use crate::i18n::Lang;

/// The longest idempotency key.
const CHIAVE_MAX: usize = 200;

/// The receipt of delivery the sender wants (spec §2.4).
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TipoRicevutaApi {
    #[default]
    Completa,
    Breve,
    Sintetica,
}

impl TipoRicevutaApi {
    fn parse(s: &str) -> Result<TipoRicevutaApi, ApiError> {
        match s {
            "completa" => Ok(TipoRicevutaApi::Completa),
            "breve" => Ok(TipoRicevutaApi::Breve),
            "sintetica" => Ok(TipoRicevutaApi::Sintetica),
            _ => Err(ApiError::invalid(
                "receipt_type must be completa, breve or sintetica",
            )),
        }
    }
}

impl From<TipoRicevutaApi> for TipoRicevuta {
    fn from(t: TipoRicevutaApi) -> TipoRicevuta {
        match t {
            TipoRicevutaApi::Completa => TipoRicevuta::Completa,
            TipoRicevutaApi::Breve => TipoRicevuta::Breve,
            TipoRicevutaApi::Sintetica => TipoRicevuta::Sintetica,
        }
    }
}

/// An attachment in a JSON send.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AllegatoJson {
    pub filename: String,
    /// Default `application/octet-stream`.
    pub content_type: Option<String>,
    /// The bytes, base64 (standard alphabet, padded).
    pub content_base64: String,
}

/// A PEC to send, as JSON.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NuovoMessaggio {
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    pub subject: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub receipt_type: TipoRicevutaApi,
    #[serde(default)]
    pub attachments: Vec<AllegatoJson>,
}

/// A PEC to send, as `multipart/form-data`: `to` and `cc` may repeat (or list addresses
/// separated by commas); every part with a file name is an attachment.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // describes the form for the OpenAPI document only
pub struct ModuloMessaggio {
    to: Vec<String>,
    cc: Option<Vec<String>>,
    subject: String,
    text: Option<String>,
    receipt_type: Option<TipoRicevutaApi>,
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    attachment: Option<Vec<Vec<u8>>>,
}

/// What became of a send.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Esito {
    pub identificativo: String,
    /// `accettato` or `non-accettato`.
    pub outcome: String,
    /// Why the gestore refused it (the avviso's reason).
    pub reason: Option<String>,
}

impl From<Submitted> for Esito {
    fn from(s: Submitted) -> Esito {
        match s {
            Submitted::Accettato { identificativo } => Esito {
                identificativo,
                outcome: "accettato".into(),
                reason: None,
            },
            Submitted::NonAccettato {
                identificativo,
                motivo,
            } => Esito {
                identificativo,
                outcome: "non-accettato".into(),
                reason: Some(motivo),
            },
        }
    }
}

/// Sends a PEC from the key's box.
#[utoipa::path(post, path = "/api/v1/messages", operation_id = "sendMessage", tag = "messages",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "A repeat with the same key and the same message gets the first send's outcome (200) and sends nothing; the same key with another message is refused (422, code `idempotency_key_reused`, message in the Accept-Language asked)")),
    request_body(content(
        (NuovoMessaggio = "application/json"),
        (ModuloMessaggio = "multipart/form-data"),
    )),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A repeat: the first send's outcome", body = Esito),
        (status = 201, description = "Accepted: accettazione issued", body = Esito),
        (status = 202, description = "Not accepted: avviso di non accettazione issued", body = Esito),
        (status = 400, body = Errore), (status = 401, body = Errore),
        (status = 413, body = Errore), (status = 415, body = Errore),
        (status = 422, body = Errore),
    ))]
pub async fn invia(
    State(state): State<WebState>,
    who: Chiave,
    lang: Lang,
    headers: HeaderMap,
    Grezzo(body): Grezzo,
) -> Result<Response, ApiError> {
    // The body is read whole before any answer: a client still sending when the answer
    // comes would see the connection cut instead of the error.
    let key = chiave_idempotenza(&headers)?;
    let mut request = Request::new(Body::from(body));
    *request.headers_mut() = headers;
    let bozza = bozza(request, &state).await?;
    let repeat = match &key {
        Some(k) => state
            .engine
            .store()
            .api_send(&who.principal.mailbox, k)
            .await?
            .is_some(),
        None => false,
    };
    let sent = match state
        .engine
        .send_bozza(&who.principal, &bozza, key.as_deref())
        .await
    {
        Ok(s) => s,
        Err(ComposeError::Invalid(why)) => return Err(ApiError::invalid(why)),
        Err(ComposeError::NotAllowed) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this key may not send from the box",
            ));
        }
        Err(ComposeError::ChiaveRiusata(_)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                Testi::of(lang).chiave_riusata,
            ));
        }
        Err(ComposeError::Engine(e)) => return Err(e.into()),
    };
    let status = match (&sent, repeat) {
        (_, true) => StatusCode::OK,
        (Submitted::Accettato { .. }, false) => StatusCode::CREATED,
        (Submitted::NonAccettato { .. }, false) => StatusCode::ACCEPTED,
    };
    let esito = Esito::from(sent);
    let location = format!("/api/v1/sent/{}", esito.identificativo);
    Ok((status, [(header::LOCATION, location)], axum::Json(esito)).into_response())
}

/// The request's body, whole (within [`super::CORPO_MAX`]).
pub struct Grezzo(Bytes);

impl<S: Send + Sync> FromRequest<S> for Grezzo {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Grezzo, ApiError> {
        Ok(Grezzo(Bytes::from_request(request, state).await?))
    }
}

/// The `Idempotency-Key` header, if any: 1 to [`CHIAVE_MAX`] visible ASCII characters.
fn chiave_idempotenza(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k)
            if !k.is_empty()
                && k.len() <= CHIAVE_MAX
                && k.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(k.to_string()))
        }
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("Idempotency-Key must be 1 to {CHIAVE_MAX} visible ASCII characters"),
        )),
    }
}

/// The body as a [`Bozza`], whichever of the two forms it has.
async fn bozza(request: Request, state: &WebState) -> Result<Bozza, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(request, state).await?;
        da_modulo(multipart).await
    } else if content_type.starts_with("application/json") {
        let Corpo(m) = Corpo::<NuovoMessaggio>::from_request(request, state).await?;
        da_json(m)
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json or multipart/form-data",
        ))
    }
}

fn da_json(m: NuovoMessaggio) -> Result<Bozza, ApiError> {
    let mut allegati = Vec::new();
    for (i, a) in m.attachments.into_iter().enumerate() {
        let dati = openssl::base64::decode_block(a.content_base64.trim()).map_err(|_| {
            ApiError::invalid(format!("attachments[{i}].content_base64 is not base64"))
        })?;
        allegati.push(Allegato {
            nome: a.filename,
            tipo: a
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            dati,
        });
    }
    Ok(Bozza {
        destinatari: m.to,
        copia: m.cc,
        oggetto: m.subject,
        testo: m.text,
        allegati,
        ricevuta: m.receipt_type.into(),
    })
}

async fn da_modulo(mut multipart: Multipart) -> Result<Bozza, ApiError> {
    let mut bozza = Bozza {
        destinatari: Vec::new(),
        copia: Vec::new(),
        oggetto: String::new(),
        testo: String::new(),
        allegati: Vec::new(),
        ricevuta: TipoRicevuta::default(),
    };
    let mut subject = None;
    while let Some(field) = multipart.next_field().await? {
        if let Some(nome) = field.file_name().map(str::to_string) {
            let tipo = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            let dati = field.bytes().await?.to_vec();
            bozza.allegati.push(Allegato { nome, tipo, dati });
            continue;
        }
        let name = field.name().unwrap_or_default().to_string();
        let value = field.text().await?;
        let indirizzi = || {
            value
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
        };
        match name.as_str() {
            "to" => bozza.destinatari.extend(indirizzi()),
            "cc" => bozza.copia.extend(indirizzi()),
            "subject" => subject = Some(value),
            "text" => bozza.testo = value,
            "receipt_type" => bozza.ricevuta = TipoRicevutaApi::parse(&value)?.into(),
            other => {
                return Err(ApiError::invalid(format!("unknown form field {other:?}")));
            }
        }
    }
    bozza.oggetto = subject.ok_or_else(|| ApiError::invalid("the subject field is missing"))?;
    if bozza.destinatari.is_empty() {
        return Err(ApiError::invalid("the to field is missing"));
    }
    Ok(bozza)
}
