//! Before acting: the journal is opened only after it was checked against the database's
//! anchors. Every command that acts on the journal (`run` and daemon cycles, `apply`, `undo`,
//! `quarantine expire`, and through them the end-of-run expiry) opens its journal here.
//!
//! What is established, without reading the whole history each time:
//! - the chain from a **checkpoint** to the head: the checkpoint is the last run end this tool
//!   anchored; it is used only when the database holds an anchor with the same record and
//!   hash (the file alone proves nothing), else the chain is verified from its first record;
//! - **every anchored record** from there on is on the chain with the anchored hash (a
//!   re-hashed, swapped or rewritten journal fails), and none lies beyond the journal's end
//!   (a journal restored from an older backup, or cut, fails); an incomplete tail is cut only
//!   when it lies after the last anchored record;
//! - a journal that has recorded finished runs on this database while the database holds no
//!   anchor of its id at all (anchors deleted, or the journal replaced by another);
//! - a journal whose oldest segments were folded (seen when the chain is verified from its
//!   first record) starts where a fold record the database anchored as such says: segments
//!   removed by anyone else are damage.
//!
//! Owns that decision; it never repairs anything but a harmless torn tail (through the
//! journal store) and never writes to the database.

use std::path::Path;

use housekeeper_journal::store::{read_checkpoint, read_records, Checkpoint};
use housekeeper_journal::{ChainHead, Digest, Journal, JournalError, JournalOptions, OpenReport};
use housekeeper_journal::{Record, RunKind};

use super::anchor::{self, Anchor};
use crate::db::{Connection, DbError, SchemaFacts};

/// Why the journal may not be relied on.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("reading housekeeper_anchor: {0}")]
    Database(#[from] DbError),
    #[error("{0}")]
    Journal(#[from] JournalError),
    /// The journal recorded finished runs on this database, which holds no anchor of it.
    #[error(
        "the database holds no anchor of journal {journal_id}, although run {run_id} \
         (ended {ended}) was recorded on it: the anchors were deleted or the journal \
         was replaced by another, so the journal cannot be checked"
    )]
    Unanchored {
        journal_id: String,
        run_id: String,
        ended: String,
    },
    /// The journal starts after folded records, on the word of a record the database has
    /// not anchored as a fold (a fold is anchored before its files go).
    #[error(
        "the journal starts at record {first}: records 1 to {before} were folded according to \
         record {record}, but the database holds no anchor of that fold, so the removal of \
         the older records cannot be trusted"
    )]
    UnanchoredFold {
        first: u64,
        before: u64,
        record: u64,
    },
}

/// The journal opened for writing, and how much of it was checked.
pub struct Trusted {
    pub journal: Journal,
    pub opened: OpenReport,
    /// The record verification started after (`None`: from the first record).
    pub from_checkpoint: Option<u64>,
    /// Anchored records compared.
    pub anchors_checked: usize,
}

/// The database side of the check: a connection and whether it has the anchor table.
pub struct Witness<'a> {
    pub conn: &'a mut dyn Connection,
    pub schema: &'a SchemaFacts,
    /// The identity of this database (as recorded in `RunStart`).
    pub identity: &'a str,
}

/// Opens the journal in `dir` for writing after checking it against the anchors `witness`
/// holds for `key`. Without a witness (no database configured) the whole chain is
/// verified and no anchor is compared.
///
/// # Errors
/// Damage (with its class, segment, offset and record), a journal the database does not
/// vouch for, or a database error while reading the anchors.
pub fn open_journal(
    dir: &Path,
    key: &anchor::JournalKey,
    witness: Option<Witness<'_>>,
) -> Result<Trusted, TrustError> {
    let Some(witness) = witness else {
        let (journal, opened) = Journal::open(dir)?;
        return Ok(Trusted {
            journal,
            opened,
            from_checkpoint: None,
            anchors_checked: 0,
        });
    };
    let has_table = witness.schema.table(anchor::TABLE).is_some();
    let checkpoint = read_checkpoint(dir);
    let mut anchors: Vec<Anchor> = Vec::new();
    let mut trusted_checkpoint: Option<Checkpoint> = None;
    if has_table {
        let mut view = witness.conn.snapshot()?;
        if let Some(cp) = &checkpoint {
            let since = anchor::since(&mut *view, key, cp.head.seq)?;
            let hash = cp.head.hash.to_hex();
            if since
                .iter()
                .any(|a| a.record_seq == cp.head.seq && a.record_hash == hash)
            {
                trusted_checkpoint = Some(cp.clone());
                anchors = since;
            }
        }
        if trusted_checkpoint.is_none() {
            anchors = anchor::since(&mut *view, key, 0)?;
        }
    }
    let mut expected = heads(&anchors);
    let mut from_checkpoint = trusted_checkpoint.as_ref().map(|cp| cp.head.seq);
    let opened = Journal::open_with(
        dir,
        JournalOptions {
            expected: expected.clone(),
            checkpoint: trusted_checkpoint,
            ..JournalOptions::default()
        },
    );
    let (journal, opened) = match opened {
        // Damage after a checkpoint: verify from the first record against every anchor, so
        // the report names the first damage (a rewritten history is a fork, not a missing
        // checkpoint record).
        Err(JournalError::Damaged { .. }) if from_checkpoint.is_some() => {
            let mut view = witness.conn.snapshot()?;
            anchors = anchor::since(&mut *view, key, 0)?;
            expected = heads(&anchors);
            from_checkpoint = None;
            Journal::open_with(
                dir,
                JournalOptions {
                    expected: expected.clone(),
                    ..JournalOptions::default()
                },
            )?
        }
        other => other?,
    };
    if let Some(f) = opened.folded {
        if !anchor::vouches_for_fold(&anchors, &f) {
            return Err(TrustError::UnanchoredFold {
                first: f.before.seq + 1,
                before: f.before.seq,
                record: f.record_seq,
            });
        }
    }
    if expected.is_empty() && opened.head.seq > 0 {
        if let Some((run_id, ended)) = last_finished_run(dir, witness.identity)? {
            return Err(TrustError::Unanchored {
                journal_id: key.to_string(),
                run_id,
                ended,
            });
        }
    }
    Ok(Trusted {
        journal,
        opened,
        from_checkpoint,
        anchors_checked: expected.len(),
    })
}

/// The anchored records as chain heads (what `JournalOptions::expected` and
/// `VerifyOptions::expected` take). An anchor whose hash does not parse cannot match any
/// record: it is kept as an impossible hash so the record it names counts as rewritten.
pub fn heads(anchors: &[Anchor]) -> Vec<ChainHead> {
    anchors
        .iter()
        .map(|a| ChainHead {
            seq: a.record_seq,
            hash: Digest::from_hex(&a.record_hash).unwrap_or(Digest([0; 32])),
        })
        .collect()
}

/// The newest run that ended by itself on the database `identity` (maintenance runs and runs
/// closed as `aborted` by a later start aside), with its end time: such a run anchored its
/// end. Reads the whole journal; only
/// called when the database holds no anchor of it.
fn last_finished_run(dir: &Path, identity: &str) -> Result<Option<(String, String)>, JournalError> {
    let mut on_this_database = std::collections::BTreeSet::new();
    let mut last = None;
    for entry in read_records(dir)? {
        match entry?.record {
            Record::RunStart {
                run_id,
                kind,
                database,
                ..
            } if database == identity && !matches!(kind, RunKind::Maintenance) => {
                on_this_database.insert(run_id);
            }
            Record::RunEnd {
                run_id,
                ended_utc,
                status,
                ..
            } if status != "aborted" && on_this_database.contains(&run_id) => {
                last = Some((run_id, ended_utc));
            }
            _ => {}
        }
    }
    Ok(last)
}
