//! Whoever can write a saved plan file, or a retention policy row, does not choose what
//! housekeeper deletes. Through the real binary on every engine: a plan file edited to reach
//! another table, another column, another duty, wider keys or weaker guards is refused whole
//! or narrowed to what the duties plan now; a damaged file is reported as such; `plan --out`
//! writes 0600 whatever the umask; a retention policy with an impossible period fails alone.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use housekeeper::plan::{Change, DeleteRows, Guard, Item, Op, Reason, UpdateRow};
use housekeeper_journal::{KeySet, Value};
use housekeeper_scenario::Seed;

use crate::duties_rows::{apply, assert_run, at, changes, dump, duty, install, parents, DAY};
use crate::support::tool::{self, Out, Tool};
use crate::support::TestDb;

/// Log rows 1–20, oldest first (LogPruning keeps the newest 10: it deletes 1–10); user 1
/// `admin`, app 1, company 1; user 2 inactive for four years under an anonymize policy (#1);
/// sessions 1 (31 days old) and 2 (10 days old) of user 1 under a 30-day hard_delete policy
/// (#2).
fn seed(db: &TestDb) -> Tool {
    install(db);
    let mut seed = Seed::new(crate::duties_rows::now());
    parents(&mut seed);
    seed.user("old.user")
        .set("last_activity_at", at(-4 * 365 * DAY));
    seed.retention_policy(
        "inactive_users",
        "user_data",
        "user",
        1095,
        30,
        "anonymize",
        Some(1),
    );
    seed.retention_policy(
        "sessions",
        "session_data",
        "user_sessions",
        30,
        7,
        "hard_delete",
        Some(1),
    );
    seed.session(1, at(-31 * DAY));
    seed.session(1, at(-10 * DAY));
    for i in 1..=20 {
        seed.log("info", "seed", &format!("message {i}"), at((i - 100) * 60));
    }
    apply(db, &seed);
    let mut hk = Tool::new(db);
    hk.set("MULTIFLEXI_HOUSEKEEPER_CREDENTIAL_CHECK", "false")
        .set(
            "MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS",
            "hard_delete,anonymize",
        )
        .set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "10");
    hk
}

/// `plan --out` for the given duties (all when empty), the file read back as JSON.
fn saved_plan(db: &TestDb, hk: &Tool, duties: &[&str]) -> (std::path::PathBuf, serde_json::Value) {
    let file = db.dir().join("plan.json");
    let mut args = vec!["plan", "--out", file.to_str().unwrap()];
    for d in duties {
        args.extend(["--duty", d]);
    }
    assert_run(&hk.run(&args), 0);
    let plan = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    (file, plan)
}

/// The items of one duty in a saved plan.
fn items<'a>(plan: &'a mut serde_json::Value, duty: &str) -> &'a mut Vec<serde_json::Value> {
    plan["duties"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|d| d["duty"] == duty)
        .unwrap_or_else(|| panic!("no {duty}"))["items"]
        .as_array_mut()
        .unwrap()
}

fn item_json(op: Op) -> serde_json::Value {
    serde_json::to_value(Item::new(op, Reason::new("edited", "edited by hand"))).unwrap()
}

fn apply_file(hk: &Tool, file: &Path) -> Out {
    hk.run(&["apply", file.to_str().unwrap(), "--format", "json"])
}

/// The whole file was refused: exit 1, the message, not a row changed, no journal at all.
fn assert_refused_whole(db: &TestDb, hk: &Tool, file: &Path, message: &str) {
    let before = dump(db);
    let out = apply_file(hk, file);
    assert_run(&out, 1);
    assert!(out.stderr.contains(message), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the whole plan is refused and nothing was changed"),
        "{}",
        out.stderr
    );
    assert_eq!(dump(db), before, "nothing changed");
    assert!(!hk.state.join("journal").exists(), "nothing journaled");
}

backend_test!(
    fn an_appended_update_of_a_user_password_is_refused_whole(db) {
        let hk = seed(db);
        let (file, mut plan) = saved_plan(db, &hk, &["LogPruning"]);
        items(&mut plan, "LogPruning").push(item_json(Op::Update(UpdateRow {
            table: "user".into(),
            key_column: "id".into(),
            key: Value::Int(1),
            changes: vec![
                Change { column: "login".into(), old: Value::from("admin"), new: Value::from("mallory") },
                Change { column: "password".into(), old: Value::Null, new: Value::from("$2y$10$attacker") },
            ],
            guard: Guard::Exists,
        })));
        tool::write_resealed(&file, plan);
        assert_refused_whole(db, &hk, &file, "item 1 of LogPruning updates table user, which LogPruning never does");
    }
);

backend_test!(
    fn an_appended_delete_of_an_app_is_refused_whole(db) {
        let hk = seed(db);
        let (file, mut plan) = saved_plan(db, &hk, &["LogPruning"]);
        items(&mut plan, "LogPruning").push(item_json(Op::Delete(DeleteRows {
            table: "apps".into(),
            key_column: "id".into(),
            keys: KeySet::Values(vec![Value::Int(1)]),
            dependents: Vec::new().into(),
            guard: Guard::Exists,
        })));
        tool::write_resealed(&file, plan);
        assert_refused_whole(db, &hk, &file, "item 1 of LogPruning deletes from table apps, which LogPruning never does");
    }
);

backend_test!(
    fn a_foreign_column_in_a_legit_update_is_refused_whole(db) {
        let hk = seed(db);
        let (file, mut plan) = saved_plan(db, &hk, &["DataRetentionCleanup"]);
        let list = items(&mut plan, "DataRetentionCleanup");
        let at = list
            .iter()
            .position(|i| i["op"]["update"]["table"] == "user")
            .expect("the anonymize update of user 2");
        let extra = serde_json::to_value(Change {
            column: "password".into(),
            old: Value::Null,
            new: Value::from("$2y$10$attacker"),
        })
        .unwrap();
        list[at]["op"]["update"]["changes"].as_array_mut().unwrap().push(extra);
        tool::write_resealed(&file, plan);
        assert_refused_whole(
            db,
            &hk,
            &file,
            &format!("item {at} of DataRetentionCleanup updates column user.password, which DataRetentionCleanup never does"),
        );
    }
);

backend_test!(
    fn an_item_moved_under_another_duty_is_refused_whole(db) {
        let hk = seed(db);
        let (file, plan) = saved_plan(db, &hk, &[]);
        let prune = items(&mut plan.clone(), "LogPruning")[0].clone();
        assert!(prune["op"]["delete"]["table"] == "log", "{prune:#}");

        let mut moved = plan.clone();
        items(&mut moved, "LogPruning").clear();
        items(&mut moved, "ScheduleIntegrity").push(prune.clone());
        tool::write_resealed(&file, moved);
        assert_refused_whole(db, &hk, &file, "item 0 of ScheduleIntegrity deletes from table log, which ScheduleIntegrity never does");

        // DataRetentionCleanup may delete from log, but no enabled policy names log now.
        let mut moved = plan;
        items(&mut moved, "LogPruning").clear();
        let retention = items(&mut moved, "DataRetentionCleanup");
        retention.push(prune);
        let at = retention.len() - 1;
        tool::write_resealed(&file, moved);
        assert_refused_whole(
            db,
            &hk,
            &file,
            &format!("item {at} of DataRetentionCleanup deletes from table log, which no enabled retention policy allows"),
        );
    }
);

backend_test!(
    fn widened_keys_delete_only_what_the_duty_plans_now(db) {
        let hk = seed(db);
        let (file, mut plan) = saved_plan(db, &hk, &["LogPruning"]);
        let prune = &mut items(&mut plan, "LogPruning")[0]["op"]["delete"];
        assert_eq!(prune["keys"], serde_json::json!({"Ranges": [[1, 10]]}));
        prune["keys"] = serde_json::json!({"Ranges": [[1, 20]]});
        prune["guard"] = serde_json::json!("exists");
        tool::write_resealed(&file, plan);
        let before = dump(db);
        let out = apply_file(&hk, &file);
        assert_run(&out, 0);
        let report = duty(&out.json(), "LogPruning").clone();
        assert_eq!(report["affected"], 10, "{report:#}");
        assert_eq!(
            report["drifted"],
            serde_json::json!([{"table": "log", "key": "11..20", "reason": "not_planned_now"}])
        );
        assert_eq!(report["drifted_count"], 10);
        assert!(out.stderr.contains("not planned now: log 11..20"), "{}", out.stderr);
        let got = changes(&before, &dump(db));
        let expected: BTreeSet<String> = (1..=10).map(|id| format!("log [{id}] removed")).collect();
        assert_eq!(got, expected);
    }
);

backend_test!(
    fn guards_and_cutoffs_come_from_the_duty_not_the_file(db) {
        let hk = seed(db);
        let (file, mut plan) = saved_plan(db, &hk, &["DataRetentionCleanup"]);
        let list = items(&mut plan, "DataRetentionCleanup");
        let at = list
            .iter()
            .position(|i| i["op"]["delete"]["table"] == "user_sessions")
            .expect("the hard delete of session 1");
        let session = |n: i64| Value::from(format!("sess-{n:032x}"));
        let delete = &mut list[at];
        assert_eq!(
            delete["op"]["delete"]["keys"],
            serde_json::to_value(KeySet::Values(vec![session(1)])).unwrap()
        );
        // Wider keys, no re-check, a cutoff a day in the future.
        delete["op"]["delete"]["keys"] =
            serde_json::to_value(KeySet::Values(vec![session(1), session(2)])).unwrap();
        delete["op"]["delete"]["guard"] = serde_json::json!("exists");
        delete["tags"]["cutoff"] = serde_json::json!("2026-11-29 09:00:00");
        tool::write_resealed(&file, plan);
        // Meanwhile session 1 was used again: it no longer qualifies.
        let key = format!("sess-{:032x}", 1);
        db.run_sql(&[&format!(
            "UPDATE user_sessions SET last_activity = '2026-11-28 08:00:00' WHERE id = '{key}'"
        )]);
        let before = dump(db);
        let out = apply_file(&hk, &file);
        assert_run(&out, 0);
        let report = duty(&out.json(), "DataRetentionCleanup").clone();
        let refused: Vec<&serde_json::Value> = report["drifted"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["table"] == "user_sessions")
            .collect();
        assert_eq!(
            refused,
            [
                &serde_json::json!({"table": "user_sessions", "key": key, "reason": "not_planned_now"}),
                &serde_json::json!({"table": "user_sessions", "key": format!("sess-{:032x}", 2), "reason": "not_planned_now"}),
            ]
        );
        let got = changes(&before, &dump(db));
        assert!(!got.iter().any(|l| l.starts_with("user_sessions")), "both sessions survive: {got:#?}");
        assert!(got.iter().any(|l| l.starts_with("user [2] login")), "the rest of the plan applies: {got:#?}");
    }
);

backend_test!(
    fn a_plan_made_for_a_later_now_is_refused(db) {
        let hk = seed(db);
        let (file, mut plan) = saved_plan(db, &hk, &["LogPruning"]);
        plan["now"] = serde_json::to_value(at(60)).unwrap();
        tool::write_resealed(&file, plan);
        let before = dump(db);
        let out = apply_file(&hk, &file);
        assert_run(&out, 1);
        assert!(out.stderr.contains("later than the database's now 2026-11-28 09:00:00"), "{}", out.stderr);
        assert_eq!(dump(db), before);
        assert!(!hk.state.join("journal").exists());
    }
);

backend_test!(
    fn a_damaged_plan_file_is_reported_as_damaged(db) {
        let hk = seed(db);
        let (file, _) = saved_plan(db, &hk, &["LogPruning"]);
        let text = std::fs::read_to_string(&file).unwrap();
        let damaged = text.replacen("\"Ranges\": [\n", "\"Ranges\": [\n ", 1).replacen("10\n", "19\n", 1);
        assert_ne!(damaged, text);
        std::fs::write(&file, damaged).unwrap();
        let before = dump(db);
        let out = apply_file(&hk, &file);
        assert_run(&out, 2);
        assert!(out.stderr.contains("is damaged: digest mismatch"), "{}", out.stderr);
        assert_eq!(dump(db), before);
        assert!(!hk.state.join("journal").exists());
    }
);

backend_test!(
    fn saved_plans_are_readable_by_their_owner_only(db) {
        let hk = seed(db);
        let file = db.dir().join("plan.json");
        std::fs::write(&file, "an older file, world-readable").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let cmd = hk.command(&["plan", "--duty", "LogPruning", "--out", file.to_str().unwrap()]);
        let mut sh = Command::new("sh");
        sh.env_clear()
            .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .arg("-c")
            .arg("umask 000 && exec \"$0\" \"$@\"")
            .arg(cmd.get_program())
            .args(cmd.get_args());
        let out = sh.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600, "{mode:o}");
        let leftovers: Vec<String> = std::fs::read_dir(db.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert_run(&apply_file(&hk, &file), 0);
    }
);

backend_test!(
    fn an_honest_plan_applies_exactly(db) {
        let hk = seed(db);
        let (file, _) = saved_plan(db, &hk, &[]);
        let before = dump(db);
        let out = apply_file(&hk, &file);
        assert_run(&out, 0);
        let report = out.json();
        for d in report["duties"].as_array().unwrap() {
            assert_eq!(d["drifted_count"], 0, "{d:#}");
        }
        let got = changes(&before, &dump(db));
        let session = format!("sess-{:032x}", 1);
        // LOG_KEEP=10 counts the 5 log rows the run writes before LogPruning: seed rows 1–15 go.
        for line in [
            "log [1] removed".to_owned(),
            "log [15] removed".to_owned(),
            format!("user_sessions [{session}] removed"),
            "user [2] login: old.user → deleted_user-2".to_owned(),
        ] {
            assert!(got.contains(&line), "{line}: {got:#?}");
        }
        assert!(!got.iter().any(|l| l.starts_with("log [16]")), "{got:#?}");
    }
);

backend_test!(
    fn a_retention_policy_with_a_negative_period_fails_alone(db) {
        install(db);
        let mut seed = Seed::new(crate::duties_rows::now());
        parents(&mut seed);
        seed.retention_policy("typo", "logs", "log", -30, 7, "hard_delete", Some(1));
        seed.retention_policy("sessions", "session_data", "user_sessions", 30, 7, "hard_delete", Some(1));
        seed.session(1, at(-31 * DAY));
        seed.session(1, at(-10 * DAY));
        for i in 1..=5 {
            seed.log("info", "seed", &format!("message {i}"), at(-i * DAY));
        }
        apply(db, &seed);
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_CREDENTIAL_CHECK", "false");
        let before = dump(db);
        let out = hk.run(&["run", "--duty", "DataRetentionCleanup", "--format", "json"]);
        assert_run(&out, 1);
        let message = "policy \"typo\" (#1, log): retention_period_days = -30 is impossible (allowed: 1 to 36500 days); the policy is not applied";
        assert!(out.stderr.contains(message), "{}", out.stderr);
        let report = duty(&out.json(), "DataRetentionCleanup").clone();
        assert_eq!(report["status"], "failed");
        assert_eq!(report["errors"], serde_json::json!([message]));
        assert_eq!(report["affected"], 1);
        let after = dump(db);
        let logs = |d: &housekeeper_scenario::Dump| d.table("log").unwrap().rows.len();
        assert!(logs(&after) >= logs(&before), "not a row of log deleted");
        let got = changes(&before, &after);
        assert!(!got.iter().any(|l| l.starts_with("log [")), "{got:#?}");
        let expected: BTreeSet<String> =
            [format!("user_sessions [sess-{:032x}] removed", 1), "retention_cleanup_jobs [1] added".to_owned()].into();
        assert_eq!(got, expected);
    }
);
