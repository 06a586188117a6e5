-- pecora store, schema version 2: the archivio dei virus (spec §8.4). Every message a
-- gestore blocks for a virus is kept, by the gestore that found it, for 30 months (DPR
-- 68/2005 art. 12): the bytes as received (a blob) and what the administrator needs to find
-- them again.

CREATE TABLE virus_archive (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,
    point           TEXT NOT NULL CHECK (point IN ('accesso', 'ricezione')),
    virus           TEXT NOT NULL,
    blob            TEXT NOT NULL,
    size            INTEGER NOT NULL CHECK (size >= 0),
    identificativo  TEXT,
    sender          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    gestore         TEXT NOT NULL
) STRICT;

CREATE INDEX virus_archive_by_at ON virus_archive (at);

CREATE TABLE virus_archive_rcpt (
    record   INTEGER NOT NULL REFERENCES virus_archive (id) ON DELETE CASCADE,
    pos      INTEGER NOT NULL,
    address  TEXT NOT NULL,
    PRIMARY KEY (record, pos)
) STRICT, WITHOUT ROWID;
