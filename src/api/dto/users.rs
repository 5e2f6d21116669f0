//! Users of the organisation and the directory of active users (`/v1/users…`).

use chrono::{DateTime, Utc};
use livesurgery_domain::roles::OrgRole;
use livesurgery_projections::UserRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An organisation role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Surgeon,
    Observer,
    Reviewer,
}

impl From<OrgRole> for Role {
    fn from(r: OrgRole) -> Role {
        match r {
            OrgRole::Admin => Role::Admin,
            OrgRole::Surgeon => Role::Surgeon,
            OrgRole::Observer => Role::Observer,
            OrgRole::Reviewer => Role::Reviewer,
        }
    }
}

impl From<Role> for OrgRole {
    fn from(r: Role) -> OrgRole {
        match r {
            Role::Admin => OrgRole::Admin,
            Role::Surgeon => OrgRole::Surgeon,
            Role::Observer => OrgRole::Observer,
            Role::Reviewer => OrgRole::Reviewer,
        }
    }
}

/// A user of the organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// A deactivated user cannot sign in; their tokens stop working at once.
    pub active: bool,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(u: UserRow) -> User {
        User {
            id: u.user_id,
            username: u.username,
            display_name: u.display_name,
            role: u.role.into(),
            active: u.active,
            registered_at: u.registered_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// 3-64 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
    pub username: String,
    /// At least 12 characters.
    pub password: String,
    pub role: Role,
    pub display_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub role: Option<Role>,
    pub display_name: Option<String>,
    /// `false` deactivates the user (their tokens stop working at once); `true` reactivates.
    pub active: Option<bool>,
}

/// One page of users, ordered by username.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<User>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A user as every signed-in user may see them: enough to show a name and pick a member.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryEntry {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// False for a deactivated user (listed only with `include_deactivated=true`).
    pub active: bool,
}

impl From<UserRow> for DirectoryEntry {
    fn from(u: UserRow) -> DirectoryEntry {
        DirectoryEntry {
            id: u.user_id,
            username: u.username,
            display_name: u.display_name,
            role: u.role.into(),
            active: u.active,
        }
    }
}

/// One page of the directory of active users, ordered by username.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryPage {
    pub items: Vec<DirectoryEntry>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DirectoryQuery {
    /// Deactivated users too (for naming them in the audit trail): admins and reviewers only,
    /// others get 403.
    pub include_deactivated: Option<bool>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Only active (`true`) or deactivated (`false`) users.
    pub active: Option<bool>,
    pub role: Option<Role>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}
