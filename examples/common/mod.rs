//! What the benchmarks share: a fresh MultiFlexi schema, the release binary run with a scratch
//! state and temp directory (peak RSS measured by `/usr/bin/time`), directory sizes, and a big
//! `log` table.

// Each benchmark uses some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use housekeeper::config::Engine;
use housekeeper::db::Connection;
use housekeeper_journal::{DateTimeValue, Value};
use housekeeper_scenario::{self as scenario, SchemaLevel};

/// A connection to the database named by `url` (a benchmark's first argument).
pub fn connect(url: &str) -> Box<dyn Connection> {
    let target = housekeeper::config::DbTarget::from_url(url, "url").expect("a database URL");
    housekeeper::db::connect(&target, &housekeeper::db::ConnectOptions::default()).expect("connect")
}

/// Drops every table and installs the current MultiFlexi schema.
pub fn reset(conn: &mut dyn Connection) {
    let d = *conn.dialect();
    let schema = conn.introspect().expect("introspect");
    if d.engine() == Engine::Mysql {
        conn.execute_ddl("SET FOREIGN_KEY_CHECKS = 0")
            .expect("fk off");
    }
    for table in schema.tables.keys() {
        let sql = match d.engine() {
            Engine::Postgres => format!("DROP TABLE IF EXISTS {} CASCADE", d.quote(table)),
            _ => format!("DROP TABLE IF EXISTS {}", d.quote(table)),
        };
        conn.execute_ddl(&sql).expect("drop");
    }
    scenario::install_schema(conn, SchemaLevel::Current).expect("schema");
}

/// The release `housekeeper` binary beside the example, run on one database with a scratch
/// state and temp directory and an empty env file.
pub struct Tool {
    url: String,
    exe: PathBuf,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Tool {
    pub fn new(url: &str, env: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("empty.env"), "").expect("env file");
        let exe = std::env::current_exe().expect("exe");
        let exe = exe
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .join("housekeeper");
        Self {
            url: url.to_owned(),
            exe,
            dir,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        }
    }

    /// Runs the tool with `args`; returns its output, seconds and peak RSS (KiB, as text).
    pub fn run(&self, args: &[&str]) -> (Output, f64, String) {
        self.run_with(&[], args)
    }

    /// `run`, with `extra` variables besides the tool's own.
    pub fn run_with(&self, extra: &[(&str, &str)], args: &[&str]) -> (Output, f64, String) {
        let t = Instant::now();
        let mut timed = Command::new("/usr/bin/time");
        timed.args(["-f", "peak-rss-kib %M"]).arg(&self.exe);
        let out = self
            .arguments(&mut timed, args)
            .envs(extra.iter().copied())
            .output()
            .expect("run housekeeper");
        let elapsed = t.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "housekeeper {args:?} failed: {stderr}"
        );
        let rss = stderr
            .lines()
            .find_map(|l| l.strip_prefix("peak-rss-kib "))
            .unwrap_or("?")
            .to_owned();
        (out, elapsed, rss)
    }

    /// The tool with `args`, its own variables and directories, to spawn.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.exe);
        self.arguments(&mut command, args);
        command
    }

    fn arguments<'c>(&self, command: &'c mut Command, args: &[&str]) -> &'c mut Command {
        command
            .arg("--env-file")
            .arg(self.dir.path().join("empty.env"))
            .args(["--database", &self.url, "--state-dir"])
            .arg(self.dir.path().join("state"))
            .arg("--tmp-dir")
            .arg(self.dir.path().join("tmp"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// The tool's state directory (its journal is `journal/` in it).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Bytes under the state directory's journal.
    pub fn journal_bytes(&self) -> u64 {
        walk_size(&self.state_dir().join("journal"))
    }

    /// The journal's segment files.
    pub fn segment_files(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("state/journal"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".hkj"))
                    .count()
            })
            .unwrap_or(0)
    }
}

/// What one duty of a `run --format json` report says it changed.
pub fn affected(report: &serde_json::Value, duty: &str) -> u64 {
    report["duties"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["duty"] == duty))
        .and_then(|d| d["affected"].as_u64())
        .expect("the duty in the report")
}

/// Total bytes of the files under `dir`.
pub fn walk_size(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let m = e.metadata().unwrap();
            total += if m.is_dir() {
                walk_size(&e.path())
            } else {
                m.len()
            };
        }
    }
    total
}

/// A log message as MultiFlexi's executor and apps write them, different for every row: job
/// and company ids, app and template names, exit codes, durations, amounts, HTTP errors and
/// random request ids (which compress as badly as real ones). Deterministic in `i`.
fn log_message(i: i64) -> (String, &'static str, &'static str) {
    const APPS: [&str; 8] = [
        "abraflexi-bank-import",
        "fiobank-statements",
        "raiffeisenbank-statements",
        "abraflexi-reminder",
        "pohoda-invoices",
        "csas-statements",
        "abraflexi-matcher",
        "multiflexi-probe",
    ];
    const COMPANIES: [&str; 6] = [
        "ACME s.r.o.",
        "Vitex Software",
        "Spoje.Net",
        "Zlatý Klas a.s.",
        "Pekárna U Mostu",
        "Nová Hospoda v.o.s.",
    ];
    // xorshift64*: cheap, deterministic, and no two rows alike.
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let app = APPS[(next() % 8) as usize];
    let company = COMPANIES[(next() % 6) as usize];
    let job = 40_000 + next() % 60_000;
    let request = format!("{:016x}{:08x}", next(), next() as u32);
    match next() % 6 {
        0 => (
            format!(
                "Job {job} ({app}) for {company} failed: HTTP {} from https://api.example.cz/v1/{}/transactions.json after {}.{:03} s (request {request})",
                [401, 403, 429, 500, 502, 503][(next() % 6) as usize],
                next() % 9_000_000,
                next() % 120,
                next() % 1000
            ),
            "error",
            "MultiFlexi\\Executor",
        ),
        1 => (
            format!(
                "Imported {} statement lines into {company}: {} CZK credited, {} CZK debited, {} duplicates skipped (batch {request})",
                next() % 400,
                next() % 10_000_000,
                next() % 3_000_000,
                next() % 7
            ),
            "success",
            app,
        ),
        2 => (
            format!(
                "Executor: starting /usr/bin/multiflexi-{app} for job {job} with {} environment variables, PID {}",
                10 + next() % 30,
                1000 + next() % 60_000
            ),
            "info",
            "MultiFlexi\\Executor",
        ),
        3 => (
            format!(
                "{{\"job\":{job},\"exitcode\":{},\"stdout_bytes\":{},\"artifacts\":[\"report-{request}.json\"],\"company\":\"{company}\"}}",
                next() % 3,
                next() % 200_000
            ),
            "debug",
            app,
        ),
        4 => (
            format!(
                "Reminder {} sent to {} <{}@example.cz> for invoice {}/{:05}: {} CZK overdue {} days",
                1 + next() % 3,
                company,
                &request[..10],
                2026,
                next() % 100_000,
                next() % 250_000,
                next() % 90
            ),
            "info",
            app,
        ),
        _ => (
            format!(
                "Job {job} finished with exit code {} after {} s; next run of template {} at 2026-12-{:02} {:02}:{:02}",
                next() % 3,
                next() % 3600,
                next() % 900,
                1 + next() % 28,
                next() % 24,
                next() % 60
            ),
            "notice",
            "MultiFlexi\\Scheduler",
        ),
    }
}

/// Inserts `rows` `log` rows with ids 1..=rows (see `insert_log_rows`); on PostgreSQL the id
/// sequence is moved past them, as MultiFlexi's own inserts would have left it.
pub fn seed_log(conn: &mut dyn Connection, rows: i64) {
    insert_log_rows(conn, 1, rows);
    if conn.dialect().engine() == Engine::Postgres {
        let mut tx = conn.begin().expect("begin");
        tx.execute(
            "SELECT setval(pg_get_serial_sequence('log', 'id'), (SELECT max(id) FROM log))",
            &[],
        )
        .expect("setval");
        tx.commit().expect("commit");
    }
}

/// Inserts the `log` rows with ids `first..=last` (messages as varied as real ones: see
/// `log_message`; `created` a second apart from 2026-01-01), 1 000 per statement and 50
/// statements per transaction. The same id always gets the same row.
pub fn insert_log_rows(conn: &mut dyn Connection, first: i64, last: i64) {
    let d = *conn.dialect();
    let cols = [
        "id",
        "severity",
        "venue",
        "message",
        "created",
        "marked_for_deletion",
    ];
    let per_statement = 1000;
    let created = DateTimeValue::ymd_hms(2026, 1, 1, 0, 0, 0);
    let mut id = first;
    while id <= last {
        let mut tx = conn.begin().expect("begin");
        for _ in 0..50 {
            if id > last {
                break;
            }
            let n = per_statement.min(last - id + 1);
            let one = format!("({})", d.placeholders(cols.len()));
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {}",
                d.quote("log"),
                cols.map(|c| d.quote(c)).join(", "),
                vec![one; usize::try_from(n).unwrap()].join(", ")
            );
            let mut params = Vec::with_capacity(usize::try_from(n).unwrap() * cols.len());
            for i in id..id + n {
                let (message, severity, venue) = log_message(i);
                params.push(Value::Int(i));
                params.push(Value::from(severity));
                params.push(Value::from(venue));
                params.push(Value::from(message));
                params.push(Value::DateTime(
                    housekeeper::clock::shift(created, i).expect("a time"),
                ));
                params.push(Value::Bool(false));
            }
            tx.execute(&sql, &params).expect("insert");
            id += n;
        }
        tx.commit().expect("commit");
    }
}
