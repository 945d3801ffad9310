//! The duties on rows — StaleTaskFinalization, OrphanedJobCleanup, ScheduleIntegrity,
//! LogPruning, RuntemplateCounterRecalc — through the real binary on every engine, over the
//! MultiFlexi fixture schema: every affected and every unaffected row afterwards, the reported
//! counts, the journal's items and row images, the schema gate, dependent rows, drift between
//! `plan --out` and `apply`, and the PHP tool's observed fixture.
//!
//! The helpers at the top (engine-neutral dump differences, journal reading) are shared with
//! `duties_policy`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use housekeeper_journal::{
    read_records, ChunkStatus, DateTimeValue, ItemSummary, KeySet, PayloadEntry, Record, RowRole,
    TableChange, Value,
};
use housekeeper_scenario::{self as scenario, Dump, DumpDifference, SchemaLevel, Seed};

use crate::support::tool::{self, Out, Tool};
use crate::support::{Engine, TestDb};

pub const MINUTE: i64 = 60;
pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;

/// The fixed `now` of every tool run.
pub fn now() -> DateTimeValue {
    DateTimeValue::parse(tool::NOW).expect("NOW parses")
}

/// `now` moved by `seconds`.
pub fn at(seconds: i64) -> DateTimeValue {
    scenario::shift(now(), seconds)
}

/// A value as text that is the same on every engine: booleans as 0/1, dates in one form
/// whether typed or stored as text, text and JSON unquoted.
pub fn norm(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Bool(b) => u8::from(*b).to_string(),
        Value::Int(v) => v.to_string(),
        Value::UInt(v) => v.to_string(),
        Value::Float(v) => v.to_string(),
        Value::Decimal(s) | Value::Json(s) => s.clone(),
        Value::DateTime(d) | Value::Date(d) => d.to_string(),
        Value::Text(s) => DateTimeValue::parse(s).map_or_else(|| s.clone(), |d| d.to_string()),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Time(t) => t.to_string(),
    }
}

/// The whole database.
pub fn dump(db: &TestDb) -> Dump {
    let mut conn = db.connect();
    scenario::dump_database(&mut *conn).expect("dump the database")
}

/// The differences of two dumps as engine-neutral lines (`task [1] state: open → missed`,
/// `job [4] removed`, `retention_cleanup_jobs [1] added`), leaving out what every real run
/// writes as its own record: its `log` rows and its anchors.
pub fn changes(before: &Dump, after: &Dump) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for difference in before.diff(after).differences {
        match difference {
            DumpDifference::CellChanged {
                table,
                key,
                column,
                before,
                after,
            } => {
                if table != "housekeeper_anchor" {
                    out.insert(format!(
                        "{table} [{}] {column}: {} → {}",
                        short_key(&key),
                        norm(&before),
                        norm(&after)
                    ));
                }
            }
            DumpDifference::RowRemoved { table, key, .. } => {
                out.insert(format!("{table} [{}] removed", short_key(&key)));
            }
            DumpDifference::RowAdded { table, key, row } => {
                let own_log = table == "log"
                    && row
                        .iter()
                        .any(|(c, v)| c == "venue" && norm(v) == "MultiFlexi\\Housekeeper");
                if table != "housekeeper_anchor" && !own_log {
                    out.insert(format!("{table} [{}] added", short_key(&key)));
                }
            }
            DumpDifference::TableAdded { table } if table == "housekeeper_anchor" => {}
            other => {
                out.insert(other.to_string());
            }
        }
    }
    out
}

/// `id=5` → `5`, `id="sess-1"` → `sess-1`.
fn short_key(key: &str) -> String {
    key.split_once('=')
        .map_or(key, |(_, v)| v)
        .trim_matches('"')
        .to_owned()
}

/// Lines for `changes` from literals.
pub fn lines(expected: &[&str]) -> BTreeSet<String> {
    expected.iter().map(|s| (*s).to_owned()).collect()
}

/// Asserts the differences are exactly `expected`, printing both sides when not.
pub fn assert_changes(before: &Dump, after: &Dump, expected: &[&str]) {
    let got = changes(before, after);
    let want = lines(expected);
    if got != want {
        let missing: Vec<&String> = want.difference(&got).collect();
        let extra: Vec<&String> = got.difference(&want).collect();
        panic!("the database changed differently than expected\n  missing: {missing:#?}\n  unexpected: {extra:#?}");
    }
}

/// The report entry of `duty` in a `run`/`apply` JSON report.
pub fn duty<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["duties"]
        .as_array()
        .expect("duties is an array")
        .iter()
        .find(|d| d["duty"] == name)
        .unwrap_or_else(|| panic!("no report for {name} in {report:#}"))
}

/// Runs one duty for real and returns its report entry (asserting the process exit code).
pub fn run_duty(hk: &Tool, name: &str, expect_code: i32) -> serde_json::Value {
    let out = hk.run(&["run", "--duty", name, "--format", "json"]);
    assert_run(&out, expect_code);
    duty(&out.json(), name).clone()
}

pub fn assert_run(out: &Out, code: i32) {
    assert_eq!(
        out.code, code,
        "exit code\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
}

/// `{"a": 1, "b": 2}` from pairs, for comparing `categories` and `dependents`.
pub fn counts(pairs: &[(&str, u64)]) -> serde_json::Value {
    serde_json::Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
            .collect(),
    )
}

/// What the journal in a state directory says, flattened for assertions.
#[derive(Debug, Default)]
pub struct JournalView {
    /// Plan records: duty → item summaries.
    pub plans: Vec<(String, Vec<ItemSummary>)>,
    /// Committed chunks: duty → table changes.
    pub committed: Vec<(String, Vec<TableChange>)>,
    /// Drift recorded by committed chunks: (table, key, reason).
    pub drifted: Vec<(String, String, String)>,
    /// Row images of committed chunks: (table, role, columns, values).
    pub images: Vec<(String, RowRole, Vec<String>, Vec<Value>)>,
}

impl JournalView {
    pub fn read(state: &Path) -> JournalView {
        let journal = state.join("journal");
        let mut view = JournalView::default();
        for entry in read_records(&journal).expect("read the journal") {
            match entry.expect("a journal record").record {
                Record::Plan { duty, items, .. } => view.plans.push((duty, items)),
                Record::ChunkOutcome {
                    duty,
                    status: ChunkStatus::Committed,
                    changes,
                    drifted,
                    payload,
                    ..
                } => {
                    for d in drifted {
                        view.drifted.push((d.table, norm(&d.key), d.reason));
                    }
                    view.committed.push((duty, changes));
                    let Some(payload) = payload else { continue };
                    let mut table = (String::new(), Vec::new());
                    for e in housekeeper_journal::open_payload(&journal, &payload.digest)
                        .expect("open a payload")
                    {
                        match e.expect("a payload entry") {
                            PayloadEntry::Table { name, columns } => table = (name, columns),
                            PayloadEntry::Row { role, values } => {
                                view.images
                                    .push((table.0.clone(), role, table.1.clone(), values));
                            }
                            PayloadEntry::Json(_) => {}
                        }
                    }
                }
                _ => {}
            }
        }
        view
    }

    /// The plan items of a duty as `action table keys [columns] reason` lines.
    pub fn plan_lines(&self, duty: &str) -> BTreeSet<String> {
        self.plans
            .iter()
            .filter(|(d, _)| d == duty)
            .flat_map(|(_, items)| items.iter())
            .map(|i| {
                let mut line = format!(
                    "{:?} {} {}",
                    i.action,
                    i.table
                        .clone()
                        .or(i
                            .path
                            .as_ref()
                            .map(|p| housekeeper::text::PathText(p).to_string()))
                        .unwrap_or_else(|| "-".into()),
                    keys(&i.keys)
                );
                if !i.columns.is_empty() {
                    line.push_str(&format!(" [{}]", i.columns.join(",")));
                }
                if !i.dependents.is_empty() {
                    line.push_str(&format!(" +{}", i.dependents.join(",")));
                }
                line.push_str(&format!(" {}", i.reason));
                line
            })
            .collect()
    }

    /// Keys changed by committed chunks of a duty, as `action table key` lines.
    pub fn changed(&self, duty: &str) -> BTreeSet<String> {
        self.committed
            .iter()
            .filter(|(d, _)| d == duty)
            .flat_map(|(_, changes)| changes.iter())
            .flat_map(|c| {
                key_list(&c.keys)
                    .into_iter()
                    .map(move |k| format!("{:?} {} {k}", c.action, c.table))
            })
            .collect()
    }

    /// The value of `column` in every image of `table` with `role`, by the row's key
    /// (`key_column`).
    pub fn image_values(
        &self,
        table: &str,
        role: RowRole,
        key_column: &str,
        column: &str,
    ) -> BTreeMap<String, String> {
        self.images
            .iter()
            .filter(|(t, r, _, _)| t == table && *r == role)
            .map(|(_, _, columns, values)| {
                let get = |c: &str| {
                    columns
                        .iter()
                        .position(|x| x == c)
                        .map_or_else(|| "?".into(), |i| norm(&values[i]))
                };
                (get(key_column), get(column))
            })
            .collect()
    }
}

fn key_list(keys: &KeySet) -> Vec<String> {
    match keys {
        KeySet::Ranges(r) => r
            .iter()
            .flat_map(|(lo, hi)| (*lo..=*hi).map(|k| k.to_string()))
            .collect(),
        KeySet::Values(v) => v.iter().map(norm).collect(),
    }
}

fn keys(keys: &KeySet) -> String {
    key_list(keys).join(",")
}

/// Every row a dump comparison shows removed has a `Deleted` image with exactly its values
/// in the journal (nothing disappears without a record, whatever the engine cascades), and
/// no row that is still there has one.
pub fn assert_every_removed_row_journaled(before: &Dump, after: &Dump, journal: &JournalView) {
    let mut images: BTreeMap<String, usize> = BTreeMap::new();
    for (table, role, _, values) in &journal.images {
        if *role == RowRole::Deleted {
            let line = format!("{table} {}", row_text(values));
            *images.entry(line).or_insert(0) += 1;
        }
    }
    for difference in before.diff(after).differences {
        if let DumpDifference::RowRemoved { table, row, .. } = difference {
            let values: Vec<Value> = row.into_iter().map(|(_, v)| v).collect();
            let line = format!("{table} {}", row_text(&values));
            assert!(
                images.get(&line).is_some_and(|n| *n > 0),
                "row removed without a journaled image: {line}"
            );
        }
    }
    for (name, table) in &after.tables {
        for row in &table.rows {
            let line = format!("{name} {}", row_text(row));
            assert!(
                !images.contains_key(&line),
                "a row journaled as deleted is still there: {line}"
            );
        }
    }
}

fn row_text(values: &[Value]) -> String {
    values.iter().map(norm).collect::<Vec<_>>().join("|")
}

/// Installs the current MultiFlexi schema.
pub fn install(db: &TestDb) {
    let mut conn = db.connect();
    scenario::install_schema(&mut *conn, SchemaLevel::Current).expect("install the schema");
}

/// Writes a seed.
pub fn apply(db: &TestDb, seed: &Seed) {
    let mut conn = db.connect();
    seed.apply(&mut *conn).expect("seed the database");
}

/// A user, an app, a company: the parents every scenario needs. Returns (app, company).
pub fn parents(seed: &mut Seed) -> (i64, i64) {
    seed.user("admin");
    let app = seed.app("App1").id();
    let company = seed.company("Comp1", "C1").id();
    (app, company)
}

// ----- StaleTaskFinalization ---------------------------------------------------------------

fn seed_tasks(db: &TestDb) {
    install(db);
    let mut seed = Seed::new(now());
    let (app, company) = parents(&mut seed);
    let rt = seed.runtemplate(app, company, "h").id();
    let start = at(-2 * DAY);
    for (end, state, attempts) in [
        (at(-1), "open", 0),             // 1: expired a second ago, no attempt → missed
        (at(-1), "running", 1),          // 2: one failed attempt → failed
        (at(0), "open", 0),              // 3: ends exactly now → not expired
        (at(1), "open", 0),              // 4: ends in a second
        (at(-HOUR), "running", 0),       // 5: running, its job stuck, no failed attempt → missed
        (at(-DAY), "open", 2),           // 6: reopened after two failures → failed
        (at(-DAY), "fulfilled", 1),      // 7: finished states stay
        (at(-DAY), "missed", 0),         // 8
        (at(-DAY), "failed", 1),         // 9
        (at(-DAY), "fulfilled_late", 0), // 10
    ] {
        seed.task(rt, start, end, state, attempts);
    }
    apply(db, &seed);
}

backend_test!(
    fn stale_task_finalization_finalizes_exactly_the_expired_open_tasks(db) {
        seed_tasks(db);
        let hk = Tool::new(db);
        let before = dump(db);
        let report = run_duty(&hk, "StaleTaskFinalization", 0);
        assert_eq!(report["status"], "ok");
        assert_eq!(report["affected"], 4);
        assert_eq!(report["categories"], counts(&[("failed", 2), ("missed", 2)]));
        assert_eq!(report["errors"], serde_json::json!([]));
        assert_eq!(report["drifted"], serde_json::json!([]));
        let after = dump(db);
        assert_changes(&before, &after, &[
            "task [1] state: open → missed",
            "task [2] state: running → failed",
            "task [5] state: running → missed",
            "task [6] state: open → failed",
        ]);

        let journal = JournalView::read(&hk.state);
        assert_eq!(
            journal.plan_lines("StaleTaskFinalization"),
            lines(&[
                "Update task 1 [state] window_expired",
                "Update task 2 [state] window_expired",
                "Update task 5 [state] window_expired",
                "Update task 6 [state] window_expired",
            ])
        );
        assert_eq!(
            journal.changed("StaleTaskFinalization"),
            lines(&["Update task 1", "Update task 2", "Update task 5", "Update task 6"])
        );
        let before_images = journal.image_values("task", RowRole::Before, "id", "state");
        let after_images = journal.image_values("task", RowRole::After, "id", "state");
        assert_eq!(
            before_images,
            [("1", "open"), ("2", "running"), ("5", "running"), ("6", "open")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into()
        );
        assert_eq!(
            after_images,
            [("1", "missed"), ("2", "failed"), ("5", "missed"), ("6", "failed")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into()
        );

        // A second run finds nothing.
        let again = run_duty(&hk, "StaleTaskFinalization", 0);
        assert_eq!(again["affected"], 0);
    }
);

backend_test!(
    fn stale_task_finalization_changes_its_tasks_as_one_set_and_keeps_each_that_changed_meanwhile(db) {
        // The executor locks, checks and changes a chunk's tasks as one set: each task that no
        // longer qualifies when its chunk runs must stay as the scheduler left it and be
        // reported as drift of its own item, for its own reason, while the others change.
        seed_tasks(db);
        let hk = Tool::new(db);
        let mut run = hk.stopped_at("after-plan", &["run", "--duty", "StaleTaskFinalization"]);
        // Planned, not yet applied: task 1 gets fulfilled (no longer the planned old state),
        // MultiFlexi removes task 2, and task 5's stuck job fails (it would now become
        // failed, not the planned missed).
        db.run_sql(&[
            "UPDATE task SET state = 'fulfilled' WHERE id = 1",
            "DELETE FROM task WHERE id = 2",
            "UPDATE task SET attempts = 1 WHERE id = 5",
        ]);
        let before = dump(db);
        tool::signal(run.id(), "CONT");
        let status = tool::wait_at_most(&mut run, std::time::Duration::from_secs(60));
        assert!(status.success(), "the run ends ok: {status}");
        let after = dump(db);
        assert_changes(&before, &after, &["task [6] state: open → failed"]);
        let journal = JournalView::read(&hk.state);
        let drifted: BTreeSet<(String, String, String)> = journal.drifted.iter().cloned().collect();
        assert_eq!(
            drifted,
            [("task", "1", "changed"), ("task", "2", "gone"), ("task", "5", "changed")]
                .map(|(t, k, r)| (t.to_owned(), k.to_owned(), r.to_owned()))
                .into()
        );
        assert_eq!(journal.changed("StaleTaskFinalization"), lines(&["Update task 6"]));
        let before_images = journal.image_values("task", RowRole::Before, "id", "state");
        let after_images = journal.image_values("task", RowRole::After, "id", "state");
        assert_eq!(before_images, [("6".to_owned(), "open".to_owned())].into());
        assert_eq!(after_images, [("6".to_owned(), "failed".to_owned())].into());
        // Task 5 is planned afresh by the next run, with its new final state.
        let again = run_duty(&hk, "StaleTaskFinalization", 0);
        assert_eq!(again["affected"], 1, "{again:#}");
        assert_eq!(again["categories"], counts(&[("failed", 1)]));
    }
);

backend_test!(
    fn stale_task_finalization_skips_tasks_the_scheduler_changed_after_planning(db) {
        seed_tasks(db);
        let hk = Tool::new(db);
        let plan_file = db.dir().join("plan.json");
        let out = hk.run(&["plan", "--duty", "StaleTaskFinalization", "--out", plan_file.to_str().unwrap()]);
        assert_run(&out, 0);
        assert!(out.stdout.contains(
            "update task id=1: state: \"open\" → \"missed\" — task #1 (runtemplate #1) window ended 2026-11-28 08:59:59 with 0 failed attempt(s)"
        ), "{}", out.stdout);

        // The scheduler, meanwhile: task 1 got fulfilled, task 2 was retried and failed again
        // (still running, attempts 2: it would still become failed), task 5's stuck job failed
        // (attempts 1: it must now become failed, not missed).
        db.run_sql(&[
            "UPDATE task SET state = 'fulfilled' WHERE id = 1",
            "UPDATE task SET attempts = 2 WHERE id = 2",
            "UPDATE task SET attempts = 1 WHERE id = 5",
        ]);
        let before = dump(db);
        let out = hk.run(&["apply", plan_file.to_str().unwrap(), "--format", "json"]);
        assert_run(&out, 0);
        let report = duty(&out.json(), "StaleTaskFinalization").clone();
        assert_eq!(report["affected"], 2);
        assert_eq!(report["drifted_count"], 2);
        assert_eq!(
            report["drifted"],
            serde_json::json!([
                {"table": "task", "key": "1", "reason": "not_planned_now"},
                {"table": "task", "key": "5", "reason": "not_planned_now"},
            ])
        );
        let after = dump(db);
        assert_changes(&before, &after, &[
            "task [2] state: running → failed",
            "task [6] state: open → failed",
        ]);
        let journal = JournalView::read(&hk.state);
        assert!(journal.drifted.is_empty(), "the duty planned afresh: nothing drifted inside a chunk");
    }
);

// ----- OrphanedJobCleanup --------------------------------------------------------------------

/// Gives a job output lines, an artifact and a stored file.
fn with_output(seed: &mut Seed, job: i64, runtemplate: Option<i64>, lines: i64) {
    for seq in 1..=lines {
        seed.output_line(job, seq, "stdout", &format!("job {job} line {seq}"));
    }
    seed.artifact(job, &format!("report-{job}.json"), "{\"ok\":true}");
    seed.stored_file(
        Some(job),
        runtemplate,
        &format!("input-{job}.csv"),
        b"a;b\n1;2\n",
    );
}

fn seed_orphans(db: &TestDb) {
    install(db);
    let mut seed = Seed::new(now());
    seed.allow_dangling_references();
    let (app, company) = parents(&mut seed);
    let rt1 = seed.runtemplate(app, company, "d").id();
    let rt2 = seed.runtemplate(app, company, "h").id();
    // 1: healthy, queued for later (queue row 1)
    seed.queued_job(rt1, at(HOUR));
    // 2: healthy history
    let j2 = seed.succeeded_job(rt1, at(-3 * DAY)).id();
    with_output(&mut seed, j2, Some(rt1), 2);
    // 3: unfinished, no runtemplate, queued (queue row 2) → orphan with its dependents
    let j3 = seed
        .job_without_runtemplate(
            None,
            scenario::JobState::Queued {
                schedule: at(-2 * HOUR),
            },
        )
        .id();
    with_output(&mut seed, j3, None, 3);
    // 4: finished without runtemplate: history, stays
    let j4 = seed
        .job_without_runtemplate(
            None,
            scenario::JobState::Finished {
                began: at(-DAY),
                exitcode: 0,
            },
        )
        .id();
    with_output(&mut seed, j4, None, 1);
    // 5: runtemplate_id 0 → orphan
    seed.job_without_runtemplate(
        Some(0),
        scenario::JobState::Pending {
            schedule: Some(at(HOUR)),
        },
    );
    // 6: runtemplate 99 that does not exist, running → orphan with its dependents
    let j6 = seed
        .job_without_runtemplate(Some(99), scenario::JobState::Running { began: at(-HOUR) })
        .id();
    with_output(&mut seed, j6, None, 2);
    // 7: a finished job of a company that does not exist → orphan
    seed.failed_job(rt2, at(-2 * DAY), 1)
        .set("company_id", Value::Int(77));
    // 8: ghost: never started, no queue row, scheduled 60 min + 1 s ago
    seed.ghost_job(rt2, at(-HOUR - 1));
    // 9: scheduled exactly 60 min ago: not yet a ghost
    seed.ghost_job(rt2, at(-HOUR));
    // 10: never scheduled: never a ghost
    seed.job(rt2, scenario::JobState::Pending { schedule: None });
    // 11: old but still queued (queue row 3): not a ghost
    seed.queued_job(rt2, at(-DAY));
    // 12: old, running, no queue row: not a ghost
    seed.running_job(rt2, at(-DAY));
    // broken queue rows 4, 5, 6: no job, job 0, a missing job
    seed.queue_entry(None, at(-DAY));
    seed.queue_entry(Some(0), at(-DAY));
    seed.queue_entry(Some(999), at(-DAY));
    apply(db, &seed);
}

backend_test!(
    fn orphaned_job_cleanup_deletes_orphans_broken_queue_rows_and_ghosts_with_their_rows(db) {
        seed_orphans(db);
        let hk = Tool::new(db);
        let before = dump(db);
        let out = hk.run(&["plan", "--duty", "OrphanedJobCleanup"]);
        assert_run(&out, 0);
        for line in [
            "== OrphanedJobCleanup: 8 to change (broken_queue 3, ghost_job 1, orphaned_job 4)",
            "delete job id 3 with its schedule, job_output_lines, artifacts, file_store rows — job #3 is unfinished and has no runtemplate",
            "delete job id 5 with its schedule, job_output_lines, artifacts, file_store rows — job #5 has runtemplate_id 0",
            "delete job id 6 with its schedule, job_output_lines, artifacts, file_store rows — job #6 points to missing runtemplate #99",
            "delete job id 7 with its schedule, job_output_lines, artifacts, file_store rows — job #7 points to missing company #77",
            "delete schedule id 4 — queue row #4 has no job",
            "delete schedule id 5 — queue row #5 points to job 0",
            "delete schedule id 6 — queue row #6 points to missing job #999",
            "delete job id 8 with its schedule, job_output_lines, artifacts, file_store rows — job #8 (runtemplate #2) scheduled 2026-11-28 07:59:59, never started and not queued for more than 60 min",
        ] {
            assert!(out.stdout.contains(line), "plan lacks {line:?}:\n{}", out.stdout);
        }

        let report = run_duty(&hk, "OrphanedJobCleanup", 0);
        assert_eq!(report["status"], "ok");
        assert_eq!(report["affected"], 8);
        assert_eq!(
            report["categories"],
            counts(&[("broken_queue", 3), ("ghost_job", 1), ("orphaned_job", 4)])
        );
        assert_eq!(
            report["dependents"],
            counts(&[("artifacts", 2), ("file_store", 2), ("job_output_lines", 5), ("schedule", 1)])
        );
        let after = dump(db);
        assert_changes(&before, &after, &[
            "job [3] removed", "job [5] removed", "job [6] removed", "job [7] removed", "job [8] removed",
            "schedule [2] removed", "schedule [4] removed", "schedule [5] removed", "schedule [6] removed",
            // job 2 has lines 1–2, job 3 lines 3–5, job 4 line 6, job 6 lines 7–8
            "job_output_lines [3] removed", "job_output_lines [4] removed", "job_output_lines [5] removed",
            "job_output_lines [7] removed", "job_output_lines [8] removed",
            "artifacts [2] removed", "artifacts [4] removed",
            "file_store [2] removed", "file_store [4] removed",
        ]);
        let journal = JournalView::read(&hk.state);
        assert_every_removed_row_journaled(&before, &after, &journal);
        assert_eq!(
            journal.plan_lines("OrphanedJobCleanup"),
            lines(&[
                "Delete job 3 +schedule,job_output_lines,artifacts,file_store orphaned_job",
                "Delete job 5 +schedule,job_output_lines,artifacts,file_store orphaned_job",
                "Delete job 6 +schedule,job_output_lines,artifacts,file_store orphaned_job",
                "Delete job 7 +schedule,job_output_lines,artifacts,file_store orphaned_job",
                "Delete job 8 +schedule,job_output_lines,artifacts,file_store ghost_job",
                "Delete schedule 4 broken_queue_row",
                "Delete schedule 5 broken_queue_row",
                "Delete schedule 6 broken_queue_row",
            ])
        );
        assert_eq!(
            journal.changed("OrphanedJobCleanup"),
            lines(&[
                "Delete job 3", "Delete job 5", "Delete job 6", "Delete job 7", "Delete job 8",
                "Delete schedule 2", "Delete schedule 4", "Delete schedule 5", "Delete schedule 6",
                "Delete job_output_lines 3", "Delete job_output_lines 4", "Delete job_output_lines 5",
                "Delete job_output_lines 7", "Delete job_output_lines 8",
                "Delete artifacts 2", "Delete artifacts 4", "Delete file_store 2", "Delete file_store 4",
            ])
        );
        let again = run_duty(&hk, "OrphanedJobCleanup", 0);
        assert_eq!(again["affected"], 0, "{again:#}");
    }
);

backend_test!(
    fn orphaned_job_cleanup_leaves_a_job_that_got_queued_after_planning(db) {
        seed_orphans(db);
        let hk = Tool::new(db);
        let plan_file = db.dir().join("plan.json");
        assert_run(&hk.run(&["plan", "--duty", "OrphanedJobCleanup", "--out", plan_file.to_str().unwrap()]), 0);
        // The scheduler queues the ghost after all, and a queue row of the plan got its job.
        db.run_sql(&[
            "INSERT INTO schedule (id, job) VALUES (50, 8)",
            "UPDATE schedule SET job = 1 WHERE id = 5",
        ]);
        let before = dump(db);
        let out = hk.run(&["apply", plan_file.to_str().unwrap(), "--format", "json"]);
        assert_run(&out, 0);
        let report = duty(&out.json(), "OrphanedJobCleanup").clone();
        assert_eq!(report["affected"], 6);
        assert_eq!(
            report["drifted"],
            serde_json::json!([
                {"table": "job", "key": "8", "reason": "not_planned_now"},
                {"table": "schedule", "key": "5", "reason": "not_planned_now"},
            ])
        );
        let after = dump(db);
        let got = changes(&before, &after);
        assert!(!got.contains("job [8] removed") && !got.contains("schedule [5] removed"), "{got:#?}");
        assert!(got.contains("job [7] removed"), "{got:#?}");
    }
);

backend_test!(
    fn orphaned_job_cleanup_rechecks_its_jobs_together_and_keeps_each_that_changed_meanwhile(db) {
        // The executor locks and re-checks a chunk's jobs as one set: each job that no longer
        // qualifies when its chunk runs must stay, with its dependent rows, and be reported
        // as drift of its own item, while the others go.
        seed_orphans(db);
        let hk = Tool::new(db);
        let mut run = hk.stopped_at("after-plan", &["run", "--duty", "OrphanedJobCleanup"]);
        // Planned, not yet applied: job 6 gets a runtemplate that exists, ghost job 8 gets
        // queued, and MultiFlexi removes job 7 itself.
        db.run_sql(&[
            "UPDATE job SET runtemplate_id = 1 WHERE id = 6",
            "INSERT INTO schedule (id, job) VALUES (50, 8)",
            "DELETE FROM job WHERE id = 7",
        ]);
        let before = dump(db);
        tool::signal(run.id(), "CONT");
        let status = tool::wait_at_most(&mut run, std::time::Duration::from_secs(60));
        assert!(status.success(), "the run ends ok: {status}");
        let after = dump(db);
        assert_changes(&before, &after, &[
            "job [3] removed", "job [5] removed",
            "schedule [2] removed", "schedule [4] removed", "schedule [5] removed", "schedule [6] removed",
            "job_output_lines [3] removed", "job_output_lines [4] removed", "job_output_lines [5] removed",
            "artifacts [2] removed", "file_store [2] removed",
        ]);
        let journal = JournalView::read(&hk.state);
        let drifted: BTreeSet<(String, String, String)> = journal.drifted.iter().cloned().collect();
        assert_eq!(
            drifted,
            [("job", "6", "no_longer_matches"), ("job", "7", "gone"), ("job", "8", "no_longer_matches")]
                .map(|(t, k, r)| (t.to_owned(), k.to_owned(), r.to_owned()))
                .into()
        );
        assert_eq!(
            journal.changed("OrphanedJobCleanup"),
            lines(&[
                "Delete job 3", "Delete job 5",
                "Delete schedule 2", "Delete schedule 4", "Delete schedule 5", "Delete schedule 6",
                "Delete job_output_lines 3", "Delete job_output_lines 4", "Delete job_output_lines 5",
                "Delete artifacts 2", "Delete file_store 2",
            ])
        );
        let report = run_duty(&hk, "OrphanedJobCleanup", 0);
        assert_eq!(report["affected"], 0, "job 6 and job 8 no longer qualify: {report:#}");
    }
);

// ----- ScheduleIntegrity ---------------------------------------------------------------------

fn seed_schedules(db: &TestDb) {
    install(db);
    let mut seed = Seed::new(now());
    let (app, company) = parents(&mut seed);
    let rt = |seed: &mut Seed, interv: &str, next: Option<DateTimeValue>| {
        let id = seed.runtemplate(app, company, interv).id();
        seed.set_on(
            "runtemplate",
            id,
            "next_schedule",
            next.map_or(Value::Null, Value::DateTime),
        );
        id
    };
    // 1: its queued job is there
    let rt1 = rt(&mut seed, "d", Some(at(30 * MINUTE)));
    seed.queued_job(rt1, at(30 * MINUTE));
    // 2: three hours past, no job: stale
    rt(&mut seed, "h", Some(at(-3 * HOUR)));
    // 3: exactly two hours past: missing, not stale
    rt(&mut seed, "d", Some(at(-2 * HOUR)));
    // 4: two hours and a second past: stale
    rt(&mut seed, "d", Some(at(-2 * HOUR - 1)));
    // 5: only a finished job at that time
    let rt5 = rt(&mut seed, "d", Some(at(-30 * MINUTE)));
    seed.succeeded_job(rt5, at(-30 * MINUTE));
    // 6: its job is running
    let rt6 = rt(&mut seed, "d", Some(at(-30 * MINUTE)));
    seed.running_job(rt6, at(-30 * MINUTE));
    // 7 inactive, 8 disabled interval, 9 nothing scheduled
    let rt7 = rt(&mut seed, "d", Some(at(-3 * HOUR)));
    seed.set_on("runtemplate", rt7, "active", Value::Bool(false));
    rt(&mut seed, "n", Some(at(-3 * HOUR)));
    rt(&mut seed, "d", None);
    // 10: a job at its time, but of runtemplate 1; its own job is at another time
    let rt10 = rt(&mut seed, "d", Some(at(HOUR)));
    seed.queued_job(rt1, at(HOUR));
    seed.queued_job(rt10, at(2 * HOUR));
    apply(db, &seed);
}

backend_test!(
    fn schedule_integrity_clears_next_schedule_without_an_unfinished_job(db) {
        seed_schedules(db);
        let hk = Tool::new(db);
        let before = dump(db);
        let out = hk.run(&["plan", "--duty", "ScheduleIntegrity"]);
        assert_run(&out, 0);
        for line in [
            "update runtemplate id=2: next_schedule: 2026-11-28 06:00:00 → NULL, DatSave: NULL → 2026-11-28 09:00:00 — runtemplate #2: next_schedule 2026-11-28 06:00:00 is stale (more than 2 hours past) and no unfinished job is queued for it",
            "— runtemplate #3: no unfinished job is queued for next_schedule 2026-11-28 07:00:00",
            "— runtemplate #10: no unfinished job is queued for next_schedule 2026-11-28 10:00:00",
        ] {
            // SQLite stores dates as text, shown quoted; the rest is the same.
            let plain = out.stdout.replace('"', "");
            assert!(plain.contains(line), "plan lacks {line:?}:\n{}", out.stdout);
        }
        let report = run_duty(&hk, "ScheduleIntegrity", 0);
        assert_eq!(report["affected"], 5);
        assert_eq!(report["categories"], counts(&[("job_missing", 3), ("stale", 2)]));
        let after = dump(db);
        let mut expected = Vec::new();
        for (id, next) in [
            (2, "2026-11-28 06:00:00"),
            (3, "2026-11-28 07:00:00"),
            (4, "2026-11-28 06:59:59"),
            (5, "2026-11-28 08:30:00"),
            (10, "2026-11-28 10:00:00"),
        ] {
            expected.push(format!("runtemplate [{id}] next_schedule: {next} → NULL"));
            expected.push(format!("runtemplate [{id}] DatSave: NULL → 2026-11-28 09:00:00"));
        }
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        assert_changes(&before, &after, &expected);
        let journal = JournalView::read(&hk.state);
        assert_eq!(
            journal.plan_lines("ScheduleIntegrity"),
            lines(&[
                "Update runtemplate 2 [next_schedule,DatSave] stale_next_schedule",
                "Update runtemplate 3 [next_schedule,DatSave] job_missing",
                "Update runtemplate 4 [next_schedule,DatSave] stale_next_schedule",
                "Update runtemplate 5 [next_schedule,DatSave] job_missing",
                "Update runtemplate 10 [next_schedule,DatSave] job_missing",
            ])
        );
        assert_eq!(
            journal.image_values("runtemplate", RowRole::Before, "id", "next_schedule").get("4").map(String::as_str),
            Some("2026-11-28 06:59:59")
        );
        assert_eq!(run_duty(&hk, "ScheduleIntegrity", 0)["affected"], 0);
    }
);

backend_test!(
    fn schedule_integrity_leaves_runtemplates_the_scheduler_served_after_planning(db) {
        seed_schedules(db);
        let hk = Tool::new(db);
        let plan_file = db.dir().join("plan.json");
        assert_run(&hk.run(&["plan", "--duty", "ScheduleIntegrity", "--out", plan_file.to_str().unwrap()]), 0);
        // The scheduler queues runtemplate 2's job at its next_schedule, and moves
        // runtemplate 3 on to a new slot.
        db.run_sql(&[
            "INSERT INTO job (id, app_id, company_id, launched_by, runtemplate_id, schedule, executor, app_version, marked_for_deletion) VALUES (100, 1, 1, 1, 2, '2026-11-28 06:00:00', 'Native', 'n/a', 0)",
            "UPDATE runtemplate SET next_schedule = '2026-11-29 00:00:00' WHERE id = 3",
        ]
        .map(|sql| if db.engine() == Engine::Postgres { sql.replace(", 0)", ", false)") } else { sql.to_owned() })
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
        let before = dump(db);
        let out = hk.run(&["apply", plan_file.to_str().unwrap(), "--format", "json"]);
        assert_run(&out, 0);
        let report = duty(&out.json(), "ScheduleIntegrity").clone();
        assert_eq!(report["affected"], 3);
        assert_eq!(
            report["drifted"],
            serde_json::json!([
                {"table": "runtemplate", "key": "2", "reason": "not_planned_now"},
                {"table": "runtemplate", "key": "3", "reason": "not_planned_now"},
            ])
        );
        let got = changes(&before, &dump(db));
        assert!(!got.iter().any(|l| l.starts_with("runtemplate [2]") || l.starts_with("runtemplate [3]")), "{got:#?}");
        assert!(got.contains("runtemplate [4] next_schedule: 2026-11-28 06:59:59 → NULL"), "{got:#?}");
    }
);

backend_test!(
    fn schedule_integrity_rechecks_its_runtemplates_together_and_keeps_each_served_meanwhile(db) {
        // Inside the chunk the runtemplates are re-checked as one set (the queued jobs of all
        // of them read with one query): the one the scheduler served between plan and chunk
        // and the one switched off stay, each reported for its own reason; the others change.
        seed_schedules(db);
        let hk = Tool::new(db);
        let mut run = hk.stopped_at("after-plan", &["run", "--duty", "ScheduleIntegrity"]);
        db.run_sql(&[
            "INSERT INTO job (id, app_id, company_id, launched_by, runtemplate_id, schedule, executor, app_version, marked_for_deletion) VALUES (100, 1, 1, 1, 2, '2026-11-28 06:00:00', 'Native', 'n/a', 0)",
            "UPDATE runtemplate SET interv = 'n' WHERE id = 4",
        ]
        .map(|sql| if db.engine() == Engine::Postgres { sql.replace(", 0)", ", false)") } else { sql.to_owned() })
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
        let before = dump(db);
        tool::signal(run.id(), "CONT");
        let status = tool::wait_at_most(&mut run, std::time::Duration::from_secs(60));
        assert!(status.success(), "the run ends ok: {status}");
        let got = changes(&before, &dump(db));
        assert!(!got.iter().any(|l| l.starts_with("runtemplate [2]") || l.starts_with("runtemplate [4]")), "{got:#?}");
        for (id, next) in [(3, "2026-11-28 07:00:00"), (5, "2026-11-28 08:30:00"), (10, "2026-11-28 10:00:00")] {
            let line = format!("runtemplate [{id}] next_schedule: {next} → NULL");
            assert!(got.contains(&line), "{line} in {got:#?}");
        }
        let journal = JournalView::read(&hk.state);
        let drifted: BTreeSet<(String, String, String)> = journal.drifted.iter().cloned().collect();
        assert_eq!(
            drifted,
            [("runtemplate", "2", "job_queued"), ("runtemplate", "4", "no_longer_matches")]
                .map(|(t, k, r)| (t.to_owned(), k.to_owned(), r.to_owned()))
                .into()
        );
    }
);

// ----- RuntemplateCounterRecalc ----------------------------------------------------------------

fn seed_counters(db: &TestDb) {
    install(db);
    let mut seed = Seed::new(now());
    let (app, company) = parents(&mut seed);
    let counters = |seed: &mut Seed, success: i64, failed: i64| {
        let id = seed.runtemplate(app, company, "d").id();
        seed.set_on(
            "runtemplate",
            id,
            "successfull_jobs_count",
            Value::Int(success),
        );
        seed.set_on("runtemplate", id, "failed_jobs_count", Value::Int(failed));
        seed.set_on("runtemplate", id, "DatSave", Value::DateTime(at(-DAY)));
        id
    };
    // 1: three succeeded, one failed, stored 5/1; and one queued job
    let rt1 = counters(&mut seed, 5, 1);
    for d in 1..=3 {
        seed.succeeded_job(rt1, at(-d * DAY));
    }
    seed.failed_job(rt1, at(-4 * DAY), 2);
    seed.queued_job(rt1, at(HOUR));
    // 2: two failed, stored 0/0
    let rt2 = counters(&mut seed, 0, 0);
    seed.failed_job(rt2, at(-DAY), 1);
    seed.failed_job(rt2, at(-2 * DAY), 255);
    // 3: no jobs, stored 4/2
    counters(&mut seed, 4, 2);
    // 4: right already
    let rt4 = counters(&mut seed, 2, 1);
    seed.succeeded_job(rt4, at(-DAY));
    seed.succeeded_job(rt4, at(-2 * DAY));
    seed.failed_job(rt4, at(-3 * DAY), 3);
    // 5: right, counting a job marked for deletion, not the running or queued ones
    let rt5 = counters(&mut seed, 2, 0);
    seed.succeeded_job(rt5, at(-DAY));
    seed.succeeded_job(rt5, at(-2 * DAY))
        .set("marked_for_deletion", Value::Bool(true));
    seed.running_job(rt5, at(-HOUR));
    seed.queued_job(rt5, at(HOUR));
    apply(db, &seed);
}

backend_test!(
    fn runtemplate_counter_recalc_corrects_only_drifted_counters(db) {
        seed_counters(db);
        let hk = Tool::new(db);
        let before = dump(db);
        let out = hk.run(&["plan", "--duty", "RuntemplateCounterRecalc"]);
        assert_run(&out, 0);
        for line in [
            "update runtemplate id=1: successfull_jobs_count: 5 → 3 — runtemplate #1 counters drifted: success 5 → 3, failed 1 → 1",
            "update runtemplate id=2: failed_jobs_count: 0 → 2 — runtemplate #2 counters drifted: success 0 → 0, failed 0 → 2",
            "update runtemplate id=3: successfull_jobs_count: 4 → 0, failed_jobs_count: 2 → 0 — runtemplate #3 counters drifted: success 4 → 0, failed 2 → 0",
        ] {
            assert!(out.stdout.contains(line), "plan lacks {line:?}:\n{}", out.stdout);
        }
        let report = run_duty(&hk, "RuntemplateCounterRecalc", 0);
        assert_eq!(report["affected"], 3);
        assert_eq!(report["categories"], counts(&[("counters_corrected", 3)]));
        assert_changes(&before, &dump(db), &[
            "runtemplate [1] successfull_jobs_count: 5 → 3",
            "runtemplate [2] failed_jobs_count: 0 → 2",
            "runtemplate [3] successfull_jobs_count: 4 → 0",
            "runtemplate [3] failed_jobs_count: 2 → 0",
        ]);
        let journal = JournalView::read(&hk.state);
        assert_eq!(
            journal.plan_lines("RuntemplateCounterRecalc"),
            lines(&[
                "Update runtemplate 1 [successfull_jobs_count] counters_drifted",
                "Update runtemplate 2 [failed_jobs_count] counters_drifted",
                "Update runtemplate 3 [successfull_jobs_count,failed_jobs_count] counters_drifted",
            ])
        );
        assert_eq!(run_duty(&hk, "RuntemplateCounterRecalc", 0)["affected"], 0);
    }
);

backend_test!(
    fn runtemplate_counter_recalc_does_not_overwrite_a_count_that_moved_after_planning(db) {
        seed_counters(db);
        let hk = Tool::new(db);
        let plan_file = db.dir().join("plan.json");
        assert_run(&hk.run(&["plan", "--duty", "RuntemplateCounterRecalc", "--out", plan_file.to_str().unwrap()]), 0);
        // Runtemplate 1's queued job (id 5) ran and succeeded meanwhile; MultiFlexi counted it.
        db.run_sql(&[
            "UPDATE job SET exitcode = 0 WHERE id = 5",
            "UPDATE runtemplate SET successfull_jobs_count = 6 WHERE id = 1",
        ]);
        let before = dump(db);
        let out = hk.run(&["apply", plan_file.to_str().unwrap(), "--format", "json"]);
        assert_run(&out, 0);
        let report = duty(&out.json(), "RuntemplateCounterRecalc").clone();
        assert_eq!(report["affected"], 2);
        assert_eq!(
            report["drifted"],
            serde_json::json!([{"table": "runtemplate", "key": "1", "reason": "not_planned_now"}])
        );
        let got = changes(&before, &dump(db));
        assert!(!got.iter().any(|l| l.starts_with("runtemplate [1]")), "{got:#?}");
    }
);

// ----- LogPruning -------------------------------------------------------------------------------

backend_test!(
    fn log_pruning_keeps_the_newest_log_keep_rows_for_every_boundary(db) {
        install(db);
        let mut seed = Seed::new(now());
        for (n, id) in [1, 2, 3, 5, 8, 13, 21, 34, 55, 89].into_iter().enumerate() {
            seed.row("log", vec![
                ("id", Value::Int(id)),
                ("severity", "info".into()),
                ("venue", "seed".into()),
                ("message", format!("row {n}").into()),
                ("created", Value::DateTime(at(-(10 - i64::try_from(n).unwrap()) * HOUR))),
                ("marked_for_deletion", Value::Bool(false)),
            ]);
        }
        apply(db, &seed);
        let log_ids = |dump: &Dump| -> Vec<i64> {
            let t = dump.table("log").expect("log table");
            t.rows.iter().map(|r| t.value(r, "id").and_then(Value::as_i64).expect("id")).collect()
        };
        // (LOG_KEEP, rows deleted): above the count, equal to it (each run adds its own two
        // rows, one for the duty and one for the run), 1, 0.
        for (step, (keep, deleted)) in [(11, 0), (12, 0), (1, 13), (0, 3)].into_iter().enumerate() {
            let mut hk = Tool::new(db);
            hk.state = db.dir().join(format!("state-{step}"));
            hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", &keep.to_string());
            let before = dump(db);
            let ids = log_ids(&before);
            let report = run_duty(&hk, "LogPruning", 0);
            assert_eq!(report["status"], "ok");
            assert_eq!(report["affected"], deleted, "LOG_KEEP={keep}: {report:#}");
            let after = dump(db);
            let mut survivors = ids.clone();
            survivors.drain(..ids.len().saturating_sub(keep));
            let left: Vec<i64> = log_ids(&after).into_iter().filter(|id| ids.contains(id)).collect();
            assert_eq!(left, survivors, "LOG_KEEP={keep} keeps the {keep} highest ids");
            let journal = JournalView::read(&hk.state);
            assert_every_removed_row_journaled(&before, &after, &journal);
            if deleted == 0 {
                assert!(journal.plans.is_empty(), "nothing to prune, nothing planned");
                assert_eq!(
                    report["notes"][0],
                    format!("log table has {} rows, not above MULTIFLEXI_HOUSEKEEPER_LOG_KEEP={keep}", ids.len())
                );
            } else {
                let doomed: Vec<String> = ids[..deleted].iter().map(ToString::to_string).collect();
                assert_eq!(
                    journal.plan_lines("LogPruning"),
                    lines(&[&format!("Delete log {} beyond_log_keep", doomed.join(","))])
                );
            }
        }
    }
);

// ----- the schema gate ------------------------------------------------------------------------

backend_test!(
    fn duties_are_skipped_with_the_reason_on_an_older_schema(db) {
        install(db);
        if db.engine() == Engine::Mysql {
            db.run_sql(&["ALTER TABLE job DROP FOREIGN KEY job_ibfk_1"]);
        }
        db.run_sql(&[
            db.pick("DROP TABLE task", "DROP TABLE task CASCADE", "DROP TABLE task"),
            "ALTER TABLE runtemplate DROP COLUMN next_schedule",
            "ALTER TABLE runtemplate DROP COLUMN successfull_jobs_count",
            "ALTER TABLE schedule DROP COLUMN job",
        ]);
        let hk = Tool::new(db);
        let out = hk.run(&["run", "--format", "json", "--duty",
            "StaleTaskFinalization,OrphanedJobCleanup,ScheduleIntegrity,RuntemplateCounterRecalc"]);
        assert_run(&out, 0);
        let report = out.json();
        for (name, reason) in [
            ("StaleTaskFinalization", "needs table task (migration 20260614100000, multiflexi-database 2.5.5)"),
            ("OrphanedJobCleanup", "needs column schedule.job (migration 20230817101435)"),
            ("ScheduleIntegrity", "needs column runtemplate.next_schedule (migration 20251103081828)"),
            ("RuntemplateCounterRecalc", "needs column runtemplate.successfull_jobs_count (migration 20251113121631)"),
        ] {
            let d = duty(&report, name);
            assert_eq!(d["status"], "skipped", "{name}: {d:#}");
            assert_eq!(d["reason"], reason, "{name}");
        }
    }
);

backend_test!(
    only(postgres) fn a_postgres_database_stuck_at_migration_20241020_skips_what_it_lacks(db) {
        let mut conn = db.connect();
        scenario::install_schema(&mut *conn, SchemaLevel::Pg20241020).expect("install the old schema");
        drop(conn);
        let hk = Tool::new(db);
        let out = hk.run(&["run", "--format", "json"]);
        assert_run(&out, 0);
        let report = out.json();
        for (name, status, reason) in [
            ("StaleTaskFinalization", "skipped", Some("needs table task (migration 20260614100000, multiflexi-database 2.5.5)")),
            ("OrphanedJobCleanup", "skipped", Some("needs job.schedule as a date/time column, found character varying(255) (migration 20241121163433)")),
            ("ScheduleIntegrity", "skipped", Some("needs column runtemplate.active (migration 20250210124736)")),
            ("DataRetentionCleanup", "skipped", Some("needs table data_retention_policies (migration 20250120185000)")),
            ("DiskTempFileCleanup", "ok", None),
            ("LogPruning", "ok", None),
            ("RuntemplateCounterRecalc", "skipped", Some("needs column runtemplate.successfull_jobs_count (migration 20251113121631)")),
            ("CredentialHealthCheck", "skipped", Some("needs table runtplcreds (migration 20241201033209)")),
        ] {
            let d = duty(&report, name);
            assert_eq!(d["status"], status, "{name}: {d:#}");
            if let Some(reason) = reason {
                assert_eq!(d["reason"], reason, "{name}");
            }
        }
    }
);

// ----- the PHP tool's observed fixture ----------------------------------------------------------

// The fixture the PHP housekeeper was observed on (`php-observed-runs`), run for real with
// every duty, `LOG_KEEP=3` as in those runs. The PHP results are in docs/COMPATIBILITY.md,
// "The PHP fixture, side by side"; this test pins ours.
backend_test!(
    fn the_php_observed_fixture_side_by_side(db) {
        install(db);
        let hk = {
            let mut hk = Tool::new(db);
            hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "3");
            // FioBank credentials of the fixture have no token: nothing is probed; were it
            // otherwise, a closed local port answers at once.
            hk.set("MULTIFLEXI_HOUSEKEEPER_FIO_URL", &format!("http://127.0.0.1:{}/", crate::support::closed_port()));
            hk
        };
        let fixture = {
            let mut conn = db.connect();
            scenario::php_observed_fixture(&mut *conn, now(), &hk.tmp).expect("seed the PHP fixture")
        };
        fixture.create_temp_files(tool::now_system()).expect("create the temp files");
        let postgres = db.engine() == Engine::Postgres;
        assert_eq!(fixture.job6_env_names_running_json, !postgres);

        // The dry run: every duty planned as the run will plan it, after the earlier ones.
        let out = hk.run(&["plan", "--format", "json"]);
        assert_run(&out, 0);
        let plan = out.json();
        let planned: BTreeMap<String, u64> = plan["duties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let n = d["items"].as_array().unwrap().iter()
                    .filter(|i| i["enabled"] == true)
                    .map(|i| match &i["op"] {
                        serde_json::Value::Object(op) if op.contains_key("delete") => {
                            let keys = &op["delete"]["keys"];
                            keys.get("Ranges").map_or_else(
                                || keys["Values"].as_array().unwrap().len() as u64,
                                |r| r.as_array().unwrap().iter().map(|p| p[1].as_u64().unwrap() - p[0].as_u64().unwrap() + 1).sum(),
                            )
                        }
                        // Record rows (`Insert`) are not changes.
                        serde_json::Value::Object(op) if op.get("insert").is_some() => 0,
                        _ => 1,
                    })
                    .sum::<u64>();
                (d["duty"].as_str().unwrap().to_owned(), n)
            })
            .collect();
        let files = if postgres { 3 } else { 2 };
        assert_eq!(
            planned,
            [
                ("StaleTaskFinalization", 2),
                ("OrphanedJobCleanup", 5),
                // job 3, the ghost OrphanedJobCleanup deletes, no longer holds runtemplate 2's
                // next_schedule
                ("ScheduleIntegrity", 1),
                ("DataRetentionCleanup", 6),
                ("DiskTempFileCleanup", files),
                // the 8 seed rows the retention policy leaves; the first 2 of the run's own 5
                // rows also go (LOG_KEEP=3), which the plan notes but cannot name yet
                ("LogPruning", 8),
                ("RuntemplateCounterRecalc", 2),
                // a finding, not a change
                ("CredentialHealthCheck", 0),
            ]
            .map(|(d, n)| (d.to_owned(), n))
            .into()
        );

        let before = dump(db);
        let out = hk.run(&["run", "--format", "json"]);
        assert_run(&out, 0);
        let report = out.json();
        let summary: Vec<(String, String, u64, usize, usize)> = report["duties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (
                d["duty"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
                d["affected"].as_u64().unwrap(),
                d["errors"].as_array().unwrap().len(),
                d["findings"].as_array().unwrap().len(),
            ))
            .collect();
        let expected: Vec<(String, String, u64, usize, usize)> = [
            ("StaleTaskFinalization", 2, 0),
            ("OrphanedJobCleanup", 5, 0),
            ("ScheduleIntegrity", 1, 0),
            ("DataRetentionCleanup", 6, 0),
            ("DiskTempFileCleanup", files, 0),
            ("LogPruning", 10, 0),
            ("RuntemplateCounterRecalc", 2, 0),
            ("CredentialHealthCheck", 0, 1),
        ]
        .map(|(d, n, f)| (d.to_owned(), "ok".to_owned(), n, 0, f))
        .to_vec();
        assert_eq!(summary, expected, "{report:#}");
        assert_eq!(duty(&report, "StaleTaskFinalization")["categories"], counts(&[("failed", 1), ("missed", 1)]));
        assert_eq!(
            duty(&report, "OrphanedJobCleanup")["categories"],
            counts(&[("broken_queue", 2), ("ghost_job", 1), ("orphaned_job", 2)])
        );
        assert_eq!(duty(&report, "ScheduleIntegrity")["categories"], counts(&[("stale", 1)]));
        assert_eq!(duty(&report, "DataRetentionCleanup")["categories"], counts(&[("deleted", 2), ("marked", 4)]));
        assert_eq!(
            duty(&report, "CredentialHealthCheck")["findings"],
            serde_json::json!([{
                "level": "error",
                "code": "misconfigured",
                "message": "credential \"FioCred\" (#1) for runtemplate #1 is MISCONFIGURED: Fio API token is not set",
            }])
        );

        let after = dump(db);
        let mut expected = vec![
            "task [1] state: open → missed",
            "task [2] state: running → failed",
            "job [3] removed",
            "job [4] removed",
            "job [5] removed",
            "schedule [2] removed",
            "schedule [3] removed",
            "runtemplate [2] next_schedule: 2020-01-01 00:00:00 → NULL",
            "runtemplate [2] DatSave: NULL → 2026-11-28 09:00:00",
            "job [2] marked_for_deletion: 0 → 1",
            "job [6] marked_for_deletion: 0 → 1",
            "job [7] marked_for_deletion: 0 → 1",
            "job [9] marked_for_deletion: 0 → 1",
            "retention_cleanup_jobs [1] added",
            "retention_cleanup_jobs [2] added",
            "runtemplate [1] successfull_jobs_count: 5 → 1",
            "runtemplate [5] failed_jobs_count: 0 → 1",
        ];
        let log_rows: Vec<String> = (1..=10).map(|id| format!("log [{id}] removed")).collect();
        expected.extend(log_rows.iter().map(String::as_str));
        assert_changes(&before, &after, &expected);
        let journal = JournalView::read(&hk.state);
        assert_every_removed_row_journaled(&before, &after, &journal);

        // The temp dir: what PHP deleted, we quarantined — except running.json, which job 6
        // (running) names in its env wherever the env survived storage.
        let left: BTreeSet<String> = tool::tree(&hk.tmp).into_keys().collect();
        let mut kept = vec!["jsonenv.json", "new.txt"];
        if !postgres {
            kept.push("running.json");
        }
        assert_eq!(left, lines(&kept));
        let quarantined: BTreeSet<String> = tool::tree(&hk.state.join("quarantine"))
            .into_keys()
            .map(|p| p.split_once('/').map_or(p.clone(), |(_, rest)| rest.to_owned()))
            .collect();
        let mut moved = vec!["old.txt", "sub/old2.txt"];
        if postgres {
            moved.push("running.json");
        }
        assert_eq!(quarantined, lines(&moved));
    }
);
