//! What the earlier duties of a run will have changed by the time a duty runs, as `plan`
//! foresees it: the rows their plans delete (gone), the columns their plans update (with the
//! new values) and the rows the run itself appends (its `log` row after each duty). `plan`
//! builds it from the plans it already made, in run order, and each duty's gather consults it,
//! so a plan shows what `run` — which plans each duty after the earlier ones applied — will do.
//! A real run plans against the changed database itself and hands every duty [`NO_EFFECTS`].
//!
//! The interactions between the duties, in run order (what a later duty reads that an earlier
//! one changes):
//!
//! | earlier duty | changes | later duty that reads it |
//! |---|---|---|
//! | OrphanedJobCleanup | deletes jobs | ScheduleIntegrity (unfinished jobs), DataRetentionCleanup (a `job` policy), DiskTempFileCleanup (files unfinished jobs refer to), RuntemplateCounterRecalc (job counts) |
//! | DataRetentionCleanup | deletes and updates rows of its tables | DiskTempFileCleanup (`job` deleted, `job.env` anonymized), LogPruning (`log` rows deleted), RuntemplateCounterRecalc (jobs deleted) |
//! | the run itself | a `log` row after each duty | LogPruning (`LOG_KEEP` counts them: they have the highest ids) |
//!
//! StaleTaskFinalization (`task.state`), ScheduleIntegrity (`runtemplate.next_schedule`),
//! the files DiskTempFileCleanup quarantines and the record rows of DataRetentionCleanup are
//! read by no later duty; rows deleted with their parent (a job's queue rows, output lines,
//! artifacts, stored files) neither. Pure data: never reads the database.

use std::collections::{BTreeMap, BTreeSet};

use housekeeper_journal::{KeySet, Value};

use crate::plan::{DutyPlan, Op, PlanStatus, RowKey};

/// The effects of the earlier duties' plans. Empty for a real run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pending {
    /// Table → the keys of its rows that will be gone.
    deleted: BTreeMap<String, Gone>,
    /// `(table, key)` → column → the value it will hold.
    updated: BTreeMap<(String, RowKey), BTreeMap<String, Value>>,
    /// Table → rows the run itself will have added, each with a key above every existing one.
    appended: BTreeMap<String, u64>,
}

/// The keys of one table's rows that will be gone: integer ranges (a prune of a million rows
/// stays a few ranges) and single keys.
#[derive(Debug, Clone, Default, PartialEq)]
struct Gone {
    /// Lowest key of a range → its highest, inclusive.
    ranges: BTreeMap<i64, i64>,
    keys: BTreeSet<RowKey>,
}

impl Gone {
    fn contains(&self, key: &RowKey) -> bool {
        if self.keys.contains(key) {
            return true;
        }
        key.as_i64().is_some_and(|k| {
            self.ranges
                .range(..=k)
                .next_back()
                .is_some_and(|(_, hi)| k <= *hi)
        })
    }

    fn add(&mut self, keys: &KeySet) {
        match keys {
            KeySet::Ranges(ranges) => {
                for (lo, hi) in ranges {
                    let hi = self.ranges.get(lo).map_or(*hi, |old| (*old).max(*hi));
                    self.ranges.insert(*lo, hi);
                }
            }
            KeySet::Values(values) => self.keys.extend(values.iter().map(RowKey::of)),
        }
    }
}

/// The effects a real run hands every duty: none (it plans against the changed database).
pub static NO_EFFECTS: Pending = Pending::new();

impl Pending {
    /// No effects.
    #[must_use]
    pub const fn new() -> Self {
        Pending {
            deleted: BTreeMap::new(),
            updated: BTreeMap::new(),
            appended: BTreeMap::new(),
        }
    }

    /// Adds what a duty's plan will do: its enabled deletes and updates (a plan that is
    /// skipped or failed does nothing).
    pub fn record(&mut self, plan: &DutyPlan) {
        if plan.status != PlanStatus::Planned {
            return;
        }
        for item in plan.items.iter().filter(|i| i.enabled) {
            match &item.op {
                Op::Delete(d) => self
                    .deleted
                    .entry(d.table.clone())
                    .or_default()
                    .add(&d.keys),
                Op::Update(u) => {
                    let row = self
                        .updated
                        .entry((u.table.clone(), RowKey::of(&u.key)))
                        .or_default();
                    for change in &u.changes {
                        row.insert(change.column.clone(), change.new.clone());
                    }
                }
                // Record rows, files: no later duty reads them (see the module's table).
                Op::Insert(_) | Op::Reinsert(_) | Op::Quarantine(_) | Op::Restore(_) => {}
            }
        }
    }

    /// Adds `rows` rows the run itself writes into `table` (its `log` rows).
    pub fn append(&mut self, table: &str, rows: u64) {
        *self.appended.entry(table.to_owned()).or_insert(0) += rows;
    }

    /// Whether the row of `table` with `key` will be gone.
    #[must_use]
    pub fn gone(&self, table: &str, key: &Value) -> bool {
        self.deleted
            .get(table)
            .is_some_and(|gone| gone.contains(&RowKey::of(key)))
    }

    /// The value `column` of the row of `table` with `key` will hold: the planned new value,
    /// else `current`.
    #[must_use]
    pub fn value<'v>(
        &'v self,
        table: &str,
        key: &Value,
        column: &str,
        current: &'v Value,
    ) -> &'v Value {
        if self.updated.is_empty() {
            return current;
        }
        self.updated
            .get(&(table.to_owned(), RowKey::of(key)))
            .and_then(|row| row.get(column))
            .unwrap_or(current)
    }

    /// How many rows the run itself will have added to `table`.
    #[must_use]
    pub fn appended(&self, table: &str) -> u64 {
        self.appended.get(table).copied().unwrap_or(0)
    }

    /// Whether any row of `table` will be gone.
    #[must_use]
    pub fn deletes_from(&self, table: &str) -> bool {
        self.deleted.contains_key(table)
    }

    /// Whether anything of `table` changes: rows gone or updated, or rows added.
    #[must_use]
    pub fn touches(&self, table: &str) -> bool {
        self.deletes_from(table)
            || self.appended(table) > 0
            || self.updated.keys().any(|(t, _)| t == table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duties::DutyName;
    use crate::plan::{Change, DeleteRows, Guard, Item, Reason, UpdateRow};
    use housekeeper_journal::DateTimeValue;

    fn plan(items: Vec<Item>) -> DutyPlan {
        let mut plan = DutyPlan::new(
            DutyName::DataRetentionCleanup,
            DateTimeValue::ymd_hms(2026, 11, 28, 9, 0, 0),
        );
        plan.items = items;
        plan
    }

    fn delete(table: &str, keys: KeySet) -> Item {
        Item::new(
            Op::Delete(DeleteRows {
                table: table.into(),
                key_column: "id".into(),
                keys,
                dependents: crate::plan::Dependents::default(),
                guard: Guard::Duty,
            }),
            Reason::new("x", "x"),
        )
    }

    #[test]
    fn deleted_keys_are_gone_by_value_and_by_range() {
        let mut pending = Pending::new();
        pending.record(&plan(vec![
            delete("log", KeySet::Ranges(vec![(1, 3), (10, 12)])),
            delete("job", KeySet::Values(vec![Value::Int(7), Value::from("x")])),
            delete("user", KeySet::Values(vec![Value::Int(1)])).disabled(),
        ]));
        for (table, key, gone) in [
            ("log", Value::Int(1), true),
            ("log", Value::Int(3), true),
            ("log", Value::from("11"), true),
            ("log", Value::Int(4), false),
            ("log", Value::Int(13), false),
            ("log", Value::Int(0), false),
            ("job", Value::UInt(7), true),
            ("job", Value::from("x"), true),
            ("job", Value::Int(1), false),
            ("schedule", Value::Int(7), false),
            ("user", Value::Int(1), false),
        ] {
            assert_eq!(pending.gone(table, &key), gone, "{table} {key:?}");
        }
        assert!(pending.deletes_from("job") && !pending.deletes_from("user"));
    }

    #[test]
    fn updated_columns_hold_their_new_values_and_failed_plans_do_nothing() {
        let mut pending = Pending::new();
        let update = Item::new(
            Op::Update(UpdateRow {
                table: "job".into(),
                key_column: "id".into(),
                key: Value::Int(5),
                changes: vec![Change {
                    column: "env".into(),
                    old: Value::from("a"),
                    new: Value::from("[ANONYMIZED]"),
                }],
                guard: Guard::Duty,
            }),
            Reason::new("x", "x"),
        );
        let mut failed = plan(vec![delete("job", KeySet::Values(vec![Value::Int(5)]))]);
        failed.status = PlanStatus::Failed { error: "x".into() };
        pending.record(&failed);
        pending.record(&plan(vec![update]));
        assert!(!pending.gone("job", &Value::Int(5)));
        let old = Value::from("a");
        assert_eq!(
            pending.value("job", &Value::from("5"), "env", &old),
            &Value::from("[ANONYMIZED]")
        );
        assert_eq!(pending.value("job", &Value::Int(6), "env", &old), &old);
        assert_eq!(pending.value("job", &Value::Int(5), "command", &old), &old);
        assert!(pending.touches("job") && !pending.touches("log"));
        pending.append("log", 2);
        pending.append("log", 1);
        assert_eq!(pending.appended("log"), 3);
        assert!(pending.touches("log"));
        assert!(!NO_EFFECTS.touches("log"));
    }
}
