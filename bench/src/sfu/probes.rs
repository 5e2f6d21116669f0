//! One measured window of one path (the SFU's or the relay's): where its packets went, its
//! frames' loss and latency, and the CPU of the path and of everything around it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::meter::{Meter, Source};
use super::relay::Relay;
use super::{DRAIN, SfuArgs};
use crate::report::{CpuSnapshot, lock, quantile, ratio_text};
use crate::server::ChildServer;

/// Where CPU time is read: the path measured (the server's threads, or the relay thread),
/// and the processes around it.
pub(super) struct Probe<'a> {
    /// Whether the SFU's path is measured (else the relay's).
    pub sfu: bool,
    pub server: Option<&'a ChildServer>,
    pub relay: &'a Relay,
}

/// CPU seconds so far, cumulative: the processes', and the relay thread's.
struct Snapshot {
    cpu: CpuSnapshot,
    relay_thread: f64,
}

impl Probe<'_> {
    fn snapshot(&self) -> anyhow::Result<Snapshot> {
        Ok(Snapshot {
            cpu: CpuSnapshot::take(self.server.map(|s| s.pid), false)?,
            relay_thread: self.relay.cpu_seconds().unwrap_or(0.0),
        })
    }
}

/// One path at one step.
#[derive(Debug, Clone)]
pub(super) struct Figures {
    pub path: &'static str,
    pub receivers: usize,
    /// Packets/s the forwarder sent (the server's counter, or the relay's); `None` when the
    /// server exports no counter.
    pub forwarded: Option<f64>,
    pub drops: Drops,
    /// Media packets/s the source sent, times the receivers: what forwarding all would take.
    pub expected: f64,
    /// Datagrams/s the receivers got.
    pub received: f64,
    /// Complete frames/s, all receivers.
    pub frames: f64,
    pub loss_pct: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub cpu: f64,
    pub threads: Vec<(String, f64)>,
    pub rss_mb: Option<f64>,
    pub gen_cpu: f64,
    /// The machine's other processes (and, in a relay window, the idle server).
    pub other: f64,
    pub nacks: u64,
    pub plis: u64,
    pub keyframes: u64,
    /// Receivers whose peer failed, so far.
    pub failed: u64,
    pub unreadable: u64,
    pub failures: Vec<String>,
}

impl Figures {
    /// Whether the step is held: frames arrived, loss and p99 under their limits, no failure.
    pub(super) fn held(&self, args: &SfuArgs) -> bool {
        self.frames > 0.0
            && self.loss_pct < args.sfu_max_loss
            && self.p99 < args.sfu_max_p99_ms
            && self.failed == 0
    }

    /// `; …` naming what failed or went missing; empty when nothing did.
    pub(super) fn failures_note(&self) -> String {
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
pub(super) async fn window_figures(
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
    let used = cpu_after.cpu.since(&cpu_before.cpu);
    let last = source.next_seq.load(Ordering::Relaxed).saturating_sub(1);
    meter.close(last);
    let counters_after = Counters::read(probe, source).await;
    let elapsed = used.seconds;
    let sent = (source.media_packets.load(Ordering::Relaxed) - sent_before) as f64 / elapsed;
    let keyframes = source.keyframes.load(Ordering::Relaxed) - keyframes_before;
    let rss_mb = match probe.server {
        Some(server) if probe.sfu => Some(server.memory_mb()?.0),
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
    let relay_cpu = (cpu_after.relay_thread - cpu_before.relay_thread) * 100.0 / elapsed;
    let quantile_ms = |q: f64| quantile(&latencies_ms, q).unwrap_or(0.0);
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
        p50: quantile_ms(0.50),
        p99: quantile_ms(0.99),
        max: latencies_ms.last().copied().unwrap_or(0.0),
        cpu: if probe.sfu { used.server } else { relay_cpu },
        threads: if probe.sfu {
            used.server_threads.clone()
        } else {
            Vec::new()
        },
        rss_mb,
        gen_cpu: (used.own - relay_cpu).max(0.0),
        other: used.other_work(),
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
pub(super) struct Drops {
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

/// The table's header.
pub(super) fn print_header() {
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

/// One path's row.
pub(super) fn print_row(f: &Figures) {
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

/// The SFU against the relay at one step.
pub(super) fn print_comparison(sfu: &Figures, relay: &Figures) {
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
