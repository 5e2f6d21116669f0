//! `livesurgery-bench teaching`: a mentor's strokes, pen up to the other screen, against the
//! WebSocket's own push latency measured on the same events. The server runs as a child process
//! (as for the `ws` suite); this process is the mentor and the watcher, on loopback.
//!
//! The mentor (the session's host) sends `annotation.stroke` at a fixed rate, each with
//! `--teaching-points` raw points of a wavy line (so the server simplifies it) and keeps when it
//! sent it: that is pen up, the moment a client sends a finished gesture. The watcher (a session
//! surgeon) times each `AnnotationStroke` it receives twice: from pen up (this process's
//! monotonic clock), and from the event's `time`, when the server recorded it (the same
//! machine's clock): the latter is the push latency the `ws` suite measures, the floor under the
//! former. The difference is the write: parsing, simplification, `decide`, the append.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::probes::Server;
use super::stage::{Ctx, People, Ws, connect, open_session};
use crate::report::{lock, quantile};
use crate::server::{ServerArgs, register_admin};

/// Options of the teaching suite.
#[derive(Debug, Args)]
pub struct TeachingArgs {
    /// Strokes per second the mentor draws (the server allows 10).
    #[arg(long, default_value_t = 5.0)]
    pub teaching_rate: f64,
    /// Seconds measured (after 2 s of warm-up).
    #[arg(long, default_value_t = 20.0)]
    pub teaching_seconds: f64,
    /// Raw points per stroke, before the server's simplification (at most 2048).
    #[arg(long, default_value_t = 400)]
    pub teaching_points: usize,
    #[command(flatten)]
    pub server: ServerArgs,
}

const WARM_UP: Duration = Duration::from_secs(2);
/// The goal: pen up to the other screen, p95 on loopback.
const GOAL_P95_MS: f64 = 150.0;

/// What the watcher measured of one stroke.
struct Arrival {
    /// Pen up (sent) to arrival, ms.
    pen_up_ms: f64,
    /// Recorded by the server to arrival, ms.
    push_ms: f64,
}

/// Shared between the mentor and the watcher.
#[derive(Default)]
struct Strokes {
    /// When each stroke (by id) was sent, while measuring.
    sent: Mutex<HashMap<String, Instant>>,
    arrivals: Mutex<Vec<Arrival>>,
    acks: AtomicU64,
    errors: Mutex<Vec<String>>,
}

/// Runs the teaching suite against a server process on `database_url` and prints the figures.
pub async fn run(database_url: &str, args: &TeachingArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.teaching_rate > 0.0 && (2..=2048).contains(&args.teaching_points),
        "the teaching suite needs a positive rate and 2 to 2048 points per stroke"
    );
    let binary = args.server.binary()?;
    register_admin(database_url).await?;
    let mut server = Server::start(&binary, database_url).await?;
    let result = measure(&server, args).await;
    server.stop_after(result).await
}

async fn measure(server: &Server, args: &TeachingArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let people = People::register(&http, &server.base).await?;
    let ctx = Ctx {
        http,
        base: server.base.clone(),
        people,
    };
    let joined = open_session(&ctx, 0, 2).await?;
    let mentor = connect(&joined[0]).await?.ws;
    let watcher = connect(&joined[1]).await?.ws;
    let strokes = Arc::new(Strokes::default());

    let watching = tokio::spawn(watch(watcher, strokes.clone()));
    let period = Duration::from_secs_f64(1.0 / args.teaching_rate);
    let window = Duration::from_secs_f64(args.teaching_seconds);
    let (mut sink, stream) = mentor.split();
    let reading = tokio::spawn(read_answers(stream, strokes.clone()));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < WARM_UP + window {
        tick.tick().await;
        let measure_this = started.elapsed() >= WARM_UP;
        sent += 1;
        let stroke_id = uuid::Uuid::now_v7().to_string();
        let text = stroke_message(&stroke_id, sent, args.teaching_points);
        if measure_this {
            lock(&strokes.sent).insert(stroke_id, Instant::now());
        }
        sink.send(Message::text(text))
            .await
            .context("sending a stroke")?;
    }
    // The last strokes' arrivals.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = sink.close().await;
    watching.abort();
    reading.abort();

    let expected = lock(&strokes.sent).len();
    let arrivals = std::mem::take(&mut *lock(&strokes.arrivals));
    let errors = lock(&strokes.errors).clone();
    let mut pen_up: Vec<f64> = arrivals.iter().map(|a| a.pen_up_ms).collect();
    let mut push: Vec<f64> = arrivals.iter().map(|a| a.push_ms).collect();
    pen_up.sort_by(f64::total_cmp);
    push.sort_by(f64::total_cmp);
    let q = |v: &[f64], p: f64| quantile(v, p).unwrap_or(f64::NAN);
    println!(
        "Teaching: one mentor draws {:.1} strokes/s of {} raw points each (simplified by the \
         server), one watcher on the same loopback; {:.0} s measured after {} s of warm-up. \
         `pen up` = stroke sent to its AnnotationStroke at the watcher (this process's clock); \
         `push` = the same events from the server's `time` (recorded) to arrival: the \
         WebSocket's own push latency.",
        args.teaching_rate,
        args.teaching_points,
        window.as_secs_f64(),
        WARM_UP.as_secs()
    );
    println!(
        "  strokes measured {}, arrived {}, acks {} (all strokes), errors {}",
        expected,
        arrivals.len(),
        strokes.acks.load(Ordering::Relaxed),
        errors.len()
    );
    for (label, v) in [
        ("pen up -> other screen", &pen_up),
        ("push (recorded -> arrival)", &push),
    ] {
        println!(
            "  {label:<28} p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            q(v, 0.5),
            q(v, 0.95),
            q(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
    let (pen_p95, push_p95) = (q(&pen_up, 0.95), q(&push, 0.95));
    println!(
        "  p95 pen up / p95 push: {:.1}x; the write itself (pen up - push) p95 about {:.2} ms",
        pen_p95 / push_p95,
        pen_p95 - push_p95
    );
    println!(
        "  goal p95 pen up < {GOAL_P95_MS:.0} ms: {} ({pen_p95:.2} ms)",
        if pen_p95 < GOAL_P95_MS {
            "met"
        } else {
            "MISSED"
        }
    );
    if let Some(first) = errors.first() {
        println!("  first error: {first}");
    }
    anyhow::ensure!(
        arrivals.len() == expected,
        "{} of {expected} measured strokes did not reach the watcher",
        expected - arrivals.len()
    );
    Ok(())
}

/// An `annotation.stroke` of `points` raw points along a wave across panel p1.
fn stroke_message(stroke_id: &str, n: u64, points: usize) -> String {
    let phase = n as f64 * 0.37;
    let line: Vec<[f64; 2]> = (0..points)
        .map(|i| {
            let t = i as f64 / (points - 1) as f64;
            let round = |v: f64| (v * 1e5).round() / 1e5;
            [
                round(0.1 + 0.8 * t),
                round(0.5 + 0.2 * (t * 12.0 + phase).sin()),
            ]
        })
        .collect();
    serde_json::json!({
        "type": "annotation.stroke", "ref": format!("s{n}"), "stroke_id": stroke_id,
        "panel_id": "p1", "source_id": "endoscope", "media_time_ms": n * 40,
        "kind": "freehand", "points": line, "color": "#e6194b", "width": 0.004,
        "pinned": false,
    })
    .to_string()
}

/// The mentor's socket: counts acks and keeps errors (and keeps the socket read).
async fn read_answers(mut stream: futures::stream::SplitStream<Ws>, strokes: Arc<Strokes>) {
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
            continue;
        };
        match value["type"].as_str() {
            Some("ack") => {
                strokes.acks.fetch_add(1, Ordering::Relaxed);
            }
            Some("error") => lock(&strokes.errors).push(value.to_string()),
            _ => {}
        }
    }
}

/// The watcher: times every `AnnotationStroke` that was sent while measuring.
async fn watch(mut ws: Ws, strokes: Arc<Strokes>) {
    while let Some(Ok(message)) = ws.next().await {
        let (now, arrived) = (Utc::now(), Instant::now());
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
            continue;
        };
        if value["event_type"] != "AnnotationStroke" {
            continue;
        }
        let Some(sent) = value["data"]["stroke_id"]
            .as_str()
            .and_then(|id| lock(&strokes.sent).get(id).copied())
        else {
            continue;
        };
        let Some(recorded) = value["time"]
            .as_str()
            .and_then(|t| t.parse::<DateTime<Utc>>().ok())
        else {
            continue;
        };
        let push_ms = (now - recorded).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        lock(&strokes.arrivals).push(Arrival {
            pen_up_ms: arrived.duration_since(sent).as_secs_f64() * 1000.0,
            push_ms,
        });
    }
}
