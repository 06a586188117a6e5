//! POP3 for a gestore's mailboxes: the holder (or a delegate of a multi-user box) downloads
//! the box's INBOX, on the pop3s port (implicit TLS, 995) or on port 110 after STLS.
//!
//! The protocol is RFC 1939 with CAPA and response codes (RFC 2449, RFC 3206), STLS
//! (RFC 2595) and AUTH PLAIN (RFC 5034); PIPELINING is supported. Credentials are accepted
//! only inside TLS. Who may log in, and what reading means for the box, are the engine's
//! decisions ([`engine::Engine::login`], [`engine::Engine::mark_read`]); this crate keeps
//! the session: a snapshot of INBOX taken at login, whose reads and deletions are applied
//! at QUIT (the UPDATE state), so that a session cut short changes nothing.
//!
//! Unique-ids (UIDL) are `<uidvalidity>.<uid>`: stable across sessions and clients.

mod command;
mod maildrop;
mod reply;
mod sasl;
mod server;
mod session;
mod transfer;
mod wire;

use std::sync::Arc;
use std::time::Duration;

pub use server::serve;

/// How a listener behaves.
#[derive(Clone)]
pub struct ServerConfig {
    /// Our name, in the greeting.
    pub hostname: String,
    /// TLS for STLS (and the implicit-TLS listener). `None` = no TLS offered, and then no
    /// login is possible (tests only).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// True for the pop3s listener (port 995): TLS from the first byte, no STLS.
    pub implicit_tls: bool,
    /// How long to wait for each command (the RFC 1939 autologout timer, at least 10
    /// minutes); on expiry the connection is closed without a reply and without UPDATE.
    pub idle_timeout: Duration,
    /// Longest command line accepted (without CRLF); longer lines get `-ERR` and the
    /// connection stays usable.
    pub max_line_length: usize,
}

impl ServerConfig {
    /// A port-110-style listener (STLS when `tls` is given) with the RFC 1939 defaults:
    /// a 10-minute idle timeout, command lines up to 4096 octets (RFC 2449 asks for 255,
    /// a SASL initial response may need more).
    pub fn new(hostname: impl Into<String>, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        ServerConfig {
            hostname: hostname.into(),
            tls,
            implicit_tls: false,
            idle_timeout: Duration::from_secs(10 * 60),
            max_line_length: 4096,
        }
    }
}
