//! Recording control and archives over REST: who may start and stop a recording, the
//! archives of a session (listed, read, played, kept), the `ArchiveAccessed` trail of every
//! playback URL, and the media route behind the filesystem store's URLs (HTTP Range, a
//! short-lived token, no other header). The recorder is stood in for by appending its events
//! (`recorder.rs`).

use std::sync::Arc;
use std::time::Duration;

use livesurgery_domain::events::ArchiveStatus;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::recorder::{
    FolderStore, PresigningStore, Recorder, forged, playable_key, presigned, write_test_video,
};
use super::spawn::{Answer, JWT_SECRET, TestApp, TestUser, spawn_app, spawn_app_playing};
use crate::helpers::all_backends;

/// The fields of an archive, exactly (the contract's `Archive`).
const ARCHIVE_FIELDS: [&str; 14] = [
    "id",
    "session_id",
    "source",
    "status",
    "started_at",
    "ended_at",
    "duration_ms",
    "bytes",
    "content_type",
    "expires_at",
    "legal_hold",
    "recording_id",
    "segments",
    "progress",
];

/// A live session hosted by a new surgeon, with a surgeon, an observer (both organisation
/// surgeons) and an organisation observer as members.
struct Cast {
    session: Uuid,
    host: TestUser,
    surgeon: TestUser,
    observer: TestUser,
    watcher: TestUser,
    outsider: TestUser,
}

async fn cast(app: &TestApp) -> Cast {
    let host = app.create_user("surgeon").await;
    let session = app.create_session(&host.token).await;
    let [surgeon, observer, watcher, outsider] = [
        app.create_user("surgeon").await,
        app.create_user("surgeon").await,
        app.create_user("observer").await,
        app.create_user("surgeon").await,
    ];
    app.add_member(session, surgeon.id, "surgeon").await;
    app.add_member(session, observer.id, "observer").await;
    app.add_member(session, watcher.id, "observer").await;
    app.start(session).await;
    Cast {
        session,
        host,
        surgeon,
        observer,
        watcher,
        outsider,
    }
}

async fn post(app: &TestApp, path: &str, token: &str) -> Answer {
    app.call(Method::POST, path, Some(token), None).await
}

/// `GET path` as `token`, after the log position `after`.
async fn get_after(app: &TestApp, path: &str, token: &str, after: u64) -> Answer {
    let request = app
        .request(Method::GET, path, Some(token))
        .header("x-min-position", after.to_string());
    Answer::of(request).await
}

async fn patch(app: &TestApp, archive: Uuid, token: &str, body: Value) -> Answer {
    let path = format!("/v1/archives/{archive}");
    app.call(Method::PATCH, &path, Some(token), Some(body))
        .await
}

/// The audit items of `event_type` that `user` caused, in log order.
async fn audit_of(app: &TestApp, event_type: &str, user: Uuid) -> Vec<Value> {
    let path = format!("/v1/audit?type={event_type}&actor={user}");
    app.all_pages(&path, &app.admin_token).await
}

/// Asserts the one refusal recorded for `user`: on `route`, answered `status`, about `session`.
async fn assert_denied(app: &TestApp, user: Uuid, route: &str, status: u16, session: Uuid) {
    let denied = audit_of(app, "AccessDenied", user).await;
    assert_eq!(denied.len(), 1, "[{}] {denied:?}", app.backend);
    let item = &denied[0];
    assert_eq!(item["data"]["route"], route, "{item}");
    assert_eq!(item["data"]["status"], status, "{item}");
    assert_eq!(item["session_id"], session.to_string(), "{item}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_and_session_surgeons_start_and_stop_recordings_answered_with_the_recording_id() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let c = cast(&app).await;
        let start = format!("/v1/sessions/{}/recordings:start", c.session);
        let stop = format!("/v1/sessions/{}/recordings:stop", c.session);

        let started = post(&app, &start, &c.surgeon.token).await;
        started.assert_status(200);
        let recording = started.uuid("recording_id");
        assert_eq!(
            started.body["position"],
            started.position(),
            "{}",
            started.text
        );
        let session = get_after(
            &app,
            &format!("/v1/sessions/{}", c.session),
            &c.observer.token,
            started.position(),
        )
        .await;
        assert_eq!(
            (session.str("recording"), session.uuid("recording_id")),
            ("recording", recording),
            "[{}]",
            app.backend
        );
        post(&app, &start, &c.host.token)
            .await
            .assert_error(409, "invalid_transition");

        let stopped = post(&app, &stop, &c.host.token).await;
        stopped.assert_status(200);
        assert_eq!(
            stopped.uuid("recording_id"),
            recording,
            "the running one stops"
        );
        post(&app, &stop, &c.surgeon.token)
            .await
            .assert_error(409, "invalid_transition");
        let again = post(&app, &start, &app.admin_token).await;
        again.assert_status(200);
        assert_ne!(again.uuid("recording_id"), recording, "a new recording");

        // Who recorded is the envelope's actor.
        let events = audit_of(&app, "RecordingStarted", c.surgeon.id).await;
        assert_eq!(events.len(), 1, "[{}] {events:?}", app.backend);
        assert_eq!(events[0]["data"]["recording_id"], recording.to_string());
        assert_eq!(audit_of(&app, "RecordingStopped", c.host.id).await.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_may_not_record_outsiders_get_404_and_a_session_must_be_live() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let c = cast(&app).await;
        let start = format!("/v1/sessions/{}/recordings:start", c.session);
        let route = "/v1/sessions/{id}/recordings:start";
        post(&app, &start, &c.observer.token)
            .await
            .assert_error(403, "forbidden");
        assert_denied(&app, c.observer.id, route, 403, c.session).await;
        post(&app, &start, &c.watcher.token)
            .await
            .assert_error(403, "forbidden");
        assert_denied(&app, c.watcher.id, route, 403, c.session).await;
        post(&app, &start, &c.outsider.token)
            .await
            .assert_error(404, "not_found");
        assert_denied(&app, c.outsider.id, route, 404, c.session).await;
        let stop = format!("/v1/sessions/{}/recordings:stop", Uuid::now_v7());
        post(&app, &stop, &app.admin_token)
            .await
            .assert_error(404, "not_found");

        let scheduled = app.create_session(&c.host.token).await;
        let path = format!("/v1/sessions/{scheduled}/recordings:start");
        post(&app, &path, &c.host.token)
            .await
            .assert_error(409, "invalid_transition");
        assert!(
            audit_of(&app, "RecordingStarted", c.host.id)
                .await
                .is_empty()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_and_reviewers_list_and_read_a_sessions_archives_and_outsiders_get_404() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let c = cast(&app).await;
        let recorder = Recorder::open(&app).await;
        let recording = Uuid::now_v7();
        let mut archives = Vec::new();
        let mut last = 0;
        for (source, status) in [
            ("endoscope", ArchiveStatus::Ready),
            ("room-cam", ArchiveStatus::Processing),
            ("vitals", ArchiveStatus::Recording),
        ] {
            let (id, position) = recorder.archive(c.session, recording, source, status).await;
            archives.push(id);
            last = position;
        }
        let list = format!("/v1/sessions/{}/archives", c.session);
        let first = get_after(&app, &format!("{list}?limit=2"), &c.watcher.token, last).await;
        first.assert_status(200);
        let items = first.body["items"].as_array().expect("items");
        let ids: Vec<Uuid> = items
            .iter()
            .map(|a| a["id"].as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(ids, archives[..2], "[{}] in recording order", app.backend);
        let cursor = first.str("next_cursor").to_owned();
        let second = app
            .get(&format!("{list}?limit=2&cursor={cursor}"), &c.watcher.token)
            .await;
        second.assert_status(200);
        assert_eq!(second.body["items"][0]["id"], archives[2].to_string());
        assert_eq!(second.body["next_cursor"], Value::Null);

        let ready = &items[0];
        let mut fields: Vec<&str> = ready
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort();
        let mut expected = ARCHIVE_FIELDS.to_vec();
        expected.sort();
        assert_eq!(fields, expected, "{ready}");
        assert_eq!(
            (
                &ready["status"],
                &ready["source"],
                &ready["content_type"],
                &ready["bytes"]
            ),
            (
                &json!("ready"),
                &json!("endoscope"),
                &json!("video/mp4"),
                &json!(1_800)
            )
        );
        assert_eq!(
            (&ready["segments"], &ready["duration_ms"]),
            (&json!(2), &json!(7_900))
        );
        assert_eq!(
            (&ready["recording_id"], &ready["legal_hold"]),
            (&json!(recording.to_string()), &json!(false))
        );
        assert_eq!(
            (&ready["progress"], &items[1]["progress"]),
            (&Value::Null, &Value::Null)
        );
        assert_eq!(
            (&items[1]["status"], &items[1]["bytes"]),
            (&json!("processing"), &json!(2_000))
        );
        assert!(ready["ended_at"].is_string() && ready["started_at"].is_string());

        let one = format!("/v1/archives/{}", archives[1]);
        let reviewer = app.create_user("reviewer").await;
        for token in [&c.host.token, &reviewer.token, &app.admin_token] {
            let got = app.get(&one, token).await;
            got.assert_status(200);
            assert_eq!(got.body["status"], "processing", "{}", got.text);
        }
        assert_eq!(app.get(&list, &reviewer.token).await.status, 200);
        app.get(&one, &c.outsider.token)
            .await
            .assert_error(404, "not_found");
        app.get(&list, &c.outsider.token)
            .await
            .assert_error(404, "not_found");
        let unknown = format!("/v1/archives/{}", Uuid::now_v7());
        app.get(&unknown, &app.admin_token)
            .await
            .assert_error(404, "not_found");
        // A rebuild of the projection (the admin endpoint) gives the same list.
        let rebuild = "/v1/admin/projections/archives:rebuild";
        post(&app, rebuild, &app.admin_token)
            .await
            .assert_status(202);
        assert_eq!(app.wait_for_rebuild("archives").await["generation"], 2);
        let rebuilt = app.all_pages(&list, &c.watcher.token).await;
        let rebuilt: Vec<&str> = rebuilt.iter().map(|a| a["id"].as_str().unwrap()).collect();
        let expected: Vec<String> = archives.iter().map(Uuid::to_string).collect();
        assert_eq!(rebuilt, expected, "[{}]", app.backend);
        app.get(&format!("{list}?limit=0"), &c.host.token)
            .await
            .assert_error(400, "invalid_limit");
        // Reads record nothing.
        assert!(
            audit_of(&app, "AccessDenied", c.outsider.id)
                .await
                .is_empty()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_playback_url_handed_out_is_recorded_with_who_got_it_and_outsiders_get_404() {
    for db in all_backends().await {
        let store = FolderStore::new();
        let app = spawn_app_playing(db, |_| {}, Some(store.clone())).await;
        let c = cast(&app).await;
        let recorder = Recorder::open(&app).await;
        let (archive, last) = recorder
            .archive(c.session, Uuid::now_v7(), "endoscope", ArchiveStatus::Ready)
            .await;
        let path = format!("/v1/archives/{archive}/playback");

        let reviewer = app.create_user("reviewer").await;
        for user in [&c.watcher, &reviewer] {
            let played = get_after(&app, &path, &user.token, last).await;
            played.assert_status(200);
            let prefix = format!("{}/v1/archives/{archive}/media?token=", app.base);
            assert!(played.str("url").starts_with(&prefix), "{}", played.text);
            assert_eq!(played.str("content_type"), "video/mp4");
            let expires_at: chrono::DateTime<chrono::Utc> =
                played.str("expires_at").parse().unwrap();
            let ttl = expires_at - chrono::Utc::now();
            assert!(
                ttl > chrono::Duration::seconds(290) && ttl <= chrono::Duration::seconds(300),
                "{ttl}"
            );

            let accessed = audit_of(&app, "ArchiveAccessed", user.id).await;
            assert_eq!(accessed.len(), 1, "[{}] {accessed:?}", app.backend);
            let event = &accessed[0];
            assert_eq!(event["position"], played.position(), "{event}");
            assert_eq!(event["stream"], format!("session-{}", c.session));
            assert_eq!(event["data"]["user_id"], user.id.to_string());
            assert_eq!(event["data"]["archive_id"], archive.to_string());
            assert_eq!(
                event["actor_role"],
                if user.id == reviewer.id {
                    "reviewer"
                } else {
                    "observer"
                }
            );
            let url_expires: chrono::DateTime<chrono::Utc> = event["data"]["url_expires_at"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(url_expires, expires_at, "{event}");
        }
        for token in [&c.outsider.token] {
            get_after(&app, &path, token, last)
                .await
                .assert_error(404, "not_found");
        }
        assert_denied(
            &app,
            c.outsider.id,
            "/v1/archives/{id}/playback",
            404,
            c.session,
        )
        .await;
        assert!(
            audit_of(&app, "ArchiveAccessed", c.outsider.id)
                .await
                .is_empty()
        );
        let unknown = format!("/v1/archives/{}/playback", Uuid::now_v7());
        app.get(&unknown, &c.host.token)
            .await
            .assert_error(404, "not_found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_ready_and_incomplete_archives_play_and_nothing_is_recorded_otherwise() {
    for db in all_backends().await {
        let app = spawn_app_playing(db, |_| {}, Some(Arc::new(PresigningStore))).await;
        let c = cast(&app).await;
        let recorder = Recorder::open(&app).await;
        let recording = Uuid::now_v7();
        for status in [
            ArchiveStatus::Recording,
            ArchiveStatus::Processing,
            ArchiveStatus::Failed,
            ArchiveStatus::Expired,
        ] {
            let (archive, last) = recorder
                .archive(c.session, recording, "endoscope", status)
                .await;
            let path = format!("/v1/archives/{archive}/playback");
            get_after(&app, &path, &c.host.token, last)
                .await
                .assert_error(409, "archive_not_playable");
        }
        assert!(
            audit_of(&app, "ArchiveAccessed", c.host.id)
                .await
                .is_empty()
        );

        let (archive, last) = recorder
            .archive(c.session, recording, "room-cam", ArchiveStatus::Incomplete)
            .await;
        let played = get_after(
            &app,
            &format!("/v1/archives/{archive}/playback"),
            &c.host.token,
            last,
        )
        .await;
        played.assert_status(200);
        // The object store's own URL, as it signed it.
        assert_eq!(
            played.str("url"),
            presigned(&playable_key(archive), Duration::from_secs(300))
        );
        assert_eq!(audit_of(&app, "ArchiveAccessed", c.host.id).await.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_object_in_the_archive_store_playback_is_unavailable_and_unrecorded() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let c = cast(&app).await;
        let recorder = Recorder::open(&app).await;
        let (archive, last) = recorder
            .archive(c.session, Uuid::now_v7(), "endoscope", ArchiveStatus::Ready)
            .await;
        let path = format!("/v1/archives/{archive}/playback");
        get_after(&app, &path, &c.host.token, last)
            .await
            .assert_error(503, "playback_unavailable");
        assert!(
            audit_of(&app, "ArchiveAccessed", c.host.id)
                .await
                .is_empty()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_media_url_plays_with_http_range_and_no_other_header_and_only_with_its_token() {
    if !crate::recording::media_tools("the_media_url_plays_with_http_range…") {
        return;
    }
    for db in all_backends().await {
        let store = FolderStore::new();
        let app = spawn_app_playing(db, |_| {}, Some(store.clone())).await;
        let c = cast(&app).await;
        let recorder = Recorder::open(&app).await;
        let recording = Uuid::now_v7();
        let (archive, _) = recorder
            .archive(c.session, recording, "endoscope", ArchiveStatus::Ready)
            .await;
        let (other, last) = recorder
            .archive(c.session, recording, "room-cam", ArchiveStatus::Ready)
            .await;
        let file = store.path(&playable_key(archive));
        assert!(write_test_video(&file));
        let bytes = std::fs::read(&file).unwrap();

        let played = get_after(
            &app,
            &format!("/v1/archives/{archive}/playback"),
            &c.watcher.token,
            last,
        )
        .await;
        played.assert_status(200);
        let url = played.str("url").to_owned();
        let client = reqwest::Client::new();
        let whole = client.get(&url).send().await.unwrap();
        assert_eq!(whole.status(), 200);
        assert_eq!(whole.headers()["content-type"], "video/mp4");
        assert_eq!(whole.headers()["accept-ranges"], "bytes");
        assert_eq!(whole.bytes().await.unwrap(), bytes, "[{}]", app.backend);
        let part = client
            .get(&url)
            .header("range", "bytes=100-299")
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), 206, "[{}]", app.backend);
        let range = format!("bytes 100-299/{}", bytes.len());
        assert_eq!(part.headers()["content-range"], range.as_str());
        assert_eq!(part.bytes().await.unwrap(), bytes[100..300]);
        let probed = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
                &url,
            ])
            .output()
            .unwrap();
        let duration: f64 = String::from_utf8_lossy(&probed.stdout)
            .trim()
            .parse()
            .unwrap_or(0.0);
        assert!(
            (1.9..2.1).contains(&duration),
            "ffprobe read {duration} s: {probed:?}"
        );

        let token = url.split_once("token=").unwrap().1.to_owned();
        let app = &app;
        let media = |id: Uuid, query: String| {
            let path = format!("/v1/archives/{id}/media{query}");
            async move { app.call(Method::GET, &path, None, None).await }
        };
        media(archive, String::new())
            .await
            .assert_error(401, "missing_token");
        media(archive, format!("?token={token}x"))
            .await
            .assert_error(401, "invalid_token");
        let expired = forged(&token, archive, -5, JWT_SECRET);
        media(archive, format!("?token={expired}"))
            .await
            .assert_error(401, "token_expired");
        let foreign = forged(
            &token,
            archive,
            60,
            "another-key-0123456789abcdef0123456789",
        );
        media(archive, format!("?token={foreign}"))
            .await
            .assert_error(401, "invalid_token");
        media(other, format!("?token={token}"))
            .await
            .assert_error(403, "wrong_archive");
        // An access token is not a playback token.
        let access = format!("?token={}", c.watcher.token);
        media(archive, access)
            .await
            .assert_error(401, "invalid_token");
        // The file of an archive without one: still the envelope, no path.
        let other_token = forged(&token, other, 60, JWT_SECRET);
        media(other, format!("?token={other_token}"))
            .await
            .assert_error(404, "not_found");
        // Fetching media records nothing more: the URL was recorded when handed out.
        assert_eq!(
            audit_of(app, "ArchiveAccessed", c.watcher.id).await.len(),
            1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_change_retention_a_legal_hold_sticks_and_past_expiries_are_refused() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        let c = cast(&app).await;
        let recorder = Recorder::open(&app).await;
        let recording = Uuid::now_v7();
        let (archive, last) = recorder
            .archive(c.session, recording, "endoscope", ArchiveStatus::Ready)
            .await;
        assert_eq!(
            get_after(
                &app,
                &format!("/v1/archives/{archive}"),
                &app.admin_token,
                last
            )
            .await
            .status,
            200
        );
        let route = "/v1/archives/{id}";
        patch(&app, archive, &c.host.token, json!({"legal_hold": true}))
            .await
            .assert_error(403, "forbidden");
        assert_denied(&app, c.host.id, route, 403, c.session).await;
        patch(
            &app,
            archive,
            &c.outsider.token,
            json!({"legal_hold": true}),
        )
        .await
        .assert_error(404, "not_found");
        assert_denied(&app, c.outsider.id, route, 404, c.session).await;

        let held = patch(&app, archive, &app.admin_token, json!({"legal_hold": true})).await;
        held.assert_status(200);
        assert_eq!(
            held.body["legal_hold"], true,
            "[{}] {}",
            app.backend, held.text
        );
        let changed = audit_of(&app, "ArchiveRetentionChanged", app.admin_id).await;
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0]["position"], held.position());
        patch(&app, archive, &app.admin_token, json!({"legal_hold": true}))
            .await
            .assert_error(409, "no_change");

        let in_400_days = chrono::Utc::now().timestamp() + 400 * 24 * 3600;
        let later = chrono::DateTime::from_timestamp(in_400_days, 0)
            .unwrap()
            .to_rfc3339();
        let kept = patch(
            &app,
            archive,
            &app.admin_token,
            json!({"expires_at": later}),
        )
        .await;
        kept.assert_status(200);
        let expires_at: chrono::DateTime<chrono::Utc> = kept.str("expires_at").parse().unwrap();
        assert_eq!(expires_at.to_rfc3339(), later, "{}", kept.text);
        assert_eq!(
            kept.body["legal_hold"], true,
            "an expiry change keeps the hold"
        );

        let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
        patch(&app, archive, &app.admin_token, json!({"expires_at": past}))
            .await
            .assert_error(422, "validation_failed");
        patch(&app, archive, &app.admin_token, json!({}))
            .await
            .assert_error(422, "validation_failed");
        patch(
            &app,
            archive,
            &app.admin_token,
            json!({"legal_hold": "yes"}),
        )
        .await
        .assert_error(422, "invalid_body");
        let (gone, last) = recorder
            .archive(c.session, recording, "room-cam", ArchiveStatus::Expired)
            .await;
        assert_eq!(
            get_after(
                &app,
                &format!("/v1/archives/{gone}"),
                &app.admin_token,
                last
            )
            .await
            .status,
            200
        );
        patch(&app, gone, &app.admin_token, json!({"legal_hold": true}))
            .await
            .assert_error(409, "invalid_transition");
        assert_eq!(
            audit_of(&app, "ArchiveRetentionChanged", app.admin_id)
                .await
                .len(),
            2
        );
    }
}
