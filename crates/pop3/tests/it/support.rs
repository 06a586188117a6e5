//! What every POP3 test needs: a provider (an [`Engine`] on a SQLite store in a temporary
//! directory, with a test CA for its signatures and for the server's TLS certificate), real
//! PEC messages delivered into its boxes, the POP3 server on a loopback port, and a
//! line-level client that can speak plaintext, STLS and implicit TLS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use engine::antivirus::NoScan;
use engine::clock::{Clock, ManualClock};
use engine::{Engine, INBOX, Settings};
use index::{Index, SharedIndex};
use pop3::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use store::sqlite::SqliteStore;
use store::{
    Batch, DelegateRole, MailboxKind, MailboxState, NewDelegate, NewMailbox, NewMessage,
    OrdinaryMail, Store, StoredMessage,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::client::TlsStream;

pub const DOMAIN: &str = "pec.pecora.test";
/// The holder of the box the tests read.
pub const HOLDER: &str = "mario.rossi@pec.pecora.test";
pub const PASSWORD: &str = "Segreta-123 con spazi";
/// How long a test waits for one line from the server.
const PATIENCE: Duration = Duration::from_secs(20);

/// The real PEC messages shared with the other crates (`shared/fixtures/real-pec`).
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/real-pec"
);

/// A busta di trasporto with CRLF line ends (Aruba, 18 KB).
pub const BUSTA_CRLF: &str = "aruba_2018-12-19_posta-certificata.eml";
/// A busta with CRLF line ends and lines starting with "." (InfoCert, 3.4 MB).
pub const BUSTA_DOTS: &str = "legalmail_2018-12-10_posta-certificata_repaired.eml";
/// A busta with bare LF line ends and lines starting with "." (Sogei, SdI).
pub const BUSTA_LF: &str = "sogei_2018-12-08_posta-certificata_sdi-invio-file.eml";
/// A ricevuta di accettazione with CRLF line ends (Aruba, 2014).
pub const ACCETTAZIONE: &str = "aruba_2014-11-14_accettazione.eml";

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(FIXTURES).join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "real PEC fixture {} not readable ({e}): expected shared/fixtures/real-pec beside the work tree",
            path.display()
        )
    })
}

/// What a client gets back from RETR once it undoes the dot-stuffing: the message with
/// CRLF line ends, ending with a line end.
pub fn as_retrieved(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in message.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One provider with the holder's box, and what its tests need around it.
pub struct Provider {
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
    tls: Arc<rustls::ServerConfig>,
    client_tls: Arc<rustls::ClientConfig>,
    /// The test CA's certificate, for Python and curl.
    pub ca_file: PathBuf,
    dir: tempfile::TempDir,
}

impl Provider {
    pub async fn new() -> Provider {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("store"))
                .await
                .expect("SQLite store"),
        );
        let clock = Arc::new(ManualClock::new(
            "2026-03-02T09:00:00+01:00[Europe/Rome]"
                .parse()
                .expect("instant"),
        ));
        let at = clock.now().timestamp().as_second();
        store.create_domain(DOMAIN, at).await.expect("domain");
        store
            .create_mailbox(
                &NewMailbox {
                    address: HOLDER.into(),
                    kind: MailboxKind::Standard,
                    state: MailboxState::Attiva,
                    quota: 0,
                    ordinary_mail: OrdinaryMail::Rifiuta,
                    password_hash: engine::accounts::hash_password(PASSWORD).expect("hash"),
                },
                at,
            )
            .await
            .expect("holder's box");

        let ca = smime::testca::TestCa::new("pecora POP3 test").expect("test CA");
        let ca_pem = ca.cert_pem().expect("CA PEM");
        let (sign_cert, sign_key) = ca
            .provider("Pecora PEC", &format!("posta-certificata@{DOMAIN}"))
            .expect("signing certificate");
        let signer = smime::Signer::from_pem(&sign_cert, &sign_key, &ca_pem).expect("signer");
        let mut trust = smime::TrustStore::new();
        trust.add_pem(&ca_pem).expect("trust");
        let settings = Settings {
            gestore: pec::Gestore {
                nome: "Pecora PEC".into(),
                dominio: DOMAIN.into(),
            },
            limiti: Default::default(),
            hash: pec::HashAlg::Sha256,
            node: 1,
        };
        let index = SharedIndex::new(Index::from_providers(Vec::new()).expect("index"));
        let engine = Arc::new(Engine::new(
            settings,
            store.clone(),
            index,
            signer,
            trust,
            clock,
            Arc::new(NoScan),
        ));

        let (cert_pem, key_pem) = ca.server(&["localhost", "127.0.0.1"]).expect("TLS cert");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &ca_pem).expect("write CA file");
        Provider {
            engine,
            store,
            tls: server_tls(&cert_pem, &key_pem),
            client_tls: client_tls(&ca_pem),
            ca_file,
            dir,
        }
    }

    /// Delivers a fixture into `mailbox`'s INBOX, as the punto di consegna does; returns
    /// the stored bytes.
    pub async fn deliver(&self, mailbox: &str, fixture_name: &str) -> Vec<u8> {
        let bytes = fixture(fixture_name);
        let blob = self.store.put(&bytes).await.expect("store blob");
        self.store
            .commit(Batch {
                deliveries: vec![NewMessage {
                    mailbox: mailbox.into(),
                    folder: INBOX.into(),
                    blob,
                    size: bytes.len() as u64,
                    flags: Vec::new(),
                    kind: Some("posta-certificata".into()),
                    identificativo: None,
                }],
                ..Default::default()
            })
            .await
            .expect("deliver");
        bytes
    }

    /// What the store holds in `mailbox`'s INBOX.
    pub async fn inbox(&self, mailbox: &str) -> Vec<StoredMessage> {
        self.store.messages(mailbox, INBOX).await.expect("INBOX")
    }

    /// The file the SQLite store keeps blob `id` in (found by name, whatever the layout).
    pub fn blob_file(&self, id: &str) -> PathBuf {
        fn find(dir: &Path, name: &str) -> Option<PathBuf> {
            for entry in std::fs::read_dir(dir).ok()?.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    if let Some(found) = find(&path, name) {
                        return Some(found);
                    }
                } else if path.file_name().is_some_and(|n| n == name) {
                    return Some(path);
                }
            }
            None
        }
        find(self.dir.path(), &id[2..]).expect("the blob's file in the store")
    }

    /// Adds a delegate of the holder's box with its own password ([`PASSWORD`]).
    pub async fn delegate(&self, login: &str, role: DelegateRole) {
        let delegate = NewDelegate {
            login: login.into(),
            mailbox: HOLDER.into(),
            role,
            password_hash: engine::accounts::hash_password(PASSWORD).expect("hash"),
        };
        self.store
            .create_delegate(&delegate, 0)
            .await
            .expect("create delegate");
    }

    /// A port-110-style listener (STLS offered).
    pub fn config(&self) -> ServerConfig {
        ServerConfig::new("pop.pec.pecora.test", Some(self.tls.clone()))
    }

    /// The pop3s listener (implicit TLS).
    pub fn config_implicit(&self) -> ServerConfig {
        ServerConfig {
            implicit_tls: true,
            ..self.config()
        }
    }

    /// Starts a POP3 listener on a loopback port; it stops when the returned value drops.
    pub async fn serve(&self, config: ServerConfig) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let engine = self.engine.clone();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            pop3::serve(listener, Arc::new(config), engine, shutdown)
                .await
                .expect("POP3 listener");
        });
        Server { addr, _stop: stop }
    }

    pub async fn connect(&self, server: &Server) -> Client<TcpStream> {
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let mut client = Client::new(tcp);
        client.expect_ok().await;
        client
    }

    pub async fn connect_tls(&self, server: &Server) -> Client<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let mut client = Client::new(self.handshake(tcp).await);
        client.expect_ok().await;
        client
    }

    /// STLS on a plaintext connection.
    pub async fn stls(&self, mut client: Client<TcpStream>) -> Client<TlsStream<TcpStream>> {
        assert!(client.command("STLS").await.starts_with("+OK"));
        self.tls_client(client.into_stream()).await
    }

    /// The client side of a TLS handshake on a connection (no greeting is expected).
    pub async fn tls_client(&self, tcp: TcpStream) -> Client<TlsStream<TcpStream>> {
        Client::new(self.handshake(tcp).await)
    }

    async fn handshake(&self, tcp: TcpStream) -> TlsStream<TcpStream> {
        let connector = tokio_rustls::TlsConnector::from(self.client_tls.clone());
        connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .expect("TLS handshake")
    }

    /// A TLS session logged in with USER/PASS.
    pub async fn login(&self, server: &Server, login: &str) -> Client<TlsStream<TcpStream>> {
        let mut client = self.connect_tls(server).await;
        assert!(
            client
                .command(&format!("USER {login}"))
                .await
                .starts_with("+OK")
        );
        let reply = client.command(&format!("PASS {PASSWORD}")).await;
        assert!(reply.starts_with("+OK"), "login of {login}: {reply}");
        client
    }
}

fn server_tls(cert_pem: &[u8], key_pem: &[u8]) -> Arc<rustls::ServerConfig> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .expect("server certificate");
    let key = PrivateKeyDer::from_pem_slice(key_pem).expect("server key");
    let config = rustls::ServerConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server TLS config");
    Arc::new(config)
}

fn client_tls(ca_pem: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.expect("CA certificate")).expect("trust CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

/// Runs Python's poplib (`tests/poplib_client.py`) against `server`: one session in `mode`
/// (`ssl`, `stls` or `plain`) doing `steps`; returns the outcome of each step.
pub async fn poplib(
    provider: &Provider,
    server: &Server,
    mode: &str,
    steps: serde_json::Value,
) -> Vec<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/poplib_client.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .arg(mode)
        .arg(server.addr.port().to_string())
        .arg(&provider.ca_file)
        .arg(steps.to_string())
        .output()
        .await
        .expect("python3 must be on PATH for the poplib tests");
    assert!(
        output.status.success(),
        "poplib client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from the poplib client")
}

/// A running listener.
pub struct Server {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

/// A line-level POP3 client: sends what the test says, reads what the server answers.
pub struct Client<S> {
    reader: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    fn new(stream: S) -> Self {
        Client {
            reader: BufReader::new(stream),
        }
    }

    /// The connection, for a TLS handshake on it.
    pub fn into_stream(self) -> S {
        self.reader.into_inner()
    }

    /// Sends raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        let stream = self.reader.get_mut();
        stream.write_all(bytes).await.expect("send");
        stream.flush().await.expect("flush");
    }

    /// One line from the server as bytes, without its CRLF; `None` when the server closed.
    pub async fn line_bytes(&mut self) -> Option<Vec<u8>> {
        let mut line = Vec::new();
        let read = tokio::time::timeout(PATIENCE, self.reader.read_until(b'\n', &mut line))
            .await
            .expect("the server did not answer in time");
        match read {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                assert!(line.ends_with(b"\r\n"), "line without CRLF: {line:?}");
                line.truncate(line.len() - 2);
                Some(line)
            }
        }
    }

    /// One line from the server, without its CRLF; `None` when the server closed.
    pub async fn line(&mut self) -> Option<String> {
        let line = self.line_bytes().await?;
        Some(String::from_utf8(line).expect("UTF-8 reply"))
    }

    /// Sends a command line and returns the status line of the answer.
    pub async fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.line()
            .await
            .expect("connection closed instead of a reply")
    }

    /// The lines of a multi-line body as sent, up to the terminating "." (excluded).
    pub async fn raw_body(&mut self) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        loop {
            let line = self
                .line_bytes()
                .await
                .expect("connection closed inside a body");
            if line == b"." {
                return lines;
            }
            lines.push(line);
        }
    }

    /// The lines of a multi-line body, unstuffed.
    pub async fn body(&mut self) -> Vec<String> {
        let lines = self.raw_body().await.into_iter().map(|line| {
            let line = line.strip_prefix(b".").map_or(line.clone(), <[u8]>::to_vec);
            String::from_utf8(line).expect("UTF-8 body line")
        });
        lines.collect()
    }

    async fn expect_ok(&mut self) {
        let greeting = self.line().await.expect("greeting");
        assert!(greeting.starts_with("+OK"), "greeting: {greeting}");
    }

    /// Whether the server has closed the connection (reads until EOF, ignoring lines).
    pub async fn closed(&mut self) -> bool {
        for _ in 0..3 {
            if self.line().await.is_none() {
                return true;
            }
        }
        false
    }
}
