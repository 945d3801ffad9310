//! `journal find`: which runs touched a row (committed chunks whose changed keys hold it)
//! or a file (a moved file whose own or quarantine path it is), and what it looked like then
//! (the row images of that chunk, the file's recorded metadata and outcome).
//!
//! Read-only: never writes to the journal, the quarantine or the database.

use std::fmt::Write as _;
use std::path::Path;

use housekeeper_journal::{Action, ChunkStatus, KeySet, PathBytes, Value};
use serde::Serialize;

use super::payloads::{self, PayloadState, RowImage};
use super::show::{FileDetail, UpdatedRow};
use super::JournalIndex;
use crate::text::Escaped;

/// One committed chunk that changed the row.
#[derive(Debug, Clone, Serialize)]
pub struct RowHit {
    pub run_id: String,
    pub kind: &'static str,
    pub started_utc: String,
    pub duty: String,
    pub chunk: u32,
    pub action: Action,
    pub table: String,
    /// The column the images were matched on.
    pub key_column: String,
    pub payload: PayloadState,
    pub payload_problem: Option<String>,
    pub columns: Vec<String>,
    pub deleted: Vec<Vec<Value>>,
    pub updated: Vec<UpdatedRow>,
    pub inserted: Vec<Vec<Value>>,
}

/// One run that moved the file.
#[derive(Debug, Clone, Serialize)]
pub struct FileHit {
    pub run_id: String,
    pub kind: &'static str,
    pub started_utc: String,
    pub file: FileDetail,
}

/// `journal find --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct FindResult {
    /// `housekeeper.journal.find/v1`.
    pub format: &'static str,
    pub table: Option<String>,
    pub id: Option<String>,
    pub path: Option<PathBytes>,
    pub rows: Vec<RowHit>,
    pub files: Vec<FileHit>,
}

fn keys_hold(keys: &KeySet, id: &str) -> bool {
    match keys {
        KeySet::Ranges(ranges) => id
            .trim()
            .parse::<i64>()
            .is_ok_and(|k| ranges.iter().any(|(lo, hi)| *lo <= k && k <= *hi)),
        KeySet::Values(values) => values.iter().any(|v| payloads::key_matches(v, id)),
    }
}

/// Runs whose committed chunks changed row `id` of `table`, oldest first.
#[must_use]
pub fn find_row(index: &JournalIndex, dir: &Path, table: &str, id: &str) -> FindResult {
    let mut rows = Vec::new();
    for run in &index.runs {
        for duty in &run.duties {
            // The key column the plan named for this table; else `id`.
            let planned_key = duty
                .plan
                .as_ref()
                .and_then(|(_, items)| {
                    items
                        .iter()
                        .find(|s| s.table.as_deref() == Some(table))
                        .and_then(|s| s.key_columns.first().cloned())
                })
                .unwrap_or_else(|| "id".to_owned());
            for chunk in duty
                .chunks
                .iter()
                .filter(|c| c.status == ChunkStatus::Committed)
            {
                for change in chunk
                    .changes
                    .iter()
                    .filter(|c| c.table == table && keys_hold(&c.keys, id))
                {
                    let mut hit = RowHit {
                        run_id: run.run_id.clone(),
                        kind: run.kind_name(),
                        started_utc: run.started_utc.clone(),
                        duty: duty.duty.clone(),
                        chunk: chunk.chunk,
                        action: change.action,
                        table: table.to_owned(),
                        key_column: planned_key.clone(),
                        payload: PayloadState::None,
                        payload_problem: None,
                        columns: Vec::new(),
                        deleted: Vec::new(),
                        updated: Vec::new(),
                        inserted: Vec::new(),
                    };
                    if let Some(payload) = &chunk.payload {
                        hit.payload = payloads::state_of(dir, payload, &run.expired_payloads);
                        if hit.payload == PayloadState::Present {
                            let key_column = hit.key_column.clone();
                            let mut ours = |_: &str, columns: &[String], row: &RowImage| {
                                let at = columns
                                    .iter()
                                    .position(|c| *c == key_column)
                                    .or_else(|| columns.iter().position(|c| c == "id"))
                                    .unwrap_or(0);
                                row.values
                                    .get(at)
                                    .is_some_and(|v| payloads::key_matches(v, id))
                            };
                            match payloads::read_images(dir, payload, &mut ours) {
                                Ok(tables) => fill_images(&mut hit, &tables, id),
                                Err(problem) => {
                                    hit.payload = PayloadState::Missing;
                                    hit.payload_problem = Some(problem);
                                }
                            }
                        }
                    }
                    rows.push(hit);
                }
            }
        }
    }
    FindResult {
        format: "housekeeper.journal.find/v1",
        table: Some(table.to_owned()),
        id: Some(id.to_owned()),
        path: None,
        rows,
        files: Vec::new(),
    }
}

fn fill_images(hit: &mut RowHit, tables: &[payloads::TableImages], id: &str) {
    for images in tables.iter().filter(|t| t.table == hit.table) {
        if images.columns.is_empty() {
            continue;
        }
        let key_at = images
            .column(&hit.key_column)
            .or_else(|| images.column("id"))
            .unwrap_or(0);
        hit.key_column.clone_from(&images.columns[key_at]);
        let detail = super::show::TableDetail::of(images);
        let ours = |row: &Vec<Value>| {
            row.get(key_at)
                .is_some_and(|v| payloads::key_matches(v, id))
        };
        hit.columns.clone_from(&detail.columns);
        hit.deleted
            .extend(detail.deleted.into_iter().filter(|r| ours(r)));
        hit.inserted
            .extend(detail.inserted.into_iter().filter(|r| ours(r)));
        hit.updated.extend(
            detail
                .updated
                .into_iter()
                .filter(|u| ours(&u.before) || ours(&u.after)),
        );
    }
}

/// Runs that moved the file at `path` (its own path or its quarantine path), oldest first.
#[must_use]
pub fn find_path(index: &JournalIndex, path: &PathBytes) -> FindResult {
    let mut files = Vec::new();
    for run in &index.runs {
        for file in run
            .files
            .iter()
            .filter(|f| f.path == *path || f.quarantine_path == *path)
        {
            files.push(FileHit {
                run_id: run.run_id.clone(),
                kind: run.kind_name(),
                started_utc: run.started_utc.clone(),
                file: FileDetail::of(file, run, index),
            });
        }
    }
    FindResult {
        format: "housekeeper.journal.find/v1",
        table: None,
        id: None,
        path: Some(path.clone()),
        rows: Vec::new(),
        files,
    }
}

/// `journal find` for people.
#[must_use]
pub fn find_text(result: &FindResult, journal_dir: &Path) -> String {
    let mut out = String::new();
    let what = match (&result.table, &result.id, &result.path) {
        (Some(t), Some(id), _) => format!("{} {}", Escaped(t), Escaped(id)),
        (_, _, Some(p)) => Escaped(p).to_string(),
        _ => String::new(),
    };
    if result.rows.is_empty() && result.files.is_empty() {
        let _ = writeln!(
            out,
            "no run in the journal at {} touched {what}",
            Escaped(journal_dir)
        );
        return out;
    }
    for hit in &result.rows {
        let _ = writeln!(
            out,
            "run {} ({}, started {}), {} chunk {}: {} {what}",
            Escaped(&hit.run_id),
            Escaped(&hit.kind),
            Escaped(&hit.started_utc),
            Escaped(&hit.duty),
            hit.chunk,
            format!("{:?}", hit.action).to_lowercase()
        );
        match hit.payload {
            PayloadState::Expired => {
                let _ = writeln!(
                    out,
                    "  row images expired at the end of the undo window; only the key remains"
                );
            }
            PayloadState::Missing => {
                let _ = writeln!(
                    out,
                    "  row images missing or damaged{}; run `housekeeper journal verify`",
                    hit.payload_problem
                        .as_deref()
                        .map(|p| format!(" ({})", Escaped(p)))
                        .unwrap_or_default()
                );
            }
            PayloadState::Present | PayloadState::None => {}
        }
        for row in &hit.deleted {
            let _ = writeln!(out, "  deleted: {}", payloads::row_text(&hit.columns, row));
        }
        for row in &hit.updated {
            let _ = writeln!(
                out,
                "  before: {}",
                payloads::row_text(&hit.columns, &row.before)
            );
            let _ = writeln!(
                out,
                "  after:  {}",
                payloads::row_text(&hit.columns, &row.after)
            );
            if !row.changed.is_empty() {
                let _ = writeln!(out, "  changed: {}", Escaped(&row.changed.join(", ")));
            }
        }
        for row in &hit.inserted {
            let _ = writeln!(out, "  inserted: {}", payloads::row_text(&hit.columns, row));
        }
    }
    for hit in &result.files {
        let f = &hit.file;
        let _ = writeln!(
            out,
            "run {} ({}, started {}), {}: {} → {}",
            Escaped(&hit.run_id),
            Escaped(&hit.kind),
            Escaped(&hit.started_utc),
            Escaped(&f.duty),
            Escaped(&f.path),
            Escaped(&f.quarantine_path)
        );
        let what = f.content_text();
        let _ = writeln!(
            out,
            "  {} bytes, mode {}, owner {}:{}, mtime {}, {what}",
            f.size, f.mode, f.uid, f.gid, f.mtime_utc
        );
        let _ = writeln!(
            out,
            "  {}{}{}",
            Escaped(&f.outcome),
            f.reason
                .as_deref()
                .map(|r| format!(" ({})", Escaped(r)))
                .unwrap_or_default(),
            f.now.map(|n| format!(", now {n}")).unwrap_or_default()
        );
    }
    out
}
