//! What `doctor` shows of the configuration: each variable's effective value (passwords
//! redacted) and where it came from, in `VARIABLES` order.
//!
//! Owns turning a loaded `Config` back into one line per variable. Must never read the
//! environment or a file, and never show a password.

use std::collections::BTreeMap;

use super::{Config, DbTarget, ServerTarget, Source, VARIABLES};

/// One line of the configuration as `doctor` shows it: the value (passwords redacted) and
/// where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub variable: &'static str,
    pub value: String,
    pub source: Source,
}

/// Each variable's effective value and its source.
pub(super) fn of(config: &Config, seen: &BTreeMap<&'static str, Source>) -> Vec<Provenance> {
    let db = config.database.as_ref();
    let server = |f: fn(&ServerTarget) -> String| match db {
        Some(DbTarget::Postgres(t) | DbTarget::Mysql(t)) => f(t),
        _ => String::new(),
    };
    VARIABLES
        .iter()
        .map(|var| {
            let value = match var.name {
                "DB_CONNECTION" => db.map(|d| d.engine().to_string()).unwrap_or_default(),
                "DB_HOST" => server(|t| t.host.clone()),
                "DB_PORT" => server(|t| t.port.to_string()),
                "DB_DATABASE" => match db {
                    Some(DbTarget::Sqlite { path }) => path.display().to_string(),
                    _ => server(|t| t.database.clone()),
                },
                "DB_USERNAME" => server(|t| t.user.clone()),
                "DB_PASSWORD" => server(|t| {
                    t.password
                        .as_ref()
                        .map(|_| "***".to_owned())
                        .unwrap_or_default()
                }),
                "DB_SETTINGS" => server(|t| {
                    t.socket
                        .as_ref()
                        .map(|s| format!("unix_socket={}", s.display()))
                        .unwrap_or_default()
                }),
                "HOUSEKEEPER_DATABASE_URL" => db.map(ToString::to_string).unwrap_or_default(),
                "MULTIFLEXI_DAEMONIZE" => config.daemonize.to_string(),
                "MULTIFLEXI_HOUSEKEEPER_DRY_RUN" => config.dry_run.to_string(),
                "MULTIFLEXI_HOUSEKEEPER_CYCLE_PAUSE" => config.cycle_pause_secs.to_string(),
                "MULTIFLEXI_HOUSEKEEPER_LOG_KEEP" => config.log_keep.to_string(),
                "MULTIFLEXI_HOUSEKEEPER_TMP_AGE_HOURS" => config.tmp_age_hours.to_string(),
                "MULTIFLEXI_HOUSEKEEPER_STALE_JOB_AGE" => config.stale_job_age_minutes.to_string(),
                "MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES" => config
                    .skip_duties
                    .iter()
                    .map(|d| d.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                "MULTIFLEXI_HOUSEKEEPER_CREDENTIAL_CHECK" => config.credential_check.to_string(),
                "MULTIFLEXI_TMP" => config.tmp_dir.display().to_string(),
                "MULTIFLEXI_HOUSEKEEPER_STATE_DIR" => config.state_dir.display().to_string(),
                "MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS" => config.undo_days.to_string(),
                "MULTIFLEXI_HOUSEKEEPER_HOLD_DAYS" => config.hold_days.to_string(),
                "MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS" => config.journal_keep_days.to_string(),
                "MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS" => config.chunk_rows.to_string(),
                "MULTIFLEXI_HOUSEKEEPER_WRITER_PAUSE_MS" => {
                    config.writer_pause.as_millis().to_string()
                }
                "MULTIFLEXI_HOUSEKEEPER_LOCK_TIMEOUT" => config.lock_timeout.as_secs().to_string(),
                "MULTIFLEXI_HOUSEKEEPER_STATEMENT_TIMEOUT" => {
                    config.statement_timeout.as_secs().to_string()
                }
                "MULTIFLEXI_TIMEZONE" => config
                    .timezone
                    .map_or_else(|| "system zone".to_owned(), |tz| tz.name().to_owned()),
                "MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS" => {
                    let list: Vec<_> = config
                        .retention_actions
                        .iter()
                        .map(|a| a.as_str())
                        .collect();
                    if list.is_empty() {
                        "none".to_owned()
                    } else {
                        list.join(",")
                    }
                }
                "MULTIFLEXI_HOUSEKEEPER_FIO_URL" => config.fio.url.clone(),
                "APP_DEBUG" => config.app_debug.to_string(),
                "ZABBIX_SERVER" => config
                    .zabbix
                    .as_ref()
                    .map(|z| format!("{}:{}", z.server, z.port))
                    .unwrap_or_default(),
                "ZABBIX_HOST" => config
                    .zabbix
                    .as_ref()
                    .map(|z| z.host.clone())
                    .unwrap_or_default(),
                "MULTIFLEXI_HOUSEKEEPER_METRICS_FILE" => config
                    .metrics_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                "HOUSEKEEPER_NOW" => config.fixed_now.map(|n| n.to_string()).unwrap_or_default(),
                "HOUSEKEEPER_SYSTEMD_UNIT_DIRS" => config
                    .systemd_unit_dirs
                    .as_ref()
                    .and_then(|dirs| std::env::join_paths(dirs).ok())
                    .map(|text| text.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                _ => String::new(),
            };
            let from_url = var.name.starts_with("DB_") && !value.is_empty();
            let source = match seen.get("HOUSEKEEPER_DATABASE_URL") {
                Some(url_source) if from_url => url_source.clone(),
                _ => seen.get(var.name).cloned().unwrap_or(Source::Default),
            };
            Provenance {
                variable: var.name,
                value,
                source,
            }
        })
        .collect()
}
