//! `pecora queue`: the relay queue, for the operator — what is waiting, for whom, since when,
//! why; and a way to retry now instead of waiting out the backoff.

use std::path::Path;

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;
use store::{QueueEntry, Store, StoreError};

use crate::config::Config;
use crate::provider::Provider;

#[derive(Subcommand)]
pub enum QueueCommand {
    /// List the relay jobs waiting (oldest first).
    List {
        /// One JSON object per job, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Make jobs due now (this counts as an attempt for the backoff).
    Retry {
        /// Job ids from `queue list`; none means every job.
        ids: Vec<i64>,
    },
}

#[derive(Serialize)]
struct JobJson<'a> {
    id: i64,
    domain: &'a str,
    mail_from: &'a str,
    rcpt_to: &'a [String],
    identificativo: Option<&'a str>,
    attempts: u32,
    created_at: i64,
    next_attempt: i64,
    last_error: Option<&'a str>,
}

pub async fn run(config: &Path, cmd: QueueCommand) -> anyhow::Result<()> {
    let provider = Provider::open_default(Config::load(config)?).await?;
    let store = provider.engine.store();
    let jobs = store.queued().await?;
    match cmd {
        QueueCommand::List { json } => {
            if jobs.is_empty() && !json {
                println!("queue empty");
            }
            for j in &jobs {
                if json {
                    let line = JobJson {
                        id: j.id,
                        domain: &j.domain,
                        mail_from: &j.mail_from,
                        rcpt_to: &j.rcpt_to,
                        identificativo: j.identificativo.as_deref(),
                        attempts: j.attempts,
                        created_at: j.created_at,
                        next_attempt: j.next_attempt,
                        last_error: j.last_error.as_deref(),
                    };
                    println!("{}", serde_json::to_string(&line)?);
                } else {
                    println!(
                        "{}\t{}\t{} -> {}\tattempts {}\t{}",
                        j.id,
                        j.identificativo.as_deref().unwrap_or("-"),
                        j.mail_from,
                        j.rcpt_to.join(", "),
                        j.attempts,
                        j.last_error.as_deref().unwrap_or("")
                    );
                }
            }
        }
        QueueCommand::Retry { ids } => {
            let now = provider.engine.clock().now().timestamp().as_second();
            let chosen: Vec<&QueueEntry> = jobs
                .iter()
                .filter(|j| ids.is_empty() || ids.contains(&j.id))
                .collect();
            let retried = retry_now(store.as_ref(), &chosen, now).await?;
            let missing: Vec<String> = ids
                .iter()
                .filter(|id| !jobs.iter().any(|j| j.id == **id))
                .map(i64::to_string)
                .collect();
            println!("{retried} job(s) due now");
            if !missing.is_empty() {
                anyhow::bail!("no such job: {}", missing.join(", "));
            }
        }
    }
    Ok(())
}

/// Makes `jobs` due at `now`; returns how many were still queued. A running server relays
/// (and dequeues) jobs while we work: one that left the queue since it was listed has
/// nothing left to retry, and is no error.
async fn retry_now(store: &dyn Store, jobs: &[&QueueEntry], now: i64) -> anyhow::Result<usize> {
    let mut retried = 0;
    for j in jobs {
        let why = j.last_error.as_deref().unwrap_or("retry requested");
        match store.retry_later(j.id, now, why).await {
            Ok(()) => retried += 1,
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e).with_context(|| format!("retrying job {}", j.id)),
        }
    }
    Ok(retried)
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::sqlite::SqliteStore;
    use store::{Batch, NewQueueEntry, Queue};

    #[tokio::test]
    async fn a_job_relayed_meanwhile_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let job = |domain: &str| NewQueueEntry {
            blob: "0".repeat(64),
            mail_from: "posta-certificata@pec.uno.example".into(),
            rcpt_to: vec![format!("x@{domain}")],
            domain: domain.into(),
            next_attempt: 1000,
            identificativo: None,
        };
        let enqueue = Batch {
            enqueue: vec![job("a.example"), job("b.example")],
            ..Batch::default()
        };
        store.commit(enqueue).await.unwrap();
        let listed = store.queued().await.unwrap();
        // The server relays the first job between our listing and our retry.
        let relayed = Batch {
            dequeue: vec![listed[0].id],
            ..Batch::default()
        };
        store.commit(relayed).await.unwrap();
        let chosen: Vec<&QueueEntry> = listed.iter().collect();
        assert_eq!(retry_now(&store, &chosen, 500).await.unwrap(), 1);
        let left = store.queued().await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!((left[0].next_attempt, left[0].attempts), (500, 1));
    }
}
