//! Crash safety with the real binary. Two providers, each its own `pecora serve`, take a few
//! hundred submissions (pec.uno.example holders to pec.due.example holders, a third of them
//! with two certified recipients) over a few concurrent connections, while a seeded schedule
//! SIGKILLs the sender, the receiver or both at random moments and restarts them. When the
//! network has settled (relay backoff cut short with `pecora queue retry`):
//! - every message that got a 250 has its accettazione; every accettazione, also of those
//!   whose client saw the connection die before the reply, reached its end per certified
//!   recipient: one busta in the recipient's box, one avvenuta consegna back to the sender,
//!   one presa in carico in the sender gestore's receipt box;
//! - nothing exists twice (counted by identificativo + recipient + kind) in the mailboxes
//!   or in the legal log, and both logs' hash chains verify;
//! - every stored message verifies with `pecora verify --ca` (and a sample with the
//!   `openssl` CLI and `xmllint --dtdvalid`).

#[path = "support/net.rs"]
mod net;

use net::*;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Messages per seed.
const MESSAGES: usize = 300;
/// Concurrent connections per sending holder.
const LANES_PER_USER: usize = 2;
/// Most kills while the client submits: on a slow machine more would leave few messages
/// accepted, and the run would prove little.
const MAX_KILLS_SUBMITTING: usize = 24;
/// How long the network may take to settle after the last kill.
const SETTLE: Duration = Duration::from_secs(120);
/// Every n-th stored message is also checked with `openssl smime -verify` and xmllint.
const SAMPLE_EVERY: usize = 12;
/// The receipt box of the sending gestore (`mailReceipt` in the index).
const RICEVUTE_UNO: &str = "ricevute@pec.uno.example";

#[test]
fn kill_9_seed_1() {
    crash_run(1);
}

#[test]
fn kill_9_seed_2() {
    crash_run(2);
}

#[test]
fn kill_9_seed_3() {
    crash_run(3);
}

/// One run: submit, kill and restart at random, settle, check.
fn crash_run(seed: u64) {
    let started = Instant::now();
    let say = |what: String| {
        eprintln!(
            "[crash seed {seed} {:>5.1}s] {what}",
            started.elapsed().as_secs_f64()
        )
    };
    let mut net = Net::start_served();
    let mut rng = Rng(seed);
    let plan = plan(&net, seed, &mut rng);
    say(format!("network up; submitting {} messages", plan.len()));

    let results_path = net.dir.path().join("submitted.jsonl");
    let mut client = submit_all(&net, &plan, &results_path);
    let kills = storm(&mut net, &mut rng, &mut client, &say);
    say(format!("submissions done, {kills} kill(s); settling"));
    let results = read_results(&results_path, plan.len());
    settle(&mut net);
    say("queues empty; checking".into());
    check(&net, &plan, &results, &say);
    say("ok".into());
}

/// splitmix64: a small seeded generator. A seed fixes the plan and the schedule of kills
/// (pauses and victims); where in a message's life each kill lands depends on timing.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from))
    }
}

/// One message to submit.
struct Planned {
    /// Index of the sending holder among provider 0's users.
    user: usize,
    sender: String,
    /// The certified recipients (envelope and headers alike).
    rcpt: Vec<String>,
    subject: String,
    file: PathBuf,
}

/// The messages of a run: senders alternate, every third message goes to both of provider
/// 1's holders (one in To, one in Cc), the others to one of them.
fn plan(net: &Net, seed: u64, rng: &mut Rng) -> Vec<Planned> {
    let senders = [net.user(0, 0).0, net.user(0, 1).0];
    let recipients = [net.user(1, 0).0, net.user(1, 1).0];
    (0..MESSAGES)
        .map(|n| {
            let user = n % senders.len();
            let sender = senders[user].clone();
            let subject = format!("crash {seed} n.{n}");
            let first = rng.below(2) as usize;
            let (rcpt, msg) = if n % 3 == 0 {
                let (to, cc) = (&recipients[first], &recipients[1 - first]);
                let msg = message(&sender, to, Some(cc), &subject, "");
                (vec![to.clone(), cc.clone()], msg)
            } else {
                let to = &recipients[first];
                (vec![to.clone()], message(&sender, to, None, &subject, ""))
            };
            let file = net.file(&format!("crash-{n}.eml"), msg.as_bytes());
            Planned {
                user,
                sender,
                rcpt,
                subject,
                file,
            }
        })
        .collect()
}

/// Starts `tests/smtp_bulk.py` on the plan; its results go to `out`, one JSON line each.
fn submit_all(net: &Net, plan: &[Planned], out: &Path) -> Child {
    let mut lanes = vec![Vec::new(); 2 * LANES_PER_USER];
    for (n, m) in plan.iter().enumerate() {
        let (_, password) = net.user(0, m.user);
        let lane = m.user * LANES_PER_USER + (n / 2) % LANES_PER_USER;
        lanes[lane].push(json!({
            "n": n,
            "user": m.sender,
            "password": password,
            "mail_from": m.sender,
            "rcpt": m.rcpt,
            "file": m.file,
        }));
    }
    let job = json!({
        "port": net.port(0, "submission_port").parse::<u16>().unwrap(),
        "ca": net.ca(),
        "deadline_seconds": 120,
        "lanes": lanes,
    });
    let job_file = net.file("bulk-job.json", job.to_string().as_bytes());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_bulk.py");
    Command::new("python3")
        .arg(script)
        .arg(job_file)
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 is needed")
}

/// While the client submits (at most [`MAX_KILLS_SUBMITTING`] times), and twice more after
/// (when the relay and the receipts are under way): wait a random while, SIGKILL the sender,
/// the receiver or both, wait a little, restart. Returns the number of kills.
fn storm(net: &mut Net, rng: &mut Rng, client: &mut Child, say: &dyn Fn(String)) -> usize {
    let mut kills = 0;
    let mut after_client = 2;
    loop {
        let pause = rng.millis(100, 900);
        let submitting = kills < MAX_KILLS_SUBMITTING && !finished_within(client, pause);
        if !submitting {
            client.wait().unwrap();
            if after_client == 0 {
                break;
            }
            after_client -= 1;
            std::thread::sleep(pause);
        }
        let victims: &[usize] = match rng.below(3) {
            0 => &[0],
            1 => &[1],
            _ => &[0, 1],
        };
        for &p in victims {
            net.procs[p].kill();
        }
        kills += 1;
        let names: Vec<String> = victims
            .iter()
            .map(|&p| {
                net.demo["providers"][p]["domain"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        say(format!("kill -9 {}", names.join(" and ")));
        std::thread::sleep(rng.millis(50, 400));
        for &p in victims {
            net.procs[p].restart();
        }
        for &p in victims {
            net.wait_provider(p);
        }
    }
    let status = client.wait().unwrap();
    assert!(status.success(), "smtp_bulk.py failed: {status}");
    kills
}

/// Whether the child exits within `limit`.
fn finished_within(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The client's outcome per message: the reply code (`None`: no reply, the connection died
/// after DATA and the fate is unknown, or the message was never sent) and text.
fn read_results(path: &Path, count: usize) -> Vec<(Option<u64>, String)> {
    let mut results = vec![None; count];
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let n = r["n"].as_u64().unwrap() as usize;
        results[n] = Some((r["code"].as_u64(), r["text"].as_str().unwrap().to_string()));
    }
    results
        .into_iter()
        .enumerate()
        .map(|(n, r)| r.unwrap_or_else(|| panic!("no client result for message {n}")))
        .collect()
}

/// Waits until both relay queues are empty, making their jobs due now every second rather
/// than waiting out the backoff. The sender's queue is read first: once it is empty after
/// the submissions, nothing new enters the receiver's, so both empty means settled.
fn settle(net: &mut Net) {
    let deadline = Instant::now() + SETTLE;
    loop {
        net.assert_running("the network settled");
        let waiting: Vec<usize> = (0..2).map(|p| net.queue(p).len()).collect();
        if waiting == [0, 0] {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "relay queues never emptied: {:?} / {:?}",
            net.queue(0),
            net.queue(1)
        );
        for (p, &n) in waiting.iter().enumerate() {
            if n > 0 {
                net.queue_retry(p, &[]);
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A stored message, as `pecora verify --json` read it.
struct Stored {
    mailbox: String,
    report: Value,
}

impl Stored {
    fn kind(&self) -> &str {
        self.report["kind"].as_str().unwrap_or("?")
    }

    fn daticert(&self, field: &str) -> &Value {
        &self.report["daticert"][field]
    }

    fn identificativo(&self) -> String {
        self.daticert("identificativo")
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// What a run must end with (see the module documentation).
fn check(net: &Net, plan: &[Planned], results: &[(Option<u64>, String)], say: &dyn Fn(String)) {
    for p in 0..2 {
        net.operator(p, "log", &["verify"]);
    }
    let stored = export_and_verify(net);
    say(format!("{} stored messages verify", stored.len()));
    let (mut counts, accepted) = count_once(&stored);
    let plan_index = match_plan(plan, &accepted);
    let (confirmed, reply_lost) = match_replies(results, &plan_index);
    assert!(
        confirmed * 10 >= plan.len() * 6,
        "only {confirmed} of {} messages got a 250: the run proves little",
        plan.len()
    );

    // Every accettazione reached its end for each certified recipient.
    for (id, acc) in &accepted {
        let certified: Vec<String> = acc
            .daticert("destinatari")
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["tipo"] == "certificato")
            .map(|d| d["indirizzo"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(certified, plan[plan_index[id]].rcpt, "{id}");
        for rcpt in &certified {
            for kind in ["busta", "avvenuta-consegna", "presa-in-carico"] {
                assert!(
                    counts.contains_key(&(id.clone(), rcpt.clone(), kind)),
                    "{id}: no {kind} for {rcpt}"
                );
            }
        }
        counts.retain(|(i, _, _), _| i != id);
    }
    assert!(
        counts.is_empty(),
        "messages about identificativi never accepted: {counts:#?}"
    );
    say(format!(
        "{} accepted: {confirmed} confirmed by a 250, {} of the {} whose client lost the reply; \
         all delivered once",
        accepted.len(),
        reply_lost.len(),
        results.iter().filter(|(code, _)| code.is_none()).count()
    ));

    // The legal logs hold each receipt once too: the messages whose client lost the reply
    // and a few others.
    let sample = reply_lost
        .iter()
        .chain(accepted.keys().step_by(accepted.len() / 4 + 1));
    for id in sample {
        let rcpt = plan[plan_index[id]].rcpt.len();
        let sender = [
            ("accettazione", 1),
            ("posta-certificata", 1),
            ("ricevuta-presa-in-carico", 1),
            ("ricevuta-avvenuta-consegna", rcpt),
        ];
        let receiver = [("presa-in-carico", 1), ("avvenuta-consegna", rcpt)];
        assert_log(net, 0, id, &sender);
        assert_log(net, 1, id, &receiver);
    }
}

/// How many of each (identificativo, recipient, kind) are stored.
type Counts = BTreeMap<(String, String, &'static str), usize>;

/// (identificativo, recipient, kind) of everything stored, each found exactly once;
/// and the accettazioni by identificativo. Fails on a kind a run without faults of the
/// mail itself must not produce (non accettazione, mancata consegna, timeouts, anomalia).
fn count_once(stored: &[Stored]) -> (Counts, BTreeMap<String, &Stored>) {
    let mut counts = BTreeMap::new();
    let mut accepted = BTreeMap::new();
    let mut unexpected = Vec::new();
    for s in stored {
        let id = s.identificativo();
        let keys: Vec<(String, &'static str)> = match s.kind() {
            "accettazione" => {
                accepted.insert(id.clone(), s);
                vec![(s.mailbox.clone(), "accettazione")]
            }
            "posta-certificata" => vec![(s.mailbox.clone(), "busta")],
            "presa-in-carico" if s.mailbox == RICEVUTE_UNO => s
                .daticert("ricezione")
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r.as_str().unwrap().to_string(), "presa-in-carico"))
                .collect(),
            k if k.starts_with("avvenuta-consegna")
                && s.daticert("mittente").as_str() == Some(s.mailbox.as_str()) =>
            {
                let to = s.daticert("consegna").as_str().unwrap().to_string();
                vec![(to, "avvenuta-consegna")]
            }
            other => {
                unexpected.push(format!("{other} in {}: {id}", s.mailbox));
                continue;
            }
        };
        for (who, kind) in keys {
            *counts.entry((id.clone(), who, kind)).or_insert(0) += 1;
        }
    }
    assert!(
        unexpected.is_empty(),
        "unexpected messages: {unexpected:#?}"
    );
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:#?}");
    (counts, accepted)
}

/// Each accettazione is a planned message (by subject), in its sender's box, and no planned
/// message was accepted twice. Returns identificativo -> plan index.
fn match_plan(plan: &[Planned], accepted: &BTreeMap<String, &Stored>) -> BTreeMap<String, usize> {
    let by_subject: BTreeMap<&str, usize> = plan
        .iter()
        .enumerate()
        .map(|(n, m)| (m.subject.as_str(), n))
        .collect();
    let mut plan_index = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (id, acc) in accepted {
        let subject = acc.daticert("oggetto").as_str().unwrap();
        let n = *by_subject
            .get(subject)
            .unwrap_or_else(|| panic!("accettazione {id} for an unplanned subject {subject:?}"));
        assert!(seen.insert(n), "{subject:?} accepted twice");
        assert_eq!(acc.mailbox, plan[n].sender, "{id} in the wrong box");
        plan_index.insert(id.clone(), n);
    }
    plan_index
}

/// Every 250 names the identificativo of its message's accettazione; no message was refused.
/// Returns how many got a 250, and the identificativi of the messages accepted although
/// their client saw the connection die before the reply.
fn match_replies(
    results: &[(Option<u64>, String)],
    plan_index: &BTreeMap<String, usize>,
) -> (usize, Vec<String>) {
    let id_of: BTreeMap<usize, &String> = plan_index.iter().map(|(id, n)| (*n, id)).collect();
    let mut confirmed = 0;
    let mut reply_lost = Vec::new();
    for (n, (code, text)) in results.iter().enumerate() {
        match code {
            Some(250) => {
                assert!(text.starts_with("2.0.0 accettato"), "message {n}: {text}");
                let id = identificativo(&json!({ "text": text }));
                assert_eq!(
                    id_of.get(&n),
                    Some(&&id),
                    "message {n}: 250 without accettazione"
                );
                confirmed += 1;
            }
            None => reply_lost.extend(id_of.get(&n).map(|id| id.to_string())),
            Some(code) => panic!("message {n} refused with {code}: {text}"),
        }
    }
    (confirmed, reply_lost)
}

/// Provider p's legal log has exactly `expected` events of each listed kind about `id`.
fn assert_log(net: &Net, p: usize, id: &str, expected: &[(&str, usize)]) {
    let out = net.operator(p, "log", &["show", "--id", id, "--json"]);
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        *kinds
            .entry(e["kind"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for (kind, n) in expected {
        assert_eq!(
            kinds.get(*kind).copied().unwrap_or(0),
            *n,
            "provider {p}, {id}, {kind}: {kinds:?}"
        );
    }
}

/// Exports every mailbox of both providers and verifies all of it in one `pecora verify`
/// run; a sample (every [`SAMPLE_EVERY`]th message, and the first of each kind) also with
/// `openssl smime -verify` and `xmllint --dtdvalid`.
fn export_and_verify(net: &Net) -> Vec<Stored> {
    let mut boxes = Vec::new();
    for p in 0..2 {
        for n in 0..2 {
            boxes.push((p, net.user(p, n).0));
        }
        let service = net.demo["providers"][p]["service_mailbox"]
            .as_str()
            .unwrap();
        boxes.push((p, service.to_string()));
    }
    let mut files = Vec::new();
    let mut owners = Vec::new();
    for (p, address) in &boxes {
        for (_, path) in net.mailbox(*p, address) {
            files.push(path);
            owners.push(address.clone());
        }
    }
    let reports = net.verify_reports(&files);
    let mut kinds_seen = BTreeSet::new();
    for (i, r) in reports.iter().enumerate() {
        let first_of_kind = kinds_seen.insert(r["kind"].to_string());
        if first_of_kind || i % SAMPLE_EVERY == 0 {
            let file = r["file"].as_str().unwrap();
            openssl_verifies(file, &net.ca());
            dtd_valid(&r["daticert"], file);
        }
    }
    owners
        .into_iter()
        .zip(reports)
        .map(|(mailbox, report)| Stored { mailbox, report })
        .collect()
}
