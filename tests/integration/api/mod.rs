//! The REST API, black-box: a real server on port 0 over a fresh database per test, called over
//! HTTP. Every behavioural test runs on SQLite and, when configured, PostgreSQL.

mod archives;
mod auth;
mod concurrency;
mod errors;
mod health;
mod operations;
pub(crate) mod process;
mod rbac;
pub(crate) mod recorder;
mod replay;
mod sessions;
pub(crate) mod setup;
pub(crate) mod spawn;
