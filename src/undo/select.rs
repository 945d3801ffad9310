//! `undo --table T --id K` and `--path P`: the items an operator asks back, checked against
//! what the run changed, and what belongs to them (the dependent rows a duty deleted together
//! with a row, as its plan names them: a job's queue rows and output lines).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use housekeeper_journal::{Action, ChunkStatus, FileStatus, KeySet, PathBytes, Value};

use crate::audit::RunInfo;
use crate::db::{ColumnKind, SchemaFacts};
use crate::plan::{DutyPlan, Op, RowKey};

/// The rows (by table and key value) and files an undo restores; everything else of the run
/// stays as it is, and undoable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub rows: BTreeSet<(String, RowKey)>,
    pub paths: BTreeSet<PathBytes>,
}

/// A row or file asked for that the run did not change (or not in the duty asked for).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotInRun {
    #[error("run {run} changed no row of table {table} with key {key}{duty}")]
    Row {
        run: String,
        table: String,
        key: String,
        duty: String,
    },
    #[error("run {run} moved no file {path}{duty}")]
    Path {
        run: String,
        path: String,
        duty: String,
    },
    #[error("no table {table} in the database (for --id {key})")]
    NoTable { table: String, key: String },
    #[error("--id {key}: the key column {table}.{column} holds integers")]
    NotInteger {
        table: String,
        column: String,
        key: String,
    },
}

/// The value of key `text` of `table`, read by the type of its key column (the primary key,
/// else `id`): an integer column takes an integer, a binary one `0x` and hex digits (or the
/// text's bytes), every other column the text as it is.
///
/// # Errors
/// The table is unknown, or the text is not a key of that column's type.
pub fn parse_key(schema: &SchemaFacts, table: &str, text: &str) -> Result<RowKey, NotInRun> {
    let Some(info) = schema.table(table) else {
        return Err(NotInRun::NoTable {
            table: table.to_owned(),
            key: text.to_owned(),
        });
    };
    let column = info
        .primary_key
        .first()
        .cloned()
        .unwrap_or_else(|| "id".into());
    let kind = info.column(&column).map_or(ColumnKind::Other, |c| c.kind);
    let value = match kind {
        ColumnKind::Integer => {
            let t = text.trim();
            t.parse::<i64>()
                .map(Value::Int)
                .or_else(|_| t.parse::<u64>().map(Value::UInt))
                .map_err(|_| NotInRun::NotInteger {
                    table: table.to_owned(),
                    column,
                    key: text.to_owned(),
                })?
        }
        ColumnKind::Bytes => match hex_bytes(text) {
            Some(bytes) => Value::Bytes(bytes),
            None => Value::Bytes(text.as_bytes().to_vec()),
        },
        _ => Value::Text(text.to_owned()),
    };
    Ok(RowKey::of(&value))
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    let digits = text.strip_prefix("0x")?;
    if digits.is_empty() || digits.len() % 2 != 0 {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

pub(super) fn holds(keys: &KeySet, key: &RowKey) -> bool {
    match keys {
        KeySet::Ranges(ranges) => key
            .as_i64()
            .is_some_and(|k| ranges.iter().any(|(lo, hi)| *lo <= k && k <= *hi)),
        KeySet::Values(values) => values.iter().any(|v| RowKey::of(v) == *key),
    }
}

/// Checks that `run` deleted or updated every selected row and moved every selected file
/// (within `duty` when given).
///
/// # Errors
/// The first item it did not change.
pub fn check(run: &RunInfo, duty: Option<&str>, selection: &Selection) -> Result<(), NotInRun> {
    let covered = |d: &str| duty.is_none_or(|want| want.eq_ignore_ascii_case(d));
    let in_duty = duty.map(|d| format!(" in {d}")).unwrap_or_default();
    for (table, key) in &selection.rows {
        let found = run
            .duties
            .iter()
            .filter(|d| covered(&d.duty))
            .flat_map(|d| &d.chunks)
            .filter(|c| c.status == ChunkStatus::Committed)
            .flat_map(|c| &c.changes)
            .any(|c| {
                matches!(c.action, Action::Delete | Action::Update)
                    && c.table == *table
                    && holds(&c.keys, key)
            });
        if !found {
            return Err(NotInRun::Row {
                run: run.run_id.clone(),
                table: table.clone(),
                key: key.to_string(),
                duty: in_duty,
            });
        }
    }
    for path in &selection.paths {
        let found = run.files.iter().any(|f| {
            covered(&f.duty) && f.path == *path && matches!(f.status, Some(FileStatus::Moved))
        });
        if !found {
            return Err(NotInRun::Path {
                run: run.run_id.clone(),
                path: crate::text::PathText(path).to_string(),
                duty: in_duty,
            });
        }
    }
    Ok(())
}

/// What belongs to a selected row: `(dependent table, column)` → the tables whose rows it
/// was deleted with, as the duty's plan names them.
pub type Dependents = BTreeMap<(String, String), Vec<String>>;

/// The dependents of the delete items of one duty's plan (read from its plan payload).
#[must_use]
pub fn dependents_of(plan: &DutyPlan) -> Dependents {
    let mut out = Dependents::new();
    for item in &plan.items {
        if let Op::Delete(d) = &item.op {
            for dep in d.dependents.iter() {
                let parents = out
                    .entry((dep.table.to_string(), dep.column.to_string()))
                    .or_default();
                if !parents.contains(&d.table) {
                    parents.push(d.table.clone());
                }
            }
        }
    }
    out
}

/// The dependents of one duty of `run`, from its plan payload in `journal_dir`.
///
/// # Errors
/// The plan payload is missing, damaged or unreadable.
pub fn read_dependents(
    run: &RunInfo,
    duty: &str,
    journal_dir: &Path,
) -> Result<Dependents, super::UndoError> {
    let Some((payload, _)) = run.duty(duty).and_then(|d| d.plan.as_ref()) else {
        return Ok(Dependents::new());
    };
    let plan = crate::audit::payloads::read_plan(journal_dir, payload)
        .map_err(|e| super::UndoError::Other(format!("run {}: {duty}: {e}", run.run_id)))?;
    Ok(dependents_of(&plan))
}

impl Selection {
    /// Whether the row of `table` with `columns` and `values` is selected, or belongs to a
    /// selected row (a dependent deleted with it).
    #[must_use]
    pub fn wants_row(
        &self,
        table: &str,
        key: &Value,
        columns: &[String],
        values: &[Value],
        dependents: &Dependents,
    ) -> bool {
        if self.rows.contains(&(table.to_owned(), RowKey::of(key))) {
            return true;
        }
        dependents
            .iter()
            .filter(|((t, _), _)| t == table)
            .any(|((_, column), parents)| {
                let Some(v) = columns
                    .iter()
                    .position(|c| c == column)
                    .and_then(|i| values.get(i))
                else {
                    return false;
                };
                let parent_key = RowKey::of(v);
                parents
                    .iter()
                    .any(|p| self.rows.contains(&(p.clone(), parent_key.clone())))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_ranges_and_values_compare_by_value() {
        let ranges = KeySet::Ranges(vec![(1, 5), (9, 9)]);
        assert!(holds(&ranges, &RowKey::Int(5)));
        assert!(holds(&ranges, &RowKey::Int(9)));
        assert!(!holds(&ranges, &RowKey::Int(7)));
        let values = KeySet::Values(vec![Value::Text("ab".into()), Value::Bytes(vec![0xff])]);
        assert!(holds(&values, &RowKey::Text("ab".into())));
        assert!(holds(&values, &RowKey::Bytes(vec![0xff])));
        assert!(!holds(&values, &RowKey::Text("AB".into())));
    }

    fn schema() -> SchemaFacts {
        let mut schema = SchemaFacts::default();
        for (name, kind) in [
            ("job", ColumnKind::Integer),
            ("tag", ColumnKind::Text),
            ("blob", ColumnKind::Bytes),
        ] {
            let mut table = crate::db::TableInfo::named(name.into());
            table.primary_key = vec!["id".into()];
            table.columns.push(crate::db::ColumnInfo {
                name: "id".into(),
                declared_type: String::new(),
                kind,
                nullable: false,
                default: None,
                auto_increment: false,
                on_update_now: false,
            });
            schema.tables.insert(name.into(), table);
        }
        schema
    }

    #[test]
    fn keys_are_read_by_the_key_columns_type() {
        let schema = schema();
        assert_eq!(parse_key(&schema, "job", "42"), Ok(RowKey::Int(42)));
        assert_eq!(parse_key(&schema, "job", " 042"), Ok(RowKey::Int(42)));
        assert!(matches!(
            parse_key(&schema, "job", "forty"),
            Err(NotInRun::NotInteger { .. })
        ));
        assert_eq!(
            parse_key(&schema, "tag", "042"),
            Ok(RowKey::Text("042".into())),
            "text keys are kept as written"
        );
        assert_eq!(
            parse_key(&schema, "blob", "0x00ff"),
            Ok(RowKey::Bytes(vec![0, 255]))
        );
        assert!(matches!(
            parse_key(&schema, "nosuch", "1"),
            Err(NotInRun::NoTable { .. })
        ));
    }

    #[test]
    fn a_selected_job_wants_the_rows_deleted_with_it_and_no_others() {
        let mut selection = Selection::default();
        selection.rows.insert(("job".into(), RowKey::Int(1)));
        let mut deps = Dependents::new();
        deps.insert(
            ("job_output_lines".into(), "job_id".into()),
            vec!["job".into()],
        );
        let columns = vec!["id".to_owned(), "job_id".to_owned()];
        let line = |id: i64, job: i64| vec![Value::Int(id), Value::Int(job)];
        assert!(selection.wants_row("job", &Value::Int(1), &[], &[], &deps));
        assert!(!selection.wants_row("job", &Value::Int(2), &[], &[], &deps));
        assert!(selection.wants_row(
            "job_output_lines",
            &Value::Int(7),
            &columns,
            &line(7, 1),
            &deps
        ));
        assert!(!selection.wants_row(
            "job_output_lines",
            &Value::Int(8),
            &columns,
            &line(8, 2),
            &deps
        ));
        assert!(
            !selection.wants_row("log", &Value::Int(1), &columns, &line(1, 1), &deps),
            "a row of another table with the same values is not a dependent"
        );
    }

    #[test]
    fn hex_keys_read_as_bytes() {
        assert_eq!(hex_bytes("0x00ff"), Some(vec![0, 255]));
        assert_eq!(hex_bytes("0xf"), None);
        assert_eq!(hex_bytes("ff"), None);
    }
}
