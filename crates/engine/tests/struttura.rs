//! What our punto di accesso certifies, every pecora punto di ricezione must read and take
//! (issue 12, findings 3 and 10): a submission whose MIME structure the reception point would
//! misread, or whose busta would be too big for it, is refused with an avviso di non
//! accettazione that says why, never accepted and then delivered as an anomalia or refused
//! while the sender waits for the 24-hour notice.

#[path = "support/gestori.rs"]
mod gestori;

use engine::access::Submitted;
use gestori::{kinds, network, network_limited, relay_all};
use pec::checks::Envelope;
use pec::mime::split_header;

const MARIO: &str = "mario@pec.uno.test";
const ANNA: &str = "anna@pec.due.test";

fn headers(extra: &str) -> String {
    format!(
        "From: {MARIO}\r\nTo: {ANNA}\r\nSubject: Struttura\r\nMessage-ID: <s@client>\r\n\
         MIME-Version: 1.0\r\n{extra}"
    )
}

/// A multipart whose close delimiter never comes.
fn unclosed() -> Vec<u8> {
    format!(
        "{}Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
         Content-Type: text/plain\r\n\r\nciao\r\n--b1\r\n\
         Content-Type: application/octet-stream; name=\"a.bin\"\r\n\r\nAAAA\r\n",
        headers("")
    )
    .into_bytes()
}

/// `depth` message/rfc822 parts, each inside the one before.
fn nested(depth: usize) -> Vec<u8> {
    let mut inner = "Subject: fondo\r\n\r\nfondo\r\n".to_string();
    for n in 0..depth {
        inner = format!(
            "Subject: livello {n}\r\nContent-Type: multipart/mixed; boundary=\"n{n}\"\r\n\r\n\
             --n{n}\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--n{n}--\r\n"
        );
    }
    let body = inner.split_once("\r\n").unwrap().1;
    format!("{}{body}", headers("")).into_bytes()
}

#[tokio::test]
async fn the_access_point_certifies_only_what_a_reception_point_reads() {
    let cases = [
        ("unclosed multipart", unclosed()),
        ("nested 3", nested(3)),
        ("nested 60", nested(60)),
        ("nested 200", nested(200)),
    ];
    for (name, raw) in cases {
        let (g, _clock) = network().await;
        let (uno, due) = (&g[0].engine, &g[1].engine);
        let env = Envelope {
            mail_from: MARIO.into(),
            rcpt_to: vec![ANNA.into()],
        };
        let submitted = uno.submit(&env, &raw).await.unwrap();
        relay_all(&g).await;
        match submitted {
            Submitted::Accettato { .. } => {
                assert_eq!(kinds(due, ANNA).await, ["posta-certificata"], "{name}");
                // The receiver reads the original whole, not one cut short or run on into
                // the busta around it.
                let (_, c) = gestori::received(due, ANNA, "posta-certificata").await;
                let originale = c.originale.unwrap();
                assert_eq!(
                    String::from_utf8_lossy(split_header(&originale).1),
                    String::from_utf8_lossy(split_header(&raw).1),
                    "{name}"
                );
                assert_eq!(
                    kinds(uno, MARIO).await,
                    ["accettazione", "avvenuta-consegna-completa"],
                    "{name}"
                );
            }
            Submitted::NonAccettato { motivo, .. } => {
                assert!(kinds(due, ANNA).await.is_empty(), "{name}");
                assert_eq!(kinds(uno, MARIO).await, ["non-accettazione"], "{name}");
                assert!(motivo.contains("MIME"), "{name}: {motivo}");
            }
        }
    }
}

#[tokio::test]
async fn an_original_under_the_limit_whose_busta_is_over_it_is_refused_with_the_reason() {
    let limiti = pec::checks::Limiti {
        max_dimensione: 40_000,
        max_dimensione_totale: 400_000,
        max_destinatari: 50,
    };
    let (g, _clock) = network_limited(limiti).await;
    let (uno, due) = (&g[0].engine, &g[1].engine);
    let env = Envelope {
        mail_from: MARIO.into(),
        rcpt_to: vec![ANNA.into()],
    };
    let with_body = |n: usize| {
        let line = "x".repeat(76) + "\r\n";
        format!("{}\r\n{}", headers(""), line.repeat(n / 78)).into_bytes()
    };
    // Just under the limit: the original fits, its busta would not.
    let big = with_body(39_000);
    assert!(big.len() < 40_000);
    match uno.submit(&env, &big).await.unwrap() {
        Submitted::NonAccettato { motivo, .. } => {
            assert!(motivo.contains("busta di trasporto"), "{motivo}");
        }
        other => panic!("accepted a busta over the limit: {other:?}"),
    }
    relay_all(&g).await;
    assert!(kinds(due, ANNA).await.is_empty());
    assert_eq!(kinds(uno, MARIO).await, ["non-accettazione"]);

    // With room for the busta it goes through.
    let fits = with_body(20_000);
    let submitted = uno.submit(&env, &fits).await.unwrap();
    assert!(
        matches!(submitted, Submitted::Accettato { .. }),
        "{submitted:?}"
    );
    relay_all(&g).await;
    assert_eq!(kinds(due, ANNA).await, ["posta-certificata"]);
}
