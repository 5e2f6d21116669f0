//! The HTTP answers' metrics: every answer counted by method, matched route pattern and status
//! class, its latency observed, and `participants:join` answers counted by outcome (the join
//! success SLI). The outermost middleware, so that refusals made by the others (the error
//! envelope, authorization, the edge's limits) are counted as the client saw them.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web;

use super::Metrics;

/// The route pattern of `participants:join`, whose answers make the join success SLI.
const JOIN_ROUTE: &str = "/v1/sessions/{id}/participants:join";

/// Measures the request (see the module documentation).
pub async fn measure(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(metrics) = req.app_data::<web::Data<Metrics>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let started = Instant::now();
    let method = method_label(req.method());
    // The pattern, never the path: a path holds ids.
    let route = req.match_pattern();
    let result = next.call(req).await;
    let status = match &result {
        Ok(res) => res.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    let route = route.as_deref().unwrap_or("unmatched");
    metrics
        .http
        .requests
        .with_label_values(&[method, route, status_class(status)])
        .inc();
    metrics
        .http
        .duration
        .with_label_values(&[method, route])
        .observe(started.elapsed().as_secs_f64());
    if route == JOIN_ROUTE && method == "POST" {
        metrics
            .http
            .joins
            .with_label_values(&[join_outcome(status)])
            .inc();
    }
    Ok(result?.map_into_boxed_body())
}

/// A method as a label: the methods the API serves, anything else `other` (a label's values
/// must stay few, whatever clients send).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// A join's outcome: a refusal (4xx) is a correct answer, not a failure of the service.
fn join_outcome(status: StatusCode) -> &'static str {
    if status.is_server_error() {
        "failed"
    } else if status.is_client_error() {
        "refused"
    } else {
        "ok"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_outcomes() {
        assert_eq!(status_class(StatusCode::OK), "2xx");
        assert_eq!(status_class(StatusCode::SWITCHING_PROTOCOLS), "1xx");
        assert_eq!(status_class(StatusCode::NOT_MODIFIED), "3xx");
        assert_eq!(status_class(StatusCode::TOO_MANY_REQUESTS), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
        assert_eq!(join_outcome(StatusCode::CREATED), "ok");
        assert_eq!(join_outcome(StatusCode::FORBIDDEN), "refused");
        assert_eq!(join_outcome(StatusCode::INTERNAL_SERVER_ERROR), "failed");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
