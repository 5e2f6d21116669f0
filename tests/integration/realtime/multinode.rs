//! Two server processes on one PostgreSQL database: a change made through one reaches the
//! clients of the other.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::client::WsClient;
use crate::api::spawn::{ADMIN, Answer, JWT_SECRET, PASSWORD};
use crate::helpers::fresh_postgres;

const BIN: &str = env!("CARGO_BIN_EXE_livesurgery");
const WAIT: Duration = Duration::from_secs(10);

/// One `livesurgery serve` process; killed when dropped.
struct Node {
    child: Child,
    base: String,
    port: u16,
    _data: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Starts `livesurgery serve` on a free port over `db_url`, with the tests' signing key, and
/// waits until it answers `/healthz` caught up.
async fn start_node(db_url: &str) -> Node {
    let port = free_port();
    let data = tempfile::tempdir().expect("a data folder");
    let child = Command::new(BIN)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--sfu-udp-bind", "127.0.0.1:0"])
        .env("LIVESURGERY_DATABASE_URL", db_url)
        .env("LIVESURGERY_JWT_SECRET", JWT_SECRET)
        .env("LIVESURGERY_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting livesurgery serve");
    let mut node = Node {
        child,
        base: format!("http://127.0.0.1:{port}"),
        port,
        _data: data,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::Client::new();
    loop {
        if let Ok(response) = client.get(format!("{}/healthz", node.base)).send().await
            && response.status() == 200
            && let Ok(health) = response.json::<Value>().await
            && health["projections_lag"] == 0
        {
            return node;
        }
        if let Some(status) = node.child.try_wait().expect("the child's status") {
            panic!("livesurgery serve exited early with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "node on {port} not healthy in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn call(
    node: &Node,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", node.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    Answer::of(request).await
}

async fn login(node: &Node, username: &str) -> String {
    let login = call(
        node,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"username": username, "password": PASSWORD})),
    )
    .await;
    login.assert_status(200);
    login.str("access_token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layout_change_on_one_node_reaches_a_client_of_another_within_a_second() {
    // Two nodes meet through PostgreSQL only: without it, the whole test is a (recorded) skip.
    let Some(db) = fresh_postgres().await else {
        return;
    };
    // The first admin, as an operator would create it.
    let mut create = Command::new(BIN)
        .args(["users", "create", "--username", ADMIN, "--role", "admin"])
        .env("LIVESURGERY_DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running users create");
    writeln!(create.stdin.take().expect("stdin"), "{PASSWORD}").expect("the password");
    let created = create.wait_with_output().expect("users create");
    assert!(created.status.success(), "users create: {created:?}");

    let a = start_node(&db.url).await;
    let b = start_node(&db.url).await;
    let admin = login(&a, ADMIN).await;
    let body = json!({"username": "surgeon-b", "password": PASSWORD, "role": "surgeon",
                      "display_name": "Dr B"});
    let user = call(&a, Method::POST, "/v1/users", Some(&admin), Some(body)).await;
    user.assert_status(201);
    let surgeon_id = user.str("id").to_owned();
    let surgeon = login(&a, "surgeon-b").await;
    let created = call(
        &a,
        Method::POST,
        "/v1/sessions",
        Some(&admin),
        Some(json!({"title": "Two nodes"})),
    )
    .await;
    created.assert_status(201);
    let session = created.str("id").to_owned();
    call(
        &a,
        Method::PUT,
        &format!("/v1/sessions/{session}/members/{surgeon_id}"),
        Some(&admin),
        Some(json!({"role": "surgeon"})),
    )
    .await
    .assert_status(200);
    call(
        &a,
        Method::POST,
        &format!("/v1/sessions/{session}:start"),
        Some(&admin),
        None,
    )
    .await
    .assert_status(200);
    let join_path = format!("/v1/sessions/{session}/participants:join");
    let writer_join = call(&a, Method::POST, &join_path, Some(&admin), None).await;
    writer_join.assert_status(201);
    let reader_join = call(&a, Method::POST, &join_path, Some(&surgeon), None).await;
    reader_join.assert_status(201);

    // The reader is a client of node B (the join token is valid on every node).
    let reader_url = format!("ws://127.0.0.1:{}/v1/sessions/{session}/ws", b.port);
    let reader_token = reader_join.body["ws"]["token"].as_str().expect("a token");
    let mut reader = WsClient::welcomed(&reader_url, reader_token, "reader on B").await;
    let writer_url = writer_join.body["ws"]["url"].as_str().expect("a URL");
    assert!(
        writer_url.contains(&format!(":{}/", a.port)),
        "{writer_url}"
    );
    let writer_token = writer_join.body["ws"]["token"].as_str().expect("a token");
    let mut writer = WsClient::welcomed(writer_url, writer_token, "writer on A").await;
    assert_eq!(reader.state.layout_version, 1);

    let mut latencies = Vec::new();
    for z in 1..=5u64 {
        let sent = Instant::now();
        writer
            .send(json!({"type": "layout.update", "ref": format!("z{z}"),
                         "base_version": writer.state.layout_version,
                         "changes": {"panels": {"p1": {"z": z}}}}))
            .await;
        let event = reader
            .until(WAIT, "the change from node A", |m| {
                m["event_type"] == "LayoutUpdated" && m["data"]["changes"][0]["value"] == z
            })
            .await;
        latencies.push(sent.elapsed());
        assert_eq!(event["data"]["version"], 1 + z, "{event}");
        writer
            .until(WAIT, "the ack", |m| {
                m["type"] == "ack" || m["type"] == "error"
            })
            .await;
        assert!(writer.state.errors.is_empty(), "{:?}", writer.state.errors);
    }
    println!("node A -> client of node B: {latencies:?}");
    for latency in &latencies {
        assert!(*latency < Duration::from_secs(1), "{latencies:?}");
    }
    assert!(
        reader.state.violations.is_empty(),
        "{:?}",
        reader.state.violations
    );
    writer
        .wait_for(WAIT, "its own last change", |s| s.layout_version == 6)
        .await;
    assert_eq!(reader.state.layout_version, 6);
    assert_eq!(reader.state.panels, writer.state.panels);
    reader.close().await;
    writer.close().await;
}
