//! The accept loop every door of a gestore shares (SMTP submission and MX, IMAP, POP3): it
//! checks that an implicit-TLS listener has a certificate, runs each connection in its own
//! task inside a tracing span that names the door and the peer, retries after a failed
//! `accept` (out of file descriptors, say) instead of giving up, and stops accepting when
//! told to, then gives the sessions under way [`GRACE`] to finish before it cuts them, so a
//! message in the middle of its DATA when systemd sends SIGTERM is still taken. The protocols
//! live in their own crates; only this part was the same in all of them.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tracing::{Instrument, info, warn};

/// Pause after a failed `accept` before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long sessions under way may go on after the door stops accepting: well inside
/// systemd's default stop timeout (90 s), long enough for a large DATA on a slow link.
pub const GRACE: Duration = Duration::from_secs(30);

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
/// for each in its own task. Sessions already running then have [`GRACE`] to finish; those
/// still running after it are cut. The only errors returned are a listener whose address
/// cannot be read and a door that cannot work (implicit TLS without a TLS configuration).
pub async fn serve<S, F>(
    listener: TcpListener,
    door: Door,
    shutdown: impl Future<Output = ()> + Send,
    session: S,
) -> std::io::Result<()>
where
    S: FnMut(TcpStream, SocketAddr) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    serve_for(listener, door, shutdown, session, GRACE).await
}

/// [`serve`] with a grace period of `grace`.
async fn serve_for<S, F>(
    listener: TcpListener,
    door: Door,
    shutdown: impl Future<Output = ()> + Send,
    mut session: S,
    grace: Duration,
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
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            // Finished sessions are reaped as they end, so the set holds only live ones.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let span = tracing::info_span!("connection", door = door.name, %peer);
                    sessions.spawn(session(tcp, peer).instrument(span));
                }
                Err(e) => {
                    warn!(door = door.name, %local, error = %e, "accept failed; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
    drop(listener);
    let live = sessions.len();
    info!(door = door.name, %local, live, "listener stopped; sessions under way may finish");
    let finished = tokio::time::timeout(grace, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        warn!(door = door.name, %local, cut = sessions.len(), "grace period over: sessions cut");
        sessions.shutdown().await;
    }
    Ok(())
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

    #[tokio::test]
    async fn at_shutdown_sessions_under_way_finish_and_only_a_stuck_one_is_cut() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
        let door = Door {
            name: "test",
            implicit_tls: false,
            has_tls: false,
        };
        // The first session finishes when its client says so; the second never does.
        let mut n = 0;
        let server = tokio::spawn(serve_for(
            listener,
            door,
            async {
                let _ = stop_rx.await;
            },
            move |mut tcp, _| {
                n += 1;
                let (started, done) = (started_tx.clone(), done_tx.clone());
                let stuck = n == 2;
                async move {
                    use tokio::io::AsyncReadExt;
                    let _ = started.send(());
                    if stuck {
                        std::future::pending::<()>().await;
                    }
                    let mut byte = [0u8; 1];
                    let _ = tcp.read(&mut byte).await;
                    let _ = done.send(byte[0]);
                }
            },
            Duration::from_secs(2),
        ));
        let mut first = TcpStream::connect(addr).await.unwrap();
        started_rx.recv().await.unwrap();
        let _second = TcpStream::connect(addr).await.unwrap();
        started_rx.recv().await.unwrap();
        stop_tx.send(()).unwrap();
        // The session under way still completes its work after the stop...
        use tokio::io::AsyncWriteExt;
        first.write_all(b"x").await.unwrap();
        assert_eq!(done_rx.recv().await, Some(b'x'));
        // ...the stuck one is cut when the grace period ends, and the door returns, closed.
        server.await.unwrap().unwrap();
        assert!(TcpStream::connect(addr).await.is_err());
    }
}
