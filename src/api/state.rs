//! The REST handlers' view of the application: [`ApiState`] derefs to [`App`] and adds what
//! HTTP brings: the operation a request names (method and route pattern, for the endpoint
//! table), its bearer token, its correlation id, and read-your-writes from `X-Min-Position`.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use livesurgery_domain::session::SessionCommand;
use livesurgery_domain::user::UserCommand;
use livesurgery_projections::ArchiveRow;
use uuid::Uuid;

use super::error::{ApiError, RequestId};
use crate::app::access::SessionAccess;
use crate::app::commands::Accepted;
use crate::app::{App, Operation, RecordingChange};

pub use crate::app::Caller;

/// The position a write reached; a read that sends it back as `X-Min-Position` sees the write.
pub const POSITION_HEADER: &str = "x-position";
/// Read-your-writes: wait until the read models reach this position.
pub const MIN_POSITION_HEADER: &str = "x-min-position";

/// A guard the `authorize_first` middleware passed for this request, kept in its extensions so
/// that the handler's own guard of the same object neither looks it up nor records it again.
#[derive(Debug, Clone)]
pub enum Guarded {
    Session(Uuid, SessionAccess),
    Archive(Uuid, Box<ArchiveRow>),
}

/// The request's read-your-writes wait (see [`ApiState::read_after`]) is done: the read models
/// reached its position.
#[derive(Debug, Clone, Copy)]
pub struct CaughtUp;

/// Shared state of the HTTP handlers: the application, reached through `Deref`.
pub struct ApiState {
    app: Arc<App>,
}

impl Deref for ApiState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

/// The request's correlation id: its request id when that is a UUID, else a new one (chosen
/// once per request by `request_span`, whose trace it names).
pub fn correlation_id(req: &HttpRequest) -> Uuid {
    if let Some(id) = super::request_span::correlation_of(req) {
        return id;
    }
    req.extensions()
        .get::<RequestId>()
        .and_then(|id| Uuid::parse_str(&id.0).ok())
        .unwrap_or_else(Uuid::now_v7)
}

/// What a request attempts, as the endpoint table names it.
pub fn operation(req: &HttpRequest) -> Operation {
    Operation {
        method: req.method().to_string(),
        route: req.match_pattern().unwrap_or_default(),
    }
}

impl ApiState {
    /// The handlers' state over this application.
    pub fn new(app: Arc<App>) -> ApiState {
        ApiState { app }
    }

    /// The application itself, for what outlives a request.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Authenticates the request's bearer access token.
    pub async fn authenticate(&self, req: &HttpRequest) -> Result<Caller, ApiError> {
        let caller = self
            .app
            .authenticate(bearer_token(req), correlation_id(req))
            .await?;
        super::request_span::record_user(req, caller.id());
        Ok(caller)
    }

    /// Checks an endpoint that names no session against the endpoint table.
    pub async fn guard(&self, req: &HttpRequest, caller: &Caller) -> Result<(), ApiError> {
        Ok(self.app.guard(&operation(req), caller).await?)
    }

    /// Checks a session endpoint (404 hides a session the caller may not know of).
    pub async fn guard_session(
        &self,
        req: &HttpRequest,
        caller: &Caller,
        session_id: Uuid,
    ) -> Result<SessionAccess, ApiError> {
        if let Some(Guarded::Session(id, access)) = req.extensions().get::<Guarded>()
            && *id == session_id
        {
            return Ok(access.clone());
        }
        Ok(self
            .app
            .guard_session(&operation(req), caller, session_id)
            .await?)
    }

    /// Runs a session command for the caller; a domain refusal is recorded like a guard's.
    pub async fn session_command(
        &self,
        req: &HttpRequest,
        caller: &Caller,
        session_id: Uuid,
        command: SessionCommand,
    ) -> Result<Accepted, ApiError> {
        Ok(self
            .app
            .session_command(&operation(req), caller, session_id, command)
            .await?)
    }

    /// Checks an archive endpoint against the archive's session (404 hides an archive the
    /// caller may not know of); returns the archive.
    pub async fn guard_archive(
        &self,
        req: &HttpRequest,
        caller: &Caller,
        archive_id: Uuid,
    ) -> Result<ArchiveRow, ApiError> {
        if let Some(Guarded::Archive(id, archive)) = req.extensions().get::<Guarded>()
            && *id == archive_id
        {
            return Ok(archive.as_ref().clone());
        }
        Ok(self
            .app
            .guard_archive(&operation(req), caller, archive_id)
            .await?)
    }

    /// Starts or stops the session's recording for the caller; returns the recording's id.
    pub async fn recording_command(
        &self,
        req: &HttpRequest,
        caller: &Caller,
        session_id: Uuid,
        change: RecordingChange,
    ) -> Result<(Uuid, Accepted), ApiError> {
        Ok(self
            .app
            .recording_command(&operation(req), caller, session_id, change)
            .await?)
    }

    /// Changes an archive's expiry, legal hold or both for the caller (admins).
    pub async fn set_archive_retention(
        &self,
        req: &HttpRequest,
        caller: &Caller,
        archive: &ArchiveRow,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        legal_hold: Option<bool>,
    ) -> Result<Accepted, ApiError> {
        Ok(self
            .app
            .set_archive_retention(&operation(req), caller, archive, expires_at, legal_hold)
            .await?)
    }

    /// Runs a user command for the caller.
    pub async fn user_command(
        &self,
        req: &HttpRequest,
        caller: &Caller,
        user_id: Uuid,
        command: UserCommand,
    ) -> Result<Accepted, ApiError> {
        Ok(self
            .app
            .user_command(&operation(req), caller, user_id, command)
            .await?)
    }

    /// Read-your-writes: waits for `X-Min-Position` or `?min_position=`, if the request has one;
    /// 503 `not_caught_up` when the read models do not get there in time.
    pub async fn read_after(&self, req: &HttpRequest) -> Result<(), ApiError> {
        if req.extensions().get::<CaughtUp>().is_some() {
            return Ok(());
        }
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
        match from_header.or(from_query) {
            None => Ok(()),
            Some(None) => Err(ApiError::bad_request(
                "invalid_min_position",
                "X-Min-Position / min_position must be a log position (an integer)",
            )),
            Some(Some(position)) => Ok(self.app.wait_until_visible(position).await?),
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        // Authenticated already by the authorisation middleware (`authorize`), before any
        // extractor read the request.
        if let Some(caller) = req.extensions().get::<Caller>().cloned() {
            return Box::pin(std::future::ready(Ok(caller)));
        }
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

/// The address a request came from: the connection's peer. A forwarded-for header is the
/// client's to choose, so it is not trusted for the limits or the audit records.
pub fn client_address(req: &HttpRequest) -> Option<std::net::IpAddr> {
    req.peer_addr().map(|a| a.ip())
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
