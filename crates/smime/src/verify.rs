//! Verification of incoming `multipart/signed` messages (spec §4.2 steps 1-3,
//! §9.4): signature existence, signer certificate, signature and digest, and
//! optionally the certificate chain.

use openssl::error::ErrorStack;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::{Stack, StackRef};
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::{X509, X509PurposeId, X509Ref, X509StoreContext};
use serde::Serialize;

use pec::mime::{has_bare_lf, to_crlf};

use crate::mime::{Envelope, SignaturePart};
use crate::{SignerInfo, SmimeError};

/// CA certificates that anchor chain validation of signer certificates.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    certs: Vec<X509>,
}

impl TrustStore {
    /// An empty store: [`verify`] then reports `chain_trusted: None`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every certificate of a PEM bundle; returns how many were added.
    /// A bundle without any certificate is an error.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<usize, SmimeError> {
        let certs = X509::stack_from_pem(pem)
            .map_err(SmimeError::openssl("cannot parse the trust store PEM"))?;
        if certs.is_empty() {
            return Err(SmimeError::NoCertificate("the trust store PEM"));
        }
        let added = certs.len();
        self.certs.extend(certs);
        Ok(added)
    }

    /// `true` when no certificate has been added.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// Validates `signer` up to one of the store's certificates, at the
    /// current time, for the S/MIME signing purpose, with `untrusted` as
    /// candidate intermediates. `Err` carries the reason.
    pub(crate) fn validate(
        &self,
        signer: &X509Ref,
        untrusted: &StackRef<X509>,
    ) -> Result<(), String> {
        let store = self.build().map_err(|e| openssl_reason(&e))?;
        let outcome = X509StoreContext::new().and_then(|mut ctx| {
            ctx.init(&store, signer, untrusted, |ctx| {
                Ok(if ctx.verify_cert()? {
                    None
                } else {
                    Some(format!(
                        "{} (at chain depth {})",
                        ctx.error().error_string(),
                        ctx.error_depth()
                    ))
                })
            })
        });
        match outcome {
            Ok(None) => Ok(()),
            Ok(Some(reason)) => Err(reason),
            Err(e) => Err(openssl_reason(&e)),
        }
    }

    fn build(&self) -> Result<X509Store, ErrorStack> {
        let mut builder = X509StoreBuilder::new()?;
        for cert in &self.certs {
            builder.add_cert(cert.clone())?;
        }
        builder.set_purpose(X509PurposeId::SMIME_SIGN)?;
        Ok(builder.build())
    }
}

/// What [`verify`] found out about a message.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// A `multipart/signed` with a PKCS#7 signature part was found at the top level.
    pub signed: bool,
    /// The `protocol` parameter as declared (lowercase).
    pub protocol: Option<String>,
    /// The `micalg` parameter as declared, lowercase.
    pub micalg: Option<String>,
    /// The CMS signature and the digest over the signed part verify
    /// (cryptography only: no chain, validity period or purpose check).
    pub signature_valid: bool,
    /// Only the CRLF-canonicalised signed part verified: the message was
    /// stored with bare LF line ends.
    pub canonicalized: bool,
    /// The signer certificate, when the signature names one it embeds.
    pub signer: Option<SignerInfo>,
    /// `None` when the trust store is empty; otherwise whether the signer
    /// certificate chains to it now (embedded certificates as intermediates).
    pub chain_trusted: Option<bool>,
    /// Why something failed, in words (joined with `; ` when several did).
    pub error: Option<String>,
}

impl Verdict {
    fn fail(&mut self, reason: String) {
        self.error = Some(match self.error.take() {
            Some(earlier) => format!("{earlier}; {reason}"),
            None => reason,
        });
    }
}

/// The signed part of a top-level `multipart/signed`, exactly as in the
/// message (the line end before the next delimiter excluded), and the DER
/// signature decoded from the second part.
pub fn split_signed(raw: &[u8]) -> Result<(&[u8], Vec<u8>), SmimeError> {
    let envelope = Envelope::read(raw)?;
    envelope.check_protocol()?;
    let parts = envelope.parts()?;
    let der = SignaturePart::read(parts.signature)?.decode()?;
    Ok((parts.content, der))
}

/// Verifies the top-level S/MIME signature of `raw`.
///
/// The signed part is checked byte-exactly first; if that fails and it has
/// bare LF line ends, again after CRLF canonicalisation. When `trust` holds
/// certificates the signer's chain is validated against it separately, so
/// `signature_valid` never depends on the store. Never panics: malformed
/// input yields `signed: false` or `signature_valid: false` with an `error`.
pub fn verify(raw: &[u8], trust: &TrustStore) -> Verdict {
    let mut verdict = Verdict {
        signed: false,
        protocol: None,
        micalg: None,
        signature_valid: false,
        canonicalized: false,
        signer: None,
        chain_trusted: None,
        error: None,
    };
    let envelope = match Envelope::read(raw) {
        Ok(envelope) => envelope,
        Err(e) => {
            verdict.fail(e.to_string());
            return verdict;
        }
    };
    verdict.protocol.clone_from(&envelope.protocol);
    verdict.micalg.clone_from(&envelope.micalg);
    let located = envelope.check_protocol().and_then(|()| {
        let parts = envelope.parts()?;
        Ok((parts.content, SignaturePart::read(parts.signature)?))
    });
    let (content, signature) = match located {
        Ok(found) => found,
        Err(e) => {
            verdict.fail(e.to_string());
            return verdict;
        }
    };
    verdict.signed = true;
    match signature.decode() {
        Ok(der) => check_signature(&der, content, trust, &mut verdict),
        Err(e) => verdict.fail(e.to_string()),
    }
    verdict
}

/// Parses the DER signature and fills in signer, validity and trust.
fn check_signature(der: &[u8], content: &[u8], trust: &TrustStore, verdict: &mut Verdict) {
    let p7 = match Pkcs7::from_der(der) {
        Ok(p7) => p7,
        Err(e) => {
            verdict.fail(format!(
                "bad CMS: the signature part is not DER PKCS#7 ({})",
                openssl_reason(&e)
            ));
            return;
        }
    };
    let Some(signed) = p7.signed() else {
        verdict.fail("bad CMS: the signature is not PKCS#7 signedData".to_owned());
        return;
    };
    let embedded = match copy_stack(signed.certificates()) {
        Ok(stack) => stack,
        Err(e) => {
            verdict.fail(format!(
                "cannot copy the embedded certificates: {}",
                openssl_reason(&e)
            ));
            return;
        }
    };
    let signer = match first_signer(&p7, &embedded) {
        Ok(signer) => signer,
        Err(reason) => {
            verdict.fail(format!(
                "signer certificate not found in the signature: {reason}"
            ));
            return;
        }
    };
    verdict.signer = Some(SignerInfo::from_cert(&signer));

    match crypto_check(&p7, content) {
        Ok(()) => verdict.signature_valid = true,
        Err(reason) => {
            let canonical = has_bare_lf(content).then(|| to_crlf(content));
            match canonical.map(|c| crypto_check(&p7, &c)) {
                Some(Ok(())) => {
                    verdict.signature_valid = true;
                    verdict.canonicalized = true;
                }
                Some(Err(_)) => verdict.fail(format!(
                    "signature does not verify over the signed part, as stored or CRLF-canonicalised: {reason}"
                )),
                None => verdict.fail(format!(
                    "signature does not verify over the signed part: {reason}"
                )),
            }
        }
    }

    if !trust.is_empty() {
        match trust.validate(&signer, &embedded) {
            Ok(()) => verdict.chain_trusted = Some(true),
            Err(reason) => {
                verdict.chain_trusted = Some(false);
                verdict.fail(format!("untrusted chain: {reason}"));
            }
        }
    }
}

/// An owned copy of an optional certificate stack (empty if absent).
fn copy_stack(certs: Option<&StackRef<X509>>) -> Result<Stack<X509>, ErrorStack> {
    let mut stack = Stack::new()?;
    for cert in certs.into_iter().flatten() {
        stack.push(cert.to_owned())?;
    }
    Ok(stack)
}

/// The certificate of the first SignerInfo, looked up among the embedded ones.
fn first_signer(p7: &Pkcs7, embedded: &StackRef<X509>) -> Result<X509, String> {
    let signers = p7
        .signers(embedded, Pkcs7Flags::empty())
        .map_err(|e| openssl_reason(&e))?;
    signers
        .iter()
        .next()
        .map(ToOwned::to_owned)
        .ok_or_else(|| "the signature has no SignerInfo".to_owned())
}

/// Signature and digest check over `content`, without any chain check.
fn crypto_check(p7: &Pkcs7, content: &[u8]) -> Result<(), String> {
    let no_certs = Stack::new().map_err(|e| openssl_reason(&e))?;
    let no_store = X509StoreBuilder::new()
        .map_err(|e| openssl_reason(&e))?
        .build();
    p7.verify(
        &no_certs,
        &no_store,
        Some(content),
        None,
        Pkcs7Flags::NOVERIFY | Pkcs7Flags::BINARY,
    )
    .map_err(|e| openssl_reason(&e))
}

/// OpenSSL's reasons from an error stack, without the codes and file names.
pub(crate) fn openssl_reason(e: &ErrorStack) -> String {
    let reasons: Vec<String> = e
        .errors()
        .iter()
        .map(|err| match (err.reason(), err.data()) {
            (Some(reason), Some(data)) => format!("{reason} ({data})"),
            (Some(reason), None) => reason.to_owned(),
            (None, _) => err.to_string(),
        })
        .collect();
    if reasons.is_empty() {
        "unspecified OpenSSL error".to_owned()
    } else {
        reasons.join("; ")
    }
}
