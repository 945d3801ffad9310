//! Reading a journal without the lock: streaming iteration over its records and its full
//! verification, segment by segment, blobs from their files.
//!
//! Owns nothing on disk. It must never modify, create or lock anything: readers may run beside
//! the writer and see its newest frame as a torn tail.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::checkpoint::{lost, resume_at, Checkpoint};
use super::files::{blob_path, io_err, list_segments, open_segment_reader};
use super::{damaged, scan_error, JournalError};
use crate::chain::{ChainHead, JournalId};
use crate::error::{Damage, DamageClass, Location};
use crate::record::Digest;
use crate::scan::{Folded, ScanError, ScannedRecord, Scanner, Segment};
use crate::verify::{BlobSource, Verifier, VerifyReport};

struct FsBlobs {
    dir: PathBuf,
}

impl BlobSource for FsBlobs {
    fn open_blob(&self, digest: &Digest) -> io::Result<Option<Box<dyn Read + '_>>> {
        match File::open(blob_path(&self.dir, digest)) {
            Ok(f) => Ok(Some(Box::new(f))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One record as read from the journal: seq, location (file and byte offset), hash, record.
pub type RecordEntry = ScannedRecord;

/// Streams every record of a journal, checking the chain as it goes. Takes no lock. Damage
/// ends the iteration with one `Err(Damaged)`; a torn tail (possibly a write in progress) ends
/// it quietly and is available from `torn_tail`.
pub struct RecordIter {
    dir: PathBuf,
    segments: std::vec::IntoIter<(u64, String)>,
    remaining: usize,
    scanner: Scanner,
    current: Option<Segment<BufReader<File>>>,
    done: bool,
    torn_tail: Option<Damage>,
}

impl std::fmt::Debug for RecordIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordIter")
            .field("dir", &self.dir)
            .field("scanner", &self.scanner)
            .finish_non_exhaustive()
    }
}

impl RecordIter {
    /// The torn tail that ended the iteration, if it ended at one.
    #[must_use]
    pub fn torn_tail(&self) -> Option<&Damage> {
        self.torn_tail.as_ref()
    }

    #[must_use]
    pub fn journal_id(&self) -> Option<JournalId> {
        self.scanner.journal_id()
    }

    /// The last record read so far.
    #[must_use]
    pub fn head(&self) -> Option<ChainHead> {
        self.scanner.head()
    }

    /// After the last record: where a journal whose oldest segments were folded starts, and
    /// the record vouching for it (`None` for a journal that starts at its first record).
    ///
    /// # Errors
    /// The journal starts after record 1 and no record read says the records before were
    /// folded (segments removed by someone else): `sequence_gap` damage.
    pub fn folded_start(&self) -> Result<Option<Folded>, JournalError> {
        let end = Location {
            file: String::new(),
            offset: 0,
        };
        if self.scanner.unvouched_start().is_some() {
            if let Err(ScanError::Damage(d)) = self.scanner.finish(&end) {
                return Err(damaged(&self.dir, *d));
            }
        }
        Ok(self.scanner.folded())
    }

    fn step(&mut self) -> Result<Option<RecordEntry>, JournalError> {
        loop {
            if let Some(seg) = self.current.as_mut() {
                match self.scanner.next_record(seg) {
                    Ok(Some(r)) => return Ok(Some(r)),
                    Ok(None) => self.current = None,
                    Err(ScanError::Damage(d)) if d.class == DamageClass::TornTail => {
                        self.torn_tail = Some(*d);
                        return Ok(None);
                    }
                    Err(e) => {
                        let name = seg.name().to_owned();
                        return Err(scan_error(&self.dir, &name, e));
                    }
                }
            }
            let Some((_, name)) = self.segments.next() else {
                return Ok(None);
            };
            self.remaining -= 1;
            let reader = open_segment_reader(&self.dir, &name)?;
            let seg = self
                .scanner
                .open_segment(&name, reader, self.remaining == 0)
                .map_err(|e| scan_error(&self.dir, &name, e))?;
            self.current = Some(seg);
        }
    }
}

impl Iterator for RecordIter {
    type Item = Result<RecordEntry, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn existing_segments(dir: &Path) -> Result<Vec<(u64, String)>, JournalError> {
    if !dir.is_dir() {
        return Err(JournalError::NoJournal {
            dir: dir.to_owned(),
            reason: "the directory does not exist".into(),
        });
    }
    let segments = list_segments(dir)?;
    if segments.is_empty() {
        return Err(JournalError::NoJournal {
            dir: dir.to_owned(),
            reason: "no segment file".into(),
        });
    }
    Ok(segments)
}

/// Read-only streaming iteration over all records of the journal in `dir` (no lock taken).
pub fn read_records(dir: &Path) -> Result<RecordIter, JournalError> {
    let segments = existing_segments(dir)?;
    Ok(RecordIter {
        dir: dir.to_owned(),
        remaining: segments.len(),
        segments: segments.into_iter(),
        scanner: Scanner::new(None).map_err(io_err("starting zstd for", dir))?,
        current: None,
        done: false,
        torn_tail: None,
    })
}

/// Read-only streaming iteration over the records of the journal in `dir` from `at` on (no
/// lock taken): the first record yielded is `at`'s own, whose frame must be at `at`'s place
/// and hash to `at`'s hash (else `Damaged`, as when opening from a checkpoint); the chain is
/// checked from there. Lets a reader that keeps what it derived from the records up to `at`
/// read only the newer ones.
///
/// # Errors
/// No journal, or `at`'s segment cannot be opened or does not hold `at`.
pub fn read_records_from(dir: &Path, at: &Checkpoint) -> Result<RecordIter, JournalError> {
    let mut segments = existing_segments(dir)?;
    let first = segments
        .iter()
        .position(|(_, name)| *name == at.segment)
        .ok_or_else(|| lost(dir, at, format!("segment {} is missing", at.segment)))?;
    let later = segments.split_off(first + 1);
    let remaining = later.len();
    let mut scanner =
        Scanner::expecting(vec![at.head]).map_err(io_err("starting zstd for", dir))?;
    let current = resume_at(dir, &at.segment, at, &mut scanner, remaining == 0)?;
    Ok(RecordIter {
        dir: dir.to_owned(),
        remaining,
        segments: later.into_iter(),
        scanner,
        current: Some(current),
        done: false,
        torn_tail: None,
    })
}

/// What `verify_with` checks.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A record that must be on the chain (the executor passes the head its database anchors
    /// recorded); catches a truncated, swapped or rewritten journal.
    pub expected_head: Option<ChainHead>,
    /// More records that must be on the chain with these hashes (every record the database
    /// anchors), checked like `expected_head`.
    pub expected: Vec<ChainHead>,
    /// Skip the payload blobs (chain only: much faster on large journals).
    pub chain_only: bool,
}

/// Full verification: chain, framing, every referenced payload present and matching unless
/// expired by a `PayloadExpired` record, and the expected head if given. Never panics;
/// constant memory. `Err` only when the journal cannot be read at all (no journal, I/O error);
/// damage is in the report.
pub fn verify(dir: &Path, expected_head: Option<&ChainHead>) -> Result<VerifyReport, JournalError> {
    verify_with(
        dir,
        &VerifyOptions {
            expected_head: expected_head.copied(),
            expected: Vec::new(),
            chain_only: false,
        },
    )
}

/// `verify` with options.
pub fn verify_with(dir: &Path, options: &VerifyOptions) -> Result<VerifyReport, JournalError> {
    let segments = existing_segments(dir)?;
    let blobs = FsBlobs {
        dir: dir.to_owned(),
    };
    let mut verifier = Verifier::new(
        options
            .expected_head
            .into_iter()
            .chain(options.expected.iter().copied())
            .collect(),
        (!options.chain_only).then_some(&blobs),
    )
    .map_err(io_err("starting zstd for", dir))?;
    let count = segments.len();
    for (i, (_, name)) in segments.iter().enumerate() {
        if verifier.chain_broken() {
            break;
        }
        let reader = open_segment_reader(dir, name)?;
        verifier
            .segment(name, reader, i + 1 == count)
            .map_err(io_err("reading", &dir.join(name)))?;
    }
    Ok(verifier.finish())
}
