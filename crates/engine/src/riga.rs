//! Text from outside — a login, an address, a label — as it goes into a log: whoever chose
//! it must not be able to end the line and forge the next one, in a log file or in
//! `pecora log show`. Tracing fields and legal-log details that carry such text show it
//! through [`Riga`].

use std::fmt::{self, Write as _};

/// `text` kept on one line: control characters (newline, carriage return, tab, escape…) and
/// the Unicode line and paragraph separators are written as Rust escapes (`\n`, `\u{1b}`),
/// everything else as it is.
#[derive(Debug, Clone, Copy)]
pub struct Riga<'a>(pub &'a str);

impl fmt::Display for Riga<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_other_controls_are_escaped_the_rest_is_kept() {
        let forged = "mario@pec.it\r\n2026-12-01 INFO login ok\u{1b}[2J\u{2028}è";
        assert_eq!(
            Riga(forged).to_string(),
            "mario@pec.it\\r\\n2026-12-01 INFO login ok\\u{1b}[2J\\u{2028}è"
        );
        assert_eq!(Riga("Protocollo \"A\"").to_string(), "Protocollo \"A\"");
    }
}
