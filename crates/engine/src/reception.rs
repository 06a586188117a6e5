//! Punto di ricezione and punto di consegna (spec §4.2, §4.3). What the MX door receives is
//! verified (signature, signer in the index, chain) and read; then:
//! - a valid busta di trasporto: ricevuta di presa in carico to the sending gestore's
//!   `mailReceipt`, antivirus, and per recipient either delivery (stored unchanged) with an
//!   avvenuta consegna in the variant the To/Cc × `X-TipoRicevuta` table gives, or an avviso
//!   di mancata consegna coded per NOTA 12;
//! - a valid ricevuta/avviso: delivered unchanged, and the sender-side tracker updated;
//! - anything signed by a listed gestore but malformed: a busta di anomalia, always;
//! - ordinary, unsigned or forged mail: by the box's policy, a busta di anomalia in INBOX
//!   (`Anomalia`) or in the holder's folder (`Cartella`), forwarded as it is to the holder's
//!   ordinary address from the service address, marked [`FORWARD_HEADER`] and logged
//!   (`Inoltra`: nothing stays in the box), or refused (`Rifiuta`);
//! - a busta delivered to a box also brings the notices and the copy the holder asked for
//!   (notices.rs), in the same batch.
//!
//! A receipt for an identificativo we never sent is still a valid PEC object: it is delivered
//! (spec §4.3) but touches no tracker, and the log records it as `ricevuta-sconosciuta`.
//!
//! A peer that lost our reply sends the same transaction again: each recipient's batch holds
//! an idempotency key, so what was served is not served twice, and a recipient the first
//! transaction did not name is served now (`serve_pending`).

use mail_parser::MessageParser;
use pec::build::{self, variante_per};
use pec::checks::{Envelope, indirizzi, stesso_indirizzo};
use pec::{Classified, Kind, MancataConsegna, Transazione};
use store::{
    Batch, INBOX, Mailbox, MailboxState, NewMessage, OrdinaryMail, StoreError, TrackerEvent,
    TrackerUpdate, VirusPoint,
};

use crate::antivirus::Verdict;
use crate::legal::{event, event_kind};
use crate::rewrite::prepend_header;
use crate::{Engine, EngineError, build_error, domain_of, inbox, once_key, virus_record};

/// The answer to an incoming SMTP transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Processed (or already processed: a retry); the text is for the 250 reply.
    Accepted(String),
    /// Refused for every recipient: the text is for a 550 reply.
    Refused(String),
    /// Ordinary mail (or a malformed message) that carries a virus: refused, as Internet
    /// mail normally is (spec §4.2, §9.6), so its sender hears of it; the name of the virus.
    Infected(String),
}

/// The header a forwarded ordinary message carries: the box that forwarded it.
pub const FORWARD_HEADER: &str = "X-Pecora-Inoltro";

/// Where ordinary mail for one box goes, by its policy.
enum Route {
    /// Wrapped in a busta di anomalia, into this folder of the box.
    Wrapped { folder: String },
    /// Forwarded as it is to this ordinary address; nothing stays in the box.
    Forwarded { to: String },
}

/// The kind in the idempotency key of a busta taken in charge for one recipient.
const RICEZIONE: &str = "ricezione";

/// How far a message's gestore signature checks out (spec §4.2 steps 1-3): on arrival at
/// the punto di ricezione, and again whenever the webmail shows a stored PEC under its
/// banner.
#[derive(Debug, Clone)]
pub struct Origin {
    /// Signed, signature valid, signer in the index with that very certificate, chain not
    /// rejected by our trust store.
    pub listed: Option<index::Provider>,
    /// Why not, in Italian (the anomalia text, the banner's reason).
    pub problem: String,
}

impl Engine {
    /// RCPT TO at the MX door: only addresses in domains we host. Whether the mailbox exists
    /// is decided at delivery, so that a busta for a missing box gets its avviso di mancata
    /// consegna instead of an SMTP error.
    pub async fn accepts_recipient(&self, rcpt: &str) -> Result<bool, EngineError> {
        self.hosts(&domain_of(rcpt)).await
    }

    /// Runs the reception point on one incoming transaction.
    pub async fn receive(&self, env: &Envelope, raw: &[u8]) -> Result<Received, EngineError> {
        let origin = self.origin(raw);
        let read = pec::classify(raw);
        let result = match (&origin.listed, read) {
            (Some(provider), Ok(c)) if c.kind.is_some_and(|k| k != Kind::Anomalia) => {
                self.certificato(env, raw, c, provider).await
            }
            (Some(_), Ok(_)) => {
                let why = "messaggio firmato da un gestore ma non conforme alle regole tecniche";
                self.anomalia(env, raw, why, true).await
            }
            (Some(_), Err(e)) => {
                let why = format!("messaggio firmato da un gestore ma non conforme: {e}");
                self.anomalia(env, raw, &why, true).await
            }
            (None, _) => self.anomalia(env, raw, &origin.problem, false).await,
        };
        already_processed(result)
    }

    /// A busta, ricevuta or avviso whose signature holds. The signature proves what the
    /// gestore certified, not to whom this transaction brings it: a busta copied out of a
    /// mailbox and sent again to other addresses still verifies. So it is served as PEC only
    /// for the recipients its signed content names as addressees ([`destinatario_legittimo`]),
    /// and only when the signing gestore manages the domains it speaks for
    /// ([`fuori_competenza`]) and its outer header fields agree with the signed content
    /// (`Classified::discordanze`); the other recipients get it as what it then is for them,
    /// mail of uncertain origin, by their box's ordinary-mail policy.
    async fn certificato(
        &self,
        env: &Envelope,
        raw: &[u8],
        c: Classified,
        provider: &index::Provider,
    ) -> Result<Received, EngineError> {
        let (Some(kind), Some(d)) = (c.kind, &c.daticert) else {
            let why = "messaggio firmato da un gestore ma senza daticert.xml";
            return self.anomalia(env, raw, why, true).await;
        };
        if !c.discordanze.is_empty() {
            let why = format!(
                "intestazioni della busta diverse dal contenuto firmato: {}",
                c.discordanze.join("; ")
            );
            return self.anomalia(env, raw, &why, true).await;
        }
        if let Some(why) = fuori_competenza(kind, d, provider) {
            return self.anomalia(env, raw, &why, true).await;
        }
        let receipt_box = self.mail_receipt();
        let (named, others): (Vec<String>, Vec<String>) = env
            .rcpt_to
            .iter()
            .cloned()
            .partition(|r| destinatario_legittimo(kind, d, r, receipt_box.as_deref()));
        let served = match named.is_empty() {
            true => None,
            false => {
                let env = Envelope {
                    mail_from: env.mail_from.clone(),
                    rcpt_to: named,
                };
                Some(already_processed(match kind {
                    Kind::PostaCertificata => self.busta(&env, raw, c, provider).await,
                    _ => self.ricevuta(&env, raw, c).await,
                })?)
            }
        };
        if others.is_empty() {
            return Ok(served.unwrap_or(Received::Refused("no recipients".into())));
        }
        let why = format!(
            "{} firmata da {} che non è indirizzata a questo destinatario",
            kind.titolo(),
            provider.name
        );
        let env = Envelope {
            mail_from: env.mail_from.clone(),
            rcpt_to: others,
        };
        let rest = already_processed(self.anomalia(&env, raw, &why, false).await)?;
        Ok(served.unwrap_or(rest))
    }

    /// Our own `mailReceipt` (the service mailbox prese in carico and rilevazioni virus are
    /// sent to), as the index lists it for our domain.
    fn mail_receipt(&self) -> Option<String> {
        self.index
            .current()
            .provider_by_domain(&self.settings.gestore.dominio)
            .map(|p| p.mail_receipt.clone())
    }

    /// Checks the top-level signature of `raw` against the trust store and the provider
    /// index as they are now.
    pub fn origin(&self, raw: &[u8]) -> Origin {
        let verdict = smime::verify(raw, &self.trust);
        let index = self.index.current();
        let problem = if !verdict.signed {
            "messaggio non firmato: posta ordinaria".to_string()
        } else if !verdict.signature_valid {
            format!(
                "firma non valida ({})",
                verdict.error.clone().unwrap_or_default()
            )
        } else if verdict.chain_trusted == Some(false) {
            format!(
                "certificato di firma non attendibile ({})",
                verdict.error.clone().unwrap_or_default()
            )
        } else {
            let signer = verdict.signer.as_ref();
            match signer.and_then(|s| index.provider_by_hash(&s.sha1_fingerprint).map(|p| (s, p))) {
                Some((s, p)) if p.has_certificate(&s.der) => {
                    return Origin {
                        listed: Some(p.clone()),
                        problem: String::new(),
                    };
                }
                _ => "firmato da un certificato che non appartiene ad alcun gestore dell'indice"
                    .to_string(),
            }
        };
        Origin {
            listed: None,
            problem,
        }
    }

    /// A valid busta di trasporto, taken in charge once for each recipient (see
    /// [`serve_pending`]).
    async fn busta(
        &self,
        env: &Envelope,
        raw: &[u8],
        c: Classified,
        provider: &index::Provider,
    ) -> Result<Received, EngineError> {
        let c = &c;
        let Some(d) = &c.daticert else {
            return Err(build_error("busta", "no daticert"));
        };
        let key = |rcpt: &str| once_key(&d.identificativo, rcpt, RICEZIONE);
        serve_pending(&env.rcpt_to, key, |rcpt_to| async move {
            self.take_charge(&rcpt_to, raw, c, d, provider).await
        })
        .await
    }

    /// Takes a busta in charge for `rcpt_to`: presa in carico, antivirus, delivery and a
    /// receipt per recipient, in one batch.
    async fn take_charge(
        &self,
        rcpt_to: &[String],
        raw: &[u8],
        c: &Classified,
        d: &pec::Daticert,
        provider: &index::Provider,
    ) -> Result<Received, EngineError> {
        let now = self.clock.now();
        let at = now.timestamp().as_second();
        let g = &self.settings.gestore;
        let t = Transazione::from_daticert(d);
        let service = self.service_address();
        let mut batch = Batch::default();

        // Presa in carico for every recipient of this transaction (spec §3.5).
        let presa = build::presa_in_carico(&t, g, &now, &provider.mail_receipt, rcpt_to);
        let (_, presa_blob) = self.seal(&presa).await?;
        batch.enqueue.extend(self.relay_jobs(
            &presa_blob,
            &service,
            std::slice::from_ref(&provider.mail_receipt),
            at,
            Some(&t.identificativo),
        ));
        let mut e = event(
            "presa-in-carico",
            &t,
            &now,
            &g.nome,
            vec![presa.message_id().into()],
        );
        e.detail = Some(format!("ricezione: {}", rcpt_to.join(", ")));
        batch.log.push(e);

        let postacert = c.originale.as_deref().unwrap_or_default();
        let infected = match self.antivirus.scan(postacert).await? {
            Verdict::Clean => None,
            Verdict::Infected(name) => Some(name),
        };
        // To or Cc as the signed original has them (spec §3.9: the variant per recipient).
        let (to, cc) = to_and_cc(postacert);
        let raw_blob = self.store.put(raw).await?;
        if let Some(virus) = &infected {
            // Not delivered; kept 30 months by us, who found it (spec §3.7, §8.4).
            batch.virus_archive.push(virus_record(
                VirusPoint::Ricezione,
                virus,
                (raw_blob.clone(), raw.len()),
                &t,
                rcpt_to,
                &provider.name,
                at,
            ));
        }
        for rcpt in rcpt_to {
            batch
                .once
                .push(once_key(&t.identificativo, rcpt, RICEZIONE));
            if let Some(virus) = &infected {
                let notice =
                    build::rilevazione_virus(&t, g, &now, &provider.mail_receipt, rcpt, virus);
                let (_, blob) = self.seal(&notice).await?;
                batch.enqueue.extend(self.relay_jobs(
                    &blob,
                    &service,
                    std::slice::from_ref(&provider.mail_receipt),
                    at,
                    Some(&t.identificativo),
                ));
                let mut e = event(
                    "rilevazione-virus",
                    &t,
                    &now,
                    &g.nome,
                    vec![notice.message_id().into()],
                );
                e.detail = Some(format!("{rcpt}: {virus}"));
                batch.log.push(e);
                continue;
            }
            let receipt = match self.deliverable(rcpt, raw.len() as u64).await? {
                Ok(mailbox) => {
                    batch.deliveries.push(inbox(
                        &mailbox,
                        raw_blob.clone(),
                        raw.len(),
                        Kind::PostaCertificata,
                        Some(&t.identificativo),
                    ));
                    self.announce_delivery(&mut batch, &mailbox, &t, raw, at)
                        .await?;
                    let in_cc_only = cc.iter().any(|a| stesso_indirizzo(a, rcpt))
                        && !to.iter().any(|a| stesso_indirizzo(a, rcpt));
                    let variant = variante_per(t.ricevuta, in_cc_only);
                    build::avvenuta_consegna(
                        &t,
                        g,
                        &now,
                        rcpt,
                        variant,
                        postacert,
                        self.settings.hash,
                    )
                    .map_err(|e| build_error("avvenuta consegna", e))?
                }
                Err(causa) => build::mancata_consegna(&t, g, &now, rcpt, &causa),
            };
            let (_, blob) = self.seal(&receipt).await?;
            batch.enqueue.extend(self.relay_jobs(
                &blob,
                &service,
                std::slice::from_ref(&t.mittente),
                at,
                Some(&t.identificativo),
            ));
            let kind = event_kind(receipt.kind());
            let mut e = event(kind, &t, &now, &g.nome, vec![receipt.message_id().into()]);
            e.detail = Some(rcpt.clone());
            e.daticert = receipt.daticert().map(|d| d.to_xml());
            batch.log.push(e);
        }
        self.commit(batch).await?;
        tracing::info!(identificativo = %t.identificativo, from = %provider.name, "busta ricevuta");
        Ok(Received::Accepted(format!(
            "presa in carico {}",
            t.identificativo
        )))
    }

    /// Whether a busta can be stored for `rcpt`: Ok(mailbox address) or the NOTA 12 cause.
    async fn deliverable(
        &self,
        rcpt: &str,
        size: u64,
    ) -> Result<Result<String, MancataConsegna>, EngineError> {
        let Some(m) = self.store.mailbox(rcpt).await? else {
            return Ok(Err(MancataConsegna::CasellaInesistente));
        };
        Ok(match m.state {
            MailboxState::Revocata => Err(MancataConsegna::CasellaRevocata),
            MailboxState::Sospesa | MailboxState::Bloccata => {
                Err(MancataConsegna::CasellaDisattivata)
            }
            MailboxState::Attiva if m.quota > 0 && size > m.quota => {
                Err(MancataConsegna::MessaggioTroppoGrande)
            }
            MailboxState::Attiva if m.quota > 0 && m.used + size > m.quota => {
                Err(MancataConsegna::CasellaPiena)
            }
            MailboxState::Attiva => Ok(m.address),
        })
    }

    /// A valid ricevuta or avviso from a gestore: delivered, and the tracker told.
    async fn ricevuta(
        &self,
        env: &Envelope,
        raw: &[u8],
        c: Classified,
    ) -> Result<Received, EngineError> {
        let (Some(kind), Some(d)) = (c.kind, c.daticert) else {
            return Err(build_error("ricevuta", "no kind or daticert"));
        };
        let now = self.clock.now();
        let at = now.timestamp().as_second();
        let g = &self.settings.gestore;
        let t = Transazione::from_daticert(&d);
        let message_id = c.headers.message_id.unwrap_or_default();
        let tracked = self.store.tracked(&d.identificativo).await?;
        let mut batch = Batch::default();
        let blob = self.store.put(raw).await?;
        for rcpt in &env.rcpt_to {
            batch.once.push(format!(
                "ricevuta|{message_id}|{}",
                rcpt.to_ascii_lowercase()
            ));
            if self.store.mailbox(rcpt).await?.is_some() {
                batch.deliveries.push(inbox(
                    rcpt,
                    blob.clone(),
                    raw.len(),
                    kind,
                    Some(&d.identificativo),
                ));
            }
        }
        let (event_name, about): (Option<TrackerEvent>, Vec<String>) = match kind {
            Kind::PresaInCarico => (Some(TrackerEvent::PresaInCarico), d.ricezione.clone()),
            Kind::AvvenutaConsegna(_) => (
                Some(TrackerEvent::Consegna),
                d.consegna.clone().into_iter().collect(),
            ),
            Kind::ErroreConsegna => (
                Some(TrackerEvent::ErroreConsegna),
                d.consegna.clone().into_iter().collect(),
            ),
            Kind::RilevazioneVirus | Kind::ErroreConsegnaVirus => (
                Some(TrackerEvent::RilevazioneVirus),
                d.consegna.clone().into_iter().collect(),
            ),
            _ => (None, Vec::new()),
        };
        let mut known = false;
        if let Some(ev) = event_name {
            for who in &about {
                let who = who.trim().trim_matches(['<', '>']);
                // The tracker keeps its own spelling of the address: update that row.
                if let Some(entry) = tracked
                    .iter()
                    .find(|e| e.recipient.eq_ignore_ascii_case(who))
                {
                    known = true;
                    batch.tracker_events.push(TrackerUpdate {
                        identificativo: d.identificativo.clone(),
                        recipient: entry.recipient.clone(),
                        event: ev,
                        at,
                    });
                }
            }
        }
        // The sender's avviso di mancata consegna per virus (spec §3.8) is ours to send.
        if kind == Kind::RilevazioneVirus && known {
            for who in &about {
                let causa = MancataConsegna::Virus(d.errore_esteso.clone().unwrap_or_default());
                let notice = build::mancata_consegna(&t, g, &now, who, &causa);
                self.notify_sender(&mut batch, &t, &notice, &now, who, None)
                    .await?;
            }
        }
        let name = if known || event_name.is_none() && !tracked.is_empty() {
            format!("ricevuta-{}", event_kind(kind))
        } else {
            "ricevuta-sconosciuta".to_string()
        };
        let mut e = event(
            &name,
            &t,
            &now,
            &d.gestore_emittente,
            vec![message_id.trim_matches(['<', '>']).to_string()],
        );
        e.detail = Some(format!("consegnata a {}", env.rcpt_to.join(", ")));
        batch.log.push(e);
        self.commit(batch).await?;
        Ok(Received::Accepted(format!("{} consegnata", kind.slug())))
    }

    /// Anything that is not a valid PEC object. `from_gestore`: signed by a listed gestore, so
    /// it must be propagated whatever the mailbox policy (spec §4.2): wrapped in a busta di
    /// anomalia in INBOX. Otherwise each box's ordinary-mail policy decides ([`Route`]).
    async fn anomalia(
        &self,
        env: &Envelope,
        raw: &[u8],
        why: &str,
        from_gestore: bool,
    ) -> Result<Received, EngineError> {
        let now = self.clock.now();
        let at = now.timestamp().as_second();
        let g = &self.settings.gestore;
        let mut wrapped: Vec<(String, String)> = Vec::new();
        let mut forwarded: Vec<(String, String)> = Vec::new();
        let mut refused = Vec::new();
        for rcpt in &env.rcpt_to {
            let Some(m) = self.store.mailbox(rcpt).await? else {
                refused.push(rcpt.to_ascii_lowercase());
                continue;
            };
            match self.route(&m, from_gestore).await? {
                Some(Route::Wrapped { folder }) => wrapped.push((m.address, folder)),
                Some(Route::Forwarded { to }) => forwarded.push((m.address, to)),
                None => refused.push(m.address),
            }
        }
        let accepting: Vec<String> = wrapped
            .iter()
            .chain(&forwarded)
            .map(|(mailbox, _)| mailbox.clone())
            .collect();
        let t = pec::classify::transazione_da_messaggio(raw);
        if accepting.is_empty() {
            let detail = format!("{why}; rifiutato per {}", refused.join(", "));
            self.log_refusal("rifiuto", &t, &now, detail).await?;
            return Ok(Received::Refused(
                "recipient unknown or not enabled to receive non-certified mail".into(),
            ));
        }
        // Ordinary mail is scanned too, before it is wrapped and delivered or forwarded
        // (spec §9.6).
        if let Verdict::Infected(virus) = self.antivirus.scan(raw).await? {
            let detail = format!("{why}; {virus}; rifiutato per {}", accepting.join(", "));
            self.log_refusal("virus", &t, &now, detail).await?;
            return Ok(Received::Infected(virus));
        }
        let raw_id = self.store.put(raw).await?;
        let (wrapped, forwarded) = (&wrapped, &forwarded);
        let key = |mailbox: &str| {
            let how = if forwarded.iter().any(|(m, _)| m == mailbox) {
                "inoltro"
            } else {
                "anomalia"
            };
            format!("{how}|{raw_id}|{mailbox}")
        };
        let (t, now) = (&t, &now);
        serve_pending(&accepting, key, |mailboxes| async move {
            let mut batch = Batch::default();
            let wrap: Vec<&(String, String)> = wrapped
                .iter()
                .filter(|(m, _)| mailboxes.contains(m))
                .collect();
            if !wrap.is_empty() {
                let draft = build::busta_di_anomalia(t, g, now, raw, why);
                let (bytes, blob) = self.seal(&draft).await?;
                for (mailbox, folder) in &wrap {
                    batch.once.push(key(mailbox));
                    batch.deliveries.push(NewMessage {
                        folder: folder.clone(),
                        ..inbox(mailbox, blob.clone(), bytes.len(), Kind::Anomalia, None)
                    });
                }
                let names: Vec<&str> = wrap.iter().map(|(m, _)| m.as_str()).collect();
                let mut e = event("anomalia", t, now, &g.nome, vec![draft.message_id().into()]);
                e.detail = Some(format!("{why}; consegnata a {}", names.join(", ")));
                batch.log.push(e);
            }
            for (mailbox, to) in forwarded.iter().filter(|(m, _)| mailboxes.contains(m)) {
                batch.once.push(key(mailbox));
                let copy = prepend_header(raw, FORWARD_HEADER, mailbox);
                self.queue_ordinary(&mut batch, &copy, std::slice::from_ref(to), at)
                    .await?;
                let mut e = event("inoltro", t, now, &g.nome, Vec::new());
                e.detail = Some(format!("{why}; per {mailbox} inoltrato a {to}"));
                batch.log.push(e);
            }
            self.commit(batch).await?;
            Ok(Received::Accepted(if wrap.is_empty() {
                "inoltrato".into()
            } else {
                "consegnato come anomalia".into()
            }))
        })
        .await
    }

    /// Where ordinary mail (or, `from_gestore`, a malformed message signed by a gestore) for
    /// box `m` goes; `None`: refused. A policy whose target is missing refuses (the store
    /// keeps one for each policy that needs it: this is only a guard).
    async fn route(&self, m: &Mailbox, from_gestore: bool) -> Result<Option<Route>, EngineError> {
        let inbox = || Route::Wrapped {
            folder: INBOX.into(),
        };
        if from_gestore {
            return Ok(Some(inbox()));
        }
        let target = || async {
            let settings = self.store.holder_settings(&m.address).await?;
            let target = settings.and_then(|s| s.ordinary_mail_target);
            if target.is_none() {
                tracing::warn!(mailbox = %m.address, policy = m.ordinary_mail.as_str(), "ordinary-mail policy without its target: refusing");
            }
            Ok::<_, EngineError>(target)
        };
        Ok(match m.ordinary_mail {
            OrdinaryMail::Rifiuta => None,
            OrdinaryMail::Anomalia => Some(inbox()),
            OrdinaryMail::Cartella => target().await?.map(|folder| Route::Wrapped { folder }),
            OrdinaryMail::Inoltra => target().await?.map(|to| Route::Forwarded { to }),
        })
    }

    /// Records in the legal log that a message was refused at the MX (`kind`), and why.
    async fn log_refusal(
        &self,
        kind: &str,
        t: &Transazione,
        now: &jiff::Zoned,
        detail: String,
    ) -> Result<(), EngineError> {
        let mut e = event(kind, t, now, &self.settings.gestore.nome, Vec::new());
        e.detail = Some(detail);
        self.store
            .commit(Batch {
                log: vec![e],
                ..Batch::default()
            })
            .await?;
        Ok(())
    }
}

/// Serves the recipients of a transaction that were not served before. A peer that lost our
/// reply sends the transaction again, and it may name recipients we did not serve the first
/// time (a 4xx at RCPT, then the peer's crash before it recorded that). `serve` commits one
/// batch for the recipients it is given, holding the idempotency key `key(rcpt)` of each:
/// when it fails on the key of one served before, that one is left out and the others are
/// served. When every one was, the `Duplicate` goes up: the transaction was processed already.
async fn serve_pending<F>(
    rcpt_to: &[String],
    key: impl Fn(&str) -> String,
    mut serve: impl FnMut(Vec<String>) -> F,
) -> Result<Received, EngineError>
where
    F: Future<Output = Result<Received, EngineError>>,
{
    let mut pending = rcpt_to.to_vec();
    loop {
        match serve(pending.clone()).await {
            Err(EngineError::Store(StoreError::Duplicate(taken))) => {
                let before = pending.len();
                pending.retain(|r| key(r) != taken);
                if pending.is_empty() || pending.len() == before {
                    return Err(StoreError::Duplicate(taken).into());
                }
            }
            other => return other,
        }
    }
}

/// A transaction that fails on an idempotency key taken before was processed already: the
/// peer is retrying a transaction we committed and never heard our reply to.
fn already_processed(result: Result<Received, EngineError>) -> Result<Received, EngineError> {
    match result {
        Err(EngineError::Store(StoreError::Duplicate(key))) => {
            Ok(Received::Accepted(format!("already processed ({key})")))
        }
        other => other,
    }
}

/// Whether `rcpt` is one this PEC object is addressed to by its signed content: a busta to
/// the recipients daticert lists (spec §3.4: RCPT TO are the original recipients, and the
/// access point allows no Bcc); a presa in carico or rilevazione virus to our `mailReceipt`
/// (spec §3.5, §3.7); every other ricevuta or avviso to daticert's `mittente` (spec §3.9,
/// §3.10).
fn destinatario_legittimo(
    kind: Kind,
    d: &pec::Daticert,
    rcpt: &str,
    mail_receipt: Option<&str>,
) -> bool {
    match kind {
        Kind::PostaCertificata => d
            .destinatari
            .iter()
            .any(|x| stesso_indirizzo(&x.indirizzo, rcpt)),
        Kind::PresaInCarico | Kind::RilevazioneVirus => {
            mail_receipt.is_some_and(|m| stesso_indirizzo(m, rcpt))
        }
        _ => stesso_indirizzo(&d.mittente, rcpt),
    }
}

/// Why a signed PEC object speaks for a domain its signer does not manage, if it does: the
/// index lists each gestore's `managedDomains` (spec §4.2 step 5). A receipt about a
/// recipient (presa in carico, consegna, mancata consegna, rilevazione virus) is issued by
/// the recipient's gestore, so every address it is about must be in the signer's domains;
/// everything else (the busta, the accettazione...) by the sender's, so the mittente's must.
fn fuori_competenza(kind: Kind, d: &pec::Daticert, provider: &index::Provider) -> Option<String> {
    let manages = |address: &str| {
        let domain = crate::domain_of(address.trim().trim_matches(['<', '>']));
        provider
            .managed_domains
            .iter()
            .any(|m| m.eq_ignore_ascii_case(&domain))
    };
    let about: Vec<&str> = match kind {
        Kind::PresaInCarico => d.ricezione.iter().map(String::as_str).collect(),
        Kind::AvvenutaConsegna(_) | Kind::ErroreConsegna | Kind::RilevazioneVirus => {
            d.consegna.iter().map(String::as_str).collect()
        }
        // The busta, and what only the sender's own gestore issues (accettazione, avvisi
        // di non accettazione, the timeout notices, mancata consegna per virus).
        _ => vec![d.mittente.as_str()],
    };
    let foreign: Vec<&str> = about.into_iter().filter(|a| !manages(a)).collect();
    (!foreign.is_empty()).then(|| {
        format!(
            "{} firmata da {}, che non gestisce il dominio di {}",
            kind.titolo(),
            provider.name,
            foreign.join(", ")
        )
    })
}

/// The addresses in the To: and Cc: of a message.
fn to_and_cc(raw: &[u8]) -> (Vec<String>, Vec<String>) {
    match MessageParser::default().parse_headers(raw) {
        Some(m) => (indirizzi(m.to()), indirizzi(m.cc())),
        None => (Vec::new(), Vec::new()),
    }
}
