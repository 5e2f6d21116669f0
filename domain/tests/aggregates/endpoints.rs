use std::collections::BTreeSet;

use livesurgery_domain::endpoints::{
    ENDPOINTS, Endpoint, Guard, can_see_session, endpoint, markdown_table,
};
use livesurgery_domain::permissions::{Action, authorize};
use livesurgery_domain::roles::{OrgRole, SessionRole};

const SESSION_ROLES: [Option<SessionRole>; 4] = [
    None,
    Some(SessionRole::Host),
    Some(SessionRole::Surgeon),
    Some(SessionRole::Observer),
];

/// Whether a caller with these roles passes the endpoint's guard (signed in, for all but public).
fn allowed(e: &Endpoint, org_role: OrgRole, session_role: Option<SessionRole>) -> bool {
    match e.guard {
        Guard::Public
        | Guard::Authenticated
        | Guard::JoinToken
        | Guard::PlaybackToken
        | Guard::SetupToken => true,
        Guard::Action(action) | Guard::SfuToken(action) => {
            authorize(org_role, session_role, action).is_ok()
        }
    }
}

fn get(method: &str, path: &str) -> &'static Endpoint {
    endpoint(method, path).unwrap_or_else(|| panic!("{method} {path} is in the table"))
}

#[test]
fn each_method_and_route_is_listed_once_and_found_by_endpoint() {
    let mut seen = BTreeSet::new();
    for e in ENDPOINTS {
        assert!(
            seen.insert((e.method, e.path)),
            "{} {} is listed twice",
            e.method,
            e.path
        );
        assert!(
            ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&e.method),
            "{}",
            e.method
        );
        assert_eq!(endpoint(e.method, e.path), Some(e));
    }
    assert_eq!(endpoint("GET", "/v1/sessions/5e55"), None, "templates only");
    assert_eq!(endpoint("PUT", "/v1/sessions"), None);
}

#[test]
fn the_table_guards_the_api_as_specified() {
    assert_eq!(get("POST", "/v1/auth/login").guard, Guard::Public);
    assert_eq!(get("GET", "/v1/sessions").guard, Guard::Authenticated);
    let start = get("POST", "/v1/sessions/{id}:start");
    assert_eq!(start.guard, Guard::Action(Action::StartSession));
    assert!(start.writes);
    let verify = get("POST", "/v1/sessions/{id}/audit:verify");
    assert_eq!(verify.guard, Guard::Action(Action::VerifyAudit));
    assert!(!verify.writes, "verifying appends nothing");
    assert_eq!(
        get("DELETE", "/v1/sessions/{id}/members/{user_id}").guard,
        Guard::Action(Action::RemoveMember)
    );
    let playback = get("GET", "/v1/archives/{id}/playback");
    assert_eq!(playback.guard, Guard::Action(Action::ReadArchives));
    assert!(
        playback.writes,
        "a playback URL handed out is an ArchiveAccessed event"
    );
    assert_eq!(
        get("PATCH", "/v1/archives/{id}").guard,
        Guard::Action(Action::ManageArchives)
    );
    assert_eq!(
        get("GET", "/v1/archives/{id}/media").guard,
        Guard::PlaybackToken
    );
    assert_eq!(get("GET", "/v1/setup").guard, Guard::Public);
    let setup = get("POST", "/v1/setup");
    assert_eq!(setup.guard, Guard::SetupToken);
    assert!(
        !setup.writes,
        "a refused setup names no user, so it appends no AccessDenied"
    );
}

#[test]
fn every_endpoint_of_one_session_requires_an_action() {
    // The WebSocket is guarded by its join token instead: the token names its session, and each
    // write over it is decided by the domain like any other. An archive's media is guarded by
    // the playback token that `GET /v1/archives/{id}/playback` (an action) handed out.
    for e in ENDPOINTS.iter().filter(|e| e.path.contains("{id}")) {
        assert!(
            matches!(
                e.guard,
                Guard::Action(_) | Guard::JoinToken | Guard::SfuToken(_) | Guard::PlaybackToken
            ),
            "{} {} decides nothing about the session",
            e.method,
            e.path
        );
    }
    for e in ENDPOINTS.iter().filter(|e| e.writes) {
        assert!(
            matches!(e.guard, Guard::Action(_) | Guard::SfuToken(_)),
            "{} {} writes without a permission",
            e.method,
            e.path
        );
    }
}

#[test]
fn an_org_observer_may_call_no_writing_endpoint_but_join_and_play_archives_as_a_member() {
    for e in ENDPOINTS.iter().filter(|e| e.writes) {
        // Joining appends the observer's own `ParticipantJoined`, and playing an archive their
        // own `ArchiveAccessed`: the writes they make.
        let own_record = e.path == "/v1/sessions/{id}/participants:join"
            || e.path == "/v1/archives/{id}/playback";
        for s in SESSION_ROLES {
            assert_eq!(
                allowed(e, OrgRole::Observer, s),
                own_record && s.is_some(),
                "{} {} as {s:?}",
                e.method,
                e.path
            );
        }
    }
}

#[test]
fn a_reviewer_reads_a_sessions_events_but_never_joins() {
    let events = get("GET", "/v1/sessions/{id}/events");
    let join = get("POST", "/v1/sessions/{id}/participants:join");
    for s in SESSION_ROLES {
        assert!(allowed(events, OrgRole::Reviewer, s), "{s:?}");
        assert!(!allowed(join, OrgRole::Reviewer, s), "{s:?}");
    }
    assert!(!allowed(events, OrgRole::Surgeon, Some(SessionRole::Host)));
}

#[test]
fn only_admins_reviewers_and_members_see_that_a_session_exists() {
    assert!(!can_see_session(OrgRole::Surgeon, None));
    assert!(!can_see_session(OrgRole::Observer, None));
    assert!(can_see_session(OrgRole::Reviewer, None));
    assert!(can_see_session(OrgRole::Admin, None));
    assert!(can_see_session(
        OrgRole::Observer,
        Some(SessionRole::Observer)
    ));
    assert!(can_see_session(
        OrgRole::Surgeon,
        Some(SessionRole::Surgeon)
    ));
}

#[test]
fn the_markdown_table_has_a_row_per_endpoint_phrased_like_the_permission_table() {
    let md = markdown_table();
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), ENDPOINTS.len(), "{md}");
    for row in [
        "| `POST /v1/auth/login` | anyone |",
        "| `GET /v1/sessions` | any signed-in user |",
        "| `PATCH /v1/sessions/{id}/layout` | admin; surgeon as session host/surgeon |",
        "| `GET /v1/audit` | admin; reviewer |",
        "| `POST /v1/sessions/{id}/recordings:start` | admin; surgeon as session host/surgeon |",
        "| `PATCH /v1/archives/{id}` | admin |",
    ] {
        assert!(md.contains(row), "{row} missing from\n{md}");
    }
    assert!(md.contains("404"), "says who gets 404: {md}");
}
