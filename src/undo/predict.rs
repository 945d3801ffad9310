//! Conflict prediction: every item of the inverse plans checked, in apply order, against the
//! database (one read-only snapshot) and the quarantine as they are now — with the checks the
//! executor makes (`apply::conflicts`, keys taken found with one query per 1000 keys as the
//! executor does), and with what earlier items of the same undo will have put back taken into
//! account (a job's queue rows find the job they belong to). The rows of a re-insert are read
//! from the run's payload item by item (`images`); of the rows put back, only those a later
//! item may look for are remembered: rows of tables a foreign key refers to (on engines that
//! enforce them) or that an update item of the undo changes.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use housekeeper_journal::Value;
use serde::Serialize;

use crate::apply::conflicts::{self, Pending};
use crate::db::{Query, SchemaFacts};
use crate::duties::DutyName;
use crate::plan::{key_text, DutyPlan, Op, RowKey};
use crate::quarantine::Quarantine;

/// An item an undo cannot (or could not) restore, with the reason code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub duty: DutyName,
    /// The table, or `file`.
    pub table: String,
    /// The row's key, or the file's path.
    pub key: String,
    /// `key_reused`, `unique_taken`, `parent_gone`, `changed`, `gone`, `target_exists`,
    /// `hash_mismatch`, `vanished`, `payload_expired`.
    pub reason: String,
}

/// The rows the undo will have written before a given item.
#[derive(Default)]
struct Overlay {
    /// (table, key) → columns and values of rows re-inserted.
    inserted: HashMap<(String, RowKey), (Vec<String>, Vec<Value>)>,
    /// (table, key, column) → value written by an update restore.
    updated: HashMap<(String, RowKey, String), Value>,
}

impl Pending for Overlay {
    fn has(&self, table: &str, columns: &[String], values: &[&Value]) -> bool {
        if let ([column], [value]) = (columns, values) {
            if let Some((cols, vals)) = self.inserted.get(&(table.to_owned(), RowKey::of(value))) {
                // The common case: the parent's key is what the child refers to.
                if cols
                    .iter()
                    .position(|c| c == column)
                    .and_then(|i| vals.get(i))
                    .is_some_and(|v| RowKey::of(v) == RowKey::of(value))
                {
                    return true;
                }
            }
        }
        self.inserted
            .iter()
            .filter(|((t, _), _)| t == table)
            .any(|(_, (cols, vals))| {
                columns.iter().zip(values).all(|(c, v)| {
                    cols.iter()
                        .position(|x| x == c)
                        .and_then(|i| vals.get(i))
                        .is_some_and(|x| RowKey::of(x) == RowKey::of(v))
                })
            })
    }
}

/// Checks every item of `plans` in order. Returns the conflicts (empty when the undo would
/// restore everything).
///
/// # Errors
/// A query failed, or a quarantined file could not be read.
pub fn predict(
    view: &mut dyn Query,
    schema: &SchemaFacts,
    plans: &[DutyPlan],
    quarantine: &Quarantine,
    journal_dir: &Path,
) -> Result<Vec<Conflict>, super::UndoError> {
    let mut overlay = Overlay::default();
    let mut out = Vec::new();
    // The tables whose re-inserted rows a later item may look for.
    let mut remembered: HashSet<&str> = plans
        .iter()
        .flat_map(|p| &p.items)
        .filter_map(|i| match &i.op {
            Op::Update(u) => Some(u.table.as_str()),
            _ => None,
        })
        .collect();
    if view.dialect().enforces_foreign_keys() {
        remembered.extend(
            schema
                .tables
                .values()
                .flat_map(|t| &t.foreign_keys)
                .map(|fk| fk.referenced_table.as_str()),
        );
    }
    for plan in plans {
        for item in plan.items.iter().filter(|i| i.enabled) {
            let conflict = |table: &str, key: String, reason: &str| Conflict {
                duty: plan.duty,
                table: table.to_owned(),
                key,
                reason: reason.to_owned(),
            };
            match &item.op {
                Op::Reinsert(op) => {
                    let rows = super::images::read(journal_dir, op, schema)?;
                    let key_at = op.key_at().unwrap_or_default();
                    let keys: Vec<Value> = rows.iter().map(|r| r[key_at].clone()).collect();
                    let checks = conflicts::Reinsert::check(&mut *view, schema, op, &keys)?;
                    let remember = remembered.contains(op.table.as_str());
                    for (row, key) in rows.into_iter().zip(keys) {
                        let reason = checks.conflict(&mut *view, schema, &row, &overlay)?;
                        match reason {
                            Some(reason) => out.push(conflict(&op.table, key_text(&key), reason)),
                            None if remember => {
                                overlay.inserted.insert(
                                    (op.table.clone(), RowKey::of(&key)),
                                    (op.columns.clone(), row),
                                );
                            }
                            None => {}
                        }
                    }
                }
                Op::Update(op) => {
                    let id = (op.table.clone(), RowKey::of(&op.key));
                    let (columns, mut row) = match overlay.inserted.get(&id) {
                        Some((cols, vals)) => (cols.clone(), Some(vals.clone())),
                        None => {
                            let d = *view.dialect();
                            let rows = view.query(
                                &format!(
                                    "SELECT * FROM {} WHERE {} = ?",
                                    d.quote(&op.table),
                                    d.quote(&op.key_column)
                                ),
                                std::slice::from_ref(&op.key),
                            )?;
                            (rows.columns, rows.rows.into_iter().next())
                        }
                    };
                    if let Some(row) = row.as_mut() {
                        for (i, column) in columns.iter().enumerate() {
                            if let Some(v) =
                                overlay
                                    .updated
                                    .get(&(id.0.clone(), id.1.clone(), column.clone()))
                            {
                                row[i] = v.clone();
                            }
                        }
                    }
                    match conflicts::update_conflict(
                        &mut *view,
                        schema,
                        op,
                        &columns,
                        row.as_deref(),
                    )? {
                        Some(reason) => out.push(conflict(&op.table, key_text(&op.key), reason)),
                        None => {
                            for change in &op.changes {
                                overlay.updated.insert(
                                    (id.0.clone(), id.1.clone(), change.column.clone()),
                                    change.new.clone(),
                                );
                            }
                        }
                    }
                }
                Op::Restore(file) => {
                    if let Err(e) = quarantine.check_restore(
                        file.quarantine_path.as_path(),
                        &file.meta,
                        file.path.as_path(),
                    ) {
                        if e.is_conflict() {
                            out.push(conflict(
                                "file",
                                crate::text::PathText(&file.path).to_string(),
                                e.code(),
                            ));
                        } else {
                            return Err(e.into());
                        }
                    }
                }
                Op::Insert(_) | Op::Delete(_) | Op::Quarantine(_) => {}
            }
        }
    }
    Ok(out)
}
