//! `LIVESURGERY_LOG_FORMAT`: JSON lines a log shipper can read, each with the ids of what it
//! is about; an unknown format stops the start.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use crate::api::spawn::{Answer, TestApp};
use crate::helpers::fresh_sqlite;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line_and_a_requests_line_names_its_request_user_and_session() {
    let logs = tempfile::tempdir().expect("a folder for the server's log");
    let log = logs.path().join("server.log");
    let env = [
        ("LIVESURGERY_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info,livesurgery=debug".to_owned()),
    ];
    let (app, server) = TestApp::spawn_process_log_only(fresh_sqlite(), &env, &log).await;
    let host = app.create_user("surgeon").await;
    let session = app.create_session(&host.token).await;
    let request_id = Uuid::now_v7();
    let read = Answer::of(
        app.request(
            Method::GET,
            &format!("/v1/sessions/{session}"),
            Some(&host.token),
        )
        .header("x-request-id", request_id.to_string()),
    )
    .await;
    read.assert_status(200);
    let status = server.terminate().await;
    assert!(status.success(), "the server exited with {status}");

    let text = std::fs::read_to_string(&log).expect("the server's log");
    let lines: Vec<Value> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a log line that is no JSON ({e}): {line}"));
            assert!(
                value.is_object(),
                "a log line that is no JSON object: {line}"
            );
            value
        })
        .collect();
    assert!(lines.len() > 5, "the server logged almost nothing:\n{text}");
    for line in &lines {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(line.get(key).is_some(), "a line without {key}: {line}");
        }
    }
    let ours: Vec<&Value> = lines
        .iter()
        .filter(|l| l["request_id"] == request_id.to_string())
        .collect();
    let answered = ours
        .iter()
        .find(|l| l["message"] == "answered")
        .unwrap_or_else(|| panic!("no access line of request {request_id}:\n{text}"));
    assert_eq!(answered["user_id"], host.id.to_string(), "{answered}");
    assert_eq!(answered["session_id"], session.to_string(), "{answered}");
    assert_eq!(answered["http.response.status_code"], 200, "{answered}");
    assert_eq!(answered["http.route"], "/v1/sessions/{id}", "{answered}");
}

#[tokio::test]
async fn an_unknown_log_format_stops_the_start_with_a_clear_error() {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_livesurgery"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .env("LIVESURGERY_LOG_FORMAT", "yaml")
            .env("LIVESURGERY_DATABASE_URL", "sqlite::memory:")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the server exits at once")
    .expect("running the server");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("LIVESURGERY_LOG_FORMAT=yaml is not a log format: use text or json"),
        "{stderr}"
    );
}
