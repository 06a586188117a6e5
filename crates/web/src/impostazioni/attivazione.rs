//! The first login to a box created in bulk (seed 003): the holder confirms or corrects the
//! details the provider registered and replaces the initial password, which activates the
//! box; then the activation session becomes an ordinary one (a new session id, as at login)
//! and the holder lands in the mail. Past the deadline the page says the box is blocked.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::get;
use engine::settings::SettingsError;
use serde::Deserialize;

use super::testi::Testi;
use super::{Errore, Errori, profilo, profilo_incompleto, rifiuto_password, ripetuta};
use crate::WebState;
use crate::error::{WebError, render};
use crate::i18n::Lang;
use crate::layout::Page;
use crate::session::{ACTIVATION_PAGE, Activating, SESSION_COOKIE, Who, set_cookie};

pub fn router() -> Router<WebState> {
    Router::new().route(ACTIVATION_PAGE, get(mostra).post(attiva))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AttivazioneForm {
    csrf: String,
    nome: String,
    cognome: String,
    email: String,
    nuova: String,
    ripeti: String,
}

#[derive(Template)]
#[template(path = "impostazioni/attivazione.html")]
struct AttivazionePage {
    page: Page,
    t: &'static Testi,
    /// Why the box can no longer be activated; the form otherwise.
    chiusa: Option<&'static str>,
    scadenza: Option<String>,
    regole: Vec<String>,
    nome: String,
    cognome: String,
    email: String,
    errori: Errori,
}

/// `dd/mm/yyyy hh:mm` in Italian time.
fn data(at: i64) -> String {
    jiff::Timestamp::from_second(at)
        .map(|ts| {
            ts.to_zoned(engine::clock::rome())
                .strftime("%d/%m/%Y %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

fn pagina(
    state: &WebState,
    who: &Activating,
    lang: Lang,
    form: AttivazioneForm,
    errori: Vec<Errore>,
    chiusa: Option<&'static str>,
) -> AttivazionePage {
    let t = Testi::of(lang);
    AttivazionePage {
        page: Page::with_session(lang, ACTIVATION_PAGE, &who.pending.mailbox, &who.csrf),
        t,
        chiusa,
        scadenza: who
            .pending
            .deadline
            .map(|d| t.attivazione_scadenza.replace("{data}", &data(d))),
        regole: t.regole(&state.config.policy),
        nome: form.nome,
        cognome: form.cognome,
        email: form.email,
        errori: errori.into(),
    }
}

/// The page saying the box can no longer be activated, with its status.
fn chiusa(
    state: &WebState,
    who: &Activating,
    lang: Lang,
    status: StatusCode,
    why: &'static str,
) -> Result<Response, WebError> {
    let page = pagina(
        state,
        who,
        lang,
        AttivazioneForm::default(),
        Vec::new(),
        Some(why),
    );
    Ok((status, render(&page)?).into_response())
}

fn now(state: &WebState) -> i64 {
    state.engine.clock().now().timestamp().as_second()
}

async fn mostra(
    State(state): State<WebState>,
    who: Activating,
    lang: Lang,
) -> Result<Response, WebError> {
    if who.pending.deadline.is_some_and(|d| d < now(&state)) {
        let t = Testi::of(lang);
        return chiusa(&state, &who, lang, StatusCode::GONE, t.attivazione_scaduta);
    }
    let form = match &who.pending.profile {
        Some(p) => AttivazioneForm {
            nome: p.nome.clone(),
            cognome: p.cognome.clone(),
            email: p.email.clone(),
            ..AttivazioneForm::default()
        },
        None => AttivazioneForm::default(),
    };
    Ok(render(&pagina(&state, &who, lang, form, Vec::new(), None))?.into_response())
}

async fn attiva(
    State(state): State<WebState>,
    who: Activating,
    lang: Lang,
    Form(form): Form<AttivazioneForm>,
) -> Result<Response, WebError> {
    who.check_csrf(&form.csrf)?;
    let t = Testi::of(lang);
    let mut errori = profilo_incompleto(t, &form.nome, &form.cognome);
    errori.extend(ripetuta(t, &form.nuova, &form.ripeti));
    if errori.is_empty() {
        let address = &who.pending.mailbox;
        let profile = profilo(&form.nome, &form.cognome, &form.email);
        let policy = &state.config.policy;
        match state
            .engine
            .activate(address, &form.nuova, &profile, policy, now(&state))
            .await
        {
            Ok(()) => return entra(&state, &who, &form.nuova).await,
            Err(SettingsError::ActivationExpired(_)) => {
                state.sessions.close(&who.session_id);
                return chiusa(&state, &who, lang, StatusCode::GONE, t.attivazione_scaduta);
            }
            Err(SettingsError::NotAwaitingActivation(_)) => {
                state.sessions.close(&who.session_id);
                let why = t.attivazione_non_attesa;
                return chiusa(&state, &who, lang, StatusCode::CONFLICT, why);
            }
            // With the names checked, what the store can refuse is the e-mail.
            Err(SettingsError::InvalidSetting(_)) => {
                errori.push(Errore::new("email", t.indirizzo_non_valido));
            }
            Err(e) => {
                let refused = rifiuto_password(t, e).map_err(|e| WebError::Internal(e.into()))?;
                errori.extend(refused);
            }
        }
    }
    let page = pagina(&state, &who, lang, form, errori, None);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

/// Replaces the activation session with an ordinary one for the box just activated (logging
/// in with the new password, as `/login` would) and goes to the mail.
async fn entra(state: &WebState, who: &Activating, password: &str) -> Result<Response, WebError> {
    let address = &who.pending.mailbox;
    let principal = state.engine.login(address, password).await?.map_err(|e| {
        WebError::Internal(anyhow::anyhow!("login after activating {address}: {e}"))
    })?;
    tracing::info!(mailbox = %address, "casella attivata dal titolare");
    state.engine.ensure_standard_folders(address).await;
    state.sessions.close(&who.session_id);
    let (id, _) = state.sessions.open(Who::Casella(principal));
    Ok((
        StatusCode::SEE_OTHER,
        AppendHeaders([
            (header::LOCATION, "/posta".to_string()),
            (header::SET_COOKIE, set_cookie(SESSION_COOKIE, &id, None)),
        ]),
    )
        .into_response())
}
