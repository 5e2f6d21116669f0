//! The whole endpoint table, row by row: every guarded endpoint called by every kind of caller
//! (organisation role x session membership), over HTTP, each in a session set up so that an
//! allowed call succeeds. Refused writes must be in the audit trail as `AccessDenied`, and every
//! audit read must leave an `AuditTrailRead`.
//!
//! The domain lets every organisation role hold every session role (an organisation observer
//! or reviewer can be added as host), so no combination is skipped: 16 caller kinds on the
//! session endpoints, 4 on the others.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use livesurgery_domain::endpoints::{ENDPOINTS, Endpoint, Guard, can_see_session};
use livesurgery_domain::events::ArchiveStatus;
use livesurgery_domain::permissions::{Action, authorize};
use livesurgery_domain::roles::{OrgRole, SessionRole};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::recorder::{PresigningStore, Recorder};
use super::spawn::{Answer, TestApp, TestUser, spawn_app_playing};
use crate::helpers::all_backends;

const MEMBERSHIPS: [Option<SessionRole>; 4] = [
    None,
    Some(SessionRole::Host),
    Some(SessionRole::Surgeon),
    Some(SessionRole::Observer),
];

/// How many cells run at once (each is a few requests).
const CONCURRENCY: usize = 12;

/// The users of the table: one caller per organisation role, a surgeon who creates (and hosts)
/// every session, and a victim the member endpoints act on.
struct Cast {
    callers: BTreeMap<OrgRole, TestUser>,
    creator: TestUser,
    victim: TestUser,
    /// Appends every session's archive, as the recorder will.
    recorder: Recorder,
}

/// What the table says a caller gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// This 2xx status.
    Allowed(u16),
    /// 403: the caller may see the session (or the endpoint names none) but not do this.
    Forbidden,
    /// 404: the caller may not know that the session exists.
    Hidden,
}

impl Expect {
    fn status(self) -> u16 {
        match self {
            Expect::Allowed(status) => status,
            Expect::Forbidden => 403,
            Expect::Hidden => 404,
        }
    }
}

/// One call of the table and what it got.
struct Cell {
    endpoint: &'static Endpoint,
    org: OrgRole,
    membership: Option<SessionRole>,
    expected: Expect,
    caller: Uuid,
    session: Option<Uuid>,
    request_id: Uuid,
    answer: Answer,
}

fn action_of(endpoint: &Endpoint) -> Option<Action> {
    match endpoint.guard {
        Guard::Action(action) => Some(action),
        Guard::Public
        | Guard::Authenticated
        | Guard::JoinToken
        | Guard::SfuToken(_)
        | Guard::PlaybackToken
        | Guard::SetupToken => None,
    }
}

/// An endpoint on one session: the session's own, or one of its archives'.
fn is_session_endpoint(endpoint: &Endpoint) -> bool {
    endpoint.path.starts_with("/v1/sessions/{id}") || is_archive_endpoint(endpoint)
}

fn is_archive_endpoint(endpoint: &Endpoint) -> bool {
    endpoint.path.starts_with("/v1/archives/{id}")
}

fn is_audit_read(endpoint: &Endpoint) -> bool {
    matches!(
        action_of(endpoint),
        Some(Action::ReadAuditTrail | Action::ReplaySession | Action::VerifyAudit)
    )
}

/// The status an allowed call answers.
fn success_status(endpoint: &Endpoint) -> u16 {
    match (endpoint.method, endpoint.path) {
        ("POST", "/v1/users" | "/v1/sessions" | "/v1/sessions/{id}/participants:join") => 201,
        ("DELETE", "/v1/sessions/{id}/members/{user_id}") => 204,
        ("POST", "/v1/admin/projections/{name}:rebuild") => 202,
        _ => 200,
    }
}

/// The expectation, from the domain's own tables (the spot checks below pin the important cells
/// with literal values, so this is not only the server checked against itself).
fn expected(endpoint: &Endpoint, org: OrgRole, membership: Option<SessionRole>) -> Expect {
    let action = action_of(endpoint).expect("only guarded endpoints are in the table");
    if is_session_endpoint(endpoint) && !can_see_session(org, membership) {
        return Expect::Hidden;
    }
    if authorize(org, membership, action).is_err() {
        return Expect::Forbidden;
    }
    // The session aggregate's own rule: joining requires membership, admins included. An admin
    // sees the session, so this is a 403 (as the OpenAPI document says), not a 404.
    if action == Action::JoinParticipant && membership.is_none() {
        return Expect::Forbidden;
    }
    Expect::Allowed(success_status(endpoint))
}

/// The state a call needs to be valid when allowed: a session of its own (writes change it),
/// live (`:end`, `participants:join`, `recordings:…`), with the victim as a member (`DELETE`
/// member), being recorded (`recordings:stop`). Every session has a playable archive.
struct Needs {
    own_session: bool,
    live: bool,
    victim_member: bool,
    recording: bool,
}

fn needs(endpoint: &Endpoint) -> Needs {
    let path = endpoint.path;
    Needs {
        own_session: endpoint.writes,
        live: path.ends_with(":end")
            || path.ends_with("participants:join")
            || path.contains("/recordings:"),
        victim_member: endpoint.method == "DELETE" && path.ends_with("{user_id}"),
        recording: path.ends_with("recordings:stop"),
    }
}

/// A session of the table and its archive.
#[derive(Debug, Clone, Copy)]
struct Setup {
    session: Uuid,
    archive: Uuid,
}

/// The concrete request for a cell: the route filled in, and a body that is valid.
fn request_for(
    endpoint: &Endpoint,
    setup: Option<Setup>,
    cast: &Cast,
    org: OrgRole,
) -> (Method, String, Option<Value>) {
    let method = Method::from_bytes(endpoint.method.as_bytes()).expect("an HTTP method");
    let mut path = endpoint
        .path
        .replace("{user_id}", &cast.victim.id.to_string())
        .replace("{name}", "presence");
    if let Some(setup) = setup {
        let id = match is_archive_endpoint(endpoint) {
            true => setup.archive,
            false => setup.session,
        };
        path = path.replace("{id}", &id.to_string());
    } else {
        path = path.replace("{id}", &cast.victim.id.to_string());
    }
    let body = match (endpoint.method, endpoint.path) {
        ("POST", "/v1/users") => Some(json!({
            "username": format!("made-by-{org}"),
            "password": super::spawn::PASSWORD,
            "role": "observer",
            "display_name": "Made in the RBAC test",
        })),
        ("PATCH", "/v1/users/{id}") => Some(json!({"display_name": format!("Renamed by {org}")})),
        ("POST", "/v1/sessions") => Some(json!({"title": "RBAC"})),
        ("PATCH", "/v1/sessions/{id}") => Some(json!({"title": "Renamed"})),
        ("PUT", "/v1/sessions/{id}/members/{user_id}") => Some(json!({"role": "observer"})),
        ("PATCH", "/v1/sessions/{id}/layout") => Some(json!({
            "base_version": 1,
            "changes": {"panels": {"p1": {"x": 3}}},
        })),
        ("PATCH", "/v1/archives/{id}") => Some(json!({"legal_hold": true})),
        ("GET" | "DELETE", _)
        | ("POST", "/v1/sessions/{id}:start")
        | ("POST", "/v1/sessions/{id}:end")
        | ("POST", "/v1/sessions/{id}/recordings:start")
        | ("POST", "/v1/sessions/{id}/recordings:stop")
        | ("POST", "/v1/sessions/{id}/participants:join")
        | ("POST", "/v1/sessions/{id}/audit:verify")
        | ("POST", "/v1/admin/projections/{name}:rebuild") => None,
        (m, p) => panic!("the RBAC test does not know how to call {m} {p}; teach request_for"),
    };
    (method, path, body)
}

/// A scheduled session created by the creator, with the caller (and the victim) as members as
/// the cell needs, started when it must be live, recorded when it must be, and with a playable
/// archive (appended as the recorder will), in the read models before the cell runs.
async fn session_for(
    app: &TestApp,
    cast: &Cast,
    caller: &TestUser,
    membership: Option<SessionRole>,
    needs: &Needs,
) -> Setup {
    let session = app.create_session(&cast.creator.token).await;
    if let Some(role) = membership {
        app.add_member(session, caller.id, role.as_str()).await;
    }
    if needs.victim_member {
        app.add_member(session, cast.victim.id, "observer").await;
    }
    if needs.live {
        app.start(session).await;
    }
    if needs.recording {
        let path = format!("/v1/sessions/{session}/recordings:start");
        app.call(Method::POST, &path, Some(&app.admin_token), None)
            .await
            .assert_status(200);
    }
    let (archive, position) = cast
        .recorder
        .archive(session, Uuid::now_v7(), "endoscope", ArchiveStatus::Ready)
        .await;
    app.wait_until_projected(position).await;
    Setup { session, archive }
}

async fn run_cell(
    app: &TestApp,
    cast: &Cast,
    shared: &HashMap<(OrgRole, Option<SessionRole>), Setup>,
    endpoint: &'static Endpoint,
    org: OrgRole,
    membership: Option<SessionRole>,
) -> Cell {
    let caller = &cast.callers[&org];
    let needs = needs(endpoint);
    let setup = if !is_session_endpoint(endpoint) {
        None
    } else if needs.own_session {
        Some(session_for(app, cast, caller, membership, &needs).await)
    } else {
        Some(shared[&(org, membership)])
    };
    let session = setup.map(|s| s.session);
    let (method, path, body) = request_for(endpoint, setup, cast, org);
    let request_id = Uuid::now_v7();
    let mut request = app
        .request(method, &path, Some(&caller.token))
        .header("x-request-id", request_id.to_string());
    if let Some(body) = body {
        request = request.json(&body);
    }
    Cell {
        endpoint,
        org,
        membership,
        expected: expected(endpoint, org, membership),
        caller: caller.id,
        session,
        request_id,
        answer: Answer::of(request).await,
    }
}

fn column(org: OrgRole, membership: Option<SessionRole>) -> String {
    let o = &org.as_str()[..1];
    let m = membership.map_or("-", |r| &r.as_str()[..1]);
    format!("{o}{m}")
}

/// The results as a compact table: a row per endpoint, a column per caller kind; `!` marks a
/// status the table did not expect.
fn print_table(backend: &str, cells: &[Cell]) {
    let kinds: Vec<(OrgRole, Option<SessionRole>)> = OrgRole::ALL
        .iter()
        .flat_map(|o| MEMBERSHIPS.iter().map(move |m| (*o, *m)))
        .collect();
    let mut out = format!(
        "[{backend}] RBAC table: columns = org role (a)dmin/(s)urgeon/(o)bserver/(r)eviewer x \
         session role -(none)/(h)ost/(s)urgeon/(o)bserver\n{:<46}",
        ""
    );
    for (o, m) in &kinds {
        out.push_str(&format!(" {:>4}", column(*o, *m)));
    }
    for endpoint in ENDPOINTS.iter().filter(|e| action_of(e).is_some()) {
        out.push_str(&format!(
            "\n{:<46}",
            format!("{} {}", endpoint.method, endpoint.path)
        ));
        for (o, m) in &kinds {
            let cell = cells
                .iter()
                .find(|c| c.endpoint == endpoint && c.org == *o && c.membership == *m);
            let text = match cell {
                Some(c) if c.answer.status == c.expected.status() => c.answer.status.to_string(),
                Some(c) => format!("!{}", c.answer.status),
                None => String::new(),
            };
            out.push_str(&format!(" {text:>4}"));
        }
    }
    println!("{out}");
}

/// Spot checks with literal expectations: the cells that matter most, written out by hand.
const SPOT_CHECKS: &[(&str, &str, OrgRole, Option<SessionRole>, u16)] = {
    use OrgRole::{Admin, Observer, Reviewer, Surgeon};
    use SessionRole as S;
    &[
        (
            "PATCH",
            "/v1/sessions/{id}/layout",
            Observer,
            Some(S::Host),
            403,
        ),
        (
            "PATCH",
            "/v1/sessions/{id}/layout",
            Surgeon,
            Some(S::Observer),
            403,
        ),
        (
            "PATCH",
            "/v1/sessions/{id}/layout",
            Surgeon,
            Some(S::Surgeon),
            200,
        ),
        ("GET", "/v1/sessions/{id}", Surgeon, None, 404),
        ("GET", "/v1/sessions/{id}/layout", Observer, None, 404),
        ("PATCH", "/v1/sessions/{id}", Surgeon, None, 404),
        ("PATCH", "/v1/sessions/{id}", Reviewer, None, 403),
        ("GET", "/v1/sessions/{id}/events", Reviewer, None, 200),
        ("GET", "/v1/sessions/{id}/events", Admin, None, 200),
        (
            "GET",
            "/v1/sessions/{id}/events",
            Surgeon,
            Some(S::Host),
            403,
        ),
        (
            "GET",
            "/v1/sessions/{id}/events",
            Surgeon,
            Some(S::Surgeon),
            403,
        ),
        (
            "POST",
            "/v1/sessions/{id}/participants:join",
            Reviewer,
            None,
            403,
        ),
        (
            "POST",
            "/v1/sessions/{id}/participants:join",
            Reviewer,
            Some(S::Host),
            403,
        ),
        (
            "POST",
            "/v1/sessions/{id}/participants:join",
            Observer,
            Some(S::Observer),
            201,
        ),
        (
            "POST",
            "/v1/sessions/{id}/participants:join",
            Admin,
            None,
            403,
        ),
        (
            "POST",
            "/v1/sessions/{id}:start",
            Surgeon,
            Some(S::Surgeon),
            403,
        ),
        (
            "POST",
            "/v1/sessions/{id}:start",
            Surgeon,
            Some(S::Host),
            200,
        ),
        (
            "DELETE",
            "/v1/sessions/{id}/members/{user_id}",
            Surgeon,
            Some(S::Surgeon),
            403,
        ),
        ("POST", "/v1/sessions", Observer, None, 403),
        ("POST", "/v1/sessions", Surgeon, None, 201),
        ("GET", "/v1/users", Surgeon, None, 403),
        ("GET", "/v1/audit", Reviewer, None, 200),
        (
            "POST",
            "/v1/sessions/{id}/recordings:start",
            Surgeon,
            Some(S::Surgeon),
            200,
        ),
        (
            "POST",
            "/v1/sessions/{id}/recordings:start",
            Observer,
            Some(S::Host),
            403,
        ),
        (
            "POST",
            "/v1/sessions/{id}/recordings:stop",
            Surgeon,
            Some(S::Observer),
            403,
        ),
        (
            "POST",
            "/v1/sessions/{id}/recordings:stop",
            Surgeon,
            None,
            404,
        ),
        ("GET", "/v1/archives/{id}", Reviewer, None, 200),
        ("GET", "/v1/archives/{id}", Surgeon, None, 404),
        (
            "GET",
            "/v1/archives/{id}/playback",
            Observer,
            Some(S::Observer),
            200,
        ),
        ("GET", "/v1/archives/{id}/playback", Observer, None, 404),
        ("PATCH", "/v1/archives/{id}", Surgeon, Some(S::Host), 403),
        ("PATCH", "/v1/archives/{id}", Admin, None, 200),
        (
            "POST",
            "/v1/admin/projections/{name}:rebuild",
            Surgeon,
            None,
            403,
        ),
    ]
};

/// The audit events of one type, by correlation id (= the request id the cells sent).
async fn events_by_request(app: &TestApp, event_type: &str) -> HashMap<String, Value> {
    app.all_pages(&format!("/v1/audit?type={event_type}"), &app.admin_token)
        .await
        .into_iter()
        .map(|e| {
            (
                e["correlation_id"].as_str().unwrap_or_default().to_owned(),
                e,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_guarded_endpoint_answers_every_kind_of_caller_as_the_endpoint_table_says() {
    for db in all_backends().await {
        // Archives play from presigned URLs: an allowed playback answers 200.
        let app = spawn_app_playing(db, |_| {}, Some(Arc::new(PresigningStore))).await;
        let started = std::time::Instant::now();
        let roles = [
            "admin", "surgeon", "observer", "reviewer", "surgeon", "surgeon",
        ];
        let mut users = futures::future::join_all(roles.map(|r| app.create_user(r))).await;
        let (victim, creator) = (users.pop().unwrap(), users.pop().unwrap());
        let cast = Cast {
            callers: OrgRole::ALL.into_iter().zip(users).collect(),
            creator,
            victim,
            recorder: Recorder::open(&app).await,
        };

        // One session per caller kind for the reads; every write gets a session of its own.
        let kinds: Vec<(OrgRole, Option<SessionRole>)> = OrgRole::ALL
            .iter()
            .flat_map(|o| MEMBERSHIPS.iter().map(move |m| (*o, *m)))
            .collect();
        let read_needs = Needs {
            own_session: false,
            live: false,
            victim_member: false,
            recording: false,
        };
        let shared: HashMap<_, _> = futures::stream::iter(kinds.iter().copied())
            .map(|(org, membership)| {
                let (app, cast, read_needs) = (&app, &cast, &read_needs);
                async move {
                    let caller = &cast.callers[&org];
                    let session = session_for(app, cast, caller, membership, read_needs).await;
                    ((org, membership), session)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;

        let guarded: Vec<&'static Endpoint> = ENDPOINTS
            .iter()
            .filter(|e| action_of(e).is_some())
            .collect();
        let (session_endpoints, org_endpoints): (Vec<_>, Vec<_>) =
            guarded.into_iter().partition(|e| is_session_endpoint(e));
        let session_cells = session_endpoints
            .iter()
            .flat_map(|e| kinds.iter().map(move |(o, m)| (*e, *o, *m)));
        // The organisation endpoints after the session ones: one of them starts a rebuild.
        let org_cells = org_endpoints
            .iter()
            .flat_map(|e| OrgRole::ALL.iter().map(move |o| (*e, *o, None)));
        let mut cells = Vec::new();
        for batch in [session_cells.collect::<Vec<_>>(), org_cells.collect()] {
            let done: Vec<Cell> = futures::stream::iter(batch)
                .map(|(e, o, m)| run_cell(&app, &cast, &shared, e, o, m))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            cells.extend(done);
        }
        app.wait_for_rebuild("presence").await;
        print_table(app.backend, &cells);
        println!(
            "[{}] {} cells in {:.1} s",
            app.backend,
            cells.len(),
            started.elapsed().as_secs_f64()
        );

        let wrong: Vec<String> = cells
            .iter()
            .filter(|c| c.answer.status != c.expected.status())
            .map(|c| {
                format!(
                    "{} {} as {}: expected {}, got {} {}",
                    c.endpoint.method,
                    c.endpoint.path,
                    column(c.org, c.membership),
                    c.expected.status(),
                    c.answer.status,
                    c.answer.text
                )
            })
            .collect();
        assert!(wrong.is_empty(), "[{}] {}", app.backend, wrong.join("\n"));
        for cell in cells.iter().filter(|c| c.answer.status >= 400) {
            let code = match (cell.answer.status, action_of(cell.endpoint)) {
                (404, _) => "not_found",
                (_, Some(Action::JoinParticipant))
                    if cell.org == OrgRole::Admin && cell.membership.is_none() =>
                {
                    "not_a_member"
                }
                _ => "forbidden",
            };
            cell.answer.assert_error(cell.answer.status, code);
        }

        for (method, path, org, membership, status) in SPOT_CHECKS {
            let cell = cells
                .iter()
                .find(|c| {
                    c.endpoint.method == *method
                        && c.endpoint.path == *path
                        && c.org == *org
                        && c.membership == *membership
                })
                .unwrap_or_else(|| panic!("no cell {method} {path} {org} {membership:?}"));
            assert_eq!(
                cell.answer.status,
                *status,
                "[{}] spot check {method} {path} as {}: {}",
                app.backend,
                column(*org, *membership),
                cell.answer.text
            );
        }

        let denied = events_by_request(&app, "AccessDenied").await;
        for cell in &cells {
            let event = denied.get(&cell.request_id.to_string());
            let refused_write = cell.endpoint.writes && cell.answer.status >= 400;
            let what = format!(
                "[{}] {} {} as {}",
                app.backend,
                cell.endpoint.method,
                cell.endpoint.path,
                column(cell.org, cell.membership)
            );
            match event {
                None if refused_write => panic!("{what}: a refused write, not in the audit trail"),
                None => {}
                Some(event) if cell.answer.status < 300 => {
                    panic!("{what}: allowed, yet recorded as denied: {event}")
                }
                Some(event) => {
                    assert_eq!(event["outcome"], "denied", "{what}: {event}");
                    assert_eq!(event["actor_user_id"], cell.caller.to_string(), "{what}");
                    let session = cell.session.map_or(Value::Null, |s| s.to_string().into());
                    assert_eq!(event["session_id"], session, "{what}: {event}");
                }
            }
        }

        let reads = events_by_request(&app, "AuditTrailRead").await;
        for cell in cells
            .iter()
            .filter(|c| is_audit_read(c.endpoint) && c.answer.status < 300)
        {
            let event = reads.get(&cell.request_id.to_string()).unwrap_or_else(|| {
                panic!(
                    "[{}] the audit read {} {} as {} left no AuditTrailRead",
                    app.backend,
                    cell.endpoint.method,
                    cell.endpoint.path,
                    column(cell.org, cell.membership)
                )
            });
            assert_eq!(event["actor_user_id"], cell.caller.to_string(), "{event}");
            assert_eq!(event["outcome"], "ok", "{event}");
            assert_eq!(event["position"], cell.answer.position(), "{event}");
        }
    }
}
