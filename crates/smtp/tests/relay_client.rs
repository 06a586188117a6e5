//! The relay client (`smtp::send`) against our own MX door and against broken peers.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Pki, QUEUED, Recorder, config, start};
use smtp::{ClientConfig, Door, Envelope, Outcome, Reply, SmtpError, send};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn client(tls: Arc<rustls::ClientConfig>, require_tls: bool) -> ClientConfig {
    ClientConfig {
        helo: "relay.pec.example.it".to_owned(),
        tls,
        require_tls,
        timeout: Duration::from_secs(5),
    }
}

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope {
        mail_from: "mario.rossi@pec.example.it".to_owned(),
        rcpt_to: rcpts.iter().map(|r| (*r).to_owned()).collect(),
        size_hint: None,
    }
}

/// A message our server must receive byte for byte: dot lines, a lone dot, UTF-8, a line
/// with a bare LF inside.
const MESSAGE: &[u8] = b"From: <mario.rossi@pec.example.it>\r\nSubject: busta\r\n\r\n\
    .\r\n..\r\n.leading\r\nCitt\xc3\xa0\r\nbare\nlf\r\nend\r\n";

#[tokio::test]
async fn delivers_over_required_tls_with_exact_bytes() {
    let pki = Pki::new("Test CA");
    let handler = Recorder::new();
    let server = start(config(Door::Mx, Some(pki.server_tls())), handler.clone()).await;
    let delivery = send(
        server.addr,
        "localhost",
        &client(pki.client_tls(), true),
        &envelope(&["a@pec.example.it", "b@pec.example.it"]),
        MESSAGE,
    )
    .await
    .expect("delivery");
    assert_eq!(delivery.per_recipient.len(), 2);
    assert!(delivery.per_recipient.iter().all(|(_, o)| o.is_accepted()));
    let data = delivery.data.expect("DATA sent");
    assert_eq!(
        data,
        Outcome::Accepted(Reply::new(250, "2.0.0", QUEUED)),
        "enhanced code and text parsed from the reply"
    );
    let messages = handler.messages();
    assert_eq!(messages.len(), 1);
    let (session, envelope, message) = &messages[0];
    assert!(session.tls, "the relay used STARTTLS");
    assert_eq!(session.helo.as_deref(), Some("relay.pec.example.it"));
    assert_eq!(envelope.size_hint, Some(MESSAGE.len() as u64));
    assert_eq!(message.as_slice(), MESSAGE);
}

#[tokio::test]
async fn verifies_an_ip_address_name_too() {
    let pki = Pki::new("Test CA");
    let server = start(config(Door::Mx, Some(pki.server_tls())), Recorder::new()).await;
    let delivery = send(
        server.addr,
        "127.0.0.1",
        &client(pki.client_tls(), true),
        &envelope(&["a@pec.example.it"]),
        b"Subject: x\r\n\r\nno final line end",
    )
    .await
    .expect("delivery");
    assert!(delivery.data.expect("data").is_accepted());
}

#[tokio::test]
async fn per_recipient_outcomes() {
    let pki = Pki::new("Test CA");
    let handler = Recorder::new();
    handler.refuse_rcpt(
        "gone@pec.example.it",
        Reply::new(550, "5.1.1", "no such mailbox"),
    );
    handler.refuse_rcpt(
        "busy@pec.example.it",
        Reply::new(450, "4.2.1", "mailbox busy"),
    );
    let server = start(config(Door::Mx, Some(pki.server_tls())), handler.clone()).await;
    let delivery = send(
        server.addr,
        "localhost",
        &client(pki.client_tls(), true),
        &envelope(&[
            "gone@pec.example.it",
            "ok@pec.example.it",
            "busy@pec.example.it",
        ]),
        MESSAGE,
    )
    .await
    .expect("delivery");
    let outcomes: Vec<(&str, &Outcome)> = delivery
        .per_recipient
        .iter()
        .map(|(r, o)| (r.as_str(), o))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (
                "gone@pec.example.it",
                &Outcome::Permanent(Reply::new(550, "5.1.1", "no such mailbox"))
            ),
            (
                "ok@pec.example.it",
                &Outcome::Accepted(Reply::new(250, "2.1.5", "recipient <ok@pec.example.it> OK"))
            ),
            (
                "busy@pec.example.it",
                &Outcome::Temporary(Reply::new(450, "4.2.1", "mailbox busy"))
            ),
        ]
    );
    assert!(delivery.data.expect("DATA sent").is_accepted());
    assert_eq!(
        handler.messages()[0].1.rcpt_to,
        vec!["ok@pec.example.it".to_owned()]
    );

    // Nobody accepted: no DATA.
    let delivery = send(
        server.addr,
        "localhost",
        &client(pki.client_tls(), true),
        &envelope(&["gone@pec.example.it"]),
        MESSAGE,
    )
    .await
    .expect("delivery");
    assert!(delivery.data.is_none());
    assert_eq!(handler.messages().len(), 1);
}

#[tokio::test]
async fn refusals_before_rcpt_apply_to_every_recipient() {
    let pki = Pki::new("Test CA");
    let handler = Recorder::new();
    let server = start(config(Door::Mx, Some(pki.server_tls())), handler.clone()).await;
    // Over the server's SIZE: MAIL FROM refused with 552, every recipient permanent.
    let big = vec![b'x'; 20_000];
    let delivery = send(
        server.addr,
        "localhost",
        &client(pki.client_tls(), true),
        &envelope(&["a@pec.example.it", "b@pec.example.it"]),
        &big,
    )
    .await
    .expect("delivery");
    assert!(delivery.data.is_none());
    for (_, outcome) in &delivery.per_recipient {
        assert!(
            matches!(outcome, Outcome::Permanent(r) if r.code == 552),
            "{outcome:?}"
        );
    }

    // DATA refused by the handler: the data outcome says so.
    handler.set_data_reply(Reply::new(451, "4.3.0", "try later"));
    let delivery = send(
        server.addr,
        "localhost",
        &client(pki.client_tls(), true),
        &envelope(&["a@pec.example.it"]),
        MESSAGE,
    )
    .await
    .expect("delivery");
    assert_eq!(
        delivery.data,
        Some(Outcome::Temporary(Reply::new(451, "4.3.0", "try later")))
    );
}

#[tokio::test]
async fn greeting_refusal_applies_to_every_recipient() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        tcp.write_all(b"554-5.7.1 go away\r\n554 5.7.1 really\r\n")
            .await
            .unwrap();
        // RFC 5321 §3.1: the client should still send QUIT.
        let mut quit = [0u8; 6];
        tcp.read_exact(&mut quit).await.unwrap();
        assert_eq!(&quit, b"QUIT\r\n");
        tcp.write_all(b"221 2.0.0 bye\r\n").await.unwrap();
    });
    let pki = Pki::new("Test CA");
    let delivery = send(
        addr,
        "localhost",
        &client(pki.client_tls(), true),
        &envelope(&["a@x.it", "b@x.it"]),
        MESSAGE,
    )
    .await
    .expect("a refusal is a delivery result");
    let expected = Outcome::Permanent(Reply::new(554, "5.7.1", "go away\nreally"));
    assert_eq!(
        delivery.per_recipient,
        vec![
            ("a@x.it".to_owned(), expected.clone()),
            ("b@x.it".to_owned(), expected)
        ]
    );
}

#[tokio::test]
async fn require_tls_against_a_server_without_tls_fails() {
    let pki = Pki::new("Test CA");
    let handler = Recorder::new();
    let server = start(config(Door::Mx, None), handler.clone()).await;
    let err = send(
        server.addr,
        "localhost",
        &client(pki.client_tls(), true),
        &envelope(&["a@x.it"]),
        MESSAGE,
    )
    .await
    .expect_err("TLS required");
    assert!(matches!(err, SmtpError::TlsNotOffered { .. }), "{err}");
    assert!(err.to_string().contains("does not offer STARTTLS"), "{err}");
    assert!(handler.messages().is_empty());

    // Ordinary mail may go in plaintext.
    let delivery = send(
        server.addr,
        "localhost",
        &client(pki.client_tls(), false),
        &envelope(&["a@x.it"]),
        MESSAGE,
    )
    .await
    .expect("plaintext delivery");
    assert!(delivery.data.expect("data").is_accepted());
    assert!(!handler.messages()[0].0.tls);
}

#[tokio::test]
async fn untrusted_certificate_fails() {
    let pki = Pki::new("Test CA");
    let other = Pki::new("Some other CA");
    let handler = Recorder::new();
    let server = start(config(Door::Mx, Some(pki.server_tls())), handler.clone()).await;
    for require_tls in [true, false] {
        let err = send(
            server.addr,
            "localhost",
            &client(other.client_tls(), require_tls),
            &envelope(&["a@x.it"]),
            MESSAGE,
        )
        .await
        .expect_err("untrusted CA");
        assert!(matches!(err, SmtpError::TlsHandshake { .. }), "{err}");
        assert!(
            err.to_string().contains("TLS handshake with localhost"),
            "{err}"
        );
    }
    // Right CA, wrong name.
    let err = send(
        server.addr,
        "mx.elsewhere.example",
        &client(pki.client_tls(), true),
        &envelope(&["a@x.it"]),
        MESSAGE,
    )
    .await
    .expect_err("wrong name");
    assert!(matches!(err, SmtpError::TlsHandshake { .. }), "{err}");
    assert!(handler.messages().is_empty());
}

#[tokio::test]
async fn connection_refused_fails() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let pki = Pki::new("Test CA");
    let err = send(
        addr,
        "localhost",
        &client(pki.client_tls(), true),
        &envelope(&["a@x.it"]),
        MESSAGE,
    )
    .await
    .expect_err("nobody listening");
    assert!(matches!(err, SmtpError::Io { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("connecting ({addr})")),
        "{err}"
    );
}

#[tokio::test]
async fn silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut sink = Vec::new();
        let _ = tcp.read_to_end(&mut sink).await;
    });
    let pki = Pki::new("Test CA");
    let mut config = client(pki.client_tls(), true);
    config.timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let err = send(addr, "localhost", &config, &envelope(&["a@x.it"]), MESSAGE)
        .await
        .expect_err("silence");
    assert!(matches!(err, SmtpError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("greeting"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn garbage_from_the_server_is_a_protocol_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n")
            .await
            .unwrap();
        let mut sink = Vec::new();
        let _ = tcp.read_to_end(&mut sink).await;
    });
    let pki = Pki::new("Test CA");
    let err = send(
        addr,
        "localhost",
        &client(pki.client_tls(), true),
        &envelope(&["a@x.it"]),
        MESSAGE,
    )
    .await
    .expect_err("not SMTP");
    assert!(matches!(err, SmtpError::Protocol { .. }), "{err}");
}

#[tokio::test]
async fn addresses_that_would_break_the_command_are_refused() {
    let pki = Pki::new("Test CA");
    let addr = "127.0.0.1:9".parse().unwrap();
    let err = send(
        addr,
        "localhost",
        &client(pki.client_tls(), true),
        &envelope(&["a@x.it>\r\nRSET"]),
        MESSAGE,
    )
    .await
    .expect_err("injection");
    assert!(matches!(err, SmtpError::InvalidAddress { .. }), "{err}");
}
