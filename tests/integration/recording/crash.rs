//! A server killed (SIGKILL) mid-recording loses at most the segment in flight: after it is
//! started again, the archive is listed as `incomplete` and what was stored still plays.

use std::time::{Duration, Instant};

use super::support::{ffprobe, inspect, playback, recording, wait_for_archive};
use crate::api::spawn::TestApp;
use crate::helpers::fresh_sqlite;
use crate::realtime::{join, live_session, session_events};
use crate::sfu::support::{Peer, Sfu, listing, webrtc_ready};

/// Segments as short as allowed, so a few are stored before the kill.
const SEGMENT_SECS: &str = "2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_recording_leaves_an_incomplete_archive_that_plays() {
    if !webrtc_ready("recording::crash") {
        return;
    }
    let env = [(
        "LIVESURGERY_RECORDING_SEGMENT_SECS",
        SEGMENT_SECS.to_owned(),
    )];
    let (app, server) = TestApp::spawn_process(fresh_sqlite(), &env).await;
    let (host, session) = live_session(&app).await;
    let joined = join(&app, session, &host).await;
    recording(&app, session, &host, "start").await;
    let publisher = Peer::publish_with(
        "endoscope",
        &Sfu::of(&joined),
        "endoscope",
        20,
        &["--audio"],
    )
    .await;
    let tag = publisher.tag.expect("a tag");

    // Wait until at least two segments are stored, then kill the server mid-segment.
    let deadline = Instant::now() + Duration::from_secs(60);
    let stored_before = loop {
        let events = session_events(&app, session).await;
        let stored = events
            .iter()
            .filter(|e| e["type"] == "SegmentStored")
            .count();
        if stored >= 2 {
            break stored;
        }
        assert!(
            Instant::now() < deadline,
            "no two segments stored within 60 s: {}",
            listing(&events)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill().await;
    publisher.kill().await;

    let _server = app.restart_process(&env).await;
    let archive = wait_for_archive(
        &app,
        session,
        "endoscope",
        &["incomplete", "ready", "failed"],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(archive["status"], "incomplete", "{archive:#}");
    let events = session_events(&app, session).await;
    let id = archive["id"].as_str().expect("an id");
    let stored: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "SegmentStored" && e["data"]["archive_id"] == id)
        .collect();
    assert!(
        stored.len() >= stored_before,
        "segments were lost: {} before the kill, {} after",
        stored_before,
        stored.len()
    );
    assert!(
        events.iter().any(|e| e["type"] == "ArchiveClosed"
            && e["data"]["archive_id"] == id
            && e["data"]["reason"] == "interrupted"),
        "{}",
        listing(&events)
    );

    let url = playback(&app, id, &app.admin_token).await["url"]
        .as_str()
        .expect("a url")
        .to_owned();
    let probed = ffprobe(&url).await;
    let seconds: f64 = probed["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("a duration");
    assert!(
        seconds >= 2.0 * stored_before as f64 * 0.9,
        "{seconds} s of {stored_before} stored segments"
    );
    let read = inspect(&url).await;
    assert_eq!(
        read["tags"]
            .as_object()
            .map(|t| t.keys().cloned().collect::<Vec<_>>()),
        Some(vec![tag.to_string()]),
        "{read}"
    );
}
