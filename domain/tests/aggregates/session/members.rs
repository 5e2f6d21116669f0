//! The session's members (and the last-host rule) and its participants.

use livesurgery_domain::events::*;
use livesurgery_domain::roles::SessionRole;
use livesurgery_domain::session::{SessionCommand as C, fold};

use crate::support::*;

// ---- members and the last-host rule ----

#[test]
fn the_host_adds_a_member() {
    given(scheduled())
        .when(C::AddMember {
            user_id: OUTSIDER,
            role: SessionRole::Surgeon,
        })
        .then(vec![member_added(OUTSIDER, SessionRole::Surgeon)]);
}

#[test]
fn adding_an_existing_member_is_refused() {
    given(scheduled())
        .when(C::AddMember {
            user_id: SURGEON,
            role: SessionRole::Host,
        })
        .then_error("already_exists");
}

#[test]
fn the_host_changes_a_member_role() {
    given(scheduled())
        .when(C::ChangeMemberRole {
            user_id: SURGEON,
            role: SessionRole::Host,
        })
        .then(vec![Event::MemberRoleChanged(MemberRoleChanged {
            session_id: SESSION,
            user_id: SURGEON,
            from: SessionRole::Surgeon,
            to: SessionRole::Host,
        })]);
}

#[test]
fn changing_the_role_of_a_non_member_or_to_the_same_role_is_refused() {
    given(scheduled())
        .when(C::ChangeMemberRole {
            user_id: OUTSIDER,
            role: SessionRole::Host,
        })
        .then_error("not_found");
    given(scheduled())
        .when(C::ChangeMemberRole {
            user_id: SURGEON,
            role: SessionRole::Surgeon,
        })
        .then_error("no_change");
}

#[test]
fn the_last_host_can_be_neither_demoted_nor_removed() {
    given(scheduled())
        .when(C::ChangeMemberRole {
            user_id: HOST,
            role: SessionRole::Surgeon,
        })
        .then_error("last_host");
    given(scheduled())
        .when(C::RemoveMember { user_id: HOST })
        .then_error("last_host");
}

#[test]
fn a_host_steps_down_once_there_is_another_host() {
    let two_hosts = with(
        scheduled(),
        [Event::MemberRoleChanged(MemberRoleChanged {
            session_id: SESSION,
            user_id: SURGEON,
            from: SessionRole::Surgeon,
            to: SessionRole::Host,
        })],
    );
    given(two_hosts.clone())
        .when(C::RemoveMember { user_id: HOST })
        .then(vec![Event::MemberRemoved(MemberRemoved {
            session_id: SESSION,
            user_id: HOST,
        })]);
    given(two_hosts)
        .when(C::ChangeMemberRole {
            user_id: HOST,
            role: SessionRole::Observer,
        })
        .events();
}

#[test]
fn removing_a_present_member_kicks_their_participants_first() {
    let before = with(
        live(),
        [
            joined(P_SURGEON, SURGEON, SessionRole::Surgeon),
            joined(P_HOST, HOST, SessionRole::Host),
        ],
    );
    let events = given(before.clone())
        .when(C::RemoveMember { user_id: SURGEON })
        .events();
    assert_eq!(
        events,
        vec![
            left(P_SURGEON, SURGEON, LeaveReason::Kicked),
            Event::MemberRemoved(MemberRemoved {
                session_id: SESSION,
                user_id: SURGEON,
            }),
        ]
    );
    let state = fold(&with(before, events));
    assert_eq!(state.role_of(SURGEON), None);
    assert_eq!(state.participants.keys().collect::<Vec<_>>(), [&P_HOST]);
}

#[test]
fn removing_a_non_member_is_not_found() {
    given(scheduled())
        .when(C::RemoveMember { user_id: OUTSIDER })
        .then_error("not_found");
}

// ---- participants ----

#[test]
fn a_member_joins_a_live_session_with_their_session_role() {
    given(live())
        .by(observer())
        .when(C::JoinParticipant {
            participant_id: P_OBSERVER,
            device: Some("laptop".into()),
        })
        .then(vec![Event::ParticipantJoined(ParticipantJoined {
            session_id: SESSION,
            participant_id: P_OBSERVER,
            user_id: OBSERVER,
            role: SessionRole::Observer,
            device: Some("laptop".into()),
        })]);
}

#[test]
fn a_non_member_cannot_join_not_even_an_admin() {
    given(live())
        .by(outsider())
        .when(C::JoinParticipant {
            participant_id: P_HOST,
            device: None,
        })
        .then_error("forbidden");
    given(live())
        .by(admin())
        .when(C::JoinParticipant {
            participant_id: P_HOST,
            device: None,
        })
        .then_error("not_a_member");
}

#[test]
fn a_reviewer_never_joins_even_as_a_member() {
    given(with(
        live(),
        [member_added(REVIEWER, SessionRole::Observer)],
    ))
    .by(reviewer())
    .when(C::JoinParticipant {
        participant_id: P_HOST,
        device: None,
    })
    .then_error("forbidden");
}

#[test]
fn joining_twice_from_the_same_participant_is_refused() {
    given(with(live(), [joined(P_HOST, HOST, SessionRole::Host)]))
        .when(C::JoinParticipant {
            participant_id: P_HOST,
            device: None,
        })
        .then_error("already_present");
}

#[test]
fn one_user_may_be_present_from_two_devices() {
    let state = fold(&with(
        live(),
        [
            joined(P_HOST, HOST, SessionRole::Host),
            joined(P_SURGEON, HOST, SessionRole::Host),
        ],
    ));
    assert_eq!(state.participants.len(), 2);
}

#[test]
fn a_participant_leaves_and_is_no_longer_present() {
    let before = with(
        live(),
        [joined(P_OBSERVER, OBSERVER, SessionRole::Observer)],
    );
    let events = given(before.clone())
        .by(observer())
        .when(C::LeaveParticipant {
            participant_id: P_OBSERVER,
            reason: LeaveReason::Left,
        })
        .events();
    assert_eq!(events, vec![left(P_OBSERVER, OBSERVER, LeaveReason::Left)]);
    assert!(fold(&with(before, events)).participants.is_empty());
}

#[test]
fn leaving_when_not_present_is_refused() {
    given(live())
        .when(C::LeaveParticipant {
            participant_id: P_HOST,
            reason: LeaveReason::Left,
        })
        .then_error("not_present");
}

#[test]
fn only_the_host_kicks_and_nobody_leaves_for_someone_else() {
    let before = with(
        live(),
        [joined(P_OBSERVER, OBSERVER, SessionRole::Observer)],
    );
    given(before.clone())
        .when(C::LeaveParticipant {
            participant_id: P_OBSERVER,
            reason: LeaveReason::Kicked,
        })
        .then(vec![left(P_OBSERVER, OBSERVER, LeaveReason::Kicked)]);
    given(before.clone())
        .by(surgeon())
        .when(C::LeaveParticipant {
            participant_id: P_OBSERVER,
            reason: LeaveReason::Kicked,
        })
        .then_error("forbidden");
    given(before)
        .when(C::LeaveParticipant {
            participant_id: P_OBSERVER,
            reason: LeaveReason::Left,
        })
        .then_error("forbidden");
}
