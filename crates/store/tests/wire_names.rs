//! The wire names of the store's enums: what the database, the configuration and the API
//! write, so they must round-trip and never change by accident.

use std::str::FromStr;

use store::{
    DelegateRole, MailboxKind, MailboxState, OrdinaryMail, TrackerEvent, UnknownName, VirusPoint,
};

/// Every value has its name, `Display` writes it, and `FromStr` reads it back in any ASCII
/// case.
fn round_trip<T>(all: &[(T, &str)])
where
    T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + FromStr<Err = UnknownName>,
{
    for &(value, name) in all {
        assert_eq!(value.to_string(), name);
        assert_eq!(name.parse::<T>(), Ok(value));
        assert_eq!(name.to_ascii_uppercase().parse::<T>(), Ok(value));
    }
    let err = "sconosciuto".parse::<T>().expect_err("an unknown name");
    assert_eq!(err.name, "sconosciuto");
    assert!(err.to_string().contains("sconosciuto"), "{err}");
}

#[test]
fn mailbox_kinds() {
    round_trip(&[
        (MailboxKind::Standard, "standard"),
        (MailboxKind::Pro, "pro"),
        (MailboxKind::Multiutenza, "multiutenza"),
    ]);
    assert_eq!(MailboxKind::Pro.as_str(), "pro");
}

#[test]
fn mailbox_states() {
    round_trip(&[
        (MailboxState::Sospesa, "sospesa"),
        (MailboxState::Attiva, "attiva"),
        (MailboxState::Bloccata, "bloccata"),
        (MailboxState::Revocata, "revocata"),
    ]);
}

#[test]
fn ordinary_mail_policies() {
    round_trip(&[
        (OrdinaryMail::Rifiuta, "rifiuta"),
        (OrdinaryMail::Anomalia, "anomalia"),
        (OrdinaryMail::Inoltra, "inoltra"),
        (OrdinaryMail::Cartella, "cartella"),
    ]);
}

#[test]
fn tracker_events() {
    round_trip(&[
        (TrackerEvent::PresaInCarico, "presa-in-carico"),
        (TrackerEvent::Consegna, "consegna"),
        (TrackerEvent::ErroreConsegna, "errore-consegna"),
        (TrackerEvent::RilevazioneVirus, "rilevazione-virus"),
        (TrackerEvent::Preavviso, "preavviso"),
        (TrackerEvent::Scaduto, "scaduto"),
    ]);
    let finals: Vec<TrackerEvent> = [
        TrackerEvent::PresaInCarico,
        TrackerEvent::Consegna,
        TrackerEvent::ErroreConsegna,
        TrackerEvent::RilevazioneVirus,
        TrackerEvent::Preavviso,
        TrackerEvent::Scaduto,
    ]
    .into_iter()
    .filter(|e| e.is_final())
    .collect();
    assert_eq!(
        finals,
        [
            TrackerEvent::Consegna,
            TrackerEvent::ErroreConsegna,
            TrackerEvent::RilevazioneVirus,
            TrackerEvent::Scaduto
        ]
    );
}

#[test]
fn virus_points() {
    round_trip(&[
        (VirusPoint::Accesso, "accesso"),
        (VirusPoint::Ricezione, "ricezione"),
    ]);
}

#[test]
fn delegate_roles() {
    round_trip(&[
        (DelegateRole::Lettura, "lettura"),
        (DelegateRole::Invio, "invio"),
        (DelegateRole::Gestione, "gestione"),
    ]);
    assert!(
        DelegateRole::Lettura < DelegateRole::Invio,
        "roles grow in power"
    );
    assert!(
        DelegateRole::Invio < DelegateRole::Gestione,
        "roles grow in power"
    );
}
