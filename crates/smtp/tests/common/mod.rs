//! Shared test support: a throwaway CA and server certificate, a recording [`Handler`], a
//! server started on a loopback port, and a raw line-level SMTP client that can STARTTLS.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use smtp::{Authenticated, Door, Envelope, Handler, Reply, ServerConfig, Session};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A test CA and a certificate for `localhost` / `127.0.0.1` signed by it.
pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Pki {
    pub fn new(ca_name: &str) -> Pki {
        smtp::install_crypto_provider();
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, ca_name);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &issuer).expect("server cert");
        Pki {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    pub fn server_tls(&self) -> Arc<rustls::ServerConfig> {
        smtp::tls_server_config(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
            .expect("server TLS config")
    }

    pub fn client_tls(&self) -> Arc<rustls::ClientConfig> {
        smtp::tls_client_config(&[self.ca_pem.as_bytes()]).expect("client TLS config")
    }
}

/// A handler that records what it is given and answers as configured.
pub struct Recorder {
    /// username → (password, mailbox)
    pub users: HashMap<String, (String, String)>,
    /// Recipients the handler refuses, with the reply.
    pub rcpt_replies: Mutex<HashMap<String, Reply>>,
    /// The reply to DATA.
    pub data_reply: Mutex<Reply>,
    /// (session, envelope, message) per DATA.
    pub messages: Mutex<Vec<(Session, Envelope, Vec<u8>)>>,
    /// Usernames tried.
    pub auth_attempts: Mutex<Vec<String>>,
}

pub const MARIO: &str = "mario.rossi@pec.example.it";
pub const MARIO_PASSWORD: &str = "segreto-123";
/// A user with a non-ASCII password (smtplib cannot send those; the raw client can).
pub const ANNA: &str = "anna.verdi@pec.example.it";
pub const ANNA_PASSWORD: &str = "perché sì";
pub const QUEUED: &str = "queued as PEC-0001";

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        let mut users = HashMap::new();
        users.insert(
            MARIO.to_owned(),
            (MARIO_PASSWORD.to_owned(), MARIO.to_owned()),
        );
        // A login name that is not the address: the mailbox comes from the handler.
        users.insert(
            "mrossi".to_owned(),
            (MARIO_PASSWORD.to_owned(), MARIO.to_owned()),
        );
        users.insert(ANNA.to_owned(), (ANNA_PASSWORD.to_owned(), ANNA.to_owned()));
        Arc::new(Recorder {
            users,
            rcpt_replies: Mutex::new(HashMap::new()),
            data_reply: Mutex::new(Reply::ok(QUEUED)),
            messages: Mutex::new(Vec::new()),
            auth_attempts: Mutex::new(Vec::new()),
        })
    }

    pub fn refuse_rcpt(&self, rcpt: &str, reply: Reply) {
        self.rcpt_replies
            .lock()
            .unwrap()
            .insert(rcpt.to_owned(), reply);
    }

    pub fn set_data_reply(&self, reply: Reply) {
        *self.data_reply.lock().unwrap() = reply;
    }

    pub fn messages(&self) -> Vec<(Session, Envelope, Vec<u8>)> {
        self.messages.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Handler for Recorder {
    async fn authenticate(
        &self,
        _session: &Session,
        username: &str,
        password: &str,
    ) -> Result<Authenticated, Reply> {
        self.auth_attempts.lock().unwrap().push(username.to_owned());
        match self.users.get(username) {
            Some((pw, mailbox)) if pw == password => Ok(Authenticated {
                mailbox: mailbox.clone(),
                credential: None,
            }),
            _ => Err(Reply::new(
                535,
                "5.7.8",
                "authentication credentials invalid",
            )),
        }
    }

    async fn rcpt(&self, _session: &Session, _mail_from: &str, rcpt: &str) -> Result<(), Reply> {
        match self.rcpt_replies.lock().unwrap().get(rcpt) {
            Some(reply) => Err(reply.clone()),
            None => Ok(()),
        }
    }

    async fn data(&self, session: &Session, envelope: &Envelope, message: Vec<u8>) -> Reply {
        self.messages
            .lock()
            .unwrap()
            .push((session.clone(), envelope.clone(), message));
        self.data_reply.lock().unwrap().clone()
    }
}

/// A door's configuration with test-friendly limits.
pub fn config(door: Door, tls: Option<Arc<rustls::ServerConfig>>) -> ServerConfig {
    ServerConfig {
        door,
        hostname: "mx.pec.example.it".to_owned(),
        tls,
        implicit_tls: false,
        max_message_size: 10_000,
        max_total_size: 25_000,
        max_recipients: 5,
        idle_timeout: Duration::from_secs(10),
        max_line_length: 4096,
    }
}

/// A running server; stops accepting when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn start(config: ServerConfig, handler: Arc<Recorder>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(smtp::serve(
        listener,
        Arc::new(config),
        handler,
        async move {
            let _ = stopped.await;
        },
    ));
    TestServer {
        addr,
        stop: Some(stop),
    }
}

enum Stream {
    Plain(BufReader<TcpStream>),
    Tls(Box<BufReader<tokio_rustls::client::TlsStream<TcpStream>>>),
    Gone,
}

/// A raw SMTP client: send lines, read replies as (code, lines).
pub struct Raw {
    stream: Stream,
}

/// One reply: the code and every line's text after `NNN-` / `NNN `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl RawReply {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

impl Raw {
    /// Connects and reads the greeting, which must be 220.
    pub async fn connect(addr: SocketAddr) -> Raw {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let mut raw = Raw {
            stream: Stream::Plain(BufReader::new(tcp)),
        };
        let greeting = raw.reply().await;
        assert_eq!(greeting.code, 220, "{greeting:?}");
        raw
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        match &mut self.stream {
            Stream::Plain(s) => s.get_mut().write_all(bytes).await.expect("write"),
            Stream::Tls(s) => {
                s.get_mut().write_all(bytes).await.expect("write");
                s.get_mut().flush().await.expect("flush");
            }
            Stream::Gone => panic!("stream gone"),
        }
    }

    /// Reads one line; None at EOF.
    pub async fn line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let n = match &mut self.stream {
            Stream::Plain(s) => s.read_until(b'\n', &mut buf).await,
            Stream::Tls(s) => s.read_until(b'\n', &mut buf).await,
            Stream::Gone => panic!("stream gone"),
        }
        .unwrap_or(0);
        if n == 0 {
            return None;
        }
        Some(
            String::from_utf8_lossy(&buf)
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        )
    }

    /// Reads one (possibly multi-line) reply.
    pub async fn reply(&mut self) -> RawReply {
        let mut lines = Vec::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.line())
                .await
                .expect("reply within 10 s")
                .expect("reply before EOF");
            assert!(line.len() >= 3, "short reply line {line:?}");
            let code: u16 = line[..3].parse().expect("reply code");
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_owned());
            if last {
                return RawReply { code, lines };
            }
        }
    }

    pub async fn cmd(&mut self, command: &str) -> RawReply {
        self.send_raw(format!("{command}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Asserts the server closes the connection (EOF) within 5 s, ignoring any lines first.
    pub async fn expect_closed(&mut self) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while self.line().await.is_some() {}
        })
        .await
        .expect("connection closed within 5 s");
    }

    /// STARTTLS (expects 220) and the handshake, verifying `localhost`.
    pub async fn starttls(&mut self, tls: Arc<rustls::ClientConfig>) {
        let reply = self.cmd("STARTTLS").await;
        assert_eq!(reply.code, 220, "{reply:?}");
        self.handshake(tls).await;
    }

    pub async fn handshake(&mut self, tls: Arc<rustls::ClientConfig>) {
        let Stream::Plain(reader) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            panic!("already TLS");
        };
        assert!(reader.buffer().is_empty(), "data after 220 to STARTTLS");
        let tcp = reader.into_inner();
        let connector = tokio_rustls::TlsConnector::from(tls);
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = connector.connect(name, tcp).await.expect("TLS handshake");
        self.stream = Stream::Tls(Box::new(BufReader::new(tls)));
    }

    /// Connects to a submission door and does EHLO, STARTTLS, EHLO.
    pub async fn submission_tls(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> Raw {
        let mut raw = Raw::connect(addr).await;
        assert_eq!(raw.cmd("EHLO client.example").await.code, 250);
        raw.starttls(tls).await;
        assert_eq!(raw.cmd("EHLO client.example").await.code, 250);
        raw
    }

    /// As [`Raw::submission_tls`], then AUTH PLAIN as `user`.
    pub async fn logged_in(
        addr: SocketAddr,
        tls: Arc<rustls::ClientConfig>,
        user: &str,
        password: &str,
    ) -> Raw {
        let mut raw = Raw::submission_tls(addr, tls).await;
        let reply = raw.cmd(&auth_plain(user, password)).await;
        assert_eq!(reply.code, 235, "{reply:?}");
        raw
    }
}

/// `AUTH PLAIN <base64(\0user\0password)>`.
pub fn auth_plain(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
    format!("AUTH PLAIN {token}")
}

/// A small message with CRLF line ends, UTF-8 and lines that need dot-stuffing.
pub fn sample_message(from: &str, to: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: prova\r\nMessage-ID: <1@client.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Città di prova.\r\n.leading dot\r\n..two dots\r\n.\r\nlast line\r\n"
    )
    .into_bytes()
}
