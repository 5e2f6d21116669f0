//! The web app itself (`frontend/`): its TypeScript types are the ones `schemas/` gives, its
//! Vitest suite passes, and, end to end in headless Chromium against this server serving the
//! app's build, a surgeon and an observer share a live workspace (video, layout, network cut)
//! and a reviewer audits it (`frontend/e2e/run.mjs`); the session's log then tells that story.
//!
//! Needs Node.js, `frontend/node_modules` (`npm ci` in `frontend/`) and Debian's Chromium
//! (`bash .ci/install-browser.sh` installs all three); without them each test says SKIPPED and
//! passes, unless `LIVESURGERY_REQUIRE_WEBAPP=1` (as in CI), where it fails.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;

use crate::api::spawn::{ADMIN, PASSWORD, spawn_app_with};
use crate::helpers::{fresh_sqlite, prerequisites_met};
use crate::realtime::session_events;
use crate::sfu::support::{assert_in_order, listing};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Set to `1` where a missing prerequisite must fail the tests rather than skip them.
pub(crate) const REQUIRE_WEBAPP: &str = "LIVESURGERY_REQUIRE_WEBAPP";
/// The E2E script's own limit (it shares two cores with the rest of the suite).
pub(super) const E2E_TIMEOUT_MS: u64 = 150_000;
/// Past this a step hangs (each should have given up by itself before).
pub(crate) const STEP_LIMIT: Duration = Duration::from_secs(240);

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn frontend() -> PathBuf {
    root().join("frontend")
}

/// What is missing on this machine for the web app's tests, if anything.
pub(crate) fn missing_prerequisite(browser: bool) -> Option<String> {
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("no `node` on PATH".into());
    }
    let modules = frontend().join("node_modules/.bin/vite");
    if !modules.is_file() {
        return Some(format!("no {} (npm ci in frontend/)", modules.display()));
    }
    if browser && !Path::new(CHROMIUM).is_file() {
        return Some(format!("no {CHROMIUM}"));
    }
    None
}

/// True when the test should go on; prints a loud SKIPPED line (or fails, in CI) otherwise.
pub(super) fn ready(test: &str, browser: bool) -> bool {
    prerequisites_met(
        &format!("web::{test}"),
        missing_prerequisite(browser),
        REQUIRE_WEBAPP,
        "bash .ci/install-browser.sh",
    )
}

/// Runs `npm <args>` in `frontend/`; its output, after asserting it succeeded.
pub(crate) async fn npm(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = Command::new("npm");
    command
        .args(args)
        .current_dir(frontend())
        .env("NO_COLOR", "1")
        .env("CI", "true")
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let run = command.output();
    let output = tokio::time::timeout(STEP_LIMIT, run)
        .await
        .unwrap_or_else(|_| panic!("npm {args:?} still runs after {STEP_LIMIT:?}"))
        .expect("running npm");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "npm {args:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

#[tokio::test]
async fn the_web_apps_typescript_types_are_the_ones_the_schemas_give() {
    if !ready("types", false) {
        return;
    }
    let out = npm(&["run", "--silent", "check:types"], &[]).await;
    print!("{out}");
    assert!(out.contains("ok: src/api/generated/openapi.ts"), "{out}");
}

#[tokio::test]
async fn the_web_apps_unit_and_component_tests_pass() {
    if !ready("vitest", false) {
        return;
    }
    let out = npm(&["test", "--silent"], &[]).await;
    let summary: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("Test Files") || l.trim_start().starts_with("Tests ")
        })
        .collect();
    println!("vitest: {}", summary.join(" / "));
    assert!(!summary.is_empty(), "no vitest summary:\n{out}");
}

/// `node e2e/<script>` in `frontend/`, told to leave its screenshots in `artifacts`; the
/// caller adds the script's own environment and hands it to [`e2e_result`].
pub(crate) fn e2e_script(script: &str, artifacts: &Path) -> Command {
    let mut command = Command::new("node");
    command
        .arg(format!("e2e/{script}"))
        .current_dir(frontend())
        .env("E2E_ARTIFACTS", artifacts)
        .kill_on_drop(true);
    command
}

/// Runs an E2E script made by [`e2e_script`] within [`STEP_LIMIT`], asserts it succeeded
/// (its output and where its screenshots are, otherwise), and returns the JSON result line it
/// ends with.
pub(crate) async fn e2e_result(script: &str, mut command: Command, artifacts: &Path) -> Value {
    let output = tokio::time::timeout(STEP_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("e2e/{script} still runs after {STEP_LIMIT:?}"))
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    assert!(
        output.status.success(),
        "e2e/{script} failed ({}); screenshots in {}:\n{stderr}{stdout}",
        output.status,
        artifacts.display()
    );
    stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON result line from the script:\n{stdout}"))
}

/// Builds the web app into `folder` (relative to the repository), where a developer's own
/// `frontend/dist` is not touched and E2E tests running at once do not race; the folder.
pub(crate) async fn build_web_app(folder: &str) -> PathBuf {
    let dist = root().join(folder);
    let dist_arg = dist.display().to_string();
    npm(
        &[
            "run",
            "--silent",
            "build",
            "--",
            "--outDir",
            &dist_arg,
            "--emptyOutDir",
        ],
        &[],
    )
    .await;
    dist
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_a_surgeon_and_an_observer_share_a_live_workspace_and_a_reviewer_audits_it() {
    if !ready("e2e", true) {
        return;
    }
    let _chromium = crate::helpers::chromium_slot().await;
    // The app is built where a developer's own `frontend/dist` is not touched.
    let dist = build_web_app("target/web-e2e/dist").await;
    let served = dist.clone();
    let app = spawn_app_with(fresh_sqlite(), move |s| s.web_dir = Some(served)).await;
    let surgeon = app.create_user("surgeon").await;
    let observer = app.create_user("observer").await;
    let reviewer = app.create_user("reviewer").await;
    let display = |u: &str| {
        let (role, n) = u.rsplit_once('-').expect("role-n");
        format!("Dr {role} {n}")
    };
    let users = json!({
        "surgeon": [surgeon.username, PASSWORD, display(&surgeon.username)],
        "observer": [observer.username, PASSWORD, display(&observer.username)],
        "reviewer": [reviewer.username, PASSWORD, display(&reviewer.username)],
        "admin": [ADMIN, PASSWORD, "First Admin"],
    });
    let artifacts = root().join("target/web-e2e");
    let mut run = e2e_script("run.mjs", &artifacts);
    run.env("E2E_BASE", &app.base)
        .env("E2E_USERS", users.to_string())
        .env("E2E_TIMEOUT_MS", E2E_TIMEOUT_MS.to_string());
    let result = e2e_result("run.mjs", run, &artifacts).await;
    println!(
        "e2e: {} ms; drag seen by the observer after {} ms; caught up {} ms after the network \
         came back; observer decoded {} frames of {}x{}; axe: {}",
        result["total_ms"],
        result["drag"]["seen_by_observer_ms"],
        result["network_cut"]["caught_up_ms"],
        result["observer_frames"]["framesDecoded"],
        result["observer_frames"]["frameWidth"],
        result["observer_frames"]["frameHeight"],
        result["axe"]
            .as_array()
            .map(|a| a
                .iter()
                .map(|s| format!(
                    "{} {} ({} serious)",
                    s["screen"], s["violations"], s["serious"]
                ))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
    );
    println!("e2e: contested edit: {}", result["contested"]);
    assert!(
        result["observer_frames"]["framesDecoded"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    assert!(
        result["drag"]["seen_by_observer_ms"]
            .as_u64()
            .unwrap_or(u64::MAX)
            < 1000
    );
    assert_eq!(result["console_errors"].as_array().map(Vec::len), Some(0));
    for screen in [
        "sign-in",
        "sessions",
        "session-detail",
        "workspace-surgeon",
        "workspace-observer",
        "audit",
        "admin",
    ] {
        for size in ["1280x800", "1024x768"] {
            let shot = artifacts.join(format!("{screen}-{size}.png"));
            assert!(shot.is_file(), "no screenshot {}", shot.display());
        }
    }

    // The log tells the same story, in order, with the right people.
    let session: uuid::Uuid = result["session_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no session_id in {result}"));
    let events = session_events(&app, session).await;
    let (s, o) = (surgeon.id.to_string(), observer.id.to_string());
    let actor_is = |e: &Value, id: &str| e["actor_user_id"] == id;
    let links = assert_in_order(
        &events,
        &[
            ("SessionCreated", json!({})),
            ("MemberAdded", json!({"user_id": o, "role": "observer"})),
            ("SessionStarted", json!({})),
            ("ParticipantJoined", json!({"user_id": s})),
            (
                "ParticipantJoined",
                json!({"user_id": o, "role": "observer"}),
            ),
            (
                "PublisherConnected",
                json!({"user_id": s, "source": "endoscope"}),
            ),
            (
                "TrackPublished",
                json!({"source": "endoscope", "kind": "video"}),
            ),
            (
                "FirstFrameDecoded",
                json!({"user_id": o, "source": "endoscope"}),
            ),
            ("LayoutUpdated", json!({})),
            ("LayoutUpdated", json!({})),
            (
                "PublisherDisconnected",
                json!({"user_id": s, "source": "endoscope", "reason": "deleted"}),
            ),
        ],
    );
    // The surgeon's source choice and the track's first frame may come in either order.
    assert_in_order(
        &events,
        &[
            (
                "PublisherConnected",
                json!({"user_id": s, "source": "endoscope"}),
            ),
            (
                "SourceSelected",
                json!({"panel_id": "p1", "source_id": "endoscope"}),
            ),
            (
                "FirstFrameDecoded",
                json!({"user_id": o, "source": "endoscope"}),
            ),
        ],
    );
    let decoded = &events[links[7]];
    assert!(
        decoded["data"]["join_to_first_frame_ms"].is_u64(),
        "time to first frame reported: {decoded}"
    );
    println!(
        "e2e: the observer's browser reported its first frame {} ms after its participants:join",
        decoded["data"]["join_to_first_frame_ms"]
    );
    for &i in &links[links.len() - 3..links.len() - 1] {
        assert!(
            actor_is(&events[i], &s),
            "layout writes come from the surgeon: {}",
            listing(&events[i..=i])
        );
    }
    let contested: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["type"] == "LayoutUpdated"
                && e["data"]["conflicts"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["panel_id"] == "p3" && c["field"] == "x"))
        })
        .collect();
    assert!(
        !contested.is_empty(),
        "the contested edit of p3's x is in the log:\n{}",
        listing(&events)
    );
    assert!(
        events
            .iter()
            .filter(|e| e["type"] == "LayoutUpdated" || e["type"] == "SourceSelected")
            .all(|e| !actor_is(e, &o)),
        "the observer wrote nothing to the layout:\n{}",
        listing(&events)
    );
}
