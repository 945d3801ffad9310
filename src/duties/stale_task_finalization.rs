//! StaleTaskFinalization: tasks with `state` open or running whose `window_end`
//! is before `now` become `missed` when no attempt failed (`attempts = 0`), else `failed`.
//!
//! The update is conditional: inside the transaction the task must still be open/running,
//! its window still expired and its attempts still lead to the same state, so it cannot race
//! the MultiFlexi scheduler (which finalizes windows itself on every tick).

use housekeeper_journal::{DateTimeValue, Value};

use super::common::{self, Need, When};
use super::{Duty, DutyContext, DutyName, RowRef};
use crate::db::{DbResult, Query, ReadView, SchemaFacts};
use crate::plan::{Change, DutyPlan, Finding, Guard, Item, Op, Reason, UpdateRow};

pub struct StaleTaskFinalization;

/// What it may change: the `state` of tasks.
pub const SCOPE: super::Scope = super::Scope {
    deletes: &[],
    updates: &[("task", &["state"])],
    records: &[],
    files: false,
};

const NEEDS: &[Need] = &[
    Need {
        table: "task",
        column: None,
        since: "migration 20260614100000, multiflexi-database 2.5.5",
    },
    Need {
        table: "task",
        column: Some("state"),
        since: "migration 20260614100000",
    },
    Need {
        table: "task",
        column: Some("window_end"),
        since: "migration 20260614100000",
    },
    Need {
        table: "task",
        column: Some("attempts"),
        since: "migration 20260614100000",
    },
];

/// One open or running task.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: Value,
    pub runtemplate_id: Value,
    pub state: Value,
    pub window_end: Value,
    pub attempts: Value,
}

/// The state an expired task gets: `missed` with no failed attempt, else `failed`.
#[must_use]
pub fn final_state(attempts: &Value) -> &'static str {
    if common::int(attempts) == 0 {
        "missed"
    } else {
        "failed"
    }
}

fn is_open(state: &Value) -> bool {
    matches!(state.as_str(), Some("open" | "running"))
}

impl Duty for StaleTaskFinalization {
    fn name(&self) -> DutyName {
        DutyName::StaleTaskFinalization
    }

    fn check_schema(&self, schema: &SchemaFacts) -> Result<(), String> {
        common::require(schema, NEEDS)
    }

    fn plan(&self, view: &mut dyn ReadView, ctx: &DutyContext<'_>) -> DutyPlan {
        match gather(view) {
            Ok(tasks) => decide(&tasks, ctx.now),
            Err(e) => DutyPlan::failed(self.name(), ctx.now, format!("reading tasks: {e}")),
        }
    }

    fn recheck(
        &self,
        _tx: &mut dyn Query,
        ctx: &DutyContext<'_>,
        item: &Item,
        row: RowRef<'_>,
    ) -> DbResult<Option<String>> {
        let Op::Update(update) = &item.op else {
            return Ok(Some("not_an_update".into()));
        };
        if !is_open(row.get("state")) || !common::before(row.get("window_end"), ctx.now) {
            return Ok(Some("no_longer_matches".into()));
        }
        let planned = update
            .changes
            .iter()
            .find(|c| c.column == "state")
            .map(|c| &c.new);
        if planned != Some(&Value::from(final_state(row.get("attempts")))) {
            return Ok(Some("changed".into()));
        }
        Ok(None)
    }
}

/// Open and running tasks, by id.
///
/// # Errors
/// The query failed.
pub fn gather(view: &mut dyn ReadView) -> DbResult<Vec<Task>> {
    let d = *view.dialect();
    let sql = format!(
        "SELECT {}, {}, {}, {}, {} FROM {} WHERE {} IN (?, ?) ORDER BY {}",
        d.quote("id"),
        d.quote("runtemplate_id"),
        d.quote("state"),
        d.quote("window_end"),
        d.quote("attempts"),
        d.quote("task"),
        d.quote("state"),
        d.quote("id"),
    );
    let rows = view.query(&sql, &[Value::from("open"), Value::from("running")])?;
    Ok(rows
        .rows
        .into_iter()
        .map(|r| {
            let mut r = r.into_iter();
            let mut next = || r.next().unwrap_or(Value::Null);
            Task {
                id: next(),
                runtemplate_id: next(),
                state: next(),
                window_end: next(),
                attempts: next(),
            }
        })
        .collect())
}

/// The plan: an update per expired open/running task; a finding per unreadable window end.
#[must_use]
pub fn decide(tasks: &[Task], now: DateTimeValue) -> DutyPlan {
    let mut plan = DutyPlan::new(DutyName::StaleTaskFinalization, now);
    for task in tasks.iter().filter(|t| is_open(&t.state)) {
        match common::when(&task.window_end) {
            When::At(end) if end < now => {
                let new = final_state(&task.attempts);
                plan.items.push(
                    Item::new(
                        Op::Update(UpdateRow {
                            table: "task".into(),
                            key_column: "id".into(),
                            key: task.id.clone(),
                            changes: vec![Change {
                                column: "state".into(),
                                old: task.state.clone(),
                                new: Value::from(new),
                            }],
                            guard: Guard::Duty,
                        }),
                        Reason::new(
                            "window_expired",
                            format!(
                                "task #{} (runtemplate #{}) window ended {end} with {} failed attempt(s)",
                                common::show(&task.id),
                                common::show(&task.runtemplate_id),
                                common::int(&task.attempts)
                            ),
                        ),
                    )
                    .category(new),
                );
            }
            When::Unparseable => plan.findings.push(Finding::new(
                "warning",
                "unparseable_date",
                format!(
                    "task #{}: window_end {} is not a date; left alone",
                    common::show(&task.id),
                    common::show(&task.window_end)
                ),
            )),
            _ => {}
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTimeValue {
        DateTimeValue::ymd_hms(2026, 11, 28, 12, 0, 0)
    }

    fn task(id: i64, state: &str, end: &str, attempts: i64) -> Task {
        Task {
            id: Value::Int(id),
            runtemplate_id: Value::Int(7),
            state: Value::from(state),
            window_end: if end.is_empty() {
                Value::Null
            } else {
                Value::from(end)
            },
            attempts: Value::Int(attempts),
        }
    }

    fn new_states(plan: &DutyPlan) -> Vec<(String, String)> {
        plan.items
            .iter()
            .map(|i| match &i.op {
                Op::Update(u) => (u.key.to_string(), common::show(&u.changes[0].new)),
                _ => panic!(),
            })
            .collect()
    }

    #[test]
    fn attempts_decide_missed_or_failed() {
        let plan = decide(
            &[
                task(1, "open", "2020-01-01 00:00:00", 0),
                task(2, "running", "2020-01-01 00:00:00", 1),
            ],
            now(),
        );
        crate::duties::assert_within_scope(&SCOPE, &plan);
        assert_eq!(
            new_states(&plan),
            [("1".into(), "missed".into()), ("2".into(), "failed".into())]
        );
        assert_eq!(plan.categories().get("missed"), Some(&1));
        assert_eq!(
            plan.items[0].reason.text,
            "task #1 (runtemplate #7) window ended 2020-01-01 00:00:00 with 0 failed attempt(s)"
        );
    }

    #[test]
    fn the_cutoff_is_strictly_before_now() {
        let plan = decide(
            &[
                task(1, "open", "2026-11-28 11:59:59", 0),
                task(2, "open", "2026-11-28 12:00:00", 0),
                task(3, "open", "2026-11-28 12:00:01", 0),
            ],
            now(),
        );
        crate::duties::assert_within_scope(&SCOPE, &plan);
        assert_eq!(new_states(&plan), [("1".into(), "missed".into())]);
    }

    #[test]
    fn finished_states_and_null_or_bad_dates_are_left_alone() {
        let plan = decide(
            &[
                task(1, "fulfilled", "2020-01-01 00:00:00", 1),
                task(2, "missed", "2020-01-01 00:00:00", 0),
                task(3, "open", "", 0),
                task(4, "open", "0000-00-00 00:00:00", 0),
            ],
            now(),
        );
        crate::duties::assert_within_scope(&SCOPE, &plan);
        assert!(plan.items.is_empty());
        assert_eq!(plan.findings.len(), 1);
        assert!(plan.findings[0].message.contains("task #4"));
    }
}
