//! The write path: load an aggregate's stream, fold it, decide, append with the version it was
//! decided on; on a concurrent write, reload and decide again, a bounded number of times.

use livesurgery_domain::envelope::RecordedEvent;
use livesurgery_domain::events::UnknownEvent;
use livesurgery_domain::{Aggregate, CommandContext, DomainError, Event};
use uuid::Uuid;

use crate::store::{AppendResult, EventStore, ExpectedVersion, StoreError, read_whole_stream};

/// How many times a command is decided again after losing a race, before it is a conflict.
pub const MAX_ATTEMPTS: usize = 5;

/// Why a command was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The domain refused it (permission, state, validation).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// Other writers kept changing the stream; the caller may retry.
    #[error(
        "version conflict on {stream} after {MAX_ATTEMPTS} attempts (current version {current})"
    )]
    VersionConflict { stream: String, current: u64 },
    /// A stored event could not be read back.
    #[error(transparent)]
    UnknownEvent(#[from] UnknownEvent),
    /// The log failed.
    #[error(transparent)]
    Store(StoreError),
}

/// What an accepted command appended.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub stream: String,
    pub events: Vec<Event>,
    /// Where it landed; `last_position` is what a read-your-writes read waits for.
    pub append: AppendResult,
}

/// Loads and folds an aggregate's stream; returns the state and its version.
pub async fn load<A: Aggregate>(
    store: &dyn EventStore,
    stream: &str,
) -> Result<(A::State, u64), CommandError> {
    let recorded = read_whole_stream(store, stream)
        .await
        .map_err(CommandError::Store)?;
    fold::<A>(&recorded)
}

fn fold<A: Aggregate>(recorded: &[RecordedEvent]) -> Result<(A::State, u64), CommandError> {
    let mut state = A::State::default();
    for r in recorded {
        let event = Event::from_stored(&r.event_type, r.schema_version, &r.data)?;
        state = A::evolve(state, &event);
    }
    Ok((state, recorded.last().map_or(0, |r| r.version)))
}

/// Executes one command against the aggregate `id`.
pub async fn execute<A: Aggregate>(
    store: &dyn EventStore,
    id: Uuid,
    command: &A::Command,
    ctx: &CommandContext,
    correlation_id: Uuid,
) -> Result<Accepted, CommandError> {
    let stream = A::stream(id);
    let mut current = 0;
    for _ in 0..MAX_ATTEMPTS {
        let (state, version) = load::<A>(store, &stream).await?;
        let events = A::decide(&state, command, ctx)?;
        let new_events = events
            .iter()
            .cloned()
            .map(|e| e.into_new_event(Uuid::now_v7(), ctx.actor(), correlation_id, None))
            .collect();
        match store
            .append(&stream, ExpectedVersion::Exact(version), new_events)
            .await
        {
            Ok(append) => {
                return Ok(Accepted {
                    stream,
                    events,
                    append,
                });
            }
            Err(StoreError::VersionConflict { current: now, .. }) => current = now,
            Err(other) => return Err(CommandError::Store(other)),
        }
    }
    Err(CommandError::VersionConflict { stream, current })
}
