//! End to end in headless Chromium (`frontend/e2e/feeds.mjs`): a publisher whose frames stop
//! while its connection stays up. The observer's panel says `no signal for N s` within seconds
//! and clears when the frames return; the SFU records the stall and the resumption; a stopped
//! publisher's panel says the source stopped publishing.

use serde_json::json;

use super::app::{STEP_LIMIT, build_web_app, e2e_result, e2e_script, ready, root};
use crate::api::spawn::{PASSWORD, spawn_app_with};
use crate::helpers::fresh_sqlite;
use crate::realtime::{live_session, member};
use crate::sfu::support::{assert_in_order, wait_for_event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_an_observer_sees_no_signal_when_the_surgeons_frames_stop() {
    if !ready("e2e feeds", true) {
        return;
    }
    let _chromium = crate::helpers::chromium_slot().await;
    let dist = build_web_app("target/web-e2e/feeds-dist").await;
    let served = dist.clone();
    let app = spawn_app_with(fresh_sqlite(), move |s| s.web_dir = Some(served)).await;
    let (surgeon, session) = live_session(&app).await;
    let observer = member(&app, session, "observer", "observer").await;
    let users = json!({
        "surgeon": [surgeon.username, PASSWORD],
        "observer": [observer.username, PASSWORD],
    });
    let artifacts = root().join("target/web-e2e");
    let mut run = e2e_script("feeds.mjs", &artifacts);
    run.env("E2E_BASE", &app.base)
        .env("E2E_SESSION", session.to_string())
        .env("E2E_USERS", users.to_string())
        .env("E2E_TIMEOUT_MS", "120000");
    let result = e2e_result("feeds.mjs", run, &artifacts).await;
    println!("e2e feeds: no signal: {}", result["no_signal"]);
    assert!(
        result["no_signal"]["shown_after_ms"]
            .as_u64()
            .is_some_and(|ms| ms < 6000),
        "{result}"
    );
    for shot in [
        "feeds-observer-live",
        "feeds-observer-no-signal",
        "feeds-observer-stopped",
    ] {
        let file = artifacts.join(format!("{shot}.png"));
        assert!(file.is_file(), "no screenshot {}", file.display());
    }

    // The SFU saw the same: the source stalled, then resumed, then its publisher left.
    let events = wait_for_event(
        &app,
        session,
        STEP_LIMIT,
        "PublisherDisconnected",
        json!({"source": "endoscope"}),
    )
    .await;
    assert_in_order(
        &events,
        &[
            (
                "TrackPublished",
                json!({"source": "endoscope", "kind": "video"}),
            ),
            ("SourceStalled", json!({"source": "endoscope"})),
            ("SourceResumed", json!({"source": "endoscope"})),
            (
                "PublisherDisconnected",
                json!({"source": "endoscope", "reason": "deleted"}),
            ),
        ],
    );
}
