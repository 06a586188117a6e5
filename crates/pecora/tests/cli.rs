//! The `pecora` binary against real peers: every message `pecora sample` writes must verify
//! with the `openssl` CLI and carry a `daticert.xml` that `xmllint --dtdvalid` accepts, and
//! `pecora verify` must give the MANIFEST's answer for every real provider message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const PECORA: &str = env!("CARGO_BIN_EXE_pecora");

fn pecora(args: &[&str]) -> Output {
    Command::new(PECORA)
        .args(args)
        .output()
        .expect("run pecora")
}

fn tool(name: &str, args: &[&str]) -> Output {
    Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!(
            "{name} is needed for this test ({e}); run the README's test command, which installs it"
        )
    })
}

fn sample(dir: &Path) -> Vec<PathBuf> {
    let out = pecora(&["sample", "--out", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut emls: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    emls.sort();
    emls
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn fixtures() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/real-pec");
    assert!(
        dir.is_dir(),
        "real PEC fixtures expected at {} (shared/ beside the repository)",
        dir.display()
    );
    dir
}

#[test]
fn sample_writes_every_kind_and_openssl_verifies_them() {
    let dir = tempfile::tempdir().unwrap();
    let emls = sample(dir.path());
    let slugs: Vec<&str> = pec::Kind::ALL.iter().map(|k| k.slug()).collect();
    assert_eq!(emls.len(), slugs.len());
    let ca = dir.path().join("ca.pem");
    for (eml, slug) in emls.iter().zip(&slugs) {
        assert!(
            eml.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .ends_with(&format!("-{slug}.eml"))
        );
        let f = eml.to_str().unwrap();
        let c = ca.to_str().unwrap();
        for extra in [&[][..], &["-purpose", "smimesign"][..]] {
            let mut args = vec![
                "smime",
                "-verify",
                "-in",
                f,
                "-CAfile",
                c,
                "-out",
                "/dev/null",
            ];
            args.extend_from_slice(extra);
            let out = tool("openssl", &args);
            assert!(
                out.status.success(),
                "{slug} {extra:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // The classifier reads back the kind the file is named after.
        let raw = std::fs::read(eml).unwrap();
        let c = pec::classify(&raw).unwrap();
        assert_eq!(c.kind.map(|k| k.slug()), Some(*slug));
        assert!(
            c.signed && c.warnings.is_empty(),
            "{slug}: {:?}",
            c.warnings
        );
    }
}

#[test]
fn sample_daticert_is_valid_against_the_dtd() {
    let dir = tempfile::tempdir().unwrap();
    let dtd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pec/dtd/daticert.dtd");
    let mut checked = 0;
    for eml in sample(dir.path()) {
        let raw = std::fs::read(&eml).unwrap();
        let Some(d) = pec::classify(&raw).unwrap().daticert else {
            assert!(
                eml.to_str().unwrap().ends_with("-anomalia.eml"),
                "{} lacks daticert",
                eml.display()
            );
            continue;
        };
        let xml = eml.with_extension("xml");
        std::fs::write(&xml, d.to_xml()).unwrap();
        let out = tool(
            "xmllint",
            &[
                "--noout",
                "--dtdvalid",
                dtd.to_str().unwrap(),
                xml.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "{}: {}",
            eml.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert_eq!(checked, pec::Kind::ALL.len() - 1);
}

#[test]
fn verify_json_reports_every_field_for_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let emls = sample(dir.path());
    let ca = dir.path().join("ca.pem");
    let mut args = vec!["verify", "--json", "--ca", ca.to_str().unwrap()];
    args.extend(emls.iter().map(|p| p.to_str().unwrap()));
    let out = pecora(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let reports = json_lines(&out);
    assert_eq!(reports.len(), emls.len());
    for r in &reports {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["signature"]["chain_trusted"], true);
        assert_eq!(
            r["signature"]["signer"]["emails"][0],
            "posta-certificata@pec.pecora.example"
        );
        assert_eq!(
            r["signature"]["signer"]["sha1_fingerprint"]
                .as_str()
                .unwrap()
                .len(),
            40
        );
    }
    let consegna = reports
        .iter()
        .find(|r| r["kind"] == "avvenuta-consegna-breve")
        .unwrap();
    assert_eq!(consegna["variant"], "breve");
    assert_eq!(
        consegna["daticert"]["consegna"],
        "ufficio.protocollo@pec.comune.example"
    );
    assert_eq!(consegna["daticert"]["destinatari"][1]["tipo"], "esterno");
    let presa = reports
        .iter()
        .find(|r| r["kind"] == "presa-in-carico")
        .unwrap();
    assert_eq!(presa["daticert"]["ricezione"].as_array().unwrap().len(), 2);
    let anomalia = reports.iter().find(|r| r["kind"] == "anomalia").unwrap();
    assert!(anomalia["daticert"].is_null() && anomalia["original_size"].as_u64().unwrap() > 0);
}

#[test]
fn verify_fails_on_tampering_forgery_and_untrusted_chains() {
    let dir = tempfile::tempdir().unwrap();
    let emls = sample(dir.path());
    let ca = dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap();

    // One changed byte inside the signed text.
    let mut raw = std::fs::read(&emls[0]).unwrap();
    let at = raw
        .windows(9)
        .position(|w| w == b"accettato")
        .expect("human text");
    raw[at] = b'A';
    let tampered = dir.path().join("tampered.eml");
    std::fs::write(&tampered, &raw).unwrap();
    let out = pecora(&["verify", "--json", "--ca", ca, tampered.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let r = &json_lines(&out)[0];
    assert_eq!(r["signature"]["signature_valid"], false);
    assert!(r["signature"]["error"].is_string());

    // Another CA's provider: the signature holds, the chain does not lead to our CA.
    let other = tempfile::tempdir().unwrap();
    let forged = sample(other.path());
    let out = pecora(&["verify", "--json", "--ca", ca, forged[0].to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let r = &json_lines(&out)[0];
    assert_eq!(r["signature"]["signature_valid"], true);
    assert_eq!(r["signature"]["chain_trusted"], false);
    assert_eq!(r["ok"], false);

    // An unsigned copy (the signature part cut off).
    let raw = std::fs::read(&emls[0]).unwrap();
    let cut = raw.windows(9).position(|w| w == b"smime.p7s").unwrap();
    let unsigned = dir.path().join("unsigned.eml");
    std::fs::write(&unsigned, &raw[..cut]).unwrap();
    let out = pecora(&["verify", "--json", unsigned.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out)[0]["signature"]["signature_valid"], false);
}

#[test]
fn verify_reports_a_rewritten_busta_and_what_a_damaged_file_still_shows() {
    let dir = tempfile::tempdir().unwrap();
    let emls = sample(dir.path());
    let ca = dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let busta = emls
        .iter()
        .find(|p| p.to_str().unwrap().ends_with("posta-certificata.eml"))
        .expect("a busta among the samples");
    let text = String::from_utf8(std::fs::read(busta).unwrap()).unwrap();

    // The subject rewritten outside the signature: the signature still holds, verify fails
    // and says which field disagrees with what.
    let at = text.find("\r\nSubject: ").unwrap() + 2;
    let end = at + text[at..].find("\r\n").unwrap();
    let mut rewritten = format!(
        "{}Subject: POSTA CERTIFICATA: Diffida{}",
        &text[..at],
        &text[end..]
    );
    // Folded continuation lines of the old subject go too.
    while let Some(rest) = rewritten[at..]
        .split_once("\r\n")
        .map(|(_, r)| r.to_string())
    {
        if !rest.starts_with([' ', '\t']) {
            break;
        }
        let line_end = at + rewritten[at..].find("\r\n").unwrap();
        let next_end = line_end + 2 + rest.find("\r\n").unwrap();
        rewritten.replace_range(line_end..next_end, "");
    }
    let file = dir.path().join("rewritten.eml");
    std::fs::write(&file, &rewritten).unwrap();
    let out = pecora(&["verify", "--json", "--ca", ca, file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let r = &json_lines(&out)[0];
    assert_eq!(r["ok"], false);
    assert_eq!(r["signature"]["signature_valid"], true, "{r}");
    assert_eq!(r["kind"], "posta-certificata");
    let disagreements = r["disagreements"].to_string();
    assert!(disagreements.contains("Diffida"), "{r}");
    assert!(r["error"].as_str().unwrap().contains("disagree"), "{r}");
    let human = pecora(&["verify", "--ca", ca, file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("DISAGREES"));

    // daticert.xml broken and the signature with it: the kind the headers claim, the
    // headers and the signature verdict are still reported, with every reason.
    let part = text.find("name=\"daticert.xml\"").unwrap();
    let body = part + text[part..].find("\r\n\r\n").unwrap() + 4;
    let body_end = body + text[body..].find("\r\n--").unwrap();
    // base64 of `<postacert tipo="posta-certificata"><broken`
    let broken = "PHBvc3RhY2VydCB0aXBvPSJwb3N0YS1jZXJ0aWZpY2F0YSI+PGJyb2tlbg==";
    let damaged = format!("{}{broken}{}", &text[..body], &text[body_end..]);
    let file = dir.path().join("damaged.eml");
    std::fs::write(&file, &damaged).unwrap();
    let out = pecora(&["verify", "--json", "--ca", ca, file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let r = &json_lines(&out)[0];
    assert_eq!(r["kind"], "posta-certificata", "{r}");
    assert!(r["headers"]["subject"].is_string(), "{r}");
    assert_eq!(r["signature"]["signed"], true, "{r}");
    assert_eq!(r["signature"]["signature_valid"], false, "{r}");
    let error = r["error"].as_str().unwrap();
    assert!(
        error.contains("daticert") && error.contains("signature invalid"),
        "{error}"
    );
}

#[test]
fn sample_with_given_certificates() {
    let first = tempfile::tempdir().unwrap();
    sample(first.path());
    let p = |n: &str| first.path().join(n).to_str().unwrap().to_string();
    let second = tempfile::tempdir().unwrap();
    let out = pecora(&[
        "sample",
        "--out",
        second.path().to_str().unwrap(),
        "--cert",
        &p("provider-cert.pem"),
        "--key",
        &p("provider-key.pem"),
        "--ca",
        &p("ca.pem"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!second.path().join("provider-key.pem").exists());
    let eml = second.path().join("01-accettazione.eml");
    let out = pecora(&["verify", "--ca", &p("ca.pem"), eml.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(pecora(&["verify"]).status.code(), Some(2));
    assert_eq!(
        pecora(&["verify", "--ca", "/nonexistent.pem", "x.eml"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        pecora(&["sample", "--out", "/tmp/x", "--cert", "c.pem"])
            .status
            .code(),
        Some(2)
    );
    let out = pecora(&["verify", "/nonexistent.eml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cannot read file"));
}

/// (file, ok, kind, canonicalised) as the fixtures' MANIFEST describes them.
const REAL: &[(&str, bool, &str, bool)] = &[
    (
        "aruba_2014-11-07_posta-certificata.eml",
        true,
        "posta-certificata",
        true,
    ),
    (
        "aruba_2014-11-14_accettazione.eml",
        true,
        "accettazione",
        false,
    ),
    (
        "aruba_2018-11-13_avvenuta-consegna.eml",
        true,
        "avvenuta-consegna-completa",
        true,
    ),
    (
        "aruba_2018-12-19_posta-certificata.eml",
        true,
        "posta-certificata",
        false,
    ),
    (
        "aruba_2019-01-23_posta-certificata.eml",
        true,
        "posta-certificata",
        false,
    ),
    (
        "aruba_2024-11-15_accettazione_anonymised.eml",
        false,
        "accettazione",
        false,
    ),
    (
        "legalmail_2018-12-10_posta-certificata_repaired.eml",
        true,
        "posta-certificata",
        false,
    ),
    (
        "namirial_2024-12-05_posta-certificata_mailman-wrapped.eml",
        false,
        "posta-certificata",
        false,
    ),
    (
        "namirial_2024-12-05_posta-certificata_signed-entity.eml",
        true,
        "posta-certificata",
        true,
    ),
    (
        "sogei_2018-12-08_posta-certificata_sdi-invio-file.eml",
        true,
        "posta-certificata",
        true,
    ),
    (
        "unknown_2021-05-13_avvenuta-consegna_anonymised.eml",
        false,
        "avvenuta-consegna-completa",
        false,
    ),
];

#[test]
fn verify_gives_the_manifest_answer_for_real_provider_messages() {
    let dir = fixtures();
    let files: Vec<String> = REAL
        .iter()
        .map(|(f, ..)| dir.join(f).to_str().unwrap().to_string())
        .collect();
    let mut args = vec!["verify", "--json"];
    args.extend(files.iter().map(String::as_str));
    let out = pecora(&args);
    assert_eq!(out.status.code(), Some(1), "some fixtures are unsigned");
    let reports = json_lines(&out);
    assert_eq!(reports.len(), REAL.len());
    for (r, (file, ok, kind, canonicalized)) in reports.iter().zip(REAL) {
        assert_eq!(r["ok"], *ok, "{file}: {r}");
        assert_eq!(r["kind"], *kind, "{file}");
        // Unsigned (anonymised) files and the list-wrapped one say why they are not ok.
        assert_eq!(r["error"].is_null(), *ok, "{file}: {r}");
        // Only Mailman rewrote the outer header fields (its subject prefix); every real
        // provider's busta agrees with its signed content.
        let rewritten = file.ends_with("mailman-wrapped.eml");
        assert_eq!(
            r["disagreements"].as_array().unwrap().is_empty(),
            !rewritten,
            "{file}: {r}"
        );
        let d = &r["daticert"];
        assert!(!d["identificativo"].as_str().unwrap().is_empty(), "{file}");
        assert!(!d["mittente"].as_str().unwrap().is_empty(), "{file}");
        if *ok {
            assert_eq!(r["signature"]["signature_valid"], true, "{file}");
            assert_eq!(r["signature"]["canonicalized"], *canonicalized, "{file}");
            assert_eq!(r["signature"]["chain_trusted"], Value::Null);
            let subject = r["signature"]["signer"]["subject"].as_str().unwrap();
            assert!(subject.contains("Posta Certificata"), "{file}: {subject}");
        }
    }
    // The list-wrapped Namirial busta: the top level is not signed, the nested entity is.
    for r in &reports {
        let wrapped = r["file"].as_str().unwrap().ends_with("mailman-wrapped.eml");
        assert_eq!(
            r["nested_signature"].is_null(),
            !wrapped || r["signature"]["signed"] == true
        );
        if wrapped {
            assert_eq!(r["signature"]["signed"], false);
            assert_eq!(r["nested_signature"]["signature_valid"], true);
            let subject = r["nested_signature"]["signer"]["subject"].as_str().unwrap();
            assert!(subject.contains("Namirial"), "{subject}");
        }
    }
    // The header-free signed entity is still recognised as a busta, from daticert.xml.
    let entity = reports
        .iter()
        .find(|r| r["file"].as_str().unwrap().ends_with("signed-entity.eml"))
        .unwrap();
    assert!(
        entity["warnings"]
            .to_string()
            .contains("kind taken from daticert.xml")
    );
    // Real providers' identificativo is the busta's Message-ID.
    let busta = &reports[3];
    assert_eq!(
        busta["headers"]["message_id"].as_str().unwrap(),
        format!(
            "<{}>",
            busta["daticert"]["identificativo"].as_str().unwrap()
        )
    );
}

#[test]
fn human_output_names_kind_and_signer() {
    let dir = fixtures();
    let f = dir.join("aruba_2014-11-14_accettazione.eml");
    let out = pecora(&["verify", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Ricevuta di accettazione (accettazione)",
        "identificativo     opec275.20141114182632.23219.07.1.48@pec.aruba.it",
        "signature:  valid (micalg sha1, application/x-pkcs7-signature)",
        "ARUBA PEC",
        "sha1:",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}
