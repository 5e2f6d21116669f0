//! Signed tokens. Access tokens say who the user is (the role is re-read on every request, so a
//! role change or deactivation takes effect at once); join tokens say which participant of which
//! session may do what over the WebSocket or the SFU.

use std::path::Path;

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The audience of access tokens (the REST API).
pub const AUDIENCE_API: &str = "livesurgery-api";
/// The audience of WebSocket tokens.
pub const AUDIENCE_WS: &str = "livesurgery-ws";
/// The audience of SFU (WHIP/WHEP) tokens.
pub const AUDIENCE_SFU: &str = "livesurgery-sfu";
/// The audience of archive playback tokens (in the media URLs of `GET .../playback`).
pub const AUDIENCE_PLAYBACK: &str = "livesurgery-playback";
const ISSUER: &str = "livesurgery";
/// How far in the future a token's `iat` or `nbf` may be (clocks of several server processes
/// drift a little); beyond it the token is refused.
pub const FUTURE_LEEWAY_SECS: i64 = 60;

/// What a participant may do with media and the layout; carried in join tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaPermission {
    /// Send feeds (WHIP).
    Publish,
    /// Receive feeds (WHEP, WebSocket pushes).
    Subscribe,
    /// Change the shared layout.
    EditLayout,
}

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id.
    pub sub: Uuid,
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    /// Unique per token.
    pub jti: Uuid,
    /// The refresh-token family (sign-in) this token was issued in: revoking the family
    /// (logout, a replayed refresh token, deactivation) refuses the token at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<Uuid>,
}

/// Claims of a WebSocket or SFU token, scoped to one participant of one session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JoinClaims {
    /// The user id.
    pub sub: Uuid,
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// The session.
    pub sid: Uuid,
    /// The participant.
    pub pid: Uuid,
    /// The member's session role (`host`, `surgeon`, `observer`).
    pub role: String,
    /// Exactly what the role allows.
    pub perms: Vec<MediaPermission>,
    /// When `participants:join` issued it, in milliseconds since the epoch: the start of the
    /// SFU's join-to-first-frame measure (`iat` has only seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jat: Option<i64>,
}

/// Claims of a playback token: one user may fetch one archive's media until `exp`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlaybackClaims {
    /// The user the playback URL was handed to.
    pub sub: Uuid,
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// The archive.
    pub aid: Uuid,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
}

/// The signing key, for issuing and checking every token.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(***)")
    }
}

/// Reads the key from `DATA_DIR/jwt.key`, creating it (32 random bytes, hex, mode 0600) on
/// first start.
pub fn load_or_create_key(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("jwt.key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let key = existing.trim().to_owned();
        anyhow::ensure!(
            key.len() >= 32,
            "{} holds a key shorter than 32 characters",
            path.display()
        );
        return Ok(key);
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let key = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            use std::io::Write;
            file.write_all(key.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a token signing key");
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(&path)?.trim().to_owned())
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Keys {
    /// Keys from a shared secret.
    pub fn new(secret: &[u8]) -> Keys {
        Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    fn sign<C: Serialize>(&self, claims: &C) -> String {
        // HS256 over serialisable claims with an in-memory key cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .unwrap_or_default()
    }

    fn check<C: for<'de> Deserialize<'de>>(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<C, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        // A token issued (or valid) only in the future was not made by this server's clock:
        // refuse it, beyond a little drift.
        let latest = now() + FUTURE_LEEWAY_SECS;
        for claim in ["iat", "nbf"] {
            match claims.get(claim) {
                None => {}
                Some(value) => match value.as_i64() {
                    Some(at) if at <= latest => {}
                    _ => return Err(TokenError::Invalid),
                },
            }
        }
        serde_json::from_value(claims).map_err(|_| TokenError::Invalid)
    }

    /// A new access token for `user_id`, valid for `ttl_secs`, outside any sign-in family.
    pub fn issue_access(&self, user_id: Uuid, ttl_secs: u64) -> (String, AccessClaims) {
        self.issue_session_access(user_id, None, ttl_secs)
    }

    /// A new access token for `user_id` in refresh-token family `family`, valid for `ttl_secs`.
    pub fn issue_session_access(
        &self,
        user_id: Uuid,
        family: Option<Uuid>,
        ttl_secs: u64,
    ) -> (String, AccessClaims) {
        let iat = now();
        let claims = AccessClaims {
            sub: user_id,
            aud: AUDIENCE_API.to_owned(),
            iss: ISSUER.to_owned(),
            iat,
            exp: iat + ttl_secs as i64,
            jti: Uuid::new_v4(),
            fam: family,
        };
        (self.sign(&claims), claims)
    }

    /// Checks an access token's signature, audience and expiry.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        self.check(token, AUDIENCE_API)
    }

    /// A join token for `audience` ([`AUDIENCE_WS`] or [`AUDIENCE_SFU`]).
    #[allow(clippy::too_many_arguments)]
    pub fn issue_join(
        &self,
        audience: &str,
        user_id: Uuid,
        session_id: Uuid,
        participant_id: Uuid,
        role: &str,
        perms: Vec<MediaPermission>,
        ttl_secs: u64,
    ) -> (String, JoinClaims) {
        let iat = now();
        let claims = JoinClaims {
            sub: user_id,
            aud: audience.to_owned(),
            iss: ISSUER.to_owned(),
            iat,
            exp: iat + ttl_secs as i64,
            jti: Uuid::new_v4(),
            sid: session_id,
            pid: participant_id,
            role: role.to_owned(),
            perms,
            jat: Some(chrono::Utc::now().timestamp_millis()),
        };
        (self.sign(&claims), claims)
    }

    /// Checks a join token for `audience`.
    pub fn verify_join(&self, token: &str, audience: &str) -> Result<JoinClaims, TokenError> {
        self.check(token, audience)
    }

    /// A playback token of `archive_id` for `user_id`, valid for `ttl_secs`.
    pub fn issue_playback(
        &self,
        user_id: Uuid,
        archive_id: Uuid,
        ttl_secs: u64,
    ) -> (String, PlaybackClaims) {
        let iat = now();
        let claims = PlaybackClaims {
            sub: user_id,
            aud: AUDIENCE_PLAYBACK.to_owned(),
            iss: ISSUER.to_owned(),
            iat,
            exp: iat + ttl_secs as i64,
            jti: Uuid::new_v4(),
            aid: archive_id,
        };
        (self.sign(&claims), claims)
    }

    /// Checks a playback token's signature, audience and expiry.
    pub fn verify_playback(&self, token: &str) -> Result<PlaybackClaims, TokenError> {
        self.check(token, AUDIENCE_PLAYBACK)
    }

    /// The subject of an access token whose signature checks, expired or not: the scope of
    /// idempotency keys (an expired token still gets 401 from the handler).
    pub fn subject_unverified_expiry(&self, token: &str) -> Option<Uuid> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE_API]);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["sub"]);
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation)
            .ok()
            .map(|d| d.claims.sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_issued_in_the_future_is_refused_beyond_the_leeway() {
        let keys = Keys::new(b"0123456789abcdef0123456789abcdef");
        let user = Uuid::new_v4();
        let forge = |edit: &dyn Fn(&mut AccessClaims)| {
            let (_, mut claims) = keys.issue_access(user, 3600);
            edit(&mut claims);
            keys.sign(&claims)
        };
        let soon = now() + FUTURE_LEEWAY_SECS / 2;
        let later = now() + FUTURE_LEEWAY_SECS * 10;
        assert!(keys.verify_access(&forge(&|c| c.iat = soon)).is_ok());
        assert_eq!(
            keys.verify_access(&forge(&|c| c.iat = later)).unwrap_err(),
            TokenError::Invalid
        );
        let with_nbf = |nbf: i64| {
            let (_, claims) = keys.issue_access(user, 3600);
            let mut value = serde_json::to_value(claims).unwrap();
            value["nbf"] = nbf.into();
            keys.sign(&value)
        };
        assert!(keys.verify_access(&with_nbf(soon)).is_ok());
        assert_eq!(
            keys.verify_access(&with_nbf(later)).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn an_access_token_round_trips_and_a_tampered_one_is_refused() {
        let keys = Keys::new(b"0123456789abcdef0123456789abcdef");
        let user = Uuid::new_v4();
        let (token, _) = keys.issue_access(user, 60);
        assert_eq!(keys.verify_access(&token).unwrap().sub, user);
        let other = Keys::new(b"ffffffffffffffffffffffffffffffff");
        assert_eq!(
            other.verify_access(&token).unwrap_err(),
            TokenError::Invalid
        );
        // A join token is not an access token.
        let (join, _) = keys.issue_join(AUDIENCE_WS, user, user, user, "host", vec![], 60);
        assert_eq!(keys.verify_access(&join).unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn a_playback_token_opens_only_playback_and_no_other_token_opens_playback() {
        let keys = Keys::new(b"0123456789abcdef0123456789abcdef");
        let (user, archive) = (Uuid::new_v4(), Uuid::new_v4());
        let (token, _) = keys.issue_playback(user, archive, 60);
        let claims = keys.verify_playback(&token).unwrap();
        assert_eq!((claims.sub, claims.aid), (user, archive));
        assert_eq!(keys.verify_access(&token).unwrap_err(), TokenError::Invalid);
        assert_eq!(
            keys.verify_join(&token, AUDIENCE_WS).unwrap_err(),
            TokenError::Invalid
        );
        let (access, _) = keys.issue_access(user, 60);
        assert_eq!(
            keys.verify_playback(&access).unwrap_err(),
            TokenError::Invalid
        );
        let (expired, _) = keys.issue_playback(user, archive, 0);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(
            keys.verify_playback(&expired).unwrap_err(),
            TokenError::Expired
        );
    }
}
