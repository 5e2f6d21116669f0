//! Peers that leave: removed by the server, or gone silent on the network.

use std::time::Duration;

use livesurgery_domain::Event;
use livesurgery_domain::events::MediaEndReason;

use super::{CONNECT, FRAME_TICKS, Sim, assert_continuous};
use crate::sfu::engine::core::{Output, RegistryUpdate};
use crate::sfu::{Command, Scope};

#[test]
fn a_deleted_publisher_is_unpublished_and_its_slot_restarts_at_a_keyframe_when_it_returns() {
    let mut sim = Sim::new();
    let publisher = sim.publish("endoscope", 1, 10_000);
    let subscriber = sim.subscribe(Some("endoscope"), Duration::ZERO);
    assert!(sim.run_until(CONNECT, |s| s.clients[subscriber].received.len() >= 5));
    let gone = sim.resource(publisher);
    let (mark, registered) = (sim.mark(), sim.registry.len());

    sim.command(Command::Remove(
        Scope::Resource(gone),
        MediaEndReason::Deleted,
    ));
    let before = sim.clients[subscriber].received.clone();
    let last = *before.last().expect("frames of the endoscope");
    // Its client goes on sending: none of it reaches the subscriber any more.
    sim.run(Duration::from_millis(300));
    assert_eq!(sim.clients[subscriber].received, before);
    let events: Vec<&Event> = sim.events_since(mark).collect();
    assert!(
        matches!(
            events.as_slice(),
            [Event::TrackUnpublished(t), Event::PublisherDisconnected(d)]
                if t.resource_id == gone && t.source == "endoscope"
                    && t.reason == MediaEndReason::Deleted
                    && d.resource_id == gone && d.reason == MediaEndReason::Deleted
        ),
        "{events:?}"
    );
    assert!(matches!(
        &sim.registry[registered..],
        [RegistryUpdate::PeerGone { resource_id, .. }] if *resource_id == gone
    ));

    // The source comes back from another peer that starts with delta frames: the slot waits
    // for the keyframe it asks for, and its stream runs on from where it stopped.
    let back = sim.publish("endoscope", 3, 7_777_777);
    sim.clients[back].keyframe_due = false;
    assert!(sim.run_until(CONNECT, |s| {
        s.clients[subscriber].received.len() >= before.len() + 5
    }));
    let after = &sim.clients[subscriber].received[before.len()..];
    assert!(after[0].tag == 3 && after[0].keyframe, "{:?}", after[0]);
    assert!(
        after[0].number > 0,
        "the first frames were deltas: {:?}",
        after[0]
    );
    assert_eq!(after[0].time, last.time + FRAME_TICKS);
    assert_eq!(after[0].first_seq, last.last_seq + 1);
    assert_continuous(after);
    assert!(
        !sim.events
            .iter()
            .any(|(_, e)| matches!(e, Event::SubscriberDisconnected(_))),
        "the subscriber stays"
    );
}

#[test]
fn the_end_of_the_session_disconnects_every_peer_of_it_with_that_reason() {
    let mut sim = Sim::new();
    let publisher = sim.publish("endoscope", 1, 0);
    let subscriber = sim.subscribe(Some("endoscope"), Duration::ZERO);
    assert!(sim.run_until(CONNECT, |s| s.clients[subscriber].received.len() >= 2));
    let (mark, registered) = (sim.mark(), sim.registry.len());

    sim.command(Command::Remove(
        Scope::Session(sim.session_id),
        MediaEndReason::SessionEnded,
    ));
    let received = sim.clients[subscriber].received.len();
    sim.run(Duration::from_millis(200));
    assert_eq!(sim.clients[subscriber].received.len(), received);
    let (published, watched) = (sim.resource(publisher), sim.resource(subscriber));
    let mut ended: Vec<_> = sim
        .events_since(mark)
        .map(|e| match e {
            Event::TrackUnpublished(t) => ("TrackUnpublished", t.resource_id, t.reason),
            Event::PublisherDisconnected(d) => ("PublisherDisconnected", d.resource_id, d.reason),
            Event::SubscriberDisconnected(d) => ("SubscriberDisconnected", d.resource_id, d.reason),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    ended.sort_by_key(|(name, resource, _)| (*name, *resource));
    let reason = MediaEndReason::SessionEnded;
    assert_eq!(
        ended,
        [
            ("PublisherDisconnected", published, reason),
            ("SubscriberDisconnected", watched, reason),
            ("TrackUnpublished", published, reason),
        ]
    );
    let mut gone: Vec<_> = sim.registry[registered..]
        .iter()
        .map(|u| match u {
            RegistryUpdate::PeerGone { resource_id, .. } => *resource_id,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    gone.sort();
    let mut both = vec![published, watched];
    both.sort();
    assert_eq!(gone, both);
    // With no peer left the core only wants to be polled again in a second.
    let now = sim.now;
    sim.core.handle_timeout(now);
    assert!(matches!(
        sim.core.poll_output(),
        Output::Timeout(at) if at == now + Duration::from_secs(1)
    ));
}

/// How long a peer that vanishes may go unnoticed: str0m's ICE timeout at its defaults (some
/// 20 s of unanswered checks), plus its keep-alive period.
const ICE_TIMEOUT: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(15)..=Duration::from_secs(30);

/// Silences a client (killed, unplugged) and runs until the core disconnects a peer; returns
/// how long that took, having checked the silence was tolerated until the ICE timeout.
fn silence(sim: &mut Sim, client: usize) -> Duration {
    let (mark, from) = (sim.mark(), sim.elapsed());
    let disconnected = |s: &Sim| {
        s.events_since(mark).any(|e| {
            matches!(
                e,
                Event::PublisherDisconnected(_) | Event::SubscriberDisconnected(_)
            )
        })
    };
    sim.clients[client].vanished = true;
    sim.run(*ICE_TIMEOUT.start());
    assert!(!disconnected(sim), "too soon: {:?}", sim.types_since(mark));
    assert!(sim.run_until(*ICE_TIMEOUT.end() - *ICE_TIMEOUT.start(), disconnected));
    sim.elapsed() - from
}

#[test]
fn a_peer_gone_silent_is_disconnected_at_the_ice_timeout_and_the_others_stay() {
    let mut sim = Sim::new();
    let publisher = sim.publish("endoscope", 1, 0);
    let subscriber = sim.subscribe(Some("endoscope"), Duration::ZERO);
    assert!(sim.run_until(CONNECT, |s| s.clients[subscriber].received.len() >= 2));

    let mark = sim.mark();
    let noticed = silence(&mut sim, publisher);
    let gone = sim.resource(publisher);
    // Quality samples go on while it is silent; then its end, as a network loss.
    let ended: Vec<&Event> = sim
        .events_since(mark)
        .filter(|e| !matches!(e, Event::MediaQualitySampled(_)))
        .collect();
    assert!(
        matches!(
            ended.as_slice(),
            [Event::TrackUnpublished(t), Event::PublisherDisconnected(d)]
                if t.resource_id == gone && t.reason == MediaEndReason::Disconnected
                    && d.resource_id == gone && d.reason == MediaEndReason::Disconnected
        ),
        "after {noticed:?}: {ended:?}"
    );
    assert!(matches!(
        sim.registry.last(),
        Some(RegistryUpdate::PeerGone { resource_id, .. }) if *resource_id == gone
    ));

    // Its subscriber, still answering, stays until it goes silent in turn.
    let mark = sim.mark();
    sim.run(Duration::from_secs(5));
    assert_eq!(sim.types_since(mark), Vec::<&str>::new());
    let noticed = silence(&mut sim, subscriber);
    let watched = sim.resource(subscriber);
    assert!(
        matches!(
            sim.events_since(mark).collect::<Vec<_>>().as_slice(),
            [Event::SubscriberDisconnected(d)]
                if d.resource_id == watched && d.reason == MediaEndReason::Disconnected
        ),
        "after {noticed:?}: {:?}",
        sim.types_since(mark)
    );
}
