//! POP3 command lines (RFC 1939 §3, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH): a
//! case-insensitive keyword and its arguments, separated by spaces. Parsing knows nothing
//! of states; the session decides whether a well-formed command is allowed now.

/// One well-formed command; message numbers are 1-based and nonzero.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command<'a> {
    Capa,
    Stls,
    User(&'a str),
    /// The rest of the line: a password may contain spaces (RFC 1939 §7).
    Pass(&'a str),
    Auth {
        mechanism: Option<&'a str>,
        initial_response: Option<&'a str>,
    },
    Stat,
    List(Option<u32>),
    Uidl(Option<u32>),
    Top {
        message: u32,
        lines: usize,
    },
    Retr(u32),
    Dele(u32),
    Noop,
    Rset,
    Quit,
}

/// Why a line is not a command; the text goes to the client after `-ERR`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParseError {
    #[error("command lines must be UTF-8 without NUL or bare CR")]
    BadBytes,
    #[error("unknown command")]
    Unknown,
    #[error("syntax: {0}")]
    Syntax(&'static str),
    #[error("invalid message number {0:?}")]
    MessageNumber(String),
}

impl Command<'_> {
    /// The keyword, for logs.
    pub(crate) fn keyword(&self) -> &'static str {
        match self {
            Command::Capa => "CAPA",
            Command::Stls => "STLS",
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Auth { .. } => "AUTH",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Uidl(_) => "UIDL",
            Command::Top { .. } => "TOP",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Quit => "QUIT",
        }
    }
}

/// Parses one command line (without its line end).
pub(crate) fn parse(line: &[u8]) -> Result<Command<'_>, ParseError> {
    if line.iter().any(|&b| b == 0 || b == b'\r') {
        return Err(ParseError::BadBytes);
    }
    let line = std::str::from_utf8(line).map_err(|_| ParseError::BadBytes)?;
    let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
    let args: Vec<&str> = rest.split(' ').filter(|a| !a.is_empty()).collect();
    let keyword = keyword.to_ascii_uppercase();
    let command = match (keyword.as_str(), args.as_slice()) {
        ("CAPA", []) => Command::Capa,
        ("STLS", []) => Command::Stls,
        ("USER", [name]) => Command::User(name),
        ("PASS", _) if !rest.is_empty() => Command::Pass(rest),
        ("AUTH", []) => Command::Auth {
            mechanism: None,
            initial_response: None,
        },
        ("AUTH", [mechanism]) => Command::Auth {
            mechanism: Some(mechanism),
            initial_response: None,
        },
        ("AUTH", [mechanism, initial]) => Command::Auth {
            mechanism: Some(mechanism),
            initial_response: Some(initial),
        },
        ("STAT", []) => Command::Stat,
        ("LIST", []) => Command::List(None),
        ("LIST", [n]) => Command::List(Some(message_number(n)?)),
        ("UIDL", []) => Command::Uidl(None),
        ("UIDL", [n]) => Command::Uidl(Some(message_number(n)?)),
        ("TOP", [n, lines]) => Command::Top {
            message: message_number(n)?,
            lines: lines
                .parse()
                .map_err(|_| ParseError::Syntax("TOP message-number line-count"))?,
        },
        ("RETR", [n]) => Command::Retr(message_number(n)?),
        ("DELE", [n]) => Command::Dele(message_number(n)?),
        ("NOOP", []) => Command::Noop,
        ("RSET", []) => Command::Rset,
        ("QUIT", []) => Command::Quit,
        (keyword, _) => return Err(ParseError::Syntax(usage(keyword)?)),
    };
    Ok(command)
}

/// How a known command is written, for the reply to a malformed one.
fn usage(keyword: &str) -> Result<&'static str, ParseError> {
    Ok(match keyword {
        "CAPA" | "STLS" | "STAT" | "NOOP" | "RSET" | "QUIT" => "this command takes no argument",
        "USER" => "USER login",
        "PASS" => "PASS password",
        "AUTH" => "AUTH [mechanism [initial-response]]",
        "LIST" => "LIST [message-number]",
        "UIDL" => "UIDL [message-number]",
        "TOP" => "TOP message-number line-count",
        "RETR" => "RETR message-number",
        "DELE" => "DELE message-number",
        _ => return Err(ParseError::Unknown),
    })
}

fn message_number(arg: &str) -> Result<u32, ParseError> {
    match arg.parse::<u32>() {
        Ok(n) if n > 0 && arg.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(ParseError::MessageNumber(arg.chars().take(20).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_ignore_case_and_take_their_arguments() {
        assert_eq!(parse(b"capa"), Ok(Command::Capa));
        assert_eq!(
            parse(b"User mario@pec.test"),
            Ok(Command::User("mario@pec.test"))
        );
        assert_eq!(parse(b"PASS two words "), Ok(Command::Pass("two words ")));
        assert_eq!(parse(b"list"), Ok(Command::List(None)));
        assert_eq!(parse(b"LIST 3"), Ok(Command::List(Some(3))));
        assert_eq!(parse(b"UIDL  7"), Ok(Command::Uidl(Some(7))));
        assert_eq!(
            parse(b"TOP 1 0"),
            Ok(Command::Top {
                message: 1,
                lines: 0
            })
        );
        assert_eq!(
            parse(b"AUTH PLAIN AGEAYg=="),
            Ok(Command::Auth {
                mechanism: Some("PLAIN"),
                initial_response: Some("AGEAYg==")
            })
        );
        assert_eq!(parse(b"quit"), Ok(Command::Quit));
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        assert_eq!(parse(b"HELO x"), Err(ParseError::Unknown));
        assert_eq!(parse(b""), Err(ParseError::Unknown));
        assert_eq!(parse(b"\xff\xfe"), Err(ParseError::BadBytes));
        assert_eq!(parse(b"USER a\0b"), Err(ParseError::BadBytes));
        assert_eq!(parse(b"PASS"), Err(ParseError::Syntax("PASS password")));
        assert_eq!(
            parse(b"RETR"),
            Err(ParseError::Syntax("RETR message-number"))
        );
        assert_eq!(
            parse(b"STAT 1"),
            Err(ParseError::Syntax("this command takes no argument"))
        );
        assert_eq!(parse(b"DELE 0"), Err(ParseError::MessageNumber("0".into())));
        assert_eq!(
            parse(b"RETR +1"),
            Err(ParseError::MessageNumber("+1".into()))
        );
        assert_eq!(
            parse(b"LIST 99999999999"),
            Err(ParseError::MessageNumber("99999999999".into()))
        );
        assert_eq!(
            parse(b"TOP 1 x"),
            Err(ParseError::Syntax("TOP message-number line-count"))
        );
    }
}
