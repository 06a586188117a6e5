//! Real PEC messages from providers (shared fixtures): our verdicts must match
//! MANIFEST.md's "Signature verifies" column.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use smime::{TrustStore, split_signed, verify};

use crate::common::{pki_a, trust};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/real-pec"
);

/// One row of the MANIFEST table.
struct Row {
    line_ends: String,
    micalg_protocol: String,
    verifies: String,
}

fn fixture_dir() -> PathBuf {
    let dir = PathBuf::from(FIXTURES);
    assert!(
        dir.join("MANIFEST.md").is_file(),
        "real PEC fixtures not found at {} (expected shared/fixtures/real-pec beside the work tree)",
        dir.display()
    );
    dir
}

fn manifest() -> BTreeMap<String, Row> {
    let text = fs::read_to_string(fixture_dir().join("MANIFEST.md")).expect("read MANIFEST.md");
    text.lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            assert!(cells.len() > 10, "unexpected MANIFEST row: {line}");
            (
                cells[1].trim_matches('`').to_owned(),
                Row {
                    line_ends: cells[6].to_owned(),
                    micalg_protocol: cells[7].to_owned(),
                    verifies: cells[10].to_owned(),
                },
            )
        })
        .collect()
}

#[test]
fn every_fixture_matches_the_manifest() {
    let rows = manifest();
    let dir = fixture_dir();
    let mut files: Vec<String> = fs::read_dir(&dir)
        .expect("list fixtures")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".eml"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        rows.keys().cloned().collect::<Vec<_>>(),
        "files vs MANIFEST rows"
    );

    let store = trust(pki_a());
    for (name, row) in &rows {
        let raw = fs::read(dir.join(name)).expect("read fixture");
        let verdict = verify(&raw, &TrustStore::new());
        let with_store = verify(&raw, &store);
        let provider = name.split('_').next().expect("provider prefix");
        match row.verifies.as_str() {
            "OK" => {
                assert!(
                    verdict.signed && verdict.signature_valid,
                    "{name}: {verdict:?}"
                );
                assert_eq!(verdict.canonicalized, row.line_ends == "LF", "{name}");
                assert_eq!(verdict.error, None, "{name}");
                assert_eq!(verdict.chain_trusted, None, "{name}");
                let signer = verdict.signer.as_ref().expect("signer");
                assert!(
                    signer.subject.to_lowercase().contains(provider),
                    "{name}: subject {} lacks {provider}",
                    signer.subject
                );
                assert!(
                    signer.subject.contains("CN=Posta Certificata"),
                    "{name}: {}",
                    signer.subject
                );
                assert_eq!(signer.sha1_fingerprint.len(), 40, "{name}");
                assert!(
                    signer
                        .sha1_fingerprint
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit())
                );
                assert!(!signer.emails.is_empty(), "{name}: no SAN e-mail");

                // Real certificates are expired and chain to AgID/DigitPA,
                // not to our store.
                assert!(with_store.signature_valid, "{name}");
                assert_eq!(with_store.chain_trusted, Some(false), "{name}");
                assert!(
                    with_store
                        .error
                        .as_deref()
                        .is_some_and(|e| e.starts_with("untrusted chain")),
                    "{name}: {:?}",
                    with_store.error
                );

                let (signed, der) = split_signed(&raw).expect("split");
                assert!(!signed.is_empty() && !der.is_empty());
            }
            "FAIL (top level); nested signed part OK" => {
                assert!(!verdict.signed, "{name}: {verdict:?}");
                assert!(!verdict.signature_valid);
                let error = verdict.error.as_deref().expect("error");
                assert!(error.contains("multipart/mixed"), "{name}: {error}");
                assert!(split_signed(&raw).is_err());
            }
            "FAIL (no signature)" => {
                assert!(!verdict.signature_valid, "{name}: {verdict:?}");
                assert!(verdict.error.is_some(), "{name}");
                assert!(split_signed(&raw).is_err());
            }
            other => panic!("{name}: unknown MANIFEST verdict {other:?}"),
        }
        if row.verifies != "FAIL (top level); nested signed part OK" {
            let (micalg, protocol) = row
                .micalg_protocol
                .split_once(" / ")
                .expect("micalg / protocol cell");
            assert_eq!(verdict.micalg.as_deref(), Some(micalg), "{name}");
            assert_eq!(verdict.protocol.as_deref(), Some(protocol), "{name}");
        }
    }
}

#[test]
fn anonymised_fixtures_fail_for_the_right_reason() {
    let dir = fixture_dir();
    let raw = fs::read(dir.join("aruba_2024-11-15_accettazione_anonymised.eml")).expect("read");
    let verdict = verify(&raw, &TrustStore::new());
    assert!(!verdict.signed);
    let error = verdict.error.expect("error");
    assert!(error.contains("no signature part"), "{error}");

    let raw =
        fs::read(dir.join("unknown_2021-05-13_avvenuta-consegna_anonymised.eml")).expect("read");
    let verdict = verify(&raw, &TrustStore::new());
    assert!(verdict.signed, "the stub signature part is there");
    let error = verdict.error.expect("error");
    assert!(error.contains("base64"), "{error}");
}

#[test]
fn nested_namirial_entity_matches_the_derived_fixture() {
    let dir = fixture_dir();
    let wrapped = fs::read(dir.join("namirial_2024-12-05_posta-certificata_mailman-wrapped.eml"))
        .expect("read wrapped");
    let entity = fs::read(dir.join("namirial_2024-12-05_posta-certificata_signed-entity.eml"))
        .expect("read entity");
    // The derived file is cut unchanged out of the wrapped one.
    let start = wrapped
        .windows(entity.len().min(200))
        .position(|w| w == &entity[..entity.len().min(200)])
        .expect("entity inside the wrapped message");
    let inner = &wrapped[start..start + entity.len()];
    assert_eq!(inner, &entity[..]);
    let verdict = verify(inner, &TrustStore::new());
    assert!(
        verdict.signature_valid && verdict.canonicalized,
        "{verdict:?}"
    );
    let subject = verdict.signer.expect("signer").subject;
    assert!(subject.contains("Namirial"), "{subject}");
}
