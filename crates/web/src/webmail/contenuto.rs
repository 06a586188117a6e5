//! What a reader sees of a message: its headers, its text, its HTML (sanitized) and its
//! attachments. For a busta or an anomalia that is the message it carries (`postacert.eml`),
//! not the envelope; for anything else, the message itself ([`mostrato`]).

use std::borrow::Cow;

use mail_parser::{Address, MessageParser, MimeHeaders};
use pec::{Classified, Kind};

use super::sanitize::sanitize;

/// The bytes whose content a reader sees: the carried original of a busta or an anomalia,
/// the message itself otherwise.
pub fn mostrato<'a>(raw: &'a [u8], classified: Option<&'a Classified>) -> &'a [u8] {
    match classified {
        Some(c) if matches!(c.kind, Some(Kind::PostaCertificata | Kind::Anomalia)) => {
            c.originale.as_deref().unwrap_or(raw)
        }
        _ => raw,
    }
}

/// The content of one message, ready for the page.
pub struct Contenuto {
    pub from: String,
    pub to: String,
    pub cc: String,
    pub subject: String,
    pub date: String,
    pub text: Option<String>,
    /// Sanitized.
    pub html: Option<String>,
    pub remote_blocked: bool,
    pub allegati: Vec<Allegato>,
}

/// One attachment, by its position among the message's attachments.
pub struct Allegato {
    pub n: usize,
    pub nome: String,
    pub tipo: String,
    pub dimensione: usize,
}

/// Reads the content of `raw`; `None` when it is not a message at all.
pub fn leggi(raw: &[u8]) -> Option<Contenuto> {
    let msg = MessageParser::default().parse(raw)?;
    let html = msg
        .html_bodies()
        .find(|p| p.is_text_html())
        .and_then(|p| p.text_contents())
        .map(sanitize);
    let text = msg
        .text_bodies()
        .find(|p| p.is_text() && !p.is_text_html())
        .and_then(|p| p.text_contents())
        .map(str::to_string);
    let allegati = msg
        .attachments()
        .enumerate()
        .map(|(n, p)| Allegato {
            n,
            nome: nome_allegato(p, n),
            tipo: tipo(p),
            dimensione: p.len(),
        })
        .collect();
    Some(Contenuto {
        from: indirizzi(msg.from()),
        to: indirizzi(msg.to()),
        cc: indirizzi(msg.cc()),
        subject: msg.subject().unwrap_or_default().to_string(),
        date: msg.date().map(|d| d.to_rfc822()).unwrap_or_default(),
        remote_blocked: html.as_ref().is_some_and(|h| h.remote_blocked),
        html: html.map(|h| h.html),
        text,
        allegati,
    })
}

/// Attachment `n` of `raw`: its file name, MIME type and decoded bytes.
pub fn allegato(raw: &[u8], n: usize) -> Option<(String, String, Vec<u8>)> {
    let msg = MessageParser::default().parse(raw)?;
    let p = msg.attachments().nth(n)?;
    Some((nome_allegato(p, n), tipo(p), p.contents().to_vec()))
}

/// The headers a message list shows: sender and subject. For a busta or a ricevuta, the
/// values its signature covers ([`Classified::intestazione_firmata`]), never its outer
/// `From:` and `Subject:`, which anyone on the way could have rewritten.
pub fn intestazione(raw: &[u8]) -> (String, String) {
    if let Some(firmata) = pec::classify(raw)
        .ok()
        .and_then(|c| c.intestazione_firmata())
    {
        return firmata;
    }
    match MessageParser::default().parse_headers(raw) {
        Some(msg) => (
            indirizzi(msg.from()),
            msg.subject().unwrap_or_default().to_string(),
        ),
        None => (String::new(), String::new()),
    }
}

fn indirizzi(a: Option<&Address>) -> String {
    let Some(a) = a else { return String::new() };
    a.iter()
        .map(|addr| match (addr.name(), addr.address()) {
            (Some(n), Some(e)) => format!("{n} <{e}>"),
            (None, Some(e)) => e.to_string(),
            (Some(n), None) => n.to_string(),
            (None, None) => String::new(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn nome_allegato(p: &mail_parser::MessagePart, n: usize) -> String {
    let nome: Cow<str> = match p.attachment_name() {
        Some(name) => name.into(),
        None => format!("allegato-{}", n + 1).into(),
    };
    // Only the last path component, and nothing that breaks a header.
    nome.rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .collect()
}

fn tipo(p: &mail_parser::MessagePart) -> String {
    match p.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => "application/octet-stream".into(),
    }
}
