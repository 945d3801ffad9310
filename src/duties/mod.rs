//! The eight duties, in their fixed order. Each duty lives in its own file and is a `gather`
//! (reads through a read-only view) plus a pure `decide` (facts and `now` in, plan out).
//! Duties never write: the executor applies their plans.

mod name;
pub use name::{DutyName, UnknownDuty};
pub use pending::{Pending, NO_EFFECTS};

pub mod common;
pub mod credential_health_check;
pub mod data_retention_cleanup;
pub mod disk_temp_file_cleanup;
pub mod job_env;
pub mod log_pruning;
pub mod orphaned_job_cleanup;
pub mod pending;
pub mod runtemplate_counter_recalc;
pub mod schedule_integrity;
pub mod stale_task_finalization;

use std::time::SystemTime;

use housekeeper_journal::{DateTimeValue, Value};

use crate::config::{Config, Engine};
use crate::db::{DbResult, Query, ReadView, SchemaFacts};
use crate::plan::{DutyPlan, Item, Op};

/// What every duty may know about the run it plans for.
pub struct DutyContext<'a> {
    /// The run's `now`: database server time (naive local), or the clock in
    /// `MULTIFLEXI_TIMEZONE` on SQLite, or `HOUSEKEEPER_NOW`.
    pub now: DateTimeValue,
    /// The host's absolute clock, for file ages (`HOUSEKEEPER_NOW` fixes it too).
    pub host_now: SystemTime,
    pub config: &'a Config,
    pub schema: &'a SchemaFacts,
    pub engine: Engine,
    /// What earlier runs did, as far as duties need it (holds, retention marks).
    pub history: &'a History,
    /// What the earlier duties of this run will have changed: `plan` foresees it from their
    /// plans; a real run, which plans each duty after the earlier ones applied, has none.
    pub pending: &'a Pending,
}

/// Facts from the journal that duties need: items an undo restored recently (on hold for
/// `HOLD_DAYS`: later runs leave them alone) and when this tool marked rows for deletion
/// (the retention grace period counts from there).
#[derive(Debug, Clone, Default)]
pub struct History {
    /// `(table, key)` of rows restored by an undo within the hold period → the undo's run id.
    pub held_rows: std::collections::BTreeMap<(String, crate::plan::RowKey), String>,
    /// Paths of files restored by an undo within the hold period → the undo's run id.
    pub held_paths: std::collections::BTreeMap<housekeeper_journal::PathBytes, String>,
    /// `(table, key)` → the `now` of the latest run that set `marked_for_deletion` on it.
    pub marks: std::collections::BTreeMap<(String, crate::plan::RowKey), DateTimeValue>,
}

/// A row as the executor sees it inside a chunk's transaction.
#[derive(Debug, Clone, Copy)]
pub struct RowRef<'a> {
    pub columns: &'a [String],
    pub values: &'a [Value],
}

impl<'a> RowRef<'a> {
    /// The value of a column, `Value::Null` when the column is absent.
    #[must_use]
    pub fn get(&self, column: &str) -> &'a Value {
        static NULL: Value = Value::Null;
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.values.get(i))
            .unwrap_or(&NULL)
    }
}

/// One duty: a check of the schema, a plan (gather through a read-only view, then a pure
/// decide), and a re-check of its condition inside the executor's transaction.
pub trait Duty {
    fn name(&self) -> DutyName;

    /// `Err(reason)` when the schema lacks what the duty needs (it is then `skipped`), e.g.
    /// "needs table task, from multiflexi-database 2.5.5".
    ///
    /// # Errors
    /// The reason to skip.
    fn check_schema(&self, schema: &SchemaFacts) -> Result<(), String>;

    /// Gathers facts through the view and decides. Problems become the plan's `errors` (or a
    /// failed plan); this never writes anything anywhere.
    fn plan(&self, view: &mut dyn ReadView, ctx: &DutyContext<'_>) -> DutyPlan;

    /// The rows this duty writes as its own record after its changes (the plan's `record`
    /// inserts), given how many rows each plan item actually changed. By default the record
    /// inserts as planned.
    fn records(
        &self,
        plan: &DutyPlan,
        _applied: &std::collections::BTreeMap<u32, u64>,
    ) -> Vec<(u32, crate::plan::InsertRow)> {
        plan.items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match &item.op {
                crate::plan::Op::Insert(row) if item.enabled => {
                    Some((u32::try_from(i).unwrap_or(u32::MAX), row.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Re-evaluates the item's selection condition on the current, locked row, inside the
    /// chunk's transaction. `Ok(Some(code))` when the item no longer qualifies (drifted).
    ///
    /// # Errors
    /// A query the check needed failed.
    fn recheck(
        &self,
        _tx: &mut dyn Query,
        _ctx: &DutyContext<'_>,
        _item: &Item,
        _row: RowRef<'_>,
    ) -> DbResult<Option<String>> {
        Ok(None)
    }

    /// [`Duty::recheck`] of many locked rows at once (the executor hands it the rows of one
    /// table that one locking statement of a chunk locked, up to `KEYS_PER_STATEMENT`), one
    /// answer per row in order; the executor asks only this. By default one `recheck` per
    /// row; a duty whose check queries other tables implements this instead of `recheck`,
    /// answering with a few set queries.
    ///
    /// # Errors
    /// A query the check needed failed.
    fn recheck_rows(
        &self,
        tx: &mut dyn Query,
        ctx: &DutyContext<'_>,
        rows: &[(&Item, RowRef<'_>)],
    ) -> DbResult<Vec<Option<String>>> {
        rows.iter()
            .map(|(item, row)| self.recheck(tx, ctx, item, *row))
            .collect()
    }
}

/// What a duty may ever change, declared next to the duty: the tables it deletes from, the
/// columns it updates, the tables of its own record rows and whether it moves files. `apply`
/// refuses a saved plan with an item outside its duty's scope.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// Tables it deletes rows from.
    pub deletes: &'static [&'static str],
    /// Tables it updates, each with the columns it writes.
    pub updates: &'static [(&'static str, &'static [&'static str])],
    /// Tables of the rows it writes as its own record (never taken from a saved plan).
    pub records: &'static [&'static str],
    /// Whether it moves files of the temp directory to the quarantine.
    pub files: bool,
}

impl Scope {
    /// Nothing at all (a duty that only reports).
    pub const NONE: Scope = Scope {
        deletes: &[],
        updates: &[],
        records: &[],
        files: false,
    };

    /// `Err(what the item does)` when the item lies outside the scope.
    ///
    /// # Errors
    /// The item does something the duty never does.
    pub fn check(&self, item: &Item) -> Result<(), String> {
        match &item.op {
            Op::Delete(d) if self.deletes.contains(&d.table.as_str()) => Ok(()),
            Op::Delete(d) => Err(format!("deletes from table {}", d.table)),
            Op::Update(u) => {
                let Some((_, columns)) = self.updates.iter().find(|(t, _)| *t == u.table) else {
                    return Err(format!("updates table {}", u.table));
                };
                match u
                    .changes
                    .iter()
                    .find(|c| !columns.contains(&c.column.as_str()))
                {
                    Some(c) => Err(format!("updates column {}.{}", u.table, c.column)),
                    None => Ok(()),
                }
            }
            Op::Insert(i) if self.records.contains(&i.table.as_str()) => Ok(()),
            Op::Insert(i) => Err(format!("inserts into table {}", i.table)),
            Op::Reinsert(r) => Err(format!("re-inserts rows of table {}", r.table)),
            Op::Quarantine(_) if self.files => Ok(()),
            Op::Quarantine(f) => Err(format!(
                "moves file {} to the quarantine",
                crate::text::PathText(&f.path)
            )),
            Op::Restore(r) => Err(format!("restores file {}", crate::text::PathText(&r.path))),
        }
    }
}

/// The declared scope of a duty.
#[must_use]
pub fn scope(name: DutyName) -> &'static Scope {
    match name {
        DutyName::StaleTaskFinalization => &stale_task_finalization::SCOPE,
        DutyName::OrphanedJobCleanup => &orphaned_job_cleanup::SCOPE,
        DutyName::ScheduleIntegrity => &schedule_integrity::SCOPE,
        DutyName::DataRetentionCleanup => &data_retention_cleanup::SCOPE,
        DutyName::DiskTempFileCleanup => &disk_temp_file_cleanup::SCOPE,
        DutyName::LogPruning => &log_pruning::SCOPE,
        DutyName::RuntemplateCounterRecalc => &runtemplate_counter_recalc::SCOPE,
        DutyName::CredentialHealthCheck => &Scope::NONE,
    }
}

/// Asserts that every item of a plan lies within a duty's scope (unit tests of `decide`).
///
/// # Panics
/// An item lies outside.
#[cfg(test)]
pub fn assert_within_scope(scope: &Scope, plan: &DutyPlan) {
    for (i, item) in plan.items.iter().enumerate() {
        assert_eq!(
            scope.check(item),
            Ok(()),
            "item {i} of {}: {item:?}",
            plan.duty
        );
    }
}

/// The duty of that name.
#[must_use]
pub fn duty(name: DutyName) -> Box<dyn Duty> {
    match name {
        DutyName::StaleTaskFinalization => Box::new(stale_task_finalization::StaleTaskFinalization),
        DutyName::OrphanedJobCleanup => Box::new(orphaned_job_cleanup::OrphanedJobCleanup),
        DutyName::ScheduleIntegrity => Box::new(schedule_integrity::ScheduleIntegrity),
        DutyName::DataRetentionCleanup => Box::new(data_retention_cleanup::DataRetentionCleanup),
        DutyName::DiskTempFileCleanup => Box::new(disk_temp_file_cleanup::DiskTempFileCleanup),
        DutyName::LogPruning => Box::new(log_pruning::LogPruning),
        DutyName::CredentialHealthCheck => Box::new(credential_health_check::CredentialHealthCheck),
        DutyName::RuntemplateCounterRecalc => {
            Box::new(runtemplate_counter_recalc::RuntemplateCounterRecalc)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_refuse_what_a_duty_never_does() {
        use crate::plan::{Change, DeleteRows, Guard, Reason, UpdateRow};
        use housekeeper_journal::KeySet;
        let delete = |table: &str| {
            Item::new(
                Op::Delete(DeleteRows {
                    table: table.into(),
                    key_column: "id".into(),
                    keys: KeySet::Ranges(vec![(1, 1)]),
                    dependents: crate::plan::Dependents::default(),
                    guard: Guard::Exists,
                }),
                Reason::new("x", "x"),
            )
        };
        let update = |table: &str, column: &str| {
            Item::new(
                Op::Update(UpdateRow {
                    table: table.into(),
                    key_column: "id".into(),
                    key: Value::Int(1),
                    changes: vec![Change {
                        column: column.into(),
                        old: Value::Null,
                        new: Value::Null,
                    }],
                    guard: Guard::Duty,
                }),
                Reason::new("x", "x"),
            )
        };
        let log = scope(DutyName::LogPruning);
        assert!(log.check(&delete("log")).is_ok());
        assert_eq!(
            log.check(&delete("apps")),
            Err("deletes from table apps".into())
        );
        assert_eq!(
            log.check(&update("user", "password")),
            Err("updates table user".into())
        );
        let stale = scope(DutyName::StaleTaskFinalization);
        assert!(stale.check(&update("task", "state")).is_ok());
        assert_eq!(
            stale.check(&update("task", "runtemplate_id")),
            Err("updates column task.runtemplate_id".into())
        );
        for name in DutyName::ALL {
            assert!(
                scope(name).check(&update("user", "password")).is_err(),
                "{name}"
            );
        }
        assert!(scope(DutyName::CredentialHealthCheck)
            .check(&delete("log"))
            .is_err());
    }

    #[test]
    fn names_parse_case_insensitively() {
        assert_eq!("logpruning".parse::<DutyName>(), Ok(DutyName::LogPruning));
        assert_eq!(" LOGPRUNING ".parse::<DutyName>(), Ok(DutyName::LogPruning));
        let err = "LogPrune".parse::<DutyName>().unwrap_err();
        assert!(err.to_string().contains("unknown duty \"LogPrune\""));
        assert!(err.to_string().contains("CredentialHealthCheck"));
    }
}
