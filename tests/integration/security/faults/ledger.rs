//! The client-side ledger of acknowledgements: every write the server answered with success,
//! with the log position it named, checked against the log read straight from the database.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use livesurgery::store;
use livesurgery_domain::envelope::RecordedEvent;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::spawn::{Answer, TestApp};

/// One acknowledged write: where the server said it went, and what must be there.
#[derive(Debug, Clone)]
pub struct Acked {
    pub position: u64,
    pub stream: String,
    pub event_type: &'static str,
    /// Who acknowledged it (for failure messages): `rest`, `ws`.
    pub via: &'static str,
}

/// Every acknowledgement seen, shared by the load's tasks.
#[derive(Clone, Default)]
pub struct Ledger {
    acked: Arc<Mutex<Vec<Acked>>>,
}

impl Ledger {
    /// Records one acknowledgement.
    pub fn record(&self, acked: Acked) {
        self.acked.lock().expect("the ledger").push(acked);
    }

    /// How many acknowledgements were recorded.
    pub fn len(&self) -> usize {
        self.acked.lock().expect("the ledger").len()
    }

    /// Asserts that every acknowledged write is in `log`: the event at its position (the last
    /// of the write: `X-Position`, or the `ack`'s position) belongs to its stream, and the stream
    /// holds an event of its type at or before that position.
    #[track_caller]
    pub fn assert_all_in(&self, log: &BTreeMap<u64, RecordedEvent>, context: &str) {
        let acked = self.acked.lock().expect("the ledger").clone();
        let mut by_stream: BTreeMap<&str, Vec<&RecordedEvent>> = BTreeMap::new();
        for event in log.values() {
            by_stream
                .entry(event.stream.as_str())
                .or_default()
                .push(event);
        }
        let kept = |a: &Acked| {
            log.get(&a.position).is_some_and(|e| e.stream == a.stream)
                && by_stream.get(a.stream.as_str()).is_some_and(|events| {
                    events
                        .iter()
                        .any(|e| e.position <= a.position && e.event_type == a.event_type)
                })
        };
        let lost: Vec<String> = acked
            .iter()
            .filter(|a| !kept(a))
            .map(|a| {
                format!(
                    "{} {} at {} in {}: the log has {:?} there",
                    a.via,
                    a.event_type,
                    a.position,
                    a.stream,
                    log.get(&a.position)
                        .map(|e| (e.stream.as_str(), e.event_type.as_str()))
                )
            })
            .collect();
        assert!(
            lost.is_empty(),
            "{context}: {} of {} acknowledged writes lost: {lost:#?}",
            lost.len(),
            acked.len()
        );
    }
}

/// The whole log, read straight from the database (a separate connection, as an auditor's).
pub async fn read_log(database_url: &str) -> BTreeMap<u64, RecordedEvent> {
    let store = store::open(database_url).await.expect("opening the log");
    let mut log = BTreeMap::new();
    let mut after = 0;
    loop {
        let page = store.read_all(after, 1000).await.expect("reading the log");
        let Some(last) = page.last() else { break };
        after = last.position;
        log.extend(page.into_iter().map(|e| (e.position, e)));
    }
    store.close().await;
    log
}

/// Creates a session over REST; records it in the ledger when the server answers 201.
/// Connection errors and 5xx (a server being killed, a database away) are not acknowledgements.
pub async fn create_session(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    ledger: &Ledger,
    title: &str,
) -> bool {
    let request = client
        .post(format!("{base}/v1/sessions"))
        .bearer_auth(token)
        .json(&json!({"title": title}))
        .timeout(std::time::Duration::from_secs(10));
    let Ok(response) = request.send().await else {
        return false;
    };
    if response.status().as_u16() != 201 {
        return false;
    }
    let position = response
        .headers()
        .get("x-position")
        .and_then(|p| p.to_str().ok())
        .and_then(|p| p.parse().ok());
    // A 201 whose body cannot be read completely was not received: not an acknowledgement.
    let Ok(body) = response.json::<Value>().await else {
        return false;
    };
    let id: Uuid = body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("a created session has an id");
    ledger.record(Acked {
        position: position.expect("a write answers its X-Position"),
        stream: format!("session-{id}"),
        event_type: "SessionCreated",
        via: "rest",
    });
    true
}

/// What the read models serve through the API, read after the log head: every user, every
/// session with its members, and for `live` its layout, layout history, participants and audit
/// trail up to `up_to` (reading an audit trail is itself recorded, after it). Two snapshots are
/// equal when the read models hold the same rows.
pub async fn read_model_snapshot(app: &TestApp, live: Uuid, up_to: u64) -> Value {
    let token = &app.admin_token;
    let users = app.all_pages("/v1/users", token).await;
    let sessions = app.all_pages("/v1/sessions", token).await;
    let mut details = BTreeMap::new();
    for session in &sessions {
        let id = session["id"].as_str().expect("a session id");
        let detail =
            Answer::of(app.request(Method::GET, &format!("/v1/sessions/{id}"), Some(token))).await;
        detail.assert_status(200);
        let members = app
            .all_pages(&format!("/v1/sessions/{id}/members"), token)
            .await;
        details.insert(
            id.to_owned(),
            json!({"detail": detail.body, "members": members}),
        );
    }
    let layout = app.get(&format!("/v1/sessions/{live}/layout"), token).await;
    layout.assert_status(200);
    json!({
        "users": users,
        "sessions": sessions,
        "details": details,
        "layout": layout.body,
        "layout_versions": app.all_pages(&format!("/v1/sessions/{live}/layout/versions"), token).await,
        "participants": app.all_pages(&format!("/v1/sessions/{live}/participants"), token).await,
        "events": app
            .all_pages(&format!("/v1/sessions/{live}/events"), token)
            .await
            .into_iter()
            .filter(|e| e["position"].as_u64().is_some_and(|p| p <= up_to))
            .collect::<Vec<_>>(),
    })
}

/// Rebuilds every projection from the log (`POST /v1/admin/projections/{name}:rebuild`) and
/// waits until each is done.
pub async fn rebuild_all_projections(app: &TestApp) {
    let list = app.get("/v1/admin/projections", &app.admin_token).await;
    list.assert_status(200);
    let names: Vec<String> = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["name"].as_str().expect("a name").to_owned())
        .collect();
    for name in &names {
        app.call(
            Method::POST,
            &format!("/v1/admin/projections/{name}:rebuild"),
            Some(&app.admin_token),
            None,
        )
        .await
        .assert_status(202);
        app.wait_for_rebuild(name).await;
    }
}

/// Runs `livesurgery audit verify` over the database; asserts every hash chain holds.
pub fn assert_audit_verifies(app: &TestApp) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_livesurgery"))
        .args(["audit", "verify"])
        .env("LIVESURGERY_DATABASE_URL", &app.db_url)
        .env("LIVESURGERY_DATA_DIR", app.data_dir())
        .env("RUST_LOG", "warn")
        .output()
        .expect("running livesurgery audit verify");
    assert!(
        output.status.success(),
        "[{}] audit verify failed: {}\n{}",
        app.backend,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The paths where two JSON values differ (at most `limit`), each with both sides.
pub fn json_differences(a: &Value, b: &Value, limit: usize) -> Vec<String> {
    fn walk(path: String, a: &Value, b: &Value, out: &mut Vec<String>, limit: usize) {
        if out.len() >= limit || a == b {
            return;
        }
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for key in keys {
                    let (l, r) = (x.get(key), y.get(key));
                    walk(
                        format!("{path}/{key}"),
                        l.unwrap_or(&Value::Null),
                        r.unwrap_or(&Value::Null),
                        out,
                        limit,
                    );
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (l, r)) in x.iter().zip(y).enumerate() {
                    walk(format!("{path}/{i}"), l, r, out, limit);
                }
            }
            _ => out.push(format!("{path}: {a} != {b}")),
        }
    }
    let mut out = Vec::new();
    walk(String::new(), a, b, &mut out, limit);
    out
}
