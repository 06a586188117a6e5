//! The DATA phase: dot-unstuffing on the way in, dot-stuffing on the way out.
//!
//! Only `CRLF . CRLF` ends the data, and a dot is removed only at the start of a line that
//! follows a CRLF (or opens the data). A bare LF never starts a line here: `LF . CRLF` or
//! `LF . LF` inside a message stay message content, so a message cannot smuggle a second SMTP
//! transaction past a server that would read line ends differently. The sending side mirrors
//! this exactly, so our client and our server agree byte for byte.

/// Where the reader is relative to line starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Just after CRLF (or at the start of the data).
    LineStart,
    /// Saw a `.` at a line start.
    Dot,
    /// Saw `.` CR at a line start.
    DotCr,
    /// Inside a line; `last_cr` says whether the previous byte was CR.
    Inside { last_cr: bool },
}

/// Incremental DATA reader: feed it what the socket gives, it says when the data ended.
#[derive(Debug)]
pub(crate) struct DotReader {
    state: State,
    max: u64,
    size: u64,
    message: Vec<u8>,
}

impl DotReader {
    /// A reader that keeps at most `max` bytes of unstuffed message; beyond that it keeps
    /// counting and discards.
    pub(crate) fn new(max: u64) -> Self {
        DotReader {
            state: State::LineStart,
            max,
            size: 0,
            message: Vec::new(),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.size = self.size.saturating_add(bytes.len() as u64);
        if self.size <= self.max {
            self.message.extend_from_slice(bytes);
        } else if !self.message.is_empty() {
            self.message = Vec::new();
        }
    }

    /// Consumes `input`. Returns `Some(n)` when the terminating `.CRLF` ends at `input[n-1]`
    /// (bytes from `n` on belong to the next command), `None` when more input is needed.
    pub(crate) fn feed(&mut self, input: &[u8]) -> Option<usize> {
        let mut i = 0;
        while let Some(&byte) = input.get(i) {
            match self.state {
                State::LineStart => {
                    if byte == b'.' {
                        self.state = State::Dot;
                        i += 1;
                    } else {
                        self.state = State::Inside { last_cr: false };
                    }
                }
                State::Dot => {
                    if byte == b'\r' {
                        self.state = State::DotCr;
                        i += 1;
                    } else {
                        // A stuffed dot: drop it, the rest of the line is content.
                        self.state = State::Inside { last_cr: false };
                    }
                }
                State::DotCr => {
                    if byte == b'\n' {
                        return Some(i + 1);
                    }
                    // `.` CR then something else: the dot was stuffing, the CR is content.
                    self.push(b"\r");
                    self.state = State::Inside { last_cr: true };
                }
                State::Inside { last_cr } => {
                    let rest = &input[i..];
                    match rest.iter().position(|&b| b == b'\n') {
                        Some(lf) => {
                            let crlf = if lf == 0 {
                                last_cr
                            } else {
                                rest[lf - 1] == b'\r'
                            };
                            self.push(&rest[..=lf]);
                            i += lf + 1;
                            self.state = if crlf {
                                State::LineStart
                            } else {
                                State::Inside { last_cr: false }
                            };
                        }
                        None => {
                            self.push(rest);
                            i = input.len();
                            self.state = State::Inside {
                                last_cr: rest.last() == Some(&b'\r'),
                            };
                        }
                    }
                }
            }
        }
        None
    }

    /// Size of the unstuffed message, including any part discarded for exceeding the limit.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The message, or `None` if it exceeded the limit.
    pub(crate) fn into_message(self) -> Option<Vec<u8>> {
        (self.size <= self.max).then_some(self.message)
    }
}

/// Dot-stuffs `message` for DATA and appends the terminator. A message that does not end
/// with CRLF gets one (a DATA body must end with a line end).
pub(crate) fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut line_start = true;
    let mut last_cr = false;
    for &byte in message {
        if line_start && byte == b'.' {
            out.push(b'.');
        }
        out.push(byte);
        line_start = byte == b'\n' && last_cr;
        last_cr = byte == b'\r';
    }
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` to a reader in chunks of every size, checking each gives the same result.
    fn unstuff(wire: &[u8]) -> (Vec<u8>, usize) {
        let mut expected = None;
        for chunk in 1..=wire.len().max(1) {
            let mut reader = DotReader::new(u64::MAX);
            let mut offset = 0;
            let mut end = None;
            for piece in wire.chunks(chunk) {
                if let Some(n) = reader.feed(piece) {
                    end = Some(offset + n);
                    break;
                }
                offset += piece.len();
            }
            let end = end.expect("terminator not found");
            let message = reader.into_message().expect("no limit");
            match &expected {
                None => expected = Some((message, end)),
                Some(e) => assert_eq!(e, &(message, end), "chunk size {chunk}"),
            }
        }
        expected.expect("at least one chunk size")
    }

    #[test]
    fn unstuffs_and_finds_the_end() {
        assert_eq!(unstuff(b".\r\n"), (b"".to_vec(), 3));
        assert_eq!(unstuff(b"a\r\n.\r\nQUIT\r\n"), (b"a\r\n".to_vec(), 6));
        assert_eq!(
            unstuff(b"..leading\r\n...\r\n.\r\n"),
            (b".leading\r\n..\r\n".to_vec(), 19)
        );
        assert_eq!(unstuff(b".x\r\n.\r\n"), (b"x\r\n".to_vec(), 7));
        assert_eq!(unstuff(b".\rx\r\n.\r\n"), (b"\rx\r\n".to_vec(), 8));
    }

    #[test]
    fn bare_lf_never_ends_the_data() {
        let wire = b"a\n.\nMAIL FROM:<x@y>\r\nb\n.\r\nc\r\r\n.\r\n";
        let (message, end) = unstuff(wire);
        assert_eq!(
            message,
            b"a\n.\nMAIL FROM:<x@y>\r\nb\n.\r\nc\r\r\n".to_vec()
        );
        assert_eq!(end, wire.len());
    }

    #[test]
    fn oversize_is_counted_and_discarded() {
        let mut reader = DotReader::new(4);
        assert_eq!(reader.feed(b"12345\r\n.\r\n"), Some(10));
        assert_eq!(reader.size(), 7);
        assert!(reader.into_message().is_none());
    }

    #[test]
    fn stuffing_round_trips() {
        for message in [
            &b""[..],
            b"a\r\n",
            b".\r\n",
            b"..\r\n.x\r\n",
            b"no final line end",
            b"a\n.\nb\r\n",
            b"\r\n.\r\n.\r\n",
        ] {
            let wire = dot_stuff(message);
            let (back, end) = unstuff(&wire);
            assert_eq!(end, wire.len());
            let mut expected = message.to_vec();
            if !message.is_empty() && !message.ends_with(b"\r\n") {
                expected.extend_from_slice(b"\r\n");
            }
            assert_eq!(back, expected, "{:?}", String::from_utf8_lossy(message));
        }
    }
}
