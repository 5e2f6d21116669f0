//! Archive events, on the session stream (`session-<uuid>`): what the recorder stored of each
//! published source while the session was recorded, what became of it, who played it and when
//! it was deleted. `RecordingStarted` and `RecordingStopped` (who started and stopped recording,
//! in the envelope's actor) are in [`super::session`].
//!
//! An archive is one source (its video and audio) of one recording. Its life:
//! `ArchiveOpened` (status `recording`) -> `SegmentStored`* -> `ArchiveClosed` (`processing`)
//! -> `ArchiveFinalised` (`ready`, `incomplete` or `failed`) -> `ArchiveExpired` (`expired`).
//! No title, name or patient detail is in an object key or in these events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where an archive is in its life (the API's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveStatus {
    /// Segments are being stored while the session is recorded.
    Recording,
    /// The recording of this source ended; the playable form is being made.
    Processing,
    /// Complete and playable.
    Ready,
    /// The recorder was cut off (the server stopped mid-recording): what was stored plays.
    Incomplete,
    /// Nothing playable could be made.
    Failed,
    /// Deleted at the end of its retention.
    Expired,
}

impl ArchiveStatus {
    /// The snake_case name (`"ready"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveStatus::Recording => "recording",
            ArchiveStatus::Processing => "processing",
            ArchiveStatus::Ready => "ready",
            ArchiveStatus::Incomplete => "incomplete",
            ArchiveStatus::Failed => "failed",
            ArchiveStatus::Expired => "expired",
        }
    }
}

/// Why the recording of a source ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveCloseReason {
    /// The recording was stopped (by a member, or because the session ended).
    Stopped,
    /// The server stopped while recording; found so at its next start.
    Interrupted,
}

/// The recorder began storing a published source of a running recording (from the source's
/// first keyframe).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveOpened {
    pub session_id: Uuid,
    pub archive_id: Uuid,
    pub recording_id: Uuid,
    /// The source label (`endoscope`, `room-cam`).
    pub source: String,
    /// When the lifecycle task deletes it, unless on legal hold (from the configured retention).
    pub expires_at: DateTime<Utc>,
}

/// One self-contained media segment of an archive is in object storage (upload confirmed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentStored {
    pub session_id: Uuid,
    pub archive_id: Uuid,
    /// From 0, in recording order.
    pub seq: u32,
    /// The object's key in the archive store (ids only).
    pub object_key: String,
    pub bytes: u64,
    /// SHA-256 of the object, lowercase hex.
    pub sha256: String,
    /// Where the segment starts, in ms since the archive's first frame.
    pub start_ms: u64,
    pub duration_ms: u64,
}

/// The recorder fell behind and dropped frames of a source rather than hold up forwarding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingOverrun {
    pub session_id: Uuid,
    pub archive_id: Uuid,
    pub source: String,
    /// Frames dropped since the last report.
    pub dropped_frames: u64,
}

/// The recording of an archive's source ended; the playable form is made next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveClosed {
    pub session_id: Uuid,
    pub archive_id: Uuid,
    pub reason: ArchiveCloseReason,
}

/// The playable form of an archive is made (or could not be).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveFinalised {
    pub session_id: Uuid,
    pub archive_id: Uuid,
    /// `ready`, `incomplete` or `failed`.
    pub status: ArchiveStatus,
    /// The playable object's key; `None` when `failed`.
    pub object_key: Option<String>,
    /// Its media type (`video/mp4`, `video/webm`); `None` when `failed`.
    pub content_type: Option<String>,
    /// The playable object's size.
    pub bytes: u64,
    /// Its media duration.
    pub duration_ms: u64,
    /// SHA-256 of the playable object, lowercase hex; `None` when `failed`.
    pub sha256: Option<String>,
    /// Why it is `incomplete` or `failed`, in words.
    pub reason: Option<String>,
}

/// A member, reviewer or admin was handed a playback URL of an archive (the envelope's actor
/// says who).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveAccessed {
    pub session_id: Uuid,
    pub archive_id: Uuid,
    pub user_id: Uuid,
    /// When the URL stops working.
    pub url_expires_at: DateTime<Utc>,
}

/// An admin changed an archive's retention: its expiry, its legal hold, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveRetentionChanged {
    pub session_id: Uuid,
    pub archive_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub legal_hold: bool,
}

/// An archive's objects were deleted at the end of its retention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveExpired {
    pub session_id: Uuid,
    pub archive_id: Uuid,
    /// How many objects were deleted (segments and playable form).
    pub objects_deleted: u32,
}
