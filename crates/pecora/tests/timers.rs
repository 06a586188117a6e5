//! The delivery timers (spec §4.4) through two real `pecora` providers on loopback, with time
//! travel by `pecora timers --as-of`: a peer that cannot be reached gets its sender the 12 h
//! preavviso and the final notice, for the unreached recipient only, each once; a consegna
//! that arrives between 12 h and 24 h leaves only the 12 h notice; a presa in carico whose
//! consegna never arrives gives only the final notice; and once the peer is back, delivery
//! completes with no receipt twice. Every notice verifies with `pecora verify`, the `openssl`
//! CLI and `xmllint --dtdvalid`.

#[path = "support/net.rs"]
mod net;

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use net::*;
use serde_json::Value;

/// Runs one timer sweep on provider p as if the clock read `start + after`; returns how many
/// notices it issued.
fn sweep(net: &Net, p: usize, start: Timestamp, after: SignedDuration) -> u64 {
    let as_of = (start + after).to_string();
    let out = net.operator(p, "timers", &["--as-of", &as_of]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("timers said {text:?}"))
}

fn hours(h: i64, minutes: i64) -> SignedDuration {
    SignedDuration::from_hours(h) + SignedDuration::from_mins(minutes)
}

/// A port where nothing listens.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Points provider p's static route for `domain` at `target` and restarts the network.
fn route(net: &mut Net, p: usize, domain: &str, target: &str) {
    net.reconfigure(p, |config| {
        config["routes"]
            .as_table_mut()
            .unwrap()
            .insert(domain.into(), target.into());
    });
}

/// The timeout notices in `address`'s box (on provider p), as (recipient, hours), each
/// checked with the verifiers and found to be about `identificativi`.
fn timeouts(net: &Net, p: usize, address: &str) -> Vec<(String, u8)> {
    let mut out = Vec::new();
    for (kind, file) in net.mailbox(p, address) {
        let h = match kind.as_str() {
            "preavviso-errore-consegna-12h" => 12,
            "preavviso-errore-consegna-24h" => 24,
            _ => continue,
        };
        let report = &net.verify(&[file])[0];
        assert_eq!(
            report["daticert"]["tipo"], "preavviso-errore-consegna",
            "{report}"
        );
        out.push((
            report["daticert"]["consegna"].as_str().unwrap().to_string(),
            h,
        ));
    }
    out.sort();
    out
}

/// How many messages of each kind `address` holds, as "kind×n" (sorted), after checking
/// every one with the verifiers.
fn census(net: &Net, p: usize, address: &str) -> Vec<String> {
    let messages = net.mailbox(p, address);
    let files: Vec<_> = messages.iter().map(|(_, f)| f.clone()).collect();
    net.verify(&files);
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for (kind, _) in messages {
        *counts.entry(kind).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(k, n)| format!("{k}×{n}"))
        .collect()
}

/// The queued jobs of provider p about `id`.
fn jobs(net: &Net, p: usize, id: &str) -> Vec<Value> {
    net.queue(p)
        .into_iter()
        .filter(|j| j["identificativo"] == id)
        .collect()
}

#[test]
fn peer_down_then_back_and_a_late_consegna() {
    let mut net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (anna, _) = net.user(0, 1);
    let (ufficio, _) = net.user(1, 0);
    let due_mx = format!("127.0.0.1:{}", net.port(1, "mx_port"));
    let dead = format!("127.0.0.1:{}", dead_port());

    // Due cannot be reached; Anna, on Uno itself, can.
    route(&mut net, 0, "pec.due.example", &dead);
    let start = Timestamp::now();
    let msg = message(&mario, &ufficio, Some(&anna), "Gestore irraggiungibile", "");
    let id = identificativo(&net.submit(0, 0, &mario, &[&ufficio, &anna], &msg));
    net.wait_for(0, &mario, "avvenuta-consegna-sintetica", 1);

    assert_eq!(
        sweep(&net, 0, start, hours(11, 50)),
        0,
        "nothing before 12 h"
    );
    assert_eq!(sweep(&net, 0, start, hours(12, 2)), 1);
    assert_eq!(
        timeouts(&net, 0, &mario),
        [(ufficio.clone(), 12)],
        "Ufficio only"
    );
    assert_eq!(
        sweep(&net, 0, start, hours(12, 30)),
        0,
        "the preavviso once"
    );
    assert_eq!(
        sweep(&net, 0, start, hours(21, 50)),
        0,
        "no final notice before 22 h"
    );
    assert_eq!(sweep(&net, 0, start, hours(22, 2)), 1);
    assert_eq!(
        sweep(&net, 0, start, hours(23, 0)),
        0,
        "the final notice once"
    );
    assert_eq!(
        timeouts(&net, 0, &mario),
        [(ufficio.clone(), 12), (ufficio.clone(), 24)]
    );
    assert!(
        jobs(&net, 0, &id)[0]["attempts"].as_u64() >= Some(1),
        "the busta waits in the queue"
    );

    // The peer is back: the busta goes, its consegna comes, and nothing is issued twice.
    route(&mut net, 0, "pec.due.example", &due_mx);
    net.queue_retry(0, &[]);
    net.wait_for(1, &ufficio, "posta-certificata", 1);
    net.wait_for(0, &mario, "avvenuta-consegna-completa", 1);
    assert_eq!(sweep(&net, 0, start, hours(25, 0)), 0);
    assert_eq!(
        census(&net, 0, &mario),
        [
            "accettazione×1",
            "avvenuta-consegna-completa×1",
            "avvenuta-consegna-sintetica×1",
            "preavviso-errore-consegna-12h×1",
            "preavviso-errore-consegna-24h×1"
        ]
    );
    assert_eq!(census(&net, 1, &ufficio), ["posta-certificata×1"]);

    // A consegna late, between 12 h and 24 h: the preavviso only.
    route(&mut net, 0, "pec.due.example", &dead);
    let start = Timestamp::now();
    let msg = message(&mario, &ufficio, None, "Consegna in ritardo", "");
    let late = identificativo(&net.submit(0, 0, &mario, &[&ufficio], &msg));
    assert_eq!(sweep(&net, 0, start, hours(12, 2)), 1);
    route(&mut net, 0, "pec.due.example", &due_mx);
    net.queue_retry(0, &[]);
    net.wait_for(0, &mario, "avvenuta-consegna-completa", 2);
    assert!(jobs(&net, 0, &late).is_empty());
    assert_eq!(
        sweep(&net, 0, start, hours(22, 2)),
        0,
        "delivered: no final notice"
    );
    assert_eq!(sweep(&net, 0, start, hours(24, 0)), 0);
    assert_eq!(
        census(&net, 0, &mario),
        [
            "accettazione×2",
            "avvenuta-consegna-completa×2",
            "avvenuta-consegna-sintetica×1",
            "preavviso-errore-consegna-12h×2",
            "preavviso-errore-consegna-24h×1"
        ]
    );
}

#[test]
fn presa_in_carico_without_consegna_gets_only_the_final_notice() {
    let mut net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (ufficio, _) = net.user(1, 0);
    let ricevute = net.demo["providers"][0]["service_mailbox"]
        .as_str()
        .unwrap()
        .to_string();
    let uno_mx = format!("127.0.0.1:{}", net.port(0, "mx_port"));
    let dead = format!("127.0.0.1:{}", dead_port());

    // Due receives the busta but cannot send its receipts back.
    route(&mut net, 1, "pec.uno.example", &dead);
    let start = Timestamp::now();
    let msg = message(&mario, &ufficio, None, "Presa in carico soltanto", "");
    let id = identificativo(&net.submit(0, 0, &mario, &[&ufficio], &msg));
    net.wait_for(1, &ufficio, "posta-certificata", 1);
    let failed = |net: &Net, rcpt: &str, attempts: u64| {
        jobs(net, 1, &id).into_iter().find(|j| {
            j["rcpt_to"][0] == rcpt && j["attempts"].as_u64().is_some_and(|a| a >= attempts)
        })
    };
    wait_until(Duration::from_secs(60), "Due's receipts to fail", || {
        failed(&net, &ricevute, 1).is_some() && failed(&net, &mario, 1).is_some()
    });
    // Push the consegna's next attempt minutes away (the backoff doubles per failure)...
    for _ in 0..2 {
        let job = failed(&net, &mario, 1).unwrap();
        let asked = Timestamp::now().as_second();
        net.queue_retry(1, &[job["id"].as_u64().unwrap()]);
        wait_until(Duration::from_secs(60), "the retry to fail", || {
            failed(&net, &mario, 1)
                .and_then(|j| j["next_attempt"].as_i64())
                .is_some_and(|t| t > asked + 30)
        });
    }
    // ...and let the presa in carico alone through.
    let presa = failed(&net, &ricevute, 1).unwrap()["id"].as_u64().unwrap();
    route(&mut net, 1, "pec.uno.example", &uno_mx);
    net.queue_retry(1, &[presa]);
    net.wait_for(0, &ricevute, "presa-in-carico", 1);
    route(&mut net, 1, "pec.uno.example", &dead);
    assert_eq!(jobs(&net, 1, &id).len(), 1, "the consegna is still at Due");

    assert_eq!(
        sweep(&net, 0, start, hours(12, 2)),
        0,
        "taken in charge: no preavviso"
    );
    assert_eq!(sweep(&net, 0, start, hours(21, 50)), 0);
    assert_eq!(sweep(&net, 0, start, hours(22, 2)), 1);
    assert_eq!(sweep(&net, 0, start, hours(23, 0)), 0);
    assert_eq!(timeouts(&net, 0, &mario), [(ufficio.clone(), 24)]);

    // The consegna arrives after all, once.
    route(&mut net, 1, "pec.uno.example", &uno_mx);
    net.queue_retry(1, &[]);
    net.wait_for(0, &mario, "avvenuta-consegna-completa", 1);
    assert_eq!(sweep(&net, 0, start, hours(25, 0)), 0);
    assert_eq!(
        census(&net, 0, &mario),
        [
            "accettazione×1",
            "avvenuta-consegna-completa×1",
            "preavviso-errore-consegna-24h×1"
        ]
    );
    assert_eq!(census(&net, 0, &ricevute), ["presa-in-carico×1"]);
}
