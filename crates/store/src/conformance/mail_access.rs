//! The checks of what the mail-access servers (IMAP, POP3, web) rely on: folders and their
//! counters, UIDVALIDITY and MODSEQ, flags, expunge, copy, move and append, the immutable PRO
//! archive, quotas and their warning, delegates and the box settings, and who acted in the
//! legal log. Kept apart from the engine's checks in [`super`], whose helpers they share.

use super::{
    NOW, assert_already_exists, assert_hashes, assert_not_found, event, fresh, fresh_domain,
    fresh_mailbox, intact_events, message, ok, sha256_hex, uids,
};
use crate::{
    ARCHIVE_ROOT, Appended, Batch, DelegateRole, FlagChange, Folder, INBOX, MailboxKind,
    MailboxState, NewDelegate, NewMailbox, OrdinaryMail, Result, Store, StoreError, StoredMessage,
    chain_hash,
};

// ---------------------------------------------------------------------------------------
// Helpers

/// The refusals of the mail-access rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Immutable,
    OverQuota,
    InvalidName,
}

/// Panics unless `r` failed with `refusal`.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(r: Result<T>, refusal: Refusal, what: &str) {
    let got = match &r {
        Err(StoreError::Immutable(_)) => Some(Refusal::Immutable),
        Err(StoreError::OverQuota(_)) => Some(Refusal::OverQuota),
        Err(StoreError::InvalidName(_)) => Some(Refusal::InvalidName),
        _ => None,
    };
    if got != Some(refusal) {
        panic!("{what}: expected {refusal:?}, got {r:?}");
    }
}

fn flags(list: &[&str]) -> Vec<String> {
    list.iter().map(|f| (*f).to_owned()).collect()
}

/// An archive folder of the month the suite lives in.
fn archive_month() -> String {
    format!("{ARCHIVE_ROOT}/2023/11")
}

/// Delivers one message of each size to `folder`, in one batch.
async fn deliver(store: &dyn Store, mailbox: &str, folder: &str, sizes: &[u64]) {
    let id = fresh("msg");
    let batch = Batch {
        deliveries: sizes
            .iter()
            .map(|&size| message(mailbox, folder, size, &id))
            .collect(),
        log: vec![event(NOW, "consegna-mailbox", &id)],
        ..Batch::default()
    };
    ok(store.commit(batch).await, "delivering messages");
}

/// A folder that must exist.
async fn folder_of(store: &dyn Store, mailbox: &str, name: &str) -> Folder {
    ok(store.folder(mailbox, name).await, "reading a folder")
        .unwrap_or_else(|| panic!("folder {name} of {mailbox} is missing"))
}

async fn messages_of(store: &dyn Store, mailbox: &str, folder: &str) -> Vec<StoredMessage> {
    ok(store.messages(mailbox, folder).await, "listing messages")
}

async fn used(store: &dyn Store, mailbox: &str) -> u64 {
    ok(store.mailbox(mailbox).await, "reading a mailbox")
        .map(|m| m.used)
        .unwrap_or_else(|| panic!("mailbox {mailbox} is missing"))
}

async fn warned(store: &dyn Store, mailbox: &str) -> bool {
    ok(store.mailbox(mailbox).await, "reading a mailbox")
        .map(|m| m.quota_warned)
        .unwrap_or_else(|| panic!("mailbox {mailbox} is missing"))
}

fn appended(size: u64, flags: Vec<String>) -> Appended {
    Appended {
        blob: sha256_hex(fresh("appended").as_bytes()),
        size,
        flags,
        received_at: NOW - 3600,
    }
}

/// The (uid, flags) of each message whose flags changed.
fn changed(stored: &crate::FlagsStored) -> Vec<(u32, Vec<String>)> {
    stored
        .changed
        .iter()
        .map(|(uid, flags, _)| (*uid, flags.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Checks

/// Every box has its INBOX from the start (in any case); folders report their counters,
/// a delivery to a new folder creates it, unknown boxes and folders have none.
pub async fn folders_and_counters(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let names = ok(store.folders(&mailbox).await, "listing folders");
    assert_eq!(names, [INBOX], "a new box has its INBOX");
    let inbox = folder_of(store, &mailbox, INBOX).await;
    assert_eq!(
        (inbox.name.as_str(), inbox.uid_next, inbox.messages),
        (INBOX, 1, 0),
        "an empty INBOX: {inbox:?}"
    );
    assert_eq!((inbox.unseen, inbox.size), (0, 0), "an empty INBOX");
    assert_ne!(inbox.uidvalidity, 0, "UIDVALIDITY is nonzero");
    assert!(inbox.highest_modseq >= 1, "HIGHESTMODSEQ is at least 1");
    assert_eq!(
        folder_of(store, &mailbox.to_ascii_uppercase(), "inbox").await,
        inbox,
        "INBOX in any case"
    );
    assert_eq!(
        ok(store.folder_list(&mailbox).await, "listing folders"),
        std::slice::from_ref(&inbox),
        "the folder list of a new box"
    );

    let id = fresh("counters");
    let mut seen = message(&mailbox, INBOX, 20, &id);
    seen.flags = flags(&["\\Seen"]);
    let batch = Batch {
        deliveries: vec![
            message(&mailbox, "inbox", 10, &id),
            seen,
            message(&mailbox, "Nuova", 30, &id),
        ],
        log: vec![event(NOW, "consegna-mailbox", &id)],
        ..Batch::default()
    };
    ok(
        store.commit(batch).await,
        "delivering to INBOX and a new folder",
    );
    let now = folder_of(store, &mailbox, INBOX).await;
    assert_eq!(
        (now.uid_next, now.messages, now.unseen, now.size),
        (3, 2, 1, 30),
        "INBOX counters after two deliveries (one seen)"
    );
    assert_eq!(now.uidvalidity, inbox.uidvalidity, "UIDVALIDITY is stable");
    assert!(
        now.highest_modseq > inbox.highest_modseq,
        "deliveries raise HIGHESTMODSEQ"
    );
    let list = ok(store.folder_list(&mailbox).await, "listing folders");
    let names: Vec<&str> = list.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, [INBOX, "Nuova"], "a delivery creates its folder");
    assert_eq!(list[0], now);
    let nuova = &list[1];
    assert_eq!(
        (nuova.uid_next, nuova.messages, nuova.unseen, nuova.size),
        (2, 1, 1, 30)
    );
    assert_ne!(nuova.uidvalidity, inbox.uidvalidity);
    assert_eq!(
        messages_of(store, &mailbox, "iNbOx").await,
        messages_of(store, &mailbox, INBOX).await,
        "messages of INBOX in any case"
    );

    let nobody = format!("nessuno@{}", fresh_domain());
    assert_eq!(ok(store.folder(&mailbox, "Nessuna").await, "folder"), None);
    assert_eq!(ok(store.folder(&nobody, INBOX).await, "folder"), None);
    assert!(ok(store.folder_list(&nobody).await, "folder_list").is_empty());
}

/// Folders are created, renamed (with their inferiors, keeping UIDs and UIDVALIDITY) and
/// deleted (with their messages, and their bytes); INBOX stays.
pub async fn folder_lifecycle(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let created = ok(
        store.create_folder(&mailbox, "Lavoro", NOW + 5).await,
        "creating a folder",
    );
    assert_eq!(
        (created.name.as_str(), created.uid_next, created.messages),
        ("Lavoro", 1, 0)
    );
    assert_eq!((created.unseen, created.size), (0, 0));
    assert!(created.uidvalidity != 0 && created.highest_modseq >= 1);
    assert_eq!(
        folder_of(store, &mailbox, "Lavoro").await,
        created,
        "a created folder reads back as created"
    );
    assert_already_exists(
        store.create_folder(&mailbox, "Lavoro", NOW).await,
        "creating a folder twice",
    );
    assert_already_exists(
        store.create_folder(&mailbox, "inbox", NOW).await,
        "creating INBOX",
    );
    let nobody = format!("nessuno@{}", fresh_domain());
    assert_not_found(
        store.create_folder(&nobody, "Lavoro", NOW).await,
        "a folder of nobody",
    );
    ok(
        store.create_folder(&mailbox, "Lavoro/2024", NOW).await,
        "creating an inferior",
    );
    ok(
        store.create_folder(&mailbox, "Padre/Figlio", NOW).await,
        "creating a folder without its parent",
    );
    assert_eq!(
        ok(store.folders(&mailbox).await, "listing folders"),
        [INBOX, "Lavoro", "Lavoro/2024", "Padre/Figlio"],
        "parents are not created implicitly"
    );

    deliver(store, &mailbox, "Lavoro", &[10, 20]).await;
    let marked = ok(
        store
            .store_flags(
                &mailbox,
                "Lavoro",
                &[1],
                FlagChange::Add,
                &flags(&["\\Flagged"]),
                None,
            )
            .await,
        "flagging",
    );
    assert_eq!(changed(&marked), [(1, flags(&["\\Flagged"]))]);
    let before = folder_of(store, &mailbox, "Lavoro").await;
    let moved: Vec<StoredMessage> = messages_of(store, &mailbox, "Lavoro")
        .await
        .into_iter()
        .map(|m| StoredMessage {
            folder: "Progetti".into(),
            ..m
        })
        .collect();
    ok(
        store.rename_folder(&mailbox, "Lavoro", "Progetti").await,
        "renaming a folder",
    );
    assert_eq!(
        ok(store.folders(&mailbox).await, "listing folders"),
        [INBOX, "Padre/Figlio", "Progetti", "Progetti/2024"],
        "the folder and its inferior renamed"
    );
    assert_eq!(
        folder_of(store, &mailbox, "Progetti").await,
        Folder {
            name: "Progetti".into(),
            ..before
        },
        "a renamed folder keeps UIDVALIDITY and counters"
    );
    assert_eq!(
        messages_of(store, &mailbox, "Progetti").await,
        moved,
        "a renamed folder keeps its messages, UIDs and flags"
    );
    assert!(messages_of(store, &mailbox, "Lavoro").await.is_empty());

    assert_already_exists(
        store
            .rename_folder(&mailbox, "Padre/Figlio", "Progetti")
            .await,
        "renaming onto a folder",
    );
    assert_not_found(
        store.rename_folder(&mailbox, "Nessuna", "Altra").await,
        "renaming a missing folder",
    );
    for inbox in [INBOX, "inbox"] {
        assert_refused(
            store.rename_folder(&mailbox, inbox, "Posta").await,
            Refusal::Immutable,
            "renaming INBOX",
        );
        assert_refused(
            store.delete_folder(&mailbox, inbox).await,
            Refusal::Immutable,
            "deleting INBOX",
        );
    }
    assert_not_found(
        store.delete_folder(&mailbox, "Nessuna").await,
        "deleting a missing folder",
    );
    assert_not_found(
        store.delete_folder(&nobody, "Lavoro").await,
        "deleting a folder of nobody",
    );

    assert_eq!(used(store, &mailbox).await, 30);
    ok(
        store.delete_folder(&mailbox, "Progetti").await,
        "deleting a folder",
    );
    assert_eq!(
        ok(store.folders(&mailbox).await, "listing folders"),
        [INBOX, "Padre/Figlio", "Progetti/2024"],
        "a deleted folder goes, its inferiors stay"
    );
    assert!(messages_of(store, &mailbox, "Progetti").await.is_empty());
    assert_eq!(used(store, &mailbox).await, 0, "its bytes go with it");
}

/// Names the store cannot hold are refused wherever a folder gets a name.
pub async fn folder_names(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    ok(
        store.create_folder(&mailbox, "Buona", NOW).await,
        "creating a folder",
    );
    for bad in [
        "",
        "/Lavoro",
        "Lavoro/",
        "Lavoro//2024",
        "Riga\nnuova",
        "Tab\tulata",
        "\u{7f}",
    ] {
        assert_refused(
            store.create_folder(&mailbox, bad, NOW).await,
            Refusal::InvalidName,
            &format!("creating {bad:?}"),
        );
        assert_refused(
            store.rename_folder(&mailbox, "Buona", bad).await,
            Refusal::InvalidName,
            &format!("renaming to {bad:?}"),
        );
    }
    let id = fresh("names");
    let batch = Batch {
        deliveries: vec![
            message(&mailbox, INBOX, 1, &id),
            message(&mailbox, "/Cattiva", 1, &id),
        ],
        log: vec![event(NOW, "consegna-mailbox", &id)],
        ..Batch::default()
    };
    assert_refused(
        store.commit(batch).await,
        Refusal::InvalidName,
        "delivering to an invalid name",
    );
    assert!(
        messages_of(store, &mailbox, INBOX).await.is_empty(),
        "the refused batch delivered nothing"
    );
    assert_eq!(
        ok(store.folders(&mailbox).await, "listing folders"),
        ["Buona", INBOX],
        "no folder created by a refused name"
    );
}

/// A folder deleted and created again — by `create_folder` or by a delivery, even in the
/// same second — gets a UIDVALIDITY no folder of the box had; a rename keeps it.
pub async fn uidvalidity_never_repeats(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let mut seen = vec![folder_of(store, &mailbox, INBOX).await.uidvalidity];
    let mut remember = |v: u32, what: &str| {
        assert!(
            !seen.contains(&v),
            "{what}: UIDVALIDITY {v} was used before"
        );
        seen.push(v);
    };
    let first = ok(store.create_folder(&mailbox, "X", NOW).await, "creating X");
    remember(first.uidvalidity, "a new folder");
    ok(store.delete_folder(&mailbox, "X").await, "deleting X");
    let second = ok(
        store.create_folder(&mailbox, "X", NOW).await,
        "creating X again",
    );
    remember(second.uidvalidity, "X created again in the same second");
    ok(store.delete_folder(&mailbox, "X").await, "deleting X");
    deliver(store, &mailbox, "X", &[1]).await;
    let third = folder_of(store, &mailbox, "X").await.uidvalidity;
    remember(third, "X created again by a delivery");
    ok(store.rename_folder(&mailbox, "X", "Y").await, "renaming X");
    assert_eq!(
        folder_of(store, &mailbox, "Y").await.uidvalidity,
        third,
        "a rename keeps UIDVALIDITY"
    );
    let fourth = ok(store.create_folder(&mailbox, "X", NOW).await, "creating X");
    remember(fourth.uidvalidity, "X created where it was renamed away");
    let early = ok(
        store.create_folder(&mailbox, "Z", NOW - 1_000_000).await,
        "creating a folder with a clock gone back",
    );
    remember(early.uidvalidity, "a folder created with an earlier clock");
    assert_eq!(
        folder_of(store, &mailbox, "Z").await.uidvalidity,
        early.uidvalidity,
        "UIDVALIDITY is stored"
    );
}

/// Expunge removes the messages asked for (whatever their flags) and says which; their UIDs
/// are never handed out again; the bytes go.
pub async fn uids_never_reused(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    deliver(store, &mailbox, INBOX, &[1, 2, 3, 4]).await;
    let before = folder_of(store, &mailbox, INBOX).await;
    let removed = ok(
        store.expunge(&mailbox, "inbox", &[4, 2, 99, 2]).await,
        "expunging",
    );
    assert_eq!(removed, [2, 4], "the UIDs removed, ascending, once");
    assert_eq!(uids(&messages_of(store, &mailbox, INBOX).await), [1, 3]);
    assert_eq!(
        used(store, &mailbox).await,
        4,
        "expunged bytes no longer count"
    );
    let after = folder_of(store, &mailbox, INBOX).await;
    assert_eq!(after.uid_next, 5, "uid_next never goes back");
    assert!(
        after.highest_modseq > before.highest_modseq,
        "an expunge raises HIGHESTMODSEQ"
    );
    assert_eq!(
        ok(store.expunge(&mailbox, INBOX, &[2, 4]).await, "expunging"),
        Vec::<u32>::new(),
        "nothing left to expunge"
    );
    deliver(store, &mailbox, INBOX, &[5]).await;
    assert_eq!(
        uids(&messages_of(store, &mailbox, INBOX).await),
        [1, 3, 5],
        "an expunged UID is not reused"
    );
    assert_not_found(
        store.expunge(&mailbox, "Nessuna", &[1]).await,
        "expunging in a missing folder",
    );
}

/// MODSEQ: every stored message and every flag change gets a new one, unchanged flags keep
/// theirs, and `unchanged_since` leaves newer messages alone.
pub async fn modseq(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    deliver(store, &mailbox, INBOX, &[10, 20]).await;
    let msgs = messages_of(store, &mailbox, INBOX).await;
    assert!(
        msgs[0].modseq >= 1 && msgs[0].modseq < msgs[1].modseq,
        "each delivery gets a new MODSEQ: {msgs:?}"
    );
    let highest = folder_of(store, &mailbox, INBOX).await.highest_modseq;
    assert!(highest >= msgs[1].modseq);

    let seen = flags(&["\\Seen"]);
    let stored = ok(
        store
            .store_flags(&mailbox, INBOX, &[1], FlagChange::Add, &seen, None)
            .await,
        "marking seen",
    );
    assert_eq!(changed(&stored), [(1, seen.clone())]);
    assert!(stored.modified.is_empty());
    let marked = stored.changed[0].2;
    assert!(marked > highest, "a flag change gets a new MODSEQ");
    assert_eq!(
        folder_of(store, &mailbox, INBOX).await.highest_modseq,
        marked
    );
    assert_eq!(messages_of(store, &mailbox, INBOX).await[0].modseq, marked);

    let same = ok(
        store
            .store_flags(
                &mailbox,
                INBOX,
                &[1],
                FlagChange::Add,
                &flags(&["\\seen"]),
                None,
            )
            .await,
        "marking seen again",
    );
    assert_eq!(same, crate::FlagsStored::default(), "nothing changed");
    assert_eq!(
        folder_of(store, &mailbox, INBOX).await.highest_modseq,
        marked,
        "an unchanged message keeps its MODSEQ"
    );

    let flagged = flags(&["\\Flagged"]);
    let cond = ok(
        store
            .store_flags(
                &mailbox,
                INBOX,
                &[1, 2],
                FlagChange::Add,
                &flagged,
                Some(marked - 1),
            )
            .await,
        "a conditional store",
    );
    assert_eq!(cond.modified, [1], "the newer message is left alone");
    assert_eq!(changed(&cond), [(2, flagged.clone())]);
    assert_eq!(messages_of(store, &mailbox, INBOX).await[0].flags, seen);
    let cond = ok(
        store
            .store_flags(
                &mailbox,
                INBOX,
                &[1],
                FlagChange::Add,
                &flagged,
                Some(marked),
            )
            .await,
        "a conditional store at the message's MODSEQ",
    );
    assert_eq!(changed(&cond), [(1, flags(&["\\Seen", "\\Flagged"]))]);

    let highest = folder_of(store, &mailbox, INBOX).await.highest_modseq;
    ok(
        store.set_flags(&mailbox, INBOX, 2, &[]).await,
        "clearing flags",
    );
    let msgs = messages_of(store, &mailbox, INBOX).await;
    assert!(msgs[1].modseq > highest, "set_flags gives a new MODSEQ");
    let highest = folder_of(store, &mailbox, INBOX).await.highest_modseq;
    assert_eq!(highest, msgs[1].modseq);
    let (_, uid) = ok(
        store
            .append(&mailbox, INBOX, &appended(5, Vec::new()))
            .await,
        "appending",
    );
    let msgs = messages_of(store, &mailbox, INBOX).await;
    let last = msgs.iter().find(|m| m.uid == uid).map(|m| m.modseq);
    assert!(
        last.is_some_and(|m| m > highest),
        "an appended message gets a new MODSEQ"
    );
}

/// Flags are replaced, added and removed ignoring ASCII case, each stored once; UIDs without
/// a message are skipped; `unseen` follows `\Seen`.
pub async fn flag_changes(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let id = fresh("flags");
    let mut first = message(&mailbox, INBOX, 1, &id);
    first.flags = flags(&["\\Seen", "$Etichetta"]);
    let batch = Batch {
        deliveries: vec![first, message(&mailbox, INBOX, 1, &id)],
        log: vec![event(NOW, "consegna-mailbox", &id)],
        ..Batch::default()
    };
    ok(store.commit(batch).await, "delivering two messages");
    let store_flags = |uids: &'static [u32], change: FlagChange, list: &'static [&str]| {
        let mailbox = mailbox.clone();
        async move {
            let stored = store
                .store_flags(&mailbox, INBOX, uids, change, &flags(list), None)
                .await;
            changed(&ok(stored, "storing flags"))
        }
    };
    assert_eq!(
        store_flags(&[1, 2, 99], FlagChange::Add, &["\\SEEN", "\\flagged"]).await,
        [
            (1, flags(&["\\Seen", "$Etichetta", "\\Flagged"])),
            (2, flags(&["\\Seen", "\\Flagged"])),
        ],
        "adding: each flag once, system flags in their usual spelling"
    );
    assert_eq!(
        store_flags(&[1], FlagChange::Remove, &["\\seen", "$etichetta"]).await,
        [(1, flags(&["\\Flagged"]))],
        "removing ignores case"
    );
    assert_eq!(
        store_flags(&[1], FlagChange::Replace, &["$A", "$a", "\\draft"]).await,
        [(1, flags(&["$A", "\\Draft"]))],
        "replacing keeps each flag once"
    );
    let msgs = messages_of(store, &mailbox, INBOX).await;
    assert_eq!(msgs[0].flags, ["$A", "\\Draft"]);
    assert_eq!(msgs[1].flags, ["\\Seen", "\\Flagged"]);
    assert_eq!(folder_of(store, &mailbox, INBOX).await.unseen, 1);

    ok(
        store
            .set_flags(&mailbox, INBOX, 1, &flags(&["\\seen", "\\Seen"]))
            .await,
        "setting flags",
    );
    assert_eq!(
        messages_of(store, &mailbox, INBOX).await[0].flags,
        ["\\Seen"]
    );
    assert_eq!(folder_of(store, &mailbox, INBOX).await.unseen, 0);
    assert_eq!(
        store_flags(&[2], FlagChange::Remove, &["\\Seen"]).await,
        [(2, flags(&["\\Flagged"]))]
    );
    assert_eq!(folder_of(store, &mailbox, INBOX).await.unseen, 1);
    assert_not_found(
        store
            .store_flags(&mailbox, "Nessuna", &[1], FlagChange::Add, &[], None)
            .await,
        "storing flags in a missing folder",
    );
}

/// Nothing changes the content of the PRO archive, whatever the method; its messages can be
/// read, copied out and flagged (except `\Deleted`), and do not count towards the quota.
pub async fn archive_is_immutable(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let archive = archive_month();
    deliver(store, &mailbox, &archive, &[100, 200]).await;
    deliver(store, &mailbox, INBOX, &[1]).await;
    ok(
        store.create_folder(&mailbox, "Lavoro", NOW).await,
        "creating a folder",
    );
    assert_eq!(used(store, &mailbox).await, 1, "the archive does not count");
    let before = messages_of(store, &mailbox, &archive).await;

    for name in [ARCHIVE_ROOT.to_owned(), format!("{ARCHIVE_ROOT}/2024/01")] {
        assert_refused(
            store.create_folder(&mailbox, &name, NOW).await,
            Refusal::Immutable,
            "creating an archive folder",
        );
    }
    assert_refused(
        store.delete_folder(&mailbox, &archive).await,
        Refusal::Immutable,
        "deleting an archive folder",
    );
    assert_refused(
        store.rename_folder(&mailbox, &archive, "Vecchio").await,
        Refusal::Immutable,
        "renaming an archive folder",
    );
    assert_refused(
        store
            .rename_folder(&mailbox, "Lavoro", &format!("{ARCHIVE_ROOT}/Lavoro"))
            .await,
        Refusal::Immutable,
        "renaming a folder into the archive",
    );
    let deleted = flags(&["\\deleted"]);
    for change in [FlagChange::Add, FlagChange::Replace] {
        assert_refused(
            store
                .store_flags(&mailbox, &archive, &[1], change, &deleted, None)
                .await,
            Refusal::Immutable,
            "marking \\Deleted in the archive",
        );
    }
    assert_refused(
        store.set_flags(&mailbox, &archive, 1, &deleted).await,
        Refusal::Immutable,
        "setting \\Deleted in the archive",
    );
    assert_refused(
        store.expunge(&mailbox, &archive, &[1]).await,
        Refusal::Immutable,
        "expunging the archive",
    );
    assert_refused(
        store.copy(&mailbox, INBOX, &[1], &archive).await,
        Refusal::Immutable,
        "copying into the archive",
    );
    assert_refused(
        store
            .move_messages(&mailbox, &archive, &[1], "Lavoro")
            .await,
        Refusal::Immutable,
        "moving out of the archive",
    );
    assert_refused(
        store.move_messages(&mailbox, INBOX, &[1], &archive).await,
        Refusal::Immutable,
        "moving into the archive",
    );
    assert_refused(
        store
            .append(&mailbox, &archive, &appended(1, Vec::new()))
            .await,
        Refusal::Immutable,
        "appending to the archive",
    );
    assert_eq!(
        messages_of(store, &mailbox, &archive).await,
        before,
        "the refusals changed nothing"
    );
    assert_eq!(
        ok(store.folders(&mailbox).await, "listing folders"),
        [archive.as_str(), INBOX, "Lavoro"]
    );

    let seen = ok(
        store
            .store_flags(
                &mailbox,
                &archive,
                &[1],
                FlagChange::Add,
                &flags(&["\\Seen"]),
                None,
            )
            .await,
        "reading an archived message",
    );
    assert_eq!(changed(&seen), [(1, flags(&["\\Seen"]))]);
    let copied = ok(
        store.copy(&mailbox, &archive, &[2], "Lavoro").await,
        "copying out of the archive",
    );
    assert_eq!(copied, [(2, 1)]);
    assert_eq!(
        uids(&messages_of(store, &mailbox, &archive).await),
        [1, 2],
        "a copy leaves the archive whole"
    );
    assert_eq!(
        used(store, &mailbox).await,
        201,
        "a copy out of the archive counts"
    );
}

/// A method that adds bytes outside the archive fails with `OverQuota` (changing nothing)
/// when they do not fit; moves, the archive and the engine's deliveries are not held back.
pub async fn quota(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 1000).await;
    let archive = archive_month();
    deliver(store, &mailbox, INBOX, &[600]).await;
    deliver(store, &mailbox, &archive, &[5000]).await;
    ok(
        store.create_folder(&mailbox, "Lavoro", NOW).await,
        "creating a folder",
    );
    assert_eq!(used(store, &mailbox).await, 600);
    ok(
        store
            .append(&mailbox, INBOX, &appended(400, Vec::new()))
            .await,
        "appending up to the quota",
    );
    assert_eq!(used(store, &mailbox).await, 1000, "exactly full");
    let before = messages_of(store, &mailbox, INBOX).await;
    assert_refused(
        store
            .append(&mailbox, INBOX, &appended(1, Vec::new()))
            .await,
        Refusal::OverQuota,
        "appending past the quota",
    );
    assert_refused(
        store.copy(&mailbox, INBOX, &[1], "Lavoro").await,
        Refusal::OverQuota,
        "copying past the quota",
    );
    assert_refused(
        store.copy(&mailbox, &archive, &[1], "Lavoro").await,
        Refusal::OverQuota,
        "copying out of the archive past the quota",
    );
    assert_eq!(messages_of(store, &mailbox, INBOX).await, before);
    assert!(
        messages_of(store, &mailbox, "Lavoro").await.is_empty(),
        "a refused copy leaves nothing"
    );
    assert_eq!(
        folder_of(store, &mailbox, "Lavoro").await.uid_next,
        1,
        "a refused copy takes no UID"
    );
    assert_eq!(used(store, &mailbox).await, 1000, "refusals add no bytes");
    let moved = ok(
        store.move_messages(&mailbox, INBOX, &[1], "Lavoro").await,
        "moving in a full box",
    );
    assert_eq!(moved, [(1, 1)]);
    assert_eq!(used(store, &mailbox).await, 1000, "a move adds no bytes");
    deliver(store, &mailbox, INBOX, &[500]).await;
    assert_eq!(
        used(store, &mailbox).await,
        1500,
        "the engine's deliveries are not held back"
    );

    let unlimited = fresh_mailbox(store, 0).await;
    ok(
        store
            .append(&unlimited, INBOX, &appended(1 << 40, Vec::new()))
            .await,
        "quota 0 is unlimited",
    );
}

/// `Batch::quota_warned` sets the warning; it is cleared when usage falls below 90 % of the
/// quota (expunge, folder deletion) or the quota changes.
pub async fn quota_warning(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 1000).await;
    let warn = |address: &str| {
        let id = fresh("warning");
        Batch {
            deliveries: vec![message(address, INBOX, 500, &id)],
            log: vec![event(NOW, "avviso-quota", &id)],
            quota_warned: vec![address.to_ascii_uppercase()],
            ..Batch::default()
        }
    };
    assert!(!warned(store, &mailbox).await, "a new box is not warned");
    deliver(store, &mailbox, INBOX, &[450]).await;
    ok(store.commit(warn(&mailbox)).await, "warning");
    assert!(warned(store, &mailbox).await, "the batch sets the warning");
    deliver(store, &mailbox, INBOX, &[10]).await;
    assert!(warned(store, &mailbox).await, "more bytes keep it");
    ok(store.expunge(&mailbox, INBOX, &[3]).await, "expunging 10");
    assert!(
        warned(store, &mailbox).await,
        "950 of 1000 is still above 90 %"
    );
    ok(store.expunge(&mailbox, INBOX, &[1]).await, "expunging 450");
    assert!(!warned(store, &mailbox).await, "500 of 1000 clears it");

    deliver(store, &mailbox, "Lavoro", &[400]).await;
    ok(store.commit(warn(&mailbox)).await, "warning again");
    assert_eq!(used(store, &mailbox).await, 1400);
    ok(
        store.delete_folder(&mailbox, "Lavoro").await,
        "deleting a folder",
    );
    assert!(
        warned(store, &mailbox).await,
        "1000 of 1000 is still above 90 %"
    );
    ok(store.set_quota(&mailbox, 1000).await, "the same quota");
    assert!(warned(store, &mailbox).await, "the same quota keeps it");
    ok(store.set_quota(&mailbox, 5000).await, "a new quota");
    assert!(!warned(store, &mailbox).await, "a new quota clears it");

    ok(store.commit(warn(&mailbox)).await, "warning again");
    ok(
        store.expunge(&mailbox, INBOX, &[2, 4, 5, 6]).await,
        "emptying INBOX",
    );
    assert!(!warned(store, &mailbox).await, "an empty box is not warned");

    let nobody = format!("nessuno@{}", fresh_domain());
    let batch = Batch {
        quota_warned: vec![nobody],
        ..warn(&mailbox)
    };
    assert_not_found(store.commit(batch).await, "warning nobody");
    assert!(
        messages_of(store, &mailbox, INBOX).await.is_empty(),
        "the failed batch delivered nothing"
    );
    assert!(!warned(store, &mailbox).await);
}

/// Copy and move: new UIDs in the target by source UID, flags and internal date kept, the
/// source emptied by a move, missing UIDs skipped, missing folders refused.
pub async fn copy_and_move(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let id = fresh("copy");
    let mut flagged = message(&mailbox, INBOX, 20, &id);
    flagged.flags = flags(&["\\Flagged", "$Fattura"]);
    let batch = Batch {
        deliveries: vec![
            message(&mailbox, INBOX, 10, &id),
            flagged,
            message(&mailbox, INBOX, 30, &id),
        ],
        log: vec![event(NOW + 77, "consegna-mailbox", &id)],
        ..Batch::default()
    };
    ok(store.commit(batch).await, "delivering three messages");
    ok(
        store.create_folder(&mailbox, "Lavoro", NOW).await,
        "creating a folder",
    );
    let sources = messages_of(store, &mailbox, INBOX).await;

    let pairs = ok(
        store.copy(&mailbox, "inbox", &[3, 2, 99], "Lavoro").await,
        "copying",
    );
    assert_eq!(pairs, [(2, 1), (3, 2)], "pairs by source UID");
    let copies = messages_of(store, &mailbox, "Lavoro").await;
    for ((src, new), copy) in pairs.iter().zip(&copies) {
        let source = &sources[*src as usize - 1];
        assert_eq!(copy.uid, *new);
        assert_eq!(
            StoredMessage {
                folder: "Lavoro".into(),
                uid: *new,
                modseq: copy.modseq,
                ..source.clone()
            },
            *copy,
            "a copy keeps flags, internal date and the rest"
        );
    }
    assert_eq!(used(store, &mailbox).await, 110, "copies count");
    assert_eq!(uids(&messages_of(store, &mailbox, INBOX).await), [1, 2, 3]);
    assert_not_found(
        store.copy(&mailbox, INBOX, &[1], "Nessuna").await,
        "copying to a missing folder",
    );
    assert_not_found(
        store.copy(&mailbox, "Nessuna", &[1], INBOX).await,
        "copying from a missing folder",
    );

    let before = folder_of(store, &mailbox, INBOX).await;
    let moved = ok(
        store
            .move_messages(&mailbox, INBOX, &[1, 99], "Lavoro")
            .await,
        "moving",
    );
    assert_eq!(moved, [(1, 3)]);
    assert_eq!(uids(&messages_of(store, &mailbox, INBOX).await), [2, 3]);
    let lavoro = messages_of(store, &mailbox, "Lavoro").await;
    assert_eq!(lavoro[2].blob, sources[0].blob);
    assert_eq!(lavoro[2].received_at, NOW + 77);
    assert_eq!(used(store, &mailbox).await, 110, "a move adds no bytes");
    assert!(
        folder_of(store, &mailbox, INBOX).await.highest_modseq > before.highest_modseq,
        "a move raises the source's HIGHESTMODSEQ"
    );
    assert_not_found(
        store.move_messages(&mailbox, INBOX, &[2], "Nessuna").await,
        "moving to a missing folder",
    );
    assert_eq!(
        uids(&messages_of(store, &mailbox, INBOX).await),
        [2, 3],
        "a refused move leaves the source whole"
    );
}

/// Append: into an existing folder only, under the next UID, with its flags (normalized)
/// and internal date; it counts towards `used`.
pub async fn append(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    deliver(store, &mailbox, INBOX, &[5]).await;
    let inbox = folder_of(store, &mailbox, INBOX).await;
    let new = appended(42, flags(&["\\seen", "$Bozza", "\\SEEN"]));
    let (uidvalidity, uid) = ok(
        store
            .append(&mailbox.to_ascii_uppercase(), "inbox", &new)
            .await,
        "appending",
    );
    assert_eq!((uidvalidity, uid), (inbox.uidvalidity, inbox.uid_next));
    let got = messages_of(store, &mailbox, INBOX).await;
    let m = &got[1];
    assert_eq!(
        (m.uid, m.blob.as_str(), m.size, m.received_at),
        (uid, new.blob.as_str(), 42, new.received_at)
    );
    assert_eq!(m.flags, ["\\Seen", "$Bozza"]);
    assert_eq!(
        (m.kind.as_deref(), m.identificativo.as_deref()),
        (None, None)
    );
    assert_eq!(used(store, &mailbox).await, 47);
    assert_not_found(
        store.append(&mailbox, "Nessuna", &new).await,
        "appending to a missing folder",
    );
    let nobody = format!("nessuno@{}", fresh_domain());
    assert_not_found(
        store.append(&nobody, INBOX, &new).await,
        "appending to nobody",
    );
}

/// Delegates: created lowercase, found in any case, listed by login; a login is never a
/// mailbox address (either way round) nor another delegate's.
pub async fn delegates(store: &dyn Store) {
    let box_a = fresh_mailbox(store, 0).await;
    let box_b = fresh_mailbox(store, 0).await;
    let domain = box_a
        .rsplit_once('@')
        .map(|(_, d)| d.to_owned())
        .unwrap_or_default();
    let login = format!("Segreteria.{}", fresh("rossi"));
    let new = NewDelegate {
        login: login.clone(),
        mailbox: box_a.to_ascii_uppercase(),
        role: DelegateRole::Invio,
        password_hash: "$argon2id$delega".into(),
    };
    ok(
        store.create_delegate(&new, NOW + 3).await,
        "creating a delegate",
    );
    let expected = crate::Delegate {
        login: login.to_ascii_lowercase(),
        mailbox: box_a.clone(),
        role: DelegateRole::Invio,
        password_hash: "$argon2id$delega".into(),
        created_at: NOW + 3,
    };
    assert_eq!(
        ok(store.delegate(&login.to_ascii_uppercase()).await, "reading"),
        Some(expected.clone()),
        "a delegate as created, found in any case"
    );
    let other = NewDelegate {
        login: format!("archivio.{}", fresh("rossi")),
        role: DelegateRole::Lettura,
        ..new.clone()
    };
    ok(store.create_delegate(&other, NOW).await, "creating another");
    let listed = ok(store.delegates(&box_a).await, "listing delegates");
    let logins: Vec<&str> = listed.iter().map(|d| d.login.as_str()).collect();
    assert_eq!(
        logins,
        [other.login.as_str(), expected.login.as_str()],
        "by login"
    );
    assert!(ok(store.delegates(&box_b).await, "listing").is_empty());

    for (login, what) in [
        (
            box_a.to_ascii_uppercase(),
            "a login equal to its box's address",
        ),
        (box_b.clone(), "a login equal to another box's address"),
        (
            login.to_ascii_lowercase(),
            "a login taken by another delegate",
        ),
    ] {
        let clash = NewDelegate {
            login,
            mailbox: box_b.clone(),
            ..new.clone()
        };
        assert_already_exists(store.create_delegate(&clash, NOW).await, what);
    }
    let orphan = NewDelegate {
        login: fresh("orfano"),
        mailbox: format!("nessuno@{}", fresh_domain()),
        ..new.clone()
    };
    assert_not_found(
        store.create_delegate(&orphan, NOW).await,
        "a delegate of nobody",
    );

    let address_like = NewDelegate {
        login: format!("delega@{domain}"),
        ..new.clone()
    };
    ok(
        store.create_delegate(&address_like, NOW).await,
        "a login shaped like an address",
    );
    let mailbox = NewMailbox {
        address: format!("Delega@{domain}"),
        kind: MailboxKind::Standard,
        state: MailboxState::Attiva,
        quota: 0,
        ordinary_mail: OrdinaryMail::Rifiuta,
        password_hash: String::new(),
    };
    assert_already_exists(
        store.create_mailbox(&mailbox, NOW).await,
        "a mailbox whose address is a delegate's login",
    );

    ok(
        store
            .set_delegate_password_hash(&login, "$argon2id$nuova")
            .await,
        "setting a delegate's password",
    );
    let got = ok(store.delegate(&login).await, "reading").map(|d| d.password_hash);
    assert_eq!(got.as_deref(), Some("$argon2id$nuova"));
    ok(
        store.remove_delegate(&login.to_ascii_uppercase()).await,
        "removing",
    );
    assert_eq!(ok(store.delegate(&login).await, "reading"), None);
    assert_not_found(store.remove_delegate(&login).await, "removing twice");
    assert_not_found(
        store.set_delegate_password_hash(&login, "x").await,
        "the password of nobody",
    );
}

/// The receipts folder and the protocol account: set, read back, cleared; a receipts
/// folder follows a rename.
pub async fn mailbox_settings(store: &dyn Store) {
    let mailbox = fresh_mailbox(store, 0).await;
    let settings = |m: Option<crate::Mailbox>| {
        m.map(|m| (m.receipts_folder, m.protocol_account))
            .unwrap_or_else(|| panic!("the mailbox is missing"))
    };
    let read = || async { settings(ok(store.mailbox(&mailbox).await, "reading")) };
    assert_eq!(read().await, (None, None), "no settings at first");
    ok(
        store.set_receipts_folder(&mailbox, Some("Ricevute")).await,
        "setting the receipts folder",
    );
    ok(
        store
            .set_protocol_account(&mailbox.to_ascii_uppercase(), Some("Protocollo.Titulus"))
            .await,
        "setting the protocol account",
    );
    assert_eq!(
        read().await,
        (Some("Ricevute".into()), Some("protocollo.titulus".into())),
        "the folder as given, the login lowercase"
    );
    ok(
        store.create_folder(&mailbox, "Ricevute", NOW).await,
        "creating the receipts folder",
    );
    ok(
        store
            .rename_folder(&mailbox, "Ricevute", "Ricevute PEC")
            .await,
        "renaming it",
    );
    assert_eq!(
        read().await.0.as_deref(),
        Some("Ricevute PEC"),
        "the receipts folder follows a rename"
    );
    ok(
        store.set_receipts_folder(&mailbox, Some("inbox")).await,
        "receipts in INBOX",
    );
    assert_eq!(read().await.0.as_deref(), Some(INBOX));
    assert_refused(
        store.set_receipts_folder(&mailbox, Some("a//b")).await,
        Refusal::InvalidName,
        "an invalid receipts folder",
    );
    assert_refused(
        store
            .set_receipts_folder(&mailbox, Some(&archive_month()))
            .await,
        Refusal::Immutable,
        "receipts in the archive",
    );
    ok(store.set_receipts_folder(&mailbox, None).await, "clearing");
    ok(store.set_protocol_account(&mailbox, None).await, "clearing");
    assert_eq!(read().await, (None, None), "settings cleared");
    let nobody = format!("nessuno@{}", fresh_domain());
    assert_not_found(
        store.set_receipts_folder(&nobody, None).await,
        "set_receipts_folder of nobody",
    );
    assert_not_found(
        store.set_protocol_account(&nobody, None).await,
        "set_protocol_account of nobody",
    );
}

/// The actor of a log event comes back as written and is covered by its hash; events with
/// and without one chain and verify together.
pub async fn legal_log_actor(store: &dyn Store) {
    let id = fresh("actor");
    let holder = event(NOW, "accettazione", &id);
    let delegate = crate::NewLogEvent {
        actor: Some("Segreteria.Rossi".into()),
        ..event(NOW, "accettazione", &id)
    };
    let batch = Batch {
        log: vec![holder.clone(), delegate.clone()],
        ..Batch::default()
    };
    ok(
        store.commit(batch).await,
        "logging with and without an actor",
    );
    let events = ok(store.events(&id).await, "reading events");
    let written: Vec<&crate::NewLogEvent> = events.iter().map(|e| &e.event).collect();
    assert_eq!(written, [&holder, &delegate], "the actor as written");
    assert_hashes(&events);
    let e = &events[1];
    let without = crate::NewLogEvent {
        actor: None,
        ..e.event.clone()
    };
    assert_ne!(
        e.hash,
        chain_hash(&e.prev_hash, e.seq, &without),
        "the hash covers the actor"
    );
    intact_events(store, "verifying with an actor").await;
}
