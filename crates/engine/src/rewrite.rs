//! Header edits on received bytes, for what the gestore passes on to an ordinary address on
//! a holder's behalf (forwarded ordinary mail, copies of PEC without legal value): the
//! marks are added in the header, and every other byte stays as it arrived, so that what
//! the recipient reads is the message itself.

/// `raw` with the field `name: value` added before its first header line.
pub fn prepend_header(raw: &[u8], name: &str, value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + name.len() + value.len() + 4);
    out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    out.extend_from_slice(raw);
    out
}

/// `raw` with `prefix` and a space put in front of the value of its Subject field (the
/// first one of the header, matched in any case); a message without a Subject gets one
/// holding the prefix alone.
pub fn prefix_subject(raw: &[u8], prefix: &str) -> Vec<u8> {
    let header_end = header_end(raw);
    let mut start = 0;
    while start < header_end {
        let line_end = raw[start..header_end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(header_end, |p| start + p + 1);
        let line = &raw[start..line_end];
        if line.len() >= 8 && line[..8].eq_ignore_ascii_case(b"subject:") {
            let value = &line[8..];
            let value = value.strip_prefix(b" ").unwrap_or(value);
            let mut out = Vec::with_capacity(raw.len() + prefix.len() + 2);
            out.extend_from_slice(&raw[..start]);
            out.extend_from_slice(format!("Subject: {prefix} ").as_bytes());
            out.extend_from_slice(value);
            out.extend_from_slice(&raw[line_end..]);
            return out;
        }
        start = line_end;
    }
    prepend_header(raw, "Subject", prefix)
}

/// Where the header ends: the offset of the blank line that closes it (the whole message
/// when there is none).
fn header_end(raw: &[u8]) -> usize {
    let mut start = 0;
    while start < raw.len() {
        let rest = &raw[start..];
        if rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
            return start;
        }
        start = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| start + p + 1);
    }
    raw.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: a@b.test\r\nsubject: POSTA CERTIFICATA:\r\n =?utf-8?q?Prova?=\r\n\r\nSubject: body\r\n";

    #[test]
    fn the_subject_gets_the_prefix_and_nothing_else_changes() {
        let out = prefix_subject(MSG, "[COPIA]");
        assert_eq!(
            out,
            b"From: a@b.test\r\nSubject: [COPIA] POSTA CERTIFICATA:\r\n =?utf-8?q?Prova?=\r\n\r\nSubject: body\r\n"
        );
    }

    #[test]
    fn a_subject_in_the_body_is_not_the_header_s() {
        let out = prefix_subject(b"From: a@b.test\r\n\r\nSubject: body\r\n", "[COPIA]");
        assert_eq!(
            out,
            b"Subject: [COPIA]\r\nFrom: a@b.test\r\n\r\nSubject: body\r\n"
        );
    }

    #[test]
    fn a_prepended_header_leaves_the_original_bytes_intact() {
        let out = prepend_header(MSG, "X-Pecora-Inoltro", "mario@pec.test");
        assert!(out.starts_with(b"X-Pecora-Inoltro: mario@pec.test\r\nFrom: a@b.test\r\n"));
        assert!(out.ends_with(MSG));
    }
}
