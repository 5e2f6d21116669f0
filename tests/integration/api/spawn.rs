//! `spawn_app()`: the real server on port 0 over a fresh database, with a first admin signed in,
//! and the few calls every API test makes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use livesurgery::app::PlaybackSigner;
use livesurgery::app::users::NewUser;
use livesurgery::auth::Credentials;
use livesurgery::settings::{ApiSettings, DatabaseUrl, Settings};
use livesurgery::sfu::Sfu;
use livesurgery::startup::Application;
use livesurgery_domain::CommandContext;
use livesurgery_domain::roles::OrgRole;
use livesurgery_projections::ReadModels;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::TestDb;

/// The signing key of every test server (tests forge tokens with it, or with another key).
pub const JWT_SECRET: &str = "integration-tests-signing-key-0123456789abcdef";
/// The password of every user the tests create.
pub const PASSWORD: &str = "correct horse battery staple";
/// The username of the first admin.
pub const ADMIN: &str = "admin";

/// A running server over its own database, with the first admin signed in.
pub struct TestApp {
    pub backend: &'static str,
    pub base: String,
    pub client: reqwest::Client,
    pub admin_id: Uuid,
    pub admin_token: String,
    pub db_url: String,
    pub(super) db: Arc<TestDb>,
    pub(super) _data_dir: tempfile::TempDir,
    pub(super) next_user: Arc<AtomicU64>,
    /// The server's SFU when it runs in this process (the demo's synthetic feeds publish into
    /// it directly); `None` for a server process.
    pub sfu: Option<Arc<Sfu>>,
}

/// A user the tests registered and signed in.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: Uuid,
    pub username: String,
    pub token: String,
    pub refresh_token: String,
}

/// One HTTP answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
}

impl Answer {
    /// Sends a request and reads the whole answer.
    pub async fn of(request: RequestBuilder) -> Answer {
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            body,
        }
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The log position a write reached (`X-Position`).
    #[track_caller]
    pub fn position(&self) -> u64 {
        self.header("x-position")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no X-Position on {} {}", self.status, self.text))
    }

    /// A string field of the body.
    #[track_caller]
    pub fn str(&self, field: &str) -> &str {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no string {field:?} in {} {}", self.status, self.text))
    }

    /// A UUID field of the body.
    #[track_caller]
    pub fn uuid(&self, field: &str) -> Uuid {
        self.str(field).parse().expect("a UUID")
    }

    /// Asserts a 2xx status.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Answer {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        self
    }

    /// Asserts the error envelope: this status, `{"error": {"code", "message", "request_id"}}`
    /// with this code, a message, the request id of the `X-Request-Id` header, and nothing of the
    /// server's insides (SQL, source paths, panics).
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.body["error"]["code"].as_str()),
            (status, Some(code)),
            "unexpected answer: {}",
            self.text
        );
        let error = self.body["error"]
            .as_object()
            .expect("an error object in the body");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            !message.trim().is_empty(),
            "an empty message: {}",
            self.text
        );
        let request_id = self.header("x-request-id").expect("X-Request-Id");
        assert_eq!(
            error["request_id"].as_str(),
            Some(request_id),
            "{}",
            self.text
        );
        assert!(
            code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{code} is not snake_case"
        );
        for leak in ["sqlx", "SELECT", ".rs", "panicked"] {
            assert!(!self.text.contains(leak), "{leak:?} leaks in {}", self.text);
        }
    }
}

/// The settings every test server starts from: tokens signed with [`JWT_SECRET`], login
/// limits high enough that only the rate-limit test meets them, and the SFU on a free loopback
/// port (tests run many servers in one process; the default is the fixed public 0.0.0.0:3480).
fn test_settings(database_url: &str, data_dir: &std::path::Path) -> Settings {
    Settings {
        database_url: DatabaseUrl::new(database_url),
        http_addr: "127.0.0.1:0".into(),
        api: ApiSettings {
            data_dir: data_dir.to_owned(),
            jwt_secret: Some(JWT_SECRET.parse().expect("a long enough key")),
            login_per_username_per_minute: 100,
            login_per_address_per_minute: 100_000,
            sfu_udp_bind: "127.0.0.1:0".into(),
            ..ApiSettings::default()
        },
    }
}

/// Registers the first admin straight into the log, as `livesurgery users create` does.
pub(super) async fn register_first_admin(database_url: &str) -> Uuid {
    let store = livesurgery::store::open(database_url)
        .await
        .expect("opening the log");
    let read_models = ReadModels::connect(database_url)
        .await
        .expect("connecting the read models");
    let credentials = Credentials::new(read_models.pool().clone());
    let ctx = CommandContext::new(Uuid::nil(), OrgRole::Admin, Utc::now());
    let request = NewUser {
        username: ADMIN.into(),
        password: PASSWORD.into(),
        role: OrgRole::Admin,
        display_name: "First Admin".into(),
    };
    let (admin_id, _) = livesurgery::app::users::register_user(
        &*store,
        &credentials,
        &ctx,
        Uuid::now_v7(),
        &request,
    )
    .await
    .expect("registering the first admin");
    store.close().await;
    admin_id
}

/// Builds and starts a server; returns its base URL, the folder of its generated state and its
/// SFU.
async fn start_server(
    database_url: &str,
    tweak: impl FnOnce(&mut ApiSettings),
    playback: Option<Arc<dyn PlaybackSigner>>,
) -> (String, tempfile::TempDir, Arc<Sfu>) {
    let data_dir = tempfile::tempdir().expect("a data folder");
    let mut settings = test_settings(database_url, data_dir.path());
    tweak(&mut settings.api);
    let app = Application::build_with_playback(&settings, playback)
        .await
        .expect("the server builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let sfu = app.sfu();
    tokio::spawn(app.run_until_stopped());
    wait_until_caught_up(&base).await;
    (base, data_dir, sfu)
}

/// Waits until the server's projections have applied the log it started with (the first admin
/// among it), so that signing in does not depend on the configured read wait.
pub(super) async fn wait_until_caught_up(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = Answer::of(reqwest::Client::new().get(format!("{base}/healthz"))).await;
        if health.status == 200 && health.body["projections_lag"] == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "not caught up: {}", health.text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A server over `db` with the default test settings and a signed-in admin.
pub async fn spawn_app(db: TestDb) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// A server over `db`, its settings changed by `tweak` (small limits, short lifetimes).
pub async fn spawn_app_with(db: TestDb, tweak: impl FnOnce(&mut ApiSettings)) -> TestApp {
    spawn_app_playing(db, tweak, None).await
}

/// A server over `db` that plays archives through `playback` (a stand-in for the archive
/// store), its settings changed by `tweak`.
pub async fn spawn_app_playing(
    db: TestDb,
    tweak: impl FnOnce(&mut ApiSettings),
    playback: Option<Arc<dyn PlaybackSigner>>,
) -> TestApp {
    let admin_id = register_first_admin(&db.url).await;
    let (base, data_dir, sfu) = start_server(&db.url, tweak, playback).await;
    let mut app = TestApp {
        backend: db.backend,
        base,
        client: reqwest::Client::new(),
        admin_id,
        admin_token: String::new(),
        db_url: db.url.clone(),
        db: Arc::new(db),
        _data_dir: data_dir,
        next_user: Arc::new(AtomicU64::new(1)),
        sfu: Some(sfu),
    };
    let login = app.login(ADMIN, PASSWORD).await;
    login.assert_status(200);
    app.admin_token = login.str("access_token").to_owned();
    app
}

impl TestApp {
    /// The server's data folder (keys, spool, generated state).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data_dir.path()
    }

    /// A second server process over the same database and signing key (the admin's token works
    /// on both).
    pub async fn sibling(&self, tweak: impl FnOnce(&mut ApiSettings)) -> TestApp {
        let (base, data_dir, sfu) = start_server(&self.db_url, tweak, None).await;
        TestApp {
            backend: self.backend,
            base,
            client: reqwest::Client::new(),
            admin_id: self.admin_id,
            admin_token: self.admin_token.clone(),
            db_url: self.db_url.clone(),
            db: self.db.clone(),
            _data_dir: data_dir,
            next_user: self.next_user.clone(),
            sfu: Some(sfu),
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path`, signed in with `token` when given.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Calls `method path` with an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let request = self.request(method, path, token);
        Answer::of(match body {
            Some(body) => request.json(&body),
            None => request,
        })
        .await
    }

    /// `GET path` with a token.
    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// `POST /v1/auth/login`.
    pub async fn login(&self, username: &str, password: &str) -> Answer {
        let body = json!({"username": username, "password": password});
        self.call(Method::POST, "/v1/auth/login", None, Some(body))
            .await
    }

    /// Registers a user with this organisation role (`"surgeon"`, …) as the admin, and signs
    /// them in.
    pub async fn create_user(&self, role: &str) -> TestUser {
        let n = self.next_user.fetch_add(1, Ordering::Relaxed);
        let username = format!("{role}-{n}");
        let body = json!({
            "username": username,
            "password": PASSWORD,
            "role": role,
            "display_name": format!("Dr {role} {n}"),
        });
        let created = self
            .call(
                Method::POST,
                "/v1/users",
                Some(&self.admin_token),
                Some(body),
            )
            .await;
        created.assert_status(201);
        let login = self.login(&username, PASSWORD).await;
        login.assert_status(200);
        TestUser {
            id: created.uuid("id"),
            username,
            token: login.str("access_token").to_owned(),
            refresh_token: login.str("refresh_token").to_owned(),
        }
    }

    /// Creates a scheduled session; the caller becomes its host.
    pub async fn create_session(&self, token: &str) -> Uuid {
        let body = json!({"title": "Laparoscopic cholecystectomy"});
        let created = self
            .call(Method::POST, "/v1/sessions", Some(token), Some(body))
            .await;
        created.assert_status(201);
        created.uuid("id")
    }

    /// Adds (or re-roles) a member, as the admin.
    pub async fn add_member(&self, session: Uuid, user: Uuid, role: &str) {
        let path = format!("/v1/sessions/{session}/members/{user}");
        self.call(
            Method::PUT,
            &path,
            Some(&self.admin_token),
            Some(json!({"role": role})),
        )
        .await
        .assert_status(200);
    }

    /// Deactivates a user, as the admin.
    pub async fn deactivate(&self, user: Uuid) {
        self.call(
            Method::PATCH,
            &format!("/v1/users/{user}"),
            Some(&self.admin_token),
            Some(json!({"active": false})),
        )
        .await
        .assert_status(200);
    }

    /// Starts a scheduled session, as the admin.
    pub async fn start(&self, session: Uuid) {
        let path = format!("/v1/sessions/{session}:start");
        self.call(Method::POST, &path, Some(&self.admin_token), None)
            .await
            .assert_status(200);
    }

    /// The log head now (from `/readyz`): a read that waits for it sees every write before.
    pub async fn head(&self) -> u64 {
        let ready = self.call(Method::GET, "/readyz", None, None).await;
        ready.assert_status(200);
        ready.body["head"].as_u64().expect("a head position")
    }

    /// Waits until the server's read models reach `position` (an event appended by another
    /// process, e.g. the stand-in recorder, that no request of the tests waited for).
    pub async fn wait_until_projected(&self, position: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let health = self.call(Method::GET, "/healthz", None, None).await;
            if health.body["projections_position"].as_u64() >= Some(position) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not at {position}: {}",
                health.text
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every item of a paged list (`items` + `next_cursor`), read after the log head of now.
    pub async fn all_pages(&self, path: &str, token: &str) -> Vec<Value> {
        self.all_pages_of(path, token, 1000).await
    }

    /// [`TestApp::all_pages`], `page_size` items at a time.
    pub async fn all_pages_of(&self, path: &str, token: &str, page_size: u32) -> Vec<Value> {
        let head = self.head().await;
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                Some(c) => format!("{path}{separator}limit={page_size}&cursor={c}"),
                None => format!("{path}{separator}limit={page_size}"),
            };
            let request = self
                .request(Method::GET, &page_path, Some(token))
                .header("x-min-position", head.to_string());
            let page = Answer::of(request).await;
            page.assert_status(200);
            items.extend(page.body["items"].as_array().cloned().unwrap_or_default());
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }

    /// Polls `GET /v1/admin/projections` until `name` is no longer rebuilding; its entry then.
    pub async fn wait_for_rebuild(&self, name: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let list = self.get("/v1/admin/projections", &self.admin_token).await;
            list.assert_status(200);
            let entry = list.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .find(|p| p["name"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("no projection {name} in {}", list.text));
            if entry["rebuilding"] == false {
                return entry;
            }
            assert!(
                Instant::now() < deadline,
                "{name} still rebuilding: {entry}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The claims of a JWT, decoded from its middle part without checking anything.
pub fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&base64url_decode(payload)).expect("JSON claims")
}

/// Decodes unpadded base64url (RFC 4648 §5).
pub fn base64url_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut held) = (0u32, 0u32);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            other => panic!("{:?} is not base64url", other as char),
        };
        bits = (bits << 6) | u32::from(value);
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    out
}

/// Encodes unpadded base64url (RFC 4648 §5).
pub fn base64url_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    let (mut bits, mut held) = (0u32, 0u32);
    for byte in bytes {
        bits = (bits << 8) | u32::from(*byte);
        held += 8;
        while held >= 6 {
            held -= 6;
            out.push(ALPHABET[((bits >> held) & 63) as usize] as char);
        }
    }
    if held > 0 {
        out.push(ALPHABET[((bits << (6 - held)) & 63) as usize] as char);
    }
    out
}
