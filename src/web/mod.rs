//! The web app (`frontend/`), served at `/` beside the API: from a folder (`--web-dir`), or
//! the build embedded in the binary (see `build.rs`), decided once at start-up ([`WebApp`]).
//!
//! A single-page app: a path that names no file gets `index.html`, so a reload of
//! `/sessions/<id>/workspace` opens the app there. API paths never fall through to it: an unknown
//! `/v1/...` route keeps its JSON 404, and any method other than GET or HEAD is left to the API.
//! Vite's hashed assets (`/assets/...`) are cached for good; everything else is revalidated.

pub mod embedded;

use std::path::{Path, PathBuf};

use actix_files::{Files, NamedFile};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpResponse, guard, web};

use crate::api::error::ApiError;

/// Paths of the server itself besides `/v1/...`, never the web app's.
const SERVER_PATHS: &[&str] = &["/v1", "/healthz", "/readyz", "/metrics"];

/// Where `npm run build` writes, served when neither `--web-dir` nor an embedded app is there
/// (a debug build run from the repository's root).
pub const DEV_BUILD_DIR: &str = "frontend/dist";

/// Whether `path` is the server's (API, health, metrics) rather than the web app's.
pub fn is_server_path(path: &str) -> bool {
    path.starts_with("/v1/") || SERVER_PATHS.contains(&path)
}

/// Whether the web app's build is in `dir` (its `index.html` exists).
pub fn is_built(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}

/// Whether the last segment of `path` names a file (`/assets/x.js`): a missing one is a 404,
/// never the app's HTML, which a browser would run as a script.
fn names_a_file(path: &str) -> bool {
    path.rsplit('/').next().unwrap_or_default().contains('.')
}

/// `Cache-Control` of a file of the build (its path, with or without the leading `/`): Vite's
/// hashed assets never change under their name; `index.html` and the rest must be revalidated.
fn cache_control(path: &str) -> &'static str {
    if path.trim_start_matches('/').starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

/// The web app this server serves at `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebApp {
    /// A build in a folder: `--web-dir`, or [`DEV_BUILD_DIR`] in a binary without the app.
    Folder(PathBuf),
    /// The build embedded in the binary.
    Embedded,
    /// None: app paths answer 503 `web_app_not_built`. `web_dir`: the `--web-dir` given, which
    /// has no `index.html`.
    NotBuilt { web_dir: Option<PathBuf> },
}

impl WebApp {
    /// `--web-dir` when given (even when it holds no build: it was asked for), else the embedded
    /// app, else a build in [`DEV_BUILD_DIR`].
    pub fn choose(web_dir: Option<&Path>) -> WebApp {
        match web_dir {
            Some(dir) if is_built(dir) => WebApp::Folder(dir.to_owned()),
            Some(dir) => WebApp::NotBuilt {
                web_dir: Some(dir.to_owned()),
            },
            None if embedded::is_present() => WebApp::Embedded,
            None if is_built(Path::new(DEV_BUILD_DIR)) => WebApp::Folder(DEV_BUILD_DIR.into()),
            None => WebApp::NotBuilt { web_dir: None },
        }
    }

    /// Says at start-up what `/` serves.
    pub fn log(&self) {
        match self {
            WebApp::Folder(dir) => {
                tracing::info!("serving the web app from {} at /", dir.display());
            }
            WebApp::Embedded => tracing::info!("serving the embedded web app at /"),
            WebApp::NotBuilt { .. } => tracing::warn!(
                "{}: / answers 503 web_app_not_built (the API works without it)",
                self.not_built_message()
            ),
        }
    }

    /// What is missing and how to get the app.
    fn not_built_message(&self) -> String {
        match self {
            WebApp::NotBuilt { web_dir: Some(dir) } => format!(
                "the web app is not built: no {}/index.html (--web-dir). Run \
                 `cd frontend && npm ci && npm run build` (Node.js 20+) and restart the server",
                dir.display()
            ),
            _ => "the web app is not built into this binary: build it with Node.js 20+ installed \
                  (`cargo run --release -- serve` builds and embeds frontend/), or run \
                  `cd frontend && npm ci && npm run build` and restart with --web-dir frontend/dist"
                .to_owned(),
        }
    }
}

/// The answer for every web-app path while the app is not built.
fn not_built(app: &WebApp) -> ApiError {
    let mut error = ApiError::unavailable("web_app_not_built", app.not_built_message());
    // Not a passing state: retrying in a second would not help.
    error.retry_after = None;
    error
}

/// Whether `path` names a source map (`/assets/index-x.js.map`): the app's sources, for a
/// debugger only.
fn is_source_map(path: &str) -> bool {
    path.ends_with(".map")
}

/// Registers the web app's routes; call after every API route. Source maps answer 404 unless
/// `source_maps` (`--web-source-maps`) asks for them, whatever the build holds.
pub fn configure(cfg: &mut web::ServiceConfig, app: &WebApp, source_maps: bool) {
    let app_paths = || {
        guard::fn_guard(|ctx| {
            let method = ctx.head().method.clone();
            (method == actix_web::http::Method::GET || method == actix_web::http::Method::HEAD)
                && !is_server_path(ctx.head().uri.path())
        })
    };
    if !source_maps {
        cfg.service(
            web::resource("/{tail:.*}")
                .guard(app_paths())
                .guard(guard::fn_guard(|ctx| is_source_map(ctx.head().uri.path())))
                .to(|| async {
                    Err::<HttpResponse, _>(ApiError::not_found(
                        "source maps are not served (see LIVESURGERY_WEB_SOURCE_MAPS)",
                    ))
                }),
        );
    }
    match app {
        WebApp::NotBuilt { .. } => {
            let app = app.clone();
            cfg.service(web::resource("/{tail:.*}").guard(app_paths()).to(move || {
                let error = not_built(&app);
                async move { Err::<HttpResponse, _>(error) }
            }));
        }
        WebApp::Embedded => {
            cfg.service(
                web::resource("/{tail:.*}")
                    .guard(app_paths())
                    .to(embedded::serve),
            );
        }
        WebApp::Folder(dir) => {
            let files = Files::new("", dir)
                .index_file("index.html")
                .default_handler(fn_service(fallback(dir.join("index.html"))));
            cfg.service(
                web::scope("")
                    .guard(app_paths())
                    .wrap(from_fn(folder_cache_control))
                    .service(files),
            );
        }
    }
}

/// The folder's answer for a path that names no file in it: `index.html`, or a 404 for an asset.
fn fallback(
    index: PathBuf,
) -> impl Fn(
    ServiceRequest,
) -> futures::future::LocalBoxFuture<'static, Result<ServiceResponse, actix_web::Error>>
+ Clone {
    move |req: ServiceRequest| {
        let index = index.clone();
        Box::pin(async move {
            let (req, _) = req.into_parts();
            if names_a_file(req.path()) {
                let res = HttpResponse::NotFound().finish();
                return Ok(ServiceResponse::new(req, res));
            }
            let file = NamedFile::open_async(&index).await?;
            let mut res = file.into_response(&req);
            res.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            Ok(ServiceResponse::new(req, res))
        })
    }
}

/// Adds the cache policy to a file served from the folder (the fallback sets its own).
async fn folder_cache_control(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let cache = cache_control(req.path());
    let mut res = next.call(req).await?;
    let served = res.status().is_success() || res.status().as_u16() == 304;
    if served && !res.headers().contains_key(CACHE_CONTROL) {
        res.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    Ok(res)
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

    #[test]
    fn source_maps_are_told_apart_from_the_scripts() {
        assert!(is_source_map("/assets/index-BkNmTUwA.js.map"));
        assert!(is_source_map("/assets/index-C6ccU07N.css.map"));
        assert!(!is_source_map("/assets/index-BkNmTUwA.js"));
        assert!(!is_source_map("/sessions/map"));
    }

    #[test]
    fn only_vites_hashed_assets_are_cached_for_good() {
        let forever = "public, max-age=31536000, immutable";
        assert_eq!(cache_control("/assets/index-BkNmTUwA.js"), forever);
        assert_eq!(cache_control("assets/index-C6ccU07N.css"), forever);
        for path in [
            "/",
            "/index.html",
            "index.html",
            "/favicon.ico",
            "/sessions/assets/x",
        ] {
            assert_eq!(cache_control(path), "no-cache", "{path}");
        }
    }

    #[test]
    fn a_web_dir_without_a_build_is_not_replaced_by_another_app() {
        let empty = std::env::temp_dir().join("livesurgery-no-such-web-build");
        let chosen = WebApp::choose(Some(&empty));
        assert_eq!(
            chosen,
            WebApp::NotBuilt {
                web_dir: Some(empty)
            }
        );
        assert!(chosen.not_built_message().contains("npm run build"));
        let nothing = WebApp::NotBuilt { web_dir: None }.not_built_message();
        assert!(
            nothing.contains("cargo run --release -- serve"),
            "{nothing}"
        );
    }
}
