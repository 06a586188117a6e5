//! Multi-line bodies as POP3 sends them (RFC 1939 §3): every line ended by CRLF, a line
//! that starts with "." sent with one more ".", and the body closed by a line holding
//! only ".". RETR and TOP send stored messages this way, CAPA, LIST and UIDL their
//! listings.
//!
//! Stored messages have CRLF line ends, but a bare LF (a message appended by a client that
//! wrote LF) is sent as CRLF too: the client would otherwise never see the line end, and a
//! "." after a bare LF would escape the stuffing.

/// `text` as a multi-line body, terminator included. With `body_lines` (TOP), only the
/// header section, the blank line after it and that many lines of the body.
pub(crate) fn dot_stuffed(text: &[u8], body_lines: Option<usize>) -> Vec<u8> {
    // Every line might gain a dot and a CR; this guess avoids most reallocations.
    let mut out = Vec::with_capacity(text.len() + text.len() / 32 + 8);
    let mut body_left = None;
    let mut rest = text;
    while !rest.is_empty() && body_left != Some(0) {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(lf) => (&rest[..lf], &rest[lf + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        match &mut body_left {
            Some(left) => *left -= 1,
            None if line.is_empty() => body_left = body_lines,
            None => {}
        }
        rest = next;
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What a client does with a body: lines up to the lone ".", one leading dot removed.
    fn unstuff(wire: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in wire.split_inclusive(|&b| b == b'\n') {
            assert!(line.ends_with(b"\r\n"), "line without CRLF: {line:?}");
            if line == b".\r\n" {
                return out;
            }
            out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        }
        panic!("body without its terminating line");
    }

    /// The message with every line end CRLF and a final line end.
    fn canonical(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in text.split_inclusive(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    #[test]
    fn dots_are_doubled_and_the_body_terminated() {
        let wire = dot_stuffed(b"Subject: x\r\n\r\n.\r\n..a\r\nb.\r\n", None);
        assert_eq!(wire, b"Subject: x\r\n\r\n..\r\n...a\r\nb.\r\n.\r\n");
    }

    #[test]
    fn bare_lf_and_a_missing_last_line_end_become_crlf() {
        assert_eq!(dot_stuffed(b"a\n.b\nc", None), b"a\r\n..b\r\nc\r\n.\r\n");
        assert_eq!(dot_stuffed(b"", None), b".\r\n");
    }

    #[test]
    fn top_sends_the_headers_the_blank_line_and_n_body_lines() {
        let m = b"From: a\r\nTo: b\r\n\r\none\r\n.two\r\nthree\r\n";
        assert_eq!(dot_stuffed(m, Some(0)), b"From: a\r\nTo: b\r\n\r\n.\r\n");
        assert_eq!(
            dot_stuffed(m, Some(2)),
            b"From: a\r\nTo: b\r\n\r\none\r\n..two\r\n.\r\n"
        );
        assert_eq!(dot_stuffed(m, Some(99)), dot_stuffed(m, None));
        // A message without a body is all header section.
        assert_eq!(dot_stuffed(b"From: a\r\n", Some(0)), b"From: a\r\n.\r\n");
    }

    proptest! {
        #[test]
        fn a_client_gets_back_the_canonical_message(
            text in proptest::collection::vec(
                prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), any::<u8>()],
                0..300,
            )
        ) {
            let wire = dot_stuffed(&text, None);
            prop_assert_eq!(unstuff(&wire), canonical(&text));
            // The only lone "." line is the terminator.
            prop_assert_eq!(
                wire.windows(5).filter(|w| w == b"\r\n.\r\n").count()
                    + usize::from(wire.starts_with(b".\r\n")),
                1
            );
        }
    }
}
