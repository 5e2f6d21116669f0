//! First start: `/v1/setup`, where the holder of the setup link printed at start-up creates
//! the first admin.

use actix_web::{HttpRequest, HttpResponse, web};

use super::dto::{SetupRequest, SetupStatus};
use super::error::{ApiError, ErrorBody};
use super::state::{ApiState, client_address, correlation_id};
use crate::app::setup;

/// Whether the first-start setup is open (no admin exists and the printed link is unused).
#[utoipa::path(get, path = "/v1/setup", tag = "auth",
    responses((status = 200, body = SetupStatus)), security(()))]
pub async fn setup_status(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(SetupStatus {
        needed: state.setup_needed().await?,
    }))
}

/// Create the first admin with the one-time token of the setup link printed at start-up (the
/// token is used up by a success).
#[utoipa::path(post, path = "/v1/setup", tag = "auth", request_body = SetupRequest,
    responses((status = 202, description = "In the log, not yet in the read models: read it with X-Min-Position", body = super::dto::WriteAccepted, headers(("X-Position" = u64))),
        (status = 201, description = "The first admin, registered", body = super::dto::User,
            headers(("X-Position" = u64, description = "Log position of the write"), ("Location" = String))),
        (status = 403, description = "`invalid_setup_token`: wrong or used token, or the server restarted since", body = ErrorBody),
        (status = 409, description = "`setup_done`: an admin exists; `already_exists`: the username is taken", body = ErrorBody),
        (status = 422, description = "Invalid username, password or display name", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ), security(()))]
pub async fn complete_setup(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<SetupRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let request = setup::SetupRequest {
        token: body.token,
        username: body.username,
        display_name: body.display_name,
        password: body.password,
    };
    let address = client_address(&req);
    let (user_id, accepted) = state
        .complete_setup(&request, address, correlation_id(&req))
        .await?;
    super::users::registered(&state, user_id, &accepted).await
}
