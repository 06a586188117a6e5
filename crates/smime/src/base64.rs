//! Base64 as used in MIME bodies (RFC 2045 §6.8): encoding wrapped at 76
//! columns with CRLF, and decoding that skips line breaks and other white
//! space but rejects any other character outside the alphabet.

use crate::SmimeError;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Longest encoded line allowed by RFC 2045.
const LINE_LEN: usize = 76;

/// Encodes `data` as base64 lines of at most 76 characters, each ended by
/// CRLF (including the last one).
pub(crate) fn encode_mime(data: &[u8]) -> Vec<u8> {
    let mut flat = Vec::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| ALPHABET[((n >> shift) & 0x3f) as usize];
        flat.push(sextet(18));
        flat.push(sextet(12));
        flat.push(if chunk.len() > 1 { sextet(6) } else { b'=' });
        flat.push(if chunk.len() > 2 { sextet(0) } else { b'=' });
    }
    let mut out = Vec::with_capacity(flat.len() + flat.len() / LINE_LEN * 2 + 2);
    for line in flat.chunks(LINE_LEN) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn sextet_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes a MIME base64 body. White space (including line breaks) is
/// ignored anywhere; `=` padding is optional but, once seen, only padding and
/// white space may follow. Any other character is an error that names it and
/// its byte offset in `text`.
pub(crate) fn decode_mime(text: &[u8]) -> Result<Vec<u8>, SmimeError> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut held = 0u8;
    let mut padding_seen = false;
    for (offset, &c) in text.iter().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padding_seen = true;
            continue;
        }
        let value = match sextet_value(c) {
            Some(v) if !padding_seen => v,
            Some(_) => {
                return Err(SmimeError::Base64 {
                    offset,
                    reason: "data after '=' padding".to_owned(),
                });
            }
            None => {
                return Err(SmimeError::Base64 {
                    offset,
                    reason: format!("invalid character {:?}", char::from(c)),
                });
            }
        };
        acc = (acc << 6) | u32::from(value);
        held += 1;
        if held == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            held = 0;
        }
    }
    match held {
        0 => {}
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {
            return Err(SmimeError::Base64 {
                offset: text.len(),
                reason: "truncated: a single character left over in the last group".to_owned(),
            });
        }
    }
    Ok(out)
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
