//! Runs the read-model projections in the server: the process's one catch-up subscription on
//! the log feeds every projection, each of which writes its rows and checkpoint in one
//! transaction; then the caches' change counters move, and the batch goes on to the
//! [`Dispatcher`]'s listeners (the realtime gateway, the SFU's removal watcher).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use livesurgery_domain::Event;
use livesurgery_domain::envelope::RecordedEvent;
use livesurgery_domain::events::{session_of_stream, user_of_stream};
use livesurgery_projections::{EventSource, ReadModels};
use tokio::sync::watch;
use tracing::Instrument;

use crate::app::dispatch::{Dispatched, Dispatcher};
use crate::store::{self, EventStore};
use crate::telemetry::Metrics;

/// After a failed projection batch, wait this long and apply the same batch again: a batch is
/// never skipped. The wait doubles after each further failure, up to [`MAX_RETRY_BACKOFF`]
/// (a database restarting is not hammered), and starts again at this after a success.
const RETRY_BACKOFF: Duration = Duration::from_millis(500);
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(4);

/// The running projections.
pub struct Projector {
    handle: ProjectorHandle,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// A cheap view of the projections' progress, for handlers (lag, read-your-writes).
#[derive(Clone)]
pub struct ProjectorHandle {
    position: watch::Receiver<u64>,
    head: watch::Receiver<u64>,
    counters: Arc<ChangeCounters>,
}

/// What the projector bumps after each batch: one set of counters per kind of cached row.
struct ChangeCounters {
    /// Any event of a user's stream (registration, role, name, activation).
    users: ChangeEpochs,
    /// Any event of a session's stream.
    sessions: ChangeEpochs,
    /// Events of a session's stream that change who is a member in which role.
    members: ChangeEpochs,
}

/// Change counters by aggregate id, bumped after the projections apply a batch that touched
/// the aggregate and before the position moves. A cache of an aggregate's read-model rows
/// notes the counter before it reads and is valid while the counter has not moved. Ids share
/// buckets: a collision only costs a needless reload.
pub struct ChangeEpochs {
    buckets: Box<[AtomicU64]>,
}

impl ChangeEpochs {
    const BUCKETS: usize = 4096;

    fn new() -> ChangeEpochs {
        ChangeEpochs {
            buckets: (0..Self::BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn bucket(&self, id: &uuid::Uuid) -> &AtomicU64 {
        // UUIDv7's low bits are random.
        &self.buckets[(id.as_u128() as usize) % Self::BUCKETS]
    }

    /// The counter of `id`'s bucket.
    pub fn get(&self, id: &uuid::Uuid) -> u64 {
        self.bucket(id).load(Ordering::Acquire)
    }

    fn bump(&self, id: &uuid::Uuid) {
        self.bucket(id).fetch_add(1, Ordering::AcqRel);
    }
}

impl ChangeCounters {
    /// Bumps the counters an event affects.
    fn bump(&self, event: &Dispatched) {
        let stream = &event.recorded.stream;
        if let Some(user_id) = user_of_stream(stream) {
            self.users.bump(&user_id);
        } else if let Some(session_id) = session_of_stream(stream) {
            self.sessions.bump(&session_id);
            // An event this build cannot read may have changed anything.
            if event.event().is_none_or(Event::changes_membership) {
                self.members.bump(&session_id);
            }
        }
    }
}

impl ProjectorHandle {
    /// The position every projection has reached.
    pub fn position(&self) -> u64 {
        *self.position.borrow()
    }

    /// How many events the projections are behind the log head, as far as this process knows.
    pub fn lag(&self) -> u64 {
        self.head.borrow().saturating_sub(self.position())
    }

    /// Change counters of users (see [`ChangeEpochs`]): any event of the user.
    pub fn user_epochs(&self) -> &ChangeEpochs {
        &self.counters.users
    }

    /// Change counters of sessions: any event of the session.
    pub fn session_epochs(&self) -> &ChangeEpochs {
        &self.counters.sessions
    }

    /// Change counters of sessions' memberships (and existence): only events that change who
    /// is a member in which role, so membership caches survive layout traffic.
    pub fn member_epochs(&self) -> &ChangeEpochs {
        &self.counters.members
    }

    /// Waits until the projections reach `position`, at most `timeout`; true when they did.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let mut rx = self.position.clone();
        tokio::time::timeout(timeout, rx.wait_for(|p| *p >= position))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Projector {
    /// Migrates the read models and starts folding the log into them from their checkpoints.
    pub async fn start(
        store: Arc<dyn EventStore>,
        database_url: &str,
        dispatcher: Arc<Dispatcher>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Projector> {
        let read_models = ReadModels::connect_for_projection(database_url)
            .await
            .context("connecting the read models")?;
        read_models
            .migrate()
            .await
            .context("creating the read-model tables")?;
        let from = read_models
            .status()
            .await?
            .iter()
            .map(|s| s.position)
            .min()
            .unwrap_or(0);
        let (position_tx, position) = watch::channel(from);
        let (stop, mut stopped) = watch::channel(false);
        let head = store.head_watch();
        let counters = Arc::new(ChangeCounters {
            users: ChangeEpochs::new(),
            sessions: ChangeEpochs::new(),
            members: ChangeEpochs::new(),
        });
        let bumped = counters.clone();
        // Events appended before this process started are catch-up, not lag: only later
        // ones are observed in the apply latency.
        let started = chrono::Utc::now();
        let mut subscription = store::subscribe(store, from);
        let task = tokio::spawn(async move {
            loop {
                let batch = tokio::select! {
                    batch = subscription.next_batch() => batch,
                    _ = stopped.changed() => return,
                };
                let Some(batch) = batch else { return };
                let last = batch.last().map_or(0, |e| e.position);
                let spans = crate::telemetry::trace::projection_spans(&batch);
                let in_span = spans.first().cloned().unwrap_or_else(tracing::Span::none);
                let mut backoff = RETRY_BACKOFF;
                while let Err(error) = read_models
                    .apply_all(&batch)
                    .instrument(in_span.clone())
                    .await
                {
                    tracing::error!(
                        %error,
                        position = last,
                        retry_in_ms = backoff.as_millis() as u64,
                        "projection batch failed; retrying"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {},
                        _ = stopped.changed() => return,
                    }
                    backoff = (backoff * 2).min(MAX_RETRY_BACKOFF);
                }
                drop((in_span, spans));
                let applied = chrono::Utc::now();
                for event in batch.iter().filter(|e| e.recorded_at >= started) {
                    let latency = (applied - event.recorded_at).to_std().unwrap_or_default();
                    metrics
                        .log
                        .projection_apply_latency
                        .observe(latency.as_secs_f64());
                }
                let batch: Vec<Dispatched> = batch.into_iter().map(Dispatched::new).collect();
                // Bumped before the position moves: a reader that sees the position also sees
                // the new counters.
                for event in &batch {
                    bumped.bump(event);
                }
                position_tx.send_replace(last);
                dispatcher.dispatch(&batch);
            }
        });
        Ok(Projector {
            handle: ProjectorHandle {
                position,
                head,
                counters,
            },
            stop,
            task,
        })
    }

    /// A handle for handlers.
    pub fn handle(&self) -> ProjectorHandle {
        self.handle.clone()
    }

    /// Stops after the batch in progress (its transaction either commits or rolls back whole).
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

/// The log as a source of events for projection rebuilds.
pub struct LogSource(pub Arc<dyn EventStore>);

#[async_trait]
impl EventSource for LogSource {
    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, livesurgery_projections::BoxError> {
        Ok(self.0.read_all(after_position, limit).await?)
    }

    async fn head_position(&self) -> Result<u64, livesurgery_projections::BoxError> {
        Ok(self.0.head_position().await?)
    }
}
