//! The limits of a peer's life: a setup timeout for one that never connects, and its token's
//! expiry for one that does.

use std::time::Duration;

use livesurgery_domain::Event;
use livesurgery_domain::events::MediaEndReason;

use super::{CONNECT, Sim};
use crate::sfu::engine::core::{Core, RegistryUpdate};

#[test]
fn a_peer_that_never_connects_is_removed_at_the_setup_timeout_with_its_reason() {
    let mut sim = Sim::new();
    let core = std::mem::replace(&mut sim.core, Core::new(sim.metrics.clone(), sim.now));
    sim.core = core.with_setup_timeout(Duration::from_secs(2));
    let silent = sim.subscribe_limited(None, None, true);
    let gone = sim.resource(silent);
    assert_eq!(sim_gauge(&sim), 1);
    sim.run(Duration::from_millis(1_900));
    assert!(
        sim.registry.is_empty(),
        "removed before its time: {:?}",
        sim.registry
    );
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    sim.run(Duration::from_millis(300));
    assert!(
        matches!(
            sim.registry.as_slice(),
            [RegistryUpdate::PeerGone { resource_id, .. }] if *resource_id == gone
        ),
        "{:?}",
        sim.registry
    );
    assert!(
        sim.events.iter().any(|(_, e)| matches!(
            e,
            Event::SubscriberDisconnected(d)
                if d.resource_id == gone && d.reason == MediaEndReason::SetupTimeout
        )),
        "{:?}",
        sim.events
    );
    assert_eq!(sim_gauge(&sim), 0, "the peers gauge falls back");
}

#[test]
fn a_connected_peer_outlives_the_setup_timeout() {
    let mut sim = Sim::new();
    let core = std::mem::replace(&mut sim.core, Core::new(sim.metrics.clone(), sim.now));
    sim.core = core.with_setup_timeout(Duration::from_secs(2));
    let publisher = sim.publish("endoscope", 1, 0);
    let subscriber = sim.subscribe_limited(Some("endoscope"), None, false);
    sim.run(Duration::from_secs(4));
    assert!(sim.clients[subscriber].received.len() > 30);
    assert!(sim.clients[publisher].connected);
    assert!(
        !sim.registry
            .iter()
            .any(|u| matches!(u, RegistryUpdate::PeerGone { .. })),
        "{:?}",
        sim.registry
    );
}

#[test]
fn media_stops_when_the_token_of_its_connection_expires() {
    let mut sim = Sim::new();
    sim.publish("endoscope", 1, 0);
    let watcher = sim.subscribe_limited(Some("endoscope"), Some(Duration::from_secs(2)), false);
    let due = sim.elapsed() + Duration::from_secs(2);
    let gone = sim.resource(watcher);
    assert!(sim.run_until(CONNECT, |s| s.clients[watcher].received.len() >= 5));
    sim.run(Duration::from_secs(2));
    let frames = sim.clients[watcher].received.len();
    let (cut_at, _) = sim
        .events
        .iter()
        .find(|(_, e)| {
            matches!(
                e,
                Event::SubscriberDisconnected(d)
                    if d.resource_id == gone && d.reason == MediaEndReason::TokenExpired
            )
        })
        .unwrap_or_else(|| panic!("no token_expired disconnect: {:?}", sim.events));
    assert!(
        *cut_at >= due && *cut_at <= due + Duration::from_millis(100),
        "due at {due:?}, cut at {cut_at:?}"
    );
    sim.run(Duration::from_secs(1));
    assert_eq!(
        sim.clients[watcher].received.len(),
        frames,
        "frames after the token expired"
    );
}

/// The `livesurgery_sfu_peers` gauge, both roles.
fn sim_gauge(sim: &Sim) -> i64 {
    ["publisher", "subscriber"]
        .iter()
        .map(|role| sim.metrics.sfu.peers.with_label_values(&[role]).get())
        .sum()
}
