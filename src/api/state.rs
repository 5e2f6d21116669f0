//! What every handler shares, and the three steps most of them take: who is calling
//! ([`Caller`]), may they ([`ApiState::guard`], [`ApiState::guard_session`]), and carry out a
//! command ([`ApiState::session_command`]); a handler that answers from the read models then
//! waits until they show the write ([`ApiState::wait_for`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono::Utc;
use livesurgery_domain::endpoints::{self, Guard};
use livesurgery_domain::events::{AccessDenied, AuditReadKind, AuditTrailRead, access_stream};
use livesurgery_domain::permissions::{Action, authorize};
use livesurgery_domain::roles::{OrgRole, SessionRole};
use livesurgery_domain::session::SessionCommand;
use livesurgery_domain::user::UserCommand;
use livesurgery_domain::{CommandContext, DomainError, Event};
use livesurgery_projections::{ReadModels, SessionRow, UserRow};
use uuid::Uuid;

use super::error::{ApiError, RequestId};
use crate::auth::{Credentials, Keys, LoginLimiter, TokenError};
use crate::commands::{self, Accepted, CommandError};
use crate::projector::ProjectorHandle;
use crate::settings::ApiSettings;
use crate::store::{EventStore, ExpectedVersion};

/// The position a write reached; a read that sends it back as `X-Min-Position` sees the write.
pub const POSITION_HEADER: &str = "x-position";
/// Read-your-writes: wait until the read models reach this position.
pub const MIN_POSITION_HEADER: &str = "x-min-position";

/// Shared state of the HTTP handlers.
pub struct ApiState {
    pub store: Arc<dyn EventStore>,
    pub projector: ProjectorHandle,
    pub read_models: ReadModels,
    pub credentials: Credentials,
    pub keys: Keys,
    pub settings: ApiSettings,
    pub login_limiter: LoginLimiter,
    users: EpochCache<Uuid, Option<UserRow>>,
    executor: commands::Executor,
    /// Read-model rows of sessions and memberships, valid while their session's change
    /// counter stands still (see `ProjectorHandle::session_epochs`).
    session_rows: EpochCache<Uuid, Option<SessionRow>>,
    member_roles: EpochCache<(Uuid, Uuid), Option<SessionRole>>,
    known_sessions: EpochCache<Uuid, bool>,
    /// Projections being rebuilt now.
    pub rebuilding: Arc<Mutex<HashSet<String>>>,
}

/// Values with the change counter they were read at.
type EpochCache<K, V> = Mutex<HashMap<K, (u64, V)>>;

/// The signed-in user making the request, as the read models know them now.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserRow,
    pub request_id: Uuid,
}

impl Caller {
    pub fn id(&self) -> Uuid {
        self.user.user_id
    }

    pub fn role(&self) -> OrgRole {
        self.user.role
    }

    /// The command context of a command this caller sends now.
    pub fn context(&self) -> CommandContext {
        CommandContext::new(self.user.user_id, self.user.role, Utc::now())
    }
}

/// A session endpoint's access check, passed: the session and the caller's role in it.
#[derive(Debug, Clone)]
pub struct SessionAccess {
    pub role: Option<SessionRole>,
}

/// The request's correlation id: its request id when that is a UUID, else a new one.
pub fn correlation_id(req: &HttpRequest) -> Uuid {
    req.extensions()
        .get::<RequestId>()
        .and_then(|id| Uuid::parse_str(&id.0).ok())
        .unwrap_or_else(Uuid::now_v7)
}

impl ApiState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn EventStore>,
        projector: ProjectorHandle,
        read_models: ReadModels,
        keys: Keys,
        settings: ApiSettings,
    ) -> ApiState {
        let login_limiter = LoginLimiter::new(
            settings.login_per_username_per_minute,
            settings.login_per_address_per_minute,
        );
        ApiState {
            store,
            projector,
            credentials: Credentials::new(read_models.pool().clone()),
            read_models,
            keys,
            settings,
            login_limiter,
            users: Mutex::new(HashMap::new()),
            executor: commands::Executor::default(),
            session_rows: Mutex::new(HashMap::new()),
            member_roles: Mutex::new(HashMap::new()),
            known_sessions: Mutex::new(HashMap::new()),
            rebuilding: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    fn read_wait(&self) -> Duration {
        Duration::from_millis(self.settings.read_wait_ms)
    }

    /// A user as the read models know them, cached until an event of theirs is projected.
    pub async fn user(&self, user_id: Uuid) -> Result<Option<UserRow>, ApiError> {
        let epoch = self.projector.user_epochs().get(&user_id);
        cached(&self.users, user_id, epoch, || {
            self.read_models.get_user(user_id)
        })
        .await
    }

    /// A session's read-model row, from the cache while the session has not changed.
    pub async fn session_row(&self, session_id: Uuid) -> Result<Option<SessionRow>, ApiError> {
        let epoch = self.projector.session_epochs().get(&session_id);
        cached(&self.session_rows, session_id, epoch, || {
            self.read_models.get_session(session_id)
        })
        .await
    }

    /// Whether a session exists (in the read models), cached while its membership events,
    /// creation included, stand still.
    pub async fn session_exists(&self, session_id: Uuid) -> Result<bool, ApiError> {
        let epoch = self.projector.member_epochs().get(&session_id);
        cached(&self.known_sessions, session_id, epoch, || async move {
            let row = self.read_models.get_session(session_id).await?;
            Ok::<_, ApiError>(row.is_some())
        })
        .await
    }

    /// A user's role in a session (`None`: not a member), cached while the session's
    /// membership has not changed.
    pub async fn member_role(
        &self,
        session_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<SessionRole>, ApiError> {
        let epoch = self.projector.member_epochs().get(&session_id);
        cached(&self.member_roles, (session_id, user_id), epoch, || {
            self.read_models.member_role(session_id, user_id)
        })
        .await
    }

    /// Authenticates a bearer token: signature, expiry, and a user that exists and is active.
    pub async fn authenticate(&self, req: &HttpRequest) -> Result<Caller, ApiError> {
        let token = bearer_token(req).ok_or_else(|| {
            ApiError::unauthorized(
                "missing_token",
                "send an access token as Authorization: Bearer <token>",
            )
        })?;
        let claims = self.keys.verify_access(token.trim()).map_err(|e| match e {
            TokenError::Expired => {
                ApiError::unauthorized("token_expired", "the access token has expired; refresh it")
            }
            TokenError::Invalid => {
                ApiError::unauthorized("invalid_token", "the access token is not valid")
            }
        })?;
        let user = self.user(claims.sub).await?.ok_or_else(|| {
            ApiError::unauthorized("invalid_token", "the access token is not valid")
        })?;
        if !user.active {
            return Err(ApiError::unauthorized(
                "user_deactivated",
                "this user has been deactivated",
            ));
        }
        Ok(Caller {
            user,
            request_id: correlation_id(req),
        })
    }

    /// Checks an endpoint that names no session against the endpoint table.
    pub async fn guard(&self, req: &HttpRequest, caller: &Caller) -> Result<(), ApiError> {
        let (endpoint, action) = self.endpoint_action(req)?;
        let Some(action) = action else {
            return Ok(());
        };
        if let Err(denied) = authorize(caller.role(), None, action) {
            if endpoint.writes {
                self.record_denied(req, caller, None, action, 403, &denied.reason)
                    .await;
            }
            return Err(ApiError::forbidden(denied.reason));
        }
        Ok(())
    }

    /// Checks a session endpoint: 404 when the session does not exist or the caller may not
    /// know it does, 403 when they may see it but not do this. A refused write is recorded.
    pub async fn guard_session(
        &self,
        req: &HttpRequest,
        caller: &Caller,
        session_id: Uuid,
    ) -> Result<SessionAccess, ApiError> {
        let (endpoint, action) = self.endpoint_action(req)?;
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
                    req,
                    caller,
                    Some(session_id),
                    action,
                    404,
                    "no such session, or not a member",
                )
                .await;
            }
            return Err(ApiError::not_found("no such session"));
        }
        if let Err(denied) = authorize(caller.role(), role, action) {
            if endpoint.writes {
                self.record_denied(req, caller, Some(session_id), action, 403, &denied.reason)
                    .await;
            }
            return Err(ApiError::forbidden(denied.reason));
        }
        Ok(SessionAccess { role })
    }

    fn endpoint_action(
        &self,
        req: &HttpRequest,
    ) -> Result<(&'static endpoints::Endpoint, Option<Action>), ApiError> {
        let pattern = req.match_pattern().unwrap_or_default();
        let endpoint = endpoints::endpoint(req.method().as_str(), &pattern).ok_or_else(|| {
            ApiError::internal(format!(
                "route {} {pattern} is missing from the endpoint table",
                req.method()
            ))
        })?;
        let action = match endpoint.guard {
            Guard::Action(action) => Some(action),
            Guard::Public | Guard::Authenticated | Guard::JoinToken | Guard::SfuToken(_) => None,
        };
        Ok((endpoint, action))
    }

    /// Appends an `AccessDenied` event (who tried what). Failing to record is logged, and the
    /// caller still gets the refusal.
    pub async fn record_denied(
        &self,
        req: &HttpRequest,
        caller: &Caller,
        session_id: Option<Uuid>,
        action: Action,
        status: u16,
        reason: &str,
    ) {
        let denied = AccessDenied {
            user_id: caller.id(),
            session_id,
            action,
            method: req.method().to_string(),
            route: req.match_pattern().unwrap_or_default(),
            status,
            reason: reason.to_owned(),
        };
        self.append_denied(caller.context(), caller.request_id, denied)
            .await;
    }

    /// Appends an `AccessDenied` event for a refusal that did not come through an HTTP request
    /// (a WebSocket message: `method` `WS`, `route` the message type). Failing to record is
    /// logged, and the caller still gets the refusal.
    pub async fn append_denied(
        &self,
        ctx: CommandContext,
        correlation_id: Uuid,
        denied: AccessDenied,
    ) {
        let event = Event::AccessDenied(denied);
        if let Err(error) = self.append_access_event(&ctx, correlation_id, event).await {
            tracing::error!(%error, "could not record a denied request");
        }
    }

    /// Runs a session command with this context: the write path of the REST handlers (through
    /// [`ApiState::session_command`]) and of WebSocket participants (whose context names the
    /// participant, so it is in the events' actor).
    pub async fn execute_session_command(
        &self,
        ctx: &CommandContext,
        session_id: Uuid,
        command: &SessionCommand,
        correlation_id: Uuid,
    ) -> Result<Accepted, CommandError> {
        self.executor
            .execute::<livesurgery_domain::aggregate::Session>(
                &*self.store,
                session_id,
                command,
                ctx,
                correlation_id,
            )
            .await
    }

    /// Appends facts to a session's stream (the SFU's media events), in turn with its commands.
    pub async fn record_session_facts(
        &self,
        session_id: Uuid,
        facts: &[(Event, livesurgery_domain::envelope::Actor)],
        correlation_id: Uuid,
    ) -> Result<crate::store::AppendResult, CommandError> {
        self.executor
            .record::<livesurgery_domain::aggregate::Session>(
                &*self.store,
                session_id,
                facts,
                correlation_id,
            )
            .await
    }

    /// Appends an `AuditTrailRead` event; an audit read that cannot be recorded is refused.
    pub async fn record_audit_read(
        &self,
        caller: &Caller,
        session_id: Option<Uuid>,
        kind: AuditReadKind,
        query: BTreeMap<String, String>,
    ) -> Result<u64, ApiError> {
        let event = Event::AuditTrailRead(AuditTrailRead {
            user_id: caller.id(),
            session_id,
            kind,
            query,
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
    ) -> Result<u64, crate::store::StoreError> {
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
        req: &HttpRequest,
        caller: &Caller,
        session_id: Uuid,
        command: SessionCommand,
    ) -> Result<Accepted, ApiError> {
        let result = self
            .execute_session_command(&caller.context(), session_id, &command, caller.request_id)
            .await;
        self.after_command(req, caller, Some(session_id), result)
            .await
    }

    /// Runs a user command for the caller.
    pub async fn user_command(
        &self,
        req: &HttpRequest,
        caller: &Caller,
        user_id: Uuid,
        command: UserCommand,
    ) -> Result<Accepted, ApiError> {
        let result = self
            .executor
            .execute::<livesurgery_domain::aggregate::User>(
                &*self.store,
                user_id,
                &command,
                &caller.context(),
                caller.request_id,
            )
            .await;
        self.after_command(req, caller, None, result).await
    }

    async fn after_command(
        &self,
        req: &HttpRequest,
        caller: &Caller,
        session_id: Option<Uuid>,
        result: Result<Accepted, CommandError>,
    ) -> Result<Accepted, ApiError> {
        match result {
            Ok(accepted) => Ok(accepted),
            // Refused by the domain (joining needs membership, admins included): recorded like
            // the guard's refusals.
            Err(CommandError::Domain(
                denied @ (DomainError::Forbidden { .. } | DomainError::NotAMember { .. }),
            )) => {
                let (_, action) = self.endpoint_action(req)?;
                if let Some(action) = action {
                    let reason = denied.to_string();
                    self.record_denied(req, caller, session_id, action, 403, &reason)
                        .await;
                }
                Err(denied.into())
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Waits, bounded, until the read models reach `position`; false when they did not in time.
    pub async fn wait_for(&self, position: u64) -> bool {
        self.projector.wait_for(position, self.read_wait()).await
    }

    /// Read-your-writes: waits for `X-Min-Position` or `?min_position=`, if the request has one;
    /// 503 `not_caught_up` when the read models do not get there in time.
    pub async fn read_after(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let from_header = req
            .headers()
            .get(MIN_POSITION_HEADER)
            .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()));
        let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map(web::Query::into_inner)
            .unwrap_or_default();
        let mut given = pairs.iter().filter(|(k, _)| k == "min_position");
        let from_query = match (given.next(), given.next()) {
            (None, _) => None,
            (Some((_, value)), None) => Some(value.parse::<u64>().ok()),
            // Given twice: which one was meant?
            (Some(_), Some(_)) => Some(None),
        };
        let wanted = match from_header.or(from_query) {
            None => return Ok(()),
            Some(None) => {
                return Err(ApiError::bad_request(
                    "invalid_min_position",
                    "X-Min-Position / min_position must be a log position (an integer)",
                ));
            }
            Some(Some(position)) => position,
        };
        if wanted <= self.projector.position() {
            return Ok(());
        }
        // A position past the log's head names no write: waiting for it would only time out.
        let head = self.store.head_position().await?;
        if wanted > head {
            return Err(ApiError::bad_request(
                "invalid_min_position",
                format!("position {wanted} is past the end of the log ({head})"),
            ));
        }
        if self.wait_for(wanted).await {
            Ok(())
        } else {
            Err(ApiError::unavailable(
                "not_caught_up",
                format!(
                    "the read models have not reached position {wanted} yet (at {})",
                    self.projector.position()
                ),
            ))
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The value cached under `key` if it was read at `epoch` (the key's change counter now),
/// else `load`ed and kept. Caches stay bounded: past 50,000 entries they start over.
async fn cached<K, V, E, Fut>(
    cache: &EpochCache<K, V>,
    key: K,
    epoch: u64,
    load: impl FnOnce() -> Fut,
) -> Result<V, ApiError>
where
    K: std::hash::Hash + Eq,
    V: Clone,
    Fut: Future<Output = Result<V, E>>,
    ApiError: From<E>,
{
    if let Some((seen, value)) = lock(cache).get(&key)
        && *seen == epoch
    {
        return Ok(value.clone());
    }
    // The counter was read before the load: a change projected meanwhile makes this entry
    // stale at once, never a stale entry look fresh.
    let value = load().await?;
    let mut cache = lock(cache);
    if cache.len() >= 50_000 {
        cache.clear();
    }
    cache.insert(key, (epoch, value.clone()));
    Ok(value)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<ApiState>>()
                .ok_or_else(|| ApiError::internal("API state is not configured"))?;
            state.authenticate(&req).await
        })
    }
}

/// The answer to a write that is in the log but that the read models did not show within the
/// read wait: 202 with the position (read it with `X-Min-Position`). Never a 5xx: the write
/// happened, and a retry must not repeat it.
pub fn accepted_not_visible(position: u64) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Accepted()
        .insert_header((POSITION_HEADER, position.to_string()))
        .json(super::dto::WriteAccepted {
            position,
            message: "the write is in the log; the read models have not shown it yet: read it \
                with X-Min-Position"
                .to_owned(),
        })
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}
