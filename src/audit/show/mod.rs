//! What a run did, item by item: `journal list` (one line per run) and `journal show`
//! (the run header, each duty's plan items, the committed chunks' row images, drifted items,
//! files and errors), as data (`RunSummary`, `RunDetail`, serialized for `--format json`)
//! and as text for people (`text`).
//!
//! Without a limit of rows (`--format json`), a chunk's row images are not collected: each
//! payload is checked when the detail is built and read again while the document is written
//! (`ChunkTables::Streamed`), so no more than one chunk's rows are in memory.
//!
//! Read-only: built from the journal index and the payload blobs; never writes anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use housekeeper_journal::{
    Action, ChunkStatus, Drift, FileStatus, ItemSummary, KeySet, PathBytes, RowRole, RunKind, Value,
};
use serde::Serialize;

use super::payloads::{self, PayloadState, RowImage, TableImages};
use super::{FileInfo, JournalIndex, RunInfo};
use crate::plan::{Finding, Item};
use crate::text::Escaped;

mod text;

pub use text::{list_text, show_text};

/// At most this many rows (or plan items) per table and duty in text output.
pub const MAX_TEXT_ROWS: usize = 50;

/// One duty's count of a run, for duties that changed something.
#[derive(Debug, Clone, Serialize)]
pub struct DutyCount {
    pub duty: String,
    pub affected: u64,
}

/// One run as `journal list` shows it (and the header of `journal show`).
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    /// `run`, `apply`, `undo` or `maintenance`.
    pub kind: &'static str,
    /// The run an undo undid.
    pub of_run: Option<String>,
    pub started_utc: String,
    pub ended_utc: Option<String>,
    /// The run's `now`, `YYYY-MM-DD HH:MM:SS[.ffffff]`.
    pub now: String,
    pub host: String,
    pub user: String,
    pub database: String,
    pub tool_version: String,
    /// `ok`, `failed`, `aborted`, or `open` (not ended: interrupted).
    pub status: String,
    /// Duties whose `DutyEnd` counted changes, with the count (read-only duties left out).
    pub changed: Vec<DutyCount>,
    /// Files moved (into the quarantine, or back out of it for an undo).
    pub files_moved: u64,
    /// `yes`, or in a few words why not: `undone by <id>`, `past undo window`, `nothing
    /// changed`, `is an undo`, `maintenance`, `open`.
    pub undo: String,
    /// The full sentence when it cannot be undone.
    pub undo_reason: Option<String>,
    pub undone_by: Vec<String>,
    /// When its payloads or quarantined files were destroyed.
    pub expired_utc: Option<String>,
    /// Rows and files undo runs put back (every item at most once).
    pub items_restored: u64,
    /// Rows and files still undoable: not restored yet (not selected, or a conflict); 0
    /// when the run cannot be undone.
    pub items_undoable: u64,
    /// Per duty that changed something an undo can put back.
    pub undo_duties: Vec<crate::audit::DutyUndo>,
    /// Until when what remains can be undone (the run's start plus `UNDO_DAYS`); `None` when
    /// nothing can be undone.
    pub undoable_until: Option<String>,
}

impl RunSummary {
    #[must_use]
    pub fn of(run: &RunInfo) -> RunSummary {
        let reason = run.not_undoable(None);
        let undo_duties = run.undo_progress();
        let items_restored: u64 = undo_duties.iter().map(|d| d.restored).sum();
        let items_undoable: u64 = if reason.is_none() {
            undo_duties.iter().map(|d| d.undoable).sum()
        } else {
            0
        };
        let undo = match &reason {
            None if items_restored == 0 => "yes".to_owned(),
            None => format!("yes, {items_undoable} left"),
            Some(_) if run.undo_of().is_some() => "is an undo".to_owned(),
            Some(_) if matches!(run.kind, RunKind::Maintenance) => "maintenance".to_owned(),
            Some(_) if run.end.is_none() => "open".to_owned(),
            Some(_) if !undo_duties.is_empty() && undo_duties.iter().all(|d| d.undoable == 0) => {
                let ids = run.restorers(None);
                format!("undone by {}", ids.join(", "))
            }
            Some(_) if run.expired() => "past undo window".to_owned(),
            Some(_) => "nothing changed".to_owned(),
        };
        RunSummary {
            run_id: run.run_id.clone(),
            kind: run.kind_name(),
            of_run: run.undo_of().map(str::to_owned),
            started_utc: run.started_utc.clone(),
            ended_utc: run.end.as_ref().map(|(_, when)| when.clone()),
            now: run.now.to_string(),
            host: run.host.clone(),
            user: run.user.clone(),
            database: run.database.clone(),
            tool_version: run.tool_version.clone(),
            status: run
                .end
                .as_ref()
                .map_or_else(|| "open".to_owned(), |(status, _)| status.clone()),
            changed: run
                .duties
                .iter()
                .filter(|d| {
                    d.duty
                        .parse::<crate::duties::DutyName>()
                        .map_or(true, |name| !name.is_read_only())
                })
                .filter_map(|d| {
                    d.end
                        .as_ref()
                        .filter(|(_, affected, _, _)| *affected > 0)
                        .map(|(_, affected, _, _)| DutyCount {
                            duty: d.duty.clone(),
                            affected: *affected,
                        })
                })
                .collect(),
            files_moved: run
                .files
                .iter()
                .filter(|f| matches!(f.status, Some(FileStatus::Moved)))
                .count() as u64,
            undo,
            undo_reason: reason,
            undone_by: run.undone_by.iter().map(|(id, _)| id.clone()).collect(),
            expired_utc: run.expired_utc.clone(),
            items_restored,
            items_undoable,
            undo_duties,
            undoable_until: None,
        }
    }

    /// Sets `undoable_until` for an undo window of `days` (a run that can be undone).
    #[must_use]
    pub fn with_window(mut self, run: &RunInfo, days: u32) -> RunSummary {
        if self.undo_reason.is_none() {
            self.undoable_until = crate::audit::undo_state::window_end(&run.started_utc, days);
        }
        self
    }
}

/// `journal list --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunList {
    /// `housekeeper.journal.list/v1`.
    pub format: &'static str,
    pub journal_dir: String,
    pub runs: Vec<RunSummary>,
    /// When this journal was started by `journal reset`: what it replaced and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset: Option<super::index::ResetInfo>,
    /// Journals set aside by `journal reset`, oldest first: their runs can be shown, not undone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub set_aside: Vec<super::set_aside::SetAsideList>,
}

/// Every run of the index, oldest first, for an undo window of `undo_days`.
#[must_use]
pub fn list(index: &JournalIndex, journal_dir: &Path, undo_days: u32) -> RunList {
    RunList {
        format: "housekeeper.journal.list/v1",
        journal_dir: journal_dir.display().to_string(),
        runs: index
            .runs
            .iter()
            .map(|r| RunSummary::of(r).with_window(r, undo_days))
            .collect(),
        reset: index.reset.clone(),
        set_aside: Vec::new(),
    }
}

/// An update's images: the row before and after, and the columns that changed.
#[derive(Debug, Clone, Serialize)]
pub struct UpdatedRow {
    pub before: Vec<Value>,
    pub after: Vec<Value>,
    pub changed: Vec<String>,
}

/// The row images of one table in one chunk.
#[derive(Debug, Clone, Serialize)]
pub struct TableDetail {
    pub table: String,
    pub columns: Vec<String>,
    /// Deleted rows, every column.
    pub deleted: Vec<Vec<Value>>,
    pub updated: Vec<UpdatedRow>,
    /// Rows inserted (by an undo, or as the run's own record).
    pub inserted: Vec<Vec<Value>>,
}

impl TableDetail {
    #[must_use]
    pub fn of(images: &TableImages) -> TableDetail {
        let mut detail = TableDetail {
            table: images.table.clone(),
            columns: images.columns.clone(),
            deleted: Vec::new(),
            updated: Vec::new(),
            inserted: Vec::new(),
        };
        let mut before: Option<&Vec<Value>> = None;
        for row in &images.rows {
            match row.role {
                RowRole::Deleted => detail.deleted.push(row.values.clone()),
                RowRole::Inserted => detail.inserted.push(row.values.clone()),
                RowRole::Before => before = Some(&row.values),
                RowRole::After => {
                    let old = before.take().cloned().unwrap_or_default();
                    let changed = images
                        .columns
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| old.get(*i) != row.values.get(*i))
                        .map(|(_, c)| c.clone())
                        .collect();
                    detail.updated.push(UpdatedRow {
                        before: old,
                        after: row.values.clone(),
                        changed,
                    });
                }
            }
        }
        detail
    }

    fn len(&self) -> usize {
        self.deleted.len() + self.updated.len() + self.inserted.len()
    }
}

/// One table's keys changed by a chunk (from the chained record).
#[derive(Debug, Clone, Serialize)]
pub struct ChangeDetail {
    pub table: String,
    pub action: Action,
    pub keys: KeySet,
    pub count: u64,
}

/// One chunk of a duty.
#[derive(Debug, Clone, Serialize)]
pub struct ChunkDetail {
    pub chunk: u32,
    /// `committed` or `aborted`.
    pub status: &'static str,
    /// Closed by a later start's recovery.
    pub recovered: bool,
    /// Error class of an aborted chunk.
    pub error: Option<String>,
    /// Its error message (from its details payload, while that exists).
    pub error_message: Option<String>,
    pub changes: Vec<ChangeDetail>,
    pub drifted: Vec<Drift>,
    pub payload: PayloadState,
    /// Why the row images could not be read, when `payload` is `missing`.
    pub payload_problem: Option<String>,
    pub tables: ChunkTables,
}

/// The row images of a chunk, by table.
#[derive(Debug, Clone)]
pub enum ChunkTables {
    /// Read when the detail was built (text output: at most `rows_per_table` per table).
    Read(Vec<TableDetail>),
    /// Read from the payload (checked when the detail was built) only while serialized.
    Streamed {
        dir: PathBuf,
        payload: housekeeper_journal::PayloadRef,
    },
}

impl ChunkTables {
    /// The tables read when the detail was built (none when they are streamed).
    #[must_use]
    pub fn read(&self) -> &[TableDetail] {
        match self {
            ChunkTables::Read(tables) => tables,
            ChunkTables::Streamed { .. } => &[],
        }
    }
}

impl Serialize for ChunkTables {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ChunkTables::Read(tables) => tables.serialize(serializer),
            ChunkTables::Streamed { dir, payload } => {
                let tables = payloads::read_images(dir, payload, &mut |_, _, _| true)
                    .map_err(serde::ser::Error::custom)?;
                serializer.collect_seq(tables.iter().map(TableDetail::of))
            }
        }
    }
}

/// A duty's plan: the full items from the plan payload when present, the chained keys always.
#[derive(Debug, Clone, Serialize)]
pub struct PlanDetail {
    pub payload: PayloadState,
    pub payload_problem: Option<String>,
    /// The plan's items with reasons and before → after (from the payload).
    pub items: Option<Vec<Item>>,
    /// The chained summaries: keys, names and paths, kept after the payload expired.
    pub summaries: Vec<ItemSummary>,
    pub findings: Vec<Finding>,
    pub errors: Vec<String>,
    pub notes: Vec<String>,
}

/// One duty of a run.
#[derive(Debug, Clone, Serialize)]
pub struct DutyDetail {
    pub duty: String,
    /// From `DutyEnd` (absent when the run was interrupted first).
    pub status: Option<String>,
    pub affected: Option<u64>,
    pub errors: u32,
    pub findings: u32,
    pub plan: Option<PlanDetail>,
    pub chunks: Vec<ChunkDetail>,
    /// Row images left out per table (text output only; JSON lists every row).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub omitted: BTreeMap<String, u64>,
}

/// One file a run moved, with its recorded metadata and outcome.
#[derive(Debug, Clone, Serialize)]
pub struct FileDetail {
    pub duty: String,
    pub item: u32,
    pub path: PathBytes,
    pub quarantine_path: PathBytes,
    pub size: u64,
    /// Octal, e.g. `100644`.
    pub mode: String,
    pub uid: u32,
    pub gid: u32,
    pub mtime_ns: i128,
    /// `mtime_ns` as UTC text.
    pub mtime_utc: String,
    pub blake3: Option<String>,
    pub link_target: Option<PathBytes>,
    /// `moved`, `skipped`, `failed` or `open`.
    pub outcome: &'static str,
    /// The stable reason of a skipped or failed move.
    pub reason: Option<String>,
    /// For a moved file: `in quarantine`, `restored` (by an undo), `expired`, `missing`.
    pub now: Option<&'static str>,
}

impl FileDetail {
    /// What the file held, for text output: its link target, or its blake3 hash.
    #[must_use]
    pub fn content_text(&self) -> String {
        match &self.link_target {
            Some(target) => format!("symlink → {}", Escaped(target)),
            None => format!(
                "blake3 {}",
                Escaped(self.blake3.as_deref().unwrap_or("(not recorded)"))
            ),
        }
    }

    #[must_use]
    pub fn of(file: &FileInfo, run: &RunInfo, index: &JournalIndex) -> FileDetail {
        let (outcome, reason) = match &file.status {
            None => ("open", None),
            Some(FileStatus::Moved) => ("moved", None),
            Some(FileStatus::Skipped { reason }) => ("skipped", Some(reason.clone())),
            Some(FileStatus::Failed { error }) => ("failed", Some(error.clone())),
        };
        let now = match (&file.status, run.undo_of()) {
            (Some(FileStatus::Moved), None) => Some(quarantine_state(file, run, index)),
            (Some(FileStatus::Moved), Some(_)) => Some("restored"),
            _ => None,
        };
        FileDetail {
            duty: file.duty.clone(),
            item: file.item,
            path: file.path.clone(),
            quarantine_path: file.quarantine_path.clone(),
            size: file.meta.size,
            mode: format!("{:o}", file.meta.mode),
            uid: file.meta.uid,
            gid: file.meta.gid,
            mtime_ns: file.meta.mtime_ns,
            mtime_utc: time_text(file.meta.mtime_ns),
            blake3: file.meta.blake3.map(|d| d.to_hex()),
            link_target: file.meta.link_target.clone(),
            outcome,
            reason,
            now,
        }
    }
}

/// Where a file moved into the quarantine by a (non-undo) run is now.
#[must_use]
pub fn quarantine_state(file: &FileInfo, run: &RunInfo, index: &JournalIndex) -> &'static str {
    if index.restored_paths().contains(&file.quarantine_path) {
        "restored"
    } else if run.expired_files.contains(&file.quarantine_path) {
        "expired"
    } else if std::fs::symlink_metadata(file.quarantine_path.as_path()).is_ok() {
        "in quarantine"
    } else {
        "missing"
    }
}

/// Nanoseconds since the epoch as `YYYY-MM-DD HH:MM:SS.fffffffff UTC`.
#[must_use]
pub fn time_text(ns: i128) -> String {
    let secs = i64::try_from(ns.div_euclid(1_000_000_000)).unwrap_or(0);
    let nanos = u32::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, nanos).map_or_else(
        || format!("{ns} ns"),
        |t| t.format("%Y-%m-%d %H:%M:%S%.f UTC").to_string(),
    )
}

/// `journal show --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetail {
    /// `housekeeper.journal.show/v1`.
    pub format: &'static str,
    pub run: RunSummary,
    pub duties: Vec<DutyDetail>,
    pub files: Vec<FileDetail>,
}

/// Everything one run did, with the values from its payloads where they still exist.
#[must_use]
///
/// `rows_per_table` limits the row images held (and listed) per table and duty, for text
/// output of large runs; `None` keeps every row. Rows left out are counted in `omitted`.
/// `undo_days` is the undo window (`None` for a journal set aside, whose runs are not undone).
pub fn show(
    index: &JournalIndex,
    run: &RunInfo,
    dir: &Path,
    rows_per_table: Option<usize>,
    undo_days: Option<u32>,
) -> RunDetail {
    let error_payloads = JournalIndex::chunk_error_payloads(dir, &run.run_id).unwrap_or_default();
    let duties = run
        .duties
        .iter()
        .map(|duty| {
            let plan = duty.plan.as_ref().map(|(payload, summaries)| {
                let mut detail = PlanDetail {
                    payload: payloads::state_of(dir, payload, &run.expired_payloads),
                    payload_problem: None,
                    items: None,
                    summaries: summaries.clone(),
                    findings: Vec::new(),
                    errors: Vec::new(),
                    notes: Vec::new(),
                };
                if detail.payload == PayloadState::Present {
                    match payloads::read_plan(dir, payload) {
                        Ok(plan) => {
                            detail.items = Some(plan.items);
                            detail.findings = plan.findings;
                            detail.errors = plan.errors;
                            detail.notes = plan.notes;
                        }
                        Err(problem) => {
                            detail.payload = PayloadState::Missing;
                            detail.payload_problem = Some(problem);
                        }
                    }
                }
                detail
            });
            let mut listed: BTreeMap<String, usize> = BTreeMap::new();
            let mut omitted: BTreeMap<String, u64> = BTreeMap::new();
            let chunks = duty
                .chunks
                .iter()
                .map(|chunk| {
                    let mut detail = ChunkDetail {
                        chunk: chunk.chunk,
                        status: match chunk.status {
                            ChunkStatus::Committed => "committed",
                            ChunkStatus::Aborted => "aborted",
                        },
                        recovered: chunk.recovered,
                        error: chunk.error.clone(),
                        error_message: error_payloads
                            .get(&(duty.duty.clone(), chunk.chunk))
                            .filter(|p| {
                                payloads::state_of(dir, p, &run.expired_payloads)
                                    == PayloadState::Present
                            })
                            .and_then(|p| payloads::read_error(dir, p).ok().flatten()),
                        changes: chunk
                            .changes
                            .iter()
                            .map(|c| ChangeDetail {
                                table: c.table.clone(),
                                action: c.action,
                                keys: c.keys.clone(),
                                count: c.keys.len(),
                            })
                            .collect(),
                        drifted: chunk.drifted.clone(),
                        payload: PayloadState::None,
                        payload_problem: None,
                        tables: ChunkTables::Read(Vec::new()),
                    };
                    if let Some(payload) = &chunk.payload {
                        detail.payload = payloads::state_of(dir, payload, &run.expired_payloads);
                        if detail.payload == PayloadState::Present {
                            let mut keep = |table: &str, _: &[String], _: &RowImage| {
                                let Some(limit) = rows_per_table else {
                                    // Checked now, read again when written out.
                                    return false;
                                };
                                let seen = listed.entry(table.to_owned()).or_insert(0);
                                *seen += 1;
                                if *seen <= limit {
                                    true
                                } else {
                                    *omitted.entry(table.to_owned()).or_insert(0) += 1;
                                    false
                                }
                            };
                            match payloads::read_images(dir, payload, &mut keep) {
                                Ok(tables) if rows_per_table.is_none() => {
                                    drop(tables);
                                    detail.tables = ChunkTables::Streamed {
                                        dir: dir.to_path_buf(),
                                        payload: payload.clone(),
                                    };
                                }
                                Ok(tables) => {
                                    detail.tables = ChunkTables::Read(
                                        tables.iter().map(TableDetail::of).collect(),
                                    );
                                }
                                Err(problem) => {
                                    detail.payload = PayloadState::Missing;
                                    detail.payload_problem = Some(problem);
                                }
                            }
                        }
                    }
                    detail
                })
                .collect();
            DutyDetail {
                omitted,
                duty: duty.duty.clone(),
                status: duty.end.as_ref().map(|e| e.0.clone()),
                affected: duty.end.as_ref().map(|e| e.1),
                errors: duty.end.as_ref().map_or(0, |e| e.2),
                findings: duty.end.as_ref().map_or(0, |e| e.3),
                plan,
                chunks,
            }
        })
        .collect();
    RunDetail {
        format: "housekeeper.journal.show/v1",
        run: match undo_days {
            Some(days) => RunSummary::of(run).with_window(run, days),
            None => RunSummary::of(run),
        },
        duties,
        files: run
            .files
            .iter()
            .map(|f| FileDetail::of(f, run, index))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::payloads::RowImage;

    #[test]
    fn updates_pair_before_and_after_and_name_the_changed_columns() {
        let images = TableImages {
            table: "task".into(),
            columns: vec!["id".into(), "state".into(), "attempts".into()],
            rows: vec![
                RowImage {
                    role: RowRole::Before,
                    values: vec![Value::Int(1), "open".into(), Value::Int(0)],
                },
                RowImage {
                    role: RowRole::After,
                    values: vec![Value::Int(1), "missed".into(), Value::Int(0)],
                },
                RowImage {
                    role: RowRole::Deleted,
                    values: vec![Value::Int(2), "open".into(), Value::Int(3)],
                },
                RowImage {
                    role: RowRole::Inserted,
                    values: vec![Value::Int(9), "done".into(), Value::Int(1)],
                },
            ],
        };
        let detail = TableDetail::of(&images);
        assert_eq!(detail.updated.len(), 1);
        assert_eq!(detail.updated[0].changed, ["state"]);
        assert_eq!(detail.updated[0].before[1], Value::from("open"));
        assert_eq!(detail.updated[0].after[1], Value::from("missed"));
        assert_eq!(
            detail.deleted,
            [vec![Value::Int(2), "open".into(), Value::Int(3)]]
        );
        assert_eq!(detail.inserted.len(), 1);
        assert_eq!(detail.len(), 3);
    }

    #[test]
    fn file_times_read_in_utc() {
        assert_eq!(
            time_text(1_795_856_400_000_000_000),
            "2026-11-28 09:00:00 UTC"
        );
    }
}
