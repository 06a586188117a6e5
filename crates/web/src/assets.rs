//! The stylesheet and the script of every page, compiled into the binary and served under
//! `/static/`: the CSP allows scripts and styles from the door itself only, never inline.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::WebState;

const CSS: &str = include_str!("../static/pecora.css");
const JS: &str = include_str!("../static/pecora.js");

pub fn router() -> Router<WebState> {
    Router::new()
        .route(
            "/static/pecora.css",
            get(|| async {
                ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
            }),
        )
        .route(
            "/static/pecora.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    JS,
                )
                    .into_response()
            }),
        )
}
