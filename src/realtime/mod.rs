//! The realtime gateway: `GET /v1/sessions/{id}/ws`.
//!
//! Every push comes from the log: the gateway is a listener of the process's one log
//! subscription (`app::dispatch`) and fans each session event out to that session's
//! connections, so a second server process on the same database pushes the same events to its
//! own clients. Handlers that write (REST or WebSocket) never push.
//!
//! A connection registers for its session's pushes *before* it reads its snapshot from the log,
//! then drops pushes at or below the snapshot's position: nothing between snapshot and live
//! events can be lost or doubled. Each connection has a bounded queue; the fan-out never
//! waits for a connection, and one whose queue is full is closed as a slow consumer.

pub mod connection;
pub mod protocol;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use livesurgery_domain::Event;
use livesurgery_domain::envelope::RecordedEvent;
use livesurgery_domain::events::{LeaveReason, PlacementReason, session_of_stream, session_stream};
use livesurgery_domain::session::{MediaPlacement, SessionState, evolve_recorded};
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use crate::app::dispatch::{Dispatched, LogListener};
use crate::app::lock;
use crate::store::{EventStore, read_stream_after};
use crate::telemetry::Metrics;

/// The handshake's Origin check, before the token is even looked at: a browser page may open
/// a session's WebSocket only from the server's own origin or an allowed one
/// (`--allowed-origins`), else 403 `origin_not_allowed` (cross-site WebSocket hijacking).
/// Clients that are no browser send no `Origin` and pass.
pub async fn check_origin(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::ResponseError;
    let origin = req
        .headers()
        .get(actix_web::http::header::ORIGIN)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let allowed = match (
        origin,
        req.app_data::<actix_web::web::Data<crate::app::App>>(),
    ) {
        (Some(origin), Some(app)) => {
            let info = req.connection_info();
            let own = format!("{}://{}", info.scheme(), info.host());
            app.settings.origin_allowed(&origin, &own)
        }
        _ => true,
    };
    if !allowed {
        let refusal = crate::app::AppError::new(
            crate::app::ErrorKind::Forbidden,
            "origin_not_allowed",
            "this origin may not open the session's WebSocket (see LIVESURGERY_ALLOWED_ORIGINS)",
        );
        return Ok(req.into_response(refusal.error_response()));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// One event pushed to a session's connections, serialised once for all of them.
#[derive(Debug, Clone)]
pub struct Push {
    pub position: u64,
    pub recorded_at: DateTime<Utc>,
    /// The event's correlation id and type, for the push's trace span.
    pub correlation_id: Uuid,
    pub event_type: Arc<str>,
    /// The `event` message.
    pub text: bytestring::ByteString,
    /// For a `ParticipantLeft`: whose, and whether it was a kick.
    pub participant_left: Option<(Uuid, bool)>,
    /// A `SessionEnded` or `SessionCancelled`: the connections close after it.
    pub ends_session: bool,
    /// A `MediaPlaced`: where, and why; a `media.placed` message follows the event.
    pub placed: Option<Arc<(MediaPlacement, PlacementReason)>>,
}

impl Push {
    fn of(dispatched: &Dispatched) -> Push {
        let event = &dispatched.recorded;
        let typed = dispatched.event();
        let participant_left = match typed {
            Some(Event::ParticipantLeft(left)) => {
                Some((left.participant_id, left.reason == LeaveReason::Kicked))
            }
            _ => None,
        };
        Push {
            position: event.position,
            recorded_at: event.recorded_at,
            correlation_id: event.correlation_id,
            event_type: Arc::from(event.event_type.as_str()),
            text: bytestring::ByteString::from(protocol::event_text(event)),
            participant_left,
            ends_session: matches!(
                typed,
                Some(Event::SessionEnded(_) | Event::SessionCancelled(_))
            ),
            placed: match typed {
                Some(Event::MediaPlaced(e)) => Some(Arc::new((
                    MediaPlacement {
                        node_id: e.node_id.clone(),
                        url: e.url.clone(),
                    },
                    e.reason,
                ))),
                _ => None,
            },
        }
    }

    /// The push of an event read back from the log (a resume's replay).
    pub fn replayed(event: RecordedEvent) -> Push {
        Push::of(&Dispatched::new(event))
    }
}

/// Why the gateway closes a connection from outside it.
#[derive(Debug, Default)]
pub struct Signal {
    /// A close code from [`protocol::close`] or 1001, 0 while none.
    code: AtomicU16,
    notify: Notify,
}

impl Signal {
    fn raise(&self, code: u16) {
        // The first reason stands.
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.notify.notify_one();
    }

    /// The close code raised, if any.
    pub fn code(&self) -> Option<u16> {
        match self.code.load(Ordering::Acquire) {
            0 => None,
            code => Some(code),
        }
    }

    /// Waits until a close code is raised.
    pub async fn raised(&self) -> u16 {
        loop {
            if let Some(code) = self.code() {
                return code;
            }
            self.notify.notified().await;
        }
    }
}

struct Client {
    id: u64,
    participant_id: Uuid,
    tx: mpsc::Sender<Push>,
    signal: Arc<Signal>,
}

/// The session's state as of a log position, kept between connections so that a connect reads
/// only the events appended since.
#[derive(Default)]
struct Snapshot {
    state: SessionState,
    /// The stream version and log position of the last event folded.
    version: u64,
    position: u64,
    /// (version, position) of the last events folded, oldest first: where a resume starts.
    recent: VecDeque<(u64, u64)>,
}

/// A session's state for a connection: the welcome's snapshot.
pub struct SnapshotAt {
    pub state: SessionState,
    pub position: u64,
}

/// What a `resume` gets.
pub enum Resume {
    /// The events after the client's position, in order, and the position they reach.
    Replay {
        events: Vec<RecordedEvent>,
        position: u64,
    },
    /// Too far behind (more than the resume window).
    TooFarBehind,
    /// A position ahead of everything the session has.
    UnknownPosition,
}

/// Streams whose snapshots are kept; past this the cache starts over.
const MAX_SNAPSHOTS: usize = 10_000;

/// The fan-out of the log to WebSocket connections.
pub struct Gateway {
    store: Arc<dyn EventStore>,
    pub metrics: Arc<Metrics>,
    clients: Mutex<HashMap<Uuid, Vec<Client>>>,
    snapshots: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<Snapshot>>>>,
    next_client: AtomicU64,
    resume_window: u64,
    /// Presence decisions (join on connect, leave on close) of one participant, one at a
    /// time, striped by participant id.
    presence_locks: Box<[tokio::sync::Mutex<()>]>,
}

/// A connection's registration; dropping it unregisters.
pub struct Registration {
    gateway: Arc<Gateway>,
    session_id: Uuid,
    id: u64,
    pub pushes: mpsc::Receiver<Push>,
    pub signal: Arc<Signal>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut clients = lock(&self.gateway.clients);
        if let Some(list) = clients.get_mut(&self.session_id) {
            list.retain(|c| c.id != self.id);
            if list.is_empty() {
                clients.remove(&self.session_id);
            }
        }
    }
}

impl LogListener for Gateway {
    /// Hands each session event to its session's connections, without waiting for any.
    fn on_events(&self, batch: &[Dispatched]) {
        let mut clients = lock(&self.clients);
        for event in batch {
            let Some(session_id) = session_of_stream(&event.recorded.stream) else {
                continue;
            };
            let Some(list) = clients.get_mut(&session_id) else {
                continue;
            };
            let push = Push::of(event);
            list.retain(|client| match client.tx.try_send(push.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.metrics.ws_slow_consumers.inc();
                    client.signal.raise(protocol::close::SLOW_CONSUMER);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
            if list.is_empty() {
                clients.remove(&session_id);
            }
        }
    }
}

impl Gateway {
    /// The gateway over this log; it pushes what the log dispatcher hands it (see
    /// [`LogListener`]).
    pub fn new(
        store: Arc<dyn EventStore>,
        metrics: Arc<Metrics>,
        resume_window: u64,
    ) -> Arc<Gateway> {
        Arc::new(Gateway {
            store,
            metrics,
            clients: Mutex::new(HashMap::new()),
            snapshots: Mutex::new(HashMap::new()),
            next_client: AtomicU64::new(1),
            resume_window: resume_window.max(1),
            presence_locks: (0..256).map(|_| tokio::sync::Mutex::new(())).collect(),
        })
    }

    /// Registers a connection for its session's pushes. Another connection of the same
    /// participant on this server is closed (`replaced`).
    pub fn register(
        self: &Arc<Self>,
        session_id: Uuid,
        participant_id: Uuid,
        queue: usize,
    ) -> Registration {
        let (tx, pushes) = mpsc::channel(queue.max(1));
        let signal = Arc::new(Signal::default());
        let id = self.next_client.fetch_add(1, Ordering::Relaxed);
        let mut clients = lock(&self.clients);
        let list = clients.entry(session_id).or_default();
        list.retain(|other| {
            if other.participant_id == participant_id {
                other.signal.raise(protocol::close::REPLACED);
                false
            } else {
                true
            }
        });
        list.push(Client {
            id,
            participant_id,
            tx,
            signal: signal.clone(),
        });
        Registration {
            gateway: self.clone(),
            session_id,
            id,
            pushes,
            signal,
        }
    }

    /// Holds the presence lock of a participant: a connection's join (on connect) and another
    /// connection's leave (on close) of the same participant never interleave.
    pub async fn presence_lock(&self, participant_id: Uuid) -> tokio::sync::MutexGuard<'_, ()> {
        let stripe = (participant_id.as_u128() % self.presence_locks.len() as u128) as usize;
        self.presence_locks[stripe].lock().await
    }

    /// Whether a connection of this participant is registered on this server.
    pub fn is_connected(&self, session_id: Uuid, participant_id: Uuid) -> bool {
        lock(&self.clients)
            .get(&session_id)
            .is_some_and(|list| list.iter().any(|c| c.participant_id == participant_id))
    }

    /// Asks every connection to close (server shutdown: code 1001).
    pub fn close_all(&self) {
        for list in lock(&self.clients).values() {
            for client in list {
                client.signal.raise(1001);
            }
        }
    }

    fn snapshot_slot(&self, session_id: Uuid) -> Arc<tokio::sync::Mutex<Snapshot>> {
        let mut snapshots = lock(&self.snapshots);
        if snapshots.len() >= MAX_SNAPSHOTS && !snapshots.contains_key(&session_id) {
            snapshots.clear();
        }
        snapshots.entry(session_id).or_default().clone()
    }

    /// Brings a kept snapshot up to the log's end for its stream.
    async fn catch_up(&self, session_id: Uuid, snapshot: &mut Snapshot) -> anyhow::Result<()> {
        let stream = session_stream(session_id);
        let events = read_stream_after(&*self.store, &stream, snapshot.version).await?;
        for recorded in &events {
            let event = Event::from_stored(
                &recorded.event_type,
                recorded.schema_version,
                &recorded.data,
            )?;
            snapshot.state = evolve_recorded(
                std::mem::take(&mut snapshot.state),
                &event,
                recorded.recorded_at,
            );
            snapshot.version = recorded.version;
            snapshot.position = recorded.position;
            snapshot
                .recent
                .push_back((recorded.version, recorded.position));
            if snapshot.recent.len() as u64 > self.resume_window + 1 {
                snapshot.recent.pop_front();
            }
        }
        Ok(())
    }

    /// The session as the log has it now (`state.status` is `None` for no such session).
    pub async fn snapshot(&self, session_id: Uuid) -> anyhow::Result<SnapshotAt> {
        let slot = self.snapshot_slot(session_id);
        let mut snapshot = slot.lock().await;
        self.catch_up(session_id, &mut snapshot).await?;
        Ok(SnapshotAt {
            state: snapshot.state.clone(),
            position: snapshot.position,
        })
    }

    /// The events of the session after `after_position`, if within the resume window.
    pub async fn resume(&self, session_id: Uuid, after_position: u64) -> anyhow::Result<Resume> {
        let slot = self.snapshot_slot(session_id);
        let mut snapshot = slot.lock().await;
        self.catch_up(session_id, &mut snapshot).await?;
        if after_position > snapshot.position {
            return Ok(Resume::UnknownPosition);
        }
        if after_position == snapshot.position {
            return Ok(Resume::Replay {
                events: Vec::new(),
                position: snapshot.position,
            });
        }
        let first = snapshot
            .recent
            .iter()
            .position(|(_, position)| *position > after_position);
        let from_version = match (first, snapshot.recent.front()) {
            // The oldest event kept is itself after the client's position: unless it is the
            // stream's first, some event between may be missing from what is kept.
            (Some(0), Some((version, _))) if *version > 1 => return Ok(Resume::TooFarBehind),
            (Some(i), _) => snapshot.recent[i].0,
            (None, _) => return Ok(Resume::UnknownPosition),
        };
        let count = snapshot.version - from_version + 1;
        if count > self.resume_window {
            return Ok(Resume::TooFarBehind);
        }
        let stream = session_stream(session_id);
        let events = self
            .store
            .read_stream(&stream, from_version, count as usize)
            .await?;
        let events: Vec<RecordedEvent> = events
            .into_iter()
            .filter(|e| e.position > after_position && e.position <= snapshot.position)
            .collect();
        Ok(Resume::Replay {
            events,
            position: snapshot.position,
        })
    }
}
