//! First start in the browser: the real binary over an empty database serves the built web
//! app and prints the setup link; in headless Chromium the link's page creates the first admin,
//! who is signed in, then signs in again with their own password (`frontend/e2e/setup.mjs`).
//! Same prerequisites as the other web app tests (see `app.rs`).

use super::app::{build_web_app, e2e_result, e2e_script, ready, root};
use crate::api::process::free_port;
use crate::api::setup::Server;
use crate::helpers::fresh_sqlite;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_setup_link_creates_the_first_admin_who_then_signs_in() {
    if !ready("e2e_setup", true) {
        return;
    }
    let _chromium = crate::helpers::chromium_slot().await;
    // A build of its own: the other E2E test may be building its copy at the same time.
    let dist = build_web_app("target/web-e2e-setup/dist").await;
    let db = fresh_sqlite();
    let data_dir = tempfile::tempdir().expect("a data folder");
    let addr = format!("127.0.0.1:{}", free_port());
    let web_dir = dist.display().to_string();
    let server = Server::start(
        &db,
        data_dir.path(),
        &addr,
        &[("LIVESURGERY_WEB_DIR", web_dir.as_str())],
    )
    .await;
    let link = server.setup_link().expect("a setup link on first start");
    let artifacts = root().join("target/web-e2e-setup");
    let mut run = e2e_script("setup.mjs", &artifacts);
    run.env("E2E_SETUP_LINK", &link);
    let result = e2e_result("setup.mjs", run, &artifacts).await;
    let steps = result["steps"].as_array().map_or(0, Vec::len);
    assert_eq!(steps, 4, "{result}");
    println!(
        "e2e setup: {} ms; axe: {}",
        result["total_ms"], result["axe"]
    );
    server.kill().await;
}
