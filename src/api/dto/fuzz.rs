//! Property-based fuzzing of the JSON bodies and query strings the API reads: every request
//! shape behind the API's own extractor settings (its JSON and query error handlers, a body
//! limit), fed any bytes, any JSON, and objects built from the API's field names with values of
//! any type. Each answer is the DTO read (204 here) or a 4xx in the error envelope, never a
//! panic or a 5xx. The handlers behind these shapes, with a database, are schemathesis' part
//! (`.ci/schemathesis.sh`).

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test as atest;
use actix_web::{App, HttpResponse, web};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use super::*;
use crate::api::error::{json_error, query_error};
use crate::api::media::{SubscribeRequest, WhepQuery, WhipQuery};

const LIMIT: usize = 4096;

async fn read() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

/// A route per request body and per query shape, each only reading its DTO.
macro_rules! shapes {
    ($cfg:ident; json: $($body:ty => $bpath:literal),* ; query: $($query:ty => $qpath:literal),*) => {{
        $( $cfg.route($bpath, web::post().to(|_: web::Json<$body>| read())); )*
        $( $cfg.route($qpath, web::get().to(|_: web::Query<$query>| read())); )*
        (vec![$($bpath),*], vec![$($qpath),*])
    }};
}

fn routes(cfg: &mut web::ServiceConfig) -> (Vec<&'static str>, Vec<&'static str>) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(LIMIT)
            .error_handler(json_error),
    )
    .app_data(web::QueryConfig::default().error_handler(query_error));
    shapes!(cfg;
        json:
            LoginRequest => "/login",
            RefreshRequest => "/refresh",
            SetupRequest => "/setup",
            CreateUserRequest => "/users",
            UpdateUserRequest => "/users/patch",
            CreateSessionRequest => "/sessions",
            UpdateSessionRequest => "/sessions/patch",
            PutMemberRequest => "/members",
            JoinRequest => "/join",
            PatchLayoutRequest => "/layout",
            UpdateArchiveRequest => "/archives/patch",
            SubscribeRequest => "/subscribe";
        query:
            PageQuery => "/q/page",
            ListSessionsQuery => "/q/sessions",
            CancelQuery => "/q/cancel",
            ListUsersQuery => "/q/users",
            DirectoryQuery => "/q/directory",
            AuditQuery => "/q/audit",
            StateQuery => "/q/state",
            MediaQuery => "/q/media",
            WhipQuery => "/q/whip",
            WhepQuery => "/q/whep",
            crate::api::ReadYourWrites => "/q/min-position"
    )
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e300f64..1e300).prop_map(|f| json!(f)),
        ".{0,60}".prop_map(Value::String),
        Just(json!("2026-01-01T00:00:00Z")),
        Just(json!("00000000-0000-0000-0000-000000000000")),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The field names the API's bodies and queries use, so objects reach past the first
/// `unknown field` into each field's own parsing.
const FIELDS: [&str; 30] = [
    "username",
    "password",
    "refresh_token",
    "role",
    "display_name",
    "active",
    "title",
    "procedure",
    "scheduled_start",
    "device",
    "base_version",
    "changes",
    "panels",
    "add",
    "remove",
    "slots",
    "retention_until",
    "legal_hold",
    "status",
    "from",
    "to",
    "cursor",
    "limit",
    "reason",
    "session_id",
    "at",
    "kind",
    "source",
    "min_position",
    "x",
];

fn field_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(FIELDS.to_vec()), any_json(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

/// A body: raw bytes, any JSON, or an object of the API's field names; now and then over the
/// limit.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..200),
        3 => any_json().prop_map(|v| v.to_string().into_bytes()),
        6 => field_object().prop_map(|v| v.to_string().into_bytes()),
        1 => Just(vec![b'['; LIMIT + 1]),
    ]
}

/// A query string: pairs of the API's field names and any text, percent-encoded or raw.
fn query() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        ".{0,40}",
        "[0-9-]{0,25}",
        Just("2026-01-01T00:00:00Z".to_owned())
    ];
    prop::collection::vec(
        (prop::sample::select(FIELDS.to_vec()), value, any::<bool>()),
        0..5,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v, raw)| {
                // What an HTTP client can put on the wire: unreserved characters as they
                // are (when `raw`), everything else percent-encoded.
                let v: String = v
                    .chars()
                    .map(|c| {
                        if raw && (c.is_ascii_alphanumeric() || "-._~:+".contains(c)) {
                            c.to_string()
                        } else {
                            c.to_string().bytes().map(|b| format!("%{b:02X}")).collect()
                        }
                    })
                    .collect();
                format!("{k}={v}")
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// A 204, or a 4xx whose body is the error envelope.
async fn check(response: ServiceResponse) -> Result<(), TestCaseError> {
    let status = response.status();
    if status == StatusCode::NO_CONTENT {
        return Ok(());
    }
    prop_assert!(status.is_client_error(), "answered {status}");
    let body = atest::read_body(response).await;
    let envelope: Value = serde_json::from_slice(&body)
        .map_err(|e| TestCaseError::fail(format!("{status} without the JSON envelope: {e}")))?;
    prop_assert!(envelope["error"]["code"].is_string(), "{envelope}");
    prop_assert!(envelope["error"]["message"].is_string(), "{envelope}");
    Ok(())
}

/// Runs `cases` inputs through every shape's route on one test service.
fn run<S: Strategy>(
    cases: u32,
    strategy: S,
    request: impl Fn(&[&'static str], &[&'static str], S::Value) -> atest::TestRequest,
) {
    let rt = actix_web::rt::System::new();
    rt.block_on(async {
        let mut paths = (Vec::new(), Vec::new());
        let app = atest::init_service(App::new().configure(|cfg| paths = routes(cfg))).await;
        let mut runner = TestRunner::new(Config {
            cases,
            ..Config::default()
        });
        let result = runner.run(&strategy, |input| {
            let req = request(&paths.0, &paths.1, input).to_request();
            // The service is polled on this thread; the runner's closure is synchronous.
            futures::executor::block_on(async {
                let response = app
                    .call(req)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("service error: {e}")))?;
                check(response).await
            })
        });
        if let Err(failure) = result {
            panic!("{failure}");
        }
    });
}

#[test]
fn any_json_body_is_read_or_refused_with_a_4xx_envelope() {
    let content_type = prop_oneof![
        6 => Just("application/json"),
        1 => Just("text/plain"),
        1 => Just("application/json; charset=latin1"),
    ];
    run(
        768,
        (any::<prop::sample::Index>(), body(), content_type),
        |json, _, (route, body, content_type)| {
            atest::TestRequest::post()
                .uri(json[route.index(json.len())])
                .insert_header(("content-type", content_type))
                .set_payload(body)
        },
    );
}

#[test]
fn any_query_string_is_read_or_refused_with_a_4xx_envelope() {
    run(
        768,
        (any::<prop::sample::Index>(), query()),
        |_, queries, (route, query)| {
            atest::TestRequest::get()
                .uri(&format!("{}?{query}", queries[route.index(queries.len())]))
        },
    );
}
