//! Refresh tokens and their families. A sign-in starts a family; each refresh uses up one
//! refresh token and issues the next in the same family (rotation). Replaying a used token is
//! the mark of a stolen one (OAuth 2.0 Security BCP, 4.14): the whole family is revoked, so
//! neither the thief nor the victim can go on with it, and the access tokens of the family
//! (their `fam` claim) stop working too. Logout revokes a family; the idle and absolute
//! session timeouts are measured on it.

use sqlx::Row;
use uuid::Uuid;

use super::credentials::{Credentials, CredentialsError, micros_now, token_digest};

/// Limits of a signed-in session, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Lifetime of one refresh token.
    pub refresh_ttl_secs: u64,
    /// A refresh more than this long after the family's last use is refused.
    pub idle_secs: u64,
    /// A refresh more than this long after the sign-in is refused.
    pub absolute_secs: u64,
}

/// What became of a refresh token presented for a refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// Valid and unused: it is now used up; issue the next token in `family_id`.
    Fresh { user_id: Uuid, family_id: Uuid },
    /// It had been used already: its family is now revoked (`newly`: by this call).
    Reused {
        user_id: Uuid,
        family_id: Uuid,
        newly: bool,
    },
    /// The session was idle longer than allowed; the family is now revoked.
    IdleTimeout,
    /// The session is older than allowed; the family is now revoked.
    AbsoluteTimeout,
    /// Unknown, expired, or revoked (logout, deactivation).
    Invalid,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

fn uuid_of(row: &sqlx::any::AnyRow, column: &str) -> Option<Uuid> {
    row.try_get::<Option<String>, _>(column)
        .ok()
        .flatten()
        .and_then(|s| Uuid::parse_str(&s).ok())
}

impl Credentials {
    /// Starts a family for a sign-in of `user_id`; returns its id.
    pub async fn start_family(&self, user_id: Uuid) -> Result<Uuid, CredentialsError> {
        let family_id = Uuid::new_v4();
        let now = micros_now();
        sqlx::query(
            "INSERT INTO refresh_families (family_id, user_id, created_at, last_used_at) \
             VALUES ($1, $2, $3, $3)",
        )
        .bind(family_id.to_string())
        .bind(user_id.to_string())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(family_id)
    }

    /// Issues a refresh token (random, 256 bits) of `family_id`; only its digest is stored.
    pub async fn issue_refresh(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        ttl_secs: u64,
    ) -> Result<String, CredentialsError> {
        let token = random_token();
        let expires_at = micros_now() + (ttl_secs as i64) * 1_000_000;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, user_id, expires_at, revoked_at, family_id) \
             VALUES ($1, $2, $3, NULL, $4)",
        )
        .bind(token_digest(&token))
        .bind(user_id.to_string())
        .bind(expires_at)
        .bind(family_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// Uses up a refresh token. Two concurrent uses of one token: exactly one is `Fresh`, the
    /// other `Reused` (and the family dies: a client must not race its own refreshes).
    pub async fn redeem_refresh(
        &self,
        token: &str,
        limits: SessionLimits,
    ) -> Result<Redeemed, CredentialsError> {
        let now = micros_now();
        let digest = token_digest(token);
        let used = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1, used_at = $1 \
             WHERE token_hash = $2 AND revoked_at IS NULL AND expires_at > $1 \
             RETURNING user_id, family_id",
        )
        .bind(now)
        .bind(&digest)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = used else {
            return self.after_failed_redeem(&digest).await;
        };
        let Some(user_id) = uuid_of(&row, "user_id") else {
            return Ok(Redeemed::Invalid);
        };
        // A token from before families existed starts one.
        let Some(family_id) = uuid_of(&row, "family_id") else {
            return Ok(Redeemed::Fresh {
                user_id,
                family_id: self.start_family(user_id).await?,
            });
        };
        let family = sqlx::query(
            "SELECT created_at, last_used_at, revoked_at FROM refresh_families WHERE family_id = $1",
        )
        .bind(family_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(family) = family else {
            return Ok(Redeemed::Invalid);
        };
        if family.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
            return Ok(Redeemed::Invalid);
        }
        let created_at: i64 = family.try_get("created_at")?;
        let last_used_at: i64 = family.try_get("last_used_at")?;
        let micros = |secs: u64| (secs as i64).saturating_mul(1_000_000);
        if now - created_at > micros(limits.absolute_secs) {
            self.revoke_family(family_id, "absolute_timeout").await?;
            return Ok(Redeemed::AbsoluteTimeout);
        }
        if now - last_used_at > micros(limits.idle_secs) {
            self.revoke_family(family_id, "idle_timeout").await?;
            return Ok(Redeemed::IdleTimeout);
        }
        sqlx::query("UPDATE refresh_families SET last_used_at = $1 WHERE family_id = $2")
            .bind(now)
            .bind(family_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(Redeemed::Fresh { user_id, family_id })
    }

    /// A token that could not be used: a replay of a used one revokes its family.
    async fn after_failed_redeem(&self, digest: &str) -> Result<Redeemed, CredentialsError> {
        let row = sqlx::query(
            "SELECT user_id, family_id, used_at FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(Redeemed::Invalid);
        };
        let used = row.try_get::<Option<i64>, _>("used_at")?.is_some();
        match (used, uuid_of(&row, "user_id"), uuid_of(&row, "family_id")) {
            (true, Some(user_id), Some(family_id)) => {
                let newly = self.revoke_family(family_id, "reuse").await?;
                Ok(Redeemed::Reused {
                    user_id,
                    family_id,
                    newly,
                })
            }
            _ => Ok(Redeemed::Invalid),
        }
    }

    /// Revokes a family and its refresh tokens; true when it was not revoked before.
    pub async fn revoke_family(
        &self,
        family_id: Uuid,
        reason: &str,
    ) -> Result<bool, CredentialsError> {
        let now = micros_now();
        let changed = sqlx::query(
            "UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 \
             WHERE family_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(family_id.to_string())
        .execute(&self.pool)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(changed > 0)
    }

    /// The family of a refresh token (used or not), for logout.
    pub async fn family_of(&self, token: &str) -> Result<Option<Uuid>, CredentialsError> {
        let row = sqlx::query("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_digest(token))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|row| uuid_of(&row, "family_id")))
    }

    /// Whether a family is live: it exists and has not been revoked. Access tokens of a
    /// revoked family are refused.
    pub async fn family_is_live(&self, family_id: Uuid) -> Result<bool, CredentialsError> {
        let row = sqlx::query("SELECT revoked_at FROM refresh_families WHERE family_id = $1")
            .bind(family_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<Option<i64>, _>("revoked_at")?.is_none(),
            None => false,
        })
    }
}
