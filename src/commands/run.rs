//! `housekeeper run` (the default command): recover, then plan, journal and apply every duty
//! in order; report on stderr (and stdout with `--format json`), in the `log` table and to
//! Zabbix. With `MULTIFLEXI_HOUSEKEEPER_DRY_RUN=true` or `--dry-run` it only plans.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use housekeeper_journal::{Journal, JournalError};
use housekeeper_journal::{Record, RunKind};

use super::plan::plan_duty;
use super::{db_failure, deselected, open_database, require_database, resolve_now};
use crate::apply::{anchor, log_rows, recover, trust, Executor};
use crate::cli::{Failure, Format, PlanArgs, RunArgs};
use crate::config::Config;
use crate::duties::{self, DutyContext, DutyName};
use crate::exit::Exit;
use crate::plan::PlanStatus;
use crate::quarantine::Quarantine;
use crate::report::{DutyReport, Mode, RunReport};
use crate::state::{self, StateDir};

/// `housekeeper run`.
///
/// # Errors
/// Configuration, database, lock or journal problems, with their exit codes.
pub fn command(config: &Config, args: &RunArgs) -> Result<Exit, Failure> {
    if config.dry_run {
        let plan_args = PlanArgs {
            duties: args.duties.clone(),
            format: args.format,
            out: None,
        };
        return super::plan::command(config, &plan_args);
    }
    let stop = stop_flag()?;
    if !config.daemonize {
        let report = cycle(config, args, &stop)?;
        return Ok(report.exit());
    }
    daemon(config, args, &stop)
}

/// A flag set by SIGTERM or SIGINT: the executor finishes the chunk it is in, then the run
/// stops. A second signal terminates at once.
///
/// # Errors
/// The handlers could not be installed.
pub fn stop_flag() -> Result<Arc<AtomicBool>, Failure> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let installed =
            signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
                .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)));
        installed.map_err(|e| {
            Failure::new(Exit::Failed, format!("installing the signal handler: {e}"))
        })?;
    }
    Ok(stop)
}

/// Daemon mode (`MULTIFLEXI_DAEMONIZE=true`): a cycle, then `CYCLE_PAUSE` seconds, forever.
/// A cycle that fails (database down, lock held) is logged and retried after the pause. A
/// signal during a cycle ends it after the current chunk; during the pause it ends at once.
/// Either way the exit code is 0.
fn daemon(config: &Config, args: &RunArgs, stop: &AtomicBool) -> Result<Exit, Failure> {
    use std::sync::atomic::Ordering;
    log::info!(
        "daemon mode: a cycle every {} s (MULTIFLEXI_HOUSEKEEPER_CYCLE_PAUSE); stop with SIGTERM",
        config.cycle_pause_secs
    );
    loop {
        match cycle(config, args, stop) {
            Ok(report) if report.exit() != Exit::Ok => {
                log::warn!("cycle finished with failed duties");
            }
            Ok(_) => {}
            Err(failure) if failure.exit == Exit::Usage => return Err(failure),
            Err(failure) => {
                log::error!("cycle failed: {}", failure.message);
                for hint in &failure.hints {
                    log::info!("hint: {hint}");
                }
            }
        }
        if stop.load(Ordering::SeqCst) {
            log::info!("stopped by a signal");
            return Ok(Exit::Ok);
        }
        log::info!("next cycle in {} s", config.cycle_pause_secs);
        let until =
            std::time::Instant::now() + std::time::Duration::from_secs(config.cycle_pause_secs);
        while std::time::Instant::now() < until {
            if stop.load(Ordering::SeqCst) {
                log::info!("stopped by a signal during the pause");
                return Ok(Exit::Ok);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// One cycle: everything `run` does once.
///
/// # Errors
/// Configuration, database, lock or journal problems, with their exit codes.
pub fn cycle(config: &Config, args: &RunArgs, stop: &AtomicBool) -> Result<RunReport, Failure> {
    let selection = args.duties.clone();
    let mut planner =
        |conn: &mut dyn crate::db::Connection, name: DutyName, ctx: &DutyContext<'_>| {
            match deselected(name, config, &selection) {
                Some(reason) => Planned::Skip(reason),
                None => Planned::Plan(plan_duty(conn, name, ctx)),
            }
        };
    let options = SessionOptions {
        mode: Mode::Run,
        kind: RunKind::Run,
        fixed_now: None,
        format: args.format,
        reverse: false,
        strict: false,
    };
    session(config, &options, &mut planner, stop)
}

/// What a session's planner says about one duty.
pub enum Planned {
    /// Not part of this session, with the reason shown as `skipped`.
    Skip(String),
    Plan(crate::plan::DutyPlan),
    /// A plan, and the parts of a saved plan that are not executed because the duty does
    /// not plan them now (`apply`).
    Narrowed(crate::plan::DutyPlan, Vec<crate::plan::narrow::Refused>),
}

/// How a session differs between `run`, `apply` and `undo`.
pub struct SessionOptions {
    pub mode: Mode,
    pub kind: RunKind,
    /// Use this `now` instead of reading the clock (`apply` re-checks with the plan's).
    pub fixed_now: Option<housekeeper_journal::DateTimeValue>,
    pub format: Format,
    /// Duties in reverse order (undo puts back the last duty's changes first).
    pub reverse: bool,
    /// `undo --strict`: the first conflict rolls back its chunk and stops the session.
    pub strict: bool,
}

/// A real session: locks, recovery, the run's journal records, then for each duty in order
/// the plan from `planner` applied by the executor, then the log rows, the run's end and the
/// report.
///
/// # Errors
/// Configuration, database, lock or journal problems, with their exit codes.
pub fn session(
    config: &Config,
    options: &SessionOptions,
    planner: &mut dyn FnMut(&mut dyn crate::db::Connection, DutyName, &DutyContext<'_>) -> Planned,
    stop: &AtomicBool,
) -> Result<RunReport, Failure> {
    let started = Instant::now();
    let target = require_database(config)?;
    let state = StateDir::new(config.state_dir.clone());
    state.ensure().map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("state directory {}: {e}", state.root().display()),
        )
        .hint("set MULTIFLEXI_HOUSEKEEPER_STATE_DIR to a directory the service user can write")
    })?;
    let _host_lock = super::host_lock(&state, &format!("housekeeper {}", options.mode.as_str()))?;
    let mut conn = open_database(target, false)?;
    super::database_lock(&mut *conn)?;
    let journal_id = state.journal_id().map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("journal id in {}: {e}", state.root().display()),
        )
    })?;
    let mut schema = conn
        .introspect()
        .map_err(|e| db_failure("reading the schema", &e))?;
    let identity = conn
        .identity()
        .map_err(|e| db_failure("identifying the database", &e))?;
    let (mut journal, opened) = open_trusted(
        &state.journal_dir(),
        &journal_id,
        Some(trust::Witness {
            conn: &mut *conn,
            schema: &schema,
            identity: &identity,
        }),
    )?;
    for note in opened.notes() {
        if opened.created {
            log::info!("journal: {note}");
        } else {
            log::warn!("journal: {note}");
        }
    }
    let quarantine = Quarantine::new(state.quarantine_dir());
    let run_id = state::new_run_id();

    let recovered = recover::recover(
        &mut journal,
        &state.journal_dir(),
        &mut *conn,
        &schema,
        &journal_id,
        &run_id,
        &quarantine,
    )
    .map_err(|e| Failure::new(Exit::Integrity, format!("recovering the last run: {e}")))?;
    if schema.table(anchor::TABLE).is_none() {
        anchor::ensure_table(&mut *conn)
            .map_err(|e| db_failure("creating housekeeper_anchor", &e))?;
        schema = conn
            .introspect()
            .map_err(|e| db_failure("reading the schema", &e))?;
    }
    let (now, warnings) = match options.fixed_now {
        Some(now) => (now, Vec::new()),
        None => resolve_now(&mut *conn, config)?,
    };
    let history = super::plan::read_history(config)?;
    let ctx = DutyContext {
        now,
        host_now: crate::clock::host_now(config),
        config,
        schema: &schema,
        engine: conn.engine(),
        history: &history,
    };
    // Plan lazily, duty by duty, so each duty sees what the previous ones changed.
    journal
        .append_durable(&Record::RunStart {
            run_id: run_id.clone(),
            kind: options.kind.clone(),
            started_utc: crate::clock::utc_stamp(),
            now,
            host: state::host_name(),
            user: state::user_name(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            database: identity,
            duties: DutyName::ALL
                .iter()
                .map(|d| d.as_str().to_owned())
                .collect(),
        })
        .map_err(journal_failure)?;

    let mut report = RunReport::new(options.mode, conn.describe(), now.to_string());
    report.run_id = Some(run_id.clone());
    report.recovered = recovered;
    report.warnings = warnings;
    for w in &report.warnings {
        log::warn!("{w}");
    }
    let mut journal_broken: Option<String> = None;
    let mut order = DutyName::ALL.to_vec();
    if options.reverse {
        order.reverse();
    }
    for name in order {
        let duty_started = Instant::now();
        let mut planned = if stop.load(std::sync::atomic::Ordering::SeqCst) {
            Planned::Skip("stopped by a signal".into())
        } else {
            planner(&mut *conn, name, &ctx)
        };
        let refused = match &mut planned {
            Planned::Narrowed(_, refused) => std::mem::take(refused),
            _ => Vec::new(),
        };
        let deselected_duty = matches!(planned, Planned::Skip(_));
        let mut duty_report = match planned {
            Planned::Skip(reason) => DutyReport::skipped(name, reason),
            Planned::Plan(_) | Planned::Narrowed(..) if journal_broken.is_some() => {
                let mut r = DutyReport::new(name);
                r.error(format!(
                    "not run: the journal cannot be written ({})",
                    journal_broken.as_deref().unwrap_or_default()
                ));
                r
            }
            Planned::Plan(plan) | Planned::Narrowed(plan, _) => {
                let mut r = DutyReport::new(name);
                match &plan.status {
                    PlanStatus::Skipped { reason } => r = DutyReport::skipped(name, reason.clone()),
                    PlanStatus::Failed { error } => r.error(error.clone()),
                    PlanStatus::Planned => {
                        r.findings = plan.findings.clone();
                        r.notes = plan.notes.clone();
                        r.held = plan.held.clone();
                        for refusal in &refused {
                            r.refuse(&refusal.table, &refusal.key, refusal.count);
                        }
                        for e in &plan.errors {
                            r.error(e.clone());
                        }
                        let duty = duties::duty(name);
                        let mut executor = Executor {
                            conn: &mut *conn,
                            journal: &mut journal,
                            quarantine: &quarantine,
                            journal_id: &journal_id,
                            run_id: &run_id,
                            chunk_rows: config.chunk_rows,
                            stop,
                            strict: options.strict,
                        };
                        if let Err(e) = executor.apply(&*duty, &ctx, &plan, &mut r) {
                            r.error(format!("{e}; nothing more is changed in this run"));
                            journal_broken = Some(e.to_string());
                        }
                        if let Some(n) = plan.affected_override {
                            r.affected = n;
                        }
                    }
                }
                r
            }
        };
        duty_report.elapsed_ms =
            u64::try_from(duty_started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if journal_broken.is_none() {
            let end = Record::DutyEnd {
                run_id: run_id.clone(),
                duty: name.as_str().to_owned(),
                status: duty_report.status.as_str().to_owned(),
                affected: duty_report.affected,
                errors: u32::try_from(duty_report.errors.len()).unwrap_or(u32::MAX),
                findings: u32::try_from(duty_report.findings.len()).unwrap_or(u32::MAX),
                details: None,
            };
            if let Err(e) = journal.append_durable(&end) {
                journal_broken = Some(e.to_string());
            }
        }
        if !deselected_duty {
            let (severity, message) = log_rows::duty_line(&duty_report);
            if let Err(e) = log_rows::write(&mut *conn, &schema, severity, &message) {
                log::warn!("could not write the log row of {name}: {e}");
            }
        }
        report.duties.push(duty_report);
    }
    report.finish();
    let seconds = started.elapsed().as_secs_f64();
    let (severity, message) = log_rows::run_line(&report, seconds);
    if let Err(e) = log_rows::write(&mut *conn, &schema, severity, &message) {
        log::warn!("could not write the log row of the run: {e}");
    }
    // The end of the undo window: payloads, quarantined files and anchors of old runs.
    if journal_broken.is_none() {
        for warning in crate::apply::expiry::at_run_end(
            config,
            &mut journal,
            &quarantine,
            &mut *conn,
            &journal_id,
            &run_id,
        ) {
            log::warn!("{warning}");
            report.warnings.push(warning);
        }
    }
    crate::apply::crashpoint("before-run-end");
    if journal_broken.is_none() {
        let end = Record::RunEnd {
            run_id: run_id.clone(),
            status: report.status.as_str().to_owned(),
            ended_utc: crate::clock::utc_stamp(),
            details: None,
        };
        match journal.append_durable(&end) {
            Ok(appended) => {
                if anchor_run_end(
                    &mut *conn,
                    &journal_id,
                    &run_id,
                    appended.seq,
                    &appended.hash.to_hex(),
                ) {
                    // The next start verifies from here once the anchor confirms it.
                    if let Err(e) = journal.write_checkpoint(&appended) {
                        log::warn!("journal: could not write the checkpoint: {e}");
                    }
                }
            }
            Err(e) => log::error!("journal: cannot record the end of run {run_id}: {e}"),
        }
    }
    let _ = conn.unlock();
    if let Some(target) = &config.zabbix {
        let clock = crate::clock::unix_seconds();
        let items = crate::report::zabbix::items(&report, &target.host, clock);
        match crate::report::zabbix::send(target, &items, clock) {
            Ok(info) => log::debug!("zabbix: {info}"),
            Err(e) => {
                log::warn!("{e}");
                report.warnings.push(e.to_string());
            }
        }
    }
    emit(&report, options.format);
    Ok(report)
}

fn anchor_run_end(
    conn: &mut dyn crate::db::Connection,
    journal_id: &str,
    run_id: &str,
    seq: u64,
    hash: &str,
) -> bool {
    let result = conn.begin().and_then(|mut tx| {
        anchor::insert(
            &mut *tx,
            journal_id,
            &anchor::Anchor {
                run_id: run_id.to_owned(),
                duty: "*".into(),
                chunk: 0,
                record_seq: seq,
                record_hash: hash.to_owned(),
                payload_digest: None,
                payload_len: None,
            },
        )?;
        tx.commit()
    });
    match result {
        Ok(()) => true,
        Err(e) => {
            log::warn!("could not anchor the end of run {run_id}: {e}");
            false
        }
    }
}

/// Prints the summary (stderr) and, with `--format json`, the report (stdout).
pub fn emit(report: &RunReport, format: Format) {
    eprintln!("{}", report.summary());
    if format == Format::Json {
        match serde_json::to_string_pretty(report) {
            Ok(text) => println!("{text}"),
            Err(e) => log::error!("encoding the report: {e}"),
        }
    }
}

/// Opens the journal for acting, after checking it against the database's anchors (see
/// `apply::trust`). Damage is exit 3 with the next steps; a lock held elsewhere exit 75.
///
/// # Errors
/// As above; a database error reading the anchors keeps its own exit code.
pub fn open_trusted(
    dir: &std::path::Path,
    journal_id: &str,
    witness: Option<trust::Witness<'_>>,
) -> Result<(Journal, housekeeper_journal::OpenReport), Failure> {
    match trust::open_journal(dir, journal_id, witness) {
        Ok(t) => {
            log::debug!(
                "journal: verified from {} against {} anchored records",
                t.from_checkpoint
                    .map_or_else(|| "the first record".to_owned(), |s| format!("record {s}")),
                t.anchors_checked
            );
            Ok((t.journal, t.opened))
        }
        Err(trust::TrustError::Database(e)) => Err(db_failure("reading the anchors", &e)),
        Err(trust::TrustError::Journal(e)) => Err(journal_failure(e)),
        Err(e @ trust::TrustError::Unanchored { .. }) => Err(damaged(format!("journal: {e}"))),
    }
}

/// Exit 3 for a journal that may not be relied on, with what to do next. Nothing was changed.
fn damaged(message: String) -> Failure {
    Failure::new(Exit::Integrity, message)
        .hint("nothing was changed; `housekeeper journal verify` shows the damage")
        .hint(
            "restore the state directory from a backup taken after the damaged record, or set \
             the journal aside and start a new one with `housekeeper journal reset --reason TEXT`",
        )
}

/// A journal that cannot be opened: exit 75 when another writer holds it, else 3.
#[must_use]
pub fn journal_failure(e: JournalError) -> Failure {
    match e {
        JournalError::Locked { .. } => Failure::new(Exit::Locked, format!("journal: {e}")),
        other => damaged(format!("journal: {other}")),
    }
}
