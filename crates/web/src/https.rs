//! HTTPS only: each connection accepted by [`listener::serve`] (the accept loop every door
//! shares) does its TLS handshake with the provider's certificate, then speaks HTTP/1.1 or
//! HTTP/2 (by ALPN) to the [`crate::router`]. The peer's address travels with each request
//! as [`ClientAddr`], for the login throttle.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tracing::debug;

use crate::WebState;

/// The address of the client that sent a request.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Serves the web door on `listener` until `shutdown` resolves; requests already under way
/// finish. `tls` is the provider's server configuration (the one the other doors use); the
/// ALPN list is set here.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: WebState,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut tls = (*tls).clone();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let app = crate::router(state);
    let door = listener::Door {
        name: "web",
        implicit_tls: true,
        has_tls: true,
    };
    listener::serve(listener, door, shutdown, move |tcp, peer| {
        let acceptor = acceptor.clone();
        let app = app.clone();
        async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    debug!(error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = app.map_request(move |req: hyper::Request<Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ClientAddr(peer));
                req
            });
            let served = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await;
            if let Err(e) = served {
                debug!(error = %e, "HTTP connection ended with an error");
            }
        }
    })
    .await
}
