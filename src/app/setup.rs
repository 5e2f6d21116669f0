//! First start: while no active admin exists, a one-time setup token lets whoever holds the link
//! printed at start-up create the first admin with their own password.
//!
//! The token lives in this process's memory only (never in the log, a metric or the database):
//! it is valid until it is used or the process stops. Registration goes through the one user
//! registration path ([`super::users`]); the new admin is the actor of their own
//! `UserRegistered`, which is how the audit trail tells a setup from `users create` (whose
//! actor is the nil user, the command line).

use std::net::IpAddr;

use chrono::Utc;
use livesurgery_domain::CommandContext;
use livesurgery_domain::roles::OrgRole;
use livesurgery_projections::UserFilter;
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::commands::Accepted;
use super::users::{NewUser, register_user_with_id};
use super::{App, AppError, ErrorKind};
use crate::auth::LoginLimiter;

/// Random bytes in a setup token (256 bits).
const TOKEN_BYTES: usize = 32;

/// The first-start state of a process: the live setup token, if any, and its attempt limits.
pub struct FirstStart {
    /// `None` before a token is offered and once it is used. Held across a registration, so
    /// a concurrent second attempt waits and then finds the token gone.
    token: Mutex<Option<SetupToken>>,
    limiter: LoginLimiter,
}

/// A setup token. `Debug` hides it, so it cannot reach a log line by accident.
struct SetupToken(String);

impl std::fmt::Debug for SetupToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetupToken(***)")
    }
}

impl SetupToken {
    fn generate() -> SetupToken {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        SetupToken(hex::encode(bytes))
    }

    /// Constant time in the content (only the length may show).
    fn matches(&self, given: &str) -> bool {
        self.0.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

impl FirstStart {
    /// No token yet; attempts limited as sign-in's are (per username, per address, a minute).
    pub fn new(per_username: u32, per_address: u32) -> FirstStart {
        FirstStart {
            token: Mutex::new(None),
            limiter: LoginLimiter::new(per_username, per_address),
        }
    }
}

/// What the setup page sends: the first admin's own fields, and the token of the link.
#[derive(Clone)]
pub struct SetupRequest {
    pub token: String,
    pub username: String,
    pub display_name: String,
    pub password: String,
}

impl std::fmt::Debug for SetupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupRequest")
            .field("username", &self.username)
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

fn invalid_token() -> AppError {
    AppError::new(
        ErrorKind::Forbidden,
        "invalid_setup_token",
        "this setup link is not valid (already used, or the server restarted since it was \
         printed): use the newest link in the server's log",
    )
}

fn setup_done() -> AppError {
    AppError::conflict(
        "setup_done",
        "an admin exists already: sign in, or ask an admin for an account",
    )
}

impl App {
    /// Whether an active admin exists, once the read models show the whole log.
    async fn admin_exists(&self) -> Result<bool, AppError> {
        let head = self.store.head_position().await?;
        self.wait_for(head).await;
        let admins = self
            .read_models
            .list_users(&UserFilter {
                active: Some(true),
                role: Some(OrgRole::Admin),
                after_username: None,
                limit: 1,
            })
            .await?;
        Ok(!admins.is_empty())
    }

    /// At start-up: when no active admin exists, makes a new setup token (replacing any
    /// earlier one) and returns it to be shown once; `None` when there is an admin.
    pub async fn offer_setup(&self) -> Result<Option<String>, AppError> {
        let mut live = self.first_start.token.lock().await;
        if self.admin_exists().await? {
            *live = None;
            return Ok(None);
        }
        let token = SetupToken::generate();
        let shown = token.0.clone();
        *live = Some(token);
        Ok(Some(shown))
    }

    /// Whether the setup page can still be used: a token is live and no admin exists.
    pub async fn setup_needed(&self) -> Result<bool, AppError> {
        let live = self.first_start.token.lock().await.is_some();
        Ok(live && !self.admin_exists().await?)
    }

    /// Creates the first admin with the setup token: `setup_done` (conflict) when an admin
    /// exists, `invalid_setup_token` (forbidden) for a wrong or used token, the registration's
    /// own errors for the fields. The token is used up only by a registration that succeeds.
    pub async fn complete_setup(
        &self,
        request: &SetupRequest,
        address: Option<IpAddr>,
        correlation_id: Uuid,
    ) -> Result<(Uuid, Accepted), AppError> {
        if let Err(wait) = self.first_start.limiter.check(&request.username, address) {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut error = AppError::new(
                ErrorKind::RateLimited,
                "too_many_attempts",
                "too many setup attempts; wait before trying again",
            );
            error.retry_after = Some(secs.max(1));
            return Err(error);
        }
        let mut live = self.first_start.token.lock().await;
        if self.admin_exists().await? {
            *live = None;
            return Err(setup_done());
        }
        if !live.as_ref().is_some_and(|t| t.matches(&request.token)) {
            tracing::info!("setup refused: wrong or used setup token");
            return Err(invalid_token());
        }
        // The first admin registers themselves: they are the actor of their own registration.
        let user_id = Uuid::now_v7();
        let ctx = CommandContext::new(user_id, OrgRole::Admin, Utc::now());
        let user = NewUser {
            username: request.username.clone(),
            password: request.password.clone(),
            role: OrgRole::Admin,
            display_name: request.display_name.clone(),
        };
        let registered = register_user_with_id(
            &*self.store,
            &self.credentials,
            user_id,
            &ctx,
            correlation_id,
            &user,
        )
        .await?;
        *live = None;
        tracing::info!(%user_id, username = %request.username, "first admin created by the setup link");
        Ok(registered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_has_256_random_bits_and_matches_only_itself() {
        let a = SetupToken::generate();
        let b = SetupToken::generate();
        assert_eq!(a.0.len(), TOKEN_BYTES * 2);
        assert_ne!(a.0, b.0);
        assert!(a.matches(&a.0.clone()));
        assert!(!a.matches(&b.0));
        assert!(!a.matches(""));
        assert!(!a.matches(&a.0[..a.0.len() - 1]));
        assert_eq!(format!("{a:?}"), "SetupToken(***)");
    }
}
