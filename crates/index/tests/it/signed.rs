//! The signed index (`.p7m`, spec §6.2): our signatures, tampering, trust,
//! armour, and interoperability with the OpenSSL command line both ways.

use std::fs;
use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use index::{Index, IndexError, sign_ldif};
use smime::TrustStore;
use smime::attached::AttachedError;

use crate::common::{altro, esempio, example_ldif};

fn openssl(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line tool must be installed")
}

#[test]
fn load_verified() {
    let (e, a) = (esempio(), altro());
    let dir = tempfile::tempdir().unwrap();
    let text = example_ldif();
    let p7m = sign_ldif(&text, &e.signer).unwrap();
    let path = dir.path().join("index.ldif.p7m");
    fs::write(&path, &p7m).unwrap();

    let reference = Index::from_ldif(&text).unwrap();
    assert_eq!(Index::load(&path, Some(&e.trust)).unwrap(), reference);
    assert_eq!(Index::from_signed_ldif(&p7m, &e.trust).unwrap(), reference);

    // Another provider's CA does not vouch for this signer.
    let err = Index::load(&path, Some(&a.trust)).unwrap_err();
    assert!(
        matches!(err, IndexError::Signature(AttachedError::Untrusted { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("Esempio PEC"), "{err}");

    // No trust store at all.
    assert!(matches!(
        Index::load(&path, None),
        Err(IndexError::TrustStoreRequired { .. })
    ));
    assert!(matches!(
        Index::from_signed_ldif(&p7m, &TrustStore::new()),
        Err(IndexError::Signature(AttachedError::EmptyTrustStore))
    ));
}

#[test]
fn tampering_is_detected() {
    let e = esempio();
    let dir = tempfile::tempdir().unwrap();
    let text = example_ldif();
    let p7m = sign_ldif(&text, &e.signer).unwrap();

    // Hijack a domain inside the signed content.
    let at = p7m
        .windows(b"pec.altro.example".len())
        .position(|w| w == b"pec.altro.example")
        .unwrap();
    let mut tampered = p7m.clone();
    tampered[at] = b'q';
    let path = dir.path().join("index.ldif.p7m");
    fs::write(&path, &tampered).unwrap();
    let err = Index::load(&path, Some(&e.trust)).unwrap_err();
    assert!(
        matches!(err, IndexError::Signature(AttachedError::BadSignature(_))),
        "{err}"
    );

    // A flipped byte in the signature value itself (the last bytes).
    let mut tampered = p7m.clone();
    if let Some(last) = tampered.last_mut() {
        *last ^= 0x01;
    }
    let err = Index::from_signed_ldif(&tampered, &e.trust).unwrap_err();
    assert!(
        matches!(err, IndexError::Signature(AttachedError::BadSignature(_))),
        "{err}"
    );

    // Truncation and garbage.
    for bad in [&p7m[..p7m.len() / 2], b"\x30\x80garbage".as_slice(), b""] {
        assert!(Index::from_signed_ldif(bad, &e.trust).is_err());
    }
}

#[test]
fn armoured_p7m() {
    let e = esempio();
    let dir = tempfile::tempdir().unwrap();
    let text = example_ldif();
    let p7m = sign_ldif(&text, &e.signer).unwrap();
    let reference = Index::from_ldif(&text).unwrap();

    let b64 = STANDARD.encode(&p7m);
    let wrapped: String = b64
        .as_bytes()
        .chunks(64)
        .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
        .collect();
    let bare = dir.path().join("bare.ldif.P7M");
    fs::write(&bare, &wrapped).unwrap();
    assert_eq!(Index::load(&bare, Some(&e.trust)).unwrap(), reference);

    let pem = dir.path().join("pem.ldif.p7m");
    fs::write(
        &pem,
        format!("-----BEGIN PKCS7-----\n{wrapped}-----END PKCS7-----\n"),
    )
    .unwrap();
    assert_eq!(Index::load(&pem, Some(&e.trust)).unwrap(), reference);

    let junk = dir.path().join("junk.ldif.p7m");
    fs::write(&junk, "this is not a signature").unwrap();
    assert!(matches!(
        Index::load(&junk, Some(&e.trust)),
        Err(IndexError::Armour(_))
    ));
}

#[test]
fn openssl_cli_verifies_ours() {
    let e = esempio();
    let dir = tempfile::tempdir().unwrap();
    let text = example_ldif();
    fs::write(
        dir.path().join("index.ldif.p7m"),
        sign_ldif(&text, &e.signer).unwrap(),
    )
    .unwrap();
    fs::write(dir.path().join("ca.pem"), &e.ca_pem).unwrap();
    let out = openssl(
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "index.ldif.p7m",
            "-CAfile",
            "ca.pem",
            "-out",
            "out.ldif",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("out.ldif")).unwrap(),
        text
    );

    // The older PKCS#7 front end agrees.
    let out = openssl(
        &[
            "smime",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "index.ldif.p7m",
            "-CAfile",
            "ca.pem",
            "-out",
            "out2.ldif",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("out2.ldif")).unwrap(),
        text
    );
}

#[test]
fn we_verify_openssl_cli_signatures() {
    let e = esempio();
    let dir = tempfile::tempdir().unwrap();
    let text = example_ldif();
    fs::write(dir.path().join("index.ldif"), &text).unwrap();
    fs::write(dir.path().join("cert.pem"), &e.cert_pem).unwrap();
    fs::write(dir.path().join("key.pem"), &e.key_pem).unwrap();
    fs::write(dir.path().join("ca.pem"), &e.ca_pem).unwrap();
    for (tool, file) in [("cms", "cms.ldif.p7m"), ("smime", "smime.ldif.p7m")] {
        let out = openssl(
            &[
                tool,
                "-sign",
                "-nodetach",
                "-binary",
                "-md",
                "sha1",
                "-in",
                "index.ldif",
                "-signer",
                "cert.pem",
                "-inkey",
                "key.pem",
                "-certfile",
                "ca.pem",
                "-outform",
                "DER",
                "-out",
                file,
            ],
            dir.path(),
        );
        assert!(
            out.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let index = Index::load(&dir.path().join(file), Some(&e.trust)).unwrap();
        assert_eq!(index, Index::from_ldif(&text).unwrap(), "{tool}");
    }
}
