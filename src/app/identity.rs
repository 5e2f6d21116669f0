//! Who is calling: one authenticator for every transport. An access token names a signed-in
//! user (REST); a join token of `participants:join` names a participant of one session (the
//! WebSocket and WHIP/WHEP). Each check is made in full on every call: signature, expiry,
//! audience, and a user that exists and is active now; for an access token also a sign-in
//! (refresh-token family) that has not been revoked.
//!
//! Signing in, refreshing and signing out live here too: the refresh-token families of
//! `auth::families` (rotation, reuse detection, idle and absolute timeouts) and the sign-in
//! throttling per (address, username) pair, with their audit events on the user's access
//! stream (`RefreshTokenReused`, `SignInThrottled`; never a token or a password).

use std::net::IpAddr;

use chrono::Utc;
use livesurgery_domain::events::{RefreshTokenReused, SignInThrottled, access_stream};
use livesurgery_domain::roles::OrgRole;
use livesurgery_domain::{CommandContext, Event};
use livesurgery_projections::UserRow;
use uuid::Uuid;

use super::{App, AppError, Caller, ErrorKind};
use crate::auth::tokens::{AUDIENCE_SFU, AUDIENCE_WS, TokenError};
use crate::auth::{JoinClaims, Redeemed, SessionLimits, verify_password};
use crate::store::ExpectedVersion;

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
        if let Some(family) = claims.fam
            && !self.credentials.family_is_live(family).await?
        {
            return Err(AppError::unauthenticated(
                "session_revoked",
                "this sign-in has ended (signed out, timed out, or its refresh token was reused); sign in again",
            ));
        }
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

/// The tokens of a signed-in session (a sign-in or a refresh).
#[derive(Debug, Clone)]
pub struct SessionTokens {
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
    pub user: UserRow,
}

fn invalid_credentials() -> AppError {
    AppError::unauthenticated("invalid_credentials", "wrong username or password")
}

fn invalid_refresh() -> AppError {
    AppError::unauthenticated("invalid_token", "the refresh token is not valid")
}

fn deactivated() -> AppError {
    AppError::unauthenticated("user_deactivated", "this user has been deactivated")
}

/// Whole seconds to wait, at least one (for `Retry-After`).
fn wait_secs(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

impl App {
    fn session_limits(&self) -> SessionLimits {
        SessionLimits {
            refresh_ttl_secs: self.settings.refresh_token_ttl_secs,
            idle_secs: self.settings.session_idle_timeout,
            absolute_secs: self.settings.session_absolute_timeout,
        }
    }

    /// Signs a user in with a password from `address`: a new refresh-token family.
    pub async fn sign_in(
        &self,
        username: &str,
        password: String,
        address: Option<IpAddr>,
    ) -> Result<SessionTokens, AppError> {
        if let Err(wait) = self.login_limiter.check(username, address) {
            let mut refused = AppError::new(
                ErrorKind::RateLimited,
                "too_many_attempts",
                "too many sign-in attempts; wait before trying again",
            );
            refused.retry_after = Some(wait_secs(wait));
            return Err(refused);
        }
        let found = self.credentials.find(username).await?;
        let (user_id, hash) = match found {
            Some((user_id, hash)) => (Some(user_id), hash),
            // Same work as a real check, so timing does not tell which usernames exist.
            None => (None, crate::auth::dummy_hash().to_owned()),
        };
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(AppError::internal)?;
        let Some(user_id) = user_id.filter(|_| ok) else {
            tracing::info!("sign-in refused");
            if let Some(throttled) = self.login_limiter.failed(username, address)
                && let Some(user_id) = user_id
            {
                self.record_sign_in_event(
                    user_id,
                    Event::SignInThrottled(SignInThrottled {
                        user_id,
                        address: address.map_or_else(|| "unknown".to_owned(), |a| a.to_string()),
                        failures: throttled.failures,
                        delay_secs: wait_secs(throttled.delay),
                    }),
                )
                .await;
            }
            return Err(invalid_credentials());
        };
        self.login_limiter.succeeded(username, address);
        let user = match self.user(user_id).await? {
            Some(user) => user,
            None => {
                // Registered a moment ago, maybe by another process (`livesurgery users create`):
                // let the read models catch up with the log once.
                let head = self.store.head_position().await?;
                self.wait_for(head).await;
                self.user(user_id).await?.ok_or_else(invalid_credentials)?
            }
        };
        if !user.active {
            return Err(deactivated());
        }
        let family = self.credentials.start_family(user.user_id).await?;
        self.session_tokens(user, family).await
    }

    /// Trades a refresh token for new tokens of the same family. A replay of a used token
    /// revokes the family and is recorded (`RefreshTokenReused`).
    pub async fn refresh_session(&self, refresh_token: &str) -> Result<SessionTokens, AppError> {
        let limits = self.session_limits();
        match self
            .credentials
            .redeem_refresh(refresh_token, limits)
            .await?
        {
            Redeemed::Fresh { user_id, family_id } => {
                let user = self.user(user_id).await?.ok_or_else(invalid_refresh)?;
                if !user.active {
                    return Err(deactivated());
                }
                self.session_tokens(user, family_id).await
            }
            Redeemed::Reused {
                user_id,
                family_id,
                newly,
            } => {
                tracing::warn!(%user_id, %family_id, "a used refresh token was replayed; its family is revoked");
                if newly {
                    self.record_sign_in_event(
                        user_id,
                        Event::RefreshTokenReused(RefreshTokenReused { user_id, family_id }),
                    )
                    .await;
                }
                Err(AppError::unauthenticated(
                    "refresh_token_reused",
                    "this refresh token was used already; every token of its sign-in is revoked: sign in again",
                ))
            }
            Redeemed::IdleTimeout => Err(AppError::unauthenticated(
                "session_idle_timeout",
                "the session was idle too long; sign in again",
            )),
            Redeemed::AbsoluteTimeout => Err(AppError::unauthenticated(
                "session_absolute_timeout",
                "the session has reached its maximum length; sign in again",
            )),
            Redeemed::Invalid => Err(invalid_refresh()),
        }
    }

    /// The sign-in family of a sign-out's bearer token (its `fam` claim), if it has one.
    /// Refuses (401 `invalid_token`) a bearer token that is not one of ours, as every route
    /// does; an expired one passes (without a family), so that signing out with the refresh
    /// token still works after the access token expired.
    pub fn sign_out_family(&self, access_token: Option<&str>) -> Result<Option<Uuid>, AppError> {
        match access_token.map(|token| self.keys.verify_access(token.trim())) {
            Some(Err(TokenError::Invalid)) => Err(AppError::unauthenticated(
                "invalid_token",
                "the access token is not valid",
            )),
            Some(Ok(claims)) => Ok(claims.fam),
            Some(Err(_)) | None => Ok(None),
        }
    }

    /// Signs out: revokes the family of the refresh token, or else `access_family` (from
    /// [`App::sign_out_family`]). Nothing to revoke is not an error.
    pub async fn sign_out(
        &self,
        refresh_token: Option<&str>,
        access_family: Option<Uuid>,
    ) -> Result<(), AppError> {
        let mut family = None;
        if let Some(token) = refresh_token {
            family = self.credentials.family_of(token).await?;
        }
        if let Some(family) = family.or(access_family) {
            self.credentials.revoke_family(family, "logout").await?;
        }
        Ok(())
    }

    async fn session_tokens(&self, user: UserRow, family: Uuid) -> Result<SessionTokens, AppError> {
        let ttl = self.settings.access_token_ttl_secs;
        let (access_token, _) = self
            .keys
            .issue_session_access(user.user_id, Some(family), ttl);
        let refresh_ttl = self.settings.refresh_token_ttl_secs;
        let refresh_token = self
            .credentials
            .issue_refresh(user.user_id, family, refresh_ttl)
            .await?;
        Ok(SessionTokens {
            access_token,
            expires_in: ttl,
            refresh_token,
            refresh_expires_in: refresh_ttl,
            user,
        })
    }

    /// Appends a sign-in security event to the user's access stream; a failure to record is
    /// logged (the refusal stands either way).
    async fn record_sign_in_event(&self, user_id: Uuid, event: Event) {
        let role = match self.user(user_id).await {
            Ok(Some(user)) => user.role,
            _ => OrgRole::Observer,
        };
        let ctx = CommandContext::new(user_id, role, Utc::now());
        let new = event.into_new_event(Uuid::now_v7(), ctx.actor(), Uuid::now_v7(), None);
        if let Err(error) = self
            .store
            .append(&access_stream(user_id), ExpectedVersion::Any, vec![new])
            .await
        {
            tracing::error!(%error, "could not record a sign-in security event");
        }
    }
}
