//! The `http.request` span of every request: the log lines written while serving it carry its
//! `request_id`, `session_id` (from the path) and `user_id` (once authenticated), and with
//! traces on it is the root of the request's trace, whose id is the request's correlation id
//! (see `telemetry::trace`). It records ids, the method, the route pattern and the status:
//! never the raw path or query (a WebSocket token may be in the query), nor any header.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};
use tracing::Instrument;
use tracing::field::Empty;
use uuid::Uuid;

use super::error::RequestId;
use crate::telemetry::trace;

/// The request's span, kept in its extensions for what is learnt later (the user).
#[derive(Clone)]
struct RequestSpan(tracing::Span);

/// The request's correlation id, chosen once (see [`correlation_of`]).
#[derive(Clone, Copy)]
struct Correlation(Uuid);

/// The correlation id this middleware chose for the request, if it ran.
pub fn correlation_of(req: &HttpRequest) -> Option<Uuid> {
    req.extensions().get::<Correlation>().map(|c| c.0)
}

/// Records the authenticated user on the request's span.
pub fn record_user(req: &HttpRequest, user_id: Uuid) {
    if let Some(RequestSpan(span)) = req.extensions().get::<RequestSpan>() {
        span.record("user_id", tracing::field::display(user_id));
    }
}

/// The session a path names (`/v1/sessions/{id}…`), if any.
fn session_in_path(path: &str) -> Option<Uuid> {
    let rest = path.strip_prefix("/v1/sessions/")?;
    let id = rest.split(['/', ':']).next()?;
    Uuid::parse_str(id).ok()
}

/// Middleware: see the module documentation. Wrapped inside the error envelope, which has set
/// the request id.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    // The request id when it is a UUID, else a new one: chosen here once, so the trace and the
    // events' correlation id are the same even for a request id that is no UUID.
    let correlation_id = Uuid::parse_str(&request_id).unwrap_or_else(|_| Uuid::now_v7());
    let span = tracing::info_span!(
        parent: None,
        "http.request",
        request_id = %request_id,
        correlation_id = %correlation_id,
        http.request.method = %req.method(),
        http.route = Empty,
        http.response.status_code = Empty,
        session_id = Empty,
        user_id = Empty,
    );
    if let Some(session_id) = session_in_path(req.path()) {
        span.record("session_id", tracing::field::display(session_id));
    }
    trace::begin_correlation(&span, correlation_id);
    req.extensions_mut().insert(Correlation(correlation_id));
    req.extensions_mut().insert(RequestSpan(span.clone()));
    let started = std::time::Instant::now();
    let answer = next.call(req).instrument(span.clone()).await;
    let status = match &answer {
        Ok(response) => {
            if let Some(route) = response.request().match_pattern() {
                span.record("http.route", route);
            }
            response.status()
        }
        Err(error) => error.as_response_error().status_code(),
    };
    span.record("http.response.status_code", status.as_u16());
    // The access log, at debug (`RUST_LOG=info,livesurgery::api=debug`): one line a request,
    // the status from the span's fields.
    tracing::debug!(
        parent: &span,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "answered"
    );
    Ok(answer?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_id_comes_from_a_session_path_only() {
        let id = Uuid::now_v7();
        assert_eq!(session_in_path(&format!("/v1/sessions/{id}")), Some(id));
        assert_eq!(
            session_in_path(&format!("/v1/sessions/{id}/layout")),
            Some(id)
        );
        assert_eq!(
            session_in_path(&format!("/v1/sessions/{id}/participants:join")),
            Some(id)
        );
        assert_eq!(session_in_path(&format!("/v1/sessions/{id}:end")), Some(id));
        assert_eq!(session_in_path("/v1/sessions"), None);
        assert_eq!(session_in_path("/v1/sessions/not-an-id/layout"), None);
        assert_eq!(session_in_path(&format!("/v1/archives/{id}")), None);
    }
}
