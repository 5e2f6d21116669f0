//! The OWASP API Security Top 10 (2023), one test (or more) per applicable item, named after
//! it; and the issue-19 findings on names, joins and write limits, each named after the
//! finding.
//!
//! Items that do not apply here:
//! - API7 (server-side request forgery): no endpoint fetches a URL or address a client gives;
//!   the only outgoing requests go to the configured object store and TURN/STUN servers, from
//!   settings, never from a request.
//! - API10 (unsafe consumption of APIs): the server consumes no third-party API's answers;
//!   what it reads back (the object store's objects) it wrote itself, by keys it made.

mod authorization;
mod consumption;
mod names;

use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use crate::api::spawn::{Answer, TestApp};

/// Every operation of the served OpenAPI document: (method, path template, operation).
async fn documented_operations(app: &TestApp) -> Vec<(Method, String, Value)> {
    let doc = app.call(Method::GET, "/v1/openapi.json", None, None).await;
    doc.assert_status(200);
    let mut operations = Vec::new();
    for (path, item) in doc.body["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let method = match method.as_str() {
                "get" => Method::GET,
                "post" => Method::POST,
                "put" => Method::PUT,
                "patch" => Method::PATCH,
                "delete" => Method::DELETE,
                _ => continue,
            };
            operations.push((method, path.clone(), operation.clone()));
        }
    }
    operations
}

/// Whether an operation needs no credentials at all (`security: [{}]`).
fn is_public(operation: &Value) -> bool {
    operation["security"].as_array().is_some_and(|s| {
        s.iter()
            .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
    })
}

/// Whether an operation takes the SFU token of a join.
fn takes_sfu_token(operation: &Value) -> bool {
    operation["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.get("sfu_token").is_some()))
}

/// A concrete path for a template: `{id}` is `session` under `/v1/sessions`, else a fresh id.
fn concrete(template: &str, session: Uuid, user: Uuid) -> String {
    let id = if template.starts_with("/v1/sessions/") {
        session
    } else if template.starts_with("/v1/users/") {
        user
    } else {
        Uuid::now_v7()
    };
    template
        .replace("{id}", &id.to_string())
        .replace("{user_id}", &user.to_string())
        .replace("{resource_id}", &Uuid::now_v7().to_string())
        .replace("{name}", "sessions")
}

/// A request with everything wrong that can be: a truncated JSON body (or a garbage SDP), a
/// query of bad values.
async fn with_a_bad_body(app: &TestApp, method: Method, path: &str, token: &str) -> Answer {
    let query = "?limit=0&min_position=soon&cursor=%ff&at=yesterday&active=maybe";
    let request = app
        .request(method, &format!("{path}{query}"), Some(token))
        .header("content-type", "application/json")
        .body("{\"title\": ");
    Answer::of(request).await
}
