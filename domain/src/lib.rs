//! The pure domain of LiveSurgery: aggregates, commands, events, permissions and the event hash
//! chain. No I/O, no clock, no randomness: time and new ids come in with the command context.

pub mod envelope;
pub mod events;
pub mod roles;
