//! API1, API2, API3, API5: who may call what is decided before anything the caller sent is
//! read, on every documented route, and on every WebSocket message.

use std::time::Duration;

use livesurgery_domain::endpoints::{Guard, can_see_session, endpoint};
use livesurgery_domain::permissions::authorize;
use livesurgery_domain::roles::{OrgRole, SessionRole};
use reqwest::Method;
use serde_json::json;

use super::{concrete, documented_operations, is_public, takes_sfu_token, with_a_bad_body};
use crate::api::spawn::{Answer, TestUser, base64url_encode, spawn_app};
use crate::helpers::fresh_sqlite;
use crate::realtime::client::WsClient;
use crate::realtime::{join, live_session, member};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_surgeons_post_users_with_an_incomplete_body_is_refused_403_not_422() {
    let app = spawn_app(fresh_sqlite()).await;
    let surgeon = app.create_user("surgeon").await;
    for body in [
        json!({"username": "x"}),
        json!({}),
        json!({"role": "admin"}),
    ] {
        app.call(Method::POST, "/v1/users", Some(&surgeon.token), Some(body))
            .await
            .assert_error(403, "forbidden");
    }
    let truncated = app
        .request(Method::POST, "/v1/users", Some(&surgeon.token))
        .header("content-type", "application/json")
        .body("{\"username\": ");
    Answer::of(truncated).await.assert_error(403, "forbidden");
    let not_json = app
        .request(Method::POST, "/v1/users", Some(&surgeon.token))
        .header("content-type", "text/plain")
        .body("hello");
    Answer::of(not_json).await.assert_error(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observers_whip_offer_without_source_is_refused_403_not_400() {
    let app = spawn_app(fresh_sqlite()).await;
    let (_host, session) = live_session(&app).await;
    let observer = member(&app, session, "observer", "observer").await;
    let joined = join(&app, session, &observer).await;
    let sfu = joined.body["sfu"]["token"].as_str().expect("an SFU token");
    let path = format!("/v1/sessions/{session}/whip");
    let no_source = app
        .request(Method::POST, &path, Some(sfu))
        .header("content-type", "application/sdp")
        .body("v=0\r\n");
    Answer::of(no_source).await.assert_error(403, "forbidden");
    let nothing_at_all = app.request(Method::POST, &path, Some(sfu));
    Answer::of(nothing_at_all)
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api5_broken_function_level_authorization_every_documented_route_refuses_a_caller_without_the_right_whatever_the_body()
 {
    let app = spawn_app(fresh_sqlite()).await;
    let (host, session) = live_session(&app).await;
    let observer = member(&app, session, "observer", "observer").await;
    let surgeon_member = member(&app, session, "surgeon", "surgeon").await;
    let outsider = app.create_user("surgeon").await;
    let reviewer = app.create_user("reviewer").await;
    let plain_observer = app.create_user("observer").await;
    let joined = join(&app, session, &observer).await;
    let sfu_token = joined.body["sfu"]["token"]
        .as_str()
        .expect("an SFU token")
        .to_owned();
    let callers: [(&str, &TestUser, OrgRole, Option<SessionRole>); 5] = [
        (
            "observer member",
            &observer,
            OrgRole::Observer,
            Some(SessionRole::Observer),
        ),
        (
            "surgeon member",
            &surgeon_member,
            OrgRole::Surgeon,
            Some(SessionRole::Surgeon),
        ),
        ("surgeon, not a member", &outsider, OrgRole::Surgeon, None),
        ("reviewer", &reviewer, OrgRole::Reviewer, None),
        (
            "observer, not a member",
            &plain_observer,
            OrgRole::Observer,
            None,
        ),
    ];
    let mut refused = 0;
    for (method, template, operation) in documented_operations(&app).await {
        if is_public(&operation) {
            continue;
        }
        let row = endpoint(method.as_str(), &template).unwrap_or_else(|| {
            panic!("{method} {template} is documented but missing from the endpoint table")
        });
        let path = concrete(&template, session, host.id);
        if takes_sfu_token(&operation) {
            let Guard::SfuToken(action) = row.guard else {
                panic!("{method} {template}: documented with the SFU token, guarded otherwise");
            };
            if authorize(OrgRole::Observer, Some(SessionRole::Observer), action).is_ok() {
                continue;
            }
            let answer = with_a_bad_body(&app, method.clone(), &path, &sfu_token).await;
            assert_eq!(
                answer.status, 403,
                "observer's SFU token: {method} {template} answered before checking the right: {}",
                answer.text
            );
            refused += 1;
            continue;
        }
        for (label, user, org, membership) in &callers {
            let allowed = match row.guard {
                Guard::Action(action) => {
                    let sees = !template.starts_with("/v1/sessions/{id}")
                        || can_see_session(*org, *membership);
                    sees && authorize(*org, *membership, action).is_ok()
                }
                _ => true,
            };
            if allowed {
                continue;
            }
            let answer = with_a_bad_body(&app, method.clone(), &path, &user.token).await;
            assert!(
                matches!(answer.status, 403 | 404),
                "{label}: {method} {template} answered {} before checking the right: {}",
                answer.status,
                answer.text
            );
            refused += 1;
        }
    }
    assert!(refused > 50, "only {refused} refusals were tried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api1_broken_object_level_authorization_every_id_taking_endpoint_hides_a_session_the_caller_is_not_in()
 {
    let app = spawn_app(fresh_sqlite()).await;
    let (mine_host, mine) = live_session(&app).await;
    let (_other_host, other) = live_session(&app).await;
    let joined = join(&app, mine, &mine_host).await;
    let sfu_token = joined.body["sfu"]["token"]
        .as_str()
        .expect("an SFU token")
        .to_owned();
    let mut tried = 0;
    for (method, template, operation) in documented_operations(&app).await {
        if is_public(&operation) || !template.contains("{id}") {
            continue;
        }
        let path = concrete(&template, other, app.admin_id);
        let answer = if takes_sfu_token(&operation) {
            let request = app
                .request(method.clone(), &path, Some(&sfu_token))
                .header("content-type", "application/sdp")
                .body("v=0\r\n");
            Answer::of(request).await
        } else {
            let request = app
                .request(method.clone(), &path, Some(&mine_host.token))
                .json(&json!({}));
            Answer::of(request).await
        };
        let expected = if takes_sfu_token(&operation) {
            (403, "wrong_session")
        } else if template.starts_with("/v1/users/") || template.starts_with("/v1/admin/") {
            (403, "forbidden")
        } else {
            (404, "not_found")
        };
        answer.assert_error(expected.0, expected.1);
        tried += 1;
    }
    assert!(tried > 25, "only {tried} id-taking endpoints were tried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api2_broken_authentication_a_tampered_or_unsigned_token_is_refused_on_every_route() {
    let app = spawn_app(fresh_sqlite()).await;
    let (_host, session) = live_session(&app).await;
    let mut parts = app.admin_token.split('.');
    let (header, claims) = (
        parts.next().expect("a header"),
        parts.next().expect("claims"),
    );
    let unsigned = format!(
        "{}.{claims}.",
        base64url_encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    let tampered = format!("{header}.{claims}.{}", base64url_encode(&[0u8; 32]));
    let mut tried = 0;
    for (method, template, operation) in documented_operations(&app).await {
        if is_public(&operation) {
            continue;
        }
        let path = concrete(&template, session, app.admin_id);
        for token in [unsigned.as_str(), tampered.as_str()] {
            let answer = with_a_bad_body(&app, method.clone(), &path, token).await;
            assert_eq!(
                answer.status, 401,
                "{method} {template} accepted a forged token: {}",
                answer.text
            );
            tried += 1;
        }
    }
    assert!(tried > 60, "only {tried} calls were tried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api3_broken_object_property_level_authorization_a_body_sets_no_server_owned_field() {
    let app = spawn_app(fresh_sqlite()).await;
    let (host, session) = live_session(&app).await;
    // A host may change a session's details, never its status, id or host.
    let patch = json!({"title": "Renamed", "status": "ended", "id": uuid::Uuid::now_v7(),
        "created_by": app.admin_id});
    let path = format!("/v1/sessions/{session}");
    let answer = app
        .call(Method::PATCH, &path, Some(&host.token), Some(patch))
        .await;
    assert!(
        matches!(answer.status, 200 | 422),
        "unexpected answer: {}",
        answer.text
    );
    let now = app.get(&path, &app.admin_token).await;
    assert_eq!(now.body["status"], "live", "{}", now.text);
    assert_eq!(now.str("id"), session.to_string());
    // A new user's id, activity and creation time are the server's.
    let forced = uuid::Uuid::now_v7();
    let body = json!({"username": "mass-assigned", "password": crate::api::spawn::PASSWORD,
        "role": "observer", "display_name": "Mass Assigned", "id": forced, "active": false,
        "created_at": "2000-01-01T00:00:00Z"});
    let created = app
        .call(
            Method::POST,
            "/v1/users",
            Some(&app.admin_token),
            Some(body),
        )
        .await;
    if created.status == 201 {
        assert_ne!(created.str("id"), forced.to_string());
        assert_eq!(created.body["active"], true);
    } else {
        created.assert_status(422);
    }
    // And no answer about users carries a password or its hash.
    let users = app.get("/v1/users", &app.admin_token).await;
    users.assert_status(200);
    let text = users.text.to_lowercase();
    assert!(
        !text.contains("password") && !text.contains("argon2"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observers_malformed_layout_update_over_the_websocket_is_forbidden_not_invalid() {
    let app = spawn_app(fresh_sqlite()).await;
    let (_host, session) = live_session(&app).await;
    let observer = member(&app, session, "observer", "observer").await;
    let joined = join(&app, session, &observer).await;
    let mut ws = WsClient::welcomed(&joined.ws_url, &joined.ws_token, "observer").await;
    for (reference, message) in [
        (
            "no-base",
            json!({"type": "layout.update", "ref": "no-base"}),
        ),
        (
            "bad-changes",
            json!({"type": "layout.update", "ref": "bad-changes",
            "base_version": "one", "changes": 7}),
        ),
        (
            "no-panel",
            json!({"type": "source.select", "ref": "no-panel"}),
        ),
        (
            "rec",
            json!({"type": "recording.start", "ref": "rec", "extra": true}),
        ),
    ] {
        ws.send(message).await;
        let answer = ws
            .until(Duration::from_secs(10), reference, |m| {
                m["ref"] == reference
            })
            .await;
        assert_eq!(answer["type"], "error", "{answer}");
        assert_eq!(answer["code"], "forbidden", "{reference}: {answer}");
    }
}
