//! DataRetentionCleanup: enforces the enabled rows of `data_retention_policies`.
//!
//! Known tables and their date columns are a fixed whitelist; any other `table_name` is an
//! error for that policy alone. A row is expired when its `retention_until` is set and
//! `<= now`, or — where the table has no `retention_until` or it is NULL — when its date
//! column is older than `now − retention_period_days`. Actions by `deletion_action`:
//! `hard_delete` (refused on `user` and `company`, which other tables reference), `soft_delete`
//! (sets `marked_for_deletion`), the grace purge (hard-deletes rows this tool marked at least
//! `grace_period_days` ago, as the journal records), `anonymize` (fixed values, `-<id>` on
//! unique columns, `anonymized_at`), `archive` (a JSON copy into `data_archive`, then mark).
//! Only the actions in `MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS` are applied; the plan shows
//! all of them, the others marked off. Each policy that changes something gets a
//! `retention_cleanup_jobs` row.
//!
//! This module owns the duty itself and the expiry rule (`expired`, `recheck_row`);
//! `tables` the whitelist, `policy` the policies and their validation, `gather` what a policy
//! looks at, `decide` the items per action, `records` the rows the duty writes about its work.
//! Like every duty it never writes: the executor applies its plan.

use std::collections::BTreeMap;

use housekeeper_journal::{DateTimeValue, Value};

use super::common::{self, Need, When};
use super::{Duty, DutyContext, DutyName, RowRef};
use crate::db::{DbResult, Query, ReadView, SchemaFacts};
use crate::plan::{self, DutyPlan, InsertRow, Item, ItemFacts};

mod decide;
mod gather;
mod policy;
mod records;
mod tables;
#[cfg(test)]
mod tests;

use decide::decide;
use gather::gather_policy;
use policy::read_policies;
pub use policy::{read_policy_scope, PolicyScope};
use tables::KNOWN_TABLES;
pub use tables::SCOPE;

pub struct DataRetentionCleanup;

const NEEDS: &[Need] = &[
    Need {
        table: "data_retention_policies",
        column: None,
        since: "migration 20250120185000",
    },
    Need {
        table: "data_retention_policies",
        column: Some("deletion_action"),
        since: "migration 20250120185000",
    },
    Need {
        table: "data_retention_policies",
        column: Some("retention_period_days"),
        since: "migration 20250120185000",
    },
];

/// A key or value as text in a reason.
fn text(v: &Value) -> String {
    plan::key_text(v)
}

impl Duty for DataRetentionCleanup {
    fn name(&self) -> DutyName {
        DutyName::DataRetentionCleanup
    }

    fn check_schema(&self, schema: &SchemaFacts) -> Result<(), String> {
        common::require(schema, NEEDS)
    }

    fn plan(&self, view: &mut dyn ReadView, ctx: &DutyContext<'_>) -> DutyPlan {
        let policies = match read_policies(view) {
            Ok(p) => p,
            Err(e) => {
                return DutyPlan::failed(
                    self.name(),
                    ctx.now,
                    format!("reading data_retention_policies: {e}"),
                )
            }
        };
        let mut facts = Vec::new();
        for policy in policies.into_iter().filter(|p| p.enabled) {
            facts.push(gather_policy(view, ctx, policy));
        }
        decide(&facts, &ctx.config.retention_actions, ctx.now)
    }

    /// The archive copies of rows whose mark applied, and per policy a `retention_cleanup_jobs`
    /// row counting what really changed (drifted rows are not counted; a policy that changed
    /// nothing gets no row).
    fn records(&self, plan: &DutyPlan, applied: &BTreeMap<u32, u64>) -> Vec<(u32, InsertRow)> {
        records::records(plan, applied)
    }

    fn recheck(
        &self,
        _tx: &mut dyn Query,
        ctx: &DutyContext<'_>,
        item: &Item,
        row: RowRef<'_>,
    ) -> DbResult<Option<String>> {
        Ok(recheck_row(item, row, ctx.now))
    }
}

/// Whether the locked row still qualifies for the item, by the item's facts: `None` when it
/// does, else the drift code. Fails closed: facts that are missing or of another kind, a
/// cutoff later than `now`, or a date column the duty does not know make the item drifted,
/// never a wider condition.
#[must_use]
pub fn recheck_row(item: &Item, row: RowRef<'_>, now: DateTimeValue) -> Option<String> {
    let bad = || Some("bad_recheck_parameter".to_owned());
    let still = match item.facts.as_deref() {
        Some(ItemFacts::RetentionExpired {
            date_column,
            cutoff,
            retention_until,
            ..
        }) => {
            if *cutoff > now || !KNOWN_TABLES.iter().any(|(_, known)| known == date_column) {
                return bad();
            }
            let until = if *retention_until {
                row.get("retention_until")
            } else {
                &Value::Null
            };
            expired(until, row.get(date_column), now, *cutoff)
        }
        Some(ItemFacts::RetentionMarked { .. }) => {
            row.get("marked_for_deletion").as_bool() == Some(true)
        }
        _ => return bad(),
    };
    (!still).then(|| "no_longer_matches".into())
}

/// Whether a row is expired: `retention_until <= now` when set, else `date < cutoff`.
#[must_use]
pub fn expired(
    retention_until: &Value,
    date: &Value,
    now: DateTimeValue,
    cutoff: DateTimeValue,
) -> bool {
    match common::when(retention_until) {
        When::At(until) => until <= now,
        When::Unparseable => false,
        When::Missing => common::before(date, cutoff),
    }
}

/// The moment `days` days before `now` (the first day of the calendar when out of range).
fn cutoff(now: DateTimeValue, days: i64) -> DateTimeValue {
    crate::clock::shift(now, -days.saturating_mul(86_400)).unwrap_or(DateTimeValue::date(1, 1, 1))
}
