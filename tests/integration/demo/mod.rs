//! Demo mode (`livesurgery serve --demo`): its seed, and in a browser its synthetic feeds.

mod e2e;
pub(crate) mod seed;
