//! IMAP4rev1 (with the extensions mainstream clients use) for a gestore's mailboxes: holders
//! read their PEC box with Thunderbird, Outlook, Apple Mail, phones and mutt, and document
//! systems (Titulus) poll it. imap-codec decodes the commands and encodes every response; the
//! session keeps its own view of the selected folder and reconciles it with the store where
//! RFC 3501 allows.
//!
//! Beyond IMAP4rev1: IDLE, UIDPLUS, MOVE, SPECIAL-USE, NAMESPACE, ENABLE, CONDSTORE,
//! LITERAL+, SASL-IR, ID, QUOTA, UNSELECT, CHILDREN, STATUS=SIZE. The PRO archive
//! (`Archivio/<yyyy>/<mm>`) is readable but immutable; delegates of a multi-user box get what
//! their role allows; in protocol-system mode what the integration account reads leaves
//! INBOX ([`engine::Engine::mark_read`]).

mod fetch;
mod folders;
pub mod framing;
mod io;
mod messages;
mod reply;
mod search;
mod selected;
mod session;
pub mod structure;
pub mod utf7;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use engine::Engine;
use tokio::net::TcpListener;

/// How a listener behaves.
#[derive(Clone)]
pub struct ServerConfig {
    /// Our name, in the greeting.
    pub hostname: String,
    /// TLS for STARTTLS (and implicit-TLS listeners). Without it nobody can log in: LOGIN and
    /// AUTHENTICATE need TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// True for the port-993-style listener: TLS from the first byte, no STARTTLS.
    pub implicit_tls: bool,
    /// How long a session may stay silent (autologout, RFC 3501 §5.4: at least 30 minutes);
    /// also the limit on each network write and on the TLS handshake.
    pub idle_timeout: Duration,
    /// Longest command line accepted (without CRLF), e.g. 8192; a longer line gets `BAD` and
    /// the session goes on.
    pub max_line_length: usize,
    /// The biggest literal a command may carry (APPEND's message size limit); a bigger one
    /// gets `NO [TOOBIG]` without being read.
    pub max_literal: u64,
}

impl ServerConfig {
    /// A configuration with the usual limits: 30-minute autologout, 8 KiB lines, 50 MB
    /// messages.
    pub fn new(hostname: impl Into<String>, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        ServerConfig {
            hostname: hostname.into(),
            tls,
            implicit_tls: false,
            idle_timeout: Duration::from_secs(30 * 60),
            max_line_length: 8192,
            max_literal: 50 * 1024 * 1024,
        }
    }
}

/// Accepts connections on `listener` until `shutdown` resolves, running each IMAP session in
/// its own task. Sessions already running are left to finish. Errors from `accept` are logged
/// and retried after a short pause; the only errors returned are a listener whose address
/// cannot be read and a configuration that cannot work (implicit TLS without a TLS
/// configuration).
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    engine: Arc<Engine>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let door = listener::Door {
        name: "IMAP",
        implicit_tls: config.implicit_tls,
        has_tls: config.tls.is_some(),
    };
    listener::serve(listener, door, shutdown, |tcp, _peer| {
        session::run(tcp, config.clone(), engine.clone())
    })
    .await
}
