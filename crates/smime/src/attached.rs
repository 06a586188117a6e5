//! CMS SignedData with the content *attached* (RFC 5652 §5), the `.p7m`
//! form: content, signature and certificates in one DER structure. PEC
//! providers publish their signed LDIF index records this way (spec §6.2),
//! unlike messages, which carry a detached signature in `multipart/signed`.
//!
//! - [`sign`] wraps content into an attached SignedData with a [`Signer`];
//! - [`verify`] checks signature, digest and chain against a [`TrustStore`]
//!   and returns the content.

use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::error::ErrorStack;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;

use crate::verify::openssl_reason;
use crate::{Signer, SignerInfo, SmimeError, TrustStore};

/// Signs `content` as a DER CMS SignedData with the content attached
/// (SHA-256, binary content as is, signer certificate and chain embedded).
pub fn sign(signer: &Signer, content: &[u8]) -> Result<Vec<u8>, SmimeError> {
    let mut chain = Stack::new().map_err(SmimeError::openssl("cannot allocate a stack"))?;
    for cert in &signer.chain {
        chain
            .push(cert.clone())
            .map_err(SmimeError::openssl("cannot collect the CA chain"))?;
    }
    let cms = CmsContentInfo::sign(
        Some(signer.certificate()),
        Some(&signer.key),
        Some(&chain),
        Some(content),
        CMSOptions::BINARY,
    )
    .map_err(SmimeError::openssl("CMS signing failed"))?;
    cms.to_der().map_err(SmimeError::openssl(
        "cannot encode the CMS SignedData as DER",
    ))
}

/// The outcome of a successful [`verify`].
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signed content, exactly as embedded.
    pub content: Vec<u8>,
    /// The certificates of the signers, in SignerInfo order.
    pub signers: Vec<SignerInfo>,
}

/// Why an attached signature was refused.
#[derive(Debug, thiserror::Error)]
pub enum AttachedError {
    /// Without CA certificates nothing can be trusted.
    #[error("the trust store is empty: a signed object cannot be trusted without CA certificates")]
    EmptyTrustStore,
    /// The bytes are not a DER PKCS#7/CMS structure.
    #[error("not a DER CMS/PKCS#7 structure: {0}")]
    Malformed(String),
    /// A CMS structure of another type (enveloped data, plain data...).
    #[error("the CMS structure is not signedData")]
    NotSignedData,
    /// The signature or the content digest does not verify, or the content
    /// or the signer certificate is missing.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// A signer certificate does not chain to the trust store (or is
    /// expired, or not fit for S/MIME signing).
    #[error("untrusted signer certificate {subject}: {reason}")]
    Untrusted {
        /// Subject DN of the refused signer certificate.
        subject: String,
        /// OpenSSL's reason.
        reason: String,
    },
}

/// Verifies a DER SignedData with attached content: every signature and
/// digest, then every signer certificate's chain up to `trust` at the
/// current time for the S/MIME signing purpose (embedded certificates serve
/// as intermediates). Returns the content and the signers.
pub fn verify(der: &[u8], trust: &TrustStore) -> Result<Verified, AttachedError> {
    if trust.is_empty() {
        return Err(AttachedError::EmptyTrustStore);
    }
    let p7 = Pkcs7::from_der(der).map_err(|e| AttachedError::Malformed(openssl_reason(&e)))?;
    let signed = p7.signed().ok_or(AttachedError::NotSignedData)?;
    let mut embedded = Stack::new().map_err(|e| AttachedError::Malformed(openssl_reason(&e)))?;
    for cert in signed.certificates().into_iter().flatten() {
        embedded
            .push(cert.to_owned())
            .map_err(|e| AttachedError::Malformed(openssl_reason(&e)))?;
    }

    let mut content = Vec::new();
    crypto_check(&p7, &mut content).map_err(|e| AttachedError::BadSignature(openssl_reason(&e)))?;

    let signer_certs = p7
        .signers(&embedded, Pkcs7Flags::empty())
        .map_err(|e| AttachedError::BadSignature(openssl_reason(&e)))?;
    let mut signers = Vec::new();
    for cert in &signer_certs {
        let info = SignerInfo::from_cert(cert);
        if let Err(reason) = trust.validate(cert, &embedded) {
            return Err(AttachedError::Untrusted {
                subject: info.subject,
                reason,
            });
        }
        signers.push(info);
    }
    if signers.is_empty() {
        return Err(AttachedError::BadSignature(
            "the SignedData has no SignerInfo".to_owned(),
        ));
    }
    Ok(Verified { content, signers })
}

/// Signatures and digests over the embedded content (no chain check);
/// the content is written to `out`.
fn crypto_check(p7: &Pkcs7, out: &mut Vec<u8>) -> Result<(), ErrorStack> {
    let no_certs: Stack<X509> = Stack::new()?;
    let no_store = X509StoreBuilder::new()?.build();
    p7.verify(
        &no_certs,
        &no_store,
        None,
        Some(out),
        Pkcs7Flags::NOVERIFY | Pkcs7Flags::BINARY,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testca;

    #[test]
    fn sign_verify_tamper() {
        let pki = testca::generate("Attached S.p.A.", "posta@attached.example").unwrap();
        let signer = Signer::from_pem(&pki.cert_pem, &pki.key_pem, &pki.ca_cert_pem).unwrap();
        let mut trust = TrustStore::new();
        trust.add_pem(&pki.ca_cert_pem).unwrap();

        let der = sign(&signer, b"dn: o=postacert\n").unwrap();
        let verified = verify(&der, &trust).unwrap();
        assert_eq!(verified.content, b"dn: o=postacert\n");
        assert_eq!(verified.signers.len(), 1);

        let at = der
            .windows(b"postacert".len())
            .position(|w| w == b"postacert")
            .unwrap();
        let mut tampered = der.clone();
        tampered[at] ^= 1;
        assert!(matches!(
            verify(&tampered, &trust),
            Err(AttachedError::BadSignature(_))
        ));
        assert!(matches!(
            verify(&der, &TrustStore::new()),
            Err(AttachedError::EmptyTrustStore)
        ));
        assert!(matches!(
            verify(b"garbage", &trust),
            Err(AttachedError::Malformed(_))
        ));

        let other = testca::generate("Other S.p.A.", "posta@other.example").unwrap();
        let mut other_trust = TrustStore::new();
        other_trust.add_pem(&other.ca_cert_pem).unwrap();
        assert!(matches!(
            verify(&der, &other_trust),
            Err(AttachedError::Untrusted { .. })
        ));
    }
}
