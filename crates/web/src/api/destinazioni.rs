//! Where the gestore may post a webhook. Whoever holds an API key chooses the URL, and the
//! gestore posts from inside the provider's network: unchecked, a webhook would let a key
//! reach what only the provider's machines can reach (server-side request forgery) — an
//! admin console on loopback, a cloud metadata service, the LAN.
//!
//! [`Destinazioni`] is the operator's rule (`[webhooks]` in the configuration): every
//! address a webhook's host resolves to must be allowed, or nothing is posted. An address
//! in a `deny` range is refused; else one in an `allow` range is allowed; else one in a
//! range denied by default ([`VIETATE_DI_NORMA`]: unspecified, loopback, private, CGNAT,
//! link-local, multicast, reserved; IPv6 unique-local and link-local) is refused; anything
//! else — the public Internet — is allowed. So loopback works only where the operator
//! allows it (`allow = ["127.0.0.0/8"]`), for a receiver on the same machine.
//!
//! The rule is applied when a webhook is created and again at every delivery, on the very
//! addresses the post connects to: the dispatcher's HTTP client resolves names through
//! [`Destinazioni`] (its [`Resolve`]), which answers only with addresses it checked, so a
//! name cannot resolve to an allowed address for the check and to a denied one for the
//! connection (DNS rebinding). An IP literal, which the client does not resolve, is checked
//! by [`Destinazioni::controlla_letterale`] before the post.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A range of addresses in CIDR notation: `10.0.0.0/8`, `fc00::/7`; an address alone is a
/// range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rete {
    base: IpAddr,
    prefisso: u8,
}

impl Rete {
    const fn v4(a: u8, b: u8, c: u8, d: u8, prefisso: u8) -> Rete {
        Rete {
            base: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefisso,
        }
    }

    const fn v6(base: Ipv6Addr, prefisso: u8) -> Rete {
        Rete {
            base: IpAddr::V6(base),
            prefisso,
        }
    }

    /// Whether `ip` is in the range (an IPv4 address is never in an IPv6 range, nor the
    /// reverse: callers compare canonical addresses, see [`Destinazioni::ammesso`]).
    pub fn contiene(&self, ip: IpAddr) -> bool {
        let p = u32::from(self.prefisso);
        match (self.base, ip) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - p).unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - p).unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Rete {
    type Err = String;

    fn from_str(s: &str) -> Result<Rete, String> {
        let (address, prefisso) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let base: IpAddr = address
            .parse()
            .map_err(|_| format!("{s:?} is not an address range (like 10.0.0.0/8 or ::1/128)"))?;
        let base = base.to_canonical();
        let massimo = if base.is_ipv4() { 32 } else { 128 };
        let prefisso = match prefisso {
            None => massimo,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= massimo)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {massimo}"))?,
        };
        Ok(Rete { base, prefisso })
    }
}

impl fmt::Display for Rete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefisso)
    }
}

/// The ranges no webhook reaches unless the operator allows them: nothing there is a
/// protocol system's public receiver, and much there is the provider's own.
pub const VIETATE_DI_NORMA: [Rete; 17] = [
    Rete::v4(0, 0, 0, 0, 8),      // "this network", unspecified
    Rete::v4(10, 0, 0, 0, 8),     // private
    Rete::v4(100, 64, 0, 0, 10),  // CGNAT
    Rete::v4(127, 0, 0, 0, 8),    // loopback
    Rete::v4(169, 254, 0, 0, 16), // link-local (cloud metadata services)
    Rete::v4(172, 16, 0, 0, 12),  // private
    Rete::v4(192, 0, 0, 0, 24),   // IETF protocol assignments
    Rete::v4(192, 168, 0, 0, 16), // private
    Rete::v4(198, 18, 0, 0, 15),  // benchmarking
    Rete::v4(224, 0, 0, 0, 4),    // multicast
    Rete::v4(240, 0, 0, 0, 4),    // reserved, broadcast
    Rete::v6(Ipv6Addr::UNSPECIFIED, 128),
    Rete::v6(Ipv6Addr::LOCALHOST, 128),
    // NAT64: IPv4 addresses, the private ones too.
    Rete::v6(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96),
    Rete::v6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7), // unique local
    Rete::v6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), // link-local
    Rete::v6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8), // multicast
];

/// Why a webhook's host may not be posted to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Irraggiungibile {
    #[error("{host} does not resolve: {motivo}")]
    NonRisolto { host: String, motivo: String },
    #[error(
        "{host} resolves to {ip}, an address the provider does not post webhooks to \
         ([webhooks] allow and deny)"
    )]
    Vietato { host: String, ip: IpAddr },
}

/// The operator's rule for webhook addresses (see the module's doc). The default denies
/// [`VIETATE_DI_NORMA`] and allows the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destinazioni {
    /// Ranges allowed although denied by default (`[webhooks] allow`).
    pub ammesse: Vec<Rete>,
    /// Ranges denied besides the defaults (`[webhooks] deny`); they win over `ammesse`.
    pub vietate: Vec<Rete>,
}

impl Destinazioni {
    /// Whether a webhook may be posted to `ip` (an IPv4 address written as IPv6,
    /// `::ffff:10.0.0.1`, is judged as the IPv4 address it is).
    pub fn ammesso(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let in_una = |reti: &[Rete]| reti.iter().any(|r| r.contiene(ip));
        if in_una(&self.vietate) {
            false
        } else {
            in_una(&self.ammesse) || !in_una(&VIETATE_DI_NORMA)
        }
    }

    /// Every address `host` (a name, or an IP literal, IPv6 in brackets or not) stands for,
    /// if every one of them is allowed.
    pub async fn risolvi(&self, host: &str) -> Result<Vec<IpAddr>, Irraggiungibile> {
        let nudo = host.trim_start_matches('[').trim_end_matches(']');
        let indirizzi: Vec<IpAddr> = match nudo.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((nudo, 0))
                .await
                .map_err(|e| Irraggiungibile::NonRisolto {
                    host: host.to_string(),
                    motivo: e.to_string(),
                })?
                .map(|a| a.ip())
                .collect(),
        };
        if indirizzi.is_empty() {
            return Err(Irraggiungibile::NonRisolto {
                host: host.to_string(),
                motivo: "no address".into(),
            });
        }
        match indirizzi.iter().find(|ip| !self.ammesso(**ip)) {
            Some(ip) => Err(Irraggiungibile::Vietato {
                host: host.to_string(),
                ip: *ip,
            }),
            None => Ok(indirizzi),
        }
    }

    /// Checks the host of `url` when it is an IP literal, which an HTTP client connects to
    /// without resolving it (a name is checked by [`Resolve`] instead).
    pub fn controlla_letterale(&self, url: &reqwest::Url) -> Result<(), Irraggiungibile> {
        let letterale = url
            .host_str()
            .and_then(|h| h.trim_start_matches('[').trim_end_matches(']').parse().ok());
        let Some(ip) = letterale else {
            return Ok(());
        };
        if self.ammesso(ip) {
            Ok(())
        } else {
            Err(Irraggiungibile::Vietato {
                host: ip.to_string(),
                ip,
            })
        }
    }
}

/// The dispatcher's resolver: the addresses of a name, only if all are allowed — those
/// and no others are what the client connects to.
impl Resolve for Destinazioni {
    fn resolve(&self, name: Name) -> Resolving {
        let regola = self.clone();
        Box::pin(async move {
            let indirizzi = regola.risolvi(name.as_str()).await?;
            // Port 0: the client uses the URL's port.
            let addrs: Addrs = Box::new(indirizzi.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_contain() {
        let r: Rete = "10.1.2.3/8".parse().unwrap();
        assert_eq!(r.to_string(), "10.1.2.3/8");
        assert!(r.contiene(ip("10.200.0.1")) && !r.contiene(ip("11.0.0.1")));
        let one: Rete = "192.0.2.7".parse().unwrap();
        assert!(one.contiene(ip("192.0.2.7")) && !one.contiene(ip("192.0.2.8")));
        let all: Rete = "::/0".parse().unwrap();
        assert!(all.contiene(ip("2001:db8::1")) && !all.contiene(ip("1.2.3.4")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/-1",
        ] {
            assert!(bad.parse::<Rete>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_defaults_deny_the_provider_s_own_networks_and_allow_the_internet() {
        let d = Destinazioni::default();
        for denied in [
            "0.0.0.0",
            "127.0.0.1",
            "127.9.9.9",
            "10.0.0.1",
            "172.16.5.5",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
        ] {
            assert!(!d.ammesso(ip(denied)), "{denied}");
        }
        for allowed in ["93.184.215.14", "172.32.0.1", "203.0.113.7", "2001:db8::1"] {
            assert!(d.ammesso(ip(allowed)), "{allowed}");
        }
    }

    #[test]
    fn the_operator_allows_and_denies_and_deny_wins() {
        let d = Destinazioni {
            ammesse: vec![
                "127.0.0.0/8".parse().unwrap(),
                "10.0.0.0/8".parse().unwrap(),
            ],
            vietate: vec![
                "10.9.0.0/16".parse().unwrap(),
                "203.0.113.0/24".parse().unwrap(),
            ],
        };
        assert!(d.ammesso(ip("127.0.0.1")) && d.ammesso(ip("::ffff:127.0.0.1")));
        assert!(!d.ammesso(ip("::1")), "IPv6 loopback is not in 127.0.0.0/8");
        assert!(d.ammesso(ip("10.1.0.1")) && !d.ammesso(ip("10.9.0.1")));
        assert!(
            !d.ammesso(ip("203.0.113.7")),
            "a public range denied by the operator"
        );
    }
}
