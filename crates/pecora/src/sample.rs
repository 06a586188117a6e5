//! `pecora sample`: one signed example of every PEC message kind, built by the same code the
//! provider runs, for integrators to test their parsers against (our public conformance set).
//!
//! The scene: Mario Rossi writes from a PEC box to a certified office (To), an ordinary
//! address (To) and a certified protocol box (Cc), with a PDF attached and a UTF-8 subject.
//! One gestore serves both PEC domains, so every message is signed by the same certificate.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use jiff::Zoned;
use jiff::tz::TimeZone;
use pec::build::{self, Draft};
use pec::checks::{self, Envelope, Limiti};
use pec::identificativo::{Identificativi, rewrite_original};
use pec::{
    Destinatario, Gestore, HashAlg, MancataConsegna, Scadenza, TipoDestinatario, TipoRicevuta,
    Transazione,
};
use smime::Signer;

const GESTORE: &str = "Pecora Esempio S.p.A.";
const DOMINIO: &str = "pec.pecora.example";
const SERVICE_MAILBOX: &str = "ricevute@pec.pecora.example";
const SENDER: &str = "mario.rossi@pec.pecora.example";
const UFFICIO: &str = "ufficio.protocollo@pec.comune.example";
const ORDINARIO: &str = "anna.bianchi@posta.example.com";
const PROTOCOLLO: &str = "protocollo@pec.comune.example";
/// The PEC domains of the sample's provider index.
const PEC_DOMAINS: [&str; 2] = [DOMINIO, "pec.comune.example"];

fn originale() -> Vec<u8> {
    let pdf = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcgo8PC9Sb290IDEgMCBSPj4KJSVFT0YK";
    format!(
        "From: Mario Rossi <{SENDER}>\r\n\
To: Ufficio Protocollo <{UFFICIO}>, {ORDINARIO}\r\n\
Cc: {PROTOCOLLO}\r\n\
Subject: =?UTF-8?Q?Richiesta_di_accesso_agli_atti_n=C2=B0_42_=E2=80=94_urgente?=\r\n\
Date: Mon, 23 Nov 2026 10:15:00 +0100\r\n\
Message-ID: <20261123101500.42@client.pecora.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"=_esempio_1\"\r\n\
\r\n\
--=_esempio_1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Buongiorno,\r\n\
in allegato la richiesta di accesso agli atti firmata.\r\n\
Cordiali saluti, Mario Rossi\r\n\
--=_esempio_1\r\n\
Content-Type: application/pdf; name=\"richiesta.pdf\"\r\n\
Content-Disposition: attachment; filename=\"richiesta.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
{pdf}\r\n\
--=_esempio_1--\r\n"
    )
    .into_bytes()
}

pub fn run(out: &Path, pki: Option<((PathBuf, PathBuf), PathBuf)>) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (cert, key, ca) = match pki {
        Some(((cert, key), ca)) => (read(&cert)?, read(&key)?, read(&ca)?),
        None => {
            let pki = smime::testca::generate(GESTORE, &format!("posta-certificata@{DOMINIO}"))
                .context("creating the test CA and provider certificate")?;
            write(out, "provider-cert.pem", &pki.cert_pem)?;
            write(out, "provider-key.pem", &pki.key_pem)?;
            (pki.cert_pem, pki.key_pem, pki.ca_cert_pem)
        }
    };
    write(out, "ca.pem", &ca)?;
    let signer = Signer::from_pem(&cert, &key, &ca).context("loading the signing certificate")?;
    let Some(email) = signer.email() else {
        bail!("the signing certificate has no rfc822Name e-mail address");
    };
    let Some((_, dominio)) = email.split_once('@') else {
        bail!("the certificate's e-mail {email:?} has no domain");
    };
    let gestore = Gestore {
        nome: GESTORE.into(),
        dominio: dominio.into(),
    };
    let now = Zoned::now().with_time_zone(TimeZone::get("Europe/Rome")?);
    let now = now.round(jiff::Unit::Second)?;
    for (n, draft) in drafts(&gestore, &now)?.iter().enumerate() {
        let sealed = signer
            .seal(draft.headers(), draft.entity())
            .with_context(|| format!("signing {}", draft.kind().slug()))?;
        let name = format!("{:02}-{}.eml", n + 1, draft.kind().slug());
        write(out, &name, &sealed)?;
        println!("{}", out.join(name).display());
    }
    println!("{}", out.join("ca.pem").display());
    Ok(ExitCode::SUCCESS)
}

/// The whole life of the sample message, one draft per kind (the order of `Kind::ALL`).
fn drafts(g: &Gestore, at: &Zoned) -> anyhow::Result<Vec<Draft>> {
    let raw = originale();
    let env = Envelope {
        mail_from: SENDER.into(),
        rcpt_to: vec![UFFICIO.into(), ORDINARIO.into(), PROTOCOLLO.into()],
    };
    let accettabile = checks::verifica(&raw, &env, &Limiti::default())
        .map_err(|e| anyhow::anyhow!("sample message fails the formal checks: {e:?}"))?;
    let node = u64::from_be_bytes(rand_bytes()?);
    let identificativo = Identificativi::new(&g.dominio, node).next(at);
    let (postacert, msgid) = rewrite_original(&raw, &identificativo);
    let t = Transazione {
        identificativo,
        msgid,
        destinatari: accettabile
            .destinatari
            .iter()
            .map(|r| Destinatario {
                indirizzo: r.indirizzo.clone(),
                tipo: classify_domain(&r.indirizzo),
            })
            .collect(),
        mittente: accettabile.mittente,
        risposte: accettabile.risposte,
        oggetto: accettabile.oggetto,
        ricevuta: accettabile.ricevuta,
    };
    let certified: Vec<String> = t
        .destinatari
        .iter()
        .filter(|d| d.tipo == TipoDestinatario::Certificato)
        .map(|d| d.indirizzo.clone())
        .collect();
    let virus = "Eicar-Test-Signature";
    let anomalia_of = pec::classify::transazione_da_messaggio(&raw);
    let consegna =
        |tipo| build::avvenuta_consegna(&t, g, at, UFFICIO, tipo, &postacert, HashAlg::Sha1);
    let mancata = |causa| build::mancata_consegna(&t, g, at, UFFICIO, &causa);
    Ok(vec![
        build::accettazione(&t, g, at),
        build::non_accettazione(&t, g, at, &checks::Rifiuto::BccPresente.to_string()),
        build::non_accettazione_virus(&t, g, at, virus),
        build::busta_di_trasporto(&t, g, at, &postacert),
        build::presa_in_carico(&t, g, at, SERVICE_MAILBOX, &certified),
        build::busta_di_anomalia(
            &anomalia_of,
            g,
            at,
            &raw,
            "il messaggio non è firmato da un gestore di posta certificata",
        ),
        build::rilevazione_virus(&t, g, at, SERVICE_MAILBOX, UFFICIO, virus),
        mancata(MancataConsegna::Virus(virus.into())),
        consegna(TipoRicevuta::Completa)?,
        consegna(TipoRicevuta::Breve)?,
        build::avvenuta_consegna(
            &t,
            g,
            at,
            PROTOCOLLO,
            TipoRicevuta::Sintetica,
            &postacert,
            HashAlg::Sha1,
        )?,
        mancata(MancataConsegna::CasellaInesistente),
        mancata(MancataConsegna::TempoMassimo(Scadenza::Ore12)),
        mancata(MancataConsegna::TempoMassimo(Scadenza::Ore24)),
    ])
}

fn classify_domain(address: &str) -> TipoDestinatario {
    let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    if PEC_DOMAINS.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
        TipoDestinatario::Certificato
    } else {
        TipoDestinatario::Esterno
    }
}

fn rand_bytes() -> anyhow::Result<[u8; 8]> {
    let mut b = [0u8; 8];
    openssl::rand::rand_bytes(&mut b)?;
    Ok(b)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
}
