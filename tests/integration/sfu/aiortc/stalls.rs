//! A publisher whose frames stop while its connection stays up: the SFU marks its source
//! stalled (an event pushed over the WebSocket, a state in `GET .../media`) long before ICE
//! would time out, and resumed when its frames come back.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{FPS, WAIT};
use uuid::Uuid;

use crate::api::spawn::{TestApp, TestUser, spawn_app};
use crate::helpers::all_backends;
use crate::realtime::client::WsClient;
use crate::realtime::{join, live_session, member};
use crate::sfu::support::{Peer, Sfu, assert_in_order, wait_for_event, webrtc_ready};

/// The SFU's default stall threshold (`LIVESURGERY_SFU_STALL_AFTER_MS`).
const STALL_AFTER: Duration = Duration::from_millis(2000);

/// Asserts `GET .../media` lists the session's first source as not stalled.
async fn assert_not_stalled(app: &TestApp, session: Uuid, reader: &TestUser, when: &str) {
    let media = app
        .get(&format!("/v1/sessions/{session}/media"), &reader.token)
        .await;
    let source = &media.body["sources"][0];
    assert_eq!(
        (&source["stalled"], &source["stalled_since"]),
        (&json!(false), &json!(null)),
        "[{}] {when}: {}",
        app.backend,
        media.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_whose_frames_stop_is_stalled_within_the_threshold_and_resumed_after() {
    if !webrtc_ready("a_publisher_whose_frames_stop_is_stalled") {
        return;
    }
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (host, session) = live_session(&app).await;
        let observer = member(&app, session, "observer", "observer").await;
        let host_joined = join(&app, session, &host).await;
        let mut ws =
            WsClient::welcomed(&host_joined.ws_url, &host_joined.ws_token, "host-ws").await;
        let mut publisher = Peer::publish("host", &Sfu::of(&host_joined), "endoscope", FPS).await;
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
        let resource = publisher.resource_id().to_owned();
        assert_not_stalled(&app, session, &observer, "a live source").await;

        publisher.send(json!({"cmd": "pause"})).await;
        publisher
            .until(WAIT, "paused", |l| l["event"] == "paused")
            .await;
        let paused = Instant::now();
        let stalled = ws
            .until(STALL_AFTER + Duration::from_secs(1), "SourceStalled", |m| {
                m["type"] == "event" && m["event_type"] == "SourceStalled"
            })
            .await;
        println!("[{backend}] stalled {:?} after the pause", paused.elapsed());
        assert_eq!(
            (&stalled["data"]["resource_id"], &stalled["data"]["source"]),
            (&json!(resource), &json!("endoscope")),
            "[{backend}] {stalled}"
        );
        let media = app
            .get(&format!("/v1/sessions/{session}/media"), &observer.token)
            .await;
        let source = &media.body["sources"][0];
        assert_eq!(source["stalled"], json!(true), "[{backend}] {}", media.text);
        let since = source["stalled_since"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .unwrap_or_else(|| panic!("[{backend}] stalled_since is a time: {}", media.text));
        let ago = chrono::Utc::now().signed_duration_since(since);
        assert!(
            ago >= chrono::Duration::from_std(STALL_AFTER).unwrap()
                && ago < chrono::Duration::seconds(10),
            "[{backend}] stalled since {since} ({ago} ago)"
        );
        // Still stalled, but once: no second event while it stays paused.
        tokio::time::sleep(STALL_AFTER).await;

        publisher.send(json!({"cmd": "resume"})).await;
        let resumed = ws
            .until(WAIT, "SourceResumed", |m| {
                m["type"] == "event" && m["event_type"] == "SourceResumed"
            })
            .await;
        let stalled_ms = resumed["data"]["stalled_ms"].as_u64().unwrap_or(0);
        assert!(
            stalled_ms >= 2 * STALL_AFTER.as_millis() as u64,
            "[{backend}] stalled for {stalled_ms} ms: {resumed}"
        );
        assert_not_stalled(&app, session, &observer, "resumed").await;
        let events = wait_for_event(
            &app,
            session,
            WAIT,
            "SourceResumed",
            json!({"resource_id": resource}),
        )
        .await;
        let chain = [
            ("TrackPublished", json!({"resource_id": resource})),
            ("SourceStalled", json!({"resource_id": resource})),
            ("SourceResumed", json!({"resource_id": resource})),
        ];
        assert_in_order(&events, &chain);
        let count = |ty: &str| events.iter().filter(|e| e["type"] == ty).count();
        assert_eq!(
            (count("SourceStalled"), count("SourceResumed")),
            (1, 1),
            "[{backend}] one of each"
        );
        subscriber.kill().await;
        publisher.quit().await;
    }
}
