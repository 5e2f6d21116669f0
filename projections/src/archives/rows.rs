//! The rows of the archives projection and their mapping to and from table columns.

use chrono::{DateTime, Utc};
use livesurgery_domain::events::ArchiveStatus;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::db::{
    Val, enum_name, get_bool, get_enum, get_opt_text, get_opt_time, get_text, get_time, get_u64,
    get_uuid,
};
use crate::error::ProjectionError;

/// One archive: one recorded source of one recording, from its first segment to its expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveRow {
    /// The archive.
    pub archive_id: Uuid,
    /// The session it was recorded in.
    pub session_id: Uuid,
    /// The recording it belongs to.
    pub recording_id: Uuid,
    /// The source label (`endoscope`, `room-cam`).
    pub source: String,
    /// Where the archive is in its life.
    pub status: ArchiveStatus,
    /// When the recorder began storing the source (`ArchiveOpened`).
    pub started_at: DateTime<Utc>,
    /// When the recording of the source ended (`ArchiveClosed`).
    pub ended_at: Option<DateTime<Utc>>,
    /// Media time: the end of the last segment until finalised, then the playable object's.
    pub duration_ms: u64,
    /// The sum of the segments' bytes until finalised, then the playable object's size (a
    /// `failed` archive keeps its segments' sum: nothing else is stored).
    pub bytes: u64,
    /// Segments stored (each object counted once, however often it was reported).
    pub segments: u64,
    /// The playable object's key, once finalised `ready` or `incomplete`.
    pub object_key: Option<String>,
    /// The playable object's media type (`video/mp4`).
    pub content_type: Option<String>,
    /// SHA-256 of the playable object, lowercase hex.
    pub sha256: Option<String>,
    /// When the lifecycle task deletes it, unless on legal hold.
    pub expires_at: DateTime<Utc>,
    /// An admin's hold: never expires while set.
    pub legal_hold: bool,
    /// Why it is `incomplete` or `failed`, in words.
    pub reason: Option<String>,
    /// Log position of `ArchiveOpened`: the list order and its cursor.
    pub opened_position: u64,
    /// When the last change was recorded.
    pub updated_at: DateTime<Utc>,
    /// Log position of the last event that changed this row.
    pub position: u64,
}

/// One stored segment of an archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRow {
    /// The object's key in the archive store (ids only); the row's key.
    pub object_key: String,
    /// The archive.
    pub archive_id: Uuid,
    /// From 0, in recording order.
    pub seq: u32,
    /// The object's size.
    pub bytes: u64,
    /// SHA-256 of the object, lowercase hex.
    pub sha256: String,
    /// Where the segment starts, in ms since the archive's first frame.
    pub start_ms: u64,
    /// Its media duration.
    pub duration_ms: u64,
    /// Log position of the `SegmentStored` that reported it (the last, if reported again).
    pub position: u64,
}

pub(super) const ARCHIVE_COLUMNS: &[&str] = &[
    "archive_id",
    "session_id",
    "recording_id",
    "source",
    "status",
    "started_at",
    "ended_at",
    "duration_ms",
    "bytes",
    "segments",
    "object_key",
    "content_type",
    "sha256",
    "expires_at",
    "legal_hold",
    "reason",
    "opened_position",
    "updated_at",
    "position",
];

impl ArchiveRow {
    pub(super) fn values(&self) -> Vec<Val> {
        vec![
            self.archive_id.into(),
            self.session_id.into(),
            self.recording_id.into(),
            self.source.clone().into(),
            enum_name(&self.status).into(),
            self.started_at.into(),
            self.ended_at.into(),
            self.duration_ms.into(),
            self.bytes.into(),
            self.segments.into(),
            self.object_key.clone().into(),
            self.content_type.clone().into(),
            self.sha256.clone().into(),
            self.expires_at.into(),
            self.legal_hold.into(),
            self.reason.clone().into(),
            self.opened_position.into(),
            self.updated_at.into(),
            self.position.into(),
        ]
    }

    pub(super) fn from_row(row: &AnyRow) -> Result<Self, ProjectionError> {
        Ok(ArchiveRow {
            archive_id: get_uuid(row, "archive_id")?,
            session_id: get_uuid(row, "session_id")?,
            recording_id: get_uuid(row, "recording_id")?,
            source: get_text(row, "source")?,
            status: get_enum(row, "status")?,
            started_at: get_time(row, "started_at")?,
            ended_at: get_opt_time(row, "ended_at")?,
            duration_ms: get_u64(row, "duration_ms")?,
            bytes: get_u64(row, "bytes")?,
            segments: get_u64(row, "segments")?,
            object_key: get_opt_text(row, "object_key")?,
            content_type: get_opt_text(row, "content_type")?,
            sha256: get_opt_text(row, "sha256")?,
            expires_at: get_time(row, "expires_at")?,
            legal_hold: get_bool(row, "legal_hold")?,
            reason: get_opt_text(row, "reason")?,
            opened_position: get_u64(row, "opened_position")?,
            updated_at: get_time(row, "updated_at")?,
            position: get_u64(row, "position")?,
        })
    }

    /// Whether the recorder is done with it: `ready`, `incomplete`, `failed` or `expired`.
    /// Segments reported after that change nothing on the archive.
    pub fn is_final(&self) -> bool {
        !matches!(
            self.status,
            ArchiveStatus::Recording | ArchiveStatus::Processing
        )
    }
}

pub(super) const SEGMENT_COLUMNS: &[&str] = &[
    "object_key",
    "archive_id",
    "seq",
    "bytes",
    "sha256",
    "start_ms",
    "duration_ms",
    "position",
];

impl SegmentRow {
    pub(super) fn values(&self) -> Vec<Val> {
        vec![
            self.object_key.clone().into(),
            self.archive_id.into(),
            u64::from(self.seq).into(),
            self.bytes.into(),
            self.sha256.clone().into(),
            self.start_ms.into(),
            self.duration_ms.into(),
            self.position.into(),
        ]
    }

    pub(super) fn from_row(row: &AnyRow) -> Result<Self, ProjectionError> {
        let seq = get_u64(row, "seq")?;
        Ok(SegmentRow {
            object_key: get_text(row, "object_key")?,
            archive_id: get_uuid(row, "archive_id")?,
            seq: u32::try_from(seq).map_err(|e| ProjectionError::Corrupt {
                column: "seq".into(),
                reason: e.to_string(),
            })?,
            bytes: get_u64(row, "bytes")?,
            sha256: get_text(row, "sha256")?,
            start_ms: get_u64(row, "start_ms")?,
            duration_ms: get_u64(row, "duration_ms")?,
            position: get_u64(row, "position")?,
        })
    }
}
