//! [`Clamd`]: the antivirus port on ClamAV's daemon, over its `INSTREAM` protocol (`man clamd`),
//! by TCP or a unix socket.
//!
//! Why our own client: the protocol is a command, length-prefixed chunks and one reply line,
//! a few dozen lines on tokio; owning them keeps the engine free of another dependency and,
//! above all, puts every failure path in our hands. The spec requires a scan (§9.6) and a
//! certification must never stand on a message nobody scanned, so anything short of a clear
//! `OK` or `FOUND` from clamd — refused connection, timeout, a message over clamd's
//! `StreamMaxLength`, an `ERROR` reply, a reply we cannot read — is a [`ScanError`], which the
//! SMTP doors turn into a temporary failure (451): the client retries later.
//!
//! One connection per scan: `zINSTREAM\0`, then chunks of at most [`CHUNK_SIZE`] bytes, each
//! preceded by its length as a 4-byte big-endian integer, then a zero-length chunk; clamd
//! answers `stream: OK\0`, `stream: <name> FOUND\0` or `<reason> ERROR\0`. clamd may answer
//! before the end of the stream (`INSTREAM size limit exceeded. ERROR`) and close the
//! connection: the reply is read while the message is being sent, and wins over the failed
//! write it causes.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use super::{Antivirus, ScanError, Verdict};

/// The largest chunk sent at once (clamd's own clients use similar sizes).
pub const CHUNK_SIZE: usize = 64 * 1024;

/// The longest reply we read: clamd's are one short line.
const MAX_REPLY: usize = 4096;

/// How long to wait for clamd's explanation after it stopped reading the stream (at most the
/// timeout).
const GRACE: Duration = Duration::from_secs(2);

/// Where clamd listens: `tcp:HOST:PORT` or `unix:/path/to/clamd.ctl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    /// `host:port`, as given (a name is resolved at every connection).
    Tcp(String),
    Unix(PathBuf),
}

/// Why a clamd address could not be read.
#[derive(Debug, thiserror::Error)]
#[error("clamd address {0:?}: expected tcp:HOST:PORT or unix:/PATH")]
pub struct BadAddress(pub String);

impl FromStr for ClamdAddress {
    type Err = BadAddress;

    fn from_str(s: &str) -> Result<ClamdAddress, BadAddress> {
        let bad = || BadAddress(s.to_string());
        if let Some(hostport) = s.strip_prefix("tcp:") {
            let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(bad());
            }
            Ok(ClamdAddress::Tcp(hostport.to_string()))
        } else if let Some(path) = s.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(bad());
            }
            Ok(ClamdAddress::Unix(PathBuf::from(path)))
        } else {
            Err(bad())
        }
    }
}

impl fmt::Display for ClamdAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClamdAddress::Tcp(hostport) => write!(f, "tcp:{hostport}"),
            ClamdAddress::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A clamd daemon, as the engine's [`Antivirus`].
#[derive(Debug, Clone)]
pub struct Clamd {
    address: ClamdAddress,
    timeout: Duration,
}

/// A connection to clamd, whatever the socket.
trait Connection: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Connection for T {}

impl Clamd {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// clamd at `address`, with the default timeout of 30 s.
    pub fn new(address: ClamdAddress) -> Clamd {
        Clamd {
            address,
            timeout: Clamd::DEFAULT_TIMEOUT,
        }
    }

    /// How long any one step may take: connecting, sending one chunk, and waiting for the
    /// verdict once the whole message is sent (clamd scans it in that time).
    pub fn with_timeout(mut self, timeout: Duration) -> Clamd {
        self.timeout = timeout;
        self
    }

    pub fn address(&self) -> &ClamdAddress {
        &self.address
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Health check: `PING`, expecting `PONG`.
    pub async fn ping(&self) -> Result<(), ScanError> {
        match self.command("PING").await?.as_str() {
            "PONG" => Ok(()),
            other => Err(self.error(format!("PING answered {other:?} instead of PONG"))),
        }
    }

    /// clamd's `VERSION` line: program, database version and date.
    pub async fn version(&self) -> Result<String, ScanError> {
        self.command("VERSION").await
    }

    /// A one-line command (`PING`, `VERSION`) and its reply.
    async fn command(&self, name: &str) -> Result<String, ScanError> {
        let mut conn = self.connect().await?;
        let request = format!("z{name}\0");
        self.step(
            &format!("sending {name}"),
            conn.write_all(request.as_bytes()),
        )
        .await?;
        let reply = self
            .step(
                &format!("waiting for the {name} reply"),
                read_reply(&mut conn),
            )
            .await?;
        Ok(reply)
    }

    async fn connect(&self) -> Result<Box<dyn Connection>, ScanError> {
        let conn: Box<dyn Connection> = match &self.address {
            ClamdAddress::Tcp(hostport) => {
                let s = self
                    .step(
                        "connecting",
                        tokio::net::TcpStream::connect(hostport.as_str()),
                    )
                    .await?;
                let _ = s.set_nodelay(true);
                Box::new(s)
            }
            #[cfg(unix)]
            ClamdAddress::Unix(path) => Box::new(
                self.step("connecting", tokio::net::UnixStream::connect(path))
                    .await?,
            ),
            #[cfg(not(unix))]
            ClamdAddress::Unix(_) => {
                return Err(self.error("unix sockets are not supported on this platform"));
            }
        };
        Ok(conn)
    }

    /// One I/O step under the timeout.
    async fn step<T>(
        &self,
        what: &str,
        io: impl Future<Output = std::io::Result<T>>,
    ) -> Result<T, ScanError> {
        match timeout(self.timeout, io).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(format!("{what}: {e}"))),
            Err(_) => Err(self.error(format!(
                "{what}: no progress in {} s",
                self.timeout.as_secs_f64()
            ))),
        }
    }

    fn error(&self, what: impl fmt::Display) -> ScanError {
        ScanError(format!("clamd at {}: {what}", self.address))
    }

    /// Streams `message` and reads the verdict.
    async fn instream(&self, message: &[u8]) -> Result<Verdict, ScanError> {
        let conn = self.connect().await?;
        let (mut rx, mut tx) = tokio::io::split(conn);
        let send = async {
            self.step("sending INSTREAM", tx.write_all(b"zINSTREAM\0"))
                .await?;
            let mut frame = Vec::with_capacity(CHUNK_SIZE + 4);
            for chunk in message.chunks(CHUNK_SIZE).chain(std::iter::once(&[][..])) {
                frame.clear();
                frame.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
                frame.extend_from_slice(chunk);
                self.step("sending the message", tx.write_all(&frame))
                    .await?;
            }
            self.step("sending the message", tx.flush()).await
        };
        let reply = read_reply(&mut rx);
        tokio::pin!(send, reply);
        tokio::select! {
            biased;
            // clamd spoke before the end of the stream: it stopped reading.
            early = &mut reply => {
                let text = early.map_err(|e| self.error(format!("reading the reply: {e}")))?;
                return match self.verdict(&text, message.len())? {
                    Verdict::Clean => Err(self.error(format!(
                        "answered {text:?} before the end of the stream"
                    ))),
                    infected => Ok(infected),
                };
            }
            sent = &mut send => {
                if let Err(e) = sent {
                    // Most likely clamd closed the connection; it may have said why. Whatever
                    // it said, the message was not all scanned: an error either way.
                    if let Ok(Ok(text)) = timeout(GRACE.min(self.timeout), &mut reply).await
                        && let Err(explained) = self.verdict(&text, message.len())
                        && !text.is_empty()
                    {
                        return Err(explained);
                    }
                    return Err(e);
                }
            }
        }
        let text = self.step("waiting for the verdict", &mut reply).await?;
        self.verdict(&text, message.len())
    }

    /// Reads clamd's reply to INSTREAM. Anything but `OK` or `FOUND` is an error.
    fn verdict(&self, reply: &str, size: usize) -> Result<Verdict, ScanError> {
        if reply.is_empty() {
            return Err(self.error("closed the connection without a verdict"));
        }
        if reply.contains("size limit exceeded") {
            return Err(self.error(format!(
                "the message ({size} bytes) is larger than clamd's StreamMaxLength ({reply}): \
                 raise StreamMaxLength in clamd.conf above the largest message accepted"
            )));
        }
        if reply.ends_with("ERROR") {
            return Err(self.error(format!("scan failed: {reply}")));
        }
        match reply.strip_prefix("stream: ") {
            Some("OK") => Ok(Verdict::Clean),
            Some(found) => match found.strip_suffix(" FOUND") {
                Some(name) if !name.trim().is_empty() => Ok(Verdict::Infected(name.to_string())),
                _ => Err(self.error(format!("unexpected reply {reply:?}"))),
            },
            None => Err(self.error(format!("unexpected reply {reply:?}"))),
        }
    }
}

/// One reply: up to the NUL that ends it (we send `z` commands), or to the end of the
/// connection. Trailing NULs and white space are dropped.
async fn read_reply<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<String> {
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if reply.contains(&0) {
            break;
        }
        if reply.len() > MAX_REPLY {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("reply longer than {MAX_REPLY} bytes"),
            ));
        }
    }
    let end = reply.iter().position(|&b| b == 0).unwrap_or(reply.len());
    Ok(String::from_utf8_lossy(&reply[..end]).trim().to_string())
}

#[async_trait]
impl Antivirus for Clamd {
    async fn scan(&self, message: &[u8]) -> Result<Verdict, ScanError> {
        self.instream(message).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            "tcp:127.0.0.1:3310".parse::<ClamdAddress>().unwrap(),
            ClamdAddress::Tcp("127.0.0.1:3310".into())
        );
        assert_eq!(
            "tcp:clamav.internal:3310".parse::<ClamdAddress>().unwrap(),
            ClamdAddress::Tcp("clamav.internal:3310".into())
        );
        assert_eq!(
            "tcp:[::1]:3310".parse::<ClamdAddress>().unwrap(),
            ClamdAddress::Tcp("[::1]:3310".into())
        );
        assert_eq!(
            "unix:/run/clamav/clamd.ctl"
                .parse::<ClamdAddress>()
                .unwrap(),
            ClamdAddress::Unix("/run/clamav/clamd.ctl".into())
        );
        for bad in [
            "127.0.0.1:3310",
            "tcp:127.0.0.1",
            "tcp:127.0.0.1:0",
            "tcp::3310",
            "tcp:host:port",
            "unix:clamd.ctl",
            "",
        ] {
            assert!(bad.parse::<ClamdAddress>().is_err(), "{bad}");
        }
        for s in ["tcp:127.0.0.1:3310", "unix:/run/clamav/clamd.ctl"] {
            assert_eq!(s.parse::<ClamdAddress>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn replies() {
        let c = Clamd::new("tcp:127.0.0.1:3310".parse().unwrap());
        assert_eq!(c.verdict("stream: OK", 1).unwrap(), Verdict::Clean);
        assert_eq!(
            c.verdict("stream: Eicar-Test-Signature FOUND", 1).unwrap(),
            Verdict::Infected("Eicar-Test-Signature".into())
        );
        for bad in [
            "",
            "stream: FOUND",
            "stream: ",
            "stream: OKAY",
            "OK",
            "PONG",
            "INSTREAM size limit exceeded. ERROR",
            "stream: Can't allocate memory ERROR",
        ] {
            let e = c.verdict(bad, 10).unwrap_err();
            assert!(e.0.starts_with("clamd at tcp:127.0.0.1:3310: "), "{e}");
        }
        assert!(
            c.verdict("INSTREAM size limit exceeded. ERROR", 10)
                .unwrap_err()
                .0
                .contains("StreamMaxLength")
        );
    }

    #[tokio::test]
    async fn replies_end_at_nul_or_eof() {
        let mut r: &[u8] = b"stream: OK\0trailing";
        assert_eq!(read_reply(&mut r).await.unwrap(), "stream: OK");
        let mut r: &[u8] = b"PONG\n";
        assert_eq!(read_reply(&mut r).await.unwrap(), "PONG");
        let mut r: &[u8] = b"";
        assert_eq!(read_reply(&mut r).await.unwrap(), "");
        let long = vec![b'x'; MAX_REPLY + 600];
        let mut r: &[u8] = &long;
        assert!(read_reply(&mut r).await.is_err());
    }
}
