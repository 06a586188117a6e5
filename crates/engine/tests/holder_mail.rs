//! The engine acting on a holder's settings (issue 6): the ordinary-mail policies `Inoltra`
//! and `Cartella` at the punto di ricezione, notices of new PEC and copies without legal
//! value to ordinary addresses, the daily report, and the password-recovery message. The
//! two-gestori network of chain.rs; mail for ordinary Internet addresses has no route there,
//! so it stays in the sending gestore's queue, where these tests read it.

#[path = "support/gestori.rs"]
mod gestori;

use std::sync::Arc;

use engine::access::Submitted;
use engine::antivirus::NoScan;
use engine::reception::Received;
use engine::{Engine, INBOX};
use gestori::{Gestore, message, network, relay_all};
use index::SharedIndex;
use jiff::SignedDuration;
use pec::checks::Envelope;
use store::{NewPecNotice, OrdinaryMail, QueueEntry, StoreError};

const MARIO: &str = "mario@pec.uno.test";
const ANNA: &str = "anna@pec.due.test";

/// Mario (Uno) sends Anna (Due) a PEC, and the network delivers it.
async fn mario_writes_to_anna(g: &[Gestore]) -> String {
    let env = Envelope {
        mail_from: MARIO.into(),
        rcpt_to: vec![ANNA.into()],
    };
    let Submitted::Accettato { identificativo } = g[0]
        .engine
        .submit(&env, &message(MARIO, ANNA))
        .await
        .expect("submit")
    else {
        panic!("not accepted");
    };
    relay_all(g).await;
    identificativo
}

/// The jobs queued for `rcpt`, with the bytes of each.
async fn queued_to(e: &Engine, rcpt: &str) -> Vec<(QueueEntry, String)> {
    let mut out = Vec::new();
    for job in e.store().queued().await.expect("queued") {
        if job.rcpt_to.iter().any(|r| r == rcpt) {
            let bytes = e.store().get(&job.blob).await.expect("blob");
            out.push((job, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

/// The busta delivered to Anna, as stored.
async fn anna_busta(due: &Engine) -> Vec<u8> {
    let m = due.store().messages(ANNA, INBOX).await.expect("messages");
    let busta = m
        .iter()
        .find(|m| m.kind.as_deref() == Some("posta-certificata"))
        .expect("a busta for anna");
    due.store().get(&busta.blob).await.expect("blob")
}

/// The text of a plain service message, decoded.
fn body(message: &str) -> String {
    mail_parser::MessageParser::default()
        .parse(message.as_bytes())
        .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
        .unwrap_or_default()
}

fn notice(to: &[&str], only_from: &[&str]) -> NewPecNotice {
    NewPecNotice {
        to: to.iter().map(|s| s.to_string()).collect(),
        only_from: only_from.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test]
async fn a_new_pec_is_announced_to_each_notice_address_once() {
    let (g, _clock) = network().await;
    let due = &g[1].engine;
    let to = ["anna.rossi@posta.test", "segreteria@posta.test"];
    due.store()
        .set_new_pec_notice(ANNA, &notice(&to, &[]))
        .await
        .expect("notice");
    mario_writes_to_anna(&g).await;

    for address in to {
        let jobs = queued_to(due, address).await;
        assert_eq!(jobs.len(), 1, "one notice for {address}");
        let (job, text) = &jobs[0];
        assert_eq!(job.mail_from, due.service_address());
        assert_eq!(job.rcpt_to, [address]);
        assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
        let said = body(text);
        assert!(said.contains(&format!("Mittente: {MARIO}")), "{said}");
        assert!(said.contains(&format!("Destinatario: {ANNA}")), "{said}");
        assert!(said.contains("Oggetto: Prova"), "{said}");
        assert!(!text.contains("ciao"), "no body of the PEC: {text}");
        assert!(!text.contains("multipart"), "no attachments: {text}");
    }

    // The same busta again (the peer lost our reply): nothing new to anyone.
    let before = due.store().queued().await.expect("queued").len();
    let env = Envelope {
        mail_from: "posta-certificata@pec.uno.test".into(),
        rcpt_to: vec![ANNA.into()],
    };
    let again = due
        .receive(&env, &anna_busta(due).await)
        .await
        .expect("receive");
    assert!(matches!(again, Received::Accepted(ref t) if t.contains("already processed")));
    assert_eq!(due.store().queued().await.expect("queued").len(), before);
}

#[tokio::test]
async fn notices_honour_the_sender_filter_and_the_two_address_limit() {
    let (g, _clock) = network().await;
    let due = &g[1].engine;
    let three = notice(&["a@posta.test", "b@posta.test", "c@posta.test"], &[]);
    let refused = due.store().set_new_pec_notice(ANNA, &three).await;
    assert!(
        matches!(refused, Err(StoreError::InvalidSetting(_))),
        "{refused:?}"
    );

    due.store()
        .set_new_pec_notice(ANNA, &notice(&["a@posta.test"], &["altro@pec.uno.test"]))
        .await
        .expect("notice");
    mario_writes_to_anna(&g).await;
    assert!(
        queued_to(due, "a@posta.test").await.is_empty(),
        "not from a sender asked for"
    );
    assert_eq!(
        due.store()
            .messages(ANNA, INBOX)
            .await
            .expect("messages")
            .len(),
        1,
        "the busta itself is delivered"
    );

    due.store()
        .set_new_pec_notice(ANNA, &notice(&["a@posta.test"], &["MARIO@pec.uno.test"]))
        .await
        .expect("notice");
    mario_writes_to_anna(&g).await;
    assert_eq!(
        queued_to(due, "a@posta.test").await.len(),
        1,
        "the sender matches"
    );
}

#[tokio::test]
async fn each_busta_is_copied_without_legal_value_once() {
    let (g, _clock) = network().await;
    let due = &g[1].engine;
    let copia = "anna.copia@posta.test";
    due.store()
        .set_forward_copy(ANNA, Some(copia))
        .await
        .expect("forward copy");
    mario_writes_to_anna(&g).await;

    let busta = String::from_utf8_lossy(&anna_busta(due).await).into_owned();
    let jobs = queued_to(due, copia).await;
    assert_eq!(jobs.len(), 1);
    let (job, copy) = &jobs[0];
    assert_eq!(job.mail_from, due.service_address());
    assert!(
        copy.starts_with("X-Pecora-Copia: senza valore legale\r\n"),
        "{copy}"
    );
    assert!(
        copy.contains("Subject: [COPIA SENZA VALORE LEGALE] POSTA CERTIFICATA: Prova"),
        "{copy}"
    );
    let unmarked = copy
        .replacen("X-Pecora-Copia: senza valore legale\r\n", "", 1)
        .replacen("[COPIA SENZA VALORE LEGALE] ", "", 1);
    assert_eq!(unmarked, busta, "the busta itself otherwise");

    let env = Envelope {
        mail_from: "posta-certificata@pec.uno.test".into(),
        rcpt_to: vec![ANNA.into()],
    };
    due.receive(&env, busta.as_bytes()).await.expect("receive");
    assert_eq!(
        queued_to(due, copia).await.len(),
        1,
        "a resent busta is not copied again"
    );
}

/// An ordinary message from the Internet to Anna.
async fn ordinary_to_anna(due: &Engine) -> Received {
    let env = Envelope {
        mail_from: "chi@internet.test".into(),
        rcpt_to: vec![ANNA.into()],
    };
    due.receive(&env, &message("chi@internet.test", ANNA))
        .await
        .expect("receive")
}

#[tokio::test]
async fn cartella_files_the_anomalia_in_the_holder_s_folder() {
    let (g, _clock) = network().await;
    let due = &g[1].engine;
    due.store()
        .set_ordinary_mail_policy(ANNA, OrdinaryMail::Cartella, Some("Posta ordinaria"))
        .await
        .expect("policy");
    let r = ordinary_to_anna(due).await;
    assert!(matches!(r, Received::Accepted(_)), "{r:?}");
    let filed = due
        .store()
        .messages(ANNA, "Posta ordinaria")
        .await
        .expect("messages");
    assert_eq!(filed.len(), 1);
    assert_eq!(filed[0].kind.as_deref(), Some("anomalia"));
    assert!(
        due.store()
            .messages(ANNA, INBOX)
            .await
            .expect("inbox")
            .is_empty()
    );
}

#[tokio::test]
async fn inoltra_forwards_as_received_and_stores_nothing() {
    let (g, _clock) = network().await;
    let due = &g[1].engine;
    let target = "anna.rossi@posta.test";
    due.store()
        .set_ordinary_mail_policy(ANNA, OrdinaryMail::Inoltra, Some(target))
        .await
        .expect("policy");
    let r = ordinary_to_anna(due).await;
    assert!(matches!(r, Received::Accepted(_)), "{r:?}");

    for folder in due.store().folders(ANNA).await.expect("folders") {
        let stored = due.store().messages(ANNA, &folder).await.expect("messages");
        assert!(stored.is_empty(), "{folder} holds {stored:?}");
    }
    let jobs = queued_to(due, target).await;
    assert_eq!(jobs.len(), 1);
    let (job, bytes) = &jobs[0];
    assert_eq!(job.mail_from, due.service_address());
    let original = String::from_utf8_lossy(&message("chi@internet.test", ANNA)).into_owned();
    assert_eq!(*bytes, format!("X-Pecora-Inoltro: {ANNA}\r\n{original}"));

    let logged = due.store().events("m1@client").await.expect("events");
    let inoltro: Vec<_> = logged
        .iter()
        .filter(|e| e.event.kind == "inoltro")
        .collect();
    assert_eq!(inoltro.len(), 1, "{logged:?}");
    assert!(
        inoltro[0]
            .event
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains(target)
    );

    // The same message again is not forwarded twice.
    ordinary_to_anna(due).await;
    assert_eq!(queued_to(due, target).await.len(), 1);
}

#[tokio::test]
async fn rifiuta_still_refuses_ordinary_mail() {
    let (g, _clock) = network().await;
    let r = ordinary_to_anna(&g[1].engine).await;
    assert!(matches!(r, Received::Refused(_)), "{r:?}");
}

/// The daily reports in `mailbox`'s INBOX.
async fn reports(e: &Engine, mailbox: &str) -> Vec<String> {
    let mut out = Vec::new();
    for m in e.store().messages(mailbox, INBOX).await.expect("messages") {
        let text =
            String::from_utf8_lossy(&e.store().get(&m.blob).await.expect("blob")).into_owned();
        if m.kind.is_none() && text.contains("Riepilogo giornaliero") {
            out.push(body(&text));
        }
    }
    out
}

/// Another engine on `e`'s store, as after a restart (its own signer: it signs nothing here).
fn restarted(e: &Engine) -> Engine {
    let ca = smime::testca::TestCa::new("riavvio").expect("ca");
    let ca_pem = ca.cert_pem().expect("ca pem");
    let (cert, key) = ca
        .provider("Due PEC", "posta-certificata@pec.due.test")
        .expect("provider");
    Engine::new(
        e.settings().clone(),
        e.store().clone(),
        SharedIndex::new((*e.index()).clone()),
        smime::Signer::from_pem(&cert, &key, &ca_pem).expect("signer"),
        e.trust().clone(),
        e.clock().clone(),
        Arc::new(NoScan),
    )
}

#[tokio::test]
async fn the_daily_report_comes_once_a_day() {
    let (g, clock) = network().await;
    let (uno, due) = (&g[0].engine, &g[1].engine);
    due.store()
        .set_daily_report(ANNA, true)
        .await
        .expect("report");
    uno.store()
        .set_daily_report(MARIO, true)
        .await
        .expect("report");
    mario_writes_to_anna(&g).await;
    let now = |e: &Engine| e.clock().now().timestamp().as_second();

    // Same day: the day before was empty, and is reported as such.
    assert_eq!(due.send_daily_reports(now(due)).await.expect("sweep"), 1);
    assert!(reports(due, ANNA).await[0].contains("PEC ricevute: 0"));

    // 2026-03-03, 00:30 in Rome: the report of the 2nd, once, whoever sweeps.
    clock.advance(SignedDuration::from_mins(15 * 60 + 30));
    assert_eq!(due.send_daily_reports(now(due)).await.expect("sweep"), 1);
    assert_eq!(due.send_daily_reports(now(due)).await.expect("sweep"), 0);
    clock.advance(SignedDuration::from_mins(1));
    let again = restarted(due);
    assert_eq!(again.send_daily_reports(now(due)).await.expect("sweep"), 0);
    let anna = reports(due, ANNA).await;
    assert_eq!(anna.len(), 2);
    assert!(anna[1].contains("02/03/2026"), "{}", anna[1]);
    assert!(anna[1].contains("PEC ricevute: 1"), "{}", anna[1]);
    assert!(
        reports(due, "mario@pec.due.test").await.is_empty(),
        "not asked for"
    );

    assert_eq!(uno.send_daily_reports(now(uno)).await.expect("sweep"), 1);
    let mario = reports(uno, MARIO).await;
    let last = mario.last().expect("a report for mario");
    assert!(last.contains("PEC inviate (accettate): 1"), "{last}");
    assert!(last.contains("avvenuta-consegna-completa: 1"), "{last}");
    assert!(last.contains("Errori di consegna: 0"), "{last}");

    // The next day, the next report.
    clock.advance(SignedDuration::from_hours(24));
    assert_eq!(due.send_daily_reports(now(due)).await.expect("sweep"), 1);
    assert_eq!(reports(due, ANNA).await.len(), 3);
}

#[tokio::test]
async fn the_recovery_link_goes_to_the_recovery_address() {
    let (g, _clock) = network().await;
    let due = &g[1].engine;
    let none = due.start_recovery(ANNA, 3600).await.expect("recovery");
    assert!(none.is_none(), "no recovery address, no link");
    let send_to = "anna.rossi@posta.test";
    due.store()
        .set_recovery_address(ANNA, Some(send_to))
        .await
        .expect("recovery address");
    let link = due
        .start_recovery(ANNA, 3600)
        .await
        .expect("recovery")
        .expect("a link");
    let url = format!("https://webmail.pec.due.test/recupero/{}", link.token);
    due.send_recovery_mail(&link, &url).await.expect("send");

    let jobs = queued_to(due, send_to).await;
    assert_eq!(jobs.len(), 1);
    let (job, text) = &jobs[0];
    assert_eq!(job.mail_from, due.service_address());
    let said = body(text);
    assert!(said.contains(&url), "{said}");
    // 2026-03-02 09:00 in Rome, plus an hour.
    assert!(said.contains("scade il 02/03/2026 alle 10:00"), "{said}");
    assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
}
