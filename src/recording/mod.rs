//! The recorder's media side: a bounded tee from the SFU's forwarding path, a writer per
//! recorded source that cuts self-contained MP4 segments at keyframes, and the finaliser that
//! remuxes an archive's segments into one file the browser plays. No transcoding anywhere:
//! the media is stored as the publisher sent it.
//!
//! - `tap`: [`SessionTap`], given to the SFU (`Sfu::record`) for a session being recorded; one
//!   [`SourceFeed`] per source comes out of it, each a bounded queue of [`RecordedFrame`]s.
//! - `segmenter`: [`record_session`] / [`record_source`] write each source's segments and
//!   hand them to a [`SegmentSink`] (the archive lifecycle: events, upload spool).
//! - `clock`: audio and video on one media clock, from RTP time and arrival.
//! - `mp4`: a segment as an MP4 file (`shiguredo_mp4`).
//! - `finalise`: [`finalise`] (ffmpeg, concat + `-c copy`), [`probe`] (ffprobe) and the bounded
//!   [`ProcessingJobs`].

mod clock;
pub mod finalise;
pub mod lifecycle;
mod mp4;
pub mod retention;
pub mod segmenter;
pub mod tap;

pub use finalise::{
    FinaliseError, Playable, ProbeError, ProbeInfo, ProbeStream, ProcessingJobs, finalise, probe,
};
pub use mp4::{SEGMENT_CONTENT_TYPE, SEGMENT_EXTENSION};
pub use segmenter::{SegmentFile, SegmentOptions, SegmentSink, record_session, record_source};
pub use tap::{Codec, RecordedFrame, SessionTap, SourceFeed};
