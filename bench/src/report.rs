//! What every suite measures and prints the same way: quantiles, ratios, and CPU time read
//! from `/proc` (a server process's, by thread name too, this process's and the machine's).

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::Context;

/// Other processes using this much of a core (%) during a window make its figures unreliable.
pub const BUSY_MACHINE_PCT: f64 = 25.0;

/// Locks figures shared by tasks; a task that panicked holding them leaves them readable.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The median of some figures (the mean of the middle two for an even count); 0 for none.
pub fn median(figures: &[f64]) -> f64 {
    let mut sorted = figures.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The quantile `q` (0 to 1) of sorted values, by nearest rank; `None` when there are none.
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}

/// `2.4x (34.5% / 14.5%)`: a measured CPU use against its baseline's.
pub fn ratio_text(measured: f64, baseline: f64) -> String {
    if baseline > 0.0 {
        format!(
            "{:.1}x ({measured:.1}% / {baseline:.1}%)",
            measured / baseline
        )
    } else {
        format!("- ({measured:.1}% / {baseline:.1}%)")
    }
}

/// Clock ticks per second, the unit of `/proc` CPU times.
pub static CLOCK_TICKS: LazyLock<f64> = LazyLock::new(|| {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
});

/// CPU seconds so far, cumulative: a server process's (in all, and by thread name), this
/// process's, a local PostgreSQL's and the whole machine's.
pub struct CpuSnapshot {
    server: f64,
    server_threads: BTreeMap<String, f64>,
    own: f64,
    database: f64,
    /// The machine's user, nice and system time: what processes used.
    processes: f64,
    /// The machine's irq, softirq and steal time, charged to no process (loopback UDP is
    /// mostly softirq work).
    interrupts: f64,
    at: Instant,
}

/// CPU use over a window, in % of one core.
#[derive(Debug, Clone, Default)]
pub struct CpuUse {
    /// The server process, all threads.
    pub server: f64,
    /// The server's thread names using at least 0.5%, busiest first.
    pub server_threads: Vec<(String, f64)>,
    /// This process (the load generator).
    pub own: f64,
    /// A local PostgreSQL's processes, when asked for.
    pub database: f64,
    /// The whole machine's processes, all the above included.
    pub processes: f64,
    /// The machine's interrupt work (see [`CpuSnapshot`]).
    pub interrupts: f64,
    /// The window's length, in seconds.
    pub seconds: f64,
}

impl CpuSnapshot {
    /// Now, with the server process `server` (none: its figures stay 0) and, when `database`,
    /// the processes of a local PostgreSQL.
    pub fn take(server: Option<u32>, database: bool) -> anyhow::Result<CpuSnapshot> {
        let ticks = *CLOCK_TICKS;
        let (server, server_threads) = match server {
            Some(pid) => (
                stat_cpu_seconds(&read(&format!("/proc/{pid}/stat"))?)?,
                threads_cpu_seconds(pid),
            ),
            None => (0.0, BTreeMap::new()),
        };
        let machine = read("/proc/stat")?;
        let fields: Vec<u64> = machine
            .lines()
            .next()
            .context("empty /proc/stat")?
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        // user nice system idle iowait irq softirq steal
        let sum = |of: &[usize]| of.iter().filter_map(|i| fields.get(*i)).sum::<u64>() as f64;
        Ok(CpuSnapshot {
            server,
            server_threads,
            own: stat_cpu_seconds(&read("/proc/self/stat")?)?,
            database: if database {
                postgres_cpu_seconds()
            } else {
                0.0
            },
            processes: sum(&[0, 1, 2]) / ticks,
            interrupts: sum(&[5, 6, 7]) / ticks,
            at: Instant::now(),
        })
    }

    /// The CPU used between `earlier` and this snapshot.
    pub fn since(&self, earlier: &CpuSnapshot) -> CpuUse {
        let seconds = (self.at - earlier.at).as_secs_f64();
        let pct = 100.0 / seconds;
        let mut server_threads: Vec<(String, f64)> = self
            .server_threads
            .iter()
            .map(|(name, s)| {
                let before = earlier.server_threads.get(name).copied().unwrap_or(0.0);
                (name.clone(), (s - before).max(0.0) * pct)
            })
            .filter(|(_, p)| *p >= 0.5)
            .collect();
        server_threads.sort_by(|a, b| b.1.total_cmp(&a.1));
        CpuUse {
            server: (self.server - earlier.server) * pct,
            server_threads,
            own: (self.own - earlier.own) * pct,
            database: (self.database - earlier.database).max(0.0) * pct,
            processes: (self.processes - earlier.processes) * pct,
            interrupts: (self.interrupts - earlier.interrupts) * pct,
            seconds,
        }
    }
}

impl CpuUse {
    /// The machine's other processes: all but the server, this process and the database.
    pub fn other_processes(&self) -> f64 {
        (self.processes - self.server - self.own - self.database).max(0.0)
    }

    /// The machine's other work: its other processes and its interrupt work.
    pub fn other_work(&self) -> f64 {
        (self.processes + self.interrupts - self.server - self.own - self.database).max(0.0)
    }
}

/// CPU seconds of the processes named `postgres` on this machine (a local PostgreSQL).
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(|e| {
            let e = e.ok()?;
            e.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            stat.contains("(postgres)")
                .then(|| stat_cpu_seconds(&stat).ok())
                .flatten()
        })
        .sum()
}

/// A `/proc` file's text.
pub fn read(path: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {path}"))
}

/// utime + stime from the text of a `/proc` stat file (a process's: all its threads), in
/// seconds.
pub fn stat_cpu_seconds(stat: &str) -> anyhow::Result<f64> {
    // The command name (field 2) may hold spaces: count from its closing parenthesis, after
    // which field 3 (state) comes; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').context("malformed /proc stat")? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) as f64 / *CLOCK_TICKS)
}

/// CPU seconds of a process's threads, summed by thread name.
pub fn threads_cpu_seconds(pid: u32) -> BTreeMap<String, f64> {
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
        if let Ok(seconds) = stat_cpu_seconds(&text) {
            *threads.entry(name.to_owned()).or_default() += seconds;
        }
    }
    threads
}

/// This process's limit on open files: the soft limit and the hard one (as written, it may
/// be `unlimited`); `None` when unreadable or the soft limit is unlimited.
pub fn open_files_limits() -> Option<(usize, String)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut values = line["Max open files".len()..].split_whitespace();
    let soft = values.next()?.parse().ok()?;
    Some((soft, values.next()?.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quantile_is_the_value_at_its_nearest_rank() {
        let values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(quantile(&values, 0.5), Some(5));
        assert_eq!(quantile(&values, 0.99), Some(10));
        assert_eq!(quantile(&values, 1.0), Some(10));
        assert_eq!(quantile(&values, 0.0), Some(1));
        assert_eq!(quantile::<u32>(&[], 0.5), None);
    }

    #[test]
    fn cpu_time_is_read_after_a_command_name_with_spaces() {
        let stat = "42 (tokio (1) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0";
        let seconds = stat_cpu_seconds(stat).unwrap();
        assert!((seconds - 300.0 / *CLOCK_TICKS).abs() < 1e-9, "{seconds}");
    }

    #[test]
    fn this_process_uses_cpu_time_between_two_snapshots() {
        let before = CpuSnapshot::take(Some(std::process::id()), false).unwrap();
        let started = Instant::now();
        let mut x = 0u64;
        while started.elapsed().as_millis() < 100 {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        let used = CpuSnapshot::take(Some(std::process::id()), false)
            .unwrap()
            .since(&before);
        assert!(used.own > 0.0 && used.server > 0.0, "{used:?}");
        assert!(used.seconds >= 0.1, "{used:?}");
    }
}
