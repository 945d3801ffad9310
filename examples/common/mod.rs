//! What the benchmarks share: a fresh MultiFlexi schema, the release binary run with a scratch
//! state and temp directory (peak RSS measured by `/usr/bin/time`), and directory sizes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use housekeeper::config::Engine;
use housekeeper::db::Connection;
use housekeeper_scenario::{self as scenario, SchemaLevel};

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
        let t = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "peak-rss-kib %M"])
            .arg(&self.exe)
            .arg("--env-file")
            .arg(self.dir.path().join("empty.env"))
            .args(["--database", &self.url, "--state-dir"])
            .arg(self.dir.path().join("state"))
            .arg("--tmp-dir")
            .arg(self.dir.path().join("tmp"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
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

    /// The tool's state directory (its journal is `journal/` in it).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Bytes under the state directory's journal.
    pub fn journal_bytes(&self) -> u64 {
        walk_size(&self.state_dir().join("journal"))
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
