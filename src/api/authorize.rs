//! Authorisation before validation: a middleware that checks every API request against the
//! endpoint table (`livesurgery_domain::endpoints`) BEFORE the handler's extractors read the
//! path's query, headers or body. A caller without the right gets 401/403/404 whatever they
//! sent: a bad body never tells them more (a 422 would say "you may, but not like this").
//!
//! What this guard establishes (the caller, the session access or the archive, a finished
//! read-your-writes wait) is handed to the handler through the request's extensions: its own
//! checks of the same object then cost nothing and are not recorded twice.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use livesurgery_domain::endpoints::{self, Guard};
use uuid::Uuid;

use super::error::ApiError;
use super::limits;
use super::state::{ApiState, CaughtUp, Guarded, bearer_token, operation};
use crate::app::JoinChannel;

/// What an endpoint's `{id}` names, read from the raw path (the router has not run yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// No id of a session or archive: a check against the caller's organisation role.
    Nothing,
    Session(Uuid),
    Archive(Uuid),
    /// The id is no UUID: the handler's path extractor answers 404 (after our 401).
    Unreadable,
}

/// The object of `path` for a route template of the endpoint table.
fn target(route: &str, path: &str) -> Target {
    let id = || {
        // `/v1/<kind>/<id>[:verb][/...]`: the fourth segment, up to a verb.
        path.split('/')
            .nth(3)
            .and_then(|segment| segment.split(':').next())
            .and_then(|id| Uuid::parse_str(id).ok())
    };
    let kind = if route.starts_with("/v1/sessions/{id}") {
        Target::Session
    } else if route.starts_with("/v1/archives/{id}") {
        Target::Archive
    } else {
        return Target::Nothing;
    };
    id().map_or(Target::Unreadable, kind)
}

/// Middleware: the endpoint table's guard, run before anything reads the request.
pub async fn authorize_first(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<ApiState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    match check(&state, req.request()).await {
        Ok(()) => Ok(next.call(req).await?.map_into_boxed_body()),
        Err(refused) => Ok(req.error_response(refused)),
    }
}

/// Counts a write against the rate limits, checks the request's credentials and right, and
/// keeps the caller for the handler.
async fn check(state: &ApiState, req: &HttpRequest) -> Result<(), ApiError> {
    let op = operation(req);
    let Some(endpoint) = endpoints::endpoint(&op.method, &op.route) else {
        // Not an API route (the web app, an unknown path): nothing to guard here.
        return Ok(());
    };
    let writes = limits::is_write(req, endpoint);
    // Per address first: a flood with bad tokens counts too.
    if writes {
        limits::count_address_write(state, req)?;
    }
    let user = identify(state, req, &op, endpoint).await?;
    if writes && let Some(user) = user {
        limits::count_user_write(state, user)?;
    }
    Ok(())
}

/// Runs the endpoint's guard; returns the user it established, if any.
async fn identify(
    state: &ApiState,
    req: &HttpRequest,
    op: &crate::app::Operation,
    endpoint: &livesurgery_domain::endpoints::Endpoint,
) -> Result<Option<Uuid>, ApiError> {
    match endpoint.guard {
        // Each checks its own token, which no extractor reads before the handler does.
        Guard::Public | Guard::SetupToken | Guard::PlaybackToken | Guard::JoinToken => Ok(None),
        Guard::Authenticated => {
            let caller = state.authenticate(req).await?;
            let user = caller.id();
            req.extensions_mut().insert(caller);
            Ok(Some(user))
        }
        Guard::Action(_) => {
            let caller = state.authenticate(req).await?;
            let target = target(&op.route, req.path());
            if matches!(target, Target::Session(_) | Target::Archive(_)) {
                // A read-your-writes request may name a session or archive made by the write it
                // waits for: guard it as of that position. A bad or unreached position is the
                // handler's to answer, after this guard.
                if state.read_after(req).await.is_ok() {
                    req.extensions_mut().insert(CaughtUp);
                }
            }
            match target {
                Target::Nothing => state.guard(req, &caller).await?,
                Target::Session(session_id) => {
                    let access = state.guard_session(req, &caller, session_id).await?;
                    req.extensions_mut()
                        .insert(Guarded::Session(session_id, access));
                }
                Target::Archive(archive_id) => {
                    let archive = state.guard_archive(req, &caller, archive_id).await?;
                    req.extensions_mut()
                        .insert(Guarded::Archive(archive_id, Box::new(archive)));
                }
                Target::Unreadable => {}
            }
            let user = caller.id();
            req.extensions_mut().insert(caller);
            Ok(Some(user))
        }
        Guard::SfuToken(action) => {
            let Target::Session(session_id) = target(&op.route, req.path()) else {
                return Ok(None);
            };
            let participant = state
                .authenticate_participant(JoinChannel::Sfu, bearer_token(req), session_id)
                .await?;
            super::request_span::record_user(req, participant.user.user_id);
            state
                .authorize_media(op, &participant, session_id, action)
                .await?;
            Ok(Some(participant.user.user_id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_of_a_route_is_read_from_the_raw_path() {
        let id = Uuid::now_v7();
        assert_eq!(
            target(
                "/v1/sessions/{id}:start",
                &format!("/v1/sessions/{id}:start")
            ),
            Target::Session(id)
        );
        assert_eq!(
            target(
                "/v1/sessions/{id}/members/{user_id}",
                &format!("/v1/sessions/{id}/members/{}", Uuid::nil())
            ),
            Target::Session(id)
        );
        assert_eq!(
            target(
                "/v1/archives/{id}/playback",
                &format!("/v1/archives/{id}/playback")
            ),
            Target::Archive(id)
        );
        assert_eq!(
            target("/v1/users/{id}", &format!("/v1/users/{id}")),
            Target::Nothing
        );
        assert_eq!(
            target("/v1/sessions/{id}", "/v1/sessions/not-a-uuid"),
            Target::Unreadable
        );
    }
}
