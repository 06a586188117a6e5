//! A throw-away PKI for tests, demos and `pecora sample`: a self-signed CA
//! and a provider signing certificate following the PEC profile of spec §9.1.
//! Nothing issued here is trusted by anyone else; never use it in production.

use std::time::{SystemTime, UNIX_EPOCH};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Name, X509NameBuilder};

use crate::SmimeError;

/// RSA modulus size of both keys.
const RSA_BITS: u32 = 2048;
/// Validity of the CA certificate.
const CA_DAYS: u32 = 3652;
/// Validity of the provider certificate.
const PROVIDER_DAYS: u32 = 3 * 365;

/// A generated test PKI, all in PEM.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The self-signed CA certificate (the trust anchor to give verifiers).
    pub ca_cert_pem: Vec<u8>,
    /// The provider signing certificate issued by the CA.
    pub cert_pem: Vec<u8>,
    /// The provider's RSA private key (PKCS#8, unencrypted).
    pub key_pem: Vec<u8>,
}

/// Generates a CA `C=IT, O=<provider_name>, CN=pecora test CA (not for
/// production)` (RSA 2048, CA:TRUE critical, keyCertSign+cRLSign critical,
/// 10 years) and a provider certificate `C=IT, O=<provider_name>, CN=Posta
/// Certificata <provider_name>` with `email` as its only subjectAltName
/// (PEC profile: no basicConstraints, digitalSignature critical, SKI, AKI,
/// EKU emailProtection, sha256WithRSA, valid from one day ago for 3 years).
pub fn generate(provider_name: &str, email: &str) -> Result<TestPki, SmimeError> {
    let ca = TestCa::new(provider_name)?;
    let (cert_pem, key_pem) = ca.provider(provider_name, email)?;
    Ok(TestPki {
        ca_cert_pem: ca.cert_pem()?,
        cert_pem,
        key_pem,
    })
}

/// A test CA that can issue several certificates: provider signing certificates (PEC
/// profile) and TLS server certificates, as a demo network of gestori needs.
pub struct TestCa {
    cert: X509,
    key: PKey<Private>,
}

impl TestCa {
    /// A self-signed CA named after `organization` (see [`generate`]).
    pub fn new(organization: &str) -> Result<TestCa, SmimeError> {
        if organization.trim().is_empty() {
            return Err(SmimeError::InvalidArgument(
                "the provider name is empty".to_owned(),
            ));
        }
        let key = rsa_key()?;
        let cert = ca_certificate(
            &name(organization, "pecora test CA (not for production)")?,
            &key,
        )?;
        Ok(TestCa { cert, key })
    }

    /// The CA certificate (PEM): the trust anchor to give verifiers.
    pub fn cert_pem(&self) -> Result<Vec<u8>, SmimeError> {
        self.cert
            .to_pem()
            .map_err(SmimeError::openssl("cannot write the test CA as PEM"))
    }

    /// A provider signing certificate and its key (PEM): the PEC profile of spec §9.1.
    pub fn provider(
        &self,
        provider_name: &str,
        email: &str,
    ) -> Result<(Vec<u8>, Vec<u8>), SmimeError> {
        if provider_name.trim().is_empty() {
            return Err(SmimeError::InvalidArgument(
                "the provider name is empty".to_owned(),
            ));
        }
        check_email(email)?;
        let key = rsa_key()?;
        let cert = provider_certificate(provider_name, email, &key, &self.cert, &self.key)?;
        pem_pair(&cert, &key)
    }

    /// A TLS server certificate and its key (PEM) for `names`: DNS names or IP addresses,
    /// all in subjectAltName; EKU serverAuth and clientAuth.
    pub fn server(&self, names: &[&str]) -> Result<(Vec<u8>, Vec<u8>), SmimeError> {
        let Some(first) = names.first() else {
            return Err(SmimeError::InvalidArgument("no server name".to_owned()));
        };
        let key = rsa_key()?;
        let subject = name("pecora test server", first)?;
        let mut builder = base_builder(&subject, &key, PROVIDER_DAYS)?;
        let ca = &self.cert;
        let mut finish = || -> Result<(), ErrorStack> {
            builder.set_issuer_name(ca.subject_name())?;
            builder.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .key_encipherment()
                    .build()?,
            )?;
            builder.append_extension(
                ExtendedKeyUsage::new()
                    .server_auth()
                    .client_auth()
                    .build()?,
            )?;
            let mut san = SubjectAlternativeName::new();
            for n in names {
                if n.parse::<std::net::IpAddr>().is_ok() {
                    san.ip(n);
                } else {
                    san.dns(n);
                }
            }
            let san = san.build(&builder.x509v3_context(Some(ca), None))?;
            builder.append_extension(san)?;
            let aki = AuthorityKeyIdentifier::new()
                .keyid(true)
                .build(&builder.x509v3_context(Some(ca), None))?;
            builder.append_extension(aki)?;
            builder.sign(&self.key, MessageDigest::sha256())
        };
        finish().map_err(SmimeError::openssl(
            "cannot build the test server certificate",
        ))?;
        pem_pair(&builder.build(), &key)
    }
}

fn pem_pair(cert: &X509, key: &PKey<Private>) -> Result<(Vec<u8>, Vec<u8>), SmimeError> {
    const CONTEXT: &str = "cannot write a test certificate as PEM";
    let cert = cert.to_pem().map_err(SmimeError::openssl(CONTEXT))?;
    let key = key
        .private_key_to_pem_pkcs8()
        .map_err(SmimeError::openssl(CONTEXT))?;
    Ok((cert, key))
}

fn check_email(email: &str) -> Result<(), SmimeError> {
    let valid = email.is_ascii()
        && !email
            .chars()
            .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(())
    } else {
        Err(SmimeError::InvalidArgument(format!(
            "{email:?} is not a plain ASCII e-mail address local@domain"
        )))
    }
}

fn rsa_key() -> Result<PKey<Private>, SmimeError> {
    Rsa::generate(RSA_BITS)
        .and_then(PKey::from_rsa)
        .map_err(SmimeError::openssl("cannot generate an RSA key"))
}

fn name(organization: &str, common_name: &str) -> Result<X509Name, SmimeError> {
    let build = || -> Result<X509Name, ErrorStack> {
        let mut builder = X509NameBuilder::new()?;
        builder.append_entry_by_nid(Nid::COUNTRYNAME, "IT")?;
        builder.append_entry_by_nid(Nid::ORGANIZATIONNAME, organization)?;
        builder.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
        Ok(builder.build())
    };
    build().map_err(SmimeError::openssl(
        "cannot build a distinguished name (is the provider name longer than 64 characters?)",
    ))
}

/// A builder with version 3, random serial, subject, key and validity
/// from one day ago for `days` days.
fn base_builder(
    subject: &X509Name,
    key: &PKey<Private>,
    days: u32,
) -> Result<X509Builder, SmimeError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let build = || -> Result<X509Builder, ErrorStack> {
        let mut builder = X509Builder::new()?;
        builder.set_version(2)?;
        let mut serial = BigNum::new()?;
        serial.rand(127, MsbOption::ONE, false)?;
        let serial = Asn1Integer::from_bn(&serial)?;
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(subject)?;
        builder.set_pubkey(key)?;
        let not_before = Asn1Time::from_unix((now - 86_400) as _)?;
        builder.set_not_before(&not_before)?;
        let not_after = Asn1Time::days_from_now(days)?;
        builder.set_not_after(&not_after)?;
        Ok(builder)
    };
    build().map_err(SmimeError::openssl("cannot start a certificate"))
}

fn ca_certificate(subject: &X509Name, key: &PKey<Private>) -> Result<X509, SmimeError> {
    let mut builder = base_builder(subject, key, CA_DAYS)?;
    let mut finish = || -> Result<(), ErrorStack> {
        builder.set_issuer_name(subject)?;
        builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        builder.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
        let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
        builder.append_extension(ski)?;
        builder.sign(key, MessageDigest::sha256())
    };
    finish().map_err(SmimeError::openssl("cannot build the test CA certificate"))?;
    Ok(builder.build())
}

fn provider_certificate(
    provider_name: &str,
    email: &str,
    key: &PKey<Private>,
    ca_cert: &X509,
    ca_key: &PKey<Private>,
) -> Result<X509, SmimeError> {
    let subject = name(provider_name, &format!("Posta Certificata {provider_name}"))?;
    let mut builder = base_builder(&subject, key, PROVIDER_DAYS)?;
    let mut finish = || -> Result<(), ErrorStack> {
        builder.set_issuer_name(ca_cert.subject_name())?;
        builder.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
        let ski =
            SubjectKeyIdentifier::new().build(&builder.x509v3_context(Some(ca_cert), None))?;
        builder.append_extension(ski)?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&builder.x509v3_context(Some(ca_cert), None))?;
        builder.append_extension(aki)?;
        let san = SubjectAlternativeName::new()
            .email(email)
            .build(&builder.x509v3_context(Some(ca_cert), None))?;
        builder.append_extension(san)?;
        builder.append_extension(ExtendedKeyUsage::new().email_protection().build()?)?;
        builder.sign(ca_key, MessageDigest::sha256())
    };
    finish().map_err(SmimeError::openssl(
        "cannot build the test provider certificate",
    ))?;
    Ok(builder.build())
}
