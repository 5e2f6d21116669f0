//! Sign-in, refresh and sign-out (`/v1/auth/…`).
//!
//! Two ways to carry the refresh token. API clients send and receive it in the JSON body.
//! The web app sends `X-LiveSurgery-CSRF: 1` and gets it as the `livesurgery_refresh` cookie
//! (`HttpOnly; Secure; SameSite=Strict; Path=/v1/auth`), never in a body a script could read;
//! its refresh and logout present the cookie, and the server takes the cookie only with that
//! header: a cross-site page cannot add a custom header without a CORS preflight, which only
//! allowed origins pass (CSRF protection on top of `SameSite=Strict`). A second, harmless
//! cookie, `livesurgery_signed_in=1` (readable by scripts, no secret), tells the app after a
//! reload that a refresh is worth trying.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use super::dto::{LoginRequest, RefreshRequest, TokenResponse};
use super::error::{ApiError, ErrorBody};
use super::state::{ApiState, bearer_token, client_address};
use crate::app::identity::SessionTokens;
use crate::app::{AppError, ErrorKind};

/// The header by which the web app asks for (and proves the same origin of) the cookie.
pub const CSRF_HEADER: &str = "x-livesurgery-csrf";
/// The refresh-token cookie.
pub const REFRESH_COOKIE: &str = "livesurgery_refresh";
/// The script-readable marker that a refresh cookie was set (holds no secret).
pub const SIGNED_IN_COOKIE: &str = "livesurgery_signed_in";
/// Where the refresh cookie is sent: the refresh and logout routes (and login, beside them).
const REFRESH_COOKIE_PATH: &str = "/v1/auth";

/// Whether the request comes from the web app (cookie transport, CSRF header present).
fn web_app(req: &HttpRequest) -> bool {
    req.headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "1")
}

fn cookie(
    name: &str,
    value: String,
    path: &str,
    http_only: bool,
    max_age_secs: i64,
) -> Cookie<'static> {
    Cookie::build(name.to_owned(), value)
        .path(path.to_owned())
        .http_only(http_only)
        .secure(true)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(max_age_secs))
        .finish()
}

/// The cookies of a signed-in web app: valid as long as the refresh token, and no longer than
/// the session may last.
fn session_cookies(state: &ApiState, refresh_token: String) -> [Cookie<'static>; 2] {
    let max_age = state
        .settings
        .refresh_token_ttl_secs
        .min(state.settings.session_absolute_timeout) as i64;
    [
        cookie(
            REFRESH_COOKIE,
            refresh_token,
            REFRESH_COOKIE_PATH,
            true,
            max_age,
        ),
        cookie(SIGNED_IN_COOKIE, "1".to_owned(), "/", false, max_age),
    ]
}

/// Cookies that remove both.
fn cleared_cookies() -> [Cookie<'static>; 2] {
    [
        cookie(REFRESH_COOKIE, String::new(), REFRESH_COOKIE_PATH, true, 0),
        cookie(SIGNED_IN_COOKIE, String::new(), "/", false, 0),
    ]
}

fn with_cookies(mut response: HttpResponse, cookies: [Cookie<'static>; 2]) -> HttpResponse {
    for c in cookies {
        // A cookie built from plain names and hex values always makes a valid header.
        let _ = response.add_cookie(&c);
    }
    response
}

/// The answer to a sign-in or refresh: the tokens, the refresh token in the body or (web app)
/// in the cookie.
fn signed_in(state: &ApiState, req: &HttpRequest, tokens: SessionTokens) -> HttpResponse {
    let web = web_app(req);
    let body = TokenResponse {
        access_token: tokens.access_token,
        token_type: "Bearer".into(),
        expires_in: tokens.expires_in,
        refresh_token: (!web).then(|| tokens.refresh_token.clone()),
        refresh_expires_in: tokens.refresh_expires_in,
        user: tokens.user.into(),
    };
    let response = HttpResponse::Ok().json(body);
    if web {
        with_cookies(response, session_cookies(state, tokens.refresh_token))
    } else {
        response
    }
}

/// An error answer that, for the web app, also removes its cookies (the sign-in is over).
fn ended(req: &HttpRequest, error: AppError) -> HttpResponse {
    let response = ApiError::from(error).error_response();
    if web_app(req) {
        with_cookies(response, cleared_cookies())
    } else {
        response
    }
}

/// Sign in with a username and password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    params(("X-LiveSurgery-CSRF" = Option<String>, Header,
        description = "`1` (the web app): the refresh token comes as an HttpOnly cookie, not in the body")),
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong username or password, or a deactivated user", body = ErrorBody),
        (status = 429, description = "Too many attempts for this username from this address, or from this address; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ), security(()))]
pub async fn login(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let address = client_address(&req);
    let tokens = state
        .sign_in(&body.username, body.password, address)
        .await?;
    Ok(signed_in(&state, &req, tokens))
}

/// The refresh token of a refresh or logout: the body's, else the cookie's (only with the
/// CSRF header).
fn presented_refresh_token(
    req: &HttpRequest,
    body: RefreshRequest,
) -> Result<Option<String>, AppError> {
    if let Some(token) = body.refresh_token {
        return Ok(Some(token));
    }
    let Some(cookie) = req.cookie(REFRESH_COOKIE).filter(|c| !c.value().is_empty()) else {
        return Ok(None);
    };
    if !web_app(req) {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            "csrf_check_failed",
            "the refresh cookie is accepted only with the X-LiveSurgery-CSRF: 1 header",
        ));
    }
    Ok(Some(cookie.value().to_owned()))
}

/// Trade a refresh token for new tokens (the old refresh token is used up; replaying it
/// revokes every token of its sign-in).
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body(content = Option<RefreshRequest>,
        description = "The refresh token; empty for the web app, which sends the cookie and X-LiveSurgery-CSRF: 1"),
    params(("X-LiveSurgery-CSRF" = Option<String>, Header,
        description = "`1`: take the refresh token from the livesurgery_refresh cookie and answer with a new cookie")),
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, used (`refresh_token_reused`: the sign-in is revoked) or expired refresh token, a session past its idle (`session_idle_timeout`) or absolute (`session_absolute_timeout`) timeout, or a deactivated user", body = ErrorBody),
        (status = 403, description = "The refresh cookie without the X-LiveSurgery-CSRF header (`csrf_check_failed`)", body = ErrorBody),
        (status = 415, body = ErrorBody),
    ), security(()))]
pub async fn refresh(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: RefreshRequest = super::optional_json(&req, &body)?;
    let token = match presented_refresh_token(&req, body) {
        Ok(Some(token)) => token,
        Ok(None) => {
            return Ok(ended(
                &req,
                AppError::unauthenticated(
                    "missing_token",
                    "send the refresh token in the body, or the web app's cookie",
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    match state.refresh_session(&token).await {
        Ok(tokens) => Ok(signed_in(&state, &req, tokens)),
        Err(e) if e.kind == ErrorKind::Unauthenticated => Ok(ended(&req, e)),
        Err(e) => Err(e.into()),
    }
}

/// Sign out: revoke the sign-in (refresh-token family) of the refresh token (body or cookie),
/// else of the access token; its refresh and access tokens stop working.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body(content = Option<RefreshRequest>,
        description = "The refresh token; empty for the web app (cookie) or with an access token"),
    params(("X-LiveSurgery-CSRF" = Option<String>, Header,
        description = "`1`: take the refresh token from the livesurgery_refresh cookie, and remove the cookies")),
    responses(
        (status = 204, description = "Signed out (also when there was nothing to revoke)"),
        (status = 403, description = "The refresh cookie without the X-LiveSurgery-CSRF header (`csrf_check_failed`)", body = ErrorBody),
        (status = 415, body = ErrorBody),
    ), security((), ("bearer" = [])))]
pub async fn logout(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // The bearer token first: a forged one gets 401 whatever the body.
    let access_family = state.sign_out_family(bearer_token(&req))?;
    let body: RefreshRequest = super::optional_json(&req, &body)?;
    let token = presented_refresh_token(&req, body)?;
    state.sign_out(token.as_deref(), access_family).await?;
    Ok(with_cookies(
        HttpResponse::NoContent().finish(),
        cleared_cookies(),
    ))
}
