//! What a scenario needs of a database, and nothing more: the engine it speaks, DDL, write
//! transactions, one read snapshot, and the tables with their columns and keys.
//!
//! housekeeper implements [`Database`] for its own connections, so tests and the demo seed and
//! dump databases through exactly the connections the tool uses; this crate never connects
//! anywhere by itself.

use std::fmt;

use housekeeper_journal::Value;

/// The engine a scenario database runs on: which schema fixture and which SQL it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
    Mysql,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
            Self::Mysql => "MySQL/MariaDB",
        })
    }
}

/// What went wrong building or reading a scenario database.
#[derive(Debug)]
pub enum Error {
    /// A statement failed; `sql` names it (never its values).
    Statement { sql: String, detail: String },
    /// Any other database failure (connecting, committing, decoding), as the database layer
    /// described it.
    Database(String),
    /// The scenario does not exist for this engine.
    Unsupported(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Statement { sql, detail } => write!(f, "{detail} (in: {sql})"),
            Self::Database(detail) | Self::Unsupported(detail) => f.write_str(detail),
        }
    }
}

impl std::error::Error for Error {}

/// The result of scenario work.
pub type Result<T> = std::result::Result<T, Error>;

/// Statements inside one transaction or snapshot. SQL uses `?` placeholders on every engine;
/// values are always bound, identifiers always go through [`Statements::quote`].
pub trait Statements {
    /// Quotes an identifier for this engine.
    fn quote(&self, identifier: &str) -> String;
    /// Runs a statement; returns the rows it affected.
    ///
    /// # Errors
    /// The statement failed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Runs a query; returns its rows.
    ///
    /// # Errors
    /// The query failed or a value could not be decoded.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>>;
}

/// A table as a dump sees it: its columns in order and its primary key (empty: none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    pub name: String,
    pub columns: Vec<String>,
    pub primary_key: Vec<String>,
}

/// A database a scenario may build or read.
pub trait Database {
    /// The engine, which chooses the schema fixture and the engine-specific statements.
    fn engine(&self) -> Engine;
    /// Runs one DDL statement outside any transaction.
    ///
    /// # Errors
    /// The statement failed.
    fn run_ddl(&mut self, sql: &str) -> Result<()>;
    /// Runs `work` in one write transaction: committed when it returns `Ok`, rolled back
    /// otherwise.
    ///
    /// # Errors
    /// `work` failed, or the transaction could not begin or commit.
    fn write(&mut self, work: &mut dyn FnMut(&mut dyn Statements) -> Result<()>) -> Result<()>;
    /// Runs `work` on one consistent read-only snapshot.
    ///
    /// # Errors
    /// `work` failed, or the snapshot could not be opened.
    fn read(&mut self, work: &mut dyn FnMut(&mut dyn Statements) -> Result<()>) -> Result<()>;
    /// Every table with its columns and primary key, by name.
    ///
    /// # Errors
    /// The catalog could not be read.
    fn tables(&mut self) -> Result<Vec<TableShape>>;
}
