//! The `livesurgery` binary, started for real: serve (with a config file), audit verify,
//! projections, replay.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use livesurgery::store::{self, ExpectedVersion};

use crate::helpers::{TestDb, all_backends, event, open};

const BIN: &str = env!("CARGO_BIN_EXE_livesurgery");

/// Runs `livesurgery ARGS` against a database and waits for it, in a data folder of its own
/// (never the repository's `./data`, where a key or checkpoint file of another run may lie).
pub fn livesurgery(db: &TestDb, args: &[&str]) -> Output {
    let data = tempfile::tempdir().expect("a data folder");
    Command::new(BIN)
        .args(args)
        .env("LIVESURGERY_DATABASE_URL", &db.url)
        .env("LIVESURGERY_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("running livesurgery")
}

/// A plain HTTP/1.0 GET; returns (status, body).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Ok((status, body))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_healthy(child: &mut Child, port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, body)) = http_get(port, "/healthz") {
            return body;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("server exited early with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "server did not answer /healthz in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn serve_on_the_embedded_default_creates_its_database_answers_healthz_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--sfu-udp-bind", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("LIVESURGERY_DATABASE_URL")
        .env_remove("LIVESURGERY_HTTP_ADDR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let body = wait_healthy(&mut child, port);
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    assert!(
        Path::new(&dir.path().join("data/livesurgery.db")).exists(),
        "the default SQLite file is created under ./data"
    );
    // The container image's HEALTHCHECK: the port from the listen address.
    let check = |addr: &str| {
        Command::new(BIN)
            .args(["healthcheck", "--timeout-secs", "2"])
            .env("LIVESURGERY_HTTP_ADDR", addr)
            .env_remove("LIVESURGERY_DATABASE_URL")
            .output()
            .expect("running livesurgery healthcheck")
    };
    let up = check(&format!("0.0.0.0:{port}"));
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    sigterm(&child);
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
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "exit {status}; stderr: {stderr}");
    assert!(stderr.contains("stopped cleanly"), "{stderr}");
    let down = check(&format!("0.0.0.0:{port}"));
    assert_eq!(down.status.code(), Some(1), "a stopped server is unhealthy");
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("unhealthy"),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
}

#[test]
fn a_bad_database_url_is_refused_with_a_clear_message() {
    let out = Command::new(BIN)
        .args(["migrate", "--database-url", "mysql://nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sqlite://"), "{stderr}");
}

#[test]
fn serve_takes_its_settings_from_a_config_file_below_the_environment_and_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    for (site, page) in [
        ("site-file", "from the file"),
        ("site-env", "from the environment"),
    ] {
        std::fs::create_dir(dir.path().join(site)).unwrap();
        std::fs::write(dir.path().join(site).join("index.html"), page).unwrap();
    }
    let (file_port, flag_port) = (free_port(), free_port());
    let config = dir.path().join("livesurgery.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"sqlite://from-file.db\"\naddr = \"127.0.0.1:{file_port}\"\n\
             web_dir = \"site-file\"\nsfu_udp_bind = \"127.0.0.1:0\"\n"
        ),
    )
    .unwrap();
    let serve = || {
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for name in [
            "LIVESURGERY_CONFIG",
            "LIVESURGERY_DATABASE_URL",
            "LIVESURGERY_HTTP_ADDR",
            "LIVESURGERY_WEB_DIR",
            "LIVESURGERY_SFU_UDP_BIND",
        ] {
            command.env_remove(name);
        }
        command
    };

    // The file alone: its address, its web app, its database.
    let mut child = serve().arg("--config").arg(&config).spawn().unwrap();
    wait_healthy(&mut child, file_port);
    assert_eq!(
        http_get(file_port, "/").unwrap(),
        (200, "from the file".to_owned())
    );
    assert!(dir.path().join("from-file.db").exists());
    sigterm(&child);
    assert!(child.wait().unwrap().success());

    // The environment beats the file (the web app); a flag beats both (the address).
    let mut child = serve()
        .args(["--addr", &format!("127.0.0.1:{flag_port}")])
        .env("LIVESURGERY_CONFIG", &config)
        .env("LIVESURGERY_WEB_DIR", "site-env")
        .env("LIVESURGERY_HTTP_ADDR", format!("127.0.0.1:{file_port}"))
        .spawn()
        .unwrap();
    wait_healthy(&mut child, flag_port);
    assert_eq!(
        http_get(flag_port, "/").unwrap(),
        (200, "from the environment".to_owned())
    );
    assert!(
        http_get(file_port, "/healthz").is_err(),
        "nothing on the file's port"
    );
    sigterm(&child);
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_config_file_that_is_missing_or_has_an_unknown_key_stops_the_command_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("livesurgery.toml");
    let run = || {
        Command::new(BIN)
            .args(["migrate", "--config"])
            .arg(&config)
            .current_dir(dir.path())
            .env_remove("LIVESURGERY_CONFIG")
            .output()
            .unwrap()
    };
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("livesurgery.toml"), "{stderr}");
    std::fs::write(&config, "read_wait_ms = 100\nlisten = \"0.0.0.0:80\"\n").unwrap();
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("livesurgery.toml") && stderr.contains("`listen`"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing ran: no database was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_passes_on_an_intact_log_and_names_a_tampered_row() {
    for db in all_backends().await {
        let store = open(&db).await;
        for n in 0..4 {
            store
                .append("session-a", ExpectedVersion::Any, vec![event(n)])
                .await
                .unwrap();
            store
                .append("session-b", ExpectedVersion::Any, vec![event(n)])
                .await
                .unwrap();
        }
        store.close().await;

        let ok = livesurgery(&db, &["audit", "verify"]);
        assert_eq!(ok.status.code(), Some(0), "[{}] {ok:?}", db.backend);
        let report: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
        assert_eq!(report["events_checked"], 8);

        // Edit one stored event behind the log's back.
        tamper(&db, "UPDATE events SET data = '{\"n\":99,\"note\":\"synthetic\"}' WHERE stream = 'session-b' AND version = 3").await;
        let broken = livesurgery(&db, &["audit", "verify"]);
        assert_eq!(broken.status.code(), Some(1), "[{}] {broken:?}", db.backend);
        let stderr = String::from_utf8_lossy(&broken.stderr);
        assert!(
            stderr.contains("stream session-b version 3"),
            "[{}] names the first broken link: {stderr}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_notices_the_last_events_of_a_stream_deleted() {
    for db in all_backends().await {
        let store = open(&db).await;
        for n in 0..3 {
            store
                .append("session-c", ExpectedVersion::Any, vec![event(n)])
                .await
                .unwrap();
        }
        store.close().await;
        tamper(
            &db,
            "DELETE FROM events WHERE stream = 'session-c' AND version = 3",
        )
        .await;
        let out = livesurgery(&db, &["audit", "verify", "--session", "c"]);
        // `--session` takes a session id: an invalid one is refused before anything runs.
        assert_eq!(out.status.code(), Some(2), "[{}] {out:?}", db.backend);
        let out = livesurgery(&db, &["audit", "verify"]);
        assert_eq!(out.status.code(), Some(1), "[{}] {out:?}", db.backend);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("stream session-c version 3") && stderr.contains("removed"),
            "[{}] {stderr}",
            db.backend
        );
    }
}

async fn tamper(db: &TestDb, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if db.backend == "sqlite" {
        let pool = store::sqlite::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
}

mod with_commands {
    use chrono::Utc;
    use livesurgery::app::commands;
    use livesurgery_domain::CommandContext;
    use livesurgery_domain::aggregate::Session;
    use livesurgery_domain::layout::{LayoutChanges, PanelPatch};
    use livesurgery_domain::roles::{OrgRole, SessionRole};
    use livesurgery_domain::session::SessionCommand;
    use uuid::Uuid;

    use super::*;

    async fn run(
        store: &dyn livesurgery::store::EventStore,
        session: Uuid,
        ctx: &CommandContext,
        cmd: SessionCommand,
    ) -> u64 {
        let accepted = commands::execute::<Session>(store, session, &cmd, ctx, Uuid::now_v7())
            .await
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        tokio::time::sleep(Duration::from_millis(20)).await;
        accepted.append.last_position
    }

    fn ctx(user: Uuid, role: OrgRole) -> CommandContext {
        CommandContext::new(user, role, Utc::now())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_shows_the_session_as_it_was_at_each_moment() {
        for db in all_backends().await {
            let store = open(&db).await;
            let (surgeon, student) = (Uuid::now_v7(), Uuid::now_v7());
            let session = Uuid::now_v7();
            let host = ctx(surgeon, OrgRole::Surgeon);
            run(
                &*store,
                session,
                &host,
                SessionCommand::CreateSession {
                    session_id: session,
                    title: "Lap chole".into(),
                    procedure: Some("cholecystectomy".into()),
                    scheduled_start: None,
                },
            )
            .await;
            run(
                &*store,
                session,
                &host,
                SessionCommand::AddMember {
                    user_id: student,
                    role: SessionRole::Observer,
                },
            )
            .await;
            run(&*store, session, &host, SessionCommand::StartSession).await;
            let participant = Uuid::now_v7();
            run(
                &*store,
                session,
                &ctx(student, OrgRole::Observer),
                SessionCommand::JoinParticipant {
                    participant_id: participant,
                    device: Some("laptop".into()),
                },
            )
            .await;
            let live_with_one_present = Utc::now();
            let changes = LayoutChanges {
                panels: [(
                    "p1".to_owned(),
                    PanelPatch {
                        x: Some(1),
                        ..Default::default()
                    },
                )]
                .into(),
                ..Default::default()
            };
            run(
                &*store,
                session,
                &host,
                SessionCommand::UpdateLayout {
                    base_version: 1,
                    changes,
                },
            )
            .await;
            let after_layout_edit = Utc::now();
            run(&*store, session, &host, SessionCommand::EndSession).await;
            store.close().await;

            let at = |t: chrono::DateTime<Utc>| {
                let out = livesurgery(
                    &db,
                    &[
                        "replay",
                        "--session",
                        &session.to_string(),
                        "--at",
                        &t.to_rfc3339(),
                    ],
                );
                assert!(out.status.success(), "[{}] {out:?}", db.backend);
                serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
            };
            let view = at(live_with_one_present);
            assert_eq!(view["status"], "live", "[{}] {view}", db.backend);
            assert_eq!(view["members"].as_array().unwrap().len(), 2);
            assert_eq!(
                view["participants"][0]["participant_id"],
                participant.to_string()
            );
            assert_eq!(view["layout"]["version"], 1);

            let view = at(after_layout_edit);
            assert_eq!(view["layout"]["version"], 2, "[{}] {view}", db.backend);
            assert_eq!(view["layout"]["panels"][0]["x"], 1);

            let out = livesurgery(&db, &["replay", "--session", &session.to_string()]);
            let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(view["status"], "ended", "[{}] {view}", db.backend);
            assert_eq!(view["participants"].as_array().unwrap().len(), 0);

            let missing = livesurgery(&db, &["replay", "--session", &Uuid::now_v7().to_string()]);
            assert_eq!(
                missing.status.code(),
                Some(2),
                "an unknown session is an error"
            );

            // The read models, rebuilt from the log by the CLI, show the same session.
            let rebuilt = livesurgery(&db, &["projections", "rebuild"]);
            let stderr = String::from_utf8_lossy(&rebuilt.stderr);
            assert!(rebuilt.status.success(), "[{}] {stderr}", db.backend);
            assert!(stderr.contains("swapped in"), "{stderr}");
            let status = livesurgery(&db, &["projections", "status"]);
            let table = String::from_utf8_lossy(&status.stdout);
            for name in livesurgery_projections::ReadModels::names() {
                let line = table
                    .lines()
                    .find(|l| l.starts_with(name))
                    .unwrap_or_else(|| panic!("{table}"));
                assert!(
                    line.trim_end().ends_with(" 0"),
                    "[{}] {name} has no lag: {table}",
                    db.backend
                );
            }
            let read_models = livesurgery_projections::ReadModels::connect(&db.url)
                .await
                .unwrap();
            let row = read_models
                .get_session(session)
                .await
                .unwrap()
                .expect("the session is projected");
            assert_eq!(row.title, "Lap chole");
            assert_eq!(row.status, livesurgery_projections::SessionStatus::Ended);
            let unknown = livesurgery(&db, &["projections", "rebuild", "nope"]);
            assert_eq!(unknown.status.code(), Some(2));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_projects_events_appended_by_another_process() {
    for db in all_backends().await {
        let port = free_port();
        let data = tempfile::tempdir().expect("a data folder");
        let mut child = Command::new(BIN)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--sfu-udp-bind", "127.0.0.1:0"])
            .env("LIVESURGERY_DATABASE_URL", &db.url)
            .env("LIVESURGERY_DATA_DIR", data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_healthy(&mut child, port);
        // This test process is "another process": it appends straight to the log.
        let store = open(&db).await;
        let mut last = 0;
        for n in 0..50 {
            last = store
                .append(
                    &format!("session-{n}"),
                    ExpectedVersion::Any,
                    vec![event(n)],
                )
                .await
                .unwrap()
                .last_position;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, body) = http_get(port, "/healthz").unwrap();
            let health: serde_json::Value = serde_json::from_str(&body).unwrap();
            if health["projections_position"].as_u64() == Some(last) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "[{}] projections stuck at {health} (log head {last})",
                db.backend
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sigterm(&child);
        assert!(child.wait().unwrap().success());
        store.close().await;
    }
}
