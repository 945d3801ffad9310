//! The executor: applies a duty's plan, the same way for `run`, `apply FILE` and `undo`.
//!
//! Protocol (ARCHITECTURE.md, journal/FORMAT.md), per duty:
//! 1. the plan (keys in the chained record, values in a plan payload) is appended and fsynced;
//!    the payload's JSON and the record's summaries are written item by item, never held whole
//!    beside the plan, and the reasons' sentences (in the payload) are let go before the chunks;
//! 2. per chunk of at most `CHUNK_ROWS` items, one write transaction: every item's condition
//!    is re-checked on the locked current rows (drifted items are skipped and reported, never
//!    forced), dependent rows are deleted explicitly before their parent, full row images are
//!    written to a payload blob that is fsynced before COMMIT, and an anchor row is inserted;
//!    then COMMIT, then the chunk's outcome record (fsynced);
//! 3. files, in batches (`files`): the batch's intent records (one fsync) before any of its
//!    files moves to the quarantine, the moves and one sync of each directory they changed,
//!    then the outcome records (one fsync).
//!
//! A failing chunk rolls back alone, with an `aborted` outcome, and marks its duty failed. The
//! executor never decides what to change: it only applies plans, and it writes files only
//! through `quarantine` and the journal. Its parts: `chunks` (items into chunks), `rows` (a
//! chunk's row operations), `files` (the file batches); this module runs them in order. An
//! undo's re-insert carries no rows: they are read from the undone run's payload
//! (`undo::images`) when its first chunk comes, one item's rows in memory at a time.

pub mod anchor;
mod chunks;
pub mod conflicts;
pub mod expiry;
mod files;
pub mod fold;
pub mod log_rows;
pub mod recover;
mod rows;
pub mod trust;

pub use rows::same_value;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use housekeeper_journal::{Action, ChunkStatus, Drift, PayloadKind, Record, TableChange, Value};
use housekeeper_journal::{Journal, PayloadWriter};

use crate::db::{Connection, DbError};
use crate::duties::{Duty, DutyContext};
use crate::plan::{self, DutyPlan, Item, Op};
use crate::quarantine::Quarantine;
use crate::report::{DutyReport, Status};
use chunks::{chunks, piece_size, progress_bar, Piece};

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
    /// The database connection is gone. The chunk in flight has no outcome: whether its
    /// commit took effect is for the next start's recovery to find out (by its anchor row).
    #[error("{0}")]
    Lost(String),
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

/// What one chunk did, before it is committed.
#[derive(Default)]
pub(super) struct ChunkWork {
    changes: BTreeMap<(String, u8), ChangedKeys>,
    drifted: Vec<Drift>,
    /// Primary rows changed, per category (`None` = uncategorized).
    affected: BTreeMap<Option<std::borrow::Cow<'static, str>>, u64>,
    /// Rows applied per plan item.
    applied: BTreeMap<u32, u64>,
    dependents: BTreeMap<String, u64>,
    last_table: Option<String>,
}

impl ChunkWork {
    fn change(&mut self, table: &str, action: Action, key: Value) {
        self.changed(table, action).push(key);
    }

    /// Keys changed in `table`, gathered by the caller.
    fn change_all(&mut self, table: &str, action: Action, keys: ChangedKeys) {
        if keys.ints.is_empty() && keys.others.is_empty() {
            // A table nothing was changed in is not named in the outcome.
            return;
        }
        let into = self.changed(table, action);
        if into.ints.is_empty() && into.others.is_empty() {
            *into = keys;
        } else {
            into.ints.extend(keys.ints);
            into.others.extend(keys.others);
        }
    }

    fn changed(&mut self, table: &str, action: Action) -> &mut ChangedKeys {
        let code = match action {
            Action::Delete => 0,
            Action::Update => 1,
            Action::Insert => 2,
            Action::QuarantineFile | Action::RestoreFile => 3,
        };
        self.changes.entry((table.to_owned(), code)).or_default()
    }

    /// The changed keys per table, for the chunk's outcome record; they are not kept.
    fn take_table_changes(&mut self) -> Vec<TableChange> {
        std::mem::take(&mut self.changes)
            .into_iter()
            .map(|((table, code), keys)| TableChange {
                table,
                action: match code {
                    0 => Action::Delete,
                    1 => Action::Update,
                    _ => Action::Insert,
                },
                keys: keys.into_keyset(),
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

/// The keys a chunk changed in one table: integer keys (nearly all) as 8 bytes each rather
/// than a 32-byte `Value`, so a chunk of a hundred thousand dependent rows keeps them small.
#[derive(Default)]
pub(super) struct ChangedKeys {
    ints: Vec<i64>,
    others: Vec<Value>,
}

impl ChangedKeys {
    fn push(&mut self, key: Value) {
        match key {
            Value::Int(k) => self.ints.push(k),
            other => self.others.push(other),
        }
    }

    /// The same key set as `plan::keyset` of every key pushed.
    fn into_keyset(self) -> housekeeper_journal::KeySet {
        if self.others.is_empty() {
            let mut ints = self.ints;
            ints.sort_unstable();
            ints.dedup();
            return housekeeper_journal::KeySet::Ranges(plan::ranges_of(&ints));
        }
        let mut all = self.others;
        all.extend(self.ints.into_iter().map(Value::Int));
        plan::keyset(all)
    }
}

/// Why a chunk failed (it is rolled back).
#[derive(Debug, thiserror::Error)]
pub(super) enum ChunkError {
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("payload: {0}")]
    Journal(#[from] housekeeper_journal::JournalError),
    #[error("{0}")]
    Other(String),
}

impl<'a> Executor<'a> {
    /// Applies one duty's plan: journals it, runs its chunks, moves its files. The plan is
    /// consumed: once journaled, what only the journal needs (the reasons' sentences) is let
    /// go before the chunks run. Fills
    /// `report` (affected, categories, dependents, drifted, errors).
    ///
    /// # Errors
    /// Only when the journal cannot be written; the run must then stop.
    pub fn apply(
        &mut self,
        duty: &dyn Duty,
        ctx: &DutyContext<'_>,
        mut plan: DutyPlan,
        report: &mut DutyReport,
    ) -> Result<(), ExecError> {
        if !plan.has_changes() {
            return Ok(());
        }
        let duty_name = plan.duty.as_str().to_owned();
        // 0. Room for the records: a duty that cannot make them durable changes nothing.
        if let Err(problem) = self.check_space(&plan) {
            report.error(problem);
            return Ok(());
        }
        // 1. The plan, durable before any change.
        let mut pw = self.journal.payload_writer(PayloadKind::Plan)?;
        pw.json_of(&plan)?;
        let plan_payload = pw.finish()?;
        // The sentences are in the plan payload now; the chained record, the chunks and the
        // report need none of them.
        for item in &mut plan.items {
            item.reason.text = String::new();
        }
        // The chained summaries are encoded one at a time, never all in memory beside the plan.
        let enabled = plan.items.iter().filter(|item| item.enabled).count();
        let mut summaries = plan
            .items
            .iter()
            .enumerate()
            .filter(|(_, item)| item.enabled)
            .map(|(i, item)| item.summary(u32::try_from(i).unwrap_or(u32::MAX)));
        let plan_record = self.journal.append_plan_durable(
            (self.run_id, &duty_name),
            &plan_payload,
            enabled,
            &mut summaries,
        )?;
        crashpoint("after-plan");
        let plan_at = (plan_record.seq, plan_record.hash.to_hex().to_string());
        let plan = &plan;

        // 2. Row chunks, with a progress bar on a terminal when there is more than one.
        let pieces = chunks(plan, self.chunk_rows);
        let chunk_count = pieces.len();
        let progress = progress_bar(&duty_name, &pieces);
        let mut applied: BTreeMap<u32, u64> = BTreeMap::new();
        let mut images = Reinserting::default();
        for (number, chunk) in pieces.into_iter().enumerate() {
            let size: u64 = chunk.iter().map(piece_size).sum();
            if self.stop.load(Ordering::SeqCst) {
                report.notes.push(
                    "stopped before all chunks were applied (a signal or a --strict conflict)"
                        .into(),
                );
                break;
            }
            let chunk_no = u32::try_from(number).unwrap_or(u32::MAX);
            match self.chunk_with_outcome(
                duty,
                ctx,
                (&duty_name, chunk_no),
                &chunk,
                &plan_at,
                &mut images,
            )? {
                Ok(work) => {
                    for (item, n) in &work.applied {
                        *applied.entry(*item).or_insert(0) += n;
                    }
                    for (category, n) in work.affected {
                        report.affected += n;
                        if let Some(category) = category {
                            *report.categories.entry(category.into_owned()).or_insert(0) += n;
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
            if let Err(message) = self.chunk_with_outcome(
                duty,
                ctx,
                (&duty_name, chunk_no),
                &pieces,
                &plan_at,
                &mut images,
            )? {
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
            let available = match crate::state::available_space(&dir) {
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
        (duty_name, chunk_no): (&str, u32),
        pieces: &[Piece<'_>],
        (plan_seq, plan_hash): &(u64, String),
        images: &mut Reinserting,
    ) -> Result<Result<ChunkWork, String>, ExecError> {
        let items = vec![(
            pieces.first().map_or(0, Piece::item),
            pieces.last().map_or(0, Piece::item),
        )];
        match self.run_chunk(
            duty,
            ctx,
            (duty_name, chunk_no),
            pieces,
            (*plan_seq, plan_hash),
            images,
        ) {
            Ok((mut work, payload)) => {
                self.journal.append_durable(&Record::ChunkOutcome {
                    run_id: self.run_id.to_owned(),
                    duty: duty_name.to_owned(),
                    chunk: chunk_no,
                    items,
                    status: ChunkStatus::Committed,
                    changes: work.take_table_changes(),
                    drifted: work.drifted.clone(),
                    payload: Some(payload),
                    error: None,
                    error_payload: None,
                })?;
                Ok(Ok(work))
            }
            Err(ChunkError::Db(DbError::Lost(detail))) => Err(ExecError::Lost(format!(
                "the database connection was lost during chunk {chunk_no} of {duty_name}: {detail}"
            ))),
            Err(error) => {
                let mut message = format!("chunk {chunk_no} rolled back: {error}");
                if let ChunkError::Db(DbError::LockTimeout { .. }) = &error {
                    message.push_str(&crate::db::holders_text(&mut *self.conn));
                }
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
        (duty_name, chunk_no): (&str, u32),
        chunk: &[Piece<'_>],
        (plan_seq, plan_hash): (u64, &str),
        images: &mut Reinserting,
    ) -> Result<(ChunkWork, housekeeper_journal::PayloadRef), ChunkError> {
        let journal_dir = self.journal.dir().to_path_buf();
        let mut work = ChunkWork::default();
        let mut pw = self.journal.payload_writer(PayloadKind::RowImages)?;
        let mut tx = self.conn.begin()?;
        let mut rows = rows::ChunkTx {
            tx: &mut *tx,
            pw: &mut pw,
            work: &mut work,
            schema: ctx.schema,
        };
        let mut rest = chunk;
        while let Some(piece) = rest.first() {
            let mut taken = 1;
            match piece {
                Piece::Delete { op, .. } => {
                    let members = chunks::delete_set(rest);
                    taken = members.len();
                    rows.delete(duty, ctx, op, &members)?;
                }
                Piece::Update { .. } => {
                    let members = chunks::update_set(rest);
                    taken = members.len();
                    rows.update(duty, ctx, &members)?;
                }
                Piece::Insert { op, .. } => rows.insert_row(op)?,
                Piece::Reinsert { item, op, from, to } => {
                    let all = images.rows(&journal_dir, *item, op, ctx.schema)?;
                    rows.reinsert(*item, op, all.get(*from..*to).unwrap_or_default())?;
                }
            }
            rest = &rest[taken..];
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

/// The rows of the re-insert item being applied, read from the undone run's payload once for
/// all the chunks the item spans: one item's rows in memory at a time.
#[derive(Default)]
struct Reinserting {
    item: Option<u32>,
    rows: Vec<Vec<Value>>,
}

impl Reinserting {
    fn rows(
        &mut self,
        journal_dir: &std::path::Path,
        item: u32,
        op: &plan::ReinsertRows,
        schema: &crate::db::SchemaFacts,
    ) -> Result<&[Vec<Value>], ChunkError> {
        if self.item != Some(item) {
            self.item = None;
            self.rows = Vec::new();
            self.rows =
                crate::undo::images::read(journal_dir, op, schema).map_err(|e| match e {
                    crate::undo::UndoError::Journal(e) => ChunkError::Journal(e),
                    e => ChunkError::Other(e.to_string()),
                })?;
            self.item = Some(item);
        }
        Ok(&self.rows)
    }
}

fn error_class(error: &ChunkError) -> String {
    match error {
        ChunkError::Db(DbError::Statement {
            code: Some(code), ..
        }) => format!("sql_error {code}"),
        ChunkError::Db(DbError::LockTimeout { .. }) => "lock_timeout".into(),
        ChunkError::Db(DbError::Cancelled { .. }) => "cancelled".into(),
        ChunkError::Db(_) => "sql_error".into(),
        ChunkError::Journal(_) => "journal_error".into(),
        ChunkError::Other(_) => "error".into(),
    }
}
