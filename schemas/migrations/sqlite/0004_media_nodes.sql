-- The server nodes that hold media now: one row per running `livesurgery serve` process,
-- written at start, renewed by its heartbeat and deleted when it stops. Operational state,
-- not history: which node a session's media is on is in the log (`MediaPlaced`); whether that
-- node still runs is here. A node is live while expires_at (microseconds since the Unix epoch)
-- is in the future.
CREATE TABLE media_nodes (
    node_id      TEXT PRIMARY KEY,
    url          TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
