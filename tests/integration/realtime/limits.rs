//! What the gateway does not take: unreadable or oversized messages, floods, clients that do not
//! keep up, expired tokens.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::client::{Stalled, WsClient};
use super::{
    join, live_session, member, metric, metrics_text, positions, rest_layout, session_events,
    token_expiring_in,
};
use crate::api::spawn::spawn_app_with;
use crate::helpers::all_backends;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_messages_get_invalid_message_and_an_oversized_one_closes_with_1009() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| s.ws_max_message_bytes = 1024).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (host, session) = live_session(&app).await;
        let joined = join(&app, session, &host).await;
        let mut client = WsClient::welcomed(&joined.ws_url, &joined.ws_token, "client").await;

        let cases = [
            ("not JSON", "{\"type\": \"ping\", oops".to_owned()),
            ("not an object", "[1, 2]".to_owned()),
            (
                "an unknown type",
                json!({"type": "dance", "ref": "d1"}).to_string(),
            ),
            ("no type", json!({"ref": "n1"}).to_string()),
            (
                "a write without its fields",
                json!({"type": "layout.update", "ref": "u1"}).to_string(),
            ),
            (
                "a ref too long",
                json!({"type": "source.select", "ref": "r".repeat(65), "panel_id": "p1",
                       "source_id": null})
                .to_string(),
            ),
        ];
        for (what, text) in cases {
            client.send_text(&text).await;
            let error = client.recv(WAIT).await;
            assert_eq!(
                (&error["type"], &error["code"]),
                (&json!("error"), &json!("invalid_message")),
                "[{backend}] {what}: {error}"
            );
            assert!(
                error["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{error}"
            );
        }
        // Still open.
        client.send(json!({"type": "ping", "ref": "after"})).await;
        let pong = client.recv(WAIT).await;
        assert_eq!(
            (&pong["type"], &pong["ref"]),
            (&json!("pong"), &json!("after"))
        );

        // A message under the limit is fine; one over it closes the connection with 1009.
        let near = json!({"type": "source.select", "ref": "big-ok", "panel_id": "nope",
                          "source_id": "x".repeat(900)})
        .to_string();
        assert!(near.len() < 1024);
        client.send_text(&near).await;
        let answer = client.recv(WAIT).await;
        assert_eq!(answer["ref"], "big-ok", "[{backend}] {answer}");
        client
            .send(json!({"type": "ping", "ref": "too-big", "pad": "x".repeat(2000)}))
            .await;
        let closing = client.closing(WAIT).await;
        assert_eq!(closing.code, Some(1009), "[{backend}] {closing:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_message_rate_gets_rate_limited_and_stays_connected() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| {
            s.ws_rate_per_sec = 2;
            s.ws_rate_burst = 2;
        })
        .await;
        let backend = app.backend;
        println!("[{backend}]");
        let (host, session) = live_session(&app).await;
        let joined = join(&app, session, &host).await;
        let mut client = WsClient::connect(&joined.ws_url, &joined.ws_token, "flooder").await;
        client
            .until(WAIT, "the welcome", |m| m["type"] == "welcome")
            .await;
        for n in 0..10 {
            client
                .send(json!({"type": "ping", "ref": format!("r{n}")}))
                .await;
        }
        client
            .wait_for(WAIT, "an answer to each ping", |s| {
                s.pongs.len() + s.errors.len() >= 10
            })
            .await;
        let state = &client.state;
        let codes: Vec<&str> = state
            .errors
            .iter()
            .map(|e| e["code"].as_str().unwrap_or("?"))
            .collect();
        assert!(
            codes.iter().all(|c| *c == "rate_limited"),
            "[{backend}] {codes:?}"
        );
        assert!(
            !codes.is_empty() && !state.pongs.is_empty(),
            "[{backend}] {} pongs, {} rate_limited",
            state.pongs.len(),
            codes.len()
        );
        assert_eq!(state.pongs.len() + codes.len(), 10);
        println!(
            "[{backend}] {} pongs, {} rate_limited",
            state.pongs.len(),
            codes.len()
        );
        // After a pause, the client may send again.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        client.send(json!({"type": "ping", "ref": "later"})).await;
        let pong = client
            .until(WAIT, "a pong", |m| {
                m["type"] == "pong" || m["type"] == "error"
            })
            .await;
        assert_eq!(
            (&pong["type"], &pong["ref"]),
            (&json!("pong"), &json!("later")),
            "{pong}"
        );
        client.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_dropped_with_4008_while_a_fast_one_gets_every_event() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| s.ws_queue = 4).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (host, session) = live_session(&app).await;
        let fast_user = member(&app, session, "observer", "observer").await;
        let slow_user = member(&app, session, "observer", "observer").await;
        let jf = join(&app, session, &fast_user).await;
        let js = join(&app, session, &slow_user).await;
        let mut fast = WsClient::welcomed(&jf.ws_url, &jf.ws_token, "fast").await;
        let start = fast.state.position;
        let slow = Stalled::connect(&js.ws_url, &js.ws_token, "slow").await;

        // Big events: 32 panels with long source ids, all of them in every LayoutUpdated.
        let path = format!("/v1/sessions/{session}/layout");
        let add: Vec<_> = (5..=32)
            .map(|i| {
                json!({"id": format!("p{i}"), "x": 0, "y": 0, "w": 1, "h": 1, "z": i,
                       "source_id": format!("{i:03}{}", "s".repeat(125))})
            })
            .collect();
        let grow = json!({"base_version": 1, "changes": {"add": add}});
        app.call(Method::PATCH, &path, Some(&host.token), Some(grow))
            .await
            .assert_status(200);

        // One write at a time over REST, until the stalled client is dropped.
        let started = Instant::now();
        let mut z = 0;
        let dropped = loop {
            for _ in 0..20 {
                z += 1;
                let change = json!({"base_version": 2, "changes": {"panels": {"p1": {"z": z}}}});
                app.call(Method::PATCH, &path, Some(&host.token), Some(change))
                    .await
                    .assert_status(200);
            }
            fast.drain();
            let text = metrics_text(&app.base).await;
            let dropped =
                metric(&text, "livesurgery_ws_slow_consumers_dropped_total").unwrap_or(0.0);
            if dropped >= 1.0 || started.elapsed() > Duration::from_secs(20) {
                break dropped;
            }
        };
        println!(
            "[{backend}] {z} writes in {:?}, slow consumers dropped: {dropped}",
            started.elapsed()
        );
        assert!(
            dropped >= 1.0,
            "[{backend}] the stalled client was never dropped ({z} writes)"
        );

        // Reading again, the slow client finds what the buffers held, then the 4008 close.
        let mut slow = slow.wake();
        let closing = slow.closing(Duration::from_secs(30)).await;
        assert_eq!(closing.code, Some(4008), "[{backend}] {closing:?}");
        assert!(
            slow.state.violations.is_empty(),
            "{:?}",
            slow.state.violations
        );

        // The fast client got every event, the slow client's departure among them.
        let (version, panels) = rest_layout(&app, session).await;
        let events = session_events(&app, session).await;
        let last = *positions(&events).last().expect("events");
        fast.wait_for(Duration::from_secs(20), "every event", |s| {
            s.position >= last
        })
        .await;
        assert!(
            fast.closed.is_none(),
            "[{backend}] the fast client was closed: {:?}",
            fast.closed
        );
        assert!(
            fast.state.violations.is_empty(),
            "{:?}",
            fast.state.violations
        );
        let seen: Vec<u64> = fast
            .state
            .positions()
            .into_iter()
            .filter(|p| *p <= last)
            .collect();
        let expected: Vec<u64> = positions(&events)
            .into_iter()
            .filter(|p| *p > start)
            .collect();
        assert!(
            seen == expected,
            "[{backend}] the fast client missed events ({} of {})",
            seen.len(),
            expected.len()
        );
        assert_eq!(
            (fast.state.layout_version, &fast.state.panels),
            (version, &panels)
        );
        let left = fast
            .state
            .presence_events("ParticipantLeft", &js.participant_id.to_string());
        assert_eq!(left.len(), 1, "[{backend}] {left:?}");
        assert_eq!(left[0]["data"]["reason"], "disconnected", "{}", left[0]);
        fast.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_join_token_closes_the_socket_with_4001_and_the_participant_leaves() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| s.join_token_ttl_secs = 2).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (host, session) = live_session(&app).await;
        let watching = member(&app, session, "observer", "observer").await;
        // The watcher's token is the same but for a later expiry, so that it outlives the other.
        let jw = join(&app, session, &watching).await;
        let long = token_expiring_in(&jw.ws_token, 120);
        let mut watcher = WsClient::welcomed(&jw.ws_url, &long, "watcher").await;

        let joined = join(&app, session, &host).await;
        let exp = crate::api::spawn::jwt_claims(&joined.ws_token)["exp"]
            .as_i64()
            .expect("exp");
        let mut client = WsClient::welcomed(&joined.ws_url, &joined.ws_token, "expiring").await;
        let closing = client.closing(Duration::from_secs(6)).await;
        let closed_at = chrono::Utc::now().timestamp_millis();
        assert_eq!(closing.code, Some(4001), "[{backend}] {closing:?}");
        assert!(
            closed_at >= exp * 1000 - 1000,
            "[{backend}] closed at {closed_at} ms, the token expires at {exp} s"
        );
        let pid = joined.participant_id.to_string();
        let event = watcher
            .until(WAIT, "the ParticipantLeft", |m| {
                m["event_type"] == "ParticipantLeft" && m["data"]["participant_id"] == pid.as_str()
            })
            .await;
        assert_eq!(
            event["data"]["reason"], "token_expired",
            "[{backend}] {event}"
        );
        assert!(watcher.closed.is_none());
        watcher.close().await;
    }
}
