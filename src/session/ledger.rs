//! The journal's index as sessions keep it between runs, so a run reads only the records
//! written since the last one instead of the whole history.
//!
//! At its end a session stores its index in `STATE_DIR/journal-index`: the runs not yet
//! settled (open, or inside the undo window, or with something left to expire or anchors to
//! prune), what the settled ones contributed to the history duties need (holds, retention
//! marks), and the record it was built up to (seq, hash, segment, offset). The digest of the
//! file goes into the database with the anchor of the run's end. The next session uses the
//! file only when the database holds that anchor with that record, that hash and that digest,
//! reads the records after it (the chain checked from its hash on) and reaches the head the
//! journal was verified to; anything else — no file, another journal, a file the database does
//! not vouch for (older, newer, edited), a record not where it says — and the index is read
//! from the whole chain. The chain stays the only truth: whoever can write the state
//! directory cannot make a run see a history the chain does not hold.
//!
//! Owns the file. It never decides anything: recovery, the history and the expiry decide from
//! the index it gives them.

use std::path::{Path, PathBuf};

use housekeeper_journal::store::{read_records, read_records_from, Checkpoint, RecordEntry};
use housekeeper_journal::{ChainHead, Digest, JournalError, JournalId};

use crate::apply::anchor::{self, JournalKey};
use crate::audit::history::Contributions;
use crate::audit::index::{JournalIndex, ResetInfo, RunInfo};
use crate::db::Connection;

/// The first line of the file's format.
const FORMAT: &str = "housekeeper-journal-index 2";

/// The index of a session, and the record it was built up to.
pub struct Ledger {
    pub index: JournalIndex,
    dir: PathBuf,
    journal_id: JournalId,
    /// The last record read; `None` for a journal without records.
    last: Option<Checkpoint>,
}

/// The file as read, in MessagePack (`rmp_serde`, fields in this order): a compact binary
/// form read and written by every run, where JSON took three times as long for the runs of an
/// undo window.
#[derive(serde::Deserialize)]
struct Stored {
    format: String,
    journal_id: String,
    seq: u64,
    hash: String,
    segment: String,
    offset: u64,
    reset: Option<ResetInfo>,
    settled: Contributions,
    runs: Vec<RunInfo>,
}

/// [`Stored`] as written, borrowing the index instead of copying it.
#[derive(serde::Serialize)]
struct Storing<'a> {
    format: &'a str,
    journal_id: String,
    seq: u64,
    hash: String,
    segment: &'a str,
    offset: u64,
    reset: &'a Option<ResetInfo>,
    settled: &'a Contributions,
    runs: &'a [RunInfo],
}

impl Ledger {
    /// The index of the journal in `dir` (opened, verified up to `head`): from the stored
    /// index in `file` when the database behind `conn` vouches for it, else from the whole
    /// chain. Returns why the stored index was not used, when there was one.
    ///
    /// # Errors
    /// The journal cannot be read.
    pub fn open(
        dir: &Path,
        file: &Path,
        journal_id: JournalId,
        head: ChainHead,
        witness: Option<&mut dyn Connection>,
    ) -> Result<(Ledger, Option<String>), JournalError> {
        let mut ledger = Ledger {
            index: JournalIndex::default(),
            dir: dir.to_owned(),
            journal_id,
            last: None,
        };
        let why = match std::fs::read(file) {
            Ok(bytes) => match ledger.resume(&bytes, head, witness) {
                Ok(()) => return Ok((ledger, None)),
                Err(why) => Some(why),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(format!("unreadable: {e}")),
        };
        ledger.index = JournalIndex::default();
        ledger.last = None;
        ledger.catch_up()?;
        Ok((ledger, why))
    }

    /// Continues from the stored index `bytes`, or says why it cannot be used.
    fn resume(
        &mut self,
        bytes: &[u8],
        head: ChainHead,
        witness: Option<&mut dyn Connection>,
    ) -> Result<(), String> {
        if bytes.first() == Some(&b'{') {
            return Err("written by an earlier version, in JSON".into());
        }
        let stored: Stored =
            rmp_serde::from_slice(bytes).map_err(|e| format!("unreadable: {e}"))?;
        if stored.format != FORMAT {
            return Err(format!("format {:?}", stored.format));
        }
        if stored.journal_id != self.journal_id.to_hex() {
            return Err(format!("it indexes journal {}", stored.journal_id));
        }
        let hash = Digest::from_hex(&stored.hash).ok_or("unreadable record hash")?;
        let digest = Digest(*blake3::hash(bytes).as_bytes());
        let vouched = witness.is_some_and(|conn| {
            let key = JournalKey::chain(&stored.journal_id);
            conn.snapshot()
                .and_then(|mut view| anchor::since(&mut *view, &key, stored.seq))
                .is_ok_and(|anchors| {
                    anchors.iter().any(|a| {
                        a.duty == "*"
                            && a.record_seq == stored.seq
                            && a.record_hash == stored.hash
                            && a.payload_digest == Some(digest)
                    })
                })
        });
        if !vouched {
            return Err(format!(
                "the database holds no anchor of record {} with this index's digest",
                stored.seq
            ));
        }
        self.index = JournalIndex::resume(stored.runs, stored.reset, stored.settled);
        self.last = Some(Checkpoint {
            journal_id: self.journal_id,
            head: ChainHead {
                seq: stored.seq,
                hash,
            },
            segment: stored.segment,
            offset: stored.offset,
        });
        self.catch_up()
            .map_err(|e| format!("reading the records after it: {e}"))?;
        let reached = self.last.as_ref().map(|cp| cp.head);
        if reached != Some(head) {
            return Err(format!(
                "it leads to record {}, the journal ends at record {}",
                reached.map_or(0, |h| h.seq),
                head.seq
            ));
        }
        Ok(())
    }

    /// Adds the records written since the last one read (recovery's, a run's own).
    ///
    /// # Errors
    /// The journal cannot be read.
    pub fn catch_up(&mut self) -> Result<(), JournalError> {
        if !self.dir.is_dir() {
            return Ok(());
        }
        let (records, after) = match &self.last {
            Some(cp) => (read_records_from(&self.dir, cp)?, cp.head.seq),
            None => (read_records(&self.dir)?, 0),
        };
        for entry in records {
            let entry = entry?;
            if entry.seq <= after {
                continue;
            }
            self.last = Some(self.position(&entry));
            self.index.add(entry.record);
        }
        Ok(())
    }

    fn position(&self, entry: &RecordEntry) -> Checkpoint {
        Checkpoint {
            journal_id: self.journal_id,
            head: ChainHead {
                seq: entry.seq,
                hash: entry.hash,
            },
            segment: entry.location.file.clone(),
            offset: entry.location.offset,
        }
    }

    /// Leaves out the leading runs that are `settled` (see [`JournalIndex::settle`]), then
    /// writes the index to `file` (owner only, atomically). Returns the digest and length of
    /// what was written, for the anchor of the run's end, or why nothing was written.
    pub fn store(
        &mut self,
        file: &Path,
        settled: impl Fn(&RunInfo) -> bool,
    ) -> Result<(Digest, u64), String> {
        let n = self.index.runs.iter().take_while(|r| settled(r)).count();
        self.index.settle(n);
        let Some(last) = &self.last else {
            return Err("the journal has no records".into());
        };
        // Written as it is serialized, hashed and counted on the way: the index is neither
        // copied nor held whole in memory (tens of MB after a plan of a hundred thousand items).
        let stored = Storing {
            format: FORMAT,
            journal_id: self.journal_id.to_hex(),
            seq: last.head.seq,
            hash: last.head.hash.to_hex(),
            segment: &last.segment,
            offset: last.offset,
            reset: &self.index.reset,
            settled: &self.index.settled,
            runs: &self.index.runs,
        };
        let mut hasher = blake3::Hasher::new();
        let mut len = 0u64;
        crate::state::write_private(file, |w| {
            let mut out = Hashed {
                out: w,
                hasher: &mut hasher,
                len: &mut len,
            };
            rmp_serde::encode::write(&mut out, &stored).map_err(std::io::Error::other)
        })
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
        Ok((Digest(*hasher.finalize().as_bytes()), len))
    }
}

/// A writer that hashes and counts what passes through it.
struct Hashed<'w> {
    out: &'w mut dyn std::io::Write,
    hasher: &'w mut blake3::Hasher,
    len: &'w mut u64,
}

impl std::io::Write for Hashed<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        *self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
