//! `daticert.xml`: the certification data, the only part machines may read (spec §5).
//!
//! Every ricevuta, avviso and busta carries a `daticert.xml` attachment that repeats, in a
//! fixed XML shape, what the human-readable text says: which event is certified (`tipo`),
//! for which original message (`intestazione`), by which provider, when, and under which PEC
//! identifier (`dati`). Receiving software (ours and other providers') correlates receipts by
//! reading this file, never the subject or the text, so the writer must follow the DTD to the
//! letter and the reader must survive whatever real providers and attackers send.
//!
//! * [`Daticert::to_xml`] writes the DTD's element order with an XML declaration and no
//!   DOCTYPE, pretty-printed like the files real providers send (`dtd/daticert.dtd` in this
//!   crate holds the DTD, for validation in tests).
//! * [`Daticert::from_xml`] reads with a streaming parser and no DTD processing at all:
//!   external entities are never resolved or fetched, and entities declared in a DOCTYPE are
//!   never expanded (a reference to one is an error, see [`DaticertError::UnknownEntity`]).
//!
//! Characters that XML 1.0 does not allow (C0 controls other than tab, LF and CR; U+FFFE;
//! U+FFFF) cannot be carried by a well-formed document: both the writer and the reader replace
//! each of them with U+FFFD REPLACEMENT CHARACTER, so `from_xml(to_xml(d))` gives `d` with that
//! replacement applied and with text trimmed of surrounding whitespace.

use std::fmt;
use std::str::FromStr;

use jiff::Zoned;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{Offset, TimeZone};
use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

/// `postacert/@tipo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TipoDaticert {
    /// `accettazione`: ricevuta di accettazione.
    Accettazione,
    /// `non-accettazione`: avviso di non accettazione.
    NonAccettazione,
    /// `presa-in-carico`: ricevuta di presa in carico.
    PresaInCarico,
    /// `avvenuta-consegna`: ricevuta di avvenuta consegna.
    AvvenutaConsegna,
    /// `posta-certificata`: busta di trasporto.
    PostaCertificata,
    /// `errore-consegna`: avviso di mancata consegna.
    ErroreConsegna,
    /// `preavviso-errore-consegna`: avviso di mancata consegna per superamento dei tempi (12 h).
    PreavvisoErroreConsegna,
    /// `rilevazione-virus`: avviso di rilevazione virus.
    RilevazioneVirus,
}

/// `postacert/@errore` (default `nessuno`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Errore {
    /// `nessuno`: no error.
    #[default]
    Nessuno,
    /// `no-dest`: wrong or non-existent recipient.
    NoDest,
    /// `no-dominio`: wrong or unknown recipient domain.
    NoDominio,
    /// `virus`: a virus was detected.
    Virus,
    /// `altro`: any other error.
    Altro,
}

/// `destinatari/@tipo`: is the recipient's domain a PEC domain in the index?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TipoDestinatario {
    /// `certificato`: the domain is in the index of PEC providers.
    #[default]
    Certificato,
    /// `esterno`: ordinary (non-PEC) mail.
    Esterno,
}

/// `ricevuta/@tipo`, also the value of `X-TipoRicevuta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TipoRicevuta {
    /// `completa`: the delivery receipt carries the whole original message.
    #[default]
    Completa,
    /// `breve`: the delivery receipt carries the original with attachments replaced by hashes.
    Breve,
    /// `sintetica`: the delivery receipt carries only the certification data.
    Sintetica,
}

/// One `destinatari` element: a recipient of the original message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destinatario {
    /// Bare address, no display name.
    pub indirizzo: String,
    /// Whether the address is in a PEC domain.
    pub tipo: TipoDestinatario,
}

/// One `daticert.xml`, field for field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daticert {
    /// `postacert/@tipo`: the kind of message that carries this file.
    pub tipo: TipoDaticert,
    /// `postacert/@errore`.
    pub errore: Errore,
    // intestazione: the original message
    /// `mittente`: the original sender, bare address.
    pub mittente: String,
    /// `destinatari`: every `To:` and `Cc:` recipient of the original, in order.
    pub destinatari: Vec<Destinatario>,
    /// `risposte`: the original `Reply-To:` (providers put the sender when there was none).
    pub risposte: String,
    /// `oggetto`: the original subject, decoded.
    pub oggetto: Option<String>,
    // dati: this certified event
    /// `gestore-emittente`: descriptive name of the certifying provider.
    pub gestore_emittente: String,
    /// `data`: local legal time with its offset (`giorno`, `ora`, `zona`), whole seconds.
    pub data: Zoned,
    /// `identificativo`: the PEC msgid of the transport envelope, without angle brackets.
    pub identificativo: String,
    /// The client's Message-ID, with angle brackets.
    pub msgid: Option<String>,
    /// `ricevuta/@tipo`: the receipt type the sender asked for.
    pub ricevuta: Option<TipoRicevuta>,
    /// `consegna`: the one recipient this delivery (or non-delivery) is about.
    pub consegna: Option<String>,
    /// `ricezione`: the recipients a presa in carico covers.
    pub ricezione: Vec<String>,
    /// `errore-esteso`: coded error description, e.g. `5.1.1 - Gestore - indirizzo non valido`.
    pub errore_esteso: Option<String>,
}

/// A string that is not one of the wire values of a `daticert.xml` enumeration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} value {value:?}")]
pub struct UnknownValue {
    /// Which enumeration was being parsed, e.g. `postacert/@tipo`.
    pub what: &'static str,
    /// The rejected text, as given.
    pub value: String,
}

/// Why a `daticert.xml` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DaticertError {
    /// The input is larger than [`Daticert::MAX_INPUT`].
    #[error("daticert.xml is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The input is not UTF-8 (the only encoding PEC uses; the declaration's label is ignored).
    #[error("daticert.xml is not UTF-8: invalid byte sequence at byte {position}")]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        position: usize,
    },
    /// The XML syntax is broken.
    #[error("daticert.xml is not well-formed XML at byte {position}: {message}")]
    NotWellFormed {
        /// Byte offset where the problem was found.
        position: u64,
        /// What is wrong.
        message: String,
    },
    /// Elements are nested deeper than [`Daticert::MAX_DEPTH`].
    #[error("daticert.xml nests elements deeper than {limit} levels (at byte {position})")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// Byte offset of the element that went over the limit.
        position: u64,
    },
    /// The input holds no element at all.
    #[error("daticert.xml has no root element")]
    NoRoot,
    /// The input ends before the root element is closed.
    #[error("daticert.xml ends inside <{element}>: the document is truncated")]
    Truncated {
        /// The innermost element still open (unknown elements are not named).
        element: String,
    },
    /// The root element is not `postacert`.
    #[error("root element is <{found}>, expected <postacert>")]
    WrongRoot {
        /// Name of the root element found.
        found: String,
    },
    /// A required element is absent.
    #[error("missing <{element}>")]
    MissingElement {
        /// Name of the missing element.
        element: &'static str,
    },
    /// An element that holds one value appears twice (ambiguous: which one counts?).
    #[error("<{element}> appears more than once")]
    DuplicateElement {
        /// Name of the repeated element.
        element: &'static str,
    },
    /// A required attribute is absent.
    #[error("missing attribute {attribute} on <{element}>")]
    MissingAttribute {
        /// Element that lacks it.
        element: &'static str,
        /// Name of the attribute.
        attribute: &'static str,
    },
    /// An attribute has a value outside its DTD enumeration, or cannot be unescaped.
    #[error("bad value {value:?} for attribute {attribute} of <{element}>")]
    InvalidAttribute {
        /// Element that carries it.
        element: &'static str,
        /// Name of the attribute.
        attribute: &'static str,
        /// The raw or unescaped value.
        value: String,
    },
    /// Text refers to an entity other than the five predefined ones.
    #[error(
        "unknown entity &{name}; in <{element}> (only &lt; &gt; &amp; &apos; &quot; and \
         character references are expanded; entities declared in a DTD never are)"
    )]
    UnknownEntity {
        /// The entity name, without `&` and `;`.
        name: String,
        /// Element whose text holds the reference.
        element: &'static str,
    },
    /// A character reference is not `&#NNN;` or `&#xHHH;`.
    #[error("malformed character reference &{reference}; in <{element}>")]
    InvalidCharRef {
        /// The reference, without `&` and `;`.
        reference: String,
        /// Element whose text holds the reference.
        element: &'static str,
    },
    /// `giorno` is not a calendar date `dd/mm/yyyy`.
    #[error("bad <giorno> {value:?}: expected a date dd/mm/yyyy")]
    InvalidGiorno {
        /// The text found.
        value: String,
    },
    /// `ora` is not a time `hh:mm:ss`.
    #[error("bad <ora> {value:?}: expected a time hh:mm:ss")]
    InvalidOra {
        /// The text found.
        value: String,
    },
    /// `data/@zona` is not an offset `[+|-]hhmm`.
    #[error("bad zona {value:?} on <data>: expected an offset [+|-]hhmm")]
    InvalidZona {
        /// The text found.
        value: String,
    },
    /// `giorno`, `ora` and `zona` are each valid but together are out of the supported range.
    #[error("<data> {giorno} {ora} {zona} is not a representable instant: {source}")]
    InvalidData {
        /// The `giorno` text.
        giorno: String,
        /// The `ora` text.
        ora: String,
        /// The `zona` text.
        zona: String,
        /// Why jiff refused it.
        #[source]
        source: jiff::Error,
    },
}

/// Generates `ALL`, `as_str`, `FromStr` and `Display` for a wire enumeration.
macro_rules! wire_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $wire:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in DTD order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The exact value on the wire.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($ty::$variant => $wire),+
                }
            }
        }

        impl FromStr for $ty {
            type Err = UnknownValue;

            /// Parses the exact (case-sensitive) wire value, ignoring surrounding whitespace.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match trim_xml(s) {
                    $($wire => Ok($ty::$variant),)+
                    _ => Err(UnknownValue { what: $what, value: s.to_owned() }),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(TipoDaticert, "postacert/@tipo", {
    Accettazione => "accettazione",
    NonAccettazione => "non-accettazione",
    PresaInCarico => "presa-in-carico",
    AvvenutaConsegna => "avvenuta-consegna",
    PostaCertificata => "posta-certificata",
    ErroreConsegna => "errore-consegna",
    PreavvisoErroreConsegna => "preavviso-errore-consegna",
    RilevazioneVirus => "rilevazione-virus",
});

wire_enum!(Errore, "postacert/@errore", {
    Nessuno => "nessuno",
    NoDest => "no-dest",
    NoDominio => "no-dominio",
    Virus => "virus",
    Altro => "altro",
});

wire_enum!(TipoDestinatario, "destinatari/@tipo", {
    Certificato => "certificato",
    Esterno => "esterno",
});

wire_enum!(TipoRicevuta, "ricevuta/@tipo", {
    Completa => "completa",
    Breve => "breve",
    Sintetica => "sintetica",
});

impl Daticert {
    /// Largest input [`Daticert::from_xml`] accepts, in bytes (1 MiB; real files are ~1 KiB).
    pub const MAX_INPUT: usize = 1024 * 1024;
    /// Deepest element nesting [`Daticert::from_xml`] accepts (the DTD needs 4).
    pub const MAX_DEPTH: usize = 64;

    /// Writes the file: UTF-8, XML declaration, no DOCTYPE, elements in DTD order, indented
    /// with four spaces and LF line ends.
    ///
    /// * `errore` is always written, even when it is `nessuno`.
    /// * Text is escaped (`&`, `<`, `>`, `"`, `'`; CR as `&#13;` so that it survives
    ///   end-of-line normalisation); characters XML 1.0 forbids become U+FFFD.
    /// * `data` is written as the local date and time of the [`Zoned`] in its own offset,
    ///   whole seconds (sub-second digits are dropped). An offset that is not a whole number
    ///   of minutes (historical local mean time) cannot be written as `zona`: the instant is
    ///   then re-expressed in the offset truncated to whole minutes, so the instant written
    ///   is still exact. Years outside 0000-9999 do not fit `dd/mm/yyyy`.
    /// * An empty `destinatari` list is written as no `destinatari` element, which the DTD
    ///   forbids (`destinatari+`): the writer writes what it has, the formal checks of the
    ///   punto di accesso are what keep such a message out.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(1024);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str("<postacert tipo=\"");
        out.push_str(self.tipo.as_str());
        out.push_str("\" errore=\"");
        out.push_str(self.errore.as_str());
        out.push_str("\">\n");

        out.push_str("    <intestazione>\n");
        text_element(&mut out, 2, "mittente", &self.mittente);
        for dest in &self.destinatari {
            indent(&mut out, 2);
            out.push_str("<destinatari tipo=\"");
            out.push_str(dest.tipo.as_str());
            out.push_str("\">");
            push_escaped(&mut out, &dest.indirizzo);
            out.push_str("</destinatari>\n");
        }
        text_element(&mut out, 2, "risposte", &self.risposte);
        if let Some(oggetto) = &self.oggetto {
            text_element(&mut out, 2, "oggetto", oggetto);
        }
        out.push_str("    </intestazione>\n");

        out.push_str("    <dati>\n");
        text_element(&mut out, 2, "gestore-emittente", &self.gestore_emittente);
        let (giorno, ora, zona) = data_fields(&self.data);
        out.push_str("        <data zona=\"");
        out.push_str(&zona);
        out.push_str("\">\n");
        text_element(&mut out, 3, "giorno", &giorno);
        text_element(&mut out, 3, "ora", &ora);
        out.push_str("        </data>\n");
        text_element(&mut out, 2, "identificativo", &self.identificativo);
        if let Some(msgid) = &self.msgid {
            text_element(&mut out, 2, "msgid", msgid);
        }
        if let Some(ricevuta) = self.ricevuta {
            out.push_str("        <ricevuta tipo=\"");
            out.push_str(ricevuta.as_str());
            out.push_str("\" />\n");
        }
        if let Some(consegna) = &self.consegna {
            text_element(&mut out, 2, "consegna", consegna);
        }
        for ricezione in &self.ricezione {
            text_element(&mut out, 2, "ricezione", ricezione);
        }
        if let Some(errore_esteso) = &self.errore_esteso {
            text_element(&mut out, 2, "errore-esteso", errore_esteso);
        }
        out.push_str("    </dati>\n");
        out.push_str("</postacert>\n");
        out
    }

    /// Reads a `daticert.xml`, tolerantly but safely.
    ///
    /// Tolerated: a UTF-8 BOM, an XML declaration or none, CRLF, any whitespace or
    /// indentation, comments and processing instructions, a DOCTYPE (skipped, never
    /// processed), elements in any order, unknown elements anywhere (skipped with everything
    /// inside them) and unknown attributes, missing optional elements, single-digit day,
    /// month, hour, minute or second, and `zona` written `+hh:mm`.
    ///
    /// Defaults: a missing `errore` attribute is `nessuno` and a missing `destinatari/@tipo`
    /// is `certificato` (the DTD defaults); a missing `risposte` element is taken to be the
    /// `mittente` (what providers write when the original had no `Reply-To:`); no
    /// `destinatari` gives an empty list.
    ///
    /// Text is the element's character data with entity and character references expanded,
    /// CDATA included, comments dropped, line ends normalised to LF, then trimmed of leading
    /// and trailing XML whitespace (space, tab, CR, LF); characters XML 1.0 forbids become
    /// U+FFFD.
    ///
    /// Rejected: input over [`Daticert::MAX_INPUT`] bytes or nested deeper than
    /// [`Daticert::MAX_DEPTH`]; non-UTF-8 input; anything not well-formed; a root other than
    /// `postacert`; a missing `tipo`, `mittente`, `gestore-emittente`, `data` (with `zona`,
    /// `giorno` and `ora`) or `identificativo`; an enumerated attribute outside the DTD's
    /// values; a repeated single-valued element; a reference to any entity other than the
    /// five predefined ones (entities declared in a DOCTYPE, internal or external, are never
    /// expanded or fetched, so `&xxe;` is an error rather than silently empty or literal text).
    ///
    /// Never panics, whatever the input.
    pub fn from_xml(xml: &[u8]) -> Result<Daticert, DaticertError> {
        if xml.len() > Self::MAX_INPUT {
            return Err(DaticertError::TooLarge {
                size: xml.len(),
                limit: Self::MAX_INPUT,
            });
        }
        let text = std::str::from_utf8(xml).map_err(|e| DaticertError::NotUtf8 {
            position: e.valid_up_to(),
        })?;
        Parser::default().run(text)?.build()
    }
}

/// Appends `level` indentation steps of four spaces.
fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("    ");
    }
}

/// Appends `<name>text</name>` on its own indented line.
fn text_element(out: &mut String, level: usize, name: &str, text: &str) {
    indent(out, level);
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_escaped(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push_str(">\n");
}

/// Appends `text` escaped for element content or a quoted attribute value.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push(char::REPLACEMENT_CHARACTER),
        }
    }
}

/// XML 1.0 `Char` production (surrogates cannot occur in a Rust `char`).
fn is_xml_char(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..
    )
}

/// Appends `text` with every character XML 1.0 forbids replaced by U+FFFD.
fn push_sanitized(out: &mut String, text: &str) {
    out.extend(text.chars().map(|c| {
        if is_xml_char(c) {
            c
        } else {
            char::REPLACEMENT_CHARACTER
        }
    }));
}

/// Whether `name` is an XML `Name` (exactly for ASCII; any non-ASCII character is accepted).
fn is_xml_name(name: &[u8]) -> bool {
    let Some((&first, rest)) = name.split_first() else {
        return false;
    };
    let start = |b: u8| b.is_ascii_alphabetic() || b == b'_' || b == b':' || !b.is_ascii();
    start(first)
        && rest
            .iter()
            .all(|&b| start(b) || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// Trims XML whitespace (not Unicode whitespace: a no-break space is content).
fn trim_xml(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// `giorno`, `ora` and `zona` for `data`.
fn data_fields(data: &Zoned) -> (String, String, String) {
    let seconds = data.offset().seconds();
    let whole_minutes = seconds - seconds % 60;
    let local = if whole_minutes == seconds {
        data.datetime()
    } else {
        let offset = Offset::from_seconds(whole_minutes).unwrap_or(Offset::UTC);
        data.timestamp()
            .to_zoned(TimeZone::fixed(offset))
            .datetime()
    };
    let giorno = format!(
        "{:02}/{:02}/{:04}",
        local.day(),
        local.month(),
        local.year()
    );
    let ora = format!(
        "{:02}:{:02}:{:02}",
        local.hour(),
        local.minute(),
        local.second()
    );
    let sign = if whole_minutes < 0 { '-' } else { '+' };
    let minutes = whole_minutes.unsigned_abs() / 60;
    let zona = format!("{sign}{:02}{:02}", minutes / 60, minutes % 60);
    (giorno, ora, zona)
}

/// Parses a number of one or two ASCII digits.
fn small_number(s: &str) -> Option<i8> {
    if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `dd/mm/yyyy` (single-digit day and month tolerated).
fn parse_giorno(value: &str) -> Result<Date, DaticertError> {
    let invalid = || DaticertError::InvalidGiorno {
        value: value.to_owned(),
    };
    let mut parts = value.split('/');
    let (Some(d), Some(m), Some(y), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    if y.len() != 4 || !y.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let year: i16 = y.parse().map_err(|_| invalid())?;
    let month = small_number(m).ok_or_else(invalid)?;
    let day = small_number(d).ok_or_else(invalid)?;
    Date::new(year, month, day).map_err(|_| invalid())
}

/// `hh:mm:ss` (single digits tolerated).
fn parse_ora(value: &str) -> Result<Time, DaticertError> {
    let invalid = || DaticertError::InvalidOra {
        value: value.to_owned(),
    };
    let mut parts = value.split(':');
    let (Some(h), Some(m), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let hour = small_number(h).ok_or_else(invalid)?;
    let minute = small_number(m).ok_or_else(invalid)?;
    let second = small_number(s).ok_or_else(invalid)?;
    Time::new(hour, minute, second, 0).map_err(|_| invalid())
}

/// `[+|-]hhmm`, also tolerated as `[+|-]hh:mm`.
fn parse_zona(value: &str) -> Result<Offset, DaticertError> {
    let invalid = || DaticertError::InvalidZona {
        value: value.to_owned(),
    };
    let (sign, rest) = match value.as_bytes().first() {
        Some(b'+') => (1, &value[1..]),
        Some(b'-') => (-1, &value[1..]),
        _ => return Err(invalid()),
    };
    let digits: String = match rest.len() {
        4 => rest.to_owned(),
        5 if rest.as_bytes().get(2) == Some(&b':') => rest.replace(':', ""),
        _ => return Err(invalid()),
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let hours: i32 = digits[..2].parse().map_err(|_| invalid())?;
    let minutes: i32 = digits[2..].parse().map_err(|_| invalid())?;
    if minutes >= 60 {
        return Err(invalid());
    }
    Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).map_err(|_| invalid())
}

/// A text-only element the reader keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Mittente,
    Destinatari(TipoDestinatario),
    Risposte,
    Oggetto,
    GestoreEmittente,
    Giorno,
    Ora,
    Identificativo,
    Msgid,
    Consegna,
    Ricezione,
    ErroreEsteso,
}

impl Field {
    /// The element name.
    fn name(self) -> &'static str {
        match self {
            Field::Mittente => "mittente",
            Field::Destinatari(_) => "destinatari",
            Field::Risposte => "risposte",
            Field::Oggetto => "oggetto",
            Field::GestoreEmittente => "gestore-emittente",
            Field::Giorno => "giorno",
            Field::Ora => "ora",
            Field::Identificativo => "identificativo",
            Field::Msgid => "msgid",
            Field::Consegna => "consegna",
            Field::Ricezione => "ricezione",
            Field::ErroreEsteso => "errore-esteso",
        }
    }
}

/// What an open element is, for the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Postacert,
    Intestazione,
    Dati,
    Data,
    Leaf(Field),
    /// Unknown, or known but without text we keep (`ricevuta`): its content is skipped.
    Skipped,
}

/// Reader state: the open elements and everything collected so far.
#[derive(Default)]
struct Parser {
    /// Byte offset where the event being handled starts.
    position: u64,
    stack: Vec<Node>,
    root_seen: bool,
    /// Character data of the innermost open leaf.
    text: String,
    seen_intestazione: bool,
    seen_dati: bool,
    seen_data: bool,
    tipo: Option<TipoDaticert>,
    errore: Errore,
    mittente: Option<String>,
    destinatari: Vec<Destinatario>,
    risposte: Option<String>,
    oggetto: Option<String>,
    gestore_emittente: Option<String>,
    zona: Option<String>,
    giorno: Option<String>,
    ora: Option<String>,
    identificativo: Option<String>,
    msgid: Option<String>,
    ricevuta: Option<TipoRicevuta>,
    consegna: Option<String>,
    ricezione: Vec<String>,
    errore_esteso: Option<String>,
}

/// A well-formedness error at `position`.
fn not_well_formed(position: u64, message: impl fmt::Display) -> DaticertError {
    DaticertError::NotWellFormed {
        position,
        message: message.to_string(),
    }
}

/// Stores a single-valued field, refusing a second occurrence.
fn set_once(
    slot: &mut Option<String>,
    value: String,
    element: &'static str,
) -> Result<(), DaticertError> {
    if slot.is_some() {
        return Err(DaticertError::DuplicateElement { element });
    }
    *slot = Some(value);
    Ok(())
}

/// Marks a container as seen, refusing a second occurrence.
fn first_time(seen: &mut bool, element: &'static str) -> Result<(), DaticertError> {
    if *seen {
        return Err(DaticertError::DuplicateElement { element });
    }
    *seen = true;
    Ok(())
}

/// Reads attribute `name` of `element` (checking the syntax of all its attributes).
fn attribute(
    reader: &Reader<&[u8]>,
    position: u64,
    start: &BytesStart<'_>,
    element: &'static str,
    name: &'static str,
) -> Result<Option<String>, DaticertError> {
    let mut found = None;
    for attr in start.attributes() {
        let attr =
            attr.map_err(|e| not_well_formed(position, format_args!("in <{element}>: {e}")))?;
        if attr.key.as_ref() == name.as_bytes() {
            let value = attr
                .decode_and_unescape_value_with(
                    reader.decoder(),
                    quick_xml::escape::resolve_xml_entity,
                )
                .map_err(|_| DaticertError::InvalidAttribute {
                    element,
                    attribute: name,
                    value: String::from_utf8_lossy(&attr.value).into_owned(),
                })?;
            found = Some(value.into_owned());
        }
    }
    Ok(found)
}

/// Reads an enumerated attribute, `None` when absent.
fn enum_attribute<T: FromStr>(
    reader: &Reader<&[u8]>,
    position: u64,
    start: &BytesStart<'_>,
    element: &'static str,
    name: &'static str,
) -> Result<Option<T>, DaticertError> {
    match attribute(reader, position, start, element, name)? {
        None => Ok(None),
        Some(value) => match value.parse() {
            Ok(parsed) => Ok(Some(parsed)),
            Err(_) => Err(DaticertError::InvalidAttribute {
                element,
                attribute: name,
                value,
            }),
        },
    }
}

/// Checks the syntax of all of an element's attributes (unknown ones included).
fn check_attributes(position: u64, start: &BytesStart<'_>) -> Result<(), DaticertError> {
    for attr in start.attributes() {
        attr.map_err(|e| not_well_formed(position, e))?;
    }
    Ok(())
}

/// Resolves `&name;` in the text of `element`: predefined entities and character references.
fn resolve_reference(
    reference: &BytesRef<'_>,
    element: &'static str,
) -> Result<char, DaticertError> {
    let name = String::from_utf8_lossy(reference);
    let Some(number) = name.strip_prefix('#') else {
        return quick_xml::escape::resolve_xml_entity(&name)
            .and_then(|s| s.chars().next())
            .ok_or_else(|| DaticertError::UnknownEntity {
                name: name.to_string(),
                element,
            });
    };
    let (digits, radix) = match number.strip_prefix('x') {
        Some(hex) => (hex, 16),
        None => (number, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(DaticertError::InvalidCharRef {
            reference: name.into_owned(),
            element,
        });
    }
    // Well-formed syntax; a value out of range or not an XML character becomes U+FFFD.
    Ok(u32::from_str_radix(digits, radix)
        .ok()
        .and_then(char::from_u32)
        .filter(|&c| is_xml_char(c))
        .unwrap_or(char::REPLACEMENT_CHARACTER))
}

impl Parser {
    /// Runs the reader over the whole document.
    fn run(mut self, xml: &str) -> Result<Self, DaticertError> {
        let mut reader = Reader::from_str(xml);
        loop {
            self.position = reader.buffer_position();
            let event = reader
                .read_event()
                .map_err(|e| not_well_formed(reader.error_position(), e))?;
            match event {
                Event::Start(start) => {
                    let node = self.open(&reader, &start)?;
                    self.stack.push(node);
                }
                Event::Empty(start) => {
                    let node = self.open(&reader, &start)?;
                    self.close(node)?;
                }
                Event::End(_) => {
                    // quick-xml has already checked that the name matches the open element.
                    if let Some(node) = self.stack.pop() {
                        self.close(node)?;
                    }
                }
                Event::Text(text) => {
                    let content = text
                        .xml10_content()
                        .map_err(|e| not_well_formed(self.position, e))?;
                    self.text_data(&content)?;
                }
                Event::CData(cdata) => {
                    let content = cdata
                        .xml10_content()
                        .map_err(|e| not_well_formed(self.position, e))?;
                    if self.stack.is_empty() {
                        return Err(not_well_formed(
                            self.position,
                            "CDATA outside the root element",
                        ));
                    }
                    self.text_data(&content)?;
                }
                Event::GeneralRef(reference) => match self.stack.last() {
                    Some(Node::Leaf(field)) => {
                        let c = resolve_reference(&reference, field.name())?;
                        self.text.push(c);
                    }
                    Some(_) => {}
                    None => {
                        return Err(not_well_formed(
                            self.position,
                            "reference outside the root element",
                        ));
                    }
                },
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
                Event::Eof => break,
            }
        }
        // Open elements at the end: name the innermost one we know (the root always is).
        let innermost = self.stack.iter().rev().find_map(|node| match node {
            Node::Postacert => Some("postacert"),
            Node::Intestazione => Some("intestazione"),
            Node::Dati => Some("dati"),
            Node::Data => Some("data"),
            Node::Leaf(field) => Some(field.name()),
            Node::Skipped => None,
        });
        if let Some(element) = innermost {
            return Err(DaticertError::Truncated {
                element: element.to_owned(),
            });
        }
        if !self.root_seen {
            return Err(DaticertError::NoRoot);
        }
        Ok(self)
    }

    /// Handles character data (already line-end normalised).
    fn text_data(&mut self, content: &str) -> Result<(), DaticertError> {
        match self.stack.last() {
            Some(Node::Leaf(_)) => push_sanitized(&mut self.text, content),
            Some(_) => {}
            None if trim_xml(content).is_empty() => {}
            None => {
                return Err(not_well_formed(
                    self.position,
                    "text outside the root element",
                ));
            }
        }
        Ok(())
    }

    /// Handles a start tag: decides what the element is and reads its attributes.
    fn open(
        &mut self,
        reader: &Reader<&[u8]>,
        start: &BytesStart<'_>,
    ) -> Result<Node, DaticertError> {
        if self.stack.len() >= Daticert::MAX_DEPTH {
            return Err(DaticertError::TooDeep {
                limit: Daticert::MAX_DEPTH,
                position: self.position,
            });
        }
        let name = start.name();
        let name = name.as_ref();
        if !is_xml_name(name) {
            return Err(not_well_formed(
                self.position,
                format_args!("invalid element name {:?}", String::from_utf8_lossy(name)),
            ));
        }
        let node = match self.stack.last() {
            None => {
                if self.root_seen {
                    return Err(not_well_formed(
                        self.position,
                        "a second element after the root element",
                    ));
                }
                self.root_seen = true;
                if name != b"postacert" {
                    return Err(DaticertError::WrongRoot {
                        found: String::from_utf8_lossy(name).into_owned(),
                    });
                }
                self.tipo = enum_attribute(reader, self.position, start, "postacert", "tipo")?;
                if self.tipo.is_none() {
                    return Err(DaticertError::MissingAttribute {
                        element: "postacert",
                        attribute: "tipo",
                    });
                }
                self.errore = enum_attribute(reader, self.position, start, "postacert", "errore")?
                    .unwrap_or_default();
                return Ok(Node::Postacert);
            }
            Some(Node::Postacert) => match name {
                b"intestazione" => {
                    first_time(&mut self.seen_intestazione, "intestazione")?;
                    Node::Intestazione
                }
                b"dati" => {
                    first_time(&mut self.seen_dati, "dati")?;
                    Node::Dati
                }
                _ => Node::Skipped,
            },
            Some(Node::Intestazione) => match name {
                b"mittente" => Node::Leaf(Field::Mittente),
                b"destinatari" => {
                    let tipo = enum_attribute(reader, self.position, start, "destinatari", "tipo")?;
                    Node::Leaf(Field::Destinatari(tipo.unwrap_or_default()))
                }
                b"risposte" => Node::Leaf(Field::Risposte),
                b"oggetto" => Node::Leaf(Field::Oggetto),
                _ => Node::Skipped,
            },
            Some(Node::Dati) => match name {
                b"gestore-emittente" => Node::Leaf(Field::GestoreEmittente),
                b"data" => {
                    first_time(&mut self.seen_data, "data")?;
                    self.zona = attribute(reader, self.position, start, "data", "zona")?;
                    if self.zona.is_none() {
                        return Err(DaticertError::MissingAttribute {
                            element: "data",
                            attribute: "zona",
                        });
                    }
                    Node::Data
                }
                b"identificativo" => Node::Leaf(Field::Identificativo),
                b"msgid" => Node::Leaf(Field::Msgid),
                b"ricevuta" => {
                    if self.ricevuta.is_some() {
                        return Err(DaticertError::DuplicateElement {
                            element: "ricevuta",
                        });
                    }
                    self.ricevuta =
                        enum_attribute(reader, self.position, start, "ricevuta", "tipo")?;
                    if self.ricevuta.is_none() {
                        return Err(DaticertError::MissingAttribute {
                            element: "ricevuta",
                            attribute: "tipo",
                        });
                    }
                    Node::Skipped
                }
                b"consegna" => Node::Leaf(Field::Consegna),
                b"ricezione" => Node::Leaf(Field::Ricezione),
                b"errore-esteso" => Node::Leaf(Field::ErroreEsteso),
                _ => Node::Skipped,
            },
            Some(Node::Data) => match name {
                b"giorno" => Node::Leaf(Field::Giorno),
                b"ora" => Node::Leaf(Field::Ora),
                _ => Node::Skipped,
            },
            Some(Node::Leaf(_) | Node::Skipped) => Node::Skipped,
        };
        check_attributes(self.position, start)?;
        if matches!(node, Node::Leaf(_)) {
            self.text.clear();
        }
        Ok(node)
    }

    /// Handles the end of an element: stores a leaf's text.
    fn close(&mut self, node: Node) -> Result<(), DaticertError> {
        let Node::Leaf(field) = node else {
            return Ok(());
        };
        let value = trim_xml(&self.text).to_owned();
        self.text.clear();
        let element = field.name();
        match field {
            Field::Mittente => set_once(&mut self.mittente, value, element),
            Field::Destinatari(tipo) => {
                self.destinatari.push(Destinatario {
                    indirizzo: value,
                    tipo,
                });
                Ok(())
            }
            Field::Risposte => set_once(&mut self.risposte, value, element),
            Field::Oggetto => set_once(&mut self.oggetto, value, element),
            Field::GestoreEmittente => set_once(&mut self.gestore_emittente, value, element),
            Field::Giorno => set_once(&mut self.giorno, value, element),
            Field::Ora => set_once(&mut self.ora, value, element),
            Field::Identificativo => set_once(&mut self.identificativo, value, element),
            Field::Msgid => set_once(&mut self.msgid, value, element),
            Field::Consegna => set_once(&mut self.consegna, value, element),
            Field::Ricezione => {
                self.ricezione.push(value);
                Ok(())
            }
            Field::ErroreEsteso => set_once(&mut self.errore_esteso, value, element),
        }
    }

    /// Checks required items and assembles the result.
    fn build(self) -> Result<Daticert, DaticertError> {
        let missing = |element| DaticertError::MissingElement { element };
        let tipo = self.tipo.ok_or(DaticertError::MissingAttribute {
            element: "postacert",
            attribute: "tipo",
        })?;
        let mittente = self.mittente.ok_or_else(|| missing("mittente"))?;
        let gestore_emittente = self
            .gestore_emittente
            .ok_or_else(|| missing("gestore-emittente"))?;
        if !self.seen_data {
            return Err(missing("data"));
        }
        let zona = self.zona.ok_or(DaticertError::MissingAttribute {
            element: "data",
            attribute: "zona",
        })?;
        let giorno = self.giorno.ok_or_else(|| missing("giorno"))?;
        let ora = self.ora.ok_or_else(|| missing("ora"))?;
        let identificativo = self
            .identificativo
            .ok_or_else(|| missing("identificativo"))?;

        let offset = parse_zona(trim_xml(&zona))?;
        let date = parse_giorno(&giorno)?;
        let time = parse_ora(&ora)?;
        let data = DateTime::from_parts(date, time)
            .to_zoned(TimeZone::fixed(offset))
            .map_err(|source| DaticertError::InvalidData {
                giorno: giorno.clone(),
                ora: ora.clone(),
                zona: zona.clone(),
                source,
            })?;

        Ok(Daticert {
            tipo,
            errore: self.errore,
            risposte: self.risposte.unwrap_or_else(|| mittente.clone()),
            mittente,
            destinatari: self.destinatari,
            oggetto: self.oggetto,
            gestore_emittente,
            data,
            identificativo,
            msgid: self.msgid,
            ricevuta: self.ricevuta,
            consegna: self.consegna,
            ricezione: self.ricezione,
            errore_esteso: self.errore_esteso,
        })
    }
}
