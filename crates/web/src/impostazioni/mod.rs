//! The holder's own settings (seeds 000, 002, 004), the activation of a box created in bulk
//! (seed 003) and password recovery through the holder's ordinary address.
//!
//! `/impostazioni` is one page with one form per section, each posting to
//! `/impostazioni/<section>`: the password (every login changes its own: the holder's, a
//! delegate's), then the settings of the box, which the holder and a `gestione` delegate may
//! change and other delegates only see — what happens to ordinary mail, the notices of new
//! PEC, the copy without legal value, the daily report, the recovery address and the
//! holder's details. A form saved goes back to the page with a confirmation (post, redirect,
//! get); a form refused comes back (422) with what was typed and a message by each field in
//! the page's language. The engine acts on what is stored; these are the holder's own
//! choices, so they go to the process log, not the legal log.
//!
//! Activation is in [`attivazione`], recovery in [`recupero`]; the strings of all three are
//! in [`testi`].

pub mod attivazione;
pub mod recupero;
pub mod testi;

use std::net::IpAddr;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use engine::riga::Riga;
use engine::settings::{PasswordPolicy, SettingsError};
use serde::Deserialize;
use store::{HolderProfile, NOTICE_ADDRESSES, NewPecNotice, OrdinaryMail, StoreError};

use crate::WebState;
use crate::auth::client_ip;
use crate::error::{Domanda, WebError, render};
use crate::https::ClientAddr;
use crate::i18n::Lang;
use crate::layout::Page;
use crate::session::{Holder, SESSION_COOKIE, Who, set_cookie};
use testi::Testi;

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/impostazioni", get(mostra))
        .route("/impostazioni/{sezione}", post(salva))
        .merge(attivazione::router())
        .merge(recupero::router())
}

/// The sections of the settings page, each with its own form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sezione {
    Password,
    Ordinaria,
    Avvisi,
    Copia,
    Resoconto,
    Recupero,
    Profilo,
}

impl Sezione {
    const TUTTE: [Sezione; 7] = [
        Sezione::Password,
        Sezione::Ordinaria,
        Sezione::Avvisi,
        Sezione::Copia,
        Sezione::Resoconto,
        Sezione::Recupero,
        Sezione::Profilo,
    ];

    /// The section's name in its URL, its anchor and its `data-testid`s.
    fn slug(self) -> &'static str {
        match self {
            Sezione::Password => "password",
            Sezione::Ordinaria => "ordinaria",
            Sezione::Avvisi => "avvisi",
            Sezione::Copia => "copia",
            Sezione::Resoconto => "resoconto",
            Sezione::Recupero => "recupero",
            Sezione::Profilo => "profilo",
        }
    }

    fn from_slug(slug: &str) -> Option<Sezione> {
        Sezione::TUTTE.into_iter().find(|s| s.slug() == slug)
    }
}

/// Every field of every form of the page: what a form posts (the other sections' fields
/// missing) and what the page shows in its fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Modulo {
    /// Missing is refused like wrong (403), not as a malformed form.
    csrf: String,
    attuale: String,
    nuova: String,
    ripeti: String,
    /// An [`OrdinaryMail`] name.
    politica: String,
    inoltra_a: String,
    cartella: String,
    /// Comma-separated addresses.
    avvisi_a: String,
    avvisi_da: String,
    copia: String,
    /// A checkbox: present when ticked.
    resoconto: Option<String>,
    recupero: String,
    nome: String,
    cognome: String,
    email: String,
}

impl Modulo {
    /// What the box has stored, as the page's fields show it; `NotFound` for a box gone.
    async fn salvato(state: &WebState, mailbox: &str) -> Result<Modulo, WebError> {
        let store = state.engine.store();
        let m = store.mailbox(mailbox).await?.ok_or(WebError::NotFound)?;
        let s = store
            .holder_settings(mailbox)
            .await?
            .ok_or(WebError::NotFound)?;
        let target = s.ordinary_mail_target.unwrap_or_default();
        let profile = s.profile.unwrap_or(HolderProfile {
            nome: String::new(),
            cognome: String::new(),
            email: String::new(),
        });
        Ok(Modulo {
            politica: m.ordinary_mail.as_str().to_string(),
            inoltra_a: if m.ordinary_mail == OrdinaryMail::Inoltra {
                target.clone()
            } else {
                String::new()
            },
            cartella: if m.ordinary_mail == OrdinaryMail::Cartella {
                target
            } else {
                String::new()
            },
            avvisi_a: s.notice.to.join(", "),
            avvisi_da: s.notice.only_from.join(", "),
            copia: s.forward_copy.unwrap_or_default(),
            resoconto: s.daily_report.then(String::new),
            recupero: s.recovery_address.unwrap_or_default(),
            nome: profile.nome,
            cognome: profile.cognome,
            email: profile.email,
            ..Modulo::default()
        })
    }

    /// Takes what was typed in `sezione`'s form from `posted`, keeping the rest.
    fn riprendi(&mut self, sezione: Sezione, posted: Modulo) {
        match sezione {
            // Passwords are never shown back.
            Sezione::Password => {}
            Sezione::Ordinaria => {
                self.politica = posted.politica;
                self.inoltra_a = posted.inoltra_a;
                self.cartella = posted.cartella;
            }
            Sezione::Avvisi => {
                self.avvisi_a = posted.avvisi_a;
                self.avvisi_da = posted.avvisi_da;
            }
            Sezione::Copia => self.copia = posted.copia,
            Sezione::Resoconto => self.resoconto = posted.resoconto,
            Sezione::Recupero => self.recupero = posted.recupero,
            Sezione::Profilo => {
                self.nome = posted.nome;
                self.cognome = posted.cognome;
                self.email = posted.email;
            }
        }
    }
}

/// A message about one field of a form.
#[derive(Debug)]
pub struct Errore {
    /// The field's `name`.
    pub campo: &'static str,
    pub testo: String,
}

impl Errore {
    pub fn new(campo: &'static str, testo: impl Into<String>) -> Errore {
        Errore {
            campo,
            testo: testo.into(),
        }
    }
}

/// What is wrong with a form, as its page shows it: the messages by each field.
#[derive(Debug, Default)]
pub struct Errori(Vec<Errore>);

impl Errori {
    /// The messages about field `campo`.
    pub fn di(&self, campo: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|e| e.campo == campo)
            .map(|e| e.testo.as_str())
            .collect()
    }
}

impl From<Vec<Errore>> for Errori {
    fn from(errori: Vec<Errore>) -> Errori {
        Errori(errori)
    }
}

/// The refusal of a new password typed twice: the two differ, or the engine found it
/// against the policy (every rule broken, on the `nuova` field); `Err` for anything else.
pub fn rifiuto_password(t: &Testi, e: SettingsError) -> Result<Vec<Errore>, SettingsError> {
    match e {
        SettingsError::Policy(violations) => Ok(violations
            .into_iter()
            .map(|v| Errore::new("nuova", t.violazione(v)))
            .collect()),
        other => Err(other),
    }
}

/// The message when the new password was not typed the same twice.
pub fn ripetuta(t: &Testi, nuova: &str, ripeti: &str) -> Option<Errore> {
    (nuova != ripeti).then(|| Errore::new("ripeti", t.non_coincidono))
}

#[derive(Template)]
#[template(path = "impostazioni/impostazioni.html")]
struct ImpostazioniPage {
    page: Page,
    t: &'static Testi,
    /// The holder or a `gestione` delegate: the box's settings can be changed.
    puo_gestire: bool,
    /// The section just saved.
    fatto: Option<&'static str>,
    regole: Vec<String>,
    v: Modulo,
    errori: Errori,
    politiche: Vec<(&'static str, &'static str)>,
}

fn pagina(
    lang: Lang,
    holder: &Holder,
    policy: &PasswordPolicy,
    fatto: Option<&'static str>,
    v: Modulo,
    errori: Vec<Errore>,
) -> ImpostazioniPage {
    let t = Testi::of(lang);
    ImpostazioniPage {
        page: Page::new(lang, "/impostazioni", Some(holder)),
        t,
        puo_gestire: holder.principal.may_manage(),
        fatto,
        regole: t.regole(policy),
        v,
        errori: errori.into(),
        politiche: vec![
            (OrdinaryMail::Rifiuta.as_str(), t.ordinaria_rifiuta),
            (OrdinaryMail::Inoltra.as_str(), t.ordinaria_inoltra),
            (OrdinaryMail::Anomalia.as_str(), t.ordinaria_anomalia),
            (OrdinaryMail::Cartella.as_str(), t.ordinaria_cartella),
        ],
    }
}

#[derive(Deserialize)]
struct Fatto {
    fatto: Option<String>,
}

async fn mostra(
    State(state): State<WebState>,
    holder: Holder,
    lang: Lang,
    Domanda(q): Domanda<Fatto>,
) -> Result<Response, WebError> {
    let v = Modulo::salvato(&state, &holder.principal.mailbox).await?;
    let fatto = q.fatto.as_deref().and_then(Sezione::from_slug);
    let page = pagina(
        lang,
        &holder,
        &state.config.policy,
        fatto.map(Sezione::slug),
        v,
        Vec::new(),
    );
    Ok(render(&page)?.into_response())
}

async fn salva(
    State(state): State<WebState>,
    holder: Holder,
    lang: Lang,
    client: Option<Extension<ClientAddr>>,
    Path(sezione): Path<String>,
    Form(modulo): Form<Modulo>,
) -> Result<Response, WebError> {
    let sezione = Sezione::from_slug(&sezione).ok_or(WebError::NotFound)?;
    holder.check_csrf(&modulo.csrf)?;
    let who = &holder.principal;
    if sezione != Sezione::Password && !who.may_manage() {
        return Err(WebError::Forbidden);
    }
    let t = Testi::of(lang);
    let store = state.engine.store();
    let mailbox = who.mailbox.as_str();
    let errori = match sezione {
        Sezione::Password => {
            cambia_password(&state, &holder, client_ip(client), t, &modulo).await?
        }
        Sezione::Ordinaria => salva_ordinaria(&state, mailbox, t, &modulo).await?,
        Sezione::Avvisi => salva_avvisi(&state, mailbox, t, &modulo).await?,
        Sezione::Copia => {
            let r = store.set_forward_copy(mailbox, facoltativo(&modulo.copia));
            indirizzo_rifiutato(r.await, "copia", t)?
        }
        Sezione::Recupero => {
            let r = store.set_recovery_address(mailbox, facoltativo(&modulo.recupero));
            indirizzo_rifiutato(r.await, "recupero", t)?
        }
        Sezione::Resoconto => {
            let on = modulo.resoconto.is_some();
            store.set_daily_report(mailbox, on).await?;
            Vec::new()
        }
        Sezione::Profilo => salva_profilo(&state, mailbox, t, &modulo).await?,
    };
    if errori.is_empty() {
        tracing::info!(
            mailbox = %who.mailbox,
            login = %Riga(&who.login),
            sezione = sezione.slug(),
            "impostazione della casella cambiata dal web"
        );
        let location = format!("/impostazioni?fatto={0}#{0}", sezione.slug());
        if sezione == Sezione::Password {
            // Every other session of this login ends; this browser goes on in a new one, which
            // holds the new password's credential (Engine::rinnova ends the ones that do not).
            state.sessions.close_login(&who.login);
            let fresh = match state.engine.login(&who.login, &modulo.nuova).await? {
                Ok(p) => p,
                Err(_) => who.clone(),
            };
            let (id, _) = state.sessions.open(Who::Casella(fresh));
            return Ok((
                StatusCode::SEE_OTHER,
                AppendHeaders([
                    (header::LOCATION, location),
                    (header::SET_COOKIE, set_cookie(SESSION_COOKIE, &id, None)),
                ]),
            )
                .into_response());
        }
        return Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response());
    }
    let mut v = Modulo::salvato(&state, &who.mailbox).await?;
    v.riprendi(sezione, modulo);
    let page = pagina(lang, &holder, &state.config.policy, None, v, errori);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

/// Changes the password of whoever is logged in; what is wrong with the form, if anything.
/// Wrong current passwords count towards the login throttle, so a session left open does
/// not let anyone guess the password.
async fn cambia_password(
    state: &WebState,
    holder: &Holder,
    ip: IpAddr,
    t: &Testi,
    m: &Modulo,
) -> Result<Vec<Errore>, WebError> {
    let login = &holder.principal.login;
    if state.throttle.locked(login, ip) {
        return Ok(vec![Errore::new("attuale", t.troppi_tentativi)]);
    }
    if let Some(e) = ripetuta(t, &m.nuova, &m.ripeti) {
        return Ok(vec![e]);
    }
    let changed = state
        .engine
        .change_password(
            &holder.principal,
            &m.attuale,
            &m.nuova,
            &state.config.policy,
        )
        .await;
    match changed {
        Ok(()) => Ok(Vec::new()),
        Err(SettingsError::BadCredentials) => {
            state.throttle.failed(login, ip);
            tracing::info!(login = %Riga(login), %ip, "cambio password: password attuale errata");
            Ok(vec![Errore::new("attuale", t.attuale_errata)])
        }
        Err(e) => rifiuto_password(t, e).map_err(|e| WebError::Internal(e.into())),
    }
}

/// Stores the ordinary-mail policy and its target; what is wrong with them, if anything.
async fn salva_ordinaria(
    state: &WebState,
    mailbox: &str,
    t: &Testi,
    m: &Modulo,
) -> Result<Vec<Errore>, WebError> {
    let Ok(policy) = m.politica.parse::<OrdinaryMail>() else {
        return Ok(vec![Errore::new("politica", t.politica_sconosciuta)]);
    };
    let (campo, target) = match policy {
        OrdinaryMail::Inoltra => ("inoltra_a", Some(m.inoltra_a.trim())),
        OrdinaryMail::Cartella => ("cartella", Some(m.cartella.trim())),
        OrdinaryMail::Rifiuta | OrdinaryMail::Anomalia => ("politica", None),
    };
    if target == Some("") {
        return Ok(vec![Errore::new(campo, t.campo_vuoto)]);
    }
    let stored = state
        .engine
        .store()
        .set_ordinary_mail_policy(mailbox, policy, target)
        .await;
    let testo = match stored {
        Ok(()) => return Ok(Vec::new()),
        Err(StoreError::InvalidSetting(_)) => t.indirizzo_non_valido,
        Err(StoreError::InvalidName(_)) => t.cartella_non_valida,
        Err(StoreError::Immutable(_)) => t.cartella_archivio,
        Err(e) => return Err(e.into()),
    };
    Ok(vec![Errore::new(campo, testo)])
}

/// Stores the notices of new PEC; what is wrong with the two lists, if anything.
async fn salva_avvisi(
    state: &WebState,
    mailbox: &str,
    t: &Testi,
    m: &Modulo,
) -> Result<Vec<Errore>, WebError> {
    let to = elenco(&m.avvisi_a);
    let only_from = elenco(&m.avvisi_da);
    let mut errori = Vec::new();
    for (campo, list) in [("avvisi_a", &to), ("avvisi_da", &only_from)] {
        if list.len() > NOTICE_ADDRESSES {
            let testo = t
                .troppi_indirizzi
                .replace("{n}", &NOTICE_ADDRESSES.to_string());
            errori.push(Errore::new(campo, testo));
        }
    }
    if to.is_empty() && !only_from.is_empty() {
        errori.push(Errore::new("avvisi_a", t.mittenti_senza_destinatari));
    }
    if !errori.is_empty() {
        return Ok(errori);
    }
    let notice = NewPecNotice { to, only_from };
    match state
        .engine
        .store()
        .set_new_pec_notice(mailbox, &notice)
        .await
    {
        Ok(()) => Ok(Vec::new()),
        // The store names the address it refuses: the message goes by its list.
        Err(StoreError::InvalidSetting(why)) => {
            let named = |a: &String| why.contains(&format!("{a:?}"));
            let campo = if notice.only_from.iter().any(named) {
                "avvisi_da"
            } else {
                "avvisi_a"
            };
            Ok(vec![Errore::new(campo, t.indirizzo_non_valido)])
        }
        Err(e) => Err(e.into()),
    }
}

/// Stores the holder's details; what is wrong with them, if anything.
async fn salva_profilo(
    state: &WebState,
    mailbox: &str,
    t: &Testi,
    m: &Modulo,
) -> Result<Vec<Errore>, WebError> {
    let errori = profilo_incompleto(t, &m.nome, &m.cognome);
    if !errori.is_empty() {
        return Ok(errori);
    }
    let profile = profilo(&m.nome, &m.cognome, &m.email);
    let stored = state.engine.store().set_holder_profile(mailbox, &profile);
    // With the names checked, what the store can refuse is the e-mail.
    indirizzo_rifiutato(stored.await, "email", t)
}

/// A profile from what the holder typed.
pub fn profilo(nome: &str, cognome: &str, email: &str) -> HolderProfile {
    HolderProfile {
        nome: nome.trim().to_string(),
        cognome: cognome.trim().to_string(),
        email: email.trim().to_string(),
    }
}

/// The messages for a blank first or last name (the profile's required fields).
pub fn profilo_incompleto(t: &Testi, nome: &str, cognome: &str) -> Vec<Errore> {
    [("nome", nome), ("cognome", cognome)]
        .into_iter()
        .filter(|(_, v)| v.trim().is_empty())
        .map(|(campo, _)| Errore::new(campo, t.campo_vuoto))
        .collect()
}

/// A store answer to an address setting: an address refused is a message by `campo`.
fn indirizzo_rifiutato(
    r: Result<(), StoreError>,
    campo: &'static str,
    t: &Testi,
) -> Result<Vec<Errore>, WebError> {
    match r {
        Ok(()) => Ok(Vec::new()),
        Err(StoreError::InvalidSetting(_)) => Ok(vec![Errore::new(campo, t.indirizzo_non_valido)]),
        Err(e) => Err(e.into()),
    }
}

/// An optional address field: blank is none.
fn facoltativo(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|v| !v.is_empty())
}

/// The addresses of a list field, separated by commas, semicolons or white space.
fn elenco(value: &str) -> Vec<String> {
    value
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_on_commas_and_spaces() {
        assert_eq!(
            elenco(" a@x.it, b@y.it;c@z.it\n"),
            ["a@x.it", "b@y.it", "c@z.it"]
        );
        assert!(elenco(" , ").is_empty());
    }

    #[test]
    fn sections_round_trip_their_slugs() {
        for s in Sezione::TUTTE {
            assert_eq!(Sezione::from_slug(s.slug()), Some(s));
        }
        assert_eq!(Sezione::from_slug("nessuna"), None);
    }
}
