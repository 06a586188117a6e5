//! One IMAP connection: the states of RFC 3501 §3 (not authenticated, authenticated,
//! selected, logout), the loop that reads each command and answers it, the commands valid in
//! any state, and login (LOGIN, AUTHENTICATE PLAIN, STARTTLS). The folder and message
//! commands live in [`crate::folders`], [`crate::selected`], [`crate::fetch`],
//! [`crate::messages`] and [`crate::search`].

use std::sync::Arc;

use engine::Engine;
use engine::accounts::LoginError;
use engine::mailbox::Principal;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::{IString, NString, Quoted, QuotedChar, Tag, Vec1};
use imap_codec::imap_types::extensions::enable::CapabilityEnable;
use imap_codec::imap_types::extensions::namespace::Namespace;
use imap_codec::imap_types::response::{
    Capability, Code, CommandContinuationRequest, Data, Greeting, GreetingKind, Response,
    StatusKind,
};
use imap_codec::{
    AuthenticateDataCodec, CommandCodec, GreetingCodec, decode::Decoder, encode::Encoder,
};
use tokio::net::TcpStream;
use tracing::{Instrument, debug, error, info, warn};

use crate::ServerConfig;
use crate::framing::{self, Frame, Framer, RawLine, Refusal};
use crate::io::{Io, IoError};
use crate::reply::{Failure, Outcome, bye, continuation, status, text};
use crate::selected::Selection;

/// Commands answered `BAD` after which the session is closed: a client that gets this many
/// wrong is not a mail client.
const MAX_BAD_COMMANDS: u32 = 20;
/// Failed logins after which the session is closed.
const MAX_FAILED_LOGINS: u32 = 3;
/// The product name in the greeting and in ID.
const PRODUCT: &str = "pecora";

/// What the connection does after a command.
pub(crate) enum Next {
    Continue,
    /// Switch to TLS (the tagged OK to STARTTLS is queued).
    StartTls(Arc<rustls::ServerConfig>),
    /// Close, for this reason (for the log); the last responses are queued.
    Close(&'static str),
}

/// The state of one connection.
pub(crate) struct Session {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) engine: Arc<Engine>,
    /// Whether the connection is inside TLS.
    tls: bool,
    /// Who logged in (authenticated and selected states).
    pub(crate) user: Option<Principal>,
    /// The selected folder (selected state).
    pub(crate) selected: Option<Selection>,
    /// CONDSTORE is on (RFC 7162 §3.1): FETCH responses carry MODSEQ.
    pub(crate) condstore: bool,
    bad_commands: u32,
    failed_logins: u32,
}

/// Serves one connection, from accept to close.
pub(crate) async fn run(tcp: TcpStream, config: Arc<ServerConfig>, engine: Arc<Engine>) {
    // Responses are small and latency matters more than packet count.
    let _ = tcp.set_nodelay(true);
    info!("connection opened");
    // Before login a literal can only be a user name or a password.
    let framer = Framer::new(config.max_line_length, config.max_line_length as u64);
    let mut io = Io::new(tcp, framer, config.idle_timeout);
    let mut session = Session {
        config: config.clone(),
        engine,
        tls: false,
        user: None,
        selected: None,
        condstore: false,
        bad_commands: 0,
        failed_logins: 0,
    };
    if config.implicit_tls {
        let Some(tls) = config.tls.clone() else {
            return; // serve() refuses this configuration
        };
        io = match io.start_tls(tls).await {
            Ok((io, _)) => io,
            Err(e) => {
                info!(error = %e, "implicit TLS handshake failed; closing");
                return;
            }
        };
        session.tls = true;
    }
    io.send_encoded(&session.greeting());
    loop {
        match session.step(&mut io).await {
            Next::Continue => {}
            Next::StartTls(tls) => match io.start_tls(tls).await {
                Ok((tls_io, dropped)) => {
                    if dropped > 0 {
                        warn!(dropped, "discarded plaintext pipelined after STARTTLS");
                    }
                    io = tls_io;
                    session.tls = true;
                    info!("STARTTLS done");
                }
                Err(e) => {
                    info!(error = %e, "STARTTLS handshake failed; closing");
                    return;
                }
            },
            Next::Close(reason) => {
                info!(reason, "connection closed");
                io.close().await;
                return;
            }
        }
    }
}

/// A tag as imap-types wants it, from the framer's text (already checked).
fn tag_from(text: Option<String>) -> Option<Tag<'static>> {
    text.and_then(|t| Tag::try_from(t).ok())
}

impl Session {
    pub(crate) fn user(&self) -> Outcome<&Principal> {
        self.user
            .as_ref()
            .ok_or_else(|| Failure::bad("Prima occorre autenticarsi (not authenticated)"))
    }

    fn greeting(&self) -> Vec<u8> {
        let greeting = Greeting {
            kind: GreetingKind::Ok,
            code: Some(Code::Capability(self.capabilities())),
            text: text(&format!(
                "{} {PRODUCT} IMAP4rev1 pronto (ready)",
                self.config.hostname
            )),
        };
        GreetingCodec::new().encode(&greeting).dump()
    }

    /// What the server offers now: login mechanisms only where logging in is possible.
    fn capabilities(&self) -> Vec1<Capability<'static>> {
        let mut caps = vec![Capability::Imap4Rev1];
        if self.user.is_none() {
            if self.tls {
                caps.push(Capability::Auth(AuthMechanism::Plain));
            } else {
                if self.config.tls.is_some() {
                    caps.push(Capability::StartTls);
                }
                caps.push(Capability::LoginDisabled);
            }
            caps.push(Capability::SaslIr);
        }
        caps.extend([
            Capability::LiteralPlus,
            Capability::Id,
            Capability::Enable,
            Capability::Idle,
            Capability::Namespace,
            Capability::UidPlus,
            Capability::Move,
            Capability::Unselect,
            Capability::Quota,
            Capability::CondStore,
            Capability::StatusSize,
        ]);
        for other in ["SPECIAL-USE", "CHILDREN"] {
            if let Ok(cap) = Capability::try_from(other) {
                caps.push(cap);
            }
        }
        Vec1::try_from(caps).unwrap_or_else(|_| Vec1::from(Capability::Imap4Rev1))
    }

    /// Reads one frame and answers it.
    async fn step(&mut self, io: &mut Io) -> Next {
        let frame = match io.next_frame().await {
            Ok(frame) => frame,
            Err(e) => return self.stopped(io, e),
        };
        match frame {
            Frame::Continue => {
                io.send(&continuation("Pronto a ricevere (ready for literal data)"));
                Next::Continue
            }
            Frame::Refused {
                tag,
                why: Refusal::LineTooLong,
            } => {
                let s = format!(
                    "Riga di comando troppo lunga: massimo {} byte (line too long)",
                    self.config.max_line_length
                );
                io.send(&status(tag_from(tag), StatusKind::Bad, None, &s));
                self.count_bad(io)
            }
            Frame::Refused {
                tag,
                why: Refusal::LiteralTooBig(length),
            } => {
                let max = match self.user {
                    Some(_) => self.config.max_literal,
                    None => self.config.max_line_length as u64,
                };
                let s =
                    format!("Dati troppo grandi: {length} byte, massimo {max} (literal too big)");
                let too_big = Some(Code::TooBig);
                io.send(&status(tag_from(tag), StatusKind::No, too_big, &s));
                Next::Continue
            }
            Frame::Command(bytes) => self.command(io, &bytes).await,
        }
    }

    /// Why the connection stopped while waiting for the client.
    fn stopped(&self, io: &mut Io, e: IoError) -> Next {
        match e {
            IoError::Timeout => {
                io.send(&bye(
                    "Autologout: sessione inattiva troppo a lungo (idle timeout)",
                ));
                Next::Close("autologout")
            }
            IoError::Eof => Next::Close("client closed the connection"),
            IoError::Revoked => {
                io.send(&bye(
                    "Sessione chiusa: credenziali cambiate o casella non attiva (login no longer valid)",
                ));
                Next::Close("login no longer valid")
            }
            IoError::Net(e) => {
                debug!(error = %e, "network error");
                Next::Close("network error")
            }
        }
    }

    /// One more `BAD`; past the limit the session ends.
    fn count_bad(&mut self, io: &mut Io) -> Next {
        self.bad_commands += 1;
        if self.bad_commands >= MAX_BAD_COMMANDS {
            io.send(&bye(
                "Troppi comandi errati: connessione chiusa (too many bad commands)",
            ));
            return Next::Close("too many bad commands");
        }
        Next::Continue
    }

    /// Decodes and runs one command.
    async fn command(&mut self, io: &mut Io, bytes: &[u8]) -> Next {
        let command = match CommandCodec::new().decode(bytes) {
            Ok(([], command)) => command,
            _ => {
                let tag = tag_from(framing::tag_of(bytes));
                let s = match tag {
                    Some(_) => {
                        "Comando sconosciuto o sintassi errata (unknown command or syntax error)"
                    }
                    None => "Manca il tag del comando, o non è valido (missing or invalid tag)",
                };
                io.send(&status(tag, StatusKind::Bad, None, s));
                return self.count_bad(io);
            }
        };
        let tag = command.tag.into_static();
        let name = command.body.name();
        let span = tracing::debug_span!("command", tag = tag.inner(), name);
        self.execute(io, tag, command.body).instrument(span).await
    }

    /// Refreshes the logged-in principal from the store (`Engine::rinnova`); `Revoked` when
    /// the session must end. A storage fault keeps the session: the command will say.
    pub(crate) async fn still_valid(&mut self) -> Result<(), IoError> {
        let Some(user) = &self.user else {
            return Ok(());
        };
        match self.engine.rinnova(user).await {
            Ok(Some(now)) => {
                self.user = Some(now);
                Ok(())
            }
            Ok(None) => {
                info!(login = ?user.login, mailbox = %user.mailbox, "session ended: login no longer valid");
                Err(IoError::Revoked)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the session's login");
                Ok(())
            }
        }
    }

    /// Runs a decoded command and sends its tagged response.
    async fn execute(&mut self, io: &mut Io, tag: Tag<'static>, body: CommandBody<'_>) -> Next {
        let name = body.name();
        // RFC 3501 §7.4.1: no EXPUNGE while answering FETCH, STORE or SEARCH.
        let expunge_allowed = !matches!(
            body,
            CommandBody::Fetch { uid: false, .. }
                | CommandBody::Store { uid: false, .. }
                | CommandBody::Search { uid: false, .. }
        );
        // A password changed or a box blocked anywhere ends this session at its next command.
        if let Err(e) = self.still_valid().await {
            return self.stopped(io, e);
        }
        let result = match body {
            CommandBody::Logout => {
                io.send(&bye("Arrivederci (logging out)"));
                io.send(&status(
                    Some(tag),
                    StatusKind::Ok,
                    None,
                    "LOGOUT completato",
                ));
                return Next::Close("logout");
            }
            CommandBody::StartTLS => match self.starttls() {
                Ok(tls) => {
                    let s = "Inizia la negoziazione TLS (begin TLS negotiation now)";
                    io.send(&status(Some(tag), StatusKind::Ok, None, s));
                    return Next::StartTls(tls);
                }
                Err(f) => Err(f),
            },
            CommandBody::Capability => {
                io.send(&Response::Data(Data::Capability(self.capabilities())));
                Ok(None)
            }
            CommandBody::Noop => Ok(None),
            CommandBody::Id { parameters } => {
                self.id(io, parameters.as_deref());
                Ok(None)
            }
            CommandBody::Login { username, password } => {
                let password = password.declassify().as_ref().to_vec();
                self.login(io, username.as_ref(), &password).await
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                let initial = initial_response.map(|r| r.declassify().to_vec());
                match self.authenticate(io, &mechanism, initial).await {
                    Ok(outcome) => outcome,
                    Err(e) => return self.stopped(io, e),
                }
            }
            CommandBody::Enable { capabilities } => self.enable(io, capabilities.as_ref()),
            CommandBody::Namespace => self.namespace(io),
            CommandBody::Idle => match self.idle(io).await {
                Ok(outcome) => outcome,
                Err(e) => return self.stopped(io, e),
            },
            body => self.mailbox_command(io, body).await,
        };
        if self.selected.is_some()
            && !matches!(name, "SELECT" | "EXAMINE")
            && let Err(f) = self.sync(io, expunge_allowed).await
        {
            self.log_failure(&f);
        }
        let next = match result {
            Ok(code) => {
                let s = format!("{name} completato (completed)");
                io.send(&status(Some(tag), StatusKind::Ok, code, &s));
                Next::Continue
            }
            Err(failure) => {
                self.log_failure(&failure);
                let bad = matches!(failure, Failure::Bad { .. });
                io.send(&failure.response(tag));
                if bad {
                    self.count_bad(io)
                } else {
                    Next::Continue
                }
            }
        };
        if self.failed_logins >= MAX_FAILED_LOGINS {
            io.send(&bye(
                "Troppi tentativi di accesso falliti (too many failed logins)",
            ));
            return Next::Close("too many failed logins");
        }
        next
    }

    fn log_failure(&self, failure: &Failure) {
        match failure {
            Failure::Internal { .. } => error!(error = %failure, "command failed"),
            _ => debug!(refusal = %failure, "command refused"),
        }
    }

    /// The commands of the authenticated and selected states.
    async fn mailbox_command(
        &mut self,
        io: &mut Io,
        body: CommandBody<'_>,
    ) -> Outcome<Option<Code<'static>>> {
        self.user()?;
        match body {
            CommandBody::Select {
                mailbox,
                parameters,
            } => self.select(io, &mailbox, &parameters, false).await,
            CommandBody::Examine {
                mailbox,
                parameters,
            } => self.select(io, &mailbox, &parameters, true).await,
            CommandBody::Create { mailbox } => self.create(&mailbox).await,
            CommandBody::Delete { mailbox } => self.delete(&mailbox).await,
            CommandBody::Rename { from, to } => self.rename(&from, &to).await,
            CommandBody::Subscribe { mailbox } | CommandBody::Unsubscribe { mailbox } => {
                self.subscribe(&mailbox).await
            }
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => self.list(io, &reference, &mailbox_wildcard, false).await,
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => self.list(io, &reference, &mailbox_wildcard, true).await,
            CommandBody::Status {
                mailbox,
                item_names,
            } => self.status(io, &mailbox, &item_names).await,
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => self.append(&mailbox, &flags, date.as_ref(), &message).await,
            CommandBody::GetQuota { root } => self.get_quota(io, root.as_ref()).await,
            CommandBody::GetQuotaRoot { mailbox } => self.get_quota_root(io, &mailbox).await,
            CommandBody::SetQuota { .. } => Err(Failure::no(
                "NOPERM",
                "La quota la stabilisce il gestore (quota is set by the provider)",
            )),
            body => self.selected_command(io, body).await,
        }
    }

    /// The commands of the selected state.
    async fn selected_command(
        &mut self,
        io: &mut Io,
        body: CommandBody<'_>,
    ) -> Outcome<Option<Code<'static>>> {
        if self.selected.is_none() {
            return Err(match body {
                CommandBody::Sort { .. }
                | CommandBody::Thread { .. }
                | CommandBody::Compress { .. } => unsupported(),
                _ => Failure::bad("Nessuna cartella selezionata (no mailbox selected)"),
            });
        }
        match body {
            CommandBody::Check => Ok(None),
            CommandBody::Close => self.close().await,
            CommandBody::Unselect => {
                self.selected = None;
                Ok(None)
            }
            CommandBody::Expunge => self.expunge(None).await,
            CommandBody::ExpungeUid { sequence_set } => self.expunge(Some(&sequence_set)).await,
            CommandBody::Search {
                charset,
                criteria,
                uid,
            } => {
                self.search(io, charset.as_ref(), criteria.as_ref(), uid)
                    .await
            }
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => {
                self.fetch(io, &sequence_set, macro_or_item_names, uid, &modifiers)
                    .await
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } => {
                self.store(io, &sequence_set, kind, response, &flags, uid, &modifiers)
                    .await
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(io, &sequence_set, &mailbox, uid, false).await,
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(io, &sequence_set, &mailbox, uid, true).await,
            _ => Err(unsupported()),
        }
    }

    fn starttls(&self) -> Outcome<Arc<rustls::ServerConfig>> {
        if self.tls {
            return Err(Failure::bad(
                "La connessione è già cifrata (TLS already active)",
            ));
        }
        if self.user.is_some() {
            return Err(Failure::bad(
                "STARTTLS solo prima dell'accesso (already authenticated)",
            ));
        }
        self.config
            .tls
            .clone()
            .ok_or_else(|| Failure::bad("STARTTLS non disponibile (TLS not configured)"))
    }

    fn id(&self, io: &mut Io, parameters: Option<&[(IString<'_>, NString<'_>)]>) {
        if let Some(parameters) = parameters {
            let client: Vec<String> = parameters
                .iter()
                .map(|(k, v)| {
                    let v =
                        v.0.as_ref()
                            .map(|v| String::from_utf8_lossy(v.as_ref()).into_owned());
                    format!(
                        "{}={}",
                        String::from_utf8_lossy(k.as_ref()),
                        v.unwrap_or_default()
                    )
                })
                .collect();
            info!(client = %client.join(", "), "client ID");
        }
        let field =
            |k: &'static str, v: &'static str| -> Option<(IString<'static>, NString<'static>)> {
                Some((
                    IString::try_from(k).ok()?,
                    NString(Some(IString::try_from(v).ok()?)),
                ))
            };
        let parameters = [
            field("name", PRODUCT),
            field("version", env!("CARGO_PKG_VERSION")),
            field("vendor", PRODUCT),
        ]
        .into_iter()
        .flatten()
        .collect();
        io.send(&Response::Data(Data::Id {
            parameters: Some(parameters),
        }));
    }

    fn enable(
        &mut self,
        io: &mut Io,
        capabilities: &[CapabilityEnable<'_>],
    ) -> Outcome<Option<Code<'static>>> {
        self.user()?;
        let mut enabled = Vec::new();
        for capability in capabilities {
            if *capability == CapabilityEnable::CondStore && !enabled.contains(capability) {
                self.condstore = true;
                enabled.push(CapabilityEnable::CondStore);
            }
        }
        io.send(&Response::Data(Data::Enabled {
            capabilities: enabled,
        }));
        Ok(None)
    }

    fn namespace(&self, io: &mut Io) -> Outcome<Option<Code<'static>>> {
        self.user()?;
        let personal = Namespace {
            prefix: IString::Quoted(Quoted::unvalidated("")),
            delimiter: Some(QuotedChar::unvalidated('/')),
            extensions: Vec::new(),
        };
        io.send(&Response::Data(Data::Namespace {
            personal: vec![personal],
            other: Vec::new(),
            shared: Vec::new(),
        }));
        Ok(None)
    }

    async fn login(
        &mut self,
        io: &mut Io,
        username: &[u8],
        password: &[u8],
    ) -> Outcome<Option<Code<'static>>> {
        if self.user.is_some() {
            return Err(Failure::bad("Accesso già fatto (already authenticated)"));
        }
        if !self.tls {
            return Err(Failure::no(
                "PRIVACYREQUIRED",
                "Accesso solo su connessione cifrata: usare STARTTLS (TLS required)",
            ));
        }
        let (Ok(login), Ok(password)) =
            (std::str::from_utf8(username), std::str::from_utf8(password))
        else {
            self.failed_logins += 1;
            return Err(Failure::no(
                "AUTHENTICATIONFAILED",
                "Credenziali non valide (invalid credentials)",
            ));
        };
        let who = match self.engine.login(login, password).await {
            Ok(Ok(who)) => who,
            Ok(Err(LoginError::BadCredentials)) => {
                self.failed_logins += 1;
                info!(login, "login failed");
                return Err(Failure::no(
                    "AUTHENTICATIONFAILED",
                    "Credenziali non valide (invalid credentials)",
                ));
            }
            Ok(Err(LoginError::NotActive(mailbox))) => {
                info!(login, mailbox, "login to a box that is not active");
                return Err(Failure::no(
                    "CONTACTADMIN",
                    "La casella non è attiva: rivolgersi al gestore (mailbox not active)",
                ));
            }
            Err(e) => return Err(Failure::engine(e, "checking credentials")),
        };
        info!(login = %who.login, mailbox = %who.mailbox, role = ?who.role, "logged in");
        self.engine.ensure_standard_folders(&who.mailbox).await;
        self.user = Some(who);
        io.framer.set_max_literal(self.config.max_literal);
        Ok(Some(Code::Capability(self.capabilities())))
    }

    /// AUTHENTICATE PLAIN (RFC 4616), with the initial response in the command (SASL-IR) or
    /// after a continuation request. An `Err` is a network failure while waiting.
    async fn authenticate(
        &mut self,
        io: &mut Io,
        mechanism: &AuthMechanism<'_>,
        initial: Option<Vec<u8>>,
    ) -> Result<Outcome<Option<Code<'static>>>, IoError> {
        if self.user.is_some() {
            return Ok(Err(Failure::bad(
                "Accesso già fatto (already authenticated)",
            )));
        }
        if *mechanism != AuthMechanism::Plain {
            return Ok(Err(Failure::no(
                "CANNOT",
                "Meccanismo non supportato: solo PLAIN (unsupported mechanism)",
            )));
        }
        if !self.tls {
            return Ok(Err(Failure::no(
                "PRIVACYREQUIRED",
                "Accesso solo su connessione cifrata: usare STARTTLS (TLS required)",
            )));
        }
        let response = match initial {
            Some(response) => response,
            None => {
                io.send(&Response::CommandContinuationRequest(
                    CommandContinuationRequest::base64(Vec::new()),
                ));
                let RawLine::Line(line) = io.next_line().await? else {
                    return Ok(Err(Failure::bad("Risposta troppo lunga (line too long)")));
                };
                match AuthenticateDataCodec::new().decode(&line) {
                    Ok((_, AuthenticateData::Continue(data))) => data.declassify().to_vec(),
                    Ok((_, AuthenticateData::Cancel)) => {
                        return Ok(Err(Failure::bad("Autenticazione annullata (cancelled)")));
                    }
                    Err(_) => {
                        return Ok(Err(Failure::bad("Risposta non in base64 (invalid base64)")));
                    }
                }
            }
        };
        let mut parts = response.split(|&b| b == 0);
        let (Some(authzid), Some(authcid), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(Err(Failure::bad(
                "Risposta PLAIN malformata (malformed PLAIN response)",
            )));
        };
        if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(authcid) {
            self.failed_logins += 1;
            return Ok(Err(Failure::no(
                "AUTHORIZATIONFAILED",
                "Non si può agire come un altro utente (authorization identity refused)",
            )));
        }
        let (authcid, password) = (authcid.to_vec(), password.to_vec());
        Ok(self.login(io, &authcid, &password).await)
    }
}

/// A command the server does not offer.
fn unsupported() -> Failure {
    Failure::bad("Comando non supportato (command not supported)")
}
