//! ScheduleIntegrity: an active runtemplate (`active` true, `interv <> 'n'`)
//! whose `next_schedule` is set but matched by no unfinished job of that runtemplate
//! (`exitcode IS NULL AND schedule = next_schedule`) gets `next_schedule = NULL` and
//! `DatSave = now`, so the scheduler queues it again. The reason says "stale" when
//! `next_schedule` is more than 2 hours in the past.
//!
//! Conditional: inside the transaction `next_schedule` and `DatSave` must still hold the
//! planned values, the runtemplate must still be active and still have no matching job.

use std::collections::BTreeSet;

use housekeeper_journal::{DateTimeValue, Value};

use super::common::{self, Need, When};
use super::{Duty, DutyContext, DutyName, Pending, RowRef};
use crate::db::{DbResult, Query, ReadView, SchemaFacts};
use crate::plan::{Change, DutyPlan, Finding, Guard, Item, Op, Reason, UpdateRow};

pub struct ScheduleIntegrity;

/// What it may change: `next_schedule` (and `DatSave`) of runtemplates.
pub const SCOPE: super::Scope = super::Scope {
    deletes: &[],
    updates: &[("runtemplate", &["next_schedule", "DatSave"])],
    records: &[],
    files: false,
};

/// How far in the past `next_schedule` must be to be called stale.
pub const STALE_SECONDS: i64 = 2 * 3600;

const NEEDS: &[Need] = &[
    Need {
        table: "runtemplate",
        column: Some("active"),
        since: "migration 20250210124736",
    },
    Need {
        table: "runtemplate",
        column: Some("interv"),
        since: "the first runtemplate table",
    },
    Need {
        table: "runtemplate",
        column: Some("next_schedule"),
        since: "migration 20251103081828",
    },
    Need {
        table: "runtemplate",
        column: Some("DatSave"),
        since: "the first runtemplate table",
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

/// A runtemplate with `next_schedule` set.
#[derive(Debug, Clone, PartialEq)]
pub struct Runtemplate {
    pub id: Value,
    pub active: Value,
    pub interv: Value,
    pub next_schedule: Value,
    pub dat_save: Value,
}

/// A job with a `schedule`, as far as matching `next_schedule` goes.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledJob {
    pub id: Value,
    pub runtemplate_id: Value,
    pub schedule: Value,
    /// NULL while the job is queued or running; only such jobs keep `next_schedule`.
    pub exitcode: Value,
}

/// `(runtemplate id, schedule)` of the unfinished jobs among `jobs`.
#[must_use]
pub fn queued(jobs: &[ScheduledJob]) -> BTreeSet<(i64, DateTimeValue)> {
    jobs.iter()
        .filter(|j| j.exitcode.is_null() && !j.runtemplate_id.is_null())
        .filter_map(|j| match common::when(&j.schedule) {
            When::At(at) => Some((common::int(&j.runtemplate_id), at)),
            _ => None,
        })
        .collect()
}

fn scheduled(active: &Value, interv: &Value) -> bool {
    active.as_bool() == Some(true) && interv.as_str().is_some_and(|i| i != "n")
}

impl Duty for ScheduleIntegrity {
    fn name(&self) -> DutyName {
        DutyName::ScheduleIntegrity
    }

    fn check_schema(&self, schema: &SchemaFacts) -> Result<(), String> {
        common::require(schema, NEEDS)?;
        common::require_temporal(schema, "job", "schedule", "migration 20241121163433")
    }

    fn plan(&self, view: &mut dyn ReadView, ctx: &DutyContext<'_>) -> DutyPlan {
        match gather(view, ctx.pending) {
            Ok((runtemplates, jobs)) => decide(&runtemplates, &jobs, ctx.now),
            Err(e) => DutyPlan::failed(self.name(), ctx.now, format!("reading runtemplates: {e}")),
        }
    }

    /// The queued jobs of every locked runtemplate with one query, not one per row.
    fn recheck_rows(
        &self,
        tx: &mut dyn Query,
        _ctx: &DutyContext<'_>,
        rows: &[(&Item, RowRef<'_>)],
    ) -> DbResult<Vec<Option<String>>> {
        let ids = common::ids(rows);
        let queue = queued(&unfinished_jobs(tx, Some(&ids))?);
        Ok(rows
            .iter()
            .map(|(_, row)| still_stale(*row, &queue))
            .collect())
    }
}

/// Why the locked runtemplate `row` no longer needs its schedule fixed, with `queue` the
/// (runtemplate, time) of the jobs queued now.
fn still_stale(row: RowRef<'_>, queue: &BTreeSet<(i64, DateTimeValue)>) -> Option<String> {
    if !scheduled(row.get("active"), row.get("interv")) {
        return Some("no_longer_matches".into());
    }
    let When::At(next) = common::when(row.get("next_schedule")) else {
        return Some("no_longer_matches".into());
    };
    if queue.contains(&(common::int(row.get("id")), next)) {
        return Some("job_queued".into());
    }
    None
}

/// Unfinished jobs with a schedule (of one runtemplate, or of all). Finished jobs never keep
/// `next_schedule`, so they are not read; `decide` still checks `exitcode` itself.
fn unfinished_jobs(q: &mut dyn Query, runtemplates: Option<&[i64]>) -> DbResult<Vec<ScheduledJob>> {
    let d = *q.dialect();
    let (rt, schedule, exit) = (
        d.quote("runtemplate_id"),
        d.quote("schedule"),
        d.quote("exitcode"),
    );
    let sql = format!(
        "SELECT {}, {rt}, {schedule}, {exit} FROM {} WHERE {exit} IS NULL AND {schedule} IS NOT NULL AND {rt} IS NOT NULL",
        d.quote("id"),
        d.quote("job"),
    );
    let statements = match runtemplates {
        None => vec![(sql, Vec::new())],
        Some(ids) => {
            let keys: Vec<Value> = ids.iter().copied().map(Value::Int).collect();
            d.in_key_lists("runtemplate_id", &keys)
                .into_iter()
                .map(|(condition, params)| (format!("{sql} AND {condition}"), params))
                .collect()
        }
    };
    let mut out = Vec::new();
    for (sql, params) in statements {
        q.query_each(&sql, &params, &mut |r| {
            let mut r = r.iter().cloned();
            let mut next = || r.next().unwrap_or(Value::Null);
            out.push(ScheduledJob {
                id: next(),
                runtemplate_id: next(),
                schedule: next(),
                exitcode: next(),
            });
            Ok(())
        })?;
    }
    Ok(out)
}

/// Runtemplates with `next_schedule` set, and the unfinished scheduled jobs that will still
/// be there (`pending`: jobs an earlier duty's plan deletes are gone).
///
/// # Errors
/// A query failed.
pub fn gather(
    view: &mut dyn ReadView,
    pending: &Pending,
) -> DbResult<(Vec<Runtemplate>, Vec<ScheduledJob>)> {
    let d = *view.dialect();
    let sql = format!(
        "SELECT {}, {}, {}, {}, {} FROM {} WHERE {} IS NOT NULL ORDER BY {}",
        d.quote("id"),
        d.quote("active"),
        d.quote("interv"),
        d.quote("next_schedule"),
        d.quote("DatSave"),
        d.quote("runtemplate"),
        d.quote("next_schedule"),
        d.quote("id")
    );
    let runtemplates = view
        .query(&sql, &[])?
        .rows
        .into_iter()
        .map(|r| {
            let mut r = r.into_iter();
            let mut next = || r.next().unwrap_or(Value::Null);
            Runtemplate {
                id: next(),
                active: next(),
                interv: next(),
                next_schedule: next(),
                dat_save: next(),
            }
        })
        .collect();
    let mut jobs = unfinished_jobs(view, None)?;
    jobs.retain(|job| !pending.gone("job", &job.id));
    Ok((runtemplates, jobs))
}

/// The plan: reset `next_schedule` of every active runtemplate whose queued job is gone.
#[must_use]
pub fn decide(runtemplates: &[Runtemplate], jobs: &[ScheduledJob], now: DateTimeValue) -> DutyPlan {
    let mut plan = DutyPlan::new(DutyName::ScheduleIntegrity, now);
    let queued = queued(jobs);
    let stale_before = crate::clock::shift(now, -STALE_SECONDS).unwrap_or(now);
    for rt in runtemplates
        .iter()
        .filter(|rt| scheduled(&rt.active, &rt.interv))
    {
        let id = common::int(&rt.id);
        let next = match common::when(&rt.next_schedule) {
            When::At(next) => next,
            When::Missing => continue,
            When::Unparseable => {
                plan.findings.push(Finding::new(
                    "warning",
                    "unparseable_date",
                    format!(
                        "runtemplate #{id}: next_schedule {} is not a date; left alone",
                        common::show(&rt.next_schedule)
                    ),
                ));
                continue;
            }
        };
        if queued.contains(&(id, next)) {
            continue;
        }
        let (code, text) = if next < stale_before {
            ("stale_next_schedule", format!("runtemplate #{id}: next_schedule {next} is stale (more than 2 hours past) and no unfinished job is queued for it"))
        } else {
            (
                "job_missing",
                format!("runtemplate #{id}: no unfinished job is queued for next_schedule {next}"),
            )
        };
        plan.items.push(
            Item::new(
                Op::Update(UpdateRow {
                    table: "runtemplate".into(),
                    key_column: "id".into(),
                    key: rt.id.clone(),
                    changes: vec![
                        Change {
                            column: "next_schedule".into(),
                            old: rt.next_schedule.clone(),
                            new: Value::Null,
                        },
                        Change {
                            column: "DatSave".into(),
                            old: rt.dat_save.clone(),
                            new: Value::DateTime(now),
                        },
                    ],
                    guard: Guard::Duty,
                }),
                Reason::new(code, text),
            )
            .category(if code == "stale_next_schedule" {
                "stale"
            } else {
                "job_missing"
            }),
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

    fn rt(id: i64, active: bool, interv: &str, next: Option<&str>) -> Runtemplate {
        Runtemplate {
            id: Value::Int(id),
            active: Value::Bool(active),
            interv: Value::from(interv),
            next_schedule: next.map_or(Value::Null, Value::from),
            dat_save: Value::Null,
        }
    }

    fn job(runtemplate: i64, schedule: &str, exitcode: Option<i64>) -> ScheduledJob {
        ScheduledJob {
            id: Value::Int(0),
            runtemplate_id: Value::Int(runtemplate),
            schedule: Value::from(schedule),
            exitcode: exitcode.map_or(Value::Null, Value::Int),
        }
    }

    fn reset_ids(plan: &DutyPlan) -> Vec<i64> {
        plan.items
            .iter()
            .map(|i| match &i.op {
                Op::Update(u) => common::int(&u.key),
                _ => panic!("not an update"),
            })
            .collect()
    }

    #[test]
    fn a_matching_unfinished_job_keeps_next_schedule() {
        let plan = decide(
            &[
                rt(1, true, "d", Some("2020-01-01 00:00:00")),
                rt(2, true, "h", Some("2020-01-01 00:00:00")),
            ],
            &[job(1, "2020-01-01 00:00:00", None)],
            now(),
        );
        crate::duties::assert_within_scope(&SCOPE, &plan);
        assert_eq!(reset_ids(&plan), [2]);
        let Op::Update(u) = &plan.items[0].op else {
            panic!()
        };
        assert_eq!(u.changes[0].new, Value::Null);
        assert_eq!(
            u.changes[1],
            Change {
                column: "DatSave".into(),
                old: Value::Null,
                new: Value::DateTime(now())
            }
        );
        assert_eq!(plan.items[0].reason.code, "stale_next_schedule");
        assert_eq!(
            plan.items[0].reason.text,
            "runtemplate #2: next_schedule 2020-01-01 00:00:00 is stale (more than 2 hours past) and no unfinished job is queued for it"
        );
    }

    #[test]
    fn a_running_job_matches_a_finished_one_does_not() {
        let next = "2026-11-28 11:30:00";
        let running = decide(
            &[rt(1, true, "d", Some(next))],
            &[job(1, next, None)],
            now(),
        );
        assert!(
            running.items.is_empty(),
            "queued or running: it keeps its slot"
        );
        let finished = decide(
            &[rt(1, true, "d", Some(next))],
            &[job(1, next, Some(0)), job(1, next, Some(3))],
            now(),
        );
        assert_eq!(reset_ids(&finished), [1]);
        assert_eq!(finished.items[0].reason.code, "job_missing");
    }

    #[test]
    fn a_job_at_another_time_or_of_another_runtemplate_does_not_match() {
        let plan = decide(
            &[
                rt(1, true, "d", Some("2026-11-28 11:00:00")),
                rt(2, true, "d", Some("2026-11-28 13:00:00")),
            ],
            &[
                job(1, "2026-11-28 13:00:00", None),
                job(3, "2026-11-28 13:00:00", None),
            ],
            now(),
        );
        crate::duties::assert_within_scope(&SCOPE, &plan);
        assert_eq!(reset_ids(&plan), [1, 2]);
        assert_eq!(
            plan.items[0].reason.code, "job_missing",
            "one hour past is not stale yet"
        );
    }

    #[test]
    fn stale_means_more_than_two_hours() {
        let plan = decide(
            &[
                rt(1, true, "d", Some("2026-11-28 10:00:01")),
                rt(2, true, "d", Some("2026-11-28 10:00:00")),
                rt(3, true, "d", Some("2026-11-28 09:59:59")),
            ],
            &[],
            now(),
        );
        crate::duties::assert_within_scope(&SCOPE, &plan);
        let codes: Vec<&str> = plan.items.iter().map(|i| &*i.reason.code).collect();
        assert_eq!(codes, ["job_missing", "job_missing", "stale_next_schedule"]);
        assert_eq!(plan.categories().get("stale"), Some(&1));
        assert_eq!(plan.categories().get("job_missing"), Some(&2));
    }

    #[test]
    fn inactive_disabled_unscheduled_and_unreadable_runtemplates_are_left_alone() {
        let mut mysql_style = rt(6, true, "d", Some("2020-01-01 00:00:00"));
        mysql_style.active = Value::Int(0);
        let plan = decide(
            &[
                rt(3, false, "d", Some("2020-01-01 00:00:00")),
                rt(4, true, "n", Some("2020-01-01 00:00:00")),
                rt(5, true, "d", None),
                mysql_style,
                rt(7, true, "d", Some("0000-00-00 00:00:00")),
            ],
            &[],
            now(),
        );
        crate::duties::assert_within_scope(&SCOPE, &plan);
        assert!(plan.items.is_empty());
        assert_eq!(plan.findings.len(), 1);
        assert_eq!(
            plan.findings[0].message,
            "runtemplate #7: next_schedule 0000-00-00 00:00:00 is not a date; left alone"
        );
    }
}
