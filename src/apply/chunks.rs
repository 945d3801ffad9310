//! How a plan's row items become chunks: pieces of at most `CHUNK_ROWS` rows (key sets split
//! to fit), the key conditions of at most `KEYS_PER_STATEMENT` keys each statement binds, and
//! the progress bar over them. Nothing here touches the database or the journal.

use std::collections::HashSet;

use housekeeper_journal::{KeySet, Value};

use super::rows::{Changed, Doomed};
use crate::db::dialect::KEYS_PER_STATEMENT;
use crate::db::Dialect;
use crate::plan::{
    self, DeleteRows, DutyPlan, InsertRow, Item, Op, ReinsertRows, RowKey, UpdateRow,
};

/// One unit of work inside a chunk.
pub(super) enum Piece<'p> {
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
    /// Rows `from..to` of the item's rows, as `undo::images` reads them.
    Reinsert {
        item: u32,
        op: &'p ReinsertRows,
        from: usize,
        to: usize,
    },
}

impl Piece<'_> {
    pub(super) fn item(&self) -> u32 {
        match self {
            Piece::Delete { item, .. }
            | Piece::Update { item, .. }
            | Piece::Insert { item, .. }
            | Piece::Reinsert { item, .. } => *item,
        }
    }
}

/// The delete pieces at the start of `pieces` that one set operation applies: the first, and
/// the ones right after it that, like it, delete listed keys (not ranges) from the same table
/// with the same dependents and guard — one item per job, say. Empty when the first piece is
/// not a delete.
pub(super) fn delete_set<'a>(pieces: &'a [Piece<'_>]) -> Vec<Doomed<'a>> {
    let mut members = Vec::new();
    let mut first: Option<(&DeleteRows, bool)> = None;
    for piece in pieces {
        let Piece::Delete {
            item,
            op,
            keys,
            source,
        } = piece
        else {
            break;
        };
        let listed = matches!(keys, KeySet::Values(_));
        match first {
            None => first = Some((op, listed)),
            Some((shape, first_listed)) => {
                if !(first_listed && listed && same_delete(shape, op)) {
                    break;
                }
            }
        }
        members.push(Doomed {
            item: *item,
            keys,
            source,
        });
    }
    members
}

/// The update pieces at the start of `pieces` that one set operation applies: the first,
/// and the ones right after it that, like it, change the same columns of the same table
/// under the same guard, each another row. Empty when the first piece is not an update.
pub(super) fn update_set<'a>(pieces: &'a [Piece<'_>]) -> Vec<Changed<'a>> {
    let mut members: Vec<Changed<'a>> = Vec::new();
    let mut keys = HashSet::new();
    for piece in pieces {
        let Piece::Update { item, op, source } = piece else {
            break;
        };
        if let Some(first) = members.first() {
            if !same_update(first.op, op) {
                break;
            }
        }
        // A row planned twice is changed by the second item after the first one's set.
        if !keys.insert(RowKey::of(&op.key)) {
            break;
        }
        members.push(Changed {
            item: *item,
            op,
            source,
        });
    }
    members
}

/// Whether two updates differ only in their row and new values.
fn same_update(a: &UpdateRow, b: &UpdateRow) -> bool {
    a.table == b.table
        && a.key_column == b.key_column
        && a.guard == b.guard
        && a.changes.len() == b.changes.len()
        && a.changes
            .iter()
            .zip(&b.changes)
            .all(|(x, y)| x.column == y.column)
}

/// Whether two deletes differ only in their keys.
fn same_delete(a: &DeleteRows, b: &DeleteRows) -> bool {
    a.table == b.table
        && a.key_column == b.key_column
        && a.guard == b.guard
        && a.dependents == b.dependents
}

/// Splits the enabled row items of a plan into chunks of at most `max` rows.
pub(super) fn chunks(plan: &DutyPlan, max: usize) -> Vec<Vec<Piece<'_>>> {
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
                let total = usize::try_from(r.keys.len()).unwrap_or(usize::MAX);
                let mut from = 0;
                while from < total {
                    let n = usize::try_from(room)
                        .unwrap_or(usize::MAX)
                        .min(total - from);
                    current.push(Piece::Reinsert {
                        item: index,
                        op: r,
                        from,
                        to: from + n,
                    });
                    from += n;
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

pub(super) fn piece_size(piece: &Piece<'_>) -> u64 {
    match piece {
        Piece::Delete { keys, .. } => keys.len(),
        Piece::Reinsert { from, to, .. } => (to - from) as u64,
        Piece::Update { .. } | Piece::Insert { .. } => 1,
    }
}

/// A progress bar on stderr for a duty of several chunks, only when stderr is a terminal.
pub(super) fn progress_bar(
    duty: &str,
    chunks: &[Vec<Piece<'_>>],
) -> Option<indicatif::ProgressBar> {
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
pub(super) fn key_conditions(
    d: &Dialect,
    column: &str,
    keys: &KeySet,
) -> Vec<(String, Vec<Value>)> {
    match keys {
        KeySet::Ranges(ranges) => ranges
            .chunks(KEYS_PER_STATEMENT / 2)
            .map(|piece| d.in_ranges(column, piece))
            .collect(),
        KeySet::Values(values) => d.in_key_lists(column, values),
    }
}
