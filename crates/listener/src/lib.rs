//! The accept loop every door of a gestore shares (SMTP submission and MX, IMAP, POP3): it
//! checks that an implicit-TLS listener has a certificate, runs each connection in its own
//! task inside a tracing span that names the door and the peer, retries after a failed
//! `accept` (out of file descriptors, say) instead of giving up, and stops accepting when
//! told to while the sessions under way finish. The protocols live in their own crates; only
//! this part was the same in all of them.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tracing::{Instrument, info, warn};

/// Pause after a failed `accept` before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What a door is, for the checks and the logs.
#[derive(Debug, Clone, Copy)]
pub struct Door {
    /// Its name in logs and errors, e.g. `"IMAP"` or `"SMTP submission"`.
    pub name: &'static str,
    /// TLS from the first byte (ports 465, 993, 995).
    pub implicit_tls: bool,
    /// Whether a TLS configuration was given.
    pub has_tls: bool,
}

/// Accepts connections on `listener` until `shutdown` resolves and runs `session(tcp, peer)`
/// for each in its own task. Sessions already running are left to finish. The only errors
/// returned are a listener whose address cannot be read and a door that cannot work
/// (implicit TLS without a TLS configuration).
pub async fn serve<S, F>(
    listener: TcpListener,
    door: Door,
    shutdown: impl Future<Output = ()> + Send,
    mut session: S,
) -> std::io::Result<()>
where
    S: FnMut(TcpStream, SocketAddr) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    if door.implicit_tls && !door.has_tls {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} listener with implicit TLS configured without a TLS configuration",
                door.name
            ),
        ));
    }
    let local = listener.local_addr()?;
    info!(door = door.name, %local, implicit_tls = door.implicit_tls, "listener started");
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => {
                info!(door = door.name, %local, "listener stopped");
                return Ok(());
            }
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let span = tracing::info_span!("connection", door = door.name, %peer);
                    tokio::spawn(session(tcp, peer).instrument(span));
                }
                Err(e) => {
                    warn!(door = door.name, %local, error = %e, "accept failed; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn implicit_tls_without_a_certificate_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let door = Door {
            name: "IMAP",
            implicit_tls: true,
            has_tls: false,
        };
        let e = serve(listener, door, std::future::pending(), |_, _| async {})
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("IMAP"), "{e}");
    }

    #[tokio::test]
    async fn runs_a_session_per_connection_until_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let door = Door {
            name: "test",
            implicit_tls: false,
            has_tls: false,
        };
        let server = tokio::spawn(serve(
            listener,
            door,
            async {
                let _ = stop_rx.await;
            },
            move |_, peer| {
                let seen = seen_tx.clone();
                async move {
                    let _ = seen.send(peer);
                }
            },
        ));
        for _ in 0..2 {
            let client = TcpStream::connect(addr).await.unwrap();
            let peer = seen_rx.recv().await.unwrap();
            assert_eq!(peer, client.local_addr().unwrap());
        }
        stop_tx.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
