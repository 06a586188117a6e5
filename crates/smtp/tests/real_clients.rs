//! Real SMTP clients against the submission door: Python's smtplib (STARTTLS with AUTH PLAIN
//! and LOGIN, implicit TLS) and swaks. Needs `python3` and `swaks` (Debian packages
//! `python3`, `swaks`, `libnet-ssleay-perl`) on PATH.

mod common;

use std::path::Path;
use std::process::Command;

use common::{MARIO, MARIO_PASSWORD, Pki, QUEUED, Recorder, config, sample_message, start};
use smtp::Door;

const RCPT: &str = "luigi.bianchi@pec.altro.it";

/// Runs a command on the blocking pool (the server keeps running on the runtime) and
/// returns its stdout, failing the test with stderr if it fails.
async fn run(mut command: Command) -> String {
    let description = format!("{command:?}");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("cannot run {description}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{description} failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

async fn smtplib(
    mode: &str,
    port: u16,
    dir: &Path,
    mechanism: &str,
    user: &str,
) -> serde_json::Value {
    let message = dir.join("message.eml");
    std::fs::write(&message, sample_message(MARIO, RCPT)).unwrap();
    let mut command = Command::new("python3");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtplib_client.py"))
        .arg(mode)
        .arg(port.to_string())
        .arg(dir.join("ca.pem"))
        .arg(mechanism)
        .arg(user)
        .arg(MARIO_PASSWORD)
        .arg(MARIO)
        .arg(RCPT)
        .arg(&message);
    let stdout = run(command).await;
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn check_delivered(handler: &Recorder) {
    let messages = handler.messages();
    assert_eq!(messages.len(), 1);
    let (session, envelope, message) = &messages[0];
    assert!(session.tls);
    assert_eq!(session.authenticated.as_deref(), Some(MARIO));
    assert_eq!(envelope.mail_from, MARIO);
    assert_eq!(envelope.rcpt_to, vec![RCPT.to_owned()]);
    let expected = sample_message(MARIO, RCPT);
    assert_eq!(envelope.size_hint, Some(expected.len() as u64));
    // Exact bytes: the dot-stuffing smtplib added is gone, nothing else changed.
    assert_eq!(
        String::from_utf8_lossy(message),
        String::from_utf8_lossy(&expected)
    );
}

#[tokio::test]
async fn smtplib_starttls_auth_plain() {
    let pki = Pki::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    let handler = Recorder::new();
    let server = start(
        config(Door::Submission, Some(pki.server_tls())),
        handler.clone(),
    )
    .await;
    let result = smtplib("starttls", server.addr.port(), dir.path(), "PLAIN", MARIO).await;
    assert_eq!(result["starttls"][0], 220);
    let plain: Vec<&str> = result["plain_features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        plain.contains(&"starttls") && !plain.contains(&"auth"),
        "{plain:?}"
    );
    let features = result["features"].to_string();
    assert!(
        features.contains("\"auth\"") && !features.contains("starttls"),
        "{features}"
    );
    assert_eq!(result["auth"][0], 235, "{result}");
    assert_eq!(result["mail"][0], 250, "{result}");
    assert_eq!(result["rcpt"][0], 250, "{result}");
    assert_eq!(result["data"][0], 250, "{result}");
    assert_eq!(result["data"][1], format!("2.0.0 {QUEUED}"));
    check_delivered(&handler);
}

#[tokio::test]
async fn smtplib_starttls_auth_login() {
    let pki = Pki::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    let handler = Recorder::new();
    let server = start(
        config(Door::Submission, Some(pki.server_tls())),
        handler.clone(),
    )
    .await;
    let result = smtplib(
        "starttls",
        server.addr.port(),
        dir.path(),
        "LOGIN",
        "mrossi",
    )
    .await;
    assert_eq!(result["auth"][0], 235, "{result}");
    assert_eq!(result["data"][1], format!("2.0.0 {QUEUED}"));
    check_delivered(&handler);
    assert_eq!(
        *handler.auth_attempts.lock().unwrap(),
        vec!["mrossi".to_owned()]
    );
}

#[tokio::test]
async fn smtplib_implicit_tls() {
    let pki = Pki::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    let handler = Recorder::new();
    // The STARTTLS listener and the implicit-TLS listener side by side, as in production.
    let _starttls = start(
        config(Door::Submission, Some(pki.server_tls())),
        handler.clone(),
    )
    .await;
    let mut implicit = config(Door::Submission, Some(pki.server_tls()));
    implicit.implicit_tls = true;
    let server = start(implicit, handler.clone()).await;
    let result = smtplib("ssl", server.addr.port(), dir.path(), "PLAIN", MARIO).await;
    assert_eq!(result["auth"][0], 235, "{result}");
    assert_eq!(result["data"][0], 250, "{result}");
    check_delivered(&handler);
}

#[tokio::test]
async fn swaks_submission() {
    let pki = Pki::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    let message = dir.path().join("message.eml");
    std::fs::write(&message, sample_message(MARIO, RCPT)).unwrap();
    let handler = Recorder::new();
    let server = start(
        config(Door::Submission, Some(pki.server_tls())),
        handler.clone(),
    )
    .await;
    let mut command = Command::new("swaks");
    command
        .args([
            "--server",
            &server.addr.to_string(),
            "--tls",
            "--auth",
            "PLAIN",
        ])
        .args(["--auth-user", MARIO, "--auth-password", MARIO_PASSWORD])
        .args(["--from", MARIO, "--to", RCPT, "--helo", "client.example"])
        .arg("--data")
        .arg(&message);
    let transcript = run(command).await;
    assert!(
        transcript.contains(&format!("<~  250 2.0.0 {QUEUED}")),
        "{transcript}"
    );
    let messages = handler.messages();
    assert_eq!(messages.len(), 1);
    let (session, envelope, body) = &messages[0];
    assert!(session.tls);
    assert_eq!(envelope.mail_from, MARIO);
    assert_eq!(envelope.rcpt_to, vec![RCPT.to_owned()]);
    // swaks sends the file, then CRLF . CRLF even when the file ends with CRLF: one empty
    // line more; its dot-stuffing is undone.
    let mut expected = sample_message(MARIO, RCPT);
    expected.extend_from_slice(b"\r\n");
    assert_eq!(
        String::from_utf8_lossy(body),
        String::from_utf8_lossy(&expected)
    );
}
