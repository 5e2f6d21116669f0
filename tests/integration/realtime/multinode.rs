//! Two server processes on one PostgreSQL database: a change made through one reaches the
//! clients of the other.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::client::WsClient;
use crate::api::spawn::{ADMIN, PASSWORD};
use crate::helpers::fresh_postgres;
use crate::nodes::{create_first_admin, start_node};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layout_change_on_one_node_reaches_a_client_of_another_within_a_second() {
    // Two nodes meet through PostgreSQL only: without it, the whole test is a (recorded) skip.
    let Some(db) = fresh_postgres().await else {
        return;
    };
    create_first_admin(&db.url);

    let a = start_node(&db.url, &[]).await;
    let b = start_node(&db.url, &[]).await;
    let admin = a.login(ADMIN).await;
    let body = json!({"username": "surgeon-b", "password": PASSWORD, "role": "surgeon",
                      "display_name": "Dr B"});
    let user = a
        .call(Method::POST, "/v1/users", Some(&admin), Some(body))
        .await;
    user.assert_status(201);
    let surgeon_id = user.str("id").to_owned();
    let surgeon = a.login("surgeon-b").await;
    let created = a
        .call(
            Method::POST,
            "/v1/sessions",
            Some(&admin),
            Some(json!({"title": "Two nodes"})),
        )
        .await;
    created.assert_status(201);
    let session = created.str("id").to_owned();
    a.call(
        Method::PUT,
        &format!("/v1/sessions/{session}/members/{surgeon_id}"),
        Some(&admin),
        Some(json!({"role": "surgeon"})),
    )
    .await
    .assert_status(200);
    a.call(
        Method::POST,
        &format!("/v1/sessions/{session}:start"),
        Some(&admin),
        None,
    )
    .await
    .assert_status(200);
    let join_path = format!("/v1/sessions/{session}/participants:join");
    let writer_join = a.call(Method::POST, &join_path, Some(&admin), None).await;
    writer_join.assert_status(201);
    let reader_join = a.call(Method::POST, &join_path, Some(&surgeon), None).await;
    reader_join.assert_status(201);

    // The reader is a client of node B (the join token is valid on every node).
    let reader_url = format!("ws://127.0.0.1:{}/v1/sessions/{session}/ws", b.port);
    let reader_token = reader_join.body["ws"]["token"].as_str().expect("a token");
    let mut reader = WsClient::welcomed(&reader_url, reader_token, "reader on B").await;
    let writer_url = writer_join.body["ws"]["url"].as_str().expect("a URL");
    assert!(
        writer_url.contains(&format!(":{}/", a.port)),
        "{writer_url}"
    );
    let writer_token = writer_join.body["ws"]["token"].as_str().expect("a token");
    let mut writer = WsClient::welcomed(writer_url, writer_token, "writer on A").await;
    assert_eq!(reader.state.layout_version, 1);

    let mut latencies = Vec::new();
    for z in 1..=5u64 {
        let sent = Instant::now();
        writer
            .send(json!({"type": "layout.update", "ref": format!("z{z}"),
                         "base_version": writer.state.layout_version,
                         "changes": {"panels": {"p1": {"z": z}}}}))
            .await;
        let event = reader
            .until(WAIT, "the change from node A", |m| {
                m["event_type"] == "LayoutUpdated" && m["data"]["changes"][0]["value"] == z
            })
            .await;
        latencies.push(sent.elapsed());
        assert_eq!(event["data"]["version"], 1 + z, "{event}");
        writer
            .until(WAIT, "the ack", |m| {
                m["type"] == "ack" || m["type"] == "error"
            })
            .await;
        assert!(writer.state.errors.is_empty(), "{:?}", writer.state.errors);
    }
    println!("node A -> client of node B: {latencies:?}");
    for latency in &latencies {
        assert!(*latency < Duration::from_secs(1), "{latencies:?}");
    }
    assert!(
        reader.state.violations.is_empty(),
        "{:?}",
        reader.state.violations
    );
    writer
        .wait_for(WAIT, "its own last change", |s| s.layout_version == 6)
        .await;
    assert_eq!(reader.state.layout_version, 6);
    assert_eq!(reader.state.panels, writer.state.panels);
    reader.close().await;
    writer.close().await;
}
