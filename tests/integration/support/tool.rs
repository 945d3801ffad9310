//! Running the real `housekeeper` binary against a test database, with its own state and
//! temp directories, an empty env file (nothing of the host's configuration leaks in) and a
//! fixed clock; and stopping it at a crash point to kill it with SIGKILL.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use super::TestDb;

/// The fixed `now` of tool runs (UTC).
pub const NOW: &str = "2026-11-28 09:00:00";

/// `NOW` as a host time.
#[must_use]
pub fn now_system() -> SystemTime {
    // 2026-11-28 09:00:00 UTC
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_856_400)
}

/// The outcome of one invocation.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// The items a `run --format json` report says were held (left alone after an undo), over
    /// every duty.
    #[must_use]
    pub fn held(&self) -> Vec<String> {
        self.json()["duties"]
            .as_array()
            .expect("duties")
            .iter()
            .flat_map(|d| d["held"].as_array().cloned().unwrap_or_default())
            .filter_map(|h| h.as_str().map(str::to_owned))
            .collect()
    }

    /// stdout as JSON; panics with both streams when it is not.
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e})\nstdout:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// The binary, pointed at one test database.
#[derive(Debug, Clone)]
pub struct Tool {
    pub url: String,
    pub state: PathBuf,
    pub tmp: PathBuf,
    pub env_file: PathBuf,
    pub env: BTreeMap<String, String>,
}

impl Tool {
    /// State in `<test dir>/state`, temp files in `<test dir>/tmp` (created), systemd units
    /// for doctor in `<test dir>/units` (created empty).
    #[must_use]
    pub fn new(db: &TestDb) -> Tool {
        let tmp = db.dir().join("tmp");
        std::fs::create_dir_all(&tmp).expect("create the temp dir");
        let env_file = db.dir().join("empty.env");
        std::fs::write(&env_file, "# nothing\n").expect("write the env file");
        let mut env = BTreeMap::new();
        env.insert("HOUSEKEEPER_NOW".into(), NOW.into());
        env.insert("MULTIFLEXI_TIMEZONE".into(), "UTC".into());
        // doctor reads the service unit from here, not from the host's systemd directories.
        let units = db.dir().join("units");
        std::fs::create_dir_all(&units).expect("create the unit directory");
        env.insert(
            "HOUSEKEEPER_SYSTEMD_UNIT_DIRS".into(),
            units.display().to_string(),
        );
        Tool {
            url: db.url().to_owned(),
            state: db.dir().join("state"),
            tmp,
            env_file,
            env,
        }
    }

    /// Sets a variable for later invocations.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The command, ready to run: global flags first, then `args`.
    #[must_use]
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_housekeeper"));
        cmd.env_clear();
        cmd.envs(&self.env);
        cmd.arg("--env-file").arg(&self.env_file);
        cmd.arg("--database").arg(&self.url);
        cmd.arg("--state-dir").arg(&self.state);
        cmd.arg("--tmp-dir").arg(&self.tmp);
        cmd.args(args);
        cmd
    }

    /// Runs to completion.
    #[must_use]
    pub fn run(&self, args: &[&str]) -> Out {
        let out = self.command(args).output().expect("run housekeeper");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs, retrying while another (just killed) process's database lock is still being
    /// released by the server (exit 75), for up to 10 s.
    #[must_use]
    pub fn run_when_free(&self, args: &[&str]) -> Out {
        let mut out = self.run(args);
        for _ in 0..40 {
            if out.code != 75 {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
            out = self.run(args);
        }
        out
    }

    /// Starts a run that stops itself at `point` (see `apply::crashpoint`) and returns the
    /// stopped process once it got there. Its stderr keeps being drained (into the test's
    /// stderr) so the process never writes into a closed pipe.
    #[must_use]
    pub fn stopped_at(&self, point: &str, args: &[&str]) -> Child {
        let mut cmd = self.command(args);
        cmd.env("HOUSEKEEPER_CRASHPOINT", point);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn housekeeper");
        let stderr = child.stderr.take().expect("stderr is piped");
        let marker = format!("crashpoint {point}");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("  [housekeeper] {line}");
                let _ = tx.send(line);
            }
        });
        let mut seen = Vec::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
            if line == marker {
                wait_until_stopped(child.id());
                return child;
            }
            seen.push(line);
        }
        let _ = child.kill();
        let status = child.wait().expect("wait");
        panic!(
            "the run ended ({status}) without reaching {point}:\n{}",
            seen.join("\n")
        );
    }
}

/// Waits (up to 10 s) until the process has really stopped itself: it announces the crash
/// point just before raising SIGSTOP, and a SIGCONT sent in between would be lost.
fn wait_until_stopped(pid: u32) {
    let stat = format!("/proc/{pid}/stat");
    for _ in 0..1000 {
        let state = std::fs::read_to_string(&stat).ok().and_then(|s| {
            // The state follows the command name in parentheses, which may contain spaces.
            s.rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next())
        });
        if matches!(state, Some('T' | 't') | None) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("process {pid} announced its crash point but did not stop");
}

/// Kills a process with SIGKILL and reaps it.
pub fn kill9(mut child: Child) {
    child.kill().expect("SIGKILL");
    let _ = child.wait();
}

/// A history of `n` runs that change nothing (`CredentialHealthCheck` only, which only
/// reads), each of which must succeed: a long journal, written quickly.
pub fn quiet_runs(hk: &Tool, n: usize) {
    for i in 0..n {
        let out = hk.run(&["run", "--duty", "CredentialHealthCheck"]);
        assert_eq!(out.code, 0, "quiet run {i}: {}", out.stderr);
    }
}

/// Creates files under `dir`, each with some content and an mtime `hours` before `now`.
pub fn make_files(dir: &Path, files: &[(&str, u64)], now: SystemTime) -> Vec<PathBuf> {
    files
        .iter()
        .map(|(relative, hours)| {
            let path = dir.join(relative);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("create dirs");
            std::fs::write(&path, format!("content of {relative}\n")).expect("write a file");
            let when = now - Duration::from_secs(hours * 3600);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(when))
                .expect("set mtime");
            path
        })
        .collect()
}

/// Installs the current schema and starts a seed with users `admin` and `dave`, dave inactive
/// for four years (an anonymize policy of 1095 days takes him). Returns the seed to add to
/// (apply it to `db.connect()`) and the two user ids.
pub fn seed_inactive_user(db: &TestDb) -> (housekeeper_scenario::Seed, i64, i64) {
    use housekeeper_scenario::{self as scenario, SchemaLevel, Seed};
    let now = housekeeper_journal::DateTimeValue::parse(NOW).expect("NOW parses");
    scenario::install_schema(&mut *db.connect(), SchemaLevel::Current).expect("install the schema");
    let mut seed = Seed::new(now);
    let admin = seed.user("admin").id();
    let dave = seed.user("dave").id();
    seed.set_on(
        "user",
        dave,
        "last_activity_at",
        scenario::shift(now, -4 * 365 * 86_400),
    );
    (seed, admin, dave)
}

/// Every file and link under `dir`: relative path → (bytes or link target, mode, uid, gid,
/// mtime in ns).
#[must_use]
pub fn tree(dir: &Path) -> BTreeMap<String, housekeeper_scenario::FileState> {
    housekeeper_scenario::file_tree(dir)
}

/// A saved plan edited by hand, written with its digest recomputed (as an attacker who can
/// write the file would), so that `apply` judges its items rather than its damage.
pub fn write_resealed(path: &Path, mut plan: serde_json::Value) {
    let digest = housekeeper::commands::plan::content_digest(&plan);
    plan["digest"] = serde_json::Value::from(digest.to_hex().to_string());
    std::fs::write(path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
}

/// The MultiFlexi schema with `n` plain `log` rows (venue `seed`).
pub fn seed_log(db: &TestDb, n: i64) {
    let mut conn = db.connect();
    housekeeper_scenario::install_schema(&mut *conn, housekeeper_scenario::SchemaLevel::Current)
        .unwrap();
    let now = housekeeper_journal::DateTimeValue::parse(NOW).unwrap();
    let mut seed = housekeeper_scenario::Seed::new(now);
    for i in 0..n {
        seed.log("info", "seed", &format!("row {i}"), now);
    }
    seed.apply(&mut *conn).unwrap();
}

/// Sends a signal by name (`TERM`, `HUP`) with kill(1).
pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// Waits for the process to exit, failing the test after `limit`.
pub fn wait_at_most(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < limit,
            "the process did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
