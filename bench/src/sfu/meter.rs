//! What receivers and senders report into: a path's frames counted by number, and a
//! sender's frame numbers and counters.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::report::lock;

/// The receivers of one path: frames counted by number between `first` and `last`.
pub(super) struct Meter {
    /// The first frame number counted.
    pub first: AtomicU64,
    /// The last frame number counted: `u64::MAX` while the window is open.
    last: AtomicU64,
    /// Datagrams are counted while set.
    measuring: AtomicBool,
    pub frames: AtomicU64,
    pub datagrams: AtomicU64,
    pub latencies_us: Mutex<Vec<u64>>,
    pub nacks: AtomicU64,
    pub plis: AtomicU64,
    /// Receivers that got a frame, ever.
    pub ready: AtomicU64,
    /// WHEP request to first frame, of the receivers added since the last clear.
    pub first_frames_ms: Mutex<Vec<f64>>,
    /// WHEP request to connected (ICE and DTLS up), likewise.
    pub connected_ms: Mutex<Vec<f64>>,
    pub failed: AtomicU64,
    pub unreadable: AtomicU64,
    /// The first few failures' reasons.
    pub failures: Mutex<Vec<String>>,
}

impl Default for Meter {
    fn default() -> Self {
        Meter {
            first: AtomicU64::new(u64::MAX),
            last: AtomicU64::new(0),
            measuring: AtomicBool::new(false),
            frames: AtomicU64::new(0),
            datagrams: AtomicU64::new(0),
            latencies_us: Mutex::default(),
            nacks: AtomicU64::new(0),
            plis: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            first_frames_ms: Mutex::default(),
            connected_ms: Mutex::default(),
            failed: AtomicU64::new(0),
            unreadable: AtomicU64::new(0),
            failures: Mutex::default(),
        }
    }
}

impl Meter {
    /// Starts a window at frame number `first`.
    pub(super) fn open(&self, first: u64) {
        for counter in [
            &self.frames,
            &self.datagrams,
            &self.nacks,
            &self.plis,
            &self.unreadable,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        lock(&self.latencies_us).clear();
        self.last.store(u64::MAX, Ordering::Relaxed);
        self.first.store(first, Ordering::Relaxed);
        self.measuring.store(true, Ordering::Relaxed);
    }

    /// Ends the window: frames after `last` no longer count.
    pub(super) fn close(&self, last: u64) {
        self.measuring.store(false, Ordering::Relaxed);
        self.last.store(last, Ordering::Relaxed);
    }

    /// Whether a window is open.
    pub(super) fn measuring(&self) -> bool {
        self.measuring.load(Ordering::Relaxed)
    }

    /// A complete frame, written at `sent_us` (µs since the Unix epoch).
    pub(super) fn frame(&self, seq: u64, sent_us: u64) {
        let counted =
            seq >= self.first.load(Ordering::Relaxed) && seq <= self.last.load(Ordering::Relaxed);
        if counted {
            self.frames.fetch_add(1, Ordering::Relaxed);
            lock(&self.latencies_us).push(wall_us().saturating_sub(sent_us));
        }
    }

    /// A receiver failed: counted, and among the first three, why.
    pub(super) fn fail(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut failures = lock(&self.failures);
        if failures.len() < 3 {
            failures.push(why);
        }
    }
}

/// A sender's frame numbers and counters.
#[derive(Default)]
pub(super) struct Source {
    /// The number the next frame gets.
    pub next_seq: AtomicU64,
    /// Frames are written while set.
    pub sending: AtomicBool,
    /// ICE and DTLS are up (a WebRTC sender).
    pub connected: AtomicBool,
    pub frames: AtomicU64,
    pub keyframes: AtomicU64,
    pub keyframe_requests: AtomicU64,
    /// RTP packets and their bytes on the wire (retransmissions included).
    pub media_packets: AtomicU64,
    pub media_bytes: AtomicU64,
    /// NACKs received (the SFU asking for packets it lost).
    pub nacks_received: AtomicU64,
    /// Why the sender's peer failed, if it did.
    pub failure: Mutex<Option<String>>,
}

/// Microseconds since the Unix epoch: the clock every sender stamps and every receiver reads.
pub(super) fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_counts_frames_by_number_wherever_they_arrive() {
        let meter = Meter::default();
        meter.frame(3, wall_us());
        assert_eq!(meter.frames.load(Ordering::Relaxed), 0, "no window yet");
        meter.open(10);
        meter.frame(9, wall_us());
        meter.frame(10, wall_us());
        meter.close(11);
        // After the window closed, a late frame of it still counts, a later one does not.
        meter.frame(11, wall_us());
        meter.frame(12, wall_us());
        assert_eq!(meter.frames.load(Ordering::Relaxed), 2);
        assert_eq!(lock(&meter.latencies_us).len(), 2);
    }
}
