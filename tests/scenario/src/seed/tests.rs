//! Unit tests of the row builder: dates, ids per table, the implied parents, the job states
//! and the default retention policies.

use super::*;

fn now() -> DateTimeValue {
    DateTimeValue::ymd_hms(2026, 3, 1, 12, 0, 0)
}

#[test]
fn shift_crosses_days_months_and_leap_days() {
    assert_eq!(
        shift(now(), -12 * HOUR - 1),
        DateTimeValue::ymd_hms(2026, 2, 28, 23, 59, 59)
    );
    assert_eq!(
        shift(DateTimeValue::ymd_hms(2024, 2, 28, 23, 0, 0), HOUR),
        DateTimeValue::ymd_hms(2024, 2, 29, 0, 0, 0)
    );
    assert_eq!(shift(now(), 0), now());
}

#[test]
fn ids_count_per_table_and_continue_after_explicit_ones() {
    let mut seed = Seed::new(now());
    assert_eq!(seed.user("admin").id(), 1);
    assert_eq!(seed.user("bob").id(), 2);
    assert_eq!(seed.app("App1").id(), 1);
    let explicit = seed
        .row("user", vec![("id", Value::Int(10)), ("login", "x".into())])
        .id();
    assert_eq!(explicit, 10);
    assert_eq!(seed.user("carol").id(), 11);
}

#[test]
fn jobs_take_app_company_and_launcher_from_the_seed() {
    let mut seed = Seed::new(now());
    let app = seed.app("A").id();
    let company = seed.company("C", "C").id();
    let rt = seed.runtemplate(app, company, "h").id();
    let at = seed.at(-DAY);
    let job = seed.job(rt, JobState::Queued { schedule: at });
    assert_eq!(job.get("app_id"), Some(&Value::Int(app)));
    assert_eq!(job.get("schedule_type"), Some(&Value::from("hourly")));
    assert_eq!(job.get("launched_by"), Some(&Value::Int(1)));
    let id = job.id();
    let counts = seed.counts();
    assert_eq!(counts["user"], 1, "the launcher was created on first need");
    assert_eq!(counts["schedule"], 1, "a queued job has its queue row");
    let queue = seed.rows.iter().find(|r| r.table == "schedule").unwrap();
    assert_eq!(queue.get("job"), Some(&Value::Int(id)));
    assert_eq!(queue.get("after"), Some(&Value::DateTime(at)));
}

#[test]
fn job_shorthands_set_the_state_columns() {
    let mut seed = Seed::new(now());
    let app = seed.app("A").id();
    let company = seed.company("C", "C").id();
    let rt = seed.runtemplate(app, company, "d").id();
    let at = seed.at(-3 * HOUR);
    let ghost = seed.ghost_job(rt, at);
    assert_eq!(ghost.get("begin"), Some(&Value::Null));
    assert_eq!(ghost.get("schedule"), Some(&Value::DateTime(at)));
    let running = seed.running_job(rt, at);
    assert_eq!(running.get("begin"), Some(&Value::DateTime(at)));
    assert_eq!(running.get("exitcode"), Some(&Value::Null));
    let failed = seed.failed_job(rt, at, 2);
    assert_eq!(failed.get("exitcode"), Some(&Value::Int(2)));
    let ok = seed.succeeded_job(rt, at);
    assert_eq!(ok.get("exitcode"), Some(&Value::Int(0)));
    let _ = seed.queued_job(rt, at);
    assert_eq!(
        seed.counts()["schedule"],
        1,
        "only the queued job has a queue row"
    );
}

#[test]
fn finished_jobs_end_after_they_begin() {
    let mut seed = Seed::new(now());
    let began = seed.at(-2 * HOUR);
    let job = seed.job_without_runtemplate(None, JobState::Finished { began, exitcode: 3 });
    assert_eq!(job.get("runtemplate_id"), Some(&Value::Null));
    assert_eq!(job.get("exitcode"), Some(&Value::Int(3)));
    assert_eq!(job.get("end"), Some(&Value::DateTime(shift(began, 90))));
    assert_eq!(job.get("schedule_type"), Some(&Value::from("adhoc")));
}

#[test]
fn default_policies_are_the_seven_of_the_migration() {
    let mut seed = Seed::new(now());
    let ids = seed.default_retention_policies(None);
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7]);
    let tables: Vec<_> = DEFAULT_RETENTION_POLICIES
        .iter()
        .map(|p| p.table_name)
        .collect();
    assert_eq!(
        tables,
        [
            "user",
            "user_sessions",
            "security_audit_log",
            "job",
            "log",
            "company",
            "login_attempts"
        ]
    );
}
