//! The `archives` projection: every archive (one recorded source of one recording) with its
//! status, size, playable object and retention, and the segments stored for it.
//!
//! Folded from `ArchiveOpened`, `SegmentStored`, `ArchiveClosed`, `ArchiveFinalised`,
//! `ArchiveRetentionChanged` and `ArchiveExpired`. A segment is counted once per object key,
//! however often the recorder reports it (its upload queue may report an object again after a
//! crash); segments reported after the archive was finalised are kept but change nothing on
//! it, so a rebuild, which forgets the segments of finalised archives between batches, folds
//! the same rows as the live path.

mod queries;
mod rows;

use std::collections::{BTreeSet, HashMap};

use livesurgery_domain::events::{ArchiveStatus, Event};
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::db::{Dialect, load_by_keys};
use crate::error::ProjectionError;
use crate::fold::{Parsed, Write, rows_of};
use crate::schema::TableDef;
use rows::{ARCHIVE_COLUMNS, SEGMENT_COLUMNS};

pub use queries::ArchiveFilter;
pub use rows::{ArchiveRow, SegmentRow};

pub(crate) const TABLES: &[TableDef] = &[
    TableDef {
        base: "rm_archives",
        columns: "archive_id TEXT NOT NULL, session_id TEXT NOT NULL, recording_id TEXT NOT NULL, \
            source TEXT NOT NULL, status TEXT NOT NULL, started_at {int} NOT NULL, \
            ended_at {int}, duration_ms {int} NOT NULL, bytes {int} NOT NULL, \
            segments {int} NOT NULL, object_key TEXT, content_type TEXT, sha256 TEXT, \
            expires_at {int} NOT NULL, legal_hold {int} NOT NULL, reason TEXT, \
            opened_position {int} NOT NULL, updated_at {int} NOT NULL, position {int} NOT NULL",
        primary_key: "archive_id",
        without_rowid: true,
        indexes: &[
            // A session's archives in recording order, by cursor.
            ("session", "session_id, opened_position"),
            // The lifecycle task: expired, not on hold, recording over.
            ("expiry", "expires_at, status, legal_hold"),
            // Restart recovery: archives left `recording` or `processing`.
            ("status", "status, opened_position"),
        ],
    },
    TableDef {
        base: "rm_archive_segments",
        columns: "object_key TEXT NOT NULL, archive_id TEXT NOT NULL, seq {int} NOT NULL, \
            bytes {int} NOT NULL, sha256 TEXT NOT NULL, start_ms {int} NOT NULL, \
            duration_ms {int} NOT NULL, position {int} NOT NULL",
        primary_key: "object_key",
        without_rowid: true,
        indexes: &[("archive", "archive_id, seq")],
    },
];

/// The rows a batch folds over, keyed as in their tables.
#[derive(Debug, Default)]
pub(crate) struct State {
    archives: HashMap<Uuid, ArchiveRow>,
    segments: HashMap<String, SegmentRow>,
}

/// Forgets, between the batches of a rebuild, the segments of finalised archives: nothing
/// reported about them can change their archive any more.
pub(crate) fn compact(state: &mut State) {
    let archives = &state.archives;
    state.segments.retain(|_, segment| {
        archives
            .get(&segment.archive_id)
            .is_some_and(|a| !a.is_final())
    });
}

/// The archive an event of this projection is about.
fn archive_of(event: &Event) -> Option<Uuid> {
    Some(match event {
        Event::ArchiveOpened(e) => e.archive_id,
        Event::SegmentStored(e) => e.archive_id,
        Event::ArchiveClosed(e) => e.archive_id,
        Event::ArchiveFinalised(e) => e.archive_id,
        Event::ArchiveRetentionChanged(e) => e.archive_id,
        Event::ArchiveExpired(e) => e.archive_id,
        _ => return None,
    })
}

/// Loads into `state` the rows of the tables with `suffix` that `items` touch.
pub(crate) async fn load(
    conn: &mut AnyConnection,
    dialect: Dialect,
    suffix: &str,
    items: &[Parsed<'_>],
    state: &mut State,
) -> Result<(), ProjectionError> {
    let mut archive_ids = BTreeSet::new();
    let mut object_keys = BTreeSet::new();
    for event in items.iter().filter_map(|i| i.event.as_ref()) {
        if let Some(archive_id) = archive_of(event) {
            archive_ids.insert(archive_id.to_string());
        }
        if let Event::SegmentStored(e) = event {
            object_keys.insert(e.object_key.clone());
        }
    }
    if archive_ids.is_empty() {
        return Ok(());
    }
    let archives_table = TABLES[0].name(suffix);
    let segments_table = TABLES[1].name(suffix);
    let archive_ids: Vec<String> = archive_ids.into_iter().collect();
    for row in load_by_keys(
        conn,
        dialect,
        &format!("SELECT * FROM {archives_table} WHERE"),
        "archive_id",
        &archive_ids,
        "",
    )
    .await?
    {
        let row = ArchiveRow::from_row(&row)?;
        state.archives.insert(row.archive_id, row);
    }
    let object_keys: Vec<String> = object_keys.into_iter().collect();
    for row in load_by_keys(
        conn,
        dialect,
        &format!("SELECT * FROM {segments_table} WHERE"),
        "object_key",
        &object_keys,
        "",
    )
    .await?
    {
        let row = SegmentRow::from_row(&row)?;
        state.segments.insert(row.object_key.clone(), row);
    }
    Ok(())
}

/// Folds `items` over `state`; returns the writes of every row that changed.
pub(crate) fn fold(state: &mut State, items: &[Parsed<'_>]) -> Vec<Write> {
    let State { archives, segments } = state;
    let mut dirty_archives = BTreeSet::new();
    let mut dirty_segments = BTreeSet::new();
    for item in items {
        let Some(event) = &item.event else { continue };
        let Some(archive_id) = archive_of(event) else {
            continue;
        };
        let at = item.ev.recorded_at;
        let position = item.ev.position;
        if let Event::ArchiveOpened(e) = event {
            archives.insert(
                e.archive_id,
                ArchiveRow {
                    archive_id: e.archive_id,
                    session_id: e.session_id,
                    recording_id: e.recording_id,
                    source: e.source.clone(),
                    status: ArchiveStatus::Recording,
                    started_at: at,
                    ended_at: None,
                    duration_ms: 0,
                    bytes: 0,
                    segments: 0,
                    object_key: None,
                    content_type: None,
                    sha256: None,
                    expires_at: e.expires_at,
                    legal_hold: false,
                    reason: None,
                    opened_position: position,
                    updated_at: at,
                    position,
                },
            );
            dirty_archives.insert(e.archive_id);
            continue;
        }
        // Every other event is about an opened archive; one the log never opened is ignored.
        let Some(archive) = archives.get_mut(&archive_id) else {
            continue;
        };
        match event {
            Event::SegmentStored(e) => {
                let known = segments.get(&e.object_key).map(|s| s.bytes);
                segments.insert(
                    e.object_key.clone(),
                    SegmentRow {
                        object_key: e.object_key.clone(),
                        archive_id: e.archive_id,
                        seq: e.seq,
                        bytes: e.bytes,
                        sha256: e.sha256.clone(),
                        start_ms: e.start_ms,
                        duration_ms: e.duration_ms,
                        position,
                    },
                );
                dirty_segments.insert(e.object_key.clone());
                if archive.is_final() {
                    continue;
                }
                match known {
                    // Reported again: the object was stored again, perhaps with other bytes.
                    Some(old) => archive.bytes = archive.bytes.saturating_sub(old) + e.bytes,
                    None => {
                        archive.bytes += e.bytes;
                        archive.segments += 1;
                    }
                }
                archive.duration_ms = archive
                    .duration_ms
                    .max(e.start_ms.saturating_add(e.duration_ms));
            }
            Event::ArchiveClosed(_) => {
                archive.status = ArchiveStatus::Processing;
                archive.ended_at = Some(at);
            }
            Event::ArchiveFinalised(e) => {
                archive.status = e.status;
                archive.reason = e.reason.clone();
                if e.object_key.is_some() {
                    archive.object_key = e.object_key.clone();
                    archive.content_type = e.content_type.clone();
                    archive.sha256 = e.sha256.clone();
                    archive.bytes = e.bytes;
                    archive.duration_ms = e.duration_ms;
                }
            }
            Event::ArchiveRetentionChanged(e) => {
                archive.expires_at = e.expires_at;
                archive.legal_hold = e.legal_hold;
            }
            Event::ArchiveExpired(_) => archive.status = ArchiveStatus::Expired,
            _ => continue,
        }
        archive.updated_at = at;
        archive.position = position;
        dirty_archives.insert(archive_id);
    }
    vec![
        Write {
            table: &TABLES[0],
            columns: ARCHIVE_COLUMNS,
            keys: Some(&["archive_id"]),
            rows: rows_of(&dirty_archives, archives, ArchiveRow::values),
        },
        Write {
            table: &TABLES[1],
            columns: SEGMENT_COLUMNS,
            keys: Some(&["object_key"]),
            rows: rows_of(&dirty_segments, segments, SegmentRow::values),
        },
    ]
}
