//! Sealing generated messages into `multipart/signed` (spec §2.2, §2.5).

use std::fmt;

use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::pkey::{Id, PKey, Private};
use openssl::stack::Stack;
use openssl::x509::X509;
use pec::mime::has_bare_lf;

use crate::cert::san_emails;
use crate::{SmimeError, base64};

/// Smallest RSA modulus accepted for provider signatures.
const MIN_RSA_BITS: u32 = 2048;

/// Preamble of the sealed message, as written by the major PEC providers.
const PREAMBLE: &[u8] = b"This is an S/MIME signed message";

/// The provider's signing identity: certificate, RSA key and CA chain.
pub struct Signer {
    cert: X509,
    pub(crate) key: PKey<Private>,
    pub(crate) chain: Vec<X509>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("email", &self.email())
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads the signing identity. `cert_pem` is the provider certificate
    /// (the first certificate in it is used), `key_pem` its private key,
    /// which must be RSA of at least 2048 bits and match the certificate;
    /// `chain_pem` holds CA certificates to embed (may be empty).
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        chain_pem: &[u8],
    ) -> Result<Signer, SmimeError> {
        let cert = X509::from_pem(cert_pem).map_err(SmimeError::openssl(
            "cannot parse the signing certificate PEM",
        ))?;
        let key = PKey::private_key_from_pem(key_pem)
            .map_err(SmimeError::openssl("cannot parse the private key PEM"))?;
        if key.id() != Id::RSA {
            return Err(SmimeError::NotRsa {
                found: format!("{:?}", key.id()),
            });
        }
        if key.bits() < MIN_RSA_BITS {
            return Err(SmimeError::WeakKey { bits: key.bits() });
        }
        let public = cert.public_key().map_err(SmimeError::openssl(
            "cannot read the certificate's public key",
        ))?;
        if !public.public_eq(&key) {
            return Err(SmimeError::KeyMismatch);
        }
        let chain = X509::stack_from_pem(chain_pem)
            .map_err(SmimeError::openssl("cannot parse the CA chain PEM"))?;
        if chain.is_empty() && !chain_pem.trim_ascii().is_empty() {
            return Err(SmimeError::NoCertificate("the CA chain PEM"));
        }
        Ok(Signer { cert, key, chain })
    }

    /// The first subjectAltName `rfc822Name` of the signing certificate,
    /// lowercased. Per spec §2.2 it must equal the `From:` address of every
    /// message this signer seals.
    pub fn email(&self) -> Option<String> {
        san_emails(&self.cert)
            .into_iter()
            .next()
            .map(|e| e.to_ascii_lowercase())
    }

    /// The signing certificate.
    pub fn certificate(&self) -> &X509 {
        &self.cert
    }

    /// Builds the complete signed message.
    ///
    /// `headers` is the outer header block, each line CRLF-terminated,
    /// without the empty line and without `Content-Type` (it should include
    /// `MIME-Version`). `entity` is the exact MIME entity to sign (its own
    /// header, empty line, body) with CRLF line ends.
    ///
    /// The result is `headers`, a `multipart/signed` Content-Type
    /// (`protocol="application/pkcs7-signature"; micalg="sha-256"`), the
    /// preamble, `entity` byte-for-byte as the first part and a base64
    /// `smime.p7s` detached CMS SignedData (SHA-256, signer certificate and
    /// chain embedded) as the second. The boundary is derived from a hash of
    /// the entity and never occurs in it.
    pub fn seal(&self, headers: &[u8], entity: &[u8]) -> Result<Vec<u8>, SmimeError> {
        check_headers(headers)?;
        check_entity(entity)?;
        let boundary = pec::mime::boundary("signed", entity, entity);

        let mut chain = Stack::new().map_err(SmimeError::openssl("cannot allocate a stack"))?;
        for cert in &self.chain {
            chain
                .push(cert.clone())
                .map_err(SmimeError::openssl("cannot collect the CA chain"))?;
        }
        let cms = CmsContentInfo::sign(
            Some(&self.cert),
            Some(&self.key),
            Some(&chain),
            Some(entity),
            CMSOptions::DETACHED | CMSOptions::BINARY,
        )
        .map_err(SmimeError::openssl("CMS signing failed"))?;
        let der = cms.to_der().map_err(SmimeError::openssl(
            "cannot encode the CMS signature as DER",
        ))?;
        let signature = base64::encode_mime(&der);

        let b = boundary.as_bytes();
        let mut out = Vec::with_capacity(headers.len() + entity.len() + signature.len() + 512);
        out.extend_from_slice(headers);
        out.extend_from_slice(
            b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n\tmicalg=\"sha-256\"; boundary=\"",
        );
        out.extend_from_slice(b);
        out.extend_from_slice(b"\"\r\n\r\n");
        out.extend_from_slice(PREAMBLE);
        out.extend_from_slice(b"\r\n\r\n--");
        out.extend_from_slice(b);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(entity);
        out.extend_from_slice(b"\r\n--");
        out.extend_from_slice(b);
        out.extend_from_slice(
            b"\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
              Content-Transfer-Encoding: base64\r\n\
              Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n",
        );
        out.extend_from_slice(&signature);
        out.extend_from_slice(b"\r\n--");
        out.extend_from_slice(b);
        out.extend_from_slice(b"--\r\n");
        Ok(out)
    }
}

/// The header block must be CRLF lines, no empty line, no Content-Type.
fn check_headers(headers: &[u8]) -> Result<(), SmimeError> {
    if headers.is_empty() {
        return Ok(());
    }
    if has_bare_lf(headers) {
        return Err(SmimeError::InvalidHeaders(
            "bare LF line end (CRLF required)",
        ));
    }
    let Some(body) = headers.strip_suffix(b"\r\n") else {
        return Err(SmimeError::InvalidHeaders(
            "the last line must end with CRLF",
        ));
    };
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.contains(&b'\r') {
            return Err(SmimeError::InvalidHeaders("bare CR inside a header line"));
        }
        if line.is_empty() {
            return Err(SmimeError::InvalidHeaders(
                "empty line (it would end the header block early)",
            ));
        }
        let name = line.split(|&b| b == b':').next().unwrap_or(line);
        if name.trim_ascii_end().eq_ignore_ascii_case(b"content-type") {
            return Err(SmimeError::InvalidHeaders(
                "Content-Type must not be given: seal writes the multipart/signed one",
            ));
        }
    }
    Ok(())
}

/// The entity must be non-empty and use CRLF line ends only, so that
/// verifiers that canonicalise see the very bytes that were signed.
fn check_entity(entity: &[u8]) -> Result<(), SmimeError> {
    if entity.is_empty() {
        return Err(SmimeError::InvalidEntity("it is empty"));
    }
    if has_bare_lf(entity) {
        return Err(SmimeError::InvalidEntity(
            "bare LF line end (CRLF required)",
        ));
    }
    let bare_cr = entity
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && entity.get(i + 1) != Some(&b'\n'));
    if bare_cr {
        return Err(SmimeError::InvalidEntity("bare CR (CRLF required)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_block_rules() {
        assert!(check_headers(b"").is_ok());
        assert!(check_headers(b"From: a@b.it\r\nMIME-Version: 1.0\r\n").is_ok());
        assert!(check_headers(b"Subject: x\r\n\tfolded\r\n").is_ok());
        assert!(check_headers(b"From: a@b.it").is_err());
        assert!(check_headers(b"From: a@b.it\nTo: c@d.it\r\n").is_err());
        assert!(check_headers(b"From: a@b.it\r\n\r\n").is_err());
        assert!(check_headers(b"content-type : text/plain\r\n").is_err());
    }

    #[test]
    fn entity_rules() {
        assert!(check_entity(b"Content-Type: text/plain\r\n\r\nhi\r\n").is_ok());
        assert!(check_entity(b"").is_err());
        assert!(check_entity(b"Content-Type: text/plain\n\nhi\n").is_err());
        assert!(check_entity(b"a\rb\r\n").is_err());
    }
}
