//! `livesurgery bench --suite sfu`: the SFU's forwarding cost. The server runs as a child process
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

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::crypto::CryptoProvider;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, KeyframeRequestKind, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::bench_api::{ADMIN_PASSWORD, ADMIN_USERNAME, create_session, register_admin, sign_in};
use super::bench_server::ChildServer;

/// Options of the SFU suite (`--suite sfu`).
#[derive(Debug, Args)]
pub struct SfuArgs {
    /// SFU suite: subscribers at each step, in order (comma-separated); the ramp stops at the
    /// first step not held.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10,50,100,200,300,400,500,600,800"
    )]
    pub sfu_steps: Vec<usize>,
    /// SFU suite: seconds measured per step, for the SFU and again for the relay.
    #[arg(long, default_value_t = 10.0)]
    pub sfu_seconds: f64,
    /// SFU suite: the publisher's video bitrate, in bits/s.
    #[arg(long, default_value_t = 1_500_000)]
    pub sfu_bitrate: u64,
    /// SFU suite: the publisher's frames per second.
    #[arg(long, default_value_t = 30)]
    pub sfu_fps: u32,
    /// SFU suite: a step is held below this frame loss (%)...
    #[arg(long, default_value_t = 0.5)]
    pub sfu_max_loss: f64,
    /// SFU suite: ...and below this latency p99 (ms).
    #[arg(long, default_value_t = 100.0)]
    pub sfu_max_p99_ms: f64,
    /// SFU suite: measure the relay baseline alone (no server, no WebRTC).
    #[arg(long)]
    pub sfu_relay_only: bool,
}

const WARM_UP: Duration = Duration::from_secs(2);
/// Frames arriving this long after the window closed count as lost.
const DRAIN: Duration = Duration::from_secs(1);
/// New subscribers must all have a frame within this before a step is measured.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// Subscribers set up at once (each: `participants:join`, then WHEP).
const SETUP_CONCURRENCY: usize = 8;
/// The goal: this many subscribers at under `--sfu-max-loss` loss, forwarding within
/// this factor of the relay's CPU.
const GOAL_SUBSCRIBERS: usize = 200;
const GOAL_CPU_RATIO: f64 = 3.0;
/// Other processes using this much of a core (%) disturb a window.
const BUSY_MACHINE_PCT: f64 = 25.0;
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
    if let Some(limit) = open_files_soft_limit() {
        anyhow::ensure!(
            limit >= 2 * largest + 256,
            "the open-files limit ({limit}) is too low for {largest} subscribers; raise it \
             (`ulimit -n {}`)",
            2 * largest + 256
        );
    }
    let relay = Relay::start()?;
    if args.sfu_relay_only {
        let result = measure_relay_only(&relay, args).await;
        relay.stop();
        return result;
    }
    register_admin(database_url).await?;
    let mut server = SfuServer::start(database_url).await?;
    let result = measure(&mut server, &relay, args).await;
    relay.stop();
    let stopped = server.stop().await;
    match (&result, stopped) {
        (_, Ok(took)) => println!("  server stopped (SIGTERM) in {:.2} s", took.as_secs_f64()),
        (Err(_), Err(e)) => eprintln!("  stopping the server: {e:#}"),
        (Ok(_), Err(e)) => return Err(e),
    }
    if result.is_err() {
        eprintln!("  the server's log ends with:\n{}", server.log_tail(30));
    }
    result
}

/// The frame size and rate all paths send.
#[derive(Debug, Clone, Copy)]
struct Shape {
    period: Duration,
    frame_bytes: usize,
}

impl Shape {
    fn of(args: &SfuArgs) -> Shape {
        Shape {
            period: Duration::from_secs_f64(1.0 / f64::from(args.sfu_fps)),
            frame_bytes: (args.sfu_bitrate / 8 / u64::from(args.sfu_fps)).max(64) as usize,
        }
    }
}

async fn measure(server: &mut SfuServer, relay: &Relay, args: &SfuArgs) -> anyhow::Result<()> {
    let shape = Shape::of(args);
    let window = Duration::from_secs_f64(args.sfu_seconds);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(SETUP_CONCURRENCY)
        .build()?;
    let stage = Stage::prepare(&http, &server.base).await?;
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = Vec::new();

    // The publisher: a surgeon's participant, over WHIP.
    let source = Arc::new(Source::default());
    let access = stage
        .join(&http, &stage.surgeon_token, "bench-publisher")
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
    let answer = post_offer(&http, &whip_url, &access.token, &offer).await?;
    peer.accept(pending, answer)?;
    let publisher = Publisher::new(source.clone(), Some(mid), shape);
    tasks.push(tokio::spawn(peer.drive(publisher, stop.clone())));
    wait_for(Duration::from_secs(15), || {
        source.connected.load(Ordering::Relaxed)
    })
    .await
    .context("the publisher did not connect (ICE + DTLS) within 15 s")?;
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
            quantile(&join_ms, 0.5),
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
    Ok(())
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

/// The publisher's peer (a sendonly offer, as over WHIP) straight to a subscriber's peer that
/// answers it: no SFU between.
struct DirectCall {
    source: Arc<Source>,
    meter: Arc<Meter>,
    stop: watch::Sender<bool>,
    sending: tokio::task::JoinHandle<Result<(), String>>,
    receiving: tokio::task::JoinHandle<Result<(), String>>,
}

impl DirectCall {
    async fn start(shape: Shape) -> anyhow::Result<DirectCall> {
        let source = Arc::new(Source::default());
        let meter = Arc::new(Meter::default());
        let (stop, stopped) = watch::channel(false);
        let mut sender = Peer::bind().await?;
        let mut sdp = sender.rtc.sdp_api();
        let mid = sdp.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, pending) = sdp.apply().context("the direct offer has no changes")?;
        let mut receiver = Peer::bind().await?;
        let answer = receiver
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .context("the direct peer refused the offer")?;
        sender.accept(pending, answer)?;
        let publisher = Publisher::new(source.clone(), Some(mid), shape);
        let subscriber = Subscriber::new(meter.clone(), Instant::now());
        source.sending.store(true, Ordering::Relaxed);
        Ok(DirectCall {
            sending: tokio::spawn(sender.drive(publisher, stopped.clone())),
            receiving: tokio::spawn(receiver.drive(subscriber, stopped)),
            source,
            meter,
            stop,
        })
    }

    /// Stops both peers; how each ended.
    async fn stop(self) -> [Result<(), String>; 2] {
        let _ = self.stop.send(true);
        let mut ended = [Ok(()), Ok(())];
        for (task, end) in [self.sending, self.receiving].into_iter().zip(&mut ended) {
            *end = match tokio::time::timeout(Duration::from_secs(2), task).await {
                Ok(Ok(result)) => result,
                Ok(Err(e)) => Err(format!("the peer's task: {e}")),
                Err(_) => Err("the peer did not stop within 2 s".into()),
            };
        }
        ended
    }
}

/// Latency p50 and p99 (ms) of a [`DirectCall`] over 5 s.
async fn direct_latency(shape: Shape) -> anyhow::Result<(f64, f64)> {
    let call = DirectCall::start(shape).await?;
    let (source, meter) = (call.source.clone(), call.meter.clone());
    let ready = wait_for(READY_WITHIN, || meter.ready.load(Ordering::Relaxed) == 1).await;
    if ready.is_ok() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        meter.open(source.next_seq.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_secs(5)).await;
        meter.close(source.next_seq.load(Ordering::Relaxed).saturating_sub(1));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A peer that failed after the window does not change the latencies measured in it.
    let _ = call.stop().await;
    ready.context("the direct str0m call carried no frame")?;
    let mut latencies: Vec<f64> = lock(&meter.latencies_us)
        .iter()
        .map(|us| *us as f64 / 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    Ok((quantile(&latencies, 0.5), quantile(&latencies, 0.99)))
}

/// A WHEP offer: one recvonly video m-line.
fn subscriber_offer(rtc: &mut Rtc) -> anyhow::Result<(SdpOffer, SdpPendingOffer)> {
    let mut sdp = rtc.sdp_api();
    sdp.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    sdp.apply().context("the subscriber's offer has no changes")
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

// ---- one measured window ----

/// Where CPU time is read: the path measured (the server's threads, or the relay thread),
/// and the processes around it.
struct Probe<'a> {
    sfu: bool,
    server: Option<&'a SfuServer>,
    relay: &'a Relay,
}

/// CPU seconds so far, cumulative.
struct CpuSnapshot {
    server: f64,
    server_threads: BTreeMap<String, f64>,
    relay_thread: f64,
    own: f64,
    machine: f64,
    at: Instant,
}

impl Probe<'_> {
    fn snapshot(&self) -> anyhow::Result<CpuSnapshot> {
        let ticks = *CLOCK_TICKS;
        let (server, server_threads) = match self.server {
            Some(server) => (
                stat_cpu_seconds(&read(format!("/proc/{}/stat", server.pid))?, ticks)?,
                threads_cpu_seconds(server.pid, ticks),
            ),
            None => (0.0, BTreeMap::new()),
        };
        Ok(CpuSnapshot {
            server,
            server_threads,
            relay_thread: self.relay.cpu_seconds().unwrap_or(0.0),
            own: stat_cpu_seconds(&read("/proc/self/stat".into())?, ticks)?,
            machine: machine_busy_seconds(ticks)?,
            at: Instant::now(),
        })
    }
}

/// One path at one step.
#[derive(Debug, Clone)]
struct Figures {
    path: &'static str,
    receivers: usize,
    /// Packets/s the forwarder sent (the server's counter, or the relay's); `None` when the
    /// server exports no counter.
    forwarded: Option<f64>,
    drops: Drops,
    /// Media packets/s the source sent, times the receivers: what forwarding all would take.
    expected: f64,
    /// Datagrams/s the receivers got.
    received: f64,
    /// Complete frames/s, all receivers.
    frames: f64,
    loss_pct: f64,
    p50: f64,
    p99: f64,
    max: f64,
    cpu: f64,
    threads: Vec<(String, f64)>,
    rss_mb: Option<f64>,
    gen_cpu: f64,
    /// The machine's other processes (and, in a relay window, the idle server).
    other: f64,
    nacks: u64,
    plis: u64,
    keyframes: u64,
    /// Receivers whose peer failed, so far.
    failed: u64,
    unreadable: u64,
    failures: Vec<String>,
}

impl Figures {
    fn held(&self, args: &SfuArgs) -> bool {
        self.frames > 0.0
            && self.loss_pct < args.sfu_max_loss
            && self.p99 < args.sfu_max_p99_ms
            && self.failed == 0
    }

    fn failures_note(&self) -> String {
        let mut parts = Vec::new();
        if self.failed > 0 {
            parts.push(format!("{} receiver(s) failed", self.failed));
        }
        let d = self.drops;
        if d.server_send > 0 {
            parts.push(format!(
                "the server did not send {} datagram(s)",
                d.server_send
            ));
        }
        if d.server_lost > 0 || d.publisher_nacks > 0 {
            parts.push(format!(
                "the server lost {} of the publisher's packets (publisher got {} NACKs)",
                d.server_lost, d.publisher_nacks
            ));
        }
        if d.kernel > 0 {
            parts.push(format!(
                "the kernel dropped {} datagram(s) for full socket buffers ({} at the server's \
                 socket, {} at this process's)",
                d.kernel, d.server_sockets, d.own_sockets
            ));
        }
        if self.unreadable > 0 {
            parts.push(format!(
                "{} frame(s) without the bench's stamp",
                self.unreadable
            ));
        }
        if let Some(first) = self.failures.first() {
            parts.push(format!("first failure: {first}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("; {}", parts.join("; "))
        }
    }
}

/// Measures the receivers of `meter` for `window` while `source` sends: frames are counted by
/// number (those written during the window, wherever they arrive up to `DRAIN` later), so the
/// window's edges lose nothing.
async fn window_figures(
    path: &'static str,
    receivers: usize,
    meter: &Meter,
    source: &Source,
    probe: &Probe<'_>,
    window: Duration,
) -> anyhow::Result<Figures> {
    let counters_before = Counters::read(probe, source).await;
    let sent_before = source.media_packets.load(Ordering::Relaxed);
    let keyframes_before = source.keyframes.load(Ordering::Relaxed);
    meter.open(source.next_seq.load(Ordering::Relaxed));
    let cpu_before = probe.snapshot()?;
    tokio::time::sleep(window).await;
    let cpu_after = probe.snapshot()?;
    let last = source.next_seq.load(Ordering::Relaxed).saturating_sub(1);
    meter.close(last);
    let counters_after = Counters::read(probe, source).await;
    let elapsed = (cpu_after.at - cpu_before.at).as_secs_f64();
    let sent = (source.media_packets.load(Ordering::Relaxed) - sent_before) as f64 / elapsed;
    let keyframes = source.keyframes.load(Ordering::Relaxed) - keyframes_before;
    let rss_mb = match probe.server {
        Some(server) if probe.sfu => Some(server.rss_mb()?),
        _ => None,
    };
    tokio::time::sleep(DRAIN).await;

    let first = meter.first.load(Ordering::Relaxed);
    let frames_written = (last + 1).saturating_sub(first);
    let expected_frames = frames_written * receivers as u64;
    let frames = meter.frames.load(Ordering::Relaxed);
    let mut latencies = std::mem::take(&mut *lock(&meter.latencies_us));
    latencies.sort_unstable();
    let latencies_ms: Vec<f64> = latencies.iter().map(|us| *us as f64 / 1000.0).collect();
    let pct = 100.0 / elapsed;
    let server_cpu = (cpu_after.server - cpu_before.server) * pct;
    let relay_cpu = (cpu_after.relay_thread - cpu_before.relay_thread) * pct;
    let own_cpu = (cpu_after.own - cpu_before.own) * pct;
    let mut threads: Vec<(String, f64)> = cpu_after
        .server_threads
        .iter()
        .map(|(name, s)| {
            let before = cpu_before.server_threads.get(name).copied().unwrap_or(0.0);
            (name.clone(), (s - before).max(0.0) * pct)
        })
        .filter(|(_, p)| *p >= 0.5)
        .collect();
    threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(Figures {
        path,
        receivers,
        forwarded: counters_before
            .forwarded
            .zip(counters_after.forwarded)
            .map(|(b, a)| (a - b).max(0.0) / elapsed),
        drops: counters_before.since(&counters_after),
        expected: sent * receivers as f64,
        received: meter.datagrams.load(Ordering::Relaxed) as f64 / elapsed,
        frames: frames as f64 / elapsed,
        loss_pct: if expected_frames == 0 {
            100.0
        } else {
            (1.0 - frames as f64 / expected_frames as f64).max(0.0) * 100.0
        },
        p50: quantile(&latencies_ms, 0.50),
        p99: quantile(&latencies_ms, 0.99),
        max: latencies_ms.last().copied().unwrap_or(0.0),
        cpu: if probe.sfu { server_cpu } else { relay_cpu },
        threads: if probe.sfu { threads } else { Vec::new() },
        rss_mb,
        gen_cpu: (own_cpu - relay_cpu).max(0.0),
        other: ((cpu_after.machine - cpu_before.machine) * pct - server_cpu - own_cpu).max(0.0),
        nacks: meter.nacks.load(Ordering::Relaxed),
        plis: meter.plis.load(Ordering::Relaxed),
        keyframes,
        failed: meter.failed.load(Ordering::Relaxed),
        unreadable: meter.unreadable.load(Ordering::Relaxed),
        failures: lock(&meter.failures).clone(),
    })
}

/// Counters read before and after a window.
struct Counters {
    /// Packets forwarded so far: the server's counter (`GET /metrics`), or the relay's.
    forwarded: Option<f64>,
    /// Datagrams the server did not send (its counter).
    server_drops: Option<f64>,
    /// Packets from the publisher the server counts as lost (its receive statistics).
    server_lost: Option<f64>,
    /// Datagrams the kernel dropped for a full socket buffer: machine-wide, at the server's
    /// sockets, at this process's.
    udp_drops: u64,
    server_socket_drops: u64,
    own_socket_drops: u64,
    /// NACKs the publisher received so far.
    publisher_nacks: u64,
}

impl Counters {
    async fn read(probe: &Probe<'_>, source: &Source) -> Counters {
        let mut counters = Counters {
            forwarded: None,
            server_drops: None,
            server_lost: None,
            udp_drops: kernel_udp_drops(),
            server_socket_drops: probe.server.map_or(0, |s| socket_drops(&s.pid.to_string())),
            own_socket_drops: socket_drops("self"),
            publisher_nacks: source.nacks_received.load(Ordering::Relaxed),
        };
        match probe.server {
            Some(server) if probe.sfu => {
                let metrics = server.metrics().await;
                let sum = |name: &str| metrics.as_deref().and_then(|m| metric_sum(m, name));
                counters.forwarded = sum("livesurgery_sfu_packets_forwarded_total");
                counters.server_drops = sum("livesurgery_sfu_forward_drops_total");
                counters.server_lost = sum("livesurgery_sfu_packets_lost_total");
            }
            _ => {
                counters.forwarded = Some(probe.relay.forwarded.load(Ordering::Relaxed) as f64);
            }
        }
        counters
    }

    /// What went missing between `self` (before) and `after`.
    fn since(&self, after: &Counters) -> Drops {
        let delta =
            |b: Option<f64>, a: Option<f64>| b.zip(a).map_or(0, |(b, a)| (a - b).max(0.0) as u64);
        Drops {
            server_send: delta(self.server_drops, after.server_drops),
            server_lost: delta(self.server_lost, after.server_lost),
            kernel: after.udp_drops.saturating_sub(self.udp_drops),
            server_sockets: after
                .server_socket_drops
                .saturating_sub(self.server_socket_drops),
            own_sockets: after.own_socket_drops.saturating_sub(self.own_socket_drops),
            publisher_nacks: after.publisher_nacks.saturating_sub(self.publisher_nacks),
        }
    }
}

/// Where packets went missing during a window (all 0 when nothing did).
#[derive(Debug, Clone, Copy, Default)]
struct Drops {
    /// Datagrams the server did not send (its `forward_drops` counter).
    server_send: u64,
    /// Publisher packets the server counts as lost on the way in.
    server_lost: u64,
    /// Datagrams the kernel dropped for full socket buffers: machine-wide, at the server's
    /// sockets, at this process's sockets (subscribers, relay receivers, the relay).
    kernel: u64,
    server_sockets: u64,
    own_sockets: u64,
    /// NACKs the publisher received (the server asking again for what it lost).
    publisher_nacks: u64,
}

/// The sum of a metric's series in a Prometheus text exposition; `None` when absent.
fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// RcvbufErrors + SndbufErrors of /proc/net/snmp (0 when unreadable).
fn kernel_udp_drops() -> u64 {
    let Ok(snmp) = std::fs::read_to_string("/proc/net/snmp") else {
        return 0;
    };
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .filter(|(name, _)| matches!(*name, "RcvbufErrors" | "SndbufErrors"))
        .filter_map(|(_, value)| value.parse::<u64>().ok())
        .sum()
}

/// Datagrams the kernel dropped at the UDP sockets of process `pid` (a number or `self`): the
/// `drops` column of /proc/net/udp for the sockets among its open files.
fn socket_drops(pid: &str) -> u64 {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    let inodes: std::collections::HashSet<String> = fds
        .flatten()
        .filter_map(|fd| {
            let link = std::fs::read_link(fd.path()).ok()?;
            let inode = link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_owned())
        })
        .collect();
    let Ok(table) = std::fs::read_to_string("/proc/net/udp") else {
        return 0;
    };
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if !inodes.contains(*fields.get(9)?) {
                return None;
            }
            fields.get(12)?.parse::<u64>().ok()
        })
        .sum()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn print_header() {
    println!(
        "  {:<6} {:>5} {:>20} {:>9} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>5} {:>4}",
        "path",
        "subs",
        "fwd pkt/s (expect)",
        "rcv pkt/s",
        "frames/s",
        "loss %",
        "p50 ms",
        "p99 ms",
        "max ms",
        "CPU",
        "RSS MB",
        "gen",
        "other",
        "NACKs",
        "PLIs",
        "KFs"
    );
}

fn print_row(f: &Figures) {
    let forwarded = f
        .forwarded
        .map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
    let rss = f
        .rss_mb
        .map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
    println!(
        "  {:<6} {:>5} {:>9} ({:>8.0}) {:>9.0} {:>8.0} {:>6.2}% {:>7.2} {:>7.2} {:>7.1} {:>6.1}% {:>7} {:>5.0}% {:>5.0}% {:>6} {:>5} {:>4}",
        f.path,
        f.receivers,
        forwarded,
        f.expected,
        f.received,
        f.frames,
        f.loss_pct,
        f.p50,
        f.p99,
        f.max,
        f.cpu,
        rss,
        f.gen_cpu,
        f.other,
        f.nacks,
        f.plis,
        f.keyframes
    );
}

fn print_comparison(sfu: &Figures, relay: &Figures) {
    let threads: Vec<String> = sfu
        .threads
        .iter()
        .take(4)
        .map(|(name, pct)| format!("{name} {pct:.0}%"))
        .collect();
    println!(
        "  {:<6} {:>5} SFU/relay CPU {}; added latency p50 {:+.2} ms, p99 {:+.2} ms; SFU \
         threads: {}{}{}",
        "",
        sfu.receivers,
        ratio_text(sfu.cpu, relay.cpu),
        sfu.p50 - relay.p50,
        sfu.p99 - relay.p99,
        if threads.is_empty() {
            "-".to_owned()
        } else {
            threads.join(", ")
        },
        sfu.failures_note(),
        match relay.failures_note() {
            note if note.is_empty() => note,
            note => format!("; relay: {}", note.trim_start_matches("; ")),
        }
    );
}

fn ratio_text(sfu: f64, relay: f64) -> String {
    if relay > 0.0 {
        format!("{:.1}x ({sfu:.1}% / {relay:.1}%)", sfu / relay)
    } else {
        format!("- ({sfu:.1}% / {relay:.1}%)")
    }
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
                "{}: loss {:.2}% ({}), forwarding CPU {} of the relay's ({})",
                if loss_met && cost_met {
                    "met"
                } else {
                    "MISSED"
                },
                sfu.loss_pct,
                if loss_met { "ok" } else { "too high" },
                ratio_text(sfu.cpu, relay.cpu),
                if cost_met { "ok" } else { "too high" }
            )
        }
    };
    println!(
        "  goal ({GOAL_SUBSCRIBERS} subscribers of one {:.1} Mbit/s stream, loss < {}%, CPU <= \
         {GOAL_CPU_RATIO}x the relay): {verdict}",
        args.sfu_bitrate as f64 / 1e6,
        args.sfu_max_loss
    );
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

// ---- what receivers report into ----

/// The receivers of one path: frames counted by number between `first` and `last`.
struct Meter {
    /// The first frame number counted.
    first: AtomicU64,
    /// The last frame number counted: `u64::MAX` while the window is open.
    last: AtomicU64,
    /// Datagrams are counted while set.
    measuring: AtomicBool,
    frames: AtomicU64,
    datagrams: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    nacks: AtomicU64,
    plis: AtomicU64,
    /// Receivers that got a frame, ever.
    ready: AtomicU64,
    /// WHEP request to first frame, of the receivers added since the last clear.
    first_frames_ms: Mutex<Vec<f64>>,
    failed: AtomicU64,
    unreadable: AtomicU64,
    /// The first few failures' reasons.
    failures: Mutex<Vec<String>>,
}

impl Default for Meter {
    fn default() -> Self {
        Meter {
            first: AtomicU64::new(u64::MAX),
            last: AtomicU64::new(0),
            measuring: AtomicBool::new(false),
            frames: AtomicU64::new(0),
            datagrams: AtomicU64::new(0),
            latencies_us: Mutex::default(),
            nacks: AtomicU64::new(0),
            plis: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            first_frames_ms: Mutex::default(),
            failed: AtomicU64::new(0),
            unreadable: AtomicU64::new(0),
            failures: Mutex::default(),
        }
    }
}

impl Meter {
    /// Starts a window at frame number `first`.
    fn open(&self, first: u64) {
        for counter in [
            &self.frames,
            &self.datagrams,
            &self.nacks,
            &self.plis,
            &self.unreadable,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        lock(&self.latencies_us).clear();
        self.last.store(u64::MAX, Ordering::Relaxed);
        self.first.store(first, Ordering::Relaxed);
        self.measuring.store(true, Ordering::Relaxed);
    }

    /// Ends the window: frames after `last` no longer count.
    fn close(&self, last: u64) {
        self.measuring.store(false, Ordering::Relaxed);
        self.last.store(last, Ordering::Relaxed);
    }

    fn measuring(&self) -> bool {
        self.measuring.load(Ordering::Relaxed)
    }

    /// A complete frame, written at `sent_us` (µs since the Unix epoch).
    fn frame(&self, seq: u64, sent_us: u64) {
        let counted =
            seq >= self.first.load(Ordering::Relaxed) && seq <= self.last.load(Ordering::Relaxed);
        if counted {
            self.frames.fetch_add(1, Ordering::Relaxed);
            lock(&self.latencies_us).push(wall_us().saturating_sub(sent_us));
        }
    }

    fn fail(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut failures = lock(&self.failures);
        if failures.len() < 3 {
            failures.push(why);
        }
    }
}

/// A sender's frame numbers and counters.
#[derive(Default)]
struct Source {
    /// The number the next frame gets.
    next_seq: AtomicU64,
    /// Frames are written while set.
    sending: AtomicBool,
    /// ICE and DTLS are up (a WebRTC sender).
    connected: AtomicBool,
    frames: AtomicU64,
    keyframes: AtomicU64,
    keyframe_requests: AtomicU64,
    /// RTP packets and their bytes on the wire (retransmissions included).
    media_packets: AtomicU64,
    media_bytes: AtomicU64,
    /// NACKs received (the SFU asking for packets it lost).
    nacks_received: AtomicU64,
    /// Why the sender's peer failed, if it did.
    failure: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Microseconds since the Unix epoch: the clock every sender stamps and every receiver reads.
fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

// ---- synthetic VP8 frames ----

/// After the VP8 header: this, the frame number and its write time (big-endian u64s).
const FRAME_MAGIC: &[u8; 4] = b"LSbf";
const STAMP_LEN: usize = 4 + 8 + 8;
/// A keyframe's header: the 3-byte frame tag, the start code and the dimensions.
const KEYFRAME_HEADER: usize = 10;
const INTERFRAME_HEADER: usize = 3;

/// A VP8 frame of `size` bytes (at least the header and the stamp): a valid frame tag (with
/// the keyframe bit as asked, shown, one partition) and, for a keyframe, the start code and
/// 1280x720; then the stamp, then filler. Not decodable: subscribers never decode.
fn vp8_frame(seq: u64, keyframe: bool, size: usize, sent_us: u64) -> Vec<u8> {
    let header = if keyframe {
        KEYFRAME_HEADER
    } else {
        INTERFRAME_HEADER
    };
    let size = size.max(header + STAMP_LEN);
    let mut frame = Vec::with_capacity(size);
    // Frame tag, little-endian: bit 0 = 0 for a keyframe, version 0, show_frame, then the
    // first partition's size (19 bits): the rest of the frame.
    let first_partition = ((size - header) as u32).min((1 << 19) - 1);
    let tag = u32::from(!keyframe) | (1 << 4) | (first_partition << 5);
    frame.extend_from_slice(&tag.to_le_bytes()[..3]);
    if keyframe {
        frame.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        frame.extend_from_slice(&1280u16.to_le_bytes());
        frame.extend_from_slice(&720u16.to_le_bytes());
    }
    frame.extend_from_slice(FRAME_MAGIC);
    frame.extend_from_slice(&seq.to_be_bytes());
    frame.extend_from_slice(&sent_us.to_be_bytes());
    // Filler that varies (a constant run would flatter nothing here, but looks like no video).
    let mut x = seq as u32 | 1;
    while frame.len() < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        frame.push(x as u8);
    }
    frame
}

/// The frame number and write time of a frame made by [`vp8_frame`]; `None` for anything else.
fn read_frame_stamp(frame: &[u8]) -> Option<(u64, u64)> {
    let keyframe = frame.first()? & 1 == 0;
    let at = if keyframe {
        KEYFRAME_HEADER
    } else {
        INTERFRAME_HEADER
    };
    read_stamp(frame.get(at..at + STAMP_LEN)?, FRAME_MAGIC)
}

fn read_stamp(stamp: &[u8], magic: &[u8; 4]) -> Option<(u64, u64)> {
    if stamp.get(..4)? != magic {
        return None;
    }
    let seq = u64::from_be_bytes(stamp.get(4..12)?.try_into().ok()?);
    let sent = u64::from_be_bytes(stamp.get(12..20)?.try_into().ok()?);
    Some((seq, sent))
}

/// RFC 5761: a datagram of the RTP family (first two bits 2) whose second byte is not an RTCP
/// packet type.
fn is_rtp(datagram: &[u8]) -> bool {
    matches!(datagram, [first, second, ..] if first >> 6 == 2 && !(192..=223).contains(second))
}

// ---- str0m peers ----

static CRYPTO: LazyLock<Arc<CryptoProvider>> =
    LazyLock::new(|| Arc::new(str0m::crypto::from_feature_flags()));

/// A str0m peer on a UDP socket of its own (the SFU tells subscribers apart by address).
struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
}

/// What a peer does with its events, and what it sends of its own accord.
trait Role: Send + 'static {
    fn event(&mut self, rtc: &mut Rtc, event: Event);
    /// A datagram arrived.
    fn received(&mut self, _datagram: &[u8]) {}
    /// A datagram was sent.
    fn sent(&mut self, _datagram: &[u8]) {}
    /// When the next frame is due, for a sender.
    fn next_frame(&self) -> Option<Instant> {
        None
    }
    /// Writes the frame that is due.
    fn write_frame(&mut self, _rtc: &mut Rtc) {}
    /// The peer failed (not stopped): why.
    fn failed(&mut self, _why: &str) {}
}

impl Peer {
    /// A fresh `Rtc` (VP8 only, stats every second) with a loopback socket as its host
    /// candidate.
    async fn bind() -> anyhow::Result<Peer> {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .context("binding a UDP socket")?;
        let local = socket.local_addr()?;
        let mut rtc = Rtc::builder()
            .set_crypto_provider(CRYPTO.clone())
            .clear_codecs()
            .enable_vp8(true)
            .set_stats_interval(Some(Duration::from_secs(1)))
            .build(Instant::now());
        let candidate = Candidate::host(local, "udp").context("a host candidate")?;
        rtc.add_local_candidate(candidate)
            .context("the host candidate was refused")?;
        Ok(Peer { rtc, socket, local })
    }

    fn accept(&mut self, pending: SdpPendingOffer, answer: SdpAnswer) -> anyhow::Result<()> {
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .context("accepting the SDP answer")
    }

    /// The run loop (str0m's shape: one mutation, then drain to the next timeout) until `stop`
    /// or the peer fails; the failure.
    async fn drive<R: Role>(
        mut self,
        mut role: R,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), String> {
        let result = self.run(&mut role, &mut stop).await;
        if let Err(why) = &result {
            role.failed(why);
        }
        result
    }

    async fn run<R: Role>(
        &mut self,
        role: &mut R,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), String> {
        let mut buf = vec![0u8; 2048];
        loop {
            let deadline = self.drain(role).await?;
            let frame_due = role.next_frame();
            tokio::select! {
                biased;
                _ = stop.changed() => return Ok(()),
                _ = sleep_until_some(frame_due) => role.write_frame(&mut self.rtc),
                received = self.socket.recv_from(&mut buf) => {
                    let (n, source) = match received {
                        Ok(r) => r,
                        // ICMP errors on a UDP socket are transient.
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                        Err(e) => return Err(format!("receiving: {e}")),
                    };
                    let datagram = &buf[..n];
                    role.received(datagram);
                    // Not STUN, DTLS, RTP or RTCP: not for the peer.
                    let Ok(contents) = datagram.try_into() else { continue };
                    let input = Input::Receive(
                        Instant::now(),
                        Receive { proto: Protocol::Udp, source, destination: self.local, contents },
                    );
                    self.rtc.handle_input(input).map_err(|e| format!("input: {e}"))?;
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.rtc
                        .handle_input(Input::Timeout(Instant::now()))
                        .map_err(|e| format!("timeout: {e}"))?;
                }
            }
        }
    }

    /// Drains the peer's output: sends its datagrams, hands its events to `role`; the next
    /// timeout.
    async fn drain<R: Role>(&mut self, role: &mut R) -> Result<Instant, String> {
        loop {
            if !self.rtc.is_alive() {
                return Err("the peer connection closed".into());
            }
            match self.rtc.poll_output().map_err(|e| format!("output: {e}"))? {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => {
                    role.sent(&t.contents);
                    // A datagram the kernel will not take is a lost packet, as on a network.
                    let _ = self.socket.send_to(&t.contents, t.destination).await;
                }
                Output::Event(Event::IceConnectionStateChange(
                    IceConnectionState::Disconnected,
                )) => {
                    return Err("ICE disconnected".into());
                }
                Output::Event(event) => role.event(&mut self.rtc, event),
            }
        }
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Writes a frame every period on its video m-line once connected, a keyframe first and
/// whenever one is asked for.
struct Publisher {
    source: Arc<Source>,
    mid: Option<Mid>,
    pt: Option<Pt>,
    connected: bool,
    keyframe_due: bool,
    shape: Shape,
    next: Instant,
    started: Instant,
}

impl Publisher {
    /// `mid`: the sendonly m-line of its offer; `None` for a peer that answered an offer
    /// (it takes the first video m-line it may send on).
    fn new(source: Arc<Source>, mid: Option<Mid>, shape: Shape) -> Publisher {
        let now = Instant::now();
        Publisher {
            source,
            mid,
            pt: None,
            connected: false,
            keyframe_due: true,
            shape,
            next: now + shape.period,
            started: now,
        }
    }
}

impl Role for Publisher {
    fn event(&mut self, _rtc: &mut Rtc, event: Event) {
        match event {
            Event::Connected => {
                self.connected = true;
                self.source.connected.store(true, Ordering::Relaxed);
            }
            Event::MediaAdded(added)
                if self.mid.is_none()
                    && added.kind == MediaKind::Video
                    && matches!(added.direction, Direction::SendOnly | Direction::SendRecv) =>
            {
                self.mid = Some(added.mid);
            }
            Event::MediaEgressStats(stats) => {
                self.source
                    .nacks_received
                    .fetch_max(stats.nacks, Ordering::Relaxed);
            }
            Event::KeyframeRequest(_) => {
                self.keyframe_due = true;
                self.source
                    .keyframe_requests
                    .fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    fn sent(&mut self, datagram: &[u8]) {
        if is_rtp(datagram) {
            self.source.media_packets.fetch_add(1, Ordering::Relaxed);
            self.source
                .media_bytes
                .fetch_add(datagram.len() as u64, Ordering::Relaxed);
        }
    }

    fn next_frame(&self) -> Option<Instant> {
        Some(self.next)
    }

    fn write_frame(&mut self, rtc: &mut Rtc) {
        let now = Instant::now();
        // A late tick is skipped, not made up for in a burst.
        self.next += self.shape.period;
        if self.next < now {
            self.next = now + self.shape.period;
        }
        if !self.connected || !self.source.sending.load(Ordering::Relaxed) {
            return;
        }
        let Some(mid) = self.mid else { return };
        let Some(writer) = rtc.writer(mid) else {
            return;
        };
        let pt = match self.pt {
            Some(pt) => pt,
            None => {
                let Some(pt) = writer
                    .payload_params()
                    .find(|p| p.spec().codec == Codec::Vp8)
                    .map(|p| p.pt())
                else {
                    return;
                };
                self.pt = Some(pt);
                pt
            }
        };
        let seq = self.source.next_seq.fetch_add(1, Ordering::Relaxed);
        let keyframe = std::mem::take(&mut self.keyframe_due);
        let frame = vp8_frame(seq, keyframe, self.shape.frame_bytes, wall_us());
        let ticks = (now - self.started).as_micros() as u64 * 9 / 100;
        let written = writer.write(pt, now, MediaTime::new(ticks, Frequency::NINETY_KHZ), frame);
        if written.is_ok() {
            self.source.frames.fetch_add(1, Ordering::Relaxed);
            if keyframe {
                self.source.keyframes.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            // The frame number is spent: receivers count the frame as lost, as they should.
            self.keyframe_due |= keyframe;
        }
    }

    fn failed(&mut self, why: &str) {
        *lock(&self.source.failure) = Some(why.to_owned());
    }
}

/// Counts and times the frames it receives; asks for a keyframe (at most once a second) after
/// a gap, as a browser would.
struct Subscriber {
    meter: Arc<Meter>,
    requested_at: Instant,
    got_first: bool,
    last_seq: Option<u64>,
    last_pli: Option<Instant>,
    nacks_seen: u64,
}

impl Subscriber {
    fn new(meter: Arc<Meter>, requested_at: Instant) -> Subscriber {
        Subscriber {
            meter,
            requested_at,
            got_first: false,
            last_seq: None,
            last_pli: None,
            nacks_seen: 0,
        }
    }
}

impl Role for Subscriber {
    fn event(&mut self, rtc: &mut Rtc, event: Event) {
        match event {
            Event::MediaData(data) => {
                if !data.contiguous
                    && self
                        .last_pli
                        .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
                    && let Some(mut writer) = rtc.writer(data.mid)
                    && writer
                        .request_keyframe(data.rid, KeyframeRequestKind::Pli)
                        .is_ok()
                {
                    self.last_pli = Some(Instant::now());
                    self.meter.plis.fetch_add(1, Ordering::Relaxed);
                }
                let Some((seq, sent_us)) = read_frame_stamp(&data.data) else {
                    self.meter.unreadable.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                // A frame older than one already counted (it cannot be counted twice).
                if self.last_seq.is_some_and(|last| seq <= last) {
                    return;
                }
                self.last_seq = Some(seq);
                if !self.got_first {
                    self.got_first = true;
                    self.meter.ready.fetch_add(1, Ordering::Relaxed);
                    lock(&self.meter.first_frames_ms)
                        .push(self.requested_at.elapsed().as_secs_f64() * 1000.0);
                }
                self.meter.frame(seq, sent_us);
            }
            Event::MediaIngressStats(stats) => {
                let new = stats.nacks.saturating_sub(self.nacks_seen);
                self.nacks_seen = self.nacks_seen.max(stats.nacks);
                if self.meter.measuring() {
                    self.meter.nacks.fetch_add(new, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }

    fn received(&mut self, _datagram: &[u8]) {
        if self.meter.measuring() {
            self.meter.datagrams.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn failed(&mut self, why: &str) {
        self.meter.fail(why.to_owned());
    }
}

// ---- the server process and its API ----

/// `livesurgery serve` with the SFU on a loopback UDP port, started from this very executable.
struct SfuServer {
    process: ChildServer,
    http: reqwest::Client,
}

impl std::ops::Deref for SfuServer {
    type Target = ChildServer;
    fn deref(&self) -> &ChildServer {
        &self.process
    }
}

impl std::ops::DerefMut for SfuServer {
    fn deref_mut(&mut self) -> &mut ChildServer {
        &mut self.process
    }
}

impl SfuServer {
    async fn start(database_url: &str) -> anyhow::Result<SfuServer> {
        Ok(SfuServer {
            process: ChildServer::start(database_url, "livesurgery-bench-sfu").await?,
            http: reqwest::Client::new(),
        })
    }

    fn rss_mb(&self) -> anyhow::Result<f64> {
        let status = read(format!("/proc/{}/status", self.pid))?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .context("no VmRSS")?
            .parse()?;
        Ok(kb / 1024.0)
    }

    /// The text of `GET /metrics`; `None` when it cannot be had.
    async fn metrics(&self) -> Option<String> {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()
    }

    async fn stop(&mut self) -> anyhow::Result<Duration> {
        self.process.stop().await
    }
}

/// A live session with a surgeon (the publisher) and an observer (every subscriber: one user
/// may join as many participants as it likes).
struct Stage {
    base: String,
    session_id: String,
    surgeon_token: String,
    observer_token: String,
}

/// What `participants:join` hands out for the SFU.
struct SfuAccess {
    whip_url: String,
    whep_url: String,
    token: String,
}

impl Stage {
    async fn prepare(http: &reqwest::Client, base: &str) -> anyhow::Result<Stage> {
        let admin = sign_in(http, base, ADMIN_USERNAME, ADMIN_PASSWORD).await?;
        let session_id = create_session(http, base, &admin, "SFU bench session").await?;
        let mut tokens = Vec::new();
        for (name, role) in [
            ("bench-sfu-surgeon", "surgeon"),
            ("bench-sfu-observer", "observer"),
        ] {
            let user: serde_json::Value = http
                .post(format!("{base}/v1/users"))
                .bearer_auth(&admin)
                .json(&serde_json::json!({
                    "username": name, "password": ADMIN_PASSWORD, "role": role, "display_name": name
                }))
                .send()
                .await?
                .error_for_status()
                .with_context(|| format!("creating the user {name}"))?
                .json()
                .await?;
            let id = user["id"].as_str().context("no user id")?;
            http.put(format!("{base}/v1/sessions/{session_id}/members/{id}"))
                .bearer_auth(&admin)
                .json(&serde_json::json!({ "role": role }))
                .send()
                .await?
                .error_for_status()
                .context("adding a member")?;
            tokens.push(sign_in(http, base, name, ADMIN_PASSWORD).await?);
        }
        http.post(format!("{base}/v1/sessions/{session_id}:start"))
            .bearer_auth(&admin)
            .send()
            .await?
            .error_for_status()
            .context("starting the session")?;
        let observer_token = tokens.pop().context("no observer")?;
        let surgeon_token = tokens.pop().context("no surgeon")?;
        Ok(Stage {
            base: base.to_owned(),
            session_id,
            surgeon_token,
            observer_token,
        })
    }

    async fn join(
        &self,
        http: &reqwest::Client,
        token: &str,
        device: &str,
    ) -> anyhow::Result<SfuAccess> {
        let response = http
            .post(format!(
                "{}/v1/sessions/{}/participants:join",
                self.base, self.session_id
            ))
            .bearer_auth(token)
            .json(&serde_json::json!({ "device": device }))
            .send()
            .await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        anyhow::ensure!(
            status == reqwest::StatusCode::CREATED,
            "participants:join answered {status}: {body}"
        );
        let field = |name: &str| -> anyhow::Result<String> {
            Ok(body["sfu"][name]
                .as_str()
                .with_context(|| format!("no sfu.{name} in the join answer"))?
                .to_owned())
        };
        Ok(SfuAccess {
            whip_url: field("whip_url")?,
            whep_url: field("whep_url")?,
            token: field("token")?,
        })
    }
}

/// POSTs an SDP offer (WHIP or WHEP): the answer of a 201.
async fn post_offer(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    offer: &SdpOffer,
) -> anyhow::Result<SdpAnswer> {
    let response = http
        .post(url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/sdp")
        .body(offer.to_sdp_string())
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    anyhow::ensure!(
        status == reqwest::StatusCode::CREATED,
        "POST {url} answered {status}: {body}"
    );
    SdpAnswer::from_sdp_string(&body).with_context(|| format!("the SDP answer of {url}"))
}

// ---- the baseline: a plain UDP relay ----

/// A thread of this process that copies every datagram it receives to each target.
struct Relay {
    addr: SocketAddr,
    targets: Arc<Mutex<Vec<SocketAddr>>>,
    forwarded: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    /// Its thread's stat file, for its CPU time.
    stat: PathBuf,
}

impl Relay {
    fn start() -> anyhow::Result<Relay> {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").context("binding the relay")?;
        // The read timeout lets the thread notice `stop`.
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        let addr = socket.local_addr()?;
        let targets: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
        let forwarded = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (t, f, s) = (targets.clone(), forwarded.clone(), stop.clone());
        std::thread::Builder::new()
            .name("sfu-bench-relay".into())
            .spawn(move || {
                // This thread's own /proc entry (a symlink to /proc/<pid>/task/<tid>).
                let _ = tx.send(std::fs::read_link("/proc/thread-self"));
                relay_loop(&socket, &t, &f, &s);
            })
            .context("starting the relay thread")?;
        let stat = rx
            .recv()
            .context("the relay thread ended at once")?
            .context("reading /proc/thread-self")?;
        Ok(Relay {
            addr,
            targets,
            forwarded,
            stop,
            stat: PathBuf::from("/proc").join(stat).join("stat"),
        })
    }

    fn cpu_seconds(&self) -> anyhow::Result<f64> {
        stat_cpu_seconds(&read(self.stat.display().to_string())?, *CLOCK_TICKS)
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn relay_loop(
    socket: &std::net::UdpSocket,
    targets: &Mutex<Vec<SocketAddr>>,
    forwarded: &AtomicU64,
    stop: &AtomicBool,
) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            // The read timeout, or an ICMP error from a receiver gone: carry on.
            continue;
        };
        let targets = lock(targets);
        for target in targets.iter() {
            if socket.send_to(&buf[..n], target).is_ok() {
                forwarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The relay's packets: as many per frame, and as large, as the publisher's RTP packets.
#[derive(Debug, Clone, Copy)]
struct RelayShape {
    period: Duration,
    packets_per_frame: usize,
    packet_bytes: usize,
}

impl RelayShape {
    /// From what the publisher sent so far (retransmissions make it a little larger).
    fn measured(source: &Source, shape: Shape) -> RelayShape {
        let frames = source.frames.load(Ordering::Relaxed);
        let packets = source.media_packets.load(Ordering::Relaxed);
        let bytes = source.media_bytes.load(Ordering::Relaxed);
        if frames == 0 || packets == 0 {
            return RelayShape::estimated(shape);
        }
        RelayShape {
            period: shape.period,
            packets_per_frame: (packets as f64 / frames as f64).round().max(1.0) as usize,
            packet_bytes: (bytes / packets).max(RELAY_HEADER as u64) as usize,
        }
    }

    /// Without a publisher: str0m's datagram target, ~40 bytes of RTP, VP8 and SRTP overhead.
    fn estimated(shape: Shape) -> RelayShape {
        let packets = shape.frame_bytes.div_ceil(DATAGRAM_TARGET - 40).max(1);
        RelayShape {
            period: shape.period,
            packets_per_frame: packets,
            packet_bytes: (shape.frame_bytes / packets + 40).max(RELAY_HEADER),
        }
    }
}

/// A relay packet: the stamp (magic, frame number, write time), then its index and the
/// frame's packet count (big-endian u16s), then filler.
const RELAY_MAGIC: &[u8; 4] = b"LSbr";
const RELAY_HEADER: usize = STAMP_LEN + 4;

/// The relay at `receivers` sockets for one window: a sender of its own (same frame numbers
/// logic, same rate) and fresh receivers, closed afterwards.
async fn relay_step(
    relay: &Relay,
    server: Option<&SfuServer>,
    receivers: usize,
    shape: RelayShape,
    window: Duration,
) -> anyhow::Result<Figures> {
    let meter = Arc::new(Meter::default());
    let source = Arc::new(Source::default());
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut addrs = Vec::with_capacity(receivers);
    for _ in 0..receivers {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .context("binding a relay receiver")?;
        addrs.push(socket.local_addr()?);
        tasks.push(tokio::spawn(relay_receiver(
            socket,
            meter.clone(),
            stop.clone(),
        )));
    }
    *lock(&relay.targets) = addrs;
    source.sending.store(true, Ordering::Relaxed);
    tasks.push(tokio::spawn(relay_sender(
        relay.addr,
        source.clone(),
        shape,
        stop.clone(),
    )));
    let ready = wait_for(READY_WITHIN, || {
        meter.ready.load(Ordering::Relaxed) >= receivers as u64
    })
    .await;
    if ready.is_err() {
        eprintln!(
            "  relay: only {} of {receivers} receivers had a frame after {} s",
            meter.ready.load(Ordering::Relaxed),
            READY_WITHIN.as_secs()
        );
    }
    tokio::time::sleep(WARM_UP).await;
    let probe = Probe {
        sfu: false,
        server,
        relay,
    };
    let figures = window_figures("relay", receivers, &meter, &source, &probe, window).await;
    let _ = stop_tx.send(true);
    lock(&relay.targets).clear();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    figures
}

async fn relay_sender(
    relay: SocketAddr,
    source: Arc<Source>,
    shape: RelayShape,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0").await else {
        return;
    };
    let mut tick = tokio::time::interval(shape.period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut packet = vec![0u8; shape.packet_bytes];
    let mut x = 0x9e37_79b9u32;
    for byte in packet.iter_mut().skip(RELAY_HEADER) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *byte = x as u8;
    }
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let seq = source.next_seq.fetch_add(1, Ordering::Relaxed);
        let sent_us = wall_us();
        let count = shape.packets_per_frame as u16;
        for index in 0..count {
            packet[..4].copy_from_slice(RELAY_MAGIC);
            packet[4..12].copy_from_slice(&seq.to_be_bytes());
            packet[12..20].copy_from_slice(&sent_us.to_be_bytes());
            packet[20..22].copy_from_slice(&index.to_be_bytes());
            packet[22..24].copy_from_slice(&count.to_be_bytes());
            if socket.send_to(&packet, relay).await.is_ok() {
                source.media_packets.fetch_add(1, Ordering::Relaxed);
                source
                    .media_bytes
                    .fetch_add(packet.len() as u64, Ordering::Relaxed);
            }
        }
        source.frames.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a frame complete when all its packets arrived (they arrive in order on loopback;
/// a frame with a missing packet is lost).
async fn relay_receiver(socket: UdpSocket, meter: Arc<Meter>, mut stop: watch::Receiver<bool>) {
    let mut buf = [0u8; 2048];
    let (mut current, mut have, mut got_first) = (None::<u64>, 0u16, false);
    loop {
        let n = tokio::select! {
            biased;
            _ = stop.changed() => return,
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, _)) => n,
                Err(_) => continue,
            },
        };
        if meter.measuring() {
            meter.datagrams.fetch_add(1, Ordering::Relaxed);
        }
        let packet = &buf[..n];
        let (Some((seq, sent_us)), Some(count)) = (
            packet
                .get(..STAMP_LEN)
                .and_then(|s| read_stamp(s, RELAY_MAGIC)),
            packet.get(22..24).map(|c| u16::from_be_bytes([c[0], c[1]])),
        ) else {
            meter.unreadable.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if current != Some(seq) {
            if current.is_some_and(|c| seq < c) {
                continue;
            }
            (current, have) = (Some(seq), 0);
        }
        have += 1;
        if have == count {
            if !got_first {
                got_first = true;
                meter.ready.fetch_add(1, Ordering::Relaxed);
            }
            meter.frame(seq, sent_us);
        }
    }
}

// ---- /proc ----

static CLOCK_TICKS: LazyLock<f64> = LazyLock::new(|| {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
});

/// The soft limit on open files of this process; `None` when unlimited or unreadable.
fn open_files_soft_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn read(path: String) -> anyhow::Result<String> {
    std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))
}

/// utime + stime from the text of a /proc stat file, in seconds.
fn stat_cpu_seconds(stat: &str, ticks_per_second: f64) -> anyhow::Result<f64> {
    // The command name (field 2) may hold spaces: count from its closing parenthesis, after
    // which field 3 (state) comes; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').context("malformed /proc stat")? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) as f64 / ticks_per_second)
}

/// CPU seconds of a process's threads, summed by thread name.
fn threads_cpu_seconds(pid: u32, ticks: f64) -> BTreeMap<String, f64> {
    let mut threads = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return threads;
    };
    for task in tasks.flatten() {
        // A thread may end between the listing and the read.
        let Ok(text) = std::fs::read_to_string(task.path().join("stat")) else {
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
    threads
}

/// CPU seconds the whole machine spent busy: user, nice, system, irq and softirq (loopback
/// UDP is mostly softirq work, charged to no process), steal.
fn machine_busy_seconds(ticks: f64) -> anyhow::Result<f64> {
    let stat = read("/proc/stat".into())?;
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .context("empty /proc/stat")?
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|i| fields.get(*i))
        .sum();
    Ok(busy as f64 / ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: Shape = Shape {
        period: Duration::from_millis(33),
        frame_bytes: 6250,
    };

    #[test]
    fn a_frame_carries_its_number_and_time_after_its_vp8_header() {
        for keyframe in [true, false] {
            let frame = vp8_frame(41, keyframe, 6250, 1_700_000_000_000_000);
            assert_eq!(frame.len(), 6250);
            assert_eq!(frame[0] & 1 == 0, keyframe, "the frame tag's P bit");
            if keyframe {
                assert_eq!(&frame[3..6], &[0x9d, 0x01, 0x2a], "the keyframe start code");
            }
            assert_eq!(read_frame_stamp(&frame), Some((41, 1_700_000_000_000_000)));
        }
        assert_eq!(read_frame_stamp(&[]), None);
        assert_eq!(read_frame_stamp(&[0x10, 0, 0, b'L']), None);
        assert_eq!(read_frame_stamp(&[0xffu8; 64]), None);
    }

    #[test]
    fn a_window_counts_frames_by_number_wherever_they_arrive() {
        let meter = Meter::default();
        meter.frame(3, wall_us());
        assert_eq!(meter.frames.load(Ordering::Relaxed), 0, "no window yet");
        meter.open(10);
        meter.frame(9, wall_us());
        meter.frame(10, wall_us());
        meter.close(11);
        // After the window closed, a late frame of it still counts, a later one does not.
        meter.frame(11, wall_us());
        meter.frame(12, wall_us());
        assert_eq!(meter.frames.load(Ordering::Relaxed), 2);
        assert_eq!(lock(&meter.latencies_us).len(), 2);
    }

    /// Publisher (sendonly offer, as over WHIP) -> a str0m peer that answers and receives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_publisher_reaches_a_peer_that_answers_it() {
        let call = DirectCall::start(SHAPE).await.unwrap();
        assert_frames_flow(&call.source, &call.meter).await;
        let [sending, receiving] = call.stop().await;
        sending.unwrap();
        receiving.unwrap();
    }

    /// A subscriber (recvonly offer, as over WHEP) <- a str0m peer that answers and sends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_subscriber_receives_from_a_peer_that_answers_it() {
        let source = Arc::new(Source::default());
        let meter = Arc::new(Meter::default());
        let (stop_tx, stop) = watch::channel(false);
        let mut subscriber = Peer::bind().await.unwrap();
        let (offer, pending) = subscriber_offer(&mut subscriber.rtc).unwrap();
        let mut sender = Peer::bind().await.unwrap();
        let answer = sender.rtc.sdp_api().accept_offer(offer).unwrap();
        subscriber.accept(pending, answer).unwrap();
        let sending =
            tokio::spawn(sender.drive(Publisher::new(source.clone(), None, SHAPE), stop.clone()));
        let receiving = tokio::spawn(
            subscriber.drive(Subscriber::new(meter.clone(), Instant::now()), stop.clone()),
        );
        source.sending.store(true, Ordering::Relaxed);
        assert_frames_flow(&source, &meter).await;
        stop_tx.send(true).unwrap();
        sending.await.unwrap().unwrap();
        receiving.await.unwrap().unwrap();
    }

    /// Connects, then measures a second: every frame written arrives, the first a keyframe.
    async fn assert_frames_flow(source: &Source, meter: &Meter) {
        wait_for(Duration::from_secs(10), || {
            meter.ready.load(Ordering::Relaxed) == 1
        })
        .await
        .expect("a first frame within 10 s");
        assert!(source.keyframes.load(Ordering::Relaxed) >= 1);
        meter.open(source.next_seq.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let last = source.next_seq.load(Ordering::Relaxed) - 1;
        meter.close(last);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let expected = last + 1 - meter.first.load(Ordering::Relaxed);
        assert!(expected >= 20, "about 30 frames a second, got {expected}");
        assert_eq!(meter.frames.load(Ordering::Relaxed), expected);
        assert_eq!(meter.unreadable.load(Ordering::Relaxed), 0);
        assert_eq!(meter.failed.load(Ordering::Relaxed), 0);
        // 6,250 bytes a frame do not fit one datagram.
        let packets = source.media_packets.load(Ordering::Relaxed);
        let frames = source.frames.load(Ordering::Relaxed);
        assert!(
            packets >= frames * 5,
            "{packets} packets for {frames} frames"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_relay_copies_every_frame_to_every_receiver() {
        let relay = Relay::start().unwrap();
        let shape = RelayShape::estimated(SHAPE);
        let figures = relay_step(&relay, None, 5, shape, Duration::from_secs(1))
            .await
            .unwrap();
        relay.stop();
        assert_eq!(figures.loss_pct, 0.0, "{figures:?}");
        assert!(figures.frames >= 5.0 * 25.0, "{figures:?}");
        let per_receiver = figures.received / 5.0;
        assert!(
            per_receiver >= 25.0 * shape.packets_per_frame as f64,
            "{figures:?}"
        );
        // Every frame of the window went to every receiver, and the relay counted the copies.
        let copies = figures.forwarded.unwrap_or(0.0);
        assert!(copies >= figures.received * 0.9, "{figures:?}");
    }
}
