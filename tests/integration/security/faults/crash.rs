//! SIGKILL at random moments under a mixed load (REST writes and WebSocket layout updates),
//! then a restart over the same database: nothing acknowledged is lost, the read models equal a
//! rebuild from the log, every hash chain verifies, and WebSocket clients resume with no gap.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::ledger::{
    Acked, Ledger, assert_audit_verifies, create_session, json_differences, read_log,
    read_model_snapshot, rebuild_all_projections,
};
use crate::api::spawn::TestApp;
use crate::helpers::all_backends;
use crate::realtime::client::WsClient;
use crate::realtime::{join, live_session, member, seed};

const WAIT: Duration = Duration::from_secs(15);
/// Kills per backend: each lands at a random moment of a load phase.
const KILLS: usize = 3;
/// REST writers running beside the WebSocket writer.
const REST_WRITERS: usize = 3;

/// The settings of the killed server: a WebSocket rate high enough for the writer.
fn env() -> Vec<(&'static str, String)> {
    vec![
        ("LIVESURGERY_WS_RATE_PER_SEC", "1000".into()),
        ("LIVESURGERY_WS_RATE_BURST", "1000".into()),
        ("RUST_LOG", "warn".into()),
    ]
}

/// Reconnects a client cut by the kill and resumes after the last position it saw; asserts
/// the server resumed it (no fresh `welcome`, so nothing in between is skipped).
async fn resume(
    url: &str,
    token: &str,
    label: String,
    state: crate::realtime::client::State,
) -> WsClient {
    let last = state.position;
    let mut client = WsClient::connect_with_state(url, token, &label, state).await;
    client
        .send(json!({"type": "resume", "after_position": last}))
        .await;
    let resumed = client
        .until(WAIT, "resumed", |m| {
            m["type"] == "resumed" || m["type"] == "welcome"
        })
        .await;
    assert_eq!(resumed["type"], "resumed", "{label}: {resumed}");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_mixed_load_loses_no_acknowledged_write_and_clients_resume_without_gaps() {
    for db in all_backends().await {
        let env = env();
        let (app, mut server) = TestApp::spawn_process(db, &env).await;
        let backend = app.backend;
        let seed = seed(&format!("[{backend}] sigkill"));
        let mut rng = StdRng::seed_from_u64(seed);
        let (host, session) = live_session(&app).await;
        let reading = member(&app, session, "observer", "observer").await;
        let jh = join(&app, session, &host).await;
        let jr = join(&app, session, &reading).await;
        let mut writer = WsClient::welcomed(&jh.ws_url, &jh.ws_token, "writer").await;
        let mut reader = WsClient::welcomed(&jr.ws_url, &jr.ws_token, "reader").await;
        let start = reader.state.position;
        let ledger = Ledger::default();
        let mut sent = 0u64;

        for kill in 1..=KILLS {
            let stop = Arc::new(AtomicBool::new(false));
            let rest: Vec<_> = (0..REST_WRITERS)
                .map(|w| {
                    let (client, base) = (app.client.clone(), app.base.clone());
                    let (token, ledger, stop) = (host.token.clone(), ledger.clone(), stop.clone());
                    tokio::spawn(async move {
                        let mut n = 0;
                        while !stop.load(Ordering::Acquire) {
                            n += 1;
                            let title = format!("Crash drill {kill}.{w}.{n}");
                            if !create_session(&client, &base, &token, &ledger, &title).await {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    })
                })
                .collect();
            // The WebSocket writer writes until the kill, which comes at a random moment with
            // REST requests and WebSocket writes in flight.
            let until = Instant::now() + Duration::from_millis(rng.random_range(300..1500));
            while Instant::now() < until {
                sent += 1;
                writer.drain();
                let write = json!({"type": "layout.update", "ref": format!("w{sent}"),
                    "base_version": writer.state.layout_version,
                    "changes": {"panels": {"p1": {"z": sent, "x": rng.random_range(0..=6)}}}});
                writer.send(write).await;
                writer
                    .pump_for(Duration::from_millis(rng.random_range(2..15)))
                    .await;
            }
            server.kill().await;
            stop.store(true, Ordering::Release);
            for task in rest {
                task.await.expect("a REST writer");
            }
            let (written, read) = (writer.cut().await, reader.cut().await);
            println!(
                "[{backend}] kill {kill}: {} acknowledged so far, {} WebSocket writes sent",
                ledger.len() + written.acks.len(),
                sent
            );
            server = app.restart_process(&env).await;
            writer = resume(&jh.ws_url, &jh.ws_token, format!("writer {kill}"), written).await;
            reader = resume(&jr.ws_url, &jr.ws_token, format!("reader {kill}"), read).await;
        }

        // The WebSocket acknowledgements join the ledger: each named the position of a
        // LayoutUpdated in the session's stream.
        for ack in writer.state.acks.values() {
            ledger.record(Acked {
                position: ack["position"].as_u64().expect("an acked position"),
                stream: format!("session-{session}"),
                event_type: "LayoutUpdated",
                via: "ws",
            });
        }
        let log = read_log(&app.db_url).await;
        ledger.assert_all_in(&log, &format!("[{backend}] seed {seed}"));
        assert!(
            ledger.len() > KILLS,
            "[{backend}] too few acknowledgements to prove anything"
        );

        // The reader saw every event of the session's stream after it joined, exactly once and
        // in order, across every kill.
        let stream = format!("session-{session}");
        let expected: Vec<u64> = log
            .values()
            .filter(|e| e.stream == stream && e.position > start)
            .map(|e| e.position)
            .collect();
        let last = *expected.last().expect("events of the session");
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
        assert_eq!(
            seen, expected,
            "[{backend}] seed {seed}: the reader's events are not the log's"
        );

        // The read models the crashes left equal those a rebuild from the log makes.
        let head = app.head().await;
        let before = read_model_snapshot(&app, session, head).await;
        rebuild_all_projections(&app).await;
        let after = read_model_snapshot(&app, session, head).await;
        let differences = json_differences(&before, &after, 20);
        assert!(
            differences.is_empty(),
            "[{backend}] seed {seed}: the read models differ from a rebuild from the log \
             (live != rebuilt): {differences:#?}"
        );
        assert_audit_verifies(&app);
        writer.close().await;
        reader.close().await;
        server.kill().await;
    }
}
