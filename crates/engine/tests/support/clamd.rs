//! A real clamd for tests: [`TestClamd::start`] runs ClamAV's daemon (Debian package
//! `clamav-daemon`; `scripts/test` installs it) in the foreground on a free port of
//! 127.0.0.1 and on a unix socket, both in a temporary directory, with a database of our own:
//! Debian ships no signatures, and the tests need nothing but the EICAR test file. It is
//! killed when dropped.
//!
//! Synchronous and std-only (plus `tempfile`), so any crate's tests can use it through
//! `#[path = ".../engine/tests/support/clamd.rs"] mod clamd;`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The EICAR anti-virus test file (68 bytes).
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// MD5 of [`EICAR`], for the `.hdb` signature.
const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";

/// How long clamd may take to answer PING after it was started.
const STARTUP: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Options {
    /// clamd's `StreamMaxLength`, in bytes: INSTREAM beyond it is refused.
    pub stream_max_length: u64,
    /// Besides the hash of the exact 68-byte file (`Eicar-Test-Signature`), a body signature
    /// (`Eicar-Test-Signature-Body`) that finds the EICAR string anywhere in a file. clamd
    /// reports the body signature when both match. Without it only a file that is exactly
    /// EICAR is found: on its own, or as a MIME attachment, which clamd decodes.
    pub body_signature: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            stream_max_length: 1024 * 1024,
            body_signature: true,
        }
    }
}

pub struct TestClamd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl TestClamd {
    /// clamd with both signatures and a `StreamMaxLength` of 1 MiB.
    pub fn start() -> TestClamd {
        TestClamd::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> TestClamd {
        let binary = clamd_binary();
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap();
        std::fs::write(
            db.join("eicar.hdb"),
            format!("{EICAR_MD5}:{}:Eicar-Test-Signature\n", EICAR.len()),
        )
        .unwrap();
        if options.body_signature {
            let hex: String = EICAR.iter().map(|b| format!("{b:02x}")).collect();
            std::fs::write(
                db.join("eicar.ndb"),
                format!("Eicar-Test-Signature-Body:0:*:{hex}\n"),
            )
            .unwrap();
        }
        // The port is free when we look; another process may take it before clamd binds it,
        // so a clamd that exits at start is retried on another port.
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let conf = dir.path().join("clamd.conf");
            // Root needs no `User` line: clamd then keeps running as whoever started it.
            std::fs::write(
                &conf,
                format!(
                    "Foreground yes\n\
                     TCPSocket {port}\n\
                     TCPAddr 127.0.0.1\n\
                     LocalSocket {}\n\
                     DatabaseDirectory {}\n\
                     TemporaryDirectory {}\n\
                     LogFile {}\n\
                     PidFile {}\n\
                     StreamMaxLength {}\n\
                     MaxThreads 4\n",
                    dir.path().join("clamd.sock").display(),
                    db.display(),
                    dir.path().display(),
                    dir.path().join("clamd.log").display(),
                    dir.path().join("clamd.pid").display(),
                    options.stream_max_length,
                ),
            )
            .unwrap();
            let out = std::fs::File::create(dir.path().join("clamd.out")).unwrap();
            let child = Command::new(&binary)
                .arg("--config-file")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
            let mut child = child;
            if wait_ready(&mut child, port) {
                return TestClamd { child, port, dir };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = log(dir.path());
        }
        panic!("clamd did not start; its log:\n{last_log}");
    }

    /// `tcp:127.0.0.1:PORT`, as `[antivirus] clamd` takes it.
    pub fn tcp_address(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.port)
    }

    /// `unix:/tmp/.../clamd.sock`.
    pub fn unix_address(&self) -> String {
        format!("unix:{}", self.dir.path().join("clamd.sock").display())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What clamd wrote to its log file and to stdout/stderr.
    pub fn log(&self) -> String {
        log(self.dir.path())
    }
}

fn log(dir: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    format!("{}{}", read("clamd.log"), read("clamd.out"))
}

/// Waits for PONG; false if clamd exited or never answered.
fn wait_ready(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + STARTUP;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if ping(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

impl Drop for TestClamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"zPING\0").is_err() {
        return false;
    }
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    reply.starts_with(b"PONG")
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `clamd` on PATH, else where Debian puts it (`/usr/sbin`, often not on a user's PATH).
fn clamd_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("clamd"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([
            PathBuf::from("/usr/sbin/clamd"),
            PathBuf::from("/usr/local/sbin/clamd"),
        ])
        .find(|p| is_executable(p))
        .expect("clamd not found: install the Debian package clamav-daemon (scripts/test does)")
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
