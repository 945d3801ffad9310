//! SQL text differences between engines, as methods: identifier quoting, placeholders and
//! the building blocks of key conditions. Duties and the executor build SQL only through
//! these, never with `if engine == …`.

use std::borrow::Cow;

use housekeeper_journal::Value;

use crate::config::Engine;

/// Keys one statement binds at most (`IN` lists; a range binds two, whatever its length),
/// well under every engine's parameter limit.
pub const KEYS_PER_STATEMENT: usize = 1000;

/// The SQL dialect of one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    engine: Engine,
}

impl Dialect {
    #[must_use]
    pub fn new(engine: Engine) -> Self {
        Dialect { engine }
    }

    #[must_use]
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Quotes an identifier (table or column name): `` `name` `` on MySQL, `"name"` elsewhere,
    /// doubling any embedded quote character. The one quoting function of the project.
    #[must_use]
    pub fn quote(&self, identifier: &str) -> String {
        let q = match self.engine {
            Engine::Mysql => '`',
            Engine::Postgres | Engine::Sqlite => '"',
        };
        let mut out = String::with_capacity(identifier.len() + 2);
        out.push(q);
        for c in identifier.chars() {
            if c == q {
                out.push(q);
            }
            out.push(c);
        }
        out.push(q);
        out
    }

    /// `?, ?, ?` for `n` parameters.
    #[must_use]
    pub fn placeholders(&self, n: usize) -> String {
        let mut out = String::with_capacity(n * 3);
        for i in 0..n {
            if i > 0 {
                out.push_str(", ");
            }
            out.push('?');
        }
        out
    }

    /// `"col" IN (?, ?, …)` conditions for any number of keys, one per
    /// [`KEYS_PER_STATEMENT`] keys.
    #[must_use]
    pub fn in_key_lists(&self, column: &str, keys: &[Value]) -> Vec<(String, Vec<Value>)> {
        keys.chunks(KEYS_PER_STATEMENT)
            .map(|piece| self.in_keys(column, piece))
            .collect()
    }

    /// `"col" IN (?, ?, …)` for a list of keys, with the keys as parameters.
    /// An empty list gives a condition that matches nothing.
    #[must_use]
    pub fn in_keys(&self, column: &str, keys: &[Value]) -> (String, Vec<Value>) {
        if keys.is_empty() {
            return ("1 = 0".to_owned(), Vec::new());
        }
        (
            format!(
                "{} IN ({})",
                self.quote(column),
                self.placeholders(keys.len())
            ),
            keys.to_vec(),
        )
    }

    /// `("col" BETWEEN ? AND ?) OR …` for inclusive integer key ranges.
    #[must_use]
    pub fn in_ranges(&self, column: &str, ranges: &[(i64, i64)]) -> (String, Vec<Value>) {
        if ranges.is_empty() {
            return ("1 = 0".to_owned(), Vec::new());
        }
        let col = self.quote(column);
        let mut sql = String::new();
        let mut params = Vec::with_capacity(ranges.len() * 2);
        for (i, (lo, hi)) in ranges.iter().enumerate() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            if lo == hi {
                sql.push_str(&format!("{col} = ?"));
                params.push(Value::Int(*lo));
            } else {
                sql.push_str(&format!("({col} BETWEEN ? AND ?)"));
                params.push(Value::Int(*lo));
                params.push(Value::Int(*hi));
            }
        }
        (sql, params)
    }

    /// `CREATE TABLE IF NOT EXISTS housekeeper_anchor …`: the one table this tool adds to a
    /// MultiFlexi database (docs/AUDIT.md, journal/FORMAT.md). Keyed by journal id so several hosts can share a database.
    #[must_use]
    pub fn anchor_table_ddl(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite => {
                "CREATE TABLE IF NOT EXISTS \"housekeeper_anchor\" (\
                 \"journal_id\" TEXT NOT NULL, \"run_id\" TEXT NOT NULL, \"duty\" TEXT NOT NULL, \
                 \"chunk\" INTEGER NOT NULL, \"record_seq\" INTEGER NOT NULL, \
                 \"record_hash\" TEXT NOT NULL, \"payload_digest\" TEXT NULL, \
                 \"payload_len\" INTEGER NULL, \
                 \"created_at\" TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, \
                 PRIMARY KEY (\"journal_id\", \"run_id\", \"duty\", \"chunk\"))"
            }
            Engine::Postgres => {
                "CREATE TABLE IF NOT EXISTS \"housekeeper_anchor\" (\
                 \"journal_id\" varchar(64) NOT NULL, \"run_id\" varchar(64) NOT NULL, \
                 \"duty\" varchar(64) NOT NULL, \"chunk\" integer NOT NULL, \
                 \"record_seq\" bigint NOT NULL, \"record_hash\" char(64) NOT NULL, \
                 \"payload_digest\" char(64) NULL, \"payload_len\" bigint NULL, \
                 \"created_at\" timestamp NOT NULL DEFAULT LOCALTIMESTAMP, \
                 PRIMARY KEY (\"journal_id\", \"run_id\", \"duty\", \"chunk\"))"
            }
            Engine::Mysql => {
                "CREATE TABLE IF NOT EXISTS `housekeeper_anchor` (\
                 `journal_id` varchar(64) NOT NULL, `run_id` varchar(64) NOT NULL, \
                 `duty` varchar(64) NOT NULL, `chunk` int NOT NULL, \
                 `record_seq` bigint unsigned NOT NULL, `record_hash` char(64) NOT NULL, \
                 `payload_digest` char(64) NULL, `payload_len` bigint unsigned NULL, \
                 `created_at` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP, \
                 PRIMARY KEY (`journal_id`, `run_id`, `duty`, `chunk`)\
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
            }
        }
    }

    /// Whether the database enforces foreign keys, so a row whose parent is missing cannot be
    /// inserted. MultiFlexi runs SQLite without `PRAGMA foreign_keys`: there it does not.
    #[must_use]
    pub fn enforces_foreign_keys(&self) -> bool {
        match self.engine {
            Engine::Sqlite => false,
            Engine::Postgres | Engine::Mysql => true,
        }
    }

    /// The statement reading the database clock in UTC (`None` on SQLite, which has no
    /// server clock).
    #[must_use]
    pub fn utc_now_sql(&self) -> Option<&'static str> {
        match self.engine {
            Engine::Sqlite => None,
            Engine::Postgres => Some("SELECT CAST(now() AT TIME ZONE 'UTC' AS timestamp)"),
            Engine::Mysql => Some("SELECT UTC_TIMESTAMP()"),
        }
    }

    /// Rewrites `?` placeholders into the engine's native form (`$1…$n` on PostgreSQL),
    /// leaving quoted identifiers and string literals alone.
    #[must_use]
    pub fn native_placeholders<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        if self.engine != Engine::Postgres || !sql.contains('?') {
            return Cow::Borrowed(sql);
        }
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        let mut quote: Option<char> = None;
        for c in sql.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '\'' || c == '"' => quote = Some(c),
                None if c == '?' => {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                    continue;
                }
                None => {}
            }
            out.push(c);
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_per_engine() {
        assert_eq!(Dialect::new(Engine::Mysql).quote("user"), "`user`");
        assert_eq!(Dialect::new(Engine::Mysql).quote("a`b"), "`a``b`");
        assert_eq!(
            Dialect::new(Engine::Postgres).quote("DatSave"),
            "\"DatSave\""
        );
        assert_eq!(Dialect::new(Engine::Sqlite).quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn postgres_placeholders_skip_literals_and_identifiers() {
        let d = Dialect::new(Engine::Postgres);
        assert_eq!(
            d.native_placeholders("SELECT \"a?\" FROM t WHERE x = ? AND y = '?' AND z IN (?, ?)"),
            "SELECT \"a?\" FROM t WHERE x = $1 AND y = '?' AND z IN ($2, $3)"
        );
        let m = Dialect::new(Engine::Mysql);
        assert_eq!(m.native_placeholders("x = ?"), "x = ?");
    }

    #[test]
    fn key_conditions() {
        let d = Dialect::new(Engine::Sqlite);
        let (sql, params) = d.in_keys("id", &[Value::Int(1), Value::Int(5)]);
        assert_eq!(sql, "\"id\" IN (?, ?)");
        assert_eq!(params.len(), 2);
        let (sql, params) = d.in_ranges("id", &[(1, 10), (12, 12)]);
        assert_eq!(sql, "(\"id\" BETWEEN ? AND ?) OR \"id\" = ?");
        assert_eq!(params, [Value::Int(1), Value::Int(10), Value::Int(12)]);
        assert_eq!(d.in_keys("id", &[]).0, "1 = 0");
    }
}
