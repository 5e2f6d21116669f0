//! The SFU's HTTP side: WHIP (RFC 9725) to publish, WHEP to subscribe, subscription
//! selection, and the list of a session's sources.
//!
//! Every signalling call carries the SFU token of `participants:join` and is checked in full
//! each time: signature and expiry, the token's session, an active user, a member whose role
//! (now, not when the token was issued) allows the action, and a live session.

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use livesurgery_domain::CommandContext;
use livesurgery_domain::events::AccessDenied;
use livesurgery_domain::permissions::{Action, authorize};
use livesurgery_projections::{SessionStatus, UserRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{PeerInfo, Sfu, SfuError, SourceView, SubscriptionView};
use crate::api::dto::IceServer;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::state::{ApiState, Caller, bearer_token};
use crate::auth::tokens::AUDIENCE_SFU;
use crate::auth::{JoinClaims, TokenError};
use crate::settings::ApiSettings;

/// Most video slots one subscription may select at once.
pub const MAX_SLOTS: usize = 16;

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

/// Whether a source label is acceptable.
pub fn valid_label(label: &str) -> bool {
    let mut chars = label.chars();
    label.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

fn check_labels<'a>(labels: impl IntoIterator<Item = &'a str>) -> Result<(), ApiError> {
    for label in labels {
        if !valid_label(label) {
            return Err(ApiError::bad_request(
                "invalid_source",
                format!("{label:?} is not a source label (a-z, 0-9, '.', '_', '-'; at most 64)"),
            ));
        }
    }
    Ok(())
}

/// The ICE servers for a participant: STUN as configured, TURN with a credential that expires
/// after `--turn-ttl-secs`.
pub fn ice_servers(settings: &ApiSettings, participant_id: Uuid) -> Vec<IceServer> {
    let mut servers: Vec<IceServer> = settings
        .ice_servers
        .iter()
        .map(|url| IceServer {
            urls: vec![url.clone()],
            username: None,
            credential: None,
        })
        .collect();
    if let Some(secret) = &settings.turn_secret
        && !settings.turn_urls.is_empty()
    {
        let expires = Utc::now().timestamp() + settings.turn_ttl_secs as i64;
        let c = super::turn::credential(secret.expose(), participant_id, expires);
        servers.push(IceServer {
            urls: settings.turn_urls.clone(),
            username: Some(c.username),
            credential: Some(c.credential),
        });
    }
    servers
}

/// The caller of a signalling call, checked.
struct SfuCaller {
    claims: JoinClaims,
    user: UserRow,
    /// The session role now (the token's for an admin without membership).
    role: String,
}

impl SfuCaller {
    fn info(&self, session_id: Uuid) -> PeerInfo {
        PeerInfo {
            resource_id: Uuid::now_v7(),
            session_id,
            participant_id: self.claims.pid,
            user_id: self.user.user_id,
            role: self.role.clone(),
        }
    }
}

async fn sfu_caller(
    req: &HttpRequest,
    api: &ApiState,
    session_id: Uuid,
    action: Action,
) -> Result<SfuCaller, ApiError> {
    let token = bearer_token(req).ok_or_else(|| {
        ApiError::unauthorized(
            "missing_token",
            "send the SFU token of participants:join as Authorization: Bearer <token>",
        )
    })?;
    let claims = api
        .keys
        .verify_join(token.trim(), AUDIENCE_SFU)
        .map_err(|e| match e {
            TokenError::Expired => ApiError::unauthorized(
                "token_expired",
                "the SFU token has expired; join the session again",
            ),
            TokenError::Invalid => {
                ApiError::unauthorized("invalid_token", "the SFU token is not valid")
            }
        })?;
    if claims.sid != session_id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_session",
            "this token is for another session",
        ));
    }
    let user = api
        .user(claims.sub)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "the SFU token is not valid"))?;
    if !user.active {
        return Err(ApiError::unauthorized(
            "user_deactivated",
            "this user has been deactivated",
        ));
    }
    let session = api
        .session_row(session_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such session"))?;
    // The membership now, not when the token was issued: a removed member or a demoted
    // surgeon is refused (admins need no membership).
    let role = api.member_role(session_id, user.user_id).await?;
    if let Err(denied) = authorize(user.role, role, action) {
        deny(req, api, &claims, &user, action, &denied.reason).await;
        return Err(ApiError::forbidden(denied.reason));
    }
    if session.status != SessionStatus::Live {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "session_not_live",
            "media flows only while the session is live",
        ));
    }
    let role = role.map_or_else(|| claims.role.clone(), |r| r.as_str().to_owned());
    Ok(SfuCaller { claims, user, role })
}

/// Records a refused publish (the endpoint table's writing SFU routes) as `AccessDenied`.
async fn deny(
    req: &HttpRequest,
    api: &ApiState,
    claims: &JoinClaims,
    user: &UserRow,
    action: Action,
    reason: &str,
) {
    let writes = livesurgery_domain::endpoints::endpoint(
        req.method().as_str(),
        &req.match_pattern().unwrap_or_default(),
    )
    .is_some_and(|e| e.writes);
    if !writes {
        return;
    }
    let mut ctx = CommandContext::new(user.user_id, user.role, Utc::now());
    ctx.participant_id = Some(claims.pid);
    let denied = AccessDenied {
        user_id: user.user_id,
        session_id: Some(claims.sid),
        action,
        method: req.method().to_string(),
        route: req.match_pattern().unwrap_or_default(),
        status: 403,
        reason: reason.to_owned(),
    };
    api.append_denied(ctx, Uuid::now_v7(), denied).await;
}

/// The offer in an `application/sdp` body.
fn sdp_body(req: &HttpRequest, body: &web::Bytes) -> Result<String, ApiError> {
    let is_sdp = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/sdp"));
    if !is_sdp {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
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

fn sfu_error(error: SfuError) -> ApiError {
    match error {
        SfuError::BadOffer(_) => ApiError::bad_request("invalid_sdp", error.to_string()),
        SfuError::Refused(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "sdp_refused",
            error.to_string(),
        ),
        SfuError::SourceTaken(_) => {
            ApiError::new(StatusCode::CONFLICT, "source_taken", error.to_string())
        }
        SfuError::Stopped => ApiError::unavailable("sfu_unavailable", error.to_string()),
    }
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
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
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
    let caller = sfu_caller(&req, &api, session_id, Action::PublishMedia).await?;
    check_labels([query.source.as_str()])?;
    let offer = sdp_body(&req, &body)?;
    let info = caller.info(session_id);
    let resource_id = info.resource_id;
    let answer = sfu
        .publish(info, query.source.clone(), &offer)
        .map_err(sfu_error)?;
    Ok(created(
        format!("/v1/sessions/{session_id}/whip/{resource_id}"),
        answer,
        &ice_servers(&api.settings, caller.claims.pid),
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
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
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
    let caller = sfu_caller(&req, &api, session_id, Action::SubscribeMedia).await?;
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
    let info = caller.info(session_id);
    let resource_id = info.resource_id;
    let answer = sfu
        .subscribe(info, &asked, caller.claims.jat, &offer)
        .map_err(sfu_error)?;
    Ok(created(
        format!("/v1/sessions/{session_id}/whep/{resource_id}"),
        answer,
        &ice_servers(&api.settings, caller.claims.pid),
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
    let caller = sfu_caller(&req, api, path.id, action).await?;
    let Some((participant, user)) = sfu.owner(path.id, path.resource_id, publishing) else {
        return Err(ApiError::not_found(
            "no such media resource in this session",
        ));
    };
    if participant != caller.claims.pid && user != caller.user.user_id {
        return Err(ApiError::forbidden(
            "this resource belongs to another participant",
        ));
    }
    sfu.delete(path.id, path.resource_id);
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
    let caller = sfu_caller(&req, &api, session_id, Action::SubscribeMedia).await?;
    let resources = select(&sfu, session_id, caller.claims.pid, &body.slots)?;
    Ok(HttpResponse::Ok().json(SubscribeResponse { resources }))
}

/// Subscription selection, for REST and the WebSocket.
pub fn select(
    sfu: &Sfu,
    session_id: Uuid,
    participant_id: Uuid,
    slots: &[Option<String>],
) -> Result<Vec<SubscriptionView>, ApiError> {
    if slots.len() > MAX_SLOTS {
        return Err(ApiError::bad_request(
            "too_many_slots",
            format!("at most {MAX_SLOTS} slots"),
        ));
    }
    check_labels(slots.iter().flatten().map(String::as_str))?;
    let resources = sfu
        .select(session_id, participant_id, slots)
        .map_err(sfu_error)?;
    if resources.is_empty() {
        return Err(ApiError::not_found(
            "this participant has no subscription (WHEP) in the session",
        ));
    }
    Ok(resources)
}

/// The session's published sources and subscriptions now.
#[utoipa::path(get, path = "/v1/sessions/{id}/media", tag = "media", params(("id" = Uuid, Path)),
    responses((status = 200, body = MediaResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn media(
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
    api: web::Data<ApiState>,
    sfu: web::Data<Sfu>,
) -> Result<HttpResponse, ApiError> {
    let session_id = path.into_inner();
    api.guard_session(&req, &caller, session_id).await?;
    Ok(HttpResponse::Ok().json(MediaResponse {
        sources: sfu.sources(session_id),
        subscriptions: sfu.subscriptions(session_id),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_labels_are_short_lowercase_names() {
        for good in ["endoscope", "room-cam", "vitals", "cam.2", "0", "a_b"] {
            assert!(valid_label(good), "{good}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            "Endoscope",
            "-cam",
            "room cam",
            "x/y",
            long.as_str(),
            "é",
        ] {
            assert!(!valid_label(bad), "{bad}");
        }
    }
}
