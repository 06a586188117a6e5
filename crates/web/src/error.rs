//! What a handler answers when it cannot do what was asked: a status and a page that says
//! why, in both languages (an error may come before the language is known); a query that
//! does not parse too, through [`Domanda`]. Nothing a client sends can make a handler
//! panic; faults of the server side are logged with their context and shown as a plain 500.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::i18n::{Catalog, EN, IT};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No such page, folder or message in the logged-in box.
    #[error("not found")]
    NotFound,
    /// Something the logged-in account may not do (a read-only delegate sending, a
    /// postmaster acting outside its domain where the thing's existence is no secret).
    #[error("forbidden")]
    Forbidden,
    /// A login shaped like an address (the login named) of a domain the admin does not
    /// manage.
    #[error("login {0} outside the admin's domains")]
    LoginOutsideDomain(String),
    /// A form without this session's CSRF token.
    #[error("CSRF token missing or wrong")]
    Csrf,
    /// A request the door cannot read.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A fault on our side (storage, templates).
    #[error("internal: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Forbidden | WebError::Csrf | WebError::LoginOutsideDomain(_) => {
                StatusCode::FORBIDDEN
            }
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self, t: &'static Catalog) -> &'static str {
        match self {
            WebError::NotFound => t.not_found,
            WebError::Forbidden => t.forbidden,
            WebError::LoginOutsideDomain(_) => t.login_outside_domain,
            WebError::Csrf => t.csrf_refused,
            WebError::BadRequest(_) => t.bad_request,
            WebError::Internal(_) => t.internal_error,
        }
    }
}

impl From<store::StoreError> for WebError {
    fn from(e: store::StoreError) -> WebError {
        WebError::Internal(anyhow::Error::new(e).context("reading the mailbox"))
    }
}

impl From<engine::EngineError> for WebError {
    fn from(e: engine::EngineError) -> WebError {
        WebError::Internal(anyhow::Error::new(e))
    }
}

impl From<QueryRejection> for WebError {
    fn from(r: QueryRejection) -> WebError {
        WebError::BadRequest(r.body_text())
    }
}

/// A page's query parameters: axum's `Query`, with a query that does not parse (`uid=-1`, a
/// parameter missing) answered by the error page as a 400 that names what is wrong.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(WebError))]
pub struct Domanda<T>(pub T);

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> WebError {
        WebError::Internal(anyhow::Error::new(e).context("rendering a page"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    italiano: &'a str,
    english: &'a str,
    detail: Option<&'a str>,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            WebError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "web request failed");
                None
            }
            WebError::BadRequest(why) | WebError::LoginOutsideDomain(why) => Some(why.as_str()),
            _ => None,
        };
        let page = ErrorPage {
            status: status.as_u16(),
            italiano: self.message(&IT),
            english: self.message(&EN),
            detail,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.message(&IT)).into_response(),
        }
    }
}

/// Every path no route takes.
pub async fn not_found() -> WebError {
    WebError::NotFound
}

/// Renders a page template.
pub fn render(page: &impl Template) -> Result<Html<String>, WebError> {
    Ok(Html(page.render()?))
}
