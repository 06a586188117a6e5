//! Writing and following a PEC in Chromium (`tests/js/scrittura.mjs`): a provider-0 holder
//! composes a PEC with an attachment to a provider-1 holder, watches accettazione and
//! consegna arrive on the timeline, downloads the evidence bundle; the recipient opens the
//! busta under a valid banner with the attachment listed.

use crate::net::*;
use crate::{browser, screenshots, web_url};

#[test]
fn a_browser_writes_a_pec_and_follows_it_to_the_consegna() {
    let net = Net::start();
    let (mario, password) = net.user(0, 0);
    let (ufficio, password2) = net.user(1, 0);
    let shots = screenshots("scrittura");
    let seen = browser(
        "scrittura.mjs",
        &[
            &web_url(&net, 0),
            &mario,
            &password,
            &web_url(&net, 1),
            &ufficio,
            &password2,
            shots.to_str().unwrap(),
        ],
    );
    assert_eq!(seen["accettazione"], 1, "{seen}");
    assert_eq!(seen["outcome"], "consegnata", "{seen}");
    let kinds = seen["kinds"].to_string();
    assert!(kinds.contains("avvenuta-consegna"), "{seen}");
    assert!(
        seen["bundle"].as_str().unwrap().starts_with("fascicolo-"),
        "{seen}"
    );
    let zip = std::fs::read(shots.join("fascicolo.zip")).unwrap();
    assert_eq!(&zip[..4], b"PK\x03\x04");
    assert_eq!(seen["valid"], "true", "{seen}");
    assert_eq!(seen["attachments"][0], "relazione.txt", "{seen}");
}
