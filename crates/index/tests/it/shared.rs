//! The hot-swappable index: explicit reloads and the background reloader.

use std::fs;
use std::time::{Duration, Instant};

use index::{Index, SharedIndex, sign_ldif};

use crate::common::{esempio, example_ldif};

/// The example without Altro's record (its last entry).
fn smaller_ldif() -> String {
    let text = example_ldif();
    let cut = text.find("\ndn: providerName=Altro").unwrap();
    text[..=cut].to_owned()
}

#[test]
fn reload_swaps_and_keeps_old_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.ldif");
    fs::write(&path, smaller_ldif()).unwrap();
    let shared = SharedIndex::new(Index::load(&path, None).unwrap());
    let before = shared.current();
    assert_eq!(before.providers().len(), 2);

    fs::write(&path, example_ldif()).unwrap();
    shared.reload(&path, None).unwrap();
    assert_eq!(shared.current().providers().len(), 3);
    // Snapshots taken earlier are unaffected.
    assert_eq!(before.providers().len(), 2);

    fs::write(&path, "dn: broken\nno colon here\n").unwrap();
    assert!(shared.reload(&path, None).is_err());
    assert_eq!(shared.current().providers().len(), 3);

    assert!(shared.reload(&dir.path().join("gone.ldif"), None).is_err());
    assert_eq!(shared.current().providers().len(), 3);

    // Clones share the slot.
    let clone = shared.clone();
    clone.replace(Index::from_ldif("").unwrap());
    assert!(shared.current().providers().is_empty());
}

#[test]
fn signed_reload() {
    let e = esempio();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.ldif.p7m");
    fs::write(&path, sign_ldif(&example_ldif(), &e.signer).unwrap()).unwrap();
    let shared = SharedIndex::new(Index::from_ldif("").unwrap());
    assert!(shared.reload(&path, None).is_err());
    shared.reload(&path, Some(&e.trust)).unwrap();
    assert_eq!(shared.current().providers().len(), 3);
}

/// Polls `check` every 20 ms for up to 2 s.
async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_reloader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.ldif");
    fs::write(&path, smaller_ldif()).unwrap();
    let shared = SharedIndex::new(Index::load(&path, None).unwrap());
    let task = shared.spawn_reloader(path.clone(), None, Duration::from_millis(50));
    // Let the task note the file as it is now.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(shared.current().providers().len(), 2);

    fs::write(&path, example_ldif()).unwrap();
    assert!(eventually(|| shared.current().providers().len() == 3).await);

    // A broken file is refused and the index in force kept...
    fs::write(&path, "dn: broken\nno colon here\n").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(shared.current().providers().len(), 3);

    // ...until a good one arrives.
    fs::write(&path, smaller_ldif()).unwrap();
    assert!(eventually(|| shared.current().providers().len() == 2).await);

    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
}
