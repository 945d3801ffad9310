//! The rows of a re-insert item, read from the undone run's row-image payload when they are
//! needed: by the executor as it applies the item, and by the prediction as it checks it, so
//! no more than one item's rows (one table section of one of the run's chunks) are in memory.
//! The payload is read to its end, where its digest is checked: rows of a damaged or altered
//! payload are never returned.

use std::collections::HashSet;
use std::path::Path;

use housekeeper_journal::{Digest, KeySet, PayloadEntry, RowRole, Value};

use super::UndoError;
use crate::db::SchemaFacts;
use crate::plan::{ReinsertRows, RowKey};

/// The rows `op` puts back, every column of each, in the order it puts them back: the order
/// they were deleted in (a prune's ascending keys, which every engine appends fastest), but
/// the reverse in a table that refers to itself, where a row deleted after the rows that
/// refer to it must come back before them.
///
/// # Errors
/// The payload is missing, damaged, or does not hold exactly the rows the item names.
pub fn read(
    journal_dir: &Path,
    op: &ReinsertRows,
    schema: &SchemaFacts,
) -> Result<Vec<Vec<Value>>, UndoError> {
    let other = |what: String| UndoError::Other(format!("re-insert of {}: {what}", op.table));
    let images = op
        .images
        .as_ref()
        .ok_or_else(|| other("the item names no row images".into()))?;
    let digest = Digest::from_hex(&images.payload)
        .ok_or_else(|| other(format!("{:?} is not a payload digest", images.payload)))?;
    let key_at = op
        .key_at()
        .ok_or_else(|| other(format!("no {} column", op.key_column)))?;
    let wanted = Wanted::of(&op.keys);
    let mut rows = Vec::new();
    let mut section: Option<u32> = None;
    let mut inside = false;
    for entry in housekeeper_journal::open_payload(journal_dir, &digest)? {
        match entry? {
            PayloadEntry::Table { name, columns } => {
                let number = section.map_or(0, |s| s + 1);
                section = Some(number);
                inside = number == images.section;
                if inside && (name != op.table || columns != op.columns) {
                    return Err(other(format!(
                        "section {number} of payload {digest} holds table {name}, not the rows the plan names"
                    )));
                }
            }
            PayloadEntry::Row {
                role: RowRole::Deleted,
                values,
            } if inside => {
                if values.get(key_at).is_some_and(|k| wanted.holds(k)) {
                    rows.push(values);
                }
            }
            PayloadEntry::Row { .. } | PayloadEntry::Json(_) => {}
        }
    }
    if rows.len() as u64 != op.keys.len() {
        return Err(other(format!(
            "payload {digest} holds {} of the {} rows the plan names",
            rows.len(),
            op.keys.len()
        )));
    }
    if refers_to_itself(schema, &op.table) {
        rows.reverse();
    }
    Ok(rows)
}

/// Whether a foreign key of `table` refers to `table` itself.
#[must_use]
pub fn refers_to_itself(schema: &SchemaFacts, table: &str) -> bool {
    schema
        .table(table)
        .is_some_and(|t| t.foreign_keys.iter().any(|fk| fk.referenced_table == table))
}

/// A key set to test keys against: ranges by binary search, listed keys by hash.
enum Wanted<'k> {
    Ranges(&'k [(i64, i64)]),
    Values(HashSet<RowKey>),
}

impl<'k> Wanted<'k> {
    fn of(keys: &'k KeySet) -> Self {
        match keys {
            KeySet::Ranges(ranges) => Wanted::Ranges(ranges),
            KeySet::Values(values) => Wanted::Values(values.iter().map(RowKey::of).collect()),
        }
    }

    fn holds(&self, key: &Value) -> bool {
        match self {
            Wanted::Ranges(ranges) => key.as_i64().is_some_and(|k| {
                let at = ranges.partition_point(|(_, hi)| *hi < k);
                ranges.get(at).is_some_and(|(lo, _)| *lo <= k)
            }),
            Wanted::Values(set) => set.contains(&RowKey::of(key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_in_ranges_and_lists() {
        let ranges = KeySet::Ranges(vec![(1, 3), (7, 7), (10, 20)]);
        let wanted = Wanted::of(&ranges);
        for k in [1, 3, 7, 10, 20] {
            assert!(wanted.holds(&Value::Int(k)), "{k}");
        }
        for k in [0, 4, 6, 8, 21] {
            assert!(!wanted.holds(&Value::Int(k)), "{k}");
        }
        let values = KeySet::Values(vec![Value::from("a"), Value::Bytes(vec![0xff])]);
        let wanted = Wanted::of(&values);
        assert!(wanted.holds(&Value::from("a")));
        assert!(wanted.holds(&Value::Bytes(vec![0xff])));
        assert!(!wanted.holds(&Value::from("b")));
    }
}
