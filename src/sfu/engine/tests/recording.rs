//! The recording tee: a recorded session's frames reach the recorder's queue after they are
//! forwarded, a full queue drops without touching forwarding, and the recorder's keyframe
//! requests reach the publisher.

use std::time::Duration;

use livesurgery_domain::Event;
use livesurgery_domain::events::MediaKind;
use str0m::media::KeyframeRequestKind;
use tokio::sync::mpsc::error::TryRecvError;

use super::{CONNECT, FRAME_TICKS, Sim, assert_continuous};
use crate::recording::{Codec, SessionTap};
use crate::sfu::Command;

#[test]
fn a_recorded_sessions_frames_reach_the_tap_and_a_full_tap_drops_without_touching_forwarding() {
    let mut sim = Sim::new();
    let publisher = sim.publish("endoscope", 7, 10_000);
    let subscriber = sim.subscribe(Some("endoscope"), Duration::ZERO);
    assert!(sim.run_until(CONNECT, |s| s.clients[subscriber].received.len() >= 3));
    let (tap, mut feeds) = SessionTap::new(4);
    sim.command(Command::Record {
        session_id: sim.session_id,
        tap: Some(tap),
    });
    let forwarded = sim.clients[subscriber].received.len();
    let written = sim.clients[publisher].written;

    // Nobody reads the queue: four frames wait in it, the rest are dropped and counted.
    sim.run(Duration::from_secs(1));
    let mut feed = feeds.try_recv().expect("the endoscope's feed");
    assert_eq!(feed.source(), "endoscope");
    assert!(matches!(feeds.try_recv(), Err(TryRecvError::Empty)));
    let offered = u64::from(sim.clients[publisher].written - written);
    assert!(offered >= 25, "about 30 frames in a second: {offered}");
    let queued: Vec<_> = std::iter::from_fn(|| feed.try_recv()).collect();
    assert_eq!(queued.len(), 4);
    assert_eq!(feed.dropped(), offered - 4);
    assert_eq!(sim.metrics.recording.dropped_frames.get(), offered - 4);
    let publisher_id = sim.resource(publisher);
    for (i, frame) in queued.iter().enumerate() {
        assert_eq!(frame.publisher, publisher_id);
        assert_eq!((frame.kind, frame.codec), (MediaKind::Video, Codec::Vp8));
        assert_eq!(frame.clock_rate, 90_000);
        assert_eq!(frame.data[1], 7, "the publisher's own bytes");
        if i > 0 {
            assert_eq!(frame.rtp_time, queued[i - 1].rtp_time + FRAME_TICKS);
        }
    }
    // Forwarding went on untouched: every frame written reached the subscriber, in order.
    let reached = sim.clients[subscriber].received.len() - forwarded;
    assert!(reached as u64 >= offered - 1, "{reached} of {offered}");
    assert_continuous(&sim.clients[subscriber].received);

    // Read again, the queue takes frames again; turned off, the recorder's feeds end.
    sim.run(Duration::from_millis(100));
    assert!(feed.try_recv().is_some());
    sim.command(Command::Record {
        session_id: sim.session_id,
        tap: None,
    });
    while feed.try_recv().is_some() {}
    sim.run(Duration::from_millis(200));
    assert!(feed.try_recv().is_none());
    assert!(matches!(feeds.try_recv(), Err(TryRecvError::Disconnected)));
    assert!(sim.clients[subscriber].received.len() > forwarded + reached);
}

#[test]
fn the_recorders_keyframe_request_reaches_the_publisher_and_stays_out_of_the_log() {
    let mut sim = Sim::new();
    let publisher = sim.publish("endoscope", 1, 0);
    assert!(sim.run_until(CONNECT, |s| s.clients[publisher].written > 0));
    // Its first keyframe is gone by the time recording starts.
    sim.run(Duration::from_millis(100));
    let (tap, mut feeds) = SessionTap::new(1_000);
    sim.command(Command::Record {
        session_id: sim.session_id,
        tap: Some(tap),
    });
    sim.run(Duration::from_millis(300));
    let mut feed = feeds.try_recv().expect("a feed");
    let seen: Vec<_> = std::iter::from_fn(|| feed.try_recv()).collect();
    assert!(
        seen.len() >= 5 && seen.iter().all(|f| !f.keyframe),
        "{seen:?}"
    );
    let mark = sim.mark();

    feed.request_keyframe();
    sim.run(Duration::from_millis(300));
    assert_eq!(
        sim.clients[publisher].keyframe_requests,
        [KeyframeRequestKind::Pli]
    );
    let after: Vec<_> = std::iter::from_fn(|| feed.try_recv()).collect();
    assert_eq!(after.iter().filter(|f| f.keyframe).count(), 1, "{after:?}");
    assert!(
        !sim.events_since(mark)
            .any(|e| matches!(e, Event::KeyframeRequested(_))),
        "not in the log"
    );
}
