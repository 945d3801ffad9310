//! Expiry at the end of the undo window: the only code that destroys payload blobs and
//! quarantined files. Used at the end of every real run (cutoff `UNDO_DAYS` back from the
//! host clock, also pruning the old runs' anchors) and by `housekeeper quarantine expire`.
//! It decides from a journal index its caller read (a run's session reads the journal once,
//! when it opens), never by reading the journal itself.
//!
//! Protocol: for every run that started at or before the cutoff (never the current run),
//! each payload still present and not yet expired is destroyed through
//! `Journal::expire_payload` (a durable `PayloadExpired` record first, then the blob); each
//! file the run moved into the quarantine that is still there gets a durable
//! `QuarantineExpired` record, then `Quarantine::expire_run` removes the run's directory. A
//! crash in between leaves a destroyed-to-be item already recorded as expired, never an
//! unexplained absence, so `journal verify` still passes. Expiry never shortens the chain
//! (keys, names, paths, digests); only folding (`apply::fold`), after the much longer keep
//! period, removes old segments.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use housekeeper_journal::{Digest, FileStatus, Journal, JournalError, PathBytes, PayloadRef};
use serde::Serialize;

use crate::audit::JournalIndex;
use crate::quarantine::{Quarantine, QuarantineError};

/// Run ids per anchor-pruning statement.
const RUNS_PER_PRUNE: usize = 500;

/// What to destroy for one run.
#[derive(Debug, Clone)]
pub struct RunExpiry {
    pub run_id: String,
    pub payloads: Vec<PayloadRef>,
    /// Quarantine path, recorded hash and size of each file still in the quarantine.
    pub files: Vec<(PathBytes, Option<Digest>, u64)>,
}

/// What an expiry would destroy, decided from the journal without writing anything.
#[derive(Debug, Clone, Default)]
pub struct ExpiryPlan {
    /// Runs with something left to destroy.
    pub runs: Vec<RunExpiry>,
    /// Every run (but the current one) started at or before the cutoff.
    pub due: Vec<String>,
}

impl ExpiryPlan {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

/// What an expiry destroyed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Expired {
    /// Runs some of whose payloads or files were destroyed.
    pub runs: Vec<String>,
    pub payloads: u64,
    /// Uncompressed bytes of the destroyed payloads.
    pub payload_bytes: u64,
    pub files: u64,
    pub file_bytes: u64,
}

/// Why an expiry stopped (what it destroyed before is recorded in the journal).
#[derive(Debug, thiserror::Error)]
pub enum ExpiryError {
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error("quarantine of run {run_id}: {source}")]
    Quarantine {
        run_id: String,
        source: QuarantineError,
    },
}

/// `now` (the host clock, `clock::host_utc`) minus `age`.
///
/// # Errors
/// An age too large for the calendar.
pub fn cutoff(now: DateTime<Utc>, age: std::time::Duration) -> Result<DateTime<Utc>, String> {
    chrono::TimeDelta::from_std(age)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| format!("an age of {} s reaches before the calendar", age.as_secs()))
}

fn started(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Decides what to destroy: runs of `index` started at or before `cutoff`, except
/// `current_run`, with what of them is still in `journal_dir` and the quarantine.
#[must_use]
pub fn plan(
    index: &JournalIndex,
    journal_dir: &std::path::Path,
    cutoff: DateTime<Utc>,
    current_run: Option<&str>,
) -> ExpiryPlan {
    let restored = index.restored_paths();
    let blob = |d: &Digest| {
        journal_dir
            .join(housekeeper_journal::verify::blob_relative_path(d))
            .is_file()
    };
    let mut out = ExpiryPlan::default();
    for run in &index.runs {
        if Some(run.run_id.as_str()) == current_run
            || started(&run.started_utc).is_none_or(|s| s > cutoff)
        {
            continue;
        }
        out.due.push(run.run_id.clone());
        let mut seen: BTreeSet<Digest> = BTreeSet::new();
        let payloads: Vec<PayloadRef> = run
            .payload_refs
            .iter()
            .filter(|p| !run.expired_payloads.contains(&p.digest) && blob(&p.digest))
            .filter(|p| seen.insert(p.digest))
            .cloned()
            .collect();
        let files: Vec<(PathBytes, Option<Digest>, u64)> = if run.undo_of().is_some() {
            Vec::new()
        } else {
            run.files
                .iter()
                .filter(|f| matches!(f.status, Some(FileStatus::Moved)))
                .filter(|f| !restored.contains(&f.quarantine_path))
                .filter(|f| !run.expired_files.contains(&f.quarantine_path))
                .filter(|f| std::fs::symlink_metadata(f.quarantine_path.as_path()).is_ok())
                .map(|f| (f.quarantine_path.clone(), f.meta.blake3, f.meta.size))
                .collect()
        };
        if !payloads.is_empty() || !files.is_empty() {
            out.runs.push(RunExpiry {
                run_id: run.run_id.clone(),
                payloads,
                files,
            });
        }
    }
    out
}

/// Destroys what `plan` decided, each item recorded durably before it goes.
///
/// # Errors
/// The journal or the quarantine failed; what was destroyed before is recorded.
pub fn apply(
    journal: &mut Journal,
    quarantine: &Quarantine,
    plan: &ExpiryPlan,
    reason: &str,
) -> Result<Expired, ExpiryError> {
    let mut done = Expired::default();
    for run in &plan.runs {
        for payload in &run.payloads {
            journal.expire_payload(&payload.digest, &run.run_id, reason)?;
            done.payloads += 1;
            done.payload_bytes += payload.len;
        }
        for (path, blake3, size) in &run.files {
            journal.append_durable(&housekeeper_journal::Record::QuarantineExpired {
                run_id: run.run_id.clone(),
                path: path.clone(),
                blake3: *blake3,
            })?;
            done.files += 1;
            done.file_bytes += size;
        }
        if !run.files.is_empty() {
            quarantine
                .expire_run(&run.run_id)
                .map_err(|source| ExpiryError::Quarantine {
                    run_id: run.run_id.clone(),
                    source,
                })?;
        }
        done.runs.push(run.run_id.clone());
    }
    Ok(done)
}

/// One line for people: `2 run(s): 5 payload(s) (1234 bytes), 3 file(s) (99 bytes)`.
#[must_use]
pub fn summary(done: &Expired) -> String {
    format!(
        "{} run(s): {} payload(s) ({} bytes of row images and plans), {} quarantined file(s) ({} bytes)",
        done.runs.len(),
        done.payloads,
        done.payload_bytes,
        done.files,
        done.file_bytes
    )
}

/// The expiry at the end of a real run: cutoff `UNDO_DAYS` back from the session's host
/// clock `now`, over `earlier`, the index of the runs before this one (read when the session
/// opened, after recovery); then the anchors of the expired runs are pruned in one short
/// transaction, never the newest. Never fails the run: problems come back as warnings for
/// the report.
pub fn at_run_end(
    config: &crate::config::Config,
    now: DateTime<Utc>,
    earlier: &JournalIndex,
    journal: &mut Journal,
    quarantine: &Quarantine,
    conn: &mut dyn crate::db::Connection,
    journal_id: &str,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let age = std::time::Duration::from_secs(u64::from(config.undo_days) * 86_400);
    let cutoff = match cutoff(now, age) {
        Ok(c) => c,
        Err(e) => {
            warnings.push(format!("expiry skipped: {e}"));
            return warnings;
        }
    };
    let planned = plan(earlier, journal.dir(), cutoff, None);
    if !planned.is_empty() {
        match apply(
            journal,
            quarantine,
            &planned,
            "undo window ended (MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS)",
        ) {
            Ok(done) => log::info!(
                "expired, past the {}-day undo window: {}",
                config.undo_days,
                summary(&done)
            ),
            Err(e) => warnings.push(format!("expiry stopped: {e}")),
        }
    }
    if planned.due.is_empty() {
        return warnings;
    }
    if let Err(e) = prune_anchors(conn, journal_id, &planned.due) {
        warnings.push(format!(
            "could not prune the anchors of runs past the undo window: {e}"
        ));
    }
    warnings
}

/// Deletes this journal's anchors of `runs`, except those of the run holding the newest
/// anchor, in one transaction.
fn prune_anchors(
    conn: &mut dyn crate::db::Connection,
    journal_id: &str,
    runs: &[String],
) -> crate::db::DbResult<u64> {
    let key = super::anchor::JournalKey::chain(journal_id);
    let newest = {
        let mut view = conn.snapshot()?;
        super::anchor::latest(&mut *view, &key)?.map(|a| a.run_id)
    };
    let runs: Vec<String> = runs
        .iter()
        .filter(|r| Some(*r) != newest.as_ref())
        .cloned()
        .collect();
    if runs.is_empty() {
        return Ok(0);
    }
    let mut tx = conn.begin()?;
    let mut pruned = 0;
    for batch in runs.chunks(RUNS_PER_PRUNE) {
        pruned += super::anchor::prune(&mut *tx, &key, batch)?;
    }
    tx.commit()?;
    Ok(pruned)
}
