//! The catalogue of PEC messages (spec §3.12): one [`Kind`] per row, with the header, the
//! subject prefix and the `daticert.xml` type that identify it on the wire.

use crate::daticert::{TipoDaticert, TipoRicevuta};

/// Which of the two timeout notices (spec §3.11). Both travel as
/// `preavviso-errore-consegna`; pecora tells them apart by the RFC 3463 class of the
/// `errore-esteso` code it writes (`4.4.7` for the 12-hour warning, `5.4.7` for the final
/// 24-hour notice). Another provider's notice whose code says neither reads as `NonIndicata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scadenza {
    Ore12,
    Ore24,
    NonIndicata,
}

/// Every kind of message a gestore generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Ricevuta di accettazione.
    Accettazione,
    /// Avviso di non accettazione for a formal exception.
    NonAccettazione,
    /// Avviso di non accettazione per virus.
    NonAccettazioneVirus,
    /// Busta di trasporto.
    PostaCertificata,
    /// Ricevuta di presa in carico.
    PresaInCarico,
    /// Busta di anomalia.
    Anomalia,
    /// Avviso di rilevazione virus.
    RilevazioneVirus,
    /// Ricevuta di avvenuta consegna, in one of its three variants.
    AvvenutaConsegna(TipoRicevuta),
    /// Avviso di mancata consegna.
    ErroreConsegna,
    /// Avviso di mancata consegna per virus.
    ErroreConsegnaVirus,
    /// Avviso di mancata consegna per superamento dei tempi massimi.
    PreavvisoErroreConsegna(Scadenza),
}

/// The PEC header that names a message's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PecHeader {
    /// `X-Ricevuta: <value>` (ricevute and avvisi).
    Ricevuta(&'static str),
    /// `X-Trasporto: <value>` (buste).
    Trasporto(&'static str),
}

impl PecHeader {
    pub fn name(&self) -> &'static str {
        match self {
            PecHeader::Ricevuta(_) => "X-Ricevuta",
            PecHeader::Trasporto(_) => "X-Trasporto",
        }
    }

    pub fn value(&self) -> &'static str {
        match self {
            PecHeader::Ricevuta(v) | PecHeader::Trasporto(v) => v,
        }
    }
}

impl Kind {
    /// One of each kind `pecora sample` writes, in the order of the spec's matrix.
    pub const ALL: [Kind; 14] = [
        Kind::Accettazione,
        Kind::NonAccettazione,
        Kind::NonAccettazioneVirus,
        Kind::PostaCertificata,
        Kind::PresaInCarico,
        Kind::Anomalia,
        Kind::RilevazioneVirus,
        Kind::ErroreConsegnaVirus,
        Kind::AvvenutaConsegna(TipoRicevuta::Completa),
        Kind::AvvenutaConsegna(TipoRicevuta::Breve),
        Kind::AvvenutaConsegna(TipoRicevuta::Sintetica),
        Kind::ErroreConsegna,
        Kind::PreavvisoErroreConsegna(Scadenza::Ore12),
        Kind::PreavvisoErroreConsegna(Scadenza::Ore24),
    ];

    pub fn header(&self) -> PecHeader {
        use PecHeader::{Ricevuta, Trasporto};
        match self {
            Kind::Accettazione => Ricevuta("accettazione"),
            Kind::NonAccettazione | Kind::NonAccettazioneVirus => Ricevuta("non-accettazione"),
            Kind::PostaCertificata => Trasporto("posta-certificata"),
            Kind::PresaInCarico => Ricevuta("presa-in-carico"),
            Kind::Anomalia => Trasporto("errore"),
            Kind::RilevazioneVirus => Ricevuta("rilevazione-virus"),
            Kind::AvvenutaConsegna(_) => Ricevuta("avvenuta-consegna"),
            Kind::ErroreConsegna | Kind::ErroreConsegnaVirus => Ricevuta("errore-consegna"),
            Kind::PreavvisoErroreConsegna(_) => Ricevuta("preavviso-errore-consegna"),
        }
    }

    pub fn subject_prefix(&self) -> &'static str {
        match self {
            Kind::Accettazione => "ACCETTAZIONE: ",
            Kind::NonAccettazione => "AVVISO DI NON ACCETTAZIONE: ",
            Kind::NonAccettazioneVirus => "AVVISO DI NON ACCETTAZIONE PER VIRUS: ",
            Kind::PostaCertificata => "POSTA CERTIFICATA: ",
            Kind::PresaInCarico => "PRESA IN CARICO: ",
            Kind::Anomalia => "ANOMALIA MESSAGGIO: ",
            Kind::RilevazioneVirus => "PROBLEMA DI SICUREZZA: ",
            Kind::AvvenutaConsegna(_) => "CONSEGNA: ",
            Kind::ErroreConsegna => "AVVISO DI MANCATA CONSEGNA: ",
            Kind::ErroreConsegnaVirus => "AVVISO DI MANCATA CONSEGNA PER VIRUS: ",
            Kind::PreavvisoErroreConsegna(_) => {
                "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO: "
            }
        }
    }

    /// The `postacert/@tipo` this kind carries; `None` for the busta di anomalia, which has
    /// no `daticert.xml`.
    pub fn tipo_daticert(&self) -> Option<TipoDaticert> {
        Some(match self {
            Kind::Accettazione => TipoDaticert::Accettazione,
            Kind::NonAccettazione | Kind::NonAccettazioneVirus => TipoDaticert::NonAccettazione,
            Kind::PostaCertificata => TipoDaticert::PostaCertificata,
            Kind::PresaInCarico => TipoDaticert::PresaInCarico,
            Kind::Anomalia => return None,
            Kind::RilevazioneVirus => TipoDaticert::RilevazioneVirus,
            Kind::AvvenutaConsegna(_) => TipoDaticert::AvvenutaConsegna,
            Kind::ErroreConsegna | Kind::ErroreConsegnaVirus => TipoDaticert::ErroreConsegna,
            Kind::PreavvisoErroreConsegna(_) => TipoDaticert::PreavvisoErroreConsegna,
        })
    }

    /// Virus-related avvisi sent to the user carry `X-VerificaSicurezza: errore`.
    pub fn verifica_sicurezza(&self) -> bool {
        matches!(self, Kind::NonAccettazioneVirus | Kind::ErroreConsegnaVirus)
    }

    /// Whether the message carries the original (`postacert.eml`, or the received message
    /// for an anomalia).
    pub fn carries_original(&self) -> bool {
        matches!(
            self,
            Kind::PostaCertificata
                | Kind::Anomalia
                | Kind::AvvenutaConsegna(TipoRicevuta::Completa | TipoRicevuta::Breve)
        )
    }

    /// A stable lowercase name: file names, log event kinds, JSON.
    pub fn slug(&self) -> &'static str {
        match self {
            Kind::Accettazione => "accettazione",
            Kind::NonAccettazione => "non-accettazione",
            Kind::NonAccettazioneVirus => "non-accettazione-virus",
            Kind::PostaCertificata => "posta-certificata",
            Kind::PresaInCarico => "presa-in-carico",
            Kind::Anomalia => "anomalia",
            Kind::RilevazioneVirus => "rilevazione-virus",
            Kind::AvvenutaConsegna(TipoRicevuta::Completa) => "avvenuta-consegna-completa",
            Kind::AvvenutaConsegna(TipoRicevuta::Breve) => "avvenuta-consegna-breve",
            Kind::AvvenutaConsegna(TipoRicevuta::Sintetica) => "avvenuta-consegna-sintetica",
            Kind::ErroreConsegna => "errore-consegna",
            Kind::ErroreConsegnaVirus => "errore-consegna-virus",
            Kind::PreavvisoErroreConsegna(Scadenza::Ore12) => "preavviso-errore-consegna-12h",
            Kind::PreavvisoErroreConsegna(Scadenza::Ore24) => "preavviso-errore-consegna-24h",
            Kind::PreavvisoErroreConsegna(Scadenza::NonIndicata) => "preavviso-errore-consegna",
        }
    }

    /// The Italian title of the human-readable part.
    pub fn titolo(&self) -> &'static str {
        match self {
            Kind::Accettazione => "Ricevuta di accettazione",
            Kind::NonAccettazione => "Avviso di non accettazione",
            Kind::NonAccettazioneVirus => "Avviso di non accettazione per virus",
            Kind::PostaCertificata => "Messaggio di posta certificata",
            Kind::PresaInCarico => "Ricevuta di presa in carico",
            Kind::Anomalia => "Anomalia nel messaggio",
            Kind::RilevazioneVirus => "Avviso di rilevazione virus",
            Kind::AvvenutaConsegna(TipoRicevuta::Completa) => "Ricevuta di avvenuta consegna",
            Kind::AvvenutaConsegna(TipoRicevuta::Breve) => "Ricevuta breve di avvenuta consegna",
            Kind::AvvenutaConsegna(TipoRicevuta::Sintetica) => {
                "Ricevuta sintetica di avvenuta consegna"
            }
            Kind::ErroreConsegna => "Avviso di mancata consegna",
            Kind::ErroreConsegnaVirus => "Avviso di mancata consegna per virus",
            Kind::PreavvisoErroreConsegna(_) => {
                "Avviso di mancata consegna per superamento dei tempi massimi"
            }
        }
    }
}
