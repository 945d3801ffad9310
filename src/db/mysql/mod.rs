//! The MySQL/MariaDB backend (`mysql`, pure Rust, without TLS).
//!
//! Owns: connecting from a `ServerTarget` (TCP host and port or a Unix socket, the
//! `prefer_socket` URL parameter, a connect timeout), the session settings below, typed values
//! through the binary protocol (every statement is prepared), snapshots, write transactions,
//! capturing deletes, and the `GET_LOCK` lock. Reading `information_schema` is
//! `introspect.rs`.
//!
//! Must never: put a value into SQL text, print the password, or change the server's session
//! time zone.
//!
//! Session settings, on every connection:
//! - `SET NAMES utf8mb4`, as the PHP daemons do.
//! - `sql_mode`: the server's own mode minus `NO_ZERO_DATE` and `NO_ZERO_IN_DATE`, plus
//!   `ALLOW_INVALID_DATES`. Strict mode stays, so a value that does not fit its column is an
//!   error rather than silently cut; zero dates (`0000-00-00`) and dates such as `2024-02-30`,
//!   which MultiFlexi databases can hold, can be written back exactly as they were read (undo
//!   re-inserts rows).
//! - The time zone is the server's default, which is what the PHP daemons use. `TIMESTAMP`
//!   columns are stored in UTC and converted from and to that zone; a value read and written
//!   back in the same session zone is the same instant, except within the hour repeated when
//!   daylight saving time ends: both instants of that hour read as the same local time, and
//!   writing it back stores the first. `DATETIME` columns are naive and round-trip exactly.
//!
//! Values: signed integers → `Int`, integers of `UNSIGNED` columns → `UInt`, `FLOAT`/`DOUBLE`
//! → `Float`, `DECIMAL` → `Decimal`, `DATE` → `Date`, `DATETIME`/`TIMESTAMP` → `DateTime`
//! (zero dates kept field by field), `TIME` → `Time` (±838 hours), strings with the binary
//! character set (BLOB, BINARY) and `BIT` → `Bytes`, other strings → `Text`, MySQL's `JSON` →
//! `Json`. MariaDB's `JSON` is `LONGTEXT` with a `json_valid()` check: it reads as `Text`
//! (introspection still reports the column kind as JSON).
//!
//! Write transactions use `READ COMMITTED` (no gap locks that would hold up MultiFlexi's
//! inserts), except on a server that binary-logs in `STATEMENT` format, which refuses writes
//! under `READ COMMITTED`: there the server default isolation is used. `delete_capture` uses
//! `DELETE … RETURNING *` on MariaDB; MySQL has no `RETURNING`, so there it selects the rows
//! `FOR UPDATE` and deletes them, comparing the counts. The URL parameter
//! `delete_returning=false` forces the second way on MariaDB too.

use std::fmt::Write as _;

use housekeeper_journal::{DateTimeValue, TimeValue, Value};
use mysql::consts::{ColumnFlags, ColumnType};
use mysql::prelude::Queryable;

use super::driver::{lock_or_holder, Driver, Session, WriteDriver};
use super::{
    ConnectOptions, Connection, DbError, DbResult, Dialect, EachRow, Failed, LockHolder, ReadView,
    SchemaFacts, WriteTx,
};
use crate::config::{DbTarget, Engine, ServerTarget};
use introspect::text_of;

mod introspect;

/// The character set number of binary strings.
const BINARY_CHARSET: u16 = 63;

/// Server error codes that mean the login was refused.
const AUTH_ERRORS: &[u16] = &[1044, 1045, 1251, 1698, 1862, 3118, 4151];

/// One open MySQL/MariaDB session.
pub struct MysqlConnection {
    conn: mysql::Conn,
    /// How to reach the server again, for `KILL QUERY` from a second connection.
    opts: mysql::Opts,
    server: ServerTarget,
    dialect: Dialect,
    /// `DELETE … RETURNING` is available (MariaDB 10.0.5 and later).
    returning: bool,
    /// `SET TRANSACTION ISOLATION LEVEL …` before a write transaction, if any.
    write_isolation: Option<&'static str>,
    lock_held: bool,
}

/// The driver's reason, without the `MySqlError { … }` wrapping.
fn reason(error: &mysql::Error) -> String {
    match error {
        mysql::Error::MySqlError(e) => {
            format!("{} (error {}, SQLSTATE {})", e.message, e.code, e.state)
        }
        mysql::Error::IoError(e) => e.to_string(),
        mysql::Error::DriverError(e) => e.to_string(),
        mysql::Error::CodecError(e) => e.to_string(),
        other => other.to_string(),
    }
}

fn statement_error(sql: &str, error: &mysql::Error) -> DbError {
    let code = match error {
        mysql::Error::MySqlError(e) => e.code,
        // The socket failed or the driver saw the connection close.
        mysql::Error::IoError(_) | mysql::Error::DriverError(_) => {
            return DbError::Lost(reason(error))
        }
        _ => return DbError::statement(sql, reason(error), None),
    };
    let kind = match code {
        // ER_LOCK_WAIT_TIMEOUT (row locks, and metadata locks such as LOCK TABLES).
        1205 => Failed::LockTimeout,
        // ER_QUERY_INTERRUPTED (KILL QUERY), ER_STATEMENT_TIMEOUT (MariaDB),
        // ER_QUERY_TIMEOUT (MySQL).
        1317 | 1969 | 3024 => Failed::Cancelled,
        // ER_CONNECTION_KILLED, CR_SERVER_GONE_ERROR, CR_SERVER_LOST.
        1927 | 2006 | 2013 => return DbError::Lost(reason(error)),
        _ => Failed::Other,
    };
    DbError::classified(sql, reason(error), Some(code.to_string()), kind)
}

/// Cancels a session's running statement with `KILL QUERY` from a second connection.
struct KillQuery {
    opts: mysql::Opts,
    id: u32,
}

impl crate::db::Cancel for KillQuery {
    fn cancel(&self) -> DbResult<()> {
        let sql = format!("KILL QUERY {}", self.id);
        let mut conn = mysql::Conn::new(self.opts.clone())
            .map_err(|e| DbError::Lock(format!("connecting to cancel: {}", reason(&e))))?;
        simple(&mut conn, &sql)
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Whether a `VERSION()` string is a MariaDB with `DELETE … RETURNING` (10.0.5+).
fn mariadb_with_returning(version: &str) -> bool {
    if !version.contains("MariaDB") {
        return false;
    }
    let numbers: Vec<u32> = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(3)
        .filter_map(|s| s.parse().ok())
        .collect();
    match numbers.as_slice() {
        [major, minor, patch, ..] => (*major, *minor, *patch) >= (10, 0, 5),
        _ => false,
    }
}

/// The session `sql_mode` this backend uses, from the server's.
fn session_sql_mode(server_mode: &str) -> String {
    let mut modes: Vec<&str> = server_mode
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty() && !matches!(*m, "NO_ZERO_DATE" | "NO_ZERO_IN_DATE"))
        .collect();
    if !modes.contains(&"ALLOW_INVALID_DATES") {
        modes.push("ALLOW_INVALID_DATES");
    }
    modes.join(",")
}

impl MysqlConnection {
    /// Connects, logs in and applies the session settings.
    ///
    /// # Errors
    /// `DbError::Connect` naming the redacted target; `auth` is set when the server refused
    /// the login.
    pub fn open(server: &ServerTarget, options: &ConnectOptions) -> DbResult<Box<dyn Connection>> {
        let target = DbTarget::Mysql(server.clone()).to_string();
        let fail = |detail: String, auth: bool| DbError::Connect {
            target: target.clone(),
            detail,
            auth,
        };
        let mut builder = mysql::OptsBuilder::new()
            .ip_or_hostname(Some(server.host.clone()))
            .tcp_port(server.port)
            .user(Some(server.user.clone()))
            .pass(server.password.as_ref().map(|p| p.expose().to_owned()))
            .db_name(Some(server.database.clone()))
            .tcp_connect_timeout(Some(options.timeout))
            .init(vec!["SET NAMES utf8mb4"]);
        if let Some(socket) = &server.socket {
            builder = builder.socket(Some(socket.display().to_string()));
        }
        let mut force_no_returning = false;
        for (key, value) in &server.params {
            match key.as_str() {
                "prefer_socket" => {
                    let prefer = parse_bool(value).ok_or_else(|| {
                        fail(
                            format!("prefer_socket={value:?} is not true or false"),
                            false,
                        )
                    })?;
                    builder = builder.prefer_socket(prefer);
                }
                "delete_returning" => {
                    force_no_returning = !parse_bool(value).ok_or_else(|| {
                        fail(
                            format!("delete_returning={value:?} is not true or false"),
                            false,
                        )
                    })?;
                }
                _ => log::warn!("{target}: ignoring the unknown connection parameter '{key}'"),
            }
        }
        let opts = mysql::Opts::from(builder);
        let conn = mysql::Conn::new(opts.clone()).map_err(|e| {
            let auth = matches!(&e, mysql::Error::MySqlError(m) if AUTH_ERRORS.contains(&m.code));
            fail(reason(&e), auth)
        })?;
        let mut this = MysqlConnection {
            conn,
            opts,
            server: server.clone(),
            dialect: Dialect::new(Engine::Mysql),
            returning: false,
            write_isolation: Some("READ COMMITTED"),
            lock_held: false,
        };
        this.settle(options)
            .map_err(|e| fail(e.to_string(), false))?;
        if force_no_returning {
            this.returning = false;
        }
        Ok(Box::new(this))
    }

    /// Reads what the server is and applies the session settings (`sql_mode`, the lock and
    /// statement timeouts).
    fn settle(&mut self, options: &ConnectOptions) -> DbResult<()> {
        let row = self.one_row(
            "SELECT VERSION(), @@SESSION.sql_mode, @@log_bin, @@SESSION.binlog_format",
            "VERSION()",
        )?;
        let version = text_of(&row[0]).unwrap_or_default();
        self.returning = mariadb_with_returning(&version);
        let statement_binlog = row[2].as_i64() == Some(1)
            && text_of(&row[3]).is_some_and(|f| f.eq_ignore_ascii_case("STATEMENT"));
        if statement_binlog {
            self.write_isolation = None;
        }
        let mode = session_sql_mode(&text_of(&row[1]).unwrap_or_default());
        execute(
            &mut self.conn,
            "SET SESSION sql_mode = ?",
            &[Value::Text(mode)],
        )?;
        let lock = i64::try_from(options.lock_timeout.as_secs().max(1)).unwrap_or(i64::MAX);
        let statement = options.statement_timeout.as_secs_f64();
        execute(
            &mut self.conn,
            "SET SESSION lock_wait_timeout = ?, innodb_lock_wait_timeout = ?",
            &[Value::Int(lock), Value::Int(lock)],
        )?;
        if version.contains("MariaDB") {
            execute(
                &mut self.conn,
                "SET SESSION max_statement_time = ?",
                &[Value::Float(statement)],
            )?;
        } else {
            // MySQL bounds only read-only SELECTs this way.
            let millis = i64::try_from(options.statement_timeout.as_millis()).unwrap_or(i64::MAX);
            execute(
                &mut self.conn,
                "SET SESSION max_execution_time = ?",
                &[Value::Int(millis)],
            )?;
        }
        Ok(())
    }

    /// The `GET_LOCK` name: per database, at most 64 characters.
    fn lock_name(&self) -> String {
        let name = format!("multiflexi-housekeeper:{}", self.server.database);
        if name.chars().count() <= 64 {
            return name;
        }
        let hash = blake3::hash(self.server.database.as_bytes()).to_hex();
        format!("multiflexi-housekeeper:{}", &hash[..32])
    }

    fn holder(&mut self, name: &str) -> DbResult<Option<String>> {
        let id = self.scalar("SELECT IS_USED_LOCK(?)", &[Value::Text(name.to_owned())])?;
        let Some(id) = id.as_i64() else {
            return Ok(None);
        };
        let details = self.rows(
            "SELECT USER, HOST, DB, COMMAND, TIME FROM information_schema.PROCESSLIST WHERE ID = ?",
            &[Value::Int(id)],
        )?;
        let mut text = format!("MySQL connection {id}");
        if let Some(r) = details.rows.first() {
            let field = |v: &Value| text_of(v).unwrap_or_else(|| "unknown".to_owned());
            let command = field(&r[3]);
            let state = if command.eq_ignore_ascii_case("Sleep") {
                "idle".to_owned()
            } else {
                format!("running {}", command.to_lowercase())
            };
            let _ = write!(
                text,
                " (user {} from {}, database {}, {state} for {} s)",
                field(&r[0]),
                field(&r[1]),
                field(&r[2]),
                r[4]
            );
        }
        Ok(Some(text))
    }
}

/// A value as the binary protocol sends it.
fn to_mysql(value: &Value) -> mysql::Value {
    use mysql::Value as M;
    match value {
        Value::Null => M::NULL,
        Value::Bool(b) => M::Int(i64::from(*b)),
        Value::Int(i) => M::Int(*i),
        Value::UInt(u) => M::UInt(*u),
        Value::Float(f) => M::Double(*f),
        Value::Decimal(s) | Value::Text(s) | Value::Json(s) => M::Bytes(s.as_bytes().to_vec()),
        Value::Bytes(b) => M::Bytes(b.clone()),
        Value::DateTime(d) => M::Date(d.year, d.month, d.day, d.hour, d.minute, d.second, d.micros),
        Value::Date(d) => M::Date(d.year, d.month, d.day, 0, 0, 0, 0),
        Value::Time(t) => {
            let (days, hours) = (t.hours / 24, t.hours % 24);
            // `hours % 24` always fits a u8.
            let hours = u8::try_from(hours).unwrap_or(0);
            M::Time(t.negative, days, hours, t.minute, t.second, t.micros)
        }
    }
}

fn utf8(bytes: Vec<u8>, column: &mysql::Column) -> DbResult<String> {
    String::from_utf8(bytes).map_err(|_| DbError::Decode {
        column: column.name_str().into_owned(),
        detail: "text is not valid UTF-8".into(),
    })
}

/// A value as read, typed by its column.
fn from_mysql(value: mysql::Value, column: &mysql::Column) -> DbResult<Value> {
    use mysql::Value as M;
    let unsigned = column.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    Ok(match value {
        M::NULL => Value::Null,
        // The driver reads unsigned values that fit i64 as `Int`: they are never negative.
        M::Int(i) if unsigned => Value::UInt(i.unsigned_abs()),
        M::Int(i) => Value::Int(i),
        M::UInt(u) => Value::UInt(u),
        M::Float(f) => Value::Float(f64::from(f)),
        M::Double(d) => Value::Float(d),
        M::Date(year, month, day, hour, minute, second, micros) => {
            let d = DateTimeValue {
                year,
                month,
                day,
                hour,
                minute,
                second,
                micros,
            };
            match column.column_type() {
                ColumnType::MYSQL_TYPE_DATE | ColumnType::MYSQL_TYPE_NEWDATE => Value::Date(d),
                _ => Value::DateTime(d),
            }
        }
        M::Time(negative, days, hours, minute, second, micros) => Value::Time(TimeValue {
            negative,
            hours: days * 24 + u32::from(hours),
            minute,
            second,
            micros,
        }),
        M::Bytes(bytes) => match column.column_type() {
            ColumnType::MYSQL_TYPE_DECIMAL | ColumnType::MYSQL_TYPE_NEWDECIMAL => {
                Value::Decimal(utf8(bytes, column)?)
            }
            ColumnType::MYSQL_TYPE_JSON => Value::Json(utf8(bytes, column)?),
            ColumnType::MYSQL_TYPE_BIT
            | ColumnType::MYSQL_TYPE_GEOMETRY
            | ColumnType::MYSQL_TYPE_VECTOR => Value::Bytes(bytes),
            _ if column.character_set() == BINARY_CHARSET => Value::Bytes(bytes),
            _ => Value::Text(utf8(bytes, column)?),
        },
    })
}

fn prepare(conn: &mut mysql::Conn, sql: &str, params: &[Value]) -> DbResult<mysql::Statement> {
    let stmt = conn.prep(sql).map_err(|e| statement_error(sql, &e))?;
    if usize::from(stmt.num_params()) != params.len() {
        return Err(DbError::statement(
            sql,
            format!(
                "the statement has {} parameters but {} values were given",
                stmt.num_params(),
                params.len()
            ),
            None,
        ));
    }
    Ok(stmt)
}

fn positional(params: &[Value]) -> mysql::Params {
    if params.is_empty() {
        mysql::Params::Empty
    } else {
        mysql::Params::Positional(params.iter().map(to_mysql).collect())
    }
}

fn query_each(
    conn: &mut mysql::Conn,
    sql: &str,
    params: &[Value],
    each: EachRow<'_>,
) -> DbResult<Vec<String>> {
    let stmt = prepare(conn, sql, params)?;
    let mut result = conn
        .exec_iter(&stmt, positional(params))
        .map_err(|e| statement_error(sql, &e))?;
    let names: Vec<String> = result
        .columns()
        .as_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    let mut buffer = Vec::with_capacity(names.len());
    for row in result.by_ref() {
        let row = row.map_err(|e| statement_error(sql, &e))?;
        let columns = row.columns();
        buffer.clear();
        for (value, column) in row.unwrap().into_iter().zip(columns.iter()) {
            buffer.push(from_mysql(value, column)?);
        }
        each(&buffer)?;
    }
    Ok(names)
}

fn execute(conn: &mut mysql::Conn, sql: &str, params: &[Value]) -> DbResult<u64> {
    let stmt = prepare(conn, sql, params)?;
    conn.exec_drop(&stmt, positional(params))
        .map_err(|e| statement_error(sql, &e))?;
    Ok(conn.affected_rows())
}

/// Transaction control and other statements without parameters or results.
fn simple(conn: &mut mysql::Conn, sql: &str) -> DbResult<()> {
    conn.query_drop(sql).map_err(|e| statement_error(sql, &e))
}

/// A snapshot (`START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY` under `REPEATABLE
/// READ`) or a write transaction; dropped while open (a snapshot always is), it rolls back.
struct MysqlSession<'a> {
    owner: &'a mut MysqlConnection,
    open: bool,
    /// What a failed `ROLLBACK` on drop is reported as.
    ending: &'static str,
}

impl Driver for MysqlSession<'_> {
    fn dialect(&self) -> &Dialect {
        &self.owner.dialect
    }

    fn each(&mut self, sql: &str, params: &[Value], each: EachRow<'_>) -> DbResult<Vec<String>> {
        self.owner.each(sql, params, each)
    }
}

impl WriteDriver for MysqlSession<'_> {
    fn run(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        execute(&mut self.owner.conn, sql, params)
    }

    fn returning(&self) -> bool {
        self.owner.returning
    }

    fn commit(mut self) -> DbResult<()> {
        simple(&mut self.owner.conn, "COMMIT")?;
        self.open = false;
        Ok(())
    }
}

impl Drop for MysqlSession<'_> {
    fn drop(&mut self) {
        if self.open {
            if let Err(e) = simple(&mut self.owner.conn, "ROLLBACK") {
                log::warn!("{} failed: {e}", self.ending);
            }
        }
    }
}

impl Driver for MysqlConnection {
    fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    fn each(&mut self, sql: &str, params: &[Value], each: EachRow<'_>) -> DbResult<Vec<String>> {
        query_each(&mut self.conn, sql, params, each)
    }
}

impl Connection for MysqlConnection {
    fn engine(&self) -> Engine {
        Engine::Mysql
    }

    fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    fn describe(&self) -> String {
        DbTarget::Mysql(self.server.clone()).to_string()
    }

    fn identity(&mut self) -> DbResult<String> {
        // The server's own host name and port, not the spelling used to reach it.
        let row = self.one_row("SELECT @@hostname, @@port, DATABASE()", "@@hostname")?;
        Ok(format!(
            "mysql:{}:{}/{}",
            text_of(&row[0]).unwrap_or_default(),
            row[1],
            text_of(&row[2]).unwrap_or_default()
        ))
    }

    fn server_version(&mut self) -> DbResult<String> {
        let version = self.scalar("SELECT VERSION()", &[])?;
        Ok(text_of(&version).unwrap_or_default())
    }

    fn server_now(&mut self) -> DbResult<Option<DateTimeValue>> {
        self.clock("NOW(6)", "a date and time")
    }

    fn introspect(&mut self) -> DbResult<SchemaFacts> {
        introspect::introspect(self)
    }

    fn snapshot(&mut self) -> DbResult<Box<dyn ReadView + '_>> {
        simple(
            &mut self.conn,
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        )?;
        simple(
            &mut self.conn,
            "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
        )?;
        Ok(Box::new(Session(MysqlSession {
            owner: self,
            open: true,
            ending: "ending the MySQL snapshot",
        })))
    }

    fn begin(&mut self) -> DbResult<Box<dyn WriteTx + '_>> {
        if let Some(level) = self.write_isolation {
            simple(
                &mut self.conn,
                &format!("SET TRANSACTION ISOLATION LEVEL {level}"),
            )?;
        }
        simple(&mut self.conn, "START TRANSACTION")?;
        Ok(Box::new(Session(MysqlSession {
            owner: self,
            open: true,
            ending: "rolling back the MySQL transaction",
        })))
    }

    fn execute_ddl(&mut self, sql: &str) -> DbResult<()> {
        simple(&mut self.conn, sql)
    }

    fn try_lock(&mut self) -> DbResult<Result<(), LockHolder>> {
        if self.lock_held {
            return Ok(Ok(()));
        }
        let name = self.lock_name();
        let lock_error = |e: DbError| DbError::Lock(format!("GET_LOCK: {e}"));
        let taken = lock_or_holder(
            self,
            |c| match c
                .scalar("SELECT GET_LOCK(?, 0)", &[Value::Text(name.clone())])
                .map_err(lock_error)?
                .as_i64()
            {
                Some(1) => Ok(true),
                Some(0) => Ok(false),
                _ => Err(DbError::Lock(format!("GET_LOCK({name}) failed"))),
            },
            |c| c.holder(&name).map_err(lock_error),
            "another MySQL connection (it could not be identified)",
        )?;
        self.lock_held = taken.is_ok();
        Ok(taken)
    }

    fn unlock(&mut self) -> DbResult<()> {
        if self.lock_held {
            let name = self.lock_name();
            self.scalar("SELECT RELEASE_LOCK(?)", &[Value::Text(name)])
                .map_err(|e| DbError::Lock(format!("RELEASE_LOCK: {e}")))?;
            self.lock_held = false;
        }
        Ok(())
    }

    fn canceller(&mut self) -> Option<Box<dyn crate::db::Cancel>> {
        Some(Box::new(KillQuery {
            opts: self.opts.clone(),
            id: self.conn.connection_id(),
        }))
    }

    fn lock_holders(&mut self) -> Vec<String> {
        // Which tables are locked is known (`SHOW OPEN TABLES`), by whom only as the other
        // sessions of this database that are in a transaction or hold table locks. Their
        // statements are not shown: they can quote personal data.
        let mut out = Vec::new();
        let database = self.server.database.clone();
        if let Ok(rows) = self.rows(
            &format!(
                "SHOW OPEN TABLES FROM {} WHERE In_use > 0",
                self.dialect.quote(&database)
            ),
            &[],
        ) {
            let tables: Vec<String> = rows
                .rows
                .iter()
                .filter_map(|r| r.get(1).and_then(text_of))
                .collect();
            if !tables.is_empty() {
                out.push(format!(
                    "tables in use by other sessions: {}",
                    tables.join(", ")
                ));
            }
        }
        if let Ok(rows) = self.rows(
            "SELECT p.ID, p.USER, p.HOST, p.COMMAND, p.TIME, t.trx_started \
             FROM information_schema.PROCESSLIST p \
             LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID \
             WHERE p.DB = DATABASE() AND p.ID <> CONNECTION_ID() \
             ORDER BY p.TIME DESC LIMIT 5",
            &[],
        ) {
            for r in &rows.rows {
                let text = |i: usize| {
                    r.get(i)
                        .and_then(text_of)
                        .unwrap_or_else(|| "unknown".into())
                };
                let transaction = match r.get(5) {
                    Some(Value::DateTime(d)) => format!(", in a transaction since {d}"),
                    _ => String::new(),
                };
                out.push(format!(
                    "session {} ({}@{}, {} for {} s{transaction})",
                    r.first().map(ToString::to_string).unwrap_or_default(),
                    text(1),
                    text(2),
                    text(3),
                    r.get(4).map(ToString::to_string).unwrap_or_default(),
                ));
            }
        }
        out
    }

    fn is_lost(&mut self) -> bool {
        self.conn.ping().is_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returning_is_detected_from_the_version() {
        assert!(mariadb_with_returning("10.11.6-MariaDB-0+deb12u1"));
        assert!(mariadb_with_returning("11.4.2-MariaDB"));
        assert!(!mariadb_with_returning("10.0.4-MariaDB"));
        assert!(!mariadb_with_returning("8.0.36"));
        assert!(!mariadb_with_returning("8.4.0-log"));
    }

    #[test]
    fn the_session_mode_allows_zero_dates_and_keeps_strictness() {
        assert_eq!(
            session_sql_mode(
                "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,\
                 ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
            ),
            "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,\
             NO_ENGINE_SUBSTITUTION,ALLOW_INVALID_DATES"
        );
        assert_eq!(session_sql_mode(""), "ALLOW_INVALID_DATES");
    }
}
