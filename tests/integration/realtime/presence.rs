//! The start of a connection (`welcome`) and presence: who is in the session, as every client
//! sees it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Stalled, WsClient};
use super::{DEVICE, Joined, join, live_session, member, wait_metric};
use crate::api::spawn::{Answer, TestApp, spawn_app, spawn_app_with};
use crate::helpers::all_backends;

const WAIT: Duration = Duration::from_secs(10);

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("an array: {value}"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

/// The participant ids `GET /v1/sessions/{id}/participants` lists, read after every write.
async fn listed_participants(app: &TestApp, session: uuid::Uuid) -> BTreeSet<String> {
    let head = app.head().await;
    let request = app
        .request(
            Method::GET,
            &format!("/v1/sessions/{session}/participants"),
            Some(&app.admin_token),
        )
        .header("x-min-position", head.to_string());
    let listed = Answer::of(request).await;
    listed.assert_status(200);
    listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["participant_id"].as_str().expect("an id").to_owned())
        .collect()
}

/// The `ParticipantLeft` of `who` as `client` receives it.
async fn left(client: &mut WsClient, who: &Joined) -> Value {
    let pid = who.participant_id.to_string();
    client
        .until(WAIT, "ParticipantLeft", |m| {
            m["event_type"] == "ParticipantLeft" && m["data"]["participant_id"] == pid.as_str()
        })
        .await
}

/// The `ParticipantJoined` of `who` as `client` receives it.
async fn joined_event(client: &mut WsClient, who: &Joined) -> Value {
    let pid = who.participant_id.to_string();
    client
        .until(WAIT, "ParticipantJoined", |m| {
            m["event_type"] == "ParticipantJoined" && m["data"]["participant_id"] == pid.as_str()
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_message_is_a_welcome_with_the_session_as_of_its_position() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (host, session) = live_session(&app).await;
        let surgeon = member(&app, session, "surgeon", "surgeon").await;
        let observer = member(&app, session, "observer", "observer").await;
        let joined = join(&app, session, &surgeon).await;

        // A client that sends nothing gets its welcome after the resume wait.
        let mut client = WsClient::connect(&joined.ws_url, &joined.ws_token, "silent").await;
        let welcome = client.recv(WAIT).await;
        let head = app.head().await;
        assert_eq!(welcome["type"], "welcome", "[{backend}] {welcome}");
        assert_eq!(welcome["protocol"], 1, "{welcome}");
        assert_eq!(welcome["reason"], "connect", "{welcome}");
        assert_eq!(welcome["participant_id"], joined.participant_id.to_string());
        assert_eq!(welcome["user_id"], surgeon.id.to_string(), "{welcome}");
        assert_eq!(welcome["role"], "surgeon", "{welcome}");
        assert_eq!(welcome["role"], joined.role.as_str(), "{welcome}");
        assert_eq!(
            strings(&welcome["permissions"]),
            joined.permissions.iter().cloned().collect(),
            "{welcome}"
        );
        assert_eq!(
            strings(&welcome["permissions"]),
            ["edit_layout", "publish", "subscribe"]
                .map(String::from)
                .into(),
            "{welcome}"
        );
        let position = welcome["position"].as_u64().expect("a position");
        assert!(
            joined.position <= position && position <= head,
            "[{backend}] welcome position {position} not in [{}, {head}]",
            joined.position
        );
        assert_eq!(welcome["heartbeat_timeout_ms"], 30_000, "{welcome}");
        let interval = welcome["heartbeat_interval_ms"].as_u64().expect("interval");
        assert!(interval > 0 && interval < 30_000, "{welcome}");

        let s = &welcome["session"];
        assert_eq!(s["session_id"], session.to_string(), "{welcome}");
        assert_eq!(s["title"], "Laparoscopic cholecystectomy", "{welcome}");
        assert_eq!(s["status"], "live", "{welcome}");
        let members: BTreeSet<(String, String)> = s["members"]
            .as_array()
            .expect("members")
            .iter()
            .map(|m| (m["user_id"].to_string(), m["role"].to_string()))
            .collect();
        let expected: BTreeSet<(String, String)> = [
            (host.id, "host"),
            (surgeon.id, "surgeon"),
            (observer.id, "observer"),
        ]
        .into_iter()
        .map(|(id, role)| (json!(id).to_string(), json!(role).to_string()))
        .collect();
        assert_eq!(members, expected, "[{backend}] {welcome}");
        let participants = s["participants"].as_array().expect("participants");
        assert_eq!(participants.len(), 1, "only the surgeon joined: {welcome}");
        assert_eq!(
            participants[0],
            json!({
                "participant_id": joined.participant_id, "user_id": surgeon.id,
                "role": "surgeon", "device": DEVICE,
            }),
            "{welcome}"
        );
        let panels: Vec<Value> = (0..4)
            .map(|i| {
                json!({"id": format!("p{}", i + 1), "x": (i % 2) * 6, "y": (i / 2) * 6,
                       "w": 6, "h": 6, "z": 0, "source_id": null})
            })
            .collect();
        assert_eq!(
            s["layout"],
            json!({"version": 1, "panels": panels}),
            "{welcome}"
        );
        assert_eq!(s["sources"], json!([]), "{welcome}");
        assert_eq!(
            s["recording"],
            json!({"status": "idle", "recording_id": null}),
            "{welcome}"
        );
        client.close().await;

        // A client that pings first gets its welcome, then the pong.
        let joined = join(&app, session, &observer).await;
        let mut client = WsClient::connect(&joined.ws_url, &joined.ws_token, "pinging").await;
        client.send(json!({"type": "ping", "ref": "first"})).await;
        let welcome = client.recv(WAIT).await;
        assert_eq!(welcome["type"], "welcome", "[{backend}] {welcome}");
        assert_eq!(welcome["role"], "observer", "{welcome}");
        assert_eq!(
            strings(&welcome["permissions"]),
            ["subscribe".to_owned()].into()
        );
        let pong = client.recv(WAIT).await;
        assert_eq!(pong["type"], "pong", "[{backend}] {pong}");
        assert_eq!(pong["ref"], "first", "{pong}");
        let time = pong["time"].as_str().expect("a time");
        chrono::DateTime::parse_from_rfc3339(time).expect("RFC 3339");
        // A ping without a ref gets a pong with a null ref.
        client.send(json!({"type": "ping"})).await;
        let pong = client.recv(WAIT).await;
        assert_eq!(
            (&pong["type"], &pong["ref"]),
            (&json!("pong"), &Value::Null)
        );
        client.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_are_two_participants_and_everyone_sees_a_clean_close_as_left() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (_host, session) = live_session(&app).await;
        let user = member(&app, session, "surgeon", "surgeon").await;
        let third = member(&app, session, "observer", "observer").await;
        let jw = join(&app, session, &third).await;
        let mut watcher = WsClient::welcomed(&jw.ws_url, &jw.ws_token, "watcher").await;

        // Two tabs of one user: two joins, two participants.
        let tab1 = join(&app, session, &user).await;
        let tab2 = join(&app, session, &user).await;
        assert_ne!(tab1.participant_id, tab2.participant_id);
        let c1 = WsClient::welcomed(&tab1.ws_url, &tab1.ws_token, "tab 1").await;
        let mut c2 = WsClient::welcomed(&tab2.ws_url, &tab2.ws_token, "tab 2").await;
        let (p1, p2) = (
            tab1.participant_id.to_string(),
            tab2.participant_id.to_string(),
        );
        for client in [&c1, &c2] {
            let present = &client.state.participants;
            assert!(
                present.contains_key(&p1) && present.contains_key(&p2),
                "[{backend}] {}: {present:?}",
                client.label
            );
            assert_eq!(present[&p1]["user_id"], present[&p2]["user_id"]);
        }
        let (a, b) = (
            joined_event(&mut watcher, &tab1).await,
            joined_event(&mut watcher, &tab2).await,
        );
        assert_eq!(a["data"]["user_id"], user.id.to_string(), "{a}");
        assert_eq!(b["data"]["user_id"], user.id.to_string(), "{b}");
        let listed = listed_participants(&app, session).await;
        assert!(listed.contains(&p1) && listed.contains(&p2), "{listed:?}");

        // A clean close of tab 1: the other tab and the third user see it leave.
        c1.close().await;
        for client in [&mut c2, &mut watcher] {
            let event = left(client, &tab1).await;
            assert_eq!(event["data"]["reason"], "left", "[{backend}] {event}");
            assert_eq!(event["data"]["user_id"], user.id.to_string(), "{event}");
            assert!(!client.state.participants.contains_key(&p1));
            assert!(client.state.participants.contains_key(&p2));
        }
        let listed = listed_participants(&app, session).await;
        assert!(!listed.contains(&p1) && listed.contains(&p2), "{listed:?}");

        // Tab 1 comes back with the same token: it is present again for everyone.
        let mut c1 = WsClient::welcomed(&tab1.ws_url, &tab1.ws_token, "tab 1 again").await;
        assert!(
            c1.state.participants.contains_key(&p1),
            "[{backend}] the welcome after a rejoin lists the participant: {:?}",
            c1.state.welcome
        );
        for client in [&mut c2, &mut watcher] {
            let event = joined_event(client, &tab1).await;
            assert_eq!(event["data"]["role"], "surgeon", "[{backend}] {event}");
        }
        let listed = listed_participants(&app, session).await;
        assert!(listed.contains(&p1), "{listed:?}");

        // A second connection of the same participant on this server replaces the first
        // (4009); the participant stays: the next ParticipantLeft of it is the clean close
        // of the new connection.
        let mut c1b = WsClient::welcomed(&tab1.ws_url, &tab1.ws_token, "tab 1 replacing").await;
        let closing = c1.closing(WAIT).await;
        assert_eq!(closing.code, Some(4009), "[{backend}] {closing:?}");
        c1b.send(json!({"type": "ping", "ref": "still here"})).await;
        c1b.until(WAIT, "pong", |m| m["type"] == "pong").await;
        c1b.close().await;
        let event = left(&mut watcher, &tab1).await;
        assert_eq!(event["data"]["reason"], "left", "[{backend}] {event}");
        assert_eq!(
            watcher.state.presence_events("ParticipantLeft", &p1).len(),
            2,
            "[{backend}] one ParticipantLeft per real departure: {:?}",
            watcher.state.presence_events("ParticipantLeft", &p1)
        );

        c2.close().await;
        watcher.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_answering_times_out_and_others_see_it_leave() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| s.ws_heartbeat_timeout_secs = 2).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (_host, session) = live_session(&app).await;
        let watching = member(&app, session, "observer", "observer").await;
        let jw = join(&app, session, &watching).await;
        let mut watcher = WsClient::welcomed(&jw.ws_url, &jw.ws_token, "watcher").await;
        let welcome = watcher.state.welcome.clone().expect("a welcome");
        assert_eq!(welcome["heartbeat_timeout_ms"], 2000, "{welcome}");
        let interval = welcome["heartbeat_interval_ms"].as_u64().expect("interval");
        assert!(interval > 0 && interval < 2000, "{welcome}");

        let silent = member(&app, session, "surgeon", "surgeon").await;
        let js = join(&app, session, &silent).await;
        // Keeps the TCP connection open but reads nothing: no pong ever goes back.
        let stalled = Stalled::connect(&js.ws_url, &js.ws_token, "silent").await;
        let connected = Instant::now();
        let event = watcher
            .until(
                Duration::from_secs(8),
                "the silent client's ParticipantLeft",
                |m| {
                    m["event_type"] == "ParticipantLeft"
                        && m["data"]["participant_id"] == js.participant_id.to_string().as_str()
                },
            )
            .await;
        let after = connected.elapsed();
        assert_eq!(event["data"]["reason"], "timed_out", "[{backend}] {event}");
        assert!(
            after >= Duration::from_millis(1800) && after <= Duration::from_secs(5),
            "[{backend}] timed out after {after:?}, with a 2 s timeout"
        );
        // The watcher answered the server's pings all along: it is still connected.
        watcher.send(json!({"type": "ping", "ref": "alive"})).await;
        watcher.until(WAIT, "pong", |m| m["type"] == "pong").await;
        assert!(watcher.closed.is_none());

        let mut silent_client = stalled.wake();
        let closing = silent_client.closing(WAIT).await;
        assert_eq!(closing.code, Some(4010), "[{backend}] {closing:?}");
        wait_metric(
            &app.base,
            "livesurgery_ws_presence_timeouts_total",
            1.0,
            Duration::from_secs(5),
        )
        .await;
        watcher.close().await;
    }
}
