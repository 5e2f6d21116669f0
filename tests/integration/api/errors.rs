//! The one error shape: every rejection, the framework's own included, is
//! `{"error": {"code", "message", "request_id"}}` with the request id of `X-Request-Id`.

use jsonwebtoken::{EncodingKey, Header};
use livesurgery::auth::AccessClaims;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use super::spawn::{Answer, JWT_SECRET, spawn_app, spawn_app_with};
use crate::helpers::all_backends;

/// An access token signed with the server's key that expired a minute ago.
fn expired_token(user: Uuid) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = AccessClaims {
        sub: user,
        aud: livesurgery::auth::tokens::AUDIENCE_API.to_owned(),
        iss: "livesurgery".to_owned(),
        iat: now - 120,
        exp: now - 60,
        jti: Uuid::new_v4(),
        fam: None,
    };
    let key = EncodingKey::from_secret(JWT_SECRET.as_bytes());
    jsonwebtoken::encode(&Header::default(), &claims, &key).expect("signing")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_framework_rejection_answers_the_json_error_envelope() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| s.max_body_bytes = 1024).await;
        println!("[{}]", app.backend);
        let token = app.admin_token.as_str();
        let sessions = "/v1/sessions";
        let oversized = json!({"title": "x".repeat(2048)});
        let cases = [
            (
                "malformed JSON",
                app.request(Method::POST, sessions, Some(token))
                    .header("content-type", "application/json")
                    .body(r#"{"title": "#),
                400,
                "malformed_json",
            ),
            (
                "a body of the wrong shape",
                app.request(Method::POST, sessions, Some(token))
                    .json(&json!({"title": 42})),
                422,
                "invalid_body",
            ),
            (
                "an unknown field",
                app.request(Method::POST, sessions, Some(token))
                    .json(&json!({"title": "t", "patient_name": "x"})),
                422,
                "invalid_body",
            ),
            (
                "the wrong content type",
                app.request(Method::POST, sessions, Some(token))
                    .header("content-type", "text/plain")
                    .body(r#"{"title": "t"}"#),
                415,
                "unsupported_media_type",
            ),
            (
                "an unknown route",
                app.request(Method::GET, "/v1/nothing-here", Some(token)),
                404,
                "not_found",
            ),
            (
                "the wrong method",
                app.request(Method::PUT, sessions, Some(token)),
                405,
                "method_not_allowed",
            ),
            (
                "an oversized body",
                app.request(Method::POST, sessions, Some(token))
                    .json(&oversized),
                413,
                "payload_too_large",
            ),
            (
                "an oversized body with an Idempotency-Key",
                app.request(Method::POST, sessions, Some(token))
                    .header("idempotency-key", "big-one")
                    .json(&oversized),
                413,
                "payload_too_large",
            ),
            (
                "no token",
                app.request(Method::GET, "/v1/users/me", None),
                401,
                "missing_token",
            ),
            (
                "an expired token",
                app.request(
                    Method::GET,
                    "/v1/users/me",
                    Some(&expired_token(app.admin_id)),
                ),
                401,
                "token_expired",
            ),
            (
                "a path id that is not a UUID",
                app.request(Method::GET, "/v1/sessions/not-a-uuid", Some(token)),
                404,
                "not_found",
            ),
            (
                "a session that does not exist",
                app.request(
                    Method::GET,
                    &format!("/v1/sessions/{}", Uuid::now_v7()),
                    Some(token),
                ),
                404,
                "not_found",
            ),
            (
                "a query parameter of the wrong type",
                app.request(Method::GET, "/v1/sessions?limit=many", Some(token)),
                400,
                "invalid_query",
            ),
            (
                "a query parameter out of range",
                app.request(Method::GET, "/v1/sessions?limit=0", Some(token)),
                400,
                "invalid_limit",
            ),
            (
                "an unknown status filter",
                app.request(Method::GET, "/v1/sessions?status=paused", Some(token)),
                400,
                "invalid_query",
            ),
        ];
        for (what, request, status, code) in cases {
            let answer = Answer::of(request).await;
            assert_eq!(
                (answer.status, answer.body["error"]["code"].as_str()),
                (status, Some(code)),
                "[{}] {what}: {}",
                app.backend,
                answer.text
            );
            answer.assert_error(status, code);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_x_request_id_and_a_sane_incoming_one_is_kept() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let health = app.call(Method::GET, "/healthz", None, None).await;
        health.assert_status(200);
        assert!(
            health
                .header("x-request-id")
                .is_some_and(|id| !id.is_empty()),
            "X-Request-Id on a 2xx"
        );

        let traced = app
            .request(Method::GET, "/v1/users/me", Some(&app.admin_token))
            .header("x-request-id", "trace-4711");
        let traced = Answer::of(traced).await;
        traced.assert_status(200);
        assert_eq!(traced.header("x-request-id"), Some("trace-4711"));

        let refused = app
            .request(Method::GET, "/v1/users/me", None)
            .header("x-request-id", "trace-4712");
        let refused = Answer::of(refused).await;
        refused.assert_error(401, "missing_token");
        assert_eq!(refused.body["error"]["request_id"], "trace-4712");

        let insane = app
            .request(Method::GET, "/healthz", None)
            .header("x-request-id", "no spaces; or {braces}");
        let insane = Answer::of(insane).await;
        let replaced = insane.header("x-request-id").unwrap_or_default();
        assert!(
            !replaced.is_empty() && replaced != "no spaces; or {braces}",
            "an unsafe request id is replaced, got {replaced:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layout_change_on_a_version_not_reached_yet_is_409_with_the_current_version() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let session = app.create_session(&app.admin_token).await;
        let ahead = app
            .call(
                Method::PATCH,
                &format!("/v1/sessions/{session}/layout"),
                Some(&app.admin_token),
                Some(json!({"base_version": 999, "changes": {"panels": {"p1": {"x": 1}}}})),
            )
            .await;
        ahead.assert_error(409, "base_version_ahead");
        assert_eq!(ahead.body["error"]["current_version"], 1, "{}", ahead.text);
    }
}
