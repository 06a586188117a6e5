//! `pecora`: the command line of the pecora PEC provider.
//!
//! `serve` runs a provider from its configuration, `demo` a two-provider network with none;
//! `admin` manages domains and mailboxes, `log` the legal log; `verify` checks PEC messages
//! (kind, headers, daticert, signature), `sample` writes a signed example of every kind.

mod admin;
mod bench;
mod config;
mod demo;
mod log;
mod mx;
mod provider;
mod queue;
mod sample;
mod verify;
mod virus;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pecora",
    version,
    about = "An open-source PEC (Posta Elettronica Certificata) provider"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a provider: SMTP submission and MX doors, relay, index reloader.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a two-provider PEC network on 127.0.0.1 with no configuration (writes DIR/demo.json).
    Demo {
        #[arg(long, default_value = "pecora-demo")]
        dir: PathBuf,
        /// Write the network (demo.json, each provider's pecora.toml, mailboxes) and exit
        /// without running it; run the providers separately with `pecora serve --config`.
        #[arg(long)]
        prepare: bool,
    },
    /// Manage domains and mailboxes.
    Admin {
        #[arg(long)]
        config: PathBuf,
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// The relay queue: list what waits, retry now.
    Queue {
        #[arg(long)]
        config: PathBuf,
        #[command(subcommand)]
        command: queue::QueueCommand,
    },
    /// Run one sweep of the delivery timers now: the 12 h preavviso and the final notice
    /// (spec §4.4) for every message that is due one. `serve` sweeps every minute by itself;
    /// this is for an operator after downtime, and for tests and drills.
    Timers {
        #[arg(long)]
        config: PathBuf,
        /// Sweep as if the clock read this instant (RFC 3339, e.g. 2026-11-24T09:00:00+01:00):
        /// the notices issued are dated then. For tests and drills only: a real gestore's
        /// notices carry the real time.
        #[arg(long, value_name = "INSTANT")]
        as_of: Option<jiff::Timestamp>,
    },
    /// The virus archive: messages blocked for a virus, kept 30 months.
    Virus {
        #[arg(long)]
        config: PathBuf,
        #[command(subcommand)]
        command: virus::VirusCommand,
    },
    /// The legal log: verify the chain, show a message's history, re-issue its receipts.
    Log {
        #[arg(long)]
        config: PathBuf,
        #[command(subcommand)]
        command: log::LogCommand,
    },
    /// Measure a gestore end to end: N messages through the submission door of a fresh demo
    /// network (or of a running provider, --config) until every consegna is back.
    ///
    /// Reports accepted and delivered msg/s, p50/p99 latency to the accettazione and to the
    /// consegna, peak RSS, and the machine's RSA signing rate with the crypto bound it sets.
    Bench(bench::BenchArgs),
    /// Read PEC messages and check them: kind, PEC headers, daticert.xml, signature.
    ///
    /// Exit status: 0 when every file was read and every signature is valid (and, with --ca,
    /// its chain trusted); 1 otherwise; 2 on usage errors.
    Verify {
        /// Messages to check (.eml, CRLF or LF line ends).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// CA certificates (PEM) the signer's chain must lead to; may be repeated.
        #[arg(long = "ca", value_name = "PEM")]
        ca: Vec<PathBuf>,
        /// One JSON object per file, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Write one signed example of every PEC message kind, plus ca.pem.
    ///
    /// Without --cert/--key/--ca a throwaway test CA and provider certificate are created
    /// (and written next to the examples).
    Sample {
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Provider signing certificate (PEM); its e-mail is the provider's address.
        #[arg(long, requires_all = ["key", "ca"])]
        cert: Option<PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, requires_all = ["cert", "ca"])]
        key: Option<PathBuf>,
        /// The CA certificate(s) (PEM) that issued --cert.
        #[arg(long, requires_all = ["cert", "key"])]
        ca: Option<PathBuf>,
    },
}

/// Resolves at Ctrl-C or SIGTERM (what systemd and container runtimes send to stop a
/// service): the doors then stop accepting and give the sessions under way their grace period
/// (`listener::GRACE`).
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("stopping: no new sessions, those under way may finish");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The bench's output is its figures: a line per message would drown them (and slow it).
    let level = match cli.command {
        Command::Bench(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    smtp::install_crypto_provider();
    let result = match cli.command {
        Command::Verify { files, ca, json } => verify::run(&files, &ca, json),
        Command::Sample { out, cert, key, ca } => sample::run(&out, cert.zip(key).zip(ca)),
        Command::Serve { config } => block_on(async move {
            let provider = provider::Provider::open_default(config::Config::load(&config)?).await?;
            provider.run(shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }),
        Command::Demo { dir, prepare } => block_on(async move {
            if prepare {
                demo::prepare(&dir).await?;
            } else {
                demo::run(&dir).await?;
            }
            Ok(ExitCode::SUCCESS)
        }),
        Command::Admin { config, command } => block_on(async move {
            admin::run(&config, command).await?;
            Ok(ExitCode::SUCCESS)
        }),
        Command::Log { config, command } => block_on(log::run(&config, command)),
        Command::Bench(args) => block_on(async move {
            let json = args.json;
            let report = bench::run(args).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                report.print();
            }
            Ok(if report.delivered == report.messages {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }),
        Command::Timers { config, as_of } => block_on(async move {
            let config = config::Config::load(&config)?;
            let provider = match as_of {
                Some(t) => {
                    let clock = engine::clock::ManualClock::new(t.to_zoned(engine::clock::rome()));
                    provider::Provider::open(config, std::sync::Arc::new(clock)).await?
                }
                None => provider::Provider::open_default(config).await?,
            };
            let issued = provider.engine.tick_timers().await?;
            println!("{issued} notice(s) issued");
            Ok(ExitCode::SUCCESS)
        }),
        Command::Virus { config, command } => block_on(async move {
            virus::run(&config, command).await?;
            Ok(ExitCode::SUCCESS)
        }),
        Command::Queue { config, command } => block_on(async move {
            queue::run(&config, command).await?;
            Ok(ExitCode::SUCCESS)
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pecora: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn block_on(
    f: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(f)
}
