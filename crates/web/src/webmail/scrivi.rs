//! Writing a PEC in the browser (issue 6 §1): `/posta/scrivi`, a multipart form (To, Cc,
//! subject, text, attachments, the receipt type) that becomes an [`engine::compose::Bozza`]
//! sent through the punto di accesso; on success the browser goes to the message's
//! timeline. The body is read with a bound (the provider's message size), so an oversized
//! upload is a clear 413 page, and a draft the gestore would refuse is shown again with the
//! user's input and the reason.
//!
//! The strings of these pages and of the timeline live here ([`Testi`]).

use askama::Template;
use axum::Router;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use engine::access::Submitted;
use engine::compose::{Allegato, Bozza, ComposeError};
use engine::cronologia::Esito;
use pec::daticert::TipoRicevuta;

use crate::WebState;
use crate::error::{WebError, render};
use crate::i18n::Lang;
use crate::layout::{Page, query_escape};
use crate::session::Holder;

pub fn router() -> Router<WebState> {
    Router::new().route(
        "/posta/scrivi",
        // The size is bounded by hand, against the provider's own limit.
        get(modulo).post(invia).layer(DefaultBodyLimit::disable()),
    )
}

/// Room for the multipart framing and the base64 the attachments grow by, over the
/// provider's message limit: beyond this the upload cannot become an acceptable PEC.
const MARGINE: u64 = 64 * 1024;

#[derive(Template)]
#[template(path = "scrivi.html")]
struct ScriviPage {
    page: Page,
    t: &'static Testi,
    destinatari: String,
    copia: String,
    oggetto: String,
    testo: String,
    ricevuta: &'static str,
    errore: Option<String>,
}

/// The fields of the form as typed (attachments apart).
#[derive(Default)]
struct Campi {
    destinatari: String,
    copia: String,
    oggetto: String,
    testo: String,
    ricevuta: String,
    csrf: String,
}

fn pagina(holder: &Holder, lang: Lang, c: Campi, errore: Option<String>) -> ScriviPage {
    ScriviPage {
        page: Page::new(lang, "/posta/scrivi", Some(holder)),
        t: Testi::of(lang),
        destinatari: c.destinatari,
        copia: c.copia,
        oggetto: c.oggetto,
        testo: c.testo,
        ricevuta: tipo_ricevuta(&c.ricevuta).as_str(),
        errore,
    }
}

fn tipo_ricevuta(s: &str) -> TipoRicevuta {
    match s {
        "breve" => TipoRicevuta::Breve,
        "sintetica" => TipoRicevuta::Sintetica,
        _ => TipoRicevuta::Completa,
    }
}

async fn modulo(holder: Holder, lang: Lang) -> Result<Response, WebError> {
    if !holder.principal.may_send() {
        return Err(WebError::Forbidden);
    }
    Ok(render(&pagina(&holder, lang, Campi::default(), None))?.into_response())
}

/// The form shown again with `status` and why.
fn di_nuovo(
    holder: &Holder,
    lang: Lang,
    c: Campi,
    status: StatusCode,
    errore: String,
) -> Result<Response, WebError> {
    Ok((status, render(&pagina(holder, lang, c, Some(errore)))?).into_response())
}

async fn invia(
    State(state): State<WebState>,
    holder: Holder,
    lang: Lang,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    if !holder.principal.may_send() {
        return Err(WebError::Forbidden);
    }
    let t = Testi::of(lang);
    let limite = state.engine.settings().limiti.max_dimensione;
    let troppo = || {
        t.troppo_grande
            .replace("{mb}", &(limite / 1_000_000).to_string())
    };
    let dichiarato = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if dichiarato.is_some_and(|n| n > limite + MARGINE) {
        return di_nuovo(
            &holder,
            lang,
            Campi::default(),
            StatusCode::PAYLOAD_TOO_LARGE,
            troppo(),
        );
    }
    let mut multipart = multipart.map_err(|e| WebError::BadRequest(e.body_text()))?;
    let mut campi = Campi::default();
    let mut allegati = Vec::new();
    let mut letti: u64 = 0;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| WebError::BadRequest(e.body_text()))?
    {
        let nome = field.name().unwrap_or_default().to_string();
        let file = field.file_name().map(str::to_string);
        let tipo = field.content_type().unwrap_or_default().to_string();
        let mut dati = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| WebError::BadRequest(e.body_text()))?
        {
            letti += chunk.len() as u64;
            if letti > limite + MARGINE {
                return di_nuovo(
                    &holder,
                    lang,
                    campi,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    troppo(),
                );
            }
            dati.extend_from_slice(&chunk);
        }
        let testo = || String::from_utf8_lossy(&dati).into_owned();
        match nome.as_str() {
            "allegati" => {
                // A file input left empty still sends a part, with no name and no bytes.
                if let Some(file) = file.filter(|f| !f.is_empty()) {
                    allegati.push(Allegato {
                        nome: file,
                        tipo,
                        dati,
                    });
                }
            }
            "destinatari" => campi.destinatari = testo(),
            "copia" => campi.copia = testo(),
            "oggetto" => campi.oggetto = testo(),
            "testo" => campi.testo = testo(),
            "ricevuta" => campi.ricevuta = testo(),
            "csrf" => campi.csrf = testo(),
            _ => {}
        }
    }
    holder.check_csrf(&campi.csrf)?;
    let bozza = Bozza {
        destinatari: indirizzi(&campi.destinatari),
        copia: indirizzi(&campi.copia),
        oggetto: campi.oggetto.trim().to_string(),
        testo: campi.testo.replace("\r\n", "\n"),
        allegati,
        ricevuta: tipo_ricevuta(&campi.ricevuta),
    };
    match state
        .engine
        .send_bozza(&holder.principal, &bozza, None)
        .await
    {
        Ok(Submitted::Accettato { identificativo })
        | Ok(Submitted::NonAccettato { identificativo, .. }) => Ok(Redirect::to(&format!(
            "/posta/inviato?id={}",
            query_escape(&identificativo)
        ))
        .into_response()),
        Err(ComposeError::NotAllowed) => Err(WebError::Forbidden),
        Err(ComposeError::Invalid(motivo)) => {
            di_nuovo(&holder, lang, campi, StatusCode::BAD_REQUEST, motivo)
        }
        // The form sends without an idempotency key, so no key can come back reused.
        Err(e @ (ComposeError::Engine(_) | ComposeError::ChiaveRiusata(_))) => {
            Err(WebError::Internal(e.into()))
        }
    }
}

/// The addresses of a comma- (or semicolon-) separated field.
fn indirizzi(campo: &str) -> Vec<String> {
    campo
        .split([',', ';'])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

/// The strings of the compose form and of the timeline.
pub struct Testi {
    pub titolo: &'static str,
    pub destinatari: &'static str,
    pub copia: &'static str,
    pub piu_indirizzi: &'static str,
    pub oggetto: &'static str,
    pub testo: &'static str,
    pub allegati: &'static str,
    pub ricevuta: &'static str,
    pub completa: &'static str,
    pub breve: &'static str,
    pub sintetica: &'static str,
    pub invia: &'static str,
    /// `{mb}` is replaced.
    pub troppo_grande: &'static str,
    // The timeline.
    pub cronologia: &'static str,
    pub identificativo: &'static str,
    pub inviato_il: &'static str,
    pub accettato: &'static str,
    pub non_accettato: &'static str,
    pub apri_ricevuta: &'static str,
    pub apri_inviato: &'static str,
    pub fascicolo: &'static str,
    pub certificato: &'static str,
    pub esterno: &'static str,
    pub nessun_evento: &'static str,
    pub aggiornamento: &'static str,
    pub registrato: &'static str,
    pub segui: &'static str,
    // Timeline events.
    pub ev_presa_in_carico: &'static str,
    pub ev_consegna: &'static str,
    pub ev_mancata_consegna: &'static str,
    pub ev_mancata_consegna_virus: &'static str,
    pub ev_virus: &'static str,
    pub ev_preavviso_12h: &'static str,
    pub ev_preavviso_24h: &'static str,
    pub ev_altro: &'static str,
    // Outcomes.
    pub esito_senza_ricevute: &'static str,
    pub esito_in_attesa: &'static str,
    pub esito_presa_in_carico: &'static str,
    pub esito_scaduta: &'static str,
    pub esito_non_consegnata: &'static str,
    pub esito_consegnata: &'static str,
}

impl Testi {
    pub fn of(lang: Lang) -> &'static Testi {
        match lang {
            Lang::It => &IT,
            Lang::En => &EN,
        }
    }

    /// The name of a timeline event (a PEC kind slug).
    pub fn evento(&self, tipo: &str) -> &'static str {
        match tipo {
            "presa-in-carico" => self.ev_presa_in_carico,
            "avvenuta-consegna" => self.ev_consegna,
            "errore-consegna" => self.ev_mancata_consegna,
            "errore-consegna-virus" => self.ev_mancata_consegna_virus,
            "rilevazione-virus" => self.ev_virus,
            "preavviso-errore-consegna-12h" => self.ev_preavviso_12h,
            "preavviso-errore-consegna-24h" => self.ev_preavviso_24h,
            _ => self.ev_altro,
        }
    }

    /// The name of a recipient's outcome.
    pub fn esito(&self, esito: Esito) -> &'static str {
        match esito {
            Esito::SenzaRicevute => self.esito_senza_ricevute,
            Esito::InAttesa => self.esito_in_attesa,
            Esito::PresaInCarico => self.esito_presa_in_carico,
            Esito::Scaduta => self.esito_scaduta,
            Esito::NonConsegnata => self.esito_non_consegnata,
            Esito::Consegnata => self.esito_consegnata,
        }
    }
}

pub static IT: Testi = Testi {
    titolo: "Scrivi un messaggio PEC",
    destinatari: "A",
    copia: "Cc",
    piu_indirizzi: "Più indirizzi separati da virgole.",
    oggetto: "Oggetto",
    testo: "Testo",
    allegati: "Allegati",
    ricevuta: "Ricevuta di consegna",
    completa: "Completa (con il messaggio)",
    breve: "Breve (allegati sostituiti dalla loro impronta)",
    sintetica: "Sintetica (solo i dati di certificazione)",
    invia: "Invia",
    troppo_grande: "Il messaggio supera il limite di {mb} MB del gestore: togliere qualche allegato.",
    cronologia: "Cronologia dell'invio",
    identificativo: "Identificativo",
    inviato_il: "Inviato il",
    accettato: "Accettato dal gestore",
    non_accettato: "Non accettato dal gestore",
    apri_ricevuta: "Apri la ricevuta",
    apri_inviato: "Apri il messaggio inviato",
    fascicolo: "Scarica il fascicolo (zip)",
    certificato: "casella PEC",
    esterno: "indirizzo ordinario",
    nessun_evento: "Nessuna notizia ancora.",
    aggiornamento: "La pagina si aggiorna da sola finché l'invio è in corso.",
    registrato: "registrato dal gestore",
    segui: "Segui l'invio",
    ev_presa_in_carico: "Presa in carico",
    ev_consegna: "Consegnato",
    ev_mancata_consegna: "Mancata consegna",
    ev_mancata_consegna_virus: "Mancata consegna per virus",
    ev_virus: "Rilevato un virus",
    ev_preavviso_12h: "Preavviso di mancata consegna (12 ore)",
    ev_preavviso_24h: "Mancata consegna entro 24 ore",
    ev_altro: "Avviso del gestore",
    esito_senza_ricevute: "Indirizzo ordinario: nessuna ricevuta",
    esito_in_attesa: "In attesa",
    esito_presa_in_carico: "Preso in carico, consegna in attesa",
    esito_scaduta: "Non consegnato entro 24 ore",
    esito_non_consegnata: "Non consegnato",
    esito_consegnata: "Consegnato",
};

pub static EN: Testi = Testi {
    titolo: "Write a PEC message",
    destinatari: "To",
    copia: "Cc",
    piu_indirizzi: "Several addresses separated by commas.",
    oggetto: "Subject",
    testo: "Text",
    allegati: "Attachments",
    ricevuta: "Delivery receipt",
    completa: "Complete (with the message)",
    breve: "Short (attachments replaced by their digest)",
    sintetica: "Synthetic (certification data only)",
    invia: "Send",
    troppo_grande: "The message is over the provider's {mb} MB limit: remove some attachments.",
    cronologia: "Delivery timeline",
    identificativo: "Identifier",
    inviato_il: "Sent on",
    accettato: "Accepted by the provider",
    non_accettato: "Not accepted by the provider",
    apri_ricevuta: "Open the receipt",
    apri_inviato: "Open the sent message",
    fascicolo: "Download the evidence bundle (zip)",
    certificato: "PEC box",
    esterno: "ordinary address",
    nessun_evento: "No news yet.",
    aggiornamento: "This page refreshes itself while the sending is in progress.",
    registrato: "recorded by the provider",
    segui: "Follow the sending",
    ev_presa_in_carico: "Taken in charge",
    ev_consegna: "Delivered",
    ev_mancata_consegna: "Not delivered",
    ev_mancata_consegna_virus: "Not delivered: virus",
    ev_virus: "Virus found",
    ev_preavviso_12h: "Delivery warning (12 hours)",
    ev_preavviso_24h: "Not delivered within 24 hours",
    ev_altro: "Provider notice",
    esito_senza_ricevute: "Ordinary address: no receipts",
    esito_in_attesa: "Waiting",
    esito_presa_in_carico: "Taken in charge, awaiting delivery",
    esito_scaduta: "Not delivered within 24 hours",
    esito_non_consegnata: "Not delivered",
    esito_consegnata: "Delivered",
};
