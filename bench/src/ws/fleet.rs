//! The load: sessions of connections grown step by step, what their tasks report into, and
//! one step's figures.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use tokio::sync::watch;

use super::client::Client;
use super::probes::{Server, histogram_quantile};
use super::stage::{Connected, Ctx, Joined, connect, open_session};
use super::{RAMP_P99_MS, WARM_UP};
use crate::report::{CpuUse, lock, quantile};

/// Latencies in microseconds: 10 µs buckets below 10 ms, 100 µs below 200 ms, 10 ms below
/// 10 s, then one bucket.
pub(super) struct Histogram {
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

    /// One latency, in microseconds.
    pub(super) fn record(&self, us: u64) {
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
    pub(super) fn quantile_ms(&self, q: f64) -> f64 {
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
pub(super) struct Counters {
    /// The writers send while set.
    pub writing: AtomicBool,
    /// Latencies and rates are counted while set (the measurement window).
    pub measuring: AtomicBool,
    // The window's figures.
    pub latency: Histogram,
    /// A writer's `layout.update` to its `ack`.
    pub ack_latency: Histogram,
    pub delivered: AtomicU64,
    pub updates_sent: AtomicU64,
    // The step's figures.
    pub sent: AtomicU64,
    pub answered: AtomicU64,
    pub gaps: AtomicU64,
    pub lost: AtomicU64,
    pub malformed: AtomicU64,
    pub closes: Mutex<BTreeMap<u16, u64>>,
    pub errors: Mutex<BTreeMap<String, u64>>,
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

/// One connection, as the fleet sees it.
pub(super) struct ClientState {
    /// The last layout version it received (welcome or `LayoutUpdated`).
    pub layout_version: AtomicU64,
    pub alive: AtomicBool,
}

/// One session's load, as the fleet sees it.
pub(super) struct SessionLoad {
    /// The last layout version acknowledged to the session's writer.
    pub acked_version: AtomicU64,
    pub clients: Vec<Arc<ClientState>>,
}

/// A set of sessions with their connections, grown step by step.
pub(super) struct Fleet {
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
pub(super) struct Figures {
    pub label: String,
    pub sessions: usize,
    pub connections: usize,
    pub clients: usize,
    /// `layout.update` sent per second, all sessions.
    pub updates: f64,
    /// `event` messages received per second, all connections.
    pub delivered: f64,
    pub samples: u64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub ack_p99: f64,
    /// The server's own figure (recorded -> handed to the socket), p99 bucket bound.
    pub server_push_p99: Option<f64>,
    pub drops: u64,
    pub closes: BTreeMap<u16, u64>,
    pub lost: u64,
    pub gaps: u64,
    pub behind: u64,
    pub unanswered: u64,
    pub malformed: u64,
    pub errors: BTreeMap<String, u64>,
    pub cpu: CpuUse,
    pub server_rss_mb: f64,
    pub server_hwm_mb: f64,
    pub setup_secs: f64,
    pub connect_p50: f64,
    pub connect_p99: f64,
}

impl Figures {
    /// Whether the step is held: events received, p99 under the ramp's limit, no drop.
    pub(super) fn held(&self) -> bool {
        self.samples > 0 && self.p99 < RAMP_P99_MS && self.drops == 0
    }

    /// Why a step was or was not held, in a few words.
    pub(super) fn verdict(&self) -> String {
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

    /// What went wrong, if anything.
    pub(super) fn detail(&self) -> Option<String> {
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

/// The table's header; [`Fleet::step`] prints its rows.
pub(super) fn print_header() {
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
        f.cpu.other_processes()
    );
}

impl Fleet {
    /// An empty fleet of sessions of `clients` connections, updated every `period`.
    pub(super) fn new(ctx: Arc<Ctx>, clients: usize, period: Duration) -> Fleet {
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
    pub(super) async fn step(
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
        let pick = |q: f64| quantile(&connect_times, q).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let (connect_p50, connect_p99) = (pick(0.5), pick(0.99));
        eprintln!(
            "  {label}: {new} session(s) and {} connection(s) opened in {setup_secs:.1} s \
             (handshake to welcome p50 {connect_p50:.1} ms, p99 {connect_p99:.1} ms)",
            new * self.clients
        );

        counters.writing.store(true, Ordering::Relaxed);
        tokio::time::sleep(WARM_UP).await;
        let push_before = server.push_histogram().await;
        counters.reset_window();
        let cpu_before = server.cpu()?;
        let window_start = Instant::now();
        counters.measuring.store(true, Ordering::Relaxed);
        tokio::time::sleep(window).await;
        counters.measuring.store(false, Ordering::Relaxed);
        let elapsed = window_start.elapsed().as_secs_f64();
        let cpu = server.cpu()?.since(&cpu_before);
        let (server_rss_mb, server_hwm_mb) = server.memory_mb()?;
        let push_after = server.push_histogram().await;
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
    pub(super) async fn close(mut self) {
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
