//! MX lookup for the relay: where to deliver mail for a domain that has no static route.
//!
//! Static routes (`[routes]`) suit a closed network of gestori, but a gestore also relays to
//! ordinary (`esterno`) recipients anywhere, and peers move their MX hosts without telling
//! anyone. So, RFC 5321 §5.1: ask DNS for the domain's MX records, order the exchanges by
//! preference (lowest first; equal preferences in the order the answer gave them), resolve
//! each exchange's A/AAAA records, and hand the relay the resulting (host name, address) list
//! to try in order. The host name is what the TLS certificate is verified against.
//!
//! The corner cases, decided here and nowhere else:
//! * no MX records (the name exists): the domain itself is the only exchange (*implicit MX*);
//! * a null MX (RFC 7505: a lone MX whose exchange is the root, `.`), or a domain that does
//!   not exist (NXDOMAIN): the domain accepts no mail; a permanent verdict, not something to
//!   retry (for an ordinary recipient the sender gets an avviso di mancata consegna);
//! * a DNS failure or a timeout, or no exchange with an address: an error, which the relay
//!   treats as temporary and retries later.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use crate::config::DnsSection;

/// One place to try: the name to verify TLS against and the address to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub addr: SocketAddr,
}

/// What DNS says about delivering to a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Try these in order (never empty). `unresolved` names the exchanges that were skipped
    /// because their addresses could not be found, and why.
    Targets {
        targets: Vec<Target>,
        unresolved: Vec<String>,
    },
    /// The domain accepts no mail at all (null MX, or it does not exist): the SMTP-style
    /// reason to report for every recipient.
    Undeliverable(String),
}

/// The exchanges to try, from a domain's MX records.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Exchanges {
    /// Host names (no trailing dot), best first.
    Hosts(Vec<String>),
    /// A null MX: no mail.
    Null,
}

/// Orders MX records `(preference, exchange)` into the exchanges to try. No records means the
/// implicit MX (the domain itself); only root exchanges (`.`) mean a null MX. A root exchange
/// next to real ones (RFC 7505 forbids publishing that) is skipped, and so is a repeated one.
fn exchanges(domain: &str, records: &[(u16, String)]) -> Exchanges {
    if records.is_empty() {
        return Exchanges::Hosts(vec![host_name(domain)]);
    }
    let mut real: Vec<(u16, String)> = records
        .iter()
        .map(|(preference, exchange)| (*preference, host_name(exchange)))
        .filter(|(_, host)| !host.is_empty())
        .collect();
    if real.is_empty() {
        return Exchanges::Null;
    }
    // Stable: equal preferences keep the order of the answer.
    real.sort_by_key(|(preference, _)| *preference);
    let mut hosts: Vec<String> = Vec::new();
    for (_, host) in real {
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    Exchanges::Hosts(hosts)
}

/// A DNS name as a host name: lowercase, without the trailing dot (the root becomes "").
fn host_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A name as a fully qualified DNS name, so no search domain is ever appended.
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

/// Looks up where a domain's mail goes.
pub struct MxResolver {
    /// The resolver, or why none could be built (then every lookup fails with that reason,
    /// and static routes keep working).
    resolver: Result<TokioResolver, String>,
    smtp_port: u16,
}

impl MxResolver {
    /// A resolver asking `dns.resolver`, or the system's configured servers.
    pub fn new(dns: &DnsSection) -> MxResolver {
        MxResolver::with_timeout(dns, None)
    }

    /// As [`MxResolver::new`], with a per-query timeout instead of the configured one.
    pub fn with_timeout(dns: &DnsSection, timeout: Option<Duration>) -> MxResolver {
        let resolver = match dns.resolver {
            Some(server) => {
                let connection = |mut c: ConnectionConfig| {
                    c.port = server.port();
                    c
                };
                let name_server = NameServerConfig::new(
                    server.ip(),
                    true,
                    vec![
                        connection(ConnectionConfig::udp()),
                        connection(ConnectionConfig::tcp()),
                    ],
                );
                let mut builder = TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![name_server]),
                    TokioRuntimeProvider::default(),
                );
                tune(builder.options_mut(), timeout);
                builder.build().map_err(|e| e.to_string())
            }
            None => TokioResolver::builder_tokio()
                .and_then(|mut builder| {
                    tune(builder.options_mut(), timeout);
                    builder.build()
                })
                .map_err(|e| format!("the system's DNS configuration (/etc/resolv.conf): {e}")),
        };
        if let Err(e) = &resolver {
            tracing::warn!(error = %e, "no DNS resolver: only static routes will work");
        }
        MxResolver {
            resolver: resolver.map_err(|e| format!("no DNS resolver: {e}")),
            smtp_port: dns.smtp_port,
        }
    }

    /// Where to deliver mail for `domain`. `Err` is temporary: try again later.
    pub async fn resolve(&self, domain: &str) -> Result<Resolution, String> {
        let resolver = self.resolver.as_ref().map_err(Clone::clone)?;
        let Some(records) = mx_records(resolver, domain).await? else {
            return Ok(Resolution::Undeliverable(format!(
                "550 5.1.2 {domain} does not exist in DNS (NXDOMAIN)"
            )));
        };
        let implicit = records.is_empty();
        let hosts = match exchanges(domain, &records) {
            Exchanges::Null => {
                return Ok(Resolution::Undeliverable(format!(
                    "556 5.1.10 {domain} accepts no mail (null MX, RFC 7505)"
                )));
            }
            Exchanges::Hosts(hosts) => hosts,
        };
        let mut targets = Vec::new();
        let mut unresolved = Vec::new();
        for host in hosts {
            match resolver.lookup_ip(fqdn(&host)).await {
                Ok(ips) => targets.extend(ips.iter().map(|ip| Target {
                    host: host.clone(),
                    addr: SocketAddr::new(ip, self.smtp_port),
                })),
                Err(e) if e.is_no_records_found() => {
                    unresolved.push(format!("{host}: no A/AAAA records"));
                }
                Err(e) => unresolved.push(format!("{host}: address lookup failed: {e}")),
            }
        }
        if targets.is_empty() {
            return Err(if implicit {
                format!(
                    "{domain} has no MX records and no address to use instead ({})",
                    unresolved.join("; ")
                )
            } else {
                format!(
                    "no MX host of {domain} has an address ({})",
                    unresolved.join("; ")
                )
            });
        }
        Ok(Resolution::Targets {
            targets,
            unresolved,
        })
    }
}

/// A domain's MX records `(preference, exchange)`; `None` when the domain does not exist.
async fn mx_records(
    resolver: &TokioResolver,
    domain: &str,
) -> Result<Option<Vec<(u16, String)>>, String> {
    match resolver.mx_lookup(fqdn(domain)).await {
        Ok(lookup) => Ok(Some(
            lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                    _ => None,
                })
                .collect(),
        )),
        Err(e) if e.is_nx_domain() => Ok(None),
        Err(e) if e.is_no_records_found() => Ok(Some(Vec::new())),
        Err(e) => Err(format!("MX lookup for {domain} failed: {e}")),
    }
}

/// The administration panel's DNS check: where a hosted domain's mail goes, to compare with
/// the provider's host names.
#[async_trait::async_trait]
impl web::MxLookup for MxResolver {
    async fn mx(&self, domain: &str) -> Result<Vec<String>, String> {
        let resolver = self.resolver.as_ref().map_err(Clone::clone)?;
        let records = mx_records(resolver, domain)
            .await?
            .ok_or_else(|| format!("{domain} does not exist in DNS (NXDOMAIN)"))?;
        match exchanges(domain, &records) {
            Exchanges::Hosts(hosts) => Ok(hosts),
            Exchanges::Null => Err(format!("{domain} accepts no mail (null MX)")),
        }
    }
}

fn tune(options: &mut ResolverOpts, timeout: Option<Duration>) {
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    if let Some(timeout) = timeout {
        options.timeout = timeout;
        options.attempts = 1;
    }
}

#[cfg(test)]
#[path = "../tests/support/dns_responder.rs"]
mod dns_responder;

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::dns_responder::{Responder, Zone};
    use super::*;

    fn mx(records: &[(u16, &str)]) -> Vec<(u16, String)> {
        records.iter().map(|(p, h)| (*p, h.to_string())).collect()
    }

    fn hosts(names: &[&str]) -> Exchanges {
        Exchanges::Hosts(names.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn lowest_preference_first_ties_in_answer_order() {
        let records = mx(&[
            (20, "mx3.example.it."),
            (10, "MX1.example.it."),
            (20, "mx2.example.it."),
            (5, "mx0.example.it."),
            (10, "mx1.example.it."),
        ]);
        assert_eq!(
            exchanges("example.it", &records),
            hosts(&[
                "mx0.example.it",
                "mx1.example.it",
                "mx3.example.it",
                "mx2.example.it"
            ])
        );
    }

    #[test]
    fn no_mx_records_means_the_domain_itself() {
        assert_eq!(exchanges("Example.IT.", &[]), hosts(&["example.it"]));
    }

    #[test]
    fn a_lone_root_exchange_is_a_null_mx() {
        assert_eq!(exchanges("example.it", &mx(&[(0, ".")])), Exchanges::Null);
        // Whatever the preference, and repeated.
        assert_eq!(
            exchanges("example.it", &mx(&[(10, "."), (0, ".")])),
            Exchanges::Null
        );
    }

    #[test]
    fn a_root_exchange_beside_real_ones_is_skipped() {
        assert_eq!(
            exchanges("example.it", &mx(&[(0, "."), (10, "mx.example.it.")])),
            hosts(&["mx.example.it"])
        );
    }

    #[test]
    fn names_are_fully_qualified_for_lookups() {
        assert_eq!(fqdn("example.it"), "example.it.");
        assert_eq!(fqdn("example.it."), "example.it.");
    }

    /// A resolver asking the loopback responder, with short timeouts.
    fn resolver(dns: &Responder) -> MxResolver {
        let section = DnsSection {
            enabled: true,
            resolver: Some(dns.addr),
            smtp_port: 2525,
        };
        MxResolver::with_timeout(&section, Some(Duration::from_millis(500)))
    }

    fn target(host: &str, ip: [u8; 4]) -> Target {
        Target {
            host: host.into(),
            addr: SocketAddr::from((ip, 2525)),
        }
    }

    #[tokio::test]
    async fn a_real_dns_server_on_loopback() {
        let ip = |last| Ipv4Addr::new(127, 0, 0, last);
        let dns = Responder::start(
            Zone::new()
                .mx("pec.due.example", 20, "mx2.pec.due.example.")
                .mx("pec.due.example", 30, "perso.pec.due.example.")
                .mx("pec.due.example", 10, "MX1.pec.due.example.")
                .a("mx1.pec.due.example", ip(2))
                .a("mx1.pec.due.example", ip(3))
                .a("mx2.pec.due.example", ip(4))
                .a("implicito.example", ip(5))
                .mx("nullo.example", 0, ".")
                .mx(
                    "senza-indirizzi.example",
                    10,
                    "perso.senza-indirizzi.example.",
                )
                .a("muto.example", ip(6))
                .silent("muto.example"),
        );
        let mx = resolver(&dns);

        // Preference order, every address of an exchange, the unresolvable one noted.
        assert_eq!(
            mx.resolve("PEC.due.example").await,
            Ok(Resolution::Targets {
                targets: vec![
                    target("mx1.pec.due.example", [127, 0, 0, 2]),
                    target("mx1.pec.due.example", [127, 0, 0, 3]),
                    target("mx2.pec.due.example", [127, 0, 0, 4]),
                ],
                unresolved: vec!["perso.pec.due.example: no A/AAAA records".into()],
            })
        );
        // No MX: the domain's own address (implicit MX).
        assert_eq!(
            mx.resolve("implicito.example").await,
            Ok(Resolution::Targets {
                targets: vec![target("implicito.example", [127, 0, 0, 5])],
                unresolved: vec![],
            })
        );
        // Null MX: no mail, a verdict rather than an error.
        assert!(matches!(
            mx.resolve("nullo.example").await,
            Ok(Resolution::Undeliverable(why)) if why.starts_with("556 5.1.10")
        ));
        // No such domain: also a verdict.
        assert!(matches!(
            mx.resolve("inesistente.example").await,
            Ok(Resolution::Undeliverable(why)) if why.contains("NXDOMAIN")
        ));

        // Errors, all temporary: no address anywhere, no answer.
        let e = mx.resolve("senza-indirizzi.example").await.unwrap_err();
        assert!(
            e.contains("no MX host of senza-indirizzi.example has an address"),
            "{e}"
        );
        let e = mx.resolve("muto.example").await.unwrap_err();
        assert!(e.contains("MX lookup for muto.example failed"), "{e}");

        // Every question went to the responder, as a fully qualified name.
        assert!(dns.asked_for("pec.due.example") >= 1);
        assert_eq!(dns.asked_for("pec.due.example.localdomain"), 0);
    }

    #[tokio::test]
    async fn the_panel_s_dns_check_reads_the_exchanges() {
        use web::MxLookup;
        let dns = Responder::start(
            Zone::new()
                .mx("pec.uno.example", 20, "mx2.pecora.example.")
                .mx("pec.uno.example", 10, "MX.Pecora.example.")
                .mx("nulla.example", 0, ".")
                .a("senza-mx.example", Ipv4Addr::new(127, 0, 0, 9)),
        );
        let mx = resolver(&dns);
        assert_eq!(
            mx.mx("pec.uno.example").await,
            Ok(vec![
                "mx.pecora.example".into(),
                "mx2.pecora.example".into()
            ])
        );
        assert_eq!(
            mx.mx("senza-mx.example").await,
            Ok(vec!["senza-mx.example".into()])
        );
        assert!(
            mx.mx("nulla.example")
                .await
                .unwrap_err()
                .contains("null MX")
        );
        let e = mx.mx("inesistente.example").await.unwrap_err();
        assert!(e.contains("NXDOMAIN"), "{e}");
    }

    #[tokio::test]
    async fn an_unusable_resolver_is_an_error_per_lookup() {
        let mx = MxResolver {
            resolver: Err("no DNS resolver: test".into()),
            smtp_port: 25,
        };
        assert_eq!(
            mx.resolve("example.it").await,
            Err("no DNS resolver: test".to_string())
        );
    }
}
