//! Bad input never panics and always explains itself.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use smime::{TrustStore, Verdict, split_signed, verify};

use crate::common::{pki_a, sealed_a, split_at_signature, trust};

const SIG_HEADER: &[u8] = b"Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n";

/// Asserts that `verify` rejects the message with an error, and returns the
/// verdict.
fn rejected(raw: &[u8]) -> Verdict {
    let verdict = verify(raw, &trust(pki_a()));
    assert!(!verdict.signature_valid, "{verdict:?}");
    assert!(verdict.error.is_some(), "{verdict:?}");
    verdict
}

/// Asserts that both `verify` and `split_signed` reject the message.
fn unsplittable(raw: &[u8]) -> Verdict {
    let verdict = rejected(raw);
    assert!(split_signed(raw).is_err(), "{verdict:?}");
    verdict
}

/// A's message with its signature part body replaced by `body`.
fn with_signature_body(body: &[u8]) -> Vec<u8> {
    let (head, _) = split_at_signature(sealed_a());
    let mut message = head.to_vec();
    message.extend_from_slice(SIG_HEADER);
    message.extend_from_slice(body);
    message
}

#[test]
fn empty_input() {
    let verdict = unsplittable(b"");
    assert!(!verdict.signed);
}

#[test]
fn truncated_messages() {
    let sealed = sealed_a();
    // Cutting anywhere before the last significant base64 character must
    // fail (the `=` padding after it is optional).
    let mut base64_end = sealed
        .windows(6)
        .rposition(|w| w == b"\r\n\r\n--")
        .expect("closing delimiter");
    while sealed[base64_end - 1] == b'=' {
        base64_end -= 1;
    }
    for cut in (0..base64_end).step_by(37).chain([base64_end - 1]) {
        rejected(&sealed[..cut]);
    }
}

#[test]
fn garbage_base64_in_the_signature() {
    let verdict = unsplittable(&with_signature_body(b"MII...njA==\r\n"));
    assert!(verdict.signed);
    let error = verdict.error.expect("error");
    assert!(error.contains("base64") && error.contains('.'), "{error}");
}

#[test]
fn random_bytes_in_the_signature() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let random: Vec<u8> = (0..600)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    let encoded = openssl::base64::encode_block(&random);
    let verdict = rejected(&with_signature_body(encoded.as_bytes()));
    assert!(verdict.signed);
    let error = verdict.error.expect("error");
    assert!(error.contains("bad CMS"), "{error}");
}

#[test]
fn one_megabyte_header_line() {
    let long = "a".repeat(1 << 20);
    unsplittable(format!("Subject: {long}\r\n\r\nbody\r\n").as_bytes());
    unsplittable(long.as_bytes());

    // In front of a valid message it does no harm.
    let mut message = format!("X-Long: {long}\r\n").into_bytes();
    message.extend_from_slice(sealed_a());
    let verdict = verify(&message, &TrustStore::new());
    assert!(verdict.signature_valid, "{verdict:?}");
}

#[test]
fn no_boundary_parameter() {
    let raw = b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256\r\n\r\n--B\r\nx\r\n--B--\r\n";
    let verdict = unsplittable(raw);
    assert!(!verdict.signed);
    assert_eq!(
        verdict.protocol, None,
        "nothing is reported past the failure"
    );
    assert!(verdict.error.expect("error").contains("boundary"));
}

#[test]
fn boundary_never_found() {
    let sealed = String::from_utf8_lossy(sealed_a()).into_owned();
    let raw = sealed.replacen("boundary=\"", "boundary=\"nothere", 1);
    let verdict = unsplittable(raw.as_bytes());
    assert!(!verdict.signed);
    assert_eq!(verdict.micalg.as_deref(), Some("sha-256"));
    assert!(verdict.error.expect("error").contains("no delimiter line"));
}

#[test]
fn other_structures_are_not_signed() {
    let cases: [&[u8]; 5] = [
        b"From: a@b.it\r\nSubject: plain\r\n\r\nhello\r\n",
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nx\r\n--B--\r\n",
        b"Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=B\r\n\r\n--B\r\nx\r\n--B\r\nContent-Type: application/pgp-signature\r\n\r\nsig\r\n--B--\r\n",
        b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=B\r\n\r\n--B\r\nx\r\n--B\r\nContent-Type: text/plain\r\n\r\nsig\r\n--B--\r\n",
        b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=B\r\n\r\n--B--\r\n",
    ];
    for raw in cases {
        let verdict = unsplittable(raw);
        assert!(!verdict.signed, "{verdict:?}");
    }
}

#[test]
fn empty_and_binary_signature_parts() {
    let verdict = unsplittable(&with_signature_body(b"\r\n"));
    assert!(verdict.error.expect("error").contains("empty"));

    let (head, _) = split_at_signature(sealed_a());
    let mut raw = head.to_vec();
    raw.extend_from_slice(
        b"Content-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nx\r\n",
    );
    let verdict = unsplittable(&raw);
    assert!(verdict.error.expect("error").contains("quoted-printable"));
}

fn mime_prefix() -> Vec<u8> {
    b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=B\r\n\r\n--B\r\n"
        .to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..2048)) {
        let _ = verify(&data, &TrustStore::new());
        let _ = split_signed(&data);
    }

    #[test]
    fn arbitrary_multipart_bodies_never_panic(body in vec(any::<u8>(), 0..2048)) {
        let mut raw = mime_prefix();
        raw.extend_from_slice(&body);
        let _ = verify(&raw, &trust(pki_a()));
        let _ = split_signed(&raw);
    }

    #[test]
    fn mutated_sealed_messages_never_panic(
        edits in vec((any::<Index>(), any::<u8>()), 0..6),
        cut in any::<Index>(),
    ) {
        let mut raw = sealed_a().to_vec();
        for (at, byte) in &edits {
            let i = at.index(raw.len());
            raw[i] = *byte;
        }
        raw.truncate(cut.index(raw.len() + 1));
        let verdict = verify(&raw, &trust(pki_a()));
        if verdict.signature_valid {
            prop_assert!(verdict.signed);
        } else {
            prop_assert!(verdict.error.is_some());
        }
        let _ = split_signed(&raw);
    }
}
