//! Keeping the journal bounded (`MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS`): the first run of
//! each month starts a new journal segment, and once every run in the oldest segments started
//! more than the keep period ago, ended, and had its payloads destroyed at the end of its undo
//! window, those segments are folded: a durable `segments_folded` record, its anchor in the
//! database, then the files go. Verification then starts at the oldest remaining segment and
//! is vouched for by that record (journal/FORMAT.md, "Folding").
//!
//! Owns when to start a segment and which runs are old enough to fold; the journal store
//! decides which segments can go and removes them. It never folds the current run, a run
//! younger than the keep period, or anything while `JOURNAL_KEEP_DAYS` is 0, and never removes
//! a file before the fold record is anchored.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use housekeeper_journal::store::run_of;
use housekeeper_journal::{Journal, Record};

use super::anchor;
use crate::audit::JournalIndex;
use crate::db::Connection;

fn started(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The start of the run a record begins, if it begins one.
fn run_started(record: Option<&Record>) -> Option<DateTime<Utc>> {
    match record {
        Some(Record::RunStart { started_utc, .. }) => started(started_utc),
        _ => None,
    }
}

/// Before the run's `RunEnd`: folds what is past the keep period. Never fails the run:
/// problems come back as warnings for the report, and nothing is removed then.
pub fn at_run_end(
    keep_days: u32,
    now: DateTime<Utc>,
    journal: &mut Journal,
    conn: &mut dyn Connection,
    journal_id: &str,
    run_id: &str,
) -> Vec<String> {
    if keep_days == 0 {
        return Vec::new();
    }
    let cutoff = now - TimeDelta::days(i64::from(keep_days));
    match fold(cutoff, journal, conn, journal_id, run_id) {
        Ok(None) => Vec::new(),
        Ok(Some(note)) => {
            log::info!("{note}");
            Vec::new()
        }
        Err(e) => vec![format!(
            "the journal's segments older than {keep_days} days \
             (MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS) were not folded: {e}"
        )],
    }
}

fn fold(
    cutoff: DateTime<Utc>,
    journal: &mut Journal,
    conn: &mut dyn Connection,
    journal_id: &str,
    run_id: &str,
) -> Result<Option<String>, String> {
    // Cheap first: segments start at runs, so when the second segment's first run started
    // before the cutoff, every run of the oldest one did too. Only then is the journal read.
    let starts = journal.segment_starts().map_err(|e| e.to_string())?;
    if starts
        .get(1)
        .and_then(|(_, first)| run_started(first.as_ref()))
        .is_none_or(|s| s >= cutoff)
    {
        return Ok(None);
    }
    let index = JournalIndex::read(journal.dir()).map_err(|e| e.to_string())?;
    // Runs that must stay: this one, those not ended, and those started after the cutoff (or
    // at an unreadable time). A record of a run the index does not know (its start folded
    // earlier, or a journal reset) holds nothing back.
    let young: BTreeSet<&str> = index
        .runs
        .iter()
        .filter(|r| {
            r.run_id == run_id
                || r.end.is_none()
                || started(&r.started_utc).is_none_or(|s| s >= cutoff)
        })
        .map(|r| r.run_id.as_str())
        .chain([run_id])
        .collect();
    let plan = journal
        .plan_fold(&|record| !young.contains(run_of(record)))
        .map_err(|e| e.to_string())?;
    let Some(plan) = plan else {
        return Ok(None);
    };
    let key = anchor::JournalKey::chain(journal_id);
    if let Some(f) = &plan.vouched_by {
        let mut view = conn.snapshot().map_err(|e| e.to_string())?;
        let anchors = anchor::since(&mut *view, &key, f.record_seq).map_err(|e| e.to_string())?;
        if !anchor::vouches_for_fold(&anchors, f) {
            return Err(format!(
                "the journal starts at record {}, after a fold (record {}) that no anchor in \
                 the database confirms: nothing more is folded until `housekeeper journal \
                 verify` passes",
                f.before.seq + 1,
                f.record_seq
            ));
        }
    }
    let appended = journal
        .record_fold(&plan, run_id)
        .map_err(|e| e.to_string())?;
    // The fold's anchor, and the anchors of the records it folds (the fold vouches for them).
    let anchored = conn.begin().and_then(|mut tx| {
        anchor::drop_through(&mut *tx, &key, plan.last.seq)?;
        anchor::insert(
            &mut *tx,
            journal_id,
            &anchor::Anchor {
                run_id: run_id.to_owned(),
                duty: anchor::FOLD_DUTY.to_owned(),
                chunk: 0,
                record_seq: appended.seq,
                record_hash: appended.hash.to_hex(),
                payload_digest: None,
                payload_len: None,
            },
        )?;
        tx.commit()
    });
    anchored.map_err(|e| format!("anchoring the fold record {}: {e}", appended.seq))?;
    journal.remove_folded(&plan).map_err(|e| e.to_string())?;
    Ok(Some(format!(
        "folded {} journal segment(s) holding records {} to {}, every run in them older than \
         the keep period (record {})",
        plan.segments.len(),
        plan.first_seq,
        plan.last.seq,
        appended.seq
    )))
}

/// Before a run's `RunStart`: when the newest segment began in another month than `now` (or
/// not with a run), the run starts a new one, so a month can later be folded on its own.
pub fn start_month(journal: &mut Journal, now: DateTime<Utc>) -> Option<String> {
    let starts = match journal.segment_starts() {
        Ok(starts) => starts,
        Err(e) => return Some(format!("could not read the journal's segments: {e}")),
    };
    let newest = starts
        .last()
        .and_then(|(_, first)| run_started(first.as_ref()));
    let this_month = |t: DateTime<Utc>| (t.year(), t.month()) == (now.year(), now.month());
    if newest.is_some_and(this_month) {
        return None;
    }
    journal
        .start_segment()
        .err()
        .map(|e| format!("could not start a new journal segment: {e}"))
}
