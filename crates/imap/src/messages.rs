//! The commands that change messages: STORE (CONDSTORE's UNCHANGEDSINCE included; `\Seen`
//! is what protocol-system mode watches), COPY and MOVE (UIDPLUS's COPYUID), EXPUNGE and UID
//! EXPUNGE, and APPEND (APPENDUID). Who may do what follows the delegate's role; the
//! archive's immutability is the store's to enforce and ours to explain.

use std::num::{NonZeroU32, NonZeroU64};

use imap_codec::imap_types::command::StoreModifier;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::extensions::uidplus::{UidElement, UidSet};
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::sequence::SequenceSet;
use store::{Appended, FlagChange, is_archive};

use crate::folders::folder_name;
use crate::io::Io;
use crate::reply::{Failure, Outcome, untagged_ok};
use crate::selected::{fetch_flags, fetch_response, flag_name, has_flag, no_permission, read_only};
use crate::session::Session;

/// The flag a message gets when read.
pub(crate) const SEEN: &str = "\\Seen";
const DELETED: &str = "\\Deleted";

/// A UID set for COPYUID: ascending UIDs, consecutive ones as ranges.
fn uid_set(uids: &[u32]) -> Option<UidSet> {
    let mut elements = Vec::new();
    let mut run: Option<(u32, u32)> = None;
    let close = |run: (u32, u32), elements: &mut Vec<UidElement>| {
        let (a, b) = (NonZeroU32::new(run.0), NonZeroU32::new(run.1));
        if let (Some(a), Some(b)) = (a, b) {
            elements.push(if a == b {
                UidElement::Single(a)
            } else {
                UidElement::Range(a, b)
            });
        }
    };
    for &uid in uids {
        run = match run {
            Some((a, b)) if uid == b.wrapping_add(1) => Some((a, uid)),
            Some(done) => {
                close(done, &mut elements);
                Some((uid, uid))
            }
            None => Some((uid, uid)),
        };
    }
    if let Some(done) = run {
        close(done, &mut elements);
    }
    Vec1::try_from(elements).ok().map(UidSet)
}

/// Flags from a command as the store keeps them (`\Recent` is the server's, not the client's).
fn flag_names(flags: &[Flag<'_>]) -> Vec<String> {
    let mut names: Vec<String> = flags
        .iter()
        .map(flag_name)
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .collect();
    names.dedup();
    names
}

impl Session {
    /// STORE and UID STORE.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn store(
        &mut self,
        io: &mut Io,
        set: &SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flags: &[Flag<'_>],
        uid: bool,
        modifiers: &[StoreModifier],
    ) -> Outcome<Option<Code<'static>>> {
        let unchanged_since = modifiers
            .iter()
            .map(|StoreModifier::UnchangedSince(n)| *n)
            .next();
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let condstore = self.condstore;
        let user = self.user()?.clone();
        let engine = self.engine.clone();
        let sel = self.selection()?;
        if sel.read_only {
            return Err(read_only());
        }
        let names = flag_names(flags);
        let indices = sel.resolve(set, uid)?;
        let touches_deleted = has_flag(&names, DELETED)
            || (kind == StoreType::Replace
                && indices
                    .iter()
                    .any(|&i| has_flag(&sel.messages[i].flags, DELETED)));
        if touches_deleted && !user.may_manage() {
            return Err(no_permission(
                "solo il titolare o un delegato alla gestione può marcare messaggi come eliminati (\\Deleted)",
            ));
        }
        let uids: Vec<u32> = indices.iter().map(|&i| sel.messages[i].uid).collect();
        let change = match kind {
            StoreType::Replace => FlagChange::Replace,
            StoreType::Add => FlagChange::Add,
            StoreType::Remove => FlagChange::Remove,
        };
        let stored = engine
            .store()
            .store_flags(
                &user.mailbox,
                &sel.folder,
                &uids,
                change,
                &names,
                unchanged_since,
            )
            .await
            .map_err(|e| Failure::store(e, "storing flags"))?;
        for (uid, flags, modseq) in &stored.changed {
            sel.set_flags(*uid, flags, *modseq);
        }
        let changed = |u: u32| stored.changed.iter().any(|(c, _, _)| *c == u);
        let mut modified = Vec::new();
        for &index in &indices {
            let message = &sel.messages[index];
            if stored.modified.contains(&message.uid) {
                modified.push(if uid { message.uid } else { index as u32 + 1 });
                continue;
            }
            let silent = response == StoreResponse::Silent;
            if silent && !(condstore && changed(message.uid)) {
                continue;
            }
            let mut items = Vec::new();
            if uid && let Some(u) = NonZeroU32::new(message.uid) {
                items.push(MessageDataItem::Uid(u));
            }
            if !silent {
                items.push(MessageDataItem::Flags(fetch_flags(&message.flags)));
            }
            if condstore && let Some(m) = NonZeroU64::new(message.modseq) {
                items.push(MessageDataItem::ModSeq(m));
            }
            if let Some(response) = fetch_response(index, items) {
                io.send(&response);
            }
        }
        if has_flag(&names, SEEN) && kind != StoreType::Remove {
            let read: Vec<u32> = uids
                .iter()
                .copied()
                .filter(|u| !stored.modified.contains(u))
                .collect();
            let folder = sel.folder.clone();
            engine
                .mark_read(&user, &folder, &read)
                .await
                .map_err(|e| Failure::engine(e, "telling the box what was read"))?;
        }
        if !stored.changed.is_empty() {
            engine.mailbox_changed(&user.mailbox);
        }
        let modified: Vec<NonZeroU32> = modified.into_iter().filter_map(NonZeroU32::new).collect();
        Ok(SequenceSet::try_from(modified).ok().map(Code::Modified))
    }

    /// COPY and MOVE (and their UID forms), answering with COPYUID (RFC 4315).
    pub(crate) async fn copy(
        &mut self,
        io: &mut Io,
        set: &SequenceSet,
        mailbox: &Mailbox<'_>,
        uid: bool,
        moving: bool,
    ) -> Outcome<Option<Code<'static>>> {
        let target = folder_name(mailbox)?;
        let user = self.user()?.clone();
        if !user.may_manage() {
            return Err(no_permission(
                "solo il titolare o un delegato alla gestione copia o sposta messaggi",
            ));
        }
        let engine = self.engine.clone();
        let store = engine.store();
        let sel = self.selection()?;
        if moving && sel.read_only {
            return Err(read_only());
        }
        if moving && is_archive(&sel.folder) {
            return Err(Failure::store(
                store::StoreError::Immutable(sel.folder.clone()),
                "moving",
            ));
        }
        let uids: Vec<u32> = sel
            .resolve(set, uid)?
            .into_iter()
            .map(|i| sel.messages[i].uid)
            .collect();
        let Some(destination) = store
            .folder(&user.mailbox, &target)
            .await
            .map_err(|e| Failure::store(e, "looking up the destination"))?
        else {
            return Err(Failure::No {
                code: Some(Code::TryCreate),
                text: format!("La cartella {target} non esiste (no such mailbox)"),
            });
        };
        if uids.is_empty() {
            return Ok(None);
        }
        let pairs = match moving {
            true => {
                store
                    .move_messages(&user.mailbox, &sel.folder, &uids, &target)
                    .await
            }
            false => store.copy(&user.mailbox, &sel.folder, &uids, &target).await,
        }
        .map_err(|e| Failure::store(e, "copying messages"))?;
        engine.mailbox_changed(&user.mailbox);
        let (from, to): (Vec<u32>, Vec<u32>) = pairs.into_iter().unzip();
        let code = match (
            NonZeroU32::new(destination.uidvalidity),
            uid_set(&from),
            uid_set(&to),
        ) {
            (Some(uid_validity), Some(source), Some(destination)) => Some(Code::CopyUid {
                uid_validity,
                source,
                destination,
            }),
            _ => None,
        };
        if moving {
            // RFC 6851 §4.3: COPYUID comes before the EXPUNGEs, in an untagged OK.
            if code.is_some() {
                io.send(&untagged_ok(code, "Messaggi spostati (moved)"));
            }
            return Ok(None);
        }
        Ok(code)
    }

    /// EXPUNGE, and UID EXPUNGE (only the given UIDs).
    pub(crate) async fn expunge(
        &mut self,
        only: Option<&SequenceSet>,
    ) -> Outcome<Option<Code<'static>>> {
        let user = self.user()?.clone();
        if !user.may_manage() {
            return Err(no_permission(
                "solo il titolare o un delegato alla gestione elimina messaggi",
            ));
        }
        let engine = self.engine.clone();
        let sel = self.selection()?;
        if sel.read_only {
            return Err(read_only());
        }
        if is_archive(&sel.folder) {
            return Err(Failure::store(
                store::StoreError::Immutable(sel.folder.clone()),
                "expunging",
            ));
        }
        let largest = sel.messages.last().map_or(0, |m| m.uid);
        let store = engine.store();
        let deleted: Vec<u32> = store
            .messages(&user.mailbox, &sel.folder)
            .await
            .map_err(|e| Failure::store(e, "expunging"))?
            .into_iter()
            .filter(|m| has_flag(&m.flags, DELETED))
            .filter(|m| only.is_none_or(|set| crate::selected::contains(set, m.uid, largest)))
            .map(|m| m.uid)
            .collect();
        if !deleted.is_empty() {
            store
                .expunge(&user.mailbox, &sel.folder, &deleted)
                .await
                .map_err(|e| Failure::store(e, "expunging"))?;
            engine.mailbox_changed(&user.mailbox);
        }
        Ok(None)
    }

    /// APPEND, answering with APPENDUID (RFC 4315).
    pub(crate) async fn append(
        &mut self,
        mailbox: &Mailbox<'_>,
        flags: &[Flag<'_>],
        date: Option<&DateTime>,
        message: &LiteralOrLiteral8<'_>,
    ) -> Outcome<Option<Code<'static>>> {
        let target = folder_name(mailbox)?;
        let user = self.user()?.clone();
        if !user.may_send() {
            return Err(no_permission(
                "un delegato in sola lettura non può aggiungere messaggi",
            ));
        }
        let store = self.engine.store();
        if store
            .folder(&user.mailbox, &target)
            .await
            .map_err(|e| Failure::store(e, "looking up the destination"))?
            .is_none()
        {
            return Err(Failure::No {
                code: Some(Code::TryCreate),
                text: format!("La cartella {target} non esiste (no such mailbox)"),
            });
        }
        let bytes = match message {
            LiteralOrLiteral8::Literal(literal) => literal.data(),
            LiteralOrLiteral8::Literal8(literal) => literal.data.as_ref(),
        };
        let received_at = match date {
            Some(date) => date.as_ref().timestamp(),
            None => self.engine.clock().now().timestamp().as_second(),
        };
        let blob = store
            .put(bytes)
            .await
            .map_err(|e| Failure::store(e, "storing a message"))?;
        let appended = Appended {
            blob,
            size: bytes.len() as u64,
            flags: flag_names(flags),
            received_at,
        };
        let (uidvalidity, uid) = store
            .append(&user.mailbox, &target, &appended)
            .await
            .map_err(|e| Failure::store(e, "appending a message"))?;
        self.engine.mailbox_changed(&user.mailbox);
        Ok(match (NonZeroU32::new(uidvalidity), NonZeroU32::new(uid)) {
            (Some(uid_validity), Some(uid)) => Some(Code::AppendUid { uid_validity, uid }),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_compress_runs() {
        let set = uid_set(&[1, 2, 3, 7, 9, 10]).unwrap();
        let n = |v| NonZeroU32::new(v).unwrap();
        assert_eq!(
            set.0.as_ref(),
            &[
                UidElement::Range(n(1), n(3)),
                UidElement::Single(n(7)),
                UidElement::Range(n(9), n(10))
            ]
        );
        assert!(uid_set(&[]).is_none());
    }

    #[test]
    fn recent_is_not_stored() {
        let flags = [
            Flag::Seen,
            Flag::try_from("\\Recent").unwrap(),
            Flag::try_from("$Etichetta").unwrap(),
        ];
        assert_eq!(flag_names(&flags), vec!["\\Seen", "$Etichetta"]);
    }
}
