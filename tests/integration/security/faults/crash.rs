//! SIGKILL at random moments under a mixed load (REST writes, WebSocket layout updates, and
//! media: an aiortc publisher forwarded to an aiortc subscriber), then a restart over the same
//! database: nothing acknowledged is lost, the read models equal a rebuild from the log, every
//! hash chain verifies, WebSocket clients resume with no gap, the restarted server closes the
//! media the crash left open (reason `interrupted`), and media published again decodes.

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
use crate::realtime::client::{State, WsClient};
use crate::realtime::{join, live_session, member, seed};
use crate::sfu::support::{Peer, Sfu, webrtc_ready};

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
        // A participant present before a kill that does not come back leaves this long after
        // the restart; those that resume stay.
        (
            "LIVESURGERY_JOIN_CONNECT_TIMEOUT_SECS",
            GHOST_LEAVES_AFTER.as_secs().to_string(),
        ),
    ]
}

/// The join-connect time of the killed server (see [`env`]).
const GHOST_LEAVES_AFTER: Duration = Duration::from_secs(3);

/// Frames per second of the publisher: little CPU beside the load on 2 cores.
const FPS: u32 = 15;

/// One media run: a publisher of `room-cam` and a subscriber watching it, both connected and
/// their connections seen by the reader (acknowledged), and a frame of the publisher's decoded.
struct Media {
    publisher: Peer,
    subscriber: Peer,
}

impl Media {
    async fn start(host: &Sfu, observer: &Sfu, reader: &mut WsClient, run: usize) -> Media {
        let publisher = Peer::publish(&format!("publisher {run}"), host, "room-cam", FPS).await;
        let mut subscriber =
            Peer::subscribe(&format!("subscriber {run}"), observer, 1, "?slots=room-cam").await;
        let tag = publisher.tag.expect("the publisher's tag");
        let (_, first) = subscriber
            .until(WAIT, "the first frame", |l| l["event"] == "first_frame")
            .await;
        assert_eq!(
            first["source_tag"],
            json!(tag),
            "run {run}: the subscriber decoded another picture: {first}"
        );
        println!(
            "media run {run}: first frame {} ms after the subscriber started",
            first["since_start_ms"]
        );
        for (event_type, resource) in [
            ("PublisherConnected", publisher.resource_id().to_owned()),
            ("SubscriberConnected", subscriber.resource_id().to_owned()),
        ] {
            reader
                .wait_for(WAIT, event_type, |s| {
                    seen(s, event_type, &resource).is_some()
                })
                .await;
        }
        Media {
            publisher,
            subscriber,
        }
    }

    /// The resource ids of the publisher and the subscriber.
    fn resources(&self) -> [String; 2] {
        [
            self.publisher.resource_id().to_owned(),
            self.subscriber.resource_id().to_owned(),
        ]
    }
}

/// The event of `event_type` for `resource` among a client's events, if it saw one.
fn seen<'a>(state: &'a State, event_type: &str, resource: &str) -> Option<&'a serde_json::Value> {
    state
        .events
        .iter()
        .find(|e| e["event_type"] == event_type && e["data"]["resource_id"] == resource)
}

/// Reconnects a client cut by the kill and resumes after the last position it saw; asserts
/// the server resumed it (no fresh `welcome`, so nothing in between is skipped).
async fn resume(url: &str, token: &str, label: String, state: State) -> WsClient {
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
        // A third participant, present before the first kill, that never comes back.
        let ghost_user = member(&app, session, "observer", "observer").await;
        let ghost = join(&app, session, &ghost_user).await;
        let mut ghost_socket =
            Some(WsClient::welcomed(&ghost.ws_url, &ghost.ws_token, "ghost").await);
        let start = reader.state.position;
        let ledger = Ledger::default();
        let mut sent = 0u64;
        let media = webrtc_ready(&format!("[{backend}] sigkill: media in the load"));
        let (sfu_host, sfu_observer) = (Sfu::of(&jh), Sfu::of(&jr));
        // The publisher and subscriber resources of each run a kill cut.
        let mut cut_media: Vec<[String; 2]> = Vec::new();

        for kill in 1..=KILLS {
            let peers = if media {
                Some(Media::start(&sfu_host, &sfu_observer, &mut reader, kill).await)
            } else {
                None
            };
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
            if let Some(peers) = peers {
                cut_media.push(peers.resources());
                peers.publisher.kill().await;
                peers.subscriber.kill().await;
            }
            stop.store(true, Ordering::Release);
            for task in rest {
                task.await.expect("a REST writer");
            }
            let (written, read) = (writer.cut().await, reader.cut().await);
            if let Some(socket) = ghost_socket.take() {
                socket.cut().await;
            }
            println!(
                "[{backend}] kill {kill}: {} acknowledged so far, {} WebSocket writes sent",
                ledger.len() + written.acks.len(),
                sent
            );
            server = app.restart_process(&env).await;
            writer = resume(&jh.ws_url, &jh.ws_token, format!("writer {kill}"), written).await;
            reader = resume(&jr.ws_url, &jr.ws_token, format!("reader {kill}"), read).await;
            // The restarted server closes the media the kill left open, and says so.
            if let Some(cut) = cut_media.last() {
                for (event_type, resource) in [
                    ("PublisherDisconnected", &cut[0]),
                    ("SubscriberDisconnected", &cut[1]),
                ] {
                    reader
                        .wait_for(WAIT, event_type, |s| {
                            seen(s, event_type, resource).is_some()
                        })
                        .await;
                    let closed = seen(&reader.state, event_type, resource).expect("seen");
                    assert_eq!(
                        closed["data"]["reason"], "interrupted",
                        "[{backend}] kill {kill}: {closed}"
                    );
                    assert_eq!(
                        (&closed["actor"]["role"], &closed["actor"]["user_id"]),
                        (&json!("system"), &serde_json::Value::Null),
                        "[{backend}] kill {kill}: the server's own record: {closed}"
                    );
                }
            }
        }
        // The participant that did not come back left as `disconnected`, by the restarted
        // server; those that resumed did not leave.
        let ghost_id = ghost.participant_id.to_string();
        reader
            .wait_for(GHOST_LEAVES_AFTER + WAIT, "the ghost's leave", |s| {
                !s.presence_events("ParticipantLeft", &ghost_id).is_empty()
            })
            .await;
        let left = reader.state.presence_events("ParticipantLeft", &ghost_id)[0];
        assert_eq!(left["data"]["reason"], "disconnected", "[{backend}] {left}");
        for (who, joined) in [("writer", &jh), ("reader", &jr)] {
            let id = joined.participant_id.to_string();
            assert!(
                reader
                    .state
                    .presence_events("ParticipantLeft", &id)
                    .is_empty(),
                "[{backend}] the {who} resumed after every kill, yet left"
            );
        }
        // Media published again after the last restart reaches its subscriber, and ends as
        // its owners end it.
        if media {
            let peers = Media::start(&sfu_host, &sfu_observer, &mut reader, KILLS + 1).await;
            peers.publisher.quit().await;
            peers.subscriber.quit().await;
        }

        // The WebSocket acknowledgements join the ledger: each named the position of a
        // LayoutUpdated in the session's stream.
        // The media connections the reader saw before each kill (acknowledged) are in the log,
        // each closed by the next server.
        for [publisher, subscriber] in &cut_media {
            for (event_type, resource) in [
                ("PublisherConnected", publisher),
                ("PublisherDisconnected", publisher),
                ("SubscriberConnected", subscriber),
                ("SubscriberDisconnected", subscriber),
            ] {
                let event = seen(&reader.state, event_type, resource).unwrap_or_else(|| {
                    panic!("[{backend}] the reader saw no {event_type} of {resource}")
                });
                ledger.record(Acked {
                    position: event["position"].as_u64().expect("a position"),
                    stream: format!("session-{session}"),
                    event_type,
                    via: "media",
                });
            }
        }
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
