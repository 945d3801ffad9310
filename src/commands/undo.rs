//! `housekeeper undo <run-id>`: puts back what a run changed (docs/UNDO.md).
//!
//! Steps: read the journal index and refuse what cannot be undone (unknown run, an undo, a
//! run everything of which was restored, past its undo window, another database); read the
//! selection (`--table/--id`, `--path`) and check it against what the run changed; verify the
//! chain; build the inverse plans from the run's row images (each payload confirmed against
//! its digest), leaving out what earlier undos of the run restored;
//! with `--dry-run` or `--strict`, predict the conflicts; then hand the plans, duties in
//! reverse order, to the same session and executor as `run` — journaled, anchored, in
//! chunks. Restored items are on hold for `HOLD_DAYS` (`audit::history`).

use std::path::Path;

use serde::Serialize;

use housekeeper_journal::RunKind;

use super::{open_database, require_database};
use crate::audit::{JournalIndex, RunInfo};
use crate::cli::{Failure, Format, UndoArgs};
use crate::config::Config;
use crate::db::{Connection, SchemaFacts};
use crate::exit::Exit;
use crate::plan::DutyPlan;
use crate::quarantine::Quarantine;
use crate::report::{reason_text, Mode};
use crate::session::{self, Planned, SessionOptions};
use crate::state::StateDir;
use crate::text::Escaped;
use crate::undo::{self, Conflict, Selection, UndoError, UndoPlan};

/// What `undo --dry-run --format json` prints.
#[derive(Serialize)]
struct DryRun<'a> {
    /// `housekeeper.undo-plan/v2`.
    format: &'static str,
    run_id: &'a str,
    /// Rows and files the undo would restore.
    restorable: u64,
    conflicts: &'a [Conflict],
    plans: &'a [DutyPlan],
}

fn integrity(run_id: &str, e: &impl std::fmt::Display) -> Failure {
    Failure::new(
        Exit::Integrity,
        format!("undo of run {run_id}: the journal cannot be trusted: {e}; nothing was changed"),
    )
    .hint("run `housekeeper journal verify` for details")
}

fn undo_failure(run_id: &str, e: UndoError) -> Failure {
    match e {
        UndoError::Journal(e) => integrity(run_id, &e),
        UndoError::Db(e) => super::db_failure(&format!("undo of run {run_id}"), &e),
        UndoError::File(e) => Failure::new(
            Exit::Integrity,
            format!("undo of run {run_id}: quarantine: {e}; nothing was changed"),
        ),
        UndoError::Other(e) => Failure::new(Exit::Integrity, format!("undo of run {run_id}: {e}")),
    }
}

/// `housekeeper undo`.
///
/// # Errors
/// Configuration, database, lock or journal problems, and refusals, with their exit codes.
pub fn command(config: &Config, args: &UndoArgs) -> Result<Exit, Failure> {
    let run_id = args.run_id.as_str();
    let target = require_database(config)?;
    let state = StateDir::new(config.state_dir.clone());
    let journal_dir = state.journal_dir();
    // Verified before anything: reading the index checks the whole hash chain, and each
    // payload is checked against its digest as the inverse plans read it.
    let index = JournalIndex::read(&journal_dir).map_err(|e| integrity(run_id, &e))?;
    let run = find_run(&index, run_id, &state, &journal_dir)?;
    let duty = args.duty.map(crate::duties::DutyName::as_str);
    if let Some(why) = run.not_undoable(duty) {
        return Err(Failure::new(Exit::Failed, format!("refused: {why}")));
    }

    let mut conn = open_database(config, target, true)?;
    same_database(&mut *conn, run, run_id)?;
    let schema = conn
        .introspect()
        .map_err(|e| super::db_failure("reading the schema", &e))?;
    // An interrupted run (perhaps an earlier undo of this run) is closed by the session's
    // recovery; the plans are then built again from what the journal says after it.
    let interrupted = index
        .runs
        .iter()
        .find(|r| r.end.is_none())
        .map(|r| r.run_id.clone());
    let selection = selection(args, &schema, run)?;
    let already = run.restored_items();
    let scope = undo::Scope {
        duty: args.duty,
        already: &already,
        selection: selection.as_ref(),
    };
    let inverse =
        undo::inverse(run, &journal_dir, &schema, &scope).map_err(|e| undo_failure(run_id, e))?;
    if inverse.plans.is_empty() && inverse.unavailable.is_empty() && interrupted.is_none() {
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "refused: {} of run {run_id} was already restored by run {}; nothing is restored twice",
                if selection.is_some() { "what was selected" } else { "what remains" },
                run.restorers(args.duty.map(crate::duties::DutyName::as_str)).join(", run ")
            ),
        )
        .hint(format!("`housekeeper journal show {run_id}` says what is restored and what remains")));
    }
    let quarantine = Quarantine::new(state.quarantine_dir());

    if let (Some(open), true) = (&interrupted, args.dry_run || args.strict) {
        return Err(Failure::new(
            Exit::Failed,
            format!("refused: run {open} was interrupted and its records are still open, so what it changed is not known yet"),
        )
        .hint(format!("`housekeeper undo {run_id}` without --dry-run/--strict, or `housekeeper run`, closes them first")));
    }

    if args.dry_run || args.strict {
        let conflicts = predict(
            &mut *conn,
            &schema,
            &inverse,
            (&quarantine, &journal_dir),
            run_id,
        )?;
        if args.dry_run {
            show_dry_run(run_id, &inverse, &conflicts, args.format);
            return Ok(if conflicts.is_empty() {
                Exit::Ok
            } else {
                Exit::Failed
            });
        }
        if !conflicts.is_empty() {
            show_conflicts(&conflicts);
            return Err(Failure::new(
                Exit::Failed,
                format!(
                    "--strict: the undo of run {run_id} would meet {} conflict(s); nothing was changed",
                    conflicts.len()
                ),
            )
            .hint("without --strict, undo restores everything else and reports these items"));
        }
    }
    drop(conn);

    let unavailable = inverse.unavailable.len();
    if unavailable > 0 {
        show_conflicts(&inverse.unavailable);
        log::warn!(
            "{unavailable} item(s) of run {run_id} cannot be restored: their row images expired"
        );
    }
    let stop = super::run::stop_flag()?;
    let of = run.run_id.clone();
    // Each plan is handed over once (moved, not copied: an undo of a big prune is big).
    let mut plans = interrupted.is_none().then_some(inverse.plans);
    let mut planner = |_: &mut dyn crate::db::Connection,
                       name,
                       ctx: &crate::duties::DutyContext<'_>| {
        let plans = plans
            .get_or_insert_with(|| rebuilt_plans(&journal_dir, &of, ctx, args, selection.as_ref()));
        match plans.iter().position(|p| p.duty == name) {
            Some(at) => Planned::Plan(plans.swap_remove(at)),
            None if args.duty.is_some_and(|d| d != name) => {
                Planned::Skip("not selected by --duty".into())
            }
            None if selection.is_some() => {
                Planned::Skip("nothing selected by --table/--id or --path".into())
            }
            None => Planned::Skip(format!("run {of} changed nothing here")),
        }
    };
    let options = SessionOptions {
        mode: Mode::Undo,
        kind: RunKind::Undo {
            of_run: run.run_id.clone(),
        },
        fixed_now: None,
        format: args.format,
        reverse: true,
        strict: args.strict,
    };
    let report = session::run(config, &options, &mut planner, &stop)?;
    if unavailable > 0 {
        return Ok(Exit::Failed);
    }
    Ok(report.exit())
}

/// The run `run_id` of the journal; a run only a journal set aside by `journal reset` holds
/// is refused, an unknown one is a usage error.
fn find_run<'i>(
    index: &'i JournalIndex,
    run_id: &str,
    state: &StateDir,
    journal_dir: &Path,
) -> Result<&'i RunInfo, Failure> {
    if let Some(run) = index.run(run_id) {
        return Ok(run);
    }
    let asides = crate::audit::set_aside::read_all(&state.set_aside_journals());
    if let Some(aside) = crate::audit::set_aside::find(&asides, run_id) {
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "refused: {}",
                crate::audit::set_aside::undo_refusal(run_id, aside)
            ),
        ));
    }
    Err(Failure::new(
        Exit::Usage,
        format!(
            "no run {run_id} in the journal at {}",
            journal_dir.display()
        ),
    )
    .hint("`housekeeper journal list` shows the runs and whether each can be undone"))
}

/// Refuses an undo on another database than the one the run changed.
fn same_database(conn: &mut dyn Connection, run: &RunInfo, run_id: &str) -> Result<(), Failure> {
    let identity = conn
        .identity()
        .map_err(|e| super::db_failure("identifying the database", &e))?;
    if identity != run.database {
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "refused: run {run_id} changed {}, not {identity}",
                run.database
            ),
        )
        .hint("point --database (or DB_*) at the database the run changed"));
    }
    Ok(())
}

/// The conflicts the undo would meet: the items whose images expired, and those the
/// database or the quarantine would refuse now (read through a read-only view).
fn predict(
    conn: &mut dyn Connection,
    schema: &SchemaFacts,
    inverse: &UndoPlan,
    (quarantine, journal_dir): (&Quarantine, &Path),
    run_id: &str,
) -> Result<Vec<Conflict>, Failure> {
    let mut conflicts = inverse.unavailable.clone();
    let mut view = conn
        .snapshot()
        .map_err(|e| super::db_failure("opening a read-only view", &e))?;
    conflicts.extend(
        undo::predict(&mut *view, schema, &inverse.plans, quarantine, journal_dir)
            .map_err(|e| undo_failure(run_id, e))?,
    );
    Ok(conflicts)
}

/// The inverse plans built again from the journal after the session's recovery closed an
/// interrupted run; when that fails, every duty's plan fails with the reason.
fn rebuilt_plans(
    journal_dir: &Path,
    of: &str,
    ctx: &crate::duties::DutyContext<'_>,
    args: &UndoArgs,
    selection: Option<&Selection>,
) -> Vec<DutyPlan> {
    let rebuilt = JournalIndex::read(journal_dir)
        .map_err(UndoError::Journal)
        .and_then(|index| {
            let run = index
                .run(of)
                .ok_or_else(|| UndoError::Other(format!("run {of} vanished from the journal")))?;
            let already = run.restored_items();
            let scope = undo::Scope {
                duty: args.duty,
                already: &already,
                selection,
            };
            undo::inverse(run, journal_dir, ctx.schema, &scope)
        });
    match rebuilt {
        Ok(inverse) => inverse.plans,
        Err(e) => crate::duties::DutyName::ALL
            .iter()
            .map(|d| {
                DutyPlan::failed(
                    *d,
                    ctx.now,
                    format!("building the undo after recovery: {e}"),
                )
            })
            .collect(),
    }
}

/// `--table/--id` and `--path`: the rows (keys read by their key column's type) and files to
/// restore, each checked against what the run changed; `None` without them.
fn selection(
    args: &UndoArgs,
    schema: &SchemaFacts,
    run: &RunInfo,
) -> Result<Option<Selection>, Failure> {
    if args.table.is_empty() && args.path.is_empty() {
        return Ok(None);
    }
    let usage = |e: &dyn std::fmt::Display| {
        Failure::new(
            Exit::Usage,
            format!("undo of run {}: {e}; nothing was changed", run.run_id),
        )
        .hint(format!(
            "`housekeeper journal show {}` lists what the run changed",
            run.run_id
        ))
    };
    if args.table.len() != args.id.len() {
        return Err(Failure::new(
            Exit::Usage,
            "undo: each --table needs its --id (one pair per row)",
        )
        .hint("e.g. housekeeper undo <RUN-ID> --table job --id 42 --table log --id 7"));
    }
    let mut selection = Selection::default();
    for (table, id) in args.table.iter().zip(&args.id) {
        let key = undo::select::parse_key(schema, table, id).map_err(|e| usage(&e))?;
        selection.rows.insert((table.clone(), key));
    }
    for path in &args.path {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        selection.paths.insert(path.as_path().into());
    }
    undo::select::check(
        run,
        args.duty.map(crate::duties::DutyName::as_str),
        &selection,
    )
    .map_err(|e| usage(&e))?;
    Ok(Some(selection))
}

fn conflict_lines(conflicts: &[Conflict]) -> String {
    conflicts
        .iter()
        .map(|c| {
            format!(
                "  conflict: {} {} {}: {}\n",
                c.duty,
                Escaped(&c.table),
                Escaped(&c.key),
                Escaped(reason_text(&c.reason))
            )
        })
        .collect()
}

fn show_conflicts(conflicts: &[Conflict]) {
    eprint!("{}", conflict_lines(conflicts));
}

fn show_dry_run(run_id: &str, inverse: &UndoPlan, conflicts: &[Conflict], format: Format) {
    let restorable = inverse.size().saturating_sub(conflicts.len() as u64);
    if format == Format::Json {
        let doc = DryRun {
            format: "housekeeper.undo-plan/v2",
            run_id,
            restorable,
            conflicts,
            plans: &inverse.plans,
        };
        match serde_json::to_string_pretty(&doc) {
            Ok(text) => println!("{text}"),
            Err(e) => log::error!("encoding the undo plan: {e}"),
        }
        return;
    }
    println!("undo of run {run_id} (dry run: nothing is changed)");
    for plan in &inverse.plans {
        print!("{}", crate::plan::render::duty_plan_brief(plan, 20));
    }
    print!("{}", conflict_lines(conflicts));
    println!(
        "the undo would restore {restorable} rows and files; {} conflict(s)",
        conflicts.len()
    );
}
