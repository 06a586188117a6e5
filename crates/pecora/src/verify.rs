//! `pecora verify`: what a PEC message is and whether its gestore's signature holds.
//!
//! For each file: the kind (from `X-Ricevuta`/`X-Trasporto` and daticert), the PEC headers,
//! every `daticert.xml` field, the receipt variant, the signature verdict, and where the outer
//! header fields disagree with the signed content. A damaged or tampered file is reported as
//! far as it can be read, with every reason it fails. The JSON form (one object per line) is
//! documented in the README.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use mail_parser::MimeHeaders;
use pec::{Classified, Daticert, Kind};
use serde::Serialize;
use smime::{TrustStore, Verdict};

#[derive(Serialize)]
struct Report {
    file: String,
    /// `true` when the file was read, its signature is valid and (with --ca) trusted.
    ok: bool,
    /// Kind slug (`accettazione`, `posta-certificata`, `avvenuta-consegna-breve`...), or
    /// null for a message that is not PEC.
    kind: Option<&'static str>,
    /// The Italian name of the kind.
    kind_name: Option<&'static str>,
    /// completa / breve / sintetica: the receipt type of a busta or a consegna.
    variant: Option<&'static str>,
    /// Why the file is not a valid PEC object: every reason, joined with "; ".
    error: Option<String>,
    headers: Option<pec::PecHeaders>,
    daticert: Option<DaticertJson>,
    /// Size in bytes of the carried original (postacert.eml, or the anomalia's message).
    original_size: Option<usize>,
    /// For an anomalia wrapping a PEC message: that message's kind and daticert.
    inner: Option<Box<Inner>>,
    /// null when the file could not be read.
    signature: Option<Verdict>,
    /// When the top level is not signed but an intermediary (a mailing list, say) wrapped a
    /// signed entity inside: that entity's verdict. Informative: `ok` stays false.
    nested_signature: Option<Verdict>,
    /// Outer header fields that disagree with the signed content (a rewritten busta).
    disagreements: Vec<String>,
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct Inner {
    kind: Option<&'static str>,
    daticert: Option<DaticertJson>,
}

#[derive(Serialize)]
struct DaticertJson {
    tipo: &'static str,
    errore: &'static str,
    mittente: String,
    destinatari: Vec<DestinatarioJson>,
    risposte: String,
    oggetto: Option<String>,
    gestore_emittente: String,
    giorno: String,
    ora: String,
    zona: String,
    identificativo: String,
    msgid: Option<String>,
    ricevuta: Option<&'static str>,
    consegna: Option<String>,
    ricezione: Vec<String>,
    errore_esteso: Option<String>,
}

#[derive(Serialize)]
struct DestinatarioJson {
    indirizzo: String,
    tipo: &'static str,
}

impl From<&Daticert> for DaticertJson {
    fn from(d: &Daticert) -> DaticertJson {
        DaticertJson {
            tipo: d.tipo.as_str(),
            errore: d.errore.as_str(),
            mittente: d.mittente.clone(),
            destinatari: d
                .destinatari
                .iter()
                .map(|x| DestinatarioJson {
                    indirizzo: x.indirizzo.clone(),
                    tipo: x.tipo.as_str(),
                })
                .collect(),
            risposte: d.risposte.clone(),
            oggetto: d.oggetto.clone(),
            gestore_emittente: d.gestore_emittente.clone(),
            giorno: d.data.strftime("%d/%m/%Y").to_string(),
            ora: d.data.strftime("%H:%M:%S").to_string(),
            zona: d.data.strftime("%z").to_string(),
            identificativo: d.identificativo.clone(),
            msgid: d.msgid.clone(),
            ricevuta: d.ricevuta.map(|r| r.as_str()),
            consegna: d.consegna.clone(),
            ricezione: d.ricezione.clone(),
            errore_esteso: d.errore_esteso.clone(),
        }
    }
}

pub fn run(files: &[PathBuf], cas: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let mut trust = TrustStore::new();
    for ca in cas {
        let pem = std::fs::read(ca).with_context(|| format!("reading CA file {}", ca.display()))?;
        trust
            .add_pem(&pem)
            .with_context(|| format!("loading CA certificates from {}", ca.display()))?;
    }
    let mut all_ok = true;
    let mut out = String::new();
    for file in files {
        let report = check(file, &trust);
        all_ok &= report.ok;
        if json {
            out.push_str(&serde_json::to_string(&report)?);
            out.push('\n');
        } else {
            print_human(&mut out, &report);
        }
    }
    // A reader that went away (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check(file: &Path, trust: &TrustStore) -> Report {
    let mut report = Report {
        file: file.display().to_string(),
        ok: false,
        kind: None,
        kind_name: None,
        variant: None,
        error: None,
        headers: None,
        daticert: None,
        original_size: None,
        inner: None,
        signature: None,
        nested_signature: None,
        disagreements: Vec::new(),
        warnings: Vec::new(),
    };
    let raw = match std::fs::read(file) {
        Ok(raw) => raw,
        Err(e) => {
            report.error = Some(format!("cannot read file: {e}"));
            return report;
        }
    };
    let sig = smime::verify(&raw, trust);
    let lettura = pec::classify::classify_all(&raw);
    let mut problems: Vec<String> = lettura.errori.iter().map(ToString::to_string).collect();
    if let Some(c) = lettura.letto {
        if c.kind.is_none() && problems.is_empty() {
            problems.push("not a PEC message (no X-Ricevuta, X-Trasporto or daticert.xml)".into());
        }
        fill(&mut report, c);
    }
    if !report.disagreements.is_empty() {
        problems.push(format!(
            "outer header fields disagree with the signed content: {}",
            report.disagreements.join("; ")
        ));
    }
    let why = |what: &str| match &sig.error {
        Some(e) => format!("{what}: {e}"),
        None => what.to_string(),
    };
    let signature_problem = if !sig.signed {
        Some("not signed".to_string())
    } else if !sig.signature_valid {
        Some(why("signature invalid"))
    } else if !trust.is_empty() && sig.chain_trusted != Some(true) {
        Some(why("signer not trusted"))
    } else {
        None
    };
    report.ok = problems.is_empty() && signature_problem.is_none();
    problems.extend(signature_problem);
    report.error = (!problems.is_empty()).then(|| problems.join("; "));
    if !sig.signed {
        report.nested_signature = nested_signed_entity(&raw).map(|e| smime::verify(e, trust));
    }
    report.signature = Some(sig);
    report
}

/// The bytes (headers and body) of the first `multipart/signed` part below the top level.
fn nested_signed_entity(raw: &[u8]) -> Option<&[u8]> {
    let msg = mail_parser::MessageParser::default().parse(raw)?;
    msg.parts.iter().skip(1).find_map(|part| {
        let ct = part.content_type()?;
        let signed = ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("signed"));
        let range = part.offset_header as usize..part.offset_end as usize;
        signed.then(|| raw.get(range)).flatten()
    })
}

fn fill(report: &mut Report, c: Classified) {
    report.kind = c.kind.map(|k| k.slug());
    report.kind_name = c.kind.map(|k| k.titolo());
    report.variant = match c.kind {
        Some(Kind::AvvenutaConsegna(v)) => Some(v.as_str()),
        Some(Kind::PostaCertificata) => Some(
            c.daticert
                .as_ref()
                .and_then(|d| d.ricevuta)
                .unwrap_or_default()
                .as_str(),
        ),
        _ => None,
    };
    report.daticert = c.daticert.as_ref().map(DaticertJson::from);
    report.original_size = c.originale.as_ref().map(Vec::len);
    report.inner = c.inner.map(|i| {
        Box::new(Inner {
            kind: i.kind.map(|k| k.slug()),
            daticert: i.daticert.as_ref().map(DaticertJson::from),
        })
    });
    report.headers = Some(c.headers);
    report.warnings = c.warnings;
    report.disagreements = c.discordanze;
}

fn print_human(o: &mut String, r: &Report) {
    let _ = writeln!(o, "{}", r.file);
    let _ = writeln!(o, "  result:     {}", if r.ok { "OK" } else { "FAIL" });
    match (r.kind, r.kind_name) {
        (Some(slug), Some(name)) => {
            let _ = writeln!(o, "  kind:       {name} ({slug})");
        }
        _ => {
            let _ = writeln!(o, "  kind:       -");
        }
    }
    if let Some(v) = r.variant {
        let _ = writeln!(o, "  variant:    {v}");
    }
    if let Some(e) = &r.error {
        let _ = writeln!(o, "  error:      {e}");
    }
    if let Some(h) = &r.headers {
        let fields = [
            ("From", &h.from),
            ("To", &h.to),
            ("Cc", &h.cc),
            ("Subject", &h.subject),
            ("Date", &h.date),
            ("Message-ID", &h.message_id),
            ("X-Ricevuta", &h.x_ricevuta),
            ("X-Trasporto", &h.x_trasporto),
            ("X-Riferimento-Message-ID", &h.x_riferimento_message_id),
            ("X-TipoRicevuta", &h.x_tipo_ricevuta),
            ("X-VerificaSicurezza", &h.x_verifica_sicurezza),
            ("X-Mittente", &h.x_mittente),
        ];
        let _ = writeln!(o, "  headers:");
        for (name, value) in fields {
            if let Some(v) = value {
                let _ = writeln!(o, "    {name}: {v}");
            }
        }
    }
    if let Some(d) = &r.daticert {
        print_daticert(o, d, "  ");
    }
    if let Some(size) = r.original_size {
        let _ = writeln!(o, "  original:   {size} bytes attached");
    }
    if let Some(i) = &r.inner {
        let _ = writeln!(o, "  wraps:      {}", i.kind.unwrap_or("-"));
        if let Some(d) = &i.daticert {
            print_daticert(o, d, "    ");
        }
    }
    if let Some(s) = &r.signature {
        print_signature(o, s);
    }
    if let Some(s) = &r.nested_signature {
        let _ = writeln!(o, "  nested signed entity (the top level was re-wrapped):");
        print_signature(o, s);
    }
    for d in &r.disagreements {
        let _ = writeln!(o, "  DISAGREES:  {d}");
    }
    for w in &r.warnings {
        let _ = writeln!(o, "  warning:    {w}");
    }
    let _ = writeln!(o);
}

fn print_daticert(o: &mut String, d: &DaticertJson, indent: &str) {
    let _ = writeln!(o, "{indent}daticert.xml:");
    let mut p = |k: &str, v: &str| {
        let _ = writeln!(o, "{indent}  {k:<18} {v}");
    };
    p("tipo", d.tipo);
    p("errore", d.errore);
    p("mittente", &d.mittente);
    for x in &d.destinatari {
        p("destinatari", &format!("{} ({})", x.indirizzo, x.tipo));
    }
    p("risposte", &d.risposte);
    if let Some(o) = &d.oggetto {
        p("oggetto", o);
    }
    p("gestore-emittente", &d.gestore_emittente);
    p("data", &format!("{} {} ({})", d.giorno, d.ora, d.zona));
    p("identificativo", &d.identificativo);
    let optional = [
        ("msgid", d.msgid.as_deref()),
        ("ricevuta", d.ricevuta),
        ("consegna", d.consegna.as_deref()),
        ("errore-esteso", d.errore_esteso.as_deref()),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            p(k, v);
        }
    }
    for x in &d.ricezione {
        p("ricezione", x);
    }
}

fn print_signature(o: &mut String, s: &Verdict) {
    if !s.signed {
        let _ = writeln!(o, "  signature:  absent");
    } else {
        let algs = format!(
            "micalg {}, {}",
            s.micalg.as_deref().unwrap_or("?"),
            s.protocol.as_deref().unwrap_or("?")
        );
        let state = if s.signature_valid {
            "valid"
        } else {
            "INVALID"
        };
        let canon = if s.canonicalized {
            ", after CRLF canonicalisation"
        } else {
            ""
        };
        let _ = writeln!(o, "  signature:  {state} ({algs}{canon})");
        if let Some(signer) = &s.signer {
            let _ = writeln!(o, "    signer:   {}", signer.subject);
            let _ = writeln!(o, "    issuer:   {}", signer.issuer);
            if !signer.emails.is_empty() {
                let _ = writeln!(o, "    e-mail:   {}", signer.emails.join(", "));
            }
            let _ = writeln!(o, "    sha1:     {}", signer.sha1_fingerprint);
            let _ = writeln!(
                o,
                "    valid:    {} .. {}",
                signer.not_before, signer.not_after
            );
        }
        let chain = match s.chain_trusted {
            None => "not checked (no --ca given)",
            Some(true) => "trusted",
            Some(false) => "NOT trusted",
        };
        let _ = writeln!(o, "    chain:    {chain}");
    }
    if let Some(e) = &s.error {
        let _ = writeln!(o, "    problem:  {e}");
    }
}
