//! A sealed event log builder and an in-memory event source.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use livesurgery_domain::envelope::{Actor, GENESIS_HASH, NewEvent, RecordedEvent};
use livesurgery_domain::events::*;
use livesurgery_projections::{BoxError, EventSource};
use uuid::Uuid;

/// Builds a valid log: per-stream versions and hash chain, global positions from 1, time
/// advancing 1 ms per event.
pub struct Log {
    pub events: Vec<RecordedEvent>,
    streams: HashMap<String, (u64, [u8; 32])>,
    now: DateTime<Utc>,
}

impl Default for Log {
    fn default() -> Self {
        Log::new()
    }
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
}

pub fn stream_of(event: &Event) -> String {
    match event {
        Event::AccessDenied(AccessDenied { user_id, .. })
        | Event::AuditTrailRead(AuditTrailRead { user_id, .. })
        | Event::RefreshTokenReused(RefreshTokenReused { user_id, .. })
        | Event::SignInThrottled(SignInThrottled { user_id, .. }) => {
            return access_stream(*user_id);
        }
        _ => {}
    }
    let data = event.data();
    if let Some(id) = data.get("session_id").and_then(|v| v.as_str()) {
        return format!("session-{id}");
    }
    let id = data["user_id"].as_str().unwrap();
    format!("user-{id}")
}

pub fn actor(user_id: Uuid, role: &str) -> Actor {
    Actor {
        user_id: Some(user_id),
        role: Some(role.to_owned()),
        participant_id: None,
    }
}

impl Log {
    pub fn new() -> Log {
        Log {
            events: Vec::new(),
            streams: HashMap::new(),
            now: t0(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    pub fn push(&mut self, event: Event, actor: Actor) -> RecordedEvent {
        let stream = stream_of(&event);
        let new = event.into_new_event(Uuid::now_v7(), actor, Uuid::new_v4(), None);
        self.push_new(&stream, new)
    }

    /// An event of a type this build does not know (as a later server version would append).
    pub fn push_unknown(&mut self, stream: &str, event_type: &str, data: serde_json::Value) {
        let new = NewEvent {
            id: Uuid::now_v7(),
            event_type: event_type.to_owned(),
            schema_version: 1,
            data,
            actor: Actor::system(),
            correlation_id: Uuid::new_v4(),
            causation_id: None,
        };
        self.push_new(stream, new);
    }

    fn push_new(&mut self, stream: &str, new: NewEvent) -> RecordedEvent {
        self.now += Duration::milliseconds(1);
        let (version, prev) = self
            .streams
            .get(stream)
            .copied()
            .unwrap_or((0, GENESIS_HASH));
        let position = self.events.len() as u64 + 1;
        let event = RecordedEvent::seal(new, stream, version + 1, position, self.now, &prev);
        self.streams.insert(
            stream.to_owned(),
            (version + 1, event.hash_bytes().unwrap()),
        );
        self.events.push(event.clone());
        event
    }
}

/// An event source over a vector, that can grow while a rebuild reads it.
#[derive(Default)]
pub struct VecSource {
    pub events: Mutex<Vec<RecordedEvent>>,
}

impl VecSource {
    pub fn new(events: Vec<RecordedEvent>) -> VecSource {
        VecSource {
            events: Mutex::new(events),
        }
    }

    pub fn append(&self, more: &[RecordedEvent]) {
        self.events.lock().unwrap().extend_from_slice(more);
    }
}

#[async_trait]
impl EventSource for VecSource {
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, BoxError> {
        let events = self.events.lock().unwrap();
        let start = events.partition_point(|e| e.position <= after);
        Ok(events[start..].iter().take(limit).cloned().collect())
    }

    async fn head_position(&self) -> Result<u64, BoxError> {
        Ok(self.events.lock().unwrap().last().map_or(0, |e| e.position))
    }
}
