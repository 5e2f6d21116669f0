//! A recording end to end on the embedded default (SQLite, archives in a folder): aiortc
//! publishes the pattern source with a tone for 10 s while the session is recorded; after
//! stop the archive becomes `ready`, and its playback URL is read by ffprobe (duration within
//! 5% of the recorded wall time, VP8 and Opus), decoded by PyAV (the published pattern, at most
//! 1% of the frame counter missing) and played by headless Chromium; the log tells who
//! recorded, what was stored, and who played it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::Command;

use super::support::{ffprobe, inspect, playback, recording, wait_for_archive};
use crate::api::spawn::spawn_app;
use crate::helpers::{fresh_sqlite, prerequisites_met};
use crate::realtime::{join, live_session, member, session_events};
use crate::sfu::support::{Peer, Sfu, assert_in_order, listing, webrtc_ready};

/// How long the source is published while recorded.
const RECORDED: Duration = Duration::from_secs(10);
/// Frames per second of the published pattern.
const FPS: u32 = 20;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether ffmpeg's tools and the browser are here (or the test must fail, in CI).
fn media_tools_ready(test: &str) -> bool {
    let ffprobe = std::process::Command::new("ffprobe")
        .arg("-version")
        .output();
    let missing = if !ffprobe.is_ok_and(|o| o.status.success()) {
        Some("no ffprobe (apt-get install ffmpeg)".to_owned())
    } else if !root()
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
    {
        Some("no tests/browser/node_modules (bash .ci/install-browser.sh)".to_owned())
    } else {
        None
    };
    prerequisites_met(
        test,
        missing,
        "LIVESURGERY_REQUIRE_BROWSER",
        "bash .ci/install-browser.sh",
    )
}

/// Plays `url` in headless Chromium for a few seconds (`tests/browser/play-url.mjs`).
async fn chromium_plays(url: &str) -> Value {
    let out = Command::new("node")
        .arg(root().join("tests/browser/play-url.mjs"))
        .arg(url)
        .args(["--seconds", "3"])
        .current_dir(root())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("play.mjs ends within a minute")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Chromium did not play {url}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("play.mjs's JSON line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_source_plays_back_as_published() {
    let test = "recording::e2e::a_recorded_source_plays_back_as_published";
    if !webrtc_ready(test) || !media_tools_ready(test) {
        return;
    }
    let app = spawn_app(fresh_sqlite()).await;
    let (host, session) = live_session(&app).await;
    let watcher = member(&app, session, "observer", "observer").await;
    let joined = join(&app, session, &host).await;
    assert_eq!(
        joined.body["recording"],
        json!({"active": false, "recording_id": null}),
        "{}",
        joined.body
    );

    let recording_id = recording(&app, session, &host, "start").await;
    let publisher = Peer::publish_with(
        "endoscope",
        &Sfu::of(&joined),
        "endoscope",
        FPS,
        &["--audio"],
    )
    .await;
    let tag = publisher.tag.expect("the publisher's tag");
    let published_at = Instant::now();
    tokio::time::sleep(RECORDED).await;
    let stopped = recording(&app, session, &host, "stop").await;
    let wall_ms = published_at.elapsed().as_millis() as f64;
    assert_eq!(stopped, recording_id);
    publisher.quit().await;

    let archive = wait_for_archive(
        &app,
        session,
        "endoscope",
        &["ready", "failed", "incomplete"],
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(archive["status"], "ready", "{archive:#}");
    assert_eq!(archive["recording_id"], recording_id.to_string());
    assert_eq!(archive["legal_hold"], false);
    assert!(archive["expires_at"].is_string(), "{archive:#}");
    let id = archive["id"].as_str().expect("an archive id").to_owned();

    // The observer plays it: the URL alone opens it, as a <video> element would.
    let answer = playback(&app, &id, &watcher.token).await;
    let url = answer["url"].as_str().expect("a playback url");
    assert_eq!(answer["content_type"], archive["content_type"]);
    let probed = ffprobe(url).await;
    let duration_ms: f64 = probed["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse::<f64>().ok())
        .expect("a duration")
        * 1000.0;
    assert!(
        (duration_ms - wall_ms).abs() <= wall_ms * 0.05,
        "the recording lasts {duration_ms} ms, the source was recorded for {wall_ms} ms"
    );
    let codecs: Vec<&str> = probed["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter_map(|s| s["codec_name"].as_str())
        .collect();
    assert!(
        codecs.contains(&"vp8") && codecs.contains(&"opus"),
        "{codecs:?}"
    );

    let read = inspect(url).await;
    let counters = read["last_counter"].as_u64().expect("counters were read")
        - read["first_counter"].as_u64().expect("counters were read")
        + 1;
    let missing = read["missing_counters"].as_u64().expect("missing_counters");
    assert!(
        missing * 100 <= counters,
        "{missing} of {counters} frame counters are missing: {read}"
    );
    assert_eq!(
        read["tags"]
            .as_object()
            .map(|t| t.keys().cloned().collect::<Vec<_>>()),
        Some(vec![tag.to_string()]),
        "the frames show another source: {read}"
    );
    assert!(read["audio_packets"].as_u64() > Some(100), "{read}");

    let played = chromium_plays(url).await;
    assert!(played["totalVideoFrames"].as_u64() > Some(10), "{played}");

    let events = session_events(&app, session).await;
    let opened = json!({"source": "endoscope"});
    assert_in_order(
        &events,
        &[
            ("RecordingStarted", json!({"recording_id": recording_id})),
            ("ArchiveOpened", opened),
            ("SegmentStored", json!({"archive_id": id, "seq": 0})),
            ("RecordingStopped", json!({"recording_id": recording_id})),
            (
                "ArchiveClosed",
                json!({"archive_id": id, "reason": "stopped"}),
            ),
            (
                "ArchiveFinalised",
                json!({"archive_id": id, "status": "ready"}),
            ),
            (
                "ArchiveAccessed",
                json!({"archive_id": id, "user_id": watcher.id}),
            ),
        ],
    );
    let started = events
        .iter()
        .find(|e| e["type"] == "RecordingStarted")
        .expect("RecordingStarted");
    assert_eq!(started["actor_user_id"], host.id.to_string(), "{started}");
    let segments: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "SegmentStored" && e["data"]["archive_id"] == id.as_str())
        .collect();
    assert!(segments.len() >= 2, "{}", listing(&events));
    for segment in &segments {
        let data = &segment["data"];
        let duration = data["duration_ms"].as_u64().expect("duration_ms");
        assert!(
            data["sha256"].as_str().is_some_and(|h| h.len() == 64),
            "{segment}"
        );
        assert!(
            !data["object_key"]
                .as_str()
                .unwrap_or("")
                .contains("endoscope"),
            "object keys carry ids only: {segment}"
        );
        // The last segment may be short: it ends where the recording stopped.
        if segment != segments.last().expect("segments") {
            assert!((2_000..=6_500).contains(&duration), "{segment}");
        }
    }
}
