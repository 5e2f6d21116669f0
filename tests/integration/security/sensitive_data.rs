//! No sensitive data where it must not be (issue 16): the end-to-end story (first admin, users,
//! a session whose title and procedure are recognisable, members, joins, WebSocket layout
//! changes and a source pick, a token refresh, a wrong password, leaving) runs against a real
//! server process; then everything it left at rest and in the open is scanned: the database's
//! bytes (the event log, the read models, credentials and idempotency tables, whatever else),
//! the server's log output, `/metrics` and the names of the files in its data folder. No
//! password, token or signing key may appear anywhere; the title and procedure (PHI) may appear
//! only in the database (events and read models), never in log lines, metric labels or file
//! and object names. The log is scanned in both formats (`LIVESURGERY_LOG_FORMAT`: text and
//! json), whose lines hold different things (span fields become JSON keys).

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::spawn::{ADMIN, JWT_SECRET, PASSWORD, TestApp};
use crate::helpers::all_backends;
use crate::realtime::client::WsClient;
use crate::realtime::{join, metrics_text};

/// A recognisable session title, as a hospital would write one (a patient's name in it).
const TITLE: &str = "Canary7Q2 Jane Roe left hemicolectomy";
/// A recognisable procedure.
const PROCEDURE: &str = "Canary5K9 laparoscopic hemicolectomy";
/// A wrong password someone typed (often a real password of another system).
const WRONG_PASSWORD: &str = "Canary3M8-wrong-password";
const WAIT: Duration = Duration::from_secs(10);

/// Every string under a key that names a token (`token`, `access_token`, `refresh_token`, …).
fn tokens_in(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match inner {
                    Value::String(s) if key == "token" || key.ends_with("_token") => {
                        found.push(s.clone())
                    }
                    _ => tokens_in(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| tokens_in(i, found)),
        _ => {}
    }
}

/// The whole database as bytes: SQLite's files (the database, its WAL and shared memory), or a
/// `pg_dump` of the PostgreSQL database.
fn database_bytes(app: &TestApp) -> Vec<u8> {
    if let Some(path) = app.db_url.strip_prefix("sqlite://") {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            if let Ok(mut file) = std::fs::read(format!("{path}{suffix}")) {
                bytes.append(&mut file);
            }
        }
        assert!(!bytes.is_empty(), "no SQLite files at {path}");
        bytes
    } else {
        let output = std::process::Command::new("pg_dump")
            .args(["--data-only", &app.db_url])
            .output()
            .expect("running pg_dump (PostgreSQL's client tools)");
        assert!(
            output.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }
}

/// Every file and folder name under `dir`, as paths relative to it.
fn names_under(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            names.push(
                path.strip_prefix(dir)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
            );
            if path.is_dir() {
                pending.push(path);
            }
        }
    }
    names
}

/// The needles found in `haystack` (bytes compared as they are).
fn found<'a>(haystack: &[u8], needles: &'a [String]) -> Vec<&'a str> {
    needles
        .iter()
        .filter(|n| {
            haystack
                .windows(n.len())
                .any(|window| window == n.as_bytes())
        })
        .map(String::as_str)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_token_or_key_at_rest_or_in_logs_and_the_title_only_in_the_database() {
    scan_a_full_story("text").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_token_or_key_in_json_logs_and_the_title_only_in_the_database() {
    scan_a_full_story("json").await;
}

/// The story, then the scans, with the server's log in `log_format`.
async fn scan_a_full_story(log_format: &str) {
    for db in all_backends().await {
        let logs = tempfile::tempdir().expect("a folder for the server's log");
        let log = logs.path().join("server.log");
        // As verbose as an operator debugging the server would make it.
        let env = [
            ("RUST_LOG", "info,livesurgery=debug".to_owned()),
            ("LIVESURGERY_LOG_FORMAT", log_format.to_owned()),
        ];
        let (app, server) = TestApp::spawn_process_logging(db, &env, Some(&log)).await;
        let backend = app.backend;
        let mut answers: Vec<Value> = Vec::new();

        let host = app.create_user("surgeon").await;
        let watcher = app.create_user("observer").await;
        answers.push(json!({"token": host.token, "refresh_token": host.refresh_token}));
        answers.push(json!({"token": watcher.token, "refresh_token": watcher.refresh_token}));
        let created = app
            .call(
                Method::POST,
                "/v1/sessions",
                Some(&host.token),
                Some(json!({"title": TITLE, "procedure": PROCEDURE})),
            )
            .await;
        created.assert_status(201);
        let session = created.uuid("id");
        app.add_member(session, watcher.id, "observer").await;
        app.start(session).await;

        let joined_host = join(&app, session, &host).await;
        let joined_watcher = join(&app, session, &watcher).await;
        answers.push(joined_host.body.clone());
        answers.push(joined_watcher.body.clone());
        let mut writer =
            WsClient::welcomed(&joined_host.ws_url, &joined_host.ws_token, "host").await;
        let mut reader =
            WsClient::welcomed(&joined_watcher.ws_url, &joined_watcher.ws_token, "watcher").await;
        writer
            .send(json!({"type": "layout.update", "ref": "l1",
                "base_version": writer.state.layout_version,
                "changes": {"panels": {"p1": {"x": 1, "z": 3}}}}))
            .await;
        writer
            .wait_for(WAIT, "the layout change answered", |s| s.answered("l1"))
            .await;
        reader
            .wait_for(WAIT, "the layout change seen", |s| s.layout_version >= 2)
            .await;

        // A refresh, and a wrong password.
        let refreshed = app
            .call(
                Method::POST,
                "/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": host.refresh_token})),
            )
            .await;
        refreshed.assert_status(200);
        answers.push(refreshed.body.clone());
        let refused = app.login(ADMIN, WRONG_PASSWORD).await;
        assert_eq!(refused.status, 401, "{}", refused.text);

        // Reads that log what they serve, then leaving.
        for path in [
            format!("/v1/sessions/{session}"),
            format!("/v1/sessions/{session}/events"),
            format!("/v1/sessions/{session}/state"),
        ] {
            let answer = app.get(&path, &app.admin_token).await;
            answer.assert_status(200);
        }
        writer.close().await;
        reader.close().await;
        let metrics = metrics_text(&app.base).await;
        answers.push(json!({"token": app.admin_token}));
        server.kill().await;

        let mut tokens = Vec::new();
        for answer in &answers {
            tokens_in(answer, &mut tokens);
        }
        assert!(
            tokens.len() >= 8,
            "[{backend}] too few tokens collected to prove anything: {tokens:?}"
        );
        let mut secrets: Vec<String> =
            vec![PASSWORD.into(), WRONG_PASSWORD.into(), JWT_SECRET.into()];
        secrets.extend(tokens);
        let phi = [TITLE.to_owned(), PROCEDURE.to_owned()];

        // At rest: no secret anywhere in the database; the title is there (else the scan of
        // the database would prove nothing).
        let database = database_bytes(&app);
        assert_eq!(
            found(&database, &phi).len(),
            phi.len(),
            "[{backend}] the database scan does not see the title: it scans the wrong thing"
        );
        let at_rest = found(&database, &secrets);
        assert!(
            at_rest.is_empty(),
            "[{backend}] secrets stored in the database: {at_rest:?}"
        );

        // The server's log lines: neither secrets nor PHI.
        let log_text = std::fs::read(&log).expect("the server's log");
        assert!(
            log_text.len() > 1000,
            "[{backend}] the server logged almost nothing: the scan would prove nothing"
        );
        if log_format == "json" {
            // The scan read JSON lines (the file holds standard output too: a few text lines).
            let json_lines = String::from_utf8_lossy(&log_text)
                .lines()
                .filter(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v.is_object()))
                .count();
            assert!(
                json_lines > 20,
                "[{backend}] the server did not log JSON lines: the scan would not be of them"
            );
        }
        let logged = found(&log_text, &secrets);
        assert!(
            logged.is_empty(),
            "[{backend}] secrets in the log: {logged:?}"
        );
        let logged = found(&log_text, &phi);
        assert!(logged.is_empty(), "[{backend}] PHI in the log: {logged:?}");

        // /metrics: neither (metric labels are kept by monitoring systems for months).
        let exposed = found(metrics.as_bytes(), &secrets);
        assert!(
            exposed.is_empty(),
            "[{backend}] secrets in /metrics: {exposed:?}"
        );
        let exposed = found(metrics.as_bytes(), &phi);
        assert!(
            exposed.is_empty(),
            "[{backend}] PHI in /metrics: {exposed:?}"
        );

        // File and object names in the data folder (spool, keys, recordings).
        let names = names_under(app.data_dir()).join("\n");
        let named = found(names.as_bytes(), &phi);
        assert!(
            named.is_empty(),
            "[{backend}] PHI in file names: {named:?} in\n{names}"
        );
        let named = found(names.as_bytes(), &secrets);
        assert!(
            named.is_empty(),
            "[{backend}] secrets in file names: {named:?}"
        );
    }
}
