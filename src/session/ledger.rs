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
//! A daemon keeps the index its last session stored in memory (`keep`), and its next session
//! continues that one instead of reading the file again: the same index, from the same
//! process, checked the same way from its last record on.
//!
//! Owns the file. It never decides anything: recovery, the history and the expiry decide from
//! the index it gives them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use housekeeper_journal::store::{read_records, read_records_from, Checkpoint, RecordEntry};
use housekeeper_journal::{ChainHead, Digest, JournalError, JournalId};

use crate::apply::anchor::{self, JournalKey};
use crate::audit::history::Contributions;
use crate::audit::index::{JournalIndex, ResetInfo, RunInfo};
use crate::db::Connection;

/// The first line of the file's format.
const FORMAT: &str = "housekeeper-journal-index 2";

/// The ledger the last session of this process stored, for the next one (a daemon's cycles).
static KEPT: Mutex<Option<Ledger>> = Mutex::new(None);

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
        if let Some(kept) = Self::kept(dir, journal_id, head) {
            return Ok((kept, None));
        }
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

    /// The ledger an earlier session of this process kept for the journal in `dir`, when it
    /// is that journal's and its records after it lead to `head`.
    fn kept(dir: &Path, journal_id: JournalId, head: ChainHead) -> Option<Ledger> {
        let mut kept = KEPT.lock().ok()?.take()?;
        if kept.dir != dir || kept.journal_id != journal_id {
            return None;
        }
        if let Err(e) = kept.catch_up() {
            log::info!("journal index kept in memory not used (reading the records after it: {e})");
            return None;
        }
        if kept.last.as_ref().map(|cp| cp.head) != Some(head) {
            log::info!(
                "journal index kept in memory not used: it does not lead to the journal's end"
            );
            return None;
        }
        Some(kept)
    }

    /// Keeps this ledger in memory for the next session of this process, once it is stored
    /// (what is kept and what is stored are the same index).
    pub fn keep(&mut self) {
        let kept = Ledger {
            index: std::mem::take(&mut self.index),
            dir: self.dir.clone(),
            journal_id: self.journal_id,
            last: self.last.take(),
        };
        if let Ok(mut slot) = KEPT.lock() {
            *slot = Some(kept);
        }
    }

    /// Logs why the stored index `file` was not used (`not_used`), and what reading the
    /// index took since `opened`.
    pub fn log_opened(&self, file: &Path, not_used: Option<String>, opened: Instant) {
        if let Some(why) = not_used {
            log::info!(
                "journal index {} not used ({why}): read from the journal",
                file.display()
            );
        }
        log::debug!(
            "journal index: {} runs, read in {:.1} ms",
            self.index.runs.len(),
            opened.elapsed().as_secs_f64() * 1000.0
        );
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
            // The encoder writes a few bytes at a time: buffered before they are hashed, as
            // the hasher is slow on small pieces (half the time of storing the index).
            let mut out = std::io::BufWriter::with_capacity(
                64 * 1024,
                Hashed {
                    out: w,
                    hasher: &mut hasher,
                    len: &mut len,
                },
            );
            rmp_serde::encode::write(&mut out, &stored).map_err(std::io::Error::other)?;
            out.flush()
        })
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
        Ok((Digest(*hasher.finalize().as_bytes()), len))
    }
}

/// A writer that hashes and counts what passes through it.
struct Hashed<'w> {
    out: &'w mut dyn Write,
    hasher: &'w mut blake3::Hasher,
    len: &'w mut u64,
}

impl Write for Hashed<'_> {
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

#[cfg(test)]
mod tests {
    use housekeeper_journal::{Digest, PayloadKind, PayloadRef};

    #[test]
    fn digests_are_stored_as_byte_strings_and_read_back_from_either_form() {
        let digest = Digest(std::array::from_fn(|i| 200 + i as u8 % 50));
        let payload = PayloadRef {
            digest,
            len: 7,
            kind: PayloadKind::RowImages,
        };
        let bytes = rmp_serde::to_vec(&payload).unwrap();
        // An array of three: a 32-byte string (bin 8), the length and the kind's name.
        assert_eq!(&bytes[..3], &[0x93, 0xc4, 32]);
        assert_eq!(&bytes[3..35], &digest.0);
        assert_eq!(
            rmp_serde::from_slice::<PayloadRef>(&bytes).unwrap(),
            payload
        );
        // An index stored by the previous release wrote the digest as 32 numbers.
        let numbers = rmp_serde::to_vec(&(digest.0, 7u64, PayloadKind::RowImages)).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<PayloadRef>(&numbers).unwrap(),
            payload
        );
        // 31 bytes are not a digest.
        let mut short = vec![0x93, 0xc4, 31];
        short.extend_from_slice(&digest.0[..31]);
        short.push(7);
        short.push(0xa9);
        short.extend_from_slice(b"RowImages");
        assert!(rmp_serde::from_slice::<PayloadRef>(&short).is_err());
    }
}
