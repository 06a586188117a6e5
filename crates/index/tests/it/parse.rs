//! Reading the §6.4 example shape, lookups, and the LDIF round trip.

use index::{Index, Provider, provider_record};

use crate::common::{ROOT_URL, altro, esempio, example_ldif};

#[test]
fn example_lookups() {
    let (e, a) = (esempio(), altro());
    let index = Index::from_ldif(&example_ldif()).unwrap();
    assert_eq!(index.providers().len(), 3);
    assert_eq!(index.root_ldif_location_url(), Some(ROOT_URL));

    // By hash, either case: the main record wins over the secondary one.
    for hash in [e.hash.clone(), e.hash.to_uppercase()] {
        let p = index.provider_by_hash(&hash).unwrap();
        assert_eq!(p.name, "Esempio PEC S.p.A.");
        assert_eq!(p.unit, None);
        assert_eq!(p.mail_receipt, "ricevute@gestore.example");
        assert!(p.has_certificate(&e.cert_der));
        assert!(!p.has_certificate(&a.cert_der));
    }
    let main = index.provider_by_hash(&e.hash).unwrap();
    assert_eq!(main.dn, "providerName=Esempio PEC S.p.A.,o=postacert");
    assert_eq!(main.certificate_hashes, [e.hash.as_str()]);
    assert_eq!(
        main.managed_domains,
        ["pec.gestore.example", "pec.cliente.example"]
    );
    assert_eq!(
        main.ldif_location_url.as_deref(),
        Some("https://gestore.example/esempio.ldif.p7m")
    );
    assert_eq!(
        main.description.as_deref(),
        Some("certified mail for companies, folded over two lines")
    );

    let other = index.provider_by_hash(&a.hash.to_uppercase()).unwrap();
    assert_eq!(other.name, "Altro Gestore S.r.l.");
    assert_eq!(other.mail_receipt, "ricevute@altro.example");
    assert!(other.has_certificate(&a.cert_der));

    // By domain, any case; exact match only.
    let secondary = index.provider_by_domain("Interno.Gestore.EXAMPLE").unwrap();
    assert_eq!(secondary.unit.as_deref(), Some("Ambiente secondario"));
    assert_eq!(
        secondary.dn,
        "providerUnit=Ambiente secondario,providerName=Esempio PEC S.p.A.,o=postacert"
    );
    assert_eq!(
        secondary.mail_receipt,
        "ricevute@secondario.gestore.example"
    );
    assert_eq!(
        index
            .provider_by_domain("pec.CLIENTE.example")
            .map(|p| &p.dn),
        Some(&main.dn)
    );
    assert_eq!(
        index
            .provider_by_domain("pec.altro.example")
            .map(|p| p.name.as_str()),
        Some("Altro Gestore S.r.l.")
    );
    assert!(index.is_pec_domain("PEC.gestore.example"));
    assert!(!index.is_pec_domain("gestore.example"));
    assert!(!index.is_pec_domain("sub.pec.gestore.example"));
    assert!(!index.is_pec_domain("gmail.com"));
    assert!(index.provider_by_domain("").is_none());

    // Unknown hashes.
    assert!(index.provider_by_hash(&"0".repeat(40)).is_none());
    assert!(index.provider_by_hash("not a hash").is_none());
}

#[test]
fn crlf_and_no_version_line() {
    let lf = example_ldif();
    let crlf = lf.replace('\n', "\r\n");
    let without_version = lf.replace("version: 1\n", "");
    let reference = Index::from_ldif(&lf).unwrap();
    assert_eq!(Index::from_ldif(&crlf).unwrap(), reference);
    assert_eq!(Index::from_ldif(&without_version).unwrap(), reference);
}

#[test]
fn round_trip() {
    let index = Index::from_ldif(&example_ldif()).unwrap();
    let text = index.to_ldif();
    assert!(
        text.starts_with("version: 1\n\ndn: o=postacert\n"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.len() <= 76), "{text}");
    let again = Index::from_ldif(&text).unwrap();
    assert_eq!(again, index);
    assert_eq!(again.to_ldif(), text);
}

#[test]
fn round_trip_unsafe_values() {
    let e = esempio();
    let mut p = provider_record(
        "Gestore, \"Città\" S.p.A.",
        "Ricevute@Citta.example",
        &["PEC.Citta.example"],
        &e.cert_der,
    );
    p.description = Some("posta certificata per le città: ütf-8 ".into());
    p.ldif_location_url = Some(":https://odd.example".into());
    let index = Index::from_providers(vec![p]).unwrap();
    let stored = &index.providers()[0];
    assert_eq!(
        stored.dn,
        "providerName=Gestore\\, \\\"Città\\\" S.p.A.,o=postacert"
    );
    assert_eq!(stored.mail_receipt, "ricevute@citta.example");
    assert_eq!(stored.managed_domains, ["pec.citta.example"]);
    assert_eq!(
        stored.description.as_deref(),
        Some("posta certificata per le città: ütf-8")
    );

    let text = index.to_ldif();
    assert!(text.contains("\ndn:: "), "{text}");
    assert!(text.contains("\nLDIFLocationURL:: "), "{text}");
    assert!(text.lines().all(|l| l.len() <= 76 && l.is_ascii()));
    assert_eq!(Index::from_ldif(&text).unwrap(), index);
}

#[test]
fn provider_record_hash_is_the_fingerprint() {
    let e = esempio();
    let p = provider_record(
        "Esempio PEC S.p.A.",
        "ricevute@gestore.example",
        &["pec.gestore.example"],
        &e.cert_der,
    );
    assert_eq!(p.certificate_hashes, [e.hash.as_str()]);
    assert_eq!(p.dn, "providerName=Esempio PEC S.p.A.,o=postacert");
    let index = Index::from_providers(vec![p.clone()]).unwrap();
    assert_eq!(index.providers(), [p]);
    assert_eq!(index.root_ldif_location_url(), None);
}

#[test]
fn main_and_secondary_share_hashes_and_domains() {
    let e = esempio();
    let main = provider_record(
        "Esempio PEC S.p.A.",
        "ricevute@gestore.example",
        &["pec.gestore.example", "condiviso.example"],
        &e.cert_der,
    );
    let secondary = Provider {
        dn: format!("providerUnit=Due,{}", main.dn),
        unit: Some("Due".into()),
        // providerName compares case-insensitively.
        name: "ESEMPIO PEC S.P.A.".into(),
        mail_receipt: "ricevute@due.gestore.example".into(),
        managed_domains: vec!["condiviso.example".into(), "due.example".into()],
        ..main.clone()
    };
    // Secondary first: lookups still prefer the main record.
    let index = Index::from_providers(vec![secondary.clone(), main.clone()]).unwrap();
    assert_eq!(index.provider_by_hash(&e.hash).unwrap().dn, main.dn);
    assert_eq!(
        index.provider_by_domain("condiviso.example").unwrap().dn,
        main.dn
    );
    assert_eq!(
        index.provider_by_domain("due.example").unwrap().dn,
        secondary.dn
    );
}
