//! What the server tests share: a throwaway PKI (`smime::testca`), a gestore's engine on a
//! SQLite store in a temporary directory with the IMAP server on loopback (a STARTTLS listener
//! and an implicit-TLS one), real PEC messages to deliver, and a raw IMAP client whose every
//! received response is decoded by an independent parser (the `imap-proto` crate), failing
//! the test on anything it cannot read.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use engine::Engine;
use engine::antivirus::NoScan;
use engine::clock::SystemClock;
use imap_proto::Response as Parsed;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use store::sqlite::SqliteStore;
use store::{
    Batch, DelegateRole, MailboxKind, MailboxState, NewDelegate, NewMailbox, NewMessage,
    OrdinaryMail, Store,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const DOMAIN: &str = "pec.test";
/// A PRO box (with the archive).
pub const MARIO: &str = "mario@pec.test";
pub const PASSWORD: &str = "segreto-123";
/// A delegate of MARIO's box with the `Lettura` role.
pub const LETTORE: &str = "lettore.mario";
/// A delegate of MARIO's box with the `Gestione` role.
pub const GESTORE: &str = "gestione.mario";
/// Another box, in protocol-system mode: its integration account is PROTOCOLLO.
pub const ENTE: &str = "protocollo@pec.test";
pub const PROTOCOLLO: &str = "titulus.ente";
/// A box with a 1 MB quota.
pub const PICCOLA: &str = "piccola@pec.test";
pub const PICCOLA_QUOTA: u64 = 1_000_000;
/// The archive folder the tests deliver to.
pub const ARCHIVE: &str = "Archivio/2026/11";

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/real-pec"
);

/// A real PEC message from the shared fixtures.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(FIXTURES).join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "real PEC fixture {} not found ({e}); expected shared/fixtures/real-pec beside the work tree",
            path.display()
        )
    })
}

pub const ACCETTAZIONE: &str = "aruba_2014-11-14_accettazione.eml";
pub const CONSEGNA: &str = "aruba_2018-11-13_avvenuta-consegna.eml";
pub const BUSTA: &str = "aruba_2018-12-19_posta-certificata.eml";
pub const BUSTA_LF: &str = "aruba_2014-11-07_posta-certificata.eml";

/// A test CA (`smime::testca`) and a TLS certificate for `localhost` signed by it, as the
/// server's and the clients' rustls configurations.
pub struct Pki {
    /// The CA certificate (PEM), for Python's `ssl`.
    pub ca_pem: Vec<u8>,
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

impl Pki {
    pub fn new() -> Pki {
        let ca = smime::testca::TestCa::new("pecora IMAP test").expect("test CA");
        let ca_pem = ca.cert_pem().expect("CA PEM");
        let (cert_pem, key_pem) = ca
            .server(&["127.0.0.1", "localhost"])
            .expect("server certificate");
        let certs = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .expect("server certificate");
        let key = PrivateKeyDer::from_pem_slice(&key_pem).expect("server key");
        let server = rustls::ServerConfig::builder_with_provider(
            rustls::crypto::ring::default_provider().into(),
        )
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server TLS config");
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&ca_pem) {
            roots
                .add(cert.expect("CA certificate"))
                .expect("trust the test CA");
        }
        let client = rustls::ClientConfig::builder_with_provider(
            rustls::crypto::ring::default_provider().into(),
        )
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Pki {
            ca_pem,
            server: Arc::new(server),
            client: Arc::new(client),
        }
    }

    pub fn server_tls(&self) -> Arc<rustls::ServerConfig> {
        self.server.clone()
    }

    pub fn client_tls(&self) -> Arc<rustls::ClientConfig> {
        self.client.clone()
    }
}

/// A gestore with its IMAP server on loopback.
pub struct Server {
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
    pub pki: Pki,
    /// The listener with STARTTLS.
    pub plain: SocketAddr,
    /// The implicit-TLS listener.
    pub implicit: SocketAddr,
    pub dir: tempfile::TempDir,
    /// Dropped with the server: the listeners stop.
    _stop: tokio::sync::watch::Sender<()>,
}

/// The limits the tests use (small, so that they are quick to exceed).
pub fn config(tls: Option<Arc<rustls::ServerConfig>>) -> imap::ServerConfig {
    let mut config = imap::ServerConfig::new("imap.pec.test", tls);
    config.max_line_length = 8192;
    config.max_literal = 4 * 1024 * 1024;
    config.idle_timeout = Duration::from_secs(30);
    config
}

/// An engine on a store in `dir`, with the test domain's boxes and delegates created when
/// `populate`.
pub async fn engine_in(dir: &std::path::Path, populate: bool) -> Arc<Engine> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir).await.expect("open the store"));
    let ca = smime::testca::TestCa::new("test").expect("test CA");
    let ca_pem = ca.cert_pem().expect("CA PEM");
    let (cert, key) = ca
        .provider("Test PEC", &format!("posta-certificata@{DOMAIN}"))
        .expect("provider certificate");
    let signer = smime::Signer::from_pem(&cert, &key, &ca_pem).expect("signer");
    let mut trust = smime::TrustStore::new();
    trust.add_pem(&ca_pem).expect("trust");
    let index = index::SharedIndex::new(index::Index::from_providers(Vec::new()).expect("index"));
    let settings = engine::Settings {
        gestore: pec::Gestore {
            nome: "Test PEC".into(),
            dominio: DOMAIN.into(),
        },
        limiti: Default::default(),
        hash: pec::HashAlg::Sha1,
        node: 1,
    };
    let engine = Arc::new(Engine::new(
        settings,
        store.clone(),
        index,
        signer,
        trust,
        Arc::new(SystemClock::rome()),
        Arc::new(NoScan),
    ));
    if populate {
        populate_boxes(store.as_ref()).await;
    }
    engine
}

async fn populate_boxes(store: &dyn Store) {
    let at = 1_780_000_000;
    let hash = engine::accounts::hash_password(PASSWORD).expect("hash");
    store.create_domain(DOMAIN, at).await.expect("domain");
    for (address, kind, quota) in [
        (MARIO, MailboxKind::Pro, 0),
        (ENTE, MailboxKind::Standard, 0),
        (PICCOLA, MailboxKind::Standard, PICCOLA_QUOTA),
    ] {
        let m = NewMailbox {
            address: address.into(),
            kind,
            state: MailboxState::Attiva,
            quota,
            ordinary_mail: OrdinaryMail::Rifiuta,
            password_hash: hash.clone(),
        };
        store.create_mailbox(&m, at).await.expect("mailbox");
    }
    for (login, mailbox, role) in [
        (LETTORE, MARIO, DelegateRole::Lettura),
        (GESTORE, MARIO, DelegateRole::Gestione),
        (PROTOCOLLO, ENTE, DelegateRole::Gestione),
    ] {
        let d = NewDelegate {
            login: login.into(),
            mailbox: mailbox.into(),
            role,
            password_hash: hash.clone(),
        };
        store.create_delegate(&d, at).await.expect("delegate");
    }
    store
        .set_protocol_account(ENTE, Some(PROTOCOLLO))
        .await
        .expect("protocol account");
}

impl Server {
    /// A gestore with MARIO's INBOX holding a busta, an accettazione and a consegna, and his
    /// archive holding one message.
    pub async fn start() -> Server {
        Server::start_with(config).await
    }

    /// Like [`Server::start`], with the configuration made by `config`.
    pub async fn start_with(
        config: fn(Option<Arc<rustls::ServerConfig>>) -> imap::ServerConfig,
    ) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = engine_in(dir.path(), true).await;
        let pki = Pki::new();
        let server = Server::serve(engine, pki, dir, config).await;
        for name in [BUSTA, ACCETTAZIONE, CONSEGNA] {
            server.deliver(MARIO, "INBOX", &fixture(name)).await;
        }
        server.deliver(MARIO, ARCHIVE, &fixture(BUSTA_LF)).await;
        server
    }

    /// Serves `engine` on two fresh loopback listeners.
    pub async fn serve(
        engine: Arc<Engine>,
        pki: Pki,
        dir: tempfile::TempDir,
        config: fn(Option<Arc<rustls::ServerConfig>>) -> imap::ServerConfig,
    ) -> Server {
        let plain_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let implicit_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let plain = plain_listener.local_addr().expect("address");
        let implicit = implicit_listener.local_addr().expect("address");
        let tls = Some(pki.server_tls());
        let (stop, stopped) = tokio::sync::watch::channel(());
        let plain_config = Arc::new(config(tls.clone()));
        let mut implicit_config = config(tls);
        implicit_config.implicit_tls = true;
        for (listener, config) in [
            (plain_listener, plain_config),
            (implicit_listener, Arc::new(implicit_config)),
        ] {
            let engine = engine.clone();
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.changed().await;
                };
                imap::serve(listener, config, engine, shutdown)
                    .await
                    .expect("serve");
            });
        }
        Server {
            store: engine.store().clone(),
            engine,
            pki,
            plain,
            implicit,
            dir,
            _stop: stop,
        }
    }

    /// Delivers a message as the engine's punto di consegna does: one committed batch, then
    /// the change notice.
    pub async fn deliver(&self, mailbox: &str, folder: &str, bytes: &[u8]) {
        let blob = self.store.put(bytes).await.expect("blob");
        let batch = Batch {
            deliveries: vec![NewMessage {
                mailbox: mailbox.into(),
                folder: folder.into(),
                blob,
                size: bytes.len() as u64,
                flags: Vec::new(),
                kind: Some("posta-certificata".into()),
                identificativo: None,
            }],
            ..Default::default()
        };
        self.store.commit(batch).await.expect("deliver");
        self.engine.mailbox_changed(mailbox);
    }

    /// A client on the STARTTLS listener, inside TLS and logged in as `login`.
    pub async fn login(&self, login: &str) -> Client {
        let mut client = Client::connect(self.plain).await;
        client.starttls(&self.pki).await;
        client
            .command(&format!("LOGIN {login} {PASSWORD}"))
            .await
            .expect_ok();
        client
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One response from the server: its bytes and what imap-proto read in them.
#[derive(Debug)]
pub struct Reply {
    /// The response as sent (literals included), lossily as text.
    pub raw: String,
    /// imap-proto's reading; `None` only for the shapes imap-proto 0.17 does not know, each
    /// checked by hand (see [`Client::read_reply`]). A FETCH `BODY` item reads as
    /// `BODYSTRUCTURE` (see [`read_body_as_bodystructure`]).
    pub parsed: Option<Parsed<'static>>,
}

impl Reply {
    pub fn is_tagged(&self, tag: &str) -> bool {
        matches!(&self.parsed, Some(Parsed::Done { tag: t, .. }) if t.0 == tag)
    }
}

/// The untagged responses to one command and its tagged completion.
#[derive(Debug)]
pub struct Done {
    pub untagged: Vec<Reply>,
    pub tagged: Reply,
}

impl Done {
    pub fn status(&self) -> &imap_proto::Status {
        match &self.tagged.parsed {
            Some(Parsed::Done { status, .. }) => status,
            other => panic!("not a tagged completion: {other:?}"),
        }
    }

    /// The tagged line, as text.
    pub fn text(&self) -> &str {
        &self.tagged.raw
    }

    #[track_caller]
    pub fn expect_ok(self) -> Done {
        assert_eq!(
            self.status(),
            &imap_proto::Status::Ok,
            "expected OK: {self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn expect_no(self, code: &str) -> Done {
        assert_eq!(
            self.status(),
            &imap_proto::Status::No,
            "expected NO: {self:#?}"
        );
        assert!(
            self.text().contains(code),
            "expected {code}: {}",
            self.text()
        );
        self
    }

    #[track_caller]
    pub fn expect_bad(self) -> Done {
        assert_eq!(
            self.status(),
            &imap_proto::Status::Bad,
            "expected BAD: {self:#?}"
        );
        self
    }

    /// The raw untagged lines.
    pub fn lines(&self) -> Vec<&str> {
        self.untagged.iter().map(|r| r.raw.as_str()).collect()
    }

    /// The FETCH responses: (sequence number, attributes).
    pub fn fetches(&self) -> Vec<(u32, &Vec<imap_proto::AttributeValue<'static>>)> {
        self.untagged
            .iter()
            .filter_map(|r| match &r.parsed {
                Some(Parsed::Fetch(seq, attrs)) => Some((*seq, attrs)),
                _ => None,
            })
            .collect()
    }

    /// The numbers of the SEARCH response.
    pub fn search(&self) -> Vec<u32> {
        self.untagged
            .iter()
            .find_map(|r| match &r.parsed {
                Some(Parsed::MailboxData(imap_proto::MailboxDatum::Search(n))) => Some(n.clone()),
                // `* SEARCH ... (MODSEQ n)`: imap-proto 0.17 does not know the suffix.
                None if r.raw.starts_with("* SEARCH") => Some(
                    r.raw["* SEARCH".len()..]
                        .split(" (MODSEQ")
                        .next()
                        .unwrap()
                        .split_whitespace()
                        .map(|n| n.parse().unwrap())
                        .collect(),
                ),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no SEARCH response: {self:#?}"))
    }

    /// The EXPUNGE responses, in order.
    pub fn expunges(&self) -> Vec<u32> {
        self.untagged
            .iter()
            .filter_map(|r| match &r.parsed {
                Some(Parsed::Expunge(n)) => Some(*n),
                _ => None,
            })
            .collect()
    }

    /// The EXISTS count, if one was sent.
    pub fn exists(&self) -> Option<u32> {
        self.untagged.iter().find_map(|r| match &r.parsed {
            Some(Parsed::MailboxData(imap_proto::MailboxDatum::Exists(n))) => Some(*n),
            _ => None,
        })
    }
}

/// A raw IMAP client.
pub struct Client {
    stream: Option<Box<dyn Stream>>,
    tcp: Option<TcpStream>,
    input: Vec<u8>,
    next_tag: u32,
    /// The greeting.
    pub greeting: Option<Reply>,
}

/// How long a test waits for any one response.
pub const PATIENCE: Duration = Duration::from_secs(20);

impl Client {
    /// Connects to the STARTTLS listener and reads the greeting.
    pub async fn connect(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let mut client = Client {
            stream: None,
            tcp: Some(tcp),
            input: Vec::new(),
            next_tag: 1,
            greeting: None,
        };
        client.greeting = Some(client.read_reply().await);
        client
    }

    /// Connects to the implicit-TLS listener and reads the greeting.
    pub async fn connect_tls(addr: SocketAddr, pki: &Pki) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let tls = tls_connect(tcp, pki).await;
        let mut client = Client {
            stream: Some(Box::new(tls)),
            tcp: None,
            input: Vec::new(),
            next_tag: 1,
            greeting: None,
        };
        client.greeting = Some(client.read_reply().await);
        client
    }

    /// STARTTLS, then the handshake.
    pub async fn starttls(&mut self, pki: &Pki) {
        self.command("STARTTLS").await.expect_ok();
        self.upgrade(pki).await;
    }

    /// The client side of the TLS handshake, once the server said OK to STARTTLS.
    pub async fn upgrade(&mut self, pki: &Pki) {
        let tcp = self.tcp.take().expect("STARTTLS on a plain connection");
        assert!(self.input.is_empty(), "data after the STARTTLS answer");
        self.stream = Some(Box::new(tls_connect(tcp, pki).await));
    }

    fn tag(&mut self) -> String {
        let tag = format!("t{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        let result = match (&mut self.stream, &mut self.tcp) {
            (Some(s), _) => s.write_all(bytes).await,
            (None, Some(t)) => t.write_all(bytes).await,
            (None, None) => unreachable!(),
        };
        result.expect("write to the server");
    }

    /// Reads more bytes; `false` at end of stream.
    async fn fill(&mut self) -> bool {
        let mut buf = vec![0u8; 64 * 1024];
        let read = async {
            match (&mut self.stream, &mut self.tcp) {
                (Some(s), _) => s.read(&mut buf).await,
                (None, Some(t)) => t.read(&mut buf).await,
                (None, None) => unreachable!(),
            }
        };
        let n = tokio::time::timeout(PATIENCE, read)
            .await
            .expect("the server did not answer in time")
            .unwrap_or(0);
        self.input.extend_from_slice(&buf[..n]);
        n > 0
    }

    /// Whether the server closed the connection (after reading anything still sent).
    pub async fn closed(&mut self) -> bool {
        !self.fill().await
    }

    /// Reads one whole response (lines and the literals they announce) and decodes it with
    /// imap-proto; panics on anything it cannot decode, except three extension shapes
    /// imap-proto 0.17 does not know, which are checked by hand: `* NAMESPACE`, STATUS with
    /// `SIZE` (RFC 8438), and `* SEARCH` with `(MODSEQ n)` (RFC 7162).
    pub async fn read_reply(&mut self) -> Reply {
        let mut end = 0;
        loop {
            match self.input[end..].windows(2).position(|w| w == b"\r\n") {
                Some(at) => {
                    let line_end = end + at + 2;
                    let line = &self.input[end..line_end - 2];
                    if let Some(n) = literal_length(line) {
                        while self.input.len() < line_end + n {
                            assert!(self.fill().await, "connection closed inside a literal");
                        }
                        end = line_end + n;
                    } else {
                        end = line_end;
                        break;
                    }
                }
                None => assert!(
                    self.fill().await,
                    "connection closed mid-response: {:?}",
                    String::from_utf8_lossy(&self.input)
                ),
            }
        }
        let bytes: Vec<u8> = self.input.drain(..end).collect();
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        let parsed = match Parsed::parse(&bytes) {
            Ok(([], parsed)) => Some(parsed.into_owned()),
            _ => read_body_as_bodystructure(&bytes).or_else(|| {
                check_known_gap(&raw);
                None
            }),
        };
        Reply { raw, parsed }
    }

    /// Sends a tagged command and reads up to its completion.
    pub async fn command(&mut self, command: &str) -> Done {
        let tag = self.tag();
        self.write(format!("{tag} {command}\r\n").as_bytes()).await;
        self.until_tagged(&tag).await
    }

    /// Reads responses until the completion of `tag`.
    pub async fn until_tagged(&mut self, tag: &str) -> Done {
        let mut untagged = Vec::new();
        loop {
            let reply = self.read_reply().await;
            if reply.is_tagged(tag) {
                return Done {
                    untagged,
                    tagged: reply,
                };
            }
            untagged.push(reply);
        }
    }

    /// Sends raw bytes as a command with a fresh tag in front: `tag` + `rest`.
    pub async fn raw_command(&mut self, rest: &[u8]) -> Done {
        let tag = self.tag();
        let mut bytes = format!("{tag} ").into_bytes();
        bytes.extend_from_slice(rest);
        self.write(&bytes).await;
        self.until_tagged(&tag).await
    }

    /// A fresh tag, for commands written by hand.
    pub fn fresh_tag(&mut self) -> String {
        self.tag()
    }
}

async fn tls_connect(tcp: TcpStream, pki: &Pki) -> tokio_rustls::client::TlsStream<TcpStream> {
    let connector = tokio_rustls::TlsConnector::from(pki.client_tls());
    let name = ServerName::try_from("localhost").expect("server name");
    connector.connect(name, tcp).await.expect("TLS handshake")
}

/// The length of the literal a response line announces at its end.
fn literal_length(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&inner[open + 1..]).ok()?.parse().ok()
}

/// imap-proto 0.17 has no parser for FETCH's non-extensible `BODY` item. Its grammar is
/// BODYSTRUCTURE's without the optional extension data, so the response must read as one
/// with `BODYSTRUCTURE` in its place (which is what the tests then see).
fn read_body_as_bodystructure(bytes: &[u8]) -> Option<Parsed<'static>> {
    let text = std::str::from_utf8(bytes).ok()?;
    if !text.starts_with("* ") || !text.contains(" FETCH ") {
        return None;
    }
    let rewritten = text
        .replace("(BODY (", "(BODYSTRUCTURE (")
        .replace(" BODY (", " BODYSTRUCTURE (");
    if rewritten == text {
        return None;
    }
    match Parsed::parse(rewritten.as_bytes()) {
        Ok(([], parsed)) => Some(parsed.into_owned()),
        _ => None,
    }
}

/// The responses imap-proto 0.17 cannot read, each checked against its grammar by hand.
#[track_caller]
fn check_known_gap(raw: &str) {
    let line = raw.strip_suffix("\r\n").unwrap_or(raw);
    if line == "* NAMESPACE ((\"\" \"/\")) NIL NIL" {
        return;
    }
    if let Some(rest) = line.strip_prefix("* SEARCH") {
        // mailbox-data =/ "SEARCH" [1*(SP nz-number) SP search-sort-mod-seq]
        let (numbers, modseq) = rest.split_once(" (MODSEQ ").expect("SEARCH with MODSEQ");
        assert!(
            numbers.split_whitespace().all(|n| n.parse::<u32>().is_ok()),
            "{raw}"
        );
        let modseq = modseq.strip_suffix(')').expect("closing parenthesis");
        assert!(modseq.parse::<u64>().is_ok(), "{raw}");
        return;
    }
    if let Some((head, size)) = line
        .strip_prefix("* STATUS ")
        .and_then(|_| line.split_once(" SIZE "))
    {
        // status-att-val =/ "SIZE" SP number64: without it, imap-proto must read the rest.
        let digits = size
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(size.len());
        assert!(size[..digits].parse::<u64>().is_ok(), "{raw}");
        let without = format!("{head}{}\r\n", &size[digits..]);
        let parsed = Parsed::parse(without.as_bytes());
        assert!(
            matches!(parsed, Ok((rest, _)) if rest.is_empty()),
            "imap-proto cannot read {without:?} (from {raw:?})"
        );
        return;
    }
    panic!("imap-proto cannot parse the server's response {raw:?}");
}
