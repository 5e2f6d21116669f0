//! A publisher whose video stops while its connection stays up: marked stalled once, resumed
//! by its next frame.

use std::time::Duration;

use livesurgery_domain::Event;

use super::{CONNECT, Sim};
use crate::sfu::engine::core::RegistryUpdate;

/// The threshold the core is given in these tests.
const STALL_AFTER: Duration = Duration::from_millis(500);

fn stalls(sim: &Sim) -> Vec<(Duration, &Event)> {
    sim.events
        .iter()
        .filter(|(_, e)| matches!(e, Event::SourceStalled(_) | Event::SourceResumed(_)))
        .map(|(at, e)| (*at, e))
        .collect()
}

#[test]
fn a_publisher_whose_video_stops_is_stalled_after_the_threshold_and_resumed_by_its_next_frame() {
    let mut sim = Sim::with_stall_after(STALL_AFTER);
    let publisher = sim.publish("endoscope", 1, 0);
    let subscriber = sim.subscribe(Some("endoscope"), Duration::ZERO);
    assert!(sim.run_until(CONNECT, |s| s.clients[subscriber].received.len() >= 5));
    // Frames flowing: no stall however long it runs.
    sim.run(STALL_AFTER * 3);
    assert!(stalls(&sim).is_empty(), "{:?}", stalls(&sim));
    let resource = sim.resource(publisher);

    sim.clients[publisher].sending = false;
    let paused = sim.elapsed();
    sim.run(STALL_AFTER * 4);
    let seen = stalls(&sim);
    let [(at, Event::SourceStalled(stalled))] = seen.as_slice() else {
        panic!("one SourceStalled: {seen:?}");
    };
    assert_eq!(
        (stalled.resource_id, stalled.source.as_str()),
        (resource, "endoscope")
    );
    assert!(
        *at >= paused + STALL_AFTER - super::TICK && *at <= paused + STALL_AFTER + super::TICK * 2,
        "stalled at {at:?}, paused at {paused:?}"
    );
    assert!(matches!(
        sim.registry.last(),
        Some(RegistryUpdate::Stall { resource_id, since: Some(_), .. }) if *resource_id == resource
    ));

    sim.clients[publisher].sending = true;
    let resumed_at = sim.elapsed();
    sim.run(STALL_AFTER);
    let seen = stalls(&sim);
    let [_, (_, Event::SourceResumed(resumed))] = seen.as_slice() else {
        panic!("one SourceResumed after it: {seen:?}");
    };
    assert_eq!(resumed.resource_id, resource);
    let stalled_ms = u128::from(resumed.stalled_ms);
    assert!(
        stalled_ms >= (resumed_at - paused).as_millis()
            && stalled_ms <= (resumed_at - paused + super::TICK * 3).as_millis(),
        "stalled for {stalled_ms} ms, paused for {:?}",
        resumed_at - paused
    );
    assert!(sim.registry.iter().any(|u| matches!(
        u,
        RegistryUpdate::Stall { resource_id, since: None, .. } if *resource_id == resource
    )));
}

#[test]
fn a_publisher_that_never_sent_a_frame_is_not_stalled() {
    let mut sim = Sim::with_stall_after(STALL_AFTER);
    let publisher = sim.publish("endoscope", 1, 0);
    sim.clients[publisher].sending = false;
    assert!(sim.run_until(CONNECT, |s| s.clients[publisher].connected));
    sim.run(STALL_AFTER * 4);
    assert!(stalls(&sim).is_empty(), "{:?}", stalls(&sim));
}
