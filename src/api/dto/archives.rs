//! Recordings and archives (`/v1/sessions/{id}/recordings:…`, `/v1/sessions/{id}/archives`,
//! `/v1/archives/{id}…`).

use chrono::{DateTime, Utc};
use livesurgery_domain::events::ArchiveStatus as DomainArchiveStatus;
use livesurgery_projections::{ArchiveRow, RecordingState, SessionRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where an archive is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveStatus {
    /// Segments are being stored while the session is recorded.
    Recording,
    /// The recording of this source ended; the playable form is being made (`progress`).
    Processing,
    /// Complete and playable.
    Ready,
    /// The server stopped mid-recording: what was stored plays.
    Incomplete,
    /// Nothing playable could be made.
    Failed,
    /// Deleted at the end of its retention.
    Expired,
}

impl From<DomainArchiveStatus> for ArchiveStatus {
    fn from(s: DomainArchiveStatus) -> ArchiveStatus {
        match s {
            DomainArchiveStatus::Recording => ArchiveStatus::Recording,
            DomainArchiveStatus::Processing => ArchiveStatus::Processing,
            DomainArchiveStatus::Ready => ArchiveStatus::Ready,
            DomainArchiveStatus::Incomplete => ArchiveStatus::Incomplete,
            DomainArchiveStatus::Failed => ArchiveStatus::Failed,
            DomainArchiveStatus::Expired => ArchiveStatus::Expired,
        }
    }
}

/// One recorded source (its video and audio) of one recording of a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Archive {
    pub id: Uuid,
    pub session_id: Uuid,
    /// The source label (`endoscope`, `room-cam`).
    pub source: String,
    pub status: ArchiveStatus,
    /// When the recorder began storing the source.
    pub started_at: DateTime<Utc>,
    /// When the recording of the source ended; `null` while recording.
    pub ended_at: Option<DateTime<Utc>>,
    /// Media time: what is stored so far, then the playable form's duration.
    pub duration_ms: u64,
    /// The segments' bytes so far, then the playable form's size.
    pub bytes: u64,
    /// The playable form's media type (`video/mp4`), once there is one.
    pub content_type: Option<String>,
    /// When the archive is deleted, unless on legal hold.
    pub expires_at: DateTime<Utc>,
    /// Set by an admin: never deleted while set.
    pub legal_hold: bool,
    /// The recording it belongs to (one per start of recording).
    pub recording_id: Uuid,
    /// Segments stored.
    pub segments: u64,
    /// How far the playable form is, 0 to 1, while `processing` (when the server making it
    /// reports); otherwise `null`.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub progress: Option<f64>,
}

impl Archive {
    /// The archive of a read-model row, with the progress of its processing job if any.
    pub fn new(row: ArchiveRow, progress: Option<f32>) -> Archive {
        let processing = row.status == DomainArchiveStatus::Processing;
        Archive {
            id: row.archive_id,
            session_id: row.session_id,
            source: row.source,
            status: row.status.into(),
            started_at: row.started_at,
            ended_at: row.ended_at,
            duration_ms: row.duration_ms,
            bytes: row.bytes,
            content_type: row.content_type,
            expires_at: row.expires_at,
            legal_hold: row.legal_hold,
            recording_id: row.recording_id,
            segments: row.segments,
            // Three decimals: an f32 widened as is would print as 0.10000000149011612.
            progress: progress
                .filter(|_| processing)
                .map(|p| (f64::from(p) * 1000.0).round() / 1000.0),
        }
    }
}

/// A session's archives, in recording order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArchivePage {
    pub items: Vec<Archive>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A recording started or stopped.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingResult {
    /// The recording started, or the one stopped.
    pub recording_id: Uuid,
    /// The log position of the write (also in `X-Position`).
    pub position: u64,
}

/// Whether the session is being recorded now (people must know they are recorded).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordingFlag {
    pub active: bool,
    /// The recording running now; `null` when none is.
    pub recording_id: Option<Uuid>,
}

impl RecordingFlag {
    /// The flag of a session as the read model has it.
    pub fn of(session: &SessionRow) -> RecordingFlag {
        let active = session.recording_state == RecordingState::Recording;
        RecordingFlag {
            active,
            recording_id: session.recording_id.filter(|_| active),
        }
    }
}

/// Where to play an archive.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaybackUrl {
    /// Opens without any other header (a `<video>` element, hls.js, ffprobe); HTTP Range works.
    pub url: String,
    /// The media type of what `url` serves.
    pub content_type: String,
    /// When `url` stops working; ask again for a new one.
    pub expires_at: DateTime<Utc>,
}

/// Absent fields stay as they are; at least one must be given.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArchiveRequest {
    /// The new expiry: in the future.
    pub expires_at: Option<DateTime<Utc>>,
    /// Hold (or release) the archive: held archives never expire.
    pub legal_hold: Option<bool>,
}

/// The playback token of a media URL.
#[derive(Debug, Deserialize)]
pub struct MediaQuery {
    /// The token of the URL that `GET /v1/archives/{id}/playback` handed out.
    pub token: Option<String>,
}

/// An archive's media bytes (the whole object, or the range asked for).
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct MediaBytes(pub Vec<u8>);

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: DomainArchiveStatus) -> ArchiveRow {
        let now = Utc::now();
        ArchiveRow {
            archive_id: Uuid::now_v7(),
            session_id: Uuid::now_v7(),
            recording_id: Uuid::now_v7(),
            source: "endoscope".into(),
            status,
            started_at: now,
            ended_at: None,
            duration_ms: 0,
            bytes: 0,
            segments: 0,
            object_key: None,
            content_type: None,
            sha256: None,
            expires_at: now,
            legal_hold: false,
            reason: None,
            opened_position: 1,
            updated_at: now,
            position: 1,
        }
    }

    #[test]
    fn progress_shows_only_while_the_playable_form_is_being_made() {
        let processing = Archive::new(row(DomainArchiveStatus::Processing), Some(0.1));
        assert_eq!(serde_json::to_value(&processing).unwrap()["progress"], 0.1);
        // A job's last report may outlive the job by a moment: a ready archive shows none.
        let ready = Archive::new(row(DomainArchiveStatus::Ready), Some(1.0));
        assert_eq!(ready.progress, None);
        let value = serde_json::to_value(&ready).unwrap();
        assert_eq!(value["progress"], serde_json::Value::Null);
        assert_eq!(value["status"], "ready");
    }
}
