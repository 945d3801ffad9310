//! The writing of the collected rows: multi-row `INSERT`s with bound values in transactions,
//! foreign key checks off for a seed with dangling references, PostgreSQL identity sequences
//! advanced afterwards.

use std::collections::BTreeSet;

use housekeeper_journal::Value;

use super::{Row, Seed};
use crate::Engine;
use crate::{Database, Error, Result, Statements};

/// Rows per multi-row `INSERT` (well under every engine's parameter limit).
const ROWS_PER_INSERT: usize = 100;
/// Rows per write transaction.
const ROWS_PER_TRANSACTION: usize = 5_000;

impl Seed {
    /// Writes every collected row: consecutive rows of one table with the same columns go into
    /// one multi-row `INSERT`, at most [`ROWS_PER_TRANSACTION`] rows per transaction, in the
    /// order they were added (parents first). Afterwards PostgreSQL identity sequences of the
    /// tables written are moved past their highest id.
    ///
    /// # Errors
    /// A statement failed; the error names the table. Rows of earlier transactions stay.
    pub fn apply(&self, conn: &mut (impl Database + ?Sized)) -> Result<()> {
        let engine = conn.engine();
        for chunk in self.rows.chunks(ROWS_PER_TRANSACTION) {
            conn.write(&mut |tx| {
                if self.dangling {
                    set_fk_checks(tx, engine, false)?;
                }
                let mut start = 0;
                while start < chunk.len() {
                    let first = &chunk[start];
                    let mut end = start + 1;
                    while end < chunk.len()
                        && end - start < ROWS_PER_INSERT
                        && chunk[end].table == first.table
                        && chunk[end].columns == first.columns
                    {
                        end += 1;
                    }
                    insert_rows(tx, &chunk[start..end])?;
                    start = end;
                }
                if self.dangling {
                    set_fk_checks(tx, engine, true)?;
                }
                Ok(())
            })?;
        }
        if engine == Engine::Postgres {
            let tables: BTreeSet<&str> = self
                .rows
                .iter()
                .filter(|r| matches!(r.get("id"), Some(Value::Int(_))))
                .map(|r| r.table)
                .collect();
            advance_identities(conn, &tables)?;
        }
        Ok(())
    }
}

fn insert_rows(tx: &mut dyn Statements, rows: &[Row]) -> Result<()> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let columns: Vec<String> = first.columns.iter().map(|c| tx.quote(c)).collect();
    let tuple = format!("({})", vec!["?"; columns.len()].join(", "));
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ",
        tx.quote(first.table),
        columns.join(", ")
    );
    let mut params = Vec::with_capacity(rows.len() * columns.len());
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&tuple);
        params.extend(row.values.iter().cloned());
    }
    tx.execute(&sql, &params).map_err(|e| match e {
        Error::Statement { detail, .. } => Error::Statement {
            sql: format!(
                "INSERT INTO {} ({}) … ({} rows)",
                first.table,
                first.columns.join(", "),
                rows.len()
            ),
            detail,
        },
        other => other,
    })?;
    Ok(())
}

/// Foreign key checks on or off for the rest of the transaction. The one place the builder
/// speaks engine-specific SQL: none of these has a portable form.
fn set_fk_checks(tx: &mut dyn Statements, engine: Engine, on: bool) -> Result<()> {
    match engine {
        Engine::Mysql => {
            let sql = if on {
                "SET FOREIGN_KEY_CHECKS = 1"
            } else {
                "SET FOREIGN_KEY_CHECKS = 0"
            };
            tx.execute(sql, &[])?;
        }
        Engine::Postgres => {
            let sql = if on {
                "SET LOCAL session_replication_role = origin"
            } else {
                "SET LOCAL session_replication_role = replica"
            };
            tx.execute(sql, &[])?;
        }
        // The housekeeper's SQLite connections run with PRAGMA foreign_keys=OFF already.
        Engine::Sqlite => {}
    }
    Ok(())
}

/// Moves each table's identity sequence past its highest id, so inserts without an id (by
/// MultiFlexi, or by the tool's own record rows) do not collide with the seeded ids.
fn advance_identities(conn: &mut (impl Database + ?Sized), tables: &BTreeSet<&str>) -> Result<()> {
    conn.write(&mut |tx| {
        for table in tables {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence(?, 'id'), COALESCE((SELECT MAX({id}) FROM {t}), 0) + 1, false)",
                id = tx.quote("id"),
                t = tx.quote(table),
            );
            tx.query(&sql, &[Value::Text(tx.quote(table))])?;
        }
        Ok(())
    })
}
