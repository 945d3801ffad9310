//! Whole-database dumps: every row of every table, ordered by primary key, every column as a
//! typed `Value`; and the difference of two dumps, printable as "table [key] column: before →
//! after". Tests use them to prove that a dry run changed nothing and that an undo restored
//! everything.
//!
//! Must never: write to the database (a dump reads through one snapshot view).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use housekeeper_journal::Value;

use crate::{Database, Result};

/// The rows of one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDump {
    /// Column names in table order.
    pub columns: Vec<String>,
    /// The primary key columns (all columns when the table has no primary key).
    pub key_columns: Vec<String>,
    /// Every row, in key order, values in column order.
    pub rows: Vec<Vec<Value>>,
}

impl TableDump {
    /// `id=5`, `id="sess-1"`, `a=1, b=2`: the key of `row` as a person reads it.
    #[must_use]
    pub fn key_of(&self, row: &[Value]) -> String {
        self.key_columns
            .iter()
            .map(|k| {
                let value = self
                    .columns
                    .iter()
                    .position(|c| c == k)
                    .and_then(|i| row.get(i))
                    .unwrap_or(&Value::Null);
                format!("{k}={value}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The value of `column` in `row`.
    #[must_use]
    pub fn value<'a>(&self, row: &'a [Value], column: &str) -> Option<&'a Value> {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| row.get(i))
    }

    /// The row whose key renders as `key` (see [`TableDump::key_of`]), e.g. `"id=5"`.
    #[must_use]
    pub fn row(&self, key: &str) -> Option<&[Value]> {
        self.rows
            .iter()
            .find(|r| self.key_of(r) == key)
            .map(Vec::as_slice)
    }
}

/// Tables where a run writes rows as its own record (docs/UNDO.md): its `log` rows, and
/// `retention_cleanup_jobs` and `data_archive` rows of retention policies. Undo leaves them.
pub const RUN_RECORD_TABLES: &[&str] = &["log", "retention_cleanup_jobs", "data_archive"];

/// Every table of a database.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dump {
    pub tables: BTreeMap<String, TableDump>,
}

impl Dump {
    #[must_use]
    pub fn table(&self, name: &str) -> Option<&TableDump> {
        self.tables.get(name)
    }

    /// Rows of `table` (0 when the table is missing).
    #[must_use]
    pub fn row_count(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, |t| t.rows.len())
    }

    /// Row counts of every table.
    #[must_use]
    pub fn row_counts(&self) -> BTreeMap<String, usize> {
        self.tables
            .iter()
            .map(|(name, t)| (name.clone(), t.rows.len()))
            .collect()
    }

    /// The same dump without `tables` (e.g. the tool's own record tables before comparing).
    #[must_use]
    pub fn without_tables(mut self, tables: &[&str]) -> Self {
        for table in tables {
            self.tables.remove(*table);
        }
        self
    }

    /// The same dump without the rows a run (or an undo) wrote as its own record — rows of
    /// [`RUN_RECORD_TABLES`] whose key `baseline` does not have — and without the anchor
    /// table. What is left must equal the baseline after a run and its undo.
    #[must_use]
    pub fn without_run_records(mut self, baseline: &Dump) -> Self {
        self.tables.remove("housekeeper_anchor");
        for name in RUN_RECORD_TABLES {
            let Some(table) = self.tables.get_mut(*name) else {
                continue;
            };
            let keys: std::collections::HashSet<String> = baseline
                .tables
                .get(*name)
                .map(|b| b.rows.iter().map(|r| b.key_of(r)).collect())
                .unwrap_or_default();
            let rows = std::mem::take(&mut table.rows);
            table.rows = rows
                .into_iter()
                .filter(|r| keys.contains(&table.key_of(r)))
                .collect();
        }
        self
    }

    /// What changed from `self` (before) to `after`, table by table, rows matched by key.
    #[must_use]
    pub fn diff(&self, after: &Dump) -> DumpDiff {
        let mut differences = Vec::new();
        for (name, before) in &self.tables {
            match after.tables.get(name) {
                None => differences.push(DumpDifference::TableRemoved {
                    table: name.clone(),
                }),
                Some(after) => diff_table(name, before, after, &mut differences),
            }
        }
        for name in after.tables.keys() {
            if !self.tables.contains_key(name) {
                differences.push(DumpDifference::TableAdded {
                    table: name.clone(),
                });
            }
        }
        DumpDiff { differences }
    }
}

fn diff_table(name: &str, before: &TableDump, after: &TableDump, out: &mut Vec<DumpDifference>) {
    if before.columns != after.columns {
        out.push(DumpDifference::ColumnsChanged {
            table: name.to_owned(),
            before: before.columns.clone(),
            after: after.columns.clone(),
        });
        return;
    }
    let cells = |t: &TableDump, row: &[Value]| -> Vec<(String, Value)> {
        t.columns.iter().cloned().zip(row.iter().cloned()).collect()
    };
    let after_rows: HashMap<String, &Vec<Value>> =
        after.rows.iter().map(|r| (after.key_of(r), r)).collect();
    let before_keys: HashMap<String, ()> =
        before.rows.iter().map(|r| (before.key_of(r), ())).collect();
    for row in &before.rows {
        let key = before.key_of(row);
        match after_rows.get(&key) {
            None => out.push(DumpDifference::RowRemoved {
                table: name.to_owned(),
                key,
                row: cells(before, row),
            }),
            Some(other) => {
                for (i, column) in before.columns.iter().enumerate() {
                    // Rows read back are untrusted: a short row compares as NULLs.
                    let a = row.get(i).unwrap_or(&Value::Null);
                    let b = other.get(i).unwrap_or(&Value::Null);
                    if a != b {
                        out.push(DumpDifference::CellChanged {
                            table: name.to_owned(),
                            key: key.clone(),
                            column: column.clone(),
                            before: a.clone(),
                            after: b.clone(),
                        });
                    }
                }
            }
        }
    }
    for row in &after.rows {
        let key = after.key_of(row);
        if !before_keys.contains_key(&key) {
            out.push(DumpDifference::RowAdded {
                table: name.to_owned(),
                key,
                row: cells(after, row),
            });
        }
    }
}

/// One difference between two dumps.
#[derive(Debug, Clone, PartialEq)]
pub enum DumpDifference {
    TableRemoved {
        table: String,
    },
    TableAdded {
        table: String,
    },
    ColumnsChanged {
        table: String,
        before: Vec<String>,
        after: Vec<String>,
    },
    RowRemoved {
        table: String,
        key: String,
        row: Vec<(String, Value)>,
    },
    RowAdded {
        table: String,
        key: String,
        row: Vec<(String, Value)>,
    },
    CellChanged {
        table: String,
        key: String,
        column: String,
        before: Value,
        after: Value,
    },
}

impl fmt::Display for DumpDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row_text = |row: &[(String, Value)]| {
            row.iter()
                .map(|(c, v)| format!("{c}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            DumpDifference::TableRemoved { table } => write!(f, "{table}: table removed"),
            DumpDifference::TableAdded { table } => write!(f, "{table}: table added"),
            DumpDifference::ColumnsChanged {
                table,
                before,
                after,
            } => write!(
                f,
                "{table}: columns changed from ({}) to ({})",
                before.join(", "),
                after.join(", ")
            ),
            DumpDifference::RowRemoved { table, key, row } => {
                write!(f, "{table} [{key}]: row removed ({})", row_text(row))
            }
            DumpDifference::RowAdded { table, key, row } => {
                write!(f, "{table} [{key}]: row added ({})", row_text(row))
            }
            DumpDifference::CellChanged {
                table,
                key,
                column,
                before,
                after,
            } => write!(f, "{table} [{key}] {column}: {before} → {after}"),
        }
    }
}

/// The differences of two dumps; empty when they are equal.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DumpDiff {
    pub differences: Vec<DumpDifference>,
}

impl DumpDiff {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.differences.is_empty()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.differences.len()
    }
}

impl fmt::Display for DumpDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.differences.is_empty() {
            return f.write_str("no differences");
        }
        writeln!(f, "{} difference(s):", self.differences.len())?;
        for d in &self.differences {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}

/// Reads every row of every table (except SQLite's internal `sqlite_*` tables) through one
/// snapshot, ordered by primary key.
///
/// # Errors
/// Introspection or a query failed, or a value could not be decoded.
pub fn dump_database(conn: &mut (impl Database + ?Sized)) -> Result<Dump> {
    let tables = conn.tables()?;
    let mut dump = Dump::default();
    conn.read(&mut |view| {
        for table in &tables {
            if table.name.starts_with("sqlite_") {
                continue;
            }
            let key_columns = if table.primary_key.is_empty() {
                table.columns.clone()
            } else {
                table.primary_key.clone()
            };
            let select: Vec<String> = table.columns.iter().map(|c| view.quote(c)).collect();
            let order: Vec<String> = key_columns.iter().map(|c| view.quote(c)).collect();
            let sql = format!(
                "SELECT {} FROM {} ORDER BY {}",
                select.join(", "),
                view.quote(&table.name),
                order.join(", ")
            );
            let rows = view.query(&sql, &[])?;
            dump.tables.insert(
                table.name.clone(),
                TableDump {
                    columns: table.columns.clone(),
                    key_columns,
                    rows,
                },
            );
        }
        Ok(())
    })?;
    Ok(dump)
}

/// One file or symbolic link of a tree: bytes (or link target), mode, uid, gid, mtime (ns).
pub type FileState = (Vec<u8>, u32, u32, u32, i128);

/// Every regular file and link under `dir` (directories are walked, not listed; FIFOs and
/// other special files, which reading would block on, are left out), by path relative to
/// `dir`: what an undo must bring back byte for byte with mode, owner and mtime. Never
/// follows links; unreadable entries are left out.
#[must_use]
pub fn file_tree(dir: &std::path::Path) -> BTreeMap<String, FileState> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            let content = if meta.file_type().is_symlink() {
                std::fs::read_link(&path)
                    .map(|t| t.to_string_lossy().into_owned().into_bytes())
                    .unwrap_or_default()
            } else if meta.file_type().is_file() {
                std::fs::read(&path).unwrap_or_default()
            } else {
                continue;
            };
            let mtime = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
            let relative = path
                .strip_prefix(dir)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.insert(
                relative,
                (content, meta.mode(), meta.uid(), meta.gid(), mtime),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_table(rows: Vec<Vec<Value>>) -> TableDump {
        TableDump {
            columns: vec!["id".into(), "exitcode".into(), "env".into()],
            key_columns: vec!["id".into()],
            rows,
        }
    }

    fn dump(rows: Vec<Vec<Value>>) -> Dump {
        let mut d = Dump::default();
        d.tables.insert("job".into(), job_table(rows));
        d
    }

    #[test]
    fn equal_dumps_have_no_differences() {
        let a = dump(vec![vec![Value::Int(1), Value::Null, "x".into()]]);
        assert!(a.diff(&a.clone()).is_empty());
        assert_eq!(a.diff(&a).to_string(), "no differences");
    }

    #[test]
    fn a_changed_cell_names_table_key_column_and_both_values() {
        let before = dump(vec![
            vec![Value::Int(1), Value::Null, "x".into()],
            vec![Value::Int(2), Value::Int(0), "y".into()],
        ]);
        let after = dump(vec![
            vec![Value::Int(1), Value::Int(3), "x".into()],
            vec![Value::Int(2), Value::Int(0), "y".into()],
        ]);
        let diff = before.diff(&after);
        assert_eq!(diff.len(), 1);
        assert_eq!(
            diff.differences[0],
            DumpDifference::CellChanged {
                table: "job".into(),
                key: "id=1".into(),
                column: "exitcode".into(),
                before: Value::Null,
                after: Value::Int(3),
            }
        );
        assert_eq!(
            diff.to_string(),
            "1 difference(s):\n  job [id=1] exitcode: NULL → 3\n"
        );
    }

    #[test]
    fn removed_and_added_rows_and_tables_are_reported() {
        let before = dump(vec![vec![Value::Int(1), Value::Null, "x".into()]]);
        let mut after = dump(vec![vec![Value::Int(2), Value::Null, "x".into()]]);
        after.tables.insert(
            "log".into(),
            TableDump {
                columns: vec!["id".into()],
                key_columns: vec!["id".into()],
                rows: vec![],
            },
        );
        let text = before.diff(&after).to_string();
        assert!(
            text.contains("job [id=1]: row removed (id=1, exitcode=NULL, env=\"x\")"),
            "{text}"
        );
        assert!(
            text.contains("job [id=2]: row added (id=2, exitcode=NULL, env=\"x\")"),
            "{text}"
        );
        assert!(text.contains("log: table added"), "{text}");
        assert!(after
            .diff(&before)
            .to_string()
            .contains("log: table removed"));
    }

    #[test]
    fn rows_are_found_by_rendered_key() {
        let d = dump(vec![vec![Value::Int(7), Value::Int(0), "e".into()]]);
        let t = d.table("job").unwrap();
        let row = t.row("id=7").unwrap();
        assert_eq!(t.value(row, "exitcode"), Some(&Value::Int(0)));
        assert_eq!(d.row_count("job"), 1);
        assert_eq!(d.row_count("nope"), 0);
        assert!(d.without_tables(&["job"]).tables.is_empty());
    }
}
