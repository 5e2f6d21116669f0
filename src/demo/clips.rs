//! The demo's pre-encoded clips: WebM files (VP8 video, optional Opus audio) made by
//! `ops/demo/make-clips.sh`, read into frames a publisher can loop.
//!
//! A clip's frames carry their offset from the clip's start; a loop is one clip length, the
//! same for every track, so that a publisher adds `loop * length` to every offset and both
//! tracks stay in step across loops.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use matroska_demuxer::{Frame, MatroskaFile, TrackType};

/// What a track carries (VP8 has a 90 kHz RTP clock, Opus 48 kHz).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipCodec {
    Vp8,
    Opus,
}

/// One encoded frame of a clip.
#[derive(Debug, Clone)]
pub struct ClipFrame {
    /// When it is shown, from the clip's start.
    pub at: Duration,
    /// The VP8 frame or Opus packet, as the container holds it.
    pub data: Arc<[u8]>,
    /// A VP8 keyframe (every Opus packet counts as one).
    pub keyframe: bool,
}

/// The frames of one track, in presentation order.
#[derive(Debug, Clone)]
pub struct ClipTrack {
    pub codec: ClipCodec,
    pub frames: Vec<ClipFrame>,
}

/// A clip ready to loop: a video track, maybe an audio track, and the loop's length.
#[derive(Debug, Clone)]
pub struct Clip {
    pub video: ClipTrack,
    pub audio: Option<ClipTrack>,
    /// The length of one loop: the video's last frame plus one frame interval.
    pub length: Duration,
}

impl Clip {
    /// Reads a WebM clip: its first VP8 track (starting with a keyframe) and its first Opus
    /// track, if any. Audio past the video's length is dropped, so both loop together.
    pub fn from_webm(bytes: &[u8]) -> anyhow::Result<Clip> {
        let mut file = MatroskaFile::open(Cursor::new(bytes)).context("not a WebM file")?;
        let scale_ns = file.info().timestamp_scale().get();
        let track_of = |codec_id: &str, kind: TrackType| {
            file.tracks()
                .iter()
                .find(|t| t.track_type() == kind && t.codec_id() == codec_id)
                .map(|t| t.track_number().get())
        };
        let video_track =
            track_of("V_VP8", TrackType::Video).context("the clip has no VP8 track")?;
        let audio_track = track_of("A_OPUS", TrackType::Audio);
        let mut video = Vec::new();
        let mut audio = Vec::new();
        let mut frame = Frame::default();
        let mut audio_at = Duration::ZERO;
        while file.next_frame(&mut frame).context("reading the clip")? {
            let at = Duration::from_nanos(frame.timestamp.saturating_mul(scale_ns));
            let data: Arc<[u8]> = std::mem::take(&mut frame.data).into();
            if frame.track == video_track {
                // Clips are written with simple blocks, which say whether a frame is a key.
                let keyframe = frame.is_keyframe.unwrap_or_else(|| vp8_is_keyframe(&data));
                video.push(ClipFrame { at, data, keyframe });
            } else if Some(frame.track) == audio_track {
                // Opus packets follow each other without gaps; their container times start
                // before zero by the codec delay, so their own durations place them.
                let duration = opus_duration(&data).context("an unreadable Opus packet")?;
                audio.push(ClipFrame {
                    at: audio_at,
                    data,
                    keyframe: true,
                });
                audio_at += duration;
            }
        }
        let length = loop_length(&mut video)?;
        let audio = audio_track.map(|_| {
            audio.retain(|f| f.at < length);
            ClipTrack {
                codec: ClipCodec::Opus,
                frames: audio,
            }
        });
        if let Some(track) = &audio {
            ensure!(!track.frames.is_empty(), "the clip's Opus track is empty");
        }
        Ok(Clip {
            video: ClipTrack {
                codec: ClipCodec::Vp8,
                frames: video,
            },
            audio,
            length,
        })
    }
}

/// Makes offsets start at zero (a track may start late, or early by its codec delay).
fn rebase(frames: &mut [ClipFrame]) {
    let Some(first) = frames.first().map(|f| f.at) else {
        return;
    };
    for frame in frames {
        frame.at = frame.at.saturating_sub(first);
    }
}

/// Checks the video can loop (a keyframe first, time going forward) and measures the loop:
/// the last frame's offset plus the mean interval.
fn loop_length(video: &mut [ClipFrame]) -> anyhow::Result<Duration> {
    ensure!(video.len() >= 2, "the clip needs at least two video frames");
    if !video[0].keyframe {
        bail!("the clip's first video frame is not a keyframe: a loop could not be decoded");
    }
    rebase(video);
    ensure!(
        video.windows(2).all(|w| w[0].at < w[1].at),
        "the clip's video timestamps do not increase"
    );
    let last = video[video.len() - 1].at;
    let intervals = u32::try_from(video.len() - 1).context("too many frames")?;
    Ok(last + last / intervals)
}

/// How much sound an Opus packet holds, from its TOC byte (RFC 6716 section 3.1).
fn opus_duration(packet: &[u8]) -> Option<Duration> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let frame_us: u64 = match config {
        0..=11 => [10_000, 20_000, 40_000, 60_000][usize::from(config % 4)],
        12..=15 => [10_000, 20_000][usize::from(config % 2)],
        _ => [2_500, 5_000, 10_000, 20_000][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(*packet.get(1)? & 0x3f),
    };
    Some(Duration::from_micros(frame_us * frames))
}

/// The VP8 payload header's keyframe bit (RFC 6386 section 9.1: bit 0 of the first byte is 0).
fn vp8_is_keyframe(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 1 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIPS: [(&str, &[u8]); 3] = [
        (
            "endoscope",
            include_bytes!("../../ops/demo/clips/endoscope.webm"),
        ),
        (
            "room-camera",
            include_bytes!("../../ops/demo/clips/room-camera.webm"),
        ),
        ("vitals", include_bytes!("../../ops/demo/clips/vitals.webm")),
    ];

    #[test]
    fn every_clip_loops_video_with_a_keyframe_each_second() {
        for (name, bytes) in CLIPS {
            let clip = Clip::from_webm(bytes).unwrap();
            let frames = &clip.video.frames;
            assert_eq!(clip.video.codec, ClipCodec::Vp8);
            assert!(
                (6..=10).contains(&clip.length.as_secs()),
                "{name}: {:?}",
                clip.length
            );
            assert_eq!(frames[0].at, Duration::ZERO, "{name}");
            let fps = frames.len() as f64 / clip.length.as_secs_f64();
            assert!(
                (14.0..=31.0).contains(&fps),
                "{name}: {fps} frames a second"
            );
            let keys: Vec<Duration> = frames.iter().filter(|f| f.keyframe).map(|f| f.at).collect();
            assert!(keys[0] == Duration::ZERO, "{name}");
            let mut gaps: Vec<Duration> = keys.windows(2).map(|w| w[1] - w[0]).collect();
            gaps.push(clip.length - keys[keys.len() - 1]);
            assert!(
                gaps.iter().all(|g| *g <= Duration::from_millis(1001)),
                "{name}: keyframes {keys:?}"
            );
            assert!(
                frames
                    .iter()
                    .all(|f| vp8_is_keyframe(&f.data) == f.keyframe)
            );
        }
    }

    #[test]
    fn the_room_camera_has_opus_audio_as_long_as_its_video() {
        let clip = Clip::from_webm(CLIPS[1].1).unwrap();
        let audio = clip.audio.expect("an Opus track");
        assert_eq!(audio.codec, ClipCodec::Opus);
        let last = audio.frames.last().unwrap().at;
        assert!(last < clip.length && clip.length - last <= Duration::from_millis(40));
        // 20 ms packets, back to back.
        assert!(
            audio
                .frames
                .windows(2)
                .all(|w| w[1].at - w[0].at == Duration::from_millis(20))
        );
        assert!(Clip::from_webm(CLIPS[0].1).unwrap().audio.is_none());
    }

    #[test]
    fn a_file_that_is_not_webm_is_refused() {
        assert!(Clip::from_webm(b"not a clip").is_err());
        assert!(Clip::from_webm(&[]).is_err());
    }

    #[test]
    fn an_opus_packet_says_how_long_it_is() {
        // CELT 20 ms, one frame; SILK 60 ms, two frames; CELT 2.5 ms, code 3 with 4 frames.
        assert_eq!(opus_duration(&[0xf8]), Some(Duration::from_millis(20)));
        assert_eq!(opus_duration(&[0x19]), Some(Duration::from_millis(120)));
        assert_eq!(
            opus_duration(&[0x83, 0x04]),
            Some(Duration::from_millis(10))
        );
        assert_eq!(opus_duration(&[0x83]), None);
        assert_eq!(opus_duration(&[]), None);
    }

    #[test]
    fn the_vp8_keyframe_bit_is_read_from_the_payload_header() {
        assert!(vp8_is_keyframe(&[0x10, 0x02, 0x00]));
        assert!(!vp8_is_keyframe(&[0x11, 0x02, 0x00]));
        assert!(!vp8_is_keyframe(&[]));
    }
}
