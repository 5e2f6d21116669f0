//! Demo mode (`livesurgery serve --demo`): synthetic personas, a live demo session, and
//! synthetic feeds published by the server into its own SFU. Everything it makes is labelled
//! synthetic; no real patient data is involved anywhere.

// TEMP: the feeds branch brings `pub mod clips;` and the real `feeds.rs` at merge.
pub mod feeds;
pub mod seed;
