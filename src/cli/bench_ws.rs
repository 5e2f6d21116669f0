//! `livesurgery bench --suite ws`: the realtime gateway under load. The server runs as a child
//! process (`livesurgery serve` on a fresh database), so that its CPU time and memory, read from
//! /proc, are its own; this process is the load generator on the same cores. Sessions of N
//! clients each: one client per session sends `layout.update` at a fixed rate, and every client
//! times each `LayoutUpdated` it receives from the event's `time` (when the server recorded it;
//! same machine, same clock) to its arrival. Baseline, measured in the same run before and after:
//! one session of the same shape alone on the server, the push latency of an idle server. Then
//! the sessions grow until p99 reaches 100 ms or a message is lost.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use futures::{SinkExt, StreamExt, TryStreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::bench_api::{ADMIN_PASSWORD, ADMIN_USERNAME, create_session, register_admin, sign_in};
use super::bench_server::ChildServer;

/// Options of the WebSocket suite (`--suite ws`).
#[derive(Debug, Args)]
pub struct WsArgs {
    /// WS suite: sessions of the main measurement.
    #[arg(long, default_value_t = 50)]
    pub ws_sessions: usize,
    /// WS suite: connections per session (one of them writes the layout).
    #[arg(long, default_value_t = 20)]
    pub ws_clients: usize,
    /// WS suite: layout updates per second in each session.
    #[arg(long, default_value_t = 5.0)]
    pub ws_updates: f64,
    /// WS suite: seconds measured for the baseline and the main load (after 3 s of warm-up).
    #[arg(long, default_value_t = 20.0)]
    pub ws_seconds: f64,
    /// WS suite: seconds measured at each step of the ramp.
    #[arg(long, default_value_t = 10.0)]
    pub ws_ramp_seconds: f64,
    /// WS suite: the ramp's resolution in connections: it doubles the sessions until a step is
    /// not held, then bisects down to this.
    #[arg(long, default_value_t = 250)]
    pub ws_ramp_resolution: usize,
    /// WS suite: the ramp stops at this many connections (0: no ramp).
    #[arg(long, default_value_t = 10_000)]
    pub ws_ramp_max: usize,
}

const WARM_UP: Duration = Duration::from_secs(3);
/// The issue's goals: p99 and memory at the main load, and the ramp's limit.
const GOAL_P99_MS: f64 = 50.0;
const GOAL_RSS_MB: f64 = 300.0;
const RAMP_P99_MS: f64 = 100.0;
/// Other processes using this much of a core (%) make a baseline unreliable.
const BUSY_MACHINE_PCT: f64 = 25.0;
/// File descriptors kept free in each process besides the connections.
const FD_HEADROOM: usize = 256;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Runs the WebSocket suite against a server process on `database_url` and prints the figures.
pub async fn run(database_url: &str, args: &WsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.ws_sessions >= 1 && args.ws_clients >= 2 && args.ws_updates > 0.0,
        "the WS suite needs at least 1 session, 2 clients per session and a positive update rate"
    );
    let fd_limit = open_files_limit((args.ws_sessions * args.ws_clients).max(args.ws_ramp_max));
    register_admin(database_url).await?;
    let mut server = Server::start(database_url).await?;
    let result = measure(&mut server, args, fd_limit).await;
    let stopped = server.stop().await;
    match (&result, stopped) {
        (_, Ok(took)) => println!("  server stopped (SIGTERM) in {:.2} s", took.as_secs_f64()),
        (Err(_), Err(e)) => eprintln!("  stopping the server: {e:#}"),
        (Ok(_), Err(e)) => return Err(e),
    }
    result
}

async fn measure(server: &mut Server, args: &WsArgs, fd_limit: usize) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let people = People::register(&http, &server.base).await?;
    let ctx = Arc::new(Ctx {
        http,
        base: server.base.clone(),
        people,
    });
    let period = Duration::from_secs_f64(1.0 / args.ws_updates);
    let window = Duration::from_secs_f64(args.ws_seconds);
    let clients = args.ws_clients;
    println!(
        "WebSocket gateway: sessions of {clients} connections, {} layout updates/s per session \
         (one writer each), latency = event `time` (recorded by the server) to arrival at each \
         client; {:.0} s measured after {} s of warm-up ({:.0} s per ramp step). Server in its \
         own process (pid {}), this process (gen) generates the load on the same {} cores; \
         `other` = the machine's other processes{}; CPU 100% = one core; `srv p99` = the server's own \
         push latency histogram (recorded -> handed to the socket, bucket bound); `ack p99` = \
         a writer's update to its ack. Open-files limit {fd_limit} per process.",
        args.ws_updates,
        window.as_secs_f64(),
        WARM_UP.as_secs(),
        args.ws_ramp_seconds,
        server.pid,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if server.postgres {
            " (a local PostgreSQL's CPU is listed apart below)"
        } else {
            ""
        },
    );
    print_header();
    let mut rows = Vec::new();

    let before = baseline(&ctx, server, clients, period, window, "before").await?;
    rows.push(before.clone());

    let mut fleet = Fleet::new(ctx.clone(), clients, period);
    let main = fleet
        .step(
            &format!("{} x {clients}", args.ws_sessions),
            args.ws_sessions,
            window,
            server,
        )
        .await;
    let main = match main {
        Ok(main) => main,
        Err(e) => {
            fleet.close().await;
            return Err(e.context("the main load"));
        }
    };
    rows.push(main.clone());

    // The ramp: sessions of the same shape (same connections, same update rate), as more
    // operating rooms would bring. The sessions double, kept connected, until a step is not
    // held (p99 >= 100 ms, a drop, an error); then fresh fleets bisect between the last step
    // held and the first not held, down to --ws-ramp-resolution connections.
    let ramp_window = Duration::from_secs_f64(args.ws_ramp_seconds);
    let fd_sessions = fd_limit.saturating_sub(FD_HEADROOM) / clients;
    let max_sessions = (args.ws_ramp_max / clients).min(fd_sessions);
    // Sessions: the most held, and the fewest not held (with why).
    let mut held = if main.held() { args.ws_sessions } else { 0 };
    let mut not_held: Option<(usize, String)> =
        (!main.held()).then(|| (args.ws_sessions, main.verdict()));
    let mut why_stopped = String::new();
    while not_held.is_none() {
        let next = (held * 2).min(max_sessions);
        if next <= held {
            why_stopped = if args.ws_ramp_max == 0 {
                "no ramp (--ws-ramp-max 0)".to_owned()
            } else if fd_sessions < args.ws_ramp_max / clients {
                format!(
                    "the open-files limit ({fd_limit}) allows no more; raise it (`ulimit -n`) \
                     to go further"
                )
            } else {
                format!("--ws-ramp-max {} reached", args.ws_ramp_max)
            };
            break;
        }
        server.check_alive()?;
        let label = format!("ramp {next} x {clients}");
        match fleet.step(&label, next, ramp_window, server).await {
            Ok(figures) if figures.held() => {
                rows.push(figures);
                held = next;
            }
            Ok(figures) => {
                not_held = Some((next, figures.verdict()));
                rows.push(figures);
            }
            Err(e) => {
                eprintln!("  {label} failed: {e:#}");
                not_held = Some((next, format!("{e:#}")));
            }
        }
    }
    fleet.close().await;
    server.settle(&ctx.http).await?;
    let resolution = args.ws_ramp_resolution.div_ceil(clients).max(1);
    while let Some((fewest, _)) = &not_held
        && fewest - held > resolution
    {
        let mid = (held + fewest) / 2;
        server.check_alive()?;
        let label = format!("bisect {mid} x {clients}");
        let mut probe = Fleet::new(ctx.clone(), clients, period);
        let result = probe.step(&label, mid, ramp_window, server).await;
        probe.close().await;
        server.settle(&ctx.http).await?;
        match result {
            Ok(figures) if figures.held() => {
                rows.push(figures);
                held = mid;
            }
            Ok(figures) => {
                not_held = Some((mid, figures.verdict()));
                rows.push(figures);
            }
            Err(e) => {
                eprintln!("  {label} failed: {e:#}");
                not_held = Some((mid, format!("{e:#}")));
            }
        }
    }
    server.check_alive()?;

    let after = baseline(&ctx, server, clients, period, window, "after").await?;
    rows.push(after.clone());

    println!();
    println!("  server CPU by thread name (% of one core), then what went wrong, if anything:");
    for row in &rows {
        let threads: Vec<String> = row
            .cpu
            .server_threads
            .iter()
            .take(6)
            .map(|(name, pct)| format!("{name} {pct:.0}%"))
            .collect();
        let detail = row.detail().map_or_else(String::new, |d| format!("; {d}"));
        let database = if server.postgres {
            format!("(PostgreSQL processes {:.0}%) ", row.cpu.database)
        } else {
            String::new()
        };
        println!(
            "  {:<22} {database}{}{detail}",
            row.label,
            threads.join(", ")
        );
    }
    // The mean of before and after, unless other processes took the machine during one.
    let busy = |f: &Figures| f.cpu.other >= BUSY_MACHINE_PCT;
    let (base_p50, base_p99, used) = match (busy(&before), busy(&after)) {
        (false, true) => (
            before.p50,
            before.p99,
            "before only: other processes were busy after",
        ),
        (true, false) => (
            after.p50,
            after.p99,
            "after only: other processes were busy before",
        ),
        _ => (
            (before.p50 + after.p50) / 2.0,
            (before.p99 + after.p99) / 2.0,
            "the mean",
        ),
    };
    println!(
        "  baseline (1 session x {clients} connections): p50 {base_p50:.2} ms, p99 {base_p99:.2} ms \
         (p99 before {:.2}, after {:.2}; {used})",
        before.p99, after.p99
    );
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!(
        "  at {} connections ({} sessions x {clients}, {:.0} updates/s in all): p50 {:.2} ms = {:.1}x \
         baseline, p99 {:.2} ms = {:.1}x baseline p99, max {:.1} ms",
        main.connections,
        main.sessions,
        main.updates,
        main.p50,
        main.p50 / base_p50,
        main.p99,
        main.p99 / base_p99,
        main.max
    );
    println!(
        "  goals at {} connections: p99 < {GOAL_P99_MS:.0} ms: {} ({:.1} ms); no drops: {} ({}); \
         server RSS < {GOAL_RSS_MB:.0} MB: {} ({:.0} MB, peak {:.0} MB)",
        main.connections,
        verdict(main.p99 < GOAL_P99_MS),
        main.p99,
        verdict(main.drops == 0),
        main.drops,
        verdict(main.server_hwm_mb < GOAL_RSS_MB),
        main.server_rss_mb,
        main.server_hwm_mb
    );
    println!(
        "  connection setup at the main load ({} sessions created, members added, started, \
         {} participants joined over REST, then WS handshake + welcome): {:.1} s; \
         handshake to welcome p50 {:.1} ms, p99 {:.1} ms",
        main.sessions, main.connections, main.setup_secs, main.connect_p50, main.connect_p99
    );
    let disturbed: Vec<&str> = rows
        .iter()
        .filter(|f| busy(f))
        .map(|f| f.label.as_str())
        .collect();
    if !disturbed.is_empty() {
        println!(
            "  other processes used >= {BUSY_MACHINE_PCT:.0}% of a core during: {} (those \
             figures are pessimistic)",
            disturbed.join(", ")
        );
    }
    let not_held = match &not_held {
        Some((sessions, why)) => format!("{} connections were not: {why}", sessions * clients),
        None => format!("the ramp stopped: {why_stopped}"),
    };
    println!(
        "  largest number of connections held at p99 < {RAMP_P99_MS:.0} ms with no drops: {} \
         ({not_held})",
        held * clients
    );
    Ok(())
}

/// One session of the load's shape alone on the otherwise idle server. (Of the same shape: an
/// artefact that hits one connection of a session, such as the writer's, weighs the same in the
/// baseline's quantiles as in the load's.)
async fn baseline(
    ctx: &Arc<Ctx>,
    server: &mut Server,
    clients: usize,
    period: Duration,
    window: Duration,
    when: &str,
) -> anyhow::Result<Figures> {
    server.check_alive()?;
    let label = format!("baseline 1x{clients} {when}");
    let label = label.as_str();
    let mut fleet = Fleet::new(ctx.clone(), clients, period);
    let figures = fleet.step(label, 1, window, server).await;
    fleet.close().await;
    server.settle(&ctx.http).await?;
    figures.with_context(|| format!("the {label}"))
}

// ---- the server process ----

/// `livesurgery serve` as a child process, with what this suite reads of it.
struct Server {
    process: ChildServer,
    ticks_per_second: f64,
    postgres: bool,
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
    async fn start(database_url: &str) -> anyhow::Result<Server> {
        Ok(Server {
            process: ChildServer::start(database_url, "livesurgery-bench-ws").await?,
            ticks_per_second: clock_ticks_per_second(),
            postgres: database_url.starts_with("postgres"),
        })
    }

    /// CPU seconds so far: the server's (in all, and by thread name), this process's, and the
    /// whole machine's.
    fn cpu(&self) -> anyhow::Result<CpuSnapshot> {
        let ticks = self.ticks_per_second;
        let mut threads: BTreeMap<String, f64> = BTreeMap::new();
        for task in std::fs::read_dir(format!("/proc/{}/task", self.pid))? {
            let stat = task?.path().join("stat");
            // A thread may end between the listing and the read.
            let Ok(text) = std::fs::read_to_string(&stat) else {
                continue;
            };
            let name = text
                .split_once('(')
                .and_then(|(_, rest)| rest.rsplit_once(')'))
                .map_or("?", |(name, _)| name);
            if let Ok(seconds) = stat_cpu_seconds(&text, ticks) {
                *threads.entry(name.to_owned()).or_default() += seconds;
            }
        }
        let machine = std::fs::read_to_string("/proc/stat")?;
        let busy: u64 = machine
            .lines()
            .next()
            .context("empty /proc/stat")?
            .split_whitespace()
            .skip(1)
            // user, nice, system: what processes used (interrupts are nobody's).
            .take(3)
            .map(|v| v.parse::<u64>().unwrap_or(0))
            .sum();
        Ok(CpuSnapshot {
            server: stat_cpu_seconds(
                &std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?,
                ticks,
            )?,
            threads,
            own: stat_cpu_seconds(&std::fs::read_to_string("/proc/self/stat")?, ticks)?,
            database: if self.postgres {
                postgres_cpu_seconds(ticks)
            } else {
                0.0
            },
            machine: busy as f64 / ticks,
            at: Instant::now(),
        })
    }

    /// VmRSS and VmHWM (the peak so far), in MB.
    fn memory_mb(&self) -> anyhow::Result<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
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

    /// The server's own push latency histogram (`GET /metrics`), when it has one.
    async fn push_histogram(&self, http: &reqwest::Client) -> Option<Vec<(f64, f64)>> {
        let response = http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let text = response.text().await.ok()?;
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
    async fn settle(&self, http: &reqwest::Client) -> anyhow::Result<()> {
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

    /// SIGTERM (the server drains), then the wait; how long it took.
    async fn stop(mut self) -> anyhow::Result<Duration> {
        self.process.stop().await
    }
}

/// Delta of two cumulative Prometheus histograms: the bucket bound (ms) under which the
/// quantile `q` of the observations made between them fell.
fn histogram_quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> Option<f64> {
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

/// CPU seconds, cumulative, at one moment.
struct CpuSnapshot {
    server: f64,
    threads: BTreeMap<String, f64>,
    own: f64,
    database: f64,
    machine: f64,
    at: Instant,
}

/// CPU seconds of the processes named `postgres` on this machine (a local PostgreSQL).
fn postgres_cpu_seconds(ticks: f64) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(|e| {
            let e = e.ok()?;
            e.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            stat.contains("(postgres)")
                .then(|| stat_cpu_seconds(&stat, ticks).ok())
                .flatten()
        })
        .sum()
}

/// CPU use over a window, in % of one core.
#[derive(Debug, Clone, Default)]
struct CpuUse {
    server: f64,
    /// The server's busiest thread names, busiest first.
    server_threads: Vec<(String, f64)>,
    own: f64,
    /// A local PostgreSQL's processes, when the server uses PostgreSQL.
    database: f64,
    /// The machine's other processes.
    other: f64,
}

impl CpuSnapshot {
    fn since(&self, earlier: &CpuSnapshot) -> CpuUse {
        let pct = 100.0 / (self.at - earlier.at).as_secs_f64();
        let server = (self.server - earlier.server) * pct;
        let own = (self.own - earlier.own) * pct;
        let mut server_threads: Vec<(String, f64)> = self
            .threads
            .iter()
            .map(|(name, s)| {
                let before = earlier.threads.get(name).copied().unwrap_or(0.0);
                (name.clone(), (s - before).max(0.0) * pct)
            })
            .filter(|(_, p)| *p >= 0.5)
            .collect();
        server_threads.sort_by(|a, b| b.1.total_cmp(&a.1));
        let database = (self.database - earlier.database).max(0.0) * pct;
        CpuUse {
            server,
            server_threads,
            own,
            database,
            other: ((self.machine - earlier.machine) * pct - server - own - database).max(0.0),
        }
    }
}

/// utime + stime from the text of a /proc stat file (a process's: all its threads), in seconds.
fn stat_cpu_seconds(stat: &str, ticks_per_second: f64) -> anyhow::Result<f64> {
    // The command name (field 2) may hold spaces: count from its closing parenthesis, after
    // which field 3 (state) comes; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').context("malformed /proc stat")? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) as f64 / ticks_per_second)
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The soft limit on open files, raised to the hard limit (with `prlimit`, which the server
/// inherits) when `wanted` connections would not fit.
fn open_files_limit(wanted: usize) -> usize {
    let read = || -> Option<(usize, String)> {
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        let mut values = line["Max open files".len()..].split_whitespace();
        let soft = values.next()?.parse().ok()?;
        Some((soft, values.next()?.to_owned()))
    };
    let Some((soft, hard)) = read() else {
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
    match read() {
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

// ---- users and sessions over REST ----

/// The users that join: the admin (host of every session, the writer) first.
struct Person {
    id: String,
    token: String,
    /// Its role as a member of each session; `None` for the host.
    member_role: Option<&'static str>,
}

struct People(Vec<Person>);

impl People {
    /// The admin, two surgeons and two observers, signed in.
    async fn register(http: &reqwest::Client, base: &str) -> anyhow::Result<People> {
        let admin_token = sign_in(http, base, ADMIN_USERNAME, ADMIN_PASSWORD).await?;
        let mut people = vec![Person {
            id: String::new(),
            token: admin_token.clone(),
            member_role: None,
        }];
        for (name, role) in [
            ("bench-surgeon-1", "surgeon"),
            ("bench-surgeon-2", "surgeon"),
            ("bench-observer-1", "observer"),
            ("bench-observer-2", "observer"),
        ] {
            let user: serde_json::Value = http
                .post(format!("{base}/v1/users"))
                .bearer_auth(&admin_token)
                .json(&serde_json::json!({
                    "username": name, "password": ADMIN_PASSWORD, "role": role, "display_name": name
                }))
                .send()
                .await?
                .error_for_status()
                .with_context(|| format!("creating the user {name}"))?
                .json()
                .await?;
            people.push(Person {
                id: user["id"].as_str().context("no user id")?.to_owned(),
                token: sign_in(http, base, name, ADMIN_PASSWORD).await?,
                member_role: Some(role),
            });
        }
        Ok(People(people))
    }
}

struct Ctx {
    http: reqwest::Client,
    base: String,
    people: People,
}

/// What `participants:join` hands out for the WebSocket.
struct Joined {
    url: String,
    token: String,
}

/// Creates session number `n` as the admin (its host), adds the other users as members, starts
/// it and joins `clients` participants: the first is the host's (the writer), the others go
/// round the users.
async fn open_session(ctx: &Ctx, n: usize, clients: usize) -> anyhow::Result<Vec<Joined>> {
    let (http, base, people) = (&ctx.http, &ctx.base, &ctx.people.0);
    let admin = &people[0].token;
    let id = create_session(http, base, admin, &format!("WS bench session {n}")).await?;
    for person in &people[1..] {
        http.put(format!("{base}/v1/sessions/{id}/members/{}", person.id))
            .bearer_auth(admin)
            .json(&serde_json::json!({ "role": person.member_role }))
            .send()
            .await?
            .error_for_status()
            .context("adding a member")?;
    }
    http.post(format!("{base}/v1/sessions/{id}:start"))
        .bearer_auth(admin)
        .send()
        .await?
        .error_for_status()
        .context("starting a session")?;
    futures::stream::iter(0..clients)
        .map(|j| {
            let person = &people[j % people.len()];
            let request = http
                .post(format!("{base}/v1/sessions/{id}/participants:join"))
                .bearer_auth(&person.token)
                .json(&serde_json::json!({ "device": format!("bench-{j}") }));
            async move {
                let response = request.send().await?;
                let status = response.status();
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                anyhow::ensure!(
                    status == reqwest::StatusCode::CREATED,
                    "participants:join answered {status}: {body}"
                );
                Ok(Joined {
                    url: body["ws"]["url"].as_str().context("no ws.url")?.to_owned(),
                    token: body["ws"]["token"]
                        .as_str()
                        .context("no ws.token")?
                        .to_owned(),
                })
            }
        })
        .buffered(4)
        .try_collect()
        .await
}

/// A WebSocket that got its welcome.
struct Connected {
    ws: Ws,
    /// The layout version of the welcome's snapshot.
    layout_version: u64,
    /// From opening the TCP connection to the welcome.
    took: Duration,
}

/// Opens the WebSocket, asks for the welcome at once (a `ping` first) and waits for it.
async fn connect(joined: &Joined) -> anyhow::Result<Connected> {
    let started = Instant::now();
    let url = format!("{}?token={}", joined.url, joined.token);
    // Small read buffers: thousands of connections, small messages.
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|e| match e {
            tungstenite::Error::Http(response) => anyhow::anyhow!(
                "the WebSocket upgrade was refused: {} {}",
                response.status(),
                String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
            ),
            e => anyhow::Error::new(e).context("opening the WebSocket"),
        })?;
    ws.send(Message::text(r#"{"type":"ping","ref":"hello"}"#))
        .await?;
    let layout_version = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let message: Incoming = serde_json::from_str(text.as_str())?;
                    match &*message.kind {
                        "welcome" => {
                            return message
                                .session
                                .and_then(|s| s.layout)
                                .map(|l| l.version)
                                .context("no session.layout.version in the welcome");
                        }
                        "error" => anyhow::bail!("an error before the welcome: {text}"),
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    anyhow::bail!("closed before the welcome: {frame:?}")
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => anyhow::bail!("the connection ended before the welcome"),
            }
        }
    })
    .await
    .context("no welcome within 10 s")??;
    Ok(Connected {
        ws,
        layout_version,
        took: started.elapsed(),
    })
}

// ---- the load ----

/// The fields of a server message the bench reads (the rest is skipped unparsed).
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    position: Option<u64>,
    version: Option<u64>,
    #[serde(borrow)]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
    data: Option<VersionOnly>,
    layout_version: Option<u64>,
    #[serde(borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(rename = "ref", borrow)]
    reference: Option<Cow<'a, str>>,
    session: Option<WelcomeSession>,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: Option<u64>,
}

#[derive(Deserialize)]
struct WelcomeSession {
    layout: Option<LayoutVersion>,
}

#[derive(Deserialize)]
struct LayoutVersion {
    version: u64,
}

/// Latencies in microseconds: 10 µs buckets below 10 ms, 100 µs below 200 ms, 10 ms below
/// 10 s, then one bucket.
struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..=3880).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    fn index(us: u64) -> usize {
        (match us {
            0..10_000 => us / 10,
            10_000..200_000 => 1000 + (us - 10_000) / 100,
            200_000..10_000_000 => 2900 + (us - 200_000) / 10_000,
            _ => 3880,
        }) as usize
    }

    /// The upper bound of bucket `i`, in microseconds.
    fn upper(i: usize) -> u64 {
        let i = i as u64;
        match i {
            0..1000 => (i + 1) * 10,
            1000..2900 => 10_000 + (i - 999) * 100,
            2900..3880 => 200_000 + (i - 2899) * 10_000,
            _ => u64::MAX,
        }
    }

    fn record(&self, us: u64) {
        self.buckets[Self::index(us)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(us, Ordering::Relaxed);
    }

    fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
        self.count.store(0, Ordering::Relaxed);
        self.max.store(0, Ordering::Relaxed);
    }

    /// The quantile `q` in milliseconds (the upper bound of its bucket, at most the maximum).
    fn quantile_ms(&self, q: f64) -> f64 {
        let count = self.count.load(Ordering::Relaxed);
        let max = self.max.load(Ordering::Relaxed);
        let rank = ((q * count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                return Self::upper(i).min(max) as f64 / 1000.0;
            }
        }
        max as f64 / 1000.0
    }
}

/// What every connection task reports into.
#[derive(Default)]
struct Counters {
    /// The writers send while set.
    writing: AtomicBool,
    /// Latencies and rates are counted while set (the measurement window).
    measuring: AtomicBool,
    // The window's figures.
    latency: Histogram,
    /// A writer's `layout.update` to its `ack`.
    ack_latency: Histogram,
    delivered: AtomicU64,
    updates_sent: AtomicU64,
    // The step's figures.
    sent: AtomicU64,
    answered: AtomicU64,
    gaps: AtomicU64,
    lost: AtomicU64,
    malformed: AtomicU64,
    closes: Mutex<BTreeMap<u16, u64>>,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    fn reset_window(&self) {
        self.latency.reset();
        self.ack_latency.reset();
        self.delivered.store(0, Ordering::Relaxed);
        self.updates_sent.store(0, Ordering::Relaxed);
    }

    fn reset_step(&self) {
        self.reset_window();
        for c in [
            &self.sent,
            &self.answered,
            &self.gaps,
            &self.lost,
            &self.malformed,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        lock(&self.closes).clear();
        lock(&self.errors).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One connection, as the fleet sees it.
struct ClientState {
    /// The last layout version it received (welcome or `LayoutUpdated`).
    layout_version: AtomicU64,
    alive: AtomicBool,
}

struct SessionLoad {
    /// The last layout version acknowledged to the session's writer.
    acked_version: AtomicU64,
    clients: Vec<Arc<ClientState>>,
}

/// A set of sessions with their connections, grown step by step.
struct Fleet {
    ctx: Arc<Ctx>,
    clients: usize,
    period: Duration,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    sessions: Vec<Arc<SessionLoad>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// One measured step.
#[derive(Debug, Clone)]
struct Figures {
    label: String,
    sessions: usize,
    connections: usize,
    clients: usize,
    /// `layout.update` sent per second, all sessions.
    updates: f64,
    /// `event` messages received per second, all connections.
    delivered: f64,
    samples: u64,
    p50: f64,
    p99: f64,
    max: f64,
    ack_p99: f64,
    /// The server's own figure (recorded -> handed to the socket), p99 bucket bound.
    server_push_p99: Option<f64>,
    drops: u64,
    closes: BTreeMap<u16, u64>,
    lost: u64,
    gaps: u64,
    behind: u64,
    unanswered: u64,
    malformed: u64,
    errors: BTreeMap<String, u64>,
    cpu: CpuUse,
    server_rss_mb: f64,
    server_hwm_mb: f64,
    setup_secs: f64,
    connect_p50: f64,
    connect_p99: f64,
}

impl Figures {
    fn held(&self) -> bool {
        self.samples > 0 && self.p99 < RAMP_P99_MS && self.drops == 0
    }

    fn verdict(&self) -> String {
        format!(
            "p99 {:.1} ms, {} drop(s){}",
            self.p99,
            self.drops,
            if self.samples == 0 {
                ", no event received"
            } else {
                ""
            }
        )
    }

    fn detail(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.closes.is_empty() {
            parts.push(format!(
                "closed by the server {:?} (code: count)",
                self.closes
            ));
        }
        for (n, what) in [
            (self.lost, "connection(s) lost without a close frame"),
            (self.gaps, "event(s) missing inside a stream (version gaps)"),
            (
                self.behind,
                "connection(s) without the session's last update 5 s after the writers stopped",
            ),
            (
                self.unanswered,
                "update(s) neither acknowledged nor refused",
            ),
            (self.malformed, "message(s) the bench could not read"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        if !self.errors.is_empty() {
            parts.push(format!("`error` messages {:?}", self.errors));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

fn print_header() {
    println!(
        "  {:<22} {:>6} {:>5} {:>6} {:>17} {:>7} {:>7} {:>7} {:>8} {:>7} {:>5} {:>7} {:>14} {:>7} {:>6}",
        "scenario",
        "conns",
        "sess",
        "upd/s",
        "events/s (expect)",
        "p50 ms",
        "p99 ms",
        "max ms",
        "srv p99",
        "ack p99",
        "drops",
        "srv CPU",
        "srv RSS (peak)",
        "gen CPU",
        "other"
    );
}

fn print_row(f: &Figures) {
    let server_push = f
        .server_push_p99
        .map_or_else(|| "-".to_owned(), |v| format!("<={v:.1}"));
    println!(
        "  {:<22} {:>6} {:>5} {:>6.0} {:>8.0} ({:>6.0}) {:>7.2} {:>7.2} {:>7.1} {:>8} {:>7.1} {:>5} {:>6.0}% {:>6.0} ({:>4.0}) MB {:>6.0}% {:>5.0}%",
        f.label,
        f.connections,
        f.sessions,
        f.updates,
        f.delivered,
        f.updates * f.clients as f64,
        f.p50,
        f.p99,
        f.max,
        server_push,
        f.ack_p99,
        f.drops,
        f.cpu.server,
        f.server_rss_mb,
        f.server_hwm_mb,
        f.cpu.own,
        f.cpu.other
    );
}

impl Fleet {
    fn new(ctx: Arc<Ctx>, clients: usize, period: Duration) -> Fleet {
        Fleet {
            ctx,
            clients,
            period,
            counters: Arc::default(),
            stop: watch::channel(false).0,
            sessions: Vec::new(),
            tasks: Vec::new(),
        }
    }

    /// Grows the fleet to `sessions` sessions, then warms up, measures for `window` and checks
    /// that every connection got every update; prints the row.
    async fn step(
        &mut self,
        label: &str,
        sessions: usize,
        window: Duration,
        server: &Server,
    ) -> anyhow::Result<Figures> {
        let counters = self.counters.clone();
        counters.reset_step();
        let started = Instant::now();
        let new = sessions.saturating_sub(self.sessions.len());
        let mut connect_times = self.grow(new).await?;
        let setup_secs = started.elapsed().as_secs_f64();
        connect_times.sort_unstable();
        let pick = |q: f64| {
            connect_times
                .get(((connect_times.len() as f64 * q) as usize).min(connect_times.len() - 1))
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let (connect_p50, connect_p99) = (pick(0.5), pick(0.99));
        eprintln!(
            "  {label}: {new} session(s) and {} connection(s) opened in {setup_secs:.1} s \
             (handshake to welcome p50 {connect_p50:.1} ms, p99 {connect_p99:.1} ms)",
            new * self.clients
        );

        counters.writing.store(true, Ordering::Relaxed);
        tokio::time::sleep(WARM_UP).await;
        let push_before = server.push_histogram(&self.ctx.http).await;
        counters.reset_window();
        let cpu_before = server.cpu()?;
        let window_start = Instant::now();
        counters.measuring.store(true, Ordering::Relaxed);
        tokio::time::sleep(window).await;
        counters.measuring.store(false, Ordering::Relaxed);
        let elapsed = window_start.elapsed().as_secs_f64();
        let cpu = server.cpu()?.since(&cpu_before);
        let (server_rss_mb, server_hwm_mb) = server.memory_mb()?;
        let push_after = server.push_histogram(&self.ctx.http).await;
        counters.writing.store(false, Ordering::Relaxed);
        let latency = &counters.latency;
        let (p50, p99, max) = (
            latency.quantile_ms(0.50),
            latency.quantile_ms(0.99),
            latency.max.load(Ordering::Relaxed) as f64 / 1000.0,
        );
        let samples = latency.count.load(Ordering::Relaxed);
        let delivered = counters.delivered.load(Ordering::Relaxed) as f64 / elapsed;
        let updates = counters.updates_sent.load(Ordering::Relaxed) as f64 / elapsed;

        let behind = self.drain().await;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let unanswered = load(&counters.sent).saturating_sub(load(&counters.answered));
        let closes = lock(&counters.closes).clone();
        let (lost, gaps) = (load(&counters.lost), load(&counters.gaps));
        let figures = Figures {
            label: label.to_owned(),
            sessions: self.sessions.len(),
            connections: self.alive(),
            clients: self.clients,
            updates,
            delivered,
            samples,
            p50,
            p99,
            max,
            ack_p99: counters.ack_latency.quantile_ms(0.99),
            server_push_p99: push_before
                .zip(push_after)
                .and_then(|(b, a)| histogram_quantile(&b, &a, 0.99)),
            drops: closes.values().sum::<u64>() + lost + gaps + behind + unanswered,
            closes,
            lost,
            gaps,
            behind,
            unanswered,
            malformed: load(&counters.malformed),
            errors: lock(&counters.errors).clone(),
            cpu,
            server_rss_mb,
            server_hwm_mb,
            setup_secs,
            connect_p50,
            connect_p99,
        };
        print_row(&figures);
        Ok(figures)
    }

    fn alive(&self) -> usize {
        self.sessions
            .iter()
            .flat_map(|s| &s.clients)
            .filter(|c| c.alive.load(Ordering::Relaxed))
            .count()
    }

    /// After the writers stop: waits (up to 5 s) for every live connection to have its
    /// session's last acknowledged update; how many do not.
    async fn drain(&self) -> u64 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let behind = self
                .sessions
                .iter()
                .map(|s| {
                    let last = s.acked_version.load(Ordering::Relaxed);
                    s.clients
                        .iter()
                        .filter(|c| {
                            c.alive.load(Ordering::Relaxed)
                                && c.layout_version.load(Ordering::Relaxed) < last
                        })
                        .count() as u64
                })
                .sum();
            if behind == 0 || Instant::now() >= deadline {
                return behind;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens `new` sessions and their connections; each connection's time to its welcome.
    async fn grow(&mut self, new: usize) -> anyhow::Result<Vec<Duration>> {
        let first = self.sessions.len();
        let (ctx, clients) = (&self.ctx, self.clients);
        let joined: Vec<Vec<Joined>> = futures::stream::iter(first..first + new)
            .map(|n| open_session(ctx, n, clients))
            .buffered(8)
            .try_collect()
            .await?;
        // Sessions in order, each's writer first.
        let targets: Vec<(usize, &Joined)> = joined
            .iter()
            .enumerate()
            .flat_map(|(s, js)| js.iter().map(move |j| (s, j)))
            .collect();
        let results: Vec<anyhow::Result<Connected>> = futures::stream::iter(&targets)
            .map(|(_, joined)| connect(joined))
            .buffered(64)
            .collect()
            .await;
        let failed = results.iter().filter(|r| r.is_err()).count();
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            anyhow::bail!(
                "{failed} of {} connection(s) failed; the first: {e:#}",
                results.len()
            );
        }
        let mut times = Vec::with_capacity(results.len());
        let mut by_session: Vec<Vec<Connected>> = (0..new).map(|_| Vec::new()).collect();
        for ((s, _), result) in targets.iter().zip(results) {
            let connected = result?;
            times.push(connected.took);
            by_session[*s].push(connected);
        }
        for connections in by_session {
            let states: Vec<Arc<ClientState>> = connections
                .iter()
                .map(|c| {
                    Arc::new(ClientState {
                        layout_version: AtomicU64::new(c.layout_version),
                        alive: AtomicBool::new(true),
                    })
                })
                .collect();
            let session = Arc::new(SessionLoad {
                acked_version: AtomicU64::new(connections.first().map_or(0, |c| c.layout_version)),
                clients: states.clone(),
            });
            // The writers' ticks spread over the period, as independent rooms would.
            let phase = self.period.mul_f64(rand::random::<f64>());
            for (j, (connected, state)) in connections.into_iter().zip(states).enumerate() {
                let client = Client {
                    state,
                    session: session.clone(),
                    counters: self.counters.clone(),
                    writer: (j == 0).then_some((self.period, phase)),
                };
                self.tasks.push(tokio::spawn(
                    client.run(connected.ws, self.stop.subscribe()),
                ));
            }
            self.sessions.push(session);
        }
        Ok(times)
    }

    /// Closes every connection (a close frame each) and waits for the tasks.
    async fn close(mut self) {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(&mut self.tasks);
        let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
        if tokio::time::timeout(Duration::from_secs(15), futures::future::join_all(tasks))
            .await
            .is_err()
        {
            eprintln!("  some connections did not close within 15 s; dropped");
            for a in aborts {
                a.abort();
            }
        }
    }
}

/// What one connection's task keeps between messages.
#[derive(Default)]
struct Seen {
    /// The writer's base version: the last it saw (welcome, acks, events).
    known: u64,
    /// The stream version and log position of the last event.
    stream_version: u64,
    position: u64,
    /// The writer's updates not answered yet: number (`ref` "u<n>") and when sent.
    pending: std::collections::VecDeque<(u64, Instant)>,
}

impl Seen {
    /// Takes the update that `reference` answers (and any older left unanswered): when it
    /// was sent.
    fn answered(&mut self, reference: Option<&str>) -> Option<Instant> {
        let n: u64 = reference?.strip_prefix('u')?.parse().ok()?;
        while let Some(&(first, sent)) = self.pending.front() {
            if first > n {
                break;
            }
            self.pending.pop_front();
            if first == n {
                return Some(sent);
            }
        }
        None
    }
}

/// One connection's task.
struct Client {
    state: Arc<ClientState>,
    session: Arc<SessionLoad>,
    counters: Arc<Counters>,
    /// For the session's writer: its period and the phase of its ticks.
    writer: Option<(Duration, Duration)>,
}

impl Client {
    async fn run(self, mut ws: Ws, mut stop: watch::Receiver<bool>) {
        let mut tick = self.writer.map(|(period, phase)| {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            tick
        });
        let mut seen = Seen {
            known: self.state.layout_version.load(Ordering::Relaxed),
            ..Seen::default()
        };
        let mut sent = 0u64;
        loop {
            let next_tick = async {
                match &mut tick {
                    Some(t) => {
                        t.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                message = ws.next() => {
                    let now = Utc::now();
                    match message {
                        Some(Ok(Message::Text(text))) => {
                            self.receive(text.as_str(), now, &mut seen);
                        }
                        Some(Ok(Message::Close(frame))) => {
                            let code = frame.map_or(1005, |f| u16::from(f.code));
                            *lock(&self.counters.closes).entry(code).or_default() += 1;
                            break;
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => {
                            self.counters.lost.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
                _ = next_tick => {
                    if !self.counters.writing.load(Ordering::Relaxed) {
                        continue;
                    }
                    sent += 1;
                    // Panel p1 (6 wide) moves between x 0 and 1 and restacks: never a no-op.
                    let update = format!(
                        r#"{{"type":"layout.update","ref":"u{sent}","base_version":{},"changes":{{"panels":{{"p1":{{"x":{},"z":{sent}}}}}}}}}"#,
                        seen.known,
                        sent % 2
                    );
                    seen.pending.push_back((sent, Instant::now()));
                    if ws.send(Message::text(update)).await.is_err() {
                        self.counters.lost.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    self.counters.sent.fetch_add(1, Ordering::Relaxed);
                    if self.counters.measuring.load(Ordering::Relaxed) {
                        self.counters.updates_sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                _ = stop.changed() => {
                    let _ = ws.close(None).await;
                    // The server's close frame, briefly.
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                    break;
                }
            }
        }
        self.state.alive.store(false, Ordering::Relaxed);
    }

    fn receive(&self, text: &str, now: DateTime<Utc>, seen: &mut Seen) {
        let counters = &self.counters;
        let Ok(message) = serde_json::from_str::<Incoming>(text) else {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match &*message.kind {
            "event" => {
                if counters.measuring.load(Ordering::Relaxed) {
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                }
                let (Some(version), Some(at)) = (message.version, message.position) else {
                    counters.malformed.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                // Per stream (one per session here) the versions are contiguous.
                if seen.stream_version > 0 && version != seen.stream_version + 1 {
                    counters.gaps.fetch_add(
                        version.saturating_sub(seen.stream_version + 1).max(1),
                        Ordering::Relaxed,
                    );
                }
                if at <= seen.position {
                    counters.gaps.fetch_add(1, Ordering::Relaxed);
                }
                seen.stream_version = version;
                seen.position = at;
                if message.event_type.as_deref() != Some("LayoutUpdated") {
                    return;
                }
                if let Some(v) = message.data.and_then(|d| d.version) {
                    self.state.layout_version.fetch_max(v, Ordering::Relaxed);
                    seen.known = seen.known.max(v);
                }
                if counters.measuring.load(Ordering::Relaxed) {
                    let recorded = message
                        .time
                        .as_deref()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
                    match recorded {
                        Some(t) => {
                            let us = (now - t.with_timezone(&Utc))
                                .num_microseconds()
                                .unwrap_or(0)
                                .max(0);
                            counters.latency.record(us as u64);
                        }
                        None => {
                            counters.malformed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            "ack" => {
                counters.answered.fetch_add(1, Ordering::Relaxed);
                if let Some(sent) = seen.answered(message.reference.as_deref())
                    && counters.measuring.load(Ordering::Relaxed)
                {
                    counters
                        .ack_latency
                        .record(sent.elapsed().as_micros() as u64);
                }
                if let Some(v) = message.layout_version {
                    seen.known = seen.known.max(v);
                    self.session.acked_version.fetch_max(v, Ordering::Relaxed);
                }
            }
            "error" => {
                // Refusals of this client's updates carry their ref.
                counters.answered.fetch_add(1, Ordering::Relaxed);
                seen.answered(message.reference.as_deref());
                let code = message.code.as_deref().unwrap_or("?").to_owned();
                *lock(&counters.errors).entry(code).or_default() += 1;
            }
            _ => {}
        }
    }
}
