//! Events of the session stream, `session-<uuid>`: the session's life, its members, the
//! participants present, the shared layout and recording. The SFU's media events go to the same
//! stream (see [`super::media`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::double_option;
use crate::envelope::Actor;
use crate::roles::SessionRole;

/// The layout grid: panels live on a grid of this many columns and rows.
pub const GRID_COLUMNS: u32 = 12;
/// See [`GRID_COLUMNS`].
pub const GRID_ROWS: u32 = 12;

/// One panel of the shared workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Panel {
    pub id: String,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub z: i32,
    /// The media source this panel shows, if any.
    pub source_id: Option<String>,
    /// The name an editor gave the panel (shown instead of the source's label); absent in
    /// layouts written before panels had names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Why a participant left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The participant closed its connection.
    Left,
    /// Its connection sent no heartbeat for the configured time.
    TimedOut,
    /// A host removed it (or its member).
    Kicked,
    /// Its connection dropped without a close (network cut, too slow a reader, server shutdown).
    Disconnected,
    /// Its join token expired; the client joins again.
    TokenExpired,
}

/// One field of the layout that a write set: a property of one panel (`x`, `y`, `w`, `h`, `z`,
/// `source_id`), or the panel set itself (`panel_id` null, `field` `"panels"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutFieldChange {
    pub panel_id: Option<String>,
    pub field: String,
    pub value: serde_json::Value,
}

/// A field that a write based on an older layout version touched although another writer had
/// changed it since that version. Last write wins: `winner` is this write's actor; `loser` is the
/// actor whose change (made at `loser_version`) was overwritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutConflict {
    pub panel_id: Option<String>,
    pub field: String,
    pub winner: Actor,
    pub loser: Actor,
    pub loser_version: u64,
}

/// A session was scheduled; its creator is added as host by the `MemberAdded` that follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionCreated {
    pub session_id: Uuid,
    pub title: String,
    pub procedure: Option<String>,
    pub scheduled_start: Option<chrono::DateTime<chrono::Utc>>,
    pub created_by: Uuid,
}

/// Only the fields that changed are `Some`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionDetailsChanged {
    pub session_id: Uuid,
    pub title: Option<String>,
    /// `Some(None)` clears the procedure.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub procedure: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub scheduled_start: Option<Option<chrono::DateTime<chrono::Utc>>>,
}

/// The session went live: members may join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionStarted {
    pub session_id: Uuid,
}

/// A live session ended; it accepts no command any more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEnded {
    pub session_id: Uuid,
}

/// A scheduled session was called off before it went live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionCancelled {
    pub session_id: Uuid,
    pub reason: Option<String>,
}

/// A user became a member of the session, in `role`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberAdded {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub role: SessionRole,
}

/// A member's session role changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRoleChanged {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub from: SessionRole,
    pub to: SessionRole,
}

/// A user is no longer a member of the session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRemoved {
    pub session_id: Uuid,
    pub user_id: Uuid,
}

/// A member joined the live session: one connection of one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantJoined {
    pub session_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub role: SessionRole,
    /// A label for the device ("OR camera 2", "laptop"); never patient data.
    pub device: Option<String>,
}

/// A participant left the session, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantLeft {
    pub session_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub reason: LeaveReason,
}

/// The default layout a new session starts with (version 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayoutInitialized {
    pub session_id: Uuid,
    pub version: u64,
    pub panels: Vec<Panel>,
}

/// An accepted layout write: a new version with the whole resulting panel set, what the write
/// changed, and which fields were contested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayoutUpdated {
    pub session_id: Uuid,
    pub version: u64,
    pub base_version: u64,
    pub changes: Vec<LayoutFieldChange>,
    pub conflicts: Vec<LayoutConflict>,
    pub panels: Vec<Panel>,
    /// Who made this write: folded into the per-field last-writer record, which `evolve` sees
    /// without the envelope.
    pub changed_by: Actor,
}

/// A panel now shows another media source; this is a layout change too (new layout version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSelected {
    pub session_id: Uuid,
    pub panel_id: String,
    pub source_id: Option<String>,
    pub layout_version: u64,
    /// Who selected it (see [`LayoutUpdated::changed_by`]).
    pub changed_by: Actor,
}

/// A recording of the session was asked for; it is not running yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingRequested {
    pub session_id: Uuid,
    pub recording_id: Uuid,
}

/// The requested recording is running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingStarted {
    pub session_id: Uuid,
    pub recording_id: Uuid,
}

/// The recording stopped (on request, or because the session ended).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingStopped {
    pub session_id: Uuid,
    pub recording_id: Uuid,
}
