//! The shared layout and its history (`/v1/sessions/{id}/layout…`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use livesurgery_projections::{LayoutRow, LayoutVersionRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::double_option;

/// One panel of the shared workspace (a 12 x 12 grid).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    /// 1-64 characters of `A-Za-z0-9 _ -`.
    pub id: String,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub z: i32,
    /// The media source shown (`endoscope`, `room-cam`, ...), or `null`.
    pub source_id: Option<String>,
    /// The name an editor gave the panel (1-60 visible characters); absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The shared layout.
#[derive(Debug, Serialize, ToSchema)]
pub struct Layout {
    /// Grows by one with every accepted change.
    pub version: u64,
    pub panels: Vec<Panel>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<Uuid>,
}

impl From<livesurgery_domain::events::Panel> for Panel {
    fn from(p: livesurgery_domain::events::Panel) -> Panel {
        Panel {
            id: p.id,
            x: p.x,
            y: p.y,
            w: p.w,
            h: p.h,
            z: p.z,
            source_id: p.source_id,
            name: p.name,
        }
    }
}

impl From<LayoutRow> for Layout {
    fn from(l: LayoutRow) -> Layout {
        Layout {
            version: l.version,
            panels: l.panels.into_iter().map(Panel::from).collect(),
            updated_at: Some(l.updated_at),
            updated_by: l.updated_by,
        }
    }
}

/// Changes to some fields of a panel; absent fields stay, `source_id: null` clears the source.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PanelPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub w: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub z: Option<i32>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub source_id: Option<Option<String>>,
    /// The panel's name; `null` clears it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
}

/// A layout change: panel fields to set, panels to add, panels to remove.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutChanges {
    /// Panel id -> the fields to change.
    #[serde(default)]
    pub panels: BTreeMap<String, PanelPatch>,
    #[serde(default)]
    pub add: Vec<Panel>,
    /// Ids of panels to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchLayoutRequest {
    /// The layout version the change was made on. An older one still applies, field by field
    /// (last write wins); the answer lists the fields that were contested.
    pub base_version: u64,
    pub changes: LayoutChanges,
}

/// The layout after a change, and what the change contested.
#[derive(Debug, Serialize, ToSchema)]
pub struct LayoutChangeResult {
    pub layout: Layout,
    /// The version this change created.
    pub version: u64,
    /// Fields this change overwrote although another writer had changed them since
    /// `base_version`: each with the winner and the loser.
    #[schema(value_type = Vec<Object>)]
    pub conflicts: serde_json::Value,
}

/// One version of the layout: what changed, who changed it, what was contested.
#[derive(Debug, Serialize, ToSchema)]
pub struct LayoutVersion {
    pub version: u64,
    pub base_version: Option<u64>,
    /// `initialized`, `updated` or `source_selected`.
    pub kind: String,
    /// The fields set: `{panel_id, field, value}`.
    #[schema(value_type = Vec<Object>)]
    pub changes: serde_json::Value,
    /// `{panel_id, field, winner, loser, loser_version}`.
    #[schema(value_type = Vec<Object>)]
    pub conflicts: serde_json::Value,
    /// `{user_id, role, participant_id}`.
    #[schema(value_type = Object)]
    pub actor: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
    pub position: u64,
}

impl From<LayoutVersionRow> for LayoutVersion {
    fn from(v: LayoutVersionRow) -> LayoutVersion {
        LayoutVersion {
            version: v.version,
            base_version: v.base_version,
            kind: v.kind,
            changes: serde_json::to_value(v.changes).unwrap_or_default(),
            conflicts: serde_json::to_value(v.conflicts).unwrap_or_default(),
            actor: serde_json::to_value(v.actor).unwrap_or_default(),
            recorded_at: v.recorded_at,
            position: v.position,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LayoutVersionPage {
    pub items: Vec<LayoutVersion>,
    pub next_cursor: Option<String>,
}
