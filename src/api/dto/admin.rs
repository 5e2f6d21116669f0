//! Operations: health, readiness and the projections' progress (`/healthz`, `/readyz`,
//! `/v1/admin/projections`).

use chrono::{DateTime, Utc};
use livesurgery_projections::ProjectionStatus;
use serde::Serialize;
use utoipa::ToSchema;

/// A projection's progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct Projection {
    pub name: String,
    /// The last log position applied.
    pub position: u64,
    /// Events behind the log head.
    pub lag: u64,
    /// Completed rebuilds plus one.
    pub generation: u64,
    pub updated_at: DateTime<Utc>,
    /// True while a rebuild runs.
    pub rebuilding: bool,
    /// How far a running rebuild has got.
    pub rebuild_position: Option<u64>,
}

impl Projection {
    pub fn new(s: ProjectionStatus, head: u64, rebuilding: bool) -> Projection {
        Projection {
            lag: head.saturating_sub(s.position),
            name: s.name,
            position: s.position,
            generation: s.generation,
            updated_at: s.updated_at,
            rebuilding,
            rebuild_position: s.rebuild_position,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionList {
    /// The log head position.
    pub head: u64,
    pub items: Vec<Projection>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    pub projections_position: u64,
    pub projections_lag: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`.
    pub status: String,
    pub head: u64,
    pub projections_position: u64,
    pub projections_lag: u64,
}

/// The service level indicators over the last minutes, and the load (`GET /v1/admin/health`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceHealth {
    /// How many seconds the indicators cover: the last five minutes, or since the server
    /// started when that is shorter.
    pub window_seconds: f64,
    /// One per service level objective, in the README's order.
    pub indicators: Vec<ServiceIndicator>,
    pub load: ServiceLoad,
}

/// One SLI against its objective.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceIndicator {
    /// As in the Prometheus recording rules: `livesurgery:sli_<name>:ratio_rate5m`.
    pub name: String,
    pub title: String,
    /// The share of good events it must reach (0–1).
    pub objective: f64,
    /// Good events (or samples) in the window.
    pub good: u64,
    /// Events (or samples) that count in the window.
    pub valid: u64,
    /// good / valid; null when nothing counted in the window.
    pub value: Option<f64>,
    /// The share of the window's error budget left: 1 untouched, 0 or less spent; null
    /// without data.
    pub budget_remaining: Option<f64>,
    /// `met`, `missed` or `no_data`.
    pub status: String,
    /// For a latency SLI: the bound a good event meets, in seconds.
    pub threshold_seconds: Option<f64>,
    /// For a latency SLI with a named percentile: that percentile's estimate in seconds.
    pub percentile: Option<ServicePercentile>,
}

/// A percentile of a latency, estimated from the histogram's buckets.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServicePercentile {
    /// 0–1 (0.95 for p95).
    pub quantile: f64,
    /// Null when nothing was observed in the window.
    pub seconds: Option<f64>,
}

/// What this server carries now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceLoad {
    /// SFU peer connections that publish.
    pub publishers: i64,
    /// SFU peer connections that subscribe.
    pub subscribers: i64,
    /// Published tracks receiving media.
    pub tracks: i64,
    /// WebSocket connections open.
    pub websocket_clients: i64,
    /// The log head as this process knows it.
    pub log_head: u64,
    /// The position every projection has reached.
    pub projections_position: u64,
    /// Events the projections are behind the head.
    pub projections_lag: u64,
    /// Recorded segments waiting for upload.
    pub recording_upload_backlog: i64,
}
