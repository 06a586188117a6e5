//! A session holds only while its login does (issue 12, finding 6): `Engine::rinnova`, which
//! every door asks before each command, ends it when the box is blocked or the password
//! changed by anyone, and gives a delegate's new role at once.

#[path = "support/gestori.rs"]
mod gestori;

use engine::accounts::hash_password;
use gestori::network;
use store::{DelegateRole, MailboxState, NewDelegate};

const MARIO: &str = "mario@pec.uno.test";

#[tokio::test]
async fn a_blocked_box_or_a_new_password_ends_the_sessions_opened_before() {
    let (g, _clock) = network().await;
    let uno = &g[0].engine;
    let who = uno.login(MARIO, "password1").await.unwrap().unwrap();
    assert_eq!(uno.rinnova(&who).await.unwrap(), Some(who.clone()));

    uno.store()
        .set_state(MARIO, MailboxState::Bloccata)
        .await
        .unwrap();
    assert_eq!(uno.rinnova(&who).await.unwrap(), None);
    uno.store()
        .set_state(MARIO, MailboxState::Attiva)
        .await
        .unwrap();

    // A new password (even the same one, hashed anew) ends the old session; a new login
    // with it holds.
    uno.store()
        .set_password_hash(MARIO, &hash_password("password1").unwrap())
        .await
        .unwrap();
    assert_eq!(uno.rinnova(&who).await.unwrap(), None);
    let again = uno.login(MARIO, "password1").await.unwrap().unwrap();
    assert!(uno.rinnova(&again).await.unwrap().is_some());
}

#[tokio::test]
async fn a_delegate_session_follows_its_login() {
    let (g, _clock) = network().await;
    let uno = &g[0].engine;
    let store = uno.store();
    let delegate = |role| NewDelegate {
        login: "segreteria".into(),
        mailbox: MARIO.into(),
        role,
        password_hash: hash_password("segreta12").unwrap(),
    };
    store
        .create_delegate(&delegate(DelegateRole::Invio), 0)
        .await
        .unwrap();
    let who = uno.login("segreteria", "segreta12").await.unwrap().unwrap();
    assert!(who.may_send());
    assert!(uno.rinnova(&who).await.unwrap().is_some());

    store
        .set_delegate_password_hash("segreteria", &hash_password("altra1234").unwrap())
        .await
        .unwrap();
    assert_eq!(uno.rinnova(&who).await.unwrap(), None);

    // The holder's box blocked ends its delegates' sessions too.
    let who = uno.login("segreteria", "altra1234").await.unwrap().unwrap();
    store
        .set_state(MARIO, MailboxState::Bloccata)
        .await
        .unwrap();
    assert_eq!(uno.rinnova(&who).await.unwrap(), None);
}
