//! Logging in and out, and the language switch.
//!
//! The login form carries a CSRF token before any session exists: a random value both in
//! the form and in the cookie `pecora_accesso` (double submit), compared on POST. A
//! successful login opens a fresh session (a new id, so no id chosen before login survives
//! it); failures are counted by [`crate::throttle`].
//!
//! Two doors share that flow: `/login` for boxes (the holder or a delegate; a holder whose
//! box awaits activation gets an activation session and goes to
//! [`crate::session::ACTIVATION_PAGE`]) and [`ADMIN_LOGIN_PAGE`] for the accounts of the
//! administration panel, which are a name space of their own.

use std::net::{IpAddr, Ipv4Addr};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Form, Router};
use engine::accounts::LoginError;
use engine::riga::Riga;
use serde::Deserialize;

use crate::WebState;
use crate::error::{Domanda, WebError, render};
use crate::https::ClientAddr;
use crate::i18n::{LANG_COOKIE, Lang};
use crate::layout::Page;
use crate::session::{
    ACTIVATION_PAGE, ADMIN_LOGIN_PAGE, SESSION_COOKIE, Who, constant_time_eq, cookie, random_token,
    set_cookie,
};

/// The double-submit cookie of the login form.
pub const LOGIN_CSRF_COOKIE: &str = "pecora_accesso";

/// The language cookie lasts a year.
const LANG_MAX_AGE: u64 = 365 * 24 * 3600;

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/posta") }))
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .route(ADMIN_LOGIN_PAGE, get(admin_login_form).post(admin_login))
        .route("/amministrazione/esci", axum::routing::post(admin_logout))
        .route("/lingua/{code}", get(switch_language))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    /// Where the form posts: `/login` or the panel's login.
    action: &'static str,
    title: &'static str,
    login_csrf: String,
    login: String,
    error: Option<&'static str>,
}

/// The login page posting to `action` with a fresh double-submit token.
fn login_page(
    action: &'static str,
    lang: Lang,
    status: StatusCode,
    login: String,
    error: Option<&'static str>,
) -> Response {
    let token = random_token();
    let t = lang.catalog();
    let page = LoginPage {
        page: Page::new(lang, action, None),
        action,
        title: if action == ADMIN_LOGIN_PAGE {
            t.admin_login_title
        } else {
            t.login_title
        },
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
    login_page("/login", lang, StatusCode::OK, String::new(), None)
}

async fn admin_login_form(lang: Lang) -> Response {
    login_page(ADMIN_LOGIN_PAGE, lang, StatusCode::OK, String::new(), None)
}

#[derive(Deserialize)]
struct LoginForm {
    login: String,
    password: String,
    /// Missing is refused like wrong (403), not as a malformed form.
    #[serde(default)]
    csrf: String,
}

/// What a login form's credentials turned out to be.
enum Outcome {
    /// A session for this visitor, to open; then go to the page named.
    Open(Who, &'static str),
    /// Wrong name or password (counted by the throttle).
    Wrong,
    /// Right credentials, but the box may not be used (suspended, blocked...).
    Inactive,
}

/// The checks every login form shares: the double-submit token, a login without control
/// characters, then the lockout; `None` when the visitor may try, or the page refusing
/// them.
fn before_login(
    state: &WebState,
    action: &'static str,
    lang: Lang,
    ip: IpAddr,
    headers: &HeaderMap,
    form: &LoginForm,
) -> Result<Option<Response>, WebError> {
    let expected = cookie(headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(form.csrf.as_bytes(), expected.as_bytes()) {
        return Err(WebError::Csrf);
    }
    // No account has one (the engine refuses them at creation); only a forged log line would.
    if form.login.chars().any(char::is_control) {
        return Err(WebError::BadRequest(
            "a login has no control characters".into(),
        ));
    }
    if state.throttle.locked(&form.login, ip) {
        tracing::warn!(login = %Riga(&form.login), %ip, "login refused: locked out");
        return Ok(Some(login_page(
            action,
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            form.login.clone(),
            Some(lang.catalog().login_locked),
        )));
    }
    Ok(None)
}

/// Answers a login form once its credentials were checked.
fn after_login(
    state: &WebState,
    action: &'static str,
    lang: Lang,
    ip: IpAddr,
    form: LoginForm,
    outcome: Outcome,
) -> Response {
    let t = lang.catalog();
    match outcome {
        Outcome::Open(who, next) => {
            state.throttle.succeeded(&form.login);
            tracing::info!(login = %Riga(&form.login), %ip, door = action, "web login");
            let (id, _) = state.sessions.open(who);
            (
                StatusCode::SEE_OTHER,
                AppendHeaders([
                    (header::LOCATION, next.to_string()),
                    (header::SET_COOKIE, set_cookie(SESSION_COOKIE, &id, None)),
                    (
                        header::SET_COOKIE,
                        set_cookie(LOGIN_CSRF_COOKIE, "", Some(0)),
                    ),
                ]),
            )
                .into_response()
        }
        Outcome::Wrong => {
            state.throttle.failed(&form.login, ip);
            tracing::info!(login = %Riga(&form.login), %ip, door = action, "web login failed");
            login_page(
                action,
                lang,
                StatusCode::UNAUTHORIZED,
                form.login,
                Some(t.login_failed),
            )
        }
        Outcome::Inactive => login_page(
            action,
            lang,
            StatusCode::FORBIDDEN,
            form.login,
            Some(t.login_inactive),
        ),
    }
}

pub(crate) fn client_ip(client: Option<Extension<ClientAddr>>) -> IpAddr {
    client.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(c)| c.0.ip())
}

async fn login(
    State(state): State<WebState>,
    lang: Lang,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let ip = client_ip(client);
    if let Some(refused) = before_login(&state, "/login", lang, ip, &headers, &form)? {
        return Ok(refused);
    }
    let name = form.login.trim();
    let outcome = match state.engine.login(name, &form.password).await? {
        Ok(principal) => {
            state
                .engine
                .ensure_standard_folders(&principal.mailbox)
                .await;
            Outcome::Open(Who::Casella(principal), "/posta")
        }
        Err(LoginError::BadCredentials) => Outcome::Wrong,
        // A box created in bulk waits for its holder to activate it (seed 003).
        Err(LoginError::NotActive(_)) => {
            match state
                .engine
                .login_for_activation(name, &form.password)
                .await?
            {
                Ok(pending) => Outcome::Open(Who::Attivazione(pending), ACTIVATION_PAGE),
                Err(_) => Outcome::Inactive,
            }
        }
    };
    Ok(after_login(&state, "/login", lang, ip, form, outcome))
}

async fn admin_login(
    State(state): State<WebState>,
    lang: Lang,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let ip = client_ip(client);
    if let Some(refused) = before_login(&state, ADMIN_LOGIN_PAGE, lang, ip, &headers, &form)? {
        return Ok(refused);
    }
    let outcome = match state
        .engine
        .admin_login(form.login.trim(), &form.password)
        .await?
    {
        Some(admin) => Outcome::Open(Who::Amministratore(admin), "/amministrazione"),
        None => Outcome::Wrong,
    };
    Ok(after_login(
        &state,
        ADMIN_LOGIN_PAGE,
        lang,
        ip,
        form,
        outcome,
    ))
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    end_session(&state, &headers, &form, "/login")
}

async fn admin_logout(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    end_session(&state, &headers, &form, ADMIN_LOGIN_PAGE)
}

/// Closes the request's session, whatever its kind, if the form carries its CSRF token;
/// then goes to `next`.
fn end_session(
    state: &WebState,
    headers: &HeaderMap,
    form: &CsrfForm,
    next: &str,
) -> Result<Response, WebError> {
    if let Some(id) = cookie(headers, SESSION_COOKIE) {
        state.sessions.close_checked(&id, &form.csrf)?;
    }
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, next.to_string()),
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
/// see [`percorso_locale`], so the link cannot send anyone elsewhere).
async fn switch_language(
    Path(code): Path<String>,
    Domanda(q): Domanda<Next>,
) -> Result<Response, WebError> {
    let lang = Lang::from_code(&code).ok_or(WebError::NotFound)?;
    let next = q
        .next
        .filter(|n| percorso_locale(n))
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

/// Whether `next` (as the query gave it, decoded once) may be a `Location` of this site: a
/// path that starts with one `/`, with no whitespace or control character anywhere (browsers
/// drop tabs and newlines from a URL, so `/\t/evil.example` is `//evil.example` to them).
/// Its path part — up to `?` or `#` — has no `//` and no backslash (a browser reads `\` as
/// `/`), and all of that holds again once its escapes are decoded, so that no second
/// decoding anywhere makes it leave the site. Decoded, the query part may hold spaces (a
/// folder's name, escaped as `%20`): a query cannot change where a URL leads.
fn percorso_locale(next: &str) -> bool {
    let sicuro = |s: &str, spazi_nella_domanda: bool| {
        let (percorso, resto) = s.split_at(s.find(['?', '#']).unwrap_or(s.len()));
        percorso.starts_with('/')
            && !percorso.contains("//")
            && !percorso.contains('\\')
            && !percorso.chars().any(char::is_whitespace)
            && !s.chars().any(char::is_control)
            && (spazi_nella_domanda || !resto.chars().any(char::is_whitespace))
    };
    sicuro(next, false) && sicuro(&percent_decode(next), true)
}

/// `s` with every `%XX` escape decoded (bytes that are not UTF-8 become U+FFFD).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|hex| bytes[i] == b'%' && hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
