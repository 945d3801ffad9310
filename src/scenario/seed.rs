//! The row builder: collects MultiFlexi rows with explicit ids and valid foreign keys, then
//! writes them through `Connection::begin()` / `WriteTx::execute` with bound values.
//!
//! Every helper fills the columns a real MultiFlexi row has (so `NOT NULL` columns without a
//! default are always given) and returns a [`RowRef`] through which any column can be
//! overridden. Ids are assigned by the builder, counting from 1 per table, so they are the same
//! on every engine; PostgreSQL identity sequences are advanced afterwards so later inserts
//! without an id do not collide. Dates are computed from the `now` the builder was made with.
//!
//! Must never: format a value into SQL, or read the wall clock.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};
use housekeeper_journal::{DateTimeValue, Value};

use crate::config::Engine;
use crate::db::{Connection, DbError, DbResult, WriteTx};

/// Seconds in a minute, an hour and a day, for readable offsets: `seed.at(-3 * DAY)`.
pub const MINUTE: i64 = 60;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// Rows per multi-row `INSERT` (well under every engine's parameter limit).
const ROWS_PER_INSERT: usize = 100;
/// Rows per write transaction.
const ROWS_PER_TRANSACTION: usize = 5_000;

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

/// One of the retention policies that migration 20250120185000 inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultPolicy {
    pub policy_name: &'static str,
    pub data_type: &'static str,
    pub table_name: &'static str,
    pub retention_period_days: i64,
    pub grace_period_days: i64,
    pub deletion_action: &'static str,
    pub legal_basis: &'static str,
    pub description: &'static str,
}

/// The seven default retention policies, in insertion order (ids 1–7).
pub const DEFAULT_RETENTION_POLICIES: [DefaultPolicy; 7] = [
    DefaultPolicy {
        policy_name: "user_accounts_inactive",
        data_type: "user_personal_data",
        table_name: "user",
        retention_period_days: 1095,
        grace_period_days: 30,
        deletion_action: "anonymize",
        legal_basis: "GDPR Art. 5(1)(e) - Data minimization principle",
        description: "Inactive user accounts are anonymized after 3 years of inactivity",
    },
    DefaultPolicy {
        policy_name: "session_data",
        data_type: "session_data",
        table_name: "user_sessions",
        retention_period_days: 30,
        grace_period_days: 7,
        deletion_action: "hard_delete",
        legal_basis: "GDPR Art. 5(1)(e) - Data minimization principle",
        description: "Session data is deleted after 30 days",
    },
    DefaultPolicy {
        policy_name: "audit_logs",
        data_type: "audit_data",
        table_name: "security_audit_log",
        retention_period_days: 2555,
        grace_period_days: 90,
        deletion_action: "archive",
        legal_basis: "Legal and regulatory requirements for audit trail retention",
        description: "Security audit logs are archived after 7 years",
    },
    DefaultPolicy {
        policy_name: "job_execution_logs",
        data_type: "job_execution_data",
        table_name: "job",
        retention_period_days: 365,
        grace_period_days: 30,
        deletion_action: "soft_delete",
        legal_basis: "Business operations and troubleshooting requirements",
        description: "Job execution logs are soft deleted after 1 year",
    },
    DefaultPolicy {
        policy_name: "application_logs",
        data_type: "application_logs",
        table_name: "log",
        retention_period_days: 365,
        grace_period_days: 30,
        deletion_action: "hard_delete",
        legal_basis: "Business operations and troubleshooting requirements",
        description: "Application logs are deleted after 1 year",
    },
    DefaultPolicy {
        policy_name: "company_data_business_relationship",
        data_type: "company_business_data",
        table_name: "company",
        retention_period_days: 1825,
        grace_period_days: 90,
        deletion_action: "anonymize",
        legal_basis: "Legitimate business interests and contract obligations",
        description: "Company data retained based on active business relationship, anonymized after 5 years of inactivity",
    },
    DefaultPolicy {
        policy_name: "login_attempts",
        data_type: "security_data",
        table_name: "login_attempts",
        retention_period_days: 90,
        grace_period_days: 7,
        deletion_action: "hard_delete",
        legal_basis: "Security monitoring and fraud prevention",
        description: "Login attempt logs are deleted after 3 months",
    },
];

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

    fn find(&self, table: &str, id: i64) -> Option<&Row> {
        self.rows
            .iter()
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

    // ----- people, apps, companies, runtemplates ---------------------------------------------

    /// An enabled web user `login` (unique), active yesterday.
    pub fn user(&mut self, login: &str) -> RowRef<'_> {
        let id = self.take_id("user");
        let created = self.at(-400 * DAY);
        let active = self.at(-DAY);
        self.push(Row::new(
            "user",
            vec![
                ("id", Value::Int(id)),
                ("enabled", Value::Bool(true)),
                ("settings", Value::Null),
                ("email", format!("{login}@example.com").into()),
                ("firstname", capitalized(login).into()),
                ("lastname", "Tester".into()),
                (
                    "password",
                    format!("$2y$10$seed.{login}.not.a.real.hash").into(),
                ),
                ("login", login.into()),
                ("DatCreate", created.into()),
                ("DatSave", created.into()),
                ("last_modifier_id", Value::Null),
                ("failed_login_attempts", Value::Int(0)),
                ("two_factor_enabled", Value::Bool(false)),
                ("last_login_ip", "192.0.2.10".into()),
                ("last_login_at", active.into()),
                ("last_activity_at", active.into()),
            ],
        ))
    }

    /// An enabled application `name` (unique) with a unique code and uuid.
    pub fn app(&mut self, name: &str) -> RowRef<'_> {
        let id = self.take_id("apps");
        let created = self.at(-500 * DAY);
        let executable = format!("multiflexi-{}", name.to_ascii_lowercase().replace(' ', "-"));
        self.push(Row::new(
            "apps",
            vec![
                ("id", Value::Int(id)),
                ("enabled", Value::Bool(true)),
                ("image", "".into()),
                ("name", name.into()),
                ("description", format!("{name} for the scenario").into()),
                ("executable", executable.into()),
                ("DatCreate", created.into()),
                ("DatUpdate", created.into()),
                ("deploy", "".into()),
                ("homepage", "https://example.com/".into()),
                ("requirements", "".into()),
                ("ociimage", "".into()),
                ("version", "1.0.0".into()),
                ("code", format!("APP{id}").into()),
                ("uuid", deterministic_uuid(0x0a, id).into()),
                ("tags", "".into()),
                ("resultfile", "RESULT_FILE".into()),
                ("artifacts", "".into()),
            ],
        ))
    }

    /// An enabled company `name` with `slug` (at most 10 characters; the pair is unique).
    pub fn company(&mut self, name: &str, slug: &str) -> RowRef<'_> {
        let id = self.take_id("company");
        let created = self.at(-450 * DAY);
        self.push(Row::new(
            "company",
            vec![
                ("id", Value::Int(id)),
                ("enabled", Value::Bool(true)),
                ("settings", Value::Null),
                ("logo", "".into()),
                ("server", Value::Int(0)),
                ("name", name.into()),
                ("ic", format!("{:08}", 1_000_000 + id).into()),
                ("setup", Value::Bool(true)),
                ("DatCreate", created.into()),
                ("DatUpdate", created.into()),
                (
                    "email",
                    format!("office@{}.example.com", slug.to_ascii_lowercase()).into(),
                ),
                ("slug", slug.into()),
                ("marked_for_deletion", Value::Bool(false)),
            ],
        ))
    }

    /// An active runtemplate of `app` for `company` with interval code `interv` (`d`, `h`, `n`,
    /// …), no `next_schedule`, counters 0.
    pub fn runtemplate(&mut self, app: i64, company: i64, interv: &str) -> RowRef<'_> {
        let id = self.take_id("runtemplate");
        let created = self.at(-300 * DAY);
        self.push(Row::new(
            "runtemplate",
            vec![
                ("id", Value::Int(id)),
                ("app_id", Value::Int(app)),
                ("company_id", Value::Int(company)),
                ("interv", interv.into()),
                ("prepared", Value::Bool(true)),
                ("name", format!("RT{id}").into()),
                ("delay", Value::Int(0)),
                ("executor", "Native".into()),
                ("active", Value::Bool(true)),
                ("next_schedule", Value::Null),
                ("DatCreate", created.into()),
                ("DatSave", Value::Null),
                ("successfull_jobs_count", Value::Int(0)),
                ("failed_jobs_count", Value::Int(0)),
                ("max_attempts", Value::Int(1)),
                ("retry_backoff", "none".into()),
                ("retry_min_gap", Value::Int(0)),
                ("allow_late", Value::Bool(false)),
            ],
        ))
    }

    // ----- jobs, queue, tasks -----------------------------------------------------------------

    /// A job of runtemplate `runtemplate` (its app and company) in `state`; a queued job also
    /// gets its queue row. Launched by the first user of the seed.
    pub fn job(&mut self, runtemplate: i64, state: JobState) -> RowRef<'_> {
        let (app, company, interv) = match self.find("runtemplate", runtemplate) {
            Some(rt) => (
                rt.get("app_id").and_then(Value::as_i64),
                rt.get("company_id").and_then(Value::as_i64),
                rt.get("interv").and_then(|v| v.as_str().map(str::to_owned)),
            ),
            None => (None, None, None),
        };
        let app = match app {
            Some(app) => app,
            None => self.default_app(),
        };
        let company = match company {
            Some(company) => company,
            None => self.default_company(),
        };
        let schedule_type = interval_name(interv.as_deref().unwrap_or("d"));
        self.job_with(app, company, Value::Int(runtemplate), schedule_type, state)
    }

    /// A job of `runtemplate` waiting in the queue for `schedule` (with its queue row).
    pub fn queued_job(&mut self, runtemplate: i64, schedule: DateTimeValue) -> RowRef<'_> {
        self.job(runtemplate, JobState::Queued { schedule })
    }

    /// A job of `runtemplate` that never started and has no queue row: a ghost once
    /// `schedule` is older than `STALE_JOB_AGE`.
    pub fn ghost_job(&mut self, runtemplate: i64, schedule: DateTimeValue) -> RowRef<'_> {
        self.job(
            runtemplate,
            JobState::Pending {
                schedule: Some(schedule),
            },
        )
    }

    /// A job of `runtemplate` running since `began`.
    pub fn running_job(&mut self, runtemplate: i64, began: DateTimeValue) -> RowRef<'_> {
        self.job(runtemplate, JobState::Running { began })
    }

    /// A job of `runtemplate` that began at `began` and exited 0.
    pub fn succeeded_job(&mut self, runtemplate: i64, began: DateTimeValue) -> RowRef<'_> {
        self.job(runtemplate, JobState::Finished { began, exitcode: 0 })
    }

    /// A job of `runtemplate` that began at `began` and exited with `exitcode` (non-zero).
    pub fn failed_job(
        &mut self,
        runtemplate: i64,
        began: DateTimeValue,
        exitcode: i64,
    ) -> RowRef<'_> {
        self.job(runtemplate, JobState::Finished { began, exitcode })
    }

    /// A job whose `runtemplate_id` is `runtemplate` without it being a runtemplate of this
    /// seed: `None` (an ad-hoc job), 0, or a missing id (then call
    /// [`Seed::allow_dangling_references`] for engines that enforce the foreign key). App and
    /// company are the seed's first ones.
    pub fn job_without_runtemplate(
        &mut self,
        runtemplate: Option<i64>,
        state: JobState,
    ) -> RowRef<'_> {
        let app = self.default_app();
        let company = self.default_company();
        let rt = runtemplate.map_or(Value::Null, Value::Int);
        let schedule_type = if runtemplate.is_none() {
            "adhoc"
        } else {
            "daily"
        };
        self.job_with(app, company, rt, schedule_type, state)
    }

    fn job_with(
        &mut self,
        app: i64,
        company: i64,
        runtemplate: Value,
        schedule_type: &str,
        state: JobState,
    ) -> RowRef<'_> {
        let launched_by = self.default_user();
        let id = self.take_id("job");
        let (begin, end, exitcode, schedule, pid) = match state {
            JobState::Queued { schedule } => (None, None, None, Some(schedule), None),
            JobState::Pending { schedule } => (None, None, None, schedule, None),
            JobState::Running { began } => (Some(began), None, None, Some(began), Some(4000 + id)),
            JobState::Finished { began, exitcode } => (
                Some(began),
                Some(shift(began, 90)),
                Some(exitcode),
                Some(began),
                Some(4000 + id),
            ),
        };
        let dt = |v: Option<DateTimeValue>| v.map_or(Value::Null, Value::DateTime);
        let index = self.rows.len();
        self.rows.push(Row::new(
            "job",
            vec![
                ("id", Value::Int(id)),
                ("app_id", Value::Int(app)),
                ("begin", dt(begin)),
                ("end", dt(end)),
                ("company_id", Value::Int(company)),
                ("exitcode", exitcode.map_or(Value::Null, Value::Int)),
                ("launched_by", Value::Int(launched_by)),
                ("env", Value::Null),
                ("command", format!("multiflexi-job --job {id}").into()),
                ("schedule", dt(schedule)),
                ("executor", "Native".into()),
                ("app_version", "1.0.0".into()),
                ("runtemplate_id", runtemplate),
                ("schedule_type", schedule_type.into()),
                ("pid", pid.map_or(Value::Null, Value::Int)),
                ("retention_until", Value::Null),
                ("marked_for_deletion", Value::Bool(false)),
                ("task_id", Value::Null),
            ],
        ));
        if let JobState::Queued { schedule } = state {
            let _ = self.queue_entry(Some(id), schedule);
        }
        RowRef { seed: self, index }
    }

    /// A queue (`schedule` table) row for `job` (which may be `None`, 0 or missing: the queue
    /// has no foreign key), startable `after`.
    pub fn queue_entry(&mut self, job: Option<i64>, after: DateTimeValue) -> RowRef<'_> {
        let id = self.take_id("schedule");
        self.push(Row::new(
            "schedule",
            vec![
                ("id", Value::Int(id)),
                ("after", after.into()),
                ("job", job.map_or(Value::Null, Value::Int)),
            ],
        ))
    }

    /// A task window of `runtemplate` from `window_start` to `window_end` (also the deadline)
    /// in `state` after `attempts` failed attempts.
    pub fn task(
        &mut self,
        runtemplate: i64,
        window_start: DateTimeValue,
        window_end: DateTimeValue,
        state: &str,
        attempts: i64,
    ) -> RowRef<'_> {
        let id = self.take_id("task");
        self.push(Row::new(
            "task",
            vec![
                ("id", Value::Int(id)),
                ("runtemplate_id", Value::Int(runtemplate)),
                ("window_start", window_start.into()),
                ("window_end", window_end.into()),
                ("deadline", window_end.into()),
                ("state", state.into()),
                ("fulfilled_by_job_id", Value::Null),
                ("fulfilled_at", Value::Null),
                ("attempts", Value::Int(attempts)),
                ("created_at", window_start.into()),
            ],
        ))
    }

    // ----- logs, sessions, audit ----------------------------------------------------------------

    /// A `log` row.
    pub fn log(
        &mut self,
        severity: &str,
        venue: &str,
        message: &str,
        created: DateTimeValue,
    ) -> RowRef<'_> {
        let id = self.take_id("log");
        self.push(Row::new(
            "log",
            vec![
                ("id", Value::Int(id)),
                ("company_id", Value::Null),
                ("apps_id", Value::Null),
                ("user_id", Value::Null),
                ("severity", severity.into()),
                ("venue", venue.into()),
                ("message", message.into()),
                ("created", created.into()),
                ("retention_until", Value::Null),
                ("marked_for_deletion", Value::Bool(false)),
            ],
        ))
    }

    /// A web session of `user` (string key `sess-<n>`) last active at `last_activity`, expiring
    /// a day later.
    pub fn session(&mut self, user: i64, last_activity: DateTimeValue) -> RowRef<'_> {
        let n = self.take_id("user_sessions");
        self.push(Row::new(
            "user_sessions",
            vec![
                ("id", format!("sess-{n:032x}").into()),
                ("user_id", Value::Int(user)),
                ("ip_address", "198.51.100.7".into()),
                ("user_agent", "Mozilla/5.0 (X11; Linux x86_64)".into()),
                ("created_at", shift(last_activity, -HOUR).into()),
                ("last_activity", last_activity.into()),
                ("expires_at", shift(last_activity, DAY).into()),
                ("is_active", Value::Bool(true)),
                ("security_data", Value::Json("{\"mfa\":false}".to_owned())),
                ("retention_until", Value::Null),
                ("marked_for_deletion", Value::Bool(false)),
            ],
        ))
    }

    /// A `security_audit_log` event (`severity` one of low, medium, high, critical).
    pub fn audit_event(
        &mut self,
        user: Option<i64>,
        event_type: &str,
        severity: &str,
        created_at: DateTimeValue,
    ) -> RowRef<'_> {
        let id = self.take_id("security_audit_log");
        self.push(Row::new(
            "security_audit_log",
            vec![
                ("id", Value::Int(id)),
                ("user_id", user.map_or(Value::Null, Value::Int)),
                ("event_type", event_type.into()),
                (
                    "event_description",
                    format!("{event_type} event #{id}").into(),
                ),
                ("ip_address", "203.0.113.5".into()),
                ("user_agent", "curl/8.0".into()),
                (
                    "additional_data",
                    Value::Json("{\"source\":\"web\"}".to_owned()),
                ),
                ("severity", severity.into()),
                ("created_at", created_at.into()),
                ("retention_until", Value::Null),
                ("marked_for_deletion", Value::Bool(false)),
            ],
        ))
    }

    /// A `login_attempts` row.
    pub fn login_attempt(
        &mut self,
        username: &str,
        at: DateTimeValue,
        success: bool,
    ) -> RowRef<'_> {
        let id = self.take_id("login_attempts");
        self.push(Row::new(
            "login_attempts",
            vec![
                ("id", Value::Int(id)),
                ("ip_address", "198.51.100.23".into()),
                ("username", username.into()),
                ("attempt_time", at.into()),
                ("success", Value::Bool(success)),
                ("user_agent", "Mozilla/5.0".into()),
                (
                    "failure_reason",
                    if success {
                        Value::Null
                    } else {
                        "invalid_password".into()
                    },
                ),
            ],
        ))
    }

    // ----- job output, artifacts, files ----------------------------------------------------------

    /// A line of a job's output (`kind` stdout, stderr, …).
    pub fn output_line(&mut self, job: i64, seq: i64, kind: &str, line: &str) -> RowRef<'_> {
        let id = self.take_id("job_output_lines");
        let created = self.job_time(job);
        self.push(Row::new(
            "job_output_lines",
            vec![
                ("id", Value::Int(id)),
                ("job_id", Value::Int(job)),
                ("seq", Value::Int(seq)),
                ("type", kind.into()),
                ("line", line.into()),
                ("created_at", created.into()),
            ],
        ))
    }

    /// An artifact of a job.
    pub fn artifact(&mut self, job: i64, filename: &str, content: &str) -> RowRef<'_> {
        let id = self.take_id("artifacts");
        let created = self.job_time(job);
        self.push(Row::new(
            "artifacts",
            vec![
                ("id", Value::Int(id)),
                ("job_id", Value::Int(job)),
                ("filename", filename.into()),
                ("content_type", "application/json".into()),
                ("artifact", content.into()),
                ("created_at", created.into()),
                ("note", Value::Null),
            ],
        ))
    }

    /// A `file_store` row of a job and/or runtemplate holding `data`.
    pub fn stored_file(
        &mut self,
        job: Option<i64>,
        runtemplate: Option<i64>,
        file_name: &str,
        data: &[u8],
    ) -> RowRef<'_> {
        let id = self.take_id("file_store");
        let created = job.map_or(self.now, |j| self.job_time(j));
        self.push(Row::new(
            "file_store",
            vec![
                ("id", Value::Int(id)),
                ("job_id", job.map_or(Value::Null, Value::Int)),
                (
                    "runtemplate_id",
                    runtemplate.map_or(Value::Null, Value::Int),
                ),
                ("field", "INPUT_FILE".into()),
                ("file_name", file_name.into()),
                (
                    "file_path",
                    format!("/var/lib/multiflexi/files/{id}/{file_name}").into(),
                ),
                ("file_data", Value::Bytes(data.to_vec())),
                ("created_at", created.into()),
            ],
        ))
    }

    /// When a job of this seed began (else was scheduled, else `now`).
    fn job_time(&self, job: i64) -> DateTimeValue {
        self.find("job", job)
            .and_then(|r| {
                r.get("begin")
                    .and_then(Value::as_datetime)
                    .or_else(|| r.get("schedule").and_then(Value::as_datetime))
            })
            .unwrap_or(self.now)
    }

    // ----- credentials -----------------------------------------------------------------------

    /// A credential type of `company` bound to `prototype` (`FioBank`, `Common`, …).
    pub fn credential_type(&mut self, company: i64, name: &str, prototype: &str) -> RowRef<'_> {
        let id = self.take_id("credential_type");
        self.push(Row::new(
            "credential_type",
            vec![
                ("id", Value::Int(id)),
                ("name", name.into()),
                ("url", "".into()),
                ("logo", "".into()),
                ("uuid", deterministic_uuid(0xc7, id).into()),
                ("prototype", prototype.into()),
                ("company_id", Value::Int(company)),
                ("version", "1".into()),
            ],
        ))
    }

    /// A per-type setting (`credtypedata`), e.g. `FIO_TOKEN`.
    pub fn credential_type_option(
        &mut self,
        credential_type: i64,
        name: &str,
        value: &str,
    ) -> RowRef<'_> {
        let id = self.take_id("credtypedata");
        self.push(Row::new(
            "credtypedata",
            vec![
                ("id", Value::Int(id)),
                ("credential_type_id", Value::Int(credential_type)),
                ("name", name.into()),
                ("value", value.into()),
                ("type", "string".into()),
            ],
        ))
    }

    /// A field definition of a credential type (`crtypefield`).
    pub fn credential_type_field(
        &mut self,
        credential_type: i64,
        keyname: &str,
        required: bool,
        default: Option<&str>,
    ) -> RowRef<'_> {
        let id = self.take_id("crtypefield");
        self.push(Row::new(
            "crtypefield",
            vec![
                ("id", Value::Int(id)),
                ("credential_type_id", Value::Int(credential_type)),
                ("keyname", keyname.into()),
                ("type", "string".into()),
                ("description", format!("{keyname} of the service").into()),
                ("hint", "".into()),
                ("defval", default.map_or(Value::Null, Value::from)),
                ("required", Value::Bool(required)),
                ("helper", Value::Null),
            ],
        ))
    }

    /// A credential of `credential_type` (same company, `formType` = the type's prototype).
    pub fn credential(&mut self, credential_type: i64, name: &str) -> RowRef<'_> {
        let (company, prototype) = match self.find("credential_type", credential_type) {
            Some(ct) => (
                ct.get("company_id").cloned().unwrap_or(Value::Null),
                ct.get("prototype").cloned().unwrap_or(Value::Null),
            ),
            None => (Value::Null, Value::Null),
        };
        let id = self.take_id("credentials");
        self.push(Row::new(
            "credentials",
            vec![
                ("id", Value::Int(id)),
                ("name", name.into()),
                ("company_id", company),
                ("formType", prototype),
                ("credential_type_id", Value::Int(credential_type)),
            ],
        ))
    }

    /// A value of a credential's field (`credata`).
    pub fn credential_value(&mut self, credential: i64, name: &str, value: &str) -> RowRef<'_> {
        let id = self.take_id("credata");
        self.push(Row::new(
            "credata",
            vec![
                ("id", Value::Int(id)),
                ("credential_id", Value::Int(credential)),
                ("name", name.into()),
                ("value", value.into()),
                ("type", "string".into()),
            ],
        ))
    }

    /// A prototype defined in the database (`credential_prototype`), looked up by `code`.
    pub fn credential_prototype(&mut self, code: &str, name: &str) -> RowRef<'_> {
        let id = self.take_id("credential_prototype");
        let created = self.at(-100 * DAY);
        self.push(Row::new(
            "credential_prototype",
            vec![
                ("id", Value::Int(id)),
                ("uuid", deterministic_uuid(0xd0, id).into()),
                ("code", code.into()),
                ("name", name.into()),
                (
                    "description",
                    format!("{name} (imported definition)").into(),
                ),
                ("version", "1.0".into()),
                ("url", Value::Null),
                ("logo", Value::Null),
                ("created_at", created.into()),
                ("updated_at", created.into()),
                ("homepage", Value::Null),
                ("tags", Value::Null),
            ],
        ))
    }

    /// A field of a database-defined prototype.
    pub fn credential_prototype_field(
        &mut self,
        prototype: i64,
        keyword: &str,
        required: bool,
        default: Option<&str>,
    ) -> RowRef<'_> {
        let id = self.take_id("credential_prototype_field");
        self.push(Row::new(
            "credential_prototype_field",
            vec![
                ("id", Value::Int(id)),
                ("credential_prototype_id", Value::Int(prototype)),
                ("keyword", keyword.into()),
                ("type", "string".into()),
                ("name", keyword.into()),
                ("description", Value::Null),
                ("hint", Value::Null),
                ("default_value", default.map_or(Value::Null, Value::from)),
                ("required", Value::Bool(required)),
                ("options", Value::Null),
            ],
        ))
    }

    /// Assigns `credential` to `runtemplate` (`runtplcreds`).
    pub fn assign_credential(&mut self, runtemplate: i64, credential: i64) -> RowRef<'_> {
        let id = self.take_id("runtplcreds");
        self.push(Row::new(
            "runtplcreds",
            vec![
                ("id", Value::Int(id)),
                ("runtemplate_id", Value::Int(runtemplate)),
                ("credentials_id", Value::Int(credential)),
            ],
        ))
    }

    // ----- retention -------------------------------------------------------------------------

    /// A `data_retention_policies` row (enabled).
    #[allow(clippy::too_many_arguments)]
    pub fn retention_policy(
        &mut self,
        policy_name: &str,
        data_type: &str,
        table_name: &str,
        retention_period_days: i64,
        grace_period_days: i64,
        deletion_action: &str,
        created_by: Option<i64>,
    ) -> RowRef<'_> {
        let id = self.take_id("data_retention_policies");
        let created = self.at(-200 * DAY);
        self.push(Row::new(
            "data_retention_policies",
            vec![
                ("id", Value::Int(id)),
                ("policy_name", policy_name.into()),
                ("data_type", data_type.into()),
                ("table_name", table_name.into()),
                ("retention_period_days", Value::Int(retention_period_days)),
                ("grace_period_days", Value::Int(grace_period_days)),
                ("deletion_action", deletion_action.into()),
                ("legal_basis", Value::Null),
                ("description", Value::Null),
                ("enabled", Value::Bool(true)),
                ("created_by", created_by.map_or(Value::Null, Value::Int)),
                ("created_at", created.into()),
                ("updated_at", created.into()),
            ],
        ))
    }

    /// The seven default policies of migration 20250120185000 ([`DEFAULT_RETENTION_POLICIES`]),
    /// created by `created_by` (the migration uses the first enabled user, else NULL). Returns
    /// their ids.
    pub fn default_retention_policies(&mut self, created_by: Option<i64>) -> Vec<i64> {
        let mut ids = Vec::new();
        for p in DEFAULT_RETENTION_POLICIES {
            let row = self
                .retention_policy(
                    p.policy_name,
                    p.data_type,
                    p.table_name,
                    p.retention_period_days,
                    p.grace_period_days,
                    p.deletion_action,
                    created_by,
                )
                .set("legal_basis", p.legal_basis)
                .set("description", p.description);
            ids.push(row.id());
        }
        ids
    }

    /// A `retention_cleanup_jobs` row (`job_type` scheduled_cleanup, manual_cleanup or
    /// grace_period_cleanup; `status` pending, running, completed, failed or cancelled).
    pub fn retention_cleanup_job(
        &mut self,
        policy: i64,
        job_type: &str,
        status: &str,
        started_at: DateTimeValue,
    ) -> RowRef<'_> {
        let id = self.take_id("retention_cleanup_jobs");
        self.push(Row::new(
            "retention_cleanup_jobs",
            vec![
                ("id", Value::Int(id)),
                ("policy_id", Value::Int(policy)),
                ("job_type", job_type.into()),
                ("status", status.into()),
                ("started_by", Value::Null),
                ("started_at", started_at.into()),
                ("completed_at", shift(started_at, 5).into()),
                ("records_processed", Value::Int(0)),
                ("records_deleted", Value::Int(0)),
                ("records_anonymized", Value::Int(0)),
                ("records_archived", Value::Int(0)),
                ("errors", Value::Json("[]".to_owned())),
                (
                    "summary",
                    "Processed: 0, Deleted: 0, Anonymized: 0, Archived: 0".into(),
                ),
                ("created_at", started_at.into()),
            ],
        ))
    }

    /// A `data_archive` row holding `archived_data` (JSON text of the original row).
    pub fn archive_entry(
        &mut self,
        source_table: &str,
        source_record_id: i64,
        archived_data: &str,
        archived_by: i64,
    ) -> RowRef<'_> {
        let id = self.take_id("data_archive");
        let at = self.at(-30 * DAY);
        self.push(Row::new(
            "data_archive",
            vec![
                ("id", Value::Int(id)),
                ("archive_type", "legal_hold".into()),
                ("source_table", source_table.into()),
                ("source_record_id", Value::Int(source_record_id)),
                ("archived_data", archived_data.into()),
                ("retention_job_id", Value::Null),
                ("archived_reason", "Legal retention archive".into()),
                ("legal_hold_until", shift(at, 365 * DAY).into()),
                ("archived_by", Value::Int(archived_by)),
                ("archived_at", at.into()),
            ],
        ))
    }

    /// A `retention_reports` row (`report_type` daily_summary, weekly_summary, monthly_summary,
    /// policy_audit or compliance_report).
    pub fn retention_report(&mut self, generated_by: i64, report_type: &str) -> RowRef<'_> {
        let id = self.take_id("retention_reports");
        let end = self.at(-DAY);
        self.push(Row::new(
            "retention_reports",
            vec![
                ("id", Value::Int(id)),
                ("report_type", report_type.into()),
                ("report_period_start", shift(end, -7 * DAY).into()),
                ("report_period_end", end.into()),
                ("generated_by", Value::Int(generated_by)),
                (
                    "report_data",
                    Value::Json("{\"policies\":7,\"expired\":0}".to_owned()),
                ),
                ("summary", "Nothing expired".into()),
                ("file_path", Value::Null),
                ("generated_at", end.into()),
            ],
        ))
    }

    // ----- writing ---------------------------------------------------------------------------

    /// Writes every collected row: consecutive rows of one table with the same columns go into
    /// one multi-row `INSERT`, at most [`ROWS_PER_TRANSACTION`] rows per transaction, in the
    /// order they were added (parents first). Afterwards PostgreSQL identity sequences of the
    /// tables written are moved past their highest id.
    ///
    /// # Errors
    /// A statement failed; the error names the table. Rows of earlier transactions stay.
    pub fn apply(&self, conn: &mut dyn Connection) -> DbResult<()> {
        let engine = conn.engine();
        for chunk in self.rows.chunks(ROWS_PER_TRANSACTION) {
            let mut tx = conn.begin()?;
            if self.dangling {
                set_fk_checks(tx.as_mut(), engine, false)?;
            }
            let mut start = 0;
            while start < chunk.len() {
                let first = &chunk[start];
                let mut end = start + 1;
                while end < chunk.len()
                    && end - start < ROWS_PER_INSERT
                    && chunk[end].table == first.table
                    && chunk[end].columns == first.columns
                {
                    end += 1;
                }
                insert_rows(tx.as_mut(), &chunk[start..end])?;
                start = end;
            }
            if self.dangling {
                set_fk_checks(tx.as_mut(), engine, true)?;
            }
            tx.commit()?;
        }
        if engine == Engine::Postgres {
            let tables: BTreeSet<&str> = self
                .rows
                .iter()
                .filter(|r| matches!(r.get("id"), Some(Value::Int(_))))
                .map(|r| r.table)
                .collect();
            advance_identities(conn, &tables)?;
        }
        Ok(())
    }
}

fn insert_rows(tx: &mut dyn WriteTx, rows: &[Row]) -> DbResult<()> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let dialect = *tx.dialect();
    let columns: Vec<String> = first.columns.iter().map(|c| dialect.quote(c)).collect();
    let tuple = format!("({})", dialect.placeholders(columns.len()));
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ",
        dialect.quote(first.table),
        columns.join(", ")
    );
    let mut params = Vec::with_capacity(rows.len() * columns.len());
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&tuple);
        params.extend(row.values.iter().cloned());
    }
    tx.execute(&sql, &params).map_err(|e| match e {
        DbError::Statement { detail, code, .. } => DbError::Statement {
            sql: format!(
                "INSERT INTO {} ({}) … ({} rows)",
                first.table,
                first.columns.join(", "),
                rows.len()
            ),
            detail,
            code,
        },
        other => other,
    })?;
    Ok(())
}

/// Foreign key checks on or off for the rest of the transaction. The one place the builder
/// speaks engine-specific SQL: none of these has a portable form.
fn set_fk_checks(tx: &mut dyn WriteTx, engine: Engine, on: bool) -> DbResult<()> {
    match engine {
        Engine::Mysql => {
            let sql = if on {
                "SET FOREIGN_KEY_CHECKS = 1"
            } else {
                "SET FOREIGN_KEY_CHECKS = 0"
            };
            tx.execute(sql, &[])?;
        }
        Engine::Postgres => {
            let sql = if on {
                "SET LOCAL session_replication_role = origin"
            } else {
                "SET LOCAL session_replication_role = replica"
            };
            tx.execute(sql, &[])?;
        }
        // The housekeeper's SQLite connections run with PRAGMA foreign_keys=OFF already.
        Engine::Sqlite => {}
    }
    Ok(())
}

/// Moves each table's identity sequence past its highest id, so inserts without an id (by
/// MultiFlexi, or by the tool's own record rows) do not collide with the seeded ids.
fn advance_identities(conn: &mut dyn Connection, tables: &BTreeSet<&str>) -> DbResult<()> {
    let mut tx = conn.begin()?;
    for table in tables {
        let dialect = *tx.dialect();
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence(?, 'id'), COALESCE((SELECT MAX({id}) FROM {t}), 0) + 1, false)",
            id = dialect.quote("id"),
            t = dialect.quote(table),
        );
        tx.query(&sql, &[Value::Text(dialect.quote(table))])?;
    }
    tx.commit()
}

/// MultiFlexi's name of an interval code (core `Scheduler::codeToInterval`), which is what the
/// scheduler writes into `job.schedule_type`.
fn interval_name(code: &str) -> &'static str {
    match code {
        "y" => "yearly",
        "m" => "monthly",
        "w" => "weekly",
        "d" => "daily",
        "h" => "hourly",
        "i" => "minutly",
        "c" => "custom",
        "n" => "disabled",
        _ => "n/a",
    }
}

/// A fixed, valid version-4-shaped UUID from a namespace byte and a number.
fn deterministic_uuid(namespace: u8, n: i64) -> String {
    format!("{namespace:02x}000000-0000-4000-8000-{n:012x}")
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTimeValue {
        DateTimeValue::ymd_hms(2026, 3, 1, 12, 0, 0)
    }

    #[test]
    fn shift_crosses_days_months_and_leap_days() {
        assert_eq!(
            shift(now(), -12 * HOUR - 1),
            DateTimeValue::ymd_hms(2026, 2, 28, 23, 59, 59)
        );
        assert_eq!(
            shift(DateTimeValue::ymd_hms(2024, 2, 28, 23, 0, 0), HOUR),
            DateTimeValue::ymd_hms(2024, 2, 29, 0, 0, 0)
        );
        assert_eq!(shift(now(), 0), now());
    }

    #[test]
    fn ids_count_per_table_and_continue_after_explicit_ones() {
        let mut seed = Seed::new(now());
        assert_eq!(seed.user("admin").id(), 1);
        assert_eq!(seed.user("bob").id(), 2);
        assert_eq!(seed.app("App1").id(), 1);
        let explicit = seed
            .row("user", vec![("id", Value::Int(10)), ("login", "x".into())])
            .id();
        assert_eq!(explicit, 10);
        assert_eq!(seed.user("carol").id(), 11);
    }

    #[test]
    fn jobs_take_app_company_and_launcher_from_the_seed() {
        let mut seed = Seed::new(now());
        let app = seed.app("A").id();
        let company = seed.company("C", "C").id();
        let rt = seed.runtemplate(app, company, "h").id();
        let at = seed.at(-DAY);
        let job = seed.job(rt, JobState::Queued { schedule: at });
        assert_eq!(job.get("app_id"), Some(&Value::Int(app)));
        assert_eq!(job.get("schedule_type"), Some(&Value::from("hourly")));
        assert_eq!(job.get("launched_by"), Some(&Value::Int(1)));
        let id = job.id();
        let counts = seed.counts();
        assert_eq!(counts["user"], 1, "the launcher was created on first need");
        assert_eq!(counts["schedule"], 1, "a queued job has its queue row");
        let queue = seed.rows.iter().find(|r| r.table == "schedule").unwrap();
        assert_eq!(queue.get("job"), Some(&Value::Int(id)));
        assert_eq!(queue.get("after"), Some(&Value::DateTime(at)));
    }

    #[test]
    fn job_shorthands_set_the_state_columns() {
        let mut seed = Seed::new(now());
        let app = seed.app("A").id();
        let company = seed.company("C", "C").id();
        let rt = seed.runtemplate(app, company, "d").id();
        let at = seed.at(-3 * HOUR);
        let ghost = seed.ghost_job(rt, at);
        assert_eq!(ghost.get("begin"), Some(&Value::Null));
        assert_eq!(ghost.get("schedule"), Some(&Value::DateTime(at)));
        let running = seed.running_job(rt, at);
        assert_eq!(running.get("begin"), Some(&Value::DateTime(at)));
        assert_eq!(running.get("exitcode"), Some(&Value::Null));
        let failed = seed.failed_job(rt, at, 2);
        assert_eq!(failed.get("exitcode"), Some(&Value::Int(2)));
        let ok = seed.succeeded_job(rt, at);
        assert_eq!(ok.get("exitcode"), Some(&Value::Int(0)));
        let _ = seed.queued_job(rt, at);
        assert_eq!(
            seed.counts()["schedule"],
            1,
            "only the queued job has a queue row"
        );
    }

    #[test]
    fn finished_jobs_end_after_they_begin() {
        let mut seed = Seed::new(now());
        let began = seed.at(-2 * HOUR);
        let job = seed.job_without_runtemplate(None, JobState::Finished { began, exitcode: 3 });
        assert_eq!(job.get("runtemplate_id"), Some(&Value::Null));
        assert_eq!(job.get("exitcode"), Some(&Value::Int(3)));
        assert_eq!(job.get("end"), Some(&Value::DateTime(shift(began, 90))));
        assert_eq!(job.get("schedule_type"), Some(&Value::from("adhoc")));
    }

    #[test]
    fn default_policies_are_the_seven_of_the_migration() {
        let mut seed = Seed::new(now());
        let ids = seed.default_retention_policies(None);
        assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7]);
        let tables: Vec<_> = DEFAULT_RETENTION_POLICIES
            .iter()
            .map(|p| p.table_name)
            .collect();
        assert_eq!(
            tables,
            [
                "user",
                "user_sessions",
                "security_audit_log",
                "job",
                "log",
                "company",
                "login_attempts"
            ]
        );
    }
}
