//! `livesurgery-bench api`: requests/s and p99 latency of the REST API's hottest read
//! (`GET /v1/sessions/{id}`) and write (`PATCH /v1/sessions/{id}/layout`), beside `GET /healthz`
//! on the same server in the same run (the cost of HTTP alone). The server runs in this
//! process, on a fresh database; the load generator shares the machine, equally for all three.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;

use crate::database::BenchDb;
use crate::report::{median, quantile};
use crate::rest::{ADMIN_PASSWORD, ADMIN_USERNAME, create_session, sign_in};
use crate::server::{register_admin, start_in_process};

/// Options of the API suite.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Rounds of the write comparison: PATCH and the log alone take turns this many times,
    /// and the medians are compared (the machine's speed drifts between runs).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

/// The goal for writes: PATCH layout, one session per client, at this fraction of the
/// log-alone durable append rate.
const WRITE_GOAL: f64 = 0.8;

/// One scenario's figures.
#[derive(Debug, Clone, Copy)]
struct Figures {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

/// Runs the API suite against a server on `database_url` and prints the figures; the log-alone
/// baseline runs on a second scratch database of the same backend (`quiet`), with no server.
pub async fn run(database_url: &str, quiet: &BenchDb, args: &ApiArgs) -> anyhow::Result<()> {
    let (clients, duration) = (args.clients, Duration::from_secs_f64(args.seconds));
    let data = tempfile::Builder::new()
        .prefix("livesurgery-bench-api")
        .tempdir_in(".")?;
    let (base, server) = start_in_process(database_url, data.path()).await?;

    // An admin, signed in, and one session per client (each with its initial 2x2 layout).
    let store = livesurgery::store::open(database_url).await?;
    register_admin(database_url).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let token = sign_in(&client, &base, ADMIN_USERNAME, ADMIN_PASSWORD).await?;
    // One session per client for the write scenarios that spread load, plus the shared one.
    let mut sessions = Vec::new();
    for n in 0..clients.max(1) {
        sessions
            .push(create_session(&client, &base, &token, &format!("Benchmark session {n}")).await?);
    }
    let session_id = sessions[0].clone();

    println!(
        "REST API, {clients} concurrent clients, {:.0} s per scenario:",
        duration.as_secs_f64()
    );
    let healthz_url = format!("{base}/healthz");
    let session_url = format!("{base}/v1/sessions/{session_id}");
    // The baseline runs before and after, and the mean is used: the machine's speed drifts.
    let healthz = |_, _| {
        let request = client.get(&healthz_url);
        async move { succeeded(request.send().await).await.is_some() }
    };
    let before = scenario(clients, duration, healthz).await;
    let read = scenario(clients, duration, |_, _| {
        let request = client.get(&session_url).bearer_auth(&token);
        async move { succeeded(request.send().await).await.is_some() }
    })
    .await;
    let layout_urls: Vec<String> = sessions
        .iter()
        .map(|id| format!("{base}/v1/sessions/{id}/layout"))
        .collect();
    let versions: Arc<Vec<AtomicU64>> =
        Arc::new(sessions.iter().map(|_| AtomicU64::new(1)).collect());
    let patch = |session: usize, i: u64| {
        // Each write moves panel p1 (and restacks it: never a no-op); writers use the last
        // version seen as their base.
        let base_version = versions[session].load(Ordering::Relaxed);
        let body = serde_json::json!({
            "base_version": base_version,
            "changes": {"panels": {"p1": {"x": (i % 7) as u32, "y": ((i / 7) % 7) as u32, "z": (i % 1_000_000) as i32 + 1}}}
        });
        let request = client
            .patch(&layout_urls[session])
            .bearer_auth(&token)
            .json(&body);
        let versions = versions.clone();
        async move {
            let Some(body) = succeeded(request.send().await).await else {
                return false;
            };
            if let Some(v) = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|b| b["version"].as_u64())
            {
                versions[session].fetch_max(v, Ordering::Relaxed);
            }
            true
        }
    };
    // Writes against the log alone, in turns: each client PATCHes its own session; the log
    // alone appends one event per durable commit from as many writers, on a database of the
    // same backend that no server uses (the log's own speed).
    let quiet_store = livesurgery::store::open(&quiet.url).await?;
    let (mut spread_runs, mut quiet_runs) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds.max(1) {
        quiet_runs.push(
            crate::store::append_rate(quiet_store.clone(), clients, clients, duration).await?,
        );
        spread_runs.push(scenario(clients, duration, &patch).await);
    }
    quiet_store.close().await;
    let write_one = scenario(clients, duration, |_, i| patch(0, i)).await;
    // For context: the same log while this server's projections follow it (they share the
    // database, and on SQLite its one write lock).
    let log_following =
        crate::store::append_rate(store.clone(), clients, clients, duration).await?;
    store.close().await;
    let after = scenario(clients, duration, healthz).await;
    let baseline = (before.rate + after.rate) / 2.0;
    let line = |name: &str, f: Figures, goal: Option<f64>| {
        let ratio = f.rate / baseline;
        let verdict = match goal {
            Some(goal) if ratio >= goal => format!(" (goal >= {goal:.2}: met)"),
            Some(goal) => format!(" (goal >= {goal:.2}: MISSED)"),
            None => String::new(),
        };
        println!(
            "  {name:<34} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>7.2} ms  errors {:>4}  {:>5.2}x healthz{verdict}",
            f.rate, f.p50_ms, f.p99_ms, f.errors, ratio
        );
    };
    println!(
        "  baseline GET /healthz: {baseline:.0} req/s (before {:.0}, after {:.0})",
        before.rate, after.rate
    );
    line("GET /healthz (before)", before, None);
    line("GET /v1/sessions/{id}", read, Some(0.5));
    let write_spread = median_figures(&spread_runs);
    line(
        "PATCH layout, one session per client",
        write_spread,
        Some(0.3),
    );
    line("PATCH layout, all on one session", write_one, None);
    let log_alone = median(&quiet_runs);
    let ratio = write_spread.rate / log_alone;
    let verdict = if ratio >= WRITE_GOAL { "met" } else { "MISSED" };
    println!(
        "  the event log alone, {clients} writers on {clients} streams, no server: {log_alone:.0} durable appends/s \
         (median of {} runs: {})",
        quiet_runs.len(),
        rates(&quiet_runs)
    );
    println!(
        "  PATCH layout, one session per client: {:.0} req/s (median of {} runs: {})",
        write_spread.rate,
        spread_runs.len(),
        rates(&spread_runs.iter().map(|f| f.rate).collect::<Vec<_>>())
    );
    println!("  WRITES: PATCH = {ratio:.2}x of the log alone (goal >= {WRITE_GOAL:.2}: {verdict})");
    println!(
        "  the same log with this server's projections following: {log_following:.0} durable appends/s \
         (PATCH = {:.2}x of it)",
        write_spread.rate / log_following
    );
    line("GET /healthz (after)", after, None);
    server.abort();
    Ok(())
}

/// The body of a 2xx answer (read whole, as a real client does); `None` for anything else.
async fn succeeded(response: Result<reqwest::Response, reqwest::Error>) -> Option<bytes::Bytes> {
    static REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let response = match response {
        Ok(response) => response,
        Err(e) => {
            if !REPORTED.swap(true, Ordering::Relaxed) {
                eprintln!("  first failed request: {e}");
            }
            return None;
        }
    };
    let status = response.status();
    let body = response.bytes().await.ok()?;
    if !status.is_success() && !REPORTED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "  first failed request: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    status.is_success().then_some(body)
}

/// The run of median rate (its other figures come with it).
fn median_figures(runs: &[Figures]) -> Figures {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    sorted[sorted.len() / 2]
}

/// Rates as "1234, 1300, 1250".
fn rates(runs: &[f64]) -> String {
    runs.iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `clients` loops calling `request(client, i)` for `duration` (`i` counts calls across all
/// clients); counts calls that did not succeed.
async fn scenario<F, Fut>(clients: usize, duration: Duration, request: F) -> Figures
where
    F: Fn(usize, u64) -> Fut + Sync,
    Fut: std::future::Future<Output = bool>,
{
    let errors = AtomicU64::new(0);
    let counter = AtomicU64::new(0);
    let started = Instant::now();
    let deadline = started + duration;
    let (errors_ref, counter_ref, request) = (&errors, &counter, &request);
    let loops = (0..clients).map(|client| async move {
        let mut latencies = Vec::new();
        while Instant::now() < deadline {
            let i = counter_ref.fetch_add(1, Ordering::Relaxed);
            let sent = Instant::now();
            let ok = request(client, i).await;
            latencies.push(sent.elapsed());
            if !ok {
                errors_ref.fetch_add(1, Ordering::Relaxed);
            }
        }
        latencies
    });
    let mut latencies: Vec<Duration> = futures::future::join_all(loops)
        .await
        .into_iter()
        .flatten()
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pick = |q: f64| quantile(&latencies, q).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    Figures {
        rate: latencies.len() as f64 / elapsed,
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}
