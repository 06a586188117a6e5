-- pecora store, schema version 6: an API send remembers a digest of what it asked for
-- (`request_hash`: lowercase hex SHA-256 of the draft as the engine reads it), so that a
-- second request with the same Idempotency-Key but another message is refused instead of
-- being answered with the first send's outcome while its own message is dropped. Sends
-- recorded before this version have none (NULL): a repeat of one of them is taken for the
-- same message, as it always was.

ALTER TABLE api_sends ADD COLUMN request_hash TEXT;
