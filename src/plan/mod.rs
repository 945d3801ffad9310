//! The plan: what a duty decided to change, as data, before anything is changed.
//!
//! A `DutyPlan` lists concrete items — rows to delete (with the dependent rows that go with
//! them), rows to update (column by column, planned old value → new value), rows to insert
//! (undo), files to quarantine or restore — each with a human reason. Plans are serde data,
//! deterministically ordered, so `plan` can render them, `plan --out` can save them,
//! `run`/`apply` can execute them and `undo` can produce them. This module never touches the
//! database or the filesystem.
//!
//! A plan can hold one item per row (one per ghost job, say), so an item stays small: the
//! names a duty knows (dependent tables, reason codes, categories) are static and shared, not
//! copied into each item, and rare parts (`ItemFacts`, a file restore) are boxed.

pub mod key;
pub mod narrow;
pub mod render;

pub use key::RowKey;

use std::borrow::Cow;
use std::collections::BTreeMap;

use housekeeper_journal::{Action, DateTimeValue, ItemSummary, KeySet, PathBytes, Value};
use serde::{Deserialize, Serialize};

use crate::duties::DutyName;

/// Why an item is in the plan: a stable code for machines and the journal, a sentence for
/// people (the sentence may quote data and therefore only lives in plan payloads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Static where the duty names it (one code shared by all its items).
    pub code: Cow<'static, str>,
    pub text: String,
}

impl Reason {
    #[must_use]
    pub fn new(code: impl Into<Cow<'static, str>>, text: impl Into<String>) -> Self {
        Reason {
            code: code.into(),
            text: text.into(),
        }
    }
}

/// Rows of another table deleted (first, explicitly, journaled) with each deleted key:
/// `DELETE FROM table WHERE column IN (keys)`. The names a duty knows are static, shared by
/// every item that carries them; a plan read back owns its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependent {
    pub table: Cow<'static, str>,
    pub column: Cow<'static, str>,
}

impl Dependent {
    /// A dependent named by the duty itself.
    #[must_use]
    pub const fn of(table: &'static str, column: &'static str) -> Self {
        Dependent {
            table: Cow::Borrowed(table),
            column: Cow::Borrowed(column),
        }
    }
}

/// The dependents of a delete: a duty's static list, shared by all its items (one job's
/// four dependent tables are not copied into each of twenty thousand items), or a list read
/// back from a saved plan.
pub type Dependents = Cow<'static, [Dependent]>;

/// How an item's selection condition is re-checked inside the chunk's transaction. Serialized
/// snake_case; the PascalCase names of plans journaled by earlier versions are still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Guard {
    /// Nothing beyond the row still existing (rows already gone are reported as drifted).
    #[serde(rename = "exists", alias = "Exists")]
    Exists,
    /// The duty re-evaluates its condition on the locked current row (`Duty::recheck`).
    #[serde(rename = "duty", alias = "Duty")]
    Duty,
}

/// Delete the rows of `table` whose key is in `keys`, dependents first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteRows {
    pub table: String,
    pub key_column: String,
    pub keys: KeySet,
    pub dependents: Dependents,
    pub guard: Guard,
}

/// One column of one row: the value seen when planning and the value to write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub column: String,
    pub old: Value,
    pub new: Value,
}

/// Update one row. Applied only when every `old` still matches the current value (and the
/// duty's guard, if any, still holds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateRow {
    pub table: String,
    pub key_column: String,
    pub key: Value,
    pub changes: Vec<Change>,
    pub guard: Guard,
}

/// Re-insert rows a run deleted (undo), each with its original key and every column. The
/// rows are not carried: `images` names the table section of one of the run's row-image
/// payloads that holds them, and `keys` which of its deleted rows go back (the others stay
/// out). One item is a run of consecutive rows of one table that one chunk deleted; they go
/// back in the reverse of the order they were deleted in, so a plan of a million rows stays a
/// few ranges of keys and the executor reads the rows chunk by chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "ReinsertStored")]
pub struct ReinsertRows {
    pub table: String,
    pub key_column: String,
    /// Every column of the table, in table order.
    pub columns: Vec<String>,
    /// The keys of the rows to put back.
    pub keys: KeySet,
    /// Where their images are; `None` only in undo plans journaled by earlier versions,
    /// which carried the rows themselves and are read back for display.
    pub images: Option<RowImages>,
}

/// One table section of a row-image payload: the blob's digest (hex) and the section's
/// number, counting the payload's table headers from 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowImages {
    pub payload: String,
    pub section: u32,
}

/// A re-insert item as journaled: undo plans of earlier versions carried `rows` instead of
/// `keys` and `images`.
#[derive(Deserialize)]
struct ReinsertStored {
    table: String,
    key_column: String,
    columns: Vec<String>,
    #[serde(default)]
    keys: Option<KeySet>,
    #[serde(default)]
    images: Option<RowImages>,
    #[serde(default)]
    rows: Vec<Vec<Value>>,
}

impl From<ReinsertStored> for ReinsertRows {
    fn from(stored: ReinsertStored) -> Self {
        let keys = stored.keys.unwrap_or_else(|| {
            let at = stored.columns.iter().position(|c| *c == stored.key_column);
            keyset(
                stored
                    .rows
                    .iter()
                    .map(|r| at.and_then(|i| r.get(i)).cloned().unwrap_or(Value::Null))
                    .collect(),
            )
        });
        ReinsertRows {
            table: stored.table,
            key_column: stored.key_column,
            columns: stored.columns,
            keys,
            images: stored.images,
        }
    }
}

impl ReinsertRows {
    /// Where the key is in a row.
    #[must_use]
    pub fn key_at(&self) -> Option<usize> {
        self.columns.iter().position(|c| *c == self.key_column)
    }
}

/// Insert one row with every column given: a row the run writes as its own record
/// (`retention_cleanup_jobs`, `data_archive`), after its changes and from what they did. Not a
/// change to restore (undo leaves it), and not counted as affected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InsertRow {
    pub table: String,
    pub key_column: String,
    pub columns: Vec<String>,
    pub values: Vec<Value>,
}

/// A file seen when planning: where it is and what it looked like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileItem {
    pub path: PathBytes,
    /// Path relative to the temp directory; the quarantine keeps it.
    pub relative: PathBytes,
    pub size: u64,
    /// Nanoseconds since the Unix epoch.
    pub mtime_ns: i128,
    pub dev: u64,
    pub inode: u64,
    pub is_symlink: bool,
}

/// Move a quarantined file back (undo).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreFile {
    /// The run that quarantined it.
    pub run_id: String,
    pub quarantine_path: PathBytes,
    /// Where it was, and goes back to.
    pub path: PathBytes,
    /// What it was: size, mode, owner, times and hash (or link target), restored with it.
    pub meta: housekeeper_journal::FileMeta,
}

/// What an item does. Serialized snake_case (`{"delete": …}`); the PascalCase names of plans
/// journaled by earlier versions are still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "delete", alias = "Delete")]
    Delete(DeleteRows),
    #[serde(rename = "update", alias = "Update")]
    Update(UpdateRow),
    #[serde(rename = "insert", alias = "Insert")]
    Insert(InsertRow),
    #[serde(rename = "reinsert", alias = "Reinsert")]
    Reinsert(ReinsertRows),
    #[serde(rename = "quarantine", alias = "Quarantine")]
    Quarantine(FileItem),
    #[serde(rename = "restore", alias = "Restore")]
    Restore(Box<RestoreFile>),
}

/// One planned item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub op: Op,
    pub reason: Reason,
    /// The report category it counts under (e.g. `orphaned_job`, `ghost_job`), if any;
    /// static where the duty names it.
    pub category: Option<Cow<'static, str>>,
    /// `false` when the item is shown but not applied (e.g. a retention action that is off).
    pub enabled: bool,
    /// What the duty's re-check needs besides the row (e.g. a retention policy's date column
    /// and cutoff), and which items belong together. Never values of the row.
    /// Boxed: most items carry none, and an item stays small.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Box<ItemFacts>>,
}

/// Facts an item carries for its duty, typed per kind: a value that is missing or of the
/// wrong kind cannot be read as a default, so a re-check that needs one fails closed (the
/// item drifts with `bad_recheck_parameter`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum ItemFacts {
    /// DataRetentionCleanup: rows of `policy` expired — `retention_until <= now` where the
    /// table has that column and it is set, else `date_column < cutoff`.
    #[serde(rename = "retention_expired")]
    RetentionExpired {
        policy: String,
        /// The policy's key (`data_retention_policies.id`); absent in plans of earlier
        /// versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy_id: Option<i64>,
        date_column: String,
        cutoff: DateTimeValue,
        retention_until: bool,
    },
    /// DataRetentionCleanup: rows of `policy` marked for deletion (the grace purge).
    #[serde(rename = "retention_marked")]
    RetentionMarked {
        policy: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy_id: Option<i64>,
    },
    /// DataRetentionCleanup: the `retention_cleanup_jobs` row of `policy`.
    #[serde(rename = "retention_record")]
    RetentionRecord {
        policy: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy_id: Option<i64>,
    },
    /// DataRetentionCleanup: an archive copy, written only if item `mark_item` (the mark of
    /// the same rows) applies.
    #[serde(rename = "retention_archive_copy")]
    RetentionArchiveCopy { mark_item: usize },
}

impl ItemFacts {
    /// The name of the retention policy the item belongs to, if any.
    #[must_use]
    pub fn policy(&self) -> Option<&str> {
        match self {
            ItemFacts::RetentionExpired { policy, .. }
            | ItemFacts::RetentionMarked { policy, .. }
            | ItemFacts::RetentionRecord { policy, .. } => Some(policy),
            ItemFacts::RetentionArchiveCopy { .. } => None,
        }
    }

    /// The key of the retention policy the item belongs to, if any (and recorded).
    #[must_use]
    pub fn policy_id(&self) -> Option<i64> {
        match self {
            ItemFacts::RetentionExpired { policy_id, .. }
            | ItemFacts::RetentionMarked { policy_id, .. }
            | ItemFacts::RetentionRecord { policy_id, .. } => *policy_id,
            ItemFacts::RetentionArchiveCopy { .. } => None,
        }
    }
}

impl Item {
    #[must_use]
    pub fn new(op: Op, reason: Reason) -> Self {
        Item {
            op,
            reason,
            category: None,
            enabled: true,
            facts: None,
        }
    }

    #[must_use]
    pub fn facts(mut self, facts: ItemFacts) -> Self {
        self.facts = Some(Box::new(facts));
        self
    }

    #[must_use]
    pub fn category(mut self, category: impl Into<Cow<'static, str>>) -> Self {
        self.category = Some(category.into());
        self
    }

    #[must_use]
    pub fn disabled(mut self) -> Self {
        self.enabled = false;
        self
    }

    /// How many primary rows or files the item changes.
    #[must_use]
    pub fn size(&self) -> u64 {
        match &self.op {
            Op::Delete(d) => d.keys.len(),
            Op::Insert(_) => 0,
            Op::Reinsert(r) => r.keys.len(),
            Op::Update(_) | Op::Quarantine(_) | Op::Restore(_) => 1,
        }
    }

    /// The table the item changes, if it changes rows.
    #[must_use]
    pub fn table(&self) -> Option<&str> {
        match &self.op {
            Op::Delete(d) => Some(&d.table),
            Op::Update(u) => Some(&u.table),
            Op::Insert(i) => Some(&i.table),
            Op::Reinsert(r) => Some(&r.table),
            Op::Quarantine(_) | Op::Restore(_) => None,
        }
    }

    /// Whether the item changes files rather than rows.
    #[must_use]
    pub fn is_file(&self) -> bool {
        matches!(self.op, Op::Quarantine(_) | Op::Restore(_))
    }

    /// The chained summary: keys, names and paths — never values.
    #[must_use]
    pub fn summary(&self, index: u32) -> ItemSummary {
        let base = ItemSummary {
            item: index,
            action: Action::Delete,
            table: None,
            key_columns: Vec::new(),
            keys: KeySet::Values(Vec::new()),
            columns: Vec::new(),
            dependents: Vec::new(),
            path: None,
            reason: self.reason.code.to_string(),
            policy: self
                .facts
                .as_deref()
                .and_then(ItemFacts::policy_id)
                .map(Value::Int),
        };
        match &self.op {
            Op::Delete(d) => ItemSummary {
                table: Some(d.table.clone()),
                key_columns: vec![d.key_column.clone()],
                keys: d.keys.clone(),
                dependents: d
                    .dependents
                    .iter()
                    .map(|dep| dep.table.to_string())
                    .collect(),
                ..base
            },
            Op::Update(u) => ItemSummary {
                action: Action::Update,
                table: Some(u.table.clone()),
                key_columns: vec![u.key_column.clone()],
                keys: KeySet::Values(vec![u.key.clone()]),
                columns: u.changes.iter().map(|c| c.column.clone()).collect(),
                ..base
            },
            Op::Insert(i) => {
                let key = i
                    .columns
                    .iter()
                    .position(|c| *c == i.key_column)
                    .and_then(|at| i.values.get(at).cloned())
                    .unwrap_or(Value::Null);
                ItemSummary {
                    action: Action::Insert,
                    table: Some(i.table.clone()),
                    key_columns: vec![i.key_column.clone()],
                    keys: KeySet::Values(vec![key]),
                    columns: i.columns.clone(),
                    ..base
                }
            }
            Op::Reinsert(r) => ItemSummary {
                action: Action::Insert,
                table: Some(r.table.clone()),
                key_columns: vec![r.key_column.clone()],
                keys: r.keys.clone(),
                ..base
            },
            Op::Quarantine(f) => ItemSummary {
                action: Action::QuarantineFile,
                path: Some(f.path.clone()),
                ..base
            },
            Op::Restore(r) => ItemSummary {
                action: Action::RestoreFile,
                path: Some(r.path.clone()),
                ..base
            },
        }
    }
}

/// A problem found in the data that the duty reports but does not fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// `error`, `warning` or `info`.
    pub level: String,
    pub code: String,
    pub message: String,
}

impl Finding {
    /// How text output introduces it: `finding (error)` — its own word, so a finding at
    /// level `error` is never mistaken for a failure of housekeeper.
    #[must_use]
    pub fn heading(&self) -> String {
        format!("finding ({})", crate::text::Escaped(&self.level))
    }

    #[must_use]
    pub fn new(level: &str, code: &str, message: impl Into<String>) -> Self {
        Finding {
            level: level.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Whether the duty planned at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PlanStatus {
    Planned,
    Skipped { reason: String },
    Failed { error: String },
}

/// Everything one duty decided, for one `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DutyPlan {
    pub duty: DutyName,
    pub now: DateTimeValue,
    pub status: PlanStatus,
    pub items: Vec<Item>,
    pub findings: Vec<Finding>,
    /// Problems that stopped part of the planning (a bad policy, an unreadable directory);
    /// they make the duty `failed` while the rest of the plan still applies.
    pub errors: Vec<String>,
    /// Extra facts for the report (e.g. "affected" of a read-only duty).
    pub notes: Vec<String>,
    /// Items left alone because an undo restored them recently (docs/UNDO.md).
    pub held: Vec<String>,
}

impl DutyPlan {
    #[must_use]
    pub fn new(duty: DutyName, now: DateTimeValue) -> Self {
        DutyPlan {
            duty,
            now,
            status: PlanStatus::Planned,
            items: Vec::new(),
            findings: Vec::new(),
            errors: Vec::new(),
            notes: Vec::new(),
            held: Vec::new(),
        }
    }

    #[must_use]
    pub fn skipped(duty: DutyName, now: DateTimeValue, reason: impl Into<String>) -> Self {
        DutyPlan {
            status: PlanStatus::Skipped {
                reason: reason.into(),
            },
            ..DutyPlan::new(duty, now)
        }
    }

    #[must_use]
    pub fn failed(duty: DutyName, now: DateTimeValue, error: impl Into<String>) -> Self {
        DutyPlan {
            status: PlanStatus::Failed {
                error: error.into(),
            },
            ..DutyPlan::new(duty, now)
        }
    }

    /// Primary rows and files the plan would change (enabled items only). Findings are not
    /// changes: a read-only duty's plan changes nothing.
    #[must_use]
    pub fn affected(&self) -> u64 {
        self.items
            .iter()
            .filter(|i| i.enabled)
            .map(Item::size)
            .sum()
    }

    /// Enabled items per category, for the report.
    #[must_use]
    pub fn categories(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for item in self.items.iter().filter(|i| i.enabled) {
            if let Some(category) = &item.category {
                *out.entry(category.to_string()).or_insert(0) += item.size();
            }
        }
        out
    }

    /// Whether anything would change.
    #[must_use]
    pub fn has_changes(&self) -> bool {
        self.items.iter().any(|i| i.enabled)
    }
}

/// Every key of a set, ranges expanded.
#[must_use]
pub fn keys_of(keys: &KeySet) -> Vec<RowKey> {
    match keys {
        KeySet::Ranges(ranges) => ranges
            .iter()
            .flat_map(|(lo, hi)| (*lo..=*hi).map(|k| RowKey::Int(i128::from(k))))
            .collect(),
        KeySet::Values(values) => values.iter().map(RowKey::of).collect(),
    }
}

/// A key as plain text, for messages and reports: integers as digits, text as is, a byte
/// string that is not UTF-8 as `0x` and hex (see [`RowKey`]'s display). Never for comparing
/// keys: that is [`RowKey`].
#[must_use]
pub fn key_text(key: &Value) -> String {
    RowKey::of(key).to_string()
}

/// Collapses sorted, distinct integer keys into inclusive ranges.
#[must_use]
pub fn ranges_of(sorted_keys: &[i64]) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &k in sorted_keys {
        match out.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(k) => *hi = k,
            _ => out.push((k, k)),
        }
    }
    out
}

/// A `KeySet` from typed keys: integer keys collapse into ranges, others stay values.
#[must_use]
pub fn keyset(mut keys: Vec<Value>) -> KeySet {
    let ints: Option<Vec<i64>> = keys
        .iter()
        .map(|k| match k {
            Value::Int(v) => Some(*v),
            Value::UInt(v) => i64::try_from(*v).ok(),
            _ => None,
        })
        .collect();
    match ints {
        Some(mut ints) => {
            ints.sort_unstable();
            ints.dedup();
            KeySet::Ranges(ranges_of(&ints))
        }
        None => {
            keys.sort_by_key(|k| format!("{k}"));
            keys.dedup();
            KeySet::Values(keys)
        }
    }
}

/// Splits a key set into pieces of at most `max` keys, in order.
#[must_use]
pub fn split_keys(keys: &KeySet, max: u64) -> Vec<KeySet> {
    let max = max.max(1);
    match keys {
        KeySet::Values(values) => values
            .chunks(usize::try_from(max).unwrap_or(usize::MAX))
            .map(|c| KeySet::Values(c.to_vec()))
            .collect(),
        KeySet::Ranges(ranges) => {
            let mut out = Vec::new();
            let mut current: Vec<(i64, i64)> = Vec::new();
            let mut room = max;
            for &(lo, hi) in ranges {
                let mut lo = lo;
                loop {
                    let span = hi.abs_diff(lo) + 1;
                    if span <= room {
                        current.push((lo, hi));
                        room -= span;
                        break;
                    }
                    let take_hi = lo + i64::try_from(room).unwrap_or(i64::MAX) - 1;
                    current.push((lo, take_hi));
                    out.push(KeySet::Ranges(std::mem::take(&mut current)));
                    room = max;
                    lo = take_hi + 1;
                }
                if room == 0 {
                    out.push(KeySet::Ranges(std::mem::take(&mut current)));
                    room = max;
                }
            }
            if !current.is_empty() {
                out.push(KeySet::Ranges(current));
            }
            out
        }
    }
}

/// Joins key sets of one kind back into one (ranges with ranges, values with values).
#[must_use]
pub fn concat_keys(pieces: &[KeySet]) -> KeySet {
    let mut ranges = Vec::new();
    let mut values = Vec::new();
    for piece in pieces {
        match piece {
            KeySet::Ranges(r) => ranges.extend_from_slice(r),
            KeySet::Values(v) => values.extend_from_slice(v),
        }
    }
    if values.is_empty() {
        KeySet::Ranges(ranges)
    } else {
        values.extend(
            ranges
                .iter()
                .flat_map(|(lo, hi)| (*lo..=*hi).map(Value::Int)),
        );
        KeySet::Values(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_collapse_into_ranges() {
        assert_eq!(ranges_of(&[1, 2, 3, 5, 7, 8]), [(1, 3), (5, 5), (7, 8)]);
        assert_eq!(ranges_of(&[]), []);
        let set = keyset(vec![
            Value::Int(3),
            Value::Int(1),
            Value::Int(2),
            Value::Int(2),
        ]);
        assert_eq!(set, KeySet::Ranges(vec![(1, 3)]));
        let set = keyset(vec![Value::from("b"), Value::from("a")]);
        assert_eq!(
            set,
            KeySet::Values(vec![Value::from("a"), Value::from("b")])
        );
    }

    #[test]
    fn a_reinsert_journaled_with_its_rows_reads_back_with_their_keys() {
        let older = serde_json::json!({"reinsert": {
            "table": "log", "key_column": "id", "columns": ["id", "message"],
            "rows": [[{"Int": 7}, {"Text": "a"}], [{"Int": 8}, {"Text": "b"}]],
        }});
        let Ok(Op::Reinsert(r)) = serde_json::from_value::<Op>(older) else {
            panic!("an undo plan of an earlier version is read");
        };
        assert_eq!(r.keys, KeySet::Ranges(vec![(7, 8)]));
        assert_eq!(r.images, None, "its rows are in no payload section");
        let now = ReinsertRows {
            images: Some(RowImages {
                payload: "ab".repeat(32),
                section: 2,
            }),
            ..r
        };
        let back: Op = serde_json::from_value(
            serde_json::to_value(Op::Reinsert(now.clone())).expect("serializes"),
        )
        .expect("reads back");
        assert_eq!(back, Op::Reinsert(now));
    }

    #[test]
    fn key_sets_split_into_chunks() {
        let keys = KeySet::Ranges(vec![(1, 5), (10, 12)]);
        let pieces = split_keys(&keys, 3);
        assert_eq!(
            pieces,
            [
                KeySet::Ranges(vec![(1, 3)]),
                KeySet::Ranges(vec![(4, 5), (10, 10)]),
                KeySet::Ranges(vec![(11, 12)]),
            ]
        );
        assert_eq!(pieces.iter().map(KeySet::len).sum::<u64>(), 8);
        let exact = split_keys(&KeySet::Ranges(vec![(1, 4)]), 2);
        assert_eq!(
            exact,
            [KeySet::Ranges(vec![(1, 2)]), KeySet::Ranges(vec![(3, 4)])]
        );
        let values = KeySet::Values((0..5).map(Value::Int).collect());
        assert_eq!(split_keys(&values, 2).len(), 3);
    }
}
