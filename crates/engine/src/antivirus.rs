//! The antivirus port (spec §9.6). The access point scans what users submit, the reception
//! point scans the content of incoming buste. [`Clamd`] is the real scanner (ClamAV's daemon);
//! [`NoScan`], for providers configured without an antivirus and for tests, declares
//! everything clean.
//!
//! A [`ScanError`] is never a verdict: the operation that asked stops with it, nothing is
//! certified, and the SMTP door answers with a temporary failure.

mod clamd;

use async_trait::async_trait;

pub use clamd::{BadAddress, CHUNK_SIZE, Clamd, ClamdAddress};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The name of what was found.
    Infected(String),
}

/// Why the scanner gave no verdict, for the log (`EngineError` puts `antivirus: ` before it).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScanError(pub String);

#[async_trait]
pub trait Antivirus: Send + Sync {
    async fn scan(&self, message: &[u8]) -> Result<Verdict, ScanError>;
}

/// No scanner configured: everything is clean.
pub struct NoScan;

#[async_trait]
impl Antivirus for NoScan {
    async fn scan(&self, _message: &[u8]) -> Result<Verdict, ScanError> {
        Ok(Verdict::Clean)
    }
}
