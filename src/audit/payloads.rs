//! Reading payload blobs for people: a duty's plan document and a chunk's row images, with
//! the state of the blob (present, expired at the end of the undo window, or missing).
//!
//! Read-only: it opens blobs through `housekeeper_journal::open_payload` and never writes.

use std::collections::BTreeSet;
use std::path::Path;

use housekeeper_journal::{Digest, PayloadEntry, PayloadRef, RowRole, Value};
use serde::Serialize;

use crate::plan::DutyPlan;
use crate::text::{Escaped, ShowValue};

/// What became of a payload blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadState {
    /// Read and decoded.
    Present,
    /// Destroyed at the end of the undo window (a `PayloadExpired` record says so).
    Expired,
    /// Absent or unreadable although no expiry explains it: `journal verify` reports it.
    Missing,
    /// The record references no payload.
    None,
}

/// One row image as captured inside a chunk's transaction.
#[derive(Debug, Clone)]
pub struct RowImage {
    pub role: RowRole,
    pub values: Vec<Value>,
}

/// The row images of one table in one payload, in capture order.
#[derive(Debug, Clone)]
pub struct TableImages {
    pub table: String,
    pub columns: Vec<String>,
    pub rows: Vec<RowImage>,
}

impl TableImages {
    /// The position of `column`, if the table has it.
    #[must_use]
    pub fn column(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }
}

/// The stable name of a row role in output: `deleted`, `before`, `after`, `inserted`.
#[must_use]
pub fn role_name(role: RowRole) -> &'static str {
    match role {
        RowRole::Deleted => "deleted",
        RowRole::Before => "before",
        RowRole::After => "after",
        RowRole::Inserted => "inserted",
    }
}

/// The state of a referenced blob before reading it.
#[must_use]
pub fn state_of(dir: &Path, payload: &PayloadRef, expired: &BTreeSet<Digest>) -> PayloadState {
    if expired.contains(&payload.digest) {
        PayloadState::Expired
    } else if dir
        .join(housekeeper_journal::verify::blob_relative_path(
            &payload.digest,
        ))
        .is_file()
    {
        PayloadState::Present
    } else {
        PayloadState::Missing
    }
}

/// Reads a plan payload back into the plan the executor applied.
///
/// # Errors
/// The blob is missing, damaged, or not a plan document (the message names the digest).
pub fn read_plan(dir: &Path, payload: &PayloadRef) -> Result<DutyPlan, String> {
    let reader =
        housekeeper_journal::open_payload(dir, &payload.digest).map_err(|e| e.to_string())?;
    let mut document = None;
    for entry in reader {
        if let PayloadEntry::Json(text) = entry.map_err(|e| e.to_string())? {
            document.get_or_insert(text);
        }
    }
    let text =
        document.ok_or_else(|| format!("payload {} holds no plan document", payload.digest))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "payload {} is not a plan this version reads: {e}",
            payload.digest
        )
    })
}

/// Reads the row images of a chunk payload, grouped by table as written, streaming: only
/// the rows `keep` accepts are held in memory (it is asked for deleted, inserted and
/// before-update rows; an after-update row goes with its before row). Tables appear even
/// when none of their rows is kept.
///
/// # Errors
/// The blob is missing or damaged (the message names the digest and path).
pub fn read_images(
    dir: &Path,
    payload: &PayloadRef,
    keep: &mut dyn FnMut(&str, &[String], &RowImage) -> bool,
) -> Result<Vec<TableImages>, String> {
    let reader =
        housekeeper_journal::open_payload(dir, &payload.digest).map_err(|e| e.to_string())?;
    let mut out: Vec<TableImages> = Vec::new();
    let mut before_kept = false;
    for entry in reader {
        match entry.map_err(|e| e.to_string())? {
            PayloadEntry::Table { name, columns } => out.push(TableImages {
                table: name,
                columns,
                rows: Vec::new(),
            }),
            PayloadEntry::Row { role, values } => {
                let Some(table) = out.last_mut() else {
                    continue;
                };
                let row = RowImage { role, values };
                let kept = match role {
                    RowRole::After => before_kept,
                    _ => keep(&table.table, &table.columns, &row),
                };
                if role == RowRole::Before {
                    before_kept = kept;
                }
                if kept {
                    table.rows.push(row);
                }
            }
            PayloadEntry::Json(_) => {}
        }
    }
    Ok(out)
}

/// Whether a stored key value is the key the user asked for: compared as text, and integer
/// keys also as numbers (`007` finds 7).
#[must_use]
pub fn key_matches(value: &Value, wanted: &str) -> bool {
    let wanted = wanted.trim();
    if crate::plan::key_text(value) == wanted {
        return true;
    }
    match (value, wanted.parse::<i64>()) {
        (Value::Int(_) | Value::UInt(_), Ok(n)) => value.as_i64() == Some(n),
        _ => false,
    }
}

/// `column=value, …` of one row, values as `plan` shows them (escaped: they are data).
#[must_use]
pub fn row_text(columns: &[String], values: &[Value]) -> String {
    columns
        .iter()
        .zip(values)
        .map(|(c, v)| format!("{}={}", Escaped(c), ShowValue(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The error message in a `Details` payload (`{"error": "…"}`), if it is one.
///
/// # Errors
/// The blob is missing or damaged.
pub fn read_error(dir: &Path, payload: &PayloadRef) -> Result<Option<String>, String> {
    let reader =
        housekeeper_journal::open_payload(dir, &payload.digest).map_err(|e| e.to_string())?;
    for entry in reader {
        if let PayloadEntry::Json(text) = entry.map_err(|e| e.to_string())? {
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| e.to_string())?;
            return Ok(value["error"].as_str().map(str::to_owned));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_as_text_and_integers_as_numbers() {
        assert!(key_matches(&Value::Int(7), "7"));
        assert!(key_matches(&Value::Int(7), "007"));
        assert!(key_matches(&Value::UInt(7), " 7 "));
        assert!(!key_matches(&Value::Int(7), "8"));
        assert!(key_matches(&Value::Text("sess-1".into()), "sess-1"));
        assert!(!key_matches(&Value::Text("007".into()), "7"));
    }

    #[test]
    fn rows_read_as_column_value_pairs() {
        let columns = vec!["id".to_owned(), "message".to_owned()];
        assert_eq!(
            row_text(&columns, &[Value::Int(3), Value::Text("a \"b\"".into())]),
            "id=3, message=\"a \\\"b\\\"\""
        );
    }
}
