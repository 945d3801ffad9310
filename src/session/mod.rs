//! The session: the one path of every real run — `run` (and each daemon cycle), `apply`,
//! `undo` and the demo. It owns the order of a run:
//!
//! 1. [`Session::open`]: the state directory and its host lock → the database and its lock →
//!    the schema → the journal, checked against the database's anchors before anything acts
//!    (`apply::trust`) → the journal's index, its one full reading in a session → recovery of
//!    what a crashed run left open → the anchor table → the run's `now` → the history of
//!    earlier runs (from the index) → `RunStart`;
//! 2. [`Session::duty`], for each duty in order: the planner's plan (made through a fresh
//!    snapshot, so it sees what earlier duties changed) handed to the executor → `DutyEnd` →
//!    the duty's `log` row;
//! 3. [`Session::finish`]: the run's `log` row → the end of the undo window (expiry, decided
//!    from the index read when the session opened) →
//!    `RunEnd`, its anchor and the checkpoint → monitoring (Zabbix, the metrics file) → the
//!    report.
//!
//! A session that cannot open is reported to monitoring as failed, with its exit code.
//!
//! Commands only choose the planner and the options ([`run`]). A session never decides what
//! to change (the duties and the planner do), and never writes the journal or moves files
//! except through the executor, recovery and expiry.

mod ledger;
mod open;
mod watch;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use housekeeper_journal::{DateTimeValue, Journal, Record, RunKind};

use crate::apply::{log_rows, ExecError, Executor};
use crate::cli::Format;
use crate::config::Config;
use crate::db::{Connection, SchemaFacts};
use crate::duties::{self, DutyContext, DutyName, History};
use crate::exit::Failure;
use crate::plan::narrow::Refused;
use crate::plan::{DutyPlan, PlanStatus};
use crate::quarantine::Quarantine;
use crate::report::monitor::{self, Outcome};
use crate::report::{DutyReport, Mode, RunReport, Status};
use crate::state::HostLock;

pub use open::{
    clock_skew, database_lock, db_failure, host_lock, journal_failure, open_database, open_trusted,
    require_database, resolve_now, unreadable_journal,
};

/// What a session's planner says about one duty.
pub enum Planned {
    /// Not part of this session, with the reason shown as `skipped`.
    Skip(String),
    Plan(DutyPlan),
    /// A plan, and the parts of a saved plan that are not executed because the duty does
    /// not plan them now (`apply`).
    Narrowed(DutyPlan, Vec<Refused>),
}

/// How a session differs between `run`, `apply` and `undo`.
pub struct SessionOptions {
    pub mode: Mode,
    pub kind: RunKind,
    /// Use this `now` instead of reading the clock (`apply` re-checks with the plan's).
    pub fixed_now: Option<DateTimeValue>,
    pub format: Format,
    /// Duties in reverse order (undo puts back the last duty's changes first).
    pub reverse: bool,
    /// `undo --strict`: the first conflict rolls back its chunk and stops the session.
    pub strict: bool,
}

/// The planner of a session: the plan of one duty, through the session's connection and
/// context.
pub type Planner<'p> = dyn FnMut(&mut dyn Connection, DutyName, &DutyContext<'_>) -> Planned + 'p;

/// A whole session: open, every duty in order (reversed for an undo), finish. A session that
/// cannot open (schema, journal, database, lock) is reported to monitoring as failed.
///
/// # Errors
/// Configuration, database, lock or journal problems, with their exit codes.
pub fn run(
    config: &Config,
    options: &SessionOptions,
    planner: &mut Planner<'_>,
    stop: &AtomicBool,
) -> Result<RunReport, Failure> {
    let started = Instant::now();
    let result = watch::watching(stop, |watch| {
        let mut session = Session::open(config, options, watch).map_err(|failure| {
            if stop.load(Ordering::SeqCst) {
                Failure {
                    message: format!(
                        "stopped by a signal before the run began: {}",
                        failure.message
                    ),
                    ..failure
                }
            } else {
                failure
            }
        })?;
        let mut order = DutyName::ALL.to_vec();
        if options.reverse {
            order.reverse();
        }
        for name in order {
            session.duty(name, planner, stop);
            if session.lost.is_some() {
                break;
            }
        }
        session.finish()
    });
    // A session that could not open, or lost its connection, is reported too.
    if let Err(failure) = &result {
        monitor::publish_failure(&config.monitoring(), failure, started.elapsed());
    }
    result
}

/// An open session: the locks are held, the journal is trusted and open, `RunStart` is
/// written.
pub struct Session<'a> {
    config: &'a Config,
    options: &'a SessionOptions,
    started: Instant,
    _host_lock: HostLock,
    conn: Box<dyn Connection>,
    journal: Journal,
    quarantine: Quarantine,
    journal_id: String,
    run_id: String,
    schema: SchemaFacts,
    history: History,
    /// The journal's index: the runs before this one when the session opened (after
    /// recovery), which the expiry at the end decides from; this run's records are added
    /// at its end, before it is stored for the next session.
    ledger: ledger::Ledger,
    now: DateTimeValue,
    host_now: SystemTime,
    report: RunReport,
    /// Set when the journal can no longer be written: nothing more is changed.
    journal_broken: Option<String>,
    /// Set when a signal stopped the session before all its duties were done.
    interrupted: bool,
    /// Set when the database connection is gone: the session ends at once, leaving the run
    /// open for the next start's recovery.
    lost: Option<String>,
}

impl Session<'_> {
    /// Plans one duty with `planner` and applies its plan; records its end and its `log`
    /// row. A stop signal skips the duties not yet started.
    pub fn duty(&mut self, name: DutyName, planner: &mut Planner<'_>, stop: &AtomicBool) {
        let duty_started = Instant::now();
        let ctx = DutyContext {
            now: self.now,
            host_now: self.host_now,
            config: self.config,
            schema: &self.schema,
            engine: self.conn.engine(),
            history: &self.history,
            pending: &duties::NO_EFFECTS,
        };
        let mut planned = if stop.load(Ordering::SeqCst) {
            Planned::Skip("stopped by a signal".into())
        } else {
            planner(&mut *self.conn, name, &ctx)
        };
        let refused = match &mut planned {
            Planned::Narrowed(_, refused) => std::mem::take(refused),
            _ => Vec::new(),
        };
        let deselected = matches!(planned, Planned::Skip(_));
        let mut report = match planned {
            Planned::Skip(reason) => DutyReport::skipped(name, reason),
            Planned::Plan(_) | Planned::Narrowed(..) if self.journal_broken.is_some() => {
                let mut r = DutyReport::new(name);
                r.error(format!(
                    "not run: the journal cannot be written ({})",
                    self.journal_broken.as_deref().unwrap_or_default()
                ));
                r
            }
            Planned::Plan(plan) | Planned::Narrowed(plan, _) => {
                let mut executor = Executor {
                    conn: &mut *self.conn,
                    journal: &mut self.journal,
                    quarantine: &self.quarantine,
                    journal_id: &self.journal_id,
                    run_id: &self.run_id,
                    chunk_rows: self.config.chunk_rows,
                    stop,
                    strict: self.options.strict,
                };
                let (report, stopped) = apply_plan(&mut executor, &ctx, plan, &refused);
                match stopped {
                    Some(ExecError::Lost(message)) => self.lost = Some(message),
                    Some(other) => self.journal_broken = Some(other.to_string()),
                    None => {}
                }
                report
            }
        };
        if self.lost.is_none() && !report.errors.is_empty() && self.conn.is_lost() {
            self.lost = Some(format!(
                "the database connection was lost during {name}: {}",
                report.errors.last().map_or("", String::as_str)
            ));
        }
        if self.lost.is_some() {
            self.report.duties.push(report);
            return;
        }
        report.elapsed_ms = u64::try_from(duty_started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if self.journal_broken.is_none() {
            let end = Record::DutyEnd {
                run_id: self.run_id.clone(),
                duty: name.as_str().to_owned(),
                status: report.status.as_str().to_owned(),
                affected: report.affected,
                errors: u32::try_from(report.errors.len()).unwrap_or(u32::MAX),
                findings: u32::try_from(report.findings.len()).unwrap_or(u32::MAX),
                details: None,
            };
            if let Err(e) = self.journal.append_durable(&end) {
                self.journal_broken = Some(e.to_string());
            }
        }
        if !deselected {
            let (severity, message) = log_rows::duty_line(&report);
            if let Err(e) = log_rows::write(&mut *self.conn, &self.schema, severity, &message) {
                log::warn!("could not write the log row of {name}: {e}");
            }
        }
        self.report.duties.push(report);
        self.interrupted |= stop.load(Ordering::SeqCst);
    }

    /// Ends the session: the run's `log` row, expiry, `RunEnd` with its anchor and the
    /// checkpoint, monitoring (Zabbix, the metrics file), and the report (printed, and
    /// returned).
    ///
    /// # Errors
    /// The database connection was lost during the session (exit 4): nothing more is
    /// written, and the run is left open for the next start's recovery.
    pub fn finish(mut self) -> Result<RunReport, Failure> {
        if let Some(lost) = self.lost.take() {
            return Err(
                Failure::new(crate::exit::Exit::Database, lost).hint(format!(
                    "nothing more was changed; run {} is left open and the next start recovers it \
                 (what its last chunk did is read from the database then)",
                    self.run_id
                )),
            );
        }
        self.report.finish(self.interrupted);
        let seconds = self.started.elapsed().as_secs_f64();
        let (severity, message) = log_rows::run_line(&self.report, seconds);
        if let Err(e) = log_rows::write(&mut *self.conn, &self.schema, severity, &message) {
            log::warn!("could not write the log row of the run: {e}");
        }
        // The end of the undo window: payloads, quarantined files and anchors of old runs.
        let mut expired_cleanly = false;
        if self.journal_broken.is_none() {
            let warnings = crate::apply::expiry::at_run_end(
                self.config,
                self.host_now.into(),
                &self.ledger.index,
                &mut self.journal,
                &self.quarantine,
                &mut *self.conn,
                &self.journal_id,
            );
            expired_cleanly = warnings.is_empty();
            for warning in warnings {
                log::warn!("{warning}");
                self.report.warnings.push(warning);
            }
            // Past the keep period: the oldest monthly segments are folded away.
            for warning in crate::apply::fold::at_run_end(
                self.config.journal_keep_days,
                self.host_now.into(),
                &mut self.journal,
                &mut *self.conn,
                &self.journal_id,
                &self.run_id,
            ) {
                log::warn!("{warning}");
                self.report.warnings.push(warning);
            }
        }
        crate::apply::crashpoint("before-run-end");
        if self.journal_broken.is_none() {
            self.end_run(expired_cleanly);
        }
        let _ = self.conn.unlock();
        let outcome = Outcome::of_report(
            &self.report,
            self.started.elapsed(),
            crate::clock::unix_seconds(),
        );
        let warnings = monitor::publish(&self.config.monitoring(), &outcome);
        self.report.warnings.extend(warnings);
        emit(&self.report, self.options.format);
        Ok(self.report)
    }

    /// `RunEnd`, the journal index stored for the next session, the anchor of the end
    /// (naming the index's digest), and — once the anchor confirms it — the checkpoint the
    /// next start verifies from.
    fn end_run(&mut self, expired_cleanly: bool) {
        let end = Record::RunEnd {
            run_id: self.run_id.clone(),
            status: self.report.status.as_str().to_owned(),
            ended_utc: crate::clock::utc_stamp(),
            details: None,
        };
        match self.journal.append_durable(&end) {
            Ok(appended) => {
                let index = self.store_index(expired_cleanly);
                if open::anchor_run_end(
                    &mut *self.conn,
                    &self.journal_id,
                    &self.run_id,
                    &appended,
                    index,
                ) {
                    if let Err(e) = self.journal.write_checkpoint(&appended) {
                        log::warn!("journal: could not write the checkpoint: {e}");
                    }
                }
            }
            Err(e) => log::error!("journal: cannot record the end of run {}: {e}", self.run_id),
        }
    }

    /// Adds this run's records to the index, leaves out the leading runs that are settled
    /// — ended, past the undo window with nothing left to expire, and their anchors pruned
    /// (`expired_cleanly`: this run's expiry and pruning went without a warning) — and stores
    /// it. Its digest and length, or `None` when it could not be stored (the next session
    /// then reads the whole journal).
    fn store_index(&mut self, expired_cleanly: bool) -> Option<(housekeeper_journal::Digest, u64)> {
        let file = crate::state::StateDir::new(self.config.state_dir.clone()).journal_index();
        if let Err(e) = self.ledger.catch_up() {
            log::warn!("journal index not stored: reading this run's records: {e}");
            return None;
        }
        let age = std::time::Duration::from_secs(u64::from(self.config.undo_days) * 86_400);
        let planned = crate::apply::expiry::cutoff(self.host_now.into(), age)
            .ok()
            .filter(|_| expired_cleanly)
            .map(|cutoff| {
                crate::apply::expiry::plan(
                    &self.ledger.index,
                    self.journal.dir(),
                    cutoff,
                    Some(&self.run_id),
                )
            });
        let (due, left): (HashSet<&str>, HashSet<&str>) =
            planned.as_ref().map_or_else(Default::default, |p| {
                (
                    p.due.iter().map(String::as_str).collect(),
                    p.runs.iter().map(|r| r.run_id.as_str()).collect(),
                )
            });
        let settled = |run: &crate::audit::RunInfo| {
            run.end.is_some()
                && due.contains(run.run_id.as_str())
                && !left.contains(run.run_id.as_str())
        };
        let storing = std::time::Instant::now();
        match self.ledger.store(&file, settled) {
            Ok(stored) => {
                log::debug!(
                    "journal index: {} runs, {} bytes stored in {:.1} ms",
                    self.ledger.index.runs.len(),
                    stored.1,
                    storing.elapsed().as_secs_f64() * 1000.0
                );
                self.ledger.keep();
                Some(stored)
            }
            Err(e) => {
                log::warn!("journal index not stored: {e}");
                None
            }
        }
    }
}

/// A duty's plan through the executor: its report, and the journal's error when the journal
/// can no longer be written.
fn apply_plan(
    executor: &mut Executor<'_>,
    ctx: &DutyContext<'_>,
    plan: DutyPlan,
    refused: &[Refused],
) -> (DutyReport, Option<ExecError>) {
    let name = plan.duty;
    let mut r = DutyReport::new(name);
    match &plan.status {
        PlanStatus::Skipped { reason } => return (DutyReport::skipped(name, reason.clone()), None),
        PlanStatus::Failed { error } => {
            r.error(error.clone());
            return (r, None);
        }
        PlanStatus::Planned => {}
    }
    r.findings = plan.findings.clone();
    r.notes = plan.notes.clone();
    r.held = plan.held.clone();
    for refusal in refused {
        r.refuse(&refusal.table, &refusal.key, refusal.count);
    }
    for e in &plan.errors {
        r.error(e.clone());
    }
    let duty = duties::duty(name);
    let mut stopped = None;
    if let Err(e) = executor.apply(&*duty, ctx, plan, &mut r) {
        r.error(format!("{e}; nothing more is changed in this run"));
        stopped = Some(e);
    }
    (r, stopped)
}

/// Prints the summary (stderr) and, with `--format json`, the report (stdout). With `-q`
/// (log level warnings) the summary of a run that went well is left out.
/// The syslog priority of one line of the summary under journald: a duty's error 3 (err),
/// a finding at level error 4 (warning), at level warning 5 (notice), a failed run's last
/// line 3, an interrupted run's 4, the rest 6 (info).
fn journal_priority(line: &str) -> u8 {
    let trimmed = line.trim_start();
    if trimmed.starts_with("error: ") || line.starts_with("run failed") {
        3
    } else if trimmed.starts_with("finding (error)") || line.starts_with("run interrupted") {
        4
    } else if trimmed.starts_with("finding (warning)") {
        5
    } else {
        6
    }
}

fn emit(report: &RunReport, format: Format) {
    let quiet = !log::log_enabled!(log::Level::Info);
    if !quiet || report.exit() != crate::exit::Exit::Ok || report.status != Status::Ok {
        let summary = report.summary();
        if crate::cli::under_journald() {
            for line in summary.lines() {
                eprintln!("<{}>{line}", journal_priority(line));
            }
        } else {
            eprintln!("{summary}");
        }
    }
    if format == Format::Json {
        match serde_json::to_string_pretty(report) {
            Ok(text) => println!("{text}"),
            Err(e) => log::error!("encoding the report: {e}"),
        }
    }
}
