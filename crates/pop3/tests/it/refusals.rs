//! The unhappy paths, over a line-level client: credentials before TLS, wrong passwords,
//! read-only delegates, overlong lines, garbage, commands in the wrong state, idle clients,
//! and sessions that end without QUIT. Every refusal is a clear `-ERR`, and the server
//! keeps serving.

use std::sync::Arc;
use std::time::{Duration, Instant};

use store::DelegateRole;

use crate::support::{ACCETTAZIONE, BUSTA_CRLF, HOLDER, PASSWORD, Provider};

#[tokio::test]
async fn credentials_are_refused_before_tls_and_accepted_after_stls() {
    let p = Provider::new().await;
    p.deliver(HOLDER, ACCETTAZIONE).await;
    let server = p.serve(p.config()).await;
    let mut c = p.connect(&server).await;

    assert!(c.command("CAPA").await.starts_with("+OK"));
    let capa = c.body().await;
    assert!(capa.contains(&"STLS".to_owned()), "{capa:?}");
    assert!(
        !capa.iter().any(|l| l == "USER" || l.starts_with("SASL")),
        "{capa:?}"
    );

    for command in [
        format!("USER {HOLDER}"),
        format!("PASS {PASSWORD}"),
        "AUTH PLAIN AG1hcmlvAHg=".to_owned(),
        "AUTH".to_owned(),
    ] {
        let reply = c.command(&command).await;
        assert!(
            reply.starts_with("-ERR [SYS/PERM] credentials are accepted only over TLS"),
            "{command}: {reply}"
        );
    }
    assert!(
        c.command("STAT")
            .await
            .starts_with("-ERR STAT not allowed: log in first")
    );

    let mut c = p.stls(c).await;
    assert!(
        c.command(&format!("USER {HOLDER}"))
            .await
            .starts_with("+OK")
    );
    let reply = c.command(&format!("PASS {PASSWORD}")).await;
    assert!(
        reply.starts_with("+OK") && reply.contains("1 messages"),
        "{reply}"
    );
    assert!(c.command("STLS").await.starts_with("-ERR STLS not allowed"));
}

#[tokio::test]
async fn plaintext_pipelined_after_stls_is_not_taken_as_encrypted() {
    let p = Provider::new().await;
    let server = p.serve(p.config()).await;
    let mut c = p.connect(&server).await;
    // An attacker on the path appends a command to the client's STLS.
    c.send(b"STLS\r\nQUIT\r\n").await;
    assert!(c.line().await.unwrap().starts_with("+OK"));
    let tcp = c.into_stream();
    // Inside TLS the session is alive: the injected QUIT was dropped.
    let mut c = p.tls_client(tcp).await;
    assert!(
        c.command("NOOP")
            .await
            .starts_with("-ERR NOOP not allowed: log in first")
    );
}

#[tokio::test]
async fn wrong_passwords_are_refused_slowly_and_the_third_closes() {
    let p = Provider::new().await;
    let server = p.serve(p.config_implicit()).await;
    let mut c = p.connect_tls(&server).await;
    for attempt in 1..=3 {
        assert!(
            c.command(&format!("USER {HOLDER}"))
                .await
                .starts_with("+OK")
        );
        let started = Instant::now();
        let reply = c.command("PASS not-the-password").await;
        assert!(started.elapsed() >= Duration::from_millis(400), "no delay");
        assert!(
            reply.starts_with("-ERR [AUTH]"),
            "attempt {attempt}: {reply}"
        );
        if attempt == 3 {
            assert!(reply.contains("too many failed logins"), "{reply}");
        }
    }
    assert!(c.closed().await, "still open after three failures");

    // An unknown login reads the same as a wrong password, and AUTH PLAIN counts too.
    let mut c = p.connect_tls(&server).await;
    assert!(
        c.command("USER nessuno@pec.pecora.test")
            .await
            .starts_with("+OK")
    );
    let reply = c.command(&format!("PASS {PASSWORD}")).await;
    assert_eq!(reply, "-ERR [AUTH] wrong login or password");
    // base64("\0mario.rossi@pec.pecora.test\0x")
    let reply = c
        .command("AUTH PLAIN AG1hcmlvLnJvc3NpQHBlYy5wZWNvcmEudGVzdAB4")
        .await;
    assert_eq!(reply, "-ERR [AUTH] wrong login or password");
    // The right password still works on the same connection.
    assert!(
        c.command(&format!("USER {HOLDER}"))
            .await
            .starts_with("+OK")
    );
    assert!(
        c.command(&format!("PASS {PASSWORD}"))
            .await
            .starts_with("+OK")
    );
}

#[tokio::test]
async fn auth_plain_exchanges_that_go_wrong() {
    let p = Provider::new().await;
    let server = p.serve(p.config_implicit()).await;
    let mut c = p.connect_tls(&server).await;
    assert!(c.command("AUTH").await.starts_with("+OK"));
    assert_eq!(c.body().await, ["PLAIN"]);
    let reply = c.command("AUTH LOGIN").await;
    assert_eq!(reply, "-ERR unsupported SASL mechanism LOGIN: use PLAIN");
    assert_eq!(c.command("AUTH PLAIN").await, "+ ");
    assert_eq!(c.command("*").await, "-ERR authentication cancelled");
    assert_eq!(c.command("AUTH PLAIN").await, "+ ");
    let reply = c.command("!!not base64!!").await;
    assert_eq!(reply, "-ERR invalid base64 in the authentication exchange");
    // base64("boss\0mario\0pw")
    let reply = c.command("AUTH PLAIN Ym9zcwBtYXJpbwBwdw==").await;
    assert!(reply.contains("authorization identity"), "{reply}");
    assert!(c.command("QUIT").await.starts_with("+OK"));
}

#[tokio::test]
async fn a_read_only_delegate_reads_but_cannot_delete() {
    let p = Provider::new().await;
    let message = p.deliver(HOLDER, ACCETTAZIONE).await;
    p.delegate("segreteria.rossi", DelegateRole::Lettura).await;
    p.delegate("gestore.rossi", DelegateRole::Gestione).await;
    let server = p.serve(p.config_implicit()).await;

    let mut c = p.login(&server, "segreteria.rossi").await;
    assert_eq!(c.command("STAT").await, format!("+OK 1 {}", message.len()));
    assert!(c.command("RETR 1").await.starts_with("+OK"));
    assert_eq!(
        c.body().await.len(),
        message.split(|&b| b == b'\n').count() - 1
    );
    let reply = c.command("DELE 1").await;
    assert!(
        reply.starts_with("-ERR [SYS/PERM] read-only access: segreteria.rossi may not delete"),
        "{reply}"
    );
    assert!(c.command("QUIT").await.starts_with("+OK"));
    assert_eq!(p.inbox(HOLDER).await.len(), 1);

    let mut c = p.login(&server, "gestore.rossi").await;
    assert!(c.command("DELE 1").await.starts_with("+OK"));
    assert!(c.command("QUIT").await.starts_with("+OK"));
    assert!(
        p.inbox(HOLDER).await.is_empty(),
        "the managing delegate's DELE was lost"
    );
}

#[tokio::test]
async fn a_megabyte_line_is_refused_and_the_session_goes_on() {
    let p = Provider::new().await;
    p.deliver(HOLDER, ACCETTAZIONE).await;
    let server = p.serve(p.config_implicit()).await;
    let mut huge = vec![b'A'; 1 << 20];
    huge.extend_from_slice(b"\r\n");

    let mut c = p.connect_tls(&server).await;
    c.send(&huge).await;
    assert_eq!(
        c.line().await.unwrap(),
        "-ERR line too long: at most 4096 octets"
    );
    assert!(c.command("CAPA").await.starts_with("+OK"));
    c.body().await;

    let mut c = p.login(&server, HOLDER).await;
    let mut retr = b"RETR 1".to_vec();
    retr.extend_from_slice(&huge);
    c.send(&retr).await;
    assert_eq!(
        c.line().await.unwrap(),
        "-ERR line too long: at most 4096 octets"
    );
    assert!(c.command("STAT").await.starts_with("+OK 1 "));
}

#[tokio::test]
async fn garbage_gets_clear_errors_and_too_much_of_it_closes() {
    let p = Provider::new().await;
    let server = p.serve(p.config_implicit()).await;
    let mut c = p.connect_tls(&server).await;
    let expected = [
        (
            &b"\xff\xfe\xfd\r\n"[..],
            "-ERR command lines must be UTF-8 without NUL or bare CR",
        ),
        (
            b"USER a\0b\r\n",
            "-ERR command lines must be UTF-8 without NUL or bare CR",
        ),
        (
            b"STAT\rLIST\r\n",
            "-ERR command lines must be UTF-8 without NUL or bare CR",
        ),
        (b"\r\n", "-ERR unknown command"),
        (b"EHLO client.example\r\n", "-ERR unknown command"),
        (b"GET / HTTP/1.1\r\n", "-ERR unknown command"),
        (b"RETR\r\n", "-ERR syntax: RETR message-number"),
        (b"LIST 0\r\n", "-ERR invalid message number \"0\""),
        (b"TOP 1\r\n", "-ERR syntax: TOP message-number line-count"),
    ];
    for (line, reply) in expected {
        c.send(line).await;
        assert_eq!(c.line().await.unwrap(), reply, "after {line:?}");
    }
    // The tenth mistake ends the session.
    c.send(b"\x16\x03\x01\r\n").await;
    assert_eq!(c.line().await.unwrap(), "-ERR unknown command");
    assert_eq!(
        c.line().await.unwrap(),
        "-ERR too many errors, closing connection"
    );
    assert!(c.closed().await);

    // The server is still there for the next client.
    let mut c = p.login(&server, HOLDER).await;
    assert_eq!(c.command("STAT").await, "+OK 0 0");
}

#[tokio::test]
async fn commands_in_the_wrong_state_are_refused() {
    let p = Provider::new().await;
    p.deliver(HOLDER, ACCETTAZIONE).await;
    let server = p.serve(p.config_implicit()).await;
    let mut c = p.connect_tls(&server).await;
    for command in [
        "STAT", "LIST", "UIDL 1", "TOP 1 0", "RETR 1", "DELE 1", "NOOP", "RSET",
    ] {
        let keyword = command.split(' ').next().unwrap();
        let reply = c.command(command).await;
        assert_eq!(reply, format!("-ERR {keyword} not allowed: log in first"));
    }
    assert_eq!(c.command("PASS x").await, "-ERR send USER first");
    assert!(c.command("QUIT").await.starts_with("+OK"));

    let mut c = p.login(&server, HOLDER).await;
    for command in ["USER x", "PASS x", "AUTH PLAIN", "STLS"] {
        let reply = c.command(command).await;
        assert!(reply.contains("already logged in"), "{command}: {reply}");
    }
    assert_eq!(
        c.command("RETR 2").await,
        "-ERR no such message: the maildrop has 1 messages"
    );
    assert!(c.command("DELE 1").await.starts_with("+OK"));
    assert_eq!(c.command("DELE 1").await, "-ERR message 1 already deleted");
    assert_eq!(c.command("TOP 1 0").await, "-ERR message 1 already deleted");
    assert_eq!(c.command("UIDL 1").await, "-ERR message 1 already deleted");
    assert_eq!(c.command("STAT").await, "+OK 0 0");
    assert_eq!(c.command("NOOP").await, "+OK");
}

#[tokio::test]
async fn an_unreadable_message_is_a_temporary_error_and_the_session_goes_on() {
    let p = Provider::new().await;
    p.deliver(HOLDER, ACCETTAZIONE).await;
    let blob = p.inbox(HOLDER).await[0].blob.clone();
    std::fs::remove_file(p.blob_file(&blob)).expect("remove the blob");
    let server = p.serve(p.config_implicit()).await;
    let mut c = p.login(&server, HOLDER).await;
    for command in ["RETR 1", "TOP 1 0"] {
        let reply = c.command(command).await;
        assert_eq!(
            reply, "-ERR [SYS/TEMP] cannot read message 1 now: try again later",
            "{command}"
        );
    }
    assert!(c.command("STAT").await.starts_with("+OK 1 "));
    assert!(c.command("QUIT").await.starts_with("+OK"));
    let inbox = p.inbox(HOLDER).await;
    assert!(
        inbox[0].flags.is_empty(),
        "a message never sent was marked \\Seen"
    );
}

#[tokio::test]
async fn a_session_without_quit_changes_nothing() {
    let p = Provider::new().await;
    p.deliver(HOLDER, BUSTA_CRLF).await;
    let server = p.serve(p.config_implicit()).await;
    let mut c = p.login(&server, HOLDER).await;
    assert!(c.command("RETR 1").await.starts_with("+OK"));
    c.body().await;
    assert!(c.command("DELE 1").await.starts_with("+OK"));
    drop(c);
    // The server notices the EOF; give it a moment, then look.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let inbox = p.inbox(HOLDER).await;
    assert_eq!(inbox.len(), 1, "an interrupted session deleted a message");
    assert!(
        inbox[0].flags.is_empty(),
        "an interrupted session set flags"
    );
}

#[tokio::test]
async fn an_idle_client_is_disconnected_without_a_reply() {
    let p = Provider::new().await;
    p.deliver(HOLDER, ACCETTAZIONE).await;
    let config = pop3::ServerConfig {
        idle_timeout: Duration::from_millis(300),
        ..p.config_implicit()
    };
    let server = p.serve(config).await;
    let mut c = p.login(&server, HOLDER).await;
    assert!(c.command("DELE 1").await.starts_with("+OK"));
    let started = Instant::now();
    assert_eq!(c.line().await, None, "the server spoke before hanging up");
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(
        p.inbox(HOLDER).await.len(),
        1,
        "the autologout entered UPDATE"
    );
}

#[tokio::test]
async fn implicit_tls_without_a_certificate_is_a_configuration_error() {
    let p = Provider::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = pop3::ServerConfig {
        implicit_tls: true,
        ..pop3::ServerConfig::new("pop.pec.pecora.test", None)
    };
    let err = pop3::serve(listener, Arc::new(config), p.engine.clone(), async {})
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("implicit TLS"), "{err}");
}
