//! The row builder: collects MultiFlexi rows with explicit ids and valid foreign keys, then
//! writes them through `Connection::begin()` / `WriteTx::execute` with bound values.
//!
//! Every helper fills the columns a real MultiFlexi row has (so `NOT NULL` columns without a
//! default are always given) and returns a [`RowRef`] through which any column can be
//! overridden. Ids are assigned by the builder, counting from 1 per table, so they are the same
//! on every engine; PostgreSQL identity sequences are advanced afterwards so later inserts
//! without an id do not collide. Dates are computed from the `now` the builder was made with.
//!
//! The builder's core lives here (rows, ids, the implied parents); its helpers per table group
//! in `people`, `jobs`, `logs`, `credentials` and `retention`, the writing in `write`.
//!
//! Must never: format a value into SQL, or read the wall clock.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use housekeeper_journal::{DateTimeValue, Value};

mod credentials;
mod jobs;
mod logs;
mod people;
mod retention;
#[cfg(test)]
mod tests;
mod write;

pub use retention::DEFAULT_RETENTION_POLICIES;

/// Seconds in a minute, an hour and a day, for readable offsets: `seed.at(-3 * DAY)`.
pub const MINUTE: i64 = 60;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// `at` moved by `seconds` (negative: into the past), as a calendar date and time.
///
/// # Panics
/// When `at` is not a valid date and time (a MySQL zero date, say): scenario dates are made by
/// the caller and must be real ones.
#[must_use]
pub fn shift(at: DateTimeValue, seconds: i64) -> DateTimeValue {
    let naive = NaiveDate::from_ymd_opt(i32::from(at.year), u32::from(at.month), u32::from(at.day))
        .and_then(|d| {
            d.and_hms_micro_opt(
                u32::from(at.hour),
                u32::from(at.minute),
                u32::from(at.second),
                at.micros,
            )
        })
        .unwrap_or_else(|| panic!("scenario date {at} is not a valid date and time"));
    let moved = naive + Duration::seconds(seconds);
    let date = moved.date();
    let time = moved.time();
    use chrono::{Datelike, Timelike};
    DateTimeValue {
        year: u16::try_from(date.year())
            .unwrap_or_else(|_| panic!("scenario date {moved} out of range")),
        month: u8::try_from(date.month()).unwrap_or(1),
        day: u8::try_from(date.day()).unwrap_or(1),
        hour: u8::try_from(time.hour()).unwrap_or(0),
        minute: u8::try_from(time.minute()).unwrap_or(0),
        second: u8::try_from(time.second()).unwrap_or(0),
        micros: time.nanosecond() / 1_000,
    }
}

/// What a job is doing, which decides `begin`, `end`, `exitcode`, `schedule` and whether it
/// has a queue (`schedule` table) row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting in the queue: not started, with a `schedule` row (`after` = `schedule`).
    Queued { schedule: DateTimeValue },
    /// Not started and without a queue row. With an old `schedule` this is a ghost job; with
    /// `schedule: None` it is an unscheduled job (never a ghost).
    Pending { schedule: Option<DateTimeValue> },
    /// Started and not finished (`exitcode IS NULL`).
    Running { began: DateTimeValue },
    /// Finished with `exitcode` (0 = succeeded), 90 seconds after `began`.
    Finished { began: DateTimeValue, exitcode: i64 },
}

#[derive(Debug, Clone)]
struct Row {
    table: &'static str,
    columns: Vec<&'static str>,
    values: Vec<Value>,
}

impl Row {
    fn new(table: &'static str, cells: Vec<(&'static str, Value)>) -> Self {
        let (columns, values) = cells.into_iter().unzip();
        Row {
            table,
            columns,
            values,
        }
    }

    fn get(&self, column: &str) -> Option<&Value> {
        self.columns
            .iter()
            .position(|c| *c == column)
            .map(|i| &self.values[i])
    }

    fn set(&mut self, column: &'static str, value: Value) {
        match self.columns.iter().position(|c| *c == column) {
            Some(i) => self.values[i] = value,
            None => {
                self.columns.push(column);
                self.values.push(value);
            }
        }
    }
}

/// A row in the builder, to override columns or read its id.
pub struct RowRef<'s> {
    seed: &'s mut Seed,
    index: usize,
}

impl RowRef<'_> {
    /// Sets (or adds) a column value of this row.
    pub fn set(self, column: &'static str, value: impl Into<Value>) -> Self {
        self.seed.rows[self.index].set(column, value.into());
        self
    }

    /// The row's integer `id` (0 for a table whose key is not an integer id).
    #[must_use]
    pub fn id(&self) -> i64 {
        self.key().as_i64().unwrap_or(0)
    }

    /// The row's primary key value (`id`, or `version` for `phinxlog`).
    #[must_use]
    pub fn key(&self) -> Value {
        let row = &self.seed.rows[self.index];
        row.get("id")
            .or_else(|| row.get("version"))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// A column value of this row, as it will be written.
    #[must_use]
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.seed.rows[self.index].get(column)
    }
}
/// Collects rows, then writes them with [`Seed::apply`].
///
/// Helpers that need a parent take its id; where a parent is implied (the user who launched a
/// job, the app and company of a job without a runtemplate), the first such row of this seed is
/// used, created on first need (`admin`, `App1`, `Comp1`).
#[derive(Debug, Clone)]
pub struct Seed {
    now: DateTimeValue,
    rows: Vec<Row>,
    next_id: BTreeMap<&'static str, i64>,
    dangling: bool,
}

impl Seed {
    /// A builder whose dates are relative to `now` (fractions of a second are dropped, so every
    /// engine stores the same value).
    ///
    /// # Panics
    /// When `now` is not a valid date and time.
    #[must_use]
    pub fn new(now: DateTimeValue) -> Self {
        let now = DateTimeValue { micros: 0, ..now };
        assert!(
            now.is_valid_date(),
            "scenario now {now} is not a valid date and time"
        );
        Seed {
            now,
            rows: Vec::new(),
            next_id: BTreeMap::new(),
            dangling: false,
        }
    }

    #[must_use]
    pub fn now(&self) -> DateTimeValue {
        self.now
    }

    /// `now` moved by `seconds` (negative: the past). See [`MINUTE`], [`HOUR`], [`DAY`].
    #[must_use]
    pub fn at(&self, seconds: i64) -> DateTimeValue {
        shift(self.now, seconds)
    }

    /// Number of rows collected so far, per table.
    #[must_use]
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for row in &self.rows {
            *counts.entry(row.table).or_insert(0) += 1;
        }
        counts
    }

    /// Lets this seed write rows whose foreign keys point nowhere (a job of runtemplate 99):
    /// [`Seed::apply`] then turns foreign key checks off for its transactions — MySQL
    /// `FOREIGN_KEY_CHECKS = 0`, PostgreSQL `session_replication_role = replica` (needs a
    /// superuser, as the test databases have); SQLite connections have them off anyway.
    pub fn allow_dangling_references(&mut self) -> &mut Self {
        self.dangling = true;
        self
    }

    /// Makes the next id of `table` `first` (to continue rows an earlier seed wrote).
    pub fn start_ids_at(&mut self, table: &'static str, first: i64) -> &mut Self {
        self.next_id.insert(table, first);
        self
    }

    /// The next id of `table` (ids count from 1 per table, or from the last explicit id + 1).
    fn take_id(&mut self, table: &'static str) -> i64 {
        let next = self.next_id.entry(table).or_insert(1);
        let id = *next;
        *next += 1;
        id
    }

    /// Adds a row of any table with the given cells (no defaults filled in). When the cells
    /// carry an integer `id`, later ids of the table continue after it.
    pub fn row(&mut self, table: &'static str, cells: Vec<(&'static str, Value)>) -> RowRef<'_> {
        let row = Row::new(table, cells);
        if let Some(id) = row.get("id").and_then(Value::as_i64) {
            let next = self.next_id.entry(table).or_insert(1);
            *next = (*next).max(id + 1);
        }
        self.push(row)
    }

    /// Sets `column` of the row of `table` with integer id `id` added earlier. Returns whether
    /// there was such a row.
    pub fn set_on(
        &mut self,
        table: &str,
        id: i64,
        column: &'static str,
        value: impl Into<Value>,
    ) -> bool {
        let found = self
            .rows
            .iter_mut()
            .rev()
            .find(|r| r.table == table && r.get("id").and_then(Value::as_i64) == Some(id));
        match found {
            Some(row) => {
                row.set(column, value.into());
                true
            }
            None => false,
        }
    }

    fn push(&mut self, row: Row) -> RowRef<'_> {
        self.rows.push(row);
        let index = self.rows.len() - 1;
        RowRef { seed: self, index }
    }

    fn first_id(&self, table: &str) -> Option<i64> {
        self.rows
            .iter()
            .find(|r| r.table == table)
            .and_then(|r| r.get("id"))
            .and_then(Value::as_i64)
    }

    /// The row of `table` with `id`, searched from the newest: the row asked for is nearly
    /// always one just added (a job's output lines follow the job), which keeps big seeds
    /// linear.
    fn find(&self, table: &str, id: i64) -> Option<&Row> {
        self.rows
            .iter()
            .rev()
            .find(|r| r.table == table && r.get("id").and_then(Value::as_i64) == Some(id))
    }

    fn default_user(&mut self) -> i64 {
        match self.first_id("user") {
            Some(id) => id,
            None => self.user("admin").id(),
        }
    }

    fn default_app(&mut self) -> i64 {
        match self.first_id("apps") {
            Some(id) => id,
            None => self.app("App1").id(),
        }
    }

    fn default_company(&mut self) -> i64 {
        match self.first_id("company") {
            Some(id) => id,
            None => self.company("Comp1", "C1").id(),
        }
    }
}

/// A fixed, valid version-4-shaped UUID from a namespace byte and a number.
fn deterministic_uuid(namespace: u8, n: i64) -> String {
    format!("{namespace:02x}000000-0000-4000-8000-{n:012x}")
}
