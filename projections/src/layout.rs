//! The `layout` projection: the current layout of each session, every layout version with what
//! it changed and which fields were contested, and the media source each panel shows.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use livesurgery_domain::envelope::{Actor, RecordedEvent};
use livesurgery_domain::events::{Event, LayoutConflict, LayoutFieldChange, Panel};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::ReadModels;
use crate::db::{
    Dialect, Sql, Val, get_json, get_opt_text, get_opt_u64, get_opt_uuid, get_text, get_time,
    get_u64, get_uuid, load_by_keys, opt_int, to_json,
};
use crate::error::ProjectionError;
use crate::fold::{Parsed, Write, rows_of};
use crate::schema::TableDef;

pub(crate) const TABLES: &[TableDef] = &[
    TableDef {
        base: "rm_layouts",
        columns: "session_id TEXT NOT NULL, version {int} NOT NULL, panels TEXT NOT NULL, \
            updated_at {int} NOT NULL, updated_by TEXT, position {int} NOT NULL",
        primary_key: "session_id",
        without_rowid: true,
        indexes: &[],
    },
    TableDef {
        base: "rm_layout_versions",
        columns: "session_id TEXT NOT NULL, version {int} NOT NULL, base_version {int}, \
            kind TEXT NOT NULL, changes TEXT NOT NULL, \
            conflicts TEXT NOT NULL, conflict_count {int} NOT NULL, actor_user_id TEXT, \
            actor_role TEXT, actor_participant_id TEXT, recorded_at {int} NOT NULL, \
            position {int} NOT NULL",
        primary_key: "session_id, version",
        without_rowid: true,
        indexes: &[],
    },
    TableDef {
        base: "rm_source_selections",
        columns: "session_id TEXT NOT NULL, panel_id TEXT NOT NULL, source_id TEXT, \
            layout_version {int} NOT NULL, selected_by TEXT, selected_at {int} NOT NULL, \
            position {int} NOT NULL",
        primary_key: "session_id, panel_id",
        without_rowid: true,
        indexes: &[],
    },
];

/// The layout a session shows now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayoutRow {
    /// The session.
    pub session_id: Uuid,
    /// The layout version.
    pub version: u64,
    /// Every panel of the layout.
    pub panels: Vec<Panel>,
    /// When the last change was recorded.
    pub updated_at: DateTime<Utc>,
    /// The user who made the last change.
    pub updated_by: Option<Uuid>,
    /// Log position of the last event that changed this row.
    pub position: u64,
}

/// One version of a session's layout: what changed and who changed it. The panel set of an old
/// version is not kept (it is in the log); [`LayoutRow`] has the current one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayoutVersionRow {
    /// The session.
    pub session_id: Uuid,
    /// The layout version.
    pub version: u64,
    /// The version the writer started from (`None` for the initial layout and selections).
    pub base_version: Option<u64>,
    /// `initialized`, `updated` or `source_selected`.
    pub kind: String,
    /// The fields the write set.
    pub changes: Vec<LayoutFieldChange>,
    /// The contested fields (last writer wins).
    pub conflicts: Vec<LayoutConflict>,
    /// Who made the change.
    pub actor: Actor,
    /// When the event was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Log position of the last event that changed this row.
    pub position: u64,
}

/// The media source one panel of a session shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSelectionRow {
    /// The session.
    pub session_id: Uuid,
    /// The panel.
    pub panel_id: String,
    /// The media source shown (`None`: nothing).
    pub source_id: Option<String>,
    /// The layout version that made this selection.
    pub layout_version: u64,
    /// The user who selected it.
    pub selected_by: Option<Uuid>,
    /// When it was selected.
    pub selected_at: DateTime<Utc>,
    /// Log position of the last event that changed this row.
    pub position: u64,
}

const LAYOUT_COLUMNS: &[&str] = &[
    "session_id",
    "version",
    "panels",
    "updated_at",
    "updated_by",
    "position",
];

impl LayoutRow {
    fn values(&self) -> Vec<Val> {
        vec![
            self.session_id.into(),
            self.version.into(),
            to_json(&self.panels).into(),
            self.updated_at.into(),
            self.updated_by.into(),
            self.position.into(),
        ]
    }

    fn from_row(row: &AnyRow) -> Result<Self, ProjectionError> {
        Ok(LayoutRow {
            session_id: get_uuid(row, "session_id")?,
            version: get_u64(row, "version")?,
            panels: get_json(row, "panels")?,
            updated_at: get_time(row, "updated_at")?,
            updated_by: get_opt_uuid(row, "updated_by")?,
            position: get_u64(row, "position")?,
        })
    }
}

const VERSION_COLUMNS: &[&str] = &[
    "session_id",
    "version",
    "base_version",
    "kind",
    "changes",
    "conflicts",
    "conflict_count",
    "actor_user_id",
    "actor_role",
    "actor_participant_id",
    "recorded_at",
    "position",
];

impl LayoutVersionRow {
    fn values(&self) -> Vec<Val> {
        vec![
            self.session_id.into(),
            self.version.into(),
            opt_int(self.base_version),
            self.kind.as_str().into(),
            to_json(&self.changes).into(),
            to_json(&self.conflicts).into(),
            (self.conflicts.len() as u64).into(),
            self.actor.user_id.into(),
            self.actor.role.clone().into(),
            self.actor.participant_id.into(),
            self.recorded_at.into(),
            self.position.into(),
        ]
    }

    fn from_row(row: &AnyRow) -> Result<Self, ProjectionError> {
        Ok(LayoutVersionRow {
            session_id: get_uuid(row, "session_id")?,
            version: get_u64(row, "version")?,
            base_version: get_opt_u64(row, "base_version")?,
            kind: get_text(row, "kind")?,
            changes: get_json(row, "changes")?,
            conflicts: get_json(row, "conflicts")?,
            actor: Actor {
                user_id: get_opt_uuid(row, "actor_user_id")?,
                role: get_opt_text(row, "actor_role")?,
                participant_id: get_opt_uuid(row, "actor_participant_id")?,
            },
            recorded_at: get_time(row, "recorded_at")?,
            position: get_u64(row, "position")?,
        })
    }
}

const SELECTION_COLUMNS: &[&str] = &[
    "session_id",
    "panel_id",
    "source_id",
    "layout_version",
    "selected_by",
    "selected_at",
    "position",
];

impl SourceSelectionRow {
    fn values(&self) -> Vec<Val> {
        vec![
            self.session_id.into(),
            self.panel_id.as_str().into(),
            self.source_id.clone().into(),
            self.layout_version.into(),
            self.selected_by.into(),
            self.selected_at.into(),
            self.position.into(),
        ]
    }

    fn from_row(row: &AnyRow) -> Result<Self, ProjectionError> {
        Ok(SourceSelectionRow {
            session_id: get_uuid(row, "session_id")?,
            panel_id: get_text(row, "panel_id")?,
            source_id: get_opt_text(row, "source_id")?,
            layout_version: get_u64(row, "layout_version")?,
            selected_by: get_opt_uuid(row, "selected_by")?,
            selected_at: get_time(row, "selected_at")?,
            position: get_u64(row, "position")?,
        })
    }
}

/// The batch's state: rows keyed as in their tables, written once at the end.
#[derive(Default)]
struct Fold {
    layouts: HashMap<Uuid, LayoutRow>,
    dirty_layouts: BTreeSet<Uuid>,
    versions: HashMap<(Uuid, u64), LayoutVersionRow>,
    selections: HashMap<(Uuid, String), SourceSelectionRow>,
}

impl Fold {
    /// Records a new version and makes it the session's current layout.
    fn new_version(&mut self, row: LayoutVersionRow, panels: Vec<Panel>) {
        self.layouts.insert(
            row.session_id,
            LayoutRow {
                session_id: row.session_id,
                version: row.version,
                panels,
                updated_at: row.recorded_at,
                updated_by: row.actor.user_id,
                position: row.position,
            },
        );
        self.dirty_layouts.insert(row.session_id);
        self.versions.insert((row.session_id, row.version), row);
    }

    fn select(
        &mut self,
        ev: &RecordedEvent,
        by: Option<Uuid>,
        session_id: Uuid,
        panel_id: &str,
        source_id: Option<String>,
        layout_version: u64,
    ) {
        self.selections.insert(
            (session_id, panel_id.to_owned()),
            SourceSelectionRow {
                session_id,
                panel_id: panel_id.to_owned(),
                source_id,
                layout_version,
                selected_by: by,
                selected_at: ev.recorded_at,
                position: ev.position,
            },
        );
    }
}

/// The current layouts a batch folds over.
#[derive(Debug, Default)]
pub(crate) struct State {
    layouts: HashMap<Uuid, LayoutRow>,
}

/// Loads into `state` the current layouts that `items` need from the tables with `suffix`.
pub(crate) async fn load(
    conn: &mut AnyConnection,
    dialect: Dialect,
    suffix: &str,
    items: &[Parsed<'_>],
    state: &mut State,
) -> Result<(), ProjectionError> {
    let mut selected_sessions = BTreeSet::new();
    for item in items {
        if let Some(Event::SourceSelected(e)) = &item.event {
            selected_sessions.insert(e.session_id.to_string());
        }
    }
    if selected_sessions.is_empty() {
        return Ok(());
    }
    let layouts_table = TABLES[0].name(suffix);
    // Only a source selection needs the panels as they were; the other events carry them all.
    let keys: Vec<String> = selected_sessions.into_iter().collect();
    for row in load_by_keys(
        conn,
        dialect,
        &format!("SELECT * FROM {layouts_table} WHERE"),
        "session_id",
        &keys,
        "",
    )
    .await?
    {
        let row = LayoutRow::from_row(&row)?;
        state.layouts.insert(row.session_id, row);
    }
    Ok(())
}

/// Folds `items` over `state`; returns the writes of every row that changed.
pub(crate) fn fold(state: &mut State, items: &[Parsed<'_>]) -> Vec<Write> {
    let mut fold = Fold {
        layouts: std::mem::take(&mut state.layouts),
        ..Fold::default()
    };
    for item in items {
        let ev = item.ev;
        match &item.event {
            Some(Event::LayoutInitialized(e)) => {
                for panel in &e.panels {
                    if panel.source_id.is_some() {
                        fold.select(
                            ev,
                            ev.actor.user_id,
                            e.session_id,
                            &panel.id,
                            panel.source_id.clone(),
                            e.version,
                        );
                    }
                }
                fold.new_version(
                    LayoutVersionRow {
                        session_id: e.session_id,
                        version: e.version,
                        base_version: None,
                        kind: "initialized".to_owned(),
                        changes: Vec::new(),
                        conflicts: Vec::new(),
                        actor: ev.actor.clone(),
                        recorded_at: ev.recorded_at,
                        position: ev.position,
                    },
                    e.panels.clone(),
                );
            }
            Some(Event::LayoutUpdated(e)) => {
                for change in &e.changes {
                    if let (Some(panel_id), "source_id") = (&change.panel_id, change.field.as_str())
                    {
                        let source = change.value.as_str().map(str::to_owned);
                        fold.select(
                            ev,
                            e.changed_by.user_id,
                            e.session_id,
                            panel_id,
                            source,
                            e.version,
                        );
                    }
                }
                fold.new_version(
                    LayoutVersionRow {
                        session_id: e.session_id,
                        version: e.version,
                        base_version: Some(e.base_version),
                        kind: "updated".to_owned(),
                        changes: e.changes.clone(),
                        conflicts: e.conflicts.clone(),
                        actor: e.changed_by.clone(),
                        recorded_at: ev.recorded_at,
                        position: ev.position,
                    },
                    e.panels.clone(),
                );
            }
            Some(Event::SourceSelected(e)) => {
                fold.select(
                    ev,
                    e.changed_by.user_id,
                    e.session_id,
                    &e.panel_id,
                    e.source_id.clone(),
                    e.layout_version,
                );
                // Without a known layout there are no panels to put the source into.
                let Some(mut panels) = fold.layouts.get(&e.session_id).map(|l| l.panels.clone())
                else {
                    continue;
                };
                for panel in panels.iter_mut().filter(|p| p.id == e.panel_id) {
                    panel.source_id = e.source_id.clone();
                }
                let change = LayoutFieldChange {
                    panel_id: Some(e.panel_id.clone()),
                    field: "source_id".to_owned(),
                    value: e
                        .source_id
                        .clone()
                        .map_or(serde_json::Value::Null, serde_json::Value::String),
                };
                fold.new_version(
                    LayoutVersionRow {
                        session_id: e.session_id,
                        version: e.layout_version,
                        base_version: None,
                        kind: "source_selected".to_owned(),
                        changes: vec![change],
                        conflicts: Vec::new(),
                        actor: e.changed_by.clone(),
                        recorded_at: ev.recorded_at,
                        position: ev.position,
                    },
                    panels,
                );
            }
            _ => {}
        }
    }

    let Fold {
        layouts,
        dirty_layouts,
        versions,
        selections,
    } = fold;
    let layout_rows = rows_of(&dirty_layouts, &layouts, LayoutRow::values);
    state.layouts = layouts;
    let mut versions: Vec<LayoutVersionRow> = versions.into_values().collect();
    versions.sort_by_key(|v| v.position);
    let mut selections: Vec<SourceSelectionRow> = selections.into_values().collect();
    selections.sort_by_key(|s| s.position);
    vec![
        Write {
            table: &TABLES[0],
            columns: LAYOUT_COLUMNS,
            keys: Some(&["session_id"]),
            rows: layout_rows,
        },
        Write {
            table: &TABLES[1],
            columns: VERSION_COLUMNS,
            keys: Some(&["session_id", "version"]),
            rows: versions.iter().map(LayoutVersionRow::values).collect(),
        },
        Write {
            table: &TABLES[2],
            columns: SELECTION_COLUMNS,
            keys: Some(&["session_id", "panel_id"]),
            rows: selections.iter().map(SourceSelectionRow::values).collect(),
        },
    ]
}

impl ReadModels {
    /// The layout a session shows now, if it has one.
    pub async fn current_layout(
        &self,
        session_id: Uuid,
    ) -> Result<Option<LayoutRow>, ProjectionError> {
        let mut sql = Sql::new("SELECT * FROM rm_layouts WHERE ");
        sql.push("session_id = ?", session_id);
        sql.fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(LayoutRow::from_row)
            .transpose()
    }

    /// A session's layout versions after `after_version` (0 for all), oldest first, at most
    /// `limit` (0 means 100, capped at 1,000).
    pub async fn layout_versions(
        &self,
        session_id: Uuid,
        after_version: u64,
        limit: u32,
    ) -> Result<Vec<LayoutVersionRow>, ProjectionError> {
        let limit = match limit {
            0 => 100,
            n => n.min(1_000),
        };
        let mut sql = Sql::new("SELECT * FROM rm_layout_versions WHERE ");
        sql.push("session_id = ?", session_id)
            .push(" AND version > ?", after_version)
            .push(" ORDER BY version LIMIT ?", i64::from(limit));
        sql.fetch_all(&self.pool)
            .await?
            .iter()
            .map(LayoutVersionRow::from_row)
            .collect()
    }

    /// The source every panel of a session shows, by panel id.
    pub async fn source_selections(
        &self,
        session_id: Uuid,
    ) -> Result<Vec<SourceSelectionRow>, ProjectionError> {
        let mut sql = Sql::new("SELECT * FROM rm_source_selections WHERE ");
        sql.push("session_id = ?", session_id)
            .raw(" ORDER BY panel_id");
        sql.fetch_all(&self.pool)
            .await?
            .iter()
            .map(SourceSelectionRow::from_row)
            .collect()
    }
}
