//! Raw MIME, cut byte-exactly: header section and body, header fields, the parts of a multipart
//! body, and line ends.
//!
//! Why this exists beside mail-parser: several jobs need the bytes exactly as they were on the
//! wire, not as a parser re-renders or normalises them. Buste copy `Received:`, `To:`, `Cc:`...
//! "unchanged" from the original, and the original travels unmodified except for its
//! Message-ID; the breve transformation ([`mod@crate::breve`]) replaces some parts and must copy
//! every other byte; S/MIME verification (the `smime` crate) must hand OpenSSL the signed part
//! exactly as it was signed. All of them cut with this one module, so they agree on where a
//! header section ends and where a part begins.
//!
//! Meaning (addresses, decoded subjects, `Content-Type` parameters such as the boundary) comes
//! from mail-parser; this module only finds offsets and cuts and splices bytes. Both CRLF and
//! bare LF line ends are accepted everywhere, and nothing here fails: malformed input is cut as
//! well as it can be.

use std::ops::Range;

use sha2::{Digest, Sha256};

/// One header field as it appeared: name, and every byte of it including folded
/// continuation lines and the final line end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawField<'a> {
    pub name: &'a str,
    pub raw: &'a [u8],
}

impl<'a> RawField<'a> {
    /// `raw` as a field, if it starts with a field name (printable ASCII, no spaces) and a colon.
    fn parse(raw: &'a [u8]) -> Option<Self> {
        let colon = raw.iter().position(|&b| b == b':')?;
        let name = std::str::from_utf8(&raw[..colon]).ok()?;
        (!name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()))
            .then_some(RawField { name, raw })
    }

    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The field's value with folding removed and surrounding whitespace trimmed.
    pub fn value(&self) -> String {
        let after_colon = &self.raw[self.name.len() + 1..];
        let text = String::from_utf8_lossy(after_colon);
        text.split(['\r', '\n'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Splits a message or entity at its first empty line (CRLF or LF): `(header section with its
/// last line end, body after the empty line)`; the empty line itself is in neither.
///
/// Without an empty line everything is header and the body is empty; that is the one case
/// where `header.len() == raw.len()`.
pub fn split_header(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut line = 0;
    while line < raw.len() {
        let rest = &raw[line..];
        if rest.starts_with(b"\n") {
            return (&raw[..line], &raw[line + 1..]);
        }
        if rest.starts_with(b"\r\n") {
            return (&raw[..line], &raw[line + 2..]);
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => line += nl + 1,
            None => break,
        }
    }
    (raw, &[])
}

/// A header section cut into logical lines: each line that does not start with a space or a
/// tab, together with the continuation lines after it, line ends included. Every byte of
/// `header` is in exactly one of them, including lines that are not fields (see [`fields`]).
pub fn logical_lines(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = header;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = 0;
        // A logical line runs until a line end that is followed by a non-blank character.
        loop {
            match rest[end..].iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    end += nl + 1;
                    if !matches!(rest.get(end), Some(b' ' | b'\t')) {
                        break;
                    }
                }
                None => {
                    end = rest.len();
                    break;
                }
            }
        }
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// The header fields of a message, in order. Lines that are not fields (no colon, or a
/// continuation line at the very start) are skipped: they cannot be copied meaningfully.
pub fn fields(raw: &[u8]) -> Vec<RawField<'_>> {
    logical_lines(split_header(raw).0)
        .filter_map(RawField::parse)
        .collect()
}

/// The body parts of a multipart body (RFC 2046 §5.1.1), as found by [`split_multipart`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    /// Each part as a range of the body, in order: from after the line end of the delimiter
    /// line that opens it up to, excluding, the line break before the delimiter line that ends
    /// it (that line break belongs to the delimiter). Empty when no delimiter line opens a part.
    /// The preamble is what comes before the first range, the epilogue what comes after the
    /// close delimiter line.
    pub parts: Vec<Range<usize>>,
    /// A close delimiter (`--boundary--`) ended the parts. Without one the last part runs to
    /// the end of the body.
    pub closed: bool,
}

/// Cuts a multipart body at the delimiter lines of `boundary` (the parameter's value, without
/// the leading `--`).
///
/// A delimiter line starts with `--boundary`; the close delimiter line with `--boundary--`.
/// Either may be followed by transport padding (spaces, tabs, a CR before the LF) and nothing
/// else: a line with anything more after the boundary is content. Lines after the close
/// delimiter (the epilogue) are not looked at. A missing close delimiter is tolerated.
pub fn split_multipart(body: &[u8], boundary: &[u8]) -> Multipart {
    let mut parts = Vec::new();
    let mut open: Option<usize> = None;
    let mut line = 0;
    while line < body.len() {
        let (line_end, next) = match body[line..].iter().position(|&b| b == b'\n') {
            Some(nl) => (line + nl, line + nl + 1),
            None => (body.len(), body.len()),
        };
        if let Some(close) = delimiter(&body[line..line_end], boundary) {
            if let Some(start) = open {
                parts.push(start..line_break_before(body, start, line));
            }
            if close {
                return Multipart {
                    parts,
                    closed: true,
                };
            }
            open = Some(next);
        }
        line = next;
    }
    parts.extend(open.map(|start| start..body.len()));
    Multipart {
        parts,
        closed: false,
    }
}

/// Classifies `line` (without its LF): `Some(false)` for a delimiter line of `boundary`,
/// `Some(true)` for the close delimiter line, `None` for anything else.
fn delimiter(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    let (close, padding) = match rest.strip_prefix(b"--") {
        Some(after) => (true, after),
        None => (false, rest),
    };
    padding
        .iter()
        .all(|&b| matches!(b, b' ' | b'\t' | b'\r'))
        .then_some(close)
}

/// Where the data before the delimiter line starting at `at` ends: before its CRLF or LF,
/// not looking before `floor` (the start of the part).
fn line_break_before(body: &[u8], floor: usize, at: usize) -> usize {
    let mut end = at;
    if end > floor && body[end - 1] == b'\n' {
        end -= 1;
        if end > floor && body[end - 1] == b'\r' {
            end -= 1;
        }
    }
    end
}

/// `true` if `data` has a LF not preceded by CR: [`to_crlf`] would change it.
pub fn has_bare_lf(data: &[u8]) -> bool {
    data.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || data[i - 1] != b'\r'))
}

/// A copy of `raw` with bare LF line ends turned into CRLF: what SMTP carries, hence what we
/// sign and what a signature over a stored LF-only copy was made on.
pub fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// A multipart boundary (`----=_pecora_<label>_<24 hex>`) derived from `seed`, so the same
/// message always gets the same bytes, and guaranteed absent from `content`: if a candidate
/// occurs there, the next one is derived. `=_` cannot occur in quoted-printable or base64 text.
pub fn boundary(label: &str, seed: &[u8], content: &[u8]) -> String {
    (0u32..)
        .map(|n| {
            let mut h = Sha256::new();
            h.update(seed);
            h.update(n.to_be_bytes());
            let hex: String = h.finalize()[..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("----=_pecora_{label}_{hex}")
        })
        .find(|b| !content.windows(b.len()).any(|w| w == b.as_bytes()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_fields_are_kept_whole() {
        let raw = b"Received: from a\r\n\tby b\r\nTo: x@y\r\nSubject: hi\r\n\r\nbody";
        let f = fields(raw);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].raw, b"Received: from a\r\n\tby b\r\n");
        assert_eq!(f[0].value(), "from a by b");
        assert!(f[1].is("to"));
        assert_eq!(
            split_header(raw),
            (&raw[..raw.len() - 6], &raw[raw.len() - 4..])
        );
    }

    #[test]
    fn lf_only_and_headerless() {
        let raw = b"A: 1\nB: 2\n\nbody\n";
        assert_eq!(fields(raw).len(), 2);
        assert_eq!(split_header(raw), (&raw[..10], &raw[11..]));
        assert_eq!(split_header(b"A: 1\r\n"), (&b"A: 1\r\n"[..], &b""[..]));
        assert_eq!(to_crlf(b"a\nb\r\nc"), b"a\r\nb\r\nc");
    }

    #[test]
    fn header_split_crlf_and_lf() {
        assert_eq!(
            split_header(b"A: b\r\nC: d\r\n\r\nbody\r\n"),
            (&b"A: b\r\nC: d\r\n"[..], &b"body\r\n"[..])
        );
        assert_eq!(
            split_header(b"A: b\n\nbody"),
            (&b"A: b\n"[..], &b"body"[..])
        );
        assert_eq!(split_header(b"A: b"), (&b"A: b"[..], &b""[..]));
        assert_eq!(split_header(b"\r\nbody"), (&b""[..], &b"body"[..]));
    }

    #[test]
    fn logical_lines_keep_every_byte() {
        let header = b" stray\r\nA: 1\r\n b\r\nno colon\nB: 2";
        let lines: Vec<&[u8]> = logical_lines(header).collect();
        assert_eq!(
            lines,
            [
                &b" stray\r\n"[..],
                b"A: 1\r\n b\r\n",
                b"no colon\n",
                b"B: 2"
            ]
        );
        assert_eq!(fields(header).len(), 2);
    }

    #[test]
    fn bare_lf() {
        assert!(has_bare_lf(b"\n"));
        assert!(has_bare_lf(b"a\r\nb\n"));
        assert!(!has_bare_lf(b"a\r\nb\r\n"));
    }

    #[test]
    fn canonicalisation() {
        assert_eq!(to_crlf(b"a\nb\r\nc\n\n"), b"a\r\nb\r\nc\r\n\r\n");
    }

    /// The parts of `body` as slices, and whether it was closed.
    fn cut<'a>(body: &'a [u8], boundary: &[u8]) -> (Vec<&'a [u8]>, bool) {
        let m = split_multipart(body, boundary);
        (m.parts.into_iter().map(|r| &body[r]).collect(), m.closed)
    }

    #[test]
    fn multipart_parts_exclude_the_line_break_before_a_delimiter() {
        let body =
            b"preamble\r\n--B\r\none\r\n\r\n--B \t\r\n\r\n--B\r\n--B--\r\nepilogue\r\n--B\r\n";
        assert_eq!(cut(body, b"B"), (vec![&b"one\r\n"[..], b"", b""], true));
        let lf = b"--B\none\n--B--  \n";
        assert_eq!(cut(lf, b"B"), (vec![&b"one"[..]], true));
    }

    #[test]
    fn multipart_without_close_or_delimiters() {
        assert_eq!(
            cut(b"--B\r\nto the end\r\n", b"B"),
            (vec![&b"to the end\r\n"[..]], false)
        );
        assert_eq!(cut(b"--B\r\nx\r\n--B", b"B"), (vec![&b"x"[..], b""], false));
        assert_eq!(cut(b"no delimiter\r\n", b"B"), (vec![], false));
        assert_eq!(
            cut(b"--B--\r\n--B\r\nafter the close\r\n", b"B"),
            (vec![], true)
        );
    }

    #[test]
    fn multipart_lookalike_lines_are_content() {
        let body = b"--B\r\n--Bx\r\n---B\r\n --B\r\n--B--x\r\n--B\r\nlast\r\n--B--";
        assert_eq!(
            cut(body, b"B"),
            (vec![&b"--Bx\r\n---B\r\n --B\r\n--B--x"[..], b"last"], true)
        );
    }

    #[test]
    fn boundary_is_stable_and_avoids_content() {
        let first = boundary("mixed", b"seed", b"");
        assert_eq!(first, boundary("mixed", b"seed", b"other content"));
        assert!(first.starts_with("----=_pecora_mixed_"));
        let content = format!("text\r\n--{first}\r\n");
        let second = boundary("mixed", b"seed", content.as_bytes());
        assert_ne!(second, first);
        assert!(!content.contains(&second));
    }
}
