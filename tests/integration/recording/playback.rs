//! Chromium plays what the finaliser makes: VP8 + Opus as WebM, H.264 + Opus as MP4, from a
//! `<video>` element over HTTP with Range requests (`tests/browser/play.mjs`).
//!
//! Needs Node.js, `tests/browser/node_modules` and Debian's Chromium (`bash
//! .ci/install-browser.sh`) besides ffmpeg; without them the test says SKIPPED and passes,
//! unless `LIVESURGERY_REQUIRE_BROWSER=1` (as in CI), where it fails.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use livesurgery::recording::{Codec, finalise};
use serde_json::Value;
use tokio::process::Command;

use super::{Publisher, clip, media_tools, paths, record};
use crate::helpers::prerequisites_met;

const CHROMIUM: &str = "/usr/bin/chromium";
const REQUIRE_BROWSER: &str = "LIVESURGERY_REQUIRE_BROWSER";
/// How long each file plays before it is looked at.
const PLAY_MS: u64 = 2_500;
const SCRIPT_LIMIT: Duration = Duration::from_secs(90);
/// The length of each recorded clip.
const SECONDS: u64 = 8;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn missing_browser(root: &Path) -> Option<String> {
    if !Path::new(CHROMIUM).is_file() {
        return Some(format!("no {CHROMIUM}"));
    }
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("no `node` on PATH".into());
    }
    let playwright = root.join("tests/browser/node_modules/playwright-core");
    (!playwright.is_dir()).then(|| format!("no {}", playwright.display()))
}

/// Records a clip of this codec and finalises it: the playable file's path.
async fn recorded(dir: &Path, codec: Codec) -> PathBuf {
    let clip = clip(dir, codec, SECONDS);
    let frames = Publisher::new(9).frames(&clip, 0, SECONDS * 1_000, Instant::now());
    let queue = frames.len();
    let segments = record(frames, &dir.join(codec.as_str()), queue)
        .await
        .segments();
    finalise(
        &paths(&segments),
        &dir.join(codec.as_str()).join("out"),
        |_| {},
    )
    .await
    .expect("a playable file")
    .path
}

#[tokio::test]
async fn chromium_plays_the_finalised_webm_of_vp8_and_mp4_of_h264() {
    let root = root();
    if !media_tools("recording::playback")
        || !prerequisites_met(
            "recording::playback",
            missing_browser(&root),
            REQUIRE_BROWSER,
            "bash .ci/install-browser.sh",
        )
    {
        return;
    }
    let _chromium = crate::helpers::chromium_slot().await;
    let dir = tempfile::tempdir().expect("a folder");
    let webm = recorded(dir.path(), Codec::Vp8).await;
    let mp4 = recorded(dir.path(), Codec::H264).await;
    assert_eq!(webm.extension().and_then(|e| e.to_str()), Some("webm"));
    assert_eq!(mp4.extension().and_then(|e| e.to_str()), Some("mp4"));

    let script = root.join("tests/browser/play.mjs");
    let run = Command::new("node")
        .arg(&script)
        .arg(&webm)
        .arg(&mp4)
        .current_dir(&root)
        .env("PLAY_MS", PLAY_MS.to_string())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(SCRIPT_LIMIT, run)
        .await
        .unwrap_or_else(|_| panic!("{} still runs after {SCRIPT_LIMIT:?}", script.display()))
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
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
    println!("Chromium: {result}");

    // The choice of containers rests on this: VP8 + Opus plays in WebM, by URL and through MSE.
    let webm_support = &result["support"]["video/webm; codecs=\"vp8, opus\""];
    assert_eq!(webm_support["canPlayType"], "probably", "{result}");
    assert_eq!(webm_support["mse"], true, "{result}");

    let played = result["played"].as_array().expect("a result per file");
    assert_eq!(played.len(), 2);
    for file in played {
        assert!(file["error"].is_null(), "{file}");
        let duration = file["duration"].as_f64().unwrap_or(0.0);
        assert!(
            (duration - SECONDS as f64).abs() <= SECONDS as f64 * 0.05,
            "{SECONDS} s recorded: {file}"
        );
        let played_s = PLAY_MS as f64 / 1_000.0;
        let current = file["currentTime"].as_f64().unwrap_or(0.0);
        assert!(current >= played_s * 0.6, "currentTime advances: {file}");
        let frames = file["totalVideoFrames"].as_u64().unwrap_or(0);
        assert!(
            frames as f64 >= current * 30.0 * 0.6,
            "frames decoded: {file}"
        );
        assert_eq!(
            (file["width"].as_u64(), file["height"].as_u64()),
            (Some(320), Some(240)),
            "{file}"
        );
        assert!(
            file["audioBytesDecoded"].as_u64().unwrap_or(0) > 0,
            "audio decoded: {file}"
        );
    }
}
