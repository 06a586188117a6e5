//! SASL PLAIN (RFC 4616) as POP3's AUTH carries it (RFC 5034): one base64 message holding
//! `authzid NUL authcid NUL passwd`. Only PLAIN is offered, and only inside TLS: it is the
//! one mechanism that works with argon2-hashed passwords and every client supports it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The login and password a client sent.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) login: String,
    pub(crate) password: String,
}

/// Why a PLAIN message was refused; the text goes to the client after `-ERR`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SaslError {
    #[error("invalid base64 in the authentication exchange")]
    Base64,
    #[error("malformed PLAIN message: expected authzid NUL login NUL password")]
    Malformed,
    #[error("login and password must be UTF-8")]
    NotUtf8,
    #[error("the authorization identity must be empty or equal to the login")]
    ForeignAuthzid,
}

/// Decodes the client's PLAIN message (base64; `=` is the empty message, RFC 5034 §4).
pub(crate) fn plain(encoded: &[u8]) -> Result<Credentials, SaslError> {
    let message = if encoded == b"=" {
        Vec::new()
    } else {
        BASE64.decode(encoded).map_err(|_| SaslError::Base64)?
    };
    let mut parts = message.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).map_err(|_| SaslError::NotUtf8);
    let (authzid, login, password) = (text(authzid)?, text(authcid)?, text(passwd)?);
    if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(&login) {
        return Err(SaslError::ForeignAuthzid);
    }
    Ok(Credentials { login, password })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(message: &[u8]) -> Vec<u8> {
        BASE64.encode(message).into_bytes()
    }

    #[test]
    fn plain_gives_login_and_password() {
        let expected = Credentials {
            login: "mario@pec.test".into(),
            password: "perché sì".into(),
        };
        let message = "\0mario@pec.test\0perché sì".as_bytes();
        assert_eq!(plain(&encoded(message)), Ok(expected));
        let with_authzid = "Mario@pec.test\0mario@pec.test\0x".as_bytes();
        assert_eq!(
            plain(&encoded(with_authzid)).unwrap().login,
            "mario@pec.test"
        );
    }

    #[test]
    fn bad_messages_are_refused_with_a_reason() {
        assert_eq!(plain(b"not base64!"), Err(SaslError::Base64));
        assert_eq!(plain(b"="), Err(SaslError::Malformed));
        assert_eq!(plain(&encoded(b"a\0b")), Err(SaslError::Malformed));
        assert_eq!(plain(&encoded(b"a\0b\0c\0d")), Err(SaslError::Malformed));
        assert_eq!(plain(&encoded(b"\0b\xff\0c")), Err(SaslError::NotUtf8));
        assert_eq!(
            plain(&encoded(b"boss\0mario\0pw")),
            Err(SaslError::ForeignAuthzid)
        );
    }
}
