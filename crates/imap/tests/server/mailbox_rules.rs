//! The PEC box's own rules as IMAP shows them: the PRO archive is immutable, a `Lettura`
//! delegate only reads (and flags), and in protocol-system mode what the integration account
//! reads leaves INBOX.

use imap_proto::{AttributeValue, Response, ResponseCode};

use crate::support::*;

#[tokio::test]
async fn the_archive_is_readable_and_immutable() {
    let server = Server::start().await;
    let mut client = server.login(MARIO).await;
    let done = client
        .command(&format!("SELECT {ARCHIVE}"))
        .await
        .expect_ok();
    assert_eq!(done.exists(), Some(1));
    let permanent = done
        .untagged
        .iter()
        .find_map(|r| match &r.parsed {
            Some(Response::Data { outcome, .. }) => match &outcome.code {
                Some(ResponseCode::PermanentFlags(f)) => Some(f.clone()),
                _ => None,
            },
            _ => None,
        })
        .expect("PERMANENTFLAGS");
    assert!(!permanent.iter().any(|f| f == "\\Deleted"), "{permanent:?}");
    let done = client.command("FETCH 1 (BODY[] FLAGS)").await.expect_ok();
    assert!(done.fetches()[0].1.iter().any(|a| matches!(a, AttributeValue::BodySection { data: Some(d), .. } if d.as_ref() == fixture(BUSTA_LF).as_slice())));

    let refused = client
        .command("STORE 1 +FLAGS (\\Deleted)")
        .await
        .expect_no("[CANNOT]");
    assert!(refused.text().contains("Archivio"), "{}", refused.text());
    client
        .command("STORE 1 +FLAGS (\\Flagged)")
        .await
        .expect_ok();
    client.command("EXPUNGE").await.expect_no("[CANNOT]");
    client.command("MOVE 1 INBOX").await.expect_no("[CANNOT]");
    client
        .command("UID MOVE 1 INBOX")
        .await
        .expect_no("[CANNOT]");
    client.command("COPY 1 Trash").await.expect_ok();
    client.command("SELECT INBOX").await.expect_ok();
    client
        .command(&format!("COPY 1 {ARCHIVE}"))
        .await
        .expect_no("[CANNOT]");
    client
        .command(&format!("MOVE 1 {ARCHIVE}"))
        .await
        .expect_no("[CANNOT]");
    client
        .command(&format!("APPEND {ARCHIVE} {{1+}}\r\nx"))
        .await
        .expect_no("[CANNOT]");
    for command in [
        format!("DELETE {ARCHIVE}"),
        "DELETE Archivio".to_owned(),
        format!("RENAME {ARCHIVE} Vecchio"),
        "RENAME Sent Archivio/2026/12".to_owned(),
        "CREATE Archivio/2027".to_owned(),
    ] {
        let done = client.command(&command).await.expect_no("[CANNOT]");
        assert!(
            done.text().contains("rchivio"),
            "{command}: {}",
            done.text()
        );
    }
    client
        .command("SELECT Archivio")
        .await
        .expect_no("[NONEXISTENT]");
    let kept = server.store.messages(MARIO, ARCHIVE).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].flags.contains(&"\\Flagged".to_owned()));
}

#[tokio::test]
async fn a_reading_delegate_reads_and_flags_only() {
    let server = Server::start().await;
    let mut client = server.login(LETTORE).await;
    client.command("SELECT INBOX").await.expect_ok();
    client.command("FETCH 1 BODY[]").await.expect_ok();
    assert_eq!(
        client.command("SEARCH SEEN").await.expect_ok().search(),
        [1]
    );
    client
        .command("STORE 1 +FLAGS (\\Flagged)")
        .await
        .expect_ok();
    for command in [
        "STORE 1 +FLAGS (\\Deleted)",
        "STORE 1 FLAGS (\\Deleted \\Seen)",
        "EXPUNGE",
        "UID EXPUNGE 1",
        "MOVE 1 Trash",
        "COPY 1 Trash",
        "CREATE Nuova",
        "DELETE Trash",
        "RENAME Trash Cestino",
        "APPEND Drafts {1+}\r\nx",
    ] {
        let done = client.command(command).await.expect_no("[NOPERM]");
        assert!(
            done.text().contains("Permesso negato"),
            "{command}: {}",
            done.text()
        );
    }
    assert_eq!(
        server.store.messages(MARIO, "INBOX").await.unwrap().len(),
        3
    );
    assert!(
        server
            .store
            .messages(MARIO, "Trash")
            .await
            .unwrap()
            .is_empty()
    );

    // A Gestione delegate manages the box like its holder.
    let mut client = server.login(GESTORE).await;
    client.command("SELECT INBOX").await.expect_ok();
    client
        .command("STORE 3 +FLAGS (\\Deleted)")
        .await
        .expect_ok();
    assert_eq!(client.command("EXPUNGE").await.expect_ok().expunges(), [3]);
    client.command("APPEND Drafts {1+}\r\nx").await.expect_ok();
}

#[tokio::test]
async fn what_the_protocol_account_reads_leaves_inbox() {
    let server = Server::start().await;
    for name in [BUSTA, ACCETTAZIONE, CONSEGNA] {
        server.deliver(ENTE, "INBOX", &fixture(name)).await;
    }
    // The holder reading changes nothing.
    let mut holder = server.login(ENTE).await;
    holder.command("SELECT INBOX").await.expect_ok();
    holder.command("FETCH 1 BODY[]").await.expect_ok();
    assert_eq!(
        holder.command("NOOP").await.expect_ok().expunges(),
        Vec::<u32>::new()
    );

    let mut titulus = server.login(PROTOCOLLO).await;
    titulus.command("SELECT INBOX").await.expect_ok();
    // Peeking leaves the message where it is.
    titulus.command("FETCH 2 BODY.PEEK[]").await.expect_ok();
    assert_eq!(
        titulus.command("NOOP").await.expect_ok().expunges(),
        Vec::<u32>::new()
    );
    // Reading takes it out of INBOX; the EXPUNGE waits for a command that allows it.
    let done = titulus.command("FETCH 2 BODY[]").await.expect_ok();
    assert!(
        done.expunges().is_empty(),
        "no EXPUNGE while answering FETCH"
    );
    assert_eq!(done.fetches().len(), 1);
    assert_eq!(
        titulus.command("SEARCH ALL").await.expect_ok().search(),
        [1, 2, 3],
        "nor during SEARCH"
    );
    assert_eq!(titulus.command("NOOP").await.expect_ok().expunges(), [2]);
    let left: Vec<u32> = server
        .store
        .messages(ENTE, "INBOX")
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(left, [1, 3]);
    // The holder's session learns of it too.
    assert_eq!(holder.command("NOOP").await.expect_ok().expunges(), [2]);

    // Marking read with STORE does the same; UID commands may expunge at once.
    let done = titulus
        .command("UID STORE 3 +FLAGS (\\Seen)")
        .await
        .expect_ok();
    assert_eq!(done.expunges(), [2]);
    let done = titulus.command("UID FETCH 1 RFC822").await.expect_ok();
    assert_eq!(done.expunges(), [1]);
    assert!(
        server
            .store
            .messages(ENTE, "INBOX")
            .await
            .unwrap()
            .is_empty()
    );
}
