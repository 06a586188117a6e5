//! What the administration panel does (issue 6 §4, seeds 002/003/004), as engine operations
//! so that the web and any other front end apply the same rules: every action takes the
//! acting [`Admin`], is refused outside its scope, and leaves an `admin-<azione>` event in
//! the legal log with the admin's login as `actor` (spec §8.3: the log records every
//! operation; the store's [`NewLogEvent`] documents the convention).
//!
//! A postmaster ([`AdminScope::Domain`]) manages the boxes of its domain; a box of another
//! domain is [`AdminError::NotFound`], exactly as a box that does not exist, so one tenant
//! never learns of another's boxes. Provider-wide actions (domains, admins, traffic) by a
//! postmaster are [`AdminError::Forbidden`]. The names an admin creates stay in what it
//! manages too: a box's address, a CSV row's, and a login shaped like an address (a
//! delegate's, a panel account's) must be of a domain it manages ([`Engine::login_nuovo`]),
//! so that no tenant takes the names of another's domain.
//!
//! The store change comes first and its event right after, in a commit of its own (the
//! accounts store has no place in a [`store::Batch`]): a crash in between leaves a change
//! without its event, never an event without its change.
//!
//! Deleting a box takes its messages with it (the store's `delete_mailbox`) and keeps the
//! legal log; an active box cannot be deleted — it must be suspended or revoked first, so a
//! deletion is always a second, deliberate step.

use store::{
    Admin, AdminScope, Delegate, DelegateRole, HolderProfile, Mailbox, MailboxKind, MailboxState,
    NewDelegate, NewLogEvent, NewMailbox, OrdinaryMail, StoreError,
};

use crate::accounts::hash_password;
use crate::riga::Riga;
use crate::{Engine, EngineError, domain_of};

/// Why an admin action was not done.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No such box, delegate or domain — or one outside the admin's scope.
    #[error("not found: {0}")]
    NotFound(String),
    /// A provider-wide action asked by a domain's postmaster.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The action makes no sense as asked (an active box to delete, a name taken, an
    /// address that is not one); the text says why.
    #[error("{0}")]
    Refused(String),
    /// A login shaped like an address (the login named) whose domain the admin does not
    /// manage, or the provider does not host.
    #[error("{0}: a login shaped like an address must be of a domain the admin manages")]
    FuoriDominio(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> AdminError {
        match e {
            StoreError::NotFound(what) => AdminError::NotFound(what),
            StoreError::AlreadyExists(what) => {
                AdminError::Refused(format!("already exists: {what}"))
            }
            StoreError::InvalidSetting(why) => AdminError::Refused(why),
            other => AdminError::Engine(other.into()),
        }
    }
}

/// A box to create from the panel.
#[derive(Debug, Clone)]
pub struct NuovaCasella {
    pub indirizzo: String,
    pub tipo: MailboxKind,
    /// Bytes; 0 = unlimited. The caller picks the default of the type.
    pub quota: u64,
    pub stato: MailboxState,
    /// The initial password; generated when `None`.
    pub password: Option<String>,
}

/// One row of a bulk import (seed 003), as read from the CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RigaImport {
    pub nome: String,
    pub cognome: String,
    /// The PEC address to create.
    pub indirizzo: String,
    /// The holder's ordinary e-mail address.
    pub email: String,
}

/// Why a row of a bulk import created no box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rifiuto {
    /// A column is empty or missing (its name).
    CampoMancante(&'static str),
    /// The PEC address or the ordinary address is not `local@domain`.
    IndirizzoNonValido,
    /// The address is of a domain the admin does not manage or the provider does not host.
    AltroDominio,
    /// A box (or delegate) with that address exists.
    GiaEsistente,
}

/// A box of the panel's list, with its delegates.
#[derive(Debug, Clone)]
pub struct CasellaGestita {
    pub casella: Mailbox,
    pub delegati: Vec<Delegate>,
}

/// A data row of a bulk-import CSV: its line number (the header is line 1) and the row, or
/// why it cannot be used.
pub type RigaLetta = (usize, Result<RigaImport, Rifiuto>);

/// The CSV columns of a bulk import, in the order of [`RigaImport`]'s fields.
pub const COLONNE_IMPORT: [&str; 4] = ["nome", "cognome", "indirizzo", "email ordinaria"];

/// Reads a bulk-import CSV (seed 003): a header row naming the columns of
/// [`COLONNE_IMPORT`] in any order and case, `;` or `,` separated (whichever the header
/// uses), fields optionally in double quotes. Returns, per data row (numbered from 2, the
/// header being 1), the row or why it cannot be used; `Err` when the header lacks a column.
pub fn leggi_csv(text: &str) -> Result<Vec<RigaLetta>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or("the file is empty")?;
    let sep = if header.contains(';') { ';' } else { ',' };
    let names: Vec<String> = campi(header, sep)
        .iter()
        .map(|c| c.to_lowercase())
        .collect();
    let mut at = [0usize; 4];
    for (slot, col) in at.iter_mut().zip(COLONNE_IMPORT) {
        *slot = names
            .iter()
            .position(|n| n == col)
            .ok_or_else(|| format!("the header has no column {col:?}"))?;
    }
    Ok(lines
        .map(|(n, line)| {
            let f = campi(line, sep);
            let get = |i: usize| {
                f.get(at[i])
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default()
            };
            let riga = RigaImport {
                nome: get(0),
                cognome: get(1),
                indirizzo: get(2).to_ascii_lowercase(),
                email: get(3).to_ascii_lowercase(),
            };
            (n + 1, valida(riga))
        })
        .collect())
}

/// The fields of one CSV line: split at `sep` outside double quotes, `""` inside quotes
/// being one quote.
fn campi(line: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        let field = out.last_mut().expect("one field at least");
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == sep && !quoted => out.push(String::new()),
            c => field.push(c),
        }
    }
    out
}

/// A row with every field present and both addresses well formed.
fn valida(r: RigaImport) -> Result<RigaImport, Rifiuto> {
    for (value, col) in [&r.nome, &r.cognome, &r.indirizzo, &r.email]
        .into_iter()
        .zip(COLONNE_IMPORT)
    {
        if value.is_empty() {
            return Err(Rifiuto::CampoMancante(col));
        }
    }
    if !indirizzo_valido(&r.indirizzo) || !indirizzo_valido(&r.email) {
        return Err(Rifiuto::IndirizzoNonValido);
    }
    Ok(r)
}

/// `local@domain` with a dotted domain, no spaces, no control characters, one `@`.
pub fn indirizzo_valido(address: &str) -> bool {
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !address
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ','))
        }
        None => false,
    }
}

/// A password for a new box or admin, shown once: 16 letters and digits (at least one of
/// each, as seed 004's policy wants), no look-alike characters.
pub fn genera_password() -> Result<String, EngineError> {
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz";
    const DIGITS: &[u8] = b"23456789";
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes).map_err(|e| EngineError::Build {
        what: "a password",
        reason: e.to_string(),
    })?;
    Ok(bytes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            // Every fourth character a digit, the others letters.
            let set = if i % 4 == 3 { DIGITS } else { LETTERS };
            set[usize::from(*b) % set.len()] as char
        })
        .collect())
}

impl Engine {
    /// The boxes of `domain` with their delegates, if the admin manages it.
    pub async fn caselle_gestite(
        &self,
        admin: &Admin,
        domain: &str,
    ) -> Result<Vec<CasellaGestita>, AdminError> {
        self.dominio_gestito(admin, domain).await?;
        let mut out = Vec::new();
        for casella in self.store.mailboxes(Some(domain)).await? {
            let delegati = self.store.delegates(&casella.address).await?;
            out.push(CasellaGestita { casella, delegati });
        }
        Ok(out)
    }

    /// Creates a box; returns its initial password (the one given, or a generated one).
    pub async fn crea_casella(
        &self,
        admin: &Admin,
        nuova: &NuovaCasella,
    ) -> Result<String, AdminError> {
        let address = nuova.indirizzo.trim().to_ascii_lowercase();
        if !indirizzo_valido(&address) {
            return Err(AdminError::Refused(format!(
                "{address:?} is not an address"
            )));
        }
        self.dominio_gestito(admin, &domain_of(&address)).await?;
        let password = match &nuova.password {
            Some(p) if p.chars().count() < 8 => {
                return Err(AdminError::Refused(
                    "a password has at least 8 characters".into(),
                ));
            }
            Some(p) => p.clone(),
            None => genera_password()?,
        };
        let m = NewMailbox {
            address: address.clone(),
            kind: nuova.tipo,
            state: nuova.stato,
            quota: nuova.quota,
            ordinary_mail: OrdinaryMail::Rifiuta,
            password_hash: hash_password(&password)?,
        };
        self.store.create_mailbox(&m, self.adesso()).await?;
        let detail = format!(
            "tipo {}, stato {}, quota {}",
            nuova.tipo, nuova.stato, nuova.quota
        );
        self.registra(admin, "admin-crea-casella", &address, detail)
            .await?;
        Ok(password)
    }

    /// Sets a box's state (suspend: `Sospesa`, reactivate: `Attiva`, `Bloccata`, `Revocata`).
    pub async fn cambia_stato(
        &self,
        admin: &Admin,
        address: &str,
        stato: MailboxState,
    ) -> Result<(), AdminError> {
        let m = self.casella_gestita(admin, address).await?;
        self.store.set_state(&m.address, stato).await?;
        let detail = format!("stato {} → {stato}", m.state);
        self.registra(admin, "admin-stato", &m.address, detail)
            .await
    }

    /// Deletes a box that is not active (see the module's doc).
    pub async fn elimina_casella(&self, admin: &Admin, address: &str) -> Result<(), AdminError> {
        let m = self.casella_gestita(admin, address).await?;
        if m.state == MailboxState::Attiva {
            return Err(AdminError::Refused(format!(
                "{} is active: suspend or revoke it before deleting it",
                m.address
            )));
        }
        self.store.delete_mailbox(&m.address).await?;
        let detail = format!("stato {}, {} byte", m.state, m.used);
        self.registra(admin, "admin-elimina-casella", &m.address, detail)
            .await
    }

    /// Gives a box a new generated password and returns it (to show once).
    pub async fn reimposta_password(
        &self,
        admin: &Admin,
        address: &str,
    ) -> Result<String, AdminError> {
        let m = self.casella_gestita(admin, address).await?;
        let password = genera_password()?;
        self.store
            .set_password_hash(&m.address, &hash_password(&password)?)
            .await?;
        self.registra(admin, "admin-password", &m.address, "nuova password".into())
            .await?;
        Ok(password)
    }

    /// Sets a box's type and quota (bytes, 0 = unlimited) together.
    pub async fn cambia_tipo_e_quota(
        &self,
        admin: &Admin,
        address: &str,
        tipo: MailboxKind,
        quota: u64,
    ) -> Result<(), AdminError> {
        let m = self.casella_gestita(admin, address).await?;
        self.store.set_kind(&m.address, tipo).await?;
        self.store.set_quota(&m.address, quota).await?;
        let detail = format!("tipo {} → {tipo}, quota {} → {quota}", m.kind, m.quota);
        self.registra(admin, "admin-tipo-quota", &m.address, detail)
            .await
    }

    /// Gives a box a delegate; returns the delegate's generated password.
    pub async fn aggiungi_delegato(
        &self,
        admin: &Admin,
        mailbox: &str,
        login: &str,
        ruolo: DelegateRole,
    ) -> Result<String, AdminError> {
        let m = self.casella_gestita(admin, mailbox).await?;
        let login = self.login_nuovo(login, &admin.scope).await?;
        let password = genera_password()?;
        let d = NewDelegate {
            login: login.clone(),
            mailbox: m.address.clone(),
            role: ruolo,
            password_hash: hash_password(&password)?,
        };
        self.store.create_delegate(&d, self.adesso()).await?;
        let detail = format!("delegato {login} ({ruolo})");
        self.registra(admin, "admin-delegato", &m.address, detail)
            .await?;
        Ok(password)
    }

    /// Removes a delegate of a box the admin manages.
    pub async fn rimuovi_delegato(&self, admin: &Admin, login: &str) -> Result<(), AdminError> {
        let d = self.delegato_gestito(admin, login).await?;
        self.store.remove_delegate(&d.login).await?;
        let detail = format!("rimosso il delegato {}", d.login);
        self.registra(admin, "admin-delegato", &d.mailbox, detail)
            .await
    }

    /// Gives a delegate a new generated password and returns it.
    pub async fn reimposta_password_delegato(
        &self,
        admin: &Admin,
        login: &str,
    ) -> Result<String, AdminError> {
        let d = self.delegato_gestito(admin, login).await?;
        let password = genera_password()?;
        self.store
            .set_delegate_password_hash(&d.login, &hash_password(&password)?)
            .await?;
        let detail = format!("nuova password del delegato {}", d.login);
        self.registra(admin, "admin-password", &d.mailbox, detail)
            .await?;
        Ok(password)
    }

    /// One row of a bulk import (seed 003): a `Sospesa` box awaiting activation by
    /// `scadenza`, with the holder's data, of type `tipo` and quota `quota`. Returns the
    /// initial password, or why the row created nothing.
    pub async fn importa_riga(
        &self,
        admin: &Admin,
        riga: &RigaImport,
        tipo: MailboxKind,
        quota: u64,
        scadenza: i64,
    ) -> Result<Result<String, Rifiuto>, AdminError> {
        let domain = domain_of(&riga.indirizzo);
        if !admin.scope.covers(&domain) || !self.hosts(&domain).await? {
            return Ok(Err(Rifiuto::AltroDominio));
        }
        let password = genera_password()?;
        let m = NewMailbox {
            address: riga.indirizzo.clone(),
            kind: tipo,
            state: MailboxState::Sospesa,
            quota,
            ordinary_mail: OrdinaryMail::Rifiuta,
            password_hash: hash_password(&password)?,
        };
        match self.store.create_mailbox(&m, self.adesso()).await {
            Err(StoreError::AlreadyExists(_)) => return Ok(Err(Rifiuto::GiaEsistente)),
            other => other?,
        }
        let profile = HolderProfile {
            nome: riga.nome.clone(),
            cognome: riga.cognome.clone(),
            email: riga.email.clone(),
        };
        self.store
            .set_holder_profile(&riga.indirizzo, &profile)
            .await?;
        self.store
            .require_activation(&riga.indirizzo, scadenza)
            .await?;
        let entro = jiff::Timestamp::from_second(scadenza)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| scadenza.to_string());
        let detail = format!("tipo {tipo}, quota {quota}, attivazione entro {entro}");
        self.registra(admin, "admin-import", &riga.indirizzo, detail)
            .await?;
        Ok(Ok(password))
    }

    /// Adds a hosted domain (provider admins only).
    pub async fn crea_dominio(&self, admin: &Admin, domain: &str) -> Result<(), AdminError> {
        solo_fornitore(admin)?;
        let domain = domain.trim().to_ascii_lowercase();
        if !indirizzo_valido(&format!("postmaster@{domain}")) {
            return Err(AdminError::Refused(format!("{domain:?} is not a domain")));
        }
        self.store.create_domain(&domain, self.adesso()).await?;
        self.registra(admin, "admin-dominio", &domain, "nuovo dominio".into())
            .await
    }

    /// Creates an account of the panel (provider admins only); returns its generated
    /// password. A domain's postmaster is `postmaster@<domain>`: a login shaped like an
    /// address is of the domain the account will manage ([`Engine::login_nuovo`] with the
    /// new account's `scope`), or of any hosted domain for a provider admin.
    pub async fn crea_amministratore(
        &self,
        admin: &Admin,
        login: &str,
        scope: &AdminScope,
    ) -> Result<String, AdminError> {
        solo_fornitore(admin)?;
        let login = self.login_nuovo(login, scope).await?;
        let password = genera_password()?;
        self.store
            .create_admin(&login, &hash_password(&password)?, scope, self.adesso())
            .await?;
        let detail = match scope {
            AdminScope::Provider => format!("amministratore {login} del gestore"),
            AdminScope::Domain(d) => format!("amministratore {login} del dominio {d}"),
        };
        let about = match scope {
            AdminScope::Provider => self.settings.gestore.dominio.clone(),
            AdminScope::Domain(d) => d.clone(),
        };
        self.registra(admin, "admin-amministratore", &about, detail)
            .await?;
        Ok(password)
    }

    /// Legal-log events per hour and kind over `[since, until)` (provider admins only).
    pub async fn traffico(
        &self,
        admin: &Admin,
        since: i64,
        until: i64,
    ) -> Result<Vec<(i64, String, u64)>, AdminError> {
        solo_fornitore(admin)?;
        Ok(self.store.counts(since, until).await?)
    }

    /// The login of a new delegate or panel account, trimmed and lowercase, if one whose
    /// names stay within `scope` may create it. The rule, for every door (the panel with the
    /// acting admin's scope; `pecora admin`, which acts as the operator, with
    /// [`AdminScope::Provider`]):
    ///
    /// - not empty, no whitespace, no control characters ([`AdminError::Refused`]);
    /// - shaped like an address (it has an `@`): a well-formed address
    ///   ([`AdminError::Refused`]) of a domain the provider hosts and `scope` covers
    ///   ([`AdminError::FuoriDominio`]), so that no tenant takes names in another's domain
    ///   and no login poses as an address of a domain the provider does not serve;
    /// - any other login is a name of the provider's own.
    ///
    /// A delegate's login that is a box's address, or another delegate's, is refused by the
    /// store when the delegate is created (`AlreadyExists`); panel accounts are a name space
    /// of their own.
    pub async fn login_nuovo(&self, login: &str, scope: &AdminScope) -> Result<String, AdminError> {
        let login = login.trim().to_ascii_lowercase();
        if login.is_empty() || login.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(AdminError::Refused(format!("{login:?} is not a login")));
        }
        if login.contains('@') {
            if !indirizzo_valido(&login) {
                return Err(AdminError::Refused(format!("{login:?} is not an address")));
            }
            let domain = domain_of(&login);
            if !scope.covers(&domain) || !self.hosts(&domain).await? {
                return Err(AdminError::FuoriDominio(login));
            }
        }
        Ok(login)
    }

    /// Refuses a domain the admin does not manage, or that the provider does not host.
    pub async fn dominio_gestito(&self, admin: &Admin, domain: &str) -> Result<(), AdminError> {
        if admin.scope.covers(domain) && self.hosts(domain).await? {
            Ok(())
        } else {
            Err(AdminError::NotFound(format!("domain {domain}")))
        }
    }

    /// A box the admin manages; any other is not found.
    async fn casella_gestita(&self, admin: &Admin, address: &str) -> Result<Mailbox, AdminError> {
        self.store
            .mailbox(address)
            .await?
            .filter(|m| admin.scope.covers(&m.domain))
            .ok_or_else(|| AdminError::NotFound(format!("mailbox {address}")))
    }

    /// A delegate of a box the admin manages; any other is not found.
    async fn delegato_gestito(&self, admin: &Admin, login: &str) -> Result<Delegate, AdminError> {
        self.store
            .delegate(login)
            .await?
            .filter(|d| admin.scope.covers(&domain_of(&d.mailbox)))
            .ok_or_else(|| AdminError::NotFound(format!("delegate {login}")))
    }

    /// Logs an admin action on `about` (a box, a domain).
    async fn registra(
        &self,
        admin: &Admin,
        kind: &str,
        about: &str,
        detail: String,
    ) -> Result<(), AdminError> {
        let event = NewLogEvent {
            at: self.adesso(),
            kind: kind.to_string(),
            identificativo: None,
            msgid: None,
            sender: about.to_string(),
            recipients: Vec::new(),
            subject: String::new(),
            related: Vec::new(),
            provider: self.settings.gestore.nome.clone(),
            detail: Some(Riga(&detail).to_string()),
            daticert: None,
            actor: Some(admin.login.clone()),
        };
        self.commit(store::Batch {
            log: vec![event],
            ..Default::default()
        })
        .await?;
        Ok(())
    }

    fn adesso(&self) -> i64 {
        self.clock.now().timestamp().as_second()
    }
}

/// Refuses a postmaster a provider-wide action.
fn solo_fornitore(admin: &Admin) -> Result<(), AdminError> {
    match admin.scope {
        AdminScope::Provider => Ok(()),
        AdminScope::Domain(_) => Err(AdminError::Forbidden(format!(
            "{} manages one domain only",
            admin.login
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_are_read_with_either_separator() {
        let text = "\u{feff}Nome;Cognome;Indirizzo;Email ordinaria\n\
                    Mario;Rossi;Mario.Rossi@pec.test;mario@libero.it\n\
                    \n\
                    \"De Luca; Anna\";Bianchi;anna@pec.test;\n";
        let rows = leggi_csv(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 2);
        assert_eq!(
            rows[0].1,
            Ok(RigaImport {
                nome: "Mario".into(),
                cognome: "Rossi".into(),
                indirizzo: "mario.rossi@pec.test".into(),
                email: "mario@libero.it".into(),
            })
        );
        assert_eq!(rows[1], (4, Err(Rifiuto::CampoMancante("email ordinaria"))));
        let comma = leggi_csv("email ordinaria,indirizzo,cognome,nome\nx@y.it,bad,R,M\n").unwrap();
        assert_eq!(comma[0].1, Err(Rifiuto::IndirizzoNonValido));
        assert!(
            leggi_csv("nome;cognome\n")
                .unwrap_err()
                .contains("indirizzo")
        );
        assert!(leggi_csv("").is_err());
    }

    #[test]
    fn generated_passwords_meet_the_default_policy() {
        let p = genera_password().unwrap();
        assert_eq!(p.len(), 16);
        assert!(
            crate::settings::PasswordPolicy::default()
                .violations(&p)
                .is_empty()
        );
        assert_ne!(p, genera_password().unwrap());
    }

    #[test]
    fn addresses_are_checked() {
        assert!(indirizzo_valido("a.b@pec.comune.it"));
        for bad in [
            "",
            "a",
            "@pec.it",
            "a@pec",
            "a@.it",
            "a b@pec.it",
            "a@b@pec.it",
        ] {
            assert!(!indirizzo_valido(bad), "{bad}");
        }
    }
}
