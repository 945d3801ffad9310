//! The SQLite backend (`rusqlite`, bundled SQLite).
//!
//! Owns: opening the database file (never creating it), the per-connection settings MultiFlexi
//! needs (`PRAGMA foreign_keys=OFF`, a `busy_timeout`), typed values, snapshots, write
//! transactions and the pause before them (`ConnectOptions::writer_pause`, so other writers
//! get the one write lock between two chunks; when, `turns.rs`), introspection through `PRAGMA table_info` / `foreign_key_list` /
//! `index_list` / `index_info`, and the lock file beside the database.
//!
//! Must never: enable foreign keys (MultiFlexi's daemons run with them off, and a cascade the
//! journal did not see would lose data), change the database's journal mode, hold a write
//! transaction as a lock, or create a file when opened read-only.
//!
//! Values keep SQLite's storage class: NULL, INTEGER, REAL, TEXT and BLOB read as
//! `Null`/`Int`/`Float`/`Text`/`Bytes`. The one exception is TEXT that is not valid UTF-8
//! (PHP can store any bytes as text): it reads as `Bytes`, keeping the bytes but not the class.
//! Bound values: `Bool` → 0/1, `DateTime` → `YYYY-MM-DD HH:MM:SS[.ffffff]`, `Date` →
//! `YYYY-MM-DD`, `Time`/`Decimal`/`Json` → text, `UInt` above `i64::MAX` → an error.
//!
//! Snapshots are deferred transactions that read once at the start, so the snapshot is fixed
//! when `snapshot()` returns, with `PRAGMA query_only=ON` while they are open. In WAL mode
//! (what MultiFlexi uses) writers carry on meanwhile; in rollback-journal mode a snapshot
//! blocks writers until it ends, which is SQLite's own rule.
//!
//! Read-only connections (`plan`, `doctor`) open with `SQLITE_OPEN_READONLY`. Observed with
//! the bundled SQLite (and held by a test): on a rollback-journal database nothing at all is
//! created. On a WAL database SQLite itself needs `<db>-wal` and `<db>-shm` to read; when they
//! are missing (every connection closed cleanly) it creates both, and a read-only connection
//! cannot remove them again, so they stay. While MultiFlexi's daemons run they exist anyway.
//! This backend creates nothing else: on a read-only connection the lock file is only opened,
//! never created.
//!
//! Statement error codes (`DbError::Statement::code`) are SQLite's extended result codes as
//! decimal text (`5` busy, `8` read-only, `2067` unique constraint, …).

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use housekeeper_journal::{DateTimeValue, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{ffi, OpenFlags};

use super::driver::{Driver, Session, WriteDriver};
use super::{
    ColumnInfo, ColumnKind, ConnectOptions, Connection, DbError, DbResult, Dialect, EachRow,
    Failed, ForeignKey, IndexInfo, LockHolder, ReadView, SchemaFacts, TableInfo, WriteTx,
};
use crate::config::{DbTarget, Engine};
use turns::Turns;

mod turns;

/// The suffix of the lock file beside the database file.
pub const LOCK_SUFFIX: &str = ".housekeeper-lock";

/// One open SQLite database file.
pub struct SqliteConnection {
    conn: rusqlite::Connection,
    /// The path as configured, for messages.
    path: PathBuf,
    /// The canonical path: identity and lock file.
    canonical: PathBuf,
    dialect: Dialect,
    read_only: bool,
    timeout: Duration,
    /// The lock file while this connection holds the lock.
    lock: Option<File>,
    /// When to let other writers in before a write transaction (`turns`).
    turns: RefCell<Turns>,
}

impl SqliteConnection {
    /// Opens an existing database file (a missing file is an error, never created).
    ///
    /// # Errors
    /// `DbError::Connect` naming the path when the file is missing, unreadable or not a
    /// SQLite database, or the connection settings cannot be applied.
    pub fn open(path: &Path, options: &ConnectOptions) -> DbResult<Box<dyn Connection>> {
        Ok(Box::new(Self::open_concrete(path, options)?))
    }

    fn open_concrete(path: &Path, options: &ConnectOptions) -> DbResult<Self> {
        let target = DbTarget::Sqlite {
            path: path.to_owned(),
        }
        .to_string();
        let fail = |detail: String| DbError::Connect {
            target: target.clone(),
            detail,
            auth: false,
        };
        let canonical = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(fail("the database file does not exist".into()))
            }
            Err(e) => return Err(fail(format!("cannot resolve the path: {e}"))),
        };
        if !canonical.is_file() {
            return Err(fail("the path is not a regular file".into()));
        }
        let flags = if options.read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = rusqlite::Connection::open_with_flags(&canonical, flags)
            .map_err(|e| fail(e.to_string()))?;
        conn.busy_timeout(options.lock_timeout)
            .map_err(|e| fail(format!("cannot set busy_timeout: {e}")))?;
        // Explicitly off: the bundled SQLite may be built with foreign keys on by default.
        conn.execute_batch("PRAGMA foreign_keys = OFF")
            .map_err(|e| fail(format!("cannot set PRAGMA foreign_keys=OFF: {e}")))?;
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .map_err(|e| fail(format!("cannot read PRAGMA foreign_keys: {e}")))?;
        if fk != 0 {
            return Err(fail("PRAGMA foreign_keys stays on".into()));
        }
        // Reading the schema proves the file is a database we can read.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| fail(e.to_string()))?;
        Ok(SqliteConnection {
            conn,
            path: path.to_owned(),
            canonical,
            dialect: Dialect::new(Engine::Sqlite),
            read_only: options.read_only,
            timeout: options.lock_timeout,
            lock: None,
            turns: RefCell::new(Turns::new(options.writer_pause)),
        })
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.canonical.clone().into_os_string();
        name.push(LOCK_SUFFIX);
        PathBuf::from(name)
    }
}

/// Turns a rusqlite error into a statement error; a busy database names the file and the
/// time waited.
fn statement_error(sql: &str, error: &rusqlite::Error, path: &Path, timeout: Duration) -> DbError {
    if let rusqlite::Error::SqlInputError {
        error: failure,
        msg,
        offset,
        ..
    } = error
    {
        // rusqlite's own text repeats the whole statement; the caller's error already has it.
        return DbError::statement(
            sql,
            format!("{msg} (at byte {offset})"),
            Some(failure.extended_code.to_string()),
        );
    }
    if let rusqlite::Error::SqliteFailure(failure, _) = error {
        let code = Some(failure.extended_code.to_string());
        if matches!(
            failure.code,
            ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked
        ) {
            return DbError::classified(
                sql,
                format!(
                    "the SQLite database {} is locked by another connection (waited {} s)",
                    path.display(),
                    timeout.as_secs_f64()
                ),
                code,
                Failed::LockTimeout,
            );
        }
        if failure.code == ffi::ErrorCode::OperationInterrupted {
            return DbError::classified(sql, error, code, Failed::Cancelled);
        }
        return DbError::statement(sql, error, code);
    }
    DbError::statement(sql, error, None)
}

/// Reads one column value, keeping the storage class.
fn read_value(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => Value::Text(text.to_owned()),
            Err(_) => Value::Bytes(bytes.to_vec()),
        },
        ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
    }
}

/// A value as SQLite stores it. `UInt` values were checked to fit before binding.
fn bind_value(value: &Value) -> ToSqlOutput<'_> {
    use rusqlite::types::Value as Sql;
    match value {
        Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        Value::Bool(b) => ToSqlOutput::Owned(Sql::Integer(i64::from(*b))),
        Value::Int(i) => ToSqlOutput::Owned(Sql::Integer(*i)),
        Value::UInt(u) => ToSqlOutput::Owned(Sql::Integer(i64::try_from(*u).unwrap_or(i64::MAX))),
        Value::Float(f) => ToSqlOutput::Owned(Sql::Real(*f)),
        Value::Decimal(s) | Value::Text(s) | Value::Json(s) => {
            ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
        }
        Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        Value::DateTime(d) => ToSqlOutput::Owned(Sql::Text(d.to_string())),
        Value::Date(d) => ToSqlOutput::Owned(Sql::Text(format_date(d))),
        Value::Time(t) => ToSqlOutput::Owned(Sql::Text(t.to_string())),
    }
}

fn format_date(d: &DateTimeValue) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

struct Param<'a>(&'a Value);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(bind_value(self.0))
    }
}

/// Prepares, binds and checks parameters.
fn prepare<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    params: &[Value],
    path: &Path,
    timeout: Duration,
) -> DbResult<rusqlite::CachedStatement<'c>> {
    for (i, value) in params.iter().enumerate() {
        if let Value::UInt(u) = value {
            if i64::try_from(*u).is_err() {
                return Err(DbError::statement(
                    sql,
                    format!(
                        "parameter {} is an unsigned integer above {}, which SQLite cannot store",
                        i + 1,
                        i64::MAX
                    ),
                    None,
                ));
            }
        }
    }
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(|e| statement_error(sql, &e, path, timeout))?;
    if stmt.parameter_count() != params.len() {
        return Err(DbError::statement(
            sql,
            format!(
                "the statement has {} parameters but {} values were given",
                stmt.parameter_count(),
                params.len()
            ),
            None,
        ));
    }
    for (i, value) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, Param(value))
            .map_err(|e| statement_error(sql, &e, path, timeout))?;
    }
    Ok(stmt)
}

/// The shared reading code of connections, snapshots and transactions.
fn query_each(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value],
    path: &Path,
    timeout: Duration,
    each: EachRow<'_>,
) -> DbResult<Vec<String>> {
    let mut stmt = prepare(conn, sql, params, path, timeout)?;
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let width = columns.len();
    let mut rows = stmt.raw_query();
    let mut buffer = Vec::with_capacity(width);
    loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => return Err(statement_error(sql, &e, path, timeout)),
        };
        buffer.clear();
        for i in 0..width {
            let value = row
                .get_ref(i)
                .map_err(|e| statement_error(sql, &e, path, timeout))?;
            buffer.push(read_value(value));
        }
        each(&buffer)?;
    }
    Ok(columns)
}

fn execute(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value],
    path: &Path,
    timeout: Duration,
) -> DbResult<u64> {
    let mut stmt = prepare(conn, sql, params, path, timeout)?;
    let changed = stmt
        .raw_execute()
        .map_err(|e| statement_error(sql, &e, path, timeout))?;
    Ok(changed as u64)
}

/// Runs one statement without parameters or results (transaction control, pragmas).
fn batch(conn: &rusqlite::Connection, sql: &str, path: &Path, timeout: Duration) -> DbResult<()> {
    conn.execute_batch(sql)
        .map_err(|e| statement_error(sql, &e, path, timeout))
}

impl Driver for SqliteConnection {
    fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    fn each(&mut self, sql: &str, params: &[Value], each: EachRow<'_>) -> DbResult<Vec<String>> {
        query_each(&self.conn, sql, params, &self.path, self.timeout, each)
    }
}

/// A deferred read transaction with `query_only` on, or a `BEGIN IMMEDIATE` transaction.
struct SqliteSession<'a> {
    owner: &'a SqliteConnection,
    /// For a snapshot: `query_only` before it, restored when it ends.
    query_only_before: Option<bool>,
    done: bool,
}

impl Driver for SqliteSession<'_> {
    fn dialect(&self) -> &Dialect {
        &self.owner.dialect
    }

    fn each(&mut self, sql: &str, params: &[Value], each: EachRow<'_>) -> DbResult<Vec<String>> {
        let o = self.owner;
        query_each(&o.conn, sql, params, &o.path, o.timeout, each)
    }
}

impl WriteDriver for SqliteSession<'_> {
    // BEGIN IMMEDIATE already holds the database's write lock.
    const LOCK_ROWS: &'static str = "";

    fn run(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        let o = self.owner;
        execute(&o.conn, sql, params, &o.path, o.timeout)
    }

    /// SELECT then DELETE is faster than RETURNING on SQLite.
    fn returning(&self) -> bool {
        false
    }

    fn commit(mut self) -> DbResult<()> {
        let o = self.owner;
        batch(&o.conn, "COMMIT", &o.path, o.timeout)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for SqliteSession<'_> {
    fn drop(&mut self) {
        let conn = &self.owner.conn;
        match self.query_only_before {
            Some(query_only_before) => {
                if let Err(e) = conn.execute_batch("ROLLBACK") {
                    log::warn!("ending the SQLite snapshot failed: {e}");
                }
                if !query_only_before {
                    if let Err(e) = conn.execute_batch("PRAGMA query_only = OFF") {
                        log::warn!("restoring PRAGMA query_only failed: {e}");
                    }
                }
            }
            None => {
                if !self.done && !conn.is_autocommit() {
                    if let Err(e) = conn.execute_batch("ROLLBACK") {
                        log::warn!("rolling back the SQLite transaction failed: {e}");
                    }
                }
                self.owner.turns.borrow_mut().ended(Instant::now());
            }
        }
    }
}

impl Connection for SqliteConnection {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    fn describe(&self) -> String {
        DbTarget::Sqlite {
            path: self.path.clone(),
        }
        .to_string()
    }

    fn identity(&mut self) -> DbResult<String> {
        Ok(format!("sqlite:{}", self.canonical.display()))
    }

    fn server_version(&mut self) -> DbResult<String> {
        Ok(format!("SQLite {}", rusqlite::version()))
    }

    fn server_now(&mut self) -> DbResult<Option<DateTimeValue>> {
        Ok(None)
    }

    fn introspect(&mut self) -> DbResult<SchemaFacts> {
        introspect(self)
    }

    fn snapshot(&mut self) -> DbResult<Box<dyn ReadView + '_>> {
        let (path, timeout) = (self.path.as_path(), self.timeout);
        let query_only_before: bool = self
            .conn
            .query_row("PRAGMA query_only", [], |r| r.get::<_, i64>(0))
            .map(|v| v != 0)
            .map_err(|e| statement_error("PRAGMA query_only", &e, path, timeout))?;
        batch(&self.conn, "BEGIN DEFERRED", path, timeout)?;
        // A deferred transaction takes its snapshot at the first read: read now, so the
        // snapshot is the database as of this call.
        let started = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| statement_error("SELECT count(*) FROM sqlite_master", &e, path, timeout))
            .and_then(|_| batch(&self.conn, "PRAGMA query_only = ON", path, timeout));
        if let Err(e) = started {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e);
        }
        Ok(Box::new(Session(SqliteSession {
            owner: self,
            query_only_before: Some(query_only_before),
            done: false,
        })))
    }

    fn begin(&mut self) -> DbResult<Box<dyn WriteTx + '_>> {
        // The other writers' turn: their busy handlers retry every few milliseconds at first,
        // then every 100 ms, so without a pause the next chunk would take the lock again
        // before a waiting writer wakes.
        let version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(|e| statement_error("PRAGMA data_version", &e, &self.path, self.timeout))?;
        let wait = self.turns.borrow_mut().wait_before(Instant::now(), version);
        if let Some(wait) = wait {
            log::trace!(
                "SQLite: {} ms for other writers before the next write transaction",
                wait.as_millis()
            );
            std::thread::sleep(wait);
        }
        batch(&self.conn, "BEGIN IMMEDIATE", &self.path, self.timeout)?;
        Ok(Box::new(Session(SqliteSession {
            owner: self,
            query_only_before: None,
            done: false,
        })))
    }

    fn execute_ddl(&mut self, sql: &str) -> DbResult<()> {
        batch(&self.conn, sql, &self.path, self.timeout)
    }

    fn try_lock(&mut self) -> DbResult<Result<(), LockHolder>> {
        if self.lock.is_some() {
            return Ok(Ok(()));
        }
        let path = self.lock_path();
        let opened = if self.read_only {
            // Create nothing: without a lock file, nobody holds the lock.
            match OpenOptions::new().read(true).open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ok(())),
                Err(e) => {
                    return Err(DbError::Lock(format!(
                        "cannot open the lock file {}: {e}",
                        path.display()
                    )))
                }
            }
        } else {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| {
                    DbError::Lock(format!("cannot open the lock file {}: {e}", path.display()))
                })?
        };
        let mut file = opened;
        let held = crate::state::try_lock(&mut file)
            .map_err(|e| DbError::Lock(format!("cannot lock {}: {e}", path.display())))?;
        if let Some(holder) = held {
            return Ok(Err(LockHolder(if holder.is_empty() {
                format!("an unknown process (lock file {})", path.display())
            } else {
                format!("process {holder} (lock file {})", path.display())
            })));
        }
        if !self.read_only {
            let written = file
                .set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| write!(file, "{}@{}", std::process::id(), crate::state::host_name()))
                .and_then(|()| file.flush());
            if let Err(e) = written {
                return Err(DbError::Lock(format!(
                    "cannot write the lock file {}: {e}",
                    path.display()
                )));
            }
        }
        self.lock = Some(file);
        Ok(Ok(()))
    }

    fn unlock(&mut self) -> DbResult<()> {
        if let Some(file) = self.lock.take() {
            // The file stays (removing it would race with a process opening it); closing
            // the descriptor releases the flock.
            if !self.read_only {
                let _ = file.set_len(0);
            }
            drop(file);
        }
        Ok(())
    }
}

/// The column kind from a declared type (MultiFlexi declares e.g. `BOOLEAN_INTEGER`,
/// `DATETIME_TEXT`, `TIMESTAMP_TEXT`, `JSON_TEXT`, `BINARY_BLOB`, bare `VARCHAR`).
#[must_use]
pub fn kind_of(declared: &str) -> ColumnKind {
    let t = declared.to_ascii_uppercase();
    let has = |s: &str| t.contains(s);
    if has("BOOL") {
        ColumnKind::Boolean
    } else if has("DATETIME") || has("TIMESTAMP") {
        ColumnKind::DateTime
    } else if has("JSON") {
        ColumnKind::Json
    } else if has("DATE") {
        ColumnKind::Date
    } else if has("TIME") {
        ColumnKind::Time
    } else if has("INT") {
        ColumnKind::Integer
    } else if has("CHAR") || has("CLOB") || has("TEXT") {
        ColumnKind::Text
    } else if has("BLOB") || has("BINARY") {
        ColumnKind::Bytes
    } else if has("REAL") || has("FLOA") || has("DOUB") {
        ColumnKind::Float
    } else if has("DEC") || has("NUMERIC") {
        ColumnKind::Decimal
    } else {
        ColumnKind::Other
    }
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Text(s) => Some(s.clone()),
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn introspect(c: &mut SqliteConnection) -> DbResult<SchemaFacts> {
    let need = |v: &Value, what: &str| {
        text_of(v).ok_or_else(|| DbError::Decode {
            column: what.to_owned(),
            detail: format!("expected text, got {}", v.kind()),
        })
    };
    let tables = c.rows(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        &[],
    )?;
    let mut facts = SchemaFacts::default();
    for row in &tables.rows {
        let name = need(&row[0], "sqlite_master.name")?;
        let cols = c.rows(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid",
            &[Value::Text(name.clone())],
        )?;
        let mut pk: Vec<(i64, String)> = Vec::new();
        let mut columns = Vec::new();
        for col in &cols.rows {
            let cname = need(&col[0], "table_info.name")?;
            let declared = text_of(&col[1]).unwrap_or_default();
            let position = col[4].as_i64().unwrap_or(0);
            if position > 0 {
                pk.push((position, cname.clone()));
            }
            columns.push(ColumnInfo {
                kind: kind_of(&declared),
                nullable: col[2].as_i64() == Some(0),
                default: text_of(&col[3]).filter(|d| !d.eq_ignore_ascii_case("NULL")),
                auto_increment: false,
                on_update_now: false,
                name: cname,
                declared_type: declared,
            });
        }
        pk.sort();
        let primary_key: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();
        // A single-column INTEGER PRIMARY KEY is the rowid: assigned when missing, never NULL.
        if let [only] = primary_key.as_slice() {
            if let Some(col) = columns.iter_mut().find(|col| &col.name == only) {
                if col.declared_type.eq_ignore_ascii_case("INTEGER") {
                    col.auto_increment = true;
                    col.nullable = false;
                }
            }
        }

        let fk_rows = c.rows(
            "SELECT id, seq, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq",
            &[Value::Text(name.clone())],
        )?;
        let mut foreign_keys: Vec<(i64, ForeignKey, Vec<Option<String>>)> = Vec::new();
        for fk in &fk_rows.rows {
            let id = fk[0].as_i64().unwrap_or(0);
            let to = text_of(&fk[4]);
            let from = need(&fk[3], "foreign_key_list.from")?;
            match foreign_keys.last_mut() {
                Some((last, key, tos)) if *last == id => {
                    key.columns.push(from);
                    tos.push(to);
                }
                _ => foreign_keys.push((
                    id,
                    ForeignKey {
                        name: None,
                        columns: vec![from],
                        referenced_table: need(&fk[2], "foreign_key_list.table")?,
                        referenced_columns: Vec::new(),
                        on_delete: text_of(&fk[5]).unwrap_or_else(|| "NO ACTION".into()),
                    },
                    vec![to],
                )),
            }
        }

        let index_rows = c.rows(
            "SELECT name, \"unique\", origin FROM pragma_index_list(?) ORDER BY name",
            &[Value::Text(name.clone())],
        )?;
        let mut indexes = Vec::new();
        for index in &index_rows.rows {
            if text_of(&index[2]).as_deref() == Some("pk") {
                continue;
            }
            let iname = need(&index[0], "index_list.name")?;
            let parts = c.rows(
                "SELECT name FROM pragma_index_info(?) ORDER BY seqno",
                &[Value::Text(iname.clone())],
            )?;
            indexes.push(IndexInfo {
                columns: parts
                    .rows
                    .iter()
                    .map(|p| text_of(&p[0]).unwrap_or_else(|| "<expression>".into()))
                    .collect(),
                unique: index[1].as_i64() == Some(1),
                name: iname,
            });
        }

        facts.tables.insert(
            name.clone(),
            TableInfo {
                name,
                columns,
                primary_key,
                // Referenced columns resolved below, once every primary key is known.
                foreign_keys: foreign_keys
                    .into_iter()
                    .map(|(_, mut key, tos)| {
                        key.referenced_columns =
                            tos.into_iter().map(Option::unwrap_or_default).collect();
                        key
                    })
                    .collect(),
                indexes,
            },
        );
    }
    // `REFERENCES parent` without columns means the parent's primary key.
    let primary_keys: std::collections::BTreeMap<String, Vec<String>> = facts
        .tables
        .iter()
        .map(|(n, t)| (n.clone(), t.primary_key.clone()))
        .collect();
    for table in facts.tables.values_mut() {
        for key in &mut table.foreign_keys {
            if key.referenced_columns.iter().any(String::is_empty) {
                if let Some(pk) = primary_keys.get(&key.referenced_table) {
                    if pk.len() == key.columns.len() {
                        key.referenced_columns.clone_from(pk);
                    }
                }
            }
        }
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_of_multiflexi_map_to_kinds() {
        assert_eq!(kind_of("BOOLEAN_INTEGER"), ColumnKind::Boolean);
        assert_eq!(kind_of("DATETIME_TEXT"), ColumnKind::DateTime);
        assert_eq!(kind_of("TIMESTAMP_TEXT"), ColumnKind::DateTime);
        assert_eq!(kind_of("JSON_TEXT"), ColumnKind::Json);
        assert_eq!(kind_of("BINARY_BLOB"), ColumnKind::Bytes);
        assert_eq!(kind_of("VARCHAR"), ColumnKind::Text);
        assert_eq!(kind_of("VARCHAR(255)"), ColumnKind::Text);
        assert_eq!(kind_of("INTEGER"), ColumnKind::Integer);
        assert_eq!(kind_of("BIGINTEGER"), ColumnKind::Integer);
        assert_eq!(kind_of("date"), ColumnKind::Date);
        assert_eq!(kind_of("TIME"), ColumnKind::Time);
        assert_eq!(kind_of("DECIMAL(10,2)"), ColumnKind::Decimal);
        assert_eq!(kind_of("DOUBLE"), ColumnKind::Float);
        assert_eq!(kind_of(""), ColumnKind::Other);
    }

    #[test]
    fn bound_values_take_the_documented_forms() {
        let dt = DateTimeValue {
            micros: 120,
            ..DateTimeValue::ymd_hms(2024, 3, 1, 7, 8, 9)
        };
        let text = |v: &Value| match bind_value(v) {
            ToSqlOutput::Owned(rusqlite::types::Value::Text(s)) => s,
            ToSqlOutput::Borrowed(ValueRef::Text(b)) => String::from_utf8(b.to_vec()).unwrap(),
            _ => panic!("not text"),
        };
        assert_eq!(text(&Value::DateTime(dt)), "2024-03-01 07:08:09.000120");
        assert_eq!(text(&Value::Date(dt)), "2024-03-01");
        assert_eq!(text(&Value::Decimal("-1.50".into())), "-1.50");
        assert!(matches!(
            bind_value(&Value::Bool(true)),
            ToSqlOutput::Owned(rusqlite::types::Value::Integer(1))
        ));
    }
}
