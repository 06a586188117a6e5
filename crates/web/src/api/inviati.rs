//! Following what the box sent: per recipient, where the message stands (from the engine's
//! [`engine::cronologia::Cronologia`]), each receipt's `.eml` by its number in the
//! timeline, and the evidence bundle (zip). An identificativo the key's box did not send is
//! a 404, whoever sent it.

use axum::extract::State;
use axum::response::Response;
use engine::cronologia::{Cronologia, Ricevuta};
use serde::Serialize;
use utoipa::ToSchema;

use super::chiave::Chiave;
use super::errore::{ApiError, Errore, Percorso};
use super::messaggi::{eml, rfc3339};
use crate::WebState;
use crate::webmail::download;

/// A receipt (or the copy of the message as sent) in the box.
#[derive(Debug, Serialize, ToSchema)]
pub struct RicevutaApi {
    /// Its number: `GET /api/v1/sent/{identificativo}/receipts/{n}` downloads it.
    pub n: usize,
    /// Stored kind (`accettazione`, `avvenuta-consegna`...).
    pub kind: String,
    /// Its certified instant (RFC 3339, UTC).
    pub at: String,
    pub folder: String,
    pub uid: u32,
}

/// Something that happened to the message for one recipient.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventoApi {
    /// PEC kind (`presa-in-carico`, `avvenuta-consegna`, `errore-consegna`,
    /// `preavviso-errore-consegna-12h`...).
    #[serde(rename = "type")]
    pub tipo: String,
    pub at: String,
    /// The number of the receipt that certifies it, when the box still has it.
    pub receipt: Option<usize>,
}

/// One recipient's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinatarioApi {
    pub address: String,
    /// A PEC address (receipts will come), not an ordinary one.
    pub certified: bool,
    /// `in-attesa`, `presa-in-carico`, `consegnata`, `non-consegnata`, `scaduta` or
    /// `senza-ricevute`.
    pub state: String,
    pub events: Vec<EventoApi>,
}

/// Where a sent PEC stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct Inviato {
    pub identificativo: String,
    pub subject: String,
    pub sent_at: String,
    /// `accettato`, `non-accettato`, or `in-corso` before either receipt is in the box.
    pub outcome: String,
    /// Whether any recipient still waits for news.
    pub in_progress: bool,
    pub recipients: Vec<DestinatarioApi>,
    /// Every receipt of the box, by instant.
    pub receipts: Vec<RicevutaApi>,
}

/// The receipts of a timeline, numbered from 1 by instant (then folder and UID).
fn ricevute(c: &Cronologia) -> Vec<&Ricevuta> {
    let mut all: Vec<&Ricevuta> = c
        .accettazione
        .iter()
        .chain(&c.non_accettazione)
        .chain(
            c.destinatari
                .iter()
                .flat_map(|d| d.eventi.iter().filter_map(|e| e.ricevuta.as_ref())),
        )
        .collect();
    all.sort_by(|a, b| (a.at, &a.folder, a.uid).cmp(&(b.at, &b.folder, b.uid)));
    all.dedup_by(|a, b| a.folder == b.folder && a.uid == b.uid);
    all
}

fn inviato(c: &Cronologia) -> Inviato {
    let elenco = ricevute(c);
    let numero = |r: &Ricevuta| {
        elenco
            .iter()
            .position(|x| x.folder == r.folder && x.uid == r.uid)
            .map(|i| i + 1)
    };
    let outcome = match (&c.accettazione, &c.non_accettazione) {
        (Some(_), _) => "accettato",
        (None, Some(_)) => "non-accettato",
        (None, None) => "in-corso",
    };
    Inviato {
        identificativo: c.identificativo.clone(),
        subject: c.oggetto.clone(),
        sent_at: rfc3339(c.inviato_il),
        outcome: outcome.into(),
        in_progress: c.in_corso(),
        recipients: c
            .destinatari
            .iter()
            .map(|d| DestinatarioApi {
                address: d.indirizzo.clone(),
                certified: d.certificato,
                state: d.esito.as_str().into(),
                events: d
                    .eventi
                    .iter()
                    .map(|e| EventoApi {
                        tipo: e.tipo.clone(),
                        at: rfc3339(e.at),
                        receipt: e.ricevuta.as_ref().and_then(numero),
                    })
                    .collect(),
            })
            .collect(),
        receipts: elenco
            .iter()
            .enumerate()
            .map(|(i, r)| RicevutaApi {
                n: i + 1,
                kind: r.kind.clone(),
                at: rfc3339(r.at),
                folder: r.folder.clone(),
                uid: r.uid,
            })
            .collect(),
    }
}

/// The timeline of `identificativo` as sent from the key's box, or 404.
async fn cronologia(
    state: &WebState,
    who: &Chiave,
    identificativo: &str,
) -> Result<Cronologia, ApiError> {
    state
        .engine
        .cronologia(&who.principal.mailbox, identificativo)
        .await?
        .ok_or_else(|| ApiError::not_found("sent message"))
}

/// Where a sent PEC stands, per recipient.
#[utoipa::path(get, path = "/api/v1/sent/{identificativo}", operation_id = "getSent", tag = "sent",
    params(("identificativo" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Inviato),
        (status = 401, body = Errore), (status = 404, body = Errore),
    ))]
pub async fn stato(
    State(state): State<WebState>,
    who: Chiave,
    Percorso(identificativo): Percorso<String>,
) -> Result<axum::Json<Inviato>, ApiError> {
    let c = cronologia(&state, &who, &identificativo).await?;
    Ok(axum::Json(inviato(&c)))
}

/// Receipt `n` of a sent PEC, as stored.
#[utoipa::path(get, path = "/api/v1/sent/{identificativo}/receipts/{n}", operation_id = "getReceipt", tag = "sent",
    params(("identificativo" = String, Path), ("n" = usize, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, content_type = "message/rfc822", body = Vec<u8>),
        (status = 400, description = "`n` is not a number", body = Errore),
        (status = 401, body = Errore), (status = 404, body = Errore),
    ))]
pub async fn ricevuta(
    State(state): State<WebState>,
    who: Chiave,
    Percorso((identificativo, n)): Percorso<(String, usize)>,
) -> Result<Response, ApiError> {
    let c = cronologia(&state, &who, &identificativo).await?;
    let r = n
        .checked_sub(1)
        .and_then(|i| ricevute(&c).get(i).copied().cloned())
        .ok_or_else(|| ApiError::not_found("receipt"))?;
    let store = state.engine.store();
    let m = store
        .message(&who.principal.mailbox, &r.folder, r.uid)
        .await?
        .ok_or_else(|| ApiError::not_found("receipt"))?;
    Ok(eml(store.get(&m.blob).await?))
}

/// The evidence bundle of a sent PEC: the message as sent, every receipt, a summary.
#[utoipa::path(get, path = "/api/v1/sent/{identificativo}/bundle", operation_id = "getBundle", tag = "sent",
    params(("identificativo" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, content_type = "application/zip", body = Vec<u8>),
        (status = 401, body = Errore), (status = 404, body = Errore),
    ))]
pub async fn fascicolo(
    State(state): State<WebState>,
    who: Chiave,
    Percorso(identificativo): Percorso<String>,
) -> Result<Response, ApiError> {
    let zip = state
        .engine
        .fascicolo(&who.principal.mailbox, &identificativo)
        .await?
        .ok_or_else(|| ApiError::not_found("sent message"))?;
    Ok(download(
        zip,
        "application/zip",
        &format!("fascicolo-{identificativo}.zip"),
    ))
}
