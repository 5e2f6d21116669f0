//! The JSON shapes of the API, as documented in `schemas/openapi.json`. Kept apart from the
//! domain and read-model types so the contract changes only when this file does.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use livesurgery_domain::roles::{OrgRole, SessionRole};
use livesurgery_projections::{
    AuditRow, LayoutRow, LayoutVersionRow, MemberRow, PresenceRow, ProjectionStatus,
    RecordingState, SessionRow, SessionStatus, UserRow,
};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::MediaPermission;

/// An organisation role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Surgeon,
    Observer,
    Reviewer,
}

impl From<OrgRole> for Role {
    fn from(r: OrgRole) -> Role {
        match r {
            OrgRole::Admin => Role::Admin,
            OrgRole::Surgeon => Role::Surgeon,
            OrgRole::Observer => Role::Observer,
            OrgRole::Reviewer => Role::Reviewer,
        }
    }
}

impl From<Role> for OrgRole {
    fn from(r: Role) -> OrgRole {
        match r {
            Role::Admin => OrgRole::Admin,
            Role::Surgeon => OrgRole::Surgeon,
            Role::Observer => OrgRole::Observer,
            Role::Reviewer => OrgRole::Reviewer,
        }
    }
}

/// A member's role in one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Host,
    Surgeon,
    Observer,
}

impl From<SessionRole> for MemberRole {
    fn from(r: SessionRole) -> MemberRole {
        match r {
            SessionRole::Host => MemberRole::Host,
            SessionRole::Surgeon => MemberRole::Surgeon,
            SessionRole::Observer => MemberRole::Observer,
        }
    }
}

impl From<MemberRole> for SessionRole {
    fn from(r: MemberRole) -> SessionRole {
        match r {
            MemberRole::Host => SessionRole::Host,
            MemberRole::Surgeon => SessionRole::Surgeon,
            MemberRole::Observer => SessionRole::Observer,
        }
    }
}

/// `null` and absent differ: absent leaves a field alone, `null` clears it.
fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

// ---- auth and users ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh (each can be used once).
    pub refresh_token: String,
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
    /// Trade it at `POST /v1/auth/refresh` for new tokens; valid once.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
    pub user: User,
}

/// A user of the organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// A deactivated user cannot sign in; their tokens stop working at once.
    pub active: bool,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(u: UserRow) -> User {
        User {
            id: u.user_id,
            username: u.username,
            display_name: u.display_name,
            role: u.role.into(),
            active: u.active,
            registered_at: u.registered_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// 3-64 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
    pub username: String,
    /// At least 12 characters.
    pub password: String,
    pub role: Role,
    pub display_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub role: Option<Role>,
    pub display_name: Option<String>,
    /// `false` deactivates the user (their tokens stop working at once); `true` reactivates.
    pub active: Option<bool>,
}

/// One page of users, ordered by username.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<User>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A user as every signed-in user may see them: enough to show a name and pick a member.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryEntry {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

impl From<UserRow> for DirectoryEntry {
    fn from(u: UserRow) -> DirectoryEntry {
        DirectoryEntry {
            id: u.user_id,
            username: u.username,
            display_name: u.display_name,
            role: u.role.into(),
        }
    }
}

/// One page of the directory of active users, ordered by username.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryPage {
    pub items: Vec<DirectoryEntry>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DirectoryQuery {
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Only active (`true`) or deactivated (`false`) users.
    pub active: Option<bool>,
    pub role: Option<Role>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

// ---- sessions ----

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Scheduled,
    Live,
    Ended,
    Cancelled,
}

impl From<SessionStatus> for Status {
    fn from(s: SessionStatus) -> Status {
        match s {
            SessionStatus::Scheduled => Status::Scheduled,
            SessionStatus::Live => Status::Live,
            SessionStatus::Ended => Status::Ended,
            SessionStatus::Cancelled => Status::Cancelled,
        }
    }
}

impl From<Status> for SessionStatus {
    fn from(s: Status) -> SessionStatus {
        match s {
            Status::Scheduled => SessionStatus::Scheduled,
            Status::Live => SessionStatus::Live,
            Status::Ended => SessionStatus::Ended,
            Status::Cancelled => SessionStatus::Cancelled,
        }
    }
}

/// Whether the session is being recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recording {
    Idle,
    Requested,
    Recording,
    Stopped,
}

impl From<RecordingState> for Recording {
    fn from(s: RecordingState) -> Recording {
        match s {
            RecordingState::Idle => Recording::Idle,
            RecordingState::Requested => Recording::Requested,
            RecordingState::Recording => Recording::Recording,
            RecordingState::Stopped => Recording::Stopped,
        }
    }
}

/// A live surgery session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub id: Uuid,
    pub title: String,
    pub procedure: Option<String>,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub status: Status,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub recording: Recording,
    pub recording_id: Option<Uuid>,
    pub member_count: u64,
    pub updated_at: DateTime<Utc>,
}

impl From<SessionRow> for Session {
    fn from(s: SessionRow) -> Session {
        Session {
            id: s.session_id,
            title: s.title,
            procedure: s.procedure,
            scheduled_start: s.scheduled_start,
            status: s.status.into(),
            created_by: s.created_by,
            created_at: s.created_at,
            started_at: s.started_at,
            ended_at: s.ended_at,
            cancelled_at: s.cancelled_at,
            cancel_reason: s.cancel_reason,
            recording: s.recording_state.into(),
            recording_id: s.recording_id,
            member_count: s.member_count,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// 1-200 characters.
    pub title: String,
    pub procedure: Option<String>,
    pub scheduled_start: Option<DateTime<Utc>>,
}

/// Absent fields stay as they are; `null` clears `procedure` or `scheduled_start`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSessionRequest {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub procedure: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub scheduled_start: Option<Option<DateTime<Utc>>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPage {
    pub items: Vec<Session>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListSessionsQuery {
    pub status: Option<Status>,
    /// Created at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CancelQuery {
    /// Why the session is cancelled (kept in the log; no patient data).
    pub reason: Option<String>,
}

/// A member of a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub user_id: Uuid,
    pub role: MemberRole,
    pub added_at: DateTime<Utc>,
}

impl From<MemberRow> for Member {
    fn from(m: MemberRow) -> Member {
        Member {
            user_id: m.user_id,
            role: m.role.into(),
            added_at: m.added_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<Member>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutMemberRequest {
    pub role: MemberRole,
}

// ---- participants ----

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// A label for the device (`"OR tablet"`), at most 100 characters.
    pub device: Option<String>,
}

/// Where and how to connect after joining.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinResponse {
    pub participant_id: Uuid,
    /// The caller's role in the session.
    pub role: MemberRole,
    /// What the tokens allow.
    pub permissions: Vec<MediaPermission>,
    pub ws: WsAccess,
    pub sfu: SfuAccess,
    pub ice_servers: Vec<IceServer>,
    /// When the WS and SFU tokens expire; join again for new ones.
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WsAccess {
    /// `GET` it as a WebSocket, with the token as `?token=` or in `Sec-WebSocket-Protocol`.
    pub url: String,
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SfuAccess {
    pub whip_url: String,
    pub whep_url: String,
    /// Send as `Authorization: Bearer <token>` to WHIP and WHEP.
    pub token: String,
}

pub use crate::sfu::turn::IceServer;

/// A participant present in a session now (one connection of one member).
#[derive(Debug, Serialize, ToSchema)]
pub struct Participant {
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub role: MemberRole,
    pub device: Option<String>,
    pub joined_at: DateTime<Utc>,
}

impl From<PresenceRow> for Participant {
    fn from(p: PresenceRow) -> Participant {
        Participant {
            participant_id: p.participant_id,
            user_id: p.user_id,
            role: p.role.into(),
            device: p.device,
            joined_at: p.joined_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantList {
    pub items: Vec<Participant>,
}

// ---- layout ----

/// One panel of the shared workspace (a 12 x 12 grid).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    /// 1-64 characters of `A-Za-z0-9 _ -`.
    pub id: String,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub z: i32,
    /// The media source shown (`endoscope`, `room-cam`, ...), or `null`.
    pub source_id: Option<String>,
}

/// The shared layout.
#[derive(Debug, Serialize, ToSchema)]
pub struct Layout {
    /// Grows by one with every accepted change.
    pub version: u64,
    pub panels: Vec<Panel>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<Uuid>,
}

impl From<livesurgery_domain::events::Panel> for Panel {
    fn from(p: livesurgery_domain::events::Panel) -> Panel {
        Panel {
            id: p.id,
            x: p.x,
            y: p.y,
            w: p.w,
            h: p.h,
            z: p.z,
            source_id: p.source_id,
        }
    }
}

impl From<LayoutRow> for Layout {
    fn from(l: LayoutRow) -> Layout {
        Layout {
            version: l.version,
            panels: l.panels.into_iter().map(Panel::from).collect(),
            updated_at: Some(l.updated_at),
            updated_by: l.updated_by,
        }
    }
}

/// Changes to some fields of a panel; absent fields stay, `source_id: null` clears the source.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PanelPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub w: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub z: Option<i32>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub source_id: Option<Option<String>>,
}

/// A layout change: panel fields to set, panels to add, panels to remove.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutChanges {
    /// Panel id -> the fields to change.
    #[serde(default)]
    pub panels: BTreeMap<String, PanelPatch>,
    #[serde(default)]
    pub add: Vec<Panel>,
    /// Ids of panels to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchLayoutRequest {
    /// The layout version the change was made on. An older one still applies, field by field
    /// (last write wins); the answer lists the fields that were contested.
    pub base_version: u64,
    pub changes: LayoutChanges,
}

/// The layout after a change, and what the change contested.
#[derive(Debug, Serialize, ToSchema)]
pub struct LayoutChangeResult {
    pub layout: Layout,
    /// The version this change created.
    pub version: u64,
    /// Fields this change overwrote although another writer had changed them since
    /// `base_version`: each with the winner and the loser.
    #[schema(value_type = Vec<Object>)]
    pub conflicts: serde_json::Value,
}

/// One version of the layout: what changed, who changed it, what was contested.
#[derive(Debug, Serialize, ToSchema)]
pub struct LayoutVersion {
    pub version: u64,
    pub base_version: Option<u64>,
    /// `initialized`, `updated` or `source_selected`.
    pub kind: String,
    /// The fields set: `{panel_id, field, value}`.
    #[schema(value_type = Vec<Object>)]
    pub changes: serde_json::Value,
    /// `{panel_id, field, winner, loser, loser_version}`.
    #[schema(value_type = Vec<Object>)]
    pub conflicts: serde_json::Value,
    /// `{user_id, role, participant_id}`.
    #[schema(value_type = Object)]
    pub actor: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
    pub position: u64,
}

impl From<LayoutVersionRow> for LayoutVersion {
    fn from(v: LayoutVersionRow) -> LayoutVersion {
        LayoutVersion {
            version: v.version,
            base_version: v.base_version,
            kind: v.kind,
            changes: serde_json::to_value(v.changes).unwrap_or_default(),
            conflicts: serde_json::to_value(v.conflicts).unwrap_or_default(),
            actor: serde_json::to_value(v.actor).unwrap_or_default(),
            recorded_at: v.recorded_at,
            position: v.position,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LayoutVersionPage {
    pub items: Vec<LayoutVersion>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

// ---- audit ----

/// One event of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    /// The event's log position.
    pub position: u64,
    pub recorded_at: DateTime<Utc>,
    /// The event type (`LayoutUpdated`, `AccessDenied`, ...).
    #[serde(rename = "type")]
    pub event_type: String,
    pub actor_user_id: Option<Uuid>,
    pub actor_role: Option<String>,
    pub participant_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub stream: String,
    /// `ok`, or `denied` for refused requests.
    pub outcome: String,
    pub correlation_id: Uuid,
    /// The event's `data`, as appended (`null` if the log no longer has it).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<AuditRow> for AuditEvent {
    fn from(a: AuditRow) -> AuditEvent {
        AuditEvent {
            position: a.position,
            recorded_at: a.recorded_at,
            event_type: a.action,
            actor_user_id: a.actor_user_id,
            actor_role: a.actor_role,
            participant_id: a.participant_id,
            session_id: a.session_id,
            stream: a.stream,
            outcome: a.outcome,
            correlation_id: a.correlation_id,
            data: serde_json::Value::Null,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events of this user.
    pub actor: Option<Uuid>,
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
    /// `ok` or `denied`.
    pub outcome: Option<String>,
    /// Recorded at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Recorded before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Only this session (for `GET /v1/audit`).
    pub session_id: Option<Uuid>,
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StateQuery {
    /// The moment to replay to (RFC 3339); default: now.
    pub at: Option<DateTime<Utc>>,
}

/// The outcome of a hash-chain check.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResult {
    /// True when every chain holds and ends where the log says it does.
    pub ok: bool,
    pub streams_checked: u64,
    pub events_checked: u64,
    pub broken: Option<BrokenLink>,
}

/// The first event whose chain link does not hold.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokenLink {
    pub stream: String,
    pub version: u64,
    pub position: u64,
    pub event_id: Uuid,
    pub reason: String,
}

// ---- operations ----

/// A projection's progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct Projection {
    pub name: String,
    /// The last log position applied.
    pub position: u64,
    /// Events behind the log head.
    pub lag: u64,
    /// Completed rebuilds plus one.
    pub generation: u64,
    pub updated_at: DateTime<Utc>,
    /// True while a rebuild runs.
    pub rebuilding: bool,
    /// How far a running rebuild has got.
    pub rebuild_position: Option<u64>,
}

impl Projection {
    pub fn new(s: ProjectionStatus, head: u64, rebuilding: bool) -> Projection {
        Projection {
            lag: head.saturating_sub(s.position),
            name: s.name,
            position: s.position,
            generation: s.generation,
            updated_at: s.updated_at,
            rebuilding,
            rebuild_position: s.rebuild_position,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionList {
    /// The log head position.
    pub head: u64,
    pub items: Vec<Projection>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    pub projections_position: u64,
    pub projections_lag: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`.
    pub status: String,
    pub head: u64,
    pub projections_position: u64,
    pub projections_lag: u64,
}

/// Parses an opaque cursor (a log position, or a username for users).
pub fn cursor_position(
    cursor: &Option<String>,
) -> Result<Option<u64>, crate::api::error::ApiError> {
    match cursor {
        None => Ok(None),
        Some(c) => c.parse::<u64>().map(Some).map_err(|_| {
            crate::api::error::ApiError::bad_request(
                "invalid_cursor",
                "cursor is not one this API gave out",
            )
        }),
    }
}

/// A write that is in the log but not yet visible in the read models (202).
#[derive(Debug, Serialize, ToSchema)]
pub struct WriteAccepted {
    /// The log position the write reached: send it as `X-Min-Position` to read it.
    pub position: u64,
    pub message: String,
}

// ---- replay ----
//
// The domain's `replay::SessionView`, as the OpenAPI document describes it: the domain stays free
// of the API's schema machinery, so this mirrors it field for field (the conversion below names
// every field, so a field added there without being added here fails to compile).

/// A session as it was at a moment, folded from the log (`GET /v1/sessions/{id}/state`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Replay {
    pub session_id: Option<Uuid>,
    /// `null` if the session did not exist yet at that time.
    pub status: Option<Status>,
    pub title: String,
    pub procedure: Option<String>,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub members: Vec<ReplayMember>,
    /// Participants present at that time.
    pub participants: Vec<ReplayParticipant>,
    pub layout: ReplayLayout,
    /// Panel id -> the source it shows (`null`: nothing).
    pub sources: BTreeMap<String, Option<String>>,
    pub recording: ReplayRecording,
    /// Sources published and subscribers connected at that time.
    pub media: ReplayMedia,
    /// The time replayed to (`null`: the end of the log).
    pub at: Option<DateTime<Utc>>,
    /// Global position of the last event folded (0: none).
    pub last_position: u64,
    /// Stream version of the last event folded (0: none).
    pub last_version: u64,
    /// When the last event folded was recorded.
    pub last_recorded_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayMember {
    pub user_id: Uuid,
    pub role: MemberRole,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayParticipant {
    pub participant_id: Uuid,
    pub user_id: Uuid,
    /// The session role they joined with.
    pub role: MemberRole,
    pub device: Option<String>,
    /// When they joined.
    pub joined_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayLayout {
    pub version: u64,
    pub panels: Vec<Panel>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayRecording {
    pub state: Recording,
    pub recording_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayMedia {
    /// In publish order.
    pub sources: Vec<ReplaySource>,
    /// In connection order.
    pub subscribers: Vec<ReplaySubscriber>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplaySource {
    pub source: String,
    /// The publisher's WHIP resource.
    pub resource_id: Uuid,
    pub user_id: Uuid,
    /// In publish order.
    pub tracks: Vec<ReplayTrack>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayTrack {
    /// `audio` or `video`.
    pub kind: String,
    pub codec: String,
    pub mid: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplaySubscriber {
    /// The subscriber's WHEP resource.
    pub resource_id: Uuid,
    pub user_id: Uuid,
    pub participant_id: Uuid,
    /// The source each video slot shows, in slot order (`null`: nothing).
    pub slots: Vec<Option<String>>,
}

impl From<livesurgery_domain::replay::SessionView> for Replay {
    fn from(v: livesurgery_domain::replay::SessionView) -> Replay {
        use livesurgery_domain::events::MediaKind;
        use livesurgery_domain::replay::{
            LayoutView, MediaSourceView, MediaView, MemberView, ParticipantView, RecordingView,
            SessionView, SubscriberView, TrackView,
        };
        use livesurgery_domain::session::{RecordingStatus, SessionStatus as DomainStatus};
        let SessionView {
            session_id,
            status,
            title,
            procedure,
            scheduled_start,
            members,
            participants,
            layout: LayoutView { version, panels },
            sources,
            recording:
                RecordingView {
                    state,
                    recording_id,
                },
            media:
                MediaView {
                    sources: published,
                    subscribers,
                },
            at,
            last_position,
            last_version,
            last_recorded_at,
        } = v;
        let track = |TrackView { kind, codec, mid }: TrackView| ReplayTrack {
            kind: match kind {
                MediaKind::Audio => "audio",
                MediaKind::Video => "video",
            }
            .to_owned(),
            codec,
            mid,
        };
        Replay {
            session_id,
            status: status.map(|s| match s {
                DomainStatus::Scheduled => Status::Scheduled,
                DomainStatus::Live => Status::Live,
                DomainStatus::Ended => Status::Ended,
                DomainStatus::Cancelled => Status::Cancelled,
            }),
            title,
            procedure,
            scheduled_start,
            members: members
                .into_iter()
                .map(|MemberView { user_id, role }| ReplayMember {
                    user_id,
                    role: role.into(),
                })
                .collect(),
            participants: participants
                .into_iter()
                .map(
                    |ParticipantView {
                         participant_id,
                         user_id,
                         role,
                         device,
                         joined_at,
                     }| ReplayParticipant {
                        participant_id,
                        user_id,
                        role: role.into(),
                        device,
                        joined_at,
                    },
                )
                .collect(),
            layout: ReplayLayout {
                version,
                panels: panels.into_iter().map(Panel::from).collect(),
            },
            sources,
            recording: ReplayRecording {
                state: match state {
                    RecordingStatus::Idle => Recording::Idle,
                    RecordingStatus::Requested => Recording::Requested,
                    RecordingStatus::Recording => Recording::Recording,
                    RecordingStatus::Stopped => Recording::Stopped,
                },
                recording_id,
            },
            media: ReplayMedia {
                sources: published
                    .into_iter()
                    .map(
                        |MediaSourceView {
                             source,
                             resource_id,
                             user_id,
                             tracks,
                         }| ReplaySource {
                            source,
                            resource_id,
                            user_id,
                            tracks: tracks.into_iter().map(track).collect(),
                        },
                    )
                    .collect(),
                subscribers: subscribers
                    .into_iter()
                    .map(
                        |SubscriberView {
                             resource_id,
                             user_id,
                             participant_id,
                             slots,
                         }| ReplaySubscriber {
                            resource_id,
                            user_id,
                            participant_id,
                            slots,
                        },
                    )
                    .collect(),
            },
            at,
            last_position,
            last_version,
            last_recorded_at,
        }
    }
}
