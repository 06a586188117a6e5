//! `pecora virus`: the archivio dei virus, for the provider's administrator (spec §8.4). Every
//! message blocked for a virus — a holder's submission at our punto di accesso, or a busta
//! another gestore sent to our punto di ricezione — is kept for 30 months; this lists them and
//! exports the blocked bytes, e.g. for the authorities or to check what the antivirus caught.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use store::VirusRecord;

use crate::config::Config;
use crate::provider::Provider;

#[derive(Subcommand)]
pub enum VirusCommand {
    /// List the blocked messages, oldest first.
    List {
        #[command(flatten)]
        range: Range,
        /// One JSON object per message, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Write blocked messages to DIR: `<id>.eml` (the bytes as they reached us) and
    /// `<id>.json` (what is known of them). Prints the paths of the .eml files.
    Export {
        /// Record ids from `virus list`; none means every record in the range.
        ids: Vec<i64>,
        #[command(flatten)]
        range: Range,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Which days to look at, as dates in Italy's time zone (both ends included).
#[derive(Args)]
pub struct Range {
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    since: Option<Date>,
    /// Last day (YYYY-MM-DD).
    #[arg(long)]
    until: Option<Date>,
}

impl Range {
    /// `[since, until)` in Unix seconds.
    fn bounds(&self) -> anyhow::Result<(i64, i64)> {
        let start = |d: Date| -> anyhow::Result<i64> {
            Ok(d.to_zoned(engine::clock::rome())?.timestamp().as_second())
        };
        let since = self.since.map(start).transpose()?.unwrap_or(i64::MIN);
        let until = match self.until {
            Some(d) => start(d.tomorrow()?)?,
            None => i64::MAX,
        };
        Ok((since, until))
    }
}

/// A record as `list --json` and the exported `.json` show it.
#[derive(Serialize)]
struct RecordJson<'a> {
    id: i64,
    /// RFC 3339, Italy's time zone.
    at: String,
    point: &'static str,
    virus: &'a str,
    identificativo: Option<&'a str>,
    sender: &'a str,
    recipients: &'a [String],
    subject: &'a str,
    gestore: &'a str,
    size: u64,
    sha256: &'a str,
}

impl<'a> RecordJson<'a> {
    fn new(r: &'a VirusRecord) -> anyhow::Result<RecordJson<'a>> {
        let v = &r.record;
        let at = Timestamp::from_second(v.at)?.to_zoned(engine::clock::rome());
        Ok(RecordJson {
            id: r.id,
            at: at.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            point: v.point.as_str(),
            virus: &v.virus,
            identificativo: v.identificativo.as_deref(),
            sender: &v.sender,
            recipients: &v.recipients,
            subject: &v.subject,
            gestore: &v.gestore,
            size: v.size,
            sha256: &v.blob,
        })
    }
}

pub async fn run(config: &Path, cmd: VirusCommand) -> anyhow::Result<()> {
    let provider = Provider::open_default(Config::load(config)?).await?;
    let store = provider.engine.store();
    match cmd {
        VirusCommand::List { range, json } => {
            let (since, until) = range.bounds()?;
            let records = store.virus_records(since, until).await?;
            if records.is_empty() && !json {
                println!("no blocked messages");
            }
            for r in &records {
                let line = RecordJson::new(r)?;
                if json {
                    println!("{}", serde_json::to_string(&line)?);
                } else {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{} -> {}\t{}",
                        line.id,
                        line.at,
                        line.point,
                        line.virus,
                        line.identificativo.unwrap_or("-"),
                        line.sender,
                        line.recipients.join(", "),
                        line.subject
                    );
                }
            }
        }
        VirusCommand::Export { ids, range, out } => {
            let records = if ids.is_empty() {
                let (since, until) = range.bounds()?;
                store.virus_records(since, until).await?
            } else {
                let mut records = Vec::new();
                for id in ids {
                    records.push(store.virus_record(id).await?);
                }
                records
            };
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            for r in &records {
                let bytes = store.get(&r.record.blob).await?;
                let eml = out.join(format!("{}.eml", r.id));
                std::fs::write(&eml, bytes)
                    .with_context(|| format!("writing {}", eml.display()))?;
                let json = out.join(format!("{}.json", r.id));
                let text = serde_json::to_string_pretty(&RecordJson::new(r)?)?;
                std::fs::write(&json, text + "\n")
                    .with_context(|| format!("writing {}", json.display()))?;
                println!("{}", eml.display());
            }
        }
    }
    Ok(())
}
