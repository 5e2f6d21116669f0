//! The synthetic feeds in the demo session's life: they are recordable like any publisher's
//! (the host records them and gets a playable archive per source, longer than what was
//! recorded minus a second), and once the host ends the session they stop for good: no
//! `PublisherConnected` after `SessionEnded`, even after the feeds' back-off would have
//! published again.
//!
//! The recording half needs ffmpeg (`bash .ci/install-media.sh`) to finalise the archives; without
//! it the test says SKIPPED, unless `LIVESURGERY_REQUIRE_MEDIA=1` (as in CI).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use super::seed::DemoPlace;
use crate::helpers::fresh_sqlite;
use crate::recording::media_tools;

const SOURCES: [&str; 3] = ["endoscope", "room-camera", "vitals"];
/// How long the host records.
const RECORDED: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feeds_are_recorded_like_any_publisher_and_stop_for_good_when_the_session_ends() {
    if !media_tools("demo::lifecycle") {
        return;
    }
    let place = DemoPlace::new(fresh_sqlite());
    let server = place.start(&[]).await;
    let session = server.session_id();
    let host = server
        .sign_in("demo-host", &server.password("demo-host"))
        .await;

    // The feeds are up: three sources.
    let media = server
        .get(&format!("/v1/sessions/{session}/media"), &host)
        .await;
    assert_eq!(
        media.body["sources"].as_array().map(Vec::len),
        Some(3),
        "{}",
        media.text
    );

    // Recorded like any publisher.
    let start = server
        .call(
            Method::POST,
            &format!("/v1/sessions/{session}/recordings:start"),
            Some(&host),
            None,
        )
        .await;
    assert!(start.status < 300, "{}: {}", start.status, start.text);
    tokio::time::sleep(RECORDED).await;
    let stop = server
        .call(
            Method::POST,
            &format!("/v1/sessions/{session}/recordings:stop"),
            Some(&host),
            None,
        )
        .await;
    assert!(stop.status < 300, "{}: {}", stop.status, stop.text);
    let archives = finalised_archives(&server, &host, session).await;
    for source in SOURCES {
        let archive = archives
            .iter()
            .find(|a| a["source"] == source)
            .unwrap_or_else(|| panic!("no archive of {source}: {archives:?}"));
        assert_eq!(archive["status"], "ready", "{archive}");
        let duration = archive["duration_ms"].as_u64().unwrap_or(0);
        assert!(
            duration + 1_000 >= RECORDED.as_millis() as u64,
            "{source}: {duration} ms recorded of {RECORDED:?}: {archive}"
        );
    }

    // The host ends the session: the feeds stop and do not publish again.
    let end = server
        .call(
            Method::POST,
            &format!("/v1/sessions/{session}:end"),
            Some(&host),
            None,
        )
        .await;
    assert!(end.status < 300, "{}: {}", end.status, end.text);
    // Past the feeds' first three back-offs (0.5 s, 1 s, 2 s).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let reviewer = server
        .sign_in("demo-reviewer", &server.password("demo-reviewer"))
        .await;
    let events = all_events(&server, &reviewer, session).await;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    let ended = types
        .iter()
        .position(|t| *t == "SessionEnded")
        .unwrap_or_else(|| panic!("no SessionEnded: {types:?}"));
    assert!(
        !types[ended..].contains(&"PublisherConnected"),
        "a feed published again after the session ended: {:?}",
        &types[ended..]
    );
    let (status, log) = server.stop().await;
    assert!(status.success(), "exit {status}:\n{log}");
    assert!(
        log.contains("the demo session is over; stopping the synthetic feeds"),
        "{log}"
    );
}

/// The session's archives once every one is finalised (none `recording` or `processing`).
async fn finalised_archives(
    server: &super::seed::DemoServer,
    token: &str,
    session: uuid::Uuid,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page = server
            .get(&format!("/v1/sessions/{session}/archives"), token)
            .await;
        let items = page.body["items"].as_array().cloned().unwrap_or_default();
        let pending = items
            .iter()
            .any(|a| a["status"] == "recording" || a["status"] == "processing");
        if items.len() >= SOURCES.len() && !pending {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "archives not finalised within 60 s: {items:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every event of the session's log, page after page.
async fn all_events(
    server: &super::seed::DemoServer,
    token: &str,
    session: uuid::Uuid,
) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/sessions/{session}/events?limit=1000&cursor={c}"),
            None => format!("/v1/sessions/{session}/events?limit=1000"),
        };
        let page = server.get(&path, token).await;
        items.extend(page.body["items"].as_array().cloned().unwrap_or_default());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}
