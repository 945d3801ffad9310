//! What the engines share around one session: the snapshot and write-transaction handles
//! that `Connection::snapshot` and `Connection::begin` return, and the statements every
//! engine builds the same way (capturing deletes, `SELECT … FOR UPDATE`, one row or one
//! value of a catalog query).
//!
//! Owns the forwarding from `Query`, `ReadView` and `WriteTx` to an engine's `Driver`. Each
//! engine implements only what differs: running a statement, committing, and what it can
//! do (`DELETE … RETURNING`, row locks).
//!
//! Must never: know an engine's client library, decode a value, or start or end a
//! transaction itself (the engine's driver does that, and rolls back when dropped).

use housekeeper_journal::Value;

use super::{DbError, DbResult, Dialect, EachRow, Query, ReadView, Rows, WriteTx};

/// Running statements on one engine session (a connection, a snapshot or a transaction).
pub(super) trait Driver {
    fn dialect(&self) -> &Dialect;

    /// Runs a query and hands each row to `each`; returns the column names.
    ///
    /// # Errors
    /// The statement failed, a value could not be decoded, or `each` returned an error.
    fn each(&mut self, sql: &str, params: &[Value], each: EachRow<'_>) -> DbResult<Vec<String>>;

    /// Every row of a query.
    ///
    /// # Errors
    /// As `each`.
    fn rows(&mut self, sql: &str, params: &[Value]) -> DbResult<Rows> {
        super::collect(|each| self.each(sql, params, each))
    }

    /// The first column of the first row, `Null` when there is no row.
    ///
    /// # Errors
    /// As `each`.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    fn scalar(&mut self, sql: &str, params: &[Value]) -> DbResult<Value> {
        Ok(self
            .rows(sql, params)?
            .rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .unwrap_or(Value::Null))
    }

    /// The first row of a query that always returns one; none is a `DbError::Decode` naming
    /// `column`.
    ///
    /// # Errors
    /// As `each`, or no row came.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    fn one_row(&mut self, sql: &str, column: &str) -> DbResult<Vec<Value>> {
        self.rows(sql, &[])?
            .rows
            .into_iter()
            .next()
            .ok_or_else(|| DbError::Decode {
                column: column.to_owned(),
                detail: "no row".into(),
            })
    }

    /// The server's naive local time, from `SELECT {expression}`; anything but a date and
    /// time is a `DbError::Decode` naming the expression and saying what was `expected`.
    ///
    /// # Errors
    /// As `each`, or the value is not a date and time.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    fn clock(
        &mut self,
        expression: &str,
        expected: &str,
    ) -> DbResult<Option<housekeeper_journal::DateTimeValue>> {
        match self.scalar(&format!("SELECT {expression}"), &[])? {
            Value::DateTime(now) => Ok(Some(now)),
            other => Err(DbError::Decode {
                column: expression.to_owned(),
                detail: format!("expected {expected}, got {}", other.kind()),
            }),
        }
    }
}

/// Takes a server's lock without waiting. `attempt` tries once (`true`: taken); while another
/// session holds the lock, `holder` names it. If the holder let go in between, one more try;
/// after that the holder is `unknown`.
///
/// # Errors
/// What `attempt` or `holder` returned.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(super) fn lock_or_holder<D: Driver>(
    driver: &mut D,
    mut attempt: impl FnMut(&mut D) -> DbResult<bool>,
    mut holder: impl FnMut(&mut D) -> DbResult<Option<String>>,
    unknown: &str,
) -> DbResult<Result<(), super::LockHolder>> {
    for _ in 0..2 {
        if attempt(driver)? {
            return Ok(Ok(()));
        }
        if let Some(holder) = holder(driver)? {
            return Ok(Err(super::LockHolder(holder)));
        }
    }
    Ok(Err(super::LockHolder(unknown.to_owned())))
}

/// A driver inside a write transaction.
pub(super) trait WriteDriver: Driver {
    /// What a `SELECT` appends to lock its rows until the transaction ends. SQLite's
    /// `BEGIN IMMEDIATE` already holds the database's write lock: nothing.
    const LOCK_ROWS: &'static str = " FOR UPDATE";

    /// Executes a statement; returns the number of rows it changed.
    ///
    /// # Errors
    /// The statement failed.
    fn run(&mut self, sql: &str, params: &[Value]) -> DbResult<u64>;

    /// Whether `DELETE … RETURNING *` is used to capture deleted rows.
    fn returning(&self) -> bool;

    /// Commits.
    ///
    /// # Errors
    /// The commit failed; nothing of the transaction is applied.
    fn commit(self) -> DbResult<()>
    where
        Self: Sized;
}

/// A snapshot (its driver opened the transaction read-only) or a write transaction.
pub(super) struct Session<D>(pub(super) D);

impl<D: Driver> Query for Session<D> {
    fn dialect(&self) -> &Dialect {
        self.0.dialect()
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: EachRow<'_>,
    ) -> DbResult<Vec<String>> {
        self.0.each(sql, params, each)
    }
}

impl<D: Driver> ReadView for Session<D> {}

impl<D: WriteDriver> WriteTx for Session<D> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        self.0.run(sql, params)
    }

    fn delete_capture(
        &mut self,
        table: &str,
        where_sql: &str,
        params: &[Value],
        each: EachRow<'_>,
    ) -> DbResult<(Vec<String>, u64)> {
        let quoted = self.0.dialect().quote(table);
        if self.0.returning() {
            let sql = format!("DELETE FROM {quoted} WHERE {where_sql} RETURNING *");
            let mut deleted = 0u64;
            let mut columns = self.0.each(&sql, params, &mut |row| {
                deleted += 1;
                each(row)
            })?;
            if columns.is_empty() {
                // MariaDB sends no column definitions when RETURNING returns no row.
                let sql = format!("SELECT * FROM {quoted} WHERE 1 = 0");
                columns = self.0.each(&sql, &[], &mut |_| Ok(()))?;
            }
            return Ok((columns, deleted));
        }
        // Without RETURNING (MySQL), or where it is slower (SQLite replays RETURNING rows from
        // a temporary table): capture the rows, locked against change (on SQLite the write
        // lock of BEGIN IMMEDIATE keeps other writers out), then delete them. Equal counts
        // mean nothing else was deleted.
        let select = format!("SELECT * FROM {quoted} WHERE {where_sql}{}", D::LOCK_ROWS);
        let mut captured = 0u64;
        let columns = self.0.each(&select, params, &mut |row| {
            captured += 1;
            each(row)
        })?;
        let delete = format!("DELETE FROM {quoted} WHERE {where_sql}");
        let deleted = self.0.run(&delete, params)?;
        if deleted != captured {
            return Err(DbError::statement(
                &delete,
                format!(
                    "deleted {deleted} rows of {table} but captured {captured}; \
                     the transaction must be rolled back"
                ),
                None,
            ));
        }
        Ok((columns, deleted))
    }

    fn select_for_update(
        &mut self,
        table: &str,
        where_sql: &str,
        params: &[Value],
    ) -> DbResult<Rows> {
        let sql = format!(
            "SELECT * FROM {} WHERE {where_sql}{}",
            self.0.dialect().quote(table),
            D::LOCK_ROWS
        );
        self.query(&sql, params)
    }

    fn commit(self: Box<Self>) -> DbResult<()> {
        self.0.commit()
    }
}
