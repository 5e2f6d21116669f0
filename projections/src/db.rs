//! The one SQL code path for SQLite and PostgreSQL: connection set-up, bound values, chunked
//! multi-row writes and keyed loads through `sqlx::any`.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, ConnectOptions, Row};
use uuid::Uuid;

use crate::error::ProjectionError;

/// SQLite refuses more than 32,766 bound parameters per statement, PostgreSQL 65,535; staying
/// under both keeps one code path.
const MAX_PARAMS: usize = 30_000;
/// Past a few hundred rows a longer statement buys little and costs parse time.
const MAX_ROWS_PER_STATEMENT: usize = 1_000;

/// The SQL dialect behind an [`AnyPool`], for the few places where SQLite and PostgreSQL differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (the embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// The dialect of a database URL (`sqlite:…` or `postgres:…`/`postgresql:…`).
    pub fn from_url(url: &str) -> Result<Dialect, ProjectionError> {
        if url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Dialect::Postgres)
        } else {
            Err(ProjectionError::UnsupportedUrl(redact(url)))
        }
    }
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Opens a pool for `url`. SQLite gets WAL, `synchronous=FULL`, a 5 s busy timeout and its file
/// (and folder) created when missing; statement logging is off because batch statements are huge.
pub(crate) async fn connect(url: &str) -> Result<(AnyPool, Dialect), ProjectionError> {
    connect_with(url, false).await
}

/// [`connect`], with `relaxed` commits: SQLite `synchronous = NORMAL`, PostgreSQL
/// `synchronous_commit = off`. Only for the projector: its commits carry their checkpoint, so
/// losing the last few to a crash only rolls the checkpoint back and the events are folded again
/// from the log (which commits durably on its own connections).
pub(crate) async fn connect_with(
    url: &str,
    relaxed: bool,
) -> Result<(AnyPool, Dialect), ProjectionError> {
    sqlx::any::install_default_drivers();
    let dialect = Dialect::from_url(url)?;
    let url = match dialect {
        Dialect::Sqlite => prepare_sqlite_url(url)?,
        Dialect::Postgres => url.to_owned(),
    };
    let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
    let mut pool_options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
    if dialect == Dialect::Postgres && relaxed {
        pool_options = pool_options.after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::query("SET synchronous_commit = off")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        });
    }
    if dialect == Dialect::Sqlite {
        let synchronous = if relaxed {
            "PRAGMA synchronous = NORMAL"
        } else {
            "PRAGMA synchronous = FULL"
        };
        pool_options = pool_options.after_connect(move |conn, _meta| {
            Box::pin(async move {
                for pragma in [
                    "PRAGMA journal_mode = WAL",
                    synchronous,
                    "PRAGMA busy_timeout = 5000",
                    "PRAGMA foreign_keys = OFF",
                    // Folding a batch touches B-tree pages all over uuid-keyed tables: with the
                    // default 2 MB page cache most of them are re-read from the file.
                    "PRAGMA cache_size = -65536",
                    // Multi-row statements keep a statement journal; in a temp file it costs
                    // a write system call per page.
                    "PRAGMA temp_store = MEMORY",
                ] {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                Ok(())
            })
        });
    }
    let pool = pool_options.connect_with(options).await?;
    Ok((pool, dialect))
}

/// Adds `mode=rwc` (create when missing) unless the URL chooses a mode, and creates the folder.
fn prepare_sqlite_url(url: &str) -> Result<String, ProjectionError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path == ":memory:" || path.is_empty() || query.contains("mode=memory");
    if in_memory {
        return Ok(url.to_owned());
    }
    if let Some(parent) = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            ProjectionError::UnsupportedUrl(format!("cannot create {}: {e}", parent.display()))
        })?;
    }
    if query.split('&').any(|pair| pair.starts_with("mode=")) {
        Ok(url.to_owned())
    } else if query.is_empty() {
        Ok(format!("{url}?mode=rwc"))
    } else {
        Ok(format!("{url}&mode=rwc"))
    }
}

/// A value bound to a statement. Nulls are typed because PostgreSQL checks parameter types.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Int(i64),
    Text(String),
    NullInt,
    NullText,
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}

impl From<u64> for Val {
    fn from(v: u64) -> Self {
        Val::Int(to_i64(v))
    }
}

impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_owned())
    }
}

impl From<Uuid> for Val {
    fn from(v: Uuid) -> Self {
        Val::Text(v.to_string())
    }
}

impl From<DateTime<Utc>> for Val {
    fn from(v: DateTime<Utc>) -> Self {
        Val::Int(micros(&v))
    }
}

impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Val::Int(i64::from(v))
    }
}

/// `Option` of a text-like value: `None` binds a text NULL.
macro_rules! nullable_text {
    ($($t:ty),*) => {$(
        impl From<Option<$t>> for Val {
            fn from(v: Option<$t>) -> Self {
                v.map_or(Val::NullText, Val::from)
            }
        }
    )*};
}
nullable_text!(String, &str, Uuid);

impl From<Option<DateTime<Utc>>> for Val {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        v.map_or(Val::NullInt, Val::from)
    }
}

/// A nullable integer column (a bare `None` would bind as text).
pub(crate) fn opt_int(v: Option<u64>) -> Val {
    v.map_or(Val::NullInt, Val::from)
}

/// Positions and versions are `u64` in the domain and BIGINT in SQL; they never reach 2^63.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Times are stored as BIGINT microseconds since the Unix epoch (UTC): the precision of the
/// log, ordered and compared the same way on both databases, and much cheaper to bind than text.
pub(crate) fn micros(t: &DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// Binds `args` in order to `sql`.
pub(crate) fn bind_all<'q>(
    sql: String,
    args: Vec<Val>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for arg in args {
        query = match arg {
            Val::Int(v) => query.bind(v),
            Val::Text(v) => query.bind(v),
            Val::NullInt => query.bind(None::<i64>),
            Val::NullText => query.bind(None::<String>),
        };
    }
    query
}

/// Appends the `n`th (from 1) bind placeholder. SQLite gets anonymous `?`: it resolves every
/// named or numbered parameter (`$7`, `?7`) by a linear scan of a list, so a statement with
/// thousands of them costs quadratic time to prepare and bind (measured: 25x slower).
fn push_placeholder(sql: &mut String, dialect: Dialect, n: usize) {
    match dialect {
        Dialect::Sqlite => sql.push('?'),
        Dialect::Postgres => {
            sql.push('$');
            sql.push_str(&n.to_string());
        }
    }
}

/// What a multi-row insert does when a row's key already exists.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OnConflict<'a> {
    /// Fail the statement (and so the transaction): used where a duplicate means corruption.
    Fail,
    /// Overwrite every non-key column with the new row (an upsert of the whole row).
    Replace(&'a [&'a str]),
}

/// Writes `rows` into `table` with as few statements as the parameter limits allow. Every row
/// must have one value per column, and no two rows the same key (PostgreSQL refuses to upsert
/// a row twice in one statement).
///
/// (Measured alternatives on SQLite: one JSON parameter unpacked by `json_each` is slower;
/// values inlined as literals are within noise of binding, so binding it is.)
pub(crate) async fn write_rows(
    conn: &mut AnyConnection,
    dialect: Dialect,
    table: &str,
    columns: &[&str],
    on_conflict: OnConflict<'_>,
    rows: Vec<Vec<Val>>,
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let per_statement = (MAX_PARAMS / columns.len()).clamp(1, MAX_ROWS_PER_STATEMENT);
    let head = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let tail = match on_conflict {
        OnConflict::Fail => String::new(),
        OnConflict::Replace(keys) => {
            let sets: Vec<String> = columns
                .iter()
                .filter(|c| !keys.contains(c))
                .map(|c| format!("{c} = excluded.{c}"))
                .collect();
            format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                keys.join(", "),
                sets.join(", ")
            )
        }
    };
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Val>> = rows.by_ref().take(per_statement).collect();
        let full = chunk.len() == per_statement;
        let mut sql =
            String::with_capacity(head.len() + tail.len() + chunk.len() * columns.len() * 7);
        sql.push_str(&head);
        let mut n = 0usize;
        let mut args = Vec::with_capacity(chunk.len() * columns.len());
        for (i, row) in chunk.into_iter().enumerate() {
            debug_assert_eq!(row.len(), columns.len(), "row width of {table}");
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            for (j, value) in row.into_iter().enumerate() {
                if j > 0 {
                    sql.push(',');
                }
                n += 1;
                push_placeholder(&mut sql, dialect, n);
                args.push(value);
            }
            sql.push(')');
        }
        sql.push_str(&tail);
        // Full chunks always have the same text, so their prepared statement is reused; the
        // odd-sized remainder would only fill the statement cache.
        bind_all(sql, args)
            .persistent(full)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Loads the rows of `select` (a `SELECT … FROM … WHERE`) whose `key_column` is one of `keys`,
/// in chunks; `extra` is appended to the condition (e.g. `AND left_at IS NULL`).
pub(crate) async fn load_by_keys(
    conn: &mut AnyConnection,
    dialect: Dialect,
    select: &str,
    key_column: &str,
    keys: &[String],
    extra: &str,
) -> Result<Vec<AnyRow>, ProjectionError> {
    let mut out = Vec::new();
    for chunk in keys.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut sql = format!("{select} {key_column} IN (");
        for i in 1..=chunk.len() {
            if i > 1 {
                sql.push(',');
            }
            push_placeholder(&mut sql, dialect, i);
        }
        sql.push_str(") ");
        sql.push_str(extra);
        let args = chunk.iter().map(|k| Val::Text(k.clone())).collect();
        let full = chunk.len() == MAX_ROWS_PER_STATEMENT;
        out.extend(
            bind_all(sql, args)
                .persistent(full)
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    Ok(out)
}

/// A statement under construction with its arguments, for the query filters.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    pub args: Vec<Val>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// Appends `text`, with every `?` replaced by the next placeholder bound to `arg`.
    pub fn push(&mut self, text: &str, arg: impl Into<Val>) -> &mut Sql {
        self.args.push(arg.into());
        let placeholder = format!("${}", self.args.len());
        self.text.push_str(&text.replace('?', &placeholder));
        self
    }

    /// Appends plain text.
    pub fn raw(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    pub async fn fetch_all(self, pool: &AnyPool) -> Result<Vec<AnyRow>, ProjectionError> {
        Ok(bind_all(self.text, self.args).fetch_all(pool).await?)
    }

    pub async fn fetch_optional(self, pool: &AnyPool) -> Result<Option<AnyRow>, ProjectionError> {
        Ok(bind_all(self.text, self.args).fetch_optional(pool).await?)
    }
}

// ---- reading columns back ----

fn corrupt(column: &str, reason: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Corrupt {
        column: column.to_owned(),
        reason: reason.to_string(),
    }
}

pub(crate) fn get_text(row: &AnyRow, column: &str) -> Result<String, ProjectionError> {
    row.try_get::<String, _>(column)
        .map_err(|e| corrupt(column, e))
}

pub(crate) fn get_opt_text(row: &AnyRow, column: &str) -> Result<Option<String>, ProjectionError> {
    row.try_get::<Option<String>, _>(column)
        .map_err(|e| corrupt(column, e))
}

pub(crate) fn get_i64(row: &AnyRow, column: &str) -> Result<i64, ProjectionError> {
    row.try_get::<i64, _>(column)
        .map_err(|e| corrupt(column, e))
}

pub(crate) fn get_u64(row: &AnyRow, column: &str) -> Result<u64, ProjectionError> {
    u64::try_from(get_i64(row, column)?).map_err(|e| corrupt(column, e))
}

pub(crate) fn get_opt_u64(row: &AnyRow, column: &str) -> Result<Option<u64>, ProjectionError> {
    row.try_get::<Option<i64>, _>(column)
        .map_err(|e| corrupt(column, e))?
        .map(|v| u64::try_from(v).map_err(|e| corrupt(column, e)))
        .transpose()
}

pub(crate) fn get_bool(row: &AnyRow, column: &str) -> Result<bool, ProjectionError> {
    Ok(get_i64(row, column)? != 0)
}

pub(crate) fn parse_uuid(column: &str, text: &str) -> Result<Uuid, ProjectionError> {
    Uuid::parse_str(text).map_err(|e| corrupt(column, e))
}

pub(crate) fn get_uuid(row: &AnyRow, column: &str) -> Result<Uuid, ProjectionError> {
    parse_uuid(column, &get_text(row, column)?)
}

pub(crate) fn get_opt_uuid(row: &AnyRow, column: &str) -> Result<Option<Uuid>, ProjectionError> {
    get_opt_text(row, column)?
        .map(|t| parse_uuid(column, &t))
        .transpose()
}

fn from_micros(column: &str, micros: i64) -> Result<DateTime<Utc>, ProjectionError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt(column, "time out of range"))
}

pub(crate) fn get_time(row: &AnyRow, column: &str) -> Result<DateTime<Utc>, ProjectionError> {
    from_micros(column, get_i64(row, column)?)
}

pub(crate) fn get_opt_time(
    row: &AnyRow,
    column: &str,
) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    row.try_get::<Option<i64>, _>(column)
        .map_err(|e| corrupt(column, e))?
        .map(|t| from_micros(column, t))
        .transpose()
}

/// A column holding a serde value as JSON text, or as a bare enum name.
pub(crate) fn get_json<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<T, ProjectionError> {
    serde_json::from_str(&get_text(row, column)?).map_err(|e| corrupt(column, e))
}

/// A column holding a unit enum as its serde name (`"surgeon"`).
pub(crate) fn get_enum<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<T, ProjectionError> {
    let text = get_text(row, column)?;
    serde_json::from_value(serde_json::Value::String(text)).map_err(|e| corrupt(column, e))
}

/// The serde name of a unit enum (`SessionRole::Surgeon` -> `"surgeon"`).
pub(crate) fn enum_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        // Only unit enums are passed here; anything else is a programming error worth seeing.
        other => format!("{other:?}"),
    }
}

/// JSON text of a value; serialising the domain's plain structs cannot fail.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_missing_files_unless_a_mode_is_given() {
        assert_eq!(
            prepare_sqlite_url("sqlite::memory:").unwrap(),
            "sqlite::memory:"
        );
        assert_eq!(
            prepare_sqlite_url("sqlite://x.db?mode=ro").unwrap(),
            "sqlite://x.db?mode=ro"
        );
        assert_eq!(
            prepare_sqlite_url("sqlite://x.db?cache=shared").unwrap(),
            "sqlite://x.db?cache=shared&mode=rwc"
        );
    }

    #[tokio::test]
    async fn text_with_quotes_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/q.db", dir.path().display());
        let (pool, dialect) = connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE q (k INTEGER PRIMARY KEY, v TEXT)")
            .execute(&pool)
            .await
            .unwrap();
        let tricky = "'); DROP TABLE q; -- \\' \"é\n";
        let mut conn = pool.acquire().await.unwrap();
        let rows = vec![
            vec![Val::Int(1), Val::Text(tricky.into())],
            vec![Val::Int(2), Val::NullText],
        ];
        write_rows(&mut conn, dialect, "q", &["k", "v"], OnConflict::Fail, rows)
            .await
            .unwrap();
        let back: Vec<(i64, Option<String>)> = sqlx::query_as("SELECT k, v FROM q ORDER BY k")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(back, vec![(1, Some(tricky.to_owned())), (2, None)]);
    }

    #[test]
    fn passwords_do_not_reach_error_messages() {
        assert_eq!(redact("mysql://u:secret@h/db"), "mysql://***@h/db");
    }
}

#[cfg(test)]
mod bench {
    use super::*;
    use std::time::Instant;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "measurement: cargo test --release -p livesurgery-projections --lib -- --ignored --nocapture"]
    async fn multi_row_insert_throughput() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/b.db", dir.path().display());
        let (pool, dialect) = connect(&url).await.unwrap();
        let cols: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
        let col_refs: Vec<&str> = cols.iter().map(String::as_str).collect();
        let mut conn = pool.acquire().await.unwrap();
        for (name, text, pragma) in [
            ("ints", false, "PRAGMA synchronous = FULL"),
            ("texts", true, "PRAGMA synchronous = FULL"),
            ("texts_normal", true, "PRAGMA synchronous = NORMAL"),
            ("texts_off", true, "PRAGMA synchronous = OFF"),
        ] {
            sqlx::query(pragma).execute(&mut *conn).await.unwrap();
            let ddl = format!(
                "CREATE TABLE {name} (c0 INTEGER PRIMARY KEY, {})",
                cols[1..]
                    .iter()
                    .map(|c| format!("{c} TEXT"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            sqlx::query(AssertSqlSafe(ddl))
                .execute(&pool)
                .await
                .unwrap();
            let started = Instant::now();
            let mut build = 0.0;
            for batch in 0..20i64 {
                let t = Instant::now();
                let rows: Vec<Vec<Val>> = (0..10_000i64)
                    .map(|i| {
                        let mut row = vec![Val::Int(batch * 10_000 + i)];
                        for _ in 1..12 {
                            row.push(if text {
                                Val::Text(
                                    Uuid::from_u128(
                                        u128::from(i as u64) * 0x9e37_79b9_7f4a_7c15 + 7,
                                    )
                                    .to_string(),
                                )
                            } else {
                                Val::Int(i)
                            });
                        }
                        row
                    })
                    .collect();
                build += t.elapsed().as_secs_f64();
                let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE")
                    .await
                    .unwrap();
                write_rows(&mut tx, dialect, name, &col_refs, OnConflict::Fail, rows)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{name}: 200,000 rows in {secs:.2}s ({build:.2}s building) = {:.0} rows/s",
                200_000.0 / secs
            );
        }
    }
}
