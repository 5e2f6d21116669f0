//! Debian's Prometheus, started by the test with `ops/prometheus/livesurgery.rules.yml`,
//! scrapes a running server every second while the test puts a short load on it (REST calls,
//! joins, WebSocket layout changes, a video published and subscribed through the SFU); its HTTP
//! API must then give every SLI recording rule a value.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::api::process::free_port;
use crate::api::spawn::{TestApp, TestUser, spawn_app_with};
use crate::helpers::{fresh_sqlite, prerequisites_met};
use crate::realtime::client::WsClient;
use crate::realtime::{join, live_session, member};
use crate::sfu::support::{Peer, Sfu, webrtc_ready};

/// Set to `1` (as CI does), a missing Prometheus fails the test instead of skipping it.
const REQUIRE_ENV: &str = "LIVESURGERY_REQUIRE_PROMETHEUS";
const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/ops/prometheus/livesurgery.rules.yml"
);
/// The contract's SLI names: `livesurgery:sli_<name>:ratio_rate<window>`.
const SLIS: [&str; 10] = [
    "join_success",
    "join_first_frame",
    "ws_push_latency",
    "rest_availability",
    "rest_latency",
    "append_latency",
    "projection_lag",
    "sfu_forward_loss",
    "sfu_added_latency",
    "recording_backlog",
];
/// The percentile helpers the issue names.
const PERCENTILES: [&str; 4] = [
    "livesurgery:sfu_join_to_first_frame_seconds:p95_5m",
    "livesurgery:ws_push_latency_seconds:p99_5m",
    "livesurgery:http_request_duration_seconds:p99_5m",
    "livesurgery:event_append_duration_seconds:p99_5m",
];
/// How long the load runs, at most, for every rule to have a value.
const WITHIN: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(10);

/// Debian's `prometheus` on PATH, answering `--version`.
fn prometheus_installed() -> bool {
    std::process::Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A Prometheus server of its own (killed when dropped): scrape and rule evaluation every
/// second, the SLO rules, storage in a temporary folder.
struct Prometheus {
    base: String,
    client: reqwest::Client,
    _child: Child,
    folder: tempfile::TempDir,
}

impl Prometheus {
    async fn start(target: &str) -> Prometheus {
        let folder = tempfile::tempdir().expect("a folder for Prometheus");
        let config = folder.path().join("prometheus.yml");
        let target = target.trim_start_matches("http://");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files: [\"{RULES}\"]\n\
                 scrape_configs:\n  - job_name: livesurgery\n    metrics_path: /metrics\n    \
                 static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .expect("writing the Prometheus configuration");
        let port = free_port();
        let log = std::fs::File::create(folder.path().join("prometheus.log")).expect("a log file");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                folder.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("starting prometheus");
        let prometheus = Prometheus {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            _child: child,
            folder,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = prometheus
                .client
                .get(format!("{}/-/ready", prometheus.base))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus not ready within 30 s:\n{}",
                prometheus.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        prometheus
    }

    /// The instant vector of `query` (`/api/v1/query`).
    async fn query(&self, query: &str) -> Vec<Value> {
        let answer = self
            .client
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", query)])
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("querying Prometheus for {query}: {e}"));
        let body: Value = answer.json().await.expect("a JSON answer");
        assert_eq!(body["status"], "success", "{query}: {body}");
        body["data"]["result"]
            .as_array()
            .expect("an instant vector")
            .clone()
    }

    /// The one value of `query`, if it has one (a recording rule without labels).
    async fn value(&self, query: &str) -> Option<f64> {
        let result = self.query(query).await;
        let sample = result.first()?;
        sample["value"][1].as_str()?.parse().ok()
    }

    fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.folder.path().join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// One round of load: REST reads, a join refused and a join accepted, a layout change over
/// the WebSocket (acknowledged, so pushed). Returns the layout version it reached.
async fn load_round(
    app: &TestApp,
    session: uuid::Uuid,
    host: &TestUser,
    writer: &mut WsClient,
    round: u64,
    version: u64,
) -> u64 {
    app.get(&format!("/v1/sessions/{session}"), &host.token)
        .await
        .assert_status(200);
    app.get("/v1/sessions", &host.token)
        .await
        .assert_status(200);
    // A user who is not a member: refused, 404 as for a session they cannot see (a correct
    // answer, not a failure).
    let stranger = app.create_user("observer").await;
    app.call(
        Method::POST,
        &format!("/v1/sessions/{session}/participants:join"),
        Some(&stranger.token),
        Some(json!({"device": "OR tablet"})),
    )
    .await
    .assert_status(404);
    let observer = member(app, session, "observer", "observer").await;
    join(app, session, &observer).await;
    let reference = format!("load-{round}");
    writer
        .send(
            json!({"type": "layout.update", "ref": reference, "base_version": version,
                     "changes": {"panels": {"p1": {"x": round % 4}}}}),
        )
        .await;
    let ack = writer
        .until(WAIT, "the ack of a layout change", |m| {
            m["type"] == "ack" && m["ref"] == reference.as_str()
        })
        .await;
    ack["layout_version"].as_u64().expect("a layout version")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_computes_every_sli_from_a_server_under_load() {
    let test = "ops::prometheus::prometheus_computes_every_sli_from_a_server_under_load";
    let missing = (!prometheus_installed()).then(|| "prometheus not installed".to_owned());
    if !prerequisites_met(test, missing, REQUIRE_ENV, "bash .ci/install-ops.sh") {
        return;
    }
    if !webrtc_ready(test) {
        return;
    }
    assert!(Path::new(RULES).exists(), "no {RULES}");
    // Every round signs a new user in: more than the default 60 sign-ins a minute.
    let app = spawn_app_with(fresh_sqlite(), |settings| {
        settings.login_per_address_per_minute = 10_000;
        settings.login_per_username_per_minute = 10_000;
    })
    .await;
    let prometheus = Prometheus::start(&app.base).await;
    // Scraping before any load: then every counter's rise is inside Prometheus's windows.
    let deadline = Instant::now() + Duration::from_secs(20);
    while prometheus.value("up{job=\"livesurgery\"}").await != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "Prometheus does not scrape {}/metrics:\n{}",
            app.base,
            prometheus.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let (host, session) = live_session(&app).await;
    let surgeon = member(&app, session, "surgeon", "surgeon").await;
    let viewer = member(&app, session, "observer", "observer").await;
    let (js, jh, jv) = (
        join(&app, session, &surgeon).await,
        join(&app, session, &host).await,
        join(&app, session, &viewer).await,
    );
    let mut writer = WsClient::welcomed(&jh.ws_url, &jh.ws_token, "host").await;
    let _publisher = Peer::publish("surgeon/endoscope", &Sfu::of(&js), "endoscope", 15).await;
    let _subscriber = Peer::subscribe("observer", &Sfu::of(&jv), 1, "").await;

    let rules: Vec<String> = SLIS
        .iter()
        .map(|name| format!("livesurgery:sli_{name}:ratio_rate5m"))
        .chain(PERCENTILES.iter().map(|rule| (*rule).to_owned()))
        .collect();
    let started = Instant::now();
    let mut version = 1;
    let mut round = 0;
    let mut values = Vec::new();
    loop {
        round += 1;
        version = load_round(&app, session, &host, &mut writer, round, version).await;
        values.clear();
        for rule in &rules {
            values.push((rule.as_str(), prometheus.value(rule).await));
        }
        if values.iter().all(|(_, value)| value.is_some()) || started.elapsed() > WITHIN {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let listing: Vec<String> = values
        .iter()
        .map(|(rule, value)| match value {
            Some(v) => format!("  {rule} = {v}"),
            None => format!("  {rule}: NO VALUE"),
        })
        .collect();
    println!(
        "after {round} rounds of load in {:.0} s:\n{}",
        started.elapsed().as_secs_f64(),
        listing.join("\n")
    );
    let missing: Vec<&str> = values
        .iter()
        .filter(|(_, value)| value.is_none())
        .map(|(rule, _)| *rule)
        .collect();
    assert!(
        missing.is_empty(),
        "no value within {WITHIN:?} of load for: {}\n{}\nthe server's metric families:\n{}",
        missing.join(", "),
        listing.join("\n"),
        metric_families(&app).await
    );
    for (rule, value) in &values {
        let value = value.expect("checked above");
        if rule.contains(":sli_") {
            assert!(
                (0.0..=1.0).contains(&value),
                "{rule} = {value}, not a ratio"
            );
        } else {
            assert!(
                value.is_finite() && value >= 0.0,
                "{rule} = {value}, not a duration"
            );
        }
    }
}

/// The `# TYPE` lines of the server's `/metrics`, for a failure message.
async fn metric_families(app: &TestApp) -> String {
    let text = crate::realtime::metrics_text(&app.base).await;
    text.lines()
        .filter(|line| line.starts_with("# TYPE "))
        .collect::<Vec<_>>()
        .join("\n")
}
