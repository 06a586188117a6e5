//! The two UI catalogs: Italian (the default) and English. Every string a page shows comes
//! from here, so the templates hold no UI text. The language is the `pecora_lingua` cookie
//! set by the switch in the page header, else the first of Italian or English that the
//! browser's `Accept-Language` names, else Italian.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::session::cookie;

/// The cookie that remembers the chosen language.
pub const LANG_COOKIE: &str = "pecora_lingua";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    It,
    En,
}

impl Lang {
    /// The language code, as in the cookie and in `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::It => "it",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "it" => Some(Lang::It),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn catalog(self) -> &'static Catalog {
        match self {
            Lang::It => &IT,
            Lang::En => &EN,
        }
    }

    /// The first of `it`/`en` an `Accept-Language` value names (quality values are taken in
    /// the order written, which is how browsers send them).
    fn from_accept_language(value: &str) -> Option<Lang> {
        value.split(',').find_map(|item| {
            let tag = item.split(';').next()?.trim().to_ascii_lowercase();
            Lang::from_code(tag.split('-').next()?)
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Lang, Infallible> {
        if let Some(lang) = cookie(&parts.headers, LANG_COOKIE).and_then(|c| Lang::from_code(&c)) {
            return Ok(lang);
        }
        Ok(parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Lang::from_accept_language)
            .unwrap_or(Lang::It))
    }
}

/// Every UI string, in one language.
pub struct Catalog {
    pub app_name: &'static str,
    pub logout: &'static str,
    pub logged_in_as: &'static str,
    pub switch_language: &'static str,
    pub login_title: &'static str,
    pub admin_login_title: &'static str,
    pub login_name: &'static str,
    pub password: &'static str,
    pub login_submit: &'static str,
    pub login_failed: &'static str,
    pub login_locked: &'static str,
    pub login_inactive: &'static str,
    pub not_found: &'static str,
    pub csrf_refused: &'static str,
    pub forbidden: &'static str,
    pub login_outside_domain: &'static str,
    pub nav_mail: &'static str,
    pub nav_compose: &'static str,
    pub nav_settings: &'static str,
    pub nav_admin: &'static str,
    pub bad_request: &'static str,
    pub internal_error: &'static str,
    pub folders: &'static str,
    pub inbox: &'static str,
    pub sent: &'static str,
    pub drafts: &'static str,
    pub trash: &'static str,
    pub archive: &'static str,
    pub unseen: &'static str,
    pub col_kind: &'static str,
    pub col_date: &'static str,
    pub col_from: &'static str,
    pub col_subject: &'static str,
    pub empty_folder: &'static str,
    pub previous_page: &'static str,
    pub next_page: &'static str,
    pub page: &'static str,
    pub no_subject: &'static str,
    pub badge_pec: &'static str,
    pub badge_sent: &'static str,
    pub badge_anomalia: &'static str,
    pub badge_ordinary: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub cc: &'static str,
    pub subject: &'static str,
    pub date: &'static str,
    pub attachments: &'static str,
    pub download_eml: &'static str,
    pub back_to_folder: &'static str,
    pub certified_title: &'static str,
    pub certified_sender: &'static str,
    pub certified_at: &'static str,
    pub identificativo: &'static str,
    pub signed_by: &'static str,
    pub signature_ok: &'static str,
    pub signature_bad: &'static str,
    pub signature_reason: &'static str,
    pub not_certified: &'static str,
    pub anomalia_warning: &'static str,
    pub sent_copy: &'static str,
    pub receipt_recipient: &'static str,
    pub receipt_error: &'static str,
    pub open_original: &'static str,
    pub remote_content_blocked: &'static str,
    pub no_body: &'static str,
    /// Names of the PEC kinds, by `pec::Kind::slug`.
    pub kinds: &'static [(&'static str, &'static str)],
}

impl Catalog {
    /// The name of a PEC kind from its slug; the slug itself for one we do not know.
    pub fn kind_name<'a>(&self, slug: &'a str) -> &'a str {
        self.kinds
            .iter()
            .find(|(s, _)| *s == slug)
            .map_or(slug, |(_, name)| name)
    }
}

pub static IT: Catalog = Catalog {
    app_name: "Pecora PEC",
    logout: "Esci",
    logged_in_as: "Casella",
    switch_language: "English",
    login_title: "Accesso alla casella PEC",
    login_name: "Indirizzo PEC o nome utente",
    password: "Password",
    login_submit: "Accedi",
    login_failed: "Credenziali non valide.",
    login_locked: "Troppi tentativi falliti: accesso sospeso per 15 minuti. Riprova più tardi.",
    login_inactive: "La casella non è attiva.",
    not_found: "Pagina o messaggio non trovato.",
    csrf_refused: "Richiesta rifiutata: il modulo è scaduto o non proviene da questa pagina. Ricarica la pagina e riprova.",
    forbidden: "Operazione non consentita a questo account.",
    login_outside_domain: "Un nome utente in forma di indirizzo dev'essere di un dominio che gestisci.",
    nav_mail: "Posta",
    admin_login_title: "Accesso all'amministrazione",
    nav_compose: "Scrivi",
    nav_settings: "Impostazioni",
    nav_admin: "Amministrazione",
    bad_request: "Richiesta non valida.",
    internal_error: "Errore interno del server. Riprova più tardi.",
    folders: "Cartelle",
    inbox: "Posta in arrivo",
    sent: "Posta inviata",
    drafts: "Bozze",
    trash: "Cestino",
    archive: "Archivio",
    unseen: "non letti",
    col_kind: "Tipo",
    col_date: "Data",
    col_from: "Mittente",
    col_subject: "Oggetto",
    empty_folder: "La cartella è vuota.",
    previous_page: "Precedenti",
    next_page: "Successivi",
    page: "Pagina",
    no_subject: "(senza oggetto)",
    badge_pec: "PEC",
    badge_sent: "PEC inviata",
    badge_anomalia: "Anomalia",
    badge_ordinary: "Posta ordinaria",
    from: "Da",
    to: "A",
    cc: "Cc",
    subject: "Oggetto",
    date: "Data",
    attachments: "Allegati",
    download_eml: "Scarica il messaggio (.eml)",
    back_to_folder: "Torna alla cartella",
    certified_title: "Messaggio di posta certificata",
    certified_sender: "Mittente certificato",
    certified_at: "Certificato il",
    identificativo: "Identificativo",
    signed_by: "Firmato dal gestore",
    signature_ok: "La firma del gestore è valida.",
    signature_bad: "La firma del gestore NON è valida: il messaggio potrebbe essere stato alterato.",
    signature_reason: "Motivo",
    not_certified: "Messaggio non certificato: non ha valore di posta elettronica certificata.",
    anomalia_warning: "Busta di anomalia: il gestore ha ricevuto questo messaggio senza poterne certificare l'origine.",
    sent_copy: "Copia del messaggio inviato come posta certificata: le ricevute ne attestano l'invio e la consegna.",
    receipt_recipient: "Destinatario",
    receipt_error: "Errore",
    open_original: "Apri il messaggio originale in Posta inviata",
    remote_content_blocked: "Il contenuto remoto (immagini esterne) è stato bloccato.",
    no_body: "(nessun testo)",
    kinds: &[
        ("accettazione", "Ricevuta di accettazione"),
        ("non-accettazione", "Avviso di non accettazione"),
        (
            "non-accettazione-virus",
            "Avviso di non accettazione per virus",
        ),
        ("posta-certificata", "Messaggio di posta certificata"),
        ("presa-in-carico", "Ricevuta di presa in carico"),
        ("anomalia", "Anomalia nel messaggio"),
        ("rilevazione-virus", "Avviso di rilevazione virus"),
        (
            "avvenuta-consegna-completa",
            "Ricevuta di avvenuta consegna",
        ),
        (
            "avvenuta-consegna-breve",
            "Ricevuta breve di avvenuta consegna",
        ),
        (
            "avvenuta-consegna-sintetica",
            "Ricevuta sintetica di avvenuta consegna",
        ),
        ("errore-consegna", "Avviso di mancata consegna"),
        (
            "errore-consegna-virus",
            "Avviso di mancata consegna per virus",
        ),
        (
            "preavviso-errore-consegna-12h",
            "Preavviso di mancata consegna (12 ore)",
        ),
        (
            "preavviso-errore-consegna-24h",
            "Avviso di mancata consegna (24 ore)",
        ),
        (
            "preavviso-errore-consegna",
            "Avviso di mancata consegna per superamento dei tempi massimi",
        ),
    ],
};

pub static EN: Catalog = Catalog {
    app_name: "Pecora PEC",
    logout: "Log out",
    logged_in_as: "Mailbox",
    switch_language: "Italiano",
    login_title: "Sign in to your PEC mailbox",
    login_name: "PEC address or user name",
    password: "Password",
    login_submit: "Sign in",
    login_failed: "Invalid credentials.",
    login_locked: "Too many failed attempts: sign-in is suspended for 15 minutes. Try again later.",
    login_inactive: "The mailbox is not active.",
    not_found: "Page or message not found.",
    csrf_refused: "Request refused: the form has expired or did not come from this page. Reload the page and try again.",
    forbidden: "This account may not do that.",
    login_outside_domain: "A login shaped like an address must be of a domain you manage.",
    nav_mail: "Mail",
    admin_login_title: "Administration login",
    nav_compose: "Compose",
    nav_settings: "Settings",
    nav_admin: "Administration",
    bad_request: "Bad request.",
    internal_error: "Internal server error. Try again later.",
    folders: "Folders",
    inbox: "Inbox",
    sent: "Sent",
    drafts: "Drafts",
    trash: "Trash",
    archive: "Archive",
    unseen: "unread",
    col_kind: "Kind",
    col_date: "Date",
    col_from: "From",
    col_subject: "Subject",
    empty_folder: "This folder is empty.",
    previous_page: "Newer",
    next_page: "Older",
    page: "Page",
    no_subject: "(no subject)",
    badge_pec: "PEC",
    badge_sent: "PEC sent",
    badge_anomalia: "Anomaly",
    badge_ordinary: "Ordinary mail",
    from: "From",
    to: "To",
    cc: "Cc",
    subject: "Subject",
    date: "Date",
    attachments: "Attachments",
    download_eml: "Download the message (.eml)",
    back_to_folder: "Back to the folder",
    certified_title: "Certified e-mail message",
    certified_sender: "Certified sender",
    certified_at: "Certified on",
    identificativo: "Message identifier",
    signed_by: "Signed by the provider",
    signature_ok: "The provider's signature verifies.",
    signature_bad: "The provider's signature does NOT verify: the message may have been altered.",
    signature_reason: "Reason",
    not_certified: "Not a certified message: it has no legal value as PEC.",
    anomalia_warning: "Anomaly envelope: the provider received this message but could not certify where it came from.",
    sent_copy: "Copy of a message sent as certified e-mail: its receipts attest sending and delivery.",
    receipt_recipient: "Recipient",
    receipt_error: "Error",
    open_original: "Open the original message in Sent",
    remote_content_blocked: "Remote content (external images) was blocked.",
    no_body: "(no text)",
    kinds: &[
        ("accettazione", "Acceptance receipt"),
        ("non-accettazione", "Non-acceptance notice"),
        ("non-accettazione-virus", "Non-acceptance notice (virus)"),
        ("posta-certificata", "Certified e-mail message"),
        ("presa-in-carico", "Take-charge receipt"),
        ("anomalia", "Anomaly in the message"),
        ("rilevazione-virus", "Virus detection notice"),
        ("avvenuta-consegna-completa", "Delivery receipt"),
        ("avvenuta-consegna-breve", "Short delivery receipt"),
        ("avvenuta-consegna-sintetica", "Summary delivery receipt"),
        ("errore-consegna", "Non-delivery notice"),
        ("errore-consegna-virus", "Non-delivery notice (virus)"),
        (
            "preavviso-errore-consegna-12h",
            "Non-delivery warning after 12 hours",
        ),
        (
            "preavviso-errore-consegna-24h",
            "Non-delivery notice after 24 hours",
        ),
        (
            "preavviso-errore-consegna",
            "Non-delivery notice (time limit exceeded)",
        ),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_first_known_language() {
        assert_eq!(
            Lang::from_accept_language("en-GB,en;q=0.9,it;q=0.5"),
            Some(Lang::En)
        );
        assert_eq!(
            Lang::from_accept_language("de-DE, it-IT;q=0.8"),
            Some(Lang::It)
        );
        assert_eq!(Lang::from_accept_language("de, fr"), None);
    }

    #[test]
    fn both_catalogs_name_every_kind() {
        assert_eq!(IT.kinds.len(), EN.kinds.len());
        for ((a, _), (b, _)) in IT.kinds.iter().zip(EN.kinds) {
            assert_eq!(a, b);
        }
        assert_eq!(IT.kind_name("accettazione"), "Ricevuta di accettazione");
        assert_eq!(EN.kind_name("sconosciuto"), "sconosciuto");
    }
}
