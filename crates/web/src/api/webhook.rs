//! Webhooks: a box's protocol system hears of every receipt and every busta that lands in
//! the box, instead of polling. Each event is posted as JSON `{event, mailbox, folder, uid,
//! kind, identificativo, at}` with `X-Pecora-Timestamp` and `X-Pecora-Signature:
//! sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`; the secret is generated here
//! and shown once, at creation.
//!
//! URLs are `https://` — or `http://` to a loopback address (`127.0.0.0/8`, `::1`,
//! `localhost`), for a receiver on the same machine and for tests; nothing else, so that a
//! key cannot make the gestore post in clear across a network. Where the host may be is the
//! operator's rule ([`Destinazioni`], `[webhooks]`): every address it resolves to is
//! checked when the webhook is created and again at every delivery, on the addresses the
//! post connects to; by default nothing but the public Internet (loopback neither). A post
//! never follows a redirect: a 3xx answer is a failed delivery, so a receiver cannot send
//! the signed body on to an address the rule would refuse.
//!
//! Events go through an outbox kept by the store: the batch that delivers a PEC message
//! (kind set) into a box with webhooks adds one pending event per webhook in the same
//! transaction, so an event exists exactly when its delivery committed — what lands while
//! the dispatcher is down, or across a crash, is announced once it runs again. [`avvia`]
//! starts the dispatcher: woken by [`Engine::changes`] or every [`INTERVALLO`] (for
//! retries), it claims the due events (pushing them [`IN_VOLO`] ahead, so that no event is
//! posted twice at once, not even by a second process) and posts each in a task of its own:
//! a slow or dead receiver never holds up mail nor the other webhooks. A posted event is
//! deleted; a failed one is due again after the next pause of [`RITENTATIVI`], and given up
//! (deleted, logged at error level) once they are spent. Deleting a webhook drops its events.
//!
//! Delivery is at least once: a crash between a post and its recording posts the event
//! again, so receivers dedupe on `(mailbox, folder, uid)`; a client that missed an event
//! given up catches up with `GET /api/v1/messages?since_uid=`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::StatusCode;
use engine::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde::{Deserialize, Serialize};
use store::{Webhook, WebhookEvent};
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;

use super::chiave::Chiave;
use super::destinazioni::Destinazioni;
use super::errore::{ApiError, Corpo, Errore, Percorso};
use super::messaggi::rfc3339;
use crate::WebState;
use crate::session::random_token;

/// Waits before each new try of a delivery that failed.
pub const RITENTATIVI: [Duration; 4] = [
    Duration::from_secs(2),
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(300),
];

/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How often the dispatcher looks for due events when no message arrives (for retries).
const INTERVALLO: Duration = Duration::from_secs(2);
/// Events taken at a time: a backlog drains by this many per wake-up.
const LOTTO: u32 = 100;
/// How long a taken event stays hidden from other takers: well beyond a post's [`TIMEOUT`].
/// A process that dies mid-post leaves its events to be taken again after this.
const IN_VOLO: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize, ToSchema)]
pub struct NuovoWebhook {
    /// `https://...`, or `http://` to a loopback address; its host must resolve only to
    /// addresses the provider posts webhooks to.
    pub url: String,
}

/// A webhook as listed (its secret is never shown again).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookInfo {
    pub id: i64,
    pub url: String,
    pub created_at: String,
}

/// A webhook just created, with its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreato {
    pub id: i64,
    pub url: String,
    pub created_at: String,
    /// Shown once: the HMAC key of `X-Pecora-Signature`.
    pub secret: String,
}

/// What one event says.
#[derive(Debug, Serialize, ToSchema)]
pub struct Evento {
    /// `ricevuta` for a receipt or notice, `busta` for a busta di trasporto or di anomalia.
    pub event: String,
    pub mailbox: String,
    pub folder: String,
    pub uid: u32,
    pub kind: String,
    pub identificativo: Option<String>,
    /// When the box received it (RFC 3339, UTC).
    pub at: String,
}

/// Whether the gestore may post to `url`: its scheme, then every address of its host by
/// the operator's rule (see the module's doc).
async fn url_ammesso(url: &str, destinazioni: &Destinazioni) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let host = parsed.host_str().ok_or("the URL has no host")?;
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("the URL must be https:// (http:// only to a loopback address)".into()),
    }
    destinazioni
        .risolvi(host)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn info(w: &Webhook) -> WebhookInfo {
    WebhookInfo {
        id: w.id,
        url: w.url.clone(),
        created_at: rfc3339(w.created_at),
    }
}

/// Adds a webhook to the key's box.
#[utoipa::path(post, path = "/api/v1/webhooks", operation_id = "createWebhook", tag = "webhooks", request_body = NuovoWebhook,
    security(("bearer" = [])),
    responses(
        (status = 201, body = WebhookCreato),
        (status = 400, body = Errore), (status = 401, body = Errore),
        (status = 415, body = Errore), (status = 422, body = Errore),
    ))]
pub async fn crea(
    State(state): State<WebState>,
    who: Chiave,
    Corpo(nuovo): Corpo<NuovoWebhook>,
) -> Result<(StatusCode, axum::Json<WebhookCreato>), ApiError> {
    url_ammesso(&nuovo.url, &state.config.webhook)
        .await
        .map_err(ApiError::invalid)?;
    let secret = random_token();
    let at = state.engine.clock().now().timestamp().as_second();
    let id = state
        .engine
        .store()
        .create_webhook(&who.principal.mailbox, &nuovo.url, &secret, at)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(WebhookCreato {
            id,
            url: nuovo.url,
            created_at: rfc3339(at),
            secret,
        }),
    ))
}

/// The webhooks of the key's box.
#[utoipa::path(get, path = "/api/v1/webhooks", operation_id = "listWebhooks", tag = "webhooks",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<WebhookInfo>), (status = 401, body = Errore)))]
pub async fn elenco(
    State(state): State<WebState>,
    who: Chiave,
) -> Result<axum::Json<Vec<WebhookInfo>>, ApiError> {
    let hooks = state
        .engine
        .store()
        .webhooks(&who.principal.mailbox)
        .await?;
    Ok(axum::Json(hooks.iter().map(info).collect()))
}

/// Removes a webhook of the key's box.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", operation_id = "deleteWebhook", tag = "webhooks",
    params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "The id is not a number", body = Errore),
        (status = 401, body = Errore), (status = 404, body = Errore),
    ))]
pub async fn elimina(
    State(state): State<WebState>,
    who: Chiave,
    Percorso(id): Percorso<i64>,
) -> Result<StatusCode, ApiError> {
    match state
        .engine
        .store()
        .delete_webhook(&who.principal.mailbox, id)
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(store::StoreError::NotFound(_)) => Err(ApiError::not_found("webhook")),
        Err(e) => Err(e.into()),
    }
}

/// `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub fn firma(
    secret: &str,
    timestamp: &str,
    body: &[u8],
) -> Result<String, openssl::error::ErrorStack> {
    let key = PKey::hmac(secret.as_bytes())?;
    let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
    signer.update(timestamp.as_bytes())?;
    signer.update(b".")?;
    signer.update(body)?;
    let mac = signer.sign_to_vec()?;
    Ok(format!(
        "sha256={}",
        mac.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// The dispatcher of every box's webhooks (see the module's doc), posting only where
/// `destinazioni` allows, until `stop` resolves.
pub async fn avvia(
    engine: Arc<Engine>,
    destinazioni: Destinazioni,
    stop: impl std::future::Future<Output = ()>,
) {
    let destinazioni = Arc::new(destinazioni);
    // Names resolve through the rule, so the client connects only to addresses it checked;
    // no proxy from the environment, which would connect elsewhere.
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(destinazioni.clone())
        .build();
    let postino = match http {
        Ok(http) => Postino { http, destinazioni },
        Err(e) => return tracing::error!(error = %e, "webhooks disabled: no HTTP client"),
    };
    let mut changes = engine.changes();
    let mut tick = tokio::time::interval(INTERVALLO);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            change = changes.recv() => if let Err(RecvError::Closed) = change {
                return;
            },
            _ = tick.tick() => {}
        }
        if let Err(e) = prendi_dovuti(&engine, &postino).await {
            tracing::warn!(error = %e, "webhooks: taking the due events failed");
        }
    }
}

/// The dispatcher's HTTP client and the rule it posts by.
#[derive(Clone)]
struct Postino {
    http: reqwest::Client,
    destinazioni: Arc<Destinazioni>,
}

/// Claims up to [`LOTTO`] due events and posts each in a task of its own.
async fn prendi_dovuti(engine: &Arc<Engine>, postino: &Postino) -> store::Result<()> {
    let now = engine.clock().now().timestamp().as_second();
    let eventi = engine
        .store()
        .claim_webhook_events(now, now + secondi(IN_VOLO), LOTTO)
        .await?;
    for evento in eventi {
        tokio::spawn(consegna(engine.clone(), postino.clone(), evento));
    }
    Ok(())
}

/// One try of `evento`, then its outcome recorded: delivered, due again after the next pause
/// of [`RITENTATIVI`], or given up once they are spent.
async fn consegna(engine: Arc<Engine>, postino: Postino, evento: WebhookEvent) {
    let store = engine.store();
    let timestamp = engine.clock().now().timestamp().as_second();
    let segnato = match posta(&postino, &evento, &timestamp.to_string()).await {
        Ok(()) => store.webhook_event_delivered(evento.id).await,
        Err(e) => {
            let pausa = usize::try_from(evento.attempts)
                .ok()
                .and_then(|n| RITENTATIVI.get(n));
            let (url, uid, tentativo) = (&evento.webhook.url, evento.uid, evento.attempts);
            match pausa {
                Some(_) => {
                    tracing::warn!(%url, uid, tentativo, error = %e, "webhook delivery failed")
                }
                None => tracing::error!(
                    %url, mailbox = %evento.webhook.mailbox, folder = %evento.folder, uid,
                    error = %e, "webhook delivery given up"
                ),
            }
            let next = pausa.map(|p| timestamp + secondi(*p));
            store
                .webhook_event_failed(evento.id, next, &format!("{e:#}"))
                .await
        }
    };
    if let Err(e) = segnato {
        tracing::error!(
            id = evento.id, error = %e,
            "webhook event outcome not recorded: it will be posted again"
        );
    }
}

fn secondi(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// What `evento` says to its receiver.
fn evento_json(evento: &WebhookEvent) -> Evento {
    Evento {
        event: if matches!(evento.kind.as_str(), "posta-certificata" | "anomalia") {
            "busta"
        } else {
            "ricevuta"
        }
        .to_string(),
        mailbox: evento.webhook.mailbox.clone(),
        folder: evento.folder.clone(),
        uid: evento.uid,
        kind: evento.kind.clone(),
        identificativo: evento.identificativo.clone(),
        at: rfc3339(evento.received_at),
    }
}

/// One try of a delivery: Ok on a 2xx answer. A name is checked as the client resolves it;
/// an IP literal, which it does not resolve, here.
async fn posta(postino: &Postino, evento: &WebhookEvent, timestamp: &str) -> anyhow::Result<()> {
    let hook = &evento.webhook;
    let url = reqwest::Url::parse(&hook.url).context("the webhook's URL")?;
    postino.destinazioni.controlla_letterale(&url)?;
    let body = serde_json::to_vec(&evento_json(evento))?;
    let signature = firma(&hook.secret, timestamp, &body)?;
    let res = postino
        .http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Pecora-Timestamp", timestamp)
        .header("X-Pecora-Signature", signature)
        .body(body)
        .send()
        .await?;
    let status = res.status();
    anyhow::ensure!(
        !status.is_redirection(),
        "answered {status}: redirects are not followed"
    );
    anyhow::ensure!(status.is_success(), "answered {status}");
    Ok(())
}
