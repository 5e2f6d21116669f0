//! Every screen at every size (issue 20), in Chromium (`frontend/e2e/screens.mjs`): the
//! sessions list, a session, its workspace, its audit and the admin screen at 390x844, 844x390,
//! 1024x768 and 1280x800, each without horizontal overflow and screenshotted.

use serde_json::json;

use super::app::{build_web_app, e2e_result, e2e_script, ready, root};
use crate::api::spawn::{ADMIN, PASSWORD, spawn_app_with};
use crate::helpers::fresh_sqlite;
use crate::realtime::{live_session, member};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_every_screen_fits_every_size_without_horizontal_overflow() {
    if !ready("screens", true) {
        return;
    }
    let _chromium = crate::helpers::chromium_slot().await;
    let dist = build_web_app("target/web-e2e-screens/dist").await;
    let app = spawn_app_with(fresh_sqlite(), move |s| s.web_dir = Some(dist)).await;
    let (host, session) = live_session(&app).await;
    // Someone for the admin table's Deactivate.
    member(&app, session, "observer", "observer").await;
    let users = json!({
        "surgeon": [host.username, PASSWORD],
        "admin": [ADMIN, PASSWORD],
    });
    let artifacts = root().join("target/web-e2e");
    let mut run = e2e_script("screens.mjs", &artifacts);
    run.env("E2E_BASE", &app.base)
        .env("E2E_SESSION", session.to_string())
        .env("E2E_USERS", users.to_string());
    let result = e2e_result("screens.mjs", run, &artifacts).await;
    let screens = result["screens"].as_array().expect("the screens checked");
    assert_eq!(screens.len(), 6 * 4, "{result}");
    for screen in screens {
        assert_eq!(screen["overflow_px"], 0, "{screen}");
        assert_eq!(screen["ok"], true, "{screen}");
    }
    for file in result["screenshots"].as_array().expect("screenshots") {
        let file = std::path::Path::new(file.as_str().expect("a path"));
        assert!(file.is_file(), "no screenshot {}", file.display());
    }
}
