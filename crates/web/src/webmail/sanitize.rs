//! Making a message's HTML safe to show inside the webmail page: ammonia's allow-list (no
//! `<script>`, no `<style>`, no `style=` or event-handler attributes, no `javascript:` or
//! other unknown URL schemes, no forms or frames), links opened with `rel="noopener
//! noreferrer"`, and no remote content: an image whose source is not an inline `data:image/`
//! loses its source, so that opening a message tells no tracker it was read. The page's CSP
//! (`img-src 'self' data:`, no inline style) is the second line behind this one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ammonia::Builder;

/// Message HTML made safe, and whether remote content was removed from it.
pub struct Sanitized {
    pub html: String,
    pub remote_blocked: bool,
}

/// Sanitizes one HTML body.
pub fn sanitize(html: &str) -> Sanitized {
    let blocked = Arc::new(AtomicBool::new(false));
    let seen = blocked.clone();
    let html = Builder::default()
        .url_schemes(["http", "https", "mailto", "data"].into())
        .link_rel(Some("noopener noreferrer"))
        .attribute_filter(move |element, attribute, value| {
            let data = value.trim_start().to_ascii_lowercase();
            match (element, attribute) {
                ("img", "src") if data.starts_with("data:image/") => Some(value.into()),
                ("img", "src") => {
                    seen.store(true, Ordering::Relaxed);
                    None
                }
                // `data:` is allowed for inline images only, never as a link target.
                (_, _) if data.starts_with("data:") => None,
                _ => Some(value.into()),
            }
        })
        .clean(html)
        .to_string();
    Sanitized {
        html,
        remote_blocked: blocked.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_html_is_made_inert() {
        let hostile = r#"<div style="position:fixed;top:0">x</div>
<p style="width:expression(alert(1))">y</p>
<script>alert(1)</script><style>body{display:none}</style>
<img src="https://tracker.example/p.gif" onerror="alert(2)">
<img src="data:image/png;base64,iVBORw0KGgo=" alt="ok">
<a href="javascript:alert(3)">a</a><a href="https://example.org/">b</a>
<a href="data:text/html,<script>alert(4)</script>">c</a>
<iframe src="https://evil.example/"></iframe><form action="https://evil.example/"><input></form>"#;
        let s = sanitize(hostile);
        let lower = s.html.to_ascii_lowercase();
        for bad in [
            "<script",
            "<style",
            "style=",
            "onerror",
            "javascript:",
            "tracker.example",
            "<iframe",
            "<form",
            "data:text",
            "expression",
        ] {
            assert!(!lower.contains(bad), "{bad} survived: {}", s.html);
        }
        assert!(s.remote_blocked);
        assert!(
            s.html
                .contains(r#"src="data:image/png;base64,iVBORw0KGgo=""#),
            "{}",
            s.html
        );
        assert!(
            s.html
                .contains(r#"<a href="https://example.org/" rel="noopener noreferrer">b</a>"#),
            "{}",
            s.html
        );
    }

    #[test]
    fn plain_html_is_kept_and_nothing_is_reported_blocked() {
        let s = sanitize("<p>Gentile <b>Mario</b>,</p><ul><li>uno</li></ul>");
        assert_eq!(s.html, "<p>Gentile <b>Mario</b>,</p><ul><li>uno</li></ul>");
        assert!(!s.remote_blocked);
    }
}
