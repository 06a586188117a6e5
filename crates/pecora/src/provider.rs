//! A running provider: the engine built from a [`Config`], its two SMTP doors (submission and
//! MX) as `smtp::Handler`s, the relay worker sending over SMTP, and the index reloader.
//!
//! This is the only place that knows both the engine and SMTP: the engine stays free of
//! protocols, the smtp crate free of PEC.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use engine::access::Submitted;
use engine::accounts::LoginError;
use engine::antivirus::{Antivirus, Clamd, NoScan};
use engine::clock::{Clock, SystemClock};
use engine::mailbox::Principal;
use engine::reception::Received;
use engine::relay::{Outcome, Transport};
use engine::{Engine, Settings};
use index::{Index, SharedIndex};
use smtp::{Authenticated, Door, Handler, Reply, Session};
use store::MailboxKind;
use store::sqlite::SqliteStore;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::mx::{MxResolver, Resolution, Target};

/// How often the sender-side timers are checked.
const TIMER_INTERVAL: Duration = Duration::from_secs(60);

/// How often the legal log is pruned to its retention.
const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// How often the relay looks at the queue.
const RELAY_INTERVAL: Duration = Duration::from_millis(500);

pub struct Provider {
    pub engine: Arc<Engine>,
    pub config: Config,
    index: SharedIndex,
    trust: Option<smime::TrustStore>,
    trust_pems: Vec<Vec<u8>>,
    /// The scanner, when `[antivirus]` configures one.
    clamd: Option<Arc<Clamd>>,
}

impl Provider {
    /// Opens the store, loads the signing key, the trust anchors and the index.
    pub async fn open(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Provider> {
        let read = |p: &std::path::Path| {
            let p = config.path(p);
            std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
        };
        let signer = smime::Signer::from_pem(
            &read(&config.signing.cert)?,
            &read(&config.signing.key)?,
            &read(&config.signing.chain)?,
        )
        .context("loading the signing certificate")?;
        let expected = format!(
            "posta-certificata@{}",
            config.provider.domain.to_ascii_lowercase()
        );
        if signer.email().as_deref() != Some(expected.as_str()) {
            anyhow::bail!(
                "the signing certificate's e-mail is {:?}, but messages will come from {expected} (spec §2.2: they must match)",
                signer.email()
            );
        }
        let mut trust = smime::TrustStore::new();
        let mut trust_pems = Vec::new();
        for ca in &config.trust.ca {
            let pem = read(ca)?;
            trust
                .add_pem(&pem)
                .with_context(|| format!("loading CA {}", ca.display()))?;
            trust_pems.push(pem);
        }
        let index_path = config.path(&config.index.path);
        let trust = (!trust.is_empty()).then_some(trust);
        let index = Index::load(&index_path, trust.as_ref())
            .with_context(|| format!("loading the index {}", index_path.display()))?;
        check_own_record(&config, &index, &signer)?;
        let index = SharedIndex::new(index);
        let store = SqliteStore::open(&config.path(&config.provider.data_dir))
            .await
            .context("opening the data directory")?;
        let settings = Settings {
            gestore: pec::Gestore {
                nome: config.provider.name.clone(),
                dominio: config.provider.domain.to_ascii_lowercase(),
            },
            limiti: config.limits.limiti(),
            hash: pec::HashAlg::Sha1,
            node: node_id(config.provider.node),
        };
        let clamd = match &config.antivirus {
            Some(av) => Some(Arc::new(av.clamd()?)),
            None => None,
        };
        let antivirus: Arc<dyn Antivirus> = match &clamd {
            Some(c) => c.clone(),
            None => Arc::new(NoScan),
        };
        let engine = Engine::new(
            settings,
            Arc::new(store),
            index.clone(),
            signer,
            trust.clone().unwrap_or_default(),
            clock,
            antivirus,
        );
        Ok(Provider {
            engine: Arc::new(engine),
            config,
            index,
            trust,
            trust_pems,
            clamd,
        })
    }

    /// Opens a provider on the system clock (Europe/Rome).
    pub async fn open_default(config: Config) -> anyhow::Result<Provider> {
        Provider::open(config, Arc::new(SystemClock::rome())).await
    }

    /// Binds the doors and runs until `shutdown` resolves.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let c = &self.config;
        self.check_antivirus().await;
        let tls = smtp::tls_server_config(
            &std::fs::read(c.path(&c.tls.cert))?,
            &std::fs::read(c.path(&c.tls.key))?,
        )
        .context("loading the TLS certificate")?;
        let server = |door: Door, implicit_tls: bool| smtp::ServerConfig {
            door,
            hostname: c.provider.hostname.clone(),
            tls: Some(tls.clone()),
            implicit_tls,
            max_message_size: c.limits.max_message_size,
            max_total_size: c.limits.max_total_size,
            max_recipients: c.limits.max_recipients,
            idle_timeout: Duration::from_secs(300),
            max_line_length: 4096,
        };
        let pems: Vec<&[u8]> = self.trust_pems.iter().map(Vec::as_slice).collect();
        let transport = Arc::new(SmtpTransport {
            routes: routes(&c.routes)?,
            mx: c.dns.enabled.then(|| MxResolver::new(&c.dns)),
            client: smtp::Pool::new(smtp::ClientConfig {
                helo: c.provider.hostname.clone(),
                tls: smtp::tls_client_config(&pems)
                    .context("building the relay TLS configuration")?,
                // No plaintext fallback, and no unverified TLS: PEC between gestori travels
                // only over STARTTLS (spec §4.2, §9.5), to a peer whose certificate chains to
                // [trust] and names the host we connect to. A peer that cannot do that is a
                // temporary failure: the job waits, and the sender hears from the 12/24 h
                // timers (§3.11) if it never heals.
                require_tls: true,
                timeout: Duration::from_secs(c.relay.timeout_seconds),
            }),
        });

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            Box::pin(async move {
                let _ = rx.wait_for(|s| *s).await;
            })
        };
        let mut tasks = tokio::task::JoinSet::new();
        let submission: Arc<dyn Handler> = Arc::new(SubmissionDoor(self.engine.clone()));
        let mx: Arc<dyn Handler> = Arc::new(MxDoor(self.engine.clone()));
        let mut listeners = vec![(
            c.listen.submission,
            server(Door::Submission, false),
            submission.clone(),
        )];
        if let Some(addr) = c.listen.submissions {
            listeners.push((addr, server(Door::Submission, true), submission));
        }
        listeners.push((c.listen.mx, server(Door::Mx, false), mx));
        for (addr, cfg, handler) in listeners {
            let listener = bind(addr).await?;
            tasks.spawn(smtp::serve(listener, Arc::new(cfg), handler, stopped()));
        }
        // Mail access: IMAP and POP3, each with STARTTLS/STLS and implicit TLS.
        for (addr, implicit_tls) in [(c.listen.imap, false), (c.listen.imaps, true)] {
            let Some(addr) = addr else { continue };
            let cfg = imap::ServerConfig {
                implicit_tls,
                max_literal: c.limits.max_message_size,
                ..imap::ServerConfig::new(c.provider.hostname.clone(), Some(tls.clone()))
            };
            let listener = bind(addr).await?;
            tasks.spawn(imap::serve(
                listener,
                Arc::new(cfg),
                self.engine.clone(),
                stopped(),
            ));
        }
        for (addr, implicit_tls) in [(c.listen.pop3, false), (c.listen.pop3s, true)] {
            let Some(addr) = addr else { continue };
            let cfg = pop3::ServerConfig {
                implicit_tls,
                ..pop3::ServerConfig::new(c.provider.hostname.clone(), Some(tls.clone()))
            };
            let listener = bind(addr).await?;
            tasks.spawn(pop3::serve(
                listener,
                Arc::new(cfg),
                self.engine.clone(),
                stopped(),
            ));
        }
        // The web door: the webmail, over HTTPS only.
        if let Some(addr) = c.listen.web {
            let listener = bind(addr).await?;
            let public_url = c
                .web
                .public_url
                .clone()
                .unwrap_or_else(|| format!("https://{addr}"));
            let mut config = web::WebConfig::new(&public_url);
            config.policy = c.password.policy()?;
            config.recovery_valid_for = i64::from(c.web.recovery_link_minutes) * 60;
            config.quotas = [
                MailboxKind::Standard,
                MailboxKind::Pro,
                MailboxKind::Multiutenza,
            ]
            .map(|kind| (kind, c.quotas.of(kind)));
            config.provider_hosts = vec![c.provider.hostname.clone()];
            config.webhook = c.webhooks.destinazioni()?;
            let destinazioni = config.webhook.clone();
            let mut state = web::WebState::new(self.engine.clone(), config);
            // The panel's DNS check asks what the relay asks.
            if c.dns.enabled {
                state.mx = Some(Arc::new(MxResolver::new(&c.dns)));
            }
            tasks.spawn(web::serve(listener, tls.clone(), state, stopped()));
            // The REST API's webhooks: what lands in a box that has them is announced.
            let engine = self.engine.clone();
            let stop = stopped();
            tasks.spawn(async move {
                web::api::webhook::avvia(engine, destinazioni, stop).await;
                Ok(())
            });
        }
        let relay = self
            .engine
            .clone()
            .run_relay(transport, RELAY_INTERVAL, stopped());
        tasks.spawn(async move {
            relay.await;
            Ok(())
        });
        // The 12 h / 24 h notices (spec §4.4): a sweep every minute.
        let engine = self.engine.clone();
        tasks.spawn(periodic(TIMER_INTERVAL, stopped(), move || {
            let engine = engine.clone();
            async move {
                match engine.tick_timers().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(notices = n, "timeout notices issued"),
                    Err(e) => tracing::warn!(error = %e, "timer sweep failed"),
                }
            }
        }));
        // The holders' daily reports (once per Italian day each, whenever the sweep runs),
        // and the blocking of boxes not activated in time: hourly.
        const HOLDER_SWEEP_INTERVAL: Duration = Duration::from_secs(3600);
        let engine = self.engine.clone();
        tasks.spawn(periodic(HOLDER_SWEEP_INTERVAL, stopped(), move || {
            let engine = engine.clone();
            async move {
                let now = engine.clock().now().timestamp().as_second();
                match engine.send_daily_reports(now).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(reports = n, "daily reports delivered"),
                    Err(e) => tracing::warn!(error = %e, "daily report sweep failed"),
                }
                match engine.block_expired_activations(now).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(boxes = n, "boxes not activated in time blocked"),
                    Err(e) => tracing::warn!(error = %e, "activation deadline sweep failed"),
                }
            }
        }));
        // Legal-log and virus-archive retention (spec §8.3, §8.4: 30 months by default),
        // applied hourly.
        let engine = self.engine.clone();
        let log = c.log;
        tasks.spawn(periodic(RETENTION_INTERVAL, stopped(), move || {
            let engine = engine.clone();
            async move {
                let now = engine.clock().now().timestamp().as_second();
                let before = |months: u32| now - i64::from(months) * 30 * 86_400;
                let store = engine.store();
                match store.prune(before(log.retention_months)).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(events = n, "legal log: events past retention removed"),
                    Err(e) => tracing::warn!(error = %e, "legal log pruning failed"),
                }
                match store
                    .prune_virus_archive(before(log.virus_retention_months))
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        messages = n,
                        "virus archive: records past retention removed"
                    ),
                    Err(e) => tracing::warn!(error = %e, "virus archive pruning failed"),
                }
            }
        }));
        let reloader = self.index.spawn_reloader(
            c.path(&c.index.path),
            self.trust.clone(),
            Duration::from_secs(c.index.reload_seconds.max(1)),
        );
        shutdown.await;
        let _ = stop_tx.send(true);
        reloader.abort();
        while let Some(r) = tasks.join_next().await {
            r.map_err(|e| anyhow!("a server task failed: {e}"))??;
        }
        Ok(())
    }
}

impl Provider {
    /// Says at start whether mail will be scanned. clamd being down is not fatal: it may
    /// come up after us, and meanwhile submissions and buste get 451 and are retried.
    async fn check_antivirus(&self) {
        let Some(clamd) = &self.clamd else {
            tracing::warn!(
                "no [antivirus] section: messages are NOT scanned for viruses (spec §9.6 requires it)"
            );
            return;
        };
        let address = clamd.address();
        match clamd.version().await {
            Ok(version) if version.starts_with("ClamAV") => {
                tracing::info!(%address, %version, "antivirus: clamd answers")
            }
            Ok(other) => tracing::warn!(
                %address,
                reply = %other,
                "antivirus: unexpected VERSION reply; scanning will be tried anyway"
            ),
            Err(e) => tracing::warn!(
                %address,
                error = %e,
                "antivirus: clamd does not answer; submissions and incoming buste get 451 until it does"
            ),
        }
    }
}

/// Runs `work` now and then every `interval`, until `stop` resolves.
async fn periodic<F, W>(
    interval: Duration,
    stop: impl std::future::Future<Output = ()>,
    mut work: F,
) -> std::io::Result<()>
where
    F: FnMut() -> W,
    W: std::future::Future<Output = ()>,
{
    tokio::pin!(stop);
    loop {
        work().await;
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Our own record in the index must match our configuration: other gestori look our
/// signature up there, and send presa in carico to its `mailReceipt`.
fn check_own_record(config: &Config, index: &Index, signer: &smime::Signer) -> anyhow::Result<()> {
    let domain = &config.provider.domain;
    let Some(ours) = index.provider_by_domain(domain) else {
        anyhow::bail!("the index lists no gestore for {domain}: add this provider's record");
    };
    if !ours
        .mail_receipt
        .eq_ignore_ascii_case(&config.provider.service_mailbox)
    {
        anyhow::bail!(
            "the index gives {} as this provider's mailReceipt, the configuration {}",
            ours.mail_receipt,
            config.provider.service_mailbox
        );
    }
    if !ours.has_certificate(&signer.certificate().to_der()?) {
        anyhow::bail!(
            "the signing certificate is not among {}'s providerCertificate values in the index: other gestori would refuse our messages",
            ours.name
        );
    }
    Ok(())
}

/// A node id for identificativi: the configured one, or a random one per start.
fn node_id(configured: u64) -> u64 {
    if configured != 0 {
        return configured;
    }
    let mut b = [0u8; 8];
    openssl::rand::rand_bytes(&mut b).map_or(std::process::id().into(), |_| u64::from_be_bytes(b))
}

fn routes(config: &BTreeMap<String, String>) -> anyhow::Result<BTreeMap<String, Target>> {
    config
        .iter()
        .map(|(domain, target)| {
            let addr: SocketAddr = target
                .parse()
                .with_context(|| format!("route for {domain}: {target:?} is not host:port"))?;
            let host = addr.ip().to_string();
            Ok((domain.to_ascii_lowercase(), Target { host, addr }))
        })
        .collect()
}

fn envelope(e: &smtp::Envelope) -> pec::checks::Envelope {
    pec::checks::Envelope {
        mail_from: e.mail_from.clone(),
        rcpt_to: e.rcpt_to.clone(),
    }
}

fn temporary(e: impl std::fmt::Display) -> Reply {
    tracing::error!(error = %e, "temporary failure");
    Reply::new(451, "4.3.0", "temporary failure, please try again later")
}

/// The punto di accesso's door: authenticated holders submit here.
struct SubmissionDoor(Arc<Engine>);

#[async_trait]
impl Handler for SubmissionDoor {
    async fn authenticate(
        &self,
        _s: &Session,
        username: &str,
        password: &str,
    ) -> Result<Authenticated, Reply> {
        match self.0.login(username, password).await {
            Ok(Ok(who)) if !who.may_send() => Err(Reply::new(
                550,
                "5.7.1",
                format!(
                    "{} may read {} but not send from it (delegato in sola lettura)",
                    who.login, who.mailbox
                ),
            )),
            Ok(Ok(who)) => Ok(Authenticated {
                mailbox: who.mailbox,
                credential: who.credenziale,
            }),
            Ok(Err(LoginError::BadCredentials)) => {
                Err(Reply::new(535, "5.7.8", "authentication failed"))
            }
            Ok(Err(e @ LoginError::NotActive(_))) => Err(Reply::new(535, "5.7.8", e.to_string())),
            Err(e) => Err(temporary(e)),
        }
    }

    async fn rcpt(&self, _s: &Session, _from: &str, _rcpt: &str) -> Result<(), Reply> {
        // Every recipient is certified or not at the formal checks, after DATA.
        Ok(())
    }

    async fn data(&self, s: &Session, e: &smtp::Envelope, message: Vec<u8>) -> Reply {
        // The box blocked, the password changed, the delegate demoted since AUTH: the
        // session ends here, not with a certified message (Engine::rinnova).
        let who = Principal {
            mailbox: s.authenticated.clone().unwrap_or_default(),
            login: s.login.as_deref().unwrap_or_default().to_ascii_lowercase(),
            role: None,
            credenziale: s.credential.clone(),
        };
        match self.0.rinnova(&who).await {
            Ok(Some(now)) if now.may_send() => {}
            Ok(_) => {
                tracing::info!(login = ?who.login, mailbox = %who.mailbox, "submission refused: login no longer valid");
                return Reply::new(
                    421,
                    "4.7.0",
                    "credenziali cambiate o casella non attiva: accedere di nuovo (login no longer valid)",
                );
            }
            Err(err) => return temporary(err),
        }
        // A delegate logs in with its own name and sends as the box (engine::mailbox).
        let actor = s
            .login
            .as_deref()
            .filter(|login| Some(login.to_ascii_lowercase()) != s.authenticated);
        match self.0.submit_as(&envelope(e), &message, actor).await {
            Ok(Submitted::Accettato { identificativo }) => Reply::new(
                250,
                "2.0.0",
                format!("accettato, identificativo {identificativo}"),
            ),
            Ok(Submitted::NonAccettato {
                identificativo,
                motivo,
            }) => {
                let first = motivo.lines().next().unwrap_or_default();
                Reply::new(
                    250,
                    "2.0.0",
                    format!(
                        "non accettato ({first}): avviso di non accettazione inviato, identificativo {identificativo}"
                    ),
                )
            }
            Err(err) => temporary(err),
        }
    }
}

/// The punto di ricezione's door: other gestori and the Internet deliver here.
struct MxDoor(Arc<Engine>);

#[async_trait]
impl Handler for MxDoor {
    async fn authenticate(&self, _s: &Session, _u: &str, _p: &str) -> Result<Authenticated, Reply> {
        Err(Reply::new(
            503,
            "5.5.1",
            "authentication is not offered here",
        ))
    }

    async fn rcpt(&self, _s: &Session, _from: &str, rcpt: &str) -> Result<(), Reply> {
        match self.0.accepts_recipient(rcpt).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Reply::new(
                550,
                "5.7.1",
                "relay not permitted: domain not served here",
            )),
            Err(e) => Err(temporary(e)),
        }
    }

    async fn data(&self, _s: &Session, e: &smtp::Envelope, message: Vec<u8>) -> Reply {
        match self.0.receive(&envelope(e), &message).await {
            Ok(Received::Accepted(text)) => Reply::new(250, "2.0.0", text),
            Ok(Received::Refused(text)) => Reply::new(550, "5.7.1", text),
            Ok(Received::Infected(virus)) => Reply::new(
                554,
                "5.7.1",
                format!("message refused: virus found ({virus})"),
            ),
            Err(err) => temporary(err),
        }
    }
}

/// Relays over SMTP with mandatory STARTTLS: to the static route of the domain if it has one,
/// else to its MX hosts from DNS (unless `[dns] enabled = false`). Connections to a peer
/// stay open for its next message.
struct SmtpTransport {
    routes: BTreeMap<String, Target>,
    mx: Option<MxResolver>,
    client: smtp::Pool,
}

impl SmtpTransport {
    /// Where to try, in order: the static route, else what DNS says.
    async fn resolve(&self, domain: &str) -> Result<Resolution, String> {
        if let Some(route) = self.routes.get(&domain.to_ascii_lowercase()) {
            return Ok(Resolution::Targets {
                targets: vec![route.clone()],
                unresolved: Vec::new(),
            });
        }
        let Some(mx) = &self.mx else {
            return Err(format!(
                "no route to {domain}: add it under [routes] (MX lookup is off: [dns] enabled = false)"
            ));
        };
        mx.resolve(domain).await
    }
}

#[async_trait]
impl Transport for SmtpTransport {
    async fn send(
        &self,
        domain: &str,
        mail_from: &str,
        rcpt_to: &[String],
        message: &[u8],
    ) -> Result<Vec<(String, Outcome)>, String> {
        let (targets, mut failures) = match self.resolve(domain).await? {
            Resolution::Targets {
                targets,
                unresolved,
            } => (targets, unresolved),
            Resolution::Undeliverable(why) => {
                return Ok(rcpt_to
                    .iter()
                    .map(|r| (r.clone(), Outcome::Permanent(why.clone())))
                    .collect());
            }
        };
        let env = smtp::Envelope {
            mail_from: mail_from.to_string(),
            rcpt_to: rcpt_to.to_vec(),
            size_hint: Some(message.len() as u64),
        };
        let mut delivery = None;
        for target in &targets {
            match self
                .client
                .send(target.addr, &target.host, &env, message)
                .await
            {
                Ok(d) => {
                    delivery = Some(d);
                    break;
                }
                Err(e) => {
                    tracing::info!(domain, host = %target.host, addr = %target.addr, error = %e, "MX host failed, trying the next");
                    failures.push(format!("{} ({}): {e}", target.host, target.addr));
                }
            }
        }
        let Some(delivery) = delivery else {
            return Err(format!(
                "could not deliver to {domain}: {}",
                failures.join("; ")
            ));
        };
        let outcome = |o: &smtp::Outcome| match o {
            smtp::Outcome::Accepted(r) => Outcome::Delivered(r.to_string()),
            smtp::Outcome::Temporary(r) => Outcome::Temporary(r.to_string()),
            smtp::Outcome::Permanent(r) => Outcome::Permanent(r.to_string()),
        };
        Ok(delivery
            .per_recipient
            .iter()
            .map(|(rcpt, o)| {
                // A recipient accepted at RCPT shares the fate of DATA.
                let o = match (o, &delivery.data) {
                    (smtp::Outcome::Accepted(_), Some(data)) => outcome(data),
                    (smtp::Outcome::Accepted(_), None) => {
                        Outcome::Temporary("no DATA reply".to_string())
                    }
                    (other, _) => outcome(other),
                };
                (rcpt.clone(), o)
            })
            .collect())
    }
}

/// Binds a listener, saying which address failed.
async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}
