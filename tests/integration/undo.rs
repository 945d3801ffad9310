//! Undo (docs/UNDO.md) through the real binary on every engine: a run over a realistic mess and its
//! undo leave every table and the temp tree as they were (full dumps); each kind of conflict
//! is reported with its reason while everything else is restored; `--strict` and `--dry-run`
//! change nothing; a run is undone once; restored items are held by the next run; a crash in
//! the middle of an undo loses nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use housekeeper::config::Engine;
use housekeeper_journal::{DateTimeValue, KeySet, Value};
use housekeeper_scenario::{self as scenario, Dump, SchemaLevel, Seed};

use crate::support::tool::{self, kill9, make_files, tree, Out, Tool};
use crate::support::TestDb;

pub(crate) fn now() -> DateTimeValue {
    DateTimeValue::parse(tool::NOW).expect("NOW parses")
}

pub(crate) fn dump(db: &TestDb) -> Dump {
    scenario::dump_database(&mut *db.connect()).expect("dump the database")
}

/// The run id of a `--format json` report.
pub(crate) fn run_id(out: &Out) -> String {
    assert_eq!(out.code, 0, "the run failed:\n{}", out.stderr);
    out.json()["run_id"]
        .as_str()
        .expect("a run id in the report")
        .to_owned()
}

/// The tool with what every scenario here needs: no credential probes, all retention actions.
fn tool_for(db: &TestDb) -> Tool {
    let mut hk = Tool::new(db);
    hk.set("MULTIFLEXI_HOUSEKEEPER_CREDENTIAL_CHECK", "false")
        .set(
            "MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS",
            "hard_delete,soft_delete,grace_purge,anonymize,archive",
        )
        .set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "10");
    hk
}

/// A small, exactly known mess: runtemplate 1 with a stale `next_schedule` (ScheduleIntegrity),
/// a ghost job 1 of runtemplate 2 (OrphanedJobCleanup), user 2 `dave` inactive for four years
/// with an anonymize policy (DataRetentionCleanup), log rows 1–10 of which 1–5 go
/// (LogPruning keeps 5), and old temp files `a.txt` and `b/c.txt` next to a fresh one.
fn small_mess(db: &TestDb, hk: &Tool) -> Vec<PathBuf> {
    let (mut seed, admin, _dave) = tool::seed_inactive_user(db);
    let app = seed.app("Reporter").id();
    let company = seed.company("ACME", "acme").id();
    seed.runtemplate(app, company, "h")
        .set("next_schedule", scenario::shift(now(), -5 * 3600));
    let rt2 = seed.runtemplate(app, company, "n").id();
    seed.ghost_job(rt2, scenario::shift(now(), -3 * 3600));
    seed.retention_policy(
        "user_accounts_inactive",
        "user_data",
        "user",
        1095,
        0,
        "anonymize",
        Some(admin),
    );
    for i in 1..=10 {
        seed.log(
            "info",
            "seed",
            &format!("message {i}"),
            scenario::shift(now(), -i * 60),
        );
    }
    seed.apply(&mut *db.connect()).expect("seed");
    let files = make_files(
        &hk.tmp,
        &[("a.txt", 48), ("b/c.txt", 72), ("fresh.txt", 1)],
        tool::now_system(),
    );
    std::fs::set_permissions(&files[1], std::fs::Permissions::from_mode(0o640)).expect("chmod");
    files
}

/// Runs every duty and returns the run id, checking that each kind of change happened.
fn run_all(hk: &Tool) -> String {
    run_all_moving(hk, 2)
}

/// `run_all` over a temp directory with `files` old files.
fn run_all_moving(hk: &Tool, files: u64) -> String {
    let out = hk.run(&["run", "--format", "json"]);
    let id = run_id(&out);
    let report = out.json();
    let affected = |duty: &str| {
        report["duties"]
            .as_array()
            .expect("duties")
            .iter()
            .find(|d| d["duty"] == duty)
            .and_then(|d| d["affected"].as_u64())
            .unwrap_or(0)
    };
    assert_eq!(affected("ScheduleIntegrity"), 1, "{}", out.stderr);
    assert_eq!(affected("OrphanedJobCleanup"), 1, "{}", out.stderr);
    assert_eq!(affected("DataRetentionCleanup"), 1, "{}", out.stderr);
    assert_eq!(affected("DiskTempFileCleanup"), files, "{}", out.stderr);
    assert_eq!(affected("LogPruning"), 5, "{}", out.stderr);
    id
}

/// The conflicts of an undo's JSON report: (table, key, reason).
fn conflicts(out: &Out) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for duty in out.json()["duties"].as_array().expect("duties") {
        for d in duty["drifted"].as_array().into_iter().flatten() {
            found.push((
                d["table"].as_str().unwrap_or_default().to_owned(),
                d["key"].as_str().unwrap_or_default().to_owned(),
                d["reason"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    found
}

/// Runs an undo expected to meet exactly `expected` conflicts: exit 1, each one reported in
/// the JSON report and in words on stderr.
fn undo_with_conflicts(hk: &Tool, run: &str, expected: &[(&str, &str, &str)], words: &str) -> Out {
    let out = hk.run(&["undo", run, "--format", "json"]);
    assert_eq!(
        out.code, 1,
        "an undo with conflicts exits 1:\n{}",
        out.stderr
    );
    let got = conflicts(&out);
    let want: Vec<(String, String, String)> = expected
        .iter()
        .map(|(t, k, r)| ((*t).to_owned(), (*k).to_owned(), (*r).to_owned()))
        .collect();
    assert_eq!(got, want, "{}", out.stderr);
    assert!(out.stderr.contains(words), "{}", out.stderr);
    assert!(out.stderr.contains("not restored"), "{}", out.stderr);
    out
}

/// `before` and `after` agree on everything but the run's own records and `skip` rows
/// (`table`, key as the dump renders it, e.g. `id=3`).
fn assert_restored_except(before: &Dump, after: Dump, skip: &[(&str, &str)]) {
    let mut after = after.without_run_records(before);
    let mut before = before.clone();
    for (table, key) in skip {
        for dump in [&mut before, &mut after] {
            if let Some(t) = dump.tables.get_mut(*table) {
                let keep: Vec<Vec<Value>> = t
                    .rows
                    .iter()
                    .filter(|r| t.key_of(r) != *key)
                    .cloned()
                    .collect();
                t.rows = keep;
            }
        }
    }
    let diff = before.diff(&after);
    assert!(diff.is_empty(), "not restored:\n{diff}");
}

backend_test!(fn a_run_over_a_realistic_mess_and_its_undo_leave_every_row_and_file_as_it_was(db) {
        let mut hk = tool_for(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "500");
        {
            let mut conn = db.connect();
            scenario::install_schema(&mut *conn, SchemaLevel::Current).expect("install the schema");
            let mess =
                scenario::realistic_mess_in(&mut *conn, now(), 1, &hk.tmp).expect("seed the mess");
            let mut files: Vec<(String, u64)> = (0..10)
                .map(|i| (format!("job-{i:03}/out-{i}.log"), 30 + i))
                .collect();
            files.push(("fresh/upload.csv".into(), 2));
            let named: Vec<(&str, u64)> = files.iter().map(|(p, h)| (p.as_str(), *h)).collect();
            let made = make_files(&hk.tmp, &named, tool::now_system());
            for path in &mess.referenced_files {
                make_files(
                    Path::new("/"),
                    &[(path.trim_start_matches('/'), 48)],
                    tool::now_system(),
                );
            }
            // Modes and owners that must come back as they were.
            std::fs::set_permissions(&made[0], std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
            std::os::unix::fs::chown(&made[1], Some(65534), Some(65534)).expect("chown");
            std::os::unix::fs::symlink("/etc/hostname", hk.tmp.join("job-000/link"))
                .expect("symlink");
            let old = filetime::FileTime::from_system_time(
                tool::now_system() - std::time::Duration::from_secs(90 * 3600),
            );
            filetime::set_symlink_file_times(hk.tmp.join("job-000/link"), old, old)
                .expect("link times");
        }
        let rows_before = dump(db);
        let files_before = tree(&hk.tmp);

        let out = hk.run(&["run", "--format", "json"]);
        let run = run_id(&out);
        let changed = dump(db);
        assert!(
            !rows_before.diff(&changed).is_empty(),
            "the run changed nothing"
        );
        assert_ne!(tree(&hk.tmp), files_before, "the run moved no file");
        let report = out.json();
        for duty in report["duties"].as_array().expect("duties") {
            if duty["duty"] != "CredentialHealthCheck" {
                assert!(
                    duty["affected"].as_u64().unwrap_or(0) > 0,
                    "{duty} did nothing"
                );
            }
        }

        let undo = hk.run(&["undo", &run]);
        assert_eq!(undo.code, 0, "{}", undo.stderr);
        assert!(undo.stderr.contains(" 0 not restored"), "{}", undo.stderr);
        let diff = rows_before.diff(&dump(db).without_run_records(&rows_before));
        assert!(diff.is_empty(), "the undo left differences:\n{diff}");
        assert_eq!(
            tree(&hk.tmp),
            files_before,
            "the temp tree differs after the undo"
        );
    }
);

backend_test!(fn an_id_reused_since_the_run_is_reported_and_everything_else_restored(db) {
        let hk = tool_for(db);
        small_mess(db, &hk);
        let before = dump(db);
        let files = tree(&hk.tmp);
        let run = run_all(&hk);
        // The scheduler logs something new under an id the run freed.
        let mut seed = Seed::new(now());
        seed.start_ids_at("log", 3);
        seed.log("info", "scheduler", "a new row with an old id", now());
        seed.apply(&mut *db.connect()).expect("insert log 3");

        undo_with_conflicts(
            &hk,
            &run,
            &[("log", "3", "key_reused")],
            "log 3: key reused by another row",
        );
        let after = dump(db);
        let log = after.table("log").expect("log");
        let new_row = log.row("id=3").expect("the new row 3 stays");
        assert_eq!(
            log.value(new_row, "message"),
            Some(&Value::from("a new row with an old id"))
        );
        assert_restored_except(&before, after, &[("log", "id=3")]);
        assert_eq!(tree(&hk.tmp), files);
    }
);

backend_test!(fn a_unique_value_taken_since_the_run_is_reported_and_everything_else_restored(db) {
        let hk = tool_for(db);
        small_mess(db, &hk);
        let before = dump(db);
        let run = run_all(&hk);
        // Someone registers the login the anonymized user had.
        let mut seed = Seed::new(now());
        seed.start_ids_at("user", 50);
        seed.user("dave");
        seed.apply(&mut *db.connect()).expect("a new dave");

        undo_with_conflicts(
            &hk,
            &run,
            &[("user", "2", "unique_taken")],
            "user 2: unique value taken",
        );
        let after = dump(db);
        let user = after.table("user").expect("user");
        let anonymized = user.row("id=2").expect("user 2");
        assert_ne!(
            user.value(anonymized, "login"),
            Some(&Value::from("dave")),
            "user 2 stays anonymized"
        );
        assert_restored_except(&before, after, &[("user", "id=2"), ("user", "id=50")]);
    }
);

backend_test!(fn a_value_changed_since_the_run_is_reported_and_everything_else_restored(db) {
        let hk = tool_for(db);
        small_mess(db, &hk);
        let before = dump(db);
        let run = run_all(&hk);
        // The scheduler queued runtemplate 1 again meanwhile.
        db.run_sql(&["UPDATE runtemplate SET next_schedule = '2026-11-28 10:00:00' WHERE id = 1"]);

        undo_with_conflicts(
            &hk,
            &run,
            &[("runtemplate", "1", "changed")],
            "runtemplate 1: value changed since",
        );
        let after = dump(db);
        let rt = after.table("runtemplate").expect("runtemplate");
        let row = rt.row("id=1").expect("runtemplate 1");
        assert_eq!(
            rt.value(row, "next_schedule")
                .map(|v| v.to_string().trim_matches('"').to_owned()),
            Some("2026-11-28 10:00:00".to_owned()),
            "the scheduler's value stays"
        );
        assert_restored_except(&before, after, &[("runtemplate", "id=1")]);
    }
);

backend_test!(fn a_parent_row_gone_since_the_run_is_reported_where_foreign_keys_are_enforced(db) {
        let hk = tool_for(db);
        small_mess(db, &hk);
        let before = dump(db);
        let run = run_all(&hk);
        // Runtemplate 2, whose ghost job the run deleted, is deleted by its owner.
        db.run_sql(&["DELETE FROM runtemplate WHERE id = 2"]);

        if db.engine() == Engine::Sqlite {
            // MultiFlexi runs SQLite without foreign keys: the job comes back as it was.
            let out = hk.run(&["undo", &run]);
            assert_eq!(out.code, 0, "{}", out.stderr);
            assert_restored_except(&before, dump(db), &[("runtemplate", "id=2")]);
            return;
        }
        undo_with_conflicts(
            &hk,
            &run,
            &[("job", "1", "parent_gone")],
            "job 1: parent row gone",
        );
        let after = dump(db);
        assert_eq!(after.table("job").expect("job").row("id=1"), None);
        assert_restored_except(&before, after, &[("runtemplate", "id=2"), ("job", "id=1")]);
    }
);

backend_test!(fn a_path_taken_since_the_run_is_reported_and_the_other_files_come_back(db) {
        let hk = tool_for(db);
        let files = small_mess(db, &hk);
        let before = dump(db);
        let tree_before = tree(&hk.tmp);
        let run = run_all(&hk);
        std::fs::write(&files[0], "a new a.txt\n").expect("a new file at the old path");

        let a = files[0].display().to_string();
        undo_with_conflicts(&hk, &run, &[("file", &a, "target_exists")], "path exists");
        assert_eq!(
            std::fs::read(&files[0]).expect("a.txt"),
            b"a new a.txt\n",
            "the new file is untouched"
        );
        let now_tree = tree(&hk.tmp);
        assert_eq!(
            now_tree.get("b/c.txt"),
            tree_before.get("b/c.txt"),
            "b/c.txt came back as it was"
        );
        let quarantined: Vec<String> = tree(&hk.state.join("quarantine")).into_keys().collect();
        assert_eq!(
            quarantined,
            [format!("{run}/a.txt")],
            "the old a.txt stays in the quarantine"
        );
        assert_restored_except(&before, dump(db), &[]);
    }
);

backend_test!(fn a_quarantined_file_altered_since_the_run_is_reported_and_left_there(db) {
        let hk = tool_for(db);
        let files = small_mess(db, &hk);
        let tree_before = tree(&hk.tmp);
        let run = run_all(&hk);
        let quarantined = hk.state.join("quarantine").join(&run).join("b/c.txt");
        std::fs::write(&quarantined, "tampered\n").expect("alter the quarantined file");

        let c = files[1].display().to_string();
        undo_with_conflicts(&hk, &run, &[("file", &c, "hash_mismatch")], "hash mismatch");
        assert!(!files[1].exists(), "an altered file is not put back");
        assert_eq!(
            std::fs::read(&quarantined).expect("still quarantined"),
            b"tampered\n"
        );
        assert_eq!(
            tree(&hk.tmp).get("a.txt"),
            tree_before.get("a.txt"),
            "a.txt came back"
        );
    }
);

backend_test!(fn strict_undo_stops_at_a_conflict_with_nothing_changed(db) {
    let hk = tool_for(db);
    small_mess(db, &hk);
    let run = run_all(&hk);
    db.run_sql(&["UPDATE runtemplate SET next_schedule = '2026-11-28 10:00:00' WHERE id = 1"]);
    let rows = dump(db);
    let files = tree(&hk.tmp);
    let journal = tree(&hk.state.join("journal"));

    let out = hk.run(&["undo", &run, "--strict"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("runtemplate 1: value changed since"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
    assert!(
        dump(db).diff(&rows).is_empty(),
        "a strict undo with a conflict changed rows"
    );
    assert_eq!(tree(&hk.tmp), files);
    assert_eq!(
        tree(&hk.state.join("journal")),
        journal,
        "nothing journaled"
    );
});

backend_test!(fn a_dry_run_undo_shows_what_it_would_restore_and_changes_nothing(db) {
        let hk = tool_for(db);
        small_mess(db, &hk);
        let run = run_all(&hk);
        std::fs::write(hk.tmp.join("a.txt"), "new\n").expect("take a path");
        let rows = dump(db);
        let files = tree(&hk.tmp);

        let text = hk.run(&["undo", &run, "--dry-run"]);
        assert_eq!(text.code, 1, "conflicts predicted: exit 1\n{}", text.stderr);
        assert!(text.stdout.contains("re-insert log id 1–5 (5 rows)"), "{}", text.stdout);
        assert!(
            text.stdout.contains("update runtemplate id=1"),
            "{}",
            text.stdout
        );
        assert!(
            text.stdout.contains("a.txt: path exists"),
            "{}",
            text.stdout
        );
        let json = hk
            .run(&["undo", &run, "--dry-run", "--format", "json"])
            .json();
        assert_eq!(json["format"], "housekeeper.undo-plan/v2");
        assert_eq!(json["conflicts"][0]["reason"], "target_exists");
        assert_eq!(
            json["restorable"], 9,
            "5 log rows, a job, a runtemplate, a user, b/c.txt"
        );
        assert!(dump(db).diff(&rows).is_empty(), "a dry run changed rows");
        assert_eq!(tree(&hk.tmp), files);
    }
);

backend_test!(fn a_run_is_undone_once_and_what_came_back_is_held_by_the_next_run(db) {
    undone_once_and_held(db, 0);
});

backend_test!(fn after_a_long_history_an_undo_is_still_held_by_the_next_run(db) {
    undone_once_and_held(db, 200);
});

/// A run undone once (after `history` runs that change nothing), and what the undo restored
/// held by the next run.
fn undone_once_and_held(db: &TestDb, history: usize) {
    let hk = tool_for(db);
    small_mess(db, &hk);
    let before = dump(db);
    let run = run_all(&hk);
    tool::quiet_runs(&hk, history);
    let undo = hk.run(&["undo", &run, "--format", "json"]);
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    let undo_id = run_id(&undo);

    let again = hk.run(&["undo", &run]);
    assert_eq!(again.code, 1);
    assert!(
        again
            .stderr
            .contains(&format!("run {run} was already undone by run {undo_id}")),
        "{}",
        again.stderr
    );
    let of_undo = hk.run(&["undo", &undo_id]);
    assert_eq!(of_undo.code, 1);
    assert!(
        of_undo.stderr.contains("is itself the undo of run"),
        "{}",
        of_undo.stderr
    );

    // The next run finds the same mess, but leaves what the undo brought back alone.
    let next = hk.run(&["run", "--format", "json"]);
    assert_eq!(next.code, 0, "{}", next.stderr);
    let held = next.held();
    for expected in [
        "log id=1",
        "job id=1",
        "runtemplate id=1",
        "user id=2",
        "a.txt",
        "b/c.txt",
    ] {
        assert!(
            held.iter().any(|h| h.contains(expected)),
            "{expected} not held: {held:?}"
        );
    }
    assert!(next.stderr.contains("held"), "{}", next.stderr);
    // LogPruning goes on with the rows above the held ones; everything else stays.
    let after = dump(db);
    let log = after.table("log").expect("log");
    for id in 1..=5 {
        assert!(
            log.row(&format!("id={id}")).is_some(),
            "log {id} was deleted again"
        );
    }
    let diff = before
        .clone()
        .without_tables(&["log"])
        .diff(&after.without_run_records(&before).without_tables(&["log"]));
    assert!(
        diff.is_empty(),
        "the next run changed what the undo restored:\n{diff}"
    );
}

backend_test!(fn an_undo_killed_mid_way_is_closed_by_the_next_start_and_can_be_finished(db) {
        let hk = tool_for(db);
        small_mess(db, &hk);
        let before = dump(db);
        let files = tree(&hk.tmp);
        let run = run_all(&hk);

        // Killed right after its first chunk committed.
        kill9(hk.stopped_at("after-commit", &["undo", &run]));
        let retry = hk.run_when_free(&["undo", &run]);
        assert_eq!(
            retry.code, 0,
            "an interrupted undo can be finished:\n{}",
            retry.stderr
        );
        assert!(retry.stderr.contains("recovered"), "{}", retry.stderr);
        assert_restored_except(&before, dump(db), &[]);
        assert_eq!(tree(&hk.tmp), files);
        let verify = hk.run(&["journal", "verify"]);
        assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    }
);

/// Kills an undo at `point` of its file moves, with `chunk_rows` files per batch, and checks
/// that the interruption is not damage (a warning once a file is back) and that a second undo
/// brings every file back, once, leaving nothing in the quarantine.
fn undo_killed_while_moving_files_back(db: &TestDb, point: &str, chunk_rows: &str) {
    let mut hk = tool_for(db);
    small_mess(db, &hk);
    make_files(
        &hk.tmp,
        &[("b/d.txt", 50), ("e/f.txt", 60), ("e/g/h.txt", 70)],
        tool::now_system(),
    );
    let files = tree(&hk.tmp);
    let run = run_all_moving(&hk, 5);
    hk.set("MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS", chunk_rows);
    kill9(hk.stopped_at(point, &["undo", &run]));
    // Between the kill and the next start: recoverable, so a warning, not damage.
    let verify = hk.run(&["journal", "verify"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    // Once a file is back at its path (not yet at `after-intent`), the warning says so.
    assert!(
        point == "after-intent"
            || format!("{}{}", verify.stdout, verify.stderr)
                .contains("was interrupted while moving"),
        "{}{}",
        verify.stdout,
        verify.stderr
    );
    let retry = hk.run_when_free(&["undo", &run]);
    assert_eq!(retry.code, 0, "{}", retry.stderr);
    assert_eq!(
        tree(&hk.tmp),
        files,
        "every file back, once (killed at {point})"
    );
    assert!(
        tree(&hk.state.join("quarantine")).is_empty(),
        "nothing left in the quarantine"
    );
}

backend_test!(fn an_undo_killed_while_moving_a_file_back_loses_nothing(db) {
    undo_killed_while_moving_files_back(db, "after-move", "10000");
});
backend_test!(fn an_undo_killed_after_the_intents_of_a_batch_loses_nothing(db) {
    undo_killed_while_moving_files_back(db, "after-intent", "2");
});
backend_test!(fn an_undo_killed_after_one_file_of_a_batch_loses_nothing(db) {
    undo_killed_while_moving_files_back(db, "after-move", "2");
});
backend_test!(fn an_undo_killed_before_the_outcomes_of_a_batch_loses_nothing(db) {
    undo_killed_while_moving_files_back(db, "before-outcomes", "2");
});

backend_test!(fn undo_refuses_unknown_runs_and_runs_of_another_database(db) {
        let hk = tool_for(db);
        small_mess(db, &hk);
        let run = run_all(&hk);
        let unknown = hk.run(&["undo", "20200101T000000Z-000000"]);
        assert_eq!(unknown.code, 2);
        assert!(
            unknown
                .stderr
                .contains("no run 20200101T000000Z-000000 in the journal at"),
            "{}",
            unknown.stderr
        );
        assert!(
            unknown.stderr.contains("journal list"),
            "{}",
            unknown.stderr
        );

        let mut other = hk.clone();
        let elsewhere = db.dir().join("other.sqlite");
        other.url = format!("sqlite:{}", elsewhere.display());
        std::fs::File::create(&elsewhere).expect("create another database");
        {
            let mut conn = housekeeper::db::connect(
                &housekeeper::config::DbTarget::Sqlite { path: elsewhere.clone() },
                &housekeeper::db::ConnectOptions::default(),
            )
            .expect("another database");
            scenario::install_schema(&mut *conn, SchemaLevel::Current).expect("schema");
        }
        let out = other.run(&["undo", &run]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("refused: run {run} changed")),
            "{}",
            out.stderr
        );
    }
);

backend_test!(
    fn undo_of_one_duty_restores_only_its_changes_and_each_duty_once(db) {
        let hk = tool_for(db);
        small_mess(db, &hk);
        let before = dump(db);
        let files = tree(&hk.tmp);
        let run = run_all(&hk);
        let after_run = dump(db);

        let logs = hk.run(&["undo", &run, "--duty", "LogPruning"]);
        assert_eq!(logs.code, 0, "{}", logs.stderr);
        let now = dump(db);
        let log = now.table("log").expect("log");
        for id in 1..=5 {
            assert!(log.row(&format!("id={id}")).is_some(), "log {id} is back");
        }
        let others = |d: &Dump| d.clone().without_tables(&["log"]).without_run_records(&before);
        assert!(
            others(&after_run).diff(&others(&now)).is_empty(),
            "only LogPruning was undone"
        );
        assert_ne!(tree(&hk.tmp), files, "the files stay in the quarantine");

        let again = hk.run(&["undo", &run, "--duty", "logpruning"]);
        assert_eq!(again.code, 1);
        assert!(again.stderr.contains("already undone"), "{}", again.stderr);

        let files_back = hk.run(&["undo", &run, "--duty", "DiskTempFileCleanup"]);
        assert_eq!(files_back.code, 0, "{}", files_back.stderr);
        assert_eq!(tree(&hk.tmp), files);
        for duty in ["ScheduleIntegrity", "OrphanedJobCleanup", "DataRetentionCleanup"] {
            let out = hk.run(&["undo", &run, "--duty", duty]);
            assert_eq!(out.code, 0, "{duty}: {}", out.stderr);
        }
        assert_restored_except(&before, dump(db), &[]);
    }
);

backend_test!(
    fn undo_past_the_undo_window_is_refused_and_the_journal_still_verifies(db) {
        let hk = tool_for(db);
        small_mess(db, &hk);
        let run = run_all(&hk);
        let expired = hk.run(&["quarantine", "expire", "--older-than", "0s"]);
        assert_eq!(expired.code, 0, "{}{}", expired.stdout, expired.stderr);
        let rows = dump(db);

        let out = hk.run(&["undo", &run]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("refused: run {run} is past its undo window")),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS"), "{}", out.stderr);
        assert!(dump(db).diff(&rows).is_empty(), "a refused undo changed rows");
        let verify = hk.run(&["journal", "verify"]);
        assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    }
);

backend_test!(
    fn an_undo_is_listed_shown_and_verified_like_a_run(db) {
        let hk = tool_for(db);
        small_mess(db, &hk);
        let run = run_all(&hk);
        let undo = hk.run(&["undo", &run, "--format", "json"]);
        let undo_id = run_id(&undo);
        let list = hk.run(&["journal", "list"]);
        assert_eq!(list.code, 0, "{}", list.stderr);
        let line = |id: &str| {
            list.stdout
                .lines()
                .find(|l| l.contains(id))
                .unwrap_or_else(|| panic!("{id} not listed:\n{}", list.stdout))
                .to_owned()
        };
        assert!(line(&run).contains(&format!("undone by {undo_id}")), "{}", list.stdout);
        assert!(line(&undo_id).contains("undo"), "{}", list.stdout);
        let show = hk.run(&["journal", "show", &undo_id]);
        assert_eq!(show.code, 0, "{}", show.stderr);
        assert!(show.stdout.contains("message 1"), "the re-inserted row's values:\n{}", show.stdout);
        let verify = hk.run(&["journal", "verify"]);
        assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    }
);

backend_test!(
    fn a_prune_undone_in_many_chunks_brings_every_row_back(db) {
        {
            let mut conn = db.connect();
            scenario::install_schema(&mut *conn, SchemaLevel::Current).expect("install the schema");
            let mut seed = Seed::new(now());
            for i in 1..=2500 {
                let row = seed.log(
                    if i % 3 == 0 { "error" } else { "info" },
                    "seed",
                    &format!("Žluťoučký kůň #{i} 'quoted' \\ back"),
                    scenario::shift(now(), -i * 60),
                );
                if i % 5 == 0 {
                    row.set("company_id", Value::Null);
                }
            }
            seed.apply(&mut *conn).expect("seed log rows");
        }
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "100")
            .set("MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS", "333");
        let before = dump(db);
        let out = hk.run(&["run", "--duty", "LogPruning", "--format", "json"]);
        let run = run_id(&out);
        assert_eq!(dump(db).row_count("log"), 102, "100 kept, and the duty's and the run's rows");

        let undo = hk.run(&["undo", &run, "--format", "json"]);
        assert_eq!(undo.code, 0, "{}", undo.stderr);
        let pruning = undo.json()["duties"]
            .as_array()
            .expect("duties")
            .iter()
            .find(|d| d["duty"] == "LogPruning")
            .cloned()
            .expect("LogPruning");
        assert_eq!(pruning["affected"], 2400);
        assert_restored_except(&before, dump(db), &[]);
        let chunks = housekeeper_journal::read_records(&hk.state.join("journal"))
            .expect("journal")
            .filter(|e| {
                matches!(
                    &e.as_ref().expect("record").record,
                    housekeeper_journal::Record::ChunkOutcome { run_id, .. } if *run_id != run
                )
            })
            .count();
        assert_eq!(chunks, 8, "2400 rows in chunks of at most 333");
    }
);

backend_test!(
    fn undo_refuses_a_damaged_journal_or_payload_with_nothing_changed(db) {
        let hk = tool_for(db);
        small_mess(db, &hk);
        let run = run_all(&hk);
        let rows = dump(db);
        let files = tree(&hk.tmp);
        let journal = hk.state.join("journal");

        // A flipped byte inside a record of the chain.
        let records: Vec<_> = housekeeper_journal::read_records(&journal)
            .expect("journal")
            .map(|r| r.expect("record"))
            .collect();
        let target = &records[3];
        let segment = journal.join(&target.location.file);
        let original = std::fs::read(&segment).expect("segment");
        let mut bytes = original.clone();
        let at = usize::try_from(target.location.offset + target.frame_len / 2).expect("offset");
        bytes[at] ^= 0x40;
        std::fs::write(&segment, &bytes).expect("damage");
        let out = hk.run(&["undo", &run]);
        assert_eq!(out.code, 3, "{}", out.stderr);
        assert!(out.stderr.contains("the journal cannot be trusted"), "{}", out.stderr);
        assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
        std::fs::write(&segment, &original).expect("repair");

        // A row-image payload altered on disk.
        let payload = records
            .iter()
            .find_map(|r| match &r.record {
                housekeeper_journal::Record::ChunkOutcome {
                    payload: Some(p), ..
                } => Some(p.digest),
                _ => None,
            })
            .expect("a chunk payload");
        let blob = journal.join(housekeeper_journal::verify::blob_relative_path(&payload));
        let mut bytes = std::fs::read(&blob).expect("blob");
        let last = bytes.len() - 2;
        bytes[last] ^= 0x01;
        std::fs::write(&blob, &bytes).expect("alter the blob");
        let out = hk.run(&["undo", &run]);
        assert_eq!(out.code, 3, "{}", out.stderr);
        assert!(out.stderr.contains(&payload.to_hex()), "names the payload: {}", out.stderr);

        assert!(dump(db).diff(&rows).is_empty(), "a refused undo changed rows");
        assert_eq!(tree(&hk.tmp), files);
    }
);

/// Ghost jobs with output lines and log rows of varied text, enough for several chunks of
/// `CHUNK_ROWS=50`: 60 ghost jobs with 3 output lines each (OrphanedJobCleanup) and 320 log
/// rows, of which LogPruning keeps the 20 newest (with `LOG_KEEP=20`).
fn many_chunks(db: &TestDb) {
    scenario::install_schema(&mut *db.connect(), SchemaLevel::Current).expect("schema");
    let mut seed = Seed::new(now());
    let app = seed.app("Reporter").id();
    let company = seed.company("ACME", "acme").id();
    let rt = seed.runtemplate(app, company, "n").id();
    for j in 0..60 {
        let job = seed
            .ghost_job(rt, scenario::shift(now(), -3 * 3600 - j))
            .id();
        for line in 1..=3 {
            seed.output_line(job, line, "stdout", &format!("job {job} line {line}: ok ✓"));
        }
    }
    for i in 1..=320 {
        let message = match i % 4 {
            0 => format!("message {i}"),
            1 => format!("quote ' and \"double\" {i}"),
            2 => format!("line one\nline two {i}"),
            _ => format!("ünïcödé ∑ {i} \u{1F600}"),
        };
        let severity = if i % 7 == 0 { "error" } else { "info" };
        seed.log(
            severity,
            "seed",
            &message,
            scenario::shift(now(), -86_400 - i * 60),
        );
    }
    seed.apply(&mut *db.connect()).expect("seed");
}

backend_test!(fn an_undo_of_many_chunks_reads_its_rows_chunk_by_chunk_and_puts_back_every_byte(db) {
        let mut hk = tool_for(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "20")
            .set("MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS", "50");
        many_chunks(db);
        let before = dump(db);
        let out = hk.run(&["run", "--format", "json"]);
        let run = run_id(&out);
        let pruned = out.json()["duties"]
            .as_array()
            .and_then(|d| d.iter().find(|d| d["duty"] == "LogPruning"))
            .and_then(|d| d["affected"].as_u64())
            .unwrap_or(0);
        assert!(pruned >= 300, "the prune ran: {}", out.stderr);
        let kept = dump(db).row_count("log");
        assert_eq!(dump(db).row_count("job_output_lines"), 0, "{}", out.stderr);
        let shown = hk.run(&["journal", "show", &run, "--format", "json"]).json();
        let chunks_of = |doc: &serde_json::Value, duty: &str| {
            doc["duties"]
                .as_array()
                .expect("duties")
                .iter()
                .find(|d| d["duty"] == duty)
                .and_then(|d| d["chunks"].as_array().map(Vec::len))
                .unwrap_or(0)
        };
        assert!(chunks_of(&shown, "LogPruning") >= 6, "300 rows in chunks of 50");
        assert!(chunks_of(&shown, "OrphanedJobCleanup") >= 2, "60 jobs in chunks of 50");

        // The undo's chunks (35 rows) do not line up with the run's (50): an item's rows are
        // read once and applied across chunks. Killed right after its first chunk committed.
        hk.set("MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS", "35");
        kill9(hk.stopped_at("after-commit", &["undo", &run]));
        let partly = dump(db);
        let restored = partly.row_count("log");
        assert!(
            restored > kept && restored < kept + 300,
            "the first chunk, and only it, committed: {restored} log rows"
        );
        let verify = hk.run(&["journal", "verify"]);
        assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);

        let retry = hk.run_when_free(&["undo", &run, "--format", "json"]);
        assert_eq!(retry.code, 0, "the interrupted undo is finished:\n{}", retry.stderr);
        assert!(retry.stderr.contains("recovered"), "{}", retry.stderr);
        assert_restored_except(&before, dump(db), &[]);
        let verify = hk.run(&["journal", "verify"]);
        assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);

        // The undos' own records: their plans name the keys they restore (collapsed into
        // ranges), their chunks the rows they inserted, every column of each.
        let mut planned = Vec::new();
        let mut inserted = Vec::new();
        let list = hk.run(&["journal", "list", "--format", "json"]).json();
        for undo in list["runs"].as_array().expect("runs").iter().filter(|r| r["of_run"] == run.as_str()) {
            let id = undo["run_id"].as_str().expect("run id");
            let doc = hk.run(&["journal", "show", id, "--format", "json"]).json();
            for duty in doc["duties"].as_array().expect("duties") {
                for s in duty["plan"]["summaries"].as_array().into_iter().flatten() {
                    if s["table"] == "log" {
                        planned.push(serde_json::from_value::<KeySet>(s["keys"].clone()).expect("keys"));
                    }
                }
                for chunk in duty["chunks"].as_array().into_iter().flatten() {
                    for t in chunk["tables"].as_array().into_iter().flatten() {
                        if t["table"] == "log" {
                            inserted.extend(t["inserted"].as_array().into_iter().flatten().cloned());
                        }
                    }
                }
            }
        }
        assert!(
            planned.iter().all(|k| matches!(k, KeySet::Ranges(_))),
            "integer keys are ranges in the plan record: {planned:?}"
        );
        assert!(
            planned.iter().map(KeySet::len).sum::<u64>() >= 300,
            "the plans name every log row put back: {planned:?}"
        );
        assert_eq!(inserted.len() as u64, pruned, "each row put back once, with its image");
        let log = before.table("log").expect("log");
        assert!(
            inserted.iter().all(|row| row.as_array().is_some_and(|r| r.len() == log.columns.len())),
            "every column of each row"
        );
    }
);

backend_test!(fn thousands_of_ghost_jobs_over_several_chunks_go_and_come_back_byte_for_byte(db) {
        // 2,500 jobs: a plan record of 2,500 summaries (written one at a time), chunks of
        // 1,200 jobs whose dependent rows go in statements of at most 1,000 keys, one chunk
        // left partly full; then the undo puts every row back as it was.
        scenario::install_schema(&mut *db.connect(), SchemaLevel::Current).expect("schema");
        let mut seed = Seed::new(now());
        let app = seed.app("Reporter").id();
        let company = seed.company("ACME", "acme").id();
        let rt = seed.runtemplate(app, company, "n").id();
        for j in 0..2_500 {
            let job = seed.ghost_job(rt, scenario::shift(now(), -3 * 3600 - j)).id();
            for line in 1..=2 {
                seed.output_line(job, line, "stdout", &format!("job {job} line {line}: ok ✓ 'q'"));
            }
            if j % 5 == 0 {
                let _ = seed.artifact(job, &format!("report-{job}.json"), "{\"ok\":true}");
            }
        }
        seed.apply(&mut *db.connect()).expect("seed");
        let before = dump(db);
        let mut hk = tool_for(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS", "1200");
        let out = hk.run(&["run", "--duty", "OrphanedJobCleanup", "--format", "json"]);
        let run = run_id(&out);
        let gone = dump(db);
        assert_eq!(gone.row_count("job"), 0, "{}", out.stderr);
        assert_eq!(gone.row_count("job_output_lines"), 0);
        assert_eq!(gone.row_count("artifacts"), 0);
        let shown = hk.run(&["journal", "show", &run, "--format", "json"]).json();
        let duty = shown["duties"]
            .as_array()
            .and_then(|d| d.iter().find(|d| d["duty"] == "OrphanedJobCleanup"))
            .cloned()
            .expect("the duty in the journal");
        assert_eq!(duty["chunks"].as_array().map(Vec::len), Some(3), "2,500 jobs in chunks of 1,200");
        assert_eq!(
            duty["plan"]["summaries"].as_array().map(Vec::len),
            Some(2_500),
            "one summary per job in the plan record"
        );
        let verify = hk.run(&["journal", "verify"]);
        assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);

        let undo = hk.run(&["undo", &run, "--format", "json"]);
        assert_eq!(undo.code, 0, "{}", undo.stderr);
        assert_restored_except(&before, dump(db), &[]);
        let verify = hk.run(&["journal", "verify"]);
        assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    }
);

backend_test!(fn thousands_of_stale_tasks_finalized_in_sets_come_back_byte_for_byte(db) {
        // 2,500 expired tasks, chunks of 1,200: each chunk's tasks are locked, changed and
        // re-read in sets of at most 1,000, two new states (missed, failed) in every set; the
        // undo changes them back the same way.
        scenario::install_schema(&mut *db.connect(), SchemaLevel::Current).expect("schema");
        let mut seed = Seed::new(now());
        let app = seed.app("Reporter").id();
        let company = seed.company("ACME", "acme").id();
        let rt = seed.runtemplate(app, company, "h").id();
        let start = scenario::shift(now(), -2 * 86_400);
        for t in 0..2_500 {
            let (state, attempts) = if t % 3 == 0 { ("running", 1) } else { ("open", 0) };
            seed.task(rt, start, scenario::shift(now(), -1 - t), state, attempts);
        }
        seed.apply(&mut *db.connect()).expect("seed");
        let before = dump(db);
        let mut hk = tool_for(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS", "1200");
        let out = hk.run(&["run", "--duty", "StaleTaskFinalization", "--format", "json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let run = run_id(&out);
        let report = &out.json()["duties"][0];
        assert_eq!(report["affected"], 2_500, "{report:#}");
        assert_eq!(report["categories"]["failed"], 834, "{report:#}");
        assert_eq!(report["categories"]["missed"], 1_666, "{report:#}");
        let done = dump(db);
        let tasks = done.table("task").expect("task");
        for (state, count) in [("failed", 834), ("missed", 1_666), ("open", 0), ("running", 0)] {
            let n = tasks.rows.iter().filter(|r| tasks.value(r, "state") == Some(&Value::from(state))).count();
            assert_eq!(n, count, "tasks {state}");
        }
        let shown = hk.run(&["journal", "show", &run, "--format", "json"]).json();
        let duty = shown["duties"]
            .as_array()
            .and_then(|d| d.iter().find(|d| d["duty"] == "StaleTaskFinalization"))
            .cloned()
            .expect("the duty in the journal");
        assert_eq!(duty["chunks"].as_array().map(Vec::len), Some(3), "2,500 tasks in chunks of 1,200");

        let undo = hk.run(&["undo", &run, "--format", "json"]);
        assert_eq!(undo.code, 0, "{}", undo.stderr);
        assert_restored_except(&before, dump(db), &[]);
        let verify = hk.run(&["journal", "verify"]);
        assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    }
);
