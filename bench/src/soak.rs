//! The soak suite: a steady mixed load (REST reads and writes, WebSocket layout updates, and
//! WebSocket connections opened and closed) against a server process for minutes, sampling the
//! server's resident memory and open file descriptors from `/proc`, and reporting their slope
//! per minute. A leak shows as a slope that does not flatten; the suite fails past the given
//! limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::rest::{
    ADMIN_PASSWORD, ADMIN_USERNAME, add_member, create_session, create_user, field, join, sign_in,
    start_session,
};
use crate::server::{ChildServer, ServerArgs, register_admin};

/// Options of the soak suite.
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// Minutes of steady load (the documented long run is 30).
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Seconds between samples of the server's memory and descriptors.
    #[arg(long, default_value_t = 10.0)]
    pub sample_secs: f64,
    /// The first part of the run left out of the slopes (caches, pools and the allocator's
    /// arenas fill up first), as a fraction of the run.
    #[arg(long, default_value_t = 0.2)]
    pub warm_up: f64,
    /// Fail when resident memory grows faster than this, in MiB per minute.
    #[arg(long, default_value_t = 64.0)]
    pub max_rss_mib_per_min: f64,
    /// Fail when open file descriptors grow faster than this, per minute.
    #[arg(long, default_value_t = 30.0)]
    pub max_fds_per_min: f64,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// What the load did: operations completed, and failures by kind.
#[derive(Default)]
struct Tally {
    operations: AtomicU64,
    errors: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Tally {
    fn ok(&self) {
        self.operations.fetch_add(1, Ordering::Relaxed);
    }

    fn failed(&self, kind: impl Into<String>) {
        *crate::report::lock(&self.errors)
            .entry(kind.into())
            .or_default() += 1;
    }

    fn operations(&self) -> u64 {
        self.operations.load(Ordering::Relaxed)
    }

    fn errors(&self) -> u64 {
        crate::report::lock(&self.errors).values().sum()
    }
}

/// One sample of the server process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    minutes: f64,
    rss_mib: f64,
    fds: f64,
}

/// Runs the soak against a server process on `database_url`; prints the samples and slopes.
pub async fn run(database_url: &str, args: &SoakArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.minutes > 0.0 && args.sample_secs > 0.0 && (0.0..1.0).contains(&args.warm_up),
        "the soak needs positive --minutes and --sample-secs and a --warm-up in [0, 1)"
    );
    let binary = args.server.binary()?;
    register_admin(database_url).await?;
    let mut server = ChildServer::start(&binary, database_url, "soak-").await?;
    let result = soak(&mut server, args).await;
    server.stop_after(result).await
}

async fn soak(server: &mut ChildServer, args: &SoakArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let admin = sign_in(&http, &base, ADMIN_USERNAME, ADMIN_PASSWORD).await?;
    let session = create_session(&http, &base, &admin, "Soak theatre").await?;
    let viewer = create_user(&http, &base, &admin, "soak-viewer", "observer").await?;
    add_member(&http, &base, &admin, &session, &viewer, "observer").await?;
    start_session(&http, &base, &admin, &session).await?;
    let viewer_token = sign_in(&http, &base, "soak-viewer", ADMIN_PASSWORD).await?;
    let host = join(&http, &base, &admin, &session, "soak host").await?;
    let watcher = join(&http, &base, &viewer_token, &session, "soak viewer").await?;
    let ws_url = field(&host, "/ws/url")?;
    let (host_token, watcher_token) = (field(&host, "/ws/token")?, field(&watcher, "/ws/token")?);

    println!(
        "soak: server pid {}, {:.1} min of steady load: 10 layout updates/s over a WebSocket, \
         a WebSocket opened and closed every 500 ms, 10 REST reads/s and a REST session created \
         every 2 s; samples every {} s; slopes after the first {:.0}% of the run",
        server.pid,
        args.minutes,
        args.sample_secs,
        args.warm_up * 100.0
    );
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let tasks = vec![
        tokio::spawn(write_layout(
            ws_url.clone(),
            host_token,
            stop.clone(),
            tally.clone(),
        )),
        tokio::spawn(churn_sockets(
            ws_url,
            watcher_token,
            stop.clone(),
            tally.clone(),
        )),
        tokio::spawn(rest_load(
            http.clone(),
            base.clone(),
            admin.clone(),
            session.clone(),
            stop.clone(),
            tally.clone(),
        )),
    ];

    let started = Instant::now();
    let run_for = Duration::from_secs_f64(args.minutes * 60.0);
    let mut samples = Vec::new();
    let mut next = started;
    while started.elapsed() < run_for {
        server.check_alive()?;
        samples.push(sample(server.pid, started)?);
        let last = samples.last().context("a sample")?;
        println!(
            "  t={:>6.2} min  rss {:>7.1} MiB  fds {:>4}  operations {:>7}  errors {}",
            last.minutes,
            last.rss_mib,
            last.fds,
            tally.operations(),
            tally.errors()
        );
        next += Duration::from_secs_f64(args.sample_secs);
        tokio::time::sleep_until(next.into()).await;
    }
    samples.push(sample(server.pid, started)?);
    stop.store(true, Ordering::Release);
    for task in tasks {
        task.await.context("a load task")?;
    }

    let cut = args.minutes * args.warm_up;
    let steady: Vec<Sample> = samples.into_iter().filter(|s| s.minutes >= cut).collect();
    anyhow::ensure!(
        steady.len() >= 3,
        "too few samples after the warm-up for a slope: sample more often (--sample-secs)"
    );
    let rss = slope(steady.iter().map(|s| (s.minutes, s.rss_mib)));
    let fds = slope(steady.iter().map(|s| (s.minutes, s.fds)));
    let (operations, errors) = (tally.operations(), tally.errors());
    for (kind, count) in crate::report::lock(&tally.errors).iter() {
        println!("  failed {count} times: {kind}");
    }
    println!(
        "soak result: RSS slope {rss:+.2} MiB/min (limit {}), open fds slope {fds:+.2}/min \
         (limit {}), {operations} operations, {errors} errors",
        args.max_rss_mib_per_min, args.max_fds_per_min
    );
    anyhow::ensure!(
        operations > 0,
        "the load did nothing: no operation completed"
    );
    anyhow::ensure!(
        errors * 100 <= operations,
        "{errors} of {operations} operations failed"
    );
    anyhow::ensure!(
        rss <= args.max_rss_mib_per_min,
        "resident memory grows {rss:.2} MiB/min, over the limit {}: a leak",
        args.max_rss_mib_per_min
    );
    anyhow::ensure!(
        fds <= args.max_fds_per_min,
        "open file descriptors grow {fds:.2}/min, over the limit {}: a leak",
        args.max_fds_per_min
    );
    Ok(())
}

/// The server's resident memory and open descriptors now.
fn sample(pid: u32, started: Instant) -> anyhow::Result<Sample> {
    let status = crate::report::read(&format!("/proc/{pid}/status"))?;
    let rss_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmRSS in /proc/<pid>/status")?
        .parse()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("listing /proc/{pid}/fd"))?
        .count();
    Ok(Sample {
        minutes: started.elapsed().as_secs_f64() / 60.0,
        rss_mib: rss_kib / 1024.0,
        fds: fds as f64,
    })
}

/// The least-squares slope of `points` (x, y).
fn slope(points: impl Iterator<Item = (f64, f64)> + Clone) -> f64 {
    let n = points.clone().count() as f64;
    let (sx, sy) = points
        .clone()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    if den == 0.0 { 0.0 } else { num / den }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket with the token as a subprotocol (never in the URL) and reads up to its
/// `welcome`; the socket and the layout version the welcome names.
async fn open_socket(url: &str, token: &str) -> anyhow::Result<(Socket, u64)> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("livesurgery.v1, bearer.{token}").parse()?,
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    let deadline = Duration::from_secs(10);
    loop {
        let message = tokio::time::timeout(deadline, ws.next())
            .await
            .context("no welcome within 10 s")?
            .context("closed before the welcome")??;
        if let Message::Text(text) = message {
            let value: serde_json::Value = serde_json::from_str(&text)?;
            if value["type"] == "welcome" {
                let version = value["session"]["layout"]["version"].as_u64().unwrap_or(0);
                return Ok((ws, version));
            }
        }
    }
}

/// Sends 10 layout updates per second over one WebSocket, reading every answer; reconnects
/// when the connection ends.
async fn write_layout(url: String, token: String, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut n: u64 = 0;
    while !stop.load(Ordering::Acquire) {
        let (mut ws, mut version) = match open_socket(&url, &token).await {
            Ok(opened) => opened,
            Err(e) => {
                tally.failed(format!("writer: connecting: {e:#}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            if stop.load(Ordering::Acquire) {
                let _ = ws.close(None).await;
                return;
            }
            tokio::select! {
                _ = tick.tick() => {
                    n += 1;
                    let update = serde_json::json!({"type": "layout.update", "ref": format!("u{n}"),
                        "base_version": version, "changes": {"panels": {"p1": {"z": n % 1000}}}});
                    if let Err(e) = ws.send(Message::text(update.to_string())).await {
                        tally.failed(format!("writer: sending: {e}"));
                        break;
                    }
                }
                message = ws.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
                        match value["type"].as_str() {
                            Some("ack") => {
                                tally.ok();
                                version = version.max(value["layout_version"].as_u64().unwrap_or(0));
                            }
                            Some("error") => tally.failed(format!(
                                "writer: error {}", value["code"].as_str().unwrap_or("?")
                            )),
                            Some("event") => {
                                version = version.max(value["data"]["version"].as_u64().unwrap_or(0));
                            }
                            _ => {}
                        }
                    }
                    Some(Ok(_)) => {}
                    other => {
                        tally.failed(format!("writer: the connection ended: {other:?}"));
                        break;
                    }
                }
            }
        }
    }
}

/// Opens a WebSocket, waits for its welcome and closes it, every 500 ms.
async fn churn_sockets(url: String, token: String, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    while !stop.load(Ordering::Acquire) {
        match open_socket(&url, &token).await {
            Ok((mut ws, _)) => {
                let _ = ws.close(None).await;
                // Read to the server's close, so the connection ends cleanly on both sides.
                while let Ok(Some(Ok(_))) =
                    tokio::time::timeout(Duration::from_secs(2), ws.next()).await
                {}
                tally.ok();
            }
            Err(e) => tally.failed(format!("churn: connecting: {e:#}")),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// 10 REST reads per second (session, layout, participants) and a session created every 2 s.
async fn rest_load(
    http: reqwest::Client,
    base: String,
    token: String,
    session: String,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    let paths = [
        format!("/v1/sessions/{session}"),
        format!("/v1/sessions/{session}/layout"),
        format!("/v1/sessions/{session}/participants"),
    ];
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut n: u64 = 0;
    while !stop.load(Ordering::Acquire) {
        tick.tick().await;
        n += 1;
        let result = if n.is_multiple_of(20) {
            create_session(&http, &base, &token, &format!("Soak {n}"))
                .await
                .map(|_| ())
                .map_err(|e| format!("rest: creating a session: {e:#}"))
        } else {
            let path = &paths[(n % 3) as usize];
            match http
                .get(format!("{base}{path}"))
                .bearer_auth(&token)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!(
                    "rest: GET {}: {}",
                    path.replace(&session, "{id}"),
                    r.status()
                )),
                Err(e) => Err(format!("rest: GET: {e}")),
            }
        };
        match result {
            Ok(()) => tally.ok(),
            Err(kind) => tally.failed(kind),
        }
    }
}
