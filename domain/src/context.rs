//! Who issues a command, and when: the only source of identity and time for `decide`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::envelope::Actor;
use crate::roles::OrgRole;

/// The authenticated caller of a command and the time the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandContext {
    /// The authenticated user.
    pub user_id: Uuid,
    /// The user's organisation role, as the server loaded it.
    pub org_role: OrgRole,
    /// The participant (connected device) the command comes from, when it comes over one.
    pub participant_id: Option<Uuid>,
    /// The server's clock when the command arrived.
    pub now: DateTime<Utc>,
}

impl CommandContext {
    /// A context without a participant.
    pub fn new(user_id: Uuid, org_role: OrgRole, now: DateTime<Utc>) -> Self {
        CommandContext {
            user_id,
            org_role,
            participant_id: None,
            now,
        }
    }

    /// The envelope actor of the events this command produces.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            role: Some(self.org_role.as_str().to_owned()),
            participant_id: self.participant_id,
        }
    }
}
