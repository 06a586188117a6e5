//! What became of a PEC a box sent: the timeline the webmail shows and the REST API returns
//! (accettazione, then per recipient presa in carico, consegna or mancata consegna, the
//! 12/24-hour notices), and the evidence bundle a holder downloads to prove it.
//!
//! Two sources, merged per recipient: the receipts in the box (whose daticert says which
//! recipient each is about — the one place that survives a move between folders) and the
//! sender-side tracker, which knows the instants of events whose receipt the holder may
//! have deleted. A receipt wins over the tracker's record of the same event, since it can
//! be opened.

use std::io::Write as _;

use pec::{Kind, TipoDestinatario};
use serde::Serialize;
use store::{StoredMessage, TrackerEvent};

use crate::{Engine, EngineError, build_error};

/// The timeline of one sent PEC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cronologia {
    pub identificativo: String,
    pub oggetto: String,
    /// When the gestore accepted (or refused) it, else when the Sent copy was filed.
    pub inviato_il: i64,
    /// The copy of the message as submitted, in the box (kind `inviata`).
    pub inviata: Option<Ricevuta>,
    pub accettazione: Option<Ricevuta>,
    pub non_accettazione: Option<Ricevuta>,
    /// Empty when the message was not accepted.
    pub destinatari: Vec<StatoDestinatario>,
}

/// One recipient's side of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatoDestinatario {
    pub indirizzo: String,
    /// A PEC address (receipts will come), not an ordinary one.
    pub certificato: bool,
    /// By instant.
    pub eventi: Vec<Evento>,
    pub esito: Esito,
}

/// Something that happened to the message for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evento {
    /// The PEC kind slug (`presa-in-carico`, `avvenuta-consegna` whatever its variant,
    /// `errore-consegna`, `preavviso-errore-consegna-12h`/`-24h`, `rilevazione-virus`...).
    pub tipo: String,
    pub at: i64,
    /// The receipt that certifies it, when the box still has it.
    pub ricevuta: Option<Ricevuta>,
}

/// A message of the box that belongs to the transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ricevuta {
    pub folder: String,
    pub uid: u32,
    /// The stored kind slug (`accettazione`, `avvenuta-consegna-breve`...; `inviata` for
    /// the Sent copy).
    pub kind: String,
    /// The certified instant of its daticert (the filing instant when it has none).
    pub at: i64,
}

/// Where a recipient stands, the best news first: a consegna outweighs a timeout notice
/// that came before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Esito {
    /// An ordinary (non-PEC) address: handed on, no receipt will ever come.
    SenzaRicevute,
    /// Nothing heard yet.
    InAttesa,
    /// The recipient's gestore took charge of it.
    PresaInCarico,
    /// The 24-hour notice: no consegna in time (one may still arrive).
    Scaduta,
    /// An avviso di mancata consegna (or of a virus).
    NonConsegnata,
    Consegnata,
}

impl Esito {
    /// The name serde gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Esito::SenzaRicevute => "senza-ricevute",
            Esito::InAttesa => "in-attesa",
            Esito::PresaInCarico => "presa-in-carico",
            Esito::Scaduta => "scaduta",
            Esito::NonConsegnata => "non-consegnata",
            Esito::Consegnata => "consegnata",
        }
    }

    /// Whether more is still to come for this recipient.
    pub fn in_corso(self) -> bool {
        matches!(self, Esito::InAttesa | Esito::PresaInCarico)
    }

    fn of(tipo: &str) -> Esito {
        match tipo {
            "presa-in-carico" => Esito::PresaInCarico,
            "preavviso-errore-consegna-24h" => Esito::Scaduta,
            t if t.starts_with("avvenuta-consegna") => Esito::Consegnata,
            t if t.starts_with("errore-consegna") || t == "rilevazione-virus" => {
                Esito::NonConsegnata
            }
            _ => Esito::InAttesa,
        }
    }
}

impl Cronologia {
    /// Whether any recipient still waits for news (pages refresh themselves meanwhile).
    pub fn in_corso(&self) -> bool {
        self.destinatari.iter().any(|d| d.esito.in_corso())
    }
}

/// A message of the transaction with what its daticert says.
struct Letto {
    m: StoredMessage,
    raw: Vec<u8>,
    kind: Option<Kind>,
    daticert: Option<pec::Daticert>,
}

impl Letto {
    fn ricevuta(&self) -> Ricevuta {
        Ricevuta {
            folder: self.m.folder.clone(),
            uid: self.m.uid,
            kind: self.m.kind.clone().unwrap_or_else(|| "inviata".into()),
            at: self
                .daticert
                .as_ref()
                .map_or(self.m.received_at, |d| d.data.timestamp().as_second()),
        }
    }

    /// The recipients a receipt is about.
    fn riguarda(&self) -> Vec<String> {
        let Some(d) = &self.daticert else {
            return Vec::new();
        };
        match &d.consegna {
            Some(c) => vec![c.to_ascii_lowercase()],
            None => d.ricezione.iter().map(|r| r.to_ascii_lowercase()).collect(),
        }
    }
}

/// A receipt's kind as a timeline event: the consegna variants are one event.
fn tipo_evento(kind: Kind) -> String {
    match kind {
        Kind::AvvenutaConsegna(_) => "avvenuta-consegna".into(),
        k => k.slug().into(),
    }
}

/// A tracker event as a timeline event.
fn tipo_tracker(e: TrackerEvent) -> &'static str {
    match e {
        TrackerEvent::PresaInCarico => "presa-in-carico",
        TrackerEvent::Consegna => "avvenuta-consegna",
        TrackerEvent::ErroreConsegna => "errore-consegna",
        TrackerEvent::RilevazioneVirus => "rilevazione-virus",
        TrackerEvent::Preavviso => "preavviso-errore-consegna-12h",
        TrackerEvent::Scaduto => "preavviso-errore-consegna-24h",
    }
}

impl Engine {
    /// The timeline of `identificativo` as sent from `mailbox`; `None` when the box never
    /// sent it (whoever else did).
    pub async fn cronologia(
        &self,
        mailbox: &str,
        identificativo: &str,
    ) -> Result<Option<Cronologia>, EngineError> {
        Ok(self
            .transazione(mailbox, identificativo)
            .await?
            .map(|(c, _)| c))
    }

    /// The timeline and the messages it was read from, by instant.
    async fn transazione(
        &self,
        mailbox: &str,
        identificativo: &str,
    ) -> Result<Option<(Cronologia, Vec<Letto>)>, EngineError> {
        let mut letti = Vec::new();
        for m in self
            .store
            .by_identificativo(mailbox, identificativo)
            .await?
        {
            let raw = self.store.get(&m.blob).await?;
            let c = pec::classify(&raw).ok();
            letti.push(Letto {
                kind: c.as_ref().and_then(|c| c.kind),
                daticert: c.and_then(|c| c.daticert),
                m,
                raw,
            });
        }
        let trova = |pred: fn(Kind) -> bool| letti.iter().find(|l| l.kind.is_some_and(pred));
        let inviata = letti.iter().find(|l| l.m.kind.is_none());
        let accettazione = trova(|k| k == Kind::Accettazione);
        let non_accettazione =
            trova(|k| matches!(k, Kind::NonAccettazione | Kind::NonAccettazioneVirus));
        let Some(esito) = accettazione.or(non_accettazione).or(inviata) else {
            return Ok(None);
        };
        let oggetto = match esito.daticert.as_ref().and_then(|d| d.oggetto.clone()) {
            Some(o) => o,
            None => mail_parser::MessageParser::new()
                .parse_headers(&esito.raw)
                .and_then(|m| m.subject().map(str::to_string))
                .unwrap_or_default(),
        };
        let tracked = self.store.tracked(identificativo).await?;
        let destinatari = match accettazione.and_then(|a| a.daticert.as_ref()) {
            None => Vec::new(),
            Some(d) => d
                .destinatari
                .iter()
                .map(|dest| {
                    let indirizzo = dest.indirizzo.to_ascii_lowercase();
                    let certificato = dest.tipo == TipoDestinatario::Certificato;
                    let mut eventi: Vec<Evento> = letti
                        .iter()
                        .filter(|l| {
                            l.kind.is_some_and(|k| {
                                !matches!(k, Kind::Accettazione | Kind::PostaCertificata)
                            }) && l.riguarda().contains(&indirizzo)
                        })
                        .filter_map(|l| {
                            let r = l.ricevuta();
                            Some(Evento {
                                tipo: tipo_evento(l.kind?),
                                at: r.at,
                                ricevuta: Some(r),
                            })
                        })
                        .collect();
                    let heard = tracked
                        .iter()
                        .filter(|t| t.recipient == indirizzo)
                        .flat_map(|t| &t.events);
                    for (e, at) in heard {
                        let tipo = tipo_tracker(*e);
                        if !eventi.iter().any(|x| x.tipo.starts_with(tipo)) {
                            eventi.push(Evento {
                                tipo: tipo.into(),
                                at: *at,
                                ricevuta: None,
                            });
                        }
                    }
                    // Same instant: in the order a transaction goes.
                    eventi.sort_by_key(|e| (e.at, Esito::of(&e.tipo)));
                    let esito = eventi
                        .iter()
                        .map(|e| Esito::of(&e.tipo))
                        .max()
                        .unwrap_or(Esito::InAttesa);
                    StatoDestinatario {
                        indirizzo,
                        esito: if certificato || esito > Esito::InAttesa {
                            esito
                        } else {
                            Esito::SenzaRicevute
                        },
                        certificato,
                        eventi,
                    }
                })
                .collect(),
        };
        let cronologia = Cronologia {
            identificativo: identificativo.to_string(),
            oggetto,
            inviato_il: esito.ricevuta().at,
            inviata: inviata.map(Letto::ricevuta),
            accettazione: accettazione.map(Letto::ricevuta),
            non_accettazione: non_accettazione.map(Letto::ricevuta),
            destinatari,
        };
        letti.sort_by_key(|l| (l.ricevuta().at, l.m.folder.clone(), l.m.uid));
        Ok(Some((cronologia, letti)))
    }

    /// The evidence bundle of `identificativo` as sent from `mailbox` (`None` as for
    /// [`Engine::cronologia`]): a zip of the message as submitted (`messaggio.eml`), every
    /// receipt of the box (`NN-kind[-recipient].eml`, by instant) and `riepilogo.txt`.
    pub async fn fascicolo(
        &self,
        mailbox: &str,
        identificativo: &str,
    ) -> Result<Option<Vec<u8>>, EngineError> {
        let Some((c, letti)) = self.transazione(mailbox, identificativo).await? else {
            return Ok(None);
        };
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let mut file = |name: &str, bytes: &[u8]| -> Result<(), EngineError> {
            zip.start_file(name, options)
                .and_then(|()| Ok(zip.write_all(bytes)?))
                .map_err(|e| build_error("fascicolo", format!("{name}: {e}")))
        };
        let mut ricevute = Vec::new();
        for l in &letti {
            match l.kind {
                None => file("messaggio.eml", &l.raw)?,
                // A busta in the sender's own box (a message to themselves) is not evidence
                // of the sending; its receipts are.
                Some(Kind::PostaCertificata) => {}
                Some(k) => {
                    let chi = l.riguarda();
                    let nome = match chi.as_slice() {
                        [uno] => format!(
                            "{:02}-{}-{}.eml",
                            ricevute.len() + 1,
                            k.slug(),
                            crate::nome_file(uno)
                        ),
                        _ => format!("{:02}-{}.eml", ricevute.len() + 1, k.slug()),
                    };
                    file(&nome, &l.raw)?;
                    ricevute.push(nome);
                }
            }
        }
        file(
            "riepilogo.txt",
            riepilogo(&c, mailbox, &ricevute, &self.settings.gestore.nome).as_bytes(),
        )?;
        let bytes = zip
            .finish()
            .map_err(|e| build_error("fascicolo", e))?
            .into_inner();
        Ok(Some(bytes))
    }
}

/// `dd/mm/yyyy hh:mm:ss` in Italian legal time.
fn ora_italiana(at: i64) -> String {
    let tz = jiff::tz::TimeZone::get("Europe/Rome").unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_second(at)
        .map(|ts| ts.to_zoned(tz).strftime("%d/%m/%Y %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The Italian name of a timeline event.
fn nome_evento(tipo: &str) -> &'static str {
    match tipo {
        "presa-in-carico" => "presa in carico dal gestore del destinatario",
        "avvenuta-consegna" => "consegnato nella casella del destinatario",
        "errore-consegna" => "avviso di mancata consegna",
        "errore-consegna-virus" => "mancata consegna per virus",
        "rilevazione-virus" => "rilevazione di virus",
        "preavviso-errore-consegna-12h" => "preavviso di mancata consegna (12 ore)",
        "preavviso-errore-consegna-24h" => "mancata consegna entro 24 ore",
        _ => "avviso del gestore",
    }
}

/// The summary of the bundle, for a person.
fn riepilogo(c: &Cronologia, mittente: &str, ricevute: &[String], gestore: &str) -> String {
    let mut t = String::new();
    t.push_str("FASCICOLO DI UN MESSAGGIO DI POSTA ELETTRONICA CERTIFICATA\r\n\r\n");
    t.push_str(&format!("Identificativo: {}\r\n", c.identificativo));
    t.push_str(&format!("Oggetto: {}\r\n", c.oggetto));
    t.push_str(&format!("Mittente: {mittente}\r\n"));
    t.push_str(&format!("Gestore del mittente: {gestore}\r\n"));
    t.push_str("Orari: ora italiana (Europe/Rome).\r\n\r\n");
    match (&c.accettazione, &c.non_accettazione) {
        (Some(a), _) => t.push_str(&format!(
            "{}  accettato dal gestore (ricevuta di accettazione)\r\n",
            ora_italiana(a.at)
        )),
        (None, Some(n)) => t.push_str(&format!(
            "{}  NON accettato dal gestore (avviso di non accettazione)\r\n",
            ora_italiana(n.at)
        )),
        (None, None) => t.push_str("Nessuna ricevuta di accettazione nella casella.\r\n"),
    }
    for d in &c.destinatari {
        let tipo = if d.certificato {
            "casella PEC"
        } else {
            "indirizzo ordinario, non riceverà ricevute"
        };
        t.push_str(&format!("\r\nDestinatario {} ({tipo})\r\n", d.indirizzo));
        for e in &d.eventi {
            let ricevuta = if e.ricevuta.is_some() {
                ""
            } else {
                " [dal registro del gestore: la ricevuta non è nella casella]"
            };
            t.push_str(&format!(
                "  {}  {}{ricevuta}\r\n",
                ora_italiana(e.at),
                nome_evento(&e.tipo)
            ));
        }
        let esito = match d.esito {
            Esito::SenzaRicevute => "inoltrato, senza ricevute",
            Esito::InAttesa => "in attesa",
            Esito::PresaInCarico => "preso in carico, consegna in attesa",
            Esito::Scaduta => "non consegnato entro 24 ore",
            Esito::NonConsegnata => "non consegnato",
            Esito::Consegnata => "consegnato",
        };
        t.push_str(&format!("  Esito: {esito}\r\n"));
    }
    t.push_str("\r\nCONTENUTO\r\n");
    t.push_str("  messaggio.eml  il messaggio come è stato inviato\r\n");
    for r in ricevute {
        t.push_str(&format!("  {r}\r\n"));
    }
    t.push_str(
        "\r\nCOME VERIFICARE LE RICEVUTE\r\n\
         Ogni ricevuta è firmata dal gestore che la emette (S/MIME). Con OpenSSL e il\r\n\
         certificato dell'autorità che ha emesso quello del gestore (CA.pem):\r\n\r\n",
    );
    let esempio = ricevute.first().map_or("RICEVUTA.eml", String::as_str);
    t.push_str(&format!(
        "  openssl cms -verify -in {esempio} -CAfile CA.pem -out /dev/null\r\n\r\n\
         \"Verification successful\" vuol dire che la ricevuta non è stata alterata dopo la\r\n\
         firma; il file daticert.xml al suo interno riporta i dati certificati.\r\n"
    ));
    t
}

#[cfg(test)]
mod tests {
    use super::Esito;

    #[test]
    fn esito_names_are_the_json_ones() {
        for e in [
            Esito::SenzaRicevute,
            Esito::InAttesa,
            Esito::PresaInCarico,
            Esito::Scaduta,
            Esito::NonConsegnata,
            Esito::Consegnata,
        ] {
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.as_str())
            );
        }
    }
}
