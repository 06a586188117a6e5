//! The classifier on what the network may send: real providers' quirks, nested anomalie,
//! and hostile input. Every answer is a kind or a typed error, never a panic.

use std::path::PathBuf;

use jiff::Zoned;
use pec::build;
use pec::classify::{ClassifyError, transazione_da_messaggio};
use pec::{Gestore, Kind, TipoRicevuta, classify};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/real-pec");
    assert!(
        dir.is_dir(),
        "real PEC fixtures expected at {}",
        dir.display()
    );
    std::fs::read(dir.join(name)).unwrap()
}

fn at() -> Zoned {
    "2026-01-15T10:00:00+01:00[Europe/Rome]".parse().unwrap()
}

fn anomalia_of(raw: &[u8]) -> Vec<u8> {
    let g = Gestore {
        nome: "Due PEC".into(),
        dominio: "pec.due.example".into(),
    };
    let t = transazione_da_messaggio(raw);
    build::busta_di_anomalia(&t, &g, &at(), raw, "firma non valida").unsigned()
}

#[test]
fn real_fixtures_classify() {
    let cases = [
        (
            "aruba_2014-11-07_posta-certificata.eml",
            Kind::PostaCertificata,
        ),
        ("aruba_2014-11-14_accettazione.eml", Kind::Accettazione),
        (
            "aruba_2018-11-13_avvenuta-consegna.eml",
            Kind::AvvenutaConsegna(TipoRicevuta::Completa),
        ),
        (
            "aruba_2024-11-15_accettazione_anonymised.eml",
            Kind::Accettazione,
        ),
        (
            "legalmail_2018-12-10_posta-certificata_repaired.eml",
            Kind::PostaCertificata,
        ),
        (
            "namirial_2024-12-05_posta-certificata_mailman-wrapped.eml",
            Kind::PostaCertificata,
        ),
        (
            "namirial_2024-12-05_posta-certificata_signed-entity.eml",
            Kind::PostaCertificata,
        ),
        (
            "sogei_2018-12-08_posta-certificata_sdi-invio-file.eml",
            Kind::PostaCertificata,
        ),
    ];
    for (name, kind) in cases {
        let c = classify(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c.kind, Some(kind), "{name}");
        let d = c.daticert.unwrap();
        if kind == Kind::PostaCertificata {
            let o = c.originale.as_deref().expect("postacert.eml");
            // The original carries the identificativo as its Message-ID (spec §7).
            let fields = pec::mime::fields(o);
            let id = fields
                .iter()
                .find(|f| f.is("Message-ID"))
                .map(|f| f.value());
            assert_eq!(id, Some(format!("<{}>", d.identificativo)), "{name}");
        }
    }
    // The SdI busta asks for breve receipts.
    let sogei = classify(&fixture(
        "sogei_2018-12-08_posta-certificata_sdi-invio-file.eml",
    ))
    .unwrap();
    assert_eq!(sogei.daticert.unwrap().ricevuta, Some(TipoRicevuta::Breve));
    assert_eq!(sogei.headers.x_tipo_ricevuta.as_deref(), Some("breve"));
    // Display-name From on a busta.
    let namirial = classify(&fixture(
        "namirial_2024-12-05_posta-certificata_mailman-wrapped.eml",
    ))
    .unwrap();
    assert!(namirial.headers.from.unwrap().contains("Per conto di"));
}

#[test]
fn anomalia_wrapping_a_real_busta() {
    let busta = fixture("aruba_2018-12-19_posta-certificata.eml");
    let c = classify(&anomalia_of(&busta)).unwrap();
    assert_eq!(c.kind, Some(Kind::Anomalia));
    assert!(c.daticert.is_none());
    let inner = c.inner.expect("the wrapped busta");
    assert_eq!(inner.kind, Some(Kind::PostaCertificata));
    assert!(inner.daticert.is_some());
    assert!(
        c.headers
            .subject
            .unwrap()
            .starts_with("ANOMALIA MESSAGGIO: POSTA CERTIFICATA: ")
    );
}

#[test]
fn anomalia_of_ordinary_mail_has_no_inner() {
    let c = classify(&anomalia_of(
        b"From: a@x.example\r\nTo: b@pec.y.example\r\nSubject: ciao\r\n\r\nhello\r\n",
    ))
    .unwrap();
    assert_eq!(c.kind, Some(Kind::Anomalia));
    assert!(c.inner.is_none());
}

#[test]
fn nested_anomalie_stop_at_a_limit() {
    let mut raw = fixture("aruba_2018-12-19_posta-certificata.eml");
    for _ in 0..8 {
        raw = anomalia_of(&raw);
    }
    assert!(matches!(classify(&raw), Err(ClassifyError::TooDeep)));
}

#[test]
fn ordinary_mail_is_not_pec() {
    let c =
        classify(b"From: a@x.example\r\nTo: b@y.example\r\nSubject: hi\r\n\r\nbody\r\n").unwrap();
    assert_eq!(c.kind, None);
    assert!(c.daticert.is_none());
}

#[test]
fn malformed_pec_is_a_typed_error() {
    // Claims to be a receipt but carries no daticert.
    let r =
        classify(b"X-Ricevuta: accettazione\r\nFrom: posta-certificata@p.example\r\n\r\nbody\r\n");
    assert!(
        matches!(r, Err(ClassifyError::MissingDaticert { .. })),
        "{r:?}"
    );
    // Unknown header values.
    let r = classify(b"X-Ricevuta: mancata-consegna\r\n\r\nx\r\n");
    assert!(
        matches!(r, Err(ClassifyError::UnknownValue { .. })),
        "{r:?}"
    );
    let r = classify(b"X-Trasporto: boh\r\n\r\nx\r\n");
    assert!(
        matches!(r, Err(ClassifyError::UnknownValue { .. })),
        "{r:?}"
    );
    // Not a message at all.
    assert!(matches!(classify(b""), Err(ClassifyError::NotAMessage)));
    assert!(matches!(
        classify(b"\x00\x01\x02 garbage"),
        Err(ClassifyError::NotAMessage)
    ));
}

#[test]
fn header_and_daticert_must_agree() {
    let raw = fixture("aruba_2014-11-14_accettazione.eml");
    let forged = String::from_utf8_lossy(&raw)
        .replace("X-Ricevuta: accettazione", "X-Ricevuta: avvenuta-consegna");
    let r = classify(forged.as_bytes());
    assert!(
        matches!(r, Err(ClassifyError::Inconsistent { .. })),
        "{r:?}"
    );
}

#[test]
fn garbage_daticert_is_a_typed_error() {
    let raw = fixture("aruba_2014-11-14_accettazione.eml");
    let text = String::from_utf8_lossy(&raw);
    // Break the base64 of daticert.xml: decoded bytes are no longer XML.
    let broken = text.replacen(
        "PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0iVVRGLTgiPz4KPHBvc3Rh",
        "////////////////////////////////////////////////////////////",
        1,
    );
    let r = classify(broken.as_bytes());
    assert!(matches!(r, Err(ClassifyError::Daticert(_))), "{r:?}");
}

#[test]
fn truncated_messages_never_panic() {
    let raw = fixture("aruba_2014-11-14_accettazione.eml");
    for cut in (0..raw.len()).step_by(97) {
        let _ = classify(&raw[..cut]);
    }
    // Missing signature part: still readable as PEC, reported unsigned by smime.
    let cut = raw.windows(9).position(|w| w == b"smime.p7s").unwrap();
    assert_eq!(
        classify(&raw[..cut]).unwrap().kind,
        Some(Kind::Accettazione)
    );
}

#[test]
fn huge_header_lines_and_depth_bombs() {
    let mut long = b"X-Ricevuta: accettazione\r\nSubject: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 1 << 20));
    long.extend_from_slice(b"\r\n\r\nbody\r\n");
    assert!(classify(&long).is_err());

    let mut bomb = Vec::new();
    for i in 0..5000 {
        bomb.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n")
                .as_bytes(),
        );
    }
    let _ = classify(&bomb);

    let mut rfc822 = Vec::new();
    for _ in 0..5000 {
        rfc822.extend_from_slice(b"X-Trasporto: errore\r\nContent-Type: message/rfc822\r\n\r\n");
    }
    let _ = classify(&rfc822);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn classify_never_panics_on_bytes(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = classify(&data);
    }

    #[test]
    fn classify_never_panics_on_mutated_receipts(flips in proptest::collection::vec((0usize..6541, any::<u8>()), 1..16)) {
        let mut raw = fixture("aruba_2014-11-14_accettazione.eml");
        for (at, b) in flips {
            let at = at % raw.len();
            raw[at] = b;
        }
        let _ = classify(&raw);
    }
}
