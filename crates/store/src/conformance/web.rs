//! The checks of what the web (issue 6) relies on: holder settings and their limits, the
//! ordinary-mail policy with its target, password history, activation of boxes created in
//! bulk, password recovery, administrators, and the REST API's keys, sends and webhooks.
//! Helpers are shared with [`super`].

use super::{
    NOW, assert_already_exists, assert_not_found, event, fresh, fresh_domain, fresh_mailbox, ok,
    sha256_hex,
};
use crate::{
    AdminScope, ApiSend, Batch, HolderProfile, HolderSettings, MailboxKind, MailboxState,
    NOTICE_ADDRESSES, NewDelegate, NewMailbox, NewPecNotice, OrdinaryMail, PASSWORD_HISTORY,
    Result, Store, StoreError,
};

// ---------------------------------------------------------------------------------------
// Helpers

/// Panics unless `r` failed with `InvalidSetting`.
#[track_caller]
fn assert_invalid_setting<T: std::fmt::Debug>(r: Result<T>, what: &str) {
    match r {
        Err(StoreError::InvalidSetting(_)) => {}
        other => panic!("{what}: expected InvalidSetting, got {other:?}"),
    }
}

/// The settings of a box that must exist.
async fn settings_of(store: &dyn Store, address: &str) -> HolderSettings {
    ok(store.holder_settings(address).await, "reading settings")
        .unwrap_or_else(|| panic!("the settings of {address} are missing"))
}

/// A fresh box of a fresh domain, created suspended as bulk provisioning does.
async fn suspended_mailbox(store: &dyn Store, password_hash: &str) -> String {
    let domain = fresh_domain();
    ok(store.create_domain(&domain, NOW).await, "creating a domain");
    let address = format!("{}@{domain}", fresh("iscritto"));
    let m = NewMailbox {
        address: address.clone(),
        kind: MailboxKind::Standard,
        state: MailboxState::Sospesa,
        quota: 0,
        ordinary_mail: OrdinaryMail::Rifiuta,
        password_hash: password_hash.into(),
    };
    ok(store.create_mailbox(&m, NOW).await, "creating a mailbox");
    address
}

fn mario() -> HolderProfile {
    HolderProfile {
        nome: "Mario".into(),
        cognome: "Rossi".into(),
        email: "Mario.Rossi@Libero.IT".into(),
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------
// Checks

/// A new box has no settings; each setter stores its value (addresses lowercase), refuses
/// invalid addresses and more than [`NOTICE_ADDRESSES`] per notice list (leaving the old
/// value), and `NotFound` for an unknown box.
pub async fn holder_settings(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let shout = mailbox.to_ascii_uppercase();
    assert_eq!(
        settings_of(store, &mailbox).await,
        HolderSettings::default(),
        "no settings at first"
    );
    ok(store.set_holder_profile(&shout, &mario()).await, "profile");
    ok(
        store
            .set_recovery_address(&shout, Some("Recupero@Gmail.com"))
            .await,
        "recovery address",
    );
    let notice = NewPecNotice {
        to: strings(&["A@Libero.it", "b@gmail.com"]),
        only_from: strings(&["Tribunale@PEC.giustizia.it"]),
    };
    ok(store.set_new_pec_notice(&shout, &notice).await, "notices");
    ok(
        store
            .set_forward_copy(&shout, Some("Copia@Libero.it"))
            .await,
        "forward copy",
    );
    ok(store.set_daily_report(&shout, true).await, "daily report");
    let expected = HolderSettings {
        profile: Some(HolderProfile {
            email: "mario.rossi@libero.it".into(),
            ..mario()
        }),
        recovery_address: Some("recupero@gmail.com".into()),
        notice: NewPecNotice {
            to: strings(&["a@libero.it", "b@gmail.com"]),
            only_from: strings(&["tribunale@pec.giustizia.it"]),
        },
        forward_copy: Some("copia@libero.it".into()),
        daily_report: true,
        ..HolderSettings::default()
    };
    assert_eq!(
        settings_of(store, &shout).await,
        expected,
        "settings stored"
    );

    refuse_invalid_settings(store, &mailbox).await;
    assert_eq!(
        settings_of(store, &mailbox).await,
        expected,
        "refused settings changed nothing"
    );

    ok(
        store
            .set_new_pec_notice(&mailbox, &NewPecNotice::default())
            .await,
        "notices off",
    );
    ok(store.set_recovery_address(&mailbox, None).await, "clearing");
    ok(store.set_forward_copy(&mailbox, None).await, "clearing");
    ok(store.set_daily_report(&mailbox, false).await, "report off");
    let cleared = settings_of(store, &mailbox).await;
    assert_eq!(
        (
            cleared.notice,
            cleared.recovery_address,
            cleared.forward_copy
        ),
        (NewPecNotice::default(), None, None),
        "settings cleared"
    );
    assert!(!cleared.daily_report, "report off");

    let nobody = format!("nessuno@{}", fresh_domain());
    assert_eq!(ok(store.holder_settings(&nobody).await, "reading"), None);
    assert_not_found(store.set_holder_profile(&nobody, &mario()).await, "profile");
    assert_not_found(store.set_recovery_address(&nobody, None).await, "recovery");
    assert_not_found(
        store
            .set_new_pec_notice(&nobody, &NewPecNotice::default())
            .await,
        "notices",
    );
    assert_not_found(store.set_forward_copy(&nobody, None).await, "forward");
    assert_not_found(store.set_daily_report(&nobody, true).await, "report");
}

/// The refusals of [`holder_settings`]: bad addresses, too many of them.
async fn refuse_invalid_settings(store: &dyn Store, mailbox: &str) {
    let bad_profile = HolderProfile {
        email: "non-un-indirizzo".into(),
        ..mario()
    };
    assert_invalid_setting(
        store.set_holder_profile(mailbox, &bad_profile).await,
        "a profile with a bad e-mail",
    );
    let nameless = HolderProfile {
        nome: " ".into(),
        ..mario()
    };
    assert_invalid_setting(
        store.set_holder_profile(mailbox, &nameless).await,
        "a profile without a name",
    );
    assert_invalid_setting(
        store.set_recovery_address(mailbox, Some("x@y")).await,
        "a bad recovery address",
    );
    assert_invalid_setting(
        store
            .set_forward_copy(mailbox, Some("due parole@x.it"))
            .await,
        "a bad forwarding address",
    );
    let over: Vec<String> = (0..=NOTICE_ADDRESSES)
        .map(|i| format!("n{i}@x.it"))
        .collect();
    let too_many_to = NewPecNotice {
        to: over.clone(),
        only_from: Vec::new(),
    };
    assert_invalid_setting(
        store.set_new_pec_notice(mailbox, &too_many_to).await,
        "too many notice recipients",
    );
    let too_many_from = NewPecNotice {
        to: strings(&["a@x.it"]),
        only_from: over,
    };
    assert_invalid_setting(
        store.set_new_pec_notice(mailbox, &too_many_from).await,
        "too many notice senders",
    );
    let bad_sender = NewPecNotice {
        to: strings(&["a@x.it"]),
        only_from: strings(&["mittente"]),
    };
    assert_invalid_setting(
        store.set_new_pec_notice(mailbox, &bad_sender).await,
        "a bad notice sender",
    );
}

/// The ordinary-mail policy and its target are set together and never disagree: each policy
/// takes its kind of target or none, the old setter refuses the policies with a target and
/// clears the target for the others, a target folder follows a rename.
pub async fn ordinary_mail_policy(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let policy = || async {
        let m = ok(store.mailbox(&mailbox).await, "reading").map(|m| m.ordinary_mail);
        (m, settings_of(store, &mailbox).await.ordinary_mail_target)
    };
    ok(
        store
            .set_ordinary_mail_policy(&mailbox, OrdinaryMail::Inoltra, Some("Altro@Libero.it"))
            .await,
        "forwarding ordinary mail",
    );
    let forwarding = (
        Some(OrdinaryMail::Inoltra),
        Some("altro@libero.it".to_owned()),
    );
    assert_eq!(policy().await, forwarding, "forwarding, lowercase");

    let refused = [
        (OrdinaryMail::Inoltra, None, "forwarding nowhere"),
        (
            OrdinaryMail::Inoltra,
            Some("cartella"),
            "forwarding to a non-address",
        ),
        (OrdinaryMail::Cartella, None, "filing nowhere"),
        (
            OrdinaryMail::Rifiuta,
            Some("a@x.it"),
            "refusing with a target",
        ),
        (
            OrdinaryMail::Anomalia,
            Some("Posta"),
            "anomalia with a target",
        ),
    ];
    for (p, target, what) in refused {
        assert_invalid_setting(
            store.set_ordinary_mail_policy(&mailbox, p, target).await,
            what,
        );
    }
    assert_invalid_setting(
        store
            .set_ordinary_mail(&mailbox, OrdinaryMail::Cartella)
            .await,
        "the old setter with a policy that needs a target",
    );
    match store
        .set_ordinary_mail_policy(&mailbox, OrdinaryMail::Cartella, Some("a//b"))
        .await
    {
        Err(StoreError::InvalidName(_)) => {}
        other => panic!("an invalid folder: expected InvalidName, got {other:?}"),
    }
    match store
        .set_ordinary_mail_policy(&mailbox, OrdinaryMail::Cartella, Some("Archivio/2023/11"))
        .await
    {
        Err(StoreError::Immutable(_)) => {}
        other => panic!("a folder in the archive: expected Immutable, got {other:?}"),
    }
    assert_eq!(policy().await, forwarding, "refusals changed nothing");

    ok(
        store
            .set_ordinary_mail_policy(&mailbox, OrdinaryMail::Cartella, Some("Posta ordinaria"))
            .await,
        "filing ordinary mail",
    );
    ok(
        store.create_folder(&mailbox, "Posta ordinaria", NOW).await,
        "creating the folder",
    );
    ok(
        store
            .rename_folder(&mailbox, "Posta ordinaria", "Non PEC")
            .await,
        "renaming it",
    );
    assert_eq!(
        policy().await,
        (Some(OrdinaryMail::Cartella), Some("Non PEC".to_owned())),
        "the target folder follows a rename"
    );
    ok(
        store
            .set_ordinary_mail(&mailbox, OrdinaryMail::Anomalia)
            .await,
        "the old setter",
    );
    assert_eq!(
        policy().await,
        (Some(OrdinaryMail::Anomalia), None),
        "the target goes with the policy that needed it"
    );
    let nobody = format!("nessuno@{}", fresh_domain());
    assert_not_found(
        store
            .set_ordinary_mail_policy(&nobody, OrdinaryMail::Rifiuta, None)
            .await,
        "an unknown box",
    );
    let domain = ok(store.mailbox(&mailbox).await, "reading").map(|m| m.domain);
    let targetless = NewMailbox {
        address: format!("{}@{}", fresh("inoltro"), domain.unwrap_or_default()),
        kind: MailboxKind::Standard,
        state: MailboxState::Attiva,
        quota: 0,
        ordinary_mail: OrdinaryMail::Inoltra,
        password_hash: "$h".into(),
    };
    assert_invalid_setting(
        store.create_mailbox(&targetless, NOW).await,
        "a new box forwarding nowhere",
    );
}

/// Every password change keeps the hash it replaces, newest first, at most
/// [`PASSWORD_HISTORY`], for boxes and delegates alike; setting the same hash again adds
/// nothing; a removed delegate's history goes with it.
pub async fn password_history(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let initial = ok(store.mailbox(&mailbox).await, "reading")
        .map(|m| m.password_hash)
        .unwrap_or_default();
    assert!(
        ok(store.password_history(&mailbox).await, "history").is_empty(),
        "no history at first"
    );
    let shout = mailbox.to_ascii_uppercase();
    for i in 1..=PASSWORD_HISTORY + 2 {
        ok(
            store.set_password_hash(&shout, &format!("$hash${i}")).await,
            "changing the password",
        );
    }
    ok(
        store
            .set_password_hash(&mailbox, &format!("$hash${}", PASSWORD_HISTORY + 2))
            .await,
        "setting the same hash",
    );
    let history = ok(store.password_history(&shout).await, "history");
    let expected: Vec<String> = (2..=PASSWORD_HISTORY + 1)
        .rev()
        .map(|i| format!("$hash${i}"))
        .collect();
    assert_eq!(history, expected, "the newest hashes, newest first");
    assert!(!history.contains(&initial), "the oldest are forgotten");

    let login = fresh("delegato");
    let delegate = NewDelegate {
        login: login.clone(),
        mailbox: mailbox.clone(),
        role: crate::DelegateRole::Lettura,
        password_hash: "$d$0".into(),
    };
    ok(store.create_delegate(&delegate, NOW).await, "a delegate");
    ok(
        store
            .set_delegate_password_hash(&login.to_ascii_uppercase(), "$d$1")
            .await,
        "changing the delegate's password",
    );
    assert_eq!(
        ok(store.password_history(&login).await, "history"),
        ["$d$0"],
        "a delegate's history"
    );
    ok(store.remove_delegate(&login).await, "removing the delegate");
    assert!(
        ok(store.password_history(&login).await, "history").is_empty(),
        "a removed delegate's history goes"
    );
    let nobody = format!("nessuno@{}", fresh_domain());
    assert!(ok(store.password_history(&nobody).await, "history").is_empty());
}

/// Boxes created in bulk await activation until the holder activates them (new password,
/// confirmed profile: one step) or the sweep blocks them after their deadline.
pub async fn activation(store: &dyn Store) {
    let early = suspended_mailbox(store, "$iniziale$1").await;
    let late = suspended_mailbox(store, "$iniziale$2").await;
    let plain = suspended_mailbox(store, "$iniziale$3").await;
    ok(
        store
            .require_activation(&early.to_ascii_uppercase(), NOW + 10)
            .await,
        "awaiting activation",
    );
    ok(store.require_activation(&late, NOW + 100).await, "awaiting");
    let waiting = settings_of(store, &early).await;
    assert_eq!(
        (waiting.must_change_password, waiting.activation_deadline),
        (true, Some(NOW + 10)),
        "the flag and the deadline"
    );
    assert_not_found(
        store.activate(&plain, "$nuova", &mario()).await,
        "activating a box that does not await it",
    );

    let blocked = ok(store.block_expired_activations(NOW + 10).await, "sweep");
    assert!(!blocked.contains(&early), "not blocked at its deadline");
    let blocked = ok(store.block_expired_activations(NOW + 50).await, "sweep");
    assert!(blocked.contains(&early), "blocked after its deadline");
    assert!(
        !blocked.contains(&late) && !blocked.contains(&plain),
        "{blocked:?}"
    );
    assert!(
        blocked.windows(2).all(|w| w[0] < w[1]),
        "sorted: {blocked:?}"
    );
    let state = |address: String| async move {
        ok(store.mailbox(&address).await, "reading").map(|m| m.state)
    };
    assert_eq!(state(early.clone()).await, Some(MailboxState::Bloccata));
    assert_not_found(
        store.activate(&early, "$nuova", &mario()).await,
        "activating a blocked box",
    );

    ok(
        store
            .activate(&late.to_ascii_uppercase(), "$nuova", &mario())
            .await,
        "activating",
    );
    assert_eq!(state(late.clone()).await, Some(MailboxState::Attiva));
    let m = ok(store.mailbox(&late).await, "reading").map(|m| m.password_hash);
    assert_eq!(m.as_deref(), Some("$nuova"), "the new password");
    assert_eq!(
        ok(store.password_history(&late).await, "history"),
        ["$iniziale$2"],
        "the initial password is history"
    );
    let done = settings_of(store, &late).await;
    assert_eq!(
        (done.must_change_password, done.activation_deadline),
        (false, None),
        "no longer awaiting"
    );
    assert_eq!(
        done.profile.map(|p| p.email).as_deref(),
        Some("mario.rossi@libero.it")
    );
    let swept = ok(store.block_expired_activations(NOW + 1000).await, "sweep");
    assert!(!swept.contains(&late), "an active box is never swept");
    assert_not_found(
        store.activate(&late, "$ancora", &mario()).await,
        "activating twice",
    );
    let nobody = format!("nessuno@{}", fresh_domain());
    assert_not_found(store.require_activation(&nobody, NOW).await, "unknown box");
}

/// Recovery tokens name their box once, only before they expire, and never outlive a new
/// password, a new recovery address or the use of another token of the box.
pub async fn recovery_tokens(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let (good, expired) = (
        sha256_hex(fresh("t").as_bytes()),
        sha256_hex(fresh("t").as_bytes()),
    );
    ok(
        store
            .create_recovery_token(&mailbox.to_ascii_uppercase(), &good, NOW + 3600)
            .await,
        "a token",
    );
    ok(
        store.create_recovery_token(&mailbox, &expired, NOW).await,
        "a token",
    );
    assert_already_exists(
        store
            .create_recovery_token(&mailbox, &good, NOW + 3600)
            .await,
        "the same token twice",
    );
    assert_eq!(
        ok(store.recovery_token(&expired, NOW).await, "looking up"),
        None,
        "an expired token is not shown"
    );
    for _ in 0..2 {
        assert_eq!(
            ok(store.recovery_token(&good, NOW).await, "looking up"),
            Some(mailbox.clone()),
            "looking a token up does not use it"
        );
    }
    assert_eq!(
        ok(
            store.consume_recovery_token(&expired, NOW).await,
            "consuming"
        ),
        None,
        "an expired token"
    );
    assert_eq!(
        ok(
            store.consume_recovery_token(&good, NOW + 10).await,
            "consuming"
        ),
        Some(mailbox.clone()),
        "a valid token names its box"
    );
    assert_eq!(
        ok(
            store.consume_recovery_token(&good, NOW + 11).await,
            "consuming"
        ),
        None,
        "a token works once"
    );
    assert_eq!(
        ok(store.recovery_token(&good, NOW + 11).await, "looking up"),
        None,
        "a used token is gone"
    );
    let unknown = sha256_hex(fresh("t").as_bytes());
    assert_eq!(
        ok(
            store.consume_recovery_token(&unknown, NOW).await,
            "consuming"
        ),
        None
    );

    // A token used takes the box's others with it; a new password, all of them.
    let [used, sibling, older] = [(); 3].map(|_| sha256_hex(fresh("t").as_bytes()));
    for token in [&used, &sibling] {
        ok(
            store
                .create_recovery_token(&mailbox, token, NOW + 3600)
                .await,
            "a token",
        );
    }
    assert_eq!(
        ok(store.consume_recovery_token(&used, NOW).await, "consuming"),
        Some(mailbox.clone())
    );
    assert_eq!(
        ok(store.recovery_token(&sibling, NOW).await, "looking up"),
        None,
        "the other token of the box went with the one used"
    );
    ok(
        store
            .create_recovery_token(&mailbox, &older, NOW + 3600)
            .await,
        "a token",
    );
    ok(
        store.set_password_hash(&mailbox, "$nuova").await,
        "a new password",
    );
    assert_eq!(
        ok(store.recovery_token(&older, NOW).await, "looking up"),
        None,
        "a new password ends every recovery link of the box"
    );
    let [kept, sent_elsewhere] = [(); 2].map(|_| sha256_hex(fresh("t").as_bytes()));
    ok(
        store
            .set_recovery_address(&mailbox, Some("prima@libero.it"))
            .await,
        "a recovery address",
    );
    ok(
        store
            .create_recovery_token(&mailbox, &kept, NOW + 3600)
            .await,
        "a token",
    );
    ok(
        store
            .set_recovery_address(&mailbox, Some("PRIMA@libero.it"))
            .await,
        "the same address again",
    );
    assert_eq!(
        ok(store.recovery_token(&kept, NOW).await, "looking up"),
        Some(mailbox.clone()),
        "the same recovery address saved again keeps the links"
    );
    ok(
        store
            .create_recovery_token(&mailbox, &sent_elsewhere, NOW + 3600)
            .await,
        "a token",
    );
    ok(
        store
            .set_recovery_address(&mailbox, Some("dopo@libero.it"))
            .await,
        "another address",
    );
    for token in [&kept, &sent_elsewhere] {
        assert_eq!(
            ok(store.recovery_token(token, NOW).await, "looking up"),
            None,
            "another recovery address ends the links sent to the one before"
        );
    }
    let nobody = format!("nessuno@{}", fresh_domain());
    assert_not_found(
        store.create_recovery_token(&nobody, &unknown, NOW).await,
        "a token for an unknown box",
    );
}

/// Admins: provider-wide or of one existing domain, logins and domains lowercase, listed by
/// login, with their errors.
pub async fn admins(store: &dyn Store) {
    let domain = fresh_domain();
    ok(store.create_domain(&domain, NOW).await, "creating a domain");
    let provider = fresh("Admin");
    let postmaster = format!("Postmaster@{}", domain.to_ascii_uppercase());
    ok(
        store
            .create_admin(&provider, "$a", &AdminScope::Provider, NOW)
            .await,
        "a provider admin",
    );
    let scope = AdminScope::Domain(domain.to_ascii_uppercase());
    ok(
        store.create_admin(&postmaster, "$p", &scope, NOW + 1).await,
        "a postmaster",
    );
    assert_already_exists(
        store
            .create_admin(
                &provider.to_ascii_uppercase(),
                "$x",
                &AdminScope::Provider,
                NOW,
            )
            .await,
        "the same login twice",
    );
    let elsewhere = AdminScope::Domain(fresh_domain());
    assert_not_found(
        store
            .create_admin(&fresh("pm"), "$x", &elsewhere, NOW)
            .await,
        "a postmaster of an unknown domain",
    );
    let got = ok(store.admin(&postmaster).await, "reading").expect("the postmaster");
    assert_eq!(got.login, postmaster.to_ascii_lowercase());
    assert_eq!(
        got.scope,
        AdminScope::Domain(domain.clone()),
        "domain lowercase"
    );
    assert_eq!(
        (got.password_hash.as_str(), got.created_at),
        ("$p", NOW + 1)
    );
    let all = ok(store.admins().await, "listing");
    assert!(all.windows(2).all(|w| w[0].login < w[1].login), "by login");
    let provider_login = provider.to_ascii_lowercase();
    let listed = all.iter().find(|a| a.login == provider_login);
    assert_eq!(listed.map(|a| &a.scope), Some(&AdminScope::Provider));

    ok(
        store
            .set_admin_password_hash(&provider.to_ascii_uppercase(), "$b")
            .await,
        "a new password",
    );
    let hash = ok(store.admin(&provider).await, "reading").map(|a| a.password_hash);
    assert_eq!(hash.as_deref(), Some("$b"));
    ok(store.remove_admin(&postmaster).await, "removing");
    assert_eq!(ok(store.admin(&postmaster).await, "reading"), None);
    assert_not_found(store.remove_admin(&postmaster).await, "removing twice");
    assert_not_found(
        store.set_admin_password_hash(&postmaster, "$c").await,
        "a password for nobody",
    );
}

/// API keys: found by hash until revoked, listed per box with their revocation, revoked only
/// by their own box.
pub async fn api_keys(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let other = fresh_mailbox(store, 0).await;
    let (h1, h2) = (
        sha256_hex(fresh("k").as_bytes()),
        sha256_hex(fresh("k").as_bytes()),
    );
    let k1 = ok(
        store
            .create_api_key(&mailbox.to_ascii_uppercase(), "gestionale", &h1, NOW)
            .await,
        "a key",
    );
    let k2 = ok(
        store.create_api_key(&mailbox, "script", &h2, NOW + 1).await,
        "a key",
    );
    assert!(k1 < k2, "ids increase");
    assert_already_exists(
        store.create_api_key(&other, "copia", &h1, NOW).await,
        "a hash already recorded",
    );
    let found = ok(store.api_key(&h1).await, "lookup").expect("the key");
    assert_eq!(
        (
            found.id,
            found.mailbox.as_str(),
            found.label.as_str(),
            found.revoked_at
        ),
        (k1, mailbox.as_str(), "gestionale", None)
    );
    assert_not_found(
        store.revoke_api_key(&other, k1, NOW).await,
        "another box's key",
    );
    ok(
        store
            .revoke_api_key(&mailbox.to_ascii_uppercase(), k1, NOW + 5)
            .await,
        "revoking",
    );
    ok(
        store.revoke_api_key(&mailbox, k1, NOW + 9).await,
        "revoking again",
    );
    assert_eq!(ok(store.api_key(&h1).await, "lookup"), None, "revoked");
    let listed = ok(store.api_keys(&mailbox).await, "listing");
    let summary: Vec<(i64, Option<i64>)> = listed.iter().map(|k| (k.id, k.revoked_at)).collect();
    assert_eq!(
        summary,
        [(k1, Some(NOW + 5)), (k2, None)],
        "the first instant kept"
    );
    assert!(ok(store.api_keys(&other).await, "listing").is_empty());
    let nobody = format!("nessuno@{}", fresh_domain());
    assert_not_found(
        store.create_api_key(&nobody, "x", &fresh("h"), NOW).await,
        "a key of an unknown box",
    );
}

/// The idempotency key of an API send is recorded with its batch and the digest of what was
/// asked: found afterwards, and a second batch with the key is refused whole.
pub async fn api_sends(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let other = fresh_mailbox(store, 0).await;
    let (key, id) = (fresh("chiave"), fresh("opec"));
    let recorded = |mailbox: &str, identificativo: &str| ApiSend {
        mailbox: mailbox.into(),
        key: key.clone(),
        identificativo: identificativo.into(),
        request_hash: Some(sha256_hex(identificativo.as_bytes())),
    };
    let send = |mailbox: &str, identificativo: &str| Batch {
        log: vec![event(NOW, "accettazione", identificativo)],
        api_sends: vec![recorded(mailbox, identificativo)],
        ..Batch::default()
    };
    assert_eq!(ok(store.api_send(&mailbox, &key).await, "lookup"), None);
    ok(
        store.commit(send(&mailbox.to_ascii_uppercase(), &id)).await,
        "a send",
    );
    assert_eq!(
        ok(
            store.api_send(&mailbox.to_ascii_uppercase(), &key).await,
            "lookup"
        ),
        Some(recorded(&mailbox, &id))
    );
    let again = fresh("opec");
    match store.commit(send(&mailbox, &again)).await {
        Err(StoreError::Duplicate(_)) => {}
        other => panic!("the same key again: expected Duplicate, got {other:?}"),
    }
    assert!(
        ok(store.events(&again).await, "events").is_empty(),
        "a refused send logs nothing"
    );
    assert_eq!(
        ok(store.api_send(&mailbox, &key).await, "lookup"),
        Some(recorded(&mailbox, &id))
    );
    ok(
        store.commit(send(&other, &again)).await,
        "the key of another box",
    );
    let nobody = format!("nessuno@{}", fresh_domain());
    assert_not_found(
        store.commit(send(&nobody, &fresh("opec"))).await,
        "unknown box",
    );
    ok(
        store
            .commit(Batch {
                once: vec![key],
                ..Batch::default()
            })
            .await,
        "API send keys and batch keys are separate name spaces",
    );
}

/// Webhooks: listed per box by id, deleted only by their own box.
pub async fn webhooks(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let other = fresh_mailbox(store, 0).await;
    let url = "https://gestionale.example/pec";
    let w1 = ok(
        store
            .create_webhook(&mailbox.to_ascii_uppercase(), url, "s1", NOW)
            .await,
        "a webhook",
    );
    let w2 = ok(
        store.create_webhook(&mailbox, url, "s2", NOW + 1).await,
        "another",
    );
    let listed = ok(store.webhooks(&mailbox).await, "listing");
    let got: Vec<(i64, &str, &str, i64)> = listed
        .iter()
        .map(|w| (w.id, w.mailbox.as_str(), w.secret.as_str(), w.created_at))
        .collect();
    assert_eq!(
        got,
        [
            (w1, mailbox.as_str(), "s1", NOW),
            (w2, mailbox.as_str(), "s2", NOW + 1)
        ]
    );
    assert_not_found(
        store.delete_webhook(&other, w1).await,
        "another box's webhook",
    );
    ok(store.delete_webhook(&mailbox, w1).await, "deleting");
    assert_not_found(store.delete_webhook(&mailbox, w1).await, "deleting twice");
    let left: Vec<i64> = ok(store.webhooks(&mailbox).await, "listing")
        .iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(left, [w2]);
    let nobody = format!("nessuno@{}", fresh_domain());
    assert_not_found(
        store.create_webhook(&nobody, url, "s", NOW).await,
        "unknown box",
    );
}

/// Deleting a box (the panel's, issue 6): the box, its folders and messages, delegates and
/// settings go; its address may be created again, empty; the legal log stays.
pub async fn mailbox_deletion(store: &dyn Store) {
    let address = fresh_mailbox(store, 0).await;
    let id = fresh("del");
    let mut logged = event(NOW, "accettazione", &id);
    logged.sender = address.clone();
    let batch = Batch {
        deliveries: vec![super::message(&address, "INBOX", 10, &id)],
        log: vec![logged],
        ..Default::default()
    };
    ok(store.commit(batch).await, "delivering to the box");
    let delegate = fresh("delegato");
    let d = NewDelegate {
        login: delegate.clone(),
        mailbox: address.clone(),
        role: crate::DelegateRole::Lettura,
        password_hash: "$d".into(),
    };
    ok(store.create_delegate(&d, NOW).await, "a delegate");
    ok(
        store.set_delegate_password_hash(&delegate, "$d2").await,
        "changing its password",
    );
    ok(
        store.delete_mailbox(&address.to_ascii_uppercase()).await,
        "deleting the box",
    );
    assert_eq!(ok(store.mailbox(&address).await, "reading"), None);
    assert!(ok(store.messages(&address, "INBOX").await, "messages").is_empty());
    assert_eq!(ok(store.delegate(&delegate).await, "delegate"), None);
    assert!(ok(store.password_history(&delegate).await, "history").is_empty());
    assert_eq!(
        ok(store.events(&id).await, "the legal log").len(),
        1,
        "the legal log keeps what happened to the box"
    );
    assert_not_found(store.delete_mailbox(&address).await, "deleting it again");
    let again = NewMailbox {
        address: address.clone(),
        kind: MailboxKind::Standard,
        state: MailboxState::Sospesa,
        quota: 0,
        ordinary_mail: OrdinaryMail::Rifiuta,
        password_hash: "$n".into(),
    };
    ok(store.create_mailbox(&again, NOW).await, "the address again");
    assert!(ok(store.messages(&address, "INBOX").await, "messages").is_empty());
}

/// Events counted per hour and kind, and read, in `[since, until)` only.
pub async fn legal_log_counts(store: &dyn Store) {
    let kind = fresh("admin-prova");
    let hour = NOW - NOW % 3600;
    let at = [hour, hour + 10, hour + 3599, hour + 3600, hour + 7200];
    let batch = Batch {
        log: at.iter().map(|t| event(*t, &kind, &fresh("n"))).collect(),
        ..Default::default()
    };
    ok(store.commit(batch).await, "logging");
    let mine = |all: Vec<(i64, String, u64)>| -> Vec<(i64, u64)> {
        all.into_iter()
            .filter(|(_, k, _)| *k == kind)
            .map(|(h, _, n)| (h, n))
            .collect()
    };
    let counted = ok(store.counts(hour, hour + 7200).await, "counting");
    assert_eq!(mine(counted), vec![(hour, 3), (hour + 3600, 1)]);
    let later = ok(store.counts(hour + 11, hour + 7201).await, "counting later");
    assert_eq!(
        mine(later),
        vec![(hour, 1), (hour + 3600, 1), (hour + 7200, 1)]
    );
    let between = ok(
        store.events_between(hour + 10, hour + 3600).await,
        "reading",
    );
    let at_of_mine: Vec<i64> = between
        .iter()
        .filter(|e| e.event.kind == kind)
        .map(|e| e.event.at)
        .collect();
    assert_eq!(at_of_mine, vec![hour + 10, hour + 3599]);
    assert!(between.windows(2).all(|w| w[0].seq < w[1].seq), "by seq");
}
