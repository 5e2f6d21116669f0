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
