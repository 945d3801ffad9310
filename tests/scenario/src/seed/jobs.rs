//! The builder's helpers for jobs (in every state), their queue rows, tasks, output lines,
//! artifacts and stored files.

use housekeeper_journal::{DateTimeValue, Value};

use super::{shift, JobState, Row, RowRef, Seed};

impl Seed {
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
