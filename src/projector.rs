//! Runs the read-model projections in the server: one catch-up subscription on the log feeds
//! every projection, each of which writes its rows and checkpoint in one transaction.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use livesurgery_domain::envelope::RecordedEvent;
use livesurgery_projections::{EventSource, ReadModels};
use tokio::sync::watch;

use crate::store::{self, EventStore};

/// After a failed projection batch, wait this long and apply the same batch again: a batch is
/// never skipped.
const RETRY_BACKOFF: Duration = Duration::from_millis(500);

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
    ) -> anyhow::Result<Projector> {
        let read_models = ReadModels::connect(database_url)
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
        let mut subscription = store::subscribe(store, from);
        let task = tokio::spawn(async move {
            loop {
                let batch = tokio::select! {
                    batch = subscription.next_batch() => batch,
                    _ = stopped.changed() => return,
                };
                let Some(batch) = batch else { return };
                let last = batch.last().map_or(0, |e| e.position);
                while let Err(error) = read_models.apply_all(&batch).await {
                    tracing::error!(%error, position = last, "projection batch failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_BACKOFF) => {},
                        _ = stopped.changed() => return,
                    }
                }
                position_tx.send_replace(last);
            }
        });
        Ok(Projector {
            handle: ProjectorHandle { position, head },
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
