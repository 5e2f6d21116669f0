//! Operations: liveness, readiness, the OpenAPI document, projection status and rebuilds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use livesurgery_projections::ReadModels;

use super::dto::{
    Health, Projection, ProjectionList, Readiness, ServiceHealth, ServiceIndicator, ServiceLoad,
    ServicePercentile,
};
use super::error::{ApiError, ErrorBody};
use super::state::{ApiState, Caller};
use crate::projector::LogSource;
use crate::telemetry::{Metrics, slo};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)), security(()))]
pub async fn healthz(state: web::Data<ApiState>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
        projections_position: state.projector.position(),
        projections_lag: state.projector.lag(),
    })
}

/// How long `/readyz` waits for the database before it answers 503.
const READY_DB_TIMEOUT: Duration = Duration::from_secs(1);

fn database_unavailable() -> ApiError {
    ApiError::unavailable(
        "database_unavailable",
        "the event log database does not answer",
    )
}

/// Ready to serve: the database answers and the projections are within the configured lag.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, description = "Not ready; the message says why", body = ErrorBody)),
    security(()))]
pub async fn readyz(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    // A probe gives up after a second or so; a database that is away must not hold the answer
    // for the pool's whole acquire time-out (10 s), or the probe learns nothing of why.
    let head = match tokio::time::timeout(READY_DB_TIMEOUT, state.store.head_position()).await {
        Ok(Ok(head)) => head,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the event log does not answer");
            return Err(database_unavailable());
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = READY_DB_TIMEOUT.as_millis() as u64,
                "readiness: the event log did not answer in time"
            );
            return Err(database_unavailable());
        }
    };
    let position = state.projector.position();
    let lag = head.saturating_sub(position);
    if lag > state.settings.ready_max_lag {
        return Err(ApiError::unavailable(
            "projections_behind",
            format!("the read models are {lag} events behind the log"),
        ));
    }
    Ok(HttpResponse::Ok().json(Readiness {
        status: "ready".into(),
        head,
        projections_position: position,
        projections_lag: lag,
    }))
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", body = Object)), security(()))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(super::openapi())
}

/// Each projection's position and lag (admins).
#[utoipa::path(get, path = "/v1/admin/projections", tag = "operations",
    responses((status = 200, body = ProjectionList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn projections(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    state.guard(&req, &caller).await?;
    Ok(HttpResponse::Ok().json(projection_list(&state).await?))
}

async fn projection_list(state: &ApiState) -> Result<ProjectionList, ApiError> {
    let head = state.store.head_position().await?;
    let statuses = state.read_models.status().await?;
    let running = state
        .rebuilding
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default();
    Ok(ProjectionList {
        head,
        items: statuses
            .into_iter()
            .map(|s| {
                let rebuilding = running.contains(&s.name);
                Projection::new(s, head, rebuilding)
            })
            .collect(),
    })
}

/// The service level indicators over the last five minutes, computed in this process from its
/// metrics (the same SLIs as the Prometheus rules), and its load (admins).
#[utoipa::path(get, path = "/v1/admin/health", tag = "operations",
    responses((status = 200, body = ServiceHealth), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn service_health(
    state: web::Data<ApiState>,
    metrics: web::Data<Metrics>,
    window: web::Data<slo::Window>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    state.guard(&req, &caller).await?;
    let report = window.report(&metrics);
    let sfu = &metrics.sfu;
    let position = state.projector.position();
    let lag = state.projector.lag();
    Ok(HttpResponse::Ok().json(ServiceHealth {
        window_seconds: report.window.as_secs_f64(),
        indicators: report
            .indicators
            .into_iter()
            .map(|i| ServiceIndicator {
                name: i.objective.name.to_owned(),
                title: i.objective.title.to_owned(),
                objective: i.objective.objective,
                good: i.tally.good,
                valid: i.tally.valid,
                value: i.value,
                budget_remaining: i.budget_remaining,
                status: match i.value {
                    None => "no_data",
                    Some(v) if v >= i.objective.objective => "met",
                    Some(_) => "missed",
                }
                .to_owned(),
                threshold_seconds: i.objective.threshold_seconds,
                percentile: i.objective.quantile.map(|quantile| ServicePercentile {
                    quantile,
                    seconds: i.percentile_seconds,
                }),
            })
            .collect(),
        load: ServiceLoad {
            publishers: sfu.peers.with_label_values(&["publisher"]).get(),
            subscribers: sfu.peers.with_label_values(&["subscriber"]).get(),
            tracks: sfu.tracks.get(),
            websocket_clients: metrics.ws_connected.get(),
            log_head: position + lag,
            projections_position: position,
            projections_lag: lag,
            recording_upload_backlog: metrics.recording.upload_backlog.get(),
        },
    }))
}

/// Rebuild one projection from the log into fresh tables, then swap them in (admins). Returns
/// at once; `GET /v1/admin/projections` shows the progress.
#[utoipa::path(post, path = "/v1/admin/projections/{name}:rebuild", tag = "operations",
    params(("name" = String, Path, description = "archives, audit, layout, presence, sessions or users")),
    responses((status = 202, description = "Started", body = ProjectionList),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No projection of this name", body = ErrorBody),
        (status = 409, description = "A rebuild of it is running", body = ErrorBody)))]
pub async fn rebuild(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.guard(&req, &caller).await?;
    let name = path.into_inner();
    if !ReadModels::names().contains(&name.as_str()) {
        return Err(ApiError::not_found(format!(
            "no projection named {name:?}; there are: {}",
            ReadModels::names().join(", ")
        )));
    }
    {
        let mut running = state
            .rebuilding
            .lock()
            .map_err(|_| ApiError::internal("rebuild registry poisoned"))?;
        if !running.insert(name.clone()) {
            return Err(ApiError::conflict(
                "rebuild_running",
                format!("a rebuild of {name} is running"),
            ));
        }
    }
    let read_models = state.read_models.clone();
    let source = Arc::new(LogSource(state.store.clone()));
    let rebuilding = state.rebuilding.clone();
    let task_name = name.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let mut last = Instant::now();
        let result = read_models
            .rebuild(&task_name, source, |p| {
                if last.elapsed().as_secs() >= 1 {
                    last = Instant::now();
                    tracing::info!(projection = %task_name, position = p.position, head = p.head, "rebuilding");
                }
            })
            .await;
        match result {
            Ok(report) => tracing::info!(projection = %task_name, events = report.events_applied,
                seconds = started.elapsed().as_secs_f64(), "rebuild finished"),
            Err(error) => tracing::error!(projection = %task_name, %error, "rebuild failed"),
        }
        if let Ok(mut running) = rebuilding.lock() {
            running.remove(&task_name);
        }
    });
    Ok(HttpResponse::Accepted().json(projection_list(&state).await?))
}
