//! A row of `data_retention_policies`: reading the policies, the validation of their periods
//! (an impossible period fails its policy alone) and the scope the enabled policies allow at
//! apply time. Never decides which rows a policy changes.

use std::collections::BTreeMap;

use super::tables::{personal_of, REFERENCED};
use super::text;
use crate::db::{DbResult, ReadView};
use crate::duties::common;
use crate::plan::{Item, Op};

/// One row of `data_retention_policies`.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: i64,
    pub name: String,
    pub table: String,
    /// `None` when NULL or not a whole number.
    pub period_days: Option<i64>,
    /// `None` when NULL or not a whole number.
    pub grace_days: Option<i64>,
    pub action: String,
    pub enabled: bool,
}

/// The longest retention or grace period a policy may give: 100 years.
pub const MAX_DAYS: i64 = 36_500;

/// The policy's retention and grace periods in days, or why they are impossible: a
/// retention period below 1 day or above [`MAX_DAYS`], a grace period below 0 or above
/// [`MAX_DAYS`], NULL (or not a whole number) where a number is needed (the grace period is
/// needed by `soft_delete`, whose grace purge counts it). Such a policy fails alone; it never
/// turns into a wider deletion.
///
/// # Errors
/// The message names the policy, the column and the value.
pub fn periods(p: &Policy) -> Result<(i64, i64), String> {
    let bad = |column: &str, value: String, allowed: &str| {
        format!(
            "policy \"{}\" (#{}, {}): {column} = {value} is impossible ({allowed}); the policy is not applied",
            p.name, p.id, p.table
        )
    };
    let period = match p.period_days {
        Some(days) if (1..=MAX_DAYS).contains(&days) => days,
        Some(days) => {
            return Err(bad(
                "retention_period_days",
                days.to_string(),
                &format!("allowed: 1 to {MAX_DAYS} days"),
            ))
        }
        None => {
            return Err(bad(
                "retention_period_days",
                "NULL".into(),
                "a whole number of days is required",
            ))
        }
    };
    let grace = match p.grace_days {
        Some(days) if (0..=MAX_DAYS).contains(&days) => days,
        Some(days) => {
            return Err(bad(
                "grace_period_days",
                days.to_string(),
                &format!("allowed: 0 to {MAX_DAYS} days"),
            ))
        }
        None if p.action == "soft_delete" => {
            return Err(bad(
                "grace_period_days",
                "NULL".into(),
                "soft_delete needs a whole number of days",
            ))
        }
        None => 0,
    };
    Ok((period, grace))
}

/// What the enabled policies allow at this moment: the tables rows may be deleted from and,
/// per table, the columns that may be written. Narrower than [`super::SCOPE`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyScope {
    pub deletes: std::collections::BTreeSet<String>,
    pub updates: BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl PolicyScope {
    /// `Err(what the item does)` when no enabled policy allows a delete or update like it.
    ///
    /// # Errors
    /// The item is outside every enabled policy.
    pub fn check(&self, item: &Item) -> Result<(), String> {
        match &item.op {
            Op::Delete(d) if !self.deletes.contains(&d.table) => Err(format!(
                "deletes from table {}, which no enabled retention policy allows",
                d.table
            )),
            Op::Update(u) => {
                let allowed = self.updates.get(&u.table);
                match u
                    .changes
                    .iter()
                    .find(|c| !allowed.is_some_and(|cols| cols.contains(&c.column)))
                {
                    Some(c) => Err(format!(
                        "updates column {}.{}, which no enabled retention policy writes",
                        u.table, c.column
                    )),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

/// The scope of the enabled policies, by what each action writes.
#[must_use]
pub fn policy_scope(policies: &[Policy]) -> PolicyScope {
    let mut scope = PolicyScope::default();
    for p in policies.iter().filter(|p| p.enabled) {
        let mut write = |columns: &[&str]| {
            scope
                .updates
                .entry(p.table.clone())
                .or_default()
                .extend(columns.iter().map(|c| (*c).to_owned()));
        };
        match p.action.as_str() {
            "soft_delete" | "archive" => write(&["marked_for_deletion"]),
            "anonymize" => {
                let personal: Vec<&str> =
                    personal_of(&p.table).iter().map(|(c, _, _)| *c).collect();
                write(&personal);
                write(&["anonymized_at"]);
            }
            _ => {}
        }
        if matches!(p.action.as_str(), "hard_delete" | "soft_delete")
            && !REFERENCED.contains(&p.table.as_str())
        {
            scope.deletes.insert(p.table.clone());
        }
    }
    scope
}

/// The scope of the policies enabled now.
///
/// # Errors
/// The policies could not be read.
pub fn read_policy_scope(view: &mut dyn ReadView) -> DbResult<PolicyScope> {
    Ok(policy_scope(&read_policies(view)?))
}

/// Every row of `data_retention_policies`, by id.
pub(super) fn read_policies(view: &mut dyn ReadView) -> DbResult<Vec<Policy>> {
    let d = *view.dialect();
    let cols = [
        "id",
        "policy_name",
        "table_name",
        "retention_period_days",
        "grace_period_days",
        "deletion_action",
        "enabled",
    ]
    .map(|c| d.quote(c))
    .join(", ");
    let sql = format!(
        "SELECT {cols} FROM {} ORDER BY {}",
        d.quote("data_retention_policies"),
        d.quote("id")
    );
    Ok(view
        .query(&sql, &[])?
        .rows
        .iter()
        .map(|r| Policy {
            id: common::int(&r[0]),
            name: text(&r[1]),
            table: text(&r[2]),
            period_days: r[3].as_i64(),
            grace_days: r[4].as_i64(),
            action: text(&r[5]),
            enabled: r[6].as_bool() == Some(true),
        })
        .collect())
}
