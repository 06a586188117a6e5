//! Two pecora providers talking real SMTP on loopback (`pecora demo`), driven by a real
//! client (Python's smtplib): the whole PEC chain, its unhappy paths, and the legal log.
//! Every message a mailbox ends up with is checked with `pecora verify` against the demo CA,
//! the `openssl` CLI, and `xmllint --dtdvalid`.

#[path = "support/dns_responder.rs"]
mod dns_responder;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const PECORA: &str = env!("CARGO_BIN_EXE_pecora");

struct Net {
    dir: tempfile::TempDir,
    child: Child,
    demo: Value,
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_demo(dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join("demo.stderr")).unwrap();
    Command::new(PECORA)
        .args(["demo", "--dir", dir.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start pecora demo")
}

impl Net {
    fn start() -> Net {
        let dir = tempfile::tempdir().unwrap();
        let child = spawn_demo(dir.path());
        let json = dir.path().join("demo.json");
        let mut net = Net {
            dir,
            child,
            demo: Value::Null,
        };
        // Generous: on a loaded 2-core CI machine several demos start at once.
        net.wait_alive(Duration::from_secs(180), "demo.json", || json.exists());
        net.demo = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        net.wait_listening();
        net
    }

    fn wait_listening(&mut self) {
        for p in 0..2 {
            for port in ["submission_port", "mx_port"] {
                let port = self.demo["providers"][p][port].as_u64().unwrap();
                self.wait_alive(Duration::from_secs(120), "listening", || {
                    std::net::TcpStream::connect(("127.0.0.1", port as u16)).is_ok()
                });
            }
        }
    }

    /// Waits for `f`, failing at once (with the demo's stderr) if the demo process exited.
    fn wait_alive(&mut self, limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !f() {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.path().join("demo.stderr"))
                    .unwrap_or_default();
                panic!("pecora demo exited ({status}) before {what}:\n{log}");
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the network, lets `edit` change provider p's `pecora.toml`, and starts it again
    /// (the demo reuses its demo.json, configurations and data).
    fn reconfigure(&mut self, p: usize, edit: impl FnOnce(&mut toml::Table)) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let path = self.config(p);
        let mut config: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        edit(&mut config);
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        self.child = spawn_demo(self.dir.path());
        self.wait_listening();
    }

    fn ca(&self) -> String {
        self.demo["ca"].as_str().unwrap().to_string()
    }

    fn config(&self, p: usize) -> String {
        self.demo["providers"][p]["config"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn user(&self, p: usize, n: usize) -> (String, String) {
        let u = &self.demo["providers"][p]["users"][n];
        (
            u["address"].as_str().unwrap().into(),
            u["password"].as_str().unwrap().into(),
        )
    }

    fn port(&self, p: usize, which: &str) -> String {
        self.demo["providers"][p][which]
            .as_u64()
            .unwrap()
            .to_string()
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// Client arguments to log in as user (p, n) on its submission door with STARTTLS.
    fn auth_args(&self, p: usize, n: usize) -> Vec<String> {
        let (user, password) = self.user(p, n);
        let port = self.port(p, "submission_port");
        [
            "--port",
            &port,
            "--ca",
            &self.ca(),
            "--user",
            &user,
            "--password",
            &password,
        ]
        .map(String::from)
        .to_vec()
    }

    /// Runs the SMTP client with `args` (connection and login) for one transaction.
    fn send(&self, mut args: Vec<String>, mail_from: &str, rcpt: &[&str], message: &[u8]) -> Value {
        let file = self.file(&format!("msg-{}.eml", unique()), message);
        args.extend([
            "--mail-from".into(),
            mail_from.into(),
            "--file".into(),
            file.to_str().unwrap().into(),
        ]);
        for r in rcpt {
            args.extend(["--rcpt".to_string(), r.to_string()]);
        }
        client(&args)
    }

    /// Submits as user (p, n) with STARTTLS + AUTH; returns the client's view of the outcome.
    fn submit(&self, p: usize, n: usize, mail_from: &str, rcpt: &[&str], message: &str) -> Value {
        self.send(self.auth_args(p, n), mail_from, rcpt, message.as_bytes())
    }

    /// Plain SMTP to provider p's MX, as the Internet (or another gestore) would.
    fn to_mx(&self, p: usize, mail_from: &str, rcpt: &[&str], message: &[u8]) -> Value {
        let args = vec![
            "--port".into(),
            self.port(p, "mx_port"),
            "--mode".into(),
            "plain".into(),
        ];
        self.send(args, mail_from, rcpt, message)
    }

    fn admin(&self, p: usize, args: &[&str]) -> Output {
        let config = self.config(p);
        let mut all = vec!["admin", "--config", &config];
        all.extend_from_slice(args);
        let out = Command::new(PECORA)
            .args(&all)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn pecora(&self, args: &[&str]) -> Output {
        Command::new(PECORA)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    }

    /// The messages in a mailbox, as (kind, path).
    fn mailbox(&self, p: usize, address: &str) -> Vec<(String, PathBuf)> {
        let out = self.dir.path().join(format!("export-{}", unique()));
        let listing = self.admin(
            p,
            &["mailbox-export", address, "--out", out.to_str().unwrap()],
        );
        String::from_utf8_lossy(&listing.stdout)
            .lines()
            .map(|l| {
                let path = PathBuf::from(l);
                let name = path.file_stem().unwrap().to_str().unwrap().to_string();
                let kind = name.split_once('-').unwrap().1.to_string();
                (kind, path)
            })
            .collect()
    }

    /// Waits until `address` holds `count` messages of `kind`; returns their paths.
    fn wait_for(&self, p: usize, address: &str, kind: &str, count: usize) -> Vec<PathBuf> {
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            let found: Vec<PathBuf> = self
                .mailbox(p, address)
                .into_iter()
                .filter(|(k, _)| k == kind)
                .map(|(_, p)| p)
                .collect();
            if found.len() >= count {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{address} never got {count} × {kind}: {:?}",
                self.mailbox(p, address)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// `pecora verify --json --ca` over files: every report must be ok.
    fn verify(&self, files: &[PathBuf]) -> Vec<Value> {
        let ca = self.ca();
        let mut args = vec!["verify", "--json", "--ca", &ca];
        let names: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
        args.extend(names);
        let out = self.pecora(&args);
        let reports: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for r in &reports {
            assert_eq!(r["ok"], true, "{r}");
            openssl_verifies(r["file"].as_str().unwrap(), &self.ca());
            if let Some(d) = r["daticert"].as_object() {
                dtd_valid(
                    &serde_json::Value::Object(d.clone()),
                    r["file"].as_str().unwrap(),
                );
            }
        }
        reports
    }
}

fn client(args: &[String]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_client.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed");
    assert!(
        out.status.success(),
        "smtp client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("client said {}", String::from_utf8_lossy(&out.stdout)))
}

fn openssl_verifies(file: &str, ca: &str) {
    let out = Command::new("openssl")
        .args([
            "smime",
            "-verify",
            "-in",
            file,
            "-CAfile",
            ca,
            "-purpose",
            "smimesign",
            "-out",
            "/dev/null",
        ])
        .output()
        .expect("openssl CLI");
    assert!(
        out.status.success(),
        "openssl on {file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Re-reads the file's daticert with the classifier and validates it with xmllint.
fn dtd_valid(_: &Value, file: &str) {
    let raw = std::fs::read(file).unwrap();
    let c = pec::classify(&raw).unwrap();
    let Some(d) = c.daticert else { return };
    let xml = format!("{file}.daticert.xml");
    std::fs::write(&xml, d.to_xml()).unwrap();
    let dtd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pec/dtd/daticert.dtd");
    let out = Command::new("xmllint")
        .args(["--noout", "--dtdvalid", dtd.to_str().unwrap(), &xml])
        .output()
        .expect("xmllint (libxml2-utils)");
    assert!(
        out.status.success(),
        "{file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn message(from: &str, to: &str, cc: Option<&str>, subject: &str, extra: &str) -> String {
    let cc = cc.map(|c| format!("Cc: {c}\r\n")).unwrap_or_default();
    format!(
        "From: {from}\r\nTo: {to}\r\n{cc}Subject: {subject}\r\nMessage-ID: <{}@client.test>\r\n{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTesto del messaggio.\r\n",
        unique()
    )
}

fn identificativo(reply: &Value) -> String {
    let text = reply["text"].as_str().unwrap();
    text.rsplit("identificativo ")
        .next()
        .unwrap()
        .trim()
        .to_string()
}

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

    // A validly signed receipt about a message provider uno never sent: delivered, logged.
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
    net.wait_for(0, &mario, "avvenuta-consegna-sintetica", 1);
    let unknown = pec::classify(&receipt)
        .unwrap()
        .daticert
        .unwrap()
        .identificativo;
    let config = net.config(0);
    let show = net.pecora(&[
        "log", "--config", &config, "show", "--id", &unknown, "--json",
    ]);
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("\"kind\":\"ricevuta-sconosciuta\""),
        "{}",
        String::from_utf8_lossy(&show.stdout)
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
    // recipient, at once rather than after retries.
    let avviso = net.wait_for(0, &mario, "errore-consegna", 1);
    let r = &net.verify(&avviso)[0];
    assert_eq!(r["daticert"]["consegna"], esterno);
    assert_eq!(r["daticert"]["identificativo"], id.as_str());
    let esteso = r["daticert"]["errore_esteso"].as_str().unwrap();
    assert!(
        esteso.contains("nullo.example accepts no mail (null MX"),
        "{esteso}"
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
