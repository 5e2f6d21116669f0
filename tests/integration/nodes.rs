//! Several `livesurgery serve` processes on one database, as a scaled-out deployment runs them:
//! the operator's first admin, nodes started on free ports with the tests' signing key (so a
//! token of one node is valid on every node), stopped gracefully or killed.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::spawn::{ADMIN, Answer, JWT_SECRET, PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_livesurgery");

/// One `livesurgery serve` process; killed when dropped.
pub struct Node {
    child: Child,
    pub base: String,
    pub port: u16,
    _data: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// SIGTERM, as an operator stops a node, and waits (at most `within`) for it to exit.
    pub fn stop(&mut self, within: Duration) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("running kill");
        assert!(sent.success(), "kill -TERM {pid}: {sent}");
        let deadline = Instant::now() + within;
        while self.child.try_wait().expect("the node's status").is_none() {
            assert!(
                Instant::now() < deadline,
                "node on {} still running {within:?} after SIGTERM",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: the node dies without a word (a crash, a power cut).
    pub fn kill(&mut self) {
        self.child.kill().expect("killing the node");
        self.child.wait().expect("reaping the node");
    }

    /// One HTTP call to this node.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Answer::of(request).await
    }

    /// Signs `username` in (the tests' password); the access token.
    pub async fn login(&self, username: &str) -> String {
        let login = self
            .call(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await;
        login.assert_status(200);
        login.str("access_token").to_owned()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The first admin ([`ADMIN`]), as an operator creates it: `livesurgery users create`.
pub fn create_first_admin(db_url: &str) {
    let mut create = Command::new(BIN)
        .args(["users", "create", "--username", ADMIN, "--role", "admin"])
        .env("LIVESURGERY_DATABASE_URL", db_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running users create");
    writeln!(create.stdin.take().expect("stdin"), "{PASSWORD}").expect("the password");
    let created = create.wait_with_output().expect("users create");
    assert!(created.status.success(), "users create: {created:?}");
}

/// Starts `livesurgery serve` on a free port over `db_url`, with the tests' signing key and
/// `env` besides, and waits until it answers `/healthz` caught up.
pub async fn start_node(db_url: &str, env: &[(&str, &str)]) -> Node {
    let port = free_port();
    let data = tempfile::tempdir().expect("a data folder");
    let child = Command::new(BIN)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--sfu-udp-bind", "127.0.0.1:0"])
        .env("LIVESURGERY_DATABASE_URL", db_url)
        .env("LIVESURGERY_JWT_SECRET", JWT_SECRET)
        .env("LIVESURGERY_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
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
