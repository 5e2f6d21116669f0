//! Catch-up subscriptions: read the log from a position in pages, then wait for the head to move.

use std::sync::Arc;
use std::time::Duration;

use livesurgery_domain::envelope::RecordedEvent;
use tokio::sync::mpsc;

use super::{EventStore, StoreError};

const PAGE: usize = 1000;
/// Even without a wake-up, look again this often (a missed notification costs at most this).
const IDLE_RECHECK: Duration = Duration::from_millis(500);
/// After a database error, wait this long before reading again; doubled after each further
/// error up to [`MAX_ERROR_BACKOFF`], so that a database that is away is not hammered by every
/// subscription while it restarts.
const ERROR_BACKOFF: Duration = Duration::from_millis(250);
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(4);

/// A running subscription. Dropping it stops the reader task.
pub struct Subscription {
    batches: mpsc::Receiver<Vec<RecordedEvent>>,
    reader: tokio::task::JoinHandle<()>,
    last_delivered: u64,
}

impl Subscription {
    pub(super) fn start(store: Arc<dyn EventStore>, after_position: u64) -> Subscription {
        let (tx, batches) = mpsc::channel(4);
        let reader = tokio::spawn(read_forever(store, after_position, tx));
        Subscription {
            batches,
            reader,
            last_delivered: after_position,
        }
    }

    /// The next batch of events, in strictly increasing position, none delivered twice.
    /// `None` once the store is closed.
    pub async fn next_batch(&mut self) -> Option<Vec<RecordedEvent>> {
        let batch = self.batches.recv().await?;
        if let Some(last) = batch.last() {
            self.last_delivered = last.position;
        }
        Some(batch)
    }

    /// The position of the last event this subscription delivered.
    pub fn position(&self) -> u64 {
        self.last_delivered
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn read_forever(
    store: Arc<dyn EventStore>,
    mut position: u64,
    tx: mpsc::Sender<Vec<RecordedEvent>>,
) {
    let mut head = store.head_watch();
    let mut backoff = ERROR_BACKOFF;
    loop {
        // Mark the head as seen before reading, so an append that lands during the read
        // still wakes the wait below.
        head.borrow_and_update();
        let read = store.read_all(position, PAGE).await;
        if read.is_ok() {
            backoff = ERROR_BACKOFF;
        }
        match read {
            Ok(events) if events.is_empty() => {
                tokio::select! {
                    changed = head.changed() => if changed.is_err() { return },
                    _ = tokio::time::sleep(IDLE_RECHECK) => {}
                }
            }
            Ok(events) => {
                // Deduplicate by position: a page can never go backwards, but be strict.
                let fresh: Vec<RecordedEvent> = events
                    .into_iter()
                    .filter(|e| e.position > position)
                    .collect();
                if let Some(last) = fresh.last() {
                    position = last.position;
                }
                if !fresh.is_empty() && tx.send(fresh).await.is_err() {
                    return;
                }
            }
            Err(StoreError::Closed) => return,
            Err(error) => {
                tracing::warn!(
                    %error,
                    position,
                    retry_in_ms = backoff.as_millis() as u64,
                    "subscription read failed; retrying"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ERROR_BACKOFF);
            }
        }
    }
}
