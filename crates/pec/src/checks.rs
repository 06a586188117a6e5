//! The formal checks of the punto di accesso (spec §4.1, RFC 6109 §3.1.1). Each failure is a
//! typed [`Rifiuto`] whose text becomes the `errore-esteso` of the avviso di non
//! accettazione; a message that passes yields what the access point certifies.

use mail_parser::{Addr, Address, HeaderName, Message, MessageParser};

use crate::daticert::TipoRicevuta;
use crate::mime;

/// The SMTP envelope of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
}

/// The provider's size and recipient limits (spec §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limiti {
    /// Largest message, in bytes.
    pub max_dimensione: u64,
    /// Largest size × number of recipients, in bytes.
    pub max_dimensione_totale: u64,
    /// Most recipients in one message.
    pub max_destinatari: usize,
}

impl Limiti {
    /// The legal floor (DM 2/11/2005 art. 12): a provider must accept at least 50 recipients
    /// and size × recipients up to 30 MB.
    pub const MINIMO_LEGALE: Limiti = Limiti {
        max_dimensione: 30 * 1000 * 1000,
        max_dimensione_totale: 30 * 1000 * 1000,
        max_destinatari: 50,
    };

    /// Whether these limits honour the legal floor.
    pub fn rispetta_minimo_legale(&self) -> bool {
        let m = Limiti::MINIMO_LEGALE;
        self.max_dimensione >= m.max_dimensione
            && self.max_dimensione_totale >= m.max_dimensione_totale
            && self.max_destinatari >= m.max_destinatari
    }
}

impl Default for Limiti {
    /// 100 MB counted as size × recipients, 500 recipients.
    fn default() -> Limiti {
        Limiti {
            max_dimensione: 100 * 1000 * 1000,
            max_dimensione_totale: 100 * 1000 * 1000,
            max_destinatari: 500,
        }
    }
}

/// One failed formal check. `Display` gives the Italian text used as `errore-esteso`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rifiuto {
    #[error("il messaggio non è sintatticamente conforme allo standard RFC 5322: {0}")]
    NonConforme(String),
    #[error("il campo From è assente")]
    FromAssente,
    #[error("il campo From deve contenere un solo indirizzo valido (trovato: {0})")]
    FromNonValido(String),
    #[error("il campo To è assente o non contiene indirizzi")]
    ToAssente,
    #[error("indirizzo destinatario non valido: {0}")]
    DestinatarioNonValido(String),
    #[error("il mittente della busta SMTP ({mail_from}) non corrisponde al campo From ({from})")]
    MittenteDiverso { mail_from: String, from: String },
    #[error("il destinatario {0} non compare nei campi To o Cc")]
    DestinatarioNascosto(String),
    #[error("il campo Bcc non deve contenere indirizzi")]
    BccPresente,
    #[error(
        "il messaggio supera la dimensione massima consentita ({dimensione} byte, massimo {massimo})"
    )]
    TroppoGrande { dimensione: u64, massimo: u64 },
    #[error(
        "la dimensione del messaggio moltiplicata per il numero di destinatari supera il massimo consentito ({totale} byte, massimo {massimo})"
    )]
    TroppoGrandePerDestinatari { totale: u64, massimo: u64 },
    #[error("il messaggio ha troppi destinatari ({numero}, massimo {massimo})")]
    TroppiDestinatari { numero: usize, massimo: usize },
}

impl Rifiuto {
    /// The `errore-esteso` for a list of failures (all are reported, one per line).
    pub fn errore_esteso(rifiuti: &[Rifiuto]) -> String {
        rifiuti
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A recipient of the original, as its headers name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub indirizzo: String,
    /// Only in `Cc:` (gets the sintetica receipt).
    pub cc: bool,
}

/// What a message that passed the checks certifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accettabile {
    pub mittente: String,
    pub destinatari: Vec<Recipient>,
    pub risposte: String,
    pub oggetto: String,
    pub msgid: Option<String>,
    pub ricevuta: TipoRicevuta,
}

/// Runs every formal check on a submitted message; all failures are returned, not just the
/// first, so the avviso can list them.
pub fn verifica(raw: &[u8], env: &Envelope, limiti: &Limiti) -> Result<Accettabile, Vec<Rifiuto>> {
    let mut rifiuti = Vec::new();
    let size = raw.len() as u64;
    let n = env.rcpt_to.len();
    if size > limiti.max_dimensione {
        rifiuti.push(Rifiuto::TroppoGrande {
            dimensione: size,
            massimo: limiti.max_dimensione,
        });
    }
    let totale = size.saturating_mul(n as u64);
    if totale > limiti.max_dimensione_totale {
        rifiuti.push(Rifiuto::TroppoGrandePerDestinatari {
            totale,
            massimo: limiti.max_dimensione_totale,
        });
    }
    if n > limiti.max_destinatari {
        rifiuti.push(Rifiuto::TroppiDestinatari {
            numero: n,
            massimo: limiti.max_destinatari,
        });
    }
    if let Err(e) = sintassi(raw) {
        rifiuti.push(Rifiuto::NonConforme(e));
        return Err(rifiuti);
    }
    let Some(msg) = MessageParser::default().parse(raw) else {
        rifiuti.push(Rifiuto::NonConforme("intestazioni illeggibili".into()));
        return Err(rifiuti);
    };

    let from = match msg.header(HeaderName::From).map(|_| indirizzi(msg.from())) {
        None => {
            rifiuti.push(Rifiuto::FromAssente);
            None
        }
        Some(list) => match list.as_slice() {
            [one] if valido(one) => Some(one.clone()),
            _ => {
                let shown = msg
                    .header_raw(HeaderName::From)
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                rifiuti.push(Rifiuto::FromNonValido(shown));
                None
            }
        },
    };
    let to = indirizzi(msg.to());
    let cc = indirizzi(msg.cc());
    if to.is_empty() {
        rifiuti.push(Rifiuto::ToAssente);
    }
    for a in to.iter().chain(&cc).filter(|a| !valido(a)) {
        rifiuti.push(Rifiuto::DestinatarioNonValido(a.clone()));
    }
    if let Some(from) = &from
        && !stesso_indirizzo(from, &env.mail_from)
    {
        rifiuti.push(Rifiuto::MittenteDiverso {
            mail_from: env.mail_from.clone(),
            from: from.clone(),
        });
    }
    for rcpt in &env.rcpt_to {
        if !to.iter().chain(&cc).any(|a| stesso_indirizzo(a, rcpt)) {
            rifiuti.push(Rifiuto::DestinatarioNascosto(rcpt.clone()));
        }
    }
    if !indirizzi(msg.bcc()).is_empty()
        || msg
            .header_raw(HeaderName::Bcc)
            .is_some_and(|v| !v.trim().is_empty())
    {
        rifiuti.push(Rifiuto::BccPresente);
    }
    match from {
        Some(mittente) if rifiuti.is_empty() => Ok(accettabile(&msg, mittente, to, cc)),
        _ => Err(rifiuti),
    }
}

fn accettabile(msg: &Message, mittente: String, to: Vec<String>, cc: Vec<String>) -> Accettabile {
    let mut destinatari: Vec<Recipient> = Vec::new();
    for (a, is_cc) in to
        .into_iter()
        .map(|a| (a, false))
        .chain(cc.into_iter().map(|a| (a, true)))
    {
        match destinatari
            .iter_mut()
            .find(|r| stesso_indirizzo(&r.indirizzo, &a))
        {
            // In To: and Cc: both: primary (spec §3.9).
            Some(r) => r.cc &= is_cc,
            None => destinatari.push(Recipient {
                indirizzo: a,
                cc: is_cc,
            }),
        }
    }
    let risposte = indirizzi(msg.reply_to())
        .into_iter()
        .next()
        .unwrap_or_else(|| mittente.clone());
    let ricevuta = msg
        .header_raw("X-TipoRicevuta")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_default();
    Accettabile {
        mittente,
        destinatari,
        risposte,
        oggetto: msg.subject().unwrap_or_default().to_string(),
        msgid: msg.message_id().map(|m| format!("<{m}>")),
        ricevuta,
    }
}

/// RFC 5322 structure that mail-parser would silently forgive: a header block ending in a
/// blank line, every line of it a field or a continuation, no NUL, lines within 998 octets,
/// and at most one of each field RFC 5322 §3.6 allows only once.
fn sintassi(raw: &[u8]) -> Result<(), String> {
    // `header` keeps its last line end; the blank line is in neither part.
    let (header, _) = mime::split_header(raw);
    if header.len() == raw.len() {
        return Err("manca la riga vuota che separa intestazioni e corpo".into());
    }
    if raw.contains(&0) {
        return Err("il messaggio contiene caratteri NUL".into());
    }
    if raw.split(|&b| b == b'\n').any(|l| l.len() > 1000) {
        return Err("una riga supera 998 caratteri".into());
    }
    let fields = mime::fields(raw);
    let covered: usize = fields.iter().map(|f| f.raw.len()).sum();
    if covered != header.len() {
        return Err("intestazioni con righe non valide".into());
    }
    for once in [
        "From",
        "To",
        "Cc",
        "Bcc",
        "Subject",
        "Message-ID",
        "Reply-To",
        "Date",
        "Sender",
    ] {
        if fields.iter().filter(|f| f.is(once)).count() > 1 {
            return Err(format!("il campo {once} compare più volte"));
        }
    }
    Ok(())
}

/// The bare addresses of an address header, groups flattened, in order.
pub fn indirizzi(a: Option<&Address>) -> Vec<String> {
    let addrs: Vec<&Addr> = match a {
        None => Vec::new(),
        Some(Address::List(l)) => l.iter().collect(),
        Some(Address::Group(g)) => g.iter().flat_map(|g| g.addresses.iter()).collect(),
    };
    addrs
        .into_iter()
        .map(|a| a.address().unwrap_or_default().trim().to_string())
        .collect()
}

/// An addr-spec we can certify: one `@`, a local part and a dotted domain, no spaces or
/// brackets.
pub fn valido(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.is_empty()
        && domain.len() <= 255
        && domain.contains('.')
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;".contains(c))
        && domain
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'))
}

/// Two addresses are the same when local parts match exactly and domains match ignoring case
/// (spec §4.1: local-part comparison is provider policy; we are conservative).
pub fn stesso_indirizzo(a: &str, b: &str) -> bool {
    let a = a.trim().trim_start_matches('<').trim_end_matches('>');
    let b = b.trim().trim_start_matches('<').trim_end_matches('>');
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(from: &str, rcpt: &[&str]) -> Envelope {
        Envelope {
            mail_from: from.into(),
            rcpt_to: rcpt.iter().map(|s| s.to_string()).collect(),
        }
    }

    const OK: &[u8] = b"From: Mario <mario@pec.a.it>\r\nTo: b@pec.b.it\r\nCc: c@mail.c.com\r\nSubject: =?UTF-8?Q?Caff=C3=A8?=\r\nMessage-ID: <m1@client>\r\nX-TipoRicevuta: breve\r\n\r\nciao\r\n";

    #[test]
    fn good_message_passes() {
        let a = verifica(
            OK,
            &env("mario@PEC.A.IT", &["b@pec.b.it", "c@mail.c.com"]),
            &Limiti::default(),
        )
        .unwrap();
        assert_eq!(a.mittente, "mario@pec.a.it");
        assert_eq!(a.oggetto, "Caffè");
        assert_eq!(a.msgid.as_deref(), Some("<m1@client>"));
        assert_eq!(a.ricevuta, TipoRicevuta::Breve);
        assert_eq!(a.risposte, "mario@pec.a.it");
        assert_eq!(
            a.destinatari[1],
            Recipient {
                indirizzo: "c@mail.c.com".into(),
                cc: true
            }
        );
    }

    #[test]
    fn every_spec_failure_is_reported() {
        let e = verifica(
            OK,
            &env("other@pec.a.it", &["b@pec.b.it", "hidden@pec.b.it"]),
            &Limiti::default(),
        )
        .unwrap_err();
        assert!(e.contains(&Rifiuto::MittenteDiverso {
            mail_from: "other@pec.a.it".into(),
            from: "mario@pec.a.it".into()
        }));
        assert!(e.contains(&Rifiuto::DestinatarioNascosto("hidden@pec.b.it".into())));

        let bcc = b"From: a@x.it\r\nTo: b@y.it\r\nBcc: c@z.it\r\n\r\n";
        assert_eq!(
            verifica(bcc, &env("a@x.it", &["b@y.it"]), &Limiti::default()).unwrap_err(),
            vec![Rifiuto::BccPresente]
        );

        let no_to = b"From: a@x.it\r\nSubject: x\r\n\r\n";
        assert!(
            verifica(no_to, &env("a@x.it", &[]), &Limiti::default())
                .unwrap_err()
                .contains(&Rifiuto::ToAssente)
        );

        let two_from = b"From: a@x.it, b@x.it\r\nTo: b@y.it\r\n\r\n";
        assert!(matches!(
            verifica(two_from, &env("a@x.it", &["b@y.it"]), &Limiti::default()).unwrap_err()[0],
            Rifiuto::FromNonValido(_)
        ));

        let no_from = b"To: b@y.it\r\n\r\n";
        assert_eq!(
            verifica(no_from, &env("a@x.it", &["b@y.it"]), &Limiti::default()).unwrap_err(),
            vec![Rifiuto::FromAssente]
        );
    }

    #[test]
    fn limits() {
        let l = Limiti {
            max_dimensione: 50,
            max_dimensione_totale: 100,
            max_destinatari: 1,
        };
        let e = verifica(
            OK,
            &env("mario@pec.a.it", &["b@pec.b.it", "c@mail.c.com"]),
            &l,
        )
        .unwrap_err();
        assert!(matches!(e[0], Rifiuto::TroppoGrande { .. }));
        assert!(matches!(e[1], Rifiuto::TroppoGrandePerDestinatari { .. }));
        assert!(matches!(
            e[2],
            Rifiuto::TroppiDestinatari {
                numero: 2,
                massimo: 1
            }
        ));
        assert!(Limiti::default().rispetta_minimo_legale());
        assert!(!l.rispetta_minimo_legale());
    }

    #[test]
    fn syntax() {
        // Mixed line ends (a bare LF before a CRLF blank line) are still a valid header block.
        let mixed = b"From: a@x.it\nTo: b@y.it\n\r\nbody";
        assert!(verifica(mixed, &env("a@x.it", &["b@y.it"]), &Limiti::default()).is_ok());
        assert!(matches!(
            verifica(b"no blank line", &env("a@x.it", &[]), &Limiti::default()).unwrap_err()[0],
            Rifiuto::NonConforme(_)
        ));
        assert!(matches!(
            verifica(
                b"From: a@x.it\r\nnot a header\r\n\r\n",
                &env("a@x.it", &[]),
                &Limiti::default()
            )
            .unwrap_err()[0],
            Rifiuto::NonConforme(_)
        ));
        assert!(matches!(
            verifica(
                b"From: a@x.it\r\nFrom: a@x.it\r\nTo: b@y.it\r\n\r\n",
                &env("a@x.it", &["b@y.it"]),
                &Limiti::default()
            )
            .unwrap_err()[0],
            Rifiuto::NonConforme(_)
        ));
    }

    #[test]
    fn addresses() {
        assert!(valido("a.b@pec.example.it"));
        assert!(!valido("a b@x.it") && !valido("a@x") && !valido("@x.it") && !valido("a@x..it"));
        assert!(stesso_indirizzo("A@X.IT", "A@x.it"));
        assert!(!stesso_indirizzo("a@x.it", "A@x.it"));
    }
}
