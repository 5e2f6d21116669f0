//! The write path: load an aggregate's stream, fold it, decide, append with the version it was
//! decided on; on a concurrent write, reload and decide again, a bounded number of times.

use std::any::Any;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use livesurgery_domain::envelope::{Actor, NewEvent};
use livesurgery_domain::events::UnknownEvent;
use livesurgery_domain::{Aggregate, CommandContext, DomainError, Event};
use tracing::Instrument;
use tracing::field::Empty;
use uuid::Uuid;

use crate::store::{AppendResult, EventStore, ExpectedVersion, StoreError, read_stream_after};

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

/// Executes one command against the aggregate `id`, folding its stream from the start (a
/// one-off [`Executor`]; the server keeps one for its whole life).
pub async fn execute<A>(
    store: &dyn EventStore,
    id: Uuid,
    command: &A::Command,
    ctx: &CommandContext,
    correlation_id: Uuid,
) -> Result<Accepted, CommandError>
where
    A: Aggregate,
    A::State: Send + Sync + 'static,
{
    Executor::default()
        .execute::<A>(store, id, command, ctx, correlation_id)
        .await
}

/// A folded aggregate kept between commands: its state and the version it was folded to.
struct Folded {
    version: u64,
    state: Box<dyn Any + Send + Sync>,
}

/// Streams whose folded state is kept; past this the cache starts over.
const MAX_CACHED_STREAMS: usize = 10_000;

/// The write path of a server process: like [`execute`], but commands on one stream run one at
/// a time in this process (so they do not race each other into version conflicts), and each
/// stream's folded state is kept, so a command reads no events unless another process wrote
/// in between (its append then fails the version check, and the stream's new tail is read) or
/// the kept state refuses it (the refusal stands only if the stream's tail adds nothing).
#[derive(Default)]
pub struct Executor {
    streams: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Folded>>>>>,
}

impl Executor {
    fn slot(&self, stream: &str) -> Arc<tokio::sync::Mutex<Option<Folded>>> {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if streams.len() >= MAX_CACHED_STREAMS && !streams.contains_key(stream) {
            // Slots in use stay alive through their Arc; dropping the map only forgets states.
            streams.clear();
        }
        streams.entry(stream.to_owned()).or_default().clone()
    }

    /// Executes one command against the aggregate `id`.
    pub async fn execute<A>(
        &self,
        store: &dyn EventStore,
        id: Uuid,
        command: &A::Command,
        ctx: &CommandContext,
        correlation_id: Uuid,
    ) -> Result<Accepted, CommandError>
    where
        A: Aggregate,
        A::State: Send + Sync + 'static,
    {
        self.execute_with::<A, _>(store, id, |_| Ok(command), ctx, correlation_id)
            .await
    }

    /// Executes the command that `command_for` makes of the aggregate's folded state (e.g.
    /// "stop the recording running now"), made again with the state of every retry, so the
    /// command and the state it was decided on are never apart.
    pub async fn execute_with<A, C>(
        &self,
        store: &dyn EventStore,
        id: Uuid,
        command_for: impl Fn(&A::State) -> Result<C, DomainError>,
        ctx: &CommandContext,
        correlation_id: Uuid,
    ) -> Result<Accepted, CommandError>
    where
        A: Aggregate,
        A::State: Send + Sync + 'static,
        C: Borrow<A::Command>,
    {
        let decide =
            |state: &A::State| command_for(state).and_then(|c| A::decide(state, c.borrow(), ctx));
        self.decide_as::<A>(store, id, decide, ctx.actor(), correlation_id)
            .await
    }

    /// Appends what `decide` makes of the aggregate's folded state, as `actor`: the write path
    /// of decisions the server makes itself (where a session's media is placed), with the same
    /// version check and retries as a command's.
    pub async fn decide_as<A>(
        &self,
        store: &dyn EventStore,
        id: Uuid,
        decide: impl Fn(&A::State) -> Result<Vec<Event>, DomainError>,
        actor: Actor,
        correlation_id: Uuid,
    ) -> Result<Accepted, CommandError>
    where
        A: Aggregate,
        A::State: Send + Sync + 'static,
    {
        let stream = A::stream(id);
        // Inside the request or WebSocket message that began the correlation; the trace's
        // root when nothing did (a command of the server's own).
        let span = tracing::info_span!(
            "command",
            stream = %stream,
            correlation_id = %correlation_id,
            events = Empty,
            attempts = Empty,
            outcome = Empty,
        );
        crate::telemetry::trace::join_correlation(&span, correlation_id);
        let result = self
            .decide_and_append::<A>(store, stream, decide, &actor, correlation_id, &span)
            .instrument(span.clone())
            .await;
        span.record(
            "outcome",
            match &result {
                Ok(_) => "accepted",
                Err(CommandError::Domain(_)) => "refused",
                Err(CommandError::VersionConflict { .. }) => "version_conflict",
                Err(_) => "failed",
            },
        );
        result
    }

    /// The body of [`Executor::decide_as`], in its `command` span.
    async fn decide_and_append<A>(
        &self,
        store: &dyn EventStore,
        stream: String,
        decide: impl Fn(&A::State) -> Result<Vec<Event>, DomainError>,
        actor: &Actor,
        correlation_id: Uuid,
        span: &tracing::Span,
    ) -> Result<Accepted, CommandError>
    where
        A: Aggregate,
        A::State: Send + Sync + 'static,
    {
        let slot = self.slot(&stream);
        let mut cached = slot.lock().await;
        let (mut state, mut version) = match cached.take() {
            Some(folded) => match folded.state.downcast::<A::State>() {
                Ok(state) => (*state, folded.version),
                Err(_) => (A::State::default(), 0),
            },
            None => (A::State::default(), 0),
        };
        // A fresh slot starts from the whole stream; a kept one trusts its version until an
        // append says otherwise, or until it refuses: a refusal appends nothing, so no version
        // check would catch a kept state that another process (a second server, the recorder's
        // own store) has overtaken, and the command would be refused on a stale state.
        let mut must_catch_up = version == 0;
        let mut current = version;
        for attempt in 1..=MAX_ATTEMPTS {
            span.record("attempts", attempt);
            let fresh = must_catch_up;
            if must_catch_up {
                (state, version) = catch_up::<A>(store, &stream, state, version).await?;
            }
            let events = match decide(&state) {
                Ok(events) => events,
                Err(_) if !fresh => {
                    must_catch_up = true;
                    continue;
                }
                Err(e) => {
                    *cached = Some(Folded {
                        version,
                        state: Box::new(state),
                    });
                    return Err(e.into());
                }
            };
            let names: Vec<&str> = events.iter().map(Event::event_type).collect();
            span.record("events", names.join(",").as_str());
            let new_events = events
                .iter()
                .cloned()
                .map(|e| e.into_new_event(Uuid::now_v7(), actor.clone(), correlation_id, None))
                .collect();
            match append_traced(
                store,
                &stream,
                ExpectedVersion::Exact(version),
                new_events,
                correlation_id,
            )
            .await
            {
                Ok(append) => {
                    for event in &events {
                        state = A::evolve(state, event);
                    }
                    *cached = Some(Folded {
                        version: append.last_version,
                        state: Box::new(state),
                    });
                    return Ok(Accepted {
                        stream,
                        events,
                        append,
                    });
                }
                Err(StoreError::VersionConflict { current: now, .. }) => {
                    current = now;
                    must_catch_up = true;
                }
                // The state is left out of the cache: the next command folds the stream again.
                Err(other) => return Err(CommandError::Store(other)),
            }
        }
        Err(CommandError::VersionConflict { stream, current })
    }

    /// Appends events that record facts rather than decide anything (the SFU's media events):
    /// no command and no decision, but in turn with the stream's commands in this process, so
    /// neither makes the other lose a version race. A kept folded state takes them too.
    pub async fn record<A>(
        &self,
        store: &dyn EventStore,
        id: Uuid,
        facts: &[(Event, Actor)],
        correlation_id: Uuid,
    ) -> Result<AppendResult, CommandError>
    where
        A: Aggregate,
        A::State: Send + Sync + 'static,
    {
        let stream = A::stream(id);
        let slot = self.slot(&stream);
        let mut cached = slot.lock().await;
        let new_events: Vec<_> = facts
            .iter()
            .map(|(event, actor)| {
                event
                    .clone()
                    .into_new_event(Uuid::now_v7(), actor.clone(), correlation_id, None)
            })
            .collect();
        // With a kept state its version is checked, so the state stays exact; without one there
        // is nothing to keep exact.
        let expected = match cached.as_ref() {
            Some(folded) => ExpectedVersion::Exact(folded.version),
            None => ExpectedVersion::Any,
        };
        match append_traced(store, &stream, expected, new_events.clone(), correlation_id).await {
            Ok(append) => {
                if let Some(folded) = cached.take()
                    && let Ok(state) = folded.state.downcast::<A::State>()
                {
                    let state = facts.iter().fold(*state, |s, (e, _)| A::evolve(s, e));
                    *cached = Some(Folded {
                        version: append.last_version,
                        state: Box::new(state),
                    });
                }
                Ok(append)
            }
            // Another process wrote: forget the kept state (the next command folds the tail).
            Err(StoreError::VersionConflict { .. }) => {
                *cached = None;
                append_traced(
                    store,
                    &stream,
                    ExpectedVersion::Any,
                    new_events,
                    correlation_id,
                )
                .await
                .map_err(CommandError::Store)
            }
            Err(other) => Err(CommandError::Store(other)),
        }
    }
}

/// `store.append` in an `append` span: inside its command's span, or the root of the
/// correlation's trace for facts that no command or request began (the SFU's media events).
async fn append_traced(
    store: &dyn EventStore,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    correlation_id: Uuid,
) -> Result<AppendResult, StoreError> {
    let span = tracing::info_span!(
        "append",
        stream = %stream,
        expected_version = ?expected,
        events = events.len(),
        last_position = Empty,
        outcome = Empty,
    );
    crate::telemetry::trace::join_correlation(&span, correlation_id);
    let result = store
        .append(stream, expected, events)
        .instrument(span.clone())
        .await;
    match &result {
        Ok(append) => {
            span.record("last_position", append.last_position);
            span.record("outcome", "appended");
        }
        Err(StoreError::VersionConflict { .. }) => {
            span.record("outcome", "version_conflict");
        }
        Err(_) => {
            span.record("outcome", "failed");
        }
    }
    result
}

/// Folds the events of `stream` after `version` into `state`.
async fn catch_up<A: Aggregate>(
    store: &dyn EventStore,
    stream: &str,
    mut state: A::State,
    mut version: u64,
) -> Result<(A::State, u64), CommandError> {
    let tail = read_stream_after(store, stream, version)
        .await
        .map_err(CommandError::Store)?;
    for r in &tail {
        let event = Event::from_stored(&r.event_type, r.schema_version, &r.data)?;
        state = A::evolve(state, &event);
        version = r.version;
    }
    Ok((state, version))
}
