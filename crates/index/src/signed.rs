//! The signed form of the index (spec §6.2): LDIF inside a CMS SignedData
//! with the content attached, DER, extension `.p7m`; and reading index
//! files from disk.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use smime::{Signer, TrustStore};

use crate::{Index, IndexError};

/// Largest index file read from disk, in bytes (room for a base64-armoured
/// `.p7m` around an LDIF of [`MAX_LDIF_BYTES`](crate::MAX_LDIF_BYTES)).
pub const MAX_FILE_BYTES: usize = 128 << 20;

/// Standard alphabet, padding optional.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// First byte of a DER SEQUENCE (a CMS ContentInfo).
const DER_SEQUENCE: u8 = 0x30;

impl Index {
    /// Verifies a DER CMS SignedData with the LDIF attached (the `.p7m` of
    /// spec §6.2) against `trust` — signature, digest, and the signer's
    /// chain at the current time for S/MIME signing — then parses the LDIF.
    pub fn from_signed_ldif(p7m_der: &[u8], trust: &TrustStore) -> Result<Index, IndexError> {
        let verified = smime::attached::verify(p7m_der, trust)?;
        for signer in &verified.signers {
            tracing::debug!(subject = %signer.subject, sha1 = %signer.sha1_fingerprint, "signed index verified");
        }
        let text = std::str::from_utf8(&verified.content).map_err(|e| IndexError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        Index::from_ldif(text)
    }

    /// Reads an index file. A name ending in `.p7m` (any case) is a signed
    /// index, verified against `trust` (required); it may be DER or, as
    /// some tools write it, base64 with or without PEM armour. Any other
    /// name is plain LDIF, read without any signature check even when
    /// `trust` is given.
    pub fn load(path: &Path, trust: Option<&TrustStore>) -> Result<Index, IndexError> {
        let bytes = read_capped(path)?;
        let signed = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("p7m"));
        if signed {
            let trust = trust.ok_or_else(|| IndexError::TrustStoreRequired {
                path: path.to_owned(),
            })?;
            Index::from_signed_ldif(&unarmour(bytes)?, trust)
        } else {
            let text = std::str::from_utf8(&bytes).map_err(|e| IndexError::NotUtf8 {
                offset: e.valid_up_to(),
            })?;
            Index::from_ldif(text)
        }
    }
}

/// Signs LDIF text as a DER CMS SignedData with the content attached
/// (SHA-256, certificate and chain embedded): the `.p7m` a provider
/// publishes at its `LDIFLocationURL` (spec §6.2).
pub fn sign_ldif(ldif: &str, signer: &Signer) -> Result<Vec<u8>, IndexError> {
    Ok(smime::attached::sign(signer, ldif.as_bytes())?)
}

/// Reads at most [`MAX_FILE_BYTES`] of `path`; a longer file is an error.
fn read_capped(path: &Path) -> Result<Vec<u8>, IndexError> {
    let io = |source| IndexError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(IndexError::TooLarge {
            size: bytes.len(),
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(bytes)
}

/// DER as is; otherwise base64, inside `-----BEGIN ...-----` /
/// `-----END ...-----` lines when present (header lines with `:` skipped).
fn unarmour(bytes: Vec<u8>) -> Result<Vec<u8>, IndexError> {
    if bytes.first() == Some(&DER_SEQUENCE) {
        return Ok(bytes);
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| IndexError::Armour("neither DER nor base64 text".into()))?;
    let body = match text.find("-----BEGIN") {
        Some(start) => {
            let after = text.get(start..).unwrap_or("");
            let (_, rest) = after
                .split_once('\n')
                .ok_or_else(|| IndexError::Armour("PEM armour without a body".into()))?;
            let end = rest
                .find("-----END")
                .ok_or_else(|| IndexError::Armour("PEM armour without an END line".into()))?;
            rest.get(..end).unwrap_or("")
        }
        None => text,
    };
    let compact: Vec<u8> = body
        .lines()
        .filter(|line| !line.contains(':'))
        .flat_map(str::bytes)
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let der = BASE64
        .decode(&compact)
        .map_err(|e| IndexError::Armour(format!("neither DER nor valid base64 ({e})")))?;
    if der.first() != Some(&DER_SEQUENCE) {
        return Err(IndexError::Armour(
            "the base64 text does not decode to a DER structure".into(),
        ));
    }
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armour_forms() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x05];
        let b64 = BASE64.encode(&der);
        assert_eq!(unarmour(der.clone()).unwrap(), der);
        assert_eq!(unarmour(format!("{b64}\n").into_bytes()).unwrap(), der);
        let pem = format!("-----BEGIN PKCS7-----\r\n{b64}\r\n-----END PKCS7-----\r\n");
        assert_eq!(unarmour(pem.into_bytes()).unwrap(), der);
        assert!(unarmour(b"-----BEGIN CMS-----\nMAMCAQU=\n".to_vec()).is_err());
        assert!(unarmour(b"hello world".to_vec()).is_err());
        assert!(unarmour(vec![0xff, 0xfe]).is_err());
        assert!(unarmour(Vec::new()).is_err());
    }
}
