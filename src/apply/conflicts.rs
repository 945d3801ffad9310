//! The checks that decide whether a row can be put back: the executor makes them on locked
//! rows inside a chunk's transaction, and `undo --dry-run`/`--strict` makes the same ones
//! beforehand through a read-only view (`undo::predict`), so both always agree.
//!
//! Codes (stable, in the journal and the JSON report): `key_reused`, `unique_taken`,
//! `parent_gone`, `changed`, `gone`. This module only reads.

use std::collections::HashSet;

use housekeeper_journal::Value;

use crate::db::{DbResult, Dialect, IndexInfo, Query, SchemaFacts, TableInfo};
use crate::plan::{ReinsertRows, RowKey, UpdateRow};

/// What stands in the way of putting back rows of one table, found for all of them at once:
/// the keys already taken (one query per `KEYS_PER_STATEMENT` keys), and whether the table
/// needs the row-by-row checks of [`other_conflict`] too.
pub struct Reinsert<'a> {
    row_of: NewRow<'a>,
    taken: HashSet<RowKey>,
    more_checks: bool,
}

impl<'a> Reinsert<'a> {
    /// Looks up which of `keys` (of rows `op` puts back) are taken now.
    ///
    /// # Errors
    /// A query failed.
    pub fn check(
        q: &mut dyn Query,
        schema: &SchemaFacts,
        op: &'a ReinsertRows,
        keys: &[Value],
    ) -> DbResult<Self> {
        let taken = crate::duties::common::present(q, &op.table, &op.key_column, keys)?;
        let more_checks = needs_more_than_key(schema, &op.table, q.dialect());
        Ok(Reinsert {
            row_of: NewRow {
                table: &op.table,
                key_column: &op.key_column,
                columns: &op.columns,
                values: &[],
            },
            taken,
            more_checks,
        })
    }

    /// Why the row with `values` cannot be put back now, or `None`: its key is taken
    /// (`key_reused`), or see [`other_conflict`].
    ///
    /// # Errors
    /// A query failed.
    pub fn conflict(
        &self,
        q: &mut dyn Query,
        schema: &SchemaFacts,
        values: &[Value],
        pending: &dyn Pending,
    ) -> DbResult<Option<&'static str>> {
        let row = NewRow {
            values,
            ..self.row_of
        };
        if self.taken.contains(&RowKey::of(&row.key())) {
            return Ok(Some("key_reused"));
        }
        if !self.more_checks {
            return Ok(None);
        }
        other_conflict(q, schema, row, pending)
    }
}

/// Rows an undo will have inserted by the time it reaches an item (for prediction: the
/// executor inserts them for real, in order, so it passes `&NoneYet`).
pub trait Pending {
    /// Whether a row of `table` with these values in `columns` is among them.
    fn has(&self, table: &str, columns: &[String], values: &[&Value]) -> bool;
}

/// Nothing pending: the database itself says what exists.
pub struct NoneYet;

impl Pending for NoneYet {
    fn has(&self, _table: &str, _columns: &[String], _values: &[&Value]) -> bool {
        false
    }
}

fn exists(q: &mut dyn Query, table: &str, columns: &[String], values: &[&Value]) -> DbResult<bool> {
    exists_other(q, table, columns, values, None)
}

/// Whether a row with these values exists, other than the row whose key is `except`.
fn exists_other(
    q: &mut dyn Query,
    table: &str,
    columns: &[String],
    values: &[&Value],
    except: Option<(&str, &Value)>,
) -> DbResult<bool> {
    let d = *q.dialect();
    let mut cond: Vec<String> = columns
        .iter()
        .map(|c| format!("{} = ?", d.quote(c)))
        .collect();
    let mut params: Vec<Value> = values.iter().map(|v| (*v).clone()).collect();
    if let Some((column, key)) = except {
        cond.push(format!("{} <> ?", d.quote(column)));
        params.push(key.clone());
    }
    let sql = format!(
        "SELECT 1 FROM {} WHERE {}",
        d.quote(table),
        cond.join(" AND ")
    );
    Ok(q.query_scalar(&sql, &params)?.is_some())
}

/// A row to put back: its table, key column, and every column with its value.
#[derive(Debug, Clone, Copy)]
pub struct NewRow<'a> {
    pub table: &'a str,
    pub key_column: &'a str,
    pub columns: &'a [String],
    pub values: &'a [Value],
}

impl<'a> NewRow<'a> {
    fn value_of(&self, column: &str) -> Option<&'a Value> {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.values.get(i))
    }

    /// The row's key (`NULL` when the key column is missing).
    #[must_use]
    pub fn key(&self) -> Value {
        self.value_of(self.key_column)
            .cloned()
            .unwrap_or(Value::Null)
    }
}

/// Whether rows of `table` need checks beyond their key before they are put back: a unique
/// index, or (where the engine enforces them) a foreign key.
#[must_use]
pub fn needs_more_than_key(schema: &SchemaFacts, table: &str, dialect: &Dialect) -> bool {
    schema.table(table).is_some_and(|info| {
        info.indexes.iter().any(|i| i.unique)
            || (dialect.enforces_foreign_keys() && !info.foreign_keys.is_empty())
    })
}

/// Why `row` (whose key is free) cannot be inserted now, or `None`: a unique value is taken
/// (`unique_taken`), or — where the engine enforces foreign keys — a parent row is missing
/// (`parent_gone`).
///
/// # Errors
/// A query failed.
pub fn other_conflict(
    q: &mut dyn Query,
    schema: &SchemaFacts,
    row: NewRow<'_>,
    pending: &dyn Pending,
) -> DbResult<Option<&'static str>> {
    let Some(info) = schema.table(row.table) else {
        return Ok(None);
    };
    for index in info.indexes.iter().filter(|i| i.unique) {
        let values: Option<Vec<&Value>> = index.columns.iter().map(|c| row.value_of(c)).collect();
        // NULLs never collide in a unique index.
        let Some(values) = values.filter(|v| v.iter().all(|x| !x.is_null())) else {
            continue;
        };
        if exists(q, row.table, &index.columns, &values)? {
            return Ok(Some("unique_taken"));
        }
    }
    if q.dialect().enforces_foreign_keys() {
        for fk in &info.foreign_keys {
            let values: Option<Vec<&Value>> = fk.columns.iter().map(|c| row.value_of(c)).collect();
            let Some(values) = values.filter(|v| v.iter().all(|x| !x.is_null())) else {
                continue;
            };
            if !pending.has(&fk.referenced_table, &fk.referenced_columns, &values)
                && !exists(q, &fk.referenced_table, &fk.referenced_columns, &values)?
            {
                return Ok(Some("parent_gone"));
            }
        }
    }
    Ok(None)
}

/// Whether `op` changes a column of one of its table's unique indexes.
#[must_use]
pub fn changes_unique(schema: &SchemaFacts, op: &UpdateRow) -> bool {
    schema
        .table(&op.table)
        .is_some_and(|info| changed_unique_indexes(info, op).next().is_some())
}

/// The unique indexes of `info` a column of which `op` changes to another value.
fn changed_unique_indexes<'a>(
    info: &'a TableInfo,
    op: &'a UpdateRow,
) -> impl Iterator<Item = &'a IndexInfo> {
    info.indexes.iter().filter(|index| {
        index.unique
            && op
                .changes
                .iter()
                .any(|c| index.columns.contains(&c.column) && c.old != c.new)
    })
}

/// Why `op` cannot be applied to the current row (`columns`/`current`), or `None`: the row
/// is gone (`gone`), a column no longer holds the planned old value (`changed`), or a value
/// to write is unique and another row holds it now (`unique_taken`).
///
/// # Errors
/// A query failed.
pub fn update_conflict(
    q: &mut dyn Query,
    schema: &SchemaFacts,
    op: &UpdateRow,
    columns: &[String],
    current: Option<&[Value]>,
) -> DbResult<Option<&'static str>> {
    let Some(current) = current else {
        return Ok(Some("gone"));
    };
    let value = |column: &str| {
        columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| current.get(i))
            .unwrap_or(&Value::Null)
    };
    for change in &op.changes {
        if !super::same_value(value(&change.column), &change.old) {
            return Ok(Some("changed"));
        }
    }
    let Some(info) = schema.table(&op.table) else {
        return Ok(None);
    };
    for index in changed_unique_indexes(info, op) {
        let values: Vec<&Value> = index
            .columns
            .iter()
            .map(|c| {
                op.changes
                    .iter()
                    .find(|ch| ch.column == *c)
                    .map_or_else(|| value(c), |ch| &ch.new)
            })
            .collect();
        if values.iter().any(|v| v.is_null()) {
            continue;
        }
        if exists_other(
            q,
            &op.table,
            &index.columns,
            &values,
            Some((&op.key_column, &op.key)),
        )? {
            return Ok(Some("unique_taken"));
        }
    }
    Ok(None)
}
