-- The event log (SQLite). Positions are assigned by the single writer under BEGIN IMMEDIATE,
-- contiguous from 1. `data` and `actor` are stored as the JSON text that was hashed.
CREATE TABLE IF NOT EXISTS events (
    position        INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    stream          TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    type            TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    data            TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    correlation_id  TEXT    NOT NULL,
    causation_id    TEXT,
    recorded_at     TEXT    NOT NULL,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL,
    UNIQUE (stream, version)
);

-- Current version and last hash of every stream: the append path reads one row per stream
-- instead of scanning events.
CREATE TABLE IF NOT EXISTS streams (
    stream   TEXT    PRIMARY KEY,
    version  INTEGER NOT NULL,
    hash     TEXT    NOT NULL
);

-- The log head: one row, the position of the last committed event.
CREATE TABLE IF NOT EXISTS log_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    position  INTEGER NOT NULL
);
INSERT OR IGNORE INTO log_head (id, position) VALUES (1, 0);
