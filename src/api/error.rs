//! The one error shape of the API: `{"error": {"code", "message", "request_id"}}` for every
//! non-2xx answer, the framework's own rejections included, and `X-Request-Id` on every answer.
//! HTTP status codes are chosen here and nowhere else.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
use livesurgery_domain::DomainError;

use crate::app::commands::CommandError;
use crate::app::{AppError, ErrorKind};

/// The request id header, answered on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served (from a sane incoming `X-Request-Id`, else generated).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case; clients branch on it.
    pub code: String,
    /// For humans.
    pub message: String,
    /// Quote it when reporting a problem: it is in the server's log lines.
    pub request_id: String,
    /// The current version, for `version_conflict` and `base_version_ahead`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
    /// Where the session's media is, for `media_elsewhere` (WHIP/WHEP on another node than
    /// the placed one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<crate::app::placement::MediaLocation>,
}

/// An API error: a status, a stable code and a message safe to show (no SQL, paths or traces).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub current_version: Option<u64>,
    /// Seconds to wait, for 429 and 503.
    pub retry_after: Option<u64>,
    /// Where the session's media is, for `media_elsewhere`.
    pub media: Option<Box<crate::app::placement::MediaLocation>>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The one mapping of the application's error kinds to HTTP statuses.
fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        ApiError {
            status: status_of(e.kind),
            code: e.code,
            message: e.message,
            current_version: e.current_version,
            retry_after: e.retry_after,
            media: e.media,
        }
    }
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            current_version: None,
            retry_after: None,
            media: None,
        }
    }

    /// 400: malformed input.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        AppError::invalid(code, message).into()
    }

    /// 401: no usable credentials.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
        AppError::unauthenticated(code, message).into()
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        AppError::forbidden(message).into()
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        AppError::not_found(message).into()
    }

    /// 409: in conflict with the current state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        AppError::conflict(code, message).into()
    }

    /// 422: well-formed, but unusable.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        AppError::unprocessable(code, message).into()
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(
        code: &'static str,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> ApiError {
        let mut e = ApiError::from(AppError::new(ErrorKind::RateLimited, code, message));
        e.retry_after = Some(retry_after_secs);
        e
    }

    /// A failure of ours: logged with its cause, answered without it.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        AppError::internal(cause).into()
    }

    /// 503, retry in a second.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> ApiError {
        AppError::unavailable(code, message).into()
    }

    /// 413: the body is over the configured limit.
    pub fn payload_too_large() -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than the server accepts",
        )
    }

    /// 415: the body is not sent as JSON.
    pub fn unsupported_media_type() -> ApiError {
        ApiError::unsupported_content("send the body as Content-Type: application/json")
    }

    /// 415 with what to send instead.
    pub fn unsupported_content(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    /// A JSON body that does not parse (400 `malformed_json`) or does not fit the expected
    /// shape (422 `invalid_body`).
    pub fn from_json(e: &serde_json::Error) -> ApiError {
        if e.is_data() {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                e.to_string(),
            )
        } else {
            ApiError::bad_request("malformed_json", e.to_string())
        }
    }

    pub fn with_retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after = Some(secs);
        self
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        // The request id is filled in by `envelope`, which knows the request.
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
                request_id: String::new(),
                current_version: self.current_version,
                media: self.media.as_deref().cloned(),
            },
        })
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        AppError::from(e).into()
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> ApiError {
        AppError::from(e).into()
    }
}

impl From<livesurgery_projections::ProjectionError> for ApiError {
    fn from(e: livesurgery_projections::ProjectionError) -> ApiError {
        AppError::from(e).into()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        AppError::from(e).into()
    }
}

impl From<crate::auth::CredentialsError> for ApiError {
    fn from(e: crate::auth::CredentialsError) -> ApiError {
        AppError::from(e).into()
    }
}

impl actix_web::ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        status_of(self.kind)
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        ApiError::from(self.clone()).error_response()
    }
}

/// Rejections of the JSON body extractor: wrong content type, too big, malformed, wrong shape.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let api = match &err {
        J::ContentType => ApiError::unsupported_media_type(),
        J::OverflowKnownLength { .. }
        | J::Overflow { .. }
        | J::Payload(actix_web::error::PayloadError::Overflow) => ApiError::payload_too_large(),
        J::Deserialize(e) => ApiError::from_json(e),
        _ => ApiError::bad_request("bad_request", "the request body could not be read"),
    };
    api.into()
}

/// Rejections of the query-string extractor.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    ApiError::bad_request("invalid_query", err.to_string()).into()
}

/// Rejections of the path extractor (an id that is not a UUID names nothing).
pub fn path_error(_err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::not_found("nothing exists at this address").into()
}

fn sane_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then(|| s.to_owned())
}

/// The envelope's code and message for an error status that carries none of its own.
pub fn code_for(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("bad_request", "the request is malformed"),
        401 => ("unauthorized", "sign in first"),
        403 => ("forbidden", "not allowed"),
        404 => ("not_found", "nothing exists at this address"),
        405 => (
            "method_not_allowed",
            "this address does not accept this method",
        ),
        406 => ("not_acceptable", "the server answers in JSON only"),
        408 => ("request_timeout", "the request took too long to arrive"),
        413 => (
            "payload_too_large",
            "the request body is larger than the server accepts",
        ),
        414 => ("uri_too_long", "the address is too long"),
        415 => (
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        ),
        429 => ("too_many_requests", "too many requests; wait and retry"),
        431 => ("headers_too_large", "the request headers are too large"),
        s if s >= 500 => ("internal_error", "the server failed to answer"),
        _ => ("error", "the request failed"),
    }
}

/// Middleware: gives each request an id, and makes every non-2xx answer the JSON envelope.
pub async fn envelope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    // Every log line written while serving the request carries its id: the `http.request`
    // span of `super::request_span`, inside this middleware.
    let response = next.call(req).await?.map_into_boxed_body();
    let status = response.status();
    let mut response =
        if status.is_success() || status.is_redirection() || status.is_informational() {
            response
        } else {
            rewrite_error(response, &request_id).await
        };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

async fn rewrite_error(
    response: ServiceResponse<BoxBody>,
    request_id: &str,
) -> ServiceResponse<BoxBody> {
    let status = response.status();
    let (req, res) = response.into_parts();
    let headers = res.headers().clone();
    let bytes = actix_web::body::to_bytes(res.into_body())
        .await
        .unwrap_or_default();
    let mut body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let is_envelope = body
        .get("error")
        .and_then(|e| e.get("code"))
        .is_some_and(serde_json::Value::is_string);
    if is_envelope {
        body["error"]["request_id"] = request_id.into();
    } else {
        let (code, message) = code_for(status);
        body = serde_json::json!({"error": {"code": code, "message": message, "request_id": request_id}});
    }
    let mut rebuilt = HttpResponse::build(status);
    for (name, value) in headers.iter() {
        if name != header::CONTENT_LENGTH && name != header::CONTENT_TYPE {
            rebuilt.append_header((name.clone(), value.clone()));
        }
    }
    ServiceResponse::new(req, rebuilt.json(body))
}
