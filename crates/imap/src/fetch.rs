//! FETCH and UID FETCH: message data items from the store's metadata (flags, UID, internal
//! date, size, MODSEQ) and from the message itself through [`crate::structure::Parsed`]
//! (envelope, body structure, sections, with partial ranges). Reading a body without PEEK
//! sets `\Seen` before the answer (so the answer shows it) and then tells the engine, for
//! protocol-system mode ([`engine::Engine::mark_read`]).

use std::num::{NonZeroU32, NonZeroU64};

use chrono::{DateTime as ChronoDateTime, FixedOffset};
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::command::FetchModifier;
use imap_codec::imap_types::core::{IString, Literal, NString};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Section,
};
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::sequence::SequenceSet;
use jiff::tz::TimeZone;
use store::{FlagChange, StoredMessage};

use crate::io::Io;
use crate::messages::SEEN;
use crate::reply::{Failure, Outcome};
use crate::selected::{fetch_flags, fetch_response, has_flag};
use crate::session::Session;
use crate::structure::Parsed;

/// What one FETCH asks for.
struct Request {
    names: Vec<MessageDataItemName<'static>>,
    /// CONDSTORE's CHANGEDSINCE: only messages changed after this modseq.
    changed_since: Option<u64>,
    /// UID FETCH: every response carries the UID.
    uid: bool,
}

impl Request {
    fn new(
        items: MacroOrMessageDataItemNames<'_>,
        modifiers: &[FetchModifier],
        uid: bool,
    ) -> Outcome<Request> {
        let names: Vec<MessageDataItemName<'static>> = match items {
            MacroOrMessageDataItemNames::Macro(m) => m
                .expand()
                .into_iter()
                .map(IntoStatic::into_static)
                .collect(),
            MacroOrMessageDataItemNames::MessageDataItemNames(names) => {
                names.into_iter().map(IntoStatic::into_static).collect()
            }
        };
        if names.iter().any(|n| {
            matches!(
                n,
                MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. }
            )
        }) {
            return Err(Failure::bad("BINARY non supportato (BINARY not supported)"));
        }
        let mut changed_since = None;
        for modifier in modifiers {
            match modifier {
                FetchModifier::ChangedSince(n) => changed_since = Some(n.get()),
                FetchModifier::Vanished => {
                    return Err(Failure::bad(
                        "VANISHED richiede QRESYNC, non supportato (QRESYNC not supported)",
                    ));
                }
            }
        }
        Ok(Request {
            names,
            changed_since,
            uid,
        })
    }

    /// Whether it uses CONDSTORE (which it then enables, RFC 7162 §3.1).
    fn uses_condstore(&self) -> bool {
        self.changed_since.is_some() || self.names.contains(&MessageDataItemName::ModSeq)
    }

    /// Whether an item needs the message itself, not only what the store knows of it.
    fn needs_content(&self) -> bool {
        self.names.iter().any(|n| {
            matches!(
                n,
                MessageDataItemName::Body
                    | MessageDataItemName::BodyStructure
                    | MessageDataItemName::Envelope
                    | MessageDataItemName::BodyExt { .. }
                    | MessageDataItemName::Rfc822
                    | MessageDataItemName::Rfc822Header
                    | MessageDataItemName::Rfc822Text
            )
        })
    }

    /// Whether it reads a body without PEEK (which sets `\Seen`).
    fn reads(&self) -> bool {
        self.names.iter().any(|n| {
            matches!(
                n,
                MessageDataItemName::BodyExt { peek: false, .. }
                    | MessageDataItemName::Rfc822
                    | MessageDataItemName::Rfc822Text
            )
        })
    }
}

/// A body as FETCH sends it: a literal, or NIL when there is no such part. NUL bytes, which
/// an IMAP4rev1 literal cannot carry, become 0x80 (as Dovecot does).
fn body_data(bytes: Option<Vec<u8>>) -> NString<'static> {
    NString(bytes.and_then(|mut bytes| {
        for b in &mut bytes {
            if *b == 0 {
                *b = 0x80;
            }
        }
        Literal::try_from(bytes).ok().map(IString::Literal)
    }))
}

/// `BODY[...]<origin.length>`: the part of `bytes` a partial fetch asks for.
fn partial(bytes: Option<Vec<u8>>, range: Option<(u32, NonZeroU32)>) -> Option<Vec<u8>> {
    let (origin, length) = match range {
        None => return bytes,
        Some((origin, length)) => (origin as usize, length.get() as usize),
    };
    bytes.map(|b| {
        let start = origin.min(b.len());
        let end = start.saturating_add(length).min(b.len());
        b[start..end].to_vec()
    })
}

/// An instant as IMAP's date-time, in the gestore's time zone.
fn date_time(seconds: i64, tz: &TimeZone) -> Option<DateTime> {
    let offset = jiff::Timestamp::from_second(seconds)
        .ok()?
        .to_zoned(tz.clone())
        .offset()
        .seconds();
    let offset = FixedOffset::east_opt(offset)?;
    let at = ChronoDateTime::from_timestamp(seconds, 0)?.with_timezone(&offset);
    DateTime::try_from(at).ok()
}

/// The data items of one message, in the order asked (UID first for UID FETCH, FLAGS and
/// MODSEQ last).
fn message_items(
    request: &Request,
    message: &StoredMessage,
    parsed: Option<&Parsed<'_>>,
    tz: &TimeZone,
    mut with_flags: bool,
    condstore: bool,
) -> Vec<MessageDataItem<'static>> {
    let section = |s: Option<&Section<'_>>| parsed.and_then(|p| p.section(s));
    let uid = NonZeroU32::new(message.uid);
    let mut items: Vec<MessageDataItem<'static>> = Vec::new();
    if request.uid {
        items.extend(uid.map(MessageDataItem::Uid));
    }
    let mut with_modseq = request.changed_since.is_some();
    for name in &request.names {
        let item = match name {
            MessageDataItemName::Uid if request.uid => None,
            MessageDataItemName::Uid => uid.map(MessageDataItem::Uid),
            MessageDataItemName::Flags => {
                with_flags = true;
                None
            }
            MessageDataItemName::ModSeq => {
                with_modseq = true;
                None
            }
            MessageDataItemName::InternalDate => {
                date_time(message.received_at, tz).map(MessageDataItem::InternalDate)
            }
            MessageDataItemName::Rfc822Size => Some(MessageDataItem::Rfc822Size(
                u32::try_from(message.size).unwrap_or(u32::MAX),
            )),
            MessageDataItemName::Envelope => {
                parsed.map(|p| MessageDataItem::Envelope(p.envelope()))
            }
            MessageDataItemName::Body => {
                parsed.map(|p| MessageDataItem::Body(p.body_structure(false)))
            }
            MessageDataItemName::BodyStructure => {
                parsed.map(|p| MessageDataItem::BodyStructure(p.body_structure(true)))
            }
            MessageDataItemName::Rfc822 => Some(MessageDataItem::Rfc822(body_data(section(None)))),
            MessageDataItemName::Rfc822Header => Some(MessageDataItem::Rfc822Header(body_data(
                section(Some(&Section::Header(None))),
            ))),
            MessageDataItemName::Rfc822Text => Some(MessageDataItem::Rfc822Text(body_data(
                section(Some(&Section::Text(None))),
            ))),
            MessageDataItemName::BodyExt {
                section: s,
                partial: range,
                ..
            } => Some(MessageDataItem::BodyExt {
                section: s.clone(),
                origin: range.map(|(origin, _)| origin),
                data: body_data(partial(section(s.as_ref()), *range)),
            }),
            // Refused by Request::new.
            MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. } => None,
        };
        items.extend(item);
    }
    if with_flags {
        items.push(MessageDataItem::Flags(fetch_flags(&message.flags)));
    }
    // RFC 7162 §3.1.4: with CONDSTORE on, every FETCH that shows FLAGS shows MODSEQ too.
    if with_modseq || (condstore && with_flags) {
        items.extend(NonZeroU64::new(message.modseq).map(MessageDataItem::ModSeq));
    }
    items
}

impl Session {
    /// FETCH and UID FETCH.
    pub(crate) async fn fetch(
        &mut self,
        io: &mut Io,
        set: &SequenceSet,
        items: MacroOrMessageDataItemNames<'_>,
        uid: bool,
        modifiers: &[FetchModifier],
    ) -> Outcome<Option<Code<'static>>> {
        let request = Request::new(items, modifiers, uid)?;
        if request.uses_condstore() {
            self.condstore = true;
        }
        let condstore = self.condstore;
        let tz = self.engine.clock().now().time_zone().clone();
        let sel = self.selection()?;
        let mut indices = sel.resolve(set, uid)?;
        if let Some(since) = request.changed_since {
            indices.retain(|&i| sel.messages[i].modseq > since);
        }
        let read: Vec<u32> = match request.reads() && !sel.read_only {
            true => indices.iter().map(|&i| sel.messages[i].uid).collect(),
            false => Vec::new(),
        };
        let newly_seen = self.mark_seen(&read).await?;
        let store = self.engine.store().clone();
        for &index in &indices {
            let message = self.selection()?.messages[index].clone();
            let raw = match request.needs_content() {
                true => Some(
                    store
                        .get(&message.blob)
                        .await
                        .map_err(|e| Failure::store(e, "reading a message"))?,
                ),
                false => None,
            };
            let parsed = raw.as_deref().map(Parsed::new);
            let with_flags = newly_seen.contains(&message.uid);
            let items = message_items(
                &request,
                &message,
                parsed.as_ref(),
                &tz,
                with_flags,
                condstore,
            );
            if let Some(response) = fetch_response(index, items) {
                io.send(&response);
            }
            io.flush_if_large().await?;
        }
        // Once answered: in protocol-system mode what was read leaves INBOX (its EXPUNGE
        // comes at the next point RFC 3501 allows).
        if !read.is_empty() {
            let user = self.user()?.clone();
            let folder = self.selection()?.folder.clone();
            self.engine
                .mark_read(&user, &folder, &read)
                .await
                .map_err(|e| Failure::engine(e, "telling the box what was read"))?;
        }
        Ok(None)
    }

    /// Adds `\Seen` to the messages read that lack it; returns their UIDs.
    async fn mark_seen(&mut self, read: &[u32]) -> Outcome<Vec<u32>> {
        let user = self.user()?.clone();
        let engine = self.engine.clone();
        let sel = self.selection()?;
        let unseen: Vec<u32> = read
            .iter()
            .copied()
            .filter(|&uid| {
                sel.messages
                    .binary_search_by_key(&uid, |m| m.uid)
                    .is_ok_and(|i| !has_flag(&sel.messages[i].flags, SEEN))
            })
            .collect();
        if unseen.is_empty() {
            return Ok(Vec::new());
        }
        let stored = engine
            .store()
            .store_flags(
                &user.mailbox,
                &sel.folder,
                &unseen,
                FlagChange::Add,
                &[SEEN.to_owned()],
                None,
            )
            .await
            .map_err(|e| Failure::store(e, "marking messages read"))?;
        for (uid, flags, modseq) in &stored.changed {
            sel.set_flags(*uid, flags, *modseq);
        }
        if !stored.changed.is_empty() {
            engine.mailbox_changed(&user.mailbox);
        }
        Ok(stored.changed.into_iter().map(|(uid, _, _)| uid).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_fetches_clip() {
        let b = || Some(b"0123456789".to_vec());
        let n = |v| NonZeroU32::new(v).unwrap();
        assert_eq!(partial(b(), Some((2, n(3)))), Some(b"234".to_vec()));
        assert_eq!(partial(b(), Some((8, n(30)))), Some(b"89".to_vec()));
        assert_eq!(partial(b(), Some((80, n(3)))), Some(Vec::new()));
        assert_eq!(partial(None, Some((0, n(3)))), None);
    }

    #[test]
    fn bodies_never_carry_nul() {
        let NString(Some(IString::Literal(l))) = body_data(Some(b"a\0b".to_vec())) else {
            panic!("expected a literal");
        };
        assert_eq!(l.data(), b"a\x80b");
        assert_eq!(body_data(None), NString(None));
    }

    #[test]
    fn internal_dates_are_in_the_gestore_zone() {
        let rome = TimeZone::get("Europe/Rome").unwrap();
        let date = date_time(1_415_985_992, &rome).unwrap();
        assert_eq!(date.as_ref().to_rfc3339(), "2014-11-14T18:26:32+01:00");
    }
}
