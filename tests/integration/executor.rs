//! The executor and the run protocol (docs/AUDIT.md, journal/FORMAT.md), through the real binary on every engine:
//! LogPruning deletes exactly the right rows and journals every deleted row's full image; a
//! dry run changes nothing anywhere; two runs never both apply; and a process killed with
//! SIGKILL at each step of the protocol leaves a state the next start resolves, losing nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use housekeeper_journal::{read_records, ChunkStatus, PayloadEntry, Record, RowRole, Value};
use housekeeper_scenario::{self as scenario, SchemaLevel, Seed};

use crate::support::tool::{self, kill9, make_files, tree, Tool};
use crate::support::TestDb;

fn now() -> housekeeper_journal::DateTimeValue {
    housekeeper_journal::DateTimeValue::parse(tool::NOW).expect("NOW parses")
}

/// The MultiFlexi schema with `n` log rows (ids 1..=n), some with NULLs and unicode.
fn seed_log(db: &TestDb, n: i64) {
    let mut conn = db.connect();
    scenario::install_schema(&mut *conn, SchemaLevel::Current).expect("install the schema");
    let mut seed = Seed::new(now());
    for i in 1..=n {
        let message = if i % 7 == 0 {
            format!("Žluťoučký kůň #{i} 'quoted' \\ back")
        } else {
            format!("message {i}")
        };
        let row = seed.log(
            if i % 3 == 0 { "error" } else { "info" },
            "seed",
            &message,
            scenario::shift(now(), -i * 60),
        );
        if i % 5 == 0 {
            row.set("company_id", Value::Null);
        }
    }
    seed.apply(&mut *conn).expect("seed log rows");
}

/// Every row of a table by id.
fn rows_by_id(db: &TestDb, table: &str) -> BTreeMap<i64, Vec<Value>> {
    let mut conn = db.connect();
    let mut view = conn.snapshot().expect("snapshot");
    let d = *view.dialect();
    let rows = view
        .query(
            &format!(
                "SELECT * FROM {} ORDER BY {}",
                d.quote(table),
                d.quote("id")
            ),
            &[],
        )
        .expect("select");
    rows.rows
        .into_iter()
        .map(|r| (r[0].as_i64().expect("integer id"), r))
        .collect()
}

/// Every row image of `table` that committed chunks of the journal captured as deleted.
fn deleted_images(state: &Path, table: &str) -> BTreeMap<i64, Vec<Value>> {
    let journal = state.join("journal");
    let mut out = BTreeMap::new();
    for entry in read_records(&journal).expect("read the journal") {
        let Record::ChunkOutcome {
            status: ChunkStatus::Committed,
            payload: Some(payload),
            ..
        } = entry.expect("a record").record
        else {
            continue;
        };
        let mut current = String::new();
        for e in
            housekeeper_journal::open_payload(&journal, &payload.digest).expect("open a payload")
        {
            match e.expect("a payload entry") {
                PayloadEntry::Table { name, .. } => current = name,
                PayloadEntry::Row {
                    role: RowRole::Deleted,
                    values,
                } if current == table => {
                    let id = values[0].as_i64().expect("integer id");
                    assert!(
                        out.insert(id, values).is_none(),
                        "{table} {id} deleted twice"
                    );
                }
                _ => {}
            }
        }
    }
    out
}

fn assert_verifies(state: &Path) {
    let report = housekeeper_journal::verify(&state.join("journal"), None).expect("verify runs");
    assert!(
        report.damage.is_empty(),
        "journal damage: {:?}",
        report.damage
    );
}

backend_test!(
    fn log_pruning_deletes_exactly_and_journals_every_image(db) {
        seed_log(db, 2500);
        let before = rows_by_id(db, "log");
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "100").set("MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS", "1000");
        let out = hk.run(&["run", "--duty", "LogPruning", "--format", "json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let report = out.json();
        let duty = report["duties"].as_array().unwrap().iter().find(|d| d["duty"] == "LogPruning").unwrap();
        assert_eq!(duty["status"], "ok");
        assert_eq!(duty["affected"], 2400);

        let after = rows_by_id(db, "log");
        let seeded_left: Vec<i64> = after.keys().copied().filter(|id| *id <= 2500).collect();
        assert_eq!(seeded_left, (2401..=2500).collect::<Vec<_>>(), "exactly the newest 100 stay");
        assert!(after.keys().any(|id| *id > 2500), "the run wrote its own log rows");

        let images = deleted_images(&hk.state, "log");
        assert_eq!(images.len(), 2400);
        for (id, image) in &images {
            assert_eq!(Some(image), before.get(id), "the image of log {id} is the row as it was");
        }
        let chunks = read_records(&hk.state.join("journal"))
            .unwrap()
            .filter(|e| matches!(e.as_ref().unwrap().record, Record::ChunkOutcome { status: ChunkStatus::Committed, .. }))
            .count();
        assert_eq!(chunks, 3, "2400 rows in chunks of at most 1000");
        assert_verifies(&hk.state);
    }
);

backend_test!(
    fn a_dry_run_changes_nothing_anywhere(db) {
        let mut conn = db.connect();
        scenario::install_schema(&mut *conn, SchemaLevel::Current).unwrap();
        let hk = Tool::new(db);
        let mess = scenario::realistic_mess_in(&mut *conn, now(), 1, &hk.tmp).unwrap();
        drop(conn);
        let mut files: Vec<(String, u64)> = (0..20).map(|i| (format!("old/f{i}.txt"), 30 + i)).collect();
        files.push(("fresh.txt".into(), 1));
        let files: Vec<(&str, u64)> = files.iter().map(|(p, h)| (p.as_str(), *h)).collect();
        make_files(&hk.tmp, &files, tool::now_system());
        for path in &mess.referenced_files {
            make_files(Path::new("/"), &[(path.trim_start_matches('/'), 48)], tool::now_system());
        }
        let db_before = scenario::dump_database(&mut *db.connect()).unwrap();
        let tree_before = tree(&hk.tmp);
        let dir_before: BTreeSet<String> = std::fs::read_dir(db.dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();

        let plan = hk.run(&["plan"]);
        assert_eq!(plan.code, 0, "{}", plan.stderr);
        assert!(plan.stdout.contains("== LogPruning"), "{}", plan.stdout);
        let dry = hk.run(&["run", "--dry-run", "--format", "json"]);
        assert_eq!(dry.code, 0, "{}", dry.stderr);
        assert_eq!(dry.json()["format"], "housekeeper.plan/v2");
        let mut by_env = hk.clone();
        by_env.set("MULTIFLEXI_HOUSEKEEPER_DRY_RUN", "true");
        assert_eq!(by_env.run(&["run"]).code, 0);
        let via_php_name = {
            let mut cmd = by_env.command(&["-n"]);
            // The PHP tool's entry point: argv[0] multiflexi-housekeeper.
            use std::os::unix::process::CommandExt;
            cmd.arg0("multiflexi-housekeeper");
            cmd.output().unwrap()
        };
        assert_eq!(via_php_name.status.code(), Some(0), "{}", String::from_utf8_lossy(&via_php_name.stderr));

        let db_after = scenario::dump_database(&mut *db.connect()).unwrap();
        let diff = db_before.diff(&db_after);
        assert!(diff.is_empty(), "a dry run changed the database:\n{diff}");
        assert_eq!(tree(&hk.tmp), tree_before, "a dry run changed the temp tree");
        assert!(!hk.state.exists(), "a dry run created the state directory");
        let dir_after: BTreeSet<String> = std::fs::read_dir(db.dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(dir_after, dir_before, "a dry run created files beside the database");
    }
);

backend_test!(
    fn two_runs_never_both_apply(db) {
        seed_log(db, 300);
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "10");
        let first = hk.stopped_at("after-plan", &["run", "--duty", "LogPruning"]);

        let same_host = hk.run(&["run", "--duty", "LogPruning"]);
        assert_eq!(same_host.code, 75, "{}", same_host.stderr);
        assert!(same_host.stderr.contains("another housekeeper holds"), "{}", same_host.stderr);
        assert!(same_host.stderr.contains("housekeeper run"), "the holder is named: {}", same_host.stderr);

        let mut other_host = hk.clone();
        other_host.state = db.dir().join("other-state");
        let out = other_host.run(&["run", "--duty", "LogPruning"]);
        assert_eq!(out.code, 75, "{}", out.stderr);
        assert!(out.stderr.contains("another housekeeper is working on"), "{}", out.stderr);
        assert_eq!(rows_by_id(db, "log").keys().filter(|id| **id <= 300).count(), 300, "nothing applied yet");

        kill9(first);
        let out = hk.run_when_free(&["run", "--duty", "LogPruning", "--format", "json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let report = out.json();
        assert!(!report["recovered"].as_array().unwrap().is_empty(), "the killed run is closed: {report}");
        let images = deleted_images(&hk.state, "log");
        assert_eq!(images.len(), 290, "every row deleted exactly once");
        assert_verifies(&hk.state);
    }
);

/// Kills a run at `point`, starts again, and checks nothing was lost.
fn crash_at(db: &TestDb, point: &str) {
    crash_with(db, point, "10", None, 0);
}

/// Kills a run at `point` with `chunk_rows` rows per chunk and files per batch, the state
/// directory under `state_root` when given (another filesystem: moves are copies), starts
/// again, and checks nothing was lost: every row is in its table or journaled as deleted, and
/// every file is at its path or in the quarantine, once, with its intent and its outcome.
/// `history` runs that change nothing come first.
fn crash_with(
    db: &TestDb,
    point: &str,
    chunk_rows: &str,
    state_root: Option<&Path>,
    history: usize,
) {
    seed_log(db, 40);
    let before = rows_by_id(db, "log");
    let mut hk = Tool::new(db);
    let _state = state_root.map(|root| {
        let dir = tempfile::Builder::new()
            .prefix("hk-state-")
            .tempdir_in(root)
            .expect("a state directory on the other filesystem");
        hk.state = dir.path().join("state");
        dir
    });
    hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "15")
        .set("MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS", chunk_rows);
    let files = make_files(
        &hk.tmp,
        &[
            ("a.txt", 30),
            ("d/b.txt", 40),
            ("d/e/c.txt", 50),
            ("d/e/f.txt", 60),
            ("g/h.txt", 70),
            ("new.txt", 1),
        ],
        tool::now_system(),
    );
    let contents: BTreeMap<String, Vec<u8>> = files
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read(p).unwrap()))
        .collect();
    let args = [
        "run",
        "--duty",
        "DiskTempFileCleanup,LogPruning",
        "--format",
        "json",
    ];
    tool::quiet_runs(&hk, history);

    let crashed = hk.stopped_at(point, &args);
    kill9(crashed);
    let during = rows_by_id(db, "log");
    match point {
        "after-plan" | "before-commit" => {
            let seeded = during.keys().filter(|id| **id <= 40).count();
            assert_eq!(seeded, before.len(), "nothing committed at {point}");
        }
        _ => {}
    }

    let out = hk.run_when_free(&args);
    assert_eq!(out.code, 0, "restart after {point}: {}", out.stderr);
    let report = out.json();
    assert!(
        !report["recovered"].as_array().unwrap().is_empty(),
        "the crashed run at {point} is closed: {report}"
    );
    // The crashed run is closed, no run is left open.
    assert!(
        housekeeper::apply::recover::open_runs(&hk.state.join("journal"))
            .unwrap()
            .is_empty()
    );
    let aborted = read_records(&hk.state.join("journal"))
        .unwrap()
        .filter(|e| matches!(&e.as_ref().unwrap().record, Record::RunEnd { status, .. } if status == "aborted"))
        .count();
    assert_eq!(aborted, 1, "the crashed run ended as aborted");

    // Nothing lost: every seeded row is either still there or has its image in the journal.
    let after = rows_by_id(db, "log");
    let images = deleted_images(&hk.state, "log");
    for (id, row) in &before {
        match (after.get(id), images.get(id)) {
            (Some(now), None) => assert_eq!(now, row),
            (None, Some(image)) => assert_eq!(image, row, "log {id}"),
            (Some(_), Some(_)) => panic!("log {id} is both in the table and journaled as deleted"),
            (None, None) => panic!("log {id} vanished without a journal entry (crash at {point})"),
        }
    }
    // The crashed run's own log rows count too, so the boundary moves up; what stays is the
    // newest tail of the seeded rows, and no more than LOG_KEEP of them.
    let kept: Vec<i64> = after.keys().copied().filter(|id| *id <= 40).collect();
    if history > 0 {
        // The earlier runs' own log rows are the newest: none of the seeded rows stays.
        assert!(
            kept.is_empty(),
            "the restart finished the pruning: {kept:?}"
        );
    } else {
        assert!(
            kept.len() <= 15 && kept.last() == Some(&40),
            "the restart finished the pruning: {kept:?}"
        );
        assert_eq!(
            kept,
            (41 - kept.len() as i64..=40).collect::<Vec<_>>(),
            "the newest seeded rows stay"
        );
    }

    // Every file is at its path or in the quarantine, byte for byte.
    let quarantined = tree(&hk.state.join("quarantine"));
    for (path, bytes) in &contents {
        let relative = Path::new(path)
            .strip_prefix(&hk.tmp)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let in_quarantine: Vec<_> = quarantined
            .iter()
            .filter(|(q, _)| q.ends_with(&relative))
            .collect();
        match (std::fs::read(path).ok(), in_quarantine.as_slice()) {
            (Some(now), []) => assert_eq!(&now, bytes),
            (None, [(_, (q, ..))]) => assert_eq!(q, bytes, "{path}"),
            (present, q) => panic!(
                "{path}: at its path: {}, in the quarantine {} times",
                present.is_some(),
                q.len()
            ),
        }
    }
    assert!(
        Path::new(&hk.tmp.join("new.txt")).exists(),
        "the fresh file stays"
    );
    for old in ["a.txt", "d/b.txt", "d/e/c.txt", "d/e/f.txt", "g/h.txt"] {
        assert!(
            !hk.tmp.join(old).exists(),
            "the restart finished the quarantine of {old} (crash at {point})"
        );
    }
    // Every quarantined file has its intent and a `moved` outcome, once.
    let mut intents: BTreeMap<(String, String, u32), String> = BTreeMap::new();
    let mut moved: BTreeMap<(String, String, u32), usize> = BTreeMap::new();
    for entry in read_records(&hk.state.join("journal")).unwrap() {
        match entry.unwrap().record {
            Record::FileIntent {
                run_id,
                duty,
                item,
                quarantine_path,
                ..
            } => {
                let q = quarantine_path.as_path().to_string_lossy().into_owned();
                intents.insert((run_id, duty, item), q);
            }
            Record::FileOutcome {
                run_id,
                duty,
                item,
                status: housekeeper_journal::FileStatus::Moved,
            } => *moved.entry((run_id, duty, item)).or_insert(0) += 1,
            _ => {}
        }
    }
    for path in quarantined.keys() {
        let key = intents
            .iter()
            .find(|(_, q)| q.ends_with(&format!("/{path}")))
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| panic!("{path} is in the quarantine without an intent"));
        assert_eq!(
            moved.get(&key),
            Some(&1),
            "{path}: one `moved` outcome (crash at {point})"
        );
    }
    assert_verifies(&hk.state);
}

backend_test!(fn crash_after_plan(db) { crash_at(db, "after-plan"); });
backend_test!(fn crash_before_commit(db) { crash_at(db, "before-commit"); });
backend_test!(fn crash_after_commit(db) { crash_at(db, "after-commit"); });
backend_test!(fn crash_after_file_intent(db) { crash_at(db, "after-intent"); });
backend_test!(fn crash_after_file_move(db) { crash_at(db, "after-move"); });
backend_test!(fn crash_before_file_outcomes(db) { crash_at(db, "before-outcomes"); });
// Files in batches of two: the kill falls inside the first batch, later batches unstarted.
backend_test!(fn crash_after_the_intents_of_the_first_of_several_file_batches(db) {
    crash_with(db, "after-intent", "2", None, 0);
});
backend_test!(fn crash_after_one_move_of_the_first_of_several_file_batches(db) {
    crash_with(db, "after-move", "2", None, 0);
});
backend_test!(fn crash_before_the_outcomes_of_the_first_of_several_file_batches(db) {
    crash_with(db, "before-outcomes", "2", None, 0);
});
// The state directory on another filesystem: every move is a copy, and a source is removed
// only once its batch's copies are durable.
backend_test!(only(sqlite) fn crash_after_the_intents_of_a_batch_of_copies(db) {
    crash_with(db, "after-intent", "2", Some(Path::new("/dev/shm")), 0);
});
backend_test!(only(sqlite) fn crash_after_one_copy_of_a_batch(db) {
    crash_with(db, "after-move", "2", Some(Path::new("/dev/shm")), 0);
});
backend_test!(only(sqlite) fn crash_before_the_outcomes_of_a_batch_of_copies(db) {
    crash_with(db, "before-outcomes", "2", Some(Path::new("/dev/shm")), 0);
});
backend_test!(fn crash_before_run_end(db) { crash_at(db, "before-run-end"); });
backend_test!(fn crash_after_commit_after_a_long_history(db) {
    crash_with(db, "after-commit", "10", None, 200);
});

backend_test!(
    fn reviewed_plans_apply_exactly_once_and_only_where_they_were_made(db) {
        seed_log(db, 100);
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "10");
        let file = db.dir().join("plan.json");
        let file_arg = file.to_str().unwrap();
        let out = hk.run(&["plan", "--duty", "LogPruning", "--out", file_arg]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stderr.contains("apply it with `housekeeper apply"), "{}", out.stderr);

        // The world moves on: five more rows arrive before the review ends.
        let mut seed = Seed::new(now());
        seed.start_ids_at("log", 101);
        for i in 0..5 {
            seed.log("info", "later", &format!("later {i}"), now());
        }
        seed.apply(&mut *db.connect()).unwrap();

        let out = hk.run(&["apply", file_arg, "--format", "json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let left: Vec<i64> = rows_by_id(db, "log").keys().copied().filter(|id| *id <= 105).collect();
        assert_eq!(left, (91..=105).collect::<Vec<_>>(), "exactly the reviewed rows went, nothing more");

        let again = hk.run(&["apply", file_arg]);
        assert_eq!(again.code, 1, "{}", again.stderr);
        assert!(again.stderr.contains("was already applied by run"), "{}", again.stderr);

        let text = std::fs::read_to_string(&file).unwrap();
        let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut old = plan.clone();
        old["created_utc"] = serde_json::Value::from("2026-01-01T00:00:00Z");
        let old_file = db.dir().join("old.json");
        tool::write_resealed(&old_file, old);
        let out = hk.run(&["apply", old_file.to_str().unwrap(), "--max-age", "1h"]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(out.stderr.contains("older than --max-age 1h"), "{}", out.stderr);

        let mut other = plan;
        other["database"] = serde_json::Value::from("sqlite:/elsewhere/multiflexi.sqlite");
        let other_file = db.dir().join("other.json");
        tool::write_resealed(&other_file, other);
        let out = hk.run(&["apply", other_file.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(out.stderr.contains("was made for"), "{}", out.stderr);

        let out = hk.run(&["apply", db.dir().join("missing.json").to_str().unwrap()]);
        assert_eq!(out.code, 2, "{}", out.stderr);
    }
);

backend_test!(
    fn plan_says_when_a_crashed_run_left_records_open(db) {
        seed_log(db, 30);
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "5");
        kill9(hk.stopped_at("after-commit", &["run", "--duty", "LogPruning"]));
        let out = hk.run_when_free(&["plan", "--duty", "LogPruning"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stdout.contains("was interrupted and left journal records open"), "{}", out.stdout);
        assert!(out.stdout.contains("`housekeeper run` will recover them first"), "{}", out.stdout);
    }
);

backend_test!(
    fn a_run_writes_one_log_row_per_duty_and_one_per_run(db) {
        seed_log(db, 3);
        let hk = Tool::new(db);
        let out = hk.run(&["run", "--duty", "LogPruning,RuntemplateCounterRecalc"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let rows = rows_by_id(db, "log");
        let written: Vec<&Vec<Value>> = rows.iter().filter(|(id, _)| **id > 3).map(|(_, r)| r).collect();
        let messages: Vec<String> = written.iter().map(|r| housekeeper::plan::key_text(&r[6])).collect();
        assert_eq!(written.len(), 3, "{messages:?}");
        assert!(messages[0].starts_with("Duty [LogPruning] done in "), "{messages:?}");
        assert!(messages[1].starts_with("Duty [RuntemplateCounterRecalc] done in "), "{messages:?}");
        assert!(messages[2].starts_with("Housekeeper run "), "{messages:?}");
        for r in written {
            assert_eq!(housekeeper::plan::key_text(&r[5]), "MultiFlexi\\Housekeeper");
        }
        let plan = hk.run(&["plan"]);
        assert_eq!(plan.code, 0);
        assert_eq!(rows_by_id(db, "log").len(), rows.len(), "plan writes no log row");
    }
);

backend_test!(
    only(sqlite)
    fn a_full_disk_changes_nothing(db) {
        seed_log(db, 50);
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "5");
        std::fs::create_dir_all(&hk.state).unwrap();
        let mount = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs"])
            .arg(&hk.state)
            .status();
        if !mount.is_ok_and(|s| s.success()) {
            assert!(
                std::env::var("CI").is_err(),
                "CI runs as root and must be able to mount a small tmpfs for this test"
            );
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        struct Unmount(std::path::PathBuf);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount").arg(&self.0).status();
            }
        }
        let _unmount = Unmount(hk.state.clone());
        let out = hk.run(&["run", "--duty", "LogPruning", "--format", "json"]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(out.stderr.contains("not enough free space in"), "{}", out.stderr);
        assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
        assert_eq!(rows_by_id(db, "log").keys().filter(|id| **id <= 50).count(), 50);
        hk.state = db.dir().join("roomy-state");
        let out = hk.run(&["run", "--duty", "LogPruning"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
);

backend_test!(
    fn log_pruning_plans_exact_ranges_around_gaps(db) {
        seed_log(db, 100);
        db.run_sql(&["DELETE FROM log WHERE id BETWEEN 10 AND 20 OR id = 50"]);
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "10");
        let plan = hk.run(&["plan", "--duty", "LogPruning", "--format", "json"]).json();
        let duty = plan["duties"].as_array().unwrap().iter().find(|d| d["duty"] == "LogPruning").unwrap();
        let keys = &duty["items"][0]["op"]["delete"]["keys"]["Ranges"];
        assert_eq!(keys, &serde_json::json!([[1, 9], [21, 49], [51, 90]]));
        assert_eq!(hk.run(&["run", "--duty", "LogPruning"]).code, 0);
        let left: Vec<i64> = rows_by_id(db, "log").keys().copied().filter(|id| *id <= 100).collect();
        assert_eq!(left, (91..=100).collect::<Vec<_>>());
    }
);
