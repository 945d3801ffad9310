//! The erasure report for people (text, every name and key escaped through `crate::text`)
//! and for spreadsheets (CSV, RFC 4180: one row per key, fields quoted where needed, the
//! exact text like JSON).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Erasure, ErasureReport, Status, Verification, DUTY};
use crate::plan::render::keys_text;
use crate::text::Escaped;

/// `journal erasures` for people: the verification first (a failure at the very top), then
/// per policy and table one line per run and fate, then the totals.
#[must_use]
pub fn text(report: &ErasureReport) -> String {
    let mut out = String::new();
    verification_text(&mut out, &report.verification);
    if let Some(damage) = &report.read_until_damage {
        let _ = writeln!(
            out,
            "warning: the journal can be read only up to its damage ({}): runs recorded after it are missing from this report",
            Escaped(damage)
        );
    }
    let mut scope = vec![format!("undo window {} days", report.undo_days)];
    if let Some(since) = &report.since {
        scope.push(format!("since {since}"));
    }
    if let Some(until) = &report.until {
        scope.push(format!("until {until}"));
    }
    if let Some(table) = &report.table {
        scope.push(format!("table {}", Escaped(table)));
    }
    let _ = writeln!(
        out,
        "erasures by {DUTY} in {} ({}):",
        Escaped(&report.journal_dir),
        scope.join(", ")
    );
    for (i, e) in report.erasures.iter().enumerate() {
        if i == 0 || report.erasures[i - 1].heading() != e.heading() {
            let _ = writeln!(
                out,
                "{}, table {}:",
                policy_heading(&report.erasures[i..]),
                Escaped(&e.table)
            );
        }
        let _ = writeln!(out, "  {}", line(e));
    }
    let _ = writeln!(out, "{}", totals(&report.erasures));
    out
}

/// How the entries from the first of `entries` on, under one heading, name their policy: its
/// key and the name the newest kept plan gave it (a name can change; the key cannot).
fn policy_heading(entries: &[Erasure]) -> String {
    let first = &entries[0];
    let Some(id) = first.policy_id else {
        return first.policy.as_ref().map_or_else(
            || "policy not recorded (journaled before policies were, and the plan's payload expired)".to_owned(),
            |name| format!("policy \"{}\"", Escaped(name)),
        );
    };
    let same = entries
        .iter()
        .take_while(|e| e.heading() == first.heading());
    match same.filter_map(|e| e.policy.as_deref()).last() {
        Some(name) => format!("policy #{id} \"{}\"", Escaped(name)),
        None => format!("policy #{id} (its name went with the expired plan payloads)"),
    }
}

fn verification_text(out: &mut String, v: &Verification) {
    if !v.ok {
        let _ = writeln!(
            out,
            "JOURNAL VERIFICATION FAILED: this report cannot be trusted"
        );
    }
    for d in &v.damage {
        let _ = writeln!(out, "damage: {}", Escaped(d));
    }
    for w in &v.warnings {
        let _ = writeln!(out, "warning: {}", Escaped(w));
    }
    let anchor = match v.anchor.status {
        "matched" => format!(
            "anchor matched (record {} of run {})",
            v.anchor.seq.unwrap_or_default(),
            Escaped(v.anchor.run_id.as_deref().unwrap_or_default())
        ),
        "mismatch" => "anchor MISMATCH".to_owned(),
        "not_reached" => "anchor not reached".to_owned(),
        "no_anchor" => format!("no anchor yet ({})", Escaped(&v.anchor.detail)),
        _ => "anchors not checked".to_owned(),
    };
    let verdict = if v.ok {
        "journal ok"
    } else {
        "journal DAMAGED"
    };
    let head = v
        .head_hash
        .as_deref()
        .map(|h| format!(", head record {} hash {h}", v.head_seq.unwrap_or_default()))
        .unwrap_or_default();
    let _ = writeln!(out, "{verdict}: {} records{head}; {anchor}", v.records);
}

/// `20261128T090000Z-3fa2c1 2026-11-28T09:00:00Z deleted id 1, 3 (2 rows) — restorable until …`
fn line(e: &Erasure) -> String {
    let mut what = format!(
        "{} {} {} {} {}",
        e.run_id,
        e.started_utc,
        e.action,
        Escaped(&e.key_column),
        keys_text(&e.keys)
    );
    if !e.columns.is_empty() {
        let columns: Vec<String> = e.columns.iter().map(|c| Escaped(c).to_string()).collect();
        let _ = write!(what, " (columns {})", columns.join(", "));
    }
    if !e.dependents.is_empty() {
        let tables: Vec<String> = e
            .dependents
            .iter()
            .map(|c| Escaped(c).to_string())
            .collect();
        let _ = write!(what, " with dependent rows of {}", tables.join(", "));
    }
    format!("{what} — {}", fate(e))
}

fn fate(e: &Erasure) -> String {
    let until = e.restorable_until_utc.as_deref().unwrap_or("?");
    match e.status {
        Status::Restorable => format!("restorable until {until} (row images kept)"),
        Status::Final => format!(
            "final: row images destroyed {} (undo window ended {until})",
            e.images_destroyed_utc.as_deref().unwrap_or("?")
        ),
        Status::Restored => format!(
            "restored by undo {} started {}",
            e.restored_by.as_deref().unwrap_or("?"),
            e.restored_utc.as_deref().unwrap_or("?")
        ),
    }
}

fn totals(erasures: &[Erasure]) -> String {
    if erasures.is_empty() {
        return "no erasures recorded".to_owned();
    }
    let mut actions: BTreeMap<&str, u64> = BTreeMap::new();
    let mut fates: BTreeMap<&str, u64> = BTreeMap::new();
    for e in erasures {
        *actions.entry(e.action).or_insert(0) += e.count;
        *fates.entry(e.status.name()).or_insert(0) += e.count;
    }
    let list = |m: &BTreeMap<&str, u64>| {
        m.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{} row(s) in {} entr{}: {}; {}",
        actions.values().sum::<u64>(),
        erasures.len(),
        if erasures.len() == 1 { "y" } else { "ies" },
        list(&actions),
        list(&fates)
    )
}

/// The CSV columns, in order.
pub const CSV_HEADER: [&str; 17] = [
    "run_id",
    "run_kind",
    "started_utc",
    "now",
    "policy_id",
    "policy",
    "table",
    "key_column",
    "key",
    "action",
    "columns",
    "dependents",
    "status",
    "restorable_until_utc",
    "images_destroyed_utc",
    "restored_by",
    "restored_utc",
];

/// `journal erasures --format csv`: the header, then one row per key (CRLF line ends).
#[must_use]
pub fn csv(report: &ErasureReport) -> String {
    let mut out = String::new();
    row(&mut out, CSV_HEADER.iter().map(|h| (*h).to_owned()));
    for e in &report.erasures {
        for key in crate::plan::keys_of(&e.keys) {
            row(
                &mut out,
                [
                    e.run_id.clone(),
                    e.run_kind.to_owned(),
                    e.started_utc.clone(),
                    e.now.clone(),
                    e.policy_id.map(|id| id.to_string()).unwrap_or_default(),
                    e.policy.clone().unwrap_or_default(),
                    e.table.clone(),
                    e.key_column.clone(),
                    key.to_string(),
                    e.action.to_owned(),
                    e.columns.join(";"),
                    e.dependents.join(";"),
                    e.status.name().to_owned(),
                    e.restorable_until_utc.clone().unwrap_or_default(),
                    e.images_destroyed_utc.clone().unwrap_or_default(),
                    e.restored_by.clone().unwrap_or_default(),
                    e.restored_utc.clone().unwrap_or_default(),
                ],
            );
        }
    }
    out
}

fn row(out: &mut String, fields: impl IntoIterator<Item = String>) {
    let fields: Vec<String> = fields.into_iter().map(|f| field(&f)).collect();
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}

/// One CSV field: quoted, with `"` doubled, when it holds a comma, a quote, a line break or
/// leading or trailing white space; as it is otherwise. A text a spreadsheet would run as a
/// formula (it starts with `=`, `+`, `-` or `@` and is not a number) gets a leading `'`: a
/// policy name or a key is written by whoever can write the database, and must not become a
/// formula in the auditor's spreadsheet.
fn field(text: &str) -> String {
    let guarded;
    let text = if text.starts_with(['=', '+', '-', '@']) && text.parse::<f64>().is_err() {
        guarded = format!("'{text}");
        guarded.as_str()
    } else {
        text
    };
    let plain = !text.contains([',', '"', '\r', '\n'])
        && text.trim() == text
        && !text.starts_with(['\t'])
        && !text.ends_with(['\t']);
    if plain {
        text.to_owned()
    } else {
        format!("\"{}\"", text.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        for (text, want) in [
            ("log", "log"),
            ("", ""),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("cr\r", "\"cr\r\""),
            (" padded", "\" padded\""),
            ("sess-0001", "sess-0001"),
            ("-12", "-12"),
            ("+1.5", "+1.5"),
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("-1+2", "'-1+2"),
        ] {
            assert_eq!(field(text), want, "{text:?}");
        }
    }
}
