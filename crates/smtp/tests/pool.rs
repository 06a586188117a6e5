//! Connections that carry more than one transaction: the relay's [`Pool`] and a submission
//! client's authenticated [`Connection`].

mod common;

use std::time::Duration;

use common::{MARIO, MARIO_PASSWORD, Pki, Recorder, config, start};
use smtp::{ClientConfig, Connection, Door, Envelope, Pool};

fn client(pki: &Pki) -> ClientConfig {
    ClientConfig {
        helo: "relay.pec.example.it".to_owned(),
        tls: pki.client_tls(),
        require_tls: true,
        timeout: Duration::from_secs(5),
    }
}

fn envelope() -> Envelope {
    Envelope {
        mail_from: MARIO.to_owned(),
        rcpt_to: vec!["a@pec.example.it".to_owned()],
        size_hint: None,
    }
}

fn message(n: usize) -> Vec<u8> {
    format!("From: <{MARIO}>\r\nSubject: {n}\r\n\r\nbody {n}\r\n").into_bytes()
}

#[tokio::test]
async fn the_pool_sends_one_message_after_another_on_one_connection() {
    let pki = Pki::new("Test CA");
    let handler = Recorder::new();
    let server = start(config(Door::Mx, Some(pki.server_tls())), handler.clone()).await;
    let pool = Pool::new(client(&pki));
    for n in 0..3 {
        let delivery = pool
            .send(server.addr, "localhost", &envelope(), &message(n))
            .await
            .expect("delivery");
        assert!(delivery.data.expect("DATA sent").is_accepted());
    }
    let messages = handler.messages();
    assert_eq!(messages.len(), 3);
    for (n, (session, _, bytes)) in messages.iter().enumerate() {
        assert!(session.tls);
        assert_eq!(session.peer, messages[0].0.peer, "one connection");
        assert_eq!(bytes, &message(n));
    }
}

#[tokio::test]
async fn a_connection_the_peer_closed_while_idle_is_replaced() {
    let pki = Pki::new("Test CA");
    let handler = Recorder::new();
    let mut cfg = config(Door::Mx, Some(pki.server_tls()));
    cfg.idle_timeout = Duration::from_millis(300);
    let server = start(cfg, handler.clone()).await;
    let pool = Pool::new(client(&pki));
    for n in 0..2 {
        let delivery = pool
            .send(server.addr, "localhost", &envelope(), &message(n))
            .await
            .expect("delivery");
        assert!(delivery.data.expect("DATA sent").is_accepted());
        // The server ends the idle session before the next message.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let messages = handler.messages();
    assert_eq!(messages.len(), 2);
    assert_ne!(messages[0].0.peer, messages[1].0.peer, "a new connection");
}

#[tokio::test]
async fn a_submission_client_authenticates_once_and_submits_twice() {
    let pki = Pki::new("Test CA");
    let handler = Recorder::new();
    let server = start(
        config(Door::Submission, Some(pki.server_tls())),
        handler.clone(),
    )
    .await;
    let mut connection = Connection::open(server.addr, "localhost", &client(&pki))
        .await
        .expect("connect")
        .expect("session");
    let refused = connection
        .authenticate(MARIO, "wrong")
        .await
        .expect("AUTH answered");
    assert_eq!(refused.map_err(|r| r.code), Err(535));
    connection
        .authenticate(MARIO, MARIO_PASSWORD)
        .await
        .expect("AUTH answered")
        .expect("credentials accepted");
    for n in 0..2 {
        let delivery = connection
            .transaction(&envelope(), &message(n))
            .await
            .expect("transaction");
        assert!(delivery.data.expect("DATA sent").is_accepted());
    }
    connection.quit().await;
    let messages = handler.messages();
    assert_eq!(messages.len(), 2);
    assert!(
        messages
            .iter()
            .all(|(s, _, _)| s.authenticated.as_deref() == Some(MARIO))
    );
}
