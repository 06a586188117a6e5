//! `pecora log`: the legal log (spec §8.3). `verify` proves the hash chain intact, `show`
//! lists one message's history, `receipts` re-issues signed copies of its receipts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use engine::riga::Riga;
use serde::Serialize;
use store::ChainReport;

use crate::config::Config;
use crate::provider::Provider;

#[derive(Subcommand)]
pub enum LogCommand {
    /// Recompute the whole hash chain; exit 1 if any event was altered, removed or reordered.
    Verify,
    /// A message's history.
    Show {
        #[arg(long)]
        id: String,
        /// One JSON object per event, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Re-issue signed copies of a message's receipts into DIR.
    Receipts {
        #[arg(long)]
        id: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Serialize)]
struct EventJson<'a> {
    seq: u64,
    time: String,
    kind: &'a str,
    identificativo: Option<&'a str>,
    msgid: Option<&'a str>,
    sender: &'a str,
    recipients: &'a [String],
    subject: &'a str,
    related: &'a [String],
    provider: &'a str,
    detail: Option<&'a str>,
    hash: &'a str,
}

pub async fn run(config: &Path, cmd: LogCommand) -> anyhow::Result<ExitCode> {
    let provider = Provider::open_default(Config::load(config)?).await?;
    let engine = &provider.engine;
    match cmd {
        LogCommand::Verify => match engine.store().verify_chain().await? {
            ChainReport::Intact { events } => {
                println!("legal log intact: {events} events");
                Ok(ExitCode::SUCCESS)
            }
            ChainReport::Broken { seq, reason } => {
                println!("legal log BROKEN at event {seq}: {reason}");
                Ok(ExitCode::from(1))
            }
        },
        LogCommand::Show { id, json } => {
            let events = engine.store().events(&id).await?;
            if events.is_empty() {
                eprintln!("no events for {id}");
                return Ok(ExitCode::from(1));
            }
            let tz = engine::clock::rome();
            for e in &events {
                let time = jiff::Timestamp::from_second(e.event.at)?.to_zoned(tz.clone());
                let time = time.strftime("%Y-%m-%d %H:%M:%S %z").to_string();
                if json {
                    let j = EventJson {
                        seq: e.seq,
                        time,
                        kind: &e.event.kind,
                        identificativo: e.event.identificativo.as_deref(),
                        msgid: e.event.msgid.as_deref(),
                        sender: &e.event.sender,
                        recipients: &e.event.recipients,
                        subject: &e.event.subject,
                        related: &e.event.related,
                        provider: &e.event.provider,
                        detail: e.event.detail.as_deref(),
                        hash: &e.hash,
                    };
                    println!("{}", serde_json::to_string(&j)?);
                } else {
                    println!(
                        "{time}  {:<24} {}{}",
                        e.event.kind,
                        e.event.related.join(", "),
                        e.event
                            .detail
                            .as_deref()
                            .map(|d| format!("  ({})", Riga(d)))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::Receipts { id, out } => {
            let receipts = engine.reissue_receipts(&id).await?;
            if receipts.is_empty() {
                eprintln!("no receipts recorded for {id}");
                return Ok(ExitCode::from(1));
            }
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            for (name, bytes) in receipts {
                let path = out.join(name);
                std::fs::write(&path, bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("{}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
