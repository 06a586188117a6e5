//! Invalid indexes: conflicts, missing and malformed values, hostile input.

use std::fs;

use index::{Index, IndexError, MAX_LDIF_BYTES, MAX_LINES, provider_record};
use proptest::prelude::*;

use crate::common::{altro, cert_line, esempio, example_ldif};

/// One provider entry with the given attribute lines after the DN.
fn entry(dn: &str, body: &str) -> String {
    format!("dn: {dn}\nobjectClass: top\nobjectClass: provider\n{body}")
}

/// A complete, valid body for Esempio's certificate, minus `skip`.
fn esempio_body(skip: &str) -> String {
    let e = esempio();
    [
        "providerName: Esempio PEC S.p.A.\n".to_owned(),
        format!("providerCertificateHash: {}\n", e.hash),
        cert_line(&e.cert_der),
        "mailReceipt: ricevute@gestore.example\n".to_owned(),
        "managedDomains: pec.gestore.example\n".to_owned(),
    ]
    .into_iter()
    .filter(|line| skip.is_empty() || !line.starts_with(skip))
    .collect()
}

const ESEMPIO_DN: &str = "providerName=Esempio PEC S.p.A.,o=postacert";

#[test]
fn baseline_is_valid() {
    Index::from_ldif(&entry(ESEMPIO_DN, &esempio_body(""))).unwrap();
}

#[test]
fn domain_claimed_by_two_providers() {
    let text = example_ldif().replace(
        "managedDomains: pec.altro.example",
        "managedDomains: PEC.Cliente.example",
    );
    let err = Index::from_ldif(&text).unwrap_err();
    match &err {
        IndexError::Conflict {
            what,
            value,
            first,
            second,
        } => {
            assert_eq!(*what, "managed domain");
            assert_eq!(value, "pec.cliente.example");
            assert_eq!(first, "Esempio PEC S.p.A.");
            assert_eq!(second, "Altro Gestore S.r.l.");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("pec.cliente.example"));
}

#[test]
fn hash_claimed_by_two_providers() {
    let e = esempio();
    let mine = provider_record("Esempio", "r@a.example", &["a.example"], &e.cert_der);
    let thief = provider_record("Ladro", "r@b.example", &["b.example"], &e.cert_der);
    assert!(matches!(
        Index::from_providers(vec![mine, thief]),
        Err(IndexError::Conflict {
            what: "certificate hash",
            ..
        })
    ));
}

#[test]
fn duplicate_dn() {
    let text = format!(
        "{}\n{}",
        entry(ESEMPIO_DN, &esempio_body("")),
        entry(ESEMPIO_DN, &esempio_body(""))
    );
    assert!(matches!(
        Index::from_ldif(&text),
        Err(IndexError::DuplicateDn { .. })
    ));
}

#[test]
fn missing_mandatory_attributes_name_the_dn() {
    for (skip, attribute) in [
        ("mailReceipt", "mailReceipt"),
        ("providerName", "providerName"),
        ("managedDomains", "managedDomains"),
        ("providerCertificateHash", "providerCertificateHash"),
        ("providerCertificate;", "providerCertificate"),
    ] {
        let err = Index::from_ldif(&entry(ESEMPIO_DN, &esempio_body(skip))).unwrap_err();
        match &err {
            IndexError::MissingAttribute {
                dn,
                attribute: missing,
            } => {
                assert_eq!(dn, ESEMPIO_DN);
                assert_eq!(*missing, attribute);
            }
            other => panic!("{skip}: {other}"),
        }
        assert!(err.to_string().contains(ESEMPIO_DN), "{err}");
    }
}

#[test]
fn bad_base64() {
    let body = esempio_body("providerCertificate;") + "providerCertificate;binary:: MIIF...!!\n";
    let text = entry(ESEMPIO_DN, &body);
    match Index::from_ldif(&text) {
        Err(IndexError::Base64 {
            line, attribute, ..
        }) => {
            assert_eq!(line, 8);
            assert_eq!(attribute, "providerCertificate");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn certificate_not_matching_its_hash() {
    let (e, a) = (esempio(), altro());
    let body = esempio_body("providerCertificate;") + &cert_line(&a.cert_der);
    match Index::from_ldif(&entry(ESEMPIO_DN, &body)) {
        Err(IndexError::HashMismatch { dn, actual }) => {
            assert_eq!(dn, ESEMPIO_DN);
            assert_eq!(actual, a.hash);
        }
        other => panic!("{other:?}"),
    }
    // A second hash listed for the rolled-over certificate makes it valid.
    let body = format!(
        "{}providerCertificateHash: {}\n{}",
        esempio_body(""),
        a.hash,
        cert_line(&a.cert_der)
    );
    let index = Index::from_ldif(&entry(ESEMPIO_DN, &body)).unwrap();
    let p = index.provider_by_hash(&a.hash).unwrap();
    assert!(p.has_certificate(&e.cert_der) && p.has_certificate(&a.cert_der));
}

#[test]
fn malformed_values() {
    let e = esempio();
    let cases = [
        (
            "providerCertificateHash",
            format!("providerCertificateHash: {}\n", &e.hash[..39]),
        ),
        (
            "providerCertificateHash",
            format!("providerCertificateHash: {}zz\n", &e.hash[..38]),
        ),
        (
            "providerCertificate;",
            "providerCertificate;binary:: AAECAwQ=\n".to_owned(),
        ),
        (
            "mailReceipt",
            "mailReceipt: <ricevute@gestore.example>\n".to_owned(),
        ),
        (
            "managedDomains",
            "managedDomains: pec gestore.example\n".to_owned(),
        ),
        (
            "providerName",
            "providerName: A\nproviderName: B\n".to_owned(),
        ),
        (
            "providerName",
            "providerName:: /w==\n".to_owned(), // not UTF-8
        ),
    ];
    for (replace, line) in cases {
        let body = esempio_body(replace) + &line;
        match Index::from_ldif(&entry(ESEMPIO_DN, &body)) {
            Err(IndexError::InvalidValue { dn, .. }) => assert_eq!(dn, ESEMPIO_DN),
            other => panic!("{line}: {other:?}"),
        }
    }
}

#[test]
fn hostile_input() {
    let huge_line = "a".repeat(2 << 20);
    assert!(matches!(
        Index::from_ldif(&huge_line),
        Err(IndexError::Syntax { line: 1, .. })
    ));
    let huge_folded = format!("dn: x\ndescription: {}\n", " b\n".repeat(1 << 20));
    assert!(matches!(
        Index::from_ldif(&huge_folded),
        Err(IndexError::Syntax { line: 2, .. })
    ));
    assert!(matches!(
        Index::from_ldif(&"\n".repeat(MAX_LINES + 1)),
        Err(IndexError::TooManyLines { .. })
    ));
    assert!(matches!(
        Index::from_ldif(&" ".repeat(MAX_LDIF_BYTES + 1)),
        Err(IndexError::TooLarge { .. })
    ));
    assert!(matches!(
        Index::from_ldif("dn: x\nproviderCertificate:< file:///etc/passwd\n"),
        Err(IndexError::Syntax { line: 2, .. })
    ));
    assert!(Index::from_ldif("\u{0}\u{1}\u{7f}ÿ\u{feff}::::\n:\n;;;:").is_err());

    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("index.ldif");
    fs::write(&binary, [0x30, 0x82, 0xff, 0xfe, 0x00, 0x01]).unwrap();
    assert!(matches!(
        Index::load(&binary, None),
        Err(IndexError::NotUtf8 { offset: 1 })
    ));
    match Index::load(&dir.path().join("missing.ldif"), None) {
        Err(err @ IndexError::Io { .. }) => assert!(err.to_string().contains("missing.ldif")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_and_comment_only_input_is_an_empty_index() {
    for text in [
        "",
        "\n\n",
        "# nothing\n",
        "version: 1\n",
        "# c\n\nversion: 1\n\n",
    ] {
        assert!(
            Index::from_ldif(text).unwrap().providers().is_empty(),
            "{text:?}"
        );
    }
}

/// Fragments that make parsers take unusual paths.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("dn: ".to_owned()),
        Just("dn:: ".to_owned()),
        Just("objectClass: provider".to_owned()),
        Just("providerCertificateHash: ".to_owned()),
        Just("providerCertificate;binary:: ".to_owned()),
        Just("managedDomains: ".to_owned()),
        Just("mailReceipt: ".to_owned()),
        Just("providerName: ".to_owned()),
        Just("version: 1".to_owned()),
        Just(":".to_owned()),
        Just("::".to_owned()),
        Just(":<".to_owned()),
        Just(";".to_owned()),
        Just("#".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\n ".to_owned()),
        Just("\n\n".to_owned()),
        Just("=".to_owned()),
        "[A-Za-z0-9+/=]{0,12}",
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        let _ = Index::from_ldif(&text);
    }

    #[test]
    fn ldif_like_strings_never_panic(parts in proptest::collection::vec(fragment(), 0..40)) {
        let _ = Index::from_ldif(&parts.concat());
    }

    #[test]
    fn arbitrary_bytes_as_p7m_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Index::from_signed_ldif(&bytes, &esempio().trust);
    }
}
