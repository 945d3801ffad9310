//! `housekeeper doctor`: checks everything a run needs and says what is wrong, without
//! changing anything (the database is opened read-only where the engine allows, no lock is
//! taken or created, nothing is written: the state directory is left exactly as it was).
//! Exit 1 when something would make a run fail.
//!
//! Owns the diagnosis and its output; the state directory's access, space and ownership are
//! in `state_dir`, the installed systemd unit's sandbox in `unit`, the last run and the
//! timer in `last_run`.

mod last_run;
mod state_dir;
mod unit;

use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{open_database, require_database};
use crate::cli::{DoctorArgs, Failure, Format};
use crate::config::{Config, DbTarget};
use crate::duties::{self, DutyName};
use crate::exit::Exit;
use crate::state::StateDir;
use crate::text::Escaped;

/// One line of the diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub section: &'static str,
    pub name: String,
    /// `ok`, `info`, `warning` or `problem` (a problem would make a run fail).
    pub level: &'static str,
    pub detail: String,
}

#[derive(Debug, Default, Serialize)]
struct Diagnosis {
    format: &'static str,
    checks: Vec<Check>,
}

impl Diagnosis {
    fn add(
        &mut self,
        section: &'static str,
        name: impl Into<String>,
        level: &'static str,
        detail: impl Into<String>,
    ) {
        self.checks.push(Check {
            section,
            name: name.into(),
            level,
            detail: detail.into(),
        });
    }

    fn problems(&self) -> usize {
        self.checks.iter().filter(|c| c.level == "problem").count()
    }
}

fn mode_text(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

fn directory(d: &mut Diagnosis, name: &str, path: &Path, must_exist: bool) {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let free = crate::state::available_space(path)
                .map(|b| format!("{} MiB free", b / (1024 * 1024)))
                .unwrap_or_else(|e| format!("free space unknown: {e}"));
            d.add(
                "directories",
                name,
                "ok",
                format!(
                    "{} (owner {}:{}, mode {}, {free})",
                    path.display(),
                    crate::state::user_name_of(meta.uid()),
                    crate::state::group_name_of(meta.gid()),
                    mode_text(meta.permissions().mode())
                ),
            );
        }
        Ok(_) => d.add(
            "directories",
            name,
            "problem",
            format!("{} is not a directory", path.display()),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            d.add(
                "directories",
                name,
                "info",
                format!(
                    "{} does not exist yet (created by the first run)",
                    path.display()
                ),
            );
        }
        Err(e) => d.add(
            "directories",
            name,
            if must_exist { "problem" } else { "warning" },
            format!("{}: {e}", path.display()),
        ),
    }
}

fn render_check(out: &mut String, c: &Check) {
    let mark = match c.level {
        "ok" => "ok     ",
        "problem" => "PROBLEM",
        "warning" => "warning",
        _ => "       ",
    };
    // Details quote configuration values, paths and database errors.
    let _ = writeln!(out, "  {mark} {}: {}", Escaped(&c.name), Escaped(&c.detail));
}

/// `housekeeper doctor`.
///
/// # Errors
/// Never for problems it diagnoses (they set the exit code); only for output failures.
pub fn command(config: &Config, args: &DoctorArgs) -> Result<Exit, Failure> {
    let mut d = Diagnosis {
        format: "housekeeper.doctor/v1",
        checks: Vec::new(),
    };
    configuration(&mut d, config);
    let state = StateDir::new(config.state_dir.clone());
    directories(&mut d, config, &state);
    lock(&mut d, &state);
    journal(&mut d, config, &state);
    match require_database(config) {
        Err(f) => d.add(
            "database",
            "configured",
            "problem",
            format!("{}; {}", f.message, f.hints.join("; ")),
        ),
        Ok(target) => database(&mut d, config, target),
    }

    let problems = d.problems();
    match args.format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&d)
                .map_err(|e| Failure::new(Exit::Failed, format!("encoding: {e}")))?;
            println!("{text}");
        }
        Format::Text => print!("{}", render(&d)),
    }
    Ok(if problems > 0 { Exit::Failed } else { Exit::Ok })
}

/// The configuration, with the source of every value; whether the Zabbix server is reachable
/// (a run that cannot reach it only warns).
fn configuration(d: &mut Diagnosis, config: &Config) {
    for p in &config.provenance {
        if !p.value.is_empty() || !matches!(p.source, crate::config::Source::Default) {
            d.add(
                "configuration",
                p.variable,
                "info",
                format!(
                    "{} ({})",
                    if p.value.is_empty() { "—" } else { &p.value },
                    p.source
                ),
            );
        }
    }
    if let Some(file) = &config.env_file {
        d.add(
            "configuration",
            "env file",
            "ok",
            file.display().to_string(),
        );
    } else if let Some(note) = &config.env_file_note {
        d.add(
            "configuration",
            "env file",
            "info",
            format!("{note}; the database settings come from the process environment"),
        );
    }
    if config.daemonize {
        d.add(
            "configuration",
            "MULTIFLEXI_DAEMONIZE",
            "warning",
            format!(
                "true: a bare `housekeeper run` loops, one cycle every {} s, and never exits; the timer's unit runs `run --once`, which ignores it. Set it only for a supervised daemon without the timer",
                config.cycle_pause_secs
            ),
        );
    }

    if let Some(target) = &config.zabbix {
        match crate::report::zabbix::probe(target) {
            Ok(()) => d.add(
                "configuration",
                "Zabbix server",
                "ok",
                format!("{}:{} accepts connections", target.server, target.port),
            ),
            Err(e) => d.add(
                "configuration",
                "Zabbix server",
                "warning",
                format!("{e}; runs cannot report to Zabbix"),
            ),
        }
    }
}

/// The state and temp directories, the installed unit's view of them, the state directory's
/// permissions.
fn directories(d: &mut Diagnosis, config: &Config, state: &StateDir) {
    directory(d, "state directory", state.root(), false);
    match crate::duties::disk_temp_file_cleanup::refuse(&config.tmp_dir, config) {
        Ok(()) => directory(d, "temp directory", &config.tmp_dir, false),
        Err(refusal) => d.add(
            "directories",
            "temp directory",
            "problem",
            format!("{refusal}; DiskTempFileCleanup would fail"),
        ),
    }
    state_dir::check(d, state.root());
    service_unit(d, config);
    if let Ok(meta) = std::fs::metadata(state.root()) {
        if meta.permissions().mode() & 0o077 != 0 {
            d.add(
                "directories",
                "state directory permissions",
                "warning",
                format!(
                    "{} is readable by others; the journal holds personal data (expected 0700)",
                    state.root().display()
                ),
            );
        }
    }
}

/// The host lock: asked without taking it or creating its file.
fn lock(d: &mut Diagnosis, state: &StateDir) {
    if state.root().is_dir() {
        match state.lock_holder() {
            Ok(None) => d.add(
                "lock",
                "host lock",
                "ok",
                format!("{} is free", state.lock_path().display()),
            ),
            Ok(Some(holder)) => d.add(
                "lock",
                "host lock",
                "info",
                format!(
                    "another housekeeper holds {} ({holder})",
                    state.lock_path().display()
                ),
            ),
            Err(e) => d.add(
                "lock",
                "host lock",
                "warning",
                format!("{}: {e}", state.lock_path().display()),
            ),
        }
    }
}

/// The journal's chain and interrupted runs, the last run, the timer and the undo window.
fn journal(d: &mut Diagnosis, config: &Config, state: &StateDir) {
    let journal_dir = state.journal_dir();
    if journal_dir.is_dir() {
        let options = housekeeper_journal::VerifyOptions {
            expected_head: None,
            expected: Vec::new(),
            chain_only: true,
        };
        match housekeeper_journal::verify_with(&journal_dir, &options) {
            Ok(report) if report.damage.is_empty() => d.add(
                "journal",
                "chain",
                "ok",
                format!("{} records in {} segment(s), no damage (payloads: `housekeeper journal verify`)", report.records, report.segments),
            ),
            Ok(report) => d.add("journal", "chain", "problem", format!("damaged: {}", report.damage[0])),
            Err(e) => d.add("journal", "chain", "problem", e.to_string()),
        }
        match crate::apply::recover::open_runs(&journal_dir) {
            Ok(open) if open.is_empty() => {}
            Ok(open) => d.add(
                "journal",
                "interrupted runs",
                "info",
                format!("{} (the next run recovers them)", open.join(", ")),
            ),
            Err(e) => d.add("journal", "interrupted runs", "problem", e.to_string()),
        }
    } else {
        d.add(
            "journal",
            "chain",
            "info",
            format!("no journal yet in {}", journal_dir.display()),
        );
    }
    last_run::check(d, &journal_dir);
    last_run::timer(d);
    d.add(
        "journal",
        "undo window",
        "info",
        format!(
            "{} days (MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS); restored items held {} days",
            config.undo_days, config.hold_days
        ),
    );
}

fn database(d: &mut Diagnosis, config: &Config, target: &DbTarget) {
    let mut conn = match open_database(config, target, true) {
        Ok(conn) => conn,
        Err(f) => {
            let mut detail = f.message;
            for hint in &f.hints {
                detail.push_str("; ");
                detail.push_str(hint);
            }
            d.add("database", "connection", "problem", detail);
            return;
        }
    };
    match conn.server_version() {
        Ok(version) => d.add(
            "database",
            "connection",
            "ok",
            format!("{} ({version})", conn.describe()),
        ),
        Err(e) => d.add("database", "connection", "problem", e.to_string()),
    }
    let schema = match conn.introspect() {
        Ok(schema) => schema,
        Err(e) => {
            d.add("database", "schema", "problem", e.to_string());
            return;
        }
    };
    if !schema.is_multiflexi() {
        d.add(
            "database",
            "schema",
            "problem",
            format!(
                "not a MultiFlexi database: none of the tables {} (check DB_DATABASE, or --database); run, apply and undo refuse it",
                crate::db::schema::MULTIFLEXI_TABLES.join(", ")
            ),
        );
        return;
    }
    let level = schema_level(&mut *conn);
    d.add("database", "schema level", "info", level);
    for name in DutyName::ALL {
        let duty = duties::duty(name);
        match (
            super::deselected(name, config, &Default::default()),
            duty.check_schema(&schema),
        ) {
            (Some(reason), _) => d.add(
                "duties",
                name.as_str(),
                "info",
                format!("skipped: {reason}"),
            ),
            (None, Ok(())) => d.add("duties", name.as_str(), "ok", "will run"),
            (None, Err(reason)) => d.add(
                "duties",
                name.as_str(),
                "warning",
                format!("will be skipped: {reason}"),
            ),
        }
    }
    if schema.table(crate::apply::anchor::TABLE).is_none() {
        d.add(
            "database",
            "housekeeper_anchor",
            "info",
            "not created yet (the first real run creates it)",
        );
    }
    match conn.try_lock() {
        Ok(Ok(())) => {
            let _ = conn.unlock();
            d.add("lock", "database lock", "ok", "free");
        }
        Ok(Err(holder)) => d.add(
            "lock",
            "database lock",
            "info",
            format!("held: {}", holder.0),
        ),
        Err(e) => d.add("lock", "database lock", "warning", e.to_string()),
    }
    let has_server_clock = matches!(conn.server_now(), Ok(Some(_)));
    if let Some(skew) = has_server_clock
        .then(|| crate::session::clock_skew(&mut *conn))
        .flatten()
    {
        let level = if skew > 300 { "warning" } else { "ok" };
        d.add(
            "database",
            "clock",
            level,
            format!("{skew} s from the host clock (compared in UTC)"),
        );
    }
}

/// Whether the installed service unit lets a run write what it writes: the state directory,
/// the temp directory (when `DiskTempFileCleanup` runs) and the SQLite database's directory.
fn service_unit(d: &mut Diagnosis, config: &Config) {
    let dirs: Vec<PathBuf> = match &config.systemd_unit_dirs {
        Some(dirs) => dirs.clone(),
        None => unit::UNIT_DIRS.iter().map(PathBuf::from).collect(),
    };
    let Some(sandbox) = unit::Sandbox::read(&dirs, unit::SERVICE) else {
        d.add(
            "service",
            unit::SERVICE,
            "info",
            "not installed: the sandbox of the systemd unit was not checked",
        );
        return;
    };
    let files: Vec<String> = sandbox
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    let mut needs = vec![(
        "state directory",
        "MULTIFLEXI_HOUSEKEEPER_STATE_DIR",
        crate::config::absolute(&config.state_dir),
    )];
    if config.duty_enabled(DutyName::DiskTempFileCleanup) {
        needs.push((
            "temp directory",
            "MULTIFLEXI_TMP",
            crate::config::absolute(&config.tmp_dir),
        ));
    }
    if let Some(DbTarget::Sqlite { path }) = &config.database {
        let path = crate::config::absolute(path);
        if let Some(dir) = path.parent() {
            needs.push((
                "SQLite database directory",
                "DB_DATABASE",
                dir.to_path_buf(),
            ));
        }
    }
    let mut blocked = 0;
    for (what, variable, path) in &needs {
        let Some(reason) = sandbox.blocked(path) else {
            continue;
        };
        blocked += 1;
        let allow = format!(
            "`systemctl edit {}`: [Service] ReadWritePaths=",
            unit::SERVICE
        );
        let fix = if reason.contains("PrivateTmp") {
            format!("set {variable} to a directory outside /tmp and /var/tmp and allow it with a drop-in ({allow}DIR)")
        } else if reason.contains("ProtectHome") {
            format!("set {variable} to a directory outside /home, /root and /run/user and allow it with a drop-in ({allow}DIR)")
        } else {
            format!(
                "add a drop-in with `systemctl edit {}`: [Service] ReadWritePaths={}",
                unit::SERVICE,
                path.display()
            )
        };
        d.add(
            "service",
            format!("{what} in the unit"),
            "problem",
            format!(
                "{} ({variable}) {reason}: a run of {} would fail; {fix}",
                path.display(),
                unit::SERVICE
            ),
        );
    }
    let user = sandbox.user.as_deref().unwrap_or("root");
    if blocked == 0 {
        d.add(
            "service",
            unit::SERVICE,
            "ok",
            format!(
                "{}: runs as {user} and may write {}",
                files.join(", "),
                needs
                    .iter()
                    .map(|(what, _, _)| *what)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    // systemd gives a StateDirectory= to User= at every start; any other state directory
    // must already belong to the service user.
    if !sandbox.is_state_directory(&config.state_dir) {
        if let Ok(meta) = std::fs::metadata(&config.state_dir) {
            let owner = crate::state::user_name_of(meta.uid());
            if owner != user {
                d.add(
                    "service",
                    "state directory owner in the unit",
                    "problem",
                    format!(
                        "{} belongs to {owner}, but {} runs as {user}: a run would fail; fix: chown -R {user}: {}",
                        config.state_dir.display(),
                        unit::SERVICE,
                        config.state_dir.display()
                    ),
                );
            }
        }
    }
}

/// The newest applied migration, from `phinxlog`.
fn schema_level(conn: &mut dyn crate::db::Connection) -> String {
    let result = conn.snapshot().and_then(|mut view| {
        let d = *view.dialect();
        view.query_scalar(
            &format!(
                "SELECT MAX({}) FROM {}",
                d.quote("version"),
                d.quote("phinxlog")
            ),
            &[],
        )
    });
    match result {
        Ok(Some(v)) if !v.is_null() => format!("newest migration {}", crate::plan::key_text(&v)),
        Ok(_) => "phinxlog is empty".into(),
        Err(_) => "no phinxlog table: schema level unknown".into(),
    }
}

const SECTIONS: [&str; 7] = [
    "configuration",
    "directories",
    "service",
    "lock",
    "journal",
    "database",
    "duties",
];

fn render(d: &Diagnosis) -> String {
    let mut out = String::new();
    for section in SECTIONS {
        let checks: Vec<&Check> = d.checks.iter().filter(|c| c.section == section).collect();
        if checks.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{section}:");
        for c in checks {
            render_check(&mut out, c);
        }
    }
    let problems = d.problems();
    if problems == 0 {
        let _ = writeln!(out, "no problem found");
    } else {
        let _ = writeln!(out, "{problems} problem(s) would make a run fail");
    }
    out
}
