//! Write rate limits of the REST API: every write (a method other than GET, or a GET the
//! endpoint table marks as writing, WHIP/WHEP included) counts against its client address
//! before anything else, and against its user once known. Past either rate: 429
//! `rate_limited` with `Retry-After` and the error envelope. The WebSocket counts its messages
//! against the same limiter (`App::write_limiter`).

use actix_web::HttpRequest;
use actix_web::http::Method;
use livesurgery_domain::endpoints::Endpoint;
use uuid::Uuid;

use super::error::ApiError;
use super::state::{ApiState, client_address};

/// Whether a request to this endpoint is a write that the rate limits count.
pub fn is_write(req: &HttpRequest, endpoint: &Endpoint) -> bool {
    endpoint.writes || !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Counts one write from the request's address (before its caller is known).
pub fn count_address_write(state: &ApiState, req: &HttpRequest) -> Result<(), ApiError> {
    Ok(state.write_limiter.check(None, client_address(req))?)
}

/// Counts one write of a user, once the request's credentials named them.
pub fn count_user_write(state: &ApiState, user: Uuid) -> Result<(), ApiError> {
    Ok(state.write_limiter.check(Some(user), None)?)
}
