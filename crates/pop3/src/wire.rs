//! The byte pipe of one POP3 connection: a stream (plain TCP, or TLS after STLS or on the
//! implicit-TLS port) with buffered input and output, command lines capped in length, and
//! the idle timeout on every network wait.
//!
//! Output is written out only when the session is about to wait for input (or is closing),
//! so the answers to a batch of pipelined commands (RFC 2449 PIPELINING) go out together.
//! The wire is generic over the stream so that STLS can take the TCP stream back, with the
//! input still buffered, and start TLS on it.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::time::timeout;

/// How much of a long answer must leave within one idle timeout.
const SEND_CHUNK: usize = 64 * 1024;

/// Why the pipe stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    #[error("connection closed by the client")]
    Eof,
    #[error("no activity for {0:?}")]
    Timeout(Duration),
    #[error("network failure: {0}")]
    Io(#[from] io::Error),
}

/// One line read by [`Wire::read_line`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// The line without its terminator (CRLF, or a bare LF).
    Complete(Vec<u8>),
    /// The line was longer than allowed; it has been read to its end and thrown away.
    TooLong,
}

/// A stream with buffers and a timeout.
pub(crate) struct Wire<S> {
    stream: BufReader<BufWriter<S>>,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    pub(crate) fn new(stream: S, timeout: Duration) -> Self {
        Wire {
            stream: BufReader::new(BufWriter::new(stream)),
            timeout,
        }
    }

    /// Queues bytes to send; they go out before the next wait for input, or earlier when
    /// the output buffer fills up. The timeout is for a client that stopped reading, not
    /// for a slow one: it applies to each chunk of a long message, not to the whole.
    pub(crate) async fn send(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        for chunk in bytes.chunks(SEND_CHUNK) {
            timed(self.timeout, self.stream.write_all(chunk)).await?;
        }
        Ok(())
    }

    /// Writes out everything queued.
    pub(crate) async fn flush(&mut self) -> Result<(), WireError> {
        timed(self.timeout, self.stream.flush()).await
    }

    /// Reads one line. A line whose content (without its terminator) is longer than `max`
    /// is read to its end and discarded, without ever holding more than about `max` bytes
    /// of it.
    pub(crate) async fn read_line(&mut self, max: usize) -> Result<Line, WireError> {
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            if self.stream.buffer().is_empty() {
                self.flush().await?;
            }
            let available = timed(self.timeout, self.stream.fill_buf()).await?;
            if available.is_empty() {
                return Err(WireError::Eof);
            }
            let (taken, complete) = match available.iter().position(|&b| b == b'\n') {
                Some(lf) => (lf + 1, true),
                None => (available.len(), false),
            };
            if !too_long {
                line.extend_from_slice(&available[..taken]);
                // Room for the content and its CRLF; anything beyond is over the limit.
                too_long = line.len() > max.saturating_add(2);
                if too_long {
                    line = Vec::new();
                }
            }
            self.stream.consume(taken);
            if complete {
                if too_long {
                    return Ok(Line::TooLong);
                }
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(if line.len() > max {
                    Line::TooLong
                } else {
                    Line::Complete(line)
                });
            }
        }
    }

    /// Sends what is queued, then gives the stream back for a TLS handshake, with the
    /// number of input bytes that were still buffered. Those bytes arrived in plaintext
    /// after STLS and are dropped: they must not be taken as coming from inside TLS
    /// (RFC 2595 §4, the STARTTLS injection of CVE-2011-0411).
    pub(crate) async fn into_stream(mut self) -> Result<(S, usize), WireError> {
        self.flush().await?;
        let dropped = self.stream.buffer().len();
        Ok((self.stream.into_inner().into_inner(), dropped))
    }

    /// Flushes and closes the connection politely (TLS close_notify, TCP FIN); errors are
    /// irrelevant at this point and ignored.
    pub(crate) async fn close(mut self) {
        let _ = self.flush().await;
        let _ = timed(self.timeout, self.stream.get_mut().shutdown()).await;
    }
}

/// Applies the idle timeout to one network operation.
async fn timed<T>(
    limit: Duration,
    op: impl Future<Output = io::Result<T>>,
) -> Result<T, WireError> {
    match timeout(limit, op).await {
        Err(_) => Err(WireError::Timeout(limit)),
        Ok(result) => Ok(result?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(input: &[u8]) -> Wire<tokio::io::DuplexStream> {
        let (client, server) = tokio::io::duplex(64);
        let input = input.to_vec();
        tokio::spawn(async move {
            let mut client = client;
            client.write_all(&input).await.unwrap();
            client.shutdown().await.unwrap();
            // Keep reading until the server side is done.
            let mut sink = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut client, &mut sink).await;
        });
        Wire::new(server, Duration::from_secs(5))
    }

    #[tokio::test]
    async fn lines_end_at_crlf_or_bare_lf() {
        let mut w = wire(b"STAT\r\nNOOP\nQUIT\r\n");
        assert_eq!(
            w.read_line(10).await.unwrap(),
            Line::Complete(b"STAT".to_vec())
        );
        assert_eq!(
            w.read_line(10).await.unwrap(),
            Line::Complete(b"NOOP".to_vec())
        );
        assert_eq!(
            w.read_line(10).await.unwrap(),
            Line::Complete(b"QUIT".to_vec())
        );
    }

    #[tokio::test]
    async fn an_overlong_line_is_discarded_to_its_end() {
        let mut input = vec![b'x'; 1000];
        input.extend_from_slice(b"\r\n12345678\r\n123456789\r\nNOOP\r\n");
        let mut w = wire(&input);
        assert_eq!(w.read_line(8).await.unwrap(), Line::TooLong);
        assert_eq!(
            w.read_line(8).await.unwrap(),
            Line::Complete(b"12345678".to_vec())
        );
        assert_eq!(w.read_line(8).await.unwrap(), Line::TooLong);
        assert_eq!(
            w.read_line(8).await.unwrap(),
            Line::Complete(b"NOOP".to_vec())
        );
        assert!(matches!(w.read_line(8).await, Err(WireError::Eof)));
    }

    #[tokio::test]
    async fn a_silent_client_times_out() {
        let (_client, server) = tokio::io::duplex(64);
        let mut w = Wire::new(server, Duration::from_millis(50));
        assert!(matches!(w.read_line(8).await, Err(WireError::Timeout(_))));
    }
}
