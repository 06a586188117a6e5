//! LDIF content records (RFC 2849): a reader into generic entries and the
//! value writer. The reader accepts what real index files contain and
//! refuses, with the line number, what it cannot honour: change records,
//! `attr:< URL` values (we never fetch), malformed lines and base64.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::IndexError;

/// Largest LDIF text accepted, in bytes.
pub const MAX_LDIF_BYTES: usize = 64 << 20;
/// Most physical lines accepted.
pub const MAX_LINES: usize = 4_000_000;
/// Longest logical (unfolded) line accepted, in bytes.
pub const MAX_LOGICAL_LINE: usize = 1 << 20;

/// Column at which [`write_value`] folds lines.
const FOLD_AT: usize = 76;

/// Standard alphabet; padding written, optional on input.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One attribute value of an entry.
#[derive(Debug)]
pub(crate) struct Attr {
    /// Attribute type, lowercased, options (`;binary`...) removed.
    pub(crate) name: String,
    /// The value (decoded when it was base64).
    pub(crate) value: Vec<u8>,
    /// Physical line where the attribute starts.
    pub(crate) line: usize,
}

/// One LDIF content record.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) dn: String,
    pub(crate) attrs: Vec<Attr>,
}

impl Entry {
    /// Values of attribute `name` (lowercase), in order.
    pub(crate) fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Attr> + 'a {
        self.attrs.iter().filter(move |a| a.name == name)
    }
}

/// Reads LDIF content records. Comments and the optional `version: 1`
/// line are dropped; CRLF and LF are both line ends.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, IndexError> {
    if text.len() > MAX_LDIF_BYTES {
        return Err(IndexError::TooLarge {
            size: text.len(),
            limit: MAX_LDIF_BYTES,
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries = Vec::new();
    let mut first = true;
    for record in records(text)? {
        let mut lines = record
            .into_iter()
            .filter(|(_, line)| !line.starts_with('#'))
            .peekable();
        if lines.peek().is_none() {
            continue;
        }
        if first {
            first = false;
            if let Some((n, line)) = lines.next_if(|(_, l)| starts_with_ci(l, "version:")) {
                let version = line.get("version:".len()..).unwrap_or("").trim();
                if version != "1" {
                    return Err(syntax(n, format!("unsupported LDIF version {version:?}")));
                }
            }
        }
        let Some((n, line)) = lines.next() else {
            continue;
        };
        let (name, value) = attr_line(n, &line)?;
        if name != "dn" {
            return Err(syntax(
                n,
                format!("an entry must start with \"dn:\", found attribute {name:?}"),
            ));
        }
        let dn = String::from_utf8(value).map_err(|_| syntax(n, "the DN is not UTF-8".into()))?;
        let mut attrs = Vec::new();
        for (n, line) in lines {
            let (name, value) = attr_line(n, &line)?;
            match name.as_str() {
                "dn" => {
                    return Err(syntax(
                        n,
                        "a second \"dn:\" inside one entry (missing blank line?)".into(),
                    ));
                }
                "changetype" => {
                    return Err(syntax(
                        n,
                        "LDIF change records are not supported, only content records".into(),
                    ));
                }
                _ => attrs.push(Attr {
                    name,
                    value,
                    line: n,
                }),
            }
        }
        entries.push(Entry { dn, attrs });
    }
    Ok(entries)
}

/// Splits the text into records of unfolded logical lines, each with the
/// physical line number where it starts.
fn records(text: &str) -> Result<Vec<Vec<(usize, String)>>, IndexError> {
    let mut records = Vec::new();
    let mut current: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        if n > MAX_LINES {
            return Err(IndexError::TooManyLines { limit: MAX_LINES });
        }
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = line.strip_prefix(' ') {
            match current.last_mut() {
                Some((start, logical)) => {
                    if logical.len() + rest.len() > MAX_LOGICAL_LINE {
                        return Err(too_long(*start));
                    }
                    logical.push_str(rest);
                }
                None if rest.trim().is_empty() => {}
                None => {
                    return Err(syntax(
                        n,
                        "continuation line (leading space) without a line to continue".into(),
                    ));
                }
            }
        } else if line.is_empty() {
            if !current.is_empty() {
                records.push(std::mem::take(&mut current));
            }
        } else {
            if line.len() > MAX_LOGICAL_LINE {
                return Err(too_long(n));
            }
            current.push((n, line.to_owned()));
        }
    }
    if !current.is_empty() {
        records.push(current);
    }
    Ok(records)
}

/// Parses `name[;options]: value`, `name[;options]:: base64` into the
/// lowercased name without options and the value bytes.
fn attr_line(n: usize, line: &str) -> Result<(String, Vec<u8>), IndexError> {
    let Some((description, rest)) = line.split_once(':') else {
        return Err(syntax(n, "no \":\" after the attribute name".into()));
    };
    let mut parts = description.split(';');
    let name = parts.next().unwrap_or("");
    if !is_attr_name(name) || !parts.all(is_attr_name) {
        return Err(syntax(
            n,
            format!("invalid attribute description {description:?}"),
        ));
    }
    let value = if let Some(encoded) = rest.strip_prefix(':') {
        let compact: Vec<u8> = encoded
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        BASE64.decode(&compact).map_err(|e| IndexError::Base64 {
            line: n,
            attribute: name.to_owned(),
            reason: e.to_string(),
        })?
    } else if rest.starts_with('<') {
        return Err(syntax(
            n,
            format!("{name}:< URL values are not supported (the index is never fetched from URLs)"),
        ));
    } else {
        rest.trim_start_matches(' ').as_bytes().to_vec()
    };
    Ok((name.to_ascii_lowercase(), value))
}

/// An attribute type or option: a keystring or a numeric OID (RFC 4512).
fn is_attr_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn syntax(line: usize, reason: String) -> IndexError {
    IndexError::Syntax { line, reason }
}

fn too_long(line: usize) -> IndexError {
    syntax(
        line,
        format!("logical line longer than {MAX_LOGICAL_LINE} bytes"),
    )
}

/// Appends `name: value` (or `name:: base64` when the value is not an
/// RFC 2849 SAFE-STRING or ends with a space) and a line end, folded at 76
/// columns.
pub(crate) fn write_value(out: &mut String, name: &str, value: &[u8]) {
    let line = if is_safe(value) {
        // Safe values are ASCII.
        format!("{name}: {}", String::from_utf8_lossy(value))
    } else {
        format!("{name}:: {}", BASE64.encode(value))
    };
    let mut column = 0;
    for c in line.chars() {
        if column == FOLD_AT {
            out.push_str("\n ");
            column = 1;
        }
        out.push(c);
        column += 1;
    }
    out.push('\n');
}

/// RFC 2849 SAFE-STRING, and no trailing space.
fn is_safe(value: &[u8]) -> bool {
    let init_ok = value
        .first()
        .is_none_or(|b| !matches!(b, b' ' | b':' | b'<'));
    init_ok
        && value.last() != Some(&b' ')
        && value
            .iter()
            .all(|&b| b != 0 && b != b'\n' && b != b'\r' && b.is_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_and_comments() {
        let text = "version: 1\r\n# a comment\r\n  continued\r\ndn: o=post\r\n acert\r\nobjectClass: top\r\ndescription:: aGVsbG8=\r\n";
        let entries = parse(text).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].dn, "o=postacert");
        assert_eq!(entries[0].attrs[0].name, "objectclass");
        assert_eq!(entries[0].attrs[1].value, b"hello");
        assert_eq!(entries[0].attrs[1].line, 7);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let cases = [
            ("dn: a\nnocolon\n", 2),
            ("dn: a\nx:< file:///etc/passwd\n", 2),
            ("dn: a\nchangetype: add\n", 2),
            ("objectClass: top\n", 1),
            (" leading\n", 1),
            ("version: 2\n", 1),
            ("dn: a\nbad name: x\n", 2),
            ("dn: a\nx: 1\ndn: b\n", 3),
        ];
        for (text, line) in cases {
            match parse(text) {
                Err(IndexError::Syntax { line: got, .. }) => assert_eq!(got, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(matches!(
            parse("dn: a\nx:: !!!\n"),
            Err(IndexError::Base64 { line: 2, .. })
        ));
    }

    #[test]
    fn writer_folds_and_encodes() {
        let mut out = String::new();
        write_value(&mut out, "description", "x".repeat(200).as_bytes());
        assert!(out.lines().all(|l| l.len() <= FOLD_AT));
        let mut out2 = String::new();
        write_value(&mut out2, "description", " leading".as_bytes());
        assert!(out2.starts_with("description:: "));
        let mut out3 = String::new();
        write_value(&mut out3, "description", "città".as_bytes());
        assert!(out3.starts_with("description:: "));
        let parsed = parse(&format!("dn: a\n{out}{out2}{out3}")).unwrap();
        let values: Vec<&[u8]> = parsed[0].attrs.iter().map(|a| &a.value[..]).collect();
        let long = "x".repeat(200);
        assert_eq!(
            values,
            [long.as_bytes(), b" leading".as_slice(), "città".as_bytes()]
        );
    }
}
