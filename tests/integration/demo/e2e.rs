//! The "done when" for demo mode, end to end: the real server started with
//! `livesurgery serve --demo` (a process), headless Chromium signed in as the demo observer opens
//! the demo workspace and decodes moving frames in at least three panels within 5 s of opening it
//! (`frontend/e2e/demo.mjs`), and `GET /v1/sessions/{id}/media` lists the three synthetic
//! sources, published by the feeds' participant.
//!
//! Needs what the web app's E2E needs (Node.js, `npm ci` in `frontend/`, Debian's Chromium:
//! `bash .ci/install-browser.sh`); without it the test says SKIPPED, unless
//! `LIVESURGERY_REQUIRE_WEBAPP=1` (as in CI). With `LIVESURGERY_SCREENSHOTS=<dir>` it saves the
//! README's pictures there (`docs/screenshots` for the committed ones).

use serde_json::Value;

use super::seed::DemoPlace;
use crate::helpers::{fresh_sqlite, prerequisites_met};
use crate::web::app::{
    REQUIRE_WEBAPP, build_web_app, e2e_result, e2e_script, missing_prerequisite, root,
};

const SOURCES: [&str; 3] = ["endoscope", "room-camera", "vitals"];
/// Where the test asks for the README's screenshots.
const SCREENSHOTS: &str = "LIVESURGERY_SCREENSHOTS";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_demo_observer_sees_three_moving_panels_within_five_seconds() {
    if !prerequisites_met(
        "demo::e2e",
        missing_prerequisite(true),
        REQUIRE_WEBAPP,
        "bash .ci/install-browser.sh",
    ) {
        return;
    }
    let _chromium = crate::helpers::chromium_slot().await;
    // The app is built where a developer's own `frontend/dist` is not touched.
    let dist = build_web_app("target/demo-e2e/dist").await;
    let dist_arg = dist.display().to_string();
    let place = DemoPlace::new(fresh_sqlite());
    let server = place
        .start(&[("LIVESURGERY_WEB_DIR", dist_arg.clone())])
        .await;
    let session = server.session_id();
    let observer = server.password("demo-observer");

    let artifacts = root().join("target/demo-e2e");
    let mut run = e2e_script("demo.mjs", &artifacts);
    run.env("E2E_BASE", &server.base)
        .env("E2E_USER", "demo-observer")
        .env("E2E_PASSWORD", &observer)
        .env("E2E_SESSION", session.to_string());
    if let Some(dir) = std::env::var_os(SCREENSHOTS) {
        // Relative to the repository, as a person running the test from its root means it.
        run.env("E2E_SCREENSHOTS", root().join(dir));
    }
    let result = e2e_result("demo.mjs", run, &artifacts).await;
    let third = result["third_panel_moving_ms"].as_u64().unwrap_or(u64::MAX);
    println!(
        "demo e2e: three panels moving {third} ms after the workspace opened; panels: {}",
        result["panels"]
    );
    assert!(third <= 5_000, "{result}");
    let moving: Vec<&str> = result["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["width"].as_u64().unwrap_or(0) > 0)
        .filter_map(|p| p["source"].as_str())
        .collect();
    for source in SOURCES {
        assert!(moving.contains(&source), "{source} decodes: {result}");
    }
    assert_eq!(
        result["console_errors"].as_array().map(Vec::len),
        Some(0),
        "{result}"
    );

    // The server lists the three sources, all published by the feeds' participant.
    let token = server.sign_in("demo-observer", &observer).await;
    let media = server
        .get(&format!("/v1/sessions/{session}/media"), &token)
        .await;
    let sources = media.body["sources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut labels: Vec<&str> = sources
        .iter()
        .filter_map(|s| s["source"].as_str())
        .collect();
    labels.sort_unstable();
    assert_eq!(labels, SOURCES, "{}", media.text);
    let publishers: std::collections::HashSet<&Value> =
        sources.iter().map(|s| &s["participant_id"]).collect();
    assert_eq!(
        publishers.len(),
        1,
        "one feeds participant publishes: {}",
        media.text
    );

    let (status, log) = server.stop().await;
    assert!(status.success(), "exit {status}:\n{log}");
}
