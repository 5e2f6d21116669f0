//! Frames from publishers to subscribers' slots: the first picture, a switch of source, a
//! subscriber's own keyframe request.

use std::time::Duration;

use livesurgery_domain::Event;
use livesurgery_domain::events::{KeyframeCause, KeyframeKind, MediaKind};
use str0m::media::KeyframeRequestKind;

use super::{CONNECT, FRAME_TICKS, Sim, assert_continuous};
use crate::sfu::Command;
use crate::sfu::engine::core::RegistryUpdate;

#[test]
fn a_late_subscriber_gets_the_publishers_frames_from_a_requested_keyframe_on() {
    let mut sim = Sim::new();
    let publisher = sim.publish("endoscope", 1, 10_000);
    assert!(sim.run_until(CONNECT, |s| s.clients[publisher].connected));
    // Frames flow with nobody watching; only the first was a keyframe.
    sim.run(Duration::from_millis(500));
    let published = sim.resource(publisher);
    assert_eq!(sim.types_since(0), ["PublisherConnected", "TrackPublished"]);
    assert!(matches!(
        &sim.events[1].1,
        Event::TrackPublished(t) if t.resource_id == published && t.source == "endoscope"
            && t.kind == MediaKind::Video && t.codec == "vp8"
    ));
    assert!(matches!(
        sim.registry.as_slice(),
        [RegistryUpdate::TrackSeen { resource_id, track, .. }]
            if *resource_id == published && track.codec.as_deref() == Some("vp8")
    ));

    let mark = sim.mark();
    let joined_ago = Duration::from_secs(2);
    let subscriber = sim.subscribe(Some("endoscope"), joined_ago);
    let subscribed_at = sim.elapsed();
    assert!(sim.run_until(CONNECT, |s| s.clients[subscriber].received.len() >= 10));

    assert_eq!(
        sim.types_since(mark),
        [
            "SubscriberConnected",
            "SubscriptionChanged",
            "KeyframeRequested",
            "FirstFrameDelivered"
        ]
    );
    let watched = sim.resource(subscriber);
    let events: Vec<&Event> = sim.events_since(mark).collect();
    assert!(matches!(
        events[0],
        Event::SubscriberConnected(c) if c.resource_id == watched && c.video_slots == 1
    ));
    assert!(matches!(
        events[1],
        Event::SubscriptionChanged(c) if c.slots == [Some("endoscope".to_owned())]
            && c.previous == [None]
    ));
    assert!(matches!(
        events[2],
        Event::KeyframeRequested(k) if k.resource_id == published && k.source == "endoscope"
            && k.kind == KeyframeKind::Pli && k.cause == KeyframeCause::FirstFrame
    ));
    assert_eq!(
        sim.clients[publisher].keyframe_requests,
        [KeyframeRequestKind::Pli]
    );
    let (delivered_at, Event::FirstFrameDelivered(first)) = &sim.events[mark + 3] else {
        unreachable!("the types were checked");
    };
    assert_eq!((first.resource_id, first.slot), (watched, 0));
    assert_eq!(first.source, "endoscope");
    let waited = joined_ago + (*delivered_at - subscribed_at);
    assert_eq!(u128::from(first.join_to_first_frame_ms), waited.as_millis());

    // The requested keyframe first, then every frame, on the publisher's own clock.
    let frames = &sim.clients[subscriber].received;
    assert!(frames[0].keyframe, "starts at a keyframe: {:?}", frames[0]);
    assert!(frames[0].number > 1, "the first keyframe was long gone");
    assert!(frames.iter().all(|f| f.tag == 1));
    assert_eq!(
        frames[0].time,
        10_000 + u64::from(frames[0].number) * FRAME_TICKS
    );
    assert_continuous(frames);
}

#[test]
fn a_switched_slot_waits_for_the_new_sources_keyframe_and_its_stream_runs_on() {
    let mut sim = Sim::new();
    sim.publish("endoscope", 1, 10_000);
    // Another clock far from the first one's; it sends a keyframe only when the test says.
    let room_cam = sim.publish("room-cam", 2, 5_000_000);
    sim.clients[room_cam].answers_requests = false;
    let subscriber = sim.subscribe(Some("endoscope"), Duration::ZERO);
    assert!(sim.run_until(CONNECT, |s| s.clients[subscriber].received.len() >= 5));
    sim.run(Duration::from_millis(200));
    let before = sim.clients[subscriber].received.clone();
    let last = *before.last().expect("frames of the endoscope");

    let mark = sim.mark();
    sim.command(Command::Select {
        resource_id: sim.resource(subscriber),
        slots: vec![Some("room-cam".into())],
    });
    // The room camera sends only delta frames for a while: nothing reaches the slot, not
    // even the endoscope's frames, which it no longer shows.
    sim.run(Duration::from_millis(400));
    assert_eq!(sim.clients[subscriber].received, before);
    let events: Vec<&Event> = sim.events_since(mark).collect();
    assert!(matches!(
        events.first(),
        Some(Event::SubscriptionChanged(c)) if c.slots == [Some("room-cam".to_owned())]
            && c.previous == [Some("endoscope".to_owned())]
    ));
    let room_cam_id = sim.resource(room_cam);
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::KeyframeRequested(k) if k.resource_id == room_cam_id
                && k.cause == KeyframeCause::Switch && k.kind == KeyframeKind::Pli
        )),
        "a keyframe asked of the new source: {events:?}"
    );
    assert!(!sim.clients[room_cam].keyframe_requests.is_empty());

    sim.clients[room_cam].keyframe_due = true;
    assert!(sim.run_until(CONNECT, |s| {
        s.clients[subscriber].received.len() >= before.len() + 5
    }));
    let after = &sim.clients[subscriber].received[before.len()..];
    let next = after[0];
    assert!(
        next.keyframe && next.tag == 2,
        "the room camera's keyframe: {next:?}"
    );
    // One frame step after the endoscope's last frame, though the clocks are far apart; the
    // sequence numbers run on as well.
    assert_eq!(next.time, last.time + FRAME_TICKS);
    assert_eq!(next.first_seq, last.last_seq + 1);
    assert!(next.contiguous);
    assert_continuous(after);
}

#[test]
fn a_subscribers_keyframe_request_reaches_its_slots_publisher_at_most_once_a_second() {
    let mut sim = Sim::new();
    let publisher = sim.publish("endoscope", 1, 0);
    let subscriber = sim.subscribe(Some("endoscope"), Duration::ZERO);
    assert!(sim.run_until(CONNECT, |s| s.clients[subscriber].received.len() >= 5));
    // Past the rate limit of the keyframe this subscription may have started with.
    sim.run(Duration::from_millis(1_100));
    let mark = sim.mark();
    let asked = sim.clients[publisher].keyframe_requests.len();
    let received = sim.clients[subscriber].received.len();

    let request_keyframe = |sim: &mut Sim| {
        let client = &mut sim.clients[subscriber];
        client
            .rtc
            .writer(client.mid)
            .expect("the subscriber's m-line")
            .request_keyframe(None, KeyframeRequestKind::Pli)
            .expect("a keyframe request");
    };
    request_keyframe(&mut sim);
    sim.run(Duration::from_millis(200));
    request_keyframe(&mut sim);
    sim.run(Duration::from_millis(200));

    let publisher_id = sim.resource(publisher);
    let requested: Vec<&Event> = sim
        .events_since(mark)
        .filter(|e| matches!(e, Event::KeyframeRequested(_)))
        .collect();
    assert!(
        matches!(
            requested.as_slice(),
            [Event::KeyframeRequested(k)] if k.resource_id == publisher_id
                && k.cause == KeyframeCause::Subscriber && k.kind == KeyframeKind::Pli
        ),
        "one request passed on: {requested:?}"
    );
    assert_eq!(sim.clients[publisher].keyframe_requests.len(), asked + 1);
    let frames = &sim.clients[subscriber].received[received..];
    assert_eq!(frames.iter().filter(|f| f.keyframe).count(), 1);
    assert_continuous(frames);
}

#[test]
fn subscribers_connecting_one_after_another_each_see_a_picture_within_a_few_frames() {
    let mut sim = Sim::new();
    let publisher = sim.publish("endoscope", 1, 0);
    assert!(sim.run_until(CONNECT, |s| s.clients[publisher].connected));
    // Long past the publisher's first keyframe: every subscriber needs one asked for.
    sim.run(Duration::from_millis(1_500));

    // A storm: a subscriber every 50 ms for half a second.
    let mut subscribers = Vec::new();
    for _ in 0..10 {
        subscribers.push(sim.subscribe(Some("endoscope"), Duration::ZERO));
        sim.run(Duration::from_millis(50));
    }
    let mut connected_at = vec![None; subscribers.len()];
    let mut pictured_at = vec![None; subscribers.len()];
    let until = sim.elapsed() + CONNECT;
    while sim.elapsed() < until && pictured_at.iter().any(Option::is_none) {
        for (i, &client) in subscribers.iter().enumerate() {
            let client = &sim.clients[client];
            if client.connected && connected_at[i].is_none() {
                connected_at[i] = Some(sim.elapsed());
            }
            if !client.received.is_empty() && pictured_at[i].is_none() {
                pictured_at[i] = Some(sim.elapsed());
            }
        }
        sim.tick();
    }
    let waits: Vec<Duration> = connected_at
        .iter()
        .zip(&pictured_at)
        .map(|(connected, pictured)| {
            let (Some(connected), Some(pictured)) = (connected, pictured) else {
                panic!(
                    "every subscriber connected and got a picture: {connected_at:?} {pictured_at:?}"
                );
            };
            pictured.saturating_sub(*connected)
        })
        .collect();
    // One frame period to notice, one for the publisher's keyframe, the rate limit between.
    assert!(
        waits.iter().all(|w| *w <= Duration::from_millis(250)),
        "connected to first picture: {waits:?}"
    );
    for &client in &subscribers {
        assert!(sim.clients[client].received[0].keyframe);
        assert_continuous(&sim.clients[client].received);
    }
    // Not a keyframe per subscriber: requests were pooled by the rate limit.
    let asked = sim.clients[publisher].keyframe_requests.len();
    assert!(asked <= 8, "{asked} keyframe requests for 10 subscribers");
}
