//! The executor's file moves: a plan's files go to the quarantine (a run) or back (an undo)
//! in batches of at most `MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS` files, each made durable once,
//! not file by file:
//!
//! 1. every file of the batch is checked — a file to quarantine must still be what was
//!    planned (and is hashed), a file to restore needs its path free and its quarantined
//!    bytes intact; a file that fails gets its outcome (skipped or failed) and stays;
//! 2. the intents of the others are appended and the journal is synced once: no file is ever
//!    moved without a durable intent;
//! 3. the files are moved, then every directory the moves changed is synced once; the
//!    sources of copies across filesystems are removed only after that;
//! 4. the outcomes are appended and the journal is synced once.
//!
//! A kill anywhere in a batch leaves intents without outcomes: recovery at the next start
//! looks where each of those files is and records it, so every file ends at its path or in
//! the quarantine with its record. This module decides nothing about which files move (the
//! plan did) and moves them only through `quarantine`.

use std::sync::atomic::Ordering;

use housekeeper_journal::{FileMeta, FileStatus, PathBytes, Record};

use super::{crashpoint, ExecError, Executor};
use crate::plan::{DutyPlan, Item, Op};
use crate::quarantine::{QuarantineError, Unsettled};
use crate::report::DutyReport;

/// A file that passed its check and is about to move.
struct Move<'p> {
    item_no: u32,
    item: &'p Item,
    /// `true` for an undo: from the quarantine back to `path`.
    back: bool,
    path: &'p PathBytes,
    quarantined: PathBytes,
    meta: FileMeta,
}

impl Executor<'_> {
    /// Moves the plan's enabled file items, batch by batch, until done or stopped.
    pub(super) fn move_files(
        &mut self,
        plan: &DutyPlan,
        duty: &str,
        report: &mut DutyReport,
    ) -> Result<(), ExecError> {
        let mut files = plan
            .items
            .iter()
            .enumerate()
            .filter(|(_, item)| item.enabled && item.is_file())
            .peekable();
        while files.peek().is_some() {
            if self.stop.load(Ordering::SeqCst) {
                report.notes.push(
                    "stopped before all files were moved (a signal or a --strict conflict)".into(),
                );
                break;
            }
            let batch: Vec<(usize, &Item)> = files.by_ref().take(self.chunk_rows.max(1)).collect();
            self.move_batch(&batch, duty, report)?;
        }
        Ok(())
    }

    fn move_batch(
        &mut self,
        batch: &[(usize, &Item)],
        duty: &str,
        report: &mut DutyReport,
    ) -> Result<(), ExecError> {
        // 1. Checks; a file that fails one gets its outcome now.
        let mut ready = Vec::with_capacity(batch.len());
        for &(index, item) in batch {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let item_no = u32::try_from(index).unwrap_or(u32::MAX);
            let checked = match &item.op {
                Op::Quarantine(file) => self.check_quarantine(file, item, item_no, duty, report)?,
                Op::Restore(file) => self.check_restore(file, item, item_no, duty, report)?,
                _ => None,
            };
            ready.extend(checked);
        }
        // 2. The intents, durable together (with the outcomes of the files that stay).
        for m in &ready {
            self.journal.append(&Record::FileIntent {
                run_id: self.run_id.to_owned(),
                duty: duty.to_owned(),
                item: m.item_no,
                path: m.path.clone(),
                quarantine_path: m.quarantined.clone(),
                meta: m.meta.clone(),
            })?;
        }
        self.journal.sync()?;
        if ready.is_empty() {
            return Ok(());
        }
        crashpoint("after-intent");
        // 3. The moves, then one sync per directory they changed.
        let mut unsettled = Unsettled::default();
        let mut results: Vec<Result<(), QuarantineError>> = Vec::with_capacity(ready.len());
        for (tag, m) in ready.iter().enumerate() {
            let (path, quarantined) = (m.path.as_path(), m.quarantined.as_path());
            results.push(if m.back {
                self.quarantine
                    .restore(quarantined, &m.meta, path, &mut unsettled, tag)
            } else {
                self.quarantine
                    .move_in(path, &m.meta, quarantined, &mut unsettled, tag)
            });
            if tag == 0 {
                crashpoint("after-move");
            }
        }
        for (tag, error) in self.quarantine.settle(unsettled)? {
            results[tag] = Err(error);
        }
        crashpoint("before-outcomes");
        // 4. The outcomes, durable together.
        for (m, result) in ready.iter().zip(results) {
            match result {
                Ok(()) => {
                    self.journal
                        .append(&self.file_outcome(duty, m.item_no, FileStatus::Moved))?;
                    report.affected += 1;
                    report.files.moved += 1;
                    report.files.bytes += m.meta.size;
                    if let (false, Some(category)) = (m.back, &m.item.category) {
                        *report.categories.entry(category.to_string()).or_insert(0) += 1;
                    }
                }
                Err(e) if left_alone(&e, m.back) => {
                    self.file_skipped(duty, m.item_no, m.path, e.code(), report)?;
                }
                Err(e) => self.file_failed(duty, m.item_no, &e, report)?,
            }
        }
        self.journal.sync()?;
        Ok(())
    }

    /// A file to quarantine: still what was planned, with its metadata and hash recorded.
    fn check_quarantine<'p>(
        &mut self,
        file: &'p crate::plan::FileItem,
        item: &'p Item,
        item_no: u32,
        duty: &str,
        report: &mut DutyReport,
    ) -> Result<Option<Move<'p>>, ExecError> {
        let meta = match self.quarantine.inspect(file) {
            Ok(meta) => meta,
            Err(refusal) => {
                self.file_skipped(duty, item_no, &file.path, refusal.code(), report)?;
                return Ok(None);
            }
        };
        match self.quarantine.path_for(self.run_id, &file.relative) {
            Ok(dest) => Ok(Some(Move {
                item_no,
                item,
                back: false,
                path: &file.path,
                quarantined: PathBytes::from(dest.as_path()),
                meta,
            })),
            Err(e) => {
                self.file_failed(duty, item_no, &e, report)?;
                Ok(None)
            }
        }
    }

    /// A quarantined file to move back (undo): only where its path is free and its bytes
    /// still hash as recorded; otherwise a conflict (which stops an `--strict` undo).
    fn check_restore<'p>(
        &mut self,
        file: &'p crate::plan::RestoreFile,
        item: &'p Item,
        item_no: u32,
        duty: &str,
        report: &mut DutyReport,
    ) -> Result<Option<Move<'p>>, ExecError> {
        let checked = self.quarantine.check_restore(
            file.quarantine_path.as_path(),
            &file.meta,
            file.path.as_path(),
        );
        match checked {
            Ok(()) => Ok(Some(Move {
                item_no,
                item,
                back: true,
                path: &file.path,
                quarantined: file.quarantine_path.clone(),
                meta: file.meta.clone(),
            })),
            Err(e) if e.is_conflict() => {
                if self.strict {
                    self.stop.store(true, Ordering::SeqCst);
                    report.error(format!(
                        "--strict: {}: {}; nothing more is changed",
                        crate::text::PathText(&file.path),
                        crate::report::reason_text(e.code())
                    ));
                }
                self.file_skipped(duty, item_no, &file.path, e.code(), report)?;
                Ok(None)
            }
            Err(e) => {
                self.file_failed(duty, item_no, &e, report)?;
                Ok(None)
            }
        }
    }

    fn file_outcome(&self, duty: &str, item: u32, status: FileStatus) -> Record {
        Record::FileOutcome {
            run_id: self.run_id.to_owned(),
            duty: duty.to_owned(),
            item,
            status,
        }
    }

    /// A file that was not moved because the world moved on (drift, or an undo conflict).
    /// Its outcome is made durable with the rest of its batch.
    fn file_skipped(
        &mut self,
        duty: &str,
        item: u32,
        path: &PathBytes,
        code: &str,
        report: &mut DutyReport,
    ) -> Result<(), ExecError> {
        let outcome = self.file_outcome(
            duty,
            item,
            FileStatus::Skipped {
                reason: code.into(),
            },
        );
        self.journal.append(&outcome)?;
        report.files.skipped += 1;
        report.drift("file", crate::text::PathText(path).to_string(), code);
        Ok(())
    }

    fn file_failed(
        &mut self,
        duty: &str,
        item: u32,
        error: &QuarantineError,
        report: &mut DutyReport,
    ) -> Result<(), ExecError> {
        let outcome = self.file_outcome(
            duty,
            item,
            FileStatus::Failed {
                error: error.code().into(),
            },
        );
        self.journal.append(&outcome)?;
        report.error(error.to_string());
        Ok(())
    }
}

/// Whether a move that did not happen was left alone because the world moved on (skipped)
/// rather than failed: a file to quarantine that vanished or changed since it was checked,
/// or a file to restore in conflict.
fn left_alone(error: &QuarantineError, back: bool) -> bool {
    if back {
        error.is_conflict()
    } else {
        matches!(
            error,
            QuarantineError::Vanished { .. } | QuarantineError::Changed { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn only_the_world_moving_on_counts_as_skipped() {
        let path = PathBytes::from(Path::new("/tmp/x"));
        let vanished = QuarantineError::Vanished { path: path.clone() };
        let taken = QuarantineError::TargetExists { path };
        assert!(left_alone(&vanished, false));
        assert!(left_alone(&vanished, true));
        assert!(
            !left_alone(&taken, false),
            "a taken quarantine path is a failure"
        );
        assert!(
            left_alone(&taken, true),
            "a taken original path is an undo conflict"
        );
    }
}
