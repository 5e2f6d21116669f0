//! The shared layout (`/v1/sessions/{id}/layout…`): the same per-field last-write-wins rule as
//! the WebSocket path, decided in the domain.

use actix_web::{HttpRequest, HttpResponse, web};
use livesurgery_domain::Event;
use livesurgery_domain::session::SessionCommand;
use uuid::Uuid;

use super::dto::{
    Layout, LayoutChangeResult, LayoutVersion, LayoutVersionPage, PageQuery, Panel,
    PatchLayoutRequest, cursor_position,
};
use super::error::{ApiError, ErrorBody};
use super::state::{ApiState, Caller, POSITION_HEADER};

/// The layout now.
#[utoipa::path(get, path = "/v1/sessions/{id}/layout", tag = "layout", params(("id" = Uuid, Path), super::ReadYourWrites),
    responses((status = 200, body = Layout), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_layout(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.read_after(&req).await?;
    let session_id = path.into_inner();
    state.guard_session(&req, &caller, session_id).await?;
    let layout = state
        .read_models
        .current_layout(session_id)
        .await?
        .map(Layout::from)
        .unwrap_or(Layout {
            version: 0,
            panels: Vec::new(),
            updated_at: None,
            updated_by: None,
        });
    Ok(HttpResponse::Ok().json(layout))
}

/// Every version of the layout, oldest first.
#[utoipa::path(get, path = "/v1/sessions/{id}/layout/versions", tag = "layout",
    params(("id" = Uuid, Path), PageQuery, super::ReadYourWrites),
    responses((status = 200, body = LayoutVersionPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn layout_versions(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    state.read_after(&req).await?;
    let session_id = path.into_inner();
    state.guard_session(&req, &caller, session_id).await?;
    let limit = super::page_size(query.limit)?;
    let after = cursor_position(&query.cursor)?.unwrap_or(0);
    let mut rows = state
        .read_models
        .layout_versions(session_id, after, limit + 1)
        .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.version.to_string())
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(LayoutVersionPage {
        items: rows.into_iter().map(LayoutVersion::from).collect(),
        next_cursor,
    }))
}

/// Change the layout (host and surgeons). A stale `base_version` still applies, field by field;
/// the answer and the layout history name the contested fields.
#[utoipa::path(patch, path = "/v1/sessions/{id}/layout", tag = "layout", request_body = PatchLayoutRequest,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = LayoutChangeResult, headers(("X-Position" = u64))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`base_version_ahead`, `version_conflict` (with `current_version`) or a session that is over", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn patch_layout(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
    body: web::Json<PatchLayoutRequest>,
) -> Result<HttpResponse, ApiError> {
    let session_id = path.into_inner();
    state.guard_session(&req, &caller, session_id).await?;
    let body = body.into_inner();
    // The API's shape and the domain's are the same JSON; converting through it keeps the
    // contract type (documented) apart from the domain type.
    let changes = serde_json::to_value(&body.changes)
        .and_then(serde_json::from_value)
        .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
    let accepted = state
        .session_command(
            &req,
            &caller,
            session_id,
            SessionCommand::UpdateLayout {
                base_version: body.base_version,
                changes,
            },
        )
        .await?;
    let updated = accepted.events.iter().find_map(|e| match e {
        Event::LayoutUpdated(u) => Some(u),
        _ => None,
    });
    let Some(updated) = updated else {
        return Err(ApiError::internal(
            "a layout write produced no LayoutUpdated event",
        ));
    };
    let result = LayoutChangeResult {
        version: updated.version,
        conflicts: serde_json::to_value(&updated.conflicts).unwrap_or_default(),
        layout: Layout {
            version: updated.version,
            panels: updated.panels.iter().cloned().map(Panel::from).collect(),
            updated_at: Some(chrono::Utc::now()),
            updated_by: Some(caller.id()),
        },
    };
    Ok(HttpResponse::Ok()
        .insert_header((POSITION_HEADER, accepted.append.last_position.to_string()))
        .json(result))
}
