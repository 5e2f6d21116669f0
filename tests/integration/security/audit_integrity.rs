//! The audit log's integrity and its export (issue 16): signed checkpoints kept outside the
//! database catch a rewrite of the events that also rewrites the `streams` table to match, and
//! `GET /v1/audit/export` streams ATNA-shaped records to reviewers and admins only, every export
//! (and every other audit read) recorded and shown by the next one.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use livesurgery::store::{self, ExpectedVersion};
use reqwest::Method;
use serde_json::Value;

use crate::api::spawn::spawn_app;
use crate::cli::http_get;
use crate::helpers::{TestDb, all_backends, event, fresh_sqlite, open};

const BIN: &str = env!("CARGO_BIN_EXE_livesurgery");

/// `livesurgery ARGS` against `db`, with the checkpoint key and file under `data`.
fn livesurgery(db: &TestDb, data: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("LIVESURGERY_DATABASE_URL", &db.url)
        .env("LIVESURGERY_DATA_DIR", data)
        .env_remove("LIVESURGERY_CHECKPOINT_KEY")
        .env_remove("LIVESURGERY_CHECKPOINT_FILE")
        .env("RUST_LOG", "warn")
        .output()
        .expect("running livesurgery")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `livesurgery serve` over `db`, its generated state in `data`; returns once it answers.
fn serve(db: &TestDb, data: &Path, interval_secs: u64) -> Child {
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--sfu-udp-bind", "127.0.0.1:0"])
        .env("LIVESURGERY_DATABASE_URL", &db.url)
        .env("LIVESURGERY_DATA_DIR", data)
        .env("LIVESURGERY_CHECKPOINT_INTERVAL", interval_secs.to_string())
        .env_remove("LIVESURGERY_CHECKPOINT_KEY")
        .env_remove("LIVESURGERY_CHECKPOINT_FILE")
        .env_remove("LIVESURGERY_HTTP_ADDR")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http_get(port, "/healthz"), Ok((200, _))) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("serve exited early with {status}");
        }
        assert!(Instant::now() < deadline, "serve did not answer in 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

/// SIGTERM, then waits for a clean exit; returns what the server printed on standard output.
fn stop(mut child: Child) -> String {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "serve exited with {status}");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    stdout
}

/// The checkpoints written so far (one JSON object per line).
fn checkpoints(data: &Path) -> Vec<Value> {
    std::fs::read_to_string(data.join("checkpoints.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

async fn append(db: &TestDb, stream: &str, n: u64) -> u64 {
    let store = open(db).await;
    let mut last = 0;
    for i in 0..n {
        last = store
            .append(stream, ExpectedVersion::Any, vec![event(i)])
            .await
            .unwrap()
            .last_position;
    }
    store.close().await;
    last
}

async fn execute(db: &TestDb, sql: String) {
    let sql = sqlx::AssertSqlSafe(sql);
    if db.backend == "sqlite" {
        let pool = store::sqlite::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
}

fn assert_verifies(db: &TestDb, data: &Path, what: &str) {
    let out = livesurgery(db, data, &["audit", "verify"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "[{}] {what}: {stderr}",
        db.backend
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["checkpoints"]["checked"].as_u64() >= Some(1),
        "[{}] {what}: the log was checked against a signed checkpoint: {report}",
        db.backend
    );
}

/// The tampering is consistent: without the checkpoints (no file), `audit verify` sees nothing.
fn assert_chains_hold(db: &TestDb, what: &str) {
    let none = tempfile::tempdir().unwrap();
    let out = livesurgery(db, none.path(), &["audit", "verify"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "[{}] {what}: the hash chains and the streams table alone hold: {stderr}",
        db.backend
    );
}

fn assert_caught(db: &TestDb, data: &Path, what: &str) {
    let out = livesurgery(db, data, &["audit", "verify"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "[{}] {what} is caught: {stderr}",
        db.backend
    );
    assert!(
        stderr.contains("checkpoint") && stderr.contains("rewritten"),
        "[{}] {what}: the signed checkpoint names the break: {stderr}",
        db.backend
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistent_rewrite_of_the_events_and_the_streams_table_is_caught_by_the_signed_checkpoint()
 {
    for db in all_backends().await {
        let data = tempfile::tempdir().unwrap();
        // session-b's last event is not the log's last: deleting it leaves the head alone.
        append(&db, "session-b", 4).await;
        // With no interval, only the shutdown checkpoint can cover what is appended meanwhile.
        let server = serve(&db, data.path(), 0);
        let head = append(&db, "session-a", 3).await;
        stop(server);
        let signed = checkpoints(data.path());
        assert!(
            signed.last().and_then(|c| c["position"].as_u64()) >= Some(head),
            "[{}] the shutdown checkpoint covers position {head}: {signed:?}",
            db.backend
        );
        assert_verifies(&db, data.path(), "the untampered log");

        let store = open(&db).await;
        let b = store::read_whole_stream(&*store, "session-b")
            .await
            .unwrap();
        store.close().await;
        let (third, last) = (&b[2], &b[3]);

        // 1. Edit an event and re-chain it: new data, its hash recomputed, the head to match.
        let mut forged = last.clone();
        forged.data = serde_json::json!({"n": 99, "note": "rewritten"});
        let forged_hash = hex::encode(forged.compute_hash());
        let forged_data = serde_json::to_string(&forged.data).unwrap();
        execute(&db, format!("UPDATE events SET data = '{forged_data}', hash = '{forged_hash}' WHERE stream = 'session-b' AND version = 4")).await;
        execute(
            &db,
            format!("UPDATE streams SET hash = '{forged_hash}' WHERE stream = 'session-b'"),
        )
        .await;
        assert_chains_hold(&db, "an edited event re-chained, with its head");
        assert_caught(
            &db,
            data.path(),
            "an edited event re-chained, with its head",
        );

        // Put it back: the log verifies again.
        let data_text = serde_json::to_string(&last.data).unwrap();
        execute(&db, format!("UPDATE events SET data = '{data_text}', hash = '{}' WHERE stream = 'session-b' AND version = 4", last.hash)).await;
        execute(
            &db,
            format!(
                "UPDATE streams SET hash = '{}' WHERE stream = 'session-b'",
                last.hash
            ),
        )
        .await;
        assert_verifies(&db, data.path(), "the log put back");

        // 2. Delete a stream's last event and rewrite its head to the one before.
        execute(
            &db,
            "DELETE FROM events WHERE stream = 'session-b' AND version = 4".to_owned(),
        )
        .await;
        execute(
            &db,
            format!(
                "UPDATE streams SET version = 3, hash = '{}' WHERE stream = 'session-b'",
                third.hash
            ),
        )
        .await;
        assert_chains_hold(&db, "a deleted event with its head rewritten");
        assert_caught(
            &db,
            data.path(),
            "a deleted event with the streams table rewritten to match",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_signs_its_head_at_an_interval_and_on_shutdown_with_a_0600_key_and_prints_the_public_key()
 {
    let db = fresh_sqlite();
    let data = tempfile::tempdir().unwrap();
    let server = serve(&db, data.path(), 1);
    let head = append(&db, "session-c", 3).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !checkpoints(data.path())
        .iter()
        .any(|c| c["position"].as_u64() >= Some(head))
    {
        assert!(
            Instant::now() < deadline,
            "no checkpoint of position {head} within the 1 s interval: {:?}",
            checkpoints(data.path())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let head = append(&db, "session-c", 2).await;
    let stdout = stop(server);
    let written = checkpoints(data.path());
    let last = written.last().unwrap();
    assert!(
        last["position"].as_u64() >= Some(head),
        "the last checkpoint covers what was appended before shutdown: {written:?}"
    );
    for checkpoint in &written {
        for field in [
            "heads_digest",
            "signed_at",
            "node",
            "public_key",
            "signature",
        ] {
            assert!(checkpoint[field].is_string(), "{field} in {checkpoint}");
        }
    }

    // The key lives outside the database, readable by its owner only.
    let key = data.path().join("checkpoint.key");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the checkpoint key is created 0600");
    }
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(
        text.starts_with("-----BEGIN PRIVATE KEY-----"),
        "PKCS#8 PEM"
    );

    // The public key: printed at start, by `audit public-key`, and in every checkpoint.
    let out = livesurgery(&db, data.path(), &["audit", "public-key"]);
    assert!(out.status.success());
    let public = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(public.len(), 64, "{public}");
    assert!(
        stdout.contains(&format!("public key (Ed25519): {public}")),
        "printed at start: {stdout}"
    );
    assert!(written.iter().all(|c| c["public_key"] == public.as_str()));
    assert_verifies(&db, data.path(), "the log the server signed");

    // Another key does not vouch for these checkpoints.
    let other = "11".repeat(32);
    let out = livesurgery(
        &db,
        data.path(),
        &["audit", "verify", "--public-key", &other],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a foreign public key is refused"
    );

    // A checkpoint edited by hand (its position lowered) no longer carries a valid signature.
    let file = data.path().join("checkpoints.jsonl");
    let original = std::fs::read_to_string(&file).unwrap();
    let (kept, last_line) = original
        .trim_end()
        .rsplit_once('\n')
        .unwrap_or(("", &original));
    let position = format!("\"position\":{},", last["position"]);
    assert!(last_line.contains(&position), "{last_line}");
    let forged = last_line.replace(&position, "\"position\":1,");
    std::fs::write(&file, format!("{kept}\n{forged}\n").trim_start()).unwrap();
    let out = livesurgery(&db, data.path(), &["audit", "verify"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("not signed by the checkpoint key"),
        "{stderr}"
    );
    // A checkpoint removed breaks the file's own chain.
    assert!(original.lines().count() >= 2, "{original}");
    let without: String = original.lines().skip(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(&file, without).unwrap();
    let out = livesurgery(&db, data.path(), &["audit", "verify"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("removed or reordered"), "{stderr}");
    // The whole file removed, the key still there: that is a trace too.
    std::fs::remove_file(&file).unwrap();
    let out = livesurgery(&db, data.path(), &["audit", "verify"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("checkpoint file"), "{stderr}");
}

/// The lines of an export answer, parsed.
fn records(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_export_is_for_reviewers_and_admins_only_whatever_the_query() {
    let app = spawn_app(fresh_sqlite()).await;
    let surgeon = app.create_user("surgeon").await;
    let observer = app.create_user("observer").await;
    let reviewer = app.create_user("reviewer").await;
    for (who, token) in [("surgeon", &surgeon.token), ("observer", &observer.token)] {
        for query in ["", "?from=not-a-time"] {
            let answer = app.get(&format!("/v1/audit/export{query}"), token).await;
            assert_eq!(answer.status, 403, "{who} {query}: {}", answer.text);
            assert!(answer.body["error"]["code"].is_string(), "{}", answer.text);
        }
    }
    let anonymous = app.call(Method::GET, "/v1/audit/export", None, None).await;
    assert_eq!(anonymous.status, 401);
    for token in [&reviewer.token, &app.admin_token] {
        let answer = app.get("/v1/audit/export", token).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.header("content-type"), Some("application/x-ndjson"));
        assert!(!records(&answer.text).is_empty());
        let bad = app.get("/v1/audit/export?from=not-a-time", token).await;
        assert_eq!(bad.status, 400, "{}", bad.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_export_streams_atna_records_and_every_audit_read_shows_up_in_the_next_export() {
    let app = spawn_app(fresh_sqlite()).await;
    let surgeon = app.create_user("surgeon").await;
    let reviewer = app.create_user("reviewer").await;
    let session = app.create_session(&surgeon.token).await;

    // Reads of the audit trail, a replay, an export, and a refused export.
    let events = app
        .get(&format!("/v1/sessions/{session}/events"), &reviewer.token)
        .await;
    events.assert_status(200);
    let replay = app
        .get(&format!("/v1/sessions/{session}/state"), &reviewer.token)
        .await;
    replay.assert_status(200);
    let first = app
        .get(
            &format!("/v1/audit/export?session_id={session}"),
            &reviewer.token,
        )
        .await;
    first.assert_status(200);
    let refused = app.get("/v1/audit/export", &surgeon.token).await;
    refused.assert_status(403);

    // The session's records, ATNA-shaped; no event data (the title is patient data).
    let session_records = records(&first.text);
    assert!(!first.text.contains("cholecystectomy"), "{}", first.text);
    let created = session_records
        .iter()
        .find(|r| r["what"]["action"] == "SessionCreated")
        .unwrap_or_else(|| panic!("SessionCreated among {session_records:?}"));
    assert_eq!(created["who"]["user_id"], surgeon.id.to_string());
    assert_eq!(created["who"]["role"], "surgeon");
    assert_eq!(created["what"]["action_code"], "C");
    assert_eq!(created["what"]["object"]["session_id"], session.to_string());
    assert_eq!(created["outcome"]["class"], "success");
    assert_eq!(created["where"]["source"], "livesurgery");
    assert!(
        created["where"]["node"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(created["when"].as_str().unwrap()).is_ok(),
        "{created}"
    );
    assert!(
        session_records
            .iter()
            .all(|r| r["what"]["object"]["session_id"] == session.to_string()),
        "session_id filters"
    );
    let positions: Vec<u64> = session_records
        .iter()
        .map(|r| r["position"].as_u64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "log order");

    // A time window before the session holds none of its records.
    let before = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let early = app
        .get(
            &format!(
                "/v1/audit/export?session_id={session}&to={}",
                urlencode(&before)
            ),
            &reviewer.token,
        )
        .await;
    early.assert_status(200);
    assert!(
        records(&early.text)
            .iter()
            .all(|r| r["what"]["action"] == "AuditTrailRead"),
        "{}",
        early.text
    );

    // The next export shows every audit read above, by its request, with the client address,
    // and the refused export as a failure.
    let next = app.get("/v1/audit/export", &app.admin_token).await;
    next.assert_status(200);
    let all = records(&next.text);
    for (what, answer) in [("events", &events), ("replay", &replay), ("export", &first)] {
        let request_id = answer.header("x-request-id").expect("an X-Request-Id");
        let record = all
            .iter()
            .find(|r| r["what"]["correlation_id"] == request_id)
            .unwrap_or_else(|| panic!("the {what} read is in the next export"));
        assert_eq!(record["what"]["action"], "AuditTrailRead", "{record}");
        assert_eq!(record["what"]["action_code"], "R");
        assert_eq!(record["who"]["user_id"], reviewer.id.to_string());
        assert_eq!(record["who"]["role"], "reviewer");
        assert_eq!(record["who"]["client_address"], "127.0.0.1", "{record}");
    }
    let request_id = refused.header("x-request-id").unwrap();
    let denied = all
        .iter()
        .find(|r| r["what"]["correlation_id"] == request_id)
        .expect("the refused export is in the next export");
    assert_eq!(denied["what"]["action"], "AccessDenied");
    assert_eq!(denied["outcome"]["indicator"], 4);
    assert_eq!(denied["outcome"]["class"], "minor_failure");
    // The export ends with its own record.
    let last = all.last().unwrap();
    assert_eq!(
        last["what"]["correlation_id"],
        next.header("x-request-id").unwrap()
    );
    assert_eq!(
        last["position"].as_u64().map(|p| p.to_string()).as_deref(),
        next.header("x-position")
    );
    let kinds = app
        .get("/v1/audit?type=AuditTrailRead&limit=1000", &app.admin_token)
        .await;
    kinds.assert_status(200);
    assert!(
        kinds.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["data"]["kind"] == "export"),
        "an export is recorded as kind `export`: {}",
        kinds.text
    );
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
