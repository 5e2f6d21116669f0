//! Two media loops joined by pipes: a publisher on one, its subscribers on the other.

use std::time::Duration;

use livesurgery_domain::Event;
use livesurgery_domain::events::{KeyframeCause, MediaEndReason};
use str0m::media::KeyframeRequestKind;

use super::{CONNECT, Sim, assert_continuous};
use crate::sfu::{Command, Scope};

#[test]
fn a_subscriber_on_another_loop_gets_the_publishers_frames_from_a_keyframe_it_asked_for() {
    let mut sim = Sim::two_loops();
    let publisher = sim.publish("endoscope", 1, 10_000);
    assert!(sim.run_until(CONNECT, |s| s.clients[publisher].connected));
    sim.run(Duration::from_millis(500));

    sim.place_on_other(true);
    let mark = sim.mark();
    let subscriber = sim.subscribe(Some("endoscope"), Duration::from_secs(1));
    assert!(sim.run_until(CONNECT, |s| s.clients[subscriber].received.len() >= 10));

    // The first-frame request crossed to the publisher's loop, which asked for it once.
    assert_eq!(
        sim.clients[publisher].keyframe_requests,
        [KeyframeRequestKind::Pli]
    );
    let requested: Vec<&Event> = sim
        .events_since(mark)
        .filter(|e| matches!(e, Event::KeyframeRequested(_)))
        .collect();
    assert!(
        matches!(
            requested.as_slice(),
            [Event::KeyframeRequested(k)]
                if k.resource_id == sim.resource(publisher) && k.cause == KeyframeCause::FirstFrame
        ),
        "{requested:?}"
    );
    assert!(
        sim.events_since(mark).any(|e| matches!(
            e,
            Event::FirstFrameDelivered(f) if f.resource_id == sim.resource(subscriber)
        )),
        "the subscriber's loop records its first frame"
    );
    let frames = &sim.clients[subscriber].received;
    assert!(frames[0].keyframe, "starts at a keyframe: {:?}", frames[0]);
    assert_eq!(frames[0].tag, 1);
    assert_continuous(frames);
}

#[test]
fn subscribers_on_both_loops_get_every_frame_and_a_returning_source_starts_at_a_keyframe() {
    let mut sim = Sim::two_loops();
    let near = sim.subscribe(Some("endoscope"), Duration::ZERO);
    sim.place_on_other(true);
    let far = sim.subscribe(Some("endoscope"), Duration::ZERO);
    sim.place_on_other(false);
    let publisher = sim.publish("endoscope", 1, 10_000);
    assert!(sim.run_until(CONNECT, |s| {
        s.clients[near].received.len() >= 20 && s.clients[far].received.len() >= 20
    }));
    let (near_frames, far_frames) = (&sim.clients[near].received, &sim.clients[far].received);
    assert_continuous(near_frames);
    assert_continuous(far_frames);
    let numbers = |frames: &[super::Received]| frames.iter().map(|f| f.number).collect::<Vec<_>>();
    let common = near_frames.len().min(far_frames.len());
    assert_eq!(
        numbers(&near_frames[..common]),
        numbers(&far_frames[..common]),
        "both loops forward the same frames"
    );

    // The source leaves on its loop and comes back: the far slot waits for a keyframe again.
    let published = sim.resource(publisher);
    sim.command(Command::Remove(
        Scope::Resource(published),
        MediaEndReason::Deleted,
    ));
    sim.run(Duration::from_millis(300));
    let before = sim.clients[far].received.len();
    let again = sim.publish("endoscope", 2, 500_000);
    sim.clients[again].keyframe_due = false;
    assert!(sim.run_until(CONNECT, |s| s.clients[far].received.len() >= before + 5));
    let after = &sim.clients[far].received[before..];
    assert!(after[0].keyframe, "restarts at a keyframe: {:?}", after[0]);
    assert!(after.iter().all(|f| f.tag == 2));
    assert_eq!(
        sim.clients[again].keyframe_requests.first(),
        Some(&KeyframeRequestKind::Pli),
        "the far loop asked the new publisher for it"
    );
}
