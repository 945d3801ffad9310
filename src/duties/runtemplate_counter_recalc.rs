//! RuntemplateCounterRecalc: sets `successfull_jobs_count` (sic) and
//! `failed_jobs_count` of runtemplates to the counts of their surviving jobs (`exitcode = 0`;
//! `exitcode IS NOT NULL AND exitcode <> 0`). Only drifted rows — and only the drifted
//! columns — are written; inside the transaction the counts are taken again and must still be
//! the planned ones (a job that finished meanwhile makes the item drift, not overwrite).

use std::collections::BTreeMap;

use housekeeper_journal::{DateTimeValue, Value};

use super::common::{self, Need};
use super::{Duty, DutyContext, DutyName, Pending, RowRef};
use crate::db::{DbResult, Query, ReadView, SchemaFacts};
use crate::plan::{Change, DutyPlan, Guard, Item, Op, Reason, UpdateRow};

pub struct RuntemplateCounterRecalc;

/// What it may change: the two job counters of runtemplates.
pub const SCOPE: super::Scope = super::Scope {
    deletes: &[],
    updates: &[("runtemplate", &[SUCCESS, FAILED])],
    records: &[],
    files: false,
};

const SUCCESS: &str = "successfull_jobs_count";
const FAILED: &str = "failed_jobs_count";

const NEEDS: &[Need] = &[
    Need {
        table: "runtemplate",
        column: Some(SUCCESS),
        since: "migration 20251113121631",
    },
    Need {
        table: "runtemplate",
        column: Some(FAILED),
        since: "migration 20251113121631",
    },
    Need {
        table: "job",
        column: Some("runtemplate_id"),
        since: "migration 20241019173530",
    },
    Need {
        table: "job",
        column: Some("exitcode"),
        since: "the first job table",
    },
];

/// A runtemplate's stored counters.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: Value,
    pub success: Value,
    pub failed: Value,
}

/// Counts of finished jobs per runtemplate id: (succeeded, failed).
pub type Actual = BTreeMap<i64, (i64, i64)>;

impl Duty for RuntemplateCounterRecalc {
    fn name(&self) -> DutyName {
        DutyName::RuntemplateCounterRecalc
    }

    fn check_schema(&self, schema: &SchemaFacts) -> Result<(), String> {
        common::require(schema, NEEDS)
    }

    fn plan(&self, view: &mut dyn ReadView, ctx: &DutyContext<'_>) -> DutyPlan {
        match gather(view, ctx.pending) {
            Ok((stored, actual)) => decide(&stored, &actual, ctx.now),
            Err(e) => DutyPlan::failed(self.name(), ctx.now, format!("Counter recalculation: {e}")),
        }
    }

    /// The counts of every locked runtemplate with one query, not one per row.
    fn recheck_rows(
        &self,
        tx: &mut dyn Query,
        _ctx: &DutyContext<'_>,
        rows: &[(&Item, RowRef<'_>)],
    ) -> DbResult<Vec<Option<String>>> {
        let ids = common::ids(rows);
        let counts = count_for(tx, &ids)?;
        Ok(rows
            .iter()
            .map(|(item, row)| still_planned(item, *row, &counts))
            .collect())
    }
}

/// Why the planned counters of `row` no longer hold with the `counts` taken now.
fn still_planned(item: &Item, row: RowRef<'_>, counts: &Actual) -> Option<String> {
    let Op::Update(update) = &item.op else {
        return Some("not_an_update".into());
    };
    let (success, failed) = counts
        .get(&common::int(row.get("id")))
        .copied()
        .unwrap_or((0, 0));
    for change in &update.changes {
        let actual = if change.column == SUCCESS {
            success
        } else {
            failed
        };
        if common::int(&change.new) != actual {
            return Some("changed".into());
        }
    }
    None
}

fn counts_sql(q: &dyn Query, filter: &str) -> String {
    let d = q.dialect();
    let (rt, exit) = (d.quote("runtemplate_id"), d.quote("exitcode"));
    format!(
        "SELECT {rt}, SUM(CASE WHEN {exit} = 0 THEN 1 ELSE 0 END), \
         SUM(CASE WHEN {exit} IS NOT NULL AND {exit} <> 0 THEN 1 ELSE 0 END) \
         FROM {} WHERE {rt} IS NOT NULL{filter} GROUP BY {rt}",
        d.quote("job")
    )
}

/// The counts of the runtemplates `ids` (those without finished jobs are left out).
fn count_for(q: &mut dyn Query, ids: &[i64]) -> DbResult<Actual> {
    let keys: Vec<Value> = ids.iter().copied().map(Value::Int).collect();
    let mut counts = Actual::new();
    for (condition, params) in q.dialect().in_key_lists("runtemplate_id", &keys) {
        let sql = counts_sql(&*q, &format!(" AND {condition}"));
        q.query_each(&sql, &params, &mut |r| {
            counts.insert(common::int(&r[0]), (common::int(&r[1]), common::int(&r[2])));
            Ok(())
        })?;
    }
    Ok(counts)
}

/// Stored counters of every runtemplate and the actual counts, of the jobs that will be there
/// when this duty runs (`pending`: jobs an earlier duty's plan deletes are not counted).
///
/// # Errors
/// A query failed.
pub fn gather(view: &mut dyn ReadView, pending: &Pending) -> DbResult<(Vec<Stored>, Actual)> {
    let d = *view.dialect();
    let sql = format!(
        "SELECT {}, {}, {} FROM {} ORDER BY {}",
        d.quote("id"),
        d.quote(SUCCESS),
        d.quote(FAILED),
        d.quote("runtemplate"),
        d.quote("id")
    );
    let stored = view
        .query(&sql, &[])?
        .rows
        .into_iter()
        .map(|r| {
            let mut r = r.into_iter();
            let mut next = || r.next().unwrap_or(Value::Null);
            Stored {
                id: next(),
                success: next(),
                failed: next(),
            }
        })
        .collect();
    let actual = if pending.touches("job") {
        count_pending(view, pending)?
    } else {
        let sql = counts_sql(&*view, "");
        let mut actual = Actual::new();
        view.query_each(&sql, &[], &mut |r| {
            actual.insert(common::int(&r[0]), (common::int(&r[1]), common::int(&r[2])));
            Ok(())
        })?;
        actual
    };
    Ok((stored, actual))
}

/// The counts as `counts_sql` takes them, job by job, without the jobs that will be gone and
/// with the values the others will hold.
fn count_pending(view: &mut dyn ReadView, pending: &Pending) -> DbResult<Actual> {
    let d = *view.dialect();
    let sql = format!(
        "SELECT {}, {}, {} FROM {}",
        d.quote("id"),
        d.quote("runtemplate_id"),
        d.quote("exitcode"),
        d.quote("job")
    );
    let mut actual = Actual::new();
    view.query_each(&sql, &[], &mut |r| {
        let id = &r[0];
        if pending.gone("job", id) {
            return Ok(());
        }
        let runtemplate = pending.value("job", id, "runtemplate_id", &r[1]);
        let exit = pending.value("job", id, "exitcode", &r[2]);
        if runtemplate.is_null() {
            return Ok(());
        }
        let counts = actual.entry(common::int(runtemplate)).or_insert((0, 0));
        match exit.as_i64() {
            Some(0) => counts.0 += 1,
            Some(_) => counts.1 += 1,
            None if !exit.is_null() => counts.1 += 1,
            None => {}
        }
        Ok(())
    })?;
    Ok(actual)
}

/// The plan: an update of the drifted counters of each drifted runtemplate.
#[must_use]
pub fn decide(stored: &[Stored], actual: &Actual, now: DateTimeValue) -> DutyPlan {
    let mut plan = DutyPlan::new(DutyName::RuntemplateCounterRecalc, now);
    for rt in stored {
        let (success, failed) = actual.get(&common::int(&rt.id)).copied().unwrap_or((0, 0));
        let mut changes = Vec::new();
        if rt.success.as_i64() != Some(success) {
            changes.push(Change {
                column: SUCCESS.into(),
                old: rt.success.clone(),
                new: Value::Int(success),
            });
        }
        if rt.failed.as_i64() != Some(failed) {
            changes.push(Change {
                column: FAILED.into(),
                old: rt.failed.clone(),
                new: Value::Int(failed),
            });
        }
        if changes.is_empty() {
            continue;
        }
        let text = format!(
            "runtemplate #{} counters drifted: success {} → {success}, failed {} → {failed}",
            common::show(&rt.id),
            common::show(&rt.success),
            common::show(&rt.failed)
        );
        plan.items.push(
            Item::new(
                Op::Update(UpdateRow {
                    table: "runtemplate".into(),
                    key_column: "id".into(),
                    key: rt.id.clone(),
                    changes,
                    guard: Guard::Duty,
                }),
                Reason::new("counters_drifted", text),
            )
            .category("counters_corrected"),
        );
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTimeValue {
        DateTimeValue::ymd_hms(2026, 11, 28, 12, 0, 0)
    }

    fn stored(id: i64, success: i64, failed: i64) -> Stored {
        Stored {
            id: Value::Int(id),
            success: Value::Int(success),
            failed: Value::Int(failed),
        }
    }

    #[test]
    fn only_drifted_rows_and_columns_are_written() {
        let actual: Actual = [(1, (1, 0)), (5, (0, 1)), (6, (2, 2))].into();
        let plan = decide(
            &[
                stored(1, 5, 0),
                stored(5, 0, 0),
                stored(6, 2, 2),
                stored(7, 0, 0),
            ],
            &actual,
            now(),
        );
        crate::duties::assert_within_scope(&SCOPE, &plan);
        assert_eq!(plan.items.len(), 2);
        let Op::Update(u) = &plan.items[0].op else {
            panic!()
        };
        assert_eq!(u.key, Value::Int(1));
        assert_eq!(u.changes.len(), 1);
        assert_eq!(u.changes[0].column, SUCCESS);
        assert_eq!(
            (u.changes[0].old.clone(), u.changes[0].new.clone()),
            (Value::Int(5), Value::Int(1))
        );
        assert_eq!(
            plan.items[0].reason.text,
            "runtemplate #1 counters drifted: success 5 → 1, failed 0 → 0"
        );
        let Op::Update(u) = &plan.items[1].op else {
            panic!()
        };
        assert_eq!(u.changes[0].column, FAILED);
        assert_eq!(plan.affected(), 2);
    }

    #[test]
    fn runtemplates_without_jobs_count_zero() {
        let plan = decide(&[stored(3, 4, 2)], &Actual::new(), now());
        crate::duties::assert_within_scope(&SCOPE, &plan);
        let Op::Update(u) = &plan.items[0].op else {
            panic!()
        };
        assert_eq!(u.changes.len(), 2);
        assert!(u.changes.iter().all(|c| c.new == Value::Int(0)));
    }

    #[test]
    fn right_counters_mean_no_plan() {
        let actual: Actual = [(1, (3, 1))].into();
        assert!(decide(&[stored(1, 3, 1)], &actual, now()).items.is_empty());
    }
}
