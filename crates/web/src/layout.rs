//! What the shared page layout (`templates/layout.html`) needs from every page: the
//! catalog of the language in use, the link that switches language and comes back here,
//! and, once logged in, the box and the CSRF token of the logout form.

use crate::i18n::{Catalog, Lang};
use crate::session::Holder;

pub struct Page {
    pub t: &'static Catalog,
    pub lang: Lang,
    /// `/lingua/<other>?next=<here>`.
    pub switch_link: String,
    /// The logged-in box's address.
    pub mailbox: Option<String>,
    /// The session's CSRF token, for every form of the page.
    pub csrf: String,
}

impl Page {
    /// The layout of the page at `here` (path and query).
    pub fn new(lang: Lang, here: &str, holder: Option<&Holder>) -> Page {
        let other = match lang {
            Lang::It => Lang::En,
            Lang::En => Lang::It,
        };
        Page {
            t: lang.catalog(),
            lang,
            switch_link: format!("/lingua/{}?next={}", other.code(), query_escape(here)),
            mailbox: holder.map(|h| h.principal.mailbox.clone()),
            csrf: holder.map(|h| h.csrf.clone()).unwrap_or_default(),
        }
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for query values.
pub fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(
            query_escape("Archivio/2026/03 x&y"),
            "Archivio%2F2026%2F03%20x%26y"
        );
        assert_eq!(query_escape("è"), "%C3%A8");
    }
}
