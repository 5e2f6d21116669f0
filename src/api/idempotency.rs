//! `Idempotency-Key` on POST: the first request with a key runs and its answer is kept (24 h);
//! a retry with the same key (same caller, same method, path and body) gets that answer again
//! and appends nothing. The same key with a different request is refused (422); a retry while
//! the first is still running gets 409 and `Retry-After`.
//!
//! No bearer token is kept at rest: a kept `participants:join` answer loses its WS and SFU
//! tokens and TURN credentials ([`at_rest`]); its replay, to a caller who still may join, gets
//! fresh ones minted for the same participant ([`reissue`]).
//!
//! A server crash between the append and keeping the answer leaves the key claimed: after
//! [`ABANDONED_AFTER`] a retry runs the request again. Commands that create (sessions, users)
//! would then create a second one; the README says so.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use chrono::Utc;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};

use super::error::ApiError;
use super::state::{ApiState, POSITION_HEADER};

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set on an answer that is a replay of the first one.
pub const REPLAYED: &str = "idempotent-replayed";
/// A claimed key whose request has not finished after this long is taken to be abandoned.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(60);
/// How long answers are kept.
pub const KEEP_FOR: Duration = Duration::from_secs(24 * 3600);

const KEPT_HEADERS: [&str; 3] = ["content-type", "location", POSITION_HEADER];

enum Claim {
    /// This request runs; its answer is kept.
    Owner,
    /// The first request's answer.
    Replay {
        status: u16,
        headers: String,
        body: String,
    },
    /// The first request is still running.
    InProgress,
    /// The key was used for another request.
    Mismatch,
}

fn micros(d: Duration) -> i64 {
    d.as_micros() as i64
}

async fn claim(
    pool: &AnyPool,
    scope: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, sqlx::Error> {
    let now = Utc::now().timestamp_micros();
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (scope, idem_key, fingerprint, status, created_at) \
         VALUES ($1, $2, $3, 0, $4) ON CONFLICT (scope, idem_key) DO NOTHING",
    )
    .bind(scope)
    .bind(key)
    .bind(fingerprint)
    .bind(now)
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 1 {
        if rand::random::<u8>() == 0 {
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                .bind(now - micros(KEEP_FOR))
                .execute(pool)
                .await?;
        }
        return Ok(Claim::Owner);
    }
    let Some(row) = sqlx::query(
        "SELECT fingerprint, status, headers, body, created_at FROM idempotency_keys \
         WHERE scope = $1 AND idem_key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(pool)
    .await?
    else {
        // Expired and deleted between the two statements: a fresh start.
        return Box::pin(claim(pool, scope, key, fingerprint)).await;
    };
    let stored_fingerprint: String = row.try_get("fingerprint")?;
    if stored_fingerprint != fingerprint {
        return Ok(Claim::Mismatch);
    }
    let status: i64 = row.try_get("status")?;
    if status != 0 {
        return Ok(Claim::Replay {
            status: status as u16,
            headers: row
                .try_get::<Option<String>, _>("headers")?
                .unwrap_or_default(),
            body: row
                .try_get::<Option<String>, _>("body")?
                .unwrap_or_default(),
        });
    }
    let created_at: i64 = row.try_get("created_at")?;
    if now - created_at < micros(ABANDONED_AFTER) {
        return Ok(Claim::InProgress);
    }
    let taken = sqlx::query(
        "UPDATE idempotency_keys SET created_at = $1 \
         WHERE scope = $2 AND idem_key = $3 AND status = 0 AND created_at = $4",
    )
    .bind(now)
    .bind(scope)
    .bind(key)
    .bind(created_at)
    .execute(pool)
    .await?;
    Ok(if taken.rows_affected() == 1 {
        Claim::Owner
    } else {
        Claim::InProgress
    })
}

async fn keep(
    pool: &AnyPool,
    scope: &str,
    key: &str,
    status: u16,
    headers: &str,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $1, headers = $2, body = $3 \
         WHERE scope = $4 AND idem_key = $5",
    )
    .bind(i64::from(status))
    .bind(headers)
    .bind(body)
    .bind(scope)
    .bind(key)
    .execute(pool)
    .await?;
    Ok(())
}

async fn release(pool: &AnyPool, scope: &str, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2")
        .bind(scope)
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}

/// The session of a `POST /v1/sessions/{id}/participants:join` path.
fn join_session(path: &str) -> Option<uuid::Uuid> {
    path.strip_prefix("/v1/sessions/")?
        .strip_suffix("/participants:join")?
        .parse()
        .ok()
}

/// The answer as kept: a join's without its bearer tokens and TURN credentials (a replay mints
/// fresh ones); any other as it was.
fn at_rest(path: &str, status: StatusCode, body: &str) -> String {
    if join_session(path).is_none() || !status.is_success() {
        return body.to_owned();
    }
    let Ok(mut answer) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.to_owned();
    };
    for channel in ["ws", "sfu"] {
        if let Some(access) = answer.get_mut(channel).and_then(|a| a.as_object_mut()) {
            access.remove("token");
        }
    }
    if let Some(answer) = answer.as_object_mut() {
        answer.remove("ice_servers");
    }
    answer.to_string()
}

/// A kept join answer made whole again for `caller`: fresh WS and SFU tokens and TURN
/// credentials for the same participant, role and permissions, and their expiry.
fn reissue(
    state: &ApiState,
    caller: uuid::Uuid,
    session_id: uuid::Uuid,
    body: &str,
) -> Option<String> {
    use crate::auth::MediaPermission;
    use crate::auth::tokens::{AUDIENCE_SFU, AUDIENCE_WS};
    let mut answer: serde_json::Value = serde_json::from_str(body).ok()?;
    let participant_id: uuid::Uuid = answer.get("participant_id")?.as_str()?.parse().ok()?;
    let role = answer.get("role")?.as_str()?.to_owned();
    let permissions: Vec<MediaPermission> =
        serde_json::from_value(answer.get("permissions")?.clone()).ok()?;
    let ttl = state.settings.join_token_ttl_secs;
    let [(ws_token, claims), (sfu_token, _)] = [AUDIENCE_WS, AUDIENCE_SFU].map(|audience| {
        state.keys.issue_join(
            audience,
            caller,
            session_id,
            participant_id,
            &role,
            permissions.clone(),
            ttl,
        )
    });
    answer["ws"]["token"] = ws_token.into();
    answer["sfu"]["token"] = sfu_token.into();
    answer["ice_servers"] = serde_json::to_value(crate::sfu::turn::ice_servers(
        &state.settings,
        participant_id,
    ))
    .ok()?;
    answer["expires_at"] =
        serde_json::to_value(chrono::DateTime::from_timestamp(claims.exp, 0)?).ok()?;
    Some(answer.to_string())
}

fn refuse(req: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    let response = error.error_response();
    req.into_response(response)
}

/// Middleware: see the module documentation.
pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = req
        .headers()
        .get(IDEMPOTENCY_KEY)
        .map(|v| v.to_str().map(str::to_owned));
    let Some(key) =
        key.filter(|_| req.method() == Method::POST && !req.path().starts_with("/v1/auth/"))
    else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(state) = req.app_data::<web::Data<ApiState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // Keys are per user; a request without a valid token is not kept (it gets 401 anyway).
    let subject = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| state.keys.subject_unverified_expiry(t.trim()));
    let Some(subject) = subject else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let valid = key
        .as_ref()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()));
    let Some(key) = valid.cloned() else {
        return Ok(refuse(
            req,
            ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1-255 visible ASCII characters",
            ),
        ));
    };
    let scope = subject.to_string();

    let limit = state.settings.max_body_bytes;
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Ok(refuse(req, ApiError::payload_too_large()));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update(b"\n");
    hasher.update(req.uri().to_string());
    hasher.update(b"\n");
    hasher.update(&body);
    let fingerprint = hex::encode(hasher.finalize());
    req.set_payload(Payload::from(body));

    let pool = state.read_models.pool().clone();
    let claimed = match claim(&pool, &scope, &key, &fingerprint).await {
        Ok(c) => c,
        Err(e) => return Ok(refuse(req, ApiError::internal(e))),
    };
    match claimed {
        Claim::Mismatch => Ok(refuse(
            req,
            ApiError::unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request",
            ),
        )),
        Claim::InProgress => Ok(refuse(
            req,
            ApiError::conflict(
                "idempotency_in_progress",
                "the first request with this Idempotency-Key is still running",
            )
            .with_retry_after(1),
        )),
        Claim::Replay {
            status,
            headers,
            body,
        } => {
            // A replay goes only to a caller who may still call (signed in now, active): the
            // key's scope was read from a token whose expiry was not checked.
            let caller = match state.authenticate(req.request()).await {
                Ok(caller) => caller,
                Err(error) => return Ok(refuse(req, error)),
            };
            let body = match join_session(req.path()) {
                Some(session_id) if (200..300).contains(&status) => {
                    // Fresh join tokens only for a caller who may still join this session.
                    if let Err(error) = state
                        .guard_session(req.request(), &caller, session_id)
                        .await
                    {
                        return Ok(refuse(req, error));
                    }
                    match reissue(&state, caller.id(), session_id, &body) {
                        Some(body) => body,
                        None => {
                            return Ok(refuse(
                                req,
                                ApiError::internal("a kept join answer could not be reissued"),
                            ));
                        }
                    }
                }
                _ => body,
            };
            let mut response =
                HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
            let headers: Vec<(String, String)> = serde_json::from_str(&headers).unwrap_or_default();
            for (name, value) in headers {
                if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                    response.insert_header((n, v));
                }
            }
            response.insert_header((REPLAYED, "true"));
            Ok(req.into_response(response.body(body)))
        }
        Claim::Owner => {
            let response = next.call(req).await?;
            let status = response.status();
            if status.is_server_error() {
                if let Err(e) = release(&pool, &scope, &key).await {
                    tracing::error!(error = %e, "could not release an idempotency key");
                }
                return Ok(response.map_into_boxed_body());
            }
            let (req, res) = response.into_parts();
            let path = req.path().to_owned();
            let kept: Vec<(String, String)> = KEPT_HEADERS
                .iter()
                .filter_map(|name| {
                    res.headers()
                        .get(*name)
                        .and_then(|v| v.to_str().ok())
                        .map(|v| ((*name).to_owned(), v.to_owned()))
                })
                .collect();
            let (res, body) = res.into_parts();
            let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            // What the caller gets now is whole; what is kept has no bearer token.
            let headers = serde_json::to_string(&kept).unwrap_or_default();
            let text = at_rest(&path, status, &text);
            if let Err(e) = keep(&pool, &scope, &key, status.as_u16(), &headers, &text).await {
                tracing::error!(error = %e, "could not keep an idempotent answer");
            }
            let res = res.set_body(BoxBody::new(bytes));
            Ok(ServiceResponse::new(req, res))
        }
    }
}
