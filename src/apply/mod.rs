//! The executor: applies a duty's plan, the same way for `run`, `apply FILE` and `undo`.
//!
//! Protocol (ARCHITECTURE.md, journal/FORMAT.md), per duty:
//! 1. the plan (keys in the chained record, values in a plan payload) is appended and fsynced;
//! 2. per chunk of at most `CHUNK_ROWS` items, one write transaction: every item's condition
//!    is re-checked on the locked current rows (drifted items are skipped and reported, never
//!    forced), dependent rows are deleted explicitly before their parent, full row images are
//!    written to a payload blob that is fsynced before COMMIT, and an anchor row is inserted;
//!    then COMMIT, then the chunk's outcome record (fsynced);
//! 3. files, in batches (`files`): the batch's intent records (one fsync) before any of its
//!    files moves to the quarantine, the moves and one sync of each directory they changed,
//!    then the outcome records (one fsync).
//!
//! A failing chunk rolls back alone and marks its duty failed. The executor never decides
//! what to change: it only applies plans, and it writes files only through `quarantine` and
//! the journal.

pub mod anchor;
pub mod conflicts;
pub mod expiry;
mod files;
pub mod history;
pub mod log_rows;
pub mod recover;
pub mod trust;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use housekeeper_journal::{
    Action, ChunkStatus, Drift, KeySet, PayloadKind, Record, TableChange, Value,
};
use housekeeper_journal::{Journal, PayloadWriter, RowRole};

use crate::db::{Connection, DbError, Dialect, SchemaFacts, WriteTx};
use crate::duties::{Duty, DutyContext, RowRef};
use crate::plan::{
    self, DeleteRows, DutyPlan, InsertRow, Item, Op, ReinsertRows, RowKey, UpdateRow,
};
use crate::quarantine::Quarantine;
use crate::report::{DutyReport, Status};

/// Keys bound per statement (engines limit the number of parameters).
const KEYS_PER_STATEMENT: u64 = 1000;

/// Free space kept in reserve on the journal's and the quarantine's filesystem.
pub const MIN_FREE_BYTES: u64 = 8 * 1024 * 1024;

/// A generous estimate of one compressed row image in a payload.
const BYTES_PER_ROW_IMAGE: u64 = 256;

/// A test hook for the crash-consistency tests: when `HOUSEKEEPER_CRASHPOINT` names this
/// point, the process says so on stderr and stops itself (SIGSTOP), so the test can kill it
/// with SIGKILL exactly there. Points: `after-plan`, `before-commit`, `after-commit`,
/// `after-intent` (a batch's intents are durable, no file of it moved), `after-move` (the
/// first file of a batch moved), `before-outcomes` (every file of a batch moved, no outcome
/// written), `before-records` (a duty's changes applied, its record rows not yet written),
/// `before-run-end`.
pub fn crashpoint(name: &str) {
    if std::env::var("HOUSEKEEPER_CRASHPOINT").is_ok_and(|v| v == name) {
        eprintln!("crashpoint {name}");
        let _ = signal_hook::low_level::raise(signal_hook::consts::SIGSTOP);
    }
}

/// What a fatal executor error means: the journal can no longer be written, so nothing more
/// may change in this run.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("journal: {0}")]
    Journal(#[from] housekeeper_journal::JournalError),
    /// The directories of a batch of file moves could not be synced: whether the moves
    /// survive a power loss is unknown, so their outcomes are left to recovery.
    #[error("quarantine: {0}")]
    Files(#[from] crate::quarantine::QuarantineError),
}

/// Everything the executor needs for one run.
pub struct Executor<'a> {
    pub conn: &'a mut dyn Connection,
    pub journal: &'a mut Journal,
    pub quarantine: &'a Quarantine,
    pub journal_id: &'a str,
    pub run_id: &'a str,
    pub chunk_rows: usize,
    /// Set by SIGTERM/SIGINT: finish the current chunk, then stop. A `strict` conflict sets
    /// it too.
    pub stop: &'a AtomicBool,
    /// `undo --strict`: a conflict rolls its chunk back and stops the session (nothing after
    /// it is changed either).
    pub strict: bool,
}

/// One unit of work inside a chunk.
enum Piece<'p> {
    Delete {
        item: u32,
        op: &'p DeleteRows,
        keys: KeySet,
        source: &'p Item,
    },
    Update {
        item: u32,
        op: &'p UpdateRow,
        source: &'p Item,
    },
    Insert {
        item: u32,
        op: &'p InsertRow,
    },
    Reinsert {
        item: u32,
        op: &'p ReinsertRows,
        rows: &'p [Vec<Value>],
    },
}

impl Piece<'_> {
    fn item(&self) -> u32 {
        match self {
            Piece::Delete { item, .. }
            | Piece::Update { item, .. }
            | Piece::Insert { item, .. }
            | Piece::Reinsert { item, .. } => *item,
        }
    }
}

/// Splits the enabled row items of a plan into chunks of at most `max` rows.
fn chunks(plan: &DutyPlan, max: usize) -> Vec<Vec<Piece<'_>>> {
    let max = max.max(1) as u64;
    let mut out: Vec<Vec<Piece<'_>>> = Vec::new();
    let mut current: Vec<Piece<'_>> = Vec::new();
    let mut room = max;
    for (index, item) in plan.items.iter().enumerate() {
        if !item.enabled {
            continue;
        }
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        match &item.op {
            Op::Delete(d) => {
                for keys in split_to_room(&d.keys, room, max) {
                    let n = keys.len();
                    current.push(Piece::Delete {
                        item: index,
                        op: d,
                        keys,
                        source: item,
                    });
                    room = room.saturating_sub(n);
                    if room == 0 {
                        out.push(std::mem::take(&mut current));
                        room = max;
                    }
                }
            }
            Op::Update(u) => {
                current.push(Piece::Update {
                    item: index,
                    op: u,
                    source: item,
                });
                room -= 1;
            }
            // Record rows are written after the changes, from what actually happened.
            Op::Insert(_) => continue,
            Op::Reinsert(r) => {
                let mut rest = r.rows.as_slice();
                while !rest.is_empty() {
                    let n = usize::try_from(room).unwrap_or(usize::MAX).min(rest.len());
                    let (rows, after) = rest.split_at(n);
                    current.push(Piece::Reinsert {
                        item: index,
                        op: r,
                        rows,
                    });
                    rest = after;
                    room -= n as u64;
                    if room == 0 {
                        out.push(std::mem::take(&mut current));
                        room = max;
                    }
                }
                continue;
            }
            Op::Quarantine(_) | Op::Restore(_) => continue,
        }
        if room == 0 {
            out.push(std::mem::take(&mut current));
            room = max;
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn piece_size(piece: &Piece<'_>) -> u64 {
    match piece {
        Piece::Delete { keys, .. } => keys.len(),
        Piece::Reinsert { rows, .. } => rows.len() as u64,
        Piece::Update { .. } | Piece::Insert { .. } => 1,
    }
}

/// A progress bar on stderr for a duty of several chunks, only when stderr is a terminal.
fn progress_bar(duty: &str, chunks: &[Vec<Piece<'_>>]) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if chunks.len() < 2 || !std::io::stderr().is_terminal() {
        return None;
    }
    let total = chunks.iter().flatten().map(piece_size).sum();
    let bar = indicatif::ProgressBar::new(total);
    let style =
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} rows, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(duty.to_owned());
    Some(bar)
}

/// Splits keys so the first piece fills `room` and the rest are `max` each.
fn split_to_room(keys: &KeySet, room: u64, max: u64) -> Vec<KeySet> {
    if keys.len() <= room {
        return vec![keys.clone()];
    }
    let mut pieces = plan::split_keys(keys, room);
    let first = pieces.remove(0);
    let rest = plan::concat_keys(&pieces);
    let mut out = vec![first];
    out.extend(plan::split_keys(&rest, max));
    out
}

/// A `WHERE` condition over a key column for a key set, split into statements that bind at
/// most `KEYS_PER_STATEMENT` parameters each (a range binds two, whatever its length).
fn key_conditions(d: &Dialect, column: &str, keys: &KeySet) -> Vec<(String, Vec<Value>)> {
    match keys {
        KeySet::Ranges(ranges) => ranges
            .chunks(usize::try_from(KEYS_PER_STATEMENT / 2).unwrap_or(500))
            .map(|piece| d.in_ranges(column, piece))
            .collect(),
        KeySet::Values(values) => values
            .chunks(usize::try_from(KEYS_PER_STATEMENT).unwrap_or(1000))
            .map(|piece| d.in_keys(column, piece))
            .collect(),
    }
}

/// What one chunk did, before it is committed.
#[derive(Default)]
struct ChunkWork {
    changes: BTreeMap<(String, u8), Vec<Value>>,
    drifted: Vec<Drift>,
    /// Primary rows changed, per category (`None` = uncategorized).
    affected: BTreeMap<Option<String>, u64>,
    /// Rows applied per plan item.
    applied: BTreeMap<u32, u64>,
    dependents: BTreeMap<String, u64>,
    last_table: Option<String>,
}

impl ChunkWork {
    fn change(&mut self, table: &str, action: Action, key: Value) {
        let code = match action {
            Action::Delete => 0,
            Action::Update => 1,
            Action::Insert => 2,
            Action::QuarantineFile | Action::RestoreFile => 3,
        };
        self.changes
            .entry((table.to_owned(), code))
            .or_default()
            .push(key);
    }

    fn table_changes(&self) -> Vec<TableChange> {
        self.changes
            .iter()
            .map(|((table, code), keys)| TableChange {
                table: table.clone(),
                action: match code {
                    0 => Action::Delete,
                    1 => Action::Update,
                    _ => Action::Insert,
                },
                keys: plan::keyset(keys.clone()),
            })
            .collect()
    }

    /// Writes a table header into the payload when the table changes.
    fn header(
        &mut self,
        pw: &mut PayloadWriter,
        table: &str,
        columns: &[String],
    ) -> Result<(), ChunkError> {
        if self.last_table.as_deref() != Some(table) {
            pw.begin_table(table, columns)?;
            self.last_table = Some(table.to_owned());
        }
        Ok(())
    }
}

/// Why a chunk failed (it is rolled back).
#[derive(Debug, thiserror::Error)]
enum ChunkError {
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("payload: {0}")]
    Journal(#[from] housekeeper_journal::JournalError),
    #[error("{0}")]
    Other(String),
}

impl<'a> Executor<'a> {
    /// Applies one duty's plan: journals it, runs its chunks, moves its files. Fills
    /// `report` (affected, categories, dependents, drifted, errors).
    ///
    /// # Errors
    /// Only when the journal cannot be written; the run must then stop.
    pub fn apply(
        &mut self,
        duty: &dyn Duty,
        ctx: &DutyContext<'_>,
        plan: &DutyPlan,
        report: &mut DutyReport,
    ) -> Result<(), ExecError> {
        if !plan.has_changes() {
            return Ok(());
        }
        let duty_name = plan.duty.as_str().to_owned();
        // 0. Room for the records: a duty that cannot make them durable changes nothing.
        if let Err(problem) = self.check_space(plan) {
            report.error(problem);
            return Ok(());
        }
        // 1. The plan, durable before any change.
        let mut pw = self.journal.payload_writer(PayloadKind::Plan)?;
        pw.json_of(plan)?;
        let plan_payload = pw.finish()?;
        let summaries = plan
            .items
            .iter()
            .enumerate()
            .filter(|(_, item)| item.enabled)
            .map(|(i, item)| item.summary(u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        let plan_record = self.journal.append_durable(&Record::Plan {
            run_id: self.run_id.to_owned(),
            duty: duty_name.clone(),
            payload: plan_payload,
            items: summaries,
        })?;
        crashpoint("after-plan");
        let plan_at = (plan_record.seq, plan_record.hash.to_hex().to_string());

        // 2. Row chunks, with a progress bar on a terminal when there is more than one.
        let chunks = chunks(plan, self.chunk_rows);
        let chunk_count = chunks.len();
        let progress = progress_bar(&duty_name, &chunks);
        let mut applied: BTreeMap<u32, u64> = BTreeMap::new();
        for (number, chunk) in chunks.into_iter().enumerate() {
            let size: u64 = chunk.iter().map(piece_size).sum();
            if self.stop.load(Ordering::SeqCst) {
                report.notes.push(
                    "stopped before all chunks were applied (a signal or a --strict conflict)"
                        .into(),
                );
                break;
            }
            let chunk_no = u32::try_from(number).unwrap_or(u32::MAX);
            match self.chunk_with_outcome(duty, ctx, &duty_name, chunk_no, &chunk, &plan_at)? {
                Ok(work) => {
                    for (item, n) in &work.applied {
                        *applied.entry(*item).or_insert(0) += n;
                    }
                    for (category, n) in work.affected {
                        report.affected += n;
                        if let Some(category) = category {
                            *report.categories.entry(category).or_insert(0) += n;
                        }
                    }
                    for (table, n) in work.dependents {
                        *report.dependents.entry(table).or_insert(0) += n;
                    }
                    for drift in &work.drifted {
                        report.drift(&drift.table, plan::key_text(&drift.key), &drift.reason);
                    }
                }
                Err(message) => report.error(message),
            }
            if let Some(bar) = &progress {
                bar.inc(size);
            }
        }

        if let Some(bar) = progress {
            bar.finish_and_clear();
        }

        // 3. Files.
        self.move_files(plan, &duty_name, report)?;

        // 4. The duty's record rows (e.g. `retention_cleanup_jobs`), from what was applied.
        let records = duty.records(plan, &applied);
        if !records.is_empty() && !self.stop.load(Ordering::SeqCst) {
            let pieces: Vec<Piece<'_>> = records
                .iter()
                .map(|(item, op)| Piece::Insert { item: *item, op })
                .collect();
            let chunk_no = u32::try_from(chunk_count).unwrap_or(u32::MAX);
            crashpoint("before-records");
            if let Err(message) =
                self.chunk_with_outcome(duty, ctx, &duty_name, chunk_no, &pieces, &plan_at)?
            {
                report.error(format!("writing the record rows: {message}"));
            }
        }
        if !report.errors.is_empty() {
            report.status = Status::Failed;
        }
        Ok(())
    }

    /// Fails when the journal's or the quarantine's filesystem lacks room for this plan's
    /// records: a fixed reserve plus an estimate of the row images and the files to move.
    fn check_space(&self, plan: &DutyPlan) -> Result<(), String> {
        let rows: u64 = plan
            .items
            .iter()
            .filter(|i| i.enabled && !i.is_file())
            .map(Item::size)
            .sum();
        let files: u64 = plan
            .items
            .iter()
            .filter(|i| i.enabled)
            .filter_map(|i| match &i.op {
                Op::Quarantine(f) => Some(f.size),
                _ => None,
            })
            .sum();
        let journal_needs = MIN_FREE_BYTES + rows.saturating_mul(BYTES_PER_ROW_IMAGE);
        let dirs = [
            (self.journal.dir().to_path_buf(), journal_needs),
            (
                self.quarantine
                    .root()
                    .parent()
                    .unwrap_or(self.quarantine.root())
                    .to_path_buf(),
                MIN_FREE_BYTES + files,
            ),
        ];
        for (dir, needed) in dirs {
            let available = match fs4::available_space(&dir) {
                Ok(n) => n,
                Err(e) => {
                    return Err(format!(
                        "cannot check the free space of {}: {e}; nothing was changed",
                        dir.display()
                    ))
                }
            };
            if available < needed {
                return Err(format!(
                    "not enough free space in {}: {} KiB available, about {} KiB needed for the journal and quarantine of this duty; nothing was changed",
                    dir.display(),
                    available / 1024,
                    needed / 1024
                ));
            }
        }
        Ok(())
    }

    /// Runs one chunk in its transaction and journals its outcome: `committed` with its
    /// changes and row images, or `aborted` with the error class and text. The one path for a
    /// plan's chunks and for a duty's record rows, so no chunk ends without its outcome.
    /// Returns the chunk's work, or the message of its rollback.
    ///
    /// # Errors
    /// Only when the journal cannot be written.
    fn chunk_with_outcome(
        &mut self,
        duty: &dyn Duty,
        ctx: &DutyContext<'_>,
        duty_name: &str,
        chunk_no: u32,
        pieces: &[Piece<'_>],
        (plan_seq, plan_hash): &(u64, String),
    ) -> Result<Result<ChunkWork, String>, ExecError> {
        let items = vec![(
            pieces.first().map_or(0, Piece::item),
            pieces.last().map_or(0, Piece::item),
        )];
        match self.run_chunk(
            duty,
            ctx,
            duty_name,
            chunk_no,
            pieces,
            (*plan_seq, plan_hash),
        ) {
            Ok((work, payload)) => {
                self.journal.append_durable(&Record::ChunkOutcome {
                    run_id: self.run_id.to_owned(),
                    duty: duty_name.to_owned(),
                    chunk: chunk_no,
                    items,
                    status: ChunkStatus::Committed,
                    changes: work.table_changes(),
                    drifted: work.drifted.clone(),
                    payload: Some(payload),
                    error: None,
                    error_payload: None,
                })?;
                Ok(Ok(work))
            }
            Err(error) => {
                let message = format!("chunk {chunk_no} rolled back: {error}");
                let mut details = self.journal.payload_writer(PayloadKind::Details)?;
                details.json(&serde_json::json!({ "error": message }).to_string())?;
                let details = details.finish()?;
                self.journal.append_durable(&Record::ChunkOutcome {
                    run_id: self.run_id.to_owned(),
                    duty: duty_name.to_owned(),
                    chunk: chunk_no,
                    items,
                    status: ChunkStatus::Aborted,
                    changes: Vec::new(),
                    drifted: Vec::new(),
                    payload: None,
                    error: Some(error_class(&error)),
                    error_payload: Some(details),
                })?;
                Ok(Err(message))
            }
        }
    }

    fn run_chunk(
        &mut self,
        duty: &dyn Duty,
        ctx: &DutyContext<'_>,
        duty_name: &str,
        chunk_no: u32,
        chunk: &[Piece<'_>],
        (plan_seq, plan_hash): (u64, &str),
    ) -> Result<(ChunkWork, housekeeper_journal::PayloadRef), ChunkError> {
        let mut work = ChunkWork::default();
        let mut pw = self.journal.payload_writer(PayloadKind::RowImages)?;
        let mut tx = self.conn.begin()?;
        for piece in chunk {
            match piece {
                Piece::Delete {
                    item,
                    op,
                    keys,
                    source,
                } => {
                    exec_delete(
                        &mut *tx, &mut pw, &mut work, duty, ctx, *item, op, keys, source,
                    )?;
                }
                Piece::Update { item, op, source } => {
                    exec_update(&mut *tx, &mut pw, &mut work, duty, ctx, *item, op, source)?;
                }
                Piece::Insert { op, .. } => insert_row(&mut *tx, &mut pw, &mut work, op)?,
                Piece::Reinsert { item, op, rows } => {
                    exec_reinsert(&mut *tx, &mut pw, &mut work, ctx.schema, *item, op, rows)?;
                }
            }
        }
        if self.strict {
            if let Some(first) = work.drifted.first() {
                self.stop.store(true, Ordering::SeqCst);
                return Err(ChunkError::Other(format!(
                    "--strict: {} {} {}; this chunk is rolled back and nothing more is changed",
                    first.table,
                    plan::key_text(&first.key),
                    crate::report::reason_text(&first.reason)
                )));
            }
        }
        let payload = pw.finish()?;
        anchor::insert(
            &mut *tx,
            self.journal_id,
            &anchor::Anchor {
                run_id: self.run_id.to_owned(),
                duty: duty_name.to_owned(),
                chunk: chunk_no,
                record_seq: plan_seq,
                record_hash: plan_hash.to_owned(),
                payload_digest: Some(payload.digest),
                payload_len: Some(payload.len),
            },
        )?;
        crashpoint("before-commit");
        tx.commit()?;
        crashpoint("after-commit");
        Ok((work, payload))
    }
}

fn error_class(error: &ChunkError) -> String {
    match error {
        ChunkError::Db(DbError::Statement {
            code: Some(code), ..
        }) => format!("sql_error {code}"),
        ChunkError::Db(_) => "sql_error".into(),
        ChunkError::Journal(_) => "journal_error".into(),
        ChunkError::Other(_) => "error".into(),
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

/// Deletes rows with capture, writing every deleted row into the payload.
#[allow(clippy::too_many_arguments)]
fn delete_rows(
    tx: &mut dyn WriteTx,
    pw: &mut PayloadWriter,
    work: &mut ChunkWork,
    schema: &SchemaFacts,
    table: &str,
    column: &str,
    keys: &KeySet,
    key_column: &str,
    mut on_row: impl FnMut(&Value),
) -> Result<u64, ChunkError> {
    let columns = table_columns(schema, table)?;
    let key_at = columns.iter().position(|c| c == key_column);
    let d = *tx.dialect();
    let mut total = 0;
    for (where_sql, params) in key_conditions(&d, column, keys) {
        work.header(pw, table, &columns)?;
        let mut failure: Option<ChunkError> = None;
        let (got, n) = tx.delete_capture(table, &where_sql, &params, &mut |row| {
            if failure.is_none() {
                if let Err(e) = pw.row(RowRole::Deleted, row) {
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

#[allow(clippy::too_many_arguments)]
fn exec_delete(
    tx: &mut dyn WriteTx,
    pw: &mut PayloadWriter,
    work: &mut ChunkWork,
    duty: &dyn Duty,
    ctx: &DutyContext<'_>,
    item: u32,
    op: &DeleteRows,
    keys: &KeySet,
    source: &Item,
) -> Result<(), ChunkError> {
    let d = *tx.dialect();
    // Re-check: which planned rows still qualify.
    let keys = match op.guard {
        plan::Guard::Exists => keys.clone(),
        plan::Guard::Duty => {
            let mut kept = Vec::new();
            let mut found = HashSet::new();
            for (where_sql, params) in key_conditions(&d, &op.key_column, keys) {
                let rows = tx.select_for_update(&op.table, &where_sql, &params)?;
                let key_at = rows.index(&op.key_column).ok_or_else(|| {
                    ChunkError::Other(format!(
                        "table {} has no column {}",
                        op.table, op.key_column
                    ))
                })?;
                for row in &rows.rows {
                    let key = row[key_at].clone();
                    found.insert(RowKey::of(&key));
                    let current = RowRef {
                        columns: &rows.columns,
                        values: row,
                    };
                    match duty.recheck(&mut *tx, ctx, source, current)? {
                        Some(reason) => work.drifted.push(Drift {
                            item,
                            table: op.table.clone(),
                            key,
                            reason,
                        }),
                        None => kept.push(key),
                    }
                }
            }
            let planned: Box<dyn Iterator<Item = Value>> = match keys {
                KeySet::Values(values) => Box::new(values.iter().cloned()),
                KeySet::Ranges(ranges) => Box::new(
                    ranges
                        .iter()
                        .flat_map(|(lo, hi)| (*lo..=*hi).map(Value::Int)),
                ),
            };
            for key in planned {
                if !found.contains(&RowKey::of(&key)) {
                    work.drifted.push(Drift {
                        item,
                        table: op.table.clone(),
                        key,
                        reason: "gone".into(),
                    });
                }
            }
            plan::keyset(kept)
        }
    };
    if keys.is_empty() {
        return Ok(());
    }
    // Dependent rows first, explicitly, so nothing disappears through a cascade unseen.
    for dep in &op.dependents {
        if ctx.schema.table(&dep.table).is_none() {
            continue;
        }
        let dep_key = ctx
            .schema
            .table(&dep.table)
            .and_then(|t| t.primary_key.first().cloned())
            .unwrap_or_else(|| "id".into());
        let mut dep_keys = Vec::new();
        let n = delete_rows(
            tx,
            pw,
            work,
            ctx.schema,
            &dep.table,
            &dep.column,
            &keys,
            &dep_key,
            |k| dep_keys.push(k.clone()),
        )?;
        for k in dep_keys {
            work.change(&dep.table, Action::Delete, k);
        }
        if n > 0 {
            *work.dependents.entry(dep.table.clone()).or_insert(0) += n;
        }
    }
    let mut deleted = Vec::new();
    let n = delete_rows(
        tx,
        pw,
        work,
        ctx.schema,
        &op.table,
        &op.key_column,
        &keys,
        &op.key_column,
        |k| deleted.push(k.clone()),
    )?;
    let planned = keys.len();
    if n < planned {
        match &keys {
            KeySet::Values(values) => {
                let got: HashSet<RowKey> = deleted.iter().map(RowKey::of).collect();
                for key in values.iter().filter(|k| !got.contains(&RowKey::of(k))) {
                    work.drifted.push(Drift {
                        item,
                        table: op.table.clone(),
                        key: key.clone(),
                        reason: "gone".into(),
                    });
                }
            }
            KeySet::Ranges(_) => {
                let got: HashSet<i64> = deleted.iter().filter_map(Value::as_i64).collect();
                let mut reported = 0;
                if let KeySet::Ranges(ranges) = &keys {
                    'outer: for (lo, hi) in ranges {
                        for k in *lo..=*hi {
                            if !got.contains(&k) {
                                work.drifted.push(Drift {
                                    item,
                                    table: op.table.clone(),
                                    key: Value::Int(k),
                                    reason: "gone".into(),
                                });
                                reported += 1;
                                if reported >= planned - n {
                                    break 'outer;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    for k in deleted {
        work.change(&op.table, Action::Delete, k);
    }
    *work.affected.entry(source.category.clone()).or_insert(0) += n;
    *work.applied.entry(item).or_insert(0) += n;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn exec_update(
    tx: &mut dyn WriteTx,
    pw: &mut PayloadWriter,
    work: &mut ChunkWork,
    duty: &dyn Duty,
    ctx: &DutyContext<'_>,
    item: u32,
    op: &UpdateRow,
    source: &Item,
) -> Result<(), ChunkError> {
    let d = *tx.dialect();
    let key_where = format!("{} = ?", d.quote(&op.key_column));
    let rows = tx.select_for_update(&op.table, &key_where, std::slice::from_ref(&op.key))?;
    let drift = |reason: &str| Drift {
        item,
        table: op.table.clone(),
        key: op.key.clone(),
        reason: reason.into(),
    };
    if let Some(reason) = conflicts::update_conflict(
        &mut *tx,
        ctx.schema,
        op,
        &rows.columns,
        rows.rows.first().map(Vec::as_slice),
    )? {
        work.drifted.push(drift(reason));
        return Ok(());
    }
    let Some(row) = rows.rows.first() else {
        return Ok(());
    };
    let current = RowRef {
        columns: &rows.columns,
        values: row,
    };
    if op.guard == plan::Guard::Duty {
        if let Some(reason) = duty.recheck(&mut *tx, ctx, source, current)? {
            work.drifted.push(drift(&reason));
            return Ok(());
        }
    }
    update_row(
        tx,
        pw,
        work,
        ctx.schema,
        &op.table,
        &op.key_column,
        &op.key,
        &rows.columns,
        row,
        &op.changes,
    )?;
    *work.affected.entry(source.category.clone()).or_insert(0) += 1;
    *work.applied.entry(item).or_insert(0) += 1;
    Ok(())
}

/// Writes the before image, updates the row (columns with ON UPDATE CURRENT_TIMESTAMP set to
/// themselves), re-reads it and writes the after image.
#[allow(clippy::too_many_arguments)]
fn update_row(
    tx: &mut dyn WriteTx,
    pw: &mut PayloadWriter,
    work: &mut ChunkWork,
    schema: &SchemaFacts,
    table: &str,
    key_column: &str,
    key: &Value,
    columns: &[String],
    before: &[Value],
    changes: &[plan::Change],
) -> Result<(), ChunkError> {
    let d = *tx.dialect();
    let mut sets: Vec<String> = changes
        .iter()
        .map(|c| format!("{} = ?", d.quote(&c.column)))
        .collect();
    let mut params: Vec<Value> = changes.iter().map(|c| c.new.clone()).collect();
    if let Some(info) = schema.table(table) {
        for col in info.columns.iter().filter(|c| c.on_update_now) {
            if !changes.iter().any(|c| c.column == col.name) {
                let q = d.quote(&col.name);
                sets.push(format!("{q} = {q}"));
            }
        }
    }
    params.push(key.clone());
    let sql = format!(
        "UPDATE {} SET {} WHERE {} = ?",
        d.quote(table),
        sets.join(", "),
        d.quote(key_column)
    );
    work.header(pw, table, columns)?;
    pw.row(RowRole::Before, before)?;
    tx.execute(&sql, &params)?;
    let after = tx.select_for_update(
        table,
        &format!("{} = ?", d.quote(key_column)),
        std::slice::from_ref(key),
    )?;
    let after_row = after.rows.first().ok_or_else(|| {
        ChunkError::Other(format!(
            "{table} {key_column}={key} vanished during its update"
        ))
    })?;
    pw.row(RowRole::After, after_row)?;
    work.change(table, Action::Update, key.clone());
    Ok(())
}

/// Parameters bound per multi-row INSERT at most (engines limit them).
const VALUES_PER_INSERT: usize = 900;

/// Puts rows back with their keys (undo): keys already taken are found with one query per
/// `KEYS_PER_STATEMENT` keys, other conflicts (unique values; parents, where the engine
/// enforces foreign keys) row by row where the table has any, and the free rows go back in
/// multi-row INSERTs, each row's image written to the payload. Conflicts are reported as drift.
#[allow(clippy::too_many_arguments)]
fn exec_reinsert(
    tx: &mut dyn WriteTx,
    pw: &mut PayloadWriter,
    work: &mut ChunkWork,
    schema: &SchemaFacts,
    item: u32,
    op: &ReinsertRows,
    rows: &[Vec<Value>],
) -> Result<(), ChunkError> {
    let d = *tx.dialect();
    let key_at = op.key_at().ok_or_else(|| {
        ChunkError::Other(format!(
            "rows of {} without their {} column",
            op.table, op.key_column
        ))
    })?;
    let keys: Vec<Value> = rows.iter().map(|r| r[key_at].clone()).collect();
    let mut taken: HashSet<RowKey> = HashSet::new();
    for (where_sql, params) in key_conditions(&d, &op.key_column, &KeySet::Values(keys)) {
        let sql = format!(
            "SELECT {} FROM {} WHERE {where_sql}",
            d.quote(&op.key_column),
            d.quote(&op.table)
        );
        tx.query_each(&sql, &params, &mut |row| {
            if let Some(key) = row.first() {
                taken.insert(RowKey::of(key));
            }
            Ok(())
        })?;
    }
    let more_checks = conflicts::needs_more_than_key(schema, &op.table, &d);
    // A table that refers to itself needs each row in place before the next is checked.
    let self_referencing = schema.table(&op.table).is_some_and(|t| {
        t.foreign_keys
            .iter()
            .any(|fk| fk.referenced_table == op.table)
    });
    let batch = if self_referencing {
        1
    } else {
        (VALUES_PER_INSERT / op.columns.len().max(1)).max(1)
    };
    let mut free: Vec<&[Value]> = Vec::with_capacity(batch);
    for row in rows {
        let key = &row[key_at];
        let conflict = if taken.contains(&RowKey::of(key)) {
            Some("key_reused")
        } else if more_checks {
            let new_row = conflicts::NewRow {
                table: &op.table,
                key_column: &op.key_column,
                columns: &op.columns,
                values: row,
            };
            conflicts::other_conflict(&mut *tx, schema, new_row, &conflicts::NoneYet)?
        } else {
            None
        };
        if let Some(reason) = conflict {
            work.drifted.push(Drift {
                item,
                table: op.table.clone(),
                key: key.clone(),
                reason: reason.into(),
            });
            continue;
        }
        free.push(row);
        if free.len() >= batch {
            insert_batch(tx, pw, work, item, op, key_at, &free)?;
            free.clear();
        }
    }
    if !free.is_empty() {
        insert_batch(tx, pw, work, item, op, key_at, &free)?;
    }
    Ok(())
}

/// One multi-row INSERT of rows put back, with their images.
fn insert_batch(
    tx: &mut dyn WriteTx,
    pw: &mut PayloadWriter,
    work: &mut ChunkWork,
    item: u32,
    op: &ReinsertRows,
    key_at: usize,
    rows: &[&[Value]],
) -> Result<(), ChunkError> {
    let d = *tx.dialect();
    let cols: Vec<String> = op.columns.iter().map(|c| d.quote(c)).collect();
    let one = format!("({})", d.placeholders(cols.len()));
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        d.quote(&op.table),
        cols.join(", "),
        vec![one; rows.len()].join(", ")
    );
    let params: Vec<Value> = rows.iter().flat_map(|r| r.iter().cloned()).collect();
    tx.execute(&sql, &params)?;
    work.header(pw, &op.table, &op.columns)?;
    for row in rows {
        pw.row(RowRole::Inserted, row)?;
        work.change(&op.table, Action::Insert, row[key_at].clone());
    }
    let n = rows.len() as u64;
    *work.affected.entry(None).or_insert(0) += n;
    *work.applied.entry(item).or_insert(0) += n;
    Ok(())
}

/// Inserts the row and writes its image into the payload.
fn insert_row(
    tx: &mut dyn WriteTx,
    pw: &mut PayloadWriter,
    work: &mut ChunkWork,
    op: &InsertRow,
) -> Result<(), ChunkError> {
    let d = *tx.dialect();
    let cols: Vec<String> = op.columns.iter().map(|c| d.quote(c)).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        d.quote(&op.table),
        cols.join(", "),
        d.placeholders(cols.len())
    );
    tx.execute(&sql, &op.values)?;
    work.header(pw, &op.table, &op.columns)?;
    pw.row(RowRole::Inserted, &op.values)?;
    Ok(())
}

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
