//! A holder's own account from the web's side (issue 6): changing a password under the
//! provider's policy, holders and delegates alike, and the activation of boxes created in
//! bulk (seed 003) up to the sweep that blocks those not activated in time. Real SQLite
//! stores, as in boxes.rs.

#[path = "support/gestori.rs"]
mod gestori;

use engine::Engine;
use engine::accounts::{LoginError, hash_password};
use engine::mailbox::Principal;
use engine::settings::{PasswordPolicy, PendingActivation, PolicyViolation, SettingsError};
use gestori::network;
use jiff::SignedDuration;
use store::{
    DelegateRole, HolderProfile, MailboxKind, MailboxState, NewDelegate, NewMailbox, OrdinaryMail,
};

const MARIO: &str = "mario@pec.uno.test";
/// The initial password of a box created in bulk (seed 003: the codice fiscale).
const INITIAL: &str = "RSSMRA70E01L219P";

async fn login(e: &Engine, login: &str, password: &str) -> Result<Principal, LoginError> {
    e.login(login, password).await.expect("login")
}

fn now(e: &Engine) -> i64 {
    e.clock().now().timestamp().as_second()
}

fn profile() -> HolderProfile {
    HolderProfile {
        nome: "Luigi".into(),
        cognome: "Verdi".into(),
        email: "luigi.verdi@libero.it".into(),
    }
}

/// A box created suspended with the initial password and the provider's data, to be
/// activated within `within` seconds; returns its address.
async fn bulk_box(e: &Engine, local: &str, within: i64) -> String {
    let address = format!("{local}@pec.uno.test");
    let store = e.store();
    let m = NewMailbox {
        address: address.clone(),
        kind: MailboxKind::Standard,
        state: MailboxState::Sospesa,
        quota: 0,
        ordinary_mail: OrdinaryMail::Rifiuta,
        password_hash: hash_password(INITIAL).unwrap(),
    };
    store.create_mailbox(&m, now(e)).await.unwrap();
    store
        .set_holder_profile(&address, &profile())
        .await
        .unwrap();
    store
        .require_activation(&address, now(e) + within)
        .await
        .unwrap();
    address
}

#[tokio::test]
async fn a_holder_changes_the_password_under_the_policy() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let policy = PasswordPolicy::default();
    let mario = login(e, MARIO, "password1").await.unwrap();

    let wrong = e
        .change_password(&mario, "sbagliata1", "Nuova2026", &policy)
        .await;
    assert!(
        matches!(wrong, Err(SettingsError::BadCredentials)),
        "{wrong:?}"
    );
    match e
        .change_password(&mario, "password1", "corta", &policy)
        .await
    {
        Err(SettingsError::Policy(v)) => {
            assert_eq!(v, [PolicyViolation::TooShort(8), PolicyViolation::NoDigit])
        }
        other => panic!("expected the policy's refusal, got {other:?}"),
    }
    e.change_password(&mario, "password1", "Nuova2026", &policy)
        .await
        .expect("an acceptable password");
    assert_eq!(
        login(e, MARIO, "password1").await,
        Err(LoginError::BadCredentials),
        "the old password is gone"
    );
    let mario = login(e, MARIO, "Nuova2026")
        .await
        .expect("the new password");
    match e
        .change_password(&mario, "Nuova2026", "password1", &policy)
        .await
    {
        Err(SettingsError::Policy(v)) => assert_eq!(v, [PolicyViolation::Reused]),
        other => panic!("a password used before: expected Reused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_delegate_changes_only_their_own_password() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let d = NewDelegate {
        login: "segreteria".into(),
        mailbox: MARIO.into(),
        role: DelegateRole::Lettura,
        password_hash: hash_password("delega123").unwrap(),
    };
    e.store().create_delegate(&d, now(e)).await.unwrap();
    let delegate = login(e, "segreteria", "delega123").await.unwrap();
    e.change_password(
        &delegate,
        "delega123",
        "Delega2026",
        &PasswordPolicy::default(),
    )
    .await
    .expect("the delegate's change");
    assert!(login(e, "segreteria", "Delega2026").await.is_ok());
    assert!(
        login(e, MARIO, "password1").await.is_ok(),
        "the holder's is untouched"
    );
    let history = e.store().password_history("segreteria").await.unwrap();
    assert_eq!(
        history.len(),
        1,
        "the delegate's old password is remembered"
    );
}

#[tokio::test]
async fn a_box_created_in_bulk_is_activated_at_the_first_login() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let policy = PasswordPolicy::default();
    let luigi = bulk_box(e, "luigi.verdi", 3600).await;

    assert_eq!(
        login(e, &luigi, INITIAL).await,
        Err(LoginError::NotActive(luigi.clone())),
        "no mail access before activation"
    );
    let wrong = e.login_for_activation(&luigi, "sbagliata").await.unwrap();
    assert_eq!(wrong, Err(LoginError::BadCredentials));
    let pending = e
        .login_for_activation(&luigi.to_ascii_uppercase(), INITIAL)
        .await
        .unwrap();
    assert_eq!(
        pending,
        Ok(PendingActivation {
            mailbox: luigi.clone(),
            profile: Some(profile()),
            deadline: Some(now(e) + 3600),
        }),
        "the activation page, with the provider's data"
    );

    let confirmed = HolderProfile {
        email: "luigi@studio.example".into(),
        ..profile()
    };
    match e
        .activate(&luigi, INITIAL, &confirmed, &policy, now(e))
        .await
    {
        Err(SettingsError::Policy(v)) => assert_eq!(v, [PolicyViolation::Reused]),
        other => panic!("keeping the initial password: expected Reused, got {other:?}"),
    }
    let bad_profile = HolderProfile {
        email: "non un indirizzo".into(),
        ..profile()
    };
    let refused = e
        .activate(&luigi, "Attiva2026", &bad_profile, &policy, now(e))
        .await;
    assert!(
        matches!(refused, Err(SettingsError::InvalidSetting(_))),
        "{refused:?}"
    );
    e.activate(&luigi, "Attiva2026", &confirmed, &policy, now(e))
        .await
        .expect("activating");

    assert!(login(e, &luigi, "Attiva2026").await.is_ok(), "mail access");
    let settings = e.store().holder_settings(&luigi).await.unwrap().unwrap();
    assert_eq!(settings.profile, Some(confirmed.clone()));
    assert!(!settings.must_change_password);
    assert_eq!(
        e.login_for_activation(&luigi, "Attiva2026").await.unwrap(),
        Err(LoginError::NotActive(luigi.clone())),
        "an active box has no activation page"
    );
    let again = e
        .activate(&luigi, "Ancora2026", &confirmed, &policy, now(e))
        .await;
    assert!(
        matches!(again, Err(SettingsError::NotAwaitingActivation(_))),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_box_not_activated_in_time_is_blocked() {
    let (g, clock) = network().await;
    let e = &g[0].engine;
    let late = bulk_box(e, "ritardatario", 60).await;
    let punctual = bulk_box(e, "puntuale", 86_400).await;
    assert_eq!(e.block_expired_activations(now(e)).await.unwrap(), 0);

    clock.advance(SignedDuration::from_secs(61));
    assert_eq!(
        e.login_for_activation(&late, INITIAL).await.unwrap(),
        Err(LoginError::NotActive(late.clone())),
        "past the deadline, no activation page"
    );
    let expired = e
        .activate(
            &late,
            "Attiva2026",
            &profile(),
            &PasswordPolicy::default(),
            now(e),
        )
        .await;
    assert!(
        matches!(expired, Err(SettingsError::ActivationExpired(_))),
        "{expired:?}"
    );
    assert_eq!(e.block_expired_activations(now(e)).await.unwrap(), 1);
    let state = e.store().mailbox(&late).await.unwrap().map(|m| m.state);
    assert_eq!(state, Some(MailboxState::Bloccata));
    let punctual_state = e.store().mailbox(&punctual).await.unwrap().map(|m| m.state);
    assert_eq!(punctual_state, Some(MailboxState::Sospesa), "still in time");
    assert_eq!(
        e.block_expired_activations(now(e)).await.unwrap(),
        0,
        "once"
    );
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_recovery_address() {
    let (g, clock) = network().await;
    let e = &g[0].engine;
    let policy = PasswordPolicy::default();
    let store = e.store();
    assert_eq!(
        e.start_recovery(MARIO, 3600).await.unwrap(),
        None,
        "no recovery address, no link"
    );
    store
        .set_recovery_address(MARIO, Some("mario.rossi@libero.it"))
        .await
        .unwrap();
    let link = e
        .start_recovery("Mario@PEC.uno.test", 3600)
        .await
        .unwrap()
        .expect("a link");
    assert_eq!(
        (link.mailbox.as_str(), link.send_to.as_str()),
        (MARIO, "mario.rossi@libero.it")
    );
    assert_eq!(link.token.len(), 64);
    assert_eq!(link.expires_at, now(e) + 3600);

    match e.finish_recovery(&link.token, "password1", &policy).await {
        Err(SettingsError::Policy(v)) => assert_eq!(v, [PolicyViolation::Reused]),
        other => panic!("the current password again: expected Reused, got {other:?}"),
    }
    let wrong = e
        .finish_recovery("0".repeat(64).as_str(), "Ritrovata1", &policy)
        .await;
    assert!(
        matches!(wrong, Err(SettingsError::InvalidToken)),
        "{wrong:?}"
    );
    let reset = e.finish_recovery(&link.token, "Ritrovata1", &policy).await;
    assert_eq!(
        reset.ok().as_deref(),
        Some(MARIO),
        "the refused try left the link usable"
    );
    assert!(login(e, MARIO, "Ritrovata1").await.is_ok());
    let twice = e.finish_recovery(&link.token, "Ritrovata2", &policy).await;
    assert!(
        matches!(twice, Err(SettingsError::InvalidToken)),
        "{twice:?}"
    );

    let late = e.start_recovery(MARIO, 60).await.unwrap().expect("a link");
    clock.advance(SignedDuration::from_secs(61));
    let expired = e.finish_recovery(&late.token, "Ritrovata3", &policy).await;
    assert!(
        matches!(expired, Err(SettingsError::InvalidToken)),
        "{expired:?}"
    );

    let blocked = e
        .start_recovery(MARIO, 3600)
        .await
        .unwrap()
        .expect("a link");
    store
        .set_state(MARIO, MailboxState::Bloccata)
        .await
        .unwrap();
    assert_eq!(
        e.start_recovery(MARIO, 3600).await.unwrap(),
        None,
        "blocked box"
    );
    let refused = e
        .finish_recovery(&blocked.token, "Ritrovata4", &policy)
        .await;
    assert!(
        matches!(refused, Err(SettingsError::InvalidToken)),
        "{refused:?}"
    );
}

/// A fresh recovery link for Mario, whose box has a recovery address.
async fn recovery_link(e: &Engine) -> engine::settings::RecoveryLink {
    e.store()
        .set_recovery_address(MARIO, Some("mario.rossi@libero.it"))
        .await
        .unwrap();
    e.start_recovery(MARIO, 3600)
        .await
        .unwrap()
        .expect("a link")
}

fn link_dead(r: Result<String, SettingsError>) {
    assert!(matches!(r, Err(SettingsError::InvalidToken)), "{r:?}");
}

#[tokio::test]
async fn a_recovery_link_dies_when_the_password_changes_by_any_means() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let policy = PasswordPolicy::default();

    // The holder changes the password on the settings page.
    let before = recovery_link(e).await;
    let mario = login(e, MARIO, "password1").await.unwrap();
    e.change_password(&mario, "password1", "Cambiata1", &policy)
        .await
        .unwrap();
    link_dead(
        e.finish_recovery(&before.token, "Ritrovata1", &policy)
            .await,
    );

    // An admin resets it.
    let before = recovery_link(e).await;
    let admin = store::Admin {
        login: "admin".into(),
        password_hash: String::new(),
        scope: store::AdminScope::Provider,
        created_at: 0,
    };
    e.reimposta_password(&admin, MARIO).await.unwrap();
    link_dead(
        e.finish_recovery(&before.token, "Ritrovata1", &policy)
            .await,
    );

    // One of two links is used: the other dies with it.
    let (first, second) = (recovery_link(e).await, recovery_link(e).await);
    e.finish_recovery(&first.token, "Ritrovata1", &policy)
        .await
        .unwrap();
    link_dead(
        e.finish_recovery(&second.token, "Ritrovata2", &policy)
            .await,
    );
    assert!(login(e, MARIO, "Ritrovata1").await.is_ok());
}

#[tokio::test]
async fn a_recovery_link_dies_when_the_recovery_address_changes() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let policy = PasswordPolicy::default();
    // Saved again unchanged (the settings form saves its whole section): the link works.
    let kept = recovery_link(e).await;
    e.store()
        .set_recovery_address(MARIO, Some("Mario.Rossi@libero.it"))
        .await
        .unwrap();
    e.finish_recovery(&kept.token, "Ritrovata1", &policy)
        .await
        .unwrap();
    // Sent to an address the holder no longer uses, or no longer has, a link must not work.
    let old = recovery_link(e).await;
    e.store()
        .set_recovery_address(MARIO, Some("mario@altrove.it"))
        .await
        .unwrap();
    link_dead(e.finish_recovery(&old.token, "Ritrovata2", &policy).await);
    let old = recovery_link(e).await;
    e.store().set_recovery_address(MARIO, None).await.unwrap();
    link_dead(e.finish_recovery(&old.token, "Ritrovata2", &policy).await);
}
