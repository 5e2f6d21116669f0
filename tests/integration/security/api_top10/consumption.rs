//! API4 (unrestricted resource consumption), API6 (sensitive business flows: join floods),
//! API8 (security misconfiguration), API9 (inventory): bounded lists and bodies, write rates
//! per user and per address on REST, WHIP/WHEP and the WebSocket, a cap on a user's
//! participants, and joins that never connect timing out.

use std::time::{Duration, Instant};

use livesurgery_domain::endpoints::{ENDPOINTS, Guard};
use reqwest::Method;
use serde_json::{Value, json};

use super::{documented_operations, is_public};
use crate::api::spawn::{Answer, TestApp, spawn_app, spawn_app_with};
use crate::helpers::fresh_sqlite;
use crate::realtime::client::WsClient;
use crate::realtime::{join, live_session, member, session_events};

/// Asserts a 429 `code` with a `Retry-After` of at least a second and the error envelope.
#[track_caller]
fn assert_throttled(answer: &Answer, code: &str) {
    answer.assert_error(429, code);
    let wait: u64 = answer
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", answer.headers));
    assert!(wait >= 1);
}

/// `POST /v1/sessions` as `token`.
async fn create(app: &TestApp, token: &str) -> Answer {
    let body = json!({"title": "Rate test"});
    app.call(Method::POST, "/v1/sessions", Some(token), Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api4_unrestricted_resource_consumption_rest_writes_past_the_user_rate_get_429_with_retry_after()
 {
    let app = spawn_app_with(fresh_sqlite(), |s| s.writes_per_user_per_minute = 5).await;
    let surgeon = app.create_user("surgeon").await;
    for n in 0..5 {
        let answer = create(&app, &surgeon.token).await;
        assert_eq!(answer.status, 201, "write {n}: {}", answer.text);
    }
    assert_throttled(&create(&app, &surgeon.token).await, "rate_limited");
    // Another user at the same address writes on.
    create(&app, &app.admin_token).await.assert_status(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api4_unrestricted_resource_consumption_rest_writes_past_the_address_rate_get_429_for_every_user()
 {
    let app = spawn_app_with(fresh_sqlite(), |s| s.writes_per_address_per_minute = 8).await;
    // The admin's sign-in was one write of this address.
    let mut throttled = None;
    for n in 0..12 {
        let answer = create(&app, &app.admin_token).await;
        if answer.status == 429 {
            throttled = Some((n, answer));
            break;
        }
        answer.assert_status(201);
    }
    let (n, answer) = throttled.expect("the address rate never bit");
    assert!(n <= 7, "throttled only after {n} writes");
    assert_throttled(&answer, "rate_limited");
    assert_throttled(&app.login("admin", "whatever").await, "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api4_unrestricted_resource_consumption_whep_offers_count_against_the_write_rate() {
    let app = spawn_app_with(fresh_sqlite(), |s| s.writes_per_user_per_minute = 4).await;
    let (_host, session) = live_session(&app).await;
    let observer = member(&app, session, "observer", "observer").await;
    // The join is the observer's first write.
    let joined = join(&app, session, &observer).await;
    let sfu = joined.body["sfu"]["token"].as_str().expect("an SFU token");
    let path = format!("/v1/sessions/{session}/whep");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let offer = app
            .request(Method::POST, &path, Some(sfu))
            .header("content-type", "application/sdp")
            .body("v=0\r\n");
        let answer = Answer::of(offer).await;
        statuses.push(answer.status);
        if answer.status == 429 {
            assert_throttled(&answer, "rate_limited");
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert_eq!(statuses.len(), 4, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api4_unrestricted_resource_consumption_websocket_messages_on_several_connections_share_the_user_rate()
 {
    let app = spawn_app_with(fresh_sqlite(), |s| s.writes_per_user_per_minute = 6).await;
    // The host's writes: the session (1) and two joins (2, 3).
    let (host, session) = live_session(&app).await;
    let first = join(&app, session, &host).await;
    let second = join(&app, session, &host).await;
    let mut a = WsClient::welcomed(&first.ws_url, &first.ws_token, "first").await;
    let mut b = WsClient::welcomed(&second.ws_url, &second.ws_token, "second").await;
    let update = |reference: &str| {
        json!({"type": "layout.update", "ref": reference, "base_version": 1,
               "changes": {"panels": {}}})
    };
    let mut codes = Vec::new();
    for n in 0..4 {
        let reference = format!("w{n}");
        let ws = if n % 2 == 0 { &mut a } else { &mut b };
        ws.send(update(&reference)).await;
        let answer = ws
            .until(Duration::from_secs(10), "an answer", |m| {
                m["ref"] == reference.as_str()
            })
            .await;
        codes.push(answer["code"].as_str().unwrap_or("ack").to_owned());
    }
    assert!(
        codes[..3].iter().all(|c| c != "rate_limited"),
        "throttled too early: {codes:?}"
    );
    assert_eq!(codes[3], "rate_limited", "{codes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api4_unrestricted_resource_consumption_every_paged_list_refuses_a_page_past_1000_and_every_body_past_the_limit()
 {
    let app = spawn_app_with(fresh_sqlite(), |s| s.max_body_bytes = 4096).await;
    let (_host, session) = live_session(&app).await;
    let mut paged = 0;
    for (method, template, operation) in documented_operations(&app).await {
        let path = super::concrete(&template, session, app.admin_id);
        let params = operation["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if method == Method::GET && params.iter().any(|p| p["name"] == "limit") {
            let answer = app
                .get(&format!("{path}?limit=1001"), &app.admin_token)
                .await;
            answer.assert_error(400, "invalid_limit");
            paged += 1;
        }
        // (WHIP/WHEP bodies take the SFU token; the media package tests their limits.)
        if operation.get("requestBody").is_some()
            && !is_public(&operation)
            && !super::takes_sfu_token(&operation)
        {
            let big = "x".repeat(8192);
            let request = app
                .request(method.clone(), &path, Some(&app.admin_token))
                .header("content-type", "application/json")
                .body(format!("{{\"title\": \"{big}\"}}"));
            let answer = Answer::of(request).await;
            assert!(
                matches!(answer.status, 413 | 404),
                "{method} {template}: {} {}",
                answer.status,
                answer.text
            );
        }
    }
    assert!(paged >= 6, "only {paged} paged lists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api6_unrestricted_access_to_sensitive_business_flows_joins_past_the_per_user_cap_are_refused()
 {
    // The default cap: 5 participants of one user at once (`--max-participants-per-user`).
    let app = spawn_app(fresh_sqlite()).await;
    let (_host, session) = live_session(&app).await;
    let observer = member(&app, session, "observer", "observer").await;
    for _ in 0..5 {
        join(&app, session, &observer).await;
    }
    let path = format!("/v1/sessions/{session}/participants:join");
    let third = app
        .call(Method::POST, &path, Some(&observer.token), None)
        .await;
    assert_throttled(&third, "too_many_participants");
    // Another user's joins are not counted against this one.
    let other = member(&app, session, "observer", "observer").await;
    join(&app, session, &other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participant_join_that_never_connects_its_websocket_leaves_as_timed_out() {
    let app = spawn_app_with(fresh_sqlite(), |s| s.join_connect_timeout_secs = 1).await;
    let (_host, session) = live_session(&app).await;
    let observer = member(&app, session, "observer", "observer").await;
    let idle = join(&app, session, &observer).await;
    let connected = join(&app, session, &observer).await;
    let _ws = WsClient::welcomed(&connected.ws_url, &connected.ws_token, "connected").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let left = loop {
        let left: Vec<Value> = session_events(&app, session)
            .await
            .into_iter()
            .filter(|e| e["type"] == "ParticipantLeft")
            .collect();
        if !left.is_empty() || Instant::now() > deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        left[0]["data"]["participant_id"],
        idle.participant_id.to_string()
    );
    assert_eq!(left[0]["data"]["reason"], "timed_out", "{}", left[0]);
    // The connected one stays present, past the timeout.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let path = format!(
        "/v1/sessions/{session}/participants?min_position={}",
        app.head().await
    );
    let present = app.get(&path, &app.admin_token).await;
    let ids: Vec<&str> = present.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|p| p["participant_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [connected.participant_id.to_string()],
        "{}",
        present.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api8_security_misconfiguration_every_refusal_is_the_envelope_without_internals() {
    let app = spawn_app(fresh_sqlite()).await;
    app.call(Method::GET, "/v1/nothing-here", None, None)
        .await
        .assert_error(404, "not_found");
    app.call(Method::GET, "/v1/users", None, None)
        .await
        .assert_error(401, "missing_token");
    let request = app
        .request(Method::POST, "/v1/sessions", Some(&app.admin_token))
        .header("content-type", "application/json")
        .body("{\"title\": \u{0}");
    let answer = Answer::of(request).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    answer.assert_error(400, answer.body["error"]["code"].as_str().unwrap_or("?"));
    let path = format!("/v1/sessions/{}", uuid::Uuid::now_v7());
    app.get(&path, &app.admin_token)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api9_improper_inventory_management_routes_served_equal_routes_documented() {
    let app = spawn_app(fresh_sqlite()).await;
    let documented: Vec<(String, String)> = documented_operations(&app)
        .await
        .into_iter()
        .map(|(method, path, _)| (method.to_string(), path))
        .collect();
    // Every guarded route (what the server serves and checks) is documented, and back.
    let table: Vec<(String, String)> = ENDPOINTS
        .iter()
        .map(|e| (e.method.to_owned(), e.path.to_owned()))
        .collect();
    for route in &table {
        assert!(
            documented.contains(route),
            "{route:?} is served but not documented"
        );
    }
    for route in &documented {
        assert!(
            table.contains(route),
            "{route:?} is documented but not guarded"
        );
    }
    // Every documented route is served: none answers the router's "nothing here".
    let session = uuid::Uuid::now_v7();
    for (method, template, _) in documented_operations(&app).await {
        let path = super::concrete(&template, session, app.admin_id);
        let answer = app.call(method.clone(), &path, None, None).await;
        assert_ne!(
            answer.body["error"]["message"], "nothing exists at this address",
            "{method} {template} is documented but not served"
        );
        assert_ne!(answer.status, 405, "{method} {template}: {}", answer.text);
    }
    // And guards cover every kind the table knows.
    assert!(
        ENDPOINTS
            .iter()
            .any(|e| matches!(e.guard, Guard::SfuToken(_)))
    );
}
