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

use housekeeper_journal::Value;
use housekeeper_scenario::{self as scenario, Dump, Seed};

use crate::duties_rows::{
    apply, assert_changes, assert_every_removed_row_journaled, assert_run, at, changes, counts,
    dump, duty, install, lines, norm, now, parents, run_duty, JournalView, DAY, HOUR,
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

/// Ends the database sessions of a stopped housekeeper (PostgreSQL and MariaDB).
fn kill_sessions(db: &TestDb) {
    let mut conn = db.connect();
    let others = match db.engine() {
        Engine::Sqlite => unreachable!("SQLite has no session to end"),
        Engine::Postgres => "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        Engine::Mysql => "SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()",
    };
    let ids: Vec<i64> = {
        let mut view = conn.snapshot().expect("snapshot");
        view.query(others, &[])
            .expect("list sessions")
            .rows
            .iter()
            .filter_map(|r| r[0].as_i64())
            .collect()
    };
    assert!(!ids.is_empty(), "the stopped housekeeper has a session");
    for id in ids {
        let kill = match db.engine() {
            Engine::Postgres => format!("SELECT pg_terminate_backend({id})"),
            _ => format!("KILL {id}"),
        };
        conn.execute_ddl(&kill).expect("kill the session");
    }
}

backend_test!(
    fn record_rows_that_cannot_be_written_end_as_an_aborted_chunk_in_the_journal(db) {
        seed_default_policies(db);
        let hk = Tool::new(db);
        let mut child =
            hk.stopped_at("before-records", &["run", "--duty", "DataRetentionCleanup"]);
        // The table the record rows go to is gone: their statement fails.
        db.connect()
            .execute_ddl("ALTER TABLE retention_cleanup_jobs RENAME TO retention_cleanup_gone")
            .expect("rename the table");
        tool::signal(child.id(), "CONT");
        let status = child.wait().expect("wait");
        assert_ne!(status.code(), Some(0), "the record rows were not written");
        let outcomes: Vec<(u32, housekeeper_journal::ChunkStatus, Option<String>, bool)> =
            housekeeper_journal::read_records(&hk.state.join("journal"))
                .unwrap()
                .filter_map(|e| match e.unwrap().record {
                    housekeeper_journal::Record::ChunkOutcome {
                        duty,
                        chunk,
                        status,
                        error,
                        error_payload,
                        ..
                    } if duty == "DataRetentionCleanup" => {
                        Some((chunk, status, error, error_payload.is_some()))
                    }
                    _ => None,
                })
                .collect();
        let (last, committed) = outcomes.split_last().expect("chunk outcomes");
        assert!(
            committed
                .iter()
                .all(|o| o.1 == housekeeper_journal::ChunkStatus::Committed),
            "{outcomes:?}"
        );
        assert_eq!(
            (last.0, last.1),
            (
                u32::try_from(committed.len()).unwrap(),
                housekeeper_journal::ChunkStatus::Aborted
            ),
            "the record rows' chunk has its outcome: {outcomes:?}"
        );
        assert!(
            last.2.as_deref().is_some_and(|e| e.starts_with("sql_error")) && last.3,
            "with its error class and text: {outcomes:?}"
        );
    }
);

backend_test!(
    only(postgres, mysql)
    fn a_connection_lost_before_the_record_rows_leaves_their_chunk_to_recovery(db) {
        seed_default_policies(db);
        let hk = Tool::new(db);
        let mut child =
            hk.stopped_at("before-records", &["run", "--duty", "DataRetentionCleanup"]);
        kill_sessions(db);
        tool::signal(child.id(), "CONT");
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(4), "a lost connection ends the run with exit 4");
        let records = || -> Vec<housekeeper_journal::Record> {
            housekeeper_journal::read_records(&hk.state.join("journal"))
                .unwrap()
                .map(|e| e.unwrap().record)
                .collect()
        };
        let chunks = |records: &[housekeeper_journal::Record]| -> Vec<u32> {
            records
                .iter()
                .filter_map(|r| match r {
                    housekeeper_journal::Record::ChunkOutcome { duty, chunk, .. }
                        if duty == "DataRetentionCleanup" =>
                    {
                        Some(*chunk)
                    }
                    _ => None,
                })
                .collect()
        };
        let before = records();
        let applied = chunks(&before);
        assert!(
            !before.iter().any(|r| matches!(r, housekeeper_journal::Record::RunEnd { .. })),
            "the run is left open for recovery"
        );
        // The next start recovers it: the record rows' chunk has no anchor, so it did not
        // commit, and the duty is closed as interrupted.
        let out = hk.run_when_free(&["run", "--duty", "StaleTaskFinalization"]);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stderr.contains("DataRetentionCleanup was interrupted"), "{}", out.stderr);
        let after = records();
        assert_eq!(chunks(&after), applied, "no outcome is invented for the lost chunk");
        assert_eq!(hk.run(&["journal", "verify"]).code, 0);
    }
);

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
        // The duty plans afresh: what no longer qualifies is not planned now.
        assert_eq!(
            report["drifted"],
            serde_json::json!([
                {"table": "log", "key": "3", "reason": "not_planned_now"},
                {"table": "user_sessions", "key": key, "reason": "not_planned_now"},
                {"table": "job", "key": "3", "reason": "not_planned_now"},
            ])
        );
        let got = changes(&before, &dump(db));
        assert!(!got.contains(&format!("user_sessions [{key}] removed")), "{got:#?}");
        assert!(!got.iter().any(|l| l.starts_with("job [3]")), "{got:#?}");
        assert!(got.contains("log [1] removed"), "{got:#?}");
    }
);

// ----- DiskTempFileCleanup -------------------------------------------------------------------

/// Sets a path's own modification time (a symbolic link's, not its target's) `hours` before
/// the tool's `now`, with coreutils `touch -h`.
fn age_link(path: &Path, hours: u64) {
    let when = tool::now_system() - Duration::from_secs(hours * 3600);
    let secs = when
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let status = Command::new("touch")
        .arg("-h")
        .arg("-d")
        .arg(format!("@{secs}"))
        .arg(path)
        .status()
        .expect("run touch");
    assert!(status.success(), "touch -h {}", path.display());
}

/// Creates a file with `content` and an mtime `hours` before the tool's `now`.
fn file(path: &Path, content: &[u8], hours: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    let when = tool::now_system() - Duration::from_secs(hours * 3600);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(when))
        .unwrap();
}

/// Sets a file's mtime to exactly `seconds` before the tool's `now`.
fn age_exactly(path: &Path, seconds: u64) {
    let when = tool::now_system() - Duration::from_secs(seconds);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(when))
        .unwrap();
}

/// A job environment as MultiFlexi core stores it: a serialized `ConfigFields` object, cut at
/// its first NUL byte on PostgreSQL as PHP's PDO leaves it there.
fn config_fields_env(engine: Engine, job: i64, fields: &[(&str, &str, &str)]) -> Value {
    let mut all = vec![scenario::EnvField::new(
        "MULTIFLEXI_JOB_ID",
        "integer",
        &job.to_string(),
        "Job",
    )];
    all.extend(
        fields
            .iter()
            .map(|(code, kind, value)| scenario::EnvField::new(code, kind, value, "Application")),
    );
    Value::Text(scenario::as_stored_by_php(
        engine.into(),
        &scenario::php_serialized_config_fields("Job", &all),
    ))
}

/// Every regular file and link under `dir` (see `scenario::file_tree`).
fn tree(dir: &Path) -> BTreeMap<String, scenario::FileState> {
    scenario::file_tree(dir)
}

/// Relative paths of what a quarantine holds (the run-id directory stripped).
fn quarantined(state: &Path) -> BTreeMap<String, (Vec<u8>, u32, u32, u32, i128)> {
    tree(&state.join("quarantine"))
        .into_iter()
        .map(|(p, meta)| {
            (
                p.split_once('/')
                    .map_or(p.clone(), |(_, rest)| rest.to_owned()),
                meta,
            )
        })
        .collect()
}

/// What a file looks like in the quarantine: a regular file is `0600` there (its original
/// mode is recorded and comes back with undo), a link is as it was.
fn private(state: &scenario::FileState) -> scenario::FileState {
    let mut state = state.clone();
    if state.1 & 0o170_000 == 0o100_000 {
        state.1 = (state.1 & !0o7777) | 0o600;
    }
    state
}

backend_test!(
    fn disk_temp_file_cleanup_quarantines_old_unreferenced_files_and_links_only(db) {
        install(db);
        let hk = Tool::new(db);
        let tmp = hk.tmp.clone();
        let t = |rel: &str| tmp.join(rel).to_string_lossy().into_owned();
        let engine = db.engine();
        let postgres = engine == Engine::Postgres;

        let mut seed = Seed::new(now());
        let (app, company) = parents(&mut seed);
        let rt = seed.runtemplate(app, company, "d").id();
        // A running job whose ConfigFields name a result file and a path with spaces.
        seed.running_job(rt, at(-3 * DAY)).set("env", config_fields_env(engine, 1, &[
            ("RESULT_FILE", "file-path", &t("job-1/result.json")),
            ("EXPORT_TO", "file-path", &t("job-1/out dir/report 2026.csv")),
            ("MULTIFLEXI_TMP", "string", &t("")),
        ]));
        // A queued job with a hand-written JSON env (slashes escaped as PHP does).
        seed.queued_job(rt, at(HOUR)).set(
            "env",
            Value::Text(format!("{{\"RESULT_FILE\":\"{}\"}}", t("json/result.json").replace('/', "\\/"))),
        );
        // An unfinished job whose env is neither: scanned as text; it names a directory.
        seed.running_job(rt, at(-DAY)).set(
            "env",
            Value::Text(format!("RESULT_FILE={} WORKDIR={}/ LOG=/var/log/x", t("text/out.csv"), t("workdir"))),
        );
        // A finished job's references protect nothing.
        seed.succeeded_job(rt, at(-3 * DAY)).set("env", config_fields_env(engine, 4, &[
            ("RESULT_FILE", "file-path", &t("finished/result.json")),
        ]));
        apply(db, &seed);

        let outside = db.dir().join("outside");
        file(&outside.join("secret.txt"), b"not the temp dir's", 100);
        file(&outside.join("dir/inner.txt"), b"inner", 100);
        for (rel, hours) in [
            ("old.txt", 72),
            ("new.txt", 1),
            ("job-1/result.json", 72),
            ("job-1/out dir/report 2026.csv", 72),
            ("json/result.json", 72),
            ("text/out.csv", 72),
            ("workdir/a/deep.bin", 72),
            ("finished/result.json", 72),
            ("edge/over.txt", 0),
            ("edge/exact.txt", 0),
            ("edge/under.txt", 0),
        ] {
            file(&tmp.join(rel), format!("{rel}\n").as_bytes(), hours);
        }
        age_exactly(&tmp.join("edge/over.txt"), 24 * 3600 + 1);
        age_exactly(&tmp.join("edge/exact.txt"), 24 * 3600);
        age_exactly(&tmp.join("edge/under.txt"), 24 * 3600 - 1);
        std::os::unix::fs::symlink(outside.join("secret.txt"), tmp.join("link-out")).unwrap();
        age_link(&tmp.join("link-out"), 72);
        std::os::unix::fs::symlink(outside.join("secret.txt"), tmp.join("link-fresh")).unwrap();
        std::os::unix::fs::symlink(outside.join("dir"), tmp.join("dir-link")).unwrap();
        age_link(&tmp.join("dir-link"), 72);
        std::fs::create_dir_all(tmp.join("empty/nested")).unwrap();
        let fifo = Command::new("mkfifo").arg(tmp.join("pipe")).status().expect("mkfifo");
        assert!(fifo.success());
        let before_tmp = tree(&tmp);
        let before_outside = tree(&outside);

        let out = hk.run(&["plan", "--duty", "DiskTempFileCleanup"]);
        assert_run(&out, 0);
        for line in [
            format!("quarantine symlink {} (", t("link-out")),
            format!("quarantine {} (8 bytes) — file last modified about 72 h ago, older than 24 h", t("old.txt")),
            format!("quarantine {} (", t("edge/over.txt")),
            format!("note: {} is referenced by an unfinished job; kept", t("json/result.json")),
        ] {
            assert!(out.stdout.contains(&line), "plan lacks {line:?}:\n{}", out.stdout);
        }

        let report = run_duty(&hk, "DiskTempFileCleanup", 0);
        let mut moved = vec!["old.txt", "finished/result.json", "edge/over.txt", "link-out", "dir-link"];
        if postgres {
            // The ConfigFields env was cut at its first NUL byte: it names nothing there.
            moved.extend(["job-1/result.json", "job-1/out dir/report 2026.csv"]);
        }
        assert_eq!(report["status"], "ok", "{report:#}");
        assert_eq!(report["affected"], moved.len());
        assert_eq!(report["categories"], counts(&[("files", moved.len() as u64)]));
        assert_eq!(report["files"]["moved"], moved.len());
        let moved_set = lines(&moved);
        let in_quarantine = quarantined(&hk.state);
        assert_eq!(in_quarantine.keys().cloned().collect::<BTreeSet<_>>(), moved_set);
        for (rel, meta) in &in_quarantine {
            assert_eq!(Some(meta), before_tmp.get(rel).map(private).as_ref(), "{rel} is kept byte for byte, with its owner and times, private");
        }
        let left: BTreeSet<String> = tree(&tmp).into_keys().collect();
        let expected_left: BTreeSet<String> = before_tmp.keys().filter(|k| !moved_set.contains(*k)).cloned().collect();
        assert_eq!(left, expected_left);
        assert!(tmp.join("empty/nested").is_dir(), "directories stay");
        assert!(tmp.join("pipe").exists(), "only regular files and links are swept");
        assert_eq!(tree(&outside), before_outside, "link targets outside the temp dir are untouched");

        let journal = JournalView::read(&hk.state);
        let planned: BTreeSet<String> = moved.iter().map(|rel| format!("QuarantineFile {}  old_temp_file", t(rel))).collect();
        assert_eq!(journal.plan_lines("DiskTempFileCleanup"), planned);
    }
);

/// `housekeeper` run as `nobody` (CI runs as root, to whom `chmod 000` hides nothing).
fn run_as_nobody(hk: &Tool, args: &[&str]) -> Out {
    let inner = hk.command(args);
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"]);
    cmd.arg(inner.get_program());
    cmd.args(inner.get_args());
    cmd.env_clear();
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().expect("run setpriv");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Hands a tree to `nobody` (uid and gid 65534), links included.
fn chown_to_nobody(path: &Path) {
    std::os::unix::fs::lchown(path, Some(65534), Some(65534)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_to_nobody(&entry.unwrap().path());
        }
    }
}

backend_test!(
    fn disk_temp_file_cleanup_walks_a_large_tree_with_unreadable_directories_as_nobody(db) {
        install(db);
        let mut seed = Seed::new(now());
        let (app, company) = parents(&mut seed);
        let rt = seed.runtemplate(app, company, "d").id();
        let hk = Tool::new(db);
        let tmp = hk.tmp.clone();
        // Jobs referring to every tenth old file.
        let mut referenced = BTreeSet::new();
        let mut expected_moved = BTreeSet::new();
        let mut locked_files = Vec::new();
        let outside = db.dir().join("outside.txt");
        file(&outside, b"outside", 100);
        for d in 0..20 {
            for f in 0..20 {
                let rel = format!("batch-{d:02}/sub-{}/file-{f:02}.dat", f % 3);
                let old = (d + f) % 2 == 0;
                file(&tmp.join(&rel), format!("{rel} {}", "x".repeat(f)).as_bytes(), if old { 48 } else { 2 });
                if old && f % 10 == 0 {
                    referenced.insert(rel);
                } else if old {
                    expected_moved.insert(rel);
                }
            }
            let link = format!("batch-{d:02}/link");
            std::os::unix::fs::symlink(&outside, tmp.join(&link)).unwrap();
            if d % 2 == 0 {
                age_link(&tmp.join(&link), 48);
                expected_moved.insert(link);
            }
        }
        for locked in ["locked", "batch-03/locked-too", "batch-07/sub-1/deep/locked"] {
            for f in 0..5 {
                let rel = format!("{locked}/old-{f}.dat");
                file(&tmp.join(&rel), b"unreachable", 48);
                locked_files.push(rel);
            }
        }
        let env = referenced
            .iter()
            .map(|rel| format!("{}", tmp.join(rel).display()))
            .collect::<Vec<_>>()
            .join(" ");
        seed.running_job(rt, at(-HOUR)).set("env", Value::Text(format!("FILES={env}")));
        apply(db, &seed);

        chown_to_nobody(db.dir());
        for locked in ["locked", "batch-03/locked-too", "batch-07/sub-1/deep/locked"] {
            std::fs::set_permissions(tmp.join(locked), std::fs::Permissions::from_mode(0o000)).unwrap();
        }
        let before = tree(&tmp);
        let started = Instant::now();
        let out = run_as_nobody(&hk, &["run", "--duty", "DiskTempFileCleanup", "--format", "json"]);
        assert_run(&out, 1);
        let report = duty(&out.json(), "DiskTempFileCleanup").clone();
        assert_eq!(report["status"], "failed");
        let errors: BTreeSet<String> = report["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_owned()).collect();
        let expected_errors: BTreeSet<String> = ["locked", "batch-03/locked-too", "batch-07/sub-1/deep/locked"]
            .iter()
            .map(|l| format!("cannot read directory {}: Permission denied (os error 13)", tmp.join(l).display()))
            .collect();
        assert_eq!(errors, expected_errors);
        assert_eq!(report["files"]["moved"], expected_moved.len(), "the walk went on past every unreadable directory");
        assert_eq!(report["affected"], expected_moved.len());
        let in_quarantine = quarantined(&hk.state);
        assert_eq!(in_quarantine.keys().cloned().collect::<BTreeSet<_>>(), expected_moved);
        for (rel, meta) in &in_quarantine {
            assert_eq!(Some(meta), before.get(rel).map(private).as_ref(), "{rel}");
            assert_eq!(meta.2, 65534, "{rel} still belongs to its owner");
        }
        let left = tree(&tmp);
        for rel in referenced.iter().chain(&locked_files) {
            assert_eq!(left.get(rel), before.get(rel), "{rel} stays as it was");
        }
        assert_eq!(left.len() + in_quarantine.len(), before.len());
        eprintln!("walked and moved {} of {} entries in {:?}", expected_moved.len(), before.len(), started.elapsed());
        for locked in ["locked", "batch-03/locked-too", "batch-07/sub-1/deep/locked"] {
            std::fs::set_permissions(tmp.join(locked), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
);

backend_test!(
    fn disk_temp_file_cleanup_refuses_system_and_state_directories_and_skips_a_missing_one(db) {
        install(db);
        let mut hk = Tool::new(db);
        for (tmp, message) in [
            (PathBuf::from("/tmp"), "refusing to sweep /tmp (MULTIFLEXI_TMP=/tmp): it is a system directory".to_owned()),
            (PathBuf::from("/var/tmp/"), "refusing to sweep /var/tmp (MULTIFLEXI_TMP=/var/tmp/): it is a system directory".to_owned()),
            (
                db.dir().to_path_buf(),
                format!(
                    "refusing to sweep {}: it contains the state directory {}",
                    std::fs::canonicalize(db.dir()).unwrap().display(),
                    hk.state.display()
                ),
            ),
        ] {
            hk.tmp = tmp;
            let report = run_duty(&hk, "DiskTempFileCleanup", 1);
            assert_eq!(report["status"], "failed");
            assert_eq!(report["errors"], serde_json::json!([message]));
            assert_eq!(report["affected"], 0);
        }
        if let Some(sqlite) = db.sqlite_path() {
            hk.tmp = db.dir().to_path_buf();
            hk.state = PathBuf::from("/dev/shm").join(format!("hk-state-{}", std::process::id()));
            let report = run_duty(&hk, "DiskTempFileCleanup", 1);
            assert_eq!(
                report["errors"],
                serde_json::json!([format!(
                    "refusing to sweep {}: it contains the database {}",
                    std::fs::canonicalize(db.dir()).unwrap().display(),
                    sqlite.display()
                )])
            );
            let _ = std::fs::remove_dir_all(&hk.state);
            hk.state = db.dir().join("state");
        }
        hk.tmp = db.dir().join("no-such-dir");
        let report = run_duty(&hk, "DiskTempFileCleanup", 0);
        assert_eq!(report["status"], "skipped");
        assert_eq!(report["reason"], format!("temp directory {} does not exist", hk.tmp.display()));
    }
);

backend_test!(
    fn disk_temp_file_cleanup_skips_files_that_vanished_or_changed_after_planning(db) {
        install(db);
        let hk = Tool::new(db);
        for rel in ["gone.txt", "grown.txt", "touched.txt", "replaced.txt", "kept-going.txt"] {
            file(&hk.tmp.join(rel), rel.as_bytes(), 48);
        }
        let plan_file = db.dir().join("plan.json");
        assert_run(&hk.run(&["plan", "--duty", "DiskTempFileCleanup", "--out", plan_file.to_str().unwrap()]), 0);
        std::fs::remove_file(hk.tmp.join("gone.txt")).unwrap();
        std::fs::OpenOptions::new().append(true).open(hk.tmp.join("grown.txt")).unwrap();
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(hk.tmp.join("grown.txt")).unwrap();
            f.write_all(b" and more").unwrap();
        }
        age_exactly(&hk.tmp.join("grown.txt"), 48 * 3600);
        age_exactly(&hk.tmp.join("touched.txt"), 47 * 3600);
        // Same name, size and time, but another file (written beside it and renamed over it, as
        // editors save: a new inode, which removing first and then creating could reuse).
        file(&hk.tmp.join("replaced.new"), b"replaced.txt", 48);
        std::fs::rename(hk.tmp.join("replaced.new"), hk.tmp.join("replaced.txt")).unwrap();
        let out = hk.run(&["apply", plan_file.to_str().unwrap(), "--format", "json"]);
        assert_run(&out, 0);
        let report = duty(&out.json(), "DiskTempFileCleanup").clone();
        assert_eq!(report["status"], "ok", "{report:#}");
        assert_eq!(report["files"]["moved"], 1);
        assert_eq!(report["files"]["skipped"], 4);
        assert_eq!(report["affected"], 1);
        let p = |rel: &str| hk.tmp.join(rel).to_string_lossy().into_owned();
        assert_eq!(
            report["drifted"],
            serde_json::json!([
                {"table": "file", "key": p("gone.txt"), "reason": "not_planned_now"},
                {"table": "file", "key": p("grown.txt"), "reason": "not_planned_now"},
                {"table": "file", "key": p("replaced.txt"), "reason": "not_planned_now"},
                {"table": "file", "key": p("touched.txt"), "reason": "not_planned_now"},
            ])
        );
        assert_eq!(quarantined(&hk.state).into_keys().collect::<Vec<_>>(), ["kept-going.txt"]);
        for rel in ["grown.txt", "touched.txt", "replaced.txt"] {
            assert!(hk.tmp.join(rel).exists(), "{rel} stays where it is");
        }
    }
);

backend_test!(
    only(sqlite) fn quarantine_across_filesystems_keeps_bytes_and_metadata(db) {
        // The state dir on tmpfs, the temp dir on the disk: files are copied, synced, verified
        // and removed rather than renamed.
        let shm = Path::new("/dev/shm");
        use std::os::unix::fs::MetadataExt;
        let (Ok(a), Ok(b)) = (std::fs::metadata(shm), std::fs::metadata(db.dir())) else {
            panic!("/dev/shm is needed for the cross-filesystem case");
        };
        assert_ne!(a.dev(), b.dev(), "/dev/shm must be another filesystem");
        install(db);
        let mut hk = Tool::new(db);
        let state = tempfile::Builder::new().prefix("hk-state-").tempdir_in(shm).unwrap();
        hk.state = state.path().join("state");
        let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        file(&hk.tmp.join("bin/blob.bin"), &binary, 48);
        file(&hk.tmp.join("private.txt"), b"secret", 48);
        std::fs::set_permissions(hk.tmp.join("private.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::lchown(hk.tmp.join("private.txt"), Some(65534), Some(65534)).unwrap();
        age_exactly(&hk.tmp.join("private.txt"), 48 * 3600);
        std::os::unix::fs::symlink("/etc/hostname", hk.tmp.join("link")).unwrap();
        age_link(&hk.tmp.join("link"), 48);
        let before = tree(&hk.tmp);
        let report = run_duty(&hk, "DiskTempFileCleanup", 0);
        assert_eq!(report["files"]["moved"], 3, "{report:#}");
        assert_eq!(report["files"]["bytes"], 70_000 + 6 + "/etc/hostname".len() as u64);
        let summary = |tree: BTreeMap<String, (Vec<u8>, u32, u32, u32, i128)>| -> BTreeMap<String, String> {
            tree.into_iter()
                .map(|(p, (bytes, mode, uid, gid, mtime))| {
                    (p, format!("{} bytes {} mode {mode:o} owner {uid}:{gid} mtime {mtime}", bytes.len(), blake3::hash(&bytes)))
                })
                .collect()
        };
        let kept = summary(quarantined(&hk.state));
        let was = summary(before.iter().map(|(p, s)| (p.clone(), private(s))).collect());
        assert_eq!(kept, was, "bytes, link target, owner and mtime all kept; files private");
        let link = hk.tmp.join("link").to_string_lossy().into_owned();
        let recorded = housekeeper_journal::read_records(&hk.state.join("journal"))
            .unwrap()
            .filter_map(|e| match e.unwrap().record {
                housekeeper_journal::Record::FileIntent { path, meta, .. } if path == link => Some(meta),
                _ => None,
            })
            .next()
            .expect("an intent record for the link");
        assert_eq!(recorded.mtime_ns, before["link"].4);
        assert_eq!(recorded.link_target, Some("/etc/hostname".into()));
        assert!(tree(&hk.tmp).is_empty());
    }
);

/// A path inside `dir` whose last component is exactly `name` (any bytes).
fn named(dir: &Path, name: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    dir.join(std::ffi::OsStr::from_bytes(name))
}

/// Bytes, permission bits and mtime (ns) of a regular file.
fn file_facts(path: &Path) -> (Vec<u8>, u32, i128) {
    use std::os::unix::fs::MetadataExt;
    let meta =
        std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(meta.is_file(), "{} is a regular file", path.display());
    let mtime = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    (std::fs::read(path).unwrap(), meta.mode() & 0o7777, mtime)
}

fn hex(bytes: &[u8]) -> String {
    housekeeper_journal::PathBytes::from_bytes(bytes).to_hex()
}

backend_test!(
    fn temp_files_with_any_name_are_quarantined_private_shown_escaped_and_restored(db) {
        install(db);
        let hk = Tool::new(db);
        let not_utf8: &[u8] = b"r\xe9sultat-\xff.csv";
        let newline: &[u8] = b"line\nbreak.txt";
        let plain: &[u8] = b"plain.txt";
        let mut before = BTreeMap::new();
        for name in [not_utf8, newline, plain] {
            let path = named(&hk.tmp, name);
            file(&path, &[name, b" content"].concat(), 48);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            before.insert(name, file_facts(&path));
        }
        let tmp_text = hk.tmp.display().to_string();
        let full = |name: &[u8]| [tmp_text.as_bytes(), b"/", name].concat();

        let planned = hk.run(&["plan", "--duty", "DiskTempFileCleanup", "--format", "json"]);
        assert_run(&planned, 0);
        let raw_hex = format!(r#""bytes_hex":"{}""#, hex(&full(not_utf8)));
        assert!(planned.json().to_string().contains(&raw_hex), "{}", planned.stdout);

        let out = hk.run(&["run", "--duty", "DiskTempFileCleanup", "--format", "json"]);
        assert_run(&out, 0);
        let report = out.json();
        let run = report["run_id"].as_str().unwrap().to_owned();
        let cleanup = duty(&report, "DiskTempFileCleanup");
        assert_eq!(cleanup["files"]["moved"], 3, "{cleanup:#}");
        let kept = hk.state.join("quarantine").join(&run);
        for (name, (bytes, _, mtime)) in &before {
            assert!(std::fs::symlink_metadata(named(&hk.tmp, name)).is_err(), "{name:?} left the temp dir");
            let facts = file_facts(&named(&kept, name));
            assert_eq!(facts, (bytes.clone(), 0o600, *mtime), "{name:?} is in the quarantine, byte for byte, private");
        }

        // The next run finds nothing to do: no name is planned again as vanished.
        let again = hk.run(&["run", "--duty", "DiskTempFileCleanup", "--format", "json"]);
        assert_run(&again, 0);
        let again = again.json();
        let second = duty(&again, "DiskTempFileCleanup");
        assert_eq!(second["affected"], 0, "{second:#}");
        assert_eq!(second["drifted"].as_array().map_or(0, Vec::len), 0, "{second:#}");

        // Shown escaped in text, exactly in JSON.
        let shown = hk.run(&["journal", "show", &run]);
        assert_run(&shown, 0);
        for escaped in [r"r\xe9sultat-\xff.csv", r"line\nbreak.txt"] {
            assert!(shown.stdout.contains(&format!("{tmp_text}/{escaped} → ")), "{escaped} in\n{}", shown.stdout);
        }
        assert!(!shown.stdout.contains("line\nbreak"), "a name cannot break a line:\n{}", shown.stdout);
        let json = hk.run(&["journal", "show", &run, "--format", "json"]).json();
        let paths: Vec<&serde_json::Value> = json["files"].as_array().unwrap().iter().map(|f| &f["path"]).collect();
        assert!(paths.contains(&&serde_json::json!({"bytes_hex": hex(&full(not_utf8))})), "{paths:?}");
        assert!(paths.contains(&&serde_json::json!(format!("{tmp_text}/line\nbreak.txt"))), "{paths:?}");
        let found = hk.run(&["journal", "find", "--path", &format!("{tmp_text}/line\nbreak.txt")]);
        assert_run(&found, 0);
        assert!(found.stdout.contains(r"line\nbreak.txt → "), "{}", found.stdout);

        // Undo brings every name back, byte for byte, with its mode and mtime.
        let undo = hk.run(&["undo", &run]);
        assert_run(&undo, 0);
        for (name, facts) in &before {
            assert_eq!(&file_facts(&named(&hk.tmp, name)), facts, "{name:?} is back as it was");
            assert!(std::fs::symlink_metadata(named(&kept, name)).is_err());
        }
    }
);

/// `housekeeper` with its file size limited to `bytes` (SIGXFSZ ignored, so a write past the
/// limit fails with EFBIG as on a full disk instead of killing the process).
fn run_with_file_size_limit(hk: &Tool, bytes: u64, args: &[&str]) -> Out {
    let inner = hk.command(args);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"trap '' XFSZ; exec prlimit --fsize="$0" -- "$@""#)
        .arg(bytes.to_string())
        .arg(inner.get_program())
        .args(inner.get_args());
    cmd.env_clear();
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env("PATH", "/usr/bin:/bin");
    let out = cmd.output().expect("run sh");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

backend_test!(
    only(sqlite) fn a_copy_across_filesystems_that_fails_leaves_no_partial_file(db) {
        let shm = Path::new("/dev/shm");
        install(db);
        let mut hk = Tool::new(db);
        let state = tempfile::Builder::new().prefix("hk-state-").tempdir_in(shm).unwrap();
        hk.state = state.path().join("state");
        let big: Vec<u8> = (0..=255u8).cycle().take(6 << 20).collect();
        file(&hk.tmp.join("big.bin"), &big, 48);
        let before = file_facts(&hk.tmp.join("big.bin"));

        // Writes past 2 MiB fail (EFBIG), as on a full disk, in the middle of the copy.
        let out = run_with_file_size_limit(&hk, 2 << 20, &["run", "--duty", "DiskTempFileCleanup", "--format", "json"]);
        assert_run(&out, 1);
        let cleanup = duty(&out.json(), "DiskTempFileCleanup").clone();
        assert_eq!(cleanup["status"], "failed", "{cleanup:#}");
        assert_eq!(cleanup["files"]["moved"], 0, "{cleanup:#}");
        let error = format!("{}: copying it to another filesystem failed, nothing was moved: ", hk.tmp.join("big.bin").display());
        assert!(cleanup["errors"][0].as_str().unwrap().starts_with(&error), "{cleanup:#}");
        assert!(cleanup["errors"][0].as_str().unwrap().ends_with("File too large (os error 27)"), "{cleanup:#}");
        assert_eq!(file_facts(&hk.tmp.join("big.bin")), before, "the original stays as it was");
        assert!(tree(&hk.state.join("quarantine")).is_empty(), "no partial copy in the quarantine");
        let outcome = housekeeper_journal::read_records(&hk.state.join("journal"))
            .unwrap()
            .filter_map(|e| match e.unwrap().record {
                housekeeper_journal::Record::FileOutcome { status, .. } => Some(status),
                _ => None,
            })
            .collect::<Vec<_>>();
        assert_eq!(outcome, [housekeeper_journal::FileStatus::Failed { error: "io_error".into() }]);

        // A copy a crash left behind is not a quarantined file, and the next start removes it.
        let partial = hk.state.join("quarantine/.partial/0123456789abcdef.part");
        std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
        std::fs::write(&partial, b"half").unwrap();
        let list = hk.run(&["quarantine", "list", "--format", "json"]).json();
        let runs = list["runs"].as_array().unwrap();
        assert!(runs.iter().all(|r| r["run_id"] != ".partial" && r["files"] == 0), "{list:#}");
        let report = run_duty(&hk, "DiskTempFileCleanup", 0);
        assert_eq!(report["files"]["moved"], 1, "{report:#}");
        assert!(!partial.exists(), "the leftover was removed at start");
        let kept = quarantined(&hk.state);
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["big.bin"]);
        assert_eq!(kept["big.bin"].0, big);
        assert_eq!(kept["big.bin"].1 & 0o7777, 0o600);
    }
);

// ----- CredentialHealthCheck -------------------------------------------------------------------

pub(crate) fn seed_credentials(db: &TestDb) {
    install(db);
    let mut seed = Seed::new(now());
    let (app, company) = parents(&mut seed);
    let rt1 = seed.runtemplate(app, company, "d").id();
    let rt2 = seed.runtemplate(app, company, "h").id();
    let rt3 = seed.runtemplate(app, company, "d").id();
    seed.set_on("runtemplate", rt3, "active", Value::Bool(false));
    let rt4 = seed.runtemplate(app, company, "n").id();
    // 1: FioBank with a token, on two scheduled runtemplates: probed once.
    let fio = seed.credential_type(company, "Fio", "FioBank").id();
    seed.credential_type_option(fio, "FIO_TOKEN", "secret-token");
    let c1 = seed.credential(fio, "Fio main").id();
    seed.assign_credential(rt1, c1);
    seed.assign_credential(rt2, c1);
    // 2: FioBank without a token and without its required account number.
    let fio_empty = seed.credential_type(company, "Fio empty", "FioBank").id();
    seed.credential_type_option(fio_empty, "FIO_TOKEN", "");
    seed.credential_type_field(fio_empty, "ACCOUNT", true, None);
    let c2 = seed.credential(fio_empty, "Fio empty").id();
    seed.assign_credential(rt1, c2);
    // 3, 4: a Common type with required fields, one with a default.
    let mail = seed.credential_type(company, "Mail", "Common").id();
    seed.credential_type_field(mail, "SMTP_HOST", true, None);
    seed.credential_type_field(mail, "SMTP_PORT", true, Some("25"));
    seed.credential_type_field(mail, "SMTP_USER", false, None);
    let c3 = seed.credential(mail, "Mail ok").id();
    seed.credential_value(c3, "SMTP_HOST", "smtp.example.com");
    let c4 = seed.credential(mail, "Mail broken").id();
    seed.credential_value(c4, "SMTP_HOST", "  ");
    seed.assign_credential(rt2, c3);
    seed.assign_credential(rt2, c4);
    // 5: a prototype defined in the database, with a required field nobody filled.
    let proto = seed.credential_prototype("AcmeApi", "Acme API").id();
    seed.credential_prototype_field(proto, "API_KEY", true, None);
    seed.credential_prototype_field(proto, "API_URL", true, Some("https://api.example.com"));
    let acme = seed.credential_type(company, "Acme", "AcmeApi").id();
    let c5 = seed.credential(acme, "Acme").id();
    seed.assign_credential(rt1, c5);
    // 6: misconfigured, but only on an inactive and a disabled runtemplate: not checked.
    let c6 = seed.credential(fio_empty, "Fio idle").id();
    seed.assign_credential(rt3, c6);
    seed.assign_credential(rt4, c6);
    apply(db, &seed);
}

const MISCONFIGURED: [&str; 3] = [
    "credential \"Fio empty\" (#2) for runtemplate #1 is MISCONFIGURED: required field(s) without a value: ACCOUNT; Fio API token is not set",
    "credential \"Mail broken\" (#4) for runtemplate #2 is MISCONFIGURED: required field(s) without a value: SMTP_HOST",
    "credential \"Acme\" (#5) for runtemplate #1 is MISCONFIGURED: required field(s) without a value: API_KEY",
];

/// Runs the check against `endpoint`, asserts it changed nothing, returns its report.
fn check_credentials(db: &TestDb, endpoint: &str) -> serde_json::Value {
    seed_credentials(db);
    let mut hk = Tool::new(db);
    hk.set("MULTIFLEXI_HOUSEKEEPER_FIO_URL", endpoint);
    let before = dump(db);
    let report = run_duty(&hk, "CredentialHealthCheck", 0);
    assert_changes(&before, &dump(db), &[]);
    assert!(
        !hk.state.join("journal").exists() || JournalView::read(&hk.state).plans.is_empty(),
        "a read-only duty journals no plan"
    );
    assert_eq!(
        report["status"], "ok",
        "findings do not fail the duty: {report:#}"
    );
    assert_eq!(report["errors"], serde_json::json!([]));
    assert_eq!(
        report["affected"], 0,
        "a read-only duty changes nothing: its findings are counted as findings"
    );
    report
}

fn misconfigured_findings(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "misconfigured")
        .map(|f| {
            assert_eq!(f["level"], "error");
            f["message"].as_str().unwrap().to_owned()
        })
        .collect()
}

backend_test!(
    fn credential_health_check_finds_misconfigured_credentials_and_an_available_fio(db) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let report = check_credentials(db, &format!("https://127.0.0.1:{port}/"));
        assert_eq!(misconfigured_findings(&report), MISCONFIGURED);
        assert_eq!(report["findings"].as_array().unwrap().len(), 3);
        assert_eq!(
            report["notes"],
            serde_json::json!(["credential \"Fio main\" (#1) for runtemplates #1, #2 is available"])
        );
        drop(listener);

        // Switched off, it is skipped and says why.
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_CREDENTIAL_CHECK", "false");
        let off = run_duty(&hk, "CredentialHealthCheck", 0);
        assert_eq!(off["status"], "skipped");
        assert_eq!(off["reason"], "disabled by MULTIFLEXI_HOUSEKEEPER_CREDENTIAL_CHECK=false");
    }
);

backend_test!(
    fn credential_findings_read_as_findings_in_text_and_in_the_journal(db) {
        seed_credentials(db);
        let mut hk = Tool::new(db);
        let port = crate::support::closed_port();
        hk.set("MULTIFLEXI_HOUSEKEEPER_FIO_URL", &format!("https://127.0.0.1:{port}/"))
            .set("JOURNAL_STREAM", "8:12345");
        let out = hk.run(&["run", "--duty", "CredentialHealthCheck"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let finding = format!("<4>    finding (error): {}", MISCONFIGURED[0]);
        assert!(out.stderr.lines().any(|l| l == finding), "{}", out.stderr);
        assert!(!out.stderr.contains("error: credential"), "a finding is not an error: {}", out.stderr);
        assert!(out.stderr.lines().all(|l| l.starts_with('<')), "every line has its priority: {}", out.stderr);
        assert!(out.stderr.lines().any(|l| l.starts_with("<6>run ok")), "{}", out.stderr);
        let text = hk.run(&["plan", "--duty", "CredentialHealthCheck"]);
        assert!(text.stdout.contains(&format!("  finding (error): {}", MISCONFIGURED[0])), "{}", text.stdout);
    }
);

backend_test!(
    fn credential_health_check_reports_a_refused_fio_endpoint_as_unavailable(db) {
        let port = crate::support::closed_port();
        let report = check_credentials(db, &format!("https://127.0.0.1:{port}/"));
        assert_eq!(misconfigured_findings(&report), MISCONFIGURED);
        let unavailable: Vec<&serde_json::Value> = report["findings"].as_array().unwrap().iter().filter(|f| f["code"] == "unavailable").collect();
        assert_eq!(unavailable.len(), 1);
        assert_eq!(unavailable[0]["level"], "warning");
        assert_eq!(
            unavailable[0]["message"],
            format!("credential \"Fio main\" (#1) for runtemplates #1, #2 is temporarily UNAVAILABLE: Fio API host unreachable: 127.0.0.1:{port}: Connection refused (os error 111)")
        );
    }
);

/// A listener whose accept queue is full, so further connection attempts get no answer at
/// all (the kernel drops their SYNs): a silent endpoint on the loopback.
fn silent_endpoint() -> (std::net::TcpListener, Vec<std::net::TcpStream>, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..10_000 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(stream) => held.push(stream),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return (listener, held, addr.port())
            }
            Err(e) => panic!("filling the accept queue: {e}"),
        }
    }
    panic!("the accept queue of {addr} never filled");
}

backend_test!(
    fn credential_health_check_gives_up_on_a_silent_fio_endpoint_after_five_seconds(db) {
        let (_listener, _held, port) = silent_endpoint();
        let started = Instant::now();
        let report = check_credentials(db, &format!("https://127.0.0.1:{port}/"));
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(5) && took < Duration::from_secs(30), "took {took:?}");
        assert_eq!(misconfigured_findings(&report), MISCONFIGURED);
        let unavailable: Vec<&serde_json::Value> = report["findings"].as_array().unwrap().iter().filter(|f| f["code"] == "unavailable").collect();
        assert_eq!(
            unavailable[0]["message"],
            format!("credential \"Fio main\" (#1) for runtemplates #1, #2 is temporarily UNAVAILABLE: Fio API host unreachable: 127.0.0.1:{port}: connection timed out")
        );
    }
);

backend_test!(
    fn retention_records_count_what_really_changed(db) {
        install(db);
        let mut seed = Seed::new(now());
        parents(&mut seed);
        seed.retention_policy("audit_archive", "audit_data", "security_audit_log", 30, 7, "archive", None);
        seed.retention_policy("app_logs", "application_logs", "log", 30, 7, "soft_delete", None);
        for _ in 0..3 {
            seed.audit_event(None, "login", "low", at(-40 * DAY));
        }
        for i in 0..3 {
            seed.log("info", "seed", &format!("old {i}"), at(-40 * DAY));
        }
        apply(db, &seed);
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS", "soft_delete,archive");
        let file = db.dir().join("plan.json");
        assert_run(&hk.run(&["plan", "--duty", "DataRetentionCleanup", "--out", file.to_str().unwrap()]), 0);
        // Between review and apply, something else marks one audit event and one log row.
        let yes = db.pick("1", "true", "1");
        db.run_sql(&[
            &format!("UPDATE security_audit_log SET marked_for_deletion = {yes} WHERE id = 2"),
            &format!("UPDATE log SET marked_for_deletion = {yes} WHERE id = 3"),
        ]);
        let out = hk.run(&["apply", file.to_str().unwrap(), "--format", "json"]);
        assert_run(&out, 0);
        let report = duty(&out.json(), "DataRetentionCleanup").clone();
        assert_eq!(report["affected"], 4, "{report:#}");
        assert_eq!(report["drifted_count"], 2, "{report:#}");
        let after = dump(db);
        assert_eq!(
            columns_of(&after, "data_archive", &["source_table", "source_record_id"]),
            ["security_audit_log|1", "security_audit_log|3"],
            "no copy of the row whose mark drifted"
        );
        assert_eq!(
            columns_of(&after, "retention_cleanup_jobs", &["policy_id", "records_processed", "records_archived", "summary"]),
            [
                "1|2|2|Processed: 2, Deleted: 0, Anonymized: 0, Archived: 2",
                "2|2|0|Processed: 2, Deleted: 0, Anonymized: 0, Archived: 0",
            ],
            "the records count what was applied, not what was planned"
        );
    }
);
