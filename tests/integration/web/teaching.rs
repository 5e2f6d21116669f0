//! Teaching on live video (issue 21), in Chromium (`frontend/e2e/teaching.mjs`): the mentor draws
//! an arrow on the endoscope panel, the host's screen shows it at the same frame coordinates
//! within a bound (one sample, printed; the 150 ms p95 goal is the benchmark's), a chat mention stands out, the host clears all, and the
//! reviewer's replay shows the arrow at the moment it was drawn.

use serde_json::json;

use super::app::{build_web_app, e2e_result, e2e_script, ready, root};
use crate::api::spawn::{PASSWORD, spawn_app_with};
use crate::helpers::fresh_sqlite;
use crate::realtime::{live_session, member, session_events};

/// The E2E's bound on one pen-up-to-screen sample, in ms.
const STROKE_BOUND_MS: i64 = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_a_mentors_arrow_reaches_the_surgeon_is_cleared_by_the_host_and_replays() {
    if !ready("teaching", true) {
        return;
    }
    let _chromium = crate::helpers::chromium_slot().await;
    let dist = build_web_app("target/web-e2e-teaching/dist").await;
    let app = spawn_app_with(fresh_sqlite(), move |s| s.web_dir = Some(dist)).await;
    let (host, session) = live_session(&app).await;
    let mentor = member(&app, session, "surgeon", "surgeon").await;
    let reviewer = app.create_user("reviewer").await;
    let users = json!({
        "host": [host.username, PASSWORD],
        "mentor": [mentor.username, PASSWORD],
        "reviewer": [reviewer.username, PASSWORD],
    });
    let artifacts = root().join("target/web-e2e");
    let mut run = e2e_script("teaching.mjs", &artifacts);
    // One sample on a shared CI machine: the E2E holds the arrow to a generous bound and
    // prints the figure; the 150 ms p95 goal is the `teaching` benchmark's (many samples).
    run.env("E2E_BASE", &app.base)
        .env("E2E_SESSION", session.to_string())
        .env("E2E_USERS", users.to_string())
        .env("E2E_STROKE_BOUND_MS", STROKE_BOUND_MS.to_string());
    let result = e2e_result("teaching.mjs", run, &artifacts).await;
    println!("e2e teaching: stroke: {}", result["stroke"]);
    assert_eq!(result["console_errors"].as_array().map(Vec::len), Some(0));
    assert!(
        result["stroke"]["latency_ms"]
            .as_i64()
            .is_some_and(|ms| ms <= STROKE_BOUND_MS),
        "{result}"
    );
    for shot in ["host-sees-arrow", "host-mentioned", "replay-arrow"] {
        let file = artifacts.join(format!("teaching-{shot}.png"));
        assert!(file.is_file(), "no screenshot {}", file.display());
    }

    // The log tells the same story: the mentor's arrow on p1, then the host's clear of all.
    let events = session_events(&app, session).await;
    let stroke = events
        .iter()
        .find(|e| e["type"] == "AnnotationStroke")
        .unwrap_or_else(|| panic!("no AnnotationStroke in {events:?}"));
    assert_eq!(stroke["actor_user_id"], mentor.id.to_string());
    assert_eq!(stroke["data"]["kind"], "arrow");
    assert_eq!(stroke["data"]["panel_id"], "p1");
    assert_eq!(stroke["data"]["source_id"], "endoscope");
    let cleared = events
        .iter()
        .find(|e| e["type"] == "AnnotationCleared")
        .unwrap_or_else(|| panic!("no AnnotationCleared in {events:?}"));
    assert_eq!(cleared["actor_user_id"], host.id.to_string());
    assert_eq!(cleared["data"]["scope"], "all");
    assert!(cleared["position"].as_u64() > stroke["position"].as_u64());
}
