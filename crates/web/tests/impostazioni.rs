//! The holder's settings, the activation of a box created in bulk and password recovery,
//! over real HTTPS on loopback, on the engine's two-gestore test network: what each form
//! stores (read back from the store), what it refuses and how it says so, who may change
//! what, the session handling around password changes and activation, and the recovery link
//! taken from the message the engine queued.

#[path = "../../engine/tests/support/gestori.rs"]
mod gestori;
#[path = "support/web.rs"]
mod support;

use std::sync::{Arc, Mutex};

use engine::Engine;
use engine::accounts::LoginError;
use gestori::network;
use jiff::SignedDuration;
use reqwest::StatusCode;
use reqwest::header;
use store::{
    DelegateRole, HolderProfile, MailboxKind, MailboxState, NewDelegate, NewMailbox, NewPecNotice,
    OrdinaryMail,
};
use support::{Browser, Web, csrf_of};

const MARIO: &str = "mario@pec.uno.test";
const ANNA: &str = "anna@pec.uno.test";
const PASSWORD: &str = "password1";

/// Posts `form` to `/impostazioni/<section>` with the session's CSRF token; the response.
async fn save(
    web: &Web,
    b: &mut Browser,
    section: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let page = web.page(b, "/impostazioni").await;
    let csrf = csrf_of(&page);
    let mut form = form.to_vec();
    form.push(("csrf", &csrf));
    web.post(b, &format!("/impostazioni/{section}"), &form)
        .await
}

/// A form that must be refused: 422 and the page it answers with.
async fn refused(web: &Web, b: &mut Browser, section: &str, form: &[(&str, &str)]) -> String {
    let res = save(web, b, section, form).await;
    let status = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{section} {form:?}: {body}"
    );
    body
}

/// A form that must be saved: a redirect to the page, which confirms it.
async fn saved(web: &Web, b: &mut Browser, section: &str, form: &[(&str, &str)]) {
    let res = save(web, b, section, form).await;
    let status = res.status();
    let location = res
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_string());
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "{section} {form:?}: {}",
        res.text().await.unwrap()
    );
    let location = location.unwrap();
    assert_eq!(location, format!("/impostazioni?fatto={section}#{section}"));
    let page = web.page(b, &location).await;
    assert!(
        page.contains(&format!("data-testid=\"saved-{section}\"")),
        "{page}"
    );
}

/// The messages by field `campo` in a page.
fn errors(page: &str, campo: &str) -> Vec<String> {
    let marker = format!("data-testid=\"error-{campo}\" role=\"alert\">");
    page.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &page[at + marker.len()..];
            rest[..rest.find('<').unwrap()].replace("&#39;", "'")
        })
        .collect()
}

async fn settings(e: &Engine, address: &str) -> store::HolderSettings {
    e.store().holder_settings(address).await.unwrap().unwrap()
}

async fn logs_in(e: &Engine, login: &str, password: &str) -> bool {
    match e.login(login, password).await.unwrap() {
        Ok(_) => true,
        Err(LoginError::BadCredentials) => false,
        Err(other) => panic!("{login}: {other}"),
    }
}

#[tokio::test]
async fn a_password_change_explains_every_refusal_and_then_takes_effect() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let web = Web::start(e.clone()).await;
    let mut b = web.login(MARIO, PASSWORD).await;
    let mut elsewhere = web.login(MARIO, PASSWORD).await;

    let page = web.page(&mut b, "/impostazioni").await;
    for rule in [
        "avere da 8 a 20 caratteri",
        "contenere almeno una lettera",
        "contenere almeno una cifra",
        "essere diversa da quella attuale e dalle 5 precedenti",
    ] {
        assert!(page.contains(&format!("<li>{rule}</li>")), "{rule}: {page}");
    }

    let change = |current: &'static str, new: &'static str, again: &'static str| {
        [("attuale", current), ("nuova", new), ("ripeti", again)]
    };
    let page = refused(
        &web,
        &mut b,
        "password",
        &change("sbagliata1", "Nuova2026", "Nuova2026"),
    )
    .await;
    assert_eq!(
        errors(&page, "attuale"),
        ["La password attuale non è corretta."]
    );
    let page = refused(
        &web,
        &mut b,
        "password",
        &change(PASSWORD, "Nuova2026", "Nuova2027"),
    )
    .await;
    assert_eq!(
        errors(&page, "ripeti"),
        ["Le due nuove password non coincidono."]
    );
    let page = refused(
        &web,
        &mut b,
        "password",
        &change(PASSWORD, "corta", "corta"),
    )
    .await;
    assert_eq!(
        errors(&page, "nuova"),
        [
            "La password è troppo corta: servono almeno 8 caratteri.",
            "La password deve contenere almeno una cifra.",
        ]
    );
    let page = refused(
        &web,
        &mut b,
        "password",
        &change(PASSWORD, "12345678", "12345678"),
    )
    .await;
    assert_eq!(
        errors(&page, "nuova"),
        ["La password deve contenere almeno una lettera."]
    );
    let long = "abcdefghij1234567890x";
    let page = refused(&web, &mut b, "password", &change(PASSWORD, long, long)).await;
    assert_eq!(
        errors(&page, "nuova"),
        ["La password è troppo lunga: al massimo 20 caratteri."]
    );
    let page = refused(
        &web,
        &mut b,
        "password",
        &change(PASSWORD, PASSWORD, PASSWORD),
    )
    .await;
    assert_eq!(
        errors(&page, "nuova"),
        ["Questa password è già stata usata: scegline una nuova."]
    );
    // The passwords typed are never sent back.
    assert!(!page.contains(PASSWORD), "{page}");
    assert!(logs_in(e, MARIO, PASSWORD).await);

    // In English, the same rules in English.
    let mut english = b.clone();
    english.cookies.push(("pecora_lingua".into(), "en".into()));
    let page = refused(
        &web,
        &mut english,
        "password",
        &change(PASSWORD, "solo-lettere", "solo-lettere"),
    )
    .await;
    assert_eq!(
        errors(&page, "nuova"),
        ["The password must contain at least one digit."]
    );
    assert!(
        page.contains("<li>be 8 to 20 characters long</li>"),
        "{page}"
    );

    let old_session = b.cookie("pecora_sessione").unwrap().to_string();
    saved(
        &web,
        &mut b,
        "password",
        &change(PASSWORD, "Nuova2026", "Nuova2026"),
    )
    .await;
    assert_ne!(
        b.cookie("pecora_sessione").unwrap(),
        old_session,
        "a new session id"
    );
    assert!(logs_in(e, MARIO, "Nuova2026").await);
    assert!(!logs_in(e, MARIO, PASSWORD).await);
    // The other browser's session of the same login has ended.
    let res = web.get(&mut elsewhere, "/impostazioni", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/login");
    // The new password logs in on the web too, the old one no longer.
    web.login(MARIO, "Nuova2026").await;
    let res = web
        .try_login(&mut Browser::default(), MARIO, PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn each_setting_is_stored_and_bad_input_is_refused_by_its_field() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let web = Web::start(e.clone()).await;
    let mut b = web.login(MARIO, PASSWORD).await;
    let store = e.store();

    // Ordinary mail.
    let page = refused(
        &web,
        &mut b,
        "ordinaria",
        &[("politica", "inoltra"), ("inoltra_a", "non-un-indirizzo")],
    )
    .await;
    assert_eq!(
        errors(&page, "inoltra_a"),
        ["Non è un indirizzo e-mail valido."]
    );
    assert!(
        page.contains("value=\"non-un-indirizzo\""),
        "typed value shown back: {page}"
    );
    assert!(
        page.contains("value=\"inoltra\" data-testid=\"politica-inoltra\" checked"),
        "{page}"
    );
    let page = refused(
        &web,
        &mut b,
        "ordinaria",
        &[("politica", "inoltra"), ("inoltra_a", " ")],
    )
    .await;
    assert_eq!(errors(&page, "inoltra_a"), ["Campo obbligatorio."]);
    let page = refused(
        &web,
        &mut b,
        "ordinaria",
        &[("politica", "cartella"), ("cartella", "Archivio/2026/03")],
    )
    .await;
    assert_eq!(
        errors(&page, "cartella"),
        ["Le cartelle dell'archivio non possono ricevere posta ordinaria."]
    );
    let page = refused(
        &web,
        &mut b,
        "ordinaria",
        &[("politica", "cartella"), ("cartella", "/Ordinaria")],
    )
    .await;
    assert_eq!(errors(&page, "cartella"), ["Nome di cartella non valido."]);
    let page = refused(&web, &mut b, "ordinaria", &[("politica", "cestina")]).await;
    assert_eq!(errors(&page, "politica"), ["Scegli una delle opzioni."]);
    assert_eq!(
        store.mailbox(MARIO).await.unwrap().unwrap().ordinary_mail,
        OrdinaryMail::Rifiuta
    );

    saved(
        &web,
        &mut b,
        "ordinaria",
        &[
            ("politica", "inoltra"),
            ("inoltra_a", "Mario.Rossi@Libero.it"),
        ],
    )
    .await;
    assert_eq!(
        store.mailbox(MARIO).await.unwrap().unwrap().ordinary_mail,
        OrdinaryMail::Inoltra
    );
    assert_eq!(
        settings(e, MARIO).await.ordinary_mail_target.as_deref(),
        Some("mario.rossi@libero.it")
    );
    let page = web.page(&mut b, "/impostazioni").await;
    assert!(page.contains("value=\"mario.rossi@libero.it\""), "{page}");
    saved(
        &web,
        &mut b,
        "ordinaria",
        &[("politica", "cartella"), ("cartella", "Posta ordinaria")],
    )
    .await;
    assert_eq!(
        store.mailbox(MARIO).await.unwrap().unwrap().ordinary_mail,
        OrdinaryMail::Cartella
    );
    assert_eq!(
        settings(e, MARIO).await.ordinary_mail_target.as_deref(),
        Some("Posta ordinaria")
    );
    // A target typed for another option is not kept.
    saved(
        &web,
        &mut b,
        "ordinaria",
        &[("politica", "anomalia"), ("inoltra_a", "x@y.it")],
    )
    .await;
    assert_eq!(
        store.mailbox(MARIO).await.unwrap().unwrap().ordinary_mail,
        OrdinaryMail::Anomalia
    );
    assert_eq!(settings(e, MARIO).await.ordinary_mail_target, None);

    // New-PEC notices.
    let three = "a@uno.it, b@due.it, c@tre.it";
    let page = refused(&web, &mut b, "avvisi", &[("avvisi_a", three)]).await;
    assert_eq!(errors(&page, "avvisi_a"), ["Al massimo 2 indirizzi."]);
    assert!(page.contains(&format!("value=\"{three}\"")), "{page}");
    assert!(
        page.contains("riporta solo mittente, destinatario e oggetto"),
        "{page}"
    );
    let page = refused(
        &web,
        &mut b,
        "avvisi",
        &[
            ("avvisi_a", "a@uno.it"),
            ("avvisi_da", "x@pec.it; y@pec.it z@pec.it"),
        ],
    )
    .await;
    assert_eq!(errors(&page, "avvisi_da"), ["Al massimo 2 indirizzi."]);
    let page = refused(&web, &mut b, "avvisi", &[("avvisi_da", "x@pec.it")]).await;
    assert_eq!(
        errors(&page, "avvisi_a"),
        ["Indica prima a chi inviare gli avvisi."]
    );
    let page = refused(&web, &mut b, "avvisi", &[("avvisi_a", "a@uno.it, zzz")]).await;
    assert_eq!(
        errors(&page, "avvisi_a"),
        ["Non è un indirizzo e-mail valido."]
    );
    let page = refused(
        &web,
        &mut b,
        "avvisi",
        &[("avvisi_a", "a@uno.it"), ("avvisi_da", "senza-chiocciola")],
    )
    .await;
    assert_eq!(
        errors(&page, "avvisi_da"),
        ["Non è un indirizzo e-mail valido."]
    );
    assert_eq!(settings(e, MARIO).await.notice, NewPecNotice::default());
    saved(
        &web,
        &mut b,
        "avvisi",
        &[
            ("avvisi_a", "a@uno.it,B@due.it"),
            ("avvisi_da", "ufficio@pec.due.test"),
        ],
    )
    .await;
    assert_eq!(
        settings(e, MARIO).await.notice,
        NewPecNotice {
            to: vec!["a@uno.it".into(), "b@due.it".into()],
            only_from: vec!["ufficio@pec.due.test".into()],
        }
    );
    saved(
        &web,
        &mut b,
        "avvisi",
        &[("avvisi_a", ""), ("avvisi_da", "")],
    )
    .await;
    assert_eq!(settings(e, MARIO).await.notice, NewPecNotice::default());

    // The forwarded copy, the daily report, the recovery address.
    let page = refused(&web, &mut b, "copia", &[("copia", "copia at libero.it")]).await;
    assert_eq!(
        errors(&page, "copia"),
        ["Non è un indirizzo e-mail valido."]
    );
    assert!(
        page.contains("La copia non ha alcun valore legale."),
        "{page}"
    );
    saved(&web, &mut b, "copia", &[("copia", "copia@libero.it")]).await;
    assert_eq!(
        settings(e, MARIO).await.forward_copy.as_deref(),
        Some("copia@libero.it")
    );
    saved(&web, &mut b, "copia", &[("copia", "  ")]).await;
    assert_eq!(settings(e, MARIO).await.forward_copy, None);
    saved(&web, &mut b, "resoconto", &[("resoconto", "1")]).await;
    assert!(settings(e, MARIO).await.daily_report);
    let page = web.page(&mut b, "/impostazioni").await;
    assert!(page.contains("data-testid=\"resoconto\" checked"), "{page}");
    saved(&web, &mut b, "resoconto", &[]).await;
    assert!(!settings(e, MARIO).await.daily_report);
    let page = refused(&web, &mut b, "recupero", &[("recupero", "@libero.it")]).await;
    assert_eq!(
        errors(&page, "recupero"),
        ["Non è un indirizzo e-mail valido."]
    );
    saved(
        &web,
        &mut b,
        "recupero",
        &[("recupero", "mario.rossi@libero.it")],
    )
    .await;
    assert_eq!(
        settings(e, MARIO).await.recovery_address.as_deref(),
        Some("mario.rossi@libero.it")
    );

    // The holder's details.
    let page = refused(
        &web,
        &mut b,
        "profilo",
        &[
            ("nome", " "),
            ("cognome", "Rossi"),
            ("email", "m@libero.it"),
        ],
    )
    .await;
    assert_eq!(errors(&page, "nome"), ["Campo obbligatorio."]);
    assert!(page.contains("value=\"Rossi\""), "{page}");
    let page = refused(
        &web,
        &mut b,
        "profilo",
        &[
            ("nome", "Mario"),
            ("cognome", "Rossi"),
            ("email", "m.libero.it"),
        ],
    )
    .await;
    assert_eq!(
        errors(&page, "email"),
        ["Non è un indirizzo e-mail valido."]
    );
    saved(
        &web,
        &mut b,
        "profilo",
        &[
            ("nome", "Mario"),
            ("cognome", "Rossi"),
            ("email", "m@libero.it"),
        ],
    )
    .await;
    assert_eq!(
        settings(e, MARIO).await.profile,
        Some(HolderProfile {
            nome: "Mario".into(),
            cognome: "Rossi".into(),
            email: "m@libero.it".into()
        })
    );

    // A form without this session's token, or for no section, changes nothing.
    let res = web
        .post(&mut b, "/impostazioni/copia", &[("copia", "x@y.it")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = web
        .post(
            &mut b,
            "/impostazioni/copia",
            &[("copia", "x@y.it"), ("csrf", &"0".repeat(64))],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(settings(e, MARIO).await.forward_copy, None);
    let res = save(&web, &mut b, "nessuna", &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Without a session, the login page.
    let res = web
        .post(
            &mut Browser::default(),
            "/impostazioni/copia",
            &[("copia", "x@y.it")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/login");
}

/// Gives Mario's box a delegate with `role`.
async fn delegate(e: &Engine, login: &str, role: DelegateRole) {
    e.store()
        .create_delegate(
            &NewDelegate {
                login: login.into(),
                mailbox: MARIO.into(),
                role,
                password_hash: engine::accounts::hash_password("delegata1").unwrap(),
            },
            0,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn delegates_change_their_own_password_and_only_gestione_the_box_settings() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    delegate(e, "segreteria", DelegateRole::Lettura).await;
    delegate(e, "spedizioni", DelegateRole::Invio).await;
    delegate(e, "gestore", DelegateRole::Gestione).await;
    let web = Web::start(e.clone()).await;

    for login in ["segreteria", "spedizioni"] {
        let mut b = web.login(login, "delegata1").await;
        let page = web.page(&mut b, "/impostazioni").await;
        assert!(page.contains("data-testid=\"read-only\""), "{page}");
        assert!(page.contains("<fieldset disabled>"), "{page}");
        for (section, form) in [
            ("copia", [("copia", "x@y.it")]),
            ("ordinaria", [("politica", "anomalia")]),
            ("recupero", [("recupero", "x@y.it")]),
        ] {
            let res = save(&web, &mut b, section, &form).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{login} {section}");
        }
        // Their own password they may change.
        let new = format!("{login}2026");
        saved(
            &web,
            &mut b,
            "password",
            &[("attuale", "delegata1"), ("nuova", &new), ("ripeti", &new)],
        )
        .await;
        assert!(logs_in(e, login, &new).await);
        assert!(
            logs_in(e, MARIO, PASSWORD).await,
            "the holder's is untouched"
        );
    }
    let s = settings(e, MARIO).await;
    assert_eq!((s.forward_copy, s.recovery_address), (None, None));
    assert_eq!(
        e.store()
            .mailbox(MARIO)
            .await
            .unwrap()
            .unwrap()
            .ordinary_mail,
        OrdinaryMail::Rifiuta
    );

    let mut b = web.login("gestore", "delegata1").await;
    let page = web.page(&mut b, "/impostazioni").await;
    assert!(!page.contains("data-testid=\"read-only\""), "{page}");
    saved(&web, &mut b, "copia", &[("copia", "archivio@studio.it")]).await;
    assert_eq!(
        settings(e, MARIO).await.forward_copy.as_deref(),
        Some("archivio@studio.it")
    );
}

const NUOVO: &str = "giulia@pec.uno.test";

/// A box created in bulk: suspended, initial password `Iniziale1`, the holder's data as the
/// provider registered them, to activate within `days`.
async fn bulk_box(e: &Engine, days: i64) {
    let store = e.store();
    let now = e.clock().now().timestamp().as_second();
    store
        .create_mailbox(
            &NewMailbox {
                address: NUOVO.into(),
                kind: MailboxKind::Standard,
                state: MailboxState::Sospesa,
                quota: 0,
                ordinary_mail: OrdinaryMail::Rifiuta,
                password_hash: engine::accounts::hash_password("Iniziale1").unwrap(),
            },
            now,
        )
        .await
        .unwrap();
    let profile = HolderProfile {
        nome: "Giulia".into(),
        cognome: "Bianki".into(),
        email: "giulia@libero.it".into(),
    };
    store.set_holder_profile(NUOVO, &profile).await.unwrap();
    store
        .require_activation(NUOVO, now + days * 86400)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_box_created_in_bulk_is_activated_at_first_login() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    bulk_box(e, 30).await;
    let web = Web::start(e.clone()).await;

    let mut b = Browser::default();
    let res = web.try_login(&mut b, NUOVO, "Iniziale1").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/attivazione");
    for path in [
        "/posta/cartella?nome=INBOX",
        "/posta/messaggio?cartella=INBOX&uid=1",
        "/impostazioni",
    ] {
        let res = web.get(&mut b, path, &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(res.headers()[header::LOCATION], "/attivazione", "{path}");
    }
    let page = web.page(&mut b, "/attivazione").await;
    for shown in [
        "value=\"Giulia\"",
        "value=\"Bianki\"",
        "value=\"giulia@libero.it\"",
        "data-testid=\"activation-deadline\"",
        "<li>avere da 8 a 20 caratteri</li>",
    ] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    let csrf = csrf_of(&page);
    let activate = |nome: &'static str, nuova: &'static str, ripeti: &'static str| {
        let csrf = csrf.clone();
        let mut b = b.clone();
        let web = &web;
        async move {
            let form = [
                ("nome", nome),
                ("cognome", "Bianchi"),
                ("email", "giulia.bianchi@libero.it"),
                ("nuova", nuova),
                ("ripeti", ripeti),
                ("csrf", &csrf),
            ];
            let res = web.post(&mut b, "/attivazione", &form).await;
            (res.status(), res.text().await.unwrap())
        }
    };
    let (status, page) = activate("Giulia", "debole", "debole").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert_eq!(
        errors(&page, "nuova"),
        [
            "La password è troppo corta: servono almeno 8 caratteri.",
            "La password deve contenere almeno una cifra."
        ]
    );
    assert!(
        page.contains("value=\"Bianchi\""),
        "the correction is kept: {page}"
    );
    let (status, page) = activate("Giulia", "Iniziale1", "Iniziale1").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        errors(&page, "nuova"),
        ["Questa password è già stata usata: scegline una nuova."]
    );
    let (status, page) = activate(" ", "Giulia2026", "Giulia2026").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(errors(&page, "nome"), ["Campo obbligatorio."]);
    let (status, page) = activate("Giulia", "Giulia2026", "Giulia2027").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        errors(&page, "ripeti"),
        ["Le due nuove password non coincidono."]
    );
    let res = web
        .post(
            &mut b,
            "/attivazione",
            &[
                ("nome", "Giulia"),
                ("cognome", "Bianchi"),
                ("email", "g@libero.it"),
                ("nuova", "Giulia2026"),
                ("ripeti", "Giulia2026"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(
        e.store().mailbox(NUOVO).await.unwrap().unwrap().state,
        MailboxState::Sospesa
    );

    let before = b.cookie("pecora_sessione").unwrap().to_string();
    let form = [
        ("nome", "Giulia"),
        ("cognome", "Bianchi"),
        ("email", "giulia.bianchi@libero.it"),
        ("nuova", "Giulia2026"),
        ("ripeti", "Giulia2026"),
        ("csrf", &csrf),
    ];
    let res = web.post(&mut b, "/attivazione", &form).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/posta");
    assert_ne!(
        b.cookie("pecora_sessione").unwrap(),
        before,
        "a new session id"
    );
    let inbox = web.page(&mut b, "/posta/cartella?nome=INBOX").await;
    assert!(inbox.contains(NUOVO), "{inbox}");
    let mut old = b.clone();
    old.cookies.retain(|(k, _)| k != "pecora_sessione");
    old.cookies.push(("pecora_sessione".into(), before));
    let res = web.get(&mut old, "/attivazione", &[]).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the activation session has ended"
    );

    let m = e.store().mailbox(NUOVO).await.unwrap().unwrap();
    assert_eq!(m.state, MailboxState::Attiva);
    let s = settings(e, NUOVO).await;
    assert_eq!(
        s.profile,
        Some(HolderProfile {
            nome: "Giulia".into(),
            cognome: "Bianchi".into(),
            email: "giulia.bianchi@libero.it".into()
        })
    );
    assert!(!s.must_change_password);
    assert!(logs_in(e, NUOVO, "Giulia2026").await);
    assert!(!logs_in(e, NUOVO, "Iniziale1").await);
}

#[tokio::test]
async fn past_the_deadline_a_box_can_no_longer_be_activated() {
    let (g, clock) = network().await;
    let e = &g[0].engine;
    bulk_box(e, 1).await;
    let web = Web::start(e.clone()).await;
    let mut b = Browser::default();
    let res = web.try_login(&mut b, NUOVO, "Iniziale1").await;
    assert_eq!(res.headers()[header::LOCATION], "/attivazione");
    let page = web.page(&mut b, "/attivazione").await;
    let csrf = csrf_of(&page);

    clock.advance(SignedDuration::from_hours(25));
    let res = web.get(&mut b, "/attivazione", &[]).await;
    assert_eq!(res.status(), StatusCode::GONE);
    let page = res.text().await.unwrap();
    assert!(page.contains("data-testid=\"activation-closed\""), "{page}");
    assert!(
        page.contains("Il termine per attivare la casella è scaduto"),
        "{page}"
    );
    assert!(!page.contains("form-attivazione"), "{page}");
    let form = [
        ("nome", "Giulia"),
        ("cognome", "Bianchi"),
        ("email", "g@libero.it"),
        ("nuova", "Giulia2026"),
        ("ripeti", "Giulia2026"),
        ("csrf", &csrf),
    ];
    let res = web.post(&mut b, "/attivazione", &form).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(
        e.store().mailbox(NUOVO).await.unwrap().unwrap().state,
        MailboxState::Sospesa
    );
    // A new login is refused as inactive.
    let res = web
        .try_login(&mut Browser::default(), NUOVO, "Iniziale1")
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

/// The links (their paths) of the recovery messages queued for `to`.
async fn recovery_link(e: &Arc<Engine>, to: &str) -> Vec<String> {
    let store = e.store();
    let mut links = Vec::new();
    for q in store.queued().await.unwrap() {
        if !q.rcpt_to.iter().any(|r| r == to) {
            continue;
        }
        let raw = store.get(&q.blob).await.unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let text = parsed.body_text(0).unwrap().to_string();
        let prefix = "https://localhost/recupero/nuova?token=";
        let at = text
            .find(prefix)
            .unwrap_or_else(|| panic!("no link in {text}"));
        let path = at + "https://localhost".len();
        links.push(text[path..at + prefix.len() + 64].to_string());
    }
    links
}

/// Asks for a recovery link for `address`; the status and the page.
async fn ask(web: &Web, address: &str) -> (StatusCode, String) {
    let mut b = Browser::default();
    let page = web.page(&mut b, "/recupero").await;
    let csrf = csrf_of(&page);
    let res = web
        .post(
            &mut b,
            "/recupero",
            &[("indirizzo", address), ("csrf", &csrf)],
        )
        .await;
    (res.status(), res.text().await.unwrap())
}

/// Posts a new password through `link`; the status and the page.
async fn reset(web: &Web, link: &str, new: &str, again: &str) -> (StatusCode, String) {
    let mut b = Browser::default();
    let page = web.page(&mut b, link).await;
    let csrf = csrf_of(&page);
    let token = &link[link.len() - 64..];
    let form = [
        ("token", token),
        ("nuova", new),
        ("ripeti", again),
        ("csrf", &csrf),
    ];
    let res = web.post(&mut b, "/recupero/nuova", &form).await;
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn a_recovery_link_is_mailed_and_works_once() {
    let (g, clock) = network().await;
    let e = &g[0].engine;
    e.store()
        .set_recovery_address(MARIO, Some("mario.rossi@libero.it"))
        .await
        .unwrap();
    let web = Web::start(e.clone()).await;
    let mut logged_in = web.login(MARIO, PASSWORD).await;

    let login = web.page(&mut Browser::default(), "/login").await;
    assert!(
        login.contains("href=\"/recupero\" data-testid=\"forgot-password\">Password dimenticata?<"),
        "{login}"
    );

    let (status, sent) = ask(&web, MARIO).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert!(sent.contains("data-testid=\"recovery-sent\""), "{sent}");
    // An unknown box, and a box without a recovery address, get the very same page.
    for other in ["nessuno@pec.uno.test", ANNA, "non un indirizzo"] {
        assert_eq!(ask(&web, other).await, (status, sent.clone()), "{other}");
    }
    let links = recovery_link(e, "mario.rossi@libero.it").await;
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(
        e.store().queued().await.unwrap().len(),
        1,
        "nothing for the others"
    );
    let link = &links[0];

    // A refused password leaves the link usable.
    let (status, page) = reset(&web, link, "debole", "debole").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert_eq!(
        errors(&page, "nuova"),
        [
            "La password è troppo corta: servono almeno 8 caratteri.",
            "La password deve contenere almeno una cifra."
        ]
    );
    let (status, page) = reset(&web, link, PASSWORD, PASSWORD).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        errors(&page, "nuova"),
        ["Questa password è già stata usata: scegline una nuova."]
    );
    let (status, page) = reset(&web, link, "Ritrovata1", "Ritrovata2").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        errors(&page, "ripeti"),
        ["Le due nuove password non coincidono."]
    );
    let (status, page) = reset(&web, link, "Ritrovata1", "Ritrovata1").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("data-testid=\"new-password-done\""), "{page}");
    assert!(logs_in(e, MARIO, "Ritrovata1").await);
    assert!(!logs_in(e, MARIO, PASSWORD).await);
    // Whoever was logged in with the old password is out.
    let res = web.get(&mut logged_in, "/impostazioni", &[]).await;
    assert_eq!(res.headers()[header::LOCATION], "/login");

    // Used once: gone.
    let res = web.get(&mut Browser::default(), link, &[]).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("data-testid=\"link-invalid\"")
    );
    let mut b = Browser::default();
    let page = web.page(&mut b, "/recupero").await;
    let form = [
        ("token", &link[link.len() - 64..]),
        ("nuova", "Altra2026"),
        ("ripeti", "Altra2026"),
        ("csrf", &csrf_of(&page)),
    ];
    let res = web.post(&mut b, "/recupero/nuova", &form).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(logs_in(e, MARIO, "Ritrovata1").await);
    for bad in [
        "/recupero/nuova",
        "/recupero/nuova?token=abc",
        "/recupero/nuova?token=<script>",
    ] {
        let res = web.get(&mut Browser::default(), bad, &[]).await;
        assert_eq!(res.status(), StatusCode::GONE, "{bad}");
    }

    // An expired link does not work either.
    ask(&web, MARIO).await;
    let links = recovery_link(e, "mario.rossi@libero.it").await;
    assert_eq!(links.len(), 2);
    let fresh = links.iter().find(|l| *l != link).unwrap();
    assert_eq!(
        web.get(&mut Browser::default(), fresh, &[]).await.status(),
        StatusCode::OK
    );
    clock.advance(SignedDuration::from_secs(3601));
    assert_eq!(
        web.get(&mut Browser::default(), fresh, &[]).await.status(),
        StatusCode::GONE
    );

    // Without the form's token, nothing is asked.
    let res = web
        .post(
            &mut Browser::default(),
            "/recupero",
            &[("indirizzo", MARIO)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn recovery_requests_are_throttled_apart_from_logins() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    e.store()
        .set_recovery_address(MARIO, Some("mario.rossi@libero.it"))
        .await
        .unwrap();
    let web = Web::start(e.clone()).await;
    for _ in 0..web::throttle::MAX_FAILURES {
        assert_eq!(ask(&web, MARIO).await.0, StatusCode::OK);
    }
    let (status, page) = ask(&web, MARIO).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{page}");
    assert_eq!(
        errors(&page, "indirizzo"),
        ["Troppi tentativi: riprova tra 15 minuti."]
    );
    assert_eq!(
        recovery_link(e, "mario.rossi@libero.it").await.len(),
        web::throttle::MAX_FAILURES as usize
    );
    // Asking for links is no failed login: the box, and this client, still log in.
    let res = web
        .try_login(&mut Browser::default(), MARIO, PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = web.try_login(&mut Browser::default(), ANNA, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn guessing_the_current_password_from_a_session_locks_it_out() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let web = Web::start(e.clone()).await;
    let mut b = web.login(MARIO, PASSWORD).await;
    let change = |current: &'static str| {
        [
            ("attuale", current),
            ("nuova", "Nuova2026"),
            ("ripeti", "Nuova2026"),
        ]
    };
    for _ in 0..web::throttle::MAX_FAILURES {
        let page = refused(&web, &mut b, "password", &change("indovino1")).await;
        assert_eq!(
            errors(&page, "attuale"),
            ["La password attuale non è corretta."]
        );
    }
    // Now not even the right password goes through.
    let page = refused(&web, &mut b, "password", &change(PASSWORD)).await;
    assert_eq!(
        errors(&page, "attuale"),
        ["Troppi tentativi: riprova tra 15 minuti."]
    );
    assert!(logs_in(e, MARIO, PASSWORD).await);
    assert!(!logs_in(e, MARIO, "Nuova2026").await);
}

/// A writer into a shared buffer, for [`captured_log`].
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What this test binary logs from now on, as `pecora serve` writes it. Process-wide: a
/// subscriber for one thread only misses the events whose call sites another test's
/// thread met first, with no subscriber (tracing caches that they are not wanted).
fn captured_log() -> Arc<Mutex<Vec<u8>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || Buffer(writer.clone()))
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    log
}

#[tokio::test]
async fn text_from_outside_cannot_forge_log_lines() {
    let log = captured_log();
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let web = Web::start(e.clone()).await;
    let forged = "\n2026-12-01T00:00:00.000000Z  INFO web login login=mario@pec.uno.test";
    let login = format!("nessuno@pec.uno.test{forged}");

    // Both login doors refuse a name with a line break before checking or logging anything.
    let res = web
        .try_login(&mut Browser::default(), &login, PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let mut b = Browser::default();
    web.get(&mut b, "/amministrazione/accesso", &[]).await;
    let token = b.cookie("pecora_accesso").unwrap().to_string();
    let form = [
        ("login", login.as_str()),
        ("password", PASSWORD),
        ("csrf", &token),
    ];
    let res = web.post(&mut b, "/amministrazione/accesso", &form).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // A recovery request is logged, its address on one line.
    assert_eq!(ask(&web, &login).await.0, StatusCode::OK);
    // An API key's label goes into the legal log on one line too.
    let mut b = web.login(MARIO, PASSWORD).await;
    let page = web.page(&mut b, "/impostazioni/api").await;
    let label = format!("Titulus{forged}");
    let form = [("csrf", csrf_of(&page)), ("etichetta", label)];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        web.post(&mut b, "/impostazioni/api", &form).await.status(),
        StatusCode::OK
    );
    let events = e.store().events_between(0, i64::MAX).await.unwrap();
    let created = events
        .iter()
        .find(|l| l.event.kind == "admin-api-key-create")
        .and_then(|l| l.event.detail.clone())
        .unwrap();
    assert!(
        !created.contains('\n') && created.contains("Titulus\\n2026-12-01"),
        "{created}"
    );

    let log = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    assert!(log.contains("nessuno@pec.uno.test\\n2026-12-01"), "{log}");
    assert!(
        !log.lines().any(|l| l.starts_with("2026-12-01")),
        "a forged line: {log}"
    );
}
