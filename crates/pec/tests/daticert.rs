//! `daticert.xml` writing and reading (spec §5): round trips, the spec's examples, every real
//! provider file in the shared fixtures, DTD validation with xmllint, hostile input, and
//! property tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::Zoned;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{Offset, TimeZone};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use pec::daticert::{
    Daticert, DaticertError, Destinatario, Errore, TipoDaticert, TipoDestinatario, TipoRicevuta,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A local time in a fixed offset of `offset_minutes`.
fn zoned(
    (year, month, day): (i16, i8, i8),
    (hour, minute, second): (i8, i8, i8),
    offset_minutes: i32,
) -> Zoned {
    let offset = Offset::from_seconds(offset_minutes * 60).expect("offset in range");
    DateTime::from_parts(
        Date::new(year, month, day).expect("valid date"),
        Time::new(hour, minute, second, 0).expect("valid time"),
    )
    .to_zoned(TimeZone::fixed(offset))
    .expect("representable")
}

fn dest(indirizzo: &str, tipo: TipoDestinatario) -> Destinatario {
    Destinatario {
        indirizzo: indirizzo.to_owned(),
        tipo,
    }
}

/// A realistic daticert of `tipo`, with the elements spec table 5.3 gives that type.
fn sample(tipo: TipoDaticert) -> Daticert {
    let mut d = Daticert {
        tipo,
        errore: Errore::Nessuno,
        mittente: "mario.rossi@pec.example.it".to_owned(),
        destinatari: vec![
            dest("ufficio@pec.altro.example", TipoDestinatario::Certificato),
            dest(
                "protocollo@pec.altro.example",
                TipoDestinatario::Certificato,
            ),
            dest("anna@mail.example.com", TipoDestinatario::Esterno),
        ],
        risposte: "segreteria@pec.example.it".to_owned(),
        oggetto: Some(
            "Contratto n. 12 & \"allegati\" <bozza> — perché l'ho già inviato".to_owned(),
        ),
        gestore_emittente: "Esempio PEC S.p.A.".to_owned(),
        data: zoned((2024, 12, 5), (0, 2, 10), 60),
        identificativo: "opec21192.20241205000210.24820.46.1.184@gestore.example".to_owned(),
        msgid: Some("<2839ed57-e664-4020@client.example>".to_owned()),
        ricevuta: None,
        consegna: None,
        ricezione: Vec::new(),
        errore_esteso: None,
    };
    match tipo {
        TipoDaticert::Accettazione => {}
        TipoDaticert::NonAccettazione => {
            d.errore = Errore::Altro;
            d.errore_esteso = Some("Il mittente non corrisponde all'utente autenticato".to_owned());
        }
        TipoDaticert::PresaInCarico => {
            d.gestore_emittente = "Altro PEC S.p.A.".to_owned();
            d.data = zoned((2025, 5, 10), (11, 1, 54), 120);
            d.ricezione = vec![
                "ufficio@pec.altro.example".to_owned(),
                "protocollo@pec.altro.example".to_owned(),
            ];
        }
        TipoDaticert::AvvenutaConsegna => {
            d.ricevuta = Some(TipoRicevuta::Breve);
            d.consegna = Some("ufficio@pec.altro.example".to_owned());
        }
        TipoDaticert::PostaCertificata => d.ricevuta = Some(TipoRicevuta::Completa),
        TipoDaticert::ErroreConsegna => {
            d.errore = Errore::NoDest;
            d.ricevuta = Some(TipoRicevuta::Sintetica);
            d.consegna = Some("protocollo@pec.altro.example".to_owned());
            d.errore_esteso = Some("5.1.1 - Esempio PEC S.p.A. - indirizzo non valido".to_owned());
        }
        TipoDaticert::PreavvisoErroreConsegna => {
            d.errore = Errore::Altro;
            d.data = zoned((2024, 12, 5), (12, 2, 11), 60);
            d.consegna = Some("protocollo@pec.altro.example".to_owned());
            d.errore_esteso = Some("4.4.7 - Esempio PEC S.p.A. - tempo scaduto".to_owned());
        }
        TipoDaticert::RilevazioneVirus => {
            d.errore = Errore::Virus;
            d.data = zoned((2024, 7, 31), (23, 59, 59), -210);
            d.consegna = Some("ufficio@pec.altro.example".to_owned());
            d.errore_esteso = Some("Eicar-Test-Signature".to_owned());
        }
    }
    d
}

/// Asserts equality including the offset (`Zoned` equality compares only the instant).
fn assert_same(actual: &Daticert, expected: &Daticert) {
    assert_eq!(actual, expected);
    assert_eq!(
        actual.data.offset(),
        expected.data.offset(),
        "offset of data"
    );
    assert_eq!(
        actual.data.datetime(),
        expected.data.datetime(),
        "local time of data"
    );
}

fn read(xml: &str) -> Daticert {
    match Daticert::from_xml(xml.as_bytes()) {
        Ok(d) => d,
        Err(e) => panic!("from_xml failed: {e}\n{xml}"),
    }
}

fn read_err(xml: impl AsRef<[u8]>) -> DaticertError {
    match Daticert::from_xml(xml.as_ref()) {
        Ok(d) => panic!("expected an error, got {d:?}"),
        Err(e) => e,
    }
}

/// A minimal valid document with `intestazione` and `dati` bodies spliced in.
fn doc(root_attrs: &str, intestazione: &str, dati: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<postacert {root_attrs}><intestazione>\
         {intestazione}</intestazione><dati>{dati}</dati></postacert>"
    )
}

const INTESTAZIONE: &str = "<mittente>a@pec.example</mittente>\
    <destinatari tipo=\"certificato\">b@pec.example</destinatari><risposte>a@pec.example</risposte>";
const DATI: &str = "<gestore-emittente>G</gestore-emittente>\
    <data zona=\"+0100\"><giorno>05/12/2024</giorno><ora>00:02:10</ora></data>\
    <identificativo>id@g.example</identificativo>";

// ---------------------------------------------------------------------------------------------
// 1. Round trips and writer output

#[test]
fn round_trip_every_tipo() {
    for &tipo in TipoDaticert::ALL {
        let d = sample(tipo);
        let xml = d.to_xml();
        assert_same(&read(&xml), &d);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
        assert!(!xml.contains("<!DOCTYPE"));
        assert!(xml.contains(&format!(
            "<postacert tipo=\"{}\" errore=\"{}\">",
            tipo.as_str(),
            d.errore.as_str()
        )));
    }
}

/// The model of the spec's §5.4 busta example ([`SPEC_BUSTA`]).
fn spec_busta() -> Daticert {
    Daticert {
        tipo: TipoDaticert::PostaCertificata,
        errore: Errore::Nessuno,
        mittente: "mario.rossi@pec.example.it".to_owned(),
        destinatari: vec![
            dest("ufficio@pec.altro.example", TipoDestinatario::Certificato),
            dest("anna@mail.example.com", TipoDestinatario::Esterno),
        ],
        risposte: "mario.rossi@pec.example.it".to_owned(),
        oggetto: Some("Contratto n. 12".to_owned()),
        gestore_emittente: "Esempio PEC S.p.A.".to_owned(),
        data: zoned((2024, 12, 5), (0, 2, 10), 60),
        identificativo: "opec21192.20241205000210.24820.46.1.184@gestore.example".to_owned(),
        msgid: Some("<2839ed57-e664-4020@client.example>".to_owned()),
        ricevuta: Some(TipoRicevuta::Completa),
        consegna: None,
        ricezione: Vec::new(),
        errore_esteso: None,
    }
}

#[test]
fn writer_matches_the_spec_busta_example_byte_for_byte() {
    // The writer ends the document with a line break; the constant does not.
    let expected = format!("{SPEC_BUSTA}\n");
    let d = spec_busta();
    assert_eq!(d.to_xml(), expected);
}

#[test]
fn writer_puts_elements_in_dtd_order() {
    let mut d = sample(TipoDaticert::ErroreConsegna);
    d.ricezione = vec!["x@pec.example".to_owned()];
    let xml = d.to_xml();
    let order = [
        "<postacert ",
        "<intestazione>",
        "<mittente>",
        "<destinatari ",
        "<risposte>",
        "<oggetto>",
        "</intestazione>",
        "<dati>",
        "<gestore-emittente>",
        "<data zona=",
        "<giorno>",
        "<ora>",
        "</data>",
        "<identificativo>",
        "<msgid>",
        "<ricevuta tipo=\"sintetica\" />",
        "<consegna>",
        "<ricezione>",
        "<errore-esteso>",
        "</dati>",
        "</postacert>",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|needle| {
            xml.find(needle)
                .unwrap_or_else(|| panic!("{needle} missing in\n{xml}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "order wrong in\n{xml}"
    );
}

#[test]
fn writer_escapes_markup_and_always_writes_errore() {
    let mut d = sample(TipoDaticert::Accettazione);
    d.oggetto = Some("a & b < c > d \" e ' f ]]> g".to_owned());
    let xml = d.to_xml();
    assert!(xml.contains("<oggetto>a &amp; b &lt; c &gt; d &quot; e &apos; f ]]&gt; g</oggetto>"));
    assert!(xml.contains("<msgid>&lt;2839ed57-e664-4020@client.example&gt;</msgid>"));
    assert!(xml.contains("errore=\"nessuno\""));
    assert_same(&read(&xml), &d);
}

#[test]
fn writer_replaces_characters_xml_forbids() {
    let mut d = sample(TipoDaticert::Accettazione);
    d.oggetto = Some("a\u{0}b\u{1}c\u{1b}d\u{fffe}e\u{ffff}f\tg\nh\u{7f}i\u{85}j".to_owned());
    let xml = d.to_xml();
    assert!(!xml.chars().any(is_forbidden));
    let back = read(&xml);
    // Tab, LF, DEL and C1 controls are XML 1.0 characters and survive.
    assert_eq!(
        back.oggetto.as_deref(),
        Some("a\u{fffd}b\u{fffd}c\u{fffd}d\u{fffd}e\u{fffd}f\tg\nh\u{7f}i\u{85}j")
    );
}

#[test]
fn carriage_returns_survive_the_round_trip() {
    let mut d = sample(TipoDaticert::Accettazione);
    d.oggetto = Some("riga 1\r\nriga 2\rriga 3".to_owned());
    let xml = d.to_xml();
    assert!(xml.contains("riga 1&#13;\nriga 2&#13;riga 3"));
    assert_same(&read(&xml), &d);
}

#[test]
fn zona_is_written_from_the_offset() {
    for (minutes, zona) in [
        (60, "+0100"),
        (120, "+0200"),
        (0, "+0000"),
        (-210, "-0330"),
        (840, "+1400"),
        (-720, "-1200"),
        (345, "+0545"),
    ] {
        let mut d = sample(TipoDaticert::Accettazione);
        d.data = zoned((2024, 3, 1), (9, 8, 7), minutes);
        let xml = d.to_xml();
        assert!(
            xml.contains(&format!("<data zona=\"{zona}\">")),
            "{zona}: {xml}"
        );
        assert!(xml.contains("<giorno>01/03/2024</giorno>"));
        assert!(xml.contains("<ora>09:08:07</ora>"));
        assert_same(&read(&xml), &d);
    }
}

#[test]
fn sub_minute_offsets_and_nanoseconds_keep_the_instant() {
    // An offset of +00:09:21 (Paris mean time) cannot be written as hhmm: the instant is
    // re-expressed in +0009, so it stays exact to the second.
    let offset = Offset::from_seconds(9 * 60 + 21).expect("offset");
    let local = DateTime::from_parts(
        Date::new(2024, 1, 2).expect("date"),
        Time::new(10, 0, 30, 123_456_789).expect("time"),
    );
    let data = local.to_zoned(TimeZone::fixed(offset)).expect("zoned");
    let mut d = sample(TipoDaticert::Accettazione);
    d.data = data.clone();
    let xml = d.to_xml();
    assert!(xml.contains("<data zona=\"+0009\">"), "{xml}");
    assert!(xml.contains("<ora>10:00:09</ora>"), "{xml}");
    let back = read(&xml);
    assert_eq!(
        back.data.timestamp().as_second(),
        data.timestamp().as_second()
    );
    assert_eq!(back.data.offset().seconds(), 9 * 60);
}

#[test]
fn empty_destinatari_is_written_as_is() {
    let mut d = sample(TipoDaticert::Accettazione);
    d.destinatari.clear();
    let xml = d.to_xml();
    assert!(!xml.contains("<destinatari"));
    assert_same(&read(&xml), &d);
}

#[test]
fn enums_use_the_exact_wire_values() {
    let tipi: Vec<&str> = TipoDaticert::ALL.iter().map(TipoDaticert::as_str).collect();
    assert_eq!(
        tipi,
        [
            "accettazione",
            "non-accettazione",
            "presa-in-carico",
            "avvenuta-consegna",
            "posta-certificata",
            "errore-consegna",
            "preavviso-errore-consegna",
            "rilevazione-virus"
        ]
    );
    let errori: Vec<&str> = Errore::ALL.iter().map(Errore::as_str).collect();
    assert_eq!(
        errori,
        ["nessuno", "no-dest", "no-dominio", "virus", "altro"]
    );
    let dest: Vec<&str> = TipoDestinatario::ALL
        .iter()
        .map(TipoDestinatario::as_str)
        .collect();
    assert_eq!(dest, ["certificato", "esterno"]);
    let ricevute: Vec<&str> = TipoRicevuta::ALL.iter().map(TipoRicevuta::as_str).collect();
    assert_eq!(ricevute, ["completa", "breve", "sintetica"]);

    for &t in TipoDaticert::ALL {
        assert_eq!(t.to_string(), t.as_str());
        assert_eq!(t.as_str().parse::<TipoDaticert>(), Ok(t));
        assert_eq!(format!(" {t}\n").parse::<TipoDaticert>(), Ok(t));
    }
    for &e in Errore::ALL {
        assert_eq!(e.to_string().parse::<Errore>(), Ok(e));
    }
    for &t in TipoDestinatario::ALL {
        assert_eq!(t.to_string().parse::<TipoDestinatario>(), Ok(t));
    }
    for &t in TipoRicevuta::ALL {
        assert_eq!(t.to_string().parse::<TipoRicevuta>(), Ok(t));
    }
    assert_eq!(Errore::default(), Errore::Nessuno);

    let err = "Accettazione".parse::<TipoDaticert>().unwrap_err();
    assert_eq!(err.value, "Accettazione");
    assert_eq!(
        err.to_string(),
        "unknown postacert/@tipo value \"Accettazione\""
    );
    assert!("mancata-consegna".parse::<TipoDaticert>().is_err());
    assert!("no_dest".parse::<Errore>().is_err());
    assert!("".parse::<TipoRicevuta>().is_err());
    assert!("ESTERNO".parse::<TipoDestinatario>().is_err());
}

// ---------------------------------------------------------------------------------------------
// 2. The spec's §5.4 examples

const SPEC_BUSTA: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<postacert tipo="posta-certificata" errore="nessuno">
    <intestazione>
        <mittente>mario.rossi@pec.example.it</mittente>
        <destinatari tipo="certificato">ufficio@pec.altro.example</destinatari>
        <destinatari tipo="esterno">anna@mail.example.com</destinatari>
        <risposte>mario.rossi@pec.example.it</risposte>
        <oggetto>Contratto n. 12</oggetto>
    </intestazione>
    <dati>
        <gestore-emittente>Esempio PEC S.p.A.</gestore-emittente>
        <data zona="+0100">
            <giorno>05/12/2024</giorno>
            <ora>00:02:10</ora>
        </data>
        <identificativo>opec21192.20241205000210.24820.46.1.184@gestore.example</identificativo>
        <msgid>&lt;2839ed57-e664-4020@client.example&gt;</msgid>
        <ricevuta tipo="completa" />
    </dati>
</postacert>"#;

const SPEC_MANCATA_CONSEGNA: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<postacert tipo="errore-consegna" errore="no-dest">
    <intestazione>
        <mittente>mario.rossi@pec.example.it</mittente>
        <destinatari tipo="certificato">nessuno@pec.altro.example</destinatari>
        <risposte>mario.rossi@pec.example.it</risposte>
        <oggetto>Test PEC</oggetto>
    </intestazione>
    <dati>
        <gestore-emittente>ALTRO PEC S.p.A.</gestore-emittente>
        <data zona="+0100"><giorno>15/11/2024</giorno><ora>18:21:03</ora></data>
        <identificativo>opec210312.20241115182038.288127.606.1.53@gestore.example</identificativo>
        <msgid>&lt;SN05IE$951DEC16@client.example&gt;</msgid>
        <consegna>nessuno@pec.altro.example</consegna>
        <errore-esteso>5.1.1 - ALTRO PEC S.p.A. - indirizzo non valido</errore-esteso>
    </dati>
</postacert>"#;

const SPEC_PRESA_IN_CARICO: &str = r#"<postacert tipo="presa-in-carico" errore="nessuno">
  <intestazione>
    <mittente>a@pec.one.example</mittente>
    <destinatari tipo="certificato">b@pec.two.example</destinatari>
    <destinatari tipo="certificato">c@pec.two.example</destinatari>
    <destinatari tipo="esterno">d@mail.example</destinatari>
    <risposte>a@pec.one.example</risposte>
    <oggetto>...</oggetto>
  </intestazione>
  <dati>
    <gestore-emittente>Two PEC S.p.A.</gestore-emittente>
    <data zona="+0200"><giorno>10/05/2025</giorno><ora>11:01:54</ora></data>
    <identificativo>[PEC msgid assigned by provider One]</identificativo>
    <msgid>&lt;client-msgid@one.example&gt;</msgid>
    <ricezione>b@pec.two.example</ricezione>
    <ricezione>c@pec.two.example</ricezione>
  </dati>
</postacert>"#;

#[test]
fn reads_spec_busta_example() {
    let d = read(SPEC_BUSTA);
    assert_same(&d, &spec_busta());
    // The instant: 2024-12-04T23:02:10Z (spec §8.1, same as the CMS signingTime).
    assert_eq!(d.data.timestamp().to_string(), "2024-12-04T23:02:10Z");
}

#[test]
fn reads_spec_mancata_consegna_example() {
    assert_same(
        &read(SPEC_MANCATA_CONSEGNA),
        &Daticert {
            tipo: TipoDaticert::ErroreConsegna,
            errore: Errore::NoDest,
            mittente: "mario.rossi@pec.example.it".to_owned(),
            destinatari: vec![dest(
                "nessuno@pec.altro.example",
                TipoDestinatario::Certificato,
            )],
            risposte: "mario.rossi@pec.example.it".to_owned(),
            oggetto: Some("Test PEC".to_owned()),
            gestore_emittente: "ALTRO PEC S.p.A.".to_owned(),
            data: zoned((2024, 11, 15), (18, 21, 3), 60),
            identificativo: "opec210312.20241115182038.288127.606.1.53@gestore.example".to_owned(),
            msgid: Some("<SN05IE$951DEC16@client.example>".to_owned()),
            ricevuta: None,
            consegna: Some("nessuno@pec.altro.example".to_owned()),
            ricezione: Vec::new(),
            errore_esteso: Some("5.1.1 - ALTRO PEC S.p.A. - indirizzo non valido".to_owned()),
        },
    );
}

#[test]
fn reads_spec_presa_in_carico_example() {
    assert_same(
        &read(SPEC_PRESA_IN_CARICO),
        &Daticert {
            tipo: TipoDaticert::PresaInCarico,
            errore: Errore::Nessuno,
            mittente: "a@pec.one.example".to_owned(),
            destinatari: vec![
                dest("b@pec.two.example", TipoDestinatario::Certificato),
                dest("c@pec.two.example", TipoDestinatario::Certificato),
                dest("d@mail.example", TipoDestinatario::Esterno),
            ],
            risposte: "a@pec.one.example".to_owned(),
            oggetto: Some("...".to_owned()),
            gestore_emittente: "Two PEC S.p.A.".to_owned(),
            data: zoned((2025, 5, 10), (11, 1, 54), 120),
            identificativo: "[PEC msgid assigned by provider One]".to_owned(),
            msgid: Some("<client-msgid@one.example>".to_owned()),
            ricevuta: None,
            consegna: None,
            ricezione: vec![
                "b@pec.two.example".to_owned(),
                "c@pec.two.example".to_owned(),
            ],
            errore_esteso: None,
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Reader tolerance

#[test]
fn reader_tolerates_real_world_variation() {
    let xml = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
        <!DOCTYPE postacert SYSTEM \"http://daticert.invalid/daticert.dtd\">\r\n\
        <!-- a comment -->\r\n\
        <postacert xmlns:x=\"urn:x\" x:extra=\"1\" errore=\"no-dest\" tipo=\" errore-consegna \">\r\n\
        \t<dati>\r\n\
        \t\t<errore-esteso>\r\n   5.1.1 - Esempio PEC S.p.A. - indirizzo non valido  \r\n</errore-esteso>\r\n\
        \t\t<consegna>nessuno@pec.altro.example</consegna>\r\n\
        \t\t<sconosciuto a=\"b\"><annidato><profondo>testo &amp; &ignoto; <x/></profondo></annidato></sconosciuto>\r\n\
        \t\t<data zona=\" +01:00 \" extra=\"x\"><ora>8:5:3</ora><giorno>5/1/2025</giorno><nota/></data>\r\n\
        \t\t<identificativo><![CDATA[opec.1@gestore.example]]></identificativo>\r\n\
        \t\t<msgid>&lt;a@b&gt;</msgid>\r\n\
        \t\t<gestore-emittente>Esempio PEC S.p.A.</gestore-emittente>\r\n\
        \t</dati>\r\n\
        \t<intestazione>\r\n\
        \t\t<oggetto>Caff&#233; &#x1F600; <?pi x?>con<!-- c -->\r\n cornetto\u{a0}</oggetto>\r\n\
        \t\t<destinatari>nessuno@pec.altro.example</destinatari>\r\n\
        \t\t<mittente altro=\"attributo\">mario.rossi@pec.example.it<sub>ignorato</sub></mittente>\r\n\
        \t</intestazione>\r\n\
        \t<estensione><intestazione><mittente>non-questo@example</mittente></intestazione></estensione>\r\n\
        </postacert>\r\n";
    let d = read(xml);
    assert_eq!(d.tipo, TipoDaticert::ErroreConsegna);
    assert_eq!(d.errore, Errore::NoDest);
    assert_eq!(d.mittente, "mario.rossi@pec.example.it");
    // No tipo attribute: the DTD default.
    assert_eq!(
        d.destinatari,
        vec![dest(
            "nessuno@pec.altro.example",
            TipoDestinatario::Certificato
        )]
    );
    // No risposte: the mittente.
    assert_eq!(d.risposte, "mario.rossi@pec.example.it");
    // References expanded, comments and PIs dropped, CRLF normalised, trimmed (but U+00A0 is
    // content, not XML whitespace).
    assert_eq!(d.oggetto.as_deref(), Some("Caffé 😀 con\n cornetto\u{a0}"));
    assert_eq!(d.gestore_emittente, "Esempio PEC S.p.A.");
    assert_eq!(d.data, zoned((2025, 1, 5), (8, 5, 3), 60));
    assert_eq!(d.data.offset().seconds(), 3600);
    assert_eq!(d.identificativo, "opec.1@gestore.example");
    assert_eq!(d.msgid.as_deref(), Some("<a@b>"));
    assert_eq!(d.ricevuta, None);
    assert_eq!(d.consegna.as_deref(), Some("nessuno@pec.altro.example"));
    assert!(d.ricezione.is_empty());
    assert_eq!(
        d.errore_esteso.as_deref(),
        Some("5.1.1 - Esempio PEC S.p.A. - indirizzo non valido")
    );
}

#[test]
fn reader_defaults_errore_and_accepts_missing_optionals() {
    let d = read(&doc("tipo=\"accettazione\"", INTESTAZIONE, DATI));
    assert_eq!(d.errore, Errore::Nessuno);
    assert_eq!(d.oggetto, None);
    assert_eq!(d.msgid, None);
    assert_eq!(d.ricevuta, None);
    assert_eq!(d.consegna, None);
    assert!(d.ricezione.is_empty());
    assert_eq!(d.errore_esteso, None);

    // No destinatari at all (DTD-invalid) reads as an empty list.
    let d = read(&doc(
        "tipo=\"accettazione\"",
        "<mittente>a@pec.example</mittente>",
        DATI,
    ));
    assert!(d.destinatari.is_empty());
    assert_eq!(d.risposte, "a@pec.example");

    // Empty elements read as empty text.
    let d = read(&doc(
        "tipo=\"accettazione\"",
        &format!("{INTESTAZIONE}<oggetto/>"),
        &format!("{DATI}<msgid></msgid><ricevuta tipo=\"breve\"></ricevuta>"),
    ));
    assert_eq!(d.oggetto.as_deref(), Some(""));
    assert_eq!(d.msgid.as_deref(), Some(""));
    assert_eq!(d.ricevuta, Some(TipoRicevuta::Breve));
}

#[test]
fn reader_character_references_to_forbidden_characters_become_replacement() {
    let d = read(&doc(
        "tipo=\"accettazione\"",
        &format!(
            "{INTESTAZIONE}<oggetto>a&#1;b&#x0;c&#xFFFE;d&#xD800;e&#1114112;f&#99999999999999;g</oggetto>"
        ),
        DATI,
    ));
    assert_eq!(
        d.oggetto.as_deref(),
        Some("a\u{fffd}b\u{fffd}c\u{fffd}d\u{fffd}e\u{fffd}f\u{fffd}g")
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Every real provider file

fn fixtures_dir() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/real-pec"
    ));
    assert!(
        dir.is_dir(),
        "real PEC fixtures expected at {} (shared/fixtures/real-pec beside the work tree)",
        dir.display()
    );
    dir.to_path_buf()
}

/// Every part named `daticert.xml`, with how many `message/rfc822` levels it is nested in.
fn daticert_parts(
    message: &mail_parser::Message<'_>,
    depth: usize,
    out: &mut Vec<(usize, Vec<u8>)>,
) {
    for part in &message.parts {
        if part.attachment_name() == Some("daticert.xml") {
            out.push((depth, part.contents().to_vec()));
        }
        if let PartType::Message(nested) = &part.body {
            daticert_parts(nested, depth + 1, out);
        }
    }
}

/// The one daticert.xml in the corpus that is not well-formed: the copy inside the message
/// that Outlook forwarded within the Legalmail busta (nesting depth 1). Outlook re-encoded
/// the attachment as quoted-printable text with hard line breaks, splitting `</destinatari>`
/// into `<` LF `/destinatari>` (the source repository calls the file notWellFormed.eml).
const ILL_FORMED: (&str, usize) = ("legalmail_2018-12-10_posta-certificata_repaired.eml", 1);

#[test]
fn reads_every_real_fixture() {
    let dir = fixtures_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures dir readable")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 11, "MANIFEST.md lists 11 files");

    let mut top_level = 0;
    let mut nested_ok = 0;
    let mut rejected = 0;
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name");
        let expected = [
            TipoDaticert::PostaCertificata,
            TipoDaticert::Accettazione,
            TipoDaticert::AvvenutaConsegna,
        ]
        .into_iter()
        .find(|t| name.contains(&format!("_{}", t.as_str())))
        .unwrap_or_else(|| panic!("{name}: no tipo in the file name"));

        let bytes = std::fs::read(path).expect("fixture readable");
        let message = MessageParser::default()
            .parse(&bytes[..])
            .unwrap_or_else(|| panic!("{name}: mail-parser failed"));
        let mut parts = Vec::new();
        daticert_parts(&message, 0, &mut parts);
        assert_eq!(
            parts.iter().filter(|(depth, _)| *depth == 0).count(),
            1,
            "{name}: exactly one daticert.xml outside nested messages"
        );

        for (depth, xml) in &parts {
            match Daticert::from_xml(xml) {
                Ok(d) => {
                    assert_eq!(d.tipo, expected, "{name} depth {depth}");
                    assert!(!d.identificativo.is_empty(), "{name}: empty identificativo");
                    assert!(
                        d.mittente.contains('@') || name.starts_with("unknown_"),
                        "{name}"
                    );
                    assert!(!d.destinatari.is_empty(), "{name}: no destinatari");
                    assert!(
                        d.msgid
                            .as_deref()
                            .is_some_and(|m| m.starts_with('<') && m.ends_with('>'))
                    );
                    // Reading what we write gives the same data back.
                    assert_same(&read(&d.to_xml()), &d);
                    if *depth == 0 {
                        top_level += 1;
                    } else {
                        nested_ok += 1;
                    }
                }
                Err(e) => {
                    assert_eq!((name, *depth), ILL_FORMED, "{name} depth {depth}: {e}");
                    assert!(matches!(e, DaticertError::NotWellFormed { .. }), "{e:?}");
                    rejected += 1;
                }
            }
        }
    }
    assert_eq!((top_level, nested_ok, rejected), (11, 1, 1));
}

#[test]
fn real_fixture_details() {
    let dir = fixtures_dir();
    let top = |file: &str| -> Daticert {
        let bytes = std::fs::read(dir.join(file)).expect("fixture readable");
        let message = MessageParser::default().parse(&bytes[..]).expect("parses");
        let mut parts = Vec::new();
        daticert_parts(&message, 0, &mut parts);
        let (_, xml) = parts
            .into_iter()
            .find(|(depth, _)| *depth == 0)
            .expect("top-level daticert");
        Daticert::from_xml(&xml).expect("readable")
    };

    let sogei = top("sogei_2018-12-08_posta-certificata_sdi-invio-file.eml");
    assert_eq!(sogei.ricevuta, Some(TipoRicevuta::Breve));
    assert_eq!(sogei.gestore_emittente, "Sogei SpA");
    assert_eq!(sogei.data, zoned((2018, 12, 8), (12, 26, 18), 60));

    let namirial = top("namirial_2024-12-05_posta-certificata_mailman-wrapped.eml");
    assert_eq!(namirial.destinatari.len(), 7);
    assert!(
        namirial
            .destinatari
            .iter()
            .all(|d| d.tipo == TipoDestinatario::Esterno)
    );
    assert_eq!(
        namirial.data.timestamp().to_string(),
        "2024-12-04T23:02:10Z"
    );
    let signed_entity = top("namirial_2024-12-05_posta-certificata_signed-entity.eml");
    assert_same(&signed_entity, &namirial);

    let consegna = top("aruba_2018-11-13_avvenuta-consegna.eml");
    assert_eq!(consegna.ricevuta, Some(TipoRicevuta::Completa));
    assert!(consegna.consegna.is_some());

    let multi = top("aruba_2019-01-23_posta-certificata.eml");
    assert_eq!(multi.destinatari.len(), 3);
    assert!(multi.oggetto.as_deref().is_some_and(|o| o.contains('°')));

    // Anonymised by its publisher, with some base64 bodies cut short: the daticert part is
    // intact and reads, with placeholder addresses.
    let unknown = top("unknown_2021-05-13_avvenuta-consegna_anonymised.eml");
    assert_eq!(unknown.data.offset().seconds(), 7200);
    assert_eq!(unknown.consegna.as_deref(), Some("example.example.com"));

    let legalmail = top("legalmail_2018-12-10_posta-certificata_repaired.eml");
    assert_eq!(legalmail.gestore_emittente, "InfoCert S.p.A.");
    assert!(
        legalmail
            .identificativo
            .ends_with(".posta-certificata@legalmail.it")
    );
}

// ---------------------------------------------------------------------------------------------
// 4. DTD validation with xmllint

fn xmllint_available() -> bool {
    // xmllint may still be being installed when the suite starts: retry for a while.
    for attempt in 0..30 {
        match Command::new("xmllint").arg("--version").output() {
            Ok(_) => return true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if attempt < 29 {
                    std::thread::sleep(std::time::Duration::from_secs(2));
                }
            }
            Err(e) => panic!("running xmllint: {e}"),
        }
    }
    false
}

/// Validates `xml` against `dtd/daticert.dtd`; returns xmllint's success and its messages.
fn xmllint_validate(dir: &Path, file: &str, xml: &str) -> (bool, String) {
    let dtd = Path::new(env!("CARGO_MANIFEST_DIR")).join("dtd/daticert.dtd");
    let path = dir.join(file);
    std::fs::write(&path, xml).expect("write temp file");
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--dtdvalid")
        .arg(&dtd)
        .arg(&path)
        .output()
        .expect("run xmllint");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn written_files_validate_against_the_dtd() {
    assert!(
        xmllint_available(),
        "xmllint not found on PATH: install libxml2-utils (apt-get install libxml2-utils)"
    );
    let dir = std::env::temp_dir().join(format!("pec-daticert-xmllint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    for &tipo in TipoDaticert::ALL {
        let xml = sample(tipo).to_xml();
        let (ok, messages) = xmllint_validate(&dir, &format!("{}.xml", tipo.as_str()), &xml);
        assert!(ok, "{tipo} does not validate:\n{messages}\n{xml}");
    }

    // Hostile text and a minimal document validate too.
    let mut hostile = sample(TipoDaticert::PostaCertificata);
    hostile.oggetto = Some("<&>\"' ]]> \u{1} \r\n 漢字 😀".to_owned());
    hostile.msgid = None;
    hostile.ricevuta = None;
    let (ok, messages) = xmllint_validate(&dir, "hostile.xml", &hostile.to_xml());
    assert!(ok, "{messages}");

    // The spec's examples validate.
    for (i, example) in [SPEC_BUSTA, SPEC_MANCATA_CONSEGNA, SPEC_PRESA_IN_CARICO]
        .iter()
        .enumerate()
    {
        let (ok, messages) = xmllint_validate(&dir, &format!("spec-{i}.xml"), example);
        assert!(ok, "spec example {i}: {messages}");
    }

    // The DTD really is enforced: no destinatari is invalid (see the writer's doc).
    let mut empty = sample(TipoDaticert::Accettazione);
    empty.destinatari.clear();
    let (ok, _) = xmllint_validate(&dir, "empty-destinatari.xml", &empty.to_xml());
    assert!(!ok, "a daticert without destinatari must not validate");

    std::fs::remove_dir_all(&dir).expect("clean temp dir");
}

// ---------------------------------------------------------------------------------------------
// 5. Hostile and broken input

#[test]
fn rejects_empty_and_non_xml() {
    assert!(matches!(read_err(""), DaticertError::NoRoot));
    assert!(matches!(read_err("   \n\t "), DaticertError::NoRoot));
    assert!(matches!(
        read_err("<?xml version=\"1.0\"?>"),
        DaticertError::NoRoot
    ));
    assert!(matches!(
        read_err("hello world"),
        DaticertError::NotWellFormed { .. }
    ));
    assert!(matches!(
        read_err("{\"tipo\": \"accettazione\"}"),
        DaticertError::NotWellFormed { .. }
    ));
    assert!(matches!(
        read_err([0xff, 0xfe, 0x00, 0x3c]),
        DaticertError::NotUtf8 { position: 0 }
    ));
    assert!(matches!(
        read_err("<<<>>>"),
        DaticertError::NotWellFormed { .. }
    ));
    // UTF-16 is not UTF-8.
    let utf16: Vec<u8> = "<postacert/>"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert!(Daticert::from_xml(&utf16).is_err());
}

#[test]
fn rejects_every_truncation() {
    let xml = sample(TipoDaticert::ErroreConsegna).to_xml();
    let end = xml.rfind("</postacert>").expect("root end") + "</postacert>".len();
    for cut in 0..end {
        assert!(
            Daticert::from_xml(&xml.as_bytes()[..cut]).is_err(),
            "prefix of {cut} bytes accepted"
        );
    }
    match read_err(&xml[..xml.find("</dati>").expect("dati end")]) {
        DaticertError::Truncated { element } => assert_eq!(element, "dati"),
        e => panic!("{e:?}"),
    }
    let inside_unknown = doc(
        "tipo=\"accettazione\"",
        INTESTAZIONE,
        &format!("{DATI}<x><y>"),
    );
    let inside_unknown = &inside_unknown[..inside_unknown.find("</dati>").expect("dati end")];
    assert_eq!(
        read_err(inside_unknown).to_string(),
        "daticert.xml ends inside <dati>: the document is truncated"
    );
    assert!(Daticert::from_xml(&xml.as_bytes()[..end]).is_ok());
}

#[test]
fn rejects_wrong_root() {
    let xml = sample(TipoDaticert::Accettazione)
        .to_xml()
        .replace("postacert", "certificazione");
    match read_err(xml) {
        DaticertError::WrongRoot { found } => assert_eq!(found, "certificazione"),
        e => panic!("{e:?}"),
    }
    let e = read_err("<html><body>hi</body></html>");
    assert_eq!(
        e.to_string(),
        "root element is <html>, expected <postacert>"
    );
}

#[test]
fn billion_laughs_is_not_expanded() {
    let mut xml =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE postacert [\n<!ENTITY lol \"lol\">\n");
    for i in 1..=9 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        xml.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    xml.push_str("]>\n");
    xml.push_str(
        &doc(
            "tipo=\"accettazione\"",
            &format!("{INTESTAZIONE}<oggetto>&lol9;</oggetto>"),
            DATI,
        )
        .replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", ""),
    );
    let start = std::time::Instant::now();
    match read_err(&xml) {
        DaticertError::UnknownEntity { name, element } => {
            assert_eq!(name, "lol9");
            assert_eq!(element, "oggetto");
        }
        e => panic!("{e:?}"),
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(1));

    // The same DOCTYPE with no reference in the data is harmless and ignored.
    let harmless = xml.replace("<oggetto>&lol9;</oggetto>", "<oggetto>ok</oggetto>");
    assert_eq!(read(&harmless).oggetto.as_deref(), Some("ok"));
}

#[test]
fn external_entities_are_never_resolved() {
    let xml = "<?xml version=\"1.0\"?>\n\
        <!DOCTYPE postacert [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> ]>\n"
        .to_owned()
        + &doc(
            "tipo=\"accettazione\"",
            &format!("{INTESTAZIONE}<oggetto>&xxe;</oggetto>"),
            DATI,
        )
        .replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", "");
    let result = Daticert::from_xml(xml.as_bytes());
    let shown = format!("{result:?}");
    assert!(!shown.contains("root:"), "{shown}");
    match result {
        Err(DaticertError::UnknownEntity { name, .. }) => assert_eq!(name, "xxe"),
        other => panic!("{other:?}"),
    }

    // In an attribute too.
    let xml = "<!DOCTYPE postacert [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> ]>\n".to_owned()
        + &doc("tipo=\"&xxe;\"", INTESTAZIONE, DATI);
    let result = Daticert::from_xml(xml.as_bytes());
    assert!(!format!("{result:?}").contains("root:"));
    assert!(matches!(
        result,
        Err(DaticertError::InvalidAttribute {
            attribute: "tipo",
            ..
        })
    ));

    // An external DTD (even a remote one) is neither fetched nor needed.
    let xml = "<!DOCTYPE postacert SYSTEM \"http://127.0.0.1:9/daticert.dtd\">\n".to_owned()
        + &doc("tipo=\"accettazione\"", INTESTAZIONE, DATI);
    assert_eq!(read(&xml).tipo, TipoDaticert::Accettazione);
}

#[test]
fn rejects_deep_nesting() {
    let depth = 100_000;
    let xml = format!(
        "<postacert tipo=\"accettazione\">{}{}</postacert>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    assert!(xml.len() < Daticert::MAX_INPUT);
    assert!(matches!(
        read_err(&xml),
        DaticertError::TooDeep { limit: 64, .. }
    ));
    // Unclosed, without a root.
    assert!(matches!(
        read_err("<a>".repeat(depth)),
        DaticertError::WrongRoot { .. }
    ));
    // Just within the limit is fine.
    let ok = doc(
        "tipo=\"accettazione\"",
        INTESTAZIONE,
        &format!("{DATI}{}{}", "<x>".repeat(62), "</x>".repeat(62)),
    );
    assert!(Daticert::from_xml(ok.as_bytes()).is_ok());
    let too_deep = doc(
        "tipo=\"accettazione\"",
        INTESTAZIONE,
        &format!("{DATI}{}{}", "<x>".repeat(63), "</x>".repeat(63)),
    );
    assert!(matches!(read_err(too_deep), DaticertError::TooDeep { .. }));
}

#[test]
fn rejects_oversized_input() {
    let mut xml = doc("tipo=\"accettazione\"", INTESTAZIONE, DATI).into_bytes();
    xml.extend(std::iter::repeat_n(
        b' ',
        Daticert::MAX_INPUT + 1 - xml.len(),
    ));
    match read_err(&xml) {
        DaticertError::TooLarge { size, limit } => {
            assert_eq!(size, Daticert::MAX_INPUT + 1);
            assert_eq!(limit, 1024 * 1024);
        }
        e => panic!("{e:?}"),
    }
    xml.pop();
    assert!(Daticert::from_xml(&xml).is_ok());
}

#[test]
fn rejects_bad_attribute_values() {
    for (attrs, attribute) in [
        ("tipo=\"mancata-consegna\"", "tipo"),
        ("tipo=\"Accettazione\"", "tipo"),
        ("tipo=\"\"", "tipo"),
        ("tipo=\"accettazione\" errore=\"grave\"", "errore"),
    ] {
        match read_err(doc(attrs, INTESTAZIONE, DATI)) {
            DaticertError::InvalidAttribute {
                element,
                attribute: a,
                ..
            } => {
                assert_eq!((element, a), ("postacert", attribute));
            }
            e => panic!("{attrs}: {e:?}"),
        }
    }
    let e = read_err(doc("tipo=\"mancata-consegna\"", INTESTAZIONE, DATI));
    assert_eq!(
        e.to_string(),
        "bad value \"mancata-consegna\" for attribute tipo of <postacert>"
    );
    assert!(matches!(
        read_err(doc("errore=\"nessuno\"", INTESTAZIONE, DATI)),
        DaticertError::MissingAttribute {
            element: "postacert",
            attribute: "tipo"
        }
    ));
    let bad_dest = INTESTAZIONE.replace("tipo=\"certificato\"", "tipo=\"pec\"");
    assert!(matches!(
        read_err(doc("tipo=\"accettazione\"", &bad_dest, DATI)),
        DaticertError::InvalidAttribute {
            element: "destinatari",
            ..
        }
    ));
    assert!(matches!(
        read_err(doc(
            "tipo=\"accettazione\"",
            INTESTAZIONE,
            &format!("{DATI}<ricevuta tipo=\"lunga\"/>")
        )),
        DaticertError::InvalidAttribute {
            element: "ricevuta",
            ..
        }
    ));
    assert!(matches!(
        read_err(doc(
            "tipo=\"accettazione\"",
            INTESTAZIONE,
            &format!("{DATI}<ricevuta/>")
        )),
        DaticertError::MissingAttribute {
            element: "ricevuta",
            attribute: "tipo"
        }
    ));
    // Duplicate attributes are not well-formed.
    assert!(matches!(
        read_err(doc(
            "tipo=\"accettazione\" tipo=\"accettazione\"",
            INTESTAZIONE,
            DATI
        )),
        DaticertError::NotWellFormed { .. }
    ));
}

#[test]
fn rejects_bad_data() {
    let with_data = |zona: &str, giorno: &str, ora: &str| {
        doc(
            "tipo=\"accettazione\"",
            INTESTAZIONE,
            &format!(
                "<gestore-emittente>G</gestore-emittente>\
                 <data zona=\"{zona}\"><giorno>{giorno}</giorno><ora>{ora}</ora></data>\
                 <identificativo>id</identificativo>"
            ),
        )
    };
    for zona in [
        "",
        "CET",
        "+1",
        "0100",
        "+01",
        "+01:0",
        "+0160",
        "+9900",
        "++0100",
        "+01000",
        "+01-00",
        "+０１００",
        "Z",
    ] {
        match read_err(with_data(zona, "05/12/2024", "00:02:10")) {
            DaticertError::InvalidZona { value } => assert_eq!(value, zona.trim()),
            e => panic!("zona {zona:?}: {e:?}"),
        }
    }
    let e = read_err(with_data("CET", "05/12/2024", "00:02:10"));
    assert_eq!(
        e.to_string(),
        "bad zona \"CET\" on <data>: expected an offset [+|-]hhmm"
    );
    for giorno in [
        "",
        "2024-12-05",
        "31/02/2024",
        "05/13/2024",
        "5/12/24",
        "05/12/2024/1",
        "0/12/2024",
        "05/12/+024",
        "１/12/2024",
    ] {
        assert!(
            matches!(
                read_err(with_data("+0100", giorno, "00:02:10")),
                DaticertError::InvalidGiorno { .. }
            ),
            "giorno {giorno:?}"
        );
    }
    for ora in [
        "",
        "24:00:00",
        "12:60:00",
        "12:00:60",
        "12:00",
        "12:00:00:00",
        "123:0:0",
        "-1:00:00",
        "12.00.00",
    ] {
        assert!(
            matches!(
                read_err(with_data("+0100", "05/12/2024", ora)),
                DaticertError::InvalidOra { .. }
            ),
            "ora {ora:?}"
        );
    }
    // Extremes: each field valid, the instant in range or not.
    assert!(Daticert::from_xml(with_data("-2559", "01/01/0000", "00:00:00").as_bytes()).is_ok());
    assert!(Daticert::from_xml(with_data("+2559", "31/12/9999", "23:59:00").as_bytes()).is_ok());
    match read_err(with_data("-2559", "31/12/9999", "23:59:59")) {
        DaticertError::InvalidData {
            giorno, ora, zona, ..
        } => {
            assert_eq!(
                (giorno.as_str(), ora.as_str(), zona.as_str()),
                ("31/12/9999", "23:59:59", "-2559")
            );
        }
        e => panic!("{e:?}"),
    }
    assert!(Daticert::from_xml(with_data("+0100", "29/02/2024", "23:59:59").as_bytes()).is_ok());
}

#[test]
fn rejects_missing_and_duplicate_elements() {
    for (element, intestazione, dati) in [
        (
            "mittente",
            INTESTAZIONE.replace("<mittente>a@pec.example</mittente>", ""),
            DATI.to_owned(),
        ),
        (
            "gestore-emittente",
            INTESTAZIONE.to_owned(),
            DATI.replace("<gestore-emittente>G</gestore-emittente>", ""),
        ),
        (
            "identificativo",
            INTESTAZIONE.to_owned(),
            DATI.replace("<identificativo>id@g.example</identificativo>", ""),
        ),
        (
            "giorno",
            INTESTAZIONE.to_owned(),
            DATI.replace("<giorno>05/12/2024</giorno>", ""),
        ),
        (
            "ora",
            INTESTAZIONE.to_owned(),
            DATI.replace("<ora>00:02:10</ora>", ""),
        ),
        (
            "data",
            INTESTAZIONE.to_owned(),
            DATI.replace(
                "<data zona=\"+0100\"><giorno>05/12/2024</giorno><ora>00:02:10</ora></data>",
                "",
            ),
        ),
        // giorno and ora outside data do not count.
        (
            "data",
            INTESTAZIONE.to_owned(),
            DATI.replace(
                "<data zona=\"+0100\"><giorno>05/12/2024</giorno><ora>00:02:10</ora></data>",
                "<giorno>05/12/2024</giorno><ora>00:02:10</ora>",
            ),
        ),
    ] {
        match read_err(doc("tipo=\"accettazione\"", &intestazione, &dati)) {
            DaticertError::MissingElement { element: e } => assert_eq!(e, element),
            e => panic!("{element}: {e:?}"),
        }
    }
    assert_eq!(
        read_err(doc(
            "tipo=\"accettazione\"",
            INTESTAZIONE,
            &DATI.replace("<identificativo>id@g.example</identificativo>", "")
        ))
        .to_string(),
        "missing <identificativo>"
    );
    assert!(matches!(
        read_err(doc(
            "tipo=\"accettazione\"",
            INTESTAZIONE,
            "<gestore-emittente>G</gestore-emittente>"
        )),
        DaticertError::MissingElement { element: "data" }
    ));
    assert!(matches!(
        read_err(doc(
            "tipo=\"accettazione\"",
            INTESTAZIONE,
            &DATI.replace(" zona=\"+0100\"", "")
        )),
        DaticertError::MissingAttribute {
            element: "data",
            attribute: "zona"
        }
    ));
    assert!(matches!(
        read_err("<postacert tipo=\"accettazione\"/>"),
        DaticertError::MissingElement {
            element: "mittente"
        }
    ));

    for (element, intestazione, dati) in [
        (
            "identificativo",
            INTESTAZIONE.to_owned(),
            format!("{DATI}<identificativo>altro@g.example</identificativo>"),
        ),
        (
            "mittente",
            format!("{INTESTAZIONE}<mittente>x@y</mittente>"),
            DATI.to_owned(),
        ),
        (
            "data",
            INTESTAZIONE.to_owned(),
            format!("{DATI}<data zona=\"+0100\"/>"),
        ),
        (
            "ricevuta",
            INTESTAZIONE.to_owned(),
            format!("{DATI}<ricevuta tipo=\"breve\"/><ricevuta tipo=\"breve\"/>"),
        ),
        (
            "consegna",
            INTESTAZIONE.to_owned(),
            format!("{DATI}<consegna>a</consegna><consegna>b</consegna>"),
        ),
    ] {
        match read_err(doc("tipo=\"accettazione\"", &intestazione, &dati)) {
            DaticertError::DuplicateElement { element: e } => assert_eq!(e, element),
            e => panic!("{element}: {e:?}"),
        }
    }
    let two_dati =
        doc("tipo=\"accettazione\"", INTESTAZIONE, DATI).replace("</dati>", "</dati><dati></dati>");
    assert!(matches!(
        read_err(two_dati),
        DaticertError::DuplicateElement { element: "dati" }
    ));
}

#[test]
fn rejects_malformed_markup_and_references() {
    let valid = doc("tipo=\"accettazione\"", INTESTAZIONE, DATI);
    for broken in [
        valid.replace("</mittente>", "</mitente>"),
        valid.replace("</intestazione>", ""),
        valid.replace("<risposte>", "<risposte"),
        valid.replace("tipo=\"accettazione\"", "tipo=accettazione"),
        valid.replace("a@pec.example</mittente>", "a & b</mittente>"),
        valid.replace("</destinatari>", "<\n/destinatari>"),
        format!("{valid}<postacert tipo=\"accettazione\"/>"),
        format!("{valid} trailing text"),
        format!("text before {valid}"),
    ] {
        assert!(
            Daticert::from_xml(broken.as_bytes()).is_err(),
            "accepted:\n{broken}"
        );
    }
    let bad_ref = doc(
        "tipo=\"accettazione\"",
        &format!("{INTESTAZIONE}<oggetto>&#xZZ;</oggetto>"),
        DATI,
    );
    assert!(matches!(
        read_err(bad_ref),
        DaticertError::InvalidCharRef {
            element: "oggetto",
            ..
        }
    ));
    let unknown = doc(
        "tipo=\"accettazione\"",
        &format!("{INTESTAZIONE}<oggetto>Caff&eacute;</oggetto>"),
        DATI,
    );
    assert_eq!(
        read_err(unknown).to_string(),
        "unknown entity &eacute; in <oggetto> (only &lt; &gt; &amp; &apos; &quot; and character \
         references are expanded; entities declared in a DTD never are)"
    );
}

#[test]
fn error_positions_point_into_the_input() {
    let xml =
        "<postacert tipo=\"accettazione\">\n<intestazione><mittente>a</mittente></intestazion>";
    match read_err(xml) {
        DaticertError::NotWellFormed { position, .. } => {
            assert!(
                position > 30 && (position as usize) <= xml.len(),
                "{position}"
            )
        }
        e => panic!("{e:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Properties

/// Text with everything that can go wrong in XML.
fn hostile_text(max: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => any::<char>().prop_map(String::from),
        2 => "[a-zA-Z0-9 .@-]{1,8}",
        1 => prop::sample::select(vec![
            "<", ">", "&", "\"", "'", "]]>", "<![CDATA[", "&amp;", "&#1;", "&lt;", "-->", "<!--",
            "\r\n", "\r", "\n", "\t", " ", "\u{a0}", "\u{0}", "\u{1}", "\u{b}", "\u{1f}",
            "\u{7f}", "\u{85}", "\u{2028}", "\u{fffe}", "\u{ffff}", "\u{feff}", "漢字", "😀",
            "é", "ß", "\u{10ffff}",
        ])
        .prop_map(str::to_owned),
        1 => prop::char::range('\u{0}', '\u{1f}').prop_map(String::from),
        1 => prop::char::range('\u{4e00}', '\u{9fff}').prop_map(String::from),
        1 => prop::char::range('\u{1f300}', '\u{1faff}').prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..max).prop_map(|pieces| pieces.concat())
}

/// Not an XML 1.0 `Char`.
fn is_forbidden(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}'
    )
}

/// What the reader gives back for text the writer wrote: forbidden characters replaced,
/// surrounding XML whitespace trimmed.
fn expected_text(s: &str) -> String {
    let sanitized: String = s
        .chars()
        .map(|c| if is_forbidden(c) { '\u{fffd}' } else { c })
        .collect();
    sanitized
        .trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
        .to_owned()
}

fn arb_zoned() -> impl Strategy<Value = Zoned> {
    (
        2000i16..=2100,
        1i8..=12,
        1i8..=31,
        0i8..=23,
        0i8..=59,
        0i8..=59,
        -720i32..=840,
    )
        .prop_map(|(year, month, day, hour, minute, second, offset)| {
            let first = Date::new(year, month, 1).expect("valid month");
            let day = day.min(first.days_in_month());
            zoned((year, month, day), (hour, minute, second), offset)
        })
}

fn arb_daticert() -> impl Strategy<Value = Daticert> {
    let tipi = prop::sample::select(TipoDaticert::ALL.to_vec());
    let errori = prop::sample::select(Errore::ALL.to_vec());
    let ricevute = prop::option::of(prop::sample::select(TipoRicevuta::ALL.to_vec()));
    let destinatari = prop::collection::vec(
        (
            hostile_text(12),
            prop::sample::select(TipoDestinatario::ALL.to_vec()),
        )
            .prop_map(|(indirizzo, tipo)| Destinatario { indirizzo, tipo }),
        0..5,
    );
    let oggetto = prop::option::of(prop_oneof![
        4 => hostile_text(40),
        1 => hostile_text(10_000),
    ]);
    (
        (
            tipi,
            errori,
            hostile_text(12),
            destinatari,
            hostile_text(12),
            oggetto,
        ),
        (
            hostile_text(12),
            arb_zoned(),
            hostile_text(12),
            prop::option::of(hostile_text(12)),
            ricevute,
            prop::option::of(hostile_text(12)),
            prop::collection::vec(hostile_text(8), 0..4),
            prop::option::of(hostile_text(20)),
        ),
    )
        .prop_map(
            |(
                (tipo, errore, mittente, destinatari, risposte, oggetto),
                (
                    gestore_emittente,
                    data,
                    identificativo,
                    msgid,
                    ricevuta,
                    consegna,
                    ricezione,
                    errore_esteso,
                ),
            )| Daticert {
                tipo,
                errore,
                mittente,
                destinatari,
                risposte,
                oggetto,
                gestore_emittente,
                data,
                identificativo,
                msgid,
                ricevuta,
                consegna,
                ricezione,
                errore_esteso,
            },
        )
}

/// `d` as the reader returns it after the writer wrote it.
fn expected(d: &Daticert) -> Daticert {
    let text = |s: &String| expected_text(s);
    Daticert {
        mittente: text(&d.mittente),
        destinatari: d
            .destinatari
            .iter()
            .map(|x| Destinatario {
                indirizzo: text(&x.indirizzo),
                tipo: x.tipo,
            })
            .collect(),
        risposte: text(&d.risposte),
        oggetto: d.oggetto.as_ref().map(text),
        gestore_emittente: text(&d.gestore_emittente),
        identificativo: text(&d.identificativo),
        msgid: d.msgid.as_ref().map(text),
        consegna: d.consegna.as_ref().map(text),
        ricezione: d.ricezione.iter().map(text).collect(),
        errore_esteso: d.errore_esteso.as_ref().map(text),
        ..d.clone()
    }
}

/// Pieces XML is made of, to build near-XML garbage.
fn xmlish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        prop::sample::select(vec![
            "<",
            ">",
            "</",
            "/>",
            "=",
            "\"",
            "'",
            "&",
            ";",
            "&#",
            "&#x",
            "<!--",
            "-->",
            "<?",
            "?>",
            "<![CDATA[",
            "]]>",
            "<!DOCTYPE",
            "<!ENTITY",
            "[",
            "]",
            " ",
            "\n",
            "\r\n",
            "postacert",
            "intestazione",
            "dati",
            "mittente",
            "destinatari",
            "risposte",
            "oggetto",
            "gestore-emittente",
            "data",
            "giorno",
            "ora",
            "zona",
            "tipo",
            "errore",
            "identificativo",
            "msgid",
            "ricevuta",
            "consegna",
            "ricezione",
            "errore-esteso",
            "accettazione",
            "nessuno",
            "+0100",
            "05/12/2024",
            "00:02:10",
            "lt",
            "amp",
            "\u{feff}",
            "é",
            "\u{0}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    prop::collection::vec(token, 0..200).prop_map(|tokens| tokens.concat())
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Insert(usize, u8),
    Replace(usize, u8),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![
        prop::sample::select(b"<>/&;=\"' \n#x!?[]-".to_vec()),
        any::<u8>(),
    ];
    prop_oneof![
        any::<prop::sample::Index>().prop_map(|i| Mutation::Delete(i.index(usize::MAX))),
        (any::<prop::sample::Index>(), byte.clone())
            .prop_map(|(i, b)| Mutation::Insert(i.index(usize::MAX), b)),
        (any::<prop::sample::Index>(), byte)
            .prop_map(|(i, b)| Mutation::Replace(i.index(usize::MAX), b)),
        (any::<prop::sample::Index>(), 1usize..64)
            .prop_map(|(i, len)| Mutation::Duplicate(i.index(usize::MAX), len)),
        any::<prop::sample::Index>().prop_map(|i| Mutation::Truncate(i.index(usize::MAX))),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len();
    if len == 0 {
        return;
    }
    match *mutation {
        Mutation::Delete(i) => {
            bytes.remove(i % len);
        }
        Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
        Mutation::Replace(i, b) => bytes[i % len] = b,
        Mutation::Duplicate(i, n) => {
            let start = i % len;
            let end = (start + n).min(len);
            let copy = bytes[start..end].to_vec();
            bytes.splice(end..end, copy);
        }
        Mutation::Truncate(i) => bytes.truncate(i % len),
    }
}

proptest! {
    #[test]
    fn prop_round_trip(d in arb_daticert()) {
        let xml = d.to_xml();
        let back = Daticert::from_xml(xml.as_bytes());
        prop_assert!(back.is_ok(), "{:?}\n{}", back, xml);
        let back = back.unwrap();
        let want = expected(&d);
        prop_assert_eq!(&back, &want);
        prop_assert_eq!(back.data.offset(), d.data.offset());
        prop_assert_eq!(back.data.datetime(), d.data.datetime());
        // What the reader returns is a fixed point.
        prop_assert_eq!(back.to_xml(), want.to_xml());
    }

    #[test]
    fn prop_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Daticert::from_xml(&bytes);
    }

    #[test]
    fn prop_never_panics_on_xmlish_bytes(bytes in xmlish_bytes()) {
        let _ = Daticert::from_xml(&bytes);
        let mut with_root = b"<postacert tipo=\"accettazione\">".to_vec();
        with_root.extend_from_slice(&bytes);
        let _ = Daticert::from_xml(&with_root);
    }

    #[test]
    fn prop_never_panics_on_mutated_documents(
        which in prop::sample::select(TipoDaticert::ALL.to_vec()),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let mut bytes = sample(which).to_xml().into_bytes();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        if let Ok(d) = Daticert::from_xml(&bytes) {
            // Whatever the reader accepts, it can write and read back unchanged.
            let again = Daticert::from_xml(d.to_xml().as_bytes());
            prop_assert!(again.is_ok());
            let again = again.unwrap();
            prop_assert_eq!(&again, &d);
            prop_assert_eq!(again.data.offset(), d.data.offset());
        }
    }
}
