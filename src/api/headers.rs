//! What every HTTP answer carries, API and web app alike: the security headers (a
//! Content-Security-Policy without inline scripts, `nosniff`, no framing, no referrer),
//! `Cache-Control: no-store` on the server's own paths (they carry tokens and patient data),
//! `Strict-Transport-Security` when the server terminates TLS, and CORS for the allowed
//! origins only (`--allowed-origins`; the server's own origin needs none).
//!
//! A request the HTTP parser refuses never reaches this (nor any) middleware: actix-http answers
//! it itself; [`super::wire`] gives those answers the same headers.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};

use super::error::ApiError;
use crate::app::{AppError, ErrorKind};
use crate::settings::{ApiSettings, StorageKind};

/// The CSP of the server's own answers (JSON, media): they load nothing and frame nowhere.
const SERVER_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// A year: browsers then refuse plain HTTP to this host.
const HSTS: &str = "max-age=31536000";
/// The security headers of every answer, whatever its path.
const EVERY_ANSWER: [(HeaderName, &str); 3] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];
/// Besides, on the server's own paths: they load nothing, and (tokens, patient data, audit
/// trails) no cache on the way may keep them.
const SERVER_PATHS: [(HeaderName, &str); 2] = [
    (header::CONTENT_SECURITY_POLICY, SERVER_CSP),
    (header::CACHE_CONTROL, "no-store"),
];
const HSTS_HEADER: (HeaderName, &str) = (header::STRICT_TRANSPORT_SECURITY, HSTS);

/// The security headers of an answer on one of the server's own paths (HSTS when it terminates
/// TLS): what [`edge`] sets, for answers made where no middleware runs (`super::wire`).
pub fn server_headers(tls: bool) -> impl Iterator<Item = &'static (HeaderName, &'static str)> {
    EVERY_ANSWER
        .iter()
        .chain(&SERVER_PATHS)
        .chain(tls.then_some(&HSTS_HEADER))
}

/// Methods a cross-origin page of an allowed origin may use.
const CORS_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";
/// Headers a cross-origin page of an allowed origin may send, unless its preflight names
/// others (an allowed origin's page may send what it asks for).
const CORS_HEADERS: &str =
    "authorization, content-type, idempotency-key, if-match, x-min-position, x-request-id";
/// Answer headers a cross-origin page of an allowed origin may read.
const CORS_EXPOSED: &str = "x-request-id, x-position, location, retry-after, idempotent-replayed";

/// The server's header policy, decided once at start-up from the settings.
#[derive(Debug, Clone)]
pub struct EdgePolicy {
    settings: ApiSettings,
    /// Origins archives play from besides the server (an S3 endpoint).
    media_origins: Vec<String>,
}

impl EdgePolicy {
    /// The policy for these settings.
    pub fn new(settings: &ApiSettings) -> EdgePolicy {
        let mut media_origins = Vec::new();
        if settings.storage == StorageKind::S3
            && let Some(endpoint) = &settings.s3_endpoint
            && let Some((scheme, rest)) = endpoint.trim().split_once("://")
        {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            media_origins.push(format!("{scheme}://{host}"));
            // Virtual-hosted style puts the bucket in the host name.
            if let Some(bucket) = &settings.s3_bucket {
                media_origins.push(format!("{scheme}://{bucket}.{host}"));
            }
        }
        EdgePolicy {
            settings: settings.clone(),
            media_origins,
        }
    }

    /// The web app's CSP for a page served at `host` (scheme `secure` or not): scripts and
    /// styles from the server only (inline `<style>` allowed: the workspace's grid styles),
    /// no framing; WebSocket back to the server.
    fn app_csp(&self, host: &str, secure: bool) -> String {
        let ws = if secure { "wss" } else { "ws" };
        let mut connect = format!("'self' {ws}://{host}");
        if let Some(public) = &self.settings.public_url {
            let public = public.trim_end_matches('/');
            let public_ws = public
                .replacen("https://", "wss://", 1)
                .replacen("http://", "ws://", 1);
            connect.push_str(&format!(" {public_ws}"));
        }
        let media = std::iter::once("'self' blob:".to_owned())
            .chain(self.media_origins.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        format!(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data: blob:; media-src {media}; connect-src {connect}; \
             font-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; \
             form-action 'self'; frame-ancestors 'none'"
        )
    }
}

/// Middleware: see the module documentation. Wrapped inside the error envelope, so that its
/// own refusals carry the envelope too.
pub async fn edge(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(policy) = req.app_data::<web::Data<EdgePolicy>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let server_path = crate::web::is_server_path(req.path());
    let (own, host, secure) = {
        let info = req.connection_info();
        let secure = info.scheme() == "https";
        (
            format!("{}://{}", info.scheme(), info.host()),
            info.host().to_owned(),
            secure,
        )
    };
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let cross_origin = origin
        .as_deref()
        .filter(|origin| policy.settings.origin_allowed(origin, &own))
        .and_then(|origin| HeaderValue::from_str(origin).ok());
    let preflight = req.method() == Method::OPTIONS
        && origin.is_some()
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut res = if preflight {
        let asked = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or(HeaderValue::from_static(CORS_HEADERS));
        let response = match &cross_origin {
            Some(_) => HttpResponse::NoContent()
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, CORS_METHODS))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, asked))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
                .finish(),
            None => ApiError::from(AppError::new(
                ErrorKind::Forbidden,
                "origin_not_allowed",
                "this origin may not call the API (see LIVESURGERY_ALLOWED_ORIGINS)",
            ))
            .error_response(),
        };
        req.into_response(response)
    } else {
        next.call(req).await?.map_into_boxed_body()
    };

    let headers = res.headers_mut();
    let set = |headers: &mut header::HeaderMap, name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    let tls = policy.settings.tls();
    if server_path {
        for (name, value) in server_headers(tls) {
            set(headers, name.clone(), value);
        }
    } else {
        for (name, value) in EVERY_ANSWER.iter().chain(tls.then_some(&HSTS_HEADER)) {
            set(headers, name.clone(), value);
        }
        let csp = policy.app_csp(&host, secure);
        set(headers, header::CONTENT_SECURITY_POLICY, &csp);
    }
    if let Some(origin) = cross_origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(CORS_EXPOSED),
        );
    }
    // Whether CORS headers are there depends on the Origin: caches must keep them apart.
    if origin.is_some() && res.status() != StatusCode::SWITCHING_PROTOCOLS {
        res.headers_mut()
            .append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_csp_allows_no_inline_script_and_no_framing() {
        let csp = EdgePolicy::new(&ApiSettings::default()).app_csp("or.example:8080", false);
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' ws://or.example:8080"),
            "{csp}"
        );
    }

    #[test]
    fn archives_in_s3_may_play_from_its_endpoint() {
        let settings = ApiSettings {
            storage: StorageKind::S3,
            s3_endpoint: Some("https://s3.example.org/".into()),
            s3_bucket: Some("arch".into()),
            ..ApiSettings::default()
        };
        let csp = EdgePolicy::new(&settings).app_csp("h", true);
        assert!(
            csp.contains(
                "media-src 'self' blob: https://s3.example.org https://arch.s3.example.org;"
            ),
            "{csp}"
        );
    }
}
