//! Why a message was not delivered (spec §3.8, §3.10, §3.11, §10): the cause decides the
//! kind of avviso, the daticert `errore` class and the NOTA 12 coded `errore-esteso`
//! (`<code> - <gestore> - <testo>`).
//!
//! NOTA 12 is only partly known (spec §10.2, §16.1). Our mapping, with RFC 3463 codes where
//! the note's code could not be read:
//!
//! | cause (NOTA 12 event) | code | errore | text |
//! |---|---|---|---|
//! | utente/casella inesistente, casella non valida, utente revocato | 5.1.1 | no-dest | indirizzo non valido |
//! | casella temporaneamente disattivata / non in grado di accettare messaggi | 5.2.1 | altro | casella disattivata |
//! | casella piena | 5.2.2 | altro | casella piena |
//! | messaggio troppo grande per la casella | 5.2.3 | altro | messaggio di dimensioni eccessive |
//! | dominio inesistente | 5.1.2 | no-dominio | dominio non valido |
//! | virus rilevato dal gestore del destinatario | 5.7.1 | virus | virus rilevato: NOME |
//! | nessuna conferma entro 12 ore (preavviso) | 4.4.7 | altro | messaggio non consegnato entro le prime 12 ore |
//! | nessuna consegna entro 24 ore | 5.4.7 | altro | messaggio non consegnato entro 24 ore |
//! | altro | 5.0.0 | altro | the given text |

use crate::daticert::Errore;
use crate::kind::{Kind, Scadenza};

/// The cause of an avviso di mancata consegna.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MancataConsegna {
    /// No such user or mailbox, or an unknown/invalid one.
    CasellaInesistente,
    /// The holder's box was revoked.
    CasellaRevocata,
    /// The box exists but is suspended or cannot accept messages.
    CasellaDisattivata,
    /// Over quota.
    CasellaPiena,
    /// Bigger than this mailbox accepts.
    MessaggioTroppoGrande,
    /// The recipient's domain is not served here.
    DominioInesistente,
    /// The recipient's gestore found a virus (reported by its rilevazione virus).
    Virus(String),
    /// The sender's timers ran out (spec §3.11).
    TempoMassimo(Scadenza),
    /// Anything else, described.
    Altro(String),
}

impl MancataConsegna {
    /// Which avviso carries this cause.
    pub fn kind(&self) -> Kind {
        match self {
            MancataConsegna::Virus(_) => Kind::ErroreConsegnaVirus,
            MancataConsegna::TempoMassimo(s) => Kind::PreavvisoErroreConsegna(*s),
            _ => Kind::ErroreConsegna,
        }
    }

    /// The daticert `errore` class.
    pub fn errore(&self) -> Errore {
        match self {
            MancataConsegna::CasellaInesistente | MancataConsegna::CasellaRevocata => {
                Errore::NoDest
            }
            MancataConsegna::DominioInesistente => Errore::NoDominio,
            MancataConsegna::Virus(_) => Errore::Virus,
            _ => Errore::Altro,
        }
    }

    /// The enhanced status code (RFC 3463 style).
    pub fn codice(&self) -> &'static str {
        match self {
            MancataConsegna::CasellaInesistente | MancataConsegna::CasellaRevocata => "5.1.1",
            MancataConsegna::CasellaDisattivata => "5.2.1",
            MancataConsegna::CasellaPiena => "5.2.2",
            MancataConsegna::MessaggioTroppoGrande => "5.2.3",
            MancataConsegna::DominioInesistente => "5.1.2",
            MancataConsegna::Virus(_) => "5.7.1",
            MancataConsegna::TempoMassimo(Scadenza::Ore12) => "4.4.7",
            MancataConsegna::TempoMassimo(_) => "5.4.7",
            MancataConsegna::Altro(_) => "5.0.0",
        }
    }

    /// The short Italian description.
    pub fn testo(&self) -> String {
        match self {
            MancataConsegna::CasellaInesistente | MancataConsegna::CasellaRevocata => {
                "indirizzo non valido".into()
            }
            MancataConsegna::CasellaDisattivata => "casella disattivata".into(),
            MancataConsegna::CasellaPiena => "casella piena".into(),
            MancataConsegna::MessaggioTroppoGrande => "messaggio di dimensioni eccessive".into(),
            MancataConsegna::DominioInesistente => "dominio non valido".into(),
            MancataConsegna::Virus(nome) => format!("virus rilevato: {nome}"),
            MancataConsegna::TempoMassimo(Scadenza::Ore12) => {
                "messaggio non consegnato entro le prime 12 ore".into()
            }
            MancataConsegna::TempoMassimo(_) => "messaggio non consegnato entro 24 ore".into(),
            MancataConsegna::Altro(testo) => testo.clone(),
        }
    }

    /// `errore-esteso`: `<code> - <gestore> - <testo>`.
    pub fn errore_esteso(&self, gestore: &str) -> String {
        format!("{} - {gestore} - {}", self.codice(), self.testo())
    }
}

/// Which timeout notice an `errore-esteso` describes, by its code class.
pub fn scadenza_da_errore_esteso(errore_esteso: Option<&str>) -> Scadenza {
    match errore_esteso.map(str::trim_start) {
        Some(e) if e.starts_with("4.4.7") => Scadenza::Ore12,
        Some(e) if e.starts_with("5.4.7") => Scadenza::Ore24,
        _ => Scadenza::NonIndicata,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nota_12_shape() {
        let e = MancataConsegna::CasellaInesistente.errore_esteso("Esempio PEC S.p.A.");
        assert_eq!(e, "5.1.1 - Esempio PEC S.p.A. - indirizzo non valido");
        assert_eq!(MancataConsegna::CasellaInesistente.errore(), Errore::NoDest);
        assert_eq!(
            MancataConsegna::Virus("EICAR".into()).kind(),
            Kind::ErroreConsegnaVirus
        );
    }

    #[test]
    fn timeouts_round_trip_through_their_code() {
        for s in [Scadenza::Ore12, Scadenza::Ore24] {
            let e = MancataConsegna::TempoMassimo(s).errore_esteso("G");
            assert_eq!(scadenza_da_errore_esteso(Some(&e)), s);
        }
        assert_eq!(scadenza_da_errore_esteso(None), Scadenza::NonIndicata);
        assert_eq!(scadenza_da_errore_esteso(Some("x")), Scadenza::NonIndicata);
    }
}
