//! The server's rules, one unhappy (or happy) path at a time, with a raw line-level client.

mod common;

use std::time::Duration;

use common::{
    ANNA, ANNA_PASSWORD, MARIO, MARIO_PASSWORD, Pki, QUEUED, Raw, Recorder, auth_plain, config,
    start,
};
use smtp::{Door, Reply};

#[tokio::test]
async fn submission_requires_tls_before_auth() {
    let pki = Pki::new("Test CA");
    let server = start(
        config(Door::Submission, Some(pki.server_tls())),
        Recorder::new(),
    )
    .await;
    let mut raw = Raw::connect(server.addr).await;
    let ehlo = raw.cmd("EHLO client.example").await;
    assert_eq!(ehlo.code, 250);
    assert!(ehlo.lines.contains(&"STARTTLS".to_owned()), "{ehlo:?}");
    assert!(ehlo.lines.contains(&"SIZE 10000".to_owned()), "{ehlo:?}");
    for ext in ["8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES"] {
        assert!(ehlo.lines.contains(&ext.to_owned()), "{ext} in {ehlo:?}");
    }
    assert!(
        !ehlo.lines.iter().any(|l| l.starts_with("AUTH")),
        "{ehlo:?}"
    );
    let reply = raw.cmd(&auth_plain(MARIO, MARIO_PASSWORD)).await;
    assert_eq!(reply.code, 538, "{reply:?}");
    assert!(reply.text().starts_with("5.7.11"), "{reply:?}");
    let reply = raw.cmd(&format!("MAIL FROM:<{MARIO}>")).await;
    assert_eq!(reply.code, 530, "{reply:?}");

    // Inside TLS: AUTH offered, STARTTLS no longer.
    raw.starttls(pki.client_tls()).await;
    let ehlo = raw.cmd("EHLO client.example").await;
    assert!(
        ehlo.lines.contains(&"AUTH PLAIN LOGIN".to_owned()),
        "{ehlo:?}"
    );
    assert!(!ehlo.lines.contains(&"STARTTLS".to_owned()), "{ehlo:?}");
    assert_eq!(raw.cmd("STARTTLS").await.code, 503);
    assert_eq!(raw.cmd(&auth_plain(MARIO, MARIO_PASSWORD)).await.code, 235);
    assert_eq!(raw.cmd(&auth_plain(MARIO, MARIO_PASSWORD)).await.code, 503);
}

#[tokio::test]
async fn submission_without_tls_configured_refuses_auth() {
    let server = start(config(Door::Submission, None), Recorder::new()).await;
    let mut raw = Raw::connect(server.addr).await;
    let ehlo = raw.cmd("EHLO client.example").await;
    assert!(
        !ehlo
            .lines
            .iter()
            .any(|l| l == "STARTTLS" || l.starts_with("AUTH"))
    );
    assert_eq!(raw.cmd("STARTTLS").await.code, 502);
    assert_eq!(raw.cmd(&auth_plain(MARIO, MARIO_PASSWORD)).await.code, 538);
}

#[tokio::test]
async fn wrong_password_is_535_and_the_third_failure_closes() {
    let pki = Pki::new("Test CA");
    let handler = Recorder::new();
    let server = start(
        config(Door::Submission, Some(pki.server_tls())),
        handler.clone(),
    )
    .await;
    let mut raw = Raw::submission_tls(server.addr, pki.client_tls()).await;
    let reply = raw.cmd(&auth_plain(MARIO, "wrong")).await;
    assert_eq!(
        (reply.code, reply.text().as_str()),
        (535, "5.7.8 authentication credentials invalid")
    );
    assert_eq!(raw.cmd(&auth_plain("nobody@x.it", "wrong")).await.code, 535);
    let reply = raw.cmd(&auth_plain(MARIO, "wrong again")).await;
    assert_eq!(reply.code, 421, "{reply:?}");
    raw.expect_closed().await;
    assert_eq!(handler.auth_attempts.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn malformed_and_cancelled_auth() {
    let pki = Pki::new("Test CA");
    let server = start(
        config(Door::Submission, Some(pki.server_tls())),
        Recorder::new(),
    )
    .await;
    let mut raw = Raw::submission_tls(server.addr, pki.client_tls()).await;
    assert_eq!(raw.cmd("AUTH PLAIN !!!notbase64").await.code, 501);
    assert_eq!(raw.cmd("AUTH CRAM-MD5").await.code, 504);
    // PLAIN without initial response: empty challenge, then cancel.
    let reply = raw.cmd("AUTH PLAIN").await;
    assert_eq!(reply.code, 334);
    assert_eq!(raw.cmd("*").await.code, 501);
    // LOGIN step by step.
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let reply = raw.cmd("AUTH LOGIN").await;
    assert_eq!((reply.code, reply.text().as_str()), (334, "VXNlcm5hbWU6"));
    let reply = raw.cmd(&b64("mrossi")).await;
    assert_eq!((reply.code, reply.text().as_str()), (334, "UGFzc3dvcmQ6"));
    assert_eq!(raw.cmd(&b64(MARIO_PASSWORD)).await.code, 235);
    // The login name was "mrossi", the mailbox is what the handler said.
    assert_eq!(raw.cmd(&format!("MAIL FROM:<{MARIO}>")).await.code, 250);

    // UTF-8 passwords reach the handler intact.
    let mut raw = Raw::submission_tls(server.addr, pki.client_tls()).await;
    assert_eq!(raw.cmd(&auth_plain(ANNA, ANNA_PASSWORD)).await.code, 235);
}

#[tokio::test]
async fn mail_from_must_be_the_authenticated_mailbox() {
    let pki = Pki::new("Test CA");
    let server = start(
        config(Door::Submission, Some(pki.server_tls())),
        Recorder::new(),
    )
    .await;
    let mut raw = Raw::submission_tls(server.addr, pki.client_tls()).await;
    let reply = raw.cmd(&format!("MAIL FROM:<{MARIO}>")).await;
    assert_eq!(
        (reply.code, reply.text().as_str()),
        (530, "5.7.0 authentication required")
    );
    assert_eq!(
        raw.cmd(&auth_plain("mrossi", MARIO_PASSWORD)).await.code,
        235
    );
    let reply = raw.cmd("MAIL FROM:<someone.else@pec.example.it>").await;
    assert_eq!(reply.code, 553);
    assert_eq!(
        reply.text(),
        format!(
            "5.7.1 sender address <someone.else@pec.example.it> does not match \
             authenticated mailbox <{MARIO}>"
        )
    );
    assert_eq!(raw.cmd("MAIL FROM:<>").await.code, 553);
    // Case-insensitive.
    let reply = raw
        .cmd(&format!("MAIL FROM:<{}>", MARIO.to_uppercase()))
        .await;
    assert_eq!(reply.code, 250, "{reply:?}");
}

#[tokio::test]
async fn size_limits() {
    let pki = Pki::new("Test CA");
    let handler = Recorder::new();
    let server = start(
        config(Door::Submission, Some(pki.server_tls())),
        handler.clone(),
    )
    .await;
    let mut raw = Raw::logged_in(server.addr, pki.client_tls(), MARIO, MARIO_PASSWORD).await;

    // Declared size over max_message_size (10 000).
    let reply = raw.cmd(&format!("MAIL FROM:<{MARIO}> SIZE=10001")).await;
    assert_eq!(
        (reply.code, &reply.text()[..5]),
        (552, "5.3.4"),
        "{reply:?}"
    );

    // Declared size fine alone, but × recipients over max_total_size (25 000): the third RCPT.
    assert_eq!(
        raw.cmd(&format!("MAIL FROM:<{MARIO}> SIZE=9000"))
            .await
            .code,
        250
    );
    assert_eq!(raw.cmd("RCPT TO:<a@x.it>").await.code, 250);
    assert_eq!(raw.cmd("RCPT TO:<b@x.it>").await.code, 250);
    let reply = raw.cmd("RCPT TO:<c@x.it>").await;
    assert_eq!(
        (reply.code, &reply.text()[..5]),
        (552, "5.3.4"),
        "{reply:?}"
    );
    assert_eq!(raw.cmd("RSET").await.code, 250);

    // Actual message over max_message_size: 552 after DATA, the session goes on.
    assert_eq!(raw.cmd(&format!("MAIL FROM:<{MARIO}>")).await.code, 250);
    assert_eq!(raw.cmd("RCPT TO:<a@x.it>").await.code, 250);
    assert_eq!(raw.cmd("DATA").await.code, 354);
    let big = "x".repeat(998) + "\r\n";
    raw.send_raw(big.repeat(11).as_bytes()).await;
    raw.send_raw(b".\r\n").await;
    let reply = raw.reply().await;
    assert_eq!(
        (reply.code, &reply.text()[..5]),
        (552, "5.3.4"),
        "{reply:?}"
    );
    assert!(handler.messages().is_empty());

    // Size × recipients over max_total_size, found after DATA (no SIZE hint): 3 × 9 000.
    assert_eq!(raw.cmd(&format!("MAIL FROM:<{MARIO}>")).await.code, 250);
    for r in ["a@x.it", "b@x.it", "c@x.it"] {
        assert_eq!(raw.cmd(&format!("RCPT TO:<{r}>")).await.code, 250);
    }
    assert_eq!(raw.cmd("DATA").await.code, 354);
    raw.send_raw(big.repeat(9).as_bytes()).await;
    raw.send_raw(b".\r\n").await;
    let reply = raw.reply().await;
    assert_eq!(reply.code, 552, "{reply:?}");
    assert!(reply.text().contains("recipients"), "{reply:?}");
    assert!(handler.messages().is_empty());

    // And a normal transaction still works on the same connection.
    assert_eq!(raw.cmd(&format!("MAIL FROM:<{MARIO}>")).await.code, 250);
    assert_eq!(raw.cmd("RCPT TO:<a@x.it>").await.code, 250);
    assert_eq!(raw.cmd("DATA").await.code, 354);
    let reply = raw.cmd("Subject: ok\r\n\r\nfine\r\n.").await;
    assert_eq!(
        reply,
        common::RawReply {
            code: 250,
            lines: vec![format!("2.0.0 {QUEUED}")]
        }
    );
    let messages = handler.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].2, b"Subject: ok\r\n\r\nfine\r\n");
    assert_eq!(messages[0].1.rcpt_to, vec!["a@x.it".to_owned()]);
    assert_eq!(messages[0].1.size_hint, None);
    assert!(messages[0].0.tls);
    assert_eq!(messages[0].0.authenticated.as_deref(), Some(MARIO));
}

#[tokio::test]
async fn too_many_recipients() {
    let server = start(config(Door::Mx, None), Recorder::new()).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.cmd("EHLO peer.example").await;
    assert_eq!(raw.cmd("MAIL FROM:<x@y.it>").await.code, 250);
    for i in 0..5 {
        assert_eq!(
            raw.cmd(&format!("RCPT TO:<r{i}@pec.example.it>"))
                .await
                .code,
            250
        );
    }
    let reply = raw.cmd("RCPT TO:<r5@pec.example.it>").await;
    assert_eq!(
        (reply.code, &reply.text()[..5]),
        (452, "4.5.3"),
        "{reply:?}"
    );
    // A duplicate is not counted twice.
    assert_eq!(raw.cmd("RCPT TO:<R0@pec.example.it>").await.code, 250);
}

#[tokio::test]
async fn overlong_nul_and_bare_cr_lines_get_500_and_the_session_goes_on() {
    let server = start(config(Door::Mx, None), Recorder::new()).await;
    let mut raw = Raw::connect(server.addr).await;
    let garbage = "A".repeat(10_000);
    let reply = raw.cmd(&garbage).await;
    assert_eq!(
        (reply.code, reply.text().as_str()),
        (500, "5.5.2 line too long")
    );
    let reply = raw.cmd(&format!("NOOP {garbage}")).await;
    assert_eq!(reply.code, 500);
    assert_eq!(raw.cmd("NO\0OP").await.code, 500);
    assert_eq!(raw.cmd("NOOP a\rb").await.code, 500);
    assert_eq!(raw.cmd("FROB").await.code, 500);
    assert_eq!(raw.cmd("MAIL FROM:<not an address>").await.code, 501);
    assert_eq!(raw.cmd("NOOP").await.code, 250);
    assert_eq!(raw.cmd("EHLO peer.example").await.code, 250);
}

#[tokio::test]
async fn sequence_errors_and_small_commands() {
    let server = start(config(Door::Mx, None), Recorder::new()).await;
    let mut raw = Raw::connect(server.addr).await;
    assert_eq!(raw.cmd("MAIL FROM:<x@y.it>").await.code, 503);
    assert_eq!(raw.cmd("HELO peer.example").await.code, 250);
    assert_eq!(raw.cmd("RCPT TO:<a@x.it>").await.code, 503);
    assert_eq!(raw.cmd("DATA").await.code, 503);
    assert_eq!(raw.cmd("MAIL FROM:<x@y.it>").await.code, 250);
    assert_eq!(raw.cmd("MAIL FROM:<x@y.it>").await.code, 503);
    assert_eq!(raw.cmd("DATA").await.code, 554);
    assert_eq!(raw.cmd("VRFY someone").await.code, 252);
    assert_eq!(raw.cmd("HELP").await.code, 214);
    assert_eq!(raw.cmd("EXPN list").await.code, 502);
    assert_eq!(raw.cmd("BDAT 10 LAST").await.code, 502);
    assert_eq!(raw.cmd("RSET").await.code, 250);
    assert_eq!(raw.cmd("RCPT TO:<a@x.it>").await.code, 503);
    assert_eq!(raw.cmd("QUIT").await.code, 221);
    raw.expect_closed().await;
}

#[tokio::test]
async fn too_many_protocol_errors_close_the_session() {
    let server = start(config(Door::Mx, None), Recorder::new()).await;
    let mut raw = Raw::connect(server.addr).await;
    for _ in 0..19 {
        assert_eq!(raw.cmd("FROB").await.code, 500);
    }
    assert_eq!(raw.cmd("FROB").await.code, 500);
    assert_eq!(raw.reply().await.code, 421);
    raw.expect_closed().await;
}

#[tokio::test]
async fn idle_timeout_gives_421() {
    let mut config = config(Door::Mx, None);
    config.idle_timeout = Duration::from_millis(300);
    let server = start(config, Recorder::new()).await;
    let mut raw = Raw::connect(server.addr).await;
    assert_eq!(raw.cmd("EHLO peer.example").await.code, 250);
    let started = std::time::Instant::now();
    let reply = raw.reply().await;
    assert_eq!(reply.code, 421, "{reply:?}");
    assert!(reply.text().starts_with("4.4.2"), "{reply:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    raw.expect_closed().await;
}

#[tokio::test]
async fn handler_replies_pass_through() {
    let handler = Recorder::new();
    let server = start(config(Door::Mx, None), handler.clone()).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.cmd("EHLO peer.example").await;
    for reply in [
        Reply::new(451, "4.3.0", "storage busy, try later"),
        Reply::new(554, "5.6.0", "not a valid PEC message\nsecond line"),
    ] {
        handler.set_data_reply(reply.clone());
        assert_eq!(raw.cmd("MAIL FROM:<x@y.it>").await.code, 250);
        assert_eq!(raw.cmd("RCPT TO:<a@x.it>").await.code, 250);
        assert_eq!(raw.cmd("DATA").await.code, 354);
        let got = raw.cmd("x\r\n.").await;
        assert_eq!(got.code, reply.code);
        let expected: Vec<String> = reply
            .text
            .lines()
            .map(|l| format!("{} {l}", reply.enhanced.as_deref().unwrap_or_default()))
            .collect();
        assert_eq!(got.lines, expected);
    }
    handler.refuse_rcpt("nobody@x.it", Reply::new(550, "5.1.1", "no such mailbox"));
    assert_eq!(raw.cmd("MAIL FROM:<x@y.it>").await.code, 250);
    let reply = raw.cmd("RCPT TO:<nobody@x.it>").await;
    assert_eq!(
        (reply.code, reply.text().as_str()),
        (550, "5.1.1 no such mailbox")
    );
}

#[tokio::test]
async fn mx_door_takes_plaintext_mail_without_auth() {
    let pki = Pki::new("Test CA");
    let handler = Recorder::new();
    let server = start(config(Door::Mx, Some(pki.server_tls())), handler.clone()).await;
    let mut raw = Raw::connect(server.addr).await;
    let ehlo = raw.cmd("EHLO peer.example").await;
    assert!(ehlo.lines.contains(&"STARTTLS".to_owned()), "{ehlo:?}");
    assert!(
        !ehlo.lines.iter().any(|l| l.starts_with("AUTH")),
        "{ehlo:?}"
    );
    let reply = raw.cmd(&auth_plain(MARIO, MARIO_PASSWORD)).await;
    assert_eq!(reply.code, 502, "{reply:?}");
    assert_eq!(raw.cmd("MAIL FROM:<>").await.code, 250);
    assert_eq!(raw.cmd("RCPT TO:<postmaster>").await.code, 250);
    assert_eq!(raw.cmd(&format!("RCPT TO:<{MARIO}>")).await.code, 250);
    assert_eq!(raw.cmd("DATA").await.code, 354);
    let reply = raw.cmd("Subject: hi\r\n\r\n..dot\r\n.").await;
    assert_eq!(reply.code, 250);
    let messages = handler.messages();
    assert_eq!(messages.len(), 1);
    let (session, envelope, message) = &messages[0];
    assert!(!session.tls);
    assert_eq!(session.authenticated, None);
    assert_eq!(session.helo.as_deref(), Some("peer.example"));
    assert_eq!(envelope.mail_from, "");
    assert_eq!(
        envelope.rcpt_to,
        vec!["postmaster".to_owned(), MARIO.to_owned()]
    );
    assert_eq!(message, b"Subject: hi\r\n\r\n.dot\r\n");
}

#[tokio::test]
async fn pipelined_commands_get_all_their_replies() {
    let handler = Recorder::new();
    let server = start(config(Door::Mx, None), handler.clone()).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.send_raw(b"EHLO peer.example\r\nMAIL FROM:<x@y.it>\r\nRCPT TO:<a@x.it>\r\nRCPT TO:<b@x.it>\r\nDATA\r\n")
        .await;
    let codes = [250, 250, 250, 250, 354];
    for code in codes {
        assert_eq!(raw.reply().await.code, code);
    }
    raw.send_raw(b"body\r\n.\r\nMAIL FROM:<x@y.it>\r\nRCPT TO:<c@x.it>\r\nDATA\r\n")
        .await;
    for code in [250, 250, 250, 354] {
        assert_eq!(raw.reply().await.code, code);
    }
    assert_eq!(raw.cmd("second\r\n.").await.code, 250);
    let messages = handler.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].2, b"body\r\n");
    assert_eq!(messages[1].2, b"second\r\n");
}

#[tokio::test]
async fn starttls_forgets_state_and_drops_injected_plaintext() {
    let pki = Pki::new("Test CA");
    let handler = Recorder::new();
    let server = start(config(Door::Mx, Some(pki.server_tls())), handler.clone()).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.cmd("EHLO peer.example").await;
    assert_eq!(raw.cmd("MAIL FROM:<x@y.it>").await.code, 250);
    // A command smuggled in the same packet as STARTTLS must not be run inside TLS.
    raw.send_raw(b"STARTTLS\r\nRSET\r\n").await;
    assert_eq!(raw.reply().await.code, 220);
    raw.handshake(pki.client_tls()).await;
    // After STARTTLS the envelope and EHLO are gone: MAIL needs EHLO again.
    let reply = raw.cmd("MAIL FROM:<x@y.it>").await;
    assert_eq!(reply.code, 503, "{reply:?}");
    let ehlo = raw.cmd("EHLO peer.example").await;
    assert_eq!(ehlo.code, 250);
    assert!(!ehlo.lines.contains(&"STARTTLS".to_owned()));
    assert_eq!(raw.cmd("MAIL FROM:<x@y.it>").await.code, 250);
    assert_eq!(raw.cmd("RCPT TO:<a@x.it>").await.code, 250);
    assert_eq!(raw.cmd("DATA").await.code, 354);
    assert_eq!(raw.cmd("x\r\n.").await.code, 250);
    assert!(handler.messages()[0].0.tls);
}

#[tokio::test]
async fn implicit_tls_listener() {
    let pki = Pki::new("Test CA");
    let mut cfg = config(Door::Submission, Some(pki.server_tls()));
    cfg.implicit_tls = true;
    let server = start(cfg, Recorder::new()).await;
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(pki.client_tls());
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.expect("handshake");
    let (read, mut write) = tokio::io::split(tls);
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut lines = tokio::io::BufReader::new(read).lines();
    assert!(
        lines
            .next_line()
            .await
            .unwrap()
            .unwrap()
            .starts_with("220 ")
    );
    write.write_all(b"EHLO c\r\n").await.unwrap();
    let mut ehlo = Vec::new();
    loop {
        let line = lines.next_line().await.unwrap().unwrap();
        let last = line.as_bytes()[3] == b' ';
        ehlo.push(line);
        if last {
            break;
        }
    }
    assert!(
        ehlo.contains(&"250-AUTH PLAIN LOGIN".to_owned()),
        "{ehlo:?}"
    );
    assert!(!ehlo.iter().any(|l| l.contains("STARTTLS")), "{ehlo:?}");
    write.write_all(b"STARTTLS\r\n").await.unwrap();
    assert!(
        lines
            .next_line()
            .await
            .unwrap()
            .unwrap()
            .starts_with("503 ")
    );
}

#[tokio::test]
async fn implicit_tls_without_tls_config_is_refused() {
    let mut cfg = config(Door::Submission, None);
    cfg.implicit_tls = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = smtp::serve(
        listener,
        std::sync::Arc::new(cfg),
        Recorder::new(),
        std::future::pending(),
    )
    .await;
    assert!(result.is_err());
}

#[tokio::test]
async fn shutdown_stops_accepting_but_lets_sessions_finish() {
    let handler = Recorder::new();
    let server = start(config(Door::Mx, None), handler.clone()).await;
    let addr = server.addr;
    let mut raw = Raw::connect(addr).await;
    drop(server);
    // Give the accept loop a moment to see the shutdown.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    raw.cmd("EHLO peer.example").await;
    assert_eq!(raw.cmd("MAIL FROM:<x@y.it>").await.code, 250);
    assert_eq!(raw.cmd("RCPT TO:<a@x.it>").await.code, 250);
    assert_eq!(raw.cmd("DATA").await.code, 354);
    assert_eq!(raw.cmd("x\r\n.").await.code, 250);
    assert_eq!(handler.messages().len(), 1);
}
