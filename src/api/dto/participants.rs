//! Joining a live session and who is present (`/v1/sessions/{id}/participants…`).

use chrono::{DateTime, Utc};
use livesurgery_projections::PresenceRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{MemberRole, RecordingFlag};
use crate::auth::MediaPermission;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// A label for the device (`"OR tablet"`), at most 100 characters.
    pub device: Option<String>,
}

/// Where and how to connect after joining.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinResponse {
    pub participant_id: Uuid,
    /// The caller's role in the session.
    pub role: MemberRole,
    /// What the tokens allow.
    pub permissions: Vec<MediaPermission>,
    pub ws: WsAccess,
    pub sfu: SfuAccess,
    pub ice_servers: Vec<IceServer>,
    /// When the WS and SFU tokens expire; join again for new ones.
    pub expires_at: DateTime<Utc>,
    /// Whether the session is being recorded as the participant joins.
    pub recording: RecordingFlag,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WsAccess {
    /// `GET` it as a WebSocket, with the token as `?token=` or in `Sec-WebSocket-Protocol`.
    pub url: String,
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SfuAccess {
    /// Publish here: the WHIP URL of the node the session's media is placed on (any node's
    /// join hands out the same node's URLs).
    pub whip_url: String,
    /// Subscribe here (WHEP), on the same node.
    pub whep_url: String,
    /// The node the session's media is placed on; a `media.placed` push naming another node
    /// means publish and subscribe again at its URLs.
    pub node_id: String,
    /// Send as `Authorization: Bearer <token>` to WHIP and WHEP.
    pub token: String,
}

pub use crate::app::media::ParticipantMedia;
pub use crate::sfu::turn::IceServer;

/// A participant present in a session now (one connection of one member).
#[derive(Debug, Serialize, ToSchema)]
pub struct Participant {
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub role: MemberRole,
    pub device: Option<String>,
    pub joined_at: DateTime<Utc>,
    /// Its connected media now: a participant whose WebSocket closed but whose media still
    /// flows stays listed, `watching` or `publishing`.
    pub media: ParticipantMedia,
}

impl From<PresenceRow> for Participant {
    fn from(p: PresenceRow) -> Participant {
        Participant {
            participant_id: p.participant_id,
            user_id: p.user_id,
            role: p.role.into(),
            device: p.device,
            joined_at: p.joined_at,
            media: ParticipantMedia::default(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantList {
    pub items: Vec<Participant>,
}
