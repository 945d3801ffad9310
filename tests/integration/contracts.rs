//! docs/JSON.md is the contract of `--format json`: every document the real binary prints on a
//! fixed scenario is held against the tables of its section, field by field, on every engine.
//!
//! Owns: the reading of docs/JSON.md into document shapes (a section per `format` value, its
//! first table the document, the tables after it the entries its "(below)" fields point to,
//! inline shapes such as `{"section", "name", "level", "detail"}` and field lists after a
//! colon as nested objects); the scenario every document is produced on ([`observed`],
//! [`documents`]), which the snapshot tests reuse; and the check that saved plans of earlier
//! builds, which spelled `op` and `guard` capitalized, are still applied.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use housekeeper_scenario as scenario;

use crate::duties_rows::{assert_run, install, now};
use crate::support::tool::{self, Out, Tool};
use crate::support::TestDb;

// ----- the scenario ------------------------------------------------------------------------------

/// The PHP tool's observed fixture (docs/COMPATIBILITY.md), ready for a run: work for every
/// duty, its temp files created. `LOG_KEEP=5` prunes seed rows only: the five `log` rows the
/// run writes before LogPruning (one per duty, dated by the host clock) are the newest five.
/// The FioBank credentials of the fixture have no token, so nothing is probed; the probe URL
/// is a fixed closed local port all the same.
pub fn observed(db: &TestDb) -> Tool {
    install(db);
    let mut hk = Tool::new(db);
    hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "5");
    hk.set("MULTIFLEXI_HOUSEKEEPER_FIO_URL", "http://127.0.0.1:9/");
    let fixture = {
        let mut conn = db.connect();
        scenario::php_observed_fixture(&mut *conn, now(), &hk.tmp).expect("seed the PHP fixture")
    };
    fixture
        .create_temp_files(tool::now_system())
        .expect("create the temp files");
    hk
}

/// The arguments of every command the scenario runs after its `run`, by label, given the
/// run's id and the temp dir: each is run with and without `--format json`.
pub fn audit_commands(run_id: &str, tmp: &Path) -> Vec<(&'static str, Vec<String>)> {
    let old = tmp.join("old.txt").display().to_string();
    [
        ("journal_list", vec!["journal", "list"]),
        ("journal_show", vec!["journal", "show", run_id]),
        (
            "journal_find_row",
            vec!["journal", "find", "--table", "task", "--id", "1"],
        ),
        ("journal_find_path", vec!["journal", "find", "--path", &old]),
        ("journal_verify", vec!["journal", "verify"]),
        ("journal_erasures", vec!["journal", "erasures"]),
        ("undo_dry_run", vec!["undo", run_id, "--dry-run"]),
        ("quarantine_list", vec!["quarantine", "list"]),
        ("doctor", vec!["doctor"]),
    ]
    .into_iter()
    .map(|(label, args)| (label, args.into_iter().map(str::to_owned).collect()))
    .collect()
}

/// Runs the scenario on `hk`: `plan`, `run`, then every command of [`audit_commands`], all
/// with `--format json`, asserting each exit code (doctor has warnings only: no service unit
/// is installed where the tests point it). Returns (label, parsed document).
pub fn documents(hk: &Tool) -> Vec<(String, serde_json::Value)> {
    let mut docs = Vec::new();
    let plan = hk.run(&["plan", "--format", "json"]);
    assert_run(&plan, 0);
    docs.push(("plan".to_owned(), plan.json()));
    let run = hk.run(&["run", "--format", "json"]);
    assert_run(&run, 0);
    let report = run.json();
    let run_id = report["run_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a run_id in {report:#}"))
        .to_owned();
    docs.push(("run".to_owned(), report));
    for (label, mut args) in audit_commands(&run_id, &hk.tmp) {
        args.extend(["--format".to_owned(), "json".to_owned()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out: Out = hk.run(&args);
        let document = out.json();
        // An undo that would leave items not restored says so with exit 1: on PostgreSQL and
        // MariaDB job 5 cannot come back, its runtemplate 99 does not exist.
        let conflicts = document["conflicts"]
            .as_array()
            .is_some_and(|c| !c.is_empty());
        assert_run(&out, i32::from(label == "undo_dry_run" && conflicts));
        docs.push((label.to_owned(), document));
    }
    docs
}

// ----- docs/JSON.md --------------------------------------------------------------------------------

/// What the documentation says an object (or each object of an array) holds.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Documented fields: whether each is required, and what it holds when that is named.
    pub fields: BTreeMap<String, Field>,
    /// The documentation does not name its fields (`{…}`): anything goes.
    pub open: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Field {
    pub required: bool,
    pub nested: Option<Shape>,
}

/// One table of a section: the line that introduces it and its rows (first column, meaning).
struct Table {
    intro: String,
    rows: Vec<(String, String)>,
}

/// The sections of JSON.md that describe a document: `format` value → heading's command
/// (its first code span after the format) and tables.
struct Section {
    command: String,
    tables: Vec<Table>,
}

/// Stands in for an escaped `\|` while a table row is split into its cells.
const PIPE: char = '\u{1}';

/// The contents of the `code spans` of a line.
fn code_spans(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Whether a code span is a field name (`payload_problem`), not a value or a command.
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The sections of JSON.md whose heading starts with a `format` value, with their tables:
/// each table's intro is the last line of text before it.
fn sections(markdown: &str) -> BTreeMap<String, Section> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, Section)> = None;
    let mut previous_text = String::new();
    let mut in_table = false;
    for line in markdown.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            if let Some((format, section)) = current.take() {
                out.insert(format, section);
            }
            let spans = code_spans(heading);
            if let Some(format) = spans.first().filter(|s| s.starts_with("housekeeper.")) {
                let command = spans.get(1).cloned().unwrap_or_default();
                current = Some((
                    format.clone(),
                    Section {
                        command,
                        tables: Vec::new(),
                    },
                ));
            }
            in_table = false;
            previous_text.clear();
            continue;
        }
        let Some((_, section)) = current.as_mut() else {
            continue;
        };
        if line.starts_with('|') {
            let cells: Vec<String> = line
                .replace("\\|", &PIPE.to_string())
                .trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace(PIPE, "|"))
                .collect();
            if !in_table {
                // The header row.
                in_table = true;
                section.tables.push(Table {
                    intro: previous_text.clone(),
                    rows: Vec::new(),
                });
            } else if !cells[0].starts_with("---") {
                let table = section.tables.last_mut().expect("a table was started");
                table
                    .rows
                    .push((cells[0].clone(), cells.get(1).cloned().unwrap_or_default()));
            }
            continue;
        }
        in_table = false;
        if !line.trim().is_empty() {
            previous_text = line.trim().to_owned();
        }
    }
    if let Some((format, section)) = current.take() {
        out.insert(format, section);
    }
    out
}

/// Text with every parenthesized part left out (innermost first).
fn without_parentheses(text: &str) -> String {
    let mut text = text.to_owned();
    while let Some(close) = text.find(')') {
        let Some(open) = text[..close].rfind('(') else {
            break;
        };
        text.replace_range(open..=close, "");
    }
    text
}

/// The field names a meaning lists as the parts of its value: the whole meaning when it is
/// nothing but names (`` `moved`, `skipped`, `bytes` ``), else the names after its last colon
/// when they start that part (`… for files: `run_id`, `kind`, …`). Parenthesized notes and
/// "as in `…`" references are left out. Whether they are fields or values is decided by the
/// output: only an object's names are checked.
fn listed_names(meaning: &str) -> Option<Vec<String>> {
    let mut text = without_parentheses(meaning);
    while let Some(at) = text.find("as in `") {
        let end = text[at + 7..]
            .find('`')
            .map_or(text.len(), |e| at + 7 + e + 1);
        text.replace_range(at..end, "");
    }
    let text = text.trim();
    let only_names = text
        .replace(", and ", ",")
        .replace(" and ", ",")
        .replace(" or ", ",")
        .split(',')
        .map(str::trim)
        .all(|part| {
            part.len() > 2
                && part.starts_with('`')
                && part.ends_with('`')
                && is_name(&part[1..part.len() - 1])
        });
    let part = if only_names {
        text
    } else {
        let (_, after) = text.rsplit_once(": ")?;
        let after = after.split(['.', ';']).next().unwrap_or(after).trim();
        if !after.starts_with('`') {
            return None;
        }
        after
    };
    let names: Vec<String> = code_spans(part)
        .into_iter()
        .filter(|s| is_name(s))
        .collect();
    (names.len() >= 2).then_some(names)
}

/// A tiny reader of the documentation's inline shapes: `{"a", "b": [{"c"}], "d": "…"}`,
/// `[{"level": "error"|"warning", …}]`, `{"restore": {…}}`.
struct ShapeReader<'a> {
    text: &'a [u8],
    at: usize,
}

impl ShapeReader<'_> {
    fn peek(&mut self) -> Option<u8> {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
        self.text.get(self.at).copied()
    }

    fn string(&mut self) -> String {
        self.at += 1; // the opening quote
        let start = self.at;
        while self.text.get(self.at).is_some_and(|&c| c != b'"') {
            self.at += 1;
        }
        let s = String::from_utf8_lossy(&self.text[start..self.at]).into_owned();
        self.at += 1;
        s
    }

    /// A value: the shape of an object (or of an array's objects), or `None` for anything else.
    fn value(&mut self) -> Option<Shape> {
        match self.peek()? {
            b'{' => Some(self.object()),
            b'[' => {
                self.at += 1;
                let element = self.value();
                self.skip_to_close(b']');
                element
            }
            _ => {
                self.skip_scalar();
                None
            }
        }
    }

    fn skip_scalar(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b',' | b'}' | b']' => return,
                b'"' => {
                    let _ = self.string();
                }
                b'[' | b'{' => {
                    let _ = self.value();
                }
                _ => self.at += 1,
            }
        }
    }

    fn skip_to_close(&mut self, close: u8) {
        while let Some(c) = self.peek() {
            self.at += 1;
            if c == close {
                return;
            }
        }
    }

    fn object(&mut self) -> Shape {
        self.at += 1; // {
        let mut shape = Shape::default();
        loop {
            match self.peek() {
                None => return shape,
                Some(b'}') => {
                    self.at += 1;
                    return shape;
                }
                Some(b',') => self.at += 1,
                Some(b'"') => {
                    let key = self.string();
                    let nested = if self.peek() == Some(b':') {
                        self.at += 1;
                        self.value()
                    } else {
                        None
                    };
                    shape.fields.insert(
                        key,
                        Field {
                            required: true,
                            nested,
                        },
                    );
                }
                Some(_) => {
                    // `…`: fields the documentation does not name.
                    shape.open = true;
                    self.skip_scalar();
                }
            }
        }
    }
}

/// The shapes named by the code spans of a meaning that are objects or arrays of objects;
/// several are alternatives: every key of any is allowed, keys of all of them are required.
fn inline_shape(meaning: &str) -> Option<Shape> {
    let alternatives: Vec<Shape> = code_spans(meaning)
        .iter()
        .filter(|s| s.starts_with("{\"") || s.starts_with("[{\""))
        .filter_map(|s| {
            ShapeReader {
                text: s.as_bytes(),
                at: 0,
            }
            .value()
        })
        .collect();
    if alternatives.is_empty() {
        return None;
    }
    let mut merged = Shape {
        fields: BTreeMap::new(),
        open: alternatives.iter().any(|a| a.open),
    };
    for alternative in &alternatives {
        for (name, field) in &alternative.fields {
            let in_all = alternatives.iter().all(|a| a.fields.contains_key(name));
            merged.fields.entry(name.clone()).or_insert(Field {
                required: in_all && field.required,
                nested: field.nested.clone(),
            });
        }
    }
    Some(merged)
}

/// The field names of a table row's first column (`` `duty`, `status` (`ok`/…), `reason` (when
/// skipped) ``), each with whether a "(when …)" note makes it conditional.
fn row_names(first_column: &str) -> Vec<(String, bool)> {
    let mut names = Vec::new();
    let mut rest = first_column;
    while let Some(start) = rest.find('`') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('`') else { break };
        let name = &after[..end];
        rest = after[end + 1..].trim_start();
        if !is_name(name) {
            continue;
        }
        names.push((name.to_owned(), rest.starts_with("(when")));
        if rest.starts_with('(') {
            rest = rest.split_once(')').map_or("", |(_, r)| r);
        }
    }
    names
}

/// What a field holds, as far as its meaning names it: an inline shape, else a list of names.
fn nested_shape(meaning: &str) -> Option<Shape> {
    inline_shape(meaning).or_else(|| {
        listed_names(meaning).map(|names| Shape {
            fields: names
                .into_iter()
                .map(|n| {
                    let field = Field {
                        required: true,
                        nested: None,
                    };
                    (n, field)
                })
                .collect(),
            open: false,
        })
    })
}

/// A shape one section gives a field of another.
enum Lent {
    /// A table of this section also describes that field (`A run (also the `run` of `journal
    /// show`)`).
    Table(Shape),
    /// The field holds duties "shaped like a duty of `housekeeper.plan/v2`".
    PlanDuty,
}

/// The section whose heading names the command `housekeeper <command>`.
fn section_of_command(sections: &BTreeMap<String, Section>, command: &str) -> String {
    sections
        .iter()
        .find(|(_, s)| s.command.starts_with(&format!("housekeeper {command}")))
        .map(|(format, _)| format.clone())
        .unwrap_or_else(|| panic!("docs/JSON.md: no section for `{command}`"))
}

/// One section's document: its first table, with each later table nested under the field
/// marked "(below)" it describes (depth first, in the order the fields come). Records in
/// `lent` what it gives other sections and what it takes from the plan.
fn section_shape(
    format: &str,
    section: &Section,
    sections: &BTreeMap<String, Section>,
    lent: &mut Vec<(String, String, Lent)>,
) -> Shape {
    let mut tables: Vec<(Vec<String>, Shape)> = Vec::new();
    let mut pending: Vec<Vec<String>> = vec![Vec::new()];
    for table in &section.tables {
        assert!(
            !pending.is_empty(),
            "docs/JSON.md, {format}: the table after \"{}\" belongs to no field marked (below)",
            table.intro
        );
        let path = pending.remove(0);
        let mut shape = Shape::default();
        let mut below = Vec::new();
        for (first_column, meaning) in &table.rows {
            for (name, conditional) in row_names(first_column) {
                if meaning.contains("(below)") {
                    let mut child = path.clone();
                    child.push(name.clone());
                    below.push(child);
                }
                if meaning.contains("shaped like a duty of `housekeeper.plan/") {
                    lent.push((format.to_owned(), name.clone(), Lent::PlanDuty));
                }
                let field = Field {
                    required: !conditional && !meaning.contains("left out when"),
                    nested: nested_shape(meaning),
                };
                shape.fields.insert(name, field);
            }
        }
        for (i, child) in below.into_iter().enumerate() {
            pending.insert(i, child);
        }
        if let Some(field) = table
            .intro
            .split("also the `")
            .nth(1)
            .and_then(|r| r.split('`').next())
        {
            let command = table
                .intro
                .split("of `")
                .nth(1)
                .and_then(|r| r.split('`').next())
                .unwrap_or_default();
            let other = section_of_command(sections, command);
            lent.push((other, field.to_owned(), Lent::Table(shape.clone())));
        }
        tables.push((path, shape));
    }
    assert!(
        pending.is_empty(),
        "docs/JSON.md, {format}: no table for the (below) fields {pending:?}"
    );
    let mut root = Shape::default();
    for (path, shape) in tables {
        if path.is_empty() {
            root = shape;
            continue;
        }
        let mut at = &mut root;
        for (i, part) in path.iter().enumerate() {
            let field = at.fields.get_mut(part).expect("the (below) field exists");
            if i + 1 == path.len() {
                field.nested = Some(shape.clone());
                break;
            }
            at = field.nested.get_or_insert_with(Shape::default);
        }
    }
    root
}

/// The documents of docs/JSON.md: `format` value → shape.
pub fn documented(markdown: &str) -> BTreeMap<String, Shape> {
    let sections = sections(markdown);
    let mut lent = Vec::new();
    let mut shapes: BTreeMap<String, Shape> = sections
        .iter()
        .map(|(format, section)| {
            let shape = section_shape(format, section, &sections, &mut lent);
            (format.clone(), shape)
        })
        .collect();
    let plan_duty = shapes
        .values()
        .find_map(|s| {
            s.fields
                .get("duties")
                .and_then(|d| d.nested.as_ref())
                .filter(|d| d.fields.contains_key("items"))
                .cloned()
        })
        .expect("docs/JSON.md: the plan's duty entry with its items");
    for (format, field, shape) in lent {
        let target = shapes
            .get_mut(&format)
            .and_then(|s| s.fields.get_mut(&field))
            .unwrap_or_else(|| panic!("docs/JSON.md, {format}: no field {field}"));
        target.nested = Some(match shape {
            Lent::Table(shape) => shape,
            Lent::PlanDuty => plan_duty.clone(),
        });
    }
    shapes
}

/// Every field of `value` that `shape` does not document, and every documented required field
/// it lacks, as lines naming the path (`duties[2].items[0].op.delete.guard`).
pub fn check(value: &serde_json::Value, shape: &Shape, path: &str, problems: &mut Vec<String>) {
    match value {
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check(item, shape, &format!("{path}[{i}]"), problems);
            }
        }
        serde_json::Value::Object(map) => {
            if shape.open {
                return;
            }
            for (key, inner) in map {
                match shape.fields.get(key) {
                    None => problems.push(format!("{path}.{key} is not documented")),
                    Some(Field {
                        nested: Some(nested),
                        ..
                    }) => check(inner, nested, &format!("{path}.{key}"), problems),
                    Some(_) => {}
                }
            }
            for (key, field) in &shape.fields {
                if field.required && !map.contains_key(key) {
                    problems.push(format!("{path}.{key} is documented but missing"));
                }
            }
        }
        _ => {}
    }
}

fn json_md() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/JSON.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The field paths a shape documents (for the test of the reader itself).
fn paths(shape: &Shape, prefix: &str, out: &mut BTreeSet<String>) {
    for (name, field) in &shape.fields {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if let Some(nested) = &field.nested {
            paths(nested, &path, out);
        }
        out.insert(path);
    }
}

// ----- the tests -----------------------------------------------------------------------------------

#[test]
fn json_md_is_read_into_the_documents_with_their_nested_entries() {
    let docs = documented(&json_md());
    assert_eq!(
        docs.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "housekeeper.doctor/v1",
            "housekeeper.journal.erasures/v1",
            "housekeeper.journal.find/v1",
            "housekeeper.journal.list/v1",
            "housekeeper.journal.show/v1",
            "housekeeper.journal.verify/v1",
            "housekeeper.plan/v2",
            "housekeeper.quarantine.list/v1",
            "housekeeper.report/v1",
            "housekeeper.undo-plan/v2",
        ]
    );
    let mut plan = BTreeSet::new();
    paths(&docs["housekeeper.plan/v2"], "", &mut plan);
    for path in [
        "digest",
        "duties.items.op.delete.guard",
        "duties.items.op.delete.dependents.column",
        "duties.items.op.update.changes.new",
        "duties.items.reason.code",
        "duties.findings.level",
        "duties.status.reason",
    ] {
        assert!(
            plan.contains(path),
            "{path} not read from docs/JSON.md: {plan:#?}"
        );
    }
    let mut show = BTreeSet::new();
    paths(&docs["housekeeper.journal.show/v1"], "", &mut show);
    for path in [
        "run.undo_reason",
        "duties.chunks.tables.updated.before",
        "duties.plan.payload_problem",
        "files.quarantine_path",
    ] {
        assert!(
            show.contains(path),
            "{path} not read from docs/JSON.md: {show:#?}"
        );
    }
    let mut erasures = BTreeSet::new();
    paths(&docs["housekeeper.journal.erasures/v1"], "", &mut erasures);
    for path in [
        "verification.anchor.status",
        "verification.damage",
        "erasures.restored_by",
        "erasures.images_destroyed_utc",
    ] {
        assert!(
            erasures.contains(path),
            "{path} not read from docs/JSON.md: {erasures:#?}"
        );
    }
    let mut undo = BTreeSet::new();
    paths(&docs["housekeeper.undo-plan/v2"], "", &mut undo);
    assert!(undo.contains("plans.items.op.reinsert.keys"), "{undo:#?}");
    assert!(
        undo.contains("plans.items.op.reinsert.images.section"),
        "{undo:#?}"
    );
    assert!(undo.contains("conflicts.reason"), "{undo:#?}");
    // A field the output has and the documentation does not name is reported by its path.
    let mut problems = Vec::new();
    let doctor = serde_json::json!({
        "format": "housekeeper.doctor/v1",
        "checks": [{"section": "lock", "name": "n", "level": "ok", "detail": "", "hint": ""}],
    });
    check(
        &doctor,
        &docs["housekeeper.doctor/v1"],
        "doctor",
        &mut problems,
    );
    assert_eq!(problems, ["doctor.checks[0].hint is not documented"]);
    let mut problems = Vec::new();
    check(
        &serde_json::json!({"format": "housekeeper.doctor/v1"}),
        &docs["housekeeper.doctor/v1"],
        "doctor",
        &mut problems,
    );
    assert_eq!(problems, ["doctor.checks is documented but missing"]);
}

backend_test!(
    fn every_json_document_has_exactly_the_fields_docs_json_md_documents(db) {
        let hk = observed(db);
        let documented = documented(&json_md());
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        for (label, document) in documents(&hk) {
            let format = document["format"].as_str().unwrap_or_default().to_owned();
            match documented.get(&format) {
                None => problems.push(format!("{label}: format {format} has no section in docs/JSON.md")),
                Some(shape) => check(&document, shape, &label, &mut problems),
            }
            seen.insert(format);
        }
        let missing: Vec<&String> = documented.keys().filter(|f| !seen.contains(*f)).collect();
        assert!(missing.is_empty(), "documented but not produced by the scenario: {missing:?}");
        assert!(problems.is_empty(), "docs/JSON.md and the output disagree:\n{}", problems.join("\n"));
    }
);

backend_test!(
    fn a_saved_plan_with_the_earlier_capitalized_op_and_guard_is_still_applied(db) {
        let hk = observed(db);
        let file = crate::support::path_in(db, "plan.json");
        let file_arg = file.display().to_string();
        let out = hk.run(&["plan", "--out", &file_arg]);
        assert_run(&out, 0);
        let mut plan: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let mut rewritten = 0;
        for duty in plan["duties"].as_array_mut().unwrap() {
            for item in duty["items"].as_array_mut().unwrap() {
                let op = item["op"].as_object_mut().unwrap();
                let (name, mut body) = op.iter().next().map(|(k, v)| (k.clone(), v.clone())).unwrap();
                if let Some(guard) = body.get_mut("guard") {
                    let old = match guard.as_str().unwrap() {
                        "exists" => "Exists",
                        "duty" => "Duty",
                        other => panic!("guard {other}"),
                    };
                    *guard = serde_json::json!(old);
                }
                let mut capitalized = name.clone();
                capitalized[..1].make_ascii_uppercase();
                op.clear();
                op.insert(capitalized, body);
                rewritten += 1;
            }
        }
        assert!(rewritten > 10, "{plan:#}");
        tool::write_resealed(&file, plan);

        let out = hk.run(&["apply", &file_arg, "--format", "json"]);
        assert_run(&out, 0);
        let report = out.json();
        let affected = |name: &str| crate::duties_rows::duty(&report, name)["affected"].as_u64();
        assert_eq!(affected("StaleTaskFinalization"), Some(2), "{report:#}");
        assert_eq!(affected("OrphanedJobCleanup"), Some(5), "{report:#}");
        // The plan prunes the 8 log rows the retention policy leaves: the run's own 5 rows,
        // written before LogPruning, are the newest LOG_KEEP=5.
        assert_eq!(affected("LogPruning"), Some(8), "{report:#}");
        for duty in report["duties"].as_array().unwrap() {
            assert_eq!(duty["drifted_count"], 0, "{duty:#}");
        }
        // The journal shows the applied plan's items in today's spelling.
        let run_id = report["run_id"].as_str().unwrap();
        let show = hk.run(&["journal", "show", run_id, "--format", "json"]);
        assert_run(&show, 0);
        let show = show.json();
        let pruning = show["duties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["duty"] == "LogPruning")
            .unwrap_or_else(|| panic!("{show:#}"));
        assert_eq!(pruning["plan"]["items"][0]["op"]["delete"]["guard"], "exists", "{pruning:#}");
    }
);

#[test]
fn items_journaled_with_the_earlier_capitalized_names_still_decode() {
    let earlier = serde_json::json!({
        "Delete": {
            "table": "log",
            "key_column": "id",
            "keys": {"Ranges": [[1, 7]]},
            "dependents": [{"table": "schedule", "column": "job"}],
            "guard": "Exists",
        }
    });
    let op: housekeeper::plan::Op =
        serde_json::from_value(earlier).expect("the capitalized spelling decodes");
    let today = serde_json::to_value(&op).expect("JSON");
    assert_eq!(today["delete"]["guard"], "exists", "{today:#}");
    assert_eq!(
        today["delete"]["keys"],
        serde_json::json!({"Ranges": [[1, 7]]})
    );
    let guard: housekeeper::plan::Guard =
        serde_json::from_value(serde_json::json!("Duty")).unwrap();
    assert_eq!(serde_json::to_value(guard).unwrap(), "duty");
}
