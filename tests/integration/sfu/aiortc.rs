//! The SFU against an independent WebRTC implementation: aiortc (`tests/webrtc/peer.py`)
//! publishes a 320x240 VP8 pattern (a per-source tag and a frame counter) over WHIP and
//! subscribes over WHEP to a real server, reading the pattern back from the frames it decodes;
//! then each test reads what it caused back from the session's log, in order. On SQLite and,
//! when configured, PostgreSQL. Skipped loudly where aiortc is not installed, unless
//! `LIVESURGERY_REQUIRE_WEBRTC=1`.

mod leaving;
mod stalls;
mod switching;

use std::time::Duration;

use serde_json::{Value, json};

use super::support::{
    Peer, Sfu, assert_in_order, frames, is, listing, wait_for_event, webrtc_ready,
};
use crate::api::spawn::spawn_app;
use crate::helpers::all_backends;
use crate::realtime::{join, live_session, member, session_events};

/// Frames per second of the test publishers: enough to see motion, little CPU on 2 cores.
pub(super) const FPS: u32 = 20;
/// How long to wait for frames and events that should come at once.
const WAIT: Duration = Duration::from_secs(10);
/// How long after a switch the other source's picture must show.
const SWITCH_WITHIN: Duration = Duration::from_secs(1);

/// Waits for the first frame of `slot`, and for its counter to advance by a second's worth of
/// frames; asserts the frames are 320x240, show `tag`, and count up. The first frame's line.
pub(super) async fn sees_pattern(subscriber: &mut Peer, slot: u64, tag: u64) -> Value {
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
