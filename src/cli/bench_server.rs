//! `livesurgery serve` as a child process of a benchmark (`bench --suite ws|sfu`): started from
//! this very executable on its own data folder, signing key and ports (media on any free UDP
//! port), so that its CPU and memory, read from `/proc`, are its own.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

pub(super) struct ChildServer {
    child: tokio::process::Child,
    pub pid: u32,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    log: PathBuf,
    _data: tempfile::TempDir,
}

impl ChildServer {
    /// Starts the server on `database_url` and waits (up to 60 s) for `/healthz`. Join tokens
    /// last the whole run (an hour).
    pub(super) async fn start(database_url: &str, prefix: &str) -> anyhow::Result<ChildServer> {
        let data = tempfile::Builder::new().prefix(prefix).tempdir_in(".")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
        let log = data.path().join("server.log");
        let out = std::fs::File::create(&log)?;
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("serve")
            .env("LIVESURGERY_DATABASE_URL", database_url)
            .env("LIVESURGERY_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("LIVESURGERY_SFU_UDP_BIND", "127.0.0.1:0")
            .env("LIVESURGERY_DATA_DIR", data.path())
            .env("LIVESURGERY_JWT_SECRET", hex::encode(secret))
            .env("LIVESURGERY_JOIN_TOKEN_TTL_SECS", "3600")
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .context("starting `livesurgery serve`")?;
        let mut server = ChildServer {
            pid: child.id().context("the server exited at once")?,
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            _data: data,
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            server.check_alive()?;
            let ready = http
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

    pub(super) fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => anyhow::bail!(
                "the server exited ({status}); its log ends with:\n{}",
                self.log_tail(20)
            ),
        }
    }

    /// The last `lines` lines of the server's log.
    pub(super) fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGTERM (the server drains), then the wait; how long it took.
    pub(super) async fn stop(&mut self) -> anyhow::Result<Duration> {
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
