//! The subcommands. Each turns configuration and arguments into work and returns the exit
//! code; shared steps (open the database, resolve `now`, select duties) live here.

pub mod apply;
pub mod demo;
pub mod doctor;
pub mod journal;
pub mod plan;
pub mod quarantine;
pub mod reset;
pub mod run;
pub mod undo;

use std::collections::BTreeSet;

use housekeeper_journal::DateTimeValue;

use crate::cli::{DutySelection, Failure};
use crate::config::{Config, DbTarget};
use crate::db::{self, ConnectOptions, Connection, DbError};
use crate::duties::DutyName;
use crate::exit::Exit;

/// The configured database, or exit 2 with a hint.
///
/// # Errors
/// No database is configured.
pub fn require_database(config: &Config) -> Result<&DbTarget, Failure> {
    config.database.as_ref().ok_or_else(|| {
        Failure::new(Exit::Usage, "no database configured")
            .hint("set DB_CONNECTION and DB_DATABASE (and DB_HOST, DB_USERNAME, DB_PASSWORD) in /etc/multiflexi/multiflexi.env, or pass --database URL")
            .hint("to see housekeeper at work on a throw-away database, try `housekeeper demo`")
    })
}

/// Connects, mapping failures to exit 4 (unreachable, login refused) or 2 (engine not built).
///
/// # Errors
/// The connection failed.
pub fn open_database(target: &DbTarget, read_only: bool) -> Result<Box<dyn Connection>, Failure> {
    let options = ConnectOptions {
        read_only,
        ..ConnectOptions::default()
    };
    db::connect(target, &options).map_err(|e| match e {
        DbError::Connect { auth: true, .. } => Failure::new(Exit::Database, e.to_string())
            .hint("check DB_USERNAME and DB_PASSWORD (or the URL's user and password)"),
        DbError::Connect { .. } => Failure::new(Exit::Database, e.to_string()).hint(
            "check that the database server is running and DB_HOST/DB_PORT/DB_DATABASE are right",
        ),
        DbError::Unsupported(_) => Failure::new(Exit::Usage, e.to_string()),
        other => Failure::new(Exit::Database, format!("{target}: {other}")),
    })
}

/// Takes the host lock of the state directory (exit 75 while another housekeeper holds it).
///
/// # Errors
/// Held elsewhere (exit 75) or the lock file cannot be used (exit 1).
pub fn host_lock(
    state: &crate::state::StateDir,
    what: &str,
) -> Result<crate::state::HostLock, Failure> {
    state.lock(what).map_err(|e| match e {
        crate::state::LockError::Held { .. } => Failure::new(Exit::Locked, e.to_string()),
        crate::state::LockError::Io { .. } => Failure::new(Exit::Failed, e.to_string()),
    })
}

/// Takes the database lock, held until the connection closes or unlocks (exit 75 while another
/// housekeeper works on the same database).
///
/// # Errors
/// Held elsewhere (exit 75), or the database failed.
pub fn database_lock(conn: &mut dyn Connection) -> Result<(), Failure> {
    match conn
        .try_lock()
        .map_err(|e| db_failure("taking the database lock", &e))?
    {
        Ok(()) => Ok(()),
        Err(holder) => Err(Failure::new(
            Exit::Locked,
            format!(
                "another housekeeper is working on {}: {}",
                conn.describe(),
                holder.0
            ),
        )),
    }
}

/// A database error during a command (not while connecting): exit 4 when the connection
/// is gone, else 1.
#[must_use]
pub fn db_failure(context: &str, e: &DbError) -> Failure {
    let exit = match e {
        DbError::Connect { .. } => Exit::Database,
        _ => Exit::Failed,
    };
    Failure::new(exit, format!("{context}: {e}"))
}

/// The run's `now` and a warning when the database clock is off.
///
/// # Errors
/// The server could not be asked.
pub fn resolve_now(
    conn: &mut dyn Connection,
    config: &Config,
) -> Result<(DateTimeValue, Vec<String>), Failure> {
    if let Some(now) = config.fixed_now {
        return Ok((now, Vec::new()));
    }
    let mut warnings = Vec::new();
    let now = match conn
        .server_now()
        .map_err(|e| db_failure("reading the database clock", &e))?
    {
        Some(now) => {
            if let Some(sql) = conn.dialect().utc_now_sql() {
                let utc = conn
                    .snapshot()
                    .and_then(|mut view| view.query_scalar(sql, &[]))
                    .ok()
                    .flatten()
                    .and_then(|v| v.as_datetime());
                if let Some(skew) = utc.and_then(crate::clock::skew_seconds) {
                    if skew > 300 {
                        warnings.push(format!(
                            "the database clock is {skew} s off the host clock (compared in UTC); cutoffs use the database's"
                        ));
                    }
                }
            }
            now
        }
        None => crate::clock::local_now(config),
    };
    Ok((now, warnings))
}

/// Why a duty does not take part, or `None` when it does.
#[must_use]
pub fn deselected(duty: DutyName, config: &Config, selection: &DutySelection) -> Option<String> {
    if !selection.only.is_empty() && !selection.only.contains(&duty) {
        return Some("not selected by --duty".into());
    }
    if selection.skip.contains(&duty) {
        return Some("skipped by --skip".into());
    }
    if config.skip_duties.contains(&duty) {
        return Some("skipped via MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES".into());
    }
    if duty == DutyName::CredentialHealthCheck && !config.credential_check {
        return Some("disabled by MULTIFLEXI_HOUSEKEEPER_CREDENTIAL_CHECK=false".into());
    }
    None
}

/// The duties a selection names, in run order.
#[must_use]
pub fn selected(config: &Config, selection: &DutySelection) -> BTreeSet<DutyName> {
    DutyName::ALL
        .into_iter()
        .filter(|d| deselected(*d, config, selection).is_none())
        .collect()
}
