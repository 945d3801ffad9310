//! The duties on policy, disk and credentials — DataRetentionCleanup, DiskTempFileCleanup,
//! CredentialHealthCheck — through the real binary on every engine: every action of every
//! retention policy with its boundaries and errors; a real temp tree with hundreds of files,
//! links and unreadable directories walked by an unprivileged user; job environments as
//! MultiFlexi really stores them; credential probes against local listeners that accept,
//! refuse and stay silent.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use housekeeper::scenario::{self, Dump, Seed};
use housekeeper_journal::{RowRole, Value};

use crate::duties_rows::{
    apply, assert_changes, assert_every_removed_row_journaled, assert_run, at, changes, counts,
    dump, duty, install, lines, norm, now, parents, run_duty, JournalView, DAY, HOUR, MINUTE,
};
use crate::support::tool::{self, Out, Tool};
use crate::support::{Engine, TestDb};

// ----- DataRetentionCleanup ----------------------------------------------------------------------

/// `sess-…` key of the n-th seeded session.
fn session_key(n: i64) -> String {
    format!("sess-{n:032x}")
}

/// Rows of a table as maps column → normalized value, ordered by key.
fn rows_of(dump: &Dump, table: &str) -> Vec<BTreeMap<String, String>> {
    let t = dump
        .table(table)
        .unwrap_or_else(|| panic!("no table {table}"));
    t.rows
        .iter()
        .map(|r| {
            t.columns
                .iter()
                .zip(r)
                .map(|(c, v)| (c.clone(), norm(v)))
                .collect()
        })
        .collect()
}

/// Selected columns of every row of a table, as `a|b|c` lines.
fn columns_of(dump: &Dump, table: &str, columns: &[&str]) -> Vec<String> {
    rows_of(dump, table)
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| r.get(*c).cloned().unwrap_or_else(|| "?".into()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// The default seven policies over data on both sides of every boundary.
fn seed_default_policies(db: &TestDb) {
    install(db);
    let mut seed = Seed::new(now());
    let (app, company) = parents(&mut seed);
    seed.default_retention_policies(Some(1));
    // user 2 inactive for more than 1095 days: anonymize (off by default)
    seed.user("old.user")
        .set("last_activity_at", at(-1096 * DAY));
    // company 2 not updated for more than 1825 days: anonymize (off by default)
    seed.company("OldCo", "OLD")
        .set("DatUpdate", at(-1826 * DAY));
    // sessions (30 days, hard_delete)
    seed.session(1, at(-31 * DAY)); // 1: deleted
    seed.session(1, at(-30 * DAY)); // 2: exactly at the cutoff: kept
    seed.session(1, at(-30 * DAY - 1)); // 3: a second older: deleted
    seed.session(1, at(-HOUR)).set("retention_until", at(0)); // 4: until now: deleted
    seed.session(1, at(-60 * DAY)).set("retention_until", at(1)); // 5: until wins: kept
                                                                  // audit events (2555 days, archive: off by default)
    seed.audit_event(Some(1), "login", "low", at(-2556 * DAY));
    seed.audit_event(Some(1), "login", "low", at(-DAY));
    // jobs (365 days by begin, soft_delete)
    let rt = seed.runtemplate(app, company, "d").id();
    seed.succeeded_job(rt, at(-366 * DAY)); // 1: marked
    seed.succeeded_job(rt, at(-365 * DAY)); // 2: exactly at the cutoff: kept
    seed.succeeded_job(rt, at(-365 * DAY - 1)); // 3: marked
    seed.succeeded_job(rt, at(-DAY))
        .set("retention_until", at(-1)); // 4: marked
    seed.succeeded_job(rt, at(-400 * DAY))
        .set("marked_for_deletion", Value::Bool(true)); // 5: marked already
    seed.queued_job(rt, at(HOUR)); // 6: never began: kept
                                   // log (365 days by created, hard_delete)
    seed.log("info", "seed", "old", at(-366 * DAY)); // 1: deleted
    seed.log("info", "seed", "recent", at(-364 * DAY)); // 2: kept
    seed.log("info", "seed", "until passed", at(-DAY))
        .set("retention_until", at(-DAY)); // 3: deleted
                                           // login attempts (90 days by attempt_time: the table has no retention_until)
    seed.login_attempt("admin", at(-91 * DAY), false); // 1: deleted
    seed.login_attempt("admin", at(-89 * DAY), true); // 2: kept
    seed.login_attempt("admin", at(-90 * DAY), true); // 3: exactly at the cutoff: kept
    apply(db, &seed);
}

backend_test!(
    fn data_retention_enforces_the_default_policies_by_date_and_retention_until(db) {
        seed_default_policies(db);
        let hk = Tool::new(db);
        let before = dump(db);

        let out = hk.run(&["plan", "--duty", "DataRetentionCleanup"]);
        assert_run(&out, 0);
        let text = out.stdout.replace('"', "");
        for line in [
            "== DataRetentionCleanup: 9 to change (deleted 6, marked 3)",
            "[off] update user id=2: login: old.user → deleted_user-2, email: old.user@example.com → anonymized@deleted.user-2, firstname: Old.user → [ANONYMIZED], lastname: Tester → [ANONYMIZED], last_login_ip: 192.0.2.10 → 0.0.0.0, anonymized_at: NULL → 2026-11-28 09:00:00 — policy user_accounts_inactive: user 2: last_activity_at ",
            "[off] record a data_archive row — policy audit_logs: security_audit_log 1: created_at ",
            "[off] update security_audit_log id=1: marked_for_deletion: ",
            "[off] update company id=2: name: OldCo → [ANONYMIZED]-2, email: office@old.example.com → anonymized@deleted.user, ic: 01000002 → [ANONYMIZED] — policy company_data_business_relationship: company 2: DatUpdate ",
            "record a retention_cleanup_jobs row — record of policy #2: Processed: 3, Deleted: 3, Anonymized: 0, Archived: 0",
            "— policy job_execution_logs: job 1: begin ",
            "— policy job_execution_logs: job 4: retention_until 2026-11-28 08:59:59 has passed",
            "delete log id 1, 3 (2 rows) — policy application_logs: 2 row(s) of log past retention (365 days, or retention_until)",
            "delete login_attempts id 1 — policy login_attempts: 1 row(s) of login_attempts past retention (90 days, or retention_until)",
        ] {
            assert!(text.contains(line), "plan lacks {line:?}:\n{}", out.stdout);
        }

        let report = run_duty(&hk, "DataRetentionCleanup", 0);
        assert_eq!(report["status"], "ok");
        assert_eq!(report["errors"], serde_json::json!([]));
        assert_eq!(report["affected"], 9);
        assert_eq!(report["categories"], counts(&[("deleted", 6), ("marked", 3)]));
        let after = dump(db);
        let s = |n| session_key(n);
        assert_changes(&before, &after, &[
            &format!("user_sessions [{}] removed", s(1)),
            &format!("user_sessions [{}] removed", s(3)),
            &format!("user_sessions [{}] removed", s(4)),
            "job [1] marked_for_deletion: 0 → 1",
            "job [3] marked_for_deletion: 0 → 1",
            "job [4] marked_for_deletion: 0 → 1",
            "log [1] removed",
            "log [3] removed",
            "login_attempts [1] removed",
            "retention_cleanup_jobs [1] added",
            "retention_cleanup_jobs [2] added",
            "retention_cleanup_jobs [3] added",
            "retention_cleanup_jobs [4] added",
        ]);
        assert_eq!(
            columns_of(&after, "retention_cleanup_jobs", &[
                "policy_id", "job_type", "status", "started_at", "records_processed",
                "records_deleted", "records_anonymized", "records_archived", "summary",
            ]),
            [
                "2|scheduled_cleanup|completed|2026-11-28 09:00:00|3|3|0|0|Processed: 3, Deleted: 3, Anonymized: 0, Archived: 0",
                "4|scheduled_cleanup|completed|2026-11-28 09:00:00|3|0|0|0|Processed: 3, Deleted: 0, Anonymized: 0, Archived: 0",
                "5|scheduled_cleanup|completed|2026-11-28 09:00:00|2|2|0|0|Processed: 2, Deleted: 2, Anonymized: 0, Archived: 0",
                "7|scheduled_cleanup|completed|2026-11-28 09:00:00|1|1|0|0|Processed: 1, Deleted: 1, Anonymized: 0, Archived: 0",
            ]
        );
        let journal = JournalView::read(&hk.state);
        assert_every_removed_row_journaled(&before, &after, &journal);
        assert_eq!(
            journal.plan_lines("DataRetentionCleanup"),
            lines(&[
                &format!("Delete user_sessions {},{},{} retention_hard_delete", s(1), s(3), s(4)),
                "Insert retention_cleanup_jobs NULL [policy_id,job_type,status,started_at,completed_at,records_processed,records_deleted,records_anonymized,records_archived,summary] retention_record",
                "Update job 1 [marked_for_deletion] retention_soft_delete",
                "Update job 3 [marked_for_deletion] retention_soft_delete",
                "Update job 4 [marked_for_deletion] retention_soft_delete",
                "Delete log 1,3 retention_hard_delete",
                "Delete login_attempts 1 retention_hard_delete",
            ]),
            "actions that are off are shown in the plan but never journaled"
        );

        // The next run finds nothing new.
        let again = run_duty(&hk, "DataRetentionCleanup", 0);
        assert_eq!(again["affected"], 0, "{again:#}");
        assert_eq!(dump(db).row_count("retention_cleanup_jobs"), 4, "no record for a policy that changed nothing");
    }
);

backend_test!(
    fn data_retention_anonymizes_and_archives_when_enabled(db) {
        install(db);
        let mut seed = Seed::new(now());
        seed.user("admin");
        seed.user("olduser1").set("last_activity_at", at(-1096 * DAY));
        seed.user("olduser2").set("last_activity_at", at(-1100 * DAY));
        let archivist = seed.user(&housekeeper::state::user_name()).id();
        seed.company("Comp1", "C1");
        seed.company("OldCo", "OLD").set("DatUpdate", at(-1826 * DAY));
        seed.company("OlderCo", "OLDER").set("DatUpdate", at(-2000 * DAY));
        seed.default_retention_policies(Some(1));
        seed.audit_event(Some(2), "login_failed", "high", at(-2556 * DAY));
        seed.audit_event(None, "config_changed", "low", at(-3000 * DAY));
        seed.audit_event(Some(1), "login", "low", at(-DAY));
        apply(db, &seed);
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS", "hard_delete,soft_delete,grace_purge,anonymize,archive");
        let before = dump(db);
        let report = run_duty(&hk, "DataRetentionCleanup", 0);
        assert_eq!(report["status"], "ok", "{report:#}");
        assert_eq!(report["affected"], 6);
        assert_eq!(report["categories"], counts(&[("anonymized", 4), ("archived", 2)]));
        let after = dump(db);
        let mut expected = vec![
            "company [2] name: OldCo → [ANONYMIZED]-2".to_owned(),
            "company [2] ic: 01000002 → [ANONYMIZED]".to_owned(),
            "company [2] email: office@old.example.com → anonymized@deleted.user".to_owned(),
            "company [3] name: OlderCo → [ANONYMIZED]-3".to_owned(),
            "company [3] ic: 01000003 → [ANONYMIZED]".to_owned(),
            "company [3] email: office@older.example.com → anonymized@deleted.user".to_owned(),
            "security_audit_log [1] marked_for_deletion: 0 → 1".to_owned(),
            "security_audit_log [2] marked_for_deletion: 0 → 1".to_owned(),
            "data_archive [1] added".to_owned(),
            "data_archive [2] added".to_owned(),
        ];
        for (id, login) in [(2, "olduser1"), (3, "olduser2")] {
            let first = format!("{}{}", login[..1].to_uppercase(), &login[1..]);
            expected.extend([
                format!("user [{id}] login: {login} → deleted_user-{id}"),
                format!("user [{id}] email: {login}@example.com → anonymized@deleted.user-{id}"),
                format!("user [{id}] firstname: {first} → [ANONYMIZED]"),
                format!("user [{id}] lastname: Tester → [ANONYMIZED]"),
                format!("user [{id}] last_login_ip: 192.0.2.10 → 0.0.0.0"),
                format!("user [{id}] anonymized_at: NULL → 2026-11-28 09:00:00"),
            ]);
        }
        for n in 1..=3 {
            expected.push(format!("retention_cleanup_jobs [{n}] added"));
        }
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        assert_changes(&before, &after, &expected);

        let archive = rows_of(&after, "data_archive");
        let audit = rows_of(&before, "security_audit_log");
        for (row, source) in archive.iter().zip(&audit) {
            assert_eq!(row["archive_type"], "legal_hold");
            assert_eq!(row["source_table"], "security_audit_log");
            assert_eq!(row["source_record_id"], source["id"]);
            assert_eq!(row["archived_by"], archivist.to_string(), "the user named like the Unix user");
            assert_eq!(row["archived_reason"], "Legal retention archive");
            let copy: serde_json::Value = serde_json::from_str(&row["archived_data"]).expect("archived_data is JSON");
            assert_eq!(copy["id"].to_string(), source["id"]);
            assert_eq!(copy["event_type"], source["event_type"].as_str());
            assert_eq!(copy["event_description"], source["event_description"].as_str());
        }
        assert_eq!(
            columns_of(&after, "retention_cleanup_jobs", &["policy_id", "job_type", "summary"]),
            [
                "1|scheduled_cleanup|Processed: 2, Deleted: 0, Anonymized: 2, Archived: 0",
                "3|scheduled_cleanup|Processed: 2, Deleted: 0, Anonymized: 0, Archived: 2",
                "6|scheduled_cleanup|Processed: 2, Deleted: 0, Anonymized: 2, Archived: 0",
            ]
        );
        let again = run_duty(&hk, "DataRetentionCleanup", 0);
        assert_eq!(again["affected"], 0, "anonymized and archived rows are done: {again:#}");
        assert_changes(&after, &dump(db), &[]);
    }
);

backend_test!(
    fn data_retention_purges_only_rows_it_marked_once_the_grace_period_is_over(db) {
        install(db);
        let mut seed = Seed::new(now());
        let (app, company) = parents(&mut seed);
        seed.retention_policy("jobs", "job_execution_data", "job", 30, 7, "soft_delete", Some(1));
        let rt = seed.runtemplate(app, company, "d").id();
        let a = seed.succeeded_job(rt, at(-40 * DAY)).id();
        let b = seed.failed_job(rt, at(-41 * DAY), 1).id();
        for job in [a, b] {
            seed.output_line(job, 1, "stdout", "done");
            seed.artifact(job, "out.json", "{}");
        }
        // Marked by someone else (the web UI): never purged by this tool.
        seed.succeeded_job(rt, at(-50 * DAY)).set("marked_for_deletion", Value::Bool(true));
        apply(db, &seed);

        let mut hk = Tool::new(db);
        let first = run_duty(&hk, "DataRetentionCleanup", 0);
        assert_eq!(first["categories"], counts(&[("marked", 2)]));

        // Six days, 23:59:59 later: not due yet.
        hk.set("MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS", "hard_delete,soft_delete,grace_purge");
        hk.set("HOUSEKEEPER_NOW", "2026-12-05 08:59:59");
        let early = run_duty(&hk, "DataRetentionCleanup", 0);
        assert_eq!(early["affected"], 0, "{early:#}");

        // Seven days later the purge is due; with the default actions it is shown, off.
        hk.set("HOUSEKEEPER_NOW", "2026-12-05 09:00:00");
        hk.env.remove("MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS");
        let out = hk.run(&["plan", "--duty", "DataRetentionCleanup"]);
        assert_run(&out, 0);
        assert!(out.stdout.contains(
            "[off] delete job id 1–2 (2 rows) with its schedule, job_output_lines, artifacts, file_store rows — policy \"jobs\": 2 row(s) of job marked by housekeeper at least 7 days ago"
        ), "{}", out.stdout);

        hk.set("MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS", "hard_delete,soft_delete,grace_purge");
        let before = dump(db);
        let purge = run_duty(&hk, "DataRetentionCleanup", 0);
        assert_eq!(purge["affected"], 2, "{purge:#}");
        assert_eq!(purge["categories"], counts(&[("purged", 2)]));
        assert_eq!(purge["dependents"], counts(&[("artifacts", 2), ("job_output_lines", 2)]));
        let after = dump(db);
        assert_changes(&before, &after, &[
            "job [1] removed", "job [2] removed",
            "job_output_lines [1] removed", "job_output_lines [2] removed",
            "artifacts [1] removed", "artifacts [2] removed",
            "retention_cleanup_jobs [2] added",
        ]);
        assert_eq!(
            columns_of(&after, "retention_cleanup_jobs", &["policy_id", "job_type", "records_deleted"]),
            ["1|scheduled_cleanup|0", "1|grace_period_cleanup|2"]
        );
        assert_every_removed_row_journaled(&before, &after, &JournalView::read(&hk.state));
    }
);

backend_test!(
    fn data_retention_policy_errors_stay_with_their_policy(db) {
        install(db);
        let mut seed = Seed::new(now());
        let (app, company) = parents(&mut seed);
        seed.set_on("user", 1, "enabled", Value::Bool(false));
        let second = seed.user("second").id();
        let policy = |seed: &mut Seed, name: &str, table: &str, action: &str| {
            seed.retention_policy(name, "test_data", table, 30, 7, action, None).id()
        };
        policy(&mut seed, "bogus", "nope", "hard_delete");
        policy(&mut seed, "attempts_soft", "login_attempts", "soft_delete");
        policy(&mut seed, "users_gone", "user", "hard_delete");
        policy(&mut seed, "companies_gone", "company", "hard_delete");
        policy(&mut seed, "sessions_archive", "user_sessions", "archive");
        policy(&mut seed, "companies_anon", "company", "anonymize");
        // MySQL/MariaDB declare deletion_action an ENUM: an unknown action cannot be stored.
        let strange = db.engine() != Engine::Mysql;
        if strange {
            policy(&mut seed, "strange", "log", "shred");
        }
        let disabled = policy(&mut seed, "disabled", "nope2", "hard_delete");
        seed.set_on("data_retention_policies", disabled, "enabled", Value::Bool(false));
        policy(&mut seed, "logs", "log", "hard_delete");
        policy(&mut seed, "jobs_gone", "job", "hard_delete");
        policy(&mut seed, "audit_archive", "security_audit_log", "archive");
        seed.log("info", "seed", "old", at(-31 * DAY));
        seed.log("info", "seed", "new", at(-DAY));
        let rt = seed.runtemplate(app, company, "d").id();
        let old_job = seed.succeeded_job(rt, at(-31 * DAY)).id();
        seed.output_line(old_job, 1, "stdout", "old output");
        seed.stored_file(Some(old_job), Some(rt), "in.csv", b"1;2");
        seed.queue_entry(Some(old_job), at(-31 * DAY));
        seed.succeeded_job(rt, at(-DAY));
        seed.audit_event(None, "login", "low", at(-31 * DAY));
        apply(db, &seed);
        db.run_sql(&["ALTER TABLE company DROP COLUMN DatUpdate".to_owned()]
            .iter()
            .map(|s| if db.engine() == Engine::Postgres { s.replace("DatUpdate", "\"DatUpdate\"") } else { s.clone() })
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>());

        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS", "hard_delete,soft_delete,archive");
        let before = dump(db);
        let report = run_duty(&hk, "DataRetentionCleanup", 1);
        assert_eq!(report["status"], "failed");
        let mut errors = vec![
            "policy \"bogus\" (nope): table \"nope\" is not one this tool knows (known: user, user_sessions, security_audit_log, job, log, company, login_attempts)",
            "policy \"attempts_soft\" (login_attempts): soft_delete needs column login_attempts.marked_for_deletion",
            "policy \"users_gone\" (user): hard_delete is refused on user, which other tables reference; use anonymize",
            "policy \"companies_gone\" (company): hard_delete is refused on company, which other tables reference; use anonymize",
            "policy \"sessions_archive\" (user_sessions): archive needs an integer key, user_sessions.id is not",
            "policy \"companies_anon\" (company): table company has no column DatUpdate",
        ];
        if strange {
            errors.push("policy \"strange\" (log): unknown deletion_action \"shred\"");
        }
        assert_eq!(report["errors"], serde_json::json!(errors));
        assert_eq!(report["affected"], 3, "the good policies still apply: {report:#}");
        assert_eq!(report["categories"], counts(&[("archived", 1), ("deleted", 2)]));
        assert_eq!(report["dependents"], counts(&[("file_store", 1), ("job_output_lines", 1), ("schedule", 1)]));
        let after = dump(db);
        assert_changes(&before, &after, &[
            "log [1] removed",
            "job [1] removed",
            "job_output_lines [1] removed",
            "file_store [1] removed",
            "schedule [1] removed",
            "security_audit_log [1] marked_for_deletion: 0 → 1",
            "data_archive [1] added",
            "retention_cleanup_jobs [1] added",
            "retention_cleanup_jobs [2] added",
            "retention_cleanup_jobs [3] added",
        ]);
        assert_eq!(
            columns_of(&after, "data_archive", &["source_table", "source_record_id", "archived_by"]),
            [format!("security_audit_log|1|{second}")],
            "no user is named like the Unix user: the lowest enabled user archives"
        );
        assert_every_removed_row_journaled(&before, &after, &JournalView::read(&hk.state));
    }
);

backend_test!(
    fn data_retention_is_skipped_without_its_table(db) {
        install(db);
        db.run_sql(&[
            "DROP TABLE data_archive",
            "DROP TABLE retention_cleanup_jobs",
            "DROP TABLE data_retention_policies",
        ]);
        let hk = Tool::new(db);
        let report = run_duty(&hk, "DataRetentionCleanup", 0);
        assert_eq!(report["status"], "skipped");
        assert_eq!(report["reason"], "needs table data_retention_policies (migration 20250120185000)");
    }
);

backend_test!(
    fn data_retention_updates_leave_on_update_timestamps_alone(db) {
        install(db);
        let mut seed = Seed::new(now());
        seed.user("admin");
        seed.retention_policy("sessions_soft", "session_data", "user_sessions", 30, 7, "soft_delete", Some(1));
        seed.retention_policy("sessions_anon", "session_data", "user_sessions", 30, 7, "anonymize", Some(1));
        seed.session(1, at(-31 * DAY));
        seed.session(1, at(-DAY));
        apply(db, &seed);
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS", "soft_delete,anonymize");
        let before = dump(db);
        let report = run_duty(&hk, "DataRetentionCleanup", 0);
        assert_eq!(report["categories"], counts(&[("anonymized", 1), ("marked", 1)]));
        let key = session_key(1);
        // On MySQL/MariaDB user_sessions.last_activity is ON UPDATE CURRENT_TIMESTAMP; it keeps
        // its value (a change would show up here).
        assert_changes(&before, &dump(db), &[
            &format!("user_sessions [{key}] marked_for_deletion: 0 → 1"),
            &format!("user_sessions [{key}] ip_address: 198.51.100.7 → 0.0.0.0"),
            &format!("user_sessions [{key}] user_agent: Mozilla/5.0 (X11; Linux x86_64) → [ANONYMIZED]"),
            "retention_cleanup_jobs [1] added",
            "retention_cleanup_jobs [2] added",
        ]);
    }
);

backend_test!(
    fn data_retention_leaves_rows_that_became_active_after_planning(db) {
        seed_default_policies(db);
        let hk = Tool::new(db);
        let plan_file = db.dir().join("plan.json");
        assert_run(&hk.run(&["plan", "--duty", "DataRetentionCleanup", "--out", plan_file.to_str().unwrap()]), 0);
        // Session 1 was used again, job 3's retention was extended, log 3 is already gone.
        let key = session_key(1);
        db.run_sql(&[
            &format!("UPDATE user_sessions SET last_activity = '2026-11-28 08:00:00' WHERE id = '{key}'"),
            "UPDATE job SET retention_until = '2027-01-01 00:00:00' WHERE id = 3",
            "DELETE FROM log WHERE id = 3",
        ]);
        let before = dump(db);
        let out = hk.run(&["apply", plan_file.to_str().unwrap(), "--format", "json"]);
        assert_run(&out, 0);
        let report = duty(&out.json(), "DataRetentionCleanup").clone();
        assert_eq!(report["affected"], 6, "{report:#}");
        assert_eq!(
            report["drifted"],
            serde_json::json!([
                {"table": "user_sessions", "key": key, "reason": "no_longer_matches"},
                {"table": "job", "key": "3", "reason": "no_longer_matches"},
                {"table": "log", "key": "3", "reason": "gone"},
            ])
        );
        let got = changes(&before, &dump(db));
        assert!(!got.contains(&format!("user_sessions [{key}] removed")), "{got:#?}");
        assert!(!got.iter().any(|l| l.starts_with("job [3]")), "{got:#?}");
        assert!(got.contains("log [1] removed"), "{got:#?}");
    }
);
