//! The recorder's media side with real media: Debian's ffmpeg encodes a test pattern and a
//! tone (VP8 or H.264, and Opus) into Matroska, the frames are read back and fed through the
//! SFU's tee to the segment writer with RTP times and arrivals as a publisher's would be; the
//! segments are read by ffprobe one by one, finalised by ffmpeg, and played by Chromium.
//!
//! Needs `ffmpeg`/`ffprobe` (`bash .ci/install-media.sh`); without them the tests say SKIPPED and
//! pass, unless `LIVESURGERY_REQUIRE_MEDIA=1` (as in CI), where they fail.

mod crash;
mod e2e;
mod playback;
mod segments;
pub(crate) mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use livesurgery::recording::tap::Tee;
use livesurgery::recording::{
    Codec, RecordedFrame, SegmentFile, SegmentOptions, SegmentSink, SessionTap, record_session,
};
use livesurgery_domain::events::MediaKind;
use matroska_demuxer::{Frame, MatroskaFile, TrackType};
use shiguredo_mp4::bitstream::h264::{LengthSize, length_prefixed_to_annexb};
use uuid::Uuid;

use crate::helpers::prerequisites_met;

/// Set to `1` where missing ffmpeg must fail the tests rather than skip them.
const REQUIRE_MEDIA: &str = "LIVESURGERY_REQUIRE_MEDIA";
/// The fixture's frame rate and Opus packet length.
const FPS: u64 = 30;
const AUDIO_PACKET_MS: u64 = 20;

/// Whether ffmpeg and ffprobe are here (else the test should return; see the module's doc).
pub(crate) fn media_tools(test: &str) -> bool {
    let missing = ["ffmpeg", "ffprobe"].into_iter().find_map(|tool| {
        let ran = Command::new(tool).arg("-version").output();
        (!ran.is_ok_and(|o| o.status.success())).then(|| format!("no `{tool}` on PATH"))
    });
    prerequisites_met(test, missing, REQUIRE_MEDIA, "bash .ci/install-media.sh")
}

/// An encoded clip, as frames.
struct Clip {
    /// Video frames in order: keyframe flag and bytes (VP8, or H.264 in Annex B).
    video: Vec<(bool, Vec<u8>)>,
    /// Opus packets in order, 20 ms each.
    audio: Vec<Vec<u8>>,
    codec: Codec,
}

/// Encodes `seconds` of a moving test pattern (320x240, 30 frames/s, a keyframe every second)
/// and a 440 Hz tone with ffmpeg, and reads its frames back.
fn clip(dir: &Path, codec: Codec, seconds: u64) -> Clip {
    let file = dir.join(format!("clip-{}.mkv", codec.as_str()));
    let video: &[&str] = match codec {
        Codec::H264 => &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-profile:v",
            "baseline",
            "-bf",
            "0",
            // SPS and PPS before every keyframe, as WebRTC senders do.
            "-x264-params",
            "repeat-headers=1",
        ],
        _ => &["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8"],
    };
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &seconds.to_string()])
        .args(video)
        .args(["-g", "30", "-b:v", "400k", "-pix_fmt", "yuv420p"])
        .args([
            "-c:a",
            "libopus",
            "-ac",
            "2",
            "-b:a",
            "32k",
            "-frame_duration",
            "20",
        ])
        .arg(&file)
        .status()
        .expect("running ffmpeg");
    assert!(status.success(), "ffmpeg could not encode the clip");

    let mut mkv = MatroskaFile::open(File::open(&file).expect("the clip")).expect("Matroska");
    let track = |kind: TrackType| {
        mkv.tracks()
            .iter()
            .find(|t| t.track_type() == kind)
            .map(|t| t.track_number().get())
            .expect("a track of each kind")
    };
    let (video_track, audio_track) = (track(TrackType::Video), track(TrackType::Audio));
    let mut frame = Frame::default();
    let mut clip = Clip {
        video: Vec::new(),
        audio: Vec::new(),
        codec,
    };
    while mkv.next_frame(&mut frame).expect("a frame") {
        if frame.track == video_track {
            let data = match codec {
                // Matroska holds length-prefixed NAL units; WebRTC carries Annex B.
                Codec::H264 => length_prefixed_to_annexb(&frame.data, LengthSize::FourBytes)
                    .expect("H.264 NAL units"),
                _ => frame.data.clone(),
            };
            clip.video.push((frame.is_keyframe.unwrap_or(false), data));
        } else if frame.track == audio_track {
            clip.audio.push(frame.data.clone());
        }
    }
    assert!(clip.video.len() as u64 >= seconds * FPS - 1 && clip.audio.len() > 10);
    clip
}

/// A publisher sending a clip: its own RTP offsets, and arrivals with some network jitter.
struct Publisher {
    id: Uuid,
    video_rtp: u64,
    audio_rtp: u64,
}

impl Publisher {
    fn new(seed: u64) -> Publisher {
        Publisher {
            id: Uuid::now_v7(),
            video_rtp: 1_000_000 + seed * 7_919_113,
            audio_rtp: 50_000 + seed * 3_331_711,
        }
    }

    /// The clip's frames from `from_ms` to `to_ms` of its time, in arrival order, arriving
    /// from `at` (the arrival of clip time `from_ms`).
    fn frames(&self, clip: &Clip, from_ms: u64, to_ms: u64, at: Instant) -> Vec<RecordedFrame> {
        let mut frames = Vec::new();
        let jitter = |n: u64| Duration::from_micros((n * 7_919) % 12_000);
        for (n, (keyframe, data)) in clip.video.iter().enumerate() {
            let n = n as u64;
            let ms = n * 1_000 / FPS;
            if ms < from_ms || ms >= to_ms {
                continue;
            }
            frames.push(RecordedFrame {
                publisher: self.id,
                source: "endoscope".into(),
                kind: MediaKind::Video,
                codec: clip.codec,
                keyframe: *keyframe,
                rtp_time: self.video_rtp + n * 90_000 / FPS,
                clock_rate: 90_000,
                arrival: at + Duration::from_millis(ms - from_ms) + jitter(n),
                data: Arc::from(data.as_slice()),
            });
        }
        for (n, data) in clip.audio.iter().enumerate() {
            let n = n as u64;
            let ms = n * AUDIO_PACKET_MS;
            if ms < from_ms || ms >= to_ms {
                continue;
            }
            frames.push(RecordedFrame {
                publisher: self.id,
                source: "endoscope".into(),
                kind: MediaKind::Audio,
                codec: Codec::Opus,
                keyframe: true,
                rtp_time: self.audio_rtp + n * 960,
                clock_rate: 48_000,
                arrival: at + Duration::from_millis(ms - from_ms) + jitter(n + 3) / 2,
                data: Arc::from(data.as_slice()),
            });
        }
        frames.sort_by_key(|f| f.arrival);
        frames
    }
}

/// What the writer told its sink, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Told {
    Opened(String),
    Segment(SegmentFile),
    Overrun(u64),
    Closed,
}

/// A sink that keeps the segments where they were written and notes what it was told.
#[derive(Default)]
struct NotingSink {
    archive_id: Mutex<Option<Uuid>>,
    told: Mutex<Vec<Told>>,
}

impl NotingSink {
    fn told(&self) -> Vec<Told> {
        self.told.lock().expect("not poisoned").clone()
    }

    fn segments(&self) -> Vec<SegmentFile> {
        self.told()
            .into_iter()
            .filter_map(|t| match t {
                Told::Segment(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn note(&self, archive_id: Uuid, told: Told) {
        assert_eq!(
            *self.archive_id.lock().expect("not poisoned"),
            Some(archive_id),
            "the archive opened"
        );
        self.told.lock().expect("not poisoned").push(told);
    }
}

#[async_trait]
impl SegmentSink for NotingSink {
    async fn opened(&self, source: &str) -> anyhow::Result<Uuid> {
        let id = Uuid::now_v7();
        *self.archive_id.lock().expect("not poisoned") = Some(id);
        self.told
            .lock()
            .expect("not poisoned")
            .push(Told::Opened(source.to_owned()));
        Ok(id)
    }

    async fn segment(&self, archive_id: Uuid, segment: SegmentFile) -> anyhow::Result<()> {
        assert!(segment.path.is_file(), "written before it is handed over");
        self.note(archive_id, Told::Segment(segment));
        Ok(())
    }

    async fn overrun(&self, archive_id: Uuid, _source: &str, dropped_frames: u64) {
        self.note(archive_id, Told::Overrun(dropped_frames));
    }

    async fn closed(&self, archive_id: Uuid) {
        self.note(archive_id, Told::Closed);
    }
}

/// Records `frames` through a session tap whose queue holds `queue` frames into `dir`,
/// offering them all at once as the SFU would (never waiting); returns once the archive is
/// closed.
async fn record(frames: Vec<RecordedFrame>, dir: &Path, queue: usize) -> Arc<NotingSink> {
    let sink = Arc::new(NotingSink::default());
    let (tap, feeds) = SessionTap::new(queue);
    let options = SegmentOptions {
        target: Duration::from_secs(4),
        dir: dir.join("segments"),
    };
    let recorder = tokio::spawn(record_session(feeds, sink.clone(), options));
    let mut tee = Tee::new(tap);
    for frame in frames {
        tee.offer(frame);
    }
    drop(tee);
    tokio::time::timeout(Duration::from_secs(60), recorder)
        .await
        .expect("the recorder finishes")
        .expect("the recorder did not panic");
    sink
}

/// What ffmpeg complains of when it decodes every frame of a file (nothing, for a good one).
fn decode_errors(path: &Path) -> String {
    let output = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("running ffmpeg");
    assert!(output.status.success(), "ffmpeg decodes {}", path.display());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The segments' paths, in order.
fn paths(segments: &[SegmentFile]) -> Vec<PathBuf> {
    segments.iter().map(|s| s.path.clone()).collect()
}
