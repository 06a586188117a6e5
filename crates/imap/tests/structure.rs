//! How stored messages look to IMAP: sections cut at the exact bytes, BODYSTRUCTURE and ENVELOPE
//! as an independent IMAP parser (imap-proto) reads them, SEARCH predicates, and no panic on any
//! input. Real provider messages come from the shared fixtures (see their MANIFEST.md), small
//! hand-written ones from `tests/data`.

use std::fs;
use std::num::NonZeroU32;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use imap::structure::Parsed;
use imap_codec::decode::Decoder;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::body::BodyStructure;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::{NString, Vec1};
use imap_codec::imap_types::envelope::{Address, Envelope};
use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName,
};
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::{CommandCodec, ResponseCodec};
use imap_proto::{AttributeValue, BodyParams, BodyStructure as Proto, ContentEncoding};
use proptest::prelude::*;
use proptest::sample::{Index, select};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/real-pec"
);
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn read(dir: &str, name: &str) -> Vec<u8> {
    let path = Path::new(dir).join(name);
    fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn fixture(name: &str) -> Vec<u8> {
    read(FIXTURES, name)
}

fn data(name: &str) -> Vec<u8> {
    read(DATA, name)
}

/// The answer to `FETCH 1 BODY[spec]`, the section read by imap-codec from a real command line.
fn fetch(parsed: &Parsed<'_>, spec: &str) -> Option<Vec<u8>> {
    let line = format!("A1 FETCH 1 BODY[{spec}]\r\n");
    let (rest, command) = CommandCodec::default()
        .decode(line.as_bytes())
        .unwrap_or_else(|error| panic!("{line:?}: {error:?}"));
    assert!(rest.is_empty(), "{line:?}");
    let CommandBody::Fetch {
        macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(names),
        ..
    } = command.body
    else {
        panic!("{line:?} is not a FETCH of items");
    };
    let [MessageDataItemName::BodyExt { section, .. }] = names.as_slice() else {
        panic!("{line:?} does not fetch one BODY[]");
    };
    parsed.section(section.as_ref())
}

/// `fetch` of a section that must exist.
fn cut(parsed: &Parsed<'_>, spec: &str) -> Vec<u8> {
    fetch(parsed, spec).unwrap_or_else(|| panic!("BODY[{spec}] missing"))
}

/// The bytes after the first `start` in `raw` and before the next `end`: the oracle sections are
/// checked against, found by plain searching rather than by any MIME parser.
fn between<'r>(raw: &'r [u8], start: &[u8], end: &[u8]) -> &'r [u8] {
    let from = position(raw, start, 0) + start.len();
    &raw[from..position(raw, end, from)]
}

fn position(haystack: &[u8], needle: &[u8], from: usize) -> usize {
    haystack[from..]
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|at| from + at)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

fn has(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn unbase64(encoded: &[u8]) -> Vec<u8> {
    let compact: Vec<u8> = encoded
        .iter()
        .copied()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    BASE64.decode(compact).expect("base64 section")
}

/// `* 1 FETCH (item)` as the server's encoder (imap-codec) writes it.
fn wire(item: MessageDataItem<'static>) -> Vec<u8> {
    let response = Response::Data(Data::Fetch {
        seq: NonZeroU32::MIN,
        items: Vec1::from(item),
    });
    ResponseCodec::default().encode(&response).dump()
}

/// The encoded FETCH item read back by an independent parser (imap-proto), which must take it
/// all.
fn reread(item: MessageDataItem<'static>) -> AttributeValue<'static> {
    let encoded = wire(item);
    let (rest, response) = imap_proto::Response::parse(&encoded)
        .unwrap_or_else(|error| panic!("{:?}: {error:?}", String::from_utf8_lossy(&encoded)));
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(rest));
    let imap_proto::Response::Fetch(1, mut attributes) = response.into_owned() else {
        panic!("not a FETCH response");
    };
    assert_eq!(attributes.len(), 1);
    attributes.remove(0)
}

/// A BODYSTRUCTURE (or BODY) as imap-proto reads it (imap-proto only knows the BODYSTRUCTURE
/// item name, whose grammar allows the extension data to be left out).
fn proto(structure: BodyStructure<'static>) -> Proto<'static> {
    match reread(MessageDataItem::BodyStructure(structure)) {
        AttributeValue::BodyStructure(structure) => structure,
        other => panic!("{other:?}"),
    }
}

/// The tree of media types, e.g. `mixed(text/plain,message/rfc822[text/plain])`.
fn shape(structure: &Proto<'_>) -> String {
    let shape = match structure {
        Proto::Multipart { common, bodies, .. } => {
            let bodies: Vec<String> = bodies.iter().map(shape).collect();
            format!("{}({})", common.ty.subtype, bodies.join(","))
        }
        Proto::Message { common, body, .. } => {
            format!("{}/{}[{}]", common.ty.ty, common.ty.subtype, shape(body))
        }
        Proto::Text { common, .. } | Proto::Basic { common, .. } => {
            format!("{}/{}", common.ty.ty, common.ty.subtype)
        }
    };
    shape.to_lowercase()
}

/// The subpart at `path` (1-based, through multiparts and encapsulated messages alike).
fn node<'p>(structure: &'p Proto<'p>, path: &[usize]) -> &'p Proto<'p> {
    path.iter()
        .fold(structure, |structure, &number| match structure {
            Proto::Multipart { bodies, .. } => &bodies[number - 1],
            Proto::Message { body, .. } => node(body, &[number]),
            single => {
                assert_eq!(number, 1, "no part {number} in {single:?}");
                single
            }
        })
}

fn param<'p>(params: &'p BodyParams<'_>, name: &str) -> Option<&'p str> {
    params
        .iter()
        .flatten()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_ref())
}

fn lines(bytes: &[u8]) -> u32 {
    let line_ends = bytes.iter().filter(|&&byte| byte == b'\n').count();
    (line_ends + usize::from(!bytes.ends_with(b"\n"))) as u32
}

fn text(value: &NString<'_>) -> Option<String> {
    value
        .0
        .as_ref()
        .map(|string| String::from_utf8_lossy(string.as_ref()).into_owned())
}

/// An ENVELOPE address as (name, adl, mailbox, host).
type Addr = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn addresses(list: &[Address<'_>]) -> Vec<Addr> {
    list.iter()
        .map(|address| {
            (
                text(&address.name),
                text(&address.adl),
                text(&address.mailbox),
                text(&address.host),
            )
        })
        .collect()
}

fn mailbox(name: Option<&str>, mailbox: &str, host: &str) -> Addr {
    (
        name.map(str::to_owned),
        None,
        Some(mailbox.to_owned()),
        Some(host.to_owned()),
    )
}

// ---------------------------------------------------------------- sections

/// aruba_2018-12-19 (CRLF), numbered as RFC 3501 numbers it:
/// 1 multipart/mixed [1.1 alternative [1.1.1 text/plain, 1.1.2 text/html], 1.2 daticert.xml,
/// 1.3 postacert.eml = message/rfc822 [1.3.1 alternative [1.3.1.1, 1.3.1.2], 1.3.2 Segnatura.xml]],
/// 2 smime.p7s.
const BUSTA: &str = "aruba_2018-12-19_posta-certificata.eml";

#[test]
fn busta_sections_are_cut_at_the_exact_bytes() {
    let raw = fixture(BUSTA);
    let parsed = Parsed::new(&raw);

    assert_eq!(cut(&parsed, ""), raw);
    let header_end = position(&raw, b"\r\n\r\n", 0) + 4;
    assert_eq!(cut(&parsed, "HEADER"), &raw[..header_end]);
    assert_eq!(cut(&parsed, "TEXT"), &raw[header_end..]);

    // The signed entity, between the first two boundaries of multipart/signed: MIME header and
    // body of part 1 rebuild it byte for byte, as a client checking the signature needs.
    let signed = between(
        &raw,
        b"------09EF6D84106209B9EB283161251CDA33\r\n",
        b"\r\n------09EF6D84106209B9EB283161251CDA33",
    );
    let mime = cut(&parsed, "1.MIME");
    assert!(mime.starts_with(b"Content-Type: multipart/mixed;"));
    assert!(mime.ends_with(b"MIME-Version: 1.0\r\n\r\n"));
    assert_eq!([mime, cut(&parsed, "1")].concat(), signed);

    // postacert.eml: the original message, up to the line end owned by the closing boundary.
    let postacert = between(
        &raw,
        b"filename=\"postacert.eml\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
        b"\r\n------------=_1545221459-4649-4214--",
    );
    assert!(postacert.starts_with(b"Received: from pec.3di.it"));
    assert!(postacert.ends_with(b"52.42.007.69585542--\r\n\r\n"));
    assert_eq!(cut(&parsed, "1.3"), postacert);
    let header = cut(&parsed, "1.3.HEADER");
    assert!(header.starts_with(b"Received: from pec.3di.it"));
    assert!(header.ends_with(
        b"X-Riferimento-Message-ID: <PJZGIB$52E013BDEC2A52B7C5DD1D4D48916860@pec.3di.it>\r\n\r\n"
    ));
    assert_eq!([header, cut(&parsed, "1.3.TEXT")].concat(), postacert);

    // Parts inside postacert.eml.
    let segnatura = cut(&parsed, "1.3.2");
    assert_eq!(
        segnatura,
        between(
            &raw,
            b"filename=\"=?utf-8?Q?Segnatura.xml?=\"\r\n\r\n",
            b"\r\n--_=__=_XaM3_.1545221459.2A.46519.42.5289.52.42.007.69585542--"
        )
    );
    assert!(
        unbase64(&segnatura)
            .starts_with(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Segnatura>")
    );
    assert_eq!(
        cut(&parsed, "1.3.2.MIME"),
        b"Content-Type: text/xml;\r\n\tname=\"=?utf-8?Q?Segnatura.xml?=\"\r\n\
          Content-Transfer-Encoding: base64\r\n\
          Content-Disposition: attachment; filename=\"=?utf-8?Q?Segnatura.xml?=\"\r\n\r\n"
    );
    assert_eq!(cut(&parsed, "1.3.1.1"), b"CgoK\r\n\r\n");
    assert_eq!(
        cut(&parsed, "1.3.1.1.MIME"),
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    );

    // daticert.xml and the signature.
    let daticert = cut(&parsed, "1.2");
    assert_eq!(
        daticert,
        between(
            &raw,
            b"filename=\"daticert.xml\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
            b"\r\n------------=_1545221459-4649-4214\r\n"
        )
    );
    let xml = unbase64(&daticert);
    assert!(xml.starts_with(b"<?xml"));
    assert!(has(
        &xml,
        b"<postacert tipo=\"posta-certificata\" errore=\"nessuno\">"
    ));
    assert!(xml.ends_with(b"</postacert>\n"));
    assert_eq!(
        cut(&parsed, "1.2.MIME"),
        b"Content-Type: application/xml; name=\"daticert.xml\"\r\n\
          Content-Disposition: inline; filename=\"daticert.xml\"\r\n\
          Content-Transfer-Encoding: base64\r\n\r\n"
    );
    assert_eq!(
        unbase64(&cut(&parsed, "2")).first(),
        Some(&0x30),
        "DER SEQUENCE"
    );

    // The text part decodes as declared (quoted-printable Latin-1).
    assert!(cut(&parsed, "1.1.1").starts_with(b"--Questo =E8 un Messaggio di Posta Certificata--"));
}

#[test]
fn busta_with_bare_line_feeds_is_cut_the_same_way() {
    let raw = fixture("aruba_2014-11-07_posta-certificata.eml");
    let parsed = Parsed::new(&raw);
    let postacert = between(
        &raw,
        b"filename=\"postacert.eml\"\nContent-Transfer-Encoding: 7bit\n\n",
        b"\n------------=_1415375521-3048-18--",
    );
    assert!(postacert.starts_with(b"Received: from pec.it"));
    assert_eq!(cut(&parsed, "1.3"), postacert);
    let boundary = b"--_=__=_XaM3_.1415375520.2A.832368.42.1613.52.42.007.2031342479";
    let inner_text = cut(&parsed, "1.3.1");
    assert_eq!(
        inner_text,
        between(
            &raw,
            b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n",
            &[b"\n".as_slice(), boundary].concat()
        )
    );
    let decoded = String::from_utf8(unbase64(&inner_text)).expect("UTF-8 text");
    assert!(decoded.starts_with("\nfunziona?\n"), "{decoded:?}");
    assert_eq!(
        cut(&parsed, "HEADER").len(),
        position(&raw, b"\n\n", 0) + 2,
        "the header keeps its LF blank line"
    );
}

#[test]
fn parts_that_do_not_exist_are_none() {
    let raw = fixture(BUSTA);
    let parsed = Parsed::new(&raw);
    for spec in [
        "3",
        "1.4",
        "1.2.1",
        "2.1",
        "1.3.3",
        "1.3.1.3",
        "1.3.1.1.1",
        "1.3.2.1",
        "1.1.HEADER",
        "1.2.TEXT",
        "2.HEADER.FIELDS (Subject)",
        "1.3.2.HEADER",
        "1.3.9.MIME",
        "1.HEADER",
    ] {
        assert_eq!(fetch(&parsed, spec), None, "BODY[{spec}]");
    }
}

#[test]
fn a_message_without_mime_parts_has_its_body_as_part_one() {
    let raw = data("plain.eml");
    let parsed = Parsed::new(&raw);
    let header_end = position(&raw, b"\n\n", 0) + 2;
    let (header, body) = raw.split_at(header_end);
    assert_eq!(body, b"Riga uno\nRiga due\n");
    assert_eq!(cut(&parsed, "1"), body);
    assert_eq!(cut(&parsed, "TEXT"), body);
    assert_eq!(cut(&parsed, "HEADER"), header);
    assert_eq!(
        cut(&parsed, "1.MIME"),
        header,
        "part 1's MIME header is the message header"
    );
    for spec in ["2", "1.1", "1.HEADER", "1.TEXT"] {
        assert_eq!(fetch(&parsed, spec), None, "BODY[{spec}]");
    }

    // RFC 2045 defaults: text/plain, us-ascii, 7bit; 18 octets in 2 lines.
    let extended = wire(MessageDataItem::BodyStructure(parsed.body_structure(true)));
    assert_eq!(
        extended,
        concat!(
            r#"* 1 FETCH (BODYSTRUCTURE ("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7bit" "#,
            "18 2 NIL NIL NIL NIL))\r\n"
        )
        .as_bytes()
    );
    let basic = wire(MessageDataItem::Body(parsed.body_structure(false)));
    assert_eq!(
        basic,
        concat!(
            r#"* 1 FETCH (BODY ("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7bit" 18 2))"#,
            "\r\n"
        )
        .as_bytes()
    );
}

#[test]
fn an_encapsulated_message_in_base64_is_numbered_inside_its_decoded_bytes() {
    let raw = data("encoded-rfc822.eml");
    let parsed = Parsed::new(&raw);
    let encoded = between(
        &raw,
        b"Content-Transfer-Encoding: base64\n\n",
        b"\n--esterno--",
    );
    assert_eq!(cut(&parsed, "2"), encoded);
    let decoded = unbase64(encoded);
    let header_end = position(&decoded, b"\n\n", 0) + 2;
    assert_eq!(cut(&parsed, "2.HEADER"), &decoded[..header_end]);
    assert_eq!(cut(&parsed, "2.TEXT"), &decoded[header_end..]);
    assert_eq!(cut(&parsed, "2.1"), b"Ciao dal messaggio annidato.\n");
    assert_eq!(cut(&parsed, "2.1.MIME"), &decoded[..header_end]);
    assert_eq!(fetch(&parsed, "2.2"), None);

    let structure = proto(parsed.body_structure(true));
    assert_eq!(
        shape(&structure),
        "mixed(text/plain,message/rfc822[text/plain])"
    );
    let Proto::Message {
        other,
        envelope,
        lines: message_lines,
        ..
    } = node(&structure, &[2])
    else {
        panic!("part 2 is not a message");
    };
    assert_eq!(other.transfer_encoding, ContentEncoding::Base64);
    assert_eq!(other.octets as usize, encoded.len());
    assert_eq!(*message_lines, lines(encoded));
    assert_eq!(envelope.subject.as_deref(), Some(b"annidato".as_slice()));
}

#[test]
fn a_digest_part_without_content_type_is_a_message() {
    let raw = data("digest.eml");
    let parsed = Parsed::new(&raw);
    assert_eq!(
        shape(&proto(parsed.body_structure(true))),
        "digest(message/rfc822[text/plain],text/plain)"
    );
    assert_eq!(
        cut(&parsed, "1.MIME"),
        b"\n",
        "an empty MIME header is its blank line"
    );
    assert_eq!(
        cut(&parsed, "1.HEADER"),
        b"From: primo@example.it\nSubject: primo messaggio\n\n"
    );
    assert_eq!(cut(&parsed, "1.1"), b"Testo del primo.");
    assert_eq!(cut(&parsed, "2"), b"Non un messaggio.");
    assert_eq!(fetch(&parsed, "2.HEADER"), None);
}

// ------------------------------------------------------------ BODYSTRUCTURE

#[test]
fn busta_bodystructure_reads_back_as_the_pec_tree() {
    let raw = fixture(BUSTA);
    let parsed = Parsed::new(&raw);
    let structure = proto(parsed.body_structure(true));
    assert_eq!(
        shape(&structure),
        "signed(mixed(alternative(text/plain,text/html),application/xml,\
         message/rfc822[mixed(alternative(text/plain,text/html),text/xml)]),\
         application/x-pkcs7-signature)"
    );

    let Proto::Multipart {
        common, extension, ..
    } = &structure
    else {
        panic!("top is not multipart");
    };
    assert_eq!(
        param(&common.ty.params, "protocol"),
        Some("application/x-pkcs7-signature")
    );
    assert_eq!(param(&common.ty.params, "micalg"), Some("sha1"));
    assert_eq!(
        param(&common.ty.params, "boundary"),
        Some("----09EF6D84106209B9EB283161251CDA33")
    );
    assert!(
        extension.is_none(),
        "nothing past the RFC 3501 extension fields"
    );

    // Every single part's octets and lines are those of its section.
    for (path, spec) in [
        (&[1, 1, 1][..], "1.1.1"),
        (&[1, 1, 2], "1.1.2"),
        (&[1, 2], "1.2"),
        (&[1, 3], "1.3"),
        (&[1, 3, 1, 1], "1.3.1.1"),
        (&[1, 3, 2], "1.3.2"),
        (&[2], "2"),
    ] {
        let section = cut(&parsed, spec);
        match node(&structure, path) {
            Proto::Text {
                other,
                lines: text_lines,
                ..
            } => {
                assert_eq!(other.octets as usize, section.len(), "{spec}");
                assert_eq!(*text_lines, lines(&section), "{spec}");
            }
            Proto::Basic { other, .. } => {
                assert_eq!(other.octets as usize, section.len(), "{spec}")
            }
            Proto::Message {
                other,
                lines: message_lines,
                ..
            } => {
                assert_eq!(other.octets as usize, section.len(), "{spec}");
                assert_eq!(*message_lines, lines(&section), "{spec}");
            }
            Proto::Multipart { .. } => panic!("{spec} is a multipart"),
        }
    }

    let Proto::Text { common, other, .. } = node(&structure, &[1, 1, 1]) else {
        panic!("1.1.1 is not text");
    };
    assert_eq!(param(&common.ty.params, "charset"), Some("iso-8859-1"));
    assert_eq!(other.transfer_encoding, ContentEncoding::QuotedPrintable);
    let disposition = common
        .disposition
        .as_ref()
        .expect("Content-Disposition: inline");
    assert_eq!(disposition.ty, "inline");

    let Proto::Basic { common, other, .. } = node(&structure, &[1, 2]) else {
        panic!("1.2 is not a basic part");
    };
    assert_eq!(param(&common.ty.params, "name"), Some("daticert.xml"));
    assert_eq!(other.transfer_encoding, ContentEncoding::Base64);
    let disposition = common.disposition.as_ref().expect("Content-Disposition");
    assert_eq!(param(&disposition.params, "filename"), Some("daticert.xml"));

    // postacert.eml carries its own envelope; its parameters stay as sent (RFC 2047 included).
    let Proto::Message {
        common, envelope, ..
    } = node(&structure, &[1, 3])
    else {
        panic!("1.3 is not a message");
    };
    assert_eq!(param(&common.ty.params, "name"), Some("postacert.eml"));
    assert_eq!(
        envelope.subject.as_deref(),
        Some(b"test con segnatura (solo testo)".as_slice())
    );
    assert_eq!(
        envelope.message_id.as_deref(),
        Some(b"<opec288.20181219131059.04649.706.2.69@pec.aruba.it>".as_slice())
    );
    let Proto::Text { common, .. } = node(&structure, &[1, 3, 2]) else {
        panic!("1.3.2 is not text");
    };
    assert_eq!(
        param(&common.ty.params, "name"),
        Some("=?utf-8?Q?Segnatura.xml?=")
    );

    // BODY: the same tree without extension data, down into postacert.eml.
    let basic = proto(parsed.body_structure(false));
    assert_eq!(shape(&basic), shape(&structure));
    let Proto::Multipart {
        common, extension, ..
    } = node(&basic, &[1, 3, 1])
    else {
        panic!("1.3.1 is not multipart");
    };
    assert!(extension.is_none() && common.disposition.is_none() && common.ty.params.is_none());
}

#[test]
fn every_real_message_reads_back_with_sections_matching_its_structure() {
    let mut names: Vec<_> = fs::read_dir(FIXTURES)
        .expect("fixtures")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".eml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 11, "the MANIFEST lists 11 messages");
    for name in names {
        let raw = fixture(&name);
        let parsed = Parsed::new(&raw);
        let structure = proto(parsed.body_structure(true));
        check_sizes(&parsed, &structure, &mut Vec::new(), &name);
        reread(MessageDataItem::Envelope(parsed.envelope()));
    }
}

/// Walks the structure: every part's section exists and has the size the structure gives.
fn check_sizes(parsed: &Parsed<'_>, structure: &Proto<'_>, path: &mut Vec<usize>, name: &str) {
    let spec: Vec<String> = path.iter().map(usize::to_string).collect();
    let spec = spec.join(".");
    match structure {
        Proto::Multipart { bodies, .. } => {
            for (index, body) in bodies.iter().enumerate() {
                path.push(index + 1);
                check_sizes(parsed, body, path, name);
                path.pop();
            }
        }
        Proto::Text { other, .. } | Proto::Basic { other, .. } | Proto::Message { other, .. } => {
            let spec = if spec.is_empty() {
                "1".to_owned()
            } else {
                spec
            };
            let section = fetch(parsed, &spec).unwrap_or_else(|| panic!("{name}: BODY[{spec}]"));
            assert_eq!(other.octets as usize, section.len(), "{name}: BODY[{spec}]");
        }
    }
}

#[test]
fn mime_parameters_and_extension_fields_are_handed_over_as_sent() {
    let raw = data("params.eml");
    let parsed = Parsed::new(&raw);
    let structure = proto(parsed.body_structure(true));
    assert_eq!(shape(&structure), "mixed(application/pdf)");
    let Proto::Multipart { common, .. } = &structure else {
        panic!("top is not multipart");
    };
    assert_eq!(
        common.ty.params,
        Some(vec![("boundary".into(), "p".into())]),
        "comment dropped"
    );
    assert_eq!(common.language, Some(vec!["it".into()]));

    let Proto::Basic { common, other, .. } = node(&structure, &[1]) else {
        panic!("1 is not a basic part");
    };
    assert_eq!(
        param(&common.ty.params, "name*"),
        Some("utf-8''fattura%20n%C2%B01.pdf"),
        "RFC 2231 form kept"
    );
    let disposition = common.disposition.as_ref().expect("disposition");
    assert_eq!(disposition.ty, "attachment");
    assert_eq!(
        param(&disposition.params, "filename"),
        Some("=?utf-8?q?fattura_n=C2=B01.pdf?=")
    );
    assert_eq!(common.language, Some(vec!["it".into(), "en".into()]));
    assert_eq!(common.location.as_deref(), Some("fattura.pdf"));
    assert_eq!(other.id.as_deref(), Some("<pdf@example.it>"));
    assert_eq!(
        other.description.as_deref(),
        Some("=?utf-8?q?Fattura_n=C2=B01?=")
    );
    assert_eq!(other.md5.as_deref(), Some("Q2hlY2sgSW50ZWdyaXR5IQ=="));
    assert_eq!(other.octets, 12);
    let encoded = wire(MessageDataItem::BodyStructure(parsed.body_structure(true)));
    assert!(has(
        &encoded,
        br#"("name*" "utf-8''fattura%20n%C2%B01.pdf" "x-quoted" "a \"b\"; c")"#
    ));
    assert!(has(&encoded, b"\"BASE64\" 12"), "transfer encoding as sent");
}

// ------------------------------------------------------------------ ENVELOPE

#[test]
fn busta_envelope_has_the_raw_header_values() {
    let raw = fixture(BUSTA);
    let envelope = Parsed::new(&raw).envelope();
    assert_eq!(
        text(&envelope.date).as_deref(),
        Some("Wed, 19 Dec 2018 13:10:59 +0100")
    );
    assert_eq!(
        text(&envelope.subject).as_deref(),
        Some("POSTA CERTIFICATA: test con segnatura (solo testo)")
    );
    let from = vec![mailbox(
        Some("Per conto di: invio-pec@pec.3di.it"),
        "posta-certificata",
        "pec.aruba.it",
    )];
    assert_eq!(addresses(&envelope.from), from);
    assert_eq!(addresses(&envelope.sender), from, "no Sender: it is From");
    assert_eq!(
        addresses(&envelope.reply_to),
        vec![mailbox(None, "invio-pec", "pec.3di.it")]
    );
    assert_eq!(
        addresses(&envelope.to),
        vec![mailbox(Some("Test Sviluppo 3DI"), "sviluppo", "pec.3di.it")]
    );
    assert!(envelope.cc.is_empty() && envelope.bcc.is_empty());
    assert_eq!(envelope.in_reply_to, NString::NIL);
    assert_eq!(
        text(&envelope.message_id).as_deref(),
        Some("<opec288.20181219131059.04649.706.2.69@pec.aruba.it>")
    );
}

#[test]
fn envelope_subject_stays_rfc2047_encoded_and_malformed_lists_survive() {
    let raw = fixture("aruba_2019-01-23_posta-certificata.eml");
    let parsed = Parsed::new(&raw);
    let envelope = parsed.envelope();
    assert_eq!(
        text(&envelope.subject).as_deref(),
        Some(
            "=?UTF-8?Q?POSTA_CERTIFICATA=3A_transazione_fiscale_TCM_srl__INTEGRAZIONI_?= \
             =?UTF-8?Q?3=C2=B0_blocco?="
        )
    );
    let to = addresses(&envelope.to);
    assert!(
        to.contains(&mailbox(
            Some("dir regionale entrate"),
            "dr.molise.gtpec",
            "pce.agenziaentrate.it"
        )),
        "{to:?}"
    );
    let encoded = reread(MessageDataItem::Envelope(envelope));
    assert!(matches!(encoded, AttributeValue::Envelope(_)));
}

#[test]
fn envelope_groups_defaults_and_encoded_names() {
    let raw = data("envelope.eml");
    let envelope: Envelope<'static> = Parsed::new(&raw).envelope();
    assert_eq!(
        text(&envelope.subject).as_deref(),
        Some("=?utf-8?q?Caff=C3=A8?= e cornetto")
    );
    let from = vec![mailbox(
        Some("=?utf-8?b?UmVuw6kgUm9zc2k=?="),
        "rene",
        "example.it",
    )];
    assert_eq!(
        addresses(&envelope.from),
        from,
        "a decoded non-ASCII name is re-encoded"
    );
    assert_eq!(
        addresses(&envelope.sender),
        vec![mailbox(None, "segreteria", "example.it")]
    );
    assert_eq!(
        addresses(&envelope.reply_to),
        from,
        "an empty Reply-To is From"
    );
    let group = |name: Option<&str>| (None, None, name.map(str::to_owned), None);
    assert_eq!(
        addresses(&envelope.to),
        vec![
            group(Some("Squadra")),
            mailbox(None, "anna", "example.it"),
            mailbox(Some("Bruno B."), "bruno", "example.it"),
            group(None),
            mailbox(None, "carla", "example.it"),
        ]
    );
    assert_eq!(
        addresses(&envelope.cc),
        vec![group(Some("undisclosed-recipients")), group(None)]
    );
    assert!(envelope.bcc.is_empty());
    assert_eq!(
        text(&envelope.in_reply_to).as_deref(),
        Some("<prima@example.it>")
    );
    assert_eq!(
        wire(MessageDataItem::Envelope(envelope)),
        concat!(
            r#"* 1 FETCH (ENVELOPE ("Sat, 1 Jan 2000 00:30:00 +0100" "#,
            r#""=?utf-8?q?Caff=C3=A8?= e cornetto" "#,
            r#"(("=?utf-8?b?UmVuw6kgUm9zc2k=?=" NIL "rene" "example.it")) "#,
            r#"((NIL NIL "segreteria" "example.it")) "#,
            r#"(("=?utf-8?b?UmVuw6kgUm9zc2k=?=" NIL "rene" "example.it")) "#,
            r#"((NIL NIL "Squadra" NIL)(NIL NIL "anna" "example.it")"#,
            r#"("Bruno B." NIL "bruno" "example.it")(NIL NIL NIL NIL)"#,
            r#"(NIL NIL "carla" "example.it")) "#,
            r#"((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL "#,
            r#""<prima@example.it>" "<questa@example.it>"))"#,
            "\r\n"
        )
        .as_bytes()
    );
}

// ------------------------------------------------------------ HEADER.FIELDS

#[test]
fn header_fields_select_the_raw_fields_and_end_with_the_blank_line() {
    let raw = fixture("aruba_2014-11-14_accettazione.eml");
    let parsed = Parsed::new(&raw);
    let wanted = concat!(
        "X-Riferimento-Message-ID: ",
        "<1415985992.182905912399292.346704098667155-openerp-private@elbati-Vostro-3550>\r\n",
        "X-Ricevuta: accettazione\r\n\r\n"
    )
    .as_bytes();
    assert_eq!(
        cut(
            &parsed,
            "HEADER.FIELDS (X-Ricevuta X-Riferimento-Message-ID)"
        ),
        wanted
    );
    assert_eq!(
        cut(
            &parsed,
            "HEADER.FIELDS (x-ricevuta \"X-RIFERIMENTO-MESSAGE-ID\")"
        ),
        wanted
    );
    assert_eq!(cut(&parsed, "HEADER.FIELDS (X-Assente)"), b"\r\n");

    // NOT: every other field, folded lines and all, in order.
    let header = cut(&parsed, "HEADER");
    let mut expected = Vec::new();
    for field in fields(&header) {
        let name = field.split(|&byte| byte == b':').next().unwrap_or_default();
        if !name.eq_ignore_ascii_case(b"Received") && !name.eq_ignore_ascii_case(b"X-Ricevuta") {
            expected.extend_from_slice(field);
        }
    }
    expected.extend_from_slice(b"\r\n");
    let not = cut(&parsed, "HEADER.FIELDS.NOT (Received X-Ricevuta)");
    assert_eq!(not, expected);
    assert!(!has(&not, b"Received:") && has(&not, b"X-Riferimento-Message-ID:"));
}

/// The fields of a header block (blank line excluded): each starts on a line that does not begin
/// with a blank.
fn fields(header: &[u8]) -> Vec<&[u8]> {
    let mut starts: Vec<usize> = (0..header.len())
        .filter(|&at| (at == 0 || header[at - 1] == b'\n') && !b" \t\r\n".contains(&header[at]))
        .collect();
    let end = header.len() - if header.ends_with(b"\r\n\r\n") { 2 } else { 1 };
    starts.push(end);
    starts
        .windows(2)
        .map(|pair| &header[pair[0]..pair[1]])
        .collect()
}

#[test]
fn header_fields_keep_folding_and_line_ends_and_work_inside_messages() {
    let raw = data("envelope.eml");
    let parsed = Parsed::new(&raw);
    assert_eq!(
        cut(&parsed, "HEADER.FIELDS (Subject)"),
        b"Subject: =?utf-8?q?Caff=C3=A8?= e\n cornetto\n\n"
    );

    let raw = fixture(BUSTA);
    let parsed = Parsed::new(&raw);
    assert_eq!(
        cut(&parsed, "1.3.HEADER.FIELDS (Subject Message-ID)"),
        b"Subject: test con segnatura (solo testo)\r\n\
          Message-ID: <opec288.20181219131059.04649.706.2.69@pec.aruba.it>\r\n\r\n"
    );
}

// ------------------------------------------------------------------- SEARCH

#[test]
fn search_predicates_see_decoded_headers_and_texts() {
    let raw = fixture("aruba_2014-11-14_accettazione.eml");
    let ricevuta = Parsed::new(&raw);
    assert!(ricevuta.header_matches("X-Ricevuta", "accettazione"));
    assert!(ricevuta.header_matches("x-ricevuta", "ACCETT"));
    assert!(
        ricevuta.header_matches("X-Ricevuta", ""),
        "empty needle: the field is there"
    );
    assert!(!ricevuta.header_matches("X-Ricevuta", "consegna"));
    assert!(!ricevuta.header_matches("X-Trasporto", ""));
    assert!(ricevuta.header_matches("X-Riferimento-Message-ID", "openerp-private@elbati"));

    let raw = fixture("aruba_2019-01-23_posta-certificata.eml");
    let encoded = Parsed::new(&raw);
    assert!(
        encoded.header_matches("Subject", "3° BLOCCO"),
        "RFC 2047 decoded"
    );
    assert!(!encoded.header_matches("Subject", "=C2=B0"));

    let raw = fixture("aruba_2014-11-07_posta-certificata.eml");
    let busta = Parsed::new(&raw);
    assert!(
        busta.body_contains("questo è un messaggio di posta certificata"),
        "QP Latin-1"
    );
    assert!(
        busta.body_contains("FUNZIONA?"),
        "base64 UTF-8 inside postacert.eml"
    );
    assert!(!busta.body_contains("X-Trasporto"), "headers are not body");
    assert!(
        busta.text_contains("x-trasporto"),
        "TEXT sees header fields"
    );
    assert!(busta.text_contains("funziona?"));
    assert!(!busta.text_contains("parola che non c'è"));
}

#[test]
fn sent_date_is_the_instant_and_sent_day_the_senders_calendar_day() {
    let raw = fixture(BUSTA);
    let parsed = Parsed::new(&raw);
    assert_eq!(
        parsed.sent_date(),
        Some(1_545_221_459),
        "2018-12-19T12:10:59Z"
    );
    assert_eq!(parsed.sent_day(), Some(jiff::civil::date(2018, 12, 19)));

    let raw = data("envelope.eml");
    let parsed = Parsed::new(&raw);
    assert_eq!(
        parsed.sent_date(),
        Some(946_683_000),
        "1999-12-31T23:30:00Z"
    );
    assert_eq!(parsed.sent_day(), Some(jiff::civil::date(2000, 1, 1)));

    let parsed = Parsed::new(b"Date: not a date\n\nx");
    assert_eq!((parsed.sent_date(), parsed.sent_day()), (None, None));
}

// ---------------------------------------------------------------- malformed

#[test]
fn a_signed_message_without_signature_or_closing_boundary_still_reads() {
    let raw = fixture("aruba_2024-11-15_accettazione_anonymised.eml");
    let parsed = Parsed::new(&raw);
    assert_eq!(
        shape(&proto(parsed.body_structure(true))),
        "signed(mixed(alternative(text/plain,text/html),application/xml))"
    );
    assert!(has(
        &unbase64(&cut(&parsed, "1.2")),
        b"tipo=\"accettazione\""
    ));
    assert_eq!(fetch(&parsed, "2"), None);
}

#[test]
fn a_multipart_whose_boundary_never_comes_is_one_opaque_part() {
    let raw = data("broken.eml");
    let parsed = Parsed::new(&raw);
    let structure = proto(parsed.body_structure(true));
    assert_eq!(shape(&structure), "application/octet-stream");
    let body = &raw[position(&raw, b"\n\n", 0) + 2..];
    assert_eq!(cut(&parsed, "1"), body);
    assert_eq!(cut(&parsed, "TEXT"), body);
    assert_eq!(fetch(&parsed, "2"), None);
    assert_eq!(fetch(&parsed, "1.1"), None);
}

#[test]
fn odd_inputs_give_a_single_text_part() {
    for raw in [
        &b""[..],
        b"no header at all",
        b"\n\nbody only",
        b"\0\xff\xfe\n\x00",
    ] {
        let parsed = Parsed::new(raw);
        assert_eq!(cut(&parsed, ""), raw);
        let structure = proto(parsed.body_structure(true));
        assert_eq!(shape(&structure), "text/plain", "{raw:?}");
        assert_eq!(cut(&parsed, "1"), cut(&parsed, "TEXT"));
        reread(MessageDataItem::Envelope(parsed.envelope()));
    }
}

#[test]
fn misread_nested_messages_do_not_panic() {
    // A message/rfc822 whose body is another message/rfc822, inside a multipart: mail-parser
    // 0.11 trips a debug assertion on it (and in release files the next part inside the message).
    let raw = b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\n\
                Content-Type: message/rfc822\n\nSubject: fondo\n\nciao\n--b\n\nsecondo\n--b--\n";
    exercise(raw);
}

/// `levels` message/rfc822 parts, each the whole body of the one around it.
fn nested_messages(levels: usize) -> Vec<u8> {
    let mut raw = b"Content-Type: message/rfc822\n\n".repeat(levels);
    raw.extend_from_slice(b"Subject: fondo\n\nfine\n");
    raw
}

#[test]
fn deep_nesting_is_capped_without_exhausting_the_stack() {
    let raw = nested_messages(5_000);
    let parsed = Parsed::new(&raw);
    let structure = proto(parsed.body_structure(true));
    let mut depth = 0;
    let mut current = &structure;
    while let Proto::Message { body, .. } = current {
        depth += 1;
        current = body;
    }
    assert!((1..5_000).contains(&depth), "shown {depth} levels deep");
    assert_eq!(
        shape(current),
        "application/octet-stream",
        "the rest is opaque"
    );
    // Section numbering agrees with the structure: part 1 of each level down to the opaque one.
    let path = |length: usize| vec!["1"; length].join(".");
    assert!(fetch(&parsed, &path(depth + 1)).is_some());
    assert_eq!(fetch(&parsed, &path(depth + 2)), None);

    // Multiparts are capped the same way; a multipart's part 1 is its first subpart.
    let mut raw = Vec::new();
    for level in 0..5_000 {
        let boundary = format!("=_{level:05}_=");
        raw.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\n\n--{boundary}\n")
                .as_bytes(),
        );
    }
    raw.extend_from_slice(b"\nfondo\n");
    let parsed = Parsed::new(&raw);
    let structure = proto(parsed.body_structure(true));
    let mut depth = 0;
    let mut current = &structure;
    while let Proto::Multipart { bodies, .. } = current {
        depth += 1;
        current = &bodies[0];
    }
    assert!((1..5_000).contains(&depth), "shown {depth} levels deep");
    assert_eq!(shape(current), "application/octet-stream");
    assert!(fetch(&parsed, &path(depth)).is_some());
    assert_eq!(fetch(&parsed, &path(depth + 1)), None);

    // Far deeper than mail-parser's recursive drop survives.
    let raw = nested_messages(200_000);
    let parsed = Parsed::new(&raw);
    proto(parsed.body_structure(true));
    drop(parsed);
}

#[test]
fn a_message_with_too_many_parts_is_one_text_part() {
    let mut raw = b"Content-Type: multipart/mixed; boundary=b\n\n".to_vec();
    raw.extend_from_slice(&b"--b\n\nx\n".repeat(20_000));
    raw.extend_from_slice(b"--b--\n");
    let parsed = Parsed::new(&raw);
    assert_eq!(shape(&proto(parsed.body_structure(true))), "text/plain");
    assert_eq!(cut(&parsed, "1"), raw);
}

// ----------------------------------------------------------------- property

/// A MIME tree to render: text leaves, multiparts, encapsulated messages.
#[derive(Clone, Debug)]
enum Tree {
    Leaf(Vec<String>),
    Multi(Vec<Tree>),
    Message(Box<Tree>),
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop::collection::vec("[a-z0-9 ]{0,12}", 0..4).prop_map(Tree::Leaf);
    leaf.prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Tree::Multi),
            // mail-parser 0.11 misreads a message/rfc822 whose body is straight away another
            // message/rfc822 inside a multipart (the next sibling lands in the inner message),
            // so the trees leave that out; `misread_nested_messages_do_not_panic` covers it.
            inner
                .prop_filter("message/rfc822 straight in message/rfc822", |tree| {
                    !matches!(tree, Tree::Message(_))
                })
                .prop_map(|tree| Tree::Message(Box::new(tree))),
        ]
    })
}

/// A rendered MIME entity: its header (blank line included) and body.
struct Entity {
    header: Vec<u8>,
    body: Vec<u8>,
    kind: Kind,
}

enum Kind {
    Leaf,
    Multi(Vec<Entity>),
    Message(Box<Entity>),
}

impl Entity {
    fn bytes(&self) -> Vec<u8> {
        [self.header.as_slice(), &self.body].concat()
    }
}

fn render(tree: &Tree, eol: &str, boundaries: &mut u32) -> Entity {
    let header = |content_type: String| {
        format!("Subject: s\n{content_type}\n\n")
            .replace('\n', eol)
            .into_bytes()
    };
    match tree {
        Tree::Leaf(lines) => Entity {
            header: header("Content-Type: text/plain".to_owned()),
            body: lines.join(eol).into_bytes(),
            kind: Kind::Leaf,
        },
        Tree::Multi(children) => {
            *boundaries += 1;
            // Fixed width: no boundary is a prefix of another.
            let boundary = format!("=_{:05}_=", boundaries);
            let children: Vec<Entity> = children
                .iter()
                .map(|child| render(child, eol, boundaries))
                .collect();
            let mut body = Vec::new();
            for child in &children {
                body.extend_from_slice(format!("--{boundary}{eol}").as_bytes());
                body.extend_from_slice(&child.bytes());
                body.extend_from_slice(eol.as_bytes());
            }
            body.extend_from_slice(format!("--{boundary}--").as_bytes());
            Entity {
                header: header(format!(
                    "Content-Type: multipart/mixed; boundary=\"{boundary}\""
                )),
                body,
                kind: Kind::Multi(children),
            }
        }
        Tree::Message(inner) => {
            let inner = render(inner, eol, boundaries);
            Entity {
                header: header("Content-Type: message/rfc822".to_owned()),
                body: inner.bytes(),
                kind: Kind::Message(Box::new(inner)),
            }
        }
    }
}

/// A section and what it must be (`None`: no such part).
type Expected = Vec<(String, Option<Vec<u8>>)>;

/// The sections of the entity at `path`, numbered as RFC 3501 numbers parts.
fn expect_part(entity: &Entity, path: &[u32], out: &mut Expected) {
    let spec: Vec<String> = path.iter().map(u32::to_string).collect();
    let spec = spec.join(".");
    out.push((format!("{spec}.MIME"), Some(entity.header.clone())));
    out.push((spec.clone(), Some(entity.body.clone())));
    match &entity.kind {
        Kind::Leaf => out.push((format!("{spec}.1"), None)),
        Kind::Multi(children) => expect_children(children, path, out),
        Kind::Message(inner) => {
            out.push((format!("{spec}.HEADER"), Some(inner.header.clone())));
            out.push((format!("{spec}.TEXT"), Some(inner.body.clone())));
            expect_message(inner, path, out);
        }
    }
}

/// The parts of the message whose root is `root`: a multipart's subparts, else the root as 1.
fn expect_message(root: &Entity, path: &[u32], out: &mut Expected) {
    match &root.kind {
        Kind::Multi(children) => expect_children(children, path, out),
        _ => expect_part(root, &[path, &[1]].concat(), out),
    }
}

fn expect_children(children: &[Entity], path: &[u32], out: &mut Expected) {
    for (number, child) in (1..).zip(children) {
        expect_part(child, &[path, &[number]].concat(), out);
    }
    let past: Vec<String> = path
        .iter()
        .chain([&(children.len() as u32 + 1)])
        .map(u32::to_string)
        .collect();
    out.push((past.join("."), None));
}

/// The media-type tree `shape` must read back for an entity.
fn expected_shape(entity: &Entity) -> String {
    match &entity.kind {
        Kind::Leaf => "text/plain".to_owned(),
        Kind::Multi(children) => {
            let children: Vec<String> = children.iter().map(expected_shape).collect();
            format!("mixed({})", children.join(","))
        }
        Kind::Message(inner) => format!("message/rfc822[{}]", expected_shape(inner)),
    }
}

/// Everything a client can ask of a message, on any bytes: nothing may panic, every
/// BODYSTRUCTURE and ENVELOPE must read back with an independent parser, and the sections must
/// agree with one another.
fn exercise(raw: &[u8]) {
    let parsed = Parsed::new(raw);
    proto(parsed.body_structure(true));
    proto(parsed.body_structure(false));
    reread(MessageDataItem::Envelope(parsed.envelope()));
    assert_eq!(cut(&parsed, ""), raw);
    assert_eq!(
        [cut(&parsed, "HEADER"), cut(&parsed, "TEXT")].concat(),
        raw,
        "HEADER and TEXT split the message"
    );
    cut(&parsed, "HEADER.FIELDS (Subject X-Ricevuta)");
    cut(&parsed, "HEADER.FIELDS.NOT (Subject)");

    // Every part path up to three numbers deep, each number 1 to 3.
    let mut paths = Vec::new();
    let mut longest = vec![String::new()];
    for _ in 0..3 {
        longest = longest
            .iter()
            .flat_map(|path| (1..=3).map(move |number| format!("{path}{number}.")))
            .collect();
        paths.extend(
            longest
                .iter()
                .map(|path| path.trim_end_matches('.').to_owned()),
        );
    }
    for path in &paths {
        let part = fetch(&parsed, path);
        assert_eq!(
            part.is_some(),
            fetch(&parsed, &format!("{path}.MIME")).is_some(),
            "{path}"
        );
        let message = fetch(&parsed, &format!("{path}.HEADER")).is_some();
        for spec in [
            "TEXT",
            "HEADER.FIELDS (Subject X-Ricevuta)",
            "HEADER.FIELDS.NOT (Subject)",
        ] {
            let got = fetch(&parsed, &format!("{path}.{spec}"));
            assert_eq!(got.is_some(), message, "{path}.{spec}");
        }
        assert!(
            !message || part.is_some(),
            "{path} has a HEADER but no body"
        );
    }
    parsed.header_matches("subject", "s");
    parsed.body_contains("a");
    parsed.text_contains("a");
    parsed.sent_date();
    parsed.sent_day();
}

/// Pieces of MIME that random bytes would hardly ever form: nesting, boundaries, encodings.
const SOUP: [&str; 16] = [
    "Content-Type: multipart/mixed; boundary=b\n",
    "Content-Type: multipart/digest; boundary=bb\n",
    "Content-Type: message/rfc822\n",
    "Content-Type: text/plain; charset=\"utf-8\n",
    "Content-Transfer-Encoding: base64\n",
    "Subject: =?utf-8?q?s=C3=A8?=\n",
    "From: a@b.it, Grp: c@d;\n",
    "Date: Sat, 1 Jan 2000 00:30:00 +0100\n",
    "\n",
    "\r\n",
    "--b\n",
    "--b--\n",
    "--bb\n",
    "--bb--\n",
    "U3ViamVjdDogeAoKeQo=\n",
    "text (\"\\\n",
];

/// Small real messages to garble.
const GARBLED: [&str; 3] = [
    "aruba_2014-11-14_accettazione.eml",
    "aruba_2024-11-15_accettazione_anonymised.eml",
    "unknown_2021-05-13_avvenuta-consegna_anonymised.eml",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn generated_trees_are_numbered_and_cut_exactly(tree in tree(), crlf in any::<bool>()) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let top = render(&tree, eol, &mut 0);
        let raw = top.bytes();
        let parsed = Parsed::new(&raw);
        prop_assert_eq!(shape(&proto(parsed.body_structure(true))), expected_shape(&top));
        let mut expected = vec![
            ("HEADER".to_owned(), Some(top.header.clone())),
            ("TEXT".to_owned(), Some(top.body.clone())),
        ];
        expect_message(&top, &[], &mut expected);
        for (spec, bytes) in expected {
            prop_assert_eq!(fetch(&parsed, &spec), bytes, "BODY[{}]", spec);
        }
    }

    #[test]
    fn random_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..2_000)) {
        exercise(&raw);
    }

    #[test]
    fn garbled_real_messages_never_panic(
        which in 0..GARBLED.len(),
        edits in prop::collection::vec((any::<Index>(), any::<Index>(), any::<Vec<u8>>()), 1..6),
    ) {
        let mut raw = fixture(GARBLED[which]);
        // Each edit replaces up to 64 bytes somewhere with a few random ones.
        for (at, length, insert) in edits {
            let start = at.index(raw.len() + 1);
            let end = start + length.index(raw.len() - start + 1).min(64);
            raw.splice(start..end, insert.into_iter().take(8));
        }
        exercise(&raw);
    }

    #[test]
    fn mime_token_soup_never_panics(tokens in prop::collection::vec(select(&SOUP[..]), 0..60)) {
        exercise(tokens.concat().as_bytes());
    }

    #[test]
    fn truncated_generated_trees_never_panic(tree in tree(), cut in any::<Index>()) {
        let raw = render(&tree, "\r\n", &mut 0).bytes();
        exercise(&raw[..cut.index(raw.len() + 1)]);
    }
}
