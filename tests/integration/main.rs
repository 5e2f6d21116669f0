//! Black-box tests of LiveSurgery: one test binary, modules by concern.

mod api;
mod cli;
mod demo;
mod docs;
mod helpers;
mod nodes;
mod ops;
mod realtime;
mod realtime_schemas;
mod recording;
mod security;
mod sfu;
mod storage;
mod store_conformance;
mod telemetry;
mod web;
