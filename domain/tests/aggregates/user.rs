use livesurgery_domain::events::*;
use livesurgery_domain::roles::OrgRole;
use livesurgery_domain::user::{UserCommand as C, UserState, evolve};
use uuid::Uuid;

use crate::support::*;

const ALICE: Uuid = Uuid::from_u128(0xA11CE);

fn register(username: &str) -> C {
    C::RegisterUser {
        user_id: ALICE,
        username: username.into(),
        display_name: "Dr Alice".into(),
        role: OrgRole::Surgeon,
    }
}

fn registered() -> Vec<Event> {
    vec![Event::UserRegistered(UserRegistered {
        user_id: ALICE,
        username: "alice".into(),
        display_name: "Dr Alice".into(),
        role: OrgRole::Surgeon,
    })]
}

fn deactivated() -> Vec<Event> {
    with(
        registered(),
        [Event::UserDeactivated(UserDeactivated { user_id: ALICE })],
    )
}

fn alice() -> livesurgery_domain::CommandContext {
    ctx(ALICE, OrgRole::Surgeon)
}

#[test]
fn an_admin_registers_a_user() {
    given_user([]).when(register("alice")).then(registered());
    let state = given_user(registered()).state().clone();
    assert!(state.active);
    assert_eq!(state.role, Some(OrgRole::Surgeon));
}

#[test]
fn only_admins_register_users() {
    given_user([])
        .by(surgeon())
        .when(register("alice"))
        .then_error("forbidden");
}

#[test]
fn usernames_are_3_to_64_lowercase_characters() {
    for ok in ["abc", "a.b-c_d", "0day", &"a".repeat(64)] {
        given_user([]).when(register(ok)).events();
    }
    for bad in [
        "ab",
        "Alice",
        "al ice",
        "-alice",
        "élise",
        &"a".repeat(65),
        "",
    ] {
        given_user([])
            .when(register(bad))
            .then_error("validation_failed");
    }
}

#[test]
fn a_refused_username_is_explained_in_words_not_a_pattern() {
    let message = livesurgery_domain::user::validate_username("Alice")
        .expect_err("uppercase is refused")
        .to_string();
    assert!(message.contains("lowercase letters, digits"), "{message}");
    assert!(!message.contains('['), "no regex in {message}");
}

#[test]
fn a_blank_display_name_is_refused() {
    given_user([])
        .when(C::RegisterUser {
            user_id: ALICE,
            username: "alice".into(),
            display_name: "  ".into(),
            role: OrgRole::Observer,
        })
        .then_error("validation_failed");
}

#[test]
fn registering_twice_is_refused() {
    given_user(registered())
        .when(register("alice"))
        .then_error("already_exists");
}

#[test]
fn commands_on_an_unregistered_user_are_not_found() {
    for cmd in [
        C::ChangeUserRole {
            role: OrgRole::Admin,
        },
        C::ChangeDisplayName {
            display_name: "x".into(),
        },
        C::DeactivateUser,
        C::ReactivateUser,
    ] {
        given_user([]).when(cmd).then_error("not_found");
    }
}

#[test]
fn an_admin_changes_a_role_but_not_their_own() {
    given_user(registered())
        .when(C::ChangeUserRole {
            role: OrgRole::Reviewer,
        })
        .then(vec![Event::UserRoleChanged(UserRoleChanged {
            user_id: ALICE,
            from: OrgRole::Surgeon,
            to: OrgRole::Reviewer,
        })]);
    given_user(registered())
        .when(C::ChangeUserRole {
            role: OrgRole::Surgeon,
        })
        .then_error("no_change");
    given_user(registered())
        .by(ctx(ALICE, OrgRole::Admin))
        .when(C::ChangeUserRole {
            role: OrgRole::Observer,
        })
        .then_error("forbidden");
    given_user(registered())
        .by(alice())
        .when(C::ChangeUserRole {
            role: OrgRole::Admin,
        })
        .then_error("forbidden");
}

#[test]
fn users_change_their_own_display_name_only() {
    given_user(registered())
        .by(alice())
        .when(C::ChangeDisplayName {
            display_name: " Alice B. ".into(),
        })
        .then(vec![Event::UserDisplayNameChanged(
            UserDisplayNameChanged {
                user_id: ALICE,
                display_name: "Alice B.".into(),
            },
        )]);
    given_user(registered())
        .by(surgeon())
        .when(C::ChangeDisplayName {
            display_name: "Mallory".into(),
        })
        .then_error("forbidden");
    given_user(registered())
        .when(C::ChangeDisplayName {
            display_name: "Dr Alice".into(),
        })
        .then_error("no_change");
}

#[test]
fn deactivating_and_reactivating_toggle_once() {
    given_user(registered())
        .when(C::DeactivateUser)
        .then(vec![Event::UserDeactivated(UserDeactivated {
            user_id: ALICE,
        })]);
    given_user(registered())
        .when(C::ReactivateUser)
        .then_error("invalid_transition");
    given_user(deactivated())
        .when(C::DeactivateUser)
        .then_error("invalid_transition");
    given_user(deactivated())
        .when(C::ReactivateUser)
        .then(vec![Event::UserReactivated(UserReactivated {
            user_id: ALICE,
        })]);
    given_user(registered())
        .by(ctx(ALICE, OrgRole::Admin))
        .when(C::DeactivateUser)
        .then_error("forbidden");
}

#[test]
fn a_deactivated_user_can_only_be_reactivated() {
    given_user(deactivated())
        .when(C::ChangeUserRole {
            role: OrgRole::Admin,
        })
        .then_error("invalid_transition");
    given_user(deactivated())
        .when(C::ChangeDisplayName {
            display_name: "New".into(),
        })
        .then_error("invalid_transition");
}

#[test]
fn evolve_folds_the_user_and_ignores_others() {
    let mut state = registered().iter().fold(UserState::default(), evolve);
    state = evolve(
        state,
        &Event::UserRoleChanged(UserRoleChanged {
            user_id: ALICE,
            from: OrgRole::Surgeon,
            to: OrgRole::Admin,
        }),
    );
    state = evolve(
        state,
        &Event::UserDeactivated(UserDeactivated {
            user_id: Uuid::from_u128(9),
        }),
    );
    state = evolve(
        state,
        &Event::SessionStarted(SessionStarted {
            session_id: SESSION,
        }),
    );
    assert_eq!(state.role, Some(OrgRole::Admin));
    assert!(state.active);
    assert_eq!(state.username, "alice");
}

#[test]
fn evolve_ignores_the_users_access_events() {
    let state = registered().iter().fold(UserState::default(), evolve);
    for event in access_events(ALICE) {
        assert_eq!(evolve(state.clone(), &event), state);
    }
}
