//! The *Indice dei gestori di posta elettronica certificata*: the directory
//! of every PEC provider, its signing certificates and the domains it
//! manages (spec §6, RFC 6109 §4.5).
//!
//! A gestore consults the index for every message: to tell certified
//! recipients from ordinary ones (`managedDomains`), to recognise which
//! provider signed an incoming object (`providerCertificateHash`, then
//! `providerCertificate`) and where to send it the presa in carico
//! (`mailReceipt`) — spec §4.2, §6.1. The index is published as a signed
//! LDIF file that every provider mirrors locally (§6.2); this crate reads
//! that file (plain `.ldif` or signed `.p7m`, verified against a trust
//! store), validates it, answers the lookups, writes it back as LDIF, signs
//! our own record, and keeps a hot-swappable copy ([`SharedIndex`]).
//!
//! Decisions:
//! - lookups are case-insensitive: hashes and domains are stored lowercase
//!   (spec §6.3 CONFLICT);
//! - a `providerCertificate` whose SHA-1 is not among the record's
//!   `providerCertificateHash` values is an error, not a warning: an
//!   inconsistent copy is what a tampered index looks like (§6.2 Security);
//!   a hash without a certificate is accepted (a lookup by it will then
//!   fail the certificate comparison of §4.2 step 2);
//! - a domain or hash claimed by records with different `providerName`
//!   (compared case-insensitively) is an error; the main and secondary
//!   records of one provider may share them, and lookups then return the
//!   main record (the one without `providerUnit`), else the first one;
//! - entries that are not of object class `provider` (the root
//!   `o=postacert`, anything else) are skipped; only the root's
//!   `LDIFLocationURL` is kept.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod ldif;
mod shared;
mod signed;

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;

use openssl::x509::X509;

pub use error::IndexError;
pub use ldif::{MAX_LDIF_BYTES, MAX_LINES, MAX_LOGICAL_LINE};
pub use shared::SharedIndex;
pub use signed::{MAX_FILE_BYTES, sign_ldif};

/// DN of the root entry of the directory.
const ROOT_DN: &str = "o=postacert";

/// One record of the index: a provider, or one of its secondary
/// environments (`providerUnit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Distinguished name, e.g. `providerName=Esempio PEC S.p.A.,o=postacert`.
    pub dn: String,
    /// `providerName`.
    pub name: String,
    /// `providerUnit`: the secondary environment; `None` in the main record.
    pub unit: Option<String>,
    /// `mailReceipt`, the service mailbox, lowercase.
    pub mail_receipt: String,
    /// `managedDomains`, lowercase, without duplicates.
    pub managed_domains: Vec<String>,
    /// `providerCertificateHash`: lowercase hex SHA-1 of the DER certificates.
    pub certificate_hashes: Vec<String>,
    /// `providerCertificate;binary`: DER certificates.
    pub certificates: Vec<Vec<u8>>,
    /// `LDIFLocationURL`: where the provider publishes its signed record.
    pub ldif_location_url: Option<String>,
    /// `description`.
    pub description: Option<String>,
}

impl Provider {
    /// Whether `der` is byte for byte one of the record's certificates
    /// (spec §4.2 step 2, after the hash lookup).
    pub fn has_certificate(&self, der: &[u8]) -> bool {
        self.certificates.iter().any(|c| c == der)
    }
}

/// A validated provider index with its lookup tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    providers: Vec<Provider>,
    root_ldif_location_url: Option<String>,
    by_hash: HashMap<String, usize>,
    by_domain: HashMap<String, usize>,
}

impl Index {
    /// Parses and validates LDIF text (RFC 2849 content records).
    pub fn from_ldif(text: &str) -> Result<Index, IndexError> {
        let mut providers = Vec::new();
        let mut root_url = None;
        for entry in ldif::parse(text)? {
            if is_provider(&entry) {
                providers.push(provider_from_entry(&entry)?);
            } else if root_url.is_none() && is_root(&entry.dn) {
                root_url = single_text(&entry, "ldiflocationurl", "LDIFLocationURL")?;
            }
        }
        build(providers, root_url)
    }

    /// Builds an index from records, normalising them (surrounding spaces
    /// trimmed; mail address, domains and hashes lowercased; duplicates
    /// within a record dropped; empty optional values become `None`) and
    /// validating them: mandatory values present, hashes of 40 hex digits,
    /// certificates DER X.509 whose SHA-1 is listed, no domain or hash
    /// claimed by two providers, no DN twice.
    pub fn from_providers(providers: Vec<Provider>) -> Result<Index, IndexError> {
        build(providers, None)
    }

    /// All records, in file order.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// `LDIFLocationURL` of the root entry: where the signed LDIF of the
    /// whole directory is published (spec §6.2).
    pub fn root_ldif_location_url(&self) -> Option<&str> {
        self.root_ldif_location_url.as_deref()
    }

    /// The record listing `sha1_hex` (case-insensitive) as a
    /// `providerCertificateHash`. When the main and secondary records of a
    /// provider share the hash, the main record.
    pub fn provider_by_hash(&self, sha1_hex: &str) -> Option<&Provider> {
        let i = self.by_hash.get(&sha1_hex.trim().to_ascii_lowercase())?;
        self.providers.get(*i)
    }

    /// The record listing `domain` (case-insensitive, exact: no
    /// parent-domain matching) in `managedDomains`.
    pub fn provider_by_domain(&self, domain: &str) -> Option<&Provider> {
        let i = self.by_domain.get(&domain.trim().to_lowercase())?;
        self.providers.get(*i)
    }

    /// Whether `domain` is a PEC domain: addresses there are `certificato`.
    pub fn is_pec_domain(&self, domain: &str) -> bool {
        self.provider_by_domain(domain).is_some()
    }

    /// Writes the index as LDIF in the shape of RFC 6109 §4.5.10: the root
    /// entry `o=postacert`, then one entry per record; values that are not
    /// RFC 2849 safe strings in base64, lines folded at 76 columns, LF.
    pub fn to_ldif(&self) -> String {
        let mut out = String::from("version: 1\n\n");
        ldif::write_value(&mut out, "dn", ROOT_DN.as_bytes());
        ldif::write_value(&mut out, "objectClass", b"top");
        ldif::write_value(&mut out, "objectClass", b"organization");
        if self.root_ldif_location_url.is_some() {
            ldif::write_value(&mut out, "objectClass", b"LDIFLocationURLObject");
        }
        ldif::write_value(&mut out, "o", b"postacert");
        if let Some(url) = &self.root_ldif_location_url {
            ldif::write_value(&mut out, "LDIFLocationURL", url.as_bytes());
        }
        for p in &self.providers {
            out.push('\n');
            ldif::write_value(&mut out, "dn", p.dn.as_bytes());
            ldif::write_value(&mut out, "objectClass", b"top");
            ldif::write_value(&mut out, "objectClass", b"provider");
            ldif::write_value(&mut out, "providerName", p.name.as_bytes());
            if let Some(unit) = &p.unit {
                ldif::write_value(&mut out, "providerUnit", unit.as_bytes());
            }
            for hash in &p.certificate_hashes {
                ldif::write_value(&mut out, "providerCertificateHash", hash.as_bytes());
            }
            for cert in &p.certificates {
                ldif::write_value(&mut out, "providerCertificate;binary", cert);
            }
            ldif::write_value(&mut out, "mailReceipt", p.mail_receipt.as_bytes());
            if let Some(url) = &p.ldif_location_url {
                ldif::write_value(&mut out, "LDIFLocationURL", url.as_bytes());
            }
            for domain in &p.managed_domains {
                ldif::write_value(&mut out, "managedDomains", domain.as_bytes());
            }
            if let Some(description) = &p.description {
                ldif::write_value(&mut out, "description", description.as_bytes());
            }
        }
        out
    }
}

/// A main provider record for `cert_der`: DN `providerName=<name>,o=postacert`
/// (RFC 4514-escaped), the certificate and its SHA-1 (the same value as
/// [`smime::sha1_fingerprint`]), address and domains lowercased. Not
/// validated: [`Index::from_providers`] does that.
pub fn provider_record(
    name: &str,
    mail_receipt: &str,
    domains: &[&str],
    cert_der: &[u8],
) -> Provider {
    Provider {
        dn: format!("providerName={},{ROOT_DN}", smime::escape_dn_value(name)),
        name: name.to_owned(),
        unit: None,
        mail_receipt: mail_receipt.to_ascii_lowercase(),
        managed_domains: domains.iter().map(|d| d.to_lowercase()).collect(),
        certificate_hashes: vec![sha1_hex(cert_der)],
        certificates: vec![cert_der.to_vec()],
        ldif_location_url: None,
        description: None,
    }
}

fn sha1_hex(der: &[u8]) -> String {
    openssl::sha::sha1(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn is_provider(entry: &ldif::Entry) -> bool {
    entry
        .values("objectclass")
        .any(|a| a.value.trim_ascii().eq_ignore_ascii_case(b"provider"))
}

fn is_root(dn: &str) -> bool {
    let compact: String = dn.chars().filter(|c| !c.is_whitespace()).collect();
    compact.eq_ignore_ascii_case(ROOT_DN)
}

/// Converts a `provider` entry; checks that single-valued attributes are
/// single and that the text ones are UTF-8. The rest of the validation is
/// [`build`]'s.
fn provider_from_entry(entry: &ldif::Entry) -> Result<Provider, IndexError> {
    let dn = &entry.dn;
    let required = |key, attribute| {
        single_text(entry, key, attribute)?.ok_or_else(|| IndexError::MissingAttribute {
            dn: dn.clone(),
            attribute,
        })
    };
    let texts = |key, attribute| {
        entry
            .values(key)
            .map(|a| text(dn, attribute, a))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(Provider {
        dn: dn.clone(),
        name: required("providername", "providerName")?,
        unit: single_text(entry, "providerunit", "providerUnit")?,
        mail_receipt: required("mailreceipt", "mailReceipt")?,
        managed_domains: texts("manageddomains", "managedDomains")?,
        certificate_hashes: texts("providercertificatehash", "providerCertificateHash")?,
        certificates: entry
            .values("providercertificate")
            .map(|a| a.value.clone())
            .collect(),
        ldif_location_url: single_text(entry, "ldiflocationurl", "LDIFLocationURL")?,
        // `description` is multi-valued in the LDAP core schema; the first
        // value is the provider's description, others are ignored.
        description: entry
            .values("description")
            .next()
            .map(|a| text(dn, "description", a))
            .transpose()?,
    })
}

/// The value of a single-valued text attribute, if present.
fn single_text(
    entry: &ldif::Entry,
    key: &str,
    attribute: &'static str,
) -> Result<Option<String>, IndexError> {
    let mut values = entry.values(key);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if let Some(second) = values.next() {
        return Err(IndexError::InvalidValue {
            dn: entry.dn.clone(),
            attribute,
            reason: format!(
                "single-valued attribute given twice (lines {} and {})",
                first.line, second.line
            ),
        });
    }
    text(&entry.dn, attribute, first).map(Some)
}

fn text(dn: &str, attribute: &'static str, attr: &ldif::Attr) -> Result<String, IndexError> {
    String::from_utf8(attr.value.clone()).map_err(|_| IndexError::InvalidValue {
        dn: dn.to_owned(),
        attribute,
        reason: format!("the value at line {} is not UTF-8", attr.line),
    })
}

/// Normalises and validates the records, then builds the lookup tables.
fn build(providers: Vec<Provider>, root_url: Option<String>) -> Result<Index, IndexError> {
    let providers = providers
        .into_iter()
        .map(normalise)
        .collect::<Result<Vec<_>, _>>()?;
    let mut by_dn = HashMap::new();
    let mut by_hash = HashMap::new();
    let mut by_domain = HashMap::new();
    for (i, p) in providers.iter().enumerate() {
        if by_dn.insert(p.dn.to_lowercase(), i).is_some() {
            return Err(IndexError::DuplicateDn { dn: p.dn.clone() });
        }
        for hash in &p.certificate_hashes {
            claim(&mut by_hash, &providers, "certificate hash", hash, i)?;
        }
        for domain in &p.managed_domains {
            claim(&mut by_domain, &providers, "managed domain", domain, i)?;
        }
    }
    Ok(Index {
        providers,
        root_ldif_location_url: root_url
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty()),
        by_hash,
        by_domain,
    })
}

/// Records that record `i` claims `value`: an error if a record of another
/// provider already did; the main record wins over secondary ones.
fn claim(
    table: &mut HashMap<String, usize>,
    providers: &[Provider],
    what: &'static str,
    value: &str,
    i: usize,
) -> Result<(), IndexError> {
    match table.entry(value.to_owned()) {
        MapEntry::Vacant(slot) => {
            slot.insert(i);
        }
        MapEntry::Occupied(mut slot) => {
            let (Some(held), Some(new)) = (providers.get(*slot.get()), providers.get(i)) else {
                return Ok(());
            };
            if held.name.to_lowercase() != new.name.to_lowercase() {
                return Err(IndexError::Conflict {
                    what,
                    value: value.to_owned(),
                    first: held.name.clone(),
                    second: new.name.clone(),
                });
            }
            if held.unit.is_some() && new.unit.is_none() {
                slot.insert(i);
            }
        }
    }
    Ok(())
}

fn normalise(p: Provider) -> Result<Provider, IndexError> {
    let dn = p.dn.trim().to_owned();
    let invalid = |attribute, reason: String| IndexError::InvalidValue {
        dn: dn.clone(),
        attribute,
        reason,
    };
    let missing = |attribute| IndexError::MissingAttribute {
        dn: dn.clone(),
        attribute,
    };
    if dn.is_empty() {
        return Err(invalid("dn", "empty DN".into()));
    }
    let name = p.name.trim().to_owned();
    if name.is_empty() {
        return Err(missing("providerName"));
    }

    let mail_receipt = p.mail_receipt.trim().to_ascii_lowercase();
    if mail_receipt.is_empty() {
        return Err(missing("mailReceipt"));
    }
    if !is_mailbox(&mail_receipt) {
        return Err(invalid(
            "mailReceipt",
            format!("{mail_receipt:?} is not a dot-atom@dot-atom address"),
        ));
    }

    let mut managed_domains = Vec::new();
    for domain in &p.managed_domains {
        let domain = domain.trim().to_lowercase();
        if !is_domain(&domain) {
            return Err(invalid(
                "managedDomains",
                format!("{domain:?} is not an ASCII domain name"),
            ));
        }
        if !managed_domains.contains(&domain) {
            managed_domains.push(domain);
        }
    }
    if managed_domains.is_empty() {
        return Err(missing("managedDomains"));
    }

    let mut certificate_hashes = Vec::new();
    for hash in &p.certificate_hashes {
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() != 40 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(
                "providerCertificateHash",
                format!("{hash:?} is not 40 hexadecimal digits (a SHA-1)"),
            ));
        }
        if !certificate_hashes.contains(&hash) {
            certificate_hashes.push(hash);
        }
    }
    if certificate_hashes.is_empty() {
        return Err(missing("providerCertificateHash"));
    }

    let mut certificates: Vec<Vec<u8>> = Vec::new();
    for der in p.certificates {
        check_certificate(&der).map_err(|reason| invalid("providerCertificate", reason))?;
        let actual = sha1_hex(&der);
        if !certificate_hashes.contains(&actual) {
            return Err(IndexError::HashMismatch { dn, actual });
        }
        if !certificates.contains(&der) {
            certificates.push(der);
        }
    }
    if certificates.is_empty() {
        return Err(missing("providerCertificate"));
    }

    let optional =
        |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    Ok(Provider {
        name,
        unit: optional(p.unit),
        mail_receipt,
        managed_domains,
        certificate_hashes,
        certificates,
        ldif_location_url: optional(p.ldif_location_url),
        description: optional(p.description),
        dn,
    })
}

/// `der` is exactly one DER X.509 certificate.
fn check_certificate(der: &[u8]) -> Result<(), String> {
    let cert = X509::from_der(der).map_err(|e| format!("not a DER X.509 certificate ({e})"))?;
    match cert.to_der() {
        Ok(again) if again == der => Ok(()),
        _ => Err("not exactly one DER X.509 certificate (trailing or re-encoded bytes)".into()),
    }
}

/// `local@domain`, both dot-atoms (spec §6.3 `mailReceipt`).
fn is_mailbox(address: &str) -> bool {
    address
        .split_once('@')
        .is_some_and(|(local, domain)| is_dot_atom(local) && is_domain(domain))
}

fn is_dot_atom(s: &str) -> bool {
    s.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b))
    })
}

fn is_domain(s: &str) -> bool {
    s.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_escaping() {
        assert_eq!(smime::escape_dn_value("Acme, S.p.A."), "Acme\\, S.p.A.");
        assert_eq!(smime::escape_dn_value("#a "), "\\#a\\ ");
        assert_eq!(smime::escape_dn_value("a+b=c"), "a\\+b=c");
        assert_eq!(smime::escape_dn_value(""), "");
    }

    #[test]
    fn address_and_domain_shapes() {
        assert!(is_mailbox("ricevute@pec.gestore.example"));
        assert!(!is_mailbox("<ricevute@pec.example>"));
        assert!(!is_mailbox("a b@pec.example"));
        assert!(!is_mailbox("a@@pec.example"));
        assert!(!is_mailbox("a@pec..example"));
        assert!(is_domain("pec.cliente-1.example"));
        assert!(!is_domain("pec.example."));
        assert!(!is_domain("città.example"));
        assert!(!is_domain(""));
    }
}
