//! Demo mode (`livesurgery serve --demo`): synthetic personas, a live demo session, and
//! synthetic feeds published by the server into its own SFU. Everything it makes is labelled
//! synthetic; no real patient data is involved anywhere.

pub mod clips;
pub mod feeds;
pub mod seed;
