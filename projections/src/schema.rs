//! DDL of the read-model tables. It lives in code, not in migration files, because a rebuild
//! creates the same tables again under other names.

use crate::db::Dialect;

/// One read-model table. Live tables have the fixed name `base`; a rebuild builds `base__next`.
/// Constraint and index names carry the generation, because PostgreSQL index names are global
/// to the schema and SQLite cannot rename an index: the live table of generation 3 has
/// `base_pk_g3`, its successor `base_pk_g4`, so both can exist during a rebuild.
#[derive(Debug)]
pub(crate) struct TableDef {
    pub base: &'static str,
    /// Column definitions; `{int}` is the 64-bit integer type of the dialect.
    pub columns: &'static str,
    pub primary_key: &'static str,
    /// SQLite only: store rows in the primary key's B-tree (`WITHOUT ROWID`) instead of a rowid
    /// table plus a key index, so a row costs one B-tree insert, not two. For text keys.
    pub without_rowid: bool,
    /// `(name, columns)` of every secondary index.
    pub indexes: &'static [(&'static str, &'static str)],
}

/// The suffix of the tables a rebuild fills.
pub(crate) const NEXT: &str = "__next";

impl TableDef {
    /// The table's name with `suffix` (`""` for the live table, [`NEXT`] while rebuilding).
    pub fn name(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.base)
    }

    /// `CREATE TABLE IF NOT EXISTS` for this table.
    pub fn create_table(&self, dialect: Dialect, suffix: &str, generation: u64) -> String {
        // In SQLite an `INTEGER` primary key is the rowid itself: no second B-tree to maintain.
        let int = match dialect {
            Dialect::Sqlite => "INTEGER",
            Dialect::Postgres => "BIGINT",
        };
        let options = match dialect {
            Dialect::Sqlite if self.without_rowid => " WITHOUT ROWID",
            _ => "",
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({}, CONSTRAINT {}_pk_g{generation} PRIMARY KEY ({})){options}",
            self.name(suffix),
            self.columns.replace("{int}", int),
            self.base,
            self.primary_key
        )
    }

    /// `CREATE INDEX IF NOT EXISTS` for every secondary index.
    pub fn create_indexes(&self, suffix: &str, generation: u64) -> Vec<String> {
        self.indexes
            .iter()
            .map(|(name, columns)| {
                format!(
                    "CREATE INDEX IF NOT EXISTS {}_{name}_g{generation} ON {} ({columns})",
                    self.base,
                    self.name(suffix)
                )
            })
            .collect()
    }
}

/// Checkpoints: one row per projection, written in the same transaction as its rows. The
/// `position` is the last applied global position; `generation` counts rebuilds.
pub(crate) const CHECKPOINTS_DDL: &str = "CREATE TABLE IF NOT EXISTS rm_checkpoints (\
    name TEXT NOT NULL PRIMARY KEY, \
    position BIGINT NOT NULL, \
    generation BIGINT NOT NULL, \
    updated_at BIGINT NOT NULL)";

/// Rebuilds in progress: who owns the `__next` tables (a token, so that a newer rebuild of the
/// same projection makes an older one give way) and how far it got.
pub(crate) const REBUILDS_DDL: &str = "CREATE TABLE IF NOT EXISTS rm_rebuilds (\
    name TEXT NOT NULL PRIMARY KEY, \
    token TEXT NOT NULL, \
    generation BIGINT NOT NULL, \
    position BIGINT NOT NULL, \
    started_at BIGINT NOT NULL, \
    updated_at BIGINT NOT NULL)";
