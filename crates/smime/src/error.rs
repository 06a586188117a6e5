//! The error type of the crate.

use openssl::error::ErrorStack;

/// Everything that can go wrong while sealing, splitting or preparing to
/// verify a message. [`verify`](crate::verify) never returns it: it turns
/// failures into the `error` text of a [`Verdict`](crate::Verdict).
#[derive(Debug, thiserror::Error)]
pub enum SmimeError {
    /// An OpenSSL call failed; `context` says what was being done.
    #[error("{context}: {source}")]
    Openssl {
        /// What the crate was doing when OpenSSL failed.
        context: &'static str,
        /// OpenSSL's error queue.
        #[source]
        source: ErrorStack,
    },
    /// The signing key is RSA but too short for provider signatures.
    #[error("the private key is {bits}-bit RSA; at least 2048 bits are required")]
    WeakKey {
        /// Size of the RSA modulus.
        bits: u32,
    },
    /// The signing key is not an RSA key.
    #[error("the private key is not an RSA key ({found}); PEC signatures use RSA")]
    NotRsa {
        /// OpenSSL's name of the key type.
        found: String,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the public key of the signing certificate")]
    KeyMismatch,
    /// A PEM input expected to hold certificates holds none.
    #[error("no PEM certificate found in {0}")]
    NoCertificate(&'static str),
    /// An argument of a test-PKI or signing call is unusable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The header block given to [`Signer::seal`](crate::Signer::seal) is malformed.
    #[error("invalid header block for sealing: {0}")]
    InvalidHeaders(&'static str),
    /// The MIME entity given to [`Signer::seal`](crate::Signer::seal) is malformed.
    #[error("invalid MIME entity for sealing: {0}")]
    InvalidEntity(&'static str),
    /// The message has no top-level `Content-Type` field.
    #[error("the message has no top-level Content-Type header field")]
    NoContentType,
    /// The top-level content type is not `multipart/signed`.
    #[error("the top-level Content-Type is {0}, not multipart/signed")]
    NotMultipartSigned(String),
    /// `multipart/signed` without a usable `boundary` parameter.
    #[error("multipart/signed has no boundary parameter")]
    MissingBoundary,
    /// `multipart/signed` whose `protocol` is not a PKCS#7 signature.
    #[error(
        "multipart/signed protocol is {0:?}, expected application/pkcs7-signature or application/x-pkcs7-signature"
    )]
    UnsupportedProtocol(String),
    /// The body has no delimiter line for the declared boundary.
    #[error("no delimiter line for boundary {0:?} in the multipart/signed body")]
    BoundaryNotFound(String),
    /// The multipart/signed has a signed part but no second (signature) part.
    #[error("no signature part: the multipart/signed body ends after the signed part")]
    NoSignaturePart,
    /// The second part is not a PKCS#7 signature.
    #[error("the second part of multipart/signed is {0}, not application/pkcs7-signature")]
    NotSignaturePart(String),
    /// The signature part uses a transfer encoding that cannot carry DER.
    #[error("unsupported Content-Transfer-Encoding {0:?} in the signature part")]
    UnsupportedEncoding(String),
    /// The base64 text of the signature part does not decode.
    #[error("invalid base64 in the signature part at byte {offset}: {reason}")]
    Base64 {
        /// Byte offset inside the signature part body.
        offset: usize,
        /// What is wrong there.
        reason: String,
    },
    /// The signature part decodes to nothing.
    #[error("the signature part is empty")]
    EmptySignature,
}

impl SmimeError {
    /// Wraps an OpenSSL error stack with what was being done.
    pub(crate) fn openssl(context: &'static str) -> impl FnOnce(ErrorStack) -> SmimeError {
        move |source| SmimeError::Openssl { context, source }
    }
}
