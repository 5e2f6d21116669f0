//! `evolve`: what it folds and what it ignores; the default panels.

use livesurgery_domain::events::*;
use livesurgery_domain::roles::SessionRole;
use livesurgery_domain::session::{SessionCommand as C, SessionState, evolve, fold, session_id_of};
use uuid::Uuid;

use crate::support::*;

// ---- evolve ----

#[test]
fn evolve_ignores_user_events_and_other_sessions() {
    let state = fold(&scheduled());
    let other = evolve(
        state.clone(),
        &Event::SessionStarted(SessionStarted {
            session_id: Uuid::from_u128(42),
        }),
    );
    assert_eq!(other, state);
    let user = evolve(
        state.clone(),
        &Event::UserDeactivated(UserDeactivated { user_id: HOST }),
    );
    assert_eq!(user, state);
    assert_eq!(SessionState::default().status, None);
}

#[test]
fn evolve_ignores_access_events_that_name_the_session() {
    let state = fold(&live());
    for event in access_events(OBSERVER) {
        assert_eq!(session_id_of(&event), None, "{}", event.event_type());
        assert_eq!(evolve(state.clone(), &event), state);
        assert_eq!(
            evolve(SessionState::default(), &event),
            SessionState::default()
        );
    }
}

#[test]
fn media_events_belong_to_their_session_but_change_no_state() {
    let present = with(
        live(),
        [
            joined(P_HOST, HOST, SessionRole::Host),
            joined(P_SURGEON, SURGEON, SessionRole::Surgeon),
            joined(P_OBSERVER, OBSERVER, SessionRole::Observer),
        ],
    );
    let state = fold(&present);
    for event in media_events() {
        assert_eq!(
            session_id_of(&event),
            Some(SESSION),
            "{}",
            event.event_type()
        );
        assert_eq!(
            evolve(state.clone(), &event),
            state,
            "{}",
            event.event_type()
        );
    }
    // Nobody needs to stop publishing first: ending decides on the session's own state alone.
    given(with(present, media_events()))
        .when(C::EndSession)
        .then(vec![
            left(P_HOST, HOST, LeaveReason::Left),
            left(P_SURGEON, SURGEON, LeaveReason::Left),
            left(P_OBSERVER, OBSERVER, LeaveReason::Left),
            Event::SessionEnded(SessionEnded {
                session_id: SESSION,
            }),
        ]);
}
