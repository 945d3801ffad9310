//! How `apply` uses a saved plan: the duty plans afresh, and the saved plan can only narrow
//! what the fresh plan does. An item of the saved plan is executed only when the fresh plan
//! holds the same item (same op, table, key column and key; for updates the same columns,
//! old values and new values; for files the same path and identity), and what is executed is always the
//! fresh item (guard, tags, dependents, old values). Deletes of key sets execute the
//! intersection of both key sets. Everything else of the saved plan is refused as
//! `not planned now`; fresh items that the saved plan does not hold are not executed.

use std::collections::{BTreeMap, BTreeSet};

use housekeeper_journal::{KeySet, Value};

use super::{key_text, DutyPlan, Op, RowKey};

/// The drift reason of a saved item the duty does not plan now.
pub const NOT_PLANNED_NOW: &str = "not_planned_now";

/// A part of the saved plan that is not executed: a table (`file` for files), a key (or a
/// range `lo..hi`) and how many rows or files that is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub table: String,
    pub key: String,
    pub count: u64,
}

/// A set of keys: integer keys as sorted, disjoint, non-adjacent ranges, the others as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Keys {
    ints: Vec<(i64, i64)>,
    others: BTreeSet<RowKey>,
}

/// An integer key (also one written as text the canonical way: `7`, not `007` or `+7`).
fn int_of(value: &Value) -> Option<i64> {
    RowKey::of(value).as_i64()
}

fn normalize(mut ranges: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    ranges.retain(|(lo, hi)| lo <= hi);
    ranges.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some((_, last)) if lo <= last.saturating_add(1) => *last = (*last).max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

impl Keys {
    fn of(keys: &KeySet) -> Keys {
        match keys {
            KeySet::Ranges(ranges) => Keys {
                ints: normalize(ranges.clone()),
                others: BTreeSet::new(),
            },
            KeySet::Values(values) => {
                let mut ints = Vec::new();
                let mut others = BTreeSet::new();
                for v in values {
                    match int_of(v) {
                        Some(n) => ints.push((n, n)),
                        None => {
                            others.insert(RowKey::of(v));
                        }
                    }
                }
                Keys {
                    ints: normalize(ints),
                    others,
                }
            }
        }
    }

    fn union(&mut self, other: &Keys) {
        let mut ints = std::mem::take(&mut self.ints);
        ints.extend_from_slice(&other.ints);
        self.ints = normalize(ints);
        self.others.extend(other.others.iter().cloned());
    }

    fn contains(&self, value: &Value) -> bool {
        match int_of(value) {
            Some(n) => self.ints.iter().any(|(lo, hi)| (*lo..=*hi).contains(&n)),
            None => self.others.contains(&RowKey::of(value)),
        }
    }

    fn intersect(&self, other: &Keys) -> Keys {
        let mut ints = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < self.ints.len() && j < other.ints.len() {
            let (a_lo, a_hi) = self.ints[i];
            let (b_lo, b_hi) = other.ints[j];
            let (lo, hi) = (a_lo.max(b_lo), a_hi.min(b_hi));
            if lo <= hi {
                ints.push((lo, hi));
            }
            if a_hi < b_hi {
                i += 1;
            } else {
                j += 1;
            }
        }
        Keys {
            ints,
            others: self.others.intersection(&other.others).cloned().collect(),
        }
    }

    fn minus(&self, other: &Keys) -> Keys {
        let mut ints = Vec::new();
        for &(lo, hi) in &self.ints {
            let mut start = lo;
            let mut done = false;
            for &(b_lo, b_hi) in other
                .ints
                .iter()
                .filter(|(b_lo, b_hi)| *b_hi >= lo && *b_lo <= hi)
            {
                if b_lo > start {
                    ints.push((start, b_lo - 1));
                }
                match b_hi.checked_add(1) {
                    Some(next) if b_hi < hi => start = next,
                    _ => {
                        done = true;
                        break;
                    }
                }
            }
            if !done && start <= hi {
                ints.push((start, hi));
            }
        }
        Keys {
            ints,
            others: self.others.difference(&other.others).cloned().collect(),
        }
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.ints.is_empty() && self.others.is_empty()
    }

    fn refused(&self, table: &str, out: &mut Vec<Refused>) {
        for &(lo, hi) in &self.ints {
            out.push(Refused {
                table: table.to_owned(),
                key: if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}..{hi}")
                },
                count: hi.abs_diff(lo).saturating_add(1),
            });
        }
        for key in &self.others {
            out.push(Refused {
                table: table.to_owned(),
                key: key.to_string(),
                count: 1,
            });
        }
    }
}

/// The keys of `fresh` that `allowed` holds, in the shape of `fresh`.
fn restrict(fresh: &KeySet, allowed: &Keys) -> KeySet {
    match fresh {
        KeySet::Ranges(_) => KeySet::Ranges(Keys::of(fresh).intersect(allowed).ints),
        KeySet::Values(values) => KeySet::Values(
            values
                .iter()
                .filter(|v| allowed.contains(v))
                .cloned()
                .collect(),
        ),
    }
}

/// A change as comparable text: column, old value, new value.
fn change_text(change: &super::Change) -> (String, String, String) {
    (
        change.column.clone(),
        format!("{:?}", change.old),
        format!("{:?}", change.new),
    )
}

/// The fresh plan, narrowed to what the saved plan holds, and what of the saved plan is
/// refused. Items of the fresh plan that are not executed are disabled (not removed, so
/// item numbers keep their meaning for the duty's record rows); the duty's record rows
/// (inserts) stay the fresh plan's, written only for what really changed, and only when
/// something else is left to do. Disabled items of the saved plan are ignored.
#[must_use]
pub fn narrow(saved: &DutyPlan, mut fresh: DutyPlan) -> (DutyPlan, Vec<Refused>) {
    let mut refused = Vec::new();
    let mut keep = vec![false; fresh.items.len()];

    // Deletes: per table and key column, the saved keys against the fresh keys.
    let mut saved_keys: BTreeMap<(String, String), Keys> = BTreeMap::new();
    for item in saved.items.iter().filter(|i| i.enabled) {
        if let Op::Delete(d) = &item.op {
            saved_keys
                .entry((d.table.clone(), d.key_column.clone()))
                .or_default()
                .union(&Keys::of(&d.keys));
        }
    }
    let mut fresh_keys: BTreeMap<(String, String), Keys> = BTreeMap::new();
    for (at, item) in fresh.items.iter_mut().enumerate() {
        if !item.enabled {
            continue;
        }
        if let Op::Delete(d) = &mut item.op {
            let group = (d.table.clone(), d.key_column.clone());
            fresh_keys
                .entry(group.clone())
                .or_default()
                .union(&Keys::of(&d.keys));
            if let Some(allowed) = saved_keys.get(&group) {
                let keys = restrict(&d.keys, allowed);
                if !keys.is_empty() {
                    d.keys = keys;
                    keep[at] = true;
                }
            }
        }
    }
    for (group, keys) in &saved_keys {
        let planned = fresh_keys.get(group).cloned().unwrap_or_default();
        keys.minus(&planned).refused(&group.0, &mut refused);
    }

    // Updates and files: the same item, or nothing.
    for item in saved.items.iter().filter(|i| i.enabled) {
        match &item.op {
            Op::Update(u) => {
                let wanted: BTreeSet<(String, String, String)> =
                    u.changes.iter().map(change_text).collect();
                let found = fresh.items.iter().position(|f| {
                    f.enabled
                        && matches!(&f.op, Op::Update(fu)
                            if fu.table == u.table
                                && fu.key_column == u.key_column
                                && RowKey::of(&fu.key) == RowKey::of(&u.key)
                                && fu.changes.len() == u.changes.len()
                                && fu.changes.iter().map(change_text).collect::<BTreeSet<_>>()
                                    == wanted)
                });
                match found {
                    Some(at) => keep[at] = true,
                    None => refused.push(Refused {
                        table: u.table.clone(),
                        key: key_text(&u.key),
                        count: 1,
                    }),
                }
            }
            Op::Quarantine(file) => {
                let found = fresh.items.iter().position(|f| {
                    f.enabled
                        && matches!(&f.op, Op::Quarantine(ff)
                            if ff.path == file.path
                                && ff.size == file.size
                                && ff.mtime_ns == file.mtime_ns
                                && ff.dev == file.dev
                                && ff.inode == file.inode
                                && ff.is_symlink == file.is_symlink)
                });
                match found {
                    Some(at) => keep[at] = true,
                    None => refused.push(Refused {
                        table: "file".into(),
                        key: crate::text::PathText(&file.path).to_string(),
                        count: 1,
                    }),
                }
            }
            // Deletes are done above; the duty's record rows are the fresh plan's; other
            // kinds never pass the scope check.
            _ => {}
        }
    }

    let changes_left = fresh
        .items
        .iter()
        .zip(&keep)
        .any(|(item, kept)| *kept && !matches!(item.op, Op::Insert(_)));
    for (item, kept) in fresh.items.iter_mut().zip(&keep) {
        let record = matches!(item.op, Op::Insert(_));
        if (record && !changes_left) || (!record && !kept) {
            item.enabled = false;
        }
    }
    (fresh, refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duties::DutyName;
    use crate::plan::{Change, DeleteRows, Guard, Item, Reason, UpdateRow};
    use housekeeper_journal::DateTimeValue;

    fn now() -> DateTimeValue {
        DateTimeValue::ymd_hms(2026, 11, 28, 12, 0, 0)
    }

    fn delete(table: &str, keys: KeySet, guard: Guard) -> Item {
        Item::new(
            Op::Delete(DeleteRows {
                table: table.into(),
                key_column: "id".into(),
                keys,
                dependents: crate::plan::Dependents::default(),
                guard,
            }),
            Reason::new("r", "r"),
        )
    }

    fn update(table: &str, key: i64, column: &str, new: &str) -> Item {
        Item::new(
            Op::Update(UpdateRow {
                table: table.into(),
                key_column: "id".into(),
                key: Value::Int(key),
                changes: vec![Change {
                    column: column.into(),
                    old: Value::from("old"),
                    new: Value::from(new),
                }],
                guard: Guard::Duty,
            }),
            Reason::new("r", "r"),
        )
    }

    fn plan(items: Vec<Item>) -> DutyPlan {
        let mut plan = DutyPlan::new(DutyName::LogPruning, now());
        plan.items = items;
        plan
    }

    #[test]
    fn widened_ranges_execute_the_intersection_with_the_fresh_guard() {
        let saved = plan(vec![delete(
            "log",
            KeySet::Ranges(vec![(1, i64::MAX)]),
            Guard::Exists,
        )]);
        let fresh = plan(vec![delete(
            "log",
            KeySet::Ranges(vec![(1, 5), (8, 9)]),
            Guard::Duty,
        )]);
        let (narrowed, refused) = narrow(&saved, fresh);
        let Op::Delete(d) = &narrowed.items[0].op else {
            panic!()
        };
        assert_eq!(d.keys, KeySet::Ranges(vec![(1, 5), (8, 9)]));
        assert_eq!(d.guard, Guard::Duty);
        assert_eq!(
            refused,
            [
                Refused {
                    table: "log".into(),
                    key: "6..7".into(),
                    count: 2
                },
                Refused {
                    table: "log".into(),
                    key: format!("10..{}", i64::MAX),
                    count: i64::MAX.unsigned_abs() - 9
                },
            ]
        );
    }

    #[test]
    fn a_narrower_saved_plan_narrows() {
        let saved = plan(vec![delete(
            "log",
            KeySet::Values(vec![Value::Int(2), Value::Int(4)]),
            Guard::Duty,
        )]);
        let fresh = plan(vec![
            delete("log", KeySet::Ranges(vec![(1, 5)]), Guard::Duty),
            update("runtemplate", 1, "next_schedule", "x"),
        ]);
        let (narrowed, refused) = narrow(&saved, fresh);
        assert!(refused.is_empty());
        let Op::Delete(d) = &narrowed.items[0].op else {
            panic!()
        };
        assert_eq!(d.keys, KeySet::Ranges(vec![(2, 2), (4, 4)]));
        assert!(!narrowed.items[1].enabled, "not in the saved plan");
    }

    #[test]
    fn text_keys_intersect_as_text() {
        let values = |v: &[&str]| KeySet::Values(v.iter().map(|s| Value::from(*s)).collect());
        let saved = plan(vec![delete("job", values(&["a", "b", "007"]), Guard::Duty)]);
        let fresh = plan(vec![delete("job", values(&["b", "7", "c"]), Guard::Duty)]);
        let (narrowed, refused) = narrow(&saved, fresh);
        let Op::Delete(d) = &narrowed.items[0].op else {
            panic!()
        };
        assert_eq!(d.keys, values(&["b"]));
        let keys: Vec<&str> = refused.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["007", "a"]);
    }

    #[test]
    fn updates_match_on_columns_and_values() {
        let saved = plan(vec![
            update("task", 1, "state", "missed"),
            update("task", 2, "state", "done"),
            update("task", 3, "state", "missed"),
        ]);
        let mut fresh_item = update("task", 1, "state", "missed");
        fresh_item.reason = Reason::new("fresh", "fresh");
        fresh_item.facts = Some(Box::new(crate::plan::ItemFacts::RetentionMarked {
            policy: "fresh".into(),
            policy_id: Some(1),
        }));
        let mut moved = update("task", 3, "state", "missed");
        if let Op::Update(u) = &mut moved.op {
            u.changes[0].old = Value::from("running");
        }
        let fresh = plan(vec![
            fresh_item.clone(),
            update("task", 2, "state", "failed"),
            moved,
            update("task", 4, "state", "missed"),
        ]);
        let (narrowed, refused) = narrow(&saved, fresh);
        assert_eq!(
            narrowed.items[0], fresh_item,
            "the fresh item, tags and all"
        );
        assert!(!narrowed.items[1].enabled, "another new value");
        assert!(!narrowed.items[2].enabled, "another old value");
        assert!(!narrowed.items[3].enabled, "not in the saved plan");
        let keys: Vec<&str> = refused.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["2", "3"]);
    }

    #[test]
    fn record_rows_go_only_with_changes() {
        let record = Item::new(
            Op::Insert(crate::plan::InsertRow {
                table: "retention_cleanup_jobs".into(),
                key_column: "id".into(),
                columns: Vec::new(),
                values: Vec::new(),
            }),
            Reason::new("r", "r"),
        );
        let fresh = plan(vec![
            delete("log", KeySet::Ranges(vec![(1, 2)]), Guard::Duty),
            record.clone(),
        ]);
        let (narrowed, _) = narrow(&plan(vec![record.clone()]), fresh.clone());
        assert!(!narrowed.has_changes(), "nothing left, no record");
        let saved = plan(vec![delete(
            "log",
            KeySet::Ranges(vec![(2, 2)]),
            Guard::Duty,
        )]);
        let (narrowed, _) = narrow(&saved, fresh);
        assert!(narrowed.items[1].enabled);
    }

    #[test]
    fn key_sets_subtract() {
        let a = Keys::of(&KeySet::Ranges(vec![(1, 10), (20, 30)]));
        let b = Keys::of(&KeySet::Ranges(vec![(0, 2), (5, 5), (9, 21), (30, 40)]));
        assert_eq!(a.minus(&b).ints, [(3, 4), (6, 8), (22, 29)]);
        assert_eq!(
            a.intersect(&b).ints,
            [(1, 2), (5, 5), (9, 10), (20, 21), (30, 30)]
        );
        let max = Keys::of(&KeySet::Ranges(vec![(i64::MAX - 1, i64::MAX)]));
        assert!(max.minus(&max).is_empty());
    }
}
