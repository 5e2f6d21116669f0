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
        self.start_process(env, None).await
    }

    /// Starts the server process, its output appended to `log` when given (else stdout
    /// dropped, stderr inherited).
    async fn start_process(
        &self,
        env: &[(&str, String)],
        log: Option<&std::path::Path>,
    ) -> ServerProcess {
        let (stdout, stderr) = match log {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("opening the server's log file");
                let copy = file.try_clone().expect("the log file again");
                (Stdio::from(file), Stdio::from(copy))
            }
            None => (Stdio::null(), Stdio::inherit()),
        };
        let addr = self.base.trim_start_matches("http://").to_owned();
        let child = Command::new(BIN)
            .args(["serve", "--addr", &addr, "--sfu-udp-bind", "127.0.0.1:0"])
            .env("LIVESURGERY_DATABASE_URL", &self.db_url)
            .env("LIVESURGERY_DATA_DIR", self._data_dir.path())
            .env("LIVESURGERY_JWT_SECRET", JWT_SECRET)
            .env("LIVESURGERY_LOGIN_PER_USERNAME_PER_MINUTE", "100")
            .env("LIVESURGERY_LOGIN_PER_ADDRESS_PER_MINUTE", "100000")
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
