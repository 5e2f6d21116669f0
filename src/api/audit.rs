//! The audit trail (reviewers and admins): events of a session or of all, replay, hash-chain
//! check, export. Every one of these reads is itself recorded (`AuditTrailRead`), with the
//! address the request came from.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use livesurgery_domain::events::{AuditReadKind, session_stream};
use livesurgery_projections::AuditFilter;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::dto::{
    AuditEvent, AuditPage, AuditQuery, BrokenLink, StateQuery, VerifyResult, cursor_position,
};
use super::error::{ApiError, ErrorBody};
use super::state::{ApiState, Caller, POSITION_HEADER};
use crate::store::read_whole_stream;

/// The address a request came from, as audit records keep it.
fn client_address(req: &HttpRequest) -> Option<String> {
    super::state::client_address(req).map(|ip| ip.to_string())
}

fn query_record(query: &AuditQuery) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            map.insert(k.to_owned(), v);
        }
    };
    put("actor", query.actor.map(|a| a.to_string()));
    put("type", query.event_type.clone());
    put("outcome", query.outcome.clone());
    put("from", query.from.map(|t| t.to_rfc3339()));
    put("to", query.to.map(|t| t.to_rfc3339()));
    put("session_id", query.session_id.map(|s| s.to_string()));
    put("cursor", query.cursor.clone());
    map
}

async fn audit_page(
    state: &ApiState,
    req: &HttpRequest,
    caller: &Caller,
    session_id: Option<Uuid>,
    query: &AuditQuery,
) -> Result<HttpResponse, ApiError> {
    let filter = AuditFilter {
        session_id,
        actor_user_id: query.actor,
        actions: query.event_types(),
        outcome: query.outcome.clone(),
        from: query.from,
        to: query.to,
        after_position: cursor_position(&query.cursor)?,
        limit: super::page_size(query.limit)?,
    };
    let position = state
        .record_audit_read(
            caller,
            session_id,
            AuditReadKind::Events,
            query_record(query),
            client_address(req),
        )
        .await?;
    let page = state.read_models.audit(&filter).await?;
    // What happened, not only who and when: each item's data, read from the log itself.
    let positions: Vec<u64> = page.items.iter().map(|a| a.position).collect();
    let mut data: std::collections::HashMap<u64, serde_json::Value> = state
        .store
        .read_positions(&positions)
        .await?
        .into_iter()
        .map(|e| (e.position, e.data))
        .collect();
    let items = page
        .items
        .into_iter()
        .map(|row| {
            let position = row.position;
            let mut item = AuditEvent::from(row);
            item.data = data.remove(&position).unwrap_or_default();
            item
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((POSITION_HEADER, position.to_string()))
        .json(AuditPage {
            items,
            next_cursor: page.next.map(|p| p.to_string()),
        }))
}

/// A session's audit trail, in log order (reviewers and admins).
#[utoipa::path(get, path = "/v1/sessions/{id}/events", tag = "audit",
    params(("id" = Uuid, Path), AuditQuery, super::ReadYourWrites),
    responses((status = 200, body = AuditPage, headers(("X-Position" = u64, description = "Position of the AuditTrailRead event this read appended"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn session_events(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    state.read_after(&req).await?;
    let session_id = path.into_inner();
    state.guard_session(&req, &caller, session_id).await?;
    audit_page(&state, &req, &caller, Some(session_id), &query).await
}

/// The audit trail across sessions, in log order (reviewers and admins).
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery, super::ReadYourWrites),
    responses((status = 200, body = AuditPage, headers(("X-Position" = u64))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn all_events(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    state.guard(&req, &caller).await?;
    state.read_after(&req).await?;
    audit_page(&state, &req, &caller, query.session_id, &query).await
}

/// The session as it was at a moment, folded from the log itself (reviewers and admins).
#[utoipa::path(get, path = "/v1/sessions/{id}/state", tag = "audit", params(("id" = Uuid, Path), StateQuery),
    responses((status = 200, description = "The replayed session", body = super::dto::Replay, headers(("X-Position" = u64))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn replay(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<StateQuery>,
) -> Result<HttpResponse, ApiError> {
    let session_id = path.into_inner();
    state.guard_session(&req, &caller, session_id).await?;
    let mut record = BTreeMap::new();
    if let Some(at) = query.at {
        record.insert("at".to_owned(), at.to_rfc3339());
    }
    let position = state
        .record_audit_read(
            &caller,
            Some(session_id),
            AuditReadKind::Replay,
            record,
            client_address(&req),
        )
        .await?;
    let events = read_whole_stream(&*state.store, &session_stream(session_id)).await?;
    let view = livesurgery_domain::replay::replay_session(&events, query.at)
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .insert_header((POSITION_HEADER, position.to_string()))
        .json(super::dto::Replay::from(view)))
}

/// Recompute the session's hash chain and compare its end with the recorded head.
#[utoipa::path(post, path = "/v1/sessions/{id}/audit:verify", tag = "audit", params(("id" = Uuid, Path)),
    responses((status = 200, body = VerifyResult, headers(("X-Position" = u64))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn verify(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let session_id = path.into_inner();
    state.guard_session(&req, &caller, session_id).await?;
    let position = state
        .record_audit_read(
            &caller,
            Some(session_id),
            AuditReadKind::Verify,
            BTreeMap::new(),
            client_address(&req),
        )
        .await?;
    let report = crate::audit::verify(&*state.store, Some(&session_stream(session_id))).await?;
    Ok(HttpResponse::Ok()
        .insert_header((POSITION_HEADER, position.to_string()))
        .json(VerifyResult {
            ok: report.broken.is_none(),
            streams_checked: report.streams_checked,
            events_checked: report.events_checked,
            broken: report.broken.map(|b| BrokenLink {
                stream: b.stream,
                version: b.version,
                position: b.position,
                event_id: b.event_id,
                reason: b.reason,
            }),
        }))
}

/// Which audit records `GET /v1/audit/export` streams.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Recorded at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Recorded before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Only this session's records.
    pub session_id: Option<Uuid>,
}

/// Records read from the audit index per round trip while streaming an export.
const EXPORT_BATCH: u32 = 1000;

/// The audit trail as IHE ATNA-shaped records, one JSON object per line, in log order, up to
/// and including the `AuditTrailRead` this export appends (reviewers and admins).
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", params(ExportQuery),
    responses((status = 200, description = "One ATNA-shaped record per line (JSON lines)",
            content_type = "application/x-ndjson", body = crate::audit::export::AtnaRecord,
            headers(("X-Position" = u64, description = "Position of the AuditTrailRead event this export appended; the export ends there"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn export(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    // Who may export is decided before the query is looked at.
    state.guard(&req, &caller).await?;
    let query = web::Query::<ExportQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?
        .into_inner();
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        return Err(ApiError::bad_request(
            "invalid_range",
            "`from` must be before `to`",
        ));
    }
    let mut record = BTreeMap::new();
    if let Some(from) = query.from {
        record.insert("from".to_owned(), from.to_rfc3339());
    }
    if let Some(to) = query.to {
        record.insert("to".to_owned(), to.to_rfc3339());
    }
    if let Some(session_id) = query.session_id {
        record.insert("session_id".to_owned(), session_id.to_string());
    }
    let upto = state
        .record_audit_read(
            &caller,
            query.session_id,
            AuditReadKind::Export,
            record,
            client_address(&req),
        )
        .await?;
    // The index must hold everything up to this export's own record before it is read.
    state.wait_until_visible(upto).await?;
    let filter = AuditFilter {
        session_id: query.session_id,
        actor_user_id: None,
        actions: Vec::new(),
        outcome: None,
        from: query.from,
        to: query.to,
        after_position: None,
        limit: EXPORT_BATCH,
    };
    let app = state.app().clone();
    let node = crate::audit::checkpoint::node_name();
    let body = futures::stream::try_unfold(Some(filter), move |filter| {
        let (app, node) = (app.clone(), node.clone());
        async move {
            let Some(mut filter) = filter else {
                return Ok(None);
            };
            let chunk = export_batch(&app, &filter, upto, &node)
                .await
                .map_err(|error| {
                    tracing::error!(%error, "an audit export stopped");
                    std::io::Error::other("the audit export stopped")
                })?;
            filter.after_position = chunk.next;
            Ok::<_, std::io::Error>(Some((chunk.lines, chunk.next.map(|_| filter))))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header((POSITION_HEADER, upto.to_string()))
        .streaming(body))
}

/// One batch of an export: its lines, and where the next batch starts (`None`: done).
struct ExportChunk {
    lines: actix_web::web::Bytes,
    next: Option<u64>,
}

async fn export_batch(
    app: &crate::app::App,
    filter: &AuditFilter,
    upto: u64,
    node: &str,
) -> anyhow::Result<ExportChunk> {
    let page = app.read_models.audit(filter).await?;
    let rows: Vec<_> = page
        .items
        .into_iter()
        .filter(|row| row.position <= upto)
        .collect();
    let positions: Vec<u64> = rows.iter().map(|r| r.position).collect();
    let events: std::collections::HashMap<u64, _> = app
        .store
        .read_positions(&positions)
        .await?
        .into_iter()
        .map(|e| (e.position, e))
        .collect();
    let done = page.next.is_none() || positions.last().is_none_or(|&p| p >= upto);
    let next = if done {
        None
    } else {
        positions.last().copied()
    };
    let mut lines = Vec::new();
    for row in rows {
        let event = events.get(&row.position);
        serde_json::to_writer(&mut lines, &crate::audit::export::record(row, event, node))?;
        lines.push(b'\n');
    }
    Ok(ExportChunk {
        lines: lines.into(),
        next,
    })
}
