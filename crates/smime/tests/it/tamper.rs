//! Tampering: altered content, a signature by an untrusted provider, and the
//! independence of `signature_valid` from the trust store.

use smime::{TrustStore, sha1_fingerprint, split_signed, verify};

use crate::common::{
    RECEIPT_TEXT, find, pki_a, pki_b, sealed_a, sealed_by, split_at_signature, trust,
};

#[test]
fn one_flipped_byte_in_the_signed_part_breaks_the_signature() {
    let mut tampered = sealed_a().to_vec();
    let at = find(&tampered, RECEIPT_TEXT.as_bytes()).expect("receipt text");
    tampered[at] ^= 0x20; // 'R' -> 'r'
    let verdict = verify(&tampered, &trust(pki_a()));
    assert!(verdict.signed, "{verdict:?}");
    assert!(!verdict.signature_valid, "{verdict:?}");
    let error = verdict.error.expect("an error text");
    assert!(error.contains("signature does not verify"), "{error}");
    // The certificate itself is still fine.
    assert_eq!(verdict.chain_trusted, Some(true));
    assert!(verdict.signer.is_some());
}

#[test]
fn flipped_byte_in_the_signature_breaks_it() {
    let (content, der) = split_signed(sealed_a()).expect("split");
    assert!(!content.is_empty());
    // Flip a bit in the last byte of the DER: the RSA signature value.
    let mut bad = der.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    let (head, _) = split_at_signature(sealed_a());
    let mut message = head.to_vec();
    message.extend_from_slice(
        b"Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
          Content-Transfer-Encoding: binary\r\n\r\n",
    );
    message.extend_from_slice(&bad);
    let verdict = verify(&message, &TrustStore::new());
    assert!(verdict.signed, "{verdict:?}");
    assert!(!verdict.signature_valid, "{verdict:?}");
    assert!(verdict.error.is_some());

    // The same splice with the untouched DER verifies (binary encoding accepted).
    let mut message = head.to_vec();
    message.extend_from_slice(
        b"Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
          Content-Transfer-Encoding: binary\r\n\r\n",
    );
    message.extend_from_slice(&der);
    let verdict = verify(&message, &TrustStore::new());
    assert!(verdict.signature_valid, "{verdict:?}");
}

#[test]
fn signature_by_an_untrusted_provider_is_valid_but_not_trusted() {
    // Same headers and entity, hence the same boundary: splice B's signature
    // part onto A's message.
    let sealed_b = sealed_by(pki_b());
    let (head_a, _) = split_at_signature(sealed_a());
    let (head_b, signature_b) = split_at_signature(&sealed_b);
    assert_eq!(head_a, head_b, "same entity, same boundary");
    let mut forged = head_a.to_vec();
    forged.extend_from_slice(signature_b);

    let verdict = verify(&forged, &trust(pki_a()));
    assert!(verdict.signed && verdict.signature_valid, "{verdict:?}");
    assert_eq!(verdict.chain_trusted, Some(false), "{verdict:?}");
    let error = verdict.error.clone().expect("an error text");
    assert!(error.starts_with("untrusted chain: "), "{error}");
    // B's CA is embedded in the signature, so the chain ends in a self-signed
    // certificate that the store does not hold.
    assert!(
        error.contains("self-signed certificate in certificate chain"),
        "{error}"
    );
    let signer = verdict.signer.expect("signer");
    let cert_b = openssl::x509::X509::from_pem(&pki_b().cert_pem).expect("cert B");
    assert_eq!(signer.sha1_fingerprint, sha1_fingerprint(&cert_b));
    assert_eq!(signer.emails, [crate::common::EMAIL_B]);

    // With B's CA in the store as well, it is trusted.
    let mut both = trust(pki_a());
    both.add_pem(&pki_b().ca_cert_pem).expect("CA B");
    assert_eq!(verify(&forged, &both).chain_trusted, Some(true));

    // With no store the chain is not judged at all.
    let verdict = verify(&forged, &TrustStore::new());
    assert!(verdict.signature_valid);
    assert_eq!(verdict.chain_trusted, None);
    assert_eq!(verdict.error, None);
}

#[test]
fn signature_moved_onto_other_content_fails() {
    let (_, signature_a) = split_at_signature(sealed_a());
    let (head_a, _) = split_at_signature(sealed_a());
    let mut moved = head_a.to_vec();
    let at = find(&moved, b"accettato").expect("text");
    moved.splice(at..at + b"accettato".len(), b"rifiutato".iter().copied());
    moved.extend_from_slice(signature_a);
    let verdict = verify(&moved, &trust(pki_a()));
    assert!(verdict.signed && !verdict.signature_valid, "{verdict:?}");
}

#[test]
fn trust_store_rejects_input_without_certificates() {
    let mut store = TrustStore::new();
    assert!(store.is_empty());
    assert!(store.add_pem(b"").is_err());
    assert!(store.add_pem(b"garbage").is_err());
    let mut bundle = pki_a().ca_cert_pem.clone();
    bundle.extend_from_slice(&pki_b().ca_cert_pem);
    assert_eq!(store.add_pem(&bundle).expect("bundle"), 2);
    assert!(!store.is_empty());
}
