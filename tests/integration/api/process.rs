//! The real server as a child process (`livesurgery serve`), for what a server in the test's
//! own process cannot show: being killed with SIGKILL and started again over the same database
//! and data folder.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use super::spawn::{
    ADMIN, Answer, JWT_SECRET, PASSWORD, TestApp, register_first_admin, wait_until_caught_up,
};
use crate::helpers::TestDb;

pub(super) const BIN: &str = env!("CARGO_BIN_EXE_livesurgery");

/// A `livesurgery serve` child process; killed (SIGKILL) when dropped.
pub struct ServerProcess {
    child: Child,
}

impl ServerProcess {
    /// Kills the server at once (SIGKILL): nothing of it runs on, no shutdown step happens.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL the server");
    }

    /// Stops the server as an operator would (SIGTERM) and waits for it to exit.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("a running server").to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().await;
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the server stops within 30 s of SIGTERM")
            .expect("waiting for the server")
    }
}

/// Where a server process's output goes.
enum Output<'a> {
    /// Standard output dropped, standard error the test's.
    Inherit,
    /// Both appended to this file.
    Both(&'a std::path::Path),
    /// Standard error (the log) appended to this file, standard output dropped.
    StderrOnly(&'a std::path::Path),
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}

impl TestApp {
    /// The server as a child process over `db`, with `env` (`LIVESURGERY_…` settings) on top
    /// of the test settings; the first admin signed in.
    pub async fn spawn_process(db: TestDb, env: &[(&str, String)]) -> (TestApp, ServerProcess) {
        Self::spawn_process_logging(db, env, None).await
    }

    /// [`TestApp::spawn_process`], the server's output (stdout and stderr) appended to `log`
    /// when given.
    pub async fn spawn_process_logging(
        db: TestDb,
        env: &[(&str, String)],
        log: Option<&std::path::Path>,
    ) -> (TestApp, ServerProcess) {
        let output = log.map_or(Output::Inherit, Output::Both);
        Self::spawn_process_with_output(db, env, output).await
    }

    /// [`TestApp::spawn_process`], the server's standard error (its log) appended to `log`
    /// and its standard output dropped.
    pub async fn spawn_process_log_only(
        db: TestDb,
        env: &[(&str, String)],
        log: &std::path::Path,
    ) -> (TestApp, ServerProcess) {
        Self::spawn_process_with_output(db, env, Output::StderrOnly(log)).await
    }

    async fn spawn_process_with_output(
        db: TestDb,
        env: &[(&str, String)],
        log: Output<'_>,
    ) -> (TestApp, ServerProcess) {
        let admin_id = register_first_admin(&db.url).await;
        let data_dir = tempfile::tempdir().expect("a data folder");
        let port = free_port();
        let mut app = TestApp {
            backend: db.backend,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            admin_id,
            admin_token: String::new(),
            db_url: db.url.clone(),
            db: Arc::new(db),
            _data_dir: data_dir,
            next_user: Arc::new(AtomicU64::new(1)),
            sfu: None,
        };
        let process = app.start_process(env, log).await;
        let login = app.login(ADMIN, PASSWORD).await;
        login.assert_status(200);
        app.admin_token = login.str("access_token").to_owned();
        (app, process)
    }

    /// Starts the server process again on the same port, database and data folder (after
    /// [`ServerProcess::kill`]); returns once it has caught up with the log.
    pub async fn restart_process(&self, env: &[(&str, String)]) -> ServerProcess {
        self.start_process(env, Output::Inherit).await
    }

    /// Starts the server process, its output where `log` says.
    async fn start_process(&self, env: &[(&str, String)], log: Output<'_>) -> ServerProcess {
        let open = |path: &std::path::Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("opening the server's log file")
        };
        let (stdout, stderr) = match log {
            Output::Both(path) => {
                let file = open(path);
                let copy = file.try_clone().expect("the log file again");
                (Stdio::from(file), Stdio::from(copy))
            }
            Output::StderrOnly(path) => (Stdio::null(), Stdio::from(open(path))),
            Output::Inherit => (Stdio::null(), Stdio::inherit()),
        };
        let addr = self.base.trim_start_matches("http://").to_owned();
        let child = Command::new(BIN)
            .args(["serve", "--addr", &addr, "--sfu-udp-bind", "127.0.0.1:0"])
            .env("LIVESURGERY_DATABASE_URL", &self.db_url)
            .env("LIVESURGERY_DATA_DIR", self._data_dir.path())
            .env("LIVESURGERY_JWT_SECRET", JWT_SECRET)
            .env("LIVESURGERY_LOGIN_PER_USERNAME_PER_MINUTE", "100")
            .env("LIVESURGERY_LOGIN_PER_ADDRESS_PER_MINUTE", "100000")
            // Traces and the log format as the test says, whatever the machine's environment.
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("LIVESURGERY_LOG_FORMAT")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("starting livesurgery serve");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = self.client.get(self.url("/healthz")).send().await;
            if health.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server process did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        wait_until_caught_up(&self.base).await;
        let _ = Answer::of(self.client.get(self.url("/healthz"))).await;
        ServerProcess { child }
    }
}
