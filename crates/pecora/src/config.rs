//! `pecora.toml`: one provider's configuration. Relative paths are relative to the file's
//! own directory, so a configuration and its certificates can move together. The README
//! shows a complete example; `pecora demo` writes real ones.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub provider: ProviderSection,
    pub signing: SigningSection,
    pub tls: TlsSection,
    #[serde(default)]
    pub trust: TrustSection,
    pub index: IndexSection,
    pub listen: ListenSection,
    #[serde(default)]
    pub limits: LimitsSection,
    /// Static routes: destination domain → `host:port` of its MX (used before DNS).
    #[serde(default)]
    pub routes: BTreeMap<String, String>,
    /// MX lookup for the domains without a static route.
    #[serde(default)]
    pub dns: DnsSection,
    /// How the relay talks to other gestori.
    #[serde(default)]
    pub relay: RelaySection,
    #[serde(default)]
    pub log: LogSection,
    /// The quota each box type gets at creation (the admin may override it per box).
    #[serde(default)]
    pub quotas: QuotaSection,
    /// The web door's settings (links in e-mail, recovery).
    #[serde(default)]
    pub web: WebSection,
    /// What a new password must be (the web's password change, activation and recovery).
    #[serde(default)]
    pub password: PasswordSection,
    /// Where the REST API's webhooks may be posted.
    #[serde(default)]
    pub webhooks: WebhooksSection,
    /// The virus scanner (clamd); absent: nothing is scanned, and `serve` warns at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub antivirus: Option<AntivirusSection>,
    /// The directory of the configuration file (not in the file).
    #[serde(skip)]
    pub base: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    /// `gestore-emittente`, e.g. "Esempio PEC S.p.A.".
    pub name: String,
    /// The provider's mail domain (the one in its signing certificate).
    pub domain: String,
    /// The service mailbox (`mailReceipt`) for presa in carico and rilevazione virus.
    pub service_mailbox: String,
    /// Where the database, blobs and queue live.
    pub data_dir: PathBuf,
    /// The name in SMTP greetings and EHLO.
    pub hostname: String,
    /// Node number for identificativi (distinct per node of a cluster).
    #[serde(default)]
    pub node: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSection {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA certificates to embed in every signature.
    pub chain: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSection {
    /// CAs that issue gestori's signing certificates and peers' TLS certificates.
    #[serde(default)]
    pub ca: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSection {
    /// The provider index: LDIF, or a signed `.p7m` LDIF (verified against `trust.ca`).
    pub path: PathBuf,
    /// How often to check the file for changes.
    #[serde(default = "default_reload")]
    pub reload_seconds: u64,
}

fn default_reload() -> u64 {
    60
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSection {
    /// Submission with STARTTLS (port 587 style).
    pub submission: SocketAddr,
    /// Submission with implicit TLS (port 465 style).
    pub submissions: Option<SocketAddr>,
    /// The MX door: the punto di ricezione.
    pub mx: SocketAddr,
    /// IMAP with STARTTLS (port 143 style); none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap: Option<SocketAddr>,
    /// IMAP with implicit TLS (port 993 style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imaps: Option<SocketAddr>,
    /// POP3 with STLS (port 110 style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pop3: Option<SocketAddr>,
    /// POP3 with implicit TLS (port 995 style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pop3s: Option<SocketAddr>,
    /// The web door (webmail), HTTPS only (port 443 style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub max_message_size: u64,
    /// Size × number of recipients.
    pub max_total_size: u64,
    pub max_recipients: usize,
}

impl Default for LimitsSection {
    fn default() -> LimitsSection {
        let l = pec::checks::Limiti::default();
        LimitsSection {
            max_message_size: l.max_dimensione,
            max_total_size: l.max_dimensione_totale,
            max_recipients: l.max_destinatari,
        }
    }
}

impl LimitsSection {
    pub fn limiti(&self) -> pec::checks::Limiti {
        pec::checks::Limiti {
            max_dimensione: self.max_message_size,
            max_dimensione_totale: self.max_total_size,
            max_destinatari: self.max_recipients,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSection {
    /// Look up MX records for domains without a static route. `false`: static routes only
    /// (`pecora demo` writes this, so a closed test network never asks a real resolver).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The DNS server to ask (`IP:port`); absent: the system's (`/etc/resolv.conf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<SocketAddr>,
    /// The port to connect to on MX hosts.
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
}

impl Default for DnsSection {
    fn default() -> DnsSection {
        DnsSection {
            enabled: true,
            resolver: None,
            smtp_port: default_smtp_port(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_smtp_port() -> u16 {
    25
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySection {
    /// How long connecting, the TLS handshake, each reply and each write to a peer may take;
    /// a peer that stalls longer is an error for the attempt, and the job waits its backoff.
    #[serde(default = "default_relay_timeout")]
    pub timeout_seconds: u64,
}

impl Default for RelaySection {
    fn default() -> RelaySection {
        RelaySection {
            timeout_seconds: default_relay_timeout(),
        }
    }
}

/// RFC 5321 §4.5.3.2 suggests minutes per step; one minute lets a slow peer answer while a
/// stalled one holds a relay slot only briefly.
fn default_relay_timeout() -> u64 {
    60
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// Legal-log retention; the law asks for 30 months.
    pub retention_months: u32,
    /// Virus-archive retention (messages blocked for a virus); the law asks for 30 months.
    #[serde(default = "default_retention_months")]
    pub virus_retention_months: u32,
}

fn default_retention_months() -> u32 {
    30
}

impl Default for LogSection {
    fn default() -> LogSection {
        LogSection {
            retention_months: default_retention_months(),
            virus_retention_months: default_retention_months(),
        }
    }
}

/// Default quota per box type, in bytes (seed 000: "una quota fissata ... in base alla
/// tipologia scelta"); 0 = unlimited.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSection {
    pub standard: u64,
    pub pro: u64,
    pub multiutenza: u64,
}

impl Default for QuotaSection {
    fn default() -> QuotaSection {
        const GIB: u64 = 1 << 30;
        QuotaSection {
            standard: GIB,
            pro: 2 * GIB,
            multiutenza: 2 * GIB,
        }
    }
}

impl QuotaSection {
    /// The quota a new box of `kind` gets.
    pub fn of(&self, kind: store::MailboxKind) -> u64 {
        match kind {
            store::MailboxKind::Standard => self.standard,
            store::MailboxKind::Pro => self.pro,
            store::MailboxKind::Multiutenza => self.multiutenza,
        }
    }
}

/// The web door's settings beyond its listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    /// The address holders reach the door at, as written in e-mailed links (password
    /// recovery); without it, `https://<listen.web>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// How long a password-recovery link works.
    #[serde(default = "default_recovery_minutes")]
    pub recovery_link_minutes: u32,
}

fn default_recovery_minutes() -> u32 {
    60
}

impl Default for WebSection {
    fn default() -> WebSection {
        WebSection {
            public_url: None,
            recovery_link_minutes: default_recovery_minutes(),
        }
    }
}

/// Where webhooks may be posted, as CIDR ranges (`10.0.0.0/8`, `::1/128`, or one address):
/// by default anywhere but the ranges of [`web::api::destinazioni::VIETATE_DI_NORMA`]
/// (loopback, private, link-local, CGNAT, multicast…). `allow` opens some of those (a
/// receiver on this machine: `["127.0.0.0/8"]`); `deny` closes more, and wins over `allow`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksSection {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

impl WebhooksSection {
    pub fn destinazioni(&self) -> anyhow::Result<web::api::destinazioni::Destinazioni> {
        let reti = |list: &[String], key: &str| {
            list.iter()
                .map(|r| {
                    r.parse()
                        .map_err(|e| anyhow::anyhow!("[webhooks] {key}: {e}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        };
        Ok(web::api::destinazioni::Destinazioni {
            ammesse: reti(&self.allow, "allow")?,
            vietate: reti(&self.deny, "deny")?,
        })
    }
}

/// The provider's password policy (issue 6: "configurable by the provider"); the defaults
/// are seed 004's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordSection {
    pub min_len: usize,
    pub max_len: usize,
    pub require_letter: bool,
    pub require_digit: bool,
    /// Earlier passwords that may not come back (at most 10 are remembered).
    pub history: usize,
}

impl Default for PasswordSection {
    fn default() -> PasswordSection {
        let p = engine::settings::PasswordPolicy::default();
        PasswordSection {
            min_len: p.min_len,
            max_len: p.max_len,
            require_letter: p.require_letter,
            require_digit: p.require_digit,
            history: p.history,
        }
    }
}

impl PasswordSection {
    pub fn policy(&self) -> anyhow::Result<engine::settings::PasswordPolicy> {
        if self.min_len == 0 || self.min_len > self.max_len {
            bail!(
                "[password]: min_len must be at least 1 and at most max_len ({} > {})",
                self.min_len,
                self.max_len
            );
        }
        if self.history > store::PASSWORD_HISTORY {
            bail!(
                "[password]: history {} is more than the {} passwords remembered",
                self.history,
                store::PASSWORD_HISTORY
            );
        }
        Ok(engine::settings::PasswordPolicy {
            min_len: self.min_len,
            max_len: self.max_len,
            require_letter: self.require_letter,
            require_digit: self.require_digit,
            history: self.history,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AntivirusSection {
    /// Where clamd listens: `tcp:HOST:PORT` or `unix:/path/to/clamd.ctl`.
    pub clamd: String,
    /// How long connecting, sending each chunk, and waiting for the verdict may take.
    #[serde(default = "default_antivirus_timeout")]
    pub timeout_seconds: u64,
    /// What happens when clamd cannot give a verdict.
    #[serde(default)]
    pub on_unavailable: OnUnavailable,
}

fn default_antivirus_timeout() -> u64 {
    engine::antivirus::Clamd::DEFAULT_TIMEOUT.as_secs()
}

/// The policy when the scanner cannot answer. There is deliberately no "accept unscanned":
/// a certification must never stand on a message nobody scanned (spec §9.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    /// SMTP temporary failure (451): the client or the peer gestore retries later.
    #[default]
    Tempfail,
}

impl AntivirusSection {
    /// The configured clamd.
    pub fn clamd(&self) -> anyhow::Result<engine::antivirus::Clamd> {
        let address: engine::antivirus::ClamdAddress =
            self.clamd.parse().context("antivirus.clamd")?;
        Ok(engine::antivirus::Clamd::new(address)
            .with_timeout(std::time::Duration::from_secs(self.timeout_seconds)))
    }
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut c: Config =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        c.base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        c.validate()?;
        Ok(c)
    }

    /// A path from the file, resolved against the file's directory.
    pub fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !self.limits.limiti().rispetta_minimo_legale() {
            bail!(
                "limits below the legal floor (DM 2/11/2005 art. 12): at least 50 recipients and 30 MB as size × recipients"
            );
        }
        if !self.provider.service_mailbox.contains('@') {
            bail!("provider.service_mailbox must be an address");
        }
        if self.dns.smtp_port == 0 {
            bail!("dns.smtp_port must not be 0");
        }
        if self.relay.timeout_seconds == 0 {
            bail!("relay.timeout_seconds must not be 0");
        }
        self.webhooks.destinazioni()?;
        if let Some(av) = &self.antivirus {
            if av.timeout_seconds == 0 {
                bail!("antivirus.timeout_seconds must not be 0");
            }
            av.clamd()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../docs/pecora.example.toml");

    #[test]
    fn the_documented_example_parses() {
        let c: Config = toml::from_str(EXAMPLE).unwrap();
        assert!(c.dns.enabled);
        assert_eq!(c.dns.resolver, None);
        assert_eq!(c.dns.smtp_port, 25);
        assert_eq!(c.routes.len(), 1);
        assert_eq!(c.relay.timeout_seconds, 60);
        let av = c.antivirus.unwrap();
        assert_eq!(av.clamd, "unix:/run/clamav/clamd.ctl");
        assert_eq!(av.timeout_seconds, 30);
        assert_eq!(av.on_unavailable, OnUnavailable::Tempfail);
    }

    /// The example without one of its sections, e.g. `"[dns]"`.
    fn without(section: &str) -> String {
        let mut inside = false;
        let mut out = String::new();
        for line in EXAMPLE.lines() {
            if line.starts_with('[') {
                inside = line.starts_with(section);
            }
            if !inside {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    #[test]
    fn dns_section_is_optional_and_strict() {
        let base = without("[dns]");
        let c: Config = toml::from_str(&base).unwrap();
        assert!(c.dns.enabled);
        assert_eq!(c.dns.resolver, None);
        assert_eq!(c.dns.smtp_port, 25);

        let with = format!("{base}[dns]\nresolver = \"127.0.0.1:5353\"\nsmtp_port = 2525\n");
        let c: Config = toml::from_str(&with).unwrap();
        assert_eq!(c.dns.resolver, Some("127.0.0.1:5353".parse().unwrap()));
        assert_eq!(c.dns.smtp_port, 2525);
        assert!(c.dns.enabled);

        let off = format!("{base}[dns]\nenabled = false\n");
        assert!(!toml::from_str::<Config>(&off).unwrap().dns.enabled);

        let typo = format!("{base}[dns]\nresolvers = \"127.0.0.1:53\"\n");
        assert!(toml::from_str::<Config>(&typo).is_err());
        let no_port = format!("{base}[dns]\nresolver = \"127.0.0.1\"\n");
        assert!(toml::from_str::<Config>(&no_port).is_err());
    }

    #[test]
    fn relay_section_is_optional_and_strict() {
        let base = without("[relay]");
        assert_eq!(load(&base).unwrap().relay.timeout_seconds, 60);
        let short = format!("{base}[relay]\ntimeout_seconds = 5\n");
        assert_eq!(load(&short).unwrap().relay.timeout_seconds, 5);
        assert_eq!(
            load(&format!("{base}[relay]\n"))
                .unwrap()
                .relay
                .timeout_seconds,
            60
        );
        for bad in ["timeout_seconds = 0", "timeout = 5"] {
            assert!(load(&format!("{base}[relay]\n{bad}\n")).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhooks_section_is_optional_and_strict() {
        let base = without("[webhooks]");
        let default = load(&base).unwrap().webhooks.destinazioni().unwrap();
        assert_eq!(default, web::api::destinazioni::Destinazioni::default());
        let example = load(EXAMPLE).unwrap().webhooks.destinazioni().unwrap();
        for (ip, allowed) in [
            ("93.184.215.14", true),
            ("203.0.113.5", false),
            ("127.0.0.1", false),
        ] {
            assert_eq!(example.ammesso(ip.parse().unwrap()), allowed, "{ip}");
        }
        let allowing = format!("{base}[webhooks]\nallow = [\"127.0.0.0/8\"]\n");
        let allowing = load(&allowing).unwrap().webhooks.destinazioni().unwrap();
        assert!(allowing.ammesso("127.0.0.1".parse().unwrap()));
        for bad in [
            "allow = [\"127.0.0.1/33\"]",
            "deny = [\"rete\"]",
            "permit = []",
        ] {
            assert!(
                load(&format!("{base}[webhooks]\n{bad}\n")).is_err(),
                "{bad}"
            );
        }
    }

    /// Parses and validates like `Config::load`.
    fn load(text: &str) -> anyhow::Result<Config> {
        let c: Config = toml::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn antivirus_section_is_optional_and_strict() {
        let base = without("[antivirus]");
        assert!(load(&base).unwrap().antivirus.is_none());

        let tcp = format!("{base}[antivirus]\nclamd = \"tcp:127.0.0.1:3310\"\n");
        let av = load(&tcp).unwrap().antivirus.unwrap();
        assert_eq!(av.timeout_seconds, 30);
        assert_eq!(av.on_unavailable, OnUnavailable::Tempfail);
        let clamd = av.clamd().unwrap();
        assert_eq!(clamd.address().to_string(), "tcp:127.0.0.1:3310");
        assert_eq!(clamd.timeout(), std::time::Duration::from_secs(30));

        let unix = format!(
            "{base}[antivirus]\nclamd = \"unix:/run/clamav/clamd.ctl\"\ntimeout_seconds = 5\non_unavailable = \"tempfail\"\n"
        );
        let clamd = load(&unix).unwrap().antivirus.unwrap().clamd().unwrap();
        assert_eq!(clamd.address().to_string(), "unix:/run/clamav/clamd.ctl");
        assert_eq!(clamd.timeout(), std::time::Duration::from_secs(5));

        for bad in [
            "clamd = \"127.0.0.1:3310\"",
            "clamd = \"tcp:127.0.0.1\"",
            "clamd = \"unix:clamd.ctl\"",
            "clamd = \"tcp:127.0.0.1:3310\"\ntimeout_seconds = 0",
            "clamd = \"tcp:127.0.0.1:3310\"\non_unavailable = \"accept\"",
            "clamd = \"tcp:127.0.0.1:3310\"\ntimeout = 30",
            "timeout_seconds = 30",
        ] {
            assert!(
                load(&format!("{base}[antivirus]\n{bad}\n")).is_err(),
                "{bad}"
            );
        }
    }
}
