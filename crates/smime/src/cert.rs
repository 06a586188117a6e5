//! Reading the facts a PEC verifier needs out of an X.509 certificate.

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::nid::Nid;
use openssl::x509::{X509NameRef, X509Ref};
use serde::Serialize;

/// The signer certificate of a verified (or at least parsed) signature.
#[derive(Debug, Clone, Serialize)]
pub struct SignerInfo {
    /// Subject DN on one line, RFC 4514 style (most specific RDN first), e.g.
    /// `CN=Posta Certificata Namirial S.p.A.,O=Namirial S.p.A.,L=Senigallia,ST=Ancona,C=IT`.
    pub subject: String,
    /// Issuer DN in the same form.
    pub issuer: String,
    /// The `rfc822Name` values of subjectAltName, as written in the certificate.
    pub emails: Vec<String>,
    /// Lowercase hex SHA-1 over the DER certificate: the index key
    /// `providerCertificateHash` (spec §4.2 step 2).
    pub sha1_fingerprint: String,
    /// Start of validity, ISO 8601 UTC (`2023-09-28T09:00:00Z`).
    pub not_before: String,
    /// End of validity, ISO 8601 UTC.
    pub not_after: String,
    /// The DER certificate, for comparison with `providerCertificate`.
    #[serde(skip)]
    pub der: Vec<u8>,
}

impl SignerInfo {
    pub(crate) fn from_cert(cert: &X509Ref) -> SignerInfo {
        SignerInfo {
            subject: one_line_name(cert.subject_name()),
            issuer: one_line_name(cert.issuer_name()),
            emails: san_emails(cert),
            sha1_fingerprint: sha1_fingerprint(cert),
            not_before: iso_time(cert.not_before()),
            not_after: iso_time(cert.not_after()),
            der: cert.to_der().unwrap_or_default(),
        }
    }
}

/// Lowercase hex SHA-1 of the DER encoding of `cert` (40 characters), the
/// form of `providerCertificateHash` in the PEC index. Returns an empty string
/// only if OpenSSL cannot re-encode the certificate.
pub fn sha1_fingerprint(cert: &X509Ref) -> String {
    cert.to_der()
        .map(|der| hex(&openssl::sha::sha1(&der)))
        .unwrap_or_default()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The subjectAltName `rfc822Name` values of `cert`, in order.
pub(crate) fn san_emails(cert: &X509Ref) -> Vec<String> {
    cert.subject_alt_names()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.email().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Formats a DN as `CN=...,O=...,C=...`: RDNs in reverse order of the
/// encoding, attribute short names, RFC 4514 escaping.
fn one_line_name(name: &X509NameRef) -> String {
    let mut rdns: Vec<String> = name
        .entries()
        .map(|entry| {
            let object = entry.object();
            let key = match object.nid() {
                Nid::UNDEF => object.to_string(),
                nid => nid
                    .short_name()
                    .map_or_else(|_| object.to_string(), str::to_owned),
            };
            let data = entry.data();
            let value = data
                .to_string()
                .unwrap_or_else(|_| String::from_utf8_lossy(data.as_slice()).into_owned());
            format!("{key}={}", escape_dn_value(&value))
        })
        .collect();
    rdns.reverse();
    rdns.join(",")
}

/// Escapes an attribute value for a distinguished name string (RFC 4514 §2.4).
pub fn escape_dn_value(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && matches!(c, ' ' | '#'))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Formats an ASN.1 time as ISO 8601 UTC; falls back to OpenSSL's own text
/// if the time cannot be compared with the epoch.
fn iso_time(time: &Asn1TimeRef) -> String {
    Asn1Time::from_unix(0)
        .and_then(|epoch| epoch.diff(time))
        .map_or_else(
            |_| time.to_string(),
            |d| format_unix(i64::from(d.days) * 86_400 + i64::from(d.secs)),
        )
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (proleptic
/// Gregorian calendar, days-to-civil conversion by H. Hinnant's method).
fn format_unix(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times() {
        assert_eq!(format_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_unix(1_727_481_599), "2024-09-27T23:59:59Z");
        assert_eq!(format_unix(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_unix(253_402_300_799), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn asn1_time_to_iso() {
        let t = Asn1Time::from_str("20180101120000Z");
        assert_eq!(
            t.ok().map(|t| iso_time(&t)).as_deref(),
            Some("2018-01-01T12:00:00Z")
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_dn_value("Acme, S.p.A."), "Acme\\, S.p.A.");
        assert_eq!(escape_dn_value(" #x "), "\\ #x\\ ");
        assert_eq!(escape_dn_value("plain"), "plain");
    }
}
