//! Writing a PEC without a mail client: the webmail's form and the REST API hand over a
//! [`Bozza`] (recipients, subject, text, attachments, the receipt type wanted) and the
//! engine turns it into the message a client would have submitted — From the box, the
//! `X-TipoRicevuta` header of spec §2.4 — and runs the punto di accesso on it.
//!
//! A send may carry an idempotency key (the REST API's): the key is recorded by the same
//! commit that accepts the message, with the draft's [`Bozza::impronta`], so a repeat —
//! even one racing the first — gets the first send's outcome and nothing is sent twice,
//! while the key coming back with another message is refused
//! ([`ComposeError::ChiaveRiusata`]) rather than answered as if that message were sent.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::raw::Raw;
use pec::checks::Envelope;
use pec::daticert::TipoRicevuta;
use store::StoreError;

use crate::access::{Idempotenza, Submitted};
use crate::mailbox::Principal;
use crate::settings::hex;
use crate::{Engine, EngineError, build_error};

/// A message to send, as a form or an API call describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bozza {
    /// `To:` recipients.
    pub destinatari: Vec<String>,
    /// `Cc:` recipients (they get the sintetica receipt, spec §2.5).
    pub copia: Vec<String>,
    pub oggetto: String,
    pub testo: String,
    pub allegati: Vec<Allegato>,
    /// The receipt type asked for (`X-TipoRicevuta`).
    pub ricevuta: TipoRicevuta,
}

impl Bozza {
    /// A digest of everything the draft asks for: lowercase hex SHA-256 over its fields in
    /// order, each length-prefixed (lists by their length first), so two drafts have the
    /// same digest exactly when they are the same message to send — however the request
    /// that carried them was written (JSON or a form, key order, defaults left out).
    pub fn impronta(&self) -> String {
        let mut sha = openssl::sha::Sha256::new();
        let mut campo = |bytes: &[u8]| {
            sha.update(&(bytes.len() as u64).to_be_bytes());
            sha.update(bytes);
        };
        for lista in [&self.destinatari, &self.copia] {
            campo(&(lista.len() as u64).to_be_bytes());
            lista.iter().for_each(|a| campo(a.as_bytes()));
        }
        campo(self.oggetto.as_bytes());
        campo(self.testo.as_bytes());
        campo(&(self.allegati.len() as u64).to_be_bytes());
        for a in &self.allegati {
            campo(a.nome.as_bytes());
            campo(a.tipo.as_bytes());
            campo(&a.dati);
        }
        campo(self.ricevuta.as_str().as_bytes());
        hex(&sha.finish())
    }
}

/// One attachment of a [`Bozza`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allegato {
    pub nome: String,
    /// Its content type (`application/pdf`...); `application/octet-stream` when unknown.
    pub tipo: String,
    pub dati: Vec<u8>,
}

/// Why a [`Bozza`] was not sent.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The principal is a read-only delegate.
    #[error("this login may not send from the box")]
    NotAllowed,
    /// The draft cannot become a PEC; the message is for the user (Italian, like the
    /// gestore's avvisi).
    #[error("{0}")]
    Invalid(String),
    /// The idempotency key (named) was used by the box for another message: nothing sent.
    #[error("idempotency key {0:?} already used for another message")]
    ChiaveRiusata(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<StoreError> for ComposeError {
    fn from(e: StoreError) -> ComposeError {
        ComposeError::Engine(e.into())
    }
}

impl Engine {
    /// Sends `bozza` from `who`'s box through the punto di accesso. With an
    /// `idempotency_key`, a key the box already used for the same draft returns that send's
    /// outcome instead, and one it used for another draft is [`ComposeError::ChiaveRiusata`].
    pub async fn send_bozza(
        &self,
        who: &Principal,
        bozza: &Bozza,
        idempotency_key: Option<&str>,
    ) -> Result<Submitted, ComposeError> {
        if !who.may_send() {
            return Err(ComposeError::NotAllowed);
        }
        let mailbox = who.mailbox.to_ascii_lowercase();
        let impronta = bozza.impronta();
        let idempotenza = idempotency_key.map(|chiave| Idempotenza {
            chiave,
            impronta: &impronta,
        });
        if let Some(i) = &idempotenza
            && let Some(earlier) = self.earlier_send(&mailbox, i).await?
        {
            return Ok(earlier);
        }
        let env = self.verifica_bozza(&mailbox, bozza)?;
        let raw = self.scrivi(&mailbox, bozza)?;
        let limit = self.settings.limiti.max_dimensione;
        if raw.len() as u64 > limit {
            return Err(ComposeError::Invalid(format!(
                "Il messaggio è di {} byte, oltre il limite di {limit} byte del gestore.",
                raw.len()
            )));
        }
        let sent = self
            .submit_keyed(&env, &raw, who.actor(), idempotenza.as_ref())
            .await;
        match (sent, &idempotenza) {
            (Err(EngineError::Store(StoreError::Duplicate(_))), Some(i)) => {
                // A concurrent send with the same key committed first: its outcome stands.
                self.earlier_send(&mailbox, i).await?.ok_or_else(|| {
                    ComposeError::Engine(build_error(
                        "idempotent send",
                        format!("key {} used but not recorded", i.chiave),
                    ))
                })
            }
            (sent, _) => Ok(sent?),
        }
    }

    /// What an earlier send with the key of `i` from `mailbox` produced, if there was one:
    /// read back from the box's own receipt of it. [`ComposeError::ChiaveRiusata`] when that
    /// send was of another draft (a send recorded without a digest, before the store kept
    /// one, is taken for the same draft).
    async fn earlier_send(
        &self,
        mailbox: &str,
        i: &Idempotenza<'_>,
    ) -> Result<Option<Submitted>, ComposeError> {
        let Some(earlier) = self.store.api_send(mailbox, i.chiave).await? else {
            return Ok(None);
        };
        if earlier
            .request_hash
            .as_deref()
            .is_some_and(|h| h != i.impronta)
        {
            return Err(ComposeError::ChiaveRiusata(i.chiave.to_string()));
        }
        let identificativo = earlier.identificativo;
        for m in self
            .store
            .by_identificativo(mailbox, &identificativo)
            .await?
        {
            if !m
                .kind
                .as_deref()
                .is_some_and(|k| k.starts_with("non-accettazione"))
            {
                continue;
            }
            let raw = self.store.get(&m.blob).await?;
            let motivo = pec::classify(&raw)
                .ok()
                .and_then(|c| c.daticert)
                .and_then(|d| d.errore_esteso)
                .unwrap_or_default();
            return Ok(Some(Submitted::NonAccettato {
                identificativo,
                motivo,
            }));
        }
        Ok(Some(Submitted::Accettato { identificativo }))
    }

    /// The envelope of a draft, once its recipients and size are ones the access point
    /// could accept.
    fn verifica_bozza(&self, mailbox: &str, bozza: &Bozza) -> Result<Envelope, ComposeError> {
        let rcpt_to: Vec<String> = bozza
            .destinatari
            .iter()
            .chain(&bozza.copia)
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        if bozza.destinatari.is_empty() {
            return Err(ComposeError::Invalid(
                "Indicare almeno un destinatario.".into(),
            ));
        }
        if let Some(bad) = rcpt_to.iter().find(|a| !indirizzo_valido(a)) {
            return Err(ComposeError::Invalid(format!(
                "«{bad}» non è un indirizzo di posta valido."
            )));
        }
        let max = self.settings.limiti.max_destinatari;
        if rcpt_to.len() > max {
            return Err(ComposeError::Invalid(format!(
                "Troppi destinatari: {}, al massimo {max}.",
                rcpt_to.len()
            )));
        }
        if bozza.oggetto.trim().is_empty()
            && bozza.testo.trim().is_empty()
            && bozza.allegati.is_empty()
        {
            return Err(ComposeError::Invalid(
                "Il messaggio è vuoto: scrivere un oggetto, un testo o allegare un file.".into(),
            ));
        }
        if bozza.oggetto.contains(['\r', '\n']) {
            return Err(ComposeError::Invalid(
                "L'oggetto deve stare su una riga.".into(),
            ));
        }
        Ok(Envelope {
            mail_from: mailbox.to_string(),
            rcpt_to,
        })
    }

    /// The MIME message a client would submit for `bozza`.
    fn scrivi(&self, mailbox: &str, bozza: &Bozza) -> Result<Vec<u8>, EngineError> {
        let now = self.clock.now().timestamp();
        let lista = |v: &[String]| {
            Address::new_list(
                v.iter()
                    .map(|a| Address::new_address(None::<&str>, a.trim().to_string()))
                    .collect(),
            )
        };
        let mut msg = MessageBuilder::new()
            .from(mailbox)
            .to(lista(&bozza.destinatari))
            .subject(bozza.oggetto.as_str())
            .date(now.as_second())
            .message_id(format!(
                "{}.{}@{}",
                now.as_nanosecond(),
                nonce()?,
                self.settings.gestore.dominio
            ))
            .header("X-TipoRicevuta", Raw::new(bozza.ricevuta.as_str()))
            .text_body(bozza.testo.as_str());
        if !bozza.copia.is_empty() {
            msg = msg.cc(lista(&bozza.copia));
        }
        for a in &bozza.allegati {
            let tipo = if tipo_valido(&a.tipo) {
                a.tipo.as_str()
            } else {
                "application/octet-stream"
            };
            msg = msg.attachment(tipo, nome_file(&a.nome), a.dati.as_slice());
        }
        msg.write_to_vec().map_err(|e| build_error("bozza", e))
    }
}

/// A bare address the access point can route: one `@`, a local part and a dotted domain,
/// nothing that would break a header.
fn indirizzo_valido(a: &str) -> bool {
    let Some((local, domain)) = a.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && local
            .chars()
            .all(|c| c.is_ascii_graphic() && !"@<>()[],;:\\\"".contains(c))
}

/// The last component of an attachment's name (some browsers send a whole path), without
/// control characters; `allegato` when nothing is left.
fn nome_file(nome: &str) -> String {
    let base = nome.rsplit(['/', '\\']).next().unwrap_or_default();
    let pulito: String = base.chars().filter(|c| !c.is_control()).collect();
    match pulito.trim() {
        "" => "allegato".into(),
        n => n.into(),
    }
}

/// A `type/subtype` content type and nothing more (whatever a browser sends is not trusted
/// into a header).
fn tipo_valido(t: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    t.split_once('/').is_some_and(|(a, b)| token(a) && token(b))
}

/// 8 random bytes in hex, so that two drafts in the same nanosecond differ.
fn nonce() -> Result<String, EngineError> {
    let mut b = [0u8; 8];
    openssl::rand::rand_bytes(&mut b).map_err(|e| build_error("Message-ID", e))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::{indirizzo_valido, nome_file};

    #[test]
    fn attachment_names() {
        assert_eq!(nome_file("C:\\Documenti\\fattura.pdf"), "fattura.pdf");
        assert_eq!(nome_file("../a/b.txt"), "b.txt");
        assert_eq!(nome_file("x\r\nBcc: y.txt"), "xBcc: y.txt");
        assert_eq!(nome_file(" "), "allegato");
    }

    #[test]
    fn addresses() {
        for ok in ["anna@pec.due.test", "a.b-c+d@x.it"] {
            assert!(indirizzo_valido(ok), "{ok}");
        }
        for bad in [
            "",
            "anna",
            "@x.it",
            "anna@",
            "anna@x",
            "an na@x.it",
            "a@x..it",
            "a<b@x.it",
            "a@x.it,b@y.it",
            "a@-x.it.",
        ] {
            assert!(!indirizzo_valido(bad), "{bad}");
        }
    }
}
