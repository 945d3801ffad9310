//! The fixture the PHP housekeeper was observed on (its `seed.php`), so tests can hold this
//! tool's results against the PHP tool's: the same rows with the same ids on every engine, plus
//! the temp files of those runs.
//!
//! Differences from the PHP seed, all deliberate: the temp dir is a parameter (tests use their
//! own), job 6's `env` is a real `serialize()`d `MultiFlexi\ConfigFields` object as MultiFlexi
//! core writes it (the PHP seed serialized a plain array) — which on PostgreSQL means cut at its
//! first NUL byte, so there it names no file (see [`super::as_stored_by_php`]) — and columns the
//! PHP seed left to `CURRENT_TIMESTAMP` defaults are set to `now`, so nothing depends on the
//! wall clock.
//!
//! Must never: read the wall clock; the temp files' times come from the caller.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use housekeeper_journal::{DateTimeValue, Value};

use super::php::{as_stored_by_php, php_serialized_config_fields, EnvField};
use super::seed::Seed;
use crate::Engine;
use crate::{Database, Result};

/// What [`php_observed_fixture`] wrote, and the temp files that go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhpObservedFixture {
    /// The temp dir the jobs' `env` values point into.
    pub tmp_dir: PathBuf,
    /// The "past" of the PHP seed: 2020-01-01 00:00:00.
    pub past: DateTimeValue,
    /// The "future" of the PHP seed: 2099-01-01 00:00:00.
    pub future: DateTimeValue,
    /// Whether job 6's `env` still names `running.json` (false on PostgreSQL, where the
    /// serialized object is cut at its first NUL byte, as MultiFlexi's PHP leaves it).
    pub job6_env_names_running_json: bool,
}

/// A temp file of the observed runs: path relative to the temp dir, age in hours, and the
/// unfinished job whose `env` refers to it (job 6 only where its env survives, see
/// [`PhpObservedFixture::job6_env_names_running_json`]).
pub const PHP_OBSERVED_TEMP_FILES: [(&str, u64, Option<i64>); 5] = [
    ("old.txt", 72, None),
    ("running.json", 72, Some(6)),
    ("jsonenv.json", 72, Some(9)),
    ("sub/old2.txt", 72, None),
    ("new.txt", 0, None),
];

impl PhpObservedFixture {
    /// Creates the observed temp files under `tmp_dir` (directories as needed), each with a
    /// little content and its modification time set `age` hours before `host_now`.
    ///
    /// # Errors
    /// A file or directory could not be created or its time set; the error names the path.
    pub fn create_temp_files(&self, host_now: SystemTime) -> io::Result<Vec<PathBuf>> {
        let mut created = Vec::new();
        for (relative, age_hours, _) in PHP_OBSERVED_TEMP_FILES {
            let path = self.tmp_dir.join(relative);
            let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(named)?;
            }
            fs::write(&path, format!("{relative}\n")).map_err(named)?;
            let mtime = host_now
                .checked_sub(Duration::from_secs(age_hours * 3600))
                .unwrap_or(SystemTime::UNIX_EPOCH);
            fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(mtime))
                .map_err(named)?;
            created.push(path);
        }
        Ok(created)
    }
}

/// Writes the PHP housekeeper's observed fixture into an installed current schema:
///
/// * user 1 `admin`; apps 1; company 1 (`slug` C1); the 7 default retention policies;
/// * runtemplate 1 (active, `d`, next_schedule past, successfull_jobs_count 5), 2 (active, `h`,
///   next_schedule past), 3 (inactive), 4 (active, `n`), 5 (active, `d`, next_schedule NULL);
/// * job 1 RT1 pending in the queue, 2 RT1 finished exit 0 (retention_until past), 3 RT2
///   pending without queue row (ghost), 4 runtemplate NULL, 5 runtemplate 99 (dangling), 6 RT5
///   running with a PHP-serialized env naming `<tmp>/running.json` (cut at its first NUL byte on
///   PostgreSQL, as PHP stores it there), 7 RT5 finished exit 3,
///   8 RT5 unscheduled (schedule NULL), 9 RT5 running with a JSON env naming
///   `<tmp>/jsonenv.json` (every job but 6 carries that JSON env, as in the PHP seed);
/// * schedule 1 → job 1, 2 → job 0, 3 → job 999;
/// * task 1 open/0 attempts/expired, 2 running/1 attempt/expired, 3 open/future,
///   4 fulfilled/expired;
/// * credential_type 1 `FioBank` with an empty `FIO_TOKEN`, 2 `Common`; credentials 1 → type 1,
///   2 → type 2; runtplcreds RT1 ↔ credential 1, RT2 ↔ credential 2;
/// * log rows 1–10, rows 1–2 with retention_until past.
///
/// "Past" is 2020-01-01 00:00:00 and "future" 2099-01-01 00:00:00, as in the PHP seed; `now`
/// (which should lie between them) dates what the PHP seed left to the database clock.
/// Job 5 breaks its foreign key, so on MySQL and PostgreSQL foreign key checks are turned off
/// while seeding (PostgreSQL needs a superuser for that).
///
/// # Errors
/// A statement failed.
pub fn php_observed_fixture(
    conn: &mut (impl Database + ?Sized),
    now: DateTimeValue,
    tmp_dir: &Path,
) -> Result<PhpObservedFixture> {
    let past = DateTimeValue::ymd_hms(2020, 1, 1, 0, 0, 0);
    let future = DateTimeValue::ymd_hms(2099, 1, 1, 0, 0, 0);
    let now = DateTimeValue { micros: 0, ..now };
    let mut seed = Seed::new(now);
    seed.allow_dangling_references();

    // What migration 20250120185000 inserted before any user existed.
    seed.default_retention_policies(None);
    people_and_runtemplates(&mut seed, past, now);
    let tmp = tmp_dir.to_string_lossy();
    let (json_env, serialized_env) = job_envs(conn.engine(), &tmp);
    jobs(&mut seed, past, &json_env, &serialized_env);
    queue_and_tasks(&mut seed, past, future);
    credentials(&mut seed);
    log_rows(&mut seed, past, now);
    let job6_env_names_running_json = serialized_env
        .as_str()
        .is_some_and(|env| env.contains("running.json"));
    seed.apply(conn)?;
    Ok(PhpObservedFixture {
        tmp_dir: tmp_dir.to_path_buf(),
        past,
        future,
        job6_env_names_running_json,
    })
}

/// User 1 `admin`, app 1, company 1 and runtemplates 1–5.
fn people_and_runtemplates(seed: &mut Seed, past: DateTimeValue, now: DateTimeValue) {
    seed.row(
        "user",
        vec![
            ("id", Value::Int(1)),
            ("login", "admin".into()),
            ("email", "a@b".into()),
            ("password", "x".into()),
            ("enabled", Value::Bool(true)),
            ("DatCreate", past.into()),
        ],
    );
    seed.row(
        "apps",
        vec![
            ("id", Value::Int(1)),
            ("name", "App1".into()),
            ("executable", "app1".into()),
            ("image", "".into()),
            ("tags", "".into()),
            ("deploy", "".into()),
            ("homepage", "".into()),
            ("requirements", "".into()),
            ("DatCreate", past.into()),
        ],
    );
    seed.row(
        "company",
        vec![
            ("id", Value::Int(1)),
            ("name", "Comp1".into()),
            ("slug", "C1".into()),
            ("DatCreate", past.into()),
        ],
    );
    for (id, active, interv, next, success, failed) in [
        (1, true, "d", Some(past), 5, 0),
        (2, true, "h", Some(past), 0, 0),
        (3, false, "d", Some(past), 0, 0),
        (4, true, "n", Some(past), 0, 0),
        (5, true, "d", None, 0, 0),
    ] {
        seed.row(
            "runtemplate",
            vec![
                ("id", Value::Int(id)),
                ("app_id", Value::Int(1)),
                ("company_id", Value::Int(1)),
                ("interv", interv.into()),
                ("name", format!("RT{id}").into()),
                ("active", Value::Bool(active)),
                ("next_schedule", next.map_or(Value::Null, Value::DateTime)),
                ("successfull_jobs_count", Value::Int(success)),
                ("failed_jobs_count", Value::Int(failed)),
                ("DatCreate", now.into()),
            ],
        );
    }
}

/// The jobs' `env` values: the JSON env naming `<tmp>/jsonenv.json`, and job 6's
/// PHP-serialized env naming `<tmp>/running.json`, as PHP stores it on `engine`.
fn job_envs(engine: Engine, tmp: &str) -> (Value, Value) {
    let json_env = Value::Text(php_json_env(&format!("{tmp}/jsonenv.json")));
    let serialized_env = Value::Text(as_stored_by_php(
        engine,
        &php_serialized_config_fields(
            "Job",
            &[
                EnvField::new("MULTIFLEXI_JOB_ID", "integer", "6", "Job"),
                EnvField::new("MULTIFLEXI_TMP", "string", tmp, "Job"),
                EnvField::new(
                    "RESULT_FILE",
                    "file-path",
                    &format!("{tmp}/running.json"),
                    "Application",
                ),
            ],
        ),
    ));
    (json_env, serialized_env)
}

/// Jobs 1–9.
fn jobs(seed: &mut Seed, past: DateTimeValue, json_env: &Value, serialized_env: &Value) {
    // (id, runtemplate_id, begin, exitcode, schedule, schedule_type)
    let jobs: [PhpJob; 9] = [
        (1, Some(1), None, None, Some(past), "cron"),
        (2, Some(1), Some(past), Some(0), Some(past), "cron"),
        (3, Some(2), None, None, Some(past), "cron"),
        (4, None, None, None, Some(past), "adhoc"),
        (5, Some(99), None, None, Some(past), "cron"),
        (6, Some(5), Some(past), None, Some(past), "cron"),
        (7, Some(5), Some(past), Some(3), Some(past), "cron"),
        (8, Some(5), None, None, None, "cron"),
        (9, Some(5), Some(past), None, Some(past), "cron"),
    ];
    for (id, rt, begin, exitcode, schedule, schedule_type) in jobs {
        let opt_dt = |v: Option<DateTimeValue>| v.map_or(Value::Null, Value::DateTime);
        seed.row(
            "job",
            vec![
                ("id", Value::Int(id)),
                ("app_id", Value::Int(1)),
                ("company_id", Value::Int(1)),
                ("runtemplate_id", rt.map_or(Value::Null, Value::Int)),
                ("begin", opt_dt(begin)),
                ("exitcode", exitcode.map_or(Value::Null, Value::Int)),
                ("schedule", opt_dt(schedule)),
                ("schedule_type", schedule_type.into()),
                ("launched_by", Value::Int(1)),
                ("executor", "Native".into()),
                ("app_version", "n/a".into()),
                (
                    "env",
                    if id == 6 {
                        serialized_env.clone()
                    } else {
                        json_env.clone()
                    },
                ),
                (
                    "retention_until",
                    if id == 2 { past.into() } else { Value::Null },
                ),
                ("marked_for_deletion", Value::Bool(false)),
            ],
        );
    }
}

/// Queue rows 1–3 and tasks 1–4.
fn queue_and_tasks(seed: &mut Seed, past: DateTimeValue, future: DateTimeValue) {
    for (id, job) in [(1, 1), (2, 0), (3, 999)] {
        seed.row(
            "schedule",
            vec![
                ("id", Value::Int(id)),
                ("after", past.into()),
                ("job", Value::Int(job)),
            ],
        );
    }
    let window_start = DateTimeValue::ymd_hms(2019, 12, 31, 0, 0, 0);
    for (id, rt, window_end, state, attempts) in [
        (1, 1, past, "open", 0),
        (2, 1, past, "running", 1),
        (3, 2, future, "open", 0),
        (4, 2, past, "fulfilled", 1),
    ] {
        seed.row(
            "task",
            vec![
                ("id", Value::Int(id)),
                ("runtemplate_id", Value::Int(rt)),
                ("window_start", window_start.into()),
                ("window_end", window_end.into()),
                ("deadline", window_end.into()),
                ("state", state.into()),
                ("attempts", Value::Int(attempts)),
                ("created_at", past.into()),
            ],
        );
    }
}

/// Credential types 1–2 (with type 1's empty `FIO_TOKEN`), credentials 1–2 and their
/// assignments to runtemplates 1 and 2.
fn credentials(seed: &mut Seed) {
    for (id, name, prototype, uuid) in [
        (1, "Fio", "FioBank", "uuid-1"),
        (2, "Common", "Common", "uuid-2"),
    ] {
        seed.row(
            "credential_type",
            vec![
                ("id", Value::Int(id)),
                ("name", name.into()),
                ("prototype", prototype.into()),
                ("company_id", Value::Int(1)),
                ("version", "1".into()),
                ("uuid", uuid.into()),
                ("url", "".into()),
                ("logo", "".into()),
            ],
        );
    }
    seed.row(
        "credtypedata",
        vec![
            ("id", Value::Int(1)),
            ("credential_type_id", Value::Int(1)),
            ("name", "FIO_TOKEN".into()),
            ("value", "".into()),
            ("type", "string".into()),
        ],
    );
    for (id, name, form_type, credential_type) in
        [(1, "FioCred", "FioBank", 1), (2, "CommonCred", "Common", 2)]
    {
        seed.row(
            "credentials",
            vec![
                ("id", Value::Int(id)),
                ("name", name.into()),
                ("company_id", Value::Int(1)),
                ("formType", form_type.into()),
                ("credential_type_id", Value::Int(credential_type)),
            ],
        );
    }
    for (id, rt, credential) in [(1, 1, 1), (2, 2, 2)] {
        seed.row(
            "runtplcreds",
            vec![
                ("id", Value::Int(id)),
                ("runtemplate_id", Value::Int(rt)),
                ("credentials_id", Value::Int(credential)),
            ],
        );
    }
}

/// Log rows 1–10, rows 1–2 with `retention_until` past.
fn log_rows(seed: &mut Seed, past: DateTimeValue, now: DateTimeValue) {
    for i in 1..=10 {
        seed.row(
            "log",
            vec![
                ("id", Value::Int(i)),
                ("severity", "info".into()),
                ("venue", "seed".into()),
                ("message", format!("seed {i}").into()),
                (
                    "retention_until",
                    if i <= 2 { past.into() } else { Value::Null },
                ),
                ("marked_for_deletion", Value::Bool(false)),
                ("created", now.into()),
            ],
        );
    }
}

/// A job of the PHP seed: id, runtemplate_id, begin, exitcode, schedule, schedule_type.
type PhpJob = (
    i64,
    Option<i64>,
    Option<DateTimeValue>,
    Option<i64>,
    Option<DateTimeValue>,
    &'static str,
);

/// PHP `json_encode(['RESULT_FILE' => $path])`: slashes escaped as `\/`.
fn php_json_env(path: &str) -> String {
    let escaped = path
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('/', "\\/");
    format!("{{\"RESULT_FILE\":\"{escaped}\"}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_env_escapes_slashes_like_php() {
        assert_eq!(
            php_json_env("/var/lib/multiflexi/tmp/jsonenv.json"),
            r#"{"RESULT_FILE":"\/var\/lib\/multiflexi\/tmp\/jsonenv.json"}"#
        );
    }

    #[test]
    fn temp_files_get_their_ages_from_the_given_clock() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = PhpObservedFixture {
            tmp_dir: dir.path().to_path_buf(),
            past: DateTimeValue::ymd_hms(2020, 1, 1, 0, 0, 0),
            future: DateTimeValue::ymd_hms(2099, 1, 1, 0, 0, 0),
            job6_env_names_running_json: true,
        };
        let host_now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let files = fixture.create_temp_files(host_now).unwrap();
        assert_eq!(files.len(), 5);
        let old = fs::metadata(dir.path().join("sub/old2.txt")).unwrap();
        assert_eq!(
            old.modified().unwrap(),
            host_now - Duration::from_secs(72 * 3600)
        );
        let new = fs::metadata(dir.path().join("new.txt")).unwrap();
        assert_eq!(new.modified().unwrap(), host_now);
    }
}
