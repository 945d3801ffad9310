//! `housekeeper quarantine list|expire`: the quarantined files and their undo window.
//!
//! `list` only reads. `expire` destroys, through `apply::expiry` alone, the payloads and
//! quarantined files of runs older than the undo window (or `--older-than`), inside a
//! `maintenance` run of the journal; it takes the host lock and needs no database.

use housekeeper_journal::{FileStatus, Record, RunKind};
use serde::Serialize;

use super::apply::parse_age;
use crate::apply::expiry;
use crate::audit::show::RunSummary;
use crate::audit::JournalIndex;
use crate::cli::{Failure, Format, QuarantineCommand};
use crate::config::Config;
use crate::exit::Exit;
use crate::quarantine::Quarantine;
use crate::session::journal_failure;
use crate::state::{self, StateDir};
use crate::text::Escaped;

/// `housekeeper quarantine …`.
///
/// # Errors
/// The quarantine or the journal could not be read or written, with its exit code.
pub fn command(config: &Config, command: &QuarantineCommand) -> Result<Exit, Failure> {
    match command {
        QuarantineCommand::List { format } => list(config, *format),
        QuarantineCommand::Expire { older_than } => expire(config, older_than.as_deref()),
    }
}

/// One quarantined file.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantinedFile {
    pub quarantine_path: housekeeper_journal::PathBytes,
    pub original_path: housekeeper_journal::PathBytes,
    pub size: u64,
}

/// One run's quarantine directory.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantinedRun {
    pub run_id: String,
    /// `None` when the journal does not know the run.
    pub started_utc: Option<String>,
    /// Files and bytes found in its directory.
    pub files: u64,
    pub bytes: u64,
    /// `started_utc` + `MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS`.
    pub undo_window_ends_utc: Option<String>,
    pub restorable: bool,
    /// Why not, when not restorable.
    pub why_not: Option<String>,
    /// The files the journal says are there.
    pub quarantined: Vec<QuarantinedFile>,
}

/// `quarantine list --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineList {
    /// `housekeeper.quarantine.list/v1`.
    pub format: &'static str,
    pub quarantine_dir: String,
    pub undo_days: u32,
    pub runs: Vec<QuarantinedRun>,
}

fn list(config: &Config, format: Format) -> Result<Exit, Failure> {
    let state = StateDir::new(config.state_dir.clone());
    let quarantine = Quarantine::new(state.quarantine_dir());
    let index = JournalIndex::read(&state.journal_dir())
        .map_err(|e| crate::session::unreadable_journal(&state.journal_dir(), &e))?;
    let dirs = quarantine
        .list()
        .map_err(|e| Failure::new(Exit::Failed, format!("reading the quarantine: {e}")))?;
    let now = crate::clock::host_utc(config);
    let window = chrono::TimeDelta::days(i64::from(config.undo_days));
    let restored = index.restored_paths();
    let mut runs = Vec::new();
    for (run_id, files, bytes) in dirs {
        let run = index.run(&run_id);
        let ends = run
            .and_then(|r| chrono::DateTime::parse_from_rfc3339(&r.started_utc).ok())
            .map(|s| s.with_timezone(&chrono::Utc) + window);
        let why_not = match (run, ends) {
            (None, _) => Some(format!("run {run_id} is not in the journal")),
            (Some(_), Some(end)) if end <= now => Some(format!(
                "its undo window ended {}",
                end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
            (Some(r), _) => {
                let summary = RunSummary::of(r);
                summary.undo_reason.map(|_| summary.undo)
            }
        };
        let quarantined = run
            .map(|r| {
                r.files
                    .iter()
                    .filter(|f| matches!(f.status, Some(FileStatus::Moved)))
                    .filter(|f| !restored.contains(&f.quarantine_path))
                    .filter(|f| !r.expired_files.contains(&f.quarantine_path))
                    .map(|f| QuarantinedFile {
                        quarantine_path: f.quarantine_path.clone(),
                        original_path: f.path.clone(),
                        size: f.meta.size,
                    })
                    .collect()
            })
            .unwrap_or_default();
        runs.push(QuarantinedRun {
            run_id,
            started_utc: run.map(|r| r.started_utc.clone()),
            files,
            bytes,
            undo_window_ends_utc: ends
                .map(|e| e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            restorable: why_not.is_none() && files > 0,
            why_not,
            quarantined,
        });
    }
    let result = QuarantineList {
        format: "housekeeper.quarantine.list/v1",
        quarantine_dir: quarantine.root().display().to_string(),
        undo_days: config.undo_days,
        runs,
    };
    match format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&result).map_err(|e| {
                Failure::new(Exit::Failed, format!("encoding the JSON output: {e}"))
            })?;
            println!("{text}");
        }
        Format::Text => print!("{}", list_text(&result)),
    }
    Ok(Exit::Ok)
}

fn list_text(list: &QuarantineList) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if list.runs.is_empty() {
        let _ = writeln!(
            out,
            "no quarantined files in {}",
            Escaped(&list.quarantine_dir)
        );
        return out;
    }
    let _ = writeln!(
        out,
        "{:<24} {:<20} {:>6} {:>12}  {:<20} restorable",
        "run", "started (UTC)", "files", "bytes", "window ends (UTC)"
    );
    for run in &list.runs {
        let restorable = match &run.why_not {
            None if run.restorable => "yes".to_owned(),
            None => "no: empty".to_owned(),
            Some(why) => format!("no: {}", Escaped(why)),
        };
        let _ = writeln!(
            out,
            "{:<24} {:<20} {:>6} {:>12}  {:<20} {restorable}",
            Escaped(&run.run_id),
            run.started_utc.as_deref().unwrap_or("?"),
            run.files,
            run.bytes,
            run.undo_window_ends_utc.as_deref().unwrap_or("?"),
        );
    }
    let files: u64 = list.runs.iter().map(|r| r.files).sum();
    let bytes: u64 = list.runs.iter().map(|r| r.bytes).sum();
    let _ = writeln!(
        out,
        "{files} file(s), {bytes} bytes in {} (undo window {} days)",
        Escaped(&list.quarantine_dir),
        list.undo_days
    );
    out
}

fn expire(config: &Config, older_than: Option<&str>) -> Result<Exit, Failure> {
    let age = match older_than {
        Some(text) => {
            parse_age(text).map_err(|e| Failure::new(Exit::Usage, format!("--older-than: {e}")))?
        }
        None => std::time::Duration::from_secs(u64::from(config.undo_days) * 86_400),
    };
    let cutoff = expiry::cutoff(crate::clock::host_utc(config), age)
        .map_err(|e| Failure::new(Exit::Usage, e))?;
    let cutoff_text = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let state = StateDir::new(config.state_dir.clone());
    let dir = state.journal_dir();
    if !dir.is_dir() {
        println!(
            "no runs in the journal at {}; nothing to expire",
            Escaped(&dir)
        );
        return Ok(Exit::Ok);
    }
    let _host_lock = super::host_lock(&state, "housekeeper quarantine expire")?;
    // The journal is checked against the database's anchors before anything is destroyed.
    let key = crate::apply::anchor::JournalKey::of(&state);
    let mut witness_db = match &config.database {
        Some(target) => {
            let mut conn = super::open_database(config, target, true)?;
            let schema = conn
                .introspect()
                .map_err(|e| super::db_failure("reading the schema", &e))?;
            let identity = conn
                .identity()
                .map_err(|e| super::db_failure("identifying the database", &e))?;
            Some((conn, schema, identity))
        }
        None => None,
    };
    let witness =
        witness_db
            .as_mut()
            .map(|(conn, schema, identity)| crate::apply::trust::Witness {
                conn: &mut **conn,
                schema,
                identity,
            });
    let (mut journal, opened) = crate::session::open_trusted(&dir, &key, witness)?;
    for note in opened.notes() {
        log::warn!("journal: {note}");
    }
    let planned = JournalIndex::read(&dir)
        .map(|index| expiry::plan(&index, &dir, cutoff, None))
        .map_err(journal_failure)?;
    if planned.is_empty() {
        println!(
            "nothing to expire: no run started at or before {cutoff_text} has payloads or quarantined files left"
        );
        return Ok(Exit::Ok);
    }
    // The maintenance run records the database (when one is configured) and its `now`.
    let (database, now) = match witness_db.as_mut() {
        Some((conn, _, identity)) => (
            identity.clone(),
            super::resolve_now(&mut **conn, config)
                .map_or_else(|_| crate::clock::local_now(config), |(now, _)| now),
        ),
        None => (String::new(), crate::clock::local_now(config)),
    };
    let run_id = state::new_run_id();
    journal
        .append_durable(&Record::RunStart {
            run_id: run_id.clone(),
            kind: RunKind::Maintenance,
            started_utc: crate::clock::utc_stamp(),
            now,
            host: state::host_name(),
            user: state::user_name(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            database,
            duties: Vec::new(),
        })
        .map_err(journal_failure)?;
    let reason = match older_than {
        Some(text) => format!("quarantine expire --older-than {text}"),
        None => "undo window ended (MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS)".to_owned(),
    };
    let outcome = expiry::apply(
        &mut journal,
        &Quarantine::new(state.quarantine_dir()),
        &planned,
        &reason,
    );
    let status = if outcome.is_ok() { "ok" } else { "failed" };
    let ended = journal.append_durable(&Record::RunEnd {
        run_id: run_id.clone(),
        status: status.to_owned(),
        ended_utc: crate::clock::utc_stamp(),
        details: None,
    });
    match outcome {
        Ok(done) => {
            ended.map_err(journal_failure)?;
            println!(
                "maintenance run {run_id} expired what was older than {cutoff_text}: {}",
                expiry::summary(&done)
            );
            for id in &done.runs {
                println!("  {id}");
            }
            Ok(Exit::Ok)
        }
        Err(e) => Err(Failure::new(
            Exit::Failed,
            format!("maintenance run {run_id}: {e}; what was destroyed before is recorded"),
        )
        .hint("`housekeeper journal verify` checks that every absence is explained")),
    }
}
