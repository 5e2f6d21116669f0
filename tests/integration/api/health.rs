//! The service level indicators (issue 17): `/metrics` counts answers by route pattern and
//! joins by outcome, times appends and the projections, and `GET /v1/admin/health` reports the
//! SLIs from them over its window; `promtool check metrics` accepts the exposition.

use std::process::Stdio;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::spawn::spawn_app;
use crate::helpers::{all_backends, fresh_sqlite};
use crate::realtime::{join, metric, metrics_text};

fn indicator<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["indicators"]
        .as_array()
        .expect("indicators")
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no indicator {name} in {health}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_page_reports_joins_requests_appends_and_projections_from_this_servers_traffic()
{
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let surgeon = app.create_user("surgeon").await;
        let stranger = app.create_user("observer").await;
        let session = app.create_session(&app.admin_token).await;
        app.add_member(session, surgeon.id, "surgeon").await;
        app.start(session).await;
        join(&app, session, &surgeon).await;
        // A refusal is a correct answer, not a failed join.
        app.call(
            Method::POST,
            &format!("/v1/sessions/{session}/participants:join"),
            Some(&stranger.token),
            Some(json!({"device": "test"})),
        )
        .await
        .assert_status(404);
        app.wait_until_projected(app.head().await).await;

        let health = app.get("/v1/admin/health", &app.admin_token).await;
        health.assert_status(200);
        let health = &health.body;
        let joins = indicator(health, "join_success");
        assert_eq!(
            (joins["good"].as_u64(), joins["valid"].as_u64()),
            (Some(1), Some(1)),
            "{joins}"
        );
        assert_eq!(joins["value"], 1.0);
        assert_eq!(joins["status"], "met");
        let rest = indicator(health, "rest_availability");
        assert!(rest["valid"].as_u64().unwrap() >= 8, "{rest}");
        assert_eq!(rest["good"], rest["valid"], "no 5xx: {rest}");
        // Every command appended and was projected while this server ran.
        for name in ["append_latency", "projection_lag", "rest_latency"] {
            let sli = indicator(health, name);
            assert!(sli["valid"].as_u64().unwrap() >= 4, "{name}: {sli}");
            assert!(sli["value"].as_f64().is_some(), "{name}: {sli}");
        }
        assert!(
            indicator(health, "append_latency")["percentile"]["seconds"]
                .as_f64()
                .is_some()
        );
        // No media yet: no value rather than a made-up 100 %.
        let loss = indicator(health, "sfu_forward_loss");
        assert_eq!(loss["value"], Value::Null, "{loss}");
        assert_eq!(loss["status"], "no_data");
        assert_eq!(health["load"]["projections_lag"], 0);
        assert!(health["window_seconds"].as_f64().unwrap() > 0.0);

        // Admins only.
        app.get("/v1/admin/health", &surgeon.token)
            .await
            .assert_error(403, "forbidden");

        let text = metrics_text(&app.base).await;
        let join_route = "route=\"/v1/sessions/{id}/participants:join\"";
        assert_eq!(
            metric(
                &text,
                &format!(
                    "livesurgery_http_requests_total{{method=\"POST\",{join_route},status_class=\"2xx\"}}"
                )
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            metric(&text, "livesurgery_joins_total{outcome=\"ok\"}"),
            Some(1.0)
        );
        assert_eq!(
            metric(&text, "livesurgery_joins_total{outcome=\"refused\"}"),
            Some(1.0)
        );
        assert!(metric(&text, "livesurgery_event_append_duration_seconds_count").unwrap() >= 4.0);
        assert!(
            metric(&text, "livesurgery_projection_apply_latency_seconds_count").unwrap() >= 4.0
        );
        assert_eq!(
            metric(&text, "livesurgery_projection_lag_events"),
            Some(0.0)
        );
        assert_eq!(
            metric(&text, "livesurgery_recording_upload_backlog_segments"),
            Some(0.0)
        );
        // Route patterns, never paths: no id in any label.
        assert!(
            !text.contains(&session.to_string()),
            "a session id in /metrics"
        );
        assert!(
            !text.contains(&surgeon.id.to_string()),
            "a user id in /metrics"
        );
    }
}

/// `promtool check metrics` (Debian's prometheus package) lints the exposition: counters end
/// in `_total`, units in names, help on every family.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_the_metrics_exposition() {
    let promtool = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok();
    if !livesurgery_testkit::prerequisites_met(
        "promtool_accepts_the_metrics_exposition",
        (!promtool).then(|| "promtool".to_owned()),
        "LIVESURGERY_REQUIRE_PROMETHEUS",
        "apt-get install prometheus",
    ) {
        return;
    }
    let app = spawn_app(fresh_sqlite()).await;
    let surgeon = app.create_user("surgeon").await;
    let session = app.create_session(&app.admin_token).await;
    app.add_member(session, surgeon.id, "surgeon").await;
    app.start(session).await;
    join(&app, session, &surgeon).await;
    let text = metrics_text(&app.base).await;
    let mut child = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .await
        .expect("the exposition written to promtool");
    let out = child.wait_with_output().await.expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
