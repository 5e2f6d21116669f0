//! Signing in, refreshing tokens and signing out (`/v1/auth/…`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::User;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// The refresh token, in the body (API clients) or, for the web app, in the
/// `livesurgery_refresh` cookie with the `X-LiveSurgery-CSRF: 1` header (then the body may be
/// empty or `{}`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh (each can be used once; a second use
    /// revokes every token of its sign-in).
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// A signed-in user's tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Trade it at `POST /v1/auth/refresh` for new tokens; valid once. Absent for the web app
    /// (`X-LiveSurgery-CSRF: 1`), which gets it as an `HttpOnly` cookie instead, out of reach of
    /// scripts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
    pub user: User,
}
