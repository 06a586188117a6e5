//! The byte pipe under both sides: a TCP stream that may have switched to TLS, with an input
//! buffer, an output buffer, line framing with a length cap, and a timeout on every network
//! wait.
//!
//! Output is queued and written only when the session is about to wait for input (or is
//! closing), which is exactly what PIPELINING (RFC 2920) asks of a server: answers to a batch
//! of pipelined commands go out together.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsStream;

/// How much to ask the socket for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// A connection, plain or TLS (either side of the handshake).
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Why the pipe stopped.
#[derive(Debug)]
pub(crate) enum WireError {
    /// The peer closed the connection.
    Eof,
    /// Nothing happened within the timeout.
    Timeout,
    /// The network failed.
    Io(io::Error),
}

/// One line read by [`Wire::read_line`].
pub(crate) enum Line {
    /// The line, terminator (LF or CRLF) included.
    Complete(Vec<u8>),
    /// The line was longer than allowed; it has been read and thrown away.
    TooLong,
}

/// A connection with buffers and a timeout.
pub(crate) struct Wire {
    conn: Conn,
    /// Received bytes; those before `start` are consumed (dropped at the next read, so
    /// consuming many short lines never moves the rest of the buffer each time).
    input: Vec<u8>,
    start: usize,
    output: Vec<u8>,
    timeout: Duration,
}

impl Wire {
    pub(crate) fn new(conn: Conn, timeout: Duration) -> Self {
        Wire {
            conn,
            input: Vec::new(),
            start: 0,
            output: Vec::new(),
            timeout,
        }
    }

    /// Queues bytes to send; they go out at the next [`Wire::flush`] or read.
    pub(crate) fn queue(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    /// Writes everything queued.
    pub(crate) async fn flush(&mut self) -> Result<(), WireError> {
        if self.output.is_empty() {
            return Ok(());
        }
        let write = async {
            self.conn.write_all(&self.output).await?;
            self.conn.flush().await
        };
        match timeout(self.timeout, write).await {
            Err(_) => Err(WireError::Timeout),
            Ok(Err(e)) => Err(WireError::Io(e)),
            Ok(Ok(())) => {
                self.output.clear();
                Ok(())
            }
        }
    }

    /// Writes `bytes` directly (after anything queued), with the timeout applied per call.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        self.queue(bytes);
        self.flush().await
    }

    /// Flushes the output, then waits for more input.
    pub(crate) async fn fill(&mut self) -> Result<(), WireError> {
        self.flush().await?;
        self.input.drain(..self.start);
        self.start = 0;
        self.input.reserve(READ_CHUNK);
        match timeout(self.timeout, self.conn.read_buf(&mut self.input)).await {
            Err(_) => Err(WireError::Timeout),
            Ok(Err(e)) => Err(WireError::Io(e)),
            Ok(Ok(0)) => Err(WireError::Eof),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// The bytes received and not consumed yet.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.input[self.start..]
    }

    /// Drops the first `n` buffered input bytes.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.input.len());
    }

    /// Reads one line. A line whose content (without CRLF) is longer than `max` is read to
    /// its end and discarded, without ever holding more than about `max` bytes of it.
    pub(crate) async fn read_line(&mut self, max: usize) -> Result<Line, WireError> {
        let mut discarding = false;
        loop {
            if let Some(lf) = self.buffered().iter().position(|&b| b == b'\n') {
                let line = &self.buffered()[..=lf];
                let content = line.len() - 1 - usize::from(line.ends_with(b"\r\n"));
                let line = (!discarding && content <= max).then(|| line.to_vec());
                self.consume(lf + 1);
                return Ok(line.map_or(Line::TooLong, Line::Complete));
            }
            if self.buffered().len() > max.saturating_add(1) {
                discarding = true;
                self.consume(self.buffered().len());
            }
            self.fill().await?;
        }
    }

    /// Sends what is queued, then gives up the TCP stream for a TLS handshake. Input that
    /// arrived after the STARTTLS command is dropped: it was sent in plaintext and must not
    /// be taken as coming from inside TLS (RFC 3207 §4.2, CVE-2011-0411); the number of
    /// bytes dropped is returned for the log. Fails if the connection is already TLS.
    async fn into_tcp(mut self) -> Result<(TcpStream, usize), WireError> {
        self.flush().await?;
        match self.conn {
            Conn::Plain(tcp) => Ok((tcp, self.input.len() - self.start)),
            Conn::Tls(_) => Err(WireError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "connection is already TLS",
            ))),
        }
    }

    /// Server side of STARTTLS (or of an implicit-TLS listener).
    pub(crate) async fn accept_tls(
        self,
        config: Arc<rustls::ServerConfig>,
    ) -> Result<(Wire, usize), WireError> {
        let limit = self.timeout;
        let (tcp, dropped) = self.into_tcp().await?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        match timeout(limit, acceptor.accept(tcp)).await {
            Err(_) => Err(WireError::Timeout),
            Ok(Err(e)) => Err(WireError::Io(e)),
            Ok(Ok(tls)) => Ok((
                Wire::new(Conn::Tls(Box::new(TlsStream::Server(tls))), limit),
                dropped,
            )),
        }
    }

    /// Client side of STARTTLS.
    pub(crate) async fn connect_tls(
        self,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<Wire, WireError> {
        let limit = self.timeout;
        let (tcp, _) = self.into_tcp().await?;
        let connector = tokio_rustls::TlsConnector::from(config);
        match timeout(limit, connector.connect(name, tcp)).await {
            Err(_) => Err(WireError::Timeout),
            Ok(Err(e)) => Err(WireError::Io(e)),
            Ok(Ok(tls)) => Ok(Wire::new(
                Conn::Tls(Box::new(TlsStream::Client(tls))),
                limit,
            )),
        }
    }

    /// Flushes and closes the connection politely (TLS close_notify, TCP FIN); errors are
    /// irrelevant at this point and ignored.
    pub(crate) async fn close(mut self) {
        let limit = self.timeout;
        let _ = self.flush().await;
        let _ = timeout(limit, self.conn.shutdown()).await;
    }
}
