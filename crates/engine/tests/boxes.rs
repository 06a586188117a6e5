//! What the engine does to the boxes themselves (issue 5): the Sent copy of a submission,
//! the PRO archive, the receipts folder, the 90 % quota warning and the full box, delegates
//! (login, actor in the legal log) and the protocol-system mode. Two gestori in process on
//! real SQLite stores, as in chain.rs.

#[path = "support/gestori.rs"]
mod gestori;

use engine::INBOX;
use engine::access::Submitted;
use engine::accounts::{LoginError, hash_password};
use engine::filing::archive_folder;
use gestori::{Gestore, kinds, message, network, relay_all};
use pec::checks::Envelope;
use store::{
    DelegateRole, MailboxKind, MailboxState, NewDelegate, NewMailbox, OrdinaryMail, SENT,
    StoreError,
};

const MARIO: &str = "mario@pec.uno.test";
const ANNA: &str = "anna@pec.due.test";

fn envelope(from: &str, to: &str) -> Envelope {
    Envelope {
        mail_from: from.into(),
        rcpt_to: vec![to.into()],
    }
}

/// Mario (Uno) sends one PEC to `to`; returns its identificativo.
async fn send(g: &[Gestore], from: &str, to: &str, actor: Option<&str>) -> String {
    let submitted = g[0]
        .engine
        .submit_as(&envelope(from, to), &message(from, to), actor)
        .await
        .unwrap();
    let Submitted::Accettato { identificativo } = submitted else {
        panic!("not accepted: {submitted:?}");
    };
    relay_all(g).await;
    identificativo
}

async fn create_box(g: &Gestore, address: &str, kind: MailboxKind, quota: u64) {
    let store = g.engine.store();
    store
        .create_mailbox(
            &NewMailbox {
                address: address.into(),
                kind,
                state: MailboxState::Attiva,
                quota,
                ordinary_mail: OrdinaryMail::Rifiuta,
                password_hash: hash_password("password1").unwrap(),
            },
            0,
        )
        .await
        .unwrap();
}

async fn folder_kinds(g: &Gestore, mailbox: &str, folder: &str) -> Vec<Option<String>> {
    g.engine
        .store()
        .messages(mailbox, folder)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.kind)
        .collect()
}

#[tokio::test]
async fn submission_is_kept_in_sent_and_a_delegate_is_logged() {
    let (g, _clock) = network().await;
    let store = g[0].engine.store();
    let id = send(&g, MARIO, ANNA, None).await;
    let sent = store.messages(MARIO, SENT).await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        store.get(&sent[0].blob).await.unwrap(),
        message(MARIO, ANNA),
        "Sent holds the submission as it arrived"
    );
    assert_eq!(sent[0].identificativo.as_deref(), Some(id.as_str()));
    assert_eq!(sent[0].flags, ["\\Seen"]);
    assert!(
        store
            .events(&id)
            .await
            .unwrap()
            .iter()
            .all(|e| e.event.actor.is_none()),
        "the holder acted: no actor"
    );

    let by_delegate = send(&g, MARIO, ANNA, Some("Segreteria.Rossi")).await;
    let events = store.events(&by_delegate).await.unwrap();
    let accettazione = events
        .iter()
        .find(|e| e.event.kind == "accettazione")
        .expect("accettazione logged");
    assert_eq!(
        accettazione.event.actor.as_deref(),
        Some("segreteria.rossi")
    );
    assert_eq!(store.messages(MARIO, SENT).await.unwrap().len(), 2);

    // A submission refused at the formal checks (From ≠ MAIL FROM) is kept in Sent too.
    let forged = message("altro@pec.uno.test", ANNA);
    let refused = g[0]
        .engine
        .submit(&envelope(MARIO, ANNA), &forged)
        .await
        .unwrap();
    assert!(matches!(refused, Submitted::NonAccettato { .. }));
    let sent = store.messages(MARIO, SENT).await.unwrap();
    assert_eq!(store.get(&sent[2].blob).await.unwrap(), forged);
}

#[tokio::test]
async fn pro_box_archives_everything_and_the_archive_is_immutable() {
    let (g, clock) = network().await;
    let studio = "studio@pec.uno.test";
    let pro = "protocollo@pec.due.test";
    create_box(&g[0], studio, MailboxKind::Pro, 0).await;
    create_box(&g[1], pro, MailboxKind::Pro, 0).await;
    send(&g, studio, pro, None).await;
    let month = archive_folder(clock_now(&clock));
    assert_eq!(month, "Archivio/2026/03");

    // Sender: Sent + receipts, each also in the archive.
    let archived = folder_kinds(&g[0], studio, &month).await;
    assert_eq!(
        archived,
        [
            None,
            Some("accettazione".into()),
            Some("avvenuta-consegna-completa".into())
        ],
        "the submission, the accettazione and the consegna, in order"
    );
    assert_eq!(folder_kinds(&g[0], studio, SENT).await, [None]);
    // Recipient: the busta, in INBOX and in the archive.
    assert_eq!(
        folder_kinds(&g[1], pro, &month).await,
        [Some("posta-certificata".into())]
    );
    assert_eq!(kinds(&g[1].engine, pro).await, ["posta-certificata"]);

    // The archive does not count towards the quota; INBOX does.
    let store = g[1].engine.store();
    let inbox = store.messages(pro, INBOX).await.unwrap();
    let used = store.mailbox(pro).await.unwrap().unwrap().used;
    assert_eq!(used, inbox[0].size);

    // Immutable: expunge, move out, \Deleted, delete and rename are refused.
    let uid = store.messages(pro, &month).await.unwrap()[0].uid;
    assert!(immutable(store.expunge(pro, &month, &[uid]).await));
    assert!(immutable(
        store.move_messages(pro, &month, &[uid], INBOX).await
    ));
    assert!(immutable(
        store
            .store_flags(
                pro,
                &month,
                &[uid],
                store::FlagChange::Add,
                &["\\Deleted".into()],
                None
            )
            .await
    ));
    assert!(immutable(store.delete_folder(pro, &month).await));
    assert!(immutable(store.rename_folder(pro, &month, "Altro").await));
    assert_eq!(store.messages(pro, &month).await.unwrap().len(), 1);
    // A holder may still delete from INBOX: the archive keeps its copy.
    store.expunge(pro, INBOX, &[inbox[0].uid]).await.unwrap();
    assert_eq!(store.messages(pro, &month).await.unwrap().len(), 1);
    assert_eq!(store.mailbox(pro).await.unwrap().unwrap().used, 0);
}

fn immutable<T>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Immutable(_)))
}

fn clock_now(clock: &engine::clock::ManualClock) -> i64 {
    use engine::clock::Clock;
    clock.now().timestamp().as_second()
}

#[tokio::test]
async fn receipts_folder_takes_the_receipts() {
    let (g, _clock) = network().await;
    g[0].engine
        .store()
        .set_receipts_folder(MARIO, Some("Ricevute PEC"))
        .await
        .unwrap();
    send(&g, MARIO, ANNA, None).await;
    assert_eq!(
        folder_kinds(&g[0], MARIO, "Ricevute PEC").await,
        [
            Some("accettazione".into()),
            Some("avvenuta-consegna-completa".into())
        ]
    );
    assert!(kinds(&g[0].engine, MARIO).await.is_empty());
    // A busta for Mario still lands in INBOX.
    let back = g[1]
        .engine
        .submit(&envelope(ANNA, MARIO), &message(ANNA, MARIO))
        .await
        .unwrap();
    assert!(matches!(back, Submitted::Accettato { .. }));
    relay_all(&g).await;
    assert_eq!(kinds(&g[0].engine, MARIO).await, ["posta-certificata"]);
}

/// The quota warnings (kind None, from the gestore) in a box's INBOX.
async fn warnings(g: &Gestore, mailbox: &str) -> Vec<String> {
    let store = g.engine.store();
    let mut out = Vec::new();
    for m in store.messages(mailbox, INBOX).await.unwrap() {
        if m.kind.is_none() {
            let bytes = store.get(&m.blob).await.unwrap();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            assert!(text.contains("oltre il 90%"), "{text}");
            out.push(text);
        }
    }
    out
}

#[tokio::test]
async fn quota_warning_once_per_crossing_and_full_box_refuses() {
    let (g, _clock) = network().await;
    let store = g[1].engine.store();
    // One busta to learn its size, then a quota where the second crosses 90 %.
    send(&g, MARIO, ANNA, None).await;
    let size = store.mailbox(ANNA).await.unwrap().unwrap().used;
    store.set_quota(ANNA, size * 2 * 100 / 95).await.unwrap();
    assert!(warnings(&g[1], ANNA).await.is_empty());

    // Anna registered a notification address: the warning goes there too.
    let notify = "anna.privata@posta.ordinaria.test";
    store
        .set_new_pec_notice(
            ANNA,
            &store::NewPecNotice {
                to: vec![notify.into()],
                only_from: vec![],
            },
        )
        .await
        .unwrap();
    send(&g, MARIO, ANNA, None).await;
    assert_eq!(warnings(&g[1], ANNA).await.len(), 1, "warned at 90 %");
    let mut relayed = Vec::new();
    for job in store.queued().await.unwrap() {
        let bytes = store.get(&job.blob).await.unwrap();
        if String::from_utf8_lossy(&bytes).contains("oltre il 90%") {
            relayed.push(job.rcpt_to);
        }
    }
    assert_eq!(
        relayed,
        [vec![notify.to_string()]],
        "the warning, once, to the notification address"
    );
    let anna = store.mailbox(ANNA).await.unwrap().unwrap();
    assert!(anna.quota_warned);

    // Full: the next busta is refused with the casella piena notice, and no new warning.
    send(&g, MARIO, ANNA, None).await;
    assert_eq!(
        kinds(&g[1].engine, ANNA).await,
        ["posta-certificata", "posta-certificata"]
    );
    let notices = kinds(&g[0].engine, MARIO).await;
    assert_eq!(notices.last().map(String::as_str), Some("errore-consegna"));
    let (_, c) = gestori::received(&g[0].engine, MARIO, "errore-consegna").await;
    let errore = c.daticert.unwrap().errore_esteso.unwrap_or_default();
    assert!(errore.contains("5.2.2"), "casella piena: {errore}");
    assert_eq!(warnings(&g[1], ANNA).await.len(), 1, "exactly once");

    // Room made below 90 %: the flag clears, and the next crossing warns again.
    let uids: Vec<u32> = store
        .messages(ANNA, INBOX)
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    store.expunge(ANNA, INBOX, &uids).await.unwrap();
    assert!(!store.mailbox(ANNA).await.unwrap().unwrap().quota_warned);
    send(&g, MARIO, ANNA, None).await;
    send(&g, MARIO, ANNA, None).await;
    assert_eq!(
        warnings(&g[1], ANNA).await.len(),
        1,
        "a new warning after the new crossing"
    );
}

#[tokio::test]
async fn delegates_log_in_as_themselves_and_the_protocol_account_empties_inbox() {
    let (g, _clock) = network().await;
    let (engine, store) = (&g[1].engine, g[1].engine.store());
    for (login, role) in [
        ("titulus", DelegateRole::Gestione),
        ("lettore", DelegateRole::Lettura),
    ] {
        store
            .create_delegate(
                &NewDelegate {
                    login: login.into(),
                    mailbox: ANNA.into(),
                    role,
                    password_hash: hash_password("delegata1").unwrap(),
                },
                0,
            )
            .await
            .unwrap();
    }
    let lettore = engine.login("Lettore", "delegata1").await.unwrap().unwrap();
    assert_eq!(lettore.mailbox, ANNA);
    assert_eq!(lettore.role, Some(DelegateRole::Lettura));
    assert!(!lettore.may_send());
    assert_eq!(
        engine.login("lettore", "sbagliata").await.unwrap(),
        Err(LoginError::BadCredentials)
    );
    let holder = engine.login(ANNA, "password1").await.unwrap().unwrap();
    assert_eq!((holder.role, holder.actor()), (None, None));

    send(&g, MARIO, ANNA, None).await;
    send(&g, MARIO, ANNA, None).await;
    let inbox = store.messages(ANNA, INBOX).await.unwrap();
    let titulus = engine.login("titulus", "delegata1").await.unwrap().unwrap();
    // Without protocol-system mode, reading changes nothing.
    assert!(
        engine
            .mark_read(&titulus, INBOX, &[inbox[0].uid])
            .await
            .unwrap()
            .is_empty()
    );
    store
        .set_protocol_account(ANNA, Some("titulus"))
        .await
        .unwrap();
    // The holder's and another delegate's reads leave the message where it is...
    assert!(
        engine
            .mark_read(&holder, INBOX, &[inbox[0].uid])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        engine
            .mark_read(&lettore, INBOX, &[inbox[0].uid])
            .await
            .unwrap()
            .is_empty()
    );
    // ...the integration account's read takes it out of INBOX.
    let mut changes = engine.changes();
    assert_eq!(
        engine
            .mark_read(&titulus, INBOX, &[inbox[0].uid])
            .await
            .unwrap(),
        [inbox[0].uid]
    );
    assert_eq!(changes.recv().await.unwrap(), ANNA);
    assert_eq!(store.messages(ANNA, INBOX).await.unwrap().len(), 1);

    // A suspended box lets nobody in.
    store.set_state(ANNA, MailboxState::Sospesa).await.unwrap();
    assert!(matches!(
        engine.login("titulus", "delegata1").await.unwrap(),
        Err(LoginError::NotActive(_))
    ));
}
