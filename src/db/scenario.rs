//! housekeeper's connections as a `housekeeper_scenario::Database`, so the tests, the
//! benchmarks and `housekeeper demo` build and dump their databases through exactly the
//! connections the tool uses.
//!
//! Owns: only this translation (the engine, errors, the transaction and snapshot handles).
//! Must never: be reached from `run`, `plan`, `apply` or `undo`.

use housekeeper_journal::Value;
use housekeeper_scenario as scenario;

use super::{Connection, DbError, ReadView, WriteTx};
use crate::config::Engine;

impl From<Engine> for scenario::Engine {
    fn from(engine: Engine) -> Self {
        match engine {
            Engine::Sqlite => Self::Sqlite,
            Engine::Postgres => Self::Postgres,
            Engine::Mysql => Self::Mysql,
        }
    }
}

impl From<DbError> for scenario::Error {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Statement { sql, detail, .. } => Self::Statement { sql, detail },
            other => Self::Database(other.to_string()),
        }
    }
}

impl scenario::Database for dyn Connection + '_ {
    fn engine(&self) -> scenario::Engine {
        Connection::engine(self).into()
    }

    fn run_ddl(&mut self, sql: &str) -> scenario::Result<()> {
        Ok(self.execute_ddl(sql)?)
    }

    fn write(
        &mut self,
        work: &mut dyn FnMut(&mut dyn scenario::Statements) -> scenario::Result<()>,
    ) -> scenario::Result<()> {
        let mut tx = self.begin()?;
        // An error drops `tx`, which rolls the transaction back.
        work(&mut Writing(tx.as_mut()))?;
        Ok(tx.commit()?)
    }

    fn read(
        &mut self,
        work: &mut dyn FnMut(&mut dyn scenario::Statements) -> scenario::Result<()>,
    ) -> scenario::Result<()> {
        let mut view = self.snapshot()?;
        work(&mut Reading(view.as_mut()))
    }

    fn tables(&mut self) -> scenario::Result<Vec<scenario::TableShape>> {
        let facts = self.introspect()?;
        Ok(facts
            .tables
            .into_iter()
            .map(|(name, table)| scenario::TableShape {
                name,
                columns: table.columns.into_iter().map(|c| c.name).collect(),
                primary_key: table.primary_key,
            })
            .collect())
    }
}

/// Statements of one write transaction.
struct Writing<'a>(&'a mut dyn WriteTx);

impl scenario::Statements for Writing<'_> {
    fn quote(&self, identifier: &str) -> String {
        self.0.dialect().quote(identifier)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> scenario::Result<u64> {
        Ok(self.0.execute(sql, params)?)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> scenario::Result<Vec<Vec<Value>>> {
        Ok(self.0.query(sql, params)?.rows)
    }
}

/// Queries of one read-only snapshot.
struct Reading<'a>(&'a mut dyn ReadView);

impl scenario::Statements for Reading<'_> {
    fn quote(&self, identifier: &str) -> String {
        self.0.dialect().quote(identifier)
    }

    fn execute(&mut self, sql: &str, _params: &[Value]) -> scenario::Result<u64> {
        Err(scenario::Error::Unsupported(format!(
            "a read-only snapshot cannot run {sql}"
        )))
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> scenario::Result<Vec<Vec<Value>>> {
        Ok(self.0.query(sql, params)?.rows)
    }
}
