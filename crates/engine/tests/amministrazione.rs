//! The administration panel's operations on a real SQLite store: each action changes what
//! it says and leaves its `admin-…` event in the legal log with the admin as actor; a
//! postmaster cannot reach another domain's boxes (they are "not found") nor the
//! provider-wide actions; a bulk import creates boxes awaiting activation, row by row.

#[path = "support/gestori.rs"]
mod gestori;

use engine::Engine;
use engine::accounts::verify_password;
use engine::amministrazione::{AdminError, NuovaCasella, Rifiuto, RigaImport, leggi_csv};
use gestori::network;
use store::{Admin, AdminScope, DelegateRole, MailboxKind, MailboxState};

const UNO: &str = "pec.uno.test";

fn postmaster(domain: &str) -> Admin {
    Admin {
        login: format!("postmaster@{domain}"),
        password_hash: String::new(),
        scope: AdminScope::Domain(domain.into()),
        created_at: 0,
    }
}

fn fornitore() -> Admin {
    Admin {
        login: "admin".into(),
        password_hash: String::new(),
        scope: AdminScope::Provider,
        created_at: 0,
    }
}

fn nuova(address: &str, stato: MailboxState) -> NuovaCasella {
    NuovaCasella {
        indirizzo: address.into(),
        tipo: MailboxKind::Pro,
        quota: 5_000,
        stato,
        password: None,
    }
}

/// Every `admin-…` event of the last hour.
async fn admin_events(e: &Engine) -> Vec<store::NewLogEvent> {
    let now = e.clock().now().timestamp().as_second();
    e.store()
        .events_between(now - 3600, now + 1)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.event)
        .filter(|ev| ev.kind.starts_with("admin-"))
        .collect()
}

fn not_found<T: std::fmt::Debug>(r: Result<T, AdminError>) {
    assert!(matches!(r, Err(AdminError::NotFound(_))), "{r:?}");
}

#[tokio::test]
async fn a_postmaster_manages_the_boxes_of_its_domain() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let pm = postmaster(UNO);
    let address = "nuova@pec.uno.test";
    let password = e
        .crea_casella(&pm, &nuova("Nuova@PEC.uno.test", MailboxState::Attiva))
        .await
        .unwrap();
    let m = e.store().mailbox(address).await.unwrap().unwrap();
    assert_eq!(
        (m.kind, m.state, m.quota),
        (MailboxKind::Pro, MailboxState::Attiva, 5_000)
    );
    assert!(verify_password(&password, &m.password_hash).await);
    assert!(e.login(address, &password).await.unwrap().is_ok());

    // An active box is not deleted; a suspended one is, with its messages.
    let refused = e.elimina_casella(&pm, address).await;
    assert!(
        matches!(refused, Err(AdminError::Refused(_))),
        "{refused:?}"
    );
    e.cambia_stato(&pm, address, MailboxState::Sospesa)
        .await
        .unwrap();
    assert!(e.login(address, &password).await.unwrap().is_err());
    e.cambia_stato(&pm, address, MailboxState::Attiva)
        .await
        .unwrap();
    let nuova_password = e.reimposta_password(&pm, address).await.unwrap();
    assert_ne!(nuova_password, password);
    assert!(e.login(address, &password).await.unwrap().is_err());
    assert!(e.login(address, &nuova_password).await.unwrap().is_ok());
    e.cambia_tipo_e_quota(&pm, address, MailboxKind::Standard, 0)
        .await
        .unwrap();
    let m = e.store().mailbox(address).await.unwrap().unwrap();
    assert_eq!((m.kind, m.quota), (MailboxKind::Standard, 0));

    let delegate = e
        .aggiungi_delegato(&pm, address, "Segreteria.Nuova", DelegateRole::Invio)
        .await
        .unwrap();
    let p = e
        .login("segreteria.nuova", &delegate)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.mailbox, address);
    let again = e
        .reimposta_password_delegato(&pm, "segreteria.nuova")
        .await
        .unwrap();
    assert!(
        e.login("segreteria.nuova", &delegate)
            .await
            .unwrap()
            .is_err()
    );
    assert!(e.login("segreteria.nuova", &again).await.unwrap().is_ok());
    e.rimuovi_delegato(&pm, "segreteria.nuova").await.unwrap();
    assert_eq!(e.store().delegate("segreteria.nuova").await.unwrap(), None);

    let listed = e.caselle_gestite(&pm, UNO).await.unwrap();
    assert!(listed.iter().any(|c| c.casella.address == address));
    assert!(listed.iter().all(|c| c.casella.domain == UNO));

    e.cambia_stato(&pm, address, MailboxState::Revocata)
        .await
        .unwrap();
    e.elimina_casella(&pm, address).await.unwrap();
    assert_eq!(e.store().mailbox(address).await.unwrap(), None);

    // Every action is in the legal log, by kind, and the chain holds.
    let now = e.clock().now().timestamp().as_second();
    let counts = e.store().counts(now - 3600, now + 3600).await.unwrap();
    let count = |kind: &str| {
        counts
            .iter()
            .filter(|(_, k, _)| k == kind)
            .map(|(_, _, n)| *n)
            .sum::<u64>()
    };
    assert_eq!(count("admin-crea-casella"), 1);
    assert_eq!(count("admin-stato"), 3);
    assert_eq!(count("admin-password"), 2);
    assert_eq!(count("admin-tipo-quota"), 1);
    assert_eq!(count("admin-delegato"), 2);
    assert_eq!(count("admin-elimina-casella"), 1);
    assert!(matches!(
        e.store().verify_chain().await.unwrap(),
        store::ChainReport::Intact { .. }
    ));
    let events = admin_events(e).await;
    assert_eq!(events.len(), 10);
    for ev in &events {
        assert_eq!(ev.actor.as_deref(), Some("postmaster@pec.uno.test"));
        assert_eq!(ev.sender, address);
        assert_eq!(ev.identificativo, None);
    }
}

#[tokio::test]
async fn admin_events_name_the_actor_and_the_box_and_never_the_password() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let pm = postmaster(UNO);
    let password = e
        .crea_casella(&pm, &nuova("traccia@pec.uno.test", MailboxState::Sospesa))
        .await
        .unwrap();
    let db = admin_events(e).await;
    let event = db
        .iter()
        .find(|ev| ev.kind == "admin-crea-casella")
        .expect("the creation is logged");
    assert_eq!(event.actor.as_deref(), Some("postmaster@pec.uno.test"));
    assert_eq!(event.sender, "traccia@pec.uno.test");
    assert_eq!(event.provider, "Uno PEC");
    let detail = event.detail.as_deref().unwrap();
    assert!(
        detail.contains("pro") && detail.contains("sospesa"),
        "{detail}"
    );
    assert!(!detail.contains(&password));
}

#[tokio::test]
async fn a_postmaster_cannot_reach_another_domain() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let altro = postmaster("pec.altro.test");
    let mario = "mario@pec.uno.test";
    not_found(e.caselle_gestite(&altro, UNO).await);
    not_found(
        e.crea_casella(&altro, &nuova("x@pec.uno.test", MailboxState::Attiva))
            .await,
    );
    not_found(e.cambia_stato(&altro, mario, MailboxState::Sospesa).await);
    not_found(e.elimina_casella(&altro, mario).await);
    not_found(e.reimposta_password(&altro, mario).await);
    not_found(
        e.cambia_tipo_e_quota(&altro, mario, MailboxKind::Pro, 1)
            .await,
    );
    not_found(
        e.aggiungi_delegato(&altro, mario, "spia", DelegateRole::Lettura)
            .await,
    );
    // The same answer as for a box that does not exist.
    not_found(
        e.reimposta_password(&postmaster(UNO), "nessuno@pec.uno.test")
            .await,
    );
    // Nothing changed, nothing logged.
    let m = e.store().mailbox(mario).await.unwrap().unwrap();
    assert_eq!(m.state, MailboxState::Attiva);
    let now = e.clock().now().timestamp().as_second();
    assert!(
        e.store()
            .counts(now - 10, now + 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Provider-wide actions are the provider admins'.
    let pm = postmaster(UNO);
    let forbidden = e.crea_dominio(&pm, "pec.nuovo.test").await;
    assert!(
        matches!(forbidden, Err(AdminError::Forbidden(_))),
        "{forbidden:?}"
    );
    let forbidden = e
        .crea_amministratore(&pm, "capo", &AdminScope::Provider)
        .await;
    assert!(
        matches!(forbidden, Err(AdminError::Forbidden(_))),
        "{forbidden:?}"
    );
    assert!(matches!(
        e.traffico(&pm, 0, now).await,
        Err(AdminError::Forbidden(_))
    ));
}

#[tokio::test]
async fn a_provider_admin_adds_domains_and_postmasters() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let admin = fornitore();
    e.crea_dominio(&admin, "PEC.Nuovo.test").await.unwrap();
    assert!(e.hosts("pec.nuovo.test").await.unwrap());
    let refused = e.crea_dominio(&admin, "pec.nuovo.test").await;
    assert!(
        matches!(refused, Err(AdminError::Refused(_))),
        "{refused:?}"
    );
    assert!(matches!(
        e.crea_dominio(&admin, "non un dominio").await,
        Err(AdminError::Refused(_))
    ));
    let scope = AdminScope::Domain("pec.nuovo.test".into());
    let password = e
        .crea_amministratore(&admin, "postmaster@pec.nuovo.test", &scope)
        .await
        .unwrap();
    let pm = e
        .admin_login("postmaster@pec.nuovo.test", &password)
        .await
        .unwrap()
        .expect("the postmaster logs in");
    assert_eq!(pm.scope, scope);
    // The new postmaster works in its domain, and the provider admin in every domain.
    e.crea_casella(&pm, &nuova("primo@pec.nuovo.test", MailboxState::Attiva))
        .await
        .unwrap();
    e.cambia_stato(&admin, "mario@pec.uno.test", MailboxState::Bloccata)
        .await
        .unwrap();
    let now = e.clock().now().timestamp().as_second();
    let traffic = e.traffico(&admin, now - 3600, now + 1).await.unwrap();
    let kinds: Vec<&str> = traffic.iter().map(|(_, k, _)| k.as_str()).collect();
    for kind in [
        "admin-dominio",
        "admin-amministratore",
        "admin-crea-casella",
        "admin-stato",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
}

#[tokio::test]
async fn a_bulk_import_creates_boxes_awaiting_activation() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let pm = postmaster(UNO);
    let csv = "nome;cognome;indirizzo;email ordinaria\n\
               Luigi;Verdi;luigi.verdi@pec.uno.test;luigi@libero.it\n\
               Anna;Neri;anna.neri@pec.due.test;anna@libero.it\n\
               Mario;Rossi;mario@pec.uno.test;mario@libero.it\n\
               Carla;;carla@pec.uno.test;carla@libero.it\n\
               Piero;Blu;piero blu@pec.uno.test;piero@libero.it\n";
    let now = e.clock().now().timestamp().as_second();
    let deadline = now + 60 * 86_400;
    let mut outcomes = Vec::new();
    for (n, row) in leggi_csv(csv).unwrap() {
        let outcome = match row {
            Ok(r) => e
                .importa_riga(&pm, &r, MailboxKind::Standard, 1_000, deadline)
                .await
                .unwrap(),
            Err(why) => Err(why),
        };
        outcomes.push((n, outcome));
    }
    let password = match &outcomes[0] {
        (2, Ok(p)) => p.clone(),
        other => panic!("row 2 creates the box: {other:?}"),
    };
    assert_eq!(outcomes[1], (3, Err(Rifiuto::AltroDominio)));
    assert_eq!(outcomes[2], (4, Err(Rifiuto::GiaEsistente)));
    assert_eq!(outcomes[3], (5, Err(Rifiuto::CampoMancante("cognome"))));
    assert_eq!(outcomes[4], (6, Err(Rifiuto::IndirizzoNonValido)));

    let address = "luigi.verdi@pec.uno.test";
    let m = e.store().mailbox(address).await.unwrap().unwrap();
    assert_eq!((m.state, m.quota), (MailboxState::Sospesa, 1_000));
    let s = e.store().holder_settings(address).await.unwrap().unwrap();
    assert!(s.must_change_password);
    assert_eq!(s.activation_deadline, Some(deadline));
    let profile = s.profile.unwrap();
    assert_eq!(
        (profile.nome.as_str(), profile.email.as_str()),
        ("Luigi", "luigi@libero.it")
    );
    // The holder gets in with the initial password only to activate the box.
    assert!(e.login(address, &password).await.unwrap().is_err());
    assert!(
        e.login_for_activation(address, &password)
            .await
            .unwrap()
            .is_ok()
    );
    // The other domain's box was not created on this provider nor anywhere.
    assert_eq!(
        e.store().mailbox("anna.neri@pec.due.test").await.unwrap(),
        None
    );
    let counts = e.store().counts(now - 10, now + 10).await.unwrap();
    let imported: u64 = counts
        .iter()
        .filter(|(_, k, _)| k == "admin-import")
        .map(|(_, _, n)| n)
        .sum();
    assert_eq!(imported, 1, "one admin-import event per box created");

    // The provider admin imports into any hosted domain, never into one not hosted.
    let r = RigaImport {
        nome: "Anna".into(),
        cognome: "Neri".into(),
        indirizzo: "anna.neri@pec.altrove.test".into(),
        email: "anna@libero.it".into(),
    };
    let outcome = e
        .importa_riga(&fornitore(), &r, MailboxKind::Standard, 0, deadline)
        .await
        .unwrap();
    assert_eq!(outcome, Err(Rifiuto::AltroDominio));
}

#[tokio::test]
async fn a_login_shaped_like_an_address_stays_in_the_domains_its_creator_manages() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    e.store().create_domain("pec.altro.test", 0).await.unwrap();
    let mario = "mario@pec.uno.test";
    let outside = |r: Result<String, AdminError>| {
        assert!(matches!(r, Err(AdminError::FuoriDominio(_))), "{r:?}");
    };
    // A postmaster: its own domain only.
    let pm = postmaster(UNO);
    for squat in [
        "segreteria@pec.altro.test",
        "segreteria@pec.due.test",
        "Segreteria@Gmail.com",
    ] {
        outside(
            e.aggiungi_delegato(&pm, mario, squat, DelegateRole::Lettura)
                .await,
        );
        assert!(e.store().delegate(squat).await.unwrap().is_none());
    }
    for login in ["segreteria@pec.uno.test", "segreteria.rossi"] {
        e.aggiungi_delegato(&pm, mario, login, DelegateRole::Lettura)
            .await
            .unwrap();
    }
    let malformed = e
        .aggiungi_delegato(&pm, mario, "a@b@pec.uno.test", DelegateRole::Lettura)
        .await;
    assert!(
        matches!(malformed, Err(AdminError::Refused(_))),
        "{malformed:?}"
    );
    // A box's address is not a delegate's login, whoever asks.
    let taken = e
        .aggiungi_delegato(&pm, mario, "anna@pec.uno.test", DelegateRole::Lettura)
        .await;
    assert!(matches!(taken, Err(AdminError::Refused(_))), "{taken:?}");

    // A provider admin: every hosted domain, nothing else.
    let admin = fornitore();
    e.aggiungi_delegato(
        &admin,
        mario,
        "ufficio@pec.altro.test",
        DelegateRole::Lettura,
    )
    .await
    .unwrap();
    outside(
        e.aggiungi_delegato(&admin, mario, "ufficio@gmail.com", DelegateRole::Lettura)
            .await,
    );
    // A domain's admin account: of the domain it will administer.
    let scope = AdminScope::Domain(UNO.into());
    outside(
        e.crea_amministratore(&admin, "capo@pec.altro.test", &scope)
            .await,
    );
    e.crea_amministratore(&admin, "capo@pec.uno.test", &scope)
        .await
        .unwrap();

    // `pecora admin` applies the same rule as the operator, who manages every hosted domain.
    let operator = AdminScope::Provider;
    assert_eq!(
        e.login_nuovo(" Titulus@PEC.altro.test ", &operator)
            .await
            .unwrap(),
        "titulus@pec.altro.test"
    );
    outside(e.login_nuovo("titulus@gmail.com", &operator).await);
    assert!(matches!(
        e.login_nuovo("ti tulus", &operator).await,
        Err(AdminError::Refused(_))
    ));
}
