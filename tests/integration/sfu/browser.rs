//! A real browser against the SFU: headless Chromium (`tests/browser/sfu.mjs`) publishes its fake
//! camera over WHIP as a surgeon and, in another browser profile, an observer decodes it over
//! WHEP and reports the first frame over the WebSocket; the session's log then tells that story.
//!
//! Needs Node.js, `tests/browser/node_modules` and Debian's Chromium (`bash
//! .ci/install-browser.sh`); without them the test says SKIPPED and passes, unless
//! `LIVESURGERY_REQUIRE_BROWSER=1` (as in CI), where it fails.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::process::Command;

use super::support::{Sfu, assert_in_order, wait_for_event};
use crate::api::spawn::spawn_app;
use crate::helpers::{fresh_sqlite, prerequisites_met};
use crate::realtime::{join, live_session, member};

/// Debian's Chromium, the browser the script drives.
const CHROMIUM: &str = "/usr/bin/chromium";
/// Set to `1` where a missing browser must fail the test rather than skip it.
const REQUIRE_BROWSER: &str = "LIVESURGERY_REQUIRE_BROWSER";
/// The label the browser publishes its camera as.
const SOURCE: &str = "endoscope";
/// The script's own limit: twice its default, as the whole suite shares two cores with it.
const SCRIPT_TIMEOUT_MS: u64 = 40_000;
/// Past this the script itself hangs (it should have given up at [`SCRIPT_TIMEOUT_MS`]).
const SCRIPT_LIMIT: Duration = Duration::from_secs(90);

/// The repository's root (the script runs from there, so its screenshots land in `target/`).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What is missing on this machine for the browser test, if anything.
fn missing_prerequisite(root: &Path) -> Option<String> {
    if !Path::new(CHROMIUM).is_file() {
        return Some(format!("no {CHROMIUM}"));
    }
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("no `node` on PATH".into());
    }
    let playwright = root.join("tests/browser/node_modules/playwright-core");
    if !playwright.is_dir() {
        return Some(format!("no {}", playwright.display()));
    }
    None
}

/// Milliseconds since the Unix epoch, the clock the browser measures with.
fn epoch_ms() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(now.as_millis()).expect("milliseconds fit in u64")
}

#[tokio::test]
async fn chromium_publishes_over_whip_and_another_chromium_decodes_it_over_whep() {
    let root = root();
    let missing = missing_prerequisite(&root);
    if !prerequisites_met(
        "sfu::browser",
        missing,
        REQUIRE_BROWSER,
        "bash .ci/install-browser.sh",
    ) {
        return;
    }
    let _chromium = crate::helpers::chromium_slot().await;

    let app = spawn_app(fresh_sqlite()).await;
    let (_host, session) = live_session(&app).await;
    let surgeon = member(&app, session, "surgeon", "surgeon").await;
    let observer = member(&app, session, "observer", "observer").await;
    let publisher = join(&app, session, &surgeon).await;
    let joined_at = epoch_ms();
    let subscriber = join(&app, session, &observer).await;
    let (whip, whep) = (Sfu::of(&publisher), Sfu::of(&subscriber));

    let script = root.join("tests/browser/sfu.mjs");
    let run = Command::new("node")
        .arg(&script)
        .current_dir(&root)
        .env("SFU_BASE", &app.base)
        .env("SFU_WHIP_URL", &whip.whip_url)
        .env("SFU_WHIP_TOKEN", &whip.token)
        .env("SFU_WHEP_URL", &whep.whep_url)
        .env("SFU_WHEP_TOKEN", &whep.token)
        .env("SFU_WS_URL", &subscriber.ws_url)
        .env("SFU_WS_TOKEN", &subscriber.ws_token)
        .env("SFU_JOINED_AT", joined_at.to_string())
        .env("SFU_SOURCE", SOURCE)
        .env("SFU_TIMEOUT_MS", SCRIPT_TIMEOUT_MS.to_string())
        .env(
            "SFU_ICE_SERVERS",
            subscriber.body["ice_servers"].to_string(),
        )
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(SCRIPT_LIMIT, run)
        .await
        .unwrap_or_else(|_| panic!("{} still runs after {SCRIPT_LIMIT:?}", script.display()))
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    assert!(
        output.status.success(),
        "{} failed ({}):\n{stderr}{stdout}",
        script.display(),
        output.status
    );
    let result: Value = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON result line from the script:\n{stdout}"));
    println!("browser result: {result}");

    let frames = result["framesDecoded"].as_u64().unwrap_or(0);
    assert!(frames > 0, "no frame decoded: {result}");
    let (width, height) = (&result["width"], &result["height"]);
    assert!(
        width.as_u64().unwrap_or(0) > 0 && height.as_u64().unwrap_or(0) > 0,
        "no frame size: {result}"
    );
    let decoded_ms = result["join_to_first_frame_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("no join_to_first_frame_ms: {result}"));
    println!(
        "join to first frame (browser-measured, from participants:join): {decoded_ms} ms, \
         {width}x{height} {}, {frames} frames decoded; steps (ms after the join): {}",
        result["codec"], result["timeline"]
    );
    assert_eq!(
        result["console_errors"].as_array().map(Vec::len),
        Some(0),
        "the pages logged errors: {}",
        result["console_errors"]
    );
    assert_eq!(result["whep"]["delete"], 200, "DELETE of the WHEP resource");
    assert_eq!(result["whip"]["delete"], 200, "DELETE of the WHIP resource");

    // Each resource id is the last segment of the Location its POST answered.
    let resource_of = |kind: &str| {
        let location = result[kind]["location"].as_str().unwrap_or_default();
        location.rsplit('/').next().unwrap_or_default().to_owned()
    };
    let (whip_resource, whep_resource) = (resource_of("whip"), resource_of("whep"));
    let codec = result["codec"]
        .as_str()
        .and_then(|c| c.strip_prefix("video/"))
        .unwrap_or_default()
        .to_lowercase();
    let (surgeon_in, observer_in) = (publisher.participant_id, subscriber.participant_id);
    let events = wait_for_event(
        &app,
        session,
        Duration::from_secs(10),
        "PublisherDisconnected",
        json!({"resource_id": whip_resource}),
    )
    .await;
    let story = [
        (
            "PublisherConnected",
            json!({"resource_id": whip_resource, "participant_id": surgeon_in,
                   "user_id": surgeon.id, "source": SOURCE}),
        ),
        (
            "TrackPublished",
            json!({"resource_id": whip_resource, "source": SOURCE, "kind": "video",
                   "codec": codec}),
        ),
        (
            "SubscriberConnected",
            json!({"resource_id": whep_resource, "participant_id": observer_in,
                   "user_id": observer.id, "video_slots": 1, "audio_slots": 0}),
        ),
        (
            "FirstFrameDelivered",
            json!({"resource_id": whep_resource, "participant_id": observer_in,
                   "user_id": observer.id, "source": SOURCE, "slot": 0}),
        ),
        (
            "FirstFrameDecoded",
            json!({"participant_id": observer_in, "user_id": observer.id, "source": SOURCE,
                   "join_to_first_frame_ms": decoded_ms}),
        ),
        (
            "SubscriberDisconnected",
            json!({"resource_id": whep_resource, "participant_id": observer_in,
                   "reason": "deleted"}),
        ),
        (
            "PublisherDisconnected",
            json!({"resource_id": whip_resource, "participant_id": surgeon_in,
                   "source": SOURCE, "reason": "deleted"}),
        ),
    ];
    let found = assert_in_order(&events, &story);
    let delivered = &events[found[3]]["data"];

    // Both count from the observer's join (the server from its `ParticipantJoined`, a moment
    // after the test's clock read): the server stops when it forwards the first frame, the
    // browser when it has decoded it, later.
    let delivered_ms = delivered["join_to_first_frame_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("no join_to_first_frame_ms in {delivered}"));
    println!(
        "join to first frame delivered (server-measured): {delivered_ms} ms, slot {}",
        delivered["slot"]
    );
    assert!(
        delivered_ms <= decoded_ms,
        "the server delivered the first frame ({delivered_ms} ms) after the browser decoded it \
         ({decoded_ms} ms)"
    );
    println!("screenshot: {}", result["screenshot"]);
}
