//! `pecora demo`: a two-provider PEC network on loopback with no configuration. It creates a
//! CA, two gestori (each with its signing certificate, TLS certificate, domain, service
//! mailbox and holders with printed passwords), one signed provider index, and a
//! `pecora.toml` per provider; writes `demo.json`; then runs both until interrupted. Run it
//! again on the same directory and the same network (and its mailboxes) comes back.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use smime::testca::TestCa;
use store::{AdminScope, MailboxKind, MailboxState, NewMailbox, OrdinaryMail};

use crate::config::{
    Config, DnsSection, IndexSection, LimitsSection, ListenSection, LogSection, PasswordSection,
    ProviderSection, QuotaSection, RelaySection, SigningSection, TlsSection, TrustSection,
    WebSection, WebhooksSection,
};
use crate::provider::Provider;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Demo {
    /// The CA that issued every certificate (trust it to verify receipts).
    pub ca: PathBuf,
    /// The signed provider index both gestori load.
    pub index: PathBuf,
    pub providers: Vec<DemoProvider>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoProvider {
    pub name: String,
    pub domain: String,
    pub config: PathBuf,
    pub submission_port: u16,
    pub submissions_port: u16,
    pub mx_port: u16,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub pop3_port: u16,
    pub pop3s_port: u16,
    /// The webmail, HTTPS.
    pub web_port: u16,
    pub service_mailbox: String,
    pub users: Vec<DemoUser>,
    /// The accounts of the administration panel (`/amministrazione`): a provider admin and
    /// the postmaster of the provider's domain. Absent from a demo.json written before.
    #[serde(default)]
    pub admins: Vec<DemoAdmin>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoAdmin {
    pub login: String,
    pub password: String,
    /// `provider`, or the domain a postmaster manages.
    pub scope: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoUser {
    pub address: String,
    pub password: String,
    /// What the box does with ordinary mail.
    pub ordinary_mail: String,
}

/// Ports per demo provider: submission, submissions, MX, IMAP, IMAPS, POP3, POP3S, web.
const PORTS: usize = 8;

/// (name, domain, holders; the last holder accepts ordinary mail as anomalia).
const PROVIDERS: [(&str, &str, [&str; 2]); 2] = [
    (
        "Pecora Uno S.p.A.",
        "pec.uno.example",
        ["mario.rossi", "anna.bianchi"],
    ),
    (
        "Pecora Due S.p.A.",
        "pec.due.example",
        ["ufficio.protocollo", "luca.verdi"],
    ),
];

/// Creates the network in `dir` (or reuses one created before) and returns its description.
pub async fn prepare(dir: &Path) -> anyhow::Result<Demo> {
    let json = dir.join("demo.json");
    if json.exists() {
        let text = std::fs::read_to_string(&json)
            .with_context(|| format!("reading {}", json.display()))?;
        return serde_json::from_str(&text).with_context(|| format!("parsing {}", json.display()));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let ca = TestCa::new("pecora demo")?;
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.cert_pem()?)?;

    // Ports first: every provider routes to every other.
    let free = free_ports(PROVIDERS.len() * PORTS)?;
    let ports: Vec<[u16; PORTS]> = free
        .chunks(PORTS)
        .map(|c| std::array::from_fn(|i| c[i]))
        .collect();
    let routes: std::collections::BTreeMap<String, String> = PROVIDERS
        .iter()
        .zip(&ports)
        .map(|((_, domain, _), p)| (domain.to_string(), format!("127.0.0.1:{}", p[2])))
        .collect();

    let mut records = Vec::new();
    let mut providers = Vec::new();
    for ((name, domain, holders), [submission, submissions, mx, imap, imaps, pop3, pop3s, web]) in
        PROVIDERS.iter().zip(&ports)
    {
        let local = |port: &u16| SocketAddr::from(([127, 0, 0, 1], *port));
        let pdir = dir.join(domain);
        std::fs::create_dir_all(&pdir)?;
        let email = format!("posta-certificata@{domain}");
        let (cert, key) = ca.provider(name, &email)?;
        std::fs::write(pdir.join("signing-cert.pem"), &cert)?;
        std::fs::write(pdir.join("signing-key.pem"), &key)?;
        // Also the MX host name, for peers that find us through DNS rather than a route.
        let mx_host = format!("mx.{domain}");
        let (tls_cert, tls_key) = ca.server(&["127.0.0.1", "localhost", &mx_host])?;
        std::fs::write(pdir.join("tls-cert.pem"), tls_cert)?;
        std::fs::write(pdir.join("tls-key.pem"), tls_key)?;
        let der = openssl::x509::X509::from_pem(&cert)?.to_der()?;
        let service_mailbox = format!("ricevute@{domain}");
        records.push(index::provider_record(
            name,
            &service_mailbox,
            &[domain],
            &der,
        ));

        let config = Config {
            provider: ProviderSection {
                name: name.to_string(),
                domain: domain.to_string(),
                service_mailbox: service_mailbox.clone(),
                data_dir: PathBuf::from("data"),
                hostname: mx_host.clone(),
                node: 0,
            },
            signing: SigningSection {
                cert: "signing-cert.pem".into(),
                key: "signing-key.pem".into(),
                chain: "../ca.pem".into(),
            },
            tls: TlsSection {
                cert: "tls-cert.pem".into(),
                key: "tls-key.pem".into(),
            },
            trust: TrustSection {
                ca: vec!["../ca.pem".into()],
            },
            index: IndexSection {
                path: "../index.ldif.p7m".into(),
                reload_seconds: 5,
            },
            listen: ListenSection {
                submission: local(submission),
                submissions: Some(local(submissions)),
                mx: local(mx),
                imap: Some(local(imap)),
                imaps: Some(local(imaps)),
                pop3: Some(local(pop3)),
                pop3s: Some(local(pop3s)),
                web: Some(local(web)),
            },
            limits: LimitsSection::default(),
            routes: routes.clone(),
            // A closed network: static routes only, no queries to the system's resolver.
            dns: DnsSection {
                enabled: false,
                ..DnsSection::default()
            },
            relay: RelaySection::default(),
            log: LogSection::default(),
            quotas: QuotaSection::default(),
            web: WebSection {
                public_url: Some(format!("https://localhost:{web}")),
                ..WebSection::default()
            },
            password: PasswordSection::default(),
            // Everything runs on this machine: a protocol system's receiver too.
            webhooks: WebhooksSection {
                allow: vec!["127.0.0.0/8".into(), "::1/128".into()],
                deny: Vec::new(),
            },
            antivirus: None,
            base: pdir.clone(),
        };
        let config_path = pdir.join("pecora.toml");
        std::fs::write(&config_path, toml::to_string_pretty(&config)?)?;

        let mut users = Vec::new();
        for (n, local) in holders.iter().enumerate() {
            let ordinary = if n + 1 == holders.len() {
                OrdinaryMail::Anomalia
            } else {
                OrdinaryMail::Rifiuta
            };
            users.push(DemoUser {
                address: format!("{local}@{domain}"),
                password: password()?,
                ordinary_mail: ordinary.as_str().to_string(),
            });
        }
        providers.push(DemoProvider {
            name: name.to_string(),
            domain: domain.to_string(),
            config: config_path,
            submission_port: *submission,
            submissions_port: *submissions,
            mx_port: *mx,
            imap_port: *imap,
            imaps_port: *imaps,
            pop3_port: *pop3,
            pop3s_port: *pop3s,
            web_port: *web,
            service_mailbox,
            users,
            admins: vec![
                DemoAdmin {
                    login: "admin".into(),
                    password: password()?,
                    scope: "provider".into(),
                },
                DemoAdmin {
                    login: format!("postmaster@{domain}"),
                    password: password()?,
                    scope: domain.to_string(),
                },
            ],
        });
    }

    // The index, signed by a demo "Indice dei gestori" certificate of the same CA.
    let index = index::Index::from_providers(records)?;
    let (icert, ikey) = ca.provider("Indice dei gestori PEC (demo)", "indice@pecora.example")?;
    let index_signer = smime::Signer::from_pem(&icert, &ikey, &ca.cert_pem()?)?;
    let index_path = dir.join("index.ldif.p7m");
    std::fs::write(dir.join("index.ldif"), index.to_ldif())?;
    std::fs::write(
        &index_path,
        index::sign_ldif(&index.to_ldif(), &index_signer)?,
    )?;

    for p in &providers {
        create_mailboxes(p).await?;
    }
    let demo = Demo {
        ca: ca_path,
        index: index_path,
        providers,
    };
    // Written whole or not at all (write, then rename): whoever waits for demo.json to
    // appear, and a second run that reuses it, must never read half of it.
    let partial = dir.join("demo.json.partial");
    std::fs::write(&partial, serde_json::to_string_pretty(&demo)?)?;
    std::fs::rename(&partial, &json)?;
    Ok(demo)
}

async fn create_mailboxes(p: &DemoProvider) -> anyhow::Result<()> {
    let config = Config::load(&p.config)?;
    let provider = Provider::open_default(config).await?;
    let store = provider.engine.store();
    let now = provider.engine.clock().now().timestamp().as_second();
    store.create_domain(&p.domain, now).await?;
    let service = DemoUser {
        address: p.service_mailbox.clone(),
        password: password()?,
        ordinary_mail: OrdinaryMail::Rifiuta.as_str().into(),
    };
    for u in p.users.iter().chain(std::iter::once(&service)) {
        store
            .create_mailbox(
                &NewMailbox {
                    address: u.address.clone(),
                    kind: MailboxKind::Standard,
                    state: MailboxState::Attiva,
                    quota: 1 << 30,
                    ordinary_mail: u.ordinary_mail.parse().unwrap_or_default(),
                    password_hash: engine::accounts::hash_password(&u.password)?,
                },
                now,
            )
            .await?;
    }
    for a in &p.admins {
        let scope = match a.scope.as_str() {
            "provider" => AdminScope::Provider,
            domain => AdminScope::Domain(domain.to_string()),
        };
        let hash = engine::accounts::hash_password(&a.password)?;
        store.create_admin(&a.login, &hash, &scope, now).await?;
    }
    Ok(())
}

/// Runs the demo network until Ctrl-C or SIGTERM.
pub async fn run(dir: &Path) -> anyhow::Result<()> {
    let demo = prepare(dir).await?;
    print_summary(&demo, dir);
    let mut tasks = tokio::task::JoinSet::new();
    for p in &demo.providers {
        let provider = Provider::open_default(Config::load(&p.config)?).await?;
        tasks.spawn(provider.run(crate::shutdown_signal()));
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}

fn print_summary(demo: &Demo, dir: &Path) {
    println!("pecora demo: two PEC providers on 127.0.0.1 (Ctrl-C to stop)\n");
    for p in &demo.providers {
        println!("{} ({})", p.name, p.domain);
        println!(
            "  submission 127.0.0.1:{} (STARTTLS), 127.0.0.1:{} (TLS); MX 127.0.0.1:{}",
            p.submission_port, p.submissions_port, p.mx_port
        );
        println!(
            "  IMAP 127.0.0.1:{} (STARTTLS), 127.0.0.1:{} (TLS); POP3 127.0.0.1:{} (STLS), 127.0.0.1:{} (TLS)",
            p.imap_port, p.imaps_port, p.pop3_port, p.pop3s_port
        );
        println!("  webmail https://localhost:{}/", p.web_port);
        for u in &p.users {
            println!("  {}  password: {}", u.address, u.password);
        }
        println!(
            "  administration https://localhost:{}/amministrazione",
            p.web_port
        );
        for a in &p.admins {
            println!("  {} ({})  password: {}", a.login, a.scope, a.password);
        }
        println!("  config: {}\n", p.config.display());
    }
    println!(
        "CA: {}   (trust it to verify receipts: pecora verify --ca ...)",
        demo.ca.display()
    );
    println!("everything above is in {}", dir.join("demo.json").display());
}

/// `n` distinct free ports: every probe socket stays open until all are chosen, so the
/// system cannot hand out the same port twice. They are taken below the system's ephemeral
/// range when there is room, from a random start: the ports the kernel picks for outgoing
/// connections (and for anyone's `bind` to port 0) come from that range, so none of them can
/// take a demo port while the demo restarts.
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    const FLOOR: u16 = 10_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let mut probes = Vec::new();
    if ephemeral_low > FLOOR {
        let span = u32::from(ephemeral_low - FLOOR);
        let mut start = [0u8; 4];
        openssl::rand::rand_bytes(&mut start)?;
        let start = u32::from_le_bytes(start) % span;
        for i in 0..span {
            if probes.len() == n {
                break;
            }
            // < ephemeral_low, so it fits.
            let port = FLOOR + ((start + i) % span) as u16;
            if let Ok(probe) = std::net::TcpListener::bind(("127.0.0.1", port)) {
                probes.push(probe);
            }
        }
    }
    while probes.len() < n {
        probes.push(std::net::TcpListener::bind("127.0.0.1:0")?);
    }
    Ok(probes
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()?)
}

/// 16 characters, letters and digits.
fn password() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}
