//! OpenTelemetry traces of a real server process, received by the test's own OTLP receiver: a
//! layout change, made over REST and over the WebSocket, is ONE trace from the request to the
//! push to every client; with no endpoint set, nothing is exported.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use super::otlp::{ReceivedSpan, Receiver};
use crate::api::spawn::{JWT_SECRET, PASSWORD, TestApp};
use crate::helpers::fresh_sqlite;
use crate::realtime::client::WsClient;
use crate::realtime::join;

const WAIT: Duration = Duration::from_secs(10);
/// A title a hospital would write (a patient's name in it): never in a span.
const TITLE: &str = "Canary4T1 John Doe appendectomy";

/// The spans of one trace, by name.
fn named<'a>(trace: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    trace.iter().filter(|s| s.name == name).collect()
}

/// The one span of this name in the trace.
fn one<'a>(trace: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let found = named(trace, name);
    assert_eq!(
        found.len(),
        1,
        "one {name} span expected in the trace, got {found:#?}\nthe trace: {trace:#?}"
    );
    found[0]
}

/// Asserts the shape of a layout change's trace under its root span `root_name`: the root, its
/// command and append, the projection, and one push of `LayoutUpdated` to each participant.
fn assert_layout_trace(trace: &[ReceivedSpan], root_name: &str, participants: &[Uuid]) {
    let root = one(trace, root_name);
    assert_eq!(
        root.parent_span_id, "",
        "the {root_name} span is the root: {root:#?}"
    );
    let command = one(trace, "command");
    assert_eq!(command.parent_span_id, root.span_id, "{command:#?}");
    assert_eq!(command.attr("events"), "LayoutUpdated", "{command:#?}");
    assert_eq!(command.attr("outcome"), "accepted", "{command:#?}");
    let append = one(trace, "append");
    assert_eq!(append.parent_span_id, command.span_id, "{append:#?}");
    assert_eq!(append.attr("outcome"), "appended", "{append:#?}");
    let projection = one(trace, "projection.apply");
    assert_eq!(projection.parent_span_id, root.span_id, "{projection:#?}");
    let pushes: Vec<&ReceivedSpan> = named(trace, "ws.push")
        .into_iter()
        .filter(|s| s.attr("event_type") == "LayoutUpdated")
        .collect();
    let mut pushed_to: Vec<String> = pushes
        .iter()
        .map(|s| s.attr("participant_id").to_owned())
        .collect();
    pushed_to.sort();
    let mut expected: Vec<String> = participants.iter().map(Uuid::to_string).collect();
    expected.sort();
    assert_eq!(
        pushed_to, expected,
        "one push of the LayoutUpdated to each client: {pushes:#?}"
    );
    for push in pushes {
        assert_eq!(push.parent_span_id, root.span_id, "{push:#?}");
        assert_eq!(
            push.attr("position"),
            append.attr("last_position"),
            "{push:#?}"
        );
    }
}

/// The spans of `trace_id`.
fn trace_of(spans: &[ReceivedSpan], trace_id: &str) -> Vec<ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.trace_id == trace_id)
        .cloned()
        .collect()
}

/// Whether the trace holds the spans of a layout change pushed to `clients` connections.
fn complete(trace: &[ReceivedSpan], clients: usize) -> bool {
    ["command", "append", "projection.apply"]
        .iter()
        .all(|name| !named(trace, name).is_empty())
        && named(trace, "ws.push")
            .iter()
            .filter(|s| s.attr("event_type") == "LayoutUpdated")
            .count()
            >= clients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layout_change_is_one_trace_from_the_request_to_the_push_to_every_client() {
    let receiver = Receiver::start("127.0.0.1:0")
        .await
        .expect("an OTLP receiver");
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_SERVICE_NAME", "livesurgery-under-test".to_owned()),
        // Longer than the test: the spans leave in the batch sent at shutdown, which SIGTERM
        // must therefore flush.
        ("OTEL_BSP_SCHEDULE_DELAY", "600000".to_owned()),
    ];
    let (app, server) = TestApp::spawn_process(fresh_sqlite(), &env).await;
    let host = app.create_user("surgeon").await;
    let watcher = app.create_user("observer").await;
    let created = app
        .call(
            Method::POST,
            "/v1/sessions",
            Some(&host.token),
            Some(json!({"title": TITLE, "procedure": TITLE})),
        )
        .await;
    created.assert_status(201);
    let session = created.uuid("id");
    app.add_member(session, watcher.id, "observer").await;
    app.start(session).await;
    let joined_host = join(&app, session, &host).await;
    let joined_watcher = join(&app, session, &watcher).await;
    let participants = [joined_host.participant_id, joined_watcher.participant_id];
    let mut writer = WsClient::welcomed(&joined_host.ws_url, &joined_host.ws_token, "host").await;
    let mut reader =
        WsClient::welcomed(&joined_watcher.ws_url, &joined_watcher.ws_token, "watcher").await;

    // The click, over REST: its request id (a UUID) is the trace id.
    let request_id = Uuid::now_v7();
    let patched = crate::api::spawn::Answer::of(
        app.request(
            Method::PATCH,
            &format!("/v1/sessions/{session}/layout"),
            Some(&host.token),
        )
        .header("x-request-id", request_id.to_string())
        .json(&json!({"base_version": writer.state.layout_version,
            "changes": {"panels": {"p1": {"x": 2, "z": 1}}}})),
    )
    .await;
    patched.assert_status(200);
    let rest_version = patched.body["version"].as_u64().expect("a version");
    for client in [&mut writer, &mut reader] {
        client
            .wait_for(WAIT, "the REST layout change pushed", |s| {
                s.layout_version >= rest_version
            })
            .await;
    }
    // The click, over the WebSocket.
    writer
        .send(json!({"type": "layout.update", "ref": "l1",
            "base_version": rest_version,
            "changes": {"panels": {"p1": {"x": 3}}}}))
        .await;
    writer
        .wait_for(WAIT, "the WebSocket layout change answered", |s| {
            s.answered("l1")
        })
        .await;
    for client in [&mut writer, &mut reader] {
        client
            .wait_for(WAIT, "the WebSocket layout change pushed", |s| {
                s.layout_version > rest_version
            })
            .await;
    }
    let status = server.terminate().await;
    assert!(status.success(), "the server exited with {status}");
    drop((writer, reader));

    let spans = receiver.spans();
    assert!(
        !spans.is_empty(),
        "no span reached the receiver (requests: {:?})",
        receiver.requests()
    );
    assert!(
        spans.iter().all(|s| s.service == "livesurgery-under-test"),
        "OTEL_SERVICE_NAME names the service"
    );

    // REST: one trace, the request id's.
    let trace_id = request_id.simple().to_string();
    let rest = trace_of(&spans, &trace_id);
    assert!(
        complete(&rest, 2),
        "the REST change's trace {trace_id} is incomplete: {rest:#?}"
    );
    assert_layout_trace(&rest, "http.request", &participants);
    let request = one(&rest, "http.request");
    assert_eq!(request.attr("http.route"), "/v1/sessions/{id}/layout");
    assert_eq!(request.attr("http.request.method"), "PATCH");
    assert_eq!(request.attr("http.response.status_code"), "200");
    assert_eq!(request.attr("request_id"), request_id.to_string());
    assert_eq!(request.attr("session_id"), session.to_string());
    assert_eq!(request.attr("user_id"), host.id.to_string());

    // WebSocket: one trace under the `ws.message` span.
    let messages: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.name == "ws.message" && s.attr("message_type") == "layout.update")
        .collect();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let ws = trace_of(&spans, &messages[0].trace_id);
    assert!(
        complete(&ws, 2),
        "the WebSocket change's trace is incomplete: {ws:#?}"
    );
    assert_layout_trace(&ws, "ws.message", &participants);

    // Ids and fixed names only: no title, procedure, password, token or key in any span.
    let secrets = [
        TITLE,
        PASSWORD,
        JWT_SECRET,
        &host.token,
        &watcher.token,
        &host.refresh_token,
        &joined_host.ws_token,
        &joined_watcher.ws_token,
        &app.admin_token,
    ];
    for span in &spans {
        let texts = std::iter::once(&span.name)
            .chain(span.attributes.keys())
            .chain(span.attributes.values());
        for text in texts {
            for secret in secrets {
                assert!(
                    !text.contains(secret),
                    "a secret or the title in a span: {span:#?}"
                );
            }
            assert!(
                !text.to_ascii_lowercase().contains("bearer"),
                "a bearer header in a span: {span:#?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_endpoint_set_nothing_is_exported_and_the_server_serves_as_before() {
    // Where an exporter that ignored the missing endpoint would send: the OTLP/HTTP default.
    let receiver = match Receiver::start("127.0.0.1:4318").await {
        Ok(receiver) => Some(receiver),
        Err(error) => {
            println!("port 4318 is in use ({error}): only the server's behaviour is checked");
            None
        }
    };
    // The other standard variables set, the endpoint not: traces stay off.
    let env = [
        ("OTEL_SERVICE_NAME", "livesurgery-under-test".to_owned()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50".to_owned()),
    ];
    let (app, server) = TestApp::spawn_process(fresh_sqlite(), &env).await;
    let host = app.create_user("surgeon").await;
    let session = app.create_session(&host.token).await;
    app.start(session).await;
    let joined = join(&app, session, &host).await;
    let mut client = WsClient::welcomed(&joined.ws_url, &joined.ws_token, "host").await;
    let patched = app
        .call(
            Method::PATCH,
            &format!("/v1/sessions/{session}/layout"),
            Some(&host.token),
            Some(json!({"base_version": client.state.layout_version,
                "changes": {"panels": {"p1": {"x": 2}}}})),
        )
        .await;
    patched.assert_status(200);
    let version = patched.body["version"].as_u64().expect("a version");
    client
        .wait_for(WAIT, "the layout change pushed", |s| {
            s.layout_version >= version
        })
        .await;
    let status = server.terminate().await;
    assert!(status.success(), "the server exited with {status}");
    if let Some(receiver) = receiver {
        // The batch delay is 50 ms and shutdown flushes: anything exported has arrived.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            receiver.requests().is_empty(),
            "traces were exported with no endpoint set: {:?}",
            receiver.requests()
        );
    }
}
