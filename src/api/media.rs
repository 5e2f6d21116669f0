//! Media over HTTP: WHIP (RFC 9725) to publish, WHEP to subscribe, subscription selection,
//! and the list of a session's sources. The SFU handle does the media; these handlers speak
//! HTTP and SDP.
//!
//! Every signalling call carries the SFU token of `participants:join` and is checked in full
//! each time ([`App::authenticate_participant`], [`App::authorize_media`]): signature and
//! expiry, the token's session, an active user, a member whose role (now, not when the token
//! was issued) allows the action, and a live session.

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use livesurgery_domain::permissions::Action;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::state::{ApiState, Caller, bearer_token, operation};
use crate::app::media::{MAX_SLOTS, check_labels};
use crate::app::{App, AppError, JoinChannel, Participant};
use crate::sfu::turn::{IceServer, ice_servers};
use crate::sfu::{PeerInfo, Sfu, SourceView, SubscriptionView};

#[derive(Debug, Deserialize, IntoParams)]
pub struct WhipQuery {
    /// The source's label, unique in the session (`endoscope`, `room-cam`, `vitals`):
    /// lowercase letters, digits, `.`, `_`, `-`, at most 64.
    pub source: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct WhepQuery {
    /// Sources for the offer's video slots, comma-separated, in m-line order; default: the
    /// session's published sources in publish order.
    pub slots: Option<String>,
}

/// Which source each video slot of the caller's subscriptions shows (`null`: none). Slots
/// past the list keep theirs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeRequest {
    pub slots: Vec<Option<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscribeResponse {
    /// The caller's subscriptions (WHEP resources) as they now are.
    pub resources: Vec<SubscriptionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MediaResponse {
    /// Published sources, in publish order.
    pub sources: Vec<SourceView>,
    pub subscriptions: Vec<SubscriptionView>,
}

/// A participant's media call, checked in full.
async fn media_caller(
    req: &HttpRequest,
    app: &App,
    session_id: Uuid,
    action: Action,
) -> Result<Participant, ApiError> {
    let participant = app
        .authenticate_participant(JoinChannel::Sfu, bearer_token(req), session_id)
        .await?;
    app.authorize_media(&operation(req), &participant, session_id, action)
        .await?;
    Ok(participant)
}

/// Refuses media for a session placed on another node (`409 media_elsewhere`, saying where);
/// places it here when it has no placement or its node is gone.
async fn media_here(req: &HttpRequest, app: &App, session_id: Uuid) -> Result<(), ApiError> {
    let base = super::public_base(&app.settings, req);
    app.check_media_here(session_id, super::state::correlation_id(req), &base)
        .await?;
    Ok(())
}

/// A new media resource of this participant in the session.
fn peer_info(participant: &Participant, session_id: Uuid) -> PeerInfo {
    PeerInfo {
        resource_id: Uuid::now_v7(),
        session_id,
        participant_id: participant.id(),
        user_id: participant.user.user_id,
        org_role: participant.user.role,
    }
}

/// The offer in an `application/sdp` body.
fn sdp_body(req: &HttpRequest, body: &web::Bytes) -> Result<String, ApiError> {
    let is_sdp = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/sdp"));
    if !is_sdp {
        return Err(ApiError::unsupported_content(
            "send the SDP offer as Content-Type: application/sdp",
        ));
    }
    let offer = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("invalid_sdp", "the SDP offer is not UTF-8"))?;
    if !offer.trim_start().starts_with("v=0") {
        return Err(ApiError::bad_request(
            "invalid_sdp",
            "the body is not an SDP offer (it must start with v=0)",
        ));
    }
    Ok(offer.to_owned())
}

/// `201 Created` with the answer, the resource's location and the ICE servers as `Link`
/// headers (RFC 9725 section 4.6).
fn created(location: String, answer: String, ice: &[IceServer]) -> HttpResponse {
    let mut response = HttpResponse::Created();
    response
        .insert_header((LOCATION, location))
        .content_type("application/sdp");
    for server in ice {
        for url in &server.urls {
            let link = match (&server.username, &server.credential) {
                (Some(username), Some(credential)) => format!(
                    "<{url}>; rel=\"ice-server\"; username=\"{username}\"; credential=\"{credential}\"; credential-type=\"password\""
                ),
                _ => format!("<{url}>; rel=\"ice-server\""),
            };
            response.append_header(("Link", link));
        }
    }
    response.body(answer)
}

/// Publish one source (WHIP, RFC 9725): an SDP offer in, the answer out.
#[utoipa::path(post, path = "/v1/sessions/{id}/whip", tag = "media",
    params(("id" = Uuid, Path), WhipQuery),
    request_body(content = String, content_type = "application/sdp", description = "SDP offer (sendonly video: VP8 or H.264; optional Opus audio)"),
    responses(
        (status = 201, description = "SDP answer; `Location` is the resource to DELETE", content_type = "application/sdp", body = String,
            headers(("Location" = String), ("Link" = String, description = "ICE servers"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`media_elsewhere`: the session's media is placed on another node (`error.media` has its WHIP and WHEP URLs); or `session_not_live`, `source_taken`, `too_many_peers`, `session_peers_full`", body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("sfu_token" = [])))]
pub async fn whip(
    req: HttpRequest,
    body: web::Bytes,
    path: web::Path<Uuid>,
    query: web::Query<WhipQuery>,
    api: web::Data<ApiState>,
    sfu: web::Data<Sfu>,
) -> Result<HttpResponse, ApiError> {
    let session_id = path.into_inner();
    let caller = media_caller(&req, &api, session_id, Action::PublishMedia).await?;
    media_here(&req, &api, session_id).await?;
    check_labels([query.source.as_str()])?;
    let offer = sdp_body(&req, &body)?;
    let info = peer_info(&caller, session_id);
    let resource_id = info.resource_id;
    // The media lives as long as the token it was offered with.
    let answer = sfu
        .publish_until(info, query.source.clone(), &offer, Some(caller.claims.exp))
        .map_err(AppError::from)?;
    Ok(created(
        format!("/v1/sessions/{session_id}/whip/{resource_id}"),
        answer,
        &ice_servers(&api.settings, caller.id()),
    ))
}

/// Subscribe (WHEP): a recvonly offer in; its video slots are filled with sources.
#[utoipa::path(post, path = "/v1/sessions/{id}/whep", tag = "media",
    params(("id" = Uuid, Path), WhepQuery),
    request_body(content = String, content_type = "application/sdp", description = "SDP offer (recvonly; one video m-line per slot, optional audio)"),
    responses(
        (status = 201, description = "SDP answer; `Location` is the resource to DELETE", content_type = "application/sdp", body = String,
            headers(("Location" = String), ("Link" = String, description = "ICE servers"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`media_elsewhere`: the session's media is placed on another node (`error.media` has its WHIP and WHEP URLs); or `session_not_live`, `too_many_peers`, `session_peers_full`", body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("sfu_token" = [])))]
pub async fn whep(
    req: HttpRequest,
    body: web::Bytes,
    path: web::Path<Uuid>,
    query: web::Query<WhepQuery>,
    api: web::Data<ApiState>,
    sfu: web::Data<Sfu>,
) -> Result<HttpResponse, ApiError> {
    let session_id = path.into_inner();
    let caller = media_caller(&req, &api, session_id, Action::SubscribeMedia).await?;
    media_here(&req, &api, session_id).await?;
    let asked: Vec<String> = query
        .slots
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    check_labels(asked.iter().map(String::as_str))?;
    if asked.len() > MAX_SLOTS {
        return Err(ApiError::bad_request(
            "too_many_slots",
            format!("at most {MAX_SLOTS} slots"),
        ));
    }
    let offer = sdp_body(&req, &body)?;
    let info = peer_info(&caller, session_id);
    let resource_id = info.resource_id;
    let token = (caller.claims.jat, Some(caller.claims.exp));
    let answer = sfu
        .subscribe(info, &asked, token, &offer)
        .map_err(AppError::from)?;
    Ok(created(
        format!("/v1/sessions/{session_id}/whep/{resource_id}"),
        answer,
        &ice_servers(&api.settings, caller.id()),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ResourcePath {
    id: Uuid,
    resource_id: Uuid,
}

async fn delete_resource(
    req: HttpRequest,
    path: ResourcePath,
    api: &ApiState,
    sfu: &Sfu,
    publishing: bool,
) -> Result<HttpResponse, ApiError> {
    let action = if publishing {
        Action::PublishMedia
    } else {
        Action::SubscribeMedia
    };
    let caller = media_caller(&req, api, path.id, action).await?;
    let Some((participant, user)) = sfu.owner(path.id, path.resource_id, publishing) else {
        return Err(ApiError::not_found(
            "no such media resource in this session",
        ));
    };
    if participant != caller.id() && user != caller.user.user_id {
        return Err(ApiError::forbidden(
            "this resource belongs to another participant",
        ));
    }
    sfu.delete(path.id, path.resource_id).await;
    Ok(HttpResponse::Ok().finish())
}

/// Stop publishing (WHIP resource).
#[utoipa::path(delete, path = "/v1/sessions/{id}/whip/{resource_id}", tag = "media",
    params(("id" = Uuid, Path), ("resource_id" = Uuid, Path)),
    responses((status = 200, description = "Stopped"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("sfu_token" = [])))]
pub async fn delete_whip(
    req: HttpRequest,
    path: web::Path<ResourcePath>,
    api: web::Data<ApiState>,
    sfu: web::Data<Sfu>,
) -> Result<HttpResponse, ApiError> {
    delete_resource(req, path.into_inner(), &api, &sfu, true).await
}

/// Stop a subscription (WHEP resource).
#[utoipa::path(delete, path = "/v1/sessions/{id}/whep/{resource_id}", tag = "media",
    params(("id" = Uuid, Path), ("resource_id" = Uuid, Path)),
    responses((status = 200, description = "Stopped"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("sfu_token" = [])))]
pub async fn delete_whep(
    req: HttpRequest,
    path: web::Path<ResourcePath>,
    api: web::Data<ApiState>,
    sfu: web::Data<Sfu>,
) -> Result<HttpResponse, ApiError> {
    delete_resource(req, path.into_inner(), &api, &sfu, false).await
}

/// Choose the sources of the caller's subscription slots, without renegotiation (the same as
/// the WebSocket message `media.subscribe`).
#[utoipa::path(post, path = "/v1/sessions/{id}/media:subscribe", tag = "media",
    params(("id" = Uuid, Path)), request_body = SubscribeRequest,
    responses((status = 200, body = SubscribeResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("sfu_token" = [])))]
pub async fn subscribe(
    req: HttpRequest,
    path: web::Path<Uuid>,
    body: web::Json<SubscribeRequest>,
    api: web::Data<ApiState>,
    sfu: web::Data<Sfu>,
) -> Result<HttpResponse, ApiError> {
    let session_id = path.into_inner();
    let caller = media_caller(&req, &api, session_id, Action::SubscribeMedia).await?;
    let resources = sfu.select_checked(session_id, caller.id(), &body.slots)?;
    Ok(HttpResponse::Ok().json(SubscribeResponse { resources }))
}

/// Marks a `GET .../media` one node forwarded to the node holding the session's media: it is
/// answered there, never forwarded again.
const FORWARDED: &str = "x-livesurgery-forwarded";

/// The session's published sources and subscriptions now, as the node its media is placed on
/// knows them (another node forwards the call there).
#[utoipa::path(get, path = "/v1/sessions/{id}/media", tag = "media", params(("id" = Uuid, Path)),
    responses((status = 200, body = MediaResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "`media_unavailable`: the node holding the session's media did not answer", body = ErrorBody)))]
pub async fn media(
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
    api: web::Data<ApiState>,
    sfu: web::Data<Sfu>,
) -> Result<HttpResponse, ApiError> {
    let session_id = path.into_inner();
    api.guard_session(&req, &caller, session_id).await?;
    if req.headers().get(FORWARDED).is_none()
        && let Some(placed) = api.placements.elsewhere(session_id)
    {
        return forward_media(&req, &placed.url, session_id).await;
    }
    Ok(HttpResponse::Ok().json(MediaResponse {
        sources: sfu.sources(session_id),
        subscriptions: sfu.subscriptions(session_id),
    }))
}

/// Asks the node at `base` for the session's media, with the caller's own credentials, and
/// answers what it answers.
async fn forward_media(
    req: &HttpRequest,
    base: &str,
    session_id: Uuid,
) -> Result<HttpResponse, ApiError> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(reqwest::Client::new);
    let mut request = client
        .get(format!("{base}/v1/sessions/{session_id}/media"))
        .header(FORWARDED, "1")
        .timeout(std::time::Duration::from_secs(3));
    if let Some(auth) = req.headers().get(AUTHORIZATION) {
        request = request.header(AUTHORIZATION.as_str(), auth.as_bytes());
    }
    let unavailable = |error: reqwest::Error| {
        tracing::warn!(%error, "the node holding a session's media did not answer");
        ApiError::from(AppError::unavailable(
            "media_unavailable",
            "the node holding this session's media did not answer; retry",
        ))
    };
    let answer = request.send().await.map_err(unavailable)?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = answer.bytes().await.map_err(unavailable)?;
    Ok(HttpResponse::build(status)
        .content_type("application/json")
        .body(body))
}
