//! The rules of the [`Mailboxes`](crate::Mailboxes) contract that do not depend on how a
//! backend stores things: which folder names are valid and how INBOX is spelled, how IMAP
//! flags compare and combine, when a box is over its quota or back under its warning level,
//! how a UIDVALIDITY is chosen. Backends apply them through these functions, so they agree.

use crate::{FlagChange, INBOX, Result, StoreError, is_archive};

/// The flag of a message that was read (IMAP `\Seen`).
pub(crate) const SEEN: &str = "\\Seen";
/// The flag of a message marked for expunge (IMAP `\Deleted`).
pub(crate) const DELETED: &str = "\\Deleted";

/// The IMAP system flags (RFC 9051 §2.3.2), spelled as the store keeps them.
const SYSTEM_FLAGS: [&str; 6] = [
    SEEN,
    "\\Answered",
    "\\Flagged",
    DELETED,
    "\\Draft",
    "\\Recent",
];

/// `name` as stored: `INBOX` for any spelling of it, any other name unchanged.
pub(crate) fn canonical_folder(name: &str) -> &str {
    if name.eq_ignore_ascii_case(INBOX) {
        INBOX
    } else {
        name
    }
}

/// A folder name to create: its stored spelling, or `InvalidName` for a name the store
/// cannot hold (empty, a `/` at either end, `//`, or a control character).
pub(crate) fn folder_name(name: &str) -> Result<&str> {
    let invalid = name.is_empty()
        || name.starts_with('/')
        || name.ends_with('/')
        || name.contains("//")
        || name.chars().any(char::is_control);
    if invalid {
        return Err(StoreError::InvalidName(format!("{name:?}")));
    }
    Ok(canonical_folder(name))
}

/// `Immutable` when `folder` lies in the PRO archive; `what` says what was refused.
pub(crate) fn outside_archive(folder: &str, what: &str) -> Result<()> {
    if is_archive(folder) {
        return Err(StoreError::Immutable(format!(
            "{what} {folder:?}: the PRO archive cannot change"
        )));
    }
    Ok(())
}

/// The name folder `name` gets when folder `from` is renamed `to`: `to` for `from` itself,
/// `to/...` for an inferior `from/...`, `None` for any other folder.
pub(crate) fn renamed(name: &str, from: &str, to: &str) -> Option<String> {
    if name == from {
        return Some(to.to_owned());
    }
    let rest = name.strip_prefix(from)?.strip_prefix('/')?;
    Some(format!("{to}/{rest}"))
}

/// Whether `flags` hold `flag`. Flags compare ignoring ASCII case (system flags are
/// case-insensitive in IMAP, and a keyword differing only in case is taken for the same).
pub(crate) fn has_flag(flags: &[String], flag: &str) -> bool {
    flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
}

/// `flags` as stored: each flag once, in the order first given, system flags in their usual
/// spelling (`\seen` becomes `\Seen`).
pub(crate) fn normalize_flags(flags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(flags.len());
    for flag in flags {
        let flag = SYSTEM_FLAGS
            .iter()
            .find(|s| s.eq_ignore_ascii_case(flag))
            .map_or_else(|| flag.clone(), |s| (*s).to_owned());
        if !has_flag(&out, &flag) {
            out.push(flag);
        }
    }
    out
}

/// The flags a message with `current` flags has after `change` with `requested`
/// (normalized; see [`normalize_flags`]).
pub(crate) fn changed_flags(
    current: &[String],
    change: FlagChange,
    requested: &[String],
) -> Vec<String> {
    match change {
        FlagChange::Replace => normalize_flags(requested),
        FlagChange::Add => normalize_flags(&[current, requested].concat()),
        FlagChange::Remove => normalize_flags(current)
            .into_iter()
            .filter(|f| !has_flag(requested, f))
            .collect(),
    }
}

/// Whether two flag lists hold the same flags, in any order (`b` without duplicates).
pub(crate) fn same_flags(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|f| has_flag(b, f))
}

/// `OverQuota` when a box that holds `used` bytes once `added` more are in exceeds its
/// `quota` (0: unlimited). Adding nothing never fails, even to a box already over quota.
pub(crate) fn check_room(mailbox: &str, used: u64, quota: u64, added: u64) -> Result<()> {
    if added > 0 && quota > 0 && used > quota {
        return Err(StoreError::OverQuota(format!(
            "{mailbox}: {added} more bytes would make {used}, over the quota of {quota}"
        )));
    }
    Ok(())
}

/// Whether `used` bytes are below the 90 % warning level of a nonzero `quota`.
pub(crate) fn below_warning(used: u64, quota: u64) -> bool {
    quota > 0 && u128::from(used) * 10 < u128::from(quota) * 9
}

/// The UIDVALIDITY of a folder created at `at` in a box whose folders had UIDVALIDITYs up to
/// `last`: the creation second (clamped to a nonzero u32), or `last + 1` when that is
/// higher, so that no folder of the box gets a value another one had. `None` once `last` is
/// `u32::MAX`.
pub(crate) fn next_uidvalidity(last: u32, at: i64) -> Option<u32> {
    let second = u32::try_from(at.clamp(1, i64::from(u32::MAX))).unwrap_or(u32::MAX);
    Some(second.max(last.checked_add(1)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(flags: &[&str]) -> Vec<String> {
        flags.iter().map(|f| (*f).to_owned()).collect()
    }

    #[test]
    fn inbox_is_spelled_one_way() {
        assert_eq!(canonical_folder("inbox"), "INBOX");
        assert_eq!(canonical_folder("InBoX"), "INBOX");
        assert_eq!(canonical_folder("Inbox/Sub"), "Inbox/Sub");
        assert_eq!(canonical_folder("Lavoro"), "Lavoro");
        assert_eq!(folder_name("inbox").ok(), Some("INBOX"));
    }

    #[test]
    fn names_the_store_cannot_hold_are_refused() {
        for bad in [
            "", "/", "/a", "a/", "a//b", "a\tb", "a\nb", "a\u{7f}", "a\u{85}b",
        ] {
            assert!(
                matches!(folder_name(bad), Err(StoreError::InvalidName(_))),
                "{bad:?} must be refused"
            );
        }
        for good in [
            "a",
            "a/b",
            "Archivio/2024/01",
            "Posta inviata",
            "caf\u{e8}",
            "[Gmail]",
        ] {
            assert_eq!(folder_name(good).ok(), Some(good), "{good:?} is valid");
        }
    }

    #[test]
    fn the_archive_is_refused_by_name() {
        assert!(matches!(
            outside_archive("Archivio/2024/01", "expunge in"),
            Err(StoreError::Immutable(_))
        ));
        assert!(matches!(
            outside_archive("Archivio", "x"),
            Err(StoreError::Immutable(_))
        ));
        assert!(outside_archive("Archiviato", "x").is_ok());
        assert!(outside_archive("archivio", "x").is_ok());
    }

    #[test]
    fn a_rename_carries_the_inferiors_along() {
        assert_eq!(renamed("A", "A", "B").as_deref(), Some("B"));
        assert_eq!(renamed("A/x/y", "A", "B/C").as_deref(), Some("B/C/x/y"));
        assert_eq!(renamed("AB", "A", "B"), None);
        assert_eq!(renamed("B/A", "A", "B"), None);
    }

    #[test]
    fn flags_are_kept_once_in_their_usual_spelling() {
        let got = normalize_flags(&strings(&["\\seen", "$Etichetta", "\\SEEN", "$etichetta"]));
        assert_eq!(got, ["\\Seen", "$Etichetta"]);
        assert!(has_flag(&got, "\\SEEN"));
        assert!(!has_flag(&got, "\\Deleted"));
    }

    #[test]
    fn flag_changes_replace_add_and_remove() {
        let current = strings(&["\\Seen", "$A"]);
        let asked = strings(&["\\flagged", "$a"]);
        assert_eq!(
            changed_flags(&current, FlagChange::Replace, &asked),
            ["\\Flagged", "$a"]
        );
        assert_eq!(
            changed_flags(&current, FlagChange::Add, &asked),
            ["\\Seen", "$A", "\\Flagged"]
        );
        assert_eq!(
            changed_flags(&current, FlagChange::Remove, &asked),
            ["\\Seen"]
        );
        assert!(same_flags(&current, &strings(&["$a", "\\SEEN"])));
        assert!(!same_flags(&current, &strings(&["\\Seen"])));
        assert!(!same_flags(&current, &strings(&["\\Seen", "$B"])));
    }

    #[test]
    fn quota_arithmetic() {
        assert!(check_room("b", 100, 100, 10).is_ok(), "exactly full fits");
        assert!(matches!(
            check_room("b", 101, 100, 1),
            Err(StoreError::OverQuota(_))
        ));
        assert!(check_room("b", 500, 100, 0).is_ok(), "adding nothing");
        assert!(check_room("b", u64::MAX, 0, 5).is_ok(), "0 is unlimited");
        assert!(below_warning(89, 100));
        assert!(!below_warning(90, 100));
        assert!(!below_warning(0, 0), "no warning level without a quota");
        assert!(below_warning(u64::MAX / 2, u64::MAX), "no overflow");
        assert!(!below_warning(u64::MAX - 1, u64::MAX), "no overflow");
    }

    #[test]
    fn uidvalidity_is_the_creation_second_or_one_more_than_any_before() {
        assert_eq!(next_uidvalidity(0, 1_700_000_000), Some(1_700_000_000));
        assert_eq!(
            next_uidvalidity(1_700_000_000, 1_700_000_000),
            Some(1_700_000_001)
        );
        assert_eq!(next_uidvalidity(5, 3), Some(6), "a clock gone back");
        assert_eq!(next_uidvalidity(0, -7), Some(1), "never zero");
        assert_eq!(next_uidvalidity(0, i64::MAX), Some(u32::MAX));
        assert_eq!(next_uidvalidity(u32::MAX, 1), None);
    }
}
