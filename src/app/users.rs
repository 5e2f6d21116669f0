//! Registering a user: the one path for `POST /v1/users`, `livesurgery users create` and the
//! benchmarks' set-up.

use livesurgery_domain::roles::OrgRole;
use livesurgery_domain::user::{UserCommand, validate_username};
use livesurgery_domain::{CommandContext, DomainError};
use uuid::Uuid;

use super::AppError;
use super::commands::{self, Accepted};
use crate::auth::{Credentials, hash_password};
use crate::store::EventStore;

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted (argon2 would take anything; a bound keeps hashing cheap).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A fresh random password (36 hex characters) for a user whose password is shown once
/// (`users create` at a terminal, the demo's personas).
pub fn random_password() -> String {
    let mut bytes = [0u8; 18];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

/// A user to register, with their password in clear (it is hashed, never stored or logged).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub role: OrgRole,
    pub display_name: String,
}

/// Checks a new user's fields; the message says what is wrong.
fn validate(user: &NewUser) -> Result<(), AppError> {
    validate_username(&user.username)?;
    let chars = user.password.chars().count();
    if chars < MIN_PASSWORD_LEN || user.password.len() > MAX_PASSWORD_LEN {
        return Err(DomainError::ValidationFailed {
            field: "password",
            reason: format!("must have {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters"),
        }
        .into());
    }
    Ok(())
}

/// Registers a user: the password hash goes to the credentials table (claiming the username),
/// then `UserRegistered` to the log; a refused registration gives the username back.
pub async fn register_user(
    store: &dyn EventStore,
    credentials: &Credentials,
    ctx: &CommandContext,
    correlation_id: Uuid,
    user: &NewUser,
) -> Result<(Uuid, Accepted), AppError> {
    register_user_with_id(
        store,
        credentials,
        Uuid::now_v7(),
        ctx,
        correlation_id,
        user,
    )
    .await
}

/// [`register_user`] under an id chosen by the caller: the first-start setup registers the
/// first admin as the actor of their own registration.
pub async fn register_user_with_id(
    store: &dyn EventStore,
    credentials: &Credentials,
    user_id: Uuid,
    ctx: &CommandContext,
    correlation_id: Uuid,
    user: &NewUser,
) -> Result<(Uuid, Accepted), AppError> {
    validate(user)?;
    let password = user.password.clone();
    // Hashing is slow on purpose: off the async workers.
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(AppError::internal)?;
    credentials.insert(user_id, &user.username, &hash).await?;
    let command = UserCommand::RegisterUser {
        user_id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        role: user.role,
    };
    match commands::execute::<livesurgery_domain::aggregate::User>(
        store,
        user_id,
        &command,
        ctx,
        correlation_id,
    )
    .await
    {
        Ok(accepted) => Ok((user_id, accepted)),
        Err(e) => {
            if let Err(cleanup) = credentials.delete(user_id).await {
                tracing::error!(error = %cleanup, "could not remove the credentials of an unregistered user");
            }
            Err(e.into())
        }
    }
}
