//! The maildrop of a POP3 session (RFC 1939 §4-6): the box's INBOX as it was at login,
//! numbered from 1, with what the client did to it. Nothing reaches the store until QUIT
//! (the UPDATE state): then the retrieved messages get `\Seen` (and, in protocol-system
//! mode, leave INBOX through [`Engine::mark_read`]) and the deleted ones are expunged. A
//! session that ends any other way changes nothing, so a client that lost the connection
//! finds everything again next time.
//!
//! Messages delivered during the session are not seen until the next login; messages
//! removed meanwhile by another session (IMAP) are still listed, and their bytes still
//! readable, since blobs are content-addressed and outlive the message.

use engine::mailbox::Principal;
use engine::{Engine, EngineError, INBOX};
use store::{BlobId, FlagChange, StoreError};

/// One message of the maildrop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) uid: u32,
    pub(crate) blob: BlobId,
    /// The stored size: what LIST and STAT report. Stored messages have CRLF line ends, so
    /// it is the size RETR sends before dot-stuffing (RFC 1939 §11 allows a difference for
    /// a message stored otherwise).
    pub(crate) size: u64,
    deleted: bool,
    retrieved: bool,
}

/// Why a message number cannot be used; the text goes to the client after `-ERR`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NumberError {
    #[error("no such message: the maildrop has {0} messages")]
    NoSuchMessage(usize),
    #[error("message {0} already deleted")]
    Deleted(u32),
}

/// What QUIT could not apply; the session stays unchanged in the store from the failing
/// step on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpdateError {
    #[error("marking the retrieved messages \\Seen in {mailbox}: {source}")]
    Seen { mailbox: String, source: StoreError },
    #[error("taking the messages read by the protocol account out of {mailbox}'s INBOX: {source}")]
    ProtocolRead {
        mailbox: String,
        source: EngineError,
    },
    #[error("expunging the deleted messages of {mailbox}: {source}")]
    Expunge { mailbox: String, source: StoreError },
}

/// What QUIT applied.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Update {
    pub(crate) seen: usize,
    /// Messages taken out of INBOX by [`Engine::mark_read`].
    pub(crate) read_out: usize,
    pub(crate) expunged: usize,
}

/// The messages of one session.
#[derive(Debug)]
pub(crate) struct Maildrop {
    uidvalidity: u32,
    entries: Vec<Entry>,
}

impl Maildrop {
    /// The INBOX of `who`'s box, now.
    pub(crate) async fn open(engine: &Engine, who: &Principal) -> Result<Maildrop, StoreError> {
        let store = engine.store();
        let folder = store
            .folder(&who.mailbox, INBOX)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("INBOX of {}", who.mailbox)))?;
        let messages = store.messages(&who.mailbox, INBOX).await?;
        Ok(Maildrop::new(
            folder.uidvalidity,
            messages.into_iter().map(|m| (m.uid, m.blob, m.size)),
        ))
    }

    fn new(uidvalidity: u32, messages: impl IntoIterator<Item = (u32, BlobId, u64)>) -> Self {
        let entries = messages
            .into_iter()
            .map(|(uid, blob, size)| Entry {
                uid,
                blob,
                size,
                deleted: false,
                retrieved: false,
            })
            .collect();
        Maildrop {
            uidvalidity,
            entries,
        }
    }

    /// The messages not marked deleted, with their numbers.
    pub(crate) fn listing(&self) -> impl Iterator<Item = (u32, &Entry)> {
        (1..).zip(&self.entries).filter(|(_, entry)| !entry.deleted)
    }

    /// How many messages are not marked deleted, and their total size (STAT).
    pub(crate) fn totals(&self) -> (usize, u64) {
        self.listing()
            .fold((0, 0), |(count, size), (_, e)| (count + 1, size + e.size))
    }

    /// The message numbered `number`, unless it does not exist or is marked deleted.
    pub(crate) fn get(&self, number: u32) -> Result<&Entry, NumberError> {
        let entry = usize::try_from(number)
            .ok()
            .and_then(|n| self.entries.get(n.checked_sub(1)?))
            .ok_or(NumberError::NoSuchMessage(self.entries.len()))?;
        if entry.deleted {
            return Err(NumberError::Deleted(number));
        }
        Ok(entry)
    }

    fn get_mut(&mut self, number: u32) -> Result<&mut Entry, NumberError> {
        self.get(number)?;
        Ok(&mut self.entries[number as usize - 1])
    }

    /// The unique-id of a message (UIDL): stable across sessions as long as the folder
    /// keeps its UIDVALIDITY, and never given to another message of it.
    pub(crate) fn unique_id(&self, entry: &Entry) -> String {
        format!("{}.{}", self.uidvalidity, entry.uid)
    }

    /// Remembers that the client retrieved the message (RETR), for QUIT.
    pub(crate) fn retrieve(&mut self, number: u32) -> Result<(), NumberError> {
        self.get_mut(number)?.retrieved = true;
        Ok(())
    }

    /// Marks the message deleted (DELE).
    pub(crate) fn delete(&mut self, number: u32) -> Result<(), NumberError> {
        self.get_mut(number)?.deleted = true;
        Ok(())
    }

    /// Unmarks every deleted message (RSET).
    pub(crate) fn undelete_all(&mut self) {
        for entry in &mut self.entries {
            entry.deleted = false;
        }
    }

    fn uids(&self, pick: impl Fn(&Entry) -> bool) -> Vec<u32> {
        self.entries
            .iter()
            .filter(|e| pick(e))
            .map(|e| e.uid)
            .collect()
    }

    /// Applies the session to the store (the UPDATE state), and tells the engine the box
    /// changed when something did.
    pub(crate) async fn update(
        &self,
        engine: &Engine,
        who: &Principal,
    ) -> Result<Update, UpdateError> {
        let retrieved = self.uids(|e| e.retrieved);
        let deleted = self.uids(|e| e.deleted);
        if retrieved.is_empty() && deleted.is_empty() {
            return Ok(Update::default());
        }
        let result = apply(engine, who, &retrieved, &deleted).await;
        engine.mailbox_changed(&who.mailbox);
        result
    }
}

async fn apply(
    engine: &Engine,
    who: &Principal,
    retrieved: &[u32],
    deleted: &[u32],
) -> Result<Update, UpdateError> {
    let store = engine.store();
    let mailbox = &who.mailbox;
    let mut update = Update::default();
    if !retrieved.is_empty() {
        let seen = ["\\Seen".to_owned()];
        update.seen = store
            .store_flags(mailbox, INBOX, retrieved, FlagChange::Add, &seen, None)
            .await
            .map_err(|source| UpdateError::Seen {
                mailbox: mailbox.clone(),
                source,
            })?
            .changed
            .len();
        update.read_out = engine
            .mark_read(who, INBOX, retrieved)
            .await
            .map_err(|source| UpdateError::ProtocolRead {
                mailbox: mailbox.clone(),
                source,
            })?
            .len();
    }
    if !deleted.is_empty() {
        update.expunged = store
            .expunge(mailbox, INBOX, deleted)
            .await
            .map_err(|source| UpdateError::Expunge {
                mailbox: mailbox.clone(),
                source,
            })?
            .len();
    }
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maildrop() -> Maildrop {
        Maildrop::new(
            7,
            [
                (3, "a".into(), 100),
                (5, "b".into(), 20),
                (9, "c".into(), 3),
            ],
        )
    }

    #[test]
    fn messages_are_numbered_from_one_with_stable_unique_ids() {
        let m = maildrop();
        assert_eq!(m.totals(), (3, 123));
        let listed: Vec<(u32, String)> = m.listing().map(|(n, e)| (n, m.unique_id(e))).collect();
        assert_eq!(
            listed,
            [(1, "7.3".into()), (2, "7.5".into()), (3, "7.9".into())]
        );
        assert_eq!(m.get(2).unwrap().blob, "b");
        assert_eq!(m.get(0), Err(NumberError::NoSuchMessage(3)));
        assert_eq!(m.get(4), Err(NumberError::NoSuchMessage(3)));
        assert_eq!(m.get(u32::MAX), Err(NumberError::NoSuchMessage(3)));
    }

    #[test]
    fn deleted_messages_vanish_until_rset() {
        let mut m = maildrop();
        m.delete(2).unwrap();
        assert_eq!(m.delete(2), Err(NumberError::Deleted(2)));
        assert_eq!(m.get(2), Err(NumberError::Deleted(2)));
        assert_eq!(m.retrieve(2), Err(NumberError::Deleted(2)));
        assert_eq!(m.totals(), (2, 103));
        assert_eq!(m.listing().map(|(n, _)| n).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(m.uids(|e| e.deleted), [5]);
        m.undelete_all();
        assert_eq!(m.totals(), (3, 123));
        assert!(m.uids(|e| e.deleted).is_empty());
    }

    #[test]
    fn retrieval_is_remembered_for_quit() {
        let mut m = maildrop();
        m.retrieve(1).unwrap();
        m.retrieve(3).unwrap();
        m.retrieve(3).unwrap();
        assert_eq!(m.uids(|e| e.retrieved), [3, 9]);
    }
}
