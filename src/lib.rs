//! LiveSurgery server: event log backends, projections runner, CLI and HTTP front door.

pub mod audit;
pub mod cli;
pub mod commands;
pub mod projector;
pub mod settings;
pub mod startup;
pub mod store;
