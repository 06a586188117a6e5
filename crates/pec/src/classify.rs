//! Reading PEC messages back: raw bytes in, the PEC kind (or "not PEC"), its
//! `daticert.xml`, its inner original and its PEC headers out. The reception point decides
//! with it, `pecora verify` reports with it.
//!
//! It reads what real providers send, not only what we write: SHA-1 or SHA-256 signatures of
//! either protocol name, LF line ends, `From:` with a display name, a busta without
//! `X-TipoRicevuta`, a signed entity without any PEC header (the kind then comes from
//! daticert), and an anomalia wrapping a busta (classified recursively). Identification uses
//! `X-Ricevuta`/`X-Trasporto` and daticert, never the subject or the human text (spec §14.3).

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use crate::checks::indirizzi;
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
}

/// Reads a message as PEC. Ordinary mail is `Ok` with `kind: None`; a message that claims to be
/// PEC but is malformed is an `Err` (the reception point turns it into an anomalia).
pub fn classify(raw: &[u8]) -> Result<Classified, ClassifyError> {
    classify_at(raw, 0)
}

fn classify_at(raw: &[u8], depth: usize) -> Result<Classified, ClassifyError> {
    if depth > MAX_NESTING {
        return Err(ClassifyError::TooDeep);
    }
    if mime::fields(raw).is_empty() {
        return Err(ClassifyError::NotAMessage);
    }
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(ClassifyError::NotAMessage)?;
    let h = pec_headers(raw, &msg);
    let mut warnings = Vec::new();

    let (daticert_part, originale, signed) = pec_parts(&msg);
    let daticert = match daticert_part {
        Some(bytes) => Some(Daticert::from_xml(&bytes)?),
        None => None,
    };

    let kind = match (&h.x_trasporto, &h.x_ricevuta) {
        (Some(t), _) => Some(match t.as_str() {
            "posta-certificata" => Kind::PostaCertificata,
            "errore" => Kind::Anomalia,
            _ => {
                return Err(ClassifyError::UnknownValue {
                    header: "X-Trasporto",
                    value: t.clone(),
                });
            }
        }),
        (None, Some(r)) => Some(kind_of_ricevuta(
            r,
            &h,
            daticert.as_ref(),
            originale.as_deref(),
        )?),
        (None, None) => match &daticert {
            Some(d) => {
                warnings.push(
                    "no X-Ricevuta or X-Trasporto header: kind taken from daticert.xml".into(),
                );
                let tipo = d.tipo.as_str().to_string();
                Some(match d.tipo {
                    TipoDaticert::PostaCertificata => Kind::PostaCertificata,
                    _ => kind_of_ricevuta(&tipo, &h, Some(d), originale.as_deref())?,
                })
            }
            None => None,
        },
    };

    if let Some(k) = kind {
        match (k.tipo_daticert(), &daticert) {
            (Some(_), None) => return Err(ClassifyError::MissingDaticert { kind: k.slug() }),
            (Some(expected), Some(d)) if expected != d.tipo => {
                return Err(ClassifyError::Inconsistent {
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
    }

    let inner = match (kind, &originale) {
        (Some(Kind::Anomalia), Some(o)) => match classify_at(o, depth + 1) {
            Ok(c) if c.kind.is_some() => Some(Box::new(c)),
            Ok(_) => None,
            Err(ClassifyError::TooDeep) => return Err(ClassifyError::TooDeep),
            Err(e) => {
                warnings.push(format!(
                    "wrapped message claims to be PEC but is not readable: {e}"
                ));
                None
            }
        },
        _ => None,
    };

    Ok(Classified {
        kind,
        headers: h,
        daticert,
        originale,
        inner,
        signed,
        warnings,
    })
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
    for part in &msg.parts {
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
                originale = Some(inner.raw_message().to_vec());
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
