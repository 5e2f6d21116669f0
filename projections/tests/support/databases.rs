//! Fresh databases (SQLite temp files; PostgreSQL when configured) and dumps of their tables.

use livesurgery_projections::ReadModels;
use uuid::Uuid;

/// A fresh, migrated database: a SQLite temp file, or a new PostgreSQL database on the server
/// of `LIVESURGERY_TEST_DATABASE_URL`. Keep the returned guard alive while testing.
pub struct TestDb {
    pub models: ReadModels,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// `(server URL, database)` to drop afterwards, for PostgreSQL.
    drop_database: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.drop_database.take() else {
            return;
        };
        // Drop runs inside the test's runtime: use a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let admin = ReadModels::connect(&server).await.unwrap();
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(admin.pool())
                .await;
                admin.pool().close().await;
            });
        })
        .join();
    }
}

/// The environment variable naming an administrative PostgreSQL URL for tests.
const PG_ENV: &str = "LIVESURGERY_TEST_DATABASE_URL";

pub async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/read.db", dir.path().display());
    let models = ReadModels::connect(&url).await.unwrap();
    models.migrate().await.unwrap();
    TestDb {
        models,
        url,
        _dir: Some(dir),
        drop_database: None,
    }
}

/// `None` (a skip, recorded for the run's closing list) when PostgreSQL is not configured; a
/// failure instead under `LIVESURGERY_REQUIRE_POSTGRES=1`.
pub async fn postgres_db() -> Option<TestDb> {
    let base = std::env::var(PG_ENV).ok();
    if !livesurgery_testkit::prerequisites_met(
        "its PostgreSQL part",
        base.is_none()
            .then(|| format!("no PostgreSQL ({PG_ENV} not set): tested on SQLite only")),
        "LIVESURGERY_REQUIRE_POSTGRES",
        &format!("export {PG_ENV}=postgres://postgres@127.0.0.1:5432/test"),
    ) {
        return None;
    }
    let base = base?;
    let name = format!("ls_test_{}", Uuid::new_v4().simple());
    // Set but unreachable is a failure, not a skip: whoever set it means to test PostgreSQL.
    let admin = ReadModels::connect(&base).await.unwrap_or_else(|error| {
        panic!("connecting to {PG_ENV}'s server ({error}): start it, or unset {PG_ENV}")
    });
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await
        .unwrap();
    admin.pool().close().await;
    let (prefix, _) = base.rsplit_once('/').unwrap();
    let url = format!("{prefix}/{name}");
    let models = ReadModels::connect(&url).await.unwrap();
    models.migrate().await.unwrap();
    Some(TestDb {
        models,
        url,
        _dir: None,
        drop_database: Some((base, name)),
    })
}

/// Every backend available here: SQLite always, PostgreSQL when configured.
pub async fn databases() -> Vec<(&'static str, TestDb)> {
    let mut out = vec![("sqlite", sqlite_db().await)];
    if let Some(pg) = postgres_db().await {
        out.push(("postgres", pg));
    }
    out
}

/// Every read-model table, with the order that makes its dump deterministic.
pub const TABLES: &[(&str, &str)] = &[
    ("rm_sessions", "session_id"),
    ("rm_session_members", "session_id, user_id"),
    ("rm_recordings", "recording_id"),
    ("rm_users", "user_id"),
    ("rm_presence", "participant_id"),
    ("rm_layouts", "session_id"),
    ("rm_layout_versions", "session_id, version"),
    ("rm_source_selections", "session_id, panel_id"),
    ("rm_audit", "position"),
    ("rm_archives", "archive_id"),
    ("rm_archive_segments", "object_key"),
];

/// Every row of every read-model table, as text, for comparing two databases.
pub async fn dump(models: &ReadModels) -> Vec<(String, Vec<Vec<String>>)> {
    use sqlx::{Column, Row};
    let mut out = Vec::new();
    for (table, order) in TABLES {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM {table} ORDER BY {order}"
        )))
        .fetch_all(models.pool())
        .await
        .unwrap();
        let rows = rows
            .iter()
            .map(|row| {
                (0..row.columns().len())
                    .map(|i| {
                        let name = row.columns()[i].name().to_owned();
                        let value = match row.try_get::<Option<String>, _>(i) {
                            Ok(v) => format!("{v:?}"),
                            Err(_) => format!("{:?}", row.try_get::<Option<i64>, _>(i).unwrap()),
                        };
                        format!("{name}={value}")
                    })
                    .collect()
            })
            .collect();
        out.push((table.to_string(), rows));
    }
    out
}
