//! Connections kept open between transactions to the same peer. A relay sends many
//! messages to the same few gestori; on a connection of its own each one would pay a TCP
//! and a TLS handshake (and the peer an RSA signature for it). The pool hands an idle
//! connection to the next transaction for the same peer instead, and opens a new one when
//! none is idle.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::debug;

use crate::SmtpError;
use crate::client::{ClientConfig, Connection, Delivery, check_envelope, refused};
use crate::server::Envelope;

/// An idle connection older than this is closed rather than reused: servers end idle
/// sessions (RFC 5321 §4.5.3.2.7 gives them 5 minutes), and a stale one costs an attempt.
const MAX_IDLE: Duration = Duration::from_secs(30);
/// Idle connections kept per peer; more are closed when their transaction ends.
const MAX_IDLE_PER_PEER: usize = 16;

/// A peer: where we connect and the TLS name we verify there.
type Peer = (SocketAddr, String);

/// [`send`](crate::send) with connection reuse. Shared by every task of a relay.
pub struct Pool {
    config: ClientConfig,
    idle: Mutex<HashMap<Peer, Vec<(Connection, Instant)>>>,
}

impl Pool {
    pub fn new(config: ClientConfig) -> Pool {
        Pool {
            config,
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// One transaction, as [`send`](crate::send) does it, on an idle connection to the same
    /// peer when there is one. A reused connection the peer closed meanwhile (the connection
    /// is gone, or the answer is 421: closing) is dropped and the transaction tried on the
    /// next (or a new) one; any other failure is returned.
    pub async fn send(
        &self,
        addr: SocketAddr,
        server_name: &str,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Delivery, SmtpError> {
        check_envelope(envelope)?;
        let peer = (addr, server_name.to_owned());
        while let Some(mut connection) = self.take(&peer) {
            match connection.transaction(envelope, message).await {
                Ok(delivery) if closing(&delivery) => {
                    debug!(peer = %addr, "idle connection closed by the peer (421), trying another");
                }
                Ok(delivery) => {
                    self.keep(peer, connection, &delivery);
                    return Ok(delivery);
                }
                Err(e @ (SmtpError::ConnectionClosed { .. } | SmtpError::Io { .. })) => {
                    debug!(peer = %addr, error = %e, "idle connection gone, trying another");
                }
                Err(e) => return Err(e),
            }
        }
        let mut connection = match Connection::open(addr, server_name, &self.config).await? {
            Ok(connection) => connection,
            Err(reply) => return Ok(refused(envelope, reply)),
        };
        let delivery = connection.transaction(envelope, message).await?;
        self.keep(peer, connection, &delivery);
        Ok(delivery)
    }

    /// The most recently used idle connection to `peer` that is not too old; older ones are
    /// closed.
    fn take(&self, peer: &Peer) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let connections = idle.get_mut(peer)?;
        let fresh = connections.pop();
        // The rest were idle longer: close those past the limit.
        let expired = connections
            .iter()
            .take_while(|(_, since)| since.elapsed() > MAX_IDLE)
            .count();
        let expired: Vec<_> = connections.drain(..expired).collect();
        drop(idle);
        for (connection, _) in expired {
            tokio::spawn(connection.quit());
        }
        match fresh {
            Some((connection, since)) if since.elapsed() <= MAX_IDLE => Some(connection),
            Some((connection, _)) => {
                tokio::spawn(connection.quit());
                None
            }
            None => None,
        }
    }

    /// Puts `connection` back for the next transaction, unless the peer said it is closing
    /// it (421) or enough are idle already.
    fn keep(&self, peer: Peer, connection: Connection, delivery: &Delivery) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let connections = idle.entry(peer).or_default();
        if closing(delivery) || connections.len() >= MAX_IDLE_PER_PEER {
            drop(idle);
            tokio::spawn(connection.quit());
            return;
        }
        connections.push((connection, Instant::now()));
    }
}

/// Whether the peer answered 421: it is closing the connection (RFC 5321 §3.8).
fn closing(delivery: &Delivery) -> bool {
    delivery
        .per_recipient
        .iter()
        .map(|(_, o)| o)
        .chain(&delivery.data)
        .any(|o| o.reply().code == 421)
}
