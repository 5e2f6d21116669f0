//! PostgreSQL restarted under load: the test starts its own server (initdb into a temporary
//! folder, on a free port, as the `postgres` OS user; the shared server on 5432 is never
//! touched), stops it abruptly and starts it again. The server says it is not ready meanwhile,
//! and why, reconnects by itself, and loses nothing it acknowledged.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;

use super::ledger::{Ledger, create_session, read_log};
use crate::api::process::free_port;
use crate::api::spawn::{Answer, TestApp, spawn_app};
use crate::helpers::{postgres_at, prerequisites_met};

const OS_USER: &str = "postgres";

/// A PostgreSQL cluster of this test's own, stopped (immediately) when dropped, even on a
/// failed assertion.
struct OwnPostgres {
    dir: tempfile::TempDir,
    port: u16,
}

/// Runs a PostgreSQL tool as the `postgres` OS user; its combined output on failure.
fn as_postgres(tool: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new("runuser")
        .args(["-u", OS_USER, "--", tool])
        .args(args)
        .output()
        .map_err(|e| format!("running {tool}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{tool} {args:?}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Why this machine cannot run a PostgreSQL of the test's own, if it cannot.
fn missing() -> Option<String> {
    let found = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !found("initdb") || !found("pg_ctl") || !found("runuser") {
        return Some("initdb, pg_ctl or runuser not on PATH".into());
    }
    let user = Command::new("id").args(["-u", OS_USER]).output();
    if !user.is_ok_and(|o| o.status.success()) {
        return Some(format!("no {OS_USER} OS user to run PostgreSQL as"));
    }
    None
}

impl OwnPostgres {
    /// Makes a cluster in a temporary folder owned by the `postgres` user and starts it.
    fn start() -> OwnPostgres {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let status = Command::new("chown")
            .args(["-R", OS_USER, &dir.path().display().to_string()])
            .status()
            .expect("chown");
        assert!(status.success(), "chown of the cluster's folder failed");
        let cluster = OwnPostgres {
            dir,
            port: free_port(),
        };
        let data = cluster.data().display().to_string();
        as_postgres(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        )
        .expect("initdb");
        cluster.up();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The database URL of this cluster's default database.
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the cluster and waits until it accepts connections.
    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.log().display().to_string(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        )
        .unwrap_or_else(|e| panic!("starting PostgreSQL: {e}\n{}", read(&self.log())));
    }

    /// Stops the cluster at once, as a crash would (`-m immediate`: no checkpoint, open
    /// connections cut).
    fn down(&self) -> Result<(), String> {
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.down();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `GET /readyz`, answered within `within` (a readiness probe that hangs is no answer).
async fn readyz(app: &TestApp, within: Duration) -> Answer {
    let request = app.request(Method::GET, "/readyz", None).timeout(within);
    Answer::of(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_readyz_says_why_the_server_reconnects_and_nothing_acknowledged_is_lost()
 {
    if !prerequisites_met(
        "security::faults::postgres_restart",
        missing(),
        "LIVESURGERY_REQUIRE_POSTGRES",
        "install PostgreSQL's server binaries (initdb, pg_ctl) and run the tests as root",
    ) {
        return;
    }
    let postgres = OwnPostgres::start();
    let app = spawn_app(postgres_at(postgres.url())).await;
    let ledger = Ledger::default();
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (client, base, token) = (
                app.client.clone(),
                app.base.clone(),
                app.admin_token.clone(),
            );
            let (ledger, stop, attempts) = (ledger.clone(), stop.clone(), attempts.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Acquire) {
                    n += 1;
                    attempts.fetch_add(1, Ordering::Relaxed);
                    let title = format!("Restart drill {w}.{n}");
                    if !create_session(&client, &base, &token, &ledger, &title).await {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = ledger.len();
    assert!(before > 0, "no write acknowledged before the restart");

    postgres.down().expect("stopping PostgreSQL");
    let down_at = Instant::now();
    // Not ready while the database is away, with the reason, and quickly: a probe has a time-out.
    let not_ready = readyz(&app, Duration::from_secs(4)).await;
    not_ready.assert_error(503, "database_unavailable");
    tokio::time::sleep(Duration::from_secs(2)).await;
    readyz(&app, Duration::from_secs(4))
        .await
        .assert_error(503, "database_unavailable");
    let during = ledger.len();

    postgres.up();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = readyz(&app, Duration::from_secs(5)).await;
        if ready.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready 30 s after PostgreSQL came back: {}",
            ready.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "ready again {:?} after PostgreSQL went down",
        down_at.elapsed()
    );
    // Writes are acknowledged again, and read back through the read models.
    let deadline = Instant::now() + Duration::from_secs(20);
    while ledger.len() < during + 10 {
        assert!(
            Instant::now() < deadline,
            "no write acknowledged after the restart ({} before, {} during)",
            before,
            during
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Release);
    for writer in writers {
        writer.await.expect("a writer");
    }
    let created = app.create_session(&app.admin_token).await;
    app.get(&format!("/v1/sessions/{created}"), &app.admin_token)
        .await
        .assert_status(200);

    let log = read_log(&app.db_url).await;
    ledger.assert_all_in(&log, "after a PostgreSQL restart");
    println!(
        "{} writes tried, {} acknowledged ({before} before the restart, {} while down)",
        attempts.load(Ordering::Relaxed),
        ledger.len(),
        during - before
    );
}
