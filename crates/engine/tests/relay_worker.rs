//! The relay worker against peers that misbehave, in process: a temporary refusal keeps the
//! job (attempts, backoff and the peer's answer on record), and a peer that stalls holds up
//! only its own job while the rest of the queue moves; a job that reached some recipients
//! goes on, the same job, for the others; and nothing waits in the queue past 24 hours. The same faults over real SMTP,
//! through the binary, are in `crates/pecora/tests/relay_faults.rs`.

#[path = "support/gestori.rs"]
mod gestori;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use engine::access::Submitted;
use engine::clock::Clock;
use engine::relay::{Outcome, Transport};
use gestori::{Loopback, Mode, kinds, message, network, received, relay_all};
use jiff::SignedDuration;
use pec::checks::Envelope;
use tokio::sync::Notify;

/// What mail for pec.due.test meets; everything else goes through the loopback network.
enum Fault {
    /// Every recipient refused with a 4xx.
    Busy,
    /// The peer never answers until the notify is released.
    Stall(Arc<Notify>),
    /// This recipient refused with a 4xx; the others delivered.
    BusyFor(&'static str),
}

struct Faulty(Loopback, Fault);

#[async_trait]
impl Transport for Faulty {
    async fn send(
        &self,
        domain: &str,
        mail_from: &str,
        rcpt_to: &[String],
        message: &[u8],
    ) -> Result<Vec<(String, Outcome)>, String> {
        if domain == "pec.due.test" {
            match &self.1 {
                Fault::Busy => {
                    let busy = Outcome::Temporary("451 4.2.0 busy, try later".into());
                    return Ok(rcpt_to.iter().map(|r| (r.clone(), busy.clone())).collect());
                }
                Fault::Stall(release) => release.notified().await,
                Fault::BusyFor(busy) => {
                    let rest: Vec<String> = rcpt_to.iter().filter(|r| r != busy).cloned().collect();
                    let mut outcomes = self.0.send(domain, mail_from, &rest, message).await?;
                    let refusal = Outcome::Temporary("452 4.2.2 mailbox full".into());
                    outcomes.push((busy.to_string(), refusal));
                    return Ok(outcomes);
                }
            }
        }
        self.0.send(domain, mail_from, rcpt_to, message).await
    }
}

async fn submit(e: &engine::Engine, to: &str) -> String {
    let env = Envelope {
        mail_from: "mario@pec.uno.test".into(),
        rcpt_to: vec![to.into()],
    };
    match e
        .submit(&env, &message("mario@pec.uno.test", to))
        .await
        .unwrap()
    {
        Submitted::Accettato { identificativo } => identificativo,
        other => panic!("not accepted: {other:?}"),
    }
}

#[tokio::test]
async fn temporary_refusals_keep_the_job_and_grow_its_backoff() {
    let (g, clock) = network().await;
    let uno = &g[0].engine;
    let id = submit(uno, "anna@pec.due.test").await;
    let engines = || g.iter().map(|g| g.engine.clone()).collect();
    let busy = Faulty(Loopback(engines(), Mode::Normal), Fault::Busy);

    let mut seen = None;
    for (attempt, wait) in [(1, 60), (2, 120), (3, 240)] {
        let now = clock.now().timestamp().as_second();
        uno.relay_due(&busy).await.unwrap();
        let queued = uno.store().queued().await.unwrap();
        assert_eq!(queued.len(), 1, "{queued:?}");
        let job = &queued[0];
        assert_eq!(job.identificativo.as_deref(), Some(id.as_str()));
        assert_eq!(*seen.get_or_insert(job.id), job.id, "the same job waits");
        assert_eq!(job.attempts, attempt);
        assert_eq!(job.next_attempt, now + wait);
        assert_eq!(
            job.last_error.as_deref(),
            Some("anna@pec.due.test: 451 4.2.0 busy, try later")
        );
        clock.advance(jiff::SignedDuration::from_secs(wait));
    }
    assert_eq!(kinds(uno, "mario@pec.uno.test").await, ["accettazione"]);

    // The peer heals: one delivery, one consegna.
    relay_all(&g).await;
    assert!(uno.store().queued().await.unwrap().is_empty());
    assert_eq!(
        kinds(&g[1].engine, "anna@pec.due.test").await,
        ["posta-certificata"]
    );
    assert_eq!(
        kinds(uno, "mario@pec.uno.test").await,
        ["accettazione", "avvenuta-consegna-completa"]
    );
}

#[tokio::test]
async fn a_stalled_peer_holds_up_only_its_own_job() {
    let (g, _clock) = network().await;
    let uno = g[0].engine.clone();
    let release = Arc::new(Notify::new());
    let engines = || g.iter().map(|g| g.engine.clone()).collect::<Vec<_>>();
    let stall = Arc::new(Faulty(
        Loopback(engines(), Mode::Normal),
        Fault::Stall(release.clone()),
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(uno.clone().run_relay(
        stall.clone(),
        Duration::from_millis(10),
        async {
            let _ = stopped.await;
        },
    ));
    // Provider due has its own worker, so receipts come back.
    let (stop_due, stopped_due) = tokio::sync::oneshot::channel::<()>();
    let due_worker = tokio::spawn(g[1].engine.clone().run_relay(
        stall,
        Duration::from_millis(10),
        async {
            let _ = stopped_due.await;
        },
    ));

    submit(&uno, "anna@pec.due.test").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    submit(&uno, "anna@pec.uno.test").await;
    let delivered = async {
        while kinds(&uno, "mario@pec.uno.test").await.len() < 3
            || kinds(&uno, "ricevute@pec.uno.test").await.is_empty()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), delivered)
        .await
        .expect("mail for a healthy domain waited for the stalled peer");
    assert_eq!(
        kinds(&uno, "anna@pec.uno.test").await,
        ["posta-certificata"]
    );
    assert_eq!(
        kinds(&uno, "mario@pec.uno.test").await,
        ["accettazione", "accettazione", "avvenuta-consegna-completa"]
    );
    // The stalled job is still under way, so still queued (once the jobs that went through
    // have been dequeued: their commits follow the peer's, so wait for them).
    let only_stalled = async {
        loop {
            let queued = uno.store().queued().await.unwrap();
            if queued.len() == 1 {
                return queued;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let queued = tokio::time::timeout(Duration::from_secs(20), only_stalled)
        .await
        .expect("the jobs that went through were never dequeued");
    assert_eq!(queued[0].domain, "pec.due.test");

    // Shutdown lets the stalled transaction finish rather than cutting it.
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !worker.is_finished(),
        "shutdown cut a transaction under way"
    );
    release.notify_one();
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("the worker stops once its transaction ends")
        .unwrap();
    stop_due.send(()).unwrap();
    due_worker.await.unwrap();
    assert_eq!(
        kinds(&g[1].engine, "anna@pec.due.test").await,
        ["posta-certificata"]
    );
}

#[tokio::test]
async fn a_partly_refused_job_goes_on_for_the_rest() {
    let (g, clock) = network().await;
    let uno = &g[0].engine;
    let (anna, luca) = ("anna@pec.due.test", "mario@pec.due.test");
    let env = Envelope {
        mail_from: "mario@pec.uno.test".into(),
        rcpt_to: vec![anna.into(), luca.into()],
    };
    let raw = message("mario@pec.uno.test", &format!("{anna}, {luca}"));
    assert!(matches!(
        uno.submit(&env, &raw).await.unwrap(),
        Submitted::Accettato { .. }
    ));
    let before = uno.store().queued().await.unwrap();
    let engines = || g.iter().map(|g| g.engine.clone()).collect();
    let luca_full = Faulty(Loopback(engines(), Mode::Normal), Fault::BusyFor(luca));
    let now = clock.now().timestamp().as_second();
    uno.relay_due(&luca_full).await.unwrap();

    let queued = uno.store().queued().await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let job = &queued[0];
    assert_eq!(job.id, before[0].id, "the same job");
    assert_eq!(job.rcpt_to, [luca], "only the recipient left");
    assert_eq!((job.attempts, job.next_attempt), (1, now + 60));
    assert_eq!(job.created_at, before[0].created_at, "its age kept");
    assert_eq!(
        job.last_error.as_deref(),
        Some("mario@pec.due.test: 452 4.2.2 mailbox full")
    );
    assert_eq!(kinds(&g[1].engine, anna).await, ["posta-certificata"]);

    clock.advance(SignedDuration::from_secs(60));
    relay_all(&g).await;
    assert!(uno.store().queued().await.unwrap().is_empty());
    assert_eq!(kinds(&g[1].engine, luca).await, ["posta-certificata"]);
    assert_eq!(
        kinds(&g[1].engine, anna).await,
        ["posta-certificata"],
        "Anna not served twice"
    );
}

#[tokio::test]
async fn nothing_waits_in_the_queue_past_24_hours() {
    let (g, clock) = network().await;
    let uno = &g[0].engine;
    let (anna, esterno) = ("anna@pec.due.test", "chi@posta.ordinaria.test");
    let env = Envelope {
        mail_from: "mario@pec.uno.test".into(),
        rcpt_to: vec![anna.into(), esterno.into()],
    };
    let raw = message("mario@pec.uno.test", &format!("{anna}, {esterno}"));
    assert!(matches!(
        uno.submit(&env, &raw).await.unwrap(),
        Submitted::Accettato { .. }
    ));
    let engines = || g.iter().map(|g| g.engine.clone()).collect();
    // Due is busy and the ordinary domain has no route: both jobs wait.
    let busy = Faulty(Loopback(engines(), Mode::Normal), Fault::Busy);
    uno.relay_due(&busy).await.unwrap();
    clock.advance(SignedDuration::from_hours(23));
    uno.relay_due(&busy).await.unwrap();
    assert_eq!(uno.store().queued().await.unwrap().len(), 2);
    assert_eq!(kinds(uno, "mario@pec.uno.test").await, ["accettazione"]);

    // 24 hours after it was queued, a job fails without another try.
    clock.advance(SignedDuration::from_hours(1));
    uno.relay_due(&busy).await.unwrap();
    assert!(uno.store().queued().await.unwrap().is_empty());
    assert!(kinds(&g[1].engine, anna).await.is_empty());
    // The ordinary recipient's sender hears it now; the certified one's from the timers.
    assert_eq!(
        kinds(uno, "mario@pec.uno.test").await,
        ["accettazione", "errore-consegna"]
    );
    let (_, c) = received(uno, "mario@pec.uno.test", "errore-consegna").await;
    let d = c.daticert.unwrap();
    assert_eq!(d.consegna.as_deref(), Some(esterno));
    let errore = d.errore_esteso.unwrap();
    assert!(errore.contains("24 ore"), "{errore}");
}
