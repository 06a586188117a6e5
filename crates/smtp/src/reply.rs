//! SMTP replies, as the server sends them and as the client reads them.

use std::fmt;

/// One SMTP reply: a three-digit code, an optional enhanced status code (RFC 3463) and text.
///
/// The text may hold several lines separated by `\n`; [`Display`](fmt::Display) renders them
/// as a multi-line reply (`250-...` lines, then `250 ...`) joined by CRLF, without the final
/// CRLF. Control characters in the text are replaced by spaces so a handler cannot break the
/// protocol framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, e.g. 250.
    pub code: u16,
    /// The enhanced status code, e.g. `"2.0.0"`, when there is one.
    pub enhanced: Option<String>,
    /// Human-readable text; `\n` separates lines.
    pub text: String,
}

impl Reply {
    /// A reply with an enhanced status code, e.g. `Reply::new(553, "5.7.1", "not yours")`.
    pub fn new(code: u16, enhanced: &str, text: impl Into<String>) -> Self {
        Reply {
            code,
            enhanced: Some(enhanced.to_owned()),
            text: text.into(),
        }
    }

    /// A reply without an enhanced status code (greeting, EHLO, 354).
    pub fn plain(code: u16, text: impl Into<String>) -> Self {
        Reply {
            code,
            enhanced: None,
            text: text.into(),
        }
    }

    /// `250 2.0.0 text`.
    pub fn ok(text: impl Into<String>) -> Self {
        Reply::new(250, "2.0.0", text)
    }

    /// The reply as sent on the wire, CRLF-terminated.
    pub(crate) fn to_wire(&self) -> String {
        format!("{self}\r\n")
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<&str> = self.text.split('\n').collect();
        let last = lines.len() - 1;
        for (i, line) in lines.iter().enumerate() {
            let separator = if i == last { ' ' } else { '-' };
            let content: Vec<&str> = self
                .enhanced
                .as_deref()
                .into_iter()
                .chain([*line])
                .filter(|part| !part.is_empty())
                .collect();
            let content: String = content
                .join(" ")
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            write!(f, "{:03}", self.code)?;
            if !content.is_empty() {
                write!(f, "{separator}{content}")?;
            } else if separator == '-' {
                f.write_str("-")?;
            }
            if i != last {
                f.write_str("\r\n")?;
            }
        }
        Ok(())
    }
}

/// What a reply means for the message or recipient it answered, by reply code class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: accepted.
    Accepted(Reply),
    /// 4xx (and any reply that is neither 2xx nor 5xx): try again later.
    Temporary(Reply),
    /// 5xx: refused for good.
    Permanent(Reply),
}

impl Outcome {
    /// Classifies a reply by its code: 2xx accepted, 5xx permanent, anything else temporary
    /// (retrying is the safe answer to a reply that makes no sense).
    pub fn from_reply(reply: Reply) -> Self {
        match reply.code / 100 {
            2 => Outcome::Accepted(reply),
            5 => Outcome::Permanent(reply),
            _ => Outcome::Temporary(reply),
        }
    }

    /// The reply this outcome was made from.
    pub fn reply(&self) -> &Reply {
        match self {
            Outcome::Accepted(r) | Outcome::Temporary(r) | Outcome::Permanent(r) => r,
        }
    }

    /// True for [`Outcome::Accepted`].
    pub fn is_accepted(&self) -> bool {
        matches!(self, Outcome::Accepted(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line() {
        assert_eq!(
            Reply::ok("queued as X1").to_string(),
            "250 2.0.0 queued as X1"
        );
        assert_eq!(Reply::plain(354, "go ahead").to_string(), "354 go ahead");
        assert_eq!(Reply::plain(250, "").to_string(), "250");
    }

    #[test]
    fn multi_line() {
        let r = Reply::new(550, "5.1.1", "no such user\nreally");
        assert_eq!(r.to_string(), "550-5.1.1 no such user\r\n550 5.1.1 really");
        let r = Reply::plain(250, "host\nSIZE 10\n8BITMIME");
        assert_eq!(r.to_wire(), "250-host\r\n250-SIZE 10\r\n250 8BITMIME\r\n");
        let r = Reply::plain(250, "host\n\nX");
        assert_eq!(r.to_string(), "250-host\r\n250-\r\n250 X");
    }

    #[test]
    fn control_characters_cannot_break_framing() {
        let r = Reply::new(451, "4.3.0", "bad\r\x00thing\r");
        assert_eq!(r.to_string(), "451 4.3.0 bad  thing ");
    }

    #[test]
    fn outcome_classes() {
        assert!(Outcome::from_reply(Reply::ok("x")).is_accepted());
        assert!(matches!(
            Outcome::from_reply(Reply::new(450, "4.2.0", "x")),
            Outcome::Temporary(_)
        ));
        assert!(matches!(
            Outcome::from_reply(Reply::new(550, "5.1.1", "x")),
            Outcome::Permanent(_)
        ));
        assert!(matches!(
            Outcome::from_reply(Reply::plain(354, "x")),
            Outcome::Temporary(_)
        ));
    }
}
