//! Organisation roles and session roles.

use serde::{Deserialize, Serialize};

/// A user's role in the organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    Admin,
    Surgeon,
    Observer,
    /// Compliance reviewer: reads audit trails, never joins.
    Reviewer,
}

/// A member's role in one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionRole {
    Host,
    Surgeon,
    Observer,
}

impl OrgRole {
    /// Every organisation role, in declaration order.
    pub const ALL: [OrgRole; 4] = [
        OrgRole::Admin,
        OrgRole::Surgeon,
        OrgRole::Observer,
        OrgRole::Reviewer,
    ];

    /// The snake_case name, as serialised (`"admin"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Admin => "admin",
            OrgRole::Surgeon => "surgeon",
            OrgRole::Observer => "observer",
            OrgRole::Reviewer => "reviewer",
        }
    }
}

impl SessionRole {
    /// Every session role, in declaration order.
    pub const ALL: [SessionRole; 3] = [
        SessionRole::Host,
        SessionRole::Surgeon,
        SessionRole::Observer,
    ];

    /// The snake_case name, as serialised (`"host"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionRole::Host => "host",
            SessionRole::Surgeon => "surgeon",
            SessionRole::Observer => "observer",
        }
    }
}

impl std::fmt::Display for OrgRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for SessionRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
