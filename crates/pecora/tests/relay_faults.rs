//! Relay faults over real SMTP, through the binary: provider uno (`pecora demo`) relays to
//! peers that misbehave on purpose (`tests/fault_peer.py`: unreachable, 4xx, 5xx, TLS that
//! fails, stalls), and the tests check what the sender sees in the mailbox, what
//! `pecora queue list --json` shows, and that once the route heals (back to the real
//! pec.due.example) and `pecora queue retry` runs, each message is delivered exactly once.
//! Every receipt is checked with `pecora verify`, the `openssl` CLI and `xmllint`.

#[path = "support/net.rs"]
mod net;

use net::*;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// A `fault_peer.py` process: a scriptable SMTP server where a peer's MX would be.
struct FaultPeer {
    child: Child,
    log: PathBuf,
    /// `host:port`, as a `[routes]` entry.
    addr: String,
}

impl FaultPeer {
    /// Starts the peer with `args` (see the script's doc), on 127.0.0.1 unless `--bind` says.
    fn start(net: &Net, args: &[&str]) -> FaultPeer {
        let log = net.dir.path().join(format!("peer-{}.jsonl", unique()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fault_peer.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--log")
            .arg(&log)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is needed");
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        let host = args
            .iter()
            .position(|a| *a == "--bind")
            .map_or("127.0.0.1", |i| args[i + 1]);
        let port: u16 = port.trim().parse().expect("the peer prints its port");
        FaultPeer {
            child,
            log,
            addr: format!("{host}:{port}"),
        }
    }

    /// What the peer saw, in order.
    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The events named `event`.
    fn seen(&self, event: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == event)
            .collect()
    }
}

impl Drop for FaultPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Provider due's domain: certified recipients.
const DUE: &str = "pec.due.example";

/// Provider due's TLS certificate and key: valid (demo CA) for 127.0.0.1, not 127.0.0.2.
fn due_tls(net: &Net) -> [String; 2] {
    let dir = Path::new(&net.config(1)).parent().unwrap().to_path_buf();
    ["tls-cert.pem", "tls-key.pem"].map(|f| dir.join(f).to_str().unwrap().to_string())
}

/// Routes pec.due.example back to where provider due really listens, and restarts.
fn heal(net: &mut Net) {
    let real = format!("127.0.0.1:{}", net.port(1, "mx_port"));
    route(net, &[(DUE, &real)], None);
}

/// Restarts the network with provider uno's `[routes]` entries set (and its relay timeout).
fn route(net: &mut Net, routes: &[(&str, &str)], timeout_seconds: Option<i64>) {
    net.reconfigure(0, |config| {
        let table = config["routes"].as_table_mut().unwrap();
        for (domain, addr) in routes {
            table.insert(domain.to_string(), addr.to_string().into());
        }
        if let Some(t) = timeout_seconds {
            let mut relay = toml::Table::new();
            relay.insert("timeout_seconds".into(), t.into());
            config.insert("relay".into(), relay.into());
        }
    });
}

/// Submits as mario (provider uno) to `to`; returns the identificativo.
fn submit(net: &Net, to: &[&str], subject: &str) -> String {
    let (mario, _) = net.user(0, 0);
    let msg = message(&mario, &to.join(", "), None, subject, "");
    let reply = net.submit(0, 0, &mario, to, &msg);
    assert_eq!(reply["code"], 250, "{reply}");
    identificativo(&reply)
}

/// Provider uno's relay job for message `id` to `domain`, if queued.
fn job(net: &Net, id: &str, domain: &str) -> Option<Value> {
    net.queue(0)
        .into_iter()
        .find(|j| j["identificativo"] == id && j["domain"] == domain)
}

/// Waits until the job for `id` to `domain` has at least `attempts` failed attempts.
fn wait_job(net: &Net, id: &str, domain: &str, attempts: u64) -> Value {
    let mut found = None;
    wait_until(
        Duration::from_secs(60),
        &format!("{attempts} attempts of {id} to {domain}"),
        || {
            found = job(net, id, domain).filter(|j| j["attempts"].as_u64() >= Some(attempts));
            found.is_some()
        },
    );
    found.unwrap()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The job's last error names `cause`, and its next attempt is its backoff (one minute,
/// doubling with each attempt, at most an hour) after that attempt, a moment ago.
fn assert_deferred(job: &Value, cause: &str) {
    let error = job["last_error"].as_str().unwrap_or_default();
    assert!(error.contains(cause), "{cause:?} not in {job}");
    let attempts = job["attempts"].as_u64().unwrap();
    let backoff = (60i64 << (attempts - 1).min(6)).min(3600);
    let wait = job["next_attempt"].as_i64().unwrap() - now();
    assert!(
        (backoff - 30..=backoff).contains(&wait),
        "{job}: next attempt in {wait} s, backoff {backoff} s"
    );
}

/// Makes the job due now and waits for the relay's next attempt; returns the job after it.
fn retry_and_wait(net: &Net, job: &Value) -> Value {
    let (id, domain) = (
        job["identificativo"].as_str().unwrap(),
        job["domain"].as_str().unwrap(),
    );
    net.queue_retry(0, &[job["id"].as_u64().unwrap()]);
    // `queue retry` counts one attempt, the relay's failure another.
    let after = wait_job(net, id, domain, job["attempts"].as_u64().unwrap() + 2);
    assert_eq!(after["id"], job["id"], "the same job waits");
    after
}

/// The kinds in a mailbox, sorted.
fn kinds(net: &Net, p: usize, address: &str) -> Vec<String> {
    let mut k: Vec<String> = net
        .mailbox(p, address)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    k.sort();
    k
}

/// Waits until both relay queues are empty: every busta and receipt has arrived.
fn wait_quiet(net: &Net) {
    wait_until(Duration::from_secs(60), "empty relay queues", || {
        net.queue(0).is_empty() && net.queue(1).is_empty()
    });
}

/// Everything in the mailboxes verifies (pecora verify, openssl, xmllint).
fn verify_all(net: &Net, boxes: &[(usize, &str)]) {
    let files: Vec<PathBuf> = boxes
        .iter()
        .flat_map(|(p, a)| net.mailbox(*p, a).into_iter().map(|(_, f)| f))
        .collect();
    net.verify(&files);
}

/// The daticert of each avviso di mancata consegna in mario's box, as
/// (consegna, errore, errore-esteso).
fn avvisi(net: &Net) -> Vec<(String, String, String)> {
    let (mario, _) = net.user(0, 0);
    let files: Vec<PathBuf> = net
        .mailbox(0, &mario)
        .into_iter()
        .filter(|(k, _)| k == "errore-consegna")
        .map(|(_, f)| f)
        .collect();
    net.verify(&files)
        .iter()
        .map(|r| {
            let d = &r["daticert"];
            let s = |k: &str| d[k].as_str().unwrap_or_default().to_string();
            (s("consegna"), s("errore"), s("errore_esteso"))
        })
        .collect()
}

#[test]
fn temporary_faults_wait_in_the_queue_then_leave_once() {
    let mut net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (ufficio, _) = net.user(1, 0);
    let (luca, _) = net.user(1, 1);

    // Unreachable: a port where nothing listens.
    let dead = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    route(&mut net, &[(DUE, &dead)], None);
    let irraggiungibile = submit(&net, &[&ufficio], "irraggiungibile");
    let job = wait_job(&net, &irraggiungibile, DUE, 1);
    assert_deferred(&job, &format!("connecting ({dead}): Connection refused"));
    let job = retry_and_wait(&net, &job);
    assert_deferred(&job, "Connection refused");

    // 4xx at RCPT (ufficio) and at DATA (luca), over valid TLS.
    let [cert, key] = due_tls(&net);
    let rcpt_rule = format!("{ufficio}=451 4.2.1 mailbox busy, try later");
    let data_rule = format!("{luca}=452 4.3.1 insufficient system storage");
    let peer = FaultPeer::start(
        &net,
        &[
            "--cert", &cert, "--key", &key, "--rcpt", &rcpt_rule, "--data", &data_rule,
        ],
    );
    route(&mut net, &[(DUE, &peer.addr)], None);
    let occupata = submit(&net, &[&ufficio], "casella occupata");
    let piena = submit(&net, &[&luca], "disco pieno");
    let rcpt_job = wait_job(&net, &occupata, DUE, 1);
    assert_deferred(&rcpt_job, &format!("{ufficio}: 451 4.2.1 mailbox busy"));
    let data_job = wait_job(&net, &piena, DUE, 1);
    assert_deferred(
        &data_job,
        &format!("{luca}: 452 4.3.1 insufficient system storage"),
    );
    let rcpt_job = retry_and_wait(&net, &rcpt_job);
    assert_deferred(&rcpt_job, "451 4.2.1");
    // The first message, retried, meets the busy peer now.
    let job = retry_and_wait(&net, &job);
    assert_deferred(&job, "451 4.2.1 mailbox busy");
    // The peer saw every attempt under TLS, refused it, and got no message.
    let (tls, mail) = (peer.seen("tls"), peer.seen("mail"));
    assert!(
        !tls.is_empty() && tls.iter().all(|e| e["ok"] == true),
        "{tls:?}"
    );
    // (A pooled connection may carry several transactions, so MAILs and handshakes need
    // not be as many.)
    assert!(
        !mail.is_empty()
            && mail
                .iter()
                .all(|e| e["tls"] == true && e["from"] == mario.as_str()),
        "{mail:?}"
    );
    assert!(
        peer.seen("data")
            .iter()
            .any(|e| e["reply"] == "452 4.3.1 insufficient system storage")
    );
    assert!(peer.seen("message").is_empty());
    // Meanwhile the sender has its accettazioni, and no avviso: the mail is on its way.
    assert_eq!(kinds(&net, 0, &mario), ["accettazione"; 3]);

    // The route heals: each message is delivered once, with one consegna each.
    heal(&mut net);
    net.queue_retry(0, &[]);
    wait_quiet(&net);
    assert_eq!(kinds(&net, 1, &ufficio), ["posta-certificata"; 2]);
    assert_eq!(kinds(&net, 1, &luca), ["posta-certificata"]);
    let mut expected = vec!["accettazione"; 3];
    expected.extend(["avvenuta-consegna-completa"; 3]);
    assert_eq!(kinds(&net, 0, &mario), expected);
    verify_all(&net, &[(0, &mario), (1, &ufficio), (1, &luca)]);
}

#[test]
fn permanent_refusals_and_per_recipient_outcomes() {
    let mut net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (ufficio, _) = net.user(1, 0);
    let (luca, _) = net.user(1, 1);
    const ORDINARIA: &str = "posta.ordinaria.example";
    let nessuno = format!("nessuno@{ORDINARIA}");
    let qualcuno = format!("qualcuno@{ORDINARIA}");

    // Pec.due.example's stand-in refuses ufficio for good and luca for now; the ordinary
    // domain's server has no "nessuno" and takes everything else.
    let [cert, key] = due_tls(&net);
    let tls = ["--cert", &cert, "--key", &key];
    let refuse = format!("{ufficio}=550 5.7.1 delivery not authorized");
    let later = format!("{luca}=451 4.3.2 system not accepting messages");
    let due = FaultPeer::start(
        &net,
        &[&tls[..], &["--rcpt", &refuse, "--rcpt", &later]].concat(),
    );
    let unknown = format!("{nessuno}=550 5.1.1 no such user here");
    let ordinaria = FaultPeer::start(&net, &[&tls[..], &["--rcpt", &unknown]].concat());
    route(
        &mut net,
        &[(DUE, &due.addr), (ORDINARIA, &ordinaria.addr)],
        None,
    );

    let rifiutato = submit(&net, &[&ufficio], "certificato rifiutato");
    let inesistente = submit(&net, &[&nessuno], "ordinario inesistente");
    let misto = submit(&net, &[&luca, &qualcuno], "misto");

    // An ordinary recipient refused for good: an avviso di mancata consegna at once, with
    // NOTA 12's code for the server's 5.1.1.
    net.wait_for(0, &mario, "errore-consegna", 1);
    let avviso = avvisi(&net);
    assert_eq!(
        avviso,
        [(
            nessuno.clone(),
            "no-dest".to_string(),
            "5.1.1 - Pecora Uno S.p.A. - indirizzo non valido".to_string()
        )]
    );

    // Mixed: the ordinary recipient got the busta, the certified one waits in the queue.
    let misto_job = wait_job(&net, &misto, DUE, 1);
    assert_eq!(misto_job["rcpt_to"], serde_json::json!([luca]));
    assert_deferred(
        &misto_job,
        &format!("{luca}: 451 4.3.2 system not accepting"),
    );
    assert!(job(&net, &misto, ORDINARIA).is_none());
    let delivered = ordinaria.seen("message");
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["rcpt"], serde_json::json!([qualcuno]));
    assert_eq!(delivered[0]["x_trasporto"], "posta-certificata");
    assert_eq!(delivered[0]["tls"], true);

    // A certified recipient refused for good: the job is gone and no avviso comes now. The
    // spec leaves it to the sender's timers (§3.11, §4.4): the preavviso at 12 h, the
    // mancata consegna at 24 h. The refusal is in the legal log.
    wait_until(Duration::from_secs(30), "the refusal", || {
        due.seen("rcpt").iter().any(|e| e["to"] == ufficio.as_str())
            && job(&net, &rifiutato, DUE).is_none()
    });
    let log = net.operator(0, "log", &["show", "--id", &rifiutato, "--json"]);
    let log = String::from_utf8_lossy(&log.stdout).into_owned();
    assert!(
        log.contains(&format!(
            "rifiutato [{ufficio}: 550 5.7.1 delivery not authorized]"
        )),
        "{log}"
    );
    assert!(job(&net, &inesistente, ORDINARIA).is_none());

    // Pec.due.example heals: luca gets the mixed message once; nothing goes twice.
    heal(&mut net);
    net.queue_retry(0, &[]);
    wait_quiet(&net);
    assert_eq!(kinds(&net, 1, &luca), ["posta-certificata"]);
    assert!(kinds(&net, 1, &ufficio).is_empty());
    assert_eq!(ordinaria.seen("message").len(), 1);
    let mut expected = vec!["accettazione"; 3];
    expected.extend(["avvenuta-consegna-completa", "errore-consegna"]);
    expected.sort();
    assert_eq!(kinds(&net, 0, &mario), expected);
    assert_eq!(avvisi(&net).len(), 1);
    verify_all(&net, &[(0, &mario), (1, &luca)]);
}

#[test]
fn tls_failures_and_a_stalled_peer() {
    let mut net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (anna, _) = net.user(0, 1);
    let (ufficio, _) = net.user(1, 0);
    let [cert, key] = due_tls(&net);

    // A server certificate for the right name that no [trust] CA issued (self-signed).
    let ucert = net.dir.path().join("untrusted.pem");
    let ukey = net.dir.path().join("untrusted.key");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .arg("-keyout")
        .arg(&ukey)
        .arg("-out")
        .arg(&ucert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let peers = [
        // (domain, peer arguments, what the relay's error must say)
        (
            DUE,
            vec![
                "--cert",
                ucert.to_str().unwrap(),
                "--key",
                ukey.to_str().unwrap(),
            ],
            "UnknownIssuer",
        ),
        // Trusted, but for 127.0.0.1, and reached as 127.0.0.2.
        (
            "nome.sbagliato.example",
            vec!["--cert", &cert, "--key", &key, "--bind", "127.0.0.2"],
            "certificate not valid for name \"127.0.0.2\"",
        ),
        (
            "tls.rotto.example",
            vec!["--cert", &cert, "--key", &key, "--tls-break"],
            "failed: received corrupt message",
        ),
        (
            "in.chiaro.example",
            vec![],
            "does not offer STARTTLS and TLS is required",
        ),
        (
            "muto.example",
            vec!["--stall", "greeting"],
            "reading reply to greeting",
        ),
        (
            "lento.example",
            vec!["--cert", &cert, "--key", &key, "--stall", "data"],
            "reading reply to end of data",
        ),
    ]
    .map(|(domain, args, cause)| (domain, FaultPeer::start(&net, &args), cause));
    let routes: Vec<(&str, &str)> = peers
        .iter()
        .map(|(d, p, _)| (*d, p.addr.as_str()))
        .collect();
    const TIMEOUT: i64 = 15;
    route(&mut net, &routes, Some(TIMEOUT));

    let certificato = submit(&net, &[&ufficio], "TLS non valido");
    let ordinari: Vec<String> = peers[1..]
        .iter()
        .map(|(d, _, _)| format!("chi@{d}"))
        .collect();
    let ordinari: Vec<&str> = ordinari.iter().map(String::as_str).collect();
    let ordinario = submit(&net, &ordinari, "peer difettosi");

    // While the two slow peers hold their connections, mail for a healthy domain goes
    // through: the relay is not stuck behind them.
    let (muto, lento) = (&peers[4].1, &peers[5].1);
    wait_until(
        Duration::from_secs(30),
        "the slow peers hold the relay",
        || !muto.seen("connect").is_empty() && !lento.seen("message").is_empty(),
    );
    let sano = submit(&net, &[&anna], "dominio sano");
    let busta = net.wait_for(0, &anna, "posta-certificata", 1);
    net.wait_for(0, &mario, "avvenuta-consegna-completa", 1);
    assert!(
        muto.seen("closed").is_empty(),
        "the relay gave up on the slow peer too early"
    );
    assert!(
        lento.seen("closed").is_empty(),
        "the relay gave up on the slow peer too early"
    );
    assert_eq!(
        net.verify(&busta)[0]["daticert"]["identificativo"],
        sano.as_str()
    );

    // Each fault is a temporary error naming its cause; the slow ones after the timeout.
    let timed_out = format!("timed out after {TIMEOUT}s");
    for (domain, peer, cause) in &peers {
        let id = if *domain == DUE {
            &certificato
        } else {
            &ordinario
        };
        let job = wait_job(&net, id, domain, 1);
        assert_deferred(&job, cause);
        if ["muto.example", "lento.example"].contains(domain) {
            assert_deferred(&job, &timed_out);
            assert!(!peer.seen("closed").is_empty(), "the relay hung up");
        }
        if *domain != "lento.example" {
            // No plaintext fallback: not a command after a failed or missing STARTTLS.
            assert!(
                peer.seen("mail").is_empty(),
                "{domain}: {:?}",
                peer.events()
            );
        }
    }
    // The peers saw the handshakes fail too.
    for (i, alert) in [(0, "UNKNOWN_CA"), (1, "BAD_CERTIFICATE")] {
        let tls = peers[i].1.seen("tls");
        assert!(
            !tls.is_empty()
                && tls.iter().all(|e| e["ok"] == false
                    && e["error"].as_str().unwrap().to_uppercase().contains(alert)),
            "{tls:?}"
        );
    }
    // No avviso for anyone: temporary faults only delay.
    assert!(avvisi(&net).is_empty());

    // Pec.due.example's real certificate back: delivered once.
    heal(&mut net);
    let job = job(&net, &certificato, DUE).unwrap();
    net.queue_retry(0, &[job["id"].as_u64().unwrap()]);
    net.wait_for(1, &ufficio, "posta-certificata", 1);
    net.wait_for(0, &mario, "avvenuta-consegna-completa", 2);
    wait_until(Duration::from_secs(30), "the job leaves", || {
        net.queue(0).iter().all(|j| j["domain"] != DUE) && net.queue(1).is_empty()
    });
    assert_eq!(kinds(&net, 1, &ufficio), ["posta-certificata"]);
    let consegne = net
        .mailbox(0, &mario)
        .into_iter()
        .filter(|(k, _)| k == "avvenuta-consegna-completa")
        .count();
    assert_eq!(consegne, 2);
    verify_all(&net, &[(0, &mario), (1, &ufficio), (0, &anna)]);
}
