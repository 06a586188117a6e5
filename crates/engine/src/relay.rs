//! The relay: the persistent queue's worker. Every busta and every receipt leaves through
//! here, to other gestori and to our own reception point alike (spec §1.3: the same rules for
//! our own domains). A job that fails temporarily is retried with exponential backoff; a
//! permanent failure for an ordinary (`esterno`) recipient of a busta is reported to the
//! sender with an avviso di mancata consegna; for a certified recipient it is left to the
//! 12/24-hour timers, as the spec prescribes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pec::{MancataConsegna, TipoDestinatario, Transazione, build};
use store::{Batch, NewQueueEntry, QueueEntry};

use crate::legal::event;
use crate::{Engine, EngineError, domain_of};

/// The result of one recipient of one SMTP transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered(String),
    Temporary(String),
    Permanent(String),
}

/// Where relay jobs go: SMTP to the destination's MX (or a static route).
#[async_trait]
pub trait Transport: Send + Sync {
    /// One transaction to `domain`. Err = nothing happened (connection, TLS, timeout):
    /// retried later as a whole.
    async fn send(
        &self,
        domain: &str,
        mail_from: &str,
        rcpt_to: &[String],
        message: &[u8],
    ) -> Result<Vec<(String, Outcome)>, String>;
}

/// Seconds to wait before attempt `n + 1`: one minute, doubling, at most an hour.
pub fn backoff(attempts: u32) -> i64 {
    60i64.saturating_mul(1 << attempts.min(6)).min(3600)
}

impl Engine {
    /// Works through every due job once; returns how many were attempted.
    pub async fn relay_due(&self, transport: &dyn Transport) -> Result<usize, EngineError> {
        let now = self.clock.now().timestamp().as_second();
        let due = self.store.due(now, 64).await?;
        for job in &due {
            self.relay_job(transport, job).await?;
        }
        Ok(due.len())
    }

    /// Runs the relay until `shutdown` resolves, polling every `interval`.
    pub async fn run_relay(
        self: Arc<Self>,
        transport: Arc<dyn Transport>,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.relay_due(transport.as_ref()).await {
                tracing::warn!(error = %e, "relay pass failed");
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }

    async fn relay_job(
        &self,
        transport: &dyn Transport,
        job: &QueueEntry,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let at = now.timestamp().as_second();
        let message = self.store.get(&job.blob).await?;
        let outcomes = match transport
            .send(&job.domain, &job.mail_from, &job.rcpt_to, &message)
            .await
        {
            Ok(o) => o,
            Err(e) => {
                tracing::info!(domain = %job.domain, error = %e, attempts = job.attempts, "relay deferred");
                self.store
                    .retry_later(job.id, at + backoff(job.attempts), &e)
                    .await?;
                return Ok(());
            }
        };
        let mut batch = Batch {
            dequeue: vec![job.id],
            ..Batch::default()
        };
        let temporary: Vec<String> = outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Temporary(_)))
            .map(|(r, _)| r.clone())
            .collect();
        if !temporary.is_empty() {
            batch.enqueue.push(NewQueueEntry {
                blob: job.blob.clone(),
                mail_from: job.mail_from.clone(),
                rcpt_to: temporary,
                domain: job.domain.clone(),
                next_attempt: at + backoff(job.attempts + 1),
                identificativo: job.identificativo.clone(),
            });
        }
        let permanent: Vec<(String, String)> = outcomes
            .iter()
            .filter_map(|(r, o)| match o {
                Outcome::Permanent(reply) => Some((r.clone(), reply.clone())),
                _ => None,
            })
            .collect();
        let is_busta = job.mail_from != self.service_address() && job.identificativo.is_some();
        let t = if is_busta {
            pec::classify(&message)
                .ok()
                .and_then(|c| c.daticert)
                .map(|d| Transazione::from_daticert(&d))
        } else {
            None
        };
        let g = &self.settings.gestore;
        let described = t
            .clone()
            .unwrap_or_else(|| pec::classify::transazione_da_messaggio(&message));
        for (rcpt, reply) in &permanent {
            let ordinary = t.as_ref().is_some_and(|t| {
                t.destinatari.iter().any(|d| {
                    d.indirizzo.eq_ignore_ascii_case(rcpt) && d.tipo == TipoDestinatario::Esterno
                })
            });
            if let (true, Some(t)) = (ordinary, &t) {
                let causa = MancataConsegna::Altro(reply.clone());
                let notice = build::mancata_consegna(t, g, &now, rcpt, &causa);
                let detail = Some(format!("{rcpt}: {reply}"));
                self.notify_sender(&mut batch, t, &notice, &now, rcpt, detail)
                    .await?;
            }
        }
        let delivered: Vec<&str> = outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Delivered(_)))
            .map(|(r, _)| r.as_str())
            .collect();
        let mut e = event("relay", &described, &now, &g.nome, Vec::new());
        e.identificativo = job.identificativo.clone();
        e.detail = Some(format!(
            "{} -> {}: consegnato a [{}], rifiutato [{}]",
            job.mail_from,
            domain_of(job.rcpt_to.first().map(String::as_str).unwrap_or_default()),
            delivered.join(", "),
            permanent
                .iter()
                .map(|(r, why)| format!("{r}: {why}"))
                .collect::<Vec<_>>()
                .join("; "),
        ));
        batch.log.push(e);
        self.store.commit(batch).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), 60);
        assert_eq!(backoff(1), 120);
        assert_eq!(backoff(5), 1920);
        assert_eq!(backoff(6), 3600);
        assert_eq!(backoff(40), 3600);
    }
}
