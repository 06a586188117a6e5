//! The crash windows of one message, replayed in process. A sender that dies between the
//! peer's 250 and its own commit sends again, at every hop (busta, presa in carico,
//! consegna); a peer that had part of a transaction refused at RCPT, and died before
//! recording it, sends the busta again naming recipients served and not; the same for
//! ordinary mail wrapped as anomalia. Either way every recipient is served, and every receipt
//! exists once. The same with real processes killed at
//! random moments is `crates/pecora/tests/crash.rs`.

#[path = "support/gestori.rs"]
mod gestori;

use async_trait::async_trait;
use engine::access::Submitted;
use engine::reception::Received;
use engine::relay::{Outcome, Transport};
use gestori::{Gestore, Loopback, Mode, kinds, message, network, relay_all};
use jiff::SignedDuration;
use pec::checks::Envelope;
use store::{ChainReport, OrdinaryMail, TrackerEvent};

const SENDER: &str = "mario@pec.uno.test";
const RECIPIENTS: [&str; 2] = ["anna@pec.due.test", "mario@pec.due.test"];

/// Delivers through the loopback network, then loses the reply: to the relay it is a
/// connection that died after DATA, and the job stays, as when the sender crashes before it
/// commits.
struct ReplyLost(Loopback);

#[async_trait]
impl Transport for ReplyLost {
    async fn send(
        &self,
        domain: &str,
        mail_from: &str,
        rcpt_to: &[String],
        message: &[u8],
    ) -> Result<Vec<(String, Outcome)>, String> {
        self.0.send(domain, mail_from, rcpt_to, message).await?;
        Err("connection lost after DATA".into())
    }
}

/// Mario of Uno writes to both holders of Due (both in To).
async fn submit(g: &[Gestore]) -> String {
    let env = Envelope {
        mail_from: SENDER.into(),
        rcpt_to: RECIPIENTS.map(String::from).to_vec(),
    };
    let raw = message(SENDER, &RECIPIENTS.join(", "));
    match g[0].engine.submit(&env, &raw).await.unwrap() {
        Submitted::Accettato { identificativo } => identificativo,
        other => panic!("not accepted: {other:?}"),
    }
}

#[tokio::test]
async fn every_hop_sent_again_after_a_lost_reply_lands_once() {
    let (g, clock) = network().await;
    let id = submit(&g).await;
    let engines = g.iter().map(|x| x.engine.clone()).collect();
    let lossy = ReplyLost(Loopback(engines, Mode::Normal));
    for _ in 0..2 {
        // Busta to Due; presa in carico and consegne back to Uno: each delivered, each
        // reply lost, each job kept.
        for _ in 0..2 {
            for x in &g {
                x.engine.relay_due(&lossy).await.unwrap();
            }
        }
        clock.advance(SignedDuration::from_hours(2)); // past the backoff: due again
    }
    relay_all(&g).await;
    assert_served_once(&g, &id, 1).await;
}

#[tokio::test]
async fn a_busta_sent_again_serves_the_recipient_missed_the_first_time() {
    let (g, _clock) = network().await;
    let id = submit(&g).await;
    let job = g[0].engine.store().queued().await.unwrap().remove(0);
    assert_eq!(job.rcpt_to, RECIPIENTS);
    let busta = g[0].engine.store().get(&job.blob).await.unwrap();
    // The first transaction reached Due for anna only (mario had a 4xx at RCPT), and Uno
    // died before recording it: its job still names both.
    let first = Envelope {
        mail_from: job.mail_from.clone(),
        rcpt_to: vec![RECIPIENTS[0].into()],
    };
    g[1].engine.receive(&first, &busta).await.unwrap();
    relay_all(&g).await;
    assert_served_once(&g, &id, 2).await;
}

#[tokio::test]
async fn ordinary_mail_sent_again_is_wrapped_once_for_each_box() {
    let (g, _clock) = network().await;
    let due = &g[1].engine;
    for r in RECIPIENTS {
        due.store()
            .set_ordinary_mail(r, OrdinaryMail::Anomalia)
            .await
            .unwrap();
    }
    let raw = message("someone@internet.test", &RECIPIENTS.join(", "));
    // First for anna alone, then, the reply lost, for both.
    for rcpt_to in [&RECIPIENTS[..1], &RECIPIENTS[..]] {
        let env = Envelope {
            mail_from: "someone@internet.test".into(),
            rcpt_to: rcpt_to.iter().map(|r| r.to_string()).collect(),
        };
        let r = due.receive(&env, &raw).await.unwrap();
        assert!(matches!(r, Received::Accepted(_)), "{r:?}");
    }
    for r in RECIPIENTS {
        assert_eq!(kinds(due, r).await, ["anomalia"], "{r}");
    }
}

/// Each recipient has the busta once, the sender one consegna per recipient, the sender's
/// receipt box `prese` presa in carico that together cover each recipient once; the tracker
/// heard everything, the queues are empty, and the logs record each receipt once.
async fn assert_served_once(g: &[Gestore], id: &str, prese: usize) {
    let (uno, due) = (&g[0].engine, &g[1].engine);
    for r in RECIPIENTS {
        assert_eq!(kinds(due, r).await, ["posta-certificata"], "{r}");
    }
    assert_eq!(
        kinds(uno, SENDER).await,
        [
            "accettazione",
            "avvenuta-consegna-completa",
            "avvenuta-consegna-completa"
        ]
    );
    let mut covered = Vec::new();
    for m in uno
        .store()
        .messages("ricevute@pec.uno.test", engine::INBOX)
        .await
        .unwrap()
    {
        assert_eq!(m.kind.as_deref(), Some("presa-in-carico"));
        let c = pec::classify(&uno.store().get(&m.blob).await.unwrap()).unwrap();
        covered.extend(c.daticert.unwrap().ricezione);
    }
    covered.sort();
    assert_eq!(covered, RECIPIENTS, "each recipient taken in charge once");
    for t in uno.store().tracked(id).await.unwrap() {
        assert!(t.at(TrackerEvent::PresaInCarico).is_some(), "{t:?}");
        assert!(t.at(TrackerEvent::Consegna).is_some(), "{t:?}");
    }
    for (e, expected) in [
        (due, [("presa-in-carico", prese), ("avvenuta-consegna", 2)]),
        (
            uno,
            [
                ("ricevuta-presa-in-carico", prese),
                ("ricevuta-avvenuta-consegna", 2),
            ],
        ),
    ] {
        assert!(e.store().queued().await.unwrap().is_empty());
        let events = e.store().events(id).await.unwrap();
        for (kind, n) in expected {
            let found = events.iter().filter(|x| x.event.kind == kind).count();
            assert_eq!(
                found,
                n,
                "{kind} in the log of {}",
                e.settings().gestore.dominio
            );
        }
        assert!(matches!(
            e.store().verify_chain().await.unwrap(),
            ChainReport::Intact { .. }
        ));
    }
}
