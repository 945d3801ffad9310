//! Per-item bookkeeping of undo, derived from the journal: what a run changed that an undo
//! can put back (the keys of its committed chunks that deleted or updated rows, and the files
//! it moved into the quarantine), what undo runs of it already put back (the keys of their
//! committed chunks and the files they moved back, `RunInfo::restorations`), and so what
//! remains undoable until the run's payloads expire. An item is restored at most once: every
//! undo leaves out what an earlier one (finished or interrupted) restored.

use std::collections::BTreeSet;

use housekeeper_journal::{Action, ChunkStatus, FileStatus, PathBytes};
use serde::Serialize;

use super::index::{Restored, RunInfo};
use crate::plan::{keys_of, RowKey};

/// Undo bookkeeping of one duty of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DutyUndo {
    pub duty: String,
    /// Rows deleted or updated and files quarantined by the run: what an undo can put back.
    pub changed: u64,
    /// What undo runs put back.
    pub restored: u64,
    /// `changed` − `restored`: still undoable (until the payloads expire).
    pub undoable: u64,
    /// Undo runs that restored something of this duty, oldest first.
    pub restored_by: Vec<String>,
}

/// What undo runs of a run already put back: `(duty, table, key)` of rows and the paths of
/// files.
#[derive(Debug, Clone, Default)]
pub struct RestoredItems {
    pub rows: BTreeSet<(String, String, RowKey)>,
    pub paths: BTreeSet<PathBytes>,
}

/// Whether an action of a run's chunk is something an undo puts back (not the run's own
/// record rows, which it inserted).
fn undoable(action: Action) -> bool {
    matches!(action, Action::Delete | Action::Update)
}

impl RunInfo {
    /// Everything undo runs of this run put back (of every duty).
    #[must_use]
    pub fn restored_items(&self) -> RestoredItems {
        let mut out = RestoredItems::default();
        for r in &self.restorations {
            match &r.what {
                Restored::Rows(changes) => {
                    for change in changes {
                        for key in keys_of(&change.keys) {
                            out.rows.insert((r.duty.clone(), change.table.clone(), key));
                        }
                    }
                }
                Restored::File(path) => {
                    out.paths.insert(path.clone());
                }
            }
        }
        out
    }

    /// The undo runs that restored something of this run (of `duty` when given), in the order
    /// they ran.
    #[must_use]
    pub fn restorers(&self, duty: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.restorations {
            if duty.is_none_or(|d| d.eq_ignore_ascii_case(&r.duty)) && !out.contains(&r.undo_run) {
                out.push(r.undo_run.clone());
            }
        }
        out
    }

    /// Per duty that changed something an undo can put back: changed, restored, undoable.
    #[must_use]
    pub fn undo_progress(&self) -> Vec<DutyUndo> {
        let mut out: Vec<DutyUndo> = Vec::new();
        for duty in &self.duties {
            let rows: u64 = duty
                .chunks
                .iter()
                .filter(|c| c.status == ChunkStatus::Committed)
                .flat_map(|c| &c.changes)
                .filter(|c| undoable(c.action))
                .map(|c| c.keys.len())
                .sum();
            let files = self
                .files
                .iter()
                .filter(|f| f.duty == duty.duty && matches!(f.status, Some(FileStatus::Moved)))
                .count() as u64;
            let changed = rows + files;
            if changed == 0 || self.undo_of().is_some() {
                continue;
            }
            let mut restored = 0;
            let mut restored_by: Vec<String> = Vec::new();
            for r in self.restorations.iter().filter(|r| r.duty == duty.duty) {
                restored += match &r.what {
                    Restored::Rows(changes) => changes.iter().map(|c| c.keys.len()).sum(),
                    Restored::File(_) => 1,
                };
                if !restored_by.contains(&r.undo_run) {
                    restored_by.push(r.undo_run.clone());
                }
            }
            out.push(DutyUndo {
                duty: duty.duty.clone(),
                changed,
                restored,
                undoable: changed.saturating_sub(restored),
                restored_by,
            });
        }
        out
    }
}

/// `started_utc` (RFC 3339) plus `days`: when the end of the undo window comes for a run
/// (the first run ending after it destroys the payloads); `None` when unreadable.
#[must_use]
pub fn window_end(started_utc: &str, days: u32) -> Option<String> {
    let started = chrono::DateTime::parse_from_rfc3339(started_utc).ok()?;
    let end = started.checked_add_signed(chrono::TimeDelta::try_days(i64::from(days))?)?;
    Some(
        end.with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_window_ends_undo_days_after_the_start() {
        assert_eq!(
            super::window_end("2026-11-28T09:00:00Z", 14).as_deref(),
            Some("2026-12-12T09:00:00Z")
        );
        assert_eq!(super::window_end("yesterday", 14), None);
    }
}
