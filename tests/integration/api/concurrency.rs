//! Many writers on one layout at once, through two server processes: every accepted write is one version and one event, none
//! is lost or counted twice, and a refused one leaves no trace.

use std::collections::BTreeSet;

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use super::spawn::spawn_app;
use crate::helpers::all_backends;

const WRITERS: usize = 20;
const WRITES_EACH: usize = 5;

/// What one PATCH got.
enum Outcome {
    Accepted { version: u64, position: u64 },
    VersionConflict,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_layout_writers_lose_nothing_and_duplicate_nothing() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        // Half the writers go through a second server process over the same log: its commands
        // race the first one's at the store, not only in one process.
        let other = app.sibling(|_| {}).await;
        let started = std::time::Instant::now();
        let session = app.create_session(&app.admin_token).await;
        let writers = join_all((0..WRITERS).map(|_| app.create_user("surgeon"))).await;
        join_all(
            writers
                .iter()
                .map(|w| app.add_member(session, w.id, "surgeon")),
        )
        .await;
        let path = format!("/v1/sessions/{session}/layout");

        let outcomes: Vec<Outcome> = join_all(writers.iter().enumerate().map(|(i, writer)| {
            let server = if i % 2 == 0 { &app } else { &other };
            let path = &path;
            async move {
                let mut base_version = 1;
                let mut outcomes = Vec::new();
                for n in 0..WRITES_EACH {
                    let panel = format!("p{}", rand::random_range(1..=4));
                    // w = h = 6 on the 12x12 grid: any x, y in 0..=6 is valid. A z of its own
                    // makes every write a change, so none is refused as `no_change`.
                    let z = i * WRITES_EACH + n + 1;
                    let patch = json!({
                        "x": rand::random_range(0..=6),
                        "y": rand::random_range(0..=6),
                        "z": z,
                    });
                    let body = json!({"base_version": base_version, "changes": {"panels": {panel: patch}}});
                    let answer = server
                        .call(Method::PATCH, path, Some(&writer.token), Some(body))
                        .await;
                    match answer.status {
                        200 => {
                            let version = answer.body["version"].as_u64().expect("a version");
                            assert_eq!(answer.body["layout"]["version"], version);
                            base_version = version;
                            outcomes.push(Outcome::Accepted {
                                version,
                                position: answer.position(),
                            });
                        }
                        _ => {
                            answer.assert_error(409, "version_conflict");
                            assert!(
                                answer.body["error"]["current_version"].is_u64(),
                                "a version_conflict names the current version: {}",
                                answer.text
                            );
                            outcomes.push(Outcome::VersionConflict);
                        }
                    }
                }
                outcomes
            }
        }))
        .await
        .into_iter()
        .flatten()
        .collect();

        let accepted: Vec<(u64, u64)> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Accepted { version, position } => Some((*version, *position)),
                Outcome::VersionConflict => None,
            })
            .collect();
        let conflicts = outcomes.len() - accepted.len();
        println!(
            "[{}] {} layout writes: {} accepted, {conflicts} version_conflict, in {:.1} s",
            app.backend,
            outcomes.len(),
            accepted.len(),
            started.elapsed().as_secs_f64()
        );
        assert!(!accepted.is_empty(), "no write was accepted");
        let versions: BTreeSet<u64> = accepted.iter().map(|(v, _)| *v).collect();
        let positions: BTreeSet<u64> = accepted.iter().map(|(_, p)| *p).collect();
        assert_eq!(
            versions.len(),
            accepted.len(),
            "two answers got one version"
        );
        assert_eq!(
            positions.len(),
            accepted.len(),
            "two answers got one position"
        );
        // Nothing else changes this layout: its versions after the initial 1 are exactly the
        // accepted writes, without a gap.
        let expected_versions: BTreeSet<u64> = (2..=accepted.len() as u64 + 1).collect();
        assert_eq!(versions, expected_versions);

        let history = app
            .all_pages_of(&format!("{path}/versions"), &app.admin_token, 7)
            .await;
        assert_eq!(
            history.len(),
            accepted.len() + 1,
            "one version per accepted write"
        );
        assert_eq!(history[0]["version"], 1);
        assert_eq!(history[0]["kind"], "initialized");
        let listed: BTreeSet<(u64, u64)> = history[1..]
            .iter()
            .map(|v| {
                let version = v["version"].as_u64().expect("a version");
                (version, v["position"].as_u64().expect("a position"))
            })
            .collect();
        let answered: BTreeSet<(u64, u64)> = accepted.iter().copied().collect();
        assert_eq!(
            listed, answered,
            "the history is the accepted writes, at their positions"
        );

        let events = app
            .all_pages(
                &format!("/v1/sessions/{session}/events?type=LayoutUpdated"),
                &app.admin_token,
            )
            .await;
        assert_eq!(
            events.len(),
            accepted.len(),
            "one LayoutUpdated per 2xx answer"
        );
        let logged: BTreeSet<u64> = events
            .iter()
            .map(|e| e["position"].as_u64().expect("a position"))
            .collect();
        assert_eq!(
            logged, positions,
            "each X-Position is its own event in the log"
        );

        let layout = app.get(&path, &app.admin_token).await;
        layout.assert_status(200);
        assert_eq!(layout.body["version"], accepted.len() as u64 + 1);
    }
}
