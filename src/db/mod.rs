//! The database layer: one small trait set, one module per engine (`sqlite.rs`, `postgres/`,
//! `mysql/`), chosen by the configured `DbTarget`, and what the engines share around a
//! session (`driver.rs`).
//!
//! Owns: connecting (with errors that name host, port, database and user — never the
//! password), the read-only snapshot view, write transactions, the dialect (identifier
//! quoting, placeholders), server `now`, schema introspection and the per-database lock.
//!
//! Must never: format a value into SQL (values are always bound parameters; identifiers go
//! through `Dialect::quote`), hold a write transaction open across anything but one chunk,
//! or enable foreign keys on SQLite (MultiFlexi's daemons run with them off).
//!
//! SQL text handed to `query`/`execute` uses `?` placeholders on every engine; the PostgreSQL
//! backend rewrites them to `$1…$n` (outside quoted identifiers and string literals).

pub mod dialect;
mod driver;
pub mod scenario;
pub mod schema;

#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;

use std::fmt;

use housekeeper_journal::{DateTimeValue, Value};

pub use dialect::Dialect;
pub use schema::{ColumnInfo, ColumnKind, ForeignKey, IndexInfo, SchemaFacts, TableInfo};

use crate::config::{DbTarget, Engine};

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Could not connect or log in. `target` is the redacted description
    /// (`postgres://user@host:port/db`); `detail` is the driver's reason.
    #[error("cannot connect to {target}: {detail}")]
    Connect {
        target: String,
        detail: String,
        auth: bool,
    },
    /// A statement failed. `sql` is the statement text (never contains values).
    #[error("{detail} (in: {sql})")]
    Statement {
        sql: String,
        detail: String,
        code: Option<String>,
    },
    /// A value came back in a form this tool cannot represent.
    #[error("cannot read {column}: {detail}")]
    Decode { column: String, detail: String },
    /// A statement waited longer than `MULTIFLEXI_HOUSEKEEPER_LOCK_TIMEOUT` for a lock another
    /// session holds; its transaction is rolled back.
    #[error("gave up waiting for a lock another session holds (MULTIFLEXI_HOUSEKEEPER_LOCK_TIMEOUT): {detail} (in: {sql})")]
    // The words are `LOCK_TIMEOUT_WORDS`.
    LockTimeout { sql: String, detail: String },
    /// A statement ran longer than `MULTIFLEXI_HOUSEKEEPER_STATEMENT_TIMEOUT`, or was cancelled
    /// because a stop signal arrived while it ran; its transaction is rolled back.
    #[error("{detail} (in: {sql})")]
    Cancelled { sql: String, detail: String },
    /// The connection is gone (the server closed it, the network failed). Whether the last
    /// commit took effect is unknown: only the next start's recovery can tell.
    #[error("the database connection was lost: {0}")]
    Lost(String),
    /// The lock could not be taken or checked for a reason other than "held".
    #[error("database lock: {0}")]
    Lock(String),
    /// This build or engine cannot do what was asked.
    #[error("{0}")]
    Unsupported(String),
}

impl DbError {
    /// A statement error from a driver error, keeping the SQL for context.
    pub fn statement(sql: &str, detail: impl fmt::Display, code: Option<String>) -> Self {
        let mut sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        if sql.len() > 300 {
            let mut end = 300;
            while !sql.is_char_boundary(end) {
                end -= 1;
            }
            sql.truncate(end);
            sql.push('…');
        }
        DbError::Statement {
            sql,
            detail: detail.to_string(),
            code,
        }
    }

    /// A statement error sorted by what the engine's code says: a lock wait given up, a
    /// statement cancelled, or an ordinary error.
    pub fn classified(
        sql: &str,
        detail: impl fmt::Display,
        code: Option<String>,
        kind: Failed,
    ) -> Self {
        match Self::statement(sql, detail, code) {
            DbError::Statement { sql, detail, .. } if kind == Failed::LockTimeout => {
                DbError::LockTimeout { sql, detail }
            }
            DbError::Statement { sql, detail, .. } if kind == Failed::Cancelled => {
                DbError::Cancelled { sql, detail }
            }
            other => other,
        }
    }
}

/// How a statement failed, as each engine's error codes tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Waited too long for a lock (PostgreSQL 55P03, MySQL 1205, SQLite `SQLITE_BUSY`).
    LockTimeout,
    /// Cancelled by the statement timeout or a cancel request (PostgreSQL 57014, MariaDB
    /// 1969 and 1317, MySQL 3024, SQLite `SQLITE_INTERRUPT`).
    Cancelled,
    /// Anything else.
    Other,
}

/// Cancels the statement a connection is running, from another thread (a stop signal while
/// a statement waits for a lock). Cancelling when no statement runs does nothing.
pub trait Cancel: Send + Sync {
    /// # Errors
    /// The cancel request could not be sent.
    fn cancel(&self) -> DbResult<()>;
}

pub type DbResult<T> = Result<T, DbError>;

/// What `query_each` hands every row to, in order.
pub type EachRow<'a> = &'a mut dyn FnMut(&[Value]) -> DbResult<()>;

/// Column names of a result set, shared by its rows.
pub type Columns = std::sync::Arc<[String]>;

/// A fully read result set.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    /// The index of a column by name (exact match).
    #[must_use]
    pub fn index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }
}

/// Every row a query hands over, collected: `run` runs the query with the row callback.
fn collect(run: impl FnOnce(EachRow<'_>) -> DbResult<Vec<String>>) -> DbResult<Rows> {
    let mut rows = Vec::new();
    let columns = run(&mut |row| {
        rows.push(row.to_vec());
        Ok(())
    })?;
    Ok(Rows { columns, rows })
}

/// Who holds the per-database lock, as far as the engine can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder(pub String);

/// Reading. Implemented by the snapshot view and by write transactions.
pub trait Query {
    fn dialect(&self) -> &Dialect;

    /// Runs a query and hands each row to `each`, in order, without collecting (constant
    /// memory). Returns the column names.
    ///
    /// # Errors
    /// The statement failed, a value could not be decoded, or `each` returned an error.
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: EachRow<'_>,
    ) -> DbResult<Vec<String>>;

    /// Runs a query and collects every row.
    ///
    /// # Errors
    /// As `query_each`.
    fn query(&mut self, sql: &str, params: &[Value]) -> DbResult<Rows> {
        collect(|each| self.query_each(sql, params, each))
    }

    /// The first column of the first row, or `None` when there is no row.
    ///
    /// # Errors
    /// As `query_each`.
    fn query_scalar(&mut self, sql: &str, params: &[Value]) -> DbResult<Option<Value>> {
        let mut first = None;
        self.query_each(sql, params, &mut |row| {
            if first.is_none() {
                first = row.first().cloned();
            }
            Ok(())
        })?;
        Ok(first)
    }
}

/// A read-only, consistent snapshot of the database (one read-only transaction). It has no
/// write methods, and the engine refuses writes through it. Dropping it ends the transaction.
pub trait ReadView: Query {}

/// One write transaction (one chunk). Dropping it without `commit` rolls back.
pub trait WriteTx: Query {
    /// Executes a statement; returns the number of rows it changed.
    ///
    /// # Errors
    /// The statement failed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64>;

    /// Deletes the rows of `table` matched by `where_sql` (with `params`), handing each deleted
    /// row — every column, in table order — to `each` before the transaction commits. Uses the
    /// engine's fastest capturing form (`DELETE … RETURNING`, or `SELECT` then `DELETE` on
    /// SQLite). Returns the column names and the number of rows deleted.
    ///
    /// # Errors
    /// The statement failed or `each` returned an error (the transaction should then be
    /// dropped, which rolls it back).
    fn delete_capture(
        &mut self,
        table: &str,
        where_sql: &str,
        params: &[Value],
        each: EachRow<'_>,
    ) -> DbResult<(Vec<String>, u64)>;

    /// Selects the rows of `table` matched by `where_sql`, every column, locking them against
    /// concurrent change until the transaction ends (`FOR UPDATE`; SQLite's write lock already
    /// covers the whole database).
    ///
    /// # Errors
    /// The statement failed.
    fn select_for_update(
        &mut self,
        table: &str,
        where_sql: &str,
        params: &[Value],
    ) -> DbResult<Rows>;

    /// Commits.
    ///
    /// # Errors
    /// The commit failed; nothing of the transaction is applied.
    fn commit(self: Box<Self>) -> DbResult<()>;
}

/// One open connection to the MultiFlexi database.
pub trait Connection: Send {
    fn engine(&self) -> Engine;

    fn dialect(&self) -> &Dialect;

    /// The redacted target, for messages: `mysql://root@127.0.0.1:3306/multiflexi`.
    fn describe(&self) -> String;

    /// A stable identity of the database, recorded in the journal and in saved plans: the
    /// engine, server and database name (for SQLite the canonical file path). Two
    /// connections to the same database give the same identity.
    ///
    /// # Errors
    /// The server could not be asked.
    fn identity(&mut self) -> DbResult<String>;

    /// The server's version string, e.g. `10.11.19-MariaDB` or `PostgreSQL 15.19`.
    ///
    /// # Errors
    /// The server could not be asked.
    fn server_version(&mut self) -> DbResult<String>;

    /// The server's naive local time (`NOW()` / `LOCALTIMESTAMP`). SQLite has no server
    /// clock and returns `None`; the caller uses the process clock in `MULTIFLEXI_TIMEZONE`.
    ///
    /// # Errors
    /// The server could not be asked.
    fn server_now(&mut self) -> DbResult<Option<DateTimeValue>>;

    /// Tables, columns, keys and indexes of the current database.
    ///
    /// # Errors
    /// The catalog could not be read.
    fn introspect(&mut self) -> DbResult<SchemaFacts>;

    /// Begins a read-only consistent snapshot.
    ///
    /// # Errors
    /// The transaction could not be started.
    fn snapshot(&mut self) -> DbResult<Box<dyn ReadView + '_>>;

    /// Begins a write transaction (SQLite: `BEGIN IMMEDIATE`, waiting up to the busy timeout).
    ///
    /// # Errors
    /// The transaction could not be started.
    fn begin(&mut self) -> DbResult<Box<dyn WriteTx + '_>>;

    /// Runs DDL outside any transaction (MySQL commits DDL implicitly).
    ///
    /// # Errors
    /// The statement failed.
    fn execute_ddl(&mut self, sql: &str) -> DbResult<()>;

    /// Tries to take the per-database housekeeper lock without waiting (PostgreSQL advisory
    /// lock, MySQL `GET_LOCK`, SQLite a lock file beside the database). `Ok(Err(holder))`
    /// when another session holds it. The lock lasts until `unlock` or until the connection
    /// closes.
    ///
    /// # Errors
    /// The lock could not be checked at all.
    fn try_lock(&mut self) -> DbResult<Result<(), LockHolder>>;

    /// Releases the lock taken by `try_lock` (a no-op when not held).
    ///
    /// # Errors
    /// The release failed.
    fn unlock(&mut self) -> DbResult<()>;

    /// A handle that cancels this connection's running statement from another thread.
    /// `None` where the engine has none (SQLite: its waits are bounded by `busy_timeout`).
    fn canceller(&mut self) -> Option<Box<dyn Cancel>> {
        None
    }

    /// The other sessions that hold locks in this database, one line each, for the message
    /// of a lock wait given up. Best effort: empty when the engine cannot tell.
    fn lock_holders(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Whether the connection is gone, after an error (asks the server where it must).
    fn is_lost(&mut self) -> bool {
        false
    }
}

/// The words that start the message of `DbError::LockTimeout`, for plans whose errors are
/// text.
pub const LOCK_TIMEOUT_WORDS: &str = "gave up waiting for a lock another session holds";

/// What a message about a lock wait given up adds: the sessions that hold locks in the
/// database (nothing when the engine cannot tell).
pub fn holders_text(conn: &mut dyn Connection) -> String {
    let holders = conn.lock_holders();
    if holders.is_empty() {
        return String::new();
    }
    format!("; holding locks: {}", holders.join("; "))
}

/// Options of a connection.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The time to wait for a server connection.
    pub timeout: std::time::Duration,
    /// How long a statement waits for a lock another session holds (SQLite: `busy_timeout`).
    pub lock_timeout: std::time::Duration,
    /// How long one statement may run (servers only).
    pub statement_timeout: std::time::Duration,
    /// Open SQLite read-only (`plan`, `doctor`): nothing, not even a WAL file, is created.
    pub read_only: bool,
    /// SQLite only: a write transaction begins no sooner than this after the connection's
    /// previous one ended, so other writers waiting for the one write lock get it in between.
    pub writer_pause: std::time::Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout: std::time::Duration::from_secs(10),
            lock_timeout: std::time::Duration::from_secs(30),
            statement_timeout: std::time::Duration::from_secs(900),
            read_only: false,
            writer_pause: std::time::Duration::ZERO,
        }
    }
}

/// Connects to the configured database.
///
/// # Errors
/// `DbError::Connect` naming the target (never the password); `Unsupported` when the engine
/// was left out of this build.
pub fn connect(target: &DbTarget, options: &ConnectOptions) -> DbResult<Box<dyn Connection>> {
    match target {
        DbTarget::Sqlite { path } => sqlite::SqliteConnection::open(path, options),
        #[cfg(feature = "postgres")]
        DbTarget::Postgres(server) => postgres::PostgresConnection::open(server, options),
        #[cfg(feature = "mysql")]
        DbTarget::Mysql(server) => mysql::MysqlConnection::open(server, options),
        #[allow(unreachable_patterns)]
        other => Err(DbError::Unsupported(format!(
            "this build of housekeeper has no {} support (built without the `{}` feature)",
            other.engine(),
            other.engine()
        ))),
    }
}
