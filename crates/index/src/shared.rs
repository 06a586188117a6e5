//! A shared index that can be swapped while the server runs: the local copy
//! is refreshed daily (spec §6.2), and every message must see one
//! consistent version of it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use smime::TrustStore;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::{Index, IndexError};

/// A hot-swappable [`Index`]. Clones share the same slot. Readers take an
/// `Arc<Index>` snapshot with [`current`](SharedIndex::current) and keep
/// using it even if the index is replaced meanwhile.
#[derive(Debug, Clone)]
pub struct SharedIndex {
    slot: Arc<RwLock<Arc<Index>>>,
}

impl SharedIndex {
    /// A shared slot holding `index`.
    pub fn new(index: Index) -> SharedIndex {
        SharedIndex {
            slot: Arc::new(RwLock::new(Arc::new(index))),
        }
    }

    /// The index now in force.
    pub fn current(&self) -> Arc<Index> {
        Arc::clone(&self.slot.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `index` in force; snapshots already taken are unaffected.
    pub fn replace(&self, index: Index) {
        *self.slot.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(index);
    }

    /// Loads `path` with [`Index::load`] and puts it in force. On error the
    /// index in force is kept and the error returned.
    pub fn reload(&self, path: &Path, trust: Option<&TrustStore>) -> Result<(), IndexError> {
        let index = Index::load(path, trust)?;
        self.replace(index);
        Ok(())
    }

    /// Spawns a tokio task that checks `path` every `interval` (at least
    /// 1 ms) and reloads it when its modification time or size changed
    /// since the last check (the file as it is at spawn time is taken to be
    /// the one in force). Loading runs on the blocking pool. A failed
    /// reload is logged with `tracing::warn!` and the old index kept; it is
    /// retried only when the file changes again. The task runs until
    /// aborted through the returned handle.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime (as `tokio::spawn` does).
    pub fn spawn_reloader(
        &self,
        path: PathBuf,
        trust: Option<TrustStore>,
        interval: Duration,
    ) -> JoinHandle<()> {
        let shared = self.clone();
        let path = Arc::new(path);
        let trust = Arc::new(trust);
        tokio::spawn(async move {
            let mut seen = stamp(&path).await;
            let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let now = stamp(&path).await;
                if now == seen {
                    continue;
                }
                seen = now;
                let (task_shared, task_path, task_trust) =
                    (shared.clone(), Arc::clone(&path), Arc::clone(&trust));
                let outcome = tokio::task::spawn_blocking(move || {
                    task_shared.reload(&task_path, task_trust.as_ref().as_ref())
                })
                .await;
                match outcome {
                    Ok(Ok(())) => tracing::info!(
                        path = %path.display(),
                        records = shared.current().providers().len(),
                        "provider index reloaded"
                    ),
                    Ok(Err(error)) => tracing::warn!(
                        path = %path.display(),
                        %error,
                        "provider index reload failed; keeping the previous index"
                    ),
                    Err(error) => tracing::warn!(
                        path = %path.display(),
                        %error,
                        "provider index reload task failed; keeping the previous index"
                    ),
                }
            }
        })
    }
}

/// Modification time and size of `path`, `None` when it cannot be read.
async fn stamp(path: &Path) -> Option<(Option<SystemTime>, u64)> {
    let meta = tokio::fs::metadata(path).await.ok()?;
    Some((meta.modified().ok(), meta.len()))
}
