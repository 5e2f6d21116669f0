//! `livesurgery-bench ws`: the realtime gateway under load. The server runs as a child
//! process (`livesurgery serve` on a fresh database), so that its CPU time and memory, read from
//! /proc, are its own; this process is the load generator on the same cores. Sessions of N
//! clients each: one client per session sends `layout.update` at a fixed rate, and every client
//! times each `LayoutUpdated` it receives from the event's `time` (when the server recorded it;
//! same machine, same clock) to its arrival. Baseline, measured in the same run before and after:
//! one session of the same shape alone on the server, the push latency of an idle server. Then
//! the sessions grow until p99 reaches 100 ms or a message is lost.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::report::BUSY_MACHINE_PCT;
use crate::server::{ServerArgs, register_admin};
use fleet::{Figures, Fleet, print_header};
use probes::{FD_HEADROOM, Server, open_files_limit};
use stage::{Ctx, People};

mod client;
mod fleet;
mod probes;
mod stage;
pub mod teaching;

/// Options of the WebSocket suite.
#[derive(Debug, Args)]
pub struct WsArgs {
    /// Sessions of the main measurement.
    #[arg(long, default_value_t = 50)]
    pub ws_sessions: usize,
    /// Connections per session (one of them writes the layout).
    #[arg(long, default_value_t = 20)]
    pub ws_clients: usize,
    /// Layout updates per second in each session.
    #[arg(long, default_value_t = 5.0)]
    pub ws_updates: f64,
    /// Seconds measured for the baseline and the main load (after 3 s of warm-up).
    #[arg(long, default_value_t = 20.0)]
    pub ws_seconds: f64,
    /// Seconds measured at each step of the ramp.
    #[arg(long, default_value_t = 10.0)]
    pub ws_ramp_seconds: f64,
    /// The ramp's resolution in connections: it doubles the sessions until a step is
    /// not held, then bisects down to this.
    #[arg(long, default_value_t = 250)]
    pub ws_ramp_resolution: usize,
    /// The ramp stops at this many connections (0: no ramp).
    #[arg(long, default_value_t = 10_000)]
    pub ws_ramp_max: usize,
    #[command(flatten)]
    pub server: ServerArgs,
}

const WARM_UP: Duration = Duration::from_secs(3);
/// The goals: p99 and memory at the main load, and the ramp's limit.
const GOAL_P99_MS: f64 = 50.0;
const GOAL_RSS_MB: f64 = 300.0;
const RAMP_P99_MS: f64 = 100.0;

/// Runs the WebSocket suite against a server process on `database_url` and prints the figures.
pub async fn run(database_url: &str, args: &WsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.ws_sessions >= 1 && args.ws_clients >= 2 && args.ws_updates > 0.0,
        "the WS suite needs at least 1 session, 2 clients per session and a positive update rate"
    );
    let binary = args.server.binary()?;
    let fd_limit = open_files_limit((args.ws_sessions * args.ws_clients).max(args.ws_ramp_max));
    register_admin(database_url).await?;
    let mut server = Server::start(&binary, database_url).await?;
    let result = measure(&mut server, args, fd_limit).await;
    server.stop_after(result).await
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
    let busy = |f: &Figures| f.cpu.other_processes() >= BUSY_MACHINE_PCT;
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
