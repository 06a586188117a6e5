//! Password recovery (seed 000: "la password può essere recuperata seguendo l'apposito
//! link"): `/recupero` takes a PEC address and, when the box has a recovery address, mails
//! it a one-time link (the engine makes it, [`engine::Engine::send_recovery_mail`] sends
//! it); `/recupero/nuova?token=` sets a new password through that link.
//!
//! The request page answers the same whether the box exists, has a recovery address or
//! not, so it reveals no box; every request counts, by address and by client, in a
//! throttle of its own (not the login's: asking for links must not lock anyone out), so it
//! cannot be used to flood a holder's mailbox or to probe. No
//! session exists yet: both forms carry a double-submit token (the cookie
//! [`RECOVERY_CSRF_COOKIE`], of their own so that an open login page keeps working).

use std::net::IpAddr;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Form, Router};
use engine::riga::Riga;
use engine::settings::SettingsError;
use serde::Deserialize;

use super::testi::Testi;
use super::{Errore, Errori, rifiuto_password, ripetuta};
use crate::WebState;
use crate::auth::client_ip;
use crate::error::{Domanda, WebError, render};
use crate::https::ClientAddr;
use crate::i18n::Lang;
use crate::layout::Page;
use crate::session::{constant_time_eq, cookie, random_token, set_cookie};

/// The double-submit cookie of the recovery forms.
pub const RECOVERY_CSRF_COOKIE: &str = "pecora_recupero";

/// Where a recovery link leads.
pub const NEW_PASSWORD_PAGE: &str = "/recupero/nuova";

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/recupero", get(chiedi_form).post(chiedi))
        .route(NEW_PASSWORD_PAGE, get(nuova_form).post(nuova))
}

/// What the recovery pages show.
enum Stato {
    /// The form asking for the PEC address.
    Chiedi { indirizzo: String },
    /// The request was taken (or refused by the throttle, with the message as an error).
    Chiesto,
    /// The form for a new password through the link `token`.
    Nuova { token: String },
    /// The link does not work.
    LinkNonValido,
    /// The password was set.
    Fatto,
}

#[derive(Template)]
#[template(path = "impostazioni/recupero.html")]
struct RecuperoPage {
    page: Page,
    t: &'static Testi,
    stato: Stato,
    csrf: String,
    regole: Vec<String>,
    errori: Errori,
}

/// A recovery page with a fresh double-submit token, as `status`.
fn pagina(
    state: &WebState,
    lang: Lang,
    here: &str,
    status: StatusCode,
    stato: Stato,
    errori: Vec<Errore>,
) -> Result<Response, WebError> {
    let t = Testi::of(lang);
    let csrf = random_token();
    let page = RecuperoPage {
        page: Page::new(lang, here, None),
        t,
        stato,
        csrf: csrf.clone(),
        regole: t.regole(&state.config.policy),
        errori: errori.into(),
    };
    Ok((
        status,
        [(
            header::SET_COOKIE,
            set_cookie(RECOVERY_CSRF_COOKIE, &csrf, None),
        )],
        render(&page)?,
    )
        .into_response())
}

/// Refuses (403) a form whose token is not the one of its cookie.
fn check_csrf(headers: &HeaderMap, token: &str) -> Result<(), WebError> {
    let expected = cookie(headers, RECOVERY_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        return Err(WebError::Csrf);
    }
    Ok(())
}

async fn chiedi_form(State(state): State<WebState>, lang: Lang) -> Result<Response, WebError> {
    let stato = Stato::Chiedi {
        indirizzo: String::new(),
    };
    pagina(&state, lang, "/recupero", StatusCode::OK, stato, Vec::new())
}

#[derive(Deserialize)]
struct ChiediForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    indirizzo: String,
}

async fn chiedi(
    State(state): State<WebState>,
    lang: Lang,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Form(form): Form<ChiediForm>,
) -> Result<Response, WebError> {
    check_csrf(&headers, &form.csrf)?;
    let t = Testi::of(lang);
    let address = form.indirizzo.trim();
    if address.is_empty() {
        let stato = Stato::Chiedi {
            indirizzo: String::new(),
        };
        let errori = vec![Errore::new("indirizzo", t.campo_vuoto)];
        return pagina(
            &state,
            lang,
            "/recupero",
            StatusCode::UNPROCESSABLE_ENTITY,
            stato,
            errori,
        );
    }
    let ip = client_ip(client);
    if !ammesso(&state, address, ip) {
        tracing::warn!(address = %Riga(address), %ip, "richiesta di recupero password rifiutata: troppe richieste");
        let stato = Stato::Chiedi {
            indirizzo: address.to_string(),
        };
        let errori = vec![Errore::new("indirizzo", t.troppi_tentativi)];
        return pagina(
            &state,
            lang,
            "/recupero",
            StatusCode::TOO_MANY_REQUESTS,
            stato,
            errori,
        );
    }
    let valid_for = state.config.recovery_valid_for;
    if let Some(link) = state.engine.start_recovery(address, valid_for).await? {
        let url = format!(
            "{}{NEW_PASSWORD_PAGE}?token={}",
            state.config.public_url, link.token
        );
        state.engine.send_recovery_mail(&link, &url).await?;
    }
    tracing::info!(address = %Riga(address), %ip, "richiesta di recupero password");
    pagina(
        &state,
        lang,
        "/recupero",
        StatusCode::OK,
        Stato::Chiesto,
        Vec::new(),
    )
}

/// Whether a recovery request for `address` from `ip` may go ahead; counts it if so, by
/// address and by client, in the recovery throttle ([`WebState::recuperi`]): never in the
/// login throttle, so that asking for links locks no one's login.
fn ammesso(state: &WebState, address: &str, ip: IpAddr) -> bool {
    if state.recuperi.locked(address, ip) {
        return false;
    }
    state.recuperi.failed(address, ip);
    true
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// Whether `token` looks like one the engine makes (64 lowercase hex digits).
fn ben_formato(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether the recovery link `token` works now: the store keeps the SHA-256 of each token
/// (the contract of [`store::Holders::create_recovery_token`]).
async fn link_valido(state: &WebState, token: &str) -> Result<bool, WebError> {
    if !ben_formato(token) {
        return Ok(false);
    }
    let hash: String = openssl::sha::sha256(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let now = state.engine.clock().now().timestamp().as_second();
    Ok(state
        .engine
        .store()
        .recovery_token(&hash, now)
        .await?
        .is_some())
}

async fn nuova_form(
    State(state): State<WebState>,
    lang: Lang,
    Domanda(q): Domanda<TokenQuery>,
) -> Result<Response, WebError> {
    if !link_valido(&state, &q.token).await? {
        return non_valido(&state, lang);
    }
    let stato = Stato::Nuova { token: q.token };
    pagina(
        &state,
        lang,
        NEW_PASSWORD_PAGE,
        StatusCode::OK,
        stato,
        Vec::new(),
    )
}

fn non_valido(state: &WebState, lang: Lang) -> Result<Response, WebError> {
    let stato = Stato::LinkNonValido;
    pagina(
        state,
        lang,
        NEW_PASSWORD_PAGE,
        StatusCode::GONE,
        stato,
        Vec::new(),
    )
}

#[derive(Deserialize)]
struct NuovaForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    nuova: String,
    #[serde(default)]
    ripeti: String,
}

async fn nuova(
    State(state): State<WebState>,
    lang: Lang,
    headers: HeaderMap,
    Form(form): Form<NuovaForm>,
) -> Result<Response, WebError> {
    check_csrf(&headers, &form.csrf)?;
    let t = Testi::of(lang);
    let errori = match ripetuta(t, &form.nuova, &form.ripeti) {
        Some(e) => vec![e],
        None => match state
            .engine
            .finish_recovery(&form.token, &form.nuova, &state.config.policy)
            .await
        {
            Ok(address) => {
                // Whoever had the old password is out.
                state.sessions.close_login(&address);
                tracing::info!(mailbox = %address, "password reimpostata con il collegamento di recupero");
                return pagina(
                    &state,
                    lang,
                    NEW_PASSWORD_PAGE,
                    StatusCode::OK,
                    Stato::Fatto,
                    Vec::new(),
                );
            }
            Err(SettingsError::InvalidToken) => return non_valido(&state, lang),
            Err(e) => rifiuto_password(t, e).map_err(|e| WebError::Internal(e.into()))?,
        },
    };
    let stato = Stato::Nuova { token: form.token };
    pagina(
        &state,
        lang,
        NEW_PASSWORD_PAGE,
        StatusCode::UNPROCESSABLE_ENTITY,
        stato,
        errori,
    )
}
