//! DataRetentionCleanup: enforces the enabled rows of `data_retention_policies`.
//!
//! Known tables and their date columns are a fixed whitelist; any other `table_name` is an
//! error for that policy alone. A row is expired when its `retention_until` is set and
//! `<= now`, or — where the table has no `retention_until` or it is NULL — when its date
//! column is older than `now − retention_period_days`. Actions by `deletion_action`:
//! `hard_delete` (refused on `user` and `company`, which other tables reference), `soft_delete`
//! (sets `marked_for_deletion`), the grace purge (hard-deletes rows this tool marked at least
//! `grace_period_days` ago, as the journal records), `anonymize` (fixed values, `-<id>` on
//! unique columns, `anonymized_at`), `archive` (a JSON copy into `data_archive`, then mark).
//! Only the actions in `MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS` are applied; the plan shows
//! all of them, the others marked off. Each policy that changes something gets a
//! `retention_cleanup_jobs` row.

use std::collections::BTreeMap;

use housekeeper_journal::{DateTimeValue, KeySet, Value};

use super::common::{self, Need, When};
use super::orphaned_job_cleanup::job_dependents;
use super::{Duty, DutyContext, DutyName, RowRef};
use crate::config::RetentionAction;
use crate::db::{DbResult, Query, ReadView, SchemaFacts};
use crate::plan::{
    self, Change, DeleteRows, DutyPlan, Finding, Guard, InsertRow, Item, Op, Reason, UpdateRow,
};

pub struct DataRetentionCleanup;

/// The most that any policy may ever change: deletes from the known tables other tables do
/// not reference, marks, anonymizes (the personal columns and `anonymized_at`), and its record
/// rows. At apply time the scope is narrower: only the tables an enabled policy names, with
/// what its action writes ([`policy_scope`]).
pub const SCOPE: super::Scope = super::Scope {
    deletes: &[
        "user_sessions",
        "security_audit_log",
        "job",
        "log",
        "login_attempts",
    ],
    updates: &[
        (
            "user",
            &[
                "login",
                "email",
                "firstname",
                "lastname",
                "last_login_ip",
                "anonymized_at",
                "marked_for_deletion",
            ],
        ),
        (
            "user_sessions",
            &[
                "ip_address",
                "user_agent",
                "anonymized_at",
                "marked_for_deletion",
            ],
        ),
        (
            "security_audit_log",
            &[
                "ip_address",
                "user_agent",
                "additional_data",
                "anonymized_at",
                "marked_for_deletion",
            ],
        ),
        (
            "job",
            &["env", "command", "anonymized_at", "marked_for_deletion"],
        ),
        ("log", &["message", "anonymized_at", "marked_for_deletion"]),
        (
            "company",
            &[
                "name",
                "email",
                "ic",
                "anonymized_at",
                "marked_for_deletion",
            ],
        ),
        (
            "login_attempts",
            &[
                "ip_address",
                "username",
                "user_agent",
                "anonymized_at",
                "marked_for_deletion",
            ],
        ),
    ],
    records: &["retention_cleanup_jobs", "data_archive"],
    files: false,
};

/// Tables a policy may name, with the date column that ages their rows.
pub const KNOWN_TABLES: &[(&str, &str)] = &[
    ("user", "last_activity_at"),
    ("user_sessions", "last_activity"),
    ("security_audit_log", "created_at"),
    ("job", "begin"),
    ("log", "created"),
    ("company", "DatUpdate"),
    ("login_attempts", "attempt_time"),
];

/// Tables other tables reference: never hard-deleted (use `anonymize`).
pub const REFERENCED: &[&str] = &["user", "company"];

/// The personal columns `anonymize` overwrites, per table, with their fixed values. `true`
/// marks a unique column, which gets `-<id>` appended so it stays unique.
/// Column, fixed value, unique.
pub type PersonalColumns = &'static [(&'static str, &'static str, bool)];

pub const PERSONAL: &[(&str, PersonalColumns)] = &[
    (
        "user",
        &[
            ("login", "deleted_user", true),
            ("email", "anonymized@deleted.user", true),
            ("firstname", "[ANONYMIZED]", false),
            ("lastname", "[ANONYMIZED]", false),
            ("last_login_ip", "0.0.0.0", false),
        ],
    ),
    (
        "user_sessions",
        &[
            ("ip_address", "0.0.0.0", false),
            ("user_agent", "[ANONYMIZED]", false),
        ],
    ),
    (
        "security_audit_log",
        &[
            ("ip_address", "0.0.0.0", false),
            ("user_agent", "[ANONYMIZED]", false),
            ("additional_data", "{\"anonymized\":true}", false),
        ],
    ),
    (
        "job",
        &[
            ("env", "[ANONYMIZED]", false),
            ("command", "[ANONYMIZED]", false),
        ],
    ),
    ("log", &[("message", "[LOG MESSAGE ANONYMIZED]", false)]),
    (
        "company",
        &[
            ("name", "[ANONYMIZED]", true),
            ("email", "anonymized@deleted.user", false),
            ("ic", "[ANONYMIZED]", false),
        ],
    ),
    (
        "login_attempts",
        &[
            ("ip_address", "0.0.0.0", false),
            ("username", "deleted_user", false),
            ("user_agent", "[ANONYMIZED]", false),
        ],
    ),
];

const NEEDS: &[Need] = &[
    Need {
        table: "data_retention_policies",
        column: None,
        since: "migration 20250120185000",
    },
    Need {
        table: "data_retention_policies",
        column: Some("deletion_action"),
        since: "migration 20250120185000",
    },
    Need {
        table: "data_retention_policies",
        column: Some("retention_period_days"),
        since: "migration 20250120185000",
    },
];

/// One row of `data_retention_policies`.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: i64,
    pub name: String,
    pub table: String,
    /// `None` when NULL or not a whole number.
    pub period_days: Option<i64>,
    /// `None` when NULL or not a whole number.
    pub grace_days: Option<i64>,
    pub action: String,
    pub enabled: bool,
}

/// A row a policy looks at: its key, the dates that decide expiry and, for `anonymize` and
/// `archive`, the columns those need.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub key: Value,
    pub date: Value,
    pub retention_until: Value,
    pub marked: Option<bool>,
    pub anonymized_at: Value,
    /// Column → value, for anonymize (the personal columns) and archive (every column).
    pub columns: BTreeMap<String, Value>,
}

/// Everything gathered for one policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyFacts {
    pub policy: Policy,
    pub date_column: String,
    pub key_column: String,
    pub has_retention_until: bool,
    pub has_marked: bool,
    pub has_anonymized_at: bool,
    pub key_is_integer: bool,
    pub candidates: Vec<Candidate>,
    /// Keys of rows currently marked that this tool marked, with when.
    pub marked_by_us: Vec<(Value, DateTimeValue)>,
    pub archived_by: Option<i64>,
    /// A problem that makes this policy fail (the others go on).
    pub error: Option<String>,
}

fn date_column_of(table: &str) -> Option<&'static str> {
    KNOWN_TABLES
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, c)| *c)
}

fn personal_of(table: &str) -> PersonalColumns {
    PERSONAL
        .iter()
        .find(|(t, _)| *t == table)
        .map_or(&[], |(_, cols)| cols)
}

fn text(v: &Value) -> String {
    plan::key_text(v)
}

impl Duty for DataRetentionCleanup {
    fn name(&self) -> DutyName {
        DutyName::DataRetentionCleanup
    }

    fn check_schema(&self, schema: &SchemaFacts) -> Result<(), String> {
        common::require(schema, NEEDS)
    }

    fn plan(&self, view: &mut dyn ReadView, ctx: &DutyContext<'_>) -> DutyPlan {
        let policies = match read_policies(view) {
            Ok(p) => p,
            Err(e) => {
                return DutyPlan::failed(
                    self.name(),
                    ctx.now,
                    format!("reading data_retention_policies: {e}"),
                )
            }
        };
        let mut facts = Vec::new();
        for policy in policies.into_iter().filter(|p| p.enabled) {
            facts.push(gather_policy(view, ctx, policy));
        }
        decide(&facts, &ctx.config.retention_actions, ctx.now)
    }

    /// The archive copies of rows whose mark applied, and per policy a `retention_cleanup_jobs`
    /// row counting what really changed (drifted rows are not counted; a policy that changed
    /// nothing gets no row).
    fn records(&self, plan: &DutyPlan, applied: &BTreeMap<u32, u64>) -> Vec<(u32, InsertRow)> {
        let done = |i: usize| {
            applied
                .get(&u32::try_from(i).unwrap_or(u32::MAX))
                .copied()
                .unwrap_or(0)
        };
        let mut out = Vec::new();
        for (i, item) in plan.items.iter().enumerate() {
            let Op::Insert(row) = &item.op else { continue };
            if !item.enabled {
                continue;
            }
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            if let Some(mark) = item
                .tags
                .get("for_item")
                .and_then(|m| m.parse::<usize>().ok())
            {
                if done(mark) > 0 {
                    out.push((index, row.clone()));
                }
                continue;
            }
            let Some(policy) = item.tags.get("policy") else {
                continue;
            };
            let grace = row.values.get(1) == Some(&Value::from("grace_period_cleanup"));
            let mut counts = BTreeMap::<&str, u64>::new();
            for (j, other) in plan.items.iter().enumerate() {
                if other.tags.get("policy") == Some(policy) {
                    if let Some(category) = other.category.as_deref() {
                        *counts.entry(category).or_insert(0) += done(j);
                    }
                }
            }
            let get = |c: &str| counts.get(c).copied().unwrap_or(0);
            let tally = if grace {
                (get("purged"), get("purged"), 0, 0)
            } else {
                let (deleted, marked, anonymized, archived) = (
                    get("deleted"),
                    get("marked"),
                    get("anonymized"),
                    get("archived"),
                );
                (
                    deleted + marked + anonymized + archived,
                    deleted,
                    anonymized,
                    archived,
                )
            };
            if tally.0 == 0 {
                continue;
            }
            let policy_id = row.values.first().and_then(Value::as_i64).unwrap_or(0);
            let job_type = if grace {
                "grace_period_cleanup"
            } else {
                "scheduled_cleanup"
            };
            if let Op::Insert(fresh) = cleanup_job(policy_id, job_type, plan.now, tally).op {
                out.push((index, fresh));
            }
        }
        out
    }

    fn recheck(
        &self,
        _tx: &mut dyn Query,
        ctx: &DutyContext<'_>,
        item: &Item,
        row: RowRef<'_>,
    ) -> DbResult<Option<String>> {
        Ok(recheck_row(item, row, ctx.now))
    }
}

/// Whether the locked row still qualifies for the item, by the item's `check` tag:
/// `None` when it does, else the drift code. Fails closed: a re-check parameter that is
/// missing or does not parse (or a cutoff later than `now`) makes the item drifted, never a
/// wider condition.
#[must_use]
pub fn recheck_row(item: &Item, row: RowRef<'_>, now: DateTimeValue) -> Option<String> {
    let tag = |name: &str| item.tags.get(name).map(String::as_str);
    let bad = || Some("bad_recheck_parameter".to_owned());
    let still = match tag("check") {
        Some("expired") => {
            let Some(cutoff) = tag("cutoff")
                .and_then(DateTimeValue::parse)
                .filter(|c| *c <= now)
            else {
                return bad();
            };
            let until = match tag("retention_until") {
                Some("yes") => row.get("retention_until"),
                Some("no") => &Value::Null,
                _ => return bad(),
            };
            let Some(date_column) =
                tag("date_column").filter(|c| KNOWN_TABLES.iter().any(|(_, known)| known == c))
            else {
                return bad();
            };
            expired(until, row.get(date_column), now, cutoff)
        }
        Some("marked") => row.get("marked_for_deletion").as_bool() == Some(true),
        _ => return bad(),
    };
    (!still).then(|| "no_longer_matches".into())
}

/// Whether a row is expired: `retention_until <= now` when set, else `date < cutoff`.
#[must_use]
pub fn expired(
    retention_until: &Value,
    date: &Value,
    now: DateTimeValue,
    cutoff: DateTimeValue,
) -> bool {
    match common::when(retention_until) {
        When::At(until) => until <= now,
        When::Unparseable => false,
        When::Missing => common::before(date, cutoff),
    }
}

/// The longest retention or grace period a policy may give: 100 years.
pub const MAX_DAYS: i64 = 36_500;

/// The policy's retention and grace periods in days, or why they are impossible: a
/// retention period below 1 day or above [`MAX_DAYS`], a grace period below 0 or above
/// [`MAX_DAYS`], NULL (or not a whole number) where a number is needed (the grace period is
/// needed by `soft_delete`, whose grace purge counts it). Such a policy fails alone; it never
/// turns into a wider deletion.
///
/// # Errors
/// The message names the policy, the column and the value.
pub fn periods(p: &Policy) -> Result<(i64, i64), String> {
    let bad = |column: &str, value: String, allowed: &str| {
        format!(
            "policy \"{}\" (#{}, {}): {column} = {value} is impossible ({allowed}); the policy is not applied",
            p.name, p.id, p.table
        )
    };
    let period = match p.period_days {
        Some(days) if (1..=MAX_DAYS).contains(&days) => days,
        Some(days) => {
            return Err(bad(
                "retention_period_days",
                days.to_string(),
                &format!("allowed: 1 to {MAX_DAYS} days"),
            ))
        }
        None => {
            return Err(bad(
                "retention_period_days",
                "NULL".into(),
                "a whole number of days is required",
            ))
        }
    };
    let grace = match p.grace_days {
        Some(days) if (0..=MAX_DAYS).contains(&days) => days,
        Some(days) => {
            return Err(bad(
                "grace_period_days",
                days.to_string(),
                &format!("allowed: 0 to {MAX_DAYS} days"),
            ))
        }
        None if p.action == "soft_delete" => {
            return Err(bad(
                "grace_period_days",
                "NULL".into(),
                "soft_delete needs a whole number of days",
            ))
        }
        None => 0,
    };
    Ok((period, grace))
}

/// What the enabled policies allow at this moment: the tables rows may be deleted from and,
/// per table, the columns that may be written. Narrower than [`SCOPE`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyScope {
    pub deletes: std::collections::BTreeSet<String>,
    pub updates: BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl PolicyScope {
    /// `Err(what the item does)` when no enabled policy allows a delete or update like it.
    ///
    /// # Errors
    /// The item is outside every enabled policy.
    pub fn check(&self, item: &Item) -> Result<(), String> {
        match &item.op {
            Op::Delete(d) if !self.deletes.contains(&d.table) => Err(format!(
                "deletes from table {}, which no enabled retention policy allows",
                d.table
            )),
            Op::Update(u) => {
                let allowed = self.updates.get(&u.table);
                match u
                    .changes
                    .iter()
                    .find(|c| !allowed.is_some_and(|cols| cols.contains(&c.column)))
                {
                    Some(c) => Err(format!(
                        "updates column {}.{}, which no enabled retention policy writes",
                        u.table, c.column
                    )),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

/// The scope of the enabled policies, by what each action writes.
#[must_use]
pub fn policy_scope(policies: &[Policy]) -> PolicyScope {
    let mut scope = PolicyScope::default();
    for p in policies.iter().filter(|p| p.enabled) {
        let mut write = |columns: &[&str]| {
            scope
                .updates
                .entry(p.table.clone())
                .or_default()
                .extend(columns.iter().map(|c| (*c).to_owned()));
        };
        match p.action.as_str() {
            "soft_delete" | "archive" => write(&["marked_for_deletion"]),
            "anonymize" => {
                let personal: Vec<&str> =
                    personal_of(&p.table).iter().map(|(c, _, _)| *c).collect();
                write(&personal);
                write(&["anonymized_at"]);
            }
            _ => {}
        }
        if matches!(p.action.as_str(), "hard_delete" | "soft_delete")
            && !REFERENCED.contains(&p.table.as_str())
        {
            scope.deletes.insert(p.table.clone());
        }
    }
    scope
}

/// The scope of the policies enabled now.
///
/// # Errors
/// The policies could not be read.
pub fn read_policy_scope(view: &mut dyn ReadView) -> DbResult<PolicyScope> {
    Ok(policy_scope(&read_policies(view)?))
}

fn read_policies(view: &mut dyn ReadView) -> DbResult<Vec<Policy>> {
    let d = *view.dialect();
    let cols = [
        "id",
        "policy_name",
        "table_name",
        "retention_period_days",
        "grace_period_days",
        "deletion_action",
        "enabled",
    ]
    .map(|c| d.quote(c))
    .join(", ");
    let sql = format!(
        "SELECT {cols} FROM {} ORDER BY {}",
        d.quote("data_retention_policies"),
        d.quote("id")
    );
    Ok(view
        .query(&sql, &[])?
        .rows
        .iter()
        .map(|r| Policy {
            id: common::int(&r[0]),
            name: text(&r[1]),
            table: text(&r[2]),
            period_days: r[3].as_i64(),
            grace_days: r[4].as_i64(),
            action: text(&r[5]),
            enabled: r[6].as_bool() == Some(true),
        })
        .collect())
}

/// Gathers one policy's facts; problems become `error` (the policy fails alone).
pub fn gather_policy(
    view: &mut dyn ReadView,
    ctx: &DutyContext<'_>,
    policy: Policy,
) -> PolicyFacts {
    let mut facts = PolicyFacts {
        date_column: String::new(),
        key_column: "id".into(),
        has_retention_until: false,
        has_marked: false,
        has_anonymized_at: false,
        key_is_integer: true,
        candidates: Vec::new(),
        marked_by_us: Vec::new(),
        archived_by: None,
        error: None,
        policy,
    };
    let p = facts.policy.clone();
    let fail = |facts: &mut PolicyFacts, why: String| {
        facts.error = Some(format!("policy \"{}\" ({}): {why}", p.name, p.table));
    };
    let period = match periods(&p) {
        Ok((period, _)) => period,
        Err(why) => {
            facts.error = Some(why);
            return facts;
        }
    };
    let Some(date_column) = date_column_of(&p.table) else {
        let known: Vec<&str> = KNOWN_TABLES.iter().map(|(t, _)| *t).collect();
        fail(
            &mut facts,
            format!(
                "table \"{}\" is not one this tool knows (known: {})",
                p.table,
                known.join(", ")
            ),
        );
        return facts;
    };
    facts.date_column = date_column.into();
    // What the policy asks for, before what the database has.
    match p.action.as_str() {
        "hard_delete" if REFERENCED.contains(&p.table.as_str()) => {
            fail(
                &mut facts,
                format!(
                    "hard_delete is refused on {}, which other tables reference; use anonymize",
                    p.table
                ),
            );
            return facts;
        }
        "hard_delete" | "soft_delete" | "anonymize" | "archive" => {}
        other => {
            fail(&mut facts, format!("unknown deletion_action \"{other}\""));
            return facts;
        }
    }
    let Some(table) = ctx.schema.table(&p.table) else {
        fail(&mut facts, format!("table {} does not exist", p.table));
        return facts;
    };
    if !table.has_column(date_column) {
        fail(
            &mut facts,
            format!("table {} has no column {date_column}", p.table),
        );
        return facts;
    }
    let [key] = table.primary_key.as_slice() else {
        fail(
            &mut facts,
            format!("table {} has no single-column primary key", p.table),
        );
        return facts;
    };
    facts.key_column = key.clone();
    facts.key_is_integer = table
        .column(key)
        .is_some_and(|c| c.kind == crate::db::ColumnKind::Integer);
    facts.has_retention_until = table.has_column("retention_until");
    facts.has_marked = table.has_column("marked_for_deletion");
    facts.has_anonymized_at = table.has_column("anonymized_at");
    match p.action.as_str() {
        "soft_delete" | "archive" if !facts.has_marked => {
            fail(
                &mut facts,
                format!("{} needs column {}.marked_for_deletion", p.action, p.table),
            );
            return facts;
        }
        "archive" if !facts.key_is_integer => {
            let why = format!(
                "archive needs an integer key, {}.{} is not",
                p.table, facts.key_column
            );
            fail(&mut facts, why);
            return facts;
        }
        _ => {}
    }
    if p.action == "archive" {
        if ctx.schema.table("data_archive").is_none() {
            fail(&mut facts, "archive needs table data_archive".into());
            return facts;
        }
        match archivist(view) {
            Ok(Some(id)) => facts.archived_by = Some(id),
            Ok(None) => {
                fail(&mut facts, "archive needs a user to record as archived_by: no user matches the Unix user and no user is enabled".into());
                return facts;
            }
            Err(e) => {
                fail(&mut facts, format!("finding the archiving user: {e}"));
                return facts;
            }
        }
    }
    if let Err(e) = gather_rows(view, ctx, period, &mut facts) {
        fail(&mut facts, e.to_string());
    }
    facts
}

/// `archived_by`: the user whose login is the Unix user, else the lowest enabled user id.
fn archivist(view: &mut dyn ReadView) -> DbResult<Option<i64>> {
    let d = *view.dialect();
    let by_login = format!(
        "SELECT {} FROM {} WHERE {} = ?",
        d.quote("id"),
        d.quote("user"),
        d.quote("login")
    );
    if let Some(id) = view.query_scalar(&by_login, &[Value::from(crate::state::user_name())])? {
        return Ok(id.as_i64());
    }
    let lowest = format!(
        "SELECT MIN({}) FROM {} WHERE {} = ?",
        d.quote("id"),
        d.quote("user"),
        d.quote("enabled")
    );
    Ok(view
        .query_scalar(&lowest, &[Value::Bool(true)])?
        .and_then(|v| v.as_i64()))
}

fn gather_rows(
    view: &mut dyn ReadView,
    ctx: &DutyContext<'_>,
    period: i64,
    facts: &mut PolicyFacts,
) -> DbResult<()> {
    let d = *view.dialect();
    let p = &facts.policy;
    let table = d.quote(&p.table);
    let key = d.quote(&facts.key_column);
    let date = d.quote(&facts.date_column);
    let cutoff = cutoff(ctx.now, period);
    // A superset bound (one day later) keeps text comparisons on SQLite from missing rows;
    // the exact decision is made in `decide`.
    let bound = crate::clock::shift(cutoff, 86_400).unwrap_or(cutoff);
    let mut cols = vec![key.clone(), date.clone()];
    cols.push(if facts.has_retention_until {
        d.quote("retention_until")
    } else {
        "NULL".into()
    });
    cols.push(if facts.has_marked {
        d.quote("marked_for_deletion")
    } else {
        "NULL".into()
    });
    cols.push(if facts.has_anonymized_at {
        d.quote("anonymized_at")
    } else {
        "NULL".into()
    });
    let extra: Vec<String> = match p.action.as_str() {
        "anonymize" => personal_of(&p.table)
            .iter()
            .filter(|(c, _, _)| ctx.schema.has_column(&p.table, c))
            .map(|(c, _, _)| (*c).to_owned())
            .collect(),
        "archive" => ctx
            .schema
            .table(&p.table)
            .map(|t| t.columns.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    cols.extend(extra.iter().map(|c| d.quote(c)));
    let mut condition = format!("{date} < ?");
    let mut params = vec![Value::DateTime(bound)];
    if facts.has_retention_until {
        condition = format!("{} IS NOT NULL OR {condition}", d.quote("retention_until"));
    }
    let sql = format!(
        "SELECT {} FROM {table} WHERE {condition} ORDER BY {key}",
        cols.join(", ")
    );
    let mut candidates = Vec::new();
    view.query_each(&sql, &params, &mut |r| {
        let columns = extra.iter().cloned().zip(r[5..].iter().cloned()).collect();
        candidates.push(Candidate {
            key: r[0].clone(),
            date: r[1].clone(),
            retention_until: r[2].clone(),
            marked: if r[3].is_null() { None } else { r[3].as_bool() },
            anonymized_at: r[4].clone(),
            columns,
        });
        Ok(())
    })?;
    facts.candidates = candidates;
    // Rows this tool marked, still marked now (grace purge).
    if p.action == "soft_delete" && facts.has_marked {
        let sql = format!(
            "SELECT {key} FROM {table} WHERE {} = ? ORDER BY {key}",
            d.quote("marked_for_deletion")
        );
        params = vec![Value::Bool(true)];
        let marks = &ctx.history.marks;
        let mut ours = Vec::new();
        view.query_each(&sql, &params, &mut |r| {
            if let Some(when) = marks.get(&(p.table.clone(), plan::RowKey::of(&r[0]))) {
                ours.push((r[0].clone(), *when));
            }
            Ok(())
        })?;
        facts.marked_by_us = ours;
    }
    Ok(())
}

fn cutoff(now: DateTimeValue, days: i64) -> DateTimeValue {
    crate::clock::shift(now, -days.saturating_mul(86_400)).unwrap_or(DateTimeValue::date(1, 1, 1))
}

fn row_json(columns: &BTreeMap<String, Value>) -> String {
    let map: serde_json::Map<String, serde_json::Value> = columns
        .iter()
        .map(|(k, v)| {
            let json = match v {
                Value::Null => serde_json::Value::Null,
                Value::Bool(b) => serde_json::Value::Bool(*b),
                Value::Int(i) => serde_json::Value::from(*i),
                Value::UInt(u) => serde_json::Value::from(*u),
                Value::Float(f) => serde_json::Value::from(*f),
                Value::Json(s) => {
                    serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.clone()))
                }
                Value::Bytes(b) => {
                    serde_json::Value::String(b.iter().map(|x| format!("{x:02x}")).collect())
                }
                other => serde_json::Value::String(text(other)),
            };
            (k.clone(), json)
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// The plan for every enabled policy.
#[must_use]
pub fn decide(
    policies: &[PolicyFacts],
    actions: &std::collections::BTreeSet<RetentionAction>,
    now: DateTimeValue,
) -> DutyPlan {
    let mut plan = DutyPlan::new(DutyName::DataRetentionCleanup, now);
    for facts in policies {
        if let Some(error) = &facts.error {
            plan.errors.push(error.clone());
            continue;
        }
        match periods(&facts.policy) {
            Ok(days) => decide_policy(facts, days, actions, now, &mut plan),
            Err(error) => plan.errors.push(error),
        }
    }
    plan
}

fn action_of(name: &str) -> Option<RetentionAction> {
    match name {
        "hard_delete" => Some(RetentionAction::HardDelete),
        "soft_delete" => Some(RetentionAction::SoftDelete),
        "anonymize" => Some(RetentionAction::Anonymize),
        "archive" => Some(RetentionAction::Archive),
        _ => None,
    }
}

fn decide_policy(
    facts: &PolicyFacts,
    (period_days, grace_days): (i64, i64),
    actions: &std::collections::BTreeSet<RetentionAction>,
    now: DateTimeValue,
    plan: &mut DutyPlan,
) {
    let p = &facts.policy;
    let Some(action) = action_of(&p.action) else {
        return;
    };
    let on = actions.contains(&action);
    let cutoff = cutoff(now, period_days);
    let check = |item: Item, check: &str| {
        item.tag("check", check)
            .tag("policy", p.name.clone())
            .tag("date_column", facts.date_column.clone())
            .tag("cutoff", cutoff.to_string())
            .tag(
                "retention_until",
                if facts.has_retention_until {
                    "yes"
                } else {
                    "no"
                },
            )
    };
    let toggle = |item: Item, on: bool| if on { item } else { item.disabled() };
    let mut unparseable = 0;
    let mut expired_rows = Vec::new();
    for c in &facts.candidates {
        if common::when(&c.retention_until) == When::Unparseable
            || c.retention_until.is_null() && common::when(&c.date) == When::Unparseable
        {
            unparseable += 1;
            continue;
        }
        if expired(&c.retention_until, &c.date, now, cutoff) {
            expired_rows.push(c);
        }
    }
    if unparseable > 0 {
        plan.findings.push(Finding::new(
            "warning",
            "unparseable_date",
            format!("policy \"{}\": {unparseable} row(s) of {} have a date that does not parse; left alone", p.name, p.table),
        ));
    }
    let why = |c: &Candidate| match common::when(&c.retention_until) {
        When::At(until) => format!("retention_until {until} has passed"),
        _ => format!(
            "{} {} is older than {} days",
            facts.date_column,
            common::show(&c.date),
            period_days
        ),
    };
    let mut counts = (0u64, 0u64, 0u64, 0u64); // processed, deleted, anonymized, archived
    match action {
        RetentionAction::HardDelete => {
            if !expired_rows.is_empty() {
                let keys = plan::keyset(expired_rows.iter().map(|c| c.key.clone()).collect());
                let n = keys.len();
                let dependents = if p.table == "job" {
                    job_dependents()
                } else {
                    Vec::new()
                };
                let text = format!(
                    "policy \"{}\": {n} row(s) of {} past retention ({} days, or retention_until)",
                    p.name, p.table, period_days
                );
                let item = Item::new(
                    Op::Delete(DeleteRows {
                        table: p.table.clone(),
                        key_column: facts.key_column.clone(),
                        keys,
                        dependents,
                        guard: Guard::Duty,
                    }),
                    Reason::new("retention_hard_delete", text),
                )
                .category("deleted");
                plan.items.push(toggle(check(item, "expired"), on));
                counts.0 += n;
                counts.1 += n;
            }
        }
        RetentionAction::SoftDelete => {
            for c in expired_rows.iter().filter(|c| c.marked != Some(true)) {
                let item = Item::new(
                    mark(facts, c),
                    Reason::new(
                        "retention_soft_delete",
                        format!(
                            "policy \"{}\": {} {}: {}",
                            p.name,
                            p.table,
                            text(&c.key),
                            why(c)
                        ),
                    ),
                )
                .category("marked");
                plan.items.push(toggle(check(item, "expired"), on));
                counts.0 += 1;
            }
        }
        RetentionAction::Anonymize => {
            for c in expired_rows.iter().filter(|c| c.anonymized_at.is_null()) {
                let mut changes: Vec<Change> = personal_of(&p.table)
                    .iter()
                    .filter_map(|(col, fixed, unique)| {
                        let old = c.columns.get(*col)?.clone();
                        let new = if *unique {
                            format!("{fixed}-{}", text(&c.key))
                        } else {
                            (*fixed).to_owned()
                        };
                        (!old.is_null() && old != Value::from(new.as_str())).then(|| Change {
                            column: (*col).into(),
                            old,
                            new: Value::from(new),
                        })
                    })
                    .collect();
                if changes.is_empty() && !facts.has_anonymized_at {
                    continue;
                }
                if facts.has_anonymized_at {
                    changes.push(Change {
                        column: "anonymized_at".into(),
                        old: c.anonymized_at.clone(),
                        new: Value::DateTime(now),
                    });
                }
                let item = Item::new(
                    Op::Update(UpdateRow {
                        table: p.table.clone(),
                        key_column: facts.key_column.clone(),
                        key: c.key.clone(),
                        changes,
                        guard: Guard::Duty,
                    }),
                    Reason::new(
                        "retention_anonymize",
                        format!(
                            "policy \"{}\": {} {}: {}",
                            p.name,
                            p.table,
                            text(&c.key),
                            why(c)
                        ),
                    ),
                )
                .category("anonymized");
                plan.items.push(toggle(check(item, "expired"), on));
                counts.0 += 1;
                counts.2 += 1;
            }
        }
        RetentionAction::Archive => {
            for c in expired_rows.iter().filter(|c| c.marked != Some(true)) {
                let Some(archived_by) = facts.archived_by else {
                    continue;
                };
                let record = InsertRow {
                    table: "data_archive".into(),
                    key_column: "id".into(),
                    columns: [
                        "archive_type",
                        "source_table",
                        "source_record_id",
                        "archived_data",
                        "archived_reason",
                        "archived_by",
                    ]
                    .map(String::from)
                    .to_vec(),
                    values: vec![
                        Value::from("legal_hold"),
                        Value::from(p.table.as_str()),
                        c.key.clone(),
                        Value::from(row_json(&c.columns)),
                        Value::from("Legal retention archive"),
                        Value::Int(archived_by),
                    ],
                };
                let reason = format!(
                    "policy \"{}\": {} {}: {}",
                    p.name,
                    p.table,
                    text(&c.key),
                    why(c)
                );
                // The copy is written only if the mark right after it applies.
                let mark_item = plan.items.len() + 1;
                plan.items.push(toggle(
                    Item::new(
                        Op::Insert(record),
                        Reason::new("retention_archive_copy", reason.clone()),
                    )
                    .tag("for_item", mark_item.to_string()),
                    on,
                ));
                let item = Item::new(mark(facts, c), Reason::new("retention_archive", reason))
                    .category("archived");
                plan.items.push(toggle(check(item, "expired"), on));
                counts.0 += 1;
                counts.3 += 1;
            }
        }
        RetentionAction::GracePurge => {}
    }
    if on && counts.0 > 0 {
        plan.items.push(
            cleanup_job(p.id, "scheduled_cleanup", now, counts).tag("policy", p.name.clone()),
        );
    }
    // Grace purge: rows this tool marked long enough ago.
    if action == RetentionAction::SoftDelete {
        let purge_on = actions.contains(&RetentionAction::GracePurge);
        let grace_cutoff = cutoff_days(now, grace_days);
        let due: Vec<Value> = facts
            .marked_by_us
            .iter()
            .filter(|(_, when)| *when <= grace_cutoff)
            .map(|(k, _)| k.clone())
            .collect();
        if !due.is_empty() {
            if REFERENCED.contains(&p.table.as_str()) {
                plan.notes.push(format!(
                    "policy \"{}\": {} marked row(s) of {} are past the grace period but are never hard-deleted (other tables reference {})",
                    p.name, due.len(), p.table, p.table
                ));
            } else {
                let keys = plan::keyset(due);
                let n = keys.len();
                let dependents = if p.table == "job" {
                    job_dependents()
                } else {
                    Vec::new()
                };
                let item = Item::new(
                    Op::Delete(DeleteRows { table: p.table.clone(), key_column: facts.key_column.clone(), keys, dependents, guard: Guard::Duty }),
                    Reason::new(
                        "retention_grace_purge",
                        format!("policy \"{}\": {n} row(s) of {} marked by housekeeper at least {grace_days} days ago", p.name, p.table),
                    ),
                )
                .category("purged")
                .tag("check", "marked")
                .tag("policy", p.name.clone());
                plan.items.push(toggle(item, purge_on));
                if purge_on {
                    plan.items.push(
                        cleanup_job(p.id, "grace_period_cleanup", now, (n, n, 0, 0))
                            .tag("policy", p.name.clone()),
                    );
                }
            }
        }
    }
}

fn cutoff_days(now: DateTimeValue, days: i64) -> DateTimeValue {
    cutoff(now, days)
}

fn mark(facts: &PolicyFacts, c: &Candidate) -> Op {
    Op::Update(UpdateRow {
        table: facts.policy.table.clone(),
        key_column: facts.key_column.clone(),
        key: c.key.clone(),
        changes: vec![Change {
            column: "marked_for_deletion".into(),
            old: c.marked.map_or(Value::Null, Value::Bool),
            new: Value::Bool(true),
        }],
        guard: Guard::Duty,
    })
}

fn cleanup_job(
    policy: i64,
    job_type: &str,
    now: DateTimeValue,
    (processed, deleted, anonymized, archived): (u64, u64, u64, u64),
) -> Item {
    let n = |x: u64| Value::Int(i64::try_from(x).unwrap_or(i64::MAX));
    let summary = format!("Processed: {processed}, Deleted: {deleted}, Anonymized: {anonymized}, Archived: {archived}");
    Item::new(
        Op::Insert(InsertRow {
            table: "retention_cleanup_jobs".into(),
            key_column: "id".into(),
            columns: [
                "policy_id",
                "job_type",
                "status",
                "started_at",
                "completed_at",
                "records_processed",
                "records_deleted",
                "records_anonymized",
                "records_archived",
                "summary",
            ]
            .map(String::from)
            .to_vec(),
            values: vec![
                Value::Int(policy),
                Value::from(job_type),
                Value::from("completed"),
                Value::DateTime(now),
                Value::DateTime(now),
                n(processed),
                n(deleted),
                n(anonymized),
                n(archived),
                Value::from(summary.as_str()),
            ],
        }),
        Reason::new(
            "retention_record",
            format!("record of policy #{policy}: {summary}"),
        ),
    )
}

/// Keys of a key set as values (for tests and messages).
#[must_use]
pub fn keys_of(keys: &KeySet) -> Vec<Value> {
    match keys {
        KeySet::Ranges(r) => r
            .iter()
            .flat_map(|(lo, hi)| (*lo..=*hi).map(Value::Int))
            .collect(),
        KeySet::Values(v) => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTimeValue {
        DateTimeValue::ymd_hms(2026, 11, 28, 12, 0, 0)
    }

    fn facts(table: &str, action: &str, candidates: Vec<Candidate>) -> PolicyFacts {
        PolicyFacts {
            policy: Policy {
                id: 1,
                name: "p".into(),
                table: table.into(),
                period_days: Some(30),
                grace_days: Some(7),
                action: action.into(),
                enabled: true,
            },
            date_column: date_column_of(table).unwrap().into(),
            key_column: "id".into(),
            has_retention_until: true,
            has_marked: true,
            has_anonymized_at: table == "user",
            key_is_integer: true,
            candidates,
            marked_by_us: Vec::new(),
            archived_by: Some(1),
            error: None,
        }
    }

    fn row(id: i64, date: &str, until: Option<&str>) -> Candidate {
        Candidate {
            key: Value::Int(id),
            date: Value::from(date),
            retention_until: until.map_or(Value::Null, Value::from),
            marked: Some(false),
            anonymized_at: Value::Null,
            columns: BTreeMap::new(),
        }
    }

    fn all() -> std::collections::BTreeSet<RetentionAction> {
        RetentionAction::ALL.into()
    }

    #[test]
    fn expiry_by_retention_until_or_date_column() {
        let cutoff = cutoff(now(), 30); // 2026-10-29 12:00:00
        assert!(
            expired(
                &Value::from("2026-11-28 12:00:00"),
                &Value::Null,
                now(),
                cutoff
            ),
            "until == now expires"
        );
        assert!(
            !expired(
                &Value::from("2026-11-28 12:00:01"),
                &Value::from("2000-01-01"),
                now(),
                cutoff
            ),
            "a future until wins over an old date"
        );
        assert!(expired(
            &Value::Null,
            &Value::from("2026-10-29 11:59:59"),
            now(),
            cutoff
        ));
        assert!(
            !expired(
                &Value::Null,
                &Value::from("2026-10-29 12:00:00"),
                now(),
                cutoff
            ),
            "exactly at the cutoff is not older"
        );
        assert!(!expired(&Value::Null, &Value::Null, now(), cutoff));
    }

    #[test]
    fn hard_delete_is_one_item_over_all_expired_keys() {
        let f = facts(
            "log",
            "hard_delete",
            vec![
                row(1, "2020-01-01", None),
                row(2, "2026-11-27", None),
                row(3, "2026-11-27", Some("2020-01-01")),
            ],
        );
        let plan = decide(&[f], &all(), now());
        let Op::Delete(d) = &plan.items[0].op else {
            panic!()
        };
        assert_eq!(keys_of(&d.keys), [Value::Int(1), Value::Int(3)]);
        assert_eq!(plan.affected(), 2, "the record row is not counted");
        let Op::Insert(record) = &plan.items[1].op else {
            panic!()
        };
        assert_eq!(record.values[1], Value::from("scheduled_cleanup"));
    }

    #[test]
    fn actions_that_are_off_are_shown_but_disabled() {
        let f = facts("log", "hard_delete", vec![row(1, "2020-01-01", None)]);
        let plan = decide(&[f], &[RetentionAction::SoftDelete].into(), now());
        assert_eq!(
            plan.items.len(),
            1,
            "no record row for a policy that changes nothing"
        );
        assert!(!plan.items[0].enabled);
        assert_eq!(plan.affected(), 0);
    }

    #[test]
    fn soft_delete_marks_unmarked_rows_and_grace_purge_takes_ours() {
        let mut marked = row(2, "2020-01-01", None);
        marked.marked = Some(true);
        let mut f = facts(
            "job",
            "soft_delete",
            vec![row(1, "2020-01-01", None), marked],
        );
        f.marked_by_us = vec![
            (
                Value::Int(2),
                DateTimeValue::ymd_hms(2026, 11, 21, 12, 0, 0),
            ),
            (
                Value::Int(9),
                DateTimeValue::ymd_hms(2026, 11, 21, 12, 0, 1),
            ),
        ];
        let plan = decide(&[f], &all(), now());
        let cats: Vec<Option<String>> = plan.items.iter().map(|i| i.category.clone()).collect();
        assert_eq!(
            cats,
            [Some("marked".into()), None, Some("purged".into()), None]
        );
        let Op::Delete(purge) = &plan.items[2].op else {
            panic!()
        };
        assert_eq!(
            keys_of(&purge.keys),
            [Value::Int(2)],
            "marked exactly 7 days ago is due; a second later is not"
        );
        assert_eq!(
            purge.dependents.len(),
            4,
            "job rows go with their dependents"
        );
    }

    #[test]
    fn anonymize_keeps_unique_columns_unique() {
        let mut r = row(5, "2020-01-01", None);
        r.columns = [
            ("login".to_owned(), Value::from("jdoe")),
            ("email".to_owned(), Value::from("j@x")),
            ("firstname".to_owned(), Value::Null),
        ]
        .into();
        let plan = decide(&[facts("user", "anonymize", vec![r])], &all(), now());
        let Op::Update(u) = &plan.items[0].op else {
            panic!()
        };
        let changes: Vec<(String, Value)> = u
            .changes
            .iter()
            .map(|c| (c.column.clone(), c.new.clone()))
            .collect();
        assert_eq!(
            changes,
            [
                ("login".into(), Value::from("deleted_user-5")),
                ("email".into(), Value::from("anonymized@deleted.user-5")),
                ("anonymized_at".into(), Value::DateTime(now())),
            ]
        );
    }

    #[test]
    fn archive_copies_then_marks() {
        let mut r = row(4, "2020-01-01", None);
        r.columns = [
            ("id".to_owned(), Value::Int(4)),
            ("event_type".to_owned(), Value::from("login")),
        ]
        .into();
        let plan = decide(
            &[facts("security_audit_log", "archive", vec![r])],
            &all(),
            now(),
        );
        let Op::Insert(copy) = &plan.items[0].op else {
            panic!()
        };
        assert_eq!(copy.table, "data_archive");
        assert_eq!(
            copy.values[3],
            Value::from(r#"{"event_type":"login","id":4}"#)
        );
        let Op::Update(m) = &plan.items[1].op else {
            panic!()
        };
        assert_eq!(m.changes[0].column, "marked_for_deletion");
        assert_eq!(plan.categories().get("archived"), Some(&1));
    }

    #[test]
    fn policy_errors_stay_with_their_policy() {
        let mut bad = facts("log", "hard_delete", vec![]);
        bad.error = Some("policy \"x\" (nope): table \"nope\" is not one this tool knows".into());
        let good = facts("log", "hard_delete", vec![row(1, "2020-01-01", None)]);
        let plan = decide(&[bad, good], &all(), now());
        assert_eq!(plan.errors.len(), 1);
        assert_eq!(plan.affected(), 1);
    }

    /// Every item a plan holds lies within the duty's declared scope and within what the
    /// enabled policies allow.
    fn assert_within_scope(plan: &DutyPlan, policies: &[Policy]) {
        let now_scope = policy_scope(policies);
        for (i, item) in plan.items.iter().enumerate() {
            assert_eq!(SCOPE.check(item), Ok(()), "item {i}: {item:?}");
            assert_eq!(now_scope.check(item), Ok(()), "item {i}: {item:?}");
        }
    }

    #[test]
    fn every_item_lies_within_the_scope() {
        let mut marked = row(2, "2020-01-01", None);
        marked.marked = Some(true);
        let mut anon = row(5, "2020-01-01", None);
        anon.columns = [
            ("login".to_owned(), Value::from("jdoe")),
            ("email".to_owned(), Value::from("j@x")),
        ]
        .into();
        let mut soft = facts(
            "job",
            "soft_delete",
            vec![row(1, "2020-01-01", None), marked],
        );
        soft.marked_by_us = vec![(Value::Int(2), DateTimeValue::ymd_hms(2020, 1, 1, 0, 0, 0))];
        let all_facts = [
            facts("log", "hard_delete", vec![row(1, "2020-01-01", None)]),
            soft,
            facts("user", "anonymize", vec![anon]),
            facts(
                "security_audit_log",
                "archive",
                vec![row(4, "2020-01-01", None)],
            ),
        ];
        let plan = decide(&all_facts, &all(), now());
        assert!(plan.items.len() >= 8, "{plan:#?}");
        let policies: Vec<Policy> = all_facts.iter().map(|f| f.policy.clone()).collect();
        assert_within_scope(&plan, &policies);
    }

    #[test]
    fn the_policies_enabled_now_narrow_the_scope() {
        let mut p = facts("log", "anonymize", vec![]).policy;
        let scope = policy_scope(std::slice::from_ref(&p));
        let delete = Item::new(
            Op::Delete(DeleteRows {
                table: "log".into(),
                key_column: "id".into(),
                keys: KeySet::Ranges(vec![(1, 5)]),
                dependents: Vec::new(),
                guard: Guard::Duty,
            }),
            Reason::new("x", "x"),
        );
        assert!(SCOPE.check(&delete).is_ok());
        assert!(scope
            .check(&delete)
            .unwrap_err()
            .contains("no enabled retention policy"));
        p.action = "hard_delete".into();
        assert!(policy_scope(std::slice::from_ref(&p))
            .check(&delete)
            .is_ok());
        p.enabled = false;
        assert!(policy_scope(std::slice::from_ref(&p))
            .check(&delete)
            .is_err());
        let mark_user = Item::new(
            Op::Update(UpdateRow {
                table: "user".into(),
                key_column: "id".into(),
                key: Value::Int(1),
                changes: vec![Change {
                    column: "password".into(),
                    old: Value::Null,
                    new: Value::from("x"),
                }],
                guard: Guard::Duty,
            }),
            Reason::new("x", "x"),
        );
        assert_eq!(
            SCOPE.check(&mark_user),
            Err("updates column user.password".into())
        );
    }

    #[test]
    fn impossible_periods_fail_their_policy_and_delete_nothing() {
        let old = || vec![row(1, "2020-01-01", None), row(2, "2026-11-27", None)];
        let cases: [(Option<i64>, Option<i64>, &str, &str); 7] = [
            (
                Some(-30),
                Some(7),
                "hard_delete",
                "retention_period_days = -30",
            ),
            (Some(0), Some(7), "hard_delete", "retention_period_days = 0"),
            (
                Some(36_501),
                Some(7),
                "hard_delete",
                "retention_period_days = 36501",
            ),
            (None, Some(7), "hard_delete", "retention_period_days = NULL"),
            (Some(30), Some(-1), "soft_delete", "grace_period_days = -1"),
            (
                Some(30),
                Some(36_501),
                "anonymize",
                "grace_period_days = 36501",
            ),
            (Some(30), None, "soft_delete", "grace_period_days = NULL"),
        ];
        for (period, grace, action, says) in cases {
            let mut bad = facts("log", action, old());
            bad.policy.id = 7;
            bad.policy.name = "typo".into();
            bad.policy.period_days = period;
            bad.policy.grace_days = grace;
            bad.marked_by_us = vec![(Value::Int(1), DateTimeValue::ymd_hms(2026, 11, 28, 0, 0, 0))];
            let good = facts("log", "hard_delete", vec![row(3, "2020-01-01", None)]);
            let plan = decide(&[bad, good], &all(), now());
            assert_eq!(plan.errors.len(), 1, "{says}: {plan:#?}");
            assert!(
                plan.errors[0].contains("policy \"typo\" (#7, log)"),
                "{}",
                plan.errors[0]
            );
            assert!(plan.errors[0].contains(says), "{}", plan.errors[0]);
            let keys: Vec<Value> = plan
                .items
                .iter()
                .filter_map(|i| match &i.op {
                    Op::Delete(d) => Some(keys_of(&d.keys)),
                    _ => None,
                })
                .flatten()
                .collect();
            assert_eq!(
                keys,
                [Value::Int(3)],
                "{says}: only the good policy deletes"
            );
            assert!(
                plan.items.iter().all(|i| !matches!(&i.op, Op::Update(_))),
                "{says}"
            );
        }
        let mut edge = facts("log", "hard_delete", vec![]).policy;
        edge.period_days = Some(MAX_DAYS);
        edge.grace_days = None;
        assert_eq!(
            periods(&edge),
            Ok((MAX_DAYS, 0)),
            "grace is not needed by hard_delete"
        );
        edge.period_days = Some(1);
        edge.grace_days = Some(0);
        assert_eq!(periods(&edge), Ok((1, 0)));
    }

    #[test]
    fn recheck_parameters_fail_closed() {
        let columns = ["id", "created", "retention_until"].map(String::from);
        let old_row = [
            Value::Int(1),
            Value::from("2020-01-01 00:00:00"),
            Value::Null,
        ];
        let row = RowRef {
            columns: &columns,
            values: &old_row,
        };
        let plan = decide(
            &[facts("log", "hard_delete", vec![row_of(1)])],
            &all(),
            now(),
        );
        let item = plan.items[0].clone();
        assert_eq!(
            recheck_row(&item, row, now()),
            None,
            "the planned item re-checks"
        );
        let fresh = [
            Value::Int(1),
            Value::from("2026-11-28 00:00:00"),
            Value::Null,
        ];
        let fresh_row = RowRef {
            columns: &columns,
            values: &fresh,
        };
        assert_eq!(
            recheck_row(&item, fresh_row, now()).as_deref(),
            Some("no_longer_matches")
        );
        for (tag, value) in [
            ("cutoff", None),
            ("cutoff", Some("not a date")),
            ("cutoff", Some("2026-11-29 00:00:00")),
            ("retention_until", Some("maybe")),
            ("date_column", Some("id")),
            ("date_column", None),
            ("check", Some("whatever")),
            ("check", None),
        ] {
            let mut bad = item.clone();
            match value {
                Some(v) => bad.tags.insert(tag.into(), v.into()),
                None => bad.tags.remove(tag),
            };
            assert_eq!(
                recheck_row(&bad, row, now()).as_deref(),
                Some("bad_recheck_parameter"),
                "{tag} = {value:?}"
            );
        }
    }

    fn row_of(id: i64) -> Candidate {
        row(id, "2020-01-01", None)
    }
}
