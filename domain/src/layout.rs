//! The shared multi-panel workspace of a session: panels on a 12x12 grid, versioned, with
//! per-field last-write-wins.
//!
//! A *field* is one property of one panel (`x`, `y`, `w`, `h`, `z`, `source_id`, `name`) or the panel
//! set itself (`panel_id` `None`, field [`PANELS_FIELD`], touched by adding or removing panels).
//! The state remembers, per field, the layout version and actor of its last write. A write based
//! on an older version than a field's last write still wins (last write wins) but records a
//! [`LayoutConflict`] naming winner and loser.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Actor;
use crate::error::DomainError;
use crate::events::{
    GRID_COLUMNS, GRID_ROWS, LayoutConflict, LayoutFieldChange, LayoutUpdated, Panel,
    SourceSelected,
};

/// At most this many panels in a layout.
pub const MAX_PANELS: usize = 32;
/// The field name of the panel set (adding or removing panels).
pub const PANELS_FIELD: &str = "panels";
/// The per-panel field names, in the order a patch applies them.
pub const PANEL_FIELDS: [&str; 7] = ["x", "y", "w", "h", "z", "source_id", "name"];
/// A panel id: 1 to this many characters of `[A-Za-z0-9_-]`.
pub const MAX_PANEL_ID_LEN: usize = 64;
/// A source id: 1 to this many characters, no control characters.
pub const MAX_SOURCE_ID_LEN: usize = 128;
/// A panel's name: 1 to this many characters, visible, no control or bidirectional characters.
pub const MAX_PANEL_NAME_LEN: usize = 60;

/// A change to some properties of one panel; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<i32>,
    /// `Some(None)` (JSON `null`) clears the panel's source.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::events::double_option"
    )]
    pub source_id: Option<Option<String>>,
    /// `Some(None)` (JSON `null`) clears the panel's name.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::events::double_option"
    )]
    pub name: Option<Option<String>>,
}

impl PanelPatch {
    /// The fields this patch sets, as (name, JSON value), in [`PANEL_FIELDS`] order.
    pub fn fields(&self) -> Vec<(&'static str, serde_json::Value)> {
        let mut out = Vec::new();
        if let Some(v) = self.x {
            out.push(("x", v.into()));
        }
        if let Some(v) = self.y {
            out.push(("y", v.into()));
        }
        if let Some(v) = self.w {
            out.push(("w", v.into()));
        }
        if let Some(v) = self.h {
            out.push(("h", v.into()));
        }
        if let Some(v) = self.z {
            out.push(("z", v.into()));
        }
        if let Some(v) = &self.source_id {
            out.push(("source_id", v.clone().into()));
        }
        if let Some(v) = &self.name {
            out.push(("name", v.clone().into()));
        }
        out
    }
}

/// One layout write: patches per panel id, panels to add, panel ids to remove.
/// JSON: `{"panels": {"<panel id>": {"<field>": value}}, "add": [...], "remove": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutChanges {
    #[serde(default)]
    pub panels: BTreeMap<String, PanelPatch>,
    #[serde(default)]
    pub add: Vec<Panel>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// One field of the layout: a panel property, or the panel set (`panel_id` `None`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldKey {
    pub panel_id: Option<String>,
    pub field: String,
}

impl FieldKey {
    /// The key of property `field` of panel `panel_id`.
    pub fn panel(panel_id: &str, field: &str) -> Self {
        FieldKey {
            panel_id: Some(panel_id.to_owned()),
            field: field.to_owned(),
        }
    }

    /// The key of the panel set.
    pub fn panel_set() -> Self {
        FieldKey {
            panel_id: None,
            field: PANELS_FIELD.to_owned(),
        }
    }
}

/// The last write of a field (or the removal of a panel): at which layout version, by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWrite {
    pub version: u64,
    pub actor: Actor,
}

/// The layout as the session aggregate folds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayoutState {
    /// The current layout version (1 once the session exists; 0 before).
    pub version: u64,
    /// The panels, in the order they were created.
    pub panels: Vec<Panel>,
    /// Per field, its last write. Fields of the initial layout have none.
    pub last_writes: BTreeMap<FieldKey, LastWrite>,
    /// Panels removed, by id: when and by whom (to explain a patch that lost to a removal).
    pub removed: BTreeMap<String, LastWrite>,
}

impl LayoutState {
    /// The panel with this id, if present.
    pub fn panel(&self, panel_id: &str) -> Option<&Panel> {
        self.panels.iter().find(|p| p.id == panel_id)
    }

    /// Folds a [`LayoutUpdated`]: takes its panel set and stamps every field it changed.
    pub fn apply_updated(&mut self, e: &LayoutUpdated) {
        let before: BTreeSet<&str> = self.panels.iter().map(|p| p.id.as_str()).collect();
        let after: BTreeSet<&str> = e.panels.iter().map(|p| p.id.as_str()).collect();
        let stamp = LastWrite {
            version: e.version,
            actor: e.changed_by.clone(),
        };
        for gone in before.difference(&after) {
            self.last_writes
                .retain(|k, _| k.panel_id.as_deref() != Some(*gone));
            self.removed.insert((*gone).to_owned(), stamp.clone());
        }
        // Adding a panel sets every one of its properties.
        for new in after.difference(&before) {
            self.removed.remove(*new);
            for field in PANEL_FIELDS {
                self.last_writes
                    .insert(FieldKey::panel(new, field), stamp.clone());
            }
        }
        for change in &e.changes {
            let key = FieldKey {
                panel_id: change.panel_id.clone(),
                field: change.field.clone(),
            };
            self.last_writes.insert(key, stamp.clone());
        }
        self.panels = e.panels.clone();
        self.version = e.version;
    }

    /// Folds a [`SourceSelected`]: sets the panel's source and stamps that field.
    pub fn apply_source_selected(&mut self, e: &SourceSelected) {
        if let Some(panel) = self.panels.iter_mut().find(|p| p.id == e.panel_id) {
            panel.source_id = e.source_id.clone();
        }
        self.last_writes.insert(
            FieldKey::panel(&e.panel_id, "source_id"),
            LastWrite {
                version: e.layout_version,
                actor: e.changed_by.clone(),
            },
        );
        self.version = e.layout_version;
    }
}

/// The layout every new session starts with: four panels `p1`..`p4` in a 2x2 grid, no sources.
pub fn default_panels() -> Vec<Panel> {
    let half_w = GRID_COLUMNS / 2;
    let half_h = GRID_ROWS / 2;
    [(0, 0), (half_w, 0), (0, half_h), (half_w, half_h)]
        .into_iter()
        .enumerate()
        .map(|(i, (x, y))| Panel {
            id: format!("p{}", i + 1),
            x,
            y,
            w: half_w,
            h: half_h,
            z: 0,
            source_id: None,
            name: None,
        })
        .collect()
}

/// Checks a whole panel set: bounded count, unique well-formed ids, every panel on the grid.
pub fn validate_panels(panels: &[Panel]) -> Result<(), DomainError> {
    if panels.len() > MAX_PANELS {
        return Err(DomainError::validation(
            "panels",
            format!("at most {MAX_PANELS} panels, got {}", panels.len()),
        ));
    }
    let mut ids = BTreeSet::new();
    for panel in panels {
        validate_panel_id(&panel.id)?;
        if !ids.insert(panel.id.as_str()) {
            return Err(DomainError::validation(
                "panels",
                format!("panel id {} appears twice", panel.id),
            ));
        }
        let fits = |pos: u32, len: u32, max: u32| {
            len >= 1 && u64::from(pos) + u64::from(len) <= u64::from(max)
        };
        if !fits(panel.x, panel.w, GRID_COLUMNS) || !fits(panel.y, panel.h, GRID_ROWS) {
            return Err(DomainError::validation(
                "panels",
                format!(
                    "panel {} ({}x{} at {},{}) must have w,h >= 1 and lie within the {GRID_COLUMNS}x{GRID_ROWS} grid",
                    panel.id, panel.w, panel.h, panel.x, panel.y
                ),
            ));
        }
        if let Some(source_id) = &panel.source_id {
            validate_source_id(source_id)?;
        }
        if let Some(name) = &panel.name {
            validate_panel_name(name)?;
        }
    }
    Ok(())
}

/// Checks a panel's name like other free text shown to others: 1 to [`MAX_PANEL_NAME_LEN`]
/// characters, no control characters, no bidirectional controls, not only invisible ones.
pub fn validate_panel_name(name: &str) -> Result<(), DomainError> {
    if name.is_empty()
        || name.chars().count() > MAX_PANEL_NAME_LEN
        || name.chars().any(char::is_control)
    {
        return Err(DomainError::validation(
            "name",
            format!("must be 1-{MAX_PANEL_NAME_LEN} characters without control characters"),
        ));
    }
    crate::text::check_not_spoofing("name", name)
}

/// Checks a panel id: 1 to [`MAX_PANEL_ID_LEN`] characters of `[A-Za-z0-9_-]`.
pub fn validate_panel_id(id: &str) -> Result<(), DomainError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_PANEL_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(DomainError::validation(
            "panel_id",
            format!("{id:?} must be 1-{MAX_PANEL_ID_LEN} characters of [A-Za-z0-9_-]"),
        ))
    }
}

/// Checks a source id: 1 to [`MAX_SOURCE_ID_LEN`] characters, no control characters.
pub fn validate_source_id(id: &str) -> Result<(), DomainError> {
    let ok = !id.is_empty()
        && id.chars().count() <= MAX_SOURCE_ID_LEN
        && !id.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(DomainError::validation(
            "source_id",
            format!("must be 1-{MAX_SOURCE_ID_LEN} characters without control characters"),
        ))
    }
}

/// The conflict to record when `actor` writes a field last written by someone else after
/// `base_version`.
fn contested(
    last: Option<&LastWrite>,
    base_version: u64,
    key: &FieldKey,
    actor: &Actor,
) -> Option<LayoutConflict> {
    let last = last?;
    let same_writer =
        last.actor.user_id == actor.user_id && last.actor.participant_id == actor.participant_id;
    (last.version > base_version && !same_writer).then(|| LayoutConflict {
        panel_id: key.panel_id.clone(),
        field: key.field.clone(),
        winner: actor.clone(),
        loser: last.actor.clone(),
        loser_version: last.version,
    })
}

fn set_field(panel: &mut Panel, field: &str, patch: &PanelPatch) {
    match field {
        "x" => panel.x = patch.x.unwrap_or(panel.x),
        "y" => panel.y = patch.y.unwrap_or(panel.y),
        "w" => panel.w = patch.w.unwrap_or(panel.w),
        "h" => panel.h = patch.h.unwrap_or(panel.h),
        "z" => panel.z = patch.z.unwrap_or(panel.z),
        "name" => {
            if let Some(name) = &patch.name {
                panel.name = name.clone();
            }
        }
        _ => {
            if let Some(source_id) = &patch.source_id {
                panel.source_id = source_id.clone();
            }
        }
    }
}

fn field_value(panel: &Panel, field: &str) -> serde_json::Value {
    match field {
        "x" => panel.x.into(),
        "y" => panel.y.into(),
        "w" => panel.w.into(),
        "h" => panel.h.into(),
        "z" => panel.z.into(),
        "name" => panel.name.clone().into(),
        _ => panel.source_id.clone().into(),
    }
}

/// Decides a layout write (see the module doc): the resulting [`LayoutUpdated`], or why not.
///
/// - `base_version` 0 or ahead of the current version is rejected;
/// - a patch of a panel removed after `base_version` is dropped and recorded as a conflict whose
///   winner is the remover (`loser_version` = the version this write gets); if nothing else
///   remains the write fails with `not_found`; a patch of a panel that never existed fails;
/// - removing a panel whose properties someone else changed after `base_version` records those
///   fields as conflicts;
/// - setting a field to the value it has is not a change; a write that changes nothing fails.
pub fn decide_update(
    session_id: Uuid,
    layout: &LayoutState,
    base_version: u64,
    changes: &LayoutChanges,
    actor: &Actor,
) -> Result<LayoutUpdated, DomainError> {
    if base_version == 0 {
        return Err(DomainError::validation(
            "base_version",
            "layout versions start at 1",
        ));
    }
    if base_version > layout.version {
        return Err(DomainError::BaseVersionAhead {
            base_version,
            current: layout.version,
        });
    }
    if changes.panels.is_empty() && changes.add.is_empty() && changes.remove.is_empty() {
        return Err(DomainError::no_change("the layout change is empty"));
    }
    let version = layout.version + 1;
    let removing: BTreeSet<&str> = changes.remove.iter().map(String::as_str).collect();
    let adding: BTreeSet<&str> = changes.add.iter().map(|p| p.id.as_str()).collect();
    if removing.len() != changes.remove.len() {
        return Err(DomainError::validation(
            "remove",
            "a panel id appears twice",
        ));
    }
    if let Some(id) = removing.intersection(&adding).next() {
        return Err(DomainError::validation(
            "add",
            format!("panel {id} is both added and removed"),
        ));
    }
    for id in changes.panels.keys() {
        if removing.contains(id.as_str()) || adding.contains(id.as_str()) {
            return Err(DomainError::validation(
                "panels",
                format!("panel {id} is patched and also added or removed in the same change"),
            ));
        }
    }

    let mut panels = layout.panels.clone();
    let mut out_changes = Vec::new();
    let mut conflicts = Vec::new();
    let mut dropped = None;

    for (panel_id, patch) in &changes.panels {
        let Some(panel) = panels.iter_mut().find(|p| &p.id == panel_id) else {
            let removal = layout
                .removed
                .get(panel_id)
                .filter(|r| r.version > base_version)
                .ok_or_else(|| DomainError::not_found(format!("panel {panel_id}")))?;
            for (field, _) in patch.fields() {
                conflicts.push(LayoutConflict {
                    panel_id: Some(panel_id.clone()),
                    field: field.to_owned(),
                    winner: removal.actor.clone(),
                    loser: actor.clone(),
                    loser_version: version,
                });
            }
            dropped = Some((panel_id.clone(), removal.version));
            continue;
        };
        for (field, value) in patch.fields() {
            if field_value(panel, field) == value {
                continue;
            }
            set_field(panel, field, patch);
            let key = FieldKey::panel(panel_id, field);
            conflicts.extend(contested(
                layout.last_writes.get(&key),
                base_version,
                &key,
                actor,
            ));
            out_changes.push(LayoutFieldChange {
                panel_id: Some(panel_id.clone()),
                field: field.to_owned(),
                value,
            });
        }
    }

    if !changes.add.is_empty() || !changes.remove.is_empty() {
        for id in &changes.remove {
            if layout.panel(id).is_none() {
                return Err(DomainError::not_found(format!("panel {id}")));
            }
            // Removing a panel overwrites whatever others changed on it since the base.
            for (key, last) in layout.last_writes.range(FieldKey::panel(id, "")..) {
                if key.panel_id.as_deref() != Some(id.as_str()) {
                    break;
                }
                conflicts.extend(contested(Some(last), base_version, key, actor));
            }
        }
        for panel in &changes.add {
            if layout.panel(&panel.id).is_some() {
                return Err(DomainError::AlreadyExists {
                    what: format!("panel {}", panel.id),
                });
            }
        }
        panels.retain(|p| !removing.contains(p.id.as_str()));
        panels.extend(changes.add.iter().cloned());
        let key = FieldKey::panel_set();
        conflicts.extend(contested(
            layout.last_writes.get(&key),
            base_version,
            &key,
            actor,
        ));
        out_changes.push(LayoutFieldChange {
            panel_id: None,
            field: PANELS_FIELD.to_owned(),
            value: serde_json::json!({"added": changes.add, "removed": changes.remove}),
        });
    }

    if out_changes.is_empty() {
        return Err(match dropped {
            Some((panel_id, removed_at)) => DomainError::not_found(format!(
                "panel {panel_id} (removed at layout version {removed_at})"
            )),
            None => DomainError::no_change("every field already has the requested value"),
        });
    }
    validate_panels(&panels)?;
    Ok(LayoutUpdated {
        session_id,
        version,
        base_version,
        changes: out_changes,
        conflicts,
        panels,
        changed_by: actor.clone(),
    })
}
