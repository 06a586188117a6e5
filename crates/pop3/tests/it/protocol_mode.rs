//! Protocol-system mode (seed 000, Titulus): what the box's integration account downloads
//! leaves INBOX, once its session ends with QUIT; the holder's own downloads do not.

use serde_json::json;
use store::DelegateRole;

use crate::support::{ACCETTAZIONE, BUSTA_CRLF, BUSTA_LF, HOLDER, PASSWORD, Provider, poplib};

const PROTOCOLLO: &str = "protocollo.rossi";

#[tokio::test]
async fn what_the_protocol_account_retrieves_leaves_the_holders_inbox() {
    let p = Provider::new().await;
    for fixture in [BUSTA_CRLF, ACCETTAZIONE, BUSTA_LF] {
        p.deliver(HOLDER, fixture).await;
    }
    p.delegate(PROTOCOLLO, DelegateRole::Lettura).await;
    p.store
        .set_protocol_account(HOLDER, Some(PROTOCOLLO))
        .await
        .expect("protocol account");
    let uids: Vec<u32> = p.inbox(HOLDER).await.iter().map(|m| m.uid).collect();
    let server = p.serve(p.config_implicit()).await;

    // The holder reads message 1: it stays (and is \Seen).
    let out = poplib(
        &p,
        &server,
        "ssl",
        json!([["user", HOLDER, PASSWORD], ["retr", 1], ["quit"]]),
    )
    .await;
    assert!(out.iter().all(|o| o.get("ok").is_some()), "{out:?}");
    assert_eq!(p.inbox(HOLDER).await.len(), 3);

    // The protocol account reads message 2; until its QUIT nothing moves.
    let mut c = p.login(&server, PROTOCOLLO).await;
    assert!(c.command("RETR 2").await.starts_with("+OK"));
    c.body().await;
    assert_eq!(
        p.inbox(HOLDER).await.len(),
        3,
        "a read left INBOX before QUIT"
    );
    assert!(c.command("QUIT").await.starts_with("+OK"));
    let left: Vec<u32> = p.inbox(HOLDER).await.iter().map(|m| m.uid).collect();
    assert_eq!(left, [uids[0], uids[2]]);

    // A new session of the holder no longer sees it.
    let out = poplib(
        &p,
        &server,
        "ssl",
        json!([["user", HOLDER, PASSWORD], ["stat"], ["uidl"], ["quit"]]),
    )
    .await;
    assert_eq!(out[1]["ok"][0], json!(2));
    let ids = out[2]["ok"]["lines"].as_array().unwrap();
    assert!(ids[0].as_str().unwrap().ends_with(&format!(".{}", uids[0])));
    assert!(ids[1].as_str().unwrap().ends_with(&format!(".{}", uids[2])));
}
