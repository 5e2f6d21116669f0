//! Publishers that leave (DELETE, closed, vanished) and members removed from the session: their
//! media stops at once.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::{FPS, WAIT};
use crate::api::spawn::spawn_app;
use crate::helpers::{TestDb, all_backends};
use crate::realtime::client::WsClient;
use crate::realtime::{join, live_session, member};
use crate::sfu::support::{Peer, Sfu, assert_in_order, is, listing, wait_for_event, webrtc_ready};

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
