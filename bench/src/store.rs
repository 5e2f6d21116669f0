//! `livesurgery-bench store`: figures for the event log and the projections, each beside a
//! baseline measured in the same run.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use livesurgery::store::{self, EventStore, ExpectedVersion};
use livesurgery_domain::envelope::{Actor, NewEvent};
use livesurgery_domain::events::{self as ev, Event, LayoutFieldChange, Panel};
use livesurgery_domain::roles::SessionRole;
use livesurgery_projections::ReadModels;
use sqlx::Connection;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::database::BenchDb;
use crate::report::{CpuSnapshot, quantile};

/// Options of the store suite.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Seconds per append scenario.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Events in the log for the rebuild measurement (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    pub rebuild_events: u64,
    /// Appends timed for the subscriber latency measurement.
    #[arg(long, default_value_t = 2_000)]
    pub latency_samples: usize,
    /// Measure the rebuild only (skip the append and latency figures).
    #[arg(long)]
    pub rebuild_only: bool,
}

/// The issue's goal for a rebuild of every projection in one pass.
const REBUILD_GOAL: f64 = 50_000.0;

/// Runs the store suite on `db` and prints the figures.
pub async fn run(db: &BenchDb, args: &StoreArgs) -> anyhow::Result<()> {
    if args.rebuild_only {
        return rebuild_rate(db, args.rebuild_events).await;
    }
    let duration = Duration::from_secs_f64(args.seconds);
    let store = store::open(&db.url).await?;
    let postgres = db.is_postgres();
    // The baseline runs before and after the event log, and the mean is used: the machine's
    // speed drifts during a run.
    let mut baseline_before = HashMap::new();
    if postgres {
        for writers in [1usize, 16] {
            baseline_before.insert(writers, insert_baseline(&db.url, writers, duration).await?);
        }
    }
    println!("append throughput (batch of 1 event, durable commit, expected version Any):");
    let mut results = HashMap::new();
    for (streams, writers) in [(1usize, 1usize), (1, 16), (1000, 1), (1000, 16)] {
        let rate = append_rate(store.clone(), streams, writers, duration).await?;
        results.insert((streams, writers), rate);
        println!("  {streams:>5} stream(s), {writers:>2} writer(s): {rate:>10.0} appends/s");
    }
    if postgres {
        println!(
            "baseline: plain single-row INSERT, one transaction each (PostgreSQL's commit rate), \
             measured before and after:"
        );
        for writers in [1usize, 16] {
            let after = insert_baseline(&db.url, writers, duration).await?;
            let before = baseline_before[&writers];
            let base = (before + after) / 2.0;
            println!(
                "  {writers:>2} writer(s): {base:>10.0} commits/s ({before:.0} / {after:.0}); \
                 event log = {:.2}x baseline at 1 stream, {:.2}x at 1,000 streams",
                results[&(1, writers)] / base,
                results[&(1000, writers)] / base
            );
        }
    }

    let (p50, p99, max) = subscriber_latency(store.clone(), args.latency_samples).await?;
    println!(
        "subscriber end-to-end latency (append call to delivery, {} appends by 4 writers): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        args.latency_samples,
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    store.close().await;

    if args.rebuild_events > 0 {
        rebuild_rate(db, args.rebuild_events).await?;
    }
    Ok(())
}

fn bench_event() -> NewEvent {
    NewEvent {
        id: Uuid::now_v7(),
        event_type: "BenchEvent".into(),
        schema_version: 1,
        data: serde_json::json!({"panel": "p1", "x": 3, "y": 4}),
        actor: Actor::system(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
    }
}

/// Appends of one event each, `writers` at once spread over `streams` streams, for `duration`:
/// appends/s.
pub async fn append_rate(
    store: Arc<dyn EventStore>,
    streams: usize,
    writers: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let prefix = Uuid::new_v4().simple().to_string();
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, count, prefix) = (store.clone(), count.clone(), prefix.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = w;
            while started.elapsed() < duration {
                let stream = format!("bench-{prefix}-{}", n % streams);
                store
                    .append(&stream, ExpectedVersion::Any, vec![bench_event()])
                    .await?;
                count.fetch_add(1, Ordering::Relaxed);
                n += writers;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

async fn insert_baseline(url: &str, writers: usize, duration: Duration) -> anyhow::Result<f64> {
    let mut setup = sqlx::PgConnection::connect(url).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_baseline (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)",
    )
    .execute(&mut setup)
    .await?;
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (url, count) = (url.to_owned(), count.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            while started.elapsed() < duration {
                sqlx::query("INSERT INTO bench_baseline (payload) VALUES ($1)")
                    .bind(r#"{"panel":"p1","x":3,"y":4}"#)
                    .execute(&mut conn)
                    .await?;
                count.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

async fn subscriber_latency(
    store: Arc<dyn EventStore>,
    samples: usize,
) -> anyhow::Result<(Duration, Duration, Duration)> {
    let sent: Arc<Mutex<HashMap<Uuid, Instant>>> = Arc::default();
    let head = store.head_position().await?;
    let mut subscription = store::subscribe(store.clone(), head);
    let writers = 4;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, sent) = (store.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..samples / writers {
                let event = bench_event();
                sent.lock().await.insert(event.id, Instant::now());
                store
                    .append(&format!("latency-{w}"), ExpectedVersion::Any, vec![event])
                    .await?;
                // A steady stream, not a flood: latency, not throughput, is measured here.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            anyhow::Ok(())
        }));
    }
    let expected = (samples / writers) * writers;
    let mut latencies = Vec::with_capacity(expected);
    while latencies.len() < expected {
        let batch = tokio::time::timeout(Duration::from_secs(30), subscription.next_batch())
            .await
            .context("subscriber stalled")?
            .context("subscription ended")?;
        let now = Instant::now();
        let sent = sent.lock().await;
        for event in batch {
            if let Some(t) = sent.get(&event.id) {
                latencies.push(now - *t);
            }
        }
    }
    for task in tasks {
        task.await??;
    }
    latencies.sort();
    let pick = |q: f64| quantile(&latencies, q).unwrap_or_default();
    Ok((pick(0.50), pick(0.99), pick(1.0)))
}

/// "12.3 CPU-µs per event (this process) + 4.5 (PostgreSQL)": CPU time of a pass over `events`.
fn cpu_per_event(used: &crate::report::CpuUse, events: u64) -> String {
    let per = |pct: f64| pct / 100.0 * used.seconds * 1e6 / events.max(1) as f64;
    let mut text = format!("{:.1} CPU-µs per event (this process)", per(used.own));
    if used.database > 0.0 {
        text.push_str(&format!(" + {:.1} (PostgreSQL)", per(used.database)));
    }
    text
}

/// A realistic session's worth of events: creation, members, going live, presence churn and
/// many layout edits and source selections, then the end.
fn session_events(events_per_session: usize) -> Vec<NewEvent> {
    let session_id = Uuid::now_v7();
    let users: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let actor = Actor {
        user_id: Some(users[0]),
        role: Some("surgeon".into()),
        participant_id: None,
    };
    let panels: Vec<Panel> = (0..4)
        .map(|i| Panel {
            id: format!("p{}", i + 1),
            x: (i % 2) * 6,
            y: (i / 2) * 6,
            w: 6,
            h: 6,
            z: 0,
            source_id: None,
            name: None,
        })
        .collect();
    let mut out = vec![
        Event::SessionCreated(ev::SessionCreated {
            session_id,
            title: "Bench session".into(),
            procedure: Some("laparoscopy".into()),
            scheduled_start: None,
            created_by: users[0],
        }),
        Event::LayoutInitialized(ev::LayoutInitialized {
            session_id,
            version: 1,
            panels: panels.clone(),
        }),
    ];
    for (i, user) in users.iter().enumerate() {
        out.push(Event::MemberAdded(ev::MemberAdded {
            session_id,
            user_id: *user,
            role: if i == 0 {
                SessionRole::Host
            } else {
                SessionRole::Surgeon
            },
        }));
    }
    out.push(Event::SessionStarted(ev::SessionStarted { session_id }));
    let participants: Vec<Uuid> = users.iter().map(|_| Uuid::now_v7()).collect();
    for (user, participant) in users.iter().zip(&participants) {
        out.push(Event::ParticipantJoined(ev::ParticipantJoined {
            session_id,
            participant_id: *participant,
            user_id: *user,
            role: SessionRole::Surgeon,
            device: Some("bench".into()),
        }));
    }
    let mut version = 1u64;
    let mut panels = panels;
    while out.len() + 5 < events_per_session {
        version += 1;
        let i = out.len();
        if i % 3 == 0 {
            let panel = &mut panels[i % 4];
            panel.source_id = Some(format!("camera-{}", i % 7));
            out.push(Event::SourceSelected(ev::SourceSelected {
                session_id,
                panel_id: panel.id.clone(),
                source_id: panel.source_id.clone(),
                layout_version: version,
                changed_by: actor.clone(),
            }));
        } else {
            let panel = &mut panels[i % 4];
            panel.z = (i % 10) as i32;
            out.push(Event::LayoutUpdated(ev::LayoutUpdated {
                session_id,
                version,
                base_version: version - 1,
                changes: vec![LayoutFieldChange {
                    panel_id: Some(panel.id.clone()),
                    field: "z".into(),
                    value: serde_json::json!(panel.z),
                }],
                conflicts: vec![],
                panels: panels.clone(),
                changed_by: actor.clone(),
            }));
        }
    }
    for (user, participant) in users.iter().zip(&participants) {
        out.push(Event::ParticipantLeft(ev::ParticipantLeft {
            session_id,
            participant_id: *participant,
            user_id: *user,
            reason: ev::LeaveReason::Left,
        }));
    }
    out.push(Event::SessionEnded(ev::SessionEnded { session_id }));
    let correlation = Uuid::now_v7();
    out.into_iter()
        .map(|e| e.into_new_event(Uuid::now_v7(), actor.clone(), correlation, None))
        .collect()
}

async fn rebuild_rate(db: &BenchDb, total: u64) -> anyhow::Result<()> {
    const PER_SESSION: usize = 100;
    let store = store::open(&db.url).await?;
    let already = store.head_position().await?;
    let started = Instant::now();
    let sessions = (total as usize).div_ceil(PER_SESSION);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, next) = (store.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while (next.fetch_add(1, Ordering::Relaxed) as usize) < sessions {
                let events = session_events(PER_SESSION);
                let stream = ev::session_stream(Uuid::now_v7());
                store
                    .append(&stream, ExpectedVersion::NoStream, events)
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let head = store.head_position().await?;
    let loaded = head - already;
    println!(
        "loaded {loaded} session events in {:.1} s ({:.0} events/s, appends of {PER_SESSION} events)",
        started.elapsed().as_secs_f64(),
        loaded as f64 / started.elapsed().as_secs_f64()
    );

    // Baseline: reading the whole log and decoding it, which any rebuild must do.
    let postgres = db.is_postgres();
    let cpu = CpuSnapshot::take(None, postgres)?;
    let started = Instant::now();
    let mut after = 0;
    let mut read = 0u64;
    loop {
        let page = store.read_all(after, 5000).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        read += page.len() as u64;
    }
    let read_rate = read as f64 / started.elapsed().as_secs_f64();
    let used = CpuSnapshot::take(None, postgres)?.since(&cpu);
    println!(
        "baseline: reading the log = {read_rate:.0} events/s, {}",
        cpu_per_event(&used, read)
    );

    let read_models = ReadModels::connect(&db.url).await?;
    read_models.migrate().await?;
    for name in ReadModels::names() {
        let rate = livesurgery::cli::rebuild(&read_models, store.clone(), Some(name)).await?;
        println!(
            "  rebuild {name:<10}: {rate:>10.0} events/s ({:.2}x of reading the log)",
            rate / read_rate
        );
    }
    let cpu = CpuSnapshot::take(None, postgres)?;
    let rate = livesurgery::cli::rebuild(&read_models, store.clone(), None).await?;
    let used = CpuSnapshot::take(None, postgres)?.since(&cpu);
    let verdict = if rate >= REBUILD_GOAL {
        "met"
    } else {
        "MISSED"
    };
    println!(
        "projection rebuild, all {} projections in one pass over {head} events: {rate:.0} events/s \
         ({:.2}x of reading the log; goal >= {REBUILD_GOAL:.0}/s: {verdict}), {}",
        ReadModels::names().len(),
        rate / read_rate,
        cpu_per_event(&used, head)
    );
    if used.other_work() > crate::report::BUSY_MACHINE_PCT {
        println!(
            "  warning: other work used {:.0}% of a core meanwhile: the figures are unreliable",
            used.other_work()
        );
    }
    store.close().await;
    Ok(())
}
