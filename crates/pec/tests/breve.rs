//! The breve transformation (spec §3.9): attachments become `.hash` parts, the rest is kept.

use std::path::PathBuf;
use std::process::Command;

use mail_parser::{Message, MessageParser, MimeHeaders};
use pec::breve::{BreveError, MAX_DEPTH};
use pec::{HashAlg, breve};
use proptest::prelude::*;
use sha1::{Digest, Sha1};
use sha2::Sha256;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/real-pec"
);

// ---------------------------------------------------------------------------------------------
// Helpers

fn sha1_hex(data: &[u8]) -> String {
    hex(&Sha1::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Base64 with 76-character CRLF-separated lines, as mail clients write it.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut flat = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                flat.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize]));
            } else {
                flat.push('=');
            }
        }
    }
    let lines: Vec<&str> = flat
        .as_bytes()
        .chunks(76)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    lines.join("\r\n")
}

/// Quoted-printable that escapes everything but letters, digits and a few safe marks (so no
/// line can look like a boundary), with soft line breaks.
fn quoted_printable(data: &[u8]) -> String {
    let mut out = String::new();
    let mut line = 0;
    for &b in data {
        let piece = if b.is_ascii_alphanumeric() || b".,;:".contains(&b) {
            char::from(b).to_string()
        } else {
            format!("={b:02X}")
        };
        if line + piece.len() > 72 {
            out.push_str("=\r\n");
            line = 0;
        }
        line += piece.len();
        out.push_str(&piece);
    }
    out
}

fn parse(bytes: &[u8]) -> Message<'_> {
    MessageParser::default()
        .parse(bytes)
        .expect("breve output must parse as a message")
}

/// `(file name, body)` of every `.hash` part, in document order.
fn hash_parts(message: &Message<'_>) -> Vec<(String, String)> {
    message
        .parts
        .iter()
        .filter_map(|part| {
            let name = part.attachment_name()?;
            name.ends_with(".hash").then(|| {
                let body = std::str::from_utf8(part.contents()).expect("hash body is ASCII");
                (name.to_owned(), body.to_owned())
            })
        })
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

fn to_lf(bytes: &[u8]) -> Vec<u8> {
    String::from_utf8(bytes.to_vec())
        .expect("test message is UTF-8")
        .replace("\r\n", "\n")
        .into_bytes()
}

/// The exact replacement part breve writes for an ASCII file name.
fn hash_part(name: &str, digest: &str) -> String {
    format!(
        "Content-Type: text/plain; charset=us-ascii;\r\n name=\"{name}.hash\"\r\n\
         Content-Disposition: attachment;\r\n filename=\"{name}.hash\"\r\n\
         Content-Transfer-Encoding: 7bit\r\n\r\n{digest}\r\n"
    )
}

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(FIXTURES).join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "real PEC fixture {} is missing ({e}); the shared fixtures must be checked out next to \
             the workspace",
            path.display()
        )
    })
}

// ---------------------------------------------------------------------------------------------
// 1. Text body + two attachments

/// Something that looks like a PDF: a header and every byte value.
fn pdfish() -> Vec<u8> {
    let mut data = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    data.extend((0..=255u8).cycle().take(3000));
    data
}

const UTF8_FILE: &str = "Relazione attività €.txt";
const UTF8_CONTENT: &[u8] = "Voce;Importo;Città\u{20ac} 12,50;Torino ok".as_bytes();

const TEXT_PART: &str = "--b1\r\n\
    Content-Type: text/plain; charset=utf-8\r\n\
    Content-Transfer-Encoding: 8bit\r\n\
    \r\n\
    Ciao, in allegato la fattura e la relazione.\r\n\
    Saluti\r\n";

fn pdf_part() -> String {
    format!(
        "Content-Type: application/pdf; name=\"fattura.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"fattura.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {}",
        base64(&pdfish())
    )
}

fn utf8_part() -> String {
    format!(
        "Content-Type: text/csv; charset=utf-8;\r\n name*=utf-8''Relazione%20attivit%C3%A0%20%E2%82%AC.txt\r\n\
         Content-Disposition: attachment;\r\n filename*0*=utf-8''Relazione%20attivit%C3%A0;\r\n filename*1*=%20%E2%82%AC.txt\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         {}",
        quoted_printable(UTF8_CONTENT)
    )
}

const HEAD: &str = "Return-Path: <mario.rossi@pec.example.it>\r\n\
    From: Mario Rossi <mario.rossi@pec.example.it>\r\n\
    To: ufficio@pec.example.org\r\n\
    Subject: Fattura e relazione\r\n\
    Message-ID: <opec-1234@pec.example.it>\r\n\
    X-TipoRicevuta: breve\r\n\
    MIME-Version: 1.0\r\n";

/// The message of test 1, and the byte ranges of its two attachment parts.
fn mixed_message() -> (Vec<u8>, [std::ops::Range<usize>; 2]) {
    let before = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         This is a multi-part message in MIME format.\r\n\
         {TEXT_PART}\r\n--b1\r\n"
    );
    let pdf = pdf_part();
    let between = "\r\n--b1\r\n";
    let utf8 = utf8_part();
    let after = "\r\n--b1--\r\nepilogue, kept as it is\r\n";
    let pdf_start = before.len();
    let utf8_start = pdf_start + pdf.len() + between.len();
    let message = [before.as_str(), &pdf, between, &utf8, after].concat();
    (
        message.into_bytes(),
        [
            pdf_start..pdf_start + pdf.len(),
            utf8_start..utf8_start + utf8.len(),
        ],
    )
}

#[test]
fn attachments_become_hash_parts_and_nothing_else_changes() {
    let (input, [pdf, utf8]) = mixed_message();
    let out = breve(&input, HashAlg::Sha1).unwrap();

    // Byte for byte: prefix, first replacement, the boundary between, second part, suffix.
    let pdf_hash = sha1_hex(&pdfish());
    let first = hash_part("fattura.pdf", &pdf_hash);
    assert_eq!(&out[..pdf.start], &input[..pdf.start], "prefix changed");
    assert_eq!(
        std::str::from_utf8(&out[pdf.start..pdf.start + first.len()]).unwrap(),
        first
    );
    let middle = &input[pdf.end..utf8.start];
    let second_start = pdf.start + first.len() + middle.len();
    assert_eq!(&out[pdf.start + first.len()..second_start], middle);
    let suffix = &input[utf8.end..];
    assert!(out.ends_with(suffix), "suffix changed");
    let second = std::str::from_utf8(&out[second_start..out.len() - suffix.len()]).unwrap();
    assert!(
        second.contains("filename*=utf-8''Relazione%20attivit%C3%A0%20%E2%82%AC.txt.hash"),
        "{second}"
    );
    assert!(second.starts_with("Content-Type: text/plain; charset=us-ascii;"));
    assert!(second.ends_with(&format!("\r\n\r\n{}\r\n", sha1_hex(UTF8_CONTENT))));

    // And as a mail reader sees it.
    let parsed = parse(&out);
    assert_eq!(
        hash_parts(&parsed),
        vec![
            ("fattura.pdf.hash".to_owned(), format!("{pdf_hash}\r\n")),
            (
                format!("{UTF8_FILE}.hash"),
                format!("{}\r\n", sha1_hex(UTF8_CONTENT))
            ),
        ]
    );
    assert!(contains(&out, TEXT_PART.as_bytes()), "text body changed");
}

#[test]
fn hash_matches_sha1sum_of_the_file_on_disk() {
    let (input, _) = mixed_message();
    let out = breve(&input, HashAlg::Sha1).unwrap();
    let path = std::env::temp_dir().join(format!("pec-breve-{}.pdf", std::process::id()));
    std::fs::write(&path, pdfish()).unwrap();
    let run = Command::new("sha1sum").arg(&path).output();
    std::fs::remove_file(&path).unwrap();
    let run = run.expect("the sha1sum command must be installed for this cross-check");
    assert!(run.status.success(), "sha1sum failed: {run:?}");
    let stdout = String::from_utf8(run.stdout).unwrap();
    let expected = stdout.split_whitespace().next().unwrap();
    assert_eq!(expected.len(), 40);
    let parsed = parse(&out);
    let parts = hash_parts(&parsed);
    assert_eq!(parts[0].1.trim_end(), expected);
}

// ---------------------------------------------------------------------------------------------
// 2. Attached messages

const INNER_MESSAGE: &str = "From: anna@example.org\r\n\
    To: mario.rossi@pec.example.it\r\n\
    Subject: originale\r\n\
    MIME-Version: 1.0\r\n\
    Content-Type: multipart/mixed; boundary=\"inner\"\r\n\
    \r\n\
    --inner\r\n\
    Content-Type: text/plain\r\n\
    \r\n\
    testo\r\n\
    --inner\r\n\
    Content-Type: application/octet-stream; name=\"dentro.bin\"\r\n\
    Content-Transfer-Encoding: base64\r\n\
    \r\n\
    AAECAwQF\r\n\
    --inner--\r\n";

#[test]
fn attached_messages_are_replaced_whole() {
    let input = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n\
         --b2\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n\
         Inoltro due messaggi.\r\n\
         --b2\r\n\
         Content-Type: message/rfc822\r\n\
         Content-Disposition: inline\r\n\r\n\
         {INNER_MESSAGE}\r\n\
         --b2\r\n\
         Content-Type: message/rfc822; name=\"inoltrato.eml\"\r\n\
         Content-Transfer-Encoding: 7bit\r\n\r\n\
         {INNER_MESSAGE}\r\n\
         --b2--\r\n"
    );
    let out = breve(input.as_bytes(), HashAlg::Sha1).unwrap();
    let digest = sha1_hex(INNER_MESSAGE.as_bytes());
    let parsed = parse(&out);
    assert_eq!(
        hash_parts(&parsed),
        vec![
            ("messaggio.eml.hash".to_owned(), format!("{digest}\r\n")),
            ("inoltrato.eml.hash".to_owned(), format!("{digest}\r\n")),
        ]
    );
    assert!(
        !contains(&out, b"dentro.bin"),
        "the attached message was walked into"
    );
    assert!(!contains(&out, b"message/rfc822"));
    let expected = input
        .replace(
            &format!(
                "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n{INNER_MESSAGE}"
            ),
            &hash_part("messaggio.eml", &digest),
        )
        .replace(
            &format!(
                "Content-Type: message/rfc822; name=\"inoltrato.eml\"\r\n\
                 Content-Transfer-Encoding: 7bit\r\n\r\n{INNER_MESSAGE}"
            ),
            &hash_part("inoltrato.eml", &digest),
        );
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn multipart_digest_parts_default_to_attached_messages() {
    let input = format!(
        "{HEAD}Content-Type: multipart/digest; boundary=\"d\"\r\n\r\n\
         --d\r\n\r\n{INNER_MESSAGE}\r\n--d--\r\n"
    );
    let out = breve(input.as_bytes(), HashAlg::Sha1).unwrap();
    let expected = input.replace(
        &format!("\r\n{INNER_MESSAGE}"),
        &hash_part("messaggio.eml", &sha1_hex(INNER_MESSAGE.as_bytes())),
    );
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

// ---------------------------------------------------------------------------------------------
// 3. User-signed original

fn signature_part(ctype: &str) -> String {
    format!(
        "Content-Type: {ctype}; name=\"smime.p7s\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\
         Content-Description: S/MIME Cryptographic Signature\r\n\
         \r\n\
         {}\r\n",
        base64(&[
            0x30, 0x82, 0x05, 0x11, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d
        ])
    )
}

#[test]
fn signed_original_keeps_its_signature_part() {
    let document = b"PK\x03\x04 an OpenDocument file".repeat(20);
    for ctype in [
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
    ] {
        let signature = signature_part(ctype);
        let input = format!(
            "{HEAD}Content-Type: multipart/signed; protocol=\"{ctype}\"; micalg=sha-256;\r\n\
             \tboundary=\"sig\"\r\n\r\n\
             This is an S/MIME signed message\r\n\
             --sig\r\n\
             Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n\
             --mix\r\n\
             Content-Type: text/plain; charset=us-ascii\r\n\r\n\
             Firmato.\r\n\
             --mix\r\n\
             Content-Type: application/vnd.oasis.opendocument.text; name=\"atto.odt\"\r\n\
             Content-Disposition: attachment; filename=\"atto.odt\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n\
             {}\r\n\
             --mix--\r\n\
             \r\n\
             --sig\r\n\
             {signature}\r\n\
             --sig--\r\n",
            base64(&document)
        );
        let out = breve(input.as_bytes(), HashAlg::Sha1).unwrap();
        let tail = format!("--sig\r\n{signature}\r\n--sig--\r\n");
        assert!(
            out.ends_with(tail.as_bytes()),
            "signature part changed ({ctype})"
        );
        let parsed = parse(&out);
        assert_eq!(
            hash_parts(&parsed),
            vec![(
                "atto.odt.hash".to_owned(),
                format!("{}\r\n", sha1_hex(&document))
            )]
        );
        assert!(!contains(&out, b"smime.p7s.hash"));
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Opaque CMS, 5. nothing to replace

#[test]
fn opaque_cms_original_is_unchanged() {
    for ctype in ["application/pkcs7-mime", "application/x-pkcs7-mime"] {
        let input = format!(
            "{HEAD}Content-Type: {ctype}; smime-type=enveloped-data; name=\"smime.p7m\"\r\n\
             Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n\
             {}\r\n",
            base64(b"0\x80\x06\x09*\x86H\x86\xf7\r\x01\x07\x03 opaque")
        );
        assert_eq!(
            breve(input.as_bytes(), HashAlg::Sha1).unwrap(),
            input.as_bytes()
        );
    }
}

#[test]
fn message_without_attachments_is_unchanged() {
    let plain = format!(
        "{HEAD}Content-Type: text/plain; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n\
         Buongiorno, nessun allegato. Citt=E0.\r\n"
    );
    let alternative = format!(
        "{HEAD}Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
         preamble\r\n\
         --alt\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         testo\r\n\
         --alt\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         Content-Disposition: inline\r\n\r\n\
         <p>testo</p>\r\n\
         --alt--\r\n\
         epilogue"
    );
    let headers_only = "Subject: solo intestazioni\r\nFrom: a@example.org".to_owned();
    for input in [plain, alternative, headers_only] {
        assert_eq!(
            breve(input.as_bytes(), HashAlg::Sha1).unwrap(),
            input.as_bytes()
        );
        assert_eq!(
            breve(&to_lf(input.as_bytes()), HashAlg::Sha1).unwrap(),
            to_lf(input.as_bytes())
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 6. SHA-256, 7. LF line ends

#[test]
fn sha256_gives_64_hex_digits() {
    assert_eq!(HashAlg::default(), HashAlg::Sha1);
    assert_eq!(HashAlg::Sha1.name(), "sha1");
    assert_eq!(HashAlg::Sha256.name(), "sha256");
    assert_eq!(
        HashAlg::Sha1.hex(b"abc"),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );

    let (input, _) = mixed_message();
    let out = breve(&input, HashAlg::Sha256).unwrap();
    let parsed = parse(&out);
    let parts = hash_parts(&parsed);
    assert_eq!(parts.len(), 2);
    let digest = parts[0].1.trim_end();
    assert_eq!(digest.len(), 64);
    assert!(
        digest
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(digest, hex(&Sha256::digest(pdfish())));
}

#[test]
fn lf_only_input_gives_the_lf_form_of_the_same_output() {
    let (input, _) = mixed_message();
    let crlf = breve(&input, HashAlg::Sha1).unwrap();
    let lf = breve(&to_lf(&input), HashAlg::Sha1).unwrap();
    assert!(!lf.contains(&b'\r'), "LF input got CR in the output");
    assert_eq!(lf, to_lf(&crlf));
}

// ---------------------------------------------------------------------------------------------
// Single-part originals and file names

#[test]
fn single_part_original_keeps_its_message_header() {
    let data = b"\x00\x01binary\xff".repeat(10);
    let input = format!(
        "{HEAD}Content-Type: application/octet-stream;\r\n\tname=\"dati.bin\"\r\n\
         X-Mailer: test\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         {}\r\n",
        base64(&data)
    );
    let out = breve(input.as_bytes(), HashAlg::Sha1).unwrap();
    let expected = format!(
        "{HEAD}X-Mailer: test\r\n{}",
        hash_part("dati.bin", &sha1_hex(&data))
    );
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn awkward_file_names_survive() {
    let long = format!("{}.pdf", "verbale-di-assemblea-".repeat(8));
    let cases = [
        // RFC 2047 inside quotes, as Aruba's webmail writes it.
        (
            "name=\"=?utf-8?Q?Notoriet=C3=A0.zip?=\"".to_owned(),
            "Notorietà.zip".to_owned(),
        ),
        (
            "name=\"a \\\"quoted\\\" name.txt\"".to_owned(),
            "a \"quoted\" name.txt".to_owned(),
        ),
        (format!("name=\"{long}\""), long.clone()),
        (
            format!("name*=utf-8''{}", "%C3%A8".repeat(40)),
            "è".repeat(40),
        ),
    ];
    for (param, name) in cases {
        let input = format!(
            "{HEAD}Content-Type: multipart/mixed; boundary=b\r\n\r\n\
             --b\r\n\
             Content-Type: application/octet-stream; {param}\r\n\r\n\
             raw bytes\r\n\
             --b--\r\n"
        );
        let out = breve(input.as_bytes(), HashAlg::Sha1).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        let part = &text[text.find("--b\r\n").unwrap()..];
        assert!(
            part.lines().all(|l| l.len() <= 78),
            "long header line in\n{part}"
        );
        let parsed = parse(&out);
        assert_eq!(
            hash_parts(&parsed),
            vec![(
                format!("{name}.hash"),
                format!("{}\r\n", sha1_hex(b"raw bytes"))
            )],
            "{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Real files

/// The raw bytes of the `postacert.eml` body in a busta, checked against its boundary.
fn postacert(busta: &[u8]) -> &[u8] {
    let parsed = MessageParser::default().parse(busta).expect("busta parses");
    let part = parsed
        .parts
        .iter()
        .find(|p| {
            p.is_content_type("message", "rfc822") && p.attachment_name() == Some("postacert.eml")
        })
        .expect("the busta has a postacert.eml part");
    let range = part.raw_body_offset() as usize..part.raw_end_offset() as usize;
    assert!(
        busta[range.end..].starts_with(b"\r\n--"),
        "postacert.eml does not end at a boundary line"
    );
    &busta[range]
}

#[test]
fn real_busta_postacert_zip_becomes_a_hash() {
    let busta = fixture("aruba_2019-01-23_posta-certificata.eml");
    let original = postacert(&busta);
    let zip_name = "Allegato I Atto di Notorietà con firma digitale.zip";

    let parsed_original = parse(original);
    let zip = parsed_original
        .attachments()
        .find(|p| p.attachment_name() == Some(zip_name))
        .expect("the original carries the zip");
    // This zip opens with the "PK00" spanning marker before its first local header.
    assert!(zip.contents().starts_with(b"PK00PK\x03\x04"));
    let zip_hash = sha1_hex(zip.contents());

    let out = breve(original, HashAlg::Sha1).unwrap();
    assert!(out.len() < original.len() / 100, "the zip was not dropped");
    let parsed = parse(&out);
    assert_eq!(
        hash_parts(&parsed),
        vec![(format!("{zip_name}.hash"), format!("{zip_hash}\r\n"))]
    );
    assert_eq!(parsed.subject(), parsed_original.subject());
    assert_eq!(parsed.body_text(0), parsed_original.body_text(0));
    let zip_start = zip.raw_header_offset() as usize;
    assert_eq!(&out[..zip_start], &original[..zip_start]);
    let zip_end = zip.raw_end_offset() as usize;
    assert!(out.ends_with(&original[zip_end..]));
}

#[test]
fn every_real_busta_goes_through() {
    let mut seen = 0;
    for entry in std::fs::read_dir(FIXTURES)
        .unwrap_or_else(|e| panic!("real PEC fixtures missing at {FIXTURES}: {e}"))
    {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        seen += 1;
        let input = std::fs::read(&path).unwrap();
        let out =
            breve(&input, HashAlg::Sha1).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let parsed = parse(&out);
        assert!(
            !hash_parts(&parsed).is_empty(),
            "{}: nothing replaced",
            path.display()
        );
        assert!(!contains(&out, b"smime.p7s.hash"), "{}", path.display());
    }
    assert!(seen >= 10, "expected the real PEC fixtures in {FIXTURES}");
}

// ---------------------------------------------------------------------------------------------
// 10. Limits

fn nested(levels: usize) -> Vec<u8> {
    let mut out =
        "Subject: bomb\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n".to_owned();
    for i in 1..=levels {
        out.push_str(&format!(
            "--b{}\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n",
            i - 1
        ));
    }
    out.push_str(&format!(
        "--b{levels}\r\nContent-Type: text/plain; name=\"deep.txt\"\r\n\r\nfondo\r\n"
    ));
    for i in (0..=levels).rev() {
        out.push_str(&format!("--b{i}--\r\n"));
    }
    out.into_bytes()
}

#[test]
fn depth_bomb_is_an_error() {
    let err = breve(&nested(1000), HashAlg::Sha1).unwrap_err();
    assert!(
        matches!(
            err,
            BreveError::TooDeep {
                limit: MAX_DEPTH,
                ..
            }
        ),
        "{err}"
    );
    // The limit itself is fine: the leaf at the bottom is replaced.
    let out = breve(&nested(MAX_DEPTH - 1), HashAlg::Sha1).unwrap();
    assert!(contains(&out, b"deep.txt.hash"));
    assert!(breve(&nested(MAX_DEPTH), HashAlg::Sha1).is_err());
}

#[test]
fn non_messages_are_errors() {
    assert!(matches!(breve(b"", HashAlg::Sha1), Err(BreveError::Empty)));
    for junk in [
        &b"\r\n\r\nbody only"[..],
        b"no colon here\r\n",
        b": empty name\r\n",
        b"\xff\xfe:",
    ] {
        let err = breve(junk, HashAlg::Sha1).unwrap_err();
        assert!(matches!(err, BreveError::NotAMessage { .. }), "{err}");
    }
}

// ---------------------------------------------------------------------------------------------
// 9. Random trees

#[derive(Debug, Clone)]
enum Node {
    /// A binary leaf; `name` picks how (or whether) it is named.
    File {
        name: Option<u8>,
        content: Vec<u8>,
        qp: bool,
    },
    /// An unnamed text body.
    Text(String),
    /// An attached message, named or not.
    Attached { named: bool, text: String },
    Multi {
        subtype: &'static str,
        children: Vec<Node>,
    },
    /// `multipart/signed` around one node, with an `smime.p7s` part.
    Signed {
        signed: Box<Node>,
        signature: Vec<u8>,
    },
}

/// Renders a tree, recording what breve must produce.
#[derive(Default)]
struct Render {
    counter: usize,
    /// `(file name + ".hash", digest)` of every part breve must replace.
    expected: Vec<(String, String)>,
    /// The same for the LF-only form of the message (attached messages hash differently).
    expected_lf: Vec<(String, String)>,
    /// Signature parts, which must come out unchanged.
    kept: Vec<Vec<u8>>,
}

impl Render {
    fn next(&mut self) -> usize {
        self.counter += 1;
        self.counter
    }

    fn node(&mut self, node: &Node, boundary_seed: &str, out: &mut String) {
        match node {
            Node::File { name, content, qp } => {
                let n = self.next();
                let (headers, file) = match name {
                    None => (
                        "Content-Type: application/octet-stream\r\n".to_owned(),
                        None,
                    ),
                    Some(0) => (
                        format!("Content-Type: application/octet-stream; name=\"file{n}.bin\"\r\n"),
                        Some(format!("file{n}.bin")),
                    ),
                    Some(1) => (
                        format!(
                            "Content-Type: image/png\r\n\
                             Content-Disposition: attachment; filename=\"img {n}.png\"\r\n"
                        ),
                        Some(format!("img {n}.png")),
                    ),
                    Some(2) => (
                        format!(
                            "Content-Type: application/pdf\r\n\
                             Content-Disposition: inline;\r\n filename*=utf-8''citt%C3%A0{n}.pdf\r\n"
                        ),
                        Some(format!("città{n}.pdf")),
                    ),
                    Some(_) => (
                        format!(
                            "Content-Type: text/plain; charset=iso-8859-1;\r\n \
                             name*0=\"lungo\"; name*1=\"{n}.txt\"\r\n"
                        ),
                        Some(format!("lungo{n}.txt")),
                    ),
                };
                out.push_str(&headers);
                if *qp {
                    out.push_str("Content-Transfer-Encoding: quoted-printable\r\n\r\n");
                    out.push_str(&quoted_printable(content));
                } else {
                    out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
                    out.push_str(&base64(content));
                }
                if let Some(file) = file {
                    let expected = (format!("{file}.hash"), sha1_hex(content));
                    self.expected.push(expected.clone());
                    self.expected_lf.push(expected);
                }
            }
            Node::Text(text) => {
                out.push_str("Content-Type: text/plain; charset=us-ascii\r\n\r\n");
                out.push_str(text);
            }
            Node::Attached { named, text } => {
                let n = self.next();
                let inner = format!("Subject: allegato {n}\r\nFrom: x@example.org\r\n\r\n{text}");
                let name = if *named {
                    out.push_str(&format!(
                        "Content-Type: message/rfc822; name=\"m{n}.eml\"\r\n\r\n"
                    ));
                    format!("m{n}.eml")
                } else {
                    out.push_str("Content-Type: message/rfc822\r\n\r\n");
                    "messaggio.eml".to_owned()
                };
                out.push_str(&inner);
                let name = format!("{name}.hash");
                self.expected
                    .push((name.clone(), sha1_hex(inner.as_bytes())));
                self.expected_lf
                    .push((name, sha1_hex(&to_lf(inner.as_bytes()))));
            }
            Node::Multi { subtype, children } => {
                let boundary = format!("{boundary_seed}_{}_", self.next());
                out.push_str(&format!(
                    "Content-Type: multipart/{subtype};\r\n boundary=\"{boundary}\"\r\n\r\n\
                     This is a multi-part message in MIME format.\r\n"
                ));
                for child in children {
                    out.push_str(&format!("--{boundary}\r\n"));
                    self.node(child, boundary_seed, out);
                    out.push_str("\r\n");
                }
                out.push_str(&format!("--{boundary}--\r\nepilogue\r\n"));
            }
            Node::Signed { signed, signature } => {
                let boundary = format!("{boundary_seed}_{}_", self.next());
                out.push_str(&format!(
                    "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n \
                     micalg=sha-256; boundary=\"{boundary}\"\r\n\r\n\
                     This is an S/MIME signed message\r\n--{boundary}\r\n"
                ));
                self.node(signed, boundary_seed, out);
                let part = format!(
                    "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
                     Content-Transfer-Encoding: base64\r\n\
                     Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n{}",
                    base64(signature)
                );
                out.push_str(&format!("\r\n--{boundary}\r\n{part}\r\n--{boundary}--\r\n"));
                self.kept.push(part.into_bytes());
            }
        }
    }
}

fn render(root: &Node, boundary_seed: &str) -> (Vec<u8>, Render) {
    let mut render = Render::default();
    let mut out = "From: a@pec.example.it\r\nTo: b@pec.example.org\r\nSubject: prop\r\n\
                   MIME-Version: 1.0\r\n"
        .to_owned();
    render.node(root, boundary_seed, &mut out);
    (out.into_bytes(), render)
}

fn sorted(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut pairs = pairs.to_vec();
    pairs.sort();
    pairs
}

/// The `.hash` parts of a breve output as `(name, digest)`, sorted.
fn sorted_hash_parts(out: &[u8]) -> Vec<(String, String)> {
    let found: Vec<(String, String)> = hash_parts(&parse(out))
        .into_iter()
        .map(|(name, body)| (name, body.trim_end().to_owned()))
        .collect();
    sorted(&found)
}

fn node_strategy() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        (
            proptest::option::of(0u8..4),
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<bool>()
        )
            .prop_map(|(name, content, qp)| Node::File { name, content, qp }),
        "[a-zA-Z0-9 .,]{0,120}".prop_map(Node::Text),
        (any::<bool>(), "[a-zA-Z0-9 .,]{0,120}")
            .prop_map(|(named, text)| Node::Attached { named, text }),
    ];
    leaf.prop_recursive(4, 40, 4, |inner| {
        prop_oneof![
            (
                prop_oneof![Just("mixed"), Just("alternative"), Just("related")],
                // RFC 2046 requires one part at least (mail-parser misreads an empty multipart).
                proptest::collection::vec(inner.clone(), 1..4)
            )
                .prop_map(|(subtype, children)| Node::Multi { subtype, children }),
            (inner, proptest::collection::vec(any::<u8>(), 1..100)).prop_map(
                |(signed, signature)| Node::Signed {
                    signed: Box::new(signed),
                    signature
                }
            ),
        ]
    })
}

/// Boundary characters (RFC 2046 `bchars` without `_`, which separates the unique counter,
/// and without `?`, which could start an RFC 2047 word).
const BOUNDARY_SEED: &str = "[a-zA-Z0-9'()+,./:=-]{0,20}";

proptest! {
    // 256 cases unless PROPTEST_CASES says otherwise; failures are reported, not stored.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_trees(root in node_strategy(), seed in BOUNDARY_SEED) {
        let (input, render) = render(&root, &seed);
        let out = breve(&input, HashAlg::Sha1);
        prop_assert!(out.is_ok(), "{:?}", out);
        let out = out.unwrap_or_default();
        prop_assert_eq!(sorted_hash_parts(&out), sorted(&render.expected));
        for kept in &render.kept {
            prop_assert!(contains(&out, kept), "a signature part changed");
        }

        // The same tree with LF line ends.
        let lf = breve(&to_lf(&input), HashAlg::Sha1);
        prop_assert!(lf.is_ok(), "{:?}", lf);
        let lf = lf.unwrap_or_default();
        prop_assert_eq!(sorted_hash_parts(&lf), sorted(&render.expected_lf));
        if render.expected == render.expected_lf {
            prop_assert_eq!(lf, to_lf(&out));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = breve(&bytes, HashAlg::Sha1);
        let mut with_header = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n".to_vec();
        with_header.extend_from_slice(&bytes);
        let _ = breve(&with_header, HashAlg::Sha256);
    }

    #[test]
    fn truncated_and_damaged_messages_never_panic(
        root in node_strategy(),
        seed in BOUNDARY_SEED,
        cut in any::<proptest::sample::Index>(),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let (input, _) = render(&root, &seed);
        let truncated = &input[..cut.index(input.len() + 1)];
        if let Ok(out) = breve(truncated, HashAlg::Sha1) {
            prop_assert!(MessageParser::default().parse(&out).is_some());
        }
        let mut damaged = input.clone();
        for (at, byte) in flips {
            let i = at.index(damaged.len());
            damaged[i] = byte;
        }
        let _ = breve(&damaged, HashAlg::Sha1);
    }
}
