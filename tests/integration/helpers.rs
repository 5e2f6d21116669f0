//! Shared test set-up: fresh databases for every backend available on this machine.

use std::sync::Arc;

use livesurgery::store::{self, EventStore};
use livesurgery_domain::envelope::{Actor, NewEvent};
use uuid::Uuid;

/// The environment variable naming an administrative PostgreSQL URL for tests.
pub const PG_ENV: &str = "LIVESURGERY_TEST_DATABASE_URL";

/// A fresh, empty database of one backend.
pub struct TestDb {
    pub backend: &'static str,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh SQLite database in a temporary folder.
pub fn fresh_sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}/livesurgery.db", dir.path().display());
    TestDb {
        backend: "sqlite",
        url,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database, or `None` (with a printed line) when no server is configured.
pub async fn fresh_postgres() -> Option<TestDb> {
    let Ok(admin_url) = std::env::var(PG_ENV) else {
        println!("skipping PostgreSQL: {PG_ENV} not set");
        return None;
    };
    let (_, url) = store::postgres::create_scratch_database(&admin_url, "ls_test")
        .await
        .expect("creating a test database");
    Some(TestDb {
        backend: "postgres",
        url,
        _dir: None,
    })
}

/// Every backend available here, each with a fresh database.
pub async fn all_backends() -> Vec<TestDb> {
    let mut dbs = vec![fresh_sqlite()];
    dbs.extend(fresh_postgres().await);
    dbs
}

/// Opens a store (its own connection pool, as a separate process would have).
pub async fn open(db: &TestDb) -> Arc<dyn EventStore> {
    store::open(&db.url).await.expect("opening the event store")
}

/// A small test event with a fresh id.
pub fn event(n: u64) -> NewEvent {
    NewEvent {
        id: Uuid::now_v7(),
        event_type: "TestEvent".into(),
        schema_version: 1,
        data: serde_json::json!({ "n": n, "note": "synthetic" }),
        actor: Actor::system(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
    }
}

/// Whether `test` can run, given what is `missing` on this machine (`None`: nothing). When
/// something is, the test fails if the environment variable `require` is `1` (as CI sets it), and
/// otherwise says SKIPPED loudly, with the command that installs it, and should return.
pub fn prerequisites_met(
    test: &str,
    missing: Option<String>,
    require: &str,
    install: &str,
) -> bool {
    let Some(missing) = missing else {
        return true;
    };
    let required = std::env::var(require).is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test}: {missing}, and {require}=1: run `{install}`"
    );
    println!("\n!!!!!!!! {test}: SKIPPED: {missing} ({install}) !!!!!!!!\n");
    false
}
