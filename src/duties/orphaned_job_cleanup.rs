//! OrphanedJobCleanup: deletes, each with its dependent rows (`schedule`,
//! `job_output_lines`, `artifacts`, `file_store`, explicitly and journaled, before the job):
//! - orphaned jobs: `company_id` or `runtemplate_id` is 0 or points to a missing row, and
//!   unfinished jobs (`exitcode IS NULL`) whose `runtemplate_id` is NULL — finished jobs with
//!   a NULL runtemplate are history and stay;
//! - broken queue rows: `schedule` rows whose `job` is NULL, 0 or a missing job;
//! - ghost jobs: never started and unfinished, no queue row, and `schedule` older than
//!   `STALE_JOB_AGE` minutes (a job without `schedule` is never a ghost).
//!
//! The plan is the same in dry and real runs; the report counts each category.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};

use housekeeper_journal::{DateTimeValue, Value};

use super::common::{self, Need, When};
use super::{Duty, DutyContext, DutyName, RowRef};
use crate::db::{DbResult, Query, ReadView, SchemaFacts};
use crate::plan::{
    DeleteRows, Dependent, Dependents, DutyPlan, Finding, Guard, Item, Op, Reason, RowKey,
};

pub struct OrphanedJobCleanup;

/// What it may change: it deletes jobs (their dependent rows come from the duty, never from a
/// saved plan) and queue rows.
pub const SCOPE: super::Scope = super::Scope {
    deletes: &["job", "schedule"],
    updates: &[],
    records: &[],
    files: false,
};

pub const ORPHANED: &str = "orphaned_job";
pub const BROKEN_QUEUE: &str = "broken_queue";
pub const GHOST: &str = "ghost_job";

const NEEDS: &[Need] = &[
    Need {
        table: "job",
        column: Some("runtemplate_id"),
        since: "migration 20241019173530",
    },
    Need {
        table: "job",
        column: Some("company_id"),
        since: "the first job table",
    },
    Need {
        table: "job",
        column: Some("begin"),
        since: "the first job table",
    },
    Need {
        table: "job",
        column: Some("exitcode"),
        since: "the first job table",
    },
    Need {
        table: "schedule",
        column: Some("job"),
        since: "migration 20230817101435",
    },
    Need {
        table: "company",
        column: Some("id"),
        since: "the first company table",
    },
    Need {
        table: "runtemplate",
        column: Some("id"),
        since: "the first runtemplate table",
    },
];

/// The rows deleted with a job, where those tables exist.
pub const JOB_DEPENDENTS: &[Dependent] = &[
    Dependent::of("schedule", "job"),
    Dependent::of("job_output_lines", "job_id"),
    Dependent::of("artifacts", "job_id"),
    Dependent::of("file_store", "job_id"),
];

/// The rows deleted with a job, shared by every item that deletes a job.
#[must_use]
pub fn job_dependents() -> Dependents {
    Cow::Borrowed(JOB_DEPENDENTS)
}

/// A job that may be an orphan or a ghost.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: Value,
    pub company_id: Value,
    pub runtemplate_id: Value,
    pub begin: Value,
    pub exitcode: Value,
    pub schedule: Value,
    pub company_exists: bool,
    pub runtemplate_exists: bool,
    pub queued: bool,
}

/// A queue row that may be broken.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    pub id: Value,
    pub job: Value,
    pub job_exists: bool,
}

/// Why a job is an orphan, or `None`.
#[must_use]
pub fn orphan_reason(job: &Job) -> Option<String> {
    let id = common::show(&job.id);
    let company = common::int(&job.company_id);
    if job.company_id.is_null() || company == 0 {
        return Some(format!(
            "job #{id} has no company (company_id {})",
            common::show(&job.company_id)
        ));
    }
    if !job.company_exists {
        return Some(format!("job #{id} points to missing company #{company}"));
    }
    if job.runtemplate_id.is_null() {
        return job
            .exitcode
            .is_null()
            .then(|| format!("job #{id} is unfinished and has no runtemplate"));
    }
    let rt = common::int(&job.runtemplate_id);
    if rt == 0 {
        return Some(format!("job #{id} has runtemplate_id 0"));
    }
    if !job.runtemplate_exists {
        return Some(format!("job #{id} points to missing runtemplate #{rt}"));
    }
    None
}

/// Why a job is a ghost (given the cutoff), or `None`.
#[must_use]
pub fn ghost_reason(job: &Job, cutoff: DateTimeValue, minutes: u64) -> Option<String> {
    if !job.begin.is_null() || !job.exitcode.is_null() || job.queued {
        return None;
    }
    match common::when(&job.schedule) {
        When::At(at) if at < cutoff => Some(format!(
            "job #{} (runtemplate #{}) scheduled {at}, never started and not queued for more than {minutes} min",
            common::show(&job.id),
            common::show(&job.runtemplate_id)
        )),
        _ => None,
    }
}

/// Why a queue row is broken, or `None`.
#[must_use]
pub fn broken_reason(row: &QueueRow) -> Option<String> {
    let id = common::show(&row.id);
    if row.job.is_null() {
        return Some(format!("queue row #{id} has no job"));
    }
    let job = common::int(&row.job);
    if job == 0 {
        return Some(format!("queue row #{id} points to job 0"));
    }
    (!row.job_exists).then(|| format!("queue row #{id} points to missing job #{job}"))
}

fn cutoff(ctx_now: DateTimeValue, minutes: u64) -> DateTimeValue {
    let seconds = i64::try_from(minutes.saturating_mul(60)).unwrap_or(i64::MAX);
    crate::clock::shift(ctx_now, -seconds).unwrap_or(DateTimeValue::date(1, 1, 1))
}

impl Duty for OrphanedJobCleanup {
    fn name(&self) -> DutyName {
        DutyName::OrphanedJobCleanup
    }

    fn check_schema(&self, schema: &SchemaFacts) -> Result<(), String> {
        common::require(schema, NEEDS)?;
        common::require_temporal(schema, "job", "schedule", "migration 20241121163433")
    }

    fn plan(&self, view: &mut dyn ReadView, ctx: &DutyContext<'_>) -> DutyPlan {
        match gather(view) {
            Ok((jobs, queue)) => decide(&jobs, &queue, ctx.now, ctx.config.stale_job_age_minutes),
            Err(e) => DutyPlan::failed(self.name(), ctx.now, format!("reading jobs: {e}")),
        }
    }

    /// The rows of a chunk checked together: which of their companies, runtemplates, queue
    /// references and jobs still exist is asked with one query per table (per 1,000 keys),
    /// not three queries per job.
    fn recheck_rows(
        &self,
        tx: &mut dyn Query,
        ctx: &DutyContext<'_>,
        rows: &[(&Item, RowRef<'_>)],
    ) -> DbResult<Vec<Option<String>>> {
        let facts = Present::gather(tx, rows)?;
        let minutes = ctx.config.stale_job_age_minutes;
        Ok(rows
            .iter()
            .map(|(item, row)| {
                let still = match item.category.as_deref() {
                    Some(BROKEN_QUEUE) => {
                        let job = row.get("job").clone();
                        let job_exists = facts.jobs.contains(&RowKey::of(&job));
                        broken_reason(&QueueRow {
                            id: row.get("id").clone(),
                            job,
                            job_exists,
                        })
                        .is_some()
                    }
                    Some(GHOST) => {
                        ghost_reason(&facts.job(*row), cutoff(ctx.now, minutes), minutes).is_some()
                    }
                    Some(_) => orphan_reason(&facts.job(*row)).is_some(),
                    None => false,
                };
                (!still).then(|| "no_longer_matches".into())
            })
            .collect())
    }
}

/// What the re-check of a chunk's rows needs to know, looked up in sets: which companies and
/// runtemplates exist, which jobs are queued, which jobs queue rows point to exist.
struct Present {
    companies: HashSet<RowKey>,
    runtemplates: HashSet<RowKey>,
    queued: HashSet<RowKey>,
    jobs: HashSet<RowKey>,
}

impl Present {
    fn gather(q: &mut dyn Query, rows: &[(&Item, RowRef<'_>)]) -> DbResult<Self> {
        let (queue_rows, job_rows): (Vec<_>, Vec<_>) = rows
            .iter()
            .partition(|(item, _)| item.category.as_deref() == Some(BROKEN_QUEUE));
        let column = |rows: &[&(&Item, RowRef<'_>)], name: &str| -> Vec<Value> {
            rows.iter().map(|(_, row)| row.get(name).clone()).collect()
        };
        Ok(Self {
            companies: common::present(q, "company", "id", &column(&job_rows, "company_id"))?,
            runtemplates: common::present(
                q,
                "runtemplate",
                "id",
                &column(&job_rows, "runtemplate_id"),
            )?,
            queued: common::present(q, "schedule", "job", &column(&job_rows, "id"))?,
            jobs: common::present(q, "job", "id", &column(&queue_rows, "job"))?,
        })
    }

    /// The job as the decision sees it, from its locked row and the looked-up facts.
    fn job(&self, row: RowRef<'_>) -> Job {
        let company_id = row.get("company_id").clone();
        let runtemplate_id = row.get("runtemplate_id").clone();
        let id = row.get("id").clone();
        Job {
            company_exists: self.companies.contains(&RowKey::of(&company_id)),
            runtemplate_exists: self.runtemplates.contains(&RowKey::of(&runtemplate_id)),
            queued: self.queued.contains(&RowKey::of(&id)),
            id,
            company_id,
            runtemplate_id,
            begin: row.get("begin").clone(),
            exitcode: row.get("exitcode").clone(),
            schedule: row.get("schedule").clone(),
        }
    }
}

/// Candidate jobs (orphans and possible ghosts) and candidate queue rows.
///
/// # Errors
/// A query failed.
pub fn gather(view: &mut dyn ReadView) -> DbResult<(Vec<Job>, Vec<QueueRow>)> {
    let d = *view.dialect();
    let q = |s: &str| d.quote(s);
    let jobs_sql = format!(
        "SELECT j.{id}, j.{company}, j.{rt}, j.{begin}, j.{exit}, j.{sched}, \
         CASE WHEN c.{id} IS NULL THEN 0 ELSE 1 END, CASE WHEN r.{id} IS NULL THEN 0 ELSE 1 END, \
         CASE WHEN EXISTS (SELECT 1 FROM {schedule} s WHERE s.{job} = j.{id}) THEN 1 ELSE 0 END \
         FROM {jobs} j \
         LEFT JOIN {companies} c ON c.{id} = j.{company} \
         LEFT JOIN {runtemplates} r ON r.{id} = j.{rt} \
         WHERE j.{company} IS NULL OR j.{company} = 0 OR c.{id} IS NULL \
            OR j.{rt} = 0 OR (j.{rt} IS NOT NULL AND r.{id} IS NULL) \
            OR (j.{rt} IS NULL AND j.{exit} IS NULL) \
            OR (j.{begin} IS NULL AND j.{exit} IS NULL AND j.{sched} IS NOT NULL) \
         ORDER BY j.{id}",
        id = q("id"),
        company = q("company_id"),
        rt = q("runtemplate_id"),
        begin = q("begin"),
        exit = q("exitcode"),
        sched = q("schedule"),
        job = q("job"),
        schedule = q("schedule"),
        jobs = q("job"),
        companies = q("company"),
        runtemplates = q("runtemplate"),
    );
    let mut jobs = Vec::new();
    view.query_each(&jobs_sql, &[], &mut |r| {
        jobs.push(Job {
            id: r[0].clone(),
            company_id: r[1].clone(),
            runtemplate_id: r[2].clone(),
            begin: r[3].clone(),
            exitcode: r[4].clone(),
            schedule: r[5].clone(),
            company_exists: common::int(&r[6]) == 1,
            runtemplate_exists: common::int(&r[7]) == 1,
            queued: common::int(&r[8]) == 1,
        });
        Ok(())
    })?;
    let queue_sql = format!(
        "SELECT s.{id}, s.{job}, CASE WHEN j.{id} IS NULL THEN 0 ELSE 1 END \
         FROM {schedule} s LEFT JOIN {jobs} j ON j.{id} = s.{job} \
         WHERE s.{job} IS NULL OR s.{job} = 0 OR j.{id} IS NULL ORDER BY s.{id}",
        id = q("id"),
        job = q("job"),
        schedule = q("schedule"),
        jobs = q("job"),
    );
    let mut queue = Vec::new();
    view.query_each(&queue_sql, &[], &mut |r| {
        queue.push(QueueRow {
            id: r[0].clone(),
            job: r[1].clone(),
            job_exists: common::int(&r[2]) == 1,
        });
        Ok(())
    })?;
    Ok((jobs, queue))
}

fn delete_job(job: &Value, category: &'static str, code: &'static str, text: String) -> Item {
    Item::new(
        Op::Delete(DeleteRows {
            table: "job".into(),
            key_column: "id".into(),
            keys: housekeeper_journal::KeySet::Values(vec![job.clone()]),
            dependents: job_dependents(),
            guard: Guard::Duty,
        }),
        Reason::new(code, text),
    )
    .category(category)
}

/// The plan: orphaned jobs, broken queue rows, ghost jobs, each with its reason.
#[must_use]
pub fn decide(
    jobs: &[Job],
    queue: &[QueueRow],
    now: DateTimeValue,
    stale_minutes: u64,
) -> DutyPlan {
    let mut plan = DutyPlan::new(DutyName::OrphanedJobCleanup, now);
    // At most one item per candidate: reserved once (untouched room costs no memory) and
    // trimmed at the end, rather than grown by doubling and copying.
    plan.items.reserve_exact(jobs.len() + queue.len());
    let limit = cutoff(now, stale_minutes);
    let mut doomed_jobs = BTreeSet::new();
    for job in jobs {
        if let Some(text) = orphan_reason(job) {
            doomed_jobs.insert(job.id.to_string());
            plan.items
                .push(delete_job(&job.id, ORPHANED, "orphaned_job", text));
        }
    }
    for row in queue {
        if let Some(text) = broken_reason(row) {
            plan.items.push(
                Item::new(
                    Op::Delete(DeleteRows {
                        table: "schedule".into(),
                        key_column: "id".into(),
                        keys: housekeeper_journal::KeySet::Values(vec![row.id.clone()]),
                        dependents: Dependents::default(),
                        guard: Guard::Duty,
                    }),
                    Reason::new("broken_queue_row", text),
                )
                .category(BROKEN_QUEUE),
            );
        }
    }
    for job in jobs
        .iter()
        .filter(|j| !doomed_jobs.contains(&j.id.to_string()))
    {
        if let Some(text) = ghost_reason(job, limit, stale_minutes) {
            plan.items
                .push(delete_job(&job.id, GHOST, "ghost_job", text));
        } else if job.begin.is_null()
            && job.exitcode.is_null()
            && common::when(&job.schedule) == When::Unparseable
        {
            plan.findings.push(Finding::new(
                "warning",
                "unparseable_date",
                format!(
                    "job #{}: schedule {} is not a date; left alone",
                    common::show(&job.id),
                    common::show(&job.schedule)
                ),
            ));
        }
    }
    plan.items.shrink_to_fit();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTimeValue {
        DateTimeValue::ymd_hms(2026, 11, 28, 12, 0, 0)
    }

    fn job(id: i64) -> Job {
        Job {
            id: Value::Int(id),
            company_id: Value::Int(1),
            runtemplate_id: Value::Int(1),
            begin: Value::Null,
            exitcode: Value::Null,
            schedule: Value::Null,
            company_exists: true,
            runtemplate_exists: true,
            queued: true,
        }
    }

    fn categories(plan: &DutyPlan) -> Vec<(String, String)> {
        plan.items
            .iter()
            .map(|i| {
                let Op::Delete(d) = &i.op else { panic!() };
                (
                    format!("{} {}", d.table, crate::plan::render::keys_text(&d.keys)),
                    i.category.clone().unwrap().into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn orphans_by_company_and_runtemplate() {
        let mut a = job(1);
        a.company_id = Value::Int(0);
        let mut b = job(2);
        b.runtemplate_exists = false;
        b.runtemplate_id = Value::Int(99);
        let mut c = job(3);
        c.runtemplate_id = Value::Null;
        let mut d = job(4);
        d.runtemplate_id = Value::Null;
        d.exitcode = Value::Int(0);
        d.begin = Value::from("2020-01-01 00:00:00");
        let plan = decide(&[a, b, c, d], &[], now(), 60);
        crate::duties::assert_within_scope(&SCOPE, &plan);
        assert_eq!(
            categories(&plan),
            [
                ("job 1".into(), ORPHANED.into()),
                ("job 2".into(), ORPHANED.into()),
                ("job 3".into(), ORPHANED.into())
            ],
            "the finished job without runtemplate is history and stays"
        );
        assert_eq!(
            plan.items[1].reason.text,
            "job #2 points to missing runtemplate #99"
        );
        let Op::Delete(del) = &plan.items[0].op else {
            panic!()
        };
        let deps: Vec<&str> = del.dependents.iter().map(|d| &*d.table).collect();
        assert_eq!(
            deps,
            ["schedule", "job_output_lines", "artifacts", "file_store"]
        );
    }

    #[test]
    fn ghosts_need_an_old_schedule_and_no_queue_row() {
        let mut ghost = job(1);
        ghost.queued = false;
        ghost.schedule = Value::from("2026-11-28 10:59:59");
        let mut boundary = job(2);
        boundary.queued = false;
        boundary.schedule = Value::from("2026-11-28 11:00:00");
        let mut later = job(6);
        later.queued = false;
        later.schedule = Value::from("2026-11-28 11:00:01");
        let mut zero_date = job(7);
        zero_date.queued = false;
        zero_date.schedule = Value::from("0000-00-00 00:00:00");
        let mut queued = job(3);
        queued.schedule = Value::from("2020-01-01 00:00:00");
        let mut unscheduled = job(4);
        unscheduled.queued = false;
        let mut running = job(5);
        running.queued = false;
        running.schedule = Value::from("2020-01-01 00:00:00");
        running.begin = Value::from("2020-01-01 00:00:01");
        let plan = decide(
            &[
                ghost,
                boundary,
                queued,
                unscheduled,
                running,
                later,
                zero_date,
            ],
            &[],
            now(),
            60,
        );
        crate::duties::assert_within_scope(&SCOPE, &plan);
        assert_eq!(categories(&plan), [("job 1".into(), GHOST.into())]);
        assert_eq!(
            plan.items[0].reason.text,
            "job #1 (runtemplate #1) scheduled 2026-11-28 10:59:59, never started and not queued for more than 60 min"
        );
        assert_eq!(
            plan.findings.len(),
            1,
            "the zero date is reported, not matched"
        );
        assert!(plan.findings[0].message.starts_with("job #7: schedule"));
    }

    #[test]
    fn an_orphan_that_is_also_a_ghost_counts_once() {
        let mut j = job(1);
        j.runtemplate_id = Value::Null;
        j.queued = false;
        j.schedule = Value::from("2020-01-01 00:00:00");
        let plan = decide(&[j], &[], now(), 60);
        crate::duties::assert_within_scope(&SCOPE, &plan);
        assert_eq!(categories(&plan), [("job 1".into(), ORPHANED.into())]);
    }

    #[test]
    fn broken_queue_rows() {
        let rows = [
            QueueRow {
                id: Value::Int(1),
                job: Value::Int(1),
                job_exists: true,
            },
            QueueRow {
                id: Value::Int(2),
                job: Value::Int(0),
                job_exists: false,
            },
            QueueRow {
                id: Value::Int(3),
                job: Value::Int(999),
                job_exists: false,
            },
            QueueRow {
                id: Value::Int(4),
                job: Value::Null,
                job_exists: false,
            },
        ];
        let plan = decide(&[], &rows, now(), 60);
        crate::duties::assert_within_scope(&SCOPE, &plan);
        assert_eq!(plan.categories().get(BROKEN_QUEUE), Some(&3));
        assert_eq!(
            plan.items[1].reason.text,
            "queue row #3 points to missing job #999"
        );
    }
}
