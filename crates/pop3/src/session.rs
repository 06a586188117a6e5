//! One POP3 conversation (RFC 1939 §3-6): the AUTHORIZATION state (CAPA, STLS, USER/PASS,
//! AUTH PLAIN), the TRANSACTION state over the [`Maildrop`], and QUIT, which enters the
//! UPDATE state and applies the session to the store.
//!
//! Credentials are taken only inside TLS. The session counts the client's mistakes
//! (unknown commands, bad syntax, commands in the wrong state, overlong lines) and failed
//! logins, and hangs up on a client that gets too many wrong.

use std::time::Duration;

use engine::Engine;
use engine::accounts::LoginError;
use engine::mailbox::Principal;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{debug, info, warn};

use crate::ServerConfig;
use crate::command::{self, Command};
use crate::maildrop::{Maildrop, NumberError};
use crate::reply::{Reply, ResponseCode};
use crate::sasl;
use crate::transfer::dot_stuffed;
use crate::wire::{Line, Wire, WireError};

/// Failed logins after which the session is closed.
const MAX_LOGIN_FAILURES: u32 = 3;
/// Mistakes after which the session is closed: a client that gets this many wrong is not
/// a mail client.
const MAX_MISTAKES: u32 = 10;
/// The pause before answering a failed login, to slow down password guessing.
const LOGIN_FAILURE_DELAY: Duration = Duration::from_millis(500);
/// The only SASL mechanism offered.
const PLAIN: &str = "PLAIN";

/// What the connection should do when the command loop returns.
#[derive(Debug)]
pub(crate) enum Next {
    /// Close the connection (after flushing), for the reason given.
    Close(&'static str),
    /// Switch to TLS (STLS was accepted).
    StartTls,
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
    /// The client's mistake: send the reply and count it.
    Mistake(Reply),
    /// The connection ended or failed.
    Wire(WireError),
}

impl From<WireError> for Halt {
    fn from(e: WireError) -> Self {
        Halt::Wire(e)
    }
}

fn mistake<T>(text: impl AsRef<str>) -> Result<T, Halt> {
    Err(Halt::Mistake(Reply::err(text)))
}

/// Where the conversation is.
enum State {
    /// Not logged in; the login given by USER, if any.
    Authorization { user: Option<String> },
    /// Logged in.
    Transaction { who: Principal, maildrop: Maildrop },
}

/// The POP3 state of one connection.
pub(crate) struct Session<'a> {
    config: &'a ServerConfig,
    engine: &'a Engine,
    tls: bool,
    state: State,
    login_failures: u32,
    mistakes: u32,
}

impl<'a> Session<'a> {
    pub(crate) fn new(config: &'a ServerConfig, engine: &'a Engine) -> Self {
        Session {
            config,
            engine,
            tls: false,
            state: State::Authorization { user: None },
            login_failures: 0,
            mistakes: 0,
        }
    }

    /// The greeting, sent once the connection (and implicit TLS) is up.
    pub(crate) fn greeting(&self) -> Reply {
        Reply::ok(format!("{} POP3 pecora ready", self.config.hostname))
    }

    /// The connection is now inside TLS (implicitly, or after STLS). RFC 2595 §4: after
    /// STLS the client starts over, knowing nothing from before.
    pub(crate) fn tls_started(&mut self) {
        self.tls = true;
        self.state = State::Authorization { user: None };
    }

    /// Reads and answers commands until the session closes or switches to TLS.
    pub(crate) async fn run<S>(&mut self, wire: &mut Wire<S>) -> Result<Next, WireError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            let step = match wire.read_line(self.config.max_line_length).await? {
                Line::TooLong => mistake(format!(
                    "line too long: at most {} octets",
                    self.config.max_line_length
                )),
                Line::Complete(line) => self.command(wire, &line).await,
            };
            match step {
                Ok(Step::Reply(reply)) => reply.send(wire).await?,
                Ok(Step::Then(reply, next)) => {
                    reply.send(wire).await?;
                    return Ok(next);
                }
                Err(Halt::Wire(e)) => return Err(e),
                Err(Halt::Mistake(reply)) => {
                    reply.send(wire).await?;
                    self.mistakes += 1;
                    debug!(mistakes = self.mistakes, "client mistake");
                    if self.mistakes >= MAX_MISTAKES {
                        Reply::err("too many errors, closing connection")
                            .send(wire)
                            .await?;
                        return Ok(Next::Close("too many client mistakes"));
                    }
                }
            }
        }
    }

    /// Parses and answers one command line.
    async fn command<S>(&mut self, wire: &mut Wire<S>, line: &[u8]) -> Result<Step, Halt>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let command = match command::parse(line) {
            Ok(command) => command,
            Err(e) => return mistake(e.to_string()),
        };
        debug!(command = command.keyword(), "command");
        match command {
            Command::Capa => Ok(Step::Reply(self.capa())),
            Command::Quit => Ok(self.quit().await),
            Command::Stls => self.stls(),
            Command::User(login) => {
                self.before_login(command.keyword())?;
                self.require_tls()?;
                self.state = State::Authorization {
                    user: Some(login.to_owned()),
                };
                Ok(Step::Reply(Reply::ok("send PASS")))
            }
            Command::Pass(password) => {
                let State::Authorization { user } = &mut self.state else {
                    return mistake("PASS not allowed: already logged in");
                };
                let login = user.take();
                self.require_tls()?;
                let Some(login) = login else {
                    return mistake("send USER first");
                };
                self.login(&login, password).await
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                self.before_login(command.keyword())?;
                self.require_tls()?;
                self.auth(wire, mechanism, initial_response).await
            }
            transaction => self.transaction(transaction).await,
        }
    }

    /// RFC 2449 CAPA. Credentials are offered only inside TLS, where they are accepted.
    fn capa(&self) -> Reply {
        let mut lines = vec!["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"];
        if self.tls {
            lines.extend(["USER", "SASL PLAIN"]);
        } else if self.config.tls.is_some() {
            lines.push("STLS");
        }
        lines.push("IMPLEMENTATION pecora");
        Reply::ok("capability list follows").with_lines(lines)
    }

    fn stls(&mut self) -> Result<Step, Halt> {
        self.before_login("STLS")?;
        if self.tls {
            return mistake("already in TLS");
        }
        if self.config.tls.is_none() {
            return mistake("STLS not available");
        }
        Ok(Step::Then(
            Reply::ok("begin TLS negotiation"),
            Next::StartTls,
        ))
    }

    /// Refuses a login command once logged in.
    fn before_login(&self, keyword: &str) -> Result<(), Halt> {
        match self.state {
            State::Authorization { .. } => Ok(()),
            State::Transaction { .. } => {
                mistake(format!("{keyword} not allowed: already logged in"))
            }
        }
    }

    /// Credentials travel only inside TLS.
    fn require_tls(&self) -> Result<(), Halt> {
        if self.tls {
            return Ok(());
        }
        let text = if self.config.tls.is_some() {
            "credentials are accepted only over TLS: send STLS first"
        } else {
            "credentials are accepted only over TLS, which this listener does not offer"
        };
        Err(Halt::Mistake(Reply::refused(ResponseCode::SysPerm, text)))
    }

    /// RFC 5034 AUTH: without a mechanism, the list of mechanisms; PLAIN with an initial
    /// response, or with an empty `+ ` challenge answered on the next line.
    async fn auth<S>(
        &mut self,
        wire: &mut Wire<S>,
        mechanism: Option<&str>,
        initial_response: Option<&str>,
    ) -> Result<Step, Halt>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let Some(mechanism) = mechanism else {
            return Ok(Step::Reply(
                Reply::ok("SASL mechanisms follow").with_lines([PLAIN]),
            ));
        };
        if !mechanism.eq_ignore_ascii_case(PLAIN) {
            return mistake(format!(
                "unsupported SASL mechanism {mechanism}: use {PLAIN}"
            ));
        }
        let response = match initial_response {
            Some(initial) => initial.as_bytes().to_vec(),
            None => {
                wire.send(b"+ \r\n").await?;
                match wire.read_line(self.config.max_line_length).await? {
                    Line::TooLong => return mistake("authentication response too long"),
                    Line::Complete(line) => line,
                }
            }
        };
        if response == b"*" {
            return Ok(Step::Reply(Reply::err("authentication cancelled")));
        }
        match sasl::plain(&response) {
            Ok(credentials) => self.login(&credentials.login, &credentials.password).await,
            Err(e) => mistake(e.to_string()),
        }
    }

    /// Checks credentials and, when they are good, opens the maildrop.
    async fn login(&mut self, login: &str, password: &str) -> Result<Step, Halt> {
        let refusal = match self.engine.login(login, password).await {
            Ok(Ok(who)) => return Ok(self.open(who).await),
            Ok(Err(refusal)) => refusal,
            Err(e) => {
                warn!(%login, error = %e, "cannot check credentials");
                return Ok(Step::Reply(Reply::refused(
                    ResponseCode::SysTemp,
                    "cannot check credentials now: try again later",
                )));
            }
        };
        tokio::time::sleep(LOGIN_FAILURE_DELAY).await;
        self.login_failures += 1;
        info!(%login, failures = self.login_failures, reason = %refusal, "login refused");
        if self.login_failures >= MAX_LOGIN_FAILURES {
            return Ok(Step::Then(
                Reply::refused(
                    ResponseCode::Auth,
                    "too many failed logins, closing connection",
                ),
                Next::Close("too many failed logins"),
            ));
        }
        Ok(Step::Reply(match refusal {
            LoginError::BadCredentials => {
                Reply::refused(ResponseCode::Auth, "wrong login or password")
            }
            LoginError::NotActive(mailbox) => Reply::refused(
                ResponseCode::SysPerm,
                format!("mailbox {mailbox} is not active"),
            ),
        }))
    }

    /// Enters the TRANSACTION state on `who`'s maildrop.
    async fn open(&mut self, who: Principal) -> Step {
        match Maildrop::open(self.engine, &who).await {
            Ok(maildrop) => {
                let (count, size) = maildrop.totals();
                info!(login = %who.login, mailbox = %who.mailbox, count, size, "logged in");
                let reply = Reply::ok(format!(
                    "{} has {count} messages ({size} octets)",
                    who.mailbox
                ));
                self.state = State::Transaction { who, maildrop };
                Step::Reply(reply)
            }
            Err(e) => {
                warn!(mailbox = %who.mailbox, error = %e, "cannot open the maildrop");
                Step::Reply(Reply::refused(
                    ResponseCode::SysTemp,
                    format!(
                        "cannot open the maildrop of {}: try again later",
                        who.mailbox
                    ),
                ))
            }
        }
    }

    /// The commands of the TRANSACTION state.
    async fn transaction(&mut self, command: Command<'_>) -> Result<Step, Halt> {
        let State::Transaction { who, maildrop } = &mut self.state else {
            return mistake(format!("{} not allowed: log in first", command.keyword()));
        };
        // A password changed or a box blocked anywhere ends the session before the command,
        // without the UPDATE state: nothing marked deleted is removed (Engine::rinnova).
        match self.engine.rinnova(who).await {
            Ok(Some(now)) => *who = now,
            Ok(None) => {
                info!(login = ?who.login, mailbox = %who.mailbox, "session ended: login no longer valid");
                return Ok(Step::Then(
                    Reply::err(
                        "[AUTH] credenziali cambiate o casella non attiva (login no longer valid)",
                    ),
                    Next::Close("login no longer valid"),
                ));
            }
            Err(e) => warn!(error = %e, "cannot check the session's login"),
        }
        let number_error = |e: NumberError| Halt::Mistake(Reply::err(e.to_string()));
        let reply = match command {
            Command::Stat => {
                let (count, size) = maildrop.totals();
                Reply::ok(format!("{count} {size}"))
            }
            Command::List(None) => {
                let (count, size) = maildrop.totals();
                let lines = maildrop.listing().map(|(n, e)| format!("{n} {}", e.size));
                Reply::ok(format!("{count} messages ({size} octets)")).with_lines(lines)
            }
            Command::List(Some(n)) => {
                let entry = maildrop.get(n).map_err(number_error)?;
                Reply::ok(format!("{n} {}", entry.size))
            }
            Command::Uidl(None) => {
                let lines = maildrop
                    .listing()
                    .map(|(n, e)| format!("{n} {}", maildrop.unique_id(e)));
                Reply::ok("unique-id listing follows").with_lines(lines)
            }
            Command::Uidl(Some(n)) => {
                let entry = maildrop.get(n).map_err(number_error)?;
                Reply::ok(format!("{n} {}", maildrop.unique_id(entry)))
            }
            Command::Top { message, lines } => {
                let entry = maildrop.get(message).map_err(number_error)?;
                match self.engine.store().get(&entry.blob).await {
                    Ok(bytes) => Reply::ok("top of message follows")
                        .with_body(dot_stuffed(&bytes, Some(lines))),
                    Err(e) => unreadable(who, message, &e),
                }
            }
            Command::Retr(n) => {
                let entry = maildrop.get(n).map_err(number_error)?;
                let size = entry.size;
                match self.engine.store().get(&entry.blob).await {
                    Ok(bytes) => {
                        maildrop.retrieve(n).map_err(number_error)?;
                        debug!(message = n, size, "RETR");
                        Reply::ok(format!("{size} octets")).with_body(dot_stuffed(&bytes, None))
                    }
                    Err(e) => unreadable(who, n, &e),
                }
            }
            Command::Dele(n) => {
                if !who.may_manage() {
                    return Ok(Step::Reply(Reply::refused(
                        ResponseCode::SysPerm,
                        format!(
                            "read-only access: {} may not delete messages of {}",
                            who.login, who.mailbox
                        ),
                    )));
                }
                maildrop.delete(n).map_err(number_error)?;
                Reply::ok(format!("message {n} deleted"))
            }
            Command::Noop => Reply::ok(""),
            Command::Rset => {
                maildrop.undelete_all();
                let (count, size) = maildrop.totals();
                Reply::ok(format!("maildrop has {count} messages ({size} octets)"))
            }
            other => {
                return mistake(format!(
                    "{} not allowed: already logged in",
                    other.keyword()
                ));
            }
        };
        Ok(Step::Reply(reply))
    }

    /// QUIT: in the TRANSACTION state, the UPDATE state first.
    async fn quit(&mut self) -> Step {
        let signing_off = format!("{} POP3 pecora signing off", self.config.hostname);
        let State::Transaction { who, maildrop } = &self.state else {
            return Step::Then(Reply::ok(signing_off), Next::Close("QUIT"));
        };
        let reply = match maildrop.update(self.engine, who).await {
            Ok(update) => {
                info!(
                    mailbox = %who.mailbox,
                    seen = update.seen,
                    read_out = update.read_out,
                    expunged = update.expunged,
                    "session applied"
                );
                Reply::ok(signing_off)
            }
            Err(e) => {
                warn!(error = %e, "QUIT could not apply the session");
                Reply::refused(
                    ResponseCode::SysTemp,
                    "some deleted or read messages were not updated: try again later",
                )
            }
        };
        Step::Then(reply, Next::Close("QUIT"))
    }
}

/// The answer when a message's bytes cannot be read.
fn unreadable(who: &Principal, number: u32, e: &store::StoreError) -> Reply {
    warn!(mailbox = %who.mailbox, message = number, error = %e, "cannot read a message");
    Reply::refused(
        ResponseCode::SysTemp,
        format!("cannot read message {number} now: try again later"),
    )
}
