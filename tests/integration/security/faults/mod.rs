//! Crash and fault proofs (issue 16): the real server killed with SIGKILL under load and
//! started again, and its PostgreSQL restarted under load. Each test keeps a client-side ledger
//! of what the server acknowledged and checks it against the log afterwards. The soak is
//! `livesurgery-bench soak` (`bench/tests/soak.rs` runs a short one in CI).

mod crash;
mod ledger;
mod postgres_restart;
