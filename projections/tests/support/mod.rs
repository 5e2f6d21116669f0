//! Test support: a sealed event log builder, an in-memory event source, a realistic workload
//! generator and fresh databases (SQLite temp files; PostgreSQL when configured).
// Each test binary and the rebuild example use a part of it.
#![allow(dead_code, unused_imports)]

mod databases;
mod log;
mod scenario;
mod workload;

pub use databases::*;
pub use log::*;
pub use scenario::*;
pub use workload::*;
