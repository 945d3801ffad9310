//! The test harness: one test body, every engine, each test on its own fresh database.
//!
//! Owns: creating and dropping per-test databases (a SQLite file in a temp dir; `CREATE
//! DATABASE hk_t_<unique>` on the PostgreSQL and MySQL servers named by
//! `HOUSEKEEPER_TEST_POSTGRES_URL` / `HOUSEKEEPER_TEST_MYSQL_URL`), the skip-or-fail rule
//! for a missing server (`HOUSEKEEPER_TEST_REQUIRE_ALL=1` turns a skip into a failure naming
//! the variable), and the `backend_test!` macro.
//!
//! Must never: touch a database it did not create (the admin database only runs `CREATE` and
//! `DROP DATABASE` for our own `hk_t_` names), panic while dropping (a panic during unwinding
//! aborts the whole test binary), or depend on test order: tests run in parallel, under
//! `cargo test` (threads) and `cargo nextest` (processes).

#![allow(dead_code)]

pub mod tool;
pub mod trapper;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

pub use housekeeper::config::{DbTarget, Engine};
pub use housekeeper::db::{self, ConnectOptions, Connection, DbError};
pub use housekeeper_journal::{DateTimeValue, TimeValue, Value};

/// The variable holding the admin URL of an engine's test server.
#[must_use]
pub fn url_variable(engine: Engine) -> Option<&'static str> {
    match engine {
        Engine::Sqlite => None,
        Engine::Postgres => Some("HOUSEKEEPER_TEST_POSTGRES_URL"),
        Engine::Mysql => Some("HOUSEKEEPER_TEST_MYSQL_URL"),
    }
}

fn require_all() -> bool {
    std::env::var("HOUSEKEEPER_TEST_REQUIRE_ALL").is_ok_and(|v| v.trim() == "1")
}

/// A fresh database for one test, dropped when this value is dropped (also on panic).
pub struct TestDb {
    engine: Engine,
    target: DbTarget,
    url: String,
    dir: tempfile::TempDir,
    /// For server engines: the admin target and our database's name, to drop it.
    server: Option<(DbTarget, String)>,
}

/// A database name no other test (thread or process) uses: `hk_t_<pid>_<n>_<nanos>`.
fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "hk_t_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The admin URL with another database name (the password, if any, kept).
fn url_with_database(admin_url: &str, database: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("the admin URL parsed once already");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

impl TestDb {
    /// Creates a fresh database, or `Ok(None)` when the engine's server is not configured
    /// (skip). Fails when it is configured but unusable, or when it is missing and
    /// `HOUSEKEEPER_TEST_REQUIRE_ALL=1`.
    ///
    /// # Errors
    /// A message saying what is missing or what failed.
    pub fn create(engine: Engine) -> Result<Option<TestDb>, String> {
        let dir = tempfile::Builder::new()
            .prefix("hk-test-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let Some(variable) = url_variable(engine) else {
            let path = dir.path().join("multiflexi.sqlite");
            let conn = rusqlite::Connection::open(&path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            // MultiFlexi runs its SQLite database in WAL mode.
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                .map_err(|e| format!("cannot set WAL mode on {}: {e}", path.display()))?;
            drop(conn);
            return Ok(Some(TestDb {
                engine,
                target: DbTarget::Sqlite { path: path.clone() },
                url: format!("sqlite:{}", path.display()),
                dir,
                server: None,
            }));
        };
        let admin_url = match std::env::var(variable) {
            Ok(url) if !url.trim().is_empty() => url,
            _ if require_all() => {
                return Err(format!(
                    "{variable} is not set, and HOUSEKEEPER_TEST_REQUIRE_ALL=1 forbids skipping \
                     the {engine} tests"
                ))
            }
            _ => return Ok(None),
        };
        let admin = DbTarget::from_url(&admin_url, variable).map_err(|e| e.to_string())?;
        if admin.engine() != engine {
            return Err(format!("{variable} is not a {engine} URL"));
        }
        let name = unique_name();
        let mut conn = db::connect(&admin, &ConnectOptions::default())
            .map_err(|e| format!("{variable}: {e}"))?;
        let create = match engine {
            Engine::Mysql => {
                format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            }
            _ => format!("CREATE DATABASE \"{name}\""),
        };
        conn.execute_ddl(&create)
            .map_err(|e| format!("{variable}: {e}"))?;
        let url = url_with_database(&admin_url, &name);
        let target = DbTarget::from_url(&url, variable).map_err(|e| e.to_string())?;
        Ok(Some(TestDb {
            engine,
            target,
            url,
            dir,
            server: Some((admin, name)),
        }))
    }

    #[must_use]
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The database target, as the configuration would build it.
    #[must_use]
    pub fn target(&self) -> &DbTarget {
        &self.target
    }

    /// The URL for the command line (`--database`), including any password.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A temp directory private to this test, removed with it.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The SQLite database file (`None` on server engines).
    #[must_use]
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.target {
            DbTarget::Sqlite { path } => Some(path),
            _ => None,
        }
    }

    /// The name of the per-test database (the SQLite file path on SQLite).
    #[must_use]
    pub fn database_name(&self) -> String {
        match &self.target {
            DbTarget::Sqlite { path } => path.display().to_string(),
            DbTarget::Postgres(s) | DbTarget::Mysql(s) => s.database.clone(),
        }
    }

    /// The admin target of the server (`None` on SQLite).
    #[must_use]
    pub fn admin(&self) -> Option<&DbTarget> {
        self.server.as_ref().map(|(admin, _)| admin)
    }

    /// Opens a connection with default options; panics with the error otherwise.
    #[must_use]
    pub fn connect(&self) -> Box<dyn Connection> {
        self.connect_with(&ConnectOptions::default())
            .unwrap_or_else(|e| panic!("connecting to the {} test database: {e}", self.engine))
    }

    /// Opens a connection with the given options.
    ///
    /// # Errors
    /// As `housekeeper::db::connect`.
    pub fn connect_with(&self, options: &ConnectOptions) -> db::DbResult<Box<dyn Connection>> {
        db::connect(&self.target, options)
    }

    /// Runs statements one by one outside a transaction (schema set-up); panics on error.
    pub fn run_sql(&self, statements: &[&str]) {
        let mut conn = self.connect();
        for sql in statements {
            conn.execute_ddl(sql)
                .unwrap_or_else(|e| panic!("set-up statement failed on {}: {e}", self.engine));
        }
    }

    /// Picks the statement for this engine.
    #[must_use]
    pub fn pick<'a>(&self, sqlite: &'a str, postgres: &'a str, mysql: &'a str) -> &'a str {
        match self.engine {
            Engine::Sqlite => sqlite,
            Engine::Postgres => postgres,
            Engine::Mysql => mysql,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = &self.server else {
            return;
        };
        let drop_sql = match self.engine {
            Engine::Mysql => format!("DROP DATABASE IF EXISTS `{name}`"),
            _ => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        };
        let result = db::connect(admin, &ConnectOptions::default())
            .and_then(|mut conn| conn.execute_ddl(&drop_sql));
        if let Err(e) = result {
            eprintln!("warning: could not drop the test database {name}: {e}");
        }
    }
}

/// Runs `body` on a fresh database of `engine`, or prints a skip line when the engine's
/// server is not configured (failing instead under `HOUSEKEEPER_TEST_REQUIRE_ALL=1`).
pub fn run(engine: Engine, body: impl FnOnce(&TestDb)) {
    match TestDb::create(engine) {
        Ok(Some(db)) => body(&db),
        Ok(None) => eprintln!(
            "skipped on {engine}: {} is not set",
            url_variable(engine).unwrap_or("?")
        ),
        Err(problem) => panic!("cannot set up the {engine} test database: {problem}"),
    }
}

/// `Engine` by the name used in test names.
#[must_use]
pub fn engine_named(name: &str) -> Engine {
    match name {
        "sqlite" => Engine::Sqlite,
        "postgres" => Engine::Postgres,
        "mysql" => Engine::Mysql,
        other => panic!("no engine named {other}"),
    }
}

/// A free TCP port on 127.0.0.1 nobody listens on (bound, then released).
#[must_use]
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a listener");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    port
}

/// The server part of a target, for tests that alter it.
#[must_use]
pub fn server_of(target: &DbTarget) -> housekeeper::config::ServerTarget {
    match target {
        DbTarget::Postgres(s) | DbTarget::Mysql(s) => s.clone(),
        DbTarget::Sqlite { .. } => panic!("not a server target"),
    }
}

/// A fresh file name inside the test's directory.
#[must_use]
pub fn path_in(db: &TestDb, name: &str) -> PathBuf {
    db.dir().join(name)
}

/// Defines one test per engine: `name::sqlite`, `name::postgres`, `name::mysql`.
///
/// ```ignore
/// backend_test!(fn counts_rows(db) { let mut conn = db.connect(); … });
/// backend_test!(only(postgres, mysql) fn server_clock(db) { … });
/// ```
macro_rules! backend_test {
    ($(#[$attr:meta])* fn $name:ident($db:ident) $body:block) => {
        backend_test!($(#[$attr])* only(sqlite, postgres, mysql) fn $name($db) $body);
    };
    ($(#[$attr:meta])* only($($engine:ident),+) fn $name:ident($db:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_variables)]
            fn body($db: &$crate::support::TestDb) $body

            backend_test!(@tests [$(#[$attr])*] $($engine),+);
        }
    };
    (@tests [$(#[$attr:meta])*] $engine:ident $(, $rest:ident)*) => {
        #[test]
        $(#[$attr])*
        fn $engine() {
            $crate::support::run($crate::support::engine_named(stringify!($engine)), body);
        }

        backend_test!(@tests [$(#[$attr])*] $($rest),*);
    };
    (@tests [$(#[$attr:meta])*]) => {};
}
