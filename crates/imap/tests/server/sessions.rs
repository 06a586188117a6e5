//! Ordinary sessions, response type by response type: login with and without TLS, folders,
//! SELECT, FETCH, SEARCH, STORE, COPY, MOVE, EXPUNGE, APPEND, CONDSTORE, QUOTA, IDLE, and
//! UIDs that survive a restart.

use std::time::{Duration, Instant};

use base64::Engine as _;
use imap_proto::{AttributeValue, MailboxDatum, NameAttribute, Response, ResponseCode};

use crate::support::*;

fn plain_b64(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

fn capabilities(reply: &Reply) -> Vec<String> {
    let caps = match &reply.parsed {
        Some(Response::Capabilities(caps)) => caps,
        Some(Response::Data { outcome, .. }) | Some(Response::Done { outcome, .. }) => {
            match &outcome.code {
                Some(ResponseCode::Capabilities(caps)) => caps,
                other => panic!("no capabilities in {other:?}"),
            }
        }
        other => panic!("no capabilities in {other:?}"),
    };
    caps.iter()
        .map(|c| match c {
            imap_proto::Capability::Imap4rev1 => "IMAP4rev1".to_owned(),
            imap_proto::Capability::Auth(m) => format!("AUTH={m}"),
            imap_proto::Capability::Atom(a) => a.to_string(),
        })
        .collect()
}

#[tokio::test]
async fn login_needs_tls_and_starttls_gives_it() {
    let server = Server::start().await;
    let mut client = Client::connect(server.plain).await;
    let before = capabilities(client.greeting.as_ref().unwrap());
    assert!(before.contains(&"STARTTLS".to_owned()), "{before:?}");
    assert!(before.contains(&"LOGINDISABLED".to_owned()), "{before:?}");
    assert!(!before.iter().any(|c| c.starts_with("AUTH=")), "{before:?}");

    client
        .command(&format!("LOGIN {MARIO} {PASSWORD}"))
        .await
        .expect_no("[PRIVACYREQUIRED]");
    client
        .command(&format!(
            "AUTHENTICATE PLAIN {}",
            plain_b64(MARIO, PASSWORD)
        ))
        .await
        .expect_no("[PRIVACYREQUIRED]");
    client.command("SELECT INBOX").await.expect_bad();

    client.starttls(&server.pki).await;
    let done = client.command("CAPABILITY").await.expect_ok();
    let after = capabilities(&done.untagged[0]);
    assert!(after.contains(&"AUTH=PLAIN".to_owned()), "{after:?}");
    assert!(!after.contains(&"LOGINDISABLED".to_owned()), "{after:?}");
    assert!(!after.contains(&"STARTTLS".to_owned()), "{after:?}");
    client.command("STARTTLS").await.expect_bad();

    client
        .command(&format!("LOGIN {MARIO} sbagliata"))
        .await
        .expect_no("[AUTHENTICATIONFAILED]");
    let done = client
        .command(&format!("LOGIN {MARIO} {PASSWORD}"))
        .await
        .expect_ok();
    let logged = capabilities(&done.tagged);
    for cap in [
        "IDLE",
        "UIDPLUS",
        "MOVE",
        "SPECIAL-USE",
        "NAMESPACE",
        "ENABLE",
        "LITERAL+",
        "ID",
        "QUOTA",
        "CONDSTORE",
        "UNSELECT",
    ] {
        assert!(
            logged.contains(&cap.to_owned()),
            "{cap} missing in {logged:?}"
        );
    }
    client
        .command(&format!("LOGIN {MARIO} {PASSWORD}"))
        .await
        .expect_bad();
    let done = client.command("LOGOUT").await.expect_ok();
    assert!(done.lines()[0].starts_with("* BYE"), "{done:#?}");
    assert!(client.closed().await);
}

#[tokio::test]
async fn implicit_tls_and_authenticate_plain() {
    let server = Server::start().await;
    // SASL-IR: the credentials in the command.
    let mut client = Client::connect_tls(server.implicit, &server.pki).await;
    let caps = capabilities(client.greeting.as_ref().unwrap());
    assert!(caps.contains(&"AUTH=PLAIN".to_owned()) && caps.contains(&"SASL-IR".to_owned()));
    assert!(!caps.contains(&"STARTTLS".to_owned()), "{caps:?}");
    client
        .command(&format!(
            "AUTHENTICATE PLAIN {}",
            plain_b64(MARIO, PASSWORD)
        ))
        .await
        .expect_ok();
    client.command("SELECT INBOX").await.expect_ok();

    // Without SASL-IR: a continuation request, then the credentials.
    let mut client = Client::connect_tls(server.implicit, &server.pki).await;
    let tag = client.fresh_tag();
    client
        .write(format!("{tag} AUTHENTICATE PLAIN\r\n").as_bytes())
        .await;
    let go_on = client.read_reply().await;
    assert!(
        matches!(go_on.parsed, Some(Response::Continue(_))),
        "{go_on:?}"
    );
    client
        .write(format!("{}\r\n", plain_b64(LETTORE, PASSWORD)).as_bytes())
        .await;
    client.until_tagged(&tag).await.expect_ok();

    // Cancelled, and a wrong authorization identity.
    let mut client = Client::connect_tls(server.implicit, &server.pki).await;
    let tag = client.fresh_tag();
    client
        .write(format!("{tag} AUTHENTICATE PLAIN\r\n").as_bytes())
        .await;
    client.read_reply().await;
    client.write(b"*\r\n").await;
    client.until_tagged(&tag).await.expect_bad();
    let other =
        base64::engine::general_purpose::STANDARD.encode(format!("{ENTE}\0{MARIO}\0{PASSWORD}"));
    client
        .command(&format!("AUTHENTICATE PLAIN {other}"))
        .await
        .expect_no("[AUTHORIZATIONFAILED]");
    client
        .command("AUTHENTICATE CRAM-MD5")
        .await
        .expect_no("PLAIN");
}

#[tokio::test]
async fn folders_list_with_special_use_and_the_archive_levels() {
    let server = Server::start().await;
    let mut client = server.login(MARIO).await;
    let done = client.command("LIST \"\" \"*\"").await.expect_ok();
    let mut folders = Vec::new();
    for reply in &done.untagged {
        let Some(Response::MailboxData(MailboxDatum::List(list))) = &reply.parsed else {
            panic!("not a LIST response: {reply:?}");
        };
        assert_eq!(list.delimiter.as_deref(), Some("/"));
        folders.push((list.name.to_string(), list.name_attributes.clone()));
    }
    let attributes = |name: &str| {
        folders
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} not listed: {folders:?}"))
            .1
            .clone()
    };
    let names: Vec<&str> = folders.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Archivio",
            "Archivio/2026",
            ARCHIVE,
            "Drafts",
            "INBOX",
            "Sent",
            "Trash"
        ]
    );
    for level in ["Archivio", "Archivio/2026"] {
        let a = attributes(level);
        assert!(a.contains(&NameAttribute::NoSelect), "{level}: {a:?}");
        assert!(
            a.contains(&NameAttribute::Extension("\\HasChildren".into())),
            "{level}: {a:?}"
        );
    }
    assert!(attributes("Archivio").contains(&NameAttribute::Archive));
    assert!(attributes("Sent").contains(&NameAttribute::Sent));
    assert!(attributes("Drafts").contains(&NameAttribute::Drafts));
    assert!(attributes("Trash").contains(&NameAttribute::Trash));
    assert!(attributes(ARCHIVE).contains(&NameAttribute::Extension("\\HasNoChildren".into())));

    let done = client.command("LIST \"\" \"%\"").await.expect_ok();
    assert_eq!(done.untagged.len(), 5, "{:#?}", done.lines());
    let done = client.command("LIST \"Archivio/\" \"%\"").await.expect_ok();
    assert_eq!(
        done.lines(),
        ["* LIST (\\Noselect \\HasChildren) \"/\" Archivio/2026\r\n"]
    );
    let done = client.command("LIST \"\" \"\"").await.expect_ok();
    assert_eq!(done.lines(), ["* LIST (\\Noselect) \"/\" \"\"\r\n"]);
    let done = client.command("LSUB \"\" \"*\"").await.expect_ok();
    assert_eq!(done.untagged.len(), folders.len());

    // Modified UTF-7 both ways.
    client
        .command("CREATE \"Pratiche &AOg- urgenti\"")
        .await
        .expect_ok();
    let done = client.command("LIST \"\" \"Pratiche*\"").await.expect_ok();
    assert_eq!(
        done.lines(),
        ["* LIST (\\HasNoChildren) \"/\" \"Pratiche &AOg- urgenti\"\r\n"]
    );
    assert!(
        server
            .store
            .folders(MARIO)
            .await
            .unwrap()
            .contains(&"Pratiche è urgenti".to_owned())
    );
    client
        .command("CREATE \"Pratiche &AOg urgenti\"")
        .await
        .expect_bad();
    client
        .command("CREATE INBOX")
        .await
        .expect_no("[ALREADYEXISTS]");
    client
        .command("CREATE Trash")
        .await
        .expect_no("[ALREADYEXISTS]");
    client
        .command("RENAME \"Pratiche &AOg- urgenti\" Pratiche/Chiuse")
        .await
        .expect_ok();
    let done = client.command("LIST \"\" \"Pratiche*\"").await.expect_ok();
    assert_eq!(
        done.lines(),
        [
            "* LIST (\\Noselect \\HasChildren) \"/\" Pratiche\r\n",
            "* LIST (\\HasNoChildren) \"/\" Pratiche/Chiuse\r\n"
        ]
    );
    client.command("DELETE Pratiche/Chiuse").await.expect_ok();
    client
        .command("DELETE Pratiche/Chiuse")
        .await
        .expect_no("[NONEXISTENT]");
    client.command("DELETE INBOX").await.expect_no("[CANNOT]");
    client.command("SUBSCRIBE Sent").await.expect_ok();
    client.command("UNSUBSCRIBE Sent").await.expect_ok();

    let done = client.command("NAMESPACE").await.expect_ok();
    assert_eq!(done.lines(), ["* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"]);
    let done = client.command("ID (\"name\" \"test\")").await.expect_ok();
    assert!(
        matches!(&done.untagged[0].parsed, Some(Response::Id(Some(id))) if id["name"] == "pecora")
    );
}

#[tokio::test]
async fn select_fetch_search_store() {
    let server = Server::start().await;
    let mut client = server.login(MARIO).await;
    let done = client
        .command("STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY RECENT HIGHESTMODSEQ SIZE)")
        .await
        .expect_ok();
    let status = &done.untagged[0].raw;
    assert!(
        status.starts_with("* STATUS INBOX (MESSAGES 3 UNSEEN 3 UIDNEXT 4 UIDVALIDITY "),
        "{status}"
    );
    let size: usize = [BUSTA, ACCETTAZIONE, CONSEGNA]
        .iter()
        .map(|f| fixture(f).len())
        .sum();
    assert!(status.contains(&format!(" SIZE {size}")), "{status}");

    let done = client.command("SELECT INBOX").await.expect_ok();
    assert!(done.text().contains("[READ-WRITE]"), "{}", done.text());
    assert_eq!(done.exists(), Some(3));
    let codes: Vec<&ResponseCode> = done
        .untagged
        .iter()
        .filter_map(|r| match &r.parsed {
            Some(Response::Data { outcome, .. }) => outcome.code.as_ref(),
            _ => None,
        })
        .collect();
    assert!(
        codes.iter().any(|c| matches!(c, ResponseCode::Unseen(1))),
        "{codes:?}"
    );
    assert!(
        codes.iter().any(|c| matches!(c, ResponseCode::UidNext(4))),
        "{codes:?}"
    );
    assert!(
        codes
            .iter()
            .any(|c| matches!(c, ResponseCode::UidValidity(v) if *v > 0))
    );
    assert!(
        codes
            .iter()
            .any(|c| matches!(c, ResponseCode::HighestModSeq(_)))
    );
    assert!(
        codes
            .iter()
            .any(|c| matches!(c, ResponseCode::PermanentFlags(f) if f.iter().any(|f| f == "\\*")))
    );

    let done = client
        .command("FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)")
        .await
        .expect_ok();
    let fetches = done.fetches();
    assert_eq!(fetches.len(), 3);
    for (i, (seq, attrs)) in fetches.iter().enumerate() {
        assert_eq!(*seq as usize, i + 1);
        assert!(
            attrs.contains(&AttributeValue::Uid(i as u32 + 1)),
            "{attrs:?}"
        );
        assert!(
            attrs
                .iter()
                .any(|a| matches!(a, AttributeValue::Flags(f) if f.is_empty()))
        );
        assert!(
            attrs
                .iter()
                .any(|a| matches!(a, AttributeValue::InternalDate(_)))
        );
    }
    assert!(fetches[1].1.contains(&AttributeValue::Rfc822Size(
        fixture(ACCETTAZIONE).len() as u32
    )));

    // A peek leaves \Seen alone; a header field; a partial body.
    let done = client
        .command("FETCH 2 (BODY.PEEK[HEADER.FIELDS (X-Ricevuta)] BODY.PEEK[]<0.12>)")
        .await
        .expect_ok();
    let attrs = done.fetches()[0].1;
    assert!(
        attrs.iter().any(|a| matches!(a, AttributeValue::BodySection { data: Some(d), .. } if d.as_ref() == b"X-Ricevuta: accettazione\r\n\r\n")),
        "{attrs:?}"
    );
    assert!(
        attrs.iter().any(|a| matches!(a, AttributeValue::BodySection { index: Some(0), data: Some(d), .. } if d.as_ref() == b"Return-Path:")),
        "{attrs:?}"
    );
    // Reading the whole message sets \Seen, and the answer says so.
    let done = client.command("FETCH 2 (BODY[])").await.expect_ok();
    let attrs = done.fetches()[0].1;
    assert!(attrs.iter().any(|a| matches!(a, AttributeValue::BodySection { data: Some(d), .. } if d.as_ref() == fixture(ACCETTAZIONE).as_slice())));
    assert!(
        attrs
            .iter()
            .any(|a| matches!(a, AttributeValue::Flags(f) if f.iter().any(|f| f == "\\Seen"))),
        "{attrs:?}"
    );
    let done = client
        .command("FETCH 1 (ENVELOPE BODYSTRUCTURE BODY RFC822.HEADER)")
        .await
        .expect_ok();
    let attrs = done.fetches()[0].1;
    assert!(attrs.iter().any(|a| matches!(a, AttributeValue::Envelope(e) if e.subject.as_deref() == Some(b"POSTA CERTIFICATA: test con segnatura (solo testo)".as_slice()))), "{attrs:?}");
    assert!(
        attrs
            .iter()
            .any(|a| matches!(a, AttributeValue::BodyStructure(_)))
    );
    let done = client.command("FETCH 1 ALL").await.expect_ok();
    assert!(
        done.fetches()[0]
            .1
            .iter()
            .any(|a| matches!(a, AttributeValue::Envelope(_)))
    );
    client.command("FETCH 4 FLAGS").await.expect_bad();
    client.command("FETCH 1 BINARY[1]").await.expect_bad();

    // SEARCH: a document system finds its receipts by header.
    assert_eq!(
        client
            .command("SEARCH HEADER X-Ricevuta accettazione")
            .await
            .expect_ok()
            .search(),
        [2]
    );
    assert_eq!(
        client
            .command("SEARCH HEADER X-Ricevuta \"\"")
            .await
            .expect_ok()
            .search(),
        [2, 3]
    );
    assert_eq!(
        client
            .command("UID SEARCH SUBJECT consegna")
            .await
            .expect_ok()
            .search(),
        [3]
    );
    assert_eq!(
        client.command("SEARCH SEEN").await.expect_ok().search(),
        [2]
    );
    assert_eq!(
        client
            .command("SEARCH UNSEEN NOT 3")
            .await
            .expect_ok()
            .search(),
        [1]
    );
    assert_eq!(
        client
            .command("SEARCH FROM aruba.it")
            .await
            .expect_ok()
            .search(),
        [1, 2, 3]
    );
    assert_eq!(
        client
            .command("SEARCH OR SMALLER 10000 TO nessuno LARGER 1000")
            .await
            .expect_ok()
            .search(),
        [2]
    );
    assert_eq!(
        client
            .command("SEARCH SENTBEFORE 1-Jan-2015")
            .await
            .expect_ok()
            .search(),
        [2]
    );
    assert_eq!(
        client
            .command("SEARCH BEFORE 1-Jan-2000")
            .await
            .expect_ok()
            .search(),
        Vec::<u32>::new()
    );
    assert_eq!(
        client
            .command("SEARCH SINCE 1-Jan-2000 UID 2:*")
            .await
            .expect_ok()
            .search(),
        [2, 3]
    );
    // 8-bit text travels as a literal (a quoted string is 7-bit).
    let needle = "è stato accettato";
    let search = format!(
        "SEARCH CHARSET UTF-8 BODY {{{}+}}\r\n{needle}\r\n",
        needle.len()
    );
    let done = client.raw_command(search.as_bytes()).await.expect_ok();
    assert_eq!(done.search(), [2]);
    client
        .command("SEARCH CHARSET UTF-8 BODY \"è stato\"")
        .await
        .expect_bad();
    client
        .command("SEARCH CHARSET KOI8-R ALL")
        .await
        .expect_no("[BADCHARSET");

    // STORE and its answers.
    let done = client
        .command("STORE 1 +FLAGS (\\Flagged $Protocollato)")
        .await
        .expect_ok();
    let attrs = done.fetches()[0].1;
    assert!(
        attrs
            .iter()
            .any(|a| matches!(a, AttributeValue::Flags(f) if f.len() == 2)),
        "{attrs:?}"
    );
    let done = client
        .command("UID STORE 1:3 -FLAGS.SILENT (\\Seen)")
        .await
        .expect_ok();
    assert!(done.fetches().is_empty(), "{done:#?}");
    assert_eq!(
        client
            .command("SEARCH KEYWORD $Protocollato")
            .await
            .expect_ok()
            .search(),
        [1]
    );
    assert_eq!(
        client.command("SEARCH UNSEEN").await.expect_ok().search(),
        [1, 2, 3]
    );
    let mut stored = server.store.messages(MARIO, "INBOX").await.unwrap()[0]
        .flags
        .clone();
    stored.sort();
    assert_eq!(stored, ["$Protocollato", "\\Flagged"]);

    let done = client.command("EXAMINE INBOX").await.expect_ok();
    assert!(done.text().contains("[READ-ONLY]"));
    assert!(
        done.untagged[0].raw.contains("[CLOSED]"),
        "{:#?}",
        done.lines()
    );
    client
        .command("STORE 1 +FLAGS (\\Seen)")
        .await
        .expect_no("[READ-ONLY]");
    client.command("FETCH 3 BODY[TEXT]").await.expect_ok();
    assert_eq!(
        client.command("SEARCH SEEN").await.expect_ok().search(),
        Vec::<u32>::new(),
        "EXAMINE never sets \\Seen"
    );
    client.command("UNSELECT").await.expect_ok();
    client.command("FETCH 1 FLAGS").await.expect_bad();
}

#[tokio::test]
async fn copy_move_expunge_append() {
    let server = Server::start().await;
    let mut client = server.login(MARIO).await;
    client.command("SELECT INBOX").await.expect_ok();
    let done = client.command("COPY 1:2 Trash").await.expect_ok();
    let Some(Response::Done { outcome, .. }) = &done.tagged.parsed else {
        unreachable!()
    };
    assert!(
        matches!(&outcome.code, Some(ResponseCode::CopyUid(_, _, _))),
        "{done:#?}"
    );
    assert!(done.text().contains(" 1:2 1:2]"), "{}", done.text());
    client
        .command("COPY 1 Nessuna")
        .await
        .expect_no("[TRYCREATE]");

    let done = client.command("UID MOVE 3 Trash").await.expect_ok();
    assert!(
        done.lines()[0].starts_with("* OK [COPYUID "),
        "{:#?}",
        done.lines()
    );
    assert!(done.lines()[0].contains(" 3 3]"), "{:#?}", done.lines());
    assert_eq!(done.expunges(), [3]);

    client
        .command("STORE 1 +FLAGS.SILENT (\\Deleted)")
        .await
        .expect_ok();
    let done = client.command("EXPUNGE").await.expect_ok();
    assert_eq!(done.expunges(), [1]);
    let done = client.command("FETCH 1:* UID").await.expect_ok();
    assert_eq!(done.fetches().len(), 1);
    assert!(done.fetches()[0].1.contains(&AttributeValue::Uid(2)));

    // UID EXPUNGE removes only the named \Deleted messages.
    client.command("SELECT Trash").await.expect_ok();
    client
        .command("STORE 1:3 +FLAGS (\\Deleted)")
        .await
        .expect_ok();
    let done = client.command("UID EXPUNGE 2").await.expect_ok();
    assert_eq!(done.expunges(), [2]);
    client.command("CLOSE").await.expect_ok();
    assert!(
        server
            .store
            .messages(MARIO, "Trash")
            .await
            .unwrap()
            .is_empty(),
        "CLOSE expunges"
    );

    // APPEND with a synchronizing literal, flags and a date.
    let message = fixture(BUSTA_LF);
    let tag = client.fresh_tag();
    client
        .write(
            format!(
                "{tag} APPEND Drafts (\\Draft \\Seen) \"14-Nov-2014 18:26:32 +0100\" {{{}}}\r\n",
                message.len()
            )
            .as_bytes(),
        )
        .await;
    let go_on = client.read_reply().await;
    assert!(
        matches!(go_on.parsed, Some(Response::Continue(_))),
        "{go_on:?}"
    );
    client.write(&message).await;
    client.write(b"\r\n").await;
    let done = client.until_tagged(&tag).await.expect_ok();
    assert!(done.text().contains("[APPENDUID "), "{}", done.text());
    let drafts = server.store.messages(MARIO, "Drafts").await.unwrap();
    assert_eq!(drafts.len(), 1);
    let mut flags = drafts[0].flags.clone();
    flags.sort();
    assert_eq!(flags, ["\\Draft", "\\Seen"]);
    assert_eq!(drafts[0].received_at, 1_415_985_992);
    assert_eq!(server.store.get(&drafts[0].blob).await.unwrap(), message);

    // LITERAL+: no continuation; into the selected folder, which then grows.
    client.command("SELECT Drafts").await.expect_ok();
    let done = client
        .raw_command(b"APPEND Drafts {22+}\r\nSubject: ciao\r\n\r\ncorpo\r\n")
        .await
        .expect_ok();
    assert!(done.text().contains(" 2]"), "{}", done.text());
    assert_eq!(done.exists(), Some(2));
    client
        .command("APPEND Nessuna {1+}\r\nx")
        .await
        .expect_no("[TRYCREATE]");
}

#[tokio::test]
async fn condstore() {
    let server = Server::start().await;
    let mut client = server.login(MARIO).await;
    let done = client.command("ENABLE CONDSTORE").await.expect_ok();
    assert_eq!(done.lines(), ["* ENABLED CONDSTORE\r\n"]);
    let done = client.command("SELECT INBOX").await.expect_ok();
    let highest = done
        .untagged
        .iter()
        .find_map(|r| match &r.parsed {
            Some(Response::Data { outcome, .. }) => match outcome.code {
                Some(ResponseCode::HighestModSeq(m)) => Some(m),
                _ => None,
            },
            _ => None,
        })
        .expect("HIGHESTMODSEQ");
    let done = client.command("FETCH 1:* (FLAGS)").await.expect_ok();
    let modseq = |attrs: &Vec<AttributeValue>| {
        attrs
            .iter()
            .find_map(|a| match a {
                AttributeValue::ModSeq(m) => Some(*m),
                _ => None,
            })
            .expect("MODSEQ with FLAGS once CONDSTORE is on")
    };
    let before: Vec<u64> = done.fetches().iter().map(|(_, a)| modseq(a)).collect();
    assert!(before.iter().all(|m| *m <= highest));

    let done = client
        .command(&format!(
            "STORE 2 (UNCHANGEDSINCE {}) +FLAGS (\\Flagged)",
            before[1]
        ))
        .await
        .expect_ok();
    let after = modseq(done.fetches()[0].1);
    assert!(after > before[1]);
    // Stale now: refused with MODIFIED.
    let done = client
        .command(&format!(
            "STORE 1:2 (UNCHANGEDSINCE {}) +FLAGS (\\Answered)",
            before[1]
        ))
        .await
        .expect_ok();
    assert!(done.text().contains("[MODIFIED 2]"), "{}", done.text());
    assert_eq!(done.fetches().len(), 1, "message 1 changed, 2 did not");

    let untouched = before.iter().max().unwrap();
    let done = client
        .command(&format!("FETCH 1:* (UID) (CHANGEDSINCE {untouched})"))
        .await
        .expect_ok();
    let seqs: Vec<u32> = done.fetches().iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, [1, 2]);
    let done = client
        .command(&format!("SEARCH MODSEQ {after}"))
        .await
        .expect_ok();
    assert_eq!(done.search(), [1, 2]);
    assert!(done.lines()[0].contains("(MODSEQ "), "{:#?}", done.lines());
    let done = client
        .command("STATUS INBOX (HIGHESTMODSEQ)")
        .await
        .expect_ok();
    assert!(
        matches!(&done.untagged[0].parsed, Some(Response::MailboxData(MailboxDatum::Status { status, .. })) if matches!(status[0], imap_proto::StatusAttribute::HighestModSeq(m) if m > highest))
    );
    client
        .command("SELECT INBOX (QRESYNC (1 1))")
        .await
        .expect_bad();
}

#[tokio::test]
async fn quota_in_kib() {
    let server = Server::start().await;
    let mut client = server.login(PICCOLA).await;
    let done = client.command("GETQUOTAROOT INBOX").await.expect_ok();
    assert!(
        matches!(&done.untagged[0].parsed, Some(Response::QuotaRoot(_))),
        "{done:#?}"
    );
    assert_eq!(
        done.lines()[1],
        format!("* QUOTA \"\" (STORAGE 0 {})\r\n", PICCOLA_QUOTA / 1024)
    );
    let message = vec![b'x'; 600_000];
    let mut append = format!("APPEND INBOX {{{}+}}\r\n", message.len()).into_bytes();
    append.extend_from_slice(&message);
    append.extend_from_slice(b"\r\n");
    client.raw_command(&append).await.expect_ok();
    let done = client.command("GETQUOTA \"\"").await.expect_ok();
    assert!(matches!(&done.untagged[0].parsed, Some(Response::Quota(_))));
    assert_eq!(
        done.lines()[0],
        format!("* QUOTA \"\" (STORAGE 586 {})\r\n", PICCOLA_QUOTA / 1024)
    );
    client.raw_command(&append).await.expect_no("[OVERQUOTA]");
    client
        .command("GETQUOTA altro")
        .await
        .expect_no("[NONEXISTENT]");
    client
        .command("SETQUOTA \"\" (STORAGE 1)")
        .await
        .expect_no("[NOPERM]");
    // A box without a quota has no quota root.
    let mut client = server.login(MARIO).await;
    let done = client.command("GETQUOTAROOT INBOX").await.expect_ok();
    assert_eq!(done.lines(), ["* QUOTAROOT INBOX\r\n"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sees_a_delivery_and_a_flag_change() {
    let server = std::sync::Arc::new(Server::start().await);
    let mut client = server.login(MARIO).await;
    client.command("SELECT INBOX").await.expect_ok();
    let tag = client.fresh_tag();
    client.write(format!("{tag} IDLE\r\n").as_bytes()).await;
    let go_on = client.read_reply().await;
    assert!(
        matches!(go_on.parsed, Some(Response::Continue(_))),
        "{go_on:?}"
    );

    let delivering = server.clone();
    let started = Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        delivering.deliver(MARIO, "INBOX", &fixture(BUSTA_LF)).await;
    });
    let exists = client.read_reply().await;
    assert_eq!(exists.raw, "* 4 EXISTS\r\n");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "woken by the change notice, not by polling"
    );

    // Another session changes a flag and expunges: both show up.
    let mut other = server.login(GESTORE).await;
    other.command("SELECT INBOX").await.expect_ok();
    other
        .command("STORE 1 +FLAGS (\\Flagged)")
        .await
        .expect_ok();
    let flagged = client.read_reply().await;
    assert!(
        matches!(&flagged.parsed, Some(Response::Fetch(1, attrs)) if attrs.iter().any(|a| matches!(a, AttributeValue::Flags(f) if f.iter().any(|f| f == "\\Flagged")))),
        "{flagged:?}"
    );
    other
        .command("STORE 4 +FLAGS (\\Deleted)")
        .await
        .expect_ok();
    other.command("EXPUNGE").await.expect_ok();
    loop {
        let reply = client.read_reply().await;
        if reply.raw == "* 4 EXPUNGE\r\n" {
            break;
        }
        assert!(
            matches!(reply.parsed, Some(Response::Fetch(4, _))),
            "{reply:?}"
        );
    }
    client.write(b"DONE\r\n").await;
    client.until_tagged(&tag).await.expect_ok();
    client.command("NOOP").await.expect_ok();
}

#[tokio::test]
async fn uids_and_uidvalidity_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (uidvalidity, uids) = {
        let engine = engine_in(dir.path(), true).await;
        let server = Server::serve(engine, Pki::new(), tempfile::tempdir().unwrap(), config).await;
        for name in [BUSTA, ACCETTAZIONE, CONSEGNA] {
            server.deliver(MARIO, "INBOX", &fixture(name)).await;
        }
        let mut client = server.login(MARIO).await;
        client.command("SELECT INBOX").await.expect_ok();
        client
            .command("STORE 2 +FLAGS (\\Deleted)")
            .await
            .expect_ok();
        client.command("EXPUNGE").await.expect_ok();
        let done = client
            .command("STATUS INBOX (UIDVALIDITY UIDNEXT)")
            .await
            .expect_ok();
        let uids = client.command("UID SEARCH ALL").await.expect_ok().search();
        (done.lines()[0].to_owned(), uids)
    };
    assert_eq!(uids, [1, 3]);
    // The same store opened again, by a new engine and server.
    let engine = engine_in(dir.path(), false).await;
    let server = Server::serve(engine, Pki::new(), tempfile::tempdir().unwrap(), config).await;
    let mut client = server.login(MARIO).await;
    let done = client
        .command("STATUS INBOX (UIDVALIDITY UIDNEXT)")
        .await
        .expect_ok();
    assert_eq!(done.lines()[0], uidvalidity);
    assert!(uidvalidity.contains("UIDNEXT 4"), "{uidvalidity}");
    client.command("SELECT INBOX").await.expect_ok();
    assert_eq!(
        client.command("UID SEARCH ALL").await.expect_ok().search(),
        [1, 3]
    );
    server.deliver(MARIO, "INBOX", &fixture(BUSTA_LF)).await;
    // The session learns of the new message when it next looks, and numbers it on.
    assert_eq!(client.command("NOOP").await.expect_ok().exists(), Some(3));
    assert_eq!(
        client.command("UID SEARCH ALL").await.expect_ok().search(),
        [1, 3, 4]
    );
}
