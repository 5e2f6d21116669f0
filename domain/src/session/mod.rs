//! The Session aggregate, stream `session-<uuid>`: status, members, participants present, the
//! shared layout and the recording.
//!
//! Status machine: (not created) -> `scheduled` -> `live` -> `ended`, and `scheduled` ->
//! `cancelled`. Ended and cancelled sessions accept no command. All rules live in [`decide()`];
//! [`evolve()`] only records what the events say.
//!
//! Decisions this module makes (the brief left them open):
//! - checks run in this order: existence, permission, status, then the command's own rules;
//! - joining requires membership for everyone, admins included (an admin adds themself first);
//! - `EndSession` emits `ParticipantLeft{reason: left}` for each participant still present and
//!   `RecordingStopped` for an active recording, then `SessionEnded`, so the log never shows
//!   anyone present in, or recording, an ended session;
//! - `RemoveMember` of a member who is present emits `ParticipantLeft{reason: kicked}` for their
//!   participants first;
//! - leaving for any reason but `kicked` is for one's own participant; removing someone
//!   else's participant must say `kicked` and needs the host;
//! - layout edits and source selection are allowed while scheduled (to prepare) and live;
//! - a new recording may be started after the previous one stopped; starting needs no request
//!   first (`RecordingRequested` is read but no longer written);
//! - archive commands (retention, expiry) are accepted in every status, ended sessions
//!   included: archives outlive their session;
//! - an archive expires only once, never on legal hold, never before its `expires_at`, and
//!   only when its recording is over (`ready`, `incomplete` or `failed`);
//! - the teaching commands (strokes, pointer, chat, questions, hands) follow the rules and
//!   bounds listed in [`crate::teaching`].

mod command;
mod decide;
mod evolve;
mod placement;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::ArchiveStatus;
use crate::layout::LayoutState;
use crate::roles::SessionRole;
use crate::teaching::TeachingState;

pub use command::{
    MAX_DEVICE_LEN, MAX_PROCEDURE_LEN, MAX_REASON_LEN, MAX_TITLE_LEN, SessionCommand,
};
pub use decide::decide;
pub use evolve::{evolve, evolve_recorded, fold, session_id_of};
pub use placement::{MAX_NODE_ID_LEN, MAX_NODE_URL_LEN, NodeOffer, place_media};

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Scheduled,
    Live,
    Ended,
    Cancelled,
}

impl SessionStatus {
    /// The snake_case name (`"live"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Scheduled => "scheduled",
            SessionStatus::Live => "live",
            SessionStatus::Ended => "ended",
            SessionStatus::Cancelled => "cancelled",
        }
    }
}

/// Where the session's recording is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    #[default]
    Idle,
    Requested,
    Recording,
    Stopped,
}

/// The session's current (or last) recording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingState {
    pub status: RecordingStatus,
    pub recording_id: Option<Uuid>,
}

/// A participant present in the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub user_id: Uuid,
    /// The session role they joined with.
    pub role: SessionRole,
    pub device: Option<String>,
}

/// The folded state of one session. `Default` is a session not yet created.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionState {
    pub session_id: Option<Uuid>,
    /// `None` until created.
    pub status: Option<SessionStatus>,
    pub title: String,
    pub procedure: Option<String>,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    /// Members and their session roles.
    pub members: BTreeMap<Uuid, SessionRole>,
    /// Participants present, by participant id.
    pub participants: BTreeMap<Uuid, Presence>,
    pub layout: LayoutState,
    pub recording: RecordingState,
    /// The session's archives (one per recorded source per recording), by archive id.
    pub archives: BTreeMap<Uuid, ArchiveState>,
    /// Strokes, chat, questions, raised hands and the host's switches for them.
    pub teaching: TeachingState,
    /// The node the session's media is placed on (`MediaPlaced`), if any.
    pub media: Option<MediaPlacement>,
}

/// The node a session's media is placed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPlacement {
    pub node_id: String,
    /// The node's base URL; its WHIP and WHEP URLs are under it.
    pub url: String,
}

/// What the session's rules need to know of one archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveState {
    pub recording_id: Uuid,
    pub source: String,
    pub status: ArchiveStatus,
    pub expires_at: DateTime<Utc>,
    pub legal_hold: bool,
}

impl SessionState {
    /// The session role of `user_id`, if a member.
    pub fn role_of(&self, user_id: Uuid) -> Option<SessionRole> {
        self.members.get(&user_id).copied()
    }

    /// How many members are hosts.
    pub fn host_count(&self) -> usize {
        self.members
            .values()
            .filter(|r| **r == SessionRole::Host)
            .count()
    }
}
