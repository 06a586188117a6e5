//! The holder's page of the box's API keys (`/impostazioni/api`): the keys with their label
//! and state, a form to create one — shown once, on the page that answers the form — and a
//! button to revoke each. Only the holder and a delegate with management rights reach it;
//! a key made or revoked here is logged with the delegate as the actor.

use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::chiave;
use super::messaggi::rfc3339;
use super::testi::Testi;
use crate::WebState;
use crate::error::{Domanda, WebError, render};
use crate::i18n::Lang;
use crate::layout::Page;
use crate::session::Holder;

/// The longest label.
const ETICHETTA_MAX: usize = 100;

const QUI: &str = "/impostazioni/api";

pub fn router() -> Router<WebState> {
    Router::new()
        .route(QUI, get(pagina).post(crea))
        .route("/impostazioni/api/revoca", post(revoca))
}

/// One key as the page lists it.
struct Riga {
    id: i64,
    etichetta: String,
    creata: String,
    revocata: bool,
}

#[derive(Template)]
#[template(path = "api/chiavi.html")]
struct ChiaviPage {
    page: Page,
    tt: &'static Testi,
    chiavi: Vec<Riga>,
    nuova: Option<String>,
    avviso: Option<&'static str>,
    errore: Option<&'static str>,
}

/// The holder, if they may manage the box's keys.
fn gestore(holder: &Holder) -> Result<(), WebError> {
    if holder.principal.may_manage() {
        Ok(())
    } else {
        Err(WebError::Forbidden)
    }
}

async fn mostra(
    state: &WebState,
    holder: &Holder,
    lang: Lang,
    nuova: Option<String>,
    avviso: Option<&'static str>,
    errore: Option<&'static str>,
) -> Result<Html<String>, WebError> {
    let keys = state
        .engine
        .store()
        .api_keys(&holder.principal.mailbox)
        .await?;
    let chiavi = keys
        .into_iter()
        .map(|k| Riga {
            id: k.id,
            etichetta: k.label,
            creata: rfc3339(k.created_at),
            revocata: k.revoked_at.is_some(),
        })
        .collect();
    render(&ChiaviPage {
        page: Page::new(lang, QUI, Some(holder)),
        tt: Testi::of(lang),
        chiavi,
        nuova,
        avviso,
        errore,
    })
}

#[derive(Deserialize)]
struct Esito {
    revocata: Option<u8>,
}

async fn pagina(
    State(state): State<WebState>,
    holder: Holder,
    lang: Lang,
    Domanda(q): Domanda<Esito>,
) -> Result<Html<String>, WebError> {
    gestore(&holder)?;
    let avviso = q.revocata.map(|_| Testi::of(lang).revocata_ok);
    mostra(&state, &holder, lang, None, avviso, None).await
}

#[derive(Deserialize)]
struct NuovaForm {
    csrf: String,
    etichetta: String,
}

async fn crea(
    State(state): State<WebState>,
    holder: Holder,
    lang: Lang,
    Form(form): Form<NuovaForm>,
) -> Result<Html<String>, WebError> {
    holder.check_csrf(&form.csrf)?;
    gestore(&holder)?;
    let etichetta = form.etichetta.trim();
    if etichetta.is_empty() || etichetta.chars().count() > ETICHETTA_MAX {
        let errore = Some(Testi::of(lang).etichetta_vuota);
        return mostra(&state, &holder, lang, None, None, errore).await;
    }
    let nuova = chiave::crea(
        &state.engine,
        &holder.principal.mailbox,
        etichetta,
        holder.principal.actor(),
    )
    .await?;
    mostra(&state, &holder, lang, Some(nuova.key), None, None).await
}

#[derive(Deserialize)]
struct RevocaForm {
    csrf: String,
    id: i64,
}

async fn revoca(
    State(state): State<WebState>,
    holder: Holder,
    Form(form): Form<RevocaForm>,
) -> Result<Response, WebError> {
    holder.check_csrf(&form.csrf)?;
    gestore(&holder)?;
    match chiave::revoca(
        &state.engine,
        &holder.principal.mailbox,
        form.id,
        holder.principal.actor(),
    )
    .await
    {
        Ok(()) => Ok(Redirect::to("/impostazioni/api?revocata=1").into_response()),
        Err(store::StoreError::NotFound(_)) => Err(WebError::NotFound),
        Err(e) => Err(e.into()),
    }
}
