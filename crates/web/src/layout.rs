//! What the shared page layout (`templates/layout.html`) needs from every page: the
//! catalog of the language in use, the link that switches language and comes back here,
//! the navigation of the kind of account logged in, and the account and the CSRF token of
//! the logout form.

use crate::i18n::{Catalog, Lang};
use crate::session::{AdminUser, Holder};

/// One link of the header's navigation.
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    /// The `data-testid` of the link.
    pub testid: &'static str,
}

pub struct Page {
    pub t: &'static Catalog,
    pub lang: Lang,
    /// `/lingua/<other>?next=<here>`.
    pub switch_link: String,
    /// Who is logged in (a box's address, or an administrator's login).
    pub mailbox: Option<String>,
    /// The session's CSRF token, for every form of the page.
    pub csrf: String,
    /// Where the logout form posts.
    pub logout: &'static str,
    pub nav: Vec<NavLink>,
}

impl Page {
    /// The layout of the page at `here` (path and query), for a holder or delegate when
    /// `holder` is given.
    pub fn new(lang: Lang, here: &str, holder: Option<&Holder>) -> Page {
        let t = lang.catalog();
        let mut page = Page::bare(lang, here);
        if let Some(h) = holder {
            page.mailbox = Some(h.principal.mailbox.clone());
            page.csrf = h.csrf.clone();
            page.nav = vec![
                NavLink {
                    href: "/posta",
                    label: t.nav_mail,
                    testid: "nav-mail",
                },
                NavLink {
                    href: "/posta/scrivi",
                    label: t.nav_compose,
                    testid: "nav-compose",
                },
                NavLink {
                    href: "/impostazioni",
                    label: t.nav_settings,
                    testid: "nav-settings",
                },
            ];
        }
        page
    }

    /// The layout of a page of the administration panel.
    pub fn admin(lang: Lang, here: &str, admin: &AdminUser) -> Page {
        let mut page = Page::bare(lang, here);
        page.mailbox = Some(admin.admin.login.clone());
        page.csrf = admin.csrf.clone();
        page.logout = "/amministrazione/esci";
        page.nav = vec![NavLink {
            href: "/amministrazione",
            label: lang.catalog().nav_admin,
            testid: "nav-admin",
        }];
        page
    }

    /// The layout of a page of a session that is neither (activation), with its CSRF
    /// token and a logout.
    pub fn with_session(lang: Lang, here: &str, who: &str, csrf: &str) -> Page {
        let mut page = Page::bare(lang, here);
        page.mailbox = Some(who.to_string());
        page.csrf = csrf.to_string();
        page
    }

    fn bare(lang: Lang, here: &str) -> Page {
        let other = match lang {
            Lang::It => Lang::En,
            Lang::En => Lang::It,
        };
        Page {
            t: lang.catalog(),
            lang,
            switch_link: format!("/lingua/{}?next={}", other.code(), query_escape(here)),
            mailbox: None,
            csrf: String::new(),
            logout: "/logout",
            nav: Vec::new(),
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
