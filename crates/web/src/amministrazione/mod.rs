//! The administration panel (seeds 002, 004): a domain's postmaster manages its boxes, a
//! provider admin its domains and postmasters and watches the traffic.
//!
//! Every rule lives in the engine ([`engine::amministrazione`]): scope, legal log, what may
//! be deleted. The handlers here read forms, call the engine with the logged-in admin and
//! show the outcome — a password generated is shown once, on the page that answers the
//! form. A box or domain outside the admin's scope answers 404 exactly as a missing one;
//! a provider-wide page asked by a postmaster answers 403. Every POST checks the session's
//! CSRF token first.

pub mod grafico;
pub mod importazione;
pub mod testi;

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use engine::amministrazione::{AdminError, CasellaGestita, NuovaCasella, Rifiuto, leggi_csv};
use serde::Deserialize;
use store::{AdminScope, DelegateRole, MailboxKind, MailboxState};

use crate::WebState;
use crate::error::{Domanda, WebError, render};
use crate::i18n::Lang;
use crate::layout::{Page, query_escape};
use crate::session::AdminUser;
use grafico::Grafico;
use importazione::{Esito, Parametri, RigaEsito};
use testi::Testi;

/// The panel's home.
const PANNELLO: &str = "/amministrazione";

/// The most a bulk-import upload may weigh.
const MAX_CSV: usize = 5 << 20;

pub fn router() -> Router<WebState> {
    Router::new()
        .route(PANNELLO, get(pannello))
        .route("/amministrazione/dominio", get(dominio))
        .route("/amministrazione/dns", get(dns))
        .route("/amministrazione/casella/crea", post(crea_casella))
        .route("/amministrazione/casella/stato", post(cambia_stato))
        .route("/amministrazione/casella/elimina", post(elimina_casella))
        .route(
            "/amministrazione/casella/password",
            post(reimposta_password),
        )
        .route("/amministrazione/casella/tipo", post(cambia_tipo))
        .route("/amministrazione/delegato/crea", post(aggiungi_delegato))
        .route("/amministrazione/delegato/rimuovi", post(rimuovi_delegato))
        .route(
            "/amministrazione/delegato/password",
            post(reimposta_password_delegato),
        )
        .route("/amministrazione/nuovo-dominio", post(crea_dominio))
        .route(
            "/amministrazione/amministratore/crea",
            post(crea_amministratore),
        )
        .route("/amministrazione/importa", post(importa))
        .route("/amministrazione/importazione", get(importazione))
        .route("/amministrazione/importazione/csv", get(resoconto_csv))
}

impl From<AdminError> for WebError {
    fn from(e: AdminError) -> WebError {
        match e {
            AdminError::NotFound(_) => WebError::NotFound,
            AdminError::Forbidden(_) => WebError::Forbidden,
            AdminError::Refused(why) => WebError::BadRequest(why),
            AdminError::FuoriDominio(login) => WebError::LoginOutsideDomain(login),
            AdminError::Engine(e) => e.into(),
        }
    }
}

/// The domain a postmaster manages, `None` for a provider admin.
fn dominio_proprio(admin: &AdminUser) -> Option<&str> {
    match &admin.admin.scope {
        AdminScope::Provider => None,
        AdminScope::Domain(d) => Some(d),
    }
}

/// The page of `domain`'s boxes.
fn link_dominio(domain: &str) -> String {
    format!("/amministrazione/dominio?nome={}", query_escape(domain))
}

fn adesso(state: &WebState) -> i64 {
    state.engine.clock().now().timestamp().as_second()
}

/// `1.5 MB`-style sizes; 0 is `unlimited` where a quota is meant.
fn megabyte(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_048_576.0)
}

// ---------------------------------------------------------------------------------------
// The provider's home

/// One hosted domain on the provider's home.
struct VoceDominio {
    nome: String,
    link: String,
    caselle: usize,
}

/// One recent admin action.
struct Azione {
    quando: String,
    chi: String,
    cosa: String,
    su: String,
    dettaglio: String,
}

#[derive(Template)]
#[template(path = "amministrazione/fornitore.html")]
struct FornitorePage {
    page: Page,
    x: &'static Testi,
    domini: Vec<VoceDominio>,
    grafico: Grafico,
    in_coda: usize,
    azioni: Vec<Azione>,
}

/// A postmaster goes straight to its domain; a provider admin sees domains, traffic, the
/// queue and the latest admin actions.
async fn pannello(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
) -> Result<Response, WebError> {
    if let Some(domain) = dominio_proprio(&admin) {
        return Ok(Redirect::to(&link_dominio(domain)).into_response());
    }
    let store = state.engine.store();
    let mut domini = Vec::new();
    for nome in store.domains().await? {
        domini.push(VoceDominio {
            link: link_dominio(&nome),
            caselle: store.mailboxes(Some(&nome)).await?.len(),
            nome,
        });
    }
    let now = adesso(&state);
    let since = now - now.rem_euclid(3600) - 23 * 3600;
    let counts = state.engine.traffico(&admin.admin, since, now + 1).await?;
    let azioni: Vec<Azione> = store
        .events_between(now - 7 * 86_400, now + 1)
        .await?
        .into_iter()
        .rev()
        .filter(|e| e.event.kind.starts_with("admin-"))
        .take(20)
        .map(|e| Azione {
            quando: data(e.event.at),
            chi: e.event.actor.unwrap_or_default(),
            cosa: e.event.kind,
            su: e.event.sender,
            dettaglio: e.event.detail.unwrap_or_default(),
        })
        .collect();
    let html = render(&FornitorePage {
        page: Page::admin(lang, PANNELLO, &admin),
        x: Testi::of(lang),
        domini,
        grafico: grafico::grafico(&counts, now),
        in_coda: store.queued().await?.len(),
        azioni,
    })?;
    Ok(html.into_response())
}

/// `dd/mm/yyyy hh:mm` in Italian time.
fn data(at: i64) -> String {
    let tz = jiff::tz::TimeZone::get("Europe/Rome").unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_second(at)
        .map(|ts| ts.to_zoned(tz).strftime("%d/%m/%Y %H:%M").to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// A domain's boxes

#[derive(Deserialize)]
struct DominioQuery {
    nome: String,
}

/// One box of the list.
struct RigaCasella {
    indirizzo: String,
    tipo: MailboxKind,
    stato: MailboxState,
    usato: String,
    quota: Option<String>,
    quota_mb: u64,
    delegati: Vec<(String, DelegateRole)>,
}

impl From<CasellaGestita> for RigaCasella {
    fn from(c: CasellaGestita) -> RigaCasella {
        let m = c.casella;
        RigaCasella {
            usato: megabyte(m.used),
            quota: (m.quota > 0).then(|| megabyte(m.quota)),
            quota_mb: m.quota >> 20,
            indirizzo: m.address,
            tipo: m.kind,
            stato: m.state,
            delegati: c.delegati.into_iter().map(|d| (d.login, d.role)).collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "amministrazione/dominio.html")]
struct DominioPage {
    page: Page,
    x: &'static Testi,
    dominio: String,
    caselle: Vec<RigaCasella>,
    tipi: [MailboxKind; 3],
    ruoli: [DelegateRole; 3],
}

async fn dominio(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
    Domanda(q): Domanda<DominioQuery>,
) -> Result<Html<String>, WebError> {
    let domain = q.nome.trim().to_ascii_lowercase();
    let caselle = state.engine.caselle_gestite(&admin.admin, &domain).await?;
    render(&DominioPage {
        page: Page::admin(lang, &link_dominio(&domain), &admin),
        x: Testi::of(lang),
        caselle: caselle.into_iter().map(RigaCasella::from).collect(),
        dominio: domain,
        tipi: [
            MailboxKind::Standard,
            MailboxKind::Pro,
            MailboxKind::Multiutenza,
        ],
        ruoli: [
            DelegateRole::Lettura,
            DelegateRole::Invio,
            DelegateRole::Gestione,
        ],
    })
}

// ---------------------------------------------------------------------------------------
// Actions: each answers with what it did, a password shown once, a link back.

#[derive(Template)]
#[template(path = "amministrazione/esito.html")]
struct EsitoPage {
    page: Page,
    x: &'static Testi,
    messaggio: &'static str,
    soggetto: String,
    password: Option<String>,
    torna: String,
}

/// The page that answers an action on `soggetto`, back to `torna`.
fn esito(
    lang: Lang,
    admin: &AdminUser,
    messaggio: fn(&Testi) -> &'static str,
    soggetto: &str,
    password: Option<String>,
    torna: String,
) -> Result<Html<String>, WebError> {
    let x = Testi::of(lang);
    render(&EsitoPage {
        page: Page::admin(lang, PANNELLO, admin),
        x,
        messaggio: messaggio(x),
        soggetto: soggetto.to_string(),
        password,
        torna,
    })
}

/// A form field naming a wire value (`sospesa`, `pro`, `lettura`…).
fn scelta<T: std::str::FromStr>(value: &str) -> Result<T, WebError> {
    value
        .parse()
        .map_err(|_| WebError::BadRequest(format!("unknown value {value:?}")))
}

#[derive(Deserialize)]
struct CreaForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    indirizzo: String,
    #[serde(default)]
    tipo: String,
    #[serde(default)]
    stato: String,
    #[serde(default)]
    password: String,
    /// MB; empty: the type's default quota.
    #[serde(default)]
    quota: String,
}

/// A quota in MB from a form, or the type's default when empty.
fn quota(state: &WebState, field: &str, tipo: MailboxKind) -> Result<u64, WebError> {
    match field.trim() {
        "" => Ok(state.config.quota_of(tipo)),
        mb => mb
            .parse::<u64>()
            .ok()
            .and_then(|mb| mb.checked_mul(1 << 20))
            .ok_or_else(|| WebError::BadRequest(format!("{mb:?} is not a quota in MB"))),
    }
}

async fn crea_casella(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
    axum::Form(f): axum::Form<CreaForm>,
) -> Result<Html<String>, WebError> {
    admin.check_csrf(&f.csrf)?;
    let tipo = scelta(&f.tipo)?;
    let nuova = NuovaCasella {
        indirizzo: f.indirizzo.trim().to_ascii_lowercase(),
        tipo,
        quota: quota(&state, &f.quota, tipo)?,
        stato: scelta(&f.stato)?,
        password: (!f.password.is_empty()).then_some(f.password),
    };
    let generata = nuova.password.is_none();
    let password = state.engine.crea_casella(&admin.admin, &nuova).await?;
    let torna = link_dominio(&engine::domain_of(&nuova.indirizzo));
    esito(
        lang,
        &admin,
        |x| x.casella_creata,
        &nuova.indirizzo,
        generata.then_some(password),
        torna,
    )
}

#[derive(Deserialize)]
struct CasellaForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    indirizzo: String,
    #[serde(default)]
    stato: String,
    #[serde(default)]
    tipo: String,
    #[serde(default)]
    quota: String,
    /// The deletion's confirmation checkbox.
    #[serde(default)]
    conferma: String,
}

async fn cambia_stato(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
    axum::Form(f): axum::Form<CasellaForm>,
) -> Result<Html<String>, WebError> {
    admin.check_csrf(&f.csrf)?;
    let stato: MailboxState = scelta(&f.stato)?;
    state
        .engine
        .cambia_stato(&admin.admin, &f.indirizzo, stato)
        .await?;
    if stato != MailboxState::Attiva {
        state.sessions.close_mailbox(&f.indirizzo);
    }
    let torna = link_dominio(&engine::domain_of(&f.indirizzo));
    esito(
        lang,
        &admin,
        |x| x.stato_cambiato,
        &f.indirizzo,
        None,
        torna,
    )
}

async fn elimina_casella(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
    axum::Form(f): axum::Form<CasellaForm>,
) -> Result<Html<String>, WebError> {
    admin.check_csrf(&f.csrf)?;
    if f.conferma != "si" {
        return Err(WebError::BadRequest(
            "tick the confirmation to delete a mailbox".into(),
        ));
    }
    state
        .engine
        .elimina_casella(&admin.admin, &f.indirizzo)
        .await?;
    state.sessions.close_mailbox(&f.indirizzo);
    let torna = link_dominio(&engine::domain_of(&f.indirizzo));
    esito(
        lang,
        &admin,
        |x| x.casella_eliminata,
        &f.indirizzo,
        None,
        torna,
    )
}

async fn reimposta_password(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
    axum::Form(f): axum::Form<CasellaForm>,
) -> Result<Html<String>, WebError> {
    admin.check_csrf(&f.csrf)?;
    let password = state
        .engine
        .reimposta_password(&admin.admin, &f.indirizzo)
        .await?;
    state.sessions.close_mailbox(&f.indirizzo);
    let torna = link_dominio(&engine::domain_of(&f.indirizzo));
    esito(
        lang,
        &admin,
        |x| x.password_reimpostata,
        &f.indirizzo,
        Some(password),
        torna,
    )
}

async fn cambia_tipo(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
    axum::Form(f): axum::Form<CasellaForm>,
) -> Result<Html<String>, WebError> {
    admin.check_csrf(&f.csrf)?;
    let tipo = scelta(&f.tipo)?;
    let quota = quota(&state, &f.quota, tipo)?;
    state
        .engine
        .cambia_tipo_e_quota(&admin.admin, &f.indirizzo, tipo, quota)
        .await?;
    let torna = link_dominio(&engine::domain_of(&f.indirizzo));
    esito(lang, &admin, |x| x.tipo_cambiato, &f.indirizzo, None, torna)
}

#[derive(Deserialize)]
struct DelegatoForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    casella: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    ruolo: String,
}

async fn aggiungi_delegato(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
    axum::Form(f): axum::Form<DelegatoForm>,
) -> Result<Html<String>, WebError> {
    admin.check_csrf(&f.csrf)?;
    let password = state
        .engine
        .aggiungi_delegato(&admin.admin, &f.casella, &f.login, scelta(&f.ruolo)?)
        .await?;
    let torna = link_dominio(&engine::domain_of(&f.casella));
    esito(
        lang,
        &admin,
        |x| x.delegato_aggiunto,
        &f.login.trim().to_ascii_lowercase(),
        Some(password),
        torna,
    )
}

async fn rimuovi_delegato(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
    axum::Form(f): axum::Form<DelegatoForm>,
) -> Result<Html<String>, WebError> {
    admin.check_csrf(&f.csrf)?;
    state
        .engine
        .rimuovi_delegato(&admin.admin, &f.login)
        .await?;
    state.sessions.close_login(&f.login);
    let torna = link_dominio(&engine::domain_of(&f.casella));
    esito(lang, &admin, |x| x.delegato_rimosso, &f.login, None, torna)
}

async fn reimposta_password_delegato(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
    axum::Form(f): axum::Form<DelegatoForm>,
) -> Result<Html<String>, WebError> {
    admin.check_csrf(&f.csrf)?;
    let password = state
        .engine
        .reimposta_password_delegato(&admin.admin, &f.login)
        .await?;
    state.sessions.close_login(&f.login);
    let torna = link_dominio(&engine::domain_of(&f.casella));
    esito(
        lang,
        &admin,
        |x| x.password_reimpostata,
        &f.login,
        Some(password),
        torna,
    )
}

// ---------------------------------------------------------------------------------------
// Provider-wide actions

#[derive(Deserialize)]
struct FornitoreForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    dominio: String,
    #[serde(default)]
    login: String,
    /// `fornitore`, or `dominio` (the admin of `dominio`).
    #[serde(default)]
    ambito: String,
}

async fn crea_dominio(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
    axum::Form(f): axum::Form<FornitoreForm>,
) -> Result<Html<String>, WebError> {
    admin.check_csrf(&f.csrf)?;
    let domain = f.dominio.trim().to_ascii_lowercase();
    state.engine.crea_dominio(&admin.admin, &domain).await?;
    esito(
        lang,
        &admin,
        |x| x.dominio_aggiunto,
        &domain,
        None,
        PANNELLO.into(),
    )
}

/// A provider admin, or a domain's admin: `postmaster@<domain>` unless a login is given.
async fn crea_amministratore(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
    axum::Form(f): axum::Form<FornitoreForm>,
) -> Result<Html<String>, WebError> {
    admin.check_csrf(&f.csrf)?;
    let domain = f.dominio.trim().to_ascii_lowercase();
    let (scope, login) = match f.ambito.as_str() {
        "fornitore" => (AdminScope::Provider, f.login.trim().to_string()),
        "dominio" if f.login.trim().is_empty() => (
            AdminScope::Domain(domain.clone()),
            format!("postmaster@{domain}"),
        ),
        "dominio" => (AdminScope::Domain(domain), f.login.trim().to_string()),
        other => return Err(WebError::BadRequest(format!("unknown scope {other:?}"))),
    };
    let password = state
        .engine
        .crea_amministratore(&admin.admin, &login, &scope)
        .await?;
    esito(
        lang,
        &admin,
        |x| x.amministratore_creato,
        &login.to_ascii_lowercase(),
        Some(password),
        PANNELLO.into(),
    )
}

// ---------------------------------------------------------------------------------------
// DNS check

#[derive(Template)]
#[template(path = "amministrazione/dns.html")]
struct DnsPage {
    page: Page,
    x: &'static Testi,
    dominio: String,
    torna: String,
    /// `None`: no resolver; `Some(Err)`: the lookup failed.
    esito: Option<Result<Vec<String>, String>>,
    nostro: bool,
    attesi: Vec<String>,
}

/// Looks up the domain's MX and says whether it points at one of the provider's hosts.
async fn dns(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
    Domanda(q): Domanda<DominioQuery>,
) -> Result<Html<String>, WebError> {
    let domain = q.nome.trim().to_ascii_lowercase();
    // Scope first: the check is for the domains the admin manages.
    state.engine.dominio_gestito(&admin.admin, &domain).await?;
    let attesi: Vec<String> = state
        .config
        .provider_hosts
        .iter()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let esito = match &state.mx {
        Some(mx) => Some(mx.mx(&domain).await),
        None => None,
    };
    let nostro = matches!(&esito, Some(Ok(hosts)) if !hosts.is_empty() && hosts.iter().all(|h| attesi.contains(h)));
    render(&DnsPage {
        page: Page::admin(lang, &link_dominio(&domain), &admin),
        x: Testi::of(lang),
        torna: link_dominio(&domain),
        dominio: domain,
        esito,
        nostro,
        attesi,
    })
}

// ---------------------------------------------------------------------------------------
// Bulk import

/// Reads the upload (fields `csrf`, `dominio`, `giorni`, `tipo`, `file`), checks the CSRF
/// token before anything else is used, starts the job and goes to its progress page.
async fn importa(
    State(state): State<WebState>,
    admin: AdminUser,
    mut form: Multipart,
) -> Result<Redirect, WebError> {
    let bad = |e: axum::extract::multipart::MultipartError| WebError::BadRequest(e.body_text());
    let (mut csrf, mut giorni, mut tipo, mut file) =
        (String::new(), String::new(), String::new(), None);
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let bytes = field.bytes().await.map_err(bad)?;
            if bytes.len() > MAX_CSV {
                return Err(WebError::BadRequest("the file is too large".into()));
            }
            file = Some(bytes);
            continue;
        }
        let value = field.text().await.map_err(bad)?;
        match name.as_str() {
            "csrf" => csrf = value,
            "giorni" => giorni = value,
            "tipo" => tipo = value,
            _ => {}
        }
    }
    admin.check_csrf(&csrf)?;
    let file = file.ok_or_else(|| WebError::BadRequest("no file uploaded".into()))?;
    let text = String::from_utf8(file.to_vec())
        .map_err(|_| WebError::BadRequest("the file is not UTF-8 text".into()))?;
    let righe = leggi_csv(&text).map_err(WebError::BadRequest)?;
    let giorni: i64 = match giorni.trim() {
        "" => 60,
        g => g
            .parse()
            .ok()
            .filter(|g| (1..=3650).contains(g))
            .ok_or_else(|| WebError::BadRequest(format!("{g:?} is not a number of days")))?,
    };
    let tipo: MailboxKind = if tipo.is_empty() {
        MailboxKind::Standard
    } else {
        scelta(&tipo)?
    };
    let parametri = Parametri {
        admin: admin.admin.clone(),
        tipo,
        quota: state.config.quota_of(tipo),
        scadenza: adesso(&state) + giorni * 86_400,
    };
    let id = state
        .imports
        .avvia(state.engine.clone(), &admin.session_id, righe, parametri);
    Ok(Redirect::to(&format!(
        "/amministrazione/importazione?id={id}"
    )))
}

#[derive(Deserialize)]
struct ImportazioneQuery {
    id: String,
}

/// One row of the report as shown.
struct VoceResoconto {
    riga: usize,
    indirizzo: String,
    creata: bool,
    /// The initial password, or why the row was refused.
    testo: String,
}

fn voce(x: &Testi, r: RigaEsito) -> VoceResoconto {
    let (creata, testo) = match r.esito {
        Esito::Creata(p) => (true, p),
        Esito::Rifiutata(why) => (false, motivo(x, &why)),
        Esito::Errore => (false, "internal error".to_string()),
    };
    VoceResoconto {
        riga: r.riga,
        indirizzo: r.indirizzo,
        creata,
        testo,
    }
}

fn motivo(x: &Testi, why: &Rifiuto) -> String {
    match why {
        Rifiuto::CampoMancante(col) => format!("{}: {col}", x.rifiuto_campo),
        Rifiuto::IndirizzoNonValido => x.rifiuto_indirizzo.into(),
        Rifiuto::AltroDominio => x.rifiuto_dominio.into(),
        Rifiuto::GiaEsistente => x.rifiuto_esiste.into(),
    }
}

#[derive(Template)]
#[template(path = "amministrazione/importazione.html")]
struct ImportazionePage {
    page: Page,
    x: &'static Testi,
    id: String,
    finita: bool,
    fatte: usize,
    totale: usize,
    voci: Vec<VoceResoconto>,
}

async fn importazione(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
    Domanda(q): Domanda<ImportazioneQuery>,
) -> Result<Html<String>, WebError> {
    let job = state
        .imports
        .di(&q.id, &admin.session_id)
        .ok_or(WebError::NotFound)?;
    let x = Testi::of(lang);
    let finita = job.finita();
    render(&ImportazionePage {
        page: Page::admin(
            lang,
            &format!("/amministrazione/importazione?id={}", q.id),
            &admin,
        ),
        x,
        finita,
        fatte: job.fatte(),
        totale: job.totale,
        voci: if finita {
            job.esiti().into_iter().map(|r| voce(x, r)).collect()
        } else {
            Vec::new()
        },
        id: q.id,
    })
}

/// The report as CSV (`riga;indirizzo;esito;password o motivo`), once: the job is
/// forgotten afterwards.
async fn resoconto_csv(
    State(state): State<WebState>,
    admin: AdminUser,
    lang: Lang,
    Domanda(q): Domanda<ImportazioneQuery>,
) -> Result<Response, WebError> {
    let job = state
        .imports
        .di(&q.id, &admin.session_id)
        .filter(|j| j.finita())
        .ok_or(WebError::NotFound)?;
    let x = Testi::of(lang);
    let mut csv = format!(
        "{};{};{};{}\r\n",
        x.riga, x.indirizzo, x.esito, x.password_iniziale
    );
    for r in job.esiti() {
        let v = voce(x, r);
        let esito = if v.creata { x.creata } else { x.rifiutata };
        csv.push_str(&format!(
            "{};{};{esito};{}\r\n",
            v.riga,
            campo_csv(&v.indirizzo),
            campo_csv(&v.testo)
        ));
    }
    state.imports.dimentica(&q.id);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"resoconto-importazione.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        csv,
    )
        .into_response())
}

/// A CSV field, quoted when it holds the separator, a quote or a line break; a leading
/// `=`, `+`, `-` or `@` (a formula to a spreadsheet) is neutralized with a `'`.
fn campo_csv(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([';', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}
