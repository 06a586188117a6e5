//! `pecora admin`: domains, mailboxes and delegates of a provider — what the operator does
//! before the web panel exists (and what scripts keep doing after).

use std::path::Path;

use anyhow::{Context, bail};
use clap::Subcommand;
use store::{DelegateRole, MailboxKind, MailboxState, NewDelegate, NewMailbox, OrdinaryMail};

use crate::config::Config;
use crate::provider::Provider;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Add a PEC domain this provider hosts.
    DomainAdd { domain: String },
    /// List hosted domains.
    DomainList,
    /// Create a mailbox (the domain must exist). Prints the password when generated.
    MailboxAdd {
        address: String,
        /// Initial password; generated when omitted.
        #[arg(long)]
        password: Option<String>,
        /// standard, pro or multiutenza.
        #[arg(long, default_value = "standard")]
        kind: String,
        /// sospesa (default: activated by the holder), attiva, bloccata, revocata.
        #[arg(long, default_value = "sospesa")]
        state: String,
        /// Quota in bytes (0 = unlimited); by default the one `[quotas]` sets for the kind.
        #[arg(long)]
        quota: Option<u64>,
        /// What to do with ordinary mail: rifiuta or anomalia.
        #[arg(long, default_value = "rifiuta")]
        ordinary_mail: String,
    },
    /// List mailboxes (optionally of one domain).
    MailboxList {
        #[arg(long)]
        domain: Option<String>,
    },
    /// Set a mailbox's password (generated and printed when omitted).
    MailboxPassword {
        address: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Set a mailbox's state: sospesa, attiva, bloccata, revocata.
    MailboxState { address: String, state: String },
    /// Change a mailbox's type (standard, pro, multiutenza) and give it that type's quota from
    /// `[quotas]`, unless `--keep-quota`.
    MailboxKind {
        address: String,
        kind: String,
        #[arg(long)]
        keep_quota: bool,
    },
    /// Set a mailbox's quota in bytes.
    MailboxQuota { address: String, quota: u64 },
    /// Set what a mailbox does with ordinary mail: rifiuta or anomalia.
    MailboxOrdinaryMail { address: String, policy: String },
    /// Route a box's receipts (ricevute and avvisi) into FOLDER instead of INBOX; `--inbox`
    /// puts them back in INBOX.
    MailboxReceiptsFolder {
        address: String,
        #[arg(required_unless_present = "inbox")]
        folder: Option<String>,
        #[arg(long, conflicts_with = "folder")]
        inbox: bool,
    },
    /// Protocol-system mode (Titulus and the like): messages LOGIN reads leave INBOX (a PRO
    /// box keeps them in its archive); `--off` ends it.
    MailboxProtocol {
        address: String,
        #[arg(required_unless_present = "off")]
        login: Option<String>,
        #[arg(long, conflicts_with = "login")]
        off: bool,
    },
    /// Make a box created in bulk wait for its holder (seed 003): it must be `sospesa`; at the
    /// first web login the holder confirms their data and replaces the initial password,
    /// which activates it; not activated within DAYS, it is blocked.
    MailboxRequireActivation {
        address: String,
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
    /// Give a box a delegate with its own credentials: lettura (read), invio (read and
    /// send) or gestione (also manage folders). Prints the password when generated.
    DelegateAdd {
        login: String,
        #[arg(long)]
        mailbox: String,
        #[arg(long, default_value = "lettura")]
        role: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// List a box's delegates.
    DelegateList { mailbox: String },
    /// Remove a delegate.
    DelegateRemove { login: String },
    /// Set a delegate's password (generated and printed when omitted).
    DelegatePassword {
        login: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Write a mailbox's messages as `<uid>-<kind>.eml` files into DIR.
    MailboxExport {
        address: String,
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long, default_value = engine::INBOX)]
        folder: String,
    },
    /// Create an account of the web administration panel: a provider admin (`--provider`)
    /// or a domain's postmaster (`--domain D`). Prints the password when generated.
    AdminAdd {
        login: String,
        #[arg(long, conflicts_with = "domain", required_unless_present = "domain")]
        provider: bool,
        #[arg(long)]
        domain: Option<String>,
        #[arg(long)]
        password: Option<String>,
    },
    /// List the panel's accounts and their scope.
    AdminList,
    /// Remove an account of the panel.
    AdminRemove { login: String },
    /// Set a panel account's password (generated and printed when omitted).
    AdminPassword {
        login: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Create a REST API key for a mailbox; prints the key (shown only now).
    ApiKeyAdd {
        mailbox: String,
        #[arg(long)]
        label: String,
    },
    /// List a mailbox's API keys (never the keys themselves).
    ApiKeyList { mailbox: String },
    /// Revoke API key ID of a mailbox.
    ApiKeyRevoke { mailbox: String, id: i64 },
}

/// The legal log's actor of what `pecora admin` does: the operator at the console.
const OPERATOR: &str = "pecora-admin";

pub async fn run(config: &Path, cmd: AdminCommand) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    let quotas = config.quotas;
    let provider = Provider::open_default(config).await?;
    let store = provider.engine.store();
    let now = provider.engine.clock().now().timestamp().as_second();
    match cmd {
        AdminCommand::DomainAdd { domain } => {
            store.create_domain(&domain, now).await?;
            println!("domain {domain} added");
        }
        AdminCommand::DomainList => {
            for d in store.domains().await? {
                println!("{d}");
            }
        }
        AdminCommand::MailboxAdd {
            address,
            password,
            kind,
            state,
            quota,
            ordinary_mail,
        } => {
            let kind: MailboxKind = parse(&kind, "kind")?;
            let state: MailboxState = parse(&state, "state")?;
            let ordinary_mail: OrdinaryMail = parse(&ordinary_mail, "ordinary mail policy")?;
            let (password, generated) = password_or_generated(password)?;
            store
                .create_mailbox(
                    &NewMailbox {
                        address: address.clone(),
                        kind,
                        state,
                        quota: quota.unwrap_or(quotas.of(kind)),
                        ordinary_mail,
                        password_hash: engine::accounts::hash_password(&password)?,
                    },
                    now,
                )
                .await?;
            println!(
                "mailbox {address} created ({}, {})",
                kind.as_str(),
                state.as_str()
            );
            if generated {
                println!("password: {password}");
            }
        }
        AdminCommand::MailboxList { domain } => {
            for m in store.mailboxes(domain.as_deref()).await? {
                println!(
                    "{}\t{}\t{}\tused {} of {}\tordinary mail: {}",
                    m.address,
                    m.kind.as_str(),
                    m.state.as_str(),
                    m.used,
                    m.quota,
                    m.ordinary_mail.as_str()
                );
            }
        }
        AdminCommand::MailboxPassword { address, password } => {
            let (password, generated) = password_or_generated(password)?;
            store
                .set_password_hash(&address, &engine::accounts::hash_password(&password)?)
                .await?;
            println!("password of {address} changed");
            if generated {
                println!("password: {password}");
            }
        }
        AdminCommand::MailboxState { address, state } => {
            store.set_state(&address, parse(&state, "state")?).await?;
            println!("{address}: {state}");
        }
        AdminCommand::MailboxKind {
            address,
            kind,
            keep_quota,
        } => {
            let kind: MailboxKind = parse(&kind, "kind")?;
            store.set_kind(&address, kind).await?;
            if keep_quota {
                println!("{address}: {kind}");
            } else {
                store.set_quota(&address, quotas.of(kind)).await?;
                println!("{address}: {kind}, quota {}", quotas.of(kind));
            }
        }
        AdminCommand::MailboxQuota { address, quota } => {
            store.set_quota(&address, quota).await?;
            println!("{address}: quota {quota}");
        }
        AdminCommand::MailboxOrdinaryMail { address, policy } => {
            store
                .set_ordinary_mail(&address, parse(&policy, "ordinary mail policy")?)
                .await?;
            println!("{address}: ordinary mail {policy}");
        }
        AdminCommand::MailboxReceiptsFolder {
            address,
            folder,
            inbox: _,
        } => {
            store
                .set_receipts_folder(&address, folder.as_deref())
                .await?;
            println!(
                "{address}: receipts into {}",
                folder.as_deref().unwrap_or(store::INBOX)
            );
        }
        AdminCommand::MailboxProtocol {
            address,
            login,
            off: _,
        } => {
            if login.is_some() {
                let kind = store
                    .mailbox(&address)
                    .await?
                    .with_context(|| format!("no mailbox {address}"))?
                    .kind;
                if kind != MailboxKind::Pro {
                    bail!(
                        "protocol-system mode needs a PRO box, whose archive keeps what leaves \
                         INBOX; {address} is {kind}: first `mailbox-kind {address} pro`"
                    );
                }
            }
            store
                .set_protocol_account(&address, login.as_deref())
                .await?;
            match login {
                Some(login) => {
                    println!("{address}: protocol-system mode, integration account {login}")
                }
                None => println!("{address}: protocol-system mode off"),
            }
        }
        AdminCommand::MailboxRequireActivation { address, days } => {
            let state = store
                .mailbox(&address)
                .await?
                .with_context(|| format!("no mailbox {address}"))?
                .state;
            if state != MailboxState::Sospesa || days < 1 {
                bail!(
                    "only a sospesa box can await activation, for 1 day or more ({address} is {state})"
                );
            }
            store
                .require_activation(&address, now + days * 24 * 3600)
                .await?;
            println!("{address}: awaiting activation for {days} days");
        }
        AdminCommand::DelegateAdd {
            login,
            mailbox,
            role,
            password,
        } => {
            let role: DelegateRole = parse(&role, "delegate role")?;
            // The panel's rule for logins, applied as the operator: one shaped like an
            // address is of a domain this provider hosts.
            let login = provider
                .engine
                .login_nuovo(&login, &store::AdminScope::Provider)
                .await
                .with_context(|| format!("delegate login {login:?}"))?;
            let (password, generated) = password_or_generated(password)?;
            store
                .create_delegate(
                    &NewDelegate {
                        login: login.clone(),
                        mailbox: mailbox.clone(),
                        role,
                        password_hash: engine::accounts::hash_password(&password)?,
                    },
                    now,
                )
                .await?;
            println!("delegate {login} of {mailbox} created ({role})");
            if generated {
                println!("password: {password}");
            }
        }
        AdminCommand::ApiKeyAdd { mailbox, label } => {
            let k = web::api::chiave::crea(&provider.engine, &mailbox, &label, Some(OPERATOR))
                .await
                .with_context(|| format!("creating an API key for {mailbox}"))?;
            println!("API key {} of {mailbox} created ({label})", k.id);
            println!("key: {}", k.key);
        }
        AdminCommand::ApiKeyList { mailbox } => {
            for k in store.api_keys(&mailbox).await? {
                let state = k
                    .revoked_at
                    .map_or("active".to_string(), |at| format!("revoked {at}"));
                println!("{}\t{}\t{}\t{state}", k.id, k.label, k.created_at);
            }
        }
        AdminCommand::ApiKeyRevoke { mailbox, id } => {
            web::api::chiave::revoca(&provider.engine, &mailbox, id, Some(OPERATOR))
                .await
                .with_context(|| format!("revoking API key {id} of {mailbox}"))?;
            println!("API key {id} of {mailbox} revoked");
        }
        AdminCommand::DelegateList { mailbox } => {
            for d in store.delegates(&mailbox).await? {
                println!("{}\t{}", d.login, d.role);
            }
        }
        AdminCommand::DelegateRemove { login } => {
            store.remove_delegate(&login).await?;
            println!("delegate {login} removed");
        }
        AdminCommand::DelegatePassword { login, password } => {
            let (password, generated) = password_or_generated(password)?;
            store
                .set_delegate_password_hash(&login, &engine::accounts::hash_password(&password)?)
                .await?;
            println!("password of delegate {login} changed");
            if generated {
                println!("password: {password}");
            }
        }
        AdminCommand::MailboxExport {
            address,
            out,
            folder,
        } => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            for m in store.messages(&address, &folder).await? {
                let kind = m.kind.as_deref().unwrap_or("ordinaria");
                let path = out.join(format!("{:06}-{kind}.eml", m.uid));
                std::fs::write(&path, store.get(&m.blob).await?)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("{}", path.display());
            }
        }
        AdminCommand::AdminAdd {
            login,
            provider: _,
            domain,
            password,
        } => {
            let scope = match domain {
                Some(d) => store::AdminScope::Domain(d.to_ascii_lowercase()),
                None => store::AdminScope::Provider,
            };
            // As in the panel: a login shaped like an address is of the account's domain.
            let login = provider
                .engine
                .login_nuovo(&login, &scope)
                .await
                .with_context(|| format!("admin login {login:?}"))?;
            let (password, generated) = password_or_generated(password)?;
            store
                .create_admin(
                    &login,
                    &engine::accounts::hash_password(&password)?,
                    &scope,
                    now,
                )
                .await?;
            println!("admin {login} created ({})", admin_scope(&scope));
            if generated {
                println!("password: {password}");
            }
        }
        AdminCommand::AdminList => {
            for a in store.admins().await? {
                println!("{}\t{}", a.login, admin_scope(&a.scope));
            }
        }
        AdminCommand::AdminRemove { login } => {
            store.remove_admin(&login).await?;
            println!("admin {login} removed");
        }
        AdminCommand::AdminPassword { login, password } => {
            let (password, generated) = password_or_generated(password)?;
            store
                .set_admin_password_hash(&login, &engine::accounts::hash_password(&password)?)
                .await?;
            println!("password of admin {login} changed");
            if generated {
                println!("password: {password}");
            }
        }
    }
    Ok(())
}

fn parse<T: std::str::FromStr>(value: &str, what: &str) -> anyhow::Result<T> {
    value
        .parse()
        .map_err(|_| anyhow::anyhow!("unknown {what} {value:?}"))
}

fn password_or_generated(given: Option<String>) -> anyhow::Result<(String, bool)> {
    match given {
        Some(p) if p.len() < 8 => bail!("passwords have at least 8 characters"),
        Some(p) => Ok((p, false)),
        None => {
            let mut b = [0u8; 12];
            openssl::rand::rand_bytes(&mut b).context("generating a password")?;
            Ok((b.iter().map(|x| format!("{x:02x}")).collect(), true))
        }
    }
}

/// How `admin-list` shows a scope: `provider`, or `domain <name>`.
fn admin_scope(scope: &store::AdminScope) -> String {
    match scope {
        store::AdminScope::Provider => "provider".into(),
        store::AdminScope::Domain(d) => format!("domain {d}"),
    }
}
