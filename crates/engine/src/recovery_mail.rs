//! The password-recovery message (seed 003): [`Engine::start_recovery`] makes the
//! time-limited link, and the web hands it here to be sent, as ordinary mail from the
//! service address, to the recovery address the holder registered.

use jiff::Timestamp;
use store::Batch;

use crate::clock::rome;
use crate::service_mail::ServiceMail;
use crate::settings::RecoveryLink;
use crate::{Engine, EngineError, build_error};

impl Engine {
    /// Queues the message carrying `url` (the web's page for `link`'s token) and its expiry
    /// to `link.send_to`.
    pub async fn send_recovery_mail(
        &self,
        link: &RecoveryLink,
        url: &str,
    ) -> Result<(), EngineError> {
        let now = self.clock.now().timestamp().as_second();
        let expires = Timestamp::from_second(link.expires_at)
            .map_err(|e| build_error("messaggio di recupero password", e))?
            .to_zoned(rome())
            .strftime("%d/%m/%Y alle %H:%M")
            .to_string();
        let text = format!(
            "Gentile titolare,\r\n\r\n\
             e' stato chiesto di reimpostare la password della casella di posta certificata \
             {mailbox}. Per scegliere una nuova password apra questo collegamento:\r\n\r\n\
             {url}\r\n\r\n\
             Il collegamento vale una sola volta e scade il {expires} (ora italiana).\r\n\
             Se non e' stato lei a chiederlo, ignori questo messaggio: la password resta \
             quella attuale.\r\n\r\n\
             {gestore}\r\n",
            mailbox = link.mailbox,
            gestore = self.settings.gestore.nome,
        );
        let bytes = self.service_mail(ServiceMail {
            what: "recupero-password",
            to: &link.send_to,
            subject: format!("Recupero della password della casella {}", link.mailbox),
            text,
            key: format!("{now}.{}", link.mailbox),
            date: now,
        })?;
        let mut batch = Batch::default();
        self.queue_ordinary(&mut batch, &bytes, std::slice::from_ref(&link.send_to), now)
            .await?;
        self.commit(batch).await?;
        tracing::info!(mailbox = %link.mailbox, "messaggio di recupero password in coda");
        Ok(())
    }
}
