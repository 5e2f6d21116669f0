//! Stand-ins until the recorder and the archive store exist: [`Recorder`] appends the archive
//! events the recorder will append, straight into the log (as another process would), and two
//! [`PlaybackSigner`]s play archives from a folder (as the filesystem store will) or from
//! presigned URLs (as S3 will).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use livesurgery::app::{AppError, PlaybackSigner, PlaybackTarget};
use livesurgery::store::{EventStore, ExpectedVersion};
use livesurgery_domain::Event;
use livesurgery_domain::envelope::Actor;
use livesurgery_domain::events::{
    ArchiveCloseReason, ArchiveClosed, ArchiveExpired, ArchiveFinalised, ArchiveOpened,
    ArchiveStatus, SegmentStored, session_stream,
};
use serde_json::json;
use uuid::Uuid;

use super::spawn::{TestApp, jwt_claims};

/// Appends archive events to sessions' streams, as the recorder will.
pub struct Recorder {
    store: Arc<dyn EventStore>,
}

/// The key of an archive's playable object (ids only, as the contract says).
pub fn playable_key(archive: Uuid) -> String {
    format!("archives/{archive}/playback.mp4")
}

impl Recorder {
    /// A recorder writing to `app`'s log through a store of its own.
    pub async fn open(app: &TestApp) -> Recorder {
        let store = livesurgery::store::open(&app.db_url)
            .await
            .expect("opening the event store");
        Recorder { store }
    }

    /// Appends `events` to the session's stream as the system; the last position.
    pub async fn append(&self, session: Uuid, events: Vec<Event>) -> u64 {
        let new = events
            .into_iter()
            .map(|e| e.into_new_event(Uuid::now_v7(), Actor::system(), Uuid::now_v7(), None))
            .collect();
        self.store
            .append(&session_stream(session), ExpectedVersion::Any, new)
            .await
            .expect("appending archive events")
            .last_position
    }

    /// An archive of `source` in `recording`, taken as far as `status`: two segments stored
    /// (`recording`), closed (`processing`), finalised (`ready`, `incomplete` with a playable
    /// object, `failed` without), or finalised and expired (`expired`). Its id, and the
    /// position of its last event.
    pub async fn archive(
        &self,
        session: Uuid,
        recording: Uuid,
        source: &str,
        status: ArchiveStatus,
    ) -> (Uuid, u64) {
        let archive = Uuid::now_v7();
        let mut events = vec![Event::ArchiveOpened(ArchiveOpened {
            session_id: session,
            archive_id: archive,
            recording_id: recording,
            source: source.to_owned(),
            expires_at: Utc::now() + chrono::Duration::days(30),
        })];
        for seq in 0..2u32 {
            events.push(Event::SegmentStored(SegmentStored {
                session_id: session,
                archive_id: archive,
                seq,
                object_key: format!("archives/{archive}/segments/{seq:08}.webm"),
                bytes: 1_000,
                sha256: "0".repeat(64),
                start_ms: u64::from(seq) * 4_000,
                duration_ms: 4_000,
            }));
        }
        if status != ArchiveStatus::Recording {
            let reason = match status {
                ArchiveStatus::Incomplete => ArchiveCloseReason::Interrupted,
                _ => ArchiveCloseReason::Stopped,
            };
            events.push(Event::ArchiveClosed(ArchiveClosed {
                session_id: session,
                archive_id: archive,
                reason,
            }));
        }
        if !matches!(status, ArchiveStatus::Recording | ArchiveStatus::Processing) {
            let playable = status != ArchiveStatus::Failed;
            let finalised = match status {
                ArchiveStatus::Expired => ArchiveStatus::Ready,
                other => other,
            };
            events.push(Event::ArchiveFinalised(ArchiveFinalised {
                session_id: session,
                archive_id: archive,
                status: finalised,
                object_key: playable.then(|| playable_key(archive)),
                content_type: playable.then(|| "video/mp4".to_owned()),
                bytes: if playable { 1_800 } else { 0 },
                duration_ms: if playable { 7_900 } else { 0 },
                sha256: playable.then(|| "a".repeat(64)),
                reason: (!playable).then(|| "the muxer failed".to_owned()),
            }));
        }
        if status == ArchiveStatus::Expired {
            events.push(Event::ArchiveExpired(ArchiveExpired {
                session_id: session,
                archive_id: archive,
                objects_deleted: 3,
            }));
        }
        let position = self.append(session, events).await;
        (archive, position)
    }
}

/// Plays archives from a folder, by object key: the filesystem store's way (served by the API
/// behind a playback token).
pub struct FolderStore {
    dir: tempfile::TempDir,
}

impl FolderStore {
    pub fn new() -> Arc<FolderStore> {
        Arc::new(FolderStore {
            dir: tempfile::tempdir().expect("a folder for archives"),
        })
    }

    /// Where the object `key` lives.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.path().join(key)
    }
}

#[async_trait]
impl PlaybackSigner for FolderStore {
    async fn playback(&self, object_key: &str, _ttl: Duration) -> Result<PlaybackTarget, AppError> {
        Ok(PlaybackTarget::Local(self.path(object_key)))
    }
}

/// Plays archives from presigned URLs of an object store: S3's way.
pub struct PresigningStore;

/// The presigned URL [`PresigningStore`] hands out for `key`.
pub fn presigned(key: &str, ttl: Duration) -> String {
    format!(
        "https://objects.example.org/bucket/{key}?X-Amz-Expires={}",
        ttl.as_secs()
    )
}

#[async_trait]
impl PlaybackSigner for PresigningStore {
    async fn playback(&self, object_key: &str, ttl: Duration) -> Result<PlaybackTarget, AppError> {
        Ok(PlaybackTarget::Url(presigned(object_key, ttl)))
    }
}

/// Writes a small real MP4 (2 s of ffmpeg's test pattern, MPEG-4 video) at `path`; `false`
/// when ffmpeg is not installed.
pub fn write_test_video(path: &Path) -> bool {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("creating the archive's folder");
    }
    let made = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=2:size=160x120:rate=10",
            "-c:v",
            "mpeg4",
            "-movflags",
            "+faststart",
        ])
        .arg(path)
        .status();
    match made {
        Ok(status) => {
            assert!(
                status.success(),
                "ffmpeg failed to write {}",
                path.display()
            );
            true
        }
        Err(_) => false,
    }
}

/// A playback token of `archive` with the claims of `token` but another expiry (seconds from
/// now; negative: in the past) or signing key.
pub fn forged(token: &str, archive: Uuid, exp_from_now: i64, key: &str) -> String {
    let mut claims = jwt_claims(token);
    let now = chrono::Utc::now().timestamp();
    claims["aid"] = json!(archive.to_string());
    claims["iat"] = json!(now.min(now + exp_from_now) - 1);
    claims["exp"] = json!(now + exp_from_now);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("signing")
}
