//! `housekeeper journal erasures`, the proof of erasure, through the real binary on every
//! engine: what DataRetentionCleanup deleted and anonymized over three runs with a moving
//! clock, an undo that restored part of it, the undo window passing and the expiry that
//! destroys the row images — in text, JSON and CSV, filtered by time and table — and a
//! tampered journal, which the report states at its top with exit 3.

use std::path::{Path, PathBuf};

use housekeeper_scenario::Seed;
use serde_json::{json, Value};

use crate::duties_rows::{apply, assert_run, at, install, now, DAY};
use crate::support::tool::{Out, Tool};
use crate::support::TestDb;

/// `sess-…` key of the n-th seeded session.
fn session(n: i64) -> String {
    format!("sess-{n:032x}")
}

/// Three policies and rows on both sides of their cutoffs, now and two days later:
/// log 1 (366 days old) and session 1 (31 days) expire now, log 2 (364 days) and session 2
/// (29 days) two days later, log 3 and session 3 never; user 2 is anonymized now.
fn seed(db: &TestDb) -> Tool {
    install(db);
    let mut seed = Seed::new(now());
    seed.user("admin");
    seed.user("old.user")
        .set("last_activity_at", at(-1096 * DAY));
    seed.retention_policy(
        "app logs",
        "application_logs",
        "log",
        365,
        7,
        "hard_delete",
        Some(1),
    );
    seed.retention_policy(
        "web sessions",
        "session_data",
        "user_sessions",
        30,
        7,
        "hard_delete",
        Some(1),
    );
    seed.retention_policy(
        "inactive users",
        "user_data",
        "user",
        1095,
        30,
        "anonymize",
        Some(1),
    );
    seed.log("info", "seed", "old", at(-366 * DAY));
    seed.log("info", "seed", "later", at(-364 * DAY));
    seed.log("info", "seed", "recent", at(-100 * DAY));
    seed.session(1, at(-31 * DAY));
    seed.session(1, at(-29 * DAY));
    seed.session(1, at(-DAY));
    apply(db, &seed);
    let mut hk = Tool::new(db);
    hk.set(
        "MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS",
        "hard_delete,soft_delete,anonymize",
    );
    hk
}

/// `run` of DataRetentionCleanup alone; its run id.
fn run(hk: &Tool) -> String {
    let out = hk.run(&["run", "--duty", "DataRetentionCleanup", "--format", "json"]);
    assert_run(&out, 0);
    out.json()["run_id"].as_str().expect("a run id").to_owned()
}

fn erasures(hk: &Tool, args: &[&str]) -> Out {
    let mut all = vec!["journal", "erasures"];
    all.extend_from_slice(args);
    hk.run(&all)
}

/// The report's entries as comparable lines:
/// `run #policy_id:policy table key_column action keys columns status until destroyed
/// restored_by`.
fn entries(doc: &Value) -> Vec<String> {
    doc["erasures"]
        .as_array()
        .expect("erasures")
        .iter()
        .map(|e| {
            let text = |v: &Value| match v {
                Value::Null => "-".to_owned(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!(
                "{} #{}:{} {} {} {} {} [{}] {} {} {} {} count={}",
                text(&e["run_id"]),
                text(&e["policy_id"]),
                text(&e["policy"]),
                text(&e["table"]),
                text(&e["key_column"]),
                text(&e["action"]),
                keys(&e["keys"]),
                e["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(text)
                    .collect::<Vec<_>>()
                    .join(","),
                text(&e["status"]),
                text(&e["restorable_until_utc"]),
                text(&e["images_destroyed_utc"]),
                text(&e["restored_by"]),
                e["count"],
            )
        })
        .collect()
}

/// `{"Ranges": [[1, 1]]}` → `1`, `{"Values": [{"Text": "a"}]}` → `a`.
fn keys(set: &Value) -> String {
    if let Some(ranges) = set["Ranges"].as_array() {
        return ranges
            .iter()
            .map(|r| format!("{}-{}", r[0], r[1]))
            .collect::<Vec<_>>()
            .join(",");
    }
    set["Values"]
        .as_array()
        .expect("a key set")
        .iter()
        .map(|v| {
            v["Text"]
                .as_str()
                .map_or_else(|| v.to_string(), str::to_owned)
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn segments(hk: &Tool) -> Vec<PathBuf> {
    let dir = hk.state.join("journal");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the journal directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hkj"))
        .collect();
    out.sort();
    out
}

/// Flips one byte `from_end` bytes before the end of `path`.
fn tamper(path: &Path, from_end: usize) {
    let mut bytes = std::fs::read(path).expect("read the segment");
    let at = bytes.len() - from_end;
    bytes[at] ^= 0x20;
    std::fs::write(path, bytes).expect("write the segment");
}

backend_test!(
    fn the_erasure_report_follows_rows_through_a_run_an_undo_and_the_expiry(db) {
        let mut hk = seed(db);
        let first = run(&hk);

        // Right after the run: what it erased, restorable for the 14-day undo window.
        let out = erasures(&hk, &["--format", "json"]);
        assert_run(&out, 0);
        let doc = out.json();
        assert_eq!(doc["format"], "housekeeper.journal.erasures/v1");
        assert_eq!(doc["verification"]["ok"], true, "{doc:#}");
        assert_eq!(doc["verification"]["anchor"]["status"], "matched", "{doc:#}");
        assert_eq!(doc["undo_days"], 14);
        let until = "2026-12-12T09:00:00Z";
        assert_eq!(entries(&doc), [
            format!("{first} #1:app logs log id deleted 1-1 [] restorable {until} - - count=1"),
            format!("{first} #2:web sessions user_sessions id deleted {} [] restorable {until} - - count=1", session(1)),
            format!("{first} #3:inactive users user id anonymized 2-2 [anonymized_at,email,firstname,last_login_ip,lastname,login] restorable {until} - - count=1"),
        ]);
        let row = &doc["erasures"][0];
        assert_eq!(row["started_utc"], "2026-11-28T09:00:00Z");
        assert_eq!(row["now"], "2026-11-28 09:00:00");
        assert_eq!(row["run_kind"], "run");
        assert!(!out.stdout.contains("old.user"), "no column value in the report:\n{}", out.stdout);

        // Two days later the second run erases what expired meanwhile, and is undone.
        hk.set("HOUSEKEEPER_NOW", "2026-11-30 09:00:00");
        let second = run(&hk);
        let undo = hk.run(&["undo", &second, "--format", "json"]);
        assert_run(&undo, 0);
        let undo_id = undo.json()["run_id"].as_str().expect("the undo's run id").to_owned();

        // Past the first run's undo window (not the second's): the third run expires its row
        // images, and erases again what the undo had brought back (its hold is over).
        hk.set("HOUSEKEEPER_NOW", "2026-12-13 09:00:00");
        let third = run(&hk);
        let out = erasures(&hk, &["--format", "json"]);
        assert_run(&out, 0);
        let doc = out.json();
        let (until2, until3) = ("2026-12-14T09:00:00Z", "2026-12-27T09:00:00Z");
        // The first run's plan payload is gone with its row images: the chain keeps the
        // policy's key, the table, the action and the keys, not the policy's name.
        assert_eq!(entries(&doc), [
            format!("{first} #1:- log id deleted 1-1 [] final {until} 2026-12-13T09:00:00Z - count=1"),
            format!("{second} #1:app logs log id deleted 2-2 [] restored {until2} - {undo_id} count=1"),
            format!("{third} #1:app logs log id deleted 2-2 [] restorable {until3} - - count=1"),
            format!("{first} #2:- user_sessions id deleted {} [] final {until} 2026-12-13T09:00:00Z - count=1", session(1)),
            format!("{second} #2:web sessions user_sessions id deleted {} [] restored {until2} - {undo_id} count=1", session(2)),
            format!("{third} #2:web sessions user_sessions id deleted {} [] restorable {until3} - - count=1", session(2)),
            format!("{first} #3:- user id anonymized 2-2 [anonymized_at,email,firstname,last_login_ip,lastname,login] final {until} 2026-12-13T09:00:00Z - count=1"),
        ]);
        assert_eq!(doc["erasures"][1]["restored_utc"], "2026-11-30T09:00:00Z");

        // Text: the verification first, then per policy and table one line per run and fate.
        let out = erasures(&hk, &[]);
        assert_run(&out, 0);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert!(lines[0].starts_with("journal ok: "), "{}", out.stdout);
        assert!(lines[0].contains("; anchor matched (record "), "{}", out.stdout);
        for want in [
            "policy #1 \"app logs\", table log:".to_owned(),
            format!("  {first} 2026-11-28T09:00:00Z deleted id 1 — final: row images destroyed 2026-12-13T09:00:00Z (undo window ended {until})"),
            format!("  {second} 2026-11-30T09:00:00Z deleted id 2 — restored by undo {undo_id} started 2026-11-30T09:00:00Z"),
            format!("  {third} 2026-12-13T09:00:00Z deleted id 2 — restorable until {until3} (row images kept)"),
            "policy #2 \"web sessions\", table user_sessions:".to_owned(),
            format!("  {second} 2026-11-30T09:00:00Z deleted id \"{}\" — restored by undo {undo_id} started 2026-11-30T09:00:00Z", session(2)),
            // No kept plan names policy 3 any more; its key still does.
            "policy #3 (its name went with the expired plan payloads), table user:".to_owned(),
            format!("  {first} 2026-11-28T09:00:00Z anonymized id 2 (columns anonymized_at, email, firstname, last_login_ip, lastname, login) — final: row images destroyed 2026-12-13T09:00:00Z (undo window ended {until})"),
            "7 row(s) in 7 entries: anonymized 1, deleted 6; final 3, restorable 2, restored 2".to_owned(),
        ] {
            assert!(lines.contains(&want.as_str()), "text lacks {want:?}:\n{}", out.stdout);
        }

        // CSV: a header and one row per key, quoted where needed.
        let out = erasures(&hk, &["--format", "csv", "--table", "user_sessions"]);
        assert_run(&out, 0);
        assert!(out.stdout.ends_with("\r\n"), "RFC 4180 line ends");
        let rows: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(rows, [
            "run_id,run_kind,started_utc,now,policy_id,policy,table,key_column,key,action,columns,dependents,status,restorable_until_utc,images_destroyed_utc,restored_by,restored_utc".to_owned(),
            format!("{first},run,2026-11-28T09:00:00Z,2026-11-28 09:00:00,2,,user_sessions,id,{},deleted,,,final,{until},2026-12-13T09:00:00Z,,", session(1)),
            format!("{second},run,2026-11-30T09:00:00Z,2026-11-30 09:00:00,2,web sessions,user_sessions,id,{},deleted,,,restored,{until2},,{undo_id},2026-11-30T09:00:00Z", session(2)),
            format!("{third},run,2026-12-13T09:00:00Z,2026-12-13 09:00:00,2,web sessions,user_sessions,id,{},deleted,,,restorable,{until3},,,", session(2)),
        ]);
        let out = erasures(&hk, &["--format", "csv", "--table", "user"]);
        assert!(
            out.stdout.contains(",user,id,2,anonymized,anonymized_at;email;firstname;last_login_ip;lastname;login,,final,"),
            "{}", out.stdout
        );

        // --since and --until select runs by their start; a date includes its whole day.
        let only = |args: &[&str]| -> Vec<String> {
            let mut all = args.to_vec();
            all.extend(["--format", "json"]);
            let out = erasures(&hk, &all);
            assert_run(&out, 0);
            let doc = out.json();
            let mut runs: Vec<String> = doc["erasures"].as_array().unwrap().iter()
                .map(|e| format!("{} {}", e["run_id"].as_str().unwrap(), e["table"].as_str().unwrap()))
                .collect();
            runs.sort();
            runs
        };
        assert_eq!(only(&["--until", "2026-11-28"]), [
            format!("{first} log"), format!("{first} user"), format!("{first} user_sessions"),
        ]);
        assert_eq!(only(&["--since", "2026-11-29", "--until", "2026-11-30T09:00:00Z"]), [
            format!("{second} log"), format!("{second} user_sessions"),
        ]);
        assert_eq!(only(&["--since", "2026-11-30 09:00:01"]), [
            format!("{third} log"), format!("{third} user_sessions"),
        ]);
        assert_eq!(only(&["--table", "log", "--since", "2026-11-29"]), [
            format!("{second} log"), format!("{third} log"),
        ]);
        assert_eq!(only(&["--table", "nothing_here"]), Vec::<String>::new());
        let out = erasures(&hk, &["--since", "last week"]);
        assert_run(&out, 2);
        assert!(out.stderr.contains("--since") && out.stderr.contains("YYYY-MM-DD"), "{}", out.stderr);
        let out = erasures(&hk, &["--table", "nothing_here"]);
        assert!(out.stdout.ends_with("no erasures recorded\n"), "{}", out.stdout);
    }
);

backend_test!(
    fn the_erasure_report_of_a_tampered_journal_says_so_first_and_exits_3(db) {
        let hk = seed(db);
        let first = run(&hk);
        let segment = segments(&hk).pop().expect("a segment");
        // A byte near the end of the journal changes: the run's items and chunks stay readable.
        tamper(&segment, 40);

        let out = erasures(&hk, &[]);
        assert_run(&out, 3);
        let first_line = out.stdout.lines().next().unwrap_or_default();
        assert!(
            first_line.starts_with("JOURNAL VERIFICATION FAILED: this report cannot be trusted"),
            "{}", out.stdout
        );
        assert!(
            out.stdout.lines().nth(1).unwrap_or_default().starts_with("damage: hash_mismatch at record "),
            "{}", out.stdout
        );
        assert!(out.stdout.contains("journal DAMAGED: "), "{}", out.stdout);
        assert!(out.stdout.contains("; anchor not reached\n"), "{}", out.stdout);
        // What precedes the damage (the run's plan and chunks; its end was altered) is listed,
        // under the warning.
        assert!(
            out.stdout.contains(&format!("  {first} 2026-11-28T09:00:00Z deleted id 1 — restorable until 2026-12-12T09:00:00Z")),
            "{}", out.stdout
        );
        assert!(out.stdout.ends_with("3 row(s) in 3 entries: anonymized 1, deleted 2; restorable 3\n"), "{}", out.stdout);
        assert!(out.stderr.contains("failed verification"), "{}", out.stderr);

        let out = erasures(&hk, &["--format", "json"]);
        assert_run(&out, 3);
        let doc = out.json();
        assert_eq!(doc["verification"]["ok"], false);
        assert!(!doc["verification"]["damage"].as_array().unwrap().is_empty(), "{doc:#}");
        assert!(doc["read_until_damage"].is_string(), "{doc:#}");
        assert_eq!(doc["verification"]["anchor"]["status"], "not_reached", "{doc:#}");
        let runs: Vec<&Value> = doc["erasures"].as_array().unwrap().iter().map(|e| &e["run_id"]).collect();
        assert_eq!(runs, [&json!(first), &json!(first), &json!(first)], "{doc:#}");


        let out = erasures(&hk, &["--format", "csv"]);
        assert_run(&out, 3);
        assert!(out.stdout.starts_with("run_id,"), "{}", out.stdout);
        assert_eq!(out.stdout.lines().count(), 4, "the header and one row per key: {}", out.stdout);
        assert!(out.stderr.contains("this erasure report cannot be trusted"), "{}", out.stderr);
    }
);

backend_test!(
    fn the_erasure_report_shows_marks_and_the_grace_purge_with_dependent_rows(db) {
        install(db);
        let mut seed = Seed::new(now());
        seed.user("admin");
        let app = seed.app("App1").id();
        let company = seed.company("Comp1", "C1").id();
        seed.retention_policy("jobs", "job_execution_data", "job", 30, 7, "soft_delete", Some(1));
        let rt = seed.runtemplate(app, company, "d").id();
        let a = seed.succeeded_job(rt, at(-40 * DAY)).id();
        let b = seed.failed_job(rt, at(-41 * DAY), 1).id();
        for job in [a, b] {
            seed.output_line(job, 1, "stdout", "done");
            seed.artifact(job, "out.json", "{}");
        }
        // Marked by someone else (the web UI): housekeeper erased nothing of it.
        seed.succeeded_job(rt, at(-50 * DAY)).set("marked_for_deletion", housekeeper_journal::Value::Bool(true));
        apply(db, &seed);
        let mut hk = Tool::new(db);
        let marking = run(&hk);
        hk.set("MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS", "hard_delete,soft_delete,grace_purge");
        hk.set("HOUSEKEEPER_NOW", "2026-12-05 09:00:00");
        let purge = run(&hk);

        let out = erasures(&hk, &["--format", "json"]);
        assert_run(&out, 0);
        assert_eq!(entries(&out.json()), [
            format!("{marking} #1:jobs job id marked 1-2 [marked_for_deletion] restorable 2026-12-12T09:00:00Z - - count=2"),
            format!("{purge} #1:jobs job id purged 1-2 [] restorable 2026-12-19T09:00:00Z - - count=2"),
        ]);
        assert_eq!(
            out.json()["erasures"][1]["dependents"],
            json!(["artifacts", "file_store", "job_output_lines", "schedule"])
        );
        let out = erasures(&hk, &[]);
        assert!(out.stdout.contains(&format!(
            "  {purge} 2026-12-05T09:00:00Z purged id 1–2 (2 rows) with dependent rows of artifacts, file_store, job_output_lines, schedule — restorable until 2026-12-19T09:00:00Z (row images kept)\n"
        )), "{}", out.stdout);
        let out = erasures(&hk, &["--format", "csv"]);
        assert!(out.stdout.contains(&format!(
            "{purge},run,2026-12-05T09:00:00Z,2026-12-05 09:00:00,1,jobs,job,id,2,purged,,artifacts;file_store;job_output_lines;schedule,restorable,2026-12-19T09:00:00Z,,,\r\n"
        )), "{}", out.stdout);

        // Without a database the report still reads the journal; the anchors are not checked.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_housekeeper"))
            .env_clear()
            .envs(&hk.env)
            .arg("--env-file")
            .arg(&hk.env_file)
            .arg("--state-dir")
            .arg(&hk.state)
            .args(["journal", "erasures"])
            .output()
            .expect("run housekeeper");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(text.starts_with("warning: anchors not checked: no database configured"), "{text}");
        assert!(text.contains("journal ok: ") && text.contains("; anchors not checked\n"), "{text}");
        assert!(text.contains(&format!("  {marking} 2026-11-28T09:00:00Z marked id 1–2 (2 rows)")), "{text}");
    }
);

backend_test!(
    fn names_and_keys_are_escaped_in_text_quoted_in_csv_and_exact_in_json(db) {
        install(db);
        let mut seed = Seed::new(now());
        seed.user("admin");
        let policy = "web \"sessions\",\nforged line";
        let key = "s,\"1\"\n\u{1b}[2J";
        seed.retention_policy(policy, "session_data", "user_sessions", 30, 7, "hard_delete", Some(1));
        seed.session(1, at(-31 * DAY)).set("id", key);
        // A name a spreadsheet would run as a formula.
        let formula = "=HYPERLINK(\"http://evil.example\",\"open\")";
        seed.retention_policy(formula, "application_logs", "log", 365, 7, "hard_delete", Some(1));
        seed.log("info", "seed", "old", at(-366 * DAY));
        apply(db, &seed);
        let hk = Tool::new(db);
        let first = run(&hk);

        let out = erasures(&hk, &[]);
        assert_run(&out, 0);
        assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);
        assert!(out.stdout.contains("policy #1 \"web \"sessions\",\\nforged line\", table user_sessions:\n"), "{}", out.stdout);
        assert!(out.stdout.contains(&format!("  {first} 2026-11-28T09:00:00Z deleted id \"s,\\\"1\\\"\\n\\x1b[2J\" — restorable")), "{}", out.stdout);
        assert!(!out.stdout.lines().any(|l| l.starts_with("forged line")), "{}", out.stdout);

        let out = erasures(&hk, &["--format", "json"]);
        let doc = out.json();
        assert_eq!(doc["erasures"][0]["policy"], policy);
        assert_eq!(doc["erasures"][1]["policy"], formula, "JSON is exact");
        assert_eq!(doc["erasures"][0]["keys"], json!({"Values": [{"Text": key}]}));

        let out = erasures(&hk, &["--format", "csv"]);
        let body = out.stdout.split_once("\r\n").expect("a header").1;
        assert_eq!(body, format!(
            "{first},run,2026-11-28T09:00:00Z,2026-11-28 09:00:00,1,\"web \"\"sessions\"\",\nforged line\",user_sessions,id,\"s,\"\"1\"\"\n\u{1b}[2J\",deleted,,,restorable,2026-12-12T09:00:00Z,,,\r\n\
             {first},run,2026-11-28T09:00:00Z,2026-11-28 09:00:00,2,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"open\"\")\",log,id,1,deleted,,,restorable,2026-12-12T09:00:00Z,,,\r\n"
        ));
    }
);
