//! The listener: accepts connections, runs a [`Session`] per connection in its own task,
//! and does the TLS of each (implicit on the pop3s port, or after STLS).

use std::future::Future;
use std::sync::Arc;

use engine::Engine;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

use crate::ServerConfig;
use crate::session::{Next, Session};
use crate::wire::{Wire, WireError};

/// Accepts connections on `listener` until `shutdown` resolves, running each POP3 session
/// in its own task. Sessions already running are left to finish. Errors from `accept` are
/// logged and retried after a short pause; the only errors returned are a listener whose
/// address cannot be read and a configuration that cannot work (implicit TLS without a TLS
/// configuration).
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    engine: Arc<Engine>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let door = listener::Door {
        name: "POP3",
        implicit_tls: config.implicit_tls,
        has_tls: config.tls.is_some(),
    };
    listener::serve(listener, door, shutdown, |tcp, _peer| {
        run_connection(tcp, config.clone(), engine.clone())
    })
    .await
}

/// One connection, from accept to close.
async fn run_connection(tcp: TcpStream, config: Arc<ServerConfig>, engine: Arc<Engine>) {
    // Replies are small and latency matters more than packet count.
    let _ = tcp.set_nodelay(true);
    info!("connection opened");
    let mut session = Session::new(&config, &engine);
    let Some(tls) = config.tls.clone() else {
        converse(&mut session, Wire::new(tcp, config.idle_timeout), true).await;
        return;
    };
    let tcp = if config.implicit_tls {
        tcp
    } else {
        let wire = Wire::new(tcp, config.idle_timeout);
        let Some(wire) = converse(&mut session, wire, true).await else {
            return;
        };
        match wire.into_stream().await {
            Ok((tcp, 0)) => tcp,
            Ok((tcp, dropped)) => {
                warn!(dropped, "discarded plaintext pipelined after STLS");
                tcp
            }
            Err(e) => {
                info!(error = %e, "connection lost before STLS");
                return;
            }
        }
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let stream = match tokio::time::timeout(config.idle_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            info!(error = %e, "TLS handshake failed; closing");
            return;
        }
        Err(_) => {
            info!("TLS handshake timed out; closing");
            return;
        }
    };
    info!("TLS established");
    session.tls_started();
    converse(
        &mut session,
        Wire::new(stream, config.idle_timeout),
        config.implicit_tls,
    )
    .await;
}

/// Greets (a connection's first wire only: not after STLS) and runs the session until it
/// ends; returns the wire when the client asked for TLS.
async fn converse<S>(session: &mut Session<'_>, mut wire: Wire<S>, greet: bool) -> Option<Wire<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if greet && let Err(e) = session.greeting().send(&mut wire).await {
        info!(error = %e, "connection lost before the greeting");
        return None;
    }
    match session.run(&mut wire).await {
        Ok(Next::StartTls) => return Some(wire),
        Ok(Next::Close(reason)) => info!(reason, "connection closed"),
        // RFC 1939 §3: on the autologout timer the server closes without a response and
        // without entering the UPDATE state.
        Err(WireError::Timeout(after)) => info!(?after, "idle timeout; closing"),
        Err(WireError::Eof) => info!("connection closed by the client"),
        Err(WireError::Io(e)) => {
            info!(error = %e, "connection failed");
            return None;
        }
    }
    wire.close().await;
    None
}
