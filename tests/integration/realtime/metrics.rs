//! `GET /metrics`: what the gateway exposes to Prometheus.

use std::time::{Duration, Instant};

use serde_json::json;

use super::client::WsClient;
use super::{join, live_session, member, metric, metrics_text};
use crate::api::spawn::{Answer, spawn_app};
use crate::helpers::all_backends;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_connections_messages_by_type_and_push_latency() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let backend = app.backend;
        println!("[{backend}]");
        let answer = Answer::of(app.client.get(app.url("/metrics"))).await;
        answer.assert_status(200);
        assert!(
            answer
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/plain")),
            "{:?}",
            answer.headers
        );
        assert_eq!(
            metric(&answer.text, "livesurgery_ws_connected_clients"),
            Some(0.0)
        );

        let (host, session) = live_session(&app).await;
        let surgeon = member(&app, session, "surgeon", "surgeon").await;
        let jh = join(&app, session, &host).await;
        let js = join(&app, session, &surgeon).await;
        let mut writer = WsClient::welcomed(&jh.ws_url, &jh.ws_token, "writer").await;
        let mut reader = WsClient::welcomed(&js.ws_url, &js.ws_token, "reader").await;
        writer
            .send(
                json!({"type": "layout.update", "ref": "m1", "base_version": 1,
                         "changes": {"panels": {"p1": {"x": 1}}}}),
            )
            .await;
        writer.until(WAIT, "the ack", |m| m["type"] == "ack").await;
        reader
            .until(WAIT, "the event", |m| m["event_type"] == "LayoutUpdated")
            .await;

        let text = metrics_text(&app.base).await;
        // (A family with labels appears once it has a series.)
        for (name, kind) in [
            ("livesurgery_ws_connected_clients", "gauge"),
            ("livesurgery_ws_messages_in_total", "counter"),
            ("livesurgery_ws_messages_out_total", "counter"),
            ("livesurgery_ws_push_latency_seconds", "histogram"),
            ("livesurgery_ws_slow_consumers_dropped_total", "counter"),
            ("livesurgery_ws_presence_timeouts_total", "counter"),
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "[{backend}] no {kind} {name} in:\n{text}"
            );
        }
        let at_least = |series: &str, min: f64| {
            let value = metric(&text, series).unwrap_or(0.0);
            assert!(
                value >= min,
                "[{backend}] {series} = {value} < {min}:\n{text}"
            );
        };
        at_least("livesurgery_ws_connected_clients", 2.0);
        at_least("livesurgery_ws_messages_in_total{type=\"ping\"}", 2.0);
        at_least(
            "livesurgery_ws_messages_in_total{type=\"layout.update\"}",
            1.0,
        );
        at_least("livesurgery_ws_messages_out_total{type=\"welcome\"}", 2.0);
        at_least("livesurgery_ws_messages_out_total{type=\"pong\"}", 2.0);
        at_least("livesurgery_ws_messages_out_total{type=\"ack\"}", 1.0);
        at_least("livesurgery_ws_messages_out_total{type=\"event\"}", 2.0);
        at_least("livesurgery_ws_push_latency_seconds_count", 2.0);
        at_least(
            "livesurgery_ws_push_latency_seconds_bucket{le=\"+Inf\"}",
            2.0,
        );
        assert!(
            text.contains("livesurgery_ws_push_latency_seconds_sum "),
            "{text}"
        );

        writer.close().await;
        reader.close().await;
        let deadline = Instant::now() + WAIT;
        loop {
            let text = metrics_text(&app.base).await;
            if metric(&text, "livesurgery_ws_connected_clients") == Some(0.0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "[{backend}] clients still counted after closing:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
