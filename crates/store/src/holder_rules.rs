//! The rules of the [`Holders`](crate::Holders) contract that do not depend on how a backend
//! stores things: what an ordinary address is, how many a notice may name, which target each
//! ordinary-mail policy takes. Backends apply them through these functions, so they agree.

use crate::mail_rules::{folder_name, outside_archive};
use crate::{HolderProfile, NOTICE_ADDRESSES, OrdinaryMail, Result, StoreError};

/// The longest address SMTP can carry (RFC 5321 §4.5.3.1.3, a path of 256 less the `<>`).
const MAX_ADDRESS: usize = 254;
/// The longest local part (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL: usize = 64;

/// `address` lowercase, or `InvalidSetting` unless it is `local@domain`: a local part of
/// printable ASCII without spaces, `@` or angle brackets, and a domain of at least two
/// dot-separated labels of letters, digits and inner hyphens. Only the syntax: whether the
/// address exists is for the mail to find out.
pub(crate) fn ordinary_address(address: &str) -> Result<String> {
    let invalid = || StoreError::InvalidSetting(format!("{address:?} is not an e-mail address"));
    let (local, domain) = address.rsplit_once('@').ok_or_else(invalid)?;
    let local_ok = !local.is_empty()
        && local.len() <= MAX_LOCAL
        && local
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'@' | b'<' | b'>' | b'"' | b','));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2 && labels.iter().all(|l| dns_label(l));
    if !local_ok || !domain_ok || address.len() > MAX_ADDRESS {
        return Err(invalid());
    }
    Ok(address.to_ascii_lowercase())
}

/// Whether `label` is a DNS label: 1 to 63 letters, digits and hyphens, no hyphen at an end.
fn dns_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// An optional ordinary address, checked as [`ordinary_address`].
pub(crate) fn optional_address(address: Option<&str>) -> Result<Option<String>> {
    address.map(ordinary_address).transpose()
}

/// The addresses of one list of a notice, lowercase, or `InvalidSetting` for an invalid one
/// or more than [`NOTICE_ADDRESSES`]; `what` names the list in the error.
pub(crate) fn notice_addresses(addresses: &[String], what: &str) -> Result<Vec<String>> {
    if addresses.len() > NOTICE_ADDRESSES {
        return Err(StoreError::InvalidSetting(format!(
            "{} {what} given, at most {NOTICE_ADDRESSES} allowed",
            addresses.len()
        )));
    }
    addresses.iter().map(|a| ordinary_address(a)).collect()
}

/// `profile` as stored (its e-mail lowercase), or `InvalidSetting` for a blank name or
/// surname or an e-mail that is not an address: the holder's identity is what activation
/// confirms, so it cannot be left empty.
pub(crate) fn holder_profile(profile: &HolderProfile) -> Result<HolderProfile> {
    for (value, what) in [(&profile.nome, "nome"), (&profile.cognome, "cognome")] {
        if value.trim().is_empty() {
            return Err(StoreError::InvalidSetting(format!(
                "the holder's {what} is empty"
            )));
        }
    }
    Ok(HolderProfile {
        nome: profile.nome.clone(),
        cognome: profile.cognome.clone(),
        email: ordinary_address(&profile.email)?,
    })
}

/// The target to store with `policy`: an ordinary address for [`OrdinaryMail::Inoltra`], a
/// folder outside the archive for [`OrdinaryMail::Cartella`] (`InvalidName`, `Immutable`
/// otherwise), nothing for the others. `InvalidSetting` when a target is missing or extra.
pub(crate) fn ordinary_mail_target(
    policy: OrdinaryMail,
    target: Option<&str>,
) -> Result<Option<String>> {
    match (policy, target) {
        (OrdinaryMail::Inoltra, Some(address)) => ordinary_address(address).map(Some),
        (OrdinaryMail::Cartella, Some(folder)) => {
            let folder = folder_name(folder)?;
            outside_archive(folder, "filing ordinary mail in")?;
            Ok(Some(folder.to_owned()))
        }
        (OrdinaryMail::Rifiuta | OrdinaryMail::Anomalia, None) => Ok(None),
        (policy, Some(_)) => Err(StoreError::InvalidSetting(format!(
            "the ordinary-mail policy {policy} takes no target"
        ))),
        (policy, None) => Err(StoreError::InvalidSetting(format!(
            "the ordinary-mail policy {policy} needs a target"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
        match r {
            Err(StoreError::InvalidSetting(_)) => "setting",
            Err(StoreError::InvalidName(_)) => "name",
            Err(StoreError::Immutable(_)) => "immutable",
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn addresses_are_local_at_domain() {
        assert_eq!(
            ordinary_address("Mario.Rossi+pec@Libero.IT").ok(),
            Some("mario.rossi+pec@libero.it".to_owned())
        );
        for bad in [
            "",
            "mario",
            "@libero.it",
            "mario@",
            "mario@libero",
            "ma rio@libero.it",
            "mario@lib ero.it",
            "mario@-libero.it",
            "mario@libero..it",
            "a,b@libero.it",
            "<mario@libero.it>",
        ] {
            assert_eq!(refused(ordinary_address(bad)), "setting", "{bad:?}");
        }
        let long_local = format!("{}@libero.it", "a".repeat(MAX_LOCAL + 1));
        assert_eq!(refused(ordinary_address(&long_local)), "setting");
    }

    #[test]
    fn notices_name_at_most_two_addresses() {
        let two = vec!["a@x.it".to_owned(), "B@X.IT".to_owned()];
        assert_eq!(
            notice_addresses(&two, "recipients").ok(),
            Some(vec!["a@x.it".to_owned(), "b@x.it".to_owned()])
        );
        let mut three = two;
        three.push("c@x.it".to_owned());
        assert_eq!(refused(notice_addresses(&three, "recipients")), "setting");
        assert_eq!(
            refused(notice_addresses(&["nope".to_owned()], "senders")),
            "setting"
        );
    }

    #[test]
    fn a_profile_names_someone_with_an_address() {
        let p = HolderProfile {
            nome: "Mario".into(),
            cognome: "Rossi".into(),
            email: "Mario@Libero.it".into(),
        };
        assert_eq!(
            holder_profile(&p).ok().map(|p| p.email),
            Some("mario@libero.it".to_owned())
        );
        let blank = HolderProfile {
            cognome: "  ".into(),
            ..p.clone()
        };
        assert_eq!(refused(holder_profile(&blank)), "setting");
        let no_mail = HolderProfile {
            email: "mario".into(),
            ..p
        };
        assert_eq!(refused(holder_profile(&no_mail)), "setting");
    }

    #[test]
    fn each_policy_takes_its_target() {
        use OrdinaryMail::*;
        assert_eq!(
            ordinary_mail_target(Inoltra, Some("A@X.it")).ok(),
            Some(Some("a@x.it".to_owned()))
        );
        assert_eq!(
            ordinary_mail_target(Cartella, Some("inbox")).ok(),
            Some(Some("INBOX".to_owned()))
        );
        assert_eq!(ordinary_mail_target(Rifiuta, None).ok(), Some(None));
        assert_eq!(refused(ordinary_mail_target(Inoltra, None)), "setting");
        assert_eq!(refused(ordinary_mail_target(Cartella, None)), "setting");
        assert_eq!(
            refused(ordinary_mail_target(Anomalia, Some("x"))),
            "setting"
        );
        assert_eq!(refused(ordinary_mail_target(Inoltra, Some("x"))), "setting");
        assert_eq!(
            refused(ordinary_mail_target(Cartella, Some("a//b"))),
            "name"
        );
        assert_eq!(
            refused(ordinary_mail_target(Cartella, Some("Archivio/2024"))),
            "immutable"
        );
    }
}
