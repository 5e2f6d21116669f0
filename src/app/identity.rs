//! Who is calling: one authenticator for every transport. An access token names a signed-in
//! user (REST); a join token of `participants:join` names a participant of one session (the
//! WebSocket and WHIP/WHEP). Each check is made in full on every call: signature, expiry,
//! audience, and a user that exists and is active now.

use chrono::Utc;
use livesurgery_domain::CommandContext;
use livesurgery_domain::roles::OrgRole;
use livesurgery_projections::UserRow;
use uuid::Uuid;

use super::{App, AppError, Caller};
use crate::auth::JoinClaims;
use crate::auth::tokens::{AUDIENCE_SFU, AUDIENCE_WS, TokenError};

/// The channel a join token is for; each has its own audience and says how to send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinChannel {
    /// The realtime WebSocket.
    Ws,
    /// WHIP, WHEP and subscription selection.
    Sfu,
}

impl JoinChannel {
    fn audience(self) -> &'static str {
        match self {
            JoinChannel::Ws => AUDIENCE_WS,
            JoinChannel::Sfu => AUDIENCE_SFU,
        }
    }

    fn name(self) -> &'static str {
        match self {
            JoinChannel::Ws => "WS",
            JoinChannel::Sfu => "SFU",
        }
    }

    fn how_to_send(self) -> &'static str {
        match self {
            JoinChannel::Ws => {
                "send the WS token of participants:join as ?token= or as the subprotocol bearer.<token>"
            }
            JoinChannel::Sfu => {
                "send the SFU token of participants:join as Authorization: Bearer <token>"
            }
        }
    }
}

/// A participant of a session, from a checked join token and the user as they are now.
#[derive(Debug, Clone)]
pub struct Participant {
    pub claims: JoinClaims,
    pub user: UserRow,
}

impl Participant {
    /// The participant's id.
    pub fn id(&self) -> Uuid {
        self.claims.pid
    }

    /// The command context of this participant's user now (the participant is in the actor).
    pub fn context(&self) -> CommandContext {
        participant_context(self.user.user_id, self.user.role, self.claims.pid)
    }
}

/// The command context of a user acting through participant `participant_id` now: the actor
/// of what they write over a WebSocket or a media connection.
pub fn participant_context(
    user_id: Uuid,
    org_role: OrgRole,
    participant_id: Uuid,
) -> CommandContext {
    let mut ctx = CommandContext::new(user_id, org_role, Utc::now());
    ctx.participant_id = Some(participant_id);
    ctx
}

impl App {
    /// Authenticates an access token (`None`: none was sent); `request_id` becomes the
    /// caller's correlation id.
    pub async fn authenticate(
        &self,
        token: Option<&str>,
        request_id: Uuid,
    ) -> Result<Caller, AppError> {
        let token = token.ok_or_else(|| {
            AppError::unauthenticated(
                "missing_token",
                "send an access token as Authorization: Bearer <token>",
            )
        })?;
        let claims = self.keys.verify_access(token.trim()).map_err(|e| match e {
            TokenError::Expired => AppError::unauthenticated(
                "token_expired",
                "the access token has expired; refresh it",
            ),
            TokenError::Invalid => {
                AppError::unauthenticated("invalid_token", "the access token is not valid")
            }
        })?;
        let user = self
            .active_user(claims.sub, "the access token is not valid")
            .await?;
        Ok(Caller { user, request_id })
    }

    /// Authenticates a join token of `channel` for `session_id` (`None`: none was sent).
    pub async fn authenticate_participant(
        &self,
        channel: JoinChannel,
        token: Option<&str>,
        session_id: Uuid,
    ) -> Result<Participant, AppError> {
        let token = token
            .ok_or_else(|| AppError::unauthenticated("missing_token", channel.how_to_send()))?;
        let name = channel.name();
        let claims = self
            .keys
            .verify_join(token.trim(), channel.audience())
            .map_err(|e| match e {
                TokenError::Expired => AppError::unauthenticated(
                    "token_expired",
                    format!("the {name} token has expired; join the session again"),
                ),
                TokenError::Invalid => AppError::unauthenticated(
                    "invalid_token",
                    format!("the {name} token is not valid"),
                ),
            })?;
        if claims.sid != session_id {
            return Err(AppError::new(
                super::ErrorKind::Forbidden,
                "wrong_session",
                "this token is for another session",
            ));
        }
        let user = self
            .active_user(claims.sub, &format!("the {name} token is not valid"))
            .await?;
        Ok(Participant { claims, user })
    }

    /// The user a token names, if they exist and are active.
    async fn active_user(&self, user_id: Uuid, invalid: &str) -> Result<UserRow, AppError> {
        let user = self
            .user(user_id)
            .await?
            .ok_or_else(|| AppError::unauthenticated("invalid_token", invalid))?;
        if !user.active {
            return Err(AppError::unauthenticated(
                "user_deactivated",
                "this user has been deactivated",
            ));
        }
        Ok(user)
    }
}
