//! What duties need to know of earlier runs, read from the journal: items an undo restored
//! within `HOLD_DAYS` (later runs leave them alone and report them as held) and when this
//! tool set `marked_for_deletion` on a row (the retention grace period counts from there).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use housekeeper_journal::JournalError;
use housekeeper_journal::{
    Action, ChunkStatus, DateTimeValue, FileStatus, KeySet, Record, RunKind,
};

use crate::duties::History;
use crate::plan::{keys_of, RowKey};

/// The column whose setting by a retention policy starts the grace period.
pub const MARK_COLUMN: &str = "marked_for_deletion";

/// The history of earlier runs (holds, retention marks) from the state directory's journal;
/// empty when there is none yet.
///
/// # Errors
/// The journal exists but cannot be read (exit 3).
pub fn read_for(config: &crate::config::Config) -> Result<History, crate::exit::Failure> {
    let dir = crate::state::StateDir::new(config.state_dir.clone()).journal_dir();
    let since = crate::clock::utc_stamp_days_ago(config.hold_days);
    read(&dir, &since).map_err(|e| {
        crate::exit::Failure::new(
            crate::exit::Exit::Integrity,
            format!("reading the journal in {}: {e}", dir.display()),
        )
        .hint("run `housekeeper journal verify` for details")
    })
}

/// Reads the history from a journal directory. `hold_since_utc` is the host time (RFC 3339)
/// before which undo runs no longer hold anything.
///
/// # Errors
/// The journal could not be read.
pub fn read(journal_dir: &Path, hold_since_utc: &str) -> Result<History, JournalError> {
    let mut history = History::default();
    if !journal_dir.is_dir() {
        return Ok(history);
    }
    // run id → (now, started_utc, is undo)
    let mut runs: BTreeMap<String, (DateTimeValue, String, bool)> = BTreeMap::new();
    // (run, duty) → (table, key) planned with the mark column
    let mut mark_items: BTreeMap<(String, String), BTreeSet<(String, RowKey)>> = BTreeMap::new();
    // (run, duty, item) → path of a file restore intent
    let mut restore_intents: BTreeMap<(String, String, u32), housekeeper_journal::PathBytes> =
        BTreeMap::new();
    // (table, key) → when an undo restored it (its now)
    let mut restored: BTreeMap<(String, RowKey), DateTimeValue> = BTreeMap::new();
    for entry in housekeeper_journal::store::read_records(journal_dir)? {
        match entry?.record {
            Record::RunStart {
                run_id,
                kind,
                now,
                started_utc,
                ..
            } => {
                runs.insert(
                    run_id,
                    (now, started_utc, matches!(kind, RunKind::Undo { .. })),
                );
            }
            Record::Plan {
                run_id,
                duty,
                items,
                ..
            } => {
                for item in items.iter().filter(|i| {
                    i.action == Action::Update && i.columns.iter().any(|c| c == MARK_COLUMN)
                }) {
                    if let Some(table) = &item.table {
                        let set = mark_items
                            .entry((run_id.clone(), duty.clone()))
                            .or_default();
                        for key in keys_of(&item.keys) {
                            set.insert((table.clone(), key));
                        }
                    }
                }
            }
            Record::ChunkOutcome {
                run_id,
                duty,
                status: ChunkStatus::Committed,
                changes,
                ..
            } => {
                let Some((now, started, undo)) = runs.get(&run_id).cloned() else {
                    continue;
                };
                for change in &changes {
                    for key in keys_of(&change.keys) {
                        let id = (change.table.clone(), key);
                        if undo {
                            if started.as_str() >= hold_since_utc {
                                history.held_rows.insert(id.clone(), run_id.clone());
                            }
                            restored.insert(id, now);
                        } else if change.action == Action::Update
                            && mark_items
                                .get(&(run_id.clone(), duty.clone()))
                                .is_some_and(|s| s.contains(&id))
                        {
                            history.marks.insert(id, now);
                        }
                    }
                }
            }
            Record::FileIntent {
                run_id,
                duty,
                item,
                path,
                ..
            } if runs.get(&run_id).is_some_and(|r| r.2) => {
                restore_intents.insert((run_id, duty, item), path);
            }
            Record::FileOutcome {
                run_id,
                duty,
                item,
                status: FileStatus::Moved,
            } => {
                if let Some(path) = restore_intents.remove(&(run_id.clone(), duty, item)) {
                    if runs
                        .get(&run_id)
                        .is_some_and(|r| r.1.as_str() >= hold_since_utc)
                    {
                        history.held_paths.insert(path, run_id);
                    }
                }
            }
            _ => {}
        }
    }
    // A mark an undo took back is no longer ours.
    history
        .marks
        .retain(|id, marked| restored.get(id).is_none_or(|undone| undone < marked));
    Ok(history)
}

/// Removes held items from a plan and lists them in `plan.held`.
pub fn hold(plan: &mut crate::plan::DutyPlan, history: &History) {
    use crate::plan::Op;
    if history.held_rows.is_empty() && history.held_paths.is_empty() {
        return;
    }
    let mut held = Vec::new();
    plan.items.retain_mut(|item| match &mut item.op {
        Op::Update(u) => {
            let id = (u.table.clone(), RowKey::of(&u.key));
            match history.held_rows.get(&id) {
                Some(run) => {
                    held.push(format!(
                        "{} {}={} (restored by undo {run})",
                        u.table, u.key_column, id.1
                    ));
                    false
                }
                None => true,
            }
        }
        Op::Delete(d) => {
            let dropped: Vec<RowKey> = history
                .held_rows
                .keys()
                .filter(|(table, key)| {
                    *table == d.table
                        && match &d.keys {
                            KeySet::Ranges(r) => key
                                .as_i64()
                                .is_some_and(|n| r.iter().any(|(lo, hi)| *lo <= n && n <= *hi)),
                            KeySet::Values(v) => v.iter().any(|x| RowKey::of(x) == *key),
                        }
                })
                .map(|(_, key)| key.clone())
                .collect();
            if dropped.is_empty() {
                return true;
            }
            for k in &dropped {
                let run = &history.held_rows[&(d.table.clone(), k.clone())];
                held.push(format!(
                    "{} {}={k} (restored by undo {run})",
                    d.table, d.key_column
                ));
            }
            d.keys = match &d.keys {
                KeySet::Ranges(r) => {
                    let points: Vec<i64> = dropped.iter().filter_map(RowKey::as_i64).collect();
                    KeySet::Ranges(subtract(r, &points))
                }
                KeySet::Values(v) => KeySet::Values(
                    v.iter()
                        .filter(|x| !dropped.contains(&RowKey::of(x)))
                        .cloned()
                        .collect(),
                ),
            };
            !d.keys.is_empty()
        }
        Op::Quarantine(f) => match history.held_paths.get(&f.path) {
            Some(run) => {
                held.push(format!(
                    "{} (restored by undo {run})",
                    crate::text::PathText(&f.path)
                ));
                false
            }
            None => true,
        },
        Op::Insert(_) | Op::Reinsert(_) | Op::Restore(_) => true,
    });
    plan.held.extend(held);
}

/// Inclusive ranges minus some points.
fn subtract(ranges: &[(i64, i64)], points: &[i64]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for &(lo, hi) in ranges {
        let mut inside: Vec<i64> = points
            .iter()
            .copied()
            .filter(|p| lo <= *p && *p <= hi)
            .collect();
        inside.sort_unstable();
        inside.dedup();
        let mut start = lo;
        for p in inside {
            if p > start {
                out.push((start, p - 1));
            }
            start = p + 1;
        }
        if start <= hi {
            out.push((start, hi));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_cut_ranges() {
        assert_eq!(subtract(&[(1, 10)], &[1, 5, 10]), [(2, 4), (6, 9)]);
        assert_eq!(subtract(&[(3, 3), (7, 8)], &[3]), [(7, 8)]);
        assert_eq!(subtract(&[(1, 2)], &[]), [(1, 2)]);
    }
}
