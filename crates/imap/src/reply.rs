//! What the server says, and how a command fails. Every response is built as an imap-types
//! value and serialized by imap-codec's encoder, never written by hand, so what goes on the
//! wire is always well-formed IMAP. Texts are Italian first with a short English gloss where
//! it helps; IMAP4rev1 text is ASCII only, so accented letters are written the Italian
//! typewriter way (`può` → `puo'`).

use std::borrow::Cow;

use engine::EngineError;
use imap_codec::ResponseCodec;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::core::{Tag, Text};
use imap_codec::imap_types::response::{
    Bye, Code, CodeOther, CommandContinuationRequest, Response, Status, StatusBody, StatusKind,
    Tagged,
};
use store::StoreError;

/// The text of [`Failure::Internal`] as the client sees it.
const INTERNAL_TEXT: &str = "Errore interno del server, riprovare più tardi (internal error)";

/// Serializes a response with imap-codec's encoder.
pub(crate) fn encode(response: &Response<'_>) -> Vec<u8> {
    ResponseCodec::new().encode(response).dump()
}

/// Human-readable response text: ASCII only (RFC 3501 `TEXT-CHAR`), never empty, never a
/// line break.
pub(crate) fn text(s: &str) -> Text<'static> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            'à' | 'á' => out.push_str("a'"),
            'è' | 'é' => out.push_str("e'"),
            'ì' | 'í' => out.push_str("i'"),
            'ò' | 'ó' => out.push_str("o'"),
            'ù' | 'ú' => out.push_str("u'"),
            'À' => out.push_str("A'"),
            'È' | 'É' => out.push_str("E'"),
            'Ì' => out.push_str("I'"),
            'Ò' => out.push_str("O'"),
            'Ù' => out.push_str("U'"),
            '\r' | '\n' | '\0' => out.push(' '),
            c if c.is_ascii() => out.push(c),
            _ => out.push('?'),
        }
    }
    if out.trim().is_empty() {
        out = "-".to_owned();
    }
    Text::try_from(out).unwrap_or_else(|_| Text::try_from("-").expect("a valid text"))
}

/// A response code imap-types has no variant for (RFC 5530's `NOPERM`, `CANNOT`...).
pub(crate) fn code(name: &'static str) -> Code<'static> {
    Code::Other(CodeOther::unvalidated(Cow::Borrowed(name.as_bytes())))
}

/// A status response (`OK`, `NO`, `BAD`), tagged when there is a tag.
pub(crate) fn status(
    tag: Option<Tag<'static>>,
    kind: StatusKind,
    code: Option<Code<'static>>,
    s: &str,
) -> Response<'static> {
    let body = StatusBody {
        kind,
        code,
        text: text(s),
    };
    Response::Status(match tag {
        Some(tag) => Status::Tagged(Tagged { tag, body }),
        None => Status::Untagged(body),
    })
}

/// An untagged `* OK [code] text`.
pub(crate) fn untagged_ok(code: Option<Code<'static>>, s: &str) -> Response<'static> {
    status(None, StatusKind::Ok, code, s)
}

/// `* BYE text`.
pub(crate) fn bye(s: &str) -> Response<'static> {
    Response::Status(Status::Bye(Bye {
        code: None,
        text: text(s),
    }))
}

/// `+ text`: the client may go on (a literal, IDLE).
pub(crate) fn continuation(s: &str) -> Response<'static> {
    Response::CommandContinuationRequest(
        CommandContinuationRequest::basic(None, text(s))
            .unwrap_or_else(|_| CommandContinuationRequest::base64(Vec::new())),
    )
}

/// Why a command did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// Understood and refused: a tagged `NO`.
    #[error("NO {text}")]
    No {
        code: Option<Code<'static>>,
        text: String,
    },
    /// Not a valid command here: a tagged `BAD` (and one more towards the session's limit).
    #[error("BAD {text}")]
    Bad { text: String },
    /// Storage or the engine failed: a tagged `NO [SERVERBUG]`, and an error in the log.
    #[error("{doing}: {source}")]
    Internal {
        doing: &'static str,
        #[source]
        source: EngineError,
    },
    /// The connection failed while a long response was being written.
    #[error("writing a response: {0}")]
    Network(#[from] crate::io::IoError),
}

impl Failure {
    pub(crate) fn no(code_name: &'static str, text: impl Into<String>) -> Failure {
        Failure::No {
            code: Some(code(code_name)),
            text: text.into(),
        }
    }

    pub(crate) fn bad(text: impl Into<String>) -> Failure {
        Failure::Bad { text: text.into() }
    }

    /// The refusal for a store error while `doing` something: the errors a client can cause
    /// become a `NO` with RFC 5530's code, the others an internal failure.
    pub(crate) fn store(e: StoreError, doing: &'static str) -> Failure {
        match e {
            StoreError::Immutable(_) => Failure::no(
                "CANNOT",
                "Archivio: il contenuto dell'archivio non si può modificare (the archive is immutable)",
            ),
            StoreError::OverQuota(_) => Failure::No {
                code: Some(Code::OverQuota),
                text: "Casella piena: spazio esaurito (over quota)".into(),
            },
            StoreError::NotFound(_) => Failure::no(
                "NONEXISTENT",
                "Cartella o messaggio inesistente (no such mailbox or message)",
            ),
            StoreError::AlreadyExists(_) => {
                Failure::no("ALREADYEXISTS", "La cartella esiste già (mailbox exists)")
            }
            StoreError::InvalidName(_) => Failure::no(
                "CANNOT",
                "Nome di cartella non valido (invalid mailbox name)",
            ),
            other => Failure::Internal {
                doing,
                source: EngineError::Store(other),
            },
        }
    }

    pub(crate) fn engine(e: EngineError, doing: &'static str) -> Failure {
        match e {
            EngineError::Store(e) => Failure::store(e, doing),
            source => Failure::Internal { doing, source },
        }
    }

    /// The tagged response that reports this failure.
    pub(crate) fn response(self, tag: Tag<'static>) -> Response<'static> {
        let (kind, code, s) = match self {
            Failure::No { code, text } => (StatusKind::No, code, text),
            Failure::Bad { text } => (StatusKind::Bad, None, text),
            Failure::Internal { .. } | Failure::Network(_) => (
                StatusKind::No,
                Some(code("SERVERBUG")),
                INTERNAL_TEXT.to_owned(),
            ),
        };
        status(Some(tag), kind, code, &s)
    }
}

/// Shorthand for results of command handlers.
pub(crate) type Outcome<T = ()> = Result<T, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_ascii_and_one_line() {
        assert_eq!(
            text("non si può modificare\r\nné altro").inner(),
            "non si puo' modificare  ne' altro"
        );
        assert_eq!(text("").inner(), "-");
        assert_eq!(text("日本").inner(), "??");
    }

    #[test]
    fn failures_encode_as_imap() {
        let tag = imap_codec::imap_types::core::Tag::try_from("a1").unwrap();
        let response =
            Failure::store(StoreError::Immutable("x".into()), "storing flags").response(tag);
        assert_eq!(
            encode(&response),
            b"a1 NO [CANNOT] Archivio: il contenuto dell'archivio non si puo' modificare (the archive is immutable)\r\n"
        );
    }
}
