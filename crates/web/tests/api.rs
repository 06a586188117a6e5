//! The REST API over real HTTPS on loopback, on the engine's two-gestore test network:
//! keys (none, unknown, revoked), sending as JSON and as multipart with attachments and
//! following the receipts to the bundle, idempotency, JSON errors for every bad request,
//! isolation between boxes on every route, and signed webhooks posted to a receiver
//! started here, their signature checked with the `openssl` CLI.

#[path = "../../engine/tests/support/gestori.rs"]
mod gestori;
#[path = "support/web.rs"]
mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use engine::Engine;
use gestori::{Gestore, network, relay_all};
use reqwest::{Method, RequestBuilder, Response, StatusCode, header};
use serde_json::{Value, json};
use support::Web;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use web::api::destinazioni::Destinazioni;

const MARIO: &str = "mario@pec.uno.test";
const ANNA_UNO: &str = "anna@pec.uno.test";
const ANNA: &str = "anna@pec.due.test";

/// A key of `mailbox`, made as the holder's page and `pecora admin` make them.
async fn key(e: &Engine, mailbox: &str) -> String {
    web::api::chiave::crea(e, mailbox, "protocollo", None)
        .await
        .unwrap()
        .key
}

fn req(web: &Web, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
    let r = web.client().request(method, web.url(path));
    match key {
        Some(k) => r.bearer_auth(k),
        None => r,
    }
}

async fn get(web: &Web, path: &str, key: &str) -> Response {
    req(web, Method::GET, path, Some(key)).send().await.unwrap()
}

/// A JSON answer with its status, checked to be JSON.
async fn json_of(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let ct = res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    let body = res.text().await.unwrap();
    assert!(ct.starts_with("application/json"), "{status} {ct}: {body}");
    (status, serde_json::from_str(&body).unwrap())
}

/// An error answer: its status and code, checked to carry a message.
async fn error_of(res: Response) -> (StatusCode, String) {
    let (status, v) = json_of(res).await;
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    (status, v["code"].as_str().unwrap().to_string())
}

async fn send_json(web: &Web, key: &str, body: Value, idem: Option<&str>) -> Response {
    let mut r = req(web, Method::POST, "/api/v1/messages", Some(key)).json(&body);
    if let Some(k) = idem {
        r = r.header("Idempotency-Key", k);
    }
    r.send().await.unwrap()
}

fn b64(data: &[u8]) -> String {
    openssl::base64::encode_block(data)
}

#[tokio::test]
async fn a_missing_unknown_or_revoked_key_is_refused_with_401() {
    let (g, _clock) = network().await;
    let web = Web::start(g[0].engine.clone()).await;
    let k = key(&g[0].engine, MARIO).await;

    let none = req(&web, Method::GET, "/api/v1/messages", None)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(none).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".into())
    );
    let unknown = get(&web, "/api/v1/messages", &format!("pk_{}", "0".repeat(64))).await;
    assert_eq!(error_of(unknown).await.0, StatusCode::UNAUTHORIZED);
    let basic = req(&web, Method::GET, "/api/v1/messages", None)
        .basic_auth(MARIO, Some("password1"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);

    let ok = get(&web, "/api/v1/messages", &k).await;
    let (status, page) = json_of(ok).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["folder"], "INBOX");
    // No cookie on the API.
    let res = get(&web, "/api/v1/messages", &k).await;
    assert!(res.headers().get(header::SET_COOKIE).is_none());

    let keys = g[0].engine.store().api_keys(MARIO).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key_hash, web::api::chiave::impronta(&k));
    assert_ne!(keys[0].key_hash, k);
    web::api::chiave::revoca(&g[0].engine, MARIO, keys[0].id, None)
        .await
        .unwrap();
    let revoked = get(&web, "/api/v1/messages", &k).await;
    assert_eq!(error_of(revoked).await.0, StatusCode::UNAUTHORIZED);
    // Both are in the legal log, the key nowhere.
    let log = g[0]
        .engine
        .store()
        .events_between(0, i64::MAX)
        .await
        .unwrap();
    let admin: Vec<_> = log
        .iter()
        .filter(|e| e.event.kind.starts_with("admin-api-key"))
        .collect();
    let kinds: Vec<&str> = admin.iter().map(|e| e.event.kind.as_str()).collect();
    assert_eq!(kinds, ["admin-api-key-create", "admin-api-key-revoke"]);
    assert!(admin.iter().all(|e| e.event.sender == MARIO));
    assert!(!format!("{log:?}").contains(&k[3..]));
    // Revoking a key of another box is refused.
    let other = key(&g[0].engine, ANNA_UNO).await;
    let anna_id = g[0]
        .engine
        .store()
        .api_key(&web::api::chiave::impronta(&other))
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(
        web::api::chiave::revoca(&g[0].engine, MARIO, anna_id, None)
            .await
            .is_err()
    );
    assert_eq!(
        get(&web, "/api/v1/messages", &other).await.status(),
        StatusCode::OK
    );
}

/// Mario (Uno) sends to Anna (Due) through the API; the network relays.
#[tokio::test]
async fn a_pec_sent_as_json_and_as_multipart_is_followed_to_its_receipts_and_bundle() {
    let (g, _clock) = network().await;
    let web = Web::start(g[0].engine.clone()).await;
    let k = key(&g[0].engine, MARIO).await;

    let res = send_json(
        &web,
        &k,
        json!({
            "to": [ANNA], "subject": "Delibera n. 7", "text": "In allegato la delibera.",
            "receipt_type": "breve",
            "attachments": [{"filename": "delibera.txt", "content_type": "text/plain",
                "content_base64": b64(b"Delibera: si approva.")}],
        }),
        None,
    )
    .await;
    let location = res.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let (status, sent) = json_of(res).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["outcome"], "accettato");
    let id = sent["identificativo"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/api/v1/sent/{id}"));

    let (_, before) = json_of(get(&web, &location, &k).await).await;
    assert_eq!(before["outcome"], "accettato", "{before}");
    assert_eq!(before["recipients"][0]["address"], ANNA);
    assert_eq!(before["recipients"][0]["state"], "in-attesa");
    assert_eq!(before["in_progress"], true);

    relay_all(&g).await;
    let (status, after) = json_of(get(&web, &location, &k).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after["recipients"][0]["state"], "consegnata", "{after}");
    assert_eq!(after["in_progress"], false);
    let kinds: Vec<&str> = after["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"accettazione"), "{kinds:?}");
    assert!(
        kinds.iter().any(|k| k.starts_with("avvenuta-consegna")),
        "{kinds:?}"
    );

    // Each receipt downloads as the .eml the box holds.
    for r in after["receipts"].as_array().unwrap() {
        let res = get(&web, &format!("{location}/receipts/{}", r["n"]), &k).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "message/rfc822");
        let eml = res.text().await.unwrap();
        assert!(
            eml.contains("X-Ricevuta: ") && eml.contains("Delibera n. 7"),
            "{eml}"
        );
    }
    let n = after["receipts"].as_array().unwrap().len();
    for bad in [0, n + 1] {
        let res = get(&web, &format!("{location}/receipts/{bad}"), &k).await;
        assert_eq!(error_of(res).await.0, StatusCode::NOT_FOUND);
    }
    let bundle = get(&web, &format!("{location}/bundle"), &k).await;
    assert_eq!(bundle.status(), StatusCode::OK);
    assert_eq!(bundle.headers()[header::CONTENT_TYPE], "application/zip");
    let zip = bundle.bytes().await.unwrap();
    assert!(zip.starts_with(b"PK\x03\x04"));

    // Anna got the busta with the attachment.
    let inbox = g[1].engine.store().messages(ANNA, "INBOX").await.unwrap();
    let busta = inbox
        .iter()
        .find(|m| m.identificativo.as_deref() == Some(id.as_str()))
        .unwrap();
    let raw =
        String::from_utf8_lossy(&g[1].engine.store().get(&busta.blob).await.unwrap()).to_string();
    assert!(raw.contains("delibera.txt") && raw.contains("Delibera n. 7"));

    // The same as multipart, with a file part and recipients separated by commas.
    let form = reqwest::multipart::Form::new()
        .text("to", format!("{ANNA}, {ANNA_UNO}"))
        .text("subject", "Protocollo 12")
        .text("text", "Vedi allegato.")
        .text("receipt_type", "sintetica")
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(b"%PDF-1.4 finto".to_vec())
                .file_name("atto.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let res = req(&web, Method::POST, "/api/v1/messages", Some(&k))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, sent) = json_of(res).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let id2 = sent["identificativo"].as_str().unwrap();
    relay_all(&g).await;
    let (_, after) = json_of(get(&web, &format!("/api/v1/sent/{id2}"), &k).await).await;
    let states: Vec<&str> = after["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["consegnata", "consegnata"], "{after}");
    let local = g[0]
        .engine
        .store()
        .messages(ANNA_UNO, "INBOX")
        .await
        .unwrap();
    let raw = g[0]
        .engine
        .store()
        .get(&local.last().unwrap().blob)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&raw).contains("atto.pdf"));

    // The list shows the receipts, paged by UID.
    let (_, page) = json_of(get(&web, "/api/v1/messages?folder=INBOX&limit=1", &k).await).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
    let first = &page["messages"][0];
    assert_eq!(first["kind"], "accettazione", "{page}");
    let next = page["next_since_uid"].as_u64().unwrap();
    let (_, rest) = json_of(
        get(
            &web,
            &format!("/api/v1/messages?folder=INBOX&since_uid={next}&limit=1000"),
            &k,
        )
        .await,
    )
    .await;
    assert!(
        rest["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["uid"].as_u64().unwrap() > next)
    );
    assert!(rest["next_since_uid"].is_null());
    let uid = first["uid"].as_u64().unwrap();
    let (_, meta) = json_of(get(&web, &format!("/api/v1/messages/INBOX/{uid}"), &k).await).await;
    assert_eq!(meta["identificativo"], id.as_str());
    let raw = get(&web, &format!("/api/v1/messages/INBOX/{uid}/raw"), &k).await;
    assert_eq!(raw.headers()[header::CONTENT_TYPE], "message/rfc822");
    assert!(
        raw.text()
            .await
            .unwrap()
            .contains("X-Ricevuta: accettazione")
    );
}

#[tokio::test]
async fn a_repeat_with_the_same_idempotency_key_sends_nothing() {
    let (g, _clock) = network().await;
    let web = Web::start(g[0].engine.clone()).await;
    let k = key(&g[0].engine, MARIO).await;
    let body = json!({"to": [ANNA], "subject": "Una volta sola", "text": "."});
    let (s1, first) =
        json_of(send_json(&web, &k, body.clone(), Some("prot-2026-000123")).await).await;
    assert_eq!(s1, StatusCode::CREATED);
    let (s2, again) =
        json_of(send_json(&web, &k, body.clone(), Some("prot-2026-000123")).await).await;
    assert_eq!(s2, StatusCode::OK);
    assert_eq!(first, again);
    let sent = g[0]
        .engine
        .store()
        .messages(MARIO, store::SENT)
        .await
        .unwrap();
    assert_eq!(sent.len(), 1);
    // Another key sends again; the key is the box's, not global.
    let (s3, other) =
        json_of(send_json(&web, &k, body.clone(), Some("prot-2026-000124")).await).await;
    assert_eq!(s3, StatusCode::CREATED);
    assert_ne!(other["identificativo"], first["identificativo"]);
    let anna = key(&g[0].engine, ANNA_UNO).await;
    let (s4, _) = json_of(
        send_json(
            &web,
            &anna,
            json!({"to": [MARIO], "subject": "x"}),
            Some("prot-2026-000123"),
        )
        .await,
    )
    .await;
    assert_eq!(s4, StatusCode::CREATED);
    let bad = send_json(&web, &k, body, Some("due parole")).await;
    assert_eq!(error_of(bad).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_idempotency_key_reused_for_another_message_is_refused_in_the_client_s_language() {
    let (g, _clock) = network().await;
    let web = Web::start(g[0].engine.clone()).await;
    let k = key(&g[0].engine, MARIO).await;
    let send = |body: Value, lang: Option<&'static str>| {
        let mut r = req(&web, Method::POST, "/api/v1/messages", Some(&k))
            .header("Idempotency-Key", "prot-2026-000007")
            .json(&body);
        if let Some(lang) = lang {
            r = r.header(header::ACCEPT_LANGUAGE, lang);
        }
        r.send()
    };
    let first = json!({"to": [ANNA], "subject": "Delibera 7", "text": "Testo."});
    let (status, sent) = json_of(send(first, None).await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");

    // The same message, written another way (JSON key order, defaults spelled out, as a
    // form), is a repeat: the first outcome, nothing sent.
    let same = json!({"text": "Testo.", "cc": [], "subject": "Delibera 7", "to": [ANNA],
        "receipt_type": "completa"});
    let (status, again) = json_of(send(same, None).await.unwrap()).await;
    assert_eq!((status, &again), (StatusCode::OK, &sent));
    let form = reqwest::multipart::Form::new()
        .text("to", ANNA)
        .text("subject", "Delibera 7")
        .text("text", "Testo.");
    let res = req(&web, Method::POST, "/api/v1/messages", Some(&k))
        .header("Idempotency-Key", "prot-2026-000007")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res).await, (StatusCode::OK, sent.clone()));

    // Another message under the same key is refused, in the client's language.
    for (lang, words) in [(None, "chiave"), (Some("en-GB,en;q=0.9"), "key")] {
        let other = json!({"to": [ANNA], "subject": "Delibera 8", "text": "Testo."});
        let (status, v) = json_of(send(other, lang).await.unwrap()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(v["code"], "idempotency_key_reused", "{v}");
        assert!(v["message"].as_str().unwrap().contains(words), "{v}");
    }
    let sent = g[0]
        .engine
        .store()
        .messages(MARIO, store::SENT)
        .await
        .unwrap();
    assert_eq!(sent.len(), 1, "nothing but the first was sent");
}

#[tokio::test]
async fn bad_requests_get_json_errors_never_html() {
    let (g, _clock) = network().await;
    let web = Web::start(g[0].engine.clone()).await;
    let k = key(&g[0].engine, MARIO).await;
    let post = |body: &'static str, ct: &'static str| {
        req(&web, Method::POST, "/api/v1/messages", Some(&k))
            .header(header::CONTENT_TYPE, ct)
            .body(body)
            .send()
    };
    let cases: Vec<(Response, StatusCode, &str)> = vec![
        (post("{\"to\": [", "application/json").await.unwrap(), StatusCode::BAD_REQUEST, "bad_request"),
        (post("to=x", "text/plain").await.unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (post("{\"subject\": \"x\"}", "application/json").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (post("{\"to\": [\"a@b.it\"], \"subject\": \"x\", \"receipt_type\": \"lunga\"}", "application/json").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (post("{\"to\": [\"a@b.it\"], \"subject\": \"x\", \"attachments\": [{\"filename\": \"a\", \"content_base64\": \"***\"}]}", "application/json").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (post("{\"to\": [\"non un indirizzo\"], \"subject\": \"x\"}", "application/json").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (post("--x\r\n", "multipart/form-data; boundary=x").await.unwrap(), StatusCode::BAD_REQUEST, "bad_request"),
        (get(&web, "/api/v1/messages/INBOX/dodici", &k).await, StatusCode::BAD_REQUEST, "bad_request"),
        (get(&web, "/api/v1/messages/INBOX/-1", &k).await, StatusCode::BAD_REQUEST, "bad_request"),
        (get(&web, "/api/v1/messages/INBOX/-1/raw", &k).await, StatusCode::BAD_REQUEST, "bad_request"),
        (get(&web, "/api/v1/sent/x/receipts/-1", &k).await, StatusCode::BAD_REQUEST, "bad_request"),
        (get(&web, "/api/v1/messages?limit=-1", &k).await, StatusCode::BAD_REQUEST, "bad_request"),
        (get(&web, "/api/v1/messages/Nessuna/1", &k).await, StatusCode::NOT_FOUND, "not_found"),
        (get(&web, "/api/v1/messages?since_uid=-1", &k).await, StatusCode::BAD_REQUEST, "bad_request"),
        (get(&web, "/api/v1/nessuna/rotta", &k).await, StatusCode::NOT_FOUND, "not_found"),
        (req(&web, Method::PUT, "/api/v1/messages", Some(&k)).send().await.unwrap(), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (req(&web, Method::POST, "/api/v1/webhooks", Some(&k)).json(&json!({"url": "http://example.org/h"})).send().await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (req(&web, Method::DELETE, "/api/v1/webhooks/x", Some(&k)).send().await.unwrap(), StatusCode::BAD_REQUEST, "bad_request"),
    ];
    for (i, (res, status, code)) in cases.into_iter().enumerate() {
        assert_eq!(error_of(res).await, (status, code.to_string()), "case {i}");
    }
    // Nothing of that was sent.
    assert!(
        g[0].engine
            .store()
            .messages(MARIO, store::SENT)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn every_route_with_another_box_s_key_finds_nothing() {
    let (g, _clock) = network().await;
    let web = Web::start(g[0].engine.clone()).await;
    let anna = key(&g[0].engine, ANNA_UNO).await;
    let mario = key(&g[0].engine, MARIO).await;
    g[0].engine
        .store()
        .create_folder(ANNA_UNO, "Riservata", 0)
        .await
        .unwrap();
    let (_, sent) = json_of(
        send_json(
            &web,
            &anna,
            json!({"to": [ANNA], "subject": "Riservato"}),
            None,
        )
        .await,
    )
    .await;
    let id = sent["identificativo"].as_str().unwrap();
    relay_all(&g).await;
    let (_, hook) = json_of(
        req(&web, Method::POST, "/api/v1/webhooks", Some(&anna))
            .json(&json!({"url": "https://203.0.113.7/hook"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let hook_id = hook["id"].as_i64().unwrap();
    let anna_uid = g[0]
        .engine
        .store()
        .messages(ANNA_UNO, "INBOX")
        .await
        .unwrap()[0]
        .uid;

    // Mario's INBOX is empty: Anna's UIDs name nothing in his box.
    assert!(
        g[0].engine
            .store()
            .messages(MARIO, "INBOX")
            .await
            .unwrap()
            .is_empty()
    );
    let not_found = [
        "/api/v1/messages?folder=Riservata".to_string(),
        format!("/api/v1/messages/INBOX/{anna_uid}"),
        format!("/api/v1/messages/INBOX/{anna_uid}/raw"),
        format!("/api/v1/sent/{id}"),
        format!("/api/v1/sent/{id}/receipts/1"),
        format!("/api/v1/sent/{id}/bundle"),
    ];
    for path in &not_found {
        assert_eq!(
            get(&web, path, &anna).await.status(),
            StatusCode::OK,
            "{path}"
        );
        let res = get(&web, path, &mario).await;
        assert_eq!(error_of(res).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    let (_, list) = json_of(get(&web, "/api/v1/webhooks", &mario).await).await;
    assert_eq!(list, json!([]));
    let del = req(
        &web,
        Method::DELETE,
        &format!("/api/v1/webhooks/{hook_id}"),
        Some(&mario),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(error_of(del).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        g[0].engine.store().webhooks(ANNA_UNO).await.unwrap().len(),
        1
    );
    let (_, list) = json_of(get(&web, "/api/v1/webhooks", &anna).await).await;
    assert_eq!(list[0]["id"], hook_id);
    assert!(list[0].get("secret").is_none(), "{list}");
    let del = req(
        &web,
        Method::DELETE,
        &format!("/api/v1/webhooks/{hook_id}"),
        Some(&anna),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    // A key of the other provider opens nothing here.
    let due = key(&g[1].engine, ANNA).await;
    assert_eq!(
        get(&web, "/api/v1/messages", &due).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// What the receiver got: (headers lowercased, body).
type Ricevuti = Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;

/// The operator's rule of the providers whose webhooks go to the receivers started here:
/// loopback allowed.
fn loopback() -> Destinazioni {
    Destinazioni {
        ammesse: vec!["127.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()],
        vietate: Vec::new(),
    }
}

/// A door whose webhooks may go to loopback.
async fn web_loopback(e: &Arc<Engine>) -> Web {
    let mut config = web::WebConfig::new("https://localhost");
    config.webhook = loopback();
    Web::start_with(web::WebState::new(e.clone(), config)).await
}

/// A listener on loopback: its port, and how many requests it read.
async fn listener() -> (tokio::net::TcpListener, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Reads one HTTP/1.1 request: its headers (lowercased) and its body.
async fn request(s: &mut tokio::net::TcpStream) -> (Vec<(String, String)>, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "request cut short");
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let headers: Vec<(String, String)> = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        while buf.len() < end + 4 + len {
            let n = s.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
        }
        return (headers, buf[end + 4..end + 4 + len].to_vec());
    }
}

/// A plain-HTTP receiver on loopback that answers 500 to its first `failures` requests and
/// 200 after, so that the test sees the retries; it keeps what it answered 200 to.
async fn receiver(failures: usize) -> (String, Ricevuti) {
    let (listener, port) = listener().await;
    let url = format!("http://127.0.0.1:{port}/pec");
    let got: Ricevuti = Arc::default();
    let seen = got.clone();
    tokio::spawn(async move {
        let mut failures = failures;
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let (head, body) = request(&mut s).await;
            let status = if failures > 0 {
                failures -= 1;
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            if status.starts_with("200") {
                seen.lock().unwrap().push((head, body));
            }
            let _ = s
                .write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
        }
    });
    (url, got)
}

/// `sha256=<hex HMAC-SHA256(secret, timestamp.body)>`, computed by the `openssl` CLI.
fn openssl_hmac(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret, "-r"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl CLI");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(timestamp.as_bytes()).unwrap();
    stdin.write_all(b".").unwrap();
    stdin.write_all(body).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hex = String::from_utf8(out.stdout).unwrap();
    format!("sha256={}", hex.split_whitespace().next().unwrap())
}

/// Waits (20 s at most) until the receiver took `n` posts, moving the clock 2 s on every
/// 200 ms so that retries come due.
async fn wait_for_posts(got: &Ricevuti, n: usize, clock: &engine::clock::ManualClock) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while got.lock().unwrap().len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            got.lock().unwrap().len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        clock.advance(jiff::SignedDuration::from_secs(2));
    }
}

#[tokio::test]
async fn receipts_and_buste_are_posted_signed_to_the_webhooks_once() {
    let (g, clock) = network().await;
    let (uno, due): (&Gestore, &Gestore) = (&g[0], &g[1]);
    let web_uno = web_loopback(&uno.engine).await;
    let web_due = web_loopback(&due.engine).await;
    let (url, got) = receiver(1).await;
    let mario = key(&uno.engine, MARIO).await;
    let anna = key(&due.engine, ANNA).await;
    let mut secrets = Vec::new();
    for (web, k) in [(&web_uno, &mario), (&web_due, &anna)] {
        let res = req(web, Method::POST, "/api/v1/webhooks", Some(k))
            .json(&json!({"url": url}))
            .send()
            .await
            .unwrap();
        let (status, hook) = json_of(res).await;
        assert_eq!(status, StatusCode::CREATED, "{hook}");
        secrets.push(hook["secret"].as_str().unwrap().to_string());
    }
    for e in [&uno.engine, &due.engine] {
        tokio::spawn(web::api::webhook::avvia(
            e.clone(),
            loopback(),
            std::future::pending(),
        ));
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let (_, sent) = json_of(
        send_json(
            &web_uno,
            &mario,
            json!({"to": [ANNA], "subject": "Avviso"}),
            None,
        )
        .await,
    )
    .await;
    let id = sent["identificativo"].as_str().unwrap().to_string();
    relay_all(&g).await;
    // accettazione and avvenuta consegna to Mario, the busta to Anna; the first try fails
    // and is retried once the clock passes its pause.
    wait_for_posts(&got, 3, &clock).await;
    // Later changes (a flag, another message elsewhere) announce nothing again.
    uno.engine.mailbox_changed(MARIO);
    due.engine.mailbox_changed(ANNA);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "{got:?}");
    let mut seen = Vec::new();
    for (headers, body) in &got {
        let h = |name: &str| headers.iter().find(|(k, _)| k == name).unwrap().1.clone();
        let event: Value = serde_json::from_slice(body).unwrap();
        let secret = if event["mailbox"] == MARIO {
            &secrets[0]
        } else {
            &secrets[1]
        };
        assert_eq!(
            h("x-pecora-signature"),
            openssl_hmac(secret, &h("x-pecora-timestamp"), body)
        );
        assert_ne!(
            h("x-pecora-signature"),
            openssl_hmac("altro", &h("x-pecora-timestamp"), body)
        );
        assert_eq!(h("content-type"), "application/json");
        assert_eq!(event["identificativo"], id.as_str());
        seen.push(format!(
            "{} {} {}",
            event["mailbox"].as_str().unwrap(),
            event["event"].as_str().unwrap(),
            event["kind"].as_str().unwrap()
        ));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            format!("{ANNA} busta posta-certificata"),
            format!("{MARIO} ricevuta accettazione"),
            format!("{MARIO} ricevuta avvenuta-consegna-completa"),
        ],
        "{got:?}"
    );
}

#[tokio::test]
async fn webhook_events_wait_for_a_dispatcher_and_are_retried_until_delivered_once() {
    let (g, clock) = network().await;
    let uno = &g[0];
    let web = web_loopback(&uno.engine).await;
    // The first two posts fail: each event needs a retry, or nothing ever arrives.
    let (url, got) = receiver(2).await;
    let mario = key(&uno.engine, MARIO).await;
    let res = req(&web, Method::POST, "/api/v1/webhooks", Some(&mario))
        .json(&json!({"url": url}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    // A dispatcher runs and stops before anything is sent.
    let dispatcher = |stopped: tokio::sync::oneshot::Receiver<()>| {
        tokio::spawn(web::api::webhook::avvia(
            uno.engine.clone(),
            loopback(),
            async {
                let _ = stopped.await;
            },
        ))
    };
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let first = dispatcher(stopped);
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), first)
        .await
        .expect("the dispatcher stops")
        .unwrap();

    let (_, sent) = json_of(
        send_json(
            &web,
            &mario,
            json!({"to": [ANNA], "subject": "Avviso"}),
            None,
        )
        .await,
    )
    .await;
    let id = sent["identificativo"].as_str().unwrap().to_string();
    relay_all(&g).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        got.lock().unwrap().is_empty(),
        "nobody posts without a dispatcher"
    );

    // The receipts delivered meanwhile are posted once a dispatcher starts.
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let second = dispatcher(stopped);
    wait_for_posts(&got, 2, &clock).await;
    // Retries spent, leases expired, new changes: nothing is posted again.
    for _ in 0..10 {
        clock.advance(jiff::SignedDuration::from_secs(120));
        uno.engine.mailbox_changed(MARIO);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    stop.send(()).unwrap();
    second.await.unwrap();
    let got = got.lock().unwrap().clone();
    let mut seen: Vec<(String, u64, String)> = got
        .iter()
        .map(|(_, body)| {
            let event: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(event["mailbox"], MARIO);
            assert_eq!(event["identificativo"], id.as_str());
            (
                event["folder"].as_str().unwrap().to_string(),
                event["uid"].as_u64().unwrap(),
                event["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    let mut kinds: Vec<&str> = seen.iter().map(|(_, _, k)| k.as_str()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["accettazione", "avvenuta-consegna-completa"],
        "{seen:?}"
    );
    seen.dedup_by(|a, b| (&a.0, a.1) == (&b.0, b.1));
    assert_eq!(seen.len(), 2, "two messages, each posted once: {got:?}");
}

/// A listener on loopback that answers every request `307 Temporary Redirect` to
/// `location`; its URL, and how many requests it answered.
async fn redirector(location: String) -> (String, Arc<AtomicUsize>) {
    let (listener, port) = listener().await;
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            request(&mut s).await;
            counted.fetch_add(1, Ordering::SeqCst);
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\n\
                 content-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = s.write_all(answer.as_bytes()).await;
        }
    });
    (format!("http://127.0.0.1:{port}/pec"), hits)
}

/// A listener on loopback that only counts the connections it gets; its port.
async fn trap() -> (u16, Arc<AtomicUsize>) {
    let (listener, port) = listener().await;
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, hits)
}

/// Mario sends Anna a PEC and the network relays it: his accettazione and avvenuta
/// consegna are delivered into his box, two events for each of his webhooks.
async fn two_receipts(g: &[Gestore], web: &Web, mario: &str) {
    let res = send_json(web, mario, json!({"to": [ANNA], "subject": "Avviso"}), None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    relay_all(g).await;
}

#[tokio::test]
async fn a_webhook_answering_with_a_redirect_fails_and_the_redirect_is_never_followed() {
    let (g, clock) = network().await;
    let uno = &g[0].engine;
    let web = web_loopback(uno).await;
    let (trap_port, trap_hits) = trap().await;
    let (url, hits) = redirector(format!("http://127.0.0.1:{trap_port}/altrove")).await;
    let mario = key(uno, MARIO).await;
    let res = req(&web, Method::POST, "/api/v1/webhooks", Some(&mario))
        .json(&json!({"url": url}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    tokio::spawn(web::api::webhook::avvia(
        uno.clone(),
        loopback(),
        std::future::pending(),
    ));
    two_receipts(&g, &web, &mario).await;
    // Both events posted, failed, and posted again once their pause is over.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while hits.load(Ordering::SeqCst) < 4 {
        assert!(std::time::Instant::now() < deadline, "{hits:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        clock.advance(jiff::SignedDuration::from_secs(2));
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        trap_hits.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}

#[tokio::test]
async fn a_webhook_to_a_denied_address_is_refused_at_creation_and_at_delivery() {
    let (g, clock) = network().await;
    let uno = &g[0].engine;
    let (url, got) = receiver(0).await;
    let port = url.split(':').nth(2).unwrap().split('/').next().unwrap();
    let by_name = format!("http://localhost:{port}/pec");
    let mario = key(uno, MARIO).await;
    let create = |web: &Web, url: &str| {
        req(web, Method::POST, "/api/v1/webhooks", Some(&mario))
            .json(&json!({"url": url}))
            .send()
    };

    // By default neither loopback, by address or by a name that resolves to it, nor the
    // provider's networks, nor what hides them behind IPv6.
    let web = Web::start(uno.clone()).await;
    for denied in [
        url.as_str(),
        by_name.as_str(),
        "https://10.0.0.1/hook",
        "https://[::ffff:169.254.169.254]/latest/meta-data",
        "https://[fd00::1]/hook",
        "https://0.0.0.0/hook",
    ] {
        let (status, v) = json_of(create(&web, denied).await.unwrap()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{denied}: {v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("does not post webhooks to"),
            "{denied}: {v}"
        );
    }
    assert!(uno.store().webhooks(MARIO).await.unwrap().is_empty());

    // Webhooks made while the operator allowed loopback, delivered after it stopped: the
    // dispatcher checks again, by address and by name, and posts nothing.
    let allowing = web_loopback(uno).await;
    for allowed in [&url, &by_name] {
        let res = create(&allowing, allowed).await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{allowed}");
    }
    tokio::spawn(web::api::webhook::avvia(
        uno.clone(),
        Destinazioni::default(),
        std::future::pending(),
    ));
    two_receipts(&g, &web, &mario).await;
    for _ in 0..10 {
        clock.advance(jiff::SignedDuration::from_secs(120));
        uno.mailbox_changed(MARIO);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let posted = got.lock().unwrap().len();
    assert_eq!(posted, 0, "posts reached a denied address");
    let now = uno.clock().now().timestamp().as_second();
    assert!(
        uno.store()
            .claim_webhook_events(now, now, 10)
            .await
            .unwrap()
            .is_empty(),
        "every try spent"
    );
}

#[tokio::test]
async fn the_holder_creates_and_revokes_keys_on_the_settings_page() {
    let (g, _clock) = network().await;
    let web = Web::start(g[0].engine.clone()).await;
    let mut b = web.login(MARIO, "password1").await;
    let page = web.page(&mut b, "/impostazioni/api").await;
    assert!(page.contains("data-testid=\"api-keys-empty\""), "{page}");
    let csrf = support::csrf_of(&page);
    // Without the session's token nothing is made.
    let forged = web
        .post(
            &mut b,
            "/impostazioni/api",
            &[("csrf", "x"), ("etichetta", "Titulus")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let empty = web
        .post(
            &mut b,
            "/impostazioni/api",
            &[("csrf", &csrf), ("etichetta", "  ")],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(empty.contains("data-testid=\"api-key-error\""), "{empty}");
    let made = web
        .post(
            &mut b,
            "/impostazioni/api",
            &[("csrf", &csrf), ("etichetta", "Titulus")],
        )
        .await;
    assert_eq!(made.status(), StatusCode::OK);
    let made = made.text().await.unwrap();
    let at = made.find("data-testid=\"api-key-value\">").unwrap() + 28;
    let k = made[at..].split('<').next().unwrap().to_string();
    assert!(k.starts_with("pk_") && k.len() == 67, "{k}");
    assert_eq!(
        get(&web, "/api/v1/messages", &k).await.status(),
        StatusCode::OK
    );
    // Shown once: the list no longer has it.
    let again = web.page(&mut b, "/impostazioni/api").await;
    assert!(again.contains("Titulus") && !again.contains(&k), "{again}");

    let id = g[0].engine.store().api_keys(MARIO).await.unwrap()[0]
        .id
        .to_string();
    let res = web
        .post(
            &mut b,
            "/impostazioni/api/revoca",
            &[("csrf", &csrf), ("id", &id)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        get(&web, "/api/v1/messages", &k).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let after = web.page(&mut b, "/impostazioni/api?revocata=1").await;
    assert!(after.contains("data-testid=\"api-key-notice\""), "{after}");
    // Another box's key id is not found from here.
    let other = key(&g[0].engine, ANNA_UNO).await;
    let anna_id = g[0].engine.store().api_keys(ANNA_UNO).await.unwrap()[0]
        .id
        .to_string();
    let res = web
        .post(
            &mut b,
            "/impostazioni/api/revoca",
            &[("csrf", &csrf), ("id", &anna_id)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        get(&web, "/api/v1/messages", &other).await.status(),
        StatusCode::OK
    );

    // A read-only delegate may not manage keys.
    g[0].engine
        .store()
        .create_delegate(
            &store::NewDelegate {
                login: "lettore@pec.uno.test".into(),
                mailbox: MARIO.into(),
                role: store::DelegateRole::Lettura,
                password_hash: engine::accounts::hash_password("password1").unwrap(),
            },
            0,
        )
        .await
        .unwrap();
    let mut d = web.login("lettore@pec.uno.test", "password1").await;
    let res = web.get(&mut d, "/impostazioni/api", &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
