//! Audit verification: recompute every stream's hash chain and name the first broken link;
//! signed checkpoints of the log's head ([`checkpoint`]); audit records for export
//! ([`export`]).

use livesurgery_domain::envelope::{BrokenLink, verify_stream};
use serde::Serialize;

use crate::store::{EventStore, StoreError, read_whole_stream};

pub mod checkpoint;
pub mod export;

/// What `audit verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub streams_checked: u64,
    pub events_checked: u64,
    /// The first broken link, in stream-name order; `None` when every chain holds.
    pub broken: Option<BrokenLink>,
    /// The log checked against its signed checkpoints (`audit verify` of the whole log, when
    /// a checkpoint file exists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<checkpoint::CheckpointReport>,
}

impl VerifyReport {
    /// True when every chain holds and the log matches every checkpoint checked.
    pub fn ok(&self) -> bool {
        self.broken.is_none() && self.checkpoints.as_ref().is_none_or(|c| c.broken.is_none())
    }
}

/// Verifies one stream (`Some(name)`) or every stream of the log.
pub async fn verify(
    store: &dyn EventStore,
    stream: Option<&str>,
) -> Result<VerifyReport, StoreError> {
    let streams = match stream {
        Some(name) => vec![name.to_owned()],
        None => store.stream_names("").await?,
    };
    let mut report = VerifyReport {
        streams_checked: 0,
        events_checked: 0,
        broken: None,
        checkpoints: None,
    };
    for name in streams {
        let events = match read_whole_stream(store, &name).await {
            Ok(events) => events,
            // A row that no longer parses was tampered with (or damaged): that is a broken link.
            Err(StoreError::Corrupt { position, reason }) => {
                report.broken = Some(BrokenLink {
                    stream: name,
                    version: 0,
                    position,
                    event_id: uuid::Uuid::nil(),
                    reason: format!("unreadable row: {reason}"),
                });
                return Ok(report);
            }
            Err(other) => return Err(other),
        };
        report.streams_checked += 1;
        report.events_checked += events.len() as u64;
        if let Err(broken) = verify_stream(&events) {
            report.broken = Some(broken);
            return Ok(report);
        }
        // The chain cannot show its own last events removed; the head recorded at append time,
        // kept in another table, can (unless that was edited too).
        let last = events.last().map(|e| (e.version, e.hash.clone()));
        let recorded = store.stream_head(&name).await?;
        if let Some((version, hash)) = recorded.filter(|head| Some(head) != last.as_ref()) {
            let stored = last.as_ref().map_or(0, |(v, _)| *v);
            report.broken = Some(BrokenLink {
                stream: name,
                version,
                position: events.last().map_or(0, |e| e.position),
                event_id: events.last().map_or(uuid::Uuid::nil(), |e| e.id),
                reason: format!(
                    "the stream's head was recorded as version {version} (hash {hash}) but its \
                     last stored event is version {stored}: events were removed or replaced"
                ),
            });
            return Ok(report);
        }
    }
    Ok(report)
}
