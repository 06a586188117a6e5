//! SEARCH and UID SEARCH over the selected folder's view: flags, sizes, sequence and UID
//! sets, dates (the internal date's day in the gestore's time zone, the Date header's own
//! day for SENT*), header and text keys through [`crate::structure::Parsed`] (a
//! document system finds its receipts with `HEADER X-Ricevuta accettazione`), and
//! CONDSTORE's MODSEQ. Messages are read from the blob store only when a key needs them,
//! one at a time.

use std::num::{NonZeroU32, NonZeroU64};

use imap_codec::imap_types::core::Charset;
use imap_codec::imap_types::datetime::NaiveDate;
use imap_codec::imap_types::response::{Code, Data, Response};
use imap_codec::imap_types::search::SearchKey;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use store::StoredMessage;

use crate::io::Io;
use crate::reply::{Failure, Outcome};
use crate::selected::{contains, has_flag};
use crate::session::Session;
use crate::structure::Parsed;

/// What a search key is evaluated against.
struct Candidate<'a> {
    seq: u32,
    message: &'a StoredMessage,
    parsed: Option<Parsed<'a>>,
}

/// What evaluating keys needs to know about the folder and the gestore.
struct Context {
    count: u32,
    largest_uid: u32,
    tz: TimeZone,
}

/// Whether a key (or one inside it) looks into the message itself.
fn needs_content(key: &SearchKey<'_>) -> bool {
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().any(needs_content),
        SearchKey::Not(key) => needs_content(key),
        SearchKey::Or(a, b) => needs_content(a) || needs_content(b),
        SearchKey::Bcc(_)
        | SearchKey::Body(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::Header(_, _)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_)
        | SearchKey::Subject(_)
        | SearchKey::Text(_)
        | SearchKey::To(_) => true,
        _ => false,
    }
}

/// Whether a key asks for MODSEQ (the response then carries the highest one).
fn uses_modseq(key: &SearchKey<'_>) -> bool {
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().any(uses_modseq),
        SearchKey::Not(key) => uses_modseq(key),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::ModSequence { .. } => true,
        _ => false,
    }
}

fn text(s: &impl AsRef<[u8]>) -> String {
    String::from_utf8_lossy(s.as_ref()).into_owned()
}

/// The civil date of an instant in the gestore's time zone.
fn date_of(seconds: i64, tz: &TimeZone) -> Option<Date> {
    Some(
        jiff::Timestamp::from_second(seconds)
            .ok()?
            .to_zoned(tz.clone())
            .date(),
    )
}

/// A date of a search key as a civil date.
fn civil(date: &NaiveDate) -> Option<Date> {
    use chrono::Datelike;
    let d = date.as_ref();
    Date::new(
        i16::try_from(d.year()).ok()?,
        d.month() as i8,
        d.day() as i8,
    )
    .ok()
}

/// Compares a message's date with a key's date: `None` (no date) never matches.
fn compare(date: Option<Date>, key: &NaiveDate, test: fn(Date, Date) -> bool) -> bool {
    match (date, civil(key)) {
        (Some(date), Some(key)) => test(date, key),
        _ => false,
    }
}

fn matches(key: &SearchKey<'_>, c: &Candidate<'_>, cx: &Context) -> bool {
    let flag = |f: &str| has_flag(&c.message.flags, f);
    let header = |name: &str, value: &dyn AsRef<[u8]>| {
        c.parsed
            .as_ref()
            .is_some_and(|p| p.header_matches(name, &text(&value)))
    };
    let internal = || date_of(c.message.received_at, &cx.tz);
    // RFC 3501: the Date header's own day, "disregarding time and timezone".
    let sent = || c.parsed.as_ref().and_then(Parsed::sent_day);
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().all(|k| matches(k, c, cx)),
        SearchKey::SequenceSet(set) => contains(set, c.seq, cx.count),
        SearchKey::Uid(set) => contains(set, c.message.uid, cx.largest_uid),
        SearchKey::All | SearchKey::Old => true,
        SearchKey::New | SearchKey::Recent => false,
        SearchKey::Answered => flag("\\Answered"),
        SearchKey::Deleted => flag("\\Deleted"),
        SearchKey::Draft => flag("\\Draft"),
        SearchKey::Flagged => flag("\\Flagged"),
        SearchKey::Seen => flag("\\Seen"),
        SearchKey::Unanswered => !flag("\\Answered"),
        SearchKey::Undeleted => !flag("\\Deleted"),
        SearchKey::Undraft => !flag("\\Draft"),
        SearchKey::Unflagged => !flag("\\Flagged"),
        SearchKey::Unseen => !flag("\\Seen"),
        SearchKey::Keyword(k) => flag(k.inner()),
        SearchKey::Unkeyword(k) => !flag(k.inner()),
        SearchKey::Bcc(v) => header("Bcc", v),
        SearchKey::Cc(v) => header("Cc", v),
        SearchKey::From(v) => header("From", v),
        SearchKey::To(v) => header("To", v),
        SearchKey::Subject(v) => header("Subject", v),
        SearchKey::Header(name, v) => header(&text(name), v),
        SearchKey::Body(v) => c.parsed.as_ref().is_some_and(|p| p.body_contains(&text(v))),
        SearchKey::Text(v) => c.parsed.as_ref().is_some_and(|p| p.text_contains(&text(v))),
        SearchKey::Before(d) => compare(internal(), d, |a, b| a < b),
        SearchKey::On(d) => compare(internal(), d, |a, b| a == b),
        SearchKey::Since(d) => compare(internal(), d, |a, b| a >= b),
        SearchKey::SentBefore(d) => compare(sent(), d, |a, b| a < b),
        SearchKey::SentOn(d) => compare(sent(), d, |a, b| a == b),
        SearchKey::SentSince(d) => compare(sent(), d, |a, b| a >= b),
        SearchKey::Larger(n) => c.message.size > u64::from(*n),
        SearchKey::Smaller(n) => c.message.size < u64::from(*n),
        SearchKey::Not(k) => !matches(k, c, cx),
        SearchKey::Or(a, b) => matches(a, c, cx) || matches(b, c, cx),
        SearchKey::ModSequence { modseq, .. } => c.message.modseq >= *modseq,
    }
}

impl Session {
    /// SEARCH and UID SEARCH.
    pub(crate) async fn search(
        &mut self,
        io: &mut Io,
        charset: Option<&Charset<'_>>,
        criteria: &[SearchKey<'_>],
        uid: bool,
    ) -> Outcome<Option<Code<'static>>> {
        if let Some(charset) = charset {
            let name = charset.as_ref();
            if !name.eq_ignore_ascii_case("UTF-8") && !name.eq_ignore_ascii_case("US-ASCII") {
                let allowed = ["UTF-8", "US-ASCII"]
                    .into_iter()
                    .filter_map(|c| Charset::try_from(c).ok())
                    .collect();
                return Err(Failure::No {
                    code: Some(Code::BadCharset { allowed }),
                    text: format!(
                        "Charset {name} non supportato: usare UTF-8 (unsupported charset)"
                    ),
                });
            }
        }
        let with_modseq = criteria.iter().any(uses_modseq);
        if with_modseq {
            self.condstore = true;
        }
        let tz = self.engine.clock().now().time_zone().clone();
        let store = self.engine.store().clone();
        let sel = self.selection()?;
        let cx = Context {
            count: u32::try_from(sel.messages.len()).unwrap_or(u32::MAX),
            largest_uid: sel.messages.last().map_or(0, |m| m.uid),
            tz,
        };
        // One message in memory at a time.
        let content = criteria.iter().any(needs_content);
        let mut found = Vec::new();
        let mut highest = 0;
        for (index, message) in sel.messages.iter().enumerate() {
            let raw = match content {
                true => Some(
                    store
                        .get(&message.blob)
                        .await
                        .map_err(|e| Failure::store(e, "reading a message to search it"))?,
                ),
                false => None,
            };
            let candidate = Candidate {
                seq: index as u32 + 1,
                message,
                parsed: raw.as_deref().map(Parsed::new),
            };
            if criteria.iter().all(|key| matches(key, &candidate, &cx)) {
                found.push(if uid { message.uid } else { candidate.seq });
                highest = highest.max(message.modseq);
            }
        }
        let found = found.into_iter().filter_map(NonZeroU32::new).collect();
        let modseq = NonZeroU64::new(highest).filter(|_| with_modseq);
        io.send(&Response::Data(Data::Search(found, modseq)));
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_read_only_when_needed() {
        let flagged = SearchKey::Flagged;
        let header = SearchKey::Header(
            "X-Ricevuta".try_into().unwrap(),
            "accettazione".try_into().unwrap(),
        );
        assert!(!needs_content(&flagged));
        assert!(needs_content(&header));
        assert!(needs_content(&SearchKey::Not(Box::new(header))));
        assert!(uses_modseq(&SearchKey::Or(
            Box::new(flagged),
            Box::new(SearchKey::ModSequence {
                entry: None,
                modseq: 3
            })
        )));
    }

    #[test]
    fn dates_are_civil_in_the_gestore_zone() {
        let rome = TimeZone::get("Europe/Rome").unwrap();
        // 2026-03-02 23:30 UTC is already the 3rd in Rome.
        let d = date_of(1_772_494_200, &rome).unwrap();
        assert_eq!(d, jiff::civil::date(2026, 3, 3));
    }
}
