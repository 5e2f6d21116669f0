//! Signing in and staying signed in: wrong credentials, the login rate limit, token expiry,
//! tampered and foreign tokens, refresh rotation, deactivation.

use std::time::Duration;

use livesurgery::auth::Keys;
use livesurgery::auth::tokens::AUDIENCE_WS;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::spawn::{
    ADMIN, Answer, JWT_SECRET, PASSWORD, TestApp, base64url_decode, base64url_encode, jwt_claims,
    spawn_app, spawn_app_with,
};
use crate::helpers::all_backends;

async fn me(app: &TestApp, token: &str) -> Answer {
    app.get("/v1/users/me", token).await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Answer {
    let body = json!({"refresh_token": refresh_token});
    app.call(Method::POST, "/v1/auth/refresh", None, Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refuses_a_wrong_password_and_an_unknown_user_with_the_same_401() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let wrong_password = app.login(ADMIN, "not the admin's password").await;
        wrong_password.assert_error(401, "invalid_credentials");
        let unknown_user = app.login("nobody-by-this-name", PASSWORD).await;
        unknown_user.assert_error(401, "invalid_credentials");
        assert_eq!(
            wrong_password.body["error"]["message"], unknown_user.body["error"]["message"],
            "the answer does not tell which usernames exist"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_attempt_past_the_per_username_limit_gets_429_with_retry_after() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| s.login_per_username_per_minute = 3).await;
        println!("[{}]", app.backend);
        // create_user signs the user in: the first of their three attempts.
        let user = app.create_user("surgeon").await;
        for _ in 0..2 {
            app.login(&user.username, "a wrong guess")
                .await
                .assert_error(401, "invalid_credentials");
        }
        let limited = app.login(&user.username, PASSWORD).await;
        limited.assert_error(429, "too_many_attempts");
        let retry_after: u64 = limited
            .header("retry-after")
            .and_then(|s| s.parse().ok())
            .expect("a Retry-After header in seconds");
        assert!(retry_after >= 1, "Retry-After: {retry_after}");
        // Another username is not limited by this one's attempts.
        app.login(ADMIN, PASSWORD).await.assert_status(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_past_its_lifetime_gets_401_token_expired_and_refreshing_renews_it() {
    for db in all_backends().await {
        let app = spawn_app_with(db, |s| s.access_token_ttl_secs = 1).await;
        println!("[{}]", app.backend);
        let login = app.login(ADMIN, PASSWORD).await;
        login.assert_status(200);
        assert_eq!(login.body["expires_in"], 1);
        let token = login.str("access_token");
        let lifetime = |token: &str| {
            let claims = jwt_claims(token);
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap()
        };
        assert_eq!(lifetime(token), 1);

        // Not checked before the sleep: on a loaded machine a one-second token can expire
        // between its issue and the next request.
        tokio::time::sleep(Duration::from_millis(2200)).await;
        let expired = me(&app, token).await;
        expired.assert_error(401, "token_expired");
        assert_eq!(expired.header("www-authenticate"), Some("Bearer"));

        let renewed = refresh(&app, login.str("refresh_token")).await;
        renewed.assert_status(200);
        let renewed_token = renewed.str("access_token");
        assert_eq!(jwt_claims(renewed_token)["sub"], app.admin_id.to_string());
        assert_eq!(lifetime(renewed_token), 1);
        assert_ne!(renewed_token, token);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_is_good_for_exactly_one_refresh() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let user = app.create_user("observer").await;

        let first = refresh(&app, &user.refresh_token).await;
        first.assert_status(200);
        assert_ne!(first.str("refresh_token"), user.refresh_token);
        let signed_in = me(&app, first.str("access_token")).await;
        signed_in.assert_status(200);
        assert_eq!(signed_in.uuid("id"), user.id);

        // A second use is a replay: refused, and it revokes the sign-in's whole family
        // (security::tokens::refresh_token_reuse_revokes_the_whole_family).
        refresh(&app, &user.refresh_token)
            .await
            .assert_error(401, "refresh_token_reused");
        refresh(&app, first.str("refresh_token"))
            .await
            .assert_error(401, "invalid_token");
        refresh(&app, "not-a-refresh-token")
            .await
            .assert_error(401, "invalid_token");
    }
}

/// `token` with one character of part `part` (0 header, 1 payload, 2 signature) changed.
fn flip_char(token: &str, part: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let middle = parts[part].len() / 2;
    let old = parts[part].as_bytes()[middle];
    let new = if old == b'A' { "B" } else { "A" };
    parts[part].replace_range(middle..=middle, new);
    parts.join(".")
}

/// `token` with its claims changed by `edit`, keeping the original header and signature.
fn with_claims(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = jwt_claims(token);
    edit(&mut claims);
    let payload = base64url_encode(claims.to_string().as_bytes());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_forged_or_foreign_token_gets_401_invalid_token() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let user = app.create_user("surgeon").await;
        me(&app, &user.token).await.assert_status(200);

        let admin_id = app.admin_id.to_string();
        let unsigned_header = base64url_encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned_payload = user.token.split('.').nth(1).unwrap();
        let other_key = Keys::new(b"a-different-signing-key-0123456789abcdef");
        let right_key = Keys::new(JWT_SECRET.as_bytes());
        let session = Uuid::now_v7();
        let bad_tokens = [
            ("a changed signature", flip_char(&user.token, 2)),
            ("a changed payload", flip_char(&user.token, 1)),
            (
                "the subject swapped for the admin",
                with_claims(&user.token, |c| c["sub"] = admin_id.clone().into()),
            ),
            (
                "the lifetime stretched",
                with_claims(&user.token, |c| c["exp"] = (i64::MAX / 2).into()),
            ),
            (
                "alg none, no signature",
                format!("{unsigned_header}.{unsigned_payload}."),
            ),
            (
                "signed with another key",
                other_key.issue_access(user.id, 60).0,
            ),
            (
                "a WebSocket join token",
                right_key
                    .issue_join(AUDIENCE_WS, user.id, session, session, "host", vec![], 60)
                    .0,
            ),
            ("not a JWT at all", "garbage".to_owned()),
        ];
        for (what, token) in bad_tokens {
            let answer = me(&app, &token).await;
            assert_eq!(answer.status, 401, "{what}: {}", answer.text);
            answer.assert_error(401, "invalid_token");
        }
        // The flipped payload really was a different payload.
        assert_ne!(
            base64url_decode(flip_char(&user.token, 1).split('.').nth(1).unwrap()),
            base64url_decode(user.token.split('.').nth(1).unwrap())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_user_is_locked_out_at_once_and_reactivation_lets_them_sign_in_again() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let user = app.create_user("surgeon").await;
        me(&app, &user.token).await.assert_status(200);
        let path = format!("/v1/users/{}", user.id);
        let set_active = |active: bool| {
            app.call(
                Method::PATCH,
                &path,
                Some(&app.admin_token),
                Some(json!({"active": active})),
            )
        };

        let deactivated = set_active(false).await;
        deactivated.assert_status(200);
        assert_eq!(deactivated.body["active"], false);
        me(&app, &user.token)
            .await
            .assert_error(401, "user_deactivated");
        let refreshed = refresh(&app, &user.refresh_token).await;
        let code = refreshed.body["error"]["code"].as_str().unwrap_or_default();
        assert!(
            ["invalid_token", "user_deactivated"].contains(&code),
            "{}",
            refreshed.text
        );
        refreshed.assert_error(401, code);
        app.login(&user.username, PASSWORD)
            .await
            .assert_error(401, "user_deactivated");
        // Only the right password learns the account is deactivated: a guess learns nothing.
        app.login(&user.username, "not-the-password")
            .await
            .assert_error(401, "invalid_credentials");

        set_active(true).await.assert_status(200);
        let login = app.login(&user.username, PASSWORD).await;
        login.assert_status(200);
        me(&app, login.str("access_token")).await.assert_status(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signed_in_user_reads_the_directory_of_active_users_and_nothing_more() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let observer = app.create_user("observer").await;
        let surgeon = app.create_user("surgeon").await;
        let leaver = app.create_user("reviewer").await;
        app.deactivate(leaver.id).await;

        let answer = app
            .get("/v1/users/directory?limit=1000", &observer.token)
            .await;
        answer.assert_status(200);
        let items = answer.body["items"].as_array().expect("items");
        let entry = items
            .iter()
            .find(|u| u["id"] == surgeon.id.to_string())
            .unwrap_or_else(|| panic!("the surgeon is listed: {}", answer.body));
        assert_eq!(entry["username"], surgeon.username.as_str());
        assert_eq!(entry["role"], "surgeon");
        assert!(
            entry["display_name"]
                .as_str()
                .is_some_and(|n| n.starts_with("Dr surgeon"))
        );
        let mut fields: Vec<&str> = entry
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(fields, ["active", "display_name", "id", "role", "username"]);
        assert_eq!(entry["active"], true);
        assert!(
            items.iter().all(|u| u["id"] != leaver.id.to_string()),
            "a deactivated user is not in the directory"
        );
        let names: Vec<&str> = items
            .iter()
            .filter_map(|u| u["username"].as_str())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "ordered by username");

        let page = app
            .get("/v1/users/directory?limit=1", &observer.token)
            .await;
        page.assert_status(200);
        assert_eq!(page.body["items"].as_array().map(Vec::len), Some(1));
        assert!(
            page.body["next_cursor"].is_string(),
            "a cursor to the next page"
        );

        app.call(Method::GET, "/v1/users/directory", None, None)
            .await
            .assert_error(401, "missing_token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_deactivated_names_deactivated_users_for_audit_readers_and_is_403_for_others() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let reviewer = app.create_user("reviewer").await;
        let surgeon = app.create_user("surgeon").await;
        let leaver = app.create_user("observer").await;
        app.deactivate(leaver.id).await;

        let url = "/v1/users/directory?include_deactivated=true&limit=1000";
        for token in [&reviewer.token, &app.admin_token] {
            let answer = app.get(url, token).await;
            answer.assert_status(200);
            let items = answer.body["items"].as_array().expect("items");
            let gone = items
                .iter()
                .find(|u| u["id"] == leaver.id.to_string())
                .unwrap_or_else(|| panic!("the deactivated user is listed: {}", answer.body));
            assert_eq!(gone["username"], leaver.username.as_str());
            assert_eq!(gone["active"], false);
            let present = items
                .iter()
                .find(|u| u["id"] == surgeon.id.to_string())
                .expect("active users too");
            assert_eq!(present["active"], true);
        }

        app.get(url, &surgeon.token)
            .await
            .assert_error(403, "forbidden");
        let without = app
            .get(
                "/v1/users/directory?include_deactivated=false&limit=1000",
                &surgeon.token,
            )
            .await;
        without.assert_status(200);
        assert!(
            without.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .all(|u| u["id"] != leaver.id.to_string() && u["active"] == true),
            "false is the default: active users only"
        );
    }
}
