//! The strings of the API keys page (`/impostazioni/api`), in Italian and English, beside
//! the page that shows them, and the API's own messages meant for a person.

use crate::i18n::Lang;

pub struct Testi {
    pub titolo: &'static str,
    pub spiega: &'static str,
    pub nessuna: &'static str,
    pub etichetta: &'static str,
    pub creata: &'static str,
    pub stato: &'static str,
    pub attiva: &'static str,
    pub revocata: &'static str,
    pub revoca: &'static str,
    pub crea: &'static str,
    pub nuova_titolo: &'static str,
    pub nuova_spiega: &'static str,
    pub revocata_ok: &'static str,
    pub etichetta_vuota: &'static str,
    pub non_ammesso: &'static str,
    /// An `Idempotency-Key` the box used before, sent with another message.
    pub chiave_riusata: &'static str,
}

pub static IT: Testi = Testi {
    titolo: "Chiavi API",
    spiega: "Un sistema di protocollo usa una chiave per leggere la casella e inviare PEC tramite l'API REST (documentazione: /api/openapi.json). Chi ha la chiave agisce come il titolare: revocala appena non serve più.",
    nessuna: "Nessuna chiave.",
    etichetta: "Etichetta",
    creata: "Creata il",
    stato: "Stato",
    attiva: "attiva",
    revocata: "revocata",
    revoca: "Revoca",
    crea: "Crea una chiave",
    nuova_titolo: "Nuova chiave",
    nuova_spiega: "Copiala ora: non sarà più mostrata.",
    revocata_ok: "Chiave revocata.",
    etichetta_vuota: "Scrivi un'etichetta (da 1 a 100 caratteri) per riconoscere la chiave.",
    non_ammesso: "Solo il titolare o un delegato alla gestione può gestire le chiavi API.",
    chiave_riusata: "Questa Idempotency-Key è già stata usata per un messaggio diverso: nulla è stato inviato. Usa una chiave nuova per ogni nuovo messaggio.",
};

pub static EN: Testi = Testi {
    titolo: "API keys",
    spiega: "A protocol system uses a key to read the box and send PEC through the REST API (documentation: /api/openapi.json). Whoever has the key acts as the holder: revoke it as soon as it is no longer needed.",
    nessuna: "No keys.",
    etichetta: "Label",
    creata: "Created",
    stato: "State",
    attiva: "active",
    revocata: "revoked",
    revoca: "Revoke",
    crea: "Create a key",
    nuova_titolo: "New key",
    nuova_spiega: "Copy it now: it will not be shown again.",
    revocata_ok: "Key revoked.",
    etichetta_vuota: "Write a label (1 to 100 characters) to recognise the key by.",
    non_ammesso: "Only the holder or a delegate with management rights may manage API keys.",
    chiave_riusata: "This Idempotency-Key was already used for a different message: nothing was sent. Use a new key for each new message.",
};

impl Testi {
    pub fn of(lang: Lang) -> &'static Testi {
        match lang {
            Lang::It => &IT,
            Lang::En => &EN,
        }
    }
}
