//! Where one client command ends: IMAP commands are lines, but a line may announce a literal
//! (`{n}` or `{n+}` at its end) whose `n` bytes, and then the rest of the command, follow.
//! Before any parsing, the framer cuts the byte stream into whole commands, with limits on
//! line length and literal size that hold however hostile the input is: an overlong line is
//! thrown away as it arrives, a refused literal is never buffered, and a refused command is
//! skipped whole, so that literal bytes are never taken for commands.
//!
//! It does no I/O (the session feeds it what the socket gives), so it can be fuzzed alone.
//! imap-codec's `CommandCodec` then decodes each whole command.

/// Why a command was refused before it was read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A line longer than the line limit (it was read to its end and thrown away).
    LineTooLong,
    /// A literal (of this many bytes) bigger than what is left of the command's literal
    /// budget.
    LiteralTooBig(u64),
}

/// What the framer found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole command: its lines (line ends included) and literals, as the client sent them.
    Command(Vec<u8>),
    /// The command so far ends with a synchronizing literal the framer will accept: the server
    /// must send a continuation request (`+ ...`) before the client sends the literal.
    Continue,
    /// A command refused without being read whole. The client's tag, when the command began
    /// with a valid one, lets the server answer it.
    Refused { tag: Option<String>, why: Refusal },
}

/// A raw line between commands (AUTHENTICATE's data, IDLE's `DONE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawLine {
    /// The line, line end included.
    Line(Vec<u8>),
    /// The line was longer than the line limit; it has been thrown away.
    TooLong,
}

/// A literal announced at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Announcement {
    length: u64,
    /// `{n}`: the client waits for a continuation request; `{n+}` (LITERAL+): it does not.
    sync: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a line of the current command.
    Line,
    /// Reading this many more bytes of a literal.
    Literal(u64),
}

/// Cuts client input into commands.
#[derive(Debug)]
pub struct Framer {
    /// Received bytes; those before `start` are consumed.
    input: Vec<u8>,
    start: usize,
    max_line: usize,
    max_literal: u64,
    state: State,
    /// The current command so far.
    command: Vec<u8>,
    /// Literal bytes the current command announced so far.
    literal_total: u64,
    /// The current line is too long: skip to its end.
    skipping_line: bool,
    /// The tag the overlong line began with.
    long_line_tag: Option<String>,
    /// The current command is refused: the rest of it is skipped, then this is reported.
    refused: Option<(Option<String>, Refusal)>,
}

impl Framer {
    /// A framer for lines of at most `max_line` bytes (line end excluded) and commands whose
    /// literals add up to at most `max_literal` bytes.
    pub fn new(max_line: usize, max_literal: u64) -> Framer {
        Framer {
            input: Vec::new(),
            start: 0,
            max_line,
            max_literal,
            state: State::Line,
            command: Vec::new(),
            literal_total: 0,
            skipping_line: false,
            long_line_tag: None,
            refused: None,
        }
    }

    /// Changes the literal budget of the commands that follow (small before login).
    pub fn set_max_literal(&mut self, max_literal: u64) {
        self.max_literal = max_literal;
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.input.len() {
            self.input.clear();
            self.start = 0;
        } else if self.start > self.input.len() / 2 {
            self.input.drain(..self.start);
            self.start = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// Drops every byte received and not yet framed, and any command in progress; returns how
    /// many bytes were dropped. For STARTTLS: what the client sent in plaintext after the
    /// command must not be read as if it came through TLS.
    pub fn discard(&mut self) -> usize {
        let dropped = self.input.len() - self.start;
        self.input.clear();
        self.start = 0;
        self.reset();
        dropped
    }

    /// The next frame, or `None` when more input is needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            match self.state {
                State::Literal(remaining) => {
                    let available = &self.input[self.start..];
                    let take = usize::try_from(remaining)
                        .map_or(available.len(), |r| r.min(available.len()));
                    if self.refused.is_none() {
                        self.command.extend_from_slice(&available[..take]);
                    }
                    self.start += take;
                    let remaining = remaining - take as u64;
                    if remaining > 0 {
                        self.state = State::Literal(remaining);
                        return None;
                    }
                    self.state = State::Line;
                }
                State::Line => {
                    let line = match self.take_line() {
                        None => return None,
                        Some(RawLine::TooLong) => {
                            // The overlong line may have announced a literal: its end was
                            // thrown away, so the command ends here.
                            let refused = self.refused.take().unwrap_or_else(|| {
                                let tag = match self.command.is_empty() {
                                    true => self.long_line_tag.take(),
                                    false => tag_of(&self.command),
                                };
                                (tag, Refusal::LineTooLong)
                            });
                            return Some(self.finish_refused(refused));
                        }
                        Some(RawLine::Line(line)) => line,
                    };
                    if let Some(frame) = self.after_line(line) {
                        return Some(frame);
                    }
                }
            }
        }
    }

    /// The next raw line (no literal is looked for), or `None` when more input is needed.
    /// Only meaningful between commands.
    pub fn next_line(&mut self) -> Option<RawLine> {
        self.take_line()
    }

    /// Takes one line from the input, or throws away what there is of an overlong one.
    fn take_line(&mut self) -> Option<RawLine> {
        let available = &self.input[self.start..];
        match available.iter().position(|&b| b == b'\n') {
            Some(lf) => {
                let line = &available[..=lf];
                let content = line.len() - 1 - usize::from(line.ends_with(b"\r\n"));
                let result = if self.skipping_line || content > self.max_line {
                    if !self.skipping_line {
                        self.long_line_tag = self.tag_of_long_line(line);
                    }
                    RawLine::TooLong
                } else {
                    RawLine::Line(line.to_vec())
                };
                self.start += lf + 1;
                self.skipping_line = false;
                Some(result)
            }
            None => {
                if available.len() > self.max_line.saturating_add(1) {
                    if !self.skipping_line {
                        self.long_line_tag = self.tag_of_long_line(available);
                    }
                    self.skipping_line = true;
                    self.start = self.input.len();
                }
                None
            }
        }
    }

    /// The tag of an overlong line, read from as much of it as is kept whatever the reads
    /// (so that how the input arrives makes no difference).
    fn tag_of_long_line(&self, line: &[u8]) -> Option<String> {
        tag_of(&line[..line.len().min(self.max_line.saturating_add(2))])
    }

    /// Adds a line to the current command; returns a frame when the line ends the command or
    /// asks for a continuation.
    fn after_line(&mut self, line: Vec<u8>) -> Option<Frame> {
        if self.command.is_empty() && self.refused.is_none() && is_blank(&line) {
            // An empty line between commands is no command at all.
            return None;
        }
        let announcement = announcement(&line);
        if self.refused.is_none() {
            self.command.extend_from_slice(&line);
        }
        let Some(Announcement { length, sync }) = announcement else {
            return Some(match self.refused.take() {
                Some(refused) => self.finish_refused(refused),
                None => {
                    let command = std::mem::take(&mut self.command);
                    self.reset();
                    Frame::Command(command)
                }
            });
        };
        if self.refused.is_none() {
            let budget = self.max_literal.saturating_sub(self.literal_total);
            if length > budget {
                self.refused = Some((tag_of(&self.command), Refusal::LiteralTooBig(length)));
            }
        }
        if let Some(refused) = self.refused.take() {
            if sync {
                // The client waits for a continuation that will not come: the command ends.
                return Some(self.finish_refused(refused));
            }
            // A non-synchronizing literal comes anyway: skip it, and the rest of the command.
            self.refused = Some(refused);
            self.state = State::Literal(length);
            return None;
        }
        self.literal_total += length;
        self.state = State::Literal(length);
        sync.then_some(Frame::Continue)
    }

    fn finish_refused(&mut self, (tag, why): (Option<String>, Refusal)) -> Frame {
        self.reset();
        Frame::Refused { tag, why }
    }

    /// Gets ready for the next command.
    fn reset(&mut self) {
        self.state = State::Line;
        self.command.clear();
        self.literal_total = 0;
        self.skipping_line = false;
        self.long_line_tag = None;
        self.refused = None;
    }
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

/// The literal a line announces at its end: `{n}` or `{n+}` (also literal8's `~{n}`) just
/// before the line end. A length too big for `u64` counts as `u64::MAX`.
fn announcement(line: &[u8]) -> Option<Announcement> {
    let line = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))
        .unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let inner = &inner[open + 1..];
    let (digits, sync) = match inner.strip_suffix(b"+") {
        Some(digits) => (digits, false),
        None => (inner, true),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let length = digits.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some(Announcement { length, sync })
}

/// The tag a command starts with, if it is a valid IMAP tag (RFC 3501 `tag`: ASTRING-CHARs
/// except `+`) followed by a space.
pub fn tag_of(command: &[u8]) -> Option<String> {
    let end = command.iter().position(|&b| b == b' ')?;
    let tag = &command[..end];
    let valid = !tag.is_empty()
        && tag.len() <= 64
        && tag
            .iter()
            .all(|&b| (0x21..0x7f).contains(&b) && !b"(){%*\"\\+".contains(&b));
    valid.then(|| String::from_utf8_lossy(tag).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framer: &mut Framer, input: &[u8]) -> Vec<Frame> {
        framer.push(input);
        std::iter::from_fn(|| framer.next_frame()).collect()
    }

    #[test]
    fn commands_end_at_line_ends() {
        let mut f = Framer::new(100, 1000);
        assert_eq!(
            frames(&mut f, b"a1 NOOP\r\na2 CAPABILITY\r\na3 LOG"),
            vec![
                Frame::Command(b"a1 NOOP\r\n".to_vec()),
                Frame::Command(b"a2 CAPABILITY\r\n".to_vec())
            ]
        );
        assert_eq!(
            frames(&mut f, b"OUT\r\n"),
            vec![Frame::Command(b"a3 LOGOUT\r\n".to_vec())]
        );
        assert_eq!(
            frames(&mut f, b"\r\n\r\n"),
            vec![],
            "blank lines are skipped"
        );
    }

    #[test]
    fn a_synchronizing_literal_asks_for_a_continuation() {
        let mut f = Framer::new(100, 1000);
        assert_eq!(frames(&mut f, b"a LOGIN {3}\r\n"), vec![Frame::Continue]);
        assert_eq!(frames(&mut f, b"bo"), vec![]);
        assert_eq!(
            frames(&mut f, b"b {2+}\r\npw\r\n"),
            vec![Frame::Command(
                b"a LOGIN {3}\r\nbob {2+}\r\npw\r\n".to_vec()
            )]
        );
    }

    #[test]
    fn literal_bytes_are_never_commands() {
        let mut f = Framer::new(100, 1000);
        let input = b"a APPEND x {9+}\r\nb NOOP\r\n\r\n";
        assert_eq!(frames(&mut f, input), vec![Frame::Command(input.to_vec())]);
    }

    #[test]
    fn a_too_big_synchronizing_literal_is_refused_at_once() {
        let mut f = Framer::new(100, 1000);
        assert_eq!(
            frames(&mut f, b"t1 APPEND INBOX {100000000}\r\nt2 NOOP\r\n"),
            vec![
                Frame::Refused {
                    tag: Some("t1".into()),
                    why: Refusal::LiteralTooBig(100_000_000)
                },
                Frame::Command(b"t2 NOOP\r\n".to_vec())
            ]
        );
        assert_eq!(
            frames(&mut f, b"t3 X {99999999999999999999999}\r\n"),
            vec![Frame::Refused {
                tag: Some("t3".into()),
                why: Refusal::LiteralTooBig(u64::MAX)
            }]
        );
    }

    #[test]
    fn a_too_big_non_synchronizing_literal_is_skipped_with_its_command() {
        let mut f = Framer::new(100, 4);
        assert_eq!(
            frames(
                &mut f,
                b"t1 APPEND INBOX {10+}\r\n0123456789 {3+}\r\nabc\r\nt2 NOOP\r\n"
            ),
            vec![
                Frame::Refused {
                    tag: Some("t1".into()),
                    why: Refusal::LiteralTooBig(10)
                },
                Frame::Command(b"t2 NOOP\r\n".to_vec())
            ]
        );
    }

    #[test]
    fn the_literal_budget_covers_the_whole_command() {
        let mut f = Framer::new(100, 5);
        assert_eq!(
            frames(&mut f, b"a LOGIN {3+}\r\nabc {3}\r\n"),
            vec![Frame::Refused {
                tag: Some("a".into()),
                why: Refusal::LiteralTooBig(3)
            }]
        );
    }

    #[test]
    fn an_overlong_line_is_thrown_away_as_it_arrives() {
        let mut f = Framer::new(10, 100);
        assert_eq!(frames(&mut f, b"tag1 NOOP aaaaaaaaaaaaaaaaaaaa"), vec![]);
        assert!(
            f.input.len() - f.start <= 11,
            "nothing of the long line is kept"
        );
        for _ in 0..100 {
            assert_eq!(frames(&mut f, &[b'a'; 1000]), vec![]);
        }
        assert_eq!(
            frames(&mut f, b"aaa\r\nt2 NOOP\r\n"),
            vec![
                Frame::Refused {
                    tag: Some("tag1".into()),
                    why: Refusal::LineTooLong
                },
                Frame::Command(b"t2 NOOP\r\n".to_vec())
            ]
        );
        assert_eq!(
            frames(&mut f, b"t3 aaaaaaaaaaaaaaaaaaaaaaaaa\r\n"),
            vec![Frame::Refused {
                tag: Some("t3".into()),
                why: Refusal::LineTooLong
            }]
        );
    }

    #[test]
    fn an_overlong_line_after_a_literal_refuses_the_command() {
        let mut f = Framer::new(10, 100);
        assert_eq!(
            frames(
                &mut f,
                b"t1 X {2+}\r\nab yyyyyyyyyyyyyyyyyyyyy\r\nt2 NOOP\r\n"
            ),
            vec![
                Frame::Refused {
                    tag: Some("t1".into()),
                    why: Refusal::LineTooLong
                },
                Frame::Command(b"t2 NOOP\r\n".to_vec())
            ]
        );
    }

    #[test]
    fn raw_lines_ignore_literals() {
        let mut f = Framer::new(10, 100);
        f.push(b"DONE {5}\r\n0123456789012\r\nx");
        assert_eq!(f.next_line(), Some(RawLine::Line(b"DONE {5}\r\n".to_vec())));
        assert_eq!(f.next_line(), Some(RawLine::TooLong));
        assert_eq!(f.next_line(), None);
        assert_eq!(f.discard(), 1);
    }

    proptest::proptest! {
        /// However the input is cut into reads, the same frames come out, within the limits.
        #[test]
        fn frames_do_not_depend_on_how_input_arrives(
            input in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b"a1 NOOP\r\n".to_vec()),
                    proptest::strategy::Just(b"x {3}\r\n".to_vec()),
                    proptest::strategy::Just(b"y {2+}\r\n".to_vec()),
                    proptest::strategy::Just(b"{999}\r\n".to_vec()),
                    proptest::strategy::Just(b"tag45678901234567 NOOP\r\n".to_vec()),
                    proptest::collection::vec(proptest::num::u8::ANY, 0..40),
                ],
                0..30,
            ),
            cut in 1usize..50,
        ) {
            let input: Vec<u8> = input.concat();
            let mut whole = Framer::new(16, 8);
            let expected = frames(&mut whole, &input);
            let mut pieces = Framer::new(16, 8);
            let mut got = Vec::new();
            for chunk in input.chunks(cut) {
                got.extend(frames(&mut pieces, chunk));
            }
            proptest::prop_assert_eq!(&got, &expected);
            for frame in got {
                if let Frame::Command(command) = frame {
                    let lines = command.split(|&b| b == b'\n').count();
                    proptest::prop_assert!(command.len() <= lines * 18 + 8);
                }
            }
        }
    }

    #[test]
    fn tags_are_checked() {
        assert_eq!(tag_of(b"a1 NOOP"), Some("a1".into()));
        assert_eq!(tag_of(b"a]1 NOOP"), Some("a]1".into()));
        assert_eq!(tag_of(b"+ NOOP"), None);
        assert_eq!(tag_of(b"a{ NOOP"), None);
        assert_eq!(tag_of(b"\x00\xff NOOP"), None);
        assert_eq!(tag_of(b"NOOP"), None);
    }
}
