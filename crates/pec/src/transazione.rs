//! The facts every message of one PEC transaction repeats: who sent what to whom, under which
//! identificativo. The access point fills them from the submitted message; the recipient's
//! gestore reads them back from the busta's `daticert.xml`. Every builder takes them, so all
//! receipts of a message agree with each other by construction.

use crate::daticert::{Daticert, Destinatario, TipoRicevuta};

/// The gestore that issues (and signs) a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gestore {
    /// `gestore-emittente`: the provider's descriptive name, e.g. `Esempio PEC S.p.A.`.
    pub nome: String,
    /// The provider's mail domain, the one in its signing certificate.
    pub dominio: String,
}

impl Gestore {
    /// The service address receipts and buste come from: `posta-certificata@<dominio>`.
    pub fn indirizzo(&self) -> String {
        format!("posta-certificata@{}", self.dominio)
    }
}

/// The original message as certified (the `intestazione` of daticert, plus the identifiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transazione {
    /// The PEC msgid of the busta, without angle brackets.
    pub identificativo: String,
    /// The client's Message-ID, with angle brackets; `None` when the client sent none.
    pub msgid: Option<String>,
    /// The certified sender (MAIL FROM = From:).
    pub mittente: String,
    /// Every `To:`/`Cc:` recipient, in header order, classified through the index.
    pub destinatari: Vec<Destinatario>,
    /// The original `Reply-To:`, or the sender when it had none.
    pub risposte: String,
    /// The original subject, decoded.
    pub oggetto: String,
    /// The receipt type the sender asked for (`X-TipoRicevuta`, absent = completa).
    pub ricevuta: TipoRicevuta,
}

impl Transazione {
    /// The transaction a busta (or any receipt) describes, read from its `daticert.xml`.
    pub fn from_daticert(d: &Daticert) -> Transazione {
        Transazione {
            identificativo: d.identificativo.clone(),
            msgid: d.msgid.clone(),
            mittente: d.mittente.clone(),
            destinatari: d.destinatari.clone(),
            risposte: d.risposte.clone(),
            oggetto: d.oggetto.clone().unwrap_or_default(),
            ricevuta: d.ricevuta.unwrap_or_default(),
        }
    }
}
