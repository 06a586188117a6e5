//! Reading mail (issue 6): the folder tree, the message list of a folder with a badge for
//! what each message is in PEC terms, and the message view — a busta under its
//! certification banner, a ricevuta with the facts of its daticert, anything else marked
//! as not certified — with the raw `.eml` and the attachments to download.
//!
//! Every route works on the logged-in principal's box only: a folder or UID that the box
//! does not have is a 404, whoever else may have it. Reading a message marks it `\Seen`
//! and, in protocol-system mode, lets the engine take it out of INBOX
//! ([`engine::Engine::mark_read`]).

pub mod cartelle;
pub mod certificazione;
pub mod contenuto;
pub mod cronologia;
pub mod sanitize;
pub mod scrivi;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use pec::{Errore, Kind};
use serde::Deserialize;
use store::{FlagChange, SENT, StoredMessage};

use crate::WebState;
use crate::error::{Domanda, WebError, render};
use crate::i18n::{Catalog, Lang};
use crate::layout::{Page, query_escape};
use crate::session::Holder;
use cartelle::Voce;
use certificazione::Firma;
use contenuto::Contenuto;

/// Messages per page of a folder's list.
pub const PER_PAGINA: usize = 50;

pub fn router() -> Router<WebState> {
    Router::new()
        .route(
            "/posta",
            get(|| async { Redirect::to("/posta/cartella?nome=INBOX") }),
        )
        .route("/posta/cartella", get(cartella))
        .route("/posta/messaggio", get(messaggio))
        .route("/posta/eml", get(eml))
        .route("/posta/allegato", get(allegato))
        .merge(scrivi::router())
        .merge(cronologia::router())
}

/// What a message is, as its badge says: the CSS class, the label and the PEC kind slug
/// (`ordinaria`/`inviata` for messages that are not PEC).
pub struct Badge {
    pub classe: &'static str,
    pub etichetta: String,
    pub tipo: String,
}

impl Badge {
    fn of(t: &Catalog, m: &StoredMessage) -> Badge {
        let (classe, etichetta, tipo) = match (m.kind.as_deref(), &m.identificativo) {
            (Some("posta-certificata"), _) => ("pec", t.badge_pec, "posta-certificata"),
            (Some("anomalia"), _) => ("anomalia", t.badge_anomalia, "anomalia"),
            (Some(slug), _) => ("ricevuta", t.kind_name(slug), slug),
            // The copy of what the holder submitted, filed in Sent by the punto di accesso.
            (None, Some(_)) => ("inviata", t.badge_sent, "inviata"),
            (None, None) => ("ordinaria", t.badge_ordinary, "ordinaria"),
        };
        Badge {
            classe,
            etichetta: etichetta.to_string(),
            tipo: tipo.to_string(),
        }
    }
}

/// The box's folder tree with `corrente` marked; 404 when the box has no such folder.
async fn albero(
    state: &WebState,
    holder: &Holder,
    t: &Catalog,
    corrente: &str,
) -> Result<Vec<Voce>, WebError> {
    let folders = state
        .engine
        .store()
        .folder_list(&holder.principal.mailbox)
        .await?;
    if !folders.iter().any(|f| f.name == corrente) {
        return Err(WebError::NotFound);
    }
    Ok(cartelle::albero(t, &folders, corrente))
}

/// Message `uid` of `folder` in the principal's box, or 404.
async fn trova(
    state: &WebState,
    holder: &Holder,
    folder: &str,
    uid: u32,
) -> Result<StoredMessage, WebError> {
    state
        .engine
        .store()
        .message(&holder.principal.mailbox, folder, uid)
        .await?
        .ok_or(WebError::NotFound)
}

/// `dd/mm/yyyy hh:mm` in Italian time.
fn data_breve(at: i64) -> String {
    let tz = jiff::tz::TimeZone::get("Europe/Rome").unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_second(at)
        .map(|ts| ts.to_zoned(tz).strftime("%d/%m/%Y %H:%M").to_string())
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct CartellaQuery {
    nome: String,
    pagina: Option<usize>,
}

/// One row of a message list.
struct Riga {
    uid: u32,
    link: String,
    badge: Badge,
    data: String,
    mittente: String,
    oggetto: String,
    letto: bool,
}

#[derive(Template)]
#[template(path = "cartella.html")]
struct CartellaPage {
    page: Page,
    cartelle: Vec<Voce>,
    nome: String,
    righe: Vec<Riga>,
    pagina: usize,
    pagine: usize,
    precedente: Option<String>,
    successiva: Option<String>,
}

async fn cartella(
    State(state): State<WebState>,
    holder: Holder,
    lang: Lang,
    Domanda(q): Domanda<CartellaQuery>,
) -> Result<Html<String>, WebError> {
    let t = lang.catalog();
    let cartelle = albero(&state, &holder, t, &q.nome).await?;
    let store = state.engine.store();
    let mut messages = store.messages(&holder.principal.mailbox, &q.nome).await?;
    messages.reverse();
    let pagine = messages.len().div_ceil(PER_PAGINA).max(1);
    let pagina = q.pagina.unwrap_or(1).clamp(1, pagine);
    let link_pagina =
        |p: usize| format!("/posta/cartella?nome={}&pagina={p}", query_escape(&q.nome));
    let mut righe = Vec::new();
    for m in messages
        .iter()
        .skip((pagina - 1) * PER_PAGINA)
        .take(PER_PAGINA)
    {
        let raw = store.get(&m.blob).await?;
        let (mittente, oggetto) = contenuto::intestazione(&raw);
        righe.push(Riga {
            uid: m.uid,
            link: format!(
                "/posta/messaggio?cartella={}&uid={}",
                query_escape(&q.nome),
                m.uid
            ),
            badge: Badge::of(t, m),
            data: data_breve(m.received_at),
            mittente,
            oggetto: if oggetto.is_empty() {
                t.no_subject.to_string()
            } else {
                oggetto
            },
            letto: m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")),
        });
    }
    let here = link_pagina(pagina);
    render(&CartellaPage {
        page: Page::new(lang, &here, Some(&holder)),
        cartelle,
        nome: q.nome.clone(),
        righe,
        pagina,
        pagine,
        precedente: (pagina > 1).then(|| link_pagina(pagina - 1)),
        successiva: (pagina < pagine).then(|| link_pagina(pagina + 1)),
    })
}

#[derive(Deserialize)]
struct MessaggioQuery {
    cartella: String,
    uid: u32,
}

/// The certification banner of a busta: the facts of its daticert.
struct Busta {
    mittente: String,
    data: String,
    identificativo: String,
}

/// The facts of a ricevuta or avviso.
struct Ricevuta {
    nome: String,
    identificativo: String,
    destinatari: String,
    data: String,
    errore: Option<String>,
    /// The original in Sent, when the box has it.
    originale: Option<String>,
}

#[derive(Template)]
#[template(path = "messaggio.html")]
struct MessaggioPage {
    page: Page,
    cartelle: Vec<Voce>,
    cartella_link: String,
    badge: Badge,
    busta: Option<Busta>,
    ricevuta: Option<Ricevuta>,
    firma: Option<Firma>,
    anomalia: bool,
    /// The identificativo of a copy in Sent of what the holder submitted.
    inviata: Option<String>,
    contenuto: Option<Contenuto>,
    eml_link: String,
    allegato_link: String,
}

async fn messaggio(
    State(state): State<WebState>,
    holder: Holder,
    lang: Lang,
    Domanda(q): Domanda<MessaggioQuery>,
) -> Result<Html<String>, WebError> {
    let t = lang.catalog();
    let cartelle = albero(&state, &holder, t, &q.cartella).await?;
    let m = trova(&state, &holder, &q.cartella, q.uid).await?;
    let store = state.engine.store();
    let raw = store.get(&m.blob).await?;
    let classified = pec::classify(&raw).ok();
    let kind = classified.as_ref().and_then(|c| c.kind);
    let daticert = classified.as_ref().and_then(|c| c.daticert.as_ref());
    let data = |d: &pec::Daticert| d.data.strftime("%d/%m/%Y %H:%M:%S (%:z)").to_string();
    let busta = match (kind, daticert) {
        (Some(Kind::PostaCertificata), Some(d)) => Some(Busta {
            mittente: d.mittente.clone(),
            data: data(d),
            identificativo: d.identificativo.clone(),
        }),
        _ => None,
    };
    let ricevuta = match (kind, daticert) {
        (Some(k), Some(d)) if !matches!(k, Kind::PostaCertificata | Kind::Anomalia) => {
            let originale = store
                .messages(&holder.principal.mailbox, SENT)
                .await?
                .into_iter()
                .find(|s| s.identificativo.as_deref() == Some(d.identificativo.as_str()))
                .map(|s| format!("/posta/messaggio?cartella={SENT}&uid={}", s.uid));
            let destinatari = match &d.consegna {
                Some(c) => c.clone(),
                None => d
                    .destinatari
                    .iter()
                    .map(|x| x.indirizzo.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            Some(Ricevuta {
                nome: t.kind_name(k.slug()).to_string(),
                identificativo: d.identificativo.clone(),
                destinatari,
                data: data(d),
                errore: d.errore_esteso.clone().or_else(|| {
                    (d.errore != Errore::Nessuno).then(|| d.errore.as_str().to_string())
                }),
                originale,
            })
        }
        _ => None,
    };
    // A busta or a ricevuta: the banner says whether the gestore's signature holds.
    let firma = (busta.is_some() || ricevuta.is_some())
        .then(|| certificazione::verifica(&state.engine, &raw));
    let contenuto = contenuto::leggi(contenuto::mostrato(&raw, classified.as_ref()));
    segna_letto(&state, &holder, &m).await?;
    let sel = format!("cartella={}&uid={}", query_escape(&q.cartella), q.uid);
    render(&MessaggioPage {
        page: Page::new(lang, &format!("/posta/messaggio?{sel}"), Some(&holder)),
        cartelle,
        cartella_link: format!("/posta/cartella?nome={}", query_escape(&q.cartella)),
        badge: Badge::of(t, &m),
        busta,
        ricevuta,
        firma,
        anomalia: kind == Some(Kind::Anomalia),
        inviata: m.identificativo.clone().filter(|_| m.kind.is_none()),
        contenuto,
        eml_link: format!("/posta/eml?{sel}"),
        allegato_link: format!("/posta/allegato?{sel}&n="),
    })
}

/// Marks a message read, as an IMAP client reading it would.
async fn segna_letto(state: &WebState, holder: &Holder, m: &StoredMessage) -> Result<(), WebError> {
    if m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")) {
        return Ok(());
    }
    let who = &holder.principal;
    state
        .engine
        .store()
        .store_flags(
            &who.mailbox,
            &m.folder,
            &[m.uid],
            FlagChange::Add,
            &["\\Seen".to_string()],
            None,
        )
        .await?;
    state.engine.mark_read(who, &m.folder, &[m.uid]).await?;
    state.engine.mailbox_changed(&who.mailbox);
    Ok(())
}

/// The message exactly as stored.
async fn eml(
    State(state): State<WebState>,
    holder: Holder,
    Domanda(q): Domanda<MessaggioQuery>,
) -> Result<Response, WebError> {
    let m = trova(&state, &holder, &q.cartella, q.uid).await?;
    let raw = state.engine.store().get(&m.blob).await?;
    let name = match &m.identificativo {
        Some(id) => format!("{}.eml", engine::nome_file(id)),
        None => format!("messaggio-{}.eml", m.uid),
    };
    Ok(download(raw, "message/rfc822", &name))
}

#[derive(Deserialize)]
struct AllegatoQuery {
    cartella: String,
    uid: u32,
    n: usize,
}

/// Attachment `n` of what the message view shows (the original, for a busta).
async fn allegato(
    State(state): State<WebState>,
    holder: Holder,
    Domanda(q): Domanda<AllegatoQuery>,
) -> Result<Response, WebError> {
    let m = trova(&state, &holder, &q.cartella, q.uid).await?;
    let raw = state.engine.store().get(&m.blob).await?;
    let classified = pec::classify(&raw).ok();
    let (nome, _, bytes) = contenuto::allegato(contenuto::mostrato(&raw, classified.as_ref()), q.n)
        .ok_or(WebError::NotFound)?;
    // Never rendered by the browser, whatever type the sender declared.
    Ok(download(bytes, "application/octet-stream", &nome))
}

/// A download response: `name` goes into `Content-Disposition` both as a safe ASCII
/// `filename` and, percent-encoded, as `filename*`. The REST API's downloads use it too.
pub(crate) fn download(bytes: Vec<u8>, content_type: &'static str, name: &str) -> Response {
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        engine::nome_file(name),
        query_escape(name)
    );
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}
