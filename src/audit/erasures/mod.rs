//! `journal erasures`: the proof of erasure an auditor asks for. For every row
//! DataRetentionCleanup deleted, marked, anonymized, archived or purged: which run did it and
//! when, the policy, the table and the keys, and what became of the row images that could
//! bring it back — still kept (restorable until the end of the undo window), destroyed at
//! the end of the undo window (the erasure is final), or used by an undo that restored the
//! row. With the verification of the journal it is read from (`audit::verify`), so the
//! report can be trusted.
//!
//! Everything comes from the chained records (keys, names, times): no column value is read
//! or shown. The policy is named by its key, which the chain holds (journal format version 2
//! on), and by its name, read from the run's plan payload while that is kept (its digest is on
//! the chain); after the undo window the name is `None`. Read-only; the rendering is in
//! `render`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use housekeeper_journal::{Action, ChunkStatus, ItemSummary, KeySet, RunKind, Value};
use serde::Serialize;

use super::payloads::{self, PayloadState};
use super::verify::{AnchorResult, VerifyResult};
use super::{JournalIndex, RunInfo};
use crate::plan::{self, RowKey};

mod render;

pub use render::{csv, text};

/// The duty whose work the report covers.
pub const DUTY: &str = "DataRetentionCleanup";

/// The JSON document's schema.
pub const FORMAT: &str = "housekeeper.journal.erasures/v1";

/// A bound of `--since` / `--until`: a moment in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub at: DateTime<Utc>,
    /// Given as a date only: `--until` then includes that whole day.
    pub date_only: bool,
}

impl Bound {
    /// `2026-11-28`, `2026-11-28T09:00:00Z` (any RFC 3339 time), or `2026-11-28 09:00:00`
    /// and `2026-11-28T09:00:00` (UTC).
    ///
    /// # Errors
    /// The text is none of these, with the forms it accepts.
    pub fn parse(text: &str) -> Result<Bound, String> {
        let text = text.trim();
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            let at = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
            return at
                .map(|at| Bound {
                    at,
                    date_only: true,
                })
                .ok_or_else(|| format!("{text:?} is not a date"));
        }
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(Bound {
                at: at.with_timezone(&Utc),
                date_only: false,
            });
        }
        for form in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
            if let Ok(at) = NaiveDateTime::parse_from_str(text, form) {
                return Ok(Bound {
                    at: at.and_utc(),
                    date_only: false,
                });
            }
        }
        Err(format!(
            "{text:?} is not a date: use YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or \"YYYY-MM-DD HH:MM:SS\" (UTC)"
        ))
    }

    fn text(&self) -> String {
        if self.date_only {
            self.at.format("%Y-%m-%d").to_string()
        } else {
            utc_text(self.at)
        }
    }
}

/// What the report is asked for.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Runs started at or after this moment.
    pub since: Option<Bound>,
    /// Runs started at or before this moment (a date: before the end of that day).
    pub until: Option<Bound>,
    /// Only rows of this table.
    pub table: Option<String>,
}

impl Filter {
    fn takes(&self, run: &RunInfo) -> bool {
        let Some(started) = started(run) else {
            // A run whose start does not parse is shown unless a time bound is asked for.
            return self.since.is_none() && self.until.is_none();
        };
        if self.since.is_some_and(|s| started < s.at) {
            return false;
        }
        match self.until {
            Some(u) if u.date_only => started < u.at + TimeDelta::days(1),
            Some(u) => started <= u.at,
            None => true,
        }
    }
}

/// How far the journal the report is read from can be trusted: `journal verify`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// No damage of any kind.
    pub ok: bool,
    pub records: u64,
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
    /// The newest database anchor and whether the chain holds it.
    pub anchor: AnchorResult,
    /// Every problem found, as `journal verify` words it.
    pub damage: Vec<String>,
    pub warnings: Vec<String>,
}

impl Verification {
    #[must_use]
    pub fn of(result: &VerifyResult) -> Verification {
        let mut damage: Vec<String> = result.damage.iter().map(|d| d.message.clone()).collect();
        let unlisted = result
            .damage_count
            .saturating_sub(result.damage.len() as u64);
        if unlisted > 0 {
            damage.push(format!("… and {unlisted} more"));
        }
        damage.extend(result.quarantine_damage.iter().map(|q| q.message.clone()));
        Verification {
            ok: result.ok,
            records: result.records,
            head_seq: result.head_seq,
            head_hash: result.head_hash.clone(),
            anchor: result.anchor.clone(),
            damage,
            warnings: result.warnings.clone(),
        }
    }
}

/// What became of the rows of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Status {
    /// Their row images are kept: `housekeeper undo` of the run can still bring them back.
    #[serde(rename = "restorable")]
    Restorable,
    /// Their row images were destroyed at the end of the undo window: the erasure is final.
    #[serde(rename = "final")]
    Final,
    /// An undo of the run put them back.
    #[serde(rename = "restored")]
    Restored,
}

impl Status {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Status::Restorable => "restorable",
            Status::Final => "final",
            Status::Restored => "restored",
        }
    }
}

/// Rows of one table that one run erased under one policy with one action, and share what
/// became of them.
#[derive(Debug, Clone, Serialize)]
pub struct Erasure {
    pub run_id: String,
    /// `run` or `apply`.
    pub run_kind: &'static str,
    /// When the run started (host clock, UTC).
    pub started_utc: String,
    /// The run's `now`, the clock every retention cutoff was computed from.
    pub now: String,
    /// The policy's key (`data_retention_policies.id`), from the chain; `None` for runs
    /// journaled before the chain recorded it.
    pub policy_id: Option<i64>,
    /// The policy's name; `None` once the run's plan payload is gone.
    pub policy: Option<String>,
    pub table: String,
    pub key_column: String,
    /// `deleted`, `marked`, `anonymized`, `archived` or `purged`.
    pub action: &'static str,
    /// The columns an anonymization overwrote (names only).
    pub columns: Vec<String>,
    /// Tables whose dependent rows were deleted with these rows.
    pub dependents: Vec<String>,
    pub keys: KeySet,
    pub count: u64,
    pub status: Status,
    /// The end of the undo window (`started_utc` + `MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS`).
    pub restorable_until_utc: Option<String>,
    /// When the row images were destroyed (the start of the run whose end expired them).
    pub images_destroyed_utc: Option<String>,
    /// The undo that restored them, and when it started.
    pub restored_by: Option<String>,
    pub restored_utc: Option<String>,
}

/// `journal erasures --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureReport {
    pub format: &'static str,
    pub journal_dir: String,
    pub verification: Verification,
    /// The journal could be read only up to its first damage: entries after it are missing.
    pub read_until_damage: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub table: Option<String>,
    pub undo_days: u32,
    pub erasures: Vec<Erasure>,
}

/// The report over `index` (the journal in `dir`), trusted as far as `verification` says.
#[must_use]
pub fn report(
    index: &JournalIndex,
    dir: &Path,
    filter: &Filter,
    undo_days: u32,
    verification: Verification,
) -> ErasureReport {
    let mut erasures = Vec::new();
    for run in &index.runs {
        if !matches!(run.kind, RunKind::Run | RunKind::Apply { .. }) || !filter.takes(run) {
            continue;
        }
        erasures.extend(of_run(index, dir, run, filter, undo_days));
    }
    erasures.sort_by(|a, b| {
        a.heading()
            .cmp(&b.heading())
            .then_with(|| a.started_utc.cmp(&b.started_utc))
    });
    ErasureReport {
        format: FORMAT,
        journal_dir: dir.display().to_string(),
        verification,
        read_until_damage: None,
        since: filter.since.map(|b| b.text()),
        until: filter.until.map(|b| b.text()),
        table: filter.table.clone(),
        undo_days,
        erasures,
    }
}

/// The erasure of a retention item by its stable reason code; `None` for the duty's own
/// record rows (`retention_record`, `retention_archive_copy`).
fn action_of(reason: &str) -> Option<&'static str> {
    match reason {
        "retention_hard_delete" => Some("deleted"),
        "retention_soft_delete" => Some("marked"),
        "retention_anonymize" => Some("anonymized"),
        "retention_archive" => Some("archived"),
        "retention_grace_purge" => Some("purged"),
        _ => None,
    }
}

/// The chained action, as a map key.
fn action_name(action: Action) -> &'static str {
    match action {
        Action::Delete => "delete",
        Action::Update => "update",
        Action::Insert => "insert",
        Action::QuarantineFile => "quarantine_file",
        Action::RestoreFile => "restore_file",
    }
}

impl Erasure {
    /// What the report lists its entries under: the policy's key (entries without one last,
    /// by name, those without either at the very end), then the table.
    fn heading(&self) -> (bool, Option<i64>, bool, Option<&str>, &str) {
        let by_name = if self.policy_id.is_none() {
            self.policy.as_deref()
        } else {
            None
        };
        (
            self.policy_id.is_none(),
            self.policy_id,
            by_name.is_none(),
            by_name,
            &self.table,
        )
    }
}

/// One group of a run while it is gathered: its items' keys, in plan order.
struct Group {
    policy_id: Option<i64>,
    policy: Option<String>,
    table: String,
    key_column: String,
    action: &'static str,
    columns: BTreeSet<String>,
    dependents: BTreeSet<String>,
    keys: Vec<Value>,
}

fn of_run(
    index: &JournalIndex,
    dir: &Path,
    run: &RunInfo,
    filter: &Filter,
    undo_days: u32,
) -> Vec<Erasure> {
    let Some(duty) = run.duty(DUTY) else {
        return Vec::new();
    };
    let Some((plan_payload, items)) = &duty.plan else {
        return Vec::new();
    };
    // Rows the committed chunks changed, per table and action, and the items that drifted.
    let mut changed: BTreeMap<(&str, &str), BTreeSet<RowKey>> = BTreeMap::new();
    let mut drifted: BTreeSet<(u32, RowKey)> = BTreeSet::new();
    for chunk in &duty.chunks {
        if chunk.status != ChunkStatus::Committed {
            continue;
        }
        for change in &chunk.changes {
            changed
                .entry((change.table.as_str(), action_name(change.action)))
                .or_default()
                .extend(plan::keys_of(&change.keys));
        }
        drifted.extend(chunk.drifted.iter().map(|d| (d.item, RowKey::of(&d.key))));
    }
    let policies = policies_of(dir, run, plan_payload);
    let mut groups: Vec<Group> = Vec::new();
    for item in items {
        let (Some(action), Some(table)) = (action_of(&item.reason), item.table.as_deref()) else {
            continue;
        };
        if filter.table.as_deref().is_some_and(|t| t != table) {
            continue;
        }
        let done = changed.get(&(table, action_name(item.action)));
        let keys: Vec<Value> = values_of(&item.keys)
            .into_iter()
            .filter(|k| {
                let key = RowKey::of(k);
                done.is_some_and(|d| d.contains(&key)) && !drifted.contains(&(item.item, key))
            })
            .collect();
        if keys.is_empty() {
            continue;
        }
        let policy = (policy_key(item), policies.get(&item.item).cloned());
        let group = group_of(&mut groups, policy, table, action, item);
        group.columns.extend(item.columns.iter().cloned());
        group.dependents.extend(item.dependents.iter().cloned());
        group.keys.extend(keys);
    }
    let restored = restored_keys(index, run);
    let mut out = Vec::new();
    for group in groups {
        out.extend(split_by_fate(run, group, &restored, undo_days));
    }
    out
}

/// The policy key the chain records for an item: an integer id (every MultiFlexi schema's
/// `data_retention_policies.id`); anything else is not a policy key this report can name.
fn policy_key(item: &ItemSummary) -> Option<i64> {
    match item.policy {
        Some(Value::Int(id)) => Some(id),
        _ => None,
    }
}

fn group_of<'g>(
    groups: &'g mut Vec<Group>,
    (policy_id, policy): (Option<i64>, Option<String>),
    table: &str,
    action: &'static str,
    item: &ItemSummary,
) -> &'g mut Group {
    let key_column = item.key_columns.join(",");
    let at = groups.iter().position(|g| {
        g.policy_id == policy_id
            && g.policy == policy
            && g.table == table
            && g.action == action
            && g.key_column == key_column
    });
    let at = at.unwrap_or_else(|| {
        groups.push(Group {
            policy_id,
            policy,
            table: table.to_owned(),
            key_column,
            action,
            columns: BTreeSet::new(),
            dependents: BTreeSet::new(),
            keys: Vec::new(),
        });
        groups.len() - 1
    });
    &mut groups[at]
}

/// The policy of each item, from the run's plan payload while it is kept (and hashes as the
/// chain records: `read_plan` checks the digest).
fn policies_of(
    dir: &Path,
    run: &RunInfo,
    payload: &housekeeper_journal::PayloadRef,
) -> BTreeMap<u32, String> {
    if payloads::state_of(dir, payload, &run.expired_payloads) != PayloadState::Present {
        return BTreeMap::new();
    }
    let Ok(plan) = payloads::read_plan(dir, payload) else {
        return BTreeMap::new();
    };
    plan.items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let policy = item.facts.as_ref()?.policy()?;
            Some((u32::try_from(i).ok()?, policy.to_owned()))
        })
        .collect()
}

/// The rows of `table` that committed chunks of undos of `run` put back: key → (undo, its
/// start).
fn restored_keys<'i>(
    index: &'i JournalIndex,
    run: &RunInfo,
) -> BTreeMap<(String, RowKey), (&'i str, &'i str)> {
    let mut out = BTreeMap::new();
    for (undo_id, _) in &run.undone_by {
        let Some(undo) = index.run(undo_id) else {
            continue;
        };
        for duty in undo.duties.iter().filter(|d| d.duty == DUTY) {
            for chunk in duty
                .chunks
                .iter()
                .filter(|c| c.status == ChunkStatus::Committed)
            {
                for change in &chunk.changes {
                    for key in plan::keys_of(&change.keys) {
                        out.entry((change.table.clone(), key))
                            .or_insert((undo.run_id.as_str(), undo.started_utc.as_str()));
                    }
                }
            }
        }
    }
    out
}

/// One entry per fate of the group's rows: restored by an undo (one per undo), else kept
/// or destroyed with the run's row images.
fn split_by_fate(
    run: &RunInfo,
    group: Group,
    restored: &BTreeMap<(String, RowKey), (&str, &str)>,
    undo_days: u32,
) -> Vec<Erasure> {
    let window_end = started(run).map(|s| utc_text(s + TimeDelta::days(i64::from(undo_days))));
    let (status, destroyed) = if run.expired() {
        (Status::Final, run.expired_utc.clone())
    } else {
        (Status::Restorable, None)
    };
    let mut fates: BTreeMap<Option<(&str, &str)>, Vec<Value>> = BTreeMap::new();
    for key in group.keys {
        let by = restored
            .get(&(group.table.clone(), RowKey::of(&key)))
            .copied();
        fates.entry(by).or_default().push(key);
    }
    fates
        .into_iter()
        .map(|(by, keys)| {
            let keys = plan::keyset(keys);
            Erasure {
                run_id: run.run_id.clone(),
                run_kind: run.kind_name(),
                started_utc: run.started_utc.clone(),
                now: run.now.to_string(),
                policy_id: group.policy_id,
                policy: group.policy.clone(),
                table: group.table.clone(),
                key_column: group.key_column.clone(),
                action: group.action,
                columns: group.columns.iter().cloned().collect(),
                dependents: group.dependents.iter().cloned().collect(),
                count: keys.len(),
                keys,
                status: if by.is_some() {
                    Status::Restored
                } else {
                    status
                },
                restorable_until_utc: window_end.clone(),
                images_destroyed_utc: destroyed.clone(),
                restored_by: by.map(|(id, _)| id.to_owned()),
                restored_utc: by.map(|(_, at)| at.to_owned()),
            }
        })
        .collect()
}

/// Every key of a set as a typed value, ranges expanded.
fn values_of(keys: &KeySet) -> Vec<Value> {
    match keys {
        KeySet::Ranges(ranges) => ranges
            .iter()
            .flat_map(|(lo, hi)| (*lo..=*hi).map(Value::Int))
            .collect(),
        KeySet::Values(values) => values.clone(),
    }
}

fn started(run: &RunInfo) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&run.started_utc)
        .ok()
        .map(|s| s.with_timezone(&Utc))
}

fn utc_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_take_dates_and_times_in_utc() {
        let day = Bound::parse("2026-11-28").unwrap();
        assert!(day.date_only);
        assert_eq!(day.text(), "2026-11-28");
        let at = Bound::parse("2026-11-28T10:00:00+01:00").unwrap();
        assert_eq!(at.text(), "2026-11-28T09:00:00Z");
        for plain in ["2026-11-28 09:00:00", "2026-11-28T09:00:00"] {
            assert_eq!(
                Bound::parse(plain).unwrap().at,
                at.at,
                "a time without a zone is UTC"
            );
        }
        for bad in ["yesterday", "2026-13-01", "28.11.2026", ""] {
            let e = Bound::parse(bad).unwrap_err();
            assert!(e.contains("YYYY-MM-DD"), "{bad}: {e}");
        }
    }

    #[test]
    fn only_retention_items_are_erasures() {
        for (code, want) in [
            ("retention_hard_delete", Some("deleted")),
            ("retention_soft_delete", Some("marked")),
            ("retention_anonymize", Some("anonymized")),
            ("retention_archive", Some("archived")),
            ("retention_grace_purge", Some("purged")),
            ("retention_record", None),
            ("retention_archive_copy", None),
            ("log_keep", None),
        ] {
            assert_eq!(action_of(code), want, "{code}");
        }
    }
}
