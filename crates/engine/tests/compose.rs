//! Writing a PEC from a draft (compose.rs) and following it (cronologia.rs) on the
//! two-gestori network of chain.rs: the message the draft becomes, the timeline per
//! recipient, a mancata consegna, idempotent sends, and the evidence bundle checked with
//! Python's zipfile and the `openssl cms -verify` CLI against the test CA.

#[path = "support/gestori.rs"]
mod gestori;

use std::process::Command;

use engine::access::Submitted;
use engine::compose::{Allegato, Bozza, ComposeError};
use engine::cronologia::Esito;
use engine::mailbox::Principal;
use gestori::{Gestore, network, relay_all};
use pec::daticert::TipoRicevuta;
use store::DelegateRole;

const MARIO: &str = "mario@pec.uno.test";
const ANNA_DUE: &str = "anna@pec.due.test";
const ANNA_UNO: &str = "anna@pec.uno.test";

fn holder(mailbox: &str) -> Principal {
    Principal {
        mailbox: mailbox.into(),
        login: mailbox.into(),
        role: None,
        credenziale: None,
    }
}

fn bozza(to: &[&str], cc: &[&str]) -> Bozza {
    Bozza {
        destinatari: to.iter().map(|s| s.to_string()).collect(),
        copia: cc.iter().map(|s| s.to_string()).collect(),
        oggetto: "Fattura n. 7 — è pronta".into(),
        testo: "In allegato la fattura.\n".into(),
        allegati: vec![Allegato {
            nome: "fattura.pdf".into(),
            tipo: "application/pdf".into(),
            dati: b"%PDF-1.4 finta fattura".to_vec(),
        }],
        ricevuta: TipoRicevuta::Breve,
    }
}

async fn send(g: &[Gestore], b: &Bozza, key: Option<&str>) -> String {
    match g[0].engine.send_bozza(&holder(MARIO), b, key).await {
        Ok(Submitted::Accettato { identificativo }) => identificativo,
        other => panic!("expected an accettazione, got {other:?}"),
    }
}

#[tokio::test]
async fn a_breve_pec_with_an_attachment_is_followed_per_recipient() {
    let (g, _clock) = network().await;
    let id = send(&g, &bozza(&[ANNA_DUE], &[ANNA_UNO]), None).await;

    let c = g[0].engine.cronologia(MARIO, &id).await.unwrap().unwrap();
    assert!(c.accettazione.is_some() && c.non_accettazione.is_none());
    assert_eq!(c.oggetto, "Fattura n. 7 — è pronta");
    assert!(c.in_corso(), "nothing relayed yet: {c:?}");

    relay_all(&g).await;
    let (busta, classified) = gestori::received(&g[1].engine, ANNA_DUE, "posta-certificata").await;
    assert_eq!(busta.identificativo.as_deref(), Some(id.as_str()));
    let originale = String::from_utf8_lossy(classified.originale.as_ref().unwrap()).into_owned();
    assert!(originale.contains("X-TipoRicevuta: breve"), "{originale}");
    assert!(originale.contains("fattura.pdf"), "{originale}");
    assert!(
        originale.contains(&format!("From: <{MARIO}>")),
        "{originale}"
    );

    let c = g[0].engine.cronologia(MARIO, &id).await.unwrap().unwrap();
    assert!(!c.in_corso(), "{c:?}");
    let inviata = c.inviata.as_ref().expect("the Sent copy");
    assert_eq!(
        (inviata.folder.as_str(), inviata.kind.as_str()),
        ("Sent", "inviata")
    );
    let by: Vec<_> = c.destinatari.iter().map(|d| d.indirizzo.as_str()).collect();
    assert_eq!(by, [ANNA_DUE, ANNA_UNO]);
    for d in &c.destinatari {
        assert!(d.certificato);
        assert_eq!(d.esito, Esito::Consegnata, "{d:?}");
        let kinds: Vec<_> = d.eventi.iter().map(|e| e.tipo.as_str()).collect();
        assert_eq!(kinds.last(), Some(&"avvenuta-consegna"), "{d:?}");
        // The presa in carico goes to the gestore, not the box: the tracker knows it.
        assert!(
            d.eventi
                .iter()
                .all(|e| e.ricevuta.is_some() || e.tipo == "presa-in-carico"),
            "{d:?}"
        );
    }
    // Across gestori, Due takes charge first; the To recipient gets the breve receipt and
    // the Cc one the sintetica.
    let due = &c.destinatari[0];
    assert_eq!(due.eventi[0].tipo, "presa-in-carico");
    let kind_of = |d: &engine::cronologia::StatoDestinatario| {
        d.eventi
            .last()
            .unwrap()
            .ricevuta
            .as_ref()
            .unwrap()
            .kind
            .clone()
    };
    assert_eq!(kind_of(due), "avvenuta-consegna-breve");
    assert_eq!(kind_of(&c.destinatari[1]), "avvenuta-consegna-sintetica");

    // Only the sender follows it.
    assert!(
        g[1].engine
            .cronologia(ANNA_DUE, &id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        g[0].engine
            .cronologia(ANNA_UNO, &id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        g[0].engine
            .fascicolo(ANNA_UNO, &id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        g[0].engine
            .cronologia(MARIO, "nessuno@pec.uno.test")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_unknown_recipient_gets_a_mancata_consegna() {
    let (g, _clock) = network().await;
    let nessuno = "nessuno@pec.due.test";
    let id = send(&g, &bozza(&[nessuno, ANNA_DUE], &[]), None).await;
    relay_all(&g).await;
    let c = g[0].engine.cronologia(MARIO, &id).await.unwrap().unwrap();
    let stato = |a: &str| c.destinatari.iter().find(|d| d.indirizzo == a).unwrap();
    assert_eq!(stato(nessuno).esito, Esito::NonConsegnata, "{c:?}");
    assert_eq!(
        stato(nessuno).eventi.last().unwrap().tipo,
        "errore-consegna",
        "{c:?}"
    );
    assert_eq!(stato(ANNA_DUE).esito, Esito::Consegnata);
}

/// The 12- and 24-hour timers (spec §4.4) on a busta that never gets an answer: the
/// recipient waits, is warned about at 12 hours, and counts as scaduta at 24.
#[tokio::test]
async fn a_recipient_that_never_answers_times_out_in_the_timeline() {
    let (g, clock) = network().await;
    let id = send(&g, &bozza(&[ANNA_DUE], &[]), None).await;
    // No relay: the busta never reaches Due, so neither presa in carico nor consegna come.
    let esito = |c: &engine::cronologia::Cronologia| c.destinatari[0].esito;
    let c = g[0].engine.cronologia(MARIO, &id).await.unwrap().unwrap();
    assert_eq!(esito(&c), Esito::InAttesa, "{c:?}");

    clock.advance(jiff::SignedDuration::from_hours(13));
    g[0].engine.tick_timers().await.unwrap();
    let c = g[0].engine.cronologia(MARIO, &id).await.unwrap().unwrap();
    assert_eq!(esito(&c), Esito::InAttesa, "{c:?}");
    assert!(
        c.destinatari[0]
            .eventi
            .iter()
            .any(|e| e.tipo == "preavviso-errore-consegna-12h"),
        "{c:?}"
    );

    clock.advance(jiff::SignedDuration::from_hours(12));
    g[0].engine.tick_timers().await.unwrap();
    let c = g[0].engine.cronologia(MARIO, &id).await.unwrap().unwrap();
    assert_eq!(esito(&c), Esito::Scaduta, "{c:?}");
    assert!(!c.in_corso(), "{c:?}");
}

#[tokio::test]
async fn an_idempotent_repeat_sends_once() {
    let (g, _clock) = network().await;
    let b = bozza(&[ANNA_DUE], &[]);
    let first = send(&g, &b, Some("chiave-1")).await;
    let again = send(&g, &b, Some("chiave-1")).await;
    assert_eq!(first, again);
    // Two at once with a new key: one send, both told its identificativo.
    let e = &g[0].engine;
    let who = holder(MARIO);
    let (x, y) = tokio::join!(
        e.send_bozza(&who, &b, Some("chiave-2")),
        e.send_bozza(&who, &b, Some("chiave-2"))
    );
    assert_eq!(x.unwrap(), y.unwrap());
    // Without a key, a send is a send.
    let other = send(&g, &b, None).await;
    assert_ne!(other, first);
    let sent = e.store().messages(MARIO, "Sent").await.unwrap();
    assert_eq!(sent.len(), 3, "three sends, not five: {sent:?}");
    let accettazioni = gestori::kinds(e, MARIO).await;
    assert_eq!(
        accettazioni.iter().filter(|k| *k == "accettazione").count(),
        3
    );
}

#[tokio::test]
async fn delegates_and_bad_drafts_are_refused_with_a_reason() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let lettore = Principal {
        mailbox: MARIO.into(),
        login: "lettore".into(),
        role: Some(DelegateRole::Lettura),
        credenziale: None,
    };
    let b = bozza(&[ANNA_DUE], &[]);
    assert!(matches!(
        e.send_bozza(&lettore, &b, None).await,
        Err(ComposeError::NotAllowed)
    ));
    let invio = Principal {
        role: Some(DelegateRole::Invio),
        ..lettore
    };
    assert!(matches!(
        e.send_bozza(&invio, &b, None).await,
        Ok(Submitted::Accettato { .. })
    ));
    let cases = [
        (bozza(&[], &[ANNA_DUE]), "destinatario"),
        (bozza(&["anna@"], &[]), "«anna@»"),
        (bozza(&[ANNA_DUE], &["a b@x.it"]), "«a b@x.it»"),
    ];
    for (b, says) in cases {
        match e.send_bozza(&holder(MARIO), &b, None).await {
            Err(ComposeError::Invalid(m)) => assert!(m.contains(says), "{m}"),
            other => panic!("{says}: {other:?}"),
        }
    }
    let mut vuota = bozza(&[ANNA_DUE], &[]);
    vuota.oggetto.clear();
    vuota.testo.clear();
    vuota.allegati.clear();
    assert!(matches!(
        e.send_bozza(&holder(MARIO), &vuota, None).await,
        Err(ComposeError::Invalid(_))
    ));
    // One send went out: the delegate's.
    assert_eq!(e.store().messages(MARIO, "Sent").await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_bundle_opens_and_every_receipt_verifies_with_openssl() {
    let (g, _clock) = network().await;
    let id = send(&g, &bozza(&[ANNA_DUE], &[ANNA_UNO]), None).await;
    relay_all(&g).await;
    let zip = g[0].engine.fascicolo(MARIO, &id).await.unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fascicolo.zip");
    std::fs::write(&path, &zip).unwrap();
    std::fs::write(dir.path().join("ca.pem"), &g[0].ca_pem).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             assert z.testzip() is None\n\
             assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())\n\
             z.extractall(sys.argv[2])\n\
             print('\\n'.join(z.namelist()))",
        ])
        .arg(&path)
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(names.contains(&"messaggio.eml".to_string()), "{names:?}");
    assert!(names.contains(&"riepilogo.txt".to_string()), "{names:?}");
    let ricevute: Vec<_> = names
        .iter()
        .filter(|n| n.ends_with(".eml") && *n != "messaggio.eml")
        .collect();
    assert!(
        ricevute.iter().any(|n| n.starts_with("01-accettazione")),
        "{names:?}"
    );
    assert!(
        ricevute
            .iter()
            .any(|n| n.ends_with(&format!("-avvenuta-consegna-breve-{ANNA_DUE}.eml"))),
        "{names:?}"
    );
    assert!(ricevute.len() == 3, "accettazione, two consegne: {names:?}");
    for r in &ricevute {
        let out = Command::new("openssl")
            .args(["cms", "-verify", "-in"])
            .arg(dir.path().join("x").join(r))
            .arg("-CAfile")
            .arg(dir.path().join("ca.pem"))
            .args(["-out", "/dev/null"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{r}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let messaggio = std::fs::read(dir.path().join("x/messaggio.eml")).unwrap();
    let sent = &g[0].engine.store().messages(MARIO, "Sent").await.unwrap()[0];
    assert_eq!(
        messaggio,
        g[0].engine.store().get(&sent.blob).await.unwrap()
    );
    let riepilogo = std::fs::read_to_string(dir.path().join("x/riepilogo.txt")).unwrap();
    for atteso in [
        id.as_str(),
        "Fattura n. 7",
        MARIO,
        ANNA_DUE,
        "openssl cms -verify",
        "consegnato",
    ] {
        assert!(riepilogo.contains(atteso), "{atteso}: {riepilogo}");
    }
    // A tampered receipt fails the same check: the test can fail.
    let first = dir.path().join("x").join(ricevute[0]);
    let mut bytes = std::fs::read(&first).unwrap();
    let at = bytes
        .windows(6)
        .position(|w| w == b"<data ")
        .unwrap_or(bytes.len() / 2);
    bytes[at + 1] ^= 1;
    std::fs::write(&first, bytes).unwrap();
    let out = Command::new("openssl")
        .args(["cms", "-verify", "-in"])
        .arg(&first)
        .arg("-CAfile")
        .arg(dir.path().join("ca.pem"))
        .args(["-out", "/dev/null"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a tampered receipt must not verify");
}
