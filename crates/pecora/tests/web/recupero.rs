//! Password recovery end to end against `pecora demo`, in Chromium (`tests/js/recupero.mjs`):
//! Mario names Anna's box — the demo's holder that takes ordinary mail as anomalia — as his
//! recovery address, forgets his password and asks for a link; the provider's recovery
//! message travels as ordinary mail through its own MX into Anna's inbox, where she reads
//! the link in the webmail; Mario follows it, is refused a weak password, sets a good one
//! and logs in with it. The link works only once, and the old password no longer does.

use crate::net::*;
use crate::{browser, screenshots, web_url};

#[test]
fn a_forgotten_password_is_reset_through_the_link_mailed_to_the_recovery_address() {
    let net = Net::start();
    let (mario, password) = net.user(0, 0);
    let (anna, anna_password) = net.user(0, 1);
    assert_eq!(
        net.demo["providers"][0]["users"][1]["ordinary_mail"],
        "anomalia"
    );
    let shots = screenshots("recupero");
    let base = web_url(&net, 0);
    let seen = browser(
        "recupero.mjs",
        &[
            &base,
            &mario,
            &password,
            &anna,
            &anna_password,
            "Ritrovata2026",
            shots.to_str().unwrap(),
        ],
    );

    assert_eq!(seen["recoverySaved"], "Impostazione salvata.", "{seen}");
    assert_eq!(seen["recoveryAddress"], anna.as_str(), "{seen}");
    assert_eq!(seen["recoveryUrl"], "/recupero", "{seen}");
    assert!(
        seen["recoverySent"]
            .as_str()
            .unwrap()
            .starts_with("Se la casella indicata ha un indirizzo di recupero"),
        "{seen}"
    );

    // The message reached Anna as an anomalia carrying the provider's recovery mail.
    assert_eq!(seen["rowBadge"], "anomalia", "{seen}");
    assert_eq!(seen["messageKind"], "anomalia", "{seen}");
    assert!(
        seen["rowSubject"]
            .as_str()
            .unwrap()
            .contains(&format!("Recupero della password della casella {mario}")),
        "{seen}"
    );
    assert_eq!(
        seen["originalSubject"],
        format!("Recupero della password della casella {mario}").as_str(),
        "{seen}"
    );
    assert!(
        seen["originalTo"].as_str().unwrap().contains(&anna),
        "{seen}"
    );
    assert!(!seen["notCertified"].as_str().unwrap().is_empty(), "{seen}");
    let link = seen["link"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{base}/recupero/nuova?token=")),
        "the link leads to the provider's public URL: {seen}"
    );

    // The policy's refusals, then the new password.
    assert_eq!(seen["rules"][0], "avere da 8 a 20 caratteri", "{seen}");
    assert_eq!(
        seen["weak"],
        serde_json::json!([
            "La password è troppo corta: servono almeno 8 caratteri.",
            "La password deve contenere almeno una cifra."
        ]),
        "{seen}"
    );
    assert_eq!(
        seen["done"], "Password cambiata. Ora puoi accedere con la nuova password.",
        "{seen}"
    );
    assert_eq!(seen["reusedStatus"], 410, "{seen}");
    assert!(
        seen["reused"]
            .as_str()
            .unwrap()
            .starts_with("Il collegamento non è valido"),
        "{seen}"
    );
    assert_eq!(
        seen["oldPasswordRefused"], "Credenziali non valide.",
        "{seen}"
    );
    assert!(
        seen["loggedIn"].as_str().unwrap().contains(&mario),
        "{seen}"
    );

    for step in [
        "1-indirizzo-di-recupero",
        "2-collegamento-chiesto",
        "3-posta-di-b",
        "4-messaggio-di-recupero",
        "5-password-debole",
        "6-password-reimpostata",
        "7-collegamento-usato",
        "8-accesso-con-nuova-password",
    ] {
        assert!(shots.join(format!("{step}.png")).exists(), "{step}.png");
    }
}
