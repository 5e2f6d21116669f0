//! LiveSurgery server: event log backends, projections runner, REST API, realtime gateway,
//! SFU, recorder, archive storage, the web app's files, auth and CLI.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod demo;
pub mod projector;
pub mod realtime;
pub mod recording;
pub mod settings;
pub mod sfu;
pub mod startup;
pub mod storage;
pub mod store;
pub mod telemetry;
pub mod web;
