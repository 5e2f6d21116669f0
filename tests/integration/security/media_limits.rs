//! The SFU's resource limits and media cut-off (issues 16 and 19), black-box against a real
//! server: the slot limit on the WHEP SDP path, per-participant and per-session caps on peers,
//! a setup timeout for peers that never connect, SDP errors without internals, media cut when
//! its SFU token expires or its user is deactivated (seen stopping by a real aiortc peer), and
//! presence that counts media: a viewer whose WebSocket closed but whose WHEP plays stays
//! present, watching.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::spawn::{Answer, TestApp, TestUser, jwt_claims, spawn_app, spawn_app_with};
use crate::helpers::all_backends;
use crate::realtime::client::WsClient;
use crate::realtime::{
    join, live_session, member, metric, metrics_text, session_events, token_expiring_in,
    wait_metric,
};
use crate::sfu::support::{Peer, Sfu, is, listing, wait_for_event, webrtc_ready};

/// Frames per second of the test publishers: a `frame` line every half second at the
/// subscriber's default (every 10th frame).
const FPS: u32 = 20;
/// How long to wait for what should come at once.
const WAIT: Duration = Duration::from_secs(10);
/// Established media must stop within this of its cut-off.
const CUT_WITHIN: Duration = Duration::from_secs(1);

/// A recvonly offer with `video` VP8 m-lines, BUNDLEd, as a WHEP client sends it.
fn recvonly_offer(video: usize) -> String {
    let mids: Vec<String> = (0..video).map(|i| i.to_string()).collect();
    let mut sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE {}\r\n\
         a=msid-semantic: WMS\r\n",
        mids.join(" ")
    );
    for mid in &mids {
        sdp.push_str(&format!(
            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\n\
             a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
             a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:\
             44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
             a=setup:actpass\r\na=mid:{mid}\r\na=recvonly\r\na=rtcp-mux\r\n\
             a=rtpmap:96 VP8/90000\r\n"
        ));
    }
    sdp
}

/// POSTs an SDP offer to a WHIP/WHEP URL with the SFU token.
async fn offer(app: &TestApp, url: &str, token: &str, body: &str) -> Answer {
    let request = app
        .client
        .post(url)
        .header("content-type", "application/sdp")
        .bearer_auth(token)
        .body(body.to_owned());
    Answer::of(request).await
}

/// The session's subscriptions as `GET /media` lists them.
async fn subscriptions(app: &TestApp, session: Uuid, token: &str) -> Vec<Value> {
    let media = app
        .get(&format!("/v1/sessions/{session}/media"), token)
        .await;
    media.assert_status(200);
    media.body["subscriptions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whep_offer_with_150_video_m_lines_is_refused_with_too_many_slots() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        let (host, session) = live_session(&app).await;
        let sfu = Sfu::of(&join(&app, session, &host).await);

        let flood = offer(&app, &sfu.whep_url, &sfu.token, &recvonly_offer(150)).await;
        flood.assert_error(400, "too_many_slots");
        assert!(
            subscriptions(&app, session, &host.token).await.is_empty(),
            "[{backend}] a refused offer left a subscription"
        );
        // The same offer with the most slots allowed is answered: the refusal is the count.
        offer(&app, &sfu.whep_url, &sfu.token, &recvonly_offer(16))
            .await
            .assert_status(201);
        let listed = subscriptions(&app, session, &host.token).await;
        assert_eq!(listed.len(), 1, "[{backend}] {listed:?}");
        assert_eq!(listed[0]["slots"].as_array().map(Vec::len), Some(16));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdp_parse_error_carries_no_internal_representation() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let (host, session) = live_session(&app).await;
        let sfu = Sfu::of(&join(&app, session, &host).await);
        for (url, body) in [
            (format!("{}?source=endoscope", sfu.whip_url), "v=0\r\n"),
            (sfu.whep_url.clone(), "v=0\r\nm=video x\r\n"),
        ] {
            let answer = offer(&app, &url, &sfu.token, body).await;
            answer.assert_error(400, "invalid_sdp");
            assert_eq!(
                answer.body["error"]["message"], "the offer is not valid SDP",
                "[{}] {}",
                app.backend, answer.text
            );
            for leak in ["PointerOffset", "0x", "Parse error"] {
                assert!(!answer.text.contains(leak), "{leak:?} in {}", answer.text);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_participant_cannot_hold_more_peers_than_its_cap() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| s.sfu_max_peers_per_participant = 2).await;
        let backend = app.backend;
        let (host, session) = live_session(&app).await;
        let sfu = Sfu::of(&join(&app, session, &host).await);
        let mut locations = Vec::new();
        for _ in 0..2 {
            let created = offer(&app, &sfu.whep_url, &sfu.token, &recvonly_offer(1)).await;
            created.assert_status(201);
            locations.push(created.header("location").expect("a Location").to_owned());
        }
        // Neither another subscription nor a publication: the cap counts both.
        offer(&app, &sfu.whep_url, &sfu.token, &recvonly_offer(1))
            .await
            .assert_error(409, "too_many_peers");
        let whip = format!("{}?source=endoscope", sfu.whip_url);
        offer(&app, &whip, &sfu.token, &recvonly_offer(1))
            .await
            .assert_error(409, "too_many_peers");
        assert_eq!(subscriptions(&app, session, &host.token).await.len(), 2);

        // Closing one makes room for one.
        app.call(Method::DELETE, &locations[0], Some(&sfu.token), None)
            .await
            .assert_status(200);
        offer(&app, &sfu.whep_url, &sfu.token, &recvonly_offer(1))
            .await
            .assert_status(201);
        println!("[{backend}] capped at 2 peers per participant");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cannot_hold_more_peers_than_its_cap() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| s.sfu_max_peers_per_session = 3).await;
        let (host, session) = live_session(&app).await;
        let observer = member(&app, session, "observer", "observer").await;
        let host_sfu = Sfu::of(&join(&app, session, &host).await);
        for _ in 0..3 {
            let observer_sfu = Sfu::of(&join(&app, session, &observer).await);
            offer(
                &app,
                &observer_sfu.whep_url,
                &observer_sfu.token,
                &recvonly_offer(1),
            )
            .await
            .assert_status(201);
        }
        offer(
            &app,
            &host_sfu.whep_url,
            &host_sfu.token,
            &recvonly_offer(1),
        )
        .await
        .assert_error(409, "session_peers_full");
        // Another session is not affected.
        let (other_host, other) = live_session(&app).await;
        let other_sfu = Sfu::of(&join(&app, other, &other_host).await);
        offer(
            &app,
            &other_sfu.whep_url,
            &other_sfu.token,
            &recvonly_offer(1),
        )
        .await
        .assert_status(201);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_connects_is_removed_after_the_setup_timeout_with_its_event() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| {
            s.sfu_setup_timeout = 1;
            s.sfu_max_peers_per_participant = 1;
        })
        .await;
        let backend = app.backend;
        let (host, session) = live_session(&app).await;
        let sfu = Sfu::of(&join(&app, session, &host).await);
        let gauge = "livesurgery_sfu_peers{role=\"subscriber\"}";
        let base = app.url("");
        let base = base.trim_end_matches('/');

        // Nobody ever answers this offer's ICE.
        let created = offer(&app, &sfu.whep_url, &sfu.token, &recvonly_offer(1)).await;
        created.assert_status(201);
        let resource = created
            .header("location")
            .and_then(|l| l.rsplit('/').next())
            .expect("a Location")
            .to_owned();
        let offered = Instant::now();
        wait_metric(base, gauge, 1.0, WAIT).await;

        let events = wait_for_event(
            &app,
            session,
            WAIT,
            "SubscriberDisconnected",
            json!({"resource_id": resource, "reason": "setup_timeout", "user_id": host.id}),
        )
        .await;
        let removed = offered.elapsed();
        println!("[{backend}] removed after {removed:?}");
        assert!(removed < Duration::from_secs(5), "[{backend}] {removed:?}");
        assert!(
            !events
                .iter()
                .any(|e| is(e, "SubscriberConnected", &json!({"resource_id": resource}))),
            "[{backend}] {}",
            listing(&events)
        );
        assert!(subscriptions(&app, session, &host.token).await.is_empty());
        let text = metrics_text(base).await;
        assert_eq!(
            metric(&text, gauge),
            Some(0.0),
            "[{backend}] the gauge falls back"
        );
        // Its place under the participant's cap is free again.
        offer(&app, &sfu.whep_url, &sfu.token, &recvonly_offer(1))
            .await
            .assert_status(201);
    }
}

/// When `unix_secs` is on this process's monotonic clock.
fn instant_of(unix_secs: i64) -> Instant {
    let left_ms = unix_secs * 1000 - chrono::Utc::now().timestamp_millis();
    let now = Instant::now();
    if left_ms >= 0 {
        now + Duration::from_millis(left_ms.unsigned_abs())
    } else {
        now.checked_sub(Duration::from_millis(left_ms.unsigned_abs()))
            .unwrap_or(now)
    }
}

/// Reads a subscriber's lines until `until`; when the frames it reported arrived.
async fn frames_until(peer: &mut Peer, until: Instant) -> Vec<Instant> {
    let mut seen = Vec::new();
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match peer.next(left).await {
            Some((at, line)) => {
                if line["event"] == "frame" || line["event"] == "first_frame" {
                    seen.push(at);
                }
            }
            None => break,
        }
    }
    seen
}

/// A live session whose host publishes `endoscope`, and an observer member with the SFU URLs
/// and token of its join (not subscribed yet).
struct Publishing {
    session: Uuid,
    observer: TestUser,
    publisher: Peer,
    sfu: Sfu,
}

async fn publishing(app: &TestApp) -> Publishing {
    let (host, session) = live_session(app).await;
    let observer = member(app, session, "observer", "observer").await;
    let publisher = Peer::publish(
        "host",
        &Sfu::of(&join(app, session, &host).await),
        "endoscope",
        FPS,
    )
    .await;
    let sfu = Sfu::of(&join(app, session, &observer).await);
    Publishing {
        session,
        observer,
        publisher,
        sfu,
    }
}

/// Asserts frames flowed up to `cut` and none arrived later than [`CUT_WITHIN`] after it.
#[track_caller]
fn assert_stopped_at(frames: &[Instant], cut: Instant, what: &str) {
    // Media flowed up to the cut (a loaded machine's aiortc may pause a second or two).
    assert!(
        frames
            .iter()
            .any(|at| *at + 3 * CUT_WITHIN >= cut && *at <= cut),
        "{what}: no frame in the three seconds before the cut ({} frames)",
        frames.len()
    );
    let late: Vec<Duration> = frames
        .iter()
        .filter(|at| **at > cut + CUT_WITHIN)
        .map(|at| *at - cut)
        .collect();
    assert!(late.is_empty(), "{what}: frames after the cut: {late:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn established_media_stops_within_a_second_when_its_sfu_token_expires() {
    if !webrtc_ready("established_media_stops_within_a_second_when_its_sfu_token_expires") {
        return;
    }
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        let Publishing {
            session,
            observer,
            publisher,
            sfu,
        } = publishing(&app).await;
        // The viewer's token expires in a few seconds; the publisher's lives on.
        let short = Sfu {
            token: token_expiring_in(&sfu.token, 15),
            ..sfu
        };
        let exp = jwt_claims(&short.token)["exp"]
            .as_i64()
            .expect("an exp claim");
        let mut viewer = Peer::subscribe("observer", &short, 1, "").await;
        let watched = viewer.resource_id().to_owned();
        let cut = instant_of(exp);
        println!(
            "[{backend}] watching; the token expires in {:?}",
            cut.saturating_duration_since(Instant::now())
        );
        let frames = frames_until(&mut viewer, cut + Duration::from_secs(3)).await;
        assert_stopped_at(&frames, cut, backend);
        let events = wait_for_event(
            &app,
            session,
            WAIT,
            "SubscriberDisconnected",
            json!({"resource_id": watched, "reason": "token_expired", "user_id": observer.id}),
        )
        .await;
        assert!(
            !events.iter().any(|e| e["type"] == "PublisherDisconnected"),
            "[{backend}] the publisher was cut too:\n{}",
            listing(&events)
        );
        // An expired token cannot open a new subscription either.
        offer(&app, &short.whep_url, &short.token, &recvonly_offer(1))
            .await
            .assert_error(401, "token_expired");
        viewer.kill().await;
        publisher.quit().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn established_media_stops_within_a_second_when_its_user_is_deactivated() {
    if !webrtc_ready("established_media_stops_within_a_second_when_its_user_is_deactivated") {
        return;
    }
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        let Publishing {
            session,
            observer,
            publisher,
            sfu,
        } = publishing(&app).await;
        let mut viewer = Peer::subscribe("observer", &sfu, 1, "").await;
        let watched = viewer.resource_id().to_owned();
        viewer
            .until(WAIT, "the first frame", |l| l["event"] == "first_frame")
            .await;
        tokio::time::sleep(Duration::from_secs(1)).await;

        let cut = Instant::now();
        app.call(
            Method::PATCH,
            &format!("/v1/users/{}", observer.id),
            Some(&app.admin_token),
            Some(json!({"active": false})),
        )
        .await
        .assert_status(200);
        let frames = frames_until(&mut viewer, cut + Duration::from_secs(3)).await;
        assert_stopped_at(&frames, cut, backend);
        wait_for_event(
            &app,
            session,
            WAIT,
            "SubscriberDisconnected",
            json!({"resource_id": watched, "reason": "removed", "user_id": observer.id}),
        )
        .await;
        viewer.kill().await;
        publisher.quit().await;
    }
}

/// The participant's row in `GET /participants`, if listed.
async fn listed(app: &TestApp, session: Uuid, token: &str, participant: Uuid) -> Option<Value> {
    let list = app
        .get(&format!("/v1/sessions/{session}/participants"), token)
        .await;
    list.assert_status(200);
    list.body["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|p| p["participant_id"] == json!(participant))
        })
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_whose_websocket_closed_but_whose_whep_plays_stays_present_and_watching() {
    if !webrtc_ready("a_viewer_whose_websocket_closed_but_whose_whep_plays_stays_present") {
        return;
    }
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        let (host, session) = live_session(&app).await;
        let observer = member(&app, session, "observer", "observer").await;
        let joined = join(&app, session, &observer).await;
        let pid = joined.participant_id;
        let socket = WsClient::welcomed(&joined.ws_url, &joined.ws_token, "observer-ws").await;
        let viewer = Peer::subscribe("observer", &Sfu::of(&joined), 1, "").await;
        let watched = viewer.resource_id().to_owned();
        wait_for_event(
            &app,
            session,
            WAIT,
            "SubscriberConnected",
            json!({"resource_id": watched}),
        )
        .await;
        let row = listed(&app, session, &host.token, pid).await;
        assert_eq!(
            row.as_ref().map(|r| r["media"].clone()),
            Some(json!({"publishing": [], "watching": true})),
            "[{backend}] {row:?}"
        );

        // The WebSocket goes; the WHEP plays on.
        socket.close().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let events = session_events(&app, session).await;
        assert!(
            !events
                .iter()
                .any(|e| is(e, "ParticipantLeft", &json!({"participant_id": pid}))),
            "[{backend}] the watching viewer left:\n{}",
            listing(&events)
        );
        let row = listed(&app, session, &host.token, pid).await;
        assert_eq!(
            row.as_ref().map(|r| r["media"]["watching"].clone()),
            Some(json!(true)),
            "[{backend}] not shown as watching: {row:?}"
        );

        // Its media ends: now it has left.
        viewer.quit().await;
        wait_for_event(
            &app,
            session,
            WAIT,
            "ParticipantLeft",
            json!({"participant_id": pid, "reason": "left"}),
        )
        .await;
        assert_eq!(listed(&app, session, &host.token, pid).await, None);
    }
}
