-- pecora store, schema version 5: the webhooks' outbox. The batch that delivers a PEC
-- message (a receipt, a notice, a busta) into a box with webhooks adds here one event per
-- webhook, in the same transaction: an event exists exactly when its delivery committed,
-- so none is lost to a crash or a restart. The dispatcher takes the due ones, posts them and
-- deletes them (or pushes `next_attempt` on after a failure).
--
-- An event keeps what it announces (where the message landed, its kind and identificativo,
-- when it was received), not a reference to the message: moving or expunging the message
-- later does not change what was delivered. Deleting a webhook deletes its events.

CREATE TABLE webhook_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook         INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    folder          TEXT NOT NULL,
    uid             INTEGER NOT NULL CHECK (uid >= 1),
    kind            TEXT NOT NULL,
    identificativo  TEXT,
    received_at     INTEGER NOT NULL,
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),
    next_attempt    INTEGER NOT NULL,
    last_error      TEXT
) STRICT;

CREATE INDEX webhook_events_due ON webhook_events (next_attempt, id);
CREATE INDEX webhook_events_by_webhook ON webhook_events (webhook);
