//! `pecora bench`: how fast is a gestore, end to end, on this machine?
//!
//! A PEC message is not done when the submission door says 250: it is done when the
//! ricevuta di avvenuta consegna is back in the sender's mailbox, after a busta crossed SMTP
//! between two gestori, four signatures (accettazione, busta, presa in carico, consegna),
//! seven durable commits and as many fsync'd blobs. Unit tests cannot say whether that chain keeps up with real
//! traffic, so this command measures it with the real parts: a fresh two-provider demo
//! network run in this process (or a running provider, `--config`), messages submitted as a
//! mail client would (loopback SMTP, STARTTLS, AUTH PLAIN, C sessions at once), and the
//! sender's tracker watched until every consegna is in. It reports accepted and delivered
//! msg/s, p50/p99 latency to the accettazione and to the consegna, peak RSS, and the
//! machine's RSA-2048 signing rate measured in the same run, so the result also reads as a
//! fraction of the crypto bound: a message to R recipients of one other gestore costs
//! 3 + R signatures (accettazione and busta here; presa in carico and R consegne there).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use store::sqlite::SqliteStore;
use store::{MailboxKind, MailboxState, NewMailbox, OrdinaryMail, Store, TrackerEvent};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::demo;
use crate::provider::Provider;

/// How often the sender's tracker is read for consegne (the resolution of the consegna
/// latency); slower when a read takes long, so watching never costs much.
const POLL: Duration = Duration::from_millis(20);
/// Give up waiting for consegne after this long without one.
const STALL: Duration = Duration::from_secs(120);
/// How long the RSA signing rate is measured.
const SIGN_FOR: Duration = Duration::from_secs(1);

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Messages to submit.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Size of each submitted message, headers included (bytes).
    #[arg(long, default_value_t = 10_240)]
    size: usize,
    /// Recipients per message, all at the other gestore.
    #[arg(long, default_value_t = 1, conflicts_with = "to")]
    recipients: usize,
    /// Concurrent SMTP submission sessions.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Offered load in msg/s (open loop: message i is due at i/rate s and latencies count
    /// from then). Without it every session submits as fast as it is answered.
    #[arg(long, value_name = "MSG_PER_S")]
    rate: Option<f64>,
    /// One JSON object with every figure.
    #[arg(long)]
    pub json: bool,
    /// Drive this running provider instead of a fresh demo network: submit to its
    /// submission door as --from and watch its store for the consegne.
    #[arg(long, requires_all = ["from", "password_file", "to"])]
    config: Option<PathBuf>,
    /// With --config: the sending holder.
    #[arg(long, requires = "config")]
    from: Option<String>,
    /// With --config: a file holding the holder's password (one line).
    #[arg(long, requires = "config")]
    password_file: Option<PathBuf>,
    /// With --config: a recipient (repeat for several).
    #[arg(long, requires = "config")]
    to: Vec<String>,
    /// With --config: CA (PEM) of the submission door's TLS certificate (default: the
    /// configuration's [trust] CAs).
    #[arg(long, value_name = "PEM", requires = "config")]
    ca: Option<PathBuf>,
}

/// Every figure of one run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub messages: usize,
    pub size: usize,
    pub recipients: usize,
    pub concurrency: usize,
    /// Offered msg/s (open loop), `null` for a closed loop.
    pub offered_rate: Option<f64>,
    /// 250 accettato.
    pub accepted: usize,
    /// Answered otherwise (non accettato, 4xx, 5xx).
    pub not_accepted: usize,
    /// Accepted, and a consegna in the sender's mailbox for every recipient.
    pub delivered: usize,
    /// From the first submission to the last 250.
    pub submit_seconds: f64,
    /// From the first submission to the last consegna.
    pub total_seconds: f64,
    pub accepted_per_s: f64,
    pub delivered_per_s: f64,
    pub accettazione_p50_ms: f64,
    pub accettazione_p99_ms: f64,
    pub consegna_p50_ms: f64,
    pub consegna_p99_ms: f64,
    /// The longest gap between two looks for consegne: the resolution of their latencies.
    pub consegna_poll_ms: f64,
    /// VmHWM of this process: both providers and the client in demo mode, the client alone
    /// with --config.
    pub peak_rss_mb: f64,
    /// RSA-2048 signatures/s with the provider's key, one thread per core, all at once.
    pub rsa_sign_per_s: f64,
    pub rsa_sign_threads: usize,
    /// 3 + recipients.
    pub signatures_per_message: usize,
    /// rsa_sign_per_s / signatures_per_message.
    pub crypto_bound_per_s: f64,
    /// delivered_per_s / crypto_bound_per_s.
    pub fraction_of_crypto_bound: f64,
    /// The 1-minute load average when the run started (others' work skews the figures).
    pub load_average: f64,
    /// The first refusal or missing consegna, if any.
    pub first_problem: Option<String>,
}

/// Where the messages go and how to see them delivered.
struct Target {
    submission: SocketAddr,
    /// The TLS name of the submission door.
    server_name: String,
    client: smtp::ClientConfig,
    sender: String,
    password: String,
    recipients: Vec<String>,
    /// The sender's store: its tracker hears every consegna.
    store: Arc<dyn Store>,
    signing_key: PathBuf,
}

/// A demo network run in this process, for the duration of the bench.
struct Network {
    _dir: tempfile::TempDir,
    stop: watch::Sender<bool>,
    providers: JoinSet<anyhow::Result<()>>,
}

impl Network {
    async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        while let Some(r) = self.providers.join_next().await {
            r.context("a provider task failed")??;
        }
        Ok(())
    }
}

pub async fn run(args: BenchArgs) -> anyhow::Result<Report> {
    if args.messages == 0 || args.concurrency == 0 {
        bail!("--messages and --concurrency must be at least 1");
    }
    if args.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        bail!("--rate must be a positive number of messages per second");
    }
    let (target, network) = match &args.config {
        Some(config) => (given(&args, config).await?, None),
        None => {
            let (target, network) = demo_network(args.recipients).await?;
            (target, Some(network))
        }
    };
    let load_average = load_average();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let rsa_sign_per_s = signing_rate(&target.signing_key, threads).await?;
    let target = Arc::new(target);
    let run = drive(&args, target.clone()).await;
    let stopped = match network {
        Some(network) => network.stop().await,
        None => Ok(()),
    };
    let run = run?;
    stopped?;
    let signatures_per_message = 3 + target.recipients.len();
    let crypto_bound_per_s = rsa_sign_per_s / signatures_per_message as f64;
    let delivered_per_s = rate(run.delivered, run.last_consegna);
    Ok(Report {
        messages: args.messages,
        size: args.size,
        recipients: target.recipients.len(),
        concurrency: args.concurrency,
        offered_rate: args.rate,
        accepted: run.accettazione.len(),
        not_accepted: run.not_accepted,
        delivered: run.delivered,
        submit_seconds: run.last_accept.as_secs_f64(),
        total_seconds: run.last_consegna.as_secs_f64(),
        accepted_per_s: rate(run.accettazione.len(), run.last_accept),
        delivered_per_s,
        accettazione_p50_ms: percentile_ms(&run.accettazione, 0.50),
        accettazione_p99_ms: percentile_ms(&run.accettazione, 0.99),
        consegna_p50_ms: percentile_ms(&run.consegna, 0.50),
        consegna_p99_ms: percentile_ms(&run.consegna, 0.99),
        consegna_poll_ms: run.poll.as_secs_f64() * 1000.0,
        peak_rss_mb: peak_rss_kb()? as f64 / 1024.0,
        rsa_sign_per_s,
        rsa_sign_threads: threads,
        signatures_per_message,
        crypto_bound_per_s,
        fraction_of_crypto_bound: delivered_per_s / crypto_bound_per_s,
        load_average,
        first_problem: run.first_problem,
    })
}

/// A fresh demo network in a temporary directory, with a sender on pec.uno.example and
/// `recipients` holders on pec.due.example (no quotas), both providers running here.
async fn demo_network(recipients: usize) -> anyhow::Result<(Target, Network)> {
    if recipients == 0 {
        bail!("--recipients must be at least 1");
    }
    let dir = tempfile::Builder::new()
        .prefix("pecora-bench-")
        .tempdir()
        .context("creating a temporary directory")?;
    let network = demo::prepare(dir.path()).await?;
    let [uno, due] = &network.providers[..] else {
        bail!("the demo network has not two providers");
    };
    let password = "pecora-bench-password".to_string();
    let sender = format!("mittente@{}", uno.domain);
    let recipients: Vec<String> = (1..=recipients)
        .map(|n| format!("destinatario-{n}@{}", due.domain))
        .collect();
    let (stop, stopped) = watch::channel(false);
    let mut providers = JoinSet::new();
    let password_hash = engine::accounts::hash_password(&password)?;
    let sender_store = start(
        &uno.config,
        &[&sender],
        &password_hash,
        &stopped,
        &mut providers,
    )
    .await?;
    let holders: Vec<&str> = recipients.iter().map(String::as_str).collect();
    start(
        &due.config,
        &holders,
        &password_hash,
        &stopped,
        &mut providers,
    )
    .await?;
    let config = Config::load(&uno.config)?;
    let ca = std::fs::read(&network.ca)?;
    let target = Target {
        submission: config.listen.submission,
        server_name: config.listen.submission.ip().to_string(),
        client: client_config(&[&ca])?,
        sender,
        password,
        recipients,
        store: sender_store,
        signing_key: config.path(&config.signing.key),
    };
    let network = Network {
        _dir: dir,
        stop,
        providers,
    };
    Ok((target, network))
}

/// Opens the provider of `config`, gives it `holders` (no quota), and runs it in
/// `providers` until `stopped` says so; returns its store.
async fn start(
    config: &std::path::Path,
    holders: &[&str],
    password_hash: &str,
    stopped: &watch::Receiver<bool>,
    providers: &mut JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<Arc<dyn Store>> {
    let provider = Provider::open_default(Config::load(config)?).await?;
    let store = provider.engine.store().clone();
    let now = provider.engine.clock().now().timestamp().as_second();
    for address in holders {
        let holder = NewMailbox {
            address: address.to_string(),
            kind: MailboxKind::Standard,
            state: MailboxState::Attiva,
            quota: 0,
            ordinary_mail: OrdinaryMail::Rifiuta,
            password_hash: password_hash.to_string(),
        };
        store
            .create_mailbox(&holder, now)
            .await
            .with_context(|| format!("creating the mailbox {address}"))?;
    }
    let mut stopped = stopped.clone();
    providers.spawn(provider.run(async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    Ok(store)
}

/// A provider already running from `config`.
async fn given(args: &BenchArgs, config: &std::path::Path) -> anyhow::Result<Target> {
    let config = Config::load(config)?;
    let password_file = args
        .password_file
        .as_deref()
        .context("--config needs --password-file")?;
    let password = std::fs::read_to_string(password_file)
        .with_context(|| format!("reading {}", password_file.display()))?
        .trim_end_matches(['\r', '\n'])
        .to_string();
    let cas = match &args.ca {
        Some(ca) => vec![ca.clone()],
        None => config.trust.ca.iter().map(|c| config.path(c)).collect(),
    };
    let pems = cas
        .iter()
        .map(|c| std::fs::read(c).with_context(|| format!("reading {}", c.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pems: Vec<&[u8]> = pems.iter().map(Vec::as_slice).collect();
    let store = SqliteStore::open(&config.path(&config.provider.data_dir))
        .await
        .context("opening the provider's data directory")?;
    Ok(Target {
        submission: config.listen.submission,
        server_name: config.provider.hostname.clone(),
        client: client_config(&pems)?,
        sender: args.from.clone().context("--config needs --from")?,
        password,
        recipients: args.to.clone(),
        store: Arc::new(store),
        signing_key: config.path(&config.signing.key),
    })
}

fn client_config(ca_pems: &[&[u8]]) -> anyhow::Result<smtp::ClientConfig> {
    Ok(smtp::ClientConfig {
        helo: "pecora-bench".to_string(),
        tls: smtp::tls_client_config(ca_pems).context("building the client TLS configuration")?,
        require_tls: true,
        timeout: Duration::from_secs(120),
    })
}

/// What the load phase saw.
struct Run {
    /// Latency to the 250, per accepted message.
    accettazione: Vec<Duration>,
    /// Latency to the consegna, per delivered message.
    consegna: Vec<Duration>,
    not_accepted: usize,
    delivered: usize,
    last_accept: Duration,
    last_consegna: Duration,
    poll: Duration,
    first_problem: Option<String>,
}

/// One accepted submission.
struct Accepted {
    identificativo: String,
    /// When the transaction started (open loop: when the message was due).
    started: Instant,
    accepted: Instant,
}

/// What one session saw.
#[derive(Default)]
struct SessionResult {
    accepted: Vec<Accepted>,
    refusals: Vec<String>,
}

/// What the sessions share.
struct Load {
    target: Arc<Target>,
    messages: usize,
    size: usize,
    rate: Option<f64>,
    /// The number of the next message to submit.
    next: AtomicUsize,
    /// Where sessions report the identificativo of each accepted message.
    accepted: mpsc::UnboundedSender<String>,
    /// The instant the clock starts, once every session is connected and authenticated.
    start: watch::Receiver<Option<Instant>>,
}

async fn drive(args: &BenchArgs, target: Arc<Target>) -> anyhow::Result<Run> {
    wait_listening(target.submission).await?;
    let (accepted_tx, accepted_rx) = mpsc::unbounded_channel();
    let watcher = tokio::spawn(watch_consegne(target.store.clone(), accepted_rx));
    let (start_tx, start_rx) = watch::channel(None);
    let load = Arc::new(Load {
        target: target.clone(),
        messages: args.messages,
        size: args.size,
        rate: args.rate,
        next: AtomicUsize::new(0),
        accepted: accepted_tx,
        start: start_rx,
    });
    let sessions_n = args.concurrency.min(args.messages);
    let (ready_tx, mut ready_rx) = mpsc::channel(sessions_n);
    let mut sessions = JoinSet::new();
    for _ in 0..sessions_n {
        let (load, ready) = (load.clone(), ready_tx.clone());
        sessions.spawn(async move { session(&load, ready).await });
    }
    drop((load, ready_tx));
    // The clock starts when every session is ready (or one failed: its error follows).
    for _ in 0..sessions_n {
        if ready_rx.recv().await.is_none() {
            break;
        }
    }
    let start = Instant::now();
    let _ = start_tx.send(Some(start));
    let mut accepted = Vec::new();
    let mut refusals = Vec::new();
    while let Some(r) = sessions.join_next().await {
        let r = r.context("a submission session failed")??;
        accepted.extend(r.accepted);
        refusals.extend(r.refusals);
    }
    let (consegne, poll) = watcher.await.context("the consegna watcher failed")??;

    // Every consegna the watcher saw closes a tracker entry; make sure each is a consegna.
    let mut run = Run {
        accettazione: accepted.iter().map(|a| a.accepted - a.started).collect(),
        consegna: Vec::new(),
        not_accepted: refusals.len(),
        delivered: 0,
        last_accept: accepted
            .iter()
            .map(|a| a.accepted - start)
            .max()
            .unwrap_or_default(),
        last_consegna: Duration::ZERO,
        poll,
        first_problem: refusals.into_iter().next(),
    };
    for a in &accepted {
        let tracked = target.store.tracked(&a.identificativo).await?;
        let all = tracked.len() == target.recipients.len()
            && tracked
                .iter()
                .all(|e| e.at(TrackerEvent::Consegna).is_some());
        match consegne.get(&a.identificativo) {
            Some(at) if all => {
                run.delivered += 1;
                run.consegna.push(*at - a.started);
                run.last_consegna = run.last_consegna.max(*at - start);
            }
            _ => {
                run.first_problem.get_or_insert_with(|| {
                    format!("{}: no consegna for every recipient", a.identificativo)
                });
            }
        }
    }
    Ok(run)
}

/// Waits for the submission door to listen (the providers start in the background).
async fn wait_listening(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(e).with_context(|| format!("connecting to the submission door {addr}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// One SMTP session: STARTTLS and AUTH, `ready`, then messages from the start until there
/// are none left.
async fn session(load: &Load, ready: mpsc::Sender<()>) -> anyhow::Result<SessionResult> {
    let (target, size) = (&load.target, load.size);
    let door = format!("the submission door {}", target.submission);
    let mut connection =
        smtp::Connection::open(target.submission, &target.server_name, &target.client)
            .await
            .with_context(|| format!("connecting to {door}"))?
            .map_err(|reply| anyhow!("{door} refused the session: {reply}"))?;
    connection
        .authenticate(&target.sender, &target.password)
        .await
        .with_context(|| format!("authenticating at {door}"))?
        .map_err(|reply| anyhow!("{door} refused AUTH as {}: {reply}", target.sender))?;
    let envelope = smtp::Envelope {
        mail_from: target.sender.clone(),
        rcpt_to: target.recipients.clone(),
        size_hint: Some(size as u64),
    };
    ready.send(()).await?;
    let mut start = load.start.clone();
    let start = start
        .wait_for(Option::is_some)
        .await?
        .context("the bench did not start")?;
    let mut result = SessionResult::default();
    loop {
        let n = load.next.fetch_add(1, Ordering::Relaxed);
        if n >= load.messages {
            break;
        }
        let message = message(n, size, &target.sender, &target.recipients);
        let started = match load.rate {
            Some(rate) => {
                let due = start + Duration::from_secs_f64(n as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                due
            }
            None => Instant::now(),
        };
        let delivery = connection
            .transaction(&envelope, &message)
            .await
            .with_context(|| format!("submitting message {n} to {door}"))?;
        let accepted = Instant::now();
        let reply = match &delivery.data {
            Some(data) => data.reply().clone(),
            None => delivery
                .per_recipient
                .first()
                .map(|(_, o)| o.reply().clone())
                .ok_or_else(|| anyhow!("no recipients"))?,
        };
        match identificativo(&reply) {
            Some(identificativo) => {
                // The watcher ends when every sender is gone: a closed channel is its end.
                let _ = load.accepted.send(identificativo.clone());
                result.accepted.push(Accepted {
                    identificativo,
                    started,
                    accepted,
                });
            }
            None => result.refusals.push(format!("message {n}: {reply}")),
        }
    }
    connection.quit().await;
    Ok(result)
}

/// The identificativo of a `250 ... accettato, identificativo <id>` reply.
fn identificativo(reply: &smtp::Reply) -> Option<String> {
    let id = reply.text.strip_prefix("accettato, identificativo ")?;
    (reply.code == 250).then(|| id.trim().to_string())
}

/// Message `n`: plain text, `size` bytes in all (or just its headers if they are longer).
fn message(n: usize, size: usize, sender: &str, recipients: &[String]) -> Vec<u8> {
    let date = jiff::Zoned::now().strftime("%a, %d %b %Y %H:%M:%S %z");
    let mut m = format!(
        "From: <{sender}>\r\nTo: {}\r\nSubject: pecora bench {n}\r\nDate: {date}\r\n\
         Message-ID: <bench-{n}-{}@pecora.bench>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n",
        recipients
            .iter()
            .map(|r| format!("<{r}>"))
            .collect::<Vec<_>>()
            .join(", "),
        std::process::id(),
    )
    .into_bytes();
    const LINE: &[u8] =
        b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
    // Whole lines while at least a CRLF's worth is left, then one line that fills up.
    while m.len() + LINE.len() + 2 <= size {
        m.extend_from_slice(LINE);
    }
    if m.len() + 2 <= size {
        m.resize(size - 2, b'x');
        m.extend_from_slice(b"\r\n");
    }
    m
}

/// Reads the sender's tracker until every accepted message has no open entry left; returns
/// when each was first seen closed, and the longest gap between two reads.
async fn watch_consegne(
    store: Arc<dyn Store>,
    mut accepted: mpsc::UnboundedReceiver<String>,
) -> anyhow::Result<(HashMap<String, Instant>, Duration)> {
    let mut pending: HashSet<String> = HashSet::new();
    let mut closed = HashMap::new();
    let mut senders_done = false;
    let mut progress = Instant::now();
    let mut poll = POLL;
    let (mut last_read, mut coarsest) = (None, Duration::ZERO);
    loop {
        // Drain before reading: what was accepted by now is committed, so the read sees it.
        loop {
            match accepted.try_recv() {
                Ok(id) => {
                    pending.insert(id);
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    senders_done = true;
                    break;
                }
            }
        }
        if senders_done && pending.is_empty() {
            return Ok((closed, coarsest));
        }
        if !pending.is_empty() {
            let read = Instant::now();
            if let Some(last) = last_read.replace(read) {
                coarsest = coarsest.max(read - last);
            }
            let open: HashSet<String> = store
                .open_entries()
                .await
                .context("reading the sender's tracker")?
                .into_iter()
                .map(|e| e.identificativo)
                .collect();
            let now = Instant::now();
            poll = POLL.max((now - read) * 4);
            pending.retain(|id| {
                let done = !open.contains(id);
                if done {
                    closed.insert(id.clone(), now);
                    progress = now;
                }
                !done
            });
        } else {
            progress = Instant::now();
        }
        if progress.elapsed() > STALL {
            // Report what arrived; the rest counts as not delivered.
            return Ok((closed, coarsest));
        }
        tokio::time::sleep(poll).await;
    }
}

/// RSA signatures per second with the provider's signing key: `threads` threads signing
/// SHA-256 digests for [`SIGN_FOR`].
async fn signing_rate(key: &std::path::Path, threads: usize) -> anyhow::Result<f64> {
    let pem = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
    let key = openssl::pkey::PKey::private_key_from_pem(&pem)
        .with_context(|| format!("reading the signing key {}", key.display()))?;
    let start = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..threads {
        let key = key.clone();
        workers.spawn_blocking(move || -> anyhow::Result<u64> {
            let mut n = 0u64;
            while start.elapsed() < SIGN_FOR {
                let mut signer =
                    openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)?;
                signer.update(&n.to_be_bytes())?;
                signer.sign_to_vec()?;
                n += 1;
            }
            Ok(n)
        });
    }
    let mut total = 0;
    while let Some(n) = workers.join_next().await {
        total += n.context("a signing thread failed")??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

fn rate(count: usize, over: Duration) -> f64 {
    if over.is_zero() {
        0.0
    } else {
        count as f64 / over.as_secs_f64()
    }
}

/// Nearest-rank percentile, in milliseconds (0 for no samples).
fn percentile_ms(samples: &[Duration], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The peak resident set of this process (VmHWM), in KiB.
fn peak_rss_kb() -> anyhow::Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmHWM in /proc/self/status"))
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

impl Report {
    pub fn print(&self) {
        let rate = self
            .offered_rate
            .map_or("closed loop".to_string(), |r| format!("{r} msg/s offered"));
        println!(
            "pecora bench: {} messages of {} bytes to {} recipient(s), {} sessions, {rate} (load {:.2})",
            self.messages, self.size, self.recipients, self.concurrency, self.load_average
        );
        println!(
            "  accepted   {:>6} in {:>7.2} s  {:>8.1} msg/s   accettazione p50 {:>8.1} ms  p99 {:>8.1} ms",
            self.accepted,
            self.submit_seconds,
            self.accepted_per_s,
            self.accettazione_p50_ms,
            self.accettazione_p99_ms
        );
        println!(
            "  delivered  {:>6} in {:>7.2} s  {:>8.1} msg/s   consegna     p50 {:>8.1} ms  p99 {:>8.1} ms (looked every ≤ {:.0} ms)",
            self.delivered,
            self.total_seconds,
            self.delivered_per_s,
            self.consegna_p50_ms,
            self.consegna_p99_ms,
            self.consegna_poll_ms
        );
        if self.not_accepted > 0 {
            println!("  not accepted {}", self.not_accepted);
        }
        println!(
            "  crypto     RSA-2048 {:.0} signatures/s ({} threads) / {} per message = {:.0} msg/s bound; delivered = {:.1}% of it",
            self.rsa_sign_per_s,
            self.rsa_sign_threads,
            self.signatures_per_message,
            self.crypto_bound_per_s,
            self.fraction_of_crypto_bound * 100.0
        );
        println!("  peak RSS   {:.1} MiB", self.peak_rss_mb);
        if let Some(problem) = &self.first_problem {
            println!("  first problem: {problem}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_the_asked_size() {
        let to = vec!["a@pec.due.example".to_string()];
        for size in [2000, 10_240, 10_241] {
            assert_eq!(message(7, size, "m@pec.uno.example", &to).len(), size);
        }
        assert!(message(7, 10, "m@pec.uno.example", &to).len() > 10);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&samples, 0.50), 50.0);
        assert_eq!(percentile_ms(&samples, 0.99), 99.0);
        assert_eq!(percentile_ms(&[], 0.99), 0.0);
    }

    #[test]
    fn identificativo_from_the_accettazione_reply() {
        let ok = smtp::Reply::new(
            250,
            "2.0.0",
            "accettato, identificativo abc@pec.uno.example",
        );
        assert_eq!(identificativo(&ok).as_deref(), Some("abc@pec.uno.example"));
        let no = smtp::Reply::new(250, "2.0.0", "non accettato (x): avviso");
        assert_eq!(identificativo(&no), None);
    }
}
