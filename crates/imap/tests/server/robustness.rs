//! Hostile and broken input: every case gets a clear BAD or NO (or a BYE when the client has
//! used up its chances), never a panic, and the session stays usable when it should.

use std::time::{Duration, Instant};

use crate::support::*;

#[tokio::test]
async fn a_megabyte_line_is_refused_and_the_session_goes_on() {
    let server = Server::start().await;
    let mut client = server.login(MARIO).await;
    let mut line = b"SEARCH SUBJECT ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 1024 * 1024));
    line.extend_from_slice(b"\r\n");
    let done = client.raw_command(&line).await.expect_bad();
    assert!(done.text().contains("troppo lunga"), "{}", done.text());
    client.command("SELECT INBOX").await.expect_ok();
    // Without a tag the refusal is untagged; then the next command works.
    client.write(&vec![b'y'; 200_000]).await;
    client.write(b"\r\n").await;
    let refusal = client.read_reply().await;
    assert!(refusal.raw.starts_with("* BAD "), "{refusal:?}");
    client.command("NOOP").await.expect_ok();
}

#[tokio::test]
async fn oversized_literals_are_refused_without_reading_them() {
    let server = Server::start().await;
    let mut client = server.login(MARIO).await;
    // Synchronizing: refused at once, before any byte of it.
    let started = Instant::now();
    let done = client
        .raw_command(b"APPEND INBOX {100000000}\r\n")
        .await
        .expect_no("[TOOBIG]");
    assert!(done.text().contains("100000000"), "{}", done.text());
    assert!(started.elapsed() < Duration::from_secs(5));
    client.command("NOOP").await.expect_ok();
    // Even a length no integer can hold.
    client
        .raw_command(b"APPEND INBOX {99999999999999999999999999}\r\n")
        .await
        .expect_no("[TOOBIG]");
    // Non-synchronizing (LITERAL+): the bytes come anyway; they are skipped, never parsed.
    let mut append = b"APPEND INBOX {5000000+}\r\n".to_vec();
    let mut body = b"a1 LOGOUT\r\n".repeat(5_000_000 / 11);
    body.resize(5_000_000, b'x');
    append.extend_from_slice(&body);
    append.extend_from_slice(b"\r\n");
    client.raw_command(&append).await.expect_no("[TOOBIG]");
    client.command("NOOP").await.expect_ok();
    assert_eq!(
        server.store.messages(MARIO, "INBOX").await.unwrap().len(),
        3
    );
    // Before login a literal can only be a name or a password.
    let mut client = Client::connect(server.plain).await;
    client.starttls(&server.pki).await;
    client
        .raw_command(b"LOGIN {100000}\r\n")
        .await
        .expect_no("[TOOBIG]");
    client
        .raw_command(format!("LOGIN {{{}+}}\r\n{MARIO} {PASSWORD}\r\n", MARIO.len()).as_bytes())
        .await
        .expect_ok();
}

#[tokio::test]
async fn garbage_and_commands_out_of_place_get_bad() {
    let server = Server::start().await;
    let mut client = Client::connect(server.plain).await;
    client
        .raw_command(b"\x00\x01\x02\xff\xfe garbage\r\n")
        .await
        .expect_bad();
    client.write(b"\xff\xfe\x00 NOOP\r\n").await;
    let reply = client.read_reply().await;
    assert!(reply.raw.starts_with("* BAD "), "{reply:?}");
    client.raw_command(b"FROBNICATE\r\n").await.expect_bad();
    client.raw_command(b"NOOP\n").await.expect_bad();
    client.command("SELECT INBOX").await.expect_bad();
    client.command("FETCH 1 FLAGS").await.expect_bad();
    client.command("LIST \"\" *").await.expect_bad();
    client.command("ENABLE CONDSTORE").await.expect_bad();
    client.command("APPEND INBOX {1+}\r\nx").await.expect_bad();
    client.command("NOOP").await.expect_ok();

    let mut client = server.login(MARIO).await;
    client.command("AUTHENTICATE PLAIN").await.expect_bad();
    client.command("FETCH 1 FLAGS").await.expect_bad();
    client.command("EXPUNGE").await.expect_bad();
    client.command("SELECT \"&Jjo\"").await.expect_bad();
    client
        .command("SELECT Nessuna")
        .await
        .expect_no("[NONEXISTENT]");
    client.command("SORT (DATE) UTF-8 ALL").await.expect_bad();
    client.command("SELECT INBOX").await.expect_ok();
    client.command("FETCH 0 FLAGS").await.expect_bad();
    client.command("FETCH 1:9 FLAGS").await.expect_bad();
    client.command("FETCH 1 (FLAGS").await.expect_bad();
    client.command("STORE 1 +FLAGS (\\Seen").await.expect_bad();
    client.command("SEARCH FROM").await.expect_bad();
    // IDLE ended by something other than DONE.
    let tag = client.fresh_tag();
    client.write(format!("{tag} IDLE\r\n").as_bytes()).await;
    client.read_reply().await;
    client.write(b"NOOP\r\n").await;
    client.until_tagged(&tag).await.expect_bad();
    client.command("NOOP").await.expect_ok();
}

#[tokio::test]
async fn plaintext_pipelined_after_starttls_is_dropped() {
    let server = Server::start().await;
    let mut client = Client::connect(server.plain).await;
    let tag = client.fresh_tag();
    client
        .write(format!("{tag} STARTTLS\r\nx1 LOGIN {MARIO} {PASSWORD}\r\n").as_bytes())
        .await;
    client.until_tagged(&tag).await.expect_ok();
    // The pipelined LOGIN was sent in plaintext: it must not count as sent inside TLS.
    client.upgrade(&server.pki).await;
    client.command("SELECT INBOX").await.expect_bad();
    client.command("NOOP").await.expect_ok();
}

#[tokio::test]
async fn too_many_bad_commands_or_failed_logins_close_the_session() {
    let server = Server::start().await;
    let mut client = Client::connect(server.plain).await;
    let mut bye = None;
    for _ in 0..30 {
        let tag = client.fresh_tag();
        client.write(format!("{tag} NONSENSE\r\n").as_bytes()).await;
        let reply = client.read_reply().await;
        if reply.raw.starts_with("* BYE") {
            bye = Some(reply);
            break;
        }
    }
    assert!(bye.is_some(), "never closed");
    assert!(client.closed().await);

    let mut client = Client::connect(server.plain).await;
    client.starttls(&server.pki).await;
    client
        .command(&format!("LOGIN {MARIO} no1"))
        .await
        .expect_no("[AUTHENTICATIONFAILED]");
    client
        .command(&format!("LOGIN {MARIO} no2"))
        .await
        .expect_no("[AUTHENTICATIONFAILED]");
    let tag = client.fresh_tag();
    client
        .write(format!("{tag} LOGIN {MARIO} no3\r\n").as_bytes())
        .await;
    let done = client
        .until_tagged(&tag)
        .await
        .expect_no("[AUTHENTICATIONFAILED]");
    assert!(done.untagged.is_empty());
    let reply = client.read_reply().await;
    assert!(reply.raw.starts_with("* BYE"), "{reply:?}");
    assert!(client.closed().await);
}

fn impatient(tls: Option<std::sync::Arc<rustls::ServerConfig>>) -> imap::ServerConfig {
    let mut config = config(tls);
    config.idle_timeout = Duration::from_secs(2);
    config
}

#[tokio::test]
async fn autologout_after_the_idle_timeout() {
    let server = Server::start_with(impatient).await;
    // A silent client.
    let mut silent = Client::connect(server.plain).await;
    // A literal that never completes.
    let mut stuck = server.login(MARIO).await;
    let tag = stuck.fresh_tag();
    stuck
        .write(format!("{tag} APPEND INBOX {{100}}\r\n").as_bytes())
        .await;
    stuck.read_reply().await;
    stuck.write(b"Subject: incompleto\r\n").await;
    // An IDLE that never ends.
    let mut idle = server.login(MARIO).await;
    let tag = idle.fresh_tag();
    idle.write(format!("{tag} IDLE\r\n").as_bytes()).await;
    idle.read_reply().await;
    let started = Instant::now();
    for client in [&mut silent, &mut stuck, &mut idle] {
        let bye = client.read_reply().await;
        assert!(bye.raw.starts_with("* BYE Autologout"), "{bye:?}");
        assert!(client.closed().await);
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        server.store.messages(MARIO, "INBOX").await.unwrap().len(),
        3
    );
}
