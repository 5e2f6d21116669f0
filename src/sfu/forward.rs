//! The forwarding decision, apart from sockets and str0m: which frames of which source go to a
//! subscriber's slot, when a slot waits for a keyframe, how its media time runs on across a
//! switch of source, and how often a publisher may be asked for a keyframe.
//!
//! A slot shows one source (by its label). A video slot that starts, or switches to another
//! source, sends nothing until a keyframe of the new source arrives: frames that depend on a
//! picture the subscriber never saw would only decode as garbage. Its output time is rebased at
//! each (re)start so it keeps rising by about one frame, whatever clock the new source runs on:
//! a receiver's jitter buffer sees one continuous stream.

use std::time::{Duration, Instant};

/// What a slot carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Video,
}

impl Kind {
    /// The output-time step a rebased stream continues with: one 30 fps video frame at 90 kHz,
    /// one 20 ms Opus packet at 48 kHz.
    fn step(self) -> u64 {
        match self {
            Kind::Video => 3_000,
            Kind::Audio => 960,
        }
    }
}

/// One frame as the forwarding decision sees it.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub source: &'a str,
    pub kind: Kind,
    pub keyframe: bool,
    /// The source's media time (RTP timestamp, unwrapped).
    pub time: u64,
}

/// What to do with a frame for one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not this slot's source or kind.
    Skip,
    /// This slot's source, but it waits for a keyframe: drop it (and have one requested).
    AwaitKeyframe,
    /// Send it with this media time; `first` is the slot's first frame since it was
    /// (re)started on this source.
    Send { time: u64, first: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing selected, or the selected source has not sent yet.
    Waiting,
    /// Forwarding, with `offset` added (wrapping) to the source's time.
    Forwarding { offset: u64 },
}

/// One output slot of a subscriber (one sending m-line).
#[derive(Debug, Clone)]
pub struct Slot {
    kind: Kind,
    source: Option<String>,
    state: State,
    /// The last media time sent on this slot, if any.
    last_out: Option<u64>,
}

impl Slot {
    pub fn new(kind: Kind, source: Option<String>) -> Slot {
        Slot {
            kind,
            source,
            state: State::Waiting,
            last_out: None,
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The source this slot shows, if any.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// Whether the slot has a source but has not sent a frame of it yet.
    pub fn is_waiting(&self) -> bool {
        self.source.is_some() && self.state == State::Waiting
    }

    /// Shows another source (or none). Returns whether that is a change: the caller then asks
    /// the new source for a keyframe.
    pub fn select(&mut self, source: Option<String>) -> bool {
        if self.source == source {
            return false;
        }
        self.source = source;
        self.state = State::Waiting;
        true
    }

    /// Keeps the source but starts over at its next keyframe (its publisher went away and may
    /// come back with another stream).
    pub fn restart(&mut self) {
        self.state = State::Waiting;
    }

    /// The decision for one frame. A `Send` moves the slot on; call it once per frame.
    pub fn offer(&mut self, frame: &Frame<'_>) -> Verdict {
        if frame.kind != self.kind || self.source.as_deref() != Some(frame.source) {
            return Verdict::Skip;
        }
        let (offset, first) = match self.state {
            State::Forwarding { offset } => (offset, false),
            State::Waiting => {
                if self.kind == Kind::Video && !frame.keyframe {
                    return Verdict::AwaitKeyframe;
                }
                // Continue one step after the last frame sent, or start on the source's clock.
                let offset = match self.last_out {
                    Some(last) => last.wrapping_add(self.kind.step()).wrapping_sub(frame.time),
                    None => 0,
                };
                self.state = State::Forwarding { offset };
                (offset, true)
            }
        };
        let time = frame.time.wrapping_add(offset);
        self.last_out = Some(time);
        Verdict::Send { time, first }
    }
}

/// Lets a request through at most once per `interval`.
#[derive(Debug, Clone)]
pub struct Throttle {
    interval: Duration,
    last: Option<Instant>,
}

impl Throttle {
    pub fn new(interval: Duration) -> Throttle {
        Throttle {
            interval,
            last: None,
        }
    }

    /// Whether a request at `now` may go; if so, it counts as sent.
    pub fn allow(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last
            && now.saturating_duration_since(last) < self.interval
        {
            return false;
        }
        self.last = Some(now);
        true
    }
}

/// The slots a new subscription starts with: the sources asked for, in order, or else the
/// session's published sources in publish order; `None` where there are fewer sources than
/// slots.
pub fn initial_slots(count: usize, asked: &[String], published: &[String]) -> Vec<Option<String>> {
    let from = if asked.is_empty() { published } else { asked };
    (0..count).map(|i| from.get(i).cloned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video<'a>(source: &'a str, keyframe: bool, time: u64) -> Frame<'a> {
        Frame {
            source,
            kind: Kind::Video,
            keyframe,
            time,
        }
    }

    #[test]
    fn a_video_slot_starts_at_a_keyframe_on_the_sources_clock() {
        let mut slot = Slot::new(Kind::Video, Some("endoscope".into()));
        assert!(slot.is_waiting());
        assert_eq!(
            slot.offer(&video("endoscope", false, 1_000)),
            Verdict::AwaitKeyframe
        );
        assert_eq!(
            slot.offer(&video("endoscope", true, 4_000)),
            Verdict::Send {
                time: 4_000,
                first: true
            }
        );
        assert!(!slot.is_waiting());
        // Delta frames flow once started.
        assert_eq!(
            slot.offer(&video("endoscope", false, 7_000)),
            Verdict::Send {
                time: 7_000,
                first: false
            }
        );
    }

    #[test]
    fn other_sources_and_kinds_are_skipped() {
        let mut slot = Slot::new(Kind::Video, Some("endoscope".into()));
        assert_eq!(slot.offer(&video("room-cam", true, 1)), Verdict::Skip);
        let audio = Frame {
            source: "endoscope",
            kind: Kind::Audio,
            keyframe: false,
            time: 1,
        };
        assert_eq!(slot.offer(&audio), Verdict::Skip);
        let mut empty = Slot::new(Kind::Video, None);
        assert!(!empty.is_waiting());
        assert_eq!(empty.offer(&video("endoscope", true, 1)), Verdict::Skip);
    }

    #[test]
    fn a_switch_waits_for_the_new_sources_keyframe_and_keeps_time_rising() {
        let mut slot = Slot::new(Kind::Video, Some("endoscope".into()));
        slot.offer(&video("endoscope", true, 90_000));
        slot.offer(&video("endoscope", false, 93_000));
        assert!(slot.select(Some("room-cam".into())));
        assert!(
            !slot.select(Some("room-cam".into())),
            "same source: no change"
        );
        // The old source no longer reaches the slot, the new one only from a keyframe.
        assert_eq!(slot.offer(&video("endoscope", true, 96_000)), Verdict::Skip);
        assert_eq!(
            slot.offer(&video("room-cam", false, 5)),
            Verdict::AwaitKeyframe
        );
        // The new source's clock is far behind; output continues one frame after 93,000.
        assert_eq!(
            slot.offer(&video("room-cam", true, 10)),
            Verdict::Send {
                time: 96_000,
                first: true
            }
        );
        assert_eq!(
            slot.offer(&video("room-cam", false, 3_010)),
            Verdict::Send {
                time: 99_000,
                first: false
            }
        );
    }

    #[test]
    fn rebasing_survives_a_clock_that_wraps() {
        let mut slot = Slot::new(Kind::Video, Some("a".into()));
        slot.offer(&video("a", true, 10));
        slot.select(Some("b".into()));
        let near_max = u64::MAX - 1_000;
        assert_eq!(
            slot.offer(&video("b", true, near_max)),
            Verdict::Send {
                time: 3_010,
                first: true
            }
        );
        // 3,000 ticks later the source's clock wrapped; the output did not.
        assert_eq!(
            slot.offer(&video("b", false, near_max.wrapping_add(3_000))),
            Verdict::Send {
                time: 6_010,
                first: false
            }
        );
    }

    #[test]
    fn audio_needs_no_keyframe() {
        let mut slot = Slot::new(Kind::Audio, Some("endoscope".into()));
        let frame = Frame {
            source: "endoscope",
            kind: Kind::Audio,
            keyframe: false,
            time: 480,
        };
        assert_eq!(
            slot.offer(&frame),
            Verdict::Send {
                time: 480,
                first: true
            }
        );
    }

    #[test]
    fn clearing_a_slot_stops_it() {
        let mut slot = Slot::new(Kind::Video, Some("a".into()));
        slot.offer(&video("a", true, 1));
        assert!(slot.select(None));
        assert_eq!(slot.offer(&video("a", true, 2)), Verdict::Skip);
        assert!(!slot.is_waiting());
    }

    #[test]
    fn the_throttle_lets_one_request_through_per_interval() {
        let start = Instant::now();
        let mut throttle = Throttle::new(Duration::from_millis(500));
        assert!(throttle.allow(start));
        assert!(!throttle.allow(start + Duration::from_millis(499)));
        assert!(throttle.allow(start + Duration::from_millis(500)));
        assert!(!throttle.allow(start + Duration::from_millis(600)));
    }

    #[test]
    fn initial_slots_take_the_asked_sources_or_the_published_ones() {
        let published = vec!["endoscope".to_owned(), "room-cam".to_owned()];
        assert_eq!(
            initial_slots(3, &[], &published),
            vec![Some("endoscope".into()), Some("room-cam".into()), None]
        );
        assert_eq!(
            initial_slots(1, &["vitals".to_owned()], &published),
            vec![Some("vitals".into())]
        );
        assert_eq!(
            initial_slots(0, &[], &published),
            Vec::<Option<String>>::new()
        );
    }
}
