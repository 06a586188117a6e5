//! Random bytes and random command soup against both doors: the server never panics, always
//! greets, and every connection ends (QUIT, too many errors, or the idle timeout).

mod common;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Pki, Recorder, TestServer, config, start};
use proptest::prelude::*;
use smtp::Door;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

const TLS_READY: &[u8] = b"220 2.0.0 ready to start TLS\r\n";

static PANICKED: AtomicBool = AtomicBool::new(false);

struct World {
    runtime: Runtime,
    servers: Vec<TestServer>,
}

/// One runtime and two servers (submission with TLS, MX without) for all cases.
fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::SeqCst);
            previous(info);
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let servers = runtime.block_on(async {
            let pki = Pki::new("Test CA");
            let mut submission = config(Door::Submission, Some(pki.server_tls()));
            submission.idle_timeout = Duration::from_millis(300);
            submission.max_line_length = 512;
            let mut mx = config(Door::Mx, None);
            mx.idle_timeout = Duration::from_millis(300);
            vec![
                start(submission, Recorder::new()).await,
                start(mx, Recorder::new()).await,
            ]
        });
        World { runtime, servers }
    })
}

/// Sends `input`, then `\r\nQUIT\r\n`, and reads until the server closes. Returns what the
/// server said.
async fn session(addr: std::net::SocketAddr, input: Vec<u8>) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut read, mut write) = tcp.split();
    let reader = async {
        let mut out = Vec::new();
        let _ = read.read_to_end(&mut out).await;
        out
    };
    let writer = async {
        // The server may close early (too many errors); write failures are fine.
        let _ = write.write_all(&input).await;
        let _ = write.write_all(b"\r\nQUIT\r\n").await;
    };
    let (out, ()) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(reader, writer)
    })
    .await
    .expect("the server ends every session within 10 s");
    out
}

/// Command-like fragments, so the soup reaches deeper states than pure noise would.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        Just(b"EHLO x\r\n".to_vec()),
        Just(b"HELO x\r\n".to_vec()),
        Just(b"MAIL FROM:<a@b.it> SIZE=100\r\n".to_vec()),
        Just(b"MAIL FROM:<>\r\n".to_vec()),
        Just(b"RCPT TO:<c@d.it>\r\n".to_vec()),
        Just(b"DATA\r\n".to_vec()),
        Just(b".\r\n".to_vec()),
        Just(b"RSET\r\n".to_vec()),
        Just(b"AUTH PLAIN\r\n".to_vec()),
        Just(b"AUTH LOGIN AAAA\r\n".to_vec()),
        Just(b"STARTTLS\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\0".to_vec()),
        Just(vec![b'A'; 700]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_input_never_breaks_the_server(
        parts in proptest::collection::vec(fragment(), 0..12),
        door in 0usize..2,
    ) {
        let world = world();
        let addr = world.servers[door].addr;
        let input: Vec<u8> = parts.concat();
        let out = world.runtime.block_on(session(addr, input));
        prop_assert!(out.starts_with(b"220 "), "no greeting: {:?}", String::from_utf8_lossy(&out));
        prop_assert!(!PANICKED.load(Ordering::SeqCst), "a task panicked");
        // Every reply line is well formed: three digits then space or dash. After a STARTTLS
        // 220 the server speaks TLS (here: an alert, since the noise is no handshake).
        let tls_at = out
            .windows(TLS_READY.len())
            .position(|w| w == TLS_READY)
            .map_or(out.len(), |p| p + TLS_READY.len());
        for line in out[..tls_at].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            prop_assert!(line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit)
                && (line[3] == b' ' || line[3] == b'-') && line.ends_with(b"\r"),
                "bad reply line {:?}", String::from_utf8_lossy(line));
        }
    }
}

#[test]
fn servers_still_work_after_the_noise() {
    let world = world();
    for server in &world.servers {
        let out = world
            .runtime
            .block_on(session(server.addr, b"NOOP".to_vec()));
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("250 2.0.0 OK") && text.contains("221 2.0.0"),
            "{text}"
        );
    }
    assert!(!PANICKED.load(Ordering::SeqCst));
}
