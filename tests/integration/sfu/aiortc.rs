//! The SFU against an independent WebRTC implementation: aiortc (`tests/webrtc/peer.py`)
//! publishes a 320x240 VP8 pattern (a per-source tag and a frame counter) over WHIP and
//! subscribes over WHEP to a real server, reading the pattern back from the frames it decodes;
//! then each test reads what it caused back from the session's log, in order. On SQLite and,
//! when configured, PostgreSQL. Skipped loudly where aiortc is not installed, unless
//! `LIVESURGERY_REQUIRE_WEBRTC=1`.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::support::{
    Peer, Sfu, assert_in_order, frames, is, listing, wait_for_event, webrtc_ready, ws_request,
};
use crate::api::spawn::spawn_app;
use crate::helpers::{TestDb, all_backends};
use crate::realtime::client::WsClient;
use crate::realtime::{join, live_session, member, session_events};

/// Frames per second of the test publishers: enough to see motion, little CPU on 2 cores.
const FPS: u32 = 20;
/// How long to wait for frames and events that should come at once.
const WAIT: Duration = Duration::from_secs(10);
/// How long after a switch the other source's picture must show.
const SWITCH_WITHIN: Duration = Duration::from_secs(1);

/// Waits for the first frame of `slot`, and for its counter to advance by a second's worth of
/// frames; asserts the frames are 320x240, show `tag`, and count up. The first frame's line.
async fn sees_pattern(subscriber: &mut Peer, slot: u64, tag: u64) -> Value {
    let label = subscriber.label.clone();
    let (_, first) = subscriber
        .until(WAIT, "the first frame", |l| {
            l["event"] == "first_frame" && l["slot"] == slot
        })
        .await;
    assert_eq!(
        (&first["width"], &first["height"], &first["source_tag"]),
        (&json!(320), &json!(240), &json!(tag)),
        "{label}: the first frame of slot {slot} is not the publisher's pattern: {first}"
    );
    let start = first["counter"].as_u64().expect("a readable counter");
    subscriber
        .until(WAIT, "the counter to advance", |l| {
            l["event"] == "frame"
                && l["slot"] == slot
                && l["counter"].as_u64() >= Some(start + u64::from(FPS))
        })
        .await;
    let seen = frames(&subscriber.log, slot);
    let counters: Vec<u64> = seen.iter().filter_map(|l| l["counter"].as_u64()).collect();
    for line in &seen {
        assert_eq!(
            (&line["width"], &line["height"], &line["source_tag"]),
            (&json!(320), &json!(240), &json!(tag)),
            "{label}: slot {slot} decoded another picture: {line}"
        );
    }
    assert!(
        counters.windows(2).all(|w| w[0] < w[1]),
        "{label}: the counter of slot {slot} does not rise: {counters:?}"
    );
    first
}

/// Waits for `slot` to show `tag`; asserts it did within [`SWITCH_WITHIN`] of `since`, and
/// shows only that, readable and counting up, for the next second of frames. How long it took.
async fn switches_to(
    subscriber: &mut Peer,
    slot: u64,
    tag: u64,
    since: Instant,
    how: &str,
) -> Duration {
    let label = subscriber.label.clone();
    let (at, shown) = subscriber
        .until(WAIT, "a frame of the other source", |l| {
            l["event"] == "frame" && l["slot"] == slot && l["source_tag"] == tag
        })
        .await;
    let took = at - since;
    println!(
        "{label}: switch by {how}: the other source shows {} ms after the request",
        took.as_millis()
    );
    assert_eq!(
        (&shown["width"], &shown["height"]),
        (&json!(320), &json!(240)),
        "{label}: {shown}"
    );
    let mark = subscriber.log.len() - 1;
    let from = shown["n"].as_u64().expect("a frame number");
    subscriber
        .until(WAIT, "a second of frames after the switch", |l| {
            l["event"] == "frame"
                && l["slot"] == slot
                && l["n"].as_u64() >= Some(from + u64::from(FPS))
        })
        .await;
    let after = frames(&subscriber.log[mark..], slot);
    let counters: Vec<u64> = after.iter().filter_map(|l| l["counter"].as_u64()).collect();
    assert!(
        after.iter().all(|l| l["source_tag"] == tag) && counters.windows(2).all(|w| w[0] < w[1]),
        "{label}: after the switch by {how}, slot {slot} does not show only tag {tag}, counting up: {after:?}"
    );
    assert!(
        took < SWITCH_WITHIN,
        "{label}: the switch by {how} took {took:?}"
    );
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_pattern_reaches_two_subscribers_and_the_log_tells_it_in_order() {
    if !webrtc_ready("a_published_pattern_reaches_two_subscribers") {
        return;
    }
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (host, session) = live_session(&app).await;
        let surgeon = member(&app, session, "surgeon", "surgeon").await;
        let observer = member(&app, session, "observer", "observer").await;
        let js = join(&app, session, &surgeon).await;
        let jo = join(&app, session, &observer).await;
        let jh = join(&app, session, &host).await;
        let (sfu_s, sfu_o, sfu_h) = (Sfu::of(&js), Sfu::of(&jo), Sfu::of(&jh));

        let mut publisher = Peer::publish("surgeon/endoscope", &sfu_s, "endoscope", FPS).await;
        let tag = publisher.tag.expect("a tag");
        // Its track counts as published once its media flows (not at once when connected).
        let track = json!({"resource_id": publisher.resource_id(), "kind": "video"});
        wait_for_event(&app, session, WAIT, "TrackPublished", track).await;
        let media = app
            .get(&format!("/v1/sessions/{session}/media"), &observer.token)
            .await;
        media.assert_status(200);
        let sources = media.body["sources"].as_array().expect("sources");
        assert_eq!(sources.len(), 1, "[{backend}] {}", media.text);
        assert_eq!(
            (
                &sources[0]["source"],
                &sources[0]["resource_id"],
                &sources[0]["user_id"]
            ),
            (
                &json!("endoscope"),
                &json!(publisher.resource_id()),
                &json!(surgeon.id)
            ),
            "[{backend}] {}",
            media.text
        );
        assert_eq!(
            (
                &sources[0]["tracks"][0]["kind"],
                &sources[0]["tracks"][0]["codec"]
            ),
            (&json!("video"), &json!("vp8")),
            "[{backend}] {}",
            media.text
        );

        let (mut watcher, mut host_view) = tokio::join!(
            Peer::subscribe("observer", &sfu_o, 1, ""),
            Peer::subscribe("host", &sfu_h, 1, ""),
        );
        for subscriber in [&mut watcher, &mut host_view] {
            let first = sees_pattern(subscriber, 0, tag).await;
            println!(
                "[{backend}] {}: first frame {} ms after its start",
                subscriber.label, first["since_start_ms"]
            );
        }
        // The subscribers' arrival had the publisher asked for a keyframe (aiortc sends one
        // only on request).
        publisher
            .until(WAIT, "a keyframe request", |l| {
                l["event"] == "keyframe_requested"
            })
            .await;

        let subscribers = [
            (watcher.resource_id().to_owned(), &jo, &observer),
            (host_view.resource_id().to_owned(), &jh, &host),
        ];
        for subscriber in [watcher, host_view] {
            let label = subscriber.label.clone();
            let log = subscriber.quit().await;
            let stats = log
                .iter()
                .rev()
                .find(|l| l["event"] == "stats")
                .expect("stats");
            let slot = &stats["slots"][0];
            let (decoded, unreadable) = (
                slot["frames"].as_u64().unwrap_or(0),
                slot["unreadable"].as_u64().unwrap_or(0),
            );
            println!("[{backend}] {label}: {decoded} frames decoded, {unreadable} unreadable");
            assert!(unreadable * 10 <= decoded, "[{backend}] {label}: {stats}");
        }
        let published = publisher.resource_id().to_owned();
        publisher.quit().await;

        let events = wait_for_event(
            &app,
            session,
            WAIT,
            "PublisherDisconnected",
            json!({"resource_id": published}),
        )
        .await;
        let publisher_of = |fields: Value| {
            let mut fields = fields;
            fields["resource_id"] = json!(published);
            fields["session_id"] = json!(session);
            fields
        };
        for (resource, joined, user) in &subscribers {
            let subscriber = |fields: Value| {
                let mut fields = fields;
                fields["resource_id"] = json!(resource);
                fields["participant_id"] = json!(joined.participant_id);
                fields["user_id"] = json!(user.id);
                fields
            };
            let found = assert_in_order(
                &events,
                &[
                    (
                        "PublisherConnected",
                        publisher_of(
                            json!({"participant_id": js.participant_id, "user_id": surgeon.id, "source": "endoscope"}),
                        ),
                    ),
                    (
                        "TrackPublished",
                        publisher_of(
                            json!({"source": "endoscope", "kind": "video", "codec": "vp8"}),
                        ),
                    ),
                    ("SubscriberConnected", subscriber(json!({"video_slots": 1}))),
                    (
                        "FirstFrameDelivered",
                        subscriber(json!({"source": "endoscope", "slot": 0})),
                    ),
                    (
                        "SubscriberDisconnected",
                        subscriber(json!({"reason": "deleted"})),
                    ),
                    (
                        "TrackUnpublished",
                        publisher_of(
                            json!({"source": "endoscope", "kind": "video", "reason": "deleted"}),
                        ),
                    ),
                    (
                        "PublisherDisconnected",
                        publisher_of(json!({"source": "endoscope", "reason": "deleted"})),
                    ),
                ],
            );
            let delivered = &events[found[3]]["data"];
            let ms = delivered["join_to_first_frame_ms"].as_u64();
            assert!(ms.is_some_and(|ms| ms < 10_000), "[{backend}] {delivered}");
            println!(
                "[{backend}] FirstFrameDelivered for {}: {ms:?} ms after the join",
                user.username
            );
        }
        let count = |ty: &str, fields: Value| events.iter().filter(|e| is(e, ty, &fields)).count();
        for ty in [
            "PublisherConnected",
            "TrackPublished",
            "TrackUnpublished",
            "PublisherDisconnected",
        ] {
            assert_eq!(
                count(ty, json!({"resource_id": published})),
                1,
                "[{backend}] one {ty}:\n{}",
                listing(&events)
            );
        }
        for (resource, _, _) in &subscribers {
            for ty in [
                "SubscriberConnected",
                "FirstFrameDelivered",
                "SubscriberDisconnected",
            ] {
                assert_eq!(
                    count(ty, json!({"resource_id": resource})),
                    1,
                    "[{backend}] one {ty}:\n{}",
                    listing(&events)
                );
            }
        }
        assert!(
            count(
                "KeyframeRequested",
                json!({"source": "endoscope", "resource_id": published})
            ) >= 1,
            "[{backend}] no KeyframeRequested of the endoscope:\n{}",
            listing(&events)
        );
        let media = app
            .get(&format!("/v1/sessions/{session}/media"), &observer.token)
            .await;
        assert_eq!(
            media.body["sources"],
            json!([]),
            "[{backend}] still listed after DELETE: {}",
            media.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_refuses_an_observer_with_403_and_the_refusal_is_audited() {
    if !webrtc_ready("whip_refuses_an_observer_with_403") {
        return;
    }
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (_host, session) = live_session(&app).await;
        let observer = member(&app, session, "observer", "observer").await;
        let jo = join(&app, session, &observer).await;

        let answer = Peer::probe_publish("observer", &Sfu::of(&jo), "endoscope").await;
        assert_eq!(answer["status"], 403, "[{backend}] {answer}");
        assert!(
            answer["body"]["error"]["code"].is_string(),
            "[{backend}] not the error envelope: {answer}"
        );
        assert_eq!(answer["location"], Value::Null, "[{backend}] {answer}");

        let denied = app
            .all_pages(
                &format!("/v1/audit?type=AccessDenied&actor={}", observer.id),
                &app.admin_token,
            )
            .await;
        assert_eq!(denied.len(), 1, "[{backend}] {denied:?}");
        let item = &denied[0];
        assert_eq!(
            (
                &item["session_id"],
                &item["outcome"],
                &item["data"]["status"],
                &item["data"]["method"]
            ),
            (
                &json!(session),
                &json!("denied"),
                &json!(403),
                &json!("POST")
            ),
            "[{backend}] {item}"
        );
        let route = item["data"]["route"].as_str().unwrap_or_default();
        assert!(
            route.contains("whip"),
            "[{backend}] the route of the refusal: {item}"
        );

        let media = app
            .get(&format!("/v1/sessions/{session}/media"), &observer.token)
            .await;
        media.assert_status(200);
        assert_eq!(
            media.body["sources"],
            json!([]),
            "[{backend}] {}",
            media.text
        );
        let events = session_events(&app, session).await;
        assert!(
            !events
                .iter()
                .any(|e| e["type"] == "PublisherConnected" || e["type"] == "TrackPublished"),
            "[{backend}] a refused publish reached the log:\n{}",
            listing(&events)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_switches_source_within_a_second_by_rest_and_by_websocket() {
    if !webrtc_ready("a_subscriber_switches_source_within_a_second") {
        return;
    }
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (host, session) = live_session(&app).await;
        let surgeon = member(&app, session, "surgeon", "surgeon").await;
        let observer = member(&app, session, "observer", "observer").await;
        let js = join(&app, session, &surgeon).await;
        let jh = join(&app, session, &host).await;
        let jo = join(&app, session, &observer).await;
        let (sfu_s, sfu_o, sfu_h) = (Sfu::of(&js), Sfu::of(&jo), Sfu::of(&jh));

        // Published in this order, so a subscriber's one default slot shows the endoscope.
        let endoscope = Peer::publish("surgeon/endoscope", &sfu_s, "endoscope", FPS).await;
        let mut room_cam = Peer::publish("host/room-cam", &sfu_h, "room-cam", FPS).await;
        let (tag_e, tag_r) = (endoscope.tag.expect("a tag"), room_cam.tag.expect("a tag"));
        assert_ne!(tag_e, tag_r, "the two sources need distinct tags");

        let (mut watcher, mut named) = tokio::join!(
            Peer::subscribe("observer", &sfu_o, 1, ""),
            Peer::subscribe("host watching room-cam", &sfu_h, 1, "?slots=room-cam"),
        );
        sees_pattern(&mut watcher, 0, tag_e).await;
        sees_pattern(&mut named, 0, tag_r).await;

        // REST: the observer's slot switches to the room camera.
        let switched = Instant::now();
        let answer = app
            .call(
                Method::POST,
                &format!("/v1/sessions/{session}/media:subscribe"),
                Some(&sfu_o.token),
                Some(json!({"slots": ["room-cam"]})),
            )
            .await;
        answer.assert_status(200);
        let resources = answer.body["resources"].as_array().expect("resources");
        assert_eq!(
            resources
                .iter()
                .map(|r| (&r["resource_id"], &r["slots"]))
                .collect::<Vec<_>>(),
            [(&json!(watcher.resource_id()), &json!(["room-cam"]))],
            "[{backend}] {}",
            answer.text
        );
        switches_to(
            &mut watcher,
            0,
            tag_r,
            switched,
            &format!("REST [{backend}]"),
        )
        .await;
        // The room camera was asked for a keyframe because of it.
        loop {
            let (at, _) = room_cam
                .until(WAIT, "a keyframe request after the switch", |l| {
                    l["event"] == "keyframe_requested"
                })
                .await;
            if at > switched {
                break;
            }
        }

        // WebSocket: and back to the endoscope.
        let switched = Instant::now();
        let request = json!({"type": "media.subscribe", "ref": "back", "slots": ["endoscope"]});
        let (reply, _) = ws_request(&jo, request).await;
        assert_eq!(reply["type"], "media.subscribed", "[{backend}] {reply}");
        assert_eq!(
            reply["resources"][0]["slots"],
            json!(["endoscope"]),
            "[{backend}] {reply}"
        );
        switches_to(
            &mut watcher,
            0,
            tag_e,
            switched,
            &format!("WebSocket [{backend}]"),
        )
        .await;
        let watched = watcher.resource_id().to_owned();
        let (published_e, published_r) = (
            endoscope.resource_id().to_owned(),
            room_cam.resource_id().to_owned(),
        );
        watcher.quit().await;
        // The other subscriber, all along, saw the room camera only.
        let named_log = named.quit().await;
        let named_frames = frames(&named_log, 0);
        assert!(
            named_frames.len() > 2 && named_frames.iter().all(|l| l["source_tag"] == tag_r),
            "[{backend}] the host's view changed too: {named_frames:?}"
        );
        endoscope.quit().await;
        room_cam.quit().await;

        let events = wait_for_event(
            &app,
            session,
            WAIT,
            "PublisherDisconnected",
            json!({"resource_id": published_r}),
        )
        .await;
        let observer_fields = |fields: Value| {
            let mut fields = fields;
            fields["resource_id"] = json!(watched);
            fields["participant_id"] = json!(jo.participant_id);
            fields["user_id"] = json!(observer.id);
            fields
        };
        assert_in_order(
            &events,
            &[
                (
                    "TrackPublished",
                    json!({"resource_id": published_e, "source": "endoscope"}),
                ),
                (
                    "TrackPublished",
                    json!({"resource_id": published_r, "source": "room-cam"}),
                ),
                (
                    "SubscriberConnected",
                    observer_fields(json!({"video_slots": 1})),
                ),
                (
                    "FirstFrameDelivered",
                    observer_fields(json!({"source": "endoscope", "slot": 0})),
                ),
                (
                    "SubscriptionChanged",
                    observer_fields(json!({"slots": ["room-cam"], "previous": ["endoscope"]})),
                ),
                (
                    "KeyframeRequested",
                    json!({"source": "room-cam", "resource_id": published_r, "cause": "switch"}),
                ),
                (
                    "SubscriptionChanged",
                    observer_fields(json!({"slots": ["endoscope"], "previous": ["room-cam"]})),
                ),
                (
                    "KeyframeRequested",
                    json!({"source": "endoscope", "resource_id": published_e, "cause": "switch"}),
                ),
                (
                    "SubscriberDisconnected",
                    observer_fields(json!({"reason": "deleted"})),
                ),
            ],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_deletes_closes_or_vanishes_is_unpublished_and_disconnected() {
    if !webrtc_ready("a_publisher_that_deletes_closes_or_vanishes") {
        return;
    }
    // A publisher that vanishes is noticed at the ICE timeout (some 20 s): the backends wait at
    // the same time.
    futures::future::join_all(all_backends().await.into_iter().map(publishers_leave)).await;
}

/// Three publishers leave, by DELETE, by closing the peer connection, and by vanishing (killed);
/// a subscriber of all three stays.
async fn publishers_leave(db: TestDb) {
    let app = spawn_app(db).await;
    let backend = app.backend;
    println!("[{backend}]");
    let (host, session) = live_session(&app).await;
    let surgeon = member(&app, session, "surgeon", "surgeon").await;
    let assistant = member(&app, session, "surgeon", "surgeon").await;
    let observer = member(&app, session, "observer", "observer").await;
    let js = join(&app, session, &surgeon).await;
    let jh = join(&app, session, &host).await;
    let ja = join(&app, session, &assistant).await;
    let jo = join(&app, session, &observer).await;

    // Three publishers, each to leave its own way; one subscriber watching all three.
    let fps = FPS / 2;
    let (sfu_s, sfu_o, sfu_h) = (Sfu::of(&js), Sfu::of(&jo), Sfu::of(&jh));
    let deleting = Peer::publish("surgeon/endoscope", &sfu_s, "endoscope", fps).await;
    let closing = Peer::publish("host/room-cam", &sfu_h, "room-cam", fps).await;
    let vanishing = Peer::publish("assistant/vitals", &Sfu::of(&ja), "vitals", fps).await;
    let mut watcher = Peer::subscribe("observer", &sfu_o, 3, "").await;
    // The slots fill in publish order.
    let mut first = [Value::Null, Value::Null, Value::Null];
    watcher
        .until(WAIT, "a first frame in each slot", |l| {
            if l["event"] == "first_frame" {
                let slot = l["slot"].as_u64().and_then(|s| usize::try_from(s).ok());
                if let Some(seen) = slot.and_then(|s| first.get_mut(s)) {
                    *seen = l["source_tag"].clone();
                }
            }
            first.iter().all(|tag| !tag.is_null())
        })
        .await;
    let tags = [&deleting, &closing, &vanishing].map(|p| json!(p.tag.expect("a tag")));
    assert_eq!(first, tags, "[{backend}] the sources of slots 0, 1, 2");

    let leaving = [
        (
            deleting.resource_id().to_owned(),
            "endoscope",
            "deleted",
            &js,
            &surgeon,
        ),
        (
            closing.resource_id().to_owned(),
            "room-cam",
            "disconnected",
            &jh,
            &host,
        ),
        (
            vanishing.resource_id().to_owned(),
            "vitals",
            "disconnected",
            &ja,
            &assistant,
        ),
    ];
    let left = Instant::now();
    tokio::join!(
        async { deleting.quit().await },
        async { closing.drop_connection().await },
        vanishing.kill(),
    );
    let mut events = Vec::new();
    for (resource, source, reason, _, _) in &leaving {
        events = wait_for_event(
            &app,
            session,
            Duration::from_secs(30),
            "PublisherDisconnected",
            json!({"resource_id": resource, "source": source}),
        )
        .await;
        println!(
            "[{backend}] {source} ({reason}): PublisherDisconnected within {} ms",
            left.elapsed().as_millis()
        );
    }
    for (resource, source, reason, joined, user) in &leaving {
        let publisher = |fields: Value| {
            let mut fields = fields;
            fields["resource_id"] = json!(resource);
            fields["source"] = json!(source);
            fields
        };
        assert_in_order(
            &events,
            &[
                (
                    "PublisherConnected",
                    publisher(json!({"participant_id": joined.participant_id, "user_id": user.id})),
                ),
                (
                    "TrackPublished",
                    publisher(json!({"kind": "video", "codec": "vp8"})),
                ),
                (
                    "TrackUnpublished",
                    publisher(json!({"kind": "video", "reason": reason})),
                ),
                (
                    "PublisherDisconnected",
                    publisher(json!({"participant_id": joined.participant_id, "reason": reason})),
                ),
            ],
        );
    }
    let media = app
        .get(&format!("/v1/sessions/{session}/media"), &observer.token)
        .await;
    assert_eq!(
        media.body["sources"],
        json!([]),
        "[{backend}] still listed: {}",
        media.text
    );

    // The subscriber outlived them all, and leaves on its own DELETE.
    let watched = watcher.resource_id().to_owned();
    assert!(
        !events.iter().any(|e| is(
            e,
            "SubscriberDisconnected",
            &json!({"resource_id": watched})
        )),
        "[{backend}] the subscriber was disconnected with its publishers:\n{}",
        listing(&events)
    );
    watcher.quit().await;
    wait_for_event(
        &app,
        session,
        WAIT,
        "SubscriberDisconnected",
        json!({"resource_id": watched, "reason": "deleted"}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_removed_from_the_session_loses_its_media_at_once() {
    if !webrtc_ready("a_member_removed_from_the_session_loses_its_media_at_once") {
        return;
    }
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (host, session) = live_session(&app).await;
        let observer = member(&app, session, "observer", "observer").await;
        // The host watches the session over the realtime WebSocket: media events are pushed.
        let host_joined = join(&app, session, &host).await;
        let mut watcher =
            WsClient::welcomed(&host_joined.ws_url, &host_joined.ws_token, "host-ws").await;
        let publisher = Peer::publish("host", &Sfu::of(&host_joined), "endoscope", FPS).await;
        for pushed in ["PublisherConnected", "TrackPublished"] {
            let event = watcher
                .until(WAIT, pushed, |m| {
                    m["type"] == "event" && m["event_type"] == pushed
                })
                .await;
            assert_eq!(event["data"]["source"], "endoscope", "[{backend}] {event}");
        }
        let mut subscriber = Peer::subscribe(
            "observer",
            &Sfu::of(&join(&app, session, &observer).await),
            1,
            "",
        )
        .await;
        subscriber
            .until(WAIT, "the first frame", |l| l["event"] == "first_frame")
            .await;

        let removed_at = Instant::now();
        app.call(
            Method::DELETE,
            &format!("/v1/sessions/{session}/members/{}", observer.id),
            Some(&host.token),
            None,
        )
        .await
        .assert_status(204);
        let events = wait_for_event(
            &app,
            session,
            Duration::from_secs(5),
            "SubscriberDisconnected",
            json!({"user_id": observer.id, "reason": "removed"}),
        )
        .await;
        println!(
            "[{backend}] removed member's subscription ended within {:?}",
            removed_at.elapsed()
        );
        assert_in_order(
            &events,
            &[
                ("MemberRemoved", json!({"user_id": observer.id})),
                (
                    "SubscriberDisconnected",
                    json!({"user_id": observer.id, "reason": "removed"}),
                ),
            ],
        );
        // The publisher is untouched.
        assert!(
            !events
                .iter()
                .any(|e| e["type"] == "PublisherDisconnected" || e["type"] == "TrackUnpublished"),
            "[{backend}] the publisher was cut too:\n{}",
            listing(&events)
        );
        subscriber.kill().await;
        publisher.quit().await;
    }
}
