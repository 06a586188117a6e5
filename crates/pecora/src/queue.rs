//! `pecora queue`: the relay queue, for the operator — what is waiting, for whom, since when,
//! why; and a way to retry now instead of waiting out the backoff.

use std::path::Path;

use clap::Subcommand;
use serde::Serialize;

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
            let mut retried = 0;
            for j in jobs
                .iter()
                .filter(|j| ids.is_empty() || ids.contains(&j.id))
            {
                let why = j.last_error.as_deref().unwrap_or("retry requested");
                store.retry_later(j.id, now, why).await?;
                retried += 1;
            }
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
