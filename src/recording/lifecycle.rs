//! The recorder's side of the log: it follows `RecordingStarted` and `RecordingStopped` (and
//! `SessionEnded`), taps the SFU for the sessions being recorded, turns what the writers cut
//! into archives (`ArchiveOpened`, `SegmentStored`, `RecordingOverrun`, `ArchiveClosed`),
//! makes each closed archive playable in a bounded background job (`ArchiveFinalised`), and
//! after a crash closes what was cut off (`interrupted`) and finalises it from what was stored.
//!
//! Durability: a segment reaches the log (`SegmentStored`) only once its upload is confirmed,
//! and leaves the local spool only after that (see [`crate::storage::spool`]). A server killed
//! mid-recording thus loses at most the segment being cut; the spool uploads the rest when the
//! server is back, and [`Recorder::recover`] then finalises the archive as `incomplete`.
//!
//! One process records a session: the one whose SFU carries its media. Recovery at start
//! assumes the archives left `recording` or `processing` were this process's (one recording
//! node per database, as the README says).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use anyhow::Context;
use async_trait::async_trait;
use chrono::Utc;
use livesurgery_domain::Event;
use livesurgery_domain::events::{
    ArchiveCloseReason, ArchiveClosed, ArchiveFinalised, ArchiveOpened, ArchiveStatus,
    RecordingOverrun, SegmentStored,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::App;
use crate::app::dispatch::{Dispatched, LogListener};
use crate::storage::{BlobStore, PutReceipt};
use crate::storage::{OnStored, Spool, SpoolItem};

use super::finalise::{self, ProcessingJobs};
use super::segmenter::{SegmentFile, SegmentOptions, SegmentSink, record_session};
use super::tap::SessionTap;

/// Turns the SFU's tap for a session on (`Some`) or off (`None`): implemented by the SFU
/// handle, so the recorder does not depend on the media engine.
pub trait TapControl: Send + Sync {
    fn record(&self, session_id: Uuid, tap: Option<SessionTap>);
}

/// The key of a segment object.
pub fn segment_key(archive_id: Uuid, seq: u32, extension: &str) -> String {
    format!(
        "{}segments/{seq:08}.{extension}",
        archive_prefix(archive_id)
    )
}

/// The prefix of every object of an archive.
pub fn archive_prefix(archive_id: Uuid) -> String {
    format!("archives/{archive_id}/")
}

/// What the spool keeps with a segment until its upload is confirmed: what `SegmentStored`
/// needs besides the receipt.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SegmentMeta {
    session_id: Uuid,
    archive_id: Uuid,
    seq: u32,
    start_ms: u64,
    duration_ms: u64,
}

/// A session being recorded by this process.
struct Active {
    recording_id: Uuid,
}

/// A scratch folder, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    async fn new(path: PathBuf) -> anyhow::Result<WorkDir> {
        let _ = tokio::fs::remove_dir_all(&path).await;
        tokio::fs::create_dir_all(&path)
            .await
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(WorkDir(path))
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The recorder of a server process.
pub struct Recorder {
    app: Arc<App>,
    store: Arc<dyn BlobStore>,
    spool: Spool,
    taps: Arc<dyn TapControl>,
    jobs: ProcessingJobs,
    /// Where segments are cut and playable forms made before they go to the store (on the
    /// spool's filesystem, so a finished segment moves into the spool without a copy).
    work_dir: PathBuf,
    active: Mutex<HashMap<Uuid, Active>>,
    me: Weak<Recorder>,
}

/// Appends `SegmentStored` once the spool confirms a segment's upload.
struct SegmentStoredLog {
    app: Arc<App>,
}

#[async_trait]
impl OnStored for SegmentStoredLog {
    async fn stored(&self, item: &SpoolItem, receipt: &PutReceipt) -> anyhow::Result<()> {
        let meta: SegmentMeta =
            serde_json::from_value(item.meta.clone()).context("a segment's spool metadata")?;
        let event = Event::SegmentStored(SegmentStored {
            session_id: meta.session_id,
            archive_id: meta.archive_id,
            seq: meta.seq,
            object_key: item.key.clone(),
            bytes: receipt.bytes,
            sha256: receipt.sha256.clone(),
            start_ms: meta.start_ms,
            duration_ms: meta.duration_ms,
        });
        self.app
            .record_system_facts(meta.session_id, vec![event])
            .await
            .context("appending SegmentStored")?;
        Ok(())
    }
}

impl Recorder {
    /// The recorder over this store; its spool (under `DATA_DIR/spool`) resumes the uploads a
    /// previous run left.
    pub async fn start(
        app: Arc<App>,
        store: Arc<dyn BlobStore>,
        taps: Arc<dyn TapControl>,
    ) -> anyhow::Result<Arc<Recorder>> {
        let data_dir = app.settings.data_dir.clone();
        let work_dir = data_dir.join("recording");
        tokio::fs::create_dir_all(&work_dir)
            .await
            .with_context(|| format!("creating {}", work_dir.display()))?;
        let on_stored = Arc::new(SegmentStoredLog { app: app.clone() });
        let spool = Spool::open(data_dir.join("spool"), store.clone(), on_stored).await?;
        let jobs = ProcessingJobs::new(app.settings.processing_jobs);
        Ok(Arc::new_cyclic(|me| Recorder {
            app,
            store,
            spool,
            taps,
            jobs,
            work_dir,
            active: Mutex::new(HashMap::new()),
            me: me.clone(),
        }))
    }

    /// Segments waiting in the upload spool, and the failed upload attempts so far.
    pub fn upload_state(&self) -> (usize, u64) {
        (self.spool.pending(), self.spool.failures())
    }

    /// Starts recording `session_id` in this process (once; again is a no-op).
    pub fn begin(&self, session_id: Uuid, recording_id: Uuid) {
        let mut active = crate::app::lock(&self.active);
        if active.contains_key(&session_id) {
            return;
        }
        let Some(me) = self.me.upgrade() else { return };
        let (tap, sources) = SessionTap::new(self.app.settings.recording_queue);
        let sink = Arc::new(ArchiveSink {
            recorder: me,
            session_id,
            recording_id,
        });
        let options = SegmentOptions {
            target: std::time::Duration::from_secs(self.app.settings.recording_segment_secs),
            dir: self.work_dir.clone(),
        };
        tokio::spawn(record_session(sources, sink, options));
        active.insert(session_id, Active { recording_id });
        drop(active);
        tracing::info!(session = %session_id, recording = %recording_id, "recording");
        self.taps.record(session_id, Some(tap));
    }

    /// Stops recording `session_id`: the tap goes, each writer finishes its last segment and
    /// closes its archive.
    pub fn end(&self, session_id: Uuid) {
        let ended = crate::app::lock(&self.active).remove(&session_id);
        if let Some(ended) = ended {
            tracing::info!(session = %session_id, recording = %ended.recording_id, "recording stopped");
            self.taps.record(session_id, None);
        }
    }

    /// Makes a closed archive playable from what is stored, in the background: waits for its
    /// segments to leave the spool, then for a job slot; appends `ArchiveFinalised` as
    /// `outcome` (ready or incomplete), or `failed`.
    fn finalise_later(&self, session_id: Uuid, archive_id: Uuid, outcome: ArchiveStatus) {
        let Some(me) = self.me.upgrade() else { return };
        tokio::spawn(async move {
            let finalised = me.finalise(session_id, archive_id, outcome).await;
            me.app.report_archive_progress(archive_id, None);
            if let Err(error) = me
                .app
                .record_system_facts(session_id, vec![finalised])
                .await
            {
                tracing::error!(%error, archive = %archive_id, "could not append ArchiveFinalised");
            }
        });
    }

    async fn finalise(&self, session_id: Uuid, archive_id: Uuid, outcome: ArchiveStatus) -> Event {
        let prefix = archive_prefix(archive_id);
        self.spool.flushed(&prefix).await;
        self.jobs
            .run(self.finalise_now(session_id, archive_id, outcome, &prefix))
            .await
    }

    async fn finalise_now(
        &self,
        session_id: Uuid,
        archive_id: Uuid,
        outcome: ArchiveStatus,
        prefix: &str,
    ) -> Event {
        self.app.report_archive_progress(archive_id, Some(0.0));
        let failed = |reason: String| {
            tracing::warn!(archive = %archive_id, %reason, "archive could not be made playable");
            Event::ArchiveFinalised(ArchiveFinalised {
                session_id,
                archive_id,
                status: ArchiveStatus::Failed,
                object_key: None,
                content_type: None,
                bytes: 0,
                duration_ms: 0,
                sha256: None,
                reason: Some(reason),
            })
        };
        match self.make_playable(archive_id, prefix).await {
            Ok(Some((key, content_type, receipt, duration_ms))) => {
                Event::ArchiveFinalised(ArchiveFinalised {
                    session_id,
                    archive_id,
                    status: outcome,
                    object_key: Some(key),
                    content_type: Some(content_type),
                    bytes: receipt.bytes,
                    duration_ms,
                    sha256: Some(receipt.sha256),
                    reason: (outcome == ArchiveStatus::Incomplete)
                        .then(|| "the server stopped while recording".to_owned()),
                })
            }
            Ok(None) => failed("no segment was stored".to_owned()),
            Err(error) => failed(format!("{error:#}")),
        }
    }

    /// Downloads the stored segments, remuxes them into the playable form and stores it;
    /// `None` when no segment was stored.
    async fn make_playable(
        &self,
        archive_id: Uuid,
        prefix: &str,
    ) -> anyhow::Result<Option<(String, String, PutReceipt, u64)>> {
        let mut keys = self.store.list(&format!("{prefix}segments/")).await?;
        if keys.is_empty() {
            return Ok(None);
        }
        keys.sort();
        let dir = WorkDir::new(self.work_dir.join(format!("finalise-{archive_id}"))).await?;
        let mut segments = Vec::with_capacity(keys.len());
        for key in &keys {
            let name = key.rsplit('/').next().unwrap_or("segment");
            let path = dir.path().join(name);
            self.store.get_to_file(key, &path).await?;
            segments.push(path);
        }
        let app = self.app.clone();
        let playable = finalise::finalise(&segments, dir.path(), move |done| {
            app.report_archive_progress(archive_id, Some(done));
        })
        .await?;
        let key = format!("{prefix}playback.{}", playable.extension);
        let receipt = self
            .store
            .put_file(&key, &playable.path, playable.content_type)
            .await?;
        Ok(Some((
            key,
            playable.content_type.to_owned(),
            receipt,
            playable.duration_ms,
        )))
    }

    /// After a start: archives a previous run left `recording` are closed as `interrupted`;
    /// those and the ones left `processing` are finalised (as `incomplete`, or `ready` when
    /// their recording had stopped cleanly). Sessions still recorded are not tapped again: a
    /// recording resumes when a member stops and starts it (the README says so).
    pub async fn recover(&self) -> anyhow::Result<()> {
        let left = self
            .app
            .read_models
            .archives_with_status(&[ArchiveStatus::Recording, ArchiveStatus::Processing])
            .await?;
        for archive in left {
            let (session_id, archive_id) = (archive.session_id, archive.archive_id);
            let outcome = if archive.status == ArchiveStatus::Recording {
                let closed = Event::ArchiveClosed(ArchiveClosed {
                    session_id,
                    archive_id,
                    reason: ArchiveCloseReason::Interrupted,
                });
                self.app
                    .record_system_facts(session_id, vec![closed])
                    .await?;
                ArchiveStatus::Incomplete
            } else if self.was_interrupted(session_id, archive_id).await? {
                ArchiveStatus::Incomplete
            } else {
                ArchiveStatus::Ready
            };
            tracing::info!(archive = %archive_id, outcome = outcome.as_str(), "finalising an archive a previous run left");
            self.finalise_later(session_id, archive_id, outcome);
        }
        Ok(())
    }

    /// Whether the archive was closed because a server stopped while recording it.
    async fn was_interrupted(&self, session_id: Uuid, archive_id: Uuid) -> anyhow::Result<bool> {
        let stream = livesurgery_domain::events::session_stream(session_id);
        let events = crate::store::read_whole_stream(&*self.app.store, &stream).await?;
        Ok(events.iter().any(|r| {
            r.event_type == "ArchiveClosed"
                && r.data["archive_id"] == archive_id.to_string()
                && r.data["reason"] == "interrupted"
        }))
    }
}

impl LogListener for Recorder {
    fn on_events(&self, batch: &[Dispatched]) {
        for dispatched in batch {
            match dispatched.event() {
                Some(Event::RecordingStarted(e)) => self.begin(e.session_id, e.recording_id),
                Some(Event::RecordingStopped(e)) => self.end(e.session_id),
                Some(Event::SessionEnded(e)) => self.end(e.session_id),
                _ => {}
            }
        }
    }
}

/// What the writers of one recording report to: it opens, fills and closes archives.
struct ArchiveSink {
    recorder: Arc<Recorder>,
    session_id: Uuid,
    recording_id: Uuid,
}

#[async_trait]
impl SegmentSink for ArchiveSink {
    async fn opened(&self, source: &str) -> anyhow::Result<Uuid> {
        let archive_id = Uuid::now_v7();
        let retention =
            chrono::Duration::days(i64::from(self.recorder.app.settings.archive_retention_days));
        let opened = Event::ArchiveOpened(ArchiveOpened {
            session_id: self.session_id,
            archive_id,
            recording_id: self.recording_id,
            source: source.to_owned(),
            expires_at: Utc::now() + retention,
        });
        self.recorder
            .app
            .record_system_facts(self.session_id, vec![opened])
            .await?;
        Ok(archive_id)
    }

    async fn segment(&self, archive_id: Uuid, segment: SegmentFile) -> anyhow::Result<()> {
        let meta = SegmentMeta {
            session_id: self.session_id,
            archive_id,
            seq: segment.seq,
            start_ms: segment.start_ms,
            duration_ms: segment.duration_ms,
        };
        self.recorder
            .spool
            .enqueue(SpoolItem {
                key: segment_key(archive_id, segment.seq, segment.extension),
                file: segment.path,
                content_type: segment.content_type.to_owned(),
                meta: serde_json::to_value(meta)?,
            })
            .await
    }

    async fn overrun(&self, archive_id: Uuid, source: &str, dropped_frames: u64) {
        let overrun = Event::RecordingOverrun(RecordingOverrun {
            session_id: self.session_id,
            archive_id,
            source: source.to_owned(),
            dropped_frames,
        });
        if let Err(error) = self
            .recorder
            .app
            .record_system_facts(self.session_id, vec![overrun])
            .await
        {
            tracing::warn!(%error, archive = %archive_id, "could not append RecordingOverrun");
        }
    }

    async fn closed(&self, archive_id: Uuid) {
        let closed = Event::ArchiveClosed(ArchiveClosed {
            session_id: self.session_id,
            archive_id,
            reason: ArchiveCloseReason::Stopped,
        });
        if let Err(error) = self
            .recorder
            .app
            .record_system_facts(self.session_id, vec![closed])
            .await
        {
            tracing::error!(%error, archive = %archive_id, "could not append ArchiveClosed");
        }
        self.recorder
            .finalise_later(self.session_id, archive_id, ArchiveStatus::Ready);
    }
}
