//! Demo mode: synthetic media published by the server into its own SFU.

pub mod clips;
pub mod feeds;
