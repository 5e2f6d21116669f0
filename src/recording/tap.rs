//! The tee between the SFU and the recorder: for a session being recorded, the media core
//! offers every publisher frame it has forwarded to a bounded queue per source, and never
//! waits on it. A full queue drops the frame and counts it; the writer reports the count as an
//! overrun. The frame's bytes are shared with the forwarding path, not copied.
//!
//! [`SessionTap::new`] makes the tap the SFU is given (`Sfu::record`) and the receiver the
//! recorder reads: one [`SourceFeed`] arrives there for each source the session publishes
//! while it is recorded, at its first frame. Turning the tap off drops the queues' senders,
//! which tells each writer to finish its archive.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use livesurgery_domain::events::MediaKind;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use uuid::Uuid;

/// A codec the recorder stores as it arrives (the ones the SFU accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Vp8,
    /// H.264 in Annex B (start codes), as str0m hands it out.
    H264,
    Opus,
}

impl Codec {
    /// The lowercase name the SFU's events use (`vp8`, `h264`, `opus`).
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::Vp8 => "vp8",
            Codec::H264 => "h264",
            Codec::Opus => "opus",
        }
    }
}

/// One publisher frame on its way to the recorder.
#[derive(Debug, Clone)]
pub struct RecordedFrame {
    /// The publisher's WHIP resource: a new one under the same source means it reconnected.
    pub publisher: Uuid,
    /// The source label.
    pub source: String,
    pub kind: MediaKind,
    pub codec: Codec,
    /// A video frame that decodes on its own (always true for audio).
    pub keyframe: bool,
    /// The RTP timestamp, unwrapped, in `clock_rate` units (each track has its own offset).
    pub rtp_time: u64,
    pub clock_rate: u32,
    /// When its last packet arrived.
    pub arrival: Instant,
    /// The frame: VP8 as carried, H.264 in Annex B, one Opus packet (shared with the
    /// forwarding path, not copied).
    pub data: Arc<[u8]>,
}

/// What a source's queue shares between the SFU's side and the writer's.
#[derive(Debug, Default)]
struct SourceShared {
    /// Frames dropped because the queue was full, since the source's first frame.
    dropped: AtomicU64,
    /// The writer wants a keyframe of this source (to cut a segment).
    keyframe_wanted: AtomicBool,
}

/// The tap a recorded session's frames go through; clones feed the same recorder.
#[derive(Debug, Clone)]
pub struct SessionTap {
    queue: usize,
    sources: mpsc::UnboundedSender<SourceFeed>,
}

impl SessionTap {
    /// A tap whose sources each queue at most `queue` frames (`recording_queue`), and the
    /// receiver of each new source's feed. The receiver ends once every clone of the tap is
    /// dropped (the SFU drops its own when the tap is turned off).
    pub fn new(queue: usize) -> (SessionTap, mpsc::UnboundedReceiver<SourceFeed>) {
        let (sources, feeds) = mpsc::unbounded_channel();
        let tap = SessionTap {
            queue: queue.max(1),
            sources,
        };
        (tap, feeds)
    }

    /// Opens the queue of a new source and hands its feed to the recorder; `None` once the
    /// recorder is gone.
    fn open(&self, source: &str) -> Option<SourceQueue> {
        let (tx, rx) = mpsc::channel(self.queue);
        let shared = Arc::new(SourceShared::default());
        let feed = SourceFeed {
            source: source.to_owned(),
            frames: rx,
            shared: shared.clone(),
        };
        self.sources.send(feed).ok()?;
        Some(SourceQueue { tx, shared })
    }
}

/// The recorder's side of one source's queue.
#[derive(Debug)]
pub struct SourceFeed {
    source: String,
    frames: mpsc::Receiver<RecordedFrame>,
    shared: Arc<SourceShared>,
}

impl SourceFeed {
    /// The source label.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The next frame; `None` once the tap is off (or the SFU stopped) and the queue is empty.
    pub async fn recv(&mut self) -> Option<RecordedFrame> {
        self.frames.recv().await
    }

    /// The next frame if one is waiting; `None` when the queue is empty or ended.
    pub fn try_recv(&mut self) -> Option<RecordedFrame> {
        self.frames.try_recv().ok()
    }

    /// Frames dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Asks the SFU for a keyframe of this source, at its next video frame (rate limited
    /// there like every keyframe request).
    pub fn request_keyframe(&self) {
        self.shared.keyframe_wanted.store(true, Ordering::Relaxed);
    }
}

/// The SFU's side of one source's queue.
#[derive(Debug)]
struct SourceQueue {
    tx: mpsc::Sender<RecordedFrame>,
    shared: Arc<SourceShared>,
}

/// What became of an offered frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offered {
    /// The queue was full: the frame was dropped (and counted for the writer's report).
    pub dropped: bool,
    /// The writer asked for a keyframe of this source (the request is taken by this answer).
    pub keyframe_wanted: bool,
}

/// The media core's end of a session's tap: the queue of each source seen since it was on.
#[derive(Debug)]
pub struct Tee {
    tap: SessionTap,
    queues: HashMap<String, Option<SourceQueue>>,
}

impl Tee {
    pub fn new(tap: SessionTap) -> Tee {
        Tee {
            tap,
            queues: HashMap::new(),
        }
    }

    /// Offers a frame to its source's queue without waiting; a source seen for the first time
    /// gets a queue, and the recorder its feed.
    pub fn offer(&mut self, frame: RecordedFrame) -> Offered {
        if !self.queues.contains_key(frame.source.as_str()) {
            let queue = self.tap.open(&frame.source);
            self.queues.insert(frame.source.clone(), queue);
        }
        // A source whose recorder or writer is gone is no longer recorded; that is not an
        // overrun.
        let Some(Some(queue)) = self.queues.get(frame.source.as_str()) else {
            return Offered::default();
        };
        let keyframe_wanted = frame.kind == MediaKind::Video
            && queue.shared.keyframe_wanted.swap(false, Ordering::Relaxed);
        match queue.tx.try_send(frame) {
            Ok(()) => Offered {
                dropped: false,
                keyframe_wanted,
            },
            Err(TrySendError::Full(_)) => {
                queue.shared.dropped.fetch_add(1, Ordering::Relaxed);
                Offered {
                    dropped: true,
                    keyframe_wanted,
                }
            }
            Err(TrySendError::Closed(frame)) => {
                self.queues.insert(frame.source, None);
                Offered::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(source: &str, kind: MediaKind, n: u64) -> RecordedFrame {
        RecordedFrame {
            publisher: Uuid::nil(),
            source: source.to_owned(),
            kind,
            codec: Codec::Vp8,
            keyframe: n == 0,
            rtp_time: n * 3_000,
            clock_rate: 90_000,
            arrival: Instant::now(),
            data: Arc::from(vec![n as u8; 8]),
        }
    }

    #[tokio::test]
    async fn each_source_gets_a_bounded_queue_that_drops_and_counts_when_full() {
        let (tap, mut feeds) = SessionTap::new(2);
        let mut tee = Tee::new(tap);
        let offered: Vec<Offered> = (0..5)
            .map(|n| tee.offer(frame("endoscope", MediaKind::Video, n)))
            .collect();
        assert_eq!(
            offered.iter().map(|o| o.dropped).collect::<Vec<_>>(),
            [false, false, true, true, true]
        );
        tee.offer(frame("room-cam", MediaKind::Video, 0));

        let mut endoscope = feeds.recv().await.expect("the endoscope's feed");
        let room_cam = feeds.recv().await.expect("the room camera's feed");
        assert_eq!(
            (endoscope.source(), room_cam.source()),
            ("endoscope", "room-cam")
        );
        assert_eq!((endoscope.dropped(), room_cam.dropped()), (3, 0));
        let first = endoscope.recv().await.expect("a frame");
        assert_eq!(first.rtp_time, 0);
        assert_eq!(endoscope.recv().await.expect("a frame").rtp_time, 3_000);

        // Turned off: the queues end once drained, and so does the feed receiver.
        drop(tee);
        assert!(endoscope.recv().await.is_none());
        assert!(feeds.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_keyframe_request_is_handed_over_once_at_the_next_video_frame() {
        let (tap, mut feeds) = SessionTap::new(8);
        let mut tee = Tee::new(tap);
        tee.offer(frame("endoscope", MediaKind::Video, 0));
        let feed = feeds.recv().await.expect("a feed");
        feed.request_keyframe();
        assert!(
            !tee.offer(frame("endoscope", MediaKind::Audio, 1))
                .keyframe_wanted
        );
        assert!(
            tee.offer(frame("endoscope", MediaKind::Video, 2))
                .keyframe_wanted
        );
        assert!(
            !tee.offer(frame("endoscope", MediaKind::Video, 3))
                .keyframe_wanted
        );
    }

    #[tokio::test]
    async fn a_source_whose_writer_is_gone_is_no_longer_offered_nor_counted() {
        let (tap, mut feeds) = SessionTap::new(1);
        let mut tee = Tee::new(tap);
        tee.offer(frame("endoscope", MediaKind::Video, 0));
        drop(feeds.recv().await.expect("a feed"));
        for n in 1..4 {
            assert_eq!(
                tee.offer(frame("endoscope", MediaKind::Video, n)),
                Offered::default()
            );
        }
    }
}
