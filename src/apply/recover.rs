//! Recovery at start: closes, exactly, what a crashed run left open.
//!
//! A chunk whose outcome record is missing is committed if its anchor row exists in the
//! database (its row images are in the payload the anchor names) and was rolled back if not.
//! A file whose intent has no outcome is looked for where it actually is. Every resolution is
//! journaled as a `Recovery` record, the crashed run gets its `RunEnd` (`aborted`), and
//! payload blobs no record references (written before a COMMIT that never happened) are
//! removed — looked for only when a run was left open, the only way they come about. The
//! open runs come from the session's journal index: recovery does not read the journal's
//! history itself. Nothing here changes the MultiFlexi data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use housekeeper_journal::{
    Action, ChunkStatus, FileMeta, FileStatus, PayloadKind, PayloadRef, Record, TableChange, Value,
};
use housekeeper_journal::{Journal, JournalError, PayloadEntry, RowRole};

use super::anchor;
use crate::audit::index::{JournalIndex, RunInfo};
use crate::db::{Connection, DbError, SchemaFacts};
use crate::plan;
use crate::quarantine::Quarantine;

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error("reading anchors: {0}")]
    Db(#[from] DbError),
}

/// The runs of a journal directory that started and never ended.
///
/// # Errors
/// The journal could not be read.
pub fn open_runs(journal_dir: &Path) -> Result<Vec<String>, JournalError> {
    if !journal_dir.is_dir() {
        // As reading a journal that is not there: say so.
        housekeeper_journal::store::read_records(journal_dir)?;
    }
    Ok(JournalIndex::read(journal_dir)?
        .runs
        .into_iter()
        .filter(|r| r.end.is_none())
        .map(|r| r.run_id)
        .collect())
}

/// Closes every open run of the journal, as `index` (read from it when the session opened)
/// shows them. Returns one line per resolution, for the report.
///
/// # Errors
/// The journal could not be read or written, or the anchors could not be read.
pub fn recover(
    journal: &mut Journal,
    index: &JournalIndex,
    conn: &mut dyn Connection,
    schema: &SchemaFacts,
    key: &anchor::JournalKey,
    by_run: &str,
    quarantine: &Quarantine,
) -> Result<Vec<String>, RecoverError> {
    let mut notes = Vec::new();
    let open: Vec<&RunInfo> = index.runs.iter().filter(|r| r.end.is_none()).collect();
    for run in &open {
        let run_id = &run.run_id;
        let committed: BTreeSet<(&str, u32)> = run
            .duties
            .iter()
            .flat_map(|d| d.chunks.iter().map(|c| (d.duty.as_str(), c.chunk)))
            .collect();
        let anchors = if schema.table(anchor::TABLE).is_some() {
            let mut view = conn.snapshot()?;
            anchor::for_run(&mut *view, key, run_id)?
        } else {
            Vec::new()
        };
        for a in anchors.iter().filter(|a| a.duty != "*") {
            if committed.contains(&(a.duty.as_str(), a.chunk)) {
                continue;
            }
            let (changes, payload) = match a.payload_digest {
                Some(digest) if journal.payload_exists(&digest) => {
                    let changes = changes_from_payload(journal, &digest, schema)?;
                    let payload = PayloadRef {
                        digest,
                        len: a.payload_len.unwrap_or(0),
                        kind: PayloadKind::RowImages,
                    };
                    (changes, Some(payload))
                }
                _ => (Vec::new(), None),
            };
            journal.append(&Record::ChunkOutcome {
                run_id: run_id.clone(),
                duty: a.duty.clone(),
                chunk: a.chunk,
                items: Vec::new(),
                status: ChunkStatus::Committed,
                changes,
                drifted: Vec::new(),
                payload,
                error: None,
                error_payload: None,
            })?;
            journal.append(&Record::Recovery {
                run_id: run_id.clone(),
                duty: a.duty.clone(),
                chunk: Some(a.chunk),
                file_item: None,
                resolution: "committed".into(),
                by_run: by_run.to_owned(),
            })?;
            notes.push(format!(
                "run {run_id}: {} chunk {} had committed (anchor found); outcome recorded",
                a.duty, a.chunk
            ));
        }
        let interrupted = run
            .duties
            .iter()
            .filter(|d| d.plan.is_some() && d.end.is_none())
            .map(|d| &d.duty);
        for duty in interrupted {
            journal.append(&Record::Recovery {
                run_id: run_id.clone(),
                duty: duty.clone(),
                chunk: None,
                file_item: None,
                resolution: "interrupted".into(),
                by_run: by_run.to_owned(),
            })?;
            notes.push(format!("run {run_id}: {duty} was interrupted; chunks without an anchor were rolled back by the database"));
        }
        for file in run.files.iter().filter(|f| f.status.is_none()) {
            let (duty, item, path) = (&file.duty, &file.item, &file.path);
            let (qpath, meta) = (&file.quarantine_path, &file.meta);
            let (status, resolution) = if run.undo_of().is_some() {
                locate_restore(path.as_path(), qpath.as_path(), meta, quarantine)
            } else {
                locate(path.as_path(), qpath.as_path(), meta, quarantine)
            };
            notes.push(format!(
                "run {run_id}: file {}: {resolution}",
                crate::text::PathText(path)
            ));
            journal.append(&Record::FileOutcome {
                run_id: run_id.clone(),
                duty: duty.clone(),
                item: *item,
                status,
            })?;
            journal.append(&Record::Recovery {
                run_id: run_id.clone(),
                duty: duty.clone(),
                chunk: None,
                file_item: Some(*item),
                resolution,
                by_run: by_run.to_owned(),
            })?;
        }
        notes.push(format!(
            "run {run_id} was interrupted; its records are closed and it ends as aborted"
        ));
        journal.append_durable(&Record::RunEnd {
            run_id: run_id.clone(),
            status: "aborted".into(),
            ended_utc: crate::clock::utc_stamp(),
            details: None,
        })?;
    }
    match quarantine.discard_staging() {
        Ok(0) => {}
        Ok(n) => notes.push(format!(
            "removed {n} partial copy(ies) an interrupted move left in the quarantine"
        )),
        Err(e) => notes.push(format!("partial copies in the quarantine: {e}")),
    }
    // Blobs no record references are left only by a run that did not end (a crash before the
    // record naming them, or during an expiry): looking for them means reading the whole
    // journal, so only after such a run.
    let orphans = if open.is_empty() {
        Vec::new()
    } else {
        journal.remove_orphan_payloads()?
    };
    if !orphans.is_empty() {
        notes.push(format!(
            "removed {} row-image payload(s) of chunks that never committed",
            orphans.len()
        ));
    }
    Ok(notes)
}

/// Where a file whose move was interrupted actually is.
fn locate(
    original: &Path,
    quarantined: &Path,
    meta: &FileMeta,
    quarantine: &Quarantine,
) -> (FileStatus, String) {
    let at_original = std::fs::symlink_metadata(original).is_ok();
    let at_quarantine = std::fs::symlink_metadata(quarantined).is_ok();
    match (at_original, at_quarantine) {
        (false, true) => {
            let intact = match &meta.blake3 {
                Some(expected) => {
                    crate::quarantine::hash_file(quarantined).is_ok_and(|h| h == *expected)
                }
                None => true,
            };
            if intact {
                (FileStatus::Moved, "moved (found in the quarantine)".into())
            } else {
                (
                    FileStatus::Failed {
                        error: "hash_mismatch".into(),
                    },
                    "in the quarantine but its bytes differ from the recorded hash".into(),
                )
            }
        }
        (true, true) => {
            // A copy across filesystems was interrupted before the source was removed.
            match quarantine.discard_partial(quarantined) {
                Ok(()) => (
                    FileStatus::Skipped {
                        reason: "interrupted".into(),
                    },
                    "left in place (partial copy removed)".into(),
                ),
                Err(e) => (
                    FileStatus::Failed {
                        error: "io_error".into(),
                    },
                    format!("left in place; partial copy could not be removed: {e}"),
                ),
            }
        }
        (true, false) => (
            FileStatus::Skipped {
                reason: "interrupted".into(),
            },
            "left in place (never moved)".into(),
        ),
        (false, false) => (
            FileStatus::Failed {
                error: "lost".into(),
            },
            "found neither at its path nor in the quarantine".into(),
        ),
    }
}

/// Where a file whose move back (undo) was interrupted actually is.
fn locate_restore(
    original: &Path,
    quarantined: &Path,
    meta: &FileMeta,
    quarantine: &Quarantine,
) -> (FileStatus, String) {
    let at_original = std::fs::symlink_metadata(original).is_ok();
    let at_quarantine = std::fs::symlink_metadata(quarantined).is_ok();
    let intact_at_original = || crate::quarantine::compare(original, meta).is_ok();
    match (at_original, at_quarantine) {
        (true, false) => (FileStatus::Moved, "moved back (found at its path)".into()),
        (false, true) => (
            FileStatus::Skipped {
                reason: "interrupted".into(),
            },
            "still in the quarantine (never moved back)".into(),
        ),
        // A copy back across filesystems was interrupted before the quarantined file was
        // removed: complete it if the copy is whole, else leave both and say so.
        (true, true) if intact_at_original() => match quarantine.discard_partial(quarantined) {
            Ok(()) => (
                FileStatus::Moved,
                "moved back (the copy was whole; the quarantined file was removed)".into(),
            ),
            Err(e) => (
                FileStatus::Failed {
                    error: "io_error".into(),
                },
                format!("copied back, but the quarantined file could not be removed: {e}"),
            ),
        },
        (true, true) => (
            FileStatus::Failed {
                error: "partial_copy".into(),
            },
            format!(
                "still in the quarantine; {} holds other bytes (an interrupted copy, or a new file)",
                original.display()
            ),
        ),
        (false, false) => (
            FileStatus::Failed {
                error: "lost".into(),
            },
            "found neither at its path nor in the quarantine".into(),
        ),
    }
}

/// The keys a committed chunk changed, from its row images.
fn changes_from_payload(
    journal: &Journal,
    digest: &housekeeper_journal::Digest,
    schema: &SchemaFacts,
) -> Result<Vec<TableChange>, JournalError> {
    let mut by_table: BTreeMap<(String, u8), Vec<Value>> = BTreeMap::new();
    let mut key_at: Option<usize> = None;
    let mut table = String::new();
    for entry in journal.read_payload(digest)? {
        match entry? {
            PayloadEntry::Table { name, columns } => {
                let key = schema
                    .table(&name)
                    .and_then(|t| t.primary_key.first().cloned())
                    .unwrap_or_else(|| "id".into());
                key_at = columns.iter().position(|c| *c == key);
                table = name;
            }
            PayloadEntry::Row { role, values } => {
                let code = match role {
                    RowRole::Deleted => 0,
                    RowRole::After => 1,
                    RowRole::Inserted => 2,
                    RowRole::Before => continue,
                };
                if let Some(key) = key_at.and_then(|i| values.get(i)) {
                    by_table
                        .entry((table.clone(), code))
                        .or_default()
                        .push(key.clone());
                }
            }
            PayloadEntry::Json(_) => {}
        }
    }
    Ok(by_table
        .into_iter()
        .map(|((table, code), keys)| TableChange {
            table,
            action: match code {
                0 => Action::Delete,
                1 => Action::Update,
                _ => Action::Insert,
            },
            keys: plan::keyset(keys),
        })
        .collect())
}
