//! The human-readable part (spec §2.5, §2.6): the same Italian text as `text/plain` and as
//! `text/html`, in ISO-8859-1. People read it; machines never do (they read daticert.xml).
//!
//! Characters outside Latin-1 (a Cyrillic subject, an emoji) cannot be written in the
//! declared charset: the HTML keeps them as numeric character references, the plain text
//! shows `?`. The HTML references no resource and has no active content.

use jiff::Zoned;

use crate::daticert::{TipoDestinatario, TipoRicevuta};
use crate::kind::{Kind, Scadenza};
use crate::transazione::Transazione;

/// What a text says beyond the transaction itself.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Dettagli<'a> {
    /// The single recipient a receipt or avviso is about.
    pub destinatario: Option<&'a str>,
    /// The recipients a presa in carico covers.
    pub ricezione: &'a [String],
    /// The error, the virus name, or why an anomalia was not certified.
    pub motivo: Option<&'a str>,
}

enum Blocco {
    Riga(String),
    Elenco(Vec<String>),
}

/// `dd/mm/yyyy`, `hh:mm:ss` and `+hhmm` of an instant, as receipts write them (spec §8.2).
pub(crate) fn giorno_ora_zona(at: &Zoned) -> (String, String, String) {
    (
        at.strftime("%d/%m/%Y").to_string(),
        at.strftime("%H:%M:%S").to_string(),
        at.strftime("%z").to_string(),
    )
}

fn quando(at: &Zoned) -> String {
    let (g, o, z) = giorno_ora_zona(at);
    format!("Il giorno {g} alle ore {o} ({z})")
}

fn destinatari(t: &Transazione, etichette: bool) -> Vec<String> {
    t.destinatari
        .iter()
        .map(|d| match (etichette, d.tipo) {
            (false, _) => d.indirizzo.clone(),
            (true, TipoDestinatario::Certificato) => {
                format!("{} (\"posta certificata\")", d.indirizzo)
            }
            (true, TipoDestinatario::Esterno) => format!("{} (\"posta ordinaria\")", d.indirizzo),
        })
        .collect()
}

fn blocchi(kind: Kind, t: &Transazione, at: &Zoned, d: &Dettagli) -> Vec<Blocco> {
    use Blocco::{Elenco, Riga};
    let quando = quando(at);
    let oggetto = &t.oggetto;
    let mittente = &t.mittente;
    let dest = d.destinatario.unwrap_or("");
    let motivo = d.motivo.unwrap_or("errore non specificato");
    let intro = format!("{quando} il messaggio \"{oggetto}\" proveniente da \"{mittente}\"");
    let mut b = match kind {
        Kind::Accettazione => vec![
            Riga(intro),
            Riga("ed indirizzato a:".into()),
            Elenco(destinatari(t, true)),
            Riga("è stato accettato dal sistema ed inoltrato.".into()),
        ],
        Kind::NonAccettazione => vec![
            Riga(intro),
            Riga("ed indirizzato a:".into()),
            Elenco(destinatari(t, false)),
            Riga(format!("non può essere accettato a causa del seguente problema: {motivo}")),
            Riga("Il messaggio non è stato accettato.".into()),
        ],
        Kind::NonAccettazioneVirus => vec![
            Riga(intro),
            Riga("ed indirizzato a:".into()),
            Elenco(destinatari(t, false)),
            Riga(format!(
                "contiene un problema di sicurezza: è stato rilevato il contenuto \"{motivo}\"."
            )),
            Riga("Il messaggio non è stato accettato.".into()),
        ],
        Kind::PostaCertificata => vec![
            Riga(format!("{quando} il messaggio \"{oggetto}\" è stato inviato da \"{mittente}\"")),
            Riga("indirizzato a:".into()),
            Elenco(destinatari(t, false)),
            Riga("Il messaggio originale è incluso in allegato.".into()),
        ],
        Kind::PresaInCarico => vec![
            Riga(intro),
            Riga("ed indirizzato a:".into()),
            Elenco(destinatari(t, false)),
            Riga("è stato accettato dal sistema e preso in carico per i destinatari:".into()),
            Elenco(d.ricezione.to_vec()),
        ],
        Kind::Anomalia => vec![
            Riga(format!(
                "{quando} è stato ricevuto il messaggio \"{oggetto}\" proveniente da \"{mittente}\""
            )),
            Riga("ed indirizzato a:".into()),
            Elenco(destinatari(t, false)),
            Riga(format!(
                "Tali dati non sono stati certificati per il seguente errore: {motivo}"
            )),
            Riga("Il messaggio originale è incluso in allegato.".into()),
        ],
        Kind::RilevazioneVirus => vec![
            Riga(format!("{intro} e destinato a \"{dest}\"")),
            Riga(format!(
                "contiene un problema di sicurezza: è stato rilevato il contenuto \"{motivo}\"."
            )),
            Riga("Per questo motivo non è stato possibile completare la trasmissione verso il destinatario: il messaggio non è stato consegnato.".into()),
        ],
        Kind::AvvenutaConsegna(_) => vec![
            Riga(format!("{intro} ed indirizzato a \"{dest}\"")),
            Riga("è stato consegnato nella casella di destinazione.".into()),
        ],
        Kind::ErroreConsegna => vec![
            Riga(format!(
                "{quando} nel messaggio \"{oggetto}\" proveniente da \"{mittente}\" ed indirizzato a \"{dest}\""
            )),
            Riga(format!("è stato rilevato il seguente errore: {motivo}")),
            Riga("Il messaggio è stato rifiutato dal sistema.".into()),
        ],
        Kind::ErroreConsegnaVirus => vec![
            Riga(format!("{intro} ed indirizzato a \"{dest}\"")),
            Riga(format!(
                "non è stato consegnato: il gestore del destinatario ha rilevato un problema di sicurezza, il contenuto \"{motivo}\"."
            )),
        ],
        Kind::PreavvisoErroreConsegna(Scadenza::Ore12) => vec![
            Riga(format!("{intro} ed indirizzato a \"{dest}\"")),
            Riga("non è stato consegnato nelle prime 12 ore dal suo invio.".into()),
            Riga("La consegna è ancora possibile, ma potrebbe non andare a buon fine: se entro le prossime 12 ore non arriverà conferma, seguirà un ulteriore avviso.".into()),
        ],
        Kind::PreavvisoErroreConsegna(_) => vec![
            Riga(format!("{intro} ed indirizzato a \"{dest}\"")),
            Riga("non è stato consegnato entro 24 ore dal suo invio.".into()),
            Riga("La trasmissione si considera conclusa con esito negativo.".into()),
        ],
    };
    if let Kind::AvvenutaConsegna(TipoRicevuta::Breve) = kind {
        b.push(Riga("Gli allegati del messaggio originale sono sostituiti dalla loro impronta (file .hash).".into()));
    }
    b.push(Riga(format!(
        "Identificativo messaggio: {}",
        t.identificativo
    )));
    if kind.tipo_daticert().is_some() {
        b.push(Riga(
            "L'allegato daticert.xml contiene informazioni di servizio sulla trasmissione.".into(),
        ));
    }
    b
}

/// The text/plain body, Latin-1 encoded.
pub(crate) fn plain(kind: Kind, t: &Transazione, at: &Zoned, d: &Dettagli) -> Vec<u8> {
    let mut s = String::new();
    s.push_str(kind.titolo());
    s.push_str("\r\n\r\n");
    for blocco in blocchi(kind, t, at, d) {
        match blocco {
            Blocco::Riga(r) => {
                s.push_str(&clean(&r));
                s.push_str("\r\n");
            }
            Blocco::Elenco(items) => {
                for i in items {
                    s.push_str("  ");
                    s.push_str(&clean(&i));
                    s.push_str("\r\n");
                }
            }
        }
    }
    latin1(&s)
}

/// `s` in ISO-8859-1, the charset of the text part (spec §2.5). A character Latin-1 lacks
/// (a typographic dash or quote, `€`, a letter of another script) is transliterated to ASCII
/// (`–` to `-`, `“` to `"`, `€` to `EUR`) rather than lost as `?`.
fn latin1(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => out.push(b),
            Err(_) => match deunicode::deunicode_char(c) {
                Some(ascii) if !ascii.is_empty() => out.extend_from_slice(ascii.as_bytes()),
                _ => out.push(b'?'),
            },
        }
    }
    out
}

/// The text/html body, Latin-1 encoded, everything else as character references.
pub(crate) fn html(kind: Kind, t: &Transazione, at: &Zoned, d: &Dettagli) -> Vec<u8> {
    let titolo = escape(kind.titolo());
    let mut s = format!(
        "<!DOCTYPE html>\r\n<html lang=\"it\">\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\">\r\n<title>{titolo}</title>\r\n</head>\r\n<body>\r\n<h1>{titolo}</h1>\r\n<p>\r\n"
    );
    for blocco in blocchi(kind, t, at, d) {
        match blocco {
            Blocco::Riga(r) => {
                s.push_str(&escape(&r));
                s.push_str("<br>\r\n");
            }
            Blocco::Elenco(items) => {
                s.push_str("</p>\r\n<ul>\r\n");
                for i in items {
                    s.push_str(&format!("<li>{}</li>\r\n", escape(&i)));
                }
                s.push_str("</ul>\r\n<p>\r\n");
            }
        }
    }
    s.push_str("</p>\r\n</body>\r\n</html>\r\n");
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => out.push(b),
            Err(_) => out.extend_from_slice(format!("&#{};", u32::from(c)).as_bytes()),
        }
    }
    out
}

/// User-controlled text (subjects, addresses) must not break lines or inject controls.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::latin1;

    #[test]
    fn characters_latin1_lacks_are_transliterated_not_lost() {
        assert_eq!(
            latin1("n° 42 – “urgente” € 10 … è"),
            b"n\xb0 42 - \"urgente\" EUR 10 ... \xe8"
        );
        // A control character never reaches here (see `clean`); a character with no
        // transliteration at all still becomes `?`.
        assert_eq!(latin1("\u{E000}"), b"?");
    }
}
