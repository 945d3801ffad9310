//! What one policy looks at, read through the duty's snapshot: the table's shape (key, date
//! and mark columns), the candidate rows past the policy's cutoff and the rows this tool
//! marked earlier. A problem becomes the policy's `error`; never decides what changes.

use std::collections::BTreeMap;

use housekeeper_journal::{DateTimeValue, Value};

use super::cutoff;
use super::policy::{periods, Policy};
use super::tables::{date_column_of, personal_of, KNOWN_TABLES, REFERENCED};
use crate::db::{DbResult, ReadView};
use crate::duties::DutyContext;
use crate::plan;

/// `archive`, the columns those need.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub key: Value,
    pub date: Value,
    pub retention_until: Value,
    pub marked: Option<bool>,
    pub anonymized_at: Value,
    /// Column → value, for anonymize (the personal columns) and archive (every column).
    pub columns: BTreeMap<String, Value>,
}

/// Everything gathered for one policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyFacts {
    pub policy: Policy,
    pub date_column: String,
    pub key_column: String,
    pub has_retention_until: bool,
    pub has_marked: bool,
    pub has_anonymized_at: bool,
    pub key_is_integer: bool,
    pub candidates: Vec<Candidate>,
    /// Keys of rows currently marked that this tool marked, with when.
    pub marked_by_us: Vec<(Value, DateTimeValue)>,
    pub archived_by: Option<i64>,
    /// A problem that makes this policy fail (the others go on).
    pub error: Option<String>,
}

/// Gathers one policy's facts; problems become `error` (the policy fails alone).
pub fn gather_policy(
    view: &mut dyn ReadView,
    ctx: &DutyContext<'_>,
    policy: Policy,
) -> PolicyFacts {
    let mut facts = PolicyFacts {
        date_column: String::new(),
        key_column: "id".into(),
        has_retention_until: false,
        has_marked: false,
        has_anonymized_at: false,
        key_is_integer: true,
        candidates: Vec::new(),
        marked_by_us: Vec::new(),
        archived_by: None,
        error: None,
        policy,
    };
    let p = facts.policy.clone();
    let fail = |facts: &mut PolicyFacts, why: String| {
        facts.error = Some(format!("policy \"{}\" ({}): {why}", p.name, p.table));
    };
    let period = match periods(&p) {
        Ok((period, _)) => period,
        Err(why) => {
            facts.error = Some(why);
            return facts;
        }
    };
    let Some(date_column) = date_column_of(&p.table) else {
        let known: Vec<&str> = KNOWN_TABLES.iter().map(|(t, _)| *t).collect();
        fail(
            &mut facts,
            format!(
                "table \"{}\" is not one this tool knows (known: {})",
                p.table,
                known.join(", ")
            ),
        );
        return facts;
    };
    facts.date_column = date_column.into();
    // What the policy asks for, before what the database has.
    match p.action.as_str() {
        "hard_delete" if REFERENCED.contains(&p.table.as_str()) => {
            fail(
                &mut facts,
                format!(
                    "hard_delete is refused on {}, which other tables reference; use anonymize",
                    p.table
                ),
            );
            return facts;
        }
        "hard_delete" | "soft_delete" | "anonymize" | "archive" => {}
        other => {
            fail(&mut facts, format!("unknown deletion_action \"{other}\""));
            return facts;
        }
    }
    let Some(table) = ctx.schema.table(&p.table) else {
        fail(&mut facts, format!("table {} does not exist", p.table));
        return facts;
    };
    if !table.has_column(date_column) {
        fail(
            &mut facts,
            format!("table {} has no column {date_column}", p.table),
        );
        return facts;
    }
    let [key] = table.primary_key.as_slice() else {
        fail(
            &mut facts,
            format!("table {} has no single-column primary key", p.table),
        );
        return facts;
    };
    facts.key_column = key.clone();
    facts.key_is_integer = table
        .column(key)
        .is_some_and(|c| c.kind == crate::db::ColumnKind::Integer);
    facts.has_retention_until = table.has_column("retention_until");
    facts.has_marked = table.has_column("marked_for_deletion");
    facts.has_anonymized_at = table.has_column("anonymized_at");
    match p.action.as_str() {
        "soft_delete" | "archive" if !facts.has_marked => {
            fail(
                &mut facts,
                format!("{} needs column {}.marked_for_deletion", p.action, p.table),
            );
            return facts;
        }
        "archive" if !facts.key_is_integer => {
            let why = format!(
                "archive needs an integer key, {}.{} is not",
                p.table, facts.key_column
            );
            fail(&mut facts, why);
            return facts;
        }
        _ => {}
    }
    if p.action == "archive" {
        if ctx.schema.table("data_archive").is_none() {
            fail(&mut facts, "archive needs table data_archive".into());
            return facts;
        }
        match archivist(view) {
            Ok(Some(id)) => facts.archived_by = Some(id),
            Ok(None) => {
                fail(&mut facts, "archive needs a user to record as archived_by: no user matches the Unix user and no user is enabled".into());
                return facts;
            }
            Err(e) => {
                fail(&mut facts, format!("finding the archiving user: {e}"));
                return facts;
            }
        }
    }
    if let Err(e) = gather_rows(view, ctx, period, &mut facts) {
        fail(&mut facts, e.to_string());
    }
    facts
}

/// `archived_by`: the user whose login is the Unix user, else the lowest enabled user id.
fn archivist(view: &mut dyn ReadView) -> DbResult<Option<i64>> {
    let d = *view.dialect();
    let by_login = format!(
        "SELECT {} FROM {} WHERE {} = ?",
        d.quote("id"),
        d.quote("user"),
        d.quote("login")
    );
    if let Some(id) = view.query_scalar(&by_login, &[Value::from(crate::state::user_name())])? {
        return Ok(id.as_i64());
    }
    let lowest = format!(
        "SELECT MIN({}) FROM {} WHERE {} = ?",
        d.quote("id"),
        d.quote("user"),
        d.quote("enabled")
    );
    Ok(view
        .query_scalar(&lowest, &[Value::Bool(true)])?
        .and_then(|v| v.as_i64()))
}

fn gather_rows(
    view: &mut dyn ReadView,
    ctx: &DutyContext<'_>,
    period: i64,
    facts: &mut PolicyFacts,
) -> DbResult<()> {
    let d = *view.dialect();
    let p = &facts.policy;
    let table = d.quote(&p.table);
    let key = d.quote(&facts.key_column);
    let date = d.quote(&facts.date_column);
    let cutoff = cutoff(ctx.now, period);
    // A superset bound (one day later) keeps text comparisons on SQLite from missing rows;
    // the exact decision is made in `decide`.
    let bound = crate::clock::shift(cutoff, 86_400).unwrap_or(cutoff);
    let mut cols = vec![key.clone(), date.clone()];
    cols.push(if facts.has_retention_until {
        d.quote("retention_until")
    } else {
        "NULL".into()
    });
    cols.push(if facts.has_marked {
        d.quote("marked_for_deletion")
    } else {
        "NULL".into()
    });
    cols.push(if facts.has_anonymized_at {
        d.quote("anonymized_at")
    } else {
        "NULL".into()
    });
    let extra: Vec<String> = match p.action.as_str() {
        "anonymize" => personal_of(&p.table)
            .iter()
            .filter(|(c, _, _)| ctx.schema.has_column(&p.table, c))
            .map(|(c, _, _)| (*c).to_owned())
            .collect(),
        "archive" => ctx
            .schema
            .table(&p.table)
            .map(|t| t.columns.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    cols.extend(extra.iter().map(|c| d.quote(c)));
    let mut condition = format!("{date} < ?");
    let mut params = vec![Value::DateTime(bound)];
    if facts.has_retention_until {
        condition = format!("{} IS NOT NULL OR {condition}", d.quote("retention_until"));
    }
    let sql = format!(
        "SELECT {} FROM {table} WHERE {condition} ORDER BY {key}",
        cols.join(", ")
    );
    // As the rows will be when this duty runs: rows an earlier duty's plan deletes are gone,
    // columns it updates hold their new values.
    let pending = ctx.pending;
    let names: Vec<&str> = [
        facts.date_column.as_str(),
        "retention_until",
        "marked_for_deletion",
        "anonymized_at",
    ]
    .into_iter()
    .chain(extra.iter().map(String::as_str))
    .collect();
    let mut candidates = Vec::new();
    view.query_each(&sql, &params, &mut |r| {
        let key = &r[0];
        if pending.gone(&p.table, key) {
            return Ok(());
        }
        let r: Vec<Value> = std::iter::once(key.clone())
            .chain(
                names
                    .iter()
                    .zip(&r[1..])
                    .map(|(column, v)| pending.value(&p.table, key, column, v).clone()),
            )
            .collect();
        let columns = extra.iter().cloned().zip(r[5..].iter().cloned()).collect();
        candidates.push(Candidate {
            key: r[0].clone(),
            date: r[1].clone(),
            retention_until: r[2].clone(),
            marked: if r[3].is_null() { None } else { r[3].as_bool() },
            anonymized_at: r[4].clone(),
            columns,
        });
        Ok(())
    })?;
    facts.candidates = candidates;
    // Rows this tool marked, still marked now (grace purge).
    if p.action == "soft_delete" && facts.has_marked {
        let sql = format!(
            "SELECT {key} FROM {table} WHERE {} = ? ORDER BY {key}",
            d.quote("marked_for_deletion")
        );
        params = vec![Value::Bool(true)];
        let marks = &ctx.history.marks;
        let mut ours = Vec::new();
        view.query_each(&sql, &params, &mut |r| {
            if pending.gone(&p.table, &r[0]) {
                return Ok(());
            }
            if let Some(when) = marks.get(&(p.table.clone(), plan::RowKey::of(&r[0]))) {
                ours.push((r[0].clone(), *when));
            }
            Ok(())
        })?;
        facts.marked_by_us = ours;
    }
    Ok(())
}
