//! `livesurgery serve --demo`, as a process over a real database: on an empty one it seeds the
//! personas (passwords on standard output once, never in the log), a live demo session with
//! every persona a member and three panels showing the synthetic sources, and the feeds'
//! participant; a restart finds the same demo (no second seed, no passwords); a database with
//! other data is refused with one line.

use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use uuid::Uuid;

use crate::api::spawn::Answer;
use crate::helpers::{TestDb, all_backends, fresh_sqlite};

const BIN: &str = env!("CARGO_BIN_EXE_livesurgery");
const TITLE: &str = "Demo: laparoscopic cholecystectomy (synthetic)";
const PERSONAS: [(&str, &str, &str); 5] = [
    // username, organisation role, session role
    ("demo-host", "surgeon", "host"),
    ("demo-surgeon", "surgeon", "surgeon"),
    ("demo-observer", "observer", "observer"),
    ("demo-reviewer", "reviewer", "observer"),
    ("demo-admin", "admin", "host"),
];
/// The banner's first and last line.
const RULE: &str = "==========";
const STARTUP: Duration = Duration::from_secs(60);

/// `livesurgery serve --demo` as a child process, with what it printed until its banner.
pub struct DemoServer {
    pub base: String,
    /// Standard output up to the banner's end.
    pub banner: String,
    child: Child,
    /// Standard error, collected as the server writes it (the log).
    log: tokio::task::JoinHandle<String>,
    _stdout: BufReader<ChildStdout>,
}

/// The folder the server keeps its state in, shared by the starts over one database.
pub struct DemoPlace {
    pub db: TestDb,
    pub data_dir: tempfile::TempDir,
    pub port: u16,
}

impl DemoPlace {
    pub fn new(db: TestDb) -> DemoPlace {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        DemoPlace {
            db,
            data_dir: tempfile::tempdir().expect("a data folder"),
            port,
        }
    }

    /// `livesurgery serve` over this place, with `--demo` when `demo`.
    pub fn command(&self, demo: bool, env: &[(&str, String)]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--sfu-udp-bind", "127.0.0.1:0"])
            .args(demo.then_some("--demo"))
            .args(["--addr", &format!("127.0.0.1:{}", self.port)])
            .env("LIVESURGERY_DATABASE_URL", &self.db.url)
            .env("LIVESURGERY_DATA_DIR", self.data_dir.path())
            .env("LIVESURGERY_LOGIN_PER_USERNAME_PER_MINUTE", "100")
            .env("LIVESURGERY_LOGIN_PER_ADDRESS_PER_MINUTE", "100000")
            .env_remove("LIVESURGERY_DEMO")
            .env_remove("LIVESURGERY_CONFIG")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Starts the server and reads its standard output up to the banner's end; returns once
    /// it answers `/healthz`.
    pub async fn start(&self, env: &[(&str, String)]) -> DemoServer {
        let mut child = self
            .command(true, env)
            .spawn()
            .expect("starting serve --demo");
        let log = collect(child.stderr.take().expect("piped stderr"));
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut banner = String::new();
        let read = async {
            let mut rules = 0;
            while rules < 2 {
                let mut line = String::new();
                if stdout.read_line(&mut line).await.expect("reading stdout") == 0 {
                    break;
                }
                rules += usize::from(line.starts_with(RULE));
                banner.push_str(&line);
            }
        };
        if tokio::time::timeout(STARTUP, read).await.is_err() || !banner.contains(RULE) {
            let _ = child.start_kill();
            panic!(
                "no demo banner on standard output within {STARTUP:?}:\n{banner}\nlog:\n{}",
                log.await.unwrap_or_default()
            );
        }
        let server = DemoServer {
            base: format!("http://127.0.0.1:{}", self.port),
            banner,
            child,
            log,
            _stdout: stdout,
        };
        server.wait_healthy().await;
        server
    }

    /// Runs the server expecting it to refuse to start: its exit status and standard error.
    pub async fn refused(&self) -> (std::process::ExitStatus, String) {
        let run = self.command(true, &[]).output();
        let output = tokio::time::timeout(STARTUP, run)
            .await
            .expect("serve --demo did not exit")
            .expect("running serve --demo");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            !stdout.contains("password"),
            "a refused start prints no banner: {stdout}"
        );
        (
            output.status,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

/// Collects a pipe to its end in the background.
fn collect(
    mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text).await;
        text
    })
}

impl DemoServer {
    async fn wait_healthy(&self) {
        let deadline = tokio::time::Instant::now() + STARTUP;
        loop {
            let health = reqwest::get(format!("{}/healthz", self.base)).await;
            if health.is_ok_and(|h| h.status().is_success()) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "no /healthz");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The password the banner gives `username`.
    #[track_caller]
    pub fn password(&self, username: &str) -> String {
        self.banner
            .lines()
            .find_map(|line| {
                let rest = line.trim_start().strip_prefix(username)?;
                let rest = rest.trim_start().strip_prefix("password:")?;
                rest.split_whitespace().next().map(str::to_owned)
            })
            .unwrap_or_else(|| panic!("no password for {username} in:\n{}", self.banner))
    }

    /// The demo session's id, from the banner's workspace link.
    #[track_caller]
    pub fn session_id(&self) -> Uuid {
        self.banner
            .split("/sessions/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no session link in:\n{}", self.banner))
    }

    /// Signs in; the access token.
    pub async fn sign_in(&self, username: &str, password: &str) -> String {
        let login = self
            .call(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        login.assert_status(200);
        login.str("access_token").to_owned()
    }

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

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        let answer = self.call(Method::GET, path, Some(token), None).await;
        answer.assert_status(200);
        answer
    }

    /// SIGTERM, then the exit status and the whole log.
    pub async fn stop(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().expect("a running server").to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().await;
        assert!(killed.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the server stops within 30 s of SIGTERM")
            .expect("waiting for the server");
        (status, self.log.await.unwrap_or_default())
    }

    /// SIGKILL: no shutdown step runs.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL the server");
    }
}

/// The items of a list answer.
fn items(answer: &Answer) -> Vec<Value> {
    answer.body["items"].as_array().cloned().unwrap_or_default()
}

/// Checks everything the seed made, as each persona sees it; returns the feeds user's id.
async fn assert_seeded(server: &DemoServer, passwords: &[(&str, String)]) -> String {
    let session = server.session_id();
    let mut ids = Vec::new();
    for (username, password) in passwords {
        let token = server.sign_in(username, password).await;
        let me = server.get("/v1/users/me", &token).await;
        ids.push((
            *username,
            me.str("id").to_owned(),
            me.str("role").to_owned(),
        ));
        assert!(
            me.str("display_name").contains("(synthetic)"),
            "{}",
            me.text
        );
    }
    for ((username, org_role, _), (_, _, role)) in PERSONAS.iter().zip(&ids) {
        assert_eq!(role, org_role, "{username}'s organisation role");
    }
    let observer = server.sign_in("demo-observer", &passwords[2].1).await;
    let sessions = items(&server.get("/v1/sessions", &observer).await);
    assert_eq!(
        sessions.len(),
        1,
        "the observer sees the demo session: {sessions:?}"
    );
    assert_eq!(sessions[0]["id"], session.to_string());
    assert_eq!(sessions[0]["title"], TITLE);
    assert_eq!(sessions[0]["status"], "live");

    let admin = server.sign_in("demo-admin", &passwords[4].1).await;
    let users = items(&server.get("/v1/users", &admin).await);
    let feeds = users
        .iter()
        .find(|u| u["username"] == "demo-feeds")
        .unwrap_or_else(|| panic!("a feeds user: {users:?}"));
    assert_eq!(feeds["display_name"], "Synthetic feeds (demo)");
    assert_eq!(users.len(), PERSONAS.len() + 1, "{users:?}");
    let feeds_id = feeds["id"].as_str().expect("an id").to_owned();

    let members = items(
        &server
            .get(&format!("/v1/sessions/{session}/members"), &observer)
            .await,
    );
    let role_of = |id: &str| {
        members
            .iter()
            .find(|m| m["user_id"] == id)
            .map(|m| m["role"].as_str().unwrap_or_default().to_owned())
    };
    for ((username, _, session_role), (_, id, _)) in PERSONAS.iter().zip(&ids) {
        assert_eq!(
            role_of(id).as_deref(),
            Some(*session_role),
            "{username}: {members:?}"
        );
    }
    assert_eq!(role_of(&feeds_id).as_deref(), Some("surgeon"));
    assert_eq!(members.len(), PERSONAS.len() + 1, "{members:?}");

    let layout = server
        .get(&format!("/v1/sessions/{session}/layout"), &observer)
        .await;
    let panels = layout.body["panels"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(panels.len(), 4, "a four-panel layout: {}", layout.text);
    let mut shown: Vec<&str> = panels
        .iter()
        .filter_map(|p| p["source_id"].as_str())
        .collect();
    shown.sort_unstable();
    assert_eq!(
        shown,
        ["endoscope", "room-camera", "vitals"],
        "{}",
        layout.text
    );

    // Through the application layer: the events a person clicking through the app makes,
    // each with its actor.
    let reviewer = server.sign_in("demo-reviewer", &passwords[3].1).await;
    let log = items(
        &server
            .get(
                &format!("/v1/sessions/{session}/events?limit=100"),
                &reviewer,
            )
            .await,
    );
    let types: Vec<&str> = log.iter().filter_map(|e| e["type"].as_str()).collect();
    let seeded = [
        "SessionCreated",
        "MemberAdded",
        "LayoutInitialized",
        "MemberAdded",
        "MemberAdded",
        "MemberAdded",
        "MemberAdded",
        "MemberAdded",
        "SessionStarted",
        "SourceSelected",
        "SourceSelected",
        "SourceSelected",
        "ParticipantJoined",
    ];
    assert_eq!(types.get(..seeded.len()), Some(&seeded[..]), "{types:?}");
    let host_id = &ids[0].1;
    assert!(
        log[..seeded.len() - 1]
            .iter()
            .all(|e| e["actor_user_id"] == host_id.as_str()),
        "the host made the session: {log:?}"
    );
    assert_eq!(log[seeded.len() - 1]["actor_user_id"], feeds_id.as_str());

    let present = items(
        &server
            .get(&format!("/v1/sessions/{session}/participants"), &observer)
            .await,
    );
    let feeds_present: Vec<&Value> = present
        .iter()
        .filter(|p| p["user_id"] == feeds_id)
        .collect();
    assert_eq!(
        feeds_present.len(),
        1,
        "one feeds participant present: {present:?}"
    );
    feeds_id
}

#[tokio::test]
async fn demo_mode_on_an_empty_database_seeds_personas_a_live_session_its_members_and_sources() {
    for db in all_backends().await {
        let backend = db.backend;
        let place = DemoPlace::new(db);
        let server = place.start(&[]).await;
        assert!(
            server.banner.contains("all media and data are synthetic"),
            "{}",
            server.banner
        );
        assert!(server.banner.contains(&server.base), "{}", server.banner);
        let passwords: Vec<(&str, String)> = PERSONAS
            .iter()
            .map(|(username, _, _)| (*username, server.password(username)))
            .collect();
        assert_seeded(&server, &passwords).await;
        let (status, log) = server.stop().await;
        assert!(status.success(), "{backend}: exit {status}:\n{log}");
        assert!(log.contains("demo mode: synthetic feeds stopped"), "{log}");
        assert!(
            !log.contains("setup?token="),
            "{backend}: demo-admin exists, so no first-start setup link: {log}"
        );
        for (username, password) in &passwords {
            assert!(
                !log.contains(password.as_str()),
                "{backend}: {username}'s password is in the log"
            );
        }
    }
}

#[tokio::test]
async fn a_restart_finds_the_same_demo_without_a_second_seed_or_printed_passwords() {
    let place = DemoPlace::new(fresh_sqlite());
    let first = place.start(&[]).await;
    let session = first.session_id();
    let passwords: Vec<(&str, String)> = PERSONAS
        .iter()
        .map(|(username, _, _)| (*username, first.password(username)))
        .collect();
    // Killed: nothing of the shutdown runs, so its feeds participant stays present in the log.
    first.kill().await;

    let second = place.start(&[]).await;
    assert!(!second.banner.contains("password:"), "{}", second.banner);
    assert!(second.banner.contains("printed once"), "{}", second.banner);
    assert_eq!(second.session_id(), session, "the same demo session");
    // The same users with the same passwords, one feeds participant present (the killed
    // start's left as disconnected).
    assert_seeded(&second, &passwords).await;
    let (status, log) = second.stop().await;
    assert!(status.success(), "exit {status}:\n{log}");

    // A clean stop, then a third start: still the one demo.
    let third = place.start(&[]).await;
    assert_eq!(third.session_id(), session);
    let feeds = assert_seeded(&third, &passwords).await;
    // The killed start's participant left as disconnected, the cleanly stopped one as left.
    let reviewer = third.sign_in("demo-reviewer", &passwords[3].1).await;
    let events = items(
        &third
            .get(
                &format!("/v1/sessions/{session}/events?limit=500"),
                &reviewer,
            )
            .await,
    );
    let leaves: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "ParticipantLeft" && e["actor_user_id"] == feeds.as_str())
        .filter_map(|e| e["data"]["reason"].as_str())
        .collect();
    assert_eq!(leaves, ["disconnected", "left"], "{events:?}");
    let (status, log) = third.stop().await;
    assert!(status.success(), "exit {status}:\n{log}");
}

#[tokio::test]
async fn demo_mode_refuses_a_database_that_holds_other_data_with_one_line() {
    let place = DemoPlace::new(fresh_sqlite());
    // Someone's real data: one user, made with `users create`.
    let mut create = std::process::Command::new(BIN)
        .args([
            "users",
            "create",
            "--username",
            "someone",
            "--role",
            "admin",
        ])
        .env("LIVESURGERY_DATABASE_URL", &place.db.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("running users create");
    {
        use std::io::Write;
        let mut stdin = create.stdin.take().expect("piped stdin");
        writeln!(stdin, "a password of the operator").expect("writing the password");
    }
    assert!(create.wait().expect("users create ends").success());

    let (status, stderr) = place.refused().await;
    assert!(
        !status.success(),
        "serve --demo started over other data:\n{stderr}"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line:\n{stderr}");
    assert!(
        errors[0].contains("demo mode needs an empty database") && errors[0].contains("--demo"),
        "{}",
        errors[0]
    );
    // Nothing of the demo was written: the only user is still the operator's.
    let started = place.start_without_demo().await;
    started.stop().await;
}

impl DemoPlace {
    /// `serve` (no demo) over this database: it starts, and holds no demo user.
    async fn start_without_demo(&self) -> DemoServer {
        let mut child = self.command(false, &[]).spawn().expect("starting serve");
        let log = collect(child.stderr.take().expect("piped stderr"));
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let server = DemoServer {
            base: format!("http://127.0.0.1:{}", self.port),
            banner: String::new(),
            child,
            log,
            _stdout: stdout,
        };
        server.wait_healthy().await;
        let login = server
            .call(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"username": "someone", "password": "a password of the operator"})),
            )
            .await;
        login.assert_status(200);
        let token = login.str("access_token").to_owned();
        let users = items(&server.get("/v1/users", &token).await);
        assert_eq!(users.len(), 1, "no demo user was added: {users:?}");
        server
    }
}
