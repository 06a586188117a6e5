//! The web door of `pecora demo`, end to end: two providers on loopback, a PEC sent with a
//! real SMTP client (Python's smtplib), then read over HTTPS on the `web_port` that
//! demo.json names: with curl against the demo CA (login, the folder with its badge, the busta
//! under a verifying certification banner), and in Debian's Chromium driven by playwright-core
//! (`tests/js/webmail.mjs`), which keeps a screenshot of each step in
//! `target/tmp/web-screenshots/`.

#[path = "support/net.rs"]
mod net;

use net::*;

use std::path::Path;
use std::process::Command;

/// curl against the demo's web door, keeping cookies in `jar`; the body.
fn curl(net: &Net, jar: &Path, port: &str, path: &str, form: &[(&str, &str)]) -> String {
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

#[test]
fn the_webmail_of_the_demo_shows_a_certified_message() {
    let net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (ufficio, password) = net.user(1, 0);
    let msg = message(&mario, &ufficio, None, "Verbale web", "");
    let reply = net.submit(0, 0, &mario, &[&ufficio], &msg);
    assert_eq!(reply["code"], 250, "{reply}");
    let id = identificativo(&reply);
    net.wait_for(1, &ufficio, "posta-certificata", 1);

    let port = net.port(1, "web_port");
    let jar = net.dir.path().join("cookies.txt");
    let login = curl(&net, &jar, &port, "/login", &[]);
    let at = login.find("name=\"csrf\" value=\"").unwrap() + 19;
    let token = &login[at..at + 64];
    curl(
        &net,
        &jar,
        &port,
        "/login",
        &[
            ("login", &ufficio),
            ("password", &password),
            ("csrf", token),
        ],
    );
    let inbox = curl(&net, &jar, &port, "/posta/cartella?nome=INBOX", &[]);
    assert!(inbox.contains("data-kind=\"posta-certificata\""), "{inbox}");
    let at = inbox
        .find("/posta/messaggio?cartella=INBOX&#38;uid=")
        .unwrap();
    let link = &inbox[at..at + inbox[at..].find('"').unwrap()].replace("&#38;", "&");
    let busta = curl(&net, &jar, &port, link, &[]);
    assert!(busta.contains("data-valid=\"true\""), "{busta}");
    assert!(busta.contains("Pecora Uno S.p.A."), "{busta}");
    assert!(busta.contains(&id), "{busta}");
    assert!(busta.contains("Verbale web"), "{busta}");
    // Plain HTTP gets no page.
    let plain = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            &format!("http://localhost:{port}/login"),
        ])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("login-form"));
}

#[test]
fn a_browser_reads_the_busta_under_its_banner() {
    let net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (ufficio, password) = net.user(1, 0);
    let msg = message(&mario, &ufficio, None, "Verbale nel browser", "");
    let reply = net.submit(0, 0, &mario, &[&ufficio], &msg);
    assert_eq!(reply["code"], 250, "{reply}");
    let id = identificativo(&reply);
    net.wait_for(1, &ufficio, "posta-certificata", 1);

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        js.join("node_modules/playwright-core").exists(),
        "playwright-core is installed by scripts/test (npm ci --prefix crates/pecora/tests/js)"
    );
    let out = Command::new("node")
        .arg(js.join("webmail.mjs"))
        .args([
            &format!("https://localhost:{}", net.port(1, "web_port")),
            &ufficio,
            &password,
            "Verbale nel browser",
            shots.to_str().unwrap(),
        ])
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "webmail.mjs: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(seen["wrongPassword"].as_str().unwrap().len() > 10, "{seen}");
    assert!(
        seen["mailbox"].as_str().unwrap().contains(&ufficio),
        "{seen}"
    );
    assert_eq!(seen["badge"], "posta-certificata", "{seen}");
    assert_eq!(seen["bannerValid"], "true", "{seen}");
    assert_eq!(seen["signedBy"], "Pecora Uno S.p.A.", "{seen}");
    assert_eq!(seen["identificativo"], id.as_str(), "{seen}");
    assert!(
        seen["originalFrom"].as_str().unwrap().contains(&mario),
        "{seen}"
    );
    assert!(
        !seen["englishSignature"].as_str().unwrap().is_empty(),
        "{seen}"
    );
    for step in [
        "1-login-errato",
        "2-posta-in-arrivo",
        "3-busta-con-banner",
        "4-english",
    ] {
        assert!(shots.join(format!("{step}.png")).exists(), "{step}.png");
    }
}
