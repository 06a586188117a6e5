//! Punto di accesso (spec §4.1): a holder's submission becomes, in one durable commit, a
//! ricevuta di accettazione in their mailbox and a signed busta di trasporto queued for every
//! recipient domain — or an avviso di non accettazione. Only then does the client hear 250.
//! The same commit files the submission as it arrived in the sender's Sent folder (PEC
//! clients expect the server to keep it), unless it carried a virus.

use pec::build;
use pec::checks::{self, Accettabile, Envelope, Rifiuto};
use pec::identificativo::rewrite_original;
use pec::{Destinatario, TipoDestinatario, Transazione};
use store::{ApiSend, Batch, NewMessage, NewTracker, SENT, VirusPoint};

use crate::antivirus::Verdict;
use crate::legal::event;
use crate::{Engine, EngineError, domain_of, virus_record};

/// What became of a submission that reached the access point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Accettazione delivered to the sender, busta queued.
    Accettato { identificativo: String },
    /// Avviso di non accettazione delivered to the sender; nothing relayed.
    NonAccettato {
        identificativo: String,
        motivo: String,
    },
}

/// A REST API send's idempotency key, with the digest of the draft it came with
/// ([`crate::compose::Bozza::impronta`]): recorded together by the commit of the send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Idempotenza<'a> {
    pub(crate) chiave: &'a str,
    pub(crate) impronta: &'a str,
}

impl Engine {
    /// Runs the access point on a message the submission door received from `env.mail_from`
    /// (already authenticated as that mailbox's holder).
    pub async fn submit(&self, env: &Envelope, raw: &[u8]) -> Result<Submitted, EngineError> {
        self.submit_as(env, raw, None).await
    }

    /// [`Engine::submit`] on behalf of the holder of `env.mail_from` by `actor`, a delegate
    /// of the box (see [`crate::mailbox::Principal::actor`]): the legal log records who
    /// acted.
    pub async fn submit_as(
        &self,
        env: &Envelope,
        raw: &[u8],
        actor: Option<&str>,
    ) -> Result<Submitted, EngineError> {
        self.submit_keyed(env, raw, actor, None).await
    }

    /// [`Engine::submit_as`], recording the REST API's idempotency key and draft digest (if
    /// any) in the same commit: a key the box already used fails it with
    /// `StoreError::Duplicate`.
    pub(crate) async fn submit_keyed(
        &self,
        env: &Envelope,
        raw: &[u8],
        actor: Option<&str>,
        idempotenza: Option<&Idempotenza<'_>>,
    ) -> Result<Submitted, EngineError> {
        let now = self.clock.now();
        let identificativo = self.ids.next(&now);
        let (mut batch, submitted) = match checks::verifica(raw, env, &self.settings.limiti) {
            Err(rifiuti) => {
                let motivo = Rifiuto::errore_esteso(&rifiuti);
                self.non_accettato(env, raw, identificativo, &motivo, false)
                    .await?
            }
            Ok(a) => match self.antivirus.scan(raw).await? {
                Verdict::Infected(virus) => {
                    self.non_accettato(env, raw, identificativo, &virus, true)
                        .await?
                }
                Verdict::Clean => self.accettato(env, raw, identificativo, a).await?,
            },
        };
        for e in &mut batch.log {
            e.actor = actor.map(str::to_ascii_lowercase);
        }
        if let Some(i) = idempotenza {
            let (Submitted::Accettato { identificativo }
            | Submitted::NonAccettato { identificativo, .. }) = &submitted;
            batch.api_sends.push(ApiSend {
                mailbox: env.mail_from.to_ascii_lowercase(),
                key: i.chiave.to_string(),
                identificativo: identificativo.clone(),
                request_hash: Some(i.impronta.to_string()),
            });
        }
        self.commit(batch).await?;
        match &submitted {
            Submitted::Accettato { identificativo } => {
                tracing::info!(%identificativo, sender = %env.mail_from, ?actor, "accettazione");
            }
            Submitted::NonAccettato {
                identificativo,
                motivo,
            } => tracing::info!(%identificativo, %motivo, ?actor, "non accettazione"),
        }
        Ok(submitted)
    }

    /// The copy of a submission for the sender's Sent folder.
    async fn sent_copy(
        &self,
        env: &Envelope,
        raw: &[u8],
        identificativo: &str,
    ) -> Result<NewMessage, EngineError> {
        Ok(NewMessage {
            mailbox: env.mail_from.to_ascii_lowercase(),
            folder: SENT.into(),
            blob: self.store.put(raw).await?,
            size: raw.len() as u64,
            flags: vec!["\\Seen".into()],
            kind: None,
            identificativo: Some(identificativo.to_string()),
        })
    }

    async fn accettato(
        &self,
        env: &Envelope,
        raw: &[u8],
        identificativo: String,
        a: Accettabile,
    ) -> Result<(Batch, Submitted), EngineError> {
        let now = self.clock.now();
        let at = now.timestamp().as_second();
        let g = &self.settings.gestore;
        let index = self.index.current();
        let (postacert, msgid) = rewrite_original(raw, &identificativo);
        let t = Transazione {
            identificativo: identificativo.clone(),
            msgid,
            destinatari: a
                .destinatari
                .iter()
                .map(|r| Destinatario {
                    indirizzo: r.indirizzo.clone(),
                    tipo: if index.is_pec_domain(&domain_of(&r.indirizzo)) {
                        TipoDestinatario::Certificato
                    } else {
                        TipoDestinatario::Esterno
                    },
                })
                .collect(),
            mittente: a.mittente,
            risposte: a.risposte,
            oggetto: a.oggetto,
            ricevuta: a.ricevuta,
        };
        let accettazione = build::accettazione(&t, g, &now);
        let busta = build::busta_di_trasporto(&t, g, &now, &postacert);
        // What we certify, every reception point (ours first) must read back as this very
        // busta: one parser for both sides, so a message whose MIME structure it would misread
        // is refused here with the reason, not certified and then turned into an anomalia.
        if let Err(why) = pec::classify::rilettura(&busta.unsigned(), &t, &postacert) {
            let motivo = format!("struttura MIME del messaggio non leggibile: {why}");
            return self
                .non_accettato(env, raw, identificativo, &motivo, false)
                .await;
        }
        // The busta is the original plus the certification (some KB): it must still fit what
        // a reception point takes, or the sender would be told only by the 24-hour notice.
        // Our own MX takes the same limit as our submission (spec §12).
        let sealed = self.signer.seal(busta.headers(), busta.entity())?;
        let limite = self.settings.limiti.max_dimensione;
        if sealed.len() as u64 > limite {
            let motivo = format!(
                "messaggio troppo grande: con la busta di trasporto sarebbe di {} byte, oltre il limite di {limite}",
                sealed.len()
            );
            return self
                .non_accettato(env, raw, identificativo, &motivo, false)
                .await;
        }
        let busta_blob = self.store.put(&sealed).await?;
        let mut sent = event(
            "posta-certificata",
            &t,
            &now,
            &g.nome,
            vec![identificativo.clone()],
        );
        sent.detail = Some(format!("envelope to {}", env.rcpt_to.join(", ")));
        let mut batch = Batch {
            enqueue: self.relay_jobs(
                &busta_blob,
                &env.mail_from,
                &env.rcpt_to,
                at,
                Some(&identificativo),
            ),
            track: t
                .destinatari
                .iter()
                .filter(|d| d.tipo == TipoDestinatario::Certificato)
                .map(|d| NewTracker {
                    identificativo: identificativo.clone(),
                    recipient: d.indirizzo.to_ascii_lowercase(),
                    mittente: t.mittente.clone(),
                    sent_at: at,
                })
                .collect(),
            log: vec![sent],
            deliveries: vec![self.sent_copy(env, raw, &identificativo).await?],
            ..Batch::default()
        };
        self.notify_sender(&mut batch, &t, &accettazione, &now, &t.mittente, None)
            .await?;
        Ok((batch, Submitted::Accettato { identificativo }))
    }

    async fn non_accettato(
        &self,
        env: &Envelope,
        raw: &[u8],
        identificativo: String,
        motivo: &str,
        virus: bool,
    ) -> Result<(Batch, Submitted), EngineError> {
        let now = self.clock.now();
        let g = &self.settings.gestore;
        // The facts as far as the message lets us read them; the certified sender is the
        // authenticated MAIL FROM whatever the headers say.
        let mut t = pec::classify::transazione_da_messaggio(raw);
        t.identificativo = identificativo.clone();
        t.mittente = env.mail_from.to_ascii_lowercase();
        if t.risposte.is_empty() {
            t.risposte = t.mittente.clone();
        }
        let draft = if virus {
            build::non_accettazione_virus(&t, g, &now, motivo)
        } else {
            build::non_accettazione(&t, g, &now, motivo)
        };
        let mut batch = Batch::default();
        if virus {
            // Kept 30 months by the gestore that found it (spec §3.3, §8.4).
            let blob = self.store.put(raw).await?;
            batch.virus_archive.push(virus_record(
                VirusPoint::Accesso,
                motivo,
                (blob, raw.len()),
                &t,
                &env.rcpt_to,
                &g.nome,
                now.timestamp().as_second(),
            ));
        } else {
            batch
                .deliveries
                .push(self.sent_copy(env, raw, &identificativo).await?);
        }
        self.notify_sender(
            &mut batch,
            &t,
            &draft,
            &now,
            &t.mittente,
            Some(motivo.to_string()),
        )
        .await?;
        let submitted = Submitted::NonAccettato {
            identificativo,
            motivo: motivo.to_string(),
        };
        Ok((batch, submitted))
    }
}
