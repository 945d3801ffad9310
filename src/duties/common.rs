//! Helpers shared by the duties: schema requirements with the migration that introduced each
//! table or column, time comparisons with the accepted formats, typed reads of row values.

use std::collections::HashSet;

use housekeeper_journal::{DateTimeValue, Value};

use crate::db::{DbResult, Query, SchemaFacts};
use crate::plan::RowKey;

/// A table or column a duty needs, and where it comes from.
pub struct Need {
    pub table: &'static str,
    /// `None`: only the table.
    pub column: Option<&'static str>,
    /// e.g. `migration 20260614100000, multiflexi-database 2.5.5`.
    pub since: &'static str,
}

/// Checks every need; the first missing one is the skip reason, e.g. "needs table task
/// (migration 20260614100000, multiflexi-database 2.5.5)".
///
/// # Errors
/// The reason to skip.
pub fn require(schema: &SchemaFacts, needs: &[Need]) -> Result<(), String> {
    for need in needs {
        let Some(table) = schema.table(need.table) else {
            return Err(format!("needs table {} ({})", need.table, need.since));
        };
        if let Some(column) = need.column {
            if !table.has_column(column) {
                return Err(format!(
                    "needs column {}.{column} ({})",
                    need.table, need.since
                ));
            }
        }
    }
    Ok(())
}

/// Requires a column to hold date/time values (databases stuck before migration
/// 20241121163433 still have `job.schedule` as text).
///
/// # Errors
/// The reason to skip.
pub fn require_temporal(
    schema: &SchemaFacts,
    table: &str,
    column: &str,
    since: &str,
) -> Result<(), String> {
    match schema.table(table).and_then(|t| t.column(column)) {
        Some(c) if c.kind.is_temporal() => Ok(()),
        Some(c) => Err(format!(
            "needs {table}.{column} as a date/time column, found {} ({since})",
            c.declared_type
        )),
        None => Err(format!("needs column {table}.{column} ({since})")),
    }
}

/// A timestamp read from the database, compared with a cutoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// NULL.
    Missing,
    /// Not a date this tool accepts (e.g. a MySQL zero date): never matches a cutoff.
    Unparseable,
    At(DateTimeValue),
}

/// Reads a timestamp value: typed dates as they are; text in `YYYY-MM-DD` or
/// `YYYY-MM-DD HH:MM:SS[.ffffff]`; zero or impossible dates are `Unparseable`.
#[must_use]
pub fn when(value: &Value) -> When {
    if value.is_null() {
        return When::Missing;
    }
    match value.as_datetime() {
        Some(d) if d.is_valid_date() => When::At(d),
        _ => When::Unparseable,
    }
}

/// `value < cutoff`, with `Unparseable` and `Missing` never before anything.
#[must_use]
pub fn before(value: &Value, cutoff: DateTimeValue) -> bool {
    matches!(when(value), When::At(d) if d < cutoff)
}

/// The value as an integer (0 for NULL or non-numbers).
#[must_use]
pub fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}

/// Text of a value for messages (`NULL` for NULL).
#[must_use]
pub fn show(value: &Value) -> String {
    match value {
        Value::Text(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Index of each named column in a result set; panics never — missing columns are `None`.
#[must_use]
pub fn positions(columns: &[String], names: &[&str]) -> Vec<Option<usize>> {
    names
        .iter()
        .map(|n| columns.iter().position(|c| c == n))
        .collect()
}

/// Which of `values` occur in `table.column` (NULL never does), asked with one query per
/// `KEYS_PER_STATEMENT` distinct values.
///
/// # Errors
/// A query failed.
pub fn present(
    q: &mut dyn Query,
    table: &str,
    column: &str,
    values: &[Value],
) -> DbResult<HashSet<RowKey>> {
    let d = *q.dialect();
    let mut seen = HashSet::new();
    let distinct: Vec<Value> = values
        .iter()
        .filter(|v| !v.is_null() && seen.insert(RowKey::of(v)))
        .cloned()
        .collect();
    let mut found = HashSet::new();
    for (condition, params) in d.in_key_lists(column, &distinct) {
        let sql = format!(
            "SELECT {} FROM {} WHERE {condition}",
            d.quote(column),
            d.quote(table)
        );
        q.query_each(&sql, &params, &mut |row| {
            if let Some(value) = row.first() {
                found.insert(RowKey::of(value));
            }
            Ok(())
        })?;
    }
    Ok(found)
}

/// The `id` of each row a duty re-checks together.
#[must_use]
pub fn ids(rows: &[(&crate::plan::Item, super::RowRef<'_>)]) -> Vec<i64> {
    rows.iter().map(|(_, row)| int(row.get("id"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cutoff() -> DateTimeValue {
        DateTimeValue::ymd_hms(2026, 11, 28, 12, 0, 0)
    }

    #[test]
    fn cutoffs_are_strict_and_accept_the_documented_forms() {
        assert!(before(&Value::from("2026-11-28 11:59:59"), cutoff()));
        assert!(!before(&Value::from("2026-11-28 12:00:00"), cutoff()));
        assert!(!before(&Value::from("2026-11-28 12:00:01"), cutoff()));
        assert!(before(&Value::from("2026-11-28 11:59:59.999999"), cutoff()));
        assert!(before(&Value::from("2026-11-27"), cutoff()));
        assert!(!before(
            &Value::from("2026-11-28"),
            DateTimeValue::date(2026, 11, 28)
        ));
        assert!(before(
            &Value::DateTime(DateTimeValue::ymd_hms(2020, 1, 1, 0, 0, 0)),
            cutoff()
        ));
    }

    #[test]
    fn null_and_zero_dates_never_match() {
        assert!(!before(&Value::Null, cutoff()));
        assert_eq!(when(&Value::from("0000-00-00 00:00:00")), When::Unparseable);
        assert!(!before(&Value::from("0000-00-00 00:00:00"), cutoff()));
        assert!(!before(
            &Value::DateTime(DateTimeValue::date(0, 0, 0)),
            cutoff()
        ));
        assert_eq!(when(&Value::from("soon")), When::Unparseable);
    }
}
