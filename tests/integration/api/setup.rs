//! First start, with the real binary: the setup link printed when no admin exists, `/v1/setup`
//! creating the first admin (who then signs in), the token used once and forgotten by a
//! restart, and the refusals.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::process::{BIN, free_port};
use super::spawn::{ADMIN, Answer, JWT_SECRET, PASSWORD, register_first_admin};
use crate::helpers::{TestDb, all_backends, fresh_sqlite};

/// A `livesurgery serve` child process and everything it printed so far.
pub(crate) struct Server {
    pub(crate) base: String,
    client: reqwest::Client,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    child: Child,
}

/// Collects a child's output lines (also keeps the pipe drained).
fn collect(
    lines: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(lines).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            into.lock().expect("not poisoned").push(line);
        }
    });
}

impl Server {
    /// Starts `livesurgery serve --addr <addr>` over `db` and `data_dir` with `env`, and waits
    /// until it says it is serving (start-up has decided on the setup link by then).
    pub(crate) async fn start(
        db: &TestDb,
        data_dir: &std::path::Path,
        addr: &str,
        env: &[(&str, &str)],
    ) -> Server {
        let port = addr.rsplit(':').next().expect("addr has a port");
        let mut child = Command::new(BIN)
            .args(["serve", "--addr", addr, "--sfu-udp-bind", "127.0.0.1:0"])
            .env("LIVESURGERY_DATABASE_URL", &db.url)
            .env("LIVESURGERY_DATA_DIR", data_dir)
            .env("LIVESURGERY_JWT_SECRET", JWT_SECRET)
            .env("LIVESURGERY_LOGIN_PER_USERNAME_PER_MINUTE", "100")
            .env("LIVESURGERY_LOGIN_PER_ADDRESS_PER_MINUTE", "100000")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting livesurgery serve");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().expect("piped"), stdout.clone());
        collect(child.stderr.take().expect("piped"), stderr.clone());
        let server = Server {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            stdout,
            stderr,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !server.logged("LiveSurgery serving") {
            assert!(
                Instant::now() < deadline,
                "the server did not start within 30 s:\n{}",
                server.stderr.lock().expect("not poisoned").join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    fn logged(&self, text: &str) -> bool {
        let lines = self.stderr.lock().expect("not poisoned");
        lines.iter().any(|l| l.contains(text))
    }

    fn printed(&self) -> String {
        self.stdout.lock().expect("not poisoned").join("\n")
    }

    /// The setup link printed on standard output, if any; the log says it was printed, and
    /// never holds the token.
    pub(crate) fn setup_link(&self) -> Option<String> {
        let printed = self.printed();
        let start = printed.find("http://")?;
        let link: String = printed[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        assert!(link.contains("/setup?token="), "{printed}");
        let token = link.rsplit('=').next().unwrap_or_default();
        assert!(
            self.logged("the one-time setup link") && !self.logged(token),
            "the log says the link was printed, without its token:\n{}",
            self.stderr.lock().expect("not poisoned").join("\n")
        );
        Some(link)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let request = self.client.request(method, format!("{}{path}", self.base));
        Answer::of(match body {
            Some(body) => request.json(&body),
            None => request,
        })
        .await
    }

    async fn needed(&self) -> bool {
        let status = self.call(Method::GET, "/v1/setup", None).await;
        status.assert_status(200);
        status.body["needed"]
            .as_bool()
            .unwrap_or_else(|| panic!("{}", status.text))
    }

    async fn setup(&self, token: &str, username: &str, password: &str) -> Answer {
        let body = json!({"token": token, "username": username,
            "display_name": format!("Dr {username}"), "password": password});
        self.call(Method::POST, "/v1/setup", Some(body)).await
    }

    async fn login(&self, username: &str, password: &str) -> Answer {
        let body = json!({"username": username, "password": password});
        self.call(Method::POST, "/v1/auth/login", Some(body)).await
    }

    pub(crate) async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL the server");
    }
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).expect("a token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_prints_a_setup_link_whose_page_creates_an_admin_who_signs_in() {
    for db in all_backends().await {
        println!("[{}]", db.backend);
        let data_dir = tempfile::tempdir().expect("a data folder");
        let addr = format!("127.0.0.1:{}", free_port());
        let server = Server::start(&db, data_dir.path(), &addr, &[]).await;
        let link = server.setup_link().expect("a setup link on first start");
        assert!(
            link.starts_with(&format!("http://{addr}/setup?token=")),
            "{link}"
        );
        let token = token_of(&link);
        assert!(
            token.len() >= 32 && token.chars().all(|c| c.is_ascii_alphanumeric()),
            "at least 128 random bits, URL-safe: {token}"
        );
        assert!(server.needed().await);

        let created = server.setup(&token, "chief", PASSWORD).await;
        created.assert_status(201);
        assert_eq!(created.body["username"], "chief");
        assert_eq!(created.body["display_name"], "Dr chief");
        assert_eq!(created.body["role"], "admin");
        assert_eq!(created.body["active"], true);
        let admin_id = created.str("id").to_owned();
        assert_eq!(
            created.header("location"),
            Some(format!("/v1/users/{admin_id}").as_str())
        );
        assert!(!server.needed().await, "set up: the page is closed");

        let login = server.login("chief", PASSWORD).await;
        login.assert_status(200);
        assert_eq!(login.body["user"]["role"], "admin");
        let token_of_admin = login.str("access_token").to_owned();

        // The log records the registration with the new admin as its own actor, and the
        // setup token is in no event and no metric.
        let audit = Answer::of(
            server
                .client
                .get(format!("{}/v1/audit?limit=1000", server.base))
                .bearer_auth(&token_of_admin),
        )
        .await;
        audit.assert_status(200);
        let registered: Vec<&Value> = audit.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["type"] == "UserRegistered")
            .collect();
        assert_eq!(registered.len(), 1, "{}", audit.text);
        assert_eq!(registered[0]["actor_user_id"], admin_id.as_str());
        assert_eq!(registered[0]["actor_role"], "admin");
        assert!(!audit.text.contains(&token), "the token leaks into the log");
        let metrics = server.client.get(format!("{}/metrics", server.base));
        let metrics = Answer::of(metrics).await;
        assert!(
            !metrics.text.contains(&token),
            "the token leaks into metrics"
        );
        server.kill().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setup_token_works_once_even_for_two_requests_at_the_same_time() {
    let db = fresh_sqlite();
    let data_dir = tempfile::tempdir().expect("a data folder");
    let addr = format!("127.0.0.1:{}", free_port());
    let server = Server::start(&db, data_dir.path(), &addr, &[]).await;
    let token = token_of(&server.setup_link().expect("a setup link"));
    let (first, second) = tokio::join!(
        server.setup(&token, "first-admin", PASSWORD),
        server.setup(&token, "second-admin", PASSWORD),
    );
    let mut statuses = [first.status, second.status];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [201, 409],
        "one wins, the other finds the admin: {} / {}",
        first.text,
        second.text
    );
    let loser = if first.status == 409 { first } else { second };
    loser.assert_error(409, "setup_done");
    server
        .setup(&token, "third-admin", PASSWORD)
        .await
        .assert_error(409, "setup_done");
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_forgets_the_setup_token_and_prints_a_new_one() {
    let db = fresh_sqlite();
    let data_dir = tempfile::tempdir().expect("a data folder");
    let addr = format!("127.0.0.1:{}", free_port());
    let server = Server::start(&db, data_dir.path(), &addr, &[]).await;
    let old = token_of(&server.setup_link().expect("a setup link"));
    server.kill().await;

    let server = Server::start(&db, data_dir.path(), &addr, &[]).await;
    let new = token_of(&server.setup_link().expect("still no admin: a new link"));
    assert_ne!(old, new);
    server
        .setup(&old, "chief", PASSWORD)
        .await
        .assert_error(403, "invalid_setup_token");
    server
        .setup(&new, "chief", PASSWORD)
        .await
        .assert_status(201);
    server.kill().await;

    let server = Server::start(&db, data_dir.path(), &addr, &[]).await;
    assert_eq!(
        server.setup_link(),
        None,
        "an admin exists: no link\n{}",
        server.printed()
    );
    assert!(!server.needed().await);
    server.login("chief", PASSWORD).await.assert_status(200);
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_setup_link_is_printed_when_an_admin_exists_and_setup_answers_setup_done() {
    for db in all_backends().await {
        println!("[{}]", db.backend);
        register_first_admin(&db.url).await;
        let data_dir = tempfile::tempdir().expect("a data folder");
        let addr = format!("127.0.0.1:{}", free_port());
        let server = Server::start(&db, data_dir.path(), &addr, &[]).await;
        assert_eq!(server.setup_link(), None, "{}", server.printed());
        assert!(!server.logged("the one-time setup link"));
        assert!(!server.needed().await);
        let token = "0".repeat(64);
        server
            .setup(&token, "intruder", PASSWORD)
            .await
            .assert_error(409, "setup_done");
        server.login(ADMIN, PASSWORD).await.assert_status(200);
        server.kill().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_refuses_a_wrong_token_and_bad_fields_without_using_the_token() {
    let db = fresh_sqlite();
    let data_dir = tempfile::tempdir().expect("a data folder");
    let addr = format!("127.0.0.1:{}", free_port());
    let limits = [("LIVESURGERY_LOGIN_PER_USERNAME_PER_MINUTE", "3")];
    let server = Server::start(&db, data_dir.path(), &addr, &limits).await;
    let token = token_of(&server.setup_link().expect("a setup link"));

    let mut wrong = token.clone();
    wrong.replace_range(..1, if wrong.starts_with('a') { "b" } else { "a" });
    for bad in [wrong.as_str(), "", &token[..token.len() - 1]] {
        server
            .setup(bad, "chief", PASSWORD)
            .await
            .assert_error(403, "invalid_setup_token");
    }
    server
        .setup(&token, "weak-password", "short")
        .await
        .assert_error(422, "validation_failed");
    server
        .setup(&token, "Not A Username!", PASSWORD)
        .await
        .assert_error(422, "validation_failed");
    let missing = json!({"token": token, "username": "chief", "password": PASSWORD});
    let missing = server.call(Method::POST, "/v1/setup", Some(missing)).await;
    assert!(matches!(missing.status, 400 | 422), "{}", missing.text);
    assert!(server.needed().await, "refusals leave the token usable");

    // Rate-limited like sign-in: "chief" used up its 3 attempts above.
    let limited = server.setup(&token, "chief", PASSWORD).await;
    limited.assert_error(429, "too_many_attempts");
    assert!(
        limited.header("retry-after").is_some(),
        "{:?}",
        limited.headers
    );

    server
        .setup(&token, "chief-two", PASSWORD)
        .await
        .assert_status(201);
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_on_all_interfaces_the_link_names_loopback_and_says_so() {
    let db = fresh_sqlite();
    let data_dir = tempfile::tempdir().expect("a data folder");
    let port = free_port();
    let server = Server::start(&db, data_dir.path(), &format!("0.0.0.0:{port}"), &[]).await;
    let link = server.setup_link().expect("a setup link");
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{port}/setup?token=")),
        "{link}"
    );
    assert!(
        server.printed().contains("all interfaces (0.0.0.0)"),
        "{}",
        server.printed()
    );
    server.kill().await;
}
