//! Reading PEC messages back: raw bytes in, the PEC kind (or "not PEC"), its
//! `daticert.xml`, its inner original and its PEC headers out. The reception point decides
//! with it, `pecora verify` reports with it.
//!
//! It reads what real providers send, not only what we write: SHA-1 or SHA-256 signatures of
//! either protocol name, LF line ends, `From:` with a display name, a busta without
//! `X-TipoRicevuta`, a signed entity without any PEC header (the kind then comes from
//! daticert), and an anomalia wrapping a busta (classified recursively). Identification uses
//! `X-Ricevuta`/`X-Trasporto` and daticert, never the subject or the human text (spec §14.3).

use mail_parser::{Address, Message, MessageParser, MimeHeaders, PartType};

use crate::checks::{indirizzi, stesso_indirizzo};
use crate::daticert::{Daticert, DaticertError, Destinatario, Errore, TipoDaticert, TipoRicevuta};
use crate::errori::scadenza_da_errore_esteso;
use crate::kind::Kind;
use crate::mime;
use crate::transazione::Transazione;

/// How deep an anomalia may wrap another PEC message before we stop reading.
const MAX_NESTING: usize = 4;

/// Why a message that claims to be PEC cannot be read as one.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("not an RFC 5322 message")]
    NotAMessage,
    #[error("unknown {header} value {value:?}")]
    UnknownValue { header: &'static str, value: String },
    #[error("{kind} without daticert.xml")]
    MissingDaticert { kind: &'static str },
    #[error("daticert.xml unreadable: {0}")]
    Daticert(#[from] DaticertError),
    #[error("header says {header} but daticert.xml says tipo={daticert}")]
    Inconsistent {
        header: String,
        daticert: &'static str,
    },
    #[error("anomalia nests PEC messages deeper than {MAX_NESTING} levels")]
    TooDeep,
}

/// The PEC-relevant header fields, unfolded (the subject decoded).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PecHeaders {
    pub from: Option<String>,
    pub to: Option<String>,
    pub cc: Option<String>,
    pub subject: Option<String>,
    pub date: Option<String>,
    pub message_id: Option<String>,
    pub x_ricevuta: Option<String>,
    pub x_trasporto: Option<String>,
    pub x_riferimento_message_id: Option<String>,
    pub x_tipo_ricevuta: Option<String>,
    pub x_verifica_sicurezza: Option<String>,
    pub x_mittente: Option<String>,
}

/// A message read as PEC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// `None`: not a PEC message (ordinary mail).
    pub kind: Option<Kind>,
    pub headers: PecHeaders,
    pub daticert: Option<Daticert>,
    /// The carried message: `postacert.eml` of a busta or completa/breve consegna, the received
    /// message of an anomalia.
    pub originale: Option<Vec<u8>>,
    /// For an anomalia whose received message is itself PEC: that message, classified.
    pub inner: Option<Box<Classified>>,
    /// A `multipart/signed` entity carries the PEC parts (at the top, or nested when an
    /// intermediary re-wrapped the message).
    pub signed: bool,
    /// Deviations from the spec that were tolerated.
    pub warnings: Vec<String>,
    /// Where the header fields that the signature does not cover disagree with the signed
    /// content (see [`discordanze`]): a busta whose outer fields were rewritten on the way.
    pub discordanze: Vec<String>,
}

impl Classified {
    /// The sender and subject a message list shows for this PEC object, taken only from what
    /// its signature covers, since its `From:` and `Subject:` are not (spec §2.2): for a busta,
    /// daticert's `mittente` and `POSTA CERTIFICATA: ` with the carried original's subject;
    /// for a ricevuta or avviso, daticert's `gestore-emittente` and the kind's prefix with
    /// `oggetto`. `None` for ordinary mail and anomalie (whose content is not certified).
    pub fn intestazione_firmata(&self) -> Option<(String, String)> {
        let (kind, d) = (self.kind?, self.daticert.as_ref()?);
        match kind {
            Kind::Anomalia => None,
            Kind::PostaCertificata => {
                let orig = MessageParser::default().parse_headers(self.originale.as_deref()?)?;
                let subject = orig.subject().unwrap_or_default();
                Some((
                    d.mittente.clone(),
                    format!("{}{subject}", kind.subject_prefix()),
                ))
            }
            _ => Some((
                d.gestore_emittente.clone(),
                format!(
                    "{}{}",
                    kind.subject_prefix(),
                    d.oggetto.as_deref().unwrap_or_default()
                ),
            )),
        }
    }
}

/// Reads a message as PEC. Ordinary mail is `Ok` with `kind: None`; a message that claims to be
/// PEC but is malformed is an `Err` (the reception point turns it into an anomalia).
pub fn classify(raw: &[u8]) -> Result<Classified, ClassifyError> {
    let mut lettura = classify_all(raw);
    match (lettura.letto, lettura.errori.is_empty()) {
        (Some(c), true) => Ok(c),
        _ => Err(lettura
            .errori
            .drain(..)
            .next()
            .unwrap_or(ClassifyError::NotAMessage)),
    }
}

/// Everything that could be read of a message, and every reason it is not a correct PEC
/// object: what `pecora verify` reports on a damaged or tampered file.
#[derive(Debug)]
pub struct Lettura {
    /// `None` only when the bytes are not a message at all. Otherwise as much as could be
    /// read: the kind its headers claim, the daticert when it parses, the carried original.
    pub letto: Option<Classified>,
    /// Empty when the message was read as a whole ([`classify`] is then `Ok`).
    pub errori: Vec<ClassifyError>,
}

/// Reads a message as far as it can be read, collecting every problem instead of stopping at
/// the first.
pub fn classify_all(raw: &[u8]) -> Lettura {
    classify_at(raw, 0)
}

fn classify_at(raw: &[u8], depth: usize) -> Lettura {
    let mut errori = Vec::new();
    let letto = read_at(raw, depth, &mut errori);
    Lettura { letto, errori }
}

fn read_at(raw: &[u8], depth: usize, errori: &mut Vec<ClassifyError>) -> Option<Classified> {
    if depth > MAX_NESTING {
        errori.push(ClassifyError::TooDeep);
        return None;
    }
    let msg = match mime::fields(raw).is_empty() {
        true => None,
        false => MessageParser::default().parse(raw),
    };
    let Some(msg) = msg else {
        errori.push(ClassifyError::NotAMessage);
        return None;
    };
    let h = pec_headers(raw, &msg);
    let mut warnings = Vec::new();

    let (daticert_part, originale, signed) = pec_parts(&msg);
    let has_daticert_part = daticert_part.is_some();
    let daticert = daticert_part.and_then(|bytes| {
        Daticert::from_xml(&bytes)
            .map_err(|e| errori.push(e.into()))
            .ok()
    });

    let mut ricevuta = |value: &str, d: Option<&Daticert>| {
        kind_of_ricevuta(value, &h, d, originale.as_deref())
            .map_err(|e| errori.push(e))
            .ok()
    };
    let kind = match (&h.x_trasporto, &h.x_ricevuta) {
        (Some(t), _) => match t.as_str() {
            "posta-certificata" => Some(Kind::PostaCertificata),
            "errore" => Some(Kind::Anomalia),
            _ => {
                errori.push(ClassifyError::UnknownValue {
                    header: "X-Trasporto",
                    value: t.clone(),
                });
                None
            }
        },
        (None, Some(r)) => ricevuta(r, daticert.as_ref()),
        (None, None) => match &daticert {
            Some(d) => {
                warnings.push(
                    "no X-Ricevuta or X-Trasporto header: kind taken from daticert.xml".into(),
                );
                match d.tipo {
                    TipoDaticert::PostaCertificata => Some(Kind::PostaCertificata),
                    _ => ricevuta(d.tipo.as_str(), Some(d)),
                }
            }
            None => None,
        },
    };

    let mut discordanze = Vec::new();
    if let Some(k) = kind {
        match (k.tipo_daticert(), &daticert) {
            // A daticert that did not parse was reported above.
            (Some(_), None) if has_daticert_part => {}
            (Some(_), None) => errori.push(ClassifyError::MissingDaticert { kind: k.slug() }),
            (Some(expected), Some(d)) if expected != d.tipo => {
                errori.push(ClassifyError::Inconsistent {
                    header: format!("{}: {}", k.header().name(), k.header().value()),
                    daticert: d.tipo.as_str(),
                });
            }
            (None, Some(_)) => warnings.push("anomalia carries a daticert.xml of its own".into()),
            _ => {}
        }
        if k == Kind::PostaCertificata && h.x_tipo_ricevuta.is_none() {
            warnings.push("busta without X-TipoRicevuta: read as completa".into());
        }
        if !signed {
            warnings.push("no multipart/signed entity".into());
        }
        if let Some(d) = &daticert {
            match k {
                Kind::PostaCertificata => {
                    discordanze = discordanze_busta(&msg, &h, d, originale.as_deref());
                }
                _ => warnings.extend(oggetto_ricevuta(k, &h, d)),
            }
        }
    }

    let inner = match (kind, &originale) {
        (Some(Kind::Anomalia), Some(o)) => {
            let nested = classify_at(o, depth + 1);
            match (nested.letto, nested.errori.into_iter().next()) {
                (_, Some(ClassifyError::TooDeep)) => {
                    errori.push(ClassifyError::TooDeep);
                    None
                }
                (_, Some(e)) => {
                    warnings.push(format!(
                        "wrapped message claims to be PEC but is not readable: {e}"
                    ));
                    None
                }
                (Some(c), None) if c.kind.is_some() => Some(Box::new(c)),
                _ => None,
            }
        }
        _ => None,
    };

    Some(Classified {
        kind,
        headers: h,
        daticert,
        originale,
        inner,
        signed,
        warnings,
        discordanze,
    })
}

/// Checks that `busta` (unsigned is enough: the signature adds a wrapper, not a reading)
/// reads back as what the access point means to certify: a busta of transaction `t`,
/// carrying `postacert` byte for byte, with no field in disagreement. The reception point
/// reads incoming buste with this same classifier, so what passes here is what a pecora
/// reception point accepts; `Err` says what would be misread.
pub fn rilettura(busta: &[u8], t: &Transazione, postacert: &[u8]) -> Result<(), String> {
    let c = classify(busta).map_err(|e| e.to_string())?;
    let d = c.daticert.as_ref().ok_or("daticert.xml non trovato")?;
    if c.kind != Some(Kind::PostaCertificata) || d.identificativo != t.identificativo {
        return Err("la busta si legge come un altro messaggio".into());
    }
    if c.originale.as_deref() != Some(postacert) {
        return Err("il messaggio originale non si legge intero".into());
    }
    match c.discordanze.first() {
        Some(d) => Err(d.clone()),
        None => Ok(()),
    }
}

/// Where a busta's header fields disagree with what its signature covers. Only the
/// `multipart/mixed` entity is signed (spec §2.2): `Subject`, `From`, `To`, `Cc` and
/// `X-TipoRicevuta` travel outside it, so anyone on the way can rewrite them. Each is compared
/// with the signed value it is built from (spec §3.4): the subject with `POSTA CERTIFICATA: `
/// and the original's subject, the `Per conto di:` display name with daticert's `mittente`,
/// `X-TipoRicevuta` with daticert's `ricevuta`, the recipients with the original's `To:` and
/// `Cc:` (the same parser reads both, so a malformed list the client wrote reads the same on
/// both sides, as in the real Aruba busta of 2019). A field that is absent is not compared:
/// an entity cut out of a re-wrapped message has none.
///
/// The real buste of Aruba, InfoCert, Namirial and Sogei in `shared/fixtures/real-pec` agree on
/// every one of these once folding is removed; daticert's `oggetto` is not used, as InfoCert's
/// differs from the subject it sends.
fn discordanze_busta(
    msg: &Message,
    h: &PecHeaders,
    d: &Daticert,
    originale: Option<&[u8]>,
) -> Vec<String> {
    let mut out = Vec::new();
    let original = originale.and_then(|o| MessageParser::default().parse_headers(o));
    if let (Some(outer), Some(orig)) = (&h.subject, &original) {
        let expected = format!(
            "{}{}",
            Kind::PostaCertificata.subject_prefix(),
            orig.subject().unwrap_or_default()
        );
        if spazi(outer) != spazi(&expected) {
            out.push(format!("Subject {outer:?} is not the signed {expected:?}"));
        }
    }
    if let Some(from) = msg.from().and_then(|a| a.first())
        && let Some(name) = from.name()
    {
        let per_conto = name
            .trim()
            .get(..13)
            .filter(|p| p.eq_ignore_ascii_case("per conto di:"))
            .map(|_| name.trim()[13..].trim());
        if !per_conto.is_some_and(|a| stesso_indirizzo(a, &d.mittente)) {
            out.push(format!(
                "From names {name:?}, not \"Per conto di: {}\"",
                d.mittente
            ));
        }
    }
    if let (Some(header), Some(signed)) = (&h.x_tipo_ricevuta, d.ricevuta)
        && header != signed.as_str()
    {
        out.push(format!(
            "X-TipoRicevuta {header} but the signed daticert asks for {}",
            signed.as_str()
        ));
    }
    if let Some(orig) = &original
        && (h.to.is_some() || h.cc.is_some())
    {
        let outer = destinatari_di(msg.to(), msg.cc());
        let signed = destinatari_di(orig.to(), orig.cc());
        if outer != signed {
            out.push(format!(
                "To/Cc name {} but the signed original names {}",
                outer.join(", "),
                signed.join(", ")
            ));
        }
    }
    out
}

/// The subject a ricevuta or avviso is built with (the kind's prefix and daticert's
/// `oggetto`), when its `Subject:` says otherwise. Only a warning: a gestore's subject may
/// differ in ways the rules leave open, and nothing is decided on it.
fn oggetto_ricevuta(k: Kind, h: &PecHeaders, d: &Daticert) -> Option<String> {
    let (outer, oggetto) = (h.subject.as_ref()?, d.oggetto.as_ref()?);
    let expected = format!("{}{oggetto}", k.subject_prefix());
    (spazi(outer) != spazi(&expected))
        .then(|| format!("Subject {outer:?} is not the signed {expected:?}"))
}

/// `s` with every run of white space (folding included) as one space, trimmed.
fn spazi(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The addresses of a `To:` and a `Cc:`, lower-cased and sorted.
fn destinatari_di(to: Option<&Address>, cc: Option<&Address>) -> Vec<String> {
    let mut all: Vec<String> = indirizzi(to)
        .into_iter()
        .chain(indirizzi(cc))
        .map(|a| a.to_ascii_lowercase())
        .collect();
    all.sort();
    all
}

fn kind_of_ricevuta(
    value: &str,
    h: &PecHeaders,
    d: Option<&Daticert>,
    originale: Option<&[u8]>,
) -> Result<Kind, ClassifyError> {
    let virus = h.x_verifica_sicurezza.as_deref() == Some("errore")
        || d.is_some_and(|d| d.errore == Errore::Virus);
    Ok(match value {
        "accettazione" => Kind::Accettazione,
        "non-accettazione" if virus => Kind::NonAccettazioneVirus,
        "non-accettazione" => Kind::NonAccettazione,
        "presa-in-carico" => Kind::PresaInCarico,
        "rilevazione-virus" => Kind::RilevazioneVirus,
        "errore-consegna" if virus => Kind::ErroreConsegnaVirus,
        "errore-consegna" => Kind::ErroreConsegna,
        "preavviso-errore-consegna" => Kind::PreavvisoErroreConsegna(scadenza_da_errore_esteso(
            d.and_then(|d| d.errore_esteso.as_deref()),
        )),
        "avvenuta-consegna" => Kind::AvvenutaConsegna(match d.and_then(|d| d.ricevuta) {
            Some(t) => t,
            None => match originale {
                None => TipoRicevuta::Sintetica,
                Some(o) if has_hash_part(o) => TipoRicevuta::Breve,
                Some(_) => TipoRicevuta::Completa,
            },
        }),
        other => {
            return Err(ClassifyError::UnknownValue {
                header: "X-Ricevuta",
                value: other.to_string(),
            });
        }
    })
}

fn has_hash_part(raw: &[u8]) -> bool {
    MessageParser::default().parse(raw).is_some_and(|m| {
        m.parts
            .iter()
            .any(|p| p.attachment_name().is_some_and(|n| n.ends_with(".hash")))
    })
}

/// daticert.xml bytes, the carried original, and whether a signed entity was found. Only the
/// message's own parts are searched: a nested message (postacert.eml) is a separate tree in
/// mail-parser, so a forwarded PEC inside the original is never mistaken for this one.
fn pec_parts(msg: &Message) -> (Option<Vec<u8>>, Option<Vec<u8>>, bool) {
    let mut daticert = None;
    let mut originale = None;
    let mut signed = false;
    for (index, part) in msg.parts.iter().enumerate() {
        let ct = part.content_type();
        let mime = ct
            .map(|c| {
                format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()).to_ascii_lowercase()
            })
            .unwrap_or_default();
        let name = part.attachment_name().map(str::to_ascii_lowercase);
        match &part.body {
            PartType::Multipart(_) if mime == "multipart/signed" => signed = true,
            PartType::Message(inner) if originale.is_none() => {
                originale = Some(
                    tagliato(msg, index)
                        .unwrap_or_else(|| inner.raw_message())
                        .to_vec(),
                );
            }
            _ if daticert.is_none()
                && name.as_deref() == Some("daticert.xml")
                && !matches!(part.body, PartType::Multipart(_)) =>
            {
                daticert = Some(part.contents().to_vec());
            }
            _ => {}
        }
    }
    (daticert, originale, signed)
}

/// The body of part `index` (a `message/rfc822` carried as it is: 7bit, 8bit or binary), cut
/// at the delimiter lines of the multipart that holds it ([`mime::split_multipart`]), not where
/// the carried message's own MIME tree says it ends: an original with an unclosed multipart
/// of its own would otherwise run on through the rest of the busta, its signature included.
/// `None` when the part cannot be cut so (another encoding, no parent boundary): mail-parser's
/// reading stands.
fn tagliato<'a>(msg: &'a Message, index: usize) -> Option<&'a [u8]> {
    let raw = msg.raw_message();
    let part = msg.parts.get(index)?;
    let encoding = part
        .content_transfer_encoding()
        .map(str::to_ascii_lowercase);
    if !matches!(encoding.as_deref(), None | Some("7bit" | "8bit" | "binary")) {
        return None;
    }
    let (parent, position) = msg.parts.iter().find_map(|p| match &p.body {
        PartType::Multipart(children) => {
            let position = children.iter().position(|&c| c as usize == index)?;
            Some((p, position))
        }
        _ => None,
    })?;
    let boundary = parent.content_type()?.attribute("boundary")?;
    let body = raw.get(parent.offset_body as usize..)?;
    let range = mime::split_multipart(body, boundary.as_bytes())
        .parts
        .into_iter()
        .nth(position)?;
    Some(mime::split_header(&body[range]).1)
}

fn pec_headers(raw: &[u8], msg: &Message) -> PecHeaders {
    let fields = mime::fields(raw);
    let get = |name: &str| fields.iter().find(|f| f.is(name)).map(|f| f.value());
    let token = |name: &str| get(name).map(|v| v.trim().to_ascii_lowercase());
    PecHeaders {
        from: get("From"),
        to: get("To"),
        cc: get("Cc"),
        subject: msg.subject().map(str::to_string).or_else(|| get("Subject")),
        date: get("Date"),
        message_id: get("Message-ID"),
        x_ricevuta: token("X-Ricevuta"),
        x_trasporto: token("X-Trasporto"),
        x_riferimento_message_id: get("X-Riferimento-Message-ID"),
        x_tipo_ricevuta: token("X-TipoRicevuta"),
        x_verifica_sicurezza: token("X-VerificaSicurezza"),
        x_mittente: get("X-Mittente"),
    }
}

/// What an arbitrary message says about itself, for wrapping it in a busta di anomalia: its
/// sender, recipients and subject as its headers give them; its Message-ID stands in for the
/// identificativo it does not have.
pub fn transazione_da_messaggio(raw: &[u8]) -> Transazione {
    let msg = MessageParser::default().parse(raw);
    let Some(msg) = msg else {
        return Transazione {
            identificativo: String::new(),
            msgid: None,
            mittente: String::new(),
            destinatari: Vec::new(),
            risposte: String::new(),
            oggetto: String::new(),
            ricevuta: TipoRicevuta::Completa,
        };
    };
    let mittente = indirizzi(msg.from()).into_iter().next().unwrap_or_default();
    let destinatari = indirizzi(msg.to())
        .into_iter()
        .chain(indirizzi(msg.cc()))
        .map(|indirizzo| Destinatario {
            indirizzo,
            tipo: Default::default(),
        })
        .collect();
    Transazione {
        identificativo: msg.message_id().unwrap_or_default().to_string(),
        msgid: msg.message_id().map(|m| format!("<{m}>")),
        risposte: indirizzi(msg.reply_to())
            .into_iter()
            .next()
            .unwrap_or_else(|| mittente.clone()),
        mittente,
        destinatari,
        oggetto: msg.subject().unwrap_or_default().to_string(),
        ricevuta: TipoRicevuta::Completa,
    }
}
