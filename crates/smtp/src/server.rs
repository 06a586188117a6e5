//! The doors: an SMTP server session per connection, for the submission door (punto di
//! accesso, spec §4.1) or the MX door (punto di ricezione, spec §4.2).
//!
//! The session owns the SMTP state machine and the checks SMTP can make on its own; every
//! decision that needs accounts, the provider index or storage is asked of the [`Handler`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN, Error as ParseError, Request};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

use crate::data::DotReader;
use crate::reply::Reply;
use crate::wire::{Conn, Line, Wire, WireError};

/// Failed AUTH attempts after which the session is closed with 421.
const MAX_AUTH_FAILURES: u32 = 3;
/// Protocol errors (unknown commands, bad syntax, bad sequence, overlong lines) after which
/// the session is closed with 421: a client that gets this many wrong is not a mail client.
const MAX_PROTOCOL_ERRORS: u32 = 20;

/// The state of one SMTP connection, as the [`Handler`] sees it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The client's address.
    pub peer: SocketAddr,
    /// The name given in EHLO/HELO, if the client sent one (forgotten after STARTTLS).
    pub helo: Option<String>,
    /// Whether the session is inside TLS (STARTTLS done, or an implicit-TLS listener).
    pub tls: bool,
    /// The mailbox the client authenticated as (submission door only).
    pub authenticated: Option<String>,
    /// The user name the client authenticated with, as given: the mailbox's address for its
    /// holder, another name for someone acting on the mailbox's behalf (a delegate).
    pub login: Option<String>,
    /// What the handler's [`Handler::authenticate`] gave beside the mailbox, handed back on
    /// every later call: opaque here, it lets the handler tell whether the login still holds.
    pub credential: Option<String>,
}

/// A successful AUTH, as the handler reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The mailbox the client may send from.
    pub mailbox: String,
    /// Kept in [`Session::credential`].
    pub credential: Option<String>,
}

/// The SMTP envelope of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse-path (MAIL FROM), without angle brackets; empty for the null sender.
    pub mail_from: String,
    /// The accepted forward-paths (RCPT TO), in order, without duplicates.
    pub rcpt_to: Vec<String>,
    /// The SIZE= the client declared in MAIL FROM, if any.
    pub size_hint: Option<u64>,
}

/// What the server asks of the engine. Implemented by the engine (one implementation per
/// door); `smtp` never depends on it.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// AUTH PLAIN / LOGIN: Ok(the authenticated mailbox) or Err(reply, e.g. 535 5.7.8).
    async fn authenticate(
        &self,
        session: &Session,
        username: &str,
        password: &str,
    ) -> Result<Authenticated, Reply>;

    /// Called per RCPT TO after the server's own checks; Err rejects that recipient only.
    async fn rcpt(&self, session: &Session, mail_from: &str, rcpt: &str) -> Result<(), Reply>;

    /// The whole message after DATA (dot-unstuffed, CRLF as received). The returned reply is
    /// sent to the client verbatim (250 with an id, 4xx, 5xx). It must only return 250 once
    /// the message is durably accepted. A 421 closes the session after it (RFC 5321 §3.8),
    /// e.g. when the login no longer holds.
    async fn data(&self, session: &Session, envelope: &Envelope, message: Vec<u8>) -> Reply;
}

/// Which door a listener is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// Punto di accesso: TLS and AUTH mandatory, MAIL FROM must be the authenticated mailbox.
    Submission,
    /// Punto di ricezione: no AUTH; STARTTLS offered, plaintext accepted.
    Mx,
}

/// How a listener behaves.
#[derive(Clone)]
pub struct ServerConfig {
    /// Which door this is.
    pub door: Door,
    /// Our name, in the greeting and EHLO.
    pub hostname: String,
    /// TLS for STARTTLS (and implicit TLS listeners). None = no TLS offered (tests only;
    /// submission then refuses AUTH).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// True for the port-465-style listener: TLS from the first byte, no STARTTLS.
    pub implicit_tls: bool,
    /// Advertised as SIZE; a bigger message gets 552 5.3.4.
    pub max_message_size: u64,
    /// Limit on size × number of recipients (spec §12); bigger gets 552 5.3.4, checked
    /// against the MAIL SIZE= hint at RCPT time when there is one, and after DATA.
    pub max_total_size: u64,
    /// Recipients per transaction; the extra RCPTs get 452 4.5.3.
    pub max_recipients: usize,
    /// How long to wait for each command (and each read during DATA); on expiry 421 and close.
    pub idle_timeout: Duration,
    /// Longest command line accepted (without CRLF), e.g. 4096; longer lines get 500 5.5.2
    /// and the connection stays usable.
    pub max_line_length: usize,
}

/// Accepts connections on `listener` until `shutdown` resolves, running each SMTP session in
/// its own task. Sessions already running are left to finish. Errors from `accept` (e.g. out
/// of file descriptors) are logged and retried after a short pause; the only errors returned
/// are a listener whose address cannot be read and a configuration that cannot work
/// (implicit TLS without a TLS configuration).
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    handler: Arc<dyn Handler>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let door = listener::Door {
        name: match config.door {
            Door::Submission => "SMTP submission",
            Door::Mx => "SMTP MX",
        },
        implicit_tls: config.implicit_tls,
        has_tls: config.tls.is_some(),
    };
    listener::serve(listener, door, shutdown, |tcp, peer| {
        run_connection(tcp, peer, config.clone(), handler.clone())
    })
    .await
}

/// One connection, from accept to close.
async fn run_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    config: Arc<ServerConfig>,
    handler: Arc<dyn Handler>,
) {
    // Replies are small and latency matters more than packet count.
    let _ = tcp.set_nodelay(true);
    info!("connection opened");
    let mut wire = Wire::new(Conn::Plain(tcp), config.idle_timeout);
    let mut state = ServerSession::new(&config, handler.as_ref(), peer);
    if config.implicit_tls {
        let Some(tls) = config.tls.clone() else {
            // serve() refuses this configuration; nothing to do but close.
            return;
        };
        wire = match wire.accept_tls(tls).await {
            Ok((wire, _)) => wire,
            Err(e) => {
                info!(error = ?e, "implicit TLS handshake failed; closing");
                return;
            }
        };
        state.session.tls = true;
    }
    wire.queue(
        Reply::plain(220, format!("{} ESMTP pecora ready", config.hostname))
            .to_wire()
            .as_bytes(),
    );
    loop {
        match state.run(&mut wire).await {
            Ok(Next::Close(reason)) => {
                info!(reason, "connection closed");
                wire.close().await;
                return;
            }
            Ok(Next::StartTls(tls)) => match wire.accept_tls(tls).await {
                Ok((tls_wire, dropped)) => {
                    if dropped > 0 {
                        warn!(dropped, "discarded plaintext pipelined after STARTTLS");
                    }
                    wire = tls_wire;
                    state.after_starttls();
                    info!("STARTTLS done");
                }
                Err(e) => {
                    info!(error = ?e, "STARTTLS handshake failed; closing");
                    return;
                }
            },
            Err(WireError::Timeout) => {
                info!("idle timeout; closing");
                let reply = Reply::new(
                    421,
                    "4.4.2",
                    format!("{} timeout, closing connection", config.hostname),
                );
                wire.queue(reply.to_wire().as_bytes());
                wire.close().await;
                return;
            }
            Err(WireError::Eof) => {
                info!("connection closed by client");
                return;
            }
            Err(WireError::Io(e)) => {
                info!(error = %e, "connection failed");
                return;
            }
        }
    }
}

/// What the command loop wants done next.
enum Next {
    /// Close the connection (after flushing), for the reason given.
    Close(&'static str),
    /// Switch to TLS with this configuration.
    StartTls(Arc<rustls::ServerConfig>),
}

/// The answer to one command.
enum Step {
    /// Send this reply and read the next command.
    Reply(Reply),
    /// Send this reply, then do what [`Next`] says.
    Then(Reply, Next),
}

/// Why a command did not produce a [`Step`].
enum Halt {
    /// A protocol error: send the reply and count it.
    Reply(Reply),
    /// The connection ended or failed.
    Wire(WireError),
}

impl From<WireError> for Halt {
    fn from(e: WireError) -> Self {
        Halt::Wire(e)
    }
}

/// Shorthand for a protocol error with an enhanced code.
fn halt<T>(code: u16, enhanced: &str, text: impl Into<String>) -> Result<T, Halt> {
    Err(Halt::Reply(Reply::new(code, enhanced, text)))
}

/// The SMTP state of one connection.
struct ServerSession<'a> {
    config: &'a ServerConfig,
    handler: &'a dyn Handler,
    session: Session,
    envelope: Option<Envelope>,
    auth_failures: u32,
    protocol_errors: u32,
}

impl<'a> ServerSession<'a> {
    fn new(config: &'a ServerConfig, handler: &'a dyn Handler, peer: SocketAddr) -> Self {
        ServerSession {
            config,
            handler,
            session: Session {
                peer,
                helo: None,
                tls: false,
                authenticated: None,
                credential: None,
                login: None,
            },
            envelope: None,
            auth_failures: 0,
            protocol_errors: 0,
        }
    }

    /// RFC 3207 §4.2: after STARTTLS the client starts over, knowing nothing from before.
    fn after_starttls(&mut self) {
        self.session.tls = true;
        self.session.helo = None;
        self.session.authenticated = None;
        self.session.credential = None;
        self.session.login = None;
        self.envelope = None;
    }

    /// Reads and answers commands until the session closes or switches to TLS.
    async fn run(&mut self, wire: &mut Wire) -> Result<Next, WireError> {
        loop {
            let step = match wire.read_line(self.config.max_line_length).await? {
                Line::TooLong => halt(500, "5.5.2", "line too long"),
                Line::Complete(line) => self.command(wire, &line).await,
            };
            match step {
                Ok(Step::Reply(reply)) => wire.queue(reply.to_wire().as_bytes()),
                Ok(Step::Then(reply, next)) => {
                    wire.queue(reply.to_wire().as_bytes());
                    return Ok(next);
                }
                Err(Halt::Wire(e)) => return Err(e),
                Err(Halt::Reply(reply)) => {
                    debug!(code = reply.code, "protocol error");
                    wire.queue(reply.to_wire().as_bytes());
                    self.protocol_errors += 1;
                    if self.protocol_errors >= MAX_PROTOCOL_ERRORS {
                        let bye = Reply::new(421, "4.7.0", "too many errors, closing connection");
                        wire.queue(bye.to_wire().as_bytes());
                        return Ok(Next::Close("too many protocol errors"));
                    }
                }
            }
        }
    }

    /// Parses and answers one command line (terminator included).
    async fn command(&mut self, wire: &mut Wire, line: &[u8]) -> Result<Step, Halt> {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.iter().any(|&b| b == 0 || b == b'\r') {
            return halt(500, "5.5.2", "NUL or bare CR not allowed in commands");
        }
        let request = Request::parse(&mut line.iter()).map_err(|e| Halt::Reply(parse_error(e)))?;
        debug!(command = request.name(), "command");
        match request {
            Request::Ehlo { host } => Ok(self.ehlo(&host)),
            Request::Helo { host } => {
                self.session.helo = Some(host.into_owned());
                self.envelope = None;
                Ok(Step::Reply(Reply::plain(250, self.config.hostname.clone())))
            }
            Request::StartTls => self.starttls(),
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(wire, mechanism, &initial_response).await,
            Request::Mail { from } => self.mail(&from.address, from.size),
            Request::Rcpt { to } => self.rcpt(&to.address, content).await,
            Request::Data => self.data(wire).await,
            Request::Rset => {
                self.envelope = None;
                Ok(Step::Reply(Reply::ok("OK")))
            }
            Request::Noop { .. } => Ok(Step::Reply(Reply::ok("OK"))),
            Request::Vrfy { .. } => Ok(Step::Reply(Reply::new(
                252,
                "2.5.0",
                "cannot VRFY user, but will accept message and attempt delivery",
            ))),
            Request::Help { .. } => Ok(Step::Reply(Reply::new(
                214,
                "2.0.0",
                "commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA RSET NOOP VRFY HELP QUIT",
            ))),
            Request::Quit => Ok(Step::Then(
                Reply::new(
                    221,
                    "2.0.0",
                    format!("{} closing connection", self.config.hostname),
                ),
                Next::Close("QUIT"),
            )),
            other => halt(502, "5.5.1", format!("{} not implemented", other.name())),
        }
    }

    fn ehlo(&mut self, host: &str) -> Step {
        self.session.helo = Some(host.to_owned());
        self.envelope = None;
        let mut lines = vec![
            self.config.hostname.clone(),
            format!("SIZE {}", self.config.max_message_size),
            "8BITMIME".to_owned(),
            "PIPELINING".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
        ];
        if self.config.tls.is_some() && !self.session.tls {
            lines.push("STARTTLS".to_owned());
        }
        if self.config.door == Door::Submission && self.session.tls {
            lines.push("AUTH PLAIN LOGIN".to_owned());
        }
        lines.push("HELP".to_owned());
        Step::Reply(Reply::plain(250, lines.join("\n")))
    }

    fn starttls(&mut self) -> Result<Step, Halt> {
        if self.session.tls {
            return halt(503, "5.5.1", "already in TLS");
        }
        let Some(tls) = self.config.tls.clone() else {
            return halt(502, "5.5.1", "STARTTLS not available");
        };
        Ok(Step::Then(
            Reply::new(220, "2.0.0", "ready to start TLS"),
            Next::StartTls(tls),
        ))
    }

    async fn auth(&mut self, wire: &mut Wire, mechanism: u64, initial: &str) -> Result<Step, Halt> {
        if self.config.door == Door::Mx {
            return halt(502, "5.5.1", "AUTH not available on this port");
        }
        if !self.session.tls {
            return halt(
                538,
                "5.7.11",
                "encryption required for requested authentication mechanism: use STARTTLS",
            );
        }
        if self.session.helo.is_none() {
            return halt(503, "5.5.1", "send EHLO first");
        }
        if self.session.authenticated.is_some() {
            return halt(503, "5.5.1", "already authenticated");
        }
        if self.envelope.is_some() {
            return halt(503, "5.5.1", "AUTH not allowed during a mail transaction");
        }
        let max = self.config.max_line_length;
        let (username, password) = match mechanism {
            AUTH_PLAIN => sasl_plain(wire, initial, max).await?,
            AUTH_LOGIN => sasl_login(wire, initial, max).await?,
            _ => {
                return halt(
                    504,
                    "5.5.4",
                    "unrecognized authentication mechanism: use PLAIN or LOGIN",
                );
            }
        };
        match self
            .handler
            .authenticate(&self.session, &username, &password)
            .await
        {
            Ok(Authenticated {
                mailbox,
                credential,
            }) => {
                info!(username = ?username, %mailbox, "authenticated");
                self.session.authenticated = Some(mailbox);
                self.session.login = Some(username.to_string());
                self.session.credential = credential;
                Ok(Step::Reply(Reply::new(
                    235,
                    "2.7.0",
                    "authentication successful",
                )))
            }
            Err(reply) => {
                self.auth_failures += 1;
                info!(%username, failures = self.auth_failures, "authentication failed");
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    return Ok(Step::Then(
                        Reply::new(
                            421,
                            "4.7.0",
                            "too many failed authentication attempts, closing connection",
                        ),
                        Next::Close("too many AUTH failures"),
                    ));
                }
                Ok(Step::Reply(reply))
            }
        }
    }

    fn mail(&mut self, address: &str, size: usize) -> Result<Step, Halt> {
        if self.session.helo.is_none() {
            return halt(503, "5.5.1", "send EHLO or HELO first");
        }
        if self.envelope.is_some() {
            return halt(503, "5.5.1", "nested MAIL command");
        }
        if self.config.door == Door::Submission {
            let Some(mailbox) = &self.session.authenticated else {
                return halt(530, "5.7.0", "authentication required");
            };
            if !address.eq_ignore_ascii_case(mailbox) {
                return Ok(Step::Reply(Reply::new(
                    553,
                    "5.7.1",
                    format!(
                        "sender address <{address}> does not match authenticated mailbox <{mailbox}>"
                    ),
                )));
            }
        }
        let size = u64::try_from(size).unwrap_or(u64::MAX);
        if size > self.config.max_message_size {
            return Ok(Step::Reply(Reply::new(
                552,
                "5.3.4",
                format!(
                    "declared message size {size} exceeds the maximum message size of {} bytes",
                    self.config.max_message_size
                ),
            )));
        }
        if size > self.config.max_total_size {
            return Ok(Step::Reply(total_size_exceeded(self.config.max_total_size)));
        }
        debug!(from = %address, size, "MAIL accepted");
        self.envelope = Some(Envelope {
            mail_from: address.to_owned(),
            rcpt_to: Vec::new(),
            size_hint: (size > 0).then_some(size),
        });
        Ok(Step::Reply(Reply::new(
            250,
            "2.1.0",
            format!("sender <{address}> OK"),
        )))
    }

    async fn rcpt(&mut self, address: &str, line: &[u8]) -> Result<Step, Halt> {
        let Some(envelope) = &self.envelope else {
            return halt(503, "5.5.1", "need MAIL command first");
        };
        // smtp-proto gives `<postmaster>` (RFC 5321 §4.1.1.3) as an empty address, like `<>`.
        let address = if !address.is_empty() {
            address.to_owned()
        } else if line.to_ascii_lowercase().ends_with(b"<postmaster>") {
            "postmaster".to_owned()
        } else {
            return halt(501, "5.1.3", "empty recipient address");
        };
        if envelope
            .rcpt_to
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&address))
        {
            return Ok(Step::Reply(Reply::new(
                250,
                "2.1.5",
                format!("recipient <{address}> already accepted"),
            )));
        }
        let count = envelope.rcpt_to.len();
        if count >= self.config.max_recipients {
            return Ok(Step::Reply(Reply::new(
                452,
                "4.5.3",
                format!(
                    "too many recipients: at most {} per message",
                    self.config.max_recipients
                ),
            )));
        }
        if let Some(hint) = envelope.size_hint
            && hint.saturating_mul(count as u64 + 1) > self.config.max_total_size
        {
            return Ok(Step::Reply(total_size_exceeded(self.config.max_total_size)));
        }
        let mail_from = envelope.mail_from.clone();
        if let Err(reply) = self.handler.rcpt(&self.session, &mail_from, &address).await {
            debug!(rcpt = %address, code = reply.code, "RCPT refused by handler");
            return Ok(Step::Reply(reply));
        }
        let reply = Reply::new(250, "2.1.5", format!("recipient <{address}> OK"));
        if let Some(envelope) = &mut self.envelope {
            envelope.rcpt_to.push(address);
        }
        Ok(Step::Reply(reply))
    }

    async fn data(&mut self, wire: &mut Wire) -> Result<Step, Halt> {
        match &self.envelope {
            None => return halt(503, "5.5.1", "need MAIL command first"),
            Some(envelope) if envelope.rcpt_to.is_empty() => {
                return halt(554, "5.5.1", "no valid recipients");
            }
            Some(_) => {}
        }
        wire.queue(
            Reply::plain(354, "end data with <CR><LF>.<CR><LF>")
                .to_wire()
                .as_bytes(),
        );
        let max = self.config.max_message_size;
        let mut reader = DotReader::new(max);
        loop {
            if let Some(end) = reader.feed(wire.buffered()) {
                wire.consume(end);
                break;
            }
            let all = wire.buffered().len();
            wire.consume(all);
            wire.fill().await?;
        }
        let Some(envelope) = self.envelope.take() else {
            return halt(503, "5.5.1", "need MAIL command first");
        };
        let size = reader.size();
        let recipients = envelope.rcpt_to.len();
        let Some(message) = reader.into_message() else {
            info!(size, "message over the size limit refused");
            return Ok(Step::Reply(Reply::new(
                552,
                "5.3.4",
                format!("message exceeds the maximum message size of {max} bytes"),
            )));
        };
        if size.saturating_mul(recipients as u64) > self.config.max_total_size {
            info!(
                size,
                recipients, "message over the size × recipients limit refused"
            );
            return Ok(Step::Reply(total_size_exceeded(self.config.max_total_size)));
        }
        let reply = self.handler.data(&self.session, &envelope, message).await;
        let reply = if (200..600).contains(&reply.code) {
            reply
        } else {
            warn!(code = reply.code, "handler returned an invalid reply code");
            Reply::new(451, "4.3.0", "internal error, try again later")
        };
        info!(
            from = %envelope.mail_from,
            recipients,
            size,
            code = reply.code,
            "message handled"
        );
        if reply.code == 421 {
            return Ok(Step::Then(reply, Next::Close("closed by the handler")));
        }
        Ok(Step::Reply(reply))
    }
}

fn total_size_exceeded(limit: u64) -> Reply {
    Reply::new(
        552,
        "5.3.4",
        format!("message size × number of recipients exceeds the limit of {limit} bytes"),
    )
}

/// The reply to a line smtp-proto could not parse.
fn parse_error(e: ParseError) -> Reply {
    match e {
        ParseError::UnknownCommand => Reply::new(500, "5.5.1", "command unrecognized"),
        ParseError::SyntaxError { syntax } => Reply::new(501, "5.5.2", format!("syntax: {syntax}")),
        ParseError::InvalidSenderAddress => Reply::new(501, "5.1.7", "bad sender address syntax"),
        ParseError::InvalidRecipientAddress => {
            Reply::new(501, "5.1.3", "bad recipient address syntax")
        }
        ParseError::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("invalid value for parameter {param}"))
        }
        ParseError::UnsupportedParameter { param } => {
            Reply::new(555, "5.5.4", format!("unsupported parameter {param}"))
        }
        ParseError::NeedsMoreData { .. }
        | ParseError::ResponseTooLong
        | ParseError::InvalidResponse { .. } => Reply::new(500, "5.5.2", "malformed command"),
    }
}

/// Sends a SASL challenge (already base64) and reads the client's answer.
async fn sasl_challenge(wire: &mut Wire, challenge: &str, max: usize) -> Result<Vec<u8>, Halt> {
    wire.queue(format!("334 {challenge}\r\n").as_bytes());
    let line = match wire.read_line(max).await? {
        Line::TooLong => return halt(500, "5.5.2", "line too long"),
        Line::Complete(line) => line,
    };
    let answer = line.strip_suffix(b"\n").unwrap_or(&line);
    let answer = answer.strip_suffix(b"\r").unwrap_or(answer);
    if answer == b"*" {
        return halt(501, "5.0.0", "authentication cancelled");
    }
    decode_sasl(answer)
}

/// Decodes one base64 SASL message; `=` is the empty message (RFC 4954 §4).
fn decode_sasl(encoded: &[u8]) -> Result<Vec<u8>, Halt> {
    if encoded == b"=" {
        return Ok(Vec::new());
    }
    BASE64
        .decode(encoded)
        .or_else(|_| halt(501, "5.5.2", "invalid base64 in authentication exchange"))
}

fn utf8(bytes: Vec<u8>) -> Result<String, Halt> {
    String::from_utf8(bytes).or_else(|_| halt(501, "5.5.2", "credentials must be UTF-8"))
}

/// SASL PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`.
async fn sasl_plain(wire: &mut Wire, initial: &str, max: usize) -> Result<(String, String), Halt> {
    let message = if initial.is_empty() {
        sasl_challenge(wire, "", max).await?
    } else {
        decode_sasl(initial.as_bytes())?
    };
    let mut parts = message.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return halt(501, "5.5.2", "malformed PLAIN credentials");
    };
    let authzid = utf8(authzid.to_vec())?;
    let authcid = utf8(authcid.to_vec())?;
    if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(&authcid) {
        return halt(
            535,
            "5.7.8",
            "authorization identity must be empty or equal to the user name",
        );
    }
    Ok((authcid, utf8(passwd.to_vec())?))
}

/// SASL LOGIN (draft-murchison-sasl-login): username, then password, each base64.
async fn sasl_login(wire: &mut Wire, initial: &str, max: usize) -> Result<(String, String), Halt> {
    let username = if initial.is_empty() {
        sasl_challenge(wire, "VXNlcm5hbWU6", max).await?
    } else {
        decode_sasl(initial.as_bytes())?
    };
    let password = sasl_challenge(wire, "UGFzc3dvcmQ6", max).await?;
    Ok((utf8(username)?, utf8(password)?))
}
