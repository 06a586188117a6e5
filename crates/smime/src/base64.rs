//! Base64 as used in MIME bodies (RFC 2045 §6.8), on the `base64` crate: encoding wrapped
//! at 76 columns with CRLF, and decoding that skips line breaks and other white space but
//! rejects any other character outside the alphabet.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::SmimeError;

/// Longest encoded line allowed by RFC 2045.
const LINE_LEN: usize = 76;

/// Standard alphabet; padding written, and optional on input (some mailers drop it).
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes `data` as base64 lines of at most 76 characters, each ended by
/// CRLF (including the last one).
pub(crate) fn encode_mime(data: &[u8]) -> Vec<u8> {
    let flat = ENGINE.encode(data);
    let mut out = Vec::with_capacity(flat.len() + flat.len() / LINE_LEN * 2 + 2);
    for line in flat.as_bytes().chunks(LINE_LEN) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Decodes a MIME base64 body. White space (including line breaks) is
/// ignored anywhere; `=` padding is optional. Any other character is an error
/// that names its byte offset in `text`.
pub(crate) fn decode_mime(text: &[u8]) -> Result<Vec<u8>, SmimeError> {
    // Offsets in `text` of the characters kept, to report errors where they are.
    let (kept, offsets): (Vec<u8>, Vec<usize>) = text
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.is_ascii_whitespace())
        .map(|(i, &c)| (c, i))
        .unzip();
    ENGINE.decode(&kept).map_err(|e| {
        let (at, reason) = match e {
            base64::DecodeError::InvalidByte(i, b) => {
                (i, format!("invalid character {:?}", char::from(b)))
            }
            base64::DecodeError::InvalidLastSymbol(i, b) => {
                (i, format!("invalid last character {:?}", char::from(b)))
            }
            base64::DecodeError::InvalidLength(n) => (n, "truncated: incomplete last group".into()),
            base64::DecodeError::InvalidPadding => (kept.len(), "misplaced padding".into()),
        };
        SmimeError::Base64 {
            offset: offsets.get(at).copied().unwrap_or(text.len()),
            reason,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_lengths() {
        let data: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        for len in 0..data.len() {
            let encoded = encode_mime(&data[..len]);
            assert!(
                encoded
                    .split(|&b| b == b'\n')
                    .all(|line| line.len() <= LINE_LEN + 1)
            );
            assert_eq!(decode_mime(&encoded).ok().as_deref(), Some(&data[..len]));
        }
    }

    #[test]
    fn known_vectors() {
        assert_eq!(encode_mime(b"foobar"), b"Zm9vYmFy\r\n");
        assert_eq!(encode_mime(b"fo"), b"Zm8=\r\n");
        assert_eq!(encode_mime(b""), b"");
        assert_eq!(
            decode_mime(b" Zm9v\r\nYmE =\n").ok(),
            Some(b"fooba".to_vec())
        );
        assert_eq!(decode_mime(b"Zm8").ok(), Some(b"fo".to_vec()));
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode_mime(b"MII...njA==").is_err());
        assert!(decode_mime(b"Zm9v=YmFy").is_err());
        assert!(decode_mime(b"Zm9vY").is_err());
        assert!(decode_mime("Zm9vü".as_bytes()).is_err());
    }
}
