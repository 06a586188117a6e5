//! The holder's settings and the activation of a new box, end to end against `pecora demo`:
//! in Chromium (`tests/js/impostazioni.mjs`) a holder changes the password (the refusals
//! read on the page), logs in again with it and has ordinary mail forwarded, which the
//! operator's CLI then reports; a box created suspended and made to await activation with
//! `pecora admin mailbox-require-activation` is activated at its first login. With curl, the
//! recovery page answers a known and an unknown address alike.

use crate::net::*;
use crate::{browser, csrf_of, curl, screenshots, web_url};

/// The line of `pecora admin mailbox-list` for `address`.
fn listed(net: &Net, p: usize, address: &str) -> String {
    let out = net.admin(p, &["mailbox-list"]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with(&format!("{address}\t")))
        .unwrap_or_else(|| panic!("{address} not listed"))
        .to_string()
}

#[test]
fn a_holder_changes_password_and_ordinary_mail_in_the_browser() {
    let net = Net::start();
    let (mario, password) = net.user(0, 0);
    let shots = screenshots("impostazioni");
    let seen = browser(
        "impostazioni.mjs",
        &[
            "settings",
            &web_url(&net, 0),
            &mario,
            &password,
            "Pascolo2026",
            "mario.rossi@posta.example",
            shots.to_str().unwrap(),
        ],
    );
    assert_eq!(seen["rules"][0], "avere da 8 a 20 caratteri", "{seen}");
    assert_eq!(
        seen["tooShort"],
        serde_json::json!(["La password è troppo corta: servono almeno 8 caratteri."]),
        "{seen}"
    );
    assert_eq!(
        seen["lettersOnly"],
        serde_json::json!(["La password deve contenere almeno una cifra."]),
        "{seen}"
    );
    assert!(
        seen["passwordSaved"]
            .as_str()
            .unwrap()
            .starts_with("Password cambiata"),
        "{seen}"
    );
    assert_eq!(seen["forgotLink"], "Password dimenticata?", "{seen}");
    assert_eq!(
        seen["oldPasswordRefused"], "Credenziali non valide.",
        "{seen}"
    );
    assert!(
        seen["loggedInAgain"].as_str().unwrap().contains(&mario),
        "{seen}"
    );
    assert_eq!(seen["ordinarySaved"], "Impostazione salvata.", "{seen}");
    assert_eq!(seen["forwardChecked"], true, "{seen}");
    assert_eq!(seen["forwardTo"], "mario.rossi@posta.example", "{seen}");
    assert_eq!(seen["englishTitle"], "Settings", "{seen}");
    assert!(
        seen["englishSections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "Ordinary mail"),
        "{seen}"
    );
    for step in [
        "1-impostazioni",
        "2-password-corta",
        "3-password-senza-cifre",
        "4-password-cambiata",
        "5-accesso-con-nuova-password",
        "6-posta-ordinaria-inoltrata",
        "7-english",
    ] {
        assert!(shots.join(format!("{step}.png")).exists(), "{step}.png");
    }
    // The provider's own tools see what the holder set.
    assert!(
        listed(&net, 0, &mario).ends_with("ordinary mail: inoltra"),
        "{}",
        listed(&net, 0, &mario)
    );
}

#[test]
fn a_box_created_suspended_is_activated_at_first_login() {
    let net = Net::start();
    let (mario, _) = net.user(0, 0);
    let domain = mario.split_once('@').unwrap().1;
    let giulia = format!("giulia.bianchi@{domain}");
    net.admin(0, &["mailbox-add", &giulia, "--password", "Iniziale1"]);
    net.admin(0, &["mailbox-require-activation", &giulia, "--days", "7"]);
    assert!(listed(&net, 0, &giulia).contains("\tsospesa\t"));

    let shots = screenshots("impostazioni-attivazione");
    let seen = browser(
        "impostazioni.mjs",
        &[
            "activation",
            &web_url(&net, 0),
            &giulia,
            "Iniziale1",
            "Pascolo2026",
            "-",
            shots.to_str().unwrap(),
        ],
    );
    assert_eq!(seen["url"], "/attivazione", "{seen}");
    assert!(
        seen["deadline"]
            .as_str()
            .unwrap()
            .starts_with("La casella va attivata entro il"),
        "{seen}"
    );
    assert_eq!(
        seen["weak"],
        serde_json::json!([
            "La password è troppo corta: servono almeno 8 caratteri.",
            "La password deve contenere almeno una cifra."
        ]),
        "{seen}"
    );
    assert_eq!(seen["nome"], "", "the CLI registers no details: {seen}");
    assert_eq!(seen["keptSurname"], "Bianki", "{seen}");
    assert_eq!(seen["landed"], "/posta/cartella", "{seen}");
    assert!(
        seen["mailbox"].as_str().unwrap().contains(&giulia),
        "{seen}"
    );
    assert!(
        listed(&net, 0, &giulia).contains("\tattiva\t"),
        "{}",
        listed(&net, 0, &giulia)
    );
    for step in ["1-attivazione", "2-password-debole", "3-casella-attiva"] {
        assert!(shots.join(format!("{step}.png")).exists(), "{step}.png");
    }
}

#[test]
fn the_recovery_page_answers_every_address_alike() {
    let net = Net::start();
    let (mario, _) = net.user(0, 0);
    let ask = |n: usize, address: &str| {
        let jar = net.dir.path().join(format!("recupero-{n}.txt"));
        let form = curl(&net, &jar, 0, "/recupero", &[]);
        curl(
            &net,
            &jar,
            0,
            "/recupero",
            &[("indirizzo", address), ("csrf", &csrf_of(&form))],
        )
    };
    let known = ask(0, &mario);
    assert!(known.contains("data-testid=\"recovery-sent\""), "{known}");
    let domain = mario.split_once('@').unwrap().1;
    assert_eq!(ask(1, &format!("nessuno@{domain}")), known);
}
