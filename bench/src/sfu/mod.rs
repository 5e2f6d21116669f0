//! `livesurgery-bench sfu`: the SFU's forwarding cost. The server runs as a child process
//! (`livesurgery serve` on a fresh database) so that its CPU time and memory, read from /proc, are
//! its own. One publisher (a str0m peer of this process, over WHIP) sends synthetic VP8 at about
//! 1.5 Mbit/s and 30 frames/s; 10, 50, 100, 200... subscribers (str0m peers over WHEP, one UDP
//! socket each) receive the frames without decoding. Every frame carries its number and the time
//! it was written, after its VP8 header, so each subscriber counts the frames it misses and times
//! the ones it gets (same machine, same clock).
//!
//! The baseline, measured at each step in the same run: a plain UDP relay (a thread of this
//! process) that copies packets of the same sizes, at the same rate, to the same number of
//! sockets: the cost of moving the bytes alone. The publisher pauses meanwhile, so the SFU idles.
//! Per step it prints the CPU of each (the ratio is the figure that travels), the SFU's memory,
//! packets/s forwarded, frame loss and the latency the SFU adds over the relay.
//!
//! Before the ramp, a join storm (`storm`): N subscribers whose WHEP requests go out at once,
//! timed to their answer, connection and first frame. The summary prints each of the issue's
//! goals (the audience held, the CPU at 200 subscribers against the relay's, the storm) with
//! its figure and baseline, `met` or `MISSED`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use str0m::media::{Direction, MediaKind};
use tokio::sync::watch;

use crate::report::{BUSY_MACHINE_PCT, lock, open_files_limits, quantile, ratio_text};
use crate::server::{ChildServer, ServerArgs, register_admin};
use meter::{Meter, Source};
use peers::{Peer, Publisher, Subscriber, direct_latency, subscriber_offer};
use probes::{Figures, Probe, print_comparison, print_header, print_row, window_figures};
pub use recording::{RecordingArgs, run as run_recording};
use relay::{Relay, RelayShape, relay_step};
use stage::{Stage, post_offer};

mod frames;
mod meter;
mod peers;
mod probes;
mod recording;
mod relay;
mod stage;
mod storm;

/// Options of the SFU suite.
#[derive(Debug, Args)]
pub struct SfuArgs {
    /// Subscribers at each step, in order (comma-separated); the ramp stops at the
    /// first step not held.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10,50,100,200,300,400,500,600,800,1000"
    )]
    pub sfu_steps: Vec<usize>,
    /// Seconds measured per step, for the SFU and again for the relay.
    #[arg(long, default_value_t = 10.0)]
    pub sfu_seconds: f64,
    /// The publisher's video bitrate, in bits/s.
    #[arg(long, default_value_t = 1_500_000)]
    pub sfu_bitrate: u64,
    /// The publisher's frames per second.
    #[arg(long, default_value_t = 30)]
    pub sfu_fps: u32,
    /// A step is held below this frame loss (%)...
    #[arg(long, default_value_t = 0.5)]
    pub sfu_max_loss: f64,
    /// ...and below this latency p99 (ms).
    #[arg(long, default_value_t = 100.0)]
    pub sfu_max_p99_ms: f64,
    /// Subscribers in the join storm (their WHEP requests at once) before the ramp; 0 skips it.
    #[arg(long, default_value_t = 200)]
    pub sfu_storm: usize,
    /// Measure the relay baseline alone (no server, no WebRTC).
    #[arg(long)]
    pub sfu_relay_only: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

const WARM_UP: Duration = Duration::from_secs(2);
/// Frames arriving this long after the window closed count as lost.
const DRAIN: Duration = Duration::from_secs(1);
/// New subscribers must all have a frame within this before a step is measured.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// Subscribers set up at once (each: `participants:join`, then WHEP).
const SETUP_CONCURRENCY: usize = 8;
/// The goals: at this many subscribers, forwarding within this factor of the relay's
/// CPU (at under `--sfu-max-loss` loss)...
const GOAL_SUBSCRIBERS: usize = 200;
const GOAL_CPU_RATIO: f64 = 1.5;
/// ...and an audience of this many held (loss and p99 under `--sfu-max-loss` and
/// `--sfu-max-p99-ms`).
const GOAL_AUDIENCE: usize = 1000;
/// The source label the publisher uses.
const SOURCE: &str = "endoscope";
/// str0m's datagram size target; the relay's packets when no publisher has measured them.
const DATAGRAM_TARGET: usize = 1150;

/// Runs the SFU suite against a server process on `database_url` and prints the figures.
pub async fn run(database_url: &str, args: &SfuArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.sfu_fps > 0 && args.sfu_bitrate > 0 && args.sfu_seconds > 0.0,
        "the SFU suite needs a positive bitrate, frame rate and window"
    );
    anyhow::ensure!(
        !args.sfu_steps.is_empty() && args.sfu_steps.iter().all(|n| *n > 0),
        "--sfu-steps needs at least one step, each of at least one subscriber"
    );
    // A socket per subscriber, and per relay receiver while the relay is measured.
    let largest = args.sfu_steps.iter().copied().max().unwrap_or(0);
    if let Some((limit, _)) = open_files_limits() {
        anyhow::ensure!(
            limit >= 2 * largest + 256,
            "the open-files limit ({limit}) is too low for {largest} subscribers; raise it \
             (`ulimit -n {}`)",
            2 * largest + 256
        );
    }
    if args.sfu_relay_only {
        let relay = Relay::start()?;
        let result = measure_relay_only(&relay, args).await;
        relay.stop();
        return result;
    }
    let binary = args.server.binary()?;
    let relay = Relay::start()?;
    register_admin(database_url).await?;
    let mut server = ChildServer::start(&binary, database_url, "livesurgery-bench-sfu").await?;
    let result = measure(&mut server, &relay, args).await;
    relay.stop();
    server.stop_after(result).await
}

/// The frame size and rate all paths send.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// Between two frames.
    period: Duration,
    frame_bytes: usize,
}

/// The default shape (1.5 Mbit/s at 30 frames/s), for tests.
#[cfg(test)]
const TEST_SHAPE: Shape = Shape {
    period: Duration::from_millis(33),
    frame_bytes: 6250,
};

impl Shape {
    fn of(args: &SfuArgs) -> Shape {
        Shape {
            period: Duration::from_secs_f64(1.0 / f64::from(args.sfu_fps)),
            frame_bytes: (args.sfu_bitrate / 8 / u64::from(args.sfu_fps)).max(64) as usize,
        }
    }
}

async fn measure(server: &mut ChildServer, relay: &Relay, args: &SfuArgs) -> anyhow::Result<()> {
    let shape = Shape::of(args);
    let window = Duration::from_secs_f64(args.sfu_seconds);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(SETUP_CONCURRENCY)
        .build()?;
    let stage = Stage::prepare(&http, &server.base).await?;
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = Vec::new();

    // The publisher: a surgeon's participant, over WHIP.
    let (source, publishing) = publish(&http, &stage, shape, stop.clone()).await?;
    tasks.push(publishing);
    source.sending.store(true, Ordering::Relaxed);

    println!(
        "SFU: one publisher (WHIP, synthetic VP8, {:.2} Mbit/s, {} frames/s of {} bytes), N \
         subscribers (WHEP, str0m peers of this process, one UDP socket each, receive without \
         decoding); baseline: a plain UDP relay (a thread of this process) copying packets of \
         the same size and rate to N sockets. {:.0} s measured per step and path after {} s of \
         warm-up. Server pid {}, {} cores; CPU 100% = one core; `gen` = this process (the \
         clients; minus the relay thread), `other` = the machine's other processes; loss = frames not \
         complete {} ms after the window; latency = frame written -> frame complete at a \
         subscriber.",
        args.sfu_bitrate as f64 / 1e6,
        args.sfu_fps,
        shape.frame_bytes,
        window.as_secs_f64(),
        WARM_UP.as_secs(),
        server.pid,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        DRAIN.as_millis(),
    );
    // What the bench's own str0m peers take, without the SFU: the floor of the SFU's latency.
    let (direct_p50, direct_p99) = direct_latency(shape).await?;
    println!(
        "  str0m peer to str0m peer, no SFU (one subscriber, this process): latency p50 \
         {direct_p50:.2} ms, p99 {direct_p99:.2} ms"
    );
    let storm = match args.sfu_storm {
        0 => None,
        n => {
            let storm = storm::join_storm(&http, &stage, shape, n).await?;
            println!("  {}", storm.goal_line());
            println!("    {}", storm.breakdown());
            Some(storm)
        }
    };
    print_header();

    let meter = Arc::new(Meter::default());
    let mut subscribers = 0usize;
    let mut rows: Vec<(Figures, Figures)> = Vec::new();
    let mut why_stopped = "all steps held".to_owned();
    for &n in &args.sfu_steps {
        server.check_alive()?;
        // Grow to n subscribers (kept connected from step to step, as an audience grows).
        let started = Instant::now();
        lock(&meter.first_frames_ms).clear();
        let new: Vec<usize> = (subscribers..n.max(subscribers)).collect();
        let added: Vec<_> = futures::stream::iter(new)
            .map(|i| add_subscriber(&http, &stage, i, meter.clone(), stop.clone()))
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect()
            .await
            .with_context(|| format!("setting up subscribers for the step of {n}"))?;
        tasks.extend(added);
        subscribers = n.max(subscribers);
        let setup_secs = started.elapsed().as_secs_f64();
        let ready = wait_for(READY_WITHIN, || {
            meter.ready.load(Ordering::Relaxed) >= subscribers as u64
        })
        .await;
        let mut join_ms = lock(&meter.first_frames_ms).clone();
        join_ms.sort_by(f64::total_cmp);
        eprintln!(
            "  {n} subscribers: set up in {setup_secs:.1} s, WHEP to first frame p50 {:.0} ms, \
             max {:.0} ms{}",
            quantile(&join_ms, 0.5).unwrap_or(0.0),
            join_ms.last().copied().unwrap_or(0.0),
            if ready.is_ok() {
                String::new()
            } else {
                format!(
                    "; only {} of {subscribers} had a frame after {} s",
                    meter.ready.load(Ordering::Relaxed),
                    READY_WITHIN.as_secs()
                )
            }
        );
        tokio::time::sleep(WARM_UP).await;
        let probe = Probe {
            sfu: true,
            server: Some(&*server),
            relay,
        };
        let sfu = window_figures("sfu", subscribers, &meter, &source, &probe, window).await?;
        print_row(&sfu);
        if let Some(why) = lock(&source.failure).clone() {
            anyhow::bail!("the publisher failed: {why}");
        }

        // The baseline at the same step, the SFU idle meanwhile.
        source.sending.store(false, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let relay_shape = RelayShape::measured(&source, shape);
        let base = relay_step(relay, Some(&*server), subscribers, relay_shape, window).await?;
        print_row(&base);
        source.sending.store(true, Ordering::Relaxed);
        print_comparison(&sfu, &base);
        let held = sfu.held(args);
        rows.push((sfu, base));
        if !held {
            let sfu = &rows[rows.len() - 1].0;
            why_stopped = format!(
                "{n} subscribers not held: loss {:.2}% (limit {}%), p99 {:.1} ms (limit {} ms){}",
                sfu.loss_pct,
                args.sfu_max_loss,
                sfu.p99,
                args.sfu_max_p99_ms,
                sfu.failures_note()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }

    println!();
    summarize(&rows, args, &why_stopped, &source);
    if let Some(storm) = storm {
        println!("  goal: {}", storm.goal_line());
    }
    Ok(())
}

/// Publishes `SOURCE` in the stage's session as its surgeon (WHIP) and drives the peer until
/// `stop`, writing frames of `shape` once `sending` is set; returns once it is connected.
async fn publish(
    http: &reqwest::Client,
    stage: &Stage,
    shape: Shape,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<(Arc<Source>, tokio::task::JoinHandle<Result<(), String>>)> {
    let source = Arc::new(Source::default());
    let access = stage
        .join(http, &stage.surgeon_token, "bench-publisher")
        .await?;
    let mut peer = Peer::bind().await?;
    let mut sdp = peer.rtc.sdp_api();
    let mid = sdp.add_media(
        MediaKind::Video,
        Direction::SendOnly,
        Some("bench".into()),
        Some(SOURCE.into()),
        None,
    );
    let (offer, pending) = sdp
        .apply()
        .context("the publisher's offer has no changes")?;
    let whip_url = format!("{}?source={SOURCE}", access.whip_url);
    let answer = post_offer(http, &whip_url, &access.token, &offer).await?;
    peer.accept(pending, answer)?;
    let publisher = Publisher::new(source.clone(), Some(mid), shape);
    let task = tokio::spawn(peer.drive(publisher, stop));
    wait_for(Duration::from_secs(15), || {
        source.connected.load(Ordering::Relaxed)
    })
    .await
    .context("the publisher did not connect (ICE + DTLS) within 15 s")?;
    Ok((source, task))
}

/// Joins as the observer, offers a recvonly video m-line over WHEP and drives the peer.
async fn add_subscriber(
    http: &reqwest::Client,
    stage: &Stage,
    i: usize,
    meter: Arc<Meter>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<Result<(), String>>> {
    let access = stage
        .join(
            http,
            &stage.observer_token,
            &format!("bench-subscriber-{i}"),
        )
        .await?;
    let mut peer = Peer::bind().await?;
    let (offer, pending) = subscriber_offer(&mut peer.rtc)?;
    let started = Instant::now();
    let answer = post_offer(http, &access.whep_url, &access.token, &offer).await?;
    peer.accept(pending, answer)?;
    Ok(tokio::spawn(
        peer.drive(Subscriber::new(meter, started), stop),
    ))
}

/// `--sfu-relay-only`: the baseline's figures at every step, without a server.
async fn measure_relay_only(relay: &Relay, args: &SfuArgs) -> anyhow::Result<()> {
    let shape = Shape::of(args);
    let window = Duration::from_secs_f64(args.sfu_seconds);
    let relay_shape = RelayShape::estimated(shape);
    println!(
        "UDP relay alone (a thread of this process): {} packets of {} bytes per frame, {} \
         frames/s, to N sockets; {:.0} s per step. CPU 100% = one core.",
        relay_shape.packets_per_frame,
        relay_shape.packet_bytes,
        args.sfu_fps,
        window.as_secs_f64()
    );
    print_header();
    for &n in &args.sfu_steps {
        let figures = relay_step(relay, None, n, relay_shape, window).await?;
        print_row(&figures);
    }
    Ok(())
}

fn summarize(rows: &[(Figures, Figures)], args: &SfuArgs, why_stopped: &str, source: &Source) {
    let held = rows
        .iter()
        .filter(|(sfu, _)| sfu.held(args))
        .map(|(sfu, _)| sfu.receivers)
        .max();
    println!(
        "  largest step held (loss < {}%, p99 < {} ms, no failed subscriber): {} ({why_stopped})",
        args.sfu_max_loss,
        args.sfu_max_p99_ms,
        held.map_or_else(|| "none".to_owned(), |n| format!("{n} subscribers"))
    );
    println!(
        "  publisher: {} frames, {} keyframes ({} requested by the SFU)",
        source.frames.load(Ordering::Relaxed),
        source.keyframes.load(Ordering::Relaxed),
        source.keyframe_requests.load(Ordering::Relaxed)
    );
    let disturbed: Vec<String> = rows
        .iter()
        .flat_map(|(sfu, relay)| [sfu, relay])
        .filter(|f| f.other >= BUSY_MACHINE_PCT)
        .map(|f| format!("{} at {}", f.path, f.receivers))
        .collect();
    if !disturbed.is_empty() {
        println!(
            "  other processes used >= {BUSY_MACHINE_PCT:.0}% of a core during: {} (those \
             figures are less reliable)",
            disturbed.join(", ")
        );
    }
    let verdict = match rows
        .iter()
        .find(|(sfu, _)| sfu.receivers == GOAL_SUBSCRIBERS)
    {
        None => format!("not measured ({GOAL_SUBSCRIBERS} subscribers was not reached)"),
        Some((sfu, relay)) => {
            let loss_met = sfu.loss_pct < args.sfu_max_loss && sfu.failed == 0;
            let ratio = if relay.cpu > 0.0 {
                sfu.cpu / relay.cpu
            } else {
                f64::INFINITY
            };
            let cost_met = ratio <= GOAL_CPU_RATIO;
            format!(
                "CPU at {GOAL_SUBSCRIBERS}: {} the relay's (goal <= {GOAL_CPU_RATIO}x), loss \
                 {:.2}% (goal < {}%): {}",
                ratio_text(sfu.cpu, relay.cpu),
                sfu.loss_pct,
                args.sfu_max_loss,
                if loss_met && cost_met {
                    "met"
                } else {
                    "MISSED"
                },
            )
        }
    };
    println!("  goal: {verdict}");
    let audience = match rows.iter().find(|(sfu, _)| sfu.receivers == GOAL_AUDIENCE) {
        None => format!(
            "{GOAL_AUDIENCE} subscribers: not reached (largest held: {}): MISSED",
            held.map_or_else(|| "none".to_owned(), |n| n.to_string())
        ),
        Some((sfu, relay)) => format!(
            "{GOAL_AUDIENCE} subscribers: loss {:.2}% (goal < {}%), p99 {:.1} ms (goal < {} ms), \
             {:+.1} ms over the relay's p99: {}",
            sfu.loss_pct,
            args.sfu_max_loss,
            sfu.p99,
            args.sfu_max_p99_ms,
            sfu.p99 - relay.p99,
            if sfu.held(args) { "met" } else { "MISSED" }
        ),
    };
    println!("  goal: {audience}");
}

/// Polls `ready` every 20 ms until it holds or `within` passes.
async fn wait_for(within: Duration, ready: impl Fn() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while !ready() {
        anyhow::ensure!(Instant::now() < deadline, "not ready within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
