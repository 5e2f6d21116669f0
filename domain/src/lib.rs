//! The pure domain of LiveSurgery: aggregates, commands, events, permissions and the event hash
//! chain. No I/O, no clock, no randomness: time and new ids come in with the command context.

pub mod aggregate;
pub mod context;
pub mod endpoints;
pub mod envelope;
pub mod error;
pub mod events;
pub mod layout;
pub mod permissions;
pub mod replay;
pub mod roles;
pub mod session;
pub mod teaching;
pub mod text;
pub mod user;

pub use aggregate::Aggregate;
pub use context::CommandContext;
pub use error::DomainError;
pub use events::Event;
