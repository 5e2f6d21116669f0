//! `livesurgery bench --suite api`: requests/s and p99 latency of the REST API's hottest read
//! (`GET /v1/sessions/{id}`) and write (`PATCH /v1/sessions/{id}/layout`), beside `GET /healthz`
//! on the same server in the same run (the cost of HTTP alone). The server runs in this
//! process, on a fresh database; the load generator shares the machine, equally for all three.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use livesurgery_domain::CommandContext;
use livesurgery_domain::roles::OrgRole;
use uuid::Uuid;

use crate::api::dto::{CreateUserRequest, Role};
use crate::settings::{ApiSettings, DatabaseUrl, Settings};

/// One scenario's figures.
#[derive(Debug, Clone, Copy)]
struct Figures {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

/// Runs the API suite against a server on `database_url` and prints the figures.
pub async fn run(database_url: &str, clients: usize, duration: Duration) -> anyhow::Result<()> {
    let data = tempfile::Builder::new()
        .prefix("livesurgery-bench-api")
        .tempdir_in(".")?;
    let settings = Settings {
        database_url: DatabaseUrl::new(database_url),
        http_addr: "127.0.0.1:0".into(),
        api: ApiSettings {
            data_dir: data.path().to_owned(),
            // A free loopback port: the benchmark must not take (or collide with) the SFU port
            // of a server running on this machine.
            sfu_udp_bind: "127.0.0.1:0".into(),
            ..ApiSettings::default()
        },
    };
    let app = crate::startup::Application::build(&settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let server = tokio::spawn(app.run_until_stopped());

    // An admin, signed in, and one session per client (each with its initial 2x2 layout).
    let store = crate::store::open(database_url).await?;
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
    let healthz = |_| {
        let request = client.get(&healthz_url);
        async move { succeeded(request.send().await).await.is_some() }
    };
    let before = scenario(clients, duration, healthz).await;
    let read = scenario(clients, duration, |_| {
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
    let write_spread = scenario(clients, duration, |i| patch(i as usize % sessions.len(), i)).await;
    let write_one = scenario(clients, duration, |i| patch(0, i)).await;
    // The other baseline of a write: the event log alone, appending one event per durable
    // commit from as many writers as there are clients (no HTTP, no decision).
    let log_alone = super::bench::append_rate(store.clone(), clients, clients, duration).await?;
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
    line(
        "PATCH layout, one session per client",
        write_spread,
        Some(0.3),
    );
    line("PATCH layout, all on one session", write_one, None);
    println!(
        "  the event log alone, {clients} writers on {clients} streams: {log_alone:.0} durable appends/s; \
         PATCH (one session per client) = {:.2}x of it",
        write_spread.rate / log_alone
    );
    line("GET /healthz (after)", after, None);
    server.abort();
    Ok(())
}

/// The bench's administrator (scratch databases only: the password is no secret).
pub(super) const ADMIN_USERNAME: &str = "bench-admin";
pub(super) const ADMIN_PASSWORD: &str = "bench-password-not-secret";

/// Registers the bench's administrator straight into the log and the credentials, as
/// `livesurgery users create` does (with or without a server running on the database).
pub(super) async fn register_admin(database_url: &str) -> anyhow::Result<()> {
    let store = crate::store::open(database_url).await?;
    let read_models = livesurgery_projections::ReadModels::connect(database_url).await?;
    read_models.migrate().await?;
    let credentials = crate::auth::Credentials::new(read_models.pool().clone());
    let result = crate::api::users::register_user(
        &*store,
        &credentials,
        &CommandContext::new(Uuid::nil(), OrgRole::Admin, Utc::now()),
        Uuid::now_v7(),
        &CreateUserRequest {
            username: ADMIN_USERNAME.into(),
            password: ADMIN_PASSWORD.into(),
            role: Role::Admin,
            display_name: "Bench".into(),
        },
    )
    .await;
    store.close().await;
    result.map_err(|e| anyhow::anyhow!("registering the bench admin: {}", e.message))?;
    Ok(())
}

/// Signs in with a password; the access token.
pub(super) async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> anyhow::Result<String> {
    let login: serde_json::Value = client
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("signing in as {username}"))?
        .json()
        .await?;
    Ok(login["access_token"]
        .as_str()
        .context("no access token")?
        .to_owned())
}

/// Creates a session (the caller becomes its host, the layout starts as 2x2 panels `p1`-`p4`);
/// its id.
pub(super) async fn create_session(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    title: &str,
) -> anyhow::Result<String> {
    let session: serde_json::Value = client
        .post(format!("{base}/v1/sessions"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "title": title }))
        .send()
        .await?
        .error_for_status()
        .context("creating a session")?
        .json()
        .await?;
    Ok(session["id"].as_str().context("no session id")?.to_owned())
}

/// The body of a 2xx answer (read whole, as a real client does); `None` for anything else.
async fn succeeded(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Option<actix_web::web::Bytes> {
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

/// `clients` loops calling `request(i)` for `duration`; counts calls that did not succeed.
async fn scenario<F, Fut>(clients: usize, duration: Duration, request: F) -> Figures
where
    F: Fn(u64) -> Fut + Sync,
    Fut: std::future::Future<Output = bool>,
{
    let errors = AtomicU64::new(0);
    let counter = AtomicU64::new(0);
    let started = Instant::now();
    let deadline = started + duration;
    let loops = (0..clients).map(|_| async {
        let mut latencies = Vec::new();
        while Instant::now() < deadline {
            let i = counter.fetch_add(1, Ordering::Relaxed);
            let sent = Instant::now();
            let ok = request(i).await;
            latencies.push(sent.elapsed());
            if !ok {
                errors.fetch_add(1, Ordering::Relaxed);
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
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Figures {
        rate: latencies.len() as f64 / elapsed,
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}
