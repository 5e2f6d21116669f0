-- State of the API that must NOT be in the event log (the log is immutable and exported for
-- audits): password hashes, refresh tokens, idempotency records. Times are microseconds since
-- the Unix epoch.

CREATE TABLE credentials (
    user_id       TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Only a SHA-256 of each refresh token is kept; a used token is revoked (rotation).
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- One row per (caller, Idempotency-Key): status 0 while the first request runs.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       BIGINT NOT NULL,
    headers      TEXT,
    body         TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
