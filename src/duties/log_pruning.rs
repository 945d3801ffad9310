//! LogPruning: keeps the `LOG_KEEP` rows with the highest `id` in `log` and
//! deletes the rest, in chunks, journaled like every other deletion.
//!
//! "Oldest" means lowest id, as in the PHP tool. The plan names the doomed ids as collapsed
//! ranges, so a million-row prune is a handful of ranges, not a million keys.

use housekeeper_journal::Value;

use super::{Duty, DutyContext, DutyName, Pending};
use crate::db::{DbResult, ReadView, SchemaFacts};
use crate::plan::{DeleteRows, DutyPlan, Guard, Item, Op, Reason};

pub struct LogPruning;

/// What it may change: it deletes rows of `log`.
pub const SCOPE: super::Scope = super::Scope {
    deletes: &["log"],
    updates: &[],
    records: &[],
    files: false,
};

/// What `gather` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub total: u64,
    /// Ids beyond the newest `keep`, as inclusive ranges of existing ids, ascending.
    pub doomed: Vec<(i64, i64)>,
    /// Rows the run itself will have written into `log` before this duty (counted in
    /// `total`; they have the highest ids, their ids are not known yet).
    pub appended: u64,
}

impl Duty for LogPruning {
    fn name(&self) -> DutyName {
        DutyName::LogPruning
    }

    fn check_schema(&self, schema: &SchemaFacts) -> Result<(), String> {
        if schema.has_column("log", "id") {
            Ok(())
        } else {
            Err("needs table log with column id".into())
        }
    }

    fn plan(&self, view: &mut dyn ReadView, ctx: &DutyContext<'_>) -> DutyPlan {
        let (keep, pending) = (ctx.config.log_keep, ctx.pending);
        let appended = pending.appended("log");
        let gathered = if pending.deletes_from("log") {
            gather_pending(view, keep, pending)
        } else {
            // The run's own rows are the newest: they take `appended` of the places kept.
            gather(view, keep.saturating_sub(appended)).map(|facts| Facts {
                total: facts.total + appended,
                appended,
                ..facts
            })
        };
        match gathered {
            Ok(facts) => decide(&facts, keep, ctx.now),
            Err(e) => DutyPlan::failed(DutyName::LogPruning, ctx.now, format!("Log pruning: {e}")),
        }
    }
}

/// Counts the rows and collects the ids beyond the newest `keep` as ranges.
///
/// # Errors
/// A query failed.
pub fn gather(view: &mut dyn ReadView, keep: u64) -> DbResult<Facts> {
    let d = *view.dialect();
    let (log, id) = (d.quote("log"), d.quote("id"));
    let total = view
        .query_scalar(&format!("SELECT COUNT(*) FROM {log}"), &[])?
        .and_then(|v| v.as_i64())
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
    if total <= keep {
        return Ok(Facts {
            total,
            doomed: Vec::new(),
            appended: 0,
        });
    }
    // The highest id that goes: the (keep+1)-th highest.
    let boundary = view
        .query_scalar(
            &format!("SELECT {id} FROM {log} ORDER BY {id} DESC LIMIT 1 OFFSET ?"),
            &[Value::Int(i64::try_from(keep).unwrap_or(i64::MAX))],
        )?
        .and_then(|v| v.as_i64());
    let Some(boundary) = boundary else {
        return Ok(Facts {
            total,
            doomed: Vec::new(),
            appended: 0,
        });
    };
    // The common case: the doomed ids have no gaps, which three index lookups prove
    // (count below the boundary = total − keep, so the span from the lowest id must match).
    let lowest = view
        .query_scalar(&format!("SELECT MIN({id}) FROM {log}"), &[])?
        .and_then(|v| v.as_i64());
    let doomed_count = total - keep;
    if let Some(lowest) = lowest {
        let span = u64::try_from(boundary - lowest + 1).unwrap_or(0);
        if span == doomed_count {
            return Ok(Facts {
                total,
                doomed: vec![(lowest, boundary)],
                appended: 0,
            });
        }
    }
    // Gaps: collapse the ids into ranges while streaming them.
    let mut doomed: Vec<(i64, i64)> = Vec::new();
    view.query_each(
        &format!("SELECT {id} FROM {log} WHERE {id} <= ? ORDER BY {id}"),
        &[Value::Int(boundary)],
        &mut |row| {
            if let Some(k) = row.first().and_then(Value::as_i64) {
                match doomed.last_mut() {
                    Some((_, hi)) if hi.checked_add(1) == Some(k) => *hi = k,
                    _ => doomed.push((k, k)),
                }
            }
            Ok(())
        },
    )?;
    Ok(Facts {
        total,
        doomed,
        appended: 0,
    })
}

/// As [`gather`], for the table as it will be when this duty runs: without the rows earlier
/// duties' plans delete, with the rows the run itself will have written (the newest; they
/// take their places among the `keep` kept). Streams every id, newest first.
///
/// # Errors
/// A query failed.
pub fn gather_pending(view: &mut dyn ReadView, keep: u64, pending: &Pending) -> DbResult<Facts> {
    let d = *view.dialect();
    let appended = pending.appended("log");
    let mut kept = appended;
    let mut total = appended;
    // Descending ranges while streaming, reversed at the end.
    let mut doomed: Vec<(i64, i64)> = Vec::new();
    view.query_each(
        &format!(
            "SELECT {id} FROM {} ORDER BY {id} DESC",
            d.quote("log"),
            id = d.quote("id")
        ),
        &[],
        &mut |row| {
            let Some(k) = row.first().and_then(Value::as_i64) else {
                return Ok(());
            };
            if pending.gone("log", &Value::Int(k)) {
                return Ok(());
            }
            total += 1;
            if kept < keep {
                kept += 1;
                return Ok(());
            }
            match doomed.last_mut() {
                Some((lo, _)) if lo.checked_sub(1) == Some(k) => *lo = k,
                _ => doomed.push((k, k)),
            }
            Ok(())
        },
    )?;
    doomed.reverse();
    Ok(Facts {
        total,
        doomed,
        appended,
    })
}

/// The plan: one delete item over the doomed ranges, or nothing.
#[must_use]
pub fn decide(facts: &Facts, keep: u64, now: housekeeper_journal::DateTimeValue) -> DutyPlan {
    let mut plan = DutyPlan::new(DutyName::LogPruning, now);
    if facts.appended > keep {
        plan.notes.push(format!(
            "the run writes {} log row(s) of its own before this duty; {} of them will go too (their ids are not known before they are written)",
            facts.appended,
            facts.appended - keep
        ));
    }
    if facts.doomed.is_empty() {
        plan.notes.push(format!(
            "log table has {} rows, not above MULTIFLEXI_HOUSEKEEPER_LOG_KEEP={keep}",
            facts.total
        ));
        return plan;
    }
    let keys = housekeeper_journal::KeySet::Ranges(facts.doomed.clone());
    let count = keys.len();
    let (first, last) = (facts.doomed[0].0, facts.doomed[facts.doomed.len() - 1].1);
    plan.items.push(
        Item::new(
            Op::Delete(DeleteRows {
                table: "log".into(),
                key_column: "id".into(),
                keys,
                dependents: crate::plan::Dependents::default(),
                guard: Guard::Exists,
            }),
            Reason::new(
                "beyond_log_keep",
                format!(
                    "{count} oldest of {} log rows (ids {first}–{last}) beyond the newest {keep} kept",
                    facts.total
                ),
            ),
        )
        .category("log_rows"),
    );
    plan
}

/// The doomed ids of a table whose ids are `ids` (any order): all but the `keep` highest.
/// The reference definition `gather` implements in SQL.
#[must_use]
pub fn doomed_ids(ids: &[i64], keep: u64) -> Vec<i64> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let keep = usize::try_from(keep).unwrap_or(usize::MAX);
    let cut = sorted.len().saturating_sub(keep);
    sorted.truncate(cut);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;
    use housekeeper_journal::DateTimeValue;

    fn now() -> DateTimeValue {
        DateTimeValue::ymd_hms(2026, 11, 28, 12, 0, 0)
    }

    #[test]
    fn keeps_the_highest_ids() {
        let ids = [5, 1, 2, 9, 7, 3];
        assert_eq!(doomed_ids(&ids, 0), [1, 2, 3, 5, 7, 9]);
        assert_eq!(doomed_ids(&ids, 1), [1, 2, 3, 5, 7]);
        assert_eq!(doomed_ids(&ids, 6), Vec::<i64>::new());
        assert_eq!(doomed_ids(&ids, 7), Vec::<i64>::new());
        assert_eq!(doomed_ids(&ids, 4), [1, 2]);
    }

    #[test]
    fn log_keep_boundaries_over_a_table_with_gaps() {
        let ids = [1, 2, 3, 5, 8, 13, 21];
        for (keep, doomed) in [
            (0, vec![(1, 3), (5, 5), (8, 8), (13, 13), (21, 21)]),
            (1, vec![(1, 3), (5, 5), (8, 8), (13, 13)]),
            (7, vec![]),
            (8, vec![]),
        ] {
            let expected: Vec<i64> = doomed.iter().flat_map(|(lo, hi)| *lo..=*hi).collect();
            assert_eq!(doomed_ids(&ids, keep), expected, "LOG_KEEP={keep}");
            let plan = decide(
                &Facts {
                    total: 7,
                    doomed: doomed.clone(),
                    appended: 0,
                },
                keep,
                now(),
            );
            crate::duties::assert_within_scope(&SCOPE, &plan);
            assert_eq!(plan.affected(), expected.len() as u64, "LOG_KEEP={keep}");
            assert_eq!(plan.items.is_empty(), expected.is_empty());
        }
    }

    #[test]
    fn the_runs_own_rows_beyond_log_keep_are_noted_not_named() {
        let plan = decide(
            &Facts {
                total: 13,
                doomed: vec![(3, 10)],
                appended: 5,
            },
            3,
            now(),
        );
        assert_eq!(plan.affected(), 8, "only rows that exist are named");
        assert_eq!(
            plan.notes,
            ["the run writes 5 log row(s) of its own before this duty; 2 of them will go too (their ids are not known before they are written)"]
        );
    }

    #[test]
    fn nothing_to_prune_is_an_empty_plan() {
        let plan = decide(
            &Facts {
                total: 3,
                doomed: vec![],
                appended: 0,
            },
            3,
            now(),
        );
        crate::duties::assert_within_scope(&SCOPE, &plan);
        assert!(plan.items.is_empty());
        assert_eq!(plan.affected(), 0);
        assert_eq!(
            plan.notes,
            ["log table has 3 rows, not above MULTIFLEXI_HOUSEKEEPER_LOG_KEEP=3"]
        );
    }

    #[test]
    fn the_plan_names_every_doomed_id_as_ranges() {
        let plan = decide(
            &Facts {
                total: 10,
                doomed: vec![(1, 4), (6, 7)],
                appended: 0,
            },
            4,
            now(),
        );
        crate::duties::assert_within_scope(&SCOPE, &plan);
        assert_eq!(plan.affected(), 6);
        let Op::Delete(d) = &plan.items[0].op else {
            panic!()
        };
        assert_eq!(
            d.keys,
            housekeeper_journal::KeySet::Ranges(vec![(1, 4), (6, 7)])
        );
        assert_eq!(d.guard, Guard::Exists);
        assert_eq!(
            plan.items[0].reason.text,
            "6 oldest of 10 log rows (ids 1–7) beyond the newest 4 kept"
        );
    }
}
