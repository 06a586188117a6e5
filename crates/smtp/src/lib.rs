//! SMTP for a PEC gestore: the two doors where mail comes in, and the client the relay uses
//! to carry it out.
//!
//! A gestore talks SMTP in three places (spec §4.1, §4.2, §9.5):
//!
//! * the **submission door** (punto di accesso): the holder's mail client connects, must switch
//!   to TLS (STARTTLS or an implicit-TLS port), must authenticate, and may only send as the
//!   mailbox it authenticated as;
//! * the **MX door** (punto di ricezione): other gestori and the ordinary Internet deliver here;
//!   STARTTLS is offered and announced, plaintext sessions are still accepted (ordinary mail),
//!   AUTH is not offered;
//! * the **relay client**: carries a busta or a ricevuta to a peer's punto di ricezione, with
//!   STARTTLS mandatory between providers ([`ClientConfig::require_tls`]), on connections
//!   kept open for the next message to the same peer ([`Pool`]). The same client, with
//!   AUTH ([`Connection::authenticate`]), submits as a mail client does (`pecora bench`).
//!
//! This crate knows SMTP and nothing about PEC. The decisions that need PEC knowledge (is this
//! password right, is this recipient ours, build and commit the busta before saying 250) belong
//! to the engine, which implements the [`Handler`] trait this crate calls. The dependency
//! therefore points from the engine (or the binary wiring it) to `smtp`, never the other way.
//!
//! The server enforces what SMTP itself can enforce: command sequence, TLS before AUTH, AUTH
//! before MAIL, MAIL FROM equal to the authenticated mailbox, the size and recipient limits of
//! spec §12, idle timeouts, line lengths, and dot-unstuffing with only `CRLF.CRLF` ending the
//! data (no SMTP smuggling through bare LF). Commands are parsed with `smtp-proto`; replies on
//! the client side too.

mod client;
mod data;
mod pool;
mod reply;
mod server;
mod tls;
mod wire;

pub use client::{ClientConfig, Connection, Delivery, send};
pub use pool::Pool;
pub use reply::{Outcome, Reply};
pub use server::{Authenticated, Door, Envelope, Handler, ServerConfig, Session, serve};
pub use tls::{install_crypto_provider, tls_client_config, tls_server_config};

/// Everything that can go wrong in this crate outside of an SMTP reply.
///
/// SMTP replies (a 4xx or 5xx from the peer) are not errors: [`send`] reports them as
/// [`Outcome`]s. An `SmtpError` means the transaction could not be carried out at all
/// (network, TLS, timeout, a peer that does not speak SMTP, bad local configuration); the relay
/// treats it as a temporary failure.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// A network read, write or connect failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, and with whom.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The peer did not answer (or accept our bytes) within the configured timeout.
    #[error("{context}: timed out after {timeout:?}")]
    Timeout {
        /// What was being waited for.
        context: String,
        /// The timeout that expired.
        timeout: std::time::Duration,
    },
    /// The peer closed the connection in the middle of the dialogue.
    #[error("{context}: connection closed by peer")]
    ConnectionClosed {
        /// What was being waited for.
        context: String,
    },
    /// The peer sent something that is not a valid SMTP reply where one was expected.
    #[error("{context}: {detail}")]
    Protocol {
        /// What was being read.
        context: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The peer answered with a reply code that makes no sense at this step.
    #[error("{context}: unexpected reply {reply}")]
    UnexpectedReply {
        /// The step of the dialogue.
        context: String,
        /// The reply received.
        reply: Reply,
    },
    /// TLS was required but the peer's EHLO did not offer STARTTLS.
    #[error("{server} does not offer STARTTLS and TLS is required")]
    TlsNotOffered {
        /// The peer.
        server: String,
    },
    /// TLS was required but the peer refused the STARTTLS command.
    #[error("{server} refused STARTTLS ({reply}) and TLS is required")]
    StartTlsRefused {
        /// The peer.
        server: String,
        /// Its answer to STARTTLS.
        reply: Reply,
    },
    /// The TLS handshake failed (untrusted certificate, wrong name, no common protocol...).
    #[error("TLS handshake with {server} failed: {source}")]
    TlsHandshake {
        /// The peer.
        server: String,
        /// The underlying error (wraps the rustls error).
        source: std::io::Error,
    },
    /// The name to verify the peer's certificate against is not a valid DNS name or IP address.
    #[error("invalid TLS server name {name:?}")]
    InvalidServerName {
        /// The name given.
        name: String,
    },
    /// An envelope address cannot be written into an SMTP command (control characters,
    /// spaces or angle brackets).
    #[error("envelope address {address:?} cannot be sent over SMTP")]
    InvalidAddress {
        /// The offending address.
        address: String,
    },
    /// PEM input could not be read, or held no usable certificate or key.
    #[error("{context}: {detail}")]
    Pem {
        /// Which PEM input.
        context: String,
        /// What was wrong.
        detail: String,
    },
    /// rustls refused the configuration (e.g. key does not match certificate).
    #[error("{context}: {source}")]
    TlsConfig {
        /// What was being configured.
        context: String,
        /// The rustls error.
        source: rustls::Error,
    },
}
