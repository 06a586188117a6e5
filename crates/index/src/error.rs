//! The error type of the crate.

use std::path::PathBuf;

use smime::SmimeError;
use smime::attached::AttachedError;

/// Why an index could not be read, verified, validated or signed. Every
/// variant says where: the LDIF line, the entry's DN or the file path.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The input exceeds the size cap.
    #[error("the index is {size} bytes or more, over the limit of {limit} bytes")]
    TooLarge {
        /// Bytes seen (at least).
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The input has more lines than the cap.
    #[error("the index has more than {limit} lines")]
    TooManyLines {
        /// The cap.
        limit: usize,
    },
    /// The LDIF text is not UTF-8.
    #[error("the index is not UTF-8 (invalid byte sequence at offset {offset})")]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// The LDIF text breaks RFC 2849 (or uses a feature we refuse).
    #[error("LDIF line {line}: {reason}")]
    Syntax {
        /// 1-based physical line number.
        line: usize,
        /// What is wrong there.
        reason: String,
    },
    /// A `attr:: value` does not decode as base64.
    #[error("LDIF line {line}: invalid base64 value of {attribute}: {reason}")]
    Base64 {
        /// 1-based physical line number where the attribute starts.
        line: usize,
        /// The attribute name as written.
        attribute: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// A provider entry lacks an attribute the schema makes mandatory.
    #[error("provider entry {dn:?}: mandatory attribute {attribute} is missing")]
    MissingAttribute {
        /// DN of the entry.
        dn: String,
        /// The missing attribute.
        attribute: &'static str,
    },
    /// A provider entry has an unusable attribute value.
    #[error("provider entry {dn:?}: invalid {attribute}: {reason}")]
    InvalidValue {
        /// DN of the entry.
        dn: String,
        /// The attribute concerned.
        attribute: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A `providerCertificate` whose SHA-1 is not among the entry's
    /// `providerCertificateHash` values: a tampered or inconsistent copy.
    #[error(
        "provider entry {dn:?}: a providerCertificate has SHA-1 {actual}, which is not among its providerCertificateHash values"
    )]
    HashMismatch {
        /// DN of the entry.
        dn: String,
        /// Lowercase hex SHA-1 of the certificate.
        actual: String,
    },
    /// A domain or certificate hash is claimed by two different providers.
    #[error("{what} {value:?} is claimed by two different providers: {first:?} and {second:?}")]
    Conflict {
        /// `"managed domain"` or `"certificate hash"`.
        what: &'static str,
        /// The contested value.
        value: String,
        /// `providerName` of the first claimant.
        first: String,
        /// `providerName` of the second claimant.
        second: String,
    },
    /// Two entries have the same DN.
    #[error("the DN {dn:?} appears in two entries")]
    DuplicateDn {
        /// The repeated DN.
        dn: String,
    },
    /// A `.p7m` file was given without a trust store to verify it.
    #[error("{}: a signed index (.p7m) needs a trust store to be verified", path.display())]
    TrustStoreRequired {
        /// The signed file.
        path: PathBuf,
    },
    /// A `.p7m` file is neither DER nor base64/PEM-armoured DER.
    #[error("not a signed index (.p7m): {0}")]
    Armour(String),
    /// The signed index was refused: malformed CMS, bad signature or
    /// untrusted signer.
    #[error("signed index refused: {0}")]
    Signature(#[from] AttachedError),
    /// Signing the index failed.
    #[error("cannot sign the index: {0}")]
    Sign(#[from] SmimeError),
}
