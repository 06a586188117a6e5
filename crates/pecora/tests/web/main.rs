//! The web door of `pecora demo`, end to end: two providers on loopback, driven over HTTPS
//! on the `web_port` that demo.json names, with curl against the demo CA and with Debian's
//! Chromium driven by playwright-core (the scripts of `tests/js/`), which keep a screenshot
//! of each step in `target/tmp/web-screenshots/<area>/`.
//!
//! One module per area of the door: reading mail ([`lettura`]), writing and following a
//! PEC ([`scrittura`]), the holder's settings and activation ([`impostazioni`]), the
//! administration panel ([`amministrazione`]), password recovery through the e-mailed link
//! ([`recupero`]) and the REST API ([`api`]).

#[path = "../support/dns_responder.rs"]
mod dns_responder;
#[path = "../support/net.rs"]
mod net;

mod amministrazione;
mod api;
mod impostazioni;
mod lettura;
mod recupero;
mod scrittura;

use net::*;

use std::path::{Path, PathBuf};
use std::process::Command;

/// curl against the demo's web door of provider `p`, keeping cookies in `jar`; the body.
/// A non-empty `form` is posted (URL-encoded).
pub fn curl(net: &Net, jar: &Path, p: usize, path: &str, form: &[(&str, &str)]) -> String {
    let port = net.port(p, "web_port");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--cacert", &net.ca(), "-c", jar.to_str().unwrap()])
        .args(["-b", jar.to_str().unwrap()])
        .arg(format!("https://localhost:{port}{path}"));
    for (k, v) in form {
        cmd.args(["--data-urlencode", &format!("{k}={v}")]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "curl {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    page[at..at + 64].to_string()
}

/// Logs into provider `p`'s webmail with curl, keeping the session in `jar`.
pub fn curl_login(net: &Net, jar: &Path, p: usize, login: &str, password: &str) {
    let form = curl(net, jar, p, "/login", &[]);
    let token = csrf_of(&form);
    curl(
        net,
        jar,
        p,
        "/login",
        &[("login", login), ("password", password), ("csrf", &token)],
    );
}

/// Where `script`'s screenshots go: `target/tmp/web-screenshots/<area>/`, emptied first.
pub fn screenshots(area: &str) -> PathBuf {
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("web-screenshots")
        .join(area);
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    shots
}

/// Runs `tests/js/<script>` in node with `args` and parses what it prints as JSON; fails
/// the test with the script's output when it fails.
pub fn browser(script: &str, args: &[&str]) -> serde_json::Value {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        js.join("node_modules/playwright-core").exists(),
        "playwright-core is installed by scripts/test (npm ci --prefix crates/pecora/tests/js)"
    );
    let out = Command::new("node")
        .arg(js.join(script))
        .args(args)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "{script}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The webmail's base URL for provider `p`.
pub fn web_url(net: &Net, p: usize) -> String {
    format!("https://localhost:{}", net.port(p, "web_port"))
}
