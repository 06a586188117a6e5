//! Builders for every generated message (spec §3). Each returns a [`Draft`]: the outer
//! header block and the exact bytes of the `multipart/mixed` entity that the gestore signs
//! (spec §2.5). The `smime` crate seals a draft into `multipart/signed`; nothing re-encodes
//! the entity afterwards, so what is signed is what is sent.

use std::borrow::Cow;

use jiff::Zoned;
use mail_builder::headers::Header;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::text::Text;
use mail_builder::mime::{BodyPart, MimePart};

use crate::breve::{BreveError, HashAlg, breve};
use crate::daticert::{Daticert, Errore, TipoDaticert, TipoRicevuta};
use crate::errori::MancataConsegna;
use crate::identificativo::message_id;
use crate::kind::Kind;
use crate::mime::{self, RawField};
use crate::testo::{self, Dettagli};
use crate::transazione::{Gestore, Transazione};

/// A generated message before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    kind: Kind,
    message_id: String,
    daticert: Option<Daticert>,
    headers: Vec<u8>,
    entity: Vec<u8>,
}

impl Draft {
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The message's own Message-ID, without brackets (the identificativo for a busta).
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The certification data it carries (`None` for a busta di anomalia).
    pub fn daticert(&self) -> Option<&Daticert> {
        self.daticert.as_ref()
    }

    /// The outer header fields, each CRLF-terminated, ending with `MIME-Version: 1.0`; no
    /// `Content-Type` (the signature wrapper adds it) and no blank line.
    pub fn headers(&self) -> &[u8] {
        &self.headers
    }

    /// The entity to sign: its own `Content-Type` header, a blank line, and the body, CRLF.
    pub fn entity(&self) -> &[u8] {
        &self.entity
    }

    /// Headers and entity as one message, without a signature: for inspection and tests.
    pub fn unsigned(&self) -> Vec<u8> {
        [self.headers.as_slice(), self.entity.as_slice()].concat()
    }
}

/// Where a generated message goes and what it says beyond the transaction.
struct Spec<'a> {
    kind: Kind,
    /// `To:` of the generated message.
    to: &'a str,
    dettagli: Dettagli<'a>,
    errore: Errore,
    errore_esteso: Option<String>,
    /// The `ricevuta` element, where the message type carries one.
    ricevuta: Option<TipoRicevuta>,
    /// Extra header fields (name, value) placed after the PEC header.
    extra: Vec<(&'static str, String)>,
    /// The original to attach as `postacert.eml`.
    originale: Option<Cow<'a, [u8]>>,
}

impl<'a> Spec<'a> {
    fn new(kind: Kind, to: &'a str) -> Spec<'a> {
        Spec {
            kind,
            to,
            dettagli: Dettagli::default(),
            errore: Errore::Nessuno,
            errore_esteso: None,
            ricevuta: None,
            extra: Vec::new(),
            originale: None,
        }
    }
}

/// Ricevuta di accettazione (spec §3.1).
pub fn accettazione(t: &Transazione, g: &Gestore, at: &Zoned) -> Draft {
    compose(t, g, at, Spec::new(Kind::Accettazione, &t.mittente))
}

/// Avviso di non accettazione for formal exceptions (spec §3.2); `motivo` is the
/// `errore-esteso`, see [`crate::checks::Rifiuto::errore_esteso`].
pub fn non_accettazione(t: &Transazione, g: &Gestore, at: &Zoned, motivo: &str) -> Draft {
    let mut s = Spec::new(Kind::NonAccettazione, &t.mittente);
    s.errore = Errore::Altro;
    s.errore_esteso = Some(motivo.to_string());
    s.dettagli.motivo = Some(motivo);
    compose(t, g, at, s)
}

/// Avviso di non accettazione per virus (spec §3.3).
pub fn non_accettazione_virus(t: &Transazione, g: &Gestore, at: &Zoned, virus: &str) -> Draft {
    let mut s = Spec::new(Kind::NonAccettazioneVirus, &t.mittente);
    s.errore = Errore::Virus;
    s.errore_esteso = Some(format!("virus rilevato: {virus}"));
    s.dettagli.motivo = Some(virus);
    compose(t, g, at, s)
}

/// Busta di trasporto (spec §3.4). `originale` is the message as rewritten by
/// [`crate::identificativo::rewrite_original`]: it is attached unchanged, and its `Received:`,
/// `Return-Path:`, `To:`, `Cc:` and `Reply-To:` are copied onto the busta.
pub fn busta_di_trasporto(t: &Transazione, g: &Gestore, at: &Zoned, originale: &[u8]) -> Draft {
    let mut s = Spec::new(Kind::PostaCertificata, "");
    s.ricevuta = Some(t.ricevuta);
    s.originale = Some(Cow::Borrowed(originale));
    compose(t, g, at, s)
}

/// Ricevuta di presa in carico (spec §3.5), to the sending gestore's `mailReceipt`, covering
/// the recipients in `ricezione`.
pub fn presa_in_carico(
    t: &Transazione,
    g: &Gestore,
    at: &Zoned,
    mail_receipt: &str,
    ricezione: &[String],
) -> Draft {
    let mut s = Spec::new(Kind::PresaInCarico, mail_receipt);
    s.dettagli.ricezione = ricezione;
    compose(t, g, at, s)
}

/// Avviso di rilevazione virus (spec §3.7), to the sending gestore's `mailReceipt`, for one
/// recipient.
pub fn rilevazione_virus(
    t: &Transazione,
    g: &Gestore,
    at: &Zoned,
    mail_receipt: &str,
    destinatario: &str,
    virus: &str,
) -> Draft {
    let mut s = Spec::new(Kind::RilevazioneVirus, mail_receipt);
    s.errore = Errore::Virus;
    s.errore_esteso = Some(format!("virus rilevato: {virus}"));
    s.dettagli.destinatario = Some(destinatario);
    s.dettagli.motivo = Some(virus);
    s.extra.push(("X-Mittente", t.mittente.clone()));
    compose(t, g, at, s)
}

/// Ricevuta di avvenuta consegna (spec §3.9) for one recipient. `postacert` is the original as
/// carried in the busta; completa attaches it, breve attaches it with every named part
/// replaced by its hash, sintetica leaves it out.
pub fn avvenuta_consegna(
    t: &Transazione,
    g: &Gestore,
    at: &Zoned,
    destinatario: &str,
    tipo: TipoRicevuta,
    postacert: &[u8],
    hash: HashAlg,
) -> Result<Draft, BreveError> {
    let mut s = Spec::new(Kind::AvvenutaConsegna(tipo), &t.mittente);
    s.ricevuta = Some(tipo);
    s.dettagli.destinatario = Some(destinatario);
    s.originale = match tipo {
        TipoRicevuta::Completa => Some(Cow::Borrowed(postacert)),
        TipoRicevuta::Breve => Some(Cow::Owned(breve(postacert, hash)?)),
        TipoRicevuta::Sintetica => None,
    };
    Ok(compose(t, g, at, s))
}

/// Which variant each recipient gets (spec §3.9 table): `To:` recipients get what the sender
/// asked for, `Cc:` recipients the sintetica; a recipient in neither (ambiguous) counts as
/// primary.
pub fn variante_per(richiesta: TipoRicevuta, in_cc_only: bool) -> TipoRicevuta {
    if in_cc_only {
        TipoRicevuta::Sintetica
    } else {
        richiesta
    }
}

/// Avviso di mancata consegna for one recipient (spec §3.8, §3.10, §3.11): the cause decides
/// between the ordinary, virus and timeout notices.
pub fn mancata_consegna(
    t: &Transazione,
    g: &Gestore,
    at: &Zoned,
    destinatario: &str,
    causa: &MancataConsegna,
) -> Draft {
    let mut s = Spec::new(causa.kind(), &t.mittente);
    let esteso = causa.errore_esteso(&g.nome);
    s.errore = causa.errore();
    s.dettagli.destinatario = Some(destinatario);
    let virus;
    s.dettagli.motivo = match causa {
        MancataConsegna::Virus(nome) => {
            virus = nome.clone();
            Some(&virus)
        }
        _ => Some(&esteso),
    };
    let s = Spec {
        errore_esteso: Some(esteso.clone()),
        ..s
    };
    compose(t, g, at, s)
}

/// Busta di anomalia (spec §3.6): the received message, whole, with a human-readable
/// explanation and no daticert. `t` describes the received message as far as it can be read
/// (see [`crate::classify::transazione_da_messaggio`]); `motivo` says why it was not
/// certified.
pub fn busta_di_anomalia(
    t: &Transazione,
    g: &Gestore,
    at: &Zoned,
    ricevuto: &[u8],
    motivo: &str,
) -> Draft {
    let mut s = Spec::new(Kind::Anomalia, "");
    s.dettagli.motivo = Some(motivo);
    s.originale = Some(Cow::Owned(mime::to_crlf(ricevuto)));
    compose(t, g, at, s)
}

/// A holder's receipt rebuilt from its `daticert.xml` alone, signed anew by `g` — how the
/// legal log re-issues receipts a holder lost (spec §8.3). The daticert is reproduced field
/// for field; no original is attached. Only the receipts a holder receives are rebuilt
/// (accettazione, non accettazione, consegna, mancata consegna, timeouts): buste and the
/// provider-to-provider receipts give `None`.
pub fn ricevuta_da_daticert(d: &Daticert, g: &Gestore) -> Option<Draft> {
    let virus = d.errore == Errore::Virus;
    let kind = match d.tipo {
        TipoDaticert::Accettazione => Kind::Accettazione,
        TipoDaticert::NonAccettazione if virus => Kind::NonAccettazioneVirus,
        TipoDaticert::NonAccettazione => Kind::NonAccettazione,
        TipoDaticert::AvvenutaConsegna => Kind::AvvenutaConsegna(d.ricevuta.unwrap_or_default()),
        TipoDaticert::ErroreConsegna if virus => Kind::ErroreConsegnaVirus,
        TipoDaticert::ErroreConsegna => Kind::ErroreConsegna,
        TipoDaticert::PreavvisoErroreConsegna => Kind::PreavvisoErroreConsegna(
            crate::errori::scadenza_da_errore_esteso(d.errore_esteso.as_deref()),
        ),
        _ => return None,
    };
    let t = Transazione::from_daticert(d);
    let mut s = Spec::new(kind, &d.mittente);
    s.errore = d.errore;
    s.errore_esteso = d.errore_esteso.clone();
    s.ricevuta = d.ricevuta;
    s.dettagli.destinatario = d.consegna.as_deref();
    s.dettagli.motivo = d.errore_esteso.as_deref();
    let g = Gestore {
        nome: d.gestore_emittente.clone(),
        dominio: g.dominio.clone(),
    };
    Some(compose(&t, &g, &d.data, s))
}

fn compose(t: &Transazione, g: &Gestore, at: &Zoned, s: Spec) -> Draft {
    let kind = s.kind;
    let destinatario = s.dettagli.destinatario;
    // A receipt is named after whom it is about: its recipient, or the recipients a presa in
    // carico covers, so that a presa for the others of the same message (a transaction that
    // served some recipients, then one for the rest) is a message of its own.
    let covered = s.dettagli.ricezione.join(",");
    let about = match kind {
        Kind::PresaInCarico => Some(covered.as_str()),
        _ => destinatario,
    };
    let own_id = message_id(&t.identificativo, kind, about);
    let headers = outer_headers(t, g, at, &s, &own_id);

    let text = MimePart::new(
        ContentType::new("multipart/alternative")
            .attribute("boundary", mime::boundary("alt", own_id.as_bytes(), &[])),
        vec![
            latin1_part("text/plain", testo::plain(kind, t, at, &s.dettagli)),
            latin1_part("text/html", testo::html(kind, t, at, &s.dettagli)),
        ],
    );
    // daticert.xml before postacert.eml, as Aruba, Namirial and Sogei send them (spec §2.5
    // allows either): clients that take the first daticert.xml they meet, nested ones
    // included, then read ours and not one inside a forwarded PEC message.
    let mut parts = vec![text];
    let daticert = kind.tipo_daticert().map(|tipo| Daticert {
        tipo,
        errore: s.errore,
        mittente: t.mittente.clone(),
        destinatari: t.destinatari.clone(),
        risposte: t.risposte.clone(),
        oggetto: Some(t.oggetto.clone()),
        gestore_emittente: g.nome.clone(),
        data: at.clone(),
        identificativo: t.identificativo.clone(),
        msgid: t.msgid.clone(),
        ricevuta: s.ricevuta,
        consegna: destinatario.map(str::to_string),
        ricezione: s.dettagli.ricezione.to_vec(),
        errore_esteso: s.errore_esteso.clone(),
    });
    if let Some(d) = &daticert {
        parts.push(
            MimePart::new(
                ContentType::new("application/xml").attribute("name", "daticert.xml"),
                BodyPart::Binary(Cow::Owned(d.to_xml().into_bytes())),
            )
            .header(
                "Content-Disposition",
                ContentType::new("inline").attribute("filename", "daticert.xml"),
            ),
        );
    }
    let originale = s.originale.as_deref().unwrap_or_default();
    if s.originale.is_some() {
        parts.push(
            MimePart::new(
                ContentType::new("message/rfc822").attribute("name", "postacert.eml"),
                BodyPart::Binary(Cow::Borrowed(originale)),
            )
            .header(
                "Content-Disposition",
                ContentType::new("inline").attribute("filename", "postacert.eml"),
            )
            .transfer_encoding(transfer_encoding(originale)),
        );
    }
    let mixed = MimePart::new(
        ContentType::new("multipart/mixed").attribute(
            "boundary",
            mime::boundary("mixed", own_id.as_bytes(), originale),
        ),
        parts,
    );
    let mut entity = Vec::new();
    mixed.write_part(&mut entity);
    Draft {
        kind,
        message_id: own_id,
        daticert,
        headers,
        entity,
    }
}

fn outer_headers(t: &Transazione, g: &Gestore, at: &Zoned, s: &Spec, own_id: &str) -> Vec<u8> {
    let mut h = Vec::new();
    let kind = s.kind;
    let date = at.strftime("%a, %d %b %Y %H:%M:%S %z").to_string();
    let busta = matches!(kind, Kind::PostaCertificata | Kind::Anomalia);
    let original = s.originale.as_deref().unwrap_or_default();
    let copied = if busta {
        mime::fields(original)
    } else {
        Vec::new()
    };
    let copy = |h: &mut Vec<u8>, names: &[&str]| {
        for f in copied.iter().filter(|f| names.iter().any(|n| f.is(n))) {
            h.extend_from_slice(&mime::to_crlf(f.raw));
        }
    };
    if busta {
        copy(&mut h, &["Return-Path", "Received"]);
    }
    if let Some(m) = &t.msgid
        && kind != Kind::Anomalia
    {
        raw(&mut h, "X-Riferimento-Message-ID", m);
    }
    raw(&mut h, "Date", &date);
    if kind == Kind::Anomalia {
        // The anomalia keeps the received message's own Message-ID (spec §3.6).
        copy(&mut h, &["Message-ID"]);
    } else {
        raw(&mut h, "Message-ID", &format!("<{own_id}>"));
    }
    if busta {
        copy(&mut h, &["To", "Cc"]);
    } else {
        raw(&mut h, "To", s.to);
    }
    let pec = kind.header();
    raw(&mut h, pec.name(), pec.value());
    if kind.verifica_sicurezza() {
        raw(&mut h, "X-VerificaSicurezza", "errore");
    }
    for (name, value) in &s.extra {
        raw(&mut h, name, value);
    }
    if busta {
        h.extend_from_slice(b"From: ");
        Address::new_address(Some(format!("Per conto di: {}", t.mittente)), g.indirizzo())
            .write_header(&mut h, 6);
    } else {
        raw(&mut h, "From", &g.indirizzo());
    }
    h.extend_from_slice(b"Subject: ");
    Text::new(format!("{}{}", kind.subject_prefix(), t.oggetto)).write_header(&mut h, 9);
    if busta {
        match copied.iter().find(|f: &&RawField| f.is("Reply-To")) {
            Some(f) => h.extend_from_slice(&mime::to_crlf(f.raw)),
            None => raw(&mut h, "Reply-To", &t.mittente),
        }
    }
    if kind == Kind::PostaCertificata {
        raw(&mut h, "X-TipoRicevuta", t.ricevuta.as_str());
    }
    raw(&mut h, "MIME-Version", "1.0");
    h
}

/// A header field whose value we produced ourselves: addresses, ids, fixed tokens. Line
/// breaks in a value would inject fields, so they are flattened.
fn raw(h: &mut Vec<u8>, name: &str, value: &str) {
    h.extend_from_slice(name.as_bytes());
    h.extend_from_slice(b": ");
    for c in value.chars() {
        let c = if c == '\r' || c == '\n' { ' ' } else { c };
        let mut buf = [0u8; 4];
        h.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    h.extend_from_slice(b"\r\n");
}

fn latin1_part(mime: &'static str, body: Vec<u8>) -> MimePart<'static> {
    MimePart::new(
        ContentType::new(mime).attribute("charset", "iso-8859-1"),
        BodyPart::Binary(Cow::Owned(quoted_printable(&body))),
    )
    .inline()
    .transfer_encoding("quoted-printable")
}

/// Quoted-printable (RFC 2045 §6.7) with CRLF hard line breaks and soft breaks before 76
/// columns. mail-builder picks an encoding by itself; the spec wants QP for the text, so we
/// encode and label the part ourselves.
fn quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() * 11 / 10);
    let mut col = 0;
    let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    for (n, line) in lines.iter().enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        for (i, &b) in line.iter().enumerate() {
            let last = i + 1 == line.len();
            let literal =
                (b'!'..=b'~').contains(&b) && b != b'=' || (b == b' ' || b == b'\t') && !last;
            let width = if literal { 1 } else { 3 };
            if col + width > 75 {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(format!("={b:02X}").as_bytes());
            }
            col += width;
        }
        if n + 1 < lines.len() {
            out.extend_from_slice(b"\r\n");
            col = 0;
        }
    }
    out
}

/// `7bit` when every byte is ASCII and lines fit SMTP, `8bit` when only the bytes are not
/// ASCII, `binary` otherwise. `message/rfc822` may not be base64-encoded (RFC 2046 §5.2.1), so
/// the original travels as it came.
fn transfer_encoding(body: &[u8]) -> &'static str {
    let long_lines = body.split(|&b| b == b'\n').any(|l| l.len() > 998);
    if long_lines || body.contains(&0) {
        "binary"
    } else if body.is_ascii() {
        "7bit"
    } else {
        "8bit"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_basics() {
        assert_eq!(quoted_printable(b"a=b \xe8\r\nx "), b"a=3Db =E8\r\nx=20");
        let long = vec![b'a'; 200];
        let qp = quoted_printable(&long);
        assert!(qp.split(|&b| b == b'\n').all(|l| l.len() <= 77));
    }

    #[test]
    fn transfer_encodings() {
        assert_eq!(transfer_encoding(b"a\r\nb"), "7bit");
        assert_eq!(transfer_encoding("è".as_bytes()), "8bit");
        assert_eq!(transfer_encoding(&vec![b'a'; 1200]), "binary");
    }
}
