//! Reading PEC boxes with real clients (issue 5), against `pecora demo` on loopback: Python's
//! imaplib and poplib, curl (imaps and pop3s), fetchmail, imapflow (npm) in IDLE, and mutt
//! driven through tmux. Submissions go in with swaks and smtplib; everything a client fetches
//! is checked with the `openssl` CLI (and `pecora verify`). Also the box rules as a client
//! meets them: the PRO archive, delegates, the quota warning and the full box, UIDs across a
//! restart.

#[path = "support/net.rs"]
mod net;

use net::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const TESTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");

/// Runs `tests/mail_client.py` with `args`; fails on anything but a JSON answer without
/// "error".
fn mail_client(args: &[&str]) -> Value {
    let out = Command::new("python3")
        .arg(format!("{TESTS}/mail_client.py"))
        .args(args)
        .output()
        .expect("python3 is needed");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "mail client: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(v.get("error").is_none(), "mail client {args:?}: {v}");
    v
}

/// A login to provider p's IMAP or POP3 (implicit TLS unless `starttls`).
struct Login {
    port: String,
    mode: &'static str,
    user: String,
    password: String,
    ca: String,
}

impl Login {
    fn new(net: &Net, p: usize, service: &str, user: &str, password: &str) -> Login {
        let (port, mode) = match service {
            "imap" => (net.port(p, "imap_port"), "starttls"),
            "imaps" => (net.port(p, "imaps_port"), "tls"),
            "pop3" => (net.port(p, "pop3_port"), "starttls"),
            "pop3s" => (net.port(p, "pop3s_port"), "tls"),
            _ => unreachable!("{service}"),
        };
        Login {
            port,
            mode,
            user: user.into(),
            password: password.into(),
            ca: net.ca(),
        }
    }

    fn run(&self, command: &str, extra: &[&str]) -> Value {
        let mut args = vec![
            command,
            "--port",
            &self.port,
            "--mode",
            self.mode,
            "--ca",
            &self.ca,
            "--user",
            &self.user,
            "--password",
            &self.password,
        ];
        args.extend_from_slice(extra);
        mail_client(&args)
    }

    /// Every folder and message of the box, fetched into `out`.
    fn dump(&self, out: &Path) -> Value {
        self.run("imap-dump", &["--out", out.to_str().unwrap()])
    }

    /// IMAP commands on one folder; their results in order (the SELECT first).
    fn imap(&self, folder: &str, cmds: &[&str]) -> Vec<Value> {
        let mut extra = vec!["--folder", folder];
        for c in cmds {
            extra.extend(["--cmd", c]);
        }
        self.run("imap-run", &extra)["results"]
            .as_array()
            .unwrap()
            .clone()
    }
}

fn folder<'a>(dump: &'a Value, name: &str) -> &'a Value {
    dump["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no folder {name} in {dump}"))
}

fn messages(dump: &Value, name: &str) -> Vec<Value> {
    folder(dump, name)["messages"].as_array().unwrap().clone()
}

/// The X-Ricevuta (or, for a busta, X-Trasporto) of each message of a folder.
fn pec_headers(dump: &Value, name: &str) -> Vec<String> {
    messages(dump, name)
        .iter()
        .map(|m| {
            m["x_ricevuta"]
                .as_str()
                .or(m["x_trasporto"].as_str())
                .unwrap_or("ordinaria")
                .to_string()
        })
        .collect()
}

/// Polls the box over IMAP until `f` holds for its dump.
fn wait_dump(login: &Login, dir: &Path, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = dir.join(format!("dump-{}", unique()));
        let dump = login.dump(&out);
        if f(&dump) {
            return dump;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never saw {what}: {dump}",
            login.user
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn file_of(m: &Value) -> PathBuf {
    PathBuf::from(m["file"].as_str().unwrap())
}

fn swaks(
    net: &Net,
    p: usize,
    user: &str,
    password: &str,
    from: &str,
    to: &str,
    body: &Path,
) -> String {
    let out = Command::new("swaks")
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &net.port(p, "submission_port"),
            "--tls",
            "--tls-ca-path",
            &net.ca(),
            "--auth",
            "PLAIN",
            "--auth-user",
            user,
            "--auth-password",
            password,
            "--from",
            from,
            "--to",
            to,
            "--data",
            body.to_str().unwrap(),
        ])
        .output()
        .expect("swaks");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn full_cycle_with_real_clients() {
    let net = Net::start();
    let dir = net.dir.path().to_path_buf();
    let (mario, mario_pw) = net.user(0, 0);
    let (ufficio, ufficio_pw) = net.user(1, 0);
    let pro = "archivio@pec.due.example";
    // Created standard, then turned PRO (seed 000: the type changes on request).
    net.admin(
        1,
        &[
            "mailbox-add",
            pro,
            "--state",
            "attiva",
            "--password",
            "Archivio123",
        ],
    );
    let changed = ok(net.admin(1, &["mailbox-kind", pro, "pro"]));
    assert!(changed.contains("pro, quota 2147483648"), "{changed}");
    net.admin(
        0,
        &[
            "delegate-add",
            "segreteria.rossi",
            "--mailbox",
            &mario,
            "--role",
            "invio",
            "--password",
            "Segreteria1",
        ],
    );
    net.admin(
        0,
        &[
            "delegate-add",
            "lettore.rossi",
            "--mailbox",
            &mario,
            "--role",
            "lettura",
            "--password",
            "Lettore123",
        ],
    );

    // A read-only delegate cannot send; the sending delegate sends as the box (swaks), and
    // the holder with smtplib.
    let refused = net.send(
        {
            let mut a = net.auth_args(0, 0);
            a[5] = "lettore.rossi".into();
            a[7] = "Lettore123".into();
            a
        },
        &mario,
        &[&ufficio],
        message(&mario, &ufficio, None, "x", "").as_bytes(),
    );
    assert_eq!(refused["step"], "auth", "{refused}");
    assert_eq!(refused["code"], 550, "{refused}");
    let body = net.file(
        "swaks.eml",
        message(
            &mario,
            &format!("{ufficio}, {pro}"),
            None,
            "Dal delegato",
            "",
        )
        .as_bytes(),
    );
    let said = swaks(
        &net,
        0,
        "segreteria.rossi",
        "Segreteria1",
        &mario,
        &format!("{ufficio},{pro}"),
        &body,
    );
    assert!(said.contains("accettato, identificativo"), "{said}");
    let reply = net.submit(
        0,
        0,
        &mario,
        &[&ufficio],
        &message(&mario, &ufficio, None, "Dal titolare", ""),
    );
    assert_eq!(reply["code"], 250, "{reply}");

    // The sender's box, through IMAP only: Sent has both submissions, INBOX their receipts.
    let mario_imap = Login::new(&net, 0, "imaps", &mario, &mario_pw);
    let dump = wait_dump(&mario_imap, &dir, "three consegne", |d| {
        pec_headers(d, "INBOX")
            .iter()
            .filter(|h| *h == "avvenuta-consegna")
            .count()
            == 3
    });
    assert_eq!(
        pec_headers(&dump, "INBOX")
            .iter()
            .filter(|h| *h == "accettazione")
            .count(),
        2
    );
    let sent = messages(&dump, "Sent");
    assert_eq!(sent.len(), 2, "{dump}");
    assert!(
        folder(&dump, "Sent")["attributes"]
            .as_array()
            .unwrap()
            .contains(&"\\Sent".into())
    );
    for f in ["Drafts", "Trash"] {
        folder(&dump, f);
    }
    // The receipts verify with the openssl CLI (and pecora verify, xmllint).
    let receipts: Vec<PathBuf> = messages(&dump, "INBOX").iter().map(file_of).collect();
    net.verify(&receipts);

    // The recipients: a busta in INBOX; the PRO box also in Archivio/<yyyy>/<mm>, shown
    // under a \Noselect Archivio.
    let ufficio_imap = Login::new(&net, 1, "imap", &ufficio, &ufficio_pw);
    let dump = wait_dump(&ufficio_imap, &dir, "two buste", |d| {
        pec_headers(d, "INBOX").len() == 2
    });
    assert_eq!(
        pec_headers(&dump, "INBOX"),
        ["posta-certificata", "posta-certificata"]
    );
    net.verify(
        &messages(&dump, "INBOX")
            .iter()
            .map(file_of)
            .collect::<Vec<_>>(),
    );
    let pro_imap = Login::new(&net, 1, "imaps", pro, "Archivio123");
    let pro_dump = wait_dump(&pro_imap, &dir, "the busta", |d| {
        pec_headers(d, "INBOX").len() == 1
    });
    let archive = pro_dump["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"].as_str().unwrap().matches('/').count() == 2)
        .expect("an Archivio/<yyyy>/<mm> folder")
        .clone();
    let month = archive["name"].as_str().unwrap().to_string();
    assert!(month.starts_with("Archivio/"), "{month}");
    assert_eq!(pec_headers(&pro_dump, &month), ["posta-certificata"]);
    assert!(
        folder(&pro_dump, "Archivio")["attributes"]
            .as_array()
            .unwrap()
            .contains(&"\\Noselect".into())
    );

    // The archive is immutable for a client.
    let results = pro_imap.imap(
        &month,
        &[
            "UID STORE 1 +FLAGS (\\Deleted)",
            "EXPUNGE",
            "UID MOVE 1 INBOX",
            &format!("DELETE \"{month}\""),
        ],
    );
    assert_eq!(results[0]["status"], "OK", "{results:?}");
    for r in &results[1..] {
        if r["cmd"] == "EXPUNGE" {
            continue; // nothing was flagged \Deleted, so nothing to refuse
        }
        assert_eq!(r["status"], "NO", "{r}");
        assert!(
            r["data"].to_string().contains("Archivio")
                || r["data"].to_string().contains("archivio"),
            "{r}"
        );
    }
    assert_eq!(
        pec_headers(&pro_imap.dump(&dir.join("after")), &month).len(),
        1
    );

    // POP3 (poplib, STLS) gets the same bytes as IMAP.
    let pop = Login::new(&net, 1, "pop3", &ufficio, &ufficio_pw)
        .run("pop3-dump", &["--out", dir.join("pop").to_str().unwrap()]);
    assert_eq!(pop["count"], 2, "{pop}");
    let by_imap = std::fs::read(file_of(&messages(&dump, "INBOX")[0])).unwrap();
    let by_pop = std::fs::read(pop["files"][0].as_str().unwrap()).unwrap();
    assert_eq!(by_pop, by_imap);

    // curl: imaps and pop3s.
    let curl = |url: &str, user: &str, pw: &str| {
        ok(Command::new("curl")
            .args([
                "-s",
                "--cacert",
                &net.ca(),
                "--user",
                &format!("{user}:{pw}"),
                url,
            ])
            .output()
            .expect("curl"))
    };
    let imaps = net.port(1, "imaps_port");
    let fetched = curl(
        &format!("imaps://localhost:{imaps}/INBOX;UID=1"),
        &ufficio,
        &ufficio_pw,
    );
    assert_eq!(
        fetched.as_bytes(),
        by_imap.as_slice(),
        "curl imaps gets the busta"
    );
    let pop3s = net.port(1, "pop3s_port");
    let listing = curl(
        &format!("pop3s://localhost:{pop3s}/"),
        &ufficio,
        &ufficio_pw,
    );
    assert_eq!(listing.lines().count(), 2, "{listing}");
    let retr = curl(
        &format!("pop3s://localhost:{pop3s}/1"),
        &ufficio,
        &ufficio_pw,
    );
    assert_eq!(retr.as_bytes(), by_pop.as_slice());

    // fetchmail retrieves Mario's PEC with their receipts (Sent and INBOX; keeping them on
    // the server): the receipts verify with openssl as fetched.
    let fetched = fetchmail(&net, &dir, &mario, &mario_pw);
    let (receipts, sent): (Vec<_>, Vec<_>) = fetched
        .iter()
        .partition(|f| std::fs::read_to_string(f).unwrap().contains("X-Ricevuta:"));
    assert_eq!(
        receipts.len(),
        5,
        "2 accettazioni + 3 consegne: {fetched:?}"
    );
    assert_eq!(sent.len(), 2, "the two submissions: {fetched:?}");
    for f in receipts {
        openssl_verifies(f.to_str().unwrap(), &net.ca());
    }

    // Protocol-system mode (Titulus): only on a PRO box; what the integration account
    // reads leaves INBOX and stays in the archive.
    let config = net.config(1);
    let refused = net.pecora(&[
        "admin",
        "--config",
        &config,
        "mailbox-protocol",
        &ufficio,
        "titulus",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("needs a PRO box"),
        "{refused:?}"
    );
    net.admin(
        1,
        &[
            "delegate-add",
            "titulus",
            "--mailbox",
            pro,
            "--role",
            "lettura",
            "--password",
            "Titulus123",
        ],
    );
    net.admin(1, &["mailbox-protocol", pro, "titulus"]);
    let titulus = Login::new(&net, 1, "imaps", "titulus", "Titulus123");
    let read = titulus.imap("INBOX", &["UID FETCH 1 (BODY[])", "NOOP"]);
    assert!(read.iter().all(|r| r["status"] == "OK"), "{read:?}");
    let after = pro_imap.dump(&dir.join("after-titulus"));
    assert!(messages(&after, "INBOX").is_empty(), "{after}");
    assert_eq!(pec_headers(&after, &month), ["posta-certificata"]);

    // The read-only delegate reads Mario's box but cannot delete.
    let lettore = Login::new(&net, 0, "imaps", "lettore.rossi", "Lettore123");
    let r = lettore.imap(
        "INBOX",
        &["UID FETCH 1 (FLAGS)", "UID STORE 1 +FLAGS (\\Deleted)"],
    );
    assert_eq!(r[1]["status"], "OK", "{r:?}");
    assert_eq!(r[2]["status"], "NO", "{r:?}");
}

/// Runs fetchmail over IMAPS for `user` on INBOX and Sent, each message delivered to a file;
/// returns the files.
fn fetchmail(net: &Net, dir: &Path, user: &str, password: &str) -> Vec<PathBuf> {
    let home = dir.join("fetchmail");
    let out = home.join("mail");
    std::fs::create_dir_all(&out).unwrap();
    let rc = home.join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no syslog\n\
             poll localhost via 127.0.0.1 port {port} protocol IMAP\n  \
             user \"{user}\" password \"{password}\" folder INBOX,Sent\n  \
             ssl sslcertck sslcertfile \"{ca}\" sslcommonname \"localhost\" keep fetchall\n  \
             mda \"/bin/sh -c 'cat > {out}/$(date +%s%N).eml'\"\n",
            port = net.port(0, "imaps_port"),
            ca = net.ca(),
            out = out.display(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = Command::new("fetchmail")
        .args(["-f", rc.to_str().unwrap(), "--nodetach", "--idfile"])
        .arg(home.join("ids"))
        .env("HOME", &home)
        .output()
        .expect("fetchmail");
    // 0: mail fetched.
    assert_eq!(
        run.status.code(),
        Some(0),
        "fetchmail: {}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn imapflow_idle_sees_the_consegna_arrive() {
    let net = Net::start();
    let (mario, mario_pw) = net.user(0, 0);
    let (luca, _) = net.user(1, 1);
    let js = Path::new(TESTS).join("js");
    assert!(
        js.join("node_modules/imapflow").exists(),
        "imapflow is installed by scripts/test (npm ci --prefix crates/pecora/tests/js)"
    );
    let mut idle = Command::new("node")
        .arg(js.join("idle.mjs"))
        .args([
            &net.port(0, "imaps_port"),
            &mario,
            &mario_pw,
            &net.ca(),
            "avvenuta-consegna",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(idle.stdout.take().unwrap()));
    let ready: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(ready["ready"], true, "{ready}");

    let reply = net.submit(
        0,
        0,
        &mario,
        &[&luca],
        &message(&mario, &luca, None, "Attesa IDLE", ""),
    );
    assert_eq!(reply["code"], 250, "{reply}");
    let got: Value =
        serde_json::from_str(&lines.next().expect("imapflow output").unwrap()).unwrap();
    assert_eq!(got["xRicevuta"], "avvenuta-consegna", "{got}");
    assert!(
        got["subject"].as_str().unwrap().contains("CONSEGNA"),
        "{got}"
    );
    assert!(idle.wait().unwrap().success());
}

#[test]
fn mutt_reads_a_busta_and_its_postacert() {
    let net = Net::start();
    let dir = net.dir.path().to_path_buf();
    let (mario, _) = net.user(0, 0);
    let (ufficio, ufficio_pw) = net.user(1, 0);
    let reply = net.submit(
        0,
        0,
        &mario,
        &[&ufficio],
        &message(&mario, &ufficio, None, "Per mutt", ""),
    );
    assert_eq!(reply["code"], 250, "{reply}");
    let login = Login::new(&net, 1, "imaps", &ufficio, &ufficio_pw);
    wait_dump(&login, &dir, "the busta", |d| {
        pec_headers(d, "INBOX").len() == 1
    });

    let muttrc = dir.join("muttrc");
    std::fs::write(
        &muttrc,
        format!(
            "set folder=\"imaps://localhost:{port}/\"\n\
             set spoolfile=\"+INBOX\"\n\
             set imap_user=\"{ufficio}\"\n\
             set imap_pass=\"{ufficio_pw}\"\n\
             set ssl_ca_certificates_file=\"{ca}\"\n\
             set certificate_file=\"{dir}/certificates\"\n\
             set header_cache=\"\"\n\
             set message_cachedir=\"\"\n\
             set mail_check=1\n\
             set timeout=1\n\
             set charset=\"utf-8\"\n\
             set wait_key=no\n",
            port = net.port(1, "imaps_port"),
            ca = net.ca(),
            dir = dir.display(),
        ),
    )
    .unwrap();
    let session = format!("pecora-mutt-{}", std::process::id());
    let mutt = format!("mutt -n -F {}", muttrc.display());
    ok(tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "160",
        "-y",
        "48",
        &mutt,
    ]));
    let _end = TmuxSession(session.clone());
    let screen = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).into_owned()
    };
    let wait_screen = |what: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let s = screen();
            if s.contains(what) {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "mutt never showed {what:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let index = wait_screen("POSTA CERTIFICATA");
    assert!(index.contains("Per mutt"), "{index}");
    // The attachment list shows the busta's tree: the signed parts, postacert.eml as a
    // message/rfc822 (named by its subject), daticert.xml and the signature.
    tmux(&["send-keys", "-t", &session, "v"]);
    let parts = wait_screen("message/rfc822");
    for part in [
        "Per mutt",
        "daticert.xml",
        "smime.p7s",
        "multipa/alternativ",
    ] {
        assert!(parts.contains(part), "{part}: {parts}");
    }
    // Open postacert.eml (the 6th entry, after daticert.xml): the original message's text.
    tmux(&[
        "send-keys",
        "-t",
        &session,
        "j",
        "j",
        "j",
        "j",
        "j",
        "Enter",
    ]);
    wait_screen("Testo del messaggio.");
}

fn tmux(args: &[&str]) -> std::process::Output {
    Command::new("tmux")
        .args(args)
        .env("TERM", "xterm")
        .output()
        .expect("tmux")
}

/// Ends the tmux session when the test ends, passed or failed.
struct TmuxSession(String);

impl Drop for TmuxSession {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.0]);
    }
}

#[test]
fn quota_warning_full_box_and_stable_uids_across_a_restart() {
    let mut net = Net::start_served();
    let dir = net.dir.path().to_path_buf();
    let (mario, mario_pw) = net.user(0, 0);
    let (luca, luca_pw) = net.user(1, 1);
    let luca_imap = Login::new(&net, 1, "imaps", &luca, &luca_pw);

    // One busta to learn its size, then a quota the second one takes past 90 %.
    let send = |subject: &str| {
        let reply = net.submit(
            0,
            0,
            &mario,
            &[&luca],
            &message(&mario, &luca, None, subject, ""),
        );
        assert_eq!(reply["code"], 250, "{reply}");
    };
    send("primo");
    wait_dump(&luca_imap, &dir, "the first busta", |d| {
        pec_headers(d, "INBOX").len() == 1
    });
    let size: u64 = ok(net.admin(1, &["mailbox-list"]))
        .lines()
        .find(|l| l.starts_with(&luca))
        .and_then(|l| l.split("used ").nth(1))
        .and_then(|s| s.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    net.admin(
        1,
        &["mailbox-quota", &luca, &(size * 2 * 100 / 95).to_string()],
    );
    let r = luca_imap.imap("INBOX", &["GETQUOTAROOT INBOX"]);
    assert!(r[1]["data"].to_string().contains("STORAGE"), "{r:?}");

    send("secondo");
    let dump = wait_dump(&luca_imap, &dir, "the warning", |d| {
        messages(d, "INBOX")
            .iter()
            .any(|m| m["subject"].as_str().unwrap_or("").contains("90%"))
    });
    send("terzo");
    let mario_imap = Login::new(&net, 0, "imaps", &mario, &mario_pw);
    let mario_dump = wait_dump(&mario_imap, &dir, "the mancata consegna", |d| {
        pec_headers(d, "INBOX").contains(&"errore-consegna".to_string())
    });
    let errore = messages(&mario_dump, "INBOX")
        .into_iter()
        .find(|m| m["x_ricevuta"] == "errore-consegna")
        .unwrap();
    let text = std::fs::read_to_string(file_of(&errore)).unwrap();
    assert!(
        text.contains("5.2.2") || text.to_lowercase().contains("casella piena"),
        "{text}"
    );
    openssl_verifies(errore["file"].as_str().unwrap(), &net.ca());
    let after = luca_imap.dump(&dir.join("after-full"));
    let warnings = |d: &Value| {
        messages(d, "INBOX")
            .iter()
            .filter(|m| m["subject"].as_str().unwrap_or("").contains("90%"))
            .count()
    };
    assert_eq!(warnings(&after), 1, "exactly one warning");
    assert_eq!(
        pec_headers(&after, "INBOX")
            .iter()
            .filter(|h| *h == "posta-certificata")
            .count(),
        2
    );

    // UIDVALIDITY and UIDs survive a restart of the provider.
    let ids = |d: &Value| -> Vec<(String, u64, Vec<u64>)> {
        d["folders"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f.get("uidvalidity").is_some())
            .map(|f| {
                (
                    f["name"].as_str().unwrap().to_string(),
                    f["uidvalidity"].as_u64().unwrap(),
                    f["messages"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| m["uid"].as_u64().unwrap())
                        .collect(),
                )
            })
            .collect()
    };
    let before = ids(&dump);
    net.procs[1].kill();
    net.procs[1].restart();
    net.wait_provider(1);
    let restarted = luca_imap.dump(&dir.join("restarted"));
    let now = ids(&restarted);
    let inbox = |v: &[(String, u64, Vec<u64>)]| v.iter().find(|f| f.0 == "INBOX").unwrap().clone();
    assert_eq!(inbox(&now).1, inbox(&before).1, "UIDVALIDITY");
    assert!(
        inbox(&now).2.starts_with(&inbox(&before).2),
        "UIDs: {before:?} → {now:?}"
    );
}

/// IMAP (imaplib, implicit TLS): log in, say ready, wait, then NOOP; prints how it went.
const IMAP_HELD: &str = r#"
import imaplib, json, ssl, sys
port, ca, user, password = sys.argv[1:5]
m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ssl.create_default_context(cafile=ca))
m.login(user, password)
m.select("INBOX")
print(json.dumps({"ready": True}), flush=True)
sys.stdin.readline()
try:
    typ, data = m.noop()
    print(json.dumps({"noop": typ, "bye": [d.decode() for d in m.untagged_responses.get("BYE", [])]}))
except imaplib.IMAP4.abort as e:
    print(json.dumps({"bye": str(e)}))
"#;

#[test]
fn blocking_a_box_ends_its_open_smtp_and_imap_sessions() {
    let net = Net::start_served();
    let (mario, _) = net.user(0, 0);
    let (luca, luca_pw) = net.user(1, 1);

    // SMTP: authenticated before the block, DATA after it.
    let mut args: Vec<String> = vec![format!("{TESTS}/smtp_client.py"), "--hold".into()];
    args.extend(net.auth_args(0, 0));
    let message = net.file(
        "held.eml",
        message(&mario, &luca, None, "dopo il blocco", "").as_bytes(),
    );
    args.extend(
        [
            "--mail-from",
            &mario,
            "--rcpt",
            &luca,
            "--file",
            message.to_str().unwrap(),
        ]
        .map(String::from),
    );
    let smtp = Held::start(args);
    // IMAP: logged in and selected before the block.
    let imap = Held::start(
        [
            "-c",
            IMAP_HELD,
            &net.port(1, "imaps_port"),
            &net.ca(),
            &luca,
            &luca_pw,
        ]
        .map(String::from)
        .to_vec(),
    );

    // Blocked from the command line: another process than the one serving the sessions.
    ok(net.admin(0, &["mailbox-state", &mario, "bloccata"]));
    ok(net.admin(1, &["mailbox-state", &luca, "bloccata"]));

    let reply = smtp.go_on();
    assert_eq!(reply["code"], 421, "{reply}");
    assert_eq!(reply["step"], "data", "{reply}");
    let imap = imap.go_on();
    assert!(
        imap["bye"].to_string().contains("login no longer valid"),
        "{imap}"
    );

    // Nothing was certified: no accettazione in Mario's box.
    ok(net.admin(0, &["mailbox-state", &mario, "attiva"]));
    let kinds: Vec<String> = net
        .mailbox(0, &mario)
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    assert!(!kinds.iter().any(|k| k == "accettazione"), "{kinds:?}");
}

/// The third-party client PyPI `mayai-pec-cli` (its IMAP client and daticert reader, from
/// `.tools/venv`) over IMAPS: for each INBOX message, the PEC type and the daticert it picks.
fn pec_cli(net: &Net, p: usize, user: &str, password: &str) -> Vec<Value> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
    let out = Command::new(&python)
        .arg(format!("{TESTS}/pec_cli_client.py"))
        .args([&net.port(p, "imaps_port"), user, password])
        .env("SSL_CERT_FILE", net.ca())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} (scripts/test installs mayai-pec-cli into .tools/venv): {e}",
                python.display()
            )
        });
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "pec_cli_client: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Issue 12, finding 9: a client that takes the first `daticert.xml` of the tree must find
/// ours, not the one of a PEC message forwarded inside the original.
#[test]
fn a_third_party_client_reads_our_daticert_not_a_forwarded_one() {
    let net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (mario_pw, (luca, luca_pw)) = (net.user(0, 0).1, net.user(1, 1));
    let first = net.submit(
        0,
        0,
        &mario,
        &[&luca],
        &message(&mario, &luca, None, "Prima", ""),
    );
    let first_id = identificativo(&first);
    let busta = std::fs::read(&net.wait_for(1, &luca, "posta-certificata", 1)[0]).unwrap();

    // Mario sends Luca a message that forwards the first busta as an attachment.
    let forward = format!(
        "From: {mario}\r\nTo: {luca}\r\nSubject: Inoltro\r\nMessage-ID: <{}@client.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"inoltro\"\r\n\r\n\
         --inoltro\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nIn allegato la PEC.\r\n\
         --inoltro\r\nContent-Type: message/rfc822\r\n\r\n{}\r\n--inoltro--\r\n",
        unique(),
        String::from_utf8_lossy(&busta)
    );
    let second = net.submit(0, 0, &mario, &[&luca], &forward);
    assert_eq!(second["code"], 250, "{second}");
    let second_id = identificativo(&second);
    net.wait_for(1, &luca, "posta-certificata", 2);
    net.wait_for(0, &mario, "avvenuta-consegna-completa", 2);

    let luca_sees = pec_cli(&net, 1, &luca, &luca_pw);
    let buste: Vec<&Value> = luca_sees
        .iter()
        .filter(|m| m["tipo"] == "posta-certificata")
        .collect();
    let ids: Vec<&str> = buste
        .iter()
        .map(|m| m["identificativo"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [first_id.as_str(), second_id.as_str()],
        "{luca_sees:?}"
    );

    let mario_sees = pec_cli(&net, 0, &mario, &mario_pw);
    let consegne: Vec<&str> = mario_sees
        .iter()
        .filter(|m| m["tipo"] == "avvenuta-consegna")
        .map(|m| m["identificativo"].as_str().unwrap())
        .collect();
    assert_eq!(
        consegne,
        [first_id.as_str(), second_id.as_str()],
        "{mario_sees:?}"
    );
}
