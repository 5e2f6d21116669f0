//! Sessions, their members and participants (`/v1/sessions…`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use livesurgery_domain::roles::{OrgRole, SessionRole};
use livesurgery_domain::session::SessionCommand;
use livesurgery_projections::SessionFilter;
use uuid::Uuid;

use super::dto::{
    CancelQuery, CreateSessionRequest, JoinRequest, JoinResponse, ListSessionsQuery, Member,
    MemberList, Participant, ParticipantList, PutMemberRequest, RecordingFlag, Session,
    SessionPage, SfuAccess, UpdateSessionRequest, WsAccess, cursor_position,
};
use super::error::{ApiError, ErrorBody};
use super::state::{ApiState, Caller, POSITION_HEADER, accepted_not_visible};
use crate::app::media::media_permissions;
use crate::auth::tokens::{AUDIENCE_SFU, AUDIENCE_WS};

async fn session_body(state: &ApiState, session_id: Uuid) -> Result<Session, ApiError> {
    state
        .read_models
        .get_session(session_id)
        .await?
        .map(Session::from)
        .ok_or_else(|| ApiError::internal("a written session is missing from the read model"))
}

/// Create a session; the caller becomes its host.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = CreateSessionRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer")),
    responses((status = 202, description = "In the log, not yet in the read models: read it with X-Min-Position", body = super::dto::WriteAccepted, headers(("X-Position" = u64))),

        (status = 201, description = "Created", body = Session,
            headers(("X-Position" = u64, description = "Log position of the write"), ("Location" = String))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create_session(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    body: web::Json<CreateSessionRequest>,
) -> Result<HttpResponse, ApiError> {
    state.guard(&req, &caller).await?;
    let session_id = Uuid::now_v7();
    let body = body.into_inner();
    let accepted = state
        .session_command(
            &req,
            &caller,
            session_id,
            SessionCommand::CreateSession {
                session_id,
                title: body.title,
                procedure: body.procedure,
                scheduled_start: body.scheduled_start,
            },
        )
        .await?;
    if !state.wait_for(accepted.append.last_position).await {
        return Ok(accepted_not_visible(accepted.append.last_position));
    }
    Ok(HttpResponse::Created()
        .insert_header((POSITION_HEADER, accepted.append.last_position.to_string()))
        .insert_header((header::LOCATION, format!("/v1/sessions/{session_id}")))
        .json(session_body(&state, session_id).await?))
}

/// List the sessions the caller may see (admins and reviewers: all), newest first.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", params(ListSessionsQuery, super::ReadYourWrites),
    responses((status = 200, body = SessionPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list_sessions(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    query: web::Query<ListSessionsQuery>,
) -> Result<HttpResponse, ApiError> {
    state.guard(&req, &caller).await?;
    state.read_after(&req).await?;
    let sees_all = matches!(caller.role(), OrgRole::Admin | OrgRole::Reviewer);
    let page = state
        .read_models
        .list_sessions(&SessionFilter {
            status: query.status.map(Into::into),
            created_from: query.from,
            created_to: query.to,
            before_position: cursor_position(&query.cursor)?,
            member: (!sees_all).then(|| caller.id()),
            limit: super::page_size(query.limit)?,
        })
        .await?;
    Ok(HttpResponse::Ok().json(SessionPage {
        items: page.items.into_iter().map(Session::from).collect(),
        next_cursor: page.next.map(|p| p.to_string()),
    }))
}

/// One session.
#[utoipa::path(get, path = "/v1/sessions/{id}", tag = "sessions", params(("id" = Uuid, Path), super::ReadYourWrites),
    responses((status = 200, body = Session), (status = 401, body = ErrorBody),
        (status = 404, description = "No such session, or the caller may not see it", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_session(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.read_after(&req).await?;
    let session_id = path.into_inner();
    state.guard_session(&req, &caller, session_id).await?;
    let session = state
        .session_row(session_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such session"))?;
    Ok(HttpResponse::Ok().json(Session::from(session)))
}

async fn run(
    state: &ApiState,
    req: &HttpRequest,
    caller: &Caller,
    session_id: Uuid,
    command: SessionCommand,
) -> Result<HttpResponse, ApiError> {
    state.guard_session(req, caller, session_id).await?;
    let accepted = state
        .session_command(req, caller, session_id, command)
        .await?;
    if !state.wait_for(accepted.append.last_position).await {
        return Ok(accepted_not_visible(accepted.append.last_position));
    }
    Ok(HttpResponse::Ok()
        .insert_header((POSITION_HEADER, accepted.append.last_position.to_string()))
        .json(session_body(state, session_id).await?))
}

/// Change a session's title, procedure or scheduled start (host).
#[utoipa::path(patch, path = "/v1/sessions/{id}", tag = "sessions", request_body = UpdateSessionRequest,
    params(("id" = Uuid, Path)),
    responses((status = 202, description = "In the log, not yet in the read models: read it with X-Min-Position", body = super::dto::WriteAccepted, headers(("X-Position" = u64))),
        (status = 200, body = Session, headers(("X-Position" = u64))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_session(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
    body: web::Json<UpdateSessionRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let command = SessionCommand::ChangeSessionDetails {
        title: body.title,
        procedure: body.procedure,
        scheduled_start: body.scheduled_start,
    };
    run(&state, &req, &caller, path.into_inner(), command).await
}

/// Start a scheduled session: it goes live (host).
#[utoipa::path(post, path = "/v1/sessions/{id}:start", tag = "sessions", params(("id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer")),
    responses((status = 202, description = "In the log, not yet in the read models: read it with X-Min-Position", body = super::dto::WriteAccepted, headers(("X-Position" = u64))),
        (status = 200, body = Session, headers(("X-Position" = u64))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not scheduled", body = ErrorBody)))]
pub async fn start_session(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    run(
        &state,
        &req,
        &caller,
        path.into_inner(),
        SessionCommand::StartSession,
    )
    .await
}

/// End a live session (host).
#[utoipa::path(post, path = "/v1/sessions/{id}:end", tag = "sessions", params(("id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer")),
    responses((status = 202, description = "In the log, not yet in the read models: read it with X-Min-Position", body = super::dto::WriteAccepted, headers(("X-Position" = u64))),
        (status = 200, body = Session, headers(("X-Position" = u64))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not live", body = ErrorBody)))]
pub async fn end_session(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    run(
        &state,
        &req,
        &caller,
        path.into_inner(),
        SessionCommand::EndSession,
    )
    .await
}

/// Cancel a session (host). Nothing is deleted from the log: the session is marked cancelled.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions", params(("id" = Uuid, Path), CancelQuery),
    responses((status = 202, description = "In the log, not yet in the read models: read it with X-Min-Position", body = super::dto::WriteAccepted, headers(("X-Position" = u64))),
        (status = 200, description = "Cancelled", body = Session, headers(("X-Position" = u64))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Already ended or cancelled", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn cancel_session(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<CancelQuery>,
) -> Result<HttpResponse, ApiError> {
    let command = SessionCommand::CancelSession {
        reason: query.into_inner().reason,
    };
    run(&state, &req, &caller, path.into_inner(), command).await
}

/// The session's members.
#[utoipa::path(get, path = "/v1/sessions/{id}/members", tag = "members", params(("id" = Uuid, Path), super::ReadYourWrites),
    responses((status = 200, body = MemberList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list_members(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.read_after(&req).await?;
    let session_id = path.into_inner();
    state.guard_session(&req, &caller, session_id).await?;
    let items = state.read_models.session_members(session_id).await?;
    Ok(HttpResponse::Ok().json(MemberList {
        items: items.into_iter().map(Member::from).collect(),
    }))
}

/// Add a member, or change a member's role (host).
#[utoipa::path(put, path = "/v1/sessions/{id}/members/{user_id}", tag = "members", request_body = PutMemberRequest,
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 202, description = "In the log, not yet in the read models: read it with X-Min-Position", body = super::dto::WriteAccepted, headers(("X-Position" = u64))),
        (status = 200, description = "The member, added or changed", body = Member, headers(("X-Position" = u64))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, description = "No such active user", body = ErrorBody)))]
pub async fn put_member(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
    body: web::Json<PutMemberRequest>,
) -> Result<HttpResponse, ApiError> {
    let (session_id, user_id) = path.into_inner();
    state.guard_session(&req, &caller, session_id).await?;
    let active_user = state.user(user_id).await?.is_some_and(|u| u.active);
    if !active_user {
        return Err(ApiError::unprocessable(
            "unknown_user",
            "no active user has this id",
        ));
    }
    let role = SessionRole::from(body.role);
    let command = match state.read_models.member_role(session_id, user_id).await? {
        Some(current) if current == role => {
            let member = member_of(&state, session_id, user_id).await?;
            return Ok(HttpResponse::Ok().json(member));
        }
        Some(_) => SessionCommand::ChangeMemberRole { user_id, role },
        None => SessionCommand::AddMember { user_id, role },
    };
    let accepted = state
        .session_command(&req, &caller, session_id, command)
        .await?;
    if !state.wait_for(accepted.append.last_position).await {
        return Ok(accepted_not_visible(accepted.append.last_position));
    }
    Ok(HttpResponse::Ok()
        .insert_header((POSITION_HEADER, accepted.append.last_position.to_string()))
        .json(member_of(&state, session_id, user_id).await?))
}

async fn member_of(state: &ApiState, session_id: Uuid, user_id: Uuid) -> Result<Member, ApiError> {
    state
        .read_models
        .session_members(session_id)
        .await?
        .into_iter()
        .find(|m| m.user_id == user_id)
        .map(Member::from)
        .ok_or_else(|| ApiError::internal("a written member is missing from the read model"))
}

/// Remove a member; their present participants leave (host).
#[utoipa::path(delete, path = "/v1/sessions/{id}/members/{user_id}", tag = "members",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 202, description = "In the log, not yet in the read models: read it with X-Min-Position", body = super::dto::WriteAccepted, headers(("X-Position" = u64))),
        (status = 204, description = "Removed", headers(("X-Position" = u64))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The last host cannot be removed", body = ErrorBody)))]
pub async fn remove_member(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (session_id, user_id) = path.into_inner();
    state.guard_session(&req, &caller, session_id).await?;
    let accepted = state
        .session_command(
            &req,
            &caller,
            session_id,
            SessionCommand::RemoveMember { user_id },
        )
        .await?;
    if !state.wait_for(accepted.append.last_position).await {
        return Ok(accepted_not_visible(accepted.append.last_position));
    }
    Ok(HttpResponse::NoContent()
        .insert_header((POSITION_HEADER, accepted.append.last_position.to_string()))
        .finish())
}

/// Join a live session as a new participant; returns the WebSocket and SFU tokens, and the
/// WHIP/WHEP URLs of the node the session's media is placed on (placed on this node first
/// when it has no placement, or its node is gone: `MediaPlaced`).
#[utoipa::path(post, path = "/v1/sessions/{id}/participants:join", tag = "participants",
    request_body(content = Option<JoinRequest>, description = "Optional"),
    params(("id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer")),
    responses((status = 202, description = "In the log, not yet in the read models: read it with X-Min-Position", body = super::dto::WriteAccepted, headers(("X-Position" = u64))),
        (status = 201, description = "Joined", body = JoinResponse, headers(("X-Position" = u64))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Reviewers never join; admins must be members", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "The session is not live", body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "`too_many_participants`: the caller's cap of participants present at once; or `rate_limited`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`no_media_node`: an API-only node found no live media node to place the session's media on", body = ErrorBody)))]
pub async fn join(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let session_id = path.into_inner();
    let access = state.guard_session(&req, &caller, session_id).await?;
    let request: JoinRequest = super::optional_json(&req, &body)?;
    check_participant_cap(&state, &caller, session_id).await?;
    let participant_id = Uuid::now_v7();
    let accepted = state
        .session_command(
            &req,
            &caller,
            session_id,
            SessionCommand::JoinParticipant {
                participant_id,
                device: request.device,
            },
        )
        .await?;
    // A participant that never connects its WebSocket leaves as `timed_out`.
    let mut participant = caller.context();
    participant.participant_id = Some(participant_id);
    state.app().watch_join(session_id, participant);
    // The session's media: where it is placed, or here when nowhere (alive).
    let (placed, placing) = state
        .place_media(session_id, super::state::correlation_id(&req))
        .await?;
    let position = placing.map_or(accepted.append.last_position, |p| {
        p.append.last_position.max(accepted.append.last_position)
    });
    if !state.wait_for(position).await {
        return Ok(accepted_not_visible(position));
    }
    // The role the command was decided with (the read model may trail the log).
    let role = accepted
        .events
        .iter()
        .find_map(|e| match e {
            livesurgery_domain::Event::ParticipantJoined(j) => Some(j.role),
            _ => None,
        })
        .or(access.role)
        .unwrap_or(SessionRole::Observer);
    let permissions = media_permissions(caller.role(), Some(role));
    let ttl = state.settings.join_token_ttl_secs;
    // The same claims for both, apart from the audience.
    let [(ws_token, claims), (sfu_token, _)] = [AUDIENCE_WS, AUDIENCE_SFU].map(|audience| {
        state.keys.issue_join(
            audience,
            caller.id(),
            session_id,
            participant_id,
            role.as_str(),
            permissions.clone(),
            ttl,
        )
    });
    let base = super::public_base(&state.settings, &req);
    let media = state.placements.location(session_id, &placed, &base);
    let ws_base = base
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now);
    // As of the join: the read models have reached it.
    let session = state
        .session_row(session_id)
        .await?
        .ok_or_else(|| ApiError::internal("a joined session is missing from the read model"))?;
    Ok(HttpResponse::Created()
        .insert_header((POSITION_HEADER, position.to_string()))
        .json(JoinResponse {
            participant_id,
            role: role.into(),
            permissions,
            ws: WsAccess {
                url: format!("{ws_base}/v1/sessions/{session_id}/ws"),
                token: ws_token,
            },
            sfu: SfuAccess {
                whip_url: media.whip_url,
                whep_url: media.whep_url,
                node_id: media.node_id,
                token: sfu_token,
            },
            ice_servers: crate::sfu::turn::ice_servers(&state.settings, participant_id),
            expires_at,
            recording: RecordingFlag::of(&session),
        }))
}

/// Refuses a join past the caller's cap of participants present at once in the session
/// (`--max-participants-per-user`): 429 `too_many_participants`, retry once one has left or
/// timed out.
async fn check_participant_cap(
    state: &ApiState,
    caller: &Caller,
    session_id: Uuid,
) -> Result<(), ApiError> {
    let cap = state.settings.max_participants_per_user as usize;
    let present = state
        .read_models
        .participants_present(session_id)
        .await?
        .iter()
        .filter(|p| p.user_id == caller.id())
        .count();
    if present >= cap {
        return Err(ApiError::too_many_requests(
            "too_many_participants",
            format!(
                "at most {cap} participants of one user may be present at once; leave with                  one (or let an unconnected one time out) first"
            ),
            state.settings.join_connect_timeout_secs.max(1),
        ));
    }
    Ok(())
}

/// The participants present now.
#[utoipa::path(get, path = "/v1/sessions/{id}/participants", tag = "participants",
    params(("id" = Uuid, Path), super::ReadYourWrites),
    responses((status = 200, body = ParticipantList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list_participants(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.read_after(&req).await?;
    let session_id = path.into_inner();
    state.guard_session(&req, &caller, session_id).await?;
    let items = state.read_models.participants_present(session_id).await?;
    let media = |p: Participant| Participant {
        media: state.media_presence.of(p.participant_id),
        ..p
    };
    Ok(HttpResponse::Ok().json(ParticipantList {
        items: items
            .into_iter()
            .map(Participant::from)
            .map(media)
            .collect(),
    }))
}
