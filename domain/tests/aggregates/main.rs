//! Aggregate tests in cqrs-es style: `given(events).when(command).then(events | error)`.

mod endpoints;
mod layout;
mod permissions;
mod recording;
mod replay;
mod session;
mod support;
mod teaching;
mod user;
