//! Unit tests of the retention duty: expiry, each action's items, the periods a policy may
//! give, the scope of the enabled policies and the re-check, on literal facts.

use std::collections::BTreeMap;

use housekeeper_journal::{DateTimeValue, KeySet, Value};

use super::gather::{Candidate, PolicyFacts};
use super::policy::{periods, policy_scope, Policy, MAX_DAYS};
use super::tables::date_column_of;
use super::*;
use crate::config::RetentionAction;
use crate::plan::{Change, DeleteRows, Guard, Op, Reason, UpdateRow};

fn now() -> DateTimeValue {
    DateTimeValue::ymd_hms(2026, 11, 28, 12, 0, 0)
}

fn facts(table: &str, action: &str, candidates: Vec<Candidate>) -> PolicyFacts {
    PolicyFacts {
        policy: Policy {
            id: 1,
            name: "p".into(),
            table: table.into(),
            period_days: Some(30),
            grace_days: Some(7),
            action: action.into(),
            enabled: true,
        },
        date_column: date_column_of(table).unwrap().into(),
        key_column: "id".into(),
        has_retention_until: true,
        has_marked: true,
        has_anonymized_at: table == "user",
        key_is_integer: true,
        candidates,
        marked_by_us: Vec::new(),
        archived_by: Some(1),
        error: None,
    }
}

fn row(id: i64, date: &str, until: Option<&str>) -> Candidate {
    Candidate {
        key: Value::Int(id),
        date: Value::from(date),
        retention_until: until.map_or(Value::Null, Value::from),
        marked: Some(false),
        anonymized_at: Value::Null,
        columns: BTreeMap::new(),
    }
}

fn all() -> std::collections::BTreeSet<RetentionAction> {
    RetentionAction::ALL.into()
}

#[test]
fn expiry_by_retention_until_or_date_column() {
    let cutoff = cutoff(now(), 30); // 2026-10-29 12:00:00
    assert!(
        expired(
            &Value::from("2026-11-28 12:00:00"),
            &Value::Null,
            now(),
            cutoff
        ),
        "until == now expires"
    );
    assert!(
        !expired(
            &Value::from("2026-11-28 12:00:01"),
            &Value::from("2000-01-01"),
            now(),
            cutoff
        ),
        "a future until wins over an old date"
    );
    assert!(expired(
        &Value::Null,
        &Value::from("2026-10-29 11:59:59"),
        now(),
        cutoff
    ));
    assert!(
        !expired(
            &Value::Null,
            &Value::from("2026-10-29 12:00:00"),
            now(),
            cutoff
        ),
        "exactly at the cutoff is not older"
    );
    assert!(!expired(&Value::Null, &Value::Null, now(), cutoff));
}

#[test]
fn hard_delete_is_one_item_over_all_expired_keys() {
    let f = facts(
        "log",
        "hard_delete",
        vec![
            row(1, "2020-01-01", None),
            row(2, "2026-11-27", None),
            row(3, "2026-11-27", Some("2020-01-01")),
        ],
    );
    let plan = decide(&[f], &all(), now());
    let Op::Delete(d) = &plan.items[0].op else {
        panic!()
    };
    assert_eq!(keys_of(&d.keys), [Value::Int(1), Value::Int(3)]);
    assert_eq!(plan.affected(), 2, "the record row is not counted");
    let Op::Insert(record) = &plan.items[1].op else {
        panic!()
    };
    assert_eq!(record.values[1], Value::from("scheduled_cleanup"));
}

#[test]
fn actions_that_are_off_are_shown_but_disabled() {
    let f = facts("log", "hard_delete", vec![row(1, "2020-01-01", None)]);
    let plan = decide(&[f], &[RetentionAction::SoftDelete].into(), now());
    assert_eq!(
        plan.items.len(),
        1,
        "no record row for a policy that changes nothing"
    );
    assert!(!plan.items[0].enabled);
    assert_eq!(plan.affected(), 0);
}

#[test]
fn soft_delete_marks_unmarked_rows_and_grace_purge_takes_ours() {
    let mut marked = row(2, "2020-01-01", None);
    marked.marked = Some(true);
    let mut f = facts(
        "job",
        "soft_delete",
        vec![row(1, "2020-01-01", None), marked],
    );
    f.marked_by_us = vec![
        (
            Value::Int(2),
            DateTimeValue::ymd_hms(2026, 11, 21, 12, 0, 0),
        ),
        (
            Value::Int(9),
            DateTimeValue::ymd_hms(2026, 11, 21, 12, 0, 1),
        ),
    ];
    let plan = decide(&[f], &all(), now());
    let cats: Vec<Option<String>> = plan
        .items
        .iter()
        .map(|i| i.category.as_deref().map(str::to_owned))
        .collect();
    assert_eq!(
        cats,
        [Some("marked".into()), None, Some("purged".into()), None]
    );
    let Op::Delete(purge) = &plan.items[2].op else {
        panic!()
    };
    assert_eq!(
        keys_of(&purge.keys),
        [Value::Int(2)],
        "marked exactly 7 days ago is due; a second later is not"
    );
    assert_eq!(
        purge.dependents.len(),
        4,
        "job rows go with their dependents"
    );
}

#[test]
fn anonymize_keeps_unique_columns_unique() {
    let mut r = row(5, "2020-01-01", None);
    r.columns = [
        ("login".to_owned(), Value::from("jdoe")),
        ("email".to_owned(), Value::from("j@x")),
        ("firstname".to_owned(), Value::Null),
    ]
    .into();
    let plan = decide(&[facts("user", "anonymize", vec![r])], &all(), now());
    let Op::Update(u) = &plan.items[0].op else {
        panic!()
    };
    let changes: Vec<(String, Value)> = u
        .changes
        .iter()
        .map(|c| (c.column.clone(), c.new.clone()))
        .collect();
    assert_eq!(
        changes,
        [
            ("login".into(), Value::from("deleted_user-5")),
            ("email".into(), Value::from("anonymized@deleted.user-5")),
            ("anonymized_at".into(), Value::DateTime(now())),
        ]
    );
}

#[test]
fn archive_copies_then_marks() {
    let mut r = row(4, "2020-01-01", None);
    r.columns = [
        ("id".to_owned(), Value::Int(4)),
        ("event_type".to_owned(), Value::from("login")),
    ]
    .into();
    let plan = decide(
        &[facts("security_audit_log", "archive", vec![r])],
        &all(),
        now(),
    );
    let Op::Insert(copy) = &plan.items[0].op else {
        panic!()
    };
    assert_eq!(copy.table, "data_archive");
    assert_eq!(
        copy.values[3],
        Value::from(r#"{"event_type":"login","id":4}"#)
    );
    let Op::Update(m) = &plan.items[1].op else {
        panic!()
    };
    assert_eq!(m.changes[0].column, "marked_for_deletion");
    assert_eq!(plan.categories().get("archived"), Some(&1));
}

#[test]
fn policy_errors_stay_with_their_policy() {
    let mut bad = facts("log", "hard_delete", vec![]);
    bad.error = Some("policy \"x\" (nope): table \"nope\" is not one this tool knows".into());
    let good = facts("log", "hard_delete", vec![row(1, "2020-01-01", None)]);
    let plan = decide(&[bad, good], &all(), now());
    assert_eq!(plan.errors.len(), 1);
    assert_eq!(plan.affected(), 1);
}

/// Every item a plan holds lies within the duty's declared scope and within what the
/// enabled policies allow.
fn assert_within_scope(plan: &DutyPlan, policies: &[Policy]) {
    let now_scope = policy_scope(policies);
    for (i, item) in plan.items.iter().enumerate() {
        assert_eq!(SCOPE.check(item), Ok(()), "item {i}: {item:?}");
        assert_eq!(now_scope.check(item), Ok(()), "item {i}: {item:?}");
    }
}

#[test]
fn every_item_lies_within_the_scope() {
    let mut marked = row(2, "2020-01-01", None);
    marked.marked = Some(true);
    let mut anon = row(5, "2020-01-01", None);
    anon.columns = [
        ("login".to_owned(), Value::from("jdoe")),
        ("email".to_owned(), Value::from("j@x")),
    ]
    .into();
    let mut soft = facts(
        "job",
        "soft_delete",
        vec![row(1, "2020-01-01", None), marked],
    );
    soft.marked_by_us = vec![(Value::Int(2), DateTimeValue::ymd_hms(2020, 1, 1, 0, 0, 0))];
    let all_facts = [
        facts("log", "hard_delete", vec![row(1, "2020-01-01", None)]),
        soft,
        facts("user", "anonymize", vec![anon]),
        facts(
            "security_audit_log",
            "archive",
            vec![row(4, "2020-01-01", None)],
        ),
    ];
    let plan = decide(&all_facts, &all(), now());
    assert!(plan.items.len() >= 8, "{plan:#?}");
    let policies: Vec<Policy> = all_facts.iter().map(|f| f.policy.clone()).collect();
    assert_within_scope(&plan, &policies);
}

#[test]
fn the_policies_enabled_now_narrow_the_scope() {
    let mut p = facts("log", "anonymize", vec![]).policy;
    let scope = policy_scope(std::slice::from_ref(&p));
    let delete = Item::new(
        Op::Delete(DeleteRows {
            table: "log".into(),
            key_column: "id".into(),
            keys: KeySet::Ranges(vec![(1, 5)]),
            dependents: crate::plan::Dependents::default(),
            guard: Guard::Duty,
        }),
        Reason::new("x", "x"),
    );
    assert!(SCOPE.check(&delete).is_ok());
    assert!(scope
        .check(&delete)
        .unwrap_err()
        .contains("no enabled retention policy"));
    p.action = "hard_delete".into();
    assert!(policy_scope(std::slice::from_ref(&p))
        .check(&delete)
        .is_ok());
    p.enabled = false;
    assert!(policy_scope(std::slice::from_ref(&p))
        .check(&delete)
        .is_err());
    let mark_user = Item::new(
        Op::Update(UpdateRow {
            table: "user".into(),
            key_column: "id".into(),
            key: Value::Int(1),
            changes: vec![Change {
                column: "password".into(),
                old: Value::Null,
                new: Value::from("x"),
            }],
            guard: Guard::Duty,
        }),
        Reason::new("x", "x"),
    );
    assert_eq!(
        SCOPE.check(&mark_user),
        Err("updates column user.password".into())
    );
}

#[test]
fn impossible_periods_fail_their_policy_and_delete_nothing() {
    let old = || vec![row(1, "2020-01-01", None), row(2, "2026-11-27", None)];
    let cases: [(Option<i64>, Option<i64>, &str, &str); 7] = [
        (
            Some(-30),
            Some(7),
            "hard_delete",
            "retention_period_days = -30",
        ),
        (Some(0), Some(7), "hard_delete", "retention_period_days = 0"),
        (
            Some(36_501),
            Some(7),
            "hard_delete",
            "retention_period_days = 36501",
        ),
        (None, Some(7), "hard_delete", "retention_period_days = NULL"),
        (Some(30), Some(-1), "soft_delete", "grace_period_days = -1"),
        (
            Some(30),
            Some(36_501),
            "anonymize",
            "grace_period_days = 36501",
        ),
        (Some(30), None, "soft_delete", "grace_period_days = NULL"),
    ];
    for (period, grace, action, says) in cases {
        let mut bad = facts("log", action, old());
        bad.policy.id = 7;
        bad.policy.name = "typo".into();
        bad.policy.period_days = period;
        bad.policy.grace_days = grace;
        bad.marked_by_us = vec![(Value::Int(1), DateTimeValue::ymd_hms(2026, 11, 28, 0, 0, 0))];
        let good = facts("log", "hard_delete", vec![row(3, "2020-01-01", None)]);
        let plan = decide(&[bad, good], &all(), now());
        assert_eq!(plan.errors.len(), 1, "{says}: {plan:#?}");
        assert!(
            plan.errors[0].contains("policy \"typo\" (#7, log)"),
            "{}",
            plan.errors[0]
        );
        assert!(plan.errors[0].contains(says), "{}", plan.errors[0]);
        let keys: Vec<Value> = plan
            .items
            .iter()
            .filter_map(|i| match &i.op {
                Op::Delete(d) => Some(keys_of(&d.keys)),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(
            keys,
            [Value::Int(3)],
            "{says}: only the good policy deletes"
        );
        assert!(
            plan.items.iter().all(|i| !matches!(&i.op, Op::Update(_))),
            "{says}"
        );
    }
    let mut edge = facts("log", "hard_delete", vec![]).policy;
    edge.period_days = Some(MAX_DAYS);
    edge.grace_days = None;
    assert_eq!(
        periods(&edge),
        Ok((MAX_DAYS, 0)),
        "grace is not needed by hard_delete"
    );
    edge.period_days = Some(1);
    edge.grace_days = Some(0);
    assert_eq!(periods(&edge), Ok((1, 0)));
}

#[test]
fn recheck_parameters_fail_closed() {
    let columns = ["id", "created", "retention_until"].map(String::from);
    let old_row = [
        Value::Int(1),
        Value::from("2020-01-01 00:00:00"),
        Value::Null,
    ];
    let row = RowRef {
        columns: &columns,
        values: &old_row,
    };
    let plan = decide(
        &[facts("log", "hard_delete", vec![row_of(1)])],
        &all(),
        now(),
    );
    let item = plan.items[0].clone();
    assert_eq!(
        recheck_row(&item, row, now()),
        None,
        "the planned item re-checks"
    );
    let fresh = [
        Value::Int(1),
        Value::from("2026-11-28 00:00:00"),
        Value::Null,
    ];
    let fresh_row = RowRef {
        columns: &columns,
        values: &fresh,
    };
    assert_eq!(
        recheck_row(&item, fresh_row, now()).as_deref(),
        Some("no_longer_matches")
    );
    let Some(ItemFacts::RetentionExpired {
        policy,
        policy_id,
        date_column,
        cutoff,
        retention_until,
    }) = item.facts.as_deref().cloned()
    else {
        panic!("an expired row's item carries its facts: {item:?}")
    };
    let expired = |date_column: &str, cutoff: DateTimeValue| ItemFacts::RetentionExpired {
        policy: policy.clone(),
        policy_id,
        date_column: date_column.to_owned(),
        cutoff,
        retention_until,
    };
    let later = DateTimeValue::parse("2026-11-29 00:00:00").unwrap();
    for (what, facts) in [
        ("no facts", None),
        ("a cutoff after now", Some(expired(&date_column, later))),
        (
            "a date column the duty does not know",
            Some(expired("id", cutoff)),
        ),
        (
            "facts of another kind",
            Some(ItemFacts::RetentionRecord {
                policy: policy.clone(),
                policy_id,
            }),
        ),
    ] {
        let mut bad = item.clone();
        bad.facts = facts.map(Box::new);
        assert_eq!(
            recheck_row(&bad, row, now()).as_deref(),
            Some("bad_recheck_parameter"),
            "{what}"
        );
    }
}

fn row_of(id: i64) -> Candidate {
    row(id, "2020-01-01", None)
}

/// Keys of a key set as values.
fn keys_of(keys: &KeySet) -> Vec<Value> {
    match keys {
        KeySet::Ranges(r) => r
            .iter()
            .flat_map(|(lo, hi)| (*lo..=*hi).map(Value::Int))
            .collect(),
        KeySet::Values(v) => v.clone(),
    }
}
