//! TLS configuration for both sides: the doors' certificate, and the CAs the relay trusts.
//!
//! Both builders name the ring crypto provider explicitly, so they work whether or not a
//! process-wide default provider was installed. [`install_crypto_provider`] exists for code
//! elsewhere in the process that builds rustls configurations with the default builders.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::SmtpError;

/// Installs ring as rustls' process-wide default crypto provider. Calling it again (or after
/// another provider was installed) is harmless.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(pem: &[u8], context: &str) -> Result<Vec<CertificateDer<'static>>, SmtpError> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SmtpError::Pem {
            context: context.to_owned(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(SmtpError::Pem {
            context: context.to_owned(),
            detail: "no CERTIFICATE block found".to_owned(),
        });
    }
    Ok(certs)
}

/// Builds the TLS configuration of a door (STARTTLS and implicit TLS) from a PEM certificate
/// chain (leaf first) and its PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn tls_server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, SmtpError> {
    let certs = read_certs(cert_pem, "server certificate chain")?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| SmtpError::Pem {
            context: "server private key".to_owned(),
            detail: e.to_string(),
        })?
        .ok_or_else(|| SmtpError::Pem {
            context: "server private key".to_owned(),
            detail: "no PRIVATE KEY block found".to_owned(),
        })?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| SmtpError::TlsConfig {
            context: "server TLS protocol versions".to_owned(),
            source,
        })?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|source| SmtpError::TlsConfig {
            context: "server certificate and key".to_owned(),
            source,
        })?;
    Ok(Arc::new(config))
}

/// Builds the relay's TLS configuration, trusting exactly the CA certificates in `ca_pems`
/// (each input may hold several certificates) and nothing else.
pub fn tls_client_config(ca_pems: &[&[u8]]) -> Result<Arc<rustls::ClientConfig>, SmtpError> {
    let mut roots = rustls::RootCertStore::empty();
    for (i, pem) in ca_pems.iter().enumerate() {
        let context = format!("trusted CA input #{}", i + 1);
        for cert in read_certs(pem, &context)? {
            roots.add(cert).map_err(|source| SmtpError::TlsConfig {
                context: context.clone(),
                source,
            })?;
        }
    }
    if roots.is_empty() {
        return Err(SmtpError::Pem {
            context: "trusted CAs".to_owned(),
            detail: "no CA certificate given".to_owned(),
        });
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| SmtpError::TlsConfig {
            context: "client TLS protocol versions".to_owned(),
            source,
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_pem_is_a_clear_error() {
        let err = tls_server_config(b"not pem", b"not pem").unwrap_err();
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
        let err = tls_client_config(&[]).unwrap_err();
        assert!(err.to_string().contains("no CA certificate"), "{err}");
        let err = tls_client_config(&[b"x"]).unwrap_err();
        assert!(err.to_string().contains("#1"), "{err}");
    }
}
