//! The MIME structure of a stored message as IMAP shows it (RFC 3501 §6.4.5, §7.4.2): ENVELOPE,
//! BODY/BODYSTRUCTURE, `BODY[section]` and the SEARCH predicates, from one mail-parser parse.
//!
//! mail-parser records, for every MIME part, where its header starts, where its body starts and
//! where it ends, as offsets into the `raw_message` of the [`Message`] holding the part. A
//! `message/rfc822` part sent as 7bit/8bit/binary is parsed in place: its nested `Message` has the
//! whole outer message as `raw_message`, so its offsets are absolute. One sent in base64 or
//! quoted-printable is decoded and parsed apart: its `raw_message` is the decoded bytes and its
//! offsets are relative to them. Cutting a part out of its own message's `raw_message` is right in
//! both cases, so that is the only way bytes are cut here.
//!
//! Values RFC 3501 hands over as sent (subject, date, message ids, MIME parameters, transfer
//! encodings) are cut from the raw header bytes, never taken from mail-parser's decoded values.

use std::borrow::Cow;
use std::iter;
use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use imap_codec::imap_types::body::{
    BasicFields, Body, BodyStructure, Disposition, Language, Location, MultiPartExtensionData,
    SinglePartExtensionData, SpecificFields,
};
use imap_codec::imap_types::core::{AString, IString, Literal, NString, Quoted, Vec1};
use imap_codec::imap_types::envelope::{Address, Envelope};
use imap_codec::imap_types::fetch::{Part, Section};
use mail_parser::parsers::MessageStream;
use mail_parser::{
    Addr, DateTime, Encoding, GetHeader, Group, Header, HeaderName, HeaderValue, Message,
    MessageParser, MessagePart, PartType,
};

/// Deepest nesting of multiparts and encapsulated messages shown part by part; a part deeper down
/// is opaque, so that a hostile message cannot make the structure (or a client parsing it) recurse
/// without bound.
const MAX_DEPTH: usize = 64;

/// Most MIME parts (over all nested messages) a message may have to be shown part by part; one with
/// more is a single text/plain part, so that its BODYSTRUCTURE stays in proportion.
const MAX_PARTS: usize = 10_000;

/// A message parsed once, for FETCH and SEARCH.
pub struct Parsed<'a> {
    raw: &'a [u8],
    /// Never without a root part: mail-parser returns none such, and `unparsed` makes one.
    message: Message<'a>,
}

impl<'a> Parsed<'a> {
    /// Parses `raw`; never fails (a message mail-parser cannot read is one text/plain part).
    pub fn new(raw: &'a [u8]) -> Parsed<'a> {
        // mail-parser checks its nesting bookkeeping with `debug_assert!`, which some nestings
        // of message/rfc822 trip: in a debug build that must not end the session either.
        let parse = || MessageParser::default().parse(raw);
        let message = match std::panic::catch_unwind(parse).ok().flatten() {
            Some(message) if part_count(&message) <= MAX_PARTS => message,
            Some(too_many_parts) => {
                dispose(too_many_parts);
                unparsed(raw)
            }
            None => unparsed(raw),
        };
        Parsed { raw, message }
    }

    /// ENVELOPE of the top-level message.
    pub fn envelope(&self) -> Envelope<'static> {
        self.top().envelope()
    }

    /// BODYSTRUCTURE (`extended`) or BODY (not extended).
    pub fn body_structure(&self, extended: bool) -> BodyStructure<'static> {
        self.top().structure(extended)
    }

    /// The bytes of `BODY[section]` (`None` = the whole message); `None` if there is no such
    /// part.
    pub fn section(&self, section: Option<&Section<'_>>) -> Option<Vec<u8>> {
        let bytes = match section {
            None => self.raw,
            Some(Section::Part(part)) => self.part(part)?.body(),
            Some(Section::Mime(part)) => self.part(part)?.header(),
            Some(Section::Header(part)) => self.message_root(part.as_ref())?.header(),
            Some(Section::Text(part)) => self.message_root(part.as_ref())?.body(),
            Some(Section::HeaderFields(part, names)) => {
                return Some(
                    self.message_root(part.as_ref())?
                        .fields(names.as_ref(), true),
                );
            }
            Some(Section::HeaderFieldsNot(part, names)) => {
                return Some(
                    self.message_root(part.as_ref())?
                        .fields(names.as_ref(), false),
                );
            }
        };
        Some(bytes.to_vec())
    }

    /// SEARCH HEADER: whether a header field `name` (any case) contains `needle`
    /// (case-insensitive, on the decoded value); an empty needle matches any such field.
    pub fn header_matches(&self, name: &str, needle: &str) -> bool {
        let top = self.top();
        let needle = needle.to_lowercase();
        top.part
            .headers
            .iter()
            .filter(|header| header.name.as_str().eq_ignore_ascii_case(name))
            .any(|header| contains(&decoded(top.message, header), &needle))
    }

    /// SEARCH BODY: whether the decoded text of any text part contains `needle`
    /// (case-insensitive).
    pub fn body_contains(&self, needle: &str) -> bool {
        let needle = needle.to_lowercase();
        messages(&self.message)
            .iter()
            .flat_map(|message| &message.parts)
            .any(|part| text(part).is_some_and(|text| contains(text, &needle)))
    }

    /// SEARCH TEXT: headers or body contain `needle` (case-insensitive). Headers are every
    /// field (name or decoded value) of every part, encapsulated messages included.
    pub fn text_contains(&self, needle: &str) -> bool {
        let lowered = needle.to_lowercase();
        let in_headers = messages(&self.message).iter().any(|message| {
            message
                .parts
                .iter()
                .flat_map(|part| &part.headers)
                .any(|header| {
                    contains(header.name.as_str(), &lowered)
                        || contains(&decoded(message, header), &lowered)
                })
        });
        in_headers || self.body_contains(needle)
    }

    /// The Date header as Unix seconds (SEARCH SENTBEFORE/SENTON/SENTSINCE).
    pub fn sent_date(&self) -> Option<i64> {
        self.date().map(DateTime::to_timestamp)
    }

    /// The calendar day the Date header names, in the sender's own time zone: RFC 3501 compares
    /// SENTBEFORE/SENTON/SENTSINCE "disregarding time and timezone", which a Unix time cannot.
    pub fn sent_day(&self) -> Option<jiff::civil::Date> {
        let date = self.date()?;
        let year = i16::try_from(date.year).ok()?;
        let month = i8::try_from(date.month).ok()?;
        let day = i8::try_from(date.day).ok()?;
        jiff::civil::Date::new(year, month, day).ok()
    }

    /// The Date header, if mail-parser could read a plausible date from it.
    fn date(&self) -> Option<&DateTime> {
        self.message.date().filter(|date| date.is_valid())
    }

    /// The root part of the top-level message.
    fn top(&self) -> Node<'_> {
        Node::root(&self.message, 0)
    }

    /// The part a section's part numbers address (RFC 3501 §6.4.5).
    fn part(&self, part: &Part) -> Option<Node<'_>> {
        let (first, rest) = part.0.as_ref().split_first()?;
        let start = self.top().part_of_message(*first)?;
        rest.iter()
            .try_fold(start, |node, &number| node.subpart(number))
    }

    /// The root of the message whose HEADER/TEXT a section asks for: the top-level message, or the
    /// one a `message/rfc822` part encapsulates (no other part has them).
    fn message_root(&self, part: Option<&Part>) -> Option<Node<'_>> {
        match part {
            None => Some(self.top()),
            Some(part) => self.part(part)?.encapsulated(),
        }
    }
}

impl Drop for Parsed<'_> {
    fn drop(&mut self) {
        dispose(std::mem::take(&mut self.message));
    }
}

/// A MIME part with the message whose `raw_message` its offsets index; `depth` counts the
/// multiparts and encapsulated messages around it.
#[derive(Clone, Copy)]
struct Node<'m> {
    message: &'m Message<'m>,
    part: &'m MessagePart<'m>,
    depth: usize,
}

impl<'m> Node<'m> {
    fn root(message: &'m Message<'m>, depth: usize) -> Node<'m> {
        Node {
            message,
            part: message.root_part(),
            depth,
        }
    }

    fn bytes(&self, from: u32, to: u32) -> &'m [u8] {
        slice(self.message, from, to)
    }

    /// The header with its closing blank line: MIME of a part, HEADER of a message's root.
    fn header(&self) -> &'m [u8] {
        self.bytes(self.part.offset_header, self.part.offset_body)
    }

    /// The body as sent, without the line end that belongs to the next boundary: `BODY[part]`,
    /// TEXT of a message's root.
    fn body(&self) -> &'m [u8] {
        self.bytes(self.part.offset_body, self.part.offset_end)
    }

    /// The subparts of a multipart (none below `MAX_DEPTH`).
    fn children(&self) -> Vec<Node<'m>> {
        match &self.part.body {
            PartType::Multipart(ids) if self.depth < MAX_DEPTH => ids
                .iter()
                .filter_map(|&id| self.message.parts.get(id as usize))
                .map(|part| Node {
                    message: self.message,
                    part,
                    depth: self.depth + 1,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The root of the message this `message/rfc822` part encapsulates.
    fn encapsulated(&self) -> Option<Node<'m>> {
        match &self.part.body {
            PartType::Message(nested)
                if self.depth < MAX_DEPTH && self.media_type().is_rfc822() =>
            {
                Some(Node::root(nested, self.depth + 1))
            }
            _ => None,
        }
    }

    /// Part `number` of the message this is the root of: a subpart if the root is a multipart,
    /// else (number 1 only) the root itself, whose body is the message's body.
    fn part_of_message(self, number: NonZeroU32) -> Option<Node<'m>> {
        let children = self.children();
        if children.is_empty() {
            (number.get() == 1).then_some(self)
        } else {
            children.get(index(number)).copied()
        }
    }

    /// Part `number` inside this part: a subpart of a multipart, or a part of the encapsulated
    /// message of a `message/rfc822` part.
    fn subpart(self, number: NonZeroU32) -> Option<Node<'m>> {
        match self.encapsulated() {
            Some(root) => root.part_of_message(number),
            None => self.children().get(index(number)).copied(),
        }
    }

    /// The value of header field `name` as sent, unfolded and trimmed; `None` if absent or empty.
    /// Of repeated fields it is the last one, the one mail-parser acts on.
    fn raw_header(&self, name: HeaderName<'_>) -> Option<Vec<u8>> {
        let header = self.part.headers.header(name)?;
        let value = unfold(self.bytes(header.offset_start, header.offset_end));
        (!value.is_empty()).then_some(value)
    }

    fn nstring(&self, name: HeaderName<'_>) -> NString<'static> {
        NString(self.raw_header(name).map(|value| istring(&value)))
    }

    /// The Content-Type as sent, or RFC 2045's default (`message/rfc822` in a multipart/digest,
    /// where mail-parser has parsed a message; text/plain otherwise). Text gets RFC 2045's
    /// default charset, us-ascii, when it names none.
    fn media_type(&self) -> MediaType {
        let declared = self
            .raw_header(HeaderName::ContentType)
            .and_then(|value| MediaType::parse(&value));
        let mut media = declared.unwrap_or_else(|| match self.part.body {
            PartType::Message(_) => MediaType::new(b"message", b"rfc822"),
            _ => MediaType::new(b"text", b"plain"),
        });
        let has_charset = media
            .params
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(b"charset"));
        if media.is(b"text") && !has_charset {
            media
                .params
                .push((b"charset".to_vec(), b"us-ascii".to_vec()));
        }
        media
    }

    fn structure(self, extended: bool) -> BodyStructure<'static> {
        let media = self.media_type();
        let bodies: Vec<_> = self
            .children()
            .into_iter()
            .map(|child| child.structure(extended))
            .collect();
        match Vec1::try_from(bodies) {
            Ok(bodies) => BodyStructure::Multi {
                bodies,
                subtype: istring(&media.subtype),
                extension_data: extended.then(|| MultiPartExtensionData {
                    parameter_list: params(&media.params),
                    tail: Some(self.disposition()),
                }),
            },
            Err(_) => BodyStructure::Single {
                extension_data: extended.then(|| SinglePartExtensionData {
                    md5: self.nstring(HeaderName::ContentMd5),
                    tail: Some(self.disposition()),
                }),
                body: self.single(media, extended),
            },
        }
    }

    /// The body fields of a part shown without subparts. A multipart without subparts and a
    /// `message/rfc822` part without a readable message are shown as the opaque bytes they are
    /// (application/octet-stream): IMAP has no form for them.
    fn single(self, media: MediaType, extended: bool) -> Body<'static> {
        let body = self.body();
        let encoding = self
            .raw_header(HeaderName::ContentTransferEncoding)
            .map(|value| mime_value(&value).value)
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| b"7bit".to_vec());
        let specific = if let Some(root) = self.encapsulated() {
            SpecificFields::Message {
                envelope: Box::new(root.envelope()),
                body_structure: Box::new(root.structure(extended)),
                number_of_lines: lines(body),
            }
        } else if media.is(b"text") {
            SpecificFields::Text {
                subtype: istring(&media.subtype),
                number_of_lines: lines(body),
            }
        } else if media.is(b"multipart") || media.is_rfc822() {
            SpecificFields::Basic {
                r#type: istring(b"application"),
                subtype: istring(b"octet-stream"),
            }
        } else {
            SpecificFields::Basic {
                r#type: istring(&media.kind),
                subtype: istring(&media.subtype),
            }
        };
        Body {
            basic: BasicFields {
                parameter_list: params(&media.params),
                id: self.nstring(HeaderName::ContentId),
                description: self.nstring(HeaderName::ContentDescription),
                content_transfer_encoding: istring(&encoding),
                size: saturate(body.len()),
            },
            specific,
        }
    }

    /// Content-Disposition, Content-Language and Content-Location: the extension data single
    /// parts and multiparts share.
    fn disposition(self) -> Disposition<'static> {
        let disposition = self
            .raw_header(HeaderName::ContentDisposition)
            .map(|value| mime_value(&value))
            .filter(|value| !value.value.is_empty())
            .map(|value| (istring(&value.value), params(&value.params)));
        let language = self
            .raw_header(HeaderName::ContentLanguage)
            .unwrap_or_default()
            .split(|&byte| byte == b',')
            .map(<[u8]>::trim_ascii)
            .filter(|tag| !tag.is_empty())
            .map(istring)
            .collect();
        Disposition {
            disposition,
            tail: Some(Language {
                language,
                tail: Some(Location {
                    location: self.nstring(HeaderName::ContentLocation),
                    extensions: Vec::new(),
                }),
            }),
        }
    }

    /// The ENVELOPE of the message this is the root of. Sender and Reply-To default to From
    /// (RFC 3501 §7.4.2).
    fn envelope(self) -> Envelope<'static> {
        let from = self.addresses(HeaderName::From);
        let or_from = |list: Vec<Address<'static>>| {
            if list.is_empty() { from.clone() } else { list }
        };
        Envelope {
            date: self.nstring(HeaderName::Date),
            subject: self.nstring(HeaderName::Subject),
            sender: or_from(self.addresses(HeaderName::Sender)),
            reply_to: or_from(self.addresses(HeaderName::ReplyTo)),
            to: self.addresses(HeaderName::To),
            cc: self.addresses(HeaderName::Cc),
            bcc: self.addresses(HeaderName::Bcc),
            in_reply_to: self.nstring(HeaderName::InReplyTo),
            message_id: self.nstring(HeaderName::MessageId),
            from,
        }
    }

    /// An address list as ENVELOPE lists it, groups between their start and end markers.
    fn addresses(&self, name: HeaderName<'_>) -> Vec<Address<'static>> {
        match self
            .part
            .headers
            .header_value(&name)
            .and_then(HeaderValue::as_address)
        {
            Some(mail_parser::Address::List(list)) => list.iter().map(address).collect(),
            Some(mail_parser::Address::Group(groups)) => groups.iter().flat_map(group).collect(),
            None => Vec::new(),
        }
    }

    /// The header fields named (`keep`) or not named in `names`, as sent, then the blank line.
    fn fields(self, names: &[AString<'_>], keep: bool) -> Vec<u8> {
        let line_end = line_end(self.header());
        let mut out = Vec::new();
        for header in &self.part.headers {
            let field_name = header.name.as_str().as_bytes();
            let named = names
                .iter()
                .any(|name| name.as_ref().eq_ignore_ascii_case(field_name));
            if named == keep {
                let field = self.bytes(header.offset_field, header.offset_end);
                out.extend_from_slice(field);
                if !field.ends_with(b"\n") {
                    out.extend_from_slice(line_end);
                }
            }
        }
        out.extend_from_slice(line_end);
        out
    }
}

/// One address of an ENVELOPE list. The display name is mail-parser's decoded phrase, put back
/// into an RFC 2047 word when it is not plain ASCII, so the client decodes it as it would a
/// header; a missing mailbox or host is an empty string (a NIL host would mark a group).
fn address(addr: &Addr<'_>) -> Address<'static> {
    let email = addr.address.as_deref().unwrap_or_default();
    let (mailbox, host) = email.rsplit_once('@').unwrap_or((email, ""));
    let name = addr.name.as_deref().filter(|name| !name.is_empty());
    Address {
        name: NString(name.map(|name| istring(&encoded_word(name)))),
        adl: NString::NIL,
        mailbox: NString(Some(istring(mailbox.as_bytes()))),
        host: NString(Some(istring(host.as_bytes()))),
    }
}

/// A group's members between RFC 3501's markers `(NIL NIL name NIL)` and `(NIL NIL NIL NIL)`,
/// the name encoded as display names are; mail-parser also reports addresses outside any group
/// as a group without a name.
fn group(group: &Group<'_>) -> Vec<Address<'static>> {
    let members = group.addresses.iter().map(address);
    let Some(name) = &group.name else {
        return members.collect();
    };
    let marker = |name: Option<&str>| Address {
        name: NString::NIL,
        adl: NString::NIL,
        mailbox: NString(name.map(|name| istring(&encoded_word(name)))),
        host: NString::NIL,
    };
    iter::once(marker(Some(name)))
        .chain(members)
        .chain(iter::once(marker(None)))
        .collect()
}

/// `text` as is when it is printable ASCII, else as one RFC 2047 base64 word.
fn encoded_word(text: &str) -> Vec<u8> {
    if text.bytes().all(|byte| (b' '..=b'~').contains(&byte)) {
        text.as_bytes().to_vec()
    } else {
        format!("=?utf-8?b?{}?=", BASE64.encode(text)).into_bytes()
    }
}

/// A media type as sent: `kind/subtype` and the parameters.
struct MediaType {
    kind: Vec<u8>,
    subtype: Vec<u8>,
    params: Vec<(Vec<u8>, Vec<u8>)>,
}

impl MediaType {
    fn new(kind: &[u8], subtype: &[u8]) -> MediaType {
        MediaType {
            kind: kind.to_vec(),
            subtype: subtype.to_vec(),
            params: Vec::new(),
        }
    }

    /// A Content-Type value; `None` if it has no `type/subtype` (RFC 2045 then says text/plain).
    fn parse(value: &[u8]) -> Option<MediaType> {
        let MimeValue { value, params } = mime_value(value);
        let mut halves = value.splitn(2, |&byte| byte == b'/');
        let kind = halves.next()?.trim_ascii();
        let subtype = halves.next()?.trim_ascii();
        (!kind.is_empty() && !subtype.is_empty()).then(|| MediaType {
            params,
            ..MediaType::new(kind, subtype)
        })
    }

    fn is(&self, kind: &[u8]) -> bool {
        self.kind.eq_ignore_ascii_case(kind)
    }

    fn is_rfc822(&self) -> bool {
        self.is(b"message") && self.subtype.eq_ignore_ascii_case(b"rfc822")
    }
}

/// A MIME header value (RFC 2045 §5.1, RFC 2183): the leading value, then `name=value`
/// parameters. Values stay as sent, apart from quoting: RFC 2231 (`name*=`) and RFC 2047 forms
/// are for the client to decode, as IMAP servers hand them over.
struct MimeValue {
    value: Vec<u8>,
    params: Vec<(Vec<u8>, Vec<u8>)>,
}

fn mime_value(raw: &[u8]) -> MimeValue {
    let mut segments = split_parameters(raw).into_iter();
    let value = segments.next().unwrap_or_default().trim_ascii().to_vec();
    let params = segments
        .filter_map(|segment| {
            let mut halves = segment.splitn(2, |&byte| byte == b'=');
            let name = halves.next()?.trim_ascii();
            let value = unquote(halves.next()?.trim_ascii());
            (!name.is_empty()).then(|| (name.to_vec(), value))
        })
        .collect();
    MimeValue { value, params }
}

/// Where the parameter splitter is within a header value.
#[derive(Clone, Copy)]
enum Lexer {
    Plain,
    Quoted,
    QuotedEscape,
    /// Inside a comment, nested this deep.
    Comment(usize),
    CommentEscape(usize),
}

/// `raw` split at the semicolons outside quoted strings, with comments and line breaks left out
/// and quoted strings kept whole (quotes included).
fn split_parameters(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut segments = vec![Vec::new()];
    let mut state = Lexer::Plain;
    for &byte in raw.iter().filter(|&&byte| byte != b'\r' && byte != b'\n') {
        let keep;
        (state, keep) = match (state, byte) {
            (Lexer::Plain, b';') => {
                segments.push(Vec::new());
                (Lexer::Plain, false)
            }
            (Lexer::Plain, b'(') => (Lexer::Comment(1), false),
            (Lexer::Plain, b'"') => (Lexer::Quoted, true),
            (Lexer::Plain, _) => (Lexer::Plain, true),
            (Lexer::Quoted, b'\\') => (Lexer::QuotedEscape, true),
            (Lexer::Quoted, b'"') => (Lexer::Plain, true),
            (Lexer::Quoted | Lexer::QuotedEscape, _) => (Lexer::Quoted, true),
            (Lexer::Comment(depth), b'\\') => (Lexer::CommentEscape(depth), false),
            (Lexer::Comment(depth), b'(') => (Lexer::Comment(depth + 1), false),
            (Lexer::Comment(1), b')') => (Lexer::Plain, false),
            (Lexer::Comment(depth), b')') => (Lexer::Comment(depth - 1), false),
            (Lexer::Comment(depth) | Lexer::CommentEscape(depth), _) => {
                (Lexer::Comment(depth), false)
            }
        };
        if keep && let Some(segment) = segments.last_mut() {
            segment.push(byte);
        }
    }
    segments
}

/// A parameter value without its quotes and backslash escapes, if it is a quoted string.
fn unquote(value: &[u8]) -> Vec<u8> {
    let Some(quoted) = value.strip_prefix(b"\"") else {
        return value.to_vec();
    };
    let mut out = Vec::new();
    let mut bytes = quoted.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'"' => break,
            b'\\' => out.extend(bytes.next()),
            _ => out.push(byte),
        }
    }
    out
}

fn params(params: &[(Vec<u8>, Vec<u8>)]) -> Vec<(IString<'static>, IString<'static>)> {
    params
        .iter()
        .map(|(name, value)| (istring(name), istring(value)))
        .collect()
}

/// An IMAP string: quoted if it can be, else a literal (8-bit or line breaks). NUL bytes, which
/// no IMAP string may hold, are dropped.
fn istring(bytes: &[u8]) -> IString<'static> {
    let bytes: Vec<u8> = bytes.iter().copied().filter(|&byte| byte != 0).collect();
    if Quoted::validate(&bytes).is_ok() {
        // Valid quoted text is ASCII, so this conversion loses nothing.
        Quoted::unvalidated(String::from_utf8_lossy(&bytes).into_owned()).into()
    } else {
        Literal::unvalidated(bytes).into()
    }
}

/// A header value with its line breaks taken out (RFC 5322 unfolding) and outer blanks trimmed.
fn unfold(value: &[u8]) -> Vec<u8> {
    let unfolded: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&byte| byte != b'\r' && byte != b'\n')
        .collect();
    unfolded.trim_ascii().to_vec()
}

/// `raw_message[from..to]` of `message`, empty if mail-parser's offsets are out of range.
fn slice<'m>(message: &'m Message<'m>, from: u32, to: u32) -> &'m [u8] {
    message
        .raw_message
        .get(from as usize..to as usize)
        .unwrap_or_default()
}

/// A header field's value as a reader sees it: unfolded, RFC 2047 words decoded (mail-parser's
/// unstructured-field parser, which wants the field's closing line end).
fn decoded(message: &Message<'_>, header: &Header<'_>) -> String {
    let mut line = slice(message, header.offset_start, header.offset_end).to_vec();
    line.push(b'\n');
    MessageStream::new(&line)
        .parse_unstructured()
        .into_text()
        .map(Cow::into_owned)
        .unwrap_or_default()
}

/// Whether `haystack` contains `needle`, which the caller has already lower-cased.
fn contains(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(needle)
}

/// The decoded text of a text part (mail-parser has already applied transfer encoding and
/// charset).
fn text<'m>(part: &'m MessagePart<'_>) -> Option<&'m str> {
    match &part.body {
        PartType::Text(text) | PartType::Html(text) => Some(text),
        _ => None,
    }
}

/// The line end a header uses (a message stored with bare LFs keeps them), CRLF if it has none.
fn line_end(header: &[u8]) -> &'static [u8] {
    match header.iter().position(|&byte| byte == b'\n') {
        Some(at) if header.get(..at).is_some_and(|line| !line.ends_with(b"\r")) => b"\n",
        _ => b"\r\n",
    }
}

/// Text lines in a body: its line ends, plus a last line without one.
fn lines(body: &[u8]) -> u32 {
    let line_ends = body.iter().filter(|&&byte| byte == b'\n').count();
    let unterminated = !body.is_empty() && !body.ends_with(b"\n");
    saturate(line_ends + usize::from(unterminated))
}

fn saturate(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// The index of 1-based part `number` among its siblings.
fn index(number: NonZeroU32) -> usize {
    (number.get() - 1) as usize
}

/// `message` and every message nested in it, gathered without recursion (a sender chooses the
/// nesting depth).
fn messages<'m>(message: &'m Message<'m>) -> Vec<&'m Message<'m>> {
    let mut all = vec![message];
    let mut next = 0;
    while let Some(current) = all.get(next).copied() {
        all.extend(current.parts.iter().filter_map(MessagePart::message));
        next += 1;
    }
    all
}

fn part_count(message: &Message<'_>) -> usize {
    messages(message)
        .iter()
        .map(|message| message.parts.len())
        .sum()
}

/// Drops `message` one nested message at a time: mail-parser's own drop recurses once per level
/// and overflows the stack on a message/rfc822 nested some thousands deep.
fn dispose(message: Message<'_>) {
    let mut pending = vec![message];
    while let Some(mut message) = pending.pop() {
        for part in &mut message.parts {
            if let PartType::Message(nested) = std::mem::take(&mut part.body) {
                pending.push(nested);
            }
        }
    }
}

/// A message mail-parser found no header in: one text/plain part, all body.
fn unparsed(raw: &[u8]) -> Message<'_> {
    Message {
        parts: vec![MessagePart {
            headers: Vec::new(),
            is_encoding_problem: true,
            body: PartType::Text(String::from_utf8_lossy(raw)),
            encoding: Encoding::None,
            offset_header: 0,
            offset_body: 0,
            offset_end: saturate(raw.len()),
        }],
        raw_message: Cow::Borrowed(raw),
        ..Message::default()
    }
}
