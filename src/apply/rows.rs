//! The row operations of a chunk, inside its transaction: delete (dependents first, every
//! deleted row's image captured), update (before and after images, the row re-read), put back
//! (keys already taken found in sets, free rows in multi-row INSERTs) and insert. Each writes
//! what it changed into the chunk's payload and `ChunkWork`. Nothing here commits, decides
//! what to change, or touches files.

use std::collections::{HashMap, HashSet};

use housekeeper_journal::{Action, Drift, KeySet, PayloadWriter, RowRole, Value};

use super::chunks::key_conditions;
use super::{conflicts, ChunkError, ChunkWork};
use crate::db::dialect::KEYS_PER_STATEMENT;
use crate::db::{SchemaFacts, WriteTx};
use crate::duties::{Duty, DutyContext, RowRef};
use crate::plan::{self, DeleteRows, InsertRow, Item, ReinsertRows, RowKey, UpdateRow};

/// One chunk's open transaction and what it records: the payload its row images go to, and
/// the work it did.
pub(super) struct ChunkTx<'c> {
    pub tx: &'c mut dyn WriteTx,
    pub pw: &'c mut PayloadWriter,
    pub work: &'c mut ChunkWork,
    pub schema: &'c SchemaFacts,
}

impl ChunkTx<'_> {
    /// Deletes rows with capture, writing every deleted row into the payload.
    fn delete_rows(
        &mut self,
        table: &str,
        column: &str,
        keys: &KeySet,
        key_column: &str,
        mut on_row: impl FnMut(&Value),
    ) -> Result<u64, ChunkError> {
        let columns = table_columns(self.schema, table)?;
        let key_at = columns.iter().position(|c| c == key_column);
        let d = *self.tx.dialect();
        let mut total = 0;
        for (where_sql, params) in key_conditions(&d, column, keys) {
            self.work.header(self.pw, table, &columns)?;
            let mut failure: Option<ChunkError> = None;
            let (got, n) = self
                .tx
                .delete_capture(table, &where_sql, &params, &mut |row| {
                    if failure.is_none() {
                        if let Err(e) = self.pw.row(RowRole::Deleted, row) {
                            failure = Some(e.into());
                        }
                    }
                    if let Some(key) = key_at.and_then(|i| row.get(i)) {
                        on_row(key);
                    }
                    Ok(())
                })?;
            if let Some(e) = failure {
                return Err(e);
            }
            check_columns(table, &columns, &got)?;
            total += n;
        }
        Ok(total)
    }

    /// Deletes what the items of `members` plan to delete from `op.table`, as one set: the
    /// planned rows locked and re-checked together, each dependent table's rows deleted with
    /// one statement per `KEYS_PER_STATEMENT` keys, then the rows themselves. Counts, drift
    /// and row images stay per item.
    pub(super) fn delete(
        &mut self,
        duty: &dyn Duty,
        ctx: &DutyContext<'_>,
        op: &DeleteRows,
        members: &[Doomed<'_>],
    ) -> Result<(), ChunkError> {
        let owners = Owners::of(members);
        let planned = match members {
            [one] => one.keys.clone(),
            _ => {
                let mut seen = HashSet::new();
                KeySet::Values(
                    members
                        .iter()
                        .flat_map(|m| planned_keys(m.keys))
                        .filter(|k| seen.insert(RowKey::of(k)))
                        .collect(),
                )
            }
        };
        let keys = match op.guard {
            plan::Guard::Exists => planned,
            plan::Guard::Duty => self.recheck_locked(duty, ctx, op, &planned, members, &owners)?,
        };
        if keys.is_empty() {
            return Ok(());
        }
        // Dependent rows first, explicitly, so nothing disappears through a cascade unseen.
        for dep in op.dependents.iter() {
            let Some(table) = ctx.schema.table(&dep.table) else {
                continue;
            };
            let dep_key = table
                .primary_key
                .first()
                .cloned()
                .unwrap_or_else(|| "id".into());
            let mut dep_keys = super::ChangedKeys::default();
            let n = self.delete_rows(&dep.table, &dep.column, &keys, &dep_key, |k| {
                dep_keys.push(k.clone());
            })?;
            self.work.change_all(&dep.table, Action::Delete, dep_keys);
            if n > 0 {
                *self
                    .work
                    .dependents
                    .entry(dep.table.to_string())
                    .or_insert(0) += n;
            }
        }
        let mut deleted = Vec::new();
        let n = self.delete_rows(&op.table, &op.key_column, &keys, &op.key_column, |k| {
            deleted.push(k.clone());
        })?;
        if n < keys.len() {
            self.report_gone(op, &keys, &deleted, n, members, &owners);
        }
        for k in deleted {
            if let Some(member) = owners.of_key(&k).and_then(|m| members.get(m)) {
                *self
                    .work
                    .affected
                    .entry(member.source.category.clone())
                    .or_insert(0) += 1;
                *self.work.applied.entry(member.item).or_insert(0) += 1;
            }
            self.work.change(&op.table, Action::Delete, k);
        }
        Ok(())
    }

    /// Locks the planned rows and has the duty re-check them a locking statement's rows (up
    /// to `KEYS_PER_STATEMENT`) at a time; returns the keys that still qualify; the others
    /// are reported as drift of their item (`gone`, or the duty's reason). Only one
    /// statement's rows are held at once, not every row of the chunk.
    fn recheck_locked(
        &mut self,
        duty: &dyn Duty,
        ctx: &DutyContext<'_>,
        op: &DeleteRows,
        planned: &KeySet,
        members: &[Doomed<'_>],
        owners: &Owners,
    ) -> Result<KeySet, ChunkError> {
        let d = *self.tx.dialect();
        let mut kept = Vec::new();
        let mut found = HashSet::new();
        for (where_sql, params) in key_conditions(&d, &op.key_column, planned) {
            let locked = self.tx.select_for_update(&op.table, &where_sql, &params)?;
            let (columns, locked) = (locked.columns, locked.rows);
            let key_at = key_position(&op.table, &op.key_column, &columns, locked.len())?;
            let mut checks = Vec::with_capacity(locked.len());
            let mut checked_items = Vec::with_capacity(locked.len());
            for row in &locked {
                if let Some(member) = owners.of_key(&row[key_at]).and_then(|m| members.get(m)) {
                    let current = RowRef {
                        columns: &columns,
                        values: row,
                    };
                    checks.push((member.source, current));
                    checked_items.push((member.item, row[key_at].clone()));
                }
            }
            let answers = duty.recheck_rows(&mut *self.tx, ctx, &checks)?;
            for ((item, key), answer) in checked_items.into_iter().zip(answers) {
                found.insert(RowKey::of(&key));
                match answer {
                    Some(reason) => self.work.drifted.push(Drift {
                        item,
                        table: op.table.clone(),
                        key,
                        reason,
                    }),
                    None => kept.push(key),
                }
            }
        }
        for key in planned_keys(planned) {
            if !found.contains(&RowKey::of(&key)) {
                self.gone(&op.table, key, members, owners);
            }
        }
        Ok(plan::keyset(kept))
    }

    /// Records that the row `key` of `table`, planned by the item owning it, was gone.
    fn gone(&mut self, table: &str, key: Value, members: &[Doomed<'_>], owners: &Owners) {
        if let Some(member) = owners.of_key(&key).and_then(|m| members.get(m)) {
            self.work.drifted.push(Drift {
                item: member.item,
                table: table.to_owned(),
                key,
                reason: "gone".into(),
            });
        }
    }

    /// Reports as `gone` the `keys.len() - n` keys of `keys` the delete did not find.
    fn report_gone(
        &mut self,
        op: &DeleteRows,
        keys: &KeySet,
        deleted: &[Value],
        n: u64,
        members: &[Doomed<'_>],
        owners: &Owners,
    ) {
        let got: HashSet<RowKey> = deleted.iter().map(RowKey::of).collect();
        let mut missing = keys.len() - n;
        for key in planned_keys(keys) {
            if missing == 0 {
                break;
            }
            if got.contains(&RowKey::of(&key)) {
                continue;
            }
            missing -= 1;
            self.gone(&op.table, key, members, owners);
        }
    }

    /// Applies the updates of `members` (one table, the same columns, see
    /// `chunks::update_set`) as sets of up to `KEYS_PER_STATEMENT` rows: the rows locked with
    /// one statement, checked against the plan and re-checked by the duty together, the rows
    /// that get the same new values changed with one statement and re-read with one. Before
    /// and after images, counts and drift stay per item.
    pub(super) fn update(
        &mut self,
        duty: &dyn Duty,
        ctx: &DutyContext<'_>,
        members: &[Changed<'_>],
    ) -> Result<(), ChunkError> {
        // A change of a unique column is checked against the rows changed before it, so such
        // rows go one at a time.
        let size = if members
            .iter()
            .any(|m| conflicts::changes_unique(ctx.schema, m.op))
        {
            1
        } else {
            KEYS_PER_STATEMENT
        };
        for set in members.chunks(size) {
            self.update_locked(duty, ctx, set)?;
        }
        Ok(())
    }

    fn update_locked(
        &mut self,
        duty: &dyn Duty,
        ctx: &DutyContext<'_>,
        set: &[Changed<'_>],
    ) -> Result<(), ChunkError> {
        let Some(first) = set.first() else {
            return Ok(());
        };
        let (table, key_column) = (&first.op.table, &first.op.key_column);
        let d = *self.tx.dialect();
        let keys: Vec<Value> = set.iter().map(|m| m.op.key.clone()).collect();
        let mut columns = Vec::new();
        let mut locked: HashMap<RowKey, Vec<Value>> = HashMap::with_capacity(set.len());
        for (where_sql, params) in d.in_key_lists(key_column, &keys) {
            let rows = self.tx.select_for_update(table, &where_sql, &params)?;
            let key_at = key_position(table, key_column, &rows.columns, rows.rows.len())?;
            for row in rows.rows {
                locked.insert(RowKey::of(&row[key_at]), row);
            }
            // An empty result may come without its columns.
            if !rows.columns.is_empty() {
                columns = rows.columns;
            }
        }
        let drift = |m: &Changed<'_>, reason: String| Drift {
            item: m.item,
            table: table.clone(),
            key: m.op.key.clone(),
            reason,
        };
        // What the plan still holds for (`gone`, `changed`, `unique_taken` otherwise), then
        // what the duty still holds for, asked for all the rows at once.
        let mut checked: Vec<Locked<'_, '_>> = Vec::with_capacity(set.len());
        for member in set {
            let row = locked.get(&RowKey::of(&member.op.key));
            match conflicts::update_conflict(
                &mut *self.tx,
                ctx.schema,
                member.op,
                &columns,
                row.map(Vec::as_slice),
            )? {
                Some(reason) => self.work.drifted.push(drift(member, reason.into())),
                None => checked.extend(row.map(|row| (member, row))),
            }
        }
        // A set has one guard (`chunks::update_set`).
        let answers = if first.op.guard == plan::Guard::Duty {
            let rows: Vec<(&Item, RowRef<'_>)> = checked
                .iter()
                .map(|(m, row)| {
                    let current = RowRef {
                        columns: &columns,
                        values: row,
                    };
                    (m.source, current)
                })
                .collect();
            duty.recheck_rows(&mut *self.tx, ctx, &rows)?
        } else {
            vec![None; checked.len()]
        };
        let mut kept: Vec<Locked<'_, '_>> = Vec::with_capacity(checked.len());
        for ((member, row), answer) in checked.into_iter().zip(answers) {
            match answer {
                Some(reason) => self.work.drifted.push(drift(member, reason)),
                None => kept.push((member, row)),
            }
        }
        // One statement per group of rows given the same new values (most duties give every
        // row the same: a task's final state).
        let mut groups: Vec<(Vec<&Value>, Vec<Locked<'_, '_>>)> = Vec::new();
        for (member, row) in kept {
            let new: Vec<&Value> = member.op.changes.iter().map(|c| &c.new).collect();
            match groups.iter_mut().find(|(values, _)| *values == new) {
                Some((_, rows)) => rows.push((member, row)),
                None => groups.push((new, vec![(member, row)])),
            }
        }
        for (_, rows) in groups {
            self.update_rows(table, key_column, &columns, &rows)?;
        }
        Ok(())
    }

    /// Writes the before images, updates `rows` (which get the same new values) with one
    /// statement (columns with ON UPDATE CURRENT_TIMESTAMP set to themselves), re-reads them
    /// with one and writes each row's after image behind its before image.
    fn update_rows(
        &mut self,
        table: &str,
        key_column: &str,
        columns: &[String],
        rows: &[Locked<'_, '_>],
    ) -> Result<(), ChunkError> {
        let Some((first, _)) = rows.first() else {
            return Ok(());
        };
        let changes = &first.op.changes;
        let d = *self.tx.dialect();
        let mut sets: Vec<String> = changes
            .iter()
            .map(|c| format!("{} = ?", d.quote(&c.column)))
            .collect();
        if let Some(info) = self.schema.table(table) {
            for col in info.columns.iter().filter(|c| c.on_update_now) {
                if !changes.iter().any(|c| c.column == col.name) {
                    let q = d.quote(&col.name);
                    sets.push(format!("{q} = {q}"));
                }
            }
        }
        let keys: Vec<Value> = rows.iter().map(|(m, _)| m.op.key.clone()).collect();
        let mut after: HashMap<RowKey, Vec<Value>> = HashMap::with_capacity(rows.len());
        for (where_sql, key_params) in d.in_key_lists(key_column, &keys) {
            let mut params: Vec<Value> = changes.iter().map(|c| c.new.clone()).collect();
            params.extend(key_params.iter().cloned());
            let sql = format!(
                "UPDATE {} SET {} WHERE {where_sql}",
                d.quote(table),
                sets.join(", ")
            );
            self.tx.execute(&sql, &params)?;
            let reread = self.tx.select_for_update(table, &where_sql, &key_params)?;
            check_columns(table, columns, &reread.columns)?;
            let key_at = key_position(table, key_column, &reread.columns, reread.rows.len())?;
            for row in reread.rows {
                after.insert(RowKey::of(&row[key_at]), row);
            }
        }
        self.work.header(self.pw, table, columns)?;
        for (member, before) in rows {
            let key = &member.op.key;
            let after_row = after.get(&RowKey::of(key)).ok_or_else(|| {
                ChunkError::Other(format!(
                    "{table} {key_column}={key} vanished during its update"
                ))
            })?;
            self.pw.row(RowRole::Before, before)?;
            self.pw.row(RowRole::After, after_row)?;
            self.work.change(table, Action::Update, key.clone());
            *self
                .work
                .affected
                .entry(member.source.category.clone())
                .or_insert(0) += 1;
            *self.work.applied.entry(member.item).or_insert(0) += 1;
        }
        Ok(())
    }

    /// Puts rows back with their keys (undo): keys already taken are found with one query per
    /// `dialect::KEYS_PER_STATEMENT` keys, other conflicts (unique values; parents, where the engine
    /// enforces foreign keys) row by row where the table has any, and the free rows go back in
    /// multi-row INSERTs, each row's image written to the payload. Conflicts are reported as drift.
    pub(super) fn reinsert(
        &mut self,
        item: u32,
        op: &ReinsertRows,
        rows: &[Vec<Value>],
    ) -> Result<(), ChunkError> {
        let key_at = op.key_at().ok_or_else(|| {
            ChunkError::Other(format!(
                "rows of {} without their {} column",
                op.table, op.key_column
            ))
        })?;
        let keys: Vec<Value> = rows.iter().map(|r| r[key_at].clone()).collect();
        let checks = conflicts::Reinsert::check(&mut *self.tx, self.schema, op, &keys)?;
        // A table that refers to itself needs each row in place before the next is checked.
        let batch = if crate::undo::images::refers_to_itself(self.schema, &op.table) {
            1
        } else {
            (VALUES_PER_INSERT / op.columns.len().max(1)).max(1)
        };
        let mut free: Vec<&[Value]> = Vec::with_capacity(batch);
        for row in rows {
            let key = &row[key_at];
            let conflict = checks.conflict(&mut *self.tx, self.schema, row, &conflicts::NoneYet)?;
            if let Some(reason) = conflict {
                self.work.drifted.push(Drift {
                    item,
                    table: op.table.clone(),
                    key: key.clone(),
                    reason: reason.into(),
                });
                continue;
            }
            free.push(row);
            if free.len() >= batch {
                self.insert_batch(item, op, key_at, &free)?;
                free.clear();
            }
        }
        if !free.is_empty() {
            self.insert_batch(item, op, key_at, &free)?;
        }
        Ok(())
    }

    /// One multi-row INSERT of rows put back, with their images.
    fn insert_batch(
        &mut self,
        item: u32,
        op: &ReinsertRows,
        key_at: usize,
        rows: &[&[Value]],
    ) -> Result<(), ChunkError> {
        let d = *self.tx.dialect();
        let cols: Vec<String> = op.columns.iter().map(|c| d.quote(c)).collect();
        let one = format!("({})", d.placeholders(cols.len()));
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            d.quote(&op.table),
            cols.join(", "),
            vec![one; rows.len()].join(", ")
        );
        let params: Vec<Value> = rows.iter().flat_map(|r| r.iter().cloned()).collect();
        self.tx.execute(&sql, &params)?;
        self.work.header(self.pw, &op.table, &op.columns)?;
        for row in rows {
            self.pw.row(RowRole::Inserted, row)?;
            self.work
                .change(&op.table, Action::Insert, row[key_at].clone());
        }
        let n = rows.len() as u64;
        *self.work.affected.entry(None).or_insert(0) += n;
        *self.work.applied.entry(item).or_insert(0) += n;
        Ok(())
    }

    /// Inserts the row and writes its image into the payload.
    pub(super) fn insert_row(&mut self, op: &InsertRow) -> Result<(), ChunkError> {
        let d = *self.tx.dialect();
        let cols: Vec<String> = op.columns.iter().map(|c| d.quote(c)).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            d.quote(&op.table),
            cols.join(", "),
            d.placeholders(cols.len())
        );
        self.tx.execute(&sql, &op.values)?;
        self.work.header(self.pw, &op.table, &op.columns)?;
        self.pw.row(RowRole::Inserted, &op.values)?;
        Ok(())
    }
}

/// One item's part of a set delete: its number, its keys and the item itself.
/// An update of a set with its row as locked.
type Locked<'a, 'p> = (&'a Changed<'p>, &'a Vec<Value>);

/// One update of a set (`chunks::update_set`): its item and what it changes.
pub(super) struct Changed<'p> {
    pub item: u32,
    pub op: &'p UpdateRow,
    pub source: &'p Item,
}

pub(super) struct Doomed<'p> {
    pub item: u32,
    pub keys: &'p KeySet,
    pub source: &'p Item,
}

/// Which member of a set delete a key belongs to.
pub(super) enum Owners {
    /// One member: every key is its.
    One,
    Many(HashMap<RowKey, usize>),
}

impl Owners {
    fn of(members: &[Doomed<'_>]) -> Self {
        if members.len() < 2 {
            return Self::One;
        }
        let mut map = HashMap::new();
        for (i, member) in members.iter().enumerate() {
            for key in planned_keys(member.keys) {
                map.entry(RowKey::of(&key)).or_insert(i);
            }
        }
        Self::Many(map)
    }

    fn of_key(&self, key: &Value) -> Option<usize> {
        match self {
            Self::One => Some(0),
            Self::Many(map) => map.get(&RowKey::of(key)).copied(),
        }
    }
}

/// Every key of a key set, ranges expanded lazily.
fn planned_keys(keys: &KeySet) -> Box<dyn Iterator<Item = Value> + '_> {
    match keys {
        KeySet::Values(values) => Box::new(values.iter().cloned()),
        KeySet::Ranges(ranges) => Box::new(
            ranges
                .iter()
                .flat_map(|(lo, hi)| (*lo..=*hi).map(Value::Int)),
        ),
    }
}

/// Where `key_column` is among the `columns` a statement returned with `rows` rows (an
/// empty result may come without its columns).
fn key_position(
    table: &str,
    key_column: &str,
    columns: &[String],
    rows: usize,
) -> Result<usize, ChunkError> {
    match columns.iter().position(|c| c == key_column) {
        Some(at) => Ok(at),
        None if rows == 0 => Ok(0),
        None => Err(ChunkError::Other(format!(
            "table {table} has no column {key_column}"
        ))),
    }
}

/// Column names of a table in table order (what `SELECT *`/`RETURNING *` return).
fn table_columns(schema: &SchemaFacts, table: &str) -> Result<Vec<String>, ChunkError> {
    schema
        .table(table)
        .map(|t| t.columns.iter().map(|c| c.name.clone()).collect())
        .ok_or_else(|| ChunkError::Other(format!("table {table} not found in the schema")))
}

fn check_columns(table: &str, expected: &[String], got: &[String]) -> Result<(), ChunkError> {
    if !got.is_empty() && got != expected {
        return Err(ChunkError::Other(format!(
            "table {table} changed shape during the run (columns {got:?}, expected {expected:?})"
        )));
    }
    Ok(())
}

/// Parameters bound per multi-row INSERT at most: well below every engine's limit (SQLite
/// 32 766, PostgreSQL and MySQL 65 535), and about a thousand rows of a `log`-like table, so
/// statements are few (each is prepared anew).
const VALUES_PER_INSERT: usize = 10_000;

/// Equality of a current value and a planned one. Both come through the same decoding, so
/// this is exact equality, except that integers compare by value whatever their width.
#[must_use]
pub fn same_value(current: &Value, planned: &Value) -> bool {
    match (current, planned) {
        (
            Value::Int(_) | Value::UInt(_) | Value::Bool(_),
            Value::Int(_) | Value::UInt(_) | Value::Bool(_),
        ) => {
            current.as_i64() == planned.as_i64() && current.as_i64().is_some() || current == planned
        }
        _ => current == planned,
    }
}
