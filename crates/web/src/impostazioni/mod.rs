//! The holder's own settings (seeds 000, 002, 004), the activation of a box created in bulk
//! (seed 003) and password recovery through the holder's ordinary address.

use axum::Router;

use crate::WebState;

pub fn router() -> Router<WebState> {
    Router::new()
}
