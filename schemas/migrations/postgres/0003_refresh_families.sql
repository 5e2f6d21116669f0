-- Refresh-token families: one per sign-in. Every refresh token a sign-in leads to (by
-- rotation) belongs to its family, and so does every access token issued with them (the
-- `fam` claim). Replaying a spent refresh token revokes the whole family; logout revokes it
-- too. created_at bounds the session (absolute timeout), last_used_at its idleness (idle
-- timeout). Times are microseconds since the Unix epoch.
CREATE TABLE refresh_families (
    family_id      TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX refresh_families_user ON refresh_families (user_id);

-- A token used by rotation has used_at set; revoked_at alone means revoked otherwise.
ALTER TABLE refresh_tokens ADD COLUMN family_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN used_at BIGINT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
