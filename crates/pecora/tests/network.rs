//! Two pecora providers talking real SMTP on loopback (`pecora demo`), driven by a real
//! client (Python's smtplib): the whole PEC chain, its unhappy paths, and the legal log.
//! Every message a mailbox ends up with is checked with `pecora verify` against the demo CA,
//! the `openssl` CLI, and `xmllint --dtdvalid`.

#[path = "support/dns_responder.rs"]
mod dns_responder;

#[path = "support/net.rs"]
mod net;

use net::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

#[test]
fn certified_mail_between_two_providers() {
    let net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (ufficio, _) = net.user(1, 0);
    let (luca, _) = net.user(1, 1);
    let esterno = "qualcuno@posta.ordinaria.example";
    let msg = message(
        &mario,
        &format!("{ufficio}, {esterno}"),
        Some(&luca),
        "Contratto n° 12",
        "",
    );
    let reply = net.submit(0, 0, &mario, &[&ufficio, esterno, &luca], &msg);
    assert_eq!(reply["code"], 250, "{reply}");
    let id = identificativo(&reply);
    assert!(id.ends_with("@pec.uno.example"), "{id}");

    // The sender: accettazione at once, then completa for To and sintetica for Cc.
    let acc = net.wait_for(0, &mario, "accettazione", 1);
    let r = &net.verify(&acc)[0];
    assert_eq!(r["daticert"]["identificativo"], id.as_str());
    let labels: Vec<(String, String)> = r["daticert"]["destinatari"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["indirizzo"].as_str().unwrap().into(),
                d["tipo"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        labels.contains(&(ufficio.clone(), "certificato".into())),
        "{labels:?}"
    );
    assert!(
        labels.contains(&(esterno.into(), "esterno".into())),
        "{labels:?}"
    );
    assert!(
        labels.contains(&(luca.clone(), "certificato".into())),
        "{labels:?}"
    );
    let completa = net.wait_for(0, &mario, "avvenuta-consegna-completa", 1);
    let sintetica = net.wait_for(0, &mario, "avvenuta-consegna-sintetica", 1);
    let rs = net.verify(&[completa[0].clone(), sintetica[0].clone()]);
    assert_eq!(rs[0]["daticert"]["consegna"], ufficio.as_str());
    assert_eq!(rs[1]["daticert"]["consegna"], luca.as_str());
    assert!(rs[0]["original_size"].as_u64().unwrap() > 0);
    assert!(rs[1]["original_size"].is_null());

    // The recipients: the busta, unchanged.
    for (p, who) in [(1, &ufficio), (1, &luca)] {
        let busta = net.wait_for(p, who, "posta-certificata", 1);
        let r = &net.verify(&busta)[0];
        assert_eq!(r["daticert"]["identificativo"], id.as_str());
        assert_eq!(r["headers"]["x_trasporto"], "posta-certificata");
    }
    // The sender's gestore: presa in carico in its service mailbox.
    let presa = net.wait_for(0, "ricevute@pec.uno.example", "presa-in-carico", 1);
    let r = &net.verify(&presa)[0];
    assert_eq!(r["daticert"]["ricezione"].as_array().unwrap().len(), 2);

    // Breve on request.
    let msg = message(&mario, &ufficio, None, "Breve", "X-TipoRicevuta: breve\r\n");
    assert_eq!(net.submit(0, 0, &mario, &[&ufficio], &msg)["code"], 250);
    let breve = net.wait_for(0, &mario, "avvenuta-consegna-breve", 1);
    net.verify(&breve);

    // The legal log: history, an intact chain, and receipts re-issued that verify.
    let config = net.config(0);
    let show = net.pecora(&["log", "--config", &config, "show", "--id", &id, "--json"]);
    assert!(show.status.success());
    let kinds: Vec<String> = String::from_utf8_lossy(&show.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for k in [
        "accettazione",
        "posta-certificata",
        "ricevuta-presa-in-carico",
        "ricevuta-avvenuta-consegna",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} not in {kinds:?}");
    }
    let verify = net.pecora(&["log", "--config", &config, "verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let out = net.dir.path().join("reissued");
    let receipts = net.pecora(&[
        "log",
        "--config",
        &config,
        "receipts",
        "--id",
        &id,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        receipts.status.success(),
        "{}",
        String::from_utf8_lossy(&receipts.stderr)
    );
    let files: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!files.is_empty());
    net.verify(&files);

    // Someone edits the accettazione's subject in the database: the chain says so.
    let db = Path::new(&config).parent().unwrap().join("data/pecora.db");
    let edit = Command::new("python3")
        .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE log SET subject='ritoccato' WHERE kind='accettazione'\"); c.commit()", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        edit.status.success(),
        "{}",
        String::from_utf8_lossy(&edit.stderr)
    );
    let verify = net.pecora(&["log", "--config", &config, "verify"]);
    assert_eq!(
        verify.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    assert!(String::from_utf8_lossy(&verify.stdout).contains("BROKEN"));
}

#[test]
fn submission_unhappy_paths() {
    let net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (anna, _) = net.user(0, 1);
    let (ufficio, _) = net.user(1, 0);

    // AUTH as mario, MAIL FROM anna: refused at SMTP.
    let msg = message(&anna, &ufficio, None, "x", "");
    let r = net.submit(0, 0, &anna, &[&ufficio], &msg);
    assert_eq!(
        (r["code"].as_u64(), r["step"].as_str()),
        (Some(553), Some("mail")),
        "{r}"
    );

    // Oversize announced with SIZE=: refused at SMTP.
    let mut args = net.auth_args(0, 0);
    args.extend(["--size".into(), "200000000".into()]);
    let big = message(&mario, &ufficio, None, "big", "");
    let r = net.send(args, &mario, &[&ufficio], big.as_bytes());
    assert_eq!(r["code"], 552, "{r}");

    // Formal exceptions: an avviso di non accettazione each, nothing relayed.
    let bcc = message(&mario, &ufficio, None, "bcc", &format!("Bcc: {anna}\r\n"));
    let r = net.submit(0, 0, &mario, &[&ufficio], &bcc);
    assert_eq!(r["code"], 250, "{r}");
    assert!(r["text"].as_str().unwrap().contains("non accettato"), "{r}");
    let from = message(&anna, &ufficio, None, "from", "");
    assert_eq!(net.submit(0, 0, &mario, &[&ufficio], &from)["code"], 250);
    let hidden = message(&mario, &ufficio, None, "hidden", "");
    assert_eq!(
        net.submit(0, 0, &mario, &[&ufficio, &anna], &hidden)["code"],
        250
    );
    let avvisi = net.wait_for(0, &mario, "non-accettazione", 3);
    let reports = net.verify(&avvisi);
    let esteso: Vec<String> = reports
        .iter()
        .map(|r| r["daticert"]["errore_esteso"].as_str().unwrap().to_string())
        .collect();
    assert!(esteso.iter().any(|e| e.contains("Bcc")), "{esteso:?}");
    assert!(esteso.iter().any(|e| e.contains("From")), "{esteso:?}");
    assert!(
        esteso
            .iter()
            .any(|e| e.contains("non compare nei campi To o Cc")),
        "{esteso:?}"
    );
    assert!(reports.iter().all(|r| r["daticert"]["errore"] == "altro"));
    // Nothing reached the recipient.
    std::thread::sleep(Duration::from_secs(2));
    assert!(net.mailbox(1, &ufficio).is_empty());
}

#[test]
fn delivery_failures_give_coded_avvisi() {
    let net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (ufficio, _) = net.user(1, 0);
    let (luca, _) = net.user(1, 1);
    net.admin(1, &["mailbox-state", &luca, "sospesa"]);
    net.admin(1, &["mailbox-quota", &ufficio, "100"]);
    let nobody = "nessuno@pec.due.example";
    let msg = message(
        &mario,
        &format!("{ufficio}, {luca}, {nobody}"),
        None,
        "Prova errori",
        "",
    );
    assert_eq!(
        net.submit(0, 0, &mario, &[&ufficio, &luca, nobody], &msg)["code"],
        250
    );
    let avvisi = net.wait_for(0, &mario, "errore-consegna", 3);
    let reports = net.verify(&avvisi);
    let mut got: Vec<(String, String, String)> = reports
        .iter()
        .map(|r| {
            let d = &r["daticert"];
            (
                d["consegna"].as_str().unwrap().into(),
                d["errore"].as_str().unwrap().into(),
                d["errore_esteso"].as_str().unwrap().into(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got[0],
        (
            luca.clone(),
            "altro".into(),
            "5.2.1 - Pecora Due S.p.A. - casella disattivata".into()
        )
    );
    assert_eq!(
        got[1],
        (
            nobody.into(),
            "no-dest".into(),
            "5.1.1 - Pecora Due S.p.A. - indirizzo non valido".into()
        )
    );
    assert_eq!(got[2].0, ufficio);
    assert!(got[2].2.starts_with("5.2."), "{got:?}");
}

#[test]
fn reception_point_rejects_or_wraps_what_is_not_pec() {
    let net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (ufficio, _) = net.user(1, 0); // ordinary mail: rifiuta
    let (luca, _) = net.user(1, 1); // ordinary mail: anomalia

    // Ordinary Internet mail.
    let plain = message("someone@internet.example", &ufficio, None, "ciao", "");
    let r = net.to_mx(1, "someone@internet.example", &[&ufficio], plain.as_bytes());
    assert_eq!(r["code"], 550, "{r}");
    let plain = message("someone@internet.example", &luca, None, "ciao", "");
    assert_eq!(
        net.to_mx(1, "someone@internet.example", &[&luca], plain.as_bytes())["code"],
        250
    );
    let anomalie = net.wait_for(1, &luca, "anomalia", 1);
    let r = &net.verify(&anomalie)[0];
    assert!(
        r["headers"]["subject"]
            .as_str()
            .unwrap()
            .starts_with("ANOMALIA MESSAGGIO: ")
    );

    // A real busta, then the same busta modified in transit, and re-signed by an unknown key.
    let msg = message(&mario, &luca, None, "Originale", "");
    assert_eq!(net.submit(0, 0, &mario, &[&luca], &msg)["code"], 250);
    let busta = std::fs::read(&net.wait_for(1, &luca, "posta-certificata", 1)[0]).unwrap();
    let text =
        String::from_utf8_lossy(&busta).replace("Testo del messaggio.", "Testo alterato!!!!.");
    assert_eq!(
        net.to_mx(1, &mario, &[&ufficio], text.as_bytes())["code"],
        550,
        "forged busta to a rifiuta box"
    );
    assert_eq!(net.to_mx(1, &mario, &[&luca], text.as_bytes())["code"], 250);
    net.wait_for(1, &luca, "anomalia", 2);

    let rogue = net.dir.path().join("rogue");
    let out = net.pecora(&["sample", "--out", rogue.to_str().unwrap()]);
    assert!(out.status.success());
    let resigned = std::fs::read(rogue.join("04-posta-certificata.eml")).unwrap();
    assert_eq!(
        net.to_mx(1, "mario.rossi@pec.pecora.example", &[&luca], &resigned)["code"],
        250
    );
    net.wait_for(1, &luca, "anomalia", 3);

    // A receipt validly signed by Due but about a recipient of a domain Due does not manage,
    // and for a sender who is not Mario: not PEC for him, it arrives as an anomalia (the
    // engine's contraffazione tests cover a well-addressed receipt for an unknown message).
    let due = Path::new(&net.config(1)).parent().unwrap().to_path_buf();
    let signed_by_due = net.dir.path().join("by-due");
    let out = net.pecora(&[
        "sample",
        "--out",
        signed_by_due.to_str().unwrap(),
        "--cert",
        due.join("signing-cert.pem").to_str().unwrap(),
        "--key",
        due.join("signing-key.pem").to_str().unwrap(),
        "--ca",
        &net.ca(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let receipt = std::fs::read(signed_by_due.join("11-avvenuta-consegna-sintetica.eml")).unwrap();
    assert_eq!(
        net.to_mx(0, "posta-certificata@pec.due.example", &[&mario], &receipt)["code"],
        250
    );
    net.wait_for(0, &mario, "anomalia", 1);
    assert!(
        !net.mailbox(0, &mario)
            .iter()
            .any(|(kind, _)| kind == "avvenuta-consegna-sintetica")
    );
}

#[test]
fn same_provider_delivery_runs_the_full_chain() {
    let net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (anna, _) = net.user(0, 1);
    let msg = message(&mario, &anna, None, "Stesso gestore", "");
    assert_eq!(net.submit(0, 0, &mario, &[&anna], &msg)["code"], 250);
    net.verify(&net.wait_for(0, &mario, "accettazione", 1));
    net.verify(&net.wait_for(0, &anna, "posta-certificata", 1));
    net.verify(&net.wait_for(0, "ricevute@pec.uno.example", "presa-in-carico", 1));
    net.verify(&net.wait_for(0, &mario, "avvenuta-consegna-completa", 1));
}

#[test]
fn relay_finds_the_peer_through_dns() {
    use dns_responder::{Responder, Zone};
    use std::net::Ipv4Addr;

    let mut net = Net::start();
    // Provider due's MX door, found through a DNS server on loopback: a preferred exchange
    // where nothing listens (127.0.0.2), then the real one, named as in its TLS certificate.
    let dns = Responder::start(
        Zone::new()
            .mx("pec.due.example", 10, "mx.pec.due.example.")
            .mx("pec.due.example", 5, "mx-spento.pec.due.example.")
            .a("mx.pec.due.example", Ipv4Addr::LOCALHOST)
            .a("mx-spento.pec.due.example", Ipv4Addr::new(127, 0, 0, 2))
            .mx("nullo.example", 0, "."),
    );
    let due_mx: i64 = net.port(1, "mx_port").parse().unwrap();
    net.reconfigure(0, |config| {
        let routes = config["routes"].as_table_mut().unwrap();
        assert!(routes.remove("pec.due.example").is_some());
        let mut section = toml::Table::new();
        section.insert("enabled".into(), true.into());
        section.insert("resolver".into(), dns.addr.to_string().into());
        section.insert("smtp_port".into(), due_mx.into());
        config.insert("dns".into(), section.into());
    });

    let (mario, _) = net.user(0, 0);
    let (ufficio, _) = net.user(1, 0);
    let esterno = "qualcuno@nullo.example";
    let msg = message(
        &mario,
        &format!("{ufficio}, {esterno}"),
        None,
        "Via DNS",
        "",
    );
    let reply = net.submit(0, 0, &mario, &[&ufficio, esterno], &msg);
    assert_eq!(reply["code"], 250, "{reply}");
    let id = identificativo(&reply);

    // The whole chain, through DNS.
    net.verify(&net.wait_for(0, &mario, "accettazione", 1));
    let busta = net.wait_for(1, &ufficio, "posta-certificata", 1);
    assert_eq!(
        net.verify(&busta)[0]["daticert"]["identificativo"],
        id.as_str()
    );
    let consegna = net.wait_for(0, &mario, "avvenuta-consegna-completa", 1);
    assert_eq!(
        net.verify(&consegna)[0]["daticert"]["consegna"],
        ufficio.as_str()
    );
    assert!(dns.asked_for("pec.due.example") >= 1);
    assert!(dns.asked_for("mx-spento.pec.due.example") >= 1);
    assert!(dns.asked_for("mx.pec.due.example") >= 1);

    // The null MX domain accepts no mail: an avviso di mancata consegna for the ordinary
    // recipient, at once rather than after retries, with NOTA 12's code for a bad domain.
    let avviso = net.wait_for(0, &mario, "errore-consegna", 1);
    let r = &net.verify(&avviso)[0];
    assert_eq!(r["daticert"]["consegna"], esterno);
    assert_eq!(r["daticert"]["identificativo"], id.as_str());
    assert_eq!(r["daticert"]["errore"], "no-dominio");
    assert_eq!(
        r["daticert"]["errore_esteso"],
        "5.1.2 - Pecora Uno S.p.A. - dominio non valido"
    );
    assert!(dns.asked_for("nullo.example") >= 1);
}

#[test]
fn queue_shows_and_retries_jobs_that_cannot_leave() {
    let net = Net::start();
    let (mario, _) = net.user(0, 0);
    // An ordinary recipient in a domain with no route (the demo does no DNS).
    let esterno = "chi@nessuna.rotta.example";
    let msg = message(&mario, esterno, None, "in coda", "");
    let reply = net.submit(0, 0, &mario, &[esterno], &msg);
    let id = identificativo(&reply);
    let config = net.config(0);
    let list = |net: &Net| -> Vec<Value> {
        let out = net.pecora(&["queue", "--config", &config, "list", "--json"]);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    wait_until(Duration::from_secs(30), "a failed attempt", || {
        list(&net)
            .iter()
            .any(|j| j["identificativo"] == id.as_str() && j["attempts"].as_u64() >= Some(1))
    });
    let job = list(&net)
        .into_iter()
        .find(|j| j["identificativo"] == id.as_str())
        .unwrap();
    assert_eq!(job["domain"], "nessuna.rotta.example");
    assert!(
        job["last_error"].as_str().unwrap().contains("no route"),
        "{job}"
    );
    let before = job["attempts"].as_u64().unwrap();
    let retry = net.pecora(&[
        "queue",
        "--config",
        &config,
        "retry",
        &job["id"].to_string(),
    ]);
    assert!(
        retry.status.success(),
        "{}",
        String::from_utf8_lossy(&retry.stderr)
    );
    let after = list(&net)
        .into_iter()
        .find(|j| j["identificativo"] == id.as_str())
        .unwrap();
    assert!(after["attempts"].as_u64().unwrap() > before);
    let missing = net.pecora(&["queue", "--config", &config, "retry", "999999"]);
    assert!(!missing.status.success());
}
