//! The relay: the persistent queue's worker. Every busta and every receipt leaves through
//! here, to other gestori and to our own reception point alike (spec §1.3: the same rules for
//! our own domains). A job that fails temporarily is retried with exponential backoff; a
//! permanent failure for an ordinary (`esterno`) recipient of a busta is reported to the
//! sender with an avviso di mancata consegna; for a certified recipient it is left to the
//! 12/24-hour timers, as the spec prescribes. A job still queued 24 hours after it was
//! queued fails permanently without another attempt (RFC 6109 §2.2.2's queue lifetime).
//!
//! The worker ([`Engine::run_relay`]) carries each job in a task of its own, so a peer that
//! stalls holds up only its own jobs (until the transport's timeout), never the queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pec::{MancataConsegna, TipoDestinatario, Transazione, build};
use store::{Batch, QueueEntry, QueueRetry};

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

/// Most relay jobs the worker carries at once.
const CONCURRENCY: usize = 64;

/// How long a job may wait in the queue (RFC 6109 §2.2.2: 24 hours), in seconds.
pub const QUEUE_LIFETIME: i64 = 24 * 3600;

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

    /// Runs the relay until `shutdown` resolves, looking at the queue every `interval` and
    /// whenever a commit queued jobs or a job ended. Each due job runs in a task of its own
    /// (at most [`CONCURRENCY`] at once) while the worker goes on starting others; at
    /// shutdown the transactions under way are let finish, so none is cut between the peer's
    /// 250 and our commit.
    pub async fn run_relay(
        self: Arc<Self>,
        transport: Arc<dyn Transport>,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) {
        tokio::pin!(shutdown);
        let mut running = tokio::task::JoinSet::new();
        // Task → job, for the jobs under way (still due in the store until they commit).
        let mut busy: HashMap<tokio::task::Id, i64> = HashMap::new();
        loop {
            while let Some(done) = running.try_join_next_with_id() {
                let task = done.map_or_else(|e| e.id(), |(task, ())| task);
                busy.remove(&task);
            }
            let free = CONCURRENCY.saturating_sub(busy.len());
            let now = self.clock.now().timestamp().as_second();
            match self.store.due(now, busy.len() + free).await {
                Ok(due) => {
                    let idle: Vec<QueueEntry> = due
                        .into_iter()
                        .filter(|j| !busy.values().any(|&b| b == j.id))
                        .take(free)
                        .collect();
                    for job in idle {
                        let (engine, transport, id) = (self.clone(), transport.clone(), job.id);
                        let task = running.spawn(async move {
                            if let Err(e) = engine.relay_job(transport.as_ref(), &job).await {
                                tracing::warn!(job = job.id, error = %e, "relay job failed");
                            }
                            // Its place is free for the next job.
                            engine.relay_wake.notify_one();
                        });
                        busy.insert(task.id(), id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading the relay queue failed"),
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.relay_wake.notified() => {}
                _ = tokio::time::sleep(interval) => {}
            }
        }
        while let Some(done) = running.join_next().await {
            if let Err(e) = done {
                tracing::warn!(error = %e, "relay job task failed");
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
        let outcomes = if at - job.created_at >= QUEUE_LIFETIME {
            // RFC 6109 §2.2.2: PEC traffic has a 24-hour queue lifetime. What has not left by
            // then fails permanently: the certified recipients' senders have had the timers'
            // notices; an ordinary recipient's sender gets its avviso below.
            let why = format!(
                "5.4.7 tempo massimo di permanenza in coda (24 ore) superato; ultimo errore: {}",
                job.last_error.as_deref().unwrap_or("nessuno")
            );
            let expired = Outcome::Permanent(why);
            job.rcpt_to
                .iter()
                .map(|r| (r.clone(), expired.clone()))
                .collect()
        } else {
            match transport
                .send(&job.domain, &job.mail_from, &job.rcpt_to, &message)
                .await
            {
                Ok(o) => o,
                Err(e) => return self.defer(job, at, &e).await,
            }
        };
        let temporary: Vec<(&String, &String)> = outcomes
            .iter()
            .filter_map(|(r, o)| match o {
                Outcome::Temporary(reply) => Some((r, reply)),
                _ => None,
            })
            .collect();
        if !outcomes.is_empty() && temporary.len() == outcomes.len() {
            // Nobody's fate changed: the same job waits, its attempts and backoff growing
            // and the peer's answers on record for `pecora queue list`.
            let why: Vec<String> = temporary.iter().map(|(r, w)| format!("{r}: {w}")).collect();
            return self.defer(job, at, &why.join("; ")).await;
        }
        let mut batch = Batch::default();
        if temporary.is_empty() {
            batch.dequeue.push(job.id);
        } else {
            // The same job goes on for the recipients left, keeping its age and attempts.
            let why: Vec<String> = temporary.iter().map(|(r, w)| format!("{r}: {w}")).collect();
            batch.retry.push(QueueRetry {
                id: job.id,
                rcpt_to: temporary.iter().map(|(r, _)| r.to_string()).collect(),
                next_attempt: at + backoff(job.attempts),
                error: why.join("; "),
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
                let causa = MancataConsegna::da_risposta_smtp(reply);
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
        self.commit(batch).await?;
        Ok(())
    }

    /// A failed attempt that changed nothing: the job waits out its backoff.
    async fn defer(&self, job: &QueueEntry, at: i64, why: &str) -> Result<(), EngineError> {
        tracing::info!(domain = %job.domain, error = %why, attempts = job.attempts, "relay deferred");
        self.store
            .retry_later(job.id, at + backoff(job.attempts), why)
            .await?;
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
