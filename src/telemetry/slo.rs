//! The service level indicators, computed in process over the last few minutes from the same
//! metrics Prometheus scrapes (`ops/prometheus/livesurgery.rules.yml` computes them over its
//! own windows), for the Health page of a deployment without Prometheus.
//!
//! A ticker takes a [`Snapshot`] of the counters and histograms every [`TICK`]; an SLI over the
//! window is the difference between now and the oldest snapshot still in it, as Prometheus's
//! `increase` would give. Names and objectives are those of the SLO table in the README.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::proto::MetricFamily;

use super::Metrics;
use crate::app::lock;

/// How often the ticker takes a snapshot (and samples the upload backlog).
pub const TICK: Duration = Duration::from_secs(10);
/// The window the Health page reports over.
pub const WINDOW: Duration = Duration::from_secs(300);
/// The upload backlog (segments) at or under which a sample is good.
pub const BACKLOG_OBJECTIVE_SEGMENTS: i64 = 20;

/// One service level objective: what its indicator counts and the share it must reach.
#[derive(Debug, Clone, Copy)]
pub struct Objective {
    /// The SLI's name, as in the recording rules (`livesurgery:sli_<name>:ratio_rate5m`).
    pub name: &'static str,
    /// What it measures, for people.
    pub title: &'static str,
    /// The share of good events (or samples) it must reach, 0–1.
    pub objective: f64,
    /// For a latency SLI: the bound an event must meet to be good, in seconds.
    pub threshold_seconds: Option<f64>,
    /// For a latency SLI the issue names a percentile of: which (0–1).
    pub quantile: Option<f64>,
}

/// Every SLO, in the README's order.
pub const OBJECTIVES: [Objective; 10] = [
    Objective {
        name: "join_success",
        title: "Joins answered without a server error",
        objective: 0.999,
        threshold_seconds: None,
        quantile: None,
    },
    Objective {
        name: "join_first_frame",
        title: "Join to first video frame within 2 s",
        objective: 0.95,
        threshold_seconds: Some(2.0),
        quantile: Some(0.95),
    },
    Objective {
        name: "ws_push_latency",
        title: "WebSocket push within 200 ms of the append",
        objective: 0.99,
        threshold_seconds: Some(0.2),
        quantile: Some(0.99),
    },
    Objective {
        name: "rest_availability",
        title: "REST answers that are not server errors",
        objective: 0.999,
        threshold_seconds: None,
        quantile: None,
    },
    Objective {
        name: "rest_latency",
        title: "REST answers within 500 ms",
        objective: 0.99,
        threshold_seconds: Some(0.5),
        quantile: Some(0.99),
    },
    Objective {
        name: "append_latency",
        title: "Event appends durable within 100 ms",
        objective: 0.99,
        threshold_seconds: Some(0.1),
        quantile: Some(0.99),
    },
    Objective {
        name: "projection_lag",
        title: "Events in the read models within 1 s of their append",
        objective: 0.99,
        threshold_seconds: Some(1.0),
        quantile: None,
    },
    Objective {
        name: "sfu_forward_loss",
        title: "Frames the SFU forwards rather than drops",
        objective: 0.995,
        threshold_seconds: None,
        quantile: None,
    },
    Objective {
        name: "sfu_added_latency",
        title: "Frames forwarded within 20 ms of their arrival",
        objective: 0.99,
        threshold_seconds: Some(0.02),
        quantile: None,
    },
    Objective {
        name: "recording_backlog",
        title: "Time with at most 20 segments waiting for upload",
        objective: 0.99,
        threshold_seconds: None,
        quantile: None,
    },
];

/// A histogram summed over its label values: upper bounds and cumulative counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    bounds: Vec<f64>,
    cumulative: Vec<u64>,
    count: u64,
}

impl Buckets {
    fn of(families: &[MetricFamily], name: &str) -> Buckets {
        let mut out = Buckets::default();
        let Some(family) = families.iter().find(|f| f.name() == name) else {
            return out;
        };
        for metric in family.get_metric() {
            let histogram = metric.get_histogram();
            out.count += histogram.get_sample_count();
            let buckets = histogram.get_bucket();
            if out.bounds.is_empty() {
                out.bounds = buckets.iter().map(|b| b.upper_bound()).collect();
                out.cumulative = vec![0; buckets.len()];
            }
            for (sum, bucket) in out.cumulative.iter_mut().zip(buckets) {
                *sum += bucket.cumulative_count();
            }
        }
        out
    }

    /// What was observed since `earlier`.
    fn since(&self, earlier: &Buckets) -> Buckets {
        let cumulative = if earlier.cumulative.len() == self.cumulative.len() {
            self.cumulative
                .iter()
                .zip(&earlier.cumulative)
                .map(|(now, then)| now.saturating_sub(*then))
                .collect()
        } else {
            self.cumulative.clone()
        };
        Buckets {
            bounds: self.bounds.clone(),
            cumulative,
            count: self.count.saturating_sub(earlier.count),
        }
    }

    /// Observations at most `bound` (a bucket's upper bound; else the largest bound under it).
    fn at_most(&self, bound: f64) -> u64 {
        self.bounds
            .iter()
            .zip(&self.cumulative)
            .rev()
            .find(|(b, _)| **b <= bound + 1e-12)
            .map_or(0, |(_, c)| *c)
    }

    /// The `q` quantile, interpolated within its bucket as Prometheus's `histogram_quantile`
    /// does; `None` without observations. Past the last bucket: the last bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q * self.count as f64;
        let mut lower_bound = 0.0;
        let mut lower_count = 0u64;
        for (bound, cumulative) in self.bounds.iter().zip(&self.cumulative) {
            if *cumulative as f64 >= rank {
                let in_bucket = (*cumulative - lower_count) as f64;
                if in_bucket == 0.0 {
                    return Some(*bound);
                }
                return Some(
                    lower_bound + (bound - lower_bound) * (rank - lower_count as f64) / in_bucket,
                );
            }
            lower_bound = *bound;
            lower_count = *cumulative;
        }
        self.bounds.last().copied()
    }
}

/// Good and valid counts for one SLI.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub good: u64,
    pub valid: u64,
}

/// The counters and histograms the SLIs are made of, at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    at: Instant,
    joins_ok: u64,
    joins_failed: u64,
    http_all: u64,
    http_5xx: u64,
    frames_forwarded: u64,
    forward_drops: u64,
    /// Backlog samples taken by the ticker, and those at or under the objective.
    backlog_samples: u64,
    backlog_good: u64,
    first_frame: Buckets,
    push: Buckets,
    rest: Buckets,
    append: Buckets,
    projection: Buckets,
    sfu_delay: Buckets,
}

fn counter_sum(
    families: &[MetricFamily],
    name: &str,
    keep: impl Fn(&[(&str, &str)]) -> bool,
) -> u64 {
    let Some(family) = families.iter().find(|f| f.name() == name) else {
        return 0;
    };
    family
        .get_metric()
        .iter()
        .filter(|m| {
            let labels: Vec<(&str, &str)> = m
                .get_label()
                .iter()
                .map(|l| (l.name(), l.value()))
                .collect();
            keep(&labels)
        })
        .map(|m| m.get_counter().get_value() as u64)
        .sum()
}

fn label_is(labels: &[(&str, &str)], name: &str, value: &str) -> bool {
    labels.iter().any(|(n, v)| *n == name && *v == value)
}

impl Snapshot {
    /// The snapshot of `families`, gathered from `metrics` just before.
    fn take(metrics: &Metrics, f: &[MetricFamily], backlog: (u64, u64)) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            joins_ok: counter_sum(f, "livesurgery_joins_total", |l| {
                label_is(l, "outcome", "ok")
            }),
            joins_failed: counter_sum(f, "livesurgery_joins_total", |l| {
                label_is(l, "outcome", "failed")
            }),
            http_all: counter_sum(f, "livesurgery_http_requests_total", |_| true),
            http_5xx: counter_sum(f, "livesurgery_http_requests_total", |l| {
                label_is(l, "status_class", "5xx")
            }),
            frames_forwarded: metrics.sfu.frames_forwarded.get(),
            forward_drops: metrics.sfu.forward_drops.get(),
            backlog_samples: backlog.0,
            backlog_good: backlog.1,
            first_frame: Buckets::of(f, "livesurgery_sfu_join_to_first_frame_seconds"),
            push: Buckets::of(f, "livesurgery_ws_push_latency_seconds"),
            rest: Buckets::of(f, "livesurgery_http_request_duration_seconds"),
            append: Buckets::of(f, "livesurgery_event_append_duration_seconds"),
            projection: Buckets::of(f, "livesurgery_projection_apply_latency_seconds"),
            sfu_delay: Buckets::of(f, "livesurgery_sfu_forward_delay_seconds"),
        }
    }

    /// The buckets of a latency SLI's histogram.
    fn buckets(&self, name: &str) -> Option<&Buckets> {
        Some(match name {
            "join_first_frame" => &self.first_frame,
            "ws_push_latency" => &self.push,
            "rest_latency" => &self.rest,
            "append_latency" => &self.append,
            "projection_lag" => &self.projection,
            "sfu_added_latency" => &self.sfu_delay,
            _ => return None,
        })
    }

    /// One SLI's good and valid counts between `earlier` and this snapshot.
    fn tally(&self, earlier: &Snapshot, objective: &Objective) -> Tally {
        let delta = |now: u64, then: u64| now.saturating_sub(then);
        if let (Some(now), Some(then), Some(bound)) = (
            self.buckets(objective.name),
            earlier.buckets(objective.name),
            objective.threshold_seconds,
        ) {
            let observed = now.since(then);
            return Tally {
                good: observed.at_most(bound),
                valid: observed.count,
            };
        }
        match objective.name {
            "join_success" => {
                let ok = delta(self.joins_ok, earlier.joins_ok);
                let failed = delta(self.joins_failed, earlier.joins_failed);
                Tally {
                    good: ok,
                    valid: ok + failed,
                }
            }
            "rest_availability" => {
                let all = delta(self.http_all, earlier.http_all);
                Tally {
                    good: all.saturating_sub(delta(self.http_5xx, earlier.http_5xx)),
                    valid: all,
                }
            }
            "sfu_forward_loss" => {
                let sent = delta(self.frames_forwarded, earlier.frames_forwarded);
                let dropped = delta(self.forward_drops, earlier.forward_drops);
                Tally {
                    good: sent,
                    valid: sent + dropped,
                }
            }
            "recording_backlog" => Tally {
                good: delta(self.backlog_good, earlier.backlog_good),
                valid: delta(self.backlog_samples, earlier.backlog_samples),
            },
            _ => Tally::default(),
        }
    }
}

/// One SLI over the window, as the Health page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    pub objective: Objective,
    pub tally: Tally,
    /// good / valid; `None` when nothing was valid in the window.
    pub value: Option<f64>,
    /// The share of the window's error budget left (1: untouched, 0 or less: spent);
    /// `None` without data.
    pub budget_remaining: Option<f64>,
    /// The percentile the issue names, in seconds, for latency SLIs with one.
    pub percentile_seconds: Option<f64>,
}

impl PartialEq for Objective {
    fn eq(&self, other: &Objective) -> bool {
        self.name == other.name
    }
}

/// The SLIs over the window.
#[derive(Debug, Clone)]
pub struct Report {
    /// How much time the indicators cover (less than [`WINDOW`] just after start).
    pub window: Duration,
    pub indicators: Vec<Indicator>,
}

/// The snapshots of the last [`WINDOW`] and the backlog samples.
pub struct Window {
    /// The oldest first; the first is taken at start (all zero).
    snapshots: Mutex<VecDeque<Snapshot>>,
    /// Backlog samples so far, and the good ones.
    backlog: Mutex<(u64, u64)>,
}

impl Window {
    /// A window whose first snapshot is now.
    pub fn new(metrics: &Metrics) -> Window {
        let first = Snapshot::take(metrics, &metrics.gather(), (0, 0));
        Window {
            snapshots: Mutex::new(VecDeque::from([first])),
            backlog: Mutex::new((0, 0)),
        }
    }

    /// Samples the backlog, takes a snapshot and forgets those older than the window (keeping
    /// one at or before its start).
    pub fn tick(&self, metrics: &Metrics) {
        // The gauges are sampled by `gather`; read the backlog once they are.
        let families = metrics.gather();
        let backlog = {
            let mut backlog = lock(&self.backlog);
            backlog.0 += 1;
            if metrics.recording.upload_backlog.get() <= BACKLOG_OBJECTIVE_SEGMENTS {
                backlog.1 += 1;
            }
            *backlog
        };
        let snapshot = Snapshot::take(metrics, &families, backlog);
        let mut snapshots = lock(&self.snapshots);
        let now = snapshot.at;
        snapshots.push_back(snapshot);
        while snapshots.len() > 2
            && snapshots
                .get(1)
                .is_some_and(|s| now.saturating_duration_since(s.at) >= WINDOW)
        {
            snapshots.pop_front();
        }
    }

    /// The SLIs from the oldest snapshot in the window to now.
    pub fn report(&self, metrics: &Metrics) -> Report {
        let now = Snapshot::take(metrics, &metrics.gather(), *lock(&self.backlog));
        let snapshots = lock(&self.snapshots);
        let earliest = snapshots.front().cloned().unwrap_or_else(|| now.clone());
        drop(snapshots);
        report_between(&earliest, &now)
    }

    /// Ticks every [`TICK`] until the returned task is aborted.
    pub fn run(self: Arc<Self>, metrics: Arc<Metrics>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                self.tick(&metrics);
            }
        })
    }
}

fn report_between(earlier: &Snapshot, now: &Snapshot) -> Report {
    let indicators = OBJECTIVES
        .iter()
        .map(|objective| {
            let tally = now.tally(earlier, objective);
            let value = (tally.valid > 0).then(|| tally.good as f64 / tally.valid as f64);
            let budget_remaining = value.map(|v| 1.0 - (1.0 - v) / (1.0 - objective.objective));
            let percentile_seconds = objective.quantile.and_then(|q| {
                let (now, then) = (
                    now.buckets(objective.name)?,
                    earlier.buckets(objective.name)?,
                );
                now.since(then).quantile(q)
            });
            Indicator {
                objective: *objective,
                tally,
                value,
                budget_remaining,
                percentile_seconds,
            }
        })
        .collect();
    Report {
        window: now.at.saturating_duration_since(earlier.at),
        indicators,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe(metrics: &Metrics, seconds: &[f64]) {
        for s in seconds {
            metrics.log.append_duration.observe(*s);
        }
    }

    fn indicator<'a>(report: &'a Report, name: &str) -> &'a Indicator {
        report
            .indicators
            .iter()
            .find(|i| i.objective.name == name)
            .expect("an indicator of that name")
    }

    #[test]
    fn latency_sli_counts_observations_within_the_bound_since_the_window_began() {
        let metrics = Metrics::new();
        // Before the window: not counted.
        observe(&metrics, &[5.0, 5.0]);
        let window = Window::new(&metrics);
        observe(&metrics, &[0.004, 0.02, 0.09, 0.3]);
        let report = window.report(&metrics);
        let append = indicator(&report, "append_latency");
        assert_eq!(append.tally, Tally { good: 3, valid: 4 });
        assert_eq!(append.value, Some(0.75));
        // 25 % bad against a 1 % budget: spent 25 times over.
        let budget = append.budget_remaining.unwrap();
        assert!((budget - (1.0 - 0.25 / 0.01)).abs() < 1e-9, "{budget}");
        // The 99th percentile falls in the (0.25, 0.5] bucket.
        let p99 = append.percentile_seconds.unwrap();
        assert!(p99 > 0.25 && p99 <= 0.5, "{p99}");
        // No joins, no frames: no value rather than a made-up 100 %.
        assert_eq!(indicator(&report, "join_success").value, None);
        assert_eq!(indicator(&report, "sfu_forward_loss").value, None);
    }

    #[test]
    fn ratio_slis_count_failures_not_refusals() {
        let metrics = Metrics::new();
        let window = Window::new(&metrics);
        let joins = &metrics.http.joins;
        joins.with_label_values(&["ok"]).inc_by(97);
        joins.with_label_values(&["refused"]).inc_by(50);
        joins.with_label_values(&["failed"]).inc_by(3);
        let requests = &metrics.http.requests;
        requests
            .with_label_values(&["GET", "/v1/sessions", "2xx"])
            .inc_by(90);
        requests
            .with_label_values(&["GET", "/v1/sessions", "4xx"])
            .inc_by(8);
        requests
            .with_label_values(&["POST", "/v1/sessions", "5xx"])
            .inc_by(2);
        metrics.sfu.frames_forwarded.inc_by(995);
        metrics.sfu.forward_drops.inc_by(5);
        let report = window.report(&metrics);
        assert_eq!(
            indicator(&report, "join_success").tally,
            Tally {
                good: 97,
                valid: 100
            }
        );
        assert_eq!(
            indicator(&report, "rest_availability").tally,
            Tally {
                good: 98,
                valid: 100
            }
        );
        let loss = indicator(&report, "sfu_forward_loss");
        assert_eq!(loss.value, Some(0.995));
        assert!(loss.budget_remaining.unwrap().abs() < 1e-9);
    }

    #[test]
    fn backlog_sli_is_the_share_of_good_samples() {
        let metrics = Metrics::new();
        let window = Window::new(&metrics);
        for backlog in [0, 3, 21, 20] {
            metrics.recording.upload_backlog.set(backlog);
            window.tick(&metrics);
        }
        let report = window.report(&metrics);
        assert_eq!(
            indicator(&report, "recording_backlog").tally,
            Tally { good: 3, valid: 4 }
        );
    }

    #[test]
    fn quantile_interpolates_like_prometheus() {
        let b = Buckets {
            bounds: vec![0.1, 0.2, 0.5],
            cumulative: vec![50, 90, 100],
            count: 100,
        };
        // Rank 50 is the top of the first bucket; rank 70 is half-way through the second.
        assert_eq!(b.quantile(0.5), Some(0.1));
        assert!((b.quantile(0.7).unwrap() - 0.15).abs() < 1e-9);
        assert_eq!(Buckets::default().quantile(0.9), None);
        assert_eq!(b.at_most(0.2), 90);
        assert_eq!(b.at_most(0.3), 90);
    }
}
