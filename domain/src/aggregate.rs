//! One trait over the aggregates, so the server's command handler (load, fold, decide, append)
//! is written once.

use uuid::Uuid;

use crate::context::CommandContext;
use crate::error::DomainError;
use crate::events::{self, Event};
use crate::{session, user};

/// An event-sourced aggregate: a state folded from its stream, and a pure decision function.
pub trait Aggregate {
    /// The folded state; `Default` is "not yet created".
    type State: Default + Clone;
    /// What one can ask of it.
    type Command;

    /// The stream holding the aggregate with this id.
    fn stream(id: Uuid) -> String;
    /// The events a command produces, or why it is refused.
    fn decide(
        state: &Self::State,
        cmd: &Self::Command,
        ctx: &CommandContext,
    ) -> Result<Vec<Event>, DomainError>;
    /// Folds one event.
    fn evolve(state: Self::State, event: &Event) -> Self::State;
}

/// The session aggregate (see [`crate::session`]).
#[derive(Debug, Clone, Copy)]
pub struct Session;

impl Aggregate for Session {
    type State = session::SessionState;
    type Command = session::SessionCommand;

    fn stream(id: Uuid) -> String {
        events::session_stream(id)
    }
    fn decide(
        state: &Self::State,
        cmd: &Self::Command,
        ctx: &CommandContext,
    ) -> Result<Vec<Event>, DomainError> {
        session::decide(state, cmd, ctx)
    }
    fn evolve(state: Self::State, event: &Event) -> Self::State {
        session::evolve(state, event)
    }
}

/// The user aggregate (see [`crate::user`]).
#[derive(Debug, Clone, Copy)]
pub struct User;

impl Aggregate for User {
    type State = user::UserState;
    type Command = user::UserCommand;

    fn stream(id: Uuid) -> String {
        events::user_stream(id)
    }
    fn decide(
        state: &Self::State,
        cmd: &Self::Command,
        ctx: &CommandContext,
    ) -> Result<Vec<Event>, DomainError> {
        user::decide(state, cmd, ctx)
    }
    fn evolve(state: Self::State, event: &Event) -> Self::State {
        user::evolve(state, event)
    }
}
