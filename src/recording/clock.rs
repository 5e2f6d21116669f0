//! One media clock for an archive's audio and video. Each track's RTP timestamps run at their
//! own rate from a random offset, so they say nothing about each other; what ties them is
//! when their frames arrived. A track is anchored at its first frame's arrival (time since
//! the archive's first frame) and runs on its own RTP clock from there, so frames keep the
//! sender's spacing rather than the network's jitter.

use std::time::Instant;

use livesurgery_domain::events::MediaKind;

/// A track whose RTP time strays this far from its frames' arrival (a sender's clock jump, a
/// restarted track) is anchored again.
const RESYNC_US: u64 = 1_000_000;

/// Where a track's RTP clock sits on the media clock.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    rtp: u64,
    clock_rate: u32,
    at_us: u64,
    /// The last time handed out (times never run backwards within a track).
    last_us: u64,
}

/// The archive's media clock: microseconds since its first frame's arrival.
#[derive(Debug)]
pub(super) struct MediaClock {
    origin: Instant,
    audio: Option<Anchor>,
    video: Option<Anchor>,
}

impl MediaClock {
    /// A clock whose zero is `origin` (the arrival of the archive's first frame).
    pub(super) fn new(origin: Instant) -> MediaClock {
        MediaClock {
            origin,
            audio: None,
            video: None,
        }
    }

    /// Where `arrival` is on this clock.
    pub(super) fn arrival_us(&self, arrival: Instant) -> u64 {
        arrival.saturating_duration_since(self.origin).as_micros() as u64
    }

    /// The media time of a frame of `kind` with this RTP time, arrived at `arrival`.
    pub(super) fn time_us(
        &mut self,
        kind: MediaKind,
        rtp: u64,
        clock_rate: u32,
        arrival: Instant,
    ) -> u64 {
        let arrived_us = self.arrival_us(arrival);
        let slot = match kind {
            MediaKind::Audio => &mut self.audio,
            MediaKind::Video => &mut self.video,
        };
        let fresh = Anchor {
            rtp,
            clock_rate: clock_rate.max(1),
            at_us: arrived_us,
            last_us: arrived_us,
        };
        let Some(anchor) = slot else {
            *slot = Some(fresh);
            return arrived_us;
        };
        let elapsed =
            (i128::from(rtp) - i128::from(anchor.rtp)) * 1_000_000 / i128::from(anchor.clock_rate);
        let time = i128::from(anchor.at_us) + elapsed;
        let strayed = (time - i128::from(arrived_us)).unsigned_abs() > u128::from(RESYNC_US);
        if strayed || clock_rate != anchor.clock_rate {
            // Never behind the track's last frame, whatever the new anchor says.
            let at_us = arrived_us.max(anchor.last_us + 1);
            *anchor = Anchor {
                at_us,
                last_us: at_us,
                ..fresh
            };
            return at_us;
        }
        let time = u64::try_from(time).unwrap_or(0).max(anchor.last_us + 1);
        anchor.last_us = time;
        time
    }

    /// Forgets the tracks' anchors (their publisher reconnected): the next frames are placed
    /// by their arrival again, after the gap.
    pub(super) fn restart(&mut self) {
        self.audio = None;
        self.video = None;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn audio_and_video_meet_on_one_clock_whatever_their_rtp_offsets_and_rates() {
        let origin = Instant::now();
        let mut clock = MediaClock::new(origin);
        let at = |ms: u64| origin + Duration::from_millis(ms);
        // Video from a random offset at 90 kHz, audio from another at 48 kHz, 10 ms later.
        assert_eq!(clock.time_us(MediaKind::Video, 7_777_777, 90_000, at(0)), 0);
        assert_eq!(
            clock.time_us(MediaKind::Audio, 123_456, 48_000, at(10)),
            10_000
        );
        // One second on, both arrive late by different amounts: their RTP clocks place them.
        assert_eq!(
            clock.time_us(MediaKind::Video, 7_777_777 + 90_000, 90_000, at(1_040)),
            1_000_000
        );
        assert_eq!(
            clock.time_us(MediaKind::Audio, 123_456 + 48_000, 48_000, at(1_015)),
            1_010_000
        );
    }

    #[test]
    fn a_track_whose_rtp_clock_jumps_is_anchored_at_its_arrival_again() {
        let origin = Instant::now();
        let mut clock = MediaClock::new(origin);
        let at = |ms: u64| origin + Duration::from_millis(ms);
        clock.time_us(MediaKind::Video, 1_000, 90_000, at(0));
        assert_eq!(
            clock.time_us(MediaKind::Video, 1_000 + 3_000, 90_000, at(33)),
            33_333
        );
        // The sender's RTP time leaps an hour ahead: the frame goes where it arrived.
        let jumped = 1_000 + 3_600 * 90_000;
        assert_eq!(
            clock.time_us(MediaKind::Video, jumped, 90_000, at(66)),
            66_000
        );
        assert_eq!(
            clock.time_us(MediaKind::Video, jumped + 3_000, 90_000, at(100)),
            99_333
        );
    }

    #[test]
    fn after_a_restart_the_timeline_goes_on_from_the_arrival_leaving_the_gap() {
        let origin = Instant::now();
        let mut clock = MediaClock::new(origin);
        let at = |ms: u64| origin + Duration::from_millis(ms);
        clock.time_us(MediaKind::Video, 50, 90_000, at(0));
        clock.restart();
        assert_eq!(
            clock.time_us(MediaKind::Video, 9, 90_000, at(5_000)),
            5_000_000
        );
    }
}
