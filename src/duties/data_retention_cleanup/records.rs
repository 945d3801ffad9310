//! The rows the duty writes about its own work: the copy of an archived row into
//! `data_archive` (written only when the row's mark applied) and per policy one
//! `retention_cleanup_jobs` row counting what really changed. Never decides which rows a
//! policy changes.

use std::collections::BTreeMap;

use housekeeper_journal::{DateTimeValue, Value};

use super::gather::Candidate;
use super::text;
use crate::plan::{DutyPlan, InsertRow, Item, ItemFacts, Op, Reason};

/// Rows processed, deleted, anonymized, archived.
pub(super) type Counts = (u64, u64, u64, u64);

/// The archive copies of rows whose mark applied, and per policy a `retention_cleanup_jobs`
/// row counting what really changed (drifted rows are not counted; a policy that changed
/// nothing gets no row).
pub(super) fn records(plan: &DutyPlan, applied: &BTreeMap<u32, u64>) -> Vec<(u32, InsertRow)> {
    let done = |i: usize| {
        applied
            .get(&u32::try_from(i).unwrap_or(u32::MAX))
            .copied()
            .unwrap_or(0)
    };
    let mut out = Vec::new();
    for (i, item) in plan.items.iter().enumerate() {
        let Op::Insert(row) = &item.op else { continue };
        if !item.enabled {
            continue;
        }
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        if let Some(mark) = item.facts.as_deref().and_then(|f| match f {
            ItemFacts::RetentionArchiveCopy { mark_item } => Some(*mark_item),
            _ => None,
        }) {
            if done(mark) > 0 {
                out.push((index, row.clone()));
            }
            continue;
        }
        let Some(policy) = item.facts.as_deref().and_then(ItemFacts::policy) else {
            continue;
        };
        let grace = row.values.get(1) == Some(&Value::from("grace_period_cleanup"));
        let mut counts = BTreeMap::<&str, u64>::new();
        for (j, other) in plan.items.iter().enumerate() {
            if other.facts.as_deref().and_then(ItemFacts::policy) == Some(policy) {
                if let Some(category) = other.category.as_deref() {
                    *counts.entry(category).or_insert(0) += done(j);
                }
            }
        }
        let get = |c: &str| counts.get(c).copied().unwrap_or(0);
        let tally = if grace {
            (get("purged"), get("purged"), 0, 0)
        } else {
            let (deleted, marked, anonymized, archived) = (
                get("deleted"),
                get("marked"),
                get("anonymized"),
                get("archived"),
            );
            (
                deleted + marked + anonymized + archived,
                deleted,
                anonymized,
                archived,
            )
        };
        if tally.0 == 0 {
            continue;
        }
        let policy_id = row.values.first().and_then(Value::as_i64).unwrap_or(0);
        let job_type = if grace {
            "grace_period_cleanup"
        } else {
            "scheduled_cleanup"
        };
        if let Op::Insert(fresh) = cleanup_job(policy_id, job_type, plan.now, tally).op {
            out.push((index, fresh));
        }
    }
    out
}

/// The copy of a row into `data_archive`, every column as JSON.
pub(super) fn archive_copy(table: &str, c: &Candidate, archived_by: i64) -> InsertRow {
    InsertRow {
        table: "data_archive".into(),
        key_column: "id".into(),
        columns: [
            "archive_type",
            "source_table",
            "source_record_id",
            "archived_data",
            "archived_reason",
            "archived_by",
        ]
        .map(String::from)
        .to_vec(),
        values: vec![
            Value::from("legal_hold"),
            Value::from(table),
            c.key.clone(),
            Value::from(row_json(&c.columns)),
            Value::from("Legal retention archive"),
            Value::Int(archived_by),
        ],
    }
}

fn row_json(columns: &BTreeMap<String, Value>) -> String {
    let map: serde_json::Map<String, serde_json::Value> = columns
        .iter()
        .map(|(k, v)| {
            let json = match v {
                Value::Null => serde_json::Value::Null,
                Value::Bool(b) => serde_json::Value::Bool(*b),
                Value::Int(i) => serde_json::Value::from(*i),
                Value::UInt(u) => serde_json::Value::from(*u),
                Value::Float(f) => serde_json::Value::from(*f),
                Value::Json(s) => {
                    serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.clone()))
                }
                Value::Bytes(b) => {
                    serde_json::Value::String(b.iter().map(|x| format!("{x:02x}")).collect())
                }
                other => serde_json::Value::String(text(other)),
            };
            (k.clone(), json)
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// The `retention_cleanup_jobs` row of one policy's work.
pub(super) fn cleanup_job(
    policy: i64,
    job_type: &str,
    now: DateTimeValue,
    (processed, deleted, anonymized, archived): Counts,
) -> Item {
    let n = |x: u64| Value::Int(i64::try_from(x).unwrap_or(i64::MAX));
    let summary = format!("Processed: {processed}, Deleted: {deleted}, Anonymized: {anonymized}, Archived: {archived}");
    Item::new(
        Op::Insert(InsertRow {
            table: "retention_cleanup_jobs".into(),
            key_column: "id".into(),
            columns: [
                "policy_id",
                "job_type",
                "status",
                "started_at",
                "completed_at",
                "records_processed",
                "records_deleted",
                "records_anonymized",
                "records_archived",
                "summary",
            ]
            .map(String::from)
            .to_vec(),
            values: vec![
                Value::Int(policy),
                Value::from(job_type),
                Value::from("completed"),
                Value::DateTime(now),
                Value::DateTime(now),
                n(processed),
                n(deleted),
                n(anonymized),
                n(archived),
                Value::from(summary.as_str()),
            ],
        }),
        Reason::new(
            "retention_record",
            format!("record of policy #{policy}: {summary}"),
        ),
    )
}
