//! Group commit: one writer task per store commits the appends waiting at that moment in one
//! transaction, deciding each on its own.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use livesurgery_domain::envelope::{GENESIS_HASH, RecordedEvent, decode_hash};
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use uuid::Uuid;

use super::{AppendRequest, AppendResult, StoreError, validate};

/// How many appends one transaction takes at most.
const MAX_BATCH: usize = 512;

/// What a backend knows, under its append lock, about the ids and streams of a batch.
#[derive(Debug, Default)]
pub(crate) struct LogSnapshot {
    /// Position of the last committed event.
    pub head: u64,
    /// Already stored events among the batch's ids: id -> (stream, version, position).
    pub existing_ids: HashMap<Uuid, (String, u64, u64)>,
    /// Current version and last hash (hex) of the batch's streams that exist.
    pub stream_heads: HashMap<String, (u64, String)>,
}

/// The rows a batch commits, and each request's answer.
pub(crate) struct BatchPlan {
    pub rows: Vec<RecordedEvent>,
    /// New version and last hash of every stream the batch wrote.
    pub stream_heads: Vec<(String, u64, String)>,
    pub new_head: u64,
    pub results: Vec<Result<AppendResult, StoreError>>,
}

/// Decides every request of a batch against the snapshot, in order: a request whose ids are all
/// stored already is a retry and gets its first answer back; a request whose expected version
/// does not hold gets a conflict; the others get versions, positions and chained hashes.
pub(crate) fn plan_batch(
    requests: &[AppendRequest],
    snapshot: &LogSnapshot,
    now: DateTime<Utc>,
) -> BatchPlan {
    let mut heads: HashMap<String, (u64, String)> = snapshot.stream_heads.clone();
    let mut written: Vec<String> = Vec::new();
    let mut position = snapshot.head;
    let mut rows = Vec::new();
    let mut results = Vec::with_capacity(requests.len());
    let mut ids_in_batch: HashMap<Uuid, (String, u64, u64)> = HashMap::new();

    for request in requests {
        results.push(plan_one(
            request,
            snapshot,
            now,
            &mut heads,
            &mut written,
            &mut position,
            &mut rows,
            &mut ids_in_batch,
        ));
    }
    let stream_heads = written
        .into_iter()
        .map(|stream| {
            let (version, hash) = heads[&stream].clone();
            (stream, version, hash)
        })
        .collect();
    BatchPlan {
        rows,
        stream_heads,
        new_head: position,
        results,
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_one(
    request: &AppendRequest,
    snapshot: &LogSnapshot,
    now: DateTime<Utc>,
    heads: &mut HashMap<String, (u64, String)>,
    written: &mut Vec<String>,
    position: &mut u64,
    rows: &mut Vec<RecordedEvent>,
    ids_in_batch: &mut HashMap<Uuid, (String, u64, u64)>,
) -> Result<AppendResult, StoreError> {
    validate(request)?;
    // Ids stored already, or planned by an earlier request of this batch (the same append,
    // retried while the first try was still queued).
    let known = |id: &Uuid| {
        snapshot
            .existing_ids
            .get(id)
            .or_else(|| ids_in_batch.get(id))
    };
    let stored: Vec<_> = request.events.iter().filter_map(|e| known(&e.id)).collect();
    if !stored.is_empty() {
        let same_append = stored.len() == request.events.len()
            && stored
                .iter()
                .all(|(stream, _, _)| *stream == request.stream)
            && stored.windows(2).all(|w| w[1].1 == w[0].1 + 1);
        if !same_append {
            let id = request
                .events
                .iter()
                .find(|e| known(&e.id).is_some())
                .map(|e| e.id)
                .unwrap_or_default();
            return Err(StoreError::DuplicateEventId { id });
        }
        // Every id is known, in this stream, consecutively: a retry of an append that
        // committed (or is committing in this batch). Answer as the first time.
        let (first, last) = (stored[0], stored[stored.len() - 1]);
        return Ok(AppendResult {
            last_version: last.1,
            first_position: first.2,
            last_position: last.2,
        });
    }

    let (current, last_hash) = heads
        .get(&request.stream)
        .cloned()
        .unwrap_or_else(|| (0, hex::encode(GENESIS_HASH)));
    if !request.expected.admits(current) {
        return Err(StoreError::VersionConflict {
            stream: request.stream.clone(),
            expected: request.expected,
            current,
        });
    }
    let mut prev = decode_hash(&last_hash).ok_or_else(|| StoreError::Corrupt {
        position: 0,
        reason: format!("stream {} has an unreadable head hash", request.stream),
    })?;
    let first_position = *position + 1;
    let mut version = current;
    for event in &request.events {
        version += 1;
        *position += 1;
        ids_in_batch.insert(event.id, (request.stream.clone(), version, *position));
        let sealed = RecordedEvent::seal(
            event.clone(),
            &request.stream,
            version,
            *position,
            now,
            &prev,
        );
        prev = sealed.hash_bytes().unwrap_or(GENESIS_HASH);
        rows.push(sealed);
    }
    if !written.contains(&request.stream) {
        written.push(request.stream.clone());
    }
    heads.insert(request.stream.clone(), (version, hex::encode(prev)));
    Ok(AppendResult {
        last_version: version,
        first_position,
        last_position: *position,
    })
}

/// A backend's one transaction for a batch.
#[async_trait]
pub(crate) trait BatchWriter: Send + Sync + 'static {
    /// Commits the batch in one transaction; returns each request's answer and the new head.
    async fn commit_batch(
        &self,
        requests: &[AppendRequest],
    ) -> Result<(Vec<Result<AppendResult, StoreError>>, u64), StoreError>;
}

struct Pending {
    request: AppendRequest,
    reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

/// The writer task and its queue.
pub(crate) struct GroupCommit {
    queue: Mutex<Option<mpsc::Sender<Pending>>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    head: watch::Sender<u64>,
}

impl GroupCommit {
    /// Starts the writer task for a backend whose log currently ends at `head`.
    pub fn start(writer: Arc<dyn BatchWriter>, head: u64) -> GroupCommit {
        let (queue, mut inbox) = mpsc::channel::<Pending>(4 * MAX_BATCH);
        let (head_tx, _) = watch::channel(head);
        let head_for_task = head_tx.clone();
        let task = tokio::spawn(async move {
            let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
            while inbox.recv_many(&mut batch, MAX_BATCH).await > 0 {
                commit(&*writer, std::mem::take(&mut batch), &head_for_task).await;
            }
        });
        GroupCommit {
            queue: Mutex::new(Some(queue)),
            task: Mutex::new(Some(task)),
            head: head_tx,
        }
    }

    /// Queues one append and waits for its answer.
    pub async fn append(&self, request: AppendRequest) -> Result<AppendResult, StoreError> {
        let queue = self.queue.lock().await.clone().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        queue
            .send(Pending { request, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// The head position as this process last committed or learned it.
    pub fn head_watch(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// The sender of the head watch, for a task that learns of other processes' commits.
    pub fn head_sender(&self) -> watch::Sender<u64> {
        self.head.clone()
    }

    /// Stops taking appends and waits until the queued ones are committed.
    pub async fn close(&self) {
        self.queue.lock().await.take();
        if let Some(task) = self.task.lock().await.take() {
            let _ = task.await;
        }
    }
}

/// Raises the head (never lowers it): after a commit, or when another process committed.
pub(crate) fn advance(head: &watch::Sender<u64>, to: u64) {
    head.send_if_modified(|h| {
        if to > *h {
            *h = to;
            true
        } else {
            false
        }
    });
}

async fn commit(writer: &dyn BatchWriter, batch: Vec<Pending>, head: &watch::Sender<u64>) {
    let (requests, replies): (Vec<AppendRequest>, Vec<_>) =
        batch.into_iter().map(|p| (p.request, p.reply)).unzip();
    match writer.commit_batch(&requests).await {
        Ok((results, new_head)) => {
            advance(head, new_head);
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(error) if requests.len() > 1 => {
            // One request may have failed the whole transaction: retry each alone so the
            // others are not punished for it.
            tracing::warn!(%error, size = requests.len(), "batch append failed; retrying one by one");
            for (request, reply) in requests.iter().zip(replies) {
                let result = match writer.commit_batch(std::slice::from_ref(request)).await {
                    Ok((mut results, new_head)) => {
                        advance(head, new_head);
                        results.pop().unwrap_or(Err(StoreError::Closed))
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
        }
        Err(error) => {
            tracing::warn!(%error, "append failed");
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(error));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use livesurgery_domain::envelope::{Actor, NewEvent, verify_stream};

    use super::*;
    use crate::store::ExpectedVersion;

    fn event() -> NewEvent {
        NewEvent {
            id: Uuid::now_v7(),
            event_type: "TestEvent".into(),
            schema_version: 1,
            data: serde_json::json!({}),
            actor: Actor::system(),
            correlation_id: Uuid::nil(),
            causation_id: None,
        }
    }

    fn request(stream: &str, expected: ExpectedVersion, events: Vec<NewEvent>) -> AppendRequest {
        AppendRequest {
            stream: stream.into(),
            expected,
            events,
        }
    }

    #[test]
    fn appends_to_one_stream_in_one_batch_chain_and_are_decided_in_order() {
        let requests = [
            request("s", ExpectedVersion::NoStream, vec![event(), event()]),
            request("s", ExpectedVersion::Exact(2), vec![event()]),
            request("s", ExpectedVersion::Exact(2), vec![event()]),
            request("t", ExpectedVersion::Any, vec![event()]),
        ];
        let snapshot = LogSnapshot {
            head: 10,
            ..Default::default()
        };
        let plan = plan_batch(&requests, &snapshot, Utc::now());
        assert_eq!(plan.results[0].as_ref().unwrap().last_position, 12);
        assert_eq!(plan.results[1].as_ref().unwrap().last_version, 3);
        assert!(matches!(
            plan.results[2],
            Err(StoreError::VersionConflict { current: 3, .. })
        ));
        assert_eq!(plan.results[3].as_ref().unwrap().last_position, 14);
        assert_eq!(plan.new_head, 14);
        let s: Vec<_> = plan
            .rows
            .iter()
            .filter(|r| r.stream == "s")
            .cloned()
            .collect();
        assert_eq!(verify_stream(&s), Ok(()));
        assert_eq!(plan.stream_heads.len(), 2);
    }

    #[test]
    fn the_same_append_twice_in_one_batch_is_stored_once_and_answered_alike() {
        let events = vec![event(), event()];
        let requests = [
            request("s", ExpectedVersion::NoStream, events.clone()),
            request("s", ExpectedVersion::NoStream, events),
        ];
        let plan = plan_batch(&requests, &LogSnapshot::default(), Utc::now());
        assert_eq!(plan.rows.len(), 2);
        assert_eq!(
            plan.results[0].as_ref().unwrap(),
            plan.results[1].as_ref().unwrap()
        );
    }

    #[test]
    fn a_stream_continues_from_its_stored_head() {
        let first = plan_batch(
            &[request("s", ExpectedVersion::Any, vec![event()])],
            &LogSnapshot::default(),
            Utc::now(),
        );
        let (stream, version, hash) = first.stream_heads[0].clone();
        let snapshot = LogSnapshot {
            head: 1,
            existing_ids: HashMap::new(),
            stream_heads: [(stream, (version, hash))].into(),
        };
        let second = plan_batch(
            &[request("s", ExpectedVersion::Exact(1), vec![event()])],
            &snapshot,
            Utc::now(),
        );
        let chain = [first.rows, second.rows].concat();
        assert_eq!(verify_stream(&chain), Ok(()));
    }
}
