//! The REST API of `pecora demo`, end to end: keys made and revoked with `pecora admin`,
//! the OpenAPI document checked by `openapi-spec-validator`, and schemathesis run against
//! the live API with a valid key — no 5xx, every answer as the document describes it. Both
//! Python tools come from the virtualenv `scripts/test` makes in `.tools/venv`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::*;

/// A tool of the local virtualenv; fails with how to get it when it is missing.
fn tool(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.tools/venv/bin")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test (it installs schemathesis and openapi-spec-validator \
         into .tools/venv with pip)",
        path.display()
    );
    path
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// curl with a bearer key; (HTTP status, body).
fn curl_api(net: &Net, key: &str, args: &[&str], path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--cacert", &net.ca(), "-w", "\n%{http_code}"])
        .args(["-H", &format!("Authorization: Bearer {key}")])
        .args(args)
        .arg(format!("{}{path}", web_url(net, 0)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_string())
}

/// A new key of `mailbox` on provider 0, from `pecora admin api-key-add`.
fn api_key(net: &Net, mailbox: &str, label: &str) -> String {
    let out = net.admin(0, &["api-key-add", mailbox, "--label", label]);
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("key: "))
        .expect("api-key-add prints the key")
        .to_string()
}

#[test]
fn operator_keys_and_the_openapi_contract_hold_against_the_demo() {
    let validator = tool("openapi-spec-validator");
    let schemathesis = tool("schemathesis");
    let net = Net::start();
    let (mario, _) = net.user(0, 0);
    let key = api_key(&net, &mario, "schemathesis");
    assert!(key.starts_with("pk_"), "{key}");

    // The key works; the operator lists it (never the key) and revokes it.
    let (status, body) = curl_api(&net, &key, &[], "/api/v1/messages");
    assert_eq!(status, 200, "{body}");
    let spare = api_key(&net, &mario, "da revocare");
    let list = stdout(&net.admin(0, &["api-key-list", &mario]));
    assert!(
        list.contains("schemathesis") && list.contains("da revocare"),
        "{list}"
    );
    assert!(!list.contains(&key) && !list.contains(&spare), "{list}");
    let id = list
        .lines()
        .find(|l| l.contains("da revocare"))
        .and_then(|l| l.split('\t').next())
        .unwrap()
        .to_string();
    net.admin(0, &["api-key-revoke", &mario, &id]);
    let (status, body) = curl_api(&net, &spare, &[], "/api/v1/messages");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"code\":\"unauthorized\""), "{body}");
    let list = stdout(&net.admin(0, &["api-key-list", &mario]));
    assert!(list.contains("revoked"), "{list}");

    // A send through the API, as a protocol system would.
    let (other, _) = net.user(1, 0);
    let body = format!("{{\"to\": [\"{other}\"], \"subject\": \"Prova API\", \"text\": \"ciao\"}}");
    let (status, sent) = curl_api(
        &net,
        &key,
        &["-H", "Content-Type: application/json", "--data", &body],
        "/api/v1/messages",
    );
    assert_eq!(status, 201, "{sent}");
    assert!(sent.contains("\"outcome\":\"accettato\""), "{sent}");

    // The document is valid OpenAPI 3.
    let (status, doc) = curl_api(&net, &key, &[], "/api/openapi.json");
    assert_eq!(status, 200);
    let doc_path = net.file("openapi.json", doc.as_bytes());
    let out = Command::new(&validator).arg(&doc_path).output().unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );

    // schemathesis: generated requests on every operation, no 5xx, conforming answers.
    let out = Command::new(&schemathesis)
        .args(["run", &format!("{}/api/openapi.json", web_url(&net, 0))])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args(["--tls-verify", &net.ca()])
        .args(["--max-examples", "20", "--seed", "1"])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,content_type_conformance",
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "schemathesis: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_holder_creates_and_revokes_a_key_in_the_browser() {
    let net = Net::start();
    let (mario, password) = net.user(0, 0);
    let shots = screenshots("chiavi");
    let shots_dir = shots.to_str().unwrap();
    let base = web_url(&net, 0);
    let seen = browser(
        "chiavi.mjs",
        &["create", &base, &mario, &password, "protocollo", shots_dir],
    );
    assert_eq!(seen["title"], "Chiavi API", "{seen}");
    assert_eq!(seen["emptyBefore"], true, "{seen}");
    assert_eq!(
        seen["blankRefused"],
        "Scrivi un'etichetta (da 1 a 100 caratteri) per riconoscere la chiave.",
        "{seen}"
    );
    assert_eq!(seen["blankMadeKey"], 0, "{seen}");
    let key = seen["key"].as_str().unwrap();
    assert!(key.starts_with("pk_"), "{seen}");
    assert_eq!(seen["row"][0], "protocollo", "{seen}");
    assert_eq!(seen["row"][2], "attiva", "{seen}");
    assert_eq!(seen["shownAgain"], false, "the key is shown once: {seen}");
    assert_eq!(seen["newSectionAgain"], 0, "{seen}");

    // The key opens the API; the operator lists it, with the label the holder gave.
    let (status, body) = curl_api(&net, key, &[], "/api/v1/messages");
    assert_eq!(status, 200, "{body}");
    let list = stdout(&net.admin(0, &["api-key-list", &mario]));
    assert!(list.contains("protocollo") && !list.contains(key), "{list}");

    let id = seen["id"].as_str().unwrap();
    let seen = browser(
        "chiavi.mjs",
        &["revoke", &base, &mario, &password, id, shots_dir],
    );
    assert_eq!(seen["url"], "/impostazioni/api", "{seen}");
    assert_eq!(seen["notice"], "Chiave revocata.", "{seen}");
    assert_eq!(seen["row"][2], "revocata", "{seen}");
    assert_eq!(seen["revokeButtons"], 0, "{seen}");

    let (status, body) = curl_api(&net, key, &[], "/api/v1/messages");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"code\":\"unauthorized\""), "{body}");
    for step in [
        "1-nessuna-chiave",
        "2-etichetta-vuota",
        "3-chiave-creata",
        "4-chiave-non-piu-mostrata",
        "5-chiave-revocata",
    ] {
        assert!(shots.join(format!("{step}.png")).exists(), "{step}.png");
    }
}
