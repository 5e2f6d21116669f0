//! Sign-in, refresh and session lifetime (issue 19's token findings, issue 16's cookie and
//! timeouts): refresh-token families, logout, future `iat`/`nbf`, the per-(address, username)
//! throttling, the web app's HttpOnly refresh cookie with its CSRF header, and the idle and
//! absolute session timeouts.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::spawn::{
    ADMIN, Answer, JWT_SECRET, PASSWORD, TestApp, jwt_claims, spawn_app, spawn_app_with,
};
use crate::helpers::all_backends;

const CSRF: &str = "X-LiveSurgery-CSRF";

async fn me(app: &TestApp, token: &str) -> Answer {
    app.get("/v1/users/me", token).await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Answer {
    let body = json!({"refresh_token": refresh_token});
    app.call(Method::POST, "/v1/auth/refresh", None, Some(body))
        .await
}

/// The audit events of `event_type` whose actor is `user`.
async fn audit_of(app: &TestApp, event_type: &str, user: Uuid) -> Vec<Value> {
    let path = format!("/v1/audit?type={event_type}&actor={user}");
    app.all_pages(&path, &app.admin_token).await
}

/// The `Set-Cookie` header that sets `name`.
fn set_cookie<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

/// The value a `Set-Cookie` header sets.
fn cookie_value(header: &str) -> &str {
    let pair = header.split(';').next().unwrap_or_default();
    pair.split_once('=').map(|(_, v)| v).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_token_reuse_revokes_the_whole_family() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        let user = app.create_user("surgeon").await;
        // Another sign-in of the same user: its own family, untouched by the reuse below.
        let elsewhere = app.login(&user.username, PASSWORD).await;
        elsewhere.assert_status(200);

        let (rt0, at0) = (user.refresh_token.clone(), user.token.clone());
        let first = refresh(&app, &rt0).await;
        first.assert_status(200);
        let (rt1, at1) = (first.str("refresh_token"), first.str("access_token"));
        me(&app, at1).await.assert_status(200);

        // The replay of the spent RT0: the mark of a stolen token.
        refresh(&app, &rt0)
            .await
            .assert_error(401, "refresh_token_reused");
        // Everything descended from RT0 is dead: the later refresh token and every access token.
        refresh(&app, rt1).await.assert_error(401, "invalid_token");
        me(&app, at1).await.assert_error(401, "session_revoked");
        me(&app, &at0).await.assert_error(401, "session_revoked");
        // The other sign-in goes on.
        me(&app, elsewhere.str("access_token"))
            .await
            .assert_status(200);
        refresh(&app, elsewhere.str("refresh_token"))
            .await
            .assert_status(200);

        // An audit event, with the family and no token in it.
        let reused = audit_of(&app, "RefreshTokenReused", user.id).await;
        assert_eq!(reused.len(), 1, "[{backend}] {reused:?}");
        let data = &reused[0]["data"];
        assert_eq!(data["user_id"], user.id.to_string(), "[{backend}] {data}");
        assert!(data["family_id"].is_string(), "[{backend}] {data}");
        let text = reused[0].to_string();
        for secret in [rt0.as_str(), rt1, at0.as_str(), at1] {
            assert!(!text.contains(secret), "[{backend}] a token in {text}");
        }
        // A second replay revokes nothing new and records nothing new.
        refresh(&app, &rt0)
            .await
            .assert_error(401, "refresh_token_reused");
        assert_eq!(audit_of(&app, "RefreshTokenReused", user.id).await.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_current_family_and_answers_204() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let user = app.create_user("observer").await;

        // With the refresh token in the body.
        let out = app
            .call(
                Method::POST,
                "/v1/auth/logout",
                None,
                Some(json!({"refresh_token": user.refresh_token})),
            )
            .await;
        out.assert_status(204);
        refresh(&app, &user.refresh_token)
            .await
            .assert_error(401, "invalid_token");
        me(&app, &user.token)
            .await
            .assert_error(401, "session_revoked");

        // With the access token alone.
        let again = app.login(&user.username, PASSWORD).await;
        again.assert_status(200);
        let access = again.str("access_token");
        app.call(Method::POST, "/v1/auth/logout", Some(access), None)
            .await
            .assert_status(204);
        me(&app, access).await.assert_error(401, "session_revoked");
        refresh(&app, again.str("refresh_token"))
            .await
            .assert_error(401, "invalid_token");

        // Another sign-in of the user is not signed out.
        let other = app.login(&user.username, PASSWORD).await;
        me(&app, other.str("access_token")).await.assert_status(200);
    }
}

/// An access token of `user` signed with the server's key, its claims changed by `edit`.
fn forged_access(user: Uuid, edit: impl FnOnce(&mut Value)) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "sub": user, "aud": "livesurgery-api", "iss": "livesurgery",
        "iat": now, "exp": now + 3600, "jti": Uuid::new_v4(),
    });
    edit(&mut claims);
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("signing")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_issued_or_valid_only_in_the_future_is_refused() {
    let app = spawn_app(crate::helpers::fresh_sqlite()).await;
    let now = chrono::Utc::now().timestamp();
    let admin = app.admin_id;
    // A little clock drift between server processes is tolerated.
    let drift = forged_access(admin, |c| c["iat"] = (now + 10).into());
    me(&app, &drift).await.assert_status(200);
    let cases = [
        (
            "iat an hour ahead",
            forged_access(admin, |c| c["iat"] = (now + 3600).into()),
        ),
        (
            "nbf an hour ahead",
            forged_access(admin, |c| c["nbf"] = (now + 3600).into()),
        ),
    ];
    for (what, token) in cases {
        let answer = me(&app, &token).await;
        assert_eq!(answer.status, 401, "{what}: {}", answer.text);
        answer.assert_error(401, "invalid_token");
    }
}

/// A client whose connections come from `address` (any 127/8 address reaches the server).
fn client_from(address: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(address))
        .build()
        .expect("a client")
}

async fn login_from(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    password: &str,
) -> Answer {
    let body = json!({"username": username, "password": password});
    Answer::of(client.post(app.url("/v1/auth/login")).json(&body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_from_one_address_do_not_lock_the_owner_out_at_another() {
    for db in all_backends().await {
        // The default rate: ten attempts per username (from one address) a minute.
        let app = spawn_app_with(db, |s| s.login_per_username_per_minute = 10).await;
        let backend = app.backend;
        let user = app.create_user("surgeon").await;
        let attacker = client_from(Ipv4Addr::new(127, 0, 0, 1));
        let owner = client_from(Ipv4Addr::new(127, 0, 0, 2));

        let guesses: Vec<String> = (0..12).map(|i| format!("guess number {i}")).collect();
        let mut statuses = Vec::new();
        for guess in &guesses {
            statuses.push(
                login_from(&app, &attacker, &user.username, guess)
                    .await
                    .status,
            );
        }
        // Five free wrong passwords, the sixth starts a delay: the attempts after it are refused
        // unseen (exponential delay), not checked.
        assert_eq!(&statuses[..6], &[401; 6], "[{backend}] {statuses:?}");
        assert!(
            statuses[6..].iter().all(|s| *s == 429),
            "[{backend}] {statuses:?}"
        );
        let throttled = login_from(&app, &attacker, &user.username, PASSWORD).await;
        throttled.assert_error(429, "too_many_attempts");
        assert!(
            throttled.header("retry-after").is_some(),
            "[{backend}] a Retry-After"
        );

        // The rightful user at another address signs in.
        login_from(&app, &owner, &user.username, PASSWORD)
            .await
            .assert_status(200);

        // The throttling is an event on the user's access stream, without a password.
        let events = audit_of(&app, "SignInThrottled", user.id).await;
        assert!(!events.is_empty(), "[{backend}] no SignInThrottled event");
        let data = &events[0]["data"];
        assert_eq!(data["address"], "127.0.0.1", "[{backend}] {data}");
        assert_eq!(data["failures"], 6, "[{backend}] {data}");
        assert!(data["delay_secs"].as_u64() >= Some(1), "[{backend}] {data}");
        let text = Value::Array(events).to_string();
        for secret in guesses.iter().map(String::as_str).chain([PASSWORD]) {
            assert!(!text.contains(secret), "[{backend}] a password in {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_refreshes_through_an_http_only_cookie_that_needs_the_csrf_header() {
    let app = spawn_app(crate::helpers::fresh_sqlite()).await;
    let body = json!({"username": ADMIN, "password": PASSWORD});
    let login = Answer::of(
        app.request(Method::POST, "/v1/auth/login", None)
            .header(CSRF, "1")
            .json(&body),
    )
    .await;
    login.assert_status(200);
    assert!(
        login.body.get("refresh_token").is_none(),
        "no refresh token a script could read: {}",
        login.text
    );
    let set = set_cookie(&login, "livesurgery_refresh").expect("the refresh cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/v1/auth"] {
        assert!(set.contains(attribute), "{attribute} missing in {set}");
    }
    let hint = set_cookie(&login, "livesurgery_signed_in").expect("the signed-in hint");
    assert!(
        !hint.contains("HttpOnly") && cookie_value(hint) == "1",
        "{hint}"
    );
    let rt0 = cookie_value(set).to_owned();
    assert_eq!(rt0.len(), 64, "{set}");

    let with_cookie = |token: &str, csrf: bool| {
        let request = app
            .request(Method::POST, "/v1/auth/refresh", None)
            .header("Cookie", format!("livesurgery_refresh={token}"));
        if csrf {
            request.header(CSRF, "1")
        } else {
            request
        }
    };
    // Without the header (what a cross-site form or image could send): refused, not spent.
    Answer::of(with_cookie(&rt0, false))
        .await
        .assert_error(403, "csrf_check_failed");
    let renewed = Answer::of(with_cookie(&rt0, true)).await;
    renewed.assert_status(200);
    assert!(
        renewed.body.get("refresh_token").is_none(),
        "{}",
        renewed.text
    );
    me(&app, renewed.str("access_token"))
        .await
        .assert_status(200);
    let rt1 =
        cookie_value(set_cookie(&renewed, "livesurgery_refresh").expect("a new cookie")).to_owned();
    assert_ne!(rt1, rt0);

    // A replayed cookie revokes the family, and the answer removes the cookies.
    let replay = Answer::of(with_cookie(&rt0, true)).await;
    replay.assert_error(401, "refresh_token_reused");
    let cleared = set_cookie(&replay, "livesurgery_refresh").expect("a clearing cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    // Logout by cookie: 204, cookies removed.
    let fresh = Answer::of(
        app.request(Method::POST, "/v1/auth/login", None)
            .header(CSRF, "1")
            .json(&body),
    )
    .await;
    let rt = cookie_value(set_cookie(&fresh, "livesurgery_refresh").expect("cookie")).to_owned();
    let out = Answer::of(
        app.request(Method::POST, "/v1/auth/logout", None)
            .header("Cookie", format!("livesurgery_refresh={rt}"))
            .header(CSRF, "1"),
    )
    .await;
    out.assert_status(204);
    assert!(set_cookie(&out, "livesurgery_refresh").is_some_and(|c| c.contains("Max-Age=0")));
    me(&app, fresh.str("access_token"))
        .await
        .assert_error(401, "session_revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_after_the_idle_timeout_is_refused_with_session_idle_timeout() {
    let app = spawn_app_with(crate::helpers::fresh_sqlite(), |s| {
        s.session_idle_timeout = 2
    })
    .await;
    let user = app.create_user("observer").await;
    // In use: each refresh within the idle timeout keeps the session alive.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let kept = refresh(&app, &user.refresh_token).await;
    kept.assert_status(200);
    tokio::time::sleep(Duration::from_millis(3000)).await;
    refresh(&app, kept.str("refresh_token"))
        .await
        .assert_error(401, "session_idle_timeout");
    me(&app, kept.str("access_token"))
        .await
        .assert_error(401, "session_revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_after_the_absolute_timeout_is_refused_with_session_absolute_timeout() {
    let app = spawn_app_with(crate::helpers::fresh_sqlite(), |s| {
        s.session_absolute_timeout = 3;
    })
    .await;
    let login = app.login(ADMIN, PASSWORD).await;
    let started = jwt_claims(login.str("access_token"))["iat"]
        .as_i64()
        .unwrap_or_default();
    let mut token = login.str("refresh_token").to_owned();
    // Refreshing often does not stretch the session past its absolute limit.
    loop {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let answer = refresh(&app, &token).await;
        if answer.status != 200 {
            answer.assert_error(401, "session_absolute_timeout");
            let lasted = chrono::Utc::now().timestamp() - started;
            assert!((3..=6).contains(&lasted), "ended after {lasted} s");
            break;
        }
        token = answer.str("refresh_token").to_owned();
        assert!(chrono::Utc::now().timestamp() - started < 8, "never ended");
    }
}
