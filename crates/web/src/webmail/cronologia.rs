//! Following a sent PEC (issue 6 §1): `/posta/inviato?id=` shows, per recipient, what became
//! of it — accettazione, presa in carico, consegna or mancata consegna, the 12/24-hour
//! notices — each receipt one click away, and refreshes itself while anything is pending;
//! `/posta/fascicolo?id=` downloads the evidence bundle. Only the box that sent it sees
//! either: any other identificativo is a 404.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{Html, Response};
use axum::routing::get;
use engine::cronologia::{Cronologia, Ricevuta};
use serde::Deserialize;

use super::download;
use super::scrivi::Testi;
use crate::WebState;
use crate::error::{Domanda, WebError, render};
use crate::i18n::Lang;
use crate::layout::{Page, query_escape};
use crate::session::Holder;

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/posta/inviato", get(pagina))
        .route("/posta/fascicolo", get(fascicolo))
}

#[derive(Deserialize)]
struct IdQuery {
    id: String,
}

/// One event as the page shows it.
struct Riga {
    tipo: String,
    nome: &'static str,
    data: String,
    link: Option<String>,
}

struct Destinatario {
    indirizzo: String,
    certificato: bool,
    esito: &'static str,
    esito_nome: &'static str,
    righe: Vec<Riga>,
}

#[derive(Template)]
#[template(path = "cronologia.html")]
struct CronologiaPage {
    page: Page,
    t: &'static Testi,
    identificativo: String,
    oggetto: String,
    inviato_il: String,
    inviata: Option<String>,
    accettazione: Option<Riga>,
    non_accettazione: Option<Riga>,
    destinatari: Vec<Destinatario>,
    in_corso: bool,
    fascicolo: String,
}

fn link(r: &Ricevuta) -> String {
    format!(
        "/posta/messaggio?cartella={}&uid={}",
        query_escape(&r.folder),
        r.uid
    )
}

async fn trova(state: &WebState, holder: &Holder, id: &str) -> Result<Cronologia, WebError> {
    state
        .engine
        .cronologia(&holder.principal.mailbox, id)
        .await?
        .ok_or(WebError::NotFound)
}

async fn pagina(
    State(state): State<WebState>,
    holder: Holder,
    lang: Lang,
    Domanda(q): Domanda<IdQuery>,
) -> Result<Html<String>, WebError> {
    let t = Testi::of(lang);
    let c = trova(&state, &holder, &q.id).await?;
    let ricevuta = |r: &Ricevuta, nome: &'static str| Riga {
        tipo: r.kind.clone(),
        nome,
        data: super::data_breve(r.at),
        link: Some(link(r)),
    };
    let here = format!("/posta/inviato?id={}", query_escape(&c.identificativo));
    render(&CronologiaPage {
        page: Page::new(lang, &here, Some(&holder)),
        t,
        in_corso: c.in_corso(),
        fascicolo: format!("/posta/fascicolo?id={}", query_escape(&c.identificativo)),
        inviato_il: super::data_breve(c.inviato_il),
        inviata: c.inviata.as_ref().map(link),
        accettazione: c.accettazione.as_ref().map(|r| ricevuta(r, t.accettato)),
        non_accettazione: c
            .non_accettazione
            .as_ref()
            .map(|r| ricevuta(r, t.non_accettato)),
        destinatari: c
            .destinatari
            .iter()
            .map(|d| Destinatario {
                indirizzo: d.indirizzo.clone(),
                certificato: d.certificato,
                esito: d.esito.as_str(),
                esito_nome: t.esito(d.esito),
                righe: d
                    .eventi
                    .iter()
                    .map(|e| Riga {
                        tipo: e.tipo.clone(),
                        nome: t.evento(&e.tipo),
                        data: super::data_breve(e.at),
                        link: e.ricevuta.as_ref().map(link),
                    })
                    .collect(),
            })
            .collect(),
        identificativo: c.identificativo,
        oggetto: c.oggetto,
    })
}

async fn fascicolo(
    State(state): State<WebState>,
    holder: Holder,
    Domanda(q): Domanda<IdQuery>,
) -> Result<Response, WebError> {
    let zip = state
        .engine
        .fascicolo(&holder.principal.mailbox, &q.id)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(download(
        zip,
        "application/zip",
        &format!("fascicolo-{}.zip", q.id),
    ))
}
