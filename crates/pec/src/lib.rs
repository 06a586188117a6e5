//! The PEC wire format, as `pec-rules.md` defines it.
//!
//! This crate knows how every ricevuta, avviso and busta looks on the wire: it builds them
//! (unsigned: the `smime` crate seals a [`Draft`] into `multipart/signed`), reads them back
//! ([`classify()`]), writes and reads `daticert.xml`, applies the formal checks of the punto di
//! accesso and the breve transformation. It does no I/O and reads no clock: every instant is
//! an argument, so the same inputs always give the same bytes.

pub mod breve;
pub mod build;
pub mod checks;
pub mod classify;
pub mod daticert;
pub mod errori;
pub mod identificativo;
pub mod kind;
pub mod mime;
mod testo;
pub mod transazione;

pub use breve::{HashAlg, breve};
pub use build::Draft;
pub use classify::{Classified, ClassifyError, PecHeaders, classify};
pub use daticert::{Daticert, Destinatario, Errore, TipoDaticert, TipoDestinatario, TipoRicevuta};
pub use errori::MancataConsegna;
pub use kind::{Kind, Scadenza};
pub use transazione::{Gestore, Transazione};
