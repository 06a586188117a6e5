//! The selected folder as this session shows it: sequence number n is the n-th message of the
//! session's own view, which changes only where RFC 3501 lets the client learn of it (EXISTS
//! at any command's end, EXPUNGE only where §7.4.1 allows, unsolicited FETCH for flags changed
//! by others). SELECT/EXAMINE open the view, [`Session::sync`] reconciles it with the store,
//! IDLE waits for changes, CLOSE/UNSELECT end it.

use std::collections::HashMap;
use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::command::SelectParameter;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::flag::{Flag, FlagFetch, FlagPerm};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{Code, Data, Response};
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use store::StoredMessage;
use tokio::sync::broadcast::error::RecvError;
use tracing::debug;

use crate::folders::folder_name;
use crate::framing::RawLine;
use crate::io::{Io, IoError};
use crate::reply::{Failure, Outcome, continuation, untagged_ok};
use crate::session::Session;

/// How often IDLE looks at the store even without a change notice (another process may
/// share the store).
const IDLE_POLL: Duration = Duration::from_secs(5);

/// The system flags, as FLAGS and PERMANENTFLAGS list them.
const SYSTEM_FLAGS: [Flag<'static>; 5] = [
    Flag::Answered,
    Flag::Flagged,
    Flag::Deleted,
    Flag::Seen,
    Flag::Draft,
];

/// The selected folder.
pub(crate) struct Selection {
    /// The store's name of the folder.
    pub(crate) folder: String,
    /// EXAMINE: no flag changes, no expunge.
    pub(crate) read_only: bool,
    pub(crate) uidvalidity: u32,
    uid_next: u32,
    highest_modseq: u64,
    /// The messages as the client knows them: sequence number n is `messages[n - 1]`.
    pub(crate) messages: Vec<StoredMessage>,
    /// Some messages of the view have left the store, and their EXPUNGE is still owed.
    owes_expunge: bool,
}

impl Selection {
    /// The view's messages a sequence set names: sequence numbers (each must exist) or UIDs
    /// (those without a message are ignored), as indices into the view, ascending.
    pub(crate) fn resolve(&self, set: &SequenceSet, uid: bool) -> Outcome<Vec<usize>> {
        if uid {
            let largest = self.messages.last().map_or(0, |m| m.uid);
            return Ok(self
                .messages
                .iter()
                .enumerate()
                .filter(|(_, m)| contains(set, m.uid, largest))
                .map(|(i, _)| i)
                .collect());
        }
        let count = u32::try_from(self.messages.len()).unwrap_or(u32::MAX);
        for sequence in set.0.as_ref() {
            let (a, b) = match sequence {
                Sequence::Single(a) => (a, a),
                Sequence::Range(a, b) => (a, b),
            };
            for end in [a, b] {
                let n = match end {
                    SeqOrUid::Value(n) => n.get(),
                    SeqOrUid::Asterisk => count,
                };
                if n == 0 || n > count {
                    return Err(Failure::bad(format!(
                        "Numero di messaggio inesistente: la cartella ne ha {count} (invalid message sequence number)"
                    )));
                }
            }
        }
        Ok((0..self.messages.len())
            .filter(|&i| contains(set, i as u32 + 1, count))
            .collect())
    }

    /// The sequence number of the message at `index` of the view.
    pub(crate) fn seq(index: usize) -> NonZeroU32 {
        NonZeroU32::new(u32::try_from(index + 1).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN)
    }

    /// Records flags a command of this session changed, so that [`Session::sync`] does not
    /// report them again.
    pub(crate) fn set_flags(&mut self, uid: u32, flags: &[String], modseq: u64) {
        // The view is in UID order.
        if let Ok(i) = self.messages.binary_search_by_key(&uid, |m| m.uid) {
            self.messages[i].flags = flags.to_vec();
            self.messages[i].modseq = modseq;
        }
    }
}

/// Whether `n` is in `set`, `*` being `largest` (RFC 3501 §9 `seq-range`: either order).
pub(crate) fn contains(set: &SequenceSet, n: u32, largest: u32) -> bool {
    let value = |v: &SeqOrUid| match v {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => largest,
    };
    set.0.as_ref().iter().any(|sequence| match sequence {
        Sequence::Single(v) => value(v) == n,
        Sequence::Range(a, b) => {
            let (a, b) = (value(a), value(b));
            (a.min(b)..=a.max(b)).contains(&n)
        }
    })
}

/// Whether stored flags include `flag` (system flags in any case, keywords exactly).
pub(crate) fn has_flag(flags: &[String], flag: &str) -> bool {
    flags
        .iter()
        .any(|f| f == flag || (flag.starts_with('\\') && f.eq_ignore_ascii_case(flag)))
}

/// The stored name of a flag: system flags in their canonical case.
pub(crate) fn flag_name(flag: &Flag<'_>) -> String {
    flag.to_string()
}

/// Stored flags as a FETCH FLAGS list (anything imap-types cannot hold is left out).
pub(crate) fn fetch_flags(flags: &[String]) -> Vec<FlagFetch<'static>> {
    flags
        .iter()
        .filter_map(|f| Flag::try_from(f.as_str()).ok())
        .map(|f| FlagFetch::Flag(f.into_static()))
        .collect()
}

/// `* n FETCH (items)`.
pub(crate) fn fetch_response(
    index: usize,
    items: Vec<MessageDataItem<'static>>,
) -> Option<Response<'static>> {
    let items = Vec1::try_from(items).ok()?;
    Some(Response::Data(Data::Fetch {
        seq: Selection::seq(index),
        items,
    }))
}

impl Session {
    /// The selected folder (the caller checked there is one).
    pub(crate) fn selection(&mut self) -> Outcome<&mut Selection> {
        self.selected
            .as_mut()
            .ok_or_else(|| Failure::bad("Nessuna cartella selezionata (no mailbox selected)"))
    }

    /// SELECT and EXAMINE.
    pub(crate) async fn select(
        &mut self,
        io: &mut Io,
        mailbox: &Mailbox<'_>,
        parameters: &[SelectParameter],
        read_only: bool,
    ) -> Outcome<Option<Code<'static>>> {
        for parameter in parameters {
            match parameter {
                SelectParameter::CondStore => self.condstore = true,
                SelectParameter::QResync { .. } => {
                    return Err(Failure::bad(
                        "QRESYNC non supportato (QRESYNC not supported)",
                    ));
                }
            }
        }
        if self.selected.take().is_some() {
            // RFC 7162 §3.2.11: the previous folder's responses end here.
            io.send(&untagged_ok(
                Some(Code::Closed),
                "Cartella precedente chiusa (previous mailbox closed)",
            ));
        }
        let name = folder_name(mailbox)?;
        let user = self.user()?.clone();
        let store = self.engine.store();
        let Some(folder) = store
            .folder(&user.mailbox, &name)
            .await
            .map_err(|e| Failure::store(e, "opening a folder"))?
        else {
            return Err(Failure::no(
                "NONEXISTENT",
                format!("La cartella {name} non esiste (no such mailbox)"),
            ));
        };
        let messages = store
            .messages(&user.mailbox, &folder.name)
            .await
            .map_err(|e| Failure::store(e, "listing messages"))?;
        let mut keywords: Vec<String> = messages
            .iter()
            .flat_map(|m| m.flags.iter())
            .filter(|f| !f.starts_with('\\'))
            .cloned()
            .collect();
        keywords.sort();
        keywords.dedup();
        let keywords: Vec<Flag<'static>> = keywords
            .iter()
            .filter_map(|k| Flag::try_from(k.as_str()).ok().map(IntoStatic::into_static))
            .collect();
        let mut flags = SYSTEM_FLAGS.to_vec();
        flags.extend(keywords);
        io.send(&Response::Data(Data::Flags(flags.clone())));
        let permanent: Vec<FlagPerm<'static>> = if read_only {
            Vec::new()
        } else {
            let deletable = user.may_manage() && !store::is_archive(&folder.name);
            flags
                .into_iter()
                .filter(|f| deletable || *f != Flag::Deleted)
                .map(FlagPerm::Flag)
                .chain([FlagPerm::Asterisk])
                .collect()
        };
        io.send(&untagged_ok(
            Some(Code::PermanentFlags(permanent)),
            "Flag modificabili (permanent flags)",
        ));
        io.send(&Response::Data(Data::Exists(
            u32::try_from(messages.len()).unwrap_or(u32::MAX),
        )));
        io.send(&Response::Data(Data::Recent(0)));
        if let Some(first) = messages.iter().position(|m| !has_flag(&m.flags, "\\Seen")) {
            io.send(&untagged_ok(
                Some(Code::Unseen(Selection::seq(first))),
                "Primo messaggio non letto (first unseen)",
            ));
        }
        if let Some(v) = NonZeroU32::new(folder.uidvalidity) {
            io.send(&untagged_ok(
                Some(Code::UidValidity(v)),
                "UID validi (UIDs valid)",
            ));
        }
        if let Some(next) = NonZeroU32::new(folder.uid_next) {
            io.send(&untagged_ok(
                Some(Code::UidNext(next)),
                "Prossimo UID (predicted next UID)",
            ));
        }
        let highest = NonZeroU64::new(folder.highest_modseq).unwrap_or(NonZeroU64::MIN);
        io.send(&untagged_ok(
            Some(Code::HighestModSeq(highest)),
            "Ultimo modseq (highest modseq)",
        ));
        debug!(folder = %folder.name, messages = messages.len(), read_only, "selected");
        self.selected = Some(Selection {
            folder: folder.name,
            read_only,
            uidvalidity: folder.uidvalidity,
            uid_next: folder.uid_next,
            highest_modseq: folder.highest_modseq,
            messages,
            owes_expunge: false,
        });
        Ok(Some(if read_only {
            Code::ReadOnly
        } else {
            Code::ReadWrite
        }))
    }

    /// Brings the view up to date with the store: new messages (EXISTS), flags others
    /// changed (FETCH), and, when `expunge_allowed`, messages that left (EXPUNGE).
    pub(crate) async fn sync(&mut self, io: &mut Io, expunge_allowed: bool) -> Outcome {
        let Some(mailbox) = self.user.as_ref().map(|u| u.mailbox.clone()) else {
            return Ok(());
        };
        let condstore = self.condstore;
        let store = self.engine.store().clone();
        let Some(sel) = self.selected.as_mut() else {
            return Ok(());
        };
        // The counters first: read before the messages, they can only be older than them.
        let folder = store
            .folder(&mailbox, &sel.folder)
            .await
            .map_err(|e| Failure::store(e, "checking the selected folder"))?
            .filter(|f| f.uidvalidity == sel.uidvalidity);
        if let Some(f) = &folder
            && f.highest_modseq == sel.highest_modseq
            && f.uid_next == sel.uid_next
            && !(sel.owes_expunge && expunge_allowed)
        {
            return Ok(());
        }
        // A folder deleted (or deleted and created again) has nothing left of what was seen.
        let current = match &folder {
            Some(_) => store
                .messages(&mailbox, &sel.folder)
                .await
                .map_err(|e| Failure::store(e, "listing the selected folder"))?,
            None => Vec::new(),
        };
        if let Some(f) = &folder {
            sel.highest_modseq = f.highest_modseq;
            sel.uid_next = f.uid_next;
        }
        let mut by_uid: HashMap<u32, StoredMessage> =
            current.into_iter().map(|m| (m.uid, m)).collect();
        let largest_seen = sel.messages.last().map_or(0, |m| m.uid);
        // Flags changed by others.
        for (index, seen) in sel.messages.iter_mut().enumerate() {
            let Some(now) = by_uid.get(&seen.uid) else {
                continue;
            };
            let flags_changed = now.flags != seen.flags;
            if flags_changed || (condstore && now.modseq != seen.modseq) {
                seen.flags = now.flags.clone();
                seen.modseq = now.modseq;
                let mut items = vec![
                    MessageDataItem::Uid(NonZeroU32::new(seen.uid).unwrap_or(NonZeroU32::MIN)),
                    MessageDataItem::Flags(fetch_flags(&seen.flags)),
                ];
                if condstore && let Some(m) = NonZeroU64::new(seen.modseq) {
                    items.push(MessageDataItem::ModSeq(m));
                }
                if let Some(response) = fetch_response(index, items) {
                    io.send(&response);
                }
            }
        }
        // Messages that left: highest sequence number first, so none shifts before it is told.
        let gone = sel.messages.iter().any(|m| !by_uid.contains_key(&m.uid));
        sel.owes_expunge = gone && !expunge_allowed;
        if gone && expunge_allowed {
            for index in (0..sel.messages.len()).rev() {
                if !by_uid.contains_key(&sel.messages[index].uid) {
                    sel.messages.remove(index);
                    if let Some(seq) = NonZeroU32::new(index as u32 + 1) {
                        io.send(&Response::Data(Data::Expunge(seq)));
                    }
                }
            }
        }
        // New messages.
        let mut new: Vec<StoredMessage> = by_uid
            .drain()
            .map(|(_, m)| m)
            .filter(|m| m.uid > largest_seen)
            .collect();
        if !new.is_empty() {
            new.sort_by_key(|m| m.uid);
            sel.messages.extend(new);
            io.send(&Response::Data(Data::Exists(
                u32::try_from(sel.messages.len()).unwrap_or(u32::MAX),
            )));
        }
        Ok(())
    }

    /// CLOSE: expunges what is marked `\Deleted` (silently, where the user may), then leaves
    /// the selected state.
    pub(crate) async fn close(&mut self) -> Outcome<Option<Code<'static>>> {
        let user = self.user()?.clone();
        let sel = self.selection()?;
        if !sel.read_only && user.may_manage() && !store::is_archive(&sel.folder) {
            let folder = sel.folder.clone();
            let store = self.engine.store();
            let deleted: Vec<u32> = store
                .messages(&user.mailbox, &folder)
                .await
                .map_err(|e| Failure::store(e, "closing a folder"))?
                .into_iter()
                .filter(|m| has_flag(&m.flags, "\\Deleted"))
                .map(|m| m.uid)
                .collect();
            if !deleted.is_empty() {
                store
                    .expunge(&user.mailbox, &folder, &deleted)
                    .await
                    .map_err(|e| Failure::store(e, "expunging at close"))?;
                self.engine.mailbox_changed(&user.mailbox);
            }
        }
        self.selected = None;
        Ok(None)
    }

    /// IDLE (RFC 2177): reports changes as they happen until the client says DONE. An `Err`
    /// is a network failure or the autologout.
    pub(crate) async fn idle(
        &mut self,
        io: &mut Io,
    ) -> Result<Outcome<Option<Code<'static>>>, IoError> {
        let mailbox = match self.user() {
            Ok(user) => user.mailbox.clone(),
            Err(f) => return Ok(Err(f)),
        };
        debug!("idling");
        let mut changes = self.engine.changes();
        io.send(&continuation("In attesa di novità (idling)"));
        let deadline = tokio::time::Instant::now() + self.config.idle_timeout;
        let mut poll = tokio::time::interval(IDLE_POLL);
        loop {
            if let Some(line) = io.framer.next_line() {
                return Ok(match line {
                    RawLine::Line(line) if line.trim_ascii().eq_ignore_ascii_case(b"DONE") => {
                        Ok(None)
                    }
                    _ => Err(Failure::bad("Atteso DONE (expected DONE)")),
                });
            }
            io.flush().await?;
            let look = tokio::select! {
                received = io.receive() => {
                    received?;
                    false
                }
                change = changes.recv() => match change {
                    Ok(changed) => changed == mailbox,
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => false,
                },
                _ = poll.tick() => true,
                () = tokio::time::sleep_until(deadline) => return Err(IoError::Timeout),
            };
            if look {
                self.still_valid().await?;
            }
            if look && let Err(f) = self.sync(io, true).await {
                tracing::warn!(error = %f, "could not look at the selected folder while idling");
            }
        }
    }
}

/// RFC 5530's code for a permission refusal, with its text.
pub(crate) fn no_permission(what: &str) -> Failure {
    Failure::no(
        "NOPERM",
        format!("Permesso negato: {what} (permission denied)"),
    )
}

/// Refusal for a change in a folder opened with EXAMINE.
pub(crate) fn read_only() -> Failure {
    Failure::No {
        code: Some(Code::ReadOnly),
        text: "Cartella aperta in sola lettura (EXAMINE) (mailbox is read-only)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> SequenceSet {
        SequenceSet::try_from(s).unwrap()
    }

    #[test]
    fn sets_match_both_range_orders_and_star() {
        assert!(contains(&set("2:4"), 3, 10));
        assert!(contains(&set("4:2"), 3, 10));
        assert!(contains(&set("8:*"), 10, 10));
        assert!(
            contains(&set("20:*"), 10, 10),
            "n:* with n past the end names the last"
        );
        assert!(!contains(&set("1,5"), 3, 10));
        assert!(contains(&set("1:4294967295"), 4_000_000_000, 10));
    }

    #[test]
    fn flags_compare_like_imap() {
        let flags = vec!["\\Seen".to_string(), "$Etichetta".to_string()];
        assert!(has_flag(&flags, "\\SEEN"));
        assert!(has_flag(&flags, "$Etichetta"));
        assert!(!has_flag(&flags, "$etichetta"));
        assert_eq!(fetch_flags(&flags).len(), 2);
        assert_eq!(flag_name(&Flag::try_from("\\seen").unwrap()), "\\Seen");
    }
}
