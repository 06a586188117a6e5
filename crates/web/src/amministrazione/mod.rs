//! The administration panel (seeds 002, 004): a domain's postmaster manages its boxes, a
//! provider admin its domains and postmasters and watches the traffic.

use axum::Router;

use crate::WebState;

pub fn router() -> Router<WebState> {
    Router::new()
}
