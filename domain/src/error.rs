//! The one error type of the domain boundary: every rejected command is a [`DomainError`].
//!
//! The API layer maps [`DomainError::code`] to an HTTP status; the code is stable and part of
//! the API contract, the message is for humans.

/// Why a command was rejected. Nothing was decided; no event is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The actor's roles do not allow this action (see [`crate::permissions`]).
    #[error("forbidden: {reason}")]
    Forbidden { reason: String },
    /// The aggregate's status does not allow this command (e.g. starting an ended session).
    #[error("cannot {command} while {state}")]
    InvalidTransition {
        command: &'static str,
        state: String,
    },
    /// The aggregate, member, panel or recording the command names does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The aggregate or item the command would create exists already.
    #[error("{what} already exists")]
    AlreadyExists { what: String },
    /// A field of the command is malformed or out of bounds.
    #[error("invalid {field}: {reason}")]
    ValidationFailed { field: &'static str, reason: String },
    /// The command would leave the session without a host.
    #[error("a session must keep at least one host")]
    LastHost,
    /// A layout write claims a base version the layout has not reached.
    #[error("base version {base_version} is ahead of the current layout version {current}")]
    BaseVersionAhead { base_version: u64, current: u64 },
    /// The command would change nothing.
    #[error("nothing to change: {reason}")]
    NoChange { reason: String },
    /// The actor must be a member of the session to do this (e.g. join).
    #[error("user {user_id} is not a member of this session")]
    NotAMember { user_id: uuid::Uuid },
    /// The participant is not present in the session.
    #[error("participant {participant_id} is not present")]
    NotPresent { participant_id: uuid::Uuid },
    /// The participant is present already.
    #[error("participant {participant_id} is already present")]
    AlreadyPresent { participant_id: uuid::Uuid },
    /// The caller's hand is raised already.
    #[error("your hand is raised already")]
    AlreadyRaised,
}

impl DomainError {
    /// A stable snake_case code for API bodies and metrics (`"forbidden"`, `"last_host"`, …).
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Forbidden { .. } => "forbidden",
            DomainError::InvalidTransition { .. } => "invalid_transition",
            DomainError::NotFound { .. } => "not_found",
            DomainError::AlreadyExists { .. } => "already_exists",
            DomainError::ValidationFailed { .. } => "validation_failed",
            DomainError::LastHost => "last_host",
            DomainError::BaseVersionAhead { .. } => "base_version_ahead",
            DomainError::NoChange { .. } => "no_change",
            DomainError::NotAMember { .. } => "not_a_member",
            DomainError::NotPresent { .. } => "not_present",
            DomainError::AlreadyPresent { .. } => "already_present",
            DomainError::AlreadyRaised => "already_raised",
        }
    }

    /// Every code [`DomainError::code`] can return (for the API docs and tests).
    pub const CODES: &'static [&'static str] = &[
        "forbidden",
        "invalid_transition",
        "not_found",
        "already_exists",
        "validation_failed",
        "last_host",
        "base_version_ahead",
        "no_change",
        "not_a_member",
        "not_present",
        "already_present",
        "already_raised",
    ];

    pub(crate) fn validation(field: &'static str, reason: impl Into<String>) -> Self {
        DomainError::ValidationFailed {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        DomainError::NotFound { what: what.into() }
    }

    pub(crate) fn no_change(reason: impl Into<String>) -> Self {
        DomainError::NoChange {
            reason: reason.into(),
        }
    }
}

impl From<crate::permissions::Denied> for DomainError {
    fn from(denied: crate::permissions::Denied) -> Self {
        DomainError::Forbidden {
            reason: denied.reason,
        }
    }
}
