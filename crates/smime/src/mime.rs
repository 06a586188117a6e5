//! Cutting a `multipart/signed` message into its signed part and its
//! signature, byte-exactly.
//!
//! Header fields are read with `mail-parser` (it handles folding, quoting and
//! RFC 2231 parameters): that is where the type, `protocol`, `micalg` and
//! `boundary` come from. The bytes are cut by `pec::mime`, the scanner the
//! breve transformation uses too: the signed part must come out exactly as it
//! was signed, which a general MIME parser does not promise.

use mail_parser::{MessageParser, MimeHeaders};
use pec::mime::{split_header, split_multipart};

use crate::SmimeError;
use crate::base64;

/// The two `protocol` values used for detached PKCS#7 signatures.
const SIGNATURE_TYPES: [&str; 2] = [
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
];

/// The MIME fields of a header block that matter here, lowercased (except
/// the boundary, which is case-sensitive).
struct MimeFields {
    /// `type/subtype`, or `None` without a (parsable) Content-Type.
    mime_type: Option<String>,
    protocol: Option<String>,
    micalg: Option<String>,
    boundary: Option<String>,
    transfer_encoding: Option<String>,
}

/// Reads the MIME fields of a header block.
fn mime_fields(header: &[u8]) -> MimeFields {
    let parsed = if header.is_empty() {
        None
    } else {
        MessageParser::default().parse_headers(header)
    };
    let ct = parsed.as_ref().and_then(|p| p.content_type());
    let param = |name: &str| {
        ct.and_then(|ct| ct.attribute(name))
            .map(|v| v.trim().to_ascii_lowercase())
    };
    MimeFields {
        mime_type: ct.map(|ct| {
            format!(
                "{}/{}",
                ct.ctype().to_ascii_lowercase(),
                ct.subtype().unwrap_or("").to_ascii_lowercase()
            )
        }),
        protocol: param("protocol"),
        micalg: param("micalg"),
        boundary: ct
            .and_then(|ct| ct.attribute("boundary"))
            .filter(|b| !b.is_empty())
            .map(str::to_owned),
        transfer_encoding: parsed
            .as_ref()
            .and_then(|p| p.content_transfer_encoding())
            .map(|e| e.trim().to_ascii_lowercase()),
    }
}

/// The top level of a `multipart/signed` message.
pub(crate) struct Envelope<'a> {
    /// `protocol` parameter as declared, lowercased.
    pub protocol: Option<String>,
    /// `micalg` parameter as declared, lowercased.
    pub micalg: Option<String>,
    boundary: String,
    body: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Reads the top-level header of `raw`; fails unless it declares
    /// `multipart/signed` with a boundary.
    pub fn read(raw: &'a [u8]) -> Result<Self, SmimeError> {
        let (header, body) = split_header(raw);
        let fields = mime_fields(header);
        match fields.mime_type {
            None => return Err(SmimeError::NoContentType),
            Some(t) if t != "multipart/signed" => return Err(SmimeError::NotMultipartSigned(t)),
            Some(_) => {}
        }
        Ok(Envelope {
            protocol: fields.protocol,
            micalg: fields.micalg,
            boundary: fields.boundary.ok_or(SmimeError::MissingBoundary)?,
            body,
        })
    }

    /// Checks that the declared protocol is a PKCS#7 detached signature.
    pub fn check_protocol(&self) -> Result<(), SmimeError> {
        match self.protocol.as_deref() {
            Some(p) if SIGNATURE_TYPES.contains(&p) => Ok(()),
            Some(p) => Err(SmimeError::UnsupportedProtocol(p.to_owned())),
            None => Err(SmimeError::UnsupportedProtocol(
                "(none declared)".to_owned(),
            )),
        }
    }

    /// Cuts the body into the signed part and the signature part.
    pub fn parts(&self) -> Result<Parts<'a>, SmimeError> {
        split_parts(self.body, self.boundary.as_bytes())
    }
}

/// The two parts of a `multipart/signed` body.
pub(crate) struct Parts<'a> {
    /// First part, byte-exact: what the signature covers.
    pub content: &'a [u8],
    /// Second part: its header block and body.
    pub signature: &'a [u8],
}

/// The first two parts of `body`; a third part or the close delimiter ends
/// the signature, and so does the end of the body when the close delimiter
/// is missing.
fn split_parts<'a>(body: &'a [u8], boundary: &[u8]) -> Result<Parts<'a>, SmimeError> {
    match split_multipart(body, boundary).parts.as_slice() {
        [] => Err(SmimeError::BoundaryNotFound(
            String::from_utf8_lossy(boundary).into_owned(),
        )),
        [_] => Err(SmimeError::NoSignaturePart),
        [content, signature, ..] => Ok(Parts {
            content: &body[content.clone()],
            signature: &body[signature.clone()],
        }),
    }
}

/// The signature part, its type checked, its body still encoded.
pub(crate) struct SignaturePart<'a> {
    encoding: Option<String>,
    body: &'a [u8],
}

impl<'a> SignaturePart<'a> {
    /// Reads the header of the second part; fails unless it is a PKCS#7
    /// signature.
    pub fn read(part: &'a [u8]) -> Result<Self, SmimeError> {
        let (header, body) = split_header(part);
        let fields = mime_fields(header);
        match fields.mime_type {
            Some(t) if SIGNATURE_TYPES.contains(&t.as_str()) => Ok(SignaturePart {
                encoding: fields.transfer_encoding,
                body,
            }),
            Some(t) => Err(SmimeError::NotSignaturePart(t)),
            None => Err(SmimeError::NotSignaturePart(
                "untyped (text/plain by default)".to_owned(),
            )),
        }
    }

    /// Decodes the body to the DER signature. Base64 is the norm; a missing
    /// Content-Transfer-Encoding is read as base64 too (DER cannot be 7bit),
    /// `binary`/`8bit` bodies are taken as they are.
    pub fn decode(&self) -> Result<Vec<u8>, SmimeError> {
        let der = match self.encoding.as_deref() {
            None | Some("base64") => base64::decode_mime(self.body)?,
            Some("binary" | "8bit") => self.body.to_vec(),
            Some(other) => return Err(SmimeError::UnsupportedEncoding(other.to_owned())),
        };
        if der.is_empty() {
            return Err(SmimeError::EmptySignature);
        }
        Ok(der)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_cut_per_rfc_2046() {
        let body = b"preamble\r\n--B\r\nsigned\r\n\r\n--B \r\nsig\r\n--B--\r\nepilogue";
        let parts = split_parts(body, b"B")
            .ok()
            .map(|p| (p.content, p.signature));
        assert_eq!(parts, Some((&b"signed\r\n"[..], &b"sig"[..])));

        let lf = b"--B\nsigned\n--B\nsig\n";
        let parts = split_parts(lf, b"B").ok().map(|p| (p.content, p.signature));
        assert_eq!(parts, Some((&b"signed"[..], &b"sig\n"[..])));

        let empty = b"--B\r\n--B\r\nsig";
        let parts = split_parts(empty, b"B")
            .ok()
            .map(|p| (p.content, p.signature));
        assert_eq!(parts, Some((&b""[..], &b"sig"[..])));
    }

    #[test]
    fn lookalike_lines_are_not_delimiters() {
        let body = b"--B\r\n--Bx\r\n---B\r\n--B\r\nsig\r\n--B--";
        let parts = split_parts(body, b"B")
            .ok()
            .map(|p| (p.content, p.signature));
        assert_eq!(parts, Some((&b"--Bx\r\n---B"[..], &b"sig"[..])));
    }

    #[test]
    fn missing_parts() {
        assert!(matches!(
            split_parts(b"no delimiter", b"B"),
            Err(SmimeError::BoundaryNotFound(_))
        ));
        assert!(matches!(
            split_parts(b"--B\r\nonly part\r\n", b"B"),
            Err(SmimeError::NoSignaturePart)
        ));
        assert!(matches!(
            split_parts(b"--B\r\nonly part\r\n--B--\r\n", b"B"),
            Err(SmimeError::NoSignaturePart)
        ));
    }
}
