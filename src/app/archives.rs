//! Recordings and archives: starting and stopping the recording of a session, who may see,
//! play and keep an archive (its access follows its session's), the playback URL and the
//! `ArchiveAccessed` event every handed-out URL leaves in the log, and the short-lived token
//! behind the URLs of archives this server serves itself.
//!
//! Where a playback URL points is the object store's business, behind [`PlaybackSigner`]: a
//! presigned URL of the store (S3), or a file this server serves at
//! `/v1/archives/{id}/media?token=…` (the filesystem store).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use livesurgery_domain::aggregate::Session;
use livesurgery_domain::events::{ArchiveAccessed, ArchiveStatus};
use livesurgery_domain::permissions::Action;
use livesurgery_domain::session::{RecordingStatus, SessionCommand, SessionState};
use livesurgery_domain::{CommandContext, Event};
use livesurgery_projections::ArchiveRow;
use uuid::Uuid;

use super::access::{endpoint_action, is_write};
use super::commands::{Accepted, CommandError};
use super::{App, AppError, Caller, ErrorKind, Operation, lock};
use crate::auth::TokenError;

/// Where a client fetches an archive's playable object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybackTarget {
    /// A presigned, absolute URL of the object store, valid for the TTL asked for.
    Url(String),
    /// A local file that this server serves itself behind a short-lived playback token.
    Local(PathBuf),
}

/// Turns an object key into something a client can play for a while: the object store's side
/// of playback (the integrator backs it with the archive store).
#[async_trait]
pub trait PlaybackSigner: Send + Sync + 'static {
    /// Where a client fetches `object_key` for `ttl`. A failure is an [`AppError`] (internal,
    /// or unavailable while the store is).
    async fn playback(&self, object_key: &str, ttl: Duration) -> Result<PlaybackTarget, AppError>;
}

/// Start or stop the recording of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingChange {
    /// Start a new recording (a new recording id).
    Start,
    /// Stop the recording running now.
    Stop,
}

/// A playback URL handed out, and where its `ArchiveAccessed` event landed.
#[derive(Debug, Clone)]
pub struct Playback {
    pub url: String,
    pub content_type: String,
    /// When the URL stops working.
    pub expires_at: DateTime<Utc>,
    /// The log position of the `ArchiveAccessed` event.
    pub position: u64,
}

/// An archive's playable object as a local file, for the media route.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    pub path: PathBuf,
    pub content_type: String,
}

/// The progress (0 to 1) of archives being made playable, by archive id: the recorder's
/// processing jobs write it, the archive answers read it. In-process: another server process
/// shows `null` for a job it does not run.
pub type ArchiveProgress = Arc<Mutex<HashMap<Uuid, f32>>>;

/// The media type of a playable object whose type the log does not say.
const UNKNOWN_MEDIA_TYPE: &str = "application/octet-stream";

/// The playable object of an archive: `ready`, or `incomplete` with what was stored.
fn playable_object(archive: &ArchiveRow) -> Option<&str> {
    match archive.status {
        ArchiveStatus::Ready | ArchiveStatus::Incomplete => archive.object_key.as_deref(),
        _ => None,
    }
}

fn content_type_of(archive: &ArchiveRow) -> String {
    archive
        .content_type
        .clone()
        .unwrap_or_else(|| UNKNOWN_MEDIA_TYPE.to_owned())
}

impl App {
    /// This application with archives played through `signer` (without one, playback answers
    /// 503 `playback_unavailable`).
    pub fn with_playback(mut self, signer: Arc<dyn PlaybackSigner>) -> App {
        self.playback = Some(signer);
        self
    }

    /// How far the playable form of an archive being processed is, 0 to 1; `None` when no job
    /// of this process reports on it.
    pub fn archive_progress(&self, archive_id: Uuid) -> Option<f32> {
        lock(&self.processing_progress).get(&archive_id).copied()
    }

    /// Reports the progress of an archive's processing job (clamped to 0..1); `None` when the
    /// job is over.
    pub fn report_archive_progress(&self, archive_id: Uuid, progress: Option<f32>) {
        let mut board = lock(&self.processing_progress);
        match progress.filter(|p| p.is_finite()) {
            Some(p) => board.insert(archive_id, p.clamp(0.0, 1.0)),
            None => board.remove(&archive_id),
        };
    }

    /// Starts or stops the recording of a session with this context (REST callers and
    /// WebSocket participants): a start records under a new id, a stop names the recording
    /// running in the state the command is decided on. Returns the recording's id.
    pub async fn change_recording(
        &self,
        ctx: &CommandContext,
        session_id: Uuid,
        change: RecordingChange,
        correlation_id: Uuid,
    ) -> Result<(Uuid, Accepted), CommandError> {
        let new_id = Uuid::now_v7();
        let command_for = |state: &SessionState| {
            Ok(match change {
                RecordingChange::Start => SessionCommand::StartRecording {
                    recording_id: new_id,
                },
                // With no recording running the domain refuses (409), after checking who asks.
                RecordingChange::Stop => SessionCommand::StopRecording {
                    recording_id: match state.recording.status {
                        RecordingStatus::Requested | RecordingStatus::Recording => {
                            state.recording.recording_id.unwrap_or_default()
                        }
                        RecordingStatus::Idle | RecordingStatus::Stopped => Uuid::nil(),
                    },
                },
            })
        };
        let accepted = self
            .executor
            .execute_with::<Session, SessionCommand>(
                &*self.store,
                session_id,
                command_for,
                ctx,
                correlation_id,
            )
            .await?;
        let recording_id = accepted
            .events
            .iter()
            .find_map(|e| match e {
                Event::RecordingStarted(s) => Some(s.recording_id),
                Event::RecordingStopped(s) => Some(s.recording_id),
                _ => None,
            })
            .unwrap_or(new_id);
        Ok((recording_id, accepted))
    }

    /// [`App::change_recording`] for a REST caller; a domain refusal is recorded like a
    /// guard's.
    pub async fn recording_command(
        &self,
        op: &Operation,
        caller: &Caller,
        session_id: Uuid,
        change: RecordingChange,
    ) -> Result<(Uuid, Accepted), AppError> {
        let result = self
            .change_recording(&caller.context(), session_id, change, caller.request_id)
            .await;
        self.after_command(op, caller, Some(session_id), result)
            .await
    }

    /// Checks an archive endpoint: the archive must exist and the caller may do this on the
    /// session it was recorded in. Whoever may not see that session gets `not_found`, as if
    /// the archive did not exist; a refused write is recorded.
    pub async fn guard_archive(
        &self,
        op: &Operation,
        caller: &Caller,
        archive_id: Uuid,
    ) -> Result<ArchiveRow, AppError> {
        let hidden = || AppError::not_found("no such archive");
        let Some(archive) = self.read_models.get_archive(archive_id).await? else {
            if is_write(op) {
                let (_, action) = endpoint_action(op)?;
                let action = action.unwrap_or(Action::ReadArchives);
                self.record_denied(op, caller, None, action, 404, "no such archive")
                    .await;
            }
            return Err(hidden());
        };
        match self.guard_session(op, caller, archive.session_id).await {
            Ok(_) => Ok(archive),
            Err(e) if e.kind == ErrorKind::NotFound => Err(hidden()),
            Err(e) => Err(e),
        }
    }

    /// Hands the caller a playback URL of `archive` (checked by [`App::guard_archive`]) and
    /// appends `ArchiveAccessed` first: no URL leaves the server unrecorded. `base_url` is the
    /// server's public base, for the URLs of archives it serves itself.
    pub async fn playback(
        &self,
        caller: &Caller,
        archive: &ArchiveRow,
        base_url: &str,
    ) -> Result<Playback, AppError> {
        let Some(object_key) = playable_object(archive) else {
            return Err(AppError::conflict(
                "archive_not_playable",
                format!(
                    "the archive is {}: it has nothing to play",
                    archive.status.as_str()
                ),
            ));
        };
        let signer = self.playback_signer()?;
        let ttl_secs = self.settings.playback_url_ttl_secs;
        let target = signer
            .playback(object_key, Duration::from_secs(ttl_secs))
            .await?;
        let (url, expires_at) = match target {
            PlaybackTarget::Url(url) => {
                let ttl = i64::try_from(ttl_secs)
                    .ok()
                    .and_then(chrono::Duration::try_seconds)
                    .unwrap_or(chrono::Duration::MAX);
                let expires_at = Utc::now()
                    .checked_add_signed(ttl)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                (url, expires_at)
            }
            PlaybackTarget::Local(_) => {
                let (token, claims) =
                    self.keys
                        .issue_playback(caller.id(), archive.archive_id, ttl_secs);
                let url = format!(
                    "{base_url}/v1/archives/{}/media?token={token}",
                    archive.archive_id
                );
                let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now);
                (url, expires_at)
            }
        };
        let event = Event::ArchiveAccessed(ArchiveAccessed {
            session_id: archive.session_id,
            archive_id: archive.archive_id,
            user_id: caller.id(),
            url_expires_at: expires_at,
        });
        let append = self
            .record_session_facts(
                archive.session_id,
                &[(event, caller.context())],
                caller.request_id,
            )
            .await?;
        Ok(Playback {
            url,
            content_type: content_type_of(archive),
            expires_at,
            position: append.last_position,
        })
    }

    /// The local file behind a playback URL this server handed out, if `token` is a valid
    /// playback token of this archive for a user still active, and the archive still has
    /// something to play. Nothing is recorded: the URL was, when it was handed out.
    pub async fn archive_media(
        &self,
        archive_id: Uuid,
        token: Option<&str>,
    ) -> Result<LocalMedia, AppError> {
        let token = token.filter(|t| !t.is_empty()).ok_or_else(|| {
            AppError::unauthenticated(
                "missing_token",
                "open the URL that GET /v1/archives/{id}/playback hands out: it carries ?token=",
            )
        })?;
        let claims = self.keys.verify_playback(token).map_err(|e| match e {
            TokenError::Expired => AppError::unauthenticated(
                "token_expired",
                "the playback URL has expired: ask GET /v1/archives/{id}/playback for a new one",
            ),
            TokenError::Invalid => {
                AppError::unauthenticated("invalid_token", "the playback token is not valid")
            }
        })?;
        if claims.aid != archive_id {
            return Err(AppError::new(
                ErrorKind::Forbidden,
                "wrong_archive",
                "this playback token is for another archive",
            ));
        }
        if !self.user(claims.sub).await?.is_some_and(|u| u.active) {
            return Err(AppError::unauthenticated(
                "user_deactivated",
                "the user this playback URL was handed to is deactivated",
            ));
        }
        let gone = || AppError::not_found("the archive has nothing to play any more");
        let archive = self
            .read_models
            .get_archive(archive_id)
            .await?
            .ok_or_else(gone)?;
        let object_key = playable_object(&archive).ok_or_else(gone)?;
        let ttl = Duration::from_secs(self.settings.playback_url_ttl_secs);
        match self.playback_signer()?.playback(object_key, ttl).await? {
            PlaybackTarget::Local(path) => Ok(LocalMedia {
                path,
                content_type: content_type_of(&archive),
            }),
            PlaybackTarget::Url(_) => Err(AppError::not_found(
                "this archive is played from its object store, not from this server",
            )),
        }
    }

    /// Changes an archive's expiry, its legal hold or both (admins; checked by
    /// [`App::guard_archive`]). A new expiry must be in the future: deleting now is the
    /// lifecycle task's, and an expiry in the past is far more often a mistake than a wish.
    pub async fn set_archive_retention(
        &self,
        op: &Operation,
        caller: &Caller,
        archive: &ArchiveRow,
        expires_at: Option<DateTime<Utc>>,
        legal_hold: Option<bool>,
    ) -> Result<Accepted, AppError> {
        if expires_at.is_none() && legal_hold.is_none() {
            return Err(AppError::unprocessable(
                "validation_failed",
                "give expires_at, legal_hold or both",
            ));
        }
        if expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(AppError::unprocessable(
                "validation_failed",
                "expires_at must be in the future",
            ));
        }
        let command = SessionCommand::SetArchiveRetention {
            archive_id: archive.archive_id,
            expires_at,
            legal_hold,
        };
        self.session_command(op, caller, archive.session_id, command)
            .await
    }

    fn playback_signer(&self) -> Result<&Arc<dyn PlaybackSigner>, AppError> {
        self.playback.as_ref().ok_or_else(|| {
            AppError::unavailable(
                "playback_unavailable",
                "this server has no archive store to play archives from",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(status: ArchiveStatus, object_key: Option<&str>) -> ArchiveRow {
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
            object_key: object_key.map(str::to_owned),
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
    fn only_ready_and_incomplete_archives_with_an_object_play() {
        let key = Some("archives/a/playback.mp4");
        assert!(playable_object(&archive(ArchiveStatus::Ready, key)).is_some());
        assert!(playable_object(&archive(ArchiveStatus::Incomplete, key)).is_some());
        assert!(playable_object(&archive(ArchiveStatus::Incomplete, None)).is_none());
        for status in [
            ArchiveStatus::Recording,
            ArchiveStatus::Processing,
            ArchiveStatus::Failed,
            ArchiveStatus::Expired,
        ] {
            assert!(
                playable_object(&archive(status, key)).is_none(),
                "{status:?}"
            );
        }
    }
}
