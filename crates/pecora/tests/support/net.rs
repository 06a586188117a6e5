//! The test harness for networks of real `pecora` processes on loopback: starts `pecora demo`
//! in a temporary directory (or each provider of a prepared demo as its own `pecora serve`,
//! to kill and restart one alone), drives it with the Python SMTP client (`tests/smtp_client.py`),
//! reads mailboxes through `pecora admin mailbox-export`, and checks every message with
//! `pecora verify`, the `openssl` CLI and `xmllint --dtdvalid`. Shared by the network test
//! files; each uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const PECORA: &str = env!("CARGO_BIN_EXE_pecora");

pub struct Net {
    pub dir: tempfile::TempDir,
    /// The running network: `pecora demo` alone ([`Net::start`]), or one `pecora serve` per
    /// provider, process p serving provider p ([`Net::start_served`]).
    pub procs: Vec<Proc>,
    pub demo: Value,
}

impl Drop for Net {
    fn drop(&mut self) {
        for p in &mut self.procs {
            p.kill();
        }
    }
}

/// A `pecora` process of the network; its stderr is appended to `log` across restarts.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
    args: Vec<String>,
}

impl Proc {
    pub fn spawn(log: PathBuf, args: &[&str]) -> Proc {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        Proc {
            child: launch(&log, &args),
            log,
            args,
        }
    }

    /// SIGKILL (no chance to clean up), and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the process again with the same arguments (after [`Proc::kill`]).
    pub fn restart(&mut self) {
        self.child = launch(&self.log, &self.args);
    }
}

fn launch(log: &Path, args: &[String]) -> Child {
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(PECORA)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start pecora {args:?}: {e}"))
}

pub fn spawn_demo(dir: &Path) -> Proc {
    Proc::spawn(
        dir.join("demo.stderr"),
        &["demo", "--dir", dir.to_str().unwrap()],
    )
}

impl Net {
    pub fn start() -> Net {
        let dir = tempfile::tempdir().unwrap();
        let procs = vec![spawn_demo(dir.path())];
        let json = dir.path().join("demo.json");
        let mut net = Net {
            dir,
            procs,
            demo: Value::Null,
        };
        // Generous: on a loaded 2-core CI machine several demos start at once.
        net.wait_alive(Duration::from_secs(180), "demo.json", || json.exists());
        net.demo = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        net.wait_listening();
        net
    }

    /// The demo network written by `pecora demo --prepare`, each provider run by its own
    /// `pecora serve`, so that one can be killed and restarted alone.
    pub fn start_served() -> Net {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap().to_string();
        let prepared = Command::new(PECORA)
            .args(["demo", "--dir", &path, "--prepare"])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            prepared.status.success(),
            "demo --prepare: {}",
            String::from_utf8_lossy(&prepared.stderr)
        );
        let demo: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("demo.json")).unwrap()).unwrap();
        let procs = demo["providers"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(p, provider)| {
                let config = provider["config"].as_str().unwrap();
                let log = dir.path().join(format!("serve-{p}.stderr"));
                Proc::spawn(log, &["serve", "--config", config])
            })
            .collect();
        let mut net = Net { dir, procs, demo };
        net.wait_listening();
        net
    }

    pub fn wait_listening(&mut self) {
        for p in 0..2 {
            self.wait_provider(p);
        }
    }

    /// Waits until provider p's submission, MX and web doors accept connections.
    pub fn wait_provider(&mut self, p: usize) {
        for port in ["submission_port", "mx_port", "web_port"] {
            let port = self.demo["providers"][p][port].as_u64().unwrap();
            self.wait_alive(Duration::from_secs(120), "listening", || {
                std::net::TcpStream::connect(("127.0.0.1", port as u16)).is_ok()
            });
        }
    }

    /// Waits for `f`, failing at once (with its stderr) if a process of the network exited.
    pub fn wait_alive(&mut self, limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !f() {
            self.assert_running(what);
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Fails (with its stderr) if a process of the network exited.
    pub fn assert_running(&mut self, what: &str) {
        for p in &mut self.procs {
            if let Ok(Some(status)) = p.child.try_wait() {
                let log = std::fs::read_to_string(&p.log).unwrap_or_default();
                panic!(
                    "pecora {:?} exited ({status}) before {what}:\n{log}",
                    p.args
                );
            }
        }
    }

    /// Stops the network, lets `edit` change provider p's `pecora.toml`, and starts it again
    /// (on the same demo.json, configurations and data).
    pub fn reconfigure(&mut self, p: usize, edit: impl FnOnce(&mut toml::Table)) {
        for proc in &mut self.procs {
            proc.kill();
        }
        let path = self.config(p);
        let mut config: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        edit(&mut config);
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        for proc in &mut self.procs {
            proc.restart();
        }
        self.wait_listening();
    }

    pub fn ca(&self) -> String {
        self.demo["ca"].as_str().unwrap().to_string()
    }

    pub fn config(&self, p: usize) -> String {
        self.demo["providers"][p]["config"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn user(&self, p: usize, n: usize) -> (String, String) {
        let u = &self.demo["providers"][p]["users"][n];
        (
            u["address"].as_str().unwrap().into(),
            u["password"].as_str().unwrap().into(),
        )
    }

    /// Account `n` of provider p's administration panel (0: the provider admin, 1: the
    /// postmaster of its domain): (login, password).
    pub fn panel_account(&self, p: usize, n: usize) -> (String, String) {
        let a = &self.demo["providers"][p]["admins"][n];
        (
            a["login"].as_str().unwrap().into(),
            a["password"].as_str().unwrap().into(),
        )
    }

    pub fn port(&self, p: usize, which: &str) -> String {
        self.demo["providers"][p][which]
            .as_u64()
            .unwrap()
            .to_string()
    }

    pub fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// Client arguments to log in as user (p, n) on its submission door with STARTTLS.
    pub fn auth_args(&self, p: usize, n: usize) -> Vec<String> {
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
    pub fn send(
        &self,
        mut args: Vec<String>,
        mail_from: &str,
        rcpt: &[&str],
        message: &[u8],
    ) -> Value {
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
    pub fn submit(
        &self,
        p: usize,
        n: usize,
        mail_from: &str,
        rcpt: &[&str],
        message: &str,
    ) -> Value {
        self.send(self.auth_args(p, n), mail_from, rcpt, message.as_bytes())
    }

    /// Plain SMTP to provider p's MX, as the Internet (or another gestore) would.
    pub fn to_mx(&self, p: usize, mail_from: &str, rcpt: &[&str], message: &[u8]) -> Value {
        let args = vec![
            "--port".into(),
            self.port(p, "mx_port"),
            "--mode".into(),
            "plain".into(),
        ];
        self.send(args, mail_from, rcpt, message)
    }

    pub fn admin(&self, p: usize, args: &[&str]) -> Output {
        self.operator(p, "admin", args)
    }

    pub fn pecora(&self, args: &[&str]) -> Output {
        Command::new(PECORA)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    }

    /// Runs `pecora <command> --config <provider p's config> <args>`; fails the test unless it
    /// succeeds.
    pub fn operator(&self, p: usize, command: &str, args: &[&str]) -> Output {
        let config = self.config(p);
        let mut all = vec![command, "--config", &config];
        all.extend_from_slice(args);
        let out = self.pecora(&all);
        assert!(
            out.status.success(),
            "pecora {all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Provider p's relay queue (`pecora queue list --json`).
    pub fn queue(&self, p: usize) -> Vec<Value> {
        let out = self.operator(p, "queue", &["list", "--json"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Makes provider p's queued jobs `ids` (every job if empty) due now.
    pub fn queue_retry(&self, p: usize, ids: &[u64]) {
        let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
        let mut args = vec!["retry"];
        args.extend(ids.iter().map(String::as_str));
        self.operator(p, "queue", &args);
    }

    /// The messages in a mailbox, as (kind, path).
    pub fn mailbox(&self, p: usize, address: &str) -> Vec<(String, PathBuf)> {
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
    pub fn wait_for(&self, p: usize, address: &str, kind: &str, count: usize) -> Vec<PathBuf> {
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

    /// `pecora verify --json --ca` over files, the `openssl` CLI and `xmllint --dtdvalid`
    /// on each: every check must pass.
    pub fn verify(&self, files: &[PathBuf]) -> Vec<Value> {
        let reports = self.verify_reports(files);
        for r in &reports {
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

    /// `pecora verify --json --ca` over files, in one run: one report per file, every one ok.
    pub fn verify_reports(&self, files: &[PathBuf]) -> Vec<Value> {
        let ca = self.ca();
        let mut args = vec!["verify", "--json", "--ca", &ca];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        let out = self.pecora(&args);
        let reports: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(reports.len(), files.len(), "one report per file");
        for r in &reports {
            assert_eq!(r["ok"], true, "{r}");
        }
        reports
    }
}

pub fn client(args: &[String]) -> Value {
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

pub fn openssl_verifies(file: &str, ca: &str) {
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
pub fn dtd_valid(_: &Value, file: &str) {
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

pub fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

pub fn message(from: &str, to: &str, cc: Option<&str>, subject: &str, extra: &str) -> String {
    let cc = cc.map(|c| format!("Cc: {c}\r\n")).unwrap_or_default();
    format!(
        "From: {from}\r\nTo: {to}\r\n{cc}Subject: {subject}\r\nMessage-ID: <{}@client.test>\r\n{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTesto del messaggio.\r\n",
        unique()
    )
}

pub fn identificativo(reply: &Value) -> String {
    let text = reply["text"].as_str().unwrap();
    text.rsplit("identificativo ")
        .next()
        .unwrap()
        .trim()
        .to_string()
}

/// A client held open mid-session: a Python program (`args` for python3) that prints one
/// JSON line when it reaches the point to pause at (logged in, half-way through DATA...),
/// waits for a line on standard input, goes on and prints one JSON line more.
pub struct Held(
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
);

impl Held {
    pub fn start(args: Vec<String>) -> Held {
        use std::io::BufRead;
        let mut child = Command::new("python3")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is needed");
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(line.contains("ready"), "client not ready: {line:?}");
        Held(child, out)
    }

    pub fn go_on(mut self) -> Value {
        use std::io::{BufRead, Write};
        writeln!(self.0.stdin.as_mut().unwrap()).unwrap();
        let mut line = String::new();
        self.1.read_line(&mut line).unwrap();
        let _ = self.0.wait();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("client said {line:?}"))
    }
}
