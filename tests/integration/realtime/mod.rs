//! The realtime gateway (`GET /v1/sessions/{id}/ws`), black-box: real servers, real sockets,
//! checked against the protocol contract (version 1). Every test runs on SQLite and, when
//! configured, PostgreSQL; the multi-node test needs PostgreSQL.

mod auth;
pub mod client;
mod layout;
mod limits;
mod metrics;
mod multinode;
mod panel_names;
mod presence;
mod recording;
mod resume;
mod teaching;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::spawn::{Answer, JWT_SECRET, TestApp, TestUser, jwt_claims};

/// What `participants:join` handed out.
#[derive(Debug, Clone)]
pub struct Joined {
    pub participant_id: Uuid,
    pub role: String,
    pub permissions: Vec<String>,
    /// `ws.url`: the full `ws://…/v1/sessions/{id}/ws`.
    pub ws_url: String,
    pub ws_token: String,
    /// The position of the `ParticipantJoined` (`X-Position`).
    pub position: u64,
    pub body: Value,
}

/// The device every test participant joins from.
pub const DEVICE: &str = "OR tablet";

/// `POST /v1/sessions/{id}/participants:join` as `user`; asserts 201.
pub async fn join(app: &TestApp, session: Uuid, user: &TestUser) -> Joined {
    let path = format!("/v1/sessions/{session}/participants:join");
    let joined = app
        .call(
            Method::POST,
            &path,
            Some(&user.token),
            Some(json!({"device": DEVICE})),
        )
        .await;
    joined.assert_status(201);
    Joined {
        participant_id: joined.uuid("participant_id"),
        role: joined.str("role").to_owned(),
        permissions: joined.body["permissions"]
            .as_array()
            .expect("permissions")
            .iter()
            .map(|p| p.as_str().expect("a permission").to_owned())
            .collect(),
        ws_url: joined.body["ws"]["url"]
            .as_str()
            .expect("ws.url")
            .to_owned(),
        ws_token: joined.body["ws"]["token"]
            .as_str()
            .expect("ws.token")
            .to_owned(),
        position: joined.position(),
        body: joined.body.clone(),
    }
}

/// A live session hosted by a new (organisation) surgeon.
pub async fn live_session(app: &TestApp) -> (TestUser, Uuid) {
    let host = app.create_user("surgeon").await;
    let session = app.create_session(&host.token).await;
    app.start(session).await;
    (host, session)
}

/// A new user of this organisation role, made a member of `session` with this session role.
pub async fn member(app: &TestApp, session: Uuid, org_role: &str, role: &str) -> TestUser {
    let user = app.create_user(org_role).await;
    app.add_member(session, user.id, role).await;
    user
}

/// The WebSocket URL of a session on this server.
pub fn ws_url(app: &TestApp, session: Uuid) -> String {
    format!(
        "{}/v1/sessions/{session}/ws",
        app.base.replacen("http://", "ws://", 1)
    )
}

/// The layout by `GET /v1/sessions/{id}/layout`, read after every write so far: (version,
/// panels by id).
pub async fn rest_layout(app: &TestApp, session: Uuid) -> (u64, BTreeMap<String, Value>) {
    let head = app.head().await;
    let request = app
        .request(
            Method::GET,
            &format!("/v1/sessions/{session}/layout"),
            Some(&app.admin_token),
        )
        .header("x-min-position", head.to_string());
    let layout = Answer::of(request).await;
    layout.assert_status(200);
    (
        layout.body["version"].as_u64().expect("a version"),
        client::panel_map(&layout.body["panels"]),
    )
}

/// Every event of the session's own stream (`session-<id>`), from its audit trail, in log order.
pub async fn session_events(app: &TestApp, session: Uuid) -> Vec<Value> {
    let stream = format!("session-{session}");
    app.all_pages(&format!("/v1/sessions/{session}/events"), &app.admin_token)
        .await
        .into_iter()
        .filter(|e| e["stream"] == stream.as_str())
        .collect()
}

/// The positions of these audit items.
pub fn positions(items: &[Value]) -> Vec<u64> {
    items
        .iter()
        .map(|e| e["position"].as_u64().expect("a position"))
        .collect()
}

/// `GET /metrics` (Prometheus text).
pub async fn metrics_text(base: &str) -> String {
    let answer = Answer::of(reqwest::Client::new().get(format!("{base}/metrics"))).await;
    answer.assert_status(200);
    answer.text
}

/// The value of one series (`name` or `name{label="value"}`), if exposed.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
}

/// Polls `/metrics` until `series` reaches `at_least`; its value then.
pub async fn wait_metric(base: &str, series: &str, at_least: f64, within: Duration) -> f64 {
    let deadline = Instant::now() + within;
    loop {
        let text = metrics_text(base).await;
        let value = metric(&text, series).unwrap_or(0.0);
        if value >= at_least {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{series} is {value}, not >= {at_least} after {within:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A WS token with the claims of `token` but another expiry (seconds from now; negative: in the
/// past), signed with the test servers' key.
pub fn token_expiring_in(token: &str, secs: i64) -> String {
    let mut claims = jwt_claims(token);
    let now = chrono::Utc::now().timestamp();
    claims["iat"] = json!(now.min(now + secs) - 1);
    claims["exp"] = json!(now + secs);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("signing")
}

/// The seed of a randomised test: `LIVESURGERY_TEST_SEED`, or a fresh one; printed, so that a
/// failure can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("LIVESURGERY_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("{test}: seed {seed} (rerun with LIVESURGERY_TEST_SEED={seed})");
    seed
}
