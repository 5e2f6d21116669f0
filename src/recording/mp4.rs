//! One segment as a self-contained MP4 file (`ftyp`, `moov` first, `mdat`), built in memory
//! with `shiguredo_mp4` from the frames as they arrived: VP8 or H.264 video (converted from
//! Annex B to length-prefixed NAL units), Opus audio. No transcoding.
//!
//! MP4 gives a sample no timestamp, only a duration: a track starts at 0 and each sample
//! follows the previous one. A segment's video starts with its keyframe at the segment's
//! start; audio that starts later (a silent microphone, a sender that started late) is
//! preceded by empty Opus packets, which a decoder plays as silence, so that it does not slip
//! forward onto the picture. A segment without any audio is all such packets: every segment
//! has the same two tracks, as concatenating them needs.

use std::num::NonZeroU32;
use std::sync::Arc;

use shiguredo_mp4::TrackKind;
use shiguredo_mp4::bitstream::h264::{
    self, H264NalUnitType, H264SampleEntryConfig, LengthSize, annexb_to_length_prefixed,
};
use shiguredo_mp4::bitstream::{opus, vp8};
use shiguredo_mp4::boxes::SampleEntry;
use shiguredo_mp4::mux::{
    Mp4FileMuxer, Mp4FileMuxerOptions, Sample, estimate_maximum_moov_box_size,
};

use super::tap::Codec;

/// The media type and file extension of a segment.
pub const SEGMENT_CONTENT_TYPE: &str = "video/mp4";
pub const SEGMENT_EXTENSION: &str = "mp4";

const VIDEO_TIMESCALE: u32 = 90_000;
const AUDIO_TIMESCALE: u32 = 48_000;
/// One 20 ms Opus packet at 48 kHz: WebRTC's usual packet, and the filler's.
const OPUS_PACKET_TICKS: u32 = 960;
/// An Opus packet of one empty 20 ms CELT frame (TOC config 31, mono, code 0): the decoder
/// conceals it, as silence where nothing came before.
const OPUS_EMPTY_PACKET: [u8; 1] = [31 << 3];

/// Why a segment could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SegmentMuxError {
    #[error("the segment has no video")]
    NoVideo,
    #[error("the segment's first video frame is not a keyframe the muxer can read: {0}")]
    BadKeyframe(String),
    #[error("H.264 without SPS and PPS before the segment's keyframe")]
    NoParameterSets,
    #[error("MP4: {0}")]
    Mux(String),
}

/// A frame placed on the archive's media clock.
#[derive(Debug, Clone)]
pub(super) struct TimedFrame {
    pub(super) time_us: u64,
    pub(super) keyframe: bool,
    pub(super) data: Arc<[u8]>,
}

/// One segment's frames, each track in order, and where it starts and ends.
#[derive(Debug, Default)]
pub(super) struct SegmentMedia {
    pub(super) start_us: u64,
    pub(super) end_us: u64,
    pub(super) video_codec: Option<Codec>,
    pub(super) video: Vec<TimedFrame>,
    pub(super) audio: Vec<TimedFrame>,
}

/// What the video track must remember between segments: H.264's parameter sets, which an
/// encoder need not repeat before every keyframe.
#[derive(Debug, Clone, Default)]
pub(super) struct CodecMemory {
    /// The last SPS and PPS seen (EBSP, no start code).
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
}

impl CodecMemory {
    /// Looks at a keyframe for parameter sets to remember.
    pub(super) fn keyframe(&mut self, codec: Codec, data: &[u8]) {
        if codec != Codec::H264 {
            return;
        }
        let Ok(nals) = h264::parse_annexb_nal_units(data) else {
            return;
        };
        for nal in nals {
            match nal.nal_unit_type {
                H264NalUnitType::Sps => self.sps = Some(nal.data.to_vec()),
                H264NalUnitType::Pps => self.pps = Some(nal.data.to_vec()),
                _ => {}
            }
        }
    }
}

/// The segment as an MP4 file (moov before mdat).
pub(super) fn mux_segment(
    media: &SegmentMedia,
    memory: &CodecMemory,
) -> Result<Vec<u8>, SegmentMuxError> {
    let first = media.video.first().ok_or(SegmentMuxError::NoVideo)?;
    let codec = media.video_codec.unwrap_or(Codec::Vp8);
    let video_entry = video_sample_entry(codec, media, memory)?;
    let mut samples = video_samples(codec, media, first.time_us)?;
    let audio = audio_samples(media);
    let counts = [samples.len(), audio.len()];
    samples.extend(audio);
    // Interleaved by time (video first at a tie), as a player reads them.
    samples.sort_by_key(|s| (s.start_us, s.kind == TrackKind::Audio));

    let options = Mp4FileMuxerOptions {
        reserved_moov_box_size: estimate_maximum_moov_box_size(&counts),
        ..Mp4FileMuxerOptions::default()
    };
    let mut muxer = Mp4FileMuxer::with_options(options).map_err(mux_error)?;
    let mut file = muxer.initial_boxes_bytes().to_vec();
    let audio_entry = SampleEntry::Opus(opus::build_opus_box(&opus::OpusSampleEntryConfig {
        // WebRTC negotiates Opus as stereo; a mono stream decodes to both channels.
        channel_count: opus::ChannelCount::Stereo,
        pre_skip: 0,
        input_sample_rate: AUDIO_TIMESCALE,
        output_gain: 0,
    }));
    let (mut video_entry, mut audio_entry) = (Some(video_entry), Some(audio_entry));
    for sample in &samples {
        let (entry, timescale) = match sample.kind {
            TrackKind::Audio => (audio_entry.take(), AUDIO_TIMESCALE),
            _ => (video_entry.take(), VIDEO_TIMESCALE),
        };
        let data_offset = file.len() as u64;
        file.extend_from_slice(&sample.data);
        muxer
            .append_sample(&Sample {
                track_kind: sample.kind,
                sample_entry: entry,
                keyframe: sample.keyframe,
                timescale: NonZeroU32::new(timescale).unwrap_or(NonZeroU32::MIN),
                duration: sample.duration,
                composition_time_offset: None,
                data_offset,
                data_size: sample.data.len(),
            })
            .map_err(mux_error)?;
    }
    let finalized = muxer.finalize().map_err(mux_error)?;
    for (offset, bytes) in finalized.offset_and_bytes_pairs() {
        let start = usize::try_from(offset).map_err(|_| SegmentMuxError::Mux("offset".into()))?;
        let end = start + bytes.len();
        if file.len() < end {
            file.resize(end, 0);
        }
        file[start..end].copy_from_slice(bytes);
    }
    Ok(file)
}

fn mux_error(error: impl std::fmt::Display) -> SegmentMuxError {
    SegmentMuxError::Mux(error.to_string())
}

/// A sample ready for the muxer.
struct MuxSample {
    kind: TrackKind,
    start_us: u64,
    duration: u32,
    keyframe: bool,
    data: Arc<[u8]>,
}

/// Ticks of `timescale` from `from_us` to `to_us` (0 if before).
fn ticks(from_us: u64, to_us: u64, timescale: u32) -> u64 {
    to_us.saturating_sub(from_us) * u64::from(timescale) / 1_000_000
}

fn video_sample_entry(
    codec: Codec,
    media: &SegmentMedia,
    memory: &CodecMemory,
) -> Result<SampleEntry, SegmentMuxError> {
    match codec {
        Codec::H264 => {
            let first = &media.video[0];
            let mut seen = CodecMemory::default();
            seen.keyframe(Codec::H264, &first.data);
            let sps = seen.sps.or_else(|| memory.sps.clone());
            let pps = seen.pps.or_else(|| memory.pps.clone());
            let (Some(sps), Some(pps)) = (sps, pps) else {
                return Err(SegmentMuxError::NoParameterSets);
            };
            let config = H264SampleEntryConfig {
                length_size: LengthSize::FourBytes,
            };
            let avc1 = h264::build_avc1_box(&[sps], &[pps], &config)
                .map_err(|e| SegmentMuxError::BadKeyframe(e.to_string()))?;
            Ok(SampleEntry::Avc1(avc1))
        }
        _ => {
            // The track's size holds every keyframe's (a sender may change resolution).
            let (mut width, mut height) = (0u16, 0u16);
            for frame in media.video.iter().filter(|f| f.keyframe) {
                let header = vp8::parse_frame_header(&frame.data)
                    .map_err(|e| SegmentMuxError::BadKeyframe(e.to_string()))?;
                if let Some(key) = header.keyframe {
                    width = width.max(key.width);
                    height = height.max(key.height);
                }
            }
            if width == 0 || height == 0 {
                return Err(SegmentMuxError::BadKeyframe("no frame size".into()));
            }
            const UNSPECIFIED: u8 = vp8::Vp8SampleEntryConfig::COLOUR_PRIMARIES_UNSPECIFIED;
            let config = vp8::Vp8SampleEntryConfig {
                video_full_range_flag: false,
                colour_primaries: UNSPECIFIED,
                transfer_characteristics:
                    vp8::Vp8SampleEntryConfig::TRANSFER_CHARACTERISTICS_UNSPECIFIED,
                matrix_coefficients: vp8::Vp8SampleEntryConfig::MATRIX_COEFFICIENTS_UNSPECIFIED,
                width,
                height,
            };
            Ok(SampleEntry::Vp08(vp8::build_vp08_box(&config)))
        }
    }
}

/// The video samples; the first starts the segment, the last lasts until its end.
fn video_samples(
    codec: Codec,
    media: &SegmentMedia,
    start_us: u64,
) -> Result<Vec<MuxSample>, SegmentMuxError> {
    let mut samples = Vec::with_capacity(media.video.len());
    for (i, frame) in media.video.iter().enumerate() {
        let at = ticks(start_us, frame.time_us, VIDEO_TIMESCALE);
        let next_us = media.video.get(i + 1).map_or(media.end_us, |n| n.time_us);
        let until = ticks(start_us, next_us, VIDEO_TIMESCALE);
        let data = match codec {
            Codec::H264 => annexb_to_length_prefixed(&frame.data, LengthSize::FourBytes)
                .map_err(|e| SegmentMuxError::Mux(e.to_string()))?
                .into(),
            _ => frame.data.clone(),
        };
        samples.push(MuxSample {
            kind: TrackKind::Video,
            start_us: frame.time_us,
            duration: u32::try_from(until.saturating_sub(at).max(1)).unwrap_or(u32::MAX),
            keyframe: frame.keyframe,
            data,
        });
    }
    Ok(samples)
}

/// The audio samples, from the segment's start: empty packets fill a late start, or the
/// whole segment when no audio came (every segment has the same two tracks, which the
/// finaliser's concatenation needs).
fn audio_samples(media: &SegmentMedia) -> Vec<MuxSample> {
    let start_us = media.start_us;
    let first_us = media.audio.first().map_or(media.end_us, |f| f.time_us);
    let mut samples = Vec::with_capacity(media.audio.len() + 4);
    let lead = ticks(start_us, first_us, AUDIO_TIMESCALE);
    let packet = u64::from(OPUS_PACKET_TICKS);
    let fillers = lead / packet;
    for n in 0..fillers {
        // The last filler takes the remainder, so the first real packet lands where it was.
        let duration = if n + 1 == fillers {
            lead - n * packet
        } else {
            packet
        };
        samples.push(MuxSample {
            kind: TrackKind::Audio,
            start_us: start_us + n * 20_000,
            duration: u32::try_from(duration).unwrap_or(OPUS_PACKET_TICKS),
            keyframe: true,
            data: Arc::from(&OPUS_EMPTY_PACKET[..]),
        });
    }
    let mut last_step = packet;
    for (i, frame) in media.audio.iter().enumerate() {
        let at = ticks(start_us, frame.time_us, AUDIO_TIMESCALE);
        let duration = match media.audio.get(i + 1) {
            Some(next) => {
                let step = ticks(start_us, next.time_us, AUDIO_TIMESCALE).saturating_sub(at);
                last_step = step.clamp(1, 3 * packet);
                step
            }
            // The last packet lasts as long as the one before, within the segment.
            None => {
                last_step.min(ticks(start_us, media.end_us, AUDIO_TIMESCALE).saturating_sub(at))
            }
        };
        samples.push(MuxSample {
            kind: TrackKind::Audio,
            start_us: frame.time_us,
            duration: u32::try_from(duration.max(1)).unwrap_or(u32::MAX),
            keyframe: true,
            data: frame.data.clone(),
        });
    }
    samples
}
