//! Write rate limits of the REST API: every write (a method other than GET, or a GET the
//! endpoint table marks as writing, WHIP/WHEP included) counts against its client address
//! before anything else, and against its user once known. Past either rate: 429
//! `rate_limited` with `Retry-After` and the error envelope. The WebSocket counts its messages
//! against the same limiter (`App::write_limiter`).

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::Method;
use livesurgery_domain::endpoints::Endpoint;
use uuid::Uuid;

use super::error::ApiError;
use super::state::ApiState;

/// Whether a request to this endpoint is a write that the rate limits count.
pub fn is_write(req: &HttpRequest, endpoint: &Endpoint) -> bool {
    endpoint.writes || !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The client address the limits count: the connection's peer (a forwarded-for header is
/// the client's to choose, so it is not trusted here).
pub fn client_address(req: &HttpRequest) -> Option<IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

/// Counts one write from the request's address (before its caller is known).
pub fn count_write(
    state: &ApiState,
    req: &HttpRequest,
    user: Option<Uuid>,
) -> Result<(), ApiError> {
    Ok(state.write_limiter.check(user, client_address(req))?)
}

/// Counts one write of a user, once the request's credentials named them.
pub fn count_user_write(state: &ApiState, user: Uuid) -> Result<(), ApiError> {
    Ok(state.write_limiter.check(Some(user), None)?)
}
