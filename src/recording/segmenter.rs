//! The writer of one recorded source: reads its queue, places every frame on the archive's
//! media clock, cuts segments at keyframes and writes each as a self-contained MP4 file
//! (written, fsynced, renamed) that it hands to a [`SegmentSink`].
//!
//! - The archive opens at the source's first video keyframe; audio before it is discarded.
//! - A segment is cut at the first keyframe at or after the target length; once a segment is
//!   that long the writer asks the publisher for a keyframe (WebRTC senders send keyframes
//!   only when asked). The cut is written once the audio has caught up with it, so audio that
//!   arrives a little after the picture still lands in its segment.
//! - A new publisher id under the source (it reconnected) ends the segment where it is; the
//!   timeline goes on from the new publisher's arrival, leaving the gap, from its first
//!   keyframe on.
//! - The queue's end (the tap turned off) writes the last, partial segment, then closes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use livesurgery_domain::events::MediaKind;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::clock::MediaClock;
use super::mp4::{
    CodecMemory, SEGMENT_CONTENT_TYPE, SEGMENT_EXTENSION, SegmentMedia, TimedFrame, mux_segment,
};
use super::tap::{RecordedFrame, SourceFeed};

/// How far the picture may run past a cut before the segment is written without waiting
/// longer for the audio.
const AUDIO_HOLD_US: u64 = 500_000;
/// Keyframe requests of one writer, at most.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_secs(1);
/// Overruns are reported at most this often.
const OVERRUN_REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// A last frame's length when nothing follows it: a 30 fps picture, a 20 ms Opus packet.
const LAST_VIDEO_US: u64 = 33_333;
const LAST_AUDIO_US: u64 = 20_000;

/// Where a writer's segments go: the archive lifecycle (events, upload spool) implements it.
#[async_trait]
pub trait SegmentSink: Send + Sync {
    /// A source's first keyframe arrived: an archive opens for it; its id.
    async fn opened(&self, source: &str) -> anyhow::Result<Uuid>;
    /// A segment is written and fsynced at `segment.path`; from `Ok` on the file is the
    /// sink's (moved or deleted by it); on an error the writer deletes it.
    async fn segment(&self, archive_id: Uuid, segment: SegmentFile) -> anyhow::Result<()>;
    /// Frames of the source were dropped (the writer fell behind) since the last report; at
    /// most once a second.
    async fn overrun(&self, archive_id: Uuid, source: &str, dropped_frames: u64);
    /// The tap was turned off and the last segment handed over.
    async fn closed(&self, archive_id: Uuid);
}

/// A written segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    /// From 0 in recording order; a number skipped is a segment that could not be written.
    pub seq: u32,
    pub path: PathBuf,
    /// Where it starts, in ms since the archive's first frame.
    pub start_ms: u64,
    pub duration_ms: u64,
    pub content_type: &'static str,
    /// For the object key (`…/segments/{seq:08}.{extension}`).
    pub extension: &'static str,
}

/// How segments are cut and where they are written.
#[derive(Debug, Clone)]
pub struct SegmentOptions {
    /// The length a segment reaches before it is cut at the next keyframe
    /// (`recording_segment_secs`).
    pub target: Duration,
    /// Where segment files are written (on the spool's filesystem, so the sink can move them).
    pub dir: PathBuf,
}

/// Records every source fed to a session's tap, each by a writer of its own, until the tap's
/// feed receiver ends and every writer has closed its archive.
pub async fn record_session(
    mut feeds: mpsc::UnboundedReceiver<SourceFeed>,
    sink: Arc<dyn SegmentSink>,
    options: SegmentOptions,
) {
    let mut writers = JoinSet::new();
    loop {
        tokio::select! {
            feed = feeds.recv() => match feed {
                Some(feed) => {
                    writers.spawn(record_source(feed, sink.clone(), options.clone()));
                }
                None => break,
            },
            Some(Err(error)) = writers.join_next(), if !writers.is_empty() => {
                tracing::error!(%error, "a recording writer failed");
            }
        }
    }
    while let Some(done) = writers.join_next().await {
        if let Err(error) = done {
            tracing::error!(%error, "a recording writer failed");
        }
    }
}

/// Records one source until its queue ends.
pub async fn record_source(
    mut feed: SourceFeed,
    sink: Arc<dyn SegmentSink>,
    options: SegmentOptions,
) {
    if let Err(error) = tokio::fs::create_dir_all(&options.dir).await {
        tracing::error!(%error, "the recording folder cannot be made: source not recorded");
        while feed.recv().await.is_some() {}
        return;
    }
    let mut writer = Writer {
        sink,
        options,
        archive: None,
        audio_before_open: false,
        last_request: None,
    };
    let mut ticker = tokio::time::interval(OVERRUN_REPORT_INTERVAL);
    loop {
        tokio::select! {
            frame = feed.recv() => match frame {
                Some(frame) => writer.frame(frame, &feed).await,
                None => break,
            },
            _ = ticker.tick() => writer.report_overrun(&feed, false).await,
        }
    }
    writer.close(&feed).await;
}

/// One source's writer.
struct Writer {
    sink: Arc<dyn SegmentSink>,
    options: SegmentOptions,
    archive: Option<Archive>,
    /// Audio came before the first keyframe: the source has audio from the start.
    audio_before_open: bool,
    /// The last keyframe request, by the arrival time of the frame that made it.
    last_request: Option<Instant>,
}

/// An open archive and its segment under way.
struct Archive {
    id: Uuid,
    clock: MediaClock,
    publisher: Uuid,
    /// After a reconnect: nothing is recorded until the new publisher's first keyframe.
    awaiting_keyframe: bool,
    seq: u32,
    memory: CodecMemory,
    /// The segment being filled, and (once a cut is found) the one after it.
    current: SegmentMedia,
    next: Option<SegmentMedia>,
    audio_seen: bool,
    last_video_us: u64,
    last_audio_us: u64,
    reported_drops: u64,
    last_report: Option<Instant>,
}

impl Writer {
    async fn frame(&mut self, frame: RecordedFrame, feed: &SourceFeed) {
        if self.archive.is_none() {
            if frame.kind == MediaKind::Audio {
                self.audio_before_open = true;
                return;
            }
            if !frame.keyframe {
                self.want_keyframe(feed, frame.arrival);
                return;
            }
            match self.sink.opened(feed.source()).await {
                Ok(id) => self.archive = Some(Archive::new(id, &frame, self.audio_before_open)),
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "no archive opened; trying again at the next keyframe");
                    return;
                }
            }
        }
        let Some(archive) = self.archive.as_mut() else {
            return;
        };
        if frame.publisher != archive.publisher {
            // The publisher reconnected: what came before is one segment; a gap follows.
            let (current, next) = archive.take_all();
            archive.publisher = frame.publisher;
            archive.clock.restart();
            archive.awaiting_keyframe = true;
            self.write(current).await;
            if let Some(next) = next {
                self.write(next).await;
            }
        }
        let Some(archive) = self.archive.as_mut() else {
            return;
        };
        if archive.awaiting_keyframe {
            if frame.kind == MediaKind::Audio {
                return;
            }
            if !frame.keyframe {
                self.want_keyframe(feed, frame.arrival);
                return;
            }
            archive.awaiting_keyframe = false;
        }
        let arrival = frame.arrival;
        if archive.place(frame, self.options.target) {
            self.want_keyframe(feed, arrival);
        }
        let Some(archive) = self.archive.as_mut() else {
            return;
        };
        if let Some(done) = archive.take_cut() {
            self.write(done).await;
        }
        self.report_overrun(feed, false).await;
    }

    fn want_keyframe(&mut self, feed: &SourceFeed, at: Instant) {
        let due = self
            .last_request
            .is_none_or(|last| at.saturating_duration_since(last) >= KEYFRAME_REQUEST_INTERVAL);
        if due {
            self.last_request = Some(at);
            feed.request_keyframe();
        }
    }

    /// Reports the frames dropped since the last report: at most once a second, unless
    /// `last`.
    async fn report_overrun(&mut self, feed: &SourceFeed, last: bool) {
        let Some(archive) = self.archive.as_mut() else {
            return;
        };
        let dropped = feed.dropped();
        let recent = archive
            .last_report
            .is_some_and(|at| at.elapsed() < OVERRUN_REPORT_INTERVAL);
        if dropped <= archive.reported_drops || (recent && !last) {
            return;
        }
        let since = dropped - archive.reported_drops;
        archive.reported_drops = dropped;
        archive.last_report = Some(Instant::now());
        let id = archive.id;
        self.sink.overrun(id, feed.source(), since).await;
    }

    /// Writes what is left, reports the last drops and closes the archive.
    async fn close(&mut self, feed: &SourceFeed) {
        let Some(archive) = self.archive.as_mut() else {
            return;
        };
        let (current, next) = archive.take_all();
        self.write(current).await;
        if let Some(next) = next {
            self.write(next).await;
        }
        self.report_overrun(feed, true).await;
        if let Some(archive) = self.archive.take() {
            self.sink.closed(archive.id).await;
        }
    }

    /// Writes a segment to a file and hands it to the sink.
    async fn write(&mut self, media: SegmentMedia) {
        let Some(archive) = self.archive.as_mut() else {
            return;
        };
        if media.video.is_empty() {
            return;
        }
        let seq = archive.seq;
        archive.seq += 1;
        let id = archive.id;
        let (start_us, end_us) = (media.start_us, media.end_us);
        let path = self
            .options
            .dir
            .join(format!("{id}-{seq:08}.{SEGMENT_EXTENSION}"));
        let memory = archive.memory.clone();
        let target = path.clone();
        let written =
            tokio::task::spawn_blocking(move || write_segment(&target, &media, &memory)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(archive_id = %id, seq, error = %format!("{error:#}"), "a segment could not be written");
                return;
            }
            Err(error) => {
                tracing::error!(archive_id = %id, seq, %error, "a segment writer failed");
                return;
            }
        }
        let segment = SegmentFile {
            seq,
            path: path.clone(),
            start_ms: start_us / 1_000,
            duration_ms: end_us.saturating_sub(start_us) / 1_000,
            content_type: SEGMENT_CONTENT_TYPE,
            extension: SEGMENT_EXTENSION,
        };
        if let Err(error) = self.sink.segment(id, segment).await {
            tracing::error!(archive_id = %id, seq, error = %format!("{error:#}"), "a segment was refused");
            let _ = tokio::fs::remove_file(&path).await;
        }
    }
}

impl Archive {
    fn new(id: Uuid, first: &RecordedFrame, audio_seen: bool) -> Archive {
        Archive {
            id,
            clock: MediaClock::new(first.arrival),
            publisher: first.publisher,
            awaiting_keyframe: false,
            seq: 0,
            memory: CodecMemory::default(),
            current: SegmentMedia::default(),
            next: None,
            audio_seen,
            last_video_us: 0,
            last_audio_us: 0,
            reported_drops: 0,
            last_report: None,
        }
    }

    /// Places a frame in its segment; whether a keyframe is wanted (the segment is long
    /// enough and no keyframe has come to cut it).
    fn place(&mut self, frame: RecordedFrame, target: Duration) -> bool {
        let time_us =
            self.clock
                .time_us(frame.kind, frame.rtp_time, frame.clock_rate, frame.arrival);
        let timed = TimedFrame {
            time_us,
            keyframe: frame.keyframe,
            data: frame.data,
        };
        let target_us = target.as_micros() as u64;
        match frame.kind {
            MediaKind::Video => {
                self.last_video_us = time_us;
                if frame.keyframe {
                    self.memory.keyframe(frame.codec, &timed.data);
                }
                if self.current.video.is_empty() {
                    // A new segment (the archive's first, or after a reconnect) starts here.
                    self.current = SegmentMedia {
                        start_us: time_us,
                        video_codec: Some(frame.codec),
                        ..SegmentMedia::default()
                    };
                    self.current.video.push(timed);
                    return false;
                }
                if let Some(next) = self.next.as_mut() {
                    next.video.push(timed);
                    return false;
                }
                let long_enough = time_us >= self.current.start_us + target_us;
                if frame.keyframe && long_enough {
                    self.next = Some(SegmentMedia {
                        start_us: time_us,
                        video_codec: Some(frame.codec),
                        video: vec![timed],
                        ..SegmentMedia::default()
                    });
                    return false;
                }
                self.current.video.push(timed);
                long_enough
            }
            MediaKind::Audio => {
                self.audio_seen = true;
                self.last_audio_us = self.last_audio_us.max(time_us);
                match self.next.as_mut() {
                    Some(next) if time_us >= next.start_us => next.audio.push(timed),
                    // Audio from before the segment's start belongs to one already written.
                    _ if time_us < self.current.start_us => {}
                    _ => self.current.audio.push(timed),
                }
                false
            }
        }
    }

    /// The finished segment, once the cut is found and the audio has caught up with it.
    fn take_cut(&mut self) -> Option<SegmentMedia> {
        let cut = self.next.as_ref()?.start_us;
        let caught_up = !self.audio_seen
            || self.last_audio_us >= cut
            || self.last_video_us >= cut + AUDIO_HOLD_US;
        if !caught_up {
            return None;
        }
        let next = self.next.take()?;
        let mut done = std::mem::replace(&mut self.current, next);
        done.end_us = cut;
        Some(done)
    }

    /// Everything not yet written, each segment ending after its last frame.
    fn take_all(&mut self) -> (SegmentMedia, Option<SegmentMedia>) {
        let mut current = std::mem::take(&mut self.current);
        let mut next = self.next.take();
        match next.as_mut() {
            Some(next) => {
                current.end_us = next.start_us;
                next.end_us = end_of(next);
            }
            None => current.end_us = end_of(&current),
        }
        (current, next)
    }
}

/// Where a segment's media ends: after its last frame of either kind.
fn end_of(media: &SegmentMedia) -> u64 {
    let video = media.video.last().map_or(0, |f| f.time_us + LAST_VIDEO_US);
    let audio = media.audio.last().map_or(0, |f| f.time_us + LAST_AUDIO_US);
    video.max(audio).max(media.start_us)
}

/// Muxes a segment and writes it durably: a partial file, fsynced, renamed into place, the
/// folder fsynced.
fn write_segment(path: &Path, media: &SegmentMedia, memory: &CodecMemory) -> anyhow::Result<()> {
    use std::io::Write;

    let bytes = mux_segment(media, memory)?;
    let partial = path.with_extension("partial");
    let mut file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("naming {}", path.display()))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing {}", dir.display()))?;
    }
    Ok(())
}
