//! Raw header fields, byte-exact. Buste copy `Received:`, `To:`, `Cc:`... "unchanged" from the
//! original, and the original itself travels unmodified except for its Message-ID: both need
//! the fields as they were on the wire, not as a parser re-renders them. Meaning (addresses,
//! decoded subjects) comes from mail-parser; this module only cuts and splices bytes.

/// One header field as it appeared: name, and every byte of it including folded
/// continuation lines and the final line end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawField<'a> {
    pub name: &'a str,
    pub raw: &'a [u8],
}

impl RawField<'_> {
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

/// Where the header block ends: the offset of the body (after the blank line), or `None`
/// when there is no blank line (a message with headers only).
pub fn body_offset(raw: &[u8]) -> Option<usize> {
    if raw.starts_with(b"\r\n") {
        return Some(2);
    }
    if raw.starts_with(b"\n") {
        return Some(1);
    }
    let mut i = 0;
    while let Some(pos) = raw[i..].iter().position(|&b| b == b'\n') {
        let nl = i + pos;
        match raw.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if raw.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

/// The header fields of a message, in order. Lines that are not fields (no colon, or a
/// continuation line at the very start) are skipped: they cannot be copied meaningfully.
pub fn fields(raw: &[u8]) -> Vec<RawField<'_>> {
    let end = body_offset(raw).unwrap_or(raw.len());
    let block = &raw[..end];
    let mut out = Vec::new();
    let mut start = 0;
    while start < block.len() {
        let mut stop = start;
        // A field runs until a line end that is followed by a non-blank character.
        loop {
            match block[stop..].iter().position(|&b| b == b'\n') {
                Some(pos) => {
                    stop += pos + 1;
                    if !matches!(block.get(stop), Some(b' ' | b'\t')) {
                        break;
                    }
                }
                None => {
                    stop = block.len();
                    break;
                }
            }
        }
        let line = &block[start..stop];
        if let Some(colon) = line.iter().position(|&b| b == b':')
            && let Ok(name) = std::str::from_utf8(&line[..colon])
            && !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_graphic())
        {
            out.push(RawField { name, raw: line });
        }
        start = stop;
    }
    out
}

/// A copy of `raw` with bare LF line ends turned into CRLF, so that what we sign is what
/// SMTP will carry.
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
        assert_eq!(body_offset(raw), Some(raw.len() - 4));
    }

    #[test]
    fn lf_only_and_headerless() {
        let raw = b"A: 1\nB: 2\n\nbody\n";
        assert_eq!(fields(raw).len(), 2);
        assert_eq!(body_offset(raw), Some(11));
        assert_eq!(body_offset(b"A: 1\r\n"), None);
        assert_eq!(to_crlf(b"a\nb\r\nc"), b"a\r\nb\r\nc");
    }
}
