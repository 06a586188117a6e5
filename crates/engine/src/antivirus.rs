//! The antivirus port (spec §9.6). The access point scans what users submit, the reception
//! point scans the content of incoming buste. The clamd implementation comes with the virus
//! issue; until then [`NoScan`] declares everything clean, and says so in the log detail.

use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The name of what was found.
    Infected(String),
}

#[derive(Debug, thiserror::Error)]
#[error("antivirus unavailable: {0}")]
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
