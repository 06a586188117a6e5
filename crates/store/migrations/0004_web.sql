-- pecora store, schema version 4: what the web needs (issue 6) — holder settings, the
-- activation of boxes created in bulk, password history and recovery, provider and domain
-- administrators, and the REST API's keys, idempotent sends and webhooks.
--
-- `mailboxes` is rebuilt: SQLite cannot widen a CHECK in place, and the ordinary-mail policy
-- gains two values whose target must be present exactly when they are chosen. The store
-- runs this script with foreign keys off and checks them all before committing
-- (store::sqlite::migrate), as SQLite's documented table rebuild requires.

CREATE TABLE mailboxes_v4 (
    address          TEXT PRIMARY KEY NOT NULL,
    domain           TEXT NOT NULL REFERENCES domains (name),
    kind             TEXT NOT NULL CHECK (kind IN ('standard', 'pro', 'multiutenza')),
    state            TEXT NOT NULL
        CHECK (state IN ('sospesa', 'attiva', 'bloccata', 'revocata')),
    quota            INTEGER NOT NULL CHECK (quota >= 0),
    used             INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    ordinary_mail    TEXT NOT NULL
        CHECK (ordinary_mail IN ('rifiuta', 'anomalia', 'inoltra', 'cartella')),
    -- The address (inoltra) or the folder (cartella) of the ordinary-mail policy.
    ordinary_mail_target  TEXT,
    password_hash    TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    receipts_folder  TEXT,
    protocol_account TEXT,
    quota_warned     INTEGER NOT NULL DEFAULT 0 CHECK (quota_warned IN (0, 1)),
    last_uidvalidity INTEGER NOT NULL DEFAULT 0
        CHECK (last_uidvalidity BETWEEN 0 AND 4294967295),
    -- The holder's data, confirmed at activation (all three or none).
    holder_nome      TEXT,
    holder_cognome   TEXT,
    holder_email     TEXT,
    -- Where password-recovery links are sent.
    recovery_address TEXT,
    -- A box created in bulk: the holder must change the initial password (and confirm the
    -- data) before the deadline, or the box is blocked.
    must_change_password  INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    activation_deadline   INTEGER,
    -- A copy of every PEC received goes to this ordinary address (no legal value).
    forward_copy     TEXT,
    -- A daily summary of the box goes to the recovery address.
    daily_report     INTEGER NOT NULL DEFAULT 0 CHECK (daily_report IN (0, 1)),
    CHECK ((ordinary_mail IN ('inoltra', 'cartella')) = (ordinary_mail_target IS NOT NULL)),
    CHECK ((holder_nome IS NULL) = (holder_cognome IS NULL)
        AND (holder_nome IS NULL) = (holder_email IS NULL))
) STRICT;

INSERT INTO mailboxes_v4 (address, domain, kind, state, quota, used, ordinary_mail,
    password_hash, created_at, receipts_folder, protocol_account, quota_warned,
    last_uidvalidity)
SELECT address, domain, kind, state, quota, used, ordinary_mail, password_hash, created_at,
    receipts_folder, protocol_account, quota_warned, last_uidvalidity
FROM mailboxes;

DROP TABLE mailboxes;
ALTER TABLE mailboxes_v4 RENAME TO mailboxes;
CREATE INDEX mailboxes_by_domain ON mailboxes (domain, address);
CREATE INDEX mailboxes_awaiting_activation ON mailboxes (activation_deadline)
    WHERE must_change_password = 1;

-- Notices of new PEC to ordinary addresses: up to two recipients (`list` 'to'), and, if
-- given, up to two senders (`list` 'from') whose messages alone are announced.
CREATE TABLE new_pec_notices (
    mailbox  TEXT NOT NULL REFERENCES mailboxes (address),
    list     TEXT NOT NULL CHECK (list IN ('to', 'from')),
    pos      INTEGER NOT NULL CHECK (pos IN (0, 1)),
    address  TEXT NOT NULL,
    PRIMARY KEY (mailbox, list, pos)
) STRICT, WITHOUT ROWID;

-- Passwords -------------------------------------------------------------------------------

-- The hashes a login (a box's address or a delegate's login: one name space) had before its
-- current one; `seq` grows, and only the newest few are kept.
CREATE TABLE password_history (
    login  TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    hash   TEXT NOT NULL,
    PRIMARY KEY (login, seq)
) STRICT, WITHOUT ROWID;

-- Password recovery: the SHA-256 of a random token sent to the recovery address; used once.
CREATE TABLE recovery_tokens (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    mailbox     TEXT NOT NULL REFERENCES mailboxes (address),
    expires_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Administrators ---------------------------------------------------------------------------

-- A provider admin (domain NULL) manages domains and postmasters; a postmaster manages the
-- boxes of its domain only. Their own name space: the panel, not mail access.
CREATE TABLE admins (
    login          TEXT PRIMARY KEY NOT NULL,
    password_hash  TEXT NOT NULL,
    domain         TEXT REFERENCES domains (name),
    created_at     INTEGER NOT NULL
) STRICT;

-- REST API -------------------------------------------------------------------------------

CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox     TEXT NOT NULL REFERENCES mailboxes (address),
    label       TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;

CREATE INDEX api_keys_by_mailbox ON api_keys (mailbox, id);

-- The idempotency keys of API sends, recorded by the batch of the send itself.
CREATE TABLE api_sends (
    mailbox         TEXT NOT NULL REFERENCES mailboxes (address),
    key             TEXT NOT NULL,
    identificativo  TEXT NOT NULL,
    PRIMARY KEY (mailbox, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox     TEXT NOT NULL REFERENCES mailboxes (address),
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX webhooks_by_mailbox ON webhooks (mailbox, id);
