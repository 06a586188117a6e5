//! Python's poplib against the server, on real PEC messages: pop3s and STLS, USER/PASS and
//! AUTH PLAIN, the listings, TOP and RETR byte for byte, DELE with RSET and with QUIT, and
//! unique-ids that survive the session.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use engine::INBOX;
use serde_json::{Value, json};

use crate::support::{
    ACCETTAZIONE, BUSTA_CRLF, BUSTA_DOTS, BUSTA_LF, HOLDER, PASSWORD, Provider, as_retrieved,
    poplib,
};

fn body(outcome: &Value) -> Vec<u8> {
    let encoded = outcome["ok"]["body"].as_str().expect("a message body");
    BASE64.decode(encoded).expect("base64 body")
}

fn ok(outcome: &Value) -> &Value {
    assert!(outcome.get("error").is_none(), "unexpected -ERR: {outcome}");
    &outcome["ok"]
}

#[tokio::test]
async fn pop3s_lists_and_retrieves_real_pec_messages_byte_for_byte() {
    let p = Provider::new().await;
    let crlf = p.deliver(HOLDER, BUSTA_CRLF).await;
    let dots = p.deliver(HOLDER, BUSTA_DOTS).await;
    let lf = p.deliver(HOLDER, BUSTA_LF).await;
    let server = p.serve(p.config_implicit()).await;
    let uidvalidity = p
        .store
        .folder(HOLDER, INBOX)
        .await
        .unwrap()
        .unwrap()
        .uidvalidity;
    let uids: Vec<u32> = p.inbox(HOLDER).await.iter().map(|m| m.uid).collect();

    let out = poplib(
        &p,
        &server,
        "ssl",
        json!([
            ["capa"],
            ["user", HOLDER, PASSWORD],
            ["stat"],
            ["list"],
            ["list", 2],
            ["uidl"],
            ["uidl", 3],
            ["top", 1, 0],
            ["top", 2, 3],
            ["retr", 1],
            ["retr", 2],
            ["retr", 3],
            ["quit"]
        ]),
    )
    .await;

    let capa = ok(&out[0]);
    for capability in ["TOP", "UIDL", "USER", "SASL", "RESP-CODES", "PIPELINING"] {
        assert!(
            capa.get(capability).is_some(),
            "CAPA lacks {capability}: {capa}"
        );
    }
    assert_eq!(capa["SASL"], json!(["PLAIN"]));
    assert!(
        capa.get("STLS").is_none(),
        "STLS offered inside TLS: {capa}"
    );
    let sizes = [crlf.len(), dots.len(), lf.len()];
    assert_eq!(ok(&out[2]), &json!([3, sizes.iter().sum::<usize>()]));
    let listing: Vec<String> = (1..)
        .zip(sizes)
        .map(|(n, size)| format!("{n} {size}"))
        .collect();
    assert_eq!(ok(&out[3])["lines"], json!(listing));
    assert_eq!(ok(&out[4]), &json!(format!("+OK 2 {}", dots.len())));
    let ids: Vec<String> = (1..)
        .zip(&uids)
        .map(|(n, uid)| format!("{n} {uidvalidity}.{uid}"))
        .collect();
    assert_eq!(ok(&out[5])["lines"], json!(ids));
    assert_eq!(ok(&out[6]), &json!(format!("+OK {}", ids[2])));

    // TOP 1 0: the header section and the blank line that ends it.
    let header_end = crlf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(body(&out[7]), &crlf[..header_end]);
    // TOP 2 3: three body lines more.
    let top = body(&out[8]);
    let full = as_retrieved(&dots);
    assert!(full.starts_with(&top), "TOP is not a prefix of the message");
    let body_part = &top[top.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    assert_eq!(body_part.split(|&b| b == b'\n').count() - 1, 3);

    // RETR: the stored bytes exactly (CRLF as stored; the dot lines survive the stuffing).
    assert_eq!(body(&out[9]), crlf);
    assert_eq!(body(&out[10]), dots);
    // A message stored with bare LF comes out with CRLF, otherwise unchanged.
    assert_eq!(body(&out[11]), as_retrieved(&lf));
    assert!(ok(&out[12]).as_str().unwrap().starts_with("+OK"));

    // QUIT applied the reads: every message is \Seen now, and still there.
    let inbox = p.inbox(HOLDER).await;
    assert_eq!(inbox.len(), 3);
    assert!(inbox.iter().all(|m| m.flags.iter().any(|f| f == "\\Seen")));
}

#[tokio::test]
async fn stls_then_auth_plain_with_and_without_initial_response() {
    let p = Provider::new().await;
    let message = p.deliver(HOLDER, ACCETTAZIONE).await;
    let server = p.serve(p.config()).await;

    let out = poplib(
        &p,
        &server,
        "stls",
        json!([
            ["capa"],
            ["plain", HOLDER, PASSWORD],
            ["stat"],
            ["retr", 1],
            ["quit"]
        ]),
    )
    .await;
    let capa = ok(&out[0]);
    assert!(
        capa.get("STLS").is_none() && capa.get("USER").is_some(),
        "{capa}"
    );
    assert!(ok(&out[1]).as_str().unwrap().starts_with("+OK"));
    assert_eq!(ok(&out[2]), &json!([1, message.len()]));
    assert_eq!(body(&out[3]), message);

    let out = poplib(
        &p,
        &server,
        "stls",
        json!([["plain-continued", HOLDER, PASSWORD], ["stat"], ["quit"]]),
    )
    .await;
    let exchange = ok(&out[0]);
    assert_eq!(exchange[0], json!("+ "));
    assert!(
        exchange[1].as_str().unwrap().starts_with("+OK"),
        "{exchange}"
    );
    assert_eq!(ok(&out[1]), &json!([1, message.len()]));
}

#[tokio::test]
async fn dele_is_undone_by_rset_and_applied_by_quit_and_unique_ids_stay() {
    let p = Provider::new().await;
    for fixture in [BUSTA_CRLF, ACCETTAZIONE, BUSTA_LF] {
        p.deliver(HOLDER, fixture).await;
    }
    let server = p.serve(p.config_implicit()).await;
    let login = json!(["user", HOLDER, PASSWORD]);

    let out = poplib(
        &p,
        &server,
        "ssl",
        json!([
            login,
            ["uidl"],
            ["dele", 2],
            ["stat"],
            ["list", 2],
            ["retr", 2],
            ["rset"],
            ["stat"],
            ["quit"]
        ]),
    )
    .await;
    let ids = ok(&out[1])["lines"].clone();
    assert!(ok(&out[2]).as_str().unwrap().starts_with("+OK"));
    assert_eq!(ok(&out[3])[0], json!(2));
    assert!(
        out[4]["error"].as_str().unwrap().contains("deleted"),
        "{}",
        out[4]
    );
    assert!(
        out[5]["error"].as_str().unwrap().contains("deleted"),
        "{}",
        out[5]
    );
    assert_eq!(ok(&out[7])[0], json!(3));
    assert_eq!(
        p.inbox(HOLDER).await.len(),
        3,
        "RSET then QUIT removed something"
    );

    let out = poplib(
        &p,
        &server,
        "ssl",
        json!([login, ["uidl"], ["dele", 2], ["quit"]]),
    )
    .await;
    assert_eq!(
        ok(&out[1])["lines"],
        ids,
        "unique-ids changed between sessions"
    );
    let inbox = p.inbox(HOLDER).await;
    let ids: Vec<String> = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line.as_str().unwrap().split(' ').nth(1).unwrap().to_owned())
        .collect();
    let uid = |id: &String| id.split('.').nth(1).unwrap().parse::<u32>().unwrap();
    assert_eq!(
        inbox.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [uid(&ids[0]), uid(&ids[2])],
        "QUIT did not remove exactly the deleted message"
    );

    // The survivors keep their unique-ids, renumbered 1 and 2.
    let out = poplib(&p, &server, "ssl", json!([login, ["uidl"], ["quit"]])).await;
    assert_eq!(
        ok(&out[1])["lines"],
        json!([format!("1 {}", ids[0]), format!("2 {}", ids[2])])
    );
}
