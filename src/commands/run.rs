//! `housekeeper run` (the default command): a session (`crate::session`) whose planner plans
//! every selected duty; in daemon mode, one such session per cycle. With
//! `MULTIFLEXI_HOUSEKEEPER_DRY_RUN=true` or `--dry-run` it only plans.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use housekeeper_journal::RunKind;

use super::deselected;
use super::plan::plan_duty;
use crate::cli::{PlanArgs, RunArgs};
use crate::config::Config;
use crate::duties::{DutyContext, DutyName};
use crate::exit::{Exit, Failure};
use crate::report::{Mode, RunReport};
use crate::session::{self, Planned, SessionOptions};

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
    session::run(config, &options, &mut planner, stop)
}
