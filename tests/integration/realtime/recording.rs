//! Recording over the WebSocket: the join answer and the `welcome` say whether the session is
//! being recorded, every participant receives `RecordingStarted` / `RecordingStopped` as it
//! happens, and `recording.start` / `recording.stop` are writes like `layout.update`
//! (answered with `ack` or `error`; an observer's refusal is an `AccessDenied` event).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::client::WsClient;
use super::{join, live_session, member};
use crate::api::spawn::spawn_app;
use crate::helpers::all_backends;

const WAIT: Duration = Duration::from_secs(10);

fn flag(active: bool, recording_id: &Value) -> Value {
    json!({"active": active, "recording_id": recording_id})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_join_answer_and_the_welcome_say_whether_the_session_is_being_recorded() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        let (host, session) = live_session(&app).await;
        let observer = member(&app, session, "observer", "observer").await;

        let before = join(&app, session, &observer).await;
        assert_eq!(
            before.body["recording"],
            flag(false, &Value::Null),
            "[{backend}]"
        );
        let mut watcher = WsClient::welcomed(&before.ws_url, &before.ws_token, "watcher").await;
        let welcome = watcher.state.welcome.clone().expect("a welcome");
        assert_eq!(
            welcome["recording"],
            flag(false, &Value::Null),
            "[{backend}]"
        );

        let path = format!("/v1/sessions/{session}/recordings:start");
        let started = app.call(Method::POST, &path, Some(&host.token), None).await;
        started.assert_status(200);
        let recording = json!(started.str("recording_id"));
        // Everyone present learns it at once, from the log.
        let event = watcher
            .until(WAIT, "RecordingStarted", |m| {
                m["event_type"] == "RecordingStarted"
            })
            .await;
        assert_eq!(event["data"]["recording_id"], recording, "[{backend}]");
        assert_eq!(event["actor"]["user_id"], host.id.to_string());

        let during = join(&app, session, &host).await;
        assert_eq!(
            during.body["recording"],
            flag(true, &recording),
            "[{backend}]"
        );
        let late = WsClient::welcomed(&during.ws_url, &during.ws_token, "late").await;
        let welcome = late.state.welcome.clone().expect("a welcome");
        assert_eq!(welcome["recording"], flag(true, &recording), "[{backend}]");
        assert_eq!(welcome["session"]["recording"]["status"], "recording");

        let stop = format!("/v1/sessions/{session}/recordings:stop");
        let stopped = app.call(Method::POST, &stop, Some(&host.token), None).await;
        stopped.assert_status(200);
        watcher
            .until(WAIT, "RecordingStopped", |m| {
                m["event_type"] == "RecordingStopped"
            })
            .await;
        let after = join(&app, session, &observer).await;
        assert_eq!(
            after.body["recording"],
            flag(false, &Value::Null),
            "[{backend}]"
        );
        late.close().await;
        watcher.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_start_and_stop_over_the_websocket_are_acked_and_refused_like_other_writes() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        let (_host, session) = live_session(&app).await;
        let surgeon = member(&app, session, "surgeon", "surgeon").await;
        let observer = member(&app, session, "surgeon", "observer").await;
        let joined = join(&app, session, &surgeon).await;
        let mut writer = WsClient::welcomed(&joined.ws_url, &joined.ws_token, "surgeon").await;
        let joined = join(&app, session, &observer).await;
        let mut watcher = WsClient::welcomed(&joined.ws_url, &joined.ws_token, "observer").await;

        watcher
            .send(json!({"type": "recording.start", "ref": "o1"}))
            .await;
        let error = watcher
            .until(WAIT, "the error of o1", |m| m["type"] == "error")
            .await;
        assert_eq!(
            (&error["ref"], &error["code"]),
            (&json!("o1"), &json!("forbidden")),
            "[{backend}]"
        );
        let denied = app
            .all_pages(
                &format!("/v1/audit?type=AccessDenied&actor={}", observer.id),
                &app.admin_token,
            )
            .await;
        assert_eq!(denied.len(), 1, "[{backend}] {denied:?}");
        assert_eq!(denied[0]["data"]["method"], "WS");
        assert_eq!(
            denied[0]["data"]["route"],
            "/v1/sessions/{id}/ws recording.start"
        );
        assert_eq!(denied[0]["data"]["action"], "start_recording");
        assert_eq!(denied[0]["session_id"], session.to_string());

        writer
            .send(json!({"type": "recording.start", "ref": "s1"}))
            .await;
        let ack = writer
            .until(WAIT, "the ack of s1", |m| m["type"] == "ack")
            .await;
        let recording = ack["recording_id"].clone();
        assert!(recording.is_string(), "[{backend}] {ack}");
        assert!(ack.get("layout_version").is_none(), "{ack}");
        let event = watcher
            .until(WAIT, "RecordingStarted", |m| {
                m["event_type"] == "RecordingStarted"
            })
            .await;
        assert_eq!(event["data"]["recording_id"], recording);
        assert_eq!(
            event["position"], ack["position"],
            "[{backend}] one write, one position"
        );
        assert_eq!(
            event["actor"]["participant_id"],
            writer_participant(&writer)
        );

        writer
            .send(json!({"type": "recording.start", "ref": "s2"}))
            .await;
        let error = writer
            .until(WAIT, "the error of s2", |m| m["type"] == "error")
            .await;
        assert_eq!(error["code"], "invalid_transition", "[{backend}] {error}");
        writer
            .send(json!({"type": "recording.stop", "ref": "s3"}))
            .await;
        let ack = writer
            .until(WAIT, "the ack of s3", |m| m["type"] == "ack")
            .await;
        assert_eq!(
            (&ack["ref"], &ack["recording_id"]),
            (&json!("s3"), &recording),
            "[{backend}]"
        );
        writer
            .send(json!({"type": "recording.stop", "ref": "s4"}))
            .await;
        let error = writer
            .until(WAIT, "the error of s4", |m| m["type"] == "error")
            .await;
        assert_eq!(error["code"], "invalid_transition", "[{backend}] {error}");
        writer.send(json!({"type": "recording.stop"})).await;
        let error = writer
            .until(WAIT, "the error of a stop without ref", |m| {
                m["type"] == "error"
            })
            .await;
        assert_eq!(error["code"], "invalid_message", "[{backend}] {error}");
        assert!(
            writer.state.violations.is_empty(),
            "{:?}",
            writer.state.violations
        );
        writer.close().await;
        watcher.close().await;
    }
}

/// The participant id of a welcomed client.
fn writer_participant(client: &WsClient) -> Value {
    client
        .state
        .welcome
        .as_ref()
        .map(|w| w["participant_id"].clone())
        .unwrap_or_default()
}
