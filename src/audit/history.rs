//! What duties need to know of earlier runs, derived from the journal's index: items an undo
//! restored within `HOLD_DAYS` (later runs leave them alone and report them as held) and when
//! this tool set `marked_for_deletion` on a row (the retention grace period counts from there).

use std::collections::{BTreeMap, BTreeSet};

use housekeeper_journal::{Action, ChunkStatus, DateTimeValue, FileStatus, KeySet, PathBytes};

use super::{JournalIndex, RunInfo};

use crate::duties::History;
use crate::plan::{keys_of, RowKey};

/// The column whose setting by a retention policy starts the grace period.
pub const MARK_COLUMN: &str = "marked_for_deletion";

/// The history of earlier runs (holds, retention marks) from the state directory's journal;
/// empty when there is none yet. For commands that do not hold the journal's index already
/// (a session derives it from the index it reads when it opens: [`of`]).
///
/// # Errors
/// The journal exists but cannot be read (exit 3).
pub fn read_for(config: &crate::config::Config) -> Result<History, crate::exit::Failure> {
    let dir = crate::state::StateDir::new(config.state_dir.clone()).journal_dir();
    let index =
        JournalIndex::read(&dir).map_err(|e| crate::session::unreadable_journal(&dir, &e))?;
    Ok(of(&index, &hold_since(config)))
}

/// The host time (RFC 3339) before which undo runs no longer hold anything: `HOLD_DAYS` ago.
#[must_use]
pub fn hold_since(config: &crate::config::Config) -> String {
    crate::clock::utc_stamp_days_ago(config.hold_days)
}

/// The history of the runs of `index` (with what its settled runs contributed).
/// `hold_since_utc` is the host time (RFC 3339) before which undo runs no longer hold
/// anything.
#[must_use]
pub fn of(index: &JournalIndex, hold_since_utc: &str) -> History {
    let mut all = index.settled.clone();
    for run in &index.runs {
        all.add(run);
    }
    all.history(hold_since_utc)
}

/// What runs contribute to the history, added in chain order: kept whole for the runs a
/// stored index no longer lists.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Contributions {
    /// `(table, key)` → the `now` of the latest run that set the mark column on it.
    #[serde(with = "pairs")]
    marks: BTreeMap<(String, RowKey), DateTimeValue>,
    /// `(table, key)` → the `now` of the latest undo that restored it.
    #[serde(with = "pairs")]
    restored: BTreeMap<(String, RowKey), DateTimeValue>,
    /// `(table, key)` → the latest undo run that restored it, and when that run started.
    #[serde(with = "pairs")]
    restored_by: BTreeMap<(String, RowKey), (String, String)>,
    /// Path of a file moved back by an undo → that undo run, and when it started.
    #[serde(with = "pairs")]
    paths_restored_by: BTreeMap<PathBytes, (String, String)>,
}

impl Contributions {
    /// Adds what `run` contributes: the marks it set, what it restored (an undo).
    pub fn add(&mut self, run: &RunInfo) {
        let undo = run.undo_of().is_some();
        let by = || (run.run_id.clone(), run.started_utc.clone());
        for duty in &run.duties {
            // (table, key) planned with the mark column
            let mut marked: BTreeSet<(String, RowKey)> = BTreeSet::new();
            for item in duty.plan.iter().flat_map(|(_, items)| items).filter(|i| {
                i.action == Action::Update && i.columns.iter().any(|c| c == MARK_COLUMN)
            }) {
                if let Some(table) = &item.table {
                    for key in keys_of(&item.keys) {
                        marked.insert((table.clone(), key));
                    }
                }
            }
            let committed = duty
                .chunks
                .iter()
                .filter(|c| c.status == ChunkStatus::Committed)
                .flat_map(|c| &c.changes);
            for change in committed {
                for key in keys_of(&change.keys) {
                    let id = (change.table.clone(), key);
                    if undo {
                        self.restored_by.insert(id.clone(), by());
                        self.restored.insert(id, run.now);
                    } else if change.action == Action::Update && marked.contains(&id) {
                        self.marks.insert(id, run.now);
                    }
                }
            }
        }
        if undo {
            for file in run
                .files
                .iter()
                .filter(|f| matches!(f.status, Some(FileStatus::Moved)))
            {
                self.paths_restored_by.insert(file.path.clone(), by());
            }
        }
    }

    /// The history: holds of the undo runs started at or after `hold_since_utc`, and the
    /// marks an undo did not take back.
    #[must_use]
    pub fn history(&self, hold_since_utc: &str) -> History {
        let holding = |(run, started): &(String, String)| {
            (started.as_str() >= hold_since_utc).then(|| run.clone())
        };
        History {
            held_rows: self
                .restored_by
                .iter()
                .filter_map(|(id, by)| Some((id.clone(), holding(by)?)))
                .collect(),
            held_paths: self
                .paths_restored_by
                .iter()
                .filter_map(|(path, by)| Some((path.clone(), holding(by)?)))
                .collect(),
            // A mark an undo took back is no longer ours.
            marks: self
                .marks
                .iter()
                .filter(|(id, marked)| self.restored.get(*id).is_none_or(|undone| undone < *marked))
                .map(|(id, marked)| (id.clone(), *marked))
                .collect(),
        }
    }
}

/// A map with keys JSON cannot name, stored as a list of pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, K: Serialize, V: Serialize>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
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
