//! Sealing: the output is accepted by the OpenSSL command line and by our
//! own verifier, has the documented layout, and the test PKI follows the PEC
//! certificate profile.

use std::fs;

use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};
use smime::{SmimeError, TrustStore, split_signed, verify};

use crate::common::{
    EMAIL_A, HEADERS, assert_success, entity, find, openssl, pki_a, sealed_a, signer, trust,
};

#[test]
fn openssl_cli_accepts_the_sealed_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("msg.eml"), sealed_a()).expect("write message");
    fs::write(dir.path().join("ca.pem"), &pki_a().ca_cert_pem).expect("write CA");

    let smime = [
        "smime",
        "-verify",
        "-in",
        "msg.eml",
        "-CAfile",
        "ca.pem",
        "-out",
        "/dev/null",
    ];
    assert_success(&openssl(dir.path(), &smime), "openssl smime -verify");
    let mut purpose = smime.to_vec();
    purpose.extend(["-purpose", "smimesign"]);
    assert_success(
        &openssl(dir.path(), &purpose),
        "openssl smime -verify -purpose smimesign",
    );

    // Without -crlfeol, `openssl cms -binary` rewrites the MIME parts it
    // reads to LF line ends (and so cannot check a CRLF signature).
    let cms = [
        "cms",
        "-verify",
        "-binary",
        "-crlfeol",
        "-in",
        "msg.eml",
        "-CAfile",
        "ca.pem",
        "-out",
        "content.bin",
    ];
    assert_success(&openssl(dir.path(), &cms), "openssl cms -verify -binary");
    let content = fs::read(dir.path().join("content.bin")).expect("read content");
    assert_eq!(content, entity(), "openssl's view of the signed content");
}

#[test]
fn signature_is_sha256_cms_with_the_chain_embedded() {
    let (_, der) = split_signed(sealed_a()).expect("split");
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("smime.p7s"), &der).expect("write p7s");
    let out = openssl(
        dir.path(),
        &[
            "cms",
            "-cmsout",
            "-print",
            "-inform",
            "DER",
            "-in",
            "smime.p7s",
        ],
    );
    assert_success(&out, "openssl cms -cmsout -print");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("algorithm: sha256"),
        "digest algorithm:\n{text}"
    );
    assert!(!text.contains("algorithm: sha1 "), "no SHA-1:\n{text}");
    assert!(
        text.contains("pecora test CA"),
        "CA certificate embedded:\n{text}"
    );
    assert!(
        text.contains("Posta Certificata Provider A"),
        "signer embedded:\n{text}"
    );

    // Detached check over the exact entity bytes, as a peer would do it.
    fs::write(dir.path().join("entity.bin"), entity()).expect("write entity");
    fs::write(dir.path().join("ca.pem"), &pki_a().ca_cert_pem).expect("write CA");
    let out = openssl(
        dir.path(),
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "smime.p7s",
            "-content",
            "entity.bin",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "smimesign",
            "-out",
            "/dev/null",
        ],
    );
    assert_success(&out, "openssl cms -verify -content (detached DER)");
}

#[test]
fn our_verifier_accepts_the_sealed_message() {
    let verdict = verify(sealed_a(), &trust(pki_a()));
    assert!(verdict.signed, "{verdict:?}");
    assert!(verdict.signature_valid, "{verdict:?}");
    assert!(!verdict.canonicalized);
    assert_eq!(verdict.chain_trusted, Some(true), "{verdict:?}");
    assert_eq!(verdict.error, None);
    assert_eq!(
        verdict.protocol.as_deref(),
        Some("application/pkcs7-signature")
    );
    assert_eq!(verdict.micalg.as_deref(), Some("sha-256"));

    let info = verdict.signer.expect("signer info");
    assert_eq!(info.emails, [EMAIL_A]);
    assert_eq!(
        info.subject,
        "CN=Posta Certificata Provider A S.p.A.,O=Provider A S.p.A.,C=IT"
    );
    assert_eq!(
        info.issuer,
        "CN=pecora test CA (not for production),O=Provider A S.p.A.,C=IT"
    );
    assert!(info.not_before < info.not_after);
    assert_eq!(
        info.der,
        X509::from_pem(&pki_a().cert_pem)
            .and_then(|c| c.to_der())
            .expect("DER")
    );

    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("cert.pem"), &pki_a().cert_pem).expect("write cert");
    let out = openssl(
        dir.path(),
        &["x509", "-noout", "-fingerprint", "-sha1", "-in", "cert.pem"],
    );
    assert_success(&out, "openssl x509 -fingerprint");
    let text = String::from_utf8_lossy(&out.stdout);
    let expected: String = text
        .trim()
        .rsplit('=')
        .next()
        .expect("fingerprint value")
        .replace(':', "")
        .to_ascii_lowercase();
    assert_eq!(info.sha1_fingerprint, expected);
    assert_eq!(info.sha1_fingerprint.len(), 40);
}

#[test]
fn empty_trust_store_leaves_the_chain_unchecked() {
    let verdict = verify(sealed_a(), &TrustStore::new());
    assert!(verdict.signature_valid);
    assert_eq!(verdict.chain_trusted, None);
    assert_eq!(verdict.error, None);
}

#[test]
fn layout_matches_the_contract() {
    let sealed = sealed_a();
    assert!(sealed.starts_with(HEADERS));
    let (signed, _) = split_signed(sealed).expect("split");
    assert_eq!(signed, entity(), "first part is the entity byte-for-byte");

    let text = String::from_utf8_lossy(sealed);
    let after_headers = &text[HEADERS.len()..];
    assert!(after_headers.starts_with(
        "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n\tmicalg=\"sha-256\"; boundary=\""
    ));
    let boundary = after_headers
        .split("boundary=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("boundary parameter");
    assert!(find(&entity(), boundary.as_bytes()).is_none());
    assert!(text.contains("\r\n\r\nThis is an S/MIME signed message\r\n"));
    assert!(text.contains(
        "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\nMII"
    ));
    assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));

    // CRLF only, and the base64 lines are at most 76 characters.
    assert!(!sealed.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
    let p7s = text
        .split("filename=\"smime.p7s\"\r\n\r\n")
        .nth(1)
        .expect("p7s body");
    for line in p7s.split("\r\n").take_while(|l| !l.is_empty()) {
        assert!(line.len() <= 76, "base64 line of {} chars", line.len());
    }
}

#[test]
fn lf_stored_copy_verifies_after_canonicalisation() {
    let lf = strip_cr(sealed_a());
    let verdict = verify(&lf, &trust(pki_a()));
    assert!(verdict.signed && verdict.signature_valid, "{verdict:?}");
    assert!(verdict.canonicalized);
    assert_eq!(verdict.chain_trusted, Some(true));

    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("lf.eml"), &lf).expect("write");
    fs::write(dir.path().join("ca.pem"), &pki_a().ca_cert_pem).expect("write CA");
    let out = openssl(
        dir.path(),
        &[
            "smime",
            "-verify",
            "-in",
            "lf.eml",
            "-CAfile",
            "ca.pem",
            "-out",
            "/dev/null",
        ],
    );
    assert_success(&out, "openssl smime -verify on the LF copy");
}

fn strip_cr(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for (i, &b) in data.iter().enumerate() {
        if !(b == b'\r' && data.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

#[test]
fn seal_rejects_bad_arguments() {
    let s = signer(pki_a());
    assert!(matches!(
        s.seal(b"Content-Type: text/plain\r\n", &entity()),
        Err(SmimeError::InvalidHeaders(_))
    ));
    assert!(matches!(
        s.seal(HEADERS, b"Content-Type: text/plain\n\nhi\n"),
        Err(SmimeError::InvalidEntity(_))
    ));
    assert!(matches!(
        s.seal(HEADERS, b""),
        Err(SmimeError::InvalidEntity(_))
    ));
}

#[test]
fn signer_reports_its_email_lowercase() {
    let pki = smime::testca::generate("Mixed Case S.p.A.", "Posta-Certificata@PEC.Mixed.Example")
        .expect("PKI");
    let s = signer(&pki);
    assert_eq!(
        s.email().as_deref(),
        Some("posta-certificata@pec.mixed.example")
    );
    assert_eq!(
        s.certificate().to_der().ok(),
        X509::from_pem(&pki.cert_pem).and_then(|c| c.to_der()).ok()
    );
}

#[test]
fn test_pki_follows_the_pec_profile() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("cert.pem"), &pki_a().cert_pem).expect("write cert");
    fs::write(dir.path().join("ca.pem"), &pki_a().ca_cert_pem).expect("write CA");

    let out = openssl(dir.path(), &["x509", "-noout", "-text", "-in", "cert.pem"]);
    assert_success(&out, "openssl x509 -text (provider)");
    let text = String::from_utf8_lossy(&out.stdout);
    let expected = [
        "Signature Algorithm: sha256WithRSAEncryption",
        "Issuer: C = IT, O = Provider A S.p.A., CN = pecora test CA (not for production)",
        "Subject: C = IT, O = Provider A S.p.A., CN = Posta Certificata Provider A S.p.A.",
        "Public-Key: (2048 bit)",
        "X509v3 Key Usage: critical\n                Digital Signature\n",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
        "X509v3 Subject Alternative Name: \n                email:posta-certificata@pec.provider-a.example\n",
        "X509v3 Extended Key Usage: \n                E-mail Protection\n",
    ];
    for needle in expected {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(
        !text.contains("Basic Constraints"),
        "PEC certificates have no basicConstraints"
    );

    let out = openssl(dir.path(), &["x509", "-noout", "-text", "-in", "ca.pem"]);
    assert_success(&out, "openssl x509 -text (CA)");
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "X509v3 Basic Constraints: critical\n                CA:TRUE",
        "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign",
        "X509v3 Subject Key Identifier",
        "Subject: C = IT, O = Provider A S.p.A., CN = pecora test CA (not for production)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }

    let out = openssl(
        dir.path(),
        &[
            "verify",
            "-purpose",
            "smimesign",
            "-CAfile",
            "ca.pem",
            "cert.pem",
        ],
    );
    assert_success(&out, "openssl verify -purpose smimesign");
}

#[test]
fn testca_rejects_bad_arguments() {
    assert!(smime::testca::generate("", EMAIL_A).is_err());
    assert!(smime::testca::generate("X", "not an address").is_err());
    assert!(smime::testca::generate("X", "caf\u{e8}@example.it").is_err());
}

#[test]
fn from_pem_rejects_a_1024_bit_key() {
    let rsa = Rsa::generate(1024).expect("RSA 1024");
    let key = PKey::from_rsa(rsa).expect("pkey");
    let cert = self_signed(&key);
    let result = smime::Signer::from_pem(
        &cert.to_pem().expect("cert PEM"),
        &key.private_key_to_pem_pkcs8().expect("key PEM"),
        b"",
    );
    let err = result.expect_err("1024-bit key must be refused");
    assert!(matches!(err, SmimeError::WeakKey { bits: 1024 }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("1024-bit") && text.contains("at least 2048"),
        "{text}"
    );
}

#[test]
fn from_pem_rejects_non_rsa_and_mismatched_keys() {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("curve");
    let ec = PKey::from_ec_key(EcKey::generate(&group).expect("EC key")).expect("pkey");
    let cert = self_signed(&ec);
    let err = smime::Signer::from_pem(
        &cert.to_pem().expect("cert PEM"),
        &ec.private_key_to_pem_pkcs8().expect("key PEM"),
        b"",
    )
    .expect_err("EC key must be refused");
    assert!(matches!(err, SmimeError::NotRsa { .. }), "{err:?}");

    let other = crate::common::pki_b();
    let err = smime::Signer::from_pem(&pki_a().cert_pem, &other.key_pem, b"")
        .expect_err("key of another certificate");
    assert!(matches!(err, SmimeError::KeyMismatch), "{err:?}");

    let err = smime::Signer::from_pem(&pki_a().cert_pem, &pki_a().key_pem, b"garbage")
        .expect_err("chain without certificates");
    assert!(matches!(err, SmimeError::NoCertificate(_)), "{err:?}");

    let err = smime::Signer::from_pem(b"not PEM", &pki_a().key_pem, b"").expect_err("garbage cert");
    assert!(err.to_string().contains("signing certificate"), "{err}");
}

fn self_signed(key: &PKey<Private>) -> X509 {
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_nid(Nid::COMMONNAME, "weak")
        .expect("CN");
    let name = name.build();
    let mut builder = X509::builder().expect("builder");
    builder.set_version(2).expect("version");
    builder.set_subject_name(&name).expect("subject");
    builder.set_issuer_name(&name).expect("issuer");
    builder.set_pubkey(key).expect("pubkey");
    let now = openssl::asn1::Asn1Time::days_from_now(0).expect("now");
    let later = openssl::asn1::Asn1Time::days_from_now(1).expect("later");
    builder.set_not_before(&now).expect("not before");
    builder.set_not_after(&later).expect("not after");
    builder.sign(key, MessageDigest::sha256()).expect("sign");
    builder.build()
}
