//! Snapshots of what a user reads: the text and JSON output of `plan`, `run`, `journal
//! list|show|find|verify`, `undo --dry-run`, `quarantine list`, `doctor` and `housekeeper man`,
//! on the fixed scenario of `contracts` (SQLite), committed under `snapshots/`.
//!
//! Owns: the filters that make the output stable (the test directory, run ids, host times,
//! digests, durations, device and inode numbers, access times, the host and user names, the
//! state of the host's systemd timer), and nothing else: any other change of the output fails
//! until its snapshot is accepted (README, "Development").

use crate::contracts::{audit_commands, documents, observed};
use crate::duties_rows::assert_run;
use crate::support::tool::{Out, Tool};
use crate::support::TestDb;

/// `text` as a regular expression matching itself.
fn literal(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The settings of every snapshot of a test on `db`: what differs between two runs of the
/// same scenario is replaced by a placeholder naming it.
fn settings(db: &TestDb) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.add_filter(&literal(&db.dir().display().to_string()), "[DIR]");
    for (pattern, placeholder) in [
        // The test directory inside a job's JSON `env`, its slashes escaped once or twice.
        (r"(\\*/[A-Za-z0-9._-]+)*\\*/hk-test-[A-Za-z0-9]+", "[DIR]"),
        (r"\d{8}T\d{6}Z-[0-9a-z]{6}", "[RUN_ID]"),
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
            "[TIME]",
        ),
        (r"\b[0-9a-f]{32,}\b", "[HASH]"),
        (r#""elapsed_ms": \d+"#, r#""elapsed_ms": "[MS]""#),
        (r#""(dev|inode|atime_ns)": \d+"#, r#""$1": "[NUMBER]""#),
        // Who runs the tests, and the room left on their disk.
        (r#""(uid|gid)": \d+"#, r#""$1": "[ID]""#),
        (r"owner \d+:\d+", "owner [UID]:[GID]"),
        (
            r"owner [a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*",
            "owner [USER]:[GROUP]",
        ),
        (r#""host": "[^"]*""#, r#""host": "[HOST]""#),
        (r#""user": "[^"]*""#, r#""user": "[USER]""#),
        (
            r"host \S+, user \S+, housekeeper",
            "host [HOST], user [USER], housekeeper",
        ),
        (r"\d+ MiB free", "[N] MiB free"),
        (
            r"ended (\w+) \d+ (s|min|h|days) ago",
            "ended $1 [WHILE] ago",
        ),
        // doctor's line on the host's systemd timer, only where systemd runs.
        (r"(?m)^  \S+ +timer: .*\n", ""),
        (
            r#"\{\s*"detail": "[^"]*",\s*"level": "\w+",\s*"name": "timer",\s*"section": "journal"\s*\},?\s*"#,
            "",
        ),
    ] {
        settings.add_filter(pattern, placeholder);
    }
    settings
}

/// The snapshot of one invocation: its exit code, then stdout.
fn shown(out: &Out) -> String {
    format!("exit {}\n{}", out.code, out.stdout)
}

/// The same with stderr, where a run prints its summary.
fn shown_with_stderr(out: &Out) -> String {
    format!("{}--- stderr\n{}", shown(out), out.stderr)
}

backend_test!(
    only(sqlite)
    fn the_text_and_json_of_plan_journal_undo_quarantine_and_doctor(db) {
        let hk = observed(db);
        let settings = settings(db);
        let plan = hk.run(&["plan"]);
        assert_run(&plan, 0);
        settings.bind(|| insta::assert_snapshot!("plan_text", shown(&plan)));

        // The JSON documents, `plan` and `run` included, as the contract test produces them.
        let docs = documents(&hk);
        for (label, document) in &docs {
            let text = serde_json::to_string_pretty(document).expect("JSON");
            settings.bind(|| insta::assert_snapshot!(format!("{label}_json"), text));
        }
        let run_id = docs
            .iter()
            .find(|(label, _)| label == "run")
            .and_then(|(_, report)| report["run_id"].as_str())
            .expect("the run's id")
            .to_owned();
        for (label, args) in audit_commands(&run_id, &hk.tmp) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = hk.run(&args);
            assert_run(&out, 0); // SQLite: the undo would restore everything
            settings.bind(|| insta::assert_snapshot!(format!("{label}_text"), shown(&out)));
        }
    }
);

backend_test!(
    only(sqlite)
    fn the_text_of_a_run(db) {
        let hk = observed(db);
        let out = hk.run(&["run"]);
        assert_run(&out, 0);
        settings(db).bind(|| insta::assert_snapshot!("run_text", shown_with_stderr(&out)));
    }
);

backend_test!(
    only(sqlite)
    fn the_man_page(db) {
        let hk = Tool::new(db);
        let out = hk.run(&["man"]);
        assert_run(&out, 0);
        settings(db).bind(|| insta::assert_snapshot!("man", shown(&out)));
    }
);
