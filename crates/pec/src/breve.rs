//! The breve transformation (spec §3.9): the copy of the original message carried as
//! `postacert.eml` in a *ricevuta di avvenuta consegna breve*.
//!
//! A breve receipt proves delivery without sending the attachments back to the sender: the
//! original message travels with its headers and MIME tree, but every file in it is replaced by
//! a small `text/plain` file holding the file's hash. The sender, who must keep unaltered copies
//! of what they sent, can check each copy against the receipt (for example with `sha1sum`).
//!
//! [`breve`] works on the raw bytes. It walks the MIME tree itself, cutting entities and
//! multipart bodies with [`crate::mime`], and uses `mail-parser` only to read the header fields
//! of each entity (unfolding, RFC 2047 and RFC 2231 parameter decoding) and to undo base64 and
//! quoted-printable. The output is the input with only the replaced byte ranges changed: every
//! header, boundary, preamble, epilogue and unnamed body part is copied byte for byte.
//!
//! # Decisions
//!
//! - **What is replaced.** Every leaf entity whose `Content-Type` has a `name` parameter or whose
//!   `Content-Disposition` has a `filename` parameter (RFC 2231 forms such as `filename*=` and
//!   `name*0*=` included). A parameter with an empty value counts as absent: it names no file.
//!   A `multipart/*` entity with a `boundary` is a container, never a leaf; one without a
//!   `boundary` cannot be split and is treated as a leaf.
//! - **What is hashed: the decoded content.** The spec (RFC 6109 §3.3.2.2) is ambiguous between
//!   the encoded and the decoded form. We hash the content with its `Content-Transfer-Encoding`
//!   removed, i.e. the file as the sender has it on disk, because the rule exists so that the
//!   sender can re-verify the copy they kept; a hash of one particular base64 rendering (line
//!   length, final padding line) could not be recomputed from the file. No charset conversion
//!   and no line-end conversion is applied: the bytes are those the encoding carries. The body
//!   ends before the line break that precedes the next boundary (RFC 2046 §5.1.1: that line
//!   break belongs to the boundary). A base64 or quoted-printable body that does not decode is
//!   hashed as carried, and so is a body in an encoding we do not know.
//! - **Attached messages.** A `message/rfc822` (or `message/global`) entity is replaced as a
//!   whole, with or without a file name (spec: "an attached message is replaced as a whole by
//!   its hash"). The hash covers its entire body as carried (RFC 2046 allows only the identity
//!   encodings for it; an illegal base64 or quoted-printable one is decoded like any other part).
//!   Without a name the replacement is called [`ATTACHED_MESSAGE_NAME`]`.hash`. Inside a
//!   `multipart/digest`, a part without `Content-Type` is such a message (RFC 2046 §5.1.5).
//! - **Signed originals.** In a `multipart/signed` entity (at any depth) only the first, signed
//!   part is walked; every other part (the user's `application/(x-)pkcs7-signature`, even though
//!   it is named `smime.p7s`) is kept unchanged. The user's signature no longer verifies, as the
//!   spec expects.
//! - **Opaque originals.** An original whose top-level type is `application/pkcs7-mime` or
//!   `application/x-pkcs7-mime` (opaque CMS) is returned unchanged: nothing inside can be
//!   reached. The same type deeper in the tree is an ordinary attachment.
//! - **The replacement part** is exactly `Content-Type: text/plain; charset=us-ascii;
//!   name="<file>.hash"`, `Content-Disposition: attachment; filename="<file>.hash"`,
//!   `Content-Transfer-Encoding: 7bit`, a blank line and the lowercase hex digest followed by a
//!   line break. Any other header field of the replaced part (`Content-ID`,
//!   `Content-Description`, ...) goes with it. `<file>` is the decoded original file name (the
//!   `filename` parameter, else `name`). A name that is not plain printable ASCII, or that holds
//!   `"` or `\`, is written as an RFC 2231 `utf-8''` extended value; a long name is split in
//!   RFC 2231 continuations so that no header line grows past 78 characters. When the named entity
//!   is the message itself (a single-part original), its `Content-*` header fields are replaced
//!   and all the other message header fields are kept in place.
//! - **Line ends.** The replacement uses the line end of the original's first line (CRLF or LF),
//!   so an LF-only original stays LF-only.
//! - **Boundaries** are those of [`crate::mime::split_multipart`]: a delimiter line is
//!   `--boundary` at the start of a line, the close delimiter `--boundary--`, either followed by
//!   nothing but spaces and tabs before the line end; a line with anything else after the
//!   boundary is content. A body whose close delimiter is missing ends its last part at the end
//!   of the enclosing entity.
//! - **Limits.** Entities nested deeper than [`MAX_DEPTH`] levels are an error, so a hostile
//!   original cannot exhaust the stack. An original that does not start with a header field is
//!   an error. Every other malformation is tolerated and copied as it is.

use std::borrow::Cow;
use std::ops::Range;

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{MessageParser, MimeHeaders};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::mime;

/// How many levels of MIME nesting below the message itself [`breve`] accepts.
pub const MAX_DEPTH: usize = 32;

/// The file name given to an attached message that has none (it then becomes
/// `messaggio.eml.hash`).
pub const ATTACHED_MESSAGE_NAME: &str = "messaggio.eml";

/// Suffix appended to the original file name.
const HASH_SUFFIX: &str = ".hash";

/// Longest parameter chunk written on one header line (RFC 2231 continuations beyond it).
const PARAM_CHUNK: usize = 50;

/// Digest used for the `.hash` replacement parts.
///
/// The spec says SHA-1; it is a parameter because a later note may have moved it to SHA-256
/// (spec §3.9 and §9.3, both marked uncertain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashAlg {
    /// SHA-1, 40 hex digits: what RFC 6109 prescribes.
    #[default]
    Sha1,
    /// SHA-256, 64 hex digits.
    Sha256,
}

impl HashAlg {
    /// The digest of `data` as lowercase hexadecimal.
    pub fn hex(&self, data: &[u8]) -> String {
        match self {
            HashAlg::Sha1 => to_hex(&Sha1::digest(data)),
            HashAlg::Sha256 => to_hex(&Sha256::digest(data)),
        }
    }

    /// The algorithm's conventional lowercase name: `sha1` or `sha256`.
    pub fn name(&self) -> &'static str {
        match self {
            HashAlg::Sha1 => "sha1",
            HashAlg::Sha256 => "sha256",
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Why an original could not be turned into its breve form.
#[derive(Debug, thiserror::Error)]
pub enum BreveError {
    /// The original has no bytes at all.
    #[error("the original message is empty")]
    Empty,
    /// The original does not begin with an RFC 5322 header field.
    #[error("the original is not an RFC 5322 message: {reason}")]
    NotAMessage {
        /// What was found instead.
        reason: String,
    },
    /// The MIME tree nests deeper than [`MAX_DEPTH`].
    #[error("MIME nesting deeper than {limit} levels (entity at byte {offset} of the original)")]
    TooDeep {
        /// The limit that was exceeded.
        limit: usize,
        /// Where the offending entity starts in the original.
        offset: usize,
    },
}

/// Turns the original message into the copy carried by a breve receipt.
///
/// `original` is the complete message as carried in the busta (its `postacert.eml`), with CRLF
/// or LF line ends. Every named leaf part and every attached message is replaced by a
/// `<name>.hash` text part holding the `alg` digest of its decoded content; everything else is
/// copied byte for byte. See the [module documentation](self) for the exact rules.
///
/// # Errors
///
/// [`BreveError::Empty`] and [`BreveError::NotAMessage`] when `original` is not a message,
/// [`BreveError::TooDeep`] when its MIME tree nests deeper than [`MAX_DEPTH`].
pub fn breve(original: &[u8], alg: HashAlg) -> Result<Vec<u8>, BreveError> {
    check_starts_with_field(original)?;
    let mut walker = Walker {
        src: original,
        alg,
        eol: line_end_of(original),
        parser: MessageParser::default(),
        edits: Vec::new(),
    };
    walker.entity(0..original.len(), 0, Context::Root)?;
    Ok(walker.apply())
}

/// Refuses inputs whose first line is not a header field (`name:` with a printable name).
fn check_starts_with_field(src: &[u8]) -> Result<(), BreveError> {
    let first_line = match src.iter().position(|&b| b == b'\n') {
        Some(end) => &src[..end],
        None if src.is_empty() => return Err(BreveError::Empty),
        None => src,
    };
    let Some(colon) = first_line.iter().position(|&b| b == b':') else {
        return Err(BreveError::NotAMessage {
            reason: format!("first line {:?} is not a header field", preview(first_line)),
        });
    };
    let name = &first_line[..colon];
    if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b)) {
        return Err(BreveError::NotAMessage {
            reason: format!("invalid header field name {:?}", preview(name)),
        });
    }
    Ok(())
}

/// A short, printable rendering of some input bytes for error messages.
fn preview(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned()
}

/// The line end of the first line, used for every line we write.
fn line_end_of(src: &[u8]) -> &'static [u8] {
    match src.iter().position(|&b| b == b'\n') {
        Some(i) if i > 0 && src[i - 1] == b'\r' => b"\r\n",
        Some(_) => b"\n",
        None => b"\r\n",
    }
}

/// Where an entity sits and what the parent implies about it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    /// The message itself.
    Root,
    /// A body part; `in_digest` when the parent is `multipart/digest`.
    Part { in_digest: bool },
}

/// One entity split at the blank line that ends its header section.
struct Entity {
    /// The whole entity: header fields, blank line and body.
    whole: Range<usize>,
    /// The header fields, without the blank line.
    fields_end: usize,
    /// Where the body starts (after the blank line).
    body: Range<usize>,
}

/// What an entity's header fields say, in the terms breve cares about.
struct Info {
    kind: Kind,
    /// The decoded file name, if the entity names one.
    file_name: Option<String>,
    /// The `Content-Transfer-Encoding`, lowercase, if any.
    encoding: Option<String>,
}

enum Kind {
    /// `multipart/*` with a boundary: walk the parts.
    Multipart {
        boundary: Vec<u8>,
        signed: bool,
        digest: bool,
    },
    /// `message/rfc822` or `message/global`: replaced as a whole.
    AttachedMessage,
    /// `application/(x-)pkcs7-mime`: opaque CMS.
    OpaqueCms,
    /// Anything else.
    Leaf,
}

/// A replaced byte range of the original.
struct Edit {
    range: Range<usize>,
    bytes: Vec<u8>,
}

struct Walker<'a> {
    src: &'a [u8],
    alg: HashAlg,
    eol: &'static [u8],
    parser: MessageParser,
    /// Replacements in ascending, non-overlapping order (the walk goes left to right).
    edits: Vec<Edit>,
}

impl Walker<'_> {
    fn entity(
        &mut self,
        range: Range<usize>,
        depth: usize,
        context: Context,
    ) -> Result<(), BreveError> {
        if depth > MAX_DEPTH {
            return Err(BreveError::TooDeep {
                limit: MAX_DEPTH,
                offset: range.start,
            });
        }
        let entity = split_entity(self.src, range);
        let info = self.info(&entity, context);
        match info.kind {
            Kind::Multipart {
                boundary,
                signed,
                digest,
            } => {
                let body_start = entity.body.start;
                let parts = mime::split_multipart(&self.src[entity.body], &boundary).parts;
                // multipart/signed: only the signed content; the signature stays as it is.
                let walked = if signed {
                    &parts[..parts.len().min(1)]
                } else {
                    &parts[..]
                };
                for part in walked {
                    let range = body_start + part.start..body_start + part.end;
                    self.entity(range, depth + 1, Context::Part { in_digest: digest })?;
                }
            }
            Kind::OpaqueCms if context == Context::Root => {}
            Kind::AttachedMessage => {
                let name = info
                    .file_name
                    .unwrap_or_else(|| ATTACHED_MESSAGE_NAME.to_owned());
                self.replace(&entity, context, &name, info.encoding.as_deref());
            }
            Kind::OpaqueCms | Kind::Leaf => {
                if let Some(name) = info.file_name {
                    self.replace(&entity, context, &name, info.encoding.as_deref());
                }
            }
        }
        Ok(())
    }

    /// Reads the header fields of `entity` with mail-parser.
    fn info(&self, entity: &Entity, context: Context) -> Info {
        let headers = &self.src[entity.whole.start..entity.body.start];
        let parsed = self.parser.parse_headers(headers);
        let part = parsed.as_ref().and_then(|m| m.parts.first());
        let content_type = part.and_then(|p| p.content_type());
        let (ctype, subtype) = match content_type {
            Some(ct) => (
                ct.ctype().to_ascii_lowercase(),
                ct.subtype().unwrap_or_default().to_ascii_lowercase(),
            ),
            None if matches!(context, Context::Part { in_digest: true }) => {
                ("message".to_owned(), "rfc822".to_owned())
            }
            None => ("text".to_owned(), "plain".to_owned()),
        };
        let boundary = content_type.and_then(|ct| ct.attribute("boundary"));
        let kind = match (ctype.as_str(), subtype.as_str(), boundary) {
            ("multipart", _, Some(boundary)) => Kind::Multipart {
                boundary: boundary.as_bytes().to_vec(),
                signed: subtype == "signed",
                digest: subtype == "digest",
            },
            ("message", "rfc822" | "global", _) => Kind::AttachedMessage,
            ("application", "pkcs7-mime" | "x-pkcs7-mime", _) => Kind::OpaqueCms,
            _ => Kind::Leaf,
        };
        Info {
            kind,
            file_name: part.and_then(|p| p.attachment_name()).map(str::to_owned),
            encoding: part
                .and_then(|p| p.content_transfer_encoding())
                .map(|e| e.trim().to_ascii_lowercase()),
        }
    }

    /// Records the replacement of `entity` by the hash part for `name`.
    fn replace(&mut self, entity: &Entity, context: Context, name: &str, encoding: Option<&str>) {
        let content = decode(&self.src[entity.body.clone()], encoding);
        let digest = self.alg.hex(&content);
        let eol = self.eol;
        let mut bytes = Vec::with_capacity(256);
        let range = match context {
            Context::Part { .. } => entity.whole.clone(),
            Context::Root => {
                // The message itself: keep its non-MIME header fields.
                let fields = &self.src[entity.whole.start..entity.fields_end];
                for field in mime::logical_lines(fields) {
                    if !is_content_field(field) {
                        bytes.extend_from_slice(field);
                    }
                }
                if bytes.last().is_some_and(|&b| b != b'\n') {
                    bytes.extend_from_slice(eol);
                }
                entity.whole.clone()
            }
        };
        let file_name = format!("{name}{HASH_SUFFIX}");
        bytes.extend_from_slice(b"Content-Type: text/plain; charset=us-ascii");
        push_param(&mut bytes, "name", &file_name, eol);
        bytes.extend_from_slice(eol);
        bytes.extend_from_slice(b"Content-Disposition: attachment");
        push_param(&mut bytes, "filename", &file_name, eol);
        bytes.extend_from_slice(eol);
        bytes.extend_from_slice(b"Content-Transfer-Encoding: 7bit");
        bytes.extend_from_slice(eol);
        bytes.extend_from_slice(eol);
        bytes.extend_from_slice(digest.as_bytes());
        bytes.extend_from_slice(eol);
        self.edits.push(Edit { range, bytes });
    }

    /// The original with every edit spliced in.
    fn apply(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.src.len());
        let mut copied = 0;
        for edit in self.edits {
            out.extend_from_slice(&self.src[copied..edit.range.start]);
            out.extend_from_slice(&edit.bytes);
            copied = edit.range.end;
        }
        out.extend_from_slice(&self.src[copied..]);
        out
    }
}

/// Splits `range` at the first empty line (CRLF or LF). Without one, all of it is header.
fn split_entity(src: &[u8], range: Range<usize>) -> Entity {
    let (header, body) = mime::split_header(&src[range.clone()]);
    Entity {
        fields_end: range.start + header.len(),
        body: range.end - body.len()..range.end,
        whole: range,
    }
}

/// Whether a raw header field is one of the `Content-*` fields describing the body.
fn is_content_field(field: &[u8]) -> bool {
    field
        .get(..8)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"content-"))
}

/// Removes the transfer encoding; undecodable or unknown encodings give the bytes as carried.
fn decode<'a>(body: &'a [u8], encoding: Option<&str>) -> Cow<'a, [u8]> {
    let decoded = match encoding {
        Some("base64") => base64_decode(body),
        Some("quoted-printable") => quoted_printable_decode(body),
        _ => None,
    };
    decoded.map_or(Cow::Borrowed(body), Cow::Owned)
}

/// Appends `; attr=value` to a header being written, one parameter chunk per folded line:
/// a quoted string when `value` is printable ASCII, an RFC 2231 `utf-8''` value otherwise,
/// split in RFC 2231 continuations when longer than [`PARAM_CHUNK`].
fn push_param(out: &mut Vec<u8>, attr: &str, value: &str, eol: &[u8]) {
    let quotable = value
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
    let chunks: Vec<String> = if quotable {
        value
            .as_bytes()
            .chunks(PARAM_CHUNK)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect()
    } else {
        // Chunk on character boundaries: decoders may decode each continuation on its own.
        let mut chunks = vec![String::new()];
        for ch in value.chars() {
            let encoded = percent_encode(ch);
            if chunks
                .last()
                .is_some_and(|last| !last.is_empty() && last.len() + encoded.len() > PARAM_CHUNK)
            {
                chunks.push(String::new());
            }
            if let Some(last) = chunks.last_mut() {
                last.push_str(&encoded);
            }
        }
        chunks
    };
    let single = chunks.len() == 1;
    for (i, chunk) in chunks.iter().enumerate() {
        out.push(b';');
        out.extend_from_slice(eol);
        let param = match (quotable, single, i) {
            (true, true, _) => format!(" {attr}=\"{chunk}\""),
            (true, false, _) => format!(" {attr}*{i}=\"{chunk}\""),
            (false, true, _) => format!(" {attr}*=utf-8''{chunk}"),
            (false, false, 0) => format!(" {attr}*0*=utf-8''{chunk}"),
            (false, false, _) => format!(" {attr}*{i}*={chunk}"),
        };
        out.extend_from_slice(param.as_bytes());
    }
}

/// RFC 2231 `attribute-char`s stay, every other octet of the UTF-8 form becomes `%XX`.
fn percent_encode(ch: char) -> String {
    let mut buf = [0u8; 4];
    let mut out = String::new();
    for &b in ch.encode_utf8(&mut buf).as_bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
