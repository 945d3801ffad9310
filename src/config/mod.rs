//! Configuration: the PHP tool's variable names, read from command-line flags, the process
//! environment, the env file and built-in defaults, in that order of precedence.
//!
//! This module owns parsing and validation only. It never connects anywhere and never
//! prints; warnings are returned to the caller. Values are strict: a boolean is one of
//! `true/false/1/0/yes/no/on/off` (any case), numbers must parse and be in range, and every
//! error names the variable and the value it saw. An empty value means unset.

pub mod database;
pub mod envfile;
mod provenance;
mod variables;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use housekeeper_journal::DateTimeValue;

pub use database::{DbTarget, Engine, Secret, ServerTarget};
pub use provenance::Provenance;
pub use variables::{VarDoc, VARIABLES};

use crate::duties::DutyName;

/// The default env file (written by the MultiFlexi packages, `0640 root:www-data`).
pub const SYSTEM_ENV_FILE: &str = "/etc/multiflexi/multiflexi.env";

/// A configuration problem. `Display` names the variable and the offending value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}={value:?}: {problem}")]
    Invalid {
        variable: String,
        value: String,
        problem: String,
    },
    #[error("{variable} is not set ({why})")]
    Missing { variable: String, why: String },
    #[error("env file {path}: {source}")]
    EnvFileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("env file {0}")]
    EnvFile(#[from] envfile::EnvFileError),
}

/// Where a setting's value came from (shown by `housekeeper doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Environment,
    EnvFile(PathBuf),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Environment => f.write_str("environment"),
            Source::EnvFile(path) => write!(f, "env file {}", path.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A retention action that `MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS` can enable.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RetentionAction {
    HardDelete,
    SoftDelete,
    GracePurge,
    Anonymize,
    Archive,
}

impl RetentionAction {
    pub const ALL: [RetentionAction; 5] = [
        RetentionAction::HardDelete,
        RetentionAction::SoftDelete,
        RetentionAction::GracePurge,
        RetentionAction::Anonymize,
        RetentionAction::Archive,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionAction::HardDelete => "hard_delete",
            RetentionAction::SoftDelete => "soft_delete",
            RetentionAction::GracePurge => "grace_purge",
            RetentionAction::Anonymize => "anonymize",
            RetentionAction::Archive => "archive",
        }
    }
}

impl fmt::Display for RetentionAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Zabbix trapper to report to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZabbixTarget {
    pub server: String,
    pub port: u16,
    pub host: String,
}

/// Where a run's outcome is reported. Read on its own when the rest of the configuration
/// does not load, so that a run stopped by a configuration error is still reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Monitoring {
    pub zabbix: Option<ZabbixTarget>,
    /// `MULTIFLEXI_HOUSEKEEPER_METRICS_FILE`: absolute, in an existing directory.
    pub metrics_file: Option<PathBuf>,
}

/// A network endpoint (host and port) taken from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub host: String,
    pub port: u16,
}

/// Settings given on the command line; `None` means "not given".
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub env_file: Option<PathBuf>,
    pub database: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub tmp_dir: Option<PathBuf>,
    /// `Some(true)` when `--dry-run`/`-n` was given.
    pub dry_run: Option<bool>,
}

/// The validated configuration of one invocation.
#[derive(Debug, Clone)]
pub struct Config {
    /// `None` when no database is configured at all.
    pub database: Option<DbTarget>,
    pub daemonize: bool,
    pub dry_run: bool,
    pub cycle_pause_secs: u64,
    pub log_keep: u64,
    pub tmp_age_hours: u64,
    pub stale_job_age_minutes: u64,
    pub skip_duties: BTreeSet<DutyName>,
    pub credential_check: bool,
    pub app_debug: bool,
    pub zabbix: Option<ZabbixTarget>,
    /// `MULTIFLEXI_HOUSEKEEPER_METRICS_FILE`: absolute, in an existing directory.
    pub metrics_file: Option<PathBuf>,
    pub tmp_dir: PathBuf,
    pub state_dir: PathBuf,
    pub undo_days: u32,
    pub hold_days: u32,
    /// `MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS`: runs older than this are folded out of the
    /// journal, a monthly segment at a time; 0 keeps the whole journal.
    pub journal_keep_days: u32,
    pub chunk_rows: usize,
    /// SQLite only: the pause after each write transaction before the next begins, in which
    /// other writers take the database's one write lock.
    pub writer_pause: std::time::Duration,
    /// How long a statement waits for a lock another session holds (SQLite: `busy_timeout`).
    pub lock_timeout: std::time::Duration,
    /// How long one statement may run (PostgreSQL `statement_timeout`, MariaDB
    /// `max_statement_time`, MySQL `max_execution_time`).
    pub statement_timeout: std::time::Duration,
    /// `None`: the system zone.
    pub timezone: Option<chrono_tz::Tz>,
    pub retention_actions: BTreeSet<RetentionAction>,
    pub fio: Endpoint,
    /// `HOUSEKEEPER_NOW`: a fixed `now` (tests and the demo).
    pub fixed_now: Option<DateTimeValue>,
    /// The env file that was read, if any.
    pub env_file: Option<PathBuf>,
    /// Why no default env file was read although the process environment holds the database
    /// settings (as under systemd's `EnvironmentFile=`): not worth a warning.
    pub env_file_note: Option<String>,
    /// `HOUSEKEEPER_SYSTEMD_UNIT_DIRS`: where doctor looks for the service unit (tests);
    /// `None`: systemd's own directories.
    pub systemd_unit_dirs: Option<Vec<PathBuf>>,
    /// Each variable's effective value and source, in `VARIABLES` order.
    pub provenance: Vec<Provenance>,
}

/// The outcome of loading: the configuration and the warnings to show.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// The merged view of process environment and env file, remembering sources.
struct Layers {
    env: BTreeMap<String, String>,
    file: BTreeMap<String, String>,
    file_path: Option<PathBuf>,
    seen: BTreeMap<&'static str, Source>,
}

impl Layers {
    /// The value of `name` (process environment over env file), `None` when unset or empty.
    fn get(&mut self, name: &'static str) -> Option<String> {
        if let Some(v) = self.env.get(name).filter(|v| !v.is_empty()) {
            self.seen.insert(name, Source::Environment);
            return Some(v.clone());
        }
        if let Some(v) = self.file.get(name).filter(|v| !v.is_empty()) {
            let path = self.file_path.clone().unwrap_or_default();
            self.seen.insert(name, Source::EnvFile(path));
            return Some(v.clone());
        }
        None
    }

    fn bool(&mut self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        self.get(name).map_or(Ok(default), |v| parse_bool(name, &v))
    }

    fn number<T>(
        &mut self,
        name: &'static str,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        match self.get(name) {
            None => Ok(default),
            Some(text) => parse_number(name, &text, min, max),
        }
    }
}

/// A strict boolean: `true/false/1/0/yes/no/on/off`, any case.
///
/// # Errors
/// Anything else, naming the variable and the value.
pub fn parse_bool(name: &str, text: &str) -> Result<bool, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            variable: name.to_owned(),
            value: text.to_owned(),
            problem: "expected a boolean: true/false, 1/0, yes/no or on/off".into(),
        }),
    }
}

/// A whole number within `min..=max`.
///
/// # Errors
/// Not a number, or out of range, naming the variable and the value.
pub fn parse_number<T>(name: &str, text: &str, min: T, max: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let invalid = |problem: String| ConfigError::Invalid {
        variable: name.to_owned(),
        value: text.to_owned(),
        problem,
    };
    let value: T = text
        .trim()
        .parse()
        .map_err(|_| invalid(format!("expected a whole number from {min} to {max}")))?;
    if value < min || value > max {
        return Err(invalid(format!(
            "out of range: must be from {min} to {max}"
        )));
    }
    Ok(value)
}

impl Config {
    /// Loads the configuration.
    ///
    /// `env` is the process environment (injected for tests). `default_env_files` are tried in
    /// order when `flags.env_file` is not given (normally `SYSTEM_ENV_FILE`, then `./.env`);
    /// the first that exists is read, and a missing or unreadable default file is a warning.
    ///
    /// # Errors
    /// Any invalid value, a malformed env file, an unreadable `--env-file`.
    pub fn load(
        flags: &Flags,
        env: &BTreeMap<String, String>,
        default_env_files: &[PathBuf],
    ) -> Result<Loaded, ConfigError> {
        let mut warnings = Vec::new();
        let database_in_environment = flags.database.as_deref().is_some_and(|u| !u.is_empty())
            || ["HOUSEKEEPER_DATABASE_URL", "DB_CONNECTION"]
                .iter()
                .any(|name| env.get(*name).is_some_and(|v| !v.is_empty()));
        let mut missing_file = Vec::new();
        let (file, file_path) = read_env_file(flags, default_env_files, &mut missing_file)?;
        // Under systemd the unit's EnvironmentFile= has already put the file's variables into
        // the environment (the service user may not read the file itself): then a missing or
        // unreadable default file is only a note.
        let env_file_note = if database_in_environment {
            missing_file.pop()
        } else {
            warnings.append(&mut missing_file);
            None
        };
        let mut layers = Layers {
            env: env.clone(),
            file,
            file_path,
            seen: BTreeMap::new(),
        };

        let database = database_target(flags, &mut layers)?;
        let env_dry_run = layers.bool("MULTIFLEXI_HOUSEKEEPER_DRY_RUN", false)?;
        let dry_run = match flags.dry_run {
            Some(true) => {
                layers
                    .seen
                    .insert("MULTIFLEXI_HOUSEKEEPER_DRY_RUN", Source::Flag("--dry-run"));
                true
            }
            _ => env_dry_run,
        };
        let skip_duties = match layers.get("MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES") {
            None => BTreeSet::new(),
            Some(text) => parse_duty_list("MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES", &text)?,
        };
        let retention_actions = match layers.get("MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS") {
            None => [RetentionAction::HardDelete, RetentionAction::SoftDelete].into(),
            Some(text) => parse_retention_actions(&text)?,
        };
        let timezone = timezone(&mut layers)?;
        let fio_text = layers
            .get("MULTIFLEXI_HOUSEKEEPER_FIO_URL")
            .unwrap_or_else(|| "https://fioapi.fio.cz/".into());
        let fio = parse_endpoint("MULTIFLEXI_HOUSEKEEPER_FIO_URL", &fio_text)?;
        let zabbix = zabbix_target(&mut layers, &mut warnings)?;
        let metrics_file = metrics_file(&mut layers)?;
        let fixed_now = fixed_now(&mut layers)?;
        let tmp_dir = path_setting(
            flags.tmp_dir.as_ref(),
            "--tmp-dir",
            "MULTIFLEXI_TMP",
            "/var/lib/multiflexi/tmp",
            &mut layers,
        );
        let state_dir = path_setting(
            flags.state_dir.as_ref(),
            "--state-dir",
            "MULTIFLEXI_HOUSEKEEPER_STATE_DIR",
            "/var/lib/multiflexi-housekeeper",
            &mut layers,
        );

        let config = Config {
            database,
            daemonize: layers.bool("MULTIFLEXI_DAEMONIZE", false)?,
            dry_run,
            cycle_pause_secs: layers.number(
                "MULTIFLEXI_HOUSEKEEPER_CYCLE_PAUSE",
                3600,
                10,
                31 * 86_400,
            )?,
            log_keep: layers.number(
                "MULTIFLEXI_HOUSEKEEPER_LOG_KEEP",
                100_000,
                0,
                i64::MAX as u64,
            )?,
            tmp_age_hours: layers.number(
                "MULTIFLEXI_HOUSEKEEPER_TMP_AGE_HOURS",
                24,
                0,
                100 * 8_766,
            )?,
            stale_job_age_minutes: layers.number(
                "MULTIFLEXI_HOUSEKEEPER_STALE_JOB_AGE",
                60,
                0,
                100 * 525_960,
            )?,
            skip_duties,
            credential_check: layers.bool("MULTIFLEXI_HOUSEKEEPER_CREDENTIAL_CHECK", true)?,
            app_debug: layers.bool("APP_DEBUG", false)?,
            zabbix,
            metrics_file,
            tmp_dir,
            state_dir,
            undo_days: layers.number("MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS", 14, 1, 3650)?,
            hold_days: layers.number("MULTIFLEXI_HOUSEKEEPER_HOLD_DAYS", 7, 0, 3650)?,
            journal_keep_days: layers.number(
                "MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS",
                395,
                0,
                36_500,
            )?,
            chunk_rows: layers.number("MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS", 10_000, 1, 1_000_000)?,
            writer_pause: std::time::Duration::from_millis(layers.number(
                "MULTIFLEXI_HOUSEKEEPER_WRITER_PAUSE_MS",
                25,
                0,
                1_000,
            )?),
            lock_timeout: std::time::Duration::from_secs(layers.number(
                "MULTIFLEXI_HOUSEKEEPER_LOCK_TIMEOUT",
                30,
                1,
                3_600,
            )?),
            statement_timeout: std::time::Duration::from_secs(layers.number(
                "MULTIFLEXI_HOUSEKEEPER_STATEMENT_TIMEOUT",
                900,
                10,
                86_400,
            )?),
            timezone,
            retention_actions,
            fio,
            fixed_now,
            env_file: layers.file_path.clone(),
            env_file_note,
            systemd_unit_dirs: layers
                .get("HOUSEKEEPER_SYSTEMD_UNIT_DIRS")
                .map(|text| std::env::split_paths(&text).collect()),
            provenance: Vec::new(),
        };
        config.check_keep_days()?;
        let provenance = provenance::of(&config, &layers.seen);
        Ok(Loaded {
            config: Config {
                provenance,
                ..config
            },
            warnings,
        })
    }

    /// Folding a run forgets what the journal said of it: its undo, the holds on what an undo
    /// of it restored. So a run is never folded before both periods are over.
    fn check_keep_days(&self) -> Result<(), ConfigError> {
        let needed = self.undo_days.max(self.hold_days);
        if self.journal_keep_days == 0 || self.journal_keep_days >= needed {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            variable: "MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS".into(),
            value: self.journal_keep_days.to_string(),
            problem: format!(
                "must be 0 (keep the whole journal) or at least {needed} days, the longer of \
                 MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS ({}) and MULTIFLEXI_HOUSEKEEPER_HOLD_DAYS ({})",
                self.undo_days, self.hold_days
            ),
        })
    }

    /// Loads from the real process environment and the standard env file locations.
    ///
    /// # Errors
    /// As `load`.
    pub fn from_process(flags: &Flags) -> Result<Loaded, ConfigError> {
        let (env, defaults) = process_environment();
        Config::load(flags, &env, &defaults)
    }

    /// Only where a run's outcome is reported (Zabbix, the metrics file), for a run whose
    /// configuration does not load: each of the two that is set and valid, nothing for a dry
    /// run (`--dry-run` or `MULTIFLEXI_HOUSEKEEPER_DRY_RUN=true`), whatever else is wrong.
    #[must_use]
    pub fn load_monitoring(
        flags: &Flags,
        env: &BTreeMap<String, String>,
        default_env_files: &[PathBuf],
    ) -> Monitoring {
        let mut warnings = Vec::new();
        let (file, file_path) = read_env_file(flags, default_env_files, &mut warnings)
            .unwrap_or_else(|_| (BTreeMap::new(), None));
        let mut layers = Layers {
            env: env.clone(),
            file,
            file_path,
            seen: BTreeMap::new(),
        };
        let dry_run = flags.dry_run == Some(true)
            || layers
                .bool("MULTIFLEXI_HOUSEKEEPER_DRY_RUN", false)
                .unwrap_or(false);
        if dry_run {
            return Monitoring::default();
        }
        Monitoring {
            zabbix: zabbix_target(&mut layers, &mut warnings).ok().flatten(),
            metrics_file: metrics_file(&mut layers).ok().flatten(),
        }
    }

    /// `load_monitoring` from the real process environment and the standard env files.
    #[must_use]
    pub fn monitoring_from_process(flags: &Flags) -> Monitoring {
        let (env, defaults) = process_environment();
        Config::load_monitoring(flags, &env, &defaults)
    }

    /// Where this configuration reports a run's outcome.
    #[must_use]
    pub fn monitoring(&self) -> Monitoring {
        Monitoring {
            zabbix: self.zabbix.clone(),
            metrics_file: self.metrics_file.clone(),
        }
    }

    /// Whether a duty takes part in this run (not skipped by configuration).
    #[must_use]
    pub fn duty_enabled(&self, duty: DutyName) -> bool {
        !self.skip_duties.contains(&duty)
            && (duty != DutyName::CredentialHealthCheck || self.credential_check)
    }
}

/// The process environment and the env files tried when `--env-file` is not given.
fn process_environment() -> (BTreeMap<String, String>, [PathBuf; 2]) {
    let env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    (env, [PathBuf::from(SYSTEM_ENV_FILE), PathBuf::from(".env")])
}

fn read_env_file(
    flags: &Flags,
    default_env_files: &[PathBuf],
    warnings: &mut Vec<String>,
) -> Result<(BTreeMap<String, String>, Option<PathBuf>), ConfigError> {
    if let Some(path) = &flags.env_file {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::EnvFileUnreadable {
                path: path.clone(),
                source,
            })?;
        return Ok((envfile::parse(&text, path)?, Some(path.clone())));
    }
    for path in default_env_files {
        match std::fs::read_to_string(path) {
            Ok(text) => return Ok((envfile::parse(&text, path)?, Some(path.clone()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                warnings.push(format!(
                    "env file {} is not readable ({e}); using the process environment",
                    path.display()
                ));
                return Ok((BTreeMap::new(), None));
            }
        }
    }
    let looked: Vec<String> = default_env_files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    if !looked.is_empty() {
        warnings.push(format!(
            "no env file found (looked for {}); using the process environment",
            looked.join(", ")
        ));
    }
    Ok((BTreeMap::new(), None))
}

fn database_target(flags: &Flags, layers: &mut Layers) -> Result<Option<DbTarget>, ConfigError> {
    if let Some(url) = flags.database.as_deref().filter(|u| !u.is_empty()) {
        layers
            .seen
            .insert("HOUSEKEEPER_DATABASE_URL", Source::Flag("--database"));
        return DbTarget::from_url(url, "--database").map(Some);
    }
    if let Some(url) = layers.get("HOUSEKEEPER_DATABASE_URL") {
        return DbTarget::from_url(&url, "HOUSEKEEPER_DATABASE_URL").map(Some);
    }
    let connection = layers.get("DB_CONNECTION");
    let host = layers.get("DB_HOST");
    let port = layers.get("DB_PORT");
    let database = layers.get("DB_DATABASE");
    let username = layers.get("DB_USERNAME");
    let password = layers.get("DB_PASSWORD");
    let settings = layers.get("DB_SETTINGS");
    database::DbVars {
        connection: connection.as_deref(),
        host: host.as_deref(),
        port: port.as_deref(),
        database: database.as_deref(),
        username: username.as_deref(),
        password: password.as_deref(),
        settings: settings.as_deref(),
    }
    .target()
}

/// `MULTIFLEXI_TIMEZONE`: an IANA zone name; `None` means the system zone.
fn timezone(layers: &mut Layers) -> Result<Option<chrono_tz::Tz>, ConfigError> {
    let Some(text) = layers.get("MULTIFLEXI_TIMEZONE") else {
        return Ok(None);
    };
    text.trim()
        .parse::<chrono_tz::Tz>()
        .map(Some)
        .map_err(|_| ConfigError::Invalid {
            variable: "MULTIFLEXI_TIMEZONE".into(),
            value: text.clone(),
            problem: "unknown time zone (expected an IANA name such as Europe/Prague)".into(),
        })
}

/// `HOUSEKEEPER_NOW`: a fixed, valid `YYYY-MM-DD HH:MM:SS` (tests and the demo).
fn fixed_now(layers: &mut Layers) -> Result<Option<DateTimeValue>, ConfigError> {
    let Some(text) = layers.get("HOUSEKEEPER_NOW") else {
        return Ok(None);
    };
    DateTimeValue::parse(&text)
        .filter(DateTimeValue::is_valid_date)
        .map(Some)
        .ok_or_else(|| ConfigError::Invalid {
            variable: "HOUSEKEEPER_NOW".into(),
            value: text.clone(),
            problem: "expected a date and time 'YYYY-MM-DD HH:MM:SS'".into(),
        })
}

fn path_setting(
    flag: Option<&PathBuf>,
    flag_name: &'static str,
    variable: &'static str,
    default: &str,
    layers: &mut Layers,
) -> PathBuf {
    if let Some(path) = flag {
        layers.seen.insert(variable, Source::Flag(flag_name));
        return path.clone();
    }
    layers
        .get(variable)
        .map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// Parses a comma-separated list of duty names.
///
/// # Errors
/// An unknown name, naming the variable and listing the known names.
pub fn parse_duty_list(variable: &str, text: &str) -> Result<BTreeSet<DutyName>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            name.parse::<DutyName>().map_err(|e| ConfigError::Invalid {
                variable: variable.to_owned(),
                value: text.to_owned(),
                problem: e.to_string(),
            })
        })
        .collect()
}

fn parse_retention_actions(text: &str) -> Result<BTreeSet<RetentionAction>, ConfigError> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(BTreeSet::new());
    }
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            RetentionAction::ALL
                .into_iter()
                .find(|a| a.as_str().eq_ignore_ascii_case(name))
                .ok_or_else(|| ConfigError::Invalid {
                    variable: "MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS".into(),
                    value: text.to_owned(),
                    problem: format!(
                        "unknown action {name:?} (known: hard_delete, soft_delete, grace_purge, anonymize, archive, or none)"
                    ),
                })
        })
        .collect()
}

fn parse_endpoint(variable: &str, text: &str) -> Result<Endpoint, ConfigError> {
    let invalid = |problem: &str| ConfigError::Invalid {
        variable: variable.to_owned(),
        value: text.to_owned(),
        problem: problem.to_owned(),
    };
    let url = url::Url::parse(text).map_err(|_| invalid("expected a URL such as https://host/"))?;
    let host = url
        .host_str()
        .ok_or_else(|| invalid("the URL has no host"))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| invalid("the URL has no port"))?;
    Ok(Endpoint {
        url: text.to_owned(),
        host: host.trim_matches(['[', ']']).to_owned(),
        port,
    })
}

fn zabbix_target(
    layers: &mut Layers,
    warnings: &mut Vec<String>,
) -> Result<Option<ZabbixTarget>, ConfigError> {
    let server = layers.get("ZABBIX_SERVER");
    let host = layers.get("ZABBIX_HOST");
    match (server, host) {
        (Some(server), Some(host)) => {
            if server.contains([',', ' ', ';']) {
                return Err(ConfigError::Invalid {
                    variable: "ZABBIX_SERVER".into(),
                    value: server.clone(),
                    problem: "one server (host or host:port) is expected; a list is not supported"
                        .into(),
                });
            }
            let (name, port) = match server.rsplit_once(':') {
                Some((name, port)) if !name.contains(':') || name.ends_with(']') => (
                    name.trim_matches(['[', ']']).to_owned(),
                    parse_number("ZABBIX_SERVER", port, 1u16, u16::MAX)?,
                ),
                _ => (server.clone(), 10051),
            };
            Ok(Some(ZabbixTarget {
                server: name,
                port,
                host,
            }))
        }
        (Some(_), None) => {
            warnings.push(
                "ZABBIX_SERVER is set but ZABBIX_HOST is not: nothing is sent to Zabbix".into(),
            );
            Ok(None)
        }
        (None, Some(_)) => {
            warnings.push(
                "ZABBIX_HOST is set but ZABBIX_SERVER is not: nothing is sent to Zabbix".into(),
            );
            Ok(None)
        }
        (None, None) => Ok(None),
    }
}

/// `MULTIFLEXI_HOUSEKEEPER_METRICS_FILE`: an absolute file path whose directory exists.
fn metrics_file(layers: &mut Layers) -> Result<Option<PathBuf>, ConfigError> {
    const VARIABLE: &str = "MULTIFLEXI_HOUSEKEEPER_METRICS_FILE";
    let Some(text) = layers.get(VARIABLE) else {
        return Ok(None);
    };
    let invalid = |problem: String| ConfigError::Invalid {
        variable: VARIABLE.into(),
        value: text.clone(),
        problem,
    };
    let path = PathBuf::from(&text);
    if !path.is_absolute() {
        return Err(invalid(
            "expected an absolute path, e.g. /var/lib/prometheus/node-exporter/housekeeper.prom"
                .into(),
        ));
    }
    if text.ends_with('/') || path.file_name().is_none() {
        return Err(invalid(
            "expected the path of a file, not of a directory".into(),
        ));
    }
    match path.parent() {
        Some(dir) if dir.is_dir() => Ok(Some(path)),
        Some(dir) => Err(invalid(format!(
            "the directory {} does not exist",
            dir.display()
        ))),
        None => Err(invalid("expected the path of a file".into())),
    }
}

/// Resolves a path that may be relative against the current directory, for comparisons.
#[must_use]
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests;
