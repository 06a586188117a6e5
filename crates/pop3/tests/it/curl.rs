//! curl as the POP3 client: pop3s (implicit TLS) and pop3 with `--ssl-reqd` (STLS), listing
//! the box and retrieving a message. Skipped, saying so, where curl is not installed.

use tokio::process::Command;

use crate::support::{ACCETTAZIONE, BUSTA_CRLF, HOLDER, PASSWORD, Provider};

/// Runs curl; `None` when curl is not installed.
async fn curl(args: &[&str]) -> Option<Vec<u8>> {
    let output = match Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "30"])
        .args(args)
        .output()
        .await
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: curl is not on PATH");
            return None;
        }
        Err(e) => panic!("cannot run curl: {e}"),
    };
    assert!(
        output.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(output.stdout)
}

#[tokio::test]
async fn curl_over_pop3s_lists_and_retrieves_message_1() {
    let p = Provider::new().await;
    let busta = p.deliver(HOLDER, BUSTA_CRLF).await;
    let ricevuta = p.deliver(HOLDER, ACCETTAZIONE).await;
    let server = p.serve(p.config_implicit()).await;
    let url = format!("pop3s://127.0.0.1:{}/", server.addr.port());
    let user = format!("{HOLDER}:{PASSWORD}");

    let Some(listing) = curl(&["--insecure", "--user", &user, &url]).await else {
        return;
    };
    let expected = format!("1 {}\r\n2 {}\r\n", busta.len(), ricevuta.len());
    assert_eq!(String::from_utf8(listing).unwrap(), expected);

    let Some(message) = curl(&["--insecure", "--user", &user, &format!("{url}1")]).await else {
        return;
    };
    assert!(
        message == busta,
        "curl's message 1 differs from the stored busta"
    );
}

#[tokio::test]
async fn curl_with_ssl_reqd_uses_stls_and_verifies_the_certificate() {
    let p = Provider::new().await;
    let ricevuta = p.deliver(HOLDER, ACCETTAZIONE).await;
    let server = p.serve(p.config()).await;
    let url = format!("pop3://localhost:{}/", server.addr.port());
    let user = format!("{HOLDER}:{PASSWORD}");
    let ca = p.ca_file.to_str().unwrap();

    let Some(message) = curl(&[
        "--ssl-reqd",
        "--cacert",
        ca,
        "--user",
        &user,
        &format!("{url}1"),
    ])
    .await
    else {
        return;
    };
    assert!(
        message == ricevuta,
        "curl's message 1 differs from the stored ricevuta"
    );

    // A custom command with a multi-line answer, also inside STLS.
    let Some(uidl) = curl(&[
        "--ssl-reqd",
        "--cacert",
        ca,
        "--user",
        &user,
        "--request",
        "UIDL",
        &url,
    ])
    .await
    else {
        return;
    };
    let uid = p.inbox(HOLDER).await[0].uid;
    let text = String::from_utf8(uidl).unwrap();
    assert!(
        text.starts_with("1 ") && text.trim_end().ends_with(&format!(".{uid}")),
        "{text}"
    );
}
