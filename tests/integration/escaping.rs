//! Text that housekeeper did not write itself — a retention policy's name, a credential's name,
//! a temp file's name — reaches the terminal escaped on every engine: `plan`, `run`,
//! `journal list|show|find|verify`, `quarantine list` and `undo --dry-run` print no control
//! character (a newline in a name cannot forge a report line, an escape sequence cannot clear
//! the screen or retitle the terminal, a bidi override cannot reorder a line), while
//! `--format json` keeps the exact original.

use crate::support::tool::{self, make_files, Out, Tool};
use crate::support::TestDb;

/// What an attacker would like to print: a forged finding line, a terminal title, a screen
/// clear and a right-to-left override.
const FORGED: &str = "\n  error: credential x MISCONFIGURED";
const EVIL: &str = "\n  error: credential x MISCONFIGURED\x1b]0;pwned\x07\x1b[2J\u{202e}gnp.exe";
/// How `EVIL` is shown.
const EVIL_SHOWN: &str =
    "\\n  error: credential x MISCONFIGURED\\x1b]0;pwned\\x07\\x1b[2J\\u{202e}gnp.exe";

fn policy_name() -> String {
    format!("policy{EVIL}")
}

fn credential_name() -> String {
    format!("cred{EVIL}")
}

fn file_name() -> String {
    format!("job{EVIL}.txt")
}

/// A retention policy that anonymizes an inactive user, a misconfigured credential on an
/// active runtemplate and an old temp file, each named with `EVIL`.
fn seed(db: &TestDb, hk: &Tool) {
    let (mut seed, admin, _dave) = tool::seed_inactive_user(db);
    seed.retention_policy(
        &policy_name(),
        "user_data",
        "user",
        1095,
        0,
        "anonymize",
        Some(admin),
    );
    let app = seed.app("Reporter").id();
    let company = seed.company("ACME", "acme").id();
    let rt = seed.runtemplate(app, company, "d").id();
    let mail = seed.credential_type(company, "Mail", "Common").id();
    seed.credential_type_field(mail, "SMTP_HOST", true, None);
    let cred = seed.credential(mail, &credential_name()).id();
    seed.assign_credential(rt, cred);
    seed.apply(&mut *db.connect()).expect("seed");
    make_files(&hk.tmp, &[(&file_name(), 48)], tool::now_system());
}

/// No control character at all in either stream but the newlines that end lines, no line that
/// starts with the forged finding, and (when `shows` is set) the escaped name.
fn assert_clean(out: &Out, what: &str, shows: bool) {
    for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let bad: Vec<char> = text
            .chars()
            .filter(|&c| {
                (c.is_control() && c != '\n')
                    || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            })
            .collect();
        assert!(
            bad.is_empty(),
            "{what}: {stream} holds control characters {bad:?}:\n{text}"
        );
        assert!(
            !text.lines().any(|l| l
                .trim_start()
                .starts_with("error: credential x MISCONFIGURED")),
            "{what}: {stream} holds the forged line:\n{text}"
        );
    }
    if shows {
        let both = format!("{}{}", out.stdout, out.stderr);
        assert!(
            both.contains(EVIL_SHOWN),
            "{what}: the escaped name is not shown:\nstdout:\n{}\nstderr:\n{}",
            out.stdout,
            out.stderr
        );
    }
}

/// Every string anywhere in a JSON document.
fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// The JSON output holds `exact` unchanged in some string.
fn assert_exact(out: &Out, what: &str, exact: &str) {
    let mut all = Vec::new();
    strings(&out.json(), &mut all);
    assert!(
        all.iter().any(|s| s.contains(exact)),
        "{what}: no JSON string holds {exact:?}:\n{}",
        out.stdout
    );
}

backend_test!(
    fn names_with_control_characters_are_escaped_in_text_and_exact_in_json(db) {
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS", "anonymize");
        seed(db, &hk);
        let path = hk.tmp.join(file_name()).to_string_lossy().into_owned();

        let plan = hk.run(&["plan"]);
        assert_eq!(plan.code, 0, "plan:\n{}\n{}", plan.stdout, plan.stderr);
        assert_clean(&plan, "plan", true);
        for name in [policy_name(), credential_name(), file_name()] {
            let shown = housekeeper::text::escape_str(&name).into_owned();
            assert!(
                plan.stdout.contains(&shown),
                "plan does not show {shown}:\n{}",
                plan.stdout
            );
        }
        assert!(plan.stdout.contains(&format!("\\n{}", &FORGED[1..])));
        let plan_json = hk.run(&["plan", "--format", "json"]);
        for exact in [policy_name(), credential_name(), path.clone()] {
            assert_exact(&plan_json, "plan --format json", &exact);
        }

        let run = hk.run(&["run"]);
        assert_eq!(run.code, 0, "run:\n{}\n{}", run.stdout, run.stderr);
        assert_clean(&run, "run", true);

        let list = hk.run(&["journal", "list"]);
        assert_eq!(list.code, 0, "{}", list.stderr);
        assert_clean(&list, "journal list", false);
        let runs = hk.run(&["journal", "list", "--format", "json"]).json();
        let run_id = runs["runs"][0]["run_id"]
            .as_str()
            .expect("the run is listed")
            .to_owned();

        let show = hk.run(&["journal", "show", &run_id]);
        assert_eq!(show.code, 0, "{}", show.stderr);
        assert_clean(&show, "journal show", true);
        let show_json = hk.run(&["journal", "show", &run_id, "--format", "json"]);
        for exact in [policy_name(), path.clone()] {
            assert_exact(&show_json, "journal show --format json", &exact);
        }

        let find = hk.run(&["journal", "find", "--path", &path]);
        assert_eq!(find.code, 0, "{}", find.stderr);
        assert_clean(&find, "journal find --path", true);
        let find_json = hk.run(&["journal", "find", "--path", &path, "--format", "json"]);
        assert_exact(&find_json, "journal find --format json", &path);
        let verify = hk.run(&["journal", "verify"]);
        assert_clean(&verify, "journal verify", false);
        let quarantined = hk.run(&["quarantine", "list"]);
        assert_eq!(quarantined.code, 0, "{}", quarantined.stderr);
        assert_clean(&quarantined, "quarantine list", false);

        let dry = hk.run(&["undo", &run_id, "--dry-run"]);
        assert_eq!(dry.code, 0, "undo --dry-run:\n{}\n{}", dry.stdout, dry.stderr);
        assert_clean(&dry, "undo --dry-run", true);
        let dry_json = hk.run(&["undo", &run_id, "--dry-run", "--format", "json"]);
        assert_exact(&dry_json, "undo --dry-run --format json", &path);

        // A conflict names the file: a new file at its path stops its restore.
        std::fs::write(&path, "a new file\n").expect("write the new file");
        let conflict = hk.run(&["undo", &run_id, "--dry-run"]);
        assert_eq!(conflict.code, 1, "{}\n{}", conflict.stdout, conflict.stderr);
        assert_clean(&conflict, "undo --dry-run with a conflict", true);
        assert!(
            conflict.stdout.contains("conflict: DiskTempFileCleanup file"),
            "{}",
            conflict.stdout
        );
    }
);
