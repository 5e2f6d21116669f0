//! Black-box tests of LiveSurgery: one test binary, modules by concern.

mod cli;
mod helpers;
mod store_conformance;
mod docs;
