//! Undo (docs/UNDO.md): turns what a run did, as its journal records it, into inverse plans for the
//! executor, and predicts the conflicts they would meet.
//!
//! - `inverse` reads the run's committed row images (each payload confirmed against its
//!   digest while reading) and its file moves, and builds per duty a plan that re-inserts
//!   deleted rows with every column (parents before children: the reverse of the order they
//!   were deleted in), restores updated columns to their old values where they still hold
//!   what the run wrote, and moves quarantined files back. A re-insert names its rows by
//!   their keys and the payload section that holds them, never carries them: `images` reads
//!   them back, one item at a time, when the executor applies it or `predict` checks it. Rows the run wrote as its record
//!   (`retention_cleanup_jobs`, `data_archive`, its `log` rows, anchors) stay.
//! - `predict` checks every item against the database and the filesystem as they are now,
//!   with the same checks the executor makes, for `--dry-run` and `--strict`.
//!
//! This module never writes: the executor applies the plans it builds.

pub mod images;
mod predict;
pub mod select;

use std::path::Path;

use housekeeper_journal::{
    ChunkStatus, FileStatus, JournalError, KeySet, PayloadEntry, RowRole, TableChange, Value,
};

use crate::audit::{RestoredItems, RunInfo};
use crate::db::SchemaFacts;
use crate::duties::DutyName;
use crate::plan::{
    self, Change, DutyPlan, Guard, Item, Op, Reason, ReinsertRows, RestoreFile, RowImages,
    UpdateRow,
};

pub use predict::{predict, Conflict};
pub use select::Selection;

/// Why an undo cannot even be planned.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    /// A payload is missing or does not match its digest, or the journal cannot be read.
    #[error("{0}")]
    Journal(#[from] JournalError),
    #[error("{0}")]
    Db(#[from] crate::db::DbError),
    #[error("{0}")]
    File(#[from] crate::quarantine::QuarantineError),
    #[error("{0}")]
    Other(String),
}

/// The inverse of a run: one plan per duty, in the order they are to be applied (the reverse
/// of the run's), and the items that cannot be restored because their payload expired.
#[derive(Debug, Clone, Default)]
pub struct UndoPlan {
    pub plans: Vec<DutyPlan>,
    pub unavailable: Vec<Conflict>,
}

impl UndoPlan {
    /// Rows and files the plans would restore.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.plans
            .iter()
            .flat_map(|p| &p.items)
            .map(Item::size)
            .sum()
    }
}

/// Which part of a run an undo restores: everything (of one duty, with `duty`), or only the
/// selected rows and files and what belongs to them; never what an earlier undo of the run
/// already put back (`already`).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub duty: Option<DutyName>,
    pub already: &'a RestoredItems,
    pub selection: Option<&'a Selection>,
}

/// Builds the inverse plans of `run` (only of what `scope` selects) from its journal in
/// `journal_dir`, leaving out what earlier undos restored. Key columns come from `schema`
/// (the primary key), else `id`.
///
/// # Errors
/// A payload the undo needs is missing or damaged, or a duty name is unknown.
pub fn inverse(
    run: &RunInfo,
    journal_dir: &Path,
    schema: &SchemaFacts,
    scope: &Scope<'_>,
) -> Result<UndoPlan, UndoError> {
    let mut out = UndoPlan::default();
    for info in run.duties.iter().rev() {
        let name: DutyName = info
            .duty
            .parse()
            .map_err(|e| UndoError::Other(format!("run {}: {e}", run.run_id)))?;
        if scope.duty.is_some_and(|d| d != name) {
            continue;
        }
        let dependents = match scope.selection {
            Some(s) if !s.rows.is_empty() && !plan_expired(run, &info.duty) => {
                select::read_dependents(run, &info.duty, journal_dir)?
            }
            _ => select::Dependents::new(),
        };
        let wanted = |table: &str, key: &Value, columns: &[String], values: &[Value]| {
            scope
                .selection
                .is_none_or(|s| s.wants_row(table, key, columns, values, &dependents))
        };
        let mut duty_plan = DutyPlan::new(name, run.now);
        for chunk in info
            .chunks
            .iter()
            .rev()
            .filter(|c| c.status == ChunkStatus::Committed)
        {
            let Some(payload) = &chunk.payload else {
                continue;
            };
            if run.expired_payloads.contains(&payload.digest) {
                out.unavailable
                    .extend(expired_items(name, &chunk.changes, scope.selection));
                continue;
            }
            let done = |table: &str, key: &Value| {
                !scope.already.rows.is_empty()
                    && scope.already.rows.contains(&(
                        info.duty.clone(),
                        table.to_owned(),
                        plan::RowKey::of(key),
                    ))
            };
            let keep = |table: &str, key: &Value, columns: &[String], values: &[Value]| {
                !done(table, key) && wanted(table, key, columns, values)
            };
            let mut items = read_chunk(journal_dir, &payload.digest, schema, &run.run_id, &keep)?;
            // Back in the reverse of the order they were changed in: parents first.
            items.reverse();
            duty_plan.items.extend(items);
        }
        for file in run.files.iter().rev().filter(|f| f.duty == info.duty) {
            if !matches!(file.status, Some(FileStatus::Moved))
                || scope.already.paths.contains(&file.path)
                || scope
                    .selection
                    .is_some_and(|s| !s.paths.contains(&file.path))
            {
                continue;
            }
            if run.expired_files.contains(&file.quarantine_path) {
                out.unavailable.push(Conflict {
                    duty: name,
                    table: "file".into(),
                    key: crate::text::PathText(&file.path).to_string(),
                    reason: "payload_expired".into(),
                });
                continue;
            }
            duty_plan.items.push(Item::new(
                Op::Restore(Box::new(RestoreFile {
                    run_id: run.run_id.clone(),
                    quarantine_path: file.quarantine_path.clone(),
                    path: file.path.clone(),
                    meta: file.meta.clone(),
                })),
                Reason::new(
                    "undo",
                    format!("quarantined by run {} ({})", run.run_id, file.duty),
                ),
            ));
        }
        if !duty_plan.items.is_empty() {
            out.plans.push(duty_plan);
        }
    }
    Ok(out)
}

/// Whether the plan payload of `duty` of `run` was destroyed at the end of the undo window.
fn plan_expired(run: &RunInfo, duty: &str) -> bool {
    run.duty(duty)
        .and_then(|d| d.plan.as_ref())
        .is_some_and(|(p, _)| run.expired_payloads.contains(&p.digest))
}

/// The items of a chunk whose row images expired (those selected, with a selection):
/// reported, not restored.
fn expired_items(
    duty: DutyName,
    changes: &[TableChange],
    selection: Option<&Selection>,
) -> Vec<Conflict> {
    let mut out = Vec::new();
    for change in changes {
        if change.action == housekeeper_journal::Action::Insert {
            continue;
        }
        if let Some(selection) = selection {
            for (table, key) in &selection.rows {
                if *table == change.table && select::holds(&change.keys, key) {
                    out.push(Conflict {
                        duty,
                        table: table.clone(),
                        key: key.to_string(),
                        reason: "payload_expired".into(),
                    });
                }
            }
            continue;
        }
        match &change.keys {
            housekeeper_journal::KeySet::Ranges(ranges) => {
                for (lo, hi) in ranges {
                    let key = if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo}–{hi}")
                    };
                    out.push(Conflict {
                        duty,
                        table: change.table.clone(),
                        key,
                        reason: "payload_expired".into(),
                    });
                }
            }
            housekeeper_journal::KeySet::Values(values) => {
                for v in values {
                    out.push(Conflict {
                        duty,
                        table: change.table.clone(),
                        key: plan::key_text(v),
                        reason: "payload_expired".into(),
                    });
                }
            }
        }
    }
    out
}

/// Whether a row of a table (its key, and its columns and values when it was deleted) is to be
/// restored.
type Keep<'a> = dyn Fn(&str, &Value, &[String], &[Value]) -> bool + 'a;

/// Turns one chunk's row images into inverse items, in the order the chunk changed them,
/// keeping the rows `keep` accepts: deleted rows as references to their table section (the
/// rows are read again when the item is applied), updates with their old values. The whole
/// payload is read, so its digest is checked.
fn read_chunk(
    journal_dir: &Path,
    digest: &housekeeper_journal::Digest,
    schema: &SchemaFacts,
    run_id: &str,
    keep: &Keep<'_>,
) -> Result<Vec<Item>, UndoError> {
    /// A run of deleted rows of one section, its keys still being collected.
    struct Rows {
        op: ReinsertRows,
        keys: Vec<Value>,
    }
    enum Step {
        Rows(Rows),
        Update(Box<Item>),
    }
    let mut steps: Vec<Step> = Vec::new();
    let mut table = String::new();
    let mut columns: Vec<String> = Vec::new();
    let mut key_column = String::new();
    let mut key_at: Option<usize> = None;
    let mut section: Option<u32> = None;
    let mut before: Option<Vec<Value>> = None;
    let payload = digest.to_hex();
    for entry in housekeeper_journal::open_payload(journal_dir, digest)? {
        match entry? {
            PayloadEntry::Table {
                name,
                columns: cols,
            } => {
                key_column = schema
                    .table(&name)
                    .and_then(|t| t.primary_key.first().cloned())
                    .unwrap_or_else(|| "id".into());
                key_at = cols.iter().position(|c| *c == key_column);
                columns = cols;
                table = name;
                section = Some(section.map_or(0, |s| s + 1));
                before = None;
            }
            // Rows the run inserted are its own records: they stay.
            PayloadEntry::Row {
                role: RowRole::Inserted,
                ..
            } => {}
            PayloadEntry::Row { role, values } => {
                let key = key_at.and_then(|i| values.get(i).cloned()).ok_or_else(|| {
                    UndoError::Other(format!(
                        "run {run_id}: a row image of {table} has no {key_column} column"
                    ))
                })?;
                match role {
                    RowRole::Deleted => {
                        if !keep(&table, &key, &columns, &values) {
                            continue;
                        }
                        let section = section.unwrap_or(0);
                        // Consecutive rows of one section go back as one item.
                        if let Some(Step::Rows(last)) = steps.last_mut() {
                            if last
                                .op
                                .images
                                .as_ref()
                                .is_some_and(|i| i.section == section)
                            {
                                last.keys.push(key);
                                continue;
                            }
                        }
                        steps.push(Step::Rows(Rows {
                            op: ReinsertRows {
                                table: table.clone(),
                                key_column: key_column.clone(),
                                columns: columns.clone(),
                                keys: KeySet::Values(Vec::new()),
                                images: Some(RowImages {
                                    payload: payload.clone(),
                                    section,
                                }),
                            },
                            keys: vec![key],
                        }));
                    }
                    RowRole::Before => before = Some(values),
                    RowRole::After => {
                        let Some(old) = before.take() else {
                            return Err(UndoError::Other(format!(
                                "run {run_id}: an after image of {table} {key_column}={key} has no before image"
                            )));
                        };
                        let changes: Vec<Change> = columns
                            .iter()
                            .zip(old.iter().zip(values.iter()))
                            .filter(|(_, (was, is))| was != is)
                            .map(|(column, (was, is))| Change {
                                column: column.clone(),
                                old: is.clone(),
                                new: was.clone(),
                            })
                            .collect();
                        if changes.is_empty() || !keep(&table, &key, &[], &[]) {
                            continue;
                        }
                        let names: Vec<String> = changes.iter().map(|c| c.column.clone()).collect();
                        steps.push(Step::Update(Box::new(Item::new(
                            Op::Update(UpdateRow {
                                table: table.clone(),
                                key_column: key_column.clone(),
                                key,
                                changes,
                                guard: Guard::Exists,
                            }),
                            Reason::new(
                                "undo",
                                format!(
                                    "changed by run {run_id}; {} restored where still as the run left it",
                                    names.join(", ")
                                ),
                            ),
                        ))));
                    }
                    RowRole::Inserted => {}
                }
            }
            PayloadEntry::Json(_) => {}
        }
    }
    Ok(steps
        .into_iter()
        .map(|step| match step {
            Step::Rows(Rows { mut op, keys }) => {
                op.keys = plan::keyset(keys);
                Item::new(
                    Op::Reinsert(op),
                    Reason::new(
                        "undo",
                        format!("deleted by run {run_id}; re-inserted with every column"),
                    ),
                )
            }
            Step::Update(item) => *item,
        })
        .collect())
}
