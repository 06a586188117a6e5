//! The administration panel over real HTTPS on loopback, on the engine's two-gestore test
//! network: tenant isolation (another domain's postmaster, a holder, no session), CSRF on
//! every form, the box actions and their effect on logins, the provider's pages, and the
//! bulk import from CSV with its progress page and per-row report.

#[path = "../../engine/tests/support/gestori.rs"]
mod gestori;
#[path = "support/web.rs"]
mod support;

use engine::Engine;
use engine::accounts::hash_password;
use gestori::network;
use reqwest::StatusCode;
use reqwest::header;
use store::{AdminScope, MailboxState};
use support::{Browser, Web, csrf_of, enc};

const UNO: &str = "pec.uno.test";
const MARIO: &str = "mario@pec.uno.test";
const PASSWORD: &str = "Amministra1";

/// Creates the panel's accounts of the test: the provider admin `admin`, the postmaster of
/// pec.uno.test, and the postmaster of a second domain of the same provider.
async fn admins(e: &Engine) {
    let store = e.store();
    let at = e.clock().now().timestamp().as_second();
    store.create_domain("pec.altro.test", at).await.unwrap();
    let hash = hash_password(PASSWORD).unwrap();
    for (login, scope) in [
        ("admin", AdminScope::Provider),
        ("postmaster@pec.uno.test", AdminScope::Domain(UNO.into())),
        (
            "postmaster@pec.altro.test",
            AdminScope::Domain("pec.altro.test".into()),
        ),
    ] {
        store.create_admin(login, &hash, &scope, at).await.unwrap();
    }
}

/// A browser logged in to the panel.
async fn admin_login(web: &Web, login: &str) -> Browser {
    let mut b = Browser::default();
    let page = web.get(&mut b, "/amministrazione/accesso", &[]).await;
    assert_eq!(page.status(), StatusCode::OK);
    let token = b.cookie("pecora_accesso").unwrap().to_string();
    let res = web
        .post(
            &mut b,
            "/amministrazione/accesso",
            &[("login", login), ("password", PASSWORD), ("csrf", &token)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{login}");
    b
}

async fn setup() -> (Vec<gestori::Gestore>, Web) {
    let (g, _clock) = network().await;
    admins(&g[0].engine).await;
    let web = Web::start(g[0].engine.clone()).await;
    (g, web)
}

/// The CSRF token of a panel page.
async fn token(web: &Web, b: &mut Browser) -> String {
    csrf_of(
        &web.page(b, "/amministrazione/dominio?nome=pec.uno.test")
            .await,
    )
}

/// The new password shown on an outcome page.
fn shown_password(page: &str) -> String {
    let at = page
        .find("data-testid=\"new-password\">")
        .expect("a password shown")
        + 27;
    page[at..at + 16].to_string()
}

/// Every form of the panel, with fields that would work for the postmaster of pec.uno.test
/// on MARIO (csrf added by the caller).
fn forms() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        (
            "/amministrazione/casella/crea",
            vec![
                ("indirizzo", "nuova@pec.uno.test"),
                ("tipo", "standard"),
                ("stato", "attiva"),
            ],
        ),
        (
            "/amministrazione/casella/stato",
            vec![("indirizzo", MARIO), ("stato", "sospesa")],
        ),
        (
            "/amministrazione/casella/elimina",
            vec![("indirizzo", MARIO), ("conferma", "si")],
        ),
        (
            "/amministrazione/casella/password",
            vec![("indirizzo", MARIO)],
        ),
        (
            "/amministrazione/casella/tipo",
            vec![("indirizzo", MARIO), ("tipo", "pro"), ("quota", "10")],
        ),
        (
            "/amministrazione/delegato/crea",
            vec![("casella", MARIO), ("login", "spia"), ("ruolo", "lettura")],
        ),
        (
            "/amministrazione/delegato/rimuovi",
            vec![("casella", MARIO), ("login", "segreteria.mario")],
        ),
        (
            "/amministrazione/delegato/password",
            vec![("casella", MARIO), ("login", "segreteria.mario")],
        ),
    ]
}

/// Forms only a provider admin may post.
fn provider_forms() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        (
            "/amministrazione/nuovo-dominio",
            vec![("dominio", "pec.nuovo.test")],
        ),
        (
            "/amministrazione/amministratore/crea",
            vec![("ambito", "fornitore"), ("login", "capo")],
        ),
    ]
}

/// A delegate on MARIO, so the delegate forms have something to reach.
async fn delegate(e: &Engine) {
    let d = store::NewDelegate {
        login: "segreteria.mario".into(),
        mailbox: MARIO.into(),
        role: store::DelegateRole::Lettura,
        password_hash: hash_password("delegato1").unwrap(),
    };
    e.store().create_delegate(&d, 0).await.unwrap();
}

#[tokio::test]
async fn another_domain_s_postmaster_reaches_nothing_of_this_domain() {
    let (g, web) = setup().await;
    let e = &g[0].engine;
    delegate(e).await;
    let mut altro = admin_login(&web, "postmaster@pec.altro.test").await;
    // Its own domain works, and the home sends it there.
    let home = web.get(&mut altro, "/amministrazione", &[]).await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        home.headers()[header::LOCATION],
        "/amministrazione/dominio?nome=pec.altro.test"
    );
    let own = web
        .page(&mut altro, "/amministrazione/dominio?nome=pec.altro.test")
        .await;
    let csrf = csrf_of(&own);
    assert!(!own.contains(MARIO));
    for path in [
        "/amministrazione/dominio?nome=pec.uno.test",
        "/amministrazione/dominio?nome=PEC.UNO.TEST",
        "/amministrazione/dns?nome=pec.uno.test",
    ] {
        let res = web.get(&mut altro, path, &[]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(!res.text().await.unwrap().contains(MARIO));
    }
    for (path, fields) in forms() {
        let mut form = fields.clone();
        form.push(("csrf", &csrf));
        let res = web.post(&mut altro, path, &form).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    for (path, mut form) in provider_forms() {
        form.push(("csrf", &csrf));
        let res = web.post(&mut altro, path, &form).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // Nothing changed on this domain.
    let m = e.store().mailbox(MARIO).await.unwrap().unwrap();
    assert_eq!(m.state, MailboxState::Attiva);
    assert!(
        e.store()
            .delegate("segreteria.mario")
            .await
            .unwrap()
            .is_some()
    );
    assert!(e.store().delegate("spia").await.unwrap().is_none());
    assert!(
        e.store()
            .mailbox("nuova@pec.uno.test")
            .await
            .unwrap()
            .is_none()
    );
    assert!(!e.hosts("pec.nuovo.test").await.unwrap());
}

#[tokio::test]
async fn without_an_admin_session_every_route_goes_to_the_admin_login() {
    let (g, web) = setup().await;
    delegate(&g[0].engine).await;
    let mut holder = web.login(MARIO, "password1").await;
    let mut nobody = Browser::default();
    let gets = [
        "/amministrazione",
        "/amministrazione/dominio?nome=pec.uno.test",
        "/amministrazione/dns?nome=pec.uno.test",
        "/amministrazione/importazione?id=x",
        "/amministrazione/importazione/csv?id=x",
    ];
    for b in [&mut holder, &mut nobody] {
        for path in gets {
            let res = web.get(b, path, &[]).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
            assert_eq!(res.headers()[header::LOCATION], "/amministrazione/accesso");
        }
        let mut posts = forms();
        posts.extend(provider_forms());
        for (path, fields) in posts {
            let res = web.post(b, path, &fields).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
            assert_eq!(res.headers()[header::LOCATION], "/amministrazione/accesso");
        }
    }
    let m = g[0].engine.store().mailbox(MARIO).await.unwrap().unwrap();
    assert_eq!(m.state, MailboxState::Attiva);
}

#[tokio::test]
async fn every_form_without_the_csrf_token_is_refused() {
    let (g, web) = setup().await;
    let e = &g[0].engine;
    delegate(e).await;
    let mut admin = admin_login(&web, "admin").await;
    let mut posts = forms();
    posts.extend(provider_forms());
    for (path, fields) in posts {
        let res = web.post(&mut admin, path, &fields).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        let mut wrong = fields.clone();
        wrong.push(("csrf", "0000"));
        let res = web.post(&mut admin, path, &wrong).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // The import: a multipart form without the token starts nothing.
    let res = upload(
        &web,
        &mut admin,
        "",
        "nome;cognome;indirizzo;email ordinaria\n",
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let m = e.store().mailbox(MARIO).await.unwrap().unwrap();
    assert_eq!((m.state, m.quota), (MailboxState::Attiva, 0));
    assert!(
        e.store()
            .delegate("segreteria.mario")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_postmaster_creates_suspends_reactivates_resets_and_deletes() {
    let (g, web) = setup().await;
    let e = &g[0].engine;
    let mut pm = admin_login(&web, "postmaster@pec.uno.test").await;
    let csrf = token(&web, &mut pm).await;
    let address = "nuova@pec.uno.test";

    let res = web
        .post(
            &mut pm,
            "/amministrazione/casella/crea",
            &[
                ("csrf", &csrf),
                ("indirizzo", "Nuova@pec.uno.test"),
                ("tipo", "pro"),
                ("stato", "attiva"),
                ("quota", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let initial = shown_password(&page);
    let m = e.store().mailbox(address).await.unwrap().unwrap();
    assert_eq!(m.quota, 2 << 30, "the PRO default quota");
    let mut holder = web.login(address, &initial).await;
    assert_eq!(
        web.get(&mut holder, "/posta", &[]).await.status(),
        StatusCode::SEE_OTHER
    );

    // The list shows it with its state, type and quota.
    let list = web
        .page(&mut pm, "/amministrazione/dominio?nome=pec.uno.test")
        .await;
    assert!(list.contains(&format!(
        "data-testid=\"mailbox-row\" data-address=\"{address}\" data-state=\"attiva\" data-kind=\"pro\""
    )));
    assert!(list.contains("2048.0 MB"));

    // Suspending ends the holder's session and stops logins; reactivating brings them back.
    let post = |path: &'static str, extra: Vec<(&'static str, String)>| {
        let mut form: Vec<(&str, String)> =
            vec![("csrf", csrf.clone()), ("indirizzo", address.into())];
        form.extend(extra);
        (path, form)
    };
    let (path, form) = post(
        "/amministrazione/casella/stato",
        vec![("stato", "sospesa".into())],
    );
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        web.post(&mut pm, path, &form).await.status(),
        StatusCode::OK
    );
    let kicked = web
        .get(&mut holder, "/posta/cartella?nome=INBOX", &[])
        .await;
    assert_eq!(kicked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        web.try_login(&mut Browser::default(), address, &initial)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // A suspended box can be deleted, but not without the confirmation.
    let res = web
        .post(
            &mut pm,
            "/amministrazione/casella/stato",
            &[("csrf", &csrf), ("indirizzo", address), ("stato", "attiva")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        e.store().mailbox(address).await.unwrap().unwrap().state,
        MailboxState::Attiva
    );

    let res = web
        .post(
            &mut pm,
            "/amministrazione/casella/password",
            &[("csrf", &csrf), ("indirizzo", address)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let reset = shown_password(&res.text().await.unwrap());
    assert_ne!(reset, initial);
    assert_eq!(
        web.try_login(&mut Browser::default(), address, &initial)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    web.login(address, &reset).await;

    // An active box is not deleted (400, with the reason).
    let res = web
        .post(
            &mut pm,
            "/amministrazione/casella/elimina",
            &[("csrf", &csrf), ("indirizzo", address), ("conferma", "si")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("suspend or revoke"));
    web.post(
        &mut pm,
        "/amministrazione/casella/stato",
        &[
            ("csrf", &csrf),
            ("indirizzo", address),
            ("stato", "revocata"),
        ],
    )
    .await;
    let res = web
        .post(
            &mut pm,
            "/amministrazione/casella/elimina",
            &[("csrf", &csrf), ("indirizzo", address)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "no confirmation");
    let res = web
        .post(
            &mut pm,
            "/amministrazione/casella/elimina",
            &[("csrf", &csrf), ("indirizzo", address), ("conferma", "si")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(e.store().mailbox(address).await.unwrap().is_none());

    // Bad input is a clear 4xx.
    for (field, value) in [
        ("indirizzo", "non un indirizzo"),
        ("tipo", "oro"),
        ("quota", "molta"),
    ] {
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("indirizzo", "altra@pec.uno.test"),
            ("tipo", "standard"),
            ("stato", "attiva"),
        ];
        form.retain(|(k, _)| *k != field);
        form.push((field, value));
        let res = web
            .post(&mut pm, "/amministrazione/casella/crea", &form)
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{field}");
    }
    let res = web
        .post(
            &mut pm,
            "/amministrazione/casella/crea",
            &[
                ("csrf", &csrf),
                ("indirizzo", MARIO),
                ("tipo", "standard"),
                ("stato", "attiva"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "an address taken");
}

#[tokio::test]
async fn a_postmaster_manages_delegates_type_and_quota() {
    let (g, web) = setup().await;
    let e = &g[0].engine;
    let mut pm = admin_login(&web, "postmaster@pec.uno.test").await;
    let csrf = token(&web, &mut pm).await;
    let res = web
        .post(
            &mut pm,
            "/amministrazione/delegato/crea",
            &[
                ("csrf", &csrf),
                ("casella", MARIO),
                ("login", "Segreteria"),
                ("ruolo", "invio"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let password = shown_password(&res.text().await.unwrap());
    let delegate = web.login("segreteria", &password).await;
    assert!(delegate.cookie("pecora_sessione").is_some());
    let list = web
        .page(&mut pm, "/amministrazione/dominio?nome=pec.uno.test")
        .await;
    assert!(list.contains("data-testid=\"delegate\" data-login=\"segreteria\""));
    let res = web
        .post(
            &mut pm,
            "/amministrazione/delegato/rimuovi",
            &[("csrf", &csrf), ("casella", MARIO), ("login", "segreteria")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(e.store().delegate("segreteria").await.unwrap().is_none());

    let res = web
        .post(
            &mut pm,
            "/amministrazione/casella/tipo",
            &[
                ("csrf", &csrf),
                ("indirizzo", MARIO),
                ("tipo", "multiutenza"),
                ("quota", "300"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let m = e.store().mailbox(MARIO).await.unwrap().unwrap();
    assert_eq!(
        (m.kind, m.quota),
        (store::MailboxKind::Multiutenza, 300 << 20)
    );
}

#[tokio::test]
async fn a_login_shaped_like_an_address_must_be_of_a_domain_its_creator_manages() {
    let (g, web) = setup().await;
    let e = &g[0].engine;
    let refused = |page: &str| {
        page.contains("data-testid=\"error\"")
            && page.contains("dominio che gestisci")
            && page.contains("domain you manage")
    };
    // The postmaster of pec.uno.test gives Mario delegates: none in pec.altro.test (the
    // same provider's, another postmaster's), none in a domain the provider does not host.
    let mut pm = admin_login(&web, "postmaster@pec.uno.test").await;
    let csrf = token(&web, &mut pm).await;
    let delegate = |login: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("casella", MARIO.into()),
            ("login", login.into()),
            ("ruolo", "lettura".into()),
        ]
    };
    for login in ["segreteria@pec.altro.test", "Segreteria@Gmail.com"] {
        let form = delegate(login);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = web
            .post(&mut pm, "/amministrazione/delegato/crea", &form)
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{login}");
        assert!(refused(&res.text().await.unwrap()), "{login}");
        assert!(
            e.store().delegate(login).await.unwrap().is_none(),
            "{login}"
        );
    }
    for login in ["segreteria@pec.uno.test", "segreteria.mario"] {
        let form = delegate(login);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = web
            .post(&mut pm, "/amministrazione/delegato/crea", &form)
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{login}");
        assert!(
            e.store().delegate(login).await.unwrap().is_some(),
            "{login}"
        );
    }

    // A domain's admin made by the provider admin: in the domain it administers.
    let mut admin = admin_login(&web, "admin").await;
    let csrf = csrf_of(&web.page(&mut admin, "/amministrazione").await);
    let form = [
        ("csrf", csrf.as_str()),
        ("ambito", "dominio"),
        ("dominio", UNO),
        ("login", "capo@pec.altro.test"),
    ];
    let res = web
        .post(&mut admin, "/amministrazione/amministratore/crea", &form)
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(refused(&res.text().await.unwrap()));
    assert!(
        e.store()
            .admin("capo@pec.altro.test")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_provider_admin_adds_a_domain_and_its_postmaster_and_sees_the_traffic() {
    let (g, web) = setup().await;
    let e = &g[0].engine;
    // Some traffic: a PEC from Mario to Anna of the other provider.
    let env = pec::checks::Envelope {
        mail_from: MARIO.into(),
        rcpt_to: vec!["anna@pec.due.test".into()],
    };
    let raw = format!(
        "From: {MARIO}\r\nTo: anna@pec.due.test\r\nSubject: Prova\r\nMessage-ID: <p@x>\r\n\r\nTesto\r\n"
    );
    e.submit(&env, raw.as_bytes()).await.unwrap();
    let mut admin = admin_login(&web, "admin").await;
    let home = web.page(&mut admin, "/amministrazione").await;
    assert!(home.contains("data-testid=\"traffic-chart\""));
    assert!(
        home.contains("data-testid=\"total-ricevute\">1<"),
        "one accettazione"
    );
    assert!(
        home.contains("data-testid=\"queue-depth\">1<"),
        "the busta waits"
    );
    assert!(home.contains("data-domain=\"pec.uno.test\""));
    let csrf = csrf_of(&home);

    let res = web
        .post(
            &mut admin,
            "/amministrazione/nuovo-dominio",
            &[("csrf", &csrf), ("dominio", "PEC.Nuovo.test")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = web
        .post(
            &mut admin,
            "/amministrazione/amministratore/crea",
            &[
                ("csrf", &csrf),
                ("ambito", "dominio"),
                ("dominio", "pec.nuovo.test"),
                ("login", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("postmaster@pec.nuovo.test"));
    let password = shown_password(&page);
    let pm = e
        .admin_login("postmaster@pec.nuovo.test", &password)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pm.scope, AdminScope::Domain("pec.nuovo.test".into()));
    // The provider admin manages any domain as its postmaster would.
    let other = web
        .page(&mut admin, "/amministrazione/dominio?nome=pec.altro.test")
        .await;
    assert!(other.contains("data-testid=\"no-mailboxes\""));
    // Its actions are listed on the home.
    let home = web.page(&mut admin, "/amministrazione").await;
    assert!(home.contains("admin-amministratore"));
    // Without a resolver, the DNS check says it is not available.
    let dns = web
        .page(&mut admin, "/amministrazione/dns?nome=pec.uno.test")
        .await;
    assert!(dns.contains("data-testid=\"dns-unavailable\""));
}

/// Posts a bulk-import upload (csrf may be empty).
async fn upload(web: &Web, b: &mut Browser, csrf: &str, csv: &str) -> reqwest::Response {
    let boundary = "confine-di-prova";
    let mut body = String::new();
    for (name, value) in [("csrf", csrf), ("giorni", "30"), ("tipo", "standard")] {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"caselle.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    ));
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .resolve("localhost", web.addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookies = b
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    client
        .post(web.url("/amministrazione/importa"))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header(header::COOKIE, cookies)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_csv_import_reports_each_row_and_creates_boxes_awaiting_activation() {
    let (g, web) = setup().await;
    let e = &g[0].engine;
    let mut pm = admin_login(&web, "postmaster@pec.uno.test").await;
    let csrf = token(&web, &mut pm).await;
    let csv = "Nome,Cognome,Indirizzo,Email ordinaria\n\
               Luigi,Verdi,luigi.verdi@pec.uno.test,luigi@libero.it\n\
               Anna,Neri,anna.neri@pec.altro.test,anna@libero.it\n\
               Mario,Rossi,mario@pec.uno.test,mario@libero.it\n\
               Carla,,carla@pec.uno.test,carla@libero.it\n\
               Piero,Blu,piero@pec,piero@libero.it\n\
               Giulia,Gialli,giulia.gialli@pec.uno.test,giulia@libero.it\n";
    let res = upload(&web, &mut pm, &csrf, csv).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let progress = res.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(progress.starts_with("/amministrazione/importazione?id="));

    // Another session of the same admin does not see the job.
    let mut other = admin_login(&web, "postmaster@pec.uno.test").await;
    assert_eq!(
        web.get(&mut other, &progress, &[]).await.status(),
        StatusCode::NOT_FOUND
    );

    let mut report = String::new();
    for _ in 0..100 {
        report = web.page(&mut pm, &progress).await;
        if report.contains("data-testid=\"import-report\"") {
            break;
        }
        assert!(report.contains("<meta http-equiv=\"refresh\" content=\"2\">"));
        assert!(report.contains("<progress"));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(report.contains("data-testid=\"import-report\""), "{report}");
    assert!(!report.contains("http-equiv"));
    let outcome = |row: usize| {
        let marker = format!("data-row=\"{row}\" data-outcome=\"");
        let at = report.find(&marker).unwrap_or_else(|| panic!("row {row}")) + marker.len();
        report[at..].split('"').next().unwrap().to_string()
    };
    assert_eq!(outcome(2), "creata");
    assert_eq!(outcome(7), "creata");
    for row in 3..=6 {
        assert_eq!(outcome(row), "rifiutata", "row {row}");
    }
    for reason in [
        "dominio non gestito",
        "casella già esistente",
        "campo mancante: cognome",
        "indirizzo non valido",
    ] {
        assert!(report.contains(reason), "{reason}");
    }
    for address in ["luigi.verdi@pec.uno.test", "giulia.gialli@pec.uno.test"] {
        let m = e.store().mailbox(address).await.unwrap().unwrap();
        assert_eq!(m.state, MailboxState::Sospesa);
        let s = e.store().holder_settings(address).await.unwrap().unwrap();
        assert!(s.must_change_password);
        let now = e.clock().now().timestamp().as_second();
        assert_eq!(s.activation_deadline, Some(now + 30 * 86_400));
    }
    assert!(
        e.store()
            .mailbox("anna.neri@pec.altro.test")
            .await
            .unwrap()
            .is_none()
    );

    // The report as CSV, with the initial password that leads to the activation page; once.
    let id = progress.rsplit_once('=').unwrap().1;
    let csv_path = format!("/amministrazione/importazione/csv?id={}", enc(id));
    let res = web.get(&mut pm, &csv_path, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = res.text().await.unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("2;luigi.verdi@pec.uno.test;creata;"))
        .unwrap_or_else(|| panic!("{text}"));
    let password = line.rsplit(';').next().unwrap();
    assert!(text.contains("3;anna.neri@pec.altro.test;rifiutata;dominio non gestito"));
    let res = web
        .try_login(
            &mut Browser::default(),
            "luigi.verdi@pec.uno.test",
            password,
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/attivazione");
    assert_eq!(
        web.get(&mut pm, &csv_path, &[]).await.status(),
        StatusCode::NOT_FOUND,
        "the passwords are handed out once"
    );

    // A file that is not a CSV of boxes is refused with the reason.
    let res = upload(&web, &mut pm, &csrf, "a;b;c\n1;2;3\n").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("no column"));
}
