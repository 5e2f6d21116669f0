//! `GET /v1/sessions/{id}/state`: the session replayed from the log at a moment, as the domain
//! folds it and in the shape the OpenAPI document gives (the web app's types come from there).

use std::time::Duration;

use chrono::Utc;
use livesurgery::store::read_whole_stream;
use livesurgery_domain::events::session_stream;
use livesurgery_domain::replay::replay_session;
use reqwest::Method;
use serde_json::{Value, json};

use super::spawn::spawn_app;
use crate::helpers::all_backends;

/// A validator of the document's `Replay` schema (its `$ref`s resolved inside the document).
fn replay_schema() -> jsonschema::Validator {
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.json"))
            .expect("schemas/openapi.json"),
    )
    .expect("JSON");
    let schema = json!({
        "$ref": "#/components/schemas/Replay",
        "components": doc["components"],
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .expect("the Replay schema compiles")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_replays_a_moment_as_the_domain_folds_it_in_the_documented_shape() {
    let validator = replay_schema();
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let host = app.create_user("surgeon").await;
        let observer = app.create_user("observer").await;
        let session = app.create_session(&host.token).await;
        app.add_member(session, observer.id, "observer").await;
        app.start(session).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let before_move = Utc::now();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let moved = app
            .call(
                Method::PATCH,
                &format!("/v1/sessions/{session}/layout"),
                Some(&host.token),
                Some(json!({"base_version": 1, "changes": {"panels": {"p1": {"x": 6, "source_id": "endoscope"}}}})),
            )
            .await;
        moved.assert_status(200);

        let now = app
            .get(&format!("/v1/sessions/{session}/state"), &app.admin_token)
            .await;
        now.assert_status(200);
        let errors: Vec<String> = validator
            .iter_errors(&now.body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "not the documented shape: {errors:?}\n{}",
            now.body
        );
        assert_eq!(now.body["status"], "live");
        assert_eq!(now.body["members"].as_array().map(Vec::len), Some(2));
        let p1 = |body: &Value| {
            body["layout"]["panels"]
                .as_array()
                .and_then(|panels| panels.iter().find(|p| p["id"] == "p1"))
                .cloned()
                .unwrap_or_else(|| panic!("no p1 in {body}"))
        };
        assert_eq!(p1(&now.body)["x"], 6);
        assert_eq!(now.body["sources"]["p1"], "endoscope");

        let at = before_move.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let then = app
            .get(
                &format!("/v1/sessions/{session}/state?at={}", at.replace('+', "%2B")),
                &app.admin_token,
            )
            .await;
        then.assert_status(200);
        assert!(validator.is_valid(&then.body), "{}", then.body);
        assert_eq!(p1(&then.body)["x"], 0, "the layout before the move");
        assert_eq!(then.body["layout"]["version"], 1);

        // Field for field what the domain's fold gives (the CLI's `replay` prints that).
        let store = livesurgery::store::open(&app.db_url)
            .await
            .expect("the store");
        let events = read_whole_stream(&*store, &session_stream(session))
            .await
            .expect("the session's stream");
        let folded = replay_session(&events, None).expect("known events");
        assert_eq!(now.body, serde_json::to_value(&folded).expect("JSON"));
        store.close().await;
    }
}
