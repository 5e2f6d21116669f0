//! The server process as the WebSocket suite reads it: CPU (with a local PostgreSQL's), memory,
//! its own push latency histogram, and when the log has settled.

use std::time::{Duration, Instant};

use crate::report::{CpuSnapshot, open_files_limits};
use crate::server::ChildServer;

/// File descriptors kept free in each process besides the connections.
pub(super) const FD_HEADROOM: usize = 256;

/// `livesurgery serve` as a child process, with what this suite reads of it.
pub(super) struct Server {
    process: ChildServer,
    /// Whether it runs on PostgreSQL (then a local PostgreSQL's CPU is read too).
    pub postgres: bool,
}

impl std::ops::Deref for Server {
    type Target = ChildServer;
    fn deref(&self) -> &ChildServer {
        &self.process
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut ChildServer {
        &mut self.process
    }
}

impl Server {
    /// Starts `binary serve` on `database_url`.
    pub(super) async fn start(
        binary: &std::path::Path,
        database_url: &str,
    ) -> anyhow::Result<Server> {
        Ok(Server {
            process: ChildServer::start(binary, database_url, "livesurgery-bench-ws").await?,
            postgres: database_url.starts_with("postgres"),
        })
    }

    /// CPU seconds so far: the server's, this process's, a local PostgreSQL's (when the server
    /// uses PostgreSQL) and the whole machine's.
    pub(super) fn cpu(&self) -> anyhow::Result<CpuSnapshot> {
        CpuSnapshot::take(Some(self.pid), self.postgres)
    }

    /// The server's own push latency histogram (`GET /metrics`), when it has one.
    pub(super) async fn push_histogram(&self) -> Option<Vec<(f64, f64)>> {
        let text = self.metrics().await?;
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("livesurgery_ws_push_latency_seconds_bucket{")
            else {
                continue;
            };
            let Some((labels, value)) = rest.split_once("} ") else {
                continue;
            };
            let le = labels
                .split(',')
                .find_map(|l| l.strip_prefix("le=\""))
                .map(|l| l.trim_end_matches('"'));
            let (Some(le), Ok(value)) = (le, value.trim().parse::<f64>()) else {
                continue;
            };
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            match buckets.iter_mut().find(|(l, _)| *l == le) {
                Some((_, v)) => *v += value,
                None => buckets.push((le, value)),
            }
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        (!buckets.is_empty()).then_some(buckets)
    }

    /// Waits for the log to be quiet (projections caught up, nothing appended for a second; at
    /// most 60 s): closed connections append their `ParticipantLeft` after the bench let go.
    pub(super) async fn settle(&self, http: &reqwest::Client) -> anyhow::Result<()> {
        let started = Instant::now();
        let (mut last, mut since) = (None, Instant::now());
        while started.elapsed() < Duration::from_secs(60) {
            let health: serde_json::Value = http
                .get(format!("{}/healthz", self.base))
                .send()
                .await?
                .json()
                .await?;
            let now = (
                health["projections_position"].as_u64(),
                health["projections_lag"].as_u64(),
            );
            if Some(now) != last {
                (last, since) = (Some(now), Instant::now());
            } else if now.1 == Some(0) && since.elapsed() >= Duration::from_secs(1) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("  the log did not settle within 60 s");
        Ok(())
    }
}

/// Delta of two cumulative Prometheus histograms: the bucket bound (ms) under which the
/// quantile `q` of the observations made between them fell.
pub(super) fn histogram_quantile(
    before: &[(f64, f64)],
    after: &[(f64, f64)],
    q: f64,
) -> Option<f64> {
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, n)| {
            let earlier = before.iter().find(|(l, _)| l == le).map_or(0.0, |b| b.1);
            (*le, n - earlier)
        })
        .collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    delta
        .iter()
        .find(|(_, n)| *n >= q * total)
        .map(|(le, _)| le * 1000.0)
}

/// The soft limit on open files, raised to the hard limit (with `prlimit`, which the server
/// inherits) when `wanted` connections would not fit.
pub(super) fn open_files_limit(wanted: usize) -> usize {
    let Some((soft, hard)) = open_files_limits() else {
        return usize::MAX;
    };
    if soft >= wanted + FD_HEADROOM {
        return soft;
    }
    let raised = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={hard}:{hard}"))
        .status()
        .is_ok_and(|s| s.success());
    match open_files_limits() {
        Some((now, _)) if raised && now > soft => {
            eprintln!("  raised the open-files limit from {soft} to {now} (the hard limit)");
            now
        }
        _ => {
            eprintln!(
                "  the open-files limit is {soft} (hard {hard}): fewer than {wanted} connections \
                 fit; raise it before the run (`ulimit -n 20000`, or LimitNOFILE= in a unit)"
            );
            soft
        }
    }
}
