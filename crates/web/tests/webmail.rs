//! The web door over real HTTPS on loopback, on mailboxes filled by the real engine (the
//! engine's two-gestore test network): login and its throttle, CSRF, security headers,
//! sessions, languages, folders and badges, the busta's certification banner (and a
//! tampered busta's), hostile HTML, `.eml` downloads and tenant isolation.

#[path = "../../engine/tests/support/gestori.rs"]
mod gestori;
#[path = "support/web.rs"]
mod support;

use std::sync::Arc;

use engine::Engine;
use gestori::{Gestore, network, relay_all};
use pec::checks::Envelope;
use reqwest::StatusCode;
use reqwest::header;
use store::{
    Batch, DelegateRole, MailboxKind, NewDelegate, NewMessage, OrdinaryMail, StoredMessage,
};
use support::{Browser, Web, csrf_of, enc};

const MARIO: &str = "mario@pec.uno.test";
const ANNA_UNO: &str = "anna@pec.uno.test";
const ANNA: &str = "anna@pec.due.test";
const PASSWORD: &str = "password1";

/// A message with a text body and an attachment.
fn con_allegato() -> Vec<u8> {
    format!(
        "From: {MARIO}\r\nTo: {ANNA}\r\nSubject: Contratto n. 12\r\nMessage-ID: <c12@client>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBuongiorno, in allegato il contratto.\r\n\
--b1\r\nContent-Type: text/plain; name=\"contratto.txt\"\r\nContent-Disposition: attachment; filename=\"contratto.txt\"\r\n\r\n\
Clausola 1: le parti.\r\n--b1--\r\n"
    )
    .into_bytes()
}

/// A message whose HTML tries everything a webmail must neutralize.
fn ostile() -> Vec<u8> {
    format!(
        "From: {MARIO}\r\nTo: {ANNA}\r\nSubject: Offerta\r\nMessage-ID: <ostile@client>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<div style=\"position:fixed;top:0;left:0;width:100%\">copertura</div>\
<p style=\"width:expression(alert(1))\">testo</p>\
<script>alert('x')</script><img src=\"https://tracker.example/p.gif\" onerror=\"alert(2)\">\
<a href=\"javascript:alert(3)\">clic</a> <a href=\"https://example.org/\">sito</a>\r\n"
    )
    .into_bytes()
}

/// The network with two buste from Mario (Uno) to Anna (Due), relayed and receipted.
async fn posta() -> Vec<Gestore> {
    let (g, _clock) = network().await;
    for raw in [con_allegato(), ostile()] {
        let env = Envelope {
            mail_from: MARIO.into(),
            rcpt_to: vec![ANNA.into()],
        };
        g[0].engine.submit(&env, &raw).await.unwrap();
    }
    relay_all(&g).await;
    g
}

async fn messages(e: &Engine, mailbox: &str, folder: &str) -> Vec<StoredMessage> {
    e.store().messages(mailbox, folder).await.unwrap()
}

/// The first message of `kind` in `mailbox`'s INBOX.
async fn first(e: &Engine, mailbox: &str, kind: &str) -> StoredMessage {
    messages(e, mailbox, "INBOX")
        .await
        .into_iter()
        .find(|m| m.kind.as_deref() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} in {mailbox}"))
}

fn view(folder: &str, uid: u32) -> String {
    format!("/posta/messaggio?cartella={folder}&uid={uid}")
}

#[tokio::test]
async fn login_sets_a_strict_session_cookie_and_every_response_is_hardened() {
    let g = posta().await;
    let web = Web::start(g[1].engine.clone()).await;
    let mut b = Browser::default();
    let login = web.get(&mut b, "/login", &[]).await;
    let h = login.headers();
    assert_eq!(h[header::CONTENT_SECURITY_POLICY], web::security::CSP);
    assert!(web::security::CSP.contains("script-src 'self'; style-src 'self'"));
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
    assert!(
        h[header::STRICT_TRANSPORT_SECURITY]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    let body = login.text().await.unwrap();
    assert!(body.contains("id=\"login-form\""), "{body}");
    assert!(
        !body.contains("<script>") && !body.contains("style="),
        "{body}"
    );

    let res = web.try_login(&mut b, ANNA, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/posta");
    let session = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("pecora_sessione="))
        .unwrap()
        .to_string();
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            session.split("; ").any(|a| a == attr),
            "{attr} missing: {session}"
        );
    }
    let id = b.cookie("pecora_sessione").unwrap();
    assert!(
        id.len() == 64 && id.bytes().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );

    let inbox = web.page(&mut b, "/posta/cartella?nome=INBOX").await;
    assert!(inbox.contains(ANNA), "{inbox}");
    // A 404 carries the headers too, and says why in both languages.
    let missing = web.get(&mut b, "/nessuna/pagina", &[]).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let text = missing.text().await.unwrap();
    assert!(
        text.contains("non trovato") && text.contains("not found"),
        "{text}"
    );
    // The static assets the pages use are served by the door.
    let css = web.get(&mut b, "/static/pecora.css", &[]).await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn bad_credentials_fail_alike_and_five_failures_lock_out() {
    let g = posta().await;
    let web = Web::start(g[1].engine.clone()).await;
    let mut b = Browser::default();
    for (login, password) in [(ANNA, "sbagliata"), ("nessuno@pec.due.test", PASSWORD)] {
        let res = web.try_login(&mut b, login, password).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let body = res.text().await.unwrap();
        assert!(body.contains("Credenziali non valide."), "{body}");
        assert!(b.cookie("pecora_sessione").is_none());
    }
    for _ in 0..3 {
        let res = web.try_login(&mut b, ANNA, "sbagliata").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Five failures from this client: even the right password is refused now.
    let res = web.try_login(&mut b, ANNA, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = res.text().await.unwrap();
    assert!(body.contains("Troppi tentativi falliti"), "{body}");
    assert!(b.cookie("pecora_sessione").is_none());
    let res = web
        .get(
            &mut Browser::default(),
            "/login",
            &[("Accept-Language", "en")],
        )
        .await;
    assert!(res.text().await.unwrap().contains("Sign in"));
}

#[tokio::test]
async fn forms_without_the_session_token_are_refused() {
    let g = posta().await;
    let web = Web::start(g[1].engine.clone()).await;
    // The login form's token is checked before the password.
    let mut b = Browser::default();
    web.get(&mut b, "/login", &[]).await;
    let res = web
        .post(
            &mut b,
            "/login",
            &[("login", ANNA), ("password", PASSWORD), ("csrf", "x")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Richiesta rifiutata") && body.contains("Request refused"),
        "{body}"
    );

    let mut b = web.login(ANNA, PASSWORD).await;
    let page = web.page(&mut b, "/posta/cartella?nome=INBOX").await;
    let token = csrf_of(&page);
    for bad in [vec![], vec![("csrf", "0".repeat(64))]] {
        let form: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = web.post(&mut b, "/logout", &form).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    // Still logged in; the right token logs out, and the session is gone for good.
    let old = b.clone();
    web.page(&mut b, "/posta/cartella?nome=INBOX").await;
    let res = web.post(&mut b, "/logout", &[("csrf", &token)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(b.cookie("pecora_sessione").is_none());
    let res = web
        .get(&mut old.clone(), "/posta/cartella?nome=INBOX", &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/login");
}

#[tokio::test]
async fn an_idle_session_expires() {
    let g = posta().await;
    let mut state = web::WebState::new(
        g[1].engine.clone(),
        web::WebConfig::new("https://localhost"),
    );
    state.sessions = Arc::new(web::session::Sessions::new(
        std::time::Duration::from_millis(300),
    ));
    let web = Web::start_with(state).await;
    let mut b = web.login(ANNA, PASSWORD).await;
    web.page(&mut b, "/posta/cartella?nome=INBOX").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let res = web.get(&mut b, "/posta/cartella?nome=INBOX", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/login");
}

#[tokio::test]
async fn the_language_follows_the_switch_then_accept_language() {
    let g = posta().await;
    let web = Web::start(g[1].engine.clone()).await;
    let mut b = Browser::default();
    assert!(web.page(&mut b, "/login").await.contains("Accedi"));
    let en = web
        .get(&mut b, "/login", &[("Accept-Language", "en-US,en;q=0.8")])
        .await;
    assert!(en.text().await.unwrap().contains("Sign in"));

    let res = web.get(&mut b, "/lingua/en?next=%2Flogin", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/login");
    assert_eq!(b.cookie("pecora_lingua"), Some("en"));
    let page = web.page(&mut b, "/login").await;
    assert!(
        page.contains("Sign in") && page.contains("<html lang=\"en\">"),
        "{page}"
    );
    // The cookie wins over the browser's preference.
    web.get(&mut b, "/lingua/it?next=%2Flogin", &[]).await;
    let it = web
        .get(&mut b, "/login", &[("Accept-Language", "en")])
        .await;
    assert!(it.text().await.unwrap().contains("Accedi"));
    // The switch goes back to local pages only.
    let res = web
        .get(&mut b, "/lingua/en?next=%2F%2Fevil.example", &[])
        .await;
    assert_eq!(res.headers()[header::LOCATION], "/");
}

#[tokio::test]
async fn the_language_switch_goes_back_to_a_local_path_and_nowhere_else() {
    let g = posta().await;
    let web = Web::start(g[1].engine.clone()).await;
    let mut b = Browser::default();
    let switch = |next: &str| format!("/lingua/en?next={}", enc(next));
    // A folder's page, its name escaped as the layout writes it.
    for next in ["/posta/cartella?nome=Pratiche%202026&pagina=2", "/"] {
        let res = web.get(&mut b, &switch(next), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(res.headers()[header::LOCATION], next);
    }
    // Browsers drop tabs and newlines from a URL and read a backslash as a slash: each of
    // these would lead to another site, some only once their escapes are decoded.
    for next in [
        "/\t/evil.example",
        "/%09/evil.example",
        "/\n/evil.example",
        "/%0d%0a/evil.example",
        "//evil.example",
        "/%2F/evil.example",
        "/%2f%2fevil.example",
        "/\\evil.example",
        "/%5Cevil.example",
        "/ /evil.example",
        "/%20/evil.example",
        "https://evil.example/",
        "evil.example",
        "",
        "/posta?x=\u{7}",
    ] {
        let res = web.get(&mut b, &switch(next), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(res.headers()[header::LOCATION], "/", "{next:?}");
    }
}

#[tokio::test]
async fn folders_and_messages_are_listed_with_their_badges() {
    let g = posta().await;
    let uno = Web::start(g[0].engine.clone()).await;
    let mut b = uno.login(MARIO, PASSWORD).await;
    let inbox = uno.page(&mut b, "/posta/cartella?nome=INBOX").await;
    assert!(inbox.contains("id=\"folders\""), "{inbox}");
    assert!(inbox.contains("data-folder=\"INBOX\"") && inbox.contains("data-folder=\"Sent\""));
    assert!(inbox.contains("Posta in arrivo") && inbox.contains("Posta inviata"));
    let rows = inbox.matches("data-testid=\"message-row\"").count();
    assert_eq!(rows, messages(&g[0].engine, MARIO, "INBOX").await.len());
    assert!(
        inbox.contains("data-kind=\"accettazione\">Ricevuta di accettazione<"),
        "{inbox}"
    );
    assert!(
        inbox.contains("data-kind=\"avvenuta-consegna-completa\">Ricevuta di avvenuta consegna<"),
        "{inbox}"
    );
    let sent = uno.page(&mut b, "/posta/cartella?nome=Sent").await;
    assert_eq!(sent.matches("data-kind=\"inviata\"").count(), 2, "{sent}");
    assert!(sent.contains("Contratto n. 12") && sent.contains("Offerta"));

    let due = Web::start(g[1].engine.clone()).await;
    let mut b = due.login(ANNA, PASSWORD).await;
    let inbox = due.page(&mut b, "/posta/cartella?nome=INBOX").await;
    assert_eq!(
        inbox
            .matches("data-kind=\"posta-certificata\">PEC<")
            .count(),
        2,
        "{inbox}"
    );
    assert!(
        inbox.contains("POSTA CERTIFICATA: Contratto n. 12"),
        "{inbox}"
    );
    assert!(inbox.contains("class=\"riga non-letto\""));
    // A box with an ordinary message in it.
    let plain = g[1]
        .engine
        .store()
        .put(b"From: x@y.example\r\nTo: anna@pec.due.test\r\nSubject: Ciao\r\n\r\nciao\r\n")
        .await
        .unwrap();
    g[1].engine
        .store()
        .commit(Batch {
            deliveries: vec![NewMessage {
                mailbox: ANNA.into(),
                folder: "INBOX".into(),
                blob: plain,
                size: 60,
                flags: vec![],
                kind: None,
                identificativo: None,
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let inbox = due.page(&mut b, "/posta/cartella?nome=INBOX").await;
    assert!(
        inbox.contains("data-kind=\"ordinaria\">Posta ordinaria<"),
        "{inbox}"
    );
    let uid = messages(&g[1].engine, ANNA, "INBOX")
        .await
        .last()
        .unwrap()
        .uid;
    let page = due.page(&mut b, &view("INBOX", uid)).await;
    assert!(page.contains("data-testid=\"not-certified\""), "{page}");
    assert!(!page.contains("certification-banner"));
}

#[tokio::test]
async fn a_busta_shows_its_original_under_a_verifying_banner() {
    let g = posta().await;
    let web = Web::start(g[1].engine.clone()).await;
    let mut b = web.login(ANNA, PASSWORD).await;
    let busta = first(&g[1].engine, ANNA, "posta-certificata").await;
    assert!(!busta.flags.iter().any(|f| f == "\\Seen"));
    let page = web.page(&mut b, &view("INBOX", busta.uid)).await;
    assert!(
        page.contains("data-testid=\"certification-banner\""),
        "{page}"
    );
    assert!(page.contains("data-valid=\"true\""), "{page}");
    assert!(
        page.contains("<strong data-testid=\"signed-by\">Uno PEC</strong>"),
        "{page}"
    );
    assert!(
        page.contains(&format!("data-testid=\"certified-sender\">{MARIO}<")),
        "{page}"
    );
    let id = busta.identificativo.clone().unwrap();
    assert!(
        page.contains(&format!("data-testid=\"identificativo\">{id}<")),
        "{page}"
    );
    assert!(
        page.contains("data-testid=\"original-subject\">Contratto n. 12<"),
        "{page}"
    );
    assert!(
        page.contains("Buongiorno, in allegato il contratto."),
        "{page}"
    );
    assert!(!page.contains("signature-bad"));
    // The attachment of the original downloads as a file.
    let res = web
        .get(
            &mut b,
            &format!("/posta/allegato?cartella=INBOX&uid={}&n=0", busta.uid),
            &[],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let disposition = res.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"contratto.txt\""),
        "{disposition}"
    );
    assert_eq!(res.text().await.unwrap(), "Clausola 1: le parti.");
    // Reading marked it \Seen.
    let now = first(&g[1].engine, ANNA, "posta-certificata").await;
    assert!(now.flags.iter().any(|f| f == "\\Seen"), "{:?}", now.flags);
    // In English too.
    web.get(&mut b, "/lingua/en?next=%2F", &[]).await;
    let page = web.page(&mut b, &view("INBOX", busta.uid)).await;
    assert!(
        page.contains("signature verifies.") && page.contains("<html lang=\"en\">"),
        "{page}"
    );
}

#[tokio::test]
async fn a_receipt_shows_its_facts_and_links_to_the_original_in_sent() {
    let g = posta().await;
    let web = Web::start(g[0].engine.clone()).await;
    let mut b = web.login(MARIO, PASSWORD).await;
    let consegna = first(&g[0].engine, MARIO, "avvenuta-consegna-completa").await;
    let page = web.page(&mut b, &view("INBOX", consegna.uid)).await;
    assert!(
        page.contains("data-testid=\"receipt-kind\">Ricevuta di avvenuta consegna<"),
        "{page}"
    );
    assert!(
        page.contains(&format!("data-testid=\"receipt-recipient\">{ANNA}<")),
        "{page}"
    );
    assert!(page.contains("data-valid=\"true\""), "{page}");
    assert!(
        page.contains("<strong data-testid=\"signed-by\">Due PEC</strong>"),
        "{page}"
    );
    let id = consegna.identificativo.clone().unwrap();
    let original = messages(&g[0].engine, MARIO, "Sent")
        .await
        .into_iter()
        .find(|m| m.identificativo.as_deref() == Some(id.as_str()))
        .unwrap();
    let link = format!(
        "href=\"/posta/messaggio?cartella=Sent&#38;uid={}\"",
        original.uid
    );
    assert!(
        page.contains(&format!("{link} id=\"open-original\"")),
        "{page}"
    );
    let sent = web.page(&mut b, &view("Sent", original.uid)).await;
    assert!(sent.contains("data-testid=\"sent-copy\""), "{sent}");
    assert!(
        sent.contains(&format!("data-testid=\"identificativo\">{id}<")),
        "{sent}"
    );
    assert!(!sent.contains("not-certified"), "{sent}");
}

#[tokio::test]
async fn a_tampered_busta_shows_the_failing_banner() {
    let g = posta().await;
    let e = &g[1].engine;
    let busta = first(e, ANNA, "posta-certificata").await;
    let raw = e.store().get(&busta.blob).await.unwrap();
    let at = raw.windows(9).position(|w| w == b"Buongiorn").unwrap();
    let mut forged = raw.clone();
    forged[at..at + 9].copy_from_slice(b"Pagate su");
    let blob = e.store().put(&forged).await.unwrap();
    e.store()
        .commit(Batch {
            deliveries: vec![NewMessage {
                mailbox: ANNA.into(),
                folder: "INBOX".into(),
                blob,
                size: forged.len() as u64,
                flags: vec![],
                kind: Some("posta-certificata".into()),
                identificativo: busta.identificativo.clone(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let uid = messages(e, ANNA, "INBOX").await.last().unwrap().uid;
    let web = Web::start(e.clone()).await;
    let mut b = web.login(ANNA, PASSWORD).await;
    let page = web.page(&mut b, &view("INBOX", uid)).await;
    assert!(page.contains("data-valid=\"false\""), "{page}");
    assert!(page.contains("data-testid=\"signature-bad\""), "{page}");
    assert!(page.contains("banner-non-valido"));
    assert!(
        !page.contains("signature-ok") && !page.contains("banner-valido"),
        "{page}"
    );
}

#[tokio::test]
async fn hostile_html_renders_inert() {
    let g = posta().await;
    let e = &g[1].engine;
    let web = Web::start(e.clone()).await;
    let mut b = web.login(ANNA, PASSWORD).await;
    let ostile = messages(e, ANNA, "INBOX")
        .await
        .into_iter()
        .filter(|m| m.kind.as_deref() == Some("posta-certificata"))
        .nth(1)
        .unwrap();
    let page = web.page(&mut b, &view("INBOX", ostile.uid)).await;
    let at = page
        .find("data-testid=\"html-body\"")
        .expect("an HTML body");
    let body = &page[at..page[at..].find("</div>\n").unwrap() + at];
    assert!(
        body.contains("copertura") && body.contains("testo"),
        "{body}"
    );
    let lower = body.to_ascii_lowercase();
    for bad in [
        "<script",
        "style=",
        "onerror",
        "javascript:",
        "tracker.example",
        "expression",
    ] {
        assert!(!lower.contains(bad), "{bad} survived: {body}");
    }
    assert!(body.contains("rel=\"noopener noreferrer\""), "{body}");
    assert!(page.contains("data-testid=\"remote-blocked\""), "{page}");
    // Nothing inline anywhere on the page: the CSP would block it anyway.
    assert!(
        !page.contains("<script>") && !page.contains("<style"),
        "{page}"
    );
}

#[tokio::test]
async fn the_eml_download_is_byte_exact() {
    let g = posta().await;
    let e = &g[1].engine;
    let web = Web::start(e.clone()).await;
    let mut b = web.login(ANNA, PASSWORD).await;
    let busta = first(e, ANNA, "posta-certificata").await;
    let res = web
        .get(
            &mut b,
            &format!("/posta/eml?cartella=INBOX&uid={}", busta.uid),
            &[],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "message/rfc822");
    let disposition = res.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\""),
        "{disposition}"
    );
    assert!(disposition.contains(".eml\""), "{disposition}");
    let bytes = res.bytes().await.unwrap();
    assert_eq!(
        bytes.as_ref(),
        e.store().get(&busta.blob).await.unwrap().as_slice()
    );
}

#[tokio::test]
async fn another_box_is_not_found() {
    let g = posta().await;
    let e = &g[0].engine;
    let web = Web::start(e.clone()).await;
    // Anna of Uno has an empty box; Mario's messages and folders are not hers to see.
    let mut b = web.login(ANNA_UNO, PASSWORD).await;
    let consegna = first(e, MARIO, "avvenuta-consegna-completa").await;
    // Her own standard folders exist from her first login, empty.
    let inbox = web.get(&mut b, "/posta/cartella?nome=INBOX", &[]).await;
    let inbox = inbox.text().await.unwrap();
    for folder in ["Sent", "Drafts", "Trash"] {
        assert!(
            inbox.contains(&format!("data-folder=\"{folder}\"")),
            "{folder}: {inbox}"
        );
    }
    e.store().create_folder(MARIO, "Pratiche", 0).await.unwrap();
    for path in [
        view("INBOX", consegna.uid),
        format!("/posta/eml?cartella=INBOX&uid={}", consegna.uid),
        format!("/posta/allegato?cartella=INBOX&uid={}&n=0", consegna.uid),
        "/posta/cartella?nome=Pratiche".to_string(),
        view("Sent", 1),
    ] {
        let res = web.get(&mut b, &path, &[]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Bad input is a 400, not a crash.
    let res = web
        .get(&mut b, "/posta/messaggio?cartella=INBOX&uid=abc", &[])
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Without a session, nothing but the login page.
    let res = web
        .get(&mut Browser::default(), &view("INBOX", consegna.uid), &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/login");
}

#[tokio::test]
async fn a_malformed_query_parameter_is_a_400_page_naming_it() {
    let g = posta().await;
    let web = Web::start(g[1].engine.clone()).await;
    let mut b = web.login(ANNA, PASSWORD).await;
    for (path, param) in [
        ("/posta/messaggio?cartella=INBOX&uid=-1", "uid"),
        ("/posta/eml?cartella=INBOX&uid=-1", "uid"),
        ("/posta/allegato?cartella=INBOX&uid=1&n=-1", "n"),
        ("/posta/messaggio?uid=1", "cartella"),
        ("/posta/cartella?nome=INBOX&pagina=-1", "pagina"),
        ("/posta/inviato", "id"),
        ("/impostazioni/api?revocata=-1", "revocata"),
    ] {
        let res = web.get(&mut b, path, &[]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        let html = res.headers()[header::CONTENT_TYPE].to_str().unwrap();
        assert!(html.starts_with("text/html"), "{path}: {html}");
        let body = res.text().await.unwrap();
        assert!(
            body.contains("data-testid=\"error\"")
                && body.contains("Richiesta non valida.")
                && body.contains(param),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn a_folder_of_the_holder_is_paged() {
    let g = posta().await;
    let e = &g[1].engine;
    e.store().create_folder(ANNA, "Clienti", 0).await.unwrap();
    let mut deliveries = Vec::new();
    for n in 0..55 {
        let raw =
            format!("From: c{n}@posta.example\r\nTo: {ANNA}\r\nSubject: Ordine {n}\r\n\r\nx\r\n");
        deliveries.push(NewMessage {
            mailbox: ANNA.into(),
            folder: "Clienti".into(),
            blob: e.store().put(raw.as_bytes()).await.unwrap(),
            size: raw.len() as u64,
            flags: vec![],
            kind: None,
            identificativo: None,
        });
    }
    e.store()
        .commit(Batch {
            deliveries,
            ..Default::default()
        })
        .await
        .unwrap();
    let web = Web::start(e.clone()).await;
    let mut b = web.login(ANNA, PASSWORD).await;
    let first = web.page(&mut b, "/posta/cartella?nome=Clienti").await;
    assert!(
        first.contains("data-folder=\"Clienti\">Clienti<"),
        "{first}"
    );
    assert_eq!(first.matches("data-testid=\"message-row\"").count(), 50);
    // Newest first.
    assert!(
        first.contains("Ordine 54") && !first.contains("Ordine 4<"),
        "{first}"
    );
    assert!(first.contains("id=\"next-page\"") && !first.contains("id=\"previous-page\""));
    let second = web
        .page(&mut b, "/posta/cartella?nome=Clienti&pagina=2")
        .await;
    assert_eq!(second.matches("data-testid=\"message-row\"").count(), 5);
    assert!(second.contains("Ordine 0<") && second.contains("id=\"previous-page\""));
    // A page past the end shows the last one.
    let past = web
        .page(&mut b, "/posta/cartella?nome=Clienti&pagina=99")
        .await;
    assert_eq!(past.matches("data-testid=\"message-row\"").count(), 5);
}

#[tokio::test]
async fn reading_in_protocol_mode_takes_the_message_out_of_inbox() {
    let g = posta().await;
    let e = &g[1].engine;
    // The mode is for PRO boxes (the admin command refuses it elsewhere).
    e.store().set_kind(ANNA, MailboxKind::Pro).await.unwrap();
    e.store()
        .set_protocol_account(ANNA, Some(ANNA))
        .await
        .unwrap();
    let mut changes = e.changes();
    let web = Web::start(e.clone()).await;
    let mut b = web.login(ANNA, PASSWORD).await;
    let busta = first(e, ANNA, "posta-certificata").await;
    let page = web.page(&mut b, &view("INBOX", busta.uid)).await;
    assert!(page.contains("data-valid=\"true\""), "{page}");
    assert!(
        !messages(e, ANNA, "INBOX")
            .await
            .iter()
            .any(|m| m.uid == busta.uid),
        "read by the protocol account, the busta left INBOX"
    );
    assert_eq!(changes.recv().await.unwrap(), ANNA);
    // Gone from INBOX, so no longer there to open.
    let res = web.get(&mut b, &view("INBOX", busta.uid), &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_delegate_reads_the_box_and_an_anomalia_is_marked_not_certified() {
    let g = posta().await;
    let e = &g[1].engine;
    e.store()
        .create_delegate(
            &NewDelegate {
                login: "segreteria".into(),
                mailbox: ANNA.into(),
                role: DelegateRole::Lettura,
                password_hash: engine::accounts::hash_password("delegata1").unwrap(),
            },
            0,
        )
        .await
        .unwrap();
    // Ordinary mail reaches Anna wrapped in a busta di anomalia.
    e.store()
        .set_ordinary_mail(ANNA, OrdinaryMail::Anomalia)
        .await
        .unwrap();
    let ordinaria = format!(
        "From: qualcuno@posta.example\r\nTo: {ANNA}\r\nSubject: Fattura ordinaria\r\nMessage-ID: <o1@posta.example>\r\n\r\nIn allegato la fattura.\r\n"
    );
    let env = Envelope {
        mail_from: "qualcuno@posta.example".into(),
        rcpt_to: vec![ANNA.into()],
    };
    e.receive(&env, ordinaria.as_bytes()).await.unwrap();
    let anomalia = first(e, ANNA, "anomalia").await;

    let web = Web::start(e.clone()).await;
    let mut b = web.login("segreteria", "delegata1").await;
    let inbox = web.page(&mut b, "/posta/cartella?nome=INBOX").await;
    assert!(
        inbox.contains(&format!("data-testid=\"mailbox\">Casella: {ANNA}<")),
        "{inbox}"
    );
    assert!(
        inbox.contains("data-kind=\"anomalia\">Anomalia<"),
        "{inbox}"
    );
    let page = web.page(&mut b, &view("INBOX", anomalia.uid)).await;
    assert!(page.contains("data-testid=\"not-certified\""), "{page}");
    assert!(page.contains("Busta di anomalia"), "{page}");
    assert!(!page.contains("certification-banner"), "{page}");
    assert!(
        page.contains("data-testid=\"original-subject\">Fattura ordinaria<"),
        "{page}"
    );
    assert!(page.contains("In allegato la fattura."), "{page}");
}
