//! Black-box tests of LiveSurgery: one test binary, modules by concern.

mod api;
mod cli;
mod docs;
mod helpers;
mod store_conformance;
