//! A realistic, messy MultiFlexi database for the demo and for benchmarks: work for every duty
//! mixed with plenty of healthy rows that no duty may touch, and a [`MessReport`] that says
//! exactly how much of each kind of mess was planted (tests compare the duties' plans with it).
//!
//! Deterministic: the same `now` and `scale` give the same rows on every engine and every run
//! (a seeded SplitMix64 generator, no wall clock, no OS randomness). Every foreign key is valid,
//! so a seed → run → undo round trip can compare every table.
//!
//! Must never: read the wall clock or the OS random source.

use std::collections::BTreeMap;
use std::path::Path;

use housekeeper_journal::{DateTimeValue, Value};

use super::php::{as_stored_by_php, php_serialized_config_fields, EnvField};
use super::seed::{shift, JobState, Seed, DAY, HOUR, MINUTE};
use crate::Engine;
use crate::{Database, Result};

/// How much mess [`realistic_mess`] planted, by the duty that should find it, and how many rows
/// each table got. Counts assume the default settings (`STALE_JOB_AGE` 60 minutes, retention
/// periods of the default policies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessReport {
    /// Rows written per table.
    pub rows: BTreeMap<String, usize>,
    /// StaleTaskFinalization: open/running tasks past their window with 0 attempts (→ missed).
    pub stale_tasks_missed: usize,
    /// … and with attempts (→ failed).
    pub stale_tasks_failed: usize,
    /// OrphanedJobCleanup (a): unfinished jobs whose runtemplate is NULL.
    pub orphaned_jobs: usize,
    /// OrphanedJobCleanup (b): queue rows whose job is NULL, 0 or missing.
    pub broken_queue_rows: usize,
    /// OrphanedJobCleanup (c): unstarted jobs without queue row scheduled more than an hour ago.
    pub ghost_jobs: usize,
    /// Queue rows, output lines, artifacts and stored files of the jobs above (deleted with them).
    pub dependents_of_doomed_jobs: usize,
    /// ScheduleIntegrity: active runtemplates whose `next_schedule` has no matching unfinished
    /// job and lies more than 2 hours in the past.
    pub stale_runtemplates: usize,
    /// … whose unmatched `next_schedule` is recent or in the future.
    pub unmatched_runtemplates: usize,
    /// DataRetentionCleanup, `session_data`: sessions idle for more than 30 days.
    pub expired_sessions: usize,
    /// `job_execution_logs`: finished jobs that began more than 365 days ago.
    pub expired_jobs: usize,
    /// `application_logs`: log rows created more than 365 days ago.
    pub expired_log_rows: usize,
    /// `login_attempts`: attempts more than 90 days ago.
    pub expired_login_attempts: usize,
    /// `audit_logs` (archive, opt-in): audit events older than 2555 days.
    pub expired_audit_events: usize,
    /// `user_accounts_inactive` (anonymize, opt-in): users inactive for more than 1095 days.
    pub inactive_users: usize,
    /// Rows in `log` (LogPruning keeps `LOG_KEEP` of them; set it below this to see pruning).
    pub log_rows: usize,
    /// RuntemplateCounterRecalc: runtemplates with wrong stored counters.
    pub drifted_runtemplates: usize,
    /// CredentialHealthCheck: assigned credentials that are misconfigured.
    pub misconfigured_credentials: usize,
    /// Absolute paths in the temp dir that unfinished jobs' `env` names (create them to see the
    /// temp-file duty leave them alone). Jobs with a PHP-serialized env name none on PostgreSQL,
    /// where PHP leaves that env cut at its first NUL byte; jobs with a JSON env name theirs on
    /// every engine.
    pub referenced_files: Vec<String>,
}

/// SplitMix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> i64 {
        i64::try_from(self.next() % n.max(1)).unwrap_or(0)
    }
}

/// The kinds of runtemplate the mess is made of, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RtKind {
    Inactive,
    Disabled,
    Stale,
    Unmatched,
    Waiting,
    Healthy,
}

fn rt_kind(i: usize) -> RtKind {
    match i % 12 {
        0 => RtKind::Inactive,
        1 => RtKind::Disabled,
        2 | 8 => RtKind::Stale,
        3 => RtKind::Unmatched,
        4 => RtKind::Waiting,
        _ => RtKind::Healthy,
    }
}

/// [`realistic_mess_in`] with MultiFlexi's default temp dir `/var/lib/multiflexi/tmp`.
///
/// # Errors
/// A statement failed.
pub fn realistic_mess(
    conn: &mut (impl Database + ?Sized),
    now: DateTimeValue,
    scale: u32,
) -> Result<MessReport> {
    realistic_mess_in(conn, now, scale, Path::new("/var/lib/multiflexi/tmp"))
}

/// Fills an installed current schema with a realistic mess; `scale` 1 gives about four
/// thousand rows, and every count grows linearly with it. Running jobs refer to files in
/// `tmp_dir`.
///
/// # Errors
/// A statement failed.
pub fn realistic_mess_in(
    conn: &mut (impl Database + ?Sized),
    now: DateTimeValue,
    scale: u32,
    tmp_dir: &Path,
) -> Result<MessReport> {
    let (seed, report) = build_mess(conn.engine(), now, scale, tmp_dir);
    seed.apply(conn)?;
    write_log_rows(conn, now, report.log_rows)?;
    Ok(report)
}

/// A count as an `i64` for date arithmetic (counts here are far below `i64::MAX`).
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn minutes(n: usize) -> i64 {
    count(n) * MINUTE
}

fn days(n: usize) -> i64 {
    count(n) * DAY
}

fn build_mess(
    engine: Engine,
    now: DateTimeValue,
    scale: u32,
    tmp_dir: &Path,
) -> (Seed, MessReport) {
    let s = usize::try_from(scale.max(1)).unwrap_or(1);
    let seed = Seed::new(now);
    let mut mess = Mess {
        engine,
        now: seed.now(),
        s,
        tmp: tmp_dir.to_string_lossy().into_owned(),
        rng: Rng(0x4D75_6C74_6946_6C78 ^ u64::from(scale)),
        seed,
        report: MessReport::default(),
    };
    let (admin, users) = mess.people();
    let (apps, companies) = mess.apps_and_companies();
    mess.seed.default_retention_policies(Some(admin));
    let healthy = mess.runtemplates(&apps, &companies);
    mess.ghost_and_pending_jobs(&healthy.all);
    mess.ad_hoc_jobs();
    mess.broken_queue_rows();
    mess.runtemplate_files(&healthy.all);
    mess.credentials(&companies, &healthy.by_company);
    let log_rows = mess.count_log_rows();
    mess.sessions(&users);
    mess.audit_events(&users);
    mess.login_attempts();
    mess.retention_bookkeeping(admin);

    let Mess {
        seed, mut report, ..
    } = mess;
    report.rows = seed
        .counts()
        .into_iter()
        .map(|(t, n)| (t.to_owned(), n))
        .collect();
    report.rows.insert("log".to_owned(), log_rows);
    (seed, report)
}

/// The mess while it is built: the rows so far, what was planted, and the generator every
/// "random" choice comes from (its draws happen in a fixed order, part after part).
struct Mess {
    engine: Engine,
    now: DateTimeValue,
    /// The scale, at least 1.
    s: usize,
    /// The temp dir, as running jobs name it.
    tmp: String,
    rng: Rng,
    seed: Seed,
    report: MessReport,
}

/// The healthy runtemplates, in order, and per company.
#[derive(Default)]
struct Healthy {
    all: Vec<i64>,
    by_company: BTreeMap<i64, Vec<i64>>,
}

/// One of `list`, chosen by `rng`.
fn pick(rng: &mut Rng, list: &[i64]) -> i64 {
    list[usize::try_from(rng.below(list.len() as u64)).unwrap_or(0) % list.len()]
}

impl Mess {
    /// The admin and the other users, every fourth inactive for years; returns the admin and
    /// every user id.
    fn people(&mut self) -> (i64, Vec<i64>) {
        let (now, s) = (self.now, self.s);
        let admin = self.seed.user("admin").id();
        let mut users = vec![admin];
        for k in 0..4 * s {
            let login = format!("user{}", k + 1);
            let row = self.seed.user(&login);
            let id = row.id();
            if k % 4 == 3 {
                let idle = shift(now, -4 * 365 * DAY - days(k));
                let _ = row.set("last_activity_at", idle).set("last_login_at", idle);
                self.report.inactive_users += 1;
            }
            users.push(id);
        }
        (admin, users)
    }

    fn apps_and_companies(&mut self) -> (Vec<i64>, Vec<i64>) {
        let app_names = [
            "Invoices",
            "Bank Import",
            "Reminders",
            "Stock Sync",
            "Payroll",
            "Backup",
        ];
        let apps: Vec<i64> = app_names.iter().map(|n| self.seed.app(n).id()).collect();
        let companies: Vec<i64> = (0..2 + self.s)
            .map(|k| {
                self.seed
                    .company(&format!("Company {}", k + 1), &format!("CO{}", k + 1))
                    .id()
            })
            .collect();
        (apps, companies)
    }

    /// Runtemplates of every kind with their history, schedule state, running jobs and tasks;
    /// returns the healthy ones.
    fn runtemplates(&mut self, apps: &[i64], companies: &[i64]) -> Healthy {
        let intervals = ["d", "h", "w", "m", "d", "h"];
        let mut healthy = Healthy::default();
        for i in 0..24 * self.s {
            let kind = rt_kind(i);
            let app = apps[i % apps.len()];
            let company = companies[i % companies.len()];
            let interv = match kind {
                RtKind::Disabled => "n",
                _ => intervals[i % intervals.len()],
            };
            let rt = self.seed.runtemplate(app, company, interv).id();
            let (stored_success, stored_failed) = self.finished_history(i, rt);
            let next = self.schedule_state(i, rt, kind);
            if kind == RtKind::Healthy {
                healthy.all.push(rt);
                healthy.by_company.entry(company).or_default().push(rt);
            }
            let active = kind != RtKind::Inactive;
            self.seed.set_on("runtemplate", rt, "active", active);
            self.seed.set_on(
                "runtemplate",
                rt,
                "next_schedule",
                next.map_or(Value::Null, Value::DateTime),
            );
            self.seed
                .set_on("runtemplate", rt, "successfull_jobs_count", stored_success);
            self.seed
                .set_on("runtemplate", rt, "failed_jobs_count", stored_failed);
            if kind == RtKind::Healthy {
                self.running_jobs(i, rt);
            }
            if active && interv != "n" {
                self.tasks(i, rt);
            }
        }
        healthy
    }

    /// Finished jobs of runtemplate number `i` over the last 60 days (every fifth runtemplate
    /// also a year-old run retention should mark); returns the success and failure counters
    /// to store, wrong on purpose for some (drifted counters).
    fn finished_history(&mut self, i: usize, rt: i64) -> (i64, i64) {
        let now = self.now;
        let successes = 2 + self.rng.below(5);
        let mut failures = self.rng.below(3);
        if i % 7 == 6 {
            failures = failures.max(1);
        }
        for j in 0..successes + failures {
            let began = shift(
                now,
                -(1 + self.rng.below(60)) * DAY - self.rng.below(24 * 60) * MINUTE,
            );
            let exitcode = if j < successes {
                0
            } else {
                1 + self.rng.below(120)
            };
            let job = self
                .seed
                .job(rt, JobState::Finished { began, exitcode })
                .id();
            if j == 0 {
                let _ = self
                    .seed
                    .output_line(job, 1, "stdout", "Processing started");
                let _ = self
                    .seed
                    .output_line(job, 2, "stdout", "Processing finished");
            }
            if j == 1 && i.is_multiple_of(3) {
                let _ = self.seed.artifact(job, "report.json", "{\"processed\":12}");
            }
        }
        let mut stored_success = successes;
        let mut stored_failed = failures;
        // A year-old run that retention should mark.
        if i.is_multiple_of(5) {
            let began = shift(now, -400 * DAY - days(i));
            let _ = self.seed.job(rt, JobState::Finished { began, exitcode: 0 });
            stored_success += 1;
            self.report.expired_jobs += 1;
        }
        match i % 7 {
            5 => {
                stored_success += 2;
                self.report.drifted_runtemplates += 1;
            }
            6 => {
                stored_failed = 0;
                self.report.drifted_runtemplates += 1;
            }
            _ => {}
        }
        (stored_success, stored_failed)
    }

    /// The `next_schedule` of runtemplate number `i` by its kind; a healthy one gets its queued
    /// job.
    fn schedule_state(&mut self, i: usize, rt: i64, kind: RtKind) -> Option<DateTimeValue> {
        let now = self.now;
        match kind {
            RtKind::Inactive => Some(shift(now, -6 * HOUR)),
            RtKind::Disabled => Some(shift(now, -3 * DAY)),
            RtKind::Stale => {
                self.report.stale_runtemplates += 1;
                Some(shift(now, -5 * HOUR - minutes(i)))
            }
            RtKind::Unmatched => {
                self.report.unmatched_runtemplates += 1;
                Some(shift(now, 30 * MINUTE))
            }
            RtKind::Waiting => None,
            RtKind::Healthy => {
                let at = shift(now, (1 + self.rng.below(12)) * HOUR);
                let _ = self.seed.job(rt, JobState::Queued { schedule: at });
                Some(at)
            }
        }
    }

    /// Running jobs of a healthy runtemplate referring to temp files: most with the
    /// PHP-serialized env MultiFlexi writes, some with a JSON env.
    fn running_jobs(&mut self, i: usize, rt: i64) {
        let now = self.now;
        let tmp = self.tmp.clone();
        if i % 5 == 1 {
            let began = shift(now, -20 * MINUTE);
            let job = self.seed.job(rt, JobState::Running { began }).id();
            let result = format!("{tmp}/job-{job}/result.json");
            let env = php_serialized_config_fields(
                "Job",
                &[
                    EnvField::new("MULTIFLEXI_JOB_ID", "integer", &job.to_string(), "Job"),
                    EnvField::new("MULTIFLEXI_TMP", "string", &tmp, "Job"),
                    EnvField::new("RESULT_FILE", "file-path", &result, "Application"),
                ],
            );
            let stored = as_stored_by_php(self.engine, &env);
            if stored.contains(&result) {
                self.report.referenced_files.push(result);
            }
            self.seed.set_on("job", job, "env", Value::Text(stored));
        }
        if i % 5 == 3 {
            let began = shift(now, -40 * MINUTE);
            let job = self.seed.job(rt, JobState::Running { began }).id();
            let result = format!("{tmp}/job-{job}/output.json");
            let env = serde_json::json!({ "RESULT_FILE": result, "MULTIFLEXI_TMP": tmp });
            self.seed
                .set_on("job", job, "env", Value::Text(env.to_string()));
            self.report.referenced_files.push(result);
        }
    }

    /// Tasks of a scheduled runtemplate: fulfilled history, and stale windows.
    fn tasks(&mut self, i: usize, rt: i64) {
        let now = self.now;
        let start = shift(now, -3 * DAY);
        let _ = self.seed.task(rt, start, shift(start, DAY), "fulfilled", 0);
        match i % 6 {
            0 | 4 => {
                let start = shift(now, -DAY - 2 * HOUR);
                let _ = self.seed.task(rt, start, shift(start, DAY), "open", 0);
                self.report.stale_tasks_missed += 1;
            }
            3 => {
                let start = shift(now, -DAY - 3 * HOUR);
                let _ = self.seed.task(rt, start, shift(start, DAY), "running", 1);
                self.report.stale_tasks_failed += 1;
            }
            _ => {
                let start = shift(now, -HOUR);
                let _ = self.seed.task(rt, start, shift(start, DAY), "open", 0);
            }
        }
    }

    /// Ghost jobs, fresh pending jobs, unscheduled jobs — on healthy runtemplates.
    fn ghost_and_pending_jobs(&mut self, healthy: &[i64]) {
        let (now, s) = (self.now, self.s);
        for k in 0..5 * s {
            let rt = pick(&mut self.rng, healthy);
            let at = shift(now, -2 * DAY - minutes(k));
            let job = self
                .seed
                .job(rt, JobState::Pending { schedule: Some(at) })
                .id();
            if k % 2 == 0 {
                let _ = self.seed.output_line(job, 1, "stderr", "Job never started");
                self.report.dependents_of_doomed_jobs += 1;
            }
            self.report.ghost_jobs += 1;
        }
        for _ in 0..2 * s {
            let rt = pick(&mut self.rng, healthy);
            let _ = self.seed.job(
                rt,
                JobState::Pending {
                    schedule: Some(shift(now, -5 * MINUTE)),
                },
            );
        }
        for _ in 0..s {
            let rt = pick(&mut self.rng, healthy);
            let _ = self.seed.job(rt, JobState::Pending { schedule: None });
        }
    }

    /// Ad-hoc jobs: finished ones are history; unfinished ones are orphans.
    fn ad_hoc_jobs(&mut self) {
        let (now, s) = (self.now, self.s);
        for k in 0..4 * s {
            let began = shift(now, -2 * DAY - days(k % 30));
            let _ = self
                .seed
                .job_without_runtemplate(None, JobState::Finished { began, exitcode: 0 });
        }
        for k in 0..3 * s {
            let state = if k % 2 == 0 {
                JobState::Queued {
                    schedule: shift(now, -10 * MINUTE),
                }
            } else {
                JobState::Running {
                    began: shift(now, -15 * MINUTE),
                }
            };
            let job = self.seed.job_without_runtemplate(None, state).id();
            if k % 2 == 0 {
                self.report.dependents_of_doomed_jobs += 1; // its queue row
            }
            if k % 3 == 0 {
                let _ = self
                    .seed
                    .stored_file(Some(job), None, "input.csv", b"id;amount\n1;100\n");
                self.report.dependents_of_doomed_jobs += 1;
            }
            self.report.orphaned_jobs += 1;
        }
    }

    /// Queue rows whose job is NULL, 0 or missing.
    fn broken_queue_rows(&mut self) {
        let missing_job = count(self.seed.counts().get("job").copied().unwrap_or(0)) + 1000;
        for k in 0..2 * self.s {
            let at = shift(self.now, -HOUR);
            let _ = self.seed.queue_entry(None, at);
            let _ = self.seed.queue_entry(Some(0), at);
            let _ = self.seed.queue_entry(Some(missing_job + count(k)), at);
            self.report.broken_queue_rows += 3;
        }
    }

    fn runtemplate_files(&mut self, healthy: &[i64]) {
        for rt in healthy.iter().take(3 * self.s) {
            let _ = self
                .seed
                .stored_file(None, Some(*rt), "template.xml", b"<template/>");
        }
    }

    /// Credentials per company: a Fio type without token, a Common type, a mail type with a
    /// required field left empty, and a database-defined prototype that is complete.
    fn credentials(&mut self, companies: &[i64], healthy_by_company: &BTreeMap<i64, Vec<i64>>) {
        let seed = &mut self.seed;
        let imap = seed
            .credential_prototype("ImapMailbox", "IMAP mailbox")
            .id();
        let _ = seed.credential_prototype_field(imap, "IMAP_HOST", true, None);
        let _ = seed.credential_prototype_field(imap, "IMAP_PASSWORD", true, None);
        for (k, company) in companies.iter().enumerate() {
            let assigned = healthy_by_company
                .get(company)
                .and_then(|v| v.first().copied());
            let fio = seed.credential_type(*company, "Fio", "FioBank").id();
            let _ = seed.credential_type_option(fio, "FIO_TOKEN", "");
            let fio_cred = seed.credential(fio, &format!("Fio account {}", k + 1)).id();
            let common = seed.credential_type(*company, "Common", "Common").id();
            let common_cred = seed.credential(common, &format!("Common {}", k + 1)).id();
            let mail = seed.credential_type(*company, "Mail", "Common").id();
            let _ = seed.credential_type_field(mail, "SMTP_HOST", true, Some("localhost"));
            let _ = seed.credential_type_field(mail, "SMTP_PASSWORD", true, None);
            let mail_cred = seed.credential(mail, &format!("Mail {}", k + 1)).id();
            let _ = seed.credential_value(mail_cred, "SMTP_PASSWORD", "");
            let imap_type = seed
                .credential_type(*company, "Mailbox", "ImapMailbox")
                .id();
            let imap_cred = seed
                .credential(imap_type, &format!("Mailbox {}", k + 1))
                .id();
            let _ = seed.credential_value(imap_cred, "IMAP_HOST", "imap.example.com");
            let _ = seed.credential_value(imap_cred, "IMAP_PASSWORD", "secret");
            if let Some(rt) = assigned {
                for cred in [fio_cred, common_cred, mail_cred, imap_cred] {
                    let _ = seed.assign_credential(rt, cred);
                }
                self.report.misconfigured_credentials += 2;
            }
        }
    }

    /// Logs are written separately, in batches (see `write_log_rows`); only counted here.
    fn count_log_rows(&mut self) -> usize {
        let now = self.now;
        let log_rows = 3000 * self.s;
        for k in 0..log_rows {
            if log_created(now, log_rows, k) < shift(now, -365 * DAY) {
                self.report.expired_log_rows += 1;
            }
        }
        self.report.log_rows = log_rows;
        log_rows
    }

    /// User sessions, every fourth idle past the 30 days of `session_data`.
    fn sessions(&mut self, users: &[i64]) {
        for k in 0..40 * self.s {
            let user = users[k % users.len()];
            let idle = if k % 4 == 0 {
                self.report.expired_sessions += 1;
                (31 + self.rng.below(60)) * DAY
            } else {
                self.rng.below(10) * DAY + self.rng.below(600) * MINUTE
            };
            let _ = self.seed.session(user, shift(self.now, -idle));
        }
    }

    /// Security audit events, every seventeenth past the 2555 days of `audit_logs`.
    fn audit_events(&mut self, users: &[i64]) {
        let events = ["login", "logout", "password_change", "permission_change"];
        let levels = ["low", "medium", "high", "critical"];
        for k in 0..50 * self.s {
            let user = Some(users[k % users.len()]);
            let age = if k % 17 == 0 {
                self.report.expired_audit_events += 1;
                (2600 + self.rng.below(200)) * DAY
            } else {
                (1 + self.rng.below(300)) * DAY
            };
            let _ = self.seed.audit_event(
                user,
                events[k % events.len()],
                levels[k % levels.len()],
                shift(self.now, -age),
            );
        }
    }

    /// Login attempts, every third past the 90 days of `login_attempts`.
    fn login_attempts(&mut self) {
        let s = self.s;
        for k in 0..60 * s {
            let age = if k % 3 == 0 {
                self.report.expired_login_attempts += 1;
                (91 + self.rng.below(200)) * DAY
            } else {
                self.rng.below(80) * DAY + self.rng.below(1000) * MINUTE
            };
            let login = if k % 5 == 0 {
                "root".to_owned()
            } else {
                format!("user{}", 1 + k % (4 * s))
            };
            let _ = self
                .seed
                .login_attempt(&login, shift(self.now, -age), k % 5 != 0);
        }
    }

    /// Retention bookkeeping of earlier runs (the web UI's), to be left alone.
    fn retention_bookkeeping(&mut self, admin: i64) {
        let now = self.now;
        let _ = self.seed.retention_cleanup_job(
            5,
            "scheduled_cleanup",
            "completed",
            shift(now, -7 * DAY),
        );
        let _ = self.seed.archive_entry(
            "security_audit_log",
            1,
            "{\"id\":1,\"event_type\":\"login\"}",
            admin,
        );
        let _ = self.seed.retention_report(admin, "weekly_summary");
    }
}

/// Log rows per write, so a large scale never holds them all in memory.
const LOG_BATCH: usize = 10_000;

/// When log row `k` (0-based) of `total` was created: spread over 400 days, oldest first.
fn log_created(now: DateTimeValue, total: usize, k: usize) -> DateTimeValue {
    let span = 400 * DAY;
    let step = span / count(total.max(1));
    shift(now, -span + count(k) * step)
}

/// Writes the `log` rows of the mess (ids 1…`total`) in batches.
fn write_log_rows(
    conn: &mut (impl Database + ?Sized),
    now: DateTimeValue,
    total: usize,
) -> Result<()> {
    let severities = [
        "info", "info", "info", "success", "warning", "error", "debug",
    ];
    let venues = [
        "MultiFlexi\\Executor",
        "MultiFlexi\\Scheduler",
        "MultiFlexi\\Ui\\WebPage",
    ];
    let mut k = 0;
    while k < total {
        let mut seed = Seed::new(now);
        seed.start_ids_at("log", count(k) + 1);
        let end = (k + LOG_BATCH).min(total);
        for n in k..end {
            let _ = seed.log(
                severities[n % severities.len()],
                venues[n % venues.len()],
                &format!("Event {n}: job batch processed"),
                log_created(now, total, n),
            );
        }
        seed.apply(conn)?;
        k = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTimeValue {
        DateTimeValue::ymd_hms(2026, 11, 28, 12, 0, 0)
    }

    #[test]
    fn the_same_inputs_give_the_same_mess() {
        let (a, ra) = build_mess(Engine::Sqlite, now(), 1, Path::new("/tmp/x"));
        let (b, rb) = build_mess(Engine::Sqlite, now(), 1, Path::new("/tmp/x"));
        assert_eq!(ra, rb);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn scale_one_plants_every_kind_of_mess_among_thousands_of_rows() {
        let (_, r) = build_mess(Engine::Sqlite, now(), 1, Path::new("/srv/tmp"));
        let total: usize = r.rows.values().sum();
        assert!((3_000..10_000).contains(&total), "{total} rows");
        for (what, n) in [
            ("stale_tasks_missed", r.stale_tasks_missed),
            ("stale_tasks_failed", r.stale_tasks_failed),
            ("orphaned_jobs", r.orphaned_jobs),
            ("broken_queue_rows", r.broken_queue_rows),
            ("ghost_jobs", r.ghost_jobs),
            ("stale_runtemplates", r.stale_runtemplates),
            ("unmatched_runtemplates", r.unmatched_runtemplates),
            ("expired_sessions", r.expired_sessions),
            ("expired_jobs", r.expired_jobs),
            ("expired_log_rows", r.expired_log_rows),
            ("expired_login_attempts", r.expired_login_attempts),
            ("drifted_runtemplates", r.drifted_runtemplates),
            ("misconfigured_credentials", r.misconfigured_credentials),
        ] {
            assert!(n > 0, "{what} is 0");
        }
        assert!(r
            .referenced_files
            .iter()
            .all(|f| f.starts_with("/srv/tmp/")));
        assert_eq!(r.rows["data_retention_policies"], 7);
    }

    #[test]
    fn on_postgres_only_json_envs_name_their_files() {
        let (_, sqlite) = build_mess(Engine::Sqlite, now(), 2, Path::new("/t"));
        let (_, postgres) = build_mess(Engine::Postgres, now(), 2, Path::new("/t"));
        assert!(postgres
            .referenced_files
            .iter()
            .all(|f| f.ends_with("/output.json")));
        assert!(!postgres.referenced_files.is_empty());
        assert!(sqlite.referenced_files.len() > postgres.referenced_files.len());
    }

    #[test]
    fn counts_grow_with_scale() {
        let (_, one) = build_mess(Engine::Sqlite, now(), 1, Path::new("/t"));
        let (_, three) = build_mess(Engine::Sqlite, now(), 3, Path::new("/t"));
        assert_eq!(three.log_rows, 3 * one.log_rows);
        assert_eq!(three.ghost_jobs, 3 * one.ghost_jobs);
        assert!(three.rows["job"] > 2 * one.rows["job"]);
    }
}
