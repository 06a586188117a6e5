//! The byte pipe of one IMAP connection: a TCP stream that may have switched to TLS, the
//! [`Framer`] that cuts its input into commands, an output buffer, and a timeout on every
//! network wait (the autologout timer: RFC 3501 §5.4).
//!
//! Responses are queued and written when the session is about to wait for input, so the
//! answers to pipelined commands go out together.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use imap_codec::imap_types::response::Response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::server::TlsStream;

use crate::framing::{Frame, Framer, RawLine};
use crate::reply;

/// How much to ask the socket for at a time.
const READ_CHUNK: usize = 64 * 1024;
/// Queued output above which a long response (a big FETCH) is written out before going on.
const OUTPUT_HIGH_WATER: usize = 256 * 1024;

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Why the pipe stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IoError {
    #[error("the client closed the connection")]
    Eof,
    #[error("nothing happened for the autologout time")]
    Timeout,
    #[error("network: {0}")]
    Net(#[from] io::Error),
    /// Not an I/O fault: the login no longer holds (`Engine::rinnova`), the session ends.
    #[error("the login no longer holds")]
    Revoked,
}

/// A connection with its framer, output buffer and timeout.
pub(crate) struct Io {
    stream: Stream,
    pub(crate) framer: Framer,
    /// Where each read lands before the framer takes it.
    scratch: Vec<u8>,
    output: Vec<u8>,
    timeout: Duration,
}

impl Io {
    pub(crate) fn new(tcp: TcpStream, framer: Framer, timeout: Duration) -> Io {
        Io {
            stream: Stream::Plain(tcp),
            framer,
            scratch: vec![0; READ_CHUNK],
            output: Vec::new(),
            timeout,
        }
    }

    /// Queues a response (encoded by imap-codec).
    pub(crate) fn send(&mut self, response: &Response<'_>) {
        self.output.extend_from_slice(&reply::encode(response));
    }

    /// Queues bytes imap-codec encoded elsewhere (the greeting).
    pub(crate) fn send_encoded(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    /// Writes everything queued.
    pub(crate) async fn flush(&mut self) -> Result<(), IoError> {
        if self.output.is_empty() {
            return Ok(());
        }
        let write = async {
            match &mut self.stream {
                Stream::Plain(s) => {
                    s.write_all(&self.output).await?;
                    s.flush().await
                }
                Stream::Tls(s) => {
                    s.write_all(&self.output).await?;
                    s.flush().await
                }
            }
        };
        match timeout(self.timeout, write).await {
            Err(_) => Err(IoError::Timeout),
            Ok(Err(e)) => Err(IoError::Net(e)),
            Ok(Ok(())) => {
                self.output.clear();
                Ok(())
            }
        }
    }

    /// Writes the queued output if a lot of it is waiting.
    pub(crate) async fn flush_if_large(&mut self) -> Result<(), IoError> {
        if self.output.len() >= OUTPUT_HIGH_WATER {
            self.flush().await?;
        }
        Ok(())
    }

    /// Reads what the client sent next into the framer. Cancel-safe (nothing read is lost if
    /// the future is dropped), with no timeout and no flush: for IDLE's `select!`.
    pub(crate) async fn receive(&mut self) -> Result<(), IoError> {
        let n = match &mut self.stream {
            Stream::Plain(s) => s.read(&mut self.scratch).await?,
            Stream::Tls(s) => s.read(&mut self.scratch).await?,
        };
        if n == 0 {
            return Err(IoError::Eof);
        }
        self.framer.push(&self.scratch[..n]);
        Ok(())
    }

    /// Flushes, then waits (at most the timeout) for more input.
    async fn fill(&mut self) -> Result<(), IoError> {
        self.flush().await?;
        let limit = self.timeout;
        timeout(limit, self.receive())
            .await
            .map_err(|_| IoError::Timeout)?
    }

    /// The next frame of client input.
    pub(crate) async fn next_frame(&mut self) -> Result<Frame, IoError> {
        loop {
            if let Some(frame) = self.framer.next_frame() {
                return Ok(frame);
            }
            self.fill().await?;
        }
    }

    /// The next raw line (AUTHENTICATE's answer).
    pub(crate) async fn next_line(&mut self) -> Result<RawLine, IoError> {
        loop {
            if let Some(line) = self.framer.next_line() {
                return Ok(line);
            }
            self.fill().await?;
        }
    }

    /// Server side of STARTTLS (after the tagged OK is queued) or of an implicit-TLS
    /// listener: flushes, drops any plaintext the client pipelined after the command (RFC
    /// 9051 §11.1: it must not be taken as coming from inside TLS), and does the handshake.
    /// Returns the connection inside TLS and the number of plaintext bytes dropped.
    pub(crate) async fn start_tls(
        mut self,
        config: Arc<rustls::ServerConfig>,
    ) -> Result<(Io, usize), IoError> {
        self.flush().await?;
        let dropped = self.framer.discard();
        let Stream::Plain(tcp) = self.stream else {
            return Err(IoError::Net(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the connection is already TLS",
            )));
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let tls = timeout(self.timeout, acceptor.accept(tcp))
            .await
            .map_err(|_| IoError::Timeout)??;
        let io = Io {
            stream: Stream::Tls(Box::new(tls)),
            framer: self.framer,
            scratch: self.scratch,
            output: Vec::new(),
            timeout: self.timeout,
        };
        Ok((io, dropped))
    }

    /// Flushes and closes the connection politely (TLS close_notify, TCP FIN); errors no
    /// longer matter here.
    pub(crate) async fn close(mut self) {
        let _ = self.flush().await;
        let limit = self.timeout;
        let _ = match &mut self.stream {
            Stream::Plain(s) => timeout(limit, s.shutdown()).await,
            Stream::Tls(s) => timeout(limit, s.shutdown()).await,
        };
    }
}
