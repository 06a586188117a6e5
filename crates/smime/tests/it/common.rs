//! Shared test material: test PKIs (generated once per run), a PEC-like
//! entity, sealing helpers and a runner for the `openssl` command.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use smime::testca::{self, TestPki};
use smime::{Signer, TrustStore};

pub const EMAIL_A: &str = "posta-certificata@pec.provider-a.example";
pub const EMAIL_B: &str = "posta-certificata@pec.provider-b.example";

/// Provider A: the trusted one in most tests.
pub fn pki_a() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| testca::generate("Provider A S.p.A.", EMAIL_A).expect("test PKI A"))
}

/// Provider B: an unrelated PKI, used to forge signatures.
pub fn pki_b() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| testca::generate("Provider B S.r.l.", EMAIL_B).expect("test PKI B"))
}

pub fn signer(pki: &TestPki) -> Signer {
    Signer::from_pem(&pki.cert_pem, &pki.key_pem, &pki.ca_cert_pem).expect("signer from test PKI")
}

pub fn trust(pki: &TestPki) -> TrustStore {
    let mut store = TrustStore::new();
    assert_eq!(store.add_pem(&pki.ca_cert_pem).expect("CA PEM"), 1);
    store
}

/// Outer header block of the test message (no Content-Type).
pub const HEADERS: &[u8] = b"Date: Thu, 05 Dec 2024 00:02:10 +0100\r\n\
From: \"Per conto di: mario.rossi@pec.provider-a.example\" <posta-certificata@pec.provider-a.example>\r\n\
To: anna.bianchi@pec.provider-b.example\r\n\
Subject: ACCETTAZIONE: prova\r\n\
Message-ID: <opec.20241205000210.1@pec.provider-a.example>\r\n\
X-Ricevuta: accettazione\r\n\
MIME-Version: 1.0\r\n";

/// Text of the first part, used to find a byte to tamper with.
pub const RECEIPT_TEXT: &str = "Ricevuta di accettazione";

/// A PEC-like multipart/mixed entity with awkward content: 8-bit text,
/// trailing spaces, a `From ` line, a lone dot, a line that looks almost like
/// the inner boundary, and a final CRLF.
pub fn entity() -> Vec<u8> {
    let mut e = Vec::new();
    e.extend_from_slice(b"Content-Type: multipart/mixed; boundary=\"----=_inner_1\"\r\n\r\n");
    e.extend_from_slice(b"This is a multi-part message in MIME format.\r\n\r\n");
    e.extend_from_slice(b"------=_inner_1\r\n");
    e.extend_from_slice(b"Content-Type: text/plain; charset=\"iso-8859-1\"\r\n");
    e.extend_from_slice(b"Content-Transfer-Encoding: 8bit\r\n\r\n");
    e.extend_from_slice(RECEIPT_TEXT.as_bytes());
    e.extend_from_slice(b"\r\n\r\nIl messaggio \"prova\" \xe8 stato accettato dal sistema.   \r\n");
    e.extend_from_slice(
        b"From the start of a line\r\n.\r\n------=_inner_1x not a delimiter\r\n\r\n",
    );
    e.extend_from_slice(b"------=_inner_1\r\n");
    e.extend_from_slice(b"Content-Type: application/xml; name=\"daticert.xml\"\r\n");
    e.extend_from_slice(b"Content-Disposition: inline; filename=\"daticert.xml\"\r\n");
    e.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
    e.extend_from_slice(
        b"PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0iVVRGLTgiPz4KPHBvc3RhY2VydCB0aXBv\r\n",
    );
    e.extend_from_slice(b"PSJhY2NldHRhemlvbmUiLz4K\r\n\r\n");
    e.extend_from_slice(b"------=_inner_1--\r\n");
    e
}

/// The test message sealed by `pki`.
pub fn sealed_by(pki: &TestPki) -> Vec<u8> {
    signer(pki).seal(HEADERS, &entity()).expect("seal")
}

/// The test message sealed by provider A, computed once.
pub fn sealed_a() -> &'static [u8] {
    static SEALED: OnceLock<Vec<u8>> = OnceLock::new();
    SEALED.get_or_init(|| sealed_by(pki_a()))
}

/// Offset of the first occurrence of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Splits a sealed message at the start of its signature part:
/// `(everything before, the signature part header and body with the closing
/// delimiter)`.
pub fn split_at_signature(sealed: &[u8]) -> (&[u8], &[u8]) {
    let at = find(sealed, b"Content-Type: application/pkcs7-signature").expect("signature part");
    sealed.split_at(at)
}

/// Runs `openssl` with `args` in `dir`; panics if the command is missing.
pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the `openssl` command is needed by these tests (install the openssl package)")
}

/// Asserts that an `openssl` run succeeded, showing its output otherwise.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
