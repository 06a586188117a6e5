//! A two-gestore PEC network in process, shared by the engine's integration tests: real
//! SQLite stores, a test CA, one index, a manual clock, and a loopback transport that hands
//! each relay job to the destination engine's reception point (optionally misbehaving).
#![allow(dead_code)] // each test binary uses part of it

use std::sync::Arc;

use async_trait::async_trait;
use engine::antivirus::{Antivirus, NoScan};
use engine::clock::{Clock, ManualClock};
use engine::reception::Received;
use engine::relay::{Outcome, Transport};
use engine::{Engine, Settings};
use index::{Index, SharedIndex};
use pec::checks::Envelope;
use store::sqlite::SqliteStore;
use store::{MailboxKind, MailboxState, NewMailbox, OrdinaryMail, Store};

/// One gestore of the test network: its engine, and the directory its store lives in.
pub struct Gestore {
    pub engine: Arc<Engine>,
    /// The test CA every gestore's certificate comes from (PEM), for `openssl cms -verify`.
    pub ca_pem: Vec<u8>,
    /// This gestore's signing certificate and key (PEM), for tests that forge with them.
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    _dir: tempfile::TempDir,
}

/// Routes each job to the engine that hosts its domain.
pub struct Loopback(pub Vec<Arc<Engine>>, pub Mode);

/// How the network between the two gestori behaves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Provider Due is unreachable.
    DueDown,
    /// Due takes charge, but its consegna receipts never arrive.
    ConsegnaLost,
}

#[async_trait]
impl Transport for Loopback {
    async fn send(
        &self,
        domain: &str,
        mail_from: &str,
        rcpt_to: &[String],
        message: &[u8],
    ) -> Result<Vec<(String, Outcome)>, String> {
        if self.1 == Mode::DueDown && domain == "pec.due.test" {
            return Err("connection refused".into());
        }
        let consegna = pec::classify(message)
            .is_ok_and(|c| matches!(c.kind, Some(pec::Kind::AvvenutaConsegna(_))));
        if self.1 == Mode::ConsegnaLost && consegna {
            let lost = Outcome::Delivered("lost on the way".into());
            return Ok(rcpt_to.iter().map(|r| (r.clone(), lost.clone())).collect());
        }
        for e in &self.0 {
            if e.hosts(domain).await.map_err(|e| e.to_string())? {
                let env = Envelope {
                    mail_from: mail_from.into(),
                    rcpt_to: rcpt_to.to_vec(),
                };
                let outcome = match e.receive(&env, message).await.map_err(|e| e.to_string())? {
                    Received::Accepted(t) => Outcome::Delivered(t),
                    Received::Refused(t) | Received::Infected(t) => Outcome::Permanent(t),
                };
                return Ok(rcpt_to
                    .iter()
                    .map(|r| (r.clone(), outcome.clone()))
                    .collect());
            }
        }
        if domain == REFUSING {
            let no = Outcome::Permanent("550 5.1.1 user unknown".into());
            return Ok(rcpt_to.iter().map(|r| (r.clone(), no.clone())).collect());
        }
        Err(format!("no route to {domain}"))
    }
}

/// An ordinary mail domain whose server refuses every recipient.
pub const REFUSING: &str = "posta.rifiuta.test";

pub const DOMAINS: [(&str, &str); 2] = [("Uno PEC", "pec.uno.test"), ("Due PEC", "pec.due.test")];

/// Two gestori (Uno and Due) on fresh SQLite stores, one CA, one index, one manual clock,
/// each with its antivirus; mailboxes mario, anna and ricevute in each domain.
pub async fn network_with(antivirus: [Arc<dyn Antivirus>; 2]) -> (Vec<Gestore>, Arc<ManualClock>) {
    network_of(antivirus, Default::default()).await
}

/// Two gestori without an antivirus, both with these size and recipient limits.
pub async fn network_limited(limiti: pec::checks::Limiti) -> (Vec<Gestore>, Arc<ManualClock>) {
    network_of([Arc::new(NoScan), Arc::new(NoScan)], limiti).await
}

async fn network_of(
    antivirus: [Arc<dyn Antivirus>; 2],
    limiti: pec::checks::Limiti,
) -> (Vec<Gestore>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(
        "2026-03-02T09:00:00+01:00[Europe/Rome]".parse().unwrap(),
    ));
    let ca = smime::testca::TestCa::new("test").unwrap();
    let ca_pem = ca.cert_pem().unwrap();
    let mut trust = smime::TrustStore::new();
    trust.add_pem(&ca_pem).unwrap();
    let mut certs = Vec::new();
    let mut records = Vec::new();
    for (name, domain) in DOMAINS {
        let (cert, key) = ca
            .provider(name, &format!("posta-certificata@{domain}"))
            .unwrap();
        let der = openssl::x509::X509::from_pem(&cert)
            .unwrap()
            .to_der()
            .unwrap();
        records.push(index::provider_record(
            name,
            &format!("ricevute@{domain}"),
            &[domain],
            &der,
        ));
        certs.push((cert, key));
    }
    let index = SharedIndex::new(Index::from_providers(records).unwrap());
    let mut out = Vec::new();
    for (((name, domain), (cert, key)), av) in DOMAINS.iter().zip(certs).zip(antivirus) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let at = clock.now().timestamp().as_second();
        store.create_domain(domain, at).await.unwrap();
        for local in ["mario", "anna", "ricevute"] {
            store
                .create_mailbox(
                    &NewMailbox {
                        address: format!("{local}@{domain}"),
                        kind: MailboxKind::Standard,
                        state: MailboxState::Attiva,
                        quota: 0,
                        ordinary_mail: OrdinaryMail::Rifiuta,
                        password_hash: engine::accounts::hash_password("password1").unwrap(),
                    },
                    at,
                )
                .await
                .unwrap();
        }
        let settings = Settings {
            gestore: pec::Gestore {
                nome: name.to_string(),
                dominio: domain.to_string(),
            },
            limiti,
            hash: pec::HashAlg::Sha1,
            node: 7,
        };
        let signer = smime::Signer::from_pem(&cert, &key, &ca_pem).unwrap();
        let (cert_pem, key_pem) = (cert.clone(), key.clone());
        let engine = Engine::new(
            settings,
            store,
            index.clone(),
            signer,
            trust.clone(),
            clock.clone(),
            av,
        );
        out.push(Gestore {
            engine: Arc::new(engine),
            ca_pem: ca_pem.clone(),
            cert_pem,
            key_pem,
            _dir: dir,
        });
    }
    (out, clock)
}

/// Two gestori without an antivirus (see [`network_with`]).
pub async fn network() -> (Vec<Gestore>, Arc<ManualClock>) {
    network_with([Arc::new(NoScan), Arc::new(NoScan)]).await
}

/// Relays everything due, in both directions, until the network is quiet.
pub async fn relay_all(g: &[Gestore]) {
    relay_in(g, Mode::Normal).await;
}

/// Relays with the network in `mode`.
pub async fn relay_in(g: &[Gestore], mode: Mode) {
    let transport = Loopback(g.iter().map(|g| g.engine.clone()).collect(), mode);
    // Enough passes for busta → presa/consegna → delivery.
    for _ in 0..4 {
        for x in g {
            x.engine.relay_due(&transport).await.unwrap();
        }
    }
}

/// The PEC kinds in a mailbox's INBOX, in order.
pub async fn kinds(e: &Engine, mailbox: &str) -> Vec<String> {
    e.store()
        .messages(mailbox, engine::INBOX)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| m.kind)
        .collect()
}

/// The first message of `kind` in a mailbox's INBOX, and what the classifier reads in it.
pub async fn received(
    e: &Engine,
    mailbox: &str,
    kind: &str,
) -> (store::StoredMessage, pec::Classified) {
    let m = e
        .store()
        .messages(mailbox, engine::INBOX)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.kind.as_deref() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} in {mailbox}"));
    let c = pec::classify(&e.store().get(&m.blob).await.unwrap()).unwrap();
    (m, c)
}

/// A minimal message from `from` to `to`.
pub fn message(from: &str, to: &str) -> Vec<u8> {
    format!("From: {from}\r\nTo: {to}\r\nSubject: Prova\r\nMessage-ID: <m1@client>\r\n\r\nciao\r\n")
        .into_bytes()
}
