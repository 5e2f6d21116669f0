//! The `users` projection: the organisation's users with their role and whether they are active.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use livesurgery_domain::events::Event;
use livesurgery_domain::roles::OrgRole;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::ReadModels;
use crate::db::{
    Dialect, Sql, Val, enum_name, get_bool, get_enum, get_text, get_time, get_u64, get_uuid,
    load_by_keys,
};
use crate::error::ProjectionError;
use crate::fold::{Parsed, Write, rows_of};
use crate::schema::TableDef;
use crate::sessions::page_limit;

pub(crate) const TABLES: &[TableDef] = &[TableDef {
    base: "rm_users",
    columns: "user_id TEXT NOT NULL, username TEXT NOT NULL, display_name TEXT NOT NULL, \
        role TEXT NOT NULL, active {int} NOT NULL, registered_at {int} NOT NULL, \
        updated_at {int} NOT NULL, position {int} NOT NULL",
    primary_key: "user_id",
    without_rowid: true,
    indexes: &[("username", "username")],
}];

/// A user of the organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    /// The user.
    pub user_id: Uuid,
    /// The login name.
    pub username: String,
    /// The name shown to others.
    pub display_name: String,
    /// The role.
    pub role: OrgRole,
    /// False once deactivated (until reactivated).
    pub active: bool,
    /// When the user registered.
    pub registered_at: DateTime<Utc>,
    /// When the last change was recorded.
    pub updated_at: DateTime<Utc>,
    /// Log position of the last event that changed this row.
    pub position: u64,
}

const COLUMNS: &[&str] = &[
    "user_id",
    "username",
    "display_name",
    "role",
    "active",
    "registered_at",
    "updated_at",
    "position",
];

impl UserRow {
    fn values(&self) -> Vec<Val> {
        vec![
            self.user_id.into(),
            self.username.clone().into(),
            self.display_name.clone().into(),
            enum_name(&self.role).into(),
            self.active.into(),
            self.registered_at.into(),
            self.updated_at.into(),
            self.position.into(),
        ]
    }

    fn from_row(row: &AnyRow) -> Result<Self, ProjectionError> {
        Ok(UserRow {
            user_id: get_uuid(row, "user_id")?,
            username: get_text(row, "username")?,
            display_name: get_text(row, "display_name")?,
            role: get_enum(row, "role")?,
            active: get_bool(row, "active")?,
            registered_at: get_time(row, "registered_at")?,
            updated_at: get_time(row, "updated_at")?,
            position: get_u64(row, "position")?,
        })
    }
}

fn user_of(event: &Event) -> Option<Uuid> {
    match event {
        Event::UserRegistered(e) => Some(e.user_id),
        Event::UserRoleChanged(e) => Some(e.user_id),
        Event::UserDisplayNameChanged(e) => Some(e.user_id),
        Event::UserDeactivated(e) => Some(e.user_id),
        Event::UserReactivated(e) => Some(e.user_id),
        _ => None,
    }
}

/// The users a batch folds over.
#[derive(Debug, Default)]
pub(crate) struct State {
    users: HashMap<Uuid, UserRow>,
}

/// Loads into `state` the rows of the tables with `suffix` that `items` touch.
pub(crate) async fn load(
    conn: &mut AnyConnection,
    dialect: Dialect,
    suffix: &str,
    items: &[Parsed<'_>],
    state: &mut State,
) -> Result<(), ProjectionError> {
    let ids: BTreeSet<Uuid> = items
        .iter()
        .filter_map(|i| i.event.as_ref().and_then(user_of))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let table = TABLES[0].name(suffix);
    let keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    for row in load_by_keys(
        conn,
        dialect,
        &format!("SELECT * FROM {table} WHERE"),
        "user_id",
        &keys,
        "",
    )
    .await?
    {
        let row = UserRow::from_row(&row)?;
        state.users.insert(row.user_id, row);
    }
    Ok(())
}

/// Folds `items` over `state`; returns the writes of every row that changed.
pub(crate) fn fold(state: &mut State, items: &[Parsed<'_>]) -> Vec<Write> {
    let users = &mut state.users;
    let mut dirty = BTreeSet::new();
    for item in items {
        let Some(event) = &item.event else { continue };
        let Some(user_id) = user_of(event) else {
            continue;
        };
        let at = item.ev.recorded_at;
        if let Event::UserRegistered(e) = event {
            users.insert(
                user_id,
                UserRow {
                    user_id,
                    username: e.username.clone(),
                    display_name: e.display_name.clone(),
                    role: e.role,
                    active: true,
                    registered_at: at,
                    updated_at: at,
                    position: item.ev.position,
                },
            );
            dirty.insert(user_id);
            continue;
        }
        // A change to a user we never saw registered has nothing to change.
        let Some(user) = users.get_mut(&user_id) else {
            continue;
        };
        match event {
            Event::UserRoleChanged(e) => user.role = e.to,
            Event::UserDisplayNameChanged(e) => user.display_name = e.display_name.clone(),
            Event::UserDeactivated(_) => user.active = false,
            Event::UserReactivated(_) => user.active = true,
            _ => {}
        }
        user.updated_at = at;
        user.position = item.ev.position;
        dirty.insert(user_id);
    }
    vec![Write {
        table: &TABLES[0],
        columns: COLUMNS,
        keys: Some(&["user_id"]),
        rows: rows_of(&dirty, users, UserRow::values),
    }]
}

/// Which users [`ReadModels::list_users`] returns, by username.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UserFilter {
    /// Only active (or only inactive) users.
    pub active: Option<bool>,
    /// The role.
    pub role: Option<OrgRole>,
    /// Cursor: only usernames after this one (the previous page's last username).
    pub after_username: Option<String>,
    /// Page size; 0 means the default (50), capped at 1,000.
    pub limit: u32,
}

impl ReadModels {
    /// Users matching `filter`, ordered by username.
    pub async fn list_users(&self, filter: &UserFilter) -> Result<Vec<UserRow>, ProjectionError> {
        let mut sql = Sql::new("SELECT * FROM rm_users WHERE 1 = 1");
        if let Some(active) = filter.active {
            sql.push(" AND active = ?", active);
        }
        if let Some(role) = &filter.role {
            sql.push(" AND role = ?", enum_name(role));
        }
        if let Some(after) = &filter.after_username {
            sql.push(" AND username > ?", after.as_str());
        }
        sql.push(
            " ORDER BY username, user_id LIMIT ?",
            i64::from(page_limit(filter.limit)),
        );
        sql.fetch_all(&self.pool)
            .await?
            .iter()
            .map(UserRow::from_row)
            .collect()
    }

    /// One user, if registered.
    pub async fn get_user(&self, user_id: Uuid) -> Result<Option<UserRow>, ProjectionError> {
        let mut sql = Sql::new("SELECT * FROM rm_users WHERE ");
        sql.push("user_id = ?", user_id);
        sql.fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(UserRow::from_row)
            .transpose()
    }
}
