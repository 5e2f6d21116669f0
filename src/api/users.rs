//! Sign-in (`/v1/auth/…`) and users (`/v1/users…`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use livesurgery_domain::roles::OrgRole;
use livesurgery_domain::user::UserCommand;
use livesurgery_projections::UserFilter;
use uuid::Uuid;

use super::dto::{
    CreateUserRequest, DirectoryEntry, DirectoryPage, DirectoryQuery, ListUsersQuery, LoginRequest,
    RefreshRequest, TokenResponse, UpdateUserRequest, User, UserPage,
};
use super::error::{ApiError, ErrorBody};
use super::state::{ApiState, Caller, POSITION_HEADER, accepted_not_visible};
use crate::app::users::{NewUser, register_user};
use crate::auth::verify_password;

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "wrong username or password")
}

async fn tokens_for(
    state: &ApiState,
    user: livesurgery_projections::UserRow,
) -> Result<TokenResponse, ApiError> {
    let ttl = state.settings.access_token_ttl_secs;
    let (access_token, _) = state.keys.issue_access(user.user_id, ttl);
    let refresh_ttl = state.settings.refresh_token_ttl_secs;
    let refresh_token = state
        .credentials
        .issue_refresh(user.user_id, refresh_ttl)
        .await?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: ttl,
        refresh_token,
        refresh_expires_in: refresh_ttl,
        user: user.into(),
    })
}

/// Sign in with a username and password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong username or password, or a deactivated user", body = ErrorBody),
        (status = 429, description = "Too many attempts for this username or address; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ), security(()))]
pub async fn login(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let address = req.peer_addr().map(|a| a.ip());
    if let Err(wait) = state.login_limiter.check(&body.username, address) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Err(ApiError::too_many_requests(
            "too_many_attempts",
            "too many sign-in attempts; wait before trying again",
            secs.max(1),
        ));
    }
    let found = state.credentials.find(&body.username).await?;
    let password = body.password;
    let (user_id, ok) = match found {
        Some((user_id, hash)) => {
            let ok = web::block(move || verify_password(&password, &hash))
                .await
                .map_err(ApiError::internal)?;
            (Some(user_id), ok)
        }
        None => {
            // Same work as a real check, so timing does not tell which usernames exist.
            let _ = web::block(move || verify_password(&password, crate::auth::dummy_hash())).await;
            (None, false)
        }
    };
    let Some(user_id) = user_id.filter(|_| ok) else {
        tracing::info!("sign-in refused");
        return Err(invalid_credentials());
    };
    let user = match state.user(user_id).await? {
        Some(user) => user,
        None => {
            // Registered a moment ago, maybe by another process (`livesurgery users create`):
            // let the read models catch up with the log once.
            let head = state.store.head_position().await?;
            state.wait_for(head).await;
            state.user(user_id).await?.ok_or_else(invalid_credentials)?
        }
    };
    if !user.active {
        return Err(ApiError::unauthorized(
            "user_deactivated",
            "this user has been deactivated",
        ));
    }
    Ok(HttpResponse::Ok().json(tokens_for(&state, user).await?))
}

/// Trade a refresh token for new tokens (the old refresh token is used up).
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, used or expired refresh token, or a deactivated user", body = ErrorBody),
    ), security(()))]
pub async fn refresh(
    state: web::Data<ApiState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let invalid = || ApiError::unauthorized("invalid_token", "the refresh token is not valid");
    let user_id = state
        .credentials
        .redeem_refresh(&body.refresh_token)
        .await?
        .ok_or_else(invalid)?;
    let user = state.user(user_id).await?.ok_or_else(invalid)?;
    if !user.active {
        return Err(ApiError::unauthorized(
            "user_deactivated",
            "this user has been deactivated",
        ));
    }
    Ok(HttpResponse::Ok().json(tokens_for(&state, user).await?))
}

/// The signed-in user.
#[utoipa::path(get, path = "/v1/users/me", tag = "users",
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(User::from(caller.user))
}

impl From<&CreateUserRequest> for NewUser {
    fn from(body: &CreateUserRequest) -> NewUser {
        NewUser {
            username: body.username.clone(),
            password: body.password.clone(),
            role: body.role.into(),
            display_name: body.display_name.clone(),
        }
    }
}

/// Register a user (admins only).
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = CreateUserRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer")),
    responses((status = 202, description = "In the log, not yet in the read models: read it with X-Min-Position", body = super::dto::WriteAccepted, headers(("X-Position" = u64))),

        (status = 201, description = "Registered", body = User,
            headers(("X-Position" = u64, description = "Log position of the write"), ("Location" = String))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "The username is taken, or `confusable_display_name`: a mixed-script display name that looks like another user's", body = ErrorBody),
        (status = 422, description = "Invalid username, password or display name", body = ErrorBody),
    ))]
pub async fn create_user(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    body: web::Json<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    state.guard(&req, &caller).await?;
    state
        .check_confusable_display_name(&body.display_name, None)
        .await?;
    let (user_id, accepted) = register_user(
        &*state.store,
        &state.credentials,
        &caller.context(),
        caller.request_id,
        &NewUser::from(&*body),
    )
    .await?;
    registered(&state, user_id, &accepted).await
}

/// The answer to a registration: 201 with the user once the read models show them (202 if
/// they do not in time).
pub(super) async fn registered(
    state: &ApiState,
    user_id: Uuid,
    accepted: &crate::app::commands::Accepted,
) -> Result<HttpResponse, ApiError> {
    let position = accepted.append.last_position;
    if !state.wait_for(position).await {
        return Ok(accepted_not_visible(position));
    }
    let user =
        state.read_models.get_user(user_id).await?.ok_or_else(|| {
            ApiError::internal("a registered user is missing from the read model")
        })?;
    Ok(HttpResponse::Created()
        .insert_header((POSITION_HEADER, position.to_string()))
        .insert_header((header::LOCATION, format!("/v1/users/{user_id}")))
        .json(User::from(user)))
}

/// List users (admins only).
#[utoipa::path(get, path = "/v1/users", tag = "users", params(ListUsersQuery, super::ReadYourWrites),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_users(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    query: web::Query<ListUsersQuery>,
) -> Result<HttpResponse, ApiError> {
    state.guard(&req, &caller).await?;
    state.read_after(&req).await?;
    let (items, next_cursor) = user_page(
        &state,
        query.active,
        query.role.map(Into::into),
        query.cursor.clone(),
        query.limit,
    )
    .await?;
    Ok(HttpResponse::Ok().json(UserPage {
        items: items.into_iter().map(User::from).collect(),
        next_cursor,
    }))
}

/// One page of users by username after `cursor` (`limit` as the query gave it), and the cursor
/// of the next page.
async fn user_page(
    state: &ApiState,
    active: Option<bool>,
    role: Option<OrgRole>,
    cursor: Option<String>,
    limit: Option<u32>,
) -> Result<(Vec<livesurgery_projections::UserRow>, Option<String>), ApiError> {
    let limit = super::page_size(limit)?;
    let mut items = state
        .read_models
        .list_users(&UserFilter {
            active,
            role,
            after_username: cursor,
            limit: limit + 1,
        })
        .await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|u| u.username.clone())
    } else {
        None
    };
    Ok((items, next_cursor))
}

/// The directory of active users (any signed-in user): names to show for user ids, and the
/// people a host can add as members. No timestamps, no deactivated users.
#[utoipa::path(get, path = "/v1/users/directory", tag = "users", params(DirectoryQuery, super::ReadYourWrites),
    responses((status = 200, body = DirectoryPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn directory(
    state: web::Data<ApiState>,
    req: HttpRequest,
    _caller: Caller,
    query: web::Query<DirectoryQuery>,
) -> Result<HttpResponse, ApiError> {
    state.read_after(&req).await?;
    let (items, next_cursor) =
        user_page(&state, Some(true), None, query.cursor.clone(), query.limit).await?;
    Ok(HttpResponse::Ok().json(DirectoryPage {
        items: items.into_iter().map(DirectoryEntry::from).collect(),
        next_cursor,
    }))
}

/// Change a user's role, display name or activation (admins only).
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", request_body = UpdateUserRequest,
    params(("id" = Uuid, Path)),
    responses((status = 202, description = "In the log, not yet in the read models: read it with X-Min-Position", body = super::dto::WriteAccepted, headers(("X-Position" = u64))),

        (status = 200, description = "The user as changed", body = User,
            headers(("X-Position" = u64, description = "Log position of the last write"))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn update_user(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<Uuid>,
    body: web::Json<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    state.guard(&req, &caller).await?;
    let user_id = path.into_inner();
    let current = state
        .read_models
        .get_user(user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    let mut commands = Vec::new();
    if let Some(role) = body.role {
        let role = OrgRole::from(role);
        if role != current.role {
            commands.push(UserCommand::ChangeUserRole { role });
        }
    }
    if let Some(name) = &body.display_name
        && *name != current.display_name
    {
        state
            .check_confusable_display_name(name, Some(user_id))
            .await?;
        commands.push(UserCommand::ChangeDisplayName {
            display_name: name.clone(),
        });
    }
    match body.active {
        Some(false) if current.active => commands.push(UserCommand::DeactivateUser),
        Some(true) if !current.active => commands.push(UserCommand::ReactivateUser),
        _ => {}
    }
    let mut position = state.projector.position();
    for command in commands {
        let deactivating = command == UserCommand::DeactivateUser;
        let accepted = state.user_command(&req, &caller, user_id, command).await?;
        position = accepted.append.last_position;
        // Before anything can return: a deactivated user's refresh tokens die with the write.
        if deactivating {
            state.credentials.revoke_all(user_id).await?;
        }
        // Read back below, and a deactivation must bite on the very next request.
        if !state.wait_for(position).await {
            return Ok(accepted_not_visible(position));
        }
    }
    let user = state
        .read_models
        .get_user(user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(HttpResponse::Ok()
        .insert_header((POSITION_HEADER, position.to_string()))
        .json(User::from(user)))
}
