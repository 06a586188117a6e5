//! The relay's SMTP client: one transaction to a peer's punto di ricezione (or to our own MX
//! door, spec §1 invariant 4), with STARTTLS mandatory between providers (spec §4.2, §9.5).
//!
//! The client is deliberately sequential (no PIPELINING): a relay sends a handful of
//! recipients per message and clarity about which reply answered which command matters more
//! than a round trip.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::pki_types::ServerName;
use smtp_proto::response::parser::ResponseReceiver;
use smtp_proto::{EXT_8BIT_MIME, EXT_SIZE, EXT_START_TLS, EhloResponse};
use tokio::net::TcpStream;
use tracing::debug;

use crate::SmtpError;
use crate::data::dot_stuff;
use crate::reply::{Outcome, Reply};
use crate::server::Envelope;
use crate::wire::{Conn, Line, Wire, WireError};

/// Longest reply line we accept from a server.
const MAX_REPLY_LINE: usize = 4096;
/// Most lines in one (multi-line) reply.
const MAX_REPLY_LINES: usize = 256;
/// The message is written in pieces of this size, each under the timeout.
const WRITE_CHUNK: usize = 64 * 1024;

/// How the relay talks to peers.
#[derive(Clone)]
pub struct ClientConfig {
    /// Our name for EHLO/HELO.
    pub helo: String,
    /// TLS settings, including the CAs trusted for peers' certificates
    /// (see [`tls_client_config`](crate::tls_client_config)).
    pub tls: Arc<rustls::ClientConfig>,
    /// PEC between providers: STARTTLS mandatory. When true, a peer that does not offer or
    /// refuses STARTTLS gets nothing and [`send`] returns an error.
    pub require_tls: bool,
    /// Limit on connecting, on the TLS handshake, and on each wait for a reply or each write.
    pub timeout: Duration,
}

/// The result of one transaction.
///
/// A recipient got the message when its own outcome and `data` are both
/// [`Outcome::Accepted`]. When the server refused the whole transaction before any RCPT
/// (greeting, EHLO/HELO or MAIL FROM refused), every recipient carries that refusal and `data`
/// is `None`; `data` is also `None` when no recipient was accepted.
#[derive(Debug)]
pub struct Delivery {
    /// Each envelope recipient, in order, with the server's answer to its RCPT TO.
    pub per_recipient: Vec<(String, Outcome)>,
    /// The server's answer to DATA (or to the message after it), if DATA was sent.
    pub data: Option<Outcome>,
}

/// What the server's EHLO said, as far as the client cares.
#[derive(Debug, Default)]
struct Capabilities {
    starttls: bool,
    size: bool,
    eight_bit_mime: bool,
}

/// The peer, for error contexts.
struct Peer {
    addr: SocketAddr,
    timeout: Duration,
}

impl Peer {
    fn error(&self, what: &str, e: WireError) -> SmtpError {
        let context = format!("{what} ({})", self.addr);
        match e {
            WireError::Eof => SmtpError::ConnectionClosed { context },
            WireError::Timeout => SmtpError::Timeout {
                context,
                timeout: self.timeout,
            },
            WireError::Io(source) => SmtpError::Io { context, source },
        }
    }

    fn protocol(&self, what: &str, detail: String) -> SmtpError {
        SmtpError::Protocol {
            context: format!("{what} ({})", self.addr),
            detail,
        }
    }

    /// Sends `command` (if any) and reads the reply; returns it with its raw bytes.
    async fn exchange(
        &self,
        wire: &mut Wire,
        command: Option<&str>,
        what: &str,
    ) -> Result<(Reply, Vec<u8>), SmtpError> {
        if let Some(command) = command {
            debug!(peer = %self.addr, command = what, "sending");
            wire.write(format!("{command}\r\n").as_bytes())
                .await
                .map_err(|e| self.error(&format!("sending {what}"), e))?;
        }
        let context = format!("reading reply to {what}");
        let mut raw = Vec::new();
        for _ in 0..MAX_REPLY_LINES {
            let line = match wire.read_line(MAX_REPLY_LINE).await {
                Ok(Line::Complete(line)) => line,
                Ok(Line::TooLong) => {
                    return Err(self.protocol(&context, "reply line too long".to_owned()));
                }
                Err(e) => return Err(self.error(&context, e)),
            };
            let last = line.get(3) != Some(&b'-');
            raw.extend_from_slice(&line);
            if last {
                let response = ResponseReceiver::default()
                    .parse(&mut raw.iter())
                    .map_err(|e| self.protocol(&context, format!("malformed reply: {e:?}")))?;
                if !(200..600).contains(&response.code) {
                    return Err(
                        self.protocol(&context, format!("invalid reply code {}", response.code))
                    );
                }
                let reply = Reply {
                    code: response.code,
                    enhanced: (response.esc != [0, 0, 0]).then(|| {
                        let [class, subject, detail] = response.esc;
                        format!("{class}.{subject}.{detail}")
                    }),
                    text: response.message,
                };
                debug!(peer = %self.addr, command = what, code = reply.code, "reply");
                return Ok((reply, raw));
            }
        }
        Err(self.protocol(&context, "reply has too many lines".to_owned()))
    }

    async fn command(
        &self,
        wire: &mut Wire,
        command: &str,
        what: &str,
    ) -> Result<Reply, SmtpError> {
        Ok(self.exchange(wire, Some(command), what).await?.0)
    }

    /// EHLO, falling back to HELO if EHLO is refused permanently. `Ok(Err(reply))` is the
    /// server refusing both.
    async fn hello(
        &self,
        wire: &mut Wire,
        helo: &str,
    ) -> Result<Result<Capabilities, Reply>, SmtpError> {
        let (reply, raw) = self
            .exchange(wire, Some(&format!("EHLO {helo}")), "EHLO")
            .await?;
        if reply.code == 250 {
            let ehlo = EhloResponse::parse(&mut raw.iter())
                .map_err(|e| self.protocol("reading EHLO reply", format!("malformed: {e:?}")))?;
            return Ok(Ok(Capabilities {
                starttls: ehlo.has_capability(EXT_START_TLS),
                size: ehlo.has_capability(EXT_SIZE),
                eight_bit_mime: ehlo.has_capability(EXT_8BIT_MIME),
            }));
        }
        if reply.code / 100 != 5 {
            return Ok(Err(reply));
        }
        let reply = self.command(wire, &format!("HELO {helo}"), "HELO").await?;
        Ok(if reply.code == 250 {
            Ok(Capabilities::default())
        } else {
            Err(reply)
        })
    }

    /// QUIT and close; the transaction is over, so failures no longer matter.
    async fn quit(&self, mut wire: Wire) {
        let _ = self.exchange(&mut wire, Some("QUIT"), "QUIT").await;
        wire.close().await;
    }
}

/// Refuses characters that would break the command or that no valid address holds.
fn check_address(address: &str) -> Result<(), SmtpError> {
    if address
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
    {
        return Err(SmtpError::InvalidAddress {
            address: address.to_owned(),
        });
    }
    Ok(())
}

/// Every recipient gets the same refusal.
pub(crate) fn refused(envelope: &Envelope, reply: Reply) -> Delivery {
    let outcome = Outcome::from_reply(reply);
    Delivery {
        per_recipient: envelope
            .rcpt_to
            .iter()
            .map(|r| (r.clone(), outcome.clone()))
            .collect(),
        data: None,
    }
}

pub(crate) fn check_envelope(envelope: &Envelope) -> Result<(), SmtpError> {
    check_address(&envelope.mail_from)?;
    envelope.rcpt_to.iter().try_for_each(|r| check_address(r))
}

/// One SMTP transaction on a connection of its own: [`Connection::open`],
/// [`Connection::transaction`], [`Connection::quit`].
///
/// `server_name` is the TLS name to verify (a DNS name or an IP address).
/// Connection/TLS/timeout failures → Err (the relay treats them as temporary); SMTP refusals
/// are [`Outcome`]s in the [`Delivery`]. The message is dot-stuffed on the way out and gets a
/// final CRLF if it lacks one.
pub async fn send(
    addr: SocketAddr,
    server_name: &str,
    config: &ClientConfig,
    envelope: &Envelope,
    message: &[u8],
) -> Result<Delivery, SmtpError> {
    check_envelope(envelope)?;
    let mut connection = match Connection::open(addr, server_name, config).await? {
        Ok(connection) => connection,
        Err(reply) => return Ok(refused(envelope, reply)),
    };
    let delivery = connection.transaction(envelope, message).await?;
    connection.quit().await;
    Ok(delivery)
}

/// An open SMTP session: greeted, EHLO'd, and under TLS when the server offered STARTTLS.
/// It carries any number of transactions one after another; a submission client
/// authenticates first ([`Connection::authenticate`]).
pub struct Connection {
    peer: Peer,
    wire: Wire,
    capabilities: Capabilities,
    /// The last transaction ended before its end of data: RSET before the next one.
    unfinished: bool,
}

impl Connection {
    /// Connect, greeting, EHLO, STARTTLS if offered (an error if `require_tls` and it is not
    /// offered or the handshake fails), EHLO again. `Ok(Err(reply))`: the server refused the
    /// session at the greeting or at EHLO/HELO; the connection is closed.
    pub async fn open(
        addr: SocketAddr,
        server_name: &str,
        config: &ClientConfig,
    ) -> Result<Result<Connection, Reply>, SmtpError> {
        let name = ServerName::try_from(server_name.to_owned()).map_err(|_| {
            SmtpError::InvalidServerName {
                name: server_name.to_owned(),
            }
        })?;
        let peer = Peer {
            addr,
            timeout: config.timeout,
        };
        let tcp = match tokio::time::timeout(config.timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err(peer.error("connecting", WireError::Timeout)),
            Ok(Err(e)) => return Err(peer.error("connecting", WireError::Io(e))),
            Ok(Ok(tcp)) => tcp,
        };
        let _ = tcp.set_nodelay(true);
        let mut wire = Wire::new(Conn::Plain(tcp), config.timeout);

        let (greeting, _) = peer.exchange(&mut wire, None, "greeting").await?;
        match greeting.code {
            220 => {}
            400..=599 => {
                peer.quit(wire).await;
                return Ok(Err(greeting));
            }
            _ => {
                return Err(SmtpError::UnexpectedReply {
                    context: format!("greeting ({addr})"),
                    reply: greeting,
                });
            }
        }
        let mut capabilities = match peer.hello(&mut wire, &config.helo).await? {
            Ok(c) => c,
            Err(reply) => {
                peer.quit(wire).await;
                return Ok(Err(reply));
            }
        };

        if capabilities.starttls {
            let reply = peer.command(&mut wire, "STARTTLS", "STARTTLS").await?;
            if reply.code == 220 {
                wire = wire
                    .connect_tls(config.tls.clone(), name)
                    .await
                    .map_err(|e| match e {
                        WireError::Io(source) => SmtpError::TlsHandshake {
                            server: format!("{server_name} ({addr})"),
                            source,
                        },
                        other => peer.error("TLS handshake", other),
                    })?;
                debug!(peer = %addr, "STARTTLS done");
                capabilities = match peer.hello(&mut wire, &config.helo).await? {
                    Ok(c) => c,
                    Err(reply) => {
                        peer.quit(wire).await;
                        return Ok(Err(reply));
                    }
                };
            } else if config.require_tls {
                peer.quit(wire).await;
                return Err(SmtpError::StartTlsRefused {
                    server: format!("{server_name} ({addr})"),
                    reply,
                });
            }
        } else if config.require_tls {
            peer.quit(wire).await;
            return Err(SmtpError::TlsNotOffered {
                server: format!("{server_name} ({addr})"),
            });
        }
        Ok(Ok(Connection {
            peer,
            wire,
            capabilities,
            unfinished: false,
        }))
    }

    /// AUTH PLAIN (RFC 4954, RFC 4616) with the credentials as the initial response, as a
    /// mail client does at a submission door. `Ok(Err(reply))`: the server refused them.
    pub async fn authenticate(
        &mut self,
        username: &str,
        password: &str,
    ) -> Result<Result<(), Reply>, SmtpError> {
        let credentials = BASE64.encode(format!("\0{username}\0{password}"));
        let reply = self
            .peer
            .command(&mut self.wire, &format!("AUTH PLAIN {credentials}"), "AUTH")
            .await?;
        Ok(if reply.code == 235 {
            Ok(())
        } else {
            Err(reply)
        })
    }

    /// One transaction: MAIL FROM (with SIZE= if advertised), RCPT TO each, DATA if any
    /// recipient was accepted. See [`Delivery`] for how refusals are reported.
    pub async fn transaction(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Delivery, SmtpError> {
        check_envelope(envelope)?;
        let (peer, wire) = (&self.peer, &mut self.wire);
        if self.unfinished {
            peer.command(wire, "RSET", "RSET").await?;
        }
        // Until the end of data is answered, the server may still hold this transaction.
        self.unfinished = true;
        let mut mail = format!("MAIL FROM:<{}>", envelope.mail_from);
        if self.capabilities.size {
            mail.push_str(&format!(" SIZE={}", message.len()));
        }
        if self.capabilities.eight_bit_mime && !message.is_ascii() {
            mail.push_str(" BODY=8BITMIME");
        }
        let reply = peer.command(wire, &mail, "MAIL FROM").await?;
        if reply.code / 100 != 2 {
            return Ok(refused(envelope, reply));
        }

        let mut per_recipient = Vec::with_capacity(envelope.rcpt_to.len());
        for rcpt in &envelope.rcpt_to {
            let reply = peer
                .command(wire, &format!("RCPT TO:<{rcpt}>"), "RCPT TO")
                .await?;
            per_recipient.push((rcpt.clone(), Outcome::from_reply(reply)));
        }
        if !per_recipient.iter().any(|(_, o)| o.is_accepted()) {
            return Ok(Delivery {
                per_recipient,
                data: None,
            });
        }

        let reply = peer.command(wire, "DATA", "DATA").await?;
        let data = match reply.code {
            354 => {
                for chunk in dot_stuff(message).chunks(WRITE_CHUNK) {
                    wire.write(chunk)
                        .await
                        .map_err(|e| peer.error("sending the message", e))?;
                }
                let (reply, _) = peer.exchange(wire, None, "end of data").await?;
                self.unfinished = false;
                Outcome::from_reply(reply)
            }
            400..=599 => Outcome::from_reply(reply),
            _ => {
                return Err(SmtpError::UnexpectedReply {
                    context: format!("DATA ({})", peer.addr),
                    reply,
                });
            }
        };
        Ok(Delivery {
            per_recipient,
            data: Some(data),
        })
    }

    /// QUIT and close; failures no longer matter.
    pub async fn quit(self) {
        self.peer.quit(self.wire).await;
    }
}
