//! The shared layout over WebSockets: concurrent writers converge (per-field last write wins),
//! observers only watch.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::client::WsClient;
use super::{join, live_session, member, positions, rest_layout, seed, session_events};
use crate::api::spawn::{spawn_app, spawn_app_with};
use crate::helpers::all_backends;

const WAIT: Duration = Duration::from_secs(10);
const WRITERS: usize = 10;
const WRITES: usize = 100;
const SOURCES: [Option<&str>; 5] = [
    None,
    Some("endoscope"),
    Some("room-cam"),
    Some("ultrasound"),
    Some("microscope"),
];

/// A random write that is valid on any layout of panels p1..p4: `layout.update` of one to three
/// fields of one panel (x, y <= 6 and w, h <= 6 keep it on the 12x12 grid), or, now and then,
/// `source.select`.
fn random_write(rng: &mut StdRng, reference: &str, base_version: u64) -> Value {
    let panel = format!("p{}", rng.random_range(1..=4));
    if rng.random_bool(0.15) {
        let source = SOURCES[rng.random_range(0..SOURCES.len())];
        return json!({"type": "source.select", "ref": reference, "panel_id": panel,
                      "source_id": source});
    }
    let mut fields = serde_json::Map::new();
    while fields.is_empty() {
        for field in ["x", "y", "w", "h", "z", "source_id"] {
            if !rng.random_bool(0.3) {
                continue;
            }
            let value = match field {
                "x" | "y" => json!(rng.random_range(0..=6)),
                "w" | "h" => json!(rng.random_range(1..=6)),
                "z" => json!(rng.random_range(-3..=3)),
                _ => json!(SOURCES[rng.random_range(0..SOURCES.len())]),
            };
            fields.insert(field.to_owned(), value);
        }
    }
    json!({"type": "layout.update", "ref": reference, "base_version": base_version,
           "changes": {"panels": {panel: fields}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_surgeons_writing_at_once_converge_on_the_layout_the_rest_api_serves() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| {
            s.ws_rate_per_sec = 1000;
            s.ws_rate_burst = 1000;
            // Room for every message of the run: this test is about convergence, and a test
            // runtime starved by the rest of the suite must not be cut off as a slow consumer
            // (`limits.rs` tests that cut).
            s.ws_queue = 16 * 1024;
        })
        .await;
        let backend = app.backend;
        let seed = seed(&format!("[{backend}] convergence"));
        let (_host, session) = live_session(&app).await;
        let t0 = Instant::now();
        let surgeons = futures::future::join_all(
            (0..WRITERS).map(|_| member(&app, session, "surgeon", "surgeon")),
        )
        .await;
        let mut clients = Vec::new();
        for (i, surgeon) in surgeons.iter().enumerate() {
            let joined = join(&app, session, surgeon).await;
            clients.push(
                WsClient::welcomed(&joined.ws_url, &joined.ws_token, &format!("surgeon {i}")).await,
            );
        }
        let start_position = clients
            .iter()
            .map(|c| c.state.position)
            .max()
            .expect("clients");

        // Every client writes on the version it knows, which other writers keep making stale.
        let t1 = Instant::now();
        let tasks = clients.into_iter().enumerate().map(|(i, mut client)| {
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(i as u64));
                let mut refs = Vec::new();
                for n in 0..WRITES {
                    client.drain();
                    let reference = format!("s{i}-{n}");
                    let write = random_write(&mut rng, &reference, client.state.layout_version);
                    client.send(write).await;
                    refs.push(reference);
                    let pause = rng.random_range(0..4);
                    client.pump_for(Duration::from_millis(pause)).await;
                }
                client
                    .wait_for(Duration::from_secs(60), "an answer to every write", |s| {
                        refs.iter().all(|r| s.answered(r))
                    })
                    .await;
                client
            })
        });
        let mut clients: Vec<WsClient> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|joined| joined.expect("a writer task"))
            .collect();

        let t2 = Instant::now();
        let (version, panels) = rest_layout(&app, session).await;
        let events = session_events(&app, session).await;
        let last = *positions(&events).last().expect("events");
        let expected: Vec<u64> = positions(&events)
            .into_iter()
            .filter(|p| *p > start_position)
            .collect();
        let mut codes: BTreeMap<String, usize> = BTreeMap::new();
        let mut sequences = Vec::new();
        for client in &mut clients {
            client
                .wait_for(WAIT, "every event up to the REST layout", |s| {
                    s.position >= last && s.layout_version >= version
                })
                .await;
            let label = &client.label;
            let state = &client.state;
            assert!(
                state.violations.is_empty(),
                "[{backend}] {label}: {:?}",
                state.violations
            );
            assert_eq!(
                (state.layout_version, &state.panels),
                (version, &panels),
                "[{backend}] {label}: its layout differs from GET /layout (seed {seed})"
            );
            for error in &state.errors {
                *codes
                    .entry(error["code"].as_str().unwrap_or("?").to_owned())
                    .or_default() += 1;
            }
            // Every ack names an event this client saw, with the layout version it made.
            let by_position: HashMap<u64, &Value> = state
                .events
                .iter()
                .map(|e| (e["position"].as_u64().unwrap_or_default(), e))
                .collect();
            for ack in state.acks.values() {
                let position = ack["position"].as_u64().expect("an ack position");
                let event = by_position
                    .get(&position)
                    .unwrap_or_else(|| panic!("[{backend}] {label}: {ack} names no event it saw"));
                let made = event["data"]["version"]
                    .as_u64()
                    .or(event["data"]["layout_version"].as_u64());
                assert_eq!(made, ack["layout_version"].as_u64(), "{ack} vs {event}");
            }
            let seen: Vec<u64> = state
                .positions()
                .into_iter()
                .filter(|p| *p > start_position && *p <= last)
                .collect();
            sequences.push(seen);
        }
        // Same events, same order, for everyone: those of the log.
        for (i, seen) in sequences.iter().enumerate() {
            assert_eq!(
                seen, &expected,
                "[{backend}] surgeon {i} saw other positions than the session's events"
            );
        }
        let acks: usize = clients.iter().map(|c| c.state.acks.len()).sum();
        println!(
            "[{backend}] {acks} writes accepted in {:?} (set-up {:?}, checks {:?}), errors \
             {codes:?}, layout version {version}",
            t2 - t1,
            t1 - t0,
            t2.elapsed()
        );
        for code in codes.keys() {
            assert!(
                code == "no_change" || code == "version_conflict",
                "[{backend}] unexpected error code {code} (seed {seed}): {:?}",
                clients
                    .iter()
                    .flat_map(|c| &c.state.errors)
                    .find(|e| e["code"] == code.as_str())
            );
        }
        assert_eq!(
            acks + codes.values().sum::<usize>(),
            WRITERS * WRITES,
            "every write answered once"
        );
        assert!(
            acks >= WRITERS * WRITES / 2,
            "[{backend}] only {acks} writes accepted"
        );
        assert_eq!(
            version,
            1 + acks as u64,
            "one layout version per accepted write"
        );
        let contested = clients[0]
            .state
            .events
            .iter()
            .filter(|e| e["event_type"] == "LayoutUpdated")
            .filter(|e| {
                e["data"]["conflicts"]
                    .as_array()
                    .is_some_and(|c| !c.is_empty())
            })
            .count();
        assert!(
            contested > 0,
            "[{backend}] no LayoutUpdated carried conflicts (seed {seed})"
        );
        for client in clients {
            client.close().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_cannot_change_the_layout_but_sees_every_change() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (_host, session) = live_session(&app).await;
        let surgeon = member(&app, session, "surgeon", "surgeon").await;
        let observer = member(&app, session, "observer", "observer").await;
        let js = join(&app, session, &surgeon).await;
        let jo = join(&app, session, &observer).await;
        let mut writer = WsClient::welcomed(&js.ws_url, &js.ws_token, "surgeon").await;
        let mut watcher = WsClient::welcomed(&jo.ws_url, &jo.ws_token, "observer").await;

        let denied_before = app
            .all_pages(
                &format!("/v1/audit?type=AccessDenied&actor={}", observer.id),
                &app.admin_token,
            )
            .await
            .len();
        watcher
            .send(
                json!({"type": "layout.update", "ref": "o1", "base_version": 1,
                         "changes": {"panels": {"p1": {"x": 3}}}}),
            )
            .await;
        let error = watcher
            .until(WAIT, "the error of o1", |m| m["type"] == "error")
            .await;
        assert_eq!(
            (&error["ref"], &error["code"]),
            (&json!("o1"), &json!("forbidden")),
            "[{backend}] {error}"
        );
        watcher
            .send(
                json!({"type": "source.select", "ref": "o2", "panel_id": "p1",
                         "source_id": "endoscope"}),
            )
            .await;
        let error = watcher
            .until(WAIT, "the error of o2", |m| m["type"] == "error")
            .await;
        assert_eq!(
            (&error["ref"], &error["code"]),
            (&json!("o2"), &json!("forbidden")),
            "[{backend}] {error}"
        );
        assert!(watcher.state.acks.is_empty(), "{:?}", watcher.state.acks);

        // The refusals are in the audit trail.
        let denied = app
            .all_pages(
                &format!("/v1/audit?type=AccessDenied&actor={}", observer.id),
                &app.admin_token,
            )
            .await;
        assert_eq!(denied.len(), denied_before + 2, "[{backend}] {denied:?}");
        for item in &denied[denied_before..] {
            assert_eq!(item["session_id"], session.to_string(), "{item}");
            assert_eq!(item["stream"], format!("access-{}", observer.id), "{item}");
            assert_eq!(item["outcome"], "denied", "{item}");
        }
        let (version, _) = rest_layout(&app, session).await;
        assert_eq!(version, 1, "[{backend}] a refused write changed the layout");

        // The surgeon's write reaches the observer.
        writer
            .send(
                json!({"type": "layout.update", "ref": "s1", "base_version": 1,
                         "changes": {"panels": {"p1": {"x": 3}}}}),
            )
            .await;
        let ack = writer
            .until(WAIT, "the ack of s1", |m| m["type"] == "ack")
            .await;
        assert_eq!(
            (&ack["ref"], &ack["layout_version"]),
            (&json!("s1"), &json!(2)),
            "{ack}"
        );
        let event = watcher
            .until(WAIT, "LayoutUpdated", |m| {
                m["event_type"] == "LayoutUpdated"
            })
            .await;
        assert_eq!(event["data"]["version"], 2, "[{backend}] {event}");
        assert_eq!(event["position"], ack["position"], "{event} vs {ack}");
        assert_eq!(event["actor"]["user_id"], surgeon.id.to_string(), "{event}");
        assert_eq!(
            event["data"]["changed_by"]["participant_id"],
            js.participant_id.to_string()
        );
        assert_eq!(watcher.state.panels["p1"]["x"], 3);
        writer
            .send(
                json!({"type": "source.select", "ref": "s2", "panel_id": "p2",
                         "source_id": "endoscope"}),
            )
            .await;
        writer
            .until(WAIT, "the ack of s2", |m| m["type"] == "ack")
            .await;
        let event = watcher
            .until(WAIT, "SourceSelected", |m| {
                m["event_type"] == "SourceSelected"
            })
            .await;
        assert_eq!(event["data"]["layout_version"], 3, "[{backend}] {event}");
        assert_eq!(watcher.state.panels["p2"]["source_id"], "endoscope");
        let (version, panels) = rest_layout(&app, session).await;
        assert_eq!(
            (watcher.state.layout_version, &watcher.state.panels),
            (version, &panels)
        );
        writer.close().await;
        watcher.close().await;
    }
}
