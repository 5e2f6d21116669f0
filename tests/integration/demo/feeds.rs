//! The synthetic publishers of demo mode against a real server and an independent peer: the
//! three built-in clips published in-process into the server's SFU, watched over WHEP by aiortc
//! (`tests/webrtc/peer.py`), which must decode each of them without a break for longer than a
//! clip (so across the loop's seam); the sources list and the log tell of them as of any
//! publisher. Skipped loudly where aiortc is not installed, unless `LIVESURGERY_REQUIRE_WEBRTC=1`.

use std::time::{Duration, Instant};

use livesurgery::demo::feeds::{SyntheticPublisher, builtin};
use livesurgery::sfu::PeerInfo;
use livesurgery_domain::roles::OrgRole;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::spawn::spawn_app;
use crate::helpers::fresh_sqlite;
use crate::realtime::{join, live_session, member, session_events};
use crate::sfu::support::{Peer, Sfu, frames, is, listing, wait_for_event, webrtc_ready};

/// How long to wait for what should come at once.
const WAIT: Duration = Duration::from_secs(15);
/// Past a loop, this much more must be seen.
const MARGIN: Duration = Duration::from_secs(3);
/// The longest pause between two reported frames (every 10th) of a moving picture.
const LONGEST_PAUSE: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_synthetic_feeds_play_on_across_their_loop_and_the_log_tells_it() {
    if !webrtc_ready("the_synthetic_feeds_play_on_across_their_loop") {
        return;
    }
    let app = spawn_app(fresh_sqlite()).await;
    let sfu = app
        .sfu
        .clone()
        .expect("the test server runs in this process");
    let (host, session) = live_session(&app).await;
    let joined = join(&app, session, &host).await;
    let clips = builtin().expect("the built-in clips");
    let longest = clips.iter().map(|(_, c)| c.length).max().expect("clips");
    let mut publishers = Vec::new();
    let mut resources = Vec::new();
    for (label, clip) in clips {
        let info = PeerInfo {
            resource_id: Uuid::now_v7(),
            session_id: session,
            participant_id: joined.participant_id,
            user_id: host.id,
            org_role: OrgRole::Surgeon,
        };
        resources.push((label.clone(), info.resource_id));
        publishers.push(SyntheticPublisher::start(sfu.clone(), info, label, clip));
    }
    for (label, resource) in &resources {
        let track =
            json!({"resource_id": resource, "source": label, "kind": "video", "codec": "vp8"});
        wait_for_event(&app, session, WAIT, "TrackPublished", track).await;
    }
    let audio = json!({"source": "room-camera", "kind": "audio", "codec": "opus"});
    wait_for_event(&app, session, WAIT, "TrackPublished", audio).await;

    let observer = member(&app, session, "observer", "observer").await;
    let media = app
        .get(&format!("/v1/sessions/{session}/media"), &observer.token)
        .await;
    media.assert_status(200);
    let mut labels: Vec<&str> = media.body["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| s["source"].as_str().expect("a label"))
        .collect();
    labels.sort_unstable();
    assert_eq!(
        labels,
        ["endoscope", "room-camera", "vitals"],
        "{}",
        media.text
    );

    let watcher = Sfu::of(&join(&app, session, &observer).await);
    let query = "?slots=endoscope,room-camera,vitals";
    let mut subscriber = Peer::subscribe("observer", &watcher, 3, query).await;
    let started = Instant::now();
    while started.elapsed() < longest + MARGIN {
        subscriber.next(Duration::from_secs(1)).await;
    }
    let log = subscriber.quit().await;
    for slot in 0..3 {
        let seen = frames(&log, slot);
        let times: Vec<f64> = seen.iter().filter_map(|l| l["t"].as_f64()).collect();
        let (Some(first), Some(last)) = (times.first(), times.last()) else {
            panic!("slot {slot} decoded no frame:\n{}", tail(&log));
        };
        let span = Duration::from_secs_f64(last - first);
        assert!(
            span > longest,
            "slot {slot}: frames over {span:?} only, not past a loop of {longest:?}"
        );
        let pause = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        assert!(
            Duration::from_secs_f64(pause) < LONGEST_PAUSE,
            "slot {slot}: the picture stopped for {pause:.2} s: {times:?}"
        );
        for line in &seen {
            assert_eq!(
                (&line["width"], &line["height"]),
                (&json!(640), &json!(360)),
                "slot {slot}: {line}"
            );
        }
        // 15 frames a second, less what the start and a busy machine cost.
        let decoded = seen.last().and_then(|l| l["n"].as_u64()).unwrap_or(0);
        println!("slot {slot}: {decoded} frames decoded over {span:?}, longest pause {pause:.2} s");
        assert!(
            decoded as f64 >= span.as_secs_f64() * 15.0 * 0.8,
            "slot {slot}: {decoded} frames decoded in {span:?}"
        );
    }

    for publisher in publishers {
        publisher.stop().await;
    }
    for (label, resource) in &resources {
        let left = json!({"resource_id": resource, "source": label});
        wait_for_event(&app, session, WAIT, "PublisherDisconnected", left).await;
    }
    let events = session_events(&app, session).await;
    for (label, _) in &resources {
        let connected = json!({"source": label, "participant_id": joined.participant_id});
        assert!(
            events
                .iter()
                .any(|e| is(e, "PublisherConnected", &connected)),
            "no PublisherConnected of {label}:\n{}",
            listing(&events)
        );
    }
    let left = app
        .get(&format!("/v1/sessions/{session}/media"), &observer.token)
        .await;
    assert_eq!(left.body["sources"], json!([]), "{}", left.text);
}

/// The last lines of a peer's output, for a failure message.
fn tail(log: &[Value]) -> String {
    let from = log.len().saturating_sub(20);
    log[from..]
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
