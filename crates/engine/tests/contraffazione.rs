//! Forged and replayed PEC evidence at the punto di ricezione (issue 12, findings 1 and 2).
//! A genuine signature proves what a gestore certified, not to whom a transaction brings it:
//! a busta or a ricevuta copied out of a mailbox and sent to other addresses, a receipt
//! signed by a gestore about a domain it does not manage, and a busta whose unsigned header
//! fields were rewritten must never yield PEC evidence.

#[path = "support/gestori.rs"]
mod gestori;

use std::io::Read;

use engine::access::Submitted;
use engine::reception::Received;
use gestori::{Gestore, kinds, message, network, relay_all};
use pec::checks::Envelope;
use store::{OrdinaryMail, TrackerEvent};

const MARIO: &str = "mario@pec.uno.test";
const ANNA: &str = "anna@pec.due.test";

fn env(from: &str, to: &[&str]) -> Envelope {
    Envelope {
        mail_from: from.into(),
        rcpt_to: to.iter().map(|s| s.to_string()).collect(),
    }
}

/// Mario (Uno) sends to Anna (Due) and everything is relayed: the identificativo.
async fn sent_and_delivered(g: &[Gestore]) -> String {
    let Submitted::Accettato { identificativo } = g[0]
        .engine
        .submit(&env(MARIO, &[ANNA]), &message(MARIO, ANNA))
        .await
        .unwrap()
    else {
        panic!("not accepted");
    };
    relay_all(g).await;
    identificativo
}

/// The bytes of the first message of `kind` in a box's INBOX.
async fn first(g: &Gestore, mailbox: &str, kind: &str) -> Vec<u8> {
    let (m, _) = gestori::received(&g.engine, mailbox, kind).await;
    g.engine.store().get(&m.blob).await.unwrap()
}

/// `draft` sealed with gestore `g`'s own key.
fn signed_by(g: &Gestore, draft: &pec::Draft) -> Vec<u8> {
    let signer = smime::Signer::from_pem(&g.cert_pem, &g.key_pem, &g.ca_pem).unwrap();
    signer.seal(draft.headers(), draft.entity()).unwrap()
}

/// The consegne (any outcome) the tracker holds for the message, by recipient.
async fn consegne(g: &Gestore, identificativo: &str) -> Vec<String> {
    g.engine
        .store()
        .tracked(identificativo)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.at(TrackerEvent::Consegna).is_some())
        .map(|t| t.recipient)
        .collect()
}

#[tokio::test]
async fn a_busta_replayed_to_a_box_it_does_not_name_is_not_pec_there() {
    let (g, _clock) = network().await;
    let (uno, due) = (&g[0].engine, &g[1].engine);
    let id = sent_and_delivered(&g).await;
    let busta = first(&g[1], ANNA, "posta-certificata").await;
    let mario_before = kinds(uno, MARIO).await;

    // Mario@due refuses ordinary mail: the replay is refused, nothing is certified.
    let victim = "mario@pec.due.test";
    let r = due.receive(&env(MARIO, &[victim]), &busta).await.unwrap();
    assert!(matches!(r, Received::Refused(_)), "{r:?}");
    assert!(kinds(due, victim).await.is_empty());

    // With anomalia for ordinary mail it arrives as a busta di anomalia, never as PEC.
    due.store()
        .set_ordinary_mail(victim, OrdinaryMail::Anomalia)
        .await
        .unwrap();
    let r = due.receive(&env(MARIO, &[victim]), &busta).await.unwrap();
    assert!(matches!(r, Received::Accepted(_)), "{r:?}");
    assert_eq!(kinds(due, victim).await, ["anomalia"]);

    // Named and unnamed recipients in one transaction: Anna's (a retry) changes nothing.
    let r = due
        .receive(&env(MARIO, &[ANNA, "anna@pec.uno.test"]), &busta)
        .await
        .unwrap();
    assert!(matches!(r, Received::Accepted(_)), "{r:?}");
    assert_eq!(kinds(due, ANNA).await, ["posta-certificata"]);

    // The same busta replayed to a box of the sender's own gestore.
    let r = uno
        .receive(&env(MARIO, &["anna@pec.uno.test"]), &busta)
        .await;
    assert!(matches!(r, Ok(Received::Refused(_))), "{r:?}");

    // No receipt for anyone but Anna ever reaches the sender.
    relay_all(&g).await;
    assert_eq!(kinds(uno, MARIO).await, mario_before);
    assert_eq!(consegne(&g[0], &id).await, [ANNA]);
    let log = due.store().events(&id).await.unwrap();
    let consegne_firmate = log
        .iter()
        .filter(|e| e.event.kind.contains("consegna"))
        .count();
    assert_eq!(consegne_firmate, 1, "{log:?}");
}

#[tokio::test]
async fn a_receipt_replayed_to_someone_else_is_not_pec_there() {
    let (g, _clock) = network().await;
    let uno = &g[0].engine;
    sent_and_delivered(&g).await;
    let consegna = first(&g[0], MARIO, "avvenuta-consegna-completa").await;
    let other = "anna@pec.uno.test";
    uno.store()
        .set_ordinary_mail(other, OrdinaryMail::Anomalia)
        .await
        .unwrap();
    let r = uno
        .receive(&env("posta-certificata@pec.due.test", &[other]), &consegna)
        .await
        .unwrap();
    assert!(matches!(r, Received::Accepted(_)), "{r:?}");
    assert_eq!(kinds(uno, other).await, ["anomalia"]);

    // A presa in carico is for our mailReceipt only.
    let presa = first(&g[0], "ricevute@pec.uno.test", "presa-in-carico").await;
    let r = uno
        .receive(&env("posta-certificata@pec.due.test", &[MARIO]), &presa)
        .await
        .unwrap();
    assert!(matches!(r, Received::Refused(_)), "{r:?}");
}

#[tokio::test]
async fn a_receipt_signed_by_a_gestore_for_a_domain_it_does_not_manage_is_an_anomalia() {
    let (g, _clock) = network().await;
    let uno = &g[0].engine;
    // Due is down: Mario's busta waits in Uno's queue, no receipt has come.
    let Submitted::Accettato { identificativo } = uno
        .submit(&env(MARIO, &[ANNA]), &message(MARIO, ANNA))
        .await
        .unwrap()
    else {
        panic!("not accepted");
    };
    let busta_blob = uno.store().queued().await.unwrap()[0].blob.clone();
    let busta = uno.store().get(&busta_blob).await.unwrap();
    let c = pec::classify(&busta).unwrap();
    let t = pec::Transazione::from_daticert(c.daticert.as_ref().unwrap());

    // Uno's own key signs an avvenuta consegna for Anna, whose domain is Due's.
    let draft = pec::build::avvenuta_consegna(
        &t,
        &pec::Gestore {
            nome: "Due PEC".into(),
            dominio: "pec.due.test".into(),
        },
        &uno.clock().now(),
        ANNA,
        pec::TipoRicevuta::Completa,
        c.originale.as_deref().unwrap(),
        pec::HashAlg::Sha1,
    )
    .unwrap();
    let forged = signed_by(&g[0], &draft);
    let r = uno
        .receive(&env("posta-certificata@pec.due.test", &[MARIO]), &forged)
        .await
        .unwrap();
    assert!(matches!(r, Received::Accepted(_)), "{r:?}");
    assert_eq!(kinds(uno, MARIO).await, ["accettazione", "anomalia"]);
    assert!(consegne(&g[0], &identificativo).await.is_empty());
}

/// `raw` with the value of its first `name:` header field replaced.
fn rewrite(raw: &[u8], name: &str, value: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let start = text
        .find(&format!("\r\n{name}:"))
        .unwrap_or_else(|| panic!("no {name}"))
        + 2;
    let mut end = start + text[start..].find("\r\n").unwrap();
    // Folded continuation lines belong to the field.
    while text[end + 2..].starts_with([' ', '\t']) {
        end += 2 + text[end + 2..].find("\r\n").unwrap();
    }
    format!("{}{name}: {value}{}", &text[..start], &text[end..]).into_bytes()
}

#[tokio::test]
async fn a_busta_whose_outer_fields_were_rewritten_arrives_as_an_anomalia() {
    let edits = [
        ("Subject", "POSTA CERTIFICATA: Decreto ingiuntivo"),
        (
            "From",
            "\"Per conto di: ceo@pec.due.test\" <posta-certificata@pec.uno.test>",
        ),
        ("To", "anna@pec.due.test, mario@pec.due.test"),
        ("X-TipoRicevuta", "sintetica"),
    ];
    for (field, value) in edits {
        let (g, _clock) = network().await;
        let (uno, due) = (&g[0].engine, &g[1].engine);
        uno.submit(&env(MARIO, &[ANNA]), &message(MARIO, ANNA))
            .await
            .unwrap();
        let blob = uno.store().queued().await.unwrap()[0].blob.clone();
        let busta = uno.store().get(&blob).await.unwrap();
        let edited = rewrite(&busta, field, value);
        assert!(
            smime::verify(&edited, &smime::TrustStore::new()).signature_valid,
            "{field}: the edit must leave the signature valid"
        );
        let c = pec::classify(&edited).unwrap();
        assert!(!c.discordanze.is_empty(), "{field}");
        // What a list shows is the signed sender and subject, whatever the header says.
        assert_eq!(
            c.intestazione_firmata().unwrap(),
            (MARIO.to_string(), "POSTA CERTIFICATA: Prova".to_string())
        );

        let r = due.receive(&env(MARIO, &[ANNA]), &edited).await.unwrap();
        assert!(matches!(r, Received::Accepted(_)), "{field}: {r:?}");
        assert_eq!(kinds(due, ANNA).await, ["anomalia"], "{field}");
        // No presa in carico and no consegna left Due for it.
        assert!(due.store().queued().await.unwrap().is_empty(), "{field}");
    }
}

#[tokio::test]
async fn recipient_names_never_escape_the_evidence_bundle() {
    let (g, _clock) = network().await;
    let uno = &g[0].engine;
    let hostile = "<../../../../tmp/x@pec.due.test>";
    let raw = format!(
        "From: {MARIO}\r\nTo: {hostile}\r\nSubject: Prova\r\nMessage-ID: <m2@client>\r\n\r\nciao\r\n"
    );
    let submitted = uno
        .submit(
            &env(MARIO, &["../../../../tmp/x@pec.due.test"]),
            raw.as_bytes(),
        )
        .await
        .unwrap();
    let Submitted::Accettato { identificativo } = submitted else {
        panic!("not accepted: {submitted:?}");
    };
    relay_all(&g).await;
    assert!(
        kinds(uno, MARIO)
            .await
            .contains(&"errore-consegna".to_string())
    );
    let zip = uno
        .fascicolo(MARIO, &identificativo)
        .await
        .unwrap()
        .unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    assert!(names.len() >= 3, "{names:?}");
    for name in &names {
        assert!(
            !name.contains('/') && !name.contains('\\') && !name.starts_with('.'),
            "{name}"
        );
    }
    let mut riepilogo = String::new();
    archive
        .by_name("riepilogo.txt")
        .unwrap()
        .read_to_string(&mut riepilogo)
        .unwrap();
    assert!(riepilogo.contains("errore-consegna"), "{riepilogo}");
}

#[tokio::test]
async fn a_well_addressed_receipt_for_a_message_never_sent_is_delivered_and_logged() {
    let (g, _clock) = network().await;
    let (uno, due) = (&g[0].engine, &g[1].engine);
    // A transaction Uno never made: Due's consegna for Anna, addressed to Mario.
    let t = pec::Transazione {
        identificativo: "sconosciuto.1@pec.uno.test".into(),
        msgid: Some("<x@client>".into()),
        mittente: MARIO.into(),
        destinatari: vec![pec::Destinatario {
            indirizzo: ANNA.into(),
            tipo: pec::TipoDestinatario::Certificato,
        }],
        risposte: MARIO.into(),
        oggetto: "Mai inviato".into(),
        ricevuta: pec::TipoRicevuta::Sintetica,
    };
    let draft = pec::build::avvenuta_consegna(
        &t,
        &due.settings().gestore,
        &due.clock().now(),
        ANNA,
        pec::TipoRicevuta::Sintetica,
        b"",
        pec::HashAlg::Sha1,
    )
    .unwrap();
    let receipt = signed_by(&g[1], &draft);
    let r = uno
        .receive(&env("posta-certificata@pec.due.test", &[MARIO]), &receipt)
        .await
        .unwrap();
    assert!(matches!(r, Received::Accepted(_)), "{r:?}");
    assert_eq!(kinds(uno, MARIO).await, ["avvenuta-consegna-sintetica"]);
    let log = uno.store().events(&t.identificativo).await.unwrap();
    assert!(
        log.iter().any(|e| e.event.kind == "ricevuta-sconosciuta"),
        "{log:?}"
    );
}
