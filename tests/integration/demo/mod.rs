//! Demo mode (`livesurgery serve --demo`), black-box: its seed, the synthetic feeds published by
//! the server into its own SFU (recorded, and stopped when the session ends), and in a browser
//! the demo workspace's moving panels.

mod e2e;
mod feeds;
mod lifecycle;
pub(crate) mod seed;
