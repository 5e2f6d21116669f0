//! Teaching over the WebSocket: strokes reach every screen in log order with their frame
//! coordinates, the limits refuse with the error envelope and leave the socket open, chat,
//! questions and hands follow the host's switches, and replay shows the strokes of a moment.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use super::client::WsClient;
use super::{join, live_session, member, session_events};
use crate::api::spawn::{TestApp, TestUser, spawn_app};
use crate::helpers::all_backends;

const WAIT: Duration = Duration::from_secs(10);

/// A connected, welcomed participant of `user`.
async fn connect(app: &TestApp, session: Uuid, user: &TestUser, label: &str) -> WsClient {
    let joined = join(app, session, user).await;
    WsClient::welcomed(&joined.ws_url, &joined.ws_token, label).await
}

/// `annotation.stroke` of `points` on panel p1.
fn stroke(reference: &str, kind: &str, points: Value, color: &str, pinned: bool) -> Value {
    json!({"type": "annotation.stroke", "ref": reference, "stroke_id": Uuid::now_v7(),
           "panel_id": "p1", "source_id": "endoscope", "media_time_ms": 81234,
           "kind": kind, "points": points, "color": color, "width": 0.004, "pinned": pinned})
}

/// Waits for the answer to `reference`: its `ack` or `error`.
async fn answer(client: &mut WsClient, reference: &str) -> Value {
    client
        .wait_for(WAIT, reference, |s| s.answered(reference))
        .await;
    let state = &client.state;
    state
        .acks
        .get(reference)
        .or_else(|| state.error_for(reference))
        .cloned()
        .expect("answered")
}

/// Sends `message` and returns its `error`, asserting it is one with this code.
async fn refused(client: &mut WsClient, message: Value, code: &str) -> Value {
    let reference = message["ref"].as_str().expect("a ref").to_owned();
    client.send(message).await;
    let error = answer(client, &reference).await;
    assert_eq!(
        (&error["type"], &error["code"]),
        (&json!("error"), &json!(code)),
        "{reference}: {error}"
    );
    error
}

/// Sends `message` and asserts its `ack`.
async fn accepted(client: &mut WsClient, message: Value) -> Value {
    let reference = message["ref"].as_str().expect("a ref").to_owned();
    client.send(message).await;
    let ack = answer(client, &reference).await;
    assert_eq!(ack["type"], "ack", "{reference}: {ack}");
    ack
}

/// Asserts the socket is open: a ping gets its pong.
async fn still_open(client: &mut WsClient, reference: &str) {
    client.send(json!({"type": "ping", "ref": reference})).await;
    client
        .wait_for(WAIT, "the pong", |s| {
            s.pongs.iter().any(|p| p["ref"] == reference)
        })
        .await;
}

/// Whether two JSON arrays of points hold the same numbers, to the last bits a JSON number
/// parser may round differently.
fn same_points(a: &Value, b: &Value) -> bool {
    let flat = |v: &Value| -> Vec<f64> {
        v.as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p.as_array().cloned().unwrap_or_default())
            .filter_map(|n| n.as_f64())
            .collect()
    };
    let (a, b) = (flat(a), flat(b));
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-12)
}

/// Sends `strokes` one after the other without waiting, then waits for every answer.
async fn draw(client: &mut WsClient, strokes: Vec<Value>) {
    let refs: Vec<String> = strokes
        .iter()
        .map(|s| s["ref"].as_str().unwrap_or_default().to_owned())
        .collect();
    for s in strokes {
        client.send(s).await;
    }
    client
        .wait_for(WAIT, "every stroke answered", |s| {
            refs.iter().all(|r| s.answered(r))
        })
        .await;
}

/// The `count`-th event of this type the client received (1-based), waiting for it; events read
/// while waiting for an answer count too.
async fn nth_event(client: &mut WsClient, event_type: &str, count: usize) -> Value {
    client
        .wait_for(WAIT, event_type, |s| {
            s.events
                .iter()
                .filter(|e| e["event_type"] == event_type)
                .count()
                >= count
        })
        .await;
    events_of(client, event_type)[count - 1].clone()
}

/// The `event` messages of this type a client received, in order.
fn events_of<'a>(client: &'a WsClient, event_type: &str) -> Vec<&'a Value> {
    client
        .state
        .events
        .iter()
        .filter(|e| e["event_type"] == event_type)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_mentors_drawing_at_once_reach_a_third_screen_in_log_order_with_frame_coordinates() {
    const EACH: usize = 12;
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (host, session) = live_session(&app).await;
        let mentor = member(&app, session, "surgeon", "surgeon").await;
        let watcher = member(&app, session, "observer", "observer").await;
        let mut a = connect(&app, session, &host, "host").await;
        let mut b = connect(&app, session, &mentor, "mentor").await;
        let mut c = connect(&app, session, &watcher, "watcher").await;

        // Shapes simplification keeps as they are: corners far apart, or two points.
        let shape = |who: usize, n: usize| -> (String, Value) {
            let x = 0.05 + n as f64 * 0.07;
            let y = if who == 0 { 0.2 } else { 0.7 };
            match n % 3 {
                0 => ("arrow".into(), json!([[x, y], [x + 0.05, y + 0.1]])),
                1 => ("circle".into(), json!([[x, y], [x + 0.03, y]])),
                _ => (
                    "freehand".into(),
                    json!([[x, y], [x + 0.02, y + 0.15], [x + 0.04, y]]),
                ),
            }
        };
        let sent = |who: usize| -> Vec<Value> {
            (0..EACH)
                .map(|n| {
                    let (kind, points) = shape(who, n);
                    let color = if who == 0 { "#e6194b" } else { "#3CB44B" };
                    stroke(&format!("d{who}-{n}"), &kind, points, color, n == 0)
                })
                .collect()
        };
        let (from_a, from_b) = (sent(0), sent(1));
        // Both draw at once: each sends its strokes without waiting for answers.
        tokio::join!(draw(&mut a, from_a.clone()), draw(&mut b, from_b.clone()));
        assert!(
            a.state.errors.is_empty(),
            "[{backend}] {:?}",
            a.state.errors
        );
        assert!(
            b.state.errors.is_empty(),
            "[{backend}] {:?}",
            b.state.errors
        );

        c.wait_for(WAIT, "both mentors' strokes", |s| {
            s.events
                .iter()
                .filter(|e| e["event_type"] == "AnnotationStroke")
                .count()
                == 2 * EACH
        })
        .await;
        let seen = events_of(&c, "AnnotationStroke");
        // Each drawer's strokes in the order drawn, interleaved as the log has them.
        for (who, strokes, user) in [(0, &from_a, host.id), (1, &from_b, mentor.id)] {
            let theirs: Vec<&&Value> = seen
                .iter()
                .filter(|e| e["data"]["user_id"] == user.to_string())
                .collect();
            assert_eq!(theirs.len(), EACH, "[{backend}] drawer {who}");
            for (event, sent) in theirs.iter().zip(strokes) {
                let data = &event["data"];
                assert_eq!(data["stroke_id"], sent["stroke_id"], "[{backend}] order");
                assert!(
                    same_points(&data["points"], &sent["points"]),
                    "[{backend}] {data} from {sent}"
                );
                assert_eq!(data["kind"], sent["kind"]);
                assert_eq!(data["panel_id"], "p1");
                assert_eq!(data["source_id"], "endoscope");
                assert_eq!(data["media_time_ms"], 81234);
                assert_eq!(
                    data["color"],
                    sent["color"].as_str().unwrap().to_ascii_lowercase()
                );
                assert_eq!(event["actor"]["user_id"], user.to_string());
            }
        }
        let positions: Vec<u64> = seen
            .iter()
            .map(|e| e["position"].as_u64().unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert!(c.state.violations.is_empty(), "{:?}", c.state.violations);
        // The audit trail holds the same strokes in the same order.
        let trail: Vec<Value> = session_events(&app, session)
            .await
            .into_iter()
            .filter(|e| e["type"] == "AnnotationStroke")
            .map(|e| e["position"].clone())
            .collect();
        assert_eq!(
            trail,
            positions.iter().map(|p| json!(p)).collect::<Vec<_>>(),
            "[{backend}] the audit trail lists the strokes as pushed"
        );
        // A latecomer's welcome holds them (the drawers' pinned first strokes at least:
        // unpinned ones fade after 8 s).
        let late = member(&app, session, "surgeon", "observer").await;
        let d = connect(&app, session, &late, "latecomer").await;
        let welcome = d.state.welcome.clone().expect("a welcome");
        let strokes = welcome["session"]["teaching"]["strokes"]
            .as_array()
            .expect("strokes")
            .clone();
        assert!(
            strokes.len() >= 2 && strokes.len() <= 2 * EACH,
            "[{backend}] {}",
            strokes.len()
        );
        assert!(
            strokes
                .iter()
                .any(|s| s["stroke_id"] == from_a[0]["stroke_id"])
        );
        assert!(
            strokes
                .iter()
                .any(|s| s["stroke_id"] == from_b[0]["stroke_id"])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_stroke_bad_fields_and_a_pointer_flood_are_refused_and_the_socket_stays_open()
{
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (host, session) = live_session(&app).await;
        let mut client = connect(&app, session, &host, "host").await;

        let too_many = json!(vec![[0.5, 0.5]; 2049]);
        let error = refused(
            &mut client,
            stroke("big", "freehand", too_many, "#ff0000", false),
            "stroke_too_large",
        )
        .await;
        assert!(
            error["message"].as_str().unwrap().contains("2048"),
            "{error}"
        );
        let error = refused(
            &mut client,
            stroke(
                "off",
                "freehand",
                json!([[0.1, 0.1], [1.5, 0.2]]),
                "#ff0000",
                false,
            ),
            "validation_failed",
        )
        .await;
        assert!(
            error["message"].as_str().unwrap().contains("points"),
            "{error}"
        );
        let error = refused(
            &mut client,
            stroke(
                "red",
                "arrow",
                json!([[0.1, 0.1], [0.2, 0.2]]),
                "red",
                false,
            ),
            "validation_failed",
        )
        .await;
        assert!(
            error["message"].as_str().unwrap().contains("color"),
            "{error}"
        );
        refused(
            &mut client,
            json!({"type": "annotation.stroke", "ref": "shape", "stroke_id": Uuid::now_v7(),
                   "panel_id": "p1", "source_id": null, "media_time_ms": null,
                   "kind": "square", "points": [[0.1, 0.1], [0.2, 0.2]], "color": "#000000",
                   "width": 0.01, "pinned": false}),
            "invalid_message",
        )
        .await;
        still_open(&mut client, "after-refusals").await;

        // A dense stroke of 2048 raw points is simplified to at most 256 before it is written.
        // (Coordinates to 5 decimals, as clients send them: 2048 points at full precision
        // would pass the 64 KiB message limit, which closes the socket with 1009.)
        let round = |v: f64| (v * 1e5).round() / 1e5;
        let wave: Vec<[f64; 2]> = (0..2048)
            .map(|i| {
                let t = i as f64 / 2047.0;
                [round(t), round(0.5 + 0.3 * (t * 60.0).sin())]
            })
            .collect();
        accepted(
            &mut client,
            stroke("wave", "freehand", json!(wave), "#0000ff", false),
        )
        .await;
        let written = nth_event(&mut client, "AnnotationStroke", 1).await;
        let points = written["data"]["points"].as_array().expect("points");
        assert!(
            (2..=256).contains(&points.len()),
            "[{backend}] {} points written",
            points.len()
        );
        assert!(same_points(
            &json!([points[0], points[points.len() - 1]]),
            &json!([wave[0], wave[2047]])
        ));

        // A flood of pointer batches: past the burst of 10 they are refused, the socket stays.
        let flood = 30;
        for n in 0..flood {
            client
                .send(json!({"type": "pointer.move", "ref": format!("pt{n}"),
                             "panel_id": "p1", "source_id": null,
                             "points": [[0.5, 0.5, 0], [0.51, 0.5, 100]]}))
                .await;
        }
        client
            .wait_for(WAIT, "every pointer batch answered", |s| {
                (0..flood).all(|n| s.answered(&format!("pt{n}")))
            })
            .await;
        let limited = (0..flood)
            .filter(|n| {
                client
                    .state
                    .error_for(&format!("pt{n}"))
                    .is_some_and(|e| e["code"] == "rate_limited")
            })
            .count();
        let acked = (0..flood)
            .filter(|n| client.state.acks.contains_key(&format!("pt{n}")))
            .count();
        assert_eq!(
            limited + acked,
            flood,
            "[{backend}] {:?}",
            client.state.errors
        );
        assert!(
            (10..=13).contains(&acked),
            "[{backend}] the burst of 10 (and what refilled meanwhile) passes: {acked}"
        );
        still_open(&mut client, "after-flood").await;
        assert!(client.closed.is_none(), "{:?}", client.closed);
        // The refused batches wrote nothing.
        client.pump_for(Duration::from_millis(300)).await;
        assert_eq!(events_of(&client, "PointerMoved").len(), acked);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_questions_and_hands_follow_the_hosts_switches() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (host_user, session) = live_session(&app).await;
        let surgeon_user = member(&app, session, "surgeon", "surgeon").await;
        let observer_user = member(&app, session, "observer", "observer").await;
        let mut host = connect(&app, session, &host_user, "host").await;
        let mut surgeon = connect(&app, session, &surgeon_user, "surgeon").await;
        let mut observer = connect(&app, session, &observer_user, "observer").await;

        // Observers chat (with mentions) by default.
        let message_id = Uuid::now_v7();
        accepted(
            &mut observer,
            json!({"type": "chat.post", "ref": "c1", "message_id": message_id,
                   "text": "Is that the\ncystic artery?", "mentions": [host_user.id]}),
        )
        .await;
        let posted = nth_event(&mut host, "ChatMessagePosted", 1).await;
        assert_eq!(posted["data"]["text"], "Is that the\ncystic artery?");
        assert_eq!(posted["data"]["mentions"], json!([host_user.id]));
        assert_eq!(posted["data"]["user_id"], observer_user.id.to_string());
        refused(
            &mut observer,
            json!({"type": "chat.post", "ref": "c2", "message_id": Uuid::now_v7(),
                   "text": "hi", "mentions": [Uuid::now_v7()]}),
            "validation_failed",
        )
        .await;

        // The host switches observer chat off: the observer is refused, the surgeon is not.
        refused(
            &mut surgeon,
            json!({"type": "teaching.settings", "ref": "t0", "observer_chat": false}),
            "forbidden",
        )
        .await;
        accepted(
            &mut host,
            json!({"type": "teaching.settings", "ref": "t1", "observer_chat": false}),
        )
        .await;
        nth_event(&mut observer, "TeachingSettingsChanged", 1).await;
        let error = refused(
            &mut observer,
            json!({"type": "chat.post", "ref": "c3", "message_id": Uuid::now_v7(),
                   "text": "still there?", "mentions": []}),
            "forbidden",
        )
        .await;
        assert!(
            error["message"].as_str().unwrap().contains("chat"),
            "{error}"
        );
        accepted(
            &mut surgeon,
            json!({"type": "chat.post", "ref": "c4", "message_id": Uuid::now_v7(),
                   "text": "yes", "mentions": []}),
        )
        .await;

        // Observers annotate only once the host allows it.
        let arrow = |r| {
            stroke(
                r,
                "arrow",
                json!([[0.1, 0.1], [0.3, 0.3]]),
                "#911eb4",
                false,
            )
        };
        refused(&mut observer, arrow("s1"), "forbidden").await;
        accepted(
            &mut host,
            json!({"type": "teaching.settings", "ref": "t2", "observers_may_annotate": true}),
        )
        .await;
        let second = nth_event(&mut observer, "TeachingSettingsChanged", 2).await;
        assert_eq!(
            second["data"],
            json!({"session_id": session, "observers_may_annotate": true})
        );
        accepted(&mut observer, arrow("s2")).await;
        refused(
            &mut observer,
            json!({"type": "annotation.clear", "ref": "x1", "scope": "all", "panel_id": null}),
            "forbidden",
        )
        .await;

        // Questions and hands: asked and raised by the observer, answered and lowered by the
        // host only.
        let question_id = Uuid::now_v7();
        accepted(
            &mut observer,
            json!({"type": "question.ask", "ref": "q1", "question_id": question_id,
                   "text": "Which plane do you dissect in?"}),
        )
        .await;
        accepted(&mut observer, json!({"type": "hand.raise", "ref": "h1"})).await;
        refused(
            &mut observer,
            json!({"type": "hand.raise", "ref": "h2"}),
            "already_raised",
        )
        .await;
        refused(
            &mut surgeon,
            json!({"type": "question.answer", "ref": "q2", "question_id": question_id}),
            "forbidden",
        )
        .await;
        refused(
            &mut surgeon,
            json!({"type": "hand.lower", "ref": "h3", "user_id": observer_user.id}),
            "forbidden",
        )
        .await;
        accepted(
            &mut host,
            json!({"type": "question.answer", "ref": "q3", "question_id": question_id}),
        )
        .await;
        refused(
            &mut host,
            json!({"type": "question.answer", "ref": "q4", "question_id": question_id}),
            "no_change",
        )
        .await;

        // What a new connection is told, as of now.
        let welcome = connect(&app, session, &observer_user, "observer again")
            .await
            .state
            .welcome
            .expect("a welcome");
        let teaching = &welcome["session"]["teaching"];
        assert_eq!(teaching["settings"]["observer_chat"], false, "[{backend}]");
        assert_eq!(teaching["settings"]["observers_may_annotate"], true);
        assert_eq!(teaching["settings"]["stroke_fade_ms"], 8000);
        let chat = teaching["chat"].as_array().expect("chat");
        assert_eq!(chat.len(), 2);
        assert_eq!(chat[0]["message_id"], message_id.to_string());
        assert_eq!(
            teaching["questions"][0]["question_id"],
            question_id.to_string()
        );
        assert!(
            teaching["questions"][0]["answered_at"].is_string(),
            "{teaching}"
        );
        assert_eq!(
            teaching["hands"],
            json!([{"user_id": observer_user.id, "raised_at": teaching["hands"][0]["raised_at"]}])
        );

        accepted(
            &mut host,
            json!({"type": "hand.lower", "ref": "h4", "user_id": observer_user.id}),
        )
        .await;
        refused(
            &mut observer,
            json!({"type": "hand.lower", "ref": "h5"}),
            "not_found",
        )
        .await;
        for client in [&mut host, &mut surgeon, &mut observer] {
            still_open(client, "end").await;
        }
        // The audit trail lists what was written, chat text included (reviewers read it), and
        // the refusals of what a role may not do, like any refused write.
        let trail = app
            .all_pages(&format!("/v1/sessions/{session}/events"), &app.admin_token)
            .await;
        let types: Vec<&str> = trail.iter().filter_map(|e| e["type"].as_str()).collect();
        for written in [
            "ChatMessagePosted",
            "TeachingSettingsChanged",
            "AnnotationStroke",
            "QuestionAsked",
            "HandRaised",
            "QuestionAnswered",
            "HandLowered",
        ] {
            assert!(
                types.contains(&written),
                "[{backend}] no {written} in {types:?}"
            );
        }
        let chat = trail
            .iter()
            .find(|e| e["type"] == "ChatMessagePosted")
            .expect("the chat message");
        assert_eq!(chat["data"]["text"], "Is that the\ncystic artery?");
        assert_eq!(chat["actor_user_id"], observer_user.id.to_string());
        let denied = types.iter().filter(|t| **t == "AccessDenied").count();
        assert!(denied >= 4, "[{backend}] {denied} refusals recorded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_at_a_moment_shows_the_strokes_then_present_and_not_after_they_were_cleared() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        println!("[{backend}]");
        let (host_user, session) = live_session(&app).await;
        let mut host = connect(&app, session, &host_user, "host").await;
        accepted(
            &mut host,
            stroke(
                "a1",
                "arrow",
                json!([[0.25, 0.75], [0.5, 0.5]]),
                "#f58231",
                false,
            ),
        )
        .await;
        let drawn = nth_event(&mut host, "AnnotationStroke", 1).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        accepted(
            &mut host,
            json!({"type": "annotation.clear", "ref": "x", "scope": "all", "panel_id": null}),
        )
        .await;

        let at = drawn["time"].as_str().expect("the event's time");
        let then = app
            .get(
                &format!("/v1/sessions/{session}/state?at={}", at.replace('+', "%2B")),
                &app.admin_token,
            )
            .await;
        then.assert_status(200);
        let strokes = then.body["teaching"]["strokes"]
            .as_array()
            .expect("strokes");
        assert_eq!(strokes.len(), 1, "[{backend}] {}", then.body);
        assert_eq!(strokes[0]["points"], json!([[0.25, 0.75], [0.5, 0.5]]));
        assert_eq!(strokes[0]["kind"], "arrow");
        assert_eq!(strokes[0]["drawn_at"], at);
        assert_eq!(strokes[0]["user_id"], host_user.id.to_string());

        let now = app
            .get(&format!("/v1/sessions/{session}/state"), &app.admin_token)
            .await;
        now.assert_status(200);
        assert_eq!(now.body["teaching"]["strokes"], json!([]), "[{backend}]");
    }
}
