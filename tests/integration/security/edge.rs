//! The edge: what every HTTP answer carries (security headers, `Cache-Control`, CORS, HSTS
//! under TLS), the WebSocket handshake's Origin check, the web app's source maps, and what is
//! at rest (no bearer token in the idempotency store, SQLite files 0600). Issues 16 and 19.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::api::spawn::{
    ADMIN, Answer, JWT_SECRET, PASSWORD, TestApp, jwt_claims, spawn_app, spawn_app_with,
};
use crate::helpers::{all_backends, fresh_sqlite};
use crate::realtime::{Joined, join, live_session};

/// An origin no setting allows.
const EVIL: &str = "https://evil.example";
/// The origin the tests allow with `--allowed-origins`.
const VIEWER: &str = "https://viewer.example.org";

/// The headers every answer must carry, whatever its path and status.
fn assert_security_headers(answer: &Answer, what: &str) {
    let csp = answer
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert_eq!(
        answer.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        answer.header("referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
}

/// A web app build in a folder: an index, a script and its source map.
fn web_build() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a folder for the build");
    std::fs::create_dir_all(dir.path().join("assets")).expect("assets/");
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><script type=\"module\" src=\"/assets/app.js\"></script>",
    )
    .expect("index.html");
    std::fs::write(dir.path().join("assets/app.js"), "console.log(1);\n").expect("app.js");
    std::fs::write(
        dir.path().join("assets/app.js.map"),
        "{\"version\":3,\"sources\":[\"src/secret.ts\"]}",
    )
    .expect("app.js.map");
    dir
}

/// A WebSocket handshake to the session of `joined`, sending `origin`; the answer's status
/// (101 when it opened) and body.
async fn ws_handshake(joined: &Joined, origin: Option<&str>) -> (u16, String) {
    let url = format!("{}?token={}", joined.ws_url, joined.ws_token);
    let mut request = url.into_client_request().expect("a WebSocket request");
    if let Some(origin) = origin {
        request.headers_mut().insert(
            "origin",
            HeaderValue::from_str(origin).expect("an origin header"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut socket, response)) => {
            let _ = socket.close(None).await;
            (response.status().as_u16(), String::new())
        }
        Err(tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            (response.status().as_u16(), body)
        }
        Err(error) => panic!("the handshake failed without an HTTP answer: {error}"),
    }
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_api_and_web_app_alike() {
    let build = web_build();
    let dir = build.path().to_owned();
    let app = spawn_app_with(fresh_sqlite(), |s| s.web_dir = Some(dir)).await;
    let me = app.get("/v1/users/me", &app.admin_token).await;
    me.assert_status(200);
    assert_security_headers(&me, "GET /v1/users/me");
    let unknown = app.call(Method::GET, "/v1/nothing-here", None, None).await;
    unknown.assert_status(404);
    assert_security_headers(&unknown, "a 404 of the API");
    let health = app.call(Method::GET, "/healthz", None, None).await;
    assert_security_headers(&health, "GET /healthz");

    let page = app.call(Method::GET, "/", None, None).await;
    page.assert_status(200);
    assert_security_headers(&page, "GET / (the web app)");
    let csp = page.header("content-security-policy").unwrap_or_default();
    let script_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .unwrap_or_else(|| panic!("the app's CSP names its scripts: {csp}"));
    assert_eq!(script_src, "script-src 'self'", "no inline script: {csp}");
    let deep = app
        .call(Method::GET, "/sessions/x/workspace", None, None)
        .await;
    assert_security_headers(&deep, "an app route");
    // Plain HTTP: no HSTS (it would lock browsers out of a server without TLS).
    assert_eq!(me.header("strict-transport-security"), None);
}

#[tokio::test]
async fn authenticated_api_answers_and_sign_in_are_marked_no_store() {
    let app = spawn_app(fresh_sqlite()).await;
    let login = app.login(ADMIN, PASSWORD).await;
    login.assert_status(200);
    assert_eq!(
        login.header("cache-control"),
        Some("no-store"),
        "sign-in carries tokens"
    );
    let refresh = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": login.str("refresh_token")})),
        )
        .await;
    assert_eq!(
        refresh.header("cache-control"),
        Some("no-store"),
        "refresh: {}",
        refresh.status
    );
    let user = app.create_user("surgeon").await;
    let session = app.create_session(&user.token).await;
    for path in [
        "/v1/users/me".to_owned(),
        "/v1/sessions".to_owned(),
        format!("/v1/sessions/{session}"),
        "/v1/users".to_owned(),
    ] {
        let token = if path == "/v1/users" {
            &app.admin_token
        } else {
            &user.token
        };
        let answer = app.get(&path, token).await;
        answer.assert_status(200);
        assert_eq!(answer.header("cache-control"), Some("no-store"), "{path}");
    }
    let refused = app.get("/v1/users", &user.token).await;
    refused.assert_status(403);
    assert_eq!(refused.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn a_websocket_handshake_from_another_origin_is_refused_403() {
    let app = spawn_app_with(fresh_sqlite(), |s| {
        s.allowed_origins = vec![VIEWER.to_owned()];
    })
    .await;
    let (host, session) = live_session(&app).await;
    let joined = join(&app, session, &host).await;

    let (status, body) = ws_handshake(&joined, Some(EVIL)).await;
    assert_eq!(status, 403, "a page of {EVIL} opened the session: {body}");
    let error: Value = serde_json::from_str(&body).expect("the JSON envelope");
    assert_eq!(error["error"]["code"], "origin_not_allowed", "{body}");

    // The server's own origin, an allowed one, and a client that is no browser (no Origin).
    for origin in [Some(app.base.as_str()), Some(VIEWER), None] {
        let (status, body) = ws_handshake(&joined, origin).await;
        assert_eq!(status, 101, "{origin:?}: {body}");
    }
}

#[tokio::test]
async fn cors_answers_only_the_allowed_origins() {
    let app = spawn_app_with(fresh_sqlite(), |s| {
        s.allowed_origins = vec![VIEWER.to_owned()];
    })
    .await;
    let preflight = |origin: &'static str| {
        Answer::of(
            app.client
                .request(Method::OPTIONS, app.url("/v1/sessions"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization, content-type",
                ),
        )
    };
    let refused = preflight(EVIL).await;
    refused.assert_error(403, "origin_not_allowed");
    assert_eq!(refused.header("access-control-allow-origin"), None);
    let allowed = preflight(VIEWER).await;
    allowed.assert_status(204);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(VIEWER));
    assert!(
        allowed
            .header("access-control-allow-methods")
            .is_some_and(|m| m.contains("POST")),
        "{:?}",
        allowed.header("access-control-allow-methods")
    );

    let read = |origin: &'static str| {
        Answer::of(
            app.request(Method::GET, "/v1/users/me", Some(&app.admin_token))
                .header("origin", origin),
        )
    };
    let from_evil = read(EVIL).await;
    assert_eq!(
        from_evil.header("access-control-allow-origin"),
        None,
        "a page of {EVIL} may not read the answer"
    );
    let from_viewer = read(VIEWER).await;
    from_viewer.assert_status(200);
    assert_eq!(
        from_viewer.header("access-control-allow-origin"),
        Some(VIEWER)
    );
}

#[tokio::test]
async fn source_maps_are_not_served_unless_asked_for() {
    let build = web_build();
    let dir = build.path().to_owned();
    let app = spawn_app_with(fresh_sqlite(), |s| s.web_dir = Some(dir.clone())).await;
    let script = app.call(Method::GET, "/assets/app.js", None, None).await;
    script.assert_status(200);
    let map = app
        .call(Method::GET, "/assets/app.js.map", None, None)
        .await;
    map.assert_error(404, "not_found");
    assert!(!map.text.contains("secret.ts"), "{}", map.text);

    let debugging = spawn_app_with(fresh_sqlite(), |s| {
        s.web_dir = Some(dir);
        s.web_source_maps = true;
    })
    .await;
    let map = debugging
        .call(Method::GET, "/assets/app.js.map", None, None)
        .await;
    map.assert_status(200);
    assert!(map.text.contains("secret.ts"), "{}", map.text);
}

#[tokio::test]
async fn join_tokens_are_not_stored_in_the_idempotency_store_and_a_replay_gets_fresh_ones() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let (host, session) = live_session(&app).await;
        let path = format!("/v1/sessions/{session}/participants:join");
        let call = || {
            Answer::of(
                app.request(Method::POST, &path, Some(&host.token))
                    .header("idempotency-key", "join-once")
                    .json(&json!({"device": "OR tablet"})),
            )
        };
        let first = call().await;
        first.assert_status(201);
        let tokens = [
            first.body["ws"]["token"].as_str().expect("ws.token"),
            first.body["sfu"]["token"].as_str().expect("sfu.token"),
        ];

        let kept = kept_answers(&app).await;
        assert!(!kept.is_empty(), "{}: the answer was kept", app.backend);
        for body in &kept {
            for token in tokens {
                // A JWT's signature is its last, unique part.
                let signature = token.rsplit('.').next().unwrap_or(token);
                assert!(
                    !body.contains(signature),
                    "{}: a join token is at rest: {body}",
                    app.backend
                );
            }
        }

        let replay = call().await;
        replay.assert_status(201);
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        assert_eq!(
            replay.body["participant_id"], first.body["participant_id"],
            "the same participant, no second join"
        );
        for channel in ["ws", "sfu"] {
            let token = replay.body[channel]["token"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: the replay has {channel}.token", app.backend));
            let claims = jwt_claims(token);
            assert_eq!(claims["pid"], first.body["participant_id"], "{channel}");
            assert_eq!(claims["sub"], host.id.to_string(), "{channel}");
        }
        // The reissued WS token opens the session's WebSocket.
        let joined = Joined {
            participant_id: first.uuid("participant_id"),
            role: replay.str("role").to_owned(),
            permissions: Vec::new(),
            ws_url: replay.body["ws"]["url"]
                .as_str()
                .expect("ws.url")
                .to_owned(),
            ws_token: replay.body["ws"]["token"]
                .as_str()
                .expect("ws.token")
                .to_owned(),
            position: 0,
            body: replay.body.clone(),
        };
        let (status, body) = ws_handshake(&joined, None).await;
        assert_eq!(status, 101, "{}: {body}", app.backend);
    }
}

/// The bodies of every answer kept for `Idempotency-Key`.
async fn kept_answers(app: &TestApp) -> Vec<String> {
    let models = livesurgery_projections::ReadModels::connect(&app.db_url)
        .await
        .expect("the read models");
    let rows: Vec<Option<String>> = sqlx::query_scalar("SELECT body FROM idempotency_keys")
        .fetch_all(models.pool())
        .await
        .expect("reading the idempotency store");
    rows.into_iter().flatten().collect()
}

#[cfg(unix)]
#[tokio::test]
async fn sqlite_database_files_are_created_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app(fresh_sqlite()).await;
    // A write, so the WAL holds something.
    app.create_user("surgeon").await;
    let file = app
        .db_url
        .strip_prefix("sqlite://")
        .expect("a SQLite URL")
        .to_owned();
    for suffix in ["", "-wal", "-shm"] {
        let name = format!("{file}{suffix}");
        let mode = std::fs::metadata(&name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} is {:o}", mode & 0o777);
    }
}

/// A server terminating TLS with a self-signed certificate for `localhost`: its port and the
/// certificate (PEM). The folder holds its database, data and key files while it serves.
pub async fn tls_server() -> (u16, String, tempfile::TempDir) {
    use livesurgery::settings::{ApiSettings, DatabaseUrl, Settings};
    let data = tempfile::tempdir().expect("a data folder");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a self-signed certificate");
    let cert = data.path().join("cert.pem");
    let key = data.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("cert.pem");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("key.pem");
    let settings = Settings {
        database_url: DatabaseUrl::new(format!(
            "sqlite://{}",
            data.path().join("livesurgery.db").display()
        )),
        http_addr: "127.0.0.1:0".into(),
        api: ApiSettings {
            data_dir: data.path().to_owned(),
            jwt_secret: Some(JWT_SECRET.parse().expect("a long enough key")),
            sfu_udp_bind: "127.0.0.1:0".into(),
            tls_cert: Some(cert),
            tls_key: Some(key),
            ..ApiSettings::default()
        },
    };
    let server = livesurgery::startup::Application::build(&settings)
        .await
        .expect("the server builds with TLS");
    let port = server.port();
    tokio::spawn(server.run_until_stopped());
    (port, certified.cert.pem(), data)
}

#[tokio::test]
async fn tls_is_terminated_with_the_given_certificate_and_answers_carry_hsts() {
    let (port, pem, _data) = tls_server().await;
    let trusted = reqwest::Certificate::from_pem(pem.as_bytes()).expect("the test's certificate");
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(trusted)
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTPS client");
    let health = Answer::of(client.get(format!("https://localhost:{port}/healthz"))).await;
    health.assert_status(200);
    assert_eq!(
        health.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    assert_security_headers(&health, "GET /healthz over TLS");
    // The web app's pages know they are served over TLS: their WebSocket is `wss://`.
    let page = Answer::of(client.get(format!("https://localhost:{port}/"))).await;
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains(&format!("connect-src 'self' wss://localhost:{port}")),
        "{csp}"
    );

    // Plain HTTP on the TLS port gets no answer: nothing travels in the clear.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a client");
    let cleartext = plain
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(
        cleartext
            .as_ref()
            .map_or(true, |r| !r.status().is_success()),
        "{cleartext:?}"
    );
}
