//! The strings of the settings, activation and recovery pages, in Italian and English: kept
//! beside the pages that show them, so that the shared catalog of [`crate::i18n`] holds only
//! what every page needs.

use engine::settings::{PasswordPolicy, PolicyViolation};

use crate::i18n::Lang;

pub struct Testi {
    pub titolo: &'static str,
    /// The link to the REST API's keys (`/impostazioni/api`).
    pub chiavi_api: &'static str,
    pub salva: &'static str,
    pub salvato: &'static str,
    pub sola_lettura: &'static str,
    // The password forms.
    pub sez_password: &'static str,
    pub password_attuale: &'static str,
    pub password_nuova: &'static str,
    pub password_ripeti: &'static str,
    pub regole_titolo: &'static str,
    /// `{min}` and `{max}` are replaced.
    pub regola_lunghezza: &'static str,
    pub regola_lettera: &'static str,
    pub regola_cifra: &'static str,
    pub regola_attuale: &'static str,
    /// `{n}` is replaced.
    pub regola_storia: &'static str,
    /// `{n}` is replaced.
    pub troppo_corta: &'static str,
    /// `{n}` is replaced.
    pub troppo_lunga: &'static str,
    pub senza_lettera: &'static str,
    pub senza_cifra: &'static str,
    pub gia_usata: &'static str,
    pub non_coincidono: &'static str,
    pub attuale_errata: &'static str,
    pub password_cambiata: &'static str,
    // Ordinary mail.
    pub sez_ordinaria: &'static str,
    pub ordinaria_spiega: &'static str,
    pub ordinaria_rifiuta: &'static str,
    pub ordinaria_inoltra: &'static str,
    pub ordinaria_anomalia: &'static str,
    pub ordinaria_cartella: &'static str,
    pub ordinaria_indirizzo: &'static str,
    pub ordinaria_nome_cartella: &'static str,
    pub politica_sconosciuta: &'static str,
    pub cartella_mancante: &'static str,
    pub cartella_non_valida: &'static str,
    pub cartella_archivio: &'static str,
    // New-PEC notices.
    pub sez_avvisi: &'static str,
    pub avvisi_spiega: &'static str,
    pub avvisi_a: &'static str,
    pub avvisi_da: &'static str,
    pub elenco_aiuto: &'static str,
    /// `{n}` is replaced.
    pub troppi_indirizzi: &'static str,
    pub mittenti_senza_destinatari: &'static str,
    // Forwarded copy.
    pub sez_copia: &'static str,
    pub copia_spiega: &'static str,
    pub copia_indirizzo: &'static str,
    pub vuoto_disattiva: &'static str,
    // Daily report.
    pub sez_resoconto: &'static str,
    pub resoconto_spiega: &'static str,
    pub resoconto_attivo: &'static str,
    // Recovery address and profile.
    pub sez_recupero: &'static str,
    pub recupero_spiega: &'static str,
    pub recupero_indirizzo: &'static str,
    pub sez_profilo: &'static str,
    pub nome: &'static str,
    pub cognome: &'static str,
    pub email: &'static str,
    pub campo_vuoto: &'static str,
    pub indirizzo_non_valido: &'static str,
    // Activation.
    pub attivazione_titolo: &'static str,
    pub attivazione_spiega: &'static str,
    /// `{data}` is replaced.
    pub attivazione_scadenza: &'static str,
    pub attivazione_profilo: &'static str,
    pub attiva: &'static str,
    pub attivazione_scaduta: &'static str,
    pub attivazione_non_attesa: &'static str,
    // Recovery.
    pub password_dimenticata: &'static str,
    pub recupero_titolo: &'static str,
    pub recupero_chiedi: &'static str,
    pub indirizzo_pec: &'static str,
    pub recupero_invia: &'static str,
    pub recupero_inviato: &'static str,
    pub troppi_tentativi: &'static str,
    pub nuova_titolo: &'static str,
    pub link_non_valido: &'static str,
    pub nuova_fatta: &'static str,
    pub vai_accesso: &'static str,
    pub ricomincia: &'static str,
}

impl Testi {
    pub fn of(lang: Lang) -> &'static Testi {
        match lang {
            Lang::It => &IT,
            Lang::En => &EN,
        }
    }

    /// What a password must be under `policy`, one rule a line.
    pub fn regole(&self, policy: &PasswordPolicy) -> Vec<String> {
        let mut rules = vec![
            self.regola_lunghezza
                .replace("{min}", &policy.min_len.to_string())
                .replace("{max}", &policy.max_len.to_string()),
        ];
        if policy.require_letter {
            rules.push(self.regola_lettera.to_string());
        }
        if policy.require_digit {
            rules.push(self.regola_cifra.to_string());
        }
        rules.push(match policy.history {
            0 => self.regola_attuale.to_string(),
            n => self.regola_storia.replace("{n}", &n.to_string()),
        });
        rules
    }

    /// One broken rule in plain words.
    pub fn violazione(&self, v: PolicyViolation) -> String {
        match v {
            PolicyViolation::TooShort(n) => self.troppo_corta.replace("{n}", &n.to_string()),
            PolicyViolation::TooLong(n) => self.troppo_lunga.replace("{n}", &n.to_string()),
            PolicyViolation::NoLetter => self.senza_lettera.to_string(),
            PolicyViolation::NoDigit => self.senza_cifra.to_string(),
            PolicyViolation::Reused => self.gia_usata.to_string(),
        }
    }
}

pub static IT: Testi = Testi {
    titolo: "Impostazioni",
    chiavi_api: "Chiavi per l'API dei sistemi di protocollo",
    salva: "Salva",
    salvato: "Impostazione salvata.",
    sola_lettura: "Il tuo ruolo di delegato consente di vedere queste impostazioni, non di modificarle.",
    sez_password: "Password",
    password_attuale: "Password attuale",
    password_nuova: "Nuova password",
    password_ripeti: "Ripeti la nuova password",
    regole_titolo: "La nuova password deve:",
    regola_lunghezza: "avere da {min} a {max} caratteri",
    regola_lettera: "contenere almeno una lettera",
    regola_cifra: "contenere almeno una cifra",
    regola_attuale: "essere diversa da quella attuale",
    regola_storia: "essere diversa da quella attuale e dalle {n} precedenti",
    troppo_corta: "La password è troppo corta: servono almeno {n} caratteri.",
    troppo_lunga: "La password è troppo lunga: al massimo {n} caratteri.",
    senza_lettera: "La password deve contenere almeno una lettera.",
    senza_cifra: "La password deve contenere almeno una cifra.",
    gia_usata: "Questa password è già stata usata: scegline una nuova.",
    non_coincidono: "Le due nuove password non coincidono.",
    attuale_errata: "La password attuale non è corretta.",
    password_cambiata: "Password cambiata. Le altre sessioni aperte con questo accesso sono state chiuse.",
    sez_ordinaria: "Posta ordinaria",
    ordinaria_spiega: "Cosa fare dei messaggi di posta ordinaria (non certificata) indirizzati a questa casella.",
    ordinaria_rifiuta: "Rifiutarli (solo posta certificata)",
    ordinaria_inoltra: "Inoltrarli a un indirizzo di posta ordinaria",
    ordinaria_anomalia: "Accettarli in Posta in arrivo come anomalia",
    ordinaria_cartella: "Accettarli in una cartella",
    ordinaria_indirizzo: "Indirizzo a cui inoltrare",
    ordinaria_nome_cartella: "Cartella",
    politica_sconosciuta: "Scegli una delle opzioni.",
    cartella_mancante: "Indica la cartella.",
    cartella_non_valida: "Nome di cartella non valido.",
    cartella_archivio: "Le cartelle dell'archivio non possono ricevere posta ordinaria.",
    sez_avvisi: "Avviso di nuovi messaggi PEC",
    avvisi_spiega: "Per ogni nuovo messaggio PEC un avviso di posta ordinaria agli indirizzi indicati. L'avviso riporta solo mittente, destinatario e oggetto, mai il contenuto.",
    avvisi_a: "Invia l'avviso a (al massimo 2 indirizzi)",
    avvisi_da: "Solo per i messaggi di questi mittenti (al massimo 2; vuoto: tutti)",
    elenco_aiuto: "Indirizzi separati da virgole.",
    troppi_indirizzi: "Al massimo {n} indirizzi.",
    mittenti_senza_destinatari: "Indica prima a chi inviare gli avvisi.",
    sez_copia: "Copia dei messaggi",
    copia_spiega: "Una copia di ogni messaggio PEC ricevuto a un indirizzo di posta ordinaria. La copia non ha alcun valore legale.",
    copia_indirizzo: "Indirizzo per la copia",
    vuoto_disattiva: "Lascia vuoto per disattivare.",
    sez_resoconto: "Resoconto giornaliero",
    resoconto_spiega: "Ogni mattina, in Posta in arrivo, il riepilogo dei messaggi del giorno precedente.",
    resoconto_attivo: "Ricevi il resoconto giornaliero",
    sez_recupero: "Indirizzo di recupero",
    recupero_spiega: "L'indirizzo di posta ordinaria a cui inviare il collegamento per reimpostare la password, se la dimentichi.",
    recupero_indirizzo: "Indirizzo di recupero",
    sez_profilo: "Dati del titolare",
    nome: "Nome",
    cognome: "Cognome",
    email: "E-mail ordinaria",
    campo_vuoto: "Campo obbligatorio.",
    indirizzo_non_valido: "Non è un indirizzo e-mail valido.",
    attivazione_titolo: "Attivazione della casella",
    attivazione_spiega: "Per attivare la casella conferma o correggi i tuoi dati e scegli una nuova password al posto di quella iniziale.",
    attivazione_scadenza: "La casella va attivata entro il {data}: dopo sarà bloccata.",
    attivazione_profilo: "I tuoi dati",
    attiva: "Attiva la casella",
    attivazione_scaduta: "Il termine per attivare la casella è scaduto: la casella è bloccata. Rivolgiti al gestore.",
    attivazione_non_attesa: "La casella non è in attesa di attivazione.",
    password_dimenticata: "Password dimenticata?",
    recupero_titolo: "Recupero della password",
    recupero_chiedi: "Indica la casella PEC: se ha un indirizzo di recupero, vi invieremo un collegamento per scegliere una nuova password.",
    indirizzo_pec: "Indirizzo PEC",
    recupero_invia: "Invia il collegamento",
    recupero_inviato: "Se la casella indicata ha un indirizzo di recupero, le abbiamo inviato un collegamento per scegliere una nuova password. Il collegamento vale una sola volta e per un tempo limitato.",
    troppi_tentativi: "Troppi tentativi: riprova tra 15 minuti.",
    nuova_titolo: "Scegli una nuova password",
    link_non_valido: "Il collegamento non è valido: è scaduto, è già stato usato o è incompleto.",
    nuova_fatta: "Password cambiata. Ora puoi accedere con la nuova password.",
    vai_accesso: "Vai all'accesso",
    ricomincia: "Chiedi un nuovo collegamento",
};

pub static EN: Testi = Testi {
    titolo: "Settings",
    chiavi_api: "Keys for the protocol systems' API",
    salva: "Save",
    salvato: "Setting saved.",
    sola_lettura: "Your delegate role lets you see these settings, not change them.",
    sez_password: "Password",
    password_attuale: "Current password",
    password_nuova: "New password",
    password_ripeti: "Repeat the new password",
    regole_titolo: "The new password must:",
    regola_lunghezza: "be {min} to {max} characters long",
    regola_lettera: "contain at least one letter",
    regola_cifra: "contain at least one digit",
    regola_attuale: "differ from the current one",
    regola_storia: "differ from the current one and the {n} before it",
    troppo_corta: "The password is too short: at least {n} characters are needed.",
    troppo_lunga: "The password is too long: at most {n} characters.",
    senza_lettera: "The password must contain at least one letter.",
    senza_cifra: "The password must contain at least one digit.",
    gia_usata: "This password was used before: choose a new one.",
    non_coincidono: "The two new passwords do not match.",
    attuale_errata: "The current password is wrong.",
    password_cambiata: "Password changed. The other sessions open with this login were closed.",
    sez_ordinaria: "Ordinary mail",
    ordinaria_spiega: "What to do with ordinary (not certified) messages sent to this mailbox.",
    ordinaria_rifiuta: "Refuse them (certified mail only)",
    ordinaria_inoltra: "Forward them to an ordinary address",
    ordinaria_anomalia: "Accept them into the Inbox as anomalies",
    ordinaria_cartella: "Accept them into a folder",
    ordinaria_indirizzo: "Address to forward to",
    ordinaria_nome_cartella: "Folder",
    politica_sconosciuta: "Choose one of the options.",
    cartella_mancante: "Name the folder.",
    cartella_non_valida: "Not a valid folder name.",
    cartella_archivio: "Archive folders cannot receive ordinary mail.",
    sez_avvisi: "New PEC notices",
    avvisi_spiega: "For every new PEC message, an ordinary e-mail notice to the addresses given. A notice carries only the sender, the recipient and the subject, never the content.",
    avvisi_a: "Send the notice to (at most 2 addresses)",
    avvisi_da: "Only for messages from these senders (at most 2; empty: all)",
    elenco_aiuto: "Addresses separated by commas.",
    troppi_indirizzi: "At most {n} addresses.",
    mittenti_senza_destinatari: "First say where the notices go.",
    sez_copia: "Forwarded copy",
    copia_spiega: "A copy of every PEC message received, to an ordinary address. The copy has no legal value.",
    copia_indirizzo: "Address for the copy",
    vuoto_disattiva: "Leave empty to turn it off.",
    sez_resoconto: "Daily report",
    resoconto_spiega: "Every morning, in the Inbox, a summary of the previous day's messages.",
    resoconto_attivo: "Receive the daily report",
    sez_recupero: "Recovery address",
    recupero_spiega: "The ordinary e-mail address that gets the link to reset the password, should you forget it.",
    recupero_indirizzo: "Recovery address",
    sez_profilo: "Holder's details",
    nome: "First name",
    cognome: "Last name",
    email: "Ordinary e-mail",
    campo_vuoto: "Required.",
    indirizzo_non_valido: "Not a valid e-mail address.",
    attivazione_titolo: "Mailbox activation",
    attivazione_spiega: "To activate the mailbox, confirm or correct your details and choose a new password instead of the initial one.",
    attivazione_scadenza: "Activate the mailbox by {data}: after that it will be blocked.",
    attivazione_profilo: "Your details",
    attiva: "Activate the mailbox",
    attivazione_scaduta: "The deadline to activate the mailbox has passed: the mailbox is blocked. Contact the provider.",
    attivazione_non_attesa: "The mailbox is not awaiting activation.",
    password_dimenticata: "Forgot your password?",
    recupero_titolo: "Password recovery",
    recupero_chiedi: "Enter the PEC mailbox: if it has a recovery address, we will send it a link to choose a new password.",
    indirizzo_pec: "PEC address",
    recupero_invia: "Send the link",
    recupero_inviato: "If that mailbox has a recovery address, a link to choose a new password was sent to it. The link works once and for a limited time.",
    troppi_tentativi: "Too many attempts: try again in 15 minutes.",
    nuova_titolo: "Choose a new password",
    link_non_valido: "The link is not valid: it expired, was already used, or is incomplete.",
    nuova_fatta: "Password changed. You can now sign in with the new password.",
    vai_accesso: "Go to sign-in",
    ricomincia: "Ask for a new link",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_reads_in_both_languages() {
        let policy = PasswordPolicy::default();
        assert_eq!(
            IT.regole(&policy),
            [
                "avere da 8 a 20 caratteri",
                "contenere almeno una lettera",
                "contenere almeno una cifra",
                "essere diversa da quella attuale e dalle 5 precedenti",
            ]
        );
        assert_eq!(
            EN.violazione(PolicyViolation::TooShort(8)),
            "The password is too short: at least 8 characters are needed."
        );
    }
}
