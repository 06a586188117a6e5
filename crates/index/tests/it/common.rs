//! Test PKIs (generated once per test binary) and an index in the shape of
//! the spec's §6.4 example, built with their real certificates.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::x509::X509;
use smime::{Signer, TrustStore, testca};

/// A provider's throw-away PKI.
pub struct Pki {
    pub ca_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub cert_der: Vec<u8>,
    /// Lowercase hex SHA-1 of `cert_der`, from `smime::sha1_fingerprint`.
    pub hash: String,
    pub signer: Signer,
    pub trust: TrustStore,
}

fn make(name: &str, email: &str) -> Pki {
    let pki = testca::generate(name, email).unwrap();
    let cert = X509::from_pem(&pki.cert_pem).unwrap();
    let signer = Signer::from_pem(&pki.cert_pem, &pki.key_pem, &pki.ca_cert_pem).unwrap();
    let mut trust = TrustStore::new();
    trust.add_pem(&pki.ca_cert_pem).unwrap();
    Pki {
        cert_der: cert.to_der().unwrap(),
        hash: smime::sha1_fingerprint(&cert),
        ca_pem: pki.ca_cert_pem,
        cert_pem: pki.cert_pem,
        key_pem: pki.key_pem,
        signer,
        trust,
    }
}

/// "Esempio PEC S.p.A.".
pub fn esempio() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| make("Esempio PEC S.p.A.", "posta-certificata@gestore.example"))
}

/// "Altro Gestore S.r.l.".
pub fn altro() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| make("Altro Gestore S.r.l.", "posta-certificata@altro.example"))
}

/// Folds `line` the RFC 2849 way at `width` columns.
pub fn fold(line: &str, width: usize) -> String {
    let mut out = String::new();
    let mut rest = line;
    let mut first = true;
    while !rest.is_empty() {
        let take = if first { width } else { width - 1 };
        let (head, tail) = rest.split_at(take.min(rest.len()));
        if !first {
            out.push_str("\n ");
        }
        out.push_str(head);
        rest = tail;
        first = false;
    }
    out.push('\n');
    out
}

/// `providerCertificate;binary:: <base64>`, folded at 76.
pub fn cert_line(der: &[u8]) -> String {
    fold(
        &format!("providerCertificate;binary:: {}", STANDARD.encode(der)),
        76,
    )
}

pub const ROOT_URL: &str = "https://igpec.example/indice.ldif.p7m";

/// The §6.4 example with real certificates: a comment, `version: 1`, the
/// root entry, Esempio's main record (upper-case hash, mixed-case address
/// and domain, folded description), its secondary environment sharing the
/// hash, and Altro's record (lower-case hash).
pub fn example_ldif() -> String {
    let (e, a) = (esempio(), altro());
    let mut t = String::new();
    t.push_str("# Indice dei gestori PEC (test copy)\n");
    t.push_str("version: 1\n\n");
    t.push_str("dn: o=postacert\n");
    t.push_str("objectclass: top\n");
    t.push_str("objectclass: organization\n");
    t.push_str("objectClass: LDIFLocationURLObject\n");
    t.push_str("o: postacert\n");
    t.push_str(&format!("LDIFLocationURL: {ROOT_URL}\n"));
    t.push_str("description: root of the PEC providers directory\n\n");

    t.push_str("dn: providerName=Esempio PEC S.p.A.,o=postacert\n");
    t.push_str("objectclass: top\n");
    t.push_str("objectclass: provider\n");
    t.push_str("providerName: Esempio PEC S.p.A.\n");
    t.push_str(&format!(
        "providerCertificateHash: {}\n",
        e.hash.to_uppercase()
    ));
    t.push_str(&cert_line(&e.cert_der));
    t.push_str("mailReceipt: Ricevute@Gestore.example\n");
    t.push_str("LDIFLocationURL: https://gestore.example/esempio.ldif.p7m\n");
    t.push_str("managedDomains: pec.gestore.example\n");
    t.push_str("ManagedDomains: PEC.Cliente.Example\n");
    t.push_str("description: certified mail for companies,\n  folded over two lines\n\n");

    t.push_str(&fold(
        "dn: providerUnit=Ambiente secondario,providerName=Esempio PEC S.p.A.,o=postacert",
        40,
    ));
    t.push_str("objectclass: top\n");
    t.push_str("objectclass: provider\n");
    t.push_str("providerName: Esempio PEC S.p.A.\n");
    t.push_str("providerUnit: Ambiente secondario\n");
    t.push_str(&format!(
        "providerCertificateHash: {}\n",
        e.hash.to_uppercase()
    ));
    t.push_str(&cert_line(&e.cert_der));
    t.push_str("mailReceipt: ricevute@secondario.gestore.example\n");
    t.push_str("managedDomains: interno.gestore.example\n\n");

    t.push_str("dn: providerName=Altro Gestore S.r.l.,o=postacert\n");
    t.push_str("objectClass: top\n");
    t.push_str("objectClass: provider\n");
    t.push_str("providerName: Altro Gestore S.r.l.\n");
    t.push_str(&format!("providerCertificateHash: {}\n", a.hash));
    t.push_str(&cert_line(&a.cert_der));
    t.push_str("mailReceipt: ricevute@altro.example\n");
    t.push_str("managedDomains: pec.altro.example\n");
    t
}
