//! `livesurgery-bench sfu-recording`: what recording costs forwarding. Several live sessions,
//! each with one publisher (synthetic VP8 over WHIP, as in the `sfu` suite) and a few
//! subscribers (WHEP), forward throughout; at each step the first 0, 1, 4, 8 of them are
//! recorded: the session's frames go through the SFU's recording tee to the recorder's
//! writers, which cut and write real MP4 segments into a temporary folder, where a sink
//! deletes them (storage and upload are not measured here).
//!
//! The server runs in this process (the recorder is driven through its SFU handle, as the
//! archive lifecycle will); the SFU's media thread (`sfu-media`) and the recorder's threads (a
//! runtime of their own, `bench-recorder`) are measured apart from the clients by their
//! threads' CPU time. Per step: frame loss, latency p50/p99 (frame written -> complete at a
//! subscriber), the media thread's CPU, the recorder's, segments written and frames the tee
//! dropped; then what each step adds to forwarding over the step with nothing recorded.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use livesurgery::recording::{
    SegmentFile, SegmentOptions, SegmentSink, SessionTap, record_session,
};
use livesurgery::sfu::Sfu;
use tokio::sync::watch;
use uuid::Uuid;

use super::meter::{Meter, Source};
use super::stage::Stage;
use super::{
    DRAIN, READY_WITHIN, SETUP_CONCURRENCY, Shape, WARM_UP, add_subscriber, publish, wait_for,
};
use crate::report::{CpuSnapshot, lock, quantile, threads_cpu_seconds};
use crate::server::{register_admin, start_in_process_with_sfu};

/// Options of the recording suite.
#[derive(Debug, Args)]
pub struct RecordingArgs {
    /// Sessions recorded at each step, in order (comma-separated); each step runs while the
    /// same sessions forward.
    #[arg(long, value_delimiter = ',', default_value = "0,1,4,8")]
    pub record_steps: Vec<usize>,
    /// Live sessions, one publisher each (at least the largest step).
    #[arg(long, default_value_t = 8)]
    pub record_sessions: usize,
    /// Subscribers of each publisher.
    #[arg(long, default_value_t = 4)]
    pub record_subscribers: usize,
    /// Seconds measured per step.
    #[arg(long, default_value_t = 10.0)]
    pub record_seconds: f64,
    /// Each publisher's video bitrate, in bits/s.
    #[arg(long, default_value_t = 1_000_000)]
    pub record_bitrate: u64,
    /// Each publisher's frames per second.
    #[arg(long, default_value_t = 30)]
    pub record_fps: u32,
    /// The recorder's segment length (`recording_segment_secs`).
    #[arg(long, default_value_t = 4)]
    pub record_segment_secs: u64,
    /// The recorder's queue per source (`recording_queue`).
    #[arg(long, default_value_t = 1024)]
    pub record_queue: usize,
}

/// The thread names whose CPU is the forwarding's and the recorder's.
const MEDIA_THREAD: &str = "sfu-media";
const RECORDER_THREAD: &str = "bench-recorder";

/// A sink that counts segments and deletes them, and adds up the overruns reported.
#[derive(Default)]
struct DeletingSink {
    segments: AtomicU64,
    bytes: AtomicU64,
    dropped: AtomicU64,
}

#[async_trait]
impl SegmentSink for DeletingSink {
    async fn opened(&self, _source: &str) -> anyhow::Result<Uuid> {
        Ok(Uuid::now_v7())
    }

    async fn segment(&self, _archive_id: Uuid, segment: SegmentFile) -> anyhow::Result<()> {
        let bytes = tokio::fs::metadata(&segment.path).await?.len();
        tokio::fs::remove_file(&segment.path).await?;
        self.segments.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    async fn overrun(&self, _archive_id: Uuid, _source: &str, dropped_frames: u64) {
        self.dropped.fetch_add(dropped_frames, Ordering::Relaxed);
    }

    async fn closed(&self, _archive_id: Uuid) {}
}

/// One session of the stage: its publisher's counters and its subscribers' meter.
struct Forwarded {
    session_id: Uuid,
    source: Arc<Source>,
    meter: Arc<Meter>,
}

/// One step's figures.
#[derive(Debug, Clone, Copy)]
struct Step {
    recorded: usize,
    loss_pct: f64,
    p50: f64,
    p99: f64,
    max: f64,
    media_cpu: f64,
    recorder_cpu: f64,
    process_cpu: f64,
    segments: u64,
    megabytes: f64,
    dropped: u64,
}

/// Runs the recording suite against a server in this process on `database_url`.
pub async fn run(database_url: &str, args: &RecordingArgs) -> anyhow::Result<()> {
    let largest = args.record_steps.iter().copied().max().unwrap_or(0);
    anyhow::ensure!(
        args.record_sessions >= largest.max(1) && args.record_subscribers > 0,
        "--record-sessions must cover the largest step, with at least one subscriber each"
    );
    anyhow::ensure!(
        args.record_fps > 0 && args.record_bitrate > 0 && args.record_seconds > 0.0,
        "the recording suite needs a positive bitrate, frame rate and window"
    );
    let data = tempfile::Builder::new()
        .prefix("livesurgery-bench-recording")
        .tempdir_in(".")?;
    let (base, sfu, server) = start_in_process_with_sfu(database_url, data.path()).await?;
    register_admin(database_url).await?;
    // The recorder's writers run on threads of their own, so their CPU is told apart.
    let recorder = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        // Threads that end take their CPU time with them: keep the segment writers' alive.
        .thread_keep_alive(Duration::from_secs(3_600))
        .thread_name(RECORDER_THREAD)
        .enable_all()
        .build()
        .context("the recorder's runtime")?;
    let result = measure(&base, &sfu, &recorder, data.path().join("segments"), args).await;
    recorder.shutdown_background();
    server.abort();
    result
}

async fn measure(
    base: &str,
    sfu: &Arc<Sfu>,
    recorder: &tokio::runtime::Runtime,
    dir: PathBuf,
    args: &RecordingArgs,
) -> anyhow::Result<()> {
    let shape = Shape {
        period: Duration::from_secs_f64(1.0 / f64::from(args.record_fps)),
        frame_bytes: (args.record_bitrate / 8 / u64::from(args.record_fps)).max(64) as usize,
    };
    let window = Duration::from_secs_f64(args.record_seconds);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(SETUP_CONCURRENCY)
        .build()?;
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = Vec::new();
    let first = Stage::prepare(&http, base).await?;
    let mut sessions = Vec::new();
    for n in 0..args.record_sessions {
        let stage = if n == 0 {
            None
        } else {
            Some(first.another(&http).await?)
        };
        let stage = stage.as_ref().unwrap_or(&first);
        let (source, publishing) = publish(&http, stage, shape, stop.clone()).await?;
        tasks.push(publishing);
        source.sending.store(true, Ordering::Relaxed);
        let meter = Arc::new(Meter::default());
        let added: Vec<_> = futures::stream::iter(0..args.record_subscribers)
            .map(|i| add_subscriber(&http, stage, n * 1_000 + i, meter.clone(), stop.clone()))
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect()
            .await
            .with_context(|| format!("subscribing to session {n}"))?;
        tasks.extend(added);
        sessions.push(Forwarded {
            session_id: stage.session_id().parse()?,
            source,
            meter,
        });
    }
    wait_for(READY_WITHIN, || {
        sessions
            .iter()
            .all(|s| s.meter.ready.load(Ordering::Relaxed) >= args.record_subscribers as u64)
    })
    .await
    .context("not every subscriber had a frame")?;

    println!(
        "SFU forwarding while recording: {} live sessions, each one publisher (WHIP, synthetic \
         VP8, {:.2} Mbit/s, {} frames/s of {} bytes) and {} subscribers (WHEP, str0m peers of \
         this process); the first N sessions recorded (the SFU's tee -> the recorder's writers, \
         {} s MP4 segments written to a temporary folder, then deleted). Server in this \
         process; CPU 100% = one core: `media` = the SFU's media thread, `recorder` = the \
         recorder's threads, `process` = all of this process (server and clients). {:.0} s per \
         step after {} s of warm-up; {} cores.",
        args.record_sessions,
        args.record_bitrate as f64 / 1e6,
        args.record_fps,
        shape.frame_bytes,
        args.record_subscribers,
        args.record_segment_secs,
        window.as_secs_f64(),
        WARM_UP.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "  {:>8} {:>7} {:>8} {:>8} {:>8} {:>7} {:>9} {:>8} {:>9} {:>7} {:>8}",
        "recorded",
        "loss%",
        "p50 ms",
        "p99 ms",
        "max ms",
        "media%",
        "recorder%",
        "process%",
        "segments",
        "MB",
        "dropped"
    );
    let mut steps = Vec::new();
    for &recorded in &args.record_steps {
        let sink = Arc::new(DeletingSink::default());
        let options = SegmentOptions {
            target: Duration::from_secs(args.record_segment_secs),
            dir: dir.clone(),
        };
        let mut writers = Vec::new();
        for session in &sessions[..recorded] {
            let (tap, feeds) = SessionTap::new(args.record_queue);
            sfu.record(session.session_id, Some(tap))?;
            writers.push(recorder.spawn(record_session(feeds, sink.clone(), options.clone())));
        }
        tokio::time::sleep(WARM_UP).await;
        let step = step_figures(recorded, &sessions, &sink, window).await?;
        for session in &sessions[..recorded] {
            sfu.record(session.session_id, None)?;
        }
        for writer in writers {
            let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
        }
        println!(
            "  {:>8} {:>7.2} {:>8.2} {:>8.2} {:>8.1} {:>7.1} {:>9.1} {:>8.1} {:>9} {:>7.1} {:>8}",
            step.recorded,
            step.loss_pct,
            step.p50,
            step.p99,
            step.max,
            step.media_cpu,
            step.recorder_cpu,
            step.process_cpu,
            step.segments,
            step.megabytes,
            step.dropped
        );
        steps.push(step);
    }
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    summarize(&steps);
    Ok(())
}

/// Measures every session's subscribers for `window`, and the threads' CPU meanwhile.
async fn step_figures(
    recorded: usize,
    sessions: &[Forwarded],
    sink: &DeletingSink,
    window: Duration,
) -> anyhow::Result<Step> {
    let own = std::process::id();
    let (segments_before, bytes_before) = (
        sink.segments.load(Ordering::Relaxed),
        sink.bytes.load(Ordering::Relaxed),
    );
    let mut firsts = Vec::new();
    for session in sessions {
        let first = session.source.next_seq.load(Ordering::Relaxed);
        session.meter.open(first);
        firsts.push(first);
    }
    let before = CpuSnapshot::take(Some(own), false)?;
    let threads_before = threads_cpu_seconds(own);
    tokio::time::sleep(window).await;
    let threads_after = threads_cpu_seconds(own);
    let used = CpuSnapshot::take(Some(own), false)?.since(&before);
    let mut expected = 0u64;
    for (session, first) in sessions.iter().zip(&firsts) {
        let last = session
            .source
            .next_seq
            .load(Ordering::Relaxed)
            .saturating_sub(1);
        session.meter.close(last);
        let receivers = session.meter.ready.load(Ordering::Relaxed);
        expected += (last + 1).saturating_sub(*first) * receivers;
    }
    let segments = sink.segments.load(Ordering::Relaxed) - segments_before;
    let bytes = sink.bytes.load(Ordering::Relaxed) - bytes_before;
    tokio::time::sleep(DRAIN).await;

    let mut latencies_ms: Vec<f64> = Vec::new();
    let mut frames = 0u64;
    for session in sessions {
        frames += session.meter.frames.load(Ordering::Relaxed);
        latencies_ms.extend(
            std::mem::take(&mut *lock(&session.meter.latencies_us))
                .into_iter()
                .map(|us| us as f64 / 1000.0),
        );
    }
    latencies_ms.sort_by(f64::total_cmp);
    // % of one core over the window, by thread name.
    let thread = |name: &str| {
        let seconds = |threads: &std::collections::BTreeMap<String, f64>| {
            threads.get(name).copied().unwrap_or(0.0)
        };
        (seconds(&threads_after) - seconds(&threads_before)).max(0.0) * 100.0 / used.seconds
    };
    let quantile_ms = |q: f64| quantile(&latencies_ms, q).unwrap_or(0.0);
    Ok(Step {
        recorded,
        loss_pct: if expected == 0 {
            100.0
        } else {
            (1.0 - frames as f64 / expected as f64).max(0.0) * 100.0
        },
        p50: quantile_ms(0.5),
        p99: quantile_ms(0.99),
        max: latencies_ms.last().copied().unwrap_or(0.0),
        media_cpu: thread(MEDIA_THREAD),
        recorder_cpu: thread(RECORDER_THREAD),
        process_cpu: used.server,
        segments,
        megabytes: bytes as f64 / 1e6,
        dropped: sink.dropped.load(Ordering::Relaxed),
    })
}

/// What each step adds to forwarding over the step with nothing recorded, and the goal.
fn summarize(steps: &[Step]) {
    let Some(base) = steps.iter().find(|s| s.recorded == 0) else {
        println!("  (no step without recording: nothing to compare with)");
        return;
    };
    println!();
    let mut met = true;
    for step in steps.iter().filter(|s| s.recorded > 0) {
        let added_p99 = step.p99 - base.p99;
        let added_loss = step.loss_pct - base.loss_pct;
        met &= added_p99 < 1.0 && added_loss <= 0.05 && step.dropped == 0;
        println!(
            "  {} recorded: forwarding p99 {:+.2} ms, p50 {:+.2} ms, media thread CPU {:+.1} \
             points ({:.1}% -> {:.1}%), loss {:+.2} points; recorder {:.1}% CPU, {} segments, \
             {} frames dropped by the tee",
            step.recorded,
            added_p99,
            step.p50 - base.p50,
            step.media_cpu - base.media_cpu,
            base.media_cpu,
            step.media_cpu,
            added_loss,
            step.recorder_cpu,
            step.segments,
            step.dropped
        );
    }
    println!(
        "  goal (recording adds no loss and under 1 ms to forwarding's p99): {}",
        if met { "met" } else { "MISSED" }
    );
}
