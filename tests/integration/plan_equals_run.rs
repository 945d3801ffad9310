//! `plan` shows exactly what the following `run` does: per duty the same count, the same
//! categories and the same item keys (rows, files), over the realistic mess and over the demo's
//! data set, on every engine. The duties' interactions are what is at stake: rows an earlier
//! duty deletes are not counted again by a later one, `LOG_KEEP` counts what remains (and the
//! run's own `log` rows), a job deleted earlier neither protects its files nor counts for its
//! runtemplate.

use std::collections::BTreeMap;
use std::path::Path;

use housekeeper::commands::plan::SavedPlan;
use housekeeper::duties::DutyName;
use housekeeper::plan::{keys_of, Item, Op};
use housekeeper_scenario::{self as scenario, SchemaLevel};

use crate::support::tool::{self, make_files, Tool};
use crate::support::TestDb;

fn now() -> housekeeper_journal::DateTimeValue {
    housekeeper_journal::DateTimeValue::parse(tool::NOW).expect("NOW parses")
}

/// What one duty does: its count, its categories, and one line per row, record and file it
/// changes (`delete log 17`, `update task 4`, `insert retention_cleanup_jobs`,
/// `quarantine /…/job-9000/result.json`), sorted.
#[derive(Debug, PartialEq, Eq)]
struct Done {
    affected: u64,
    categories: BTreeMap<String, u64>,
    keys: Vec<String>,
}

/// The enabled items' lines: what the executor acts on.
fn item_keys(items: &[Item]) -> Vec<String> {
    let mut keys = Vec::new();
    for item in items.iter().filter(|i| i.enabled) {
        match &item.op {
            Op::Delete(d) => keys.extend(
                keys_of(&d.keys)
                    .into_iter()
                    .map(|k| format!("delete {} {k}", d.table)),
            ),
            Op::Update(u) => keys.push(format!(
                "update {} {}",
                u.table,
                housekeeper::plan::RowKey::of(&u.key)
            )),
            Op::Insert(i) => keys.push(format!("insert {}", i.table)),
            Op::Quarantine(f) => keys.push(format!("quarantine {:?}", f.path)),
            other => panic!("a run plans no {other:?}"),
        }
    }
    keys.sort();
    keys
}

fn categories(value: &serde_json::Value) -> BTreeMap<String, u64> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().expect("a count")))
                .collect()
        })
        .unwrap_or_default()
}

/// `plan --format json`, then `run --format json` and `journal show` of that run: per duty
/// what the plan says and what the run did, which must be equal.
fn plan_then_run(hk: &Tool) -> (BTreeMap<String, Done>, BTreeMap<String, Done>) {
    let out = hk.run(&["plan", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan: SavedPlan = serde_json::from_str(&out.stdout).expect("the plan reads back");
    let planned: BTreeMap<String, Done> = plan
        .duties
        .iter()
        .map(|p| {
            let done = Done {
                affected: p.affected(),
                categories: p.categories(),
                keys: item_keys(&p.items),
            };
            (p.duty.to_string(), done)
        })
        .collect();

    let out = hk.run(&["run", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    let run_id = report["run_id"].as_str().expect("a run id").to_owned();
    let show = hk.run(&["journal", "show", &run_id, "--format", "json"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    let show = show.json();
    let mut items: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    for duty in show["duties"].as_array().expect("duties") {
        let planned = &duty["plan"];
        if planned.is_null() {
            continue;
        }
        let list: Vec<Item> =
            serde_json::from_value(planned["items"].clone()).expect("the run's items read back");
        items.insert(duty["duty"].as_str().unwrap().to_owned(), list);
    }
    let mut done = BTreeMap::new();
    for duty in report["duties"].as_array().expect("duties") {
        let name = duty["duty"].as_str().unwrap().to_owned();
        assert_ne!(duty["status"], "failed", "{duty:#}");
        assert_eq!(
            duty["drifted_count"], 0,
            "nothing changed meanwhile: {duty:#}"
        );
        let keys = items.get(&name).map(|i| item_keys(i)).unwrap_or_default();
        let entry = Done {
            affected: duty["affected"].as_u64().expect("affected"),
            categories: categories(&duty["categories"]),
            keys,
        };
        done.insert(name, entry);
    }
    (planned, done)
}

/// Asserts that the plan equals the run, duty by duty, and that the interactions under test
/// happened at all; returns what the run did.
fn assert_plan_equals_run(hk: &Tool) -> BTreeMap<String, Done> {
    let (planned, done) = plan_then_run(hk);
    let mut differences = Vec::new();
    for name in DutyName::ALL {
        let name = name.to_string();
        let (p, d) = (&planned[&name], &done[&name]);
        if p.affected != d.affected || p.categories != d.categories {
            differences.push(format!(
                "{name}: planned {} {:?}, done {} {:?}",
                p.affected, p.categories, d.affected, d.categories
            ));
        }
        if p.keys != d.keys {
            let only_plan: Vec<&String> = p.keys.iter().filter(|k| !d.keys.contains(k)).collect();
            let only_run: Vec<&String> = d.keys.iter().filter(|k| !p.keys.contains(k)).collect();
            differences.push(format!(
                "{name}: only planned {only_plan:?}; only done {only_run:?}"
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "plan and run differ:\n{}",
        differences.join("\n")
    );
    // Retention deleted old log rows before LogPruning: they are not counted twice.
    let retention_log = done["DataRetentionCleanup"]
        .keys
        .iter()
        .filter(|k| k.starts_with("delete log "))
        .count();
    assert!(retention_log > 0, "the data set has expired log rows");
    assert!(
        done["LogPruning"].affected > 0,
        "the data set has log rows beyond LOG_KEEP"
    );
    assert!(
        done["LogPruning"]
            .keys
            .iter()
            .all(|k| !done["DataRetentionCleanup"].keys.contains(k)),
        "no log row is deleted twice"
    );
    assert_eq!(
        planned["CredentialHealthCheck"].affected, 0,
        "findings are not changes"
    );
    done
}

/// The MultiFlexi schema with the realistic mess, old temp files and the files running jobs use.
fn realistic_mess(db: &TestDb, hk: &Tool) {
    let mut conn = db.connect();
    scenario::install_schema(&mut *conn, SchemaLevel::Current).expect("install the schema");
    let mess = scenario::realistic_mess_in(&mut *conn, now(), 1, &hk.tmp).expect("seed the mess");
    let files: Vec<(String, u64)> = (0..10)
        .map(|i| (format!("job-{i:03}/out-{i}.log"), 30 + i))
        .collect();
    let named: Vec<(&str, u64)> = files.iter().map(|(p, h)| (p.as_str(), *h)).collect();
    make_files(&hk.tmp, &named, tool::now_system());
    for path in &mess.referenced_files {
        make_files(
            Path::new("/"),
            &[(path.trim_start_matches('/'), 48)],
            tool::now_system(),
        );
    }
}

backend_test!(
    fn plan_equals_run_over_the_realistic_mess(db) {
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "300")
            .set("MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS", "hard_delete,soft_delete,grace_purge,anonymize,archive")
            .set("MULTIFLEXI_HOUSEKEEPER_FIO_URL", &format!("http://127.0.0.1:{}/", crate::support::closed_port()));
        realistic_mess(db, &hk);
        let done = assert_plan_equals_run(&hk);
        assert!(
            done["DataRetentionCleanup"].keys.iter().any(|k| k.starts_with("update job ")),
            "jobs are anonymized before DiskTempFileCleanup reads their env"
        );
    }
);

// The PHP tool's observed fixture: the ghost job OrphanedJobCleanup deletes held runtemplate 2's
// next_schedule, which ScheduleIntegrity then resets; the run's own log rows take places among
// the kept (LOG_KEEP=6: the 5 written before LogPruning and the newest seed row).
backend_test!(
    fn plan_equals_run_over_the_php_observed_fixture(db) {
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "6")
            .set("MULTIFLEXI_HOUSEKEEPER_FIO_URL", &format!("http://127.0.0.1:{}/", crate::support::closed_port()));
        let fixture = {
            let mut conn = db.connect();
            scenario::install_schema(&mut *conn, SchemaLevel::Current).expect("install the schema");
            scenario::php_observed_fixture(&mut *conn, now(), &hk.tmp).expect("seed the PHP fixture")
        };
        fixture.create_temp_files(tool::now_system()).expect("create the temp files");
        let done = assert_plan_equals_run(&hk);
        assert_eq!(done["ScheduleIntegrity"].keys, ["update runtemplate 2"]);
        assert_eq!(done["LogPruning"].affected, 7, "10 seed rows, 2 gone by retention, 1 kept");
    }
);

backend_test!(
    fn plan_equals_run_over_the_demo_data_set(db) {
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", &housekeeper::commands::demo::DEMO_LOG_KEEP.to_string())
            .set("MULTIFLEXI_HOUSEKEEPER_FIO_URL", "http://127.0.0.1:9/");
        let mess = {
            let mut conn = db.connect();
            scenario::install_schema(&mut *conn, SchemaLevel::Current).expect("install the schema");
            scenario::realistic_mess_in(&mut *conn, housekeeper::commands::demo::DEMO_NOW, 1, &hk.tmp)
                .expect("seed the demo data set")
        };
        housekeeper::commands::demo::create_temp_files(&hk.tmp, &mess.referenced_files, tool::now_system())
            .expect("the demo's temp files");
        assert_plan_equals_run(&hk);
    }
);

// Every interaction between the duties, each on its own row: a finished job without company
// (OrphanedJobCleanup) that runtemplate 1's counter still counts (RuntemplateCounterRecalc);
// the ghost job holding runtemplate 2's next_schedule (ScheduleIntegrity); an unfinished job
// without runtemplate whose env protects a temp file (DiskTempFileCleanup); an orphaned job a
// `job` policy would also delete (DataRetentionCleanup); a running job whose env a `job` policy
// anonymizes (DiskTempFileCleanup); old log rows a `log` policy deletes before LogPruning.
backend_test!(
    fn plan_equals_run_for_every_interaction_between_the_duties(db) {
        use housekeeper_scenario::{JobState, Seed};
        use housekeeper_journal::Value;
        const HOUR: i64 = 3600;
        const DAY: i64 = 24 * HOUR;
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "12")
            .set("MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS", "hard_delete,anonymize")
            .set("MULTIFLEXI_HOUSEKEEPER_CREDENTIAL_CHECK", "false");
        let env = |file: &str| {
            let path = hk.tmp.join(file).display().to_string();
            Value::Text(serde_json::json!({ "RESULT_FILE": path }).to_string())
        };
        let mut seed = Seed::new(now());
        seed.allow_dangling_references();
        seed.user("admin");
        let app = seed.app("App1").id();
        let company = seed.company("Comp1", "C1").id();
        let rt1 = seed.runtemplate(app, company, "d").set("successfull_jobs_count", Value::Int(2)).id();
        let next = seed.at(-3 * HOUR);
        let rt2 = seed.runtemplate(app, company, "h").set("next_schedule", next).id();
        let began = seed.at(-2 * DAY);
        seed.succeeded_job(rt1, began);
        let no_company = seed.succeeded_job(rt1, began).set("company_id", Value::Int(0)).id();
        let ghost = seed.ghost_job(rt2, next).id();
        let running = seed.at(-HOUR);
        let orphan_env = env("orphan/result.json");
        let orphan = seed
            .job_without_runtemplate(None, JobState::Running { began: running })
            .set("env", orphan_env)
            .id();
        let ancient = seed.at(-400 * DAY);
        let zero = seed
            .job_without_runtemplate(Some(0), JobState::Finished { began: ancient, exitcode: 0 })
            .id();
        let long_running = seed.at(-40 * DAY);
        let anon_env = env("anon/result.json");
        let anonymized = seed.running_job(rt1, long_running).set("env", anon_env).id();
        seed.retention_policy("old_jobs", "jobs", "job", 365, 0, "hard_delete", Some(1));
        seed.retention_policy("job_env", "job_env", "job", 30, 0, "anonymize", Some(1));
        seed.retention_policy("old_logs", "logs", "log", 30, 0, "hard_delete", Some(1));
        for i in 0..30 {
            let at = seed.at(if i < 10 { -40 * DAY } else { -DAY });
            seed.log("info", "seed", &format!("message {i}"), at);
        }
        {
            let mut conn = db.connect();
            scenario::install_schema(&mut *conn, SchemaLevel::Current).expect("install the schema");
            seed.apply(&mut *conn).expect("seed");
        }
        make_files(&hk.tmp, &[("orphan/result.json", 48), ("anon/result.json", 48), ("fresh.txt", 1)], tool::now_system());

        let done = assert_plan_equals_run(&hk);
        let keys = |duty: &str| done[duty].keys.clone();
        for job in [no_company, ghost, orphan, zero] {
            assert!(keys("OrphanedJobCleanup").contains(&format!("delete job {job}")), "job {job}");
        }
        assert_eq!(keys("ScheduleIntegrity"), [format!("update runtemplate {rt2}")]);
        assert!(keys("RuntemplateCounterRecalc").contains(&format!("update runtemplate {rt1}")));
        let retention = keys("DataRetentionCleanup");
        assert!(retention.contains(&format!("update job {anonymized}")), "{retention:?}");
        assert!(!retention.iter().any(|k| k.ends_with(&format!("job {zero}"))), "{retention:?}");
        let files = keys("DiskTempFileCleanup");
        assert_eq!(files.len(), 2, "{files:?}");
        for file in ["orphan/result.json", "anon/result.json"] {
            assert!(files.iter().any(|k| k.contains(file)), "{file}: {files:?}");
        }
        assert_eq!(done["LogPruning"].affected, 13, "30 rows, 10 gone by retention, the run's own 5 among the 12 kept");
    }
);
