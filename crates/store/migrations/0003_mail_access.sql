-- pecora store, schema version 3: mail access (IMAP, POP3, web). Folders become objects of
-- their own, with what IMAP needs to keep clients in step (UIDVALIDITY, MODSEQ); boxes gain
-- their issue-5 settings; multi-user boxes gain delegates; the legal log records who acted.
-- The columns added to existing tables carry a DEFAULT only so that the rows already there
-- can be given a value; the store always writes them explicitly.

-- Mailboxes -------------------------------------------------------------------------------

ALTER TABLE mailboxes ADD COLUMN receipts_folder TEXT;
ALTER TABLE mailboxes ADD COLUMN protocol_account TEXT;
-- 1 once the 90 % quota warning was delivered, until usage falls below 90 % or the quota
-- changes.
ALTER TABLE mailboxes ADD COLUMN quota_warned INTEGER NOT NULL DEFAULT 0
    CHECK (quota_warned IN (0, 1));
-- The highest UIDVALIDITY any folder of the box ever had (0: none). A new folder gets a
-- higher one, so a folder deleted and created again never passes for the old one; it lives
-- here, not in `folders`, so that deleting the folder does not forget it.
ALTER TABLE mailboxes ADD COLUMN last_uidvalidity INTEGER NOT NULL DEFAULT 0
    CHECK (last_uidvalidity BETWEEN 0 AND 4294967295);

-- Folders: every folder of a box, INBOX included, whether or not it holds messages.
-- `highest_modseq` is the folder's MODSEQ counter (RFC 7162): raised for every message
-- stored, every flag change and every expunge.
ALTER TABLE folders ADD COLUMN uidvalidity INTEGER NOT NULL DEFAULT 1
    CHECK (uidvalidity BETWEEN 1 AND 4294967295);
ALTER TABLE folders ADD COLUMN highest_modseq INTEGER NOT NULL DEFAULT 1
    CHECK (highest_modseq >= 1);

-- The MODSEQ the message got when stored or when its flags last changed.
ALTER TABLE messages ADD COLUMN modseq INTEGER NOT NULL DEFAULT 1 CHECK (modseq >= 1);

-- The folders already there get distinct UIDVALIDITYs (the box's creation second, then one
-- more per folder by name), the boxes without an INBOX get one after them, and each box
-- remembers the highest. Their messages keep MODSEQ 1, the folders' HIGHESTMODSEQ.
UPDATE folders SET uidvalidity = (
    SELECT max(1, min(m.created_at, 4000000000)) FROM mailboxes m WHERE m.address = folders.mailbox
) + (
    SELECT count(*) FROM folders g WHERE g.mailbox = folders.mailbox AND g.name < folders.name
);

INSERT INTO folders (mailbox, name, uid_next, uidvalidity, highest_modseq)
SELECT m.address, 'INBOX', 1,
       max(1, min(m.created_at, 4000000000))
           + (SELECT count(*) FROM folders g WHERE g.mailbox = m.address),
       1
FROM mailboxes m
WHERE NOT EXISTS (SELECT 1 FROM folders f WHERE f.mailbox = m.address AND f.name = 'INBOX');

UPDATE mailboxes SET last_uidvalidity = (
    SELECT max(uidvalidity) FROM folders WHERE folders.mailbox = mailboxes.address
);

-- What the PRO archive (`Archivio` and below) holds no longer counts towards the quota.
UPDATE mailboxes SET used = (
    SELECT coalesce(sum(size), 0) FROM messages
    WHERE messages.mailbox = mailboxes.address
      AND messages.folder <> 'Archivio'
      AND substr(messages.folder, 1, 9) <> 'Archivio/'
);

-- Delegates of multi-user boxes -----------------------------------------------------------

-- A login is never a mailbox address (the store checks both ways), so one name space
-- serves holders and delegates at login.
CREATE TABLE delegates (
    login          TEXT PRIMARY KEY NOT NULL,
    mailbox        TEXT NOT NULL REFERENCES mailboxes (address),
    role           TEXT NOT NULL CHECK (role IN ('lettura', 'invio', 'gestione')),
    password_hash  TEXT NOT NULL,
    created_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX delegates_by_mailbox ON delegates (mailbox, login);

-- Legal log -------------------------------------------------------------------------------

-- store::NewLogEvent::actor: the delegate who acted for the holder (NULL: the holder, or no
-- one). Events written before it have NULL, and chain_hash leaves an absent actor out, so
-- their hashes still verify.
ALTER TABLE log ADD COLUMN actor TEXT;
