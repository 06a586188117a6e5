//! The REST API for protocol systems under `/api/v1`, described at `/api/openapi.json`.

use axum::Router;

use crate::WebState;

pub fn router() -> Router<WebState> {
    Router::new()
}
