//! The engine end to end, in process: two gestori on real SQLite stores, a shared index, a
//! manual clock, and a transport that hands each relay job to the destination engine's
//! reception point (the SMTP doors are tested with real clients in the `pecora` crate).
//! Checks the tracker, idempotent retries and the legal log.

#[path = "support/gestori.rs"]
mod gestori;

use engine::access::Submitted;
use engine::clock::{Clock, ManualClock};
use engine::reception::Received;
use engine::{Engine, domain_of};
use gestori::{Gestore, Mode, REFUSING, kinds, message, network, received, relay_all, relay_in};
use pec::checks::Envelope;
use store::{ChainReport, TrackerEvent};

#[tokio::test]
async fn busta_receipts_and_tracker() {
    let (g, _clock) = network().await;
    let (uno, due) = (&g[0].engine, &g[1].engine);
    let env = Envelope {
        mail_from: "mario@pec.uno.test".into(),
        rcpt_to: vec!["anna@pec.due.test".into()],
    };
    let Submitted::Accettato { identificativo } = uno
        .submit(&env, &message("mario@pec.uno.test", "anna@pec.due.test"))
        .await
        .unwrap()
    else {
        panic!("not accepted");
    };
    assert_eq!(domain_of(&identificativo), "pec.uno.test");
    let tracked = uno.store().tracked(&identificativo).await.unwrap();
    assert_eq!(tracked.len(), 1);
    assert!(tracked[0].events.is_empty());

    relay_all(&g).await;
    assert_eq!(kinds(due, "anna@pec.due.test").await, ["posta-certificata"]);
    assert_eq!(
        kinds(uno, "ricevute@pec.uno.test").await,
        ["presa-in-carico"]
    );
    assert_eq!(
        kinds(uno, "mario@pec.uno.test").await,
        ["accettazione", "avvenuta-consegna-completa"]
    );
    let t = &uno.store().tracked(&identificativo).await.unwrap()[0];
    assert!(t.at(TrackerEvent::PresaInCarico).is_some());
    assert!(t.at(TrackerEvent::Consegna).is_some());
    assert!(uno.store().open_entries().await.unwrap().is_empty());
    assert!(uno.store().queued().await.unwrap().is_empty());
    assert!(due.store().queued().await.unwrap().is_empty());

    // A retry of the same busta (the peer never saw our 250) changes nothing.
    let busta_blob = &due
        .store()
        .messages("anna@pec.due.test", engine::INBOX)
        .await
        .unwrap()[0]
        .blob;
    let busta = due.store().get(busta_blob).await.unwrap();
    let again = due.receive(&env, &busta).await.unwrap();
    assert!(
        matches!(again, Received::Accepted(ref t) if t.contains("already processed")),
        "{again:?}"
    );
    relay_all(&g).await;
    assert_eq!(kinds(due, "anna@pec.due.test").await.len(), 1);
    assert_eq!(kinds(uno, "mario@pec.uno.test").await.len(), 2);

    // The legal log on both sides.
    for e in [uno, due] {
        assert!(matches!(
            e.store().verify_chain().await.unwrap(),
            ChainReport::Intact { .. }
        ));
        assert!(!e.store().events(&identificativo).await.unwrap().is_empty());
    }
    let reissued = uno.reissue_receipts(&identificativo).await.unwrap();
    let names: Vec<&str> = reissued.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.iter().any(|n| n.ends_with("accettazione.eml")),
        "{names:?}"
    );
    for (_, bytes) in &reissued {
        let v = smime::verify(bytes, &smime::TrustStore::new());
        assert!(v.signature_valid, "{:?}", v.error);
    }
}

#[tokio::test]
async fn mancata_consegna_and_ordinary_mail() {
    let (g, _clock) = network().await;
    let (uno, due) = (&g[0].engine, &g[1].engine);
    let env = Envelope {
        mail_from: "mario@pec.uno.test".into(),
        rcpt_to: vec!["nessuno@pec.due.test".into()],
    };
    let Submitted::Accettato { identificativo } = uno
        .submit(&env, &message("mario@pec.uno.test", "nessuno@pec.due.test"))
        .await
        .unwrap()
    else {
        panic!("not accepted");
    };
    relay_all(&g).await;
    assert_eq!(
        kinds(uno, "mario@pec.uno.test").await,
        ["accettazione", "errore-consegna"]
    );
    let t = &uno.store().tracked(&identificativo).await.unwrap()[0];
    assert!(t.at(TrackerEvent::ErroreConsegna).is_some());
    assert!(t.at(TrackerEvent::Consegna).is_none());

    // Ordinary mail to a box that refuses it.
    let plain = Envelope {
        mail_from: "x@internet.test".into(),
        rcpt_to: vec!["anna@pec.due.test".into()],
    };
    let r = due
        .receive(&plain, &message("x@internet.test", "anna@pec.due.test"))
        .await
        .unwrap();
    assert!(matches!(r, Received::Refused(_)), "{r:?}");
}

#[tokio::test]
async fn permanent_failure_for_an_ordinary_recipient_reaches_the_sender() {
    let (g, _clock) = network().await;
    let uno = &g[0].engine;
    let esterno = format!("chi@{REFUSING}");
    let env = Envelope {
        mail_from: "mario@pec.uno.test".into(),
        rcpt_to: vec![esterno.clone()],
    };
    let Submitted::Accettato { identificativo } = uno
        .submit(&env, &message("mario@pec.uno.test", &esterno))
        .await
        .unwrap()
    else {
        panic!("not accepted");
    };
    // Ordinary recipients are not tracked: no timers will ever speak for them.
    assert!(
        uno.store()
            .tracked(&identificativo)
            .await
            .unwrap()
            .is_empty()
    );
    relay_all(&g).await;
    let (_, c) = received(uno, "mario@pec.uno.test", "errore-consegna").await;
    let d = c.daticert.unwrap();
    assert_eq!(d.consegna.as_deref(), Some(esterno.as_str()));
    // The server's 5.1.1 is NOTA 12's "indirizzo non valido" (pec::errori).
    assert_eq!(d.errore, pec::Errore::NoDest);
    assert_eq!(
        d.errore_esteso.as_deref(),
        Some("5.1.1 - Uno PEC - indirizzo non valido")
    );
    assert!(
        uno.store().queued().await.unwrap().is_empty(),
        "a permanent failure is not retried"
    );
}

/// Moves the clock, then runs what a provider runs every minute: relay and timers.
async fn at_hour(
    g: &[Gestore],
    clock: &ManualClock,
    start: jiff::Timestamp,
    hours: i64,
    mode: Mode,
) {
    let target = start
        .checked_add(jiff::SignedDuration::from_hours(hours))
        .unwrap();
    let now = clock.now().timestamp();
    clock.advance(target.duration_since(now));
    relay_in(g, mode).await;
    for x in g {
        x.engine.tick_timers().await.unwrap();
    }
}

async fn send_one(g: &[Gestore], to: &[&str]) -> String {
    let env = Envelope {
        mail_from: "mario@pec.uno.test".into(),
        rcpt_to: to.iter().map(|s| s.to_string()).collect(),
    };
    let Submitted::Accettato { identificativo } = g[0]
        .engine
        .submit(&env, &message("mario@pec.uno.test", &to.join(", ")))
        .await
        .unwrap()
    else {
        panic!("not accepted");
    };
    identificativo
}

/// The timeout notices in mario's INBOX, as (recipient, 12 or 24).
async fn timeouts(e: &Engine) -> Vec<(String, u8)> {
    let mut out = Vec::new();
    for m in e
        .store()
        .messages("mario@pec.uno.test", engine::INBOX)
        .await
        .unwrap()
    {
        let Some(kind) = m.kind.as_deref() else {
            continue;
        };
        let hours = match kind {
            "preavviso-errore-consegna-12h" => 12,
            "preavviso-errore-consegna-24h" => 24,
            _ => continue,
        };
        let c = pec::classify(&e.store().get(&m.blob).await.unwrap()).unwrap();
        assert_eq!(
            c.headers.x_ricevuta.as_deref(),
            Some("preavviso-errore-consegna")
        );
        assert!(
            c.headers
                .subject
                .unwrap()
                .starts_with("AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO: ")
        );
        out.push((c.daticert.unwrap().consegna.unwrap(), hours));
    }
    out
}

#[tokio::test]
async fn peer_down_gives_both_notices_then_delivery_without_duplicates() {
    let (g, clock) = network().await;
    let start = clock.now().timestamp();
    // One certified recipient at the silent peer, one ordinary recipient (never tracked).
    send_one(&g, &["anna@pec.due.test", "chi@posta.ordinaria.test"]).await;
    at_hour(&g, &clock, start, 11, Mode::DueDown).await;
    assert!(
        timeouts(&g[0].engine).await.is_empty(),
        "nothing before 12 h"
    );
    at_hour(&g, &clock, start, 12, Mode::DueDown).await;
    assert_eq!(
        timeouts(&g[0].engine).await,
        [("anna@pec.due.test".to_string(), 12)]
    );
    at_hour(&g, &clock, start, 21, Mode::DueDown).await;
    assert_eq!(
        timeouts(&g[0].engine).await.len(),
        1,
        "the final notice not before 22 h"
    );
    at_hour(&g, &clock, start, 22, Mode::DueDown).await;
    assert_eq!(
        timeouts(&g[0].engine).await,
        [
            ("anna@pec.due.test".to_string(), 12),
            ("anna@pec.due.test".to_string(), 24)
        ]
    );
    assert!(
        g[0].engine.store().open_entries().await.unwrap().is_empty(),
        "tracking ends"
    );

    // The peer comes back within the queue's 24 hours: the busta is delivered (the relay
    // kept it), receipts once each, and no notice again.
    at_hour(&g, &clock, start, 23, Mode::Normal).await;
    at_hour(&g, &clock, start, 30, Mode::Normal).await;
    assert_eq!(
        timeouts(&g[0].engine).await.len(),
        2,
        "each notice exactly once"
    );
    assert_eq!(
        kinds(&g[1].engine, "anna@pec.due.test").await,
        ["posta-certificata"]
    );
    let inbox = kinds(&g[0].engine, "mario@pec.uno.test").await;
    assert_eq!(
        inbox
            .iter()
            .filter(|k| k.starts_with("avvenuta-consegna"))
            .count(),
        1,
        "{inbox:?}"
    );
    assert_eq!(timeouts(&g[0].engine).await.len(), 2);
}

#[tokio::test]
async fn presa_in_carico_without_consegna_gives_only_the_24h_notice() {
    let (g, clock) = network().await;
    let start = clock.now().timestamp();
    send_one(&g, &["anna@pec.due.test"]).await;
    at_hour(&g, &clock, start, 1, Mode::ConsegnaLost).await;
    assert_eq!(
        kinds(&g[0].engine, "ricevute@pec.uno.test").await,
        ["presa-in-carico"]
    );
    at_hour(&g, &clock, start, 13, Mode::ConsegnaLost).await;
    assert!(
        timeouts(&g[0].engine).await.is_empty(),
        "a presa in carico stops the 12 h notice"
    );
    at_hour(&g, &clock, start, 22, Mode::ConsegnaLost).await;
    assert_eq!(
        timeouts(&g[0].engine).await,
        [("anna@pec.due.test".to_string(), 24)]
    );
}

#[tokio::test]
async fn late_consegna_gives_only_the_12h_notice() {
    let (g, clock) = network().await;
    let start = clock.now().timestamp();
    send_one(&g, &["anna@pec.due.test"]).await;
    at_hour(&g, &clock, start, 12, Mode::DueDown).await;
    assert_eq!(
        timeouts(&g[0].engine).await,
        [("anna@pec.due.test".to_string(), 12)]
    );
    // The relay's backoff has passed by 15 h: delivery and consegna arrive.
    at_hour(&g, &clock, start, 15, Mode::Normal).await;
    at_hour(&g, &clock, start, 16, Mode::Normal).await;
    assert!(
        kinds(&g[0].engine, "mario@pec.uno.test")
            .await
            .contains(&"avvenuta-consegna-completa".to_string())
    );
    at_hour(&g, &clock, start, 23, Mode::Normal).await;
    assert_eq!(
        timeouts(&g[0].engine).await,
        [("anna@pec.due.test".to_string(), 12)]
    );
}
