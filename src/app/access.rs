//! May the caller do this? The domain's endpoint table and permissions decide; a refused
//! write is recorded as `AccessDenied`, a read of the audit trail as `AuditTrailRead`, both in
//! the caller's access stream.

use std::collections::BTreeMap;

use chrono::Utc;
use livesurgery_domain::endpoints::{self, Endpoint, Guard};
use livesurgery_domain::events::{AccessDenied, AuditReadKind, AuditTrailRead, access_stream};
use livesurgery_domain::permissions::{Action, authorize};
use livesurgery_domain::roles::{OrgRole, SessionRole};
use livesurgery_domain::session::SessionCommand;
use livesurgery_domain::user::UserCommand;
use livesurgery_domain::{CommandContext, DomainError, Event};
use livesurgery_projections::UserRow;
use uuid::Uuid;

use super::commands::{Accepted, CommandError};
use super::{App, AppError};
use crate::store::{ExpectedVersion, StoreError};

/// The signed-in user making a request, as the read models know them now.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserRow,
    /// The request's correlation id: every event it causes carries it.
    pub request_id: Uuid,
}

impl Caller {
    /// The caller's user id.
    pub fn id(&self) -> Uuid {
        self.user.user_id
    }

    /// The caller's organisation role.
    pub fn role(&self) -> OrgRole {
        self.user.role
    }

    /// The command context of a command this caller sends now.
    pub fn context(&self) -> CommandContext {
        CommandContext::new(self.user.user_id, self.user.role, Utc::now())
    }
}

/// What a caller attempts, as the endpoint table names it: an HTTP method and route pattern
/// (`POST`, `/v1/sessions/{id}:start`), or `WS` and the message (`/v1/sessions/{id}/ws
/// layout.update`). It is what an `AccessDenied` event records.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: String,
    pub route: String,
}

/// What was refused: the session it concerned, the action, the status answered and why.
#[derive(Debug, Clone, Copy)]
pub struct Refusal<'a> {
    pub session_id: Option<Uuid>,
    pub action: Action,
    pub status: u16,
    pub reason: &'a str,
}

/// A session endpoint's access check, passed: the caller's role in the session.
#[derive(Debug, Clone)]
pub struct SessionAccess {
    pub role: Option<SessionRole>,
}

impl App {
    /// Checks an endpoint that names no session against the endpoint table.
    pub async fn guard(&self, op: &Operation, caller: &Caller) -> Result<(), AppError> {
        let (endpoint, action) = endpoint_action(op)?;
        let Some(action) = action else {
            return Ok(());
        };
        if let Err(denied) = authorize(caller.role(), None, action) {
            if endpoint.writes {
                self.record_denied(op, caller, None, action, 403, &denied.reason)
                    .await;
            }
            return Err(AppError::forbidden(denied.reason));
        }
        Ok(())
    }

    /// Checks a session endpoint: `not_found` when the session does not exist or the caller
    /// may not know it does, `forbidden` when they may see it but not do this. A refused
    /// write is recorded.
    pub async fn guard_session(
        &self,
        op: &Operation,
        caller: &Caller,
        session_id: Uuid,
    ) -> Result<SessionAccess, AppError> {
        let (endpoint, action) = endpoint_action(op)?;
        let exists = self.session_exists(session_id).await?;
        let role = if exists {
            self.member_role(session_id, caller.id()).await?
        } else {
            None
        };
        let action = action.unwrap_or(Action::ReadSession);
        if !(exists && endpoints::can_see_session(caller.role(), role)) {
            if endpoint.writes {
                self.record_denied(
                    op,
                    caller,
                    Some(session_id),
                    action,
                    404,
                    "no such session, or not a member",
                )
                .await;
            }
            return Err(AppError::not_found("no such session"));
        }
        if let Err(denied) = authorize(caller.role(), role, action) {
            if endpoint.writes {
                self.record_denied(op, caller, Some(session_id), action, 403, &denied.reason)
                    .await;
            }
            return Err(AppError::forbidden(denied.reason));
        }
        Ok(SessionAccess { role })
    }

    /// Appends an `AccessDenied` event (who tried what, and the status they were answered).
    pub async fn record_denied(
        &self,
        op: &Operation,
        caller: &Caller,
        session_id: Option<Uuid>,
        action: Action,
        status: u16,
        reason: &str,
    ) {
        let refusal = Refusal {
            session_id,
            action,
            status,
            reason,
        };
        self.record_refusal(op, &caller.context(), caller.request_id, refusal)
            .await;
    }

    /// Appends an `AccessDenied` event for a refusal of `op` to the context's user (and
    /// participant, when the context names one). Failing to record is logged, and the caller
    /// still gets the refusal.
    pub async fn record_refusal(
        &self,
        op: &Operation,
        ctx: &CommandContext,
        correlation_id: Uuid,
        refusal: Refusal<'_>,
    ) {
        let event = Event::AccessDenied(AccessDenied {
            user_id: ctx.user_id,
            session_id: refusal.session_id,
            action: refusal.action,
            method: op.method.clone(),
            route: op.route.clone(),
            status: refusal.status,
            reason: refusal.reason.to_owned(),
        });
        if let Err(error) = self.append_access_event(ctx, correlation_id, event).await {
            tracing::error!(%error, "could not record a denied request");
        }
    }

    /// Appends an `AuditTrailRead` event; an audit read that cannot be recorded is refused.
    pub async fn record_audit_read(
        &self,
        caller: &Caller,
        session_id: Option<Uuid>,
        kind: AuditReadKind,
        query: BTreeMap<String, String>,
        client_address: Option<String>,
    ) -> Result<u64, AppError> {
        let event = Event::AuditTrailRead(AuditTrailRead {
            user_id: caller.id(),
            session_id,
            kind,
            query,
            client_address,
        });
        Ok(self
            .append_access_event(&caller.context(), caller.request_id, event)
            .await?)
    }

    /// Appends an event to the access stream of the context's user.
    async fn append_access_event(
        &self,
        ctx: &CommandContext,
        correlation_id: Uuid,
        event: Event,
    ) -> Result<u64, StoreError> {
        let new = event.into_new_event(Uuid::now_v7(), ctx.actor(), correlation_id, None);
        let append = self
            .store
            .append(&access_stream(ctx.user_id), ExpectedVersion::Any, vec![new])
            .await?;
        Ok(append.last_position)
    }

    /// Runs a session command for the caller; a domain refusal is recorded like a guard's.
    pub async fn session_command(
        &self,
        op: &Operation,
        caller: &Caller,
        session_id: Uuid,
        command: SessionCommand,
    ) -> Result<Accepted, AppError> {
        let result = self
            .execute_session_command(&caller.context(), session_id, &command, caller.request_id)
            .await;
        self.after_command(op, caller, Some(session_id), result)
            .await
    }

    /// Runs a user command for the caller.
    pub async fn user_command(
        &self,
        op: &Operation,
        caller: &Caller,
        user_id: Uuid,
        command: UserCommand,
    ) -> Result<Accepted, AppError> {
        let result = self
            .execute_user_command(&caller.context(), user_id, &command, caller.request_id)
            .await;
        self.after_command(op, caller, None, result).await
    }

    /// The answer to a command's result; a refusal by the domain is recorded like a guard's.
    pub(super) async fn after_command<T>(
        &self,
        op: &Operation,
        caller: &Caller,
        session_id: Option<Uuid>,
        result: Result<T, CommandError>,
    ) -> Result<T, AppError> {
        match result {
            Ok(accepted) => Ok(accepted),
            // Refused by the domain (joining needs membership, admins included): recorded like
            // the guard's refusals.
            Err(CommandError::Domain(
                denied @ (DomainError::Forbidden { .. } | DomainError::NotAMember { .. }),
            )) => {
                let (_, action) = endpoint_action(op)?;
                if let Some(action) = action {
                    let reason = denied.to_string();
                    self.record_denied(op, caller, session_id, action, 403, &reason)
                        .await;
                }
                Err(denied.into())
            }
            Err(other) => Err(other.into()),
        }
    }
}

/// The endpoint-table row of an operation and the action it guards, if any.
pub(super) fn endpoint_action(
    op: &Operation,
) -> Result<(&'static Endpoint, Option<Action>), AppError> {
    let endpoint = endpoints::endpoint(&op.method, &op.route).ok_or_else(|| {
        AppError::internal(format!(
            "route {} {} is missing from the endpoint table",
            op.method, op.route
        ))
    })?;
    let action = match endpoint.guard {
        Guard::Action(action) => Some(action),
        Guard::Public
        | Guard::Authenticated
        | Guard::JoinToken
        | Guard::SfuToken(_)
        | Guard::PlaybackToken
        | Guard::SetupToken => None,
    };
    Ok((endpoint, action))
}

/// Whether the endpoint table marks this operation as a write (a refused write is recorded).
pub fn is_write(op: &Operation) -> bool {
    endpoints::endpoint(&op.method, &op.route).is_some_and(|e| e.writes)
}
