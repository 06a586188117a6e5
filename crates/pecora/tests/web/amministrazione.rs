//! The administration panel of `pecora demo`: in Chromium (`tests/js/amministrazione.mjs`)
//! the postmaster creates a box, resets its password (which then opens the webmail),
//! imports a CSV and follows the progress to the report, and the provider admin reads the
//! traffic chart; with curl, the panel's accounts managed by `pecora admin`, and the DNS
//! check, unavailable without DNS and then asking a DNS server on loopback.

use crate::dns_responder::{Responder, Zone};
use crate::net::*;
use crate::{browser, csrf_of, curl, screenshots, web_url};

/// Logs into provider 0's panel with curl; the page of pec.uno.example's boxes (empty when
/// the login failed: curl does not follow the redirect to the login page).
fn curl_panel_login(net: &Net, jar: &std::path::Path, login: &str, password: &str) -> String {
    let form = curl(net, jar, 0, "/amministrazione/accesso", &[]);
    let token = csrf_of(&form);
    curl(
        net,
        jar,
        0,
        "/amministrazione/accesso",
        &[("login", login), ("password", password), ("csrf", &token)],
    );
    curl(
        net,
        jar,
        0,
        "/amministrazione/dominio?nome=pec.uno.example",
        &[],
    )
}

#[test]
fn a_postmaster_and_a_provider_admin_work_in_the_browser() {
    let net = Net::start();
    // Some traffic for the chart: a PEC from Uno to Due, delivered.
    let (mario, _) = net.user(0, 0);
    let (ufficio, _) = net.user(1, 0);
    let msg = message(&mario, &ufficio, None, "Traffico", "");
    assert_eq!(net.submit(0, 0, &mario, &[&ufficio], &msg)["code"], 250);
    net.wait_for(0, &mario, "avvenuta-consegna-completa", 1);

    let (admin, admin_password) = net.panel_account(0, 0);
    let (pm, pm_password) = net.panel_account(0, 1);
    let domain = "pec.uno.example";
    let address = format!("nuova.casella@{domain}");
    let csv = net.file(
        "caselle.csv",
        format!(
            "nome;cognome;indirizzo;email ordinaria\n\
             Luigi;Verdi;luigi.verdi@{domain};luigi@libero.example\n\
             Anna;Neri;anna.neri@pec.due.example;anna@libero.example\n\
             Giulia;Gialli;giulia.gialli@{domain};giulia@libero.example\n"
        )
        .as_bytes(),
    );
    let shots = screenshots("amministrazione");
    let seen = browser(
        "amministrazione.mjs",
        &[
            &web_url(&net, 0),
            &pm,
            &pm_password,
            &admin,
            &admin_password,
            &address,
            csv.to_str().unwrap(),
            shots.to_str().unwrap(),
        ],
    );
    assert_eq!(seen["loginPage"], "/amministrazione/accesso", "{seen}");
    assert_eq!(seen["domain"], domain, "{seen}");
    assert_eq!(seen["createdState"], "attiva", "{seen}");
    let created = seen["createdPassword"].as_str().unwrap();
    let reset = seen["resetPassword"].as_str().unwrap();
    assert_eq!(reset.len(), 16, "{seen}");
    assert_ne!(created, reset);
    assert!(
        seen["webmailMailbox"].as_str().unwrap().contains(&address),
        "{seen}"
    );

    assert_eq!(seen["progressSeen"], true, "{seen}");
    assert_eq!(seen["progressMax"], "3", "{seen}");
    let report = seen["report"].as_array().unwrap();
    let outcomes: Vec<(u64, &str, &str)> = report
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["address"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (2, "creata", format!("luigi.verdi@{domain}").as_str()),
            (3, "rifiutata", "anna.neri@pec.due.example"),
            (4, "creata", format!("giulia.gialli@{domain}").as_str()),
        ],
        "{seen}"
    );
    assert_eq!(report[1]["detail"], "dominio non gestito", "{seen}");
    // The imported boxes are suspended, awaiting activation; the other domain's is not there.
    let list = net.admin(0, &["mailbox-list", "--domain", domain]);
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.contains(&format!("luigi.verdi@{domain}\tstandard\tsospesa")),
        "{list}"
    );
    assert!(
        list.contains(&format!("{address}\tstandard\tattiva")),
        "{list}"
    );
    assert!(!list.contains("anna.neri"), "{list}");

    // The provider admin's chart shows the PEC sent and its receipts.
    assert_eq!(seen["bars"], 72, "{seen}");
    assert!(seen["tallBars"].as_u64().unwrap() >= 2, "{seen}");
    assert!(seen["totalMessages"].as_u64().unwrap() >= 1, "{seen}");
    assert!(seen["totalReceipts"].as_u64().unwrap() >= 2, "{seen}");
    assert_eq!(seen["domains"], 1, "{seen}");
    assert_eq!(
        seen["englishTitle"], "Traffic of the last 24 hours",
        "{seen}"
    );
    for shot in [
        "1-caselle-del-dominio",
        "6-importazione-in-corso",
        "8-traffico",
    ] {
        assert!(shots.join(format!("{shot}.png")).exists(), "{shot}");
    }
}

#[test]
fn the_panel_s_accounts_are_managed_from_the_command_line() {
    let net = Net::start();
    let listed = String::from_utf8(net.admin(0, &["admin-list"]).stdout).unwrap();
    assert!(listed.contains("admin\tprovider"), "{listed}");
    assert!(
        listed.contains("postmaster@pec.uno.example\tdomain pec.uno.example"),
        "{listed}"
    );

    let out = net.admin(
        0,
        &[
            "admin-add",
            "vice@pec.uno.example",
            "--domain",
            "pec.uno.example",
        ],
    );
    let out = String::from_utf8(out.stdout).unwrap();
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    let jar = net.dir.path().join("panel.txt");
    let page = curl_panel_login(&net, &jar, "vice@pec.uno.example", &password);
    assert!(page.contains("data-testid=\"admin-domain\""), "{page}");
    // A postmaster's domain has no DNS check here: the demo does not use DNS.
    let dns = curl(
        &net,
        &jar,
        0,
        "/amministrazione/dns?nome=pec.uno.example",
        &[],
    );
    assert!(dns.contains("data-testid=\"dns-unavailable\""), "{dns}");
    // Nor can it see the provider's home.
    let other = curl(
        &net,
        &jar,
        0,
        "/amministrazione/dominio?nome=pec.due.example",
        &[],
    );
    assert!(!other.contains("data-testid=\"admin-domain\""), "{other}");

    net.admin(
        0,
        &[
            "admin-password",
            "vice@pec.uno.example",
            "--password",
            "Nuova12345",
        ],
    );
    let fresh = net.dir.path().join("panel2.txt");
    let page = curl_panel_login(&net, &fresh, "vice@pec.uno.example", "Nuova12345");
    assert!(page.contains("data-testid=\"admin-domain\""), "{page}");

    net.admin(0, &["admin-remove", "vice@pec.uno.example"]);
    let gone = net.dir.path().join("panel3.txt");
    let page = curl_panel_login(&net, &gone, "vice@pec.uno.example", "Nuova12345");
    assert!(page.is_empty() || !page.contains("admin-domain"), "{page}");
    let listed = String::from_utf8(net.admin(0, &["admin-list"]).stdout).unwrap();
    assert!(!listed.contains("vice@"), "{listed}");
    // Unknown accounts are errors with the reason.
    let refused = net.pecora(&[
        "admin",
        "--config",
        &net.config(0),
        "admin-remove",
        "nessuno",
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("nessuno"));
}

#[test]
fn the_dns_check_says_where_a_domain_s_mail_goes() {
    let mut net = Net::start();
    let (admin, password) = net.panel_account(0, 0);
    let jar = net.dir.path().join("panel.txt");
    curl_panel_login(&net, &jar, &admin, &password);
    let check = |net: &Net, domain: &str| {
        curl(
            net,
            &jar,
            0,
            &format!("/amministrazione/dns?nome={domain}"),
            &[],
        )
    };
    // The demo does not use DNS: the page says so.
    let page = check(&net, "pec.uno.example");
    assert!(page.contains("data-testid=\"dns-unavailable\""), "{page}");

    // With a resolver: our domain points at us (the provider's host name), one moved
    // elsewhere does not, one missing from DNS is an error with the reason.
    let dns = Responder::start(
        Zone::new()
            .mx("pec.uno.example", 10, "MX.pec.uno.example.")
            .mx("pec.trasferito.example", 10, "mx.altro-gestore.example."),
    );
    for domain in ["pec.trasferito.example", "pec.assente.example"] {
        net.admin(0, &["domain-add", domain]);
    }
    net.reconfigure(0, |config| {
        let mut section = toml::Table::new();
        section.insert("enabled".into(), true.into());
        section.insert("resolver".into(), dns.addr.to_string().into());
        config.insert("dns".into(), section.into());
    });
    let jar_path = net.dir.path().join("panel.txt");
    let _ = std::fs::remove_file(&jar_path);
    curl_panel_login(&net, &jar_path, &admin, &password);
    let page = check(&net, "pec.uno.example");
    assert!(page.contains("data-testid=\"dns-ok\""), "{page}");
    assert!(
        page.contains("<li data-testid=\"mx-host\">mx.pec.uno.example</li>"),
        "{page}"
    );
    let page = check(&net, "pec.trasferito.example");
    assert!(page.contains("data-testid=\"dns-elsewhere\""), "{page}");
    assert!(page.contains("mx.altro-gestore.example"), "{page}");
    let page = check(&net, "pec.assente.example");
    assert!(page.contains("data-testid=\"dns-error\""), "{page}");
    assert!(page.contains("NXDOMAIN"), "{page}");
    assert!(dns.asked_for("pec.uno.example") >= 1);
    // A domain the provider does not host is not looked up for anyone.
    let page = check(&net, "pec.due.example");
    assert!(!page.contains("dns-check"), "{page}");
}
