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
//!
//! When the recipient's server refuses a message at SMTP, its enhanced status code picks the
//! row ([`MancataConsegna::da_risposta_smtp`]): 5.1.1, 5.1.2 and 5.1.10 (null MX), 5.2.1,
//! 5.2.2, 5.2.3 and 5.3.4; any other refusal is `altro`.

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

    /// The cause behind a permanent SMTP refusal from the recipient's server, as the relay
    /// reads it (`550 5.1.1 user unknown`): the enhanced status code (RFC 3463; RFC 7505 for
    /// the null MX) names the NOTA 12 event, so the sender's avviso carries its code and the
    /// daticert `errore` class machines read. A reply without an enhanced code, or with one
    /// no NOTA 12 event matches, is [`MancataConsegna::Altro`] with the whole reply as text.
    pub fn da_risposta_smtp(risposta: &str) -> MancataConsegna {
        let mut words = risposta.split_whitespace();
        let first = words.next().unwrap_or_default();
        let code = if first.len() == 3 && first.bytes().all(|b| b.is_ascii_digit()) {
            words.next().unwrap_or_default()
        } else {
            first
        };
        let detail: Vec<&str> = code.splitn(3, '.').collect();
        match detail.as_slice() {
            [_, "1", "1"] => MancataConsegna::CasellaInesistente,
            [_, "1", "2" | "10"] => MancataConsegna::DominioInesistente,
            [_, "2", "1"] => MancataConsegna::CasellaDisattivata,
            [_, "2", "2"] => MancataConsegna::CasellaPiena,
            [_, "2", "3"] | [_, "3", "4"] => MancataConsegna::MessaggioTroppoGrande,
            _ => MancataConsegna::Altro(risposta.to_owned()),
        }
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
    fn smtp_refusals_name_their_nota_12_event() {
        for (risposta, causa) in [
            (
                "550 5.1.1 user unknown",
                MancataConsegna::CasellaInesistente,
            ),
            (
                "550 5.1.2 no such domain",
                MancataConsegna::DominioInesistente,
            ),
            (
                "556 5.1.10 x.example accepts no mail (null MX, RFC 7505)",
                MancataConsegna::DominioInesistente,
            ),
            (
                "550 5.2.1 mailbox disabled",
                MancataConsegna::CasellaDisattivata,
            ),
            ("552 5.2.2 over quota", MancataConsegna::CasellaPiena),
            ("552 5.2.3 too big", MancataConsegna::MessaggioTroppoGrande),
            ("552 5.3.4 too big", MancataConsegna::MessaggioTroppoGrande),
            (
                "5.1.1 without a reply code",
                MancataConsegna::CasellaInesistente,
            ),
        ] {
            assert_eq!(
                MancataConsegna::da_risposta_smtp(risposta),
                causa,
                "{risposta}"
            );
        }
        for altro in [
            "554 5.7.1 rejected by policy",
            "550 mailbox unavailable",
            "",
            "550 5.1",
            "550 5.11.1 odd",
        ] {
            assert_eq!(
                MancataConsegna::da_risposta_smtp(altro),
                MancataConsegna::Altro(altro.into())
            );
        }
        let e = MancataConsegna::da_risposta_smtp("550 5.1.1 no").errore_esteso("G");
        assert_eq!(e, "5.1.1 - G - indirizzo non valido");
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
