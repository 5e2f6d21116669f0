//! Events of a user's access log, stream `access-<user uuid>`: refused requests and audit-trail
//! reads. No aggregate folds these; they are there for compliance reviews.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::permissions::Action;

/// A write (or a read of something the caller may not see) was refused by the API: who tried
/// what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessDenied {
    pub user_id: Uuid,
    /// The session concerned, when the request named one.
    pub session_id: Option<Uuid>,
    /// The permission that was missing.
    pub action: Action,
    /// HTTP method (`"POST"`); with `route`, never a raw URL or query (they may carry ids a
    /// caller was not allowed to learn about, or patient data).
    pub method: String,
    /// The route template (`"/v1/sessions/{id}:start"`).
    pub route: String,
    /// The HTTP status answered: 403, or 404 when the caller may not know the session exists.
    pub status: u16,
    /// Why, in words.
    pub reason: String,
}

/// What part of an audit trail was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditReadKind {
    /// The events themselves (`GET /v1/sessions/{id}/events`, `GET /v1/audit`).
    Events,
    /// A session replayed at a point in time (`GET /v1/sessions/{id}/state`).
    Replay,
    /// The hash chain verified (`POST /v1/sessions/{id}/audit:verify`).
    Verify,
    /// Audit records exported (`GET /v1/audit/export`).
    Export,
}

/// Someone read an audit trail (compliance: who looked at what, when).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditTrailRead {
    pub user_id: Uuid,
    /// The session whose trail was read; `None` for a read across sessions (`GET /v1/audit`).
    pub session_id: Option<Uuid>,
    pub kind: AuditReadKind,
    /// The filter parameters given, by name (`{"actor": "<uuid>", "type": "LayoutUpdated"}`).
    pub query: std::collections::BTreeMap<String, String>,
    /// The network address the request came from (IHE ATNA's "who"), when known. Absent in
    /// events recorded before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
}

/// A refresh token that had already been used was presented again: the mark of a stolen
/// token. The whole family (the sign-in it descends from) was revoked: its refresh and access
/// tokens stop working. No token in it: the family id only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshTokenReused {
    pub user_id: Uuid,
    /// The revoked family (a random id of the sign-in, not a token).
    pub family_id: Uuid,
}

/// Sign-in attempts for a user from one client address are being delayed after consecutive
/// wrong passwords. Only that pair is slowed; the user elsewhere is not. No password in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignInThrottled {
    pub user_id: Uuid,
    /// The client address the wrong passwords came from.
    pub address: String,
    /// Consecutive wrong passwords from that address.
    pub failures: u32,
    /// Seconds before the next attempt from that address is considered.
    pub delay_secs: u64,
}
