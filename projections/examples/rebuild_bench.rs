//! Measures how fast a rebuild folds a realistic log, and how fast live batches apply.
//!
//! `cargo run --release -p livesurgery-projections --example rebuild_bench -- [EVENTS] [URL]`
//! (default 1,000,000 events into a SQLite temp file; pass a `postgres://…/db` URL to measure
//! PostgreSQL: the database must exist and be empty).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use livesurgery_projections::ReadModels;
use support::{VecSource, workload};

/// CPU seconds (user + system) this process used so far, from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the name; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds per thread name (summed), from `/proc/self/task/*/stat`.
fn cpu_by_thread() -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let name = stat
            .split('(')
            .nth(1)
            .and_then(|s| s.split(')').next())
            .unwrap_or("?")
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
            .to_owned();
        let after_name = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        *out.entry(name).or_insert(0.0) += (ticks(11) + ticks(12)) / 100.0;
    }
    out
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args
        .next()
        .map(|a| a.parse().expect("EVENTS is a number"))
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.path().display()));

    let started = Instant::now();
    let mut events = workload(count + 20_000, 42);
    let tail = events.split_off(count);
    println!(
        "generated {} events in {:.1}s",
        events.len(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let cloned: Vec<_> = events.to_vec();
    let clone_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let parsed = cloned
        .iter()
        .filter(|e| {
            livesurgery_domain::events::Event::from_stored(&e.event_type, e.schema_version, &e.data)
                .is_ok()
        })
        .count();
    println!(
        "cost outside SQL: reading (cloning) {clone_secs:.2}s, parsing {parsed} events {:.2}s",
        started.elapsed().as_secs_f64()
    );
    drop(cloned);
    let models = ReadModels::connect(&url).await.expect("connect");
    models.migrate().await.expect("migrate");
    let source = std::sync::Arc::new(VecSource::new(events));

    let mut last_print = Instant::now();
    let cpu_before = cpu_seconds();
    let threads_before = cpu_by_thread();
    let report = models
        .rebuild_all(source.clone(), |p| {
            if last_print.elapsed().as_secs() >= 5 {
                println!("  {} / {} events", p.position, p.head);
                last_print = Instant::now();
            }
        })
        .await
        .expect("rebuild");
    println!(
        "rebuild of all projections: {} events in {:.2}s = {:.0} events/s",
        report.events_applied,
        report.elapsed.as_secs_f64(),
        report.events_per_second()
    );
    println!(
        "  phases: fold {:.2}s, indexes {:.2}s, swap {:.2}s",
        report.fold_elapsed.as_secs_f64(),
        report.index_elapsed.as_secs_f64(),
        (report.elapsed - report.fold_elapsed - report.index_elapsed).as_secs_f64()
    );
    println!(
        "  CPU used: {:.2}s ({:.1} us per event)",
        cpu_seconds() - cpu_before,
        (cpu_seconds() - cpu_before) * 1e6 / report.events_applied as f64
    );
    for (name, secs) in cpu_by_thread() {
        let delta = secs - threads_before.get(&name).copied().unwrap_or(0.0);
        if delta > 0.05 {
            println!("    thread {name}: {delta:.2}s");
        }
    }

    if std::env::var_os("BENCH_EACH").is_some() {
        for name in ReadModels::names() {
            let report = models
                .rebuild(name, source.clone(), |_| {})
                .await
                .expect("rebuild");
            println!(
                "  rebuild of {name} alone: {:.2}s = {:.0} events/s",
                report.elapsed.as_secs_f64(),
                report.events_per_second()
            );
        }
    }

    // Live batches of 100 after the rebuild (what the subscription delivers under load).
    let started = Instant::now();
    for batch in tail.chunks(100) {
        models.apply_all(batch).await.expect("apply");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "live apply_all in batches of 100: {} events in {secs:.2}s = {:.0} events/s",
        tail.len(),
        tail.len() as f64 / secs
    );
}
