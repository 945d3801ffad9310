//! Test and demo databases for housekeeper: the MultiFlexi schema per engine, a builder for
//! rows with valid foreign keys, two ready-made scenarios, and whole-database dumps that can be
//! compared.
//!
//! Owns: the embedded schema fixtures (`tests/fixtures/schema/*.sql`, the project's own DDL of
//! the MultiFlexi schema per engine), [`install_schema`], the row builder [`Seed`], the
//! scenarios [`php_observed_fixture`] and [`realistic_mess`], and [`dump_database`] with its
//! readable [`DumpDiff`]. It reaches a database only through the small [`Database`] trait,
//! which housekeeper implements for its own connections (`housekeeper::db::scenario`).
//!
//! Used by the integration tests, the benchmarks (`examples/`) and `housekeeper demo`. Never
//! used by `run`, `plan`, `apply` or `undo`: nothing here is a duty, and nothing here may be
//! called on a database the user did not create for a test or the demo.
//!
//! Must never: format a value into SQL (values are bound parameters, identifiers go through
//! `Dialect::quote`), read the wall clock or the OS random source (every date is relative to
//! the `now` handed in, every "random" choice comes from a seeded generator), or read files
//! outside the embedded fixtures.

// No function over 150 lines (clippy.toml sets the threshold; CI denies warnings).
#![warn(clippy::too_many_lines)]

mod database;
mod dump;
mod mess;
mod php;
mod php_observed;
mod seed;

pub use database::{Database, Engine, Error, Result, Statements, TableShape};
pub use dump::{
    dump_database, file_tree, Dump, DumpDiff, DumpDifference, FileState, TableDump,
    RUN_RECORD_TABLES,
};
pub use mess::{realistic_mess, realistic_mess_in, MessReport};
pub use php::{as_stored_by_php, php_serialized_config_fields, EnvField};
pub use php_observed::{php_observed_fixture, PhpObservedFixture, PHP_OBSERVED_TEMP_FILES};
pub use seed::{shift, JobState, RowRef, Seed, DEFAULT_RETENTION_POLICIES};

/// Which MultiFlexi schema to install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaLevel {
    /// The newest schema (migration 20260630120000), on any engine.
    Current,
    /// A PostgreSQL database stuck at migration 20241020100500, where the unmodified migration
    /// chain stops on PostgreSQL: 20 tables, no `task`, no credentials, no retention columns.
    Pg20241020,
}

const SQLITE_CURRENT: &str = include_str!("../../fixtures/schema/sqlite.sql");
const MYSQL_CURRENT: &str = include_str!("../../fixtures/schema/mysql.sql");
const POSTGRES_CURRENT: &str = include_str!("../../fixtures/schema/postgres.sql");
const POSTGRES_20241020: &str = include_str!("../../fixtures/schema/postgres-20241020.sql");

/// The fixture DDL of `level` for `engine`, or why there is none.
///
/// # Errors
/// [`Error::Unsupported`] for [`SchemaLevel::Pg20241020`] on an engine other than PostgreSQL.
pub fn schema_sql(engine: Engine, level: SchemaLevel) -> Result<&'static str> {
    match (level, engine) {
        (SchemaLevel::Current, Engine::Sqlite) => Ok(SQLITE_CURRENT),
        (SchemaLevel::Current, Engine::Mysql) => Ok(MYSQL_CURRENT),
        (SchemaLevel::Current, Engine::Postgres) => Ok(POSTGRES_CURRENT),
        (SchemaLevel::Pg20241020, Engine::Postgres) => Ok(POSTGRES_20241020),
        (SchemaLevel::Pg20241020, other) => Err(Error::Unsupported(format!(
            "the schema at migration 20241020100500 exists only as a PostgreSQL fixture, not for {other}"
        ))),
    }
}

/// Creates the MultiFlexi tables (with their `phinxlog` rows) in the connected database, which
/// should be empty. Runs the engine's fixture statement by statement as DDL.
///
/// # Errors
/// A statement failed (the error names it), or the level does not exist for this engine.
pub fn install_schema<D: Database + ?Sized>(db: &mut D, level: SchemaLevel) -> Result<()> {
    let sql = schema_sql(db.engine(), level)?;
    for statement in split_statements(sql) {
        db.run_ddl(&statement)?;
    }
    Ok(())
}

/// Splits a fixture file into statements: `;` ends a statement unless it is inside a quoted
/// string or identifier; `--` comments run to the end of the line and are dropped. Blank
/// statements are skipped.
#[must_use]
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                current.push(c);
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' | '`' => {
                    quote = Some(c);
                    current.push(c);
                }
                '-' if chars.peek() == Some(&'-') => {
                    for rest in chars.by_ref() {
                        if rest == '\n' {
                            current.push('\n');
                            break;
                        }
                    }
                }
                ';' => {
                    push_statement(&mut statements, &current);
                    current.clear();
                }
                _ => current.push(c),
            },
        }
    }
    push_statement(&mut statements, &current);
    statements
}

fn push_statement(statements: &mut Vec<String>, text: &str) {
    let trimmed = text.trim();
    if !trimmed.is_empty() {
        statements.push(trimmed.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_semicolons_outside_quotes_and_drops_comments() {
        let sql = "-- heading; with a semicolon\nCREATE TABLE \"a;b\" (x TEXT DEFAULT ';');\n\n\
                   INSERT INTO t VALUES ('it''s; fine'); -- trailing\n  ;\nSELECT `q;`";
        assert_eq!(
            split_statements(sql),
            [
                "CREATE TABLE \"a;b\" (x TEXT DEFAULT ';')",
                "INSERT INTO t VALUES ('it''s; fine')",
                "SELECT `q;`",
            ]
        );
    }

    #[test]
    fn every_fixture_splits_into_creates_indexes_and_phinxlog_rows() {
        for (name, sql, tables) in [
            ("sqlite", SQLITE_CURRENT, 27),
            ("mysql", MYSQL_CURRENT, 27),
            ("postgres", POSTGRES_CURRENT, 27),
            ("postgres-20241020", POSTGRES_20241020, 20),
        ] {
            let statements = split_statements(sql);
            let creates = statements
                .iter()
                .filter(|s| s.starts_with("CREATE TABLE"))
                .count();
            assert_eq!(creates, tables, "{name}: CREATE TABLE statements");
            let inserts: Vec<_> = statements
                .iter()
                .filter(|s| s.starts_with("INSERT"))
                .collect();
            assert_eq!(inserts.len(), 1, "{name}: one phinxlog INSERT");
            assert!(
                statements
                    .iter()
                    .all(|s| s.starts_with("CREATE") || s.starts_with("INSERT INTO")),
                "{name}: only CREATE and INSERT statements"
            );
        }
    }

    #[test]
    fn fixture_schema_levels_are_their_newest_phinxlog_version() {
        let newest = |sql: &str| {
            sql.lines()
                .filter_map(|l| l.trim().strip_prefix('('))
                .filter_map(|l| l.split(',').next()?.trim().parse::<u64>().ok())
                .max()
        };
        for sql in [SQLITE_CURRENT, MYSQL_CURRENT, POSTGRES_CURRENT] {
            assert_eq!(newest(sql), Some(20_260_630_120_000));
        }
        assert_eq!(newest(POSTGRES_20241020), Some(20_241_020_100_500));
    }

    #[test]
    fn the_old_schema_exists_only_for_postgres() {
        assert!(schema_sql(Engine::Postgres, SchemaLevel::Pg20241020).is_ok());
        let err = schema_sql(Engine::Sqlite, SchemaLevel::Pg20241020).unwrap_err();
        assert!(
            err.to_string().contains("only as a PostgreSQL fixture"),
            "{err}"
        );
    }
}
