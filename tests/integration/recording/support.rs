//! What the recording tests share: starting and stopping a recording, waiting for an archive,
//! and reading a playback URL back with ffprobe and with the aiortc peer's pattern reader.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use tokio::process::Command;
use uuid::Uuid;

use crate::api::spawn::{TestApp, TestUser};
use crate::sfu::support::{PEER, python};

/// POSTs `recordings:start` or `recordings:stop`; the answer's `recording_id`.
pub async fn recording(app: &TestApp, session: Uuid, user: &TestUser, verb: &str) -> Uuid {
    let answer = app
        .call(
            Method::POST,
            &format!("/v1/sessions/{session}/recordings:{verb}"),
            Some(&user.token),
            None,
        )
        .await;
    answer.assert_status(200);
    answer.uuid("recording_id")
}

/// The session's archives, as `token` sees them.
pub async fn archives(app: &TestApp, session: Uuid, token: &str) -> Vec<Value> {
    app.all_pages(&format!("/v1/sessions/{session}/archives"), token)
        .await
}

/// Waits until the session has an archive of `source` whose status is one of `statuses`;
/// returns it. Fails with the archives seen after `within`.
pub async fn wait_for_archive(
    app: &TestApp,
    session: Uuid,
    source: &str,
    statuses: &[&str],
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let seen = archives(app, session, &app.admin_token).await;
        if let Some(found) = seen
            .iter()
            .find(|a| a["source"] == source && statuses.iter().any(|s| a["status"] == *s))
        {
            return found.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {source} archive in {statuses:?} within {within:?}; archives: {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `GET /v1/archives/{id}/playback` as `token`: `{url, content_type, expires_at}`.
pub async fn playback(app: &TestApp, archive: &str, token: &str) -> Value {
    let answer = app
        .call(
            Method::GET,
            &format!("/v1/archives/{archive}/playback"),
            Some(token),
            None,
        )
        .await;
    answer.assert_status(200);
    answer.body
}

/// What ffprobe says of `url`: `{format: {duration, ...}, streams: [...]}`; fails on any
/// error ffprobe reports.
pub async fn ffprobe(url: &str) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            url,
        ])
        .output()
        .await
        .expect("ffprobe runs (apt-get install ffmpeg)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffprobe {url}: {stderr}"
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe's JSON")
}

/// The aiortc peer's reading of the recording at `url` (`peer.py inspect`): streams, duration,
/// frames decoded and the pattern counters they show.
pub async fn inspect(url: &str) -> Value {
    let python = python().expect("webrtc_ready() was checked first");
    let out = Command::new(python)
        .args([PEER, "inspect", "--media", url])
        .output()
        .await
        .expect("peer.py runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("\"inspected\""))
        .unwrap_or_else(|| {
            panic!(
                "peer.py inspect {url} said nothing: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(line).expect("a JSON line")
}
