//! The User aggregate, stream `user-<uuid>`: username, display name, organisation role, active.
//!
//! Only admins register users and change roles, activation and others' display names; anyone
//! changes their own display name. An admin cannot change their own role or deactivate
//! themself (so the last admin cannot lock the organisation out by mistake). A deactivated user
//! can only be reactivated. The first admin is registered by the server's bootstrap with an
//! admin context.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::context::CommandContext;
use crate::error::DomainError;
use crate::events::{
    Event, UserDeactivated, UserDisplayNameChanged, UserReactivated, UserRegistered,
    UserRoleChanged,
};
use crate::permissions::{Action, authorize};
use crate::roles::OrgRole;

/// Shortest username.
pub const MIN_USERNAME_LEN: usize = 3;
/// Longest username.
pub const MAX_USERNAME_LEN: usize = 64;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_LEN: usize = 100;

/// The folded state of one user. `Default` is a user not yet registered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserState {
    /// `None` until registered.
    pub user_id: Option<Uuid>,
    pub username: String,
    pub display_name: String,
    /// The organisation role; `None` until registered.
    pub role: Option<OrgRole>,
    pub active: bool,
}

/// Everything one can ask of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum UserCommand {
    /// Register a new user.
    RegisterUser {
        user_id: Uuid,
        username: String,
        display_name: String,
        role: OrgRole,
    },
    /// Change the user's organisation role.
    ChangeUserRole { role: OrgRole },
    /// Change the user's display name.
    ChangeDisplayName { display_name: String },
    /// Deactivate the user.
    DeactivateUser,
    /// Reactivate a deactivated user.
    ReactivateUser,
}

impl UserCommand {
    /// The snake_case name of this command.
    pub fn name(&self) -> &'static str {
        match self {
            UserCommand::RegisterUser { .. } => "register_user",
            UserCommand::ChangeUserRole { .. } => "change_user_role",
            UserCommand::ChangeDisplayName { .. } => "change_display_name",
            UserCommand::DeactivateUser => "deactivate_user",
            UserCommand::ReactivateUser => "reactivate_user",
        }
    }
}

/// Checks a username: 3-64 characters of `[a-z0-9._-]`, starting with a letter or digit.
pub fn validate_username(username: &str) -> Result<(), DomainError> {
    let ok = (MIN_USERNAME_LEN..=MAX_USERNAME_LEN).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        && username
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(DomainError::validation(
            "username",
            format!(
                "must be {MIN_USERNAME_LEN} to {MAX_USERNAME_LEN} characters: lowercase letters, digits, dots, underscores or hyphens, starting with a letter or digit"
            ),
        ))
    }
}

/// Checks a display name: 1-100 characters, not blank, no control characters, no bidi
/// controls, not only invisible characters.
pub fn validate_display_name(name: &str) -> Result<(), DomainError> {
    if name.trim().is_empty()
        || name.chars().count() > MAX_DISPLAY_NAME_LEN
        || name.chars().any(char::is_control)
    {
        return Err(DomainError::validation(
            "display_name",
            format!(
                "must be 1-{MAX_DISPLAY_NAME_LEN} characters, not blank, no control characters"
            ),
        ));
    }
    crate::text::check_not_spoofing("display_name", name)
}

/// Decides what a command does to a user: the events to append, or why it is refused.
pub fn decide(
    state: &UserState,
    cmd: &UserCommand,
    ctx: &CommandContext,
) -> Result<Vec<Event>, DomainError> {
    use UserCommand as C;
    if let C::RegisterUser {
        user_id,
        username,
        display_name,
        role,
    } = cmd
    {
        if state.user_id.is_some() {
            return Err(DomainError::AlreadyExists {
                what: format!("user {user_id}"),
            });
        }
        authorize(ctx.org_role, None, Action::RegisterUser)?;
        validate_username(username)?;
        validate_display_name(display_name)?;
        return Ok(vec![Event::UserRegistered(UserRegistered {
            user_id: *user_id,
            username: username.clone(),
            display_name: display_name.trim().to_owned(),
            role: *role,
        })]);
    }
    let (Some(user_id), Some(current_role)) = (state.user_id, state.role) else {
        return Err(DomainError::not_found("user"));
    };
    let is_self = user_id == ctx.user_id;
    let action = match cmd {
        C::RegisterUser { .. } => Action::RegisterUser,
        C::ChangeUserRole { .. } => Action::ChangeUserRole,
        C::ChangeDisplayName { .. } if is_self => Action::ChangeOwnDisplayName,
        C::ChangeDisplayName { .. } => Action::ChangeDisplayName,
        C::DeactivateUser => Action::DeactivateUser,
        C::ReactivateUser => Action::ReactivateUser,
    };
    authorize(ctx.org_role, None, action)?;
    if is_self && matches!(cmd, C::ChangeUserRole { .. } | C::DeactivateUser) {
        return Err(DomainError::Forbidden {
            reason: "an admin cannot change their own role or deactivate themself".into(),
        });
    }
    // Only reactivation needs an inactive user; every other command needs an active one.
    let wants_active = matches!(cmd, C::ReactivateUser);
    if state.active == wants_active {
        return Err(DomainError::InvalidTransition {
            command: cmd.name(),
            state: if state.active {
                "the user is active".into()
            } else {
                "the user is deactivated".into()
            },
        });
    }
    Ok(match cmd {
        // Handled before the existence check; a registered user cannot be registered again.
        C::RegisterUser { user_id, .. } => {
            return Err(DomainError::AlreadyExists {
                what: format!("user {user_id}"),
            });
        }
        C::ChangeUserRole { role } => {
            if *role == current_role {
                return Err(DomainError::no_change(format!(
                    "the user is already {}",
                    role.as_str()
                )));
            }
            vec![Event::UserRoleChanged(UserRoleChanged {
                user_id,
                from: current_role,
                to: *role,
            })]
        }
        C::ChangeDisplayName { display_name } => {
            validate_display_name(display_name)?;
            let display_name = display_name.trim().to_owned();
            if display_name == state.display_name {
                return Err(DomainError::no_change("the display name is already so"));
            }
            vec![Event::UserDisplayNameChanged(UserDisplayNameChanged {
                user_id,
                display_name,
            })]
        }
        C::DeactivateUser => vec![Event::UserDeactivated(UserDeactivated { user_id })],
        C::ReactivateUser => vec![Event::UserReactivated(UserReactivated { user_id })],
    })
}

/// Folds one event into the state; events of other aggregates or users are ignored.
pub fn evolve(mut state: UserState, event: &Event) -> UserState {
    let for_me = |id: Uuid| state.user_id.is_none_or(|mine| mine == id);
    match event {
        Event::UserRegistered(e) if for_me(e.user_id) => {
            state.user_id = Some(e.user_id);
            state.username = e.username.clone();
            state.display_name = e.display_name.clone();
            state.role = Some(e.role);
            state.active = true;
        }
        Event::UserRoleChanged(e) if for_me(e.user_id) => state.role = Some(e.to),
        Event::UserDisplayNameChanged(e) if for_me(e.user_id) => {
            state.display_name = e.display_name.clone();
        }
        Event::UserDeactivated(e) if for_me(e.user_id) => state.active = false,
        Event::UserReactivated(e) if for_me(e.user_id) => state.active = true,
        _ => {}
    }
    state
}
