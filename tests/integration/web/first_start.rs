//! First start in the browser: the real binary over an empty database serves the built web
//! app and prints the setup link; in headless Chromium the link's page creates the first admin,
//! who is signed in, then signs in again with their own password (`frontend/e2e/setup.mjs`).
//! Same prerequisites as the other web app tests (see `app.rs`).

use serde_json::Value;
use tokio::process::Command;

use super::app::{STEP_LIMIT, build_web_app, frontend, ready, root};
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
    let run = Command::new("node")
        .arg("e2e/setup.mjs")
        .current_dir(frontend())
        .env("E2E_SETUP_LINK", &link)
        .env("E2E_ARTIFACTS", &artifacts)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(STEP_LIMIT, run)
        .await
        .unwrap_or_else(|_| panic!("e2e/setup.mjs still runs after {STEP_LIMIT:?}"))
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    assert!(
        output.status.success(),
        "e2e/setup.mjs failed ({}); screenshots in {}:\n{stderr}{stdout}",
        output.status,
        artifacts.display()
    );
    let result: Value = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON result line from the script:\n{stdout}"));
    let steps = result["steps"].as_array().map_or(0, Vec::len);
    assert_eq!(steps, 4, "{result}");
    println!(
        "e2e setup: {} ms; axe: {}",
        result["total_ms"], result["axe"]
    );
    server.kill().await;
}
