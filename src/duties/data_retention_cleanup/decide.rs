//! The pure decision of the retention policies: from one policy's gathered facts, the items of
//! its action (`hard_delete`, `soft_delete`, `anonymize`, `archive`) and of the grace purge,
//! each with the tags its re-check reads, and the record row of what the policy changes.
//! Never reads the database: unit tests call it with literal facts.

use std::collections::BTreeSet;

use housekeeper_journal::{DateTimeValue, Value};

use super::gather::{Candidate, PolicyFacts};
use super::policy::periods;
use super::records::{archive_copy, cleanup_job, Counts};
use super::tables::{personal_of, REFERENCED};
use super::{cutoff, expired, text};
use crate::config::RetentionAction;
use crate::duties::common::{self, When};
use crate::duties::orphaned_job_cleanup::job_dependents;
use crate::duties::DutyName;
use crate::plan::{
    self, Change, DeleteRows, DutyPlan, Finding, Guard, Item, ItemFacts, Op, Reason, UpdateRow,
};

/// The plan for every enabled policy.
#[must_use]
pub fn decide(
    policies: &[PolicyFacts],
    actions: &BTreeSet<RetentionAction>,
    now: DateTimeValue,
) -> DutyPlan {
    let mut plan = DutyPlan::new(DutyName::DataRetentionCleanup, now);
    for facts in policies {
        if let Some(error) = &facts.error {
            plan.errors.push(error.clone());
            continue;
        }
        match periods(&facts.policy) {
            Ok(days) => decide_policy(facts, days, actions, now, &mut plan),
            Err(error) => plan.errors.push(error),
        }
    }
    plan
}

fn action_of(name: &str) -> Option<RetentionAction> {
    match name {
        "hard_delete" => Some(RetentionAction::HardDelete),
        "soft_delete" => Some(RetentionAction::SoftDelete),
        "anonymize" => Some(RetentionAction::Anonymize),
        "archive" => Some(RetentionAction::Archive),
        _ => None,
    }
}

/// What the items of one policy's action share.
struct Decision<'a> {
    facts: &'a PolicyFacts,
    period_days: i64,
    cutoff: DateTimeValue,
    now: DateTimeValue,
    /// Whether the action is among the actions applied.
    on: bool,
}

impl Decision<'_> {
    /// The item with the facts the re-check of an expired row reads, off when the action is.
    fn expired_item(&self, item: Item) -> Item {
        let item = item.facts(ItemFacts::RetentionExpired {
            policy: self.facts.policy.name.clone(),
            policy_id: Some(self.facts.policy.id),
            date_column: self.facts.date_column.clone(),
            cutoff: self.cutoff,
            retention_until: self.facts.has_retention_until,
        });
        self.toggle(item)
    }

    fn toggle(&self, item: Item) -> Item {
        if self.on {
            item
        } else {
            item.disabled()
        }
    }

    /// Why one row is expired, with the policy, table and key.
    fn reason(&self, c: &Candidate) -> String {
        let why = match common::when(&c.retention_until) {
            When::At(until) => format!("retention_until {until} has passed"),
            _ => format!(
                "{} {} is older than {} days",
                self.facts.date_column,
                common::show(&c.date),
                self.period_days
            ),
        };
        let p = &self.facts.policy;
        format!("policy \"{}\": {} {}: {why}", p.name, p.table, text(&c.key))
    }
}

fn decide_policy(
    facts: &PolicyFacts,
    (period_days, grace_days): (i64, i64),
    actions: &BTreeSet<RetentionAction>,
    now: DateTimeValue,
    plan: &mut DutyPlan,
) {
    let p = &facts.policy;
    let Some(action) = action_of(&p.action) else {
        return;
    };
    let decision = Decision {
        facts,
        period_days,
        cutoff: cutoff(now, period_days),
        now,
        on: actions.contains(&action),
    };
    let rows = expired_rows(&decision, plan);
    let counts = match action {
        RetentionAction::HardDelete => hard_delete(&decision, &rows, plan),
        RetentionAction::SoftDelete => soft_delete(&decision, &rows, plan),
        RetentionAction::Anonymize => anonymize(&decision, &rows, plan),
        RetentionAction::Archive => archive(&decision, &rows, plan),
        RetentionAction::GracePurge => (0, 0, 0, 0),
    };
    if decision.on && counts.0 > 0 {
        plan.items
            .push(cleanup_job(p.id, "scheduled_cleanup", now, counts).facts(
                ItemFacts::RetentionRecord {
                    policy: p.name.clone(),
                    policy_id: Some(p.id),
                },
            ));
    }
    if action == RetentionAction::SoftDelete {
        let purge_on = actions.contains(&RetentionAction::GracePurge);
        grace_purge(facts, grace_days, purge_on, now, plan);
    }
}

/// The candidates that are expired; those whose dates do not parse are left alone, with a
/// warning that counts them.
fn expired_rows<'a>(d: &Decision<'a>, plan: &mut DutyPlan) -> Vec<&'a Candidate> {
    let mut unparseable = 0;
    let mut rows = Vec::new();
    for c in &d.facts.candidates {
        if common::when(&c.retention_until) == When::Unparseable
            || c.retention_until.is_null() && common::when(&c.date) == When::Unparseable
        {
            unparseable += 1;
            continue;
        }
        if expired(&c.retention_until, &c.date, d.now, d.cutoff) {
            rows.push(c);
        }
    }
    if unparseable > 0 {
        let p = &d.facts.policy;
        plan.findings.push(Finding::new(
            "warning",
            "unparseable_date",
            format!("policy \"{}\": {unparseable} row(s) of {} have a date that does not parse; left alone", p.name, p.table),
        ));
    }
    rows
}

/// The tables whose rows go with a deleted row of `table`.
fn dependents_of(table: &str) -> plan::Dependents {
    if table == "job" {
        job_dependents()
    } else {
        plan::Dependents::default()
    }
}

/// One delete over every expired key.
fn hard_delete(d: &Decision<'_>, rows: &[&Candidate], plan: &mut DutyPlan) -> Counts {
    if rows.is_empty() {
        return (0, 0, 0, 0);
    }
    let p = &d.facts.policy;
    let keys = plan::keyset(rows.iter().map(|c| c.key.clone()).collect());
    let n = keys.len();
    let text = format!(
        "policy \"{}\": {n} row(s) of {} past retention ({} days, or retention_until)",
        p.name, p.table, d.period_days
    );
    let item = Item::new(
        Op::Delete(DeleteRows {
            table: p.table.clone(),
            key_column: d.facts.key_column.clone(),
            keys,
            dependents: dependents_of(&p.table),
            guard: Guard::Duty,
        }),
        Reason::new("retention_hard_delete", text),
    )
    .category("deleted");
    plan.items.push(d.expired_item(item));
    (n, n, 0, 0)
}

/// A mark on every expired row not marked yet.
fn soft_delete(d: &Decision<'_>, rows: &[&Candidate], plan: &mut DutyPlan) -> Counts {
    let mut counts = (0, 0, 0, 0);
    for c in rows.iter().filter(|c| c.marked != Some(true)) {
        let item = Item::new(
            mark(d.facts, c),
            Reason::new("retention_soft_delete", d.reason(c)),
        )
        .category("marked");
        plan.items.push(d.expired_item(item));
        counts.0 += 1;
    }
    counts
}

/// The fixed values in the personal columns of every expired row not anonymized yet.
fn anonymize(d: &Decision<'_>, rows: &[&Candidate], plan: &mut DutyPlan) -> Counts {
    let p = &d.facts.policy;
    let mut counts = (0, 0, 0, 0);
    for c in rows.iter().filter(|c| c.anonymized_at.is_null()) {
        let mut changes: Vec<Change> = personal_of(&p.table)
            .iter()
            .filter_map(|(col, fixed, unique)| {
                let old = c.columns.get(*col)?.clone();
                let new = if *unique {
                    format!("{fixed}-{}", text(&c.key))
                } else {
                    (*fixed).to_owned()
                };
                (!old.is_null() && old != Value::from(new.as_str())).then(|| Change {
                    column: (*col).into(),
                    old,
                    new: Value::from(new),
                })
            })
            .collect();
        if changes.is_empty() && !d.facts.has_anonymized_at {
            continue;
        }
        if d.facts.has_anonymized_at {
            changes.push(Change {
                column: "anonymized_at".into(),
                old: c.anonymized_at.clone(),
                new: Value::DateTime(d.now),
            });
        }
        let item = Item::new(
            Op::Update(UpdateRow {
                table: p.table.clone(),
                key_column: d.facts.key_column.clone(),
                key: c.key.clone(),
                changes,
                guard: Guard::Duty,
            }),
            Reason::new("retention_anonymize", d.reason(c)),
        )
        .category("anonymized");
        plan.items.push(d.expired_item(item));
        counts.0 += 1;
        counts.2 += 1;
    }
    counts
}

/// For every expired row not marked yet: its copy into `data_archive`, then its mark.
fn archive(d: &Decision<'_>, rows: &[&Candidate], plan: &mut DutyPlan) -> Counts {
    let mut counts = (0, 0, 0, 0);
    for c in rows.iter().filter(|c| c.marked != Some(true)) {
        let Some(archived_by) = d.facts.archived_by else {
            continue;
        };
        let record = archive_copy(&d.facts.policy.table, c, archived_by);
        let reason = d.reason(c);
        // The copy is written only if the mark right after it applies.
        let mark_item = plan.items.len() + 1;
        plan.items.push(
            d.toggle(
                Item::new(
                    Op::Insert(record),
                    Reason::new("retention_archive_copy", reason.clone()),
                )
                .facts(ItemFacts::RetentionArchiveCopy { mark_item }),
            ),
        );
        let item = Item::new(mark(d.facts, c), Reason::new("retention_archive", reason))
            .category("archived");
        plan.items.push(d.expired_item(item));
        counts.0 += 1;
        counts.3 += 1;
    }
    counts
}

/// The grace purge: rows this tool marked at least `grace_days` ago are deleted (never those
/// of a table other tables reference: a note says so).
fn grace_purge(
    facts: &PolicyFacts,
    grace_days: i64,
    purge_on: bool,
    now: DateTimeValue,
    plan: &mut DutyPlan,
) {
    let p = &facts.policy;
    let grace_cutoff = cutoff(now, grace_days);
    let due: Vec<Value> = facts
        .marked_by_us
        .iter()
        .filter(|(_, when)| *when <= grace_cutoff)
        .map(|(k, _)| k.clone())
        .collect();
    if due.is_empty() {
        return;
    }
    if REFERENCED.contains(&p.table.as_str()) {
        plan.notes.push(format!(
            "policy \"{}\": {} marked row(s) of {} are past the grace period but are never hard-deleted (other tables reference {})",
            p.name, due.len(), p.table, p.table
        ));
        return;
    }
    let keys = plan::keyset(due);
    let n = keys.len();
    let item = Item::new(
        Op::Delete(DeleteRows {
            table: p.table.clone(),
            key_column: facts.key_column.clone(),
            keys,
            dependents: dependents_of(&p.table),
            guard: Guard::Duty,
        }),
        Reason::new(
            "retention_grace_purge",
            format!("policy \"{}\": {n} row(s) of {} marked by housekeeper at least {grace_days} days ago", p.name, p.table),
        ),
    )
    .category("purged")
    .facts(ItemFacts::RetentionMarked {
        policy: p.name.clone(),
        policy_id: Some(p.id),
    });
    plan.items
        .push(if purge_on { item } else { item.disabled() });
    if purge_on {
        plan.items.push(
            cleanup_job(p.id, "grace_period_cleanup", now, (n, n, 0, 0)).facts(
                ItemFacts::RetentionRecord {
                    policy: p.name.clone(),
                    policy_id: Some(p.id),
                },
            ),
        );
    }
}

/// The mark of a row: `marked_for_deletion` set.
fn mark(facts: &PolicyFacts, c: &Candidate) -> Op {
    Op::Update(UpdateRow {
        table: facts.policy.table.clone(),
        key_column: facts.key_column.clone(),
        key: c.key.clone(),
        changes: vec![Change {
            column: "marked_for_deletion".into(),
            old: c.marked.map_or(Value::Null, Value::Bool),
            new: Value::Bool(true),
        }],
        guard: Guard::Duty,
    })
}
