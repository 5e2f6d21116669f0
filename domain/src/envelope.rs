//! The event envelope and the per-stream SHA-256 hash chain.
//!
//! Every event in the log is wrapped in a [`RecordedEvent`]. Its `hash` is
//! `SHA-256(prev_hash || canonical_bytes(envelope without hash))`, chained per stream; the first
//! event of a stream chains from 32 zero bytes ([`GENESIS_HASH`]).
//!
//! The global `position` is deliberately *not* part of the hashed bytes: it is assigned by the
//! log at commit time (KurrentDB assigns it on the server), while everything hashed is known
//! before the append. The per-stream `version` is hashed, so reordering or removing an event
//! inside a stream breaks the chain.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The `prev_hash` of the first event of every stream: 32 zero bytes.
pub const GENESIS_HASH: [u8; 32] = [0u8; 32];

/// Who caused an event. `role` is the organisation role (`admin`, `surgeon`, …) or `system`
/// for events the server appends on its own (time-outs, the SFU).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub role: Option<String>,
    pub participant_id: Option<Uuid>,
}

impl Actor {
    /// The actor for events the server appends by itself.
    pub fn system() -> Self {
        Actor {
            user_id: None,
            role: Some("system".to_owned()),
            participant_id: None,
        }
    }
}

/// An event about to be appended: everything but what the log assigns (stream version, global
/// position, time, hashes). The `id` is chosen by the writer so that a retried append is
/// recognised and not stored twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub data: serde_json::Value,
    pub actor: Actor,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
}

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub id: Uuid,
    pub stream: String,
    /// Version within the stream, from 1.
    pub version: u64,
    /// Global position in the log, from 1, strictly increasing and gap-free.
    pub position: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: u32,
    pub data: serde_json::Value,
    pub actor: Actor,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
    /// Hex of the previous event's hash in this stream (64 zeros for the first).
    pub prev_hash: String,
    /// Hex of this event's hash.
    pub hash: String,
}

impl RecordedEvent {
    /// Seals a new event into its stream: assigns version, time and the chained hash.
    /// `recorded_at` is truncated to microseconds, the precision every backend stores.
    pub fn seal(
        new: NewEvent,
        stream: &str,
        version: u64,
        position: u64,
        recorded_at: DateTime<Utc>,
        prev_hash: &[u8; 32],
    ) -> RecordedEvent {
        let mut event = RecordedEvent {
            id: new.id,
            stream: stream.to_owned(),
            version,
            position,
            event_type: new.event_type,
            schema_version: new.schema_version,
            data: new.data,
            actor: new.actor,
            correlation_id: new.correlation_id,
            causation_id: new.causation_id,
            recorded_at: recorded_at.trunc_subsecs(6),
            prev_hash: hex::encode(prev_hash),
            hash: String::new(),
        };
        event.hash = hex::encode(event.compute_hash());
        event
    }

    /// Recomputes this event's hash from its stored `prev_hash` and fields.
    pub fn compute_hash(&self) -> [u8; 32] {
        let prev = decode_hash(&self.prev_hash).unwrap_or([0xff; 32]);
        let mut hasher = Sha256::new();
        hasher.update(prev);
        hasher.update(self.canonical_bytes());
        hasher.finalize().into()
    }

    /// The bytes that are hashed: the envelope without `hash` and `position`, as JSON with
    /// object keys sorted at every depth and no insignificant whitespace.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let envelope = serde_json::json!({
            "id": self.id,
            "stream": self.stream,
            "version": self.version,
            "type": self.event_type,
            "schema_version": self.schema_version,
            "data": self.data,
            "actor": self.actor,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "recorded_at": self.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "prev_hash": self.prev_hash,
        });
        let mut out = Vec::with_capacity(256);
        write_canonical(&envelope, &mut out);
        out
    }

    /// This event's hash as bytes, for chaining the next event.
    pub fn hash_bytes(&self) -> Option<[u8; 32]> {
        decode_hash(&self.hash)
    }
}

/// Parses a 64-character hex hash.
pub fn decode_hash(hex_str: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_str).ok()?;
    bytes.try_into().ok()
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Serialising a string cannot fail.
                out.extend(serde_json::to_vec(key).unwrap_or_default());
                out.push(b':');
                write_canonical(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).unwrap_or_default()),
    }
}

/// Where a stream's hash chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    pub stream: String,
    pub version: u64,
    pub position: u64,
    pub event_id: Uuid,
    pub reason: String,
}

/// Checks one stream's events (in version order) against the chain; returns the first broken
/// link, if any: a stored hash that does not match the recomputed one, a `prev_hash` that is not
/// the previous event's hash, or a version that does not follow the previous one.
pub fn verify_stream(events: &[RecordedEvent]) -> Result<(), BrokenLink> {
    let mut expected_prev = hex::encode(GENESIS_HASH);
    for (expected_version, event) in (1u64..).zip(events) {
        let broken = |reason: String| BrokenLink {
            stream: event.stream.clone(),
            version: event.version,
            position: event.position,
            event_id: event.id,
            reason,
        };
        if event.version != expected_version {
            return Err(broken(format!(
                "version {} follows version {}",
                event.version,
                expected_version - 1
            )));
        }
        if event.prev_hash != expected_prev {
            return Err(broken(
                "prev_hash is not the hash of the previous event".into(),
            ));
        }
        let recomputed = hex::encode(event.compute_hash());
        if recomputed != event.hash {
            return Err(broken(format!(
                "stored hash {} does not match recomputed {}",
                event.hash, recomputed
            )));
        }
        expected_prev = event.hash.clone();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn new_event(n: u8) -> NewEvent {
        NewEvent {
            id: Uuid::from_bytes([n; 16]),
            event_type: "SessionCreated".into(),
            schema_version: 1,
            data: serde_json::json!({"b": 1, "a": {"z": [1, 2], "y": null}}),
            actor: Actor::system(),
            correlation_id: Uuid::nil(),
            causation_id: None,
        }
    }

    fn chain(len: u8) -> Vec<RecordedEvent> {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut prev = GENESIS_HASH;
        (1..=len)
            .map(|n| {
                let e =
                    RecordedEvent::seal(new_event(n), "session-x", n as u64, n as u64, at, &prev);
                prev = e.hash_bytes().unwrap();
                e
            })
            .collect()
    }

    #[test]
    fn canonical_bytes_sort_keys_at_every_depth() {
        let e = &chain(1)[0];
        let text = String::from_utf8(e.canonical_bytes()).unwrap();
        assert!(text.starts_with(r#"{"actor":{"participant_id":null,"role":"system","user_id":null},"causation_id":null,"correlation_id""#), "{text}");
        assert!(
            text.contains(r#""data":{"a":{"y":null,"z":[1,2]},"b":1}"#),
            "{text}"
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_stream(&chain(5)), Ok(()));
    }

    #[test]
    fn an_edited_event_is_named_as_the_first_broken_link() {
        let mut events = chain(5);
        events[2].data = serde_json::json!({"b": 2});
        let broken = verify_stream(&events).unwrap_err();
        assert_eq!(broken.version, 3);
    }

    #[test]
    fn a_removed_event_breaks_the_chain() {
        let mut events = chain(5);
        events.remove(1);
        assert_eq!(verify_stream(&events).unwrap_err().version, 3);
    }

    #[test]
    fn position_is_not_hashed() {
        let mut events = chain(2);
        events[1].position = 99;
        assert_eq!(verify_stream(&events), Ok(()));
    }
}
