//! Leaving must not silently cut the operating room's feed (`frontend/e2e/leaving.mjs`): in
//! headless Chromium against this server serving the app's build, the host surgeon publishes
//! the fake camera, leaving through a link asks first, a reload warns and then offers to resume,
//! Resume brings the observer's frames (and the microphone's sound) back, and Stop asks to
//! confirm.

use serde_json::json;

use super::app::{E2E_TIMEOUT_MS, build_web_app, e2e_result, e2e_script, ready, root};
use crate::api::spawn::{PASSWORD, spawn_app_with};
use crate::helpers::fresh_sqlite;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_a_reload_while_publishing_warns_then_offers_to_resume_and_stop_asks_first() {
    if !ready("e2e_leaving", true) {
        return;
    }
    let _chromium = crate::helpers::chromium_slot().await;
    let dist = build_web_app("target/web-e2e-leaving/dist").await;
    let app = spawn_app_with(fresh_sqlite(), move |s| s.web_dir = Some(dist)).await;
    let surgeon = app.create_user("surgeon").await;
    let observer = app.create_user("observer").await;
    let session = app.create_session(&surgeon.token).await;
    app.add_member(session, observer.id, "observer").await;
    app.start(session).await;

    let users = json!({
        "surgeon": [surgeon.username, PASSWORD],
        "observer": [observer.username, PASSWORD],
    });
    let artifacts = root().join("target/web-e2e-leaving");
    let mut run = e2e_script("leaving.mjs", &artifacts);
    run.env("E2E_BASE", &app.base)
        .env("E2E_SESSION", session.to_string())
        .env("E2E_USERS", users.to_string())
        .env("E2E_TIMEOUT_MS", E2E_TIMEOUT_MS.to_string());
    let result = e2e_result("leaving.mjs", run, &artifacts).await;
    println!(
        "e2e leaving: {} ms; observer frames {}; dialogs {}; console errors {}",
        result["total_ms"], result["observer_frames"], result["dialogs"], result["console_errors"]
    );

    assert!(
        result["dialogs"]
            .as_array()
            .is_some_and(|d| d.iter().any(|t| t == "beforeunload")),
        "the reload warned: {result}"
    );
    let frames = &result["observer_frames"];
    let (cut, again) = (
        frames["while_cut"].as_u64().unwrap_or(u64::MAX),
        frames["after_resume"].as_u64().unwrap_or(0),
    );
    assert!(
        again > cut,
        "the observer's frames advance after Resume: {frames}"
    );
    assert_eq!(
        result["observer_sound"]["track_receiving"], true,
        "the surgeon's microphone reaches the observer: {result}"
    );
    assert_eq!(
        result["console_errors"].as_array().map(Vec::len),
        Some(0),
        "no console errors, the reload included: {result}"
    );
    for shot in [
        "leaving-preview",
        "leaving-leave-dialog",
        "leaving-resume-offer",
        "leaving-stop-dialog",
    ] {
        let file = artifacts.join(format!("{shot}.png"));
        assert!(file.is_file(), "no screenshot {}", file.display());
    }
}
