//! A subscriber switching the source of a slot, by REST and by WebSocket.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::{FPS, SWITCH_WITHIN, WAIT, sees_pattern};
use crate::api::spawn::spawn_app;
use crate::helpers::all_backends;
use crate::realtime::{join, live_session, member};
use crate::sfu::support::{
    Peer, Sfu, assert_in_order, frames, wait_for_event, webrtc_ready, ws_request,
};

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
