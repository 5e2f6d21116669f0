//! THE endpoint table: every REST endpoint and the one guard it requires. The API layer decides
//! 401, 403 and 404 from it (and chooses the status codes); the README renders
//! [`markdown_table`].

use crate::permissions::{Action, allowed_for, authorize};
use crate::roles::{OrgRole, SessionRole};

/// What an endpoint requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// No token needed.
    Public,
    /// Any signed-in, active user.
    Authenticated,
    /// A join token of the session (from `participants:join`) instead of an access token.
    JoinToken,
    /// The session's SFU token (from `participants:join`), whose member may (still) do this
    /// action: the WHIP/WHEP signalling.
    SfuToken(Action),
    /// The caller must be allowed this action (by [`authorize`]).
    Action(Action),
    /// A short-lived playback token of one archive (in the URL that `GET
    /// /v1/archives/{id}/playback` hands out) instead of an access token: a `<video>` element
    /// or ffprobe sends no other header.
    PlaybackToken,
    /// The one-time setup token of the link printed at first start, while no admin exists
    /// (creating the first admin; a refusal appends nothing: there is no user to name).
    SetupToken,
}

/// One REST endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// `"GET"`, `"POST"`, `"PUT"`, `"PATCH"` or `"DELETE"`.
    pub method: &'static str,
    /// The route template (`"/v1/sessions/{id}:start"`).
    pub path: &'static str,
    pub guard: Guard,
    /// True when the endpoint appends events (a denied call is then an audit event).
    pub writes: bool,
}

const fn public(method: &'static str, path: &'static str) -> Endpoint {
    Endpoint {
        method,
        path,
        guard: Guard::Public,
        writes: false,
    }
}

const fn signed_in(method: &'static str, path: &'static str) -> Endpoint {
    Endpoint {
        method,
        path,
        guard: Guard::Authenticated,
        writes: false,
    }
}

const fn read(method: &'static str, path: &'static str, action: Action) -> Endpoint {
    Endpoint {
        method,
        path,
        guard: Guard::Action(action),
        writes: false,
    }
}

const fn sfu(method: &'static str, path: &'static str, action: Action, writes: bool) -> Endpoint {
    Endpoint {
        method,
        path,
        guard: Guard::SfuToken(action),
        writes,
    }
}

const fn write(method: &'static str, path: &'static str, action: Action) -> Endpoint {
    Endpoint {
        method,
        path,
        guard: Guard::Action(action),
        writes: true,
    }
}

/// Every endpoint of the API, grouped by resource.
pub const ENDPOINTS: &[Endpoint] = &[
    public("POST", "/v1/auth/login"),
    public("POST", "/v1/auth/refresh"),
    public("POST", "/v1/auth/logout"),
    public("GET", "/v1/setup"),
    Endpoint {
        method: "POST",
        path: "/v1/setup",
        guard: Guard::SetupToken,
        writes: false,
    },
    signed_in("GET", "/v1/users/me"),
    signed_in("GET", "/v1/users/directory"),
    write("POST", "/v1/users", Action::RegisterUser),
    read("GET", "/v1/users", Action::ManageUsers),
    write("PATCH", "/v1/users/{id}", Action::ManageUsers),
    write("POST", "/v1/sessions", Action::CreateSession),
    signed_in("GET", "/v1/sessions"),
    read("GET", "/v1/sessions/{id}", Action::ReadSession),
    write("PATCH", "/v1/sessions/{id}", Action::ChangeSessionDetails),
    write("POST", "/v1/sessions/{id}:start", Action::StartSession),
    write("POST", "/v1/sessions/{id}:end", Action::EndSession),
    write("DELETE", "/v1/sessions/{id}", Action::CancelSession),
    read("GET", "/v1/sessions/{id}/members", Action::ReadSession),
    write(
        "PUT",
        "/v1/sessions/{id}/members/{user_id}",
        Action::AddMember,
    ),
    write(
        "DELETE",
        "/v1/sessions/{id}/members/{user_id}",
        Action::RemoveMember,
    ),
    write(
        "POST",
        "/v1/sessions/{id}/participants:join",
        Action::JoinParticipant,
    ),
    read("GET", "/v1/sessions/{id}/participants", Action::ReadSession),
    read("GET", "/v1/sessions/{id}/layout", Action::ReadSession),
    read(
        "GET",
        "/v1/sessions/{id}/layout/versions",
        Action::ReadSession,
    ),
    write("PATCH", "/v1/sessions/{id}/layout", Action::UpdateLayout),
    read("GET", "/v1/sessions/{id}/events", Action::ReadAuditTrail),
    read("GET", "/v1/audit", Action::ReadAuditTrail),
    // An export of the whole trail is the largest read there is: a refused one is an audit
    // event (as an archive's playback is), so it is marked a write.
    write("GET", "/v1/audit/export", Action::ReadAuditTrail),
    read("GET", "/v1/sessions/{id}/state", Action::ReplaySession),
    read(
        "POST",
        "/v1/sessions/{id}/audit:verify",
        Action::VerifyAudit,
    ),
    // The operations screens are the projections' admins'.
    read("GET", "/v1/admin/health", Action::RebuildProjections),
    read("GET", "/v1/admin/projections", Action::RebuildProjections),
    read(
        "POST",
        "/v1/admin/projections/{name}:rebuild",
        Action::RebuildProjections,
    ),
    // Publishing refused is an audit event; the other media calls record their own events.
    sfu("POST", "/v1/sessions/{id}/whip", Action::PublishMedia, true),
    sfu(
        "DELETE",
        "/v1/sessions/{id}/whip/{resource_id}",
        Action::PublishMedia,
        false,
    ),
    sfu(
        "POST",
        "/v1/sessions/{id}/whep",
        Action::SubscribeMedia,
        false,
    ),
    sfu(
        "DELETE",
        "/v1/sessions/{id}/whep/{resource_id}",
        Action::SubscribeMedia,
        false,
    ),
    sfu(
        "POST",
        "/v1/sessions/{id}/media:subscribe",
        Action::SubscribeMedia,
        false,
    ),
    read("GET", "/v1/sessions/{id}/media", Action::ReadSession),
    write(
        "POST",
        "/v1/sessions/{id}/recordings:start",
        Action::StartRecording,
    ),
    write(
        "POST",
        "/v1/sessions/{id}/recordings:stop",
        Action::StopRecording,
    ),
    read("GET", "/v1/sessions/{id}/archives", Action::ReadArchives),
    // An archive's access follows its session's. Handing out a playback URL appends
    // `ArchiveAccessed`, so it is a write: a refusal is an audit event.
    read("GET", "/v1/archives/{id}", Action::ReadArchives),
    write("GET", "/v1/archives/{id}/playback", Action::ReadArchives),
    write("PATCH", "/v1/archives/{id}", Action::ManageArchives),
    Endpoint {
        method: "GET",
        path: "/v1/archives/{id}/media",
        guard: Guard::PlaybackToken,
        writes: false,
    },
    Endpoint {
        method: "GET",
        path: "/v1/sessions/{id}/ws",
        guard: Guard::JoinToken,
        writes: false,
    },
    public("GET", "/healthz"),
    public("GET", "/metrics"),
    public("GET", "/readyz"),
    public("GET", "/v1/openapi.json"),
];

/// What `GET /v1/users/directory?include_deactivated=true` requires beyond being signed in:
/// deactivated users' names are for those who read the audit trail, whose old events name them.
pub const DIRECTORY_WITH_DEACTIVATED: Action = Action::ReadAuditTrail;

/// Looks an endpoint up by method and route template (not a concrete URL).
pub fn endpoint(method: &str, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS
        .iter()
        .find(|e| e.method == method && e.path == path)
}

/// Whether a caller with these roles may know that a session exists at all (else the API
/// answers 404): admins and reviewers see every session, members see theirs.
pub fn can_see_session(org_role: OrgRole, session_role: Option<SessionRole>) -> bool {
    authorize(org_role, session_role, Action::ReadSession).is_ok()
}

/// The endpoint table as markdown, one row per endpoint listing who may call it (for the
/// README).
pub fn markdown_table() -> String {
    let mut out = String::from("| endpoint | allowed for |\n| --- | --- |\n");
    for e in ENDPOINTS {
        let who = match e.guard {
            Guard::Public => "anyone".to_owned(),
            Guard::Authenticated => "any signed-in user".to_owned(),
            Guard::JoinToken => {
                "holder of the session's WS token from `participants:join`".to_owned()
            }
            Guard::PlaybackToken => {
                "holder of the archive's playback URL from `GET /v1/archives/{id}/playback`"
                    .to_owned()
            }
            Guard::SetupToken => {
                "holder of the one-time setup link printed at first start, while no admin exists"
                    .to_owned()
            }
            Guard::SfuToken(action) => format!(
                "holder of the session's SFU token from `participants:join`, as {}",
                allowed_for(action)
            ),
            Guard::Action(action) => allowed_for(action),
        };
        out.push_str(&format!("| `{} {}` | {} |\n", e.method, e.path, who));
    }
    out.push_str(
        "\nWhere an action is on one session (the rows allowed \"as session ...\"), a caller who may not\n\
         see that session (not a member, neither admin nor reviewer) gets 404 instead of 403: they do\n\
         not learn that it exists. An archive (`/v1/archives/{id}`) is on the session it was recorded\n\
         in.\n",
    );
    out.push_str(&format!(
        "\n`GET /v1/users/directory?include_deactivated=true` (deactivated users too, for naming them in\n\
         the audit trail) is allowed for {}; others get 403.\n",
        allowed_for(DIRECTORY_WITH_DEACTIVATED)
    ));
    out
}
