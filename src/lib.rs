//! LiveSurgery server: event log backends, projections runner, CLI and HTTP front door.

pub mod audit;
pub mod store;
