//! The application layer's one error type: what went wrong, as a kind every transport knows
//! how to answer (REST picks a status in `api/error.rs`, the WebSocket sends `code` and
//! `message`), a stable code and a message safe to show.

use livesurgery_domain::DomainError;

use super::commands::CommandError;

/// What kind of failure an [`AppError`] is; transports map each kind to their own answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is malformed or out of range.
    Invalid,
    /// Who is calling could not be established (missing, invalid or expired token).
    Unauthenticated,
    /// The caller is known but may not do this.
    Forbidden,
    /// Nothing of that name exists, or the caller may not know it does.
    NotFound,
    /// The request conflicts with the current state (wrong state, a name taken, a race lost).
    Conflict,
    /// Well-formed, but its content cannot be used.
    Unprocessable,
    /// Too many attempts; retry after `retry_after` seconds.
    RateLimited,
    /// Not possible right now (the read models lag, the media server is stopped).
    Unavailable,
    /// A failure of ours: logged with its cause, answered without it.
    Internal,
}

/// An error of the application layer: a kind, a stable snake_case code, a message for humans.
#[derive(Debug, Clone)]
pub struct AppError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    /// The current version, for `version_conflict` and `base_version_ahead`.
    pub current_version: Option<u64>,
    /// Seconds to wait before retrying, for rate limits and unavailability.
    pub retry_after: Option<u64>,
    /// Where the session's media is, for `media_elsewhere`.
    pub media: Option<Box<super::placement::MediaLocation>>,
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AppError {}

impl AppError {
    /// An error of this kind with its code and message.
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> AppError {
        AppError {
            kind,
            code,
            message: message.into(),
            current_version: None,
            retry_after: match kind {
                ErrorKind::Unavailable => Some(1),
                _ => None,
            },
            media: None,
        }
    }

    /// WHIP or WHEP on another node than the one the session's media is placed on: the media
    /// would reach nobody there. Says where it is.
    pub fn media_elsewhere(location: super::placement::MediaLocation) -> AppError {
        let mut error = AppError::conflict(
            "media_elsewhere",
            format!(
                "this session's media is placed on another node ({}): publish at {} and \
                 subscribe at {}",
                location.node_id, location.whip_url, location.whep_url
            ),
        );
        error.media = Some(Box::new(location));
        error
    }

    /// Malformed input.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Invalid, code, message)
    }

    /// No usable credentials.
    pub fn unauthenticated(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Unauthenticated, code, message)
    }

    /// Refused, with the code `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Forbidden, "forbidden", message)
    }

    /// Nothing there, with the code `not_found`.
    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::NotFound, "not_found", message)
    }

    /// In conflict with the current state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Conflict, code, message)
    }

    /// Well-formed but unusable content.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Unprocessable, code, message)
    }

    /// Not possible right now; retry in a second.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Unavailable, code, message)
    }

    /// A failure of ours: the cause goes to the log, never to the caller.
    pub fn internal(cause: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %cause, "internal error");
        AppError::new(
            ErrorKind::Internal,
            "internal_error",
            "the server failed to answer; the request id is in its log",
        )
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> AppError {
        let kind = match &e {
            // Not a member but allowed to see the session (an admin joining): refused, not hidden.
            DomainError::Forbidden { .. } | DomainError::NotAMember { .. } => ErrorKind::Forbidden,
            DomainError::NotFound { .. } | DomainError::NotPresent { .. } => ErrorKind::NotFound,
            DomainError::ValidationFailed { .. } => ErrorKind::Unprocessable,
            DomainError::AlreadyExists { .. }
            | DomainError::InvalidTransition { .. }
            | DomainError::LastHost
            | DomainError::NoChange { .. }
            | DomainError::AlreadyPresent { .. }
            | DomainError::AlreadyRaised
            | DomainError::BaseVersionAhead { .. } => ErrorKind::Conflict,
        };
        let mut error = AppError::new(kind, e.code(), e.to_string());
        if let DomainError::BaseVersionAhead { current, .. } = e {
            error.current_version = Some(current);
        }
        error
    }
}

impl From<CommandError> for AppError {
    fn from(e: CommandError) -> AppError {
        match e {
            CommandError::Domain(d) => d.into(),
            CommandError::VersionConflict { current, .. } => {
                let mut error = AppError::conflict(
                    "version_conflict",
                    "other writers kept changing this resource; read it again and retry",
                );
                error.current_version = Some(current);
                error
            }
            CommandError::UnknownEvent(e) => AppError::internal(e),
            CommandError::Store(e) => AppError::internal(e),
        }
    }
}

impl From<livesurgery_projections::ProjectionError> for AppError {
    fn from(e: livesurgery_projections::ProjectionError) -> AppError {
        AppError::internal(e)
    }
}

impl From<crate::store::StoreError> for AppError {
    fn from(e: crate::store::StoreError) -> AppError {
        AppError::internal(e)
    }
}

impl From<crate::auth::CredentialsError> for AppError {
    fn from(e: crate::auth::CredentialsError) -> AppError {
        match e {
            crate::auth::CredentialsError::UsernameTaken => {
                AppError::conflict("already_exists", "a user with this username exists already")
            }
            other => AppError::internal(other),
        }
    }
}
