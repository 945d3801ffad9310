//! Selective undo (docs/UNDO.md, "Undo of some items") through the real binary on every
//! engine: `--table/--id` and `--path` restore only those items (a job with the output lines
//! deleted with it), held by the next run like any undo, a second undo of the same run restores the rest and nothing twice, an
//! item that conflicted is restored once its cause is fixed, unknown keys and paths change
//! nothing, `--dry-run` and `--strict` judge the selection only, `journal list/show` say what
//! is restored and what remains, and a selective undo killed mid-way loses nothing.

use std::collections::BTreeSet;
use std::path::PathBuf;

use housekeeper_journal::Value;
use housekeeper_scenario::{self as scenario, Dump, Seed};

use crate::support::tool::{self, kill9, make_files, tree, Out, Tool};
use crate::support::TestDb;
use crate::undo::{dump, now, run_id};

/// The keys (`id=N`) of `table`.
fn keys(d: &Dump, table: &str) -> BTreeSet<String> {
    let t = d.table(table).expect(table);
    t.rows.iter().map(|r| t.key_of(r)).collect()
}

fn ids(table_ids: &[i64]) -> BTreeSet<String> {
    table_ids.iter().map(|i| format!("id={i}")).collect()
}

/// What the run leaves behind and what it takes: two ghost jobs (1 with output lines 1 and 2,
/// 2 with line 3), log rows 1–10 of which LogPruning deletes 1–5, and old temp files `a.txt`
/// and `b/c.txt` (quarantined) next to a fresh one.
struct Mess {
    hk: Tool,
    before: Dump,
    files: std::collections::BTreeMap<String, scenario::FileState>,
    run: String,
}

fn mess(db: &TestDb) -> Mess {
    let mut hk = Tool::new(db);
    hk.set("MULTIFLEXI_HOUSEKEEPER_CREDENTIAL_CHECK", "false")
        .set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "10");
    let (mut seed, _admin, _dave) = tool::seed_inactive_user(db);
    let app = seed.app("Reporter").id();
    let company = seed.company("ACME", "acme").id();
    let rt = seed.runtemplate(app, company, "n").id();
    let job1 = seed.ghost_job(rt, scenario::shift(now(), -3 * 3600)).id();
    seed.output_line(job1, 1, "stdout", "first line of job 1");
    seed.output_line(job1, 2, "stderr", "second line of job 1");
    let job2 = seed.ghost_job(rt, scenario::shift(now(), -4 * 3600)).id();
    seed.output_line(job2, 1, "stdout", "the line of job 2");
    for i in 1..=10 {
        seed.log(
            "info",
            "seed",
            &format!("message {i}"),
            scenario::shift(now(), -i * 60),
        );
    }
    seed.apply(&mut *db.connect()).expect("seed");
    assert_eq!((job1, job2), (1, 2));
    make_files(
        &hk.tmp,
        &[("a.txt", 48), ("b/c.txt", 72), ("fresh.txt", 1)],
        tool::now_system(),
    );
    let before = dump(db);
    let files = tree(&hk.tmp);
    let out = hk.run(&["run", "--format", "json"]);
    let run = run_id(&out);
    let after = dump(db);
    assert_eq!(keys(&after, "job"), ids(&[]), "{}", out.stderr);
    assert_eq!(keys(&after, "job_output_lines"), ids(&[]));
    assert_eq!(
        keys(&before, "log")
            .difference(&keys(&after, "log"))
            .cloned()
            .collect::<BTreeSet<_>>(),
        ids(&[1, 2, 3, 4, 5])
    );
    assert!(!hk.tmp.join("a.txt").exists() && !hk.tmp.join("b/c.txt").exists());
    Mess {
        hk,
        before,
        files,
        run,
    }
}

impl Mess {
    fn path(&self, relative: &str) -> PathBuf {
        self.hk.tmp.join(relative)
    }

    fn undo(&self, extra: &[&str]) -> Out {
        let mut args = vec!["undo", self.run.as_str()];
        args.extend_from_slice(extra);
        self.hk.run(&args)
    }

    /// The run's entry in `journal list --format json`.
    fn listed(&self) -> serde_json::Value {
        let out = self.hk.run(&["journal", "list", "--format", "json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.json()["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .find(|r| r["run_id"] == self.run.as_str())
            .cloned()
            .expect("the run is listed")
    }
}

/// `(changed, restored, undoable)` of `duty` in a run's `undo_duties`.
fn duty_counts(run: &serde_json::Value, duty: &str) -> (u64, u64, u64) {
    let d = run["undo_duties"]
        .as_array()
        .expect("undo_duties")
        .iter()
        .find(|d| d["duty"] == duty)
        .unwrap_or_else(|| panic!("{duty} in {run}"));
    let n = |f: &str| d[f].as_u64().expect(f);
    (n("changed"), n("restored"), n("undoable"))
}

/// Every row and file of `before` is back (the run's own records aside).
fn assert_all_back(m: &Mess, db: &TestDb) {
    let after = dump(db).without_run_records(&m.before);
    let diff = m.before.diff(&after);
    assert!(diff.is_empty(), "not restored:\n{diff}");
    assert_eq!(tree(&m.hk.tmp), m.files);
}

backend_test!(fn undo_of_one_log_row_by_key_restores_that_row_only(db) {
    let m = mess(db);
    let out = m.undo(&["--table", "log", "--id", "3"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let now = dump(db);
    let log = now.table("log").expect("log");
    let row = log.row("id=3").expect("log 3 is back");
    assert_eq!(log.value(row, "message"), Some(&Value::from("message 3")));
    for id in [1, 2, 4, 5] {
        assert!(log.row(&format!("id={id}")).is_none(), "log {id} stays deleted");
    }
    assert_eq!(keys(&now, "job"), ids(&[]), "the jobs stay deleted");
    assert!(!m.path("a.txt").exists(), "the files stay in the quarantine");

    let listed = m.listed();
    assert_eq!(duty_counts(&listed, "LogPruning"), (5, 1, 4));
    assert_eq!(duty_counts(&listed, "OrphanedJobCleanup"), (5, 0, 5));
    assert_eq!(listed["items_restored"], 1);
    assert!(listed["undo"].as_str().unwrap().starts_with("yes, "), "{listed}");
    assert!(listed["undoable_until"].as_str().is_some(), "{listed}");
    let list = m.hk.run(&["journal", "list", "--format", "json"]).json();
    let undo_id = list["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["kind"] == "undo")
        .and_then(|r| r["run_id"].as_str())
        .expect("the undo is listed")
        .to_owned();
    let shown = m.hk.run(&["journal", "show", &m.run]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown.stdout.contains(&format!("LogPruning: 5 changed, 1 restored (by {undo_id}), 4 undoable")),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains(", until 20"), "{}", shown.stdout);
});

backend_test!(fn undo_of_one_file_by_path_restores_that_file_only(db) {
    let m = mess(db);
    let rows = dump(db);
    let out = m.undo(&["--path", m.path("b/c.txt").to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let back = tree(&m.hk.tmp);
    assert_eq!(back.get("b/c.txt"), m.files.get("b/c.txt"), "same bytes, mode, times");
    assert!(!back.contains_key("a.txt"), "a.txt stays in the quarantine");
    let diff = rows
        .clone()
        .without_run_records(&rows)
        .diff(&dump(db).without_run_records(&rows));
    assert!(diff.is_empty(), "no row changed:\n{diff}");
    assert_eq!(duty_counts(&m.listed(), "DiskTempFileCleanup"), (2, 1, 1));
});

backend_test!(fn undo_of_a_job_brings_back_its_output_lines_and_nothing_else(db) {
    let m = mess(db);
    let out = m.undo(&["--table", "job", "--id", "1", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let now = dump(db);
    assert_eq!(keys(&now, "job"), ids(&[1]));
    assert_eq!(keys(&now, "job_output_lines"), ids(&[1, 2]), "job 1's lines, not job 2's");
    let (before_jobs, now_jobs) = (m.before.table("job").unwrap(), now.table("job").unwrap());
    assert_eq!(before_jobs.row("id=1"), now_jobs.row("id=1"), "every column as it was");
    assert!(now.table("log").unwrap().row("id=1").is_none(), "the log rows stay deleted");
    assert!(!m.path("a.txt").exists());
    assert_eq!(duty_counts(&m.listed(), "OrphanedJobCleanup"), (5, 3, 2));
});

backend_test!(fn what_a_selective_undo_restored_is_held_by_the_next_run(db) {
    let m = mess(db);
    let out = m.undo(&["--table", "job", "--id", "1", "--path", m.path("a.txt").to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The next run finds job 1 a ghost again and a.txt old again, and leaves both alone.
    let next = m.hk.run(&["run", "--format", "json"]);
    assert_eq!(next.code, 0, "{}", next.stderr);
    let held = next.held();
    assert!(held.iter().any(|h| h.contains("job id=1")), "{held:?}");
    assert!(held.iter().any(|h| h.contains("a.txt")), "{held:?}");
    let now = dump(db);
    assert_eq!(keys(&now, "job"), ids(&[1]));
    assert_eq!(keys(&now, "job_output_lines"), ids(&[1, 2]));
    assert_eq!(tree(&m.hk.tmp).get("a.txt"), m.files.get("a.txt"));
});

backend_test!(fn a_second_undo_restores_the_rest_and_nothing_twice(db) {
    let m = mess(db);
    let first = m.undo(&["--table", "job", "--id", "1", "--table", "log", "--id", "3"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let rest = m.undo(&["--format", "json"]);
    assert_eq!(rest.code, 0, "{}", rest.stderr);
    let report = rest.json();
    let affected = |duty: &str| {
        report["duties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["duty"] == duty)
            .and_then(|d| d["affected"].as_u64())
            .unwrap_or(0)
    };
    assert_eq!(affected("LogPruning"), 4, "log 3 is not restored twice");
    assert_eq!(affected("DiskTempFileCleanup"), 2);
    assert_all_back(&m, db);

    let listed = m.listed();
    assert_eq!(duty_counts(&listed, "LogPruning"), (5, 5, 0));
    assert_eq!(listed["items_undoable"], 0);
    assert_eq!(listed["undoable_until"], serde_json::Value::Null);
    let undos: Vec<String> = m.hk.run(&["journal", "list", "--format", "json"]).json()["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "undo")
        .map(|r| r["run_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(undos.len(), 2);
    assert_eq!(listed["undo"], format!("undone by {}", undos.join(", ")));
    let third = m.undo(&[]);
    assert_eq!(third.code, 1, "{}", third.stderr);
    assert!(
        third.stderr.contains(&format!("run {} was already undone by run", m.run)),
        "{}",
        third.stderr
    );
    let again = m.undo(&["--table", "log", "--id", "3"]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(again.stderr.contains("already undone"), "{}", again.stderr);
});

backend_test!(fn an_item_that_conflicted_is_restored_once_its_cause_is_fixed(db) {
    let m = mess(db);
    // The scheduler logs something new under an id the run freed.
    let mut seed = Seed::new(now());
    seed.start_ids_at("log", 3);
    seed.log("info", "scheduler", "a new row with an old id", now());
    seed.apply(&mut *db.connect()).expect("insert log 3");

    let first = m.undo(&[]);
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(first.stderr.contains("log 3: key reused by another row"), "{}", first.stderr);
    let listed = m.listed();
    assert_eq!(duty_counts(&listed, "LogPruning"), (5, 4, 1));
    assert_eq!(listed["items_undoable"], 1, "{listed}");
    assert_eq!(tree(&m.hk.tmp), m.files, "the files came back the first time");

    // The operator moves the new row out of the way, and asks again.
    db.run_sql(&["DELETE FROM log WHERE id = 3"]);
    let retry = m.undo(&["--format", "json"]);
    assert_eq!(retry.code, 0, "{}", retry.stderr);
    let affected: u64 = retry.json()["duties"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["affected"].as_u64())
        .sum();
    assert_eq!(affected, 1, "only log 3 is restored: {}", retry.stdout);
    assert_all_back(&m, db);
    assert_eq!(m.listed()["items_undoable"], 0);
});

backend_test!(fn what_remains_is_undoable_until_the_undo_window_ends(db) {
    let m = mess(db);
    let first = m.undo(&["--table", "log", "--id", "3"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let listed = m.listed();
    let left = listed["items_undoable"].as_u64().expect("items_undoable");
    assert!(left > 0, "{listed}");
    assert_eq!(listed["undo"], format!("yes, {left} left"));
    let expired = m.hk.run(&["quarantine", "expire", "--older-than", "0s"]);
    assert_eq!(expired.code, 0, "{}{}", expired.stdout, expired.stderr);
    let rows = dump(db);

    let rest = m.undo(&[]);
    assert_eq!(rest.code, 1, "{}", rest.stderr);
    assert!(
        rest.stderr.contains(&format!("refused: run {} is past its undo window", m.run)),
        "{}",
        rest.stderr
    );
    let diff = rows.diff(&dump(db));
    assert!(diff.is_empty(), "nothing changed:\n{diff}");
    let listed = m.listed();
    assert_eq!(listed["undo"], "past undo window");
    assert_eq!(listed["items_restored"], 1);
    assert_eq!(listed["items_undoable"], 0);
    assert_eq!(listed["undoable_until"], serde_json::Value::Null);
});

backend_test!(fn unknown_keys_and_paths_of_a_selective_undo_change_nothing(db) {
    let m = mess(db);
    let rows = dump(db);
    let runs = m.hk.run(&["journal", "list", "--format", "json"]).json()["runs"]
        .as_array()
        .unwrap()
        .len();
    let cases: [(&[&str], String); 5] = [
        (
            &["--table", "log", "--id", "7"],
            format!("run {} changed no row of table log with key 7", m.run),
        ),
        (
            &["--table", "job", "--id", "1", "--duty", "LogPruning"],
            format!("run {} changed no row of table job with key 1 in LogPruning", m.run),
        ),
        (
            &["--path", "/nowhere/a.txt"],
            format!("run {} moved no file /nowhere/a.txt", m.run),
        ),
        (
            &["--table", "job", "--id", "one"],
            "--id one: the key column job.id holds integers".to_owned(),
        ),
        (
            &["--table", "nosuch", "--id", "1"],
            "no table nosuch in the database".to_owned(),
        ),
    ];
    for (args, message) in cases {
        let out = m.undo(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(&message), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
    }
    let unpaired = m.undo(&["--table", "log", "--id", "1", "--table", "log"]);
    assert_eq!(unpaired.code, 2, "{}", unpaired.stderr);
    let diff = rows.diff(&dump(db));
    assert!(diff.is_empty(), "nothing changed:\n{diff}");
    assert!(!m.path("a.txt").exists());
    let after = m.hk.run(&["journal", "list", "--format", "json"]).json()["runs"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, runs, "no undo run was journaled");
});

backend_test!(fn dry_run_and_strict_judge_only_the_selection(db) {
    let m = mess(db);
    let mut seed = Seed::new(now());
    seed.start_ids_at("log", 3);
    seed.log("info", "scheduler", "a new row with an old id", now());
    seed.apply(&mut *db.connect()).expect("insert log 3");
    let rows = dump(db);

    let job = m.undo(&["--table", "job", "--id", "1", "--dry-run", "--format", "json"]);
    assert_eq!(job.code, 0, "the conflict on log 3 is not selected: {}", job.stderr);
    let doc = job.json();
    assert_eq!(doc["restorable"], 3, "job 1 and its two lines: {doc}");
    assert_eq!(doc["conflicts"].as_array().unwrap().len(), 0);

    let log = m.undo(&["--table", "log", "--id", "3", "--dry-run", "--format", "json"]);
    assert_eq!(log.code, 1, "{}", log.stderr);
    let doc = log.json();
    assert_eq!(doc["restorable"], 0);
    assert_eq!(doc["conflicts"][0]["key"], "3");
    assert_eq!(doc["conflicts"][0]["reason"], "key_reused");

    let strict = m.undo(&["--table", "log", "--id", "3", "--table", "job", "--id", "1", "--strict"]);
    assert_eq!(strict.code, 1, "{}", strict.stderr);
    assert!(strict.stderr.contains("--strict"), "{}", strict.stderr);
    let diff = rows.diff(&dump(db));
    assert!(diff.is_empty(), "dry runs and a refused strict undo change nothing:\n{diff}");

    let ok = m.undo(&["--table", "job", "--id", "1", "--strict"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(keys(&dump(db), "job"), ids(&[1]));
    assert_eq!(keys(&dump(db), "job_output_lines"), ids(&[1, 2]));
});

/// Kills `undo --table job --id 1 --path a.txt` at `point`, then runs the same undo again:
/// the selection comes back exactly once, nothing else does, the journal verifies, and a
/// full undo afterwards brings back the rest.
fn selective_undo_killed_at(db: &TestDb, point: &str) {
    let mut m = mess(db);
    m.hk.set("MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS", "2");
    let a = m.path("a.txt");
    let args = [
        "undo",
        m.run.as_str(),
        "--table",
        "job",
        "--id",
        "1",
        "--path",
        a.to_str().unwrap(),
    ];
    kill9(m.hk.stopped_at(point, &args));
    let retry = m.hk.run_when_free(&args);
    assert_eq!(
        retry.code, 0,
        "killed at {point}, then again:\n{}",
        retry.stderr
    );
    let now = dump(db);
    assert_eq!(keys(&now, "job"), ids(&[1]), "killed at {point}");
    assert_eq!(
        keys(&now, "job_output_lines"),
        ids(&[1, 2]),
        "killed at {point}"
    );
    assert!(
        now.table("log").unwrap().row("id=1").is_none(),
        "killed at {point}"
    );
    let files = tree(&m.hk.tmp);
    assert_eq!(
        files.get("a.txt"),
        m.files.get("a.txt"),
        "killed at {point}"
    );
    assert!(!files.contains_key("b/c.txt"), "killed at {point}");
    let verify = m.hk.run(&["journal", "verify"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    let listed = m.listed();
    assert_eq!(
        duty_counts(&listed, "OrphanedJobCleanup"),
        (5, 3, 2),
        "killed at {point}"
    );
    assert_eq!(
        duty_counts(&listed, "DiskTempFileCleanup"),
        (2, 1, 1),
        "killed at {point}"
    );

    let rest = m.hk.run(&["undo", &m.run]);
    assert_eq!(rest.code, 0, "{}", rest.stderr);
    assert_all_back(&m, db);
}

backend_test!(fn a_selective_undo_killed_after_its_plan_loses_nothing(db) {
    selective_undo_killed_at(db, "after-plan");
});
backend_test!(fn a_selective_undo_killed_before_a_commit_loses_nothing(db) {
    selective_undo_killed_at(db, "before-commit");
});
backend_test!(fn a_selective_undo_killed_after_a_commit_loses_nothing(db) {
    selective_undo_killed_at(db, "after-commit");
});
backend_test!(fn a_selective_undo_killed_while_moving_a_file_back_loses_nothing(db) {
    selective_undo_killed_at(db, "after-move");
});
backend_test!(fn a_selective_undo_killed_before_its_end_loses_nothing(db) {
    selective_undo_killed_at(db, "before-run-end");
});
backend_test!(fn a_selective_undo_killed_after_the_intents_of_its_files_loses_nothing(db) {
    selective_undo_killed_at(db, "after-intent");
});
backend_test!(fn a_selective_undo_killed_before_the_outcomes_of_its_files_loses_nothing(db) {
    selective_undo_killed_at(db, "before-outcomes");
});
