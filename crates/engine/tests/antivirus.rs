//! The antivirus port on a real clamd (started by `support/clamd.rs`) and on fake ones that
//! misbehave: the verdicts, and every way of failing, which must be an error and never a clean
//! verdict (spec §9.6: no certification of an unscanned message). Then the engine with clamd
//! plugged in: a virus at the punto di accesso (avviso di non accettazione per virus), a virus
//! in an incoming busta (avviso di rilevazione virus, then the sender's mancata consegna per
//! virus), each blocked message kept in the virus archive of the gestore that found it;
//! infected ordinary mail refused rather than wrapped in an anomalia; and clamd down at either
//! point (an error for the SMTP door's 451, nothing committed).

#[path = "support/clamd.rs"]
mod clamd;
#[path = "support/gestori.rs"]
mod gestori;

use gestori::{kinds, received, relay_all};

use std::sync::Arc;
use std::time::{Duration, Instant};

use clamd::{EICAR, Options, TestClamd};
use engine::EngineError;
use engine::access::Submitted;
use engine::antivirus::{Antivirus, Clamd, NoScan, Verdict};
use engine::reception::Received;
use pec::checks::Envelope;
use pec::daticert::Errore;
use store::{OrdinaryMail, VirusPoint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn clamd_at(address: &str, timeout: Duration) -> Clamd {
    Clamd::new(address.parse().unwrap()).with_timeout(timeout)
}

fn plain(body: &str) -> Vec<u8> {
    format!(
        "From: mario@pec.uno.test\r\nTo: anna@pec.due.test\r\nSubject: Prova\r\n\
         Message-ID: <m1@client>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A message with `file` as a base64 attachment.
fn with_attachment(file: &[u8]) -> Vec<u8> {
    let b64 = openssl::base64::encode_block(file);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    format!(
        "From: mario@pec.uno.test\r\nTo: anna@pec.due.test\r\nSubject: Fattura\r\n\
         Message-ID: <m2@client>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nIn allegato la fattura.\r\n\
         --b1\r\nContent-Type: application/octet-stream; name=\"fattura.com\"\r\n\
         Content-Disposition: attachment; filename=\"fattura.com\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

fn infected(v: Verdict) -> String {
    match v {
        Verdict::Infected(name) => name,
        Verdict::Clean => panic!("clean, expected infected"),
    }
}

#[tokio::test]
async fn verdicts_from_a_real_clamd() {
    let server = TestClamd::start();
    for address in [server.tcp_address(), server.unix_address()] {
        let c = clamd_at(&address, Duration::from_secs(10));
        c.ping().await.unwrap();
        assert!(c.version().await.unwrap().starts_with("ClamAV"));
        assert_eq!(c.scan(&plain("ciao")).await.unwrap(), Verdict::Clean);
        assert_eq!(c.scan(b"").await.unwrap(), Verdict::Clean);
        let name = infected(c.scan(EICAR).await.unwrap());
        assert!(name.contains("Eicar"), "{name}");
        let name = infected(c.scan(&with_attachment(EICAR)).await.unwrap());
        assert!(name.contains("Eicar"), "{name}");
        // In the body, with text around it.
        let name = infected(
            c.scan(&plain(&String::from_utf8_lossy(EICAR)))
                .await
                .unwrap(),
        );
        assert!(name.contains("Eicar"), "{name}");
    }

    // Several chunks, EICAR across the boundary of the first two: clamd sees one stream.
    let c = clamd_at(&server.tcp_address(), Duration::from_secs(10));
    let mut big = vec![b'a'; engine::antivirus::CHUNK_SIZE - 30];
    big.extend_from_slice(EICAR);
    big.extend(std::iter::repeat_n(b'b', 3 * engine::antivirus::CHUNK_SIZE));
    let name = infected(c.scan(&big).await.unwrap());
    assert!(name.contains("Eicar"), "{name}");
    let clean = vec![b'c'; 5 * engine::antivirus::CHUNK_SIZE + 17];
    assert_eq!(c.scan(&clean).await.unwrap(), Verdict::Clean);

    // Concurrent scans, each on its own connection.
    let c = Arc::new(c);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let c = c.clone();
        tasks.spawn(async move {
            let m = if i % 2 == 0 {
                with_attachment(EICAR)
            } else {
                plain("pulito")
            };
            (i, c.scan(&m).await.unwrap())
        });
    }
    while let Some(r) = tasks.join_next().await {
        let (i, v) = r.unwrap();
        assert_eq!(matches!(v, Verdict::Infected(_)), i % 2 == 0, "{i}: {v:?}");
    }
}

#[tokio::test]
async fn a_mime_attachment_is_decoded_before_matching() {
    // Only the hash of the exact 68-byte file: found in the raw stream, and in a message only
    // because clamd decodes the base64 attachment back into that file.
    let server = TestClamd::start_with(Options {
        body_signature: false,
        ..Options::default()
    });
    let c = clamd_at(&server.tcp_address(), Duration::from_secs(10));
    let raw = infected(c.scan(EICAR).await.unwrap());
    assert!(raw.contains("Eicar-Test-Signature"), "{raw}");
    assert!(!raw.contains("Body"), "{raw}");
    let attached = infected(c.scan(&with_attachment(EICAR)).await.unwrap());
    assert!(attached.contains("Eicar-Test-Signature"), "{attached}");
    // The same bytes followed by a newline are another file: not this signature.
    let mut longer = EICAR.to_vec();
    longer.extend_from_slice(b"\r\n");
    assert_eq!(c.scan(&longer).await.unwrap(), Verdict::Clean);
}

#[tokio::test]
async fn beyond_stream_max_length_is_an_error_not_clean() {
    let server = TestClamd::start_with(Options {
        stream_max_length: 256 * 1024,
        ..Options::default()
    });
    let c = clamd_at(&server.tcp_address(), Duration::from_secs(10));
    assert_eq!(
        c.scan(&vec![b'x'; 200 * 1024]).await.unwrap(),
        Verdict::Clean
    );
    for size in [256 * 1024 + 1, 3 * 1024 * 1024] {
        let e = c.scan(&vec![b'x'; size]).await.unwrap_err();
        assert!(e.to_string().contains("StreamMaxLength"), "{size}: {e}");
    }
    // clamd is still fine afterwards.
    c.ping().await.unwrap();
}

#[tokio::test]
async fn clamd_down_is_an_error_quickly() {
    let port = clamd::free_port();
    let c = clamd_at(&format!("tcp:127.0.0.1:{port}"), Duration::from_secs(10));
    let t0 = Instant::now();
    let e = c.scan(&plain("ciao")).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("clamd at tcp:127.0.0.1:{port}: ")),
        "{text}"
    );
    assert!(text.contains("connecting"), "{text}");
    assert!(c.ping().await.is_err());

    let dir = tempfile::tempdir().unwrap();
    let c = clamd_at(
        &format!("unix:{}", dir.path().join("none.sock").display()),
        Duration::from_secs(10),
    );
    assert!(c.scan(&plain("ciao")).await.is_err());
}

/// A fake clamd on 127.0.0.1: `serve` gets each connection.
async fn fake<F, Fut>(serve: F) -> String
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("tcp:{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s));
        }
    });
    address
}

#[tokio::test]
async fn a_silent_clamd_times_out() {
    // Reads everything, answers nothing, keeps the connection open.
    let address = fake(|mut s| async move {
        let mut sink = vec![0u8; 64 * 1024];
        while let Ok(n) = s.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let c = clamd_at(&address, Duration::from_millis(500));
    for message in [plain("ciao"), vec![b'x'; 2 * 1024 * 1024]] {
        let t0 = Instant::now();
        let e = c.scan(&message).await.unwrap_err();
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert!(e.to_string().contains("no progress"), "{e}");
    }
    assert!(c.ping().await.is_err());

    // Accepts, never reads: the sender blocks once the socket buffers are full.
    let address = fake(|s| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(s);
    })
    .await;
    let c = clamd_at(&address, Duration::from_millis(500));
    let t0 = Instant::now();
    let e = c.scan(&vec![b'x'; 16 * 1024 * 1024]).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert!(
        e.to_string().contains("sending the message: no progress"),
        "{e}"
    );
}

#[tokio::test]
async fn odd_replies_are_errors() {
    // Each fake reads the command, then answers `reply` at once and closes.
    for (reply, expect) in [
        (&b"stream: OK\0"[..], "before the end of the stream"),
        (b"", "without a verdict"),
        (b"HELLO\0", "unexpected reply"),
        (b"stream: Can't allocate memory ERROR\0", "scan failed"),
        (b"INSTREAM size limit exceeded. ERROR\0", "StreamMaxLength"),
    ] {
        let address = fake(move |mut s| async move {
            let mut command = [0u8; 10];
            let _ = s.read_exact(&mut command).await;
            let _ = s.write_all(reply).await;
            let _ = s.shutdown().await;
        })
        .await;
        let c = clamd_at(&address, Duration::from_secs(5));
        // Big enough that the fake answers before it is all sent.
        let e = c.scan(&vec![b'x'; 8 * 1024 * 1024]).await.unwrap_err();
        assert!(e.to_string().contains(expect), "{reply:?}: {e}");
    }
    // A wrong answer to PING.
    let address = fake(|mut s| async move {
        let mut command = [0u8; 6];
        let _ = s.read_exact(&mut command).await;
        let _ = s.write_all(b"PANG\0").await;
    })
    .await;
    let e = clamd_at(&address, Duration::from_secs(5))
        .ping()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("PANG"), "{e}");
}

// ---------------------------------------------------------------------------------------
// The engine with clamd.

fn mario_to_anna() -> Envelope {
    Envelope {
        mail_from: "mario@pec.uno.test".into(),
        rcpt_to: vec!["anna@pec.due.test".into()],
    }
}

#[tokio::test]
async fn virus_at_the_access_point() {
    let server = TestClamd::start();
    let clamd: Arc<dyn Antivirus> =
        Arc::new(clamd_at(&server.tcp_address(), Duration::from_secs(10)));
    let (g, _clock) = gestori::network_with([clamd, Arc::new(NoScan)]).await;
    let uno = &g[0].engine;

    // A clean message goes through the scan.
    let ok = uno.submit(&mario_to_anna(), &plain("ciao")).await.unwrap();
    assert!(matches!(ok, Submitted::Accettato { .. }), "{ok:?}");
    assert_eq!(uno.store().queued().await.unwrap().len(), 1);
    relay_all(&g).await;
    assert_eq!(
        kinds(uno, "mario@pec.uno.test").await,
        ["accettazione", "avvenuta-consegna-completa"]
    );

    let Submitted::NonAccettato {
        identificativo,
        motivo,
    } = uno
        .submit(&mario_to_anna(), &with_attachment(EICAR))
        .await
        .unwrap()
    else {
        panic!("accepted a virus");
    };
    assert!(motivo.contains("Eicar"), "{motivo}");
    let (avviso, c) = received(uno, "mario@pec.uno.test", "non-accettazione-virus").await;
    assert_eq!(
        avviso.identificativo.as_deref(),
        Some(identificativo.as_str())
    );
    assert_eq!(c.headers.x_verifica_sicurezza.as_deref(), Some("errore"));
    let d = c.daticert.unwrap();
    assert_eq!(d.errore, Errore::Virus);
    assert_eq!(d.identificativo, identificativo);
    // Nothing relayed, nothing tracked.
    assert!(uno.store().queued().await.unwrap().is_empty());
    assert!(
        uno.store()
            .tracked(&identificativo)
            .await
            .unwrap()
            .is_empty()
    );
    relay_all(&g).await;
    assert_eq!(kinds(&g[1].engine, "anna@pec.due.test").await.len(), 1);

    // The blocked message is in the virus archive, as submitted; the clean one is not.
    let archive = uno.store().virus_records(0, i64::MAX).await.unwrap();
    assert_eq!(archive.len(), 1, "{archive:?}");
    let r = &archive[0].record;
    assert_eq!(r.point, VirusPoint::Accesso);
    assert!(r.virus.contains("Eicar"), "{}", r.virus);
    assert_eq!(r.identificativo.as_deref(), Some(identificativo.as_str()));
    assert_eq!(r.sender, "mario@pec.uno.test");
    assert_eq!(r.recipients, ["anna@pec.due.test"]);
    assert_eq!(r.gestore, uno.settings().gestore.nome);
    assert_eq!(
        uno.store().get(&r.blob).await.unwrap(),
        with_attachment(EICAR)
    );
    assert_eq!(r.size, with_attachment(EICAR).len() as u64);
}

#[tokio::test]
async fn clamd_down_at_the_access_point_commits_nothing() {
    let port = clamd::free_port();
    let down: Arc<dyn Antivirus> = Arc::new(clamd_at(
        &format!("tcp:127.0.0.1:{port}"),
        Duration::from_secs(5),
    ));
    let (g, _clock) = gestori::network_with([down, Arc::new(NoScan)]).await;
    let uno = &g[0].engine;
    for message in [plain("ciao"), with_attachment(EICAR)] {
        let e = uno.submit(&mario_to_anna(), &message).await.unwrap_err();
        assert!(matches!(e, EngineError::Antivirus(_)), "{e}");
        assert!(e.to_string().starts_with("antivirus: clamd at "), "{e}");
    }
    assert!(kinds(uno, "mario@pec.uno.test").await.is_empty());
    assert!(uno.store().queued().await.unwrap().is_empty());
    assert!(uno.store().open_entries().await.unwrap().is_empty());
}

#[tokio::test]
async fn virus_in_an_incoming_busta() {
    // The sender's gestore scans nothing; the recipient's finds the virus.
    let server = TestClamd::start();
    let clamd: Arc<dyn Antivirus> =
        Arc::new(clamd_at(&server.tcp_address(), Duration::from_secs(10)));
    let (g, _clock) = gestori::network_with([Arc::new(NoScan), clamd]).await;
    let (uno, due) = (&g[0].engine, &g[1].engine);
    let Submitted::Accettato { identificativo } = uno
        .submit(&mario_to_anna(), &with_attachment(EICAR))
        .await
        .unwrap()
    else {
        panic!("not accepted");
    };
    relay_all(&g).await;
    assert!(kinds(due, "anna@pec.due.test").await.is_empty());
    assert_eq!(
        kinds(uno, "ricevute@pec.uno.test").await,
        ["presa-in-carico", "rilevazione-virus"]
    );
    assert_eq!(
        kinds(uno, "mario@pec.uno.test").await,
        ["accettazione", "errore-consegna-virus"]
    );
    let (_, c) = received(uno, "ricevute@pec.uno.test", "rilevazione-virus").await;
    let d = c.daticert.unwrap();
    assert_eq!(d.errore, Errore::Virus);
    assert_eq!(d.identificativo, identificativo);
    assert!(uno.store().queued().await.unwrap().is_empty());

    // The gestore that found it keeps the whole busta; the sender's keeps nothing.
    assert!(
        uno.store()
            .virus_records(0, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    let archive = due.store().virus_records(0, i64::MAX).await.unwrap();
    assert_eq!(archive.len(), 1, "{archive:?}");
    let r = &archive[0].record;
    assert_eq!(r.point, VirusPoint::Ricezione);
    assert_eq!(r.identificativo.as_deref(), Some(identificativo.as_str()));
    assert_eq!(r.sender, "mario@pec.uno.test");
    assert_eq!(r.recipients, ["anna@pec.due.test"]);
    assert_eq!(r.gestore, uno.settings().gestore.nome);
    let busta = pec::classify(&due.store().get(&r.blob).await.unwrap()).unwrap();
    assert_eq!(busta.kind, Some(pec::Kind::PostaCertificata));
}

#[tokio::test]
async fn ordinary_mail_with_a_virus_is_refused_not_wrapped() {
    let server = TestClamd::start();
    let clamd: Arc<dyn Antivirus> =
        Arc::new(clamd_at(&server.tcp_address(), Duration::from_secs(10)));
    let (g, _clock) = gestori::network_with([Arc::new(NoScan), clamd]).await;
    let due = &g[1].engine;
    let anna = "anna@pec.due.test";
    due.store()
        .set_ordinary_mail(anna, OrdinaryMail::Anomalia)
        .await
        .unwrap();
    let from_internet = Envelope {
        mail_from: "qualcuno@internet.test".into(),
        rcpt_to: vec![anna.into()],
    };
    let got = due
        .receive(&from_internet, &with_attachment(EICAR))
        .await
        .unwrap();
    let Received::Infected(virus) = got else {
        panic!("{got:?}");
    };
    assert!(virus.contains("Eicar"), "{virus}");
    assert!(kinds(due, anna).await.is_empty(), "nothing delivered");
    // Clean ordinary mail is still wrapped in an anomalia.
    let got = due.receive(&from_internet, &plain("ciao")).await.unwrap();
    assert!(matches!(got, Received::Accepted(_)), "{got:?}");
    assert_eq!(kinds(due, anna).await, ["anomalia"]);
}

#[tokio::test]
async fn clamd_down_at_reception_leaves_the_busta_queued() {
    let port = clamd::free_port();
    let down: Arc<dyn Antivirus> = Arc::new(clamd_at(
        &format!("tcp:127.0.0.1:{port}"),
        Duration::from_secs(5),
    ));
    let (g, _clock) = gestori::network_with([Arc::new(NoScan), down]).await;
    let (uno, due) = (&g[0].engine, &g[1].engine);
    let ok = uno.submit(&mario_to_anna(), &plain("ciao")).await.unwrap();
    assert!(matches!(ok, Submitted::Accettato { .. }), "{ok:?}");
    let busta = uno.store().queued().await.unwrap();
    assert_eq!(busta.len(), 1);
    let raw = uno.store().get(&busta[0].blob).await.unwrap();
    let e = due.receive(&mario_to_anna(), &raw).await.unwrap_err();
    assert!(matches!(e, EngineError::Antivirus(_)), "{e}");
    relay_all(&g).await;
    // Still queued at the sender (a temporary failure), nothing at the recipient.
    assert_eq!(uno.store().queued().await.unwrap().len(), 1);
    assert_eq!(kinds(uno, "mario@pec.uno.test").await, ["accettazione"]);
    for mailbox in ["anna@pec.due.test", "ricevute@pec.due.test"] {
        assert!(kinds(due, mailbox).await.is_empty());
    }
    assert!(due.store().queued().await.unwrap().is_empty());
}
