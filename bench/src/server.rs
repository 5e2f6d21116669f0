//! The server under measurement: in this process (the API suite), or `livesurgery serve` as a
//! child process (the WS and SFU suites) so that its CPU and memory, read from `/proc`, are its
//! own. The bench's uses of the server's internals, besides the store suite's, are here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use livesurgery::app::users::{NewUser, register_user};
use livesurgery::settings::{ApiSettings, DatabaseUrl, Settings};
use livesurgery::sfu::Sfu;
use livesurgery_domain::CommandContext;
use livesurgery_domain::roles::OrgRole;
use uuid::Uuid;

use crate::rest::{ADMIN_PASSWORD, ADMIN_USERNAME};

/// The server in this process on `database_url` (state in `data_dir`), serving on a free
/// port: its base URL and its task (abort it to stop the server).
pub async fn start_in_process(
    database_url: &str,
    data_dir: &Path,
) -> anyhow::Result<(String, tokio::task::JoinHandle<anyhow::Result<()>>)> {
    let (base, _, task) = start_in_process_with_sfu(database_url, data_dir).await?;
    Ok((base, task))
}

/// [`start_in_process`], and the server's SFU handle (to record sessions from the bench).
pub async fn start_in_process_with_sfu(
    database_url: &str,
    data_dir: &Path,
) -> anyhow::Result<(
    String,
    Arc<Sfu>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
)> {
    let settings = Settings {
        database_url: DatabaseUrl::new(database_url),
        http_addr: "127.0.0.1:0".into(),
        api: ApiSettings {
            data_dir: data_dir.to_owned(),
            // A free loopback port: the benchmark must not take (or collide with) the SFU port
            // of a server running on this machine.
            sfu_udp_bind: "127.0.0.1:0".into(),
            // The benchmark measures throughput: the write rate limits would measure
            // themselves.
            writes_per_user_per_minute: 0,
            writes_per_address_per_minute: 0,
            // One bench user with many participants and peers.
            max_participants_per_user: 100_000,
            sfu_max_peers_per_participant: 100_000,
            sfu_max_peers_per_session: 100_000,
            ..ApiSettings::default()
        },
    };
    let app = livesurgery::startup::Application::build(&settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let sfu = app.sfu();
    Ok((base, sfu, tokio::spawn(app.run_until_stopped())))
}

/// Registers the bench's administrator straight into the log and the credentials, as
/// `livesurgery users create` does (with or without a server running on the database).
pub async fn register_admin(database_url: &str) -> anyhow::Result<()> {
    let store = livesurgery::store::open(database_url).await?;
    let read_models = livesurgery_projections::ReadModels::connect(database_url).await?;
    read_models.migrate().await?;
    let credentials = livesurgery::auth::Credentials::new(read_models.pool().clone());
    let result = register_user(
        &*store,
        &credentials,
        &CommandContext::new(Uuid::nil(), OrgRole::Admin, Utc::now()),
        Uuid::now_v7(),
        &NewUser {
            username: ADMIN_USERNAME.into(),
            password: ADMIN_PASSWORD.into(),
            role: OrgRole::Admin,
            display_name: "Bench".into(),
        },
    )
    .await;
    store.close().await;
    result.map_err(|e| anyhow::anyhow!("registering the bench admin: {}", e.message))?;
    Ok(())
}

/// Where the server binary of the suites that run it as a child process is.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The `livesurgery` server binary to run; default: the one beside this binary (built by
    /// `cargo build --release -p livesurgery`, or without `--release` for a debug bench).
    #[arg(long, env = "LIVESURGERY_BENCH_SERVER_BIN")]
    pub server_bin: Option<PathBuf>,
}

impl ServerArgs {
    /// The server binary: `--server-bin`, else `livesurgery` beside this executable; an error
    /// says how to build it.
    pub fn binary(&self) -> anyhow::Result<PathBuf> {
        if let Some(path) = &self.server_bin {
            anyhow::ensure!(
                path.is_file(),
                "--server-bin {}: no such file",
                path.display()
            );
            return Ok(path.clone());
        }
        let exe = std::env::current_exe().context("locating this executable")?;
        let beside = exe.with_file_name(format!("livesurgery{}", std::env::consts::EXE_SUFFIX));
        if beside.is_file() {
            return Ok(beside);
        }
        let profile = if cfg!(debug_assertions) {
            ""
        } else {
            " --release"
        };
        anyhow::bail!(
            "this suite runs the server as a child process, and there is no server binary at {}: \
             build it first (`cargo build{profile} -p livesurgery`) or name one with --server-bin",
            beside.display()
        )
    }
}

/// `livesurgery serve` as a child process, on its own data folder, signing key and ports
/// (media on any free UDP port).
pub struct ChildServer {
    child: tokio::process::Child,
    /// Its process id.
    pub pid: u32,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    http: reqwest::Client,
    log: PathBuf,
    _data: tempfile::TempDir,
}

impl ChildServer {
    /// Starts `binary serve` on `database_url` and waits (up to 60 s) for `/healthz`; its
    /// data folder (and log) is a temporary folder named `prefix…` under the current one.
    /// Join tokens last the whole run (an hour).
    pub async fn start(
        binary: &Path,
        database_url: &str,
        prefix: &str,
    ) -> anyhow::Result<ChildServer> {
        let data = tempfile::Builder::new().prefix(prefix).tempdir_in(".")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
        let log = data.path().join("server.log");
        let out = std::fs::File::create(&log)?;
        let child = tokio::process::Command::new(binary)
            .arg("serve")
            .env("LIVESURGERY_DATABASE_URL", database_url)
            .env("LIVESURGERY_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("LIVESURGERY_SFU_UDP_BIND", "127.0.0.1:0")
            .env("LIVESURGERY_DATA_DIR", data.path())
            .env("LIVESURGERY_JWT_SECRET", hex::encode(secret))
            .env("LIVESURGERY_JOIN_TOKEN_TTL_SECS", "3600")
            // The suites measure throughput and leaks with one bench user, many participants
            // and peers: the abuse limits would measure themselves.
            .env("LIVESURGERY_WRITES_PER_USER_PER_MINUTE", "0")
            .env("LIVESURGERY_WRITES_PER_ADDRESS_PER_MINUTE", "0")
            .env("LIVESURGERY_MAX_PARTICIPANTS_PER_USER", "100000")
            .env("LIVESURGERY_SFU_MAX_PEERS_PER_PARTICIPANT", "100000")
            .env("LIVESURGERY_SFU_MAX_PEERS_PER_SESSION", "100000")
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting `{} serve`", binary.display()))?;
        let mut server = ChildServer {
            pid: child.id().context("the server exited at once")?,
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            log,
            _data: data,
        };
        let started = Instant::now();
        loop {
            server.check_alive()?;
            let ready = server
                .http
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(server);
            }
            if started.elapsed() > Duration::from_secs(60) {
                anyhow::bail!(
                    "the server did not answer /healthz within 60 s; its log ends with:\n{}",
                    server.log_tail(20)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An error, with the end of its log, when the server has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => anyhow::bail!(
                "the server exited ({status}); its log ends with:\n{}",
                self.log_tail(20)
            ),
        }
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// VmRSS and VmHWM (the peak so far), in MB.
    pub fn memory_mb(&self) -> anyhow::Result<(f64, f64)> {
        let status = crate::report::read(&format!("/proc/{}/status", self.pid))?;
        let field = |name: &str| -> anyhow::Result<f64> {
            let kb: f64 = status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .with_context(|| format!("no {name} in /proc/{}/status", self.pid))?
                .parse()?;
            Ok(kb / 1024.0)
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// The text of `GET /metrics`; `None` when it cannot be had.
    pub async fn metrics(&self) -> Option<String> {
        let response = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.text().await.ok()
    }

    /// Stops the server after a suite measured it: prints how long the drain took, and the end
    /// of its log when the suite failed; the suite's result (or the stop's error).
    pub async fn stop_after(&mut self, result: anyhow::Result<()>) -> anyhow::Result<()> {
        match (&result, self.stop().await) {
            (_, Ok(took)) => println!("  server stopped (SIGTERM) in {:.2} s", took.as_secs_f64()),
            (Err(_), Err(e)) => eprintln!("  stopping the server: {e:#}"),
            (Ok(_), Err(e)) => return Err(e),
        }
        if result.is_err() {
            eprintln!("  the server's log ends with:\n{}", self.log_tail(30));
        }
        result
    }

    /// SIGTERM (the server drains), then the wait; how long it took.
    async fn stop(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        if self.child.try_wait()?.is_some() {
            return Ok(Duration::ZERO);
        }
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("running kill -TERM")?;
        anyhow::ensure!(status.success(), "kill -TERM {} failed", self.pid);
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => {
                status?;
                Ok(started.elapsed())
            }
            Err(_) => {
                self.child.kill().await?;
                anyhow::bail!("the server did not stop within 30 s of SIGTERM; killed")
            }
        }
    }
}
