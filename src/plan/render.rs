//! `housekeeper plan` for people: per duty, each row and file with before → after and the
//! reason, then counts. (`--format json` serializes the plan itself; see docs/JSON.md.)
//! Every name, value, path and reason is shown through `crate::text` (they quote data).

use std::fmt::Write as _;

use housekeeper_journal::KeySet;

use super::{DutyPlan, Item, Op, PlanStatus};
use crate::text::{Escaped, ShowValue};

/// At most this many keys are listed per delete item; the rest are counted.
const MAX_KEYS_SHOWN: usize = 20;

/// Renders one duty's plan.
#[must_use]
pub fn duty_plan(plan: &DutyPlan) -> String {
    let mut out = String::new();
    let _ = write!(out, "== {}", plan.duty);
    match &plan.status {
        PlanStatus::Skipped { reason } => {
            let _ = writeln!(out, ": skipped — {}", Escaped(reason));
            return out;
        }
        PlanStatus::Failed { error } => {
            let _ = writeln!(out, ": failed — {}", Escaped(error));
            return out;
        }
        PlanStatus::Planned => {}
    }
    let affected = plan.affected();
    let categories: Vec<String> = plan
        .categories()
        .iter()
        .map(|(k, v)| format!("{} {v}", Escaped(k)))
        .collect();
    let _ = write!(out, ": {affected} to change");
    if !categories.is_empty() {
        let _ = write!(out, " ({})", categories.join(", "));
    }
    if !plan.findings.is_empty() {
        let _ = write!(out, "; {}", findings_count(plan.findings.len()));
    }
    let _ = writeln!(out);
    for item in &plan.items {
        let _ = writeln!(out, "  {}", item_line(item));
    }
    for note in &plan.notes {
        let _ = writeln!(out, "  note: {}", Escaped(note));
    }
    for held in &plan.held {
        let _ = writeln!(out, "  held: {}", Escaped(held));
    }
    for finding in &plan.findings {
        let _ = writeln!(
            out,
            "  {}: {}",
            finding.heading(),
            Escaped(&finding.message)
        );
    }
    for error in &plan.errors {
        let _ = writeln!(out, "  error: {}", Escaped(error));
    }
    out
}

/// `1 finding`, `6 findings`: findings are counted as findings, never as changes.
#[must_use]
pub fn findings_count(n: usize) -> String {
    if n == 1 {
        "1 finding".into()
    } else {
        format!("{n} findings")
    }
}

/// The last line of a plan: the changes of every planned duty, then the findings.
#[must_use]
pub fn total_line(plans: &[DutyPlan]) -> String {
    let planned = plans
        .iter()
        .filter(|p| matches!(p.status, PlanStatus::Planned));
    let (changes, findings) =
        planned.fold((0, 0), |(c, f), p| (c + p.affected(), f + p.findings.len()));
    let mut line = format!("total: {changes} to change");
    if findings > 0 {
        let _ = write!(line, ", {}", findings_count(findings));
    }
    line
}

/// A duty's plan with at most `shown` items listed (the demo's view).
#[must_use]
pub fn duty_plan_brief(plan: &DutyPlan, shown: usize) -> String {
    if plan.items.len() <= shown {
        return duty_plan(plan);
    }
    let mut short = plan.clone();
    let hidden = short.items.len() - shown;
    short.items.truncate(shown);
    let mut out = duty_plan(&short);
    // Keep the header's count right: it was computed from the truncated plan.
    let header_end = out.find('\n').unwrap_or(out.len());
    let header = duty_plan(plan);
    let real_header = &header[..header.find('\n').unwrap_or(header.len())];
    out.replace_range(..header_end, real_header);
    let notes_at = out
        .find("\n  note:")
        .or_else(|| out.find("\n  held:"))
        .map_or(out.len(), |i| i + 1);
    out.insert_str(notes_at, &format!("  … and {hidden} more\n"));
    out
}

/// One line per item: what, which, before → after, why.
#[must_use]
pub fn item_line(item: &Item) -> String {
    let off = if item.enabled { "" } else { "[off] " };
    let what = match &item.op {
        Op::Delete(d) => {
            let deps = if d.dependents.is_empty() {
                String::new()
            } else {
                let tables: Vec<String> = d
                    .dependents
                    .iter()
                    .map(|x| Escaped(&*x.table).to_string())
                    .collect();
                format!(" with its {} rows", tables.join(", "))
            };
            format!(
                "delete {} {} {}{deps}",
                Escaped(&d.table),
                Escaped(&d.key_column),
                keys_text(&d.keys)
            )
        }
        Op::Update(u) => {
            let changes: Vec<String> = u
                .changes
                .iter()
                .map(|c| {
                    format!(
                        "{}: {} → {}",
                        Escaped(&c.column),
                        ShowValue(&c.old),
                        ShowValue(&c.new)
                    )
                })
                .collect();
            format!(
                "update {} {}={}: {}",
                Escaped(&u.table),
                Escaped(&u.key_column),
                ShowValue(&u.key),
                changes.join(", ")
            )
        }
        Op::Insert(i) => format!("record a {} row", Escaped(&i.table)),
        Op::Reinsert(r) => format!(
            "re-insert {} {} {}",
            Escaped(&r.table),
            Escaped(&r.key_column),
            keys_text(&r.keys)
        ),
        Op::Quarantine(f) => {
            let kind = if f.is_symlink { "symlink " } else { "" };
            format!("quarantine {kind}{} ({} bytes)", Escaped(&f.path), f.size)
        }
        Op::Restore(r) => format!(
            "restore {} from {}",
            Escaped(&r.path),
            Escaped(&r.quarantine_path)
        ),
    };
    format!("{off}{what} — {}", Escaped(&item.reason.text))
}

/// `7`, `1–5, 9` or `1–900000 (900000 rows)`.
#[must_use]
pub fn keys_text(keys: &KeySet) -> String {
    let count = keys.len();
    let mut parts: Vec<String> = match keys {
        KeySet::Ranges(ranges) => ranges
            .iter()
            .take(MAX_KEYS_SHOWN)
            .map(|(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}–{hi}")
                }
            })
            .collect(),
        KeySet::Values(values) => values
            .iter()
            .take(MAX_KEYS_SHOWN)
            .map(|v| ShowValue(v).to_string())
            .collect(),
    };
    let listed = match keys {
        KeySet::Ranges(r) => r.len(),
        KeySet::Values(v) => v.len(),
    };
    if listed > MAX_KEYS_SHOWN {
        parts.push("…".into());
    }
    if count == 1 {
        parts.join(", ")
    } else {
        format!("{} ({count} rows)", parts.join(", "))
    }
}
