//! Shared test set-up: fresh databases for every backend available on this machine.

use std::sync::Arc;

use livesurgery::store::{self, EventStore};
use livesurgery_domain::envelope::{Actor, NewEvent};
/// Whether a test can run; a missing prerequisite skips it (recorded for the run's closing list),
/// or fails it under `LIVESURGERY_REQUIRE_…=1`.
pub use livesurgery_testkit::prerequisites_met;
use uuid::Uuid;

/// One headless Chromium test at a time: each starts one or two browsers that decode or encode
/// video, and on two cores several at once starve the rest of the suite (its WebSocket and media
/// tests then fail on time, not on behaviour). Hold the guard for the test's life.
pub async fn chromium_slot() -> ChromiumSlot {
    static SLOT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let slot = SLOT.lock().await;
    ChromiumSlot {
        _network: network_in_use().await,
        _slot: slot,
    }
}

/// [`chromium_slot`]'s guard: the one browser test at a time, on a network nobody changes.
pub struct ChromiumSlot {
    _slot: tokio::sync::MutexGuard<'static, ()>,
    _network: NetworkInUse,
}

/// Who uses the machine's network interfaces now: WebRTC peers (many), or one test changing
/// them. Peers never wait for a test that only waits to change them (a test holding one peer
/// may start a second), so the changing test waits for a moment with no peer at all.
#[derive(Default)]
struct Network {
    state: std::sync::Mutex<(usize, bool)>,
    changed: tokio::sync::Notify,
}

fn network() -> &'static Network {
    static NETWORK: std::sync::LazyLock<Network> = std::sync::LazyLock::new(Network::default);
    &NETWORK
}

impl Network {
    fn state(&self) -> std::sync::MutexGuard<'_, (usize, bool)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Held by every WebRTC peer a test runs (aiortc, Chromium) while it lives: a peer gathers the
/// addresses of every interface, and loses its media if the one it chose disappears.
pub struct NetworkInUse(());

/// Held by a test that adds and removes interfaces (`security::netns_turn`).
pub struct NetworkChanging(());

/// Waits while a test changes the interfaces, then counts one more peer.
pub async fn network_in_use() -> NetworkInUse {
    loop {
        let changed = network().changed.notified();
        {
            let mut state = network().state();
            if !state.1 {
                state.0 += 1;
                return NetworkInUse(());
            }
        }
        changed.await;
    }
}

/// Waits for a moment with no peer of any test, then keeps new ones waiting until dropped.
pub async fn network_changing() -> NetworkChanging {
    loop {
        let changed = network().changed.notified();
        {
            let mut state = network().state();
            if state.0 == 0 && !state.1 {
                state.1 = true;
                return NetworkChanging(());
            }
        }
        changed.await;
    }
}

impl Drop for NetworkInUse {
    fn drop(&mut self) {
        network().state().0 -= 1;
        network().changed.notify_waiters();
    }
}

impl Drop for NetworkChanging {
    fn drop(&mut self) {
        network().state().1 = false;
        network().changed.notify_waiters();
    }
}

/// The environment variable naming an administrative PostgreSQL URL for tests.
pub const PG_ENV: &str = "LIVESURGERY_TEST_DATABASE_URL";

/// A fresh, empty database of one backend.
pub struct TestDb {
    pub backend: &'static str,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// A PostgreSQL database at `url` that the test made itself (e.g. on its own server).
pub fn postgres_at(url: String) -> TestDb {
    TestDb {
        backend: "postgres",
        url,
        _dir: None,
    }
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

/// A fresh PostgreSQL database, or `None` (a recorded skip) when no server is configured.
pub async fn fresh_postgres() -> Option<TestDb> {
    let admin_url = std::env::var(PG_ENV).ok();
    if !prerequisites_met(
        "its PostgreSQL part",
        admin_url
            .is_none()
            .then(|| format!("no PostgreSQL ({PG_ENV} not set): tested on SQLite only")),
        "LIVESURGERY_REQUIRE_POSTGRES",
        &format!("export {PG_ENV}=postgres://postgres@127.0.0.1:5432/test"),
    ) {
        return None;
    }
    let admin_url = admin_url?;
    // Set but unreachable is a failure, not a skip: whoever set it means to test PostgreSQL.
    let (_, url) = store::postgres::create_scratch_database(&admin_url, "ls_test")
        .await
        .unwrap_or_else(|error| {
            panic!("creating a test database ({error:#}): start the server, or unset {PG_ENV}")
        });
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
