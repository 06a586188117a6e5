//! Folder names on the wire: IMAP4rev1 clients send and expect mailbox names in modified
//! UTF-7 (RFC 3501 §5.1.3), while the store holds them as plain UTF-8 ("Archivio", "Pratiche
//! è urgenti" ↔ "Pratiche &AOg- urgenti").

use base64::Engine as _;
use base64::alphabet::Alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// RFC 3501's variant of base64: `,` instead of `/`, no padding.
const MODIFIED_BASE64: GeneralPurpose = GeneralPurpose::new(
    &match Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,") {
        Ok(alphabet) => alphabet,
        Err(_) => panic!("the modified base64 alphabet is valid"),
    },
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// A name that is not valid modified UTF-7.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mailbox name {0:?} is not valid modified UTF-7 (RFC 3501 section 5.1.3)")]
pub struct InvalidName(pub String);

/// Encodes a UTF-8 folder name for the wire.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |out: &mut String, pending: &mut Vec<u16>| {
        if !pending.is_empty() {
            let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
            out.push('&');
            out.push_str(&MODIFIED_BASE64.encode(bytes));
            out.push('-');
            pending.clear();
        }
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut pending);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut out, &mut pending);
    out
}

/// Decodes a name from the wire. Only the canonical encoding is accepted (the one
/// [`encode`] gives), so that one folder never has two wire names.
pub fn decode(wire: &str) -> Result<String, InvalidName> {
    let invalid = || InvalidName(wire.to_owned());
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find('-').ok_or_else(invalid)?;
        let encoded = &after[..end];
        if encoded.is_empty() {
            out.push('&');
        } else {
            let bytes = MODIFIED_BASE64.decode(encoded).map_err(|_| invalid())?;
            if bytes.len() % 2 != 0 {
                return Err(invalid());
            }
            let units = bytes.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]]));
            for c in char::decode_utf16(units) {
                out.push(c.map_err(|_| invalid())?);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if !wire.is_ascii() || encode(&out) != wire {
        return Err(invalid());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (utf8, wire) in [
            ("INBOX", "INBOX"),
            ("Pratiche è urgenti", "Pratiche &AOg- urgenti"),
            ("R&D", "R&-D"),
            ("日本語", "&ZeVnLIqe-"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("Archivio/2026/11", "Archivio/2026/11"),
            ("😀", "&2D3eAA-"),
        ] {
            assert_eq!(encode(utf8), wire);
            assert_eq!(decode(wire).as_deref(), Ok(utf8));
        }
    }

    #[test]
    fn refuses_what_is_not_canonical() {
        for bad in [
            "&",
            "a&Jjo",
            "&AGE-",      // "a": printable ASCII must not be encoded
            "&AOg-&AOg-", // two adjacent runs must be one
            "&2D0-",      // a lone surrogate
            "&AO-",       // an odd number of bytes
            "è",          // raw 8-bit
            "&AOg=-",     // padding
        ] {
            assert!(decode(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
