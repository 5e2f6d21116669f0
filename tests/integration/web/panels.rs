//! Panels never hide each other, and each viewer's own view (issue 20), in Chromium
//! (`frontend/e2e/panels.mjs`): a full grid says so and no two panels overlap, a removal is
//! undone, a panel's name reaches the observer, and the observer's spotlight is its own.

use serde_json::json;

use super::app::{build_web_app, e2e_result, e2e_script, ready, root};
use crate::api::spawn::{PASSWORD, spawn_app_with};
use crate::helpers::fresh_sqlite;
use crate::realtime::{live_session, member, rest_layout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_a_full_grid_says_so_panels_never_overlap_and_an_observers_view_is_its_own() {
    if !ready("panels", true) {
        return;
    }
    let _chromium = crate::helpers::chromium_slot().await;
    let dist = build_web_app("target/web-e2e-panels/dist").await;
    let app = spawn_app_with(fresh_sqlite(), move |s| s.web_dir = Some(dist)).await;
    let (host, session) = live_session(&app).await;
    let observer = member(&app, session, "observer", "observer").await;
    let users = json!({
        "surgeon": [host.username, PASSWORD],
        "observer": [observer.username, PASSWORD],
    });
    let artifacts = root().join("target/web-e2e");
    let mut run = e2e_script("panels.mjs", &artifacts);
    run.env("E2E_BASE", &app.base)
        .env("E2E_SESSION", session.to_string())
        .env("E2E_USERS", users.to_string());
    let result = e2e_result("panels.mjs", run, &artifacts).await;
    println!("e2e panels: {}", result["full_grid"]);
    assert_eq!(result["console_errors"].as_array().map(Vec::len), Some(0));
    for shot in ["full-grid", "undo", "observer-spotlight", "shortcuts"] {
        let file = artifacts.join(format!("panels-{shot}.png"));
        assert!(file.is_file(), "no screenshot {}", file.display());
    }

    // The shared layout the server keeps: full, no two panels overlapping, p1 named.
    let (_, panels) = rest_layout(&app, session).await;
    let rects: Vec<(u64, u64, u64, u64)> = panels
        .values()
        .map(|p| {
            let n = |k: &str| p[k].as_u64().unwrap_or_default();
            (n("x"), n("y"), n("w"), n("h"))
        })
        .collect();
    for (i, a) in rects.iter().enumerate() {
        for b in &rects[i + 1..] {
            let apart =
                a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
            assert!(apart, "panels {a:?} and {b:?} overlap: {panels:?}");
        }
    }
    assert_eq!(
        rects.iter().map(|r| r.2 * r.3).sum::<u64>(),
        144,
        "the grid is full: {panels:?}"
    );
    assert_eq!(panels["p1"]["name"], "Main view");
}
