//! Sessions over HTTP: what joining hands out, read-your-writes, idempotent retries.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use livesurgery::auth::Keys;
use livesurgery::auth::tokens::{AUDIENCE_SFU, AUDIENCE_WS};
use livesurgery_projections::ReadModels;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::spawn::{Answer, JWT_SECRET, TestApp, jwt_claims, spawn_app};
use crate::helpers::all_backends;

async fn join(app: &TestApp, session: Uuid, token: &str) -> Answer {
    let path = format!("/v1/sessions/{session}/participants:join");
    let body = json!({"device": "OR tablet"});
    app.call(Method::POST, &path, Some(token), Some(body)).await
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_hands_out_ws_and_sfu_tokens_for_exactly_that_participant_and_role() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let (host, surgeon, observer, outsider) = futures::join!(
            app.create_user("surgeon"),
            app.create_user("surgeon"),
            app.create_user("observer"),
            app.create_user("surgeon"),
        );
        let session = app.create_session(&host.token).await;
        app.add_member(session, surgeon.id, "observer").await;
        app.add_member(session, observer.id, "surgeon").await;

        join(&app, session, &host.token)
            .await
            .assert_error(409, "invalid_transition");
        app.start(session).await;
        join(&app, session, &outsider.token)
            .await
            .assert_error(404, "not_found");

        let keys = Keys::new(JWT_SECRET.as_bytes());
        let all_perms = ["publish", "subscribe", "edit_layout"];
        let cases = [
            (&host, "host", &all_perms[..]),
            (&surgeon, "observer", &["subscribe"][..]),
            (&observer, "surgeon", &["subscribe"][..]),
        ];
        let mut joined_participants = BTreeSet::new();
        for (user, role, perms) in cases {
            let who = format!("[{}] {} as session {role}", app.backend, user.username);
            let joined = join(&app, session, &user.token).await;
            joined.assert_status(201);
            let participant = joined.uuid("participant_id");
            assert_eq!(joined.str("role"), role, "{who}");
            assert_eq!(strings(&joined.body["permissions"]), set(perms), "{who}");
            let expires_at: DateTime<Utc> = joined.str("expires_at").parse().expect("RFC 3339");
            let ws = joined.body["ws"]["token"].as_str().expect("a ws token");
            let sfu = joined.body["sfu"]["token"].as_str().expect("an sfu token");
            assert!(
                joined.body["ws"]["url"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("ws://")
                        && u.ends_with(&format!("/v1/sessions/{session}/ws"))),
                "{who}: {}",
                joined.text
            );
            for (token, audience) in [(ws, AUDIENCE_WS), (sfu, AUDIENCE_SFU)] {
                let claims = jwt_claims(token);
                assert_eq!(claims["sub"], user.id.to_string(), "{who}: {claims}");
                assert_eq!(claims["sid"], session.to_string(), "{who}: {claims}");
                assert_eq!(claims["pid"], participant.to_string(), "{who}: {claims}");
                assert_eq!(claims["role"], role, "{who}: {claims}");
                assert_eq!(strings(&claims["perms"]), set(perms), "{who}: {claims}");
                assert_eq!(claims["aud"], audience, "{who}: {claims}");
                let exp = claims["exp"].as_i64().expect("exp");
                assert!(
                    (exp - expires_at.timestamp()).abs() <= 1,
                    "{who}: exp {exp} vs expires_at {expires_at}"
                );
                assert!(
                    keys.verify_join(token, audience).is_ok(),
                    "{who}: {audience}"
                );
            }
            assert_ne!(jwt_claims(ws)["aud"], jwt_claims(sfu)["aud"]);
            assert!(keys.verify_join(ws, AUDIENCE_SFU).is_err(), "{who}");
            assert!(keys.verify_join(sfu, AUDIENCE_WS).is_err(), "{who}");
            // A join token opens the media paths, not the REST API.
            app.get("/v1/users/me", ws)
                .await
                .assert_error(401, "invalid_token");
            joined_participants.insert((participant.to_string(), user.id.to_string(), role));
        }

        let listed = app
            .get(
                &format!("/v1/sessions/{session}/participants"),
                &observer.token,
            )
            .await;
        listed.assert_status(200);
        let present: BTreeSet<(String, String, &str)> = listed.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| {
                let role = ["host", "surgeon", "observer"]
                    .into_iter()
                    .find(|r| p["role"] == *r)
                    .expect("a session role");
                (
                    p["participant_id"].as_str().unwrap().to_owned(),
                    p["user_id"].as_str().unwrap().to_owned(),
                    role,
                )
            })
            .collect();
        assert_eq!(present, joined_participants, "{}", listed.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_sent_with_a_writes_position_sees_the_write_even_on_another_server() {
    for db in all_backends().await {
        let writer = spawn_app(db).await;
        println!("[{}]", writer.backend);
        // A second server over the same database: it learns of the writer's appends only by
        // watching the log.
        let reader = writer.sibling(|_| {}).await;
        let token = &writer.admin_token;

        let created = writer
            .call(
                Method::POST,
                "/v1/sessions",
                Some(token),
                Some(json!({"title": "Read your writes"})),
            )
            .await;
        created.assert_status(201);
        let session = created.uuid("id");
        let path = format!("/v1/sessions/{session}");
        let read = reader
            .request(Method::GET, &path, Some(token))
            .header("x-min-position", created.position().to_string());
        let read = Answer::of(read).await;
        read.assert_status(200);
        assert_eq!(read.uuid("id"), session);

        let renamed = writer
            .call(
                Method::PATCH,
                &path,
                Some(token),
                Some(json!({"title": "Renamed"})),
            )
            .await;
        renamed.assert_status(200);
        let read = reader
            .get(
                &format!("{path}?min_position={}", renamed.position()),
                token,
            )
            .await;
        read.assert_status(200);
        assert_eq!(read.str("title"), "Renamed");
    }
}

/// Renames the projections' checkpoint table (`back` renames it back): while it is away every
/// projection batch fails and is retried, so the read models stop advancing. Fault injection,
/// tied to the read-model schema.
async fn stall_projections(app: &TestApp, back: bool) {
    let read_models = ReadModels::connect(&app.db_url)
        .await
        .expect("connecting to the read models");
    let (from, to) = ("rm_checkpoints", "rm_checkpoints_stalled");
    let (from, to) = if back { (to, from) } else { (from, to) };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE {from} RENAME TO {to}"
    )))
    .execute(read_models.pool())
    .await
    .expect("renaming the checkpoint table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_whose_position_the_read_models_do_not_reach_in_time_is_503_not_caught_up() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        // Reads go to a second server that waits only 200 ms (writes answer from the read
        // models, so they keep the default wait).
        let impatient = app.sibling(|s| s.read_wait_ms = 200).await;
        let token = &app.admin_token;
        let session = app.create_session(token).await;
        let path = format!("/v1/sessions/{session}/layout");

        stall_projections(&app, false).await;
        let change = json!({"base_version": 1, "changes": {"panels": {"p2": {"y": 0, "x": 0}}}});
        let written = app
            .call(Method::PATCH, &path, Some(token), Some(change))
            .await;
        written.assert_status(200);
        let position = written.position();
        let read = || {
            impatient
                .request(Method::GET, &path, Some(token))
                .header("x-min-position", position.to_string())
        };
        let started = Instant::now();
        let stale = Answer::of(read()).await;
        stale.assert_error(503, "not_caught_up");
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "it waited first"
        );
        assert!(stale.header("retry-after").is_some(), "a Retry-After");
        impatient
            .get(&format!("{path}?min_position={position}"), token)
            .await
            .assert_error(503, "not_caught_up");

        // Once the read models move again, the same read sees the write.
        stall_projections(&app, true).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let fresh = loop {
            let answer = Answer::of(read()).await;
            if answer.status != 503 || Instant::now() > deadline {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        fresh.assert_status(200);
        assert_eq!(fresh.body["version"], 2, "{}", fresh.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_or_unreachable_min_position_is_refused_with_400() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let token = &app.admin_token;
        let malformed = app
            .request(Method::GET, "/v1/sessions", Some(token))
            .header("x-min-position", "soon");
        Answer::of(malformed)
            .await
            .assert_error(400, "invalid_min_position");
        for query in ["min_position=-1", "min_position=1&min_position=2"] {
            app.get(&format!("/v1/sessions?{query}"), token)
                .await
                .assert_error(400, "invalid_min_position");
        }
        // Past the end of the log: no write has that position, so waiting would be in vain.
        let started = Instant::now();
        app.get("/v1/sessions?min_position=1000000000000", token)
            .await
            .assert_error(400, "invalid_min_position");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused without waiting"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_retried_with_the_same_idempotency_key_makes_one_session_and_replays_the_answer() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let (surgeon, colleague) =
            futures::join!(app.create_user("surgeon"), app.create_user("surgeon"));
        let key = format!("create-{}", Uuid::new_v4());
        let create = |token: &str, body: Value| {
            let request = app
                .request(Method::POST, "/v1/sessions", Some(token))
                .header("idempotency-key", &key)
                .json(&body);
            Answer::of(request)
        };
        let body = json!({"title": "Idempotent", "procedure": "Appendectomy"});

        let first = create(&surgeon.token, body.clone()).await;
        first.assert_status(201);
        assert_eq!(first.header("idempotent-replayed"), None);
        let retry = create(&surgeon.token, body.clone()).await;
        retry.assert_status(201);
        assert_eq!(retry.header("idempotent-replayed"), Some("true"));
        assert_eq!(retry.body, first.body);
        assert_eq!(retry.header("x-position"), first.header("x-position"));
        assert_eq!(retry.header("location"), first.header("location"));
        let session = first.uuid("id");

        let events = app
            .all_pages(
                &format!("/v1/sessions/{session}/events?type=SessionCreated"),
                &app.admin_token,
            )
            .await;
        assert_eq!(events.len(), 1, "{events:?}");
        let theirs = app.all_pages("/v1/sessions", &surgeon.token).await;
        assert_eq!(theirs.len(), 1, "one session for the surgeon: {theirs:?}");

        let different = create(&surgeon.token, json!({"title": "Something else"})).await;
        different.assert_error(422, "idempotency_key_reused");

        // Keys are per user: the same key from a colleague is a request of its own.
        let colleagues = create(&colleague.token, body).await;
        colleagues.assert_status(201);
        assert_eq!(colleagues.header("idempotent-replayed"), None);
        assert_ne!(colleagues.uuid("id"), session);

        let all = app
            .all_pages("/v1/audit?type=SessionCreated", &app.admin_token)
            .await;
        assert_eq!(all.len(), 2, "two sessions created in all: {all:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_read_models_do_not_show_in_time_is_202_and_its_retry_appends_nothing() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let impatient = app.sibling(|s| s.read_wait_ms = 200).await;
        let token = &app.admin_token;
        stall_projections(&app, false).await;
        let create = || {
            impatient
                .request(Method::POST, "/v1/sessions", Some(token))
                .header("idempotency-key", "stalled-create")
                .json(&json!({"title": "While the read models stall"}))
        };
        let first = Answer::of(create()).await;
        first.assert_status(202);
        let position = first.position();
        assert_eq!(first.body["position"], position, "{}", first.text);
        let retry = Answer::of(create()).await;
        retry.assert_status(202);
        assert_eq!(retry.header("idempotent-replayed"), Some("true"));
        assert_eq!(
            retry.position(),
            position,
            "the retry answers the first write"
        );
        stall_projections(&app, true).await;

        // Once the read models move again: one session, created once.
        let created = app
            .request(Method::GET, "/v1/audit?type=SessionCreated", Some(token))
            .header("x-min-position", position.to_string());
        let created = Answer::of(created).await;
        created.assert_status(200);
        let items = created.body["items"].as_array().expect("items");
        assert_eq!(
            items.len(),
            1,
            "exactly one SessionCreated: {}",
            created.text
        );
        assert_eq!(items[0]["position"].as_u64(), Some(position - 2));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membership_change_takes_effect_on_the_next_request() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let surgeon = app.create_user("surgeon").await;
        let session = app.create_session(&app.admin_token).await;
        let path = format!("/v1/sessions/{session}/layout");
        let change = |x: u32| json!({"base_version": 1, "changes": {"panels": {"p1": {"x": x}}}});

        // Not a member: hidden. (Asked first, so a stale answer would be cached.)
        app.get(&path, &surgeon.token)
            .await
            .assert_error(404, "not_found");
        app.add_member(session, surgeon.id, "observer").await;
        app.get(&path, &surgeon.token).await.assert_status(200);
        app.call(Method::PATCH, &path, Some(&surgeon.token), Some(change(1)))
            .await
            .assert_error(403, "forbidden");

        // Promoted: may edit at once.
        app.add_member(session, surgeon.id, "surgeon").await;
        app.call(Method::PATCH, &path, Some(&surgeon.token), Some(change(2)))
            .await
            .assert_status(200);

        // Removed: the session is hidden again at once.
        let removed = app
            .call(
                Method::DELETE,
                &format!("/v1/sessions/{session}/members/{}", surgeon.id),
                Some(&app.admin_token),
                None,
            )
            .await;
        removed.assert_status(204);
        app.get(&path, &surgeon.token)
            .await
            .assert_error(404, "not_found");
        app.call(Method::PATCH, &path, Some(&surgeon.token), Some(change(3)))
            .await
            .assert_error(404, "not_found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_shows_who_changed_what_with_each_events_data() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let token = &app.admin_token;
        let session = app.create_session(token).await;
        let change = json!({"base_version": 1, "changes": {"panels": {"p3": {"x": 4}}}});
        let written = app
            .call(
                Method::PATCH,
                &format!("/v1/sessions/{session}/layout"),
                Some(token),
                Some(change),
            )
            .await;
        written.assert_status(200);
        let trail = app
            .request(
                Method::GET,
                &format!("/v1/sessions/{session}/events?type=LayoutUpdated"),
                Some(token),
            )
            .header("x-min-position", written.position().to_string());
        let trail = Answer::of(trail).await;
        trail.assert_status(200);
        let items = trail.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{}", trail.text);
        let data = &items[0]["data"];
        assert_eq!(data["version"], 2, "{}", trail.text);
        assert_eq!(data["session_id"], session.to_string());
        let changed: Vec<_> = data["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|c| {
                (
                    c["panel_id"].clone(),
                    c["field"].clone(),
                    c["value"].clone(),
                )
            })
            .collect();
        assert_eq!(changed, [(json!("p3"), json!("x"), json!(4))]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_type_filter_takes_one_type_or_several_separated_by_commas() {
    for db in all_backends().await {
        let app = spawn_app(db).await;
        println!("[{}]", app.backend);
        let surgeon = app.create_user("surgeon").await;
        let session = app.create_session(&surgeon.token).await;
        app.call(
            Method::PATCH,
            &format!("/v1/sessions/{session}"),
            Some(&surgeon.token),
            Some(json!({"title": "Renamed"})),
        )
        .await
        .assert_status(200);
        let types_of = |path: String| {
            let app = &app;
            async move {
                let mut types: Vec<String> = app
                    .all_pages(&path, &app.admin_token)
                    .await
                    .iter()
                    .filter_map(|e| e["type"].as_str().map(str::to_owned))
                    .collect();
                types.sort_unstable();
                types
            }
        };
        let events = format!("/v1/sessions/{session}/events");
        assert_eq!(
            types_of(format!("{events}?type=SessionCreated")).await,
            ["SessionCreated"]
        );
        let both = ["SessionCreated", "SessionDetailsChanged"];
        assert_eq!(
            types_of(format!(
                "{events}?type=SessionCreated,SessionDetailsChanged"
            ))
            .await,
            both
        );
        assert_eq!(
            types_of(format!(
                "/v1/audit?session_id={session}&type=SessionDetailsChanged%2C%20SessionCreated"
            ))
            .await,
            both,
            "blanks after commas are ignored, on the organisation-wide trail too"
        );
    }
}
