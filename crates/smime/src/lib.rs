//! S/MIME detached signatures for PEC (Italian certified e-mail).
//!
//! Every message a PEC provider generates (receipts, notices, envelopes) is
//! a `multipart/signed` whose second part is a PKCS#7/CMS detached signature
//! made with the provider's certificate (spec §2.2), and every incoming PEC
//! object must have that signature checked before it is trusted (spec §4.2,
//! §9.4). This crate does both halves with OpenSSL, and it cuts the MIME
//! structure itself, with the byte-exact scanner of `pec::mime`, so that the
//! signed bytes are exactly the ones on the wire (OpenSSL's own S/MIME reader
//! canonicalises or drops them):
//!
//! - [`Signer::seal`] wraps a MIME entity into a signed message;
//! - [`verify`] checks a message and returns a [`Verdict`] (never panics);
//! - [`split_signed`] gives the signed part and the DER signature;
//! - [`testca`] makes a throw-away PKI for tests and samples.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attached;
mod base64;
mod cert;
mod error;
mod mime;
mod sign;
pub mod testca;
mod verify;

pub use cert::{SignerInfo, escape_dn_value, sha1_fingerprint};
pub use error::SmimeError;
pub use sign::Signer;
pub use verify::{TrustStore, Verdict, split_signed, verify};
