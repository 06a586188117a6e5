//! The quota warning (seed 000: "I titolari ricevono un avviso al superamento del 90% della
//! quota"): when a delivery takes a box to 90 % of its quota or beyond, the holder gets one
//! message in the box saying so (also sent to their notification addresses, if they set
//! any). The store remembers that it was sent ([`store::Mailbox::quota_warned`]) until usage
//! falls below 90 % again, so each crossing warns exactly once. A full box is the punto di consegna's business: it answers with the
//! "casella piena" mancata consegna (reception.rs).

use store::{Batch, Mailbox};

use crate::service_mail::ServiceMail;
use crate::{Engine, EngineError};

/// Whether `m` is at or beyond 90 % of a nonzero quota.
pub fn over_warning_level(m: &Mailbox) -> bool {
    m.quota > 0 && u128::from(m.used) * 10 >= u128::from(m.quota) * 9
}

impl Engine {
    /// Delivers the quota warning to `mailbox` if it has just crossed 90 % and was not warned
    /// yet. One check at a time in this process, so two deliveries crossing together warn
    /// once.
    pub(crate) async fn warn_quota(&self, mailbox: &str) -> Result<(), EngineError> {
        let _one_at_a_time = self.quota_check.lock().await;
        let Some(m) = self.store.mailbox(mailbox).await? else {
            return Ok(());
        };
        if m.quota_warned || !over_warning_level(&m) {
            return Ok(());
        }
        let bytes = self.avviso_quota(&m)?;
        let blob = self.store.put(&bytes).await?;
        let mut batch = Batch {
            deliveries: vec![crate::service_mail::into_inbox(&m.address, blob, &bytes)],
            quota_warned: vec![m.address.clone()],
            ..Batch::default()
        };
        // Also to the holder's notification addresses, where they registered some (the
        // new-PEC notice addresses of their settings).
        let notify = self
            .store
            .holder_settings(&m.address)
            .await?
            .map(|h| h.notice.to)
            .unwrap_or_default();
        if !notify.is_empty() {
            let now = self.clock.now().timestamp().as_second();
            self.queue_ordinary(&mut batch, &bytes, &notify, now)
                .await?;
        }
        self.file(&mut batch).await?;
        // Not through `Engine::commit`, which calls this function.
        let queued = !batch.enqueue.is_empty();
        self.store.commit(batch).await?;
        if queued {
            self.relay_wake.notify_one();
        }
        self.mailbox_changed(&m.address);
        tracing::info!(mailbox = %m.address, used = m.used, quota = m.quota, "avviso di quota");
        Ok(())
    }

    /// The warning message: from the gestore's service address to the holder, plain text.
    fn avviso_quota(&self, m: &Mailbox) -> Result<Vec<u8>, EngineError> {
        let now = self.clock.now().timestamp().as_second();
        let percent = u128::from(m.used) * 100 / u128::from(m.quota.max(1));
        let text = format!(
            "Gentile titolare,\r\n\r\n\
             la casella di posta certificata {address} ha raggiunto il {percent}% dello spazio \
             disponibile ({used} byte occupati su {quota}).\r\n\r\n\
             Quando la casella e' piena i messaggi in arrivo non vengono consegnati e il \
             mittente riceve un avviso di mancata consegna. Liberi spazio eliminando o \
             archiviando messaggi, oppure chieda al gestore di aumentare la quota.\r\n\r\n\
             {gestore}\r\n",
            address = m.address,
            used = m.used,
            quota = m.quota,
            gestore = self.settings.gestore.nome,
        );
        self.service_mail(ServiceMail {
            what: "quota",
            to: &m.address,
            subject: format!(
                "Avviso: casella {} oltre il 90% dello spazio disponibile",
                m.address
            ),
            text,
            key: format!("{now}.{}", m.address),
            date: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_level_is_ninety_percent_of_a_real_quota() {
        let mut m = crate::test_mailbox(store::MailboxKind::Standard, 1000, 899);
        assert!(!over_warning_level(&m));
        m.used = 900;
        assert!(over_warning_level(&m));
        m.quota = 0;
        assert!(!over_warning_level(&m), "no quota, no warning");
        m.quota = u64::MAX;
        m.used = u64::MAX;
        assert!(over_warning_level(&m), "no overflow");
    }
}
