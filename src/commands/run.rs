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

/// The configuration read again (SIGHUP in daemon mode).
pub type Reload<'r> = dyn Fn() -> Result<Config, Failure> + 'r;

/// `housekeeper run`. `reload` reads the configuration again, for a daemon's SIGHUP.
///
/// # Errors
/// Configuration, database, lock or journal problems, with their exit codes.
pub fn command(config: &Config, args: &RunArgs, reload: &Reload<'_>) -> Result<Exit, Failure> {
    if config.dry_run {
        let plan_args = PlanArgs {
            duties: args.duties.clone(),
            format: args.format,
            out: None,
        };
        return super::plan::command(config, &plan_args);
    }
    let stop = stop_flag()?;
    if config.daemonize && args.once {
        log::info!("--once: one cycle, MULTIFLEXI_DAEMONIZE=true is not followed");
    }
    if !config.daemonize || args.once {
        let report = cycle(config, args, &stop)?;
        return Ok(report.exit());
    }
    daemon(config, args, &stop, reload)
}

/// Set by SIGHUP; a daemon takes it (re-reading its configuration) before its next cycle.
static HANGUP: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

/// A flag set by SIGTERM or SIGINT: the executor finishes the chunk it is in, then the run
/// stops. A second signal terminates at once. SIGHUP never ends the process: a daemon
/// re-reads its configuration before the next cycle, a single run ignores it.
///
/// # Errors
/// The handlers could not be installed.
pub fn stop_flag() -> Result<Arc<AtomicBool>, Failure> {
    let failed = |e: std::io::Error| {
        Failure::new(Exit::Failed, format!("installing the signal handler: {e}"))
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
            .map_err(failed)?;
    }
    let hangup = HANGUP.get_or_init(|| Arc::new(AtomicBool::new(false)));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(hangup)).map_err(failed)?;
    Ok(stop)
}

/// After a SIGHUP, the configuration read again; one that does not load is reported and the
/// current one kept. The next cycle (and pause) uses it.
fn reload_on_hangup(config: &mut Config, reload: &Reload<'_>) {
    let requested = HANGUP
        .get()
        .is_some_and(|flag| flag.swap(false, std::sync::atomic::Ordering::SeqCst));
    if !requested {
        return;
    }
    match reload() {
        Ok(fresh) => {
            log::info!("SIGHUP: configuration read again");
            *config = fresh;
        }
        Err(failure) => log::error!(
            "SIGHUP: the configuration does not load, the previous one stays: {}",
            failure.message
        ),
    }
}

/// Daemon mode (`MULTIFLEXI_DAEMONIZE=true`): a cycle, then `CYCLE_PAUSE` seconds, forever.
/// A cycle that fails (database down, lock held) is logged and retried after the pause. A
/// signal during a cycle ends it after the current chunk; during the pause it ends at once.
/// Either way the exit code is 0.
fn daemon(
    config: &Config,
    args: &RunArgs,
    stop: &AtomicBool,
    reload: &Reload<'_>,
) -> Result<Exit, Failure> {
    use std::sync::atomic::Ordering;
    log::info!(
        "daemon mode: a cycle every {} s (MULTIFLEXI_HOUSEKEEPER_CYCLE_PAUSE); stop with SIGTERM, reload the configuration with SIGHUP",
        config.cycle_pause_secs
    );
    let mut current = config.clone();
    let config = &mut current;
    loop {
        reload_on_hangup(config, reload);
        let began = std::time::Instant::now();
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
        log::info!(
            "cycle took {} ms; next cycle in {} s",
            began.elapsed().as_millis(),
            config.cycle_pause_secs
        );
        let until =
            std::time::Instant::now() + std::time::Duration::from_secs(config.cycle_pause_secs);
        while std::time::Instant::now() < until {
            reload_on_hangup(config, reload);
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
