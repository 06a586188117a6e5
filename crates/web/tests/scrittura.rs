//! Writing and following a PEC in the webmail over real HTTPS on loopback, on the engine's
//! two-gestore test network: a compose with two attachments becomes an accettazione and a
//! timeline, the bundle downloads; read-only delegates, missing CSRF tokens, bad addresses,
//! oversized uploads and other boxes' identificativi are refused with clear answers.

#[path = "../../engine/tests/support/gestori.rs"]
mod gestori;
#[path = "support/web.rs"]
mod support;

use gestori::{network, relay_all};
use reqwest::StatusCode;
use reqwest::header;
use reqwest::multipart::{Form, Part};
use store::{DelegateRole, NewDelegate};
use support::{Web, csrf_of};

const MARIO: &str = "mario@pec.uno.test";
const ANNA: &str = "anna@pec.due.test";
const ANNA_UNO: &str = "anna@pec.uno.test";
const PASSWORD: &str = "password1";

fn modulo(csrf: Option<&str>, to: &str) -> Form {
    let mut f = Form::new()
        .text("destinatari", to.to_string())
        .text("copia", ANNA_UNO)
        .text("oggetto", "Contratto da firmare")
        .text("testo", "Buongiorno,\r\nin allegato il contratto.\r\n")
        .text("ricevuta", "breve")
        .part(
            "allegati",
            Part::bytes(b"%PDF-1.4 contratto".to_vec())
                .file_name("contratto.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        )
        .part(
            "allegati",
            Part::bytes("nome;cognome\nMario;Rossi\n".as_bytes().to_vec())
                .file_name("elenco.csv")
                .mime_str("text/csv")
                .unwrap(),
        );
    if let Some(c) = csrf {
        f = f.text("csrf", c.to_string());
    }
    f
}

#[tokio::test]
async fn compose_with_two_attachments_then_follow_it_and_download_the_bundle() {
    let (g, _clock) = network().await;
    let web = Web::start(g[0].engine.clone()).await;
    let mut b = web.login(MARIO, PASSWORD).await;
    let page = web.page(&mut b, "/posta/scrivi").await;
    assert!(page.contains("data-testid=\"compose-form\""), "{page}");
    assert!(
        page.contains("value=\"completa\" data-testid=\"receipt-completa\" checked"),
        "completa by default: {page}"
    );
    let csrf = csrf_of(&page);
    let res = web
        .post_multipart(&mut b, "/posta/scrivi", modulo(Some(&csrf), ANNA))
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    let to = res.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(to.starts_with("/posta/inviato?id="), "{to}");

    let sent = g[0].engine.store().messages(MARIO, "Sent").await.unwrap();
    assert_eq!(sent.len(), 1);
    let raw = g[0].engine.store().get(&sent[0].blob).await.unwrap();
    let raw = String::from_utf8_lossy(&raw);
    for atteso in [
        "X-TipoRicevuta: breve",
        "contratto.pdf",
        "elenco.csv",
        ANNA_UNO,
    ] {
        assert!(raw.contains(atteso), "{atteso}: {raw}");
    }
    let id = sent[0].identificativo.clone().unwrap();

    let timeline = web.page(&mut b, &to).await;
    assert!(timeline.contains("data-testid=\"timeline\""), "{timeline}");
    assert!(
        timeline.contains("data-kind=\"accettazione\""),
        "{timeline}"
    );
    assert!(
        timeline.contains("http-equiv=\"refresh\""),
        "pending: {timeline}"
    );
    assert!(timeline.contains(&format!("data-recipient=\"{ANNA}\"")));
    assert!(
        timeline.contains("data-outcome=\"in-attesa\""),
        "{timeline}"
    );

    relay_all(&g).await;
    let timeline = web.page(&mut b, &to).await;
    assert!(
        !timeline.contains("http-equiv=\"refresh\""),
        "done: {timeline}"
    );
    assert_eq!(
        timeline.matches("data-outcome=\"consegnata\"").count(),
        2,
        "{timeline}"
    );
    assert!(
        timeline.contains("data-kind=\"avvenuta-consegna\""),
        "{timeline}"
    );
    // Each receipt one click away.
    let at = timeline.find("data-testid=\"receipt-link\"").unwrap();
    let href = timeline[..at].rsplit("href=\"").next().unwrap();
    let href = href[..href.find('"').unwrap()].replace("&#38;", "&");
    let receipt = web.page(&mut b, &href).await;
    assert!(
        receipt.contains("data-testid=\"receipt-kind\""),
        "{receipt}"
    );
    assert!(
        receipt.contains("data-testid=\"open-timeline\""),
        "{receipt}"
    );

    // And from the copy in Sent.
    let copia = web
        .page(
            &mut b,
            &format!("/posta/messaggio?cartella=Sent&uid={}", sent[0].uid),
        )
        .await;
    assert!(
        copia.contains(&format!(
            "href=\"/posta/inviato?id={}\"",
            id.replace('@', "%40")
        )),
        "{copia}"
    );

    let res = web
        .get(&mut b, &format!("/posta/fascicolo?id={id}"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/zip");
    let cd = res.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cd.starts_with("attachment;"), "{cd}");
    let zip = res.bytes().await.unwrap();
    assert_eq!(&zip[..4], b"PK\x03\x04");
}

#[tokio::test]
async fn refusals_are_clear_and_nothing_is_sent() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    e.store()
        .create_delegate(
            &NewDelegate {
                login: "lettore".into(),
                mailbox: MARIO.into(),
                role: DelegateRole::Lettura,
                password_hash: engine::accounts::hash_password("delegato1").unwrap(),
            },
            0,
        )
        .await
        .unwrap();
    let web = Web::start(e.clone()).await;

    // A read-only delegate may not even see the form.
    let mut lettore = web.login("lettore", "delegato1").await;
    let res = web.get(&mut lettore, "/posta/scrivi", &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let page = web.page(&mut lettore, "/posta/cartella?nome=INBOX").await;
    let res = web
        .post_multipart(
            &mut lettore,
            "/posta/scrivi",
            modulo(Some(&csrf_of(&page)), ANNA),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let mut b = web.login(MARIO, PASSWORD).await;
    let csrf = csrf_of(&web.page(&mut b, "/posta/scrivi").await);
    // No token, a wrong token.
    for bad in [None, Some("0".repeat(64))] {
        let res = web
            .post_multipart(&mut b, "/posta/scrivi", modulo(bad.as_deref(), ANNA))
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    // A bad address: the form again, with what was typed and why.
    let res = web
        .post_multipart(&mut b, "/posta/scrivi", modulo(Some(&csrf), "anna@@pec"))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.text().await.unwrap();
    assert!(body.contains("data-testid=\"compose-error\""), "{body}");
    assert!(body.contains("«anna@@pec» non è un indirizzo"), "{body}");
    assert!(body.contains("value=\"Contratto da firmare\""), "{body}");
    assert!(
        body.contains("value=\"breve\" data-testid=\"receipt-breve\" checked"),
        "{body}"
    );
    // Not multipart at all.
    let res = web
        .post_bytes(&mut b, "/posta/scrivi", "text/plain", b"ciao".to_vec())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Over the provider's limit: refused before it is read.
    let limit = e.settings().limiti.max_dimensione as usize;
    let big = vec![b'x'; limit + 1024 * 1024];
    let res = web
        .post_bytes(
            &mut b,
            "/posta/scrivi",
            "multipart/form-data; boundary=xyz",
            big,
        )
        .await;
    let res = res.expect("a 413 answer, not a broken connection");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = res.text().await.unwrap();
    assert!(body.contains("supera il limite di 100 MB"), "{body}");
    assert!(e.store().messages(MARIO, "Sent").await.unwrap().is_empty());
    // The door still answers.
    web.page(&mut b, "/posta/scrivi").await;
}

#[tokio::test]
async fn another_box_timeline_and_bundle_are_not_found() {
    let (g, _clock) = network().await;
    let e = &g[0].engine;
    let web = Web::start(e.clone()).await;
    let mut b = web.login(MARIO, PASSWORD).await;
    let csrf = csrf_of(&web.page(&mut b, "/posta/scrivi").await);
    let res = web
        .post_multipart(&mut b, "/posta/scrivi", modulo(Some(&csrf), ANNA))
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    relay_all(&g).await;
    let id = e.store().messages(MARIO, "Sent").await.unwrap()[0]
        .identificativo
        .clone()
        .unwrap();
    // Anna (Uno) received it in copy: she has the busta, but did not send it.
    let mut anna = web.login(ANNA_UNO, PASSWORD).await;
    for path in [
        format!("/posta/inviato?id={id}"),
        format!("/posta/fascicolo?id={id}"),
        "/posta/inviato?id=nessuno".to_string(),
    ] {
        let res = web.get(&mut anna, &path, &[]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    web.page(&mut b, &format!("/posta/inviato?id={id}")).await;
}
