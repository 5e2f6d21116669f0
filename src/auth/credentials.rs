//! Password hashes and refresh tokens, in tables beside the log (never in it: the log is
//! immutable and exported for audits). One SQL statement per function, through `sqlx::any`.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::Utc;
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};
use uuid::Uuid;

/// Why a credentials operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("the username is taken")]
    UsernameTaken,
    #[error("credentials database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Hashes a password with argon2id and a random salt (slow on purpose: run it off the runtime).
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    // A 16-byte salt is always a valid salt string, and hashing with default params cannot fail.
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Checks a password against a stored hash; false for a malformed hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash that takes as long to check as a real one: compared against when the username does
/// not exist, so a failed login takes the same time either way.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a password anyone has"))
}

pub(super) fn micros_now() -> i64 {
    Utc::now().timestamp_micros()
}

/// SHA-256 hex of a refresh token: only that is stored.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The credentials tables.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub(super) pool: AnyPool,
}

impl Credentials {
    /// Over the database the log lives in (the tables come with the log's migrations).
    pub fn new(pool: AnyPool) -> Credentials {
        Credentials { pool }
    }

    /// Stores a new user's password hash; the username must be free.
    pub async fn insert(
        &self,
        user_id: Uuid,
        username: &str,
        password_hash: &str,
    ) -> Result<(), CredentialsError> {
        let result = sqlx::query(
            "INSERT INTO credentials (user_id, username, password_hash, updated_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id.to_string())
        .bind(username)
        .bind(password_hash)
        .bind(micros_now())
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(CredentialsError::UsernameTaken)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a user's credentials (undoing an `insert` whose user could not be registered).
    pub async fn delete(&self, user_id: Uuid) -> Result<(), CredentialsError> {
        sqlx::query("DELETE FROM credentials WHERE user_id = $1")
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The user id and password hash stored for a username.
    pub async fn find(&self, username: &str) -> Result<Option<(Uuid, String)>, CredentialsError> {
        let row = sqlx::query("SELECT user_id, password_hash FROM credentials WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|row| {
            let id: String = row.try_get("user_id").ok()?;
            let hash: String = row.try_get("password_hash").ok()?;
            Some((Uuid::parse_str(&id).ok()?, hash))
        }))
    }

    /// Revokes every refresh token and family of a user (on deactivation).
    pub async fn revoke_all(&self, user_id: Uuid) -> Result<(), CredentialsError> {
        sqlx::query(
            "UPDATE refresh_families SET revoked_at = $1, revoked_reason = 'deactivated' \
             WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(micros_now())
        .bind(user_id.to_string())
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(micros_now())
        .bind(user_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }
}
