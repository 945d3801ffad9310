//! `housekeeper journal list|show|find|verify|erasures`: the journal for people and auditors.
//!
//! Read-only: takes no lock, writes nothing, and works without a database configured
//! (`verify` and `erasures` then say the anchors were not checked). The work is in
//! `crate::audit`; this module reads the arguments, reads the newest database anchor for
//! `verify` and `erasures`, and prints.

use std::path::Path;

use housekeeper_journal::{ChainHead, Digest};
use serde::Serialize;

use super::open_database;
use crate::apply::anchor;
use crate::audit::verify::Expected;
use crate::audit::{erasures, find, set_aside, show, verify, JournalIndex};
use crate::cli::{Failure, Format, JournalCommand, ReportFormat};
use crate::config::Config;
use crate::exit::Exit;
use crate::state::StateDir;

/// `housekeeper journal …`.
///
/// # Errors
/// The journal could not be read, with its exit code.
pub fn command(config: &Config, command: &JournalCommand) -> Result<Exit, Failure> {
    let state = StateDir::new(config.state_dir.clone());
    let dir = state.journal_dir();
    match command {
        JournalCommand::List { format } => {
            let index = read_index(&dir)?;
            let mut list = show::list(&index, &dir, config.undo_days);
            list.set_aside = set_aside::read_all(&state.set_aside_journals())
                .iter()
                .map(set_aside::SetAsideList::of)
                .collect();
            match format {
                Format::Json => print_json(&list)?,
                Format::Text => print!("{}", show::list_text(&list)),
            }
            Ok(Exit::Ok)
        }
        JournalCommand::Show { run_id, format } => {
            let index = read_index(&dir)?;
            let asides = set_aside::read_all(&state.set_aside_journals());
            let found = index
                .run(run_id.trim())
                .map(|run| (&index, run, &dir))
                .or_else(|| {
                    set_aside::find(&asides, run_id.trim()).and_then(|a| {
                        a.index
                            .run(run_id.trim())
                            .map(|run| (&a.index, run, &a.dir))
                    })
                });
            let Some((index, run, dir)) = found else {
                return Err(Failure::new(
                    Exit::Usage,
                    format!(
                        "no run {run_id} in the journal at {} ({} run(s) there)",
                        dir.display(),
                        index.runs.len()
                    ),
                )
                .hint("`housekeeper journal list` shows the run ids"));
            };
            if *dir != state.journal_dir() {
                eprintln!(
                    "note: run {} is recorded in the journal set aside in {} by `journal reset`; \
                     it can be shown, not undone",
                    run.run_id,
                    dir.display()
                );
            }
            let window = (*dir == state.journal_dir()).then_some(config.undo_days);
            match format {
                Format::Json => print_json(&show::show(index, run, dir, None, window))?,
                Format::Text => {
                    let detail = show::show(index, run, dir, Some(show::MAX_TEXT_ROWS), window);
                    print!("{}", show::show_text(&detail));
                }
            }
            Ok(Exit::Ok)
        }
        JournalCommand::Find {
            table,
            id,
            path,
            format,
        } => {
            let index = read_index(&dir)?;
            let result = match (table, id, path) {
                (Some(table), Some(id), None) => find::find_row(&index, &dir, table, id),
                (None, None, Some(path)) => {
                    let mut result = find::find_path(&index, &path.as_path().into());
                    if result.files.is_empty() && path.is_relative() {
                        if let Ok(absolute) = std::path::absolute(path) {
                            result = find::find_path(&index, &absolute.as_path().into());
                        }
                    }
                    result
                }
                _ => {
                    return Err(Failure::new(
                        Exit::Usage,
                        "journal find needs either --table TABLE --id KEY, or --path PATH",
                    )
                    .hint("e.g. housekeeper journal find --table job --id 42"))
                }
            };
            match format {
                Format::Json => print_json(&result)?,
                Format::Text => print!("{}", find::find_text(&result, &dir)),
            }
            Ok(Exit::Ok)
        }
        JournalCommand::Verify { format } => verify_command(config, &state, &dir, *format),
        JournalCommand::Erasures {
            since,
            until,
            table,
            format,
        } => {
            let filter = erasures::Filter {
                since: *since,
                until: *until,
                table: table.clone(),
            };
            erasures_command(config, &state, &dir, &filter, *format)
        }
        JournalCommand::Reset { reason } => super::reset::command(config, reason),
    }
}

fn read_index(dir: &Path) -> Result<JournalIndex, Failure> {
    JournalIndex::read(dir).map_err(|e| {
        Failure::new(
            Exit::Integrity,
            format!("reading the journal in {}: {e}", dir.display()),
        )
        .hint("run `housekeeper journal verify` for the exact record and byte offset")
    })
}

/// Writes `value` to stdout as it is serialized (a run's row images are read while written,
/// never collected).
fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    use std::io::Write;
    let failed = |e: &dyn std::fmt::Display| {
        Failure::new(Exit::Failed, format!("writing the JSON output: {e}"))
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value).map_err(|e| failed(&e))?;
    writeln!(out)
        .and_then(|()| out.flush())
        .map_err(|e| failed(&e))
}

/// The newest anchor of this host's journal in the database, read-only.
fn expected_head(config: &Config, state: &StateDir) -> Expected {
    let Some(target) = &config.database else {
        return Expected::NotChecked(
            "no database configured (set DB_* or --database to compare with its anchors)".into(),
        );
    };
    let key = anchor::JournalKey::of(state);
    if key.chain.is_none() && key.legacy.is_none() {
        return Expected::NoAnchor(format!(
            "no journal in {} yet: no run has anchored anything",
            state.root().display()
        ));
    }
    let journal_id = key.to_string();
    let mut conn = match open_database(config, target, true) {
        Ok(conn) => conn,
        Err(failure) => return Expected::NotChecked(failure.message),
    };
    let schema = match conn.introspect() {
        Ok(schema) => schema,
        Err(e) => return Expected::NotChecked(format!("reading the schema of {target}: {e}")),
    };
    if schema.table(anchor::TABLE).is_none() {
        return Expected::NoAnchor(format!(
            "{target} has no {} table yet (the first real run creates it)",
            anchor::TABLE
        ));
    }
    let anchors = conn
        .snapshot()
        .and_then(|mut view| anchor::since(&mut *view, &key, 0));
    let anchors = match anchors {
        Err(e) => return Expected::NotChecked(format!("reading {}: {e}", anchor::TABLE)),
        Ok(a) if a.is_empty() => {
            return Expected::NoAnchor(format!(
                "{target} holds no anchor of journal {journal_id} yet"
            ))
        }
        Ok(a) => a,
    };
    let mut all = Vec::with_capacity(anchors.len());
    let mut folds = Vec::new();
    for a in &anchors {
        match Digest::from_hex(&a.record_hash) {
            Some(hash) => {
                let at = ChainHead {
                    seq: a.record_seq,
                    hash,
                };
                all.push(at);
                if a.duty == anchor::FOLD_DUTY {
                    folds.push(at);
                }
            }
            None => {
                return Expected::NotChecked(format!(
                    "the anchor of run {} (record {}) holds no readable record hash",
                    a.run_id, a.record_seq
                ))
            }
        }
    }
    let newest = anchors
        .iter()
        .zip(&all)
        .max_by_key(|(a, _)| a.record_seq)
        .map(|(a, h)| (a.run_id.clone(), *h));
    match newest {
        Some((run_id, head)) => Expected::Head {
            run_id,
            head,
            all,
            folds,
        },
        None => Expected::NoAnchor(format!(
            "{target} holds no anchor of journal {journal_id} yet"
        )),
    }
}

/// The journal in `dir` verified against the anchors the database holds (as far as it can
/// be reached), as `journal verify` and `journal erasures` report it.
fn verified(
    config: &Config,
    state: &StateDir,
    dir: &Path,
) -> Result<verify::VerifyResult, Failure> {
    let expected = expected_head(config, state);
    verify::verify(dir, &expected).map_err(|e| unreadable_journal(dir, &e))
}

fn unreadable_journal(dir: &Path, e: &dyn std::fmt::Display) -> Failure {
    Failure::new(
        Exit::Integrity,
        format!("reading the journal in {}: {e}", dir.display()),
    )
}

fn verify_command(
    config: &Config,
    state: &StateDir,
    dir: &Path,
    format: Format,
) -> Result<Exit, Failure> {
    let result = verified(config, state, dir)?;
    if format == Format::Json {
        print_json(&result)?;
        return Ok(if result.ok { Exit::Ok } else { Exit::Integrity });
    }
    print!("{}", verify::verify_text(&result));
    if result.ok {
        return Ok(Exit::Ok);
    }
    let first = result
        .damage
        .first()
        .map(|d| d.message.clone())
        .or_else(|| result.quarantine_damage.first().map(|q| q.message.clone()))
        .unwrap_or_default();
    let count = result.damage_count + result.quarantine_damage.len() as u64;
    Err(Failure::new(
        Exit::Integrity,
        format!(
            "{count} integrity problem(s) in {}; the first: {first}",
            state.root().display()
        ),
    )
    .hint("docs/AUDIT.md says what each kind of damage means; keep a copy of the state directory before changing anything"))
}

/// `journal erasures`: the journal verified as by `journal verify`, then the report read from
/// it (up to its first damage when it is damaged). Exit 3 when the verification failed.
fn erasures_command(
    config: &Config,
    state: &StateDir,
    dir: &Path,
    filter: &erasures::Filter,
    format: ReportFormat,
) -> Result<Exit, Failure> {
    let result = verified(config, state, dir)?;
    let (index, damage) =
        JournalIndex::read_lenient(dir).map_err(|e| unreadable_journal(dir, &e))?;
    let mut report = erasures::report(
        &index,
        dir,
        filter,
        config.undo_days,
        erasures::Verification::of(&result),
    );
    report.read_until_damage = damage.map(|e| e.to_string());
    match format {
        ReportFormat::Json => {
            print_json(&report)?;
            return Ok(if result.ok { Exit::Ok } else { Exit::Integrity });
        }
        ReportFormat::Text => print!("{}", erasures::text(&report)),
        ReportFormat::Csv => print!("{}", erasures::csv(&report)),
    }
    if result.ok {
        return Ok(Exit::Ok);
    }
    let first = report
        .verification
        .damage
        .first()
        .cloned()
        .unwrap_or_default();
    Err(Failure::new(
        Exit::Integrity,
        format!(
            "the journal in {} failed verification (the first problem: {first}): this erasure report cannot be trusted",
            dir.display()
        ),
    )
    .hint("`housekeeper journal verify` names each problem; docs/AUDIT.md says what each kind of damage means"))
}
