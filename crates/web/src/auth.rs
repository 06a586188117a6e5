//! Logging in and out, and the language switch.
//!
//! The login form carries a CSRF token before any session exists: a random value both in
//! the form and in the cookie `pecora_accesso` (double submit), compared on POST. A
//! successful login opens a fresh session (a new id, so no id chosen before login survives
//! it); failures are counted by [`crate::throttle`].

use std::net::{IpAddr, Ipv4Addr};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Form, Router};
use engine::accounts::LoginError;
use serde::Deserialize;

use crate::WebState;
use crate::error::{WebError, render};
use crate::https::ClientAddr;
use crate::i18n::{LANG_COOKIE, Lang};
use crate::layout::Page;
use crate::session::{Holder, SESSION_COOKIE, constant_time_eq, cookie, random_token, set_cookie};

/// The double-submit cookie of the login form.
pub const LOGIN_CSRF_COOKIE: &str = "pecora_accesso";

/// The language cookie lasts a year.
const LANG_MAX_AGE: u64 = 365 * 24 * 3600;

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/posta") }))
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/lingua/{code}", get(switch_language))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    login_csrf: String,
    login: String,
    error: Option<&'static str>,
}

/// The login page with a fresh double-submit token.
fn login_page(
    lang: Lang,
    status: StatusCode,
    login: String,
    error: Option<&'static str>,
) -> Response {
    let token = random_token();
    let page = LoginPage {
        page: Page::new(lang, "/login", None),
        login_csrf: token.clone(),
        login,
        error,
    };
    match render(&page) {
        Ok(html) => (
            status,
            [(
                header::SET_COOKIE,
                set_cookie(LOGIN_CSRF_COOKIE, &token, None),
            )],
            html,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn login_form(lang: Lang) -> Response {
    login_page(lang, StatusCode::OK, String::new(), None)
}

#[derive(Deserialize)]
struct LoginForm {
    login: String,
    password: String,
    /// Missing is refused like wrong (403), not as a malformed form.
    #[serde(default)]
    csrf: String,
}

async fn login(
    State(state): State<WebState>,
    lang: Lang,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(form.csrf.as_bytes(), expected.as_bytes()) {
        return Err(WebError::Csrf);
    }
    let ip = client.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(c)| c.0.ip());
    let t = lang.catalog();
    if state.throttle.locked(&form.login, ip) {
        tracing::warn!(login = %form.login, %ip, "login refused: locked out");
        return Ok(login_page(
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            form.login,
            Some(t.login_locked),
        ));
    }
    match state
        .engine
        .login(form.login.trim(), &form.password)
        .await?
    {
        Ok(principal) => {
            state.throttle.succeeded(&form.login);
            tracing::info!(login = %principal.login, mailbox = %principal.mailbox, %ip, "web login");
            state
                .engine
                .ensure_standard_folders(&principal.mailbox)
                .await;
            let (id, _) = state.sessions.open(principal);
            Ok((
                StatusCode::SEE_OTHER,
                AppendHeaders([
                    (header::LOCATION, "/posta".to_string()),
                    (header::SET_COOKIE, set_cookie(SESSION_COOKIE, &id, None)),
                    (
                        header::SET_COOKIE,
                        set_cookie(LOGIN_CSRF_COOKIE, "", Some(0)),
                    ),
                ]),
            )
                .into_response())
        }
        Err(LoginError::BadCredentials) => {
            state.throttle.failed(&form.login, ip);
            tracing::info!(login = %form.login, %ip, "web login failed");
            Ok(login_page(
                lang,
                StatusCode::UNAUTHORIZED,
                form.login,
                Some(t.login_failed),
            ))
        }
        Err(LoginError::NotActive(_)) => Ok(login_page(
            lang,
            StatusCode::FORBIDDEN,
            form.login,
            Some(t.login_inactive),
        )),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<WebState>,
    holder: Holder,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    holder.check_csrf(&form.csrf)?;
    state.sessions.close(&holder.session_id);
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_string()),
            (header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", Some(0))),
        ],
    )
        .into_response())
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// Remembers the language and goes back to the page the switch was on (a local path only,
/// so the link cannot send anyone elsewhere).
async fn switch_language(
    Path(code): Path<String>,
    Query(q): Query<Next>,
) -> Result<Response, WebError> {
    let lang = Lang::from_code(&code).ok_or(WebError::NotFound)?;
    let next = q
        .next
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/".to_string());
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, next),
            (
                header::SET_COOKIE,
                set_cookie(LANG_COOKIE, lang.code(), Some(LANG_MAX_AGE)),
            ),
        ],
    )
        .into_response())
}
