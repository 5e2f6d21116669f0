//! The projections as one enum, and the batch they fold: events parsed once, shared by all.

use livesurgery_domain::envelope::RecordedEvent;
use livesurgery_domain::events::Event;
use sqlx::AnyConnection;

use crate::db::{Dialect, OnConflict, Val, write_rows};
use crate::error::ProjectionError;
use crate::schema::TableDef;
use crate::{archives, audit, layout, presence, sessions, users};

/// An event of the batch with its domain reading; `None` when this build cannot read its type
/// or schema version (it is skipped by the folds, but still indexed by the audit).
pub(crate) struct Parsed<'a> {
    pub ev: &'a RecordedEvent,
    pub event: Option<Event>,
}

impl<'a> Parsed<'a> {
    pub fn parse(events: &'a [RecordedEvent]) -> Vec<Parsed<'a>> {
        Parsed::zip(events, parse_all(events))
    }

    /// Pairs events with their readings from [`parse_all`].
    pub fn zip(events: &'a [RecordedEvent], parsed: Vec<Option<Event>>) -> Vec<Parsed<'a>> {
        events
            .iter()
            .zip(parsed)
            .map(|(ev, event)| Parsed { ev, event })
            .collect()
    }
}

/// The domain reading of every event (`None` where this build cannot read it).
pub(crate) fn parse_all(events: &[RecordedEvent]) -> Vec<Option<Event>> {
    events
        .iter()
        .map(|ev| Event::from_stored(&ev.event_type, ev.schema_version, &ev.data).ok())
        .collect()
}

/// Every projection. The order is the lock order: transactions that lock several checkpoint
/// rows lock them in this order, so two of them cannot deadlock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Projection {
    Archives,
    Audit,
    Layout,
    Presence,
    Sessions,
    Users,
}

impl Projection {
    pub const ALL: [Projection; 6] = [
        Projection::Archives,
        Projection::Audit,
        Projection::Layout,
        Projection::Presence,
        Projection::Sessions,
        Projection::Users,
    ];

    pub const NAMES: [&'static str; 6] = [
        "archives", "audit", "layout", "presence", "sessions", "users",
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn from_name(name: &str) -> Result<Projection, ProjectionError> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| ProjectionError::UnknownProjection(name.to_owned()))
    }

    pub fn tables(self) -> &'static [TableDef] {
        match self {
            Projection::Archives => archives::TABLES,
            Projection::Audit => audit::TABLES,
            Projection::Layout => layout::TABLES,
            Projection::Presence => presence::TABLES,
            Projection::Sessions => sessions::TABLES,
            Projection::Users => users::TABLES,
        }
    }

    /// Whether this projection folds events of `event_type` (the audit indexes every event
    /// without reading it), so a rebuild parses only what it needs.
    pub fn wants(self, event_type: &str) -> bool {
        match self {
            Projection::Archives => {
                event_type.starts_with("Archive") || event_type == "SegmentStored"
            }
            Projection::Audit => false,
            Projection::Layout => {
                event_type.starts_with("Layout") || event_type == "SourceSelected"
            }
            Projection::Presence => {
                event_type.starts_with("Participant")
                    || event_type == "SessionEnded"
                    || event_type == "SessionCancelled"
            }
            Projection::Sessions => {
                event_type.starts_with("Session")
                    || event_type.starts_with("Member")
                    || event_type.starts_with("Recording")
            }
            Projection::Users => event_type.starts_with("User"),
        }
    }

    /// An empty state for [`Projection::load`] and [`Projection::fold`].
    pub fn new_state(self) -> State {
        match self {
            Projection::Archives => State::Archives(archives::State::default()),
            Projection::Audit => State::Audit,
            Projection::Layout => State::Layout(layout::State::default()),
            Projection::Presence => State::Presence(presence::State::default()),
            Projection::Sessions => State::Sessions(sessions::State::default()),
            Projection::Users => State::Users(users::State::default()),
        }
    }

    /// Loads into `state` the rows `items` touch from this projection's tables with `suffix`.
    pub async fn load(
        self,
        conn: &mut AnyConnection,
        dialect: Dialect,
        suffix: &str,
        items: &[Parsed<'_>],
        state: &mut State,
    ) -> Result<(), ProjectionError> {
        match state {
            State::Archives(s) => archives::load(conn, dialect, suffix, items, s).await,
            State::Audit => Ok(()),
            State::Layout(s) => layout::load(conn, dialect, suffix, items, s).await,
            State::Presence(s) => presence::load(conn, dialect, suffix, items, s).await,
            State::Sessions(s) => sessions::load(conn, dialect, suffix, items, s).await,
            State::Users(s) => users::load(conn, dialect, suffix, items, s).await,
        }
    }

    /// Folds `items` over `state` in memory; returns the rows to write. Pure: no I/O.
    pub fn fold(self, state: &mut State, items: &[Parsed<'_>]) -> Vec<Write> {
        match state {
            State::Archives(s) => archives::fold(s, items),
            State::Audit => audit::fold(items),
            State::Layout(s) => layout::fold(s, items),
            State::Presence(s) => presence::fold(s, items),
            State::Sessions(s) => sessions::fold(s, items),
            State::Users(s) => users::fold(s, items),
        }
    }

    /// Folds `items` into this projection's tables named with `suffix`: loads the rows the
    /// batch touches, folds in memory, writes every changed row once.
    pub async fn apply(
        self,
        conn: &mut AnyConnection,
        dialect: Dialect,
        suffix: &str,
        items: &[Parsed<'_>],
    ) -> Result<(), ProjectionError> {
        if items.is_empty() {
            return Ok(());
        }
        let mut state = self.new_state();
        self.load(conn, dialect, suffix, items, &mut state).await?;
        let writes = self.fold(&mut state, items);
        execute(conn, dialect, suffix, writes).await
    }
}

/// What a projection keeps in memory while folding: the rows it may change, by key. The live
/// path loads them from the tables for every batch; a rebuild keeps its state across batches
/// (it is the only writer of its tables), so it never reads back what it wrote.
#[derive(Debug)]
pub(crate) enum State {
    Archives(archives::State),
    Audit,
    Layout(layout::State),
    Presence(presence::State),
    Sessions(sessions::State),
    Users(users::State),
}

impl State {
    /// Forgets rows that can no longer change, between the batches of a rebuild.
    pub fn compact(&mut self) {
        match self {
            State::Presence(s) => presence::compact(s),
            State::Archives(s) => archives::compact(s),
            _ => {}
        }
    }
}

/// Rows to write into one table.
#[derive(Debug)]
pub(crate) struct Write {
    pub table: &'static TableDef,
    pub columns: &'static [&'static str],
    /// The key columns for an upsert of whole rows; `None` fails on a duplicate key.
    pub keys: Option<&'static [&'static str]>,
    pub rows: Vec<Vec<Val>>,
}

/// The rows of `keys` in `rows` as values, in key order.
pub(crate) fn rows_of<K: Ord + std::hash::Hash, R>(
    keys: &std::collections::BTreeSet<K>,
    rows: &std::collections::HashMap<K, R>,
    values: impl Fn(&R) -> Vec<Val>,
) -> Vec<Vec<Val>> {
    keys.iter()
        .filter_map(|k| rows.get(k))
        .map(values)
        .collect()
}

/// Executes `writes` on the tables with `suffix`.
pub(crate) async fn execute(
    conn: &mut AnyConnection,
    dialect: Dialect,
    suffix: &str,
    writes: Vec<Write>,
) -> Result<(), ProjectionError> {
    for write in writes {
        let on_conflict = match write.keys {
            Some(keys) => OnConflict::Replace(keys),
            None => OnConflict::Fail,
        };
        let table = write.table.name(suffix);
        write_rows(
            conn,
            dialect,
            &table,
            write.columns,
            on_conflict,
            write.rows,
        )
        .await?;
    }
    Ok(())
}

/// The items of `items` after `position` (they are in position order).
pub(crate) fn after<'i, 'a>(items: &'i [Parsed<'a>], position: u64) -> &'i [Parsed<'a>] {
    let start = items.partition_point(|i| i.ev.position <= position);
    &items[start..]
}

/// Checks that positions strictly increase.
pub(crate) fn check_order(events: &[RecordedEvent]) -> Result<(), ProjectionError> {
    for pair in events.windows(2) {
        if pair[1].position <= pair[0].position {
            return Err(ProjectionError::OutOfOrder {
                previous: pair[0].position,
                position: pair[1].position,
            });
        }
    }
    Ok(())
}
