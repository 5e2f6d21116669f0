//! The REST API, `/v1`: routes, the OpenAPI document, and the helpers the handlers share.
//!
//! Every write is a command that appends events ([`state::ApiState::session_command`]); every
//! read comes from a projection. Who may call what is the domain's endpoint table
//! (`livesurgery_domain::endpoints`), enforced by [`state::ApiState::guard`] and
//! [`state::ApiState::guard_session`].

pub mod admin;
pub mod archives;
pub mod audit;
pub mod auth;
pub mod authorize;
pub mod dto;
pub mod error;
pub mod headers;
pub mod idempotency;
pub mod layout;
pub mod limits;
pub mod media;
pub mod request_span;
pub mod sessions;
pub mod setup;
pub mod state;
pub mod users;
pub mod wire;

use actix_web::{HttpRequest, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};

use crate::settings::ApiSettings;
use error::ApiError;

/// Read-your-writes: a read waits (bounded) until the read models reach this position. The same
/// as the `X-Min-Position` header; a write's `X-Position` is the value to send.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadYourWrites {
    /// Wait until the read models reach this log position (503 `not_caught_up` if they do not
    /// in time).
    pub min_position: Option<u64>,
}

/// A page size from a `limit` parameter: 1-1000, default 50.
pub fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(50),
        Some(n @ 1..=1000) => Ok(n),
        Some(_) => Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 1000",
        )),
    }
}

/// The server's public base URL (`--public-url`, else the request's scheme and host), for the
/// URLs the API hands out.
pub fn public_base(settings: &ApiSettings, req: &HttpRequest) -> String {
    let info = req.connection_info();
    settings.public_base(info.scheme(), info.host())
}

/// An optional JSON body: empty means the default.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::unsupported_media_type());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::from_json(&e))
}

/// Registers every route, the body limits and the extractor error handlers.
pub fn configure(cfg: &mut web::ServiceConfig, settings: &ApiSettings) {
    let limit = settings.max_body_bytes;
    cfg.app_data(
        web::JsonConfig::default()
            .limit(limit)
            .error_handler(error::json_error),
    )
    .app_data(web::PayloadConfig::new(limit))
    .app_data(web::QueryConfig::default().error_handler(error::query_error))
    .app_data(web::PathConfig::default().error_handler(error::path_error))
    .service(web::resource("/healthz").route(web::get().to(admin::healthz)))
    .service(web::resource("/metrics").route(web::get().to(crate::telemetry::metrics)))
    .service(web::resource("/v1/sessions/{id}/whip").route(web::post().to(media::whip)))
    .service(
        web::resource("/v1/sessions/{id}/whip/{resource_id}")
            .route(web::delete().to(media::delete_whip)),
    )
    .service(web::resource("/v1/sessions/{id}/whep").route(web::post().to(media::whep)))
    .service(
        web::resource("/v1/sessions/{id}/whep/{resource_id}")
            .route(web::delete().to(media::delete_whep)),
    )
    .service(
        web::resource("/v1/sessions/{id}/media:subscribe").route(web::post().to(media::subscribe)),
    )
    .service(web::resource("/v1/sessions/{id}/media").route(web::get().to(media::media)))
    .service(web::resource("/readyz").route(web::get().to(admin::readyz)))
    .service(web::resource("/v1/openapi.json").route(web::get().to(admin::openapi_json)))
    .service(web::resource("/v1/auth/login").route(web::post().to(auth::login)))
    .service(web::resource("/v1/auth/refresh").route(web::post().to(auth::refresh)))
    .service(web::resource("/v1/auth/logout").route(web::post().to(auth::logout)))
    .service(
        web::resource("/v1/setup")
            .route(web::get().to(setup::setup_status))
            .route(web::post().to(setup::complete_setup)),
    )
    .service(web::resource("/v1/users/me").route(web::get().to(users::me)))
    .service(web::resource("/v1/users/directory").route(web::get().to(users::directory)))
    .service(
        web::resource("/v1/users")
            .route(web::post().to(users::create_user))
            .route(web::get().to(users::list_users)),
    )
    .service(web::resource("/v1/users/{id}").route(web::patch().to(users::update_user)))
    .service(
        web::resource("/v1/sessions")
            .route(web::post().to(sessions::create_session))
            .route(web::get().to(sessions::list_sessions)),
    )
    // The `{id}:verb` routes come before `{id}`, which would match them too.
    .service(
        web::resource("/v1/sessions/{id}:start").route(web::post().to(sessions::start_session)),
    )
    .service(web::resource("/v1/sessions/{id}:end").route(web::post().to(sessions::end_session)))
    .service(
        web::resource("/v1/sessions/{id}")
            .route(web::get().to(sessions::get_session))
            .route(web::patch().to(sessions::update_session))
            .route(web::delete().to(sessions::cancel_session)),
    )
    .service(
        web::resource("/v1/sessions/{id}/members").route(web::get().to(sessions::list_members)),
    )
    .service(
        web::resource("/v1/sessions/{id}/members/{user_id}")
            .route(web::put().to(sessions::put_member))
            .route(web::delete().to(sessions::remove_member)),
    )
    .service(
        web::resource("/v1/sessions/{id}/participants:join").route(web::post().to(sessions::join)),
    )
    .service(
        web::resource("/v1/sessions/{id}/participants")
            .route(web::get().to(sessions::list_participants)),
    )
    .service(
        web::resource("/v1/sessions/{id}/layout")
            .route(web::get().to(layout::get_layout))
            .route(web::patch().to(layout::patch_layout)),
    )
    .service(
        web::resource("/v1/sessions/{id}/layout/versions")
            .route(web::get().to(layout::layout_versions)),
    )
    .service(web::resource("/v1/sessions/{id}/events").route(web::get().to(audit::session_events)))
    .service(web::resource("/v1/sessions/{id}/state").route(web::get().to(audit::replay)))
    .service(web::resource("/v1/sessions/{id}/audit:verify").route(web::post().to(audit::verify)))
    .service(web::resource("/v1/audit").route(web::get().to(audit::all_events)))
    .service(web::resource("/v1/audit/export").route(web::get().to(audit::export)))
    .service(
        web::resource("/v1/sessions/{id}/recordings:start")
            .route(web::post().to(archives::start_recording)),
    )
    .service(
        web::resource("/v1/sessions/{id}/recordings:stop")
            .route(web::post().to(archives::stop_recording)),
    )
    .service(
        web::resource("/v1/sessions/{id}/archives").route(web::get().to(archives::list_archives)),
    )
    .service(
        web::resource("/v1/archives/{id}")
            .route(web::get().to(archives::get_archive))
            .route(web::patch().to(archives::update_archive)),
    )
    .service(web::resource("/v1/archives/{id}/playback").route(web::get().to(archives::playback)))
    .service(web::resource("/v1/archives/{id}/media").route(web::get().to(archives::media)))
    .service(web::resource("/v1/admin/health").route(web::get().to(admin::service_health)))
    .service(web::resource("/v1/admin/projections").route(web::get().to(admin::projections)))
    .service(
        web::resource("/v1/admin/projections/{name}:rebuild").route(web::post().to(admin::rebuild)),
    );
}

// Documented here with the rest of the HTTP surface; served by `realtime/`, mounted in
// `startup.rs` (the API does not depend on the gateway).
/// The realtime channel of a session: a WebSocket. Authenticate with the WS token of
/// `participants:join`, as `?token=` or as the subprotocol `bearer.<token>` offered beside
/// `livesurgery.v1` (the web app does so: a URL may be logged by proxies). The protocol is described in the README and `schemas/ws/`.
#[utoipa::path(get, path = "/v1/sessions/{id}/ws", tag = "realtime", operation_id = "ws",
    params(("id" = Uuid, Path), ("token" = Option<String>, Query, description = "The WS token (or send it as a subprotocol)")),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "`not_a_websocket`", body = error::ErrorBody),
        (status = 401, description = "`missing_token`, `invalid_token`, `token_expired`, `user_deactivated`", body = error::ErrorBody),
        (status = 403, description = "`wrong_session`: the token is for another session; `origin_not_allowed`: a browser page of an origin not allowed (`--allowed-origins`)", body = error::ErrorBody),
        (status = 404, description = "The path names no session (not a UUID)", body = error::ErrorBody)),
    security(()))]
#[allow(dead_code)]
fn realtime_upgrade() {}

/// Adds the error answers every operation can give (malformed request, missing token, body
/// problems, idempotency refusals, read-your-writes timeouts) where a handler did not list them.
struct StandardErrors;

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::HttpMethod;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
                (HttpMethod::Put, item.put.as_mut()),
                (HttpMethod::Patch, item.patch.as_mut()),
                (HttpMethod::Delete, item.delete.as_mut()),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let public = operation
                    .security
                    .as_ref()
                    .is_some_and(|s| s.iter().all(|r| r == &Default::default()));
                let has_body = operation.request_body.is_some();
                let reads_after = operation
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| p.name == "min_position");
                let mut add = |code: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(description).into());
                };
                add("400", "Malformed request: query, header or JSON syntax");
                if !public {
                    add(
                        "401",
                        "Missing, invalid or expired access token, or a deactivated user",
                    );
                }
                if has_body {
                    add("413", "Body larger than the configured limit");
                    add("415", "Body not sent as application/json");
                    add("422", "Body of the wrong shape or with invalid values");
                }
                if method == HttpMethod::Post && !public {
                    add(
                        "409",
                        "The first request with this Idempotency-Key is still running",
                    );
                    add(
                        "422",
                        "This Idempotency-Key was used for a different request",
                    );
                }
                if method != HttpMethod::Get {
                    add(
                        "429",
                        "`rate_limited`: too many writes from this user or address; see Retry-After",
                    );
                }
                if reads_after {
                    add("503", "The read models did not reach min_position in time");
                }
            }
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "sfu_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("The SFU token of participants:join (sfu.token)"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "LiveSurgery API",
        description = "REST API of the LiveSurgery server. Every non-2xx answer is `{\"error\": {\"code\", \"message\", \"request_id\"}}`; every answer carries `X-Request-Id`. Writes answer `X-Position` (the log position they reached); send it back as `X-Min-Position` or `?min_position=` on a read to see the write. POST endpoints accept `Idempotency-Key`.",
        license(name = "AGPL-3.0-or-later")
    ),
    paths(
        auth::login, auth::refresh, auth::logout, setup::setup_status, setup::complete_setup, users::me, users::directory, users::create_user, users::list_users, users::update_user,
        sessions::create_session, sessions::list_sessions, sessions::get_session, sessions::update_session,
        sessions::start_session, sessions::end_session, sessions::cancel_session,
        sessions::list_members, sessions::put_member, sessions::remove_member,
        sessions::join, sessions::list_participants,
        layout::get_layout, layout::layout_versions, layout::patch_layout,
        audit::session_events, audit::all_events, audit::replay, audit::verify, audit::export,
        admin::service_health, admin::projections, admin::rebuild, admin::healthz, admin::readyz, admin::openapi_json,
        realtime_upgrade, crate::telemetry::metrics,
        media::whip, media::delete_whip, media::whep, media::delete_whep, media::subscribe, media::media,
        archives::start_recording, archives::stop_recording, archives::list_archives,
        archives::get_archive, archives::playback, archives::update_archive, archives::media,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail)),
    modifiers(&BearerAuth, &StandardErrors),
    security(("bearer" = [])),
    tags(
        (name = "auth", description = "Sign in and stay signed in; the first admin at first start"),
        (name = "users", description = "The organisation's users (admins)"),
        (name = "sessions", description = "Live surgery sessions"),
        (name = "members", description = "Who belongs to a session, in which role"),
        (name = "participants", description = "Who is connected to a live session"),
        (name = "layout", description = "The shared multi-panel workspace"),
        (name = "audit", description = "Audit trail, replay and tamper evidence (reviewers, admins)"),
        (name = "media", description = "Live media through the SFU: WHIP, WHEP, subscription selection (SFU token of participants:join)"),
        (name = "archives", description = "Recording control, and the recorded archives: list, play, retention"),
        (name = "operations", description = "Health, readiness, projections"),
    )
)]
struct ApiDoc;

/// The OpenAPI 3.1 document of this API (committed at `schemas/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
