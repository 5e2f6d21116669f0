//! Users (`/v1/users…`). Sign-in, refresh and logout are in `auth.rs`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use livesurgery_domain::endpoints::DIRECTORY_WITH_DEACTIVATED;
use livesurgery_domain::permissions::authorize;
use livesurgery_domain::roles::OrgRole;
use livesurgery_domain::user::UserCommand;
use livesurgery_projections::UserFilter;
use uuid::Uuid;

use super::dto::{
    CreateUserRequest, DirectoryEntry, DirectoryPage, DirectoryQuery, ListUsersQuery,
    UpdateUserRequest, User, UserPage,
};
use super::error::{ApiError, ErrorBody};
use super::state::{ApiState, Caller, POSITION_HEADER, accepted_not_visible};
use crate::app::users::{NewUser, register_user};

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
/// people a host can add as members. No timestamps; deactivated users only with
/// `include_deactivated=true`, for those who read the audit trail (whose events name them).
#[utoipa::path(get, path = "/v1/users/directory", tag = "users", params(DirectoryQuery, super::ReadYourWrites),
    responses((status = 200, body = DirectoryPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`include_deactivated=true` by a caller who may not read the audit trail", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn directory(
    state: web::Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    query: web::Query<DirectoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let include_deactivated = query.include_deactivated == Some(true);
    if include_deactivated && authorize(caller.user.role, None, DIRECTORY_WITH_DEACTIVATED).is_err()
    {
        return Err(ApiError::forbidden(
            "only those who may read the audit trail see deactivated users",
        ));
    }
    state.read_after(&req).await?;
    let active = (!include_deactivated).then_some(true);
    let (items, next_cursor) =
        user_page(&state, active, None, query.cursor.clone(), query.limit).await?;
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
