//! Recording control and archives: `POST /v1/sessions/{id}/recordings:start|stop`,
//! `GET /v1/sessions/{id}/archives`, `GET|PATCH /v1/archives/{id}`,
//! `GET /v1/archives/{id}/playback` and the media it may point to,
//! `GET /v1/archives/{id}/media?token=`. The rules are in `app::archives`.

use actix_web::{HttpRequest, HttpResponse, web};
use livesurgery_projections::{ArchiveFilter, ArchiveRow};
use uuid::Uuid;

use super::dto::{
    Archive, ArchivePage, MediaBytes, MediaQuery, PageQuery, PlaybackUrl, RecordingResult,
    UpdateArchiveRequest, cursor_position,
};
use super::error::{ApiError, ErrorBody};
use super::state::{ApiState, Caller, POSITION_HEADER, accepted_not_visible};
use crate::app::RecordingChange;

fn archive_body(state: &ApiState, row: ArchiveRow) -> Archive {
    let progress = state.archive_progress(row.archive_id);
    Archive::new(row, progress)
}

async fn change_recording(
    state: &ApiState,
    req: &HttpRequest,
    caller: &Caller,
    session_id: Uuid,
    change: RecordingChange,
) -> Result<HttpResponse, ApiError> {
    state.guard_session(req, caller, session_id).await?;
    let (recording_id, accepted) = state
        .recording_command(req, caller, session_id, change)
        .await?;
    // Answered from the event written, like a layout write: send X-Position as
    // X-Min-Position to read the session with it.
    let position = accepted.append.last_position;
    Ok(HttpResponse::Ok()
        .insert_header((POSITION_HEADER, position.to_string()))
        .json(RecordingResult {
            recording_id,
            position,
        }))
}

/// Start recording a live session, as a new recording (hosts, session surgeons, admins).
/// Every participant sees it at once: `RecordingStarted` is pushed over the WebSocket.
#[utoipa::path(post, path = "/v1/sessions/{id}/recordings:start", tag = "archives",
    params(("id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer")),
    responses((status = 200, description = "Recording", body = RecordingResult, headers(("X-Position" = u64))),
        (status = 401, body = ErrorBody), (status = 403, description = "Observers may not", body = ErrorBody),
        (status = 404, description = "No such session, or the caller may not see it", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: the session is not live, or is being recorded already", body = ErrorBody)))]
pub async fn start_recording(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let session_id = path.into_inner();
    change_recording(&state, &req, &caller, session_id, RecordingChange::Start).await
}

/// Stop the session's running recording (hosts, session surgeons, admins).
#[utoipa::path(post, path = "/v1/sessions/{id}/recordings:stop", tag = "archives",
    params(("id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer")),
    responses((status = 200, description = "Stopped", body = RecordingResult, headers(("X-Position" = u64))),
        (status = 401, body = ErrorBody), (status = 403, description = "Observers may not", body = ErrorBody),
        (status = 404, description = "No such session, or the caller may not see it", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: the session is not live, or not being recorded", body = ErrorBody)))]
pub async fn stop_recording(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let session_id = path.into_inner();
    change_recording(&state, &req, &caller, session_id, RecordingChange::Stop).await
}

/// The session's archives (one per recorded source per recording), in recording order
/// (members, reviewers, admins).
#[utoipa::path(get, path = "/v1/sessions/{id}/archives", tag = "archives",
    params(("id" = Uuid, Path), PageQuery, super::ReadYourWrites),
    responses((status = 200, body = ArchivePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "No such session, or the caller may not see it", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list_archives(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    state.read_after(&req).await?;
    let session_id = path.into_inner();
    state.guard_session(&req, &caller, session_id).await?;
    let page = state
        .read_models
        .list_archives(&ArchiveFilter {
            session_id: Some(session_id),
            after_position: cursor_position(&query.cursor)?,
            limit: super::page_size(query.limit)?,
        })
        .await?;
    Ok(HttpResponse::Ok().json(ArchivePage {
        items: page
            .items
            .into_iter()
            .map(|row| archive_body(&state, row))
            .collect(),
        next_cursor: page.next.map(|p| p.to_string()),
    }))
}

/// One archive (members of its session, reviewers, admins).
#[utoipa::path(get, path = "/v1/archives/{id}", tag = "archives", params(("id" = Uuid, Path), super::ReadYourWrites),
    responses((status = 200, body = Archive), (status = 401, body = ErrorBody),
        (status = 404, description = "No such archive, or the caller may not see its session", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_archive(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.read_after(&req).await?;
    let archive = state
        .guard_archive(&req, &caller, path.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(archive_body(&state, archive)))
}

/// A short-lived URL to play the archive (members of its session, reviewers, admins). Each
/// URL handed out is first recorded as `ArchiveAccessed` (who, which archive, until when).
#[utoipa::path(get, path = "/v1/archives/{id}/playback", tag = "archives", params(("id" = Uuid, Path), super::ReadYourWrites),
    responses((status = 200, body = PlaybackUrl, headers(("X-Position" = u64, description = "Log position of the ArchiveAccessed event"))),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such archive, or the caller may not see its session", body = ErrorBody),
        (status = 409, description = "`archive_not_playable`: recording, processing, failed or expired", body = ErrorBody),
        (status = 503, description = "`playback_unavailable`: no archive store; or `not_caught_up`", body = ErrorBody)))]
pub async fn playback(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.read_after(&req).await?;
    let archive = state
        .guard_archive(&req, &caller, path.into_inner())
        .await?;
    let base = super::public_base(&state.settings, &req);
    let playback = state.playback(&caller, &archive, &base).await?;
    Ok(HttpResponse::Ok()
        .insert_header((POSITION_HEADER, playback.position.to_string()))
        .json(PlaybackUrl {
            url: playback.url,
            content_type: playback.content_type,
            expires_at: playback.expires_at,
        }))
}

/// Change an archive's expiry or legal hold (admins). A new `expires_at` must be in the
/// future (422 otherwise); an archive on legal hold is never deleted.
#[utoipa::path(patch, path = "/v1/archives/{id}", tag = "archives", request_body = UpdateArchiveRequest,
    params(("id" = Uuid, Path)),
    responses((status = 202, description = "In the log, not yet in the read models: read it with X-Min-Position", body = super::dto::WriteAccepted, headers(("X-Position" = u64))),
        (status = 200, body = Archive, headers(("X-Position" = u64))),
        (status = 401, body = ErrorBody), (status = 403, description = "Admins only", body = ErrorBody),
        (status = 404, description = "No such archive, or the caller may not see its session", body = ErrorBody),
        (status = 409, description = "`no_change`, or `invalid_transition` for an expired archive", body = ErrorBody),
        (status = 422, description = "Nothing given, or an `expires_at` not in the future", body = ErrorBody)))]
pub async fn update_archive(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
    body: web::Json<UpdateArchiveRequest>,
) -> Result<HttpResponse, ApiError> {
    let archive = state
        .guard_archive(&req, &caller, path.into_inner())
        .await?;
    let body = body.into_inner();
    let accepted = state
        .set_archive_retention(&req, &caller, &archive, body.expires_at, body.legal_hold)
        .await?;
    let position = accepted.append.last_position;
    if !state.wait_for(position).await {
        return Ok(accepted_not_visible(position));
    }
    let archive = state
        .read_models
        .get_archive(archive.archive_id)
        .await?
        .ok_or_else(|| ApiError::internal("a written archive is missing from the read model"))?;
    Ok(HttpResponse::Ok()
        .insert_header((POSITION_HEADER, position.to_string()))
        .json(archive_body(&state, archive)))
}

/// An archive's playable media, for the holder of a playback URL: no other header needed,
/// HTTP Range supported (206). Only archives this server stores itself are served here.
#[utoipa::path(get, path = "/v1/archives/{id}/media", tag = "archives", operation_id = "archive_media",
    params(("id" = Uuid, Path),
        ("token" = String, Query, description = "The playback token of the URL that `GET /v1/archives/{id}/playback` handed out")),
    responses(
        (status = 200, description = "The whole object", content(
            (MediaBytes = "video/mp4"), (MediaBytes = "video/webm"), (MediaBytes = "application/octet-stream"))),
        (status = 206, description = "The range asked for", content(
            (MediaBytes = "video/mp4"), (MediaBytes = "video/webm"), (MediaBytes = "application/octet-stream"))),
        (status = 401, description = "`missing_token`, `invalid_token`, `token_expired`, `user_deactivated`", body = ErrorBody),
        (status = 403, description = "`wrong_archive`: the token is for another archive", body = ErrorBody),
        (status = 404, description = "Nothing to play any more, or not served by this server", body = ErrorBody),
        (status = 416, description = "The range is outside the object", body = ErrorBody),
        (status = 503, description = "`playback_unavailable`", body = ErrorBody)),
    security(()))]
pub async fn media(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<Uuid>,
    query: web::Query<MediaQuery>,
) -> Result<HttpResponse, ApiError> {
    let media = state
        .archive_media(path.into_inner(), query.token.as_deref())
        .await?;
    let file = actix_files::NamedFile::open_async(&media.path)
        .await
        .map_err(|error| {
            tracing::error!(%error, "an archive's playable object is missing from its store");
            ApiError::not_found("the archive's media is missing from its store")
        })?;
    let content_type = media
        .content_type
        .parse()
        .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM);
    Ok(file
        .set_content_type(content_type)
        .disable_content_disposition()
        .into_response(&req))
}
