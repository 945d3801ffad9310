//! `journal list` and `journal show` as text for people: the run table, and a run's header,
//! each duty's plan, chunks with their row images and drifted items, and the files moved.
//! Long lists are cut at [`MAX_TEXT_ROWS`] per table and duty (JSON lists all). Every text
//! housekeeper did not write goes through `Escaped` or `ShowValue`; never reads the journal:
//! it formats what `list` and `show` gathered.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use housekeeper_journal::{Action, ItemSummary, Value};

use super::{
    ChunkDetail, DutyDetail, FileDetail, PlanDetail, RunDetail, RunList, RunSummary, TableDetail,
    MAX_TEXT_ROWS,
};
use crate::audit::payloads::{self, PayloadState};
use crate::plan::render;
use crate::text::{Escaped, ShowValue};

/// `journal list` for people.
#[must_use]
pub fn list_text(list: &RunList) -> String {
    let mut out = String::new();
    for aside in &list.set_aside {
        let _ = writeln!(
            out,
            "set aside by `journal reset` (shown, not undoable): {}{}",
            Escaped(&aside.journal_dir),
            aside
                .damage
                .as_deref()
                .map(|d| format!("\n  damage: {}", Escaped(d)))
                .unwrap_or_default()
        );
        out.push_str(&runs_text(&aside.runs, &aside.journal_dir));
        out.push('\n');
    }
    if let Some(reset) = &list.reset {
        let _ = writeln!(
            out,
            "this journal was started by journal reset {} at {} by {}@{}: reason: {}\n  it \
             replaces journal {} (last verifiable record {}), damage: {}",
            Escaped(&reset.run_id),
            Escaped(&reset.at_utc),
            Escaped(&reset.user),
            Escaped(&reset.host),
            Escaped(&reset.reason),
            Escaped(&reset.previous_id),
            reset.last_seq,
            Escaped(&reset.damage)
        );
    }
    out.push_str(&runs_text(&list.runs, &list.journal_dir));
    out
}

fn runs_text(runs: &[RunSummary], journal_dir: &str) -> String {
    let mut out = String::new();
    if runs.is_empty() {
        let _ = writeln!(out, "no runs in the journal at {}", Escaped(journal_dir));
        return out;
    }
    let _ = writeln!(
        out,
        "{:<24} {:<11} {:<20} {:<19} {:<7} {:>5}  {:<30} undo",
        "run", "kind", "started (UTC)", "now", "status", "files", "changed"
    );
    for run in runs {
        let changed = if run.changed.is_empty() {
            "-".to_owned()
        } else {
            run.changed
                .iter()
                .map(|d| format!("{} {}", Escaped(&d.duty), d.affected))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "{:<24} {:<11} {:<20} {:<19} {:<7} {:>5}  {:<30} {}",
            Escaped(&run.run_id),
            Escaped(&run.kind),
            Escaped(&run.started_utc),
            Escaped(&run.now),
            Escaped(&run.status),
            run.files_moved,
            changed,
            undo_words(run)
        );
    }
    let _ = writeln!(out, "{} run(s) in {}", runs.len(), Escaped(journal_dir));
    out
}

/// The undo column of `journal list`: `yes`, `yes, N left`, or why not; with the end of the
/// undo window while something can be undone.
fn undo_words(run: &RunSummary) -> String {
    match &run.undoable_until {
        Some(until) => format!("{} until {}", Escaped(&run.undo), Escaped(until)),
        None => Escaped(&run.undo).to_string(),
    }
}

fn state_text(state: &PayloadState, problem: Option<&String>) -> Option<String> {
    match state {
        PayloadState::Expired => Some(
            "payload expired at the end of the undo window: values are gone, keys remain".into(),
        ),
        PayloadState::Missing => Some(format!(
            "payload missing or damaged{}; run `housekeeper journal verify`",
            problem
                .map(|p| format!(" ({})", Escaped(p)))
                .unwrap_or_default()
        )),
        PayloadState::Present | PayloadState::None => None,
    }
}

fn summary_line(s: &ItemSummary) -> String {
    let what = match s.action {
        Action::Delete => "delete",
        Action::Update => "update",
        Action::Insert => "insert",
        Action::QuarantineFile => "quarantine",
        Action::RestoreFile => "restore",
    };
    let mut line = what.to_owned();
    if let Some(table) = &s.table {
        let _ = write!(
            line,
            " {} {} {}",
            Escaped(table),
            Escaped(&s.key_columns.join(",")),
            render::keys_text(&s.keys)
        );
    }
    if !s.columns.is_empty() && s.action == Action::Update {
        let _ = write!(line, " ({})", Escaped(&s.columns.join(", ")));
    }
    if !s.dependents.is_empty() {
        let _ = write!(line, " with its {} rows", Escaped(&s.dependents.join(", ")));
    }
    if let Some(path) = &s.path {
        let _ = write!(line, " {}", Escaped(path));
    }
    let _ = write!(line, " — {}", Escaped(&s.reason));
    line
}

/// A chunk's change as one word: the action's name in lower case.
fn change_word(action: Action) -> &'static str {
    match action {
        Action::Delete => "delete",
        Action::Update => "update",
        Action::Insert => "insert",
        Action::QuarantineFile => "quarantinefile",
        Action::RestoreFile => "restorefile",
    }
}

/// `journal show` for people: long lists are cut at `MAX_TEXT_ROWS` per table and duty.
#[must_use]
pub fn show_text(detail: &RunDetail) -> String {
    let mut out = String::new();
    run_header(&mut out, &detail.run);
    for duty in &detail.duties {
        duty_text(&mut out, duty);
    }
    files_text(&mut out, &detail.files);
    out
}

/// The run's id, kind, times, host, database, status and whether it can be undone.
fn run_header(out: &mut String, run: &RunSummary) {
    let of = run
        .of_run
        .as_deref()
        .map(|o| format!(" of {}", Escaped(o)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "run {} ({}{of})",
        Escaped(&run.run_id),
        Escaped(&run.kind)
    );
    let _ = writeln!(
        out,
        "  started {}, ended {}, now {}",
        Escaped(&run.started_utc),
        Escaped(run.ended_utc.as_deref().unwrap_or("never (open)")),
        Escaped(&run.now)
    );
    let _ = writeln!(
        out,
        "  host {}, user {}, housekeeper {}",
        Escaped(&run.host),
        Escaped(&run.user),
        Escaped(&run.tool_version)
    );
    let _ = writeln!(
        out,
        "  database {}",
        Escaped(if run.database.is_empty() {
            "(none)"
        } else {
            &run.database
        })
    );
    let _ = writeln!(out, "  status {}", Escaped(&run.status));
    match &run.undo_reason {
        None => {
            let until = run
                .undoable_until
                .as_deref()
                .map(|u| format!(", until {}", Escaped(u)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  undo: {} (housekeeper undo {}){until}",
                Escaped(&run.undo),
                Escaped(&run.run_id)
            );
        }
        Some(reason) => {
            let _ = writeln!(out, "  undo: {} — {}", Escaped(&run.undo), Escaped(reason));
        }
    }
    for duty in run.undo_duties.iter().filter(|d| d.restored > 0) {
        let by = duty
            .restored_by
            .iter()
            .map(|u| Escaped(u).to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "    {}: {} changed, {} restored (by {by}), {} undoable",
            Escaped(&duty.duty),
            duty.changed,
            duty.restored,
            if run.undo_reason.is_none() {
                duty.undoable
            } else {
                0
            }
        );
    }
}

/// One duty: its outcome, its plan, its chunks and the rows left out.
fn duty_text(out: &mut String, duty: &DutyDetail) {
    let _ = write!(out, "\n== {}", Escaped(&duty.duty));
    match (&duty.status, duty.affected) {
        (Some(status), Some(0)) if status == "skipped" => {
            let _ = write!(out, ": skipped");
        }
        (Some(status), Some(affected)) => {
            let _ = write!(out, ": {}, {affected} affected", Escaped(status));
        }
        _ => {
            let _ = write!(out, ": not ended");
        }
    }
    if duty.errors > 0 {
        let _ = write!(out, ", {} error(s)", duty.errors);
    }
    if duty.findings > 0 {
        let _ = write!(out, ", {} finding(s)", duty.findings);
    }
    let _ = writeln!(out);
    if let Some(plan) = &duty.plan {
        plan_text(out, plan);
    }
    // Per table: row images listed, row images in all.
    let mut shown: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for chunk in &duty.chunks {
        chunk_text(out, chunk, &mut shown);
    }
    let mut tables: BTreeMap<&str, u64> = BTreeMap::new();
    for (table, (_, total)) in &shown {
        let beyond = total.saturating_sub(MAX_TEXT_ROWS) as u64;
        *tables.entry(table.as_str()).or_insert(0) += beyond;
    }
    for (table, n) in &duty.omitted {
        *tables.entry(table.as_str()).or_insert(0) += n;
    }
    for (table, more) in tables.into_iter().filter(|(_, n)| *n > 0) {
        let _ = writeln!(
            out,
            "    … and {more} more {} rows; --format json lists all",
            Escaped(table)
        );
    }
}

/// A duty's plan: its items (or, once the payload is gone, their chained keys), findings and
/// errors.
fn plan_text(out: &mut String, plan: &PlanDetail) {
    if let Some(note) = state_text(&plan.payload, plan.payload_problem.as_ref()) {
        let _ = writeln!(out, "  plan: {note}");
    }
    match &plan.items {
        Some(items) => {
            let _ = writeln!(out, "  plan ({} item(s)):", items.len());
            for item in items.iter().take(MAX_TEXT_ROWS) {
                let _ = writeln!(out, "    {}", render::item_line(item));
            }
            more(out, items.len(), "    ");
        }
        None => {
            let _ = writeln!(out, "  plan keys ({} item(s)):", plan.summaries.len());
            for s in plan.summaries.iter().take(MAX_TEXT_ROWS) {
                let _ = writeln!(out, "    {}", summary_line(s));
            }
            more(out, plan.summaries.len(), "    ");
        }
    }
    for f in &plan.findings {
        let _ = writeln!(out, "  {}: {}", f.heading(), Escaped(&f.message));
    }
    for e in &plan.errors {
        let _ = writeln!(out, "  error: {}", Escaped(e));
    }
}

/// One chunk: its status and changes, its row images (counted in `shown` per table, listed
/// up to `MAX_TEXT_ROWS`) and its drifted items.
fn chunk_text(out: &mut String, chunk: &ChunkDetail, shown: &mut BTreeMap<String, (usize, usize)>) {
    let changes: Vec<String> = chunk
        .changes
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                Escaped(&c.table),
                change_word(c.action),
                c.count
            )
        })
        .collect();
    let _ = write!(out, "  chunk {} {}", chunk.chunk, Escaped(&chunk.status));
    if chunk.recovered {
        let _ = write!(out, " (closed by recovery)");
    }
    if !changes.is_empty() {
        let _ = write!(out, ": {}", changes.join(", "));
    }
    match (&chunk.error_message, &chunk.error) {
        (Some(message), _) => {
            let _ = write!(out, " — error: {}", Escaped(message));
        }
        (None, Some(class)) => {
            let _ = write!(out, " — error: {}", Escaped(class));
        }
        (None, None) => {}
    }
    let _ = writeln!(out);
    if let Some(note) = state_text(&chunk.payload, chunk.payload_problem.as_ref()) {
        let _ = writeln!(out, "    {note}");
        for c in &chunk.changes {
            let _ = writeln!(
                out,
                "    {} {}: {}",
                change_word(c.action),
                Escaped(&c.table),
                render::keys_text(&c.keys)
            );
        }
    }
    for table in chunk.tables.read() {
        let (listed, total) = shown.entry(table.table.clone()).or_insert((0, 0));
        *total += table.len();
        table_rows_text(out, table, listed);
    }
    for d in &chunk.drifted {
        let _ = writeln!(
            out,
            "    drifted {} {}: {} (plan item {})",
            Escaped(&d.table),
            Escaped(&crate::plan::key_text(&d.key)),
            Escaped(&d.reason),
            d.item
        );
    }
}

/// The row images of one table of a chunk, while fewer than `MAX_TEXT_ROWS` of its table are
/// `listed`; every row counts.
fn table_rows_text(out: &mut String, table: &TableDetail, listed: &mut usize) {
    for row in &table.deleted {
        if *listed < MAX_TEXT_ROWS {
            let _ = writeln!(
                out,
                "    deleted {}: {}",
                Escaped(&table.table),
                payloads::row_text(&table.columns, row)
            );
        }
        *listed += 1;
    }
    for row in &table.updated {
        if *listed < MAX_TEXT_ROWS {
            let key = table
                .columns
                .first()
                .zip(row.before.first())
                .map(|(c, v)| format!("{}={}", Escaped(c), ShowValue(v)))
                .unwrap_or_default();
            let changes: Vec<String> = row
                .changed
                .iter()
                .filter_map(|c| {
                    let i = table.columns.iter().position(|x| x == c)?;
                    Some(format!(
                        "{}: {} → {}",
                        Escaped(c),
                        ShowValue(row.before.get(i).unwrap_or(&Value::Null)),
                        ShowValue(row.after.get(i).unwrap_or(&Value::Null))
                    ))
                })
                .collect();
            let _ = writeln!(
                out,
                "    updated {} {key}: {}",
                Escaped(&table.table),
                if changes.is_empty() {
                    "no column changed".to_owned()
                } else {
                    changes.join(", ")
                }
            );
        }
        *listed += 1;
    }
    for row in &table.inserted {
        if *listed < MAX_TEXT_ROWS {
            let _ = writeln!(
                out,
                "    inserted {}: {}",
                Escaped(&table.table),
                payloads::row_text(&table.columns, row)
            );
        }
        *listed += 1;
    }
}

/// The files the run moved, with their metadata, outcome and where they are now.
fn files_text(out: &mut String, files: &[FileDetail]) {
    if files.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nfiles ({}):", files.len());
    for f in files.iter().take(MAX_TEXT_ROWS) {
        let what = f.content_text();
        let _ = writeln!(
            out,
            "  {} → {}\n    {} bytes, mode {}, owner {}:{}, mtime {}, {what}\n    {}{}{}",
            Escaped(&f.path),
            Escaped(&f.quarantine_path),
            f.size,
            f.mode,
            f.uid,
            f.gid,
            f.mtime_utc,
            Escaped(&f.outcome),
            f.reason
                .as_deref()
                .map(|r| format!(" ({})", Escaped(r)))
                .unwrap_or_default(),
            f.now.map(|n| format!(", now {n}")).unwrap_or_default()
        );
    }
    more(out, files.len(), "  ");
}

fn more(out: &mut String, total: usize, indent: &str) {
    if total > MAX_TEXT_ROWS {
        let _ = writeln!(
            out,
            "{indent}… and {} more; --format json lists all",
            total - MAX_TEXT_ROWS
        );
    }
}
