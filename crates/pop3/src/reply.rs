//! POP3 answers: a status line, `+OK` or `-ERR` with an RFC 2449 response code where one
//! tells the client what to do (RFC 3206: `[AUTH]` ask for new credentials, `[SYS/TEMP]`
//! try again later, `[SYS/PERM]` do not retry), and for some commands a multi-line body.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::transfer::dot_stuffed;
use crate::wire::{Wire, WireError};

/// The RFC 2449 / RFC 3206 response codes this server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseCode {
    /// The credentials are wrong.
    Auth,
    /// A failure on our side that may go away.
    SysTemp,
    /// A refusal that will not change if the client tries again.
    SysPerm,
}

impl ResponseCode {
    fn as_str(self) -> &'static str {
        match self {
            ResponseCode::Auth => "AUTH",
            ResponseCode::SysTemp => "SYS/TEMP",
            ResponseCode::SysPerm => "SYS/PERM",
        }
    }
}

/// One answer to a command.
#[derive(Debug)]
pub(crate) struct Reply {
    status: String,
    /// The multi-line body, dot-stuffed and terminated.
    body: Option<Vec<u8>>,
}

impl Reply {
    pub(crate) fn ok(text: impl AsRef<str>) -> Reply {
        Reply::status("+OK", None, text.as_ref())
    }

    pub(crate) fn err(text: impl AsRef<str>) -> Reply {
        Reply::status("-ERR", None, text.as_ref())
    }

    pub(crate) fn refused(code: ResponseCode, text: impl AsRef<str>) -> Reply {
        Reply::status("-ERR", Some(code), text.as_ref())
    }

    /// The status line; control characters in `text` (which may quote the client or an
    /// error) become spaces, so it stays one line.
    fn status(indicator: &str, code: Option<ResponseCode>, text: &str) -> Reply {
        let mut status = String::from(indicator);
        if let Some(code) = code {
            status.push_str(" [");
            status.push_str(code.as_str());
            status.push(']');
        }
        if !text.is_empty() {
            status.push(' ');
            status.extend(text.chars().map(|c| if c.is_control() { ' ' } else { c }));
        }
        status.push_str("\r\n");
        Reply { status, body: None }
    }

    /// Adds a multi-line body of short lines (CAPA, LIST, UIDL).
    pub(crate) fn with_lines<I, L>(self, lines: I) -> Reply
    where
        I: IntoIterator<Item = L>,
        L: AsRef<str>,
    {
        let mut text = String::new();
        for line in lines {
            text.push_str(line.as_ref());
            text.push_str("\r\n");
        }
        self.with_body(dot_stuffed(text.as_bytes(), None))
    }

    /// Adds a body already in wire form (see [`dot_stuffed`]).
    pub(crate) fn with_body(mut self, body: Vec<u8>) -> Reply {
        self.body = Some(body);
        self
    }

    /// The status line without its line end, for tests and logs.
    #[cfg(test)]
    pub(crate) fn status_line(&self) -> &str {
        self.status.trim_end()
    }

    /// Queues the reply on the wire.
    pub(crate) async fn send<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        wire: &mut Wire<S>,
    ) -> Result<(), WireError> {
        wire.send(self.status.as_bytes()).await?;
        if let Some(body) = &self.body {
            wire.send(body).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_carry_the_code_and_stay_one_line() {
        assert_eq!(Reply::ok("2 messages").status_line(), "+OK 2 messages");
        assert_eq!(
            Reply::refused(ResponseCode::SysTemp, "store\r\ndown").status_line(),
            "-ERR [SYS/TEMP] store  down"
        );
        assert_eq!(Reply::err("").status_line(), "-ERR");
    }

    #[test]
    fn listings_are_multi_line_bodies() {
        let reply = Reply::ok("capabilities").with_lines(["TOP", "UIDL"]);
        assert_eq!(reply.body.as_deref(), Some(&b"TOP\r\nUIDL\r\n.\r\n"[..]));
        let empty = Reply::ok("0 messages").with_lines(Vec::<String>::new());
        assert_eq!(empty.body.as_deref(), Some(&b".\r\n"[..]));
    }
}
