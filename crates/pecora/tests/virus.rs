//! Viruses through two real `pecora` providers on loopback with a real clamd (ClamAV's daemon
//! with our own EICAR signatures): the recipient gestore finds a virus in a busta (avviso di
//! rilevazione virus, then the sender's mancata consegna per virus), the sender gestore finds
//! one at submission (avviso di non accettazione per virus), infected ordinary mail is refused
//! at the MX, both blocked messages land in the virus archive (`pecora virus list/export`),
//! and clamd down means a temporary failure, never an unscanned certification.

#[path = "../../engine/tests/support/clamd.rs"]
mod clamd;
#[path = "support/net.rs"]
mod net;

use clamd::{EICAR, TestClamd};
use net::*;
use serde_json::Value;

/// A message from `from` to `to` carrying the EICAR test file in its body.
fn infected(from: &str, to: &str, subject: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{}@client.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{}\r\n",
        unique(),
        std::str::from_utf8(EICAR).unwrap()
    )
}

/// Gives provider p an `[antivirus]` section pointing at `clamd`, and restarts the network.
fn scan_with(net: &mut Net, p: usize, clamd: &TestClamd) {
    let address = clamd.tcp_address();
    net.reconfigure(p, |config| {
        let mut section = toml::Table::new();
        section.insert("clamd".into(), address.into());
        section.insert("timeout_seconds".into(), 10.into());
        config.insert("antivirus".into(), section.into());
    });
}

/// `pecora virus --config <p> list --json`.
fn virus_list(net: &Net, p: usize) -> Vec<Value> {
    let config = net.config(p);
    let out = net.pecora(&["virus", "--config", &config, "list", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Exports record `id` of provider p's virus archive; returns the blocked bytes.
fn virus_export(net: &Net, p: usize, id: u64) -> Vec<u8> {
    let config = net.config(p);
    let dir = net.dir.path().join(format!("virus-{}", unique()));
    let id = id.to_string();
    let out = net.pecora(&[
        "virus",
        "--config",
        &config,
        "export",
        &id,
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eml = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(eml, dir.join(format!("{id}.eml")).to_str().unwrap());
    let meta: Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{id}.json"))).unwrap()).unwrap();
    assert_eq!(meta["id"].to_string(), id);
    std::fs::read(eml).unwrap()
}

#[test]
fn viruses_between_two_providers_with_a_real_clamd() {
    let clamd = TestClamd::start();
    let mut net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (ufficio, _) = net.user(1, 0);
    let (luca, _) = net.user(1, 1);
    let ricevute_uno = net.demo["providers"][0]["service_mailbox"]
        .as_str()
        .unwrap()
        .to_string();

    // Recipient side: only Due scans, so the busta leaves Uno and Due finds the virus.
    scan_with(&mut net, 1, &clamd);
    let r = net.submit(
        0,
        0,
        &mario,
        &[&ufficio],
        &infected(&mario, &ufficio, "Fattura"),
    );
    assert_eq!(r["code"], 250, "{r}");
    let id = identificativo(&r);
    let rilevazione = net.wait_for(0, &ricevute_uno, "rilevazione-virus", 1);
    let avviso = net.wait_for(0, &mario, "errore-consegna-virus", 1);
    let reports = net.verify(&[rilevazione[0].clone(), avviso[0].clone()]);
    for r in &reports {
        assert_eq!(r["daticert"]["identificativo"], id.as_str(), "{r}");
        assert_eq!(r["daticert"]["errore"], "virus", "{r}");
    }
    let kinds: Vec<String> = net
        .mailbox(1, &ufficio)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(
        kinds.is_empty(),
        "the infected busta was delivered: {kinds:?}"
    );
    let kinds: Vec<String> = net.mailbox(0, &mario).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds,
        ["accettazione", "errore-consegna-virus"],
        "no consegna, no timeout notice later"
    );
    let records = virus_list(&net, 1);
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["point"], "ricezione");
    assert_eq!(record["identificativo"], id.as_str());
    assert_eq!(record["sender"], mario.as_str());
    assert_eq!(record["gestore"], net.demo["providers"][0]["name"]);
    assert!(
        record["virus"].as_str().unwrap().contains("Eicar"),
        "{record}"
    );
    let busta = virus_export(&net, 1, record["id"].as_u64().unwrap());
    let busta = pec::classify(&busta).unwrap();
    assert_eq!(busta.kind, Some(pec::Kind::PostaCertificata));
    assert!(virus_list(&net, 0).is_empty(), "Uno found nothing");

    // Ordinary mail with a virus is refused at the MX, not wrapped in an anomalia for Luca
    // (whose box accepts ordinary mail).
    let from = "qualcuno@posta.ordinaria.example";
    let r = net.to_mx(1, from, &[&luca], infected(from, &luca, "Ciao").as_bytes());
    assert_eq!(r["code"], 554, "{r}");
    assert!(r["text"].as_str().unwrap().contains("virus"), "{r}");
    assert!(net.mailbox(1, &luca).is_empty());

    // Sender side: Uno scans too, and refuses the message at its punto di accesso.
    scan_with(&mut net, 0, &clamd);
    let message = infected(&mario, &ufficio, "Fattura di nuovo");
    let r = net.submit(0, 0, &mario, &[&ufficio], &message);
    assert_eq!(r["code"], 250, "{r}");
    assert!(r["text"].as_str().unwrap().contains("non accettato"), "{r}");
    let avviso = net.wait_for(0, &mario, "non-accettazione-virus", 1);
    let report = &net.verify(&avviso)[0];
    assert_eq!(report["daticert"]["errore"], "virus", "{report}");
    let records = virus_list(&net, 0);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["point"], "accesso");
    assert_eq!(records[0]["recipients"], serde_json::json!([ufficio]));
    let blocked = virus_export(&net, 0, records[0]["id"].as_u64().unwrap());
    assert_eq!(blocked, message.as_bytes(), "kept as submitted");
    assert_eq!(virus_list(&net, 1).len(), 1, "nothing more reached Due");

    // clamd down: a temporary failure, and nothing certified.
    drop(clamd);
    let before = net.mailbox(0, &mario).len();
    let clean = format!(
        "From: {mario}\r\nTo: {ufficio}\r\nSubject: Pulito\r\nMessage-ID: <{}@client.test>\r\n\r\nNiente virus.\r\n",
        unique()
    );
    let r = net.submit(0, 0, &mario, &[&ufficio], &clean);
    assert_eq!(
        (r["code"].as_u64(), r["step"].as_str()),
        (Some(451), Some("data")),
        "{r}"
    );
    assert_eq!(
        net.mailbox(0, &mario).len(),
        before,
        "no receipt without a scan"
    );
}
