//! Resuming after a cut: every event exactly once, in order; a client too far behind (or ahead)
//! starts over from a fresh `welcome`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use super::client::WsClient;
use super::{join, live_session, member, positions, rest_layout, seed, session_events};
use crate::api::spawn::{TestApp, TestUser, spawn_app_with};
use crate::helpers::all_backends;

const WAIT: Duration = Duration::from_secs(10);
const WRITES: u64 = 150;
/// The writer stops here even if the reader is still being cut (the reader then fails).
const MAX_WRITES: u64 = 2_000;
/// Most writes the writer leaves unanswered (the server drops past 128 waiting).
const IN_FLIGHT: u64 = 32;

/// Changes the layout over REST as `user`; the new version.
async fn patch_layout(app: &TestApp, session: Uuid, user: &TestUser, base: u64, z: u64) -> u64 {
    let written = app
        .call(
            Method::PATCH,
            &format!("/v1/sessions/{session}/layout"),
            Some(&user.token),
            Some(json!({"base_version": base, "changes": {"panels": {"p1": {"z": z}}}})),
        )
        .await;
    written.assert_status(200);
    written.body["version"].as_u64().expect("a version")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_cut_off_again_and_again_resumes_without_gaps_or_duplicates() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| {
            s.ws_rate_per_sec = 1000;
            s.ws_rate_burst = 1000;
        })
        .await;
        let backend = app.backend;
        let seed = seed(&format!("[{backend}] resume"));
        let mut rng = StdRng::seed_from_u64(seed);
        let (host, session) = live_session(&app).await;
        let reading = member(&app, session, "observer", "observer").await;
        let jh = join(&app, session, &host).await;
        let jr = join(&app, session, &reading).await;
        let mut writer = WsClient::welcomed(&jh.ws_url, &jh.ws_token, "writer").await;
        let mut reader = WsClient::welcomed(&jr.ws_url, &jr.ws_token, "reader").await;
        let start = reader.state.position;

        // The writer changes the layout all along, at least WRITES times and until the reader
        // has been cut for the last time (a slow reconnect must not outlast the writes); each
        // write changes something (z counts up).
        let writer_seed = seed.wrapping_mul(31).wrapping_add(7);
        let cutting = Arc::new(AtomicBool::new(true));
        let still_cutting = cutting.clone();
        let writing = tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(writer_seed);
            let mut n = 0;
            while n < WRITES || (still_cutting.load(Ordering::Acquire) && n < MAX_WRITES) {
                n += 1;
                // A client that keeps at most IN_FLIGHT writes unanswered, as a real one
                // should: flooding a server slowed by the rest of the suite only gets writes
                // dropped (`rate_limited`), which is not what this test is about.
                if n > IN_FLIGHT {
                    let oldest = format!("w{}", n - IN_FLIGHT);
                    writer
                        .wait_for(WAIT, "room for another write", |s| s.answered(&oldest))
                        .await;
                }
                writer.drain();
                let write = json!({"type": "layout.update", "ref": format!("w{n}"),
                    "base_version": writer.state.layout_version,
                    "changes": {"panels": {"p1": {"z": n, "x": rng.random_range(0..=6)}}}});
                writer.send(write).await;
                writer
                    .pump_for(Duration::from_millis(rng.random_range(1..6)))
                    .await;
            }
            writer
                .wait_for(Duration::from_secs(30), "an answer to every write", |s| {
                    (1..=n).all(|n| s.answered(&format!("w{n}")))
                })
                .await;
            (writer, n)
        });

        // The reader is cut 3 to 5 times, each after 5 to 25 more events.
        let cuts = rng.random_range(3..=5);
        for cut in 1..=cuts {
            let target = reader.state.events.len() + rng.random_range(5..=25);
            reader
                .wait_for(WAIT, "events before the cut", |s| s.events.len() >= target)
                .await;
            let state = reader.cut().await;
            let last = state.position;
            let (events_before, label) = (state.events.len(), format!("reader after cut {cut}"));
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..30))).await;
            reader = WsClient::connect_with_state(&jr.ws_url, &jr.ws_token, &label, state).await;
            reader
                .send(json!({"type": "resume", "after_position": last}))
                .await;
            let resumed = reader
                .until(WAIT, "resumed", |m| {
                    m["type"] == "resumed" || m["type"] == "welcome"
                })
                .await;
            assert_eq!(
                resumed["type"], "resumed",
                "[{backend}] {label} (seed {seed}): {resumed}"
            );
            assert_eq!(resumed["after_position"], last, "{resumed}");
            let replayed = reader.state.events.len() - events_before;
            assert_eq!(
                resumed["replayed"], replayed,
                "[{backend}] {label}: {resumed}"
            );
            println!("[{backend}] cut {cut} after position {last}: {replayed} replayed");
        }
        cutting.store(false, Ordering::Release);

        let (writer, writes) = writing.await.expect("the writer task");
        assert_eq!(
            writer.state.acks.len() as u64,
            writes,
            "{:?}",
            writer.state.errors
        );
        let (version, panels) = rest_layout(&app, session).await;
        let events = session_events(&app, session).await;
        let last = *positions(&events).last().expect("events");
        reader
            .wait_for(WAIT, "every event of the session", |s| s.position >= last)
            .await;
        let state = &reader.state;
        assert!(
            state.violations.is_empty(),
            "[{backend}] seed {seed}: {:?}",
            state.violations
        );
        assert_eq!(
            state.welcomes, 1,
            "[{backend}] a resume fell back to a welcome"
        );
        let seen: Vec<u64> = state
            .positions()
            .into_iter()
            .filter(|p| *p <= last)
            .collect();
        let expected: Vec<u64> = positions(&events)
            .into_iter()
            .filter(|p| *p > start)
            .collect();
        assert_eq!(
            seen, expected,
            "[{backend}] seed {seed}: the reader's events are not the log's"
        );
        assert_eq!(
            (state.layout_version, &state.panels),
            (version, &panels),
            "[{backend}] seed {seed}: the reader's layout differs from GET /layout"
        );
        reader.close().await;
        writer.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_too_far_behind_or_ahead_gets_a_fresh_welcome() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| s.ws_resume_window = 5).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (host, session) = live_session(&app).await;
        let reading = member(&app, session, "observer", "observer").await;
        let jr = join(&app, session, &reading).await;
        let reader = WsClient::welcomed(&jr.ws_url, &jr.ws_token, "reader").await;
        let state = reader.cut().await;
        let old = state.position;

        // More than 5 events go by.
        let mut version = 1;
        for z in 1..=8 {
            version = patch_layout(&app, session, &host, version, z).await;
        }
        let mut reader =
            WsClient::connect_with_state(&jr.ws_url, &jr.ws_token, "reader behind", state).await;
        reader
            .send(json!({"type": "resume", "after_position": old}))
            .await;
        let welcome = reader.recv(WAIT).await;
        assert_eq!(
            (&welcome["type"], &welcome["reason"]),
            (&json!("welcome"), &json!("resume_too_far_behind")),
            "[{backend}] {welcome}"
        );
        assert_eq!(welcome["participant_id"], jr.participant_id.to_string());
        assert_eq!(
            welcome["session"]["layout"]["version"], version,
            "{welcome}"
        );
        let (rest_version, panels) = rest_layout(&app, session).await;
        assert_eq!(
            (reader.state.layout_version, &reader.state.panels),
            (rest_version, &panels)
        );
        assert!(
            reader
                .state
                .participants
                .contains_key(&jr.participant_id.to_string()),
            "{welcome}"
        );

        // Within the window, the same client resumes.
        reader.send(json!({"type": "ping", "ref": "sync"})).await;
        reader.until(WAIT, "pong", |m| m["type"] == "pong").await;
        let state = reader.cut().await;
        let recent = state.position;
        let before = state.events.len();
        version = patch_layout(&app, session, &host, version, 100).await;
        let mut reader =
            WsClient::connect_with_state(&jr.ws_url, &jr.ws_token, "reader resuming", state).await;
        reader
            .send(json!({"type": "resume", "after_position": recent}))
            .await;
        let resumed = reader
            .until(WAIT, "resumed", |m| {
                m["type"] == "resumed" || m["type"] == "welcome"
            })
            .await;
        assert_eq!(resumed["type"], "resumed", "[{backend}] {resumed}");
        assert_eq!(
            resumed["replayed"],
            reader.state.events.len() - before,
            "{resumed}"
        );
        reader
            .wait_for(WAIT, "the last change", |s| s.layout_version == version)
            .await;
        assert!(
            reader.state.violations.is_empty(),
            "{:?}",
            reader.state.violations
        );

        // A position the log never reached.
        let state = reader.cut().await;
        let mut reader =
            WsClient::connect_with_state(&jr.ws_url, &jr.ws_token, "reader ahead", state).await;
        reader
            .send(json!({"type": "resume", "after_position": 1_000_000_000_000u64}))
            .await;
        let welcome = reader.recv(WAIT).await;
        assert_eq!(
            (&welcome["type"], &welcome["reason"]),
            (&json!("welcome"), &json!("resume_unknown_position")),
            "[{backend}] {welcome}"
        );
        reader.close().await;
    }
}
