-- The event log (PostgreSQL). Positions are assigned under the row lock of `log_head`, so
-- appends commit in position order and readers never see a later position before an earlier
-- one (see src/store/postgres.rs for why). `data` and `actor` are stored as the JSON text
-- that was hashed (jsonb would renormalise it); cast to jsonb for ad-hoc queries.
CREATE TABLE IF NOT EXISTS events (
    position        BIGINT      PRIMARY KEY,
    id              UUID        NOT NULL UNIQUE,
    stream          TEXT        NOT NULL,
    version         BIGINT      NOT NULL,
    type            TEXT        NOT NULL,
    schema_version  INTEGER     NOT NULL,
    data            TEXT        NOT NULL,
    actor           TEXT        NOT NULL,
    correlation_id  UUID        NOT NULL,
    causation_id    UUID,
    recorded_at     TIMESTAMPTZ NOT NULL,
    prev_hash       TEXT        NOT NULL,
    hash            TEXT        NOT NULL,
    UNIQUE (stream, version)
);

CREATE TABLE IF NOT EXISTS streams (
    stream   TEXT   PRIMARY KEY,
    version  BIGINT NOT NULL,
    hash     TEXT   NOT NULL
);

CREATE TABLE IF NOT EXISTS log_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    position  BIGINT  NOT NULL
);
INSERT INTO log_head (id, position) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
