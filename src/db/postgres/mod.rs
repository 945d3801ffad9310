//! The PostgreSQL backend (`postgres`, the synchronous client, without TLS).
//!
//! Owns: connecting from a `ServerTarget` (TCP host or Unix socket directory, a connect
//! timeout, `application_name` `housekeeper`), preparing and running statements, snapshots
//! (`REPEATABLE READ READ ONLY`), write transactions (`READ COMMITTED`), `DELETE … RETURNING
//! *`, the advisory lock, and the classification of server errors. The binary values are
//! `wire.rs`; reading the catalog is `introspect.rs`.
//!
//! A URL's `sslmode=require` (or stricter) is refused rather than silently ignored: this build
//! has no TLS.
//!
//! Must never: put a value into SQL text (the `?` placeholders become `$1…$n` through
//! `Dialect::native_placeholders`), print the password, or guess a value it cannot decode
//! exactly: an unsupported column type is a `DbError::Decode` naming the column.

mod introspect;
mod wire;

use std::error::Error as StdError;
use std::fmt::Write as _;

use housekeeper_journal::{DateTimeValue, Value};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{GenericClient, IsolationLevel, NoTls};

use super::driver::{lock_or_holder, Driver, Session, WriteDriver};
use super::{
    ConnectOptions, Connection, DbError, DbResult, Dialect, EachRow, Failed, LockHolder, ReadView,
    SchemaFacts, WriteTx,
};
use crate::config::{DbTarget, Engine, ServerTarget};
use wire::{supported, Cell, Param};

/// The text the advisory lock key is derived from.
pub const LOCK_NAME: &str = "multiflexi-housekeeper";

/// The advisory lock key: the first 8 bytes of `blake3("multiflexi-housekeeper")`, big-endian.
/// In `pg_locks` it shows as `classid` (high 32 bits) and `objid` (low 32 bits), `objsubid` 1.
#[must_use]
pub fn lock_key() -> i64 {
    let hash = blake3::hash(LOCK_NAME.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    i64::from_be_bytes(first)
}

/// One open PostgreSQL session.
pub struct PostgresConnection {
    session: PgSession<postgres::Client>,
    server: ServerTarget,
    lock_held: bool,
}

/// The driver's reason, with its causes; for server errors `SEVERITY: message` only (the
/// server's DETAIL can quote row values).
fn reason(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

fn statement_error(sql: &str, error: &postgres::Error) -> DbError {
    if error.is_closed() || error.as_db_error().is_none() && error.code().is_none() && is_io(error)
    {
        return DbError::Lost(reason(error));
    }
    let code = error.code().map(|c| c.code().to_owned());
    let kind = match code.as_deref() {
        Some("55P03") => Failed::LockTimeout,
        Some("57014") => Failed::Cancelled,
        // The server ended the session (administrator command, crash, shutdown).
        Some("57P01" | "57P02" | "57P03") => return DbError::Lost(reason(error)),
        _ => Failed::Other,
    };
    DbError::classified(sql, reason(error), code, kind)
}

/// Whether the error comes from the socket (the server went away mid-statement).
fn is_io(error: &postgres::Error) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Sends PostgreSQL's cancel request for the session's running statement.
struct PgCancel(postgres::CancelToken);

impl crate::db::Cancel for PgCancel {
    fn cancel(&self) -> DbResult<()> {
        self.0
            .cancel_query(NoTls)
            .map_err(|e| DbError::Lock(format!("sending the cancel request: {}", reason(&e))))
    }
}

impl PostgresConnection {
    /// Connects and logs in.
    ///
    /// # Errors
    /// `DbError::Connect` naming the redacted target; `auth` is set when the server refused
    /// the login (wrong password, unknown role, no `pg_hba.conf` entry).
    pub fn open(server: &ServerTarget, options: &ConnectOptions) -> DbResult<Box<dyn Connection>> {
        let target = DbTarget::Postgres(server.clone()).to_string();
        for (key, value) in &server.params {
            match (key.as_str(), value.as_str()) {
                // This build talks without TLS: refuse rather than silently downgrade.
                ("sslmode", "disable" | "allow" | "prefer") => {}
                ("sslmode", mode) => {
                    return Err(DbError::Connect {
                        target,
                        detail: format!(
                            "sslmode={mode} asks for TLS, which this build of housekeeper \
                             does not support (use a local socket or sslmode=disable)"
                        ),
                        auth: false,
                    })
                }
                _ => log::warn!("{target}: ignoring the unknown connection parameter '{key}'"),
            }
        }
        let mut config = postgres::Config::new();
        match &server.socket {
            Some(dir) => config.host_path(dir),
            None => config.host(&server.host),
        };
        config
            .port(server.port)
            .user(&server.user)
            .dbname(&server.database)
            .application_name("housekeeper")
            .connect_timeout(options.timeout)
            .options(&format!(
                "-c lock_timeout={} -c statement_timeout={}",
                options.lock_timeout.as_millis(),
                options.statement_timeout.as_millis()
            ));
        if let Some(password) = &server.password {
            config.password(password.expose());
        }
        let client = config.connect(NoTls).map_err(|e| {
            let auth = matches!(
                e.code().map(postgres::error::SqlState::code),
                Some("28P01" | "28000")
            ) || e.to_string().starts_with("authentication error");
            DbError::Connect {
                target: target.clone(),
                detail: reason(&e),
                auth,
            }
        })?;
        Ok(Box::new(PostgresConnection {
            session: PgSession {
                client,
                dialect: Dialect::new(Engine::Postgres),
            },
            server: server.clone(),
            lock_held: false,
        }))
    }
}

/// The session that holds the advisory lock, as far as `pg_locks` tells.
fn holder(session: &mut impl Driver) -> DbResult<Option<String>> {
    let key = lock_key();
    let bits = key.to_be_bytes();
    let high = u32::from_be_bytes([bits[0], bits[1], bits[2], bits[3]]);
    let low = u32::from_be_bytes([bits[4], bits[5], bits[6], bits[7]]);
    let rows = session.rows(
        "SELECT l.pid, a.usename, host(a.client_addr), a.application_name, a.backend_start \
             FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
               AND l.classid = ? AND l.objid = ? \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        &[Value::Int(i64::from(high)), Value::Int(i64::from(low))],
    )?;
    Ok(rows.rows.first().map(|r| {
        format!(
            "PostgreSQL session pid {} (user {}, from {}, application {}, connected since {})",
            r[0],
            text_or(&r[1], "unknown"),
            text_or(&r[2], "a local socket"),
            text_or(&r[3], "unnamed"),
            since(&r[4]),
        )
    }))
}

/// A text column for a message, `unknown` when it is NULL or empty.
fn text_or(value: &Value, unknown: &str) -> String {
    match value {
        Value::Null => unknown.to_owned(),
        Value::Text(s) if s.is_empty() => unknown.to_owned(),
        other => other
            .as_str()
            .map_or_else(|| other.to_string(), str::to_owned),
    }
}

/// A `timestamptz` column (read as UTC) for a message.
fn since(value: &Value) -> String {
    match value {
        Value::DateTime(d) => format!("{d} UTC"),
        _ => "an unknown time".to_owned(),
    }
}

/// Prepares a statement, checking parameter count and result column types.
fn prepare(
    client: &mut impl GenericClient,
    dialect: &Dialect,
    sql: &str,
    params: &[Value],
) -> DbResult<postgres::Statement> {
    let native = dialect.native_placeholders(sql);
    let stmt = client
        .prepare(&native)
        .map_err(|e| statement_error(sql, &e))?;
    if stmt.params().len() != params.len() {
        return Err(DbError::statement(
            sql,
            format!(
                "the statement has {} parameters but {} values were given",
                stmt.params().len(),
                params.len()
            ),
            None,
        ));
    }
    for column in stmt.columns() {
        if !supported(column.type_()) {
            return Err(DbError::Decode {
                column: column.name().to_owned(),
                detail: format!(
                    "the PostgreSQL type {} is not supported",
                    column.type_().name()
                ),
            });
        }
    }
    Ok(stmt)
}

fn bind(params: &[Value]) -> Vec<Param<'_>> {
    params
        .iter()
        .enumerate()
        .map(|(i, value)| Param {
            value,
            position: i + 1,
        })
        .collect()
}

fn query_each(
    client: &mut impl GenericClient,
    dialect: &Dialect,
    sql: &str,
    params: &[Value],
    each: EachRow<'_>,
) -> DbResult<Vec<String>> {
    let stmt = prepare(client, dialect, sql, params)?;
    let columns: Vec<String> = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
    let binds = bind(params);
    let mut rows = client
        .query_raw(&stmt, binds.iter().map(|p| p as &dyn ToSql))
        .map_err(|e| statement_error(sql, &e))?;
    let mut buffer = Vec::with_capacity(columns.len());
    while let Some(row) = rows.next().map_err(|e| statement_error(sql, &e))? {
        buffer.clear();
        for (i, name) in columns.iter().enumerate() {
            let cell: Cell = row.try_get(i).map_err(|e| DbError::Decode {
                column: name.clone(),
                detail: reason(&e),
            })?;
            buffer.push(cell.0);
        }
        each(&buffer)?;
    }
    Ok(columns)
}

fn execute(
    client: &mut impl GenericClient,
    dialect: &Dialect,
    sql: &str,
    params: &[Value],
) -> DbResult<u64> {
    let stmt = prepare(client, dialect, sql, params)?;
    let binds = bind(params);
    let refs: Vec<&(dyn ToSql + Sync)> = binds.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    client
        .execute(&stmt, &refs)
        .map_err(|e| statement_error(sql, &e))
}

/// Statements on the connection (`PgSession<postgres::Client>`), or in a snapshot
/// (`REPEATABLE READ READ ONLY`) or a `READ COMMITTED` write transaction (`PgSession<
/// postgres::Transaction>`, which rolls back when dropped without commit).
struct PgSession<C> {
    client: C,
    dialect: Dialect,
}

impl<C: GenericClient> Driver for PgSession<C> {
    fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    fn each(&mut self, sql: &str, params: &[Value], each: EachRow<'_>) -> DbResult<Vec<String>> {
        query_each(&mut self.client, &self.dialect, sql, params, each)
    }
}

impl WriteDriver for PgSession<postgres::Transaction<'_>> {
    fn run(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        execute(&mut self.client, &self.dialect, sql, params)
    }

    fn returning(&self) -> bool {
        true
    }

    fn commit(self) -> DbResult<()> {
        self.client
            .commit()
            .map_err(|e| statement_error("COMMIT", &e))
    }
}

impl Connection for PostgresConnection {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn dialect(&self) -> &Dialect {
        &self.session.dialect
    }

    fn describe(&self) -> String {
        DbTarget::Postgres(self.server.clone()).to_string()
    }

    fn identity(&mut self) -> DbResult<String> {
        // The cluster's system identifier does not depend on how the server was reached;
        // reading it needs superuser or pg_monitor-like rights, so fall back to the server's
        // own address.
        let server = match self
            .session
            .scalar("SELECT system_identifier FROM pg_control_system()", &[])
        {
            Ok(Value::Int(id)) => id.to_string(),
            _ => match self
                .session
                .scalar("SELECT host(inet_server_addr())", &[])?
            {
                Value::Text(addr) => addr,
                _ => "local".to_owned(),
            },
        };
        let row = self.session.one_row(
            "SELECT current_setting('port'), current_database()",
            "current_database()",
        )?;
        Ok(format!(
            "postgres:{server}:{}/{}",
            row[0],
            text_value(&row[1])
        ))
    }

    fn server_version(&mut self) -> DbResult<String> {
        let version = self
            .session
            .scalar("SELECT current_setting('server_version')", &[])?;
        Ok(format!("PostgreSQL {}", text_value(&version)))
    }

    fn server_now(&mut self) -> DbResult<Option<DateTimeValue>> {
        self.session.clock("LOCALTIMESTAMP", "a timestamp")
    }

    fn introspect(&mut self) -> DbResult<SchemaFacts> {
        introspect::introspect(&mut self.session)
    }

    fn snapshot(&mut self) -> DbResult<Box<dyn ReadView + '_>> {
        let mut tx = self
            .session
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(|e| {
                statement_error(
                    "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                    &e,
                )
            })?;
        // The snapshot is taken by the first statement, not by START TRANSACTION: take it now.
        tx.batch_execute("SELECT 1")
            .map_err(|e| statement_error("SELECT 1", &e))?;
        Ok(Box::new(Session(PgSession {
            client: tx,
            dialect: self.session.dialect,
        })))
    }

    fn begin(&mut self) -> DbResult<Box<dyn WriteTx + '_>> {
        let tx = self
            .session
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .map_err(|e| statement_error("START TRANSACTION ISOLATION LEVEL READ COMMITTED", &e))?;
        Ok(Box::new(Session(PgSession {
            client: tx,
            dialect: self.session.dialect,
        })))
    }

    fn execute_ddl(&mut self, sql: &str) -> DbResult<()> {
        self.session
            .client
            .batch_execute(sql)
            .map_err(|e| statement_error(sql, &e))
    }

    fn try_lock(&mut self) -> DbResult<Result<(), LockHolder>> {
        if self.lock_held {
            return Ok(Ok(()));
        }
        let lock_error = |e: DbError| DbError::Lock(format!("pg_try_advisory_lock: {e}"));
        let taken = lock_or_holder(
            &mut self.session,
            |s| {
                s.scalar("SELECT pg_try_advisory_lock(?)", &[Value::Int(lock_key())])
                    .map(|got| got == Value::Bool(true))
                    .map_err(lock_error)
            },
            |s| holder(s).map_err(lock_error),
            "another PostgreSQL session (it could not be identified)",
        )?;
        self.lock_held = taken.is_ok();
        Ok(taken)
    }

    fn unlock(&mut self) -> DbResult<()> {
        if self.lock_held {
            self.session
                .scalar("SELECT pg_advisory_unlock(?)", &[Value::Int(lock_key())])
                .map_err(|e| DbError::Lock(format!("pg_advisory_unlock: {e}")))?;
            self.lock_held = false;
        }
        Ok(())
    }

    fn canceller(&mut self) -> Option<Box<dyn crate::db::Cancel>> {
        Some(Box::new(PgCancel(self.session.client.cancel_token())))
    }

    fn lock_holders(&mut self) -> Vec<String> {
        // Sessions in a transaction that hold more than a read lock on a table of this
        // database. Their statements are not shown: they can quote personal data.
        let rows = self.session.rows(
            "SELECT a.pid, a.usename, a.application_name, a.state, a.xact_start, \
                    string_agg(DISTINCT c.relname || ' (' || l.mode || ')', ', ') \
             FROM pg_stat_activity a \
             JOIN pg_locks l ON l.pid = a.pid AND l.granted AND l.locktype = 'relation' \
                  AND l.mode <> 'AccessShareLock' \
             JOIN pg_class c ON c.oid = l.relation AND c.relkind IN ('r', 'p') \
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
             GROUP BY a.pid, a.usename, a.application_name, a.state, a.xact_start \
             ORDER BY a.xact_start LIMIT 5",
            &[],
        );
        let Ok(rows) = rows else {
            return Vec::new();
        };
        rows.rows
            .iter()
            .map(|r| {
                format!(
                    "PostgreSQL session pid {} (user {}, application {}, {} since {}) holds {}",
                    r[0],
                    text_or(&r[1], "unknown"),
                    text_or(&r[2], "unnamed"),
                    text_or(&r[3], "in a transaction"),
                    since(&r[4]),
                    text_or(&r[5], "locks"),
                )
            })
            .collect()
    }

    fn is_lost(&mut self) -> bool {
        self.session.client.is_closed()
    }
}

fn text_value(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_key_is_fixed() {
        assert_eq!(lock_key(), lock_key());
        assert_eq!(lock_key(), FIXED_LOCK_KEY);
    }

    /// What `lock_key()` returns; operators find it in `pg_locks`.
    const FIXED_LOCK_KEY: i64 = -3_509_090_560_721_014_225;
}
