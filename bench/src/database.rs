//! The scratch database each suite runs on: SQLite in a temporary folder under the current
//! directory, or a fresh PostgreSQL database that the bench creates and drops.

use anyhow::Context;
use clap::Args;
use livesurgery::settings::DatabaseUrl;
use livesurgery::store::postgres::{create_scratch_database, drop_scratch_database};

/// Which backends to measure (options of every suite).
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Which backends to measure: sqlite, postgres, or all (postgres needs --postgres-url).
    #[arg(long, global = true, default_value = "sqlite")]
    pub backend: String,
    /// An administrative PostgreSQL URL; the bench creates (and drops) its own database there.
    #[arg(long, global = true, env = "LIVESURGERY_BENCH_POSTGRES_URL")]
    pub postgres_url: Option<DatabaseUrl>,
}

impl DatabaseArgs {
    /// The backends asked for, in the order they run.
    pub fn backends(&self) -> anyhow::Result<Vec<&'static str>> {
        match self.backend.as_str() {
            "sqlite" => Ok(vec!["sqlite"]),
            "postgres" => Ok(vec!["postgres"]),
            "all" => Ok(vec!["sqlite", "postgres"]),
            other => anyhow::bail!("unknown backend {other:?}: sqlite, postgres or all"),
        }
    }

    /// A fresh, empty database on `backend`.
    pub async fn scratch(&self, backend: &str) -> anyhow::Result<BenchDb> {
        if backend == "sqlite" {
            return BenchDb::sqlite();
        }
        let admin = self
            .postgres_url
            .as_ref()
            .context("--postgres-url (or LIVESURGERY_BENCH_POSTGRES_URL) is needed for postgres")?;
        BenchDb::postgres(admin.expose()).await
    }
}

/// A scratch database, removed by [`BenchDb::drop_database`] (PostgreSQL) or when dropped
/// (SQLite's folder).
pub struct BenchDb {
    /// Its URL, with the password when there is one.
    pub url: String,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl BenchDb {
    fn sqlite() -> anyhow::Result<BenchDb> {
        let dir = tempfile::Builder::new()
            .prefix("livesurgery-bench")
            .tempdir_in(".")?;
        Ok(BenchDb {
            url: format!("sqlite://{}/bench.db", dir.path().display()),
            admin_url: None,
            name: String::new(),
            _dir: Some(dir),
        })
    }

    async fn postgres(admin_url: &str) -> anyhow::Result<BenchDb> {
        let (name, url) = create_scratch_database(admin_url, "ls_bench").await?;
        Ok(BenchDb {
            url,
            admin_url: Some(admin_url.to_owned()),
            name,
            _dir: None,
        })
    }

    /// Whether it is a PostgreSQL database (the store suite adds PostgreSQL's own baseline).
    pub fn is_postgres(&self) -> bool {
        self.admin_url.is_some()
    }

    /// Drops the PostgreSQL database (SQLite's folder goes when `self` is dropped).
    pub async fn drop_database(&self) -> anyhow::Result<()> {
        match &self.admin_url {
            Some(admin) => drop_scratch_database(admin, &self.name).await,
            None => Ok(()),
        }
    }
}
