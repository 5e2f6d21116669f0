//! Panel names (issue 20): a name an editor gives a panel over `layout.update` reaches every
//! other client and the REST layout; an observer's is refused.

use std::time::Duration;

use serde_json::json;

use super::client::WsClient;
use super::{join, live_session, member, rest_layout};
use crate::api::spawn::spawn_app;
use crate::helpers::all_backends;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_an_editor_gives_a_panel_reaches_others_and_an_observers_is_refused() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        let (_host, session) = live_session(&app).await;
        let surgeon = member(&app, session, "surgeon", "surgeon").await;
        let observer = member(&app, session, "observer", "observer").await;
        let js = join(&app, session, &surgeon).await;
        let jo = join(&app, session, &observer).await;
        let mut editor = WsClient::welcomed(&js.ws_url, &js.ws_token, "surgeon").await;
        let mut watcher = WsClient::welcomed(&jo.ws_url, &jo.ws_token, "observer").await;

        watcher
            .send(
                json!({"type": "layout.update", "ref": "o1", "base_version": 1,
                         "changes": {"panels": {"p1": {"name": "Mine"}}}}),
            )
            .await;
        let error = watcher
            .until(WAIT, "the error of o1", |m| m["type"] == "error")
            .await;
        assert_eq!(
            (&error["ref"], &error["code"]),
            (&json!("o1"), &json!("forbidden")),
            "[{backend}] {error}"
        );

        // A spoofing name is refused like any other free text.
        editor
            .send(
                json!({"type": "layout.update", "ref": "s0", "base_version": 1,
                         "changes": {"panels": {"p1": {"name": "Main\u{202E}weiv"}}}}),
            )
            .await;
        let error = editor
            .until(WAIT, "the error of s0", |m| m["type"] == "error")
            .await;
        assert_eq!(error["code"], "validation_failed", "[{backend}] {error}");

        editor
            .send(
                json!({"type": "layout.update", "ref": "s1", "base_version": 1,
                         "changes": {"panels": {"p1": {"name": "Endoscope – main"}}}}),
            )
            .await;
        let ack = editor
            .until(WAIT, "the ack of s1", |m| m["type"] == "ack")
            .await;
        assert_eq!(ack["layout_version"], 2, "[{backend}] {ack}");
        let event = watcher
            .until(WAIT, "LayoutUpdated", |m| {
                m["event_type"] == "LayoutUpdated"
            })
            .await;
        assert_eq!(
            event["data"]["changes"],
            json!([{"panel_id": "p1", "field": "name", "value": "Endoscope – main"}]),
            "[{backend}] {event}"
        );
        let p1 = event["data"]["panels"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["id"] == "p1"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(p1["name"], "Endoscope – main", "[{backend}] {event}");
        let (version, panels) = rest_layout(&app, session).await;
        assert_eq!(version, 2);
        assert_eq!(panels["p1"]["name"], "Endoscope – main", "[{backend}]");
        assert!(
            panels["p2"].get("name").is_none(),
            "[{backend}] an unnamed panel has no name field: {}",
            panels["p2"]
        );
    }
}
