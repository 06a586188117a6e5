//! Reading: a PEC sent with a real SMTP client (Python's smtplib), then read over HTTPS —
//! with curl (login, the folder with its badge, the busta under a verifying certification
//! banner), and in Chromium (`tests/js/webmail.mjs`).

use std::process::Command;

use crate::net::*;
use crate::{browser, curl, curl_login, screenshots, web_url};

#[test]
fn the_webmail_of_the_demo_shows_a_certified_message() {
    let net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (ufficio, password) = net.user(1, 0);
    let msg = message(&mario, &ufficio, None, "Verbale web", "");
    let reply = net.submit(0, 0, &mario, &[&ufficio], &msg);
    assert_eq!(reply["code"], 250, "{reply}");
    let id = identificativo(&reply);
    net.wait_for(1, &ufficio, "posta-certificata", 1);

    let jar = net.dir.path().join("cookies.txt");
    curl_login(&net, &jar, 1, &ufficio, &password);
    let inbox = curl(&net, &jar, 1, "/posta/cartella?nome=INBOX", &[]);
    assert!(inbox.contains("data-kind=\"posta-certificata\""), "{inbox}");
    let at = inbox
        .find("/posta/messaggio?cartella=INBOX&#38;uid=")
        .unwrap();
    let link = &inbox[at..at + inbox[at..].find('"').unwrap()].replace("&#38;", "&");
    let busta = curl(&net, &jar, 1, link, &[]);
    assert!(busta.contains("data-valid=\"true\""), "{busta}");
    assert!(busta.contains("Pecora Uno S.p.A."), "{busta}");
    assert!(busta.contains(&id), "{busta}");
    assert!(busta.contains("Verbale web"), "{busta}");
    // Plain HTTP gets no page.
    let plain = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            &format!("http://localhost:{}/login", net.port(1, "web_port")),
        ])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("login-form"));
}

#[test]
fn a_browser_reads_the_busta_under_its_banner() {
    let net = Net::start();
    let (mario, _) = net.user(0, 0);
    let (ufficio, password) = net.user(1, 0);
    let msg = message(&mario, &ufficio, None, "Verbale nel browser", "");
    let reply = net.submit(0, 0, &mario, &[&ufficio], &msg);
    assert_eq!(reply["code"], 250, "{reply}");
    let id = identificativo(&reply);
    net.wait_for(1, &ufficio, "posta-certificata", 1);

    let shots = screenshots("lettura");
    let seen = browser(
        "webmail.mjs",
        &[
            &web_url(&net, 1),
            &ufficio,
            &password,
            "Verbale nel browser",
            shots.to_str().unwrap(),
        ],
    );
    assert!(seen["wrongPassword"].as_str().unwrap().len() > 10, "{seen}");
    assert!(
        seen["mailbox"].as_str().unwrap().contains(&ufficio),
        "{seen}"
    );
    assert_eq!(seen["badge"], "posta-certificata", "{seen}");
    assert_eq!(seen["bannerValid"], "true", "{seen}");
    assert_eq!(seen["signedBy"], "Pecora Uno S.p.A.", "{seen}");
    assert_eq!(seen["identificativo"], id.as_str(), "{seen}");
    assert!(
        seen["originalFrom"].as_str().unwrap().contains(&mario),
        "{seen}"
    );
    assert!(
        !seen["englishSignature"].as_str().unwrap().is_empty(),
        "{seen}"
    );
    for step in [
        "1-login-errato",
        "2-posta-in-arrivo",
        "3-busta-con-banner",
        "4-english",
    ] {
        assert!(shots.join(format!("{step}.png")).exists(), "{step}.png");
    }
}
