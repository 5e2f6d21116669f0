//! Events of the user stream, `user-<uuid>`: registration, role, name and activation.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::roles::OrgRole;

/// A user was registered in the organisation, with an organisation role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: OrgRole,
}

/// A user's organisation role changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRoleChanged {
    pub user_id: Uuid,
    pub from: OrgRole,
    pub to: OrgRole,
}

/// A user's display name changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserDisplayNameChanged {
    pub user_id: Uuid,
    pub display_name: String,
}

/// A user may no longer sign in; their tokens stop working.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserDeactivated {
    pub user_id: Uuid,
}

/// A deactivated user may sign in again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserReactivated {
    pub user_id: Uuid,
}
