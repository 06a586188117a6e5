//! Webhooks: a box's protocol system hears of every receipt and every busta that lands in
//! the box, instead of polling. Each event is posted as JSON `{event, mailbox, folder, uid,
//! kind, identificativo, at}` with `X-Pecora-Timestamp` and `X-Pecora-Signature:
//! sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`; the secret is generated here
//! and shown once, at creation.
//!
//! URLs are `https://` — or `http://` to a loopback address (`127.0.0.0/8`, `::1`,
//! `localhost`), for a receiver on the same machine and for tests; nothing else, so that a
//! key cannot make the gestore post in clear across a network.
//!
//! [`avvia`] starts the dispatcher: it listens to [`Engine::changes`] and, for a box with
//! webhooks, announces every PEC message (kind set) with a UID beyond its cursor. Cursors
//! live in memory: at start (and for a webhook seen for the first time) only messages
//! received from that instant on are announced, so what lands while the process is down is
//! never announced — the client catches up with `GET /api/v1/messages?since_uid=`. A
//! delivery is retried with backoff ([`RITENTATIVI`]) in its own task: a slow or dead
//! receiver never holds up mail nor the other webhooks.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use engine::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde::{Deserialize, Serialize};
use store::{StoredMessage, Webhook};
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;

use super::chiave::Chiave;
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

#[derive(Debug, Deserialize, ToSchema)]
pub struct NuovoWebhook {
    /// `https://...`, or `http://` to a loopback address.
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

/// Whether the gestore may post to `url` (see the module's doc).
fn url_ammesso(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let host = parsed.host_str().ok_or("the URL has no host")?;
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("the URL must be https:// (http:// only to a loopback address)".into()),
    }
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
    url_ammesso(&nuovo.url).map_err(ApiError::invalid)?;
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

/// The dispatcher of every box's webhooks (see the module's doc), until `stop` resolves.
pub async fn avvia(engine: Arc<Engine>, stop: impl std::future::Future<Output = ()>) {
    let http = match reqwest::Client::builder().timeout(TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => return tracing::error!(error = %e, "webhooks disabled: no HTTP client"),
    };
    let mut changes = engine.changes();
    let mut d = Dispatcher {
        started: engine.clock().now().timestamp().as_second(),
        cursori: HashMap::new(),
        caselle: HashSet::new(),
        http,
        engine,
    };
    tokio::pin!(stop);
    loop {
        let boxes = tokio::select! {
            _ = &mut stop => return,
            change = changes.recv() => match change {
                Ok(mailbox) => vec![mailbox],
                // Missed some: look again at every box we know has webhooks.
                Err(RecvError::Lagged(_)) => d.known_boxes(),
                Err(RecvError::Closed) => return,
            },
        };
        for mailbox in boxes {
            if let Err(e) = d.scan(&mailbox).await {
                tracing::warn!(%mailbox, error = %e, "webhooks: reading the box failed");
            }
        }
    }
}

struct Dispatcher {
    engine: Arc<Engine>,
    http: reqwest::Client,
    /// When the dispatcher started: a webhook with no cursor yet hears of messages received
    /// since then (or since its creation, if later).
    started: i64,
    /// (webhook id, folder) → the highest UID announced.
    cursori: HashMap<(i64, String), u32>,
    /// The boxes seen with webhooks.
    caselle: HashSet<String>,
}

impl Dispatcher {
    fn known_boxes(&self) -> Vec<String> {
        self.caselle.iter().cloned().collect()
    }

    async fn scan(&mut self, mailbox: &str) -> Result<(), store::StoreError> {
        let store = self.engine.store().clone();
        let hooks = store.webhooks(mailbox).await?;
        if hooks.is_empty() {
            return Ok(());
        }
        self.caselle.insert(mailbox.to_string());
        for folder in store.folders(mailbox).await? {
            let messages = store.messages(mailbox, &folder).await?;
            for hook in &hooks {
                let from = self.started.max(hook.created_at);
                let cursor = self.cursori.get(&(hook.id, folder.clone())).copied();
                let nuovi: Vec<&StoredMessage> = messages
                    .iter()
                    .filter(|m| m.kind.is_some())
                    .filter(|m| match cursor {
                        Some(c) => m.uid > c,
                        None => m.received_at >= from,
                    })
                    .collect();
                let last = messages
                    .last()
                    .map_or(0, |m| m.uid)
                    .max(cursor.unwrap_or(0));
                self.cursori.insert((hook.id, folder.clone()), last);
                for m in nuovi {
                    self.consegna(hook, m);
                }
            }
        }
        Ok(())
    }

    /// Posts the event of `m` to `hook` in a task of its own, retrying with backoff.
    fn consegna(&self, hook: &Webhook, m: &StoredMessage) {
        let kind = m.kind.clone().unwrap_or_default();
        let evento = Evento {
            event: if matches!(kind.as_str(), "posta-certificata" | "anomalia") {
                "busta"
            } else {
                "ricevuta"
            }
            .to_string(),
            mailbox: m.mailbox.clone(),
            folder: m.folder.clone(),
            uid: m.uid,
            kind,
            identificativo: m.identificativo.clone(),
            at: rfc3339(m.received_at),
        };
        let http = self.http.clone();
        let engine = self.engine.clone();
        let hook = hook.clone();
        tokio::spawn(async move {
            let body = match serde_json::to_vec(&evento) {
                Ok(b) => b,
                Err(e) => return tracing::error!(error = %e, "webhook event not encoded"),
            };
            for (tentativo, pausa) in std::iter::once(Duration::ZERO)
                .chain(RITENTATIVI)
                .enumerate()
            {
                tokio::time::sleep(pausa).await;
                let timestamp = engine.clock().now().timestamp().as_second().to_string();
                match posta(&http, &hook, &timestamp, &body).await {
                    Ok(()) => return,
                    Err(e) => tracing::warn!(
                        url = %hook.url, tentativo, error = %e, "webhook delivery failed"
                    ),
                }
            }
            tracing::error!(url = %hook.url, uid = evento.uid, "webhook delivery given up");
        });
    }
}

/// One try of a delivery: Ok on a 2xx answer.
async fn posta(
    http: &reqwest::Client,
    hook: &Webhook,
    timestamp: &str,
    body: &[u8],
) -> anyhow::Result<()> {
    let signature = firma(&hook.secret, timestamp, body)?;
    let res = http
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Pecora-Timestamp", timestamp)
        .header("X-Pecora-Signature", signature)
        .body(body.to_vec())
        .send()
        .await?;
    anyhow::ensure!(res.status().is_success(), "answered {}", res.status());
    Ok(())
}
