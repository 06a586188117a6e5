//! Python's imaplib (a real, independent client) reads a PEC box over STARTTLS and implicit
//! TLS, and idles until a delivery arrives. Needs `python3` on PATH.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::support::*;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/server/imaplib_client.py"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_imaplib_reads_a_pec_box() {
    let server = Arc::new(Server::start().await);
    let cafile = server.dir.path().join("ca.pem");
    std::fs::write(&cafile, &server.pki.ca_pem).unwrap();
    let message = server.dir.path().join("message.eml");
    std::fs::write(&message, fixture(BUSTA_LF)).unwrap();
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .arg(server.plain.port().to_string())
        .arg(server.implicit.port().to_string())
        .arg(&cafile)
        .arg(MARIO)
        .arg(PASSWORD)
        .arg(&message)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 on PATH");
    let stdout = child.stdout.take().unwrap();
    let delivering = server.clone();
    let handle = tokio::runtime::Handle::current();
    let (json, status, stderr) = tokio::task::spawn_blocking(move || {
        let mut json = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line == "IDLING" {
                handle.block_on(delivering.deliver(MARIO, "INBOX", &fixture(BUSTA)));
            } else {
                json = line;
            }
        }
        let output = child.wait_with_output().unwrap();
        (
            json,
            output.status,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap();
    assert!(status.success(), "imaplib session failed: {stderr}");
    let r: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json:?} {stderr}"));
    let strings = |key: &str| -> Vec<String> {
        r[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} missing: {r}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert!(strings("plain_capabilities").contains(&"LOGINDISABLED".to_owned()));
    assert!(strings("tls_capabilities").contains(&"AUTH=PLAIN".to_owned()));
    let folders = strings("folders");
    assert!(
        folders.contains(&"(\\Noselect \\HasChildren \\Archive) \"/\" Archivio".to_owned()),
        "{folders:?}"
    );
    assert!(
        folders.contains(&"(\\HasNoChildren \\Sent) \"/\" Sent".to_owned()),
        "{folders:?}"
    );
    assert_eq!(strings("exists"), ["3"]);
    assert_eq!(strings("receipts"), ["2"]);
    assert_eq!(r["subject"], "Subject: ACCETTAZIONE: test private\r\n\r\n");
    assert_eq!(r["size_read"], fixture(BUSTA).len());
    assert_eq!(strings("seen"), ["1"]);
    assert!(strings("flagged")[0].contains("\\Flagged"), "{r}");
    assert!(strings("copy")[0].starts_with("[COPYUID "), "{r}");
    // imaplib returns every EXPUNGE since the last EXPUNGE command: the MOVE's, then this one.
    assert_eq!(strings("expunged"), ["3", "1"]);
    assert_eq!(strings("left"), ["2"]);
    assert!(strings("append")[0].starts_with("[APPENDUID "), "{r}");
    assert_eq!(
        strings("status")[0],
        "Drafts (MESSAGES 1 UIDNEXT 2 UNSEEN 1)"
    );
    assert!(
        r["idle_continuation"].as_str().unwrap().starts_with('+'),
        "{r}"
    );
    assert_eq!(r["idle_news"], "* 2 EXISTS");
    assert!(r["idle_done"].as_str().unwrap().contains(" OK "), "{r}");
    assert_eq!(r["logout"], "BYE");
    assert_eq!(strings("tls_exists"), ["2"]);
    assert_eq!(strings("tls_uids"), ["2 4"]);
    let trash = server.store.messages(MARIO, "Trash").await.unwrap();
    assert_eq!(trash.len(), 2, "one copied, one moved");
    assert!(trash[0].flags.contains(&"\\Flagged".to_owned()));
}
