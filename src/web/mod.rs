//! The web app (`frontend/dist`, built by `npm run build`), served at `/` beside the API.
//!
//! A single-page app: a path that names no file gets `index.html`, so a reload of
//! `/sessions/<id>/workspace` opens the app there. API paths never fall through to it: an unknown
//! `/v1/...` route keeps its JSON 404, and any method other than GET or HEAD is left to the API.

use std::path::{Path, PathBuf};

use actix_files::{Files, NamedFile};
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::{HttpResponse, guard, web};

use crate::api::error::ApiError;

/// Paths of the server itself besides `/v1/...`, never the web app's.
const SERVER_PATHS: &[&str] = &["/v1", "/healthz", "/readyz", "/metrics"];

/// Whether `path` is the server's (API, health, metrics) rather than the web app's.
pub fn is_server_path(path: &str) -> bool {
    path.starts_with("/v1/") || SERVER_PATHS.contains(&path)
}

/// Whether the web app's build is in `dir` (its `index.html` exists).
pub fn is_built(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}

/// The answer for every web-app path while the app is not built.
fn not_built(dir: &Path) -> ApiError {
    let mut error = ApiError::unavailable(
        "web_app_not_built",
        format!(
            "the web app is not built: no {}/index.html. Run `cd frontend && npm ci && npm run build` and restart the server (the API works without it)",
            dir.display()
        ),
    );
    // Not a passing state: retrying in a second would not help.
    error.retry_after = None;
    error
}

/// Registers the web app's routes (`built`: [`is_built`] of `dir`); call after every API route.
pub fn configure(cfg: &mut web::ServiceConfig, dir: &Path, built: bool) {
    let app_paths = guard::fn_guard(|ctx| {
        let method = ctx.head().method.clone();
        (method == actix_web::http::Method::GET || method == actix_web::http::Method::HEAD)
            && !is_server_path(ctx.head().uri.path())
    });
    if !built {
        let dir = dir.to_owned();
        cfg.service(web::resource("/{tail:.*}").guard(app_paths).to(move || {
            let dir = dir.clone();
            async move { Err::<HttpResponse, _>(not_built(&dir)) }
        }));
        return;
    }
    let index: PathBuf = dir.join("index.html");
    cfg.service(
        Files::new("/", dir)
            .index_file("index.html")
            .guard(app_paths)
            .default_handler(fn_service(move |req: ServiceRequest| {
                let index = index.clone();
                async move {
                    let (req, _) = req.into_parts();
                    // A missing asset (`/assets/x.js`) is a 404, not the app's HTML.
                    let last = req.path().rsplit('/').next().unwrap_or_default();
                    if last.contains('.') {
                        let res = HttpResponse::NotFound().finish();
                        return Ok(ServiceResponse::new(req, res));
                    }
                    let file = NamedFile::open_async(&index).await?;
                    let mut res = file.into_response(&req);
                    res.headers_mut().insert(
                        actix_web::http::header::CACHE_CONTROL,
                        actix_web::http::header::HeaderValue::from_static("no-cache"),
                    );
                    Ok(ServiceResponse::new(req, res))
                }
            })),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_health_and_metrics_paths_are_the_servers() {
        for path in [
            "/v1",
            "/v1/sessions",
            "/v1/nope/x",
            "/healthz",
            "/readyz",
            "/metrics",
        ] {
            assert!(is_server_path(path), "{path}");
        }
        for path in [
            "/",
            "/sessions",
            "/sessions/abc/workspace",
            "/assets/index.js",
            "/v1x",
            "/metricsx",
        ] {
            assert!(!is_server_path(path), "{path}");
        }
    }
}
