-- pecora store, schema version 1 (applied by store::sqlite; PRAGMA user_version counts the
-- scripts applied). Instants are Unix seconds; names are ASCII-lowercase; every list lives in
-- a child table with a `pos` column, so no free text is ever joined or split.

-- Accounts ------------------------------------------------------------------------------

CREATE TABLE domains (
    name        TEXT PRIMARY KEY NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE mailboxes (
    address        TEXT PRIMARY KEY NOT NULL,
    domain         TEXT NOT NULL REFERENCES domains (name),
    kind           TEXT NOT NULL CHECK (kind IN ('standard', 'pro', 'multiutenza')),
    state          TEXT NOT NULL CHECK (state IN ('sospesa', 'attiva', 'bloccata', 'revocata')),
    quota          INTEGER NOT NULL CHECK (quota >= 0),
    used           INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    ordinary_mail  TEXT NOT NULL CHECK (ordinary_mail IN ('rifiuta', 'anomalia')),
    password_hash  TEXT NOT NULL,
    created_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX mailboxes_by_domain ON mailboxes (domain, address);

-- Mailboxes -----------------------------------------------------------------------------

-- One row per folder ever delivered to; `uid_next` only grows, so a UID is never reused,
-- even after its message is gone.
CREATE TABLE folders (
    mailbox   TEXT NOT NULL REFERENCES mailboxes (address),
    name      TEXT NOT NULL,
    uid_next  INTEGER NOT NULL CHECK (uid_next >= 1),
    PRIMARY KEY (mailbox, name)
) STRICT, WITHOUT ROWID;

CREATE TABLE messages (
    mailbox         TEXT NOT NULL,
    folder          TEXT NOT NULL,
    uid             INTEGER NOT NULL CHECK (uid >= 1),
    blob            TEXT NOT NULL,
    size            INTEGER NOT NULL CHECK (size >= 0),
    received_at     INTEGER NOT NULL,
    kind            TEXT,
    identificativo  TEXT,
    PRIMARY KEY (mailbox, folder, uid),
    FOREIGN KEY (mailbox, folder) REFERENCES folders (mailbox, name)
) STRICT, WITHOUT ROWID;

CREATE INDEX messages_by_identificativo ON messages (identificativo)
    WHERE identificativo IS NOT NULL;

CREATE TABLE message_flags (
    mailbox  TEXT NOT NULL,
    folder   TEXT NOT NULL,
    uid      INTEGER NOT NULL,
    pos      INTEGER NOT NULL,
    flag     TEXT NOT NULL,
    PRIMARY KEY (mailbox, folder, uid, pos),
    FOREIGN KEY (mailbox, folder, uid) REFERENCES messages (mailbox, folder, uid)
        ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- Relay queue ---------------------------------------------------------------------------

-- AUTOINCREMENT: an id is never handed out twice, so a stale id cannot dequeue a new job.
CREATE TABLE queue (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    blob            TEXT NOT NULL,
    mail_from       TEXT NOT NULL,
    domain          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt    INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    identificativo  TEXT
) STRICT;

CREATE INDEX queue_by_due ON queue (next_attempt, id);

CREATE TABLE queue_rcpt (
    queue_id  INTEGER NOT NULL REFERENCES queue (id) ON DELETE CASCADE,
    pos       INTEGER NOT NULL,
    address   TEXT NOT NULL,
    PRIMARY KEY (queue_id, pos)
) STRICT, WITHOUT ROWID;

-- Idempotency keys of committed batches ----------------------------------------------------

CREATE TABLE once_keys (
    key  TEXT PRIMARY KEY NOT NULL
) STRICT, WITHOUT ROWID;

-- Sender-side tracker -------------------------------------------------------------------

-- `closed_at`: the first instant a final event (consegna, errore-consegna,
-- rilevazione-virus, scaduto) was recorded; NULL while the entry is open.
CREATE TABLE tracker (
    id              INTEGER PRIMARY KEY,
    identificativo  TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    mittente        TEXT NOT NULL,
    sent_at         INTEGER NOT NULL,
    closed_at       INTEGER,
    UNIQUE (identificativo, recipient)
) STRICT;

CREATE INDEX tracker_open ON tracker (sent_at, id) WHERE closed_at IS NULL;

CREATE TABLE tracker_events (
    tracker_id  INTEGER NOT NULL REFERENCES tracker (id) ON DELETE CASCADE,
    event       TEXT NOT NULL CHECK (event IN ('presa-in-carico', 'consegna', 'errore-consegna',
                                               'rilevazione-virus', 'preavviso', 'scaduto')),
    at          INTEGER NOT NULL,
    PRIMARY KEY (tracker_id, event)
) STRICT, WITHOUT ROWID;

-- Legal log (spec §8.3) -------------------------------------------------------------------

-- Every field of store::NewLogEvent exactly as given (NULL for None), plus its place in the
-- hash chain: hash = store::chain_hash(prev_hash, seq, event).
CREATE TABLE log (
    seq             INTEGER PRIMARY KEY CHECK (seq >= 1),
    at              INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    identificativo  TEXT,
    msgid           TEXT,
    sender          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    provider        TEXT NOT NULL,
    detail          TEXT,
    daticert        TEXT,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
) STRICT;

CREATE INDEX log_by_identificativo ON log (identificativo, seq)
    WHERE identificativo IS NOT NULL;

CREATE TABLE log_recipients (
    seq      INTEGER NOT NULL REFERENCES log (seq) ON DELETE CASCADE,
    pos      INTEGER NOT NULL,
    address  TEXT NOT NULL,
    PRIMARY KEY (seq, pos)
) STRICT, WITHOUT ROWID;

CREATE TABLE log_related (
    seq    INTEGER NOT NULL REFERENCES log (seq) ON DELETE CASCADE,
    pos    INTEGER NOT NULL,
    msgid  TEXT NOT NULL,
    PRIMARY KEY (seq, pos)
) STRICT, WITHOUT ROWID;

-- The two ends of the chain, kept apart from the events so that neither a deleted first
-- event nor a deleted last one goes unnoticed, and so that `seq` keeps counting after
-- everything was pruned. anchor: the event just before the first retained one (seq 0 and
-- 64 zeros until the first prune); head: the last event appended.
CREATE TABLE log_chain (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    anchor_seq   INTEGER NOT NULL,
    anchor_hash  TEXT NOT NULL,
    head_seq     INTEGER NOT NULL,
    head_hash    TEXT NOT NULL
) STRICT;

INSERT INTO log_chain (id, anchor_seq, anchor_hash, head_seq, head_hash) VALUES (
    1,
    0, '0000000000000000000000000000000000000000000000000000000000000000',
    0, '0000000000000000000000000000000000000000000000000000000000000000'
);
