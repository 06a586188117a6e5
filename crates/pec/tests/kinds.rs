//! Every kind pecora builds reads back, through the classifier, as the same model: kind,
//! daticert fields, carried original, PEC headers.

use jiff::Zoned;
use pec::build::{self, Draft};
use pec::checks::{self, Envelope, Limiti};
use pec::identificativo::{Identificativi, rewrite_original};
use pec::{
    Destinatario, Errore, Gestore, HashAlg, Kind, MancataConsegna, Scadenza, TipoDestinatario,
    TipoRicevuta, Transazione, classify,
};

const ORIGINALE: &[u8] = b"From: Mario Rossi <mario.rossi@pec.uno.example>\r\n\
To: ufficio@pec.due.example, \"Anna\" <anna@mail.example.com>\r\n\
Cc: protocollo@pec.due.example\r\n\
Subject: =?UTF-8?Q?Contratto_n=C2=B0_12_=E2=80=94_citt=C3=A0?=\r\n\
Message-ID: <client-1@client.example>\r\n\
Date: Tue, 10 Jun 2025 09:00:00 +0200\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
In allegato il contratto.\r\n\
--b1\r\n\
Content-Type: application/pdf; name=\"contratto.pdf\"\r\n\
Content-Disposition: attachment; filename=\"contratto.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQKJcfsj6IK\r\n\
--b1--\r\n";

fn at() -> Zoned {
    "2025-06-10T09:00:01+02:00[Europe/Rome]".parse().unwrap()
}

fn gestore() -> Gestore {
    Gestore {
        nome: "Uno PEC S.p.A.".into(),
        dominio: "pec.uno.example".into(),
    }
}

/// The access point's path: checks, identificativo, rewrite.
fn transazione() -> (Transazione, Vec<u8>) {
    let env = Envelope {
        mail_from: "mario.rossi@pec.uno.example".into(),
        rcpt_to: vec![
            "ufficio@pec.due.example".into(),
            "anna@mail.example.com".into(),
            "protocollo@pec.due.example".into(),
        ],
    };
    let a = checks::verifica(ORIGINALE, &env, &Limiti::default()).unwrap();
    let identificativo = Identificativi::new("pec.uno.example", 7).next(&at());
    let (originale, msgid) = rewrite_original(ORIGINALE, &identificativo);
    let t = Transazione {
        identificativo,
        msgid,
        mittente: a.mittente,
        destinatari: a
            .destinatari
            .iter()
            .map(|r| Destinatario {
                indirizzo: r.indirizzo.clone(),
                tipo: if r.indirizzo.ends_with("@mail.example.com") {
                    TipoDestinatario::Esterno
                } else {
                    TipoDestinatario::Certificato
                },
            })
            .collect(),
        risposte: a.risposte,
        oggetto: a.oggetto,
        ricevuta: a.ricevuta,
    };
    (t, originale)
}

fn every_kind() -> Vec<(Kind, Draft)> {
    let (t, originale) = transazione();
    let g = gestore();
    let due = Gestore {
        nome: "Due PEC S.p.A.".into(),
        dominio: "pec.due.example".into(),
    };
    let at = at();
    let to = "ufficio@pec.due.example";
    let busta = build::busta_di_trasporto(&t, &g, &at, &originale);
    let mut out = vec![
        (Kind::Accettazione, build::accettazione(&t, &g, &at)),
        (
            Kind::NonAccettazione,
            build::non_accettazione(&t, &g, &at, "il campo Bcc non deve contenere indirizzi"),
        ),
        (
            Kind::NonAccettazioneVirus,
            build::non_accettazione_virus(&t, &g, &at, "Eicar-Signature"),
        ),
        (Kind::PostaCertificata, busta.clone()),
        (
            Kind::PresaInCarico,
            build::presa_in_carico(
                &t,
                &due,
                &at,
                "ricevute@pec.uno.example",
                &[to.into(), "protocollo@pec.due.example".into()],
            ),
        ),
        (
            Kind::RilevazioneVirus,
            build::rilevazione_virus(
                &t,
                &due,
                &at,
                "ricevute@pec.uno.example",
                to,
                "Eicar-Signature",
            ),
        ),
    ];
    let anomalia_t = pec::classify::transazione_da_messaggio(ORIGINALE);
    out.push((
        Kind::Anomalia,
        build::busta_di_anomalia(
            &anomalia_t,
            &due,
            &at,
            ORIGINALE,
            "messaggio non firmato da un gestore",
        ),
    ));
    for tipo in [
        TipoRicevuta::Completa,
        TipoRicevuta::Breve,
        TipoRicevuta::Sintetica,
    ] {
        out.push((
            Kind::AvvenutaConsegna(tipo),
            build::avvenuta_consegna(&t, &due, &at, to, tipo, &originale, HashAlg::Sha1).unwrap(),
        ));
    }
    for causa in [
        MancataConsegna::CasellaInesistente,
        MancataConsegna::Virus("Eicar-Signature".into()),
        MancataConsegna::TempoMassimo(Scadenza::Ore12),
        MancataConsegna::TempoMassimo(Scadenza::Ore24),
    ] {
        out.push((
            causa.kind(),
            build::mancata_consegna(&t, &due, &at, to, &causa),
        ));
    }
    out
}

#[test]
fn every_kind_classifies_back() {
    let (t, originale) = transazione();
    let drafts = every_kind();
    assert_eq!(drafts.len(), Kind::ALL.len());
    for (kind, draft) in drafts {
        assert_eq!(draft.kind(), kind);
        let raw = draft.unsigned();
        let c = classify(&raw).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(c.kind, Some(kind), "{kind:?}");
        let subject = c.headers.subject.clone().unwrap();
        assert!(subject.starts_with(kind.subject_prefix()), "{subject}");
        assert!(subject.ends_with("Contratto n° 12 — città"), "{subject}");
        assert_eq!(
            c.headers.x_riferimento_message_id.is_some(),
            kind != Kind::Anomalia
        );
        match kind {
            Kind::Anomalia => {
                assert!(c.daticert.is_none());
                assert_eq!(
                    c.originale.as_deref(),
                    Some(pec::mime::to_crlf(ORIGINALE).as_slice())
                );
                assert_eq!(
                    c.headers.message_id.as_deref(),
                    Some("<client-1@client.example>")
                );
            }
            _ => {
                let d = c.daticert.as_ref().unwrap();
                assert_eq!(Some(d.tipo), kind.tipo_daticert());
                // A consegna's `ricevuta` names the variant delivered, not the one requested.
                let mut expected = t.clone();
                if let Kind::AvvenutaConsegna(variant) = kind {
                    expected.ricevuta = variant;
                }
                assert_eq!(pec::Transazione::from_daticert(d), expected, "{kind:?}");
                assert_eq!(d.data, at());
            }
        }
        match kind {
            Kind::PostaCertificata | Kind::AvvenutaConsegna(TipoRicevuta::Completa) => {
                assert_eq!(
                    c.originale.as_deref(),
                    Some(originale.as_slice()),
                    "{kind:?}"
                );
            }
            Kind::AvvenutaConsegna(TipoRicevuta::Breve) => {
                let o = String::from_utf8(c.originale.clone().unwrap()).unwrap();
                assert!(o.contains("contratto.pdf.hash"), "{o}");
                assert!(!o.contains("JVBERi0xLjQKJcfsj6IK"));
            }
            Kind::Anomalia => {}
            _ => assert!(
                c.originale.is_none(),
                "{kind:?} must not carry the original"
            ),
        }
    }
}

#[test]
fn headers_follow_the_spec() {
    for (kind, draft) in every_kind() {
        let h = String::from_utf8(draft.headers().to_vec()).unwrap();
        let pec = kind.header();
        assert!(
            h.contains(&format!("\r\n{}: {}\r\n", pec.name(), pec.value())),
            "{kind:?}\n{h}"
        );
        assert!(h.ends_with("MIME-Version: 1.0\r\n"));
        assert!(!h.contains("\nContent-Type"));
        assert_eq!(
            h.contains("X-VerificaSicurezza: errore"),
            kind.verifica_sicurezza(),
            "{kind:?}"
        );
        assert_eq!(
            h.contains("X-Mittente: mario.rossi@pec.uno.example"),
            kind == Kind::RilevazioneVirus
        );
        match kind {
            Kind::PostaCertificata | Kind::Anomalia => {
                assert!(
                    h.contains("From: \"Per conto di: mario.rossi@pec.uno.example\""),
                    "{h}"
                );
                assert!(
                    h.contains("To: ufficio@pec.due.example, \"Anna\" <anna@mail.example.com>\r\n")
                );
                assert!(h.contains("Cc: protocollo@pec.due.example\r\n"));
                assert!(h.contains("Reply-To: mario.rossi@pec.uno.example\r\n"));
                assert_eq!(
                    h.contains("X-TipoRicevuta: completa"),
                    kind == Kind::PostaCertificata
                );
            }
            Kind::PresaInCarico | Kind::RilevazioneVirus => {
                assert!(h.contains("To: ricevute@pec.uno.example\r\n"), "{h}");
            }
            _ => {
                assert!(h.contains("To: mario.rossi@pec.uno.example\r\n"), "{h}");
                assert!(h.contains("From: posta-certificata@pec."), "{h}");
            }
        }
    }
}

#[test]
fn mime_tree_is_7bit_text_plus_html_in_latin1() {
    for (kind, draft) in every_kind() {
        let e = draft.entity();
        assert!(e.is_ascii(), "{kind:?} entity must be 7-bit safe");
        let s = String::from_utf8_lossy(e);
        assert!(s.starts_with("Content-Type: multipart/mixed"), "{kind:?}");
        assert_eq!(
            s.matches("charset=\"iso-8859-1\"").count() + s.matches("charset=iso-8859-1").count(),
            2,
            "{s}"
        );
        assert_eq!(
            s.matches("Content-Transfer-Encoding: quoted-printable")
                .count(),
            2
        );
        assert_eq!(s.contains("name=\"daticert.xml\""), kind != Kind::Anomalia);
        assert!(!s.contains("<img") && !s.contains("<script") && !s.contains("src="));
        assert!(
            !e.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
            "{kind:?}: bare LF"
        );
    }
}

#[test]
fn errors_in_daticert() {
    let (t, _) = transazione();
    let g = gestore();
    let d = build::mancata_consegna(
        &t,
        &g,
        &at(),
        "x@pec.due.example",
        &MancataConsegna::CasellaPiena,
    );
    let c = classify(&d.unsigned()).unwrap();
    let dc = c.daticert.unwrap();
    assert_eq!(dc.errore, Errore::Altro);
    assert_eq!(dc.consegna.as_deref(), Some("x@pec.due.example"));
    assert_eq!(
        dc.errore_esteso.as_deref(),
        Some("5.2.2 - Uno PEC S.p.A. - casella piena")
    );
}

#[test]
fn receipts_are_deterministic() {
    let a = every_kind();
    let b = every_kind();
    for ((_, x), (_, y)) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
}

#[test]
fn a_presa_in_carico_is_named_after_the_recipients_it_covers() {
    let (t, _) = transazione();
    let presa = |ricezione: &[&str]| {
        let ricezione: Vec<String> = ricezione.iter().map(|r| r.to_string()).collect();
        build::presa_in_carico(
            &t,
            &gestore(),
            &at(),
            "ricevute@pec.uno.example",
            &ricezione,
        )
        .message_id()
        .to_string()
    };
    let (ufficio, protocollo) = ("ufficio@pec.due.example", "protocollo@pec.due.example");
    assert_eq!(presa(&[ufficio]), presa(&[ufficio]));
    assert_ne!(presa(&[ufficio]), presa(&[protocollo]));
    assert_ne!(presa(&[ufficio]), presa(&[ufficio, protocollo]));
}

#[test]
fn holder_receipts_rebuild_from_their_daticert() {
    let g = gestore();
    let mut rebuilt = 0;
    for (kind, draft) in every_kind() {
        let c = classify(&draft.unsigned()).unwrap();
        let Some(d) = c.daticert else { continue };
        let Some(again) = build::ricevuta_da_daticert(&d, &g) else {
            assert!(
                matches!(
                    kind,
                    Kind::PostaCertificata | Kind::PresaInCarico | Kind::RilevazioneVirus
                ),
                "{kind:?}"
            );
            continue;
        };
        let back = classify(&again.unsigned()).unwrap();
        assert_eq!(
            back.daticert.as_ref(),
            Some(&d),
            "{kind:?}: daticert reproduced field for field"
        );
        assert_eq!(back.kind, Some(kind), "{kind:?}");
        assert!(back.originale.is_none());
        rebuilt += 1;
    }
    assert_eq!(rebuilt, 10);
}

/// The names of the parts of a message's signed `multipart/mixed`, in order.
fn part_names(raw: &[u8]) -> Vec<String> {
    use mail_parser::{MessageParser, MimeHeaders};
    let msg = MessageParser::default().parse(raw).unwrap();
    msg.parts
        .iter()
        .filter_map(|p| p.attachment_name().map(str::to_string))
        .collect()
}

#[test]
fn daticert_comes_before_postacert_as_the_major_providers_send_it() {
    for (kind, draft) in every_kind() {
        let names = part_names(&draft.unsigned());
        let daticert = names.iter().position(|n| n == "daticert.xml");
        let postacert = names.iter().position(|n| n == "postacert.eml");
        if let (Some(d), Some(p)) = (daticert, postacert) {
            assert!(d < p, "{kind:?}: {names:?}");
        }
    }
}

#[test]
fn a_busta_rewritten_outside_its_signature_is_told_apart() {
    let (t, originale) = transazione();
    let raw = build::busta_di_trasporto(&t, &gestore(), &at(), &originale).unsigned();
    let c = classify(&raw).unwrap();
    assert_eq!(c.discordanze, Vec::<String>::new());
    let (from, subject) = c.intestazione_firmata().unwrap();
    assert_eq!(from, "mario.rossi@pec.uno.example");
    assert_eq!(subject, "POSTA CERTIFICATA: Contratto n° 12 — città");

    let text = String::from_utf8(raw.clone()).unwrap();
    let edits = [
        (
            "Subject: ",
            "Subject: POSTA CERTIFICATA: Diffida\r\nX-Old: ",
        ),
        ("X-TipoRicevuta: completa", "X-TipoRicevuta: breve"),
        (
            "Per conto di: mario.rossi@pec.uno.example",
            "Per conto di: ceo@banca.example",
        ),
    ];
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        let edited = text.replacen(from, to, 1);
        let c = classify(edited.as_bytes()).unwrap();
        assert_eq!(c.discordanze.len(), 1, "{to}: {:?}", c.discordanze);
        // The list shows the signed values whatever the outer fields say.
        assert_eq!(c.intestazione_firmata().unwrap().1, subject);
    }
}

#[test]
fn an_original_with_an_unclosed_multipart_is_read_back_whole_and_no_more() {
    let (t, _) = transazione();
    let unclosed = b"From: mario.rossi@pec.uno.example\r\nTo: ufficio@pec.due.example\r\n\
Subject: aperto\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain\r\n\r\nciao\r\n--b1\r\nContent-Type: text/plain\r\n\r\nfine\r\n";
    for raw in [
        build::busta_di_trasporto(&t, &gestore(), &at(), unclosed).unsigned(),
        build::busta_di_trasporto(&t, &gestore(), &at(), ORIGINALE).unsigned(),
    ] {
        let c = classify(&raw).unwrap();
        let o = c.originale.unwrap();
        assert!(
            o == unclosed || o == ORIGINALE,
            "{}",
            String::from_utf8_lossy(&o)
        );
    }
}
