//! The one shape of every API error: `{code, message}` JSON with the status that fits, for
//! our own refusals and for axum's rejections alike (bad JSON, wrong content type, a path
//! or query parameter that does not parse — 400 —, a body too large). A protocol system reads `code`; a
//! person reads `message`. Nothing a client sends is answered with HTML or a 5xx.
//!
//! The extractors [`Corpo`], [`Percorso`] and [`Domanda`] are axum's `Json`, `Path` and
//! `Query` with their rejections turned into [`ApiError`].

use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// What the client reads of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct Errore {
    /// Stable, for machines: `unauthorized`, `not_found`, `invalid_request`...
    pub code: String,
    /// For people: what was wrong.
    pub message: String,
}

/// An API error: its status and its [`Errore`].
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// No key, an unknown key or a revoked one.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <key>",
        )
    }

    /// Nothing of that name in the key's box (whoever else may have it).
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// A request that parses but asks for something invalid.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }

    /// A fault on our side: logged with its context, not shown.
    pub fn internal(e: impl Into<anyhow::Error>) -> ApiError {
        let e = e.into();
        tracing::error!(error = format!("{e:#}"), "API request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    }

    /// An axum rejection: its own status and text, with a code for the status.
    fn rejection(status: StatusCode, text: String) -> ApiError {
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_request",
            StatusCode::NOT_FOUND => "not_found",
            _ => "bad_request",
        };
        // A rejection that blames the server (a missing extension) is still our fault.
        if status.is_server_error() {
            return ApiError::internal(anyhow::anyhow!("rejection: {text}"));
        }
        ApiError::new(status, code, text)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Errore {
            code: self.code.to_string(),
            message: self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> ApiError {
        ApiError::internal(anyhow::Error::new(e).context("reading the store"))
    }
}

impl From<engine::EngineError> for ApiError {
    fn from(e: engine::EngineError) -> ApiError {
        ApiError::internal(e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        ApiError::rejection(r.status(), r.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> ApiError {
        ApiError::rejection(r.status(), r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    /// A parameter of the path that does not parse (a UID of `-1`) is the client's mistake,
    /// a 400 that says which, as a query's is: not a 404, which would say that a well-formed
    /// name was looked for and is not there.
    fn from(r: PathRejection) -> ApiError {
        ApiError::rejection(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::rejection(r.status(), r.body_text())
    }
}

impl From<MultipartRejection> for ApiError {
    fn from(r: MultipartRejection) -> ApiError {
        ApiError::rejection(r.status(), r.body_text())
    }
}

impl From<MultipartError> for ApiError {
    fn from(e: MultipartError) -> ApiError {
        ApiError::rejection(e.status(), e.body_text())
    }
}

/// A JSON body.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Corpo<T>(pub T);

/// The path's parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Percorso<T>(pub T);

/// The query string.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Domanda<T>(pub T);

/// Every `/api/v1` path no route takes.
pub async fn nessuna_rotta() -> ApiError {
    ApiError::not_found("route")
}

/// A route asked with a method it does not answer.
pub async fn metodo_non_ammesso() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}
